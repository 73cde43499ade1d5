//! The login service's errors: one enum, with the outcome class its spans name and the HTTP
//! status a web host answers with.

use super::StoreError;
use crate::Error;

/// Everything a login through the service can end with, besides the identity.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The configuration is unusable (a missing secret, a malformed endpoint, ...).
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong; names settings, never their secret values.
        reason: String,
    },
    /// No operator of this id is configured (or a discovered one has expired).
    #[error("unknown operator {operator:?}")]
    UnknownOperator {
        /// The id asked for.
        operator: String,
    },
    /// The login names no operator and the service cannot find one (no discovery service, and
    /// not exactly one operator in the registry).
    #[error("no operator for this login: {reason}")]
    NoOperator {
        /// Why.
        reason: &'static str,
    },
    /// The phone number typed is not one (6 to 15 digits, an optional `+`, spaces allowed).
    #[error("not a phone number (6 to 15 digits, optionally after a +)")]
    InvalidMsisdn,
    /// No pending login under this id: never started, already finished (a replayed callback),
    /// or expired.
    #[error("unknown login: never started, already finished, or expired")]
    UnknownLogin,
    /// The stored state of the login cannot be read (written by another version, or edited).
    #[error("the stored login state is unreadable")]
    CorruptState,
    /// A step-up login authenticated another subscriber than the one asked for.
    #[error("the step-up login authenticated another subscriber")]
    SubjectMismatch,
    /// The login id names a login of another kind (a browser login handed to the
    /// server-initiated check, or the reverse).
    #[error("this login id names another kind of login ({expected} expected)")]
    WrongKind {
        /// The kind the call expected.
        expected: &'static str,
    },
    /// The per-login store failed (a web host answers 503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An exchange failed: the core's verdict (the operator's refusal, a misbehaving operator,
    /// a forged or replayed callback) or the transport.
    #[error(transparent)]
    Exchange(#[from] Error),
}

impl From<mc_core::Error> for ServiceError {
    fn from(error: mc_core::Error) -> Self {
        Self::Exchange(Error::Core(error))
    }
}

impl ServiceError {
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::Config {
            reason: reason.into(),
        }
    }

    /// The outcome class named in the `mc_login` span: `misconfigured`, `unavailable` (the
    /// store), `refused` (the login is not acceptable: unknown or replayed, wrong subscriber,
    /// not a phone number), or the exchange's [`Error::class`] (`refused`, `misbehaving`,
    /// `transport`, `misuse`).
    #[must_use]
    pub fn class(&self) -> &'static str {
        match self {
            Self::Config { .. } | Self::UnknownOperator { .. } | Self::NoOperator { .. } => {
                "misconfigured"
            }
            Self::Store(_) => "unavailable",
            Self::InvalidMsisdn
            | Self::UnknownLogin
            | Self::CorruptState
            | Self::SubjectMismatch
            | Self::WrongKind { .. } => "refused",
            Self::Exchange(e) => e.class(),
        }
    }

    /// The HTTP status a web host answers the browser with: 503 when the store is unavailable
    /// (try again), 400 for a login the browser cannot finish (unknown, replayed, expired, a
    /// callback that does not match, not a phone number), 403 when the operator or the user
    /// refused, 502 when the operator misbehaved or could not be reached, 500 for the host's
    /// configuration.
    #[must_use]
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidMsisdn
            | Self::UnknownLogin
            | Self::CorruptState
            | Self::WrongKind { .. } => StatusCode::BAD_REQUEST,
            Self::SubjectMismatch => StatusCode::FORBIDDEN,
            Self::Config { .. } | Self::UnknownOperator { .. } | Self::NoOperator { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Exchange(Error::Core(mc_core::Error::Callback(_))) => StatusCode::BAD_REQUEST,
            Self::Exchange(e) => match e.class() {
                "refused" => StatusCode::FORBIDDEN,
                "misuse" => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_GATEWAY,
            },
        }
    }
}
