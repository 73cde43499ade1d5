//! Client authentication at the token endpoint: HTTP Basic (the Mobile Connect default),
//! `client_secret_post`, or `private_key_jwt` (RFC 7523) with the SP's own key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use serde::Serialize;

use crate::crypto;
use crate::error::{Error, MissingSetting, MisuseError};
use crate::exchange::UnixTime;
use crate::secret::ClientSecret;
use crate::signing_key::SpSigningKey;
use crate::wire::{self, BasicAuthEncoding};

/// How long a client assertion is valid, in seconds (CAMARA requires at most 300).
const ASSERTION_LIFETIME_SECS: u64 = 120;

/// How the SP authenticates to the operator's token endpoint (and, for OpenID CIBA, to its
/// backchannel authentication endpoint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client secret (the Mobile Connect default).
    #[default]
    SecretBasic,
    /// `client_secret_post`: client_id and client_secret in the form body.
    SecretPost,
    /// `private_key_jwt`: a JWT valid for 120 seconds, signed with the operator context's
    /// [`SpSigningKey`] ([`crate::OperatorConfig::signing_key`], required with this method);
    /// the secret is not sent.
    PrivateKeyJwt,
}

/// What client authentication adds to a token-endpoint request.
pub(crate) struct Credentials {
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) header: Option<HeaderValue>,
}

pub(crate) struct Client<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) secret: &'a ClientSecret,
    pub(crate) method: ClientAuth,
    pub(crate) basic: BasicAuthEncoding,
    pub(crate) signing_key: Option<&'a SpSigningKey>,
    /// The operator id, for the error when `private_key_jwt` has no key.
    pub(crate) operator: &'a str,
}

/// The claims of a client assertion (RFC 7523 3), in a fixed order.
#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    exp: u64,
    iat: u64,
    iss: &'a str,
    jti: String,
    sub: &'a str,
}

impl Client<'_> {
    /// The credentials for one request to `audience` (the token endpoint URL, or the issuer for
    /// CIBA's backchannel authentication endpoint). `unique` is a
    /// per-request value (e.g. the code) from which the assertion's `jti` is derived, so that no
    /// randomness is needed here.
    pub(crate) fn credentials(
        &self,
        audience: &str,
        unique: &str,
        now: UnixTime,
    ) -> Result<Credentials, Error> {
        match self.method {
            ClientAuth::SecretBasic => Ok(Credentials {
                params: Vec::new(),
                header: Some(wire::basic_auth(self.client_id, self.secret, self.basic)?),
            }),
            ClientAuth::SecretPost => Ok(Credentials {
                params: vec![
                    ("client_id", self.client_id.to_owned()),
                    ("client_secret", self.secret.expose_secret().to_owned()),
                ],
                header: None,
            }),
            ClientAuth::PrivateKeyJwt => Ok(Credentials {
                params: vec![
                    ("client_id", self.client_id.to_owned()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                    ),
                    ("client_assertion", self.assertion(audience, unique, now)?),
                ],
                header: None,
            }),
        }
    }

    fn assertion(&self, audience: &str, unique: &str, now: UnixTime) -> Result<String, Error> {
        let key = self
            .signing_key
            .ok_or_else(|| MisuseError::IncompleteOperator {
                operator: self.operator.to_owned(),
                missing: MissingSetting::SigningKey,
            })?;
        let seed = format!(
            "mc-core client assertion\n{}\n{unique}\n{}",
            self.client_id,
            now.as_secs()
        );
        let jti = crypto::digest(seed.as_bytes(), 256).ok_or(MisuseError::InvalidParameter {
            name: "client assertion",
            reason: "the crypto backend cannot hash",
        })?;
        let claims = AssertionClaims {
            aud: audience,
            exp: now.as_secs().saturating_add(ASSERTION_LIFETIME_SECS),
            iat: now.as_secs(),
            iss: self.client_id,
            jti: URL_SAFE_NO_PAD.encode(jti.get(..18).unwrap_or_default()),
            sub: self.client_id,
        };
        key.sign("JWT", &claims)
    }
}
