//! The login routes: start a login (by number, operator or selection page; step-up;
//! server-initiated), finish it at the callback or the waiting page, log out. Each answers a
//! 303, a page, or the error page of a [`Failure`]; [`private_answer`] makes every answer
//! private.

use std::convert::Infallible;

use ::axum::Router;
use ::axum::extract::rejection::FormRejection;
use ::axum::extract::{Form, FromRequestParts, State};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use ::axum::middleware::map_response;
use ::axum::response::{Html, IntoResponse, Response};
use ::axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;
use url::Url;

use super::login_cookie::Unreadable;
use super::user::{LoginRequired, identity_in};
use super::{IDENTITY_KEY, LoginFailure, MobileConnect};
use crate::service::{Finish, Identity, LoginId, LoginRequest, LoginStart, ServiceError, SiStatus};

impl MobileConnect {
    /// The login routes, for [`Router::merge`] into the host's app (whatever its state).
    ///
    /// # Panics
    /// As [`Router::route`], for a path set with the setters that axum cannot route, or one
    /// that another of these routes already uses with the same method.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let paths = &self.inner.paths;
        let mut router = Router::new()
            .route(&paths.login, post(start_login))
            .route(&paths.callback, get(callback))
            .route(&paths.server_initiated, post(start_server_initiated))
            .route(&paths.waiting, get(waiting))
            .route(&paths.step_up, post(step_up))
            .route(&paths.logout, post(logout));
        if let Some(path) = &paths.selection_return {
            router = router.route(path, get(callback));
        }
        router
            .layer(map_response(private_answer))
            .with_state(self.clone())
    }

    /// The error page, logged.
    fn fail(&self, failure: &Failure, clear_cookie: bool) -> Response {
        let (status, class, reason) = failure.describe();
        let status_code = status.as_u16();
        // The error's text may carry the operator's words: a field of its own, never the page.
        // A refusal (declined, replayed, not a number) is an ordinary outcome; the rest is not.
        match failure {
            Failure::Service(error) if class == "refused" => {
                tracing::info!(target: "mc_axum", class, status_code, %error, "login failed");
            }
            Failure::Service(error) => {
                tracing::warn!(target: "mc_axum", class, status_code, %error, "login failed");
            }
            other => {
                tracing::info!(target: "mc_axum", class, status_code, ?other, "login failed");
            }
        }
        let home = self
            .inner
            .paths
            .login_page
            .clone()
            .unwrap_or_else(|| "/".to_owned());
        let page = self.inner.pages.error(&LoginFailure {
            status,
            class,
            reason,
            home,
        });
        let mut response = (status, Html(page)).into_response();
        if clear_cookie && let Some(value) = self.inner.cookie.clear() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response
    }

    /// 303 to the operator (or the selection page), keeping the login id in the cookie.
    fn to_operator(&self, start: &LoginStart) -> Response {
        let Some(cookie) = self.inner.cookie.set(&start.login_id, start.expires_in) else {
            return self.fail(&Failure::Internal, false);
        };
        see_other(start.redirect.as_str(), Some(cookie))
    }

    /// The user is logged in: a new session id (no fixation), the identity in the session, the
    /// per-login cookie cleared, 303 to the clean URL.
    async fn log_in(&self, session: &Session, identity: &Identity) -> Response {
        let kept = async {
            session.cycle_id().await?;
            session.insert(IDENTITY_KEY, identity).await
        };
        if kept.await.is_err() {
            return self.fail(&Failure::SessionUnavailable, true);
        }
        see_other(&self.inner.paths.after_login, self.inner.cookie.clear())
    }

    /// The login form of a start route, once the request may start a login: from this site
    /// (a cross-site POST is refused), with a session to end in (checked first: a login
    /// started without one would be wasted), and a form these routes read.
    fn admit(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        session: Option<&Session>,
        form: Result<Form<LoginForm>, FormRejection>,
    ) -> Result<LoginForm, Box<Response>> {
        let refused = |failure| Box::new(self.fail(&failure, false));
        if cross_site(headers, uri) {
            return Err(refused(Failure::CrossSite));
        }
        if session.is_none() {
            return Err(refused(Failure::NoSessionLayer));
        }
        form.map(|Form(form)| form)
            .map_err(|_| refused(Failure::Form))
    }

    /// The answer to a started login, or its failure (with the cookie left alone).
    fn started(&self, start: Result<LoginStart, ServiceError>) -> Response {
        match start {
            Ok(start) => self.to_operator(&start),
            Err(error) => self.fail(&Failure::Service(error), false),
        }
    }
}

