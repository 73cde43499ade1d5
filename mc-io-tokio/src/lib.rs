//! Executes [mc_core] Mobile Connect exchanges over HTTP with reqwest (rustls) on tokio.
//! It only moves bytes, reads the clock and draws OS randomness: every protocol decision stays in
//! the core.
//!
//! One [`Client::execute`] call per step, the operator's key refetch included. The same shape as
//! `mc-io-blocking` (constructors, [`Config`], [`Error`], `execute`, `send`), with `.await`. The
//! operator context ([`mc_core::Discovered`]) is `Send + Sync` and cheap to clone: a web host
//! keeps one per operator in its shared state and hands it to every request; logins never wait on
//! each other, and logins paused by one key rotation fetch the keys once.
//!
//! Server-initiated logins (Mobile Connect SI, OpenID CIBA; no browser): the core starts them
//! and judges every answer; [`Client::poll_for_tokens`] runs the poll loop (cancelled by
//! dropping it), and a [`NotificationInbox`] is the SP's notification endpoint on any web
//! framework (the host's handler hands each inbound request over and returns the response).
//!
//! # Transport security
//! Requests go out over https only; plain `http://` only to a loopback address (127.0.0.0/8,
//! `::1`, where a sandbox runs), unless [`Config::allow_plain_http`] is set
//! ([`Error::SchemeRefused`] otherwise, before anything is sent).
//!
//! Server certificates are verified by the platform's verifier
//! ([rustls-platform-verifier](https://docs.rs/rustls-platform-verifier)), the same policy as
//! `mc-io-blocking`: the operating system's trust store (on Linux the system CA bundle, which
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` can replace; on macOS and Windows the system verifier,
//! with its revocation checks). One root store for both adapters, so that switching adapters
//! never changes which operators a host can reach, and the one the host's administrators
//! already manage: a CA the OS distrusts is distrusted here with the next OS update, without
//! rebuilding. A host without a system trust store (a bare container) cannot build a
//! [`Client`] ([`Error::Setup`]): install the CA certificates package.
//!
//! A whole login against the loopback sandbox operator (package `mc-sandbox`; its simulated
//! handset approves the number):
//!
//! ```
//! use mc_core::{AuthorizeOptions, LoginHint, Msisdn};
//! use mc_io_tokio::{Client, OsEntropy, now};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = mc_sandbox::SandboxServer::start()?;
//! # let sandbox = server.sandbox();
//! # let (issuer, secret) = (sandbox.issuer("alpha"), sandbox.client_secret("alpha").unwrap_or_default());
//! # let operator = mc_core::OperatorConfig::new(mc_core::Registration {
//! #     operator_id: "alpha".into(),
//! #     client_id: "alpha-client-id".into(),
//! #     client_secret: mc_core::ClientSecret::new(secret),
//! #     redirect_uri: "https://sp.example/callback".into(),
//! # })?
//! # .issuer(issuer.clone())
//! # .authorization(&format!("{issuer}/authorize"))?
//! # .token(&format!("{issuer}/token"))?
//! # .jwks(&format!("{issuer}/jwks"))?
//! # .userinfo(&format!("{issuer}/userinfo"))?
//! # .build()?;
//! # let runtime = tokio::runtime::Runtime::new()?;
//! # runtime.block_on(async {
//! let client = Client::new()?;
//! // `operator`: the context for operator "alpha", built once at startup from its registry entry
//! // (`OperatorConfig::...build()`) and shared by every request.
//! let hint = LoginHint::Msisdn(Msisdn::new("447700900001"));
//! let (redirect, flow) =
//!     operator.authorize(AuthorizeOptions::new().login_hint(hint), &mut OsEntropy, now())?;
//!
//! // The browser's visit to the operator (a web host answers 302 instead): the handset
//! // approves and the operator redirects back to the SP's redirect URI.
//! let visit = http::Request::get(redirect.as_str()).body(Vec::new())?;
//! let back = client.send(visit).await?;
//! let location = back.headers()[http::header::LOCATION].to_str()?;
//! let query = url::Url::parse(location)?.query().unwrap_or_default().to_owned();
//!
//! let code = flow.callback(&operator, &query, now())?;
//! let tokens = client.execute(code.token_exchange(&operator, now())?).await?; // + JWKS
//! let userinfo = client.execute(tokens.userinfo(&operator)?).await?;
//! assert_eq!(userinfo.sub(), tokens.sub());
//! assert_eq!(userinfo.phone_number(), Some("+447700900001"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mc_core::{Endpoint, Entropy, Exchange, KeyRefetch, Outcome, UnixTime, Verified};
use tracing::Instrument as _;

