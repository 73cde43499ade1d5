//! The [login service](crate::service) on axum (feature `axum`): the routes that start and
//! finish Mobile Connect logins, and the extractor [`McUser`] that yields who is logged in.
//!
//! The conventions of axum-oidc: the host adds a [`tower_sessions::SessionManagerLayer`] with the
//! session store it likes (memory, Redis, a database; re-exported here as [`tower_sessions`], so
//! that the versions match), merges [`MobileConnect::router`] into its app and adds
//! [`MobileConnect::layer`]; its handlers take [`McUser`] (a logged-in page: anyone else is sent
//! to the login page) or `Option<McUser>` (a page for both).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use mc_io_tokio::axum::tower_sessions::{MemoryStore, SessionManagerLayer, cookie::SameSite};
//! use mc_io_tokio::axum::{McUser, MobileConnect};
//! use mc_io_tokio::{LoginService, ServiceConfig};
//!
//! // Text, not HTML: the PCR comes from the operator.
//! async fn account(user: McUser) -> String {
//!     format!("PCR {} at {}, LoA {:?}", user.pcr, user.operator, user.acr)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServiceConfig::from_file("mobile-connect.toml")?;
//! let service = LoginService::from_config(config).await?;
//! let mc = MobileConnect::new(service)?.login_page("/");
//! let app = Router::new()
//!     .route("/account", get(account))
//!     .merge(mc.router()) // POST /login, GET /callback (the redirect_uri's path), ...
//!     .layer(mc.layer()) // where McUser sends a browser that is not logged in
//!     .layer(SessionManagerLayer::new(MemoryStore::default()).with_same_site(SameSite::Lax));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # The routes (paths configurable)
//! | Route | Does |
//! |---|---|
//! | `POST /login` (form `msisdn` and/or `operator`, or `selection=1`) | [`LoginService::start`]; 303 to the operator (or the selection page) with the per-login cookie |
//! | `GET <the redirect_uri's path>` (and the discovery `redirect_uri`'s, when it differs) | [`LoginService::finish`] with the cookie's login id; the cookie is cleared whatever the outcome; a return from the selection page is sent on to the operator with a new cookie; a login cycles the session id and keeps the [`Identity`](crate::Identity) in the session, then 303 to the clean URL (`/`) |
//! | `POST /step-up` | a logged-in user confirms with the PIN: [`LoginRequest::step_up`](crate::LoginRequest::step_up) (LoA 3, same subscriber) |
//! | `POST /login/si` (form `msisdn`, `operator`) | [`LoginService::start_server_initiated`]: no redirect, the handset asks; 303 to the waiting page |
//! | `GET /login/wait` | [`LoginService::check_server_initiated`]: a page that reloads itself (`<meta http-equiv="refresh">`, no script) until the handset answered, then as a callback's login |
//! | `POST /logout` | flushes the session; 303 to `/` |
//!
//! # What the routes guarantee
//! - The per-login cookie (`mc_login`; `__Host-mc_login` over https) holds the pending
//!   login's random id and nothing else: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Max-Age` = the
//!   login timeout, `Secure` whenever the service's `redirect_uri` is https. A callback
//!   without it (or with a malformed or duplicated one) is 400 before the service is asked; a
//!   replayed callback is 400 (the login was taken out of the store once).
//! - A login cycles the session id (no session fixation) and redirects to a URL without the
//!   code and state. Every answer of these routes carries `Cache-Control: no-store` and
//!   `Referrer-Policy: no-referrer`.
//! - Errors answer [`ServiceError::http_status`] with a small page naming the error class
//!   ([`LoginFailure`], styled by the host through [`Pages`]); never the error's text, never a
//!   secret. The error itself goes to `tracing` (`mc_axum` events).
//! - The POST routes refuse cross-site requests (403): a browser's `Sec-Fetch-Site` must be
//!   `same-origin` (or `none`), else its `Origin` must name the `Host`; so another site cannot
//!   start a login with an attacker's number in the user's browser, nor log the user out.
//!
//! # What the host must do
//! - The session cookie: `SameSite=Lax` (`Strict` is not sent on the redirect chain that starts
//!   at the operator, so the first page after the login would look logged out), `Secure` over
//!   https (tower-sessions' default), ideally named with the `__Host-` prefix.
//! - Rate limits on `POST /login` and the callback (SECURITY.md); they are not here.

mod login_cookie;
mod pages;
mod routes;
mod user;

use std::fmt;
use std::sync::Arc;

use url::Url;

pub use pages::{DefaultPages, LoginFailure, Pages, escape_html};
pub use tower_sessions;
pub use user::{LoginRequired, McUser};

