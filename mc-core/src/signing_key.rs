//! The SP's own signing key ([`SpSigningKey`]): it signs `private_key_jwt` client assertions
//! (RFC 7523) and request objects (server-initiated, and browser logins where the operator
//! asks for them), and its public half is what the SP
//! publishes for operators to verify them ([`SpSigningKey::public_jwk`],
//! [`SpSigningKey::jwks`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::EllipticCurve;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Serialize;

use crate::crypto;
use crate::error::{Error, MisuseError};

/// The public half of an SP key, base64url as it goes into a JWK.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PublicKey {
    Rsa {
        n: String,
        e: String,
    },
    Ec {
        crv: &'static str,
        x: String,
        y: String,
    },
}

/// The SP's private key, registered with operators under its `kid`: it signs `private_key_jwt`
/// client assertions ([`crate::ClientAuth::PrivateKeyJwt`]) and the request objects of
/// server-initiated logins and of browser logins
/// ([`crate::OperatorConfig::sign_authorization_requests`]). Give it to the operator context with
/// [`crate::OperatorConfig::signing_key`]; publish [`SpSigningKey::jwks`] where the operator
/// fetches the SP's keys.
///
/// Its `Debug` prints the algorithm and `kid` only.
///
/// ```
/// use mc_core::{Algorithm, SpSigningKey};
/// # let pem = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sandbox/keys/rsa-b.pem"));
/// let key = SpSigningKey::from_pem(Algorithm::RS256, pem, "sp-key-2026")?;
/// let jwk = key.public_jwk();
/// assert_eq!(jwk["kty"], "RSA");
/// assert_eq!(jwk["kid"], "sp-key-2026");
/// assert_eq!(jwk["alg"], "RS256");
/// assert_eq!(jwk["use"], "sig");
/// assert!(jwk.get("d").is_none()); // never the private part
///
/// // The document the SP serves at the JWKS URL it registered with the operator.
/// let document = SpSigningKey::jwks([&key])?;
/// assert_eq!(document["keys"][0], jwk);
/// # Ok::<(), mc_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SpSigningKey {
    key: EncodingKey,
    alg: Algorithm,
    /// The JOSE name of `alg`.
    alg_name: &'static str,
    kid: String,
    public: PublicKey,
}

impl fmt::Debug for SpSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpSigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn unusable(reason: &'static str) -> Error {
    MisuseError::InvalidParameter {
        name: "SP signing key",
        reason,
    }
    .into()
}

