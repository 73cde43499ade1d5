//! Typed errors, split by who is at fault: the host, the operator's deliberate refusal, the
//! operator (or an attacker) breaking the protocol, or a rejected id_token or callback.

use std::fmt;

use crate::endpoint::Endpoint;

/// Every error mc-core returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host used the API wrongly (missing endpoint, wrong operator for a flow, bad input).
    #[error("misuse: {0}")]
    Misuse(#[from] MisuseError),
    /// The operator (or discovery service) answered with an OAuth-style error.
    #[error("refused by the operator: {0}")]
    Refused(#[from] OperatorError),
    /// A response that breaks the protocol.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// The browser's return to the redirect URI was rejected.
    #[error("callback rejected: {0}")]
    Callback(#[from] CallbackError),
    /// An id_token (or signed userinfo) failed verification.
    #[error("id_token rejected: {0}")]
    IdToken(#[from] IdTokenError),
    /// A server-initiated (or OpenID CIBA) login was refused by one of its own rules: a
    /// notification that fails its checks, or a login past its expiry.
    #[error("server-initiated login: {0}")]
    Backchannel(#[from] BackchannelError),
    /// The SMS one-time-password grant was refused on one of its own paths: the code expired
    /// (with the fresh challenge the operator may have sent), or the challenge did.
    #[error("one-time password: {0}")]
    Otp(#[from] crate::otp::OtpError),
}

/// Who is at fault, for hosts that map errors to HTTP answers or alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// A bug in the host's use of the library.
    Misuse,
    /// The operator or the user said no (e.g. `access_denied`): an ordinary outcome.
    Refused,
    /// The operator, the browser or an attacker sent something a correct peer never sends.
    Misbehaving,
}

impl ErrorClass {
    /// A stable lower-case name (`misuse`, `refused`, `misbehaving`), for logs and tracing
    /// spans.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Misuse => "misuse",
            Self::Refused => "refused",
            Self::Misbehaving => "misbehaving",
        }
    }
}

impl Error {
    /// Who is at fault.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Misuse(_) => ErrorClass::Misuse,
            Self::Refused(_) => ErrorClass::Refused,
            Self::Protocol(_) | Self::Callback(_) | Self::IdToken(_) => ErrorClass::Misbehaving,
            Self::Backchannel(e) => e.class(),
            Self::Otp(e) => e.class(),
        }
    }

    /// The OAuth error the operator sent, if this is one.
    #[must_use]
    pub fn operator_error(&self) -> Option<&OperatorError> {
        match self {
            Self::Refused(e) | Self::Otp(crate::otp::OtpError::Expired { refusal: e, .. }) => {
                Some(e)
            }
            _ => None,
        }
    }
}

