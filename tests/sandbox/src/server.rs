//! The sandbox on loopback HTTP ([`crate::loopback`]), on 127.0.0.1, port 0 by default: every
//! connection has a thread of its own, so that slow faults delay only their own request, and
//! blocking and async tests alike can use it. No async runtime. A courier thread POSTs the
//! operator's notifications to the SP when they fall due (unless the setup keeps them in the
//! outbox, [`SandboxConfig::deliver_notifications`]).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::Request;

use crate::loopback::{LoopbackServer, Recorded, Reply};
use crate::sandbox::{Sandbox, SandboxConfig, system_clock};

/// How long one notification POST may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A running loopback sandbox. Dropping it stops the server and its courier.
#[derive(Debug)]
pub struct SandboxServer {
    sandbox: Sandbox,
    server: LoopbackServer,
    _courier: Option<Courier>,
}

/// The thread that POSTs the sandbox's notifications to the SP; stopped when dropped.
#[derive(Debug)]
struct Courier {
    sandbox: Sandbox,
    stop: Arc<AtomicBool>,
}

impl Courier {
    fn start(sandbox: &Sandbox) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (running, stopped) = (sandbox.clone(), Arc::clone(&stop));
        // Like the adapters' agents: no redirects, no proxy from the environment, a total
        // timeout, and 4xx/5xx read as answers (the SP's 401 or 400 is worth a log line).
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(DELIVERY_TIMEOUT))
            .build()
            .new_agent();
        std::thread::Builder::new()
            .name("mc-sandbox-courier".to_owned())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    for notification in running.wait_for_notifications(&stopped) {
                        deliver(&agent, notification);
                    }
                }
            })?;
        Ok(Self {
            sandbox: sandbox.clone(),
            stop,
        })
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        // Not joined: a POST in flight ends by its own timeout.
        self.stop.store(true, Ordering::Release);
        self.sandbox.wake_courier();
    }
}

/// POST one notification. A failure (no SP listening, an error status) is logged to stderr:
/// the operator's side of a notification has nobody else to tell.
#[allow(clippy::print_stderr)]
fn deliver(agent: &ureq::Agent, notification: Request<Vec<u8>>) {
    let uri = notification.uri().to_string();
    match agent.run(notification) {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => {
            eprintln!(
                "mc-sandbox: notification to {uri}: the SP answered {}",
                response.status()
            );
        }
        Err(e) => eprintln!("mc-sandbox: notification to {uri} failed: {e}"),
    }
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
        let courier = if sandbox.config().deliver_notifications {
            Some(Courier::start(&sandbox)?)
        } else {
            None
        };
        Ok(Self {
            sandbox,
            server,
            _courier: courier,
        })
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
