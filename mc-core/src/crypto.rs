//! The crypto backend, chosen by this crate's features and passed to jsonwebtoken explicitly.
//!
//! jsonwebtoken's free functions consult a process-global provider that panics when both or
//! neither of its backends are compiled in. We never call them: every signature check goes
//! through the provider returned by [`provider`].

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey};

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "mc-core needs a crypto backend: enable the `aws-lc-rs` or the `rust-crypto` feature"
);

/// The jsonwebtoken crypto provider this build of mc-core uses: aws-lc-rs when the `aws-lc-rs`
/// feature is on (also when both are), RustCrypto otherwise. Exposed so that test operators can
/// sign with the same backend without touching jsonwebtoken's process-global default.
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

/// SHA-256/384/512 of `data`; `None` only if the backend fails, which it does not for digests.
pub(crate) fn digest(data: &[u8], bits: u16) -> Option<Vec<u8>> {
    let hash = match bits {
        256 => ThumbprintHash::SHA256,
        384 => ThumbprintHash::SHA384,
        512 => ThumbprintHash::SHA512,
        _ => return None,
    };
    (provider().key_utils.compute_digest)(data, hash).ok()
}