/// Misuse of the API by the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MisuseError {
    /// The operator context has no such endpoint (neither configured nor discovered).
    #[error("the operator has no {endpoint} endpoint")]
    MissingEndpoint {
        /// Which endpoint.
        endpoint: &'static str,
    },
    /// A URL given to the library is unusable.
    #[error("invalid URL for {what}: {reason}")]
    InvalidUrl {
        /// Which URL.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A plain `http://` URL for a host that is not a loopback address (127.0.0.0/8, `::1`),
    /// while the registry entry (or discovery service, or adapter) did not opt in with
    /// `allow_plain_http`: credentials, codes and keys would cross the network in clear.
    #[error("plain http:// URL for {what} at {host:?}, which is not a loopback address")]
    PlainHttp {
        /// Which URL.
        what: &'static str,
        /// Its host.
        host: String,
    },
    /// A parameter value is unusable.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A per-login state was resumed with another operator's context.
    #[error("flow belongs to operator {expected:?}, resumed with {found:?}")]
    OperatorMismatch {
        /// The operator the flow started with.
        expected: String,
        /// The operator context handed in.
        found: String,
    },
    /// A [`crate::Policy`] setting outside its bound, refused when the operator context is
    /// built (e.g. `leeway_secs` over [`crate::registry::MAX_LEEWAY_SECS`]).
    #[error("policy setting {setting} = {value} is over its bound of {limit}")]
    PolicyOutOfBounds {
        /// The setting.
        setting: &'static str,
        /// The value configured.
        value: u64,
        /// The largest value allowed.
        limit: u64,
    },
    /// An operator context that could not finish a login, refused when it is built (before
    /// any browser is sent away): no issuer, no authorization or token endpoint, or no source
    /// of keys for the asymmetric algorithms the policy allows; or, when a server-initiated
    /// login starts, a setting that kind of login needs (the SP's signing key, the
    /// notification URI).
    #[error("operator {operator:?} cannot finish a login: {missing}")]
    IncompleteOperator {
        /// The operator id.
        operator: String,
        /// What is missing.
        missing: MissingSetting,
    },
    /// A server-initiated login step that its delivery mode does not have: polling a login in
    /// Mobile Connect notification mode, which has no token request.
    #[error("a {mode} login has no {step} step")]
    WrongMode {
        /// The login's delivery mode.
        mode: crate::BackchannelMode,
        /// The step asked for.
        step: &'static str,
    },
    /// A poll before the time the pending login names ([`crate::BackchannelPending::next_poll_at`]):
    /// the operator would answer `slow_down`. Wait until then.
    #[error("poll at {now} is before the next poll time {next_poll_at}")]
    PollTooEarly {
        /// When the next poll may be made.
        next_poll_at: u64,
        /// The host's time.
        now: u64,
    },
    /// A refresh (or the revocation of a refresh token) asked of tokens that hold no refresh
    /// token: the operator issued none.
    #[error("the tokens hold no refresh token")]
    NoRefreshToken,
    /// A login whose scope asks for `mc_authz` without a text the handset must show:
    /// `client_name` (neither the login's nor the operator context's
    /// [`crate::OperatorConfig::client_name`]) or `context`. An empty value counts as missing;
    /// `binding_message` may be absent or empty.
    #[error("mc_authz needs {field}")]
    AuthzFieldMissing {
        /// `client_name` or `context`.
        field: &'static str,
    },
    /// A text shown on the handset (`client_name`, `context`, `binding_message`) longer than the
    /// operator's [`crate::MessageLimits`], counted in characters (Unicode scalar values). The
    /// library never cuts it: shorten it, or raise the operator's limit. The value itself is not
    /// carried (it may name the user or the transaction).
    #[error("{field} is {length} characters, over the operator's limit of {limit}")]
    TooLong {
        /// `client_name`, `context` or `binding_message`.
        field: &'static str,
        /// The operator's limit, in characters.
        limit: usize,
        /// The value's length, in characters.
        length: usize,
    },
}

/// What an operator context lacks to finish a login ([`MisuseError::IncompleteOperator`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MissingSetting {
    /// No issuer: configure it, or apply the metadata.
    #[error("no issuer: configure it or apply the metadata")]
    Issuer,
    /// No authorization endpoint.
    #[error("no authorization endpoint")]
    AuthorizationEndpoint,
    /// No token endpoint.
    #[error("no token endpoint")]
    TokenEndpoint,
    /// No JWKS URL and no keys, while the policy allows asymmetric algorithms.
    #[error("no JWKS URL and no keys, but the policy allows asymmetric algorithms")]
    KeySource,
    /// No SP signing key ([`crate::OperatorConfig::signing_key`]), while `private_key_jwt`
    /// is the client authentication or a server-initiated login must sign its request.
    #[error("no SP signing key, but private_key_jwt or a signed request object needs one")]
    SigningKey,
    /// No notification URI ([`crate::OperatorConfig::notification_uri`]) for a Mobile Connect
    /// server-initiated login in notification mode.
    #[error("no notification URI for a server-initiated login in notification mode")]
    NotificationUri,
}

/// An OAuth-style error sent by the operator or the discovery service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorError {
    /// The endpoint that answered.
    pub endpoint: Endpoint,
    /// The HTTP status, when the error came in an HTTP response (not a browser redirect).
    pub status: Option<u16>,
    /// The `error` code, e.g. `access_denied`, `invalid_grant`, `Not_Found_Entity`.
    pub error: String,
    /// `error_description` (or MC's `description`), if any.
    pub description: Option<String>,
    /// `error_uri`, if any.
    pub uri: Option<String>,
    /// The operator's `correlation_id`, if any.
    pub correlation_id: Option<String>,
}

impl OperatorError {
    /// Whether the error code is `code`.
    #[must_use]
    pub fn is(&self, code: &str) -> bool {
        self.error == code
    }
}

impl fmt::Display for OperatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered {}", self.endpoint, self.error)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OperatorError {}

