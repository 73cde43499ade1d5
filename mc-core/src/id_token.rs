//! id_token verification: every rule of OpenID Connect Core 3.1.3.7 and the Mobile Connect
//! profile, against the operator's keys and the injected clock.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::crypto::{self, VerifyFailure};
use crate::error::{IdTokenError, JwtPart};
use crate::exchange::UnixTime;
use crate::jwks::Jwks;
use crate::registry::Policy;
use crate::secret::{ClientSecret, IdTokenJwt, Nonce, ct_eq};
use crate::wire;

/// The claims of a verified id_token.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct IdTokenClaims {
    /// Issuer.
    #[serde(default, deserialize_with = "claim::opt_string")]
    pub iss: Option<String>,
    /// Subject: in Mobile Connect the PCR, stable per user per SP.
    #[serde(default, deserialize_with = "claim::opt_string")]
    pub sub: Option<String>,
    /// Audiences (a string or an array on the wire).
    #[serde(default, deserialize_with = "claim::string_or_list")]
    pub aud: Vec<String>,
    /// Authorized party.
    #[serde(default, deserialize_with = "claim::opt_string")]
    pub azp: Option<String>,
    /// Expiry.
    #[serde(default, deserialize_with = "claim::opt_u64")]
    pub exp: Option<u64>,
    /// Issued at.
    #[serde(default, deserialize_with = "claim::opt_u64")]
    pub iat: Option<u64>,
    /// Not before.
    #[serde(default, deserialize_with = "claim::opt_u64")]
    pub nbf: Option<u64>,
    /// When the user authenticated.
    #[serde(default, deserialize_with = "claim::opt_u64")]
    pub auth_time: Option<u64>,
    /// The login's nonce.
    #[serde(default)]
    pub nonce: Option<Nonce>,
    /// The achieved level of assurance (`"2"`, `"3"`).
    #[serde(default, deserialize_with = "claim::opt_string")]
    pub acr: Option<String>,
    /// Authentication methods (`SIM_OK`, `SIM_PIN`, ...; a bare string on old sandboxes).
    #[serde(default, deserialize_with = "claim::string_or_list")]
    pub amr: Vec<String>,
    /// Access token hash.
    #[serde(default, deserialize_with = "claim::opt_string")]
    pub at_hash: Option<String>,
    /// MC: hash of the login hint the operator resolved.
    #[serde(default, deserialize_with = "claim::opt_string")]
    pub hashed_login_hint: Option<String>,
}

