//! The browser's return to the redirect URI: `code` and `state`, or the operator's error.

use serde::{Deserialize, Serialize};

use crate::authorize::Authorizing;
use crate::endpoint::Endpoint;
use crate::error::{CallbackError, Error, OperatorError};
use crate::exchange::UnixTime;
use crate::registry::Discovered;
use crate::secret::AuthorizationCode;
use crate::wire;

/// A login whose callback passed every check: it holds the authorization code, ready for the
/// token exchange. `Serialize + Deserialize` like [`Authorizing`], with no operator secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct CodeReceived {
    pub(crate) flow: Authorizing,
    pub(crate) code: AuthorizationCode,
}

impl CodeReceived {
    /// The operator this login goes through.
    #[must_use]
    pub fn operator_id(&self) -> &str {
        self.flow.operator_id()
    }
}

impl Authorizing {
    /// Check the callback's query string (with or without the leading `?`) and take the code.
    ///
    /// Order: bounds and duplicate parameters, then `state` (constant time, before anything else
    /// is believed), then the login's age, then RFC 9207 `iss`, then `error` or `code`.
    ///
    /// # Errors
    /// [`CallbackError`] for a forged, replayed or malformed callback; [`Error::Refused`] with the
    /// operator's error (`access_denied` when the user declined); [`crate::MisuseError`] when
    /// `operator` is not the one this login started with.
    pub fn callback(
        self,
        operator: &Discovered,
        query: &str,
        now: UnixTime,
    ) -> Result<CodeReceived, Error> {
        operator.check_flow_operator(&self.op)?;
        let mut pairs = wire::query_pairs(query)?;
        let state = wire::take(&mut pairs, "state").ok_or(CallbackError::StateMissing)?;
        if !self.state.matches(&state) {
            return Err(CallbackError::StateMismatch.into());
        }
        if now.as_secs()
            > self
                .issued_at
                .as_secs()
                .saturating_add(operator.policy().login_timeout_secs)
        {
            return Err(CallbackError::LoginExpired {
                issued_at: self.issued_at.as_secs(),
                now: now.as_secs(),
            }
            .into());
        }
        match wire::take(&mut pairs, "iss") {
            Some(found) if found != operator.issuer() => {
                return Err(CallbackError::IssuerMismatch {
                    expected: operator.issuer().to_owned(),
                    found,
                }
                .into());
            }
            None if operator.requires_callback_iss() => {
                return Err(CallbackError::IssuerMissing.into());
            }
            _ => {}
        }
        if let Some(error) = wire::take(&mut pairs, "error") {
            let description = wire::take(&mut pairs, "error_description")
                .or_else(|| wire::take(&mut pairs, "description"));
            return Err(OperatorError {
                endpoint: Endpoint::Authorization,
                status: None,
                error,
                description,
                uri: wire::take(&mut pairs, "error_uri"),
                correlation_id: wire::take(&mut pairs, "correlation_id"),
            }
            .into());
        }
        let code = wire::take(&mut pairs, "code")
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::CodeMissing)?;
        Ok(CodeReceived {
            flow: self,
            code: AuthorizationCode::new(code),
        })
    }
}
