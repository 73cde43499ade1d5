//! The operator's notification to the SP (Mobile Connect SI notification mode, OpenID CIBA
//! ping): the inbound request parsed ([`Notification::parse`]), accepted against the pending
//! login ([`BackchannelPending::accept`]), and the HTTP answer the SP gives
//! ([`notification_response`]).

use std::fmt;

use http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{BackchannelMode, BackchannelPending, finish_tokens, read_auth_req_id};
use crate::endpoint::Endpoint;
use crate::error::{BackchannelError, Error, OperatorError, ProtocolError};
use crate::exchange::UnixTime;
use crate::refetch::Verified;
use crate::registry::Discovered;
use crate::secret::{NotificationToken, ct_eq};
use crate::token::{TokenResponse, Tokens};
use crate::wire;

/// What a notification carries.
#[derive(Clone)]
enum Content {
    /// Tokens (Mobile Connect SI notification mode; CIBA push).
    Tokens(TokenResponse),
    /// The operator's error (`access_denied` when the user declined, ...).
    Error(OperatorError),
    /// Only `auth_req_id` (CIBA ping: poll now).
    Ping,
}

/// An operator's notification to the SP's notification endpoint, parsed but not yet checked:
/// its bearer token, its `auth_req_id` (to find the pending login by) and what it carries.
/// Hand it to [`BackchannelPending::accept`] with that login.
///
/// Its `Debug` prints the `auth_req_id` and the kind only: the bearer token and the tokens are
/// secrets.
#[must_use]
pub struct Notification {
    bearer: NotificationToken,
    auth_req_id: String,
    content: Content,
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.content {
            Content::Tokens(_) => "tokens",
            Content::Error(_) => "error",
            Content::Ping => "ping",
        };
        f.debug_struct("Notification")
            .field("bearer", &self.bearer)
            .field("auth_req_id", &self.auth_req_id)
            .field("kind", &kind)
            .finish()
    }
}

/// The members of a notification body that decide what it is.
#[derive(Deserialize)]
struct Members {
    #[serde(default)]
    auth_req_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    access_token: Option<IgnoredAny>,
    #[serde(default)]
    id_token: Option<IgnoredAny>,
    #[serde(default)]
    token_type: Option<IgnoredAny>,
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case), if the request has
/// exactly one such header.
fn bearer_token(request: &http::Request<Vec<u8>>) -> Option<NotificationToken> {
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then(|| NotificationToken::new(token))
}

impl Notification {
    /// Read the operator's request to the SP's notification endpoint: a `POST` with
    /// `Authorization: Bearer <client_notification_token>` and a JSON object body (at most
    /// [`crate::wire::MAX_JSON_BYTES`], valid UTF-8, bounded nesting) with `auth_req_id` and
    /// either tokens (`access_token`, `token_type`, `id_token`, ...), or an OAuth error, or
    /// nothing else (a CIBA ping).
    ///
    /// The bearer token is only extracted here: [`BackchannelPending::accept`] compares it with
    /// the login's, in constant time.
    ///
    /// ```
    /// use mc_core::Notification;
    /// let request = http::Request::post("https://sp.example/notify")
    ///     .header("authorization", "Bearer opaque-notification-token")
    ///     .header("content-type", "application/json")
    ///     .body(br#"{"auth_req_id":"6a7c-11f0"}"#.to_vec())
    ///     .unwrap();
    /// let notification = Notification::parse(&request)?;
    /// assert_eq!(notification.auth_req_id(), "6a7c-11f0");
    /// assert!(notification.is_ping());
    /// # Ok::<(), mc_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`BackchannelError::NotificationNotPost`], [`BackchannelError::BearerMissing`];
    /// [`ProtocolError`] with [`Endpoint::Notification`] for a body that is not such a JSON
    /// object, lacks `auth_req_id` (or has one over [`super::MAX_AUTH_REQ_ID_BYTES`]), carries
    /// tokens and an error at once, or tokens the token response rules refuse.
    pub fn parse(request: &http::Request<Vec<u8>>) -> Result<Self, Error> {
        let endpoint = Endpoint::Notification;
        if request.method() != Method::POST {
            return Err(BackchannelError::NotificationNotPost {
                method: request.method().as_str().to_owned(),
            }
            .into());
        }
        let bearer = bearer_token(request).ok_or(BackchannelError::BearerMissing)?;
        let body = request.body();
        let members: Members = wire::json(endpoint, body)?;
        let auth_req_id = read_auth_req_id(endpoint, members.auth_req_id)?;
        let has_tokens = members.access_token.is_some()
            || members.id_token.is_some()
            || members.token_type.is_some();
        let content = match (members.error, has_tokens) {
            (Some(_), true) => {
                return Err(ProtocolError::InvalidField {
                    endpoint,
                    field: "error",
                    reason: "sent alongside tokens",
                }
                .into());
            }
            (Some(error), false) => Content::Error(
                wire::parse_error_body(endpoint, None, body).unwrap_or(OperatorError {
                    endpoint,
                    status: None,
                    error,
                    description: None,
                    uri: None,
                    correlation_id: None,
                }),
            ),
            (None, true) => Content::Tokens(TokenResponse::parse_from(endpoint, body)?),
            (None, false) => Content::Ping,
        };
        Ok(Self {
            bearer,
            auth_req_id,
            content,
        })
    }

    /// The `auth_req_id` the notification is about: look the pending login up by it.
    #[must_use]
    pub fn auth_req_id(&self) -> &str {
        &self.auth_req_id
    }

