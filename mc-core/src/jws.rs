//! Compact JWS (RFC 7515) as mc-core verifies it, for id_tokens and signed userinfo alike:
//! structure and size, the JOSE header rules (UTF-8 JSON object, no member repeated, `crit`
//! refused, `typ` by purpose), the algorithm allow-list, the choice of key and the signature
//! check. The claims come back as text, decoded and checked for repeated members but not
//! typed: the claim rules live with the token that has them (`id_token.rs`, `userinfo.rs`).

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use crate::crypto::{self, VerifyFailure};
use crate::error::{IdTokenError, JwtPart};
use crate::jwks::Jwks;
use crate::registry::Policy;
use crate::secret::ClientSecret;
use crate::wire::{self, lenient::Str};

/// What a JWS is for, which decides the `typ` header it may carry (RFC 8725 3.11, explicit
/// typing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// An id_token: `typ`, when present, must be a string; its value is not checked (OIDC
    /// defines none, operators send `JWT`). Another kind of JWT cannot pass as an id_token
    /// anyway: it must carry this login's `nonce`, which no other JWT has.
    IdToken,
    /// A signed userinfo or premium info answer: `typ` absent, `JWT` or `userinfo+jwt`.
    UserInfo,
}

/// The `typ` values a signed userinfo answer may carry, as the error states them.
pub(crate) const USERINFO_TYPES: &str = "absent, JWT or userinfo+jwt";

/// Whether `typ` is acceptable for a signed userinfo answer: `JWT` or `userinfo+jwt`, compared
/// without regard to case (media types are case-insensitive, RFC 2045) and with or without the
/// `application/` prefix (RFC 7515 4.1.9: a `typ` without `/` means `application/<typ>`).
pub(crate) fn is_userinfo_type(typ: &str) -> bool {
    let prefix = "application/";
    let subtype = match typ.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => typ.get(prefix.len()..).unwrap_or(""),
        _ => typ,
    };
    subtype.eq_ignore_ascii_case("jwt") || subtype.eq_ignore_ascii_case("userinfo+jwt")
}

/// A JWS whose signature verified: its algorithm, key id and (untyped) claims text.
pub(crate) struct SignedJwt {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) claims_json: String,
}

/// A verification's outcome when it did not fail outright.
pub(crate) enum Signed<T> {
    Verified(T),
    /// No key of the set matches the token's `kid` (or, without a `kid`, none fits its
    /// algorithm): fresh keys might verify it. The error is the verdict when none can be had.
    KeyMissing(IdTokenError),
}

/// The JOSE header members mc-core reads, borrowed from the decoded header where possible.
struct Header<'a> {
    alg: Cow<'a, str>,
    kid: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    /// Present, whatever its value (`"crit": null` included): no extension is understood, so a
    /// header that names any is refused (RFC 7515 4.1.11).
    crit: bool,
}

