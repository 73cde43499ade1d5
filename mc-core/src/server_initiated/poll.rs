//! Polling the token endpoint for a server-initiated login (Mobile Connect SI polling mode,
//! OpenID CIBA poll and ping modes): the token request with the polling grant type and
//! `auth_req_id`, and the answers `authorization_pending`, `slow_down` or tokens.

use std::fmt;

use super::{BackchannelMode, BackchannelPending, SLOW_DOWN_SECS, finish_tokens};
use crate::endpoint::Endpoint;
use crate::error::{Error, MisuseError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::refetch::Verified;
use crate::registry::Discovered;
use crate::secret::{Entropy, random_token};
use crate::token::{TokenResponse, Tokens};
use crate::wire;

/// What one poll found.
#[derive(Debug)]
#[must_use]
// The tokens are the rare, final answer; boxing them would cost every caller a `Box` pattern.
#[allow(clippy::large_enum_variant)]
pub enum Poll {
    /// The user has not answered yet: keep this state (in place of the one polled) and poll
    /// again at its [`BackchannelPending::next_poll_at`].
    Pending(BackchannelPending),
    /// The login's tokens, id_token verified.
    Tokens(Tokens),
}

impl BackchannelPending {
    /// The token request of a poll: a form POST to the token endpoint with the operator's
    /// polling grant type ([`crate::OperatorConfig::polling_grant_type`], CIBA's by default)
    /// and `auth_req_id`, authenticated as the token endpoint requires
    /// ([`crate::ClientAuth`]). `now` dates a `private_key_jwt` assertion, and `entropy` makes
    /// its `jti` unique to this poll (two polls in one second, which ping mode allows, must not
    /// send the same single-use assertion: RFC 7523 3).
    ///
    /// In poll modes it may be made from [`BackchannelPending::next_poll_at`] on; in CIBA ping
    /// mode at any time (once the ping came, at once).
    ///
    /// # Errors
    /// [`crate::BackchannelError::Expired`] once `now >= expires_at` (and no request is made);
    /// [`MisuseError::WrongMode`] for a Mobile Connect notification-mode login;
    /// [`MisuseError::PollTooEarly`] before `next_poll_at`; [`MisuseError::OperatorMismatch`]
    /// when `operator` is not this login's.
    pub fn poll(
        &self,
        operator: &Discovered,
        entropy: &mut dyn Entropy,
        now: UnixTime,
    ) -> Result<PollExchange, Error> {
        operator.check_flow_operator(&self.op)?;
        if !self.mode.polls() {
            return Err(MisuseError::WrongMode {
                mode: self.mode,
                step: "poll",
            }
            .into());
        }
        self.check_not_expired(now)?;
        if self.mode != BackchannelMode::CibaPing && now < self.next_poll_at {
            return Err(MisuseError::PollTooEarly {
                next_poll_at: self.next_poll_at.as_secs(),
                now: now.as_secs(),
            }
            .into());
        }
        let token_url = &operator.endpoints().token;
        let unique = format!("{}\n{}", self.auth_req_id, random_token(entropy));
        let credentials = operator
            .client()
            .credentials(token_url.as_str(), &unique, now)?;
        let body = wire::form(
            [
                ("grant_type", operator.polling_grant_type()),
                ("auth_req_id", self.auth_req_id.as_str()),
            ]
            .into_iter()
            .chain(credentials.params.iter().map(|(n, v)| (*n, v.as_str()))),
        );
        let mut prepared = wire::post_form(token_url, "token endpoint", body)?;
        if let Some(header) = credentials.header {
            prepared = wire::with_authorization(prepared, header);
        }
        Ok(PollExchange {
            operator: operator.clone(),
            pending: self.clone(),
            prepared,
        })
    }

    /// This login still pending after a poll at `now`, waiting `interval` seconds from now.
    fn waiting(mut self, now: UnixTime, interval: u64) -> Self {
        self.interval = interval;
        self.next_poll_at = super::poll_time(now, interval);
        self
    }
}

/// One poll of the token endpoint. Its answer: [`Poll::Pending`] on `authorization_pending`
/// (next poll after the interval) or `slow_down` (the interval grown by 5 s first), or
/// [`Poll::Tokens`] verified as the browser flow's (and `hashed_login_hint` when present);
/// every other OAuth error (`expired_token`, `access_denied`, `invalid_grant`,
/// `transaction_failed`, ...) is [`Error::Refused`].
#[must_use]
pub struct PollExchange {
    operator: Discovered,
    pending: BackchannelPending,
    prepared: Prepared,
}

impl fmt::Debug for PollExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollExchange")
            .field("operator", &self.operator.id())
            .field("mode", &self.pending.mode)
            .field("request", &self.prepared)
            .finish_non_exhaustive()
    }
}

impl Exchange for PollExchange {
    type Output = Verified<Poll>;

    crate::exchange::operator_step!(Endpoint::Token);

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        now: UnixTime,
    ) -> Result<Verified<Poll>, Error> {
        let body = match wire::json_body(Endpoint::Token, &response) {
            Ok(body) => body,
            Err(Error::Refused(error))
                if error.is("authorization_pending") || error.is("slow_down") =>
            {
                let slow_down = if error.is("slow_down") {
                    SLOW_DOWN_SECS
                } else {
                    0
                };
                let interval = self.pending.interval.saturating_add(slow_down);
                return Ok(Verified::Done(Poll::Pending(
                    self.pending.waiting(now, interval),
                )));
            }
            Err(error) => return Err(error),
        };
        let parsed = TokenResponse::parse(body)?;
        finish_tokens(
            &self.operator,
            &self.pending,
            parsed,
            now,
            false,
            Poll::Tokens,
        )
    }
}
