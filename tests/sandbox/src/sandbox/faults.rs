//! The fault switches: which endpoint ([`Target`]) misbehaves how ([`Fault`]), from transport
//! faults (status, slowness, body size) to protocol attacks on the relying party (edited
//! id_tokens, callbacks and key sets, forged or mistimed server-initiated notifications, odd
//! polling answers).

use std::sync::Arc;
use std::time::Duration;

use http::Response;
use serde_json::Value;

use super::wire::{redirect, response, server_error};

mod names;

pub use names::{FaultSwitch, NAMED_FAULTS, NamedFault};

/// Which endpoint a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The discovery API.
    Discovery,
    /// Provider metadata.
    Metadata,
    /// JWKS.
    Jwks,
    /// The authorize endpoint.
    Authorize,
    /// The token endpoint.
    Token,
    /// UserInfo.
    UserInfo,
    /// Premium info.
    PremiumInfo,
    /// Token revocation (RFC 7009, `revoke`): the transport faults and [`Fault::Body`] apply
    /// (a 200 with any body is still success to the SP).
    Revocation,
    /// Mobile Connect server-initiated authorization (`si-authorize`).
    SiAuthorize,
    /// OpenID CIBA backchannel authentication (`bc-authorize`).
    BcAuthorize,
    /// The notifications the operator sends to the SP (Mobile Connect SI notification mode,
    /// CIBA ping): not an endpoint the SP calls, so the transport faults do not apply to it.
    Notification,
}

impl Target {
    /// Every target, in the order of a login (the browser's and what follows it, then the
    /// server-initiated one's).
    pub const ALL: [Self; 11] = [
        Self::Discovery,
        Self::Metadata,
        Self::Jwks,
        Self::Authorize,
        Self::Token,
        Self::UserInfo,
        Self::PremiumInfo,
        Self::Revocation,
        Self::SiAuthorize,
        Self::BcAuthorize,
        Self::Notification,
    ];

    /// The name the binary takes (`token`, `userinfo`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Metadata => "metadata",
            Self::Jwks => "jwks",
            Self::Authorize => "authorize",
            Self::Token => "token",
            Self::UserInfo => "userinfo",
            Self::PremiumInfo => "premiuminfo",
            Self::Revocation => "revoke",
            Self::SiAuthorize => "si-authorize",
            Self::BcAuthorize => "bc-authorize",
            Self::Notification => "notification",
        }
    }

    /// The target of a [`Target::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A misbehaviour switched on for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with an HTML body.
    ServerError,
    /// HTTP 500 with an HTML body, after this long (over HTTP).
    SlowServerError(Duration),
    /// Answer correctly, but only after this long (over HTTP).
    Slow(Duration),
    /// A 200 body of this many bytes.
    Oversized(usize),
    /// A 302 to another URL.
    Redirect,
    /// A 200 body that is not JSON.
    MalformedJson,
    /// id_tokens (token endpoint) or signed userinfo carry a foreign `iss`.
    WrongIssuer,
    /// [`Target::Token`] (the code grant and polls alike) and [`Target::Notification`]: the
    /// id_token is edited, re-signed, forged or replaced as described.
    /// [`Target::UserInfo`] / [`Target::PremiumInfo`] of an operator with signed userinfo: the
    /// same edit of the userinfo JWT. Other targets ignore it.
    IdToken(IdTokenMutation),
    /// [`Target::UserInfo`] / [`Target::PremiumInfo`]: the `sub` is not the id_token's
    /// (`sub` + `"invalid"`, as the OpenID conformance suite does), JSON or signed.
    SubjectMismatch,
    /// [`Target::Metadata`]: the document's `issuer` is `https://impostor.example`.
    ForeignIssuerInMetadata,
    /// [`Target::Metadata`]: `jwks_uri` points to a path other than the registry's
    /// (`{issuer}/keys/moved`), where the sandbox serves the JWKS too.
    MovedJwksUri,
    /// [`Target::Authorize`]: the browser's way back to the SP is edited.
    Callback(CallbackMutation),
    /// [`Target::Jwks`]: the key set is edited.
    Jwks(JwksMutation),
    /// [`Target::Token`]: the endpoint accepts only this client authentication method.
    RequireClientAuth(ClientAuthRequirement),
    /// Any target: answer exactly this status, content type and body.
    Body(RawBody),
    /// [`Target::Notification`]: the notifications of the logins started while it is on are
    /// sent wrongly as described (the id_token's edits are [`Fault::IdToken`]).
    Notification(NotificationMutation),
    /// [`Target::Token`]: polls for server-initiated logins (the CIBA grant) are answered as
    /// described instead of by the handset's state.
    Poll(PollMutation),
}

