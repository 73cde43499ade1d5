//! Interop against an independently written, OpenID Certified provider: panva's `oidc-provider`
//! from npm, configured as a Mobile Connect operator by `tests/interop/provider.mjs`.
//!
//! [`Peer::start`] installs it (`npm ci` in `tests/interop`, once per test binary), starts it on
//! a free loopback port, waits for its provider metadata and kills it by PID on drop (it also
//! exits by itself when its stdin, held by this process, closes). It returns `None`, after
//! printing why, only when `node` is not installed and the environment variable `CI` is unset;
//! everything else that goes wrong panics.
//!
//! [`Browser`] is the user's browser: it follows the provider's own redirects (authorize ->
//! interaction -> resume -> ...) carrying cookies, over [`Driver::send`] (the adapters never
//! follow redirects), and stops at the first redirect that leaves the provider.
//!
//! OpenID CIBA: the provider's CIBA clients ([`CibaClient`]) and the SP's notification endpoint
//! for ping mode ([`PingReceiver`]), which hands each ping to [`Notification::parse`] and
//! [`BackchannelPending::accept`] and answers what [`notification_response`] says. (The poll
//! loop is the adapters' own, `poll_for_tokens`.)

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use mc_core::{
    Algorithm, AuthorizationRedirect, AuthorizeOptions, Authorizing, BackchannelPending,
    ClientAuth, ClientSecret, CodeReceived, Discovered, MetadataExchange, Notification, Notified,
    OperatorConfig, Profile, Registration, SpSigningKey, Tokens, Verified, notification_response,
};
use mc_sandbox::loopback::{LoopbackServer, Recorded, Reply};
use url::Url;

use crate::driver::{Driver, Failure, entropy};

/// The SP's redirect URI, registered for every client of the peer.
pub const REDIRECT_URI: &str = "https://sp.example/callback";
/// A subscriber whose handset approves.
pub const APPROVING_MSISDN: &str = "447700900001";
/// A subscriber who declines (`access_denied`).
pub const DECLINING_MSISDN: &str = "447700900009";
/// A subscriber whose handset never answers a CIBA request (it expires).
pub const SILENT_MSISDN: &str = "447700900007";
/// The `interval` the provider adds to its CIBA answers for poll-mode clients (seconds).
pub const CIBA_POLL_INTERVAL_SECS: u64 = 1;
/// The interval of a ping-mode client's login: the provider's answer names none, so CIBA's
/// default applies on both sides.
pub const CIBA_DEFAULT_INTERVAL_SECS: u64 = 5;
/// How long after a CIBA request the provider's handset answers.
pub const CIBA_ANSWER_DELAY: Duration = Duration::from_secs(2);
/// The path of the SP's CIBA notification endpoint (`https://sp.example/ciba/notify` at the
/// provider, delivered to the origin given by [`Peer::set_sp_origin`]).
pub const CIBA_NOTIFY_PATH: &str = "/ciba/notify";
/// The client whose id_tokens carry no `at_hash` (the stock oidc-provider v9 behaviour).
pub const PLAIN_OIDC_CLIENT: &str = "sp-plain-oidc";
/// The `kid` under which the peer knows the SP's `private_key_jwt` key.
pub const SP_KEY_ID: &str = "sp-key-1";
/// The oldest Node.js the pinned oidc-provider runs on (`URL.parse`, `crypto.hash`).
pub const MIN_NODE: (u32, u32) = (20, 18);

const SP_KEY_PEM: &[u8] = include_bytes!("../interop/keys/sp-private-key-jwt.pem");
const OTHER_KEY_PEM: &[u8] = include_bytes!("../interop/keys/sp-other-key.pem");
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_HOPS: usize = 10;

/// The signing algorithms the peer's clients use for id_tokens (one key of each per key set).
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];

/// Token-endpoint authentication of a peer client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
    /// `private_key_jwt` with `keys/sp-private-key-jwt.pem` (RS256).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// All three.
    pub const ALL: [Self; 3] = [Self::Basic, Self::Post, Self::PrivateKeyJwt];

    fn slug(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Post => "post",
            Self::PrivateKeyJwt => "pkjwt",
        }
    }
}

