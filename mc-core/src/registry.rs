//! The operator context ([`Discovered`]): endpoints, credentials, issuer, metadata and keys of one
//! operator, built from a static registry entry or from a discovery answer.

use jsonwebtoken::Algorithm;
use url::Url;

use crate::client_auth::{self, ClientAuth};
use crate::error::{Error, MisuseError, ProtocolError};
use crate::exchange::UnixTime;
use crate::jwks::{Jwks, JwksExchange};
use crate::metadata::{MetadataExchange, ProviderMetadata};
use crate::secret::ClientSecret;
use crate::wire::{self, BasicAuthEncoding};

/// How strictly tokens from this operator are judged, and a few per-operator protocol choices.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Clock leeway for `exp`, `nbf`, `iat` and `auth_time`, in seconds (default 30).
    pub leeway_secs: u64,
    /// Signature algorithms accepted (default RS256/384/512, PS256/384/512, ES256/384).
    /// `none` is never accepted; HS256/384/512 only when listed here, and then keyed by the
    /// client secret only.
    pub allowed_algorithms: Vec<Algorithm>,
    /// Reject id_tokens whose `iat` is older than this many seconds (default: no bound).
    pub max_token_age_secs: Option<u64>,
    /// Reject callbacks for logins started longer ago than this (default 600 s).
    pub login_timeout_secs: u64,
    /// A JWKS fetched less than this many seconds ago is not refetched for an unknown `kid`
    /// (default 0: one refetch per verification, never more).
    pub jwks_min_refetch_secs: u64,
    /// How client credentials go into HTTP Basic.
    pub basic_auth: BasicAuthEncoding,
    /// Require RFC 9207 `iss` in callbacks even when the metadata does not announce it.
    pub require_callback_iss: bool,
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
            jwks_min_refetch_secs: 0,
            basic_auth: BasicAuthEncoding::default(),
            require_callback_iss: false,
        }
    }
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
    /// JWKS.
    pub jwks: Option<Url>,
    /// Provider metadata (`.well-known/openid-configuration`).
    pub metadata: Option<Url>,
    /// Token revocation.
    pub revocation: Option<Url>,
    /// Token refresh (defaults to the token endpoint).
    pub refresh: Option<Url>,
    /// Server-initiated authorization.
    pub si_authorization: Option<Url>,
}

/// A static registry entry: what an operator handed the SP when it registered.
#[derive(Clone, Debug)]
#[must_use]
pub struct OperatorConfig {
    id: String,
    client_id: String,
    client_secret: ClientSecret,
    redirect_uri: Url,
    issuer: Option<String>,
    endpoints: Endpoints,
    client_name: Option<String>,
    version: Option<String>,
    policy: Policy,
    client_auth: ClientAuth,
}

pub(crate) fn parse_url(value: &str, what: &'static str) -> Result<Url, Error> {
    let url = Url::parse(value).map_err(|e| MisuseError::InvalidUrl {
        what,
        reason: e.to_string(),
    })?;
    check_url(&url, what)?;
    Ok(url)
}

/// Endpoints must be https, except on loopback (local sandboxes) and where an operator really
/// serves plain http (an explicit `http://` URL in the registry is the host's decision).
fn check_url(url: &Url, what: &'static str) -> Result<(), Error> {
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(MisuseError::InvalidUrl {
            what,
            reason: "not an absolute http(s) URL".to_owned(),
        }
        .into());
    }
    if url.fragment().is_some() {
        return Err(MisuseError::InvalidUrl {
            what,
            reason: "has a fragment".to_owned(),
        }
        .into());
    }
    wire::uri(url, what).map(|_| ())
}

impl OperatorConfig {
    /// A registry entry with the two endpoints every operator has.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`] for an unusable URL.
    pub fn new(
        id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        redirect_uri: &str,
        authorization_endpoint: &str,
        token_endpoint: &str,
    ) -> Result<Self, Error> {
        Ok(Self {
            id: id.into(),
            client_id: client_id.into(),
            client_secret,
            redirect_uri: parse_url(redirect_uri, "redirect_uri")?,
            issuer: None,
            endpoints: Endpoints {
                authorization: parse_url(authorization_endpoint, "authorization endpoint")?,
                token: parse_url(token_endpoint, "token endpoint")?,
                userinfo: None,
                premiuminfo: None,
                jwks: None,
                metadata: None,
                revocation: None,
                refresh: None,
                si_authorization: None,
            },
            client_name: None,
            version: None,
            policy: Policy::default(),
            client_auth: ClientAuth::default(),
        })
    }