pub use mc_core;

#[cfg(feature = "axum")]
pub mod axum;
mod server_initiated;
pub mod service;

pub use server_initiated::{NotificationInbox, Waiter};
pub use service::{
    Finish, Identity, LoggedIn, LoginId, LoginRequest, LoginService, LoginStart, LoginStore,
    MemoryStore, ServiceConfig, ServiceError, SiStatus, StoreError,
};

// The README's sections on server-initiated login and on the login service run as doctests of
// this crate (`build.rs`).
#[cfg(doctest)]
#[doc = include_str!(concat!(env!("OUT_DIR"), "/readme_sections.md"))]
struct ReadmeSections;

/// How the [`Client`] talks HTTP: total timeout and body cap (shared with the other adapter).
pub use mc_core::TransportConfig as Config;

/// Everything that can go wrong while running an exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The core rejected the response (or the host misused it).
    #[error(transparent)]
    Core(#[from] mc_core::Error),
    /// The request did not complete within the configured total timeout.
    #[error("{endpoint} did not answer within {after:?}")]
    Timeout {
        /// The endpoint called.
        endpoint: Endpoint,
        /// The configured timeout.
        after: Duration,
    },
    /// The response body is larger than the configured cap (nothing beyond it was read).
    #[error("{endpoint} response body exceeds the {limit}-byte cap")]
    BodyTooLarge {
        /// The endpoint called.
        endpoint: Endpoint,
        /// The configured cap.
        limit: usize,
    },
    /// Connecting, TLS or I/O failed.
    #[error("transport failure at {endpoint}: {reason}")]
    Transport {
        /// The endpoint called.
        endpoint: Endpoint,
        /// What failed; never holds a URL, header or body.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {reason}")]
    Setup {
        /// Why.
        reason: String,
    },
    /// The request's URL is not `https` (nor plain `http` to a loopback address, nor plain
    /// `http` with [`Config::allow_plain_http`]); nothing was sent.
    #[error("{endpoint} request to a {scheme}:// URL refused: https only (or loopback)")]
    SchemeRefused {
        /// The endpoint called ([`Endpoint::Authorization`] for a raw [`Client::send`]).
        endpoint: Endpoint,
        /// The URL's scheme (empty when it has none).
        scheme: String,
    },
}

impl Error {
    /// The outcome class named in tracing spans: the core's [`mc_core::ErrorClass`], or
    /// `transport` for the network's failures (a body over the cap counts as misbehaving).
    #[must_use]
    pub fn class(&self) -> &'static str {
        match self {
            Self::Core(e) => e.class().as_str(),
            Self::BodyTooLarge { .. } => "misbehaving",
            Self::Setup { .. } | Self::SchemeRefused { .. } => "misuse",
            Self::Timeout { .. } | Self::Transport { .. } => "transport",
        }
    }
}

/// One turn per JWKS URL, so that logins paused by the same key rotation fetch the keys once.
type RefetchLocks = Arc<Mutex<BTreeMap<String, Arc<RefetchTurn>>>>;

/// Refetches of one JWKS URL run one at a time; `attempts` counts the finished ones, so that a
/// login that waited while another's refetch failed gives up instead of trying again.
#[derive(Debug, Default)]
struct RefetchTurn {
    lock: tokio::sync::Mutex<()>,
    attempts: AtomicU64,
}

/// An HTTP client that runs exchanges: one connection pool, no redirects, no proxies, no retries,
/// https only (plain `http` to loopback addresses, or when configured), TLS with rustls and the
/// platform's certificate verifier (see the crate docs). Cheap to clone; clones share the pool
/// and the key-refetch coordination.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    config: Config,
    refetches: RefetchLocks,
}

