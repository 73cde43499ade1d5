//! The sandbox on loopback HTTP ([`crate::loopback`]), on 127.0.0.1, port 0 by default: every
//! connection has a thread of its own, so that slow faults delay only their own request, and
//! blocking and async tests alike can use it. No async runtime.

use std::net::{SocketAddr, TcpListener};

use http::Request;

use crate::loopback::{LoopbackServer, Recorded, Reply};
use crate::sandbox::{Sandbox, SandboxConfig, system_clock};

/// A running loopback sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct SandboxServer {
    sandbox: Sandbox,
    server: LoopbackServer,
}

/// Answer one request with the sandbox, after the delay its fault asks for.
fn answer(sandbox: &Sandbox, incoming: &Recorded) -> Reply {
    let mut request = Request::builder()
        .method(incoming.method.as_str())
        .uri(incoming.target.as_str());
    for (name, value) in &incoming.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let Ok(request) = request.body(incoming.body.clone()) else {
        return Reply::status(400);
    };
    let (response, delay) = sandbox.handle_with_delay(&request);
    let (parts, body) = response.into_parts();
    let mut reply = Reply::status(parts.status.as_u16()).body(body).delay(delay);
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            reply = reply.header(name.as_str(), value);
        }
    }
    reply
}

impl SandboxServer {
    /// Start on `127.0.0.1:0` (a free port).
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Start on a given loopback address.
    ///
    /// # Errors
    /// When the socket cannot be bound or the server thread cannot start.
    pub fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(addr, SandboxConfig::default())
    }

    /// Start on a given loopback address, set up with `config`.
    ///
    /// # Errors
    /// When the socket cannot be bound or the server thread cannot start.
    pub fn start_with(addr: SocketAddr, config: SandboxConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let sandbox = Sandbox::configured(
            &format!("http://{}", listener.local_addr()?),
            system_clock(),
            config,
        );
        let serving = sandbox.clone();
        let server = LoopbackServer::serve(listener, move |request| answer(&serving, request))?;
        Ok(Self { sandbox, server })
    }

    /// The sandbox behind the server (shared state: faults and key rotation apply at once).
    #[must_use]
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Wait until the server stops (for the `mc-sandbox` binary: it runs until killed).
    pub fn wait(self) {
        self.server.wait();
    }
}
