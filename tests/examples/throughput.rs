//! End-to-end throughput: many concurrent browser logins against the loopback sandbox, through
//! mc-core + mc-io-tokio and through `openidconnect` 4.x + reqwest, the same load both ways:
//! `cargo run --release -p mc-tests --example throughput [-- TOTAL [TASKS [ROUNDS]]]` (default
//! 2000 logins over 16 tasks, each client twice, alternating; `MC_CONTENDERS=core,service`
//! runs only those of `core`, `oidc`, `service`, `redis`).
//!
//! One login: authorize (fresh state, nonce, PKCE), the browser step (GET the authorization URL,
//! read the `Location` back to the SP; identical code for both clients), the callback checks
//! (state, RFC 9207 `iss`), the token exchange with id_token verification, and userinfo. Every
//! mc-core task shares one operator context, which starts without keys: the first concurrent
//! logins pause for the JWKS and `execute` fetches it once for all of them (the run fails
//! otherwise). The sandbox runs in the same process on its own threads (one per connection) and signs every id_token
//! with RSA, so on a small machine it takes a good part of the CPU: the numbers are the whole
//! system's, not the client's alone. The last columns split the CPU time spent during the run
//! between the client's threads (HTTP stack included) and the sandbox's threads, per login
//! (Linux only); see `cargo bench -p mc-core --bench login` for the protocol work alone.
//!
//! Then the same login through mc-io-tokio's login service (`LoginService`: start by operator
//! and MSISDN, the browser step, finish with userinfo; its per-login state stored and taken once):
//! with the in-memory store, and, when `MC_REDIS_URL` names a Redis, with two service instances
//! sharing it (every login starts on one and finishes on the other). The service's extra CPU
//! per login over the bare adapter path is the difference of the client CPU columns; the
//! per-login state's size is what the service hands its store (JSON bytes).
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mc_core::{AuthorizeOptions, Discovered, LoginHint, Msisdn};
use mc_io_tokio::service::store::{LoginId, LoginStore, StoreFuture};
use mc_io_tokio::service::{Finish, LoginRequest, LoginService, MemoryStore, ServiceConfig};
use mc_io_tokio::{Client, OsEntropy, now};
use mc_tests::SandboxExt as _;
use mc_tests::SandboxServer;
use mc_tests::sandbox::{SP_REDIRECT_URI, Sandbox};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

const OPERATOR: &str = "alpha";
const MSISDN: &str = "447700900001";
const PHONE: &str = "+447700900001";
const TIMEOUT: Duration = Duration::from_secs(30);

/// The simulated browser, shared by both clients: GET the authorization URL without following
/// redirects and return the query of the `Location` back to the SP.
async fn browser(http: &reqwest::Client, url: &str) -> Result<String> {
    let response = http.get(url).send().await?;
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .ok_or_else(|| format!("HTTP {} without Location", response.status()))?
        .to_str()?;
    Ok(url::Url::parse(location)?
        .query()
        .ok_or("Location without query")?
        .to_owned())
}

fn plain_http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .build()?)
}

struct Report {
    name: &'static str,
    logins: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    /// CPU time of this process's threads other than the sandbox's, and of the sandbox's.
    client_cpu: Duration,
    sandbox_cpu: Duration,
}

/// CPU time used so far by the client's threads (everything but the sandbox's threads) and by the
/// sandbox's threads still running, from Linux's per-thread `schedstat` (nanoseconds); zero elsewhere.
fn cpu_times() -> (Duration, Duration) {
    let (mut client, mut sandbox) = (0u64, 0u64);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (Duration::ZERO, Duration::ZERO);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns: u64 = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        // The sandbox's loopback server: its acceptor and one thread per connection.
        if comm.starts_with("loopback") || comm.starts_with("mc-sandbox") {
            sandbox += ns;
        } else {
            client += ns;
        }
    }
    (Duration::from_nanos(client), Duration::from_nanos(sandbox))
}

