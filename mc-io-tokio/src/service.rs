//! The login service: what every Service Provider otherwise writes around the core, once. It is
//! built from a configuration file ([`ServiceConfig`]: the static operator registry, an optional
//! discovery service, the login options, the per-login store), keeps the shared operator
//! contexts (their provider metadata refreshed after `metadata_ttl_secs`, contexts from
//! discovery kept until the answer's `ttl`), and runs whole logins:
//!
//! - [`LoginService::start`]: by phone number (discovery, or the registry), by operator id, or
//!   through the operator selection page → a redirect URL for the browser and an opaque
//!   [`LoginId`] for the host's cookie. The per-login state (state, nonce, PKCE verifier; no
//!   operator secret) stays on the server, in the [`LoginStore`], for the login timeout.
//! - [`LoginService::finish`]: the callback's query and the cookie's login id → the verified
//!   [`Identity`] (PCR, acr, amr, phone number, userinfo claims) and the tokens, or a typed
//!   [`ServiceError`]. The state is taken out of the store exactly once: a replayed callback,
//!   an expired login or a callback without this browser's login id is refused.
//! - Step-up ([`LoginRequest::step_up`]): re-authenticate a known PCR at LoA 3 (a PIN on the
//!   handset); the answer must name the same subscriber.
//! - Server-initiated login (no redirect; OpenID CIBA poll mode):
//!   [`LoginService::start_server_initiated`] and [`LoginService::check_server_initiated`]
//!   (a waiting page asks until the handset answered; any instance can answer), or
//!   [`LoginService::server_initiated`] to wait in one call.
//!
//! Several SP instances: give them one Redis store (`[store] redis_url`) and the same registry.
//! An operator known only from a discovery answer (not in the registry) is cached by the
//! instance that asked discovery; a callback for it that lands on another instance is refused
//! with [`ServiceError::UnknownOperator`]. List every operator in the registry (discovery then
//! only routes the user to it) when the instances sit behind a load balancer.
//!
//! Framework-agnostic: the host sets the cookie and answers HTTP (the `axum` feature's
//! `mc_io_tokio::axum` module does it for axum). Each call runs in one `mc_login` span with the
//! operator id, the step and the outcome class, around the `mc_exchange` spans of its steps.

pub mod config;
mod error;
mod login;
#[cfg(feature = "redis")]
mod redis_store;
pub mod store;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use mc_core::{
    AuthorizeOptions, Authorizing, BackchannelPending, CibaLoginHint, CibaRequest, Discovered,
    DiscoveryAnswer, DiscoveryOutcome, DiscoveryQuery, DiscoveryService, LoginHint, MccMnc,
    OperatorConfig, Outcome, Poll, Registration, SelectionLeg, SelectionReturn, Tokens, UnixTime,
};
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

pub use config::{AuthConfig, DiscoveryConfig, OperatorEntry, ServiceConfig, StoreConfig};
pub use error::ServiceError;
pub use login::{Finish, Identity, LoggedIn, LoginRequest, LoginStart, SiStatus};
pub use store::{LoginId, LoginStore, MemoryStore, StoreError};

use login::Target;

use crate::{Client, OsEntropy, now};

/// The per-login state kept in the store (no operator secret; serialized as JSON).
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Pending {
    /// A browser login at an operator.
    Browser {
        flow: Authorizing,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_sub: Option<String>,
    },
    /// A browser at the operator selection page.
    Selection {
        leg: SelectionLeg,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        acr_values: Option<Vec<u8>>,
    },
    /// A server-initiated login.
    Backchannel { pending: BackchannelPending },
}

/// An operator context in the cache, until `expires_at`.
#[derive(Clone)]
struct Cached {
    operator: Discovered,
    expires_at: UnixTime,
}

struct Inner {
    client: Client,
    config: ServiceConfig,
    store: Arc<dyn LoginStore>,
    discovery: Option<DiscoveryService>,
    operators: RwLock<HashMap<String, Cached>>,
    /// One operator context is built at a time (its metadata fetched once, not by every
    /// login that finds it missing).
    building: tokio::sync::Mutex<()>,
}

/// Runs Mobile Connect logins for a web host: see the [module](self) documentation. Cheap to
/// clone (clones share the operator contexts, the store and the HTTP client); `Send + Sync`.
#[derive(Clone)]
pub struct LoginService {
    inner: Arc<Inner>,
}