/// How the operator gets a notification to the SP wrong (Mobile Connect SI notification mode
/// and OpenID CIBA ping alike). Decided when the login starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotificationMutation {
    /// `Authorization: Bearer` with a token other than the login's `client_notification_token`.
    WrongBearer,
    /// An `auth_req_id` the operator never issued.
    UnknownAuthReqId,
    /// The same notification twice.
    Duplicate,
    /// Sent only after the login expired (`expires_in` and a second and a half after the start).
    Late,
}

/// How the token endpoint answers the polls of a server-initiated login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollMutation {
    /// `authorization_pending`, whatever the handset did, until the SP gives up.
    PendingForever,
    /// `slow_down` to the first poll of each login (its interval grows by 5 s), then the
    /// genuine answers.
    SlowDown,
    /// `expired_token` at once.
    Expired,
}

/// How the token endpoint (or signed userinfo) edits the JWT it issues. Claim and header edits
/// apply in order to the genuine token before it is signed, so everything not edited stays
/// valid (fresh `iat`, right `nonce`, matching `at_hash`): one rule broken at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenMutation {
    /// Set a claim to a value (adding it if absent).
    SetClaim(String, Value),
    /// Remove a claim.
    RemoveClaim(String),
    /// Append text to a string claim (`nonce` + `"1"`, as the OpenID conformance suite does:
    /// the genuine value with one character more).
    AppendToClaim(String, String),
    /// Set a time claim (`exp`, `iat`, `nbf`, `auth_time`) to the sandbox's clock plus this many
    /// seconds (negative: in the past), read when the token is built.
    ClaimFromNow(String, i64),
    /// Write the member a second time at the end of the claims JSON (RFC 8725 section 2.6).
    DuplicateClaim(String, Value),
    /// Set a JOSE header member (after the signer set `alg`, so this can also lie about `alg`).
    SetHeader(String, Value),
    /// Remove a JOSE header member (`kid`: the token names no key).
    RemoveHeader(String),
    /// Write the header member a second time at the end of the header JSON.
    DuplicateHeader(String, Value),
    /// An unsecured JWT: `alg` `none` and an empty signature.
    AlgNone,
    /// Flip every signature bit pattern (XOR 0x5A), as the conformance suite does.
    CorruptSignature,
    /// `alg` HS256, MACed with these key bytes (the client secret for a genuine HS256 token;
    /// the operator's public key PEM for an algorithm-confusion attack).
    Hmac(Vec<u8>),
    /// Signed with a key of the operator's family that is not in its JWKS (the pool key before
    /// the current one), under the current `kid`.
    ForeignKey,
    /// Serve the last id_token this operator issued (replay into another login).
    ReplayLast,
    /// Serve this string as the id_token, as is.
    Raw(String),
    /// Set a claim after signing: the claims change, the signature stays the one of the genuine
    /// claims (a token altered in transit).
    Tamper(String, Value),
    /// Several edits, in order.
    All(Vec<IdTokenMutation>),
}

impl IdTokenMutation {
    /// [`IdTokenMutation::SetClaim`].
    #[must_use]
    pub fn set(name: &str, value: Value) -> Self {
        Self::SetClaim(name.to_owned(), value)
    }

    /// [`IdTokenMutation::RemoveClaim`].
    #[must_use]
    pub fn remove(name: &str) -> Self {
        Self::RemoveClaim(name.to_owned())
    }

    /// [`IdTokenMutation::AppendToClaim`].
    #[must_use]
    pub fn append(name: &str, suffix: &str) -> Self {
        Self::AppendToClaim(name.to_owned(), suffix.to_owned())
    }

    /// [`IdTokenMutation::ClaimFromNow`].
    #[must_use]
    pub fn from_now(name: &str, offset_secs: i64) -> Self {
        Self::ClaimFromNow(name.to_owned(), offset_secs)
    }

