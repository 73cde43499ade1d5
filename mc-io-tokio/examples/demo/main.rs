//! The demo Service Provider: a web app that logs in with Mobile Connect, a thin page layer over
//! mc-io-tokio's login service and its axum routes (`mc_io_tokio::axum`).
//!
//! ```sh
//! cargo run -p mc-io-tokio --features axum,redis --example demo            # sandbox, no setup
//! cargo run -p mc-io-tokio --features axum,redis --example demo -- --help
//! ```
//!
//! Without `--config` it starts the sandbox operator in-process (discovery, two operators,
//! simulated handsets) with the demo's own callback registered. The first line it prints is its
//! base URL alone (flushed at once), so that a test that starts it with `--port 0` reads the
//! port there; `mc_tests::demo` does.
//!
//! Pages: `/` is the login page (phone number, operator, the operator selection page, a
//! server-initiated "confirm on my phone" login) or, once logged in, the identity (PCR, LoA,
//! amr, phone number, operator) with step-up and logout. Every answer is `no-store`,
//! `no-referrer`, and allows no script.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod options;
mod pages;
mod sessions;

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::middleware::map_response;
use axum::response::{Html, Response};
use axum::routing::get;
use mc_io_tokio::axum::tower_sessions::cookie::{SameSite, time};
use mc_io_tokio::axum::tower_sessions::{Expiry, MemoryStore, SessionManagerLayer, SessionStore};
use mc_io_tokio::axum::{McUser, MobileConnect};
use mc_io_tokio::{LoginService, ServiceConfig};
use mc_sandbox::{OPERATORS, SandboxConfig, SandboxServer};

use options::{Command, Options};
use pages::{DemoPages, LoginPage};
use sessions::RedisSessions;

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(Command::Serve(options)) => options,
        Ok(Command::Help) => {
            print!("{}", options::usage());
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("demo: {message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], options.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let base = format!("http://{local}");

    // The configuration: the file's, or the in-process sandbox's with our callback registered.
    let (mut config, sandbox) = match &options.config {
        Some(path) => (
            ServiceConfig::from_file(path).map_err(|e| e.to_string())?,
            None,
        ),
        None => {
            let mut setup = SandboxConfig::default().redirect_uris([format!("{base}/callback")]);
            if let Some(secs) = options.poll_interval {
                setup = setup.poll_interval(secs);
            }
            for fault in &options.faults {
                setup = setup.fault(fault.clone());
            }
            let at = SocketAddr::from(([127, 0, 0, 1], options.sandbox_port));
            let server = SandboxServer::start_with(at, setup)
                .map_err(|e| format!("cannot start the sandbox on {at}: {e}"))?;
            let config = ServiceConfig::from_toml(&server.sandbox().service_config(600))
                .map_err(|e| e.to_string())?;
            (config, Some(server))
        }
    };
    if let Some(url) = options.redis {
        config.store.redis_url = Some(url);
    }
    let redis = config.store.redis_url.clone();
    let https = config.redirect_uri.starts_with("https:");
    let callback = config.redirect_uri.clone();
    let login_page = LoginPage {
        operators: config.operators.keys().cloned().collect(),
        discovery: config.discovery.is_some(),
        test_numbers: match sandbox {
            Some(_) => test_numbers(),
            None => Vec::new(),
        },
    };

    let service = LoginService::from_config(config)
        .await
        .map_err(|e| format!("the login service: {e}"))?;
    let mc = MobileConnect::new(service)
        .map_err(|e| e.to_string())?
        .login_page("/")
        .pages(DemoPages);
    let app = Router::new()
        .route("/", get(home))
        .with_state(Arc::new(login_page))
        .merge(mc.router())
        .layer(mc.layer());
    // Sessions live where pending logins do: with Redis, every instance serves every browser.
    let app = match &redis {
        Some(url) => app.layer(session_layer(RedisSessions::connect(url).await?, https)),
        None => app.layer(session_layer(MemoryStore::default(), https)),
    };
    let app = app.layer(map_response(private_answer));

    // The base URL first, alone and flushed: a parent process reads it while the demo runs.
    let mut banner =
        format!("{base}\nMobile Connect demo SP on {base}\n  callback:       {callback}\n");
    match &sandbox {
        Some(server) => {
            let _ = writeln!(
                banner,
                "  operators:      the sandbox at {} (in-process), by discovery or by name",
                server.sandbox().base()
            );
        }
        None => banner.push_str("  operators:      from the configuration file\n"),
    }
    let store = if redis.is_some() { "Redis" } else { "memory" };
    let _ = writeln!(banner, "  logins, sessions: {store}");
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot print: {e}"))?;
    drop(stdout);

    axum::serve(listener, app)
        .await
        .map_err(|e| format!("serving: {e}"))
}

/// The session cookie: `SameSite=Lax` (sent on the redirect chain back from the operator),
/// `Secure` and `__Host-` over https, an hour of inactivity.
fn session_layer<S: SessionStore + Clone>(store: S, https: bool) -> SessionManagerLayer<S> {
    let name = if https {
        "__Host-demo_session"
    } else {
        "demo_session"
    };
    SessionManagerLayer::new(store)
        .with_name(name)
        .with_secure(https)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(1)))
}

/// `/`: the identity once logged in, the login page before.
async fn home(State(page): State<Arc<LoginPage>>, user: Option<McUser>) -> Html<String> {
    Html(match user {
        Some(user) => pages::logged_in(&user),
        None => page.render(),
    })
}

/// Every answer: never cached (the pages show who is logged in), no referrer, no script.
async fn private_answer(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
             base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The sandbox's test subscribers, for the login page.
fn test_numbers() -> Vec<(String, String)> {
    OPERATORS
        .iter()
        .flat_map(|op| {
            op.subscribers.iter().map(|(msisdn, handset)| {
                (
                    msisdn.to_string(),
                    format!("{}: {}", op.display, handset.describe()),
                )
            })
        })
        .collect()
}