impl fmt::Debug for LoginService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginService")
            .field("operators", &self.inner.config.operators.keys())
            .field("discovery", &self.inner.discovery.is_some())
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

impl LoginService {
    /// A service with the store its configuration names (memory, or Redis with the `redis`
    /// feature) and a new [`Client`].
    ///
    /// # Errors
    /// [`ServiceError::Config`] for an unusable configuration (a secret's variable unset, a
    /// Redis URL without the `redis` feature, ...); [`ServiceError::Store`] when Redis cannot
    /// be reached; [`ServiceError::Exchange`] when the HTTP client cannot be built.
    pub async fn from_config(config: ServiceConfig) -> Result<Self, ServiceError> {
        let store = store_from_config(&config.store).await?;
        Self::with_store(config, store, Client::new()?)
    }

    /// A service with the given store and client (the configuration's `[store]` is not read).
    ///
    /// # Errors
    /// [`ServiceError::Config`] for an unusable configuration.
    pub fn with_store(
        config: ServiceConfig,
        store: Arc<dyn LoginStore>,
        client: Client,
    ) -> Result<Self, ServiceError> {
        let discovery = config
            .discovery
            .as_ref()
            .map(|d| {
                let secret = d.secret.resolve("discovery")?;
                let redirect = d.redirect_uri.as_deref().unwrap_or(&config.redirect_uri);
                Ok::<_, ServiceError>(
                    DiscoveryService::new(&d.endpoint, &d.client_id, secret, redirect)?
                        .allow_plain_http(config.allow_plain_http)
                        .selection_timeout_secs(config.login_timeout_secs),
                )
            })
            .transpose()?;
        for (id, entry) in &config.operators {
            entry.secret.resolve(id)?;
            if let Some(network) = &entry.mcc_mnc
                && MccMnc::parse(network).map(|m| m.to_string()).ok().as_ref() != Some(network)
            {
                return Err(ServiceError::config(format!(
                    "operators.{id}.mcc_mnc: {network:?} is not <3-digit mcc>_<2 or 3-digit mnc>"
                )));
            }
            config.auth.overridden_by(&entry.auth).levels()?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                config,
                store,
                discovery,
                operators: RwLock::new(HashMap::new()),
                building: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// The HTTP client the service runs its exchanges with.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The store pending logins wait in.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn LoginStore> {
        &self.inner.store
    }

    /// The operator context of this id: from the cache, else built from the registry entry
    /// (its metadata fetched when the entry asks for it or lacks an endpoint).
    ///
    /// # Errors
    /// [`ServiceError::UnknownOperator`]; the metadata fetch's or the build's error.
    pub async fn operator(&self, id: &str) -> Result<Discovered, ServiceError> {
        match self.cached(id) {
            Some(op) => Ok(op),
            // The rare path on the heap, so that every login's future stays small.
            None => Box::pin(self.load_operator(id)).await,
        }
    }

    /// Build a registry operator's context (once, whoever else asks meanwhile) and cache it.
    async fn load_operator(&self, id: &str) -> Result<Discovered, ServiceError> {
        let Some(entry) = self.inner.config.operators.get(id) else {
            return Err(ServiceError::UnknownOperator {
                operator: id.to_owned(),
            });
        };
        let _turn = self.inner.building.lock().await;
        if let Some(op) = self.cached(id) {
            return Ok(op);
        }
        let operator = self.build_registry_operator(id, entry).await?;
        self.cache(&operator, now().plus(self.inner.config.metadata_ttl_secs));
        Ok(operator)
    }

    fn cached(&self, id: &str) -> Option<Discovered> {
        let operators = self
            .inner
            .operators
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        operators
            .get(id)
            .filter(|c| now() < c.expires_at)
            .map(|c| c.operator.clone())
    }

    fn cache(&self, operator: &Discovered, expires_at: UnixTime) {
        self.inner
            .operators
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                operator.id().to_owned(),
                Cached {
                    operator: operator.clone(),
                    expires_at,
                },
            );
    }

