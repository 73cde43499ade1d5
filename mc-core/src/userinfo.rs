//! UserInfo and premium info: the claims the user granted, fetched with the access token.

use std::fmt;

use crate::endpoint::Endpoint;
use crate::error::{Error, IdTokenError, JwtPart, MisuseError, ProtocolError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::id_token::{self, Presence};
use crate::jwks::Jwks;
use crate::jws::{self, Purpose, Signed};
use crate::refetch::{Paused, Verified, pause_or_refuse};
use crate::registry::Discovered;
use crate::token::Tokens;
use crate::wire::{self, Classified};

#[doc(hidden)]
pub use crate::wire::parse_www_authenticate;

/// The claims from userinfo or premium info.
#[must_use]
pub struct UserInfo {
    operator: String,
    sub: String,
    endpoint: Endpoint,
    claims: serde_json::Map<String, serde_json::Value>,
    signed: bool,
}

impl UserInfo {
    /// All claims, as sent (personal data: handle with care).
    #[must_use]
    pub fn claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.claims
    }

    /// One claim by name.
    #[must_use]
    pub fn claim(&self, name: &str) -> Option<&serde_json::Value> {
        self.claims.get(name)
    }

    /// A string claim by name.
    #[must_use]
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(serde_json::Value::as_str)
    }

    /// The subject; always equal to the id_token's `sub`.
    #[must_use]
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// `phone_number`, if granted.
    #[must_use]
    pub fn phone_number(&self) -> Option<&str> {
        self.claim_str("phone_number")
    }

    /// Which endpoint answered (userinfo or premium info).
    #[must_use]
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// Whether the body was a signed JWT (verified) rather than plain JSON.
    #[must_use]
    pub fn was_signed(&self) -> bool {
        self.signed
    }

    /// The operator that answered.
    #[must_use]
    pub fn operator_id(&self) -> &str {
        &self.operator
    }
}

impl fmt::Debug for UserInfo {
    // Claims are personal data: print their names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("operator", &self.operator)
            .field("endpoint", &self.endpoint)
            .field("claim_names", &self.claims.keys().collect::<Vec<_>>())
            .field("signed", &self.signed)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// GET the userinfo endpoint with the access token as Bearer. The tokens stay usable: a
    /// failed call loses nothing, and the other endpoint can be called next.
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] when the operator has no userinfo endpoint.
    pub fn userinfo(&self, operator: &Discovered) -> Result<UserInfoExchange, Error> {
        self.claims_exchange(operator, Endpoint::UserInfo)
    }

    /// GET the premium info endpoint with the access token as Bearer (the tokens stay usable).
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] when the operator has no premium info endpoint.
    pub fn premiuminfo(&self, operator: &Discovered) -> Result<UserInfoExchange, Error> {
        self.claims_exchange(operator, Endpoint::PremiumInfo)
    }

    fn claims_exchange(
        &self,
        operator: &Discovered,
        endpoint: Endpoint,
    ) -> Result<UserInfoExchange, Error> {
        operator.check_flow_operator(&self.operator)?;
        let endpoints = operator.endpoints();
        let (url, name) = match endpoint {
            Endpoint::PremiumInfo => (&endpoints.premiuminfo, "premiuminfo"),
            _ => (&endpoints.userinfo, "userinfo"),
        };
        let url = url
            .as_ref()
            .ok_or(MisuseError::MissingEndpoint { endpoint: name })?;
        let prepared = wire::with_authorization(
            wire::get(url, name, "application/json, application/jwt")?,
            wire::bearer(self.access_token.expose_secret())?,
        );
        Ok(UserInfoExchange {
            operator: operator.clone(),
            sub: self.sub().to_owned(),
            endpoint,
            prepared,
        })
    }
}

/// GET userinfo or premium info.
#[must_use]
pub struct UserInfoExchange {
    operator: Discovered,
    sub: String,
    endpoint: Endpoint,
    prepared: Prepared,
}

impl fmt::Debug for UserInfoExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfoExchange")
            .field("operator", &self.operator.id())
            .field("endpoint", &self.endpoint)
            .field("request", &self.prepared)
            .finish_non_exhaustive()
    }
}

/// A signed userinfo body waiting for the operator's keys.
struct PausedUserInfo {
    sub: String,
    endpoint: Endpoint,
    jwt: String,
}