/// A response that breaks the protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A status this step does not accept, with no OAuth error in the body.
    #[error("{endpoint} answered HTTP {status}")]
    UnexpectedStatus {
        /// Endpoint.
        endpoint: Endpoint,
        /// Status code.
        status: u16,
    },
    /// A body over the size bound.
    #[error("{endpoint} body of {size} bytes exceeds the {limit}-byte bound")]
    BodyTooLarge {
        /// Endpoint.
        endpoint: Endpoint,
        /// The bound.
        limit: usize,
        /// The body size.
        size: usize,
    },
    /// A body that is not the JSON this step expects (the reason names no values).
    #[error("{endpoint} sent malformed JSON: {reason}")]
    MalformedJson {
        /// Endpoint.
        endpoint: Endpoint,
        /// serde's category, line and column (never the offending value).
        reason: String,
    },
    /// A required member is missing.
    #[error("{endpoint} response lacks {field}")]
    MissingField {
        /// Endpoint.
        endpoint: Endpoint,
        /// Member name.
        field: &'static str,
    },
    /// A member has an unusable value.
    #[error("{endpoint} response has an invalid {field}: {reason}")]
    InvalidField {
        /// Endpoint.
        endpoint: Endpoint,
        /// Member name.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The provider metadata names another issuer than the one configured or discovered.
    #[error("provider metadata issuer {found:?} differs from the expected {expected:?}")]
    MetadataIssuerMismatch {
        /// Expected issuer.
        expected: String,
        /// Issuer in the metadata.
        found: String,
    },
    /// The operator sent a plain `http://` URL for a host that is not a loopback address, and
    /// nothing opted in to plain HTTP (`allow_plain_http`).
    #[error("{endpoint} sent a plain http:// {field} at {host:?}, which is not a loopback address")]
    PlainHttp {
        /// Endpoint whose answer named the URL.
        endpoint: Endpoint,
        /// Which member, link or header.
        field: &'static str,
        /// The URL's host.
        host: String,
    },
    /// A discovery answer's `openid-configuration` link is not its issuer's
    /// `{issuer}/.well-known/openid-configuration` (OIDC Discovery 4.3): metadata from another
    /// origin could claim the issuer and name its own keys.
    #[error("openid-configuration link {found:?} is not the issuer's {expected:?}")]
    MetadataOrigin {
        /// The issuer's metadata URL.
        expected: String,
        /// The link in the answer.
        found: String,
    },
    /// The JWKS holds more keys than the bound.
    #[error("JWKS has {found} keys, over the bound of {limit}")]
    TooManyKeys {
        /// The bound.
        limit: usize,
        /// Keys received.
        found: usize,
    },
    /// The userinfo or premiuminfo `sub` is not the id_token's `sub`.
    #[error("{endpoint} sub differs from the id_token sub")]
    SubjectMismatch {
        /// Endpoint.
        endpoint: Endpoint,
    },
    /// A plain JSON userinfo or premium info answer from an operator whose policy requires it
    /// signed ([`crate::Policy::require_signed_userinfo`]).
    #[error("{endpoint} answered plain JSON, but the policy requires a signed JWT")]
    UserInfoNotSigned {
        /// Endpoint.
        endpoint: Endpoint,
    },
    /// The token response's `token_type` is not Bearer.
    #[error("token_type {found:?} is not Bearer")]
    TokenTypeNotBearer {
        /// The token type received.
        found: String,
    },
}

