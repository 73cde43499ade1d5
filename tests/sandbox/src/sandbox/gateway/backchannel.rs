//! A server-initiated login between its start (Mobile Connect `si-authorize`, OpenID CIBA
//! `bc-authorize`) and its end: the handset's answer, decided at the start and given after the
//! handset delay; the answer to the start (`auth_req_id`, `expires_in`, `interval`); the
//! notification of the result, queued at the start ([`super::notification`]); and the polls of
//! the token endpoint with the CIBA grant (`authorization_pending`, `slow_down`,
//! `expired_token`, `access_denied`, `invalid_grant`, or the tokens).

use std::time::{Duration, Instant};

use http::Response;
use serde_json::{Value, json};

use super::super::catalogue::{Handset, OPERATORS};
use super::super::faults::{Fault, PollMutation, Target};
use super::super::wire::{json_response, oauth_error, param};
use super::super::{Sandbox, random_hex};
use super::Authenticated;
use super::handset::{self, Answer};

/// The grant types the token endpoint takes for a poll: OpenID CIBA's, and the one a Mobile
/// Connect gateway lists for SI polling.
pub(super) const POLLING_GRANT_TYPES: [&str; 2] = [
    "urn:openid:params:grant-type:ciba",
    "urn:openid:params:mc:grant_type:server_initiated",
];

/// What CIBA adds to the interval on `slow_down` (CIBA Core 11).
const SLOW_DOWN_SECS: u64 = 5;

/// How a server-initiated login's result reaches the SP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Delivery {
    /// Mobile Connect SI `mc_si_async_code`: the tokens (or the error) by notification.
    SiNotification,
    /// Mobile Connect SI `mc_si_polling`: the SP polls.
    SiPolling,
    /// OpenID CIBA poll mode.
    CibaPoll,
    /// OpenID CIBA ping mode: a ping when the handset answered, then one poll.
    CibaPing,
}

impl Delivery {
    /// Whether the SP must keep to the interval between polls (poll modes).
    fn paced(self) -> bool {
        matches!(self, Self::SiPolling | Self::CibaPoll)
    }
}

/// What the handset will have done once it answers.
#[derive(Clone)]
enum Outcome {
    Approved(Authenticated),
    Refused(&'static str),
    Silent,
}

/// A server-initiated login the operator accepted, by `auth_req_id`.
pub(in crate::sandbox) struct BackchannelLogin {
    operator: usize,
    delivery: Delivery,
    outcome: Outcome,
    /// When the handset answers (real time, as the handset delay over HTTP).
    answers_at: Instant,
    /// The sandbox clock's second after which the login is over (with a second of grace, so
    /// that an SP on the same clock always sees the expiry first).
    expires_at: u64,
    interval: u64,
    /// The sandbox clock at the start or at the last poll.
    last_poll: u64,
    polls: u32,
    correlation_id: Option<String>,
}

/// What the SI or CIBA endpoint read from a valid request: everything a login needs.
pub(super) struct Start {
    pub(super) delivery: Delivery,
    pub(super) msisdn: &'static str,
    pub(super) handset: Handset,
    /// The login hint as sent.
    pub(super) hint: String,
    pub(super) nonce: Option<String>,
    pub(super) claims: Option<Value>,
    pub(super) acr_values: Option<String>,
    pub(super) expires_in: u64,
    /// Where the result or the ping goes, with the bearer token it carries.
    pub(super) notify: Option<(String, String)>,
    pub(super) correlation_id: Option<String>,
}

impl Sandbox {
    /// Accept a server-initiated login: the handset is asked now and answers after the handset
    /// delay; the notification, if the mode has one, is queued for then. The answer to the
    /// start: `auth_req_id`, `expires_in`, in poll modes the `interval` (the sandbox sends it
    /// in Mobile Connect SI polling too, where gateways seen send none, so that an SP need not
    /// wait the 5-second default), and the `correlation_id` sent.
    pub(super) fn start_backchannel(&self, index: usize, start: Start) -> Response<Vec<u8>> {
        let now = (self.clock)();
        let answers_at = Instant::now() + self.config.handset_delay;
        let loa = handset::requested_loa(start.acr_values.as_deref());
        let outcome = match handset::answer(start.handset, loa) {
            Answer::Approved { acr, amr } => Outcome::Approved(Authenticated {
                msisdn: start.msisdn.to_owned(),
                hint: start.hint,
                nonce: start.nonce,
                claims: start.claims,
                acr,
                amr,
                auth_time: now,
            }),
            Answer::Refused(description) => Outcome::Refused(description),
            Answer::Silent => Outcome::Silent,
        };
        let auth_req_id = random_hex(16);
        let interval = self.config.poll_interval.max(1);
        if let Some((uri, token)) = &start.notify {
            let body = match (&outcome, start.delivery) {
                (Outcome::Silent, _) => None,
                (_, Delivery::CibaPing) => Some(json!({ "auth_req_id": auth_req_id })),
                (Outcome::Refused(description), _) => Some(json!({
                    "auth_req_id": auth_req_id,
                    "error": "access_denied",
                    "error_description": description,
                })),
                (Outcome::Approved(user), _) => {
                    let fault = self.fault(Some(index), Target::Notification);
                    let recipient = [("recipient", json!(uri))];
                    match self.issue(index, user, &recipient, fault.as_ref()) {
                        Ok(mut tokens) => {
                            tokens["auth_req_id"] = json!(auth_req_id);
                            tokens["correlation_id"] = json!(start.correlation_id);
                            Some(tokens)
                        }
                        Err(_) => None,
                    }
                }
            };
            if let Some(body) = body {
                let late = Duration::from_secs(start.expires_in) + Duration::from_millis(1500);
                self.queue_notification(index, uri, token, body, answers_at, late);
            }
        }
        let mut answer = json!({ "auth_req_id": auth_req_id, "expires_in": start.expires_in });
        if start.delivery.paced() {
            answer["interval"] = json!(interval);
        }
        if let Some(correlation_id) = &start.correlation_id {
            answer["correlation_id"] = json!(correlation_id);
        }
        self.lock().backchannel.insert(
            auth_req_id,
            BackchannelLogin {
                operator: index,
                delivery: start.delivery,
                outcome,
                answers_at,
                expires_at: now.saturating_add(start.expires_in),
                interval,
                last_poll: now,
                polls: 0,
                correlation_id: start.correlation_id,
            },
        );
        json_response(200, &answer)
    }

