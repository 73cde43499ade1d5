//! Who is logged in: [`McUser`], the verified identity the callback kept in the session.

use std::ops::Deref;

use ::axum::extract::{FromRequestParts, OptionalFromRequestParts};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::routes::see_other;
use super::{IDENTITY_KEY, MobileConnect};
use crate::service::Identity;

/// The identity kept in the session: `None` when nobody logged in (or the stored value no
/// longer reads as an [`Identity`]).
pub(super) async fn identity_in(
    session: Option<&Session>,
) -> Result<Option<Identity>, LoginRequired> {
    let session = session.ok_or(LoginRequired::NoSessionLayer)?;
    match session.get::<Identity>(IDENTITY_KEY).await {
        Ok(identity) => Ok(identity),
        Err(tower_sessions::session::Error::Store(_)) => Err(LoginRequired::SessionUnavailable),
        Err(_) => Ok(None),
    }
}

/// The verified identity of the logged-in user, from the session; a browser that is not
/// logged in is sent to the login page ([`MobileConnect::login_page`], set by
/// [`MobileConnect::layer`]) or answered 401. `Option<McUser>` is `None` instead, for pages that
/// serve both.
#[derive(Clone, Debug, PartialEq)]
pub struct McUser(pub Identity);

impl Deref for McUser {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for McUser {
    type Rejection = LoginRequired;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, LoginRequired> {
        match identity_in(parts.extensions.get::<Session>()).await? {
            Some(identity) => Ok(Self(identity)),
            None => Err(LoginRequired::LoggedOut {
                login_page: parts
                    .extensions
                    .get::<MobileConnect>()
                    .and_then(|mc| mc.inner.paths.login_page.clone()),
            }),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for McUser {
    type Rejection = LoginRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, LoginRequired> {
        Ok(identity_in(parts.extensions.get::<Session>())
            .await?
            .map(Self))
    }
}

/// Why [`McUser`] yields nobody.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginRequired {
    /// Nobody is logged in in this session: 303 to the login page, or 401 without one.
    LoggedOut {
        /// The login page, from [`MobileConnect::layer`].
        login_page: Option<String>,
    },
    /// The host added no `SessionManagerLayer` (500).
    NoSessionLayer,
    /// The session store failed (503).
    SessionUnavailable,
}

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        let response = match self {
            Self::LoggedOut {
                login_page: Some(page),
            } => see_other(&page, None),
            Self::LoggedOut { login_page: None } => {
                (StatusCode::UNAUTHORIZED, "Log in first.\n").into_response()
            }
            Self::NoSessionLayer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "No session layer: add a tower_sessions::SessionManagerLayer.\n",
            )
                .into_response(),
            Self::SessionUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The session store is unavailable.\n",
            )
                .into_response(),
        };
        let mut response = response;
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
