//! Token revocation (RFC 7009): the access or the refresh token handed back to the operator.

use std::fmt;

use crate::endpoint::Endpoint;
use crate::error::{Error, MisuseError, ProtocolError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::refetch::{Outcome, Verified};
use crate::registry::Discovered;
use crate::token::{self, Tokens};
use crate::wire;

/// Which of the tokens to revoke; sent as `token_type_hint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// The access token (`access_token`).
    Access,
    /// The refresh token (`refresh_token`; RFC 7009 2.1: the operator may revoke the access
    /// tokens of the same grant with it).
    Refresh,
}

impl TokenKind {
    /// The RFC 7009 `token_type_hint` value.
    #[must_use]
    pub const fn hint(self) -> &'static str {
        match self {
            Self::Access => "access_token",
            Self::Refresh => "refresh_token",
        }
    }
}

impl Tokens {
    /// The revocation request (RFC 7009 2.1): a form POST of `token` and `token_type_hint` to
    /// the operator's revocation endpoint ([`crate::Endpoints::revocation`], the discovery
    /// `tokenrevoke` link), with the operator's client authentication. `now` dates a
    /// `private_key_jwt` assertion.
    ///
    /// A 200 answer, whatever its body, is success (RFC 7009 2.2: an unknown or already
    /// revoked token is revoked too); an OAuth error body (`unsupported_token_type`,
    /// `invalid_client`, ...) is [`Error::Refused`].
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] when the operator has no revocation endpoint;
    /// [`MisuseError::NoRefreshToken`] for [`TokenKind::Refresh`] when the operator issued none;
    /// [`MisuseError::OperatorMismatch`] when `operator` is not the one these tokens come from.
    pub fn revoke(
        &self,
        operator: &Discovered,
        which: TokenKind,
        now: UnixTime,
    ) -> Result<RevokeExchange, Error> {
        operator.check_flow_operator(&self.operator)?;
        let token = match which {
            TokenKind::Access => self.access_token.expose_secret(),
            TokenKind::Refresh => self
                .refresh_token
                .as_ref()
                .ok_or(MisuseError::NoRefreshToken)?
                .expose_secret(),
        };
        let url = operator
            .endpoints()
            .revocation
            .as_ref()
            .ok_or(MisuseError::MissingEndpoint {
                endpoint: "revocation",
            })?;
        let prepared = token::authenticated_form(
            operator,
            url,
            "tokenrevoke",
            [("token", token), ("token_type_hint", which.hint())],
            token,
            now,
        )?;
        Ok(RevokeExchange {
            operator: operator.id().to_owned(),
            prepared,
        })
    }
}

/// POST a token to the revocation endpoint; the output is `()`.
#[must_use]
pub struct RevokeExchange {
    operator: String,
    prepared: Prepared,
}

impl fmt::Debug for RevokeExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevokeExchange")
            .field("operator", &self.operator)
            .field("request", &self.prepared)
            .finish_non_exhaustive()
    }
}

// A revocation's success is final: no keys to fetch.
impl Outcome for () {
    type Value = ();

    fn into_verified(self) -> Verified<()> {
        Verified::Done(())
    }
}

impl Exchange for RevokeExchange {
    type Output = ();

    fn endpoint(&self) -> Endpoint {
        Endpoint::Revocation
    }

    fn operator_id(&self) -> Option<&str> {
        Some(&self.operator)
    }

    fn request(&self) -> http::Request<Vec<u8>> {
        self.prepared.to_request()
    }

    fn respond(self, response: http::Response<Vec<u8>>, _now: UnixTime) -> Result<(), Error> {
        let status = response.status().as_u16();
        // RFC 7009 2.2: the body of a 200 is not read (operators send `{}`, text or nothing).
        if status == 200 {
            return Ok(());
        }
        let endpoint = self.endpoint();
        Err(
            match wire::parse_error_body(endpoint, Some(status), response.body()) {
                Some(refusal) => refusal.into(),
                None => ProtocolError::UnexpectedStatus { endpoint, status }.into(),
            },
        )
    }
}
