//! Server-initiated login: Mobile Connect SI (notification and polling) and OpenID CIBA (poll and
//! ping). The SP knows who logs in (a phone number), asks the operator from its backend, the
//! user confirms on the handset, and the tokens arrive by a notification to the SP or by
//! polling the token endpoint: no browser redirect.
//!
//! ```text
//!                  si_authorize ──> SiStart ───┐ (Exchange: the operator's
//! operator context                             ├─> answer {auth_req_id, expires_in})
//!                ciba_authorize ─> CibaStart ──┘          │
//!                                                         v
//!   Notification::parse(inbound request) ──accept──> BackchannelPending ──poll──> PollExchange
//!        (SI notification mode, CIBA ping)    │      (serializable, no        │  (Exchange)
//!                                             │       operator secret)        v
//!                                             v                   Poll::Pending(pending'),
//!                                 Notified::Tokens / Ping            Poll::Tokens
//! ```
//!
//! | mode ([`BackchannelMode`])  | started by                 | tokens come by              |
//! |-----------------------------|----------------------------|-----------------------------|
//! | `SiNotification`            | [`SiRequest::new`]         | [`BackchannelPending::accept`] |
//! | `SiPolling`                 | [`SiRequest::polling`]     | [`BackchannelPending::poll`]   |
//! | `CibaPoll`                  | [`CibaRequest::new`]       | [`BackchannelPending::poll`]   |
//! | `CibaPing`                  | [`CibaRequest::ping`]      | `accept` (a ping), then one `poll` |
//!
//! # What the host must do
//! - Run the start exchange like any other; its output, the [`BackchannelPending`], is the
//!   per-login state. Store it where the notification handler can find it by
//!   [`BackchannelPending::auth_req_id`] (notification modes) or where the polling loop runs.
//!   It is small, `Serialize + Deserialize`, and holds no operator secret (its
//!   `client_notification_token` and nonce redact in `Debug`).
//! - Polling: call [`BackchannelPending::poll`] no earlier than
//!   [`BackchannelPending::next_poll_at`] (sooner is refused as
//!   [`crate::MisuseError::PollTooEarly`], since the operator would answer `slow_down`), run
//!   the exchange, and on [`Poll::Pending`] replace the stored state with the one it carries
//!   (its interval may have grown). Once `now >= expires_at` the poll is refused without a
//!   request ([`crate::BackchannelError::Expired`]).
//! - Notifications: hand the inbound `http::Request` to [`Notification::parse`], look the
//!   pending login up by [`Notification::auth_req_id`], hand both to
//!   [`BackchannelPending::accept`], finish a key refetch if it asks for one, and answer the
//!   operator with [`notification_response`] of the final result. `accept` takes `&self`: keep
//!   the state until it expires, so that a duplicate notification gets the same verdict (and
//!   the same 204), and make the login itself idempotent on your side. After
//!   [`Notified::Ping`], poll once.
//!
//! Tokens are verified exactly as the browser flow's: issuer, audience, signature (pausing for
//! a JWKS refetch on an unknown `kid`), times, `nonce` (Mobile Connect SI; OpenID CIBA sends
//! none, so a `nonce` in its id_token is ignored), `acr` against the levels asked for, and
//! `at_hash`. A notified id_token also must name the notification URI in `recipient` when it
//! has that claim, and any id_token's `hashed_login_hint`, when present, must be the hash of
//! the login hint sent (when the SP knows it: see [`SiRequest::hashed_login_hint`]).
//!
//! A whole Mobile Connect SI login in polling mode, against a canned operator in memory:
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/canned_operator.rs"));
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/canned_backchannel.rs"));
//! # use canned_backchannel::{operator_answer, sp_key_pem};
//! use mc_core::{
//!     Algorithm, ClientSecret, Exchange, LoginHint, Msisdn, OperatorConfig, Poll, Registration,
//!     SiRequest, SpSigningKey, Verified,
//! };
//!
//! # fn main() -> Result<(), mc_core::Error> {
//! let operator = OperatorConfig::new(Registration {
//!     operator_id: "example-operator".to_owned(),
//!     client_id: "my-client-id".to_owned(),
//!     client_secret: ClientSecret::new("my-client-secret"),
//!     redirect_uri: "https://sp.example/callback".to_owned(),
//! })?
//! .issuer("https://op.example")
//! .authorization("https://op.example/authorize")?
//! .token("https://op.example/token")?
//! .jwks("https://op.example/jwks")?
//! .si_authorization("https://op.example/si-authorize")?
//! .signing_key(SpSigningKey::from_pem(Algorithm::RS256, sp_key_pem(), "sp-key-1")?)
//! .build()?;
//! let mut rng = |buf: &mut [u8]| buf.fill(7); // the OS CSPRNG in production
//! let mut now = canned::now();
//!
//! // 1. Ask the operator to authenticate the subscriber on the handset.
//! let request = SiRequest::new(LoginHint::Msisdn(Msisdn::new("447700900301"))).polling();
//! let start = operator.si_authorize(request, &mut rng, now)?;
//! let answer = operator_answer(&start.request());
//! let mut pending = start.respond(answer, now)?; // keep it: serializable, no operator secret
//!
//! // 2. Poll when the core says, until the user has answered.
//! let tokens = loop {
//!     now = pending.next_poll_at(); // an adapter sleeps until then
//!     let exchange = pending.poll(&operator, &mut rng, now)?;
//!     let answer = operator_answer(&exchange.request());
//!     let poll = match exchange.respond(answer, now)? {
//!         Verified::Done(poll) => poll,
//!         Verified::NeedJwks(refetch) => {
//!             let answer = operator_answer(&refetch.request());
//!             refetch.respond(answer, now)?
//!         }
//!     };
//!     match poll {
//!         Poll::Pending(still) => pending = still,
//!         Poll::Tokens(tokens) => break tokens,
//!     }
//! };
//! assert_eq!(tokens.sub(), canned::PCR);
//! # Ok(()) }
//! ```

