//! One canned HTTP/1.1 server on loopback, for the tests of the adapters themselves: it answers
//! each path with a fixed [`Reply`] (status, headers, body, framing, pauses) and records every
//! request exactly as it arrived, so that a test can assert what went on the wire. The server
//! underneath is the sandbox's ([`mc_sandbox::loopback`]).

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mc_sandbox::loopback::LoopbackServer;
pub use mc_sandbox::loopback::{Recorded, Reply};

/// The routes and the request log.
#[derive(Debug, Default)]
struct Book {
    routes: BTreeMap<String, Reply>,
    requests: Vec<Recorded>,
}

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running canned server on `127.0.0.1`. Paths without a reply get an empty 404.
#[derive(Debug)]
pub struct CannedServer {
    book: Arc<Mutex<Book>>,
    server: LoopbackServer,
}

impl CannedServer {
    /// Start on a free loopback port.
    ///
    /// # Errors
    /// When the socket cannot be bound or the thread cannot start.
    pub fn start() -> io::Result<Self> {
        let book = Arc::new(Mutex::new(Book::default()));
        let answering = Arc::clone(&book);
        let server = LoopbackServer::serve(TcpListener::bind("127.0.0.1:0")?, move |request| {
            let mut book = lock(&answering);
            let reply = book
                .routes
                .get(request.path())
                .cloned()
                .unwrap_or_else(|| Reply::status(404));
            book.requests.push(request.clone());
            reply
        })?;
        Ok(Self { book, server })
    }

    /// The socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:port` followed by `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Answer requests for `path` (the target without its query) with `reply` from now on,
    /// replacing an earlier reply for it.
    pub fn route(&self, path: &str, reply: Reply) {
        lock(&self.book).routes.insert(path.to_owned(), reply);
    }

    /// Every request received so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.book).requests.clone()
    }

    /// The requests received so far for one path.
    #[must_use]
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        lock(&self.book)
            .requests
            .iter()
            .filter(|r| r.path() == path)
            .cloned()
            .collect()
    }

    /// How many connections were accepted so far.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.server.connections()
    }
}
