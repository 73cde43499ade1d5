//! Client authentication at the token endpoint: HTTP Basic (the Mobile Connect default),
//! `client_secret_post`, or `private_key_jwt` (RFC 7523) with the SP's own key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::crypto;
use crate::error::{Error, MisuseError};
use crate::exchange::UnixTime;
use crate::secret::ClientSecret;
use crate::wire::{self, BasicAuthEncoding};

/// How long a client assertion is valid, in seconds.
const ASSERTION_LIFETIME_SECS: u64 = 120;

/// The SP's private key for `private_key_jwt`. Debug prints the algorithm and `kid` only.
#[derive(Clone)]
pub struct ClientAssertionKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl ClientAssertionKey {
    /// A key from PEM (PKCS#1 or PKCS#8 for RSA with RS*/PS*, PKCS#8 for EC with ES256/ES384),
    /// with the `kid` under which the operator knows the SP's public key.
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] for an unreadable key or an HMAC/unsupported algorithm.
    pub fn from_pem(alg: Algorithm, pem: &[u8], kid: Option<String>) -> Result<Self, Error> {
        let unreadable = |_| {
            Error::from(MisuseError::InvalidParameter {
                name: "client assertion key",
                reason: "not a PEM key of the algorithm's family",
            })
        };
        let key = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => EncodingKey::from_rsa_pem(pem).map_err(unreadable)?,
            Algorithm::ES256 | Algorithm::ES384 => {
                EncodingKey::from_ec_pem(pem).map_err(unreadable)?
            }
            _ => {
                return Err(MisuseError::InvalidParameter {
                    name: "client assertion algorithm",
                    reason: "use an RSA or EC algorithm",
                }
                .into());
            }
        };
        Ok(Self { key, alg, kid })
    }

    /// The signing algorithm.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
}

impl fmt::Debug for ClientAssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertionKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// How the SP authenticates to the operator's token endpoint.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client secret (the Mobile Connect default).
    #[default]
    SecretBasic,
    /// `client_secret_post`: client_id and client_secret in the form body.
    SecretPost,
    /// `private_key_jwt`: a short-lived JWT signed with the SP's key (the secret is not sent).
    PrivateKeyJwt(ClientAssertionKey),
}

/// What client authentication adds to a token-endpoint request.
pub(crate) struct Credentials {
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) header: Option<HeaderValue>,
}

pub(crate) struct Client<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) secret: &'a ClientSecret,
    pub(crate) method: &'a ClientAuth,
    pub(crate) basic: BasicAuthEncoding,
}

impl Client<'_> {
    /// The credentials for one request to `audience` (the token endpoint URL). `unique` is a
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
            ClientAuth::PrivateKeyJwt(key) => Ok(Credentials {
                params: vec![
                    ("client_id", self.client_id.to_owned()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                    ),
                    (
                        "client_assertion",
                        self.assertion(key, audience, unique, now)?,
                    ),
                ],
                header: None,
            }),
        }
    }

    fn assertion(
        &self,
        key: &ClientAssertionKey,
        audience: &str,
        unique: &str,
        now: UnixTime,
    ) -> Result<String, Error> {
        let failed = || {
            Error::from(MisuseError::InvalidParameter {
                name: "client assertion key",
                reason: "the crypto backend cannot sign with it",
            })
        };
        let seed = format!(
            "mc-core client assertion\n{}\n{unique}\n{}",
            self.client_id,
            now.as_secs()
        );
        let jti = crypto::digest(seed.as_bytes(), 256).ok_or_else(failed)?;
        let header = match &key.kid {
            Some(kid) => {
                serde_json::json!({ "alg": format!("{:?}", key.alg), "typ": "JWT", "kid": kid })
            }
            None => serde_json::json!({ "alg": format!("{:?}", key.alg), "typ": "JWT" }),
        };
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": URL_SAFE_NO_PAD.encode(jti.get(..18).unwrap_or_default()),
            "iat": now.as_secs(),
            "exp": now.as_secs().saturating_add(ASSERTION_LIFETIME_SECS),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signer =
            (crypto::provider().signer_factory)(&key.alg, &key.key).map_err(|_| failed())?;
        let signature = signer.try_sign(input.as_bytes()).map_err(|_| failed())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}
