//! The adapters' one contract, written once and run through mc-io-blocking and mc-io-tokio
//! against one canned loopback server ([`mc_tests::canned`]): real sockets, no other network,
//! real signatures (the sandbox's committed keys), and every request checked on the wire.
//!
//! Besides the [`Driver`] every suite uses, the scenarios here see each adapter's own error
//! type through [`Adapter`]: both adapters' errors map variant by variant into one mirror enum,
//! so a difference in their shape is a compile error in this file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    AuthorizeOptions, ClientSecret, CodeReceived, Discovered, Endpoint, Exchange, IdTokenError,
    Jwks, OperatorConfig, Outcome, ProtocolError, Registration, TransportConfig,
};
use mc_tests::canned::{CannedServer, Recorded, Reply};
use mc_tests::driver::{Blocking, Driver, Tokio, entropy};
use mc_tests::keys::{KeyFamily, SigningKey};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(10);
const MIB: usize = 1024 * 1024;
/// The total timeout of the scenarios that hit it, and how much later the call may return.
const SHORT_TIMEOUT: Duration = Duration::from_millis(400);
const MARGIN: Duration = Duration::from_millis(800);
/// A server pause far beyond the short timeout.
const FOREVER: Duration = Duration::from_secs(5);

const CLIENT_ID: &str = "adapter-client";
const CLIENT_SECRET: &str = "adapter-client-secret";
const REDIRECT_URI: &str = "https://sp.example/callback";

fn blocking() -> Blocking {
    <Blocking as Adapter>::with_config(TransportConfig::default().with_timeout(TIMEOUT))
}

fn tokio() -> Tokio {
    <Tokio as Adapter>::with_config(TransportConfig::default().with_timeout(TIMEOUT))
}

mc_tests::through_both_adapters!(
    a_json_answer_reaches_the_core,
    oauth_errors_in_4xx_and_5xx_bodies_reach_the_core,
    a_redirect_is_not_followed,
    a_slow_head_hits_the_total_timeout,
    a_stalled_body_hits_the_total_timeout,
    the_timeout_bounds_the_whole_exchange_not_each_read,
    a_slow_answer_within_the_timeout_is_read,
    bodies_up_to_the_cap_are_read_and_longer_ones_refused,
    an_announced_length_over_the_cap_is_refused_before_reading,
    an_execute_body_over_the_cap_names_the_step,
    a_body_longer_than_announced_is_cut_and_never_read_as_the_next_answer,
    transport_errors_name_no_url_and_no_secret,
    send_passes_requests_through_unchanged,
    connections_are_reused,
    execute_finishes_a_token_exchange_with_one_jwks_refetch,
    proxy_environment_is_ignored,
    each_execute_leaves_one_span_and_no_secret,
    review_adapter_refuses_plain_http_to_non_loopback,
);

// ---------------------------------------------------------------------------------------------
// Each adapter with its own error type.

/// An adapter error, variant by variant (both adapters' `Error` map here one to one).
#[derive(Debug)]
enum Kind {
    /// Boxed: the core's error is large, and a test result carries it.
    Core(Box<mc_core::Error>),
    Timeout {
        endpoint: Endpoint,
        after: Duration,
    },
    BodyTooLarge {
        endpoint: Endpoint,
        limit: usize,
    },
    Transport {
        endpoint: Endpoint,
        reason: String,
    },
    Setup,
    SchemeRefused {
        endpoint: Endpoint,
        scheme: String,
    },
}

/// An adapter error with what the host sees of it.
#[derive(Debug)]
struct AdapterError {
    kind: Kind,
    /// `Error::class()`, the outcome named in the tracing span.
    class: &'static str,
    /// `Display`.
    shown: String,
}

macro_rules! mirror_error {
    ($($adapter:ident),*) => {$(
        impl From<$adapter::Error> for AdapterError {
            fn from(error: $adapter::Error) -> Self {
                let class = error.class();
                let shown = error.to_string();
                let kind = match error {
                    $adapter::Error::Core(e) => Kind::Core(Box::new(e)),
                    $adapter::Error::Timeout { endpoint, after } => {
                        Kind::Timeout { endpoint, after }
                    }
                    $adapter::Error::BodyTooLarge { endpoint, limit } => {
                        Kind::BodyTooLarge { endpoint, limit }
                    }
                    $adapter::Error::Transport { endpoint, reason } => {
                        Kind::Transport { endpoint, reason }
                    }
                    $adapter::Error::Setup { .. } => Kind::Setup,
                    $adapter::Error::SchemeRefused { endpoint, scheme } => {
                        Kind::SchemeRefused { endpoint, scheme }
                    }
                    other => panic!("a variant the other adapter lacks: {other:?}"),
                };
                Self { kind, class, shown }
            }
        }
    )*};
}

mirror_error!(mc_io_blocking, mc_io_tokio);

/// What the scenarios need from an adapter beyond the [`Driver`].
trait Adapter: Driver + Sized {
    /// The module `through_both_adapters!` puts this adapter's tests in.
    const MODULE: &'static str;

    /// A client with these settings (and the span recorder installed).
    fn with_config(config: TransportConfig) -> Self;

    /// The client's settings.
    fn config(&self) -> TransportConfig;

    /// `execute`, with the adapter's own error.
    fn run<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, AdapterError>
    where
        E: Exchange + Send,
        E::Output: Outcome,
        <E::Output as Outcome>::Value: Send;

    /// `send`, with the adapter's own error.
    fn raw(&self, request: http::Request<Vec<u8>>)
    -> Result<http::Response<Vec<u8>>, AdapterError>;
}

impl Adapter for Blocking {
    const MODULE: &'static str = "blocking_adapter";

    fn with_config(config: TransportConfig) -> Self {
        recorder::install();
        Self(mc_io_blocking::Client::with_config(config).unwrap())
    }

    fn config(&self) -> TransportConfig {
        *self.0.config()
    }

