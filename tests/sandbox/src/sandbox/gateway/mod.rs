//! The operator gateways (IDGWs): one file per endpoint, named after the step. The simulated
//! handset lives with the authorize endpoint, where the user approves. Server-initiated logins
//! (Mobile Connect SI, OpenID CIBA) start at `si_authorize` and `bc_authorize`, wait for the
//! handset in `backchannel` (which also answers their polls at the token endpoint), and end by
//! a poll or a `notification`; `client_auth` checks who the SP is (client authentication and
//! the SP's signatures against the JWKS it registered). After a login, `token` also answers
//! the refresh grant and `revoke` ends access and refresh tokens (RFC 7009).

mod authorize;
mod backchannel;
mod bc_authorize;
mod client_auth;
mod handset;
mod metadata;
mod notification;
mod otp;
mod revoke;
mod si_authorize;
mod token;
mod userinfo;

use std::time::Duration;

use http::{Request, Response};
use serde_json::Value;

use super::Sandbox;
use super::faults::{Fault, Target};

pub use authorize::parse_form_post;
pub(super) use backchannel::BackchannelLogin;
pub(super) use notification::Outgoing;
pub(super) use otp::OtpChallenges;
pub(super) use token::RefreshGrant;

/// Whom the handset authenticated, how, and what the SP asked to know: what an id_token is
/// made of, whichever way the login went.
#[derive(Clone)]
pub(super) struct Authenticated {
    msisdn: String,
    /// The login hint as the SP sent it (the id_token's `hashed_login_hint` is its hash).
    hint: String,
    nonce: Option<String>,
    /// The `claims` request parameter, if any.
    claims: Option<Value>,
    acr: &'static str,
    amr: &'static str,
    auth_time: u64,
}

/// What an authorization code stands for, until the token endpoint redeems it.
pub(super) struct Grant {
    operator: usize,
    user: Authenticated,
    challenge: Option<String>,
    redirect_uri: String,
}

/// What an access token stands for, at userinfo and premiuminfo.
pub(super) struct IssuedToken {
    operator: usize,
    msisdn: String,
    /// Claim names requested for userinfo through the `claims` parameter.
    userinfo_claims: Vec<String>,
    /// The `claims` request's `premiuminfo` member (a KYC match asks there).
    premiuminfo: Option<serde_json::Map<String, Value>>,
}

/// The claim names requested for `member` (`id_token` or `userinfo`) in a `claims` value.
fn requested_claims(claims: Option<&Value>, member: &str) -> Vec<String> {
    claims
        .and_then(|c| c.get(member))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

impl Sandbox {
    /// Answer a request to `target` at operator `index`, with how long an HTTP server should
    /// wait before sending the answer (the handset's time).
    pub(super) fn gateway(
        &self,
        index: usize,
        target: Target,
        request: &Request<Vec<u8>>,
        fault: Option<&Fault>,
    ) -> (Response<Vec<u8>>, Duration) {
        let answer = match target {
            Target::Authorize => return self.authorize(index, request, fault),
            Target::Metadata => self.metadata(index, fault),
            Target::Jwks => self.jwks(index, fault),
            Target::Token => self.token(index, request, fault),
            Target::UserInfo => self.userinfo(index, request, false, fault),
            Target::SiAuthorize => self.si_authorize(index, request),
            Target::BcAuthorize => self.bc_authorize(index, request, fault),
            Target::Revocation => self.revoke(index, request),
            // No request is routed to the notification target (the operator sends those).
            Target::PremiumInfo | Target::Discovery | Target::Notification => {
                self.userinfo(index, request, true, fault)
            }
        };
        (answer, Duration::ZERO)
    }
}
