//! The operator context ([`Discovered`]): endpoints, credentials, issuer, metadata, profile and
//! keys of one operator. Every context is built the same way, through [`OperatorConfig`], whether
//! its facts come from a static registry entry, from the operator's metadata, or from a
//! discovery answer ([`OperatorConfig::from_discovery`]).

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use url::Url;

use crate::client_auth::{self, ClientAuth};
use crate::error::{Error, MissingSetting, MisuseError, ProtocolError};
use crate::exchange::UnixTime;
use crate::jwks::{Jwks, JwksExchange, KeySnapshot, KeyStore};
use crate::metadata::{MetadataExchange, ProviderMetadata};
use crate::otp::OtpSettings;
use crate::secret::ClientSecret;
use crate::server_initiated::{CIBA_GRANT_TYPE, SiTransport};
use crate::signing_key::SpSigningKey;
use crate::wire::{self, BasicAuthEncoding};

/// How strictly tokens from this operator are judged, and a few per-operator protocol choices.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Clock leeway for `exp`, `nbf`, `iat` and `auth_time`, in seconds (default 30; at most
    /// [`MAX_LEEWAY_SECS`], enforced by [`OperatorConfig::build`]).
    pub leeway_secs: u64,
    /// Signature algorithms accepted (default RS256/384/512, PS256/384/512, ES256/384).
    /// `none` is never accepted; HS256/384/512 only when listed here, and then keyed by the
    /// client secret only.
    pub allowed_algorithms: Vec<Algorithm>,
    /// Reject id_tokens whose `iat` is older than this many seconds (default: no bound).
    pub max_token_age_secs: Option<u64>,
    /// Reject callbacks for logins started longer ago than this (default 600 s).
    pub login_timeout_secs: u64,
    /// The spacing of JWKS refetches, in seconds (default 60): a token naming an unknown `kid`
    /// less than this long after the current key set was stored (by a refetch or
    /// [`Discovered::set_jwks`]) is refused with [`crate::IdTokenError::UnknownKeyId`] (or
    /// `NoUsableKey`) without a request, so that a fresh unknown `kid` in every login costs at
    /// most one fetch per interval, never one per login. A context that has stored no key set
    /// yet (none, or only keys given to [`OperatorConfig::keys`]) may always fetch, and a
    /// verification never refetches twice. 0 allows a refetch for every verification that meets
    /// an unknown `kid`: for test operators that rotate keys between logins seconds apart.
    pub jwks_min_refetch_secs: u64,
    /// How client credentials go into HTTP Basic.
    pub basic_auth: BasicAuthEncoding,
    /// Require RFC 9207 `iss` in callbacks even when the metadata does not announce it.
    pub require_callback_iss: bool,
    /// Refuse userinfo and premium info answers that are not signed JWTs
    /// ([`crate::ProtocolError::UserInfoNotSigned`]), for an operator registered with
    /// `userinfo_signed_response_alg` (default off: plain JSON over TLS is accepted).
    pub require_signed_userinfo: bool,
}

/// The largest [`Policy::leeway_secs`] accepted (5 minutes): a wider window would let expired
/// tokens and stale logins through, and hides a host clock that needs fixing.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// How long the texts shown on the handset may be at one operator, in characters (Unicode
/// scalar values, so `"Café"` is 4 whatever its UTF-8 length): `client_name`, `context` and
/// `binding_message`, in browser and server-initiated logins (and `binding_message` in OpenID
/// CIBA). A longer value is refused with [`MisuseError::TooLong`] before anything is sent; it is
/// never cut.
///
/// MOBILE-CONNECT.md names no limits, so the defaults are this library's choice, small enough
/// for a handset screen or an SMS: `client_name` 32, `context` 64, `binding_message` 64
/// characters ([`MessageLimits::DEFAULT`]). Set an operator's own with
/// [`OperatorConfig::message_limits`].
///
/// ```
/// use mc_core::MessageLimits;
/// let limits = MessageLimits { context: 100, ..MessageLimits::default() };
/// assert_eq!(limits.client_name, 32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageLimits {
    /// The longest `client_name`, in characters.
    pub client_name: usize,
    /// The longest `context`, in characters.
    pub context: usize,
    /// The longest `binding_message`, in characters.
    pub binding_message: usize,
}

impl MessageLimits {
    /// The defaults: `client_name` 32, `context` 64, `binding_message` 64 characters.
    pub const DEFAULT: Self = Self {
        client_name: 32,
        context: 64,
        binding_message: 64,
    };