    fn run<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, AdapterError>
    where
        E: Exchange + Send,
        E::Output: Outcome,
        <E::Output as Outcome>::Value: Send,
    {
        Ok(self.0.execute(exchange)?)
    }

    fn raw(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, AdapterError> {
        Ok(self.0.send(request)?)
    }
}

impl Adapter for Tokio {
    const MODULE: &'static str = "tokio_adapter";

    fn with_config(config: TransportConfig) -> Self {
        recorder::install();
        Tokio::with_config(config).unwrap()
    }

    fn config(&self) -> TransportConfig {
        *self.client().config()
    }

    fn run<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, AdapterError>
    where
        E: Exchange + Send,
        E::Output: Outcome,
        <E::Output as Outcome>::Value: Send,
    {
        Ok(self.block_on(self.client().execute(exchange))?)
    }

    fn raw(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, AdapterError> {
        Ok(self.block_on(self.client().send(request))?)
    }
}

/// The same adapter with a short total timeout.
fn short_timeout<D: Adapter>(driver: &D) -> D {
    D::with_config(driver.config().with_timeout(SHORT_TIMEOUT))
}

// ---------------------------------------------------------------------------------------------
// An operator on the canned server, and its tokens.

fn config(server: &CannedServer, id: &str, secret: &str) -> OperatorConfig {
    config_at(&server.url(""), id, secret)
}

/// The registry entry of an operator whose issuer is `issuer` and whose authorization, token and
/// JWKS endpoints are under it.
fn config_at(issuer: &str, id: &str, secret: &str) -> OperatorConfig {
    OperatorConfig::new(Registration {
        operator_id: id.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: ClientSecret::new(secret),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .unwrap()
    .issuer(issuer)
    .authorization(&format!("{issuer}/authorize"))
    .unwrap()
    .token(&format!("{issuer}/token"))
    .unwrap()
    .jwks(&format!("{issuer}/jwks"))
    .unwrap()
}

fn operator(server: &CannedServer) -> Discovered {
    config(server, "canned", CLIENT_SECRET).build().unwrap()
}

fn metadata_json(server: &CannedServer) -> String {
    let issuer = server.url("");
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    })
    .to_string()
}

/// Key `index` of the committed RSA pool, published as `kid`.
fn key(index: usize, kid: &str) -> SigningKey {
    SigningKey::from_pool(KeyFamily::Rs256, index, kid.to_owned())
}

fn jwks_json(keys: &[&SigningKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

fn jwks(keys: &[&SigningKey]) -> Jwks {
    Jwks::parse(jwks_json(keys).as_bytes()).unwrap()
}

/// A login up to the code: authorize, then the callback the operator would send with `code`.
/// Returns the code and the nonce the id_token must carry.
fn code<D: Driver>(driver: &D, operator: &Discovered, code: &str) -> (CodeReceived, String) {
    let (redirect, flow) = operator
        .authorize(AuthorizeOptions::new(), &mut entropy(), driver.now())
        .unwrap();
    let nonce = redirect
        .url()
        .query_pairs()
        .find(|(name, _)| name == "nonce")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let query = format!("code={code}&state={}", flow.state().expose_secret());
    (
        flow.callback(operator, &query, driver.now()).unwrap(),
        nonce,
    )
}

/// A token response the Mobile Connect profile accepts, its id_token signed by `key`.
fn token_json(
    operator: &Discovered,
    key: &SigningKey,
    nonce: &str,
    access_token: &str,
    refresh_token: &str,
) -> String {
    let now = mc_io_blocking::now().as_secs();
    let claims = json!({
        "iss": operator.issuer(),
        "sub": "canned-subscriber",
        "aud": [CLIENT_ID],
        "azp": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "nonce": nonce,
        "acr": "2",
        "amr": ["SIM_OK"],
        "at_hash": mc_core::id_token::at_hash(access_token, key.alg).unwrap(),
    });
    json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": refresh_token,
        "id_token": key.sign(&claims),
    })
    .to_string()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url).body(Vec::new()).unwrap()
}

fn core_error<T: std::fmt::Debug>(result: Result<T, AdapterError>) -> mc_core::Error {
    match result {
        Err(AdapterError {
            kind: Kind::Core(e),
            ..
        }) => *e,
        other => panic!("expected the core's verdict, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// A 200 JSON answer is handed to the core; the GET went out as the core built it, without a
/// body framing header. (blocking + tokio `a_200_json_answer_reaches_the_core`)
fn a_json_answer_reaches_the_core<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    server.route(
        "/.well-known/openid-configuration",
        Reply::json(200, metadata_json(&server)),
    );
    let config = config(&server, "canned", CLIENT_SECRET);
    let metadata = driver.run(config.metadata_exchange().unwrap()).unwrap();
    assert_eq!(metadata.issuer, server.url(""));
    assert_eq!(metadata.jwks_uri, Some(server.url("/jwks")));
    let operator = config.with_metadata(metadata).unwrap().build().unwrap();
    assert!(operator.metadata().is_some());

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/.well-known/openid-configuration");
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(request.header("host"), Some(&*server.addr().to_string()));
    assert_eq!(request.header("content-length"), None, "{request:?}");
    assert_eq!(request.header("transfer-encoding"), None, "{request:?}");
    assert!(request.body.is_empty());
}

/// 4xx and 5xx answers are responses, not transport errors: their bodies reach the core, which
/// reads an OAuth error as the operator's refusal. (blocking + tokio
/// `a_400_oauth_error_is_the_operators_refusal`, widened to a table of statuses)
fn oauth_errors_in_4xx_and_5xx_bodies_reach_the_core<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let operator = operator(&server);
    let cases: [(u16, &str, Option<&str>); 4] = [
        (400, "invalid_grant", Some("code used")),
        (401, "invalid_client", None),
        (500, "server_error", Some("down for maintenance")),
        (503, "temporarily_unavailable", None),
    ];
    for (status, error, description) in cases {
        let mut body = json!({ "error": error });
        if let Some(description) = description {
            body["error_description"] = json!(description);
        }
        server.route("/token", Reply::json(status, body.to_string()));
        let (code, _) = code(driver, &operator, "the-code");
        let exchange = code.token_exchange(&operator, driver.now()).unwrap();
        match core_error(driver.run(exchange)) {
            mc_core::Error::Refused(refusal) => {
                assert!(refusal.is(error), "{status}: {refusal:?}");
                assert_eq!(refusal.endpoint, Endpoint::Token);
                assert_eq!(refusal.status, Some(status));
                assert_eq!(refusal.description.as_deref(), description);
            }
            other => panic!("{status}: expected the operator's refusal, got {other:?}"),
        }
    }
    // A 5xx without an OAuth error is the core's call too.
    server.route(
        "/token",
        Reply::status(502)
            .header("Content-Type", "text/html")
            .body("<h1>Bad gateway</h1>"),
    );
    let (code, _) = code(driver, &operator, "the-code");
    let exchange = code.token_exchange(&operator, driver.now()).unwrap();
    assert!(
        matches!(
            core_error(driver.run(exchange)),
            mc_core::Error::Protocol(ProtocolError::UnexpectedStatus {
                endpoint: Endpoint::Token,
                status: 502
            })
        ),
        "502 without an OAuth body"
    );

    // Each token request went out as the core built it, credentials included.
    let requests = server.requests_to("/token");
    assert_eq!(requests.len(), cases.len() + 1);
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert!(
            request
                .header("authorization")
                .is_some_and(|v| v.starts_with("Basic ")),
            "{request:?}"
        );
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            request.header("content-length"),
            Some(&*request.body.len().to_string())
        );
        let form = String::from_utf8(request.body.clone()).unwrap();
        assert!(form.contains("grant_type=authorization_code"), "{form}");
        assert!(form.contains("code=the-code"), "{form}");
    }
}

