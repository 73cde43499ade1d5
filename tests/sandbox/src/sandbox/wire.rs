//! The HTTP details every endpoint shares: request parameters (query and form), HTTP Basic and
//! Bearer credentials, responses (JSON, OAuth errors, redirects) and HTML escaping.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

pub(super) fn html_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn html_unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub(super) fn response(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

pub(super) fn json_response(status: u16, body: &Value) -> Response<Vec<u8>> {
    response(status, "application/json", body.to_string().into_bytes())
}

pub(super) fn oauth_error(status: u16, error: &str, description: &str) -> Response<Vec<u8>> {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

pub(super) fn redirect(location: &str) -> Response<Vec<u8>> {
    let mut r = response(302, "text/plain", Vec::new());
    if let Ok(v) = http::HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

pub(super) fn params(request: &Request<Vec<u8>>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let is_form = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method() == Method::POST && is_form {
        out.extend(url::form_urlencoded::parse(request.body()).into_owned());
    }
    out
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Client credentials from HTTP Basic, accepting both RFC 6749 form-encoded and raw forms.
pub(super) fn basic_credentials(request: &Request<Vec<u8>>) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

pub(super) fn credentials_match(request: &Request<Vec<u8>>, id: &str, secret: &str) -> bool {
    let Some((got_id, got_secret)) = basic_credentials(request) else {
        return false;
    };
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    (got_id == id && got_secret == secret)
        || (decode(&got_id) == id && decode(&got_secret) == secret)
}

pub(super) fn bearer(request: &Request<Vec<u8>>) -> Option<String> {
    request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// HTTP 500 with an HTML body.
pub(super) fn server_error() -> Response<Vec<u8>> {
    response(
        500,
        "text/html",
        b"<html>Internal Server Error</html>".to_vec(),
    )
}