/// One of the clients registered at the peer (`provider.mjs` builds the same list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerClient {
    /// How it authenticates at the token endpoint.
    pub auth: AuthMethod,
    /// Its `id_token_signed_response_alg`.
    pub alg: Algorithm,
    /// Whether userinfo answers with a JWT signed with `alg` (`userinfo_signed_response_alg`).
    pub signed_userinfo: bool,
}

impl PeerClient {
    /// A client with JSON userinfo.
    #[must_use]
    pub const fn new(auth: AuthMethod, alg: Algorithm) -> Self {
        Self {
            auth,
            alg,
            signed_userinfo: false,
        }
    }

    /// The client with signed userinfo (and Basic authentication) for `alg`.
    #[must_use]
    pub const fn signed_userinfo(alg: Algorithm) -> Self {
        Self {
            auth: AuthMethod::Basic,
            alg,
            signed_userinfo: true,
        }
    }

    /// Its `client_id`, e.g. `sp-basic-rs256`, `sp-jwtui-es256`.
    #[must_use]
    pub fn id(&self) -> String {
        let alg = format!("{:?}", self.alg).to_ascii_lowercase();
        if self.signed_userinfo {
            format!("sp-jwtui-{alg}")
        } else {
            format!("sp-{}-{alg}", self.auth.slug())
        }
    }

    /// How mc-core should authenticate as this client.
    #[must_use]
    pub fn client_auth(&self) -> ClientAuth {
        match self.auth {
            AuthMethod::Basic => ClientAuth::SecretBasic,
            AuthMethod::Post => ClientAuth::SecretPost,
            AuthMethod::PrivateKeyJwt => ClientAuth::PrivateKeyJwt,
        }
    }
}

/// The client secret the peer registered for `client_id`: it has characters that HTTP Basic
/// must form-urlencode (RFC 6749 section 2.3.1), so a wrong encoding shows.
#[must_use]
pub fn client_secret(client_id: &str) -> ClientSecret {
    ClientSecret::new(format!("{client_id} s3cret:+/%&=~"))
}

/// The SP's `private_key_jwt` key (RS256, kid `sp-key-1`), whose public half the peer knows.
///
/// # Panics
/// When the committed PEM does not load.
#[must_use]
pub fn sp_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::RS256, SP_KEY_PEM, SP_KEY_ID)
        .expect("tests/interop/keys/sp-private-key-jwt.pem loads")
}

/// Another RSA key, unknown to the peer, claiming the same `kid`.
///
/// # Panics
/// When the committed PEM does not load.
#[must_use]
pub fn other_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::RS256, OTHER_KEY_PEM, SP_KEY_ID)
        .expect("tests/interop/keys/sp-other-key.pem loads")
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Write to the real stderr, past the test harness's output capture, so that a skip is seen.
fn announce(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// `Some(version)` when node runs, `None` when it is not installed.
fn node_version() -> Option<String> {
    static NODE: OnceLock<Option<String>> = OnceLock::new();
    NODE.get_or_init(|| match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(out) => panic!(
            "`node --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot run node: {e}"),
    })
    .clone()
}

fn check_node_version(version: &str) {
    let mut parts = version.trim_start_matches('v').split('.');
    let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
    let (major, minor) = (next(), next());
    let found = major.zip(minor);
    assert!(
        found.is_some_and(|v| v >= MIN_NODE),
        "node {version} is too old for the pinned oidc-provider: install Node.js >= {}.{} \
         (e.g. from NodeSource; Debian 12's own nodejs package is 18.x)",
        MIN_NODE.0,
        MIN_NODE.1,
    );
}

