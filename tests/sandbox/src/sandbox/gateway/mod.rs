//! The operator gateways (IDGWs): one file per endpoint, named after the step. The simulated
//! handset lives with the authorize endpoint, where the user approves.

mod authorize;
mod handset;
mod metadata;
mod token;
mod userinfo;

use std::time::Duration;

use http::{Request, Response};
use serde_json::Value;

use super::Sandbox;
use super::faults::{Fault, Target};

pub use authorize::parse_form_post;

/// What an authorization code stands for, until the token endpoint redeems it.
pub(super) struct Grant {
    operator: usize,
    /// The `claims` request parameter, if any.
    claims: Option<Value>,
    msisdn: String,
    nonce: Option<String>,
    challenge: Option<String>,
    redirect_uri: String,
    acr: &'static str,
    amr: &'static str,
    hint: String,
    auth_time: u64,
}

/// What an access token stands for, at userinfo and premiuminfo.
pub(super) struct IssuedToken {
    operator: usize,
    msisdn: String,
    /// Claim names requested for userinfo through the `claims` parameter.
    userinfo_claims: Vec<String>,
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
            Target::PremiumInfo | Target::Discovery => self.userinfo(index, request, true, fault),
        };
        (answer, Duration::ZERO)
    }
}