    async fn build_registry_operator(
        &self,
        id: &str,
        entry: &OperatorEntry,
    ) -> Result<Discovered, ServiceError> {
        let config = &self.inner.config;
        let mut builder = OperatorConfig::new(Registration {
            operator_id: id.to_owned(),
            client_id: entry.client_id.clone(),
            client_secret: entry.secret.resolve(id)?,
            redirect_uri: config.redirect_uri.clone(),
        })?
        .issuer(entry.issuer.clone())
        .allow_plain_http(config.allow_plain_http);
        if entry.fetch_metadata || !entry.is_complete() {
            let metadata = self.exchange(builder.metadata_exchange()?).await?;
            builder = builder.with_metadata(metadata)?;
        }
        if let Some(url) = &entry.authorization_endpoint {
            builder = builder.authorization(url)?;
        }
        if let Some(url) = &entry.token_endpoint {
            builder = builder.token(url)?;
        }
        if let Some(url) = &entry.userinfo_endpoint {
            builder = builder.userinfo(url)?;
        }
        if let Some(url) = &entry.premiuminfo_endpoint {
            builder = builder.premiuminfo(url)?;
        }
        if let Some(url) = &entry.jwks_uri {
            builder = builder.jwks(url)?;
        }
        if let Some(url) = &entry.backchannel_authentication_endpoint {
            builder = builder.backchannel_authentication(url)?;
        }
        if let Some(profile) = entry.profile {
            builder = builder.profile(profile.into());
        }
        Ok(builder.build()?)
    }

    /// The context for a discovery answer: the registry entry of the operator it names (by
    /// id), else one built from the answer (with the operator's metadata), cached until the
    /// answer's `ttl`.
    async fn discovered_operator(
        &self,
        answer: &DiscoveryAnswer,
    ) -> Result<Discovered, ServiceError> {
        let id = answer
            .serving_operator
            .clone()
            .ok_or(ServiceError::NoOperator {
                reason: "the discovery answer names no serving_operator",
            })?;
        if self.inner.config.operators.contains_key(&id) {
            return self.operator(&id).await;
        }
        if let Some(op) = self.cached(&id) {
            return Ok(op);
        }
        let config = OperatorConfig::from_discovery(answer, id, &self.inner.config.redirect_uri)?
            .allow_plain_http(self.inner.config.allow_plain_http);
        let metadata = self.exchange(config.metadata_exchange()?).await?;
        let operator = config.with_metadata(metadata)?.build()?;
        self.cache(&operator, answer.expires_at);
        Ok(operator)
    }

    async fn discover(&self, query: DiscoveryQuery) -> Result<DiscoveryOutcome, ServiceError> {
        let service = self
            .inner
            .discovery
            .as_ref()
            .ok_or(ServiceError::NoOperator {
                reason: "no discovery service is configured",
            })?;
        Ok(self
            .exchange(service.discover(&query, &mut OsEntropy)?)
            .await?)
    }

    /// Start a browser login. See [`LoginRequest`] for who is logged in where.
    ///
    /// # Errors
    /// [`ServiceError::Store`] when the pending login cannot be stored (nothing was started);
    /// [`ServiceError::NoOperator`] / [`ServiceError::UnknownOperator`]; the discovery or
    /// metadata exchange's error.
    pub async fn start(&self, request: LoginRequest) -> Result<LoginStart, ServiceError> {
        let span = login_span("start", request.operator.as_deref());
        self.start_inner(request, &span)
            .instrument(span.clone())
            .await
            .record_in(&span)
    }

    async fn start_inner(
        &self,
        request: LoginRequest,
        span: &tracing::Span,
    ) -> Result<LoginStart, ServiceError> {
        let levels = request.acr_values.clone();
        match (&request.target, &request.operator) {
            (Target::StepUp(pcr), Some(id)) => {
                let operator = self.operator(id).await?;
                let hint = Some(LoginHint::Pcr(pcr.clone()));
                self.authorize(&operator, hint, levels, Some(pcr.clone()), span)
                    .await
            }
            (Target::Msisdn(msisdn), Some(id)) => {
                let operator = self.operator(id).await?;
                let hint = Some(LoginHint::Msisdn(msisdn.clone()));
                self.authorize(&operator, hint, levels, None, span).await
            }
            (Target::Operator, Some(id)) => {
                let operator = self.operator(id).await?;
                self.authorize(&operator, None, levels, None, span).await
            }
            (Target::Msisdn(msisdn), None) if self.inner.discovery.is_none() => {
                let id = self.only_operator()?;
                let operator = self.operator(&id).await?;
                let hint = Some(LoginHint::Msisdn(msisdn.clone()));
                self.authorize(&operator, hint, levels, None, span).await
            }
            (Target::Msisdn(msisdn), None) => {
                let query = DiscoveryQuery::msisdn(msisdn.clone());
                let outcome = self.discover(with_ip(query, &request)).await?;
                self.after_discovery(outcome, levels, span).await
            }
            (Target::Selection, _) => {
                let query = DiscoveryQuery::by_ip_or_selection();
                let outcome = self.discover(with_ip(query, &request)).await?;
                self.after_discovery(outcome, levels, span).await
            }
            (Target::Operator | Target::StepUp(_), None) => Err(ServiceError::NoOperator {
                reason: "the login names no operator",
            }),
        }
    }