    /// `Ok` when every value given is within its limit; else [`MisuseError::TooLong`] for the
    /// first one over (checked in the order `client_name`, `context`, `binding_message`).
    pub(crate) fn check(
        &self,
        client_name: Option<&str>,
        context: Option<&str>,
        binding_message: Option<&str>,
    ) -> Result<(), MisuseError> {
        let fields = [
            ("client_name", client_name, self.client_name),
            ("context", context, self.context),
            ("binding_message", binding_message, self.binding_message),
        ];
        for (field, value, limit) in fields {
            let length = value.map_or(0, |v| v.chars().count());
            if length > limit {
                return Err(MisuseError::TooLong {
                    field,
                    limit,
                    length,
                });
            }
        }
        Ok(())
    }
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            leeway_secs: 30,
            allowed_algorithms: vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
                Algorithm::ES256,
                Algorithm::ES384,
            ],
            max_token_age_secs: None,
            login_timeout_secs: 600,
            jwks_min_refetch_secs: 60,
            basic_auth: BasicAuthEncoding::default(),
            require_callback_iss: false,
            require_signed_userinfo: false,
        }
    }
}

impl Policy {
    /// The bounds of the settings: refused when the operator context is built.
    fn check_bounds(&self) -> Result<(), MisuseError> {
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return Err(MisuseError::PolicyOutOfBounds {
                setting: "leeway_secs",
                value: self.leeway_secs,
                limit: MAX_LEEWAY_SECS,
            });
        }
        Ok(())
    }

    /// Whether an algorithm other than HMAC is allowed, so that the operator's keys are needed.
    fn needs_operator_keys(&self) -> bool {
        self.allowed_algorithms
            .iter()
            .any(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
    }
}

/// Which rules of the login an operator follows; chosen per operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// GSMA Mobile Connect: `acr_values` always sent (LoA 2 by default) and the id_token's `acr`
    /// checked against it, the Mobile Connect `version` sent, and for the identity (DI)
    /// versions `at_hash` and `amr` required.
    MobileConnect,
    /// Plain OpenID Connect: `acr_values` and `acr` only when the login asks for a level, no
    /// `version` unless the login sets one, `at_hash` checked when present.
    OpenIdConnect,
}

impl Profile {
    /// The default for an operator: what its metadata says (`mobile_connect_version_supported`
    /// or `mc_version` present: Mobile Connect; otherwise plain OpenID Connect), and Mobile
    /// Connect when no metadata was applied (a registry entry or a discovery answer of a Mobile
    /// Connect operator).
    #[must_use]
    pub fn from_metadata(metadata: Option<&ProviderMetadata>) -> Self {
        match metadata {
            Some(m) if m.mobile_connect_version_supported.is_empty() && m.mc_version.is_empty() => {
                Self::OpenIdConnect
            }
            _ => Self::MobileConnect,
        }
    }
}

/// What the operator handed the SP when it registered: named fields, so that two strings cannot
/// swap places unnoticed.
#[derive(Clone, Debug)]
pub struct Registration {
    /// The SP's own key for this operator (registry key, `mcc_mnc`, ...); per-login state refers
    /// to the context by it.
    pub operator_id: String,
    /// Our client_id at the operator.
    pub client_id: String,
    /// Our client secret at the operator.
    pub client_secret: ClientSecret,
    /// The redirect URI registered with the operator.
    pub redirect_uri: String,
}

/// The operator's endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// Authorization endpoint (browser redirect).
    pub authorization: Url,
    /// Token endpoint.
    pub token: Url,
    /// UserInfo endpoint.
    pub userinfo: Option<Url>,
    /// Premium info endpoint.
    pub premiuminfo: Option<Url>,
    /// JWKS: from the metadata's `jwks_uri` alone when the metadata was applied.
    pub jwks: Option<Url>,
    /// Token revocation.
    pub revocation: Option<Url>,
    /// Token refresh (defaults to the token endpoint).
    pub refresh: Option<Url>,
    /// Mobile Connect server-initiated authorization (`si_authorization_endpoint`).
    pub si_authorization: Option<Url>,
    /// OpenID CIBA backchannel authentication (`backchannel_authentication_endpoint`).
    pub backchannel_authentication: Option<Url>,
}

