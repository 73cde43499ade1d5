//! The token exchange: the code for tokens, and the id_token verified before anything is returned.

use std::fmt;

use serde::Deserialize;

use crate::authorize::requires_at_hash_and_amr;
use crate::callback::CodeReceived;
use crate::endpoint::Endpoint;
use crate::error::{Error, IdTokenError, ProtocolError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::id_token::{self, Expectations, IdToken};
use crate::jwks::Jwks;
use crate::jws::Signed;
use crate::refetch::{Paused, Verified, pause_or_refuse};
use crate::registry::Discovered;
use crate::secret::{AccessToken, IdTokenJwt, Nonce, RefreshToken};
use crate::wire::lenient::{Invalid, Read, Seconds};
use crate::wire::{self, lenient};

/// A token endpoint answer, before the id_token is verified.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    #[serde(default)]
    access_token: Option<AccessToken>,
    #[serde(default)]
    token_type: Option<String>,
    /// Kept with its verdict: [`TokenResponse::parse`] refuses an unreadable one by name.
    #[serde(default, deserialize_with = "lenient::member::<_, Seconds>")]
    expires_in: Option<Read<u64>>,
    #[serde(default)]
    id_token: Option<IdTokenJwt>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    /// An `error` member that did not read as an OAuth error body (a number as
    /// `error_description`, ...): a success answer carrying it is refused, never read as
    /// tokens with the member ignored.
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in())
            .field("id_token", &self.id_token)
            .field("refresh_token", &self.refresh_token)
            .field("scope", &self.scope)
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}

impl TokenResponse {
    /// Parse a 200 token response body: `access_token` and `token_type` are required
    /// (RFC 6749 5.1), the type `Bearer` in any case; `expires_in`, when present, a number of
    /// seconds below 2^64 (an integer, a float, or a string of either: never silently "no
    /// expiry"); `refresh_token` may be `null`.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed JSON, a missing `access_token` or `token_type`, a
    /// non-Bearer type, or an unreadable `expires_in`
    /// ([`ProtocolError::InvalidField`]).
    pub fn parse(body: &[u8]) -> Result<Self, ProtocolError> {
        Self::parse_from(Endpoint::Token, body)
    }

    /// [`TokenResponse::parse`] of tokens that came from `endpoint` (the token endpoint, or a
    /// server-initiated notification), which the errors name.
    pub(crate) fn parse_from(endpoint: Endpoint, body: &[u8]) -> Result<Self, ProtocolError> {
        let parsed: Self = wire::json(endpoint, body)?;
        if parsed.error.is_some() {
            return Err(ProtocolError::InvalidField {
                endpoint,
                field: "error",
                reason: "an error member in a success answer",
            });
        }
        if parsed
            .access_token
            .as_ref()
            .is_none_or(|t| t.expose_secret().is_empty())
        {
            return Err(ProtocolError::MissingField {
                endpoint,
                field: "access_token",
            });
        }
        let token_type = parsed
            .token_type
            .as_deref()
            .ok_or(ProtocolError::MissingField {
                endpoint,
                field: "token_type",
            })?;
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(ProtocolError::TokenTypeNotBearer {
                found: token_type.to_owned(),
            });
        }
        if let Some(Err(Invalid(reason))) = parsed.expires_in {
            return Err(ProtocolError::InvalidField {
                endpoint,
                field: "expires_in",
                reason,
            });
        }
        Ok(parsed)
    }

    /// `expires_in`, in seconds, if the operator said.
    #[must_use]
    pub fn expires_in(&self) -> Option<u64> {
        // `parse` refused an unreadable one; a value built by serde alone keeps none.
        self.expires_in.and_then(Result::ok)
    }

    /// The access token.
    #[must_use]
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.access_token.as_ref()
    }

    /// The id_token, unverified.
    #[must_use]
    pub fn id_token(&self) -> Option<&IdTokenJwt> {
        self.id_token.as_ref()
    }
}

/// The tokens of a completed login, with a verified id_token.
#[derive(Clone)]
#[must_use]
pub struct Tokens {
    pub(crate) operator: String,
    pub(crate) access_token: AccessToken,
    pub(crate) expires_at: Option<UnixTime>,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) scope: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) id_token: IdToken,
}

impl Tokens {
    /// The verified id_token.
    #[must_use]
    pub fn id_token(&self) -> &IdToken {
        &self.id_token
    }

    /// The subject (PCR) at this operator.
    #[must_use]
    pub fn sub(&self) -> &str {
        self.id_token.sub()
    }

