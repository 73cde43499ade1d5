//! The sandbox operators' signing keys: a committed pool (RSA 2048 and EC P-256), so that key
//! rotation is a move to the next key of the pool and runs need no key generation.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const PUBLIC: &str = include_str!("../keys/public.json");

const RSA: [(&str, &str); 4] = [
    ("rsa-1", include_str!("../keys/rsa-1.pem")),
    ("rsa-2", include_str!("../keys/rsa-2.pem")),
    ("rsa-3", include_str!("../keys/rsa-3.pem")),
    ("rsa-4", include_str!("../keys/rsa-4.pem")),
];
const EC: [(&str, &str); 3] = [
    ("ec-1", include_str!("../keys/ec-1.pem")),
    ("ec-2", include_str!("../keys/ec-2.pem")),
    ("ec-3", include_str!("../keys/ec-3.pem")),
];

/// A signing key of a sandbox operator.
#[derive(Clone)]
pub struct SigningKey {
    /// The `kid` it is published under.
    pub kid: String,
    /// The JWS algorithm it signs with.
    pub alg: Algorithm,
    name: &'static str,
    key: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Which family of keys an operator signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    /// RS256 with RSA 2048.
    Rs256,
    /// ES256 with P-256.
    Es256,
}

impl SigningKey {
    /// Key number `index` (modulo the pool size) of a family, published as `kid`.
    ///
    /// # Panics
    /// If a committed PEM file is broken (a build defect, not an input).
    #[must_use]
    pub fn from_pool(family: KeyFamily, index: usize, kid: String) -> Self {
        #[allow(clippy::indexing_slicing, clippy::expect_used)]
        match family {
            KeyFamily::Rs256 => {
                let (name, pem) = RSA[index % RSA.len()];
                Self {
                    kid,
                    alg: Algorithm::RS256,
                    name,
                    key: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("committed RSA key"),
                }
            }
            KeyFamily::Es256 => {
                let (name, pem) = EC[index % EC.len()];
                Self {
                    kid,
                    alg: Algorithm::ES256,
                    name,
                    key: EncodingKey::from_ec_pem(pem.as_bytes()).expect("committed EC key"),
                }
            }
        }
    }

    /// The public JWK.
    #[must_use]
    pub fn jwk(&self) -> Value {
        let all: Value = serde_json::from_str(PUBLIC).unwrap_or_default();
        let mut jwk = all.get(self.name).cloned().unwrap_or_default();
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(format!("{:?}", self.alg));
        jwk["use"] = json!("sig");
        jwk
    }

    /// Sign exactly this header and these claims with this key (for deliberately odd tokens).
    #[must_use]
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        sign_with(header, claims, self.alg, &self.key)
    }

    /// Sign `claims` as a compact JWS with this key (header `alg`, `typ`, `kid`).
    #[must_use]
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": format!("{:?}", self.alg), "typ": "JWT", "kid": self.kid });
        sign_with(&header, claims, self.alg, &self.key)
    }
}

/// Sign a JWS over exactly these header and claims values (also used for deliberately broken
/// tokens). Uses mc-core's crypto provider, never jsonwebtoken's process-global default.
#[must_use]
pub fn sign_with(header: &Value, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = (mc_core::crypto::provider().signer_factory)(&alg, key)
        .and_then(|signer| signer.try_sign(input.as_bytes()).map_err(Into::into))
        .unwrap_or_default();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// SHA-256 of `data` with mc-core's crypto provider.
#[must_use]
pub fn sha256(data: &[u8]) -> Vec<u8> {
    (mc_core::crypto::provider().key_utils.compute_digest)(
        data,
        jsonwebtoken::jwk::ThumbprintHash::SHA256,
    )
    .unwrap_or_default()
}