impl Report {
    fn print(&mut self) {
        self.latencies.sort_unstable();
        let pct = |p: usize| {
            let i = (self.latencies.len() * p / 100).min(self.latencies.len().saturating_sub(1));
            self.latencies.get(i).copied().unwrap_or_default()
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let per_login = |d: Duration| d.as_secs_f64() * 1e6 / self.logins as f64;
        println!(
            "| {:<26} | {:>6} | {:>8.2} | {:>8.0} | {:>8.2} | {:>8.2} | {:>19.0} | {:>20.0} |",
            self.name,
            self.logins,
            self.wall.as_secs_f64(),
            self.logins as f64 / self.wall.as_secs_f64(),
            ms(pct(50)),
            ms(pct(99)),
            per_login(self.client_cpu),
            per_login(self.sandbox_cpu),
        );
    }
}

/// Run `total` logins over `tasks` tasks, each login timed; `login(i)` does login number `i`.
async fn load<F, Fut>(name: &'static str, total: usize, tasks: usize, login: F) -> Result<Report>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_times();
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (next, login) = (next.clone(), login.clone());
        set.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, Error>(latencies);
                }
                let t = Instant::now();
                login(i).await?;
                latencies.push(t.elapsed());
            }
        });
    }
    let mut latencies = Vec::with_capacity(total);
    while let Some(done) = set.join_next().await {
        latencies.extend(done??);
    }
    let wall = start.elapsed();
    let cpu_after = cpu_times();
    Ok(Report {
        name,
        logins: total,
        wall,
        latencies,
        client_cpu: cpu_after.0.saturating_sub(cpu_before.0),
        sandbox_cpu: cpu_after.1.saturating_sub(cpu_before.1),
    })
}

fn options() -> AuthorizeOptions {
    AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(MSISDN)))
}

/// One login through mc-core and mc-io-tokio. `execute` finishes each step, including the JWKS
/// refetch a step pauses for when the id_token names a key the shared context does not hold
/// yet (the first logins on a fresh context, or after a key rotation).
async fn core_login(
    client: &Client,
    browser_http: &reqwest::Client,
    op: &Discovered,
) -> Result<()> {
    let (redirect, flow) = op.authorize(options(), &mut OsEntropy, now())?;
    let query = browser(browser_http, redirect.as_str()).await?;
    let code = flow.callback(op, &query, now())?;
    let tokens = client.execute(code.token_exchange(op, now())?).await?;
    let info = client.execute(tokens.userinfo(op)?).await?;
    if info.phone_number() != Some(PHONE) {
        return Err("wrong phone_number".into());
    }
    Ok(())
}

fn jwks_fetches(sandbox: &Sandbox) -> usize {
    let path = format!("/op/{OPERATOR}/jwks");
    sandbox
        .request_log()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.ends_with(&path))
        .count()
}

async fn run_core(sandbox: &Sandbox, total: usize, tasks: usize) -> Result<Report> {
    let client = Client::with_config(mc_io_tokio::Config::default().with_timeout(TIMEOUT))?;
    let browser_http = plain_http()?;
    let config = sandbox.registry_entry(OPERATOR)?;
    let metadata = client.execute(config.metadata_exchange()?).await?;
    // One context for every task, starting without keys: the warm-up's logins meet the unknown
    // `kid` together and fetch the JWKS once between them.
    let op = config.with_metadata(metadata)?.build()?;
    let fetches_before = jwks_fetches(sandbox);
    let mut warm_up = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (client, browser_http, op) = (client.clone(), browser_http.clone(), op.clone());
        warm_up.spawn(async move { core_login(&client, &browser_http, &op).await });
    }
    while let Some(done) = warm_up.join_next().await {
        done??;
    }
    let fetches = jwks_fetches(sandbox) - fetches_before;
    if fetches != 1 {
        return Err(
            format!("{tasks} concurrent first logins fetched the JWKS {fetches} times").into(),
        );
    }
    let report = load("mc-core + mc-io-tokio", total, tasks, move |_| {
        let (client, browser_http, op) = (client.clone(), browser_http.clone(), op.clone());
        async move { core_login(&client, &browser_http, &op).await }
    })
    .await?;
    let fetches = jwks_fetches(sandbox) - fetches_before;
    if fetches != 1 {
        return Err(format!("the keys were fetched {fetches} times for one key set").into());
    }
    Ok(report)
}

/// A store that counts the bytes of per-login state handed to the store it wraps.
#[derive(Debug)]
struct Measured<S> {
    inner: S,
    puts: AtomicUsize,
    bytes: AtomicUsize,
}

impl<S> Measured<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            puts: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    /// The mean size of a stored per-login state, in bytes.
    fn mean_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed) / self.puts.load(Ordering::Relaxed).max(1)
    }
}

impl<S: LoginStore> LoginStore for Measured<S> {
    fn put<'a>(&'a self, id: &'a LoginId, state: Vec<u8>, ttl: Duration) -> StoreFuture<'a, ()> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(state.len(), Ordering::Relaxed);
        self.inner.put(id, state, ttl)
    }

    fn take<'a>(&'a self, id: &'a LoginId) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.take(id)
    }
}

/// The id the sandbox's service configuration gives operator `alpha` (its display name).
fn service_operator() -> Result<&'static str> {
    Ok(Sandbox::operator(OPERATOR).ok_or("no operator")?.display)
}

