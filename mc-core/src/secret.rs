//! Redacting newtypes for every secret the flow handles, and the injected source of randomness.
//!
//! Debug and Display of these types print the type name and `[redacted]`, never the value; the
//! value is reachable only through an explicit `expose_secret()`. Equality between secrets is
//! constant time. Serde passes the value through unchanged, because per-login state has to survive
//! the browser round trip; the host keeps that state encrypted or server-side.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

/// Compare two byte strings in constant time (for equal lengths; the length itself is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wrap a value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself. Every call site is a place where the secret leaves the
            /// redacting wrapper: keep them few.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// Constant-time comparison with a candidate value.
            #[must_use]
            pub fn matches(&self, candidate: &str) -> bool {
                ct_eq(self.0.as_bytes(), candidate.as_bytes())
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                ct_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

secret_string!(
    /// An OAuth client secret (the operator's or the discovery service's credentials).
    ClientSecret
);
secret_string!(
    /// An authorization code from the callback.
    AuthorizationCode
);
secret_string!(
    /// An OAuth access token.
    AccessToken
);
secret_string!(
    /// An OAuth refresh token.
    RefreshToken
);
secret_string!(
    /// A compact id_token (or any JWT) as received.
    IdTokenJwt
);
secret_string!(
    /// The OAuth `state` of one login (CSRF defence).
    State
);
secret_string!(
    /// The OpenID Connect `nonce` of one login (replay defence).
    Nonce
);
secret_string!(
    /// The PKCE `code_verifier` of one login.
    PkceVerifier
);
secret_string!(
    /// A subscriber's phone number (E.164 digits, personal data).
    Msisdn
);
secret_string!(
    /// An encrypted MSISDN from discovery (`subscriber_id`), usable as `ENCR_MSISDN:` login hint.
    SubscriberId
);

/// A source of cryptographically secure random bytes, injected by the host.
///
/// mc-core never reaches for an OS RNG itself; adapters provide one backed by the operating
/// system, and tests provide a deterministic one so that emitted requests can be snapshotted.
pub trait Entropy {
    /// Fill `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill(&mut self, dest: &mut [u8]) {
        self(dest);
    }
}

/// 32 random bytes, base64url without padding (43 characters, 256 bits).
pub(crate) fn random_token(entropy: &mut dyn Entropy) -> String {
    let mut bytes = [0u8; 32];
    entropy.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
