//! What a login asks for ([`LoginRequest`]) and what it gives back ([`LoginStart`],
//! [`Finish`], [`LoggedIn`], [`Identity`], [`SiStatus`]).

use std::fmt;
use std::time::Duration;

use mc_core::{Msisdn, Tokens};
use serde::{Deserialize, Serialize};
use url::Url;

#[cfg(doc)]
use super::LoginService;
use super::{LoginId, ServiceError};

/// What a login asks for: whom (a phone number, an operator, the selection page, or a known
/// subscriber for step-up) and at which level of assurance.
#[derive(Clone)]
#[must_use]
pub struct LoginRequest {
    pub(super) target: Target,
    pub(super) operator: Option<String>,
    pub(super) acr_values: Option<Vec<u8>>,
    pub(super) source_ip: Option<String>,
}

/// Whom a login is for.
#[derive(Clone)]
pub(super) enum Target {
    Msisdn(Msisdn),
    Operator,
    Selection,
    StepUp(String),
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::Msisdn(_) => "msisdn",
            Target::Operator => "operator",
            Target::Selection => "selection",
            Target::StepUp(_) => "step-up",
        };
        f.debug_struct("LoginRequest")
            .field("target", &target)
            .field("operator", &self.operator)
            .field("acr_values", &self.acr_values)
            .finish_non_exhaustive()
    }
}

impl LoginRequest {
    /// Log in the owner of this phone number (as typed: digits, an optional `+`, spaces). The
    /// operator is the one [`LoginRequest::at_operator`] names, else the discovery service's
    /// answer (the login hint is then its encrypted MSISDN), else the registry's only operator.
    ///
    /// # Errors
    /// [`ServiceError::InvalidMsisdn`] unless it is 6 to 15 digits.
    pub fn msisdn(number: &str) -> Result<Self, ServiceError> {
        let trimmed = number.trim();
        // One optional `+`: `++44...` is not a phone number.
        let digits: String = trimmed
            .strip_prefix('+')
            .unwrap_or(trimmed)
            .chars()
            .filter(|c| *c != ' ')
            .collect();
        if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ServiceError::InvalidMsisdn);
        }
        Ok(Self::new(Target::Msisdn(Msisdn::new(digits)), None))
    }

    /// Log in at this operator of the registry, with no login hint (the operator asks).
    pub fn operator(id: impl Into<String>) -> Self {
        Self::new(Target::Operator, Some(id.into()))
    }

    /// Send the browser to the discovery service's operator selection page first (needs a
    /// discovery service); its return goes to [`LoginService::finish`] like a callback.
    pub fn selection() -> Self {
        Self::new(Target::Selection, None)
    }

    /// Re-authenticate the subscriber of `identity` at LoA 3 (the PIN on the handset), at the
    /// same operator, with the login hint `PCR:<sub>`; the answer must name the same `sub`
    /// ([`ServiceError::SubjectMismatch`] otherwise).
    pub fn step_up(identity: &Identity) -> Self {
        Self::new(
            Target::StepUp(identity.pcr.clone()),
            Some(identity.operator.clone()),
        )
        .acr_values([3])
    }

    fn new(target: Target, operator: Option<String>) -> Self {
        Self {
            target,
            operator,
            acr_values: None,
            source_ip: None,
        }
    }

    /// Use this operator of the registry (no discovery).
    pub fn at_operator(mut self, id: impl Into<String>) -> Self {
        self.operator = Some(id.into());
        self
    }

    /// The levels of assurance asked (over the configuration's `acr_values`).
    pub fn acr_values(mut self, levels: impl IntoIterator<Item = u8>) -> Self {
        self.acr_values = Some(levels.into_iter().collect());
        self
    }

    /// The browser's IP address, for discovery by IP (`X-Source-IP`).
    pub fn source_ip(mut self, ip: impl Into<String>) -> Self {
        self.source_ip = Some(ip.into());
        self
    }
}

/// A started browser login: send the browser to `redirect` (303), and keep `login_id` in a
/// cookie (`HttpOnly`, `Secure`, `SameSite=Lax`, for `expires_in`). Its `Debug` shows where
/// the redirect goes, not its query.
#[derive(Clone)]
#[non_exhaustive]
pub struct LoginStart {
    /// Where the browser goes: the operator's authorization endpoint, or the operator
    /// selection page.
    pub redirect: Url,
    /// The pending login's id, for the host's cookie.
    pub login_id: LoginId,
    /// How long the login may take (the login timeout).
    pub expires_in: Duration,
}

impl fmt::Debug for LoginStart {
    // The redirect's query holds state, nonce and possibly an MSISDN, as mc-core's
    // `AuthorizationRedirect` knows: print only where it goes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginStart")
            .field("origin", &self.redirect.origin().ascii_serialization())
            .field("path", &self.redirect.path())
            .field("login_id", &self.login_id)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Who logged in, verified: the id_token's claims and the userinfo answer. Small and
/// serializable, for the host's session. Its `Debug` shows neither the phone number nor the
/// userinfo claims.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Identity {
    /// The SP's id of the operator that authenticated the user.
    pub operator: String,
    /// The PCR (`sub`): the user's stable pseudonym at this operator.
    pub pcr: String,
    /// The level of assurance reached (`acr`).
    pub acr: Option<String>,
    /// How the user was authenticated (`amr`: `SIM_OK`, `SIM_PIN`, ...).
    pub amr: Vec<String>,
    /// When (`auth_time`, Unix seconds), if the operator said.
    pub auth_time: Option<u64>,
    /// The verified phone number (userinfo `phone_number`), if granted.
    pub phone_number: Option<String>,
    /// Every userinfo claim granted (empty when the operator has no userinfo endpoint).
    pub userinfo: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("operator", &self.operator)
            .field("pcr", &self.pcr)
            .field("acr", &self.acr)
            .field("amr", &self.amr)
            .field("auth_time", &self.auth_time)
            .field(
                "phone_number",
                &self.phone_number.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "userinfo",
                &format_args!("[{} claims]", self.userinfo.len()),
            )
            .finish()
    }
}

/// A finished login: who, and the tokens (for premium info or later calls; they stay on the
/// server).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoggedIn {
    /// The verified identity.
    pub identity: Identity,
    /// The login's tokens (id_token verified).
    pub tokens: Tokens,
}

/// What [`LoginService::finish`] gives: the login, or (after the operator selection page) the
/// next redirect, to the chosen operator.
#[derive(Debug)]
#[non_exhaustive]
pub enum Finish {
    /// The user is logged in.
    LoggedIn(Box<LoggedIn>),
    /// The browser returned from the operator selection page: send it on to the operator, and
    /// replace the cookie's login id with this one.
    Redirect(LoginStart),
}

/// Where a server-initiated login stands.
#[derive(Debug)]
#[non_exhaustive]
pub enum SiStatus {
    /// The handset has not answered: ask again after this long.
    Waiting {
        /// When to ask again.
        retry_after: Duration,
    },
    /// The user confirmed on the handset.
    LoggedIn(Box<LoggedIn>),
}