/// One login through the login service: started on `first`, finished on `second`.
async fn service_login(
    first: &LoginService,
    second: &LoginService,
    browser_http: &reqwest::Client,
) -> Result<()> {
    let request = LoginRequest::msisdn(MSISDN)?.at_operator(service_operator()?);
    let start = first.start(request).await?;
    let query = browser(browser_http, start.redirect.as_str()).await?;
    let Finish::LoggedIn(login) = second.finish(&start.login_id, &query).await? else {
        return Err("the login service asked for another redirect".into());
    };
    if login.identity.phone_number.as_deref() != Some(PHONE) {
        return Err("wrong phone_number".into());
    }
    Ok(())
}

/// The login service against the sandbox: one instance with the memory store, or (with a
/// Redis URL) two instances sharing it.
async fn run_service(
    sandbox: &Sandbox,
    redis: Option<&str>,
    total: usize,
    tasks: usize,
) -> Result<(Report, usize)> {
    let config = ServiceConfig::from_toml(&sandbox.service_config(60))?;
    let client = Client::with_config(mc_io_tokio::Config::default().with_timeout(TIMEOUT))?;
    let (first, second, store_bytes): (_, _, Box<dyn Fn() -> usize + Send>) = match redis {
        None => {
            let store = Arc::new(Measured::new(MemoryStore::default()));
            let service = LoginService::with_store(config, store.clone(), client)?;
            (
                service.clone(),
                service,
                Box::new(move || store.mean_bytes()),
            )
        }
        Some(url) => {
            let store = Arc::new(Measured::new(
                mc_io_tokio::service::store::RedisStore::connect(url, None).await?,
            ));
            let other = mc_io_tokio::service::store::RedisStore::connect(url, None).await?;
            let first = LoginService::with_store(config.clone(), store.clone(), client.clone())?;
            let second = LoginService::with_store(config, Arc::new(other), client)?;
            (first, second, Box::new(move || store.mean_bytes()))
        }
    };
    let browser_http = plain_http()?;
    // Warm-up: the operator context (metadata) and its keys, on both instances.
    for _ in 0..tasks {
        service_login(&first, &second, &browser_http).await?;
        service_login(&second, &first, &browser_http).await?;
    }
    let name = if redis.is_some() {
        "service, Redis, 2 instances"
    } else {
        "service, memory store"
    };
    let report = load(name, total, tasks, move |_| {
        let (first, second, browser_http) = (first.clone(), second.clone(), browser_http.clone());
        async move { service_login(&first, &second, &browser_http).await }
    })
    .await?;
    Ok((report, store_bytes()))
}