mod notification;
mod poll;
mod request;
mod start;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use notification::{Notification, Notified, notification_response};
pub use poll::{Poll, PollExchange};
pub use request::{CibaLoginHint, CibaRequest, SiRequest};
// The browser's request object (`authorize`) shares the SI one's `typ` and validity window.
pub(crate) use request::{REQUEST_OBJECT_TYPE, RequestObject};
pub use start::{BackchannelStart, CibaStart, SiStart};

use crate::error::{Error, IdTokenError};
use crate::exchange::UnixTime;
use crate::id_token::IdToken;
use crate::jwks::Jwks;
use crate::jws::Signed;
use crate::refetch::Verified;
use crate::registry::Discovered;
use crate::secret::{Nonce, NotificationToken, Redacted, ct_eq};
use crate::token::{self, LoginExpectations, TokenAnswer, TokenResponse, Tokens};

/// OpenID CIBA's grant type, the default polling grant type
/// ([`crate::OperatorConfig::polling_grant_type`]).
pub const CIBA_GRANT_TYPE: &str = "urn:openid:params:grant-type:ciba";

/// The polling interval when the operator names none (OpenID CIBA Core 7.3; Mobile Connect
/// answers carry no `interval`).
pub const DEFAULT_INTERVAL_SECS: u64 = 5;

/// What OpenID CIBA adds to the interval on `slow_down` (CIBA Core 11, RFC 8628 3.5).
pub const SLOW_DOWN_SECS: u64 = 5;

/// The longest `auth_req_id` accepted (bytes): it is stored in the per-login state and used as
/// a lookup key.
pub const MAX_AUTH_REQ_ID_BYTES: usize = 512;

/// The longest `correlation_id` an operator's start answer may carry, in bytes (it is kept in
/// the pending state; Mobile Connect's are UUIDs, 36 bytes): a longer one is refused.
pub const MAX_CORRELATION_ID_BYTES: usize = 128;

/// How the operator takes a Mobile Connect server-initiated authorization request: the outer
/// parameters `client_id`, `scope`, `response_type` and `request` go in the query or the body,
/// as each gateway wants (a per-operator setting,
/// [`crate::OperatorConfig::si_transport`]). The body forms keep the signed request object
/// (which holds the login hint) out of URL logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SiTransport {
    /// `GET` with the parameters in the query (Beeline and others).
    GetQuery,
    /// `POST` with the parameters in the query and an empty body (the GSMA example).
    #[default]
    PostQuery,
    /// `POST` with an `application/x-www-form-urlencoded` body.
    PostForm,
    /// `POST` with a JSON object body (MTS).
    PostJson,
}

/// How a server-initiated login's tokens are delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackchannelMode {
    /// Mobile Connect SI, `response_type=mc_si_async_code`: the operator POSTs the tokens to
    /// the SP's notification URI.
    SiNotification,
    /// Mobile Connect SI, `response_type=mc_si_polling`: the SP polls the token endpoint.
    SiPolling,
    /// OpenID CIBA poll mode.
    CibaPoll,
    /// OpenID CIBA ping mode: the operator notifies the SP (with `auth_req_id` only), then the
    /// SP polls once.
    CibaPing,
}

impl BackchannelMode {
    /// A stable lower-case name (`si_notification`, `si_polling`, `ciba_poll`, `ciba_ping`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SiNotification => "si_notification",
            Self::SiPolling => "si_polling",
            Self::CibaPoll => "ciba_poll",
            Self::CibaPing => "ciba_ping",
        }
    }

    /// Whether the login's tokens come from the token endpoint (every mode but
    /// [`BackchannelMode::SiNotification`]).
    #[must_use]
    pub const fn polls(self) -> bool {
        !matches!(self, Self::SiNotification)
    }

    /// Whether the operator calls the SP's notification endpoint in this mode.
    #[must_use]
    pub const fn is_notified(self) -> bool {
        matches!(self, Self::SiNotification | Self::CibaPing)
    }
}