/// The one way to build an operator context ([`Discovered`]): what the operator handed the SP,
/// its endpoints (given one by one, or all at once from its metadata), and the per-operator
/// choices (profile, policy, client authentication). [`OperatorConfig::build`] refuses a
/// context that could not finish a login, before any browser is sent away.
///
/// Every endpoint is `https`, or plain `http` on a loopback address (127.0.0.0/8, `::1`, where
/// a sandbox runs), unless the entry opts in with [`OperatorConfig::allow_plain_http`]. The
/// provider metadata is only fetched from `{issuer}/.well-known/openid-configuration`, and once
/// applied it alone says where the keys are.
///
/// ```
/// use mc_core::{ClientSecret, OperatorConfig, Registration};
///
/// let operator = OperatorConfig::new(Registration {
///     operator_id: "example-operator".to_owned(),
///     client_id: "my-client-id".to_owned(),
///     client_secret: ClientSecret::new("my-client-secret"),
///     redirect_uri: "https://sp.example/callback".to_owned(),
/// })?
/// .issuer("https://op.example")
/// .authorization("https://op.example/authorize")?
/// .token("https://op.example/token")?
/// .jwks("https://op.example/jwks")?
/// .build()?;
/// assert_eq!(operator.issuer(), "https://op.example");
/// # Ok::<(), mc_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct OperatorConfig {
    id: String,
    client_id: String,
    client_secret: ClientSecret,
    redirect_uri: Url,
    issuer: Option<String>,
    authorization: Option<Url>,
    token: Option<Url>,
    userinfo: Option<Url>,
    premiuminfo: Option<Url>,
    jwks: Option<Url>,
    allow_plain_http: bool,
    revocation: Option<Url>,
    refresh: Option<Url>,
    si_authorization: Option<Url>,
    backchannel_authentication: Option<Url>,
    notification_uri: Option<Url>,
    si_transport: SiTransport,
    polling_grant_type: String,
    client_name: Option<String>,
    message_limits: MessageLimits,
    otp: OtpSettings,
    version: Option<String>,
    policy: Policy,
    client_auth: ClientAuth,
    signing_key: Option<SpSigningKey>,
    sign_authorization_requests: bool,
    profile: Option<Profile>,
    metadata: Option<ProviderMetadata>,
    keys: Option<Jwks>,
}

impl OperatorConfig {
    /// A configuration with no endpoint yet.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`] for an unusable redirect URI.
    pub fn new(registration: Registration) -> Result<Self, Error> {
        Ok(Self {
            id: registration.operator_id,
            client_id: registration.client_id,
            client_secret: registration.client_secret,
            redirect_uri: wire::parse_url(&registration.redirect_uri, "redirect_uri")?,
            issuer: None,
            authorization: None,
            token: None,
            userinfo: None,
            premiuminfo: None,
            jwks: None,
            allow_plain_http: false,
            revocation: None,
            refresh: None,
            si_authorization: None,
            backchannel_authentication: None,
            notification_uri: None,
            si_transport: SiTransport::default(),
            polling_grant_type: CIBA_GRANT_TYPE.to_owned(),
            client_name: None,
            message_limits: MessageLimits::DEFAULT,
            otp: OtpSettings::default(),
            version: None,
            policy: Policy::default(),
            client_auth: ClientAuth::default(),
            signing_key: None,
            sign_authorization_requests: false,
            profile: None,
            metadata: None,
            keys: None,
        })
    }