    /// The access token.
    #[must_use]
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// When the access token expires, if the operator said.
    #[must_use]
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.expires_at
    }

    /// The refresh token, if any.
    #[must_use]
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// The granted scope, if the operator said.
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The operator's correlation id, if any.
    #[must_use]
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// The operator these tokens come from.
    #[must_use]
    pub fn operator_id(&self) -> &str {
        &self.operator
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("operator", &self.operator)
            .field("access_token", &self.access_token)
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token)
            .finish_non_exhaustive()
    }
}

impl CodeReceived {
    /// The token request: a form POST with the code, the redirect URI, the PKCE verifier, the
    /// correlation id and the operator's client authentication (HTTP Basic by default; see
    /// [`crate::ClientAuth`]). `now` dates a `private_key_jwt` assertion. The exchange holds its
    /// own handle on the operator context.
    ///
    /// # Errors
    /// [`crate::MisuseError`] when `operator` is not this login's.
    pub fn token_exchange(
        self,
        operator: &Discovered,
        now: UnixTime,
    ) -> Result<TokenExchange, Error> {
        operator.check_flow_operator(&self.flow.op)?;
        let prepared = authenticated_form(
            operator,
            &operator.endpoints().token,
            "token endpoint",
            [
                ("grant_type", Some("authorization_code")),
                ("code", Some(self.code.expose_secret())),
                ("redirect_uri", Some(self.flow.redirect_uri.as_str())),
                (
                    "code_verifier",
                    self.flow.pkce.as_ref().map(|p| p.expose_secret()),
                ),
                ("correlation_id", self.flow.correlation_id.as_deref()),
            ]
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v))),
            self.code.expose_secret(),
            now,
        )?;
        Ok(TokenExchange {
            operator: operator.clone(),
            flow: self,
            prepared,
        })
    }
}

/// A form POST of `params` to `url` with the operator's client authentication after them (a
/// header, or parameters appended): the one way the token request, the refresh grant and a
/// revocation authenticate. `unique` is a per-request value (the code, the refresh token, the
/// token revoked) from which a `private_key_jwt` assertion's `jti` is derived; `now` dates it,
/// and its audience is `url`.
pub(crate) fn authenticated_form<'a>(
    operator: &Discovered,
    url: &url::Url,
    what: &'static str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    unique: &str,
    now: UnixTime,
) -> Result<Prepared, Error> {
    let credentials = operator.client().credentials(url.as_str(), unique, now)?;
    #[expect(
        clippy::map_identity,
        reason = "the map shortens the pairs' lifetime to that of the credentials chained after"
    )]
    let body = wire::form(
        params
            .into_iter()
            .map(|(n, v)| (n, v))
            .chain(credentials.params.iter().map(|(n, v)| (*n, v.as_str()))),
    );
    let mut prepared = wire::post_form(url, what, body)?;
    if let Some(header) = credentials.header {
        prepared = wire::with_authorization(prepared, header);
    }
    Ok(prepared)
}

/// POST the code to the token endpoint; the answer is verified against the login.
#[must_use]
pub struct TokenExchange {
    operator: Discovered,
    flow: CodeReceived,
    prepared: Prepared,
}

crate::exchange::operator_step_debug!(TokenExchange);

/// What one kind of token answer is held to (a login's code, a refresh, a server-initiated
/// login, the one-time-password grant): its id_token rules, then the tokens it gives. Every
/// kind takes the one path, [`verify_answer`], pause for the operator's keys included.
pub(crate) trait TokenAnswer: Send + 'static {
    /// Verify the answer's id_token with `keys`.
    fn verify(
        &self,
        operator: &Discovered,
        response: &TokenResponse,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<Signed<IdToken>, Error>;

    /// The tokens of the answer, once its id_token is verified.
    fn tokens(
        self,
        response: TokenResponse,
        id_token: IdToken,
        now: UnixTime,
    ) -> Result<Tokens, Error>;
}

/// Verify `response` as `answer` expects with the operator's keys: the tokens, or a pause
/// for a refetch when the id_token names a key the context does not hold.
pub(crate) fn verify_answer<A: TokenAnswer>(
    operator: &Discovered,
    answer: A,
    response: TokenResponse,
    now: UnixTime,
) -> Result<Verified<Tokens>, Error> {
    let snapshot = operator.key_snapshot();
    match answer.verify(operator, &response, &snapshot.jwks, now)? {
        Signed::Verified(id_token) => answer.tokens(response, id_token, now).map(Verified::Done),
        Signed::KeyMissing(missing) => pause_or_refuse(operator, &snapshot, now, missing, || {
            Box::new(PausedAnswer { answer, response })
        }),
    }
}

