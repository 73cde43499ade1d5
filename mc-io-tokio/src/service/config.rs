//! The login service's configuration file: TOML (JSON accepted, including the single-operator
//! layout of the GSMA SDKs' demo configurations).
//!
//! ```toml
//! # The SP's callback, registered with every operator.
//! redirect_uri = "https://sp.example/callback"
//! login_timeout_secs = 600        # a pending login's lifetime (and its store TTL)
//!
//! [store]                         # optional: in memory by default
//! redis_url = "redis://127.0.0.1:6379"   # feature `redis`: several instances share it
//!
//! [auth]                          # the options of every login (an operator may override them)
//! client_name = "Example Shop"
//! context = "Log in to Example Shop"
//! binding_message = "EX-1"
//!
//! [discovery]                     # optional: an API Exchange that finds the operator
//! endpoint = "https://discovery.example/v2/discovery"
//! client_id = "sp-discovery-client"
//! client_secret_env = "MC_DISCOVERY_SECRET"
//! redirect_uri = "https://sp.example/discovered"  # where the selection page sends the browser
//!
//! [operators.alpha]               # a static registry entry (the id is yours)
//! issuer = "https://op.alpha.example"   # endpoints from its metadata unless listed here
//! client_id = "alpha-client-id"
//! client_secret_env = "MC_ALPHA_SECRET"
//! [operators.alpha.auth]
//! acr_values = "2"
//! ```
//!
//! Secrets come from the environment (`client_secret_env`) or, for a sandbox, inline
//! (`client_secret`); they never print (`Debug` redacts them).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use mc_core::{ClientSecret, Profile};
use serde::Deserialize;

use super::ServiceError;

/// The whole configuration of a [`super::LoginService`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// The SP's redirect URI (the callback), registered with every operator.
    pub redirect_uri: String,
    /// How long a pending login lives, in seconds (default 600); also the store's TTL.
    #[serde(default = "default_login_timeout")]
    pub login_timeout_secs: u64,
    /// How long an operator's provider metadata is kept before it is fetched again, in seconds
    /// (default one day).
    #[serde(default = "default_metadata_ttl")]
    pub metadata_ttl_secs: u64,
    /// Allow plain `http` endpoints on hosts that are not loopback addresses (never in
    /// production; the sandbox runs on loopback and needs no opt-in).
    #[serde(default)]
    pub allow_plain_http: bool,
    /// Where pending logins wait (in memory by default).
    #[serde(default)]
    pub store: StoreConfig,
    /// The options of every login; an operator's own `auth` overrides them field by field.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The discovery service, if the SP uses one.
    #[serde(default)]
    pub discovery: Option<DiscoveryConfig>,
    /// The static operator registry, by the SP's own operator id.
    #[serde(default)]
    pub operators: BTreeMap<String, OperatorEntry>,
}

fn default_login_timeout() -> u64 {
    600
}

fn default_metadata_ttl() -> u64 {
    86_400
}

/// Where pending logins wait.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreConfig {
    /// A Redis URL (`redis://host:port/db`; feature `redis`): every SP instance that names the
    /// same Redis can finish every login. Absent: this process's memory.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// The Redis key prefix (default `mc:login:`).
    #[serde(default)]
    pub redis_prefix: Option<String>,
    /// The in-memory store's capacity (default 100 000 pending logins).
    #[serde(default)]
    pub memory_capacity: Option<usize>,
}

/// What each login asks of the operator. Every field is optional; unset fields take the
/// operator profile's defaults (`openid mc_authn` at LoA 2 for Mobile Connect).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// The scopes, space-separated (`openid` is added when missing).
    #[serde(default)]
    pub scope: Option<String>,
    /// The levels of assurance, space-separated (`"2"`, `"3"`, `"2 3"`).
    #[serde(default)]
    pub acr_values: Option<String>,
    /// The Mobile Connect `version`.
    #[serde(default)]
    pub version: Option<String>,
    /// `client_name`: the SP's name on the handset (`mc_authz`).
    #[serde(default)]
    pub client_name: Option<String>,
    /// `context`: what the user confirms (`mc_authz`).
    #[serde(default)]
    pub context: Option<String>,
    /// `binding_message`: shown on both screens.
    #[serde(default)]
    pub binding_message: Option<String>,
}

impl AuthConfig {
    /// These options with `other`'s set fields in their place.
    #[must_use]
    pub fn overridden_by(&self, other: &Self) -> Self {
        let pick = |mine: &Option<String>, theirs: &Option<String>| {
            theirs.clone().or_else(|| mine.clone())
        };
        Self {
            scope: pick(&self.scope, &other.scope),
            acr_values: pick(&self.acr_values, &other.acr_values),
            version: pick(&self.version, &other.version),
            client_name: pick(&self.client_name, &other.client_name),
            context: pick(&self.context, &other.context),
            binding_message: pick(&self.binding_message, &other.binding_message),
        }
    }

