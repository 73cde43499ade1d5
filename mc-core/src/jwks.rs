//! The operator's key set: fetched, parsed leniently (unknown key types are skipped), bounded,
//! and turned into verification keys once per fetch (with the `aws-lc-rs` backend, parsed into
//! aws-lc-rs keys there too, so that no token pays for parsing its key).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::crypto::PreparedKey;
use crate::endpoint::Endpoint;
use crate::error::{Error, ProtocolError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::wire::{self, lenient};

/// The curve or family of a verification key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// RSA (RS256/384/512, PS256/384/512).
    Rsa,
    /// EC P-256 (ES256).
    P256,
    /// EC P-384 (ES384).
    P384,
}

impl KeyType {
    /// Whether a key of this type can verify `alg`.
    #[must_use]
    pub fn fits(self, alg: Algorithm) -> bool {
        match self {
            Self::Rsa => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            Self::P256 => alg == Algorithm::ES256,
            Self::P384 => alg == Algorithm::ES384,
        }
    }
}

/// One public key, ready to verify.
#[derive(Clone)]
pub struct VerificationKey {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key_type: KeyType,
    key: DecodingKey,
    /// The same key parsed by the backend once, when it can be.
    prepared: PreparedKey,
    /// An RSA key under 2048 bits: kept so that a token naming it gets a precise error, never
    /// used to verify.
    weak: bool,
}

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

fn rsa_modulus_bits(n: &[u8]) -> Option<usize> {
    let first = n.iter().position(|b| *b != 0)?;
    let lead = n.get(first)?.leading_zeros() as usize;
    Some((n.len() - first) * 8 - lead)
}