/// What went wrong in a route, for its status, class and sentence.
#[derive(Debug)]
enum Failure {
    /// The service's error.
    Service(ServiceError),
    /// The per-login cookie is missing or unusable.
    Cookie(Unreadable),
    /// The form is not one of these routes' forms.
    Form,
    /// A browser sent a POST from another site.
    CrossSite,
    /// The host added no `SessionManagerLayer`.
    NoSessionLayer,
    /// The session store failed.
    SessionUnavailable,
    /// A header could not be built (never with the values these routes write).
    Internal,
}

impl Failure {
    fn describe(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Service(error) => (error.http_status(), error.class(), reason(error)),
            Self::Cookie(Unreadable::Missing) => (
                StatusCode::BAD_REQUEST,
                "refused",
                "This browser has no login in progress (the login cookie is missing): start again.",
            ),
            Self::Cookie(Unreadable::Malformed) => (
                StatusCode::BAD_REQUEST,
                "refused",
                "This browser's login cookie is not one this service set: start again.",
            ),
            Self::Form => (
                StatusCode::BAD_REQUEST,
                "refused",
                "The login form was not filled in as expected.",
            ),
            Self::CrossSite => (
                StatusCode::FORBIDDEN,
                "refused",
                "Another site asked this browser to start or end a login: refused.",
            ),
            Self::NoSessionLayer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "misconfigured",
                "This service keeps no sessions (no session layer).",
            ),
            Self::SessionUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The session store is unavailable: try again in a moment.",
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "misuse",
                "This service failed to answer.",
            ),
        }
    }
}

/// A fixed sentence for a service error (never its text, which may carry the operator's).
fn reason(error: &ServiceError) -> &'static str {
    match error {
        ServiceError::InvalidMsisdn => {
            "That is not a phone number (6 to 15 digits, optionally after a +)."
        }
        ServiceError::UnknownLogin => {
            "This login is unknown: never started in this browser, already finished, or expired."
        }
        ServiceError::CorruptState | ServiceError::WrongKind { .. } => {
            "This login cannot be finished here: start again."
        }
        ServiceError::SubjectMismatch => {
            "The confirmation came from another subscriber than the one logged in."
        }
        ServiceError::Store(_) => "The login store is unavailable: try again in a moment.",
        ServiceError::Config { .. }
        | ServiceError::UnknownOperator { .. }
        | ServiceError::NoOperator { .. } => {
            "This service cannot log in this way (choose an operator, or check its configuration)."
        }
        ServiceError::Exchange(crate::Error::Core(mc_core::Error::Callback(_))) => {
            "The return from the operator does not match this browser's login."
        }
        ServiceError::Exchange(e) => match e.class() {
            "refused" => "The login was declined on the phone or refused by the operator.",
            "transport" => "The operator could not be reached: try again in a moment.",
            "misuse" => "This service used the login library wrongly.",
            _ => "The operator's answer failed the security checks.",
        },
    }
}

/// Every answer of the login routes: never cached, never a referrer (the callback's URL holds
/// the code and state).
async fn private_answer(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A 303 to `location`, with a `Set-Cookie` if given.
pub(super) fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let Ok(location) = HeaderValue::from_str(location) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Whether a browser sent this request from another site (a cross-site form POST): by
/// `Sec-Fetch-Site` where the browser sends it, else by an `Origin` that does not name the
/// request's host. A request with neither (not a browser, or a very old one) passes.
fn cross_site(headers: &HeaderMap, uri: &Uri) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Some(origin) = origin.to_str().ok().and_then(|o| Url::parse(o).ok()) else {
        return true; // `Origin: null` (a sandboxed frame, a redirect from elsewhere)
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<::axum::http::uri::Authority>().ok())
        .or_else(|| uri.authority().cloned());
    let Some(host) = host else {
        return true;
    };
    let same_host = origin
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(host.host()));
    let same_port = host.port_u16().or(match origin.scheme() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }) == origin.port_or_known_default();
    !(same_host && same_port)
}

/// The request's session, if the host added a `SessionManagerLayer`.
struct Sessions(Option<Session>);

impl<S: Send + Sync> FromRequestParts<S> for Sessions {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.extensions.get::<Session>().cloned()))
    }
}

/// The login form: `msisdn` and/or `operator`, or `selection` (any non-empty value) for the
/// operator selection page.
#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    msisdn: Option<String>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    selection: Option<String>,
}