    /// Whether it carries nothing but `auth_req_id` (an OpenID CIBA ping).
    #[must_use]
    pub fn is_ping(&self) -> bool {
        matches!(self.content, Content::Ping)
    }
}

/// What an accepted notification brought.
#[derive(Debug)]
#[must_use]
// The tokens are the answer that matters; boxing them would cost every caller a `Box` pattern.
#[allow(clippy::large_enum_variant)]
pub enum Notified {
    /// The login's tokens, id_token verified (Mobile Connect SI notification mode).
    Tokens(Tokens),
    /// An OpenID CIBA ping: the user has answered; poll once
    /// ([`BackchannelPending::poll`]) for the tokens or the refusal.
    Ping,
}

impl BackchannelPending {
    /// Check a notification against this login and take what it brings.
    ///
    /// Order: the bearer token equals this login's `client_notification_token` (constant
    /// time, before anything else is believed), the `auth_req_id` is this login's, the login
    /// has not expired (`now < expires_at`), then the content: an operator error is [`Error::Refused`]; tokens (in
    /// notification mode) are verified exactly as the browser flow's, and the id_token's
    /// `recipient`, when present, must be the notification URI and its `hashed_login_hint`,
    /// when present, the hash of the login hint sent; a ping (in CIBA ping mode) is
    /// [`Notified::Ping`]. A token naming a key the context does not hold pauses as
    /// [`Verified::NeedJwks`], as in the browser flow.
    ///
    /// It takes `&self`: the same notification handed over again gets the same verdict.
    ///
    /// # Errors
    /// [`BackchannelError::BearerMismatch`], [`BackchannelError::AuthReqIdMismatch`],
    /// [`BackchannelError::Expired`], [`BackchannelError::NotificationNotExpected`] (a polling
    /// login); [`Error::Refused`] with the operator's error; [`crate::IdTokenError`] for a
    /// rejected id_token; [`ProtocolError`] for tokens in a ping-mode notification or a
    /// notification without tokens in notification mode; [`crate::MisuseError`] when
    /// `operator` is not this login's.
    pub fn accept(
        &self,
        operator: &Discovered,
        notification: Notification,
        now: UnixTime,
    ) -> Result<Verified<Notified>, Error> {
        operator.check_flow_operator(&self.op)?;
        let Some(expected) = self
            .notification_token
            .as_ref()
            .filter(|_| self.mode.is_notified())
        else {
            return Err(BackchannelError::NotificationNotExpected { mode: self.mode }.into());
        };
        if expected != &notification.bearer {
            return Err(BackchannelError::BearerMismatch.into());
        }
        if !ct_eq(
            self.auth_req_id.as_bytes(),
            notification.auth_req_id.as_bytes(),
        ) {
            return Err(BackchannelError::AuthReqIdMismatch.into());
        }
        self.check_not_expired(now)?;
        let endpoint = Endpoint::Notification;
        match (notification.content, self.mode) {
            (Content::Error(error), _) => Err(error.into()),
            (Content::Tokens(response), BackchannelMode::SiNotification) => {
                finish_tokens(operator, self, response, now, true, Notified::Tokens)
            }
            (Content::Ping, BackchannelMode::CibaPing) => Ok(Verified::Done(Notified::Ping)),
            (Content::Tokens(_), _) => Err(ProtocolError::InvalidField {
                endpoint,
                field: "access_token",
                reason: "a ping carries only auth_req_id",
            }
            .into()),
            (Content::Ping, _) => Err(ProtocolError::MissingField {
                endpoint,
                field: "access_token",
            }
            .into()),
        }
    }
}

/// The HTTP answer the SP gives the operator's notification, from the final result of handling
/// it ([`Notification::parse`], then [`BackchannelPending::accept`] and its key refetch, if
/// any): no body, `Cache-Control: no-store`, and nothing of the request echoed.
///
/// | result                                                        | status |
/// |---------------------------------------------------------------|--------|
/// | accepted (also a duplicate of an accepted one)                | 204    |
/// | the operator's error notification (the user declined...), taken | 204  |
/// | no or wrong bearer token                                      | 401 with `WWW-Authenticate: Bearer` |
/// | the host's misuse (e.g. the wrong operator context)           | 500    |
/// | anything else (unknown `auth_req_id`, expired, malformed, rejected id_token) | 400 |
///
/// An operator error delivered by notification is answered 204: the notification itself was
/// well-formed and taken (the login ends refused, which the host learns from the result).
/// Answer only once the result is final: a [`Verified::NeedJwks`] still has its verdict to
/// come.
///
/// ```
/// use mc_core::{BackchannelError, Error, notification_response};
/// let missing: Result<(), Error> = Err(BackchannelError::BearerMissing.into());
/// assert_eq!(notification_response(&missing).status(), 401);
/// let unknown: Result<(), Error> = Err(BackchannelError::UnknownAuthReqId.into());
/// assert_eq!(notification_response(&unknown).status(), 400);
/// assert_eq!(notification_response(&Ok::<(), Error>(())).status(), 204);
/// ```
#[must_use]
pub fn notification_response<T>(result: &Result<T, Error>) -> http::Response<Vec<u8>> {
    let status = match result {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(Error::Refused(error)) if error.endpoint == Endpoint::Notification => {
            StatusCode::NO_CONTENT
        }
        Err(Error::Backchannel(
            BackchannelError::BearerMissing | BackchannelError::BearerMismatch,
        )) => StatusCode::UNAUTHORIZED,
        Err(Error::Misuse(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}
