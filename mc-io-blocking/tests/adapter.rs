//! The adapter against a tiny canned HTTP/1.1 server on loopback: real sockets, no other network.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mc_core::{
    ClientSecret, Discovered, Endpoint, OperatorConfig, ProtocolError, Resume, UnixTime, Verified,
};
use mc_io_blocking::{Client, Config, Error};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    /// Which accepted connection carried it (0, 1, ...).
    connection: usize,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server answers: optionally after a pause, raw bytes, then optionally a stall with
/// the connection still open.
struct Reply {
    delay: Duration,
    raw: Vec<u8>,
    hold: Duration,
}

fn reply(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut raw = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    Reply {
        delay: Duration::ZERO,
        raw,
        hold: Duration::ZERO,
    }
}

fn json(status: &str, body: &str) -> Reply {
    reply(
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Serve every request with `answer`, on keep-alive connections, until the test ends.
    fn start(answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            for (connection, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let (answer, log) = (Arc::clone(&answer), Arc::clone(&log));
                thread::spawn(move || serve_connection(connection, stream, &*answer, &log));
            }
        });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn serve_connection(
    connection: usize,
    stream: TcpStream,
    answer: &dyn Fn(&Seen) -> Reply,
    log: &Mutex<Vec<Seen>>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(connection, &mut reader) {
        log.lock().expect("lock").push(request.clone());
        let Reply { delay, raw, hold } = answer(&request);
        thread::sleep(delay);
        if writer
            .write_all(&raw)
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
        thread::sleep(hold);
    }
}

/// Read one request head and its `Content-Length` body; `None` at end of stream.
fn read_request(connection: usize, reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(Some(0), |(_, v)| v.parse::<usize>().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        connection,
        method,
        target,
        headers,
        body,
    })
}

fn operator(server: &Server) -> Result<Discovered, mc_core::Error> {
    let config = OperatorConfig::new(
        "loopback",
        "client-id",
        ClientSecret::new("client-secret"),
        "http://127.0.0.1/callback",
        &server.url("/authorize"),
        &server.url("/token"),
    )?
    .metadata(&server.url("/.well-known/openid-configuration"))?
    .jwks(&server.url("/jwks"))?;
    Ok(Discovered::from_registry(config))
}

#[test]
fn a_200_json_answer_reaches_the_core() -> TestResult {
    let server = Server::start(|seen| {
        let issuer = format!("http://{}", seen.header("host").unwrap_or_default());
        json(
            "200 OK",
            &format!(r#"{{"issuer":"{issuer}","token_endpoint":"{issuer}/token2"}}"#),
        )
    });
    let mut operator = operator(&server)?;
    let metadata = Client::new().execute(operator.metadata_exchange()?)?;
    assert_eq!(metadata.issuer, server.url(""));
    operator.apply_metadata(metadata)?;
    assert_eq!(
        operator.endpoints().token.as_str(),
        server.url("/token2").as_str()
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, "/.well-known/openid-configuration");
    assert_eq!(requests[0].header("accept"), Some("application/json"));
    assert_eq!(requests[0].header("content-length"), None);
    Ok(())
}

#[test]
fn a_400_oauth_error_is_the_operators_refusal() -> TestResult {
    let server = Server::start(|_| {
        json(
            "400 Bad Request",
            r#"{"error":"invalid_grant","error_description":"code used"}"#,
        )
    });
    let operator = operator(&server)?;
    match Client::new().execute(operator.metadata_exchange()?) {
        Err(Error::Core(mc_core::Error::Refused(refusal))) => {
            assert!(refusal.is("invalid_grant"));
            assert_eq!(refusal.status, Some(400));
            assert_eq!(refusal.description.as_deref(), Some("code used"));
        }
        other => panic!("expected the operator's refusal, got {other:?}"),
    }
    Ok(())
}

#[test]
fn a_redirect_is_not_followed() -> TestResult {
    let server = Server::start(|seen| {
        let elsewhere = format!(
            "http://{}/elsewhere",
            seen.header("host").unwrap_or_default()
        );
        reply("302 Found", &[("Location", &elsewhere)], b"")
    });
    let operator = operator(&server)?;
    match Client::new().execute(operator.jwks_exchange()?) {
        Err(Error::Core(mc_core::Error::Protocol(ProtocolError::UnexpectedStatus {
            endpoint: Endpoint::Jwks,
            status: 302,
        }))) => {}
        other => panic!("expected an unexpected 302, got {other:?}"),
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].target, "/jwks");
    Ok(())
}