impl LoginForm {
    fn field(value: Option<&String>) -> Option<&str> {
        value.map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The login it asks for.
    fn request(&self) -> Result<LoginRequest, ServiceError> {
        if Self::field(self.selection.as_ref()).is_some() {
            return Ok(LoginRequest::selection());
        }
        let operator = Self::field(self.operator.as_ref());
        match (Self::field(self.msisdn.as_ref()), operator) {
            (Some(msisdn), Some(operator)) => {
                Ok(LoginRequest::msisdn(msisdn)?.at_operator(operator))
            }
            (Some(msisdn), None) => LoginRequest::msisdn(msisdn),
            (None, Some(operator)) => Ok(LoginRequest::operator(operator)),
            (None, None) => Err(ServiceError::InvalidMsisdn),
        }
    }

    /// The server-initiated login it asks for: a phone number, at an operator if named.
    fn server_initiated(&self) -> Result<LoginRequest, ServiceError> {
        let msisdn = Self::field(self.msisdn.as_ref()).ok_or(ServiceError::InvalidMsisdn)?;
        let request = LoginRequest::msisdn(msisdn)?;
        Ok(match Self::field(self.operator.as_ref()) {
            Some(operator) => request.at_operator(operator),
            None => request,
        })
    }
}

/// `POST /login`.
async fn start_login(
    State(mc): State<MobileConnect>,
    uri: Uri,
    headers: HeaderMap,
    Sessions(session): Sessions,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match mc.admit(&headers, &uri, session.as_ref(), form) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let start = match form.request() {
        Ok(request) => mc.inner.service.start(request).await,
        Err(error) => Err(error),
    };
    mc.started(start)
}

/// `POST /step-up`: the logged-in subscriber again, at LoA 3.
async fn step_up(
    State(mc): State<MobileConnect>,
    uri: Uri,
    headers: HeaderMap,
    Sessions(session): Sessions,
) -> Response {
    if cross_site(&headers, &uri) {
        return mc.fail(&Failure::CrossSite, false);
    }
    let login_page = mc.inner.paths.login_page.clone();
    let identity = match identity_in(session.as_ref()).await {
        Ok(Some(identity)) => identity,
        Ok(None) => return LoginRequired::LoggedOut { login_page }.into_response(),
        Err(rejection) => return rejection.into_response(),
    };
    let start = mc
        .inner
        .service
        .start(LoginRequest::step_up(&identity))
        .await;
    mc.started(start)
}

/// `GET <callback>`: finish the login this browser started.
async fn callback(
    State(mc): State<MobileConnect>,
    uri: Uri,
    headers: HeaderMap,
    Sessions(session): Sessions,
) -> Response {
    // Checked before the login is taken out of the store: a host without sessions must not
    // consume the login and then fail.
    let Some(session) = session else {
        return mc.fail(&Failure::NoSessionLayer, true);
    };
    let login_id = match mc.inner.cookie.read(&headers) {
        Ok(id) => id,
        Err(unreadable) => return mc.fail(&Failure::Cookie(unreadable), true),
    };
    let query = uri.query().unwrap_or_default();
    match mc.inner.service.finish(&login_id, query).await {
        Ok(Finish::LoggedIn(login)) => mc.log_in(&session, &login.identity).await,
        Ok(Finish::Redirect(start)) => mc.to_operator(&start),
        // The store could not be asked: the login may still be there, so the cookie stays and
        // the page says to try again (a reload of the callback finishes it, once).
        Err(error @ ServiceError::Store(_)) => mc.fail(&Failure::Service(error), false),
        Err(error) => mc.fail(&Failure::Service(error), true),
    }
}

/// `POST /login/si`: a server-initiated login (the handset asks; no redirect to the operator).
async fn start_server_initiated(
    State(mc): State<MobileConnect>,
    uri: Uri,
    headers: HeaderMap,
    Sessions(session): Sessions,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match mc.admit(&headers, &uri, session.as_ref(), form) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let started = match form.server_initiated() {
        Ok(request) => mc.inner.service.start_server_initiated(request).await,
        Err(error) => Err(error),
    };
    let login_id: LoginId = match started {
        Ok(id) => id,
        Err(error) => return mc.fail(&Failure::Service(error), false),
    };
    let max_age = std::time::Duration::from_secs(mc.inner.service.config().login_timeout_secs);
    match mc.inner.cookie.set(&login_id, max_age) {
        Some(cookie) => see_other(&mc.inner.paths.waiting, Some(cookie)),
        None => mc.fail(&Failure::Internal, false),
    }
}

/// `GET /login/wait`: has the handset answered?
async fn waiting(
    State(mc): State<MobileConnect>,
    headers: HeaderMap,
    Sessions(session): Sessions,
) -> Response {
    let Some(session) = session else {
        return mc.fail(&Failure::NoSessionLayer, true);
    };
    let login_id = match mc.inner.cookie.read(&headers) {
        Ok(id) => id,
        Err(unreadable) => return mc.fail(&Failure::Cookie(unreadable), true),
    };
    match mc.inner.service.check_server_initiated(&login_id).await {
        Ok(SiStatus::Waiting { retry_after }) => {
            Html(mc.inner.pages.waiting(retry_after)).into_response()
        }
        Ok(SiStatus::LoggedIn(login)) => mc.log_in(&session, &login.identity).await,
        Err(error @ ServiceError::Store(_)) => mc.fail(&Failure::Service(error), false),
        Err(error) => mc.fail(&Failure::Service(error), true),
    }
}

/// `POST /logout`.
async fn logout(
    State(mc): State<MobileConnect>,
    uri: Uri,
    headers: HeaderMap,
    Sessions(session): Sessions,
) -> Response {
    if cross_site(&headers, &uri) {
        return mc.fail(&Failure::CrossSite, false);
    }
    let Some(session) = session else {
        return mc.fail(&Failure::NoSessionLayer, false);
    };
    if session.flush().await.is_err() {
        return mc.fail(&Failure::SessionUnavailable, false);
    }
    see_other(&mc.inner.paths.after_logout, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_requests_are_told_apart() {
        let uri = Uri::from_static("/login");
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: [(&str, Headers<'_>, bool); 10] = [
            ("no browser headers", &[], false),
            ("same-origin", &[("sec-fetch-site", "same-origin")], false),
            ("typed by the user", &[("sec-fetch-site", "none")], false),
            ("same-site", &[("sec-fetch-site", "same-site")], true),
            ("cross-site", &[("sec-fetch-site", "cross-site")], true),
            (
                "own origin",
                &[
                    ("origin", "http://sp.example:8080"),
                    ("host", "sp.example:8080"),
                ],
                false,
            ),
            (
                "own origin, default port",
                &[("origin", "https://SP.example"), ("host", "sp.example")],
                false,
            ),
            (
                "another port",
                &[
                    ("origin", "http://sp.example:9999"),
                    ("host", "sp.example:8080"),
                ],
                true,
            ),
            (
                "another host",
                &[
                    ("origin", "https://attacker.example"),
                    ("host", "sp.example"),
                ],
                true,
            ),
            (
                "origin null",
                &[("origin", "null"), ("host", "sp.example")],
                true,
            ),
        ];
        for (case, headers, expected) in cases {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    name.parse::<::axum::http::HeaderName>(),
                    HeaderValue::from_str(value),
                ) {
                    map.insert(name, value);
                }
            }
            assert_eq!(cross_site(&map, &uri), expected, "{case}");
        }
    }

    /// A login request as `target` or `target@operator` (from its `Debug`, which shows both
    /// and nothing secret), or the error's class.
    fn described(request: Result<LoginRequest, ServiceError>) -> String {
        match request {
            Ok(request) => {
                let debug = format!("{request:?}");
                let quoted = |after: &str| {
                    let rest = debug.split_once(after)?.1;
                    rest.split_once('"').map(|(v, _)| v.to_owned())
                };
                let target = quoted("target: \"").unwrap_or_default();
                match quoted("operator: Some(\"") {
                    Some(operator) => format!("{target}@{operator}"),
                    None => target,
                }
            }
            Err(error) => error.class().to_owned(),
        }
    }

    #[test]
    fn the_login_forms_name_the_login() {
        let form = |msisdn: &str, operator: &str, selection: &str| LoginForm {
            msisdn: Some(msisdn.to_owned()),
            operator: Some(operator.to_owned()),
            selection: Some(selection.to_owned()),
        };
        // (case, form, POST /login asks for, POST /login/si asks for)
        let cases = [
            ("number", form("447700900001", "", ""), "msisdn", "msisdn"),
            (
                "number at an operator",
                form(" 447700900001 ", "alpha", ""),
                "msisdn@alpha",
                "msisdn@alpha",
            ),
            (
                "operator",
                form(" ", "alpha", ""),
                "operator@alpha",
                "refused",
            ),
            ("selection", form("", "", "1"), "selection", "refused"),
            ("nothing", form("", "", ""), "refused", "refused"),
            (
                "not a number",
                form("07x", "alpha", ""),
                "refused",
                "refused",
            ),
        ];
        for (case, form, browser, server_initiated) in cases {
            assert_eq!(described(form.request()), browser, "{case}");
            assert_eq!(
                described(form.server_initiated()),
                server_initiated,
                "{case} (server-initiated)"
            );
        }
    }
}
