//! Executes [`mc_core`] Mobile Connect exchanges over blocking HTTP (ureq with rustls).
//! It only moves bytes, reads the clock and draws OS randomness: every decision stays in the core.
//!
//! ```no_run
//! # fn run() -> Result<(), mc_io_blocking::Error> {
//! use mc_core::{ClientSecret, Discovered, OperatorConfig};
//! use mc_io_blocking::Client;
//!
//! let mut operator = Discovered::from_registry(
//!     OperatorConfig::new(
//!         "example-operator",
//!         "my-client-id",
//!         ClientSecret::new("my-client-secret"),
//!         "https://sp.example/callback",
//!         "https://op.example/authorize",
//!         "https://op.example/token",
//!     )?
//!     .issuer("https://op.example"),
//! );
//! let client = Client::new();
//! let metadata = client.execute(operator.metadata_exchange()?)?;
//! operator.apply_metadata(metadata)?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response};
use mc_core::{Discovered, Endpoint, Exchange, Resume, UnixTime, Verified};

pub use mc_core;

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
}

/// A blocking HTTP executor of [`Exchange`]s; cheap to clone (clones share one connection pool).
///
/// It follows no redirect, hands 4xx and 5xx responses to the core (their bodies carry the
/// operator's OAuth error), never retries, ignores proxy environment variables, bounds every
/// request by a total timeout and every response body by a cap, and speaks TLS with rustls.
#[derive(Clone, Debug)]
pub struct Client {
    agent: ureq::Agent,
    config: Config,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with [`Config::default`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A client with the given settings.
    #[must_use]
    pub fn with_config(config: Config) -> Self {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("mc-io-blocking/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self { agent, config }
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
    /// [`Error::Timeout`], [`Error::BodyTooLarge`] or [`Error::Transport`].
    pub fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        self.send_for(Endpoint::Authorization, request)
    }

    /// Run one exchange: send its request, hand the response to the core with the current time.
    ///
    /// # Errors
    /// The transport errors of [`Client::send`] (naming the step), or the core's verdict as
    /// [`Error::Core`].
    pub fn execute<E: Exchange>(&self, exchange: E) -> Result<E::Output, Error> {
        let endpoint = exchange.endpoint();
        let span = tracing::info_span!("mc_exchange", step = endpoint.as_str());
        let _entered = span.enter();
        let response = self.send_for(endpoint, exchange.request())?;
        Ok(exchange.respond(response, now())?)
    }

    /// Finish a verifying step: `Done` gives the value; `NeedJwks` fetches the operator's JWKS
    /// once, stores it in `operator`, and resumes (which never asks a second time).
    ///
    /// # Errors
    /// A missing JWKS endpoint ([`Error::Core`]), the JWKS exchange's errors, or the resumed
    /// verification's verdict.
    pub fn complete<P: Resume>(
        &self,
        operator: &mut Discovered,
        step: Verified<P::Output, P>,
    ) -> Result<P::Output, Error> {
        match step {
            Verified::Done(value) => Ok(value),
            Verified::NeedJwks(pending) => {
                let keys = self.execute(operator.jwks_exchange()?)?;
                let now = now();
                operator.set_jwks(keys, now);
                Ok(pending.resume(operator, now)?)
            }
        }
    }

    fn send_for(
        &self,
        endpoint: Endpoint,
        request: Request<Vec<u8>>,
    ) -> Result<Response<Vec<u8>>, Error> {
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