    /// A poll (the CIBA grant, client already authenticated): the handset's answer once it
    /// came, as a [`Fault::Poll`] or [`Fault::IdToken`] edits it.
    pub(super) fn poll(
        &self,
        index: usize,
        p: &[(String, String)],
        fault: Option<&Fault>,
    ) -> Response<Vec<u8>> {
        let pending = |description: &str| oauth_error(400, "authorization_pending", description);
        let now = (self.clock)();
        let found = {
            let mut state = self.lock();
            let Some(auth_req_id) = param(p, "auth_req_id") else {
                return oauth_error(400, "invalid_request", "auth_req_id is required");
            };
            let Some(login) = state
                .backchannel
                .get_mut(auth_req_id)
                .filter(|l| l.operator == index)
            else {
                return oauth_error(400, "invalid_grant", "Unknown, used or foreign auth_req_id");
            };
            if login.delivery == Delivery::SiNotification {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "This login's result is notified (mc_si_async_code), not polled",
                );
            }
            match fault {
                Some(Fault::Poll(PollMutation::Expired)) => {
                    return oauth_error(400, "expired_token", "The auth_req_id has expired");
                }
                Some(Fault::Poll(PollMutation::PendingForever)) => {
                    return pending("The user has not answered yet");
                }
                _ => {}
            }
            if now > login.expires_at {
                return oauth_error(400, "expired_token", "The auth_req_id has expired");
            }
            let first = login.polls == 0;
            login.polls += 1;
            let too_soon = login.delivery.paced() && now < login.last_poll + login.interval;
            login.last_poll = now;
            if too_soon || (first && fault == Some(&Fault::Poll(PollMutation::SlowDown))) {
                login.interval += SLOW_DOWN_SECS;
                return oauth_error(400, "slow_down", "Polled faster than the interval");
            }
            if Instant::now() < login.answers_at || matches!(login.outcome, Outcome::Silent) {
                return pending("The user has not answered yet");
            }
            state.backchannel.remove(auth_req_id)
        };
        let Some(login) = found else {
            return oauth_error(500, "server_error", "login vanished");
        };
        match login.outcome {
            Outcome::Approved(user) => match self.issue(index, &user, &[], fault) {
                Ok(mut tokens) => {
                    if let Some(correlation_id) = login.correlation_id {
                        tokens["correlation_id"] = json!(correlation_id);
                    }
                    json_response(200, &tokens)
                }
                Err(description) => oauth_error(500, "server_error", description),
            },
            Outcome::Refused(description) => oauth_error(400, "access_denied", description),
            Outcome::Silent => pending("The user has not answered yet"),
        }
    }

    /// The issuer of operator `index`.
    pub(super) fn issuer_of(&self, index: usize) -> String {
        self.issuer(OPERATORS.get(index).map_or("", |o| o.name))
    }
}