/// No redirect is followed, by `execute` or by `send`: the 3xx goes to the core (an unexpected
/// status for a JWKS GET) or back to the caller, and its target is never requested.
/// (blocking + tokio `a_redirect_is_not_followed`, widened to every redirect status)
fn a_redirect_is_not_followed<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let operator = operator(&server);
    server.route("/elsewhere", Reply::json(200, r#"{"keys":[]}"#));
    for status in [301, 302, 303, 307, 308] {
        server.route("/jwks", Reply::redirect(status, &server.url("/elsewhere")));
        match core_error(driver.run(operator.jwks_exchange().unwrap())) {
            mc_core::Error::Protocol(ProtocolError::UnexpectedStatus {
                endpoint: Endpoint::Jwks,
                status: seen,
            }) => assert_eq!(seen, status),
            other => panic!("{status}: expected an unexpected status, got {other:?}"),
        }
    }
    server.route("/browser", Reply::redirect(302, &server.url("/elsewhere")));
    let response = driver.raw(get(&server.url("/browser"))).unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()[http::header::LOCATION],
        *server.url("/elsewhere")
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 6, "{requests:?}");
    assert!(server.requests_to("/elsewhere").is_empty(), "{requests:?}");
}

/// Plain `http://` goes out only to a loopback IP literal (the canned server), unless the
/// adapter's `Config::allow_plain_http` is set: anywhere else it is refused before anything is
/// sent, even where the core let it through (an operator that opted in). `localhost` is a name,
/// not a literal: refused, although here it resolves to the canned server, which proves that
/// nothing was sent. (issue 10, finding 1)
fn review_adapter_refuses_plain_http_to_non_loopback<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    server.route("/jwks", Reply::json(200, r#"{"keys":[]}"#));
    let by_name = format!("http://localhost:{}/jwks", server.addr().port());
    let refused = |result: Result<_, AdapterError>, endpoint: Endpoint| match result {
        Err(AdapterError {
            kind:
                Kind::SchemeRefused {
                    endpoint: seen,
                    scheme,
                },
            class,
            shown,
        }) => {
            assert_eq!((seen, scheme.as_str(), class), (endpoint, "http", "misuse"));
            assert!(!shown.contains("localhost"), "{shown}");
        }
        other => panic!("expected SchemeRefused, got {other:?}"),
    };
    // An operator whose registry entry allows plain HTTP: the core builds the request, the
    // adapter refuses it.
    let operator = config(&server, "plain", CLIENT_SECRET)
        .jwks(&by_name)
        .unwrap()
        .allow_plain_http(true)
        .build()
        .unwrap();
    refused(
        driver.run(operator.jwks_exchange().unwrap()).map(|_| ()),
        Endpoint::Jwks,
    );
    // A raw request too, and any scheme other than http(s).
    refused(
        driver.raw(get(&by_name)).map(|_| ()),
        Endpoint::Authorization,
    );
    assert!(matches!(
        driver.raw(get(&format!(
            "ftp://127.0.0.1:{}/jwks",
            server.addr().port()
        ))),
        Err(AdapterError {
            kind: Kind::SchemeRefused { .. },
            ..
        })
    ));
    assert!(server.requests().is_empty(), "{:?}", server.requests());

    // A loopback literal is a sandbox: allowed.
    driver.raw(get(&server.url("/jwks"))).unwrap();
    assert_eq!(server.requests().len(), 1);
    // An adapter configured for a test network sends plain HTTP anywhere.
    let lab = D::with_config(driver.config().with_plain_http(true));
    lab.run(operator.jwks_exchange().unwrap()).unwrap();
    assert_eq!(server.requests_to("/jwks").len(), 2);
}

/// A server that does not answer hits the total timeout: `Timeout` naming the step and the
/// configured bound, returned within the bound plus a small margin. (blocking + tokio
/// `a_slow_server_times_out`)
fn a_slow_head_hits_the_total_timeout<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    server.route(
        "/.well-known/openid-configuration",
        Reply::json(200, metadata_json(&server)).delay(FOREVER),
    );
    let client = short_timeout(driver);
    let exchange = config(&server, "canned", CLIENT_SECRET)
        .metadata_exchange()
        .unwrap();
    let started = Instant::now();
    let result = client.run(exchange);
    let elapsed = started.elapsed();
    assert!(
        matches!(
            result,
            Err(AdapterError {
                kind: Kind::Timeout {
                    endpoint: Endpoint::Metadata,
                    after: SHORT_TIMEOUT
                },
                class: "transport",
                ..
            })
        ),
        "{result:?}"
    );
    assert!(elapsed < SHORT_TIMEOUT + MARGIN, "{elapsed:?}");
    assert_eq!(server.requests().len(), 1);
}

