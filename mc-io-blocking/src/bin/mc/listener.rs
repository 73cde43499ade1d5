//! The loopback listener on 127.0.0.1: the browser login's redirect URI and the
//! server-initiated login's notification URI. One request per connection, answered and closed.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::misconfigured;
use crate::outcome::{Exit, Failure};

/// The longest request head read (a real callback is well under 4 KiB).
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The longest request body read (a notification with tokens is a few KiB; mc-core refuses a
/// JSON body over 256 KiB anyway).
const MAX_REQUEST_BODY: usize = 256 * 1024;

pub(crate) struct Listener {
    socket: TcpListener,
    /// `http://127.0.0.1:PORT{path}`.
    pub(crate) url: String,
    pub(crate) path: String,
}

/// One request, and the connection to answer it on.
pub(crate) struct Inbound {
    stream: TcpStream,
    /// `None` when the request could not be read as HTTP.
    pub(crate) request: Option<http::Request<Vec<u8>>>,
}

impl Listener {
    /// Listen on `127.0.0.1:port` (0: any free port) for requests to `path`.
    pub(crate) fn bind(port: u16, path: &str) -> Result<Self, Failure> {
        let socket = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).map_err(|e| {
            misconfigured(
                "ListenerBind",
                format!("cannot listen on 127.0.0.1:{port}: {e}"),
            )
        })?;
        let bound = socket
            .local_addr()
            .map_err(|e| misconfigured("ListenerBind", e.to_string()))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| misconfigured("ListenerBind", e.to_string()))?;
        Ok(Self {
            socket,
            url: format!("http://{bound}{path}"),
            path: path.to_owned(),
        })
    }

    /// The next request, or `None` once `deadline` has passed.
    pub(crate) fn next(&self, deadline: Instant) -> Result<Option<Inbound>, Failure> {
        loop {
            match self.socket.accept() {
                Ok((stream, _)) => return Ok(Some(read(stream, deadline))),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(Failure::new(Exit::Transport, "Listener", e.to_string())),
            }
        }
    }
}

impl Inbound {
    /// Whether the request is `method` to `path`.
    pub(crate) fn is(&self, method: &http::Method, path: &str) -> bool {
        self.request
            .as_ref()
            .is_some_and(|r| r.method() == method && r.uri().path() == path)
    }

    /// Answer with `response` (its status, headers and body) and close.
    pub(crate) fn answer(mut self, response: &http::Response<Vec<u8>>) {
        let status = response.status();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        );
        for (name, value) in response.headers() {
            head.push_str(&format!(
                "{name}: {}\r\n",
                value.to_str().unwrap_or_default()
            ));
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            response.body().len()
        ));
        let _ = self.stream.write_all(head.as_bytes());
        let _ = self.stream.write_all(response.body());
        let _ = self.stream.flush();
    }

    /// Answer with a plain-text page.
    pub(crate) fn answer_text(self, status: u16, text: &str) {
        let mut response = http::Response::new(text.as_bytes().to_vec());
        *response.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        self.answer(&response);
    }
}

/// Read one request: its head, then as much body as `content-length` says (bounded).
fn read(mut stream: TcpStream, deadline: Instant) -> Inbound {
    let _ = stream.set_nonblocking(false);
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let _ = stream.set_read_timeout(Some(wait));
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break Some(at);
        }
        if data.len() >= MAX_REQUEST_HEAD {
            break None;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break None,
            Ok(n) => data.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    };
    let request = head_end.and_then(|end| {
        let head = String::from_utf8_lossy(data.get(..end).unwrap_or_default()).into_owned();
        let mut body = data.get(end + 4..).unwrap_or_default().to_vec();
        let mut lines = head.split("\r\n");
        let mut parts = lines.next()?.split(' ');
        let mut builder = http::Request::builder()
            .method(parts.next()?)
            .uri(parts.next()?);
        let mut length = 0;
        for line in lines {
            let (name, value) = line.split_once(':')?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok()?;
            }
            builder = builder.header(name.trim(), value);
        }
        if length > MAX_REQUEST_BODY {
            return None;
        }
        while body.len() < length {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => body.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
        body.truncate(length);
        builder.body(body).ok()
    });
    Inbound { stream, request }
}
