//! The revocation endpoint (RFC 7009): the SP hands back an access token (userinfo and
//! premiuminfo then answer `invalid_token`) or a refresh token (a refresh then answers
//! `invalid_grant`). Its faults
//! ([`Target::Revocation`](super::super::faults::Target::Revocation)) are the transport ones,
//! applied before it is asked (or, for `slow`, to its genuine answer).

use http::{Method, Request, Response};

use super::super::Sandbox;
use super::super::wire::{oauth_error, param, params, response};

impl Sandbox {
    /// `POST {issuer}/revoke` with `token` (and an optional `token_type_hint`, which only
    /// orders the search, RFC 7009 2.1), authenticated like the token endpoint. An unknown,
    /// already revoked or foreign token is revoked too: 200 (RFC 7009 2.2).
    pub(in crate::sandbox) fn revoke(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
    ) -> Response<Vec<u8>> {
        if request.method() != Method::POST {
            return oauth_error(405, "invalid_request", "POST only");
        }
        let p = params(request);
        let endpoint = format!("{}/revoke", self.issuer_of(index));
        if !self.client_authenticated(index, request, &p, None, &endpoint, false) {
            return oauth_error(401, "invalid_client", "Client authentication failed");
        }
        let Some(token) = param(&p, "token") else {
            return oauth_error(400, "invalid_request", "token is required");
        };
        match param(&p, "token_type_hint") {
            None | Some("access_token" | "refresh_token") => {}
            Some(_) => {
                return oauth_error(
                    400,
                    "unsupported_token_type",
                    "access_token or refresh_token",
                );
            }
        }
        let mut state = self.lock();
        // Only this operator's tokens: another operator's token is "unknown" here.
        if state.tokens.get(token).is_some_and(|t| t.operator == index) {
            state.tokens.remove(token);
        }
        if state
            .refresh_tokens
            .get(token)
            .is_some_and(|g| g.operator == index)
        {
            state.refresh_tokens.remove(token);
        }
        response(200, "application/json", b"{}".to_vec())
    }
}