    /// The registry operator whose `mcc_mnc` setting names this network, if any.
    fn registry_id_for(&self, mcc_mnc: Option<&MccMnc>) -> Option<String> {
        let wanted = mcc_mnc?.to_string();
        self.inner
            .config
            .operators
            .iter()
            .find(|(_, entry)| entry.mcc_mnc.as_deref() == Some(wanted.as_str()))
            .map(|(id, _)| id.clone())
    }

    /// Run one exchange through the client, its future on the heap: the service's own futures
    /// then stay a few hundred bytes (a web host moves them: spawn, select, instrument), where
    /// holding each exchange inline made them about 10 KB, copied at every move.
    async fn exchange<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, crate::Error>
    where
        E: mc_core::Exchange,
        E::Output: Outcome,
    {
        Box::pin(self.inner.client.execute(exchange)).await
    }

    fn only_operator(&self) -> Result<String, ServiceError> {
        let mut ids = self.inner.config.operators.keys();
        match (ids.next(), ids.next()) {
            (Some(id), None) => Ok(id.clone()),
            _ => Err(ServiceError::NoOperator {
                reason: "no discovery service, and not exactly one operator in the registry",
            }),
        }
    }

    async fn after_discovery(
        &self,
        outcome: DiscoveryOutcome,
        acr_values: Option<Vec<u8>>,
        span: &tracing::Span,
    ) -> Result<LoginStart, ServiceError> {
        match outcome {
            DiscoveryOutcome::Found(answer) => {
                let operator = self.discovered_operator(&answer).await?;
                let hint = answer.subscriber_id.clone().map(LoginHint::EncryptedMsisdn);
                self.authorize(&operator, hint, acr_values, None, span)
                    .await
            }
            DiscoveryOutcome::OperatorSelection { url, leg } => {
                let pending = Pending::Selection { leg, acr_values };
                let login_id = self.keep(&pending, self.timeout()).await?;
                Ok(LoginStart {
                    redirect: url,
                    login_id,
                    expires_in: self.timeout(),
                })
            }
            _ => Err(ServiceError::NoOperator {
                reason: "the discovery service answered with an outcome this service does not know",
            }),
        }
    }

    async fn authorize(
        &self,
        operator: &Discovered,
        hint: Option<LoginHint>,
        acr_values: Option<Vec<u8>>,
        expect_sub: Option<String>,
        span: &tracing::Span,
    ) -> Result<LoginStart, ServiceError> {
        span.record("operator", operator.id());
        let mut options = self.options(operator.id(), acr_values)?;
        if let Some(hint) = hint {
            options = options.login_hint(hint);
        }
        let (redirect, flow) = operator.authorize(options, &mut OsEntropy, now())?;
        let login_id = self
            .keep(&Pending::Browser { flow, expect_sub }, self.timeout())
            .await?;
        Ok(LoginStart {
            redirect: redirect.url().clone(),
            login_id,
            expires_in: self.timeout(),
        })
    }

    /// The authorization options of the configuration for this operator.
    fn options(
        &self,
        operator: &str,
        acr_values: Option<Vec<u8>>,
    ) -> Result<AuthorizeOptions, ServiceError> {
        let auth = self.auth_for(operator);
        let mut options = AuthorizeOptions::new();
        if let Some(scope) = &auth.scope {
            options = options.scope(scope.split_whitespace().filter(|s| *s != "openid"));
        }
        if let Some(levels) = acr_values.or(auth.levels()?) {
            options = options.acr_values(levels);
        }
        if let Some(v) = auth.version {
            options = options.version(v);
        }
        if let Some(v) = auth.client_name {
            options = options.client_name(v);
        }
        if let Some(v) = auth.context {
            options = options.context(v);
        }
        if let Some(v) = auth.binding_message {
            options = options.binding_message(v);
        }
        Ok(options)
    }

