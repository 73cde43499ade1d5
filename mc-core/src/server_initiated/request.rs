//! What a server-initiated login asks of the operator ([`SiRequest`], [`CibaRequest`]), and the
//! signed request object of Mobile Connect SI.

use std::fmt;

use serde::Serialize;

use crate::authorize::{LoginHint, login_option_setters};
use crate::error::Error;
use crate::exchange::UnixTime;
use crate::secret::{Msisdn, Redacted};
use crate::signing_key::SpSigningKey;

/// How long a request object is valid, in seconds.
pub(crate) const REQUEST_OBJECT_LIFETIME_SECS: u64 = 300;

/// The Mobile Connect SI version sent when neither the request nor the operator's metadata
/// names one (the version most gateways run).
pub(crate) const DEFAULT_SI_VERSION: &str = "mc_si_r2_v1.0";

/// The `typ` of the request object's JOSE header: `JWT`, as the GSMA request-signing example
/// sends it and Mobile Connect gateways verify it (RFC 9101's `oauth-authz-req+jwt` is not what
/// they were built against).
pub(crate) const REQUEST_OBJECT_TYPE: &str = "JWT";

/// What one Mobile Connect server-initiated login asks of the operator: whom to authenticate
/// (`login_hint`, required), and the same options as a browser login (scope, levels of
/// assurance, `mc_authz` text). Defaults: notification mode, the scope and level of assurance
/// of the operator's [`crate::Profile`] (`openid mc_authn` at LoA 2 for Mobile Connect), and
/// the first `mc_si_*` version of the operator's metadata, else `mc_si_r2_v1.0`.
///
/// With `mc_authz` in the scope, `context` and `client_name` (this request's, else the
/// operator context's) are required and `binding_message` may be absent or empty; each text is
/// held to the operator's [`crate::MessageLimits`] in characters
/// ([`crate::MisuseError::AuthzFieldMissing`], [`crate::MisuseError::TooLong`]).
///
/// Its `Debug` prints no personal data: the login hint as its redacting type, the `claims`
/// request and the expected hash as `[redacted]`.
///
/// ```
/// use mc_core::{LoginHint, Msisdn, SiRequest};
/// let request = SiRequest::new(LoginHint::Msisdn(Msisdn::new("447700900301")))
///     .scope(["mc_authz"])
///     .acr_values([3])
///     .context("Pay 10 EUR to Example Shop")
///     .binding_message("4G7K")
///     .client_name("Example Shop")
///     .polling();
/// assert!(!format!("{request:?}").contains("447700900301"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct SiRequest {
    pub(crate) login_hint: LoginHint,
    pub(crate) polling: bool,
    pub(crate) scope: Option<Vec<String>>,
    pub(crate) acr_values: Option<Vec<u8>>,
    pub(crate) context: Option<String>,
    pub(crate) binding_message: Option<String>,
    pub(crate) client_name: Option<String>,
    pub(crate) claims: Option<serde_json::Value>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) hashed_login_hint: Option<String>,
}

impl fmt::Debug for SiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            login_hint,
            polling,
            scope,
            acr_values,
            context,
            binding_message,
            client_name,
            claims,
            correlation_id,
            version,
            hashed_login_hint,
        } = self;
        f.debug_struct("SiRequest")
            .field("login_hint", login_hint)
            .field("polling", polling)
            .field("scope", scope)
            .field("acr_values", acr_values)
            .field("context", context)
            .field("binding_message", binding_message)
            .field("client_name", client_name)
            .field("claims", &claims.as_ref().map(|_| Redacted))
            .field("correlation_id", correlation_id)
            .field("version", version)
            .field(
                "hashed_login_hint",
                &hashed_login_hint.as_ref().map(|_| Redacted),
            )
            .finish()
    }
}

impl SiRequest {
    /// A login of the subscriber named by `login_hint` (`MSISDN:`, `ENCR_MSISDN:` or `PCR:`),
    /// in notification mode.
    pub fn new(login_hint: LoginHint) -> Self {
        Self {
            login_hint,
            polling: false,
            scope: None,
            acr_values: None,
            context: None,
            binding_message: None,
            client_name: None,
            claims: None,
            correlation_id: None,
            version: None,
            hashed_login_hint: None,
        }
    }

    /// Polling mode (`response_type=mc_si_polling`) instead of notification mode.
    pub fn polling(mut self) -> Self {
        self.polling = true;
        self
    }

    login_option_setters!(
        scope,
        acr_values,
        context,
        binding_message,
        client_name,
        claims,
        correlation_id,
        version,
    );