/// A body that stops mid-way hits the total timeout too, whether the server announced more
/// than it sends (and keeps the connection open) or pauses in the middle of a chunked or
/// length-framed body. (blocking `a_body_that_stalls_times_out`, tokio
/// `a_stalled_body_times_out`, plus the mid-body pauses)
fn a_stalled_body_hits_the_total_timeout<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let operator = operator(&server);
    let body = r#"{"keys":[]}"#;
    let cases = [
        ("announced 100", Reply::json(200, body).announcing(100)),
        (
            "length-framed pause",
            Reply::json(200, body).stall_after(4, FOREVER),
        ),
        (
            "chunked pause",
            Reply::json(200, body).chunked(4).stall_after(12, FOREVER),
        ),
    ];
    let client = short_timeout(driver);
    for (case, reply) in cases {
        server.route("/jwks", reply);
        let started = Instant::now();
        let result = client.run(operator.jwks_exchange().unwrap());
        let elapsed = started.elapsed();
        assert!(
            matches!(
                result,
                Err(AdapterError {
                    kind: Kind::Timeout {
                        endpoint: Endpoint::Jwks,
                        after: SHORT_TIMEOUT
                    },
                    ..
                })
            ),
            "{case}: {result:?}"
        );
        assert!(elapsed < SHORT_TIMEOUT + MARGIN, "{case}: {elapsed:?}");
    }
}

/// The timeout is total: two pauses, each shorter than the bound but longer together, time out.
fn the_timeout_bounds_the_whole_exchange_not_each_read<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let operator = operator(&server);
    let pause = SHORT_TIMEOUT * 7 / 8;
    server.route(
        "/jwks",
        Reply::json(200, r#"{"keys":[]}"#)
            .delay(pause)
            .stall_after(4, pause),
    );
    let started = Instant::now();
    let result = short_timeout(driver).run(operator.jwks_exchange().unwrap());
    let elapsed = started.elapsed();
    assert!(
        matches!(
            result,
            Err(AdapterError {
                kind: Kind::Timeout { .. },
                ..
            })
        ),
        "{result:?}"
    );
    assert!(elapsed < SHORT_TIMEOUT + MARGIN, "{elapsed:?}");
}

/// Pauses before the head and mid-body that fit in the timeout are waited out, with every
/// framing.
fn a_slow_answer_within_the_timeout_is_read<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let operator = operator(&server);
    let key = key(0, "k1");
    let body = jwks_json(&[&key]);
    let pause = Duration::from_millis(100);
    for reply in [
        Reply::json(200, body.clone()),
        Reply::json(200, body.clone()).chunked(100),
    ] {
        server.route("/jwks", reply.delay(pause).stall_after(50, pause));
        let jwks = driver.run(operator.jwks_exchange().unwrap()).unwrap();
        assert_eq!(jwks.keys().len(), 1);
        assert_eq!(jwks.keys()[0].kid(), Some("k1"));
    }
}

/// The body cap: a body of exactly the cap is read, one byte more is refused, whether its
/// length is announced or it comes chunked. (blocking `a_body_over_the_cap_fails_while_reading`,
/// `a_body_of_exactly_the_cap_is_read`; tokio `an_announced_body_over_the_cap_is_refused`,
/// `a_chunked_body_over_the_cap_is_cut_off`)
fn bodies_up_to_the_cap_are_read_and_longer_ones_refused<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let cap = driver.config().body_limit;
    assert_eq!(cap, MIB);
    let exactly = vec![b'a'; cap];
    let over = vec![b'a'; cap + 1];
    let cases: [(&str, Reply, Option<usize>); 6] = [
        (
            "length, at the cap",
            Reply::status(200).body(exactly.clone()),
            Some(cap),
        ),
        (
            "length, one over",
            Reply::status(200).body(over.clone()),
            None,
        ),
        (
            "length, twice the cap",
            Reply::status(200).body(vec![b'a'; 2 * cap]),
            None,
        ),
        (
            "chunked, at the cap",
            Reply::status(200).body(exactly).chunked(64 * 1024),
            Some(cap),
        ),
        (
            "chunked, one over",
            Reply::status(200).body(over).chunked(64 * 1024),
            None,
        ),
        (
            "chunked, one huge chunk",
            Reply::status(200)
                .body(vec![b'a'; 2 * cap])
                .chunked(2 * cap),
            None,
        ),
    ];
    let client = short_timeout(driver);
    for (case, reply, read) in cases {
        server.route("/body", reply);
        let result = client.raw(get(&server.url("/body")));
        match (read, result) {
            (Some(length), Ok(response)) => assert_eq!(response.body().len(), length, "{case}"),
            (
                None,
                Err(AdapterError {
                    kind:
                        Kind::BodyTooLarge {
                            endpoint: Endpoint::Authorization,
                            limit,
                        },
                    class: "misbehaving",
                    ..
                }),
            ) => assert_eq!(limit, cap, "{case}"),
            (_, other) => panic!("{case}: {:?}", other.map(|r| r.body().len())),
        }
    }
}

