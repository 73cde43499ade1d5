//! One HTTP/1.1 server on loopback for the sandbox and for the adapters' own tests: plain std
//! threads and blocking sockets, one thread accepting and one thread per connection serving
//! keep-alive requests in order, each answered by a handler with a [`Reply`]. No async runtime,
//! so that a blocking SP and its tests build without one.
//!
//! Replies may misbehave on purpose (a `Content-Length` that lies, a pause before the head or
//! mid-body, chunked framing, raw bytes), which a real server framework would not let a test do.
//! Dropping the server stops it: pauses end early and open connections are shut down.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest request head or body the server reads (SPs send small requests).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// One request as the server read it off the socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Which accepted connection carried it (0 for the first, in accept order).
    pub connection: usize,
    /// The method, as sent.
    pub method: String,
    /// The request target, as sent (origin form `/path?query`, or absolute form through a proxy).
    pub target: String,
    /// The header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (after removing chunked framing, if the client used it).
    pub body: Vec<u8>,
}

impl Recorded {
    /// The path of the target, without its query.
    #[must_use]
    pub fn path(&self) -> &str {
        let target = self.target.as_str();
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The first value of a header (name compared case-insensitively).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every value of a header (name compared case-insensitively).
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a reply frames its body.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Framing {
    /// `Content-Length` equal to the body length.
    Length,
    /// `Content-Length: n` whatever the body length (a lying server).
    Announced(u64),
    /// `Transfer-Encoding: chunked`, chunks of this many bytes.
    Chunked(usize),
    /// No framing at all: exactly these bytes go out (status line and headers are ignored).
    Raw,
}

/// What the server answers to one request.
#[derive(Clone, Debug)]
#[must_use]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framing: Framing,
    delay: Duration,
    stall: Option<(usize, Duration)>,
}

impl Reply {
    /// An empty reply with this status (framed by `Content-Length`).
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            framing: Framing::Length,
            delay: Duration::ZERO,
            stall: None,
        }
    }

    /// A JSON reply (`Content-Type: application/json`).
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::status(status)
            .header("Content-Type", "application/json")
            .body(body)
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::status(status).header("Location", location)
    }

    /// Exactly these bytes, unframed (a broken status line, a truncated head, ...).
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            framing: Framing::Raw,
            ..Self::status(200).body(bytes)
        }
    }

    /// Add a header line (no framing header: those come from the framing).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Send the body with `Transfer-Encoding: chunked`, in chunks of `size` bytes.
    pub fn chunked(mut self, size: usize) -> Self {
        self.framing = Framing::Chunked(size.max(1));
        self
    }

    /// Announce `Content-Length: length` whatever the body holds: longer than the body makes
    /// the client wait for bytes that never come (the connection stays open), shorter leaves
    /// the rest of the body on the connection.
    pub fn announcing(mut self, length: u64) -> Self {
        self.framing = Framing::Announced(length);
        self
    }

    /// Wait this long after reading the request, before the head goes out.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Pause this long after the first `bytes` bytes of the framed body, then send the rest.
    pub fn stall_after(mut self, bytes: usize, pause: Duration) -> Self {
        self.stall = Some((bytes, pause));
        self
    }

    /// The bytes on the wire: head and framed body.
    fn encode(&self) -> (Vec<u8>, Vec<u8>) {
        if self.framing == Framing::Raw {
            return (Vec::new(), self.body.clone());
        }
        let reason = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Whatever");
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let body = match self.framing {
            // No body and no framing header on these (RFC 9110 8.6, 15.3.5).
            Framing::Length if matches!(self.status, 100..=199 | 204 | 304) => Vec::new(),
            Framing::Length => {
                head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
                self.body.clone()
            }
            Framing::Announced(length) => {
                head.push_str(&format!("Content-Length: {length}\r\n"));
                self.body.clone()
            }
            Framing::Chunked(size) => {
                head.push_str("Transfer-Encoding: chunked\r\n");
                let mut framed = Vec::with_capacity(self.body.len() + 64);
                for chunk in self.body.chunks(size) {
                    framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    framed.extend_from_slice(chunk);
                    framed.extend_from_slice(b"\r\n");
                }
                framed.extend_from_slice(b"0\r\n\r\n");
                framed
            }
            Framing::Raw => Vec::new(),
        };
        head.push_str("\r\n");
        (head.into_bytes(), body)
    }
}