impl<'de> serde::Deserialize<'de> for Header<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Header<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JOSE header")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header<'de>, A::Error> {
                let (mut alg, mut kid, mut typ, mut crit) = (None, None, None, false);
                while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                    // A repeated member is refused before this runs (`check_jose_members`).
                    match &*name {
                        "alg" => alg = Some(map.next_value::<Str<'de>>()?.0),
                        "kid" => kid = Some(map.next_value::<Str<'de>>()?.0),
                        "typ" => typ = Some(map.next_value::<Str<'de>>()?.0),
                        "crit" => {
                            let _: IgnoredAny = map.next_value()?;
                            crit = true;
                        }
                        _ => {
                            let _: IgnoredAny = map.next_value()?;
                        }
                    }
                }
                Ok(Header {
                    alg: alg.ok_or_else(|| de::Error::missing_field("alg"))?,
                    kid,
                    typ,
                    crit,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// The names listed in a header's `crit`, for [`IdTokenError::CriticalHeader`].
fn critical_names(header_json: &[u8]) -> Vec<String> {
    let crit = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(header_json)
        .ok()
        .and_then(|mut map| map.remove("crit"))
        .unwrap_or_default();
    match crit {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
        other => vec![other.to_string()],
    }
}

fn b64(part: &str, which: JwtPart) -> Result<Vec<u8>, IdTokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| not_base64url(which))
}

fn not_base64url(part: JwtPart) -> IdTokenError {
    IdTokenError::Malformed {
        part,
        reason: "not base64url".to_owned(),
    }
}

/// A decoded JWT part that is usually small (the header, the signature): on the stack when it
/// fits, so that the common token costs no allocation for it.
enum Decoded<const N: usize> {
    Stack([u8; N], usize),
    Heap(Vec<u8>),
}

impl<const N: usize> Decoded<N> {
    fn new(part: &str, which: JwtPart) -> Result<Self, IdTokenError> {
        let mut buffer = [0u8; N];
        match URL_SAFE_NO_PAD.decode_slice(part, &mut buffer) {
            Ok(len) => Ok(Self::Stack(buffer, len)),
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => b64(part, which).map(Self::Heap),
            Err(base64::DecodeSliceError::DecodeError(_)) => Err(not_base64url(which)),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Stack(buffer, len) => buffer.get(..*len).unwrap_or_default(),
            Self::Heap(bytes) => bytes,
        }
    }
}

/// The hash size of a signature algorithm, in bits (for `at_hash` and HMAC key lengths).
pub(crate) fn hash_bits(alg: Algorithm) -> u16 {
    match alg {
        Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => 384,
        Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 => 512,
        _ => 256,
    }
}

fn malformed_header(reason: impl Into<String>) -> IdTokenError {
    IdTokenError::Malformed {
        part: JwtPart::Header,
        reason: reason.into(),
    }
}

/// Check structure, header, algorithm and signature of a compact JWS meant for `purpose`.
pub(crate) fn verify(
    jwt: &str,
    keys: &Jwks,
    client_secret: &ClientSecret,
    policy: &Policy,
    purpose: Purpose,
) -> Result<Signed<SignedJwt>, IdTokenError> {
    if jwt.len() > wire::MAX_JWT_BYTES {
        return Err(IdTokenError::TooLong {
            limit: wire::MAX_JWT_BYTES,
            len: jwt.len(),
        });
    }
    let mut parts = jwt.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed {
            part: JwtPart::Structure,
            reason: "not three dot-separated parts (JWE and unsecured JWTs are refused)".to_owned(),
        });
    };
    let header_json = Decoded::<256>::new(header_b64, JwtPart::Header)?;
    let header_json = header_json.bytes();
    if !wire::is_json_object(header_json) {
        return Err(malformed_header("not a JSON object"));
    }
    // RFC 7515 5.2: the header is UTF-8 JSON; serde skips unknown members without checking it.
    let Ok(header_text) = std::str::from_utf8(header_json) else {
        return Err(malformed_header("not UTF-8"));
    };
    // Bounded and linear: this runs before the signature check.
    wire::check_jose_members(header_json, JwtPart::Header)?;
    let header: Header = serde_json::from_str(header_text)
        .map_err(|e| malformed_header(wire::describe_json_error(&e)))?;
    if header.crit {
        return Err(IdTokenError::CriticalHeader {
            names: critical_names(header_json),
        });
    }
    if purpose == Purpose::UserInfo
        && let Some(typ) = header.typ.as_deref()
        && !is_userinfo_type(typ)
    {
        return Err(IdTokenError::UnexpectedType {
            expected: USERINFO_TYPES,
            found: typ.to_owned(),
        });
    }
    let not_allowed = || IdTokenError::AlgorithmNotAllowed {
        alg: header.alg.clone().into_owned(),
    };
    let alg: Algorithm = header.alg.parse().map_err(|_| not_allowed())?;
    if !policy.allowed_algorithms.contains(&alg) || alg == Algorithm::EdDSA {
        return Err(not_allowed());
    }
    let signature = Decoded::<512>::new(signature_b64, JwtPart::Signature)?;
    let signature = signature.bytes();
    if signature.is_empty() {
        return Err(IdTokenError::Malformed {
            part: JwtPart::Signature,
            reason: "empty signature".to_owned(),
        });
    }
    let message = jwt
        .as_bytes()
        .get(..header_b64.len() + 1 + claims_b64.len())
        .unwrap_or_default();
    let verified = |header: Header<'_>| -> Result<Signed<SignedJwt>, IdTokenError> {
        Ok(Signed::Verified(SignedJwt {
            alg,
            kid: header.kid.map(Cow::into_owned),
            claims_json: decode_claims(claims_b64)?,
        }))
    };

    let is_hmac = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
    if is_hmac {
        // HMAC is keyed by the client secret and nothing else: never by a JWK, so an operator's
        // public key can never be turned into an HMAC key (algorithm confusion).
        if client_secret.expose_secret().is_empty() {
            return Err(not_allowed());
        }
        // RFC 7518 3.2: the key must be at least as long as the hash output.
        let min_len = usize::from(hash_bits(alg) / 8);
        if client_secret.expose_secret().len() < min_len {
            return Err(IdTokenError::KeyRejected {
                alg: header.alg.into_owned(),
            });
        }
        let key = jsonwebtoken::DecodingKey::from_secret(client_secret.expose_secret().as_bytes());
        return match crypto::verify(alg, &key, message, signature) {
            Ok(()) => verified(header),
            Err(VerifyFailure::KeyRejected) => Err(IdTokenError::KeyRejected {
                alg: header.alg.into_owned(),
            }),
            Err(VerifyFailure::BadSignature) => Err(IdTokenError::BadSignature),
        };
    }

    let mut candidates = keys.keys().iter().filter(|k| match &header.kid {
        Some(kid) => k.kid() == Some(kid.as_ref()),
        None => true,
    });
    let mut tried_any = false;
    let mut rejected = false;
    for key in candidates.by_ref() {
        if !key.usable_for(alg) {
            continue;
        }
        tried_any = true;
        if key.is_weak() {
            rejected = true;
            continue;
        }
        match crypto::verify_with(alg, key.prepared(), key.decoding_key(), message, signature) {
            Ok(()) => return verified(header),
            Err(VerifyFailure::KeyRejected) => rejected = true,
            Err(VerifyFailure::BadSignature) => {}
        }
    }
    if tried_any {
        return Err(if rejected {
            IdTokenError::KeyRejected {
                alg: header.alg.into_owned(),
            }
        } else {
            IdTokenError::BadSignature
        });
    }
    let kid_known = header
        .kid
        .as_deref()
        .is_some_and(|kid| keys.keys().iter().any(|k| k.kid() == Some(kid)));
    match header.kid {
        Some(kid) if !kid_known => Ok(Signed::KeyMissing(IdTokenError::UnknownKeyId {
            kid: kid.into_owned(),
        })),
        None => Ok(Signed::KeyMissing(IdTokenError::NoUsableKey {
            alg: header.alg.into_owned(),
        })),
        Some(_) => Err(IdTokenError::NoUsableKey {
            alg: header.alg.into_owned(),
        }),
    }
}

/// The claims part of a verified JWS: base64url, UTF-8. (Whether it is a JSON object, the
/// member rules and the claims' types are the claims reader's, `id_token::read_claims`, which
/// every verified JWS goes through.)
fn decode_claims(claims_b64: &str) -> Result<String, IdTokenError> {
    String::from_utf8(b64(claims_b64, JwtPart::Claims)?).map_err(|_| IdTokenError::Malformed {
        part: JwtPart::Claims,
        reason: "not UTF-8".to_owned(),
    })
}