/// `npm ci` in tests/interop, once per test binary.
fn npm_ci() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let started = Instant::now();
        let out = Command::new("npm")
            .args(["ci", "--prefer-offline", "--no-audit", "--no-fund"])
            .current_dir(interop_dir())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run npm (install npm next to node): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`npm ci` in {} failed ({}):\n{}\n{}",
                interop_dir().display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        announce(&format!(
            "interop: npm ci in tests/interop took {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The running provider.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    issuer: String,
    output: Arc<Mutex<String>>,
    admin: mc_io_blocking::Client,
}

impl Peer {
    /// Install (once), start and wait for the provider. `None` when node is missing and `CI`
    /// is unset (the reason is printed).
    ///
    /// # Panics
    /// When node is missing under `CI`, too old, `npm ci` fails, or the provider does not
    /// come up.
    #[must_use]
    pub fn start() -> Option<Self> {
        let Some(version) = node_version() else {
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            assert!(
                !ci,
                "interop: `node` is not installed and CI is set: install Node.js >= {}.{} and npm",
                MIN_NODE.0, MIN_NODE.1
            );
            static SKIPPED: OnceLock<()> = OnceLock::new();
            SKIPPED.get_or_init(|| {
                announce(
                    "interop: SKIPPED: `node` is not installed, so the oidc-provider peer cannot \
                     run (install Node.js >= 20.18 and npm; with CI set this fails instead)",
                );
            });
            return None;
        };
        check_node_version(&version);
        npm_ci();
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::spawn() {
                Ok(peer) => return Some(peer),
                Err(e) => last_error = e,
            }
        }
        panic!("interop: the provider did not start: {last_error}");
    }

    fn spawn() -> Result<Self, String> {
        // A free port: bind port 0, read it, release it for node.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(interop_dir())
            .env("PORT", port.to_string())
            .env("NODE_ENV", "test")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut out) = output.lock() {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
            });
        }
        let admin = mc_io_blocking::Client::with_config(
            mc_io_blocking::Config::default().with_timeout(Duration::from_secs(5)),
        )
        .expect("a ureq agent always builds");
        let mut peer = Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            output,
            admin,
        };
        let started = Instant::now();
        let discovery = format!("{}/.well-known/openid-configuration", peer.issuer);
        loop {
            if let Ok(Some(status)) = peer.child.try_wait() {
                return Err(format!("node exited with {status}:\n{}", peer.output()));
            }
            if peer.get(&discovery).is_ok_and(|(status, _)| status == 200) {
                return Ok(peer);
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                return Err(format!(
                    "no answer at {discovery} after {STARTUP_TIMEOUT:?}:\n{}",
                    peer.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the provider printed so far.
    #[must_use]
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// The issuer, `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The node process's id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn get(&self, url: &str) -> Result<(u16, String), String> {
        self.admin_request(http::Method::GET, url)
    }

    fn admin_request(&self, method: http::Method, url: &str) -> Result<(u16, String), String> {
        let mut request = http::Request::new(Vec::new());
        *request.method_mut() = method;
        *request.uri_mut() = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let response = self.admin.send(request).map_err(|e| e.to_string())?;
        Ok((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body()).into_owned(),
        ))
    }

    /// Switch the provider to its next signing key set (new `kid`s; the old keys are no longer
    /// published). Returns the new `kid`s.
    ///
    /// # Panics
    /// When the provider does not answer.
    pub fn rotate_keys(&self) -> Vec<String> {
        let (status, body) = self
            .admin_request(
                http::Method::POST,
                &format!("{}/_admin/rotate", self.issuer),
            )
            .expect("rotate");
        assert_eq!(status, 200, "{body}");
        let value: serde_json::Value = serde_json::from_str(&body).expect("rotate answer");
        value["kids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect()
    }

    /// How many requests the provider has received for `path` (e.g. `/jwks`), or, for
    /// `slow_down`, how many CIBA polls it answered so.
    ///
    /// # Panics
    /// When the provider does not answer.
    #[must_use]
    pub fn request_count(&self, path: &str) -> u64 {
        let (status, body) = self
            .get(&format!("{}/_admin/stats", self.issuer))
            .expect("stats");
        assert_eq!(status, 200, "{body}");
        let value: serde_json::Value = serde_json::from_str(&body).expect("stats answer");
        value[path].as_u64().unwrap_or(0)
    }

    /// Where the SP's origin `https://sp.example` really is, for the provider's outgoing
    /// requests (CIBA pings to [`CIBA_NOTIFY_PATH`]): an `http://127.0.0.1:PORT` origin.
    ///
    /// # Panics
    /// When the provider does not answer or refuses the origin.
    pub fn set_sp_origin(&self, origin: &str) {
        let url = format!("{}/_admin/sp-origin?origin={origin}", self.issuer);
        let (status, body) = self
            .admin_request(http::Method::POST, &url)
            .expect("sp-origin");
        assert_eq!(status, 200, "{body}");
    }

    /// The operator context for one of the provider's CIBA clients, with its right credentials
    /// (plain OpenID Connect profile).
    ///
    /// # Errors
    /// Any step's failure.
    pub fn ciba_operator<D: Driver>(
        &self,
        driver: &D,
        client: CibaClient,
    ) -> Result<Discovered, Failure> {
        let id = client.id();
        Ok(self
            .config(driver, id, client_secret(id), client.client_auth())?
            .build()?)
    }

    /// The configuration of an operator context for a client: `MetadataExchange::for_issuer`,
    /// then `OperatorConfig::with_metadata`, not built yet, for a test that sets more (a
    /// profile, a policy) before [`OperatorConfig::build`].
    ///
    /// # Errors
    /// Any step's failure.
    pub fn config<D: Driver>(
        &self,
        driver: &D,
        client_id: &str,
        secret: ClientSecret,
        auth: ClientAuth,
    ) -> Result<OperatorConfig, Failure> {
        let metadata = driver.execute(MetadataExchange::for_issuer(&self.issuer)?)?;
        Ok(OperatorConfig::new(Registration {
            operator_id: client_id.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: secret,
            redirect_uri: REDIRECT_URI.to_owned(),
        })?
        .with_metadata(metadata)?
        .client_auth(auth)
        .signing_key(sp_key()))
    }

    /// The operator context for a client ([`Peer::config`], built; JWKS fetched on first use).
    /// The provider publishes no Mobile Connect metadata, so the context gets the plain OpenID
    /// Connect profile.
    ///
    /// # Errors
    /// Any step's failure.
    pub fn operator<D: Driver>(
        &self,
        driver: &D,
        client_id: &str,
        secret: ClientSecret,
        auth: ClientAuth,
    ) -> Result<Discovered, Failure> {
        Ok(self.config(driver, client_id, secret, auth)?.build()?)
    }

    /// [`Peer::config`] for one of the registered clients, with its right credentials.
    ///
    /// # Errors
    /// Any step's failure.
    pub fn config_for<D: Driver>(
        &self,
        driver: &D,
        client: PeerClient,
    ) -> Result<OperatorConfig, Failure> {
        let id = client.id();
        self.config(driver, &id, client_secret(&id), client.client_auth())
    }

    /// The operator context for one of the registered clients, with its right credentials
    /// (plain OpenID Connect profile, as the metadata implies).
    ///
    /// # Errors
    /// Any step's failure.
    pub fn operator_for<D: Driver>(
        &self,
        driver: &D,
        client: PeerClient,
    ) -> Result<Discovered, Failure> {
        Ok(self.config_for(driver, client)?.build()?)
    }

    /// The operator context for one of the registered clients under an explicit profile
    /// (e.g. [`Profile::MobileConnect`], which the metadata alone would not choose).
    ///
    /// # Errors
    /// Any step's failure.
    pub fn operator_with_profile<D: Driver>(
        &self,
        driver: &D,
        client: PeerClient,
        profile: Profile,
    ) -> Result<Discovered, Failure> {
        Ok(self.config_for(driver, client)?.profile(profile).build()?)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Child::kill signals this very PID (SIGKILL); then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the browser ended up.
#[derive(Debug)]
pub enum Landing {
    /// A redirect that leaves the provider's origin (normally to the SP's redirect URI).
    Redirected(Url),
    /// A page that is not a redirect (an error page, or a page waiting for a person).
    Page {
        /// HTTP status.
        status: u16,
        /// The URL that answered.
        url: Url,
        /// The body, as text.
        body: String,
    },
}

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// A minimal browser: follows same-origin redirects, keeps cookies (name, value, path).
#[derive(Debug, Default)]
pub struct Browser {
    cookies: Vec<Cookie>,
    hops: Vec<String>,
}

impl Browser {
    /// A browser with no cookies.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The paths visited by the last [`Browser::visit`], in order.
    #[must_use]
    pub fn hops(&self) -> &[String] {
        &self.hops
    }

    /// GET `url`, then follow redirects while they stay on its origin.
    ///
    /// # Errors
    /// The adapter's failure, or [`Failure::Browser`] for a bad URL or too many redirects.
    pub fn visit<D: Driver>(&mut self, driver: &D, url: &str) -> Result<Landing, Failure> {
        let bad = |what: String| Failure::Browser(what);
        let mut current = Url::parse(url).map_err(|e| bad(format!("bad URL {url}: {e}")))?;
        let origin = current.origin();
        self.hops.clear();
        for _ in 0..MAX_HOPS {
            self.hops.push(current.path().to_owned());
            let mut request = http::Request::new(Vec::new());
            *request.uri_mut() = current
                .as_str()
                .parse()
                .map_err(|e| bad(format!("bad URI {current}: {e}")))?;
            if let Some(cookie) = self.cookie_header(current.path()) {
                let value = http::HeaderValue::from_str(&cookie)
                    .map_err(|e| bad(format!("bad cookie: {e}")))?;
                request.headers_mut().insert(http::header::COOKIE, value);
            }
            let response = driver.send(request)?;
            self.store(current.path(), response.headers());
            let status = response.status();
            if !status.is_redirection() {
                return Ok(Landing::Page {
                    status: status.as_u16(),
                    url: current,
                    body: String::from_utf8_lossy(response.body()).into_owned(),
                });
            }
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| bad(format!("HTTP {status} without Location at {current}")))?;
            let next = current
                .join(location)
                .map_err(|e| bad(format!("bad Location {location}: {e}")))?;
            if next.origin() != origin {
                return Ok(Landing::Redirected(next));
            }
            current = next;
        }
        Err(bad(format!("more than {MAX_HOPS} redirects")))
    }

    fn cookie_header(&self, path: &str) -> Option<String> {
        let matching: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| path_matches(path, &c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!matching.is_empty()).then(|| matching.join("; "))
    }

    fn store(&mut self, request_path: &str, headers: &http::HeaderMap) {
        for header in headers.get_all(http::header::SET_COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let mut parts = header.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            let mut path = default_path(request_path);
            let mut expired = value.is_empty();
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                match key.to_ascii_lowercase().as_str() {
                    "path" if val.starts_with('/') => path = val.to_owned(),
                    "max-age" => expired |= val.parse::<i64>().is_ok_and(|s| s <= 0),
                    "expires" => expired |= val.contains("1970"),
                    _ => {}
                }
            }
            self.cookies.retain(|c| !(c.name == name && c.path == path));
            if !expired {
                self.cookies.push(Cookie {
                    name: name.to_owned(),
                    value: value.to_owned(),
                    path,
                });
            }
        }
    }
}

/// RFC 6265 section 5.1.4.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// RFC 6265 section 5.1.4: the directory of the request path.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => request_path.get(..i).unwrap_or("/").to_owned(),
    }
}