    /// The levels of assurance asked, parsed.
    ///
    /// # Errors
    /// [`ServiceError::Config`] for a value that is not space-separated digits 1 to 4.
    pub fn levels(&self) -> Result<Option<Vec<u8>>, ServiceError> {
        self.acr_values
            .as_deref()
            .map(|text| {
                text.split_whitespace()
                    .map(|level| match level.parse::<u8>() {
                        Ok(n @ 1..=4) => Ok(n),
                        _ => Err(ServiceError::config(format!(
                            "acr_values: {level:?} is not a level of assurance (1 to 4)"
                        ))),
                    })
                    .collect()
            })
            .transpose()
    }
}

/// A client secret as the configuration gives it: inline or from an environment variable.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// The secret itself (a sandbox's; keep real ones out of files).
    #[serde(default)]
    client_secret: Option<String>,
    /// The environment variable that holds it.
    #[serde(default)]
    client_secret_env: Option<String>,
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSource")
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("client_secret_env", &self.client_secret_env)
            .finish()
    }
}

impl SecretSource {
    /// An inline secret.
    #[must_use]
    pub fn inline(secret: impl Into<String>) -> Self {
        Self {
            client_secret: Some(secret.into()),
            client_secret_env: None,
        }
    }

    /// The secret: inline, else read from the named environment variable.
    ///
    /// # Errors
    /// [`ServiceError::Config`] when neither is set, both are, or the variable is unset.
    pub fn resolve(&self, whose: &str) -> Result<ClientSecret, ServiceError> {
        match (&self.client_secret, &self.client_secret_env) {
            (Some(secret), None) => Ok(ClientSecret::new(secret.clone())),
            (None, Some(var)) => std::env::var(var).map(ClientSecret::new).map_err(|_| {
                ServiceError::config(format!(
                    "{whose}: the environment variable {var} (client_secret_env) is not set"
                ))
            }),
            (Some(_), Some(_)) => Err(ServiceError::config(format!(
                "{whose}: set client_secret or client_secret_env, not both"
            ))),
            (None, None) => Err(ServiceError::config(format!(
                "{whose}: no client_secret or client_secret_env"
            ))),
        }
    }
}

/// The discovery service's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// The discovery endpoint.
    pub endpoint: String,
    /// The SP's discovery client id.
    pub client_id: String,
    /// The SP's discovery client secret.
    #[serde(flatten)]
    pub secret: SecretSource,
    /// The discovery `Redirect_URL`: where the operator selection page sends the browser back
    /// (default: the service's `redirect_uri`).
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

/// One operator of the static registry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OperatorEntry {
    /// The operator's issuer (its metadata is read from `issuer/.well-known/openid-configuration`
    /// when `fetch_metadata` is true, or when an endpoint below is missing).
    pub issuer: String,
    /// The SP's client id at this operator.
    pub client_id: String,
    /// The SP's client secret at this operator.
    #[serde(flatten)]
    pub secret: SecretSource,
    /// Fetch the provider metadata even when every endpoint is listed (default: only when one
    /// is missing).
    #[serde(default)]
    pub fetch_metadata: bool,
    /// The authorization endpoint.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// The userinfo endpoint.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// The premiuminfo endpoint.
    #[serde(default)]
    pub premiuminfo_endpoint: Option<String>,
    /// The JWKS URL.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The CIBA backchannel authentication endpoint (server-initiated login).
    #[serde(default)]
    pub backchannel_authentication_endpoint: Option<String>,
    /// `mobile_connect` or `openid_connect` (default: from the metadata).
    #[serde(default)]
    pub profile: Option<ProfileName>,
    /// The operator's `mcc_mnc` (`234_15`): a return from the operator selection page that names
    /// it logs in through this entry.
    #[serde(default)]
    pub mcc_mnc: Option<String>,
    /// This operator's login options, over the service's.
    #[serde(default)]
    pub auth: AuthConfig,
}

impl OperatorEntry {
    /// Whether the entry lists every endpoint a browser login needs.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.authorization_endpoint.is_some()
            && self.token_endpoint.is_some()
            && self.jwks_uri.is_some()
    }
}

/// An operator profile's name in the configuration.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProfileName {
    /// GSMA Mobile Connect.
    MobileConnect,
    /// Plain OpenID Connect.
    OpenidConnect,
}

impl From<ProfileName> for Profile {
    fn from(name: ProfileName) -> Self {
        match name {
            ProfileName::MobileConnect => Self::MobileConnect,
            ProfileName::OpenidConnect => Self::OpenIdConnect,
        }
    }
}

impl ServiceConfig {
    /// A configuration with only the redirect URI set (add operators or discovery).
    #[must_use]
    pub fn new(redirect_uri: impl Into<String>) -> Self {
        Self {
            redirect_uri: redirect_uri.into(),
            login_timeout_secs: default_login_timeout(),
            metadata_ttl_secs: default_metadata_ttl(),
            allow_plain_http: false,
            store: StoreConfig::default(),
            auth: AuthConfig::default(),
            discovery: None,
            operators: BTreeMap::new(),
        }
    }

