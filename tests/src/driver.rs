//! One login, written once, run through either adapter: [`Driver`] is what a test needs from
//! an adapter (run a step to its end, send a raw browser request), implemented by
//! `mc-io-blocking` directly and by `mc-io-tokio` on a runtime of its own.

use std::time::Duration;

use mc_core::{
    AuthorizeOptions, BackchannelPending, CodeReceived, Discovered, DiscoveryOutcome,
    DiscoveryQuery, Exchange, LoginHint, OperatorConfig, Outcome, Tokens, UserInfo,
};

/// How an adapter error reads, whichever adapter raised it.
#[derive(Debug)]
pub enum Failure {
    /// The core's verdict.
    Core(mc_core::Error),
    /// The adapter's total timeout.
    Timeout,
    /// The adapter's body cap.
    BodyTooLarge,
    /// Connection, TLS or I/O.
    Transport(String),
    /// The simulated browser did not get the redirect it expected.
    Browser(String),
}

impl Failure {
    /// The core error, if this is one.
    #[must_use]
    pub fn core(&self) -> Option<&mc_core::Error> {
        match self {
            Self::Core(e) => Some(e),
            _ => None,
        }
    }
}

impl From<mc_core::Error> for Failure {
    fn from(e: mc_core::Error) -> Self {
        Self::Core(e)
    }
}

impl From<mc_io_blocking::Error> for Failure {
    fn from(e: mc_io_blocking::Error) -> Self {
        match e {
            mc_io_blocking::Error::Core(e) => Self::Core(e),
            mc_io_blocking::Error::Timeout { .. } => Self::Timeout,
            mc_io_blocking::Error::BodyTooLarge { .. } => Self::BodyTooLarge,
            other => Self::Transport(other.to_string()),
        }
    }
}

impl From<mc_io_tokio::Error> for Failure {
    fn from(e: mc_io_tokio::Error) -> Self {
        match e {
            mc_io_tokio::Error::Core(e) => Self::Core(e),
            mc_io_tokio::Error::Timeout { .. } => Self::Timeout,
            mc_io_tokio::Error::BodyTooLarge { .. } => Self::BodyTooLarge,
            other => Self::Transport(other.to_string()),
        }
    }
}

/// What a test needs from an adapter.
pub trait Driver {
    /// Run one step to its end (including a key refetch).
    ///
    /// # Errors
    /// The adapter's error, as a [`Failure`].
    fn execute<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, Failure>
    where
        E: Exchange + Send,
        E::Output: Outcome,
        <E::Output as Outcome>::Value: Send;

    /// Send a raw request (the simulated browser).
    ///
    /// # Errors
    /// The adapter's error, as a [`Failure`].
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Failure>;

    /// The current time.
    fn now(&self) -> mc_core::UnixTime;
}

/// What a test of server-initiated login needs from an adapter besides the [`Driver`].
pub trait BackchannelDriver: Driver {
    /// Poll a server-initiated login until it ends (the adapter's `poll_for_tokens`).
    ///
    /// # Errors
    /// The adapter's error, as a [`Failure`].
    fn poll_for_tokens(
        &self,
        operator: &Discovered,
        pending: BackchannelPending,
    ) -> Result<Tokens, Failure>;
}

/// mc-io-blocking.
#[derive(Debug, Clone)]
pub struct Blocking(pub mc_io_blocking::Client);

impl Blocking {
    /// With a timeout and body cap.
    #[must_use]
    pub fn new(timeout: Duration, body_limit: usize) -> Self {
        Self::with_config(
            mc_io_blocking::Config::default()
                .with_timeout(timeout)
                .with_body_limit(body_limit),
        )
    }

    /// With these transport settings.
    #[must_use]
    pub fn with_config(config: mc_core::TransportConfig) -> Self {
        Self(mc_io_blocking::Client::with_config(config).expect("a ureq agent always builds"))
    }
}

impl Driver for Blocking {
    fn execute<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, Failure>
    where
        E: Exchange + Send,
        E::Output: Outcome,
        <E::Output as Outcome>::Value: Send,
    {
        Ok(self.0.execute(exchange)?)
    }

    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Failure> {
        Ok(self.0.send(request)?)
    }

    fn now(&self) -> mc_core::UnixTime {
        mc_io_blocking::now()
    }
}

impl BackchannelDriver for Blocking {
    fn poll_for_tokens(
        &self,
        operator: &Discovered,
        pending: BackchannelPending,
    ) -> Result<Tokens, Failure> {
        Ok(self.0.poll_for_tokens(operator, pending)?)
    }
}

/// mc-io-tokio, each call on a runtime the driver owns.
#[derive(Debug)]
pub struct Tokio {
    runtime: tokio::runtime::Runtime,
    client: mc_io_tokio::Client,
}

impl Tokio {
    /// With a timeout and body cap.
    ///
    /// # Errors
    /// When the runtime or the client cannot be built.
    pub fn new(timeout: Duration, body_limit: usize) -> Result<Self, Failure> {
        Self::with_config(
            mc_io_tokio::Config::default()
                .with_timeout(timeout)
                .with_body_limit(body_limit),
        )
    }

