//! The sandbox operators' signing keys: a committed pool (RSA 2048 and EC P-256), so that key
//! rotation is a move to the next key of the pool and runs need no key generation; and the
//! signing and hashing every test JWT is made with (the fixed login's keys are in
//! [`crate::fixture`]).

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

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

impl KeyFamily {
    /// How many keys the committed pool of this family holds.
    #[must_use]
    pub fn pool_size(self) -> usize {
        match self {
            Self::Rs256 => RSA.len(),
            Self::Es256 => EC.len(),
        }
    }
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
        let mut jwk = public_jwk(self.name);
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

    /// Sign a header and claims given as JSON text, byte for byte (duplicate members, deep
    /// nesting and other shapes a `Value` cannot hold).
    #[must_use]
    pub fn sign_text(&self, header_json: &str, claims_json: &str) -> String {
        sign_bytes(
            header_json.as_bytes(),
            claims_json.as_bytes(),
            self.alg,
            &self.key,
        )
    }

    /// The raw signature of a JWS signing input (`header_b64.claims_b64`) with this key.
    #[must_use]
    pub fn signature(&self, input: &[u8]) -> Vec<u8> {
        sign_input(input, self.alg, &self.key)
    }

    /// The private key as PEM (for the SP's own `private_key_jwt` key in tests).
    #[must_use]
    pub fn private_pem(&self) -> &'static str {
        RSA.iter()
            .chain(EC.iter())
            .find(|(name, _)| *name == self.name)
            .map_or("", |(_, pem)| *pem)
    }

    /// The public key as a PEM `SubjectPublicKeyInfo`: the bytes a naive verifier would feed to
    /// HMAC in an algorithm-confusion attack (RS256/ES256 key used as an HS256 secret).
    #[must_use]
    pub fn public_pem(&self) -> String {
        let jwk = self.jwk();
        let member = |name: &str| {
            jwk.get(name)
                .and_then(Value::as_str)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .unwrap_or_default()
        };
        let spki = match self.alg {
            Algorithm::ES256 => {
                // id-ecPublicKey, prime256v1, then the uncompressed point.
                let mut point = vec![0x04];
                point.extend(member("x"));
                point.extend(member("y"));
                der(
                    0x30,
                    &[
                        der(
                            0x30,
                            &[
                                der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
                                der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
                            ]
                            .concat(),
                        ),
                        der(0x03, &[&[0x00][..], &point].concat()),
                    ]
                    .concat(),
                )
            }
            _ => {
                let integer = |bytes: Vec<u8>| {
                    let mut v = bytes;
                    if v.first().is_some_and(|b| *b & 0x80 != 0) {
                        v.insert(0, 0);
                    }
                    der(0x02, &v)
                };
                let rsa_public_key =
                    der(0x30, &[integer(member("n")), integer(member("e"))].concat());
                der(
                    0x30,
                    &[
                        // rsaEncryption with NULL parameters.
                        der(
                            0x30,
                            &[
                                der(
                                    0x06,
                                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
                                ),
                                der(0x05, &[]),
                            ]
                            .concat(),
                        ),
                        der(0x03, &[&[0x00][..], &rsa_public_key].concat()),
                    ]
                    .concat(),
                )
            }
        };
        let body = STANDARD.encode(spki);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Sign `claims` as a compact JWS with this key (header `alg`, `typ`, `kid`).
    #[must_use]
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": format!("{:?}", self.alg), "typ": "JWT", "kid": self.kid });
        sign_with(&header, claims, self.alg, &self.key)
    }
}

/// The public JWK members (no `kid`, `alg` or `use`) of a committed key, by its file name
/// (`rsa-1`, `ec-p256`, ...); `null` for an unknown name.
#[must_use]
pub fn public_jwk(name: &str) -> Value {
    let all: Value = serde_json::from_str(PUBLIC).unwrap_or_default();
    all.get(name).cloned().unwrap_or_default()
}

/// One DER element: tag, definite length, contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or_default());
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).unwrap_or_default());
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// The jsonwebtoken crypto provider the sandbox signs and hashes with: aws-lc-rs, named
/// explicitly, so that neither jsonwebtoken's process-global default nor mc-core's backend
/// choice is involved.
#[must_use]
pub fn provider() -> &'static jsonwebtoken::crypto::CryptoProvider {
    &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
}

/// The signature of a JWS signing input with the sandbox's crypto provider (empty if the backend
/// refuses the key, which a test then sees as a bad signature).
#[must_use]
pub fn sign_input(input: &[u8], alg: Algorithm, key: &EncodingKey) -> Vec<u8> {
    (crate::keys::provider().signer_factory)(&alg, key)
        .and_then(|signer| signer.try_sign(input).map_err(Into::into))
        .unwrap_or_default()
}

/// An HS256 MAC of a JWS signing input keyed by `secret` (the client secret for a genuine
/// token, anything else for a forged one).
#[must_use]
pub fn hmac_sha256(input: &[u8], secret: &[u8]) -> Vec<u8> {
    sign_input(input, Algorithm::HS256, &EncodingKey::from_secret(secret))
}

/// Sign a JWS over exactly these header and claims values (also used for deliberately broken
/// tokens). Uses the sandbox's crypto provider, never jsonwebtoken's process-global default.
#[must_use]
pub fn sign_with(header: &Value, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    sign_bytes(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        alg,
        key,
    )
}

/// Sign a JWS over exactly these header and claims bytes (also bytes no JSON value holds, such
/// as invalid UTF-8), with the sandbox's crypto provider.
#[must_use]
pub fn sign_bytes(header: &[u8], claims: &[u8], alg: Algorithm, key: &EncodingKey) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = sign_input(input.as_bytes(), alg, key);
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// SHA-256 of `data` with the sandbox's crypto provider.
#[must_use]
pub fn sha256(data: &[u8]) -> Vec<u8> {
    (crate::keys::provider().key_utils.compute_digest)(
        data,
        jsonwebtoken::jwk::ThumbprintHash::SHA256,
    )
    .unwrap_or_default()
}

/// The `at_hash` of an access token for a JWS algorithm (OIDC Core 3.1.3.6): the left half of
/// the hash named by the algorithm, base64url. Computed here, independently of mc-core.
#[must_use]
pub fn at_hash(access_token: &str, alg: Algorithm) -> String {
    use jsonwebtoken::jwk::ThumbprintHash;
    let hash = match alg {
        Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => {
            ThumbprintHash::SHA384
        }
        Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 => ThumbprintHash::SHA512,
        _ => ThumbprintHash::SHA256,
    };
    let digest =
        (provider().key_utils.compute_digest)(access_token.as_bytes(), hash).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn public_pem_is_a_readable_spki_of_the_same_key() {
        for (family, index) in [
            (KeyFamily::Rs256, 0),
            (KeyFamily::Rs256, 3),
            (KeyFamily::Es256, 1),
        ] {
            let key = SigningKey::from_pool(family, index, "k".to_owned());
            let pem = key.public_pem();
            let decoding = match family {
                KeyFamily::Rs256 => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()),
                KeyFamily::Es256 => jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()),
            }
            .unwrap();
            let input = b"header.claims";
            let verifier = (crate::keys::provider().verifier_factory)(&key.alg, &decoding).unwrap();
            assert!(verifier.verify(input, &key.signature(input)).is_ok());
            assert!(!key.private_pem().is_empty());
        }
    }
}