/// A `Content-Length` over the cap is refused before anything is read: the few bytes behind it
/// and the open connection would otherwise hold the call until the timeout. (tokio
/// `an_announced_length_over_the_cap_is_refused_before_reading`)
fn an_announced_length_over_the_cap_is_refused_before_reading<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let cap = driver.config().body_limit;
    server.route("/body", Reply::json(200, "{}").announcing(2 * cap as u64));
    let started = Instant::now();
    let result = short_timeout(driver).raw(get(&server.url("/body")));
    assert!(
        matches!(
            result,
            Err(AdapterError {
                kind: Kind::BodyTooLarge {
                    endpoint: Endpoint::Authorization,
                    limit
                },
                ..
            }) if limit == cap
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < SHORT_TIMEOUT, "{:?}", started.elapsed());
}

/// Through `execute`, the cap names the step; a chunked body under the cap reaches the core
/// whole. (tokio `a_chunked_body_under_the_cap_is_read_whole`,
/// `a_chunked_body_over_the_cap_is_cut_off`)
fn an_execute_body_over_the_cap_names_the_step<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let config = config(&server, "canned", CLIENT_SECRET);
    let path = "/.well-known/openid-configuration";
    server.route(path, Reply::json(200, metadata_json(&server)).chunked(7));
    let metadata = driver.run(config.metadata_exchange().unwrap()).unwrap();
    assert_eq!(metadata.issuer, server.url(""));

    let padded = format!("{}{}", metadata_json(&server), " ".repeat(2 * MIB));
    for reply in [
        Reply::json(200, padded.clone()),
        Reply::json(200, padded).chunked(64 * 1024),
    ] {
        server.route(path, reply);
        let result = driver.run(config.metadata_exchange().unwrap());
        assert!(
            matches!(
                result,
                Err(AdapterError {
                    kind: Kind::BodyTooLarge {
                        endpoint: Endpoint::Metadata,
                        limit: MIB
                    },
                    ..
                })
            ),
            "{result:?}"
        );
    }
}

/// A server that announces fewer bytes than it sends: the core sees exactly the announced
/// bytes, and the rest is never read as the answer to the next request on the same client.
fn a_body_longer_than_announced_is_cut_and_never_read_as_the_next_answer<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let operator = operator(&server);
    let key = key(0, "k1");
    let body = jwks_json(&[&key]);
    let announced = body.len() as u64 / 2;
    // The excess looks like a whole response of its own.
    let smuggled = concat!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
        "Content-Length: 11\r\n\r\n{\"keys\":[]}",
    );
    server.route(
        "/jwks",
        Reply::json(200, format!("{body}{smuggled}")).announcing(announced),
    );
    let error = core_error(driver.run(operator.jwks_exchange().unwrap()));
    assert_eq!(error.class().as_str(), "misbehaving", "{error:?}");

    server.route("/jwks", Reply::json(200, body));
    let jwks = driver.run(operator.jwks_exchange().unwrap()).unwrap();
    assert_eq!(
        jwks.keys().len(),
        1,
        "the excess was read as the next answer"
    );
    assert_eq!(server.requests_to("/jwks").len(), 2);
}

/// Transport errors name the step and the kind of fault, never the URL (its query may carry a
/// secret) nor an address. (blocking + tokio `a_closed_port_is_a_transport_error`, plus a
/// broken answer)
fn transport_errors_name_no_url_and_no_secret<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    server.route(
        "/broken",
        Reply::raw("HTTP/1.1 twohundred OK\r\nContent-Length: 2\r\n\r\n{}"),
    );
    let closed = closed_port();
    let targets = [
        (
            "closed port",
            format!("http://127.0.0.1:{closed}/meta?code=hunter2"),
        ),
        ("broken answer", server.url("/broken?code=hunter2")),
    ];
    for (case, url) in targets {
        let operator = config(&server, "transport", CLIENT_SECRET)
            .jwks(&url)
            .unwrap()
            .build()
            .unwrap();
        let result = driver.run(operator.jwks_exchange().unwrap());
        let Err(AdapterError {
            kind: Kind::Transport { endpoint, reason },
            class,
            shown,
        }) = result
        else {
            panic!("{case}: expected a transport error, got {result:?}");
        };
        assert_eq!(endpoint, Endpoint::Jwks, "{case}");
        assert_eq!(class, "transport", "{case}");
        assert!(!reason.is_empty(), "{case}");
        for text in [&reason, &shown] {
            for leak in ["hunter2", "http://", "127.0.0.1", "/meta", "/broken"] {
                assert!(!text.contains(leak), "{case}: {leak} in {text:?}");
            }
        }
        // A raw request names the endpoint reached without an exchange, and no secret either.
        match driver.raw(get(&url)) {
            Err(AdapterError {
                kind:
                    Kind::Transport {
                        endpoint: Endpoint::Authorization,
                        reason,
                    },
                shown,
                ..
            }) => assert!(!reason.contains("hunter2") && !shown.contains("hunter2")),
            other => panic!("{case}: expected a transport error, got {other:?}"),
        }
    }
}