mod oidc {
    //! The same login through `openidconnect` 4.x, its HTTP calls made with reqwest.

    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreUserInfoClaims,
    };
    use openidconnect::{
        AccessTokenHash, AuthUrl, AuthenticationContextClass, AuthorizationCode, ClientId,
        ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySetUrl, Nonce,
        OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
        TokenUrl, UserInfoUrl,
    };

    use super::{
        Arc, MSISDN, OPERATOR, PHONE, Report, Result, SP_REDIRECT_URI, Sandbox, browser, load,
        plain_http,
    };

    type Oidc = CoreClient<
        EndpointSet,
        EndpointNotSet,
        EndpointNotSet,
        EndpointNotSet,
        EndpointSet,
        EndpointSet,
    >;

    /// openidconnect's async HTTP client: a closure around reqwest.
    async fn send(
        http: reqwest::Client,
        request: openidconnect::HttpRequest,
    ) -> std::result::Result<openidconnect::HttpResponse, reqwest::Error> {
        let response = http.execute(reqwest::Request::try_from(request)?).await?;
        let mut out = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            out = out.header(name, value);
        }
        let body = response.bytes().await?.to_vec();
        Ok(out.body(body).unwrap_or_default())
    }

    async fn login(
        oidc: &Oidc,
        back: &reqwest::Client,
        browser_http: &reqwest::Client,
        issuer: &str,
    ) -> Result<()> {
        let http = |request| send(back.clone(), request);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = oidc
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("mc_authn".to_owned()))
            .add_auth_context_value(AuthenticationContextClass::new("2".to_owned()))
            .add_extra_param("version", "mc_v1.1")
            .add_extra_param("login_hint", format!("MSISDN:{MSISDN}"))
            .set_pkce_challenge(challenge)
            .url();
        let query = browser(browser_http, url.as_str()).await?;
        let (mut code, mut state_ok, mut iss_ok) = (None, false, false);
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "state" => state_ok = value == state.secret().as_str(),
                "iss" => iss_ok = value == issuer,
                "code" => code = Some(value.into_owned()),
                _ => {}
            }
        }
        if !(state_ok && iss_ok) {
            return Err("callback state or iss".into());
        }
        let tokens = oidc
            .exchange_code(AuthorizationCode::new(code.ok_or("no code")?))
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await?;
        let id_token = tokens.id_token().ok_or("no id_token")?;
        let verifier = oidc.id_token_verifier();
        let claims = id_token.claims(&verifier, &nonce)?;
        if let Some(expected) = claims.access_token_hash() {
            let actual = AccessTokenHash::from_token(
                tokens.access_token(),
                id_token.signing_alg()?,
                id_token.signing_key(&verifier)?,
            )?;
            if actual != *expected {
                return Err("at_hash".into());
            }
        }
        let info: CoreUserInfoClaims = oidc
            .user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            )
            .request_async(&http)
            .await?;
        if info.phone_number().map(|p| p.as_str()) != Some(PHONE) {
            return Err("wrong phone_number".into());
        }
        Ok(())
    }

    pub(super) async fn run(sandbox: &Sandbox, total: usize, tasks: usize) -> Result<Report> {
        let info = Sandbox::operator(OPERATOR).ok_or("no operator")?;
        let issuer = sandbox.issuer(OPERATOR);
        let back = plain_http()?;
        let browser_http = plain_http()?;
        let jwks_url = JsonWebKeySetUrl::new(format!("{issuer}/jwks"))?;
        let http = |request| send(back.clone(), request);
        let jwks = CoreJsonWebKeySet::fetch_async(&jwks_url, &http).await?;
        let oidc: Oidc = CoreClient::new(
            ClientId::new(info.client_id.to_owned()),
            IssuerUrl::new(issuer.clone())?,
            jwks,
        )
        .set_client_secret(ClientSecret::new(info.client_secret.to_owned()))
        .set_auth_uri(AuthUrl::new(format!("{issuer}/authorize"))?)
        .set_token_uri(TokenUrl::new(format!("{issuer}/token"))?)
        .set_user_info_url(UserInfoUrl::new(format!("{issuer}/userinfo"))?)
        .set_redirect_uri(RedirectUrl::new(SP_REDIRECT_URI.to_owned())?);
        for _ in 0..tasks {
            login(&oidc, &back, &browser_http, &issuer).await?;
        }
        let shared = Arc::new((oidc, back, browser_http, issuer));
        load("openidconnect + reqwest", total, tasks, move |_| {
            let shared = shared.clone();
            async move {
                let (oidc, back, browser_http, issuer) = &*shared;
                login(oidc, back, browser_http, issuer).await
            }
        })
        .await
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000)
        .max(1);
    let tasks: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(16)
        .max(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2).max(1);
    let server = SandboxServer::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sandbox = server.sandbox();
    println!(
        "{total} logins per run, {tasks} concurrent tasks, {rounds} rounds, sandbox on {} ({} CPUs)",
        server.addr(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!(
        "| client                     | logins | wall (s) | logins/s | p50 (ms) | p99 (ms) | client CPU µs/login | sandbox CPU µs/login |"
    );
    println!(
        "|----------------------------|-------:|---------:|---------:|---------:|---------:|--------------------:|---------------------:|"
    );
    // Alternate the clients, so that neither profits alone from a warmer sandbox or machine.
    let redis = std::env::var("MC_REDIS_URL").ok().filter(|u| !u.is_empty());
    // `MC_CONTENDERS=core,service` runs only those (of core, oidc, service, redis).
    let contenders = std::env::var("MC_CONTENDERS").unwrap_or_default();
    let runs = |name: &str| contenders.is_empty() || contenders.split(',').any(|c| c == name);
    let mut state_bytes = Vec::new();
    for _ in 0..rounds {
        if runs("core") {
            runtime.block_on(run_core(sandbox, total, tasks))?.print();
        }
        if runs("oidc") {
            runtime.block_on(oidc::run(sandbox, total, tasks))?.print();
        }
        if runs("service") {
            let (mut report, bytes) = runtime.block_on(run_service(sandbox, None, total, tasks))?;
            report.print();
            state_bytes.push(("memory", bytes));
        }
        if let Some(url) = redis.as_deref().filter(|_| runs("redis")) {
            let (mut report, bytes) =
                runtime.block_on(run_service(sandbox, Some(url), total, tasks))?;
            report.print();
            state_bytes.push(("Redis", bytes));
        }
    }
    for (store, bytes) in state_bytes {
        println!("per-login state handed to the {store} store: {bytes} bytes (JSON, mean)");
    }
    if redis.is_none() {
        println!("(set MC_REDIS_URL=redis://127.0.0.1:PORT to add two instances sharing a Redis)");
    }
    Ok(())
}