    /// Read a configuration file: JSON when its name ends in `.json` or its text starts with
    /// `{`, TOML otherwise.
    ///
    /// # Errors
    /// [`ServiceError::Config`] when the file cannot be read or parsed (the message names the
    /// file and the line, never a value).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ServiceError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServiceError::config(format!("cannot read {}: {e}", path.display())))?;
        let json =
            path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
        let parsed = if json {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        };
        parsed.map_err(|e| ServiceError::config(format!("{}: {e}", path.display())))
    }

    /// Parse TOML.
    ///
    /// # Errors
    /// [`ServiceError::Config`] for a syntax error, an unknown key or a missing field.
    pub fn from_toml(text: &str) -> Result<Self, ServiceError> {
        toml::from_str(text).map_err(|e| ServiceError::config(e.message().to_owned()))
    }

    /// Parse JSON: this layout, or the single-operator layout of the GSMA SDKs' demo
    /// configurations (`clientID`, `clientSecret`, `redirectURL`, `discoveryURL`,
    /// `apiVersion`, `scope`, `acrValues`, `clientName`, `context`, `binding_message`, and
    /// either `operatorUrls` or `authURL`/`tokenURL`/`userInfoURl`...: one operator, id
    /// `default`; without operator URLs, the discovery service with those credentials).
    ///
    /// # Errors
    /// [`ServiceError::Config`] when the text is neither.
    pub fn from_json(text: &str) -> Result<Self, ServiceError> {
        match serde_json::from_str::<Self>(text) {
            Ok(config) => Ok(config),
            Err(ours) => serde_json::from_str::<SdkLayout>(text)
                .map(SdkLayout::into_config)
                .map_err(|_| ServiceError::config(ours.to_string())),
        }
    }
}

/// The single-operator JSON layout of the GSMA SDKs' demos (Java `OperatorData.json` /
/// `WithoutDiscoveryData.json`, PHP `data.json`).
#[derive(Deserialize)]
struct SdkLayout {
    #[serde(alias = "clientID", alias = "clientId")]
    client_id: String,
    #[serde(alias = "clientSecret")]
    client_secret: String,
    #[serde(alias = "redirectURL", alias = "redirectUrl")]
    redirect_uri: String,
    #[serde(default, alias = "discoveryURL", alias = "discoveryUrl")]
    discovery_url: Option<String>,
    #[serde(default, alias = "apiVersion")]
    version: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default, alias = "acrValues")]
    acr_values: Option<String>,
    #[serde(default, alias = "clientName")]
    client_name: Option<String>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default, alias = "bindingMessage")]
    binding_message: Option<String>,
    #[serde(default, alias = "operatorUrls")]
    operator_urls: Option<SdkOperatorUrls>,
    #[serde(flatten)]
    flat_urls: SdkOperatorUrls,
}

#[derive(Default, Deserialize)]
struct SdkOperatorUrls {
    #[serde(default, alias = "authorizationUrl", alias = "authURL")]
    authorization: Option<String>,
    #[serde(default, alias = "requestTokenUrl", alias = "tokenURL")]
    token: Option<String>,
    #[serde(default, alias = "userInfoUrl", alias = "userInfoURl")]
    userinfo: Option<String>,
    #[serde(default, alias = "premiumInfoUri", alias = "premiumInfoURl")]
    premiuminfo: Option<String>,
    #[serde(default, alias = "providerMetadataUri", alias = "metadataURl")]
    metadata: Option<String>,
}

impl SdkLayout {
    fn into_config(self) -> ServiceConfig {
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let auth = AuthConfig {
            scope: non_empty(self.scope),
            acr_values: non_empty(self.acr_values),
            version: non_empty(self.version),
            client_name: non_empty(self.client_name),
            context: non_empty(self.context),
            binding_message: non_empty(self.binding_message),
        };
        let mut config = ServiceConfig::new(self.redirect_uri.clone());
        config.auth = auth;
        let urls = self.operator_urls.unwrap_or(self.flat_urls);
        match non_empty(urls.authorization) {
            Some(authorization) => {
                let metadata = non_empty(urls.metadata);
                let issuer = metadata
                    .as_deref()
                    .and_then(|m| m.strip_suffix("/.well-known/openid-configuration"))
                    .map(str::to_owned)
                    .or_else(|| {
                        url::Url::parse(&authorization)
                            .ok()
                            .map(|u| u.origin().ascii_serialization())
                    })
                    .unwrap_or_default();
                let entry = OperatorEntry {
                    issuer,
                    client_id: self.client_id,
                    secret: SecretSource::inline(self.client_secret),
                    fetch_metadata: metadata.is_some(),
                    authorization_endpoint: Some(authorization),
                    token_endpoint: non_empty(urls.token),
                    userinfo_endpoint: non_empty(urls.userinfo),
                    premiuminfo_endpoint: non_empty(urls.premiuminfo),
                    ..OperatorEntry::default()
                };
                config.operators.insert("default".to_owned(), entry);
            }
            None => {
                config.discovery = non_empty(self.discovery_url).map(|endpoint| DiscoveryConfig {
                    endpoint,
                    client_id: self.client_id,
                    secret: SecretSource::inline(self.client_secret),
                    redirect_uri: Some(self.redirect_uri),
                });
            }
        }
        config
    }
}