    /// A registry entry for a plain OpenID Provider from its metadata (fetched with
    /// [`MetadataExchange::for_issuer`]): issuer and every endpoint come from the document.
    ///
    /// # Errors
    /// [`crate::ProtocolError::MissingField`] when the metadata lacks an authorization or token
    /// endpoint; [`MisuseError::InvalidUrl`] for unusable URLs.
    pub fn from_metadata(
        id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        redirect_uri: &str,
        metadata: &ProviderMetadata,
    ) -> Result<Self, Error> {
        let missing = |field| ProtocolError::MissingField {
            endpoint: crate::Endpoint::Metadata,
            field,
        };
        let authorization = metadata
            .authorization_endpoint
            .as_deref()
            .ok_or(missing("authorization_endpoint"))?;
        let token = metadata
            .token_endpoint
            .as_deref()
            .ok_or(missing("token_endpoint"))?;
        let mut config = Self::new(
            id,
            client_id,
            client_secret,
            redirect_uri,
            authorization,
            token,
        )?
        .issuer(metadata.issuer.clone());
        if let Some(url) = &metadata.jwks_uri {
            config = config.jwks(url)?;
        }
        if let Some(url) = &metadata.userinfo_endpoint {
            config = config.userinfo(url)?;
        }
        Ok(config)
    }

    /// How the SP authenticates at the token endpoint (default: HTTP Basic).
    pub fn client_auth(mut self, method: ClientAuth) -> Self {
        self.client_auth = method;
        self
    }

    /// The issuer this operator writes into `iss` (compared exactly).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The userinfo endpoint.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn userinfo(mut self, url: &str) -> Result<Self, Error> {
        self.endpoints.userinfo = Some(parse_url(url, "userinfo endpoint")?);
        Ok(self)
    }

    /// The premium info endpoint.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn premiuminfo(mut self, url: &str) -> Result<Self, Error> {
        self.endpoints.premiuminfo = Some(parse_url(url, "premiuminfo endpoint")?);
        Ok(self)
    }

    /// The JWKS URL.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn jwks(mut self, url: &str) -> Result<Self, Error> {
        self.endpoints.jwks = Some(parse_url(url, "jwks")?);
        Ok(self)
    }

    /// The provider metadata URL.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn metadata(mut self, url: &str) -> Result<Self, Error> {
        self.endpoints.metadata = Some(parse_url(url, "openid-configuration")?);
        Ok(self)
    }

    /// The revocation endpoint.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn revocation(mut self, url: &str) -> Result<Self, Error> {
        self.endpoints.revocation = Some(parse_url(url, "tokenrevoke")?);
        Ok(self)
    }

    /// The application name shown on the handset (`client_name` for `mc_authz`).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
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
}

/// The operator context: everything about one operator that every login through it shares.
///
/// Long-lived and cached by the host (keyed by operator id, or by MCC/MNC with the discovery
/// `ttl`). It holds the operator's client secret, so it stays server-side; the per-login state
/// ([`crate::Authorizing`]) refers to it by [`Discovered::id`].
#[derive(Clone, Debug)]
pub struct Discovered {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: ClientSecret,
    pub(crate) redirect_uri: Url,
    pub(crate) issuer: Option<String>,
    pub(crate) endpoints: Endpoints,
    pub(crate) client_name: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) policy: Policy,
    pub(crate) client_auth: ClientAuth,
    pub(crate) metadata: Option<ProviderMetadata>,
    pub(crate) jwks: Jwks,
    pub(crate) jwks_fetched_at: Option<UnixTime>,
}

impl Discovered {
    /// An operator context from a static registry entry.
    #[must_use]
    pub fn from_registry(config: OperatorConfig) -> Self {
        Self {
            id: config.id,
            client_id: config.client_id,
            client_secret: config.client_secret,
            redirect_uri: config.redirect_uri,
            issuer: config.issuer,
            endpoints: config.endpoints,
            client_name: config.client_name,
            version: config.version,
            policy: config.policy,
            client_auth: config.client_auth,
            metadata: None,
            jwks: Jwks::default(),
            jwks_fetched_at: None,
        }
    }

    /// The operator's id (registry key, or `mcc_mnc` / serving operator from discovery).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Our client_id at this operator.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The operator's issuer, once known.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The endpoints.
    #[must_use]
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The provider metadata, once applied.
    #[must_use]
    pub fn metadata(&self) -> Option<&ProviderMetadata> {
        self.metadata.as_ref()
    }

    /// The verification policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replace the verification policy.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// The current key set (empty until fetched).
    #[must_use]
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// When the key set was last stored.
    #[must_use]
    pub fn jwks_fetched_at(&self) -> Option<UnixTime> {
        self.jwks_fetched_at
    }