impl Paused<UserInfo> for PausedUserInfo {
    fn finish(
        self: Box<Self>,
        operator: &Discovered,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<UserInfo, Error> {
        match verify_jwt(operator, &self.sub, self.endpoint, &self.jwt, keys, now)? {
            Signed::Verified(info) => Ok(info),
            Signed::KeyMissing(error) => Err(error.into()),
        }
    }
}

/// The claims only an id_token carries: a signed answer holding one is an id_token served as
/// userinfo (same signer, same keys, same `typ` of `JWT`), refused.
const ID_TOKEN_ONLY_CLAIMS: [&str; 3] = ["nonce", "at_hash", "c_hash"];

/// A signed userinfo answer: the JWS verified for its purpose (`typ` absent, `JWT` or
/// `userinfo+jwt`), then the claims: no id_token-only claim, each registered claim of its type,
/// `iss`, `aud`/`azp`, `exp`, `nbf` and `iat` checked when present, with the id_token's rules.
fn verify_jwt(
    operator: &Discovered,
    sub: &str,
    endpoint: Endpoint,
    jwt: &str,
    keys: &Jwks,
    now: UnixTime,
) -> Result<Signed<UserInfo>, Error> {
    let inner = &operator.inner;
    let signed = match jws::verify(
        jwt,
        keys,
        &inner.client_secret,
        &inner.policy,
        Purpose::UserInfo,
    )? {
        Signed::Verified(signed) => signed,
        Signed::KeyMissing(error) => return Ok(Signed::KeyMissing(error)),
    };
    let registered = id_token::read_claims(&signed.claims_json)?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&signed.claims_json).map_err(|e| IdTokenError::Malformed {
            part: JwtPart::Claims,
            reason: wire::describe_json_error(&e),
        })?;
    if let Some(claim) = ID_TOKEN_ONLY_CLAIMS
        .into_iter()
        .find(|claim| claims.contains_key(*claim))
    {
        return Err(IdTokenError::IdTokenAsUserInfo { claim }.into());
    }
    // OIDC Core 5.3.2: a signed userinfo response should carry iss and aud; when present they
    // must be the operator's issuer and our client (an empty `aud` list names no one, and is
    // not "no aud"). The time claims bind it too (RFC 7519).
    if registered.aud.is_empty() && claims.contains_key("aud") {
        return Err(IdTokenError::AudienceMismatch {
            client_id: operator.client_id().to_owned(),
            found: Vec::new(),
        }
        .into());
    }
    id_token::check_issuer_and_audience(
        &registered,
        operator.issuer(),
        operator.client_id(),
        Presence::WhenPresent,
    )?;
    id_token::check_validity(
        &registered,
        now.as_secs(),
        inner.policy.leeway_secs,
        Presence::WhenPresent,
    )?;
    finish(operator, sub, endpoint, claims, true).map(Signed::Verified)
}

fn finish(
    operator: &Discovered,
    sub: &str,
    endpoint: Endpoint,
    claims: serde_json::Map<String, serde_json::Value>,
    signed: bool,
) -> Result<UserInfo, Error> {
    // `sub` is a JSON string: a number could lose digits and match another subject.
    match claims.get("sub").map(serde_json::Value::as_str) {
        None => Err(ProtocolError::MissingField {
            endpoint,
            field: "sub",
        }
        .into()),
        Some(None) => Err(ProtocolError::InvalidField {
            endpoint,
            field: "sub",
            reason: "not a string",
        }
        .into()),
        Some(Some(found)) if found != sub => {
            Err(ProtocolError::SubjectMismatch { endpoint }.into())
        }
        Some(Some(_)) => Ok(UserInfo {
            operator: operator.id().to_owned(),
            sub: sub.to_owned(),
            endpoint,
            claims,
            signed,
        }),
    }
}

impl Exchange for UserInfoExchange {
    type Output = Verified<UserInfo>;

    fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    crate::exchange::operator_step!();

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        now: UnixTime,
    ) -> Result<Self::Output, Error> {
        let body = match wire::classify(self.endpoint, &response)? {
            Classified::Jwt(jwt) => {
                let jwt = jwt.to_owned();
                let snapshot = self.operator.key_snapshot();
                return match verify_jwt(
                    &self.operator,
                    &self.sub,
                    self.endpoint,
                    &jwt,
                    &snapshot.jwks,
                    now,
                )? {
                    Signed::Verified(info) => Ok(Verified::Done(info)),
                    Signed::KeyMissing(missing) => {
                        pause_or_refuse(&self.operator, &snapshot, now, missing, || {
                            Box::new(PausedUserInfo {
                                sub: self.sub,
                                endpoint: self.endpoint,
                                jwt,
                            })
                        })
                    }
                };
            }
            Classified::Json { body, .. } => body,
            Classified::Redirect { .. } => {
                return Err(ProtocolError::UnexpectedStatus {
                    endpoint: self.endpoint,
                    status: response.status().as_u16(),
                }
                .into());
            }
        };
        if self.operator.policy().require_signed_userinfo {
            return Err(ProtocolError::UserInfoNotSigned {
                endpoint: self.endpoint,
            }
            .into());
        }
        let claims: serde_json::Map<String, serde_json::Value> = wire::json(self.endpoint, body)?;
        finish(&self.operator, &self.sub, self.endpoint, claims, false).map(Verified::Done)
    }
}