/// The browser's return to the redirect URI was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// No `state` parameter.
    #[error("state is missing")]
    StateMissing,
    /// `state` is not the one this login sent (CSRF, or another login's callback).
    #[error("state does not match this login")]
    StateMismatch,
    /// A parameter appears more than once (RFC 6749 section 3.1).
    #[error("parameter {name} appears more than once")]
    DuplicateParameter {
        /// The parameter.
        name: String,
    },
    /// The query string is over the size or parameter-count bound.
    #[error("callback query over the bound of {limit}")]
    TooLarge {
        /// The bound (bytes or parameters).
        limit: usize,
    },
    /// RFC 9207 `iss` differs from the operator's issuer (mix-up attack).
    #[error("iss {found:?} differs from the expected {expected:?}")]
    IssuerMismatch {
        /// The operator's issuer.
        expected: String,
        /// The `iss` received.
        found: String,
    },
    /// The operator announces RFC 9207 support but sent no `iss`.
    #[error("iss is missing although the operator announces RFC 9207 support")]
    IssuerMissing,
    /// The login started longer ago than the policy's login timeout.
    #[error("login started at {issued_at} has expired at {now}")]
    LoginExpired {
        /// When the login started.
        issued_at: u64,
        /// The host's time.
        now: u64,
    },
    /// Neither `code` nor `error`.
    #[error("neither code nor error in the callback")]
    CodeMissing,
    /// A return from the operator selection page without the selection leg's `state`, from a
    /// discovery service that echoes it (`DiscoveryService::require_selection_state`).
    #[error("state is missing from the operator selection return")]
    SelectionStateMissing,
    /// The selection return's `state` is not the one of the selection leg the browser holds
    /// (an unsolicited or forged return).
    #[error("state does not match this operator selection")]
    SelectionStateMismatch,
    /// The operator selection started longer ago than its lifetime.
    #[error("operator selection started at {issued_at} expired at {expires_at}; now {now}")]
    SelectionExpired {
        /// When the selection leg started.
        issued_at: u64,
        /// When it expired.
        expires_at: u64,
        /// The host's time.
        now: u64,
    },
}

/// A server-initiated (Mobile Connect SI or OpenID CIBA) login refused by one of its own
/// rules. [`crate::server_initiated::notification_response`] maps each to the HTTP answer
/// the SP gives a notification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelError {
    /// The notification has no `Authorization: Bearer` token (answered 401).
    #[error("the notification has no bearer token")]
    BearerMissing,
    /// The notification's bearer token is not this login's `client_notification_token`
    /// (answered 401).
    #[error("the notification's bearer token is not this login's")]
    BearerMismatch,
    /// The notification names another `auth_req_id` than the pending login it was handed to.
    #[error("the notification names another auth_req_id")]
    AuthReqIdMismatch,
    /// No pending login has the notification's `auth_req_id`: for the host to answer a
    /// notification it finds no state for (answered 400).
    #[error("no pending login has this auth_req_id")]
    UnknownAuthReqId,
    /// The notification was not a POST.
    #[error("the notification came as {method}, not POST")]
    NotificationNotPost {
        /// The request method.
        method: String,
    },
    /// A notification for a login whose delivery mode has none (a polling login).
    #[error("a {mode} login takes no notification")]
    NotificationNotExpected {
        /// The login's delivery mode.
        mode: crate::BackchannelMode,
    },
    /// The login is past the expiry the operator gave (`expires_in`): a notification that
    /// arrives later is refused, and no poll is sent any more.
    #[error("the login expired at {expires_at}; now {now}")]
    Expired {
        /// When the login expired.
        expires_at: u64,
        /// The host's time.
        now: u64,
    },
}

impl BackchannelError {
    /// Who is at fault: an expired login is an ordinary outcome (the user did not answer in
    /// time), the others a peer that breaks the protocol (or someone forging notifications).
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Expired { .. } => ErrorClass::Refused,
            _ => ErrorClass::Misbehaving,
        }
    }
}

/// Which part of a JWT is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtPart {
    /// The three-part structure itself.
    Structure,
    /// The JOSE header.
    Header,
    /// The claims.
    Claims,
    /// The signature.
    Signature,
}

impl fmt::Display for JwtPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Structure => "structure",
            Self::Header => "header",
            Self::Claims => "claims",
            Self::Signature => "signature",
        })
    }
}