    /// With these transport settings.
    ///
    /// # Errors
    /// When the runtime or the client cannot be built.
    pub fn with_config(config: mc_core::TransportConfig) -> Result<Self, Failure> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let client = mc_io_tokio::Client::with_config(config)?;
        Ok(Self { runtime, client })
    }

    /// The adapter's client, for tests of the adapter itself (its own error type).
    #[must_use]
    pub fn client(&self) -> &mc_io_tokio::Client {
        &self.client
    }

    /// Run a future to its end on this driver's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl Driver for Tokio {
    fn execute<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, Failure>
    where
        E: Exchange + Send,
        E::Output: Outcome,
        <E::Output as Outcome>::Value: Send,
    {
        Ok(self.runtime.block_on(self.client.execute(exchange))?)
    }

    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Failure> {
        Ok(self.runtime.block_on(self.client.send(request))?)
    }

    fn now(&self) -> mc_core::UnixTime {
        mc_io_tokio::now()
    }
}

impl BackchannelDriver for Tokio {
    fn poll_for_tokens(
        &self,
        operator: &Discovered,
        pending: BackchannelPending,
    ) -> Result<Tokens, Failure> {
        Ok(self
            .runtime
            .block_on(self.client.poll_for_tokens(operator, pending))?)
    }
}

/// The simulated browser: GET `url` without following redirects and return the query of the
/// `Location` it is sent to.
///
/// # Errors
/// [`Failure::Browser`] when the answer is not a redirect with a query.
pub fn browser_follow<D: Driver>(driver: &D, url: &str) -> Result<String, Failure> {
    let mut request = http::Request::new(Vec::new());
    *request.uri_mut() = url
        .parse()
        .map_err(|_| Failure::Browser(format!("bad URL {url}")))?;
    let response = driver.send(request)?;
    let location = response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Failure::Browser(format!("HTTP {} without Location", response.status())))?;
    let url = url::Url::parse(location)
        .map_err(|_| Failure::Browser(format!("bad Location {location}")))?;
    url.query()
        .map(str::to_owned)
        .ok_or_else(|| Failure::Browser(format!("Location without query: {location}")))
}

/// An entropy source for the SP side: the OS.
#[must_use]
pub fn entropy() -> mc_io_blocking::OsEntropy {
    mc_io_blocking::OsEntropy
}

/// Fetch the provider metadata of a configured operator and build its context with it.
///
/// # Errors
/// Any step's failure.
pub fn with_metadata<D: Driver>(driver: &D, config: OperatorConfig) -> Result<Discovered, Failure> {
    let metadata = driver.execute(config.metadata_exchange()?)?;
    Ok(config.with_metadata(metadata)?.build()?)
}

/// The browser login from the redirect to verified tokens.
///
/// # Errors
/// Any step's failure.
pub fn login<D: Driver>(
    driver: &D,
    operator: &Discovered,
    options: AuthorizeOptions,
) -> Result<Tokens, Failure> {
    let now = driver.now();
    let (redirect, flow) = operator.authorize(options, &mut entropy(), now)?;
    let callback = browser_follow(driver, redirect.as_str())?;
    let code: CodeReceived = flow.callback(operator, &callback, driver.now())?;
    driver.execute(code.token_exchange(operator, driver.now())?)
}

/// UserInfo after a login.
///
/// # Errors
/// Any step's failure.
pub fn userinfo<D: Driver>(
    driver: &D,
    operator: &Discovered,
    tokens: &Tokens,
) -> Result<UserInfo, Failure> {
    driver.execute(tokens.userinfo(operator)?)
}

/// Discovery to an operator configuration plus the user's login hint (build the context
/// after applying the metadata, e.g. with [`with_metadata`]).
///
/// # Errors
/// Any step's failure, or [`Failure::Browser`] when discovery wanted the selection page.
pub fn discover<D: Driver>(
    driver: &D,
    service: &mc_core::DiscoveryService,
    query: &DiscoveryQuery,
    id: &str,
) -> Result<(OperatorConfig, Option<LoginHint>), Failure> {
    match driver.execute(service.discover(query, &mut entropy())?)? {
        DiscoveryOutcome::Found(answer) => {
            let operator =
                OperatorConfig::from_discovery(&answer, id, crate::sandbox::SP_REDIRECT_URI)?;
            Ok((
                operator,
                answer.subscriber_id.map(LoginHint::EncryptedMsisdn),
            ))
        }
        DiscoveryOutcome::OperatorSelection { url, .. } => {
            Err(Failure::Browser(format!("operator selection at {url}")))
        }
        _ => Err(Failure::Browser("unknown discovery outcome".to_owned())),
    }
}

/// One `#[test]` per adapter for each scenario: `through_both_adapters!(a, b)` makes
/// `blocking_adapter::a` calling `a(&blocking())` and `tokio_adapter::a` calling `a(&tokio())`,
/// where `blocking()` and `tokio()` are the calling test file's driver constructors (for files
/// whose drivers need more than a transport setting). `through_both_adapters!(TIMEOUT,
/// BODY_LIMIT; a, b)` builds the plain drivers from the calling file's two constants instead.
#[macro_export]
macro_rules! through_both_adapters {
    ($timeout:ident, $body_limit:ident; $($scenario:ident),* $(,)?) => {
        mod blocking_adapter {
            $( #[test] fn $scenario() {
                super::$scenario(&$crate::driver::Blocking::new(super::$timeout, super::$body_limit))
            } )*
        }
        mod tokio_adapter {
            $( #[test] fn $scenario() {
                super::$scenario(
                    &$crate::driver::Tokio::new(super::$timeout, super::$body_limit)
                        .expect("a tokio runtime"),
                )
            } )*
        }
    };
    ($($scenario:ident),* $(,)?) => {
        mod blocking_adapter {
            $( #[test] fn $scenario() { super::$scenario(&super::blocking()) } )*
        }
        mod tokio_adapter {
            $( #[test] fn $scenario() { super::$scenario(&super::tokio()) } )*
        }
    };
}