/// Start a login and run the browser through the provider: the query of the redirect to the
/// SP's redirect URI.
///
/// # Errors
/// Any step's failure; [`Failure::Browser`] when the browser does not end at the SP's
/// redirect URI (e.g. the provider shows an error page).
pub fn authorize<D: Driver>(
    driver: &D,
    operator: &Discovered,
    options: AuthorizeOptions,
) -> Result<CodeReceived, Failure> {
    let (redirect, flow) = operator.authorize(options, &mut entropy(), driver.now())?;
    follow(driver, operator, &redirect, flow)
}

/// Run the browser from an authorization redirect through the provider, and hand the query of
/// the redirect back to the SP to the login's callback (for a test that looks at the redirect
/// first).
///
/// # Errors
/// As [`authorize`].
pub fn follow<D: Driver>(
    driver: &D,
    operator: &Discovered,
    redirect: &AuthorizationRedirect,
    flow: Authorizing,
) -> Result<CodeReceived, Failure> {
    let mut browser = Browser::new();
    let query = match browser.visit(driver, redirect.as_str())? {
        Landing::Redirected(url) => {
            let mut target = url.clone();
            target.set_query(None);
            if target.as_str() != REDIRECT_URI {
                return Err(Failure::Browser(format!("redirected to {target}")));
            }
            url.query().unwrap_or_default().to_owned()
        }
        Landing::Page { status, url, body } => {
            return Err(Failure::Browser(format!(
                "stopped at HTTP {status} {}: {}",
                url.path(),
                body.chars().take(300).collect::<String>()
            )));
        }
    };
    Ok(flow.callback(operator, &query, driver.now())?)
}

