//! OpenID CIBA backchannel authentication (`bc-authorize`, CIBA Core 7): a form POST with
//! client authentication (HTTP Basic, `client_secret_post`, or `private_key_jwt` for the
//! issuer or this endpoint, valid at most 300 s), `scope`, `login_hint` (`tel:+<digits>` as
//! CAMARA sends it, or the number alone), `binding_message`, `acr_values`,
//! `requested_expiry`, and in ping mode `client_notification_token`. The ping goes to the SP's
//! first registered notification URI (its client notification endpoint).

use http::{Method, Request, Response};

use super::super::Sandbox;
use super::super::catalogue::OPERATORS;
use super::super::faults::Fault;
use super::super::wire::{oauth_error, param, params};
use super::backchannel::{Delivery, Start};

impl Sandbox {
    /// The CIBA authentication request: its answer is `{auth_req_id, expires_in, interval?}`,
    /// or an OAuth error.
    pub(super) fn bc_authorize(
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
        let endpoint = format!("{}/bc-authorize", self.issuer(info.name));
        if !self.client_authenticated(index, request, &p, fault, &endpoint, true) {
            return oauth_error(401, "invalid_client", "Client authentication failed");
        }
        if !param(&p, "scope")
            .unwrap_or_default()
            .split(' ')
            .any(|s| s == "openid")
        {
            return oauth_error(400, "invalid_scope", "openid is required");
        }
        if param(&p, "login_hint_token").is_some() || param(&p, "id_token_hint").is_some() {
            return oauth_error(400, "invalid_request", "The sandbox takes login_hint only");
        }
        let Some(hint) = param(&p, "login_hint") else {
            return oauth_error(400, "invalid_request", "login_hint is required");
        };
        let Some((msisdn, handset)) = info.subscriber_by_phone(hint) else {
            return oauth_error(400, "unknown_user_id", "Unknown subscriber");
        };
        let expiry = self.config.backchannel_expiry.max(1);
        let expires_in = match param(&p, "requested_expiry").map(str::parse::<u64>) {
            None => expiry,
            Some(Ok(requested)) if requested > 0 => requested.min(expiry),
            Some(_) => {
                return oauth_error(
                    400,
                    "invalid_request",
                    "requested_expiry must be a positive integer",
                );
            }
        };
        let notify = match param(&p, "client_notification_token") {
            None => None,
            Some(token) => match self.config.notification_uris.first() {
                Some(uri) => Some((uri.clone(), token.to_owned())),
                None => {
                    return oauth_error(
                        400,
                        "invalid_request",
                        "Ping mode needs a registered client notification endpoint",
                    );
                }
            },
        };
        let delivery = if notify.is_some() {
            Delivery::CibaPing
        } else {
            Delivery::CibaPoll
        };
        self.start_backchannel(
            index,
            Start {
                delivery,
                msisdn,
                handset,
                hint: hint.to_owned(),
                nonce: None,
                claims: None,
                acr_values: param(&p, "acr_values").map(str::to_owned),
                expires_in,
                notify,
                correlation_id: None,
            },
        )
    }
}