    fn auth_for(&self, operator: &str) -> AuthConfig {
        let config = &self.inner.config;
        match config.operators.get(operator) {
            Some(entry) => config.auth.overridden_by(&entry.auth),
            None => config.auth.clone(),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.inner.config.login_timeout_secs)
    }

    /// Store a pending login under a fresh id.
    async fn keep(&self, pending: &Pending, ttl: Duration) -> Result<LoginId, ServiceError> {
        let login_id = LoginId::random();
        self.put(&login_id, pending, ttl).await?;
        Ok(login_id)
    }

    async fn put(
        &self,
        login_id: &LoginId,
        pending: &Pending,
        ttl: Duration,
    ) -> Result<(), ServiceError> {
        let bytes = serde_json::to_vec(pending).map_err(|_| ServiceError::CorruptState)?;
        self.inner.store.put(login_id, bytes, ttl).await?;
        Ok(())
    }

    async fn take(&self, login_id: &LoginId) -> Result<Pending, ServiceError> {
        let bytes = self
            .inner
            .store
            .take(login_id)
            .await?
            .ok_or(ServiceError::UnknownLogin)?;
        serde_json::from_slice(&bytes).map_err(|_| ServiceError::CorruptState)
    }

    /// Finish a browser login: the browser's callback query (the redirect URI's query string,
    /// or the whole URL) and the login id from its cookie. The pending login is taken out of the
    /// store first, whatever follows: a second callback with the same id is
    /// [`ServiceError::UnknownLogin`].
    ///
    /// # Errors
    /// [`ServiceError::UnknownLogin`] (never started, replayed, expired); the callback's,
    /// token exchange's or userinfo's error (the operator's refusal such as `access_denied`
    /// is [`crate::Error::Core`] with [`mc_core::Error::Refused`]); [`ServiceError::SubjectMismatch`]
    /// for a step-up that authenticated someone else; [`ServiceError::Store`].
    pub async fn finish(&self, login_id: &LoginId, query: &str) -> Result<Finish, ServiceError> {
        let span = login_span("finish", None);
        self.finish_inner(login_id, query, &span)
            .instrument(span.clone())
            .await
            .record_in(&span)
    }

    async fn finish_inner(
        &self,
        login_id: &LoginId,
        query: &str,
        span: &tracing::Span,
    ) -> Result<Finish, ServiceError> {
        match self.take(login_id).await? {
            Pending::Browser { flow, expect_sub } => {
                span.record("operator", flow.operator_id());
                let operator = self.operator(flow.operator_id()).await?;
                let code = flow.callback(&operator, query, now())?;
                let tokens = self
                    .exchange(code.token_exchange(&operator, now())?)
                    .await?;
                if expect_sub.is_some_and(|sub| sub != tokens.sub()) {
                    return Err(ServiceError::SubjectMismatch);
                }
                let logged_in = self.identify(&operator, tokens).await?;
                Ok(Finish::LoggedIn(Box::new(logged_in)))
            }
            Pending::Selection { leg, acr_values } => {
                let chosen = SelectionReturn::parse(query, leg, now())?;
                let Some(query) = chosen.discovery_query() else {
                    return Err(ServiceError::NoOperator {
                        reason: "the selection page returned no operator",
                    });
                };
                if let Some(id) = self.registry_id_for(chosen.mcc_mnc.as_ref()) {
                    // The operator picked is one of the registry's: no second discovery call.
                    let operator = self.operator(&id).await?;
                    let hint = chosen.subscriber_id.map(LoginHint::EncryptedMsisdn);
                    let start = self
                        .authorize(&operator, hint, acr_values, None, span)
                        .await?;
                    return Ok(Finish::Redirect(start));
                }
                let outcome = self.discover(query).await?;
                let start = match outcome {
                    DiscoveryOutcome::Found(mut answer) => {
                        if answer.subscriber_id.is_none() {
                            answer.subscriber_id = chosen.subscriber_id;
                        }
                        let operator = self.discovered_operator(&answer).await?;
                        let hint = answer.subscriber_id.clone().map(LoginHint::EncryptedMsisdn);
                        self.authorize(&operator, hint, acr_values, None, span)
                            .await?
                    }
                    other => self.after_discovery(other, acr_values, span).await?,
                };
                Ok(Finish::Redirect(start))
            }
            Pending::Backchannel { .. } => Err(ServiceError::WrongKind {
                expected: "browser login",
            }),
        }
    }