/// The whole login: authorize, browser, callback, token exchange, id_token verification
/// (with a JWKS fetch when the key is not known yet).
///
/// # Errors
/// Any step's failure.
pub fn login<D: Driver>(
    driver: &D,
    operator: &Discovered,
    options: AuthorizeOptions,
) -> Result<Tokens, Failure> {
    let code = authorize(driver, operator, options)?;
    driver.execute(code.token_exchange(operator, driver.now())?)
}

/// One of the provider's OpenID CIBA clients (`provider.mjs` registers the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CibaClient {
    /// `sp-ciba-basic`: poll mode, `client_secret_basic`, RS256 id_tokens.
    PollBasic,
    /// `sp-ciba-pkjwt`: poll mode, `private_key_jwt` (the SP's JWKS as mc-core writes it,
    /// `keys/sp-jwks.json`), ES256 id_tokens.
    PollPrivateKeyJwt,
    /// `sp-ciba-ping`: ping mode, `client_secret_basic`, PS256 id_tokens.
    PingBasic,
    /// `sp-ciba-ping-pkjwt`: ping mode, `private_key_jwt`, RS256 id_tokens.
    PingPrivateKeyJwt,
}

impl CibaClient {
    /// Its `client_id`.
    #[must_use]
    pub const fn id(self) -> &'static str {
        match self {
            Self::PollBasic => "sp-ciba-basic",
            Self::PollPrivateKeyJwt => "sp-ciba-pkjwt",
            Self::PingBasic => "sp-ciba-ping",
            Self::PingPrivateKeyJwt => "sp-ciba-ping-pkjwt",
        }
    }

    /// How it authenticates at the backchannel and token endpoints.
    #[must_use]
    pub const fn client_auth(self) -> ClientAuth {
        match self {
            Self::PollBasic | Self::PingBasic => ClientAuth::SecretBasic,
            Self::PollPrivateKeyJwt | Self::PingPrivateKeyJwt => ClientAuth::PrivateKeyJwt,
        }
    }

    /// Its `id_token_signed_response_alg`.
    #[must_use]
    pub const fn alg(self) -> Algorithm {
        match self {
            Self::PollBasic | Self::PingPrivateKeyJwt => Algorithm::RS256,
            Self::PollPrivateKeyJwt => Algorithm::ES256,
            Self::PingBasic => Algorithm::PS256,
        }
    }
}