/// A token answer whose id_token waits for the operator's keys.
struct PausedAnswer<A> {
    answer: A,
    response: TokenResponse,
}

impl<A: TokenAnswer> Paused<Tokens> for PausedAnswer<A> {
    fn finish(
        self: Box<Self>,
        operator: &Discovered,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<Tokens, Error> {
        let Self { answer, response } = *self;
        match answer.verify(operator, &response, keys, now)? {
            Signed::Verified(id_token) => answer.tokens(response, id_token, now),
            Signed::KeyMissing(missing) => Err(missing.into()),
        }
    }
}

impl TokenAnswer for CodeReceived {
    fn verify(
        &self,
        operator: &Discovered,
        response: &TokenResponse,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<Signed<IdToken>, Error> {
        verify(operator, self, response, keys, now)
    }

    fn tokens(
        self,
        response: TokenResponse,
        id_token: IdToken,
        now: UnixTime,
    ) -> Result<Tokens, Error> {
        tokens(self.flow.op, response, id_token, now)
    }
}

fn verify(
    operator: &Discovered,
    flow: &CodeReceived,
    response: &TokenResponse,
    keys: &Jwks,
    now: UnixTime,
) -> Result<Signed<IdToken>, Error> {
    let login = LoginExpectations {
        nonce: Some(&flow.flow.nonce),
        max_age: flow.flow.max_age,
        min_acr: flow.flow.min_acr,
        di_profile: flow
            .flow
            .version
            .as_deref()
            .is_some_and(requires_at_hash_and_amr),
    };
    verify_response(operator, &login, response, keys, now)
}

/// What one login expects of the id_token its tokens carry.
pub(crate) struct LoginExpectations<'a> {
    /// The nonce sent (none for OpenID CIBA, whose requests carry none).
    pub(crate) nonce: Option<&'a Nonce>,
    pub(crate) max_age: Option<u64>,
    pub(crate) min_acr: Option<u8>,
    /// Whether the Mobile Connect version requested is a DI one, whose id_tokens must carry
    /// `at_hash` and `amr`.
    pub(crate) di_profile: bool,
}

/// Verify the id_token of a token response (from the token endpoint or a server-initiated
/// notification) against the operator and the login: the one set of rules every login's
/// tokens pass.
pub(crate) fn verify_response(
    operator: &Discovered,
    login: &LoginExpectations<'_>,
    response: &TokenResponse,
    keys: &Jwks,
    now: UnixTime,
) -> Result<Signed<IdToken>, Error> {
    let Some(jwt) = response.id_token.clone() else {
        return Err(IdTokenError::Missing.into());
    };
    let access_token = response
        .access_token
        .as_ref()
        .ok_or_else(missing_access_token)?;
    let inner = &operator.inner;
    let expect = Expectations {
        issuer: &inner.issuer,
        client_id: &inner.client_id,
        client_secret: &inner.client_secret,
        nonce: login.nonce,
        max_age: login.max_age,
        min_acr: login.min_acr,
        access_token: Some(access_token.expose_secret()),
        require_at_hash: login.di_profile,
        require_amr: login.di_profile,
        policy: &inner.policy,
    };
    Ok(id_token::verify(jwt, keys, &expect, now)?)
}

fn missing_access_token() -> ProtocolError {
    ProtocolError::MissingField {
        endpoint: Endpoint::Token,
        field: "access_token",
    }
}

/// The tokens of a login through `operator` (its id), once the id_token is verified.
pub(crate) fn tokens(
    operator: String,
    response: TokenResponse,
    id_token: IdToken,
    now: UnixTime,
) -> Result<Tokens, Error> {
    let expires_at = response.expires_in().map(|s| now.plus(s));
    Ok(Tokens {
        operator,
        access_token: response.access_token.ok_or_else(missing_access_token)?,
        expires_at,
        refresh_token: response.refresh_token,
        scope: response.scope,
        correlation_id: response.correlation_id,
        id_token,
    })
}

impl Exchange for TokenExchange {
    type Output = Verified<Tokens>;

    crate::exchange::operator_step!(Endpoint::Token);

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        now: UnixTime,
    ) -> Result<Self::Output, Error> {
        let parsed = TokenResponse::parse(wire::json_body(Endpoint::Token, &response)?)?;
        verify_answer(&self.operator, self.flow, parsed, now)
    }
}