/// `send` puts method, target, headers (sensitive ones included) and body on the wire as given,
/// adds no `Content-Length: 0` to a bodiless GET, and hands back status, headers and body as
/// received. (blocking + tokio `send_preserves_method_headers_and_body`, plus the bodiless GET)
fn send_passes_requests_through_unchanged<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    server.route(
        "/echo",
        Reply::status(418)
            .header("X-Echo", "yes")
            .header("Set-Cookie", "a=1")
            .header("Set-Cookie", "b=2")
            .body(&b"short and stout"[..]),
    );
    let mut bearer = http::HeaderValue::from_static("Bearer s3cr3t");
    bearer.set_sensitive(true);
    let requests = [
        http::Request::post(server.url("/echo?x=1"))
            .header("authorization", "Basic Y2xpZW50OnNlY3JldA==")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-custom", "one")
            .body(b"grant_type=authorization_code&code=abc".to_vec())
            .unwrap(),
        http::Request::put(server.url("/echo"))
            .header(http::header::AUTHORIZATION, bearer)
            .header("x-correlation", "abc")
            .header("content-type", "application/octet-stream")
            .body(vec![0, 1, 2, 255])
            .unwrap(),
        http::Request::get(server.url("/echo?q=a%20b"))
            .header("accept", "text/html")
            .body(Vec::new())
            .unwrap(),
        http::Request::delete(server.url("/echo"))
            .body(Vec::new())
            .unwrap(),
    ];
    for request in requests {
        let sent = (
            request.method().to_string(),
            request.uri().path_and_query().unwrap().to_string(),
            request.headers().clone(),
            request.body().clone(),
        );
        let response = driver.raw(request).unwrap();
        assert_eq!(response.status(), 418);
        assert_eq!(response.headers()["x-echo"], "yes");
        let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(response.body(), b"short and stout");

        let seen: Recorded = server.requests().pop().unwrap();
        let (method, target, headers, body) = sent;
        assert_eq!(seen.method, method);
        assert_eq!(seen.target, target);
        for (name, value) in &headers {
            let values: Vec<_> = seen.headers_named(name.as_str()).collect();
            assert_eq!(
                values,
                [value.to_str().unwrap()],
                "{method} {name}: {seen:?}"
            );
        }
        assert_eq!(seen.body, body, "{method}");
        if body.is_empty() {
            assert_eq!(seen.header("content-length"), None, "{method}: {seen:?}");
            assert_eq!(seen.header("transfer-encoding"), None, "{method}: {seen:?}");
        } else {
            assert_eq!(
                seen.header("content-length"),
                Some(&*body.len().to_string()),
                "{method}"
            );
        }
    }
}

/// One client keeps one connection for consecutive requests, through `execute` and `send`.
/// (The pauses between requests are not part of the contract; see below.)
/// (blocking + tokio `connections_are_reused`)
fn connections_are_reused<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    server.route(
        "/.well-known/openid-configuration",
        Reply::json(200, metadata_json(&server)),
    );
    server.route("/raw", Reply::status(200).body("raw"));
    let config = config(&server, "canned", CLIENT_SECRET);
    for _ in 0..3 {
        driver.run(config.metadata_exchange().unwrap()).unwrap();
        // hyper hands a connection back to its pool asynchronously after the response; a
        // request that starts sooner races a new connect against it.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(driver.raw(get(&server.url("/raw"))).unwrap().body(), b"raw");
        std::thread::sleep(Duration::from_millis(20));
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 6);
    assert!(requests.iter().all(|r| r.connection == 0), "{requests:?}");
    assert_eq!(server.connections(), 1);
}

/// `execute` finishes a token exchange including its key refetch: a known `kid` costs no JWKS
/// request; an unknown one costs exactly one JWKS GET, whose keys the shared context keeps,
/// then the verified tokens; a `kid` still unknown after that one GET is `UnknownKeyId`.
/// (blocking + tokio `complete_done_returns_the_value_without_a_request` and
/// `complete_need_jwks_fetches_once_*`, now inside `execute`)
fn execute_finishes_a_token_exchange_with_one_jwks_refetch<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let (first, second, third) = (key(0, "kid-1"), key(1, "kid-2"), key(2, "kid-3"));
    // No refetch spacing: the third round meets an unknown kid right after the second fetched
    // (the default spacing would refuse it without a request).
    let mut policy = mc_core::Policy::default();
    policy.jwks_min_refetch_secs = 0;
    let operator = config(&server, "canned", CLIENT_SECRET)
        .keys(jwks(&[&first]))
        .policy(policy)
        .build()
        .unwrap();
    server.route("/jwks", Reply::json(200, jwks_json(&[&first, &second])));
    let token_round = |key: &SigningKey, access: &str| {
        let (code, nonce) = code(driver, &operator, "the-code");
        server.route(
            "/token",
            Reply::json(200, token_json(&operator, key, &nonce, access, "refresh")),
        );
        driver.run(code.token_exchange(&operator, driver.now()).unwrap())
    };

    let tokens = token_round(&first, "access-1").unwrap();
    assert_eq!(tokens.access_token().expose_secret(), "access-1");
    assert!(server.requests_to("/jwks").is_empty());
    assert_eq!(operator.jwks_fetched_at(), None);

    let before = driver.now();
    let tokens = token_round(&second, "access-2").unwrap();
    assert_eq!(tokens.sub(), "canned-subscriber");
    assert_eq!(tokens.access_token().expose_secret(), "access-2");
    let fetches = server.requests_to("/jwks");
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    assert_eq!(fetches[0].method, "GET");
    assert_eq!(fetches[0].header("content-length"), None);
    assert!(operator.jwks_fetched_at().is_some_and(|at| at >= before));
    assert!(
        operator
            .jwks()
            .keys()
            .iter()
            .any(|k| k.kid() == Some("kid-2"))
    );

    let error = core_error(token_round(&third, "access-3"));
    assert!(
        matches!(
            &error,
            mc_core::Error::IdToken(IdTokenError::UnknownKeyId { kid }) if kid == "kid-3"
        ),
        "{error:?}"
    );
    assert_eq!(server.requests_to("/jwks").len(), 2);
    assert_eq!(server.requests_to("/token").len(), 3);
}