impl fmt::Display for BackchannelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server-initiated login the operator accepted, waiting for the user: the per-login state
/// of Mobile Connect SI and OpenID CIBA alike.
///
/// Small (under 512 bytes of JSON for a typical login), `Serialize + Deserialize`, and free of
/// operator secrets; its own secrets (the notification token, the nonce, the login hint's hash)
/// do not print in `Debug`. It resumes with the operator context it started with
/// ([`BackchannelPending::poll`], [`BackchannelPending::accept`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct BackchannelPending {
    /// Operator id.
    pub(crate) op: String,
    pub(crate) mode: BackchannelMode,
    pub(crate) auth_req_id: String,
    /// The nonce of the request object (Mobile Connect SI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<Nonce>,
    /// The bearer token the notification must carry (notification and ping modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notification_token: Option<NotificationToken>,
    /// The notification URI sent, which a notified id_token's `recipient` must name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notification_uri: Option<String>,
    /// The `hashed_login_hint` the id_token must carry if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hashed_login_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_acr: Option<u8>,
    /// The version sent is a Mobile Connect DI one (its id_tokens need `at_hash` and `amr`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) di_profile: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) correlation_id: Option<String>,
    pub(crate) expires_at: UnixTime,
    pub(crate) interval: u64,
    pub(crate) next_poll_at: UnixTime,
}

impl fmt::Debug for BackchannelPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field by hand, so that a field added later is not printed until someone decides
        // it may be. The hash of a phone number is as good as the number: redacted.
        let Self {
            op,
            mode,
            auth_req_id,
            nonce,
            notification_token,
            notification_uri,
            hashed_login_hint,
            min_acr,
            di_profile,
            correlation_id,
            expires_at,
            interval,
            next_poll_at,
        } = self;
        f.debug_struct("BackchannelPending")
            .field("op", op)
            .field("mode", mode)
            .field("auth_req_id", auth_req_id)
            .field("nonce", nonce)
            .field("notification_token", notification_token)
            .field("notification_uri", notification_uri)
            .field(
                "hashed_login_hint",
                &hashed_login_hint.as_ref().map(|_| Redacted),
            )
            .field("min_acr", min_acr)
            .field("di_profile", di_profile)
            .field("correlation_id", correlation_id)
            .field("expires_at", expires_at)
            .field("interval", interval)
            .field("next_poll_at", next_poll_at)
            .finish()
    }
}

impl BackchannelPending {
    /// The operator this login goes through.
    #[must_use]
    pub fn operator_id(&self) -> &str {
        &self.op
    }

    /// How the tokens are delivered.
    #[must_use]
    pub fn mode(&self) -> BackchannelMode {
        self.mode
    }

    /// The operator's identifier of this login: the key to find this state by when a
    /// notification arrives.
    #[must_use]
    pub fn auth_req_id(&self) -> &str {
        &self.auth_req_id
    }

    /// When the operator stops waiting for the user (`expires_in` after its answer).
    #[must_use]
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// Whether the login has expired at `now`.
    #[must_use]
    pub fn is_expired(&self, now: UnixTime) -> bool {
        now >= self.expires_at
    }

    /// The polling interval, in seconds (the operator's, grown by each `slow_down`).
    #[must_use]
    pub fn interval_secs(&self) -> u64 {
        self.interval
    }

    /// The earliest time of the next poll: sleep until then. It is one second more than the
    /// answer's whole second plus the interval (times are floored seconds), so that a poll at this time
    /// is never sooner than the interval after the answer (CIBA Core 7.3).
    #[must_use]
    pub fn next_poll_at(&self) -> UnixTime {
        self.next_poll_at
    }

    /// The correlation id (the operator's, or the one sent), if any.
    #[must_use]
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// The lowest level of assurance the id_token's `acr` must reach, if any.
    #[must_use]
    pub fn min_acr(&self) -> Option<u8> {
        self.min_acr
    }

    /// When the next poll may go out: [`BackchannelPending::next_poll_at`], or the expiry if
    /// that comes first (a poll then is refused with the typed expiry, without a request). What
    /// an executor sleeps until between polls.
    #[must_use]
    pub fn poll_due(&self) -> UnixTime {
        self.next_poll_at.min(self.expires_at)
    }