use crate::service::{LoginService, ServiceError};
use login_cookie::LoginCookie;

/// The session key the verified [`Identity`](crate::Identity) is kept under.
pub const IDENTITY_KEY: &str = "mc.identity";

/// Mobile Connect login for an axum app: the [`LoginService`], the routes' paths and pages.
/// Cheap to clone. See the [module](self) documentation.
#[derive(Clone)]
pub struct MobileConnect {
    inner: Arc<Settings>,
}

#[derive(Clone)]
struct Settings {
    service: LoginService,
    cookie: LoginCookie,
    paths: Paths,
    pages: Arc<dyn Pages>,
}

impl fmt::Debug for MobileConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MobileConnect")
            .field("service", &self.inner.service)
            .field("paths", &self.inner.paths)
            .finish_non_exhaustive()
    }
}

/// The paths of the routes and of the pages they send the browser to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Paths {
    /// `POST`: start a browser login (default `/login`).
    pub login: String,
    /// `GET`: the callback, the path of the configuration's `redirect_uri`.
    pub callback: String,
    /// `GET`: where the operator selection page returns, when the configuration's discovery
    /// `redirect_uri` has another path than the callback.
    pub selection_return: Option<String>,
    /// `POST`: start a server-initiated login (default `/login/si`).
    pub server_initiated: String,
    /// `GET`: the server-initiated waiting page (default `/login/wait`).
    pub waiting: String,
    /// `POST`: step up to LoA 3 (default `/step-up`).
    pub step_up: String,
    /// `POST`: log out (default `/logout`).
    pub logout: String,
    /// Where a login ends: a clean URL, without the callback's code and state (default `/`).
    pub after_login: String,
    /// Where logging out ends (default `/`).
    pub after_logout: String,
    /// Where [`McUser`] sends a browser that is not logged in (default `/login`: a `GET` page
    /// of the host's); `None`: 401.
    pub login_page: Option<String>,
}

impl MobileConnect {
    /// The routes for `service`, with the default paths, the callback at the path of the
    /// configuration's `redirect_uri`, and [`DefaultPages`].
    ///
    /// # Errors
    /// [`ServiceError::Config`] when the `redirect_uri` (or the discovery `redirect_uri`) is
    /// not an absolute URL whose path axum can route (no `{`, `}`, no segment starting with `:`
    /// or `*`).
    pub fn new(service: LoginService) -> Result<Self, ServiceError> {
        let config = service.config();
        let redirect = Url::parse(&config.redirect_uri)
            .map_err(|_| ServiceError::config("redirect_uri: not an absolute URL"))?;
        let callback = routable_path(&redirect, "redirect_uri")?;
        let selection_return = config
            .discovery
            .as_ref()
            .and_then(|d| d.redirect_uri.as_deref())
            .map(|uri| {
                let url = Url::parse(uri).map_err(|_| {
                    ServiceError::config("discovery.redirect_uri: not an absolute URL")
                })?;
                routable_path(&url, "discovery.redirect_uri")
            })
            .transpose()?
            .filter(|path| *path != callback);
        let paths = Paths {
            login: "/login".to_owned(),
            callback,
            selection_return,
            server_initiated: "/login/si".to_owned(),
            waiting: "/login/wait".to_owned(),
            step_up: "/step-up".to_owned(),
            logout: "/logout".to_owned(),
            after_login: "/".to_owned(),
            after_logout: "/".to_owned(),
            login_page: Some("/login".to_owned()),
        };
        let cookie = LoginCookie::new(redirect.scheme() == "https");
        Ok(Self {
            inner: Arc::new(Settings {
                service,
                cookie,
                paths,
                pages: Arc::new(DefaultPages),
            }),
        })
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// The path of `POST` login start (default `/login`). Paths are routed as given: an
    /// invalid one makes [`MobileConnect::router`] panic, as
    /// [`Router::route`](::axum::Router::route) does.
    #[must_use]
    pub fn login_path(self, path: impl Into<String>) -> Self {
        self.with(|s| s.paths.login = path.into())
    }

    /// The paths of the server-initiated start (`POST`, default `/login/si`) and its waiting
    /// page (`GET`, default `/login/wait`).
    #[must_use]
    pub fn server_initiated_paths(self, start: impl Into<String>, wait: impl Into<String>) -> Self {
        self.with(|s| {
            s.paths.server_initiated = start.into();
            s.paths.waiting = wait.into();
        })
    }

    /// The path of `POST` step-up (default `/step-up`).
    #[must_use]
    pub fn step_up_path(self, path: impl Into<String>) -> Self {
        self.with(|s| s.paths.step_up = path.into())
    }

    /// The path of `POST` logout (default `/logout`).
    #[must_use]
    pub fn logout_path(self, path: impl Into<String>) -> Self {
        self.with(|s| s.paths.logout = path.into())
    }

    /// Where the browser goes once logged in (default `/`).
    #[must_use]
    pub fn after_login(self, path: impl Into<String>) -> Self {
        self.with(|s| s.paths.after_login = path.into())
    }

    /// Where the browser goes once logged out (default `/`).
    #[must_use]
    pub fn after_logout(self, path: impl Into<String>) -> Self {
        self.with(|s| s.paths.after_logout = path.into())
    }

    /// Where [`McUser`] (and `POST /step-up`) sends a browser that is not logged in (default
    /// `/login`).
    #[must_use]
    pub fn login_page(self, path: impl Into<String>) -> Self {
        self.with(|s| s.paths.login_page = Some(path.into()))
    }

    /// Answer 401 instead of redirecting a browser that is not logged in (an API).
    #[must_use]
    pub fn unauthorized_when_logged_out(self) -> Self {
        self.with(|s| s.paths.login_page = None)
    }

    /// The error and waiting pages.
    #[must_use]
    pub fn pages(self, pages: impl Pages) -> Self {
        self.with(|s| s.pages = Arc::new(pages))
    }

    /// The service.
    #[must_use]
    pub fn service(&self) -> &LoginService {
        &self.inner.service
    }

    /// The paths.
    #[must_use]
    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// The per-login cookie's name: `mc_login`, or `__Host-mc_login` when the `redirect_uri` is
    /// https.
    #[must_use]
    pub fn login_cookie_name(&self) -> &'static str {
        self.inner.cookie.name()
    }