    /// The exchange that fetches the provider metadata.
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] when neither a metadata URL nor an issuer is known.
    pub fn metadata_exchange(&self) -> Result<MetadataExchange, Error> {
        match (&self.endpoints.metadata, &self.issuer) {
            (Some(url), issuer) => Ok(MetadataExchange {
                prepared: wire::get(url, "openid-configuration", "application/json")?,
                expected_issuer: issuer.clone(),
            }),
            (None, Some(issuer)) => MetadataExchange::for_issuer(issuer),
            (None, None) => Err(MisuseError::MissingEndpoint {
                endpoint: "openid-configuration",
            }
            .into()),
        }
    }

    /// Apply provider metadata: its issuer must equal the configured or discovered issuer exactly
    /// (or becomes the issuer when none was known), and its endpoints override the discovered ones.
    ///
    /// # Errors
    /// [`ProtocolError::MetadataIssuerMismatch`], or [`MisuseError::InvalidUrl`]-style errors for
    /// unusable endpoint URLs in the metadata.
    pub fn apply_metadata(&mut self, metadata: ProviderMetadata) -> Result<(), Error> {
        match &self.issuer {
            Some(expected) if *expected != metadata.issuer => {
                return Err(ProtocolError::MetadataIssuerMismatch {
                    expected: expected.clone(),
                    found: metadata.issuer.clone(),
                }
                .into());
            }
            Some(_) => {}
            None => self.issuer = Some(metadata.issuer.clone()),
        }
        let endpoint = |value: &Option<String>, what: &'static str| -> Result<Option<Url>, Error> {
            value.as_deref().map(|v| parse_url(v, what)).transpose()
        };
        if let Some(url) = endpoint(&metadata.authorization_endpoint, "authorization endpoint")? {
            self.endpoints.authorization = url;
        }
        if let Some(url) = endpoint(&metadata.token_endpoint, "token endpoint")? {
            self.endpoints.token = url;
        }
        let optional = [
            (
                &metadata.userinfo_endpoint,
                "userinfo endpoint",
                &mut self.endpoints.userinfo,
            ),
            (
                &metadata.premiuminfo_endpoint,
                "premiuminfo endpoint",
                &mut self.endpoints.premiuminfo,
            ),
            (&metadata.jwks_uri, "jwks", &mut self.endpoints.jwks),
            (
                &metadata.revocation_endpoint,
                "tokenrevoke",
                &mut self.endpoints.revocation,
            ),
            (
                &metadata.si_authorization_endpoint,
                "si_authorization_endpoint",
                &mut self.endpoints.si_authorization,
            ),
        ];
        for (value, what, slot) in optional {
            if let Some(url) = endpoint(value, what)? {
                *slot = Some(url);
            }
        }
        self.metadata = Some(metadata);
        Ok(())
    }

    /// The exchange that fetches the operator's JWKS.
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] when no JWKS URL is known.
    pub fn jwks_exchange(&self) -> Result<JwksExchange, Error> {
        let url = self
            .endpoints
            .jwks
            .as_ref()
            .ok_or(MisuseError::MissingEndpoint { endpoint: "jwks" })?;
        Ok(JwksExchange {
            prepared: wire::get(url, "jwks", "application/json")?,
        })
    }

    /// Store a freshly fetched key set.
    pub fn set_jwks(&mut self, jwks: Jwks, now: UnixTime) {
        self.jwks = jwks;
        self.jwks_fetched_at = Some(now);
    }

    /// The client credentials for token-endpoint requests.
    pub(crate) fn client(&self) -> client_auth::Client<'_> {
        client_auth::Client {
            client_id: &self.client_id,
            secret: &self.client_secret,
            method: &self.client_auth,
            basic: self.policy.basic_auth,
        }
    }

    /// Whether a verification that meets an unknown `kid` may ask for a JWKS refetch now.
    pub(crate) fn may_refetch_jwks(&self, now: UnixTime) -> bool {
        self.endpoints.jwks.is_some()
            && self
                .jwks_fetched_at
                .is_none_or(|at| now >= at.plus(self.policy.jwks_min_refetch_secs))
    }

    /// The issuer, or the misuse error saying it is unknown.
    pub(crate) fn expected_issuer(&self) -> Result<&str, Error> {
        self.issuer
            .as_deref()
            .ok_or_else(|| MisuseError::IssuerUnknown.into())
    }

    /// Whether the operator announced RFC 9207 `iss` in authorization responses.
    pub(crate) fn requires_callback_iss(&self) -> bool {
        self.policy.require_callback_iss
            || self
                .metadata
                .as_ref()
                .is_some_and(|m| m.authorization_response_iss_parameter_supported == Some(true))
    }

    pub(crate) fn check_flow_operator(&self, flow_operator: &str) -> Result<(), Error> {
        if flow_operator == self.id {
            Ok(())
        } else {
            Err(MisuseError::OperatorMismatch {
                expected: flow_operator.to_owned(),
                found: self.id.clone(),
            }
            .into())
        }
    }
}