/// Proxy variables in the environment are ignored. The environment is process-wide (and
/// changing it is `unsafe` in edition 2024, which this workspace forbids), so the scenario
/// runs itself again in a child process whose every proxy variable points at a recording
/// server: the adapters' requests must reach the origin and the "proxy" see only the control
/// request of a client that does read the environment (proof that the variables took effect).
fn proxy_environment_is_ignored<D: Adapter>(driver: &D) {
    const CHILD: &str = "MC_ADAPTERS_PROXY_CHILD";
    const PROXY_VARS: [&str; 6] = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];
    if let Ok(proxy) = std::env::var(CHILD) {
        // In the child: every proxy variable points at the parent's recording server.
        for var in PROXY_VARS {
            assert_eq!(std::env::var(var).as_deref(), Ok(proxy.as_str()), "{var}");
        }
        let server = CannedServer::start().unwrap();
        server.route(
            "/.well-known/openid-configuration",
            Reply::json(200, metadata_json(&server)),
        );
        server.route("/raw", Reply::status(204));
        server.route("/control", Reply::status(204));
        // The control: a client that reads the environment goes to the "proxy" (a 404 there).
        let control = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(reqwest::get(server.url("/control")))
            .unwrap();
        assert_eq!(control.status(), 404);
        assert!(server.requests().is_empty());

        let config = config(&server, "canned", CLIENT_SECRET);
        driver.run(config.metadata_exchange().unwrap()).unwrap();
        assert_eq!(driver.raw(get(&server.url("/raw"))).unwrap().status(), 204);
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        // Origin form: a request meant for a proxy would carry the absolute URL.
        assert!(
            requests.iter().all(|r| r.target.starts_with('/')),
            "{requests:?}"
        );
        return;
    }

    let proxy = CannedServer::start().unwrap();
    let name = format!("{}::proxy_environment_is_ignored", D::MODULE);
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", &name, "--test-threads=1"])
        .env(CHILD, proxy.url(""))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for var in PROXY_VARS {
        child.env(var, proxy.url(""));
    }
    let output = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    // Only the control went through the proxy, in the absolute form a proxy gets.
    let proxied = proxy.requests();
    assert_eq!(proxied.len(), 1, "{proxied:?}");
    assert!(
        proxied[0].target.starts_with("http://") && proxied[0].target.ends_with("/control"),
        "{proxied:?}"
    );
}