    /// `Ok` while the login is live at `now`, else its typed expiry
    /// ([`crate::BackchannelError::Expired`]): what a host waiting for a notification reports
    /// when none came in time.
    ///
    /// # Errors
    /// [`crate::BackchannelError::Expired`] once `now >= expires_at`.
    pub fn check_not_expired(&self, now: UnixTime) -> Result<(), Error> {
        if self.is_expired(now) {
            Err(crate::BackchannelError::Expired {
                expires_at: self.expires_at.as_secs(),
                now: now.as_secs(),
            }
            .into())
        } else {
            Ok(())
        }
    }
}

/// The `auth_req_id` of an answer or a notification: present, not empty, at most
/// [`MAX_AUTH_REQ_ID_BYTES`].
fn read_auth_req_id(
    endpoint: crate::Endpoint,
    value: Option<String>,
) -> Result<String, crate::ProtocolError> {
    let field = "auth_req_id";
    match value {
        Some(id) if id.len() > MAX_AUTH_REQ_ID_BYTES => Err(crate::ProtocolError::InvalidField {
            endpoint,
            field,
            reason: "too long",
        }),
        Some(id) if !id.is_empty() => Ok(id),
        _ => Err(crate::ProtocolError::MissingField { endpoint, field }),
    }
}

/// The lower-case hex SHA-256 of a login hint, as operators put it in `hashed_login_hint`.
pub(crate) fn hash_login_hint(hint: &str) -> Result<String, Error> {
    use std::fmt::Write as _;
    let digest = crate::crypto::digest(hint.as_bytes(), 256).ok_or(
        crate::MisuseError::InvalidParameter {
            name: "login_hint",
            reason: "the crypto backend cannot hash",
        },
    )?;
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

/// Verify the id_token of tokens for this login: the browser flow's rules
/// ([`token::verify_response`]), then, for a notification, `recipient`, and `hashed_login_hint`.
fn verify(
    operator: &Discovered,
    pending: &BackchannelPending,
    response: &TokenResponse,
    keys: &Jwks,
    now: UnixTime,
    notified: bool,
) -> Result<Signed<IdToken>, Error> {
    let login = LoginExpectations {
        nonce: pending.nonce.as_ref(),
        max_age: None,
        min_acr: pending.min_acr,
        di_profile: pending.di_profile,
    };
    let id_token = match token::verify_response(operator, &login, response, keys, now)? {
        Signed::Verified(id_token) => id_token,
        Signed::KeyMissing(missing) => return Ok(Signed::KeyMissing(missing)),
    };
    if notified && let Some(expected) = &pending.notification_uri {
        match id_token.claim("recipient") {
            None => {}
            Some(serde_json::Value::String(found)) if found == *expected => {}
            Some(serde_json::Value::String(found)) => {
                return Err(IdTokenError::RecipientMismatch {
                    expected: expected.clone(),
                    found,
                }
                .into());
            }
            Some(_) => {
                return Err(IdTokenError::InvalidClaim {
                    claim: "recipient",
                    reason: "not a string",
                }
                .into());
            }
        }
    }
    if let (Some(expected), Some(found)) = (
        &pending.hashed_login_hint,
        &id_token.claims().hashed_login_hint,
    ) && !ct_eq(found.to_ascii_lowercase().as_bytes(), expected.as_bytes())
    {
        return Err(IdTokenError::HashedLoginHintMismatch.into());
    }
    Ok(Signed::Verified(id_token))
}

/// A server-initiated login's tokens (notified, or polled), held to the login.
struct Backchannel {
    pending: BackchannelPending,
    notified: bool,
}

impl TokenAnswer for Backchannel {
    fn verify(
        &self,
        operator: &Discovered,
        response: &TokenResponse,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<Signed<IdToken>, Error> {
        verify(operator, &self.pending, response, keys, now, self.notified)
    }

    fn tokens(
        self,
        response: TokenResponse,
        id_token: IdToken,
        now: UnixTime,
    ) -> Result<Tokens, Error> {
        token::tokens(self.pending.op, response, id_token, now)
    }
}

/// The verified tokens of this login as `map` wraps them, or a pause for the operator's keys.
fn finish_tokens<U: 'static>(
    operator: &Discovered,
    pending: &BackchannelPending,
    response: TokenResponse,
    now: UnixTime,
    notified: bool,
    map: fn(Tokens) -> U,
) -> Result<Verified<U>, Error> {
    let answer = Backchannel {
        pending: pending.clone(),
        notified,
    };
    Ok(token::verify_answer(operator, answer, response, now)?.map(map))
}

/// When to poll again after an answer at `now` with this interval. Times are whole seconds,
/// floored: the answer came at some instant of `[now, now + 1)`, so `now + interval + 1` is the
/// first whole second that is surely `interval` seconds after it (CIBA Core 7.3: polling sooner
/// earns `slow_down`).
pub(crate) fn poll_time(now: UnixTime, interval: u64) -> UnixTime {
    now.plus(interval).plus(1)
}