    /// The operator id this configuration is for.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The issuer this operator writes into `iss` (compared exactly). Required, unless the
    /// metadata supplies it.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The authorization endpoint (the browser redirect). Required, unless the metadata
    /// supplies it.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn authorization(mut self, url: &str) -> Result<Self, Error> {
        self.authorization = Some(wire::parse_url(url, "authorization endpoint")?);
        Ok(self)
    }

    /// The token endpoint. Required, unless the metadata supplies it.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn token(mut self, url: &str) -> Result<Self, Error> {
        self.token = Some(wire::parse_url(url, "token endpoint")?);
        Ok(self)
    }

    /// The userinfo endpoint.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn userinfo(mut self, url: &str) -> Result<Self, Error> {
        self.userinfo = Some(wire::parse_url(url, "userinfo endpoint")?);
        Ok(self)
    }

    /// The premium info endpoint.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn premiuminfo(mut self, url: &str) -> Result<Self, Error> {
        self.premiuminfo = Some(wire::parse_url(url, "premiuminfo endpoint")?);
        Ok(self)
    }

    /// The JWKS URL.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn jwks(mut self, url: &str) -> Result<Self, Error> {
        self.jwks = Some(wire::parse_url(url, "jwks")?);
        Ok(self)
    }

    /// Keys known before the first login (e.g. handed over by the operator, or fetched at
    /// startup). With a JWKS URL as well, an unknown `kid` still triggers a refetch.
    pub fn keys(mut self, keys: Jwks) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Accept plain `http://` URLs for this operator's endpoints and metadata, whatever their
    /// host (default `false`: https only, except on a loopback address, 127.0.0.0/8 or `::1`,
    /// where a sandbox runs; the name `localhost` does not count, since its address is the
    /// resolver's choice). Over plain HTTP the client secret, the code, the PKCE verifier and
    /// the operator's keys cross the network in clear, where anyone on the path can read them
    /// or swap in keys of their own: only for an operator on a test network. Set it before
    /// [`OperatorConfig::with_metadata`], which judges the document's URLs by it. The adapters
    /// refuse such requests as well unless their `TransportConfig::allow_plain_http` is set.
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// The revocation endpoint.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn revocation(mut self, url: &str) -> Result<Self, Error> {
        self.revocation = Some(wire::parse_url(url, "tokenrevoke")?);
        Ok(self)
    }

    /// The token refresh endpoint (defaults to the token endpoint).
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn refresh(mut self, url: &str) -> Result<Self, Error> {
        self.refresh = Some(wire::parse_url(url, "tokenrefresh")?);
        Ok(self)
    }

    /// How the SP authenticates at the token endpoint and at CIBA's backchannel
    /// authentication endpoint (default: HTTP Basic). [`ClientAuth::PrivateKeyJwt`] needs
    /// [`OperatorConfig::signing_key`].
    pub fn client_auth(mut self, method: ClientAuth) -> Self {
        self.client_auth = method;
        self
    }

    /// The SP's signing key registered with this operator: it signs `private_key_jwt` client
    /// assertions, the request objects of server-initiated logins, and those of browser logins
    /// when [`OperatorConfig::sign_authorization_requests`] is on.
    pub fn signing_key(mut self, key: SpSigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Sign every browser authorization request of this operator (default `false`): with it,
    /// [`Discovered::authorize`] adds a `request` parameter, a request object (OIDC Core 6.1)
    /// signed with the [`OperatorConfig::signing_key`] whose claims repeat every parameter of
    /// the query with equal values, plus `iss` (the client_id), `aud` (the issuer), `iat`, `exp`
    /// (300 s later) and a fresh `jti`. The plain parameters stay in the query (OIDC Core
    /// allows them when equal, and many gateways read only the query). For an operator that
    /// registered the SP's public keys ([`SpSigningKey::jwks`]) and requires, or prefers,
    /// signed requests; [`OperatorConfig::build`] refuses it without a signing key.
    ///
    /// ```
    /// use mc_core::{Algorithm, ClientSecret, MissingSetting, MisuseError, OperatorConfig};
    /// use mc_core::{Error, Registration, SpSigningKey};
    /// # let pem = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sandbox/keys/rsa-b.pem"));
    /// let config = OperatorConfig::new(Registration {
    ///     operator_id: "op".into(),
    ///     client_id: "client".into(),
    ///     client_secret: ClientSecret::new("secret"),
    ///     redirect_uri: "https://sp.example/callback".into(),
    /// })?
    /// .issuer("https://op.example")
    /// .authorization("https://op.example/authorize")?
    /// .token("https://op.example/token")?
    /// .jwks("https://op.example/jwks")?
    /// .sign_authorization_requests(true);
    ///
    /// // Without the SP's key there is nothing to sign with.
    /// let refused = config.clone().build().unwrap_err();
    /// assert!(matches!(
    ///     refused,
    ///     Error::Misuse(MisuseError::IncompleteOperator { missing: MissingSetting::SigningKey, .. })
    /// ));
    ///
    /// let key = SpSigningKey::from_pem(Algorithm::RS256, pem, "sp-key-2026")?;
    /// let operator = config.signing_key(key).build()?;
    /// assert!(operator.signs_authorization_requests());
    /// # Ok::<(), mc_core::Error>(())
    /// ```
    pub fn sign_authorization_requests(mut self, sign: bool) -> Self {
        self.sign_authorization_requests = sign;
        self
    }

    /// Mobile Connect's server-initiated authorization endpoint (`si_authorization_endpoint`;
    /// the metadata supplies it when the operator publishes it).
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn si_authorization(mut self, url: &str) -> Result<Self, Error> {
        self.si_authorization = Some(wire::parse_url(url, "si_authorization_endpoint")?);
        Ok(self)
    }

    /// OpenID CIBA's backchannel authentication endpoint
    /// (`backchannel_authentication_endpoint`; the metadata supplies it when the operator
    /// publishes it).
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn backchannel_authentication(mut self, url: &str) -> Result<Self, Error> {
        self.backchannel_authentication =
            Some(wire::parse_url(url, "backchannel_authentication_endpoint")?);
        Ok(self)
    }

    /// The SP's notification URI registered with this operator, where a Mobile Connect
    /// server-initiated login in notification mode receives its tokens (`notification_uri` in
    /// the request object, and the `recipient` its id_token must name). Required for that
    /// mode. (An OpenID CIBA ping goes to the client notification endpoint registered with
    /// the operator, which the request does not name.)
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn notification_uri(mut self, url: &str) -> Result<Self, Error> {
        self.notification_uri = Some(wire::parse_url(url, "notification_uri")?);
        Ok(self)
    }

    /// How this operator takes a server-initiated authorization request (default
    /// [`SiTransport::PostQuery`], as in the GSMA example).
    pub fn si_transport(mut self, transport: SiTransport) -> Self {
        self.si_transport = transport;
        self
    }

    /// The grant type of the polling token request (default OpenID CIBA's
    /// `urn:openid:params:grant-type:ciba`; one Mobile Connect gateway lists
    /// `urn:openid:params:mc:grant_type:server_initiated`).
    pub fn polling_grant_type(mut self, grant_type: impl Into<String>) -> Self {
        self.polling_grant_type = grant_type.into();
        self
    }

    /// The application name shown on the handset (`client_name` for `mc_authz`).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// How long `client_name`, `context` and `binding_message` may be at this operator, in
    /// characters (default [`MessageLimits::DEFAULT`]); a longer value is refused with
    /// [`MisuseError::TooLong`], never cut.
    ///
    /// ```
    /// use mc_core::{ClientSecret, MessageLimits, OperatorConfig, Registration};
    /// let config = OperatorConfig::new(Registration {
    ///     operator_id: "op".into(),
    ///     client_id: "client".into(),
    ///     client_secret: ClientSecret::new("secret"),
    ///     redirect_uri: "https://sp.example/callback".into(),
    /// })?
    /// .message_limits(MessageLimits { client_name: 20, context: 100, binding_message: 8 });
    /// # Ok::<(), mc_core::Error>(())
    /// ```
    pub fn message_limits(mut self, limits: MessageLimits) -> Self {
        self.message_limits = limits;
        self
    }

    /// How this operator names the SMS one-time-password grant and its parameters
    /// ([`OtpSettings`], the gateway's names by default).
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] for an empty name or a zero challenge lifetime.
    pub fn otp(mut self, settings: OtpSettings) -> Result<Self, Error> {
        settings.check()?;
        self.otp = settings;
        Ok(self)
    }

    /// The Mobile Connect `version` to send when the metadata does not say.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The verification policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The operator profile; by default taken from the metadata ([`Profile::from_metadata`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }

    /// The exchange that fetches this operator's provider metadata, from
    /// `{issuer}/.well-known/openid-configuration` and nowhere else (OIDC Discovery 4.3); the
    /// answer must name the configured issuer exactly.
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] when no issuer is known; [`MisuseError::InvalidUrl`]
    /// or [`MisuseError::PlainHttp`] for an issuer that gives no usable metadata URL.
    pub fn metadata_exchange(&self) -> Result<MetadataExchange, Error> {
        let issuer = self.issuer.as_deref().ok_or(MisuseError::MissingEndpoint {
            endpoint: "openid-configuration",
        })?;
        let mut exchange = MetadataExchange::for_issuer_with(issuer, self.allow_plain_http)?;
        exchange.operator = Some(self.id.clone());
        Ok(exchange)
    }

    /// Take the operator's provider metadata, whole: its issuer (which must equal the
    /// configured one exactly, or becomes the issuer when none was configured), every endpoint
    /// it names (replacing configured ones), and the document itself, which the context keeps:
    /// its RFC 9207 announcement makes `iss` required in callbacks, its login hint methods and
    /// versions shape the authorization request, and its Mobile Connect members choose the
    /// default [`Profile`].
    ///
    /// The keys' location comes from the document alone: its `jwks_uri` replaces a configured
    /// or discovered JWKS URL, and a document without one leaves none (keys handed over with
    /// [`OperatorConfig::keys`] stay). Pass the document [`OperatorConfig::metadata_exchange`]
    /// fetched from the issuer's own `/.well-known/openid-configuration`; a document from
    /// anywhere else is configuration the host vouches for.
    ///
    /// # Errors
    /// [`ProtocolError::MetadataIssuerMismatch`]; [`ProtocolError::PlainHttp`] for a plain
    /// `http` endpoint on a host that is not a loopback address (unless
    /// [`OperatorConfig::allow_plain_http`]); [`MisuseError::InvalidUrl`] for an unusable
    /// endpoint URL in the document.
    pub fn with_metadata(mut self, metadata: ProviderMetadata) -> Result<Self, Error> {
        match &self.issuer {
            Some(expected) if *expected != metadata.issuer => {
                return Err(ProtocolError::MetadataIssuerMismatch {
                    expected: expected.clone(),
                    found: metadata.issuer.clone(),
                }
                .into());
            }
            _ => self.issuer = Some(metadata.issuer.clone()),
        }
        let slots = [
            (
                &metadata.authorization_endpoint,
                "authorization endpoint",
                &mut self.authorization,
            ),
            (&metadata.token_endpoint, "token endpoint", &mut self.token),
            (
                &metadata.userinfo_endpoint,
                "userinfo endpoint",
                &mut self.userinfo,
            ),
            (
                &metadata.premiuminfo_endpoint,
                "premiuminfo endpoint",
                &mut self.premiuminfo,
            ),
            (
                &metadata.revocation_endpoint,
                "tokenrevoke",
                &mut self.revocation,
            ),
            (
                &metadata.si_authorization_endpoint,
                "si_authorization_endpoint",
                &mut self.si_authorization,
            ),
            (
                &metadata.backchannel_authentication_endpoint,
                "backchannel_authentication_endpoint",
                &mut self.backchannel_authentication,
            ),
        ];
        let allow_plain_http = self.allow_plain_http;
        let checked = |value: &str, what: &'static str| -> Result<Url, Error> {
            let url = wire::parse_url(value, what)?;
            match wire::refused_plain_http(&url, allow_plain_http) {
                Some(host) => Err(ProtocolError::PlainHttp {
                    endpoint: crate::Endpoint::Metadata,
                    field: what,
                    host,
                }
                .into()),
                None => Ok(url),
            }
        };
        for (value, what, slot) in slots {
            if let Some(value) = value {
                *slot = Some(checked(value, what)?);
            }
        }
        // The keys are where the document says, or nowhere: a JWKS link from a registry entry
        // or a discovery answer never outlives the operator's own metadata.
        self.jwks = metadata
            .jwks_uri
            .as_deref()
            .map(|value| checked(value, "jwks_uri"))
            .transpose()?;
        self.metadata = Some(metadata);
        Ok(self)
    }

    /// The operator context, or the reason it could not finish a login.
    ///
    /// # Errors
    /// [`MisuseError::IncompleteOperator`] without an issuer, an authorization or token
    /// endpoint, or (when the policy allows an asymmetric algorithm) a JWKS URL or keys;
    /// [`MisuseError::PlainHttp`] for a plain `http` endpoint on a host that is not a loopback
    /// address, unless [`OperatorConfig::allow_plain_http`];
    /// [`MisuseError::PolicyOutOfBounds`] for a [`Policy::leeway_secs`] over
    /// [`MAX_LEEWAY_SECS`]; [`MisuseError::IncompleteOperator`] with
    /// [`MissingSetting::SigningKey`] for [`ClientAuth::PrivateKeyJwt`] or
    /// [`OperatorConfig::sign_authorization_requests`] without [`OperatorConfig::signing_key`].
    pub fn build(self) -> Result<Discovered, Error> {
        self.check_plain_http()?;
        self.policy.check_bounds()?;
        let incomplete = |missing| MisuseError::IncompleteOperator {
            operator: self.id.clone(),
            missing,
        };
        let issuer = self
            .issuer
            .clone()
            .ok_or_else(|| incomplete(MissingSetting::Issuer))?;
        let authorization = self
            .authorization
            .clone()
            .ok_or_else(|| incomplete(MissingSetting::AuthorizationEndpoint))?;
        let token = self
            .token
            .clone()
            .ok_or_else(|| incomplete(MissingSetting::TokenEndpoint))?;
        let keys = self.keys.unwrap_or_default();
        if self.jwks.is_none() && keys.is_empty() && self.policy.needs_operator_keys() {
            return Err(incomplete(MissingSetting::KeySource).into());
        }
        if self.client_auth == ClientAuth::PrivateKeyJwt && self.signing_key.is_none() {
            return Err(incomplete(MissingSetting::SigningKey).into());
        }
        if self.sign_authorization_requests && self.signing_key.is_none() {
            return Err(incomplete(MissingSetting::SigningKey).into());
        }
        let profile = self
            .profile
            .unwrap_or_else(|| Profile::from_metadata(self.metadata.as_ref()));
        Ok(Discovered {
            inner: Arc::new(Context {
                id: self.id,
                client_id: self.client_id,
                client_secret: self.client_secret,
                redirect_uri: self.redirect_uri,
                issuer,
                endpoints: Endpoints {
                    authorization,
                    token,
                    userinfo: self.userinfo,
                    premiuminfo: self.premiuminfo,
                    jwks: self.jwks,
                    revocation: self.revocation,
                    refresh: self.refresh,
                    si_authorization: self.si_authorization,
                    backchannel_authentication: self.backchannel_authentication,
                },
                notification_uri: self.notification_uri,
                si_transport: self.si_transport,
                polling_grant_type: self.polling_grant_type,
                client_name: self.client_name,
                message_limits: self.message_limits,
                otp: self.otp,
                version: self.version,
                policy: self.policy,
                client_auth: self.client_auth,
                signing_key: self.signing_key,
                sign_authorization_requests: self.sign_authorization_requests,
                profile,
                metadata: self.metadata,
                keys: KeyStore::new(keys),
            }),
        })
    }

    /// Every URL the context would send a request (or the browser) to is `https`, or plain
    /// `http` on a loopback address, or the entry opted in. Checked when the context is built,
    /// whatever order the builder was called in.
    fn check_plain_http(&self) -> Result<(), MisuseError> {
        let urls = [
            (&self.authorization, "authorization endpoint"),
            (&self.token, "token endpoint"),
            (&self.userinfo, "userinfo endpoint"),
            (&self.premiuminfo, "premiuminfo endpoint"),
            (&self.jwks, "jwks"),
            (&self.revocation, "tokenrevoke"),
            (&self.refresh, "tokenrefresh"),
            (&self.si_authorization, "si_authorization_endpoint"),
            (
                &self.backchannel_authentication,
                "backchannel_authentication_endpoint",
            ),
            (&self.notification_uri, "notification_uri"),
        ];
        for (url, what) in urls {
            if let Some(url) = url {
                wire::check_plain_http(url, what, self.allow_plain_http)?;
            }
        }
        Ok(())
    }
}

