//! The token endpoint: client authentication ([`super::client_auth`]), the code grant with
//! PKCE, the refresh grant (rotating refresh tokens), the polls of server-initiated logins
//! ([`super::backchannel`]), and the tokens every way of logging in ends with
//! ([`Sandbox::issue`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, Request, Response};
use serde_json::{Value, json};

use super::super::catalogue::OPERATORS;
use super::super::faults::{Fault, IMPOSTOR_ISSUER};
use super::super::wire::{json_response, oauth_error, param, params};
use super::super::{Sandbox, random_hex};
use super::backchannel::POLLING_GRANT_TYPES;
use super::{Authenticated, IssuedToken, requested_claims};
use crate::keys::sha256;

/// What a refresh token stands for, until a refresh spends it or a revocation ends it.
pub(in crate::sandbox) struct RefreshGrant {
    pub(super) operator: usize,
    /// The login the refresh token continues (its `nonce` dropped).
    user: Authenticated,
}

/// The lower-case hex SHA-256 of a login hint, as operators put it in `hashed_login_hint`.
pub(super) fn hashed_login_hint(hint: &str) -> String {
    sha256(hint.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Sandbox {
    pub(super) fn token(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        fault: Option<&Fault>,
    ) -> Response<Vec<u8>> {
        if request.method() != Method::POST {
            return oauth_error(405, "invalid_request", "POST only");
        }
        let p = params(request);
        let endpoint = format!("{}/token", self.issuer_of(index));
        if !self.client_authenticated(index, request, &p, fault, &endpoint, false) {
            return oauth_error(401, "invalid_client", "Client authentication failed");
        }
        match param(&p, "grant_type") {
            Some("authorization_code") => {}
            Some("refresh_token") => return self.refresh(index, &p, fault),
            Some(super::otp::GRANT_TYPE) => return self.otp(index, &p, fault),
            Some(grant) if POLLING_GRANT_TYPES.contains(&grant) => {
                return self.poll(index, &p, fault);
            }
            _ => {
                return oauth_error(
                    400,
                    "unsupported_grant_type",
                    "authorization_code, refresh_token, or the CIBA grant with auth_req_id",
                );
            }
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
        match self.issue(index, &grant.user, &[], fault) {
            Ok(mut tokens) => {
                tokens["correlation_id"] = json!(param(&p, "correlation_id"));
                tokens["refresh_token"] = json!(self.issue_refresh_token(index, grant.user));
                json_response(200, &tokens)
            }
            Err(description) => oauth_error(500, "server_error", description),
        }
    }

    /// The refresh grant (RFC 6749 6): the refresh token is spent, and the answer carries new
    /// tokens, an id_token about the same authentication (OIDC Core 12.2: same `iss`, `sub`
    /// and `auth_time`, no nonce) and a new refresh token. A spent, revoked, unknown or
    /// foreign refresh token is `invalid_grant`.
    fn refresh(
        &self,
        index: usize,
        p: &[(String, String)],
        fault: Option<&Fault>,
    ) -> Response<Vec<u8>> {
        let grant = param(p, "refresh_token").and_then(|t| self.lock().refresh_tokens.remove(t));
        let Some(grant) = grant.filter(|g| g.operator == index) else {
            return oauth_error(
                400,
                "invalid_grant",
                "Unknown, spent, revoked or foreign refresh token",
            );
        };
        let user = Authenticated {
            nonce: None,
            ..grant.user
        };
        match self.issue(index, &user, &[], fault) {
            Ok(mut tokens) => {
                tokens["refresh_token"] = json!(self.issue_refresh_token(index, user));
                json_response(200, &tokens)
            }
            Err(description) => oauth_error(500, "server_error", description),
        }
    }

    /// A new refresh token for `user`'s login at operator `index`, good for one refresh.
    fn issue_refresh_token(&self, index: usize, user: Authenticated) -> String {
        let token = format!("rt-{}", random_hex(24));
        self.lock().refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                operator: index,
                user,
            },
        );
        token
    }

    /// An access token and an id_token for `user`, with `extra` claims (a notification's
    /// `recipient`), as `fault` edits the id_token: the members of a token response
    /// (`access_token`, `token_type`, `expires_in`, `id_token`). The access token is good at
    /// userinfo from now on. The error is a `server_error`'s description.
    pub(super) fn issue(
        &self,
        index: usize,
        user: &Authenticated,
        extra: &[(&str, Value)],
        fault: Option<&Fault>,
    ) -> Result<Value, &'static str> {
        let info = OPERATORS.get(index).ok_or("operator index")?;
        let key = self
            .lock()
            .keys
            .get(index)
            .and_then(|k| k.first().cloned())
            .ok_or("no key")?;
        let access_token = random_hex(24);
        let now = (self.clock)();
        let iss = if fault == Some(&Fault::WrongIssuer) {
            IMPOSTOR_ISSUER.to_owned()
        } else {
            self.issuer(info.name)
        };
        let mut claims = json!({
            "iss": iss,
            "sub": info.pcr(&user.msisdn),
            "aud": [info.client_id],
            "azp": info.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": user.auth_time,
            "acr": user.acr,
            "amr": [user.amr],
            "at_hash": crate::keys::at_hash(&access_token, key.alg),
            "hashed_login_hint": hashed_login_hint(&user.hint),
        });
        if let Some(nonce) = &user.nonce {
            claims["nonce"] = json!(nonce);
        }
        for (name, value) in extra {
            claims[*name] = value.clone();
        }
        for name in requested_claims(user.claims.as_ref(), "id_token") {
            if claims.get(&name).is_none()
                && let Some(value) = info.known_claim(&user.msisdn, &name)
            {
                claims[name] = value;
            }
        }
        let mutation = match fault {
            Some(Fault::IdToken(m)) => Some(m),
            _ => None,
        };
        let id_token = self.forge(index, &key, claims, mutation);
        let userinfo_claims = requested_claims(user.claims.as_ref(), "userinfo");
        {
            let mut state = self.lock();
            if let Some(slot) = state.last_id_token.get_mut(index) {
                *slot = Some(id_token.clone());
            }
            state.tokens.insert(
                access_token.clone(),
                IssuedToken {
                    operator: index,
                    msisdn: user.msisdn.clone(),
                    userinfo_claims,
                    premiuminfo: user
                        .claims
                        .as_ref()
                        .and_then(|c| c.get("premiuminfo"))
                        .and_then(Value::as_object)
                        .cloned(),
                },
            );
        }
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
        }))
    }
}
