//! Mobile Connect login added to an existing axum app (feature `axum`):
//!
//! ```sh
//! cargo run -p mc-io-tokio --features axum --example axum_minimal [mobile-connect.toml]
//! ```
//!
//! With a configuration file (see `mc_io_tokio::service::config`), it logs in through those
//! operators; its `redirect_uri` must reach this app (`http://127.0.0.1:3000/callback` here).
//! Without one it starts the sandbox operator in-process with that redirect URI registered:
//! open http://127.0.0.1:3000 and log in as 447700900001 (the simulated handset approves).
#![allow(clippy::print_stdout)]

use axum::{Router, response::Html, routing::get};
use mc_io_tokio::axum::tower_sessions::{MemoryStore, SessionManagerLayer, cookie::SameSite};
use mc_io_tokio::axum::{McUser, MobileConnect};
use mc_io_tokio::{LoginService, ServiceConfig};

// The host's pages: a home page for everyone, an account page for logged-in users only.
async fn home(user: Option<McUser>) -> Html<&'static str> {
    Html(if user.is_some() { LOGGED_IN } else { LOG_IN })
}
const LOGGED_IN: &str = "<a href=/account>Account</a>\
    <form method=post action=/logout><button>Log out</button></form>";
const LOG_IN: &str = "<form method=post action=/login>\
    <input name=msisdn placeholder=447700900001><button>Log in</button></form>";

// Plain text: the identity's values come from the operator, never pasted into HTML unescaped.
async fn account(McUser(identity): McUser) -> String {
    format!("PCR {}\nLoA {:?}\n", identity.pcr, identity.acr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (config, _sandbox) = match std::env::args().nth(1) {
        Some(path) => (ServiceConfig::from_file(path)?, None),
        None => sandbox()?,
    };

    // The integration: the routes, where McUser sends strangers, and a session layer.
    let mc = MobileConnect::new(LoginService::from_config(config).await?)?.login_page("/");
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        .with_secure(false) // plain http on loopback; keep the default (true) over https
        .with_same_site(SameSite::Lax);
    let app = Router::new()
        .route("/", get(home))
        .route("/account", get(account))
        .merge(mc.router())
        .layer(mc.layer())
        .layer(sessions);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

// ---- Not host code: the sandbox operator, for trying this without an operator account. ----

type Sandbox = (ServiceConfig, Option<mc_sandbox::SandboxServer>);

/// The in-process sandbox, with this app's callback registered, and a configuration for it.
fn sandbox() -> Result<Sandbox, Box<dyn std::error::Error>> {
    let setup =
        mc_sandbox::SandboxConfig::default().redirect_uris(["http://127.0.0.1:3000/callback"]);
    let server = mc_sandbox::SandboxServer::start_with(([127, 0, 0, 1], 0).into(), setup)?;
    let config = ServiceConfig::from_toml(&server.sandbox().service_config(600))?;
    Ok((config, Some(server)))
}
