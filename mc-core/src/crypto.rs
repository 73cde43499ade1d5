//! The crypto backend, chosen by this crate's features and passed to jsonwebtoken explicitly.
//!
//! jsonwebtoken's free functions consult a process-global provider that panics when both or
//! neither of its backends are compiled in. We never call them: every signature check goes
//! through the provider returned by [`provider`].
//!
//! With the `aws-lc-rs` backend, the operator's public keys are also parsed into aws-lc-rs keys
//! once per JWKS fetch (`PreparedKey`), so that verifying an id_token is one signature check
//! and nothing else: no key rebuilt from `n`/`e` and no Montgomery set-up per token. Whatever
//! the prepared path cannot take (a key aws-lc-rs refuses to parse) goes through jsonwebtoken as
//! before, so both paths give the same verdicts.

use jsonwebtoken::crypto::CryptoProvider;
#[cfg(not(feature = "aws-lc-rs"))]
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey};

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "mc-core needs a crypto backend: enable the `aws-lc-rs` or the `rust-crypto` feature"
);

/// The jsonwebtoken crypto provider this build of mc-core uses: aws-lc-rs when the `aws-lc-rs`
/// feature is on (also when both are), RustCrypto otherwise. Exposed so that test operators can
/// sign with the same backend without touching jsonwebtoken's process-global default.
/// Not part of the API (hidden from the docs): public for the benchmark and tests only.
#[doc(hidden)]
#[must_use]
pub fn provider() -> &'static CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }
}

/// Why a signature check did not succeed.
pub(crate) enum VerifyFailure {
    /// The backend refused the key for this algorithm (too small, wrong family...).
    KeyRejected,
    /// The signature is wrong.
    BadSignature,
}