/// The operator context ("the operator is known"): everything about one operator that every
/// login through it shares, whether it came from a registry entry, the operator's metadata or a
/// discovery answer (all built by [`OperatorConfig::build`]).
///
/// `Send + Sync` and cheap to clone (clones share one context, like an `Arc`): a web host keeps
/// one per operator and hands it to every request. Nothing borrows it across network IO (each
/// exchange holds its own handle), and the operator's key set is replaced through `&self` by a
/// pointer swap, so concurrent logins never wait on each other. It holds the operator's client
/// secret, so it stays server-side; per-login state ([`crate::Authorizing`]) refers to it by
/// [`Discovered::id`].
#[derive(Clone)]
pub struct Discovered {
    pub(crate) inner: Arc<Context>,
}

/// What a [`Discovered`] handle shares.
pub(crate) struct Context {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: ClientSecret,
    pub(crate) redirect_uri: Url,
    pub(crate) issuer: String,
    pub(crate) endpoints: Endpoints,
    pub(crate) notification_uri: Option<Url>,
    pub(crate) si_transport: SiTransport,
    pub(crate) polling_grant_type: String,
    pub(crate) client_name: Option<String>,
    pub(crate) message_limits: MessageLimits,
    pub(crate) otp: OtpSettings,
    pub(crate) version: Option<String>,
    pub(crate) policy: Policy,
    pub(crate) client_auth: ClientAuth,
    pub(crate) signing_key: Option<SpSigningKey>,
    pub(crate) sign_authorization_requests: bool,
    pub(crate) profile: Profile,
    pub(crate) metadata: Option<ProviderMetadata>,
    pub(crate) keys: KeyStore,
}