impl SpSigningKey {
    /// A key from PEM (PKCS#1 or PKCS#8 for RSA with RS*/PS*, PKCS#8 for EC with ES256/ES384),
    /// with the `kid` under which the operator knows its public half. The public half is
    /// derived now and one signature is made, so that a key the crypto backend cannot use is
    /// refused at startup rather than in the middle of a login.
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] for an unreadable key, an HMAC or unsupported algorithm,
    /// an empty `kid`, or a key the backend refuses to sign with (e.g. RSA under 2048 bits).
    pub fn from_pem(alg: Algorithm, pem: &[u8], kid: impl Into<String>) -> Result<Self, Error> {
        let kid = kid.into();
        if kid.is_empty() {
            return Err(unusable("the kid is empty"));
        }
        let unreadable = |_| unusable("not a PEM key of the algorithm's family");
        let utils = &crypto::provider().key_utils;
        let b64 = |bytes: Vec<u8>| URL_SAFE_NO_PAD.encode(bytes);
        let rsa = match alg {
            Algorithm::RS256 => Some("RS256"),
            Algorithm::RS384 => Some("RS384"),
            Algorithm::RS512 => Some("RS512"),
            Algorithm::PS256 => Some("PS256"),
            Algorithm::PS384 => Some("PS384"),
            Algorithm::PS512 => Some("PS512"),
            _ => None,
        };
        let (alg_name, key, public) = match (rsa, alg) {
            (Some(name), _) => {
                let key = EncodingKey::from_rsa_pem(pem).map_err(unreadable)?;
                let (n, e) = (utils.rsa_pub_components_from_private_key)(key.as_bytes())
                    .map_err(unreadable)?;
                (
                    name,
                    key,
                    PublicKey::Rsa {
                        n: b64(n),
                        e: b64(e),
                    },
                )
            }
            (None, Algorithm::ES256 | Algorithm::ES384) => {
                let key = EncodingKey::from_ec_pem(pem).map_err(unreadable)?;
                let (curve, x, y) = (utils.ec_pub_components_from_private_key)(key.as_bytes(), alg)
                    .map_err(unreadable)?;
                let (name, crv) = match curve {
                    EllipticCurve::P256 => ("ES256", "P-256"),
                    EllipticCurve::P384 => ("ES384", "P-384"),
                    _ => return Err(unusable("not a P-256 or P-384 key")),
                };
                (
                    name,
                    key,
                    PublicKey::Ec {
                        crv,
                        x: b64(x),
                        y: b64(y),
                    },
                )
            }
            _ => return Err(unusable("use an RSA or EC algorithm")),
        };
        let key = Self {
            key,
            alg,
            alg_name,
            kid,
            public,
        };
        key.signature(b"mc-core key check")?;
        Ok(key)
    }

    /// The signing algorithm.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id the operator knows the public half by.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (RFC 7517): `kty`, `n`/`e` (RSA) or `crv`/`x`/`y` (EC), `kid`,
    /// `alg` and `use: "sig"`. Never any private member.
    #[must_use]
    pub fn public_jwk(&self) -> serde_json::Value {
        let mut jwk = match &self.public {
            PublicKey::Rsa { n, e } => serde_json::json!({ "kty": "RSA", "n": n, "e": e }),
            PublicKey::Ec { crv, x, y } => {
                serde_json::json!({ "kty": "EC", "crv": crv, "x": x, "y": y })
            }
        };
        if let Some(members) = jwk.as_object_mut() {
            members.insert("kid".to_owned(), self.kid.clone().into());
            members.insert("alg".to_owned(), self.alg_name.into());
            members.insert("use".to_owned(), "sig".into());
        }
        jwk
    }

    /// The SP's public JWKS document (`{"keys": [...]}`) for these keys, in order: serve it at
    /// the JWKS URL registered with the operators. During a key rotation list the old and the
    /// new key.
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] when two keys share a `kid` (an operator picks the
    /// key by it).
    pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a Self>) -> Result<serde_json::Value, Error> {
        let keys: Vec<&Self> = keys.into_iter().collect();
        let mut kids: Vec<&str> = keys.iter().map(|k| k.kid()).collect();
        kids.sort_unstable();
        if kids.windows(2).any(|pair| pair.first() == pair.last()) {
            return Err(unusable("two keys share a kid"));
        }
        let keys: Vec<serde_json::Value> = keys.iter().map(|k| k.public_jwk()).collect();
        Ok(serde_json::json!({ "keys": keys }))
    }

    fn signature(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = || unusable("the crypto backend cannot sign with it");
        let signer =
            (crypto::provider().signer_factory)(&self.alg, &self.key).map_err(|_| failed())?;
        signer.try_sign(input).map_err(|_| failed())
    }

    /// A compact JWS over `claims`, with the header `alg`, `kid` and `typ` (members in that
    /// order; claims in their struct's field order: the same inputs give the same bytes).
    pub(crate) fn sign<C: Serialize>(
        &self,
        typ: &'static str,
        claims: &C,
    ) -> Result<String, Error> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            kid: &'a str,
            typ: &'static str,
        }
        let header = Header {
            alg: self.alg_name,
            kid: &self.kid,
            typ,
        };
        let unserializable = |_| unusable("its claims do not serialize");
        let header = serde_json::to_vec(&header).map_err(unserializable)?;
        let claims = serde_json::to_vec(claims).map_err(unserializable)?;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = self.signature(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}
