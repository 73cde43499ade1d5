//! Executes [`mc_core`] Mobile Connect exchanges over blocking HTTP (ureq with rustls).
//! It only moves bytes, reads the clock and draws OS randomness: every decision stays in the core.
//!
//! One [`Client::execute`] call per step, the operator's key refetch included. The same shape as
//! `mc-io-tokio` (constructors, [`Config`], [`Error`], `execute`, `send`, `poll_for_tokens`),
//! without `.await`. Server-initiated logins that poll (Mobile Connect SI polling mode, OpenID
//! CIBA poll mode) run to their end with [`Client::poll_for_tokens`].
//!
//! # Transport security
//! Requests go out over https only; plain `http://` only to a loopback address (127.0.0.0/8,
//! `::1`, where a sandbox runs), unless [`Config::allow_plain_http`] is set
//! ([`Error::SchemeRefused`] otherwise, before anything is sent).
//!
//! Server certificates are verified by the platform's verifier
//! ([rustls-platform-verifier](https://docs.rs/rustls-platform-verifier)), the same policy as
//! `mc-io-tokio`: the operating system's trust store (on Linux the system CA bundle, which
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` can replace; on macOS and Windows the system verifier,
//! with its revocation checks). One root store for both adapters, so that switching adapters
//! never changes which operators a host can reach, and the one the host's administrators
//! already manage: a CA the OS distrusts is distrusted here with the next OS update, without
//! rebuilding. A host without a system trust store (a bare container) reaches no https server
//! at all (fail closed): install the CA certificates package.
//!
//! A whole login against the loopback sandbox operator (package `mc-sandbox`; its simulated
//! handset approves the number):
//!
//! ```
//! use mc_core::{AuthorizeOptions, ClientSecret, LoginHint, Msisdn, OperatorConfig, Registration};
//! use mc_io_blocking::{Client, OsEntropy, now};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = mc_sandbox::SandboxServer::start()?;
//! # let sandbox = server.sandbox();
//! # let (issuer, secret) = (sandbox.issuer("alpha"), sandbox.client_secret("alpha").unwrap_or_default());
//! let client = Client::new()?;
//! // The operator context, built once and shared by every login, from the registry entry the
//! // operator handed out (here the sandbox's operator "alpha": credentials, issuer, endpoints).
//! let operator = OperatorConfig::new(Registration {
//!     operator_id: "alpha".into(),
//!     client_id: "alpha-client-id".into(),
//!     client_secret: ClientSecret::new(secret),
//!     redirect_uri: "https://sp.example/callback".into(),
//! })?
//! .issuer(issuer.clone())
//! .authorization(&format!("{issuer}/authorize"))?
//! .token(&format!("{issuer}/token"))?
//! .jwks(&format!("{issuer}/jwks"))?
//! .userinfo(&format!("{issuer}/userinfo"))?
//! .build()?;
//!
//! let hint = LoginHint::Msisdn(Msisdn::new("447700900001"));
//! let (redirect, flow) =
//!     operator.authorize(AuthorizeOptions::new().login_hint(hint), &mut OsEntropy, now())?;
//!
//! // The browser's visit to the operator (a web host answers 302 instead): the handset
//! // approves and the operator redirects back to the SP's redirect URI.
//! let visit = http::Request::get(redirect.as_str()).body(Vec::new())?;
//! let back = client.send(visit)?;
//! let location = back.headers()[http::header::LOCATION].to_str()?;
//! let query = url::Url::parse(location)?.query().unwrap_or_default().to_owned();
//!
//! let code = flow.callback(&operator, &query, now())?;
//! let tokens = client.execute(code.token_exchange(&operator, now())?)?; // fetches the JWKS
//! let userinfo = client.execute(tokens.userinfo(&operator)?)?;
//! assert_eq!(userinfo.sub(), tokens.sub());
//! assert_eq!(userinfo.phone_number(), Some("+447700900001"));
//! assert_eq!(tokens.id_token().acr(), Some("2"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response};
use mc_core::{Endpoint, Exchange, KeyRefetch, Outcome, UnixTime, Verified};

pub use mc_core;

mod server_initiated;

/// How the [`Client`] talks HTTP: total timeout and body cap (shared with the other adapter).
pub use mc_core::TransportConfig as Config;