impl fmt::Debug for Discovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovered")
            .field("id", &self.inner.id)
            .field("client_id", &self.inner.client_id)
            .field("client_secret", &self.inner.client_secret)
            .field("issuer", &self.inner.issuer)
            .field("endpoints", &self.inner.endpoints)
            .field("profile", &self.inner.profile)
            .field("policy", &self.inner.policy)
            .field("client_auth", &self.inner.client_auth)
            .field("signing_key", &self.inner.signing_key)
            .field(
                "sign_authorization_requests",
                &self.inner.sign_authorization_requests,
            )
            .field("notification_uri", &self.inner.notification_uri)
            .field("si_transport", &self.inner.si_transport)
            .field("polling_grant_type", &self.inner.polling_grant_type)
            .field("metadata", &self.inner.metadata.is_some())
            .field("keys", &self.inner.keys.current().jwks.keys().len())
            .finish_non_exhaustive()
    }
}

impl Discovered {
    /// The operator's id (registry key, or `mcc_mnc` / serving operator from discovery).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Our client_id at this operator.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The operator's issuer, compared exactly with `iss`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The endpoints.
    #[must_use]
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// The provider metadata, when the context was built with it.
    #[must_use]
    pub fn metadata(&self) -> Option<&ProviderMetadata> {
        self.inner.metadata.as_ref()
    }

