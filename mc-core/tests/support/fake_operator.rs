//! A small in-memory operator: it answers mc-core's `http::Request` values directly, checks
//! what a real IDGW checks (client credentials, redirect_uri, PKCE, single-use codes, Bearer
//! tokens) and signs real id_tokens. No sockets, fixed time.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::Algorithm;
use mc_core::Outcome;
use serde_json::json;

use super::*;

/// What the simulated handset does when asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handset {
    /// The user presses OK (LoA 2).
    Approve,
    /// The user enters the PIN (LoA 3).
    ApprovePin,
    /// The user declines.
    Decline,
}

struct Grant {
    nonce: String,
    challenge: Option<String>,
    redirect_uri: String,
    acr: String,
}

pub struct FakeOperator {
    pub handset: Handset,
    pub key: TestKey,
    pub kid: String,
    codes: BTreeMap<String, Grant>,
    issued: u32,
    pub requests: Vec<String>,
}

impl FakeOperator {
    pub fn new() -> Self {
        Self {
            handset: Handset::Approve,
            key: TestKey::RsaA,
            kid: "kid-a".to_owned(),
            codes: BTreeMap::new(),
            issued: 0,
            requests: Vec::new(),
        }
    }

    /// The browser visits the authorization URL; returns the callback query string.
    pub fn authorize(&mut self, url: &url::Url) -> String {
        let q = query_of(url);
        let state = param(&q, "state").unwrap_or_default();
        assert_eq!(param(&q, "client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(param(&q, "response_type").as_deref(), Some("code"));
        assert!(
            param(&q, "scope")
                .unwrap()
                .split(' ')
                .any(|s| s == "openid")
        );
        let acr = match self.handset {
            Handset::Decline => {
                return format!(
                    "error=access_denied&error_description=User+declined&state={state}&iss={}",
                    urlencode(ISSUER)
                );
            }
            Handset::Approve => "2",
            Handset::ApprovePin => "3",
        };
        self.issued += 1;
        let code = format!("code-{}", self.issued);
        self.codes.insert(
            code.clone(),
            Grant {
                nonce: param(&q, "nonce").unwrap(),
                challenge: param(&q, "code_challenge"),
                redirect_uri: param(&q, "redirect_uri").unwrap(),
                acr: acr.to_owned(),
            },
        );
        format!("code={code}&state={state}&iss={}", urlencode(ISSUER))
    }

    /// Answer a back-channel request.
    pub fn handle(&mut self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let path = request.uri().path().to_owned();
        self.requests.push(format!("{} {}", request.method(), path));
        match path.as_str() {
            "/token" => self.token(request),
            "/.well-known/openid-configuration" => json_response(
                200,
                &json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": "https://op.example/authorize",
                    "token_endpoint": "https://op.example/token",
                    "userinfo_endpoint": "https://op.example/userinfo",
                    "premiuminfo_endpoint": "https://op.example/premiuminfo",
                    "jwks_uri": "https://op.example/jwks",
                    "acr_values_supported": ["2", "3"],
                    "authorization_response_iss_parameter_supported": true,
                    "login_hint_methods_supported": ["MSISDN", "ENCRYPTED_MSISDN", "PCR"],
                    "mobile_connect_version_supported": [
                        { "openid mc_authn": "mc_v1.1" },
                        { "openid mc_identity_phonenumber": "mc_di_r2_v2.3" }
                    ],
                    "claims_parameter_supported": "1"
                }),
            ),
            "/jwks" => raw_response(
                200,
                "application/json",
                &jwks_body(&[self.key.jwk(Some(&self.kid), None)]),
            ),
            "/userinfo" | "/premiuminfo" => {
                let auth = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok());
                if auth != Some(&format!("Bearer {ACCESS_TOKEN}")) {
                    return http::Response::builder()
                        .status(401)
                        .header("www-authenticate", "Bearer error=\"invalid_token\"")
                        .body(Vec::new())
                        .unwrap();
                }
                json_response(200, &json!({ "sub": SUB, "phone_number": "+447700900301" }))
            }
            _ => json_response(404, &json!({ "error": "not_found" })),
        }
    }

    fn token(&mut self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let expected = format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        let auth = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(expected.as_str()) {
            return json_response(401, &json!({ "error": "invalid_client" }));
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let Some(grant) = param(&form, "code").and_then(|c| self.codes.remove(&c)) else {
            return json_response(
                400,
                &json!({ "error": "invalid_grant", "error_description": "unknown or used code" }),
            );
        };
        if param(&form, "redirect_uri").as_deref() != Some(grant.redirect_uri.as_str()) {
            return json_response(
                400,
                &json!({ "error": "invalid_grant", "error_description": "redirect_uri" }),
            );
        }
        if let Some(challenge) = &grant.challenge {
            let verifier = param(&form, "code_verifier").unwrap_or_default();
            let digest = mc_core::crypto::provider().key_utils.compute_digest;
            let computed = b64(&digest(
                verifier.as_bytes(),
                jsonwebtoken::jwk::ThumbprintHash::SHA256,
            )
            .unwrap());
            if &computed != challenge {
                return json_response(
                    400,
                    &json!({ "error": "invalid_grant", "error_description": "PKCE" }),
                );
            }
        }
        let alg = if self.key == TestKey::EcP256 {
            Algorithm::ES256
        } else {
            Algorithm::RS256
        };
        let mut claims = valid_claims(&grant.nonce);
        claims["acr"] = json!(grant.acr);
        claims["amr"] = json!(if grant.acr == "3" {
            vec!["SIM_PIN"]
        } else {
            vec!["SIM_OK"]
        });
        claims["hashed_login_hint"] = json!("5f2b");
        claims["at_hash"] = json!(mc_core::id_token::at_hash(ACCESS_TOKEN, alg).unwrap());
        let id_token = sign(&claims, alg, self.key, Some(&self.kid));
        token_response(&id_token)
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Drive one exchange against the fake operator: its request answered, its response judged.
pub fn run<E: mc_core::Exchange>(
    operator: &mut FakeOperator,
    exchange: E,
) -> Result<E::Output, mc_core::Error> {
    let response = operator.handle(&exchange.request());
    exchange.respond(response, now())
}

/// Drive a step to its end against the fake operator, as an adapter's `execute` does: the
/// exchange, then the JWKS refetch when the step pauses for keys.
pub fn finish<E>(
    operator: &mut FakeOperator,
    exchange: E,
) -> Result<<E::Output as Outcome>::Value, mc_core::Error>
where
    E: mc_core::Exchange,
    E::Output: Outcome,
{
    match run(operator, exchange)?.into_verified() {
        Verified::Done(value) => Ok(value),
        Verified::NeedJwks(refetch) => run(operator, refetch),
    }
}

impl Default for FakeOperator {
    fn default() -> Self {
        Self::new()
    }
}
