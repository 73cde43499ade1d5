//! Who the SP is: client authentication at the token endpoint and at CIBA's `bc-authorize`
//! (HTTP Basic, `client_secret_post`, RFC 7523 `private_key_jwt`), and the SP's signatures
//! (client assertions, Mobile Connect request objects) checked against the public JWKS the SP
//! registered ([`Sandbox::register_sp_jwks`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Request;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};

use super::super::Sandbox;
use super::super::catalogue::OPERATORS;
use super::super::faults::{ClientAuthRequirement, Fault};
use super::super::wire::{credentials_match, param};

/// The longest life of a client assertion the sandbox takes (CAMARA's rule), in seconds.
pub(super) const MAX_ASSERTION_LIFETIME_SECS: u64 = 300;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The algorithm of an SP signature, if it is one the sandbox takes (asymmetric only: never
/// `none`, never HMAC), and the JWK key type it needs.
fn sp_algorithm(name: &str) -> Option<(Algorithm, &'static str)> {
    let alg = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        _ => return None,
    };
    Some((alg, if name.starts_with("ES") { "EC" } else { "RSA" }))
}

/// A compact JWS signed by one of the keys of `jwks` (chosen by the header's `kid`, or any key
/// of the algorithm's type when it names none): its header and claims, or why it is refused
/// (the `error_description`).
pub(super) fn verify_sp_jws(jws: &str, jwks: &Value) -> Result<(Value, Value), &'static str> {
    let mut parts = jws.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS");
    };
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?)
            .ok()
            .filter(Value::is_object)
    };
    let (Some(header), Some(claims), Ok(signature)) =
        (decode(h), decode(c), URL_SAFE_NO_PAD.decode(s))
    else {
        return Err("the JWS does not decode");
    };
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some((alg, kty)) = sp_algorithm(alg_name) else {
        return Err("the JWS algorithm is not accepted");
    };
    let kid = header.get("kid").and_then(Value::as_str);
    let member = |key: &Value, name: &str| {
        key.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let candidates: Vec<&Value> = jwks
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter(|key| kid.is_none_or(|kid| member(key, "kid") == kid))
                .filter(|key| member(key, "kty") == kty)
                .filter(|key| key.get("alg").is_none_or(|a| a.as_str() == Some(alg_name)))
                .collect()
        })
        .unwrap_or_default();
    if candidates.is_empty() {
        return Err("no registered key of the SP verifies this algorithm and kid");
    }
    let input = format!("{h}.{c}");
    let verifies = |key: &Value| {
        let decoding = if kty == "EC" {
            DecodingKey::from_ec_components(&member(key, "x"), &member(key, "y"))
        } else {
            DecodingKey::from_rsa_components(&member(key, "n"), &member(key, "e"))
        };
        decoding.is_ok_and(|decoding| {
            (crate::keys::provider().verifier_factory)(&alg, &decoding)
                .is_ok_and(|v| v.verify(input.as_bytes(), &signature).is_ok())
        })
    };
    if candidates.into_iter().any(verifies) {
        Ok((header, claims))
    } else {
        Err("the signature does not verify with the SP's registered keys")
    }
}

/// Whether a JWT `aud` (a string or an array) names one of `audiences`.
pub(super) fn audience_matches(aud: Option<&Value>, audiences: &[&str]) -> bool {
    match aud {
        Some(Value::String(aud)) => audiences.contains(&aud.as_str()),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| audiences.contains(&aud)),
        _ => false,
    }
}

impl Sandbox {
    /// Whether the request authenticates the SP as the endpoint at `endpoint` demands. Without
    /// a [`Fault::RequireClientAuth`]: HTTP Basic, or a `private_key_jwt` assertion verified
    /// with the SP's registered JWKS (for the issuer or `endpoint`); `bc-authorize`
    /// (`backchannel`) also takes `client_secret_post`.
    pub(super) fn client_authenticated(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        p: &[(String, String)],
        fault: Option<&Fault>,
        endpoint: &str,
        backchannel: bool,
    ) -> bool {
        let Some(info) = OPERATORS.get(index) else {
            return false;
        };
        let secret = self.client_secret(info.name).unwrap_or_default();
        let has_basic = request.headers().contains_key(http::header::AUTHORIZATION);
        let secret_post = || {
            !has_basic
                && param(p, "client_id") == Some(info.client_id)
                && param(p, "client_secret") == Some(secret.as_str())
        };
        let private_key_jwt = |keys: &Value, audiences: &[&str]| {
            !has_basic
                && param(p, "client_secret").is_none()
                && param(p, "client_id") == Some(info.client_id)
                && param(p, "client_assertion_type") == Some(ASSERTION_TYPE)
                && param(p, "client_assertion").is_some_and(|assertion| {
                    self.assertion_valid(assertion, keys, info.client_id, audiences)
                })
        };
        // CIBA clients address their assertions to the issuer (CIBA Core 7.1); the token
        // endpoint under the fault takes its own URL only, as it always did.
        let issuer = self.issuer(info.name);
        let audiences: &[&str] = if backchannel {
            &[&issuer, endpoint]
        } else {
            &[endpoint]
        };
        match fault {
            Some(Fault::RequireClientAuth(ClientAuthRequirement::SecretPost)) => secret_post(),
            Some(Fault::RequireClientAuth(ClientAuthRequirement::PrivateKeyJwt(jwk))) => {
                private_key_jwt(&json!({ "keys": [jwk] }), audiences)
            }
            _ if has_basic => credentials_match(request, info.client_id, &secret),
            _ if param(p, "client_assertion").is_some() => self
                .sp_jwks(info.name)
                .is_some_and(|keys| private_key_jwt(&keys, &[&issuer, endpoint])),
            _ => backchannel && secret_post(),
        }
    }

    /// An RFC 7523 client assertion: signed by a key of `keys`, `iss` = `sub` = client_id,
    /// `aud` one of `audiences`, not expired, and valid for at most
    /// [`MAX_ASSERTION_LIFETIME_SECS`].
    fn assertion_valid(
        &self,
        assertion: &str,
        keys: &Value,
        client_id: &str,
        audiences: &[&str],
    ) -> bool {
        let Ok((_, claims)) = verify_sp_jws(assertion, keys) else {
            return false;
        };
        let now = (self.clock)();
        let number = |name: &str| claims.get(name).and_then(Value::as_u64);
        let lifetime_ok = match (number("iat"), number("exp")) {
            (Some(iat), Some(exp)) => exp.saturating_sub(iat) <= MAX_ASSERTION_LIFETIME_SECS,
            (None, Some(exp)) => exp.saturating_sub(now) <= MAX_ASSERTION_LIFETIME_SECS,
            _ => false,
        };
        claims.get("iss").and_then(Value::as_str) == Some(client_id)
            && claims.get("sub").and_then(Value::as_str) == Some(client_id)
            && audience_matches(claims.get("aud"), audiences)
            && number("exp").is_some_and(|exp| exp > now)
            && lifetime_ok
    }
}
