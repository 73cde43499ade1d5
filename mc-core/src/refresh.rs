//! The refresh grant (RFC 6749 6): new tokens for the refresh token, with a new id_token held
//! to the rules of the first and to OpenID Connect Core 12.2 against it.

use crate::endpoint::Endpoint;
use crate::error::{Error, IdTokenError, MisuseError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::id_token::{IdToken, IdTokenClaims};
use crate::jwks::Jwks;
use crate::jws::Signed;
use crate::refetch::Verified;
use crate::registry::Discovered;
use crate::token::{self, LoginExpectations, TokenAnswer, TokenResponse, Tokens, verify_answer};
use crate::wire;

impl Tokens {
    /// The refresh request: a form POST of `grant_type=refresh_token` and the refresh token to
    /// the operator's refresh endpoint ([`crate::Endpoints::refresh`], the discovery
    /// `tokenrefresh` link), else its token endpoint, with the operator's client
    /// authentication. `now` dates a `private_key_jwt` assertion. These tokens stay usable
    /// until the answer replaces them.
    ///
    /// The answer's tokens replace these: a rotated refresh token replaces the old one, a
    /// missing one keeps it (and so do a missing `scope` and `correlation_id`). A new id_token
    /// is verified like the first (signature, `iss`, `aud`/`azp`, validity window, `at_hash`
    /// when present) and must name the same `iss` and `sub`, the same `auth_time` when both
    /// carry one, and no other `nonce` (none is required); without one, the original id_token
    /// stays.
    ///
    /// # Errors
    /// [`MisuseError::NoRefreshToken`] when the operator issued no refresh token;
    /// [`MisuseError::OperatorMismatch`] when `operator` is not the one these tokens come from.
    pub fn refresh(&self, operator: &Discovered, now: UnixTime) -> Result<RefreshExchange, Error> {
        operator.check_flow_operator(&self.operator)?;
        let refresh_token = self
            .refresh_token
            .as_ref()
            .ok_or(MisuseError::NoRefreshToken)?
            .expose_secret();
        let endpoints = operator.endpoints();
        let url = endpoints.refresh.as_ref().unwrap_or(&endpoints.token);
        let prepared = token::authenticated_form(
            operator,
            url,
            "tokenrefresh",
            [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
            refresh_token,
            now,
        )?;
        Ok(RefreshExchange {
            operator: operator.clone(),
            original: self.clone(),
            prepared,
        })
    }
}

/// POST the refresh token; the answer's id_token, if any, is verified against the original.
///
/// An `invalid_grant` answer (the refresh token expired or was revoked) is
/// [`Error::Refused`] with [`crate::OperatorError::is`]`("invalid_grant")`: the user must log in
/// again.
#[must_use]
pub struct RefreshExchange {
    operator: Discovered,
    original: Tokens,
    prepared: Prepared,
}

crate::exchange::operator_step_debug!(RefreshExchange);

/// A refresh answer, held to the tokens it refreshes.
struct Refreshed(Tokens);

impl TokenAnswer for Refreshed {
    fn verify(
        &self,
        operator: &Discovered,
        response: &TokenResponse,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<Signed<IdToken>, Error> {
        verify(operator, &self.0, response, keys, now)
    }

    fn tokens(
        self,
        response: TokenResponse,
        id_token: IdToken,
        now: UnixTime,
    ) -> Result<Tokens, Error> {
        refreshed(self.0, response, id_token, now)
    }
}

/// The new id_token verified like a login's (no nonce, `max_age` or `acr` asked: a refresh is
/// no new authentication), then held to the original by OIDC Core 12.2.
fn verify(
    operator: &Discovered,
    original: &Tokens,
    response: &TokenResponse,
    keys: &Jwks,
    now: UnixTime,
) -> Result<Signed<IdToken>, Error> {
    let login = LoginExpectations {
        nonce: None,
        max_age: None,
        min_acr: None,
        di_profile: false,
    };
    let signed = token::verify_response(operator, &login, response, keys, now)?;
    if let Signed::Verified(id_token) = &signed {
        same_authentication(original.id_token.claims(), id_token.claims())?;
    }
    Ok(signed)
}

/// OIDC Core 12.2: the refreshed id_token is about the same authentication as the original.
/// (`aud` holding the client and `azp` are the rules every id_token passes.)
fn same_authentication(
    original: &IdTokenClaims,
    found: &IdTokenClaims,
) -> Result<(), IdTokenError> {
    if found.iss != original.iss {
        return Err(IdTokenError::IssuerMismatch {
            expected: original.iss.clone().unwrap_or_default(),
            found: found.iss.clone().unwrap_or_default(),
        });
    }
    if found.sub != original.sub {
        return Err(IdTokenError::SubjectChanged);
    }
    if let (Some(original), Some(found)) = (original.auth_time, found.auth_time)
        && original != found
    {
        return Err(IdTokenError::AuthTimeChanged { original, found });
    }
    match (&original.nonce, &found.nonce) {
        // A nonce the original did not carry is no nonce of this login.
        (original, Some(found)) if original.as_ref() != Some(found) => {
            Err(IdTokenError::NonceMismatch)
        }
        _ => Ok(()),
    }
}

/// The tokens after a refresh: the answer's, with the original's refresh token, scope and
/// correlation id where the answer has none.
fn refreshed(
    original: Tokens,
    response: TokenResponse,
    id_token: IdToken,
    now: UnixTime,
) -> Result<Tokens, Error> {
    let mut tokens = token::tokens(original.operator, response, id_token, now)?;
    if tokens.refresh_token.is_none() {
        tokens.refresh_token = original.refresh_token;
    }
    if tokens.scope.is_none() {
        tokens.scope = original.scope;
    }
    if tokens.correlation_id.is_none() {
        tokens.correlation_id = original.correlation_id;
    }
    Ok(tokens)
}

impl Exchange for RefreshExchange {
    type Output = Verified<Tokens>;

    crate::exchange::operator_step!(Endpoint::Refresh);

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        now: UnixTime,
    ) -> Result<Self::Output, Error> {
        let parsed = TokenResponse::parse_from(
            Endpoint::Refresh,
            wire::json_body(Endpoint::Refresh, &response)?,
        )?;
        if parsed.id_token().is_none() {
            let id_token = self.original.id_token.clone();
            return refreshed(self.original, parsed, id_token, now).map(Verified::Done);
        }
        verify_answer(&self.operator, Refreshed(self.original), parsed, now)
    }
}