impl Client {
    /// A client with [`Config::default`].
    ///
    /// # Errors
    /// [`Error::Setup`] when the TLS stack cannot be initialised.
    pub fn new() -> Result<Self, Error> {
        Self::with_config(Config::default())
    }

    /// A client with the given configuration.
    ///
    /// # Errors
    /// [`Error::Setup`] when the TLS stack cannot be initialised.
    pub fn with_config(config: Config) -> Result<Self, Error> {
        // reqwest's rustls backend verifies with rustls-platform-verifier when no root is
        // added: the same policy as mc-io-blocking. Add no roots here (`tls_certs_only` would
        // switch to a root store of its own).
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .retry(reqwest::retry::never())
            .timeout(config.timeout)
            .user_agent(concat!("mc-io-tokio/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Setup {
                reason: describe(&e),
            })?;
        Ok(Self {
            http,
            config,
            refetches: RefetchLocks::default(),
        })
    }

    /// The settings of this client.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Send one raw request (no redirects followed, 4xx/5xx returned as responses, body read up
    /// to the cap).
    ///
    /// Method, URI, headers (sensitive ones included) and body go out unchanged. A raw request
    /// belongs to no exchange, so its errors name [`Endpoint::Authorization`], the one endpoint
    /// reached without one (the browser's redirect); use [`Client::execute`] for the other steps.
    ///
    /// # Errors
    /// [`Error::SchemeRefused`], [`Error::Timeout`], [`Error::BodyTooLarge`] or
    /// [`Error::Transport`].
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        self.fetch(Endpoint::Authorization, request).await
    }

    /// Run one step to its end: send the exchange's request, hand the response to the core with
    /// the current time, and when the core pauses for the operator's keys
    /// ([`Verified::NeedJwks`]), run that refetch too. Concurrent logins paused by the same key
    /// rotation fetch the keys once: refetches for one JWKS URL run one at a time, and each first
    /// checks whether another already stored newer keys.
    ///
    /// Each call leaves a `mc_exchange` span with the step, the operator id and the outcome
    /// class (`ok`, `refused`, `misbehaving`, `misuse`, `transport`); never a secret.
    ///
    /// # Errors
    /// Transport errors as [`Client::send`] (naming the exchange's endpoint), or the core's
    /// verdict as [`Error::Core`].
    pub async fn execute<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, Error>
    where
        E: Exchange,
        E::Output: Outcome,
    {
        let span = exchange_span(exchange.endpoint(), exchange.operator_id());
        traced(span, async {
            match self.run(exchange).await?.into_verified() {
                Verified::Done(value) => Ok(value),
                // On the heap: the rare key refetch would otherwise set the size of every
                // execute future (each move of which copies it), refetch or not.
                Verified::NeedJwks(refetch) => Box::pin(self.refetch(refetch)).await,
            }
        })
        .await
    }

    /// Finish a step that paused for the operator's keys outside an exchange (a notification's
    /// id_token), in the same `mc_exchange` span and under the same one-refetch-per-rotation
    /// rule as [`Client::execute`].
    async fn finish<T>(&self, verified: Verified<T>) -> Result<T, Error> {
        match verified {
            Verified::Done(value) => Ok(value),
            Verified::NeedJwks(refetch) => {
                let span = exchange_span(refetch.endpoint(), refetch.operator_id());
                traced(span, self.refetch(refetch)).await
            }
        }
    }

    /// The key refetch, one at a time per JWKS URL: a login that waited finishes against keys
    /// another stored meanwhile, or fails at once when the refetch it waited for failed.
    async fn refetch<T>(&self, refetch: KeyRefetch<T>) -> Result<T, Error> {
        let turn = {
            let mut turns = self
                .refetches
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(turns.entry(refetch.jwks_uri().to_string()).or_default())
        };
        let seen = turn.attempts.load(Ordering::Acquire);
        let _turn = turn.lock.lock().await;
        match refetch.with_newer_keys(now())? {
            Verified::Done(value) => Ok(value),
            Verified::NeedJwks(refetch) if turn.attempts.load(Ordering::Acquire) != seen => {
                Err(refetch.into_error().into())
            }
            Verified::NeedJwks(refetch) => {
                let outcome = self.run(refetch).await;
                // Counted once finished, so that the logins that waited for it see it.
                turn.attempts.fetch_add(1, Ordering::AcqRel);
                outcome
            }
        }
    }

    /// Send one exchange's request and hand the response to the core.
    async fn run<E: Exchange>(&self, exchange: E) -> Result<E::Output, Error> {
        let endpoint = exchange.endpoint();
        let response = self
            .fetch(endpoint, exchange.request())
            .instrument(tracing::debug_span!("http", step = endpoint.as_str()))
            .await?;
        Ok(exchange.respond(response, now())?)
    }

    /// Send `request` and read the whole response, labelling failures with `endpoint`.
    async fn fetch(
        &self,
        endpoint: Endpoint,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        if !self.config.permits(request.uri()) {
            tracing::debug!("request scheme refused");
            return Err(Error::SchemeRefused {
                endpoint,
                scheme: request.uri().scheme_str().unwrap_or_default().to_owned(),
            });
        }
        let limit = self.config.body_limit;
        let transport = |e: reqwest::Error| self.transport(endpoint, &e);
        let request = reqwest::Request::try_from(request).map_err(transport)?;
        let mut response = self.http.execute(request).await.map_err(transport)?;
        let status = response.status();
        tracing::debug!(status = status.as_u16(), "response received");

        // The announced length is checked before anything is read; the actual length while
        // reading (chunked bodies, or a server that lies).
        let too_large = || {
            tracing::debug!(limit, "response body too large");
            Error::BodyTooLarge { endpoint, limit }
        };
        let announced = response.content_length().unwrap_or(0);
        if usize::try_from(announced).map_or(true, |n| n > limit) {
            return Err(too_large());
        }
        let headers = std::mem::take(response.headers_mut());
        let version = response.version();
        let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0).min(64 * 1024));
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if chunk.len() > limit.saturating_sub(body.len()) {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }

        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.version_mut() = version;
        *out.headers_mut() = headers;
        Ok(out)
    }

    fn transport(&self, endpoint: Endpoint, error: &reqwest::Error) -> Error {
        if error.is_timeout() {
            tracing::debug!("request timed out");
            Error::Timeout {
                endpoint,
                after: self.config.timeout,
            }
        } else {
            let reason = describe(error);
            tracing::debug!(%reason, "transport failed");
            Error::Transport { endpoint, reason }
        }
    }
}

