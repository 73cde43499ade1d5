//! The adapter against a tiny HTTP/1.1 server on loopback that answers canned raw responses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mc_core::{
    AuthorizeOptions, ClientSecret, Discovered, Endpoint, OperatorConfig, ProtocolError, Resume,
    UnixTime, Verified,
};
use mc_io_tokio::{Client, Config, Error, OsEntropy};
use support::{
    MIB, Server, chunked, client, json, metadata_body, operator, operator_for_issuer, response,
};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_200_json_answer_reaches_the_core() {
    let server = Server::start(Duration::ZERO, |request| {
        let issuer = format!("http://{}", request.header("host").unwrap());
        json("200 OK", &metadata_body(&issuer))
    })
    .await;
    let op = operator(&server);
    let metadata = client()
        .execute(op.metadata_exchange().unwrap())
        .await
        .unwrap();
    assert_eq!(metadata.issuer, server.url(""));
    assert_eq!(metadata.jwks_uri, Some(server.url("/jwks")));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, "/.well-known/openid-configuration");
    assert_eq!(requests[0].header("accept"), Some("application/json"));
}

#[tokio::test]
async fn connections_are_reused() {
    let server = Server::canned(json("200 OK", &metadata_body("http://op.example"))).await;
    let (client, op) = (client(), operator_for_issuer(&server, "http://op.example"));
    for _ in 0..3 {
        client
            .execute(op.metadata_exchange().unwrap())
            .await
            .unwrap();
    }
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_chunked_body_under_the_cap_is_read_whole() {
    let body = metadata_body("http://op.example");
    let server = Server::canned(chunked("200 OK", body.as_bytes(), 7)).await;
    let metadata = client()
        .execute(
            operator_for_issuer(&server, "http://op.example")
                .metadata_exchange()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(metadata.issuer, "http://op.example");
}

#[tokio::test]
async fn a_400_oauth_error_is_the_operators_refusal() {
    let server = Server::canned(json("400 Bad Request", r#"{"error":"invalid_grant"}"#)).await;
    let op = operator(&server);
    let now = mc_io_tokio::now();
    let (_, flow) = op
        .authorize(AuthorizeOptions::new(), &mut OsEntropy, now)
        .unwrap();
    let query = format!("code=the-code&state={}", flow.state().expose_secret());
    let code = flow.callback(&op, &query, now).unwrap();
    let error = client()
        .execute(code.token_exchange(&op, mc_io_tokio::now()).unwrap())
        .await
        .unwrap_err();
    match error {
        Error::Core(mc_core::Error::Refused(refusal)) => {
            assert!(refusal.is("invalid_grant"));
            assert_eq!(refusal.endpoint, Endpoint::Token);
            assert_eq!(refusal.status, Some(400));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The token request went out as the core built it, credentials included.
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].target, "/token");
    assert!(
        requests[0]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    let form = String::from_utf8(requests[0].body.clone()).unwrap();
    assert!(form.contains("code=the-code"), "{form}");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = Server::start(Duration::ZERO, |request| {
        let location = format!("http://{}/elsewhere", request.header("host").unwrap());
        response("302 Found", &[("Location", &location)], b"")
    })
    .await;
    let error = client()
        .execute(operator(&server).jwks_exchange().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Core(mc_core::Error::Protocol(ProtocolError::UnexpectedStatus {
                endpoint: Endpoint::Jwks,
                status: 302,
            }))
        ),
        "{error:?}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].target, "/jwks");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let timeout = Duration::from_millis(300);
    let server = Server::start(Duration::from_secs(5), |_| json("200 OK", "{}")).await;
    let client = Client::with_config(Config::default().with_timeout(timeout)).unwrap();
    let started = Instant::now();
    let error = client
        .execute(operator(&server).metadata_exchange().unwrap())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(
            error,
            Error::Timeout { endpoint: Endpoint::Metadata, after } if after == timeout
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_announced_body_over_the_cap_is_refused() {
    let body = vec![b' '; 2 * MIB];
    let server = Server::canned(response(
        "200 OK",
        &[("Content-Type", "application/json")],
        &body,
    ))
    .await;
    let error = client()
        .execute(operator(&server).metadata_exchange().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::BodyTooLarge { endpoint: Endpoint::Metadata, limit } if limit == MIB
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_announced_length_over_the_cap_is_refused_before_reading() {
    // The head announces 2 MiB but only a few bytes follow: waiting for the body would time out.
    let mut raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_vec();
    raw.extend_from_slice(format!("Content-Length: {}\r\n\r\n{{}}", 2 * MIB).as_bytes());
    let server = Server::canned(raw).await;
    let config = Config::default().with_timeout(Duration::from_millis(300));
    let error = Client::with_config(config)
        .unwrap()
        .execute(operator(&server).metadata_exchange().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::BodyTooLarge { .. }), "{error:?}");
}

#[tokio::test]
async fn a_stalled_body_times_out() {
    let mut raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_vec();
    raw.extend_from_slice(b"Content-Length: 100\r\n\r\n{\"issuer\":");
    let server = Server::canned(raw).await;
    let config = Config::default().with_timeout(Duration::from_millis(300));
    let error = Client::with_config(config)
        .unwrap()
        .execute(operator(&server).metadata_exchange().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                endpoint: Endpoint::Metadata,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_cut_off() {
    let body = vec![b' '; 2 * MIB];
    let server = Server::canned(chunked("200 OK", &body, 64 * 1024)).await;
    let error = client()
        .execute(operator(&server).metadata_exchange().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::BodyTooLarge { endpoint: Endpoint::Metadata, limit } if limit == MIB
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = OperatorConfig::new(
        "closed",
        "client-id",
        ClientSecret::new("client-secret"),
        "https://sp.example/callback",
        &format!("http://{addr}/authorize"),
        &format!("http://{addr}/token"),
    )
    .unwrap()
    .metadata(&format!("http://{addr}/meta?secret=hunter2"))
    .unwrap();
    let op = Discovered::from_registry(config);
    let error = client()
        .execute(op.metadata_exchange().unwrap())
        .await
        .unwrap_err();
    match &error {
        Error::Transport { endpoint, reason } => {
            assert_eq!(*endpoint, Endpoint::Metadata);
            assert!(!reason.contains("hunter2"), "{reason}");
            assert!(!reason.contains("http://"), "{reason}");
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(!error.to_string().contains("hunter2"));
}

#[tokio::test]
async fn send_preserves_method_headers_and_body() {
    // The server echoes what it read.
    let server = Server::start(Duration::ZERO, |request| {
        let mut echo = format!("{} {}\n", request.method, request.target);
        for (name, value) in &request.headers {
            echo.push_str(&format!("{}: {value}\n", name.to_ascii_lowercase()));
        }
        echo.push('\n');
        let mut body = echo.into_bytes();
        body.extend_from_slice(&request.body);
        response("500 Internal Server Error", &[], &body)
    })
    .await;
    let mut authorization = http::HeaderValue::from_static("Bearer s3cr3t");
    authorization.set_sensitive(true);
    let request = http::Request::builder()
        .method("PUT")
        .uri(server.url("/echo?x=1"))
        .header(http::header::AUTHORIZATION, authorization)
        .header("x-correlation", "abc")
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .body(vec![0, 1, 2, 255])
        .unwrap();
    let response = client().send(request).await.unwrap();
    assert_eq!(response.status(), 500);
    let body = response.body();
    let split = body.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = std::str::from_utf8(&body[..split]).unwrap();
    assert!(head.starts_with("PUT /echo?x=1\n"), "{head}");
    assert!(head.contains("\nauthorization: Bearer s3cr3t"), "{head}");
    assert!(head.contains("\nx-correlation: abc"), "{head}");
    assert!(
        head.contains("\ncontent-type: application/octet-stream"),
        "{head}"
    );
    assert!(head.contains("\ncontent-length: 4"), "{head}");
    assert_eq!(&body[split + 2..], &[0, 1, 2, 255]);
}

/// A pending step that reports what the operator context holds when resumed.
struct Probe;

impl Resume for Probe {
    type Output = Option<UnixTime>;

    fn resume(self, operator: &Discovered, _now: UnixTime) -> Result<Self::Output, mc_core::Error> {
        Ok(operator.jwks_fetched_at())
    }
}

#[tokio::test]
async fn complete_done_returns_the_value_without_a_request() {
    let server = Server::canned(json("200 OK", r#"{"keys":[]}"#)).await;
    let mut op = operator(&server);
    let marker = Some(UnixTime::from_secs(42));
    let value = client()
        .complete(&mut op, Verified::<_, Probe>::Done(marker))
        .await
        .unwrap();
    assert_eq!(value, marker);
    assert!(server.requests().is_empty());
    assert!(op.jwks_fetched_at().is_none());
}

#[tokio::test]
async fn complete_need_jwks_fetches_once_and_resumes() {
    let server = Server::canned(json("200 OK", r#"{"keys":[]}"#)).await;
    let mut op = operator(&server);
    let fetched_at = client()
        .complete(&mut op, Verified::NeedJwks(Probe))
        .await
        .unwrap();
    assert!(fetched_at.is_some());
    assert_eq!(op.jwks_fetched_at(), fetched_at);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].target, "/jwks");
}

#[test]
fn os_entropy_fills() {
    let mut bytes = [0u8; 32];
    mc_core::Entropy::fill(&mut OsEntropy, &mut bytes);
    assert_ne!(bytes, [0u8; 32]);
}

#[test]
fn the_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let client = client();
    let mut op = Discovered::from_registry(
        OperatorConfig::new(
            "send",
            "client-id",
            ClientSecret::new("client-secret"),
            "https://sp.example/callback",
            "https://op.example/authorize",
            "https://op.example/token",
        )
        .unwrap()
        .issuer("https://op.example"),
    );
    assert_send(client.execute(op.metadata_exchange().unwrap()));
    assert_send(client.send(http::Request::new(Vec::new())));
    assert_send(client.complete(&mut op, Verified::<_, Probe>::Done(None)));
}
