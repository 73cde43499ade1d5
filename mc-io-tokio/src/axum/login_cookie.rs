//! The per-login cookie: the pending login's id between the start of a login and its callback
//! (or its waiting page), and nothing else.
//!
//! `HttpOnly`, `SameSite=Lax` (the callback is a top-level cross-site GET from the operator),
//! `Path=/` (the callback and the waiting page both read it), `Max-Age` = the login timeout, and
//! `Secure` whenever the service's redirect URI is https. Over https its name carries the
//! `__Host-` prefix, so that a sibling subdomain cannot plant a login of its own in the browser
//! (cookie tossing; the browser refuses a `__Host-` cookie with a `Domain` or without `Secure`).
//! Two cookies of that name in one request (one planted with another path) are refused.

use std::time::Duration;

use ::axum::http::{HeaderMap, HeaderValue, header};
use tower_sessions::cookie::{Cookie, SameSite, time};

use crate::service::LoginId;

/// Why the request carries no usable login id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unreadable {
    /// No cookie of that name.
    Missing,
    /// Not a login id's shape, or more than one cookie of that name.
    Malformed,
}

/// The cookie's settings, fixed by the service's redirect URI.
#[derive(Clone, Copy, Debug)]
pub(super) struct LoginCookie {
    secure: bool,
}

impl LoginCookie {
    pub(super) fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// `__Host-mc_login` over https, `mc_login` over plain http (loopback development).
    pub(super) fn name(self) -> &'static str {
        if self.secure {
            "__Host-mc_login"
        } else {
            "mc_login"
        }
    }

    /// The `Set-Cookie` value that keeps `id` for `max_age`.
    pub(super) fn set(self, id: &LoginId, max_age: Duration) -> Option<HeaderValue> {
        let secs = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        self.header(id.as_str(), time::Duration::seconds(secs))
    }

    /// The `Set-Cookie` value that removes it.
    pub(super) fn clear(self) -> Option<HeaderValue> {
        self.header("", time::Duration::ZERO)
    }

    fn header(self, value: &str, max_age: time::Duration) -> Option<HeaderValue> {
        let cookie = Cookie::build((self.name(), value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .max_age(max_age)
            .build();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// The login id from the request's `Cookie` headers.
    pub(super) fn read(self, headers: &HeaderMap) -> Result<LoginId, Unreadable> {
        let mut found = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|cookie| cookie.name() == self.name());
        let first = found.next().ok_or(Unreadable::Missing)?;
        if found.next().is_some() {
            return Err(Unreadable::Malformed);
        }
        LoginId::parse(first.value()).ok_or(Unreadable::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(header::COOKIE, value);
            }
        }
        headers
    }

    #[test]
    fn the_cookie_has_the_attributes_a_login_needs() {
        let id = LoginId::random();
        let plain = LoginCookie::new(false).set(&id, Duration::from_secs(600));
        let plain = plain.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
        for part in [
            &format!("mc_login={}", id.as_str())[..],
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(plain.contains(part), "{part} missing from {plain}");
        }
        assert!(!plain.contains("Secure"), "{plain}");

        let secure = LoginCookie::new(true).set(&id, Duration::from_secs(600));
        let secure = secure.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(secure.starts_with("__Host-mc_login="), "{secure}");
        assert!(secure.contains("Secure"), "{secure}");
        assert!(!secure.contains("Domain"), "{secure}");

        let cleared = LoginCookie::new(false).clear();
        let cleared = cleared.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(cleared.starts_with("mc_login=;"), "{cleared}");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
    }

    #[test]
    fn the_login_id_is_read_back_strictly() {
        let cookie = LoginCookie::new(false);
        let id = LoginId::random();
        let own = format!("mc_login={}", id.as_str());
        let other = format!("mc_login={}", LoginId::random().as_str());
        let among = format!("b=2; {own}");
        let cases: [(&str, Vec<&str>, Result<LoginId, Unreadable>); 6] = [
            ("alone", vec![&own], Ok(id.clone())),
            ("among others", vec!["a=1", &among], Ok(id.clone())),
            ("absent", vec!["a=1"], Err(Unreadable::Missing)),
            ("no header", vec![], Err(Unreadable::Missing)),
            (
                "not an id",
                vec!["mc_login=../../etc"],
                Err(Unreadable::Malformed),
            ),
            (
                "two of them",
                vec![&own, &other],
                Err(Unreadable::Malformed),
            ),
        ];
        for (case, values, expected) in cases {
            assert_eq!(cookie.read(&with_cookies(&values)), expected, "{case}");
        }
        // The https name only: a plain `mc_login` does not count there.
        assert_eq!(
            LoginCookie::new(true).read(&with_cookies(&[&own])),
            Err(Unreadable::Missing)
        );
    }
}