/// One notification the [`PingReceiver`] handled.
#[derive(Debug)]
pub struct Pinged {
    /// The request as it arrived.
    pub request: Recorded,
    /// What the core made of it ([`Notification::parse`], then [`BackchannelPending::accept`]
    /// of the login it names).
    pub result: Result<Notified, mc_core::Error>,
    /// The status the receiver answered ([`notification_response`] of `result`).
    pub status: u16,
}

/// The SP's CIBA notification endpoint on loopback, for one operator context: each request is
/// parsed, matched by `auth_req_id` to a login handed to [`PingReceiver::expect`], accepted,
/// and answered as the core says; the outcome goes to [`PingReceiver::next`].
#[derive(Debug)]
pub struct PingReceiver {
    server: LoopbackServer,
    logins: Arc<Mutex<Vec<BackchannelPending>>>,
    handled: Mutex<mpsc::Receiver<Pinged>>,
}

impl PingReceiver {
    /// Listen on a free loopback port for `operator`'s notifications.
    ///
    /// # Errors
    /// When the socket cannot be bound or the thread cannot start.
    pub fn start(operator: Discovered) -> std::io::Result<Self> {
        let logins: Arc<Mutex<Vec<BackchannelPending>>> = Arc::default();
        let (sender, handled) = mpsc::channel();
        let sender = Mutex::new(sender);
        let known = Arc::clone(&logins);
        let server = LoopbackServer::serve(TcpListener::bind("127.0.0.1:0")?, move |recorded| {
            let result = receive(&operator, &known, recorded);
            let response = notification_response(&result);
            let status = response.status().as_u16();
            let mut reply = Reply::status(status);
            for (name, value) in response.headers() {
                reply = reply.header(name.as_str(), value.to_str().unwrap_or_default());
            }
            let pinged = Pinged {
                request: recorded.clone(),
                result,
                status,
            };
            let _ = sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .send(pinged);
            reply
        })?;
        Ok(Self {
            server,
            logins,
            handled: Mutex::new(handled),
        })
    }