    /// The `hashed_login_hint` the id_token must carry when it has that claim, for an operator
    /// that hashes the hint its own way (compared without regard to case).
    ///
    /// By default it is the lower-case hex SHA-256 of the login hint sent, for an `MSISDN:` hint
    /// (`"MSISDN:447700900301"`, the rule seen at operators); for `ENCR_MSISDN:` and `PCR:`
    /// hints, whose hashed form the SP cannot know, the claim is not checked unless set here.
    pub fn hashed_login_hint(mut self, expected: impl Into<String>) -> Self {
        self.hashed_login_hint = Some(expected.into().to_ascii_lowercase());
        self
    }
}

/// Whom an OpenID CIBA login authenticates (`login_hint`).
#[derive(Clone)]
#[non_exhaustive]
pub enum CibaLoginHint {
    /// A phone number, sent as `tel:+<digits>` (the CAMARA form).
    Phone(Msisdn),
    /// Any other hint, sent as given (`ipport:...`, `operatortoken:...`, a bare number, an
    /// operator-specific form).
    Plain(String),
}

impl CibaLoginHint {
    pub(crate) fn value(&self) -> String {
        match self {
            Self::Phone(msisdn) => {
                format!("tel:+{}", msisdn.expose_secret().trim_start_matches('+'))
            }
            Self::Plain(hint) => hint.clone(),
        }
    }
}

impl fmt::Debug for CibaLoginHint {
    // Both forms name a person.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Phone(_) => "Phone([redacted])",
            Self::Plain(_) => "Plain([redacted])",
        })
    }
}

/// What one OpenID CIBA login asks of the operator (CIBA Core 7.1): whom to authenticate, and
/// optionally the scope (default `openid`; `offline_access` asks for a refresh token), the
/// levels of assurance (asked for and then checked only when given here, whatever the
/// operator's profile: CIBA and CAMARA deployments ignore `acr_values`), a `binding_message`
/// and a `requested_expiry`. Poll mode by default.
///
/// ```
/// use mc_core::{CibaLoginHint, CibaRequest, Msisdn};
/// let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new("+34666666666")))
///     .scope(["offline_access"])
///     .binding_message("4G7K")
///     .requested_expiry(120)
///     .ping();
/// assert!(!format!("{request:?}").contains("666666"));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct CibaRequest {
    pub(crate) login_hint: CibaLoginHint,
    pub(crate) ping: bool,
    pub(crate) scope: Option<Vec<String>>,
    pub(crate) acr_values: Option<Vec<u8>>,
    pub(crate) binding_message: Option<String>,
    pub(crate) requested_expiry: Option<u64>,
}

impl CibaRequest {
    /// A login of the user named by `login_hint`, in poll mode.
    pub fn new(login_hint: CibaLoginHint) -> Self {
        Self {
            login_hint,
            ping: false,
            scope: None,
            acr_values: None,
            binding_message: None,
            requested_expiry: None,
        }
    }

    /// Ping mode: the operator notifies the client notification endpoint registered with it
    /// (carrying the `client_notification_token` mc-core generates), then the SP polls once.
    pub fn ping(mut self) -> Self {
        self.ping = true;
        self
    }

    login_option_setters!(scope, acr_values, binding_message);

    /// `requested_expiry`: how long the SP is willing to wait, in seconds (positive).
    pub fn requested_expiry(mut self, secs: u64) -> Self {
        self.requested_expiry = Some(secs);
        self
    }
}

/// The claims of a Mobile Connect SI request object, in a fixed order (MOBILE-CONNECT.md §8):
/// claim names are case-sensitive, and the inner `client_id`, `scope` and `response_type`
/// equal the outer parameters.
#[derive(Serialize)]
pub(crate) struct RequestObject<'a> {
    pub(crate) iss: &'a str,
    pub(crate) aud: &'a str,
    pub(crate) response_type: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) version: &'a str,
    pub(crate) nonce: &'a str,
    pub(crate) login_hint: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) acr_values: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) notification_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_notification_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) binding_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) claims: Option<&'a serde_json::Value>,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) jti: &'a str,
}

impl RequestObject<'_> {
    /// The claims' validity window, from `now`.
    pub(crate) fn window(now: UnixTime) -> (u64, u64) {
        (
            now.as_secs(),
            now.as_secs().saturating_add(REQUEST_OBJECT_LIFETIME_SECS),
        )
    }

    /// The compact JWS (`alg`, `kid`, `typ: JWT`).
    pub(crate) fn sign(&self, key: &SpSigningKey) -> Result<String, Error> {
        key.sign(REQUEST_OBJECT_TYPE, self)
    }
}