    /// The operator profile.
    #[must_use]
    pub fn profile(&self) -> Profile {
        self.inner.profile
    }

    /// The verification policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The SP's signing key for this operator, if configured (publish its public half with
    /// [`SpSigningKey::jwks`]).
    #[must_use]
    pub fn signing_key(&self) -> Option<&SpSigningKey> {
        self.inner.signing_key.as_ref()
    }

    /// Whether browser authorization requests carry a signed request object
    /// ([`OperatorConfig::sign_authorization_requests`]).
    #[must_use]
    pub fn signs_authorization_requests(&self) -> bool {
        self.inner.sign_authorization_requests
    }

    /// The SP's notification URI for server-initiated logins, if configured.
    #[must_use]
    pub fn notification_uri(&self) -> Option<&Url> {
        self.inner.notification_uri.as_ref()
    }

    /// How this operator takes a server-initiated authorization request.
    #[must_use]
    pub fn si_transport(&self) -> SiTransport {
        self.inner.si_transport
    }

    /// How long the texts shown on the handset may be at this operator.
    #[must_use]
    pub fn message_limits(&self) -> MessageLimits {
        self.inner.message_limits
    }

    /// How this operator names the SMS one-time-password grant.
    #[must_use]
    pub fn otp_settings(&self) -> &OtpSettings {
        &self.inner.otp
    }