/// An id_token (or signed userinfo) failed one rule of OpenID Connect Core 3.1.3.7 / MC.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// The token response carried no id_token.
    #[error("the token response has no id_token")]
    Missing,
    /// The JWT is longer than the bound.
    #[error("JWT of {len} bytes exceeds the {limit}-byte bound")]
    TooLong {
        /// The bound.
        limit: usize,
        /// The length.
        len: usize,
    },
    /// A part of the JWT cannot be decoded.
    #[error("malformed {part}: {reason}")]
    Malformed {
        /// The part.
        part: JwtPart,
        /// Why (never the value).
        reason: String,
    },
    /// The header or the claims have more members than the bound
    /// ([`crate::wire::MAX_HEADER_MEMBERS`], [`crate::wire::MAX_CLAIMS`]).
    #[error("{part} has more than {limit} members")]
    TooManyMembers {
        /// The part ([`JwtPart::Header`] or [`JwtPart::Claims`]).
        part: JwtPart,
        /// The bound.
        limit: usize,
    },
    /// The header's `typ` says the JWT is for another purpose (RFC 8725 3.11): e.g. a signed
    /// userinfo answer whose `typ` is neither `JWT` nor `userinfo+jwt`.
    #[error("typ {found:?} is not one of: {expected}")]
    UnexpectedType {
        /// The values accepted here.
        expected: &'static str,
        /// The `typ` received.
        found: String,
    },
    /// A signed userinfo answer carries a claim only an id_token has (`nonce`, `at_hash`,
    /// `c_hash`): an id_token served as userinfo.
    #[error("signed userinfo carries {claim}, an id_token claim: an id_token served as userinfo")]
    IdTokenAsUserInfo {
        /// The id_token claim found.
        claim: &'static str,
    },
    /// The `alg` is not allowed (`none`, unknown, HMAC without a client secret, or outside the
    /// operator's allow-list).
    #[error("algorithm {alg:?} is not allowed")]
    AlgorithmNotAllowed {
        /// The `alg` header value.
        alg: String,
    },
    /// The header has a `crit` member (no extension is understood, RFC 7515 4.1.11).
    #[error("critical header extensions {names:?} are not understood")]
    CriticalHeader {
        /// The names in `crit`.
        names: Vec<String>,
    },
    /// No key in the operator's JWKS has this `kid`, even after a refetch.
    #[error("no key with kid {kid:?} in the operator's JWKS")]
    UnknownKeyId {
        /// The `kid`.
        kid: String,
    },
    /// No key of a type usable for this `alg`.
    #[error("no key usable for {alg} in the operator's JWKS")]
    NoUsableKey {
        /// The `alg`.
        alg: String,
    },
    /// The key exists but cannot verify (e.g. RSA under 2048 bits, wrong curve).
    #[error("key rejected by the crypto backend for {alg}")]
    KeyRejected {
        /// The `alg`.
        alg: String,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A required claim is missing.
    #[error("claim {claim} is missing")]
    MissingClaim {
        /// The claim.
        claim: &'static str,
    },
    /// A registered claim is present but not of its type or range (`"nbf": "tomorrow"`,
    /// `"sub": 42`, `"azp": null`, `"exp": 1.9e19`): refused, never read as absent.
    #[error("claim {claim} is unreadable: {reason}")]
    InvalidClaim {
        /// The claim.
        claim: &'static str,
        /// Why (never the value): `not a number`, `out of range`, `not a string`, ...
        reason: &'static str,
    },
    /// `iss` is not exactly the operator's issuer.
    #[error("iss {found:?} differs from the expected {expected:?}")]
    IssuerMismatch {
        /// The operator's issuer.
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// `aud` does not contain our client_id.
    #[error("aud {found:?} does not contain client_id {client_id:?}")]
    AudienceMismatch {
        /// Our client_id.
        client_id: String,
        /// The token's audiences.
        found: Vec<String>,
    },
    /// Several audiences and no `azp` (OIDC Core 3.1.3.7 rule 4, strict reading).
    #[error("several audiences and no azp")]
    AuthorizedPartyMissing,
    /// `azp` present and not our client_id.
    #[error("azp {found:?} is not client_id {client_id:?}")]
    AuthorizedPartyMismatch {
        /// Our client_id.
        client_id: String,
        /// The token's `azp`.
        found: String,
    },
    /// `exp` is past (beyond the leeway).
    #[error(
        "expired: exp {exp} ({}) is not after the current time {now} ({}) minus the leeway of {leeway}s",
        utc(.exp),
        utc(.now)
    )]
    Expired {
        /// `exp`.
        exp: u64,
        /// The host's time.
        now: u64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error(
        "not yet valid: nbf {nbf} ({}) is after the current time {now} ({}) plus the leeway of {leeway}s",
        utc(.nbf),
        utc(.now)
    )]
    NotYetValid {
        /// `nbf`.
        nbf: u64,
        /// The host's time.
        now: u64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error(
        "issued in the future: iat {iat} ({}) is after the current time {now} ({}) plus the leeway of {leeway}s",
        utc(.iat),
        utc(.now)
    )]
    IssuedInFuture {
        /// `iat`.
        iat: u64,
        /// The host's time.
        now: u64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `iat` is older than the policy's maximum token age.
    #[error("issued at {iat}, older than {max_age}s at {now}")]
    IssuedTooLongAgo {
        /// `iat`.
        iat: u64,
        /// The host's time.
        now: u64,
        /// The policy's maximum age.
        max_age: u64,
    },
    /// `auth_time` is in the future (beyond the leeway): it would pass any `max_age`.
    #[error(
        "auth_time {auth_time} ({}) is after the current time {now} ({}) plus the leeway of {leeway}s",
        utc(.auth_time),
        utc(.now)
    )]
    AuthTimeInFuture {
        /// `auth_time`.
        auth_time: u64,
        /// The host's time.
        now: u64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `auth_time` is after the token was issued (beyond the leeway).
    #[error(
        "auth_time {auth_time} ({}) is after iat {iat} ({}) plus the leeway of {leeway}s",
        utc(.auth_time),
        utc(.iat)
    )]
    AuthTimeAfterIssue {
        /// `auth_time`.
        auth_time: u64,
        /// `iat`.
        iat: u64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `auth_time` is missing although `max_age` was requested.
    #[error("auth_time missing although max_age was requested")]
    AuthTimeMissing,
    /// The user authenticated longer ago than `max_age` allows.
    #[error("auth_time {auth_time} is older than max_age {max_age}s at {now}")]
    AuthTooOld {
        /// `auth_time`.
        auth_time: u64,
        /// The requested `max_age`.
        max_age: u64,
        /// The host's time.
        now: u64,
    },
    /// No `nonce` although one was sent.
    #[error("nonce is missing")]
    NonceMissing,
    /// `nonce` is not this login's (replay, or another login's token).
    #[error("nonce does not match this login")]
    NonceMismatch,
    /// `at_hash` is required (profile or policy) and missing.
    #[error("at_hash is missing")]
    AtHashMissing,
    /// `at_hash` does not match the access token.
    #[error("at_hash does not match the access token")]
    AtHashMismatch,
    /// `acr` is required and missing.
    #[error("acr is missing")]
    AcrMissing,
    /// `acr` names no level of assurance: it must be exactly `"1"`, `"2"`, `"3"` or `"4"` (an
    /// integer on the wire reads as its digits); `"+3"`, `"003"` or `" 3"` are not levels.
    #[error("acr {found:?} is not a level of assurance (\"1\" to \"4\")")]
    AcrUnknown {
        /// The token's `acr`.
        found: String,
    },
    /// `acr` is below the requested level of assurance.
    #[error("acr {found:?} is below the requested {requested}")]
    AcrTooLow {
        /// The lowest LoA the login asked for.
        requested: u8,
        /// The token's `acr`.
        found: String,
    },
    /// `amr` is required by the profile and missing.
    #[error("amr is missing")]
    AmrMissing,
    /// A server-initiated id_token's `recipient` is not the notification URI this login
    /// registered (a token minted for another SP's notification).
    #[error("recipient {found:?} is not the notification URI {expected:?}")]
    RecipientMismatch {
        /// The login's notification URI.
        expected: String,
        /// The token's `recipient`.
        found: String,
    },
    /// `hashed_login_hint` is not the hash of the login hint this login sent (a token for
    /// another subscriber).
    #[error("hashed_login_hint does not match the login hint sent")]
    HashedLoginHintMismatch,
    /// A refreshed id_token names another subject than the login's first id_token (OIDC Core
    /// 12.2). Neither value is printed: a subject identifies a person.
    #[error("the refreshed id_token names another sub than the original")]
    SubjectChanged,
    /// The id_token of a one-time-password grant names another subject than the number the
    /// code was sent to. Neither value is printed: both identify a person.
    #[error("the id_token's sub is not the number the one-time code was sent to")]
    SubjectNotTheNumber,
    /// A refreshed id_token's `auth_time` differs from the original's (OIDC Core 12.2: a
    /// refresh is no new authentication).
    #[error("the refreshed id_token's auth_time {found} differs from the original {original}")]
    AuthTimeChanged {
        /// The original id_token's `auth_time`.
        original: u64,
        /// The refreshed id_token's `auth_time`.
        found: u64,
    },
}

/// Epoch seconds as a UTC date and time (`2026-09-21T14:13:20Z`), for error messages.
fn utc(secs: &u64) -> Utc {
    Utc(*secs)
}

struct Utc(u64);

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Days to civil date (H. Hinnant's algorithm), in i64 so that every u64 value fits.
        let days = i64::try_from(self.0 / 86_400).unwrap_or(i64::MAX / 2);
        let secs = self.0 % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}