impl fmt::Debug for IdTokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdTokenClaims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("azp", &self.azp)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("nbf", &self.nbf)
            .field("auth_time", &self.auth_time)
            .field("nonce", &self.nonce)
            .field("acr", &self.acr)
            .field("amr", &self.amr)
            .field("at_hash", &self.at_hash.as_ref().map(|_| "[redacted]"))
            .field(
                "hashed_login_hint",
                &self.hashed_login_hint.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// A verified id_token: the compact form, its algorithm and key id, and its claims.
#[derive(Clone)]
pub struct IdToken {
    jwt: IdTokenJwt,
    alg: Algorithm,
    kid: Option<String>,
    claims: IdTokenClaims,
    claims_json: String,
}

impl IdToken {
    /// The compact JWT (for `id_token_hint`).
    #[must_use]
    pub fn jwt(&self) -> &IdTokenJwt {
        &self.jwt
    }

    /// The signature algorithm.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` of the key that verified it.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The typed claims.
    #[must_use]
    pub fn claims(&self) -> &IdTokenClaims {
        &self.claims
    }

    /// The subject (PCR). Always present on a verified token.
    #[must_use]
    pub fn sub(&self) -> &str {
        self.claims.sub.as_deref().unwrap_or_default()
    }

    /// The achieved LoA.
    #[must_use]
    pub fn acr(&self) -> Option<&str> {
        self.claims.acr.as_deref()
    }

    /// The authentication methods.
    #[must_use]
    pub fn amr(&self) -> &[String] {
        &self.claims.amr
    }

    /// Any claim by name, from the verified payload (e.g. `displayed_data`, `dts`, `recipient`).
    #[must_use]
    pub fn claim(&self, name: &str) -> Option<serde_json::Value> {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.claims_json).ok()?;
        map.get(name).cloned()
    }

    /// Whether `hashed_login_hint` equals `expected` (computed by the host's rule, e.g. lower-case
    /// hex SHA-256 of `MSISDN:<digits>`; the exact rule varies by operator), in constant time.
    #[must_use]
    pub fn hashed_login_hint_matches(&self, expected: &str) -> bool {
        self.claims
            .hashed_login_hint
            .as_deref()
            .is_some_and(|h| ct_eq(h.as_bytes(), expected.as_bytes()))
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdToken")
            .field("jwt", &self.jwt)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// The JOSE header members mc-core reads, borrowed from the decoded header where possible.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default, borrow)]
    kid: Option<Cow<'a, str>>,
    /// Only its presence matters here (a token with `crit` is refused); the names are read
    /// again for the error.
    #[serde(default)]
    crit: Option<IgnoredAny>,
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

/// What a login expects of its id_token.
#[derive(Debug)]
pub(crate) struct Expectations<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: &'a ClientSecret,
    pub(crate) nonce: Option<&'a Nonce>,
    pub(crate) max_age: Option<u64>,
    pub(crate) min_acr: Option<u8>,
    pub(crate) access_token: Option<&'a str>,
    pub(crate) require_at_hash: bool,
    pub(crate) require_amr: bool,
    pub(crate) policy: &'a Policy,
}

/// A signed JWT whose signature verified, with its header facts and raw claims.
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

fn hash_bits(alg: Algorithm) -> u16 {
    match alg {
        Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => 384,
        Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 => 512,
        _ => 256,
    }
}

/// Check structure, header, algorithm and signature of a compact JWS.
pub(crate) fn verify_signature(
    jwt: &str,
    keys: &Jwks,
    client_secret: &ClientSecret,
    policy: &Policy,
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
        return Err(IdTokenError::Malformed {
            part: JwtPart::Header,
            reason: "not a JSON object".to_owned(),
        });
    }
    // RFC 7515 5.2: the header is UTF-8 JSON; serde skips unknown members without checking it.
    if std::str::from_utf8(header_json).is_err() {
        return Err(IdTokenError::Malformed {
            part: JwtPart::Header,
            reason: "not UTF-8".to_owned(),
        });
    }
    if wire::has_duplicate_members(header_json) == Some(true) {
        return Err(IdTokenError::Malformed {
            part: JwtPart::Header,
            reason: "duplicate member".to_owned(),
        });
    }
    let header: Header =
        serde_json::from_slice(header_json).map_err(|e| IdTokenError::Malformed {
            part: JwtPart::Header,
            reason: wire::describe_json_error(&e),
        })?;
    if header.crit.is_some() {
        return Err(IdTokenError::CriticalHeader {
            names: critical_names(header_json),
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
            Ok(()) => Ok(Signed::Verified(SignedJwt {
                alg,
                kid: header.kid.map(Cow::into_owned),
                claims_json: decode_claims(claims_b64)?,
            })),
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
            Ok(()) => {
                return Ok(Signed::Verified(SignedJwt {
                    alg,
                    kid: header.kid.map(Cow::into_owned),
                    claims_json: decode_claims(claims_b64)?,
                }));
            }
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

fn decode_claims(claims_b64: &str) -> Result<String, IdTokenError> {
    let claims = String::from_utf8(b64(claims_b64, JwtPart::Claims)?).map_err(|_| {
        IdTokenError::Malformed {
            part: JwtPart::Claims,
            reason: "not UTF-8".to_owned(),
        }
    })?;
    // RFC 8725 2.6: a claim given twice is refused, never "last one wins" (this covers the
    // claims mc-core does not type, read later through `IdToken::claim` or signed userinfo).
    if wire::has_duplicate_members(claims.as_bytes()) == Some(true) {
        return Err(IdTokenError::Malformed {
            part: JwtPart::Claims,
            reason: "duplicate claim".to_owned(),
        });
    }
    Ok(claims)
}

fn parse_claims(claims_json: &str) -> Result<IdTokenClaims, IdTokenError> {
    if !wire::is_json_object(claims_json.as_bytes()) {
        return Err(IdTokenError::Malformed {
            part: JwtPart::Claims,
            reason: "not a JSON object".to_owned(),
        });
    }
    serde_json::from_str(claims_json).map_err(|e| IdTokenError::Malformed {
        part: JwtPart::Claims,
        reason: wire::describe_json_error(&e),
    })
}

/// The `at_hash` of an access token for a signature algorithm: the left half of its hash,
/// base64url without padding (OIDC Core 3.1.3.6).
#[must_use]
pub fn at_hash(access_token: &str, alg: Algorithm) -> Option<String> {
    let mut digest = [0u8; 64];
    let len = crypto::digest_into(access_token.as_bytes(), hash_bits(alg), &mut digest)?;
    Some(URL_SAFE_NO_PAD.encode(digest.get(..len / 2)?))
}

/// Whether `found` is the `at_hash` of `access_token` for `alg` (constant time), computed on the
/// stack.
fn at_hash_matches(access_token: &str, alg: Algorithm, found: &str) -> bool {
    let mut digest = [0u8; 64];
    let Some(len) = crypto::digest_into(access_token.as_bytes(), hash_bits(alg), &mut digest)
    else {
        return false;
    };
    let Some(half) = digest.get(..len / 2) else {
        return false;
    };
    let mut encoded = [0u8; 64];
    match URL_SAFE_NO_PAD.encode_slice(half, &mut encoded) {
        Ok(n) => encoded
            .get(..n)
            .is_some_and(|expected| ct_eq(expected, found.as_bytes())),
        Err(_) => false,
    }
}

/// Verify a whole id_token: signature first, then every claim rule.
pub(crate) fn verify(
    jwt: IdTokenJwt,
    keys: &Jwks,
    expect: &Expectations<'_>,
    now: UnixTime,
) -> Result<Signed<IdToken>, IdTokenError> {
    let signed = match verify_signature(
        jwt.expose_secret(),
        keys,
        expect.client_secret,
        expect.policy,
    )? {
        Signed::Verified(signed) => signed,
        Signed::KeyMissing(error) => return Ok(Signed::KeyMissing(error)),
    };
    let claims = parse_claims(&signed.claims_json)?;
    check_claims(&claims, signed.alg, expect, now)?;
    Ok(Signed::Verified(IdToken {
        jwt,
        alg: signed.alg,
        kid: signed.kid,
        claims,
        claims_json: signed.claims_json,
    }))
}

fn check_claims(
    claims: &IdTokenClaims,
    alg: Algorithm,
    expect: &Expectations<'_>,
    now: UnixTime,
) -> Result<(), IdTokenError> {
    let now = now.as_secs();
    let leeway = expect.policy.leeway_secs;

    let iss = claims
        .iss
        .as_deref()
        .ok_or(IdTokenError::MissingClaim { claim: "iss" })?;
    if iss != expect.issuer {
        return Err(IdTokenError::IssuerMismatch {
            expected: expect.issuer.to_owned(),
            found: iss.to_owned(),
        });
    }
    if claims.aud.is_empty() {
        return Err(IdTokenError::MissingClaim { claim: "aud" });
    }
    if !claims.aud.iter().any(|a| a == expect.client_id) {
        return Err(IdTokenError::AudienceMismatch {
            client_id: expect.client_id.to_owned(),
            found: claims.aud.clone(),
        });
    }
    match &claims.azp {
        Some(azp) if azp != expect.client_id => {
            return Err(IdTokenError::AuthorizedPartyMismatch {
                client_id: expect.client_id.to_owned(),
                found: azp.clone(),
            });
        }
        None if claims.aud.len() > 1 => return Err(IdTokenError::AuthorizedPartyMissing),
        _ => {}
    }
    if claims.sub.as_deref().is_none_or(str::is_empty) {
        return Err(IdTokenError::MissingClaim { claim: "sub" });
    }
    let exp = claims
        .exp
        .ok_or(IdTokenError::MissingClaim { claim: "exp" })?;
    if now >= exp.saturating_add(leeway) {
        return Err(IdTokenError::Expired { exp, now, leeway });
    }
    if let Some(nbf) = claims.nbf
        && nbf > now.saturating_add(leeway)
    {
        return Err(IdTokenError::NotYetValid { nbf, now, leeway });
    }
    let iat = claims
        .iat
        .ok_or(IdTokenError::MissingClaim { claim: "iat" })?;
    if iat > now.saturating_add(leeway) {
        return Err(IdTokenError::IssuedInFuture { iat, now, leeway });
    }
    if let Some(max_age) = expect.policy.max_token_age_secs
        && now.saturating_sub(iat) > max_age.saturating_add(leeway)
    {
        return Err(IdTokenError::IssuedTooLongAgo { iat, now, max_age });
    }
    if let Some(max_age) = expect.max_age {
        let auth_time = claims.auth_time.ok_or(IdTokenError::AuthTimeMissing)?;
        if now > auth_time.saturating_add(max_age).saturating_add(leeway) {
            return Err(IdTokenError::AuthTooOld {
                auth_time,
                max_age,
                now,
            });
        }
    }
    if let Some(expected) = expect.nonce {
        match &claims.nonce {
            None => return Err(IdTokenError::NonceMissing),
            Some(found) if found != expected => return Err(IdTokenError::NonceMismatch),
            Some(_) => {}
        }
    }
    if let Some(requested) = expect.min_acr {
        let found = claims.acr.as_deref().ok_or(IdTokenError::AcrMissing)?;
        let achieved = found.trim().parse::<u8>().ok();
        if achieved.is_none_or(|a| a < requested) {
            return Err(IdTokenError::AcrTooLow {
                requested,
                found: found.to_owned(),
            });
        }
    }
    match (&claims.at_hash, expect.access_token) {
        (Some(found), Some(access_token)) if !at_hash_matches(access_token, alg, found) => {
            return Err(IdTokenError::AtHashMismatch);
        }
        (None, _) if expect.require_at_hash => return Err(IdTokenError::AtHashMissing),
        _ => {}
    }
    if expect.require_amr && claims.amr.is_empty() {
        return Err(IdTokenError::AmrMissing);
    }
    Ok(())
}

/// The lenient claim shapes of [`wire::lenient`], read straight from the JSON: scalars and arrays
/// of strings without an intermediate `serde_json::Value` per claim. Anything rarer (an object,
/// or a number in serde_json's arbitrary-precision form) is collected into a `Value` and handed
/// to `wire::lenient` itself, so the results are the same by construction.
mod claim {
    use std::fmt;

    use serde::Deserialize as _;
    use serde::de::value::MapAccessDeserializer;
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use crate::wire::lenient;

    fn value_of_map<'de, A: MapAccess<'de>>(map: A) -> Result<serde_json::Value, A::Error> {
        serde_json::Value::deserialize(MapAccessDeserializer::new(map))
    }

    fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    /// A number as serde_json's `Value` would print it.
    fn float_text(f: f64) -> Option<String> {
        serde_json::Number::from_f64(f).map(|n| n.to_string())
    }

    /// As `wire::lenient`'s number rule: a finite, non-negative float below 1.8e19, truncated.
    fn float_secs(f: f64) -> Option<u64> {
        if f.is_finite() && (0.0..1.8e19).contains(&f) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(f.trunc() as u64)
        } else {
            None
        }
    }

    fn text_secs(s: &str) -> Option<u64> {
        let s = s.trim();
        s.parse::<u64>()
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(float_secs))
    }

    /// [`lenient::opt_string`].
    pub(super) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(float_text(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                skip_seq(seq).map(|()| None)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                lenient::opt_string(value_of_map(map)?).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }

    /// [`lenient::opt_u64`].
    pub(super) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<u64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(text_secs(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                // serde_json hands only negative integers to `visit_i64`.
                Ok(u64::try_from(v).ok())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(float_secs(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                skip_seq(seq).map(|()| None)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                lenient::opt_u64(value_of_map(map)?).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }

    /// One element of a list claim: a string, or nothing.
    struct Element(Option<String>);

    impl<'de> serde::Deserialize<'de> for Element {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Element;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Element, E> {
                    Ok(Element(Some(v.to_owned())))
                }
                fn visit_string<E: de::Error>(self, v: String) -> Result<Element, E> {
                    Ok(Element(Some(v)))
                }
                fn visit_u64<E: de::Error>(self, _: u64) -> Result<Element, E> {
                    Ok(Element(None))
                }
                fn visit_i64<E: de::Error>(self, _: i64) -> Result<Element, E> {
                    Ok(Element(None))
                }
                fn visit_f64<E: de::Error>(self, _: f64) -> Result<Element, E> {
                    Ok(Element(None))
                }
                fn visit_bool<E: de::Error>(self, _: bool) -> Result<Element, E> {
                    Ok(Element(None))
                }
                fn visit_unit<E: de::Error>(self) -> Result<Element, E> {
                    Ok(Element(None))
                }
                fn visit_none<E: de::Error>(self) -> Result<Element, E> {
                    Ok(Element(None))
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Element, D::Error> {
                    d.deserialize_any(self)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
                    skip_seq(seq).map(|()| Element(None))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Element, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Element(None))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// [`lenient::string_or_list`].
    pub(super) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(vec![v.to_owned()])
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(vec![v])
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(8));
                while let Some(Element(item)) = seq.next_element()? {
                    items.extend(item);
                }
                Ok(items)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                lenient::string_or_list(value_of_map(map)?).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}