/// Verify through jsonwebtoken's provider (HMAC, the rust-crypto backend, and any key the
/// prepared path does not hold).
pub(crate) fn verify(
    alg: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyFailure> {
    let verifier =
        (provider().verifier_factory)(&alg, key).map_err(|_| VerifyFailure::KeyRejected)?;
    verifier
        .verify(message, &signature.to_vec())
        .map_err(|_| VerifyFailure::BadSignature)
}

/// Verify with an operator key: its prepared form when there is one for `alg`, jsonwebtoken
/// otherwise.
pub(crate) fn verify_with(
    alg: Algorithm,
    prepared: &PreparedKey,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyFailure> {
    match prepared.verify(alg, message, signature) {
        Some(Ok(())) => Ok(()),
        Some(Err(())) => Err(VerifyFailure::BadSignature),
        None => verify(alg, key, message, signature),
    }
}

/// SHA-256/384/512 of `data`; `None` only if the backend fails, which it does not for digests.
pub(crate) fn digest(data: &[u8], bits: u16) -> Option<Vec<u8>> {
    let mut out = [0u8; 64];
    let len = digest_into(data, bits, &mut out)?;
    out.get(..len).map(<[u8]>::to_vec)
}

/// SHA-256/384/512 of `data` into `out`, returning the digest's length.
pub(crate) fn digest_into(data: &[u8], bits: u16, out: &mut [u8; 64]) -> Option<usize> {
    #[cfg(feature = "aws-lc-rs")]
    {
        use aws_lc_rs::digest;
        let algorithm = match bits {
            256 => &digest::SHA256,
            384 => &digest::SHA384,
            512 => &digest::SHA512,
            _ => return None,
        };
        let value = digest::digest(algorithm, data);
        let value = value.as_ref();
        out.get_mut(..value.len())?.copy_from_slice(value);
        Some(value.len())
    }
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        let hash = match bits {
            256 => ThumbprintHash::SHA256,
            384 => ThumbprintHash::SHA384,
            512 => ThumbprintHash::SHA512,
            _ => return None,
        };
        let value = (provider().key_utils.compute_digest)(data, hash).ok()?;
        out.get_mut(..value.len())?.copy_from_slice(&value);
        Some(value.len())
    }
}

pub(crate) use prepared::PreparedKey;

#[cfg(feature = "aws-lc-rs")]
mod prepared {
    //! Operator keys parsed into aws-lc-rs once, shared by every clone of the key set.

    use std::sync::{Arc, OnceLock};

    use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
    use jsonwebtoken::Algorithm;

    /// The RSA algorithms, in the order of [`Rsa::parsed`].
    const RSA_ALGORITHMS: [(Algorithm, &sig::RsaParameters); 6] = [
        (Algorithm::RS256, &sig::RSA_PKCS1_2048_8192_SHA256),
        (Algorithm::RS384, &sig::RSA_PKCS1_2048_8192_SHA384),
        (Algorithm::RS512, &sig::RSA_PKCS1_2048_8192_SHA512),
        (Algorithm::PS256, &sig::RSA_PSS_2048_8192_SHA256),
        (Algorithm::PS384, &sig::RSA_PSS_2048_8192_SHA384),
        (Algorithm::PS512, &sig::RSA_PSS_2048_8192_SHA512),
    ];

    struct Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        /// aws-lc-rs binds a parsed key to one algorithm: one slot per RSA algorithm, each
        /// filled on first use (`None` when aws-lc-rs refuses the components).
        parsed: [OnceLock<Option<ParsedPublicKey>>; 6],
    }

    enum Inner {
        Rsa(Box<Rsa>),
        Ec {
            alg: Algorithm,
            parsed: ParsedPublicKey,
        },
    }

    /// An operator key in aws-lc-rs form, or nothing (then jsonwebtoken verifies).
    #[derive(Clone)]
    pub(crate) struct PreparedKey(Option<Arc<Inner>>);

    impl PreparedKey {
        /// Nothing prepared: jsonwebtoken verifies.
        pub(crate) fn none() -> Self {
            Self(None)
        }

        /// An RSA key from its big-endian `n` and `e`, parsed now for `alg` (the JWK's `alg`,
        /// RS256 when it names none) and later for any other RSA algorithm on first use.
        pub(crate) fn rsa(n: Vec<u8>, e: Vec<u8>, alg: Option<Algorithm>) -> Self {
            let key = Self(Some(Arc::new(Inner::Rsa(Box::new(Rsa {
                n,
                e,
                parsed: Default::default(),
            })))));
            let _ = key.rsa_for(alg.unwrap_or(Algorithm::RS256));
            key
        }

        /// An EC key from its uncompressed point (`04 || x || y`), for ES256 (P-256) or ES384
        /// (P-384).
        pub(crate) fn ec(point: &[u8], alg: Algorithm) -> Self {
            let algorithm: &'static sig::EcdsaVerificationAlgorithm = match alg {
                Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                _ => return Self(None),
            };
            match ParsedPublicKey::new(algorithm, point) {
                Ok(parsed) => Self(Some(Arc::new(Inner::Ec { alg, parsed }))),
                Err(_) => Self(None),
            }
        }

        fn rsa_for(&self, alg: Algorithm) -> Option<&ParsedPublicKey> {
            let Some(Inner::Rsa(rsa)) = self.0.as_deref() else {
                return None;
            };
            let index = RSA_ALGORITHMS.iter().position(|(a, _)| *a == alg)?;
            let (_, params) = RSA_ALGORITHMS.get(index)?;
            rsa.parsed
                .get(index)?
                .get_or_init(|| {
                    RsaPublicKeyComponents {
                        n: rsa.n.as_slice(),
                        e: rsa.e.as_slice(),
                    }
                    .to_parsed_public_key(params)
                    .ok()
                })
                .as_ref()
        }

        /// `Some(verdict)` when this key is prepared for `alg`, `None` to fall back.
        pub(crate) fn verify(
            &self,
            alg: Algorithm,
            message: &[u8],
            signature: &[u8],
        ) -> Option<Result<(), ()>> {
            let parsed = match self.0.as_deref()? {
                Inner::Rsa(_) => self.rsa_for(alg)?,
                Inner::Ec { alg: own, parsed } if *own == alg => parsed,
                Inner::Ec { .. } => return None,
            };
            Some(parsed.verify_sig(message, signature).map_err(|_| ()))
        }
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
mod prepared {
    //! Without aws-lc-rs every check goes through jsonwebtoken's provider.

    use jsonwebtoken::Algorithm;

    /// Nothing prepared: jsonwebtoken verifies.
    #[derive(Clone)]
    pub(crate) struct PreparedKey;

    impl PreparedKey {
        pub(crate) fn none() -> Self {
            Self
        }

        pub(crate) fn rsa(_n: Vec<u8>, _e: Vec<u8>, _alg: Option<Algorithm>) -> Self {
            Self
        }

        pub(crate) fn ec(_point: &[u8], _alg: Algorithm) -> Self {
            Self
        }

        #[allow(clippy::unused_self)]
        pub(crate) fn verify(
            &self,
            _alg: Algorithm,
            _message: &[u8],
            _signature: &[u8],
        ) -> Option<Result<(), ()>> {
            None
        }
    }
}
