//! A tiny HTTP/1.1 server on loopback that answers canned raw responses, and an operator on it.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mc_core::{ClientSecret, Discovered, OperatorConfig};
use mc_io_tokio::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const MIB: usize = 1024 * 1024;

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Responder = dyn Fn(&Recorded) -> Vec<u8> + Send + Sync;

pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub connections: Arc<AtomicUsize>,
}

impl Server {
    /// A server answering every request with `respond(request)` after `delay`, keeping
    /// connections alive.
    pub async fn start(
        delay: Duration,
        respond: impl Fn(&Recorded) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let respond: Arc<Responder> = Arc::new(respond);
        let (log, count) = (requests.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, delay, respond.clone(), log.clone()));
            }
        });
        Self {
            addr,
            requests,
            connections,
        }
    }

    /// A server answering every request with the same raw bytes.
    pub async fn canned(raw: Vec<u8>) -> Self {
        Self::start(Duration::ZERO, move |_| raw.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    delay: Duration,
    respond: Arc<Responder>,
    log: Arc<Mutex<Vec<Recorded>>>,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        log.lock().unwrap().push(request.clone());
        tokio::time::sleep(delay).await;
        // The client may hang up early (body cap, timeout): not the server's problem.
        if stream.write_all(&respond(&request)).await.is_err() {
            return;
        }
    }
}

/// Read one request head and its Content-Length body; `None` at end of stream.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    buffer.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_owned();
    let target = request_line.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let mut request = Recorded {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    while buffer.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    request.body = buffer.drain(..length).collect();
    Some(request)
}

/// A raw HTTP/1.1 response with a Content-Length.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// A raw HTTP/1.1 response with a chunked body (no Content-Length).
pub fn chunked(status: &str, body: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut raw = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(chunk_size) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

pub fn json(status: &str, body: &str) -> Vec<u8> {
    response(
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

pub fn metadata_body(issuer: &str) -> String {
    format!(
        r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/authorize","token_endpoint":"{issuer}/token","jwks_uri":"{issuer}/jwks"}}"#
    )
}

/// An operator whose every endpoint is on `server`.
pub fn operator(server: &Server) -> Discovered {
    operator_for_issuer(server, &server.url(""))
}

/// The loopback operator, expecting metadata that names `issuer`.
pub fn operator_for_issuer(server: &Server, issuer: &str) -> Discovered {
    let config = OperatorConfig::new(
        "loopback",
        "client-id",
        ClientSecret::new("client-secret"),
        "https://sp.example/callback",
        &server.url("/authorize"),
        &server.url("/token"),
    )
    .unwrap()
    .issuer(issuer)
    .metadata(&server.url("/.well-known/openid-configuration"))
    .unwrap()
    .jwks(&server.url("/jwks"))
    .unwrap();
    Discovered::from_registry(config)
}

pub fn client() -> Client {
    Client::new().unwrap()
}