    /// `http://127.0.0.1:PORT`, for [`Peer::set_sp_origin`].
    #[must_use]
    pub fn origin(&self) -> String {
        self.server.url("")
    }

    /// Keep a pending login for its notification (as a host stores it by `auth_req_id`).
    pub fn expect(&self, pending: &BackchannelPending) {
        self.logins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(pending.clone());
    }

    /// The next notification handled, waiting at most `timeout`.
    #[must_use]
    pub fn next(&self, timeout: Duration) -> Option<Pinged> {
        self.handled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv_timeout(timeout)
            .ok()
    }
}

/// A notification as the host's web framework would hand it over, then the core's verdict.
fn receive(
    operator: &Discovered,
    logins: &Mutex<Vec<BackchannelPending>>,
    recorded: &Recorded,
) -> Result<Notified, mc_core::Error> {
    let mut request = http::Request::builder()
        .method(recorded.method.as_str())
        .uri(recorded.target.as_str());
    for (name, value) in &recorded.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    // An unreadable request line or header reaches the core as a GET, which it refuses.
    let request = request
        .body(recorded.body.clone())
        .unwrap_or_else(|_| http::Request::new(Vec::new()));
    let notification = Notification::parse(&request)?;
    let pending = logins
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|p| p.auth_req_id() == notification.auth_req_id())
        .cloned()
        .ok_or(mc_core::BackchannelError::UnknownAuthReqId)?;
    match pending.accept(operator, notification, mc_io_blocking::now())? {
        Verified::Done(notified) => Ok(notified),
        // A ping carries no id_token, so no key is ever missing; tokens are verified by the poll.
        Verified::NeedJwks(_) => Err(mc_core::ProtocolError::MissingField {
            endpoint: mc_core::Endpoint::Notification,
            field: "keys",
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_paths() {
        assert!(path_matches("/interaction/abc", "/interaction/abc"));
        assert!(path_matches("/interaction/abc/x", "/interaction/abc"));
        assert!(!path_matches("/interaction/abcd", "/interaction/abc"));
        assert!(path_matches("/auth/x", "/"));
        assert_eq!(default_path("/auth"), "/");
        assert_eq!(default_path("/a/b/c"), "/a/b");
    }

    #[test]
    fn cookies_are_stored_replaced_and_expired() {
        let mut browser = Browser::new();
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::SET_COOKIE,
            http::HeaderValue::from_static("_interaction=abc; path=/interaction/abc; httponly"),
        );
        headers.append(
            http::header::SET_COOKIE,
            http::HeaderValue::from_static("_session=s1; path=/; samesite=lax"),
        );
        browser.store("/auth", &headers);
        assert_eq!(
            browser.cookie_header("/interaction/abc").as_deref(),
            Some("_interaction=abc; _session=s1")
        );
        assert_eq!(
            browser.cookie_header("/auth").as_deref(),
            Some("_session=s1")
        );
        let mut expire = http::HeaderMap::new();
        expire.append(
            http::header::SET_COOKIE,
            http::HeaderValue::from_static(
                "_interaction=; path=/interaction/abc; expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ),
        );
        browser.store("/interaction/abc", &expire);
        assert_eq!(
            browser.cookie_header("/interaction/abc").as_deref(),
            Some("_session=s1")
        );
    }

    #[test]
    fn client_ids_match_provider_mjs() {
        assert_eq!(
            PeerClient::new(AuthMethod::PrivateKeyJwt, Algorithm::PS256).id(),
            "sp-pkjwt-ps256"
        );
        assert_eq!(
            PeerClient::signed_userinfo(Algorithm::ES256).id(),
            "sp-jwtui-es256"
        );
        let _ = sp_key();
        let _ = other_key();
    }
}