    /// The identity from the verified tokens, with the userinfo answer when the operator has
    /// a userinfo endpoint.
    async fn identify(
        &self,
        operator: &Discovered,
        tokens: Tokens,
    ) -> Result<LoggedIn, ServiceError> {
        let userinfo = if operator.endpoints().userinfo.is_some() {
            let answer = self.exchange(tokens.userinfo(operator)?).await?;
            answer.claims().clone()
        } else {
            serde_json::Map::new()
        };
        let id = tokens.id_token();
        let identity = Identity {
            operator: operator.id().to_owned(),
            pcr: tokens.sub().to_owned(),
            acr: id.acr().map(str::to_owned),
            amr: id.amr().to_vec(),
            auth_time: id.claim("auth_time").and_then(|v| v.as_u64()),
            phone_number: userinfo
                .get("phone_number")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            userinfo,
        };
        Ok(LoggedIn { identity, tokens })
    }

    /// Start a server-initiated login (OpenID CIBA, poll mode; the operator needs a
    /// backchannel authentication endpoint): the handset asks the user, no browser goes
    /// anywhere. The request is a [`LoginRequest::msisdn`]; the operator is the one it names
    /// ([`LoginRequest::at_operator`]), else the discovery service's answer for the number,
    /// else the registry's only operator. The pending login is stored like a browser login's;
    /// ask [`LoginService::check_server_initiated`] with the returned id until it is done.
    ///
    /// # Errors
    /// As [`LoginService::start`]; the operator's refusal of the start (`unknown_user_id`, ...).
    pub async fn start_server_initiated(
        &self,
        request: LoginRequest,
    ) -> Result<LoginId, ServiceError> {
        let span = login_span("si_start", request.operator.as_deref());
        async {
            let pending = self.backchannel_start(&request, &span).await?;
            let ttl = remaining(&pending);
            self.keep(&Pending::Backchannel { pending }, ttl).await
        }
        .instrument(span.clone())
        .await
        .record_in(&span)
    }

    async fn backchannel_start(
        &self,
        request: &LoginRequest,
        span: &tracing::Span,
    ) -> Result<BackchannelPending, ServiceError> {
        let Target::Msisdn(msisdn) = &request.target else {
            return Err(ServiceError::NoOperator {
                reason: "a server-initiated login needs a phone number",
            });
        };
        let operator = match &request.operator {
            Some(id) => self.operator(id).await?,
            None if self.inner.discovery.is_some() => {
                let query = with_ip(DiscoveryQuery::msisdn(msisdn.clone()), request);
                match self.discover(query).await? {
                    DiscoveryOutcome::Found(answer) => self.discovered_operator(&answer).await?,
                    _ => {
                        return Err(ServiceError::NoOperator {
                            reason: "discovery did not name the operator serving this number",
                        });
                    }
                }
            }
            None => self.operator(&self.only_operator()?).await?,
        };
        let id = operator.id().to_owned();
        span.record("operator", operator.id());
        let auth = self.auth_for(&id);
        let mut ciba = CibaRequest::new(CibaLoginHint::Phone(msisdn.clone()));
        if let Some(scope) = &auth.scope {
            ciba = ciba.scope(scope.split_whitespace().filter(|s| *s != "openid"));
        }
        if let Some(levels) = request.acr_values.clone().or(auth.levels()?) {
            ciba = ciba.acr_values(levels);
        }
        if let Some(v) = auth.binding_message {
            ciba = ciba.binding_message(v);
        }
        Ok(self
            .exchange(operator.ciba_authorize(ciba, &mut OsEntropy, now())?)
            .await?)
    }

    /// Where a server-initiated login stands: polls the operator once when a poll is due
    /// (never earlier than the core allows), and keeps the login's new state in the store.
    /// Any instance sharing the store can answer. The state is taken out for the poll and put
    /// back after it, so a second check of the same login at the same moment is
    /// [`ServiceError::UnknownLogin`] (one waiting page per login).
    ///
    /// # Errors
    /// [`ServiceError::UnknownLogin`] once the login has finished or expired; the operator's
    /// refusal (`access_denied` when the user declined, `expired_token`); the id_token's
    /// rejection; [`ServiceError::Store`].
    pub async fn check_server_initiated(
        &self,
        login_id: &LoginId,
    ) -> Result<SiStatus, ServiceError> {
        let span = login_span("si_check", None);
        self.check_inner(login_id, &span)
            .instrument(span.clone())
            .await
            .record_in(&span)
    }

