//! JWT building and editing: the operator's genuine tokens, and every [`IdTokenMutation`] a
//! fault asks for (claim and header edits, other signers, replays).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::Sandbox;
use super::catalogue::OPERATORS;
use super::faults::IdTokenMutation;
use crate::keys::{KeyFamily, SigningKey, hmac_sha256};

/// A JWT being built: the claims, the pending header edits and how it gets signed.
struct Forge {
    claims: Value,
    header_edits: Vec<(String, Option<Value>)>,
    duplicate_header: Vec<(String, Value)>,
    duplicate_claims: Vec<(String, Value)>,
    signer: Signer,
    corrupt: bool,
    replace: Option<String>,
    /// Claims set after signing.
    tamper: Vec<(String, Value)>,
}

enum Signer {
    Genuine,
    None,
    Hmac(Vec<u8>),
    Foreign,
}

/// A JSON object's text with members written again at its end (duplicate names).
fn with_duplicates(json_text: String, duplicates: &[(String, Value)]) -> String {
    let mut text = json_text;
    for (name, value) in duplicates {
        if text.ends_with('}') {
            text.pop();
            if !text.ends_with('{') {
                text.push(',');
            }
            text.push_str(&format!("{}:{value}}}", json!(name)));
        }
    }
    text
}

impl Sandbox {
    /// Build and sign a JWT from `claims` with `key`, as edited by `mutation`.
    pub(super) fn forge(
        &self,
        index: usize,
        key: &SigningKey,
        claims: Value,
        mutation: Option<&IdTokenMutation>,
    ) -> String {
        let mut forge = Forge {
            claims,
            header_edits: Vec::new(),
            duplicate_header: Vec::new(),
            duplicate_claims: Vec::new(),
            signer: Signer::Genuine,
            corrupt: false,
            replace: None,
            tamper: Vec::new(),
        };
        if let Some(mutation) = mutation {
            self.apply(index, &mut forge, mutation);
        }
        if let Some(jwt) = forge.replace {
            return jwt;
        }
        let alg = match &forge.signer {
            Signer::None => "none".to_owned(),
            Signer::Hmac(_) => "HS256".to_owned(),
            Signer::Genuine | Signer::Foreign => format!("{:?}", key.alg),
        };
        let mut header = json!({ "alg": alg, "typ": "JWT", "kid": key.kid });
        for edit in forge.header_edits {
            match edit {
                (name, Some(value)) => header[name] = value,
                (name, None) => {
                    if let Some(members) = header.as_object_mut() {
                        members.remove(&name);
                    }
                }
            }
        }
        let header_b64 =
            URL_SAFE_NO_PAD.encode(with_duplicates(header.to_string(), &forge.duplicate_header));
        let claims_json = with_duplicates(forge.claims.to_string(), &forge.duplicate_claims);
        let input = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(claims_json));
        let mut signature = match &forge.signer {
            Signer::None => Vec::new(),
            Signer::Genuine => key.signature(input.as_bytes()),
            Signer::Hmac(secret) => hmac_sha256(input.as_bytes(), secret),
            Signer::Foreign => {
                let family = OPERATORS.get(index).map_or(KeyFamily::Rs256, |o| o.family);
                let rotation = self
                    .lock()
                    .rotations
                    .get(index)
                    .copied()
                    .unwrap_or_default();
                let foreign = SigningKey::from_pool(
                    family,
                    rotation + family.pool_size() - 1,
                    key.kid.clone(),
                );
                foreign.signature(input.as_bytes())
            }
        };
        if forge.corrupt {
            for byte in &mut signature {
                *byte ^= 0x5a;
            }
        }
        let signature = URL_SAFE_NO_PAD.encode(signature);
        if forge.tamper.is_empty() {
            return format!("{input}.{signature}");
        }
        let mut claims = forge.claims;
        for (name, value) in forge.tamper {
            claims[name] = value;
        }
        let claims_json = with_duplicates(claims.to_string(), &forge.duplicate_claims);
        format!(
            "{header_b64}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(claims_json)
        )
    }

    fn apply(&self, index: usize, forge: &mut Forge, mutation: &IdTokenMutation) {
        match mutation {
            IdTokenMutation::SetClaim(name, value) => forge.claims[name] = value.clone(),
            IdTokenMutation::RemoveClaim(name) => {
                if let Some(members) = forge.claims.as_object_mut() {
                    members.remove(name);
                }
            }
            IdTokenMutation::AppendToClaim(name, suffix) => {
                let edited = forge
                    .claims
                    .get(name)
                    .and_then(Value::as_str)
                    .map(|v| format!("{v}{suffix}"));
                if let Some(edited) = edited {
                    forge.claims[name] = json!(edited);
                }
            }
            IdTokenMutation::ClaimFromNow(name, offset) => {
                let now = i64::try_from((self.clock)()).unwrap_or(i64::MAX);
                forge.claims[name] = json!(now.saturating_add(*offset).max(0));
            }
            IdTokenMutation::DuplicateClaim(name, value) => {
                forge.duplicate_claims.push((name.clone(), value.clone()));
            }
            IdTokenMutation::SetHeader(name, value) => {
                forge.header_edits.push((name.clone(), Some(value.clone())));
            }
            IdTokenMutation::RemoveHeader(name) => forge.header_edits.push((name.clone(), None)),
            IdTokenMutation::DuplicateHeader(name, value) => {
                forge.duplicate_header.push((name.clone(), value.clone()));
            }
            IdTokenMutation::AlgNone => forge.signer = Signer::None,
            IdTokenMutation::CorruptSignature => forge.corrupt = true,
            IdTokenMutation::Hmac(secret) => forge.signer = Signer::Hmac(secret.clone()),
            IdTokenMutation::ForeignKey => forge.signer = Signer::Foreign,
            IdTokenMutation::ReplayLast => {
                forge.replace = self.lock().last_id_token.get(index).cloned().flatten();
            }
            IdTokenMutation::Raw(jwt) => forge.replace = Some(jwt.clone()),
            IdTokenMutation::Tamper(name, value) => {
                forge.tamper.push((name.clone(), value.clone()));
            }
            IdTokenMutation::All(mutations) => {
                for m in mutations {
                    self.apply(index, forge, m);
                }
            }
        }
    }

    /// Sign arbitrary header and claims with `operator`'s current key (for tests that need a
    /// token the sandbox would never issue).
    #[must_use]
    pub fn sign_as(&self, operator: &str, header: &Value, claims: &Value) -> Option<String> {
        let index = OPERATORS.iter().position(|o| o.name == operator)?;
        let key = self.lock().keys.get(index)?.first()?.clone();
        Some(key.sign_raw(header, claims))
    }
}