    /// The layer that tells [`McUser`] where the login page is (an [`axum::Extension`] of this
    /// value, which the host's handlers may also extract). Without it, [`McUser`] answers 401.
    pub fn layer(&self) -> ::axum::Extension<Self> {
        ::axum::Extension(self.clone())
    }
}

/// A path from a configured URL, if axum can route it as written.
fn routable_path(url: &Url, setting: &str) -> Result<String, ServiceError> {
    let path = url.path();
    let routable = path.starts_with('/')
        && !path.contains(['{', '}'])
        && !path
            .split('/')
            .any(|segment| segment.starts_with([':', '*']));
    if routable {
        Ok(path.to_owned())
    } else {
        Err(ServiceError::config(format!(
            "{setting}: its path cannot be routed (no braces, no segment starting with : or *)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ::axum::Router;
    use ::axum::http::{StatusCode, header};
    use ::axum::routing::get;
    use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

    use super::*;
    use crate::service::{Identity, MemoryStore as LoginMemory, ServiceConfig};

    type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

    fn service(toml: &str) -> Result<LoginService> {
        let config = ServiceConfig::from_toml(toml)?;
        Ok(LoginService::with_store(
            config,
            Arc::new(LoginMemory::default()),
            crate::Client::new()?,
        )?)
    }

    const PLAIN: &str = "redirect_uri = \"http://127.0.0.1:3000/mc/callback\"\n\
         [operators.alpha]\nissuer = \"http://127.0.0.1:1/op\"\nclient_id = \"c\"\n\
         client_secret = \"s\"\n";

    #[test]
    fn the_paths_come_from_the_redirect_uris() -> Result {
        let mc = MobileConnect::new(service(PLAIN)?)?;
        assert_eq!(mc.paths().callback, "/mc/callback");
        assert_eq!(mc.paths().selection_return, None);
        assert_eq!(mc.login_cookie_name(), "mc_login");

        let https = "redirect_uri = \"https://sp.example/back\"\n\
             [discovery]\nendpoint = \"https://discovery.example/v2/discovery\"\n\
             client_id = \"d\"\nclient_secret = \"s\"\n\
             redirect_uri = \"https://sp.example/discovered\"\n";
        let mc = MobileConnect::new(service(https)?)?;
        assert_eq!(mc.paths().callback, "/back");
        assert_eq!(mc.paths().selection_return.as_deref(), Some("/discovered"));
        assert_eq!(mc.login_cookie_name(), "__Host-mc_login");

        for unroutable in ["https://sp.example/cb/*rest", "https://sp.example/cb/:id"] {
            let toml = format!("redirect_uri = \"{unroutable}\"\n");
            assert!(
                matches!(
                    MobileConnect::new(service(&toml)?),
                    Err(ServiceError::Config { .. })
                ),
                "{unroutable}"
            );
        }
        Ok(())
    }

    fn identity() -> Identity {
        Identity {
            operator: "alpha".to_owned(),
            pcr: "pcr-1".to_owned(),
            acr: Some("2".to_owned()),
            amr: vec!["SIM_OK".to_owned()],
            auth_time: None,
            phone_number: None,
            userinfo: serde_json::Map::new(),
        }
    }

    /// The host's app: `/me` for users, `/maybe` for everyone, `/become` logs in (a test's
    /// shortcut past the operator), served on loopback.
    async fn serve(mc: Option<&MobileConnect>, sessions: bool) -> Result<String> {
        async fn me(user: McUser) -> String {
            user.pcr.clone()
        }
        async fn maybe(user: Option<McUser>) -> String {
            user.map_or_else(|| "nobody".to_owned(), |u| u.pcr.clone())
        }
        async fn become_user(session: Session) -> StatusCode {
            match session.insert(IDENTITY_KEY, identity()).await {
                Ok(()) => StatusCode::NO_CONTENT,
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
        let mut app = Router::new()
            .route("/me", get(me))
            .route("/maybe", get(maybe))
            .route("/become", get(become_user));
        if let Some(mc) = mc {
            app = app.merge(mc.router()).layer(mc.layer());
        }
        if sessions {
            app = app.layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { ::axum::serve(listener, app).await });
        Ok(base)
    }

    fn client() -> Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?)
    }

    #[tokio::test]
    async fn mc_user_sends_strangers_to_the_login_page_or_answers_401() -> Result {
        let mc = MobileConnect::new(service(PLAIN)?)?.login_page("/welcome");
        let http = client()?;
        let cases = [
            (
                "with the layer",
                serve(Some(&mc), true).await?,
                303,
                Some("/welcome"),
            ),
            ("without it", serve(None, true).await?, 401, None),
            (
                "an API",
                serve(Some(&mc.clone().unauthorized_when_logged_out()), true).await?,
                401,
                None,
            ),
            (
                "no session layer",
                serve(Some(&mc), false).await?,
                500,
                None,
            ),
        ];
        for (case, base, status, location) in cases {
            let answer = http.get(format!("{base}/me")).send().await?;
            assert_eq!(answer.status().as_u16(), status, "{case}");
            let found = answer
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok());
            assert_eq!(found, location, "{case}");
            let cache = answer.headers().get(header::CACHE_CONTROL);
            assert_eq!(
                cache.and_then(|v| v.to_str().ok()),
                Some("no-store"),
                "{case}"
            );
            let maybe = http.get(format!("{base}/maybe")).send().await?;
            let expected = if status == 500 { 500 } else { 200 };
            assert_eq!(maybe.status().as_u16(), expected, "{case}: Option<McUser>");
        }
        Ok(())
    }

    #[tokio::test]
    async fn mc_user_yields_the_identity_in_the_session() -> Result {
        let mc = MobileConnect::new(service(PLAIN)?)?;
        let base = serve(Some(&mc), true).await?;
        let http = client()?;
        let logged_in = http.get(format!("{base}/become")).send().await?;
        let cookie = logged_in
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .ok_or("no session cookie")?
            .to_owned();
        for path in ["/me", "/maybe"] {
            let answer = http
                .get(format!("{base}{path}"))
                .header(header::COOKIE, &cookie)
                .send()
                .await?;
            assert_eq!(answer.status().as_u16(), 200, "{path}");
            assert_eq!(answer.text().await?, "pcr-1", "{path}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn the_routes_answer_privately_even_when_they_refuse() -> Result {
        let mc = MobileConnect::new(service(PLAIN)?)?;
        let base = serve(Some(&mc), true).await?;
        let http = client()?;
        let answers = [
            (
                "callback without cookie",
                http.get(format!("{base}/mc/callback?code=c&state=s")),
                400,
            ),
            (
                "wait without cookie",
                http.get(format!("{base}/login/wait")),
                400,
            ),
            (
                "GET on a POST route",
                http.get(format!("{base}/login")),
                405,
            ),
            (
                "not a form",
                http.post(format!("{base}/login"))
                    .body("msisdn=447700900001"),
                400,
            ),
        ];
        for (case, request, status) in answers {
            let answer = request.send().await?;
            assert_eq!(answer.status().as_u16(), status, "{case}");
            let header = |name| {
                answer
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            assert_eq!(
                header(header::CACHE_CONTROL).as_deref(),
                Some("no-store"),
                "{case}"
            );
            assert_eq!(
                header(header::REFERRER_POLICY).as_deref(),
                Some("no-referrer"),
                "{case}"
            );
        }
        Ok(())
    }
}