#[test]
fn a_slow_server_times_out() -> TestResult {
    let server = Server::start(|_| Reply {
        delay: Duration::from_millis(1500),
        ..json("200 OK", r#"{"keys":[]}"#)
    });
    let operator = operator(&server)?;
    let client = Client::with_config(Config::default().with_timeout(Duration::from_millis(300)));
    let started = Instant::now();
    match client.execute(operator.jwks_exchange()?) {
        Err(Error::Timeout {
            endpoint: Endpoint::Jwks,
            after,
        }) => assert_eq!(after, Duration::from_millis(300)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(1200));
    Ok(())
}

#[test]
fn a_body_that_stalls_times_out() -> TestResult {
    let server = Server::start(|_| {
        let mut reply = json("200 OK", r#"{"keys":[]}"#);
        // Announce more bytes than are sent, then keep the connection open.
        reply.raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"keys\"".to_vec();
        reply.hold = Duration::from_millis(1500);
        reply
    });
    let operator = operator(&server)?;
    let client = Client::with_config(Config::default().with_timeout(Duration::from_millis(300)));
    let started = Instant::now();
    let result = client.execute(operator.jwks_exchange()?);
    assert!(
        matches!(
            result,
            Err(Error::Timeout {
                endpoint: Endpoint::Jwks,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1200));
    Ok(())
}

#[test]
fn a_body_over_the_cap_fails_while_reading() -> TestResult {
    let server = Server::start(|_| reply("200 OK", &[], &vec![b'a'; 2 * 1024 * 1024]));
    let operator = operator(&server)?;
    let client = Client::with_config(Config::default().with_body_limit(1024 * 1024));
    match client.execute(operator.jwks_exchange()?) {
        Err(Error::BodyTooLarge {
            endpoint: Endpoint::Jwks,
            limit: 1_048_576,
        }) => {}
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
    Ok(())
}

#[test]
fn a_body_of_exactly_the_cap_is_read() -> TestResult {
    let server = Server::start(|_| reply("200 OK", &[], &[b'a'; 1000]));
    let client = Client::with_config(Config::default().with_body_limit(1000));
    let response = client.send(http::Request::get(server.url("/")).body(Vec::new())?)?;
    assert_eq!(response.body().len(), 1000);
    let client = Client::with_config(Config::default().with_body_limit(999));
    let result = client.send(http::Request::get(server.url("/")).body(Vec::new())?);
    assert!(
        matches!(
            result,
            Err(Error::BodyTooLarge {
                endpoint: Endpoint::Authorization,
                limit: 999
            })
        ),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn a_closed_port_is_a_transport_error() -> TestResult {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // The listener is dropped: nothing accepts on that port any more.
    let request = http::Request::get(format!("http://127.0.0.1:{port}/")).body(Vec::new())?;
    match Client::new().send(request) {
        Err(Error::Transport {
            endpoint: Endpoint::Authorization,
            reason,
        }) => assert!(!reason.is_empty()),
        other => panic!("expected a transport error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn send_preserves_method_headers_and_body() -> TestResult {
    let server = Server::start(|seen| {
        let mut echo = format!("{} {}\n", seen.method, seen.target);
        for (name, value) in &seen.headers {
            echo.push_str(&format!("{}: {value}\n", name.to_ascii_lowercase()));
        }
        echo.push('\n');
        let mut body = echo.into_bytes();
        body.extend_from_slice(&seen.body);
        reply("418 I'm a teapot", &[("X-Echo", "yes")], &body)
    });
    let request = http::Request::post(server.url("/token?x=1"))
        .header("authorization", "Basic Y2xpZW50OnNlY3JldA==")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-custom", "one")
        .body(b"grant_type=authorization_code&code=abc".to_vec())?;
    let response = Client::new().send(request)?;

    assert_eq!(response.status(), 418);
    assert_eq!(response.headers()["x-echo"], "yes");
    let echo = String::from_utf8(response.into_body())?;
    assert!(echo.starts_with("POST /token?x=1\n"), "{echo}");
    assert!(echo.contains("\nauthorization: Basic Y2xpZW50OnNlY3JldA==\n"));
    assert!(echo.contains("\ncontent-type: application/x-www-form-urlencoded\n"));
    assert!(echo.contains("\nx-custom: one\n"));
    assert!(echo.contains("\ncontent-length: 38\n"));
    assert!(echo.ends_with("\n\ngrant_type=authorization_code&code=abc"));
    Ok(())
}

#[test]
fn connections_are_reused() -> TestResult {
    let server = Server::start(|seen| {
        let n = seen.header("x-n").unwrap_or_default().to_owned();
        reply("200 OK", &[], n.as_bytes())
    });
    let client = Client::new();
    for n in 0..3 {
        let request = http::Request::get(server.url("/"))
            .header("x-n", n.to_string())
            .body(Vec::new())?;
        assert_eq!(
            client.send(request)?.into_body(),
            n.to_string().into_bytes()
        );
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.connection == 0), "{requests:?}");
    Ok(())
}

/// A pending step that reports what the operator holds when resumed.
#[derive(Debug)]
struct Pending;

impl Resume for Pending {
    type Output = (usize, Option<UnixTime>);

    fn resume(self, operator: &Discovered, _now: UnixTime) -> Result<Self::Output, mc_core::Error> {
        Ok((operator.jwks().skipped(), operator.jwks_fetched_at()))
    }
}

#[test]
fn complete_done_returns_the_value_without_a_request() -> TestResult {
    let server = Server::start(|_| json("200 OK", r#"{"keys":[]}"#));
    let mut operator = operator(&server)?;
    let value = Client::new().complete(&mut operator, Verified::<_, Pending>::Done((7, None)))?;
    assert_eq!(value, (7, None));
    assert!(server.requests().is_empty());
    assert_eq!(operator.jwks_fetched_at(), None);
    Ok(())
}

#[test]
fn complete_need_jwks_fetches_once_stores_and_resumes() -> TestResult {
    // One symmetric key: parsed, counted as skipped, so the stored set is recognisable.
    let server = Server::start(|_| json("200 OK", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#));
    let mut operator = operator(&server)?;
    let before = mc_io_blocking::now();
    let (skipped, fetched_at) =
        Client::new().complete(&mut operator, Verified::NeedJwks(Pending))?;
    assert_eq!(skipped, 1);
    assert!(fetched_at.is_some_and(|at| at >= before && at <= mc_io_blocking::now()));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].target, "/jwks");
    Ok(())
}

#[test]
fn os_entropy_fills_the_buffer() {
    use mc_core::Entropy;
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    mc_io_blocking::OsEntropy.fill(&mut a);
    mc_io_blocking::OsEntropy.fill(&mut b);
    assert_ne!(a, b);
}