/// Answers one request.
type Handler = Box<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// What the server threads share with the handle.
struct Shared {
    handler: Handler,
    /// A clone of every accepted stream, shut down when the server stops.
    streams: Mutex<Vec<TcpStream>>,
    stopped: Mutex<bool>,
    wake: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleep for `pause`, or less when the server stops meanwhile; `false` if it stopped.
    fn pause(&self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        let mut stopped = lock(&self.stopped);
        loop {
            if *stopped {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A running loopback server. Dropping it stops the server.
pub struct LoopbackServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LoopbackServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LoopbackServer {
    /// Serve the connections of a bound `listener`, answering every request with `handler`.
    ///
    /// # Errors
    /// When the listener has no local address or the thread cannot start.
    pub fn serve(
        listener: TcpListener,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            streams: Mutex::default(),
            stopped: Mutex::default(),
            wake: Condvar::new(),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("loopback-accept".to_owned())
            .spawn(move || accept(&listener, &accepting))?;
        Ok(Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port` followed by `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many connections were accepted so far.
    #[must_use]
    pub fn connections(&self) -> usize {
        lock(&self.shared.streams).len()
    }

    /// Block until the accepting thread ends (for a server that runs until it is killed).
    pub fn wait(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        *lock(&self.shared.stopped) = true;
        self.shared.wake.notify_all();
        for stream in lock(&self.shared.streams).iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wake the acceptor out of `accept`; it sees the flag and returns.
        if self.acceptor.is_some() {
            let _ = TcpStream::connect(self.addr);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.is_stopped() {
            return;
        }
        let Ok(stream) = stream else { continue };
        // Replies go out as written: without this, Nagle's algorithm holds a reply's second
        // segment until the client's delayed ACK (about 40 ms per exchange on Linux).
        let _ = stream.set_nodelay(true);
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let connection = {
            let mut streams = lock(&shared.streams);
            streams.push(clone);
            streams.len() - 1
        };
        let serving = Arc::clone(shared);
        let _ = thread::Builder::new()
            .name(format!("loopback-conn-{connection}"))
            .spawn(move || serve(connection, stream, &serving));
    }
}

/// Serve the requests of one connection in order until the client or the server closes it.
fn serve(connection: usize, stream: TcpStream, shared: &Shared) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(connection, &mut reader) {
        let reply = (shared.handler)(&request);
        if !shared.pause(reply.delay) || write_reply(&mut writer, &reply, shared).is_err() {
            return;
        }
    }
}

fn write_reply(writer: &mut TcpStream, reply: &Reply, shared: &Shared) -> io::Result<()> {
    let (head, body) = reply.encode();
    match reply.stall {
        Some((at, pause)) => {
            writer.write_all(&head)?;
            let (first, rest) = body.split_at(at.min(body.len()));
            writer.write_all(first)?;
            writer.flush()?;
            if !shared.pause(pause) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            writer.write_all(rest)?;
        }
        // One write, one segment train: the head and the body together.
        None => writer.write_all(&[head, body].concat())?,
    }
    writer.flush()
}

/// Read one request (head, then a `Content-Length` or chunked body); `None` at the end of the
/// connection or on a request this server cannot read.
fn read_request(connection: usize, reader: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let request_line = read_line(reader)?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut request = Recorded {
        connection,
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .headers_named("transfer-encoding")
        .any(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let size = read_line(reader)?;
            let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // Trailers, then the empty line.
                while !read_line(reader)?.is_empty() {}
                break;
            }
            if request.body.len() + size > MAX_REQUEST_BYTES {
                return None;
            }
            let start = request.body.len();
            request.body.resize(start + size, 0);
            reader.read_exact(request.body.get_mut(start..)?).ok()?;
            read_line(reader)?;
        }
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().ok()?;
        if length > MAX_REQUEST_BYTES {
            return None;
        }
        request.body = vec![0; length];
        reader.read_exact(&mut request.body).ok()?;
    }
    Some(request)
}

/// One CRLF-terminated line without its terminator; `None` at the end of the stream.
fn read_line(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_REQUEST_BYTES as u64)
        .read_until(b'\n', &mut line)
        .ok()?;
    if read == 0 || line.last() != Some(&b'\n') {
        return None;
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}