/// Each `execute` leaves one `mc_exchange` span with the step, the operator and the outcome
/// (`ok`, `refused`, `misbehaving`, `transport`), with the HTTP work (the key refetch
/// included) in nested `http` spans; and no secret the login handled (client secret, Basic
/// credentials, code, PKCE verifier, nonce, state, tokens, the operator's error text) appears
/// in any span field or event recorded by the process. (tokio `tracing.rs`
/// `each_exchange_runs_in_a_span_that_logs_no_secrets`, now for both adapters and every outcome)
fn each_execute_leaves_one_span_and_no_secret<D: Adapter>(driver: &D) {
    let server = CannedServer::start().unwrap();
    let id = format!("traced-{}", D::MODULE);
    let secret = format!("client-secret-marker-{}", D::MODULE);
    let (known, rotated) = (key(0, "kid-1"), key(1, "kid-2"));
    let operator = config(&server, &id, &secret)
        .keys(jwks(&[&known]))
        .build()
        .unwrap();
    server.route("/jwks", Reply::json(200, jwks_json(&[&known, &rotated])));
    let thread = std::thread::current().id();
    let mut secrets = vec![secret.clone()];

    // ok, through a key refetch.
    let (code_ok, nonce) = code(driver, &operator, "code-marker-ok");
    let ok_body = token_json(
        &operator,
        &rotated,
        &nonce,
        "access-marker",
        "refresh-marker",
    );
    server.route("/token", Reply::json(200, ok_body.clone()));
    let tokens = driver
        .run(code_ok.token_exchange(&operator, driver.now()).unwrap())
        .unwrap();
    assert_eq!(tokens.access_token().expose_secret(), "access-marker");
    let id_token: Value = serde_json::from_str(&ok_body).unwrap();
    secrets.extend([
        "code-marker-ok".to_owned(),
        nonce,
        "access-marker".to_owned(),
        "refresh-marker".to_owned(),
        id_token["id_token"].as_str().unwrap().to_owned(),
    ]);

    // refused.
    server.route(
        "/token",
        Reply::json(
            400,
            r#"{"error":"invalid_grant","error_description":"description-marker"}"#,
        ),
    );
    let (code_refused, nonce) = code(driver, &operator, "code-marker-refused");
    let result = driver.run(
        code_refused
            .token_exchange(&operator, driver.now())
            .unwrap(),
    );
    assert_eq!(result.unwrap_err().class, "refused");
    secrets.extend([
        "code-marker-refused".to_owned(),
        nonce,
        "description-marker".to_owned(),
    ]);

    // misbehaving: a token signed by another key under a known kid.
    let (code_forged, nonce) = code(driver, &operator, "code-marker-forged");
    let impostor = SigningKey::from_pool(KeyFamily::Rs256, 3, "kid-1".to_owned());
    let forged = token_json(
        &operator,
        &impostor,
        &nonce,
        "access-forged",
        "refresh-forged",
    );
    server.route("/token", Reply::json(200, forged));
    let result = driver.run(code_forged.token_exchange(&operator, driver.now()).unwrap());
    assert_eq!(result.unwrap_err().class, "misbehaving");
    secrets.extend([
        "code-marker-forged".to_owned(),
        nonce,
        "access-forged".to_owned(),
    ]);

    // transport: the token endpoint is gone.
    let gone = config(&server, &id, &secret)
        .token(&format!("http://127.0.0.1:{}/token", closed_port()))
        .unwrap()
        .keys(jwks(&[&known]))
        .build()
        .unwrap();
    let (code_lost, nonce) = code(driver, &gone, "code-marker-lost");
    let result = driver.run(code_lost.token_exchange(&gone, driver.now()).unwrap());
    assert_eq!(result.unwrap_err().class, "transport");
    secrets.extend(["code-marker-lost".to_owned(), nonce]);

    // Whatever went on the wire as a credential is a secret too.
    for request in server.requests_to("/token") {
        secrets.extend(request.header("authorization").map(str::to_owned));
        for (name, value) in url::form_urlencoded::parse(&request.body) {
            if matches!(&*name, "code" | "code_verifier") {
                secrets.push(value.into_owned());
            }
        }
    }
    secrets.extend(
        [
            secret.as_bytes(),
            format!("{CLIENT_ID}:{secret}").as_bytes(),
        ]
        .map(|raw| base64::engine::general_purpose::STANDARD.encode(raw)),
    );
    secrets.push(URL_SAFE_NO_PAD.encode(secret.as_bytes()));

    let spans = recorder::spans();
    let exchanges: Vec<_> = spans
        .iter()
        .filter(|s| s.thread == thread && s.name == "mc_exchange")
        .filter(|s| s.field("operator") == Some(id.as_str()))
        .collect();
    let outcomes: Vec<_> = exchanges.iter().map(|s| s.field("outcome")).collect();
    assert_eq!(
        outcomes,
        [
            Some("ok"),
            Some("refused"),
            Some("misbehaving"),
            Some("transport")
        ],
        "{exchanges:?}"
    );
    assert!(exchanges.iter().all(|s| s.field("step") == Some("token")));
    let http_steps = |parent: u64| -> Vec<_> {
        spans
            .iter()
            .filter(|s| s.name == "http" && s.parent == Some(parent))
            .map(|s| s.field("step").unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(http_steps(exchanges[0].id), ["token", "jwks"]);
    assert_eq!(http_steps(exchanges[1].id), ["token"]);
    let refused_http = spans
        .iter()
        .find(|s| s.name == "http" && s.parent == Some(exchanges[1].id))
        .unwrap();
    let events = recorder::events();
    assert!(
        events
            .iter()
            .any(|e| e.span == Some(refused_http.id) && e.field("status") == Some("400")),
        "{events:?}"
    );

    for secret in &secrets {
        for span in &spans {
            for (name, value) in &span.fields {
                assert!(
                    !value.contains(secret.as_str()),
                    "{secret:?} in span {} {name}",
                    span.name
                );
            }
        }
        for event in &events {
            for (name, value) in &event.fields {
                assert!(
                    !value.contains(secret.as_str()),
                    "{secret:?} in event field {name}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Adapter items that need no server.

/// Both adapters draw OS randomness. (blocking `os_entropy_fills_the_buffer`, tokio
/// `os_entropy_fills`)
#[test]
fn os_entropy_of_both_adapters_fills() {
    use mc_core::Entropy as _;
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    mc_io_blocking::OsEntropy.fill(&mut a);
    mc_io_tokio::OsEntropy.fill(&mut b);
    assert_ne!(a, [0u8; 32]);
    assert_ne!(b, [0u8; 32]);
    assert_ne!(a, b);
}

/// The tokio adapter's futures are `Send`, so a multi-threaded host can spawn them. (tokio
/// `the_futures_are_send`)
#[test]
fn the_tokio_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let client = mc_io_tokio::Client::new().unwrap();
    let operator = config_at("https://op.example", "send", CLIENT_SECRET)
        .build()
        .unwrap();
    assert_send(client.execute(operator.jwks_exchange().unwrap()));
    assert_send(client.send(http::Request::new(Vec::new())));
}

// ---------------------------------------------------------------------------------------------

use mc_tests::spans as recorder;

// ---------------------------------------------------------------------------------------------
// The root store policy (issue 10, finding 14)

/// A test CA (its key is not kept) and a server certificate it issued for 127.0.0.1.
const TEST_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/tls/ca.pem");
const TEST_SERVER_CERT: &str = include_str!("../keys/tls/server.pem");
const TEST_SERVER_KEY: &str = include_str!("../keys/tls/server.key");

/// A TLS server on 127.0.0.1 with the test CA's certificate: it answers `200 ok` to each of
/// `connections` connections (a failed handshake counts as one), then stops.
fn tls_server(connections: usize) -> std::net::SocketAddr {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read as _, Write as _};

    let chain = vec![CertificateDer::from_pem_slice(TEST_SERVER_CERT.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(TEST_SERVER_KEY.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(TIMEOUT));
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                match tls.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            if head.ends_with(b"\r\n\r\n") {
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    addr
}

/// Both adapters verify server certificates with the platform's verifier: the operating
/// system's trust store, which on Linux `SSL_CERT_FILE` replaces. In a child process whose
/// `SSL_CERT_FILE` names only the test CA, both reach a server with a certificate of that CA
/// (a bundled root store, such as ureq's webpki-roots, would refuse it); here, with the system
/// store, both refuse it. Either way the two adapters agree.
#[test]
fn review_adapters_share_one_root_store_policy() {
    const CHILD: &str = "MC_ADAPTERS_ROOT_STORE_CHILD";
    let trusts_test_ca = std::env::var_os(CHILD).is_some();
    let addr = tls_server(2);
    let url = format!("https://127.0.0.1:{}/probe", addr.port());
    let outcomes = [
        ("blocking", blocking().raw(get(&url))),
        ("tokio", tokio().raw(get(&url))),
    ];
    for (adapter, outcome) in outcomes {
        match outcome {
            Ok(response) if trusts_test_ca => {
                assert_eq!(response.status(), 200, "{adapter}");
                assert_eq!(response.body(), b"ok", "{adapter}");
            }
            Err(AdapterError {
                kind: Kind::Transport { reason, .. },
                ..
            }) if !trusts_test_ca => {
                assert!(
                    reason.to_lowercase().contains("certificate")
                        || reason.to_lowercase().contains("issuer"),
                    "{adapter}: {reason}"
                );
            }
            other => panic!(
                "{adapter} {} the test CA's server: {other:?}",
                if trusts_test_ca { "refused" } else { "reached" }
            ),
        }
    }
    if trusts_test_ca {
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "review_adapters_share_one_root_store_policy",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("SSL_CERT_FILE", TEST_CA)
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child that trusts only the test CA failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
