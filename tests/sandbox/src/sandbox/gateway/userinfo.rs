//! UserInfo and premium info: the subscriber's claims for a Bearer access token, as JSON or
//! (at an operator with signed userinfo) as a JWT.

use http::{Request, Response};
use serde_json::{Map, Value, json};

use super::super::Sandbox;
use super::super::catalogue::OPERATORS;
use super::super::faults::{Fault, IMPOSTOR_ISSUER};
use super::super::kyc;
use super::super::wire::{bearer, json_response, oauth_error, response};
use super::IssuedToken;

impl Sandbox {
    pub(super) fn userinfo(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        premium: bool,
        fault: Option<&Fault>,
    ) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        let unauthorized = |error: &str, description: &str| {
            let mut r = response(401, "application/json", Vec::new());
            if let Ok(v) = http::HeaderValue::from_str(&format!(
                "Bearer error=\"{error}\", error_description=\"{description}\""
            )) {
                r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
            }
            r
        };
        let Some(token) = bearer(request) else {
            return unauthorized("invalid_request", "No Access Token");
        };
        let issued = {
            let state = self.lock();
            state
                .tokens
                .get(&token)
                .filter(|t| t.operator == index)
                .map(|t| {
                    (
                        t.msisdn.clone(),
                        t.userinfo_claims.clone(),
                        premiuminfo_request(t),
                    )
                })
        };
        let Some((msisdn, requested, kyc_request)) = issued else {
            return unauthorized("invalid_token", "Unknown access token");
        };
        let mut sub = info.pcr(&msisdn);
        if fault == Some(&Fault::SubjectMismatch) {
            sub.push_str("invalid");
        }
        let mut claims = json!({
            "sub": sub,
            "phone_number": format!("+{msisdn}"),
            "phone_number_verified": true,
        });
        if premium {
            claims["given_name"] = json!("Test");
            claims["family_name"] = json!("Subscriber");
            claims["postal_code"] = json!("SW1A 1AA");
            claims["country"] = json!(info.country);
            if let Some(request) = &kyc_request {
                for (name, value) in kyc::answer(info.kyc_facts(&msisdn), request) {
                    claims[name] = value;
                }
            }
        }
        for name in requested {
            if claims.get(&name).is_none()
                && let Some(value) = info.known_claim(&msisdn, &name)
            {
                claims[name] = value;
            }
        }
        if info.signed_userinfo {
            claims["iss"] = json!(if fault == Some(&Fault::WrongIssuer) {
                IMPOSTOR_ISSUER.to_owned()
            } else {
                self.issuer(info.name)
            });
            claims["aud"] = json!(info.client_id);
            let key = self.lock().keys.get(index).and_then(|k| k.first().cloned());
            let mutation = match fault {
                Some(Fault::IdToken(m)) => Some(m),
                _ => None,
            };
            return match key {
                Some(key) => response(
                    200,
                    "application/jwt",
                    self.forge(index, &key, claims, mutation).into_bytes(),
                ),
                None => oauth_error(500, "server_error", "no key"),
            };
        }
        json_response(200, &claims)
    }
}

/// The KYC match request (the `claims` request's `premiuminfo` member) the access token was
/// issued for.
fn premiuminfo_request(token: &IssuedToken) -> Option<Map<String, Value>> {
    token.premiuminfo.clone()
}