/// What can go wrong while running an exchange: the core's verdict, or the transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The core's verdict on the response (refusal, protocol violation, rejected id_token, ...),
    /// or a misuse reported while building the step.
    #[error(transparent)]
    Core(#[from] mc_core::Error),
    /// The request did not complete within the configured total timeout.
    #[error("{endpoint} timed out after {after:?}")]
    Timeout {
        /// The step ([`Endpoint::Authorization`] for a raw [`Client::send`]).
        endpoint: Endpoint,
        /// The configured total timeout.
        after: Duration,
    },
    /// The response body is longer than the configured cap (detected while reading).
    #[error("{endpoint} response body exceeds the {limit}-byte bound")]
    BodyTooLarge {
        /// The step ([`Endpoint::Authorization`] for a raw [`Client::send`]).
        endpoint: Endpoint,
        /// The configured cap.
        limit: usize,
    },
    /// Connecting, TLS, or reading and writing the connection failed.
    #[error("{endpoint} transport failed: {reason}")]
    Transport {
        /// The step ([`Endpoint::Authorization`] for a raw [`Client::send`]).
        endpoint: Endpoint,
        /// What failed (never a header, body or URI).
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
        /// The step ([`Endpoint::Authorization`] for a raw [`Client::send`]).
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
    lock: Mutex<()>,
    attempts: AtomicU64,
}

/// A blocking HTTP executor of [`Exchange`]s; cheap to clone (clones share one connection pool).
///
/// It follows no redirect, hands 4xx and 5xx responses to the core (their bodies carry the
/// operator's OAuth error), never retries, ignores proxy environment variables, bounds every
/// request by a total timeout and every response body by a cap, refuses plain `http` except to
/// loopback addresses (unless configured), and speaks TLS with rustls and the platform's
/// certificate verifier (see the crate docs).
#[derive(Clone, Debug)]
pub struct Client {
    agent: ureq::Agent,
    config: Config,
    refetches: RefetchLocks,
}

impl Client {
    /// A client with [`Config::default`].
    ///
    /// # Errors
    /// [`Error::Setup`] when the HTTP client cannot be built (never with ureq today; the
    /// signature is the tokio adapter's, so that hosts switch adapters without edits).
    pub fn new() -> Result<Self, Error> {
        Self::with_config(Config::default())
    }

    /// A client with the given settings.
    ///
    /// # Errors
    /// As [`Client::new`].
    pub fn with_config(config: Config) -> Result<Self, Error> {
        // The platform's verifier, as in mc-io-tokio (reqwest's rustls default): one root store
        // policy for both adapters, never ureq's bundled webpki-roots.
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("mc-io-blocking/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Self {
            agent,
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
    pub fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        self.send_for(Endpoint::Authorization, request)
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
    /// The transport errors of [`Client::send`] (naming the step), or the core's verdict as
    /// [`Error::Core`].
    pub fn execute<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, Error>
    where
        E: Exchange,
        E::Output: Outcome,
    {
        let span = tracing::info_span!(
            "mc_exchange",
            step = exchange.endpoint().as_str(),
            operator = exchange.operator_id().unwrap_or(""),
            outcome = tracing::field::Empty,
        );
        let _entered = span.enter();
        let result = match self.run(exchange) {
            Ok(output) => match output.into_verified() {
                Verified::Done(value) => Ok(value),
                Verified::NeedJwks(refetch) => self.refetch(refetch),
            },
            Err(e) => Err(e),
        };
        span.record(
            "outcome",
            result.as_ref().map_or_else(Error::class, |_| "ok"),
        );
        result
    }

    /// The key refetch, one at a time per JWKS URL: a login that waited finishes against keys
    /// another stored meanwhile, or fails at once when the refetch it waited for failed.
    fn refetch<T>(&self, refetch: KeyRefetch<T>) -> Result<T, Error> {
        let turn = {
            let mut turns = self
                .refetches
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(turns.entry(refetch.jwks_uri().to_string()).or_default())
        };
        let seen = turn.attempts.load(Ordering::Acquire);
        let _turn = turn.lock.lock().unwrap_or_else(PoisonError::into_inner);
        match refetch.with_newer_keys(now())? {
            Verified::Done(value) => Ok(value),
            Verified::NeedJwks(refetch) if turn.attempts.load(Ordering::Acquire) != seen => {
                Err(refetch.into_error().into())
            }
            Verified::NeedJwks(refetch) => {
                let outcome = self.run(refetch);
                // Counted once finished, so that the logins that waited for it see it.
                turn.attempts.fetch_add(1, Ordering::AcqRel);
                outcome
            }
        }
    }

    /// Send one exchange's request and hand the response to the core.
    fn run<E: Exchange>(&self, exchange: E) -> Result<E::Output, Error> {
        let endpoint = exchange.endpoint();
        let response = {
            let _http = tracing::debug_span!("http", step = endpoint.as_str()).entered();
            self.send_for(endpoint, exchange.request())?
        };
        Ok(exchange.respond(response, now())?)
    }

    fn send_for(
        &self,
        endpoint: Endpoint,
        request: Request<Vec<u8>>,
    ) -> Result<Response<Vec<u8>>, Error> {
        if !self.config.permits(request.uri()) {
            tracing::debug!("request scheme refused");
            return Err(Error::SchemeRefused {
                endpoint,
                scheme: request.uri().scheme_str().unwrap_or_default().to_owned(),
            });
        }
        // A bodiless method goes out without a `Content-Length: 0`.
        let sent = if request.body().is_empty()
            && !matches!(
                *request.method(),
                Method::POST | Method::PUT | Method::PATCH
            ) {
            self.agent.run(request.map(|_| ()))
        } else {
            self.agent.run(request)
        };
        let response = sent.map_err(|e| self.transport_error(endpoint, e))?;
        tracing::debug!(status = response.status().as_u16(), "response received");
        let (parts, mut body) = response.into_parts();
        // The announced length is checked before anything is read (as the tokio adapter does);
        // the actual length while reading (chunked bodies, or a server that lies).
        if body
            .content_length()
            .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > self.config.body_limit))
        {
            tracing::debug!(limit = self.config.body_limit, "response body too large");
            return Err(Error::BodyTooLarge {
                endpoint,
                limit: self.config.body_limit,
            });
        }
        // ureq's limit fails on the read that would go past it, so allow exactly `body_limit`.
        let cap = u64::try_from(self.config.body_limit)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let bytes = body
            .with_config()
            .limit(cap)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    tracing::debug!(limit = self.config.body_limit, "response body too large");
                    Error::BodyTooLarge {
                        endpoint,
                        limit: self.config.body_limit,
                    }
                }
                other => self.transport_error(endpoint, other),
            })?;
        Ok(Response::from_parts(parts, bytes))
    }

    fn transport_error(&self, endpoint: Endpoint, error: ureq::Error) -> Error {
        let timed_out = match &error {
            ureq::Error::Timeout(_) => true,
            ureq::Error::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ),
            _ => false,
        };
        if timed_out {
            tracing::debug!("request timed out");
            return Error::Timeout {
                endpoint,
                after: self.config.timeout,
            };
        }
        let reason = match &error {
            // The URI and header values could carry identifiers: name only the kind of fault.
            ureq::Error::BadUri(_) => "invalid request URI".to_owned(),
            ureq::Error::Protocol(e) => {
                let text = e.to_string();
                let kind = text.split(':').next().unwrap_or_default();
                format!("HTTP protocol error: {kind}")
            }
            other => other.to_string(),
        };
        tracing::debug!(%reason, "transport failed");
        Error::Transport { endpoint, reason }
    }
}

/// The system clock as a [`UnixTime`] (a clock set before 1970 reads as the epoch).
#[must_use]
pub fn now() -> UnixTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    UnixTime::from_secs(secs)
}

/// The operating system's CSPRNG (through `getrandom`), as the core's [`mc_core::Entropy`].
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

impl mc_core::Entropy for OsEntropy {
    /// # Panics
    /// When the operating system cannot supply randomness. `Entropy::fill` cannot report an
    /// error, and a login with a predictable `state`, `nonce` or PKCE verifier is unsafe, so
    /// stopping is the only sound answer (getrandom documents this failure as practically
    /// impossible on supported systems).
    fn fill(&mut self, dest: &mut [u8]) {
        getrandom::fill(dest).expect("the operating system's random number generator failed");
    }
}
