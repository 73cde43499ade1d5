//! The token endpoint: client authentication (HTTP Basic, or what a fault demands), the code
//! grant with PKCE, and the id_token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, Request, Response};
use serde_json::{Value, json};

use super::super::catalogue::OPERATORS;
use super::super::faults::{ClientAuthRequirement, Fault, IMPOSTOR_ISSUER};
use super::super::wire::{credentials_match, json_response, oauth_error, param, params};
use super::super::{Sandbox, random_hex};
use super::{IssuedToken, requested_claims};
use crate::keys::sha256;

impl Sandbox {
    /// Whether the token request authenticates the SP the way the endpoint demands.
    fn client_authenticated(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        p: &[(String, String)],
        fault: Option<&Fault>,
    ) -> bool {
        let Some(info) = OPERATORS.get(index) else {
            return false;
        };
        let secret = self.client_secret(info.name).unwrap_or_default();
        let has_basic = request.headers().contains_key(http::header::AUTHORIZATION);
        match fault {
            Some(Fault::RequireClientAuth(ClientAuthRequirement::SecretPost)) => {
                !has_basic
                    && param(p, "client_id") == Some(info.client_id)
                    && param(p, "client_secret") == Some(secret.as_str())
            }
            Some(Fault::RequireClientAuth(ClientAuthRequirement::PrivateKeyJwt(jwk))) => {
                !has_basic
                    && param(p, "client_secret").is_none()
                    && param(p, "client_id") == Some(info.client_id)
                    && param(p, "client_assertion_type")
                        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                    && param(p, "client_assertion").is_some_and(|assertion| {
                        self.assertion_valid(
                            assertion,
                            jwk,
                            info.client_id,
                            &format!("{}/token", self.issuer(info.name)),
                        )
                    })
            }
            _ => credentials_match(request, info.client_id, &secret),
        }
    }

    /// An RFC 7523 client assertion: signature by `jwk`, `iss` = `sub` = client_id, `aud` the
    /// token endpoint, not expired.
    fn assertion_valid(
        &self,
        assertion: &str,
        jwk: &Value,
        client_id: &str,
        audience: &str,
    ) -> bool {
        let mut parts = assertion.split('.');
        let (Some(h), Some(c), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        let (Some(header), Some(claims), Ok(signature)) =
            (decode(h), decode(c), URL_SAFE_NO_PAD.decode(sig))
        else {
            return false;
        };
        let member = |name: &str| jwk.get(name).and_then(Value::as_str).unwrap_or_default();
        let (alg, key) = match (header.get("alg").and_then(Value::as_str), member("kty")) {
            (Some("RS256"), "RSA") => (
                jsonwebtoken::Algorithm::RS256,
                jsonwebtoken::DecodingKey::from_rsa_components(member("n"), member("e")),
            ),
            (Some("ES256"), "EC") => (
                jsonwebtoken::Algorithm::ES256,
                jsonwebtoken::DecodingKey::from_ec_components(member("x"), member("y")),
            ),
            _ => return false,
        };
        let Ok(key) = key else {
            return false;
        };
        let verified = (crate::keys::provider().verifier_factory)(&alg, &key)
            .is_ok_and(|v| v.verify(format!("{h}.{c}").as_bytes(), &signature).is_ok());
        let now = (self.clock)();
        verified
            && claims.get("iss").and_then(Value::as_str) == Some(client_id)
            && claims.get("sub").and_then(Value::as_str) == Some(client_id)
            && claims.get("aud").and_then(Value::as_str) == Some(audience)
            && claims
                .get("exp")
                .and_then(Value::as_u64)
                .is_some_and(|exp| exp > now)
    }

    pub(super) fn token(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        fault: Option<&Fault>,
    ) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        if request.method() != Method::POST {
            return oauth_error(405, "invalid_request", "POST only");
        }
        let p = params(request);
        if !self.client_authenticated(index, request, &p, fault) {
            return oauth_error(401, "invalid_client", "Client authentication failed");
        }
        if param(&p, "grant_type") != Some("authorization_code") {
            return oauth_error(400, "unsupported_grant_type", "authorization_code only");
        }
        let grant = param(&p, "code").and_then(|c| self.lock().codes.remove(c));
        let Some(grant) = grant.filter(|g| g.operator == index) else {
            return oauth_error(400, "invalid_grant", "Unknown, used or foreign code");
        };
        if param(&p, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return oauth_error(400, "invalid_grant", "redirect_uri does not match");
        }
        if let Some(challenge) = &grant.challenge {
            let verifier = param(&p, "code_verifier").unwrap_or_default();
            if URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())) != *challenge {
                return oauth_error(400, "invalid_grant", "PKCE verification failed");
            }
        }
        let key = match self.lock().keys.get(index).and_then(|k| k.first().cloned()) {
            Some(key) => key,
            None => return oauth_error(500, "server_error", "no key"),
        };
        let access_token = random_hex(24);
        let now = (self.clock)();
        let iss = if fault == Some(&Fault::WrongIssuer) {
            IMPOSTOR_ISSUER.to_owned()
        } else {
            self.issuer(info.name)
        };
        let mut claims = json!({
            "iss": iss,
            "sub": info.pcr(&grant.msisdn),
            "aud": [info.client_id],
            "azp": info.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": grant.auth_time,
            "acr": grant.acr,
            "amr": [grant.amr],
            "at_hash": crate::keys::at_hash(&access_token, key.alg),
            "hashed_login_hint": sha256(grant.hint.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>(),
        });
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = json!(nonce);
        }
        for name in requested_claims(grant.claims.as_ref(), "id_token") {
            if claims.get(&name).is_none()
                && let Some(value) = info.known_claim(&grant.msisdn, &name)
            {
                claims[name] = value;
            }
        }
        let mutation = match fault {
            Some(Fault::IdToken(m)) => Some(m),
            _ => None,
        };
        let id_token = self.forge(index, &key, claims, mutation);
        let userinfo_claims = requested_claims(grant.claims.as_ref(), "userinfo");
        {
            let mut state = self.lock();
            if let Some(slot) = state.last_id_token.get_mut(index) {
                *slot = Some(id_token.clone());
            }
            state.tokens.insert(
                access_token.clone(),
                IssuedToken {
                    operator: index,
                    msisdn: grant.msisdn,
                    userinfo_claims,
                },
            );
        }
        json_response(
            200,
            &json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
                "correlation_id": param(&p, "correlation_id"),
            }),
        )
    }
}
