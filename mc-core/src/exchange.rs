//! The one shape every network step has: a request to send, and a response to consume.

use std::fmt;

use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::error::Error;

/// A point in time, in whole seconds since the Unix epoch, handed in by the host.
///
/// mc-core never reads a clock: every step that judges time (token expiry, discovery `ttl`,
/// JWKS refetch spacing) takes a `UnixTime` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(u64);

impl UnixTime {
    /// A time `secs` seconds after 1970-01-01T00:00:00Z.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// This time plus `secs` seconds (saturating).
    #[must_use]
    pub const fn plus(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// This time minus `secs` seconds (saturating at the epoch).
    #[must_use]
    pub const fn minus(self, secs: u64) -> Self {
        Self(self.0.saturating_sub(secs))
    }
}

/// What every adapter enforces when it executes an [`Exchange`]: a total timeout, a body cap
/// and https only (and, without a setting, no redirects and no retries). Shared by the adapter
/// crates so that each is configured the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Total time for one request, from connecting to the end of the body (default 10 s).
    pub timeout: std::time::Duration,
    /// The largest response body read, in bytes; a longer body fails while being read
    /// (default 1 MiB).
    pub body_limit: usize,
    /// Send plain `http://` requests to any host (default `false`: https only, except to a
    /// loopback address, 127.0.0.0/8 or `::1`, where a sandbox runs). Over plain HTTP the
    /// client credentials, the code, the PKCE verifier and the operator's keys cross the
    /// network in clear: only for a test network.
    pub allow_plain_http: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            timeout: std::time::Duration::from_secs(10),
            body_limit: 1024 * 1024,
            allow_plain_http: false,
        }
    }
}

impl TransportConfig {
    /// This configuration with another total timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// This configuration with another body cap.
    #[must_use]
    pub fn with_body_limit(mut self, body_limit: usize) -> Self {
        self.body_limit = body_limit;
        self
    }

    /// This configuration with plain `http://` to any host allowed (`true`) or refused except
    /// to loopback addresses (`false`, the default). See
    /// [`TransportConfig::allow_plain_http`].
    #[must_use]
    pub fn with_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// Whether an adapter may send a request to `uri`: `https`; or `http` to a loopback IP
    /// literal (127.0.0.0/8, `::1`; not the name `localhost`, whose address is the resolver's
    /// choice), or to any host when [`TransportConfig::allow_plain_http`] is set. Any other
    /// scheme, or none, is refused.
    ///
    /// ```
    /// use mc_core::TransportConfig;
    /// let uri = |s: &str| s.parse::<http::Uri>().unwrap();
    /// let config = TransportConfig::default();
    /// assert!(config.permits(&uri("https://op.example/token")));
    /// assert!(config.permits(&uri("http://127.0.0.1:8080/token")));
    /// assert!(config.permits(&uri("http://[::1]:8080/token")));
    /// assert!(!config.permits(&uri("http://op.example/token")));
    /// assert!(!config.permits(&uri("http://localhost:8080/token")));
    /// assert!(config.with_plain_http(true).permits(&uri("http://op.example/token")));
    /// ```
    #[must_use]
    pub fn permits(&self, uri: &Uri) -> bool {
        match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => {
                self.allow_plain_http || uri.host().is_some_and(crate::wire::is_loopback_host)
            }
            _ => false,
        }
    }
}

/// One network step of the protocol, as a value.
///
/// The host (or an adapter) sends [`Exchange::request`] over HTTP without following redirects,
/// reads the whole response body (bounded), and hands the response to [`Exchange::respond`]
/// with the current time. 4xx and 5xx responses must be handed over too: their bodies carry the
/// operator's OAuth error. The exchange decides what the response means.
///
/// An exchange owns what it needs (a handle on the operator context, never a borrow), so it can
/// be held across the host's `.await` without holding anything else. Its output is an
/// [`crate::Outcome`]: final, or a [`crate::KeyRefetch`] to run first.
pub trait Exchange {
    /// What a successful step yields.
    type Output;

    /// The endpoint this step talks to (for errors, logs and tracing spans).
    fn endpoint(&self) -> Endpoint;

    /// The operator this step talks to, when it belongs to one (for logs and tracing spans;
    /// discovery and a metadata fetch for a new issuer belong to none).
    fn operator_id(&self) -> Option<&str> {
        None
    }

    /// The HTTP request to send. Calling it twice gives byte-identical requests.
    ///
    /// Never log it with `{:?}`: `http`'s `Debug` prints the body, which holds the code, the
    /// PKCE verifier and (with `client_secret_post`) the client secret. Log
    /// [`crate::redacted`]`(&request)` instead (see [`crate::secret`]).
    fn request(&self) -> Request<Vec<u8>>;

    /// Consume the operator's response.
    ///
    /// # Errors
    /// The operator's refusal ([`Error::Refused`]), a response that breaks the protocol
    /// ([`Error::Protocol`]) or a rejected id_token ([`Error::IdToken`]).
    fn respond(self, response: Response<Vec<u8>>, now: UnixTime) -> Result<Self::Output, Error>;
}

/// The members of [`Exchange`] every operator step spells the same way, for a type with an
/// `operator: Discovered` and a `prepared: Prepared`: `operator_id` and `request`, and
/// `endpoint` when it is fixed (`operator_step!(Endpoint::Token)`).
macro_rules! operator_step {
    ($endpoint:expr) => {
        fn endpoint(&self) -> $crate::endpoint::Endpoint {
            $endpoint
        }

        $crate::exchange::operator_step!();
    };
    () => {
        fn operator_id(&self) -> Option<&str> {
            Some(self.operator.id())
        }

        fn request(&self) -> http::Request<Vec<u8>> {
            self.prepared.to_request()
        }
    };
}
pub(crate) use operator_step;

/// The `Debug` of an operator step: the operator's id and the request (its `Debug` redacts
/// the credentials and the body), nothing else.
macro_rules! operator_step_debug {
    ($($step:ident),* $(,)?) => {
        $(impl std::fmt::Debug for $step {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($step))
                    .field("operator", &self.operator.id())
                    .field("request", &self.prepared)
                    .finish_non_exhaustive()
            }
        })*
    };
}
pub(crate) use operator_step_debug;

/// A fully built outgoing request, kept in parts so that it can be handed out repeatedly.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Prepared {
    pub(crate) fn to_request(&self) -> Request<Vec<u8>> {
        let mut request = Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    pub(crate) fn header(mut self, name: http::header::HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

impl fmt::Debug for Prepared {
    // The body, the query and the Authorization header may carry secrets (a server-initiated
    // request puts its signed request object in the query); print only their shape.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("method", &self.method)
            .field("uri", &crate::secret::RedactedUri(&self.uri))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}