    /// The grant type of the polling token request.
    #[must_use]
    pub fn polling_grant_type(&self) -> &str {
        &self.inner.polling_grant_type
    }

    /// The current key set (empty until fetched); a snapshot that later swaps do not change.
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        self.inner.keys.current().jwks.clone()
    }

    /// When the current key set was stored.
    #[must_use]
    pub fn jwks_fetched_at(&self) -> Option<UnixTime> {
        self.inner.keys.current().fetched_at
    }

    /// The exchange that fetches the operator's JWKS, for a host that loads the keys before the
    /// first login; store the answer with [`Discovered::set_jwks`]. (A login that meets an
    /// unknown `kid` does this itself: see [`crate::KeyRefetch`].)
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] when no JWKS URL is known.
    pub fn jwks_exchange(&self) -> Result<JwksExchange, Error> {
        Ok(JwksExchange {
            operator: Some(self.inner.id.clone()),
            prepared: self.jwks_request()?,
        })
    }

    /// Store a freshly fetched key set (through `&self`: logins in progress keep the set they
    /// started verifying with).
    pub fn set_jwks(&self, jwks: Jwks, now: UnixTime) {
        self.keys_store(jwks, now);
    }

    pub(crate) fn keys_store(&self, jwks: Jwks, now: UnixTime) -> Arc<KeySnapshot> {
        self.inner.keys.store(jwks, now)
    }

    pub(crate) fn jwks_request(&self) -> Result<crate::exchange::Prepared, Error> {
        let url = self
            .inner
            .endpoints
            .jwks
            .as_ref()
            .ok_or(MisuseError::MissingEndpoint { endpoint: "jwks" })?;
        wire::get(url, "jwks", "application/json")
    }

    /// The key set verifications run against now.
    pub(crate) fn key_snapshot(&self) -> Arc<KeySnapshot> {
        self.inner.keys.current()
    }

    /// The client credentials for token-endpoint requests.
    pub(crate) fn client(&self) -> client_auth::Client<'_> {
        client_auth::Client {
            client_id: &self.inner.client_id,
            secret: &self.inner.client_secret,
            method: self.inner.client_auth,
            basic: self.inner.policy.basic_auth,
            signing_key: self.inner.signing_key.as_ref(),
            operator: &self.inner.id,
        }
    }

    /// Whether a verification that met an unknown `kid` in `snapshot` may ask for a refetch.
    pub(crate) fn may_refetch_jwks(&self, snapshot: &KeySnapshot, now: UnixTime) -> bool {
        self.inner.endpoints.jwks.is_some()
            && snapshot
                .fetched_at
                .is_none_or(|at| now >= at.plus(self.inner.policy.jwks_min_refetch_secs))
    }

    /// Whether the operator announced RFC 9207 `iss` in authorization responses.
    pub(crate) fn requires_callback_iss(&self) -> bool {
        self.inner.policy.require_callback_iss
            || self
                .inner
                .metadata
                .as_ref()
                .is_some_and(|m| m.authorization_response_iss_parameter_supported == Some(true))
    }

    pub(crate) fn check_flow_operator(&self, flow_operator: &str) -> Result<(), Error> {
        if flow_operator == self.inner.id {
            Ok(())
        } else {
            Err(MisuseError::OperatorMismatch {
                expected: flow_operator.to_owned(),
                found: self.inner.id.clone(),
            }
            .into())
        }
    }
}