    async fn check_inner(
        &self,
        login_id: &LoginId,
        span: &tracing::Span,
    ) -> Result<SiStatus, ServiceError> {
        let Pending::Backchannel { pending } = self.take(login_id).await? else {
            return Err(ServiceError::WrongKind {
                expected: "server-initiated login",
            });
        };
        span.record("operator", pending.operator_id());
        let operator = self.operator(pending.operator_id()).await?;
        let at = now();
        pending.check_not_expired(at)?;
        let pending = if at < pending.next_poll_at() {
            pending
        } else {
            let exchange = pending.poll(&operator, &mut OsEntropy, at)?;
            match self.exchange(exchange).await? {
                Poll::Tokens(tokens) => {
                    let logged_in = self.identify(&operator, tokens).await?;
                    return Ok(SiStatus::LoggedIn(Box::new(logged_in)));
                }
                Poll::Pending(next) => next,
            }
        };
        let retry_after = Duration::from_secs(
            pending
                .next_poll_at()
                .as_secs()
                .saturating_sub(now().as_secs()),
        )
        .max(Duration::from_secs(1));
        let ttl = remaining(&pending);
        self.put(login_id, &Pending::Backchannel { pending }, ttl)
            .await?;
        Ok(SiStatus::Waiting { retry_after })
    }

    /// A whole server-initiated login in one call: start it and poll until the handset
    /// answered (cancel by dropping the future). Nothing is stored.
    ///
    /// # Errors
    /// As [`LoginService::start_server_initiated`] and [`Client::poll_for_tokens`].
    pub async fn server_initiated(&self, request: LoginRequest) -> Result<LoggedIn, ServiceError> {
        let span = login_span("si_login", request.operator.as_deref());
        async {
            let pending = self.backchannel_start(&request, &span).await?;
            let operator = self.operator(pending.operator_id()).await?;
            let tokens = self
                .inner
                .client
                .poll_for_tokens(&operator, pending)
                .await?;
            self.identify(&operator, tokens).await
        }
        .instrument(span.clone())
        .await
        .record_in(&span)
    }
}

/// The discovery query with the browser's IP, if the request has it.
fn with_ip(query: DiscoveryQuery, request: &LoginRequest) -> DiscoveryQuery {
    match &request.source_ip {
        Some(ip) => query.source_ip(ip.clone()),
        None => query,
    }
}

/// What is left of a server-initiated login's life, as a store TTL (at least a second).
fn remaining(pending: &BackchannelPending) -> Duration {
    Duration::from_secs(
        pending
            .expires_at()
            .as_secs()
            .saturating_sub(now().as_secs())
            .max(1),
    )
}

/// The `mc_login` span of one service call: the operator (recorded once known), the step and
/// the outcome class; never a login id, a token or a phone number. The call hands this span down
/// to where the operator becomes known, rather than recording on `Span::current()`: a
/// subscriber need not track the current span (the default `Subscriber::current_span` does
/// not), and the operator would then be lost.
fn login_span(step: &'static str, operator: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "mc_login",
        operator = tracing::field::Empty,
        step,
        outcome = tracing::field::Empty
    );
    if let Some(operator) = operator {
        span.record("operator", operator);
    }
    span
}

/// Records a call's outcome class in its span.
trait RecordIn {
    fn record_in(self, span: &tracing::Span) -> Self;
}

impl<T> RecordIn for Result<T, ServiceError> {
    fn record_in(self, span: &tracing::Span) -> Self {
        span.record(
            "outcome",
            self.as_ref().map_or_else(ServiceError::class, |_| "ok"),
        );
        self
    }
}

/// The store a configuration names.
async fn store_from_config(config: &StoreConfig) -> Result<Arc<dyn LoginStore>, ServiceError> {
    match &config.redis_url {
        #[cfg(feature = "redis")]
        Some(url) => Ok(Arc::new(
            store::RedisStore::connect(url, config.redis_prefix.as_deref()).await?,
        )),
        #[cfg(not(feature = "redis"))]
        Some(_) => Err(ServiceError::config(
            "store.redis_url needs mc-io-tokio's `redis` feature",
        )),
        None => Ok(Arc::new(MemoryStore::new(
            config
                .memory_capacity
                .unwrap_or(store::DEFAULT_MEMORY_CAPACITY),
        ))),
    }
}
