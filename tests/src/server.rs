//! The sandbox on loopback HTTP: axum on 127.0.0.1, port 0 by default, in its own thread and
//! runtime so that blocking and async tests alike can use it.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use http::Request;
use tokio::sync::oneshot;

use crate::sandbox::Sandbox;

/// Largest request body the sandbox reads.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// A running loopback sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct SandboxServer {
    sandbox: Sandbox,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

async fn serve(State(sandbox): State<Sandbox>, request: Request<Body>) -> http::Response<Body> {
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            let mut r = http::Response::new(Body::from("request body too large"));
            *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            return r;
        }
    };
    let request = Request::from_parts(parts, bytes);
    let (response, delay) = sandbox.handle_with_delay(&request);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response.map(Body::from)
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
    /// When the socket cannot be bound or the runtime cannot start.
    pub fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let sandbox = Sandbox::new(&format!("http://{addr}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(sandbox.clone());
        let thread = std::thread::Builder::new()
            .name("mc-sandbox".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        Ok(Self {
            sandbox,
            addr,
            stop: Some(stop),
            thread: Some(thread),
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
        self.addr
    }

    /// Wait until the server stops (for the `mc-sandbox` binary).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SandboxServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