/// The span of one step: its name, the operator, and the outcome once known (never a secret).
fn exchange_span(step: Endpoint, operator: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        "mc_exchange",
        step = step.as_str(),
        operator = operator.unwrap_or(""),
        outcome = tracing::field::Empty,
    )
}

/// Run `work` in `span` and record its outcome class there.
async fn traced<T>(
    span: tracing::Span,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let result = work.instrument(span.clone()).await;
    span.record(
        "outcome",
        result.as_ref().map_or_else(Error::class, |_| "ok"),
    );
    result
}

/// A reqwest error and its causes, without the URL (its query may carry secrets).
fn describe(error: &reqwest::Error) -> String {
    let mut reason = String::new();
    // reqwest's own message would name the URL; its kind and the causes name none.
    let kind = if error.is_connect() {
        "connect error"
    } else if error.is_body() || error.is_decode() {
        "error reading the response body"
    } else if error.is_builder() {
        "invalid request"
    } else if error.is_request() {
        "error sending the request"
    } else {
        "HTTP error"
    };
    reason.push_str(kind);
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(reason, ": {cause}");
        source = cause.source();
    }
    reason
}

/// The system clock as a [`UnixTime`]; a clock set before 1970 reads as the epoch, which makes
/// every token look issued in the future (rejected, never accepted).
#[must_use]
pub fn now() -> UnixTime {
    UnixTime::from_secs(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// The operating system's CSPRNG (`getrandom`), for `state`, `nonce` and PKCE verifiers.
///
/// An OS that cannot supply entropy cannot run a login safely: filling then panics instead of
/// handing out predictable values.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        // The one allowed panic: without OS randomness, state/nonce/PKCE would be guessable, and
        // `Entropy::fill` has no error path.
        getrandom::fill(dest).expect("the operating system's random number generator failed");
    }
}