    /// [`IdTokenMutation::SetHeader`].
    #[must_use]
    pub fn header(name: &str, value: Value) -> Self {
        Self::SetHeader(name.to_owned(), value)
    }

    /// [`IdTokenMutation::RemoveHeader`].
    #[must_use]
    pub fn remove_header(name: &str) -> Self {
        Self::RemoveHeader(name.to_owned())
    }
}

/// How the authorize endpoint edits the redirect back to the SP (success and error alike).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackMutation {
    /// `state` replaced by a fresh random value (CSRF, or another login's callback).
    ForeignState,
    /// No `state`.
    NoState,
    /// RFC 9207 `iss` of another issuer (mix-up): `https://impostor.example`.
    ForeignIss,
    /// No `iss` (although the metadata announces RFC 9207 support).
    NoIss,
    /// `state` twice.
    DuplicateState,
    /// This many extra parameters after the genuine ones: distinct names without values
    /// (`&0&1&2...`). Ignored with [`CallbackMutation::FormPost`].
    ExtraParams(usize),
    /// `response_mode=form_post` style: a 200 HTML page whose form POSTs the parameters to the
    /// redirect URI, instead of a 302 (read it with [`parse_form_post`](super::parse_form_post)).
    FormPost,
}

/// How the JWKS endpoint edits the operator's key set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksMutation {
    /// The signing key plus `extra` other keys of the same family (listed first), none with a
    /// `kid`. `extra` is at most the pool size minus 2, so that [`IdTokenMutation::ForeignKey`]
    /// stays outside the set.
    WithoutKids {
        /// How many other keys.
        extra: usize,
    },
    /// The genuine keys followed by this many other public keys of the family under fresh kids
    /// (`padding-<n>`): a JWKS of real-sized keys, as large as wanted.
    Padded(usize),
}

/// The one client authentication method the token endpoint accepts under
/// [`Fault::RequireClientAuth`] (without the fault, HTTP Basic).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthRequirement {
    /// `client_secret_post`: `client_id` and `client_secret` in the form body, no Basic header.
    SecretPost,
    /// `private_key_jwt`: an RS256 or ES256 `client_assertion` verified with this public JWK of
    /// the SP (`iss` = `sub` = client_id, `aud` = the token endpoint, not expired).
    PrivateKeyJwt(Value),
}

/// A body served by [`Fault::Body`]: shared, and printed by length only (it may be megabytes).
#[derive(Clone, PartialEq, Eq)]
pub struct RawBody {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: String,
    bytes: Arc<[u8]>,
}

impl RawBody {
    /// Any status, content type and bytes.
    #[must_use]
    pub fn new(status: u16, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type: content_type.to_owned(),
            bytes: Arc::from(bytes.into()),
        }
    }

    /// A 200 `application/json` body.
    #[must_use]
    pub fn json(bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(200, "application/json", bytes)
    }

    /// The bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBody")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The foreign issuer the faults use.
pub const IMPOSTOR_ISSUER: &str = "https://impostor.example";

/// The `recipient` the `wrong-recipient` fault puts in a notified id_token: another SP's
/// notification URI.
pub const IMPOSTOR_RECIPIENT: &str = "https://impostor.example/notify";

impl Fault {
    /// The answer of a transport-level fault, which replaces the endpoint's own (with the
    /// delay an HTTP server waits before sending it); `None` for the faults the endpoint
    /// applies itself.
    pub(super) fn short_circuit(&self, base: &str) -> Option<(Response<Vec<u8>>, Duration)> {
        Some(match self {
            Self::ServerError => (server_error(), Duration::ZERO),
            Self::SlowServerError(delay) => (server_error(), *delay),
            Self::Oversized(size) => {
                let mut body = b"{\"padding\":\"".to_vec();
                body.resize(size.saturating_sub(2), b'x');
                body.extend_from_slice(b"\"}");
                (response(200, "application/json", body), Duration::ZERO)
            }
            Self::Redirect => (redirect(&format!("{base}/elsewhere")), Duration::ZERO),
            Self::MalformedJson => (
                response(
                    200,
                    "application/json",
                    b"{\"access_token\": \"abc\", oops".to_vec(),
                ),
                Duration::ZERO,
            ),
            Self::Body(body) => (
                response(body.status, &body.content_type, body.bytes().to_vec()),
                Duration::ZERO,
            ),
            _ => return None,
        })
    }
}