impl VerificationKey {
    /// The key's `kid`, if any.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's type.
    #[must_use]
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Whether this key may verify a token signed with `alg` (type fits, and the JWK's own `alg`,
    /// when present, is that algorithm).
    #[must_use]
    pub fn usable_for(&self, alg: Algorithm) -> bool {
        self.key_type.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    pub(crate) fn prepared(&self) -> &PreparedKey {
        &self.prepared
    }

    /// Whether the key is too weak to be used (RSA under [`MIN_RSA_BITS`]).
    #[must_use]
    pub fn is_weak(&self) -> bool {
        self.weak
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key_type", &self.key_type)
            .field("weak", &self.weak)
            .finish_non_exhaustive()
    }
}

/// A parsed JWKS: the keys mc-core can use, in document order.
#[derive(Clone, Debug, Default)]
pub struct Jwks {
    keys: Vec<VerificationKey>,
    skipped: usize,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    /// RFC 7517 4.3: the operations the key is for; without `verify`, not ours to use.
    #[serde(default, deserialize_with = "lenient::opt_list")]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

impl Jwks {
    /// Parse a JWKS document.
    ///
    /// Lenient: a key of an unknown type, for encryption (`use: enc`), whose `key_ops` do not
    /// include `verify`, symmetric (`oct`: HMAC is keyed by the client secret only) or with
    /// unusable or unreadable members is skipped and counted.
    /// Strict: the document must be a JSON object with a `keys` array of at most
    /// [`wire::MAX_JWKS_KEYS`] entries.
    ///
    /// # Errors
    /// [`ProtocolError::MalformedJson`], [`ProtocolError::BodyTooLarge`] or
    /// [`ProtocolError::TooManyKeys`].
    pub fn parse(body: &[u8]) -> Result<Self, ProtocolError> {
        let raw: RawJwks = wire::json(Endpoint::Jwks, body)?;
        if raw.keys.len() > wire::MAX_JWKS_KEYS {
            return Err(ProtocolError::TooManyKeys {
                limit: wire::MAX_JWKS_KEYS,
                found: raw.keys.len(),
            });
        }
        let total = raw.keys.len();
        let keys: Vec<VerificationKey> = raw
            .keys
            .into_iter()
            .filter_map(|value| RawJwk::deserialize(value).ok())
            .filter_map(RawJwk::into_key)
            .collect();
        Ok(Self {
            skipped: total - keys.len(),
            keys,
        })
    }

    /// The usable keys.
    #[must_use]
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// How many entries of the document were skipped as unusable.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Whether no key is usable.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl RawJwk {
    fn into_key(self) -> Option<VerificationKey> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        if self
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
        {
            return None;
        }
        let alg = match self.alg.as_deref() {
            None => None,
            Some(name) => Some(name.parse::<Algorithm>().ok()?),
        };
        let mut weak = false;
        let (key_type, key, prepared) = match self.kty.as_str() {
            "RSA" => {
                // The same decoding as jsonwebtoken's `DecodingKey::from_rsa_components`.
                let n = URL_SAFE_NO_PAD.decode(self.n.as_deref()?).ok()?;
                weak = rsa_modulus_bits(&n)? < MIN_RSA_BITS;
                let e = URL_SAFE_NO_PAD.decode(self.e.as_deref()?).ok()?;
                let key = DecodingKey::from_rsa_raw_components(&n, &e);
                let prepared = if weak {
                    PreparedKey::none()
                } else {
                    PreparedKey::rsa(n, e, alg)
                };
                (KeyType::Rsa, key, prepared)
            }
            "EC" => {
                let key_type = match self.crv.as_deref()? {
                    "P-256" => KeyType::P256,
                    "P-384" => KeyType::P384,
                    _ => return None,
                };
                let (x, y) = (self.x.as_deref()?, self.y.as_deref()?);
                let width = if key_type == KeyType::P256 { 43 } else { 64 };
                if x.len() != width || y.len() != width {
                    return None;
                }
                let key = DecodingKey::from_ec_components(x, y).ok()?;
                let curve_alg = if key_type == KeyType::P256 {
                    Algorithm::ES256
                } else {
                    Algorithm::ES384
                };
                let prepared = key.try_get_as_bytes().map_or_else(
                    |_| PreparedKey::none(),
                    |point| PreparedKey::ec(point, curve_alg),
                );
                (key_type, key, prepared)
            }
            _ => return None,
        };
        if alg.is_some_and(|a| !key_type.fits(a)) {
            return None;
        }
        Some(VerificationKey {
            kid: self.kid,
            alg,
            key_type,
            key,
            prepared,
            weak,
        })
    }
}

/// A key set as an operator context holds it: the keys, when they were stored, and a number
/// that grows with every store (so that a paused verification can tell whether another login
/// stored newer keys meanwhile).
#[derive(Debug, Default)]
pub(crate) struct KeySnapshot {
    pub(crate) jwks: Jwks,
    pub(crate) fetched_at: Option<UnixTime>,
    pub(crate) generation: u64,
}

/// The operator context's current key set, replaced by a pointer swap: the lock is held only to
/// clone or replace the `Arc`, never while verifying or during network IO.
#[derive(Debug)]
pub(crate) struct KeyStore(RwLock<Arc<KeySnapshot>>);

impl KeyStore {
    pub(crate) fn new(jwks: Jwks) -> Self {
        Self(RwLock::new(Arc::new(KeySnapshot {
            jwks,
            fetched_at: None,
            generation: 0,
        })))
    }

    pub(crate) fn current(&self) -> Arc<KeySnapshot> {
        // A poisoned lock only means a panic elsewhere while swapping a pointer: the value is
        // still a whole `Arc`.
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn store(&self, jwks: Jwks, now: UnixTime) -> Arc<KeySnapshot> {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let snapshot = Arc::new(KeySnapshot {
            jwks,
            fetched_at: Some(now),
            generation: slot.generation.wrapping_add(1),
        });
        *slot = Arc::clone(&snapshot);
        snapshot
    }
}

/// A JWKS response: a success ([`wire::classify`]'s JWKS row) and a parsable key set.
pub(crate) fn parse_response(response: &http::Response<Vec<u8>>) -> Result<Jwks, Error> {
    Ok(Jwks::parse(wire::json_body(Endpoint::Jwks, response)?)?)
}

/// GET the operator's JWKS.
#[derive(Debug)]
#[must_use]
pub struct JwksExchange {
    pub(crate) operator: Option<String>,
    pub(crate) prepared: Prepared,
}

impl Exchange for JwksExchange {
    type Output = Jwks;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Jwks
    }

    fn operator_id(&self) -> Option<&str> {
        self.operator.as_deref()
    }

    fn request(&self) -> http::Request<Vec<u8>> {
        self.prepared.to_request()
    }

    fn respond(self, response: http::Response<Vec<u8>>, _now: UnixTime) -> Result<Jwks, Error> {
        parse_response(&response)
    }
}
