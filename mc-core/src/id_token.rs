//! id_token verification: the claim rules of OpenID Connect Core 3.1.3.7 and the Mobile
//! Connect profile against the injected clock, and `at_hash`. The JWS itself (header rules,
//! algorithm allow-list, key choice, signature) is `jws.rs`'s; the claims are read by the one
//! lenient reader (`wire::lenient`). The issuer, audience and validity-window rules are shared
//! with signed userinfo.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::crypto;
use crate::error::{IdTokenError, JwtPart};
use crate::exchange::UnixTime;
use crate::jwks::Jwks;
use crate::jws::{self, Purpose, Signed};
use crate::registry::Policy;
use crate::secret::{ClientSecret, IdTokenJwt, Nonce, ct_eq};
use crate::wire;
use crate::wire::lenient::{Invalid, List, Read, Seconds, Shape, Strict, Text, TextOrInteger};

/// The registered claims of a verified id_token (or of a signed userinfo answer).
///
/// Read leniently where operators drift (dates as floats or strings, `aud` and `amr` as one
/// string, `acr` as an integer) and strictly otherwise: a claim that is present but not of its
/// type (`"nbf": "tomorrow"`, `"sub": 42`, `"azp": null`, `"aud": ["client", 42]`) refuses the
/// token with [`IdTokenError::InvalidClaim`], never counts as absent. A claim given twice is
/// refused too.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: Option<String>,
    /// Subject: in Mobile Connect the PCR, stable per user per SP. A JSON string (a number
    /// would lose digits).
    pub sub: Option<String>,
    /// Audiences (a string or an array of strings on the wire).
    pub aud: Vec<String>,
    /// Authorized party.
    pub azp: Option<String>,
    /// Expiry (a NumericDate: an integer, a float truncated, or a string of either).
    pub exp: Option<u64>,
    /// Issued at.
    pub iat: Option<u64>,
    /// Not before.
    pub nbf: Option<u64>,
    /// When the user authenticated.
    pub auth_time: Option<u64>,
    /// The login's nonce.
    pub nonce: Option<Nonce>,
    /// The achieved level of assurance (`"2"`, `"3"`; an integer on the wire reads as its
    /// digits).
    pub acr: Option<String>,
    /// Authentication methods (`SIM_OK`, `SIM_PIN`, ...; a bare string on old sandboxes).
    pub amr: Vec<String>,
    /// Access token hash.
    pub at_hash: Option<String>,
    /// MC: hash of the login hint the operator resolved.
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

/// A registered claim that is present but not of its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InvalidClaim {
    claim: &'static str,
    reason: &'static str,
}

impl From<InvalidClaim> for IdTokenError {
    fn from(e: InvalidClaim) -> Self {
        Self::InvalidClaim {
            claim: e.claim,
            reason: e.reason,
        }
    }
}

/// The next member's value read as shape `S`, the verdict kept.
fn value<'de, A: MapAccess<'de>, S: Shape>(map: &mut A) -> Result<Read<S::Out>, A::Error> {
    Ok(map.next_value::<Strict<S>>()?.0)
}

/// Why a claim set that is a JSON object is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClaimsVerdict {
    /// More than [`wire::MAX_CLAIMS`] members (reading stopped at the first one over).
    TooMany,
    /// A member name given twice (RFC 8725 2.6: never "last one wins").
    Duplicate,
    /// A registered claim present but not of its type.
    Invalid(InvalidClaim),
}

impl From<ClaimsVerdict> for IdTokenError {
    fn from(verdict: ClaimsVerdict) -> Self {
        match verdict {
            ClaimsVerdict::TooMany => Self::TooManyMembers {
                part: JwtPart::Claims,
                limit: wire::MAX_CLAIMS,
            },
            ClaimsVerdict::Duplicate => Self::Malformed {
                part: JwtPart::Claims,
                reason: "duplicate claim".to_owned(),
            },
            ClaimsVerdict::Invalid(e) => e.into(),
        }
    }
}

/// The claim set visitor: each registered claim read by its shape, every other member skipped
/// unread, the member rules checked on the way (at most [`wire::MAX_CLAIMS`] members, no name
/// twice, names compared after JSON unescaping) in the same single pass. Over the bound, reading
/// stops (serde_json lets a visitor leave a map early only through an error: `too_many` tells
/// that error apart). Otherwise a repeated name is the verdict, then the first claim present but
/// unreadable (in document order); the rest of the object is still read, so that a syntax error
/// after it is reported as such.
struct ClaimsVisitor<'a> {
    too_many: &'a mut bool,
}

impl<'de> Visitor<'de> for ClaimsVisitor<'_> {
    type Value = Result<IdTokenClaims, ClaimsVerdict>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut c = IdTokenClaims::default();
        let mut seen = 0u16;
        let mut repeated = false;
        let mut members = 0usize;
        // The names of the members mc-core does not type (the registered ones are told apart by
        // `seen`), sorted once at the end to find a repeat.
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        let mut first_error: Option<InvalidClaim> = None;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            members += 1;
            if members > wire::MAX_CLAIMS {
                *self.too_many = true;
                return Err(de::Error::custom("too many members"));
            }
            let (bit, claim, read): (u16, &'static str, Read<()>) = match &*name {
                "iss" => (
                    0,
                    "iss",
                    value::<A, Text>(&mut map)?.map(|v| c.iss = Some(v)),
                ),
                "sub" => (
                    1,
                    "sub",
                    value::<A, Text>(&mut map)?.map(|v| c.sub = Some(v)),
                ),
                "aud" => (2, "aud", value::<A, List>(&mut map)?.map(|v| c.aud = v)),
                "azp" => (
                    3,
                    "azp",
                    value::<A, Text>(&mut map)?.map(|v| c.azp = Some(v)),
                ),
                "exp" => (
                    4,
                    "exp",
                    value::<A, Seconds>(&mut map)?.map(|v| c.exp = Some(v)),
                ),
                "iat" => (
                    5,
                    "iat",
                    value::<A, Seconds>(&mut map)?.map(|v| c.iat = Some(v)),
                ),
                "nbf" => (
                    6,
                    "nbf",
                    value::<A, Seconds>(&mut map)?.map(|v| c.nbf = Some(v)),
                ),
                "auth_time" => (
                    7,
                    "auth_time",
                    value::<A, Seconds>(&mut map)?.map(|v| c.auth_time = Some(v)),
                ),
                "nonce" => (
                    8,
                    "nonce",
                    value::<A, Text>(&mut map)?.map(|v| c.nonce = Some(Nonce::new(v))),
                ),
                "acr" => (
                    9,
                    "acr",
                    value::<A, TextOrInteger>(&mut map)?.map(|v| c.acr = Some(v)),
                ),
                "amr" => (10, "amr", value::<A, List>(&mut map)?.map(|v| c.amr = v)),
                "at_hash" => (
                    11,
                    "at_hash",
                    value::<A, Text>(&mut map)?.map(|v| c.at_hash = Some(v)),
                ),
                "hashed_login_hint" => (
                    12,
                    "hashed_login_hint",
                    value::<A, Text>(&mut map)?.map(|v| c.hashed_login_hint = Some(v)),
                ),
                _ => {
                    let _: IgnoredAny = map.next_value()?;
                    others.push(name);
                    continue;
                }
            };
            repeated |= seen & (1 << bit) != 0;
            seen |= 1 << bit;
            if let (Err(Invalid(reason)), None) = (read, first_error) {
                first_error = Some(InvalidClaim { claim, reason });
            }
        }
        others.sort_unstable();
        repeated |= others.windows(2).any(|pair| pair.first() == pair.last());
        Ok(if repeated {
            Err(ClaimsVerdict::Duplicate)
        } else {
            first_error.map_or(Ok(c), |e| Err(ClaimsVerdict::Invalid(e)))
        })
    }
}

impl<'de> Deserialize<'de> for IdTokenClaims {
    /// The registered claims of a JSON object; a claim present but unreadable fails with a
    /// message naming it (`claim nbf: not a number`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut too_many = false;
        d.deserialize_map(ClaimsVisitor {
            too_many: &mut too_many,
        })?
        .map_err(|verdict| match verdict {
            ClaimsVerdict::Invalid(e) => {
                de::Error::custom(format_args!("claim {}: {}", e.claim, e.reason))
            }
            ClaimsVerdict::Duplicate => de::Error::custom("duplicate claim"),
            ClaimsVerdict::TooMany => de::Error::custom("too many members"),
        })
    }
}

/// Read a claim set (the decoded JWS payload): a JSON object, each registered claim of its
/// type.
pub(crate) fn read_claims(claims_json: &str) -> Result<IdTokenClaims, IdTokenError> {
    let malformed = |reason: String| IdTokenError::Malformed {
        part: JwtPart::Claims,
        reason,
    };
    if !wire::is_json_object(claims_json.as_bytes()) {
        return Err(malformed("not a JSON object".to_owned()));
    }
    let mut de = serde_json::Deserializer::from_str(claims_json);
    let mut too_many = false;
    let read = de
        .deserialize_map(ClaimsVisitor {
            too_many: &mut too_many,
        })
        .and_then(|read| de.end().map(|()| read));
    match read {
        _ if too_many => Err(ClaimsVerdict::TooMany.into()),
        Ok(read) => Ok(read?),
        Err(e) => Err(malformed(wire::describe_json_error(&e))),
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

/// Whether a claim shared by id_tokens and signed userinfo must be present (id_token) or is
/// checked only when present (signed userinfo, OIDC Core 5.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    Required,
    WhenPresent,
}

/// `iss` exactly the operator's issuer; `aud` containing our client_id; `azp`, if present, our
/// client_id, and required with several audiences (OIDC Core 3.1.3.7 steps 2 to 5). The one
/// copy of these rules, for id_tokens and signed userinfo.
pub(crate) fn check_issuer_and_audience(
    claims: &IdTokenClaims,
    issuer: &str,
    client_id: &str,
    presence: Presence,
) -> Result<(), IdTokenError> {
    let required = presence == Presence::Required;
    match claims.iss.as_deref() {
        None if required => return Err(IdTokenError::MissingClaim { claim: "iss" }),
        Some(iss) if iss != issuer => {
            return Err(IdTokenError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: iss.to_owned(),
            });
        }
        _ => {}
    }
    if claims.aud.is_empty() {
        if required {
            return Err(IdTokenError::MissingClaim { claim: "aud" });
        }
    } else if !claims.aud.iter().any(|a| a == client_id) {
        return Err(IdTokenError::AudienceMismatch {
            client_id: client_id.to_owned(),
            found: claims.aud.clone(),
        });
    }
    match &claims.azp {
        Some(azp) if azp != client_id => Err(IdTokenError::AuthorizedPartyMismatch {
            client_id: client_id.to_owned(),
            found: azp.clone(),
        }),
        None if claims.aud.len() > 1 => Err(IdTokenError::AuthorizedPartyMissing),
        _ => Ok(()),
    }
}

/// `exp` not past, `nbf` not future, `iat` not future, each against `now` with `leeway`
/// (RFC 7519 4.1.4 to 4.1.6; OIDC Core 3.1.3.7 steps 9 and 10). For an id_token `exp` and
/// `iat` must be present. The one copy of these rules, for id_tokens and signed userinfo.
pub(crate) fn check_validity(
    claims: &IdTokenClaims,
    now: u64,
    leeway: u64,
    presence: Presence,
) -> Result<(), IdTokenError> {
    let required = presence == Presence::Required;
    match claims.exp {
        None if required => return Err(IdTokenError::MissingClaim { claim: "exp" }),
        Some(exp) if now >= exp.saturating_add(leeway) => {
            return Err(IdTokenError::Expired { exp, now, leeway });
        }
        _ => {}
    }
    if let Some(nbf) = claims.nbf
        && nbf > now.saturating_add(leeway)
    {
        return Err(IdTokenError::NotYetValid { nbf, now, leeway });
    }
    match claims.iat {
        None if required => Err(IdTokenError::MissingClaim { claim: "iat" }),
        Some(iat) if iat > now.saturating_add(leeway) => {
            Err(IdTokenError::IssuedInFuture { iat, now, leeway })
        }
        _ => Ok(()),
    }
}

/// The level of assurance an `acr` value names: exactly `"1"` to `"4"` (the Mobile Connect
/// LoA values; an integer `acr` on the wire reads as the same digits). Anything else (`"+3"`,
/// `"003"`, `" 3"`, `"loa3"`) names no level.
fn level_of_assurance(acr: &str) -> Option<u8> {
    match acr {
        "1" => Some(1),
        "2" => Some(2),
        "3" => Some(3),
        "4" => Some(4),
        _ => None,
    }
}

/// The `at_hash` of an access token for a signature algorithm: the left half of its hash,
/// base64url without padding (OIDC Core 3.1.3.6).
#[must_use]
pub fn at_hash(access_token: &str, alg: Algorithm) -> Option<String> {
    let mut digest = [0u8; 64];
    let len = crypto::digest_into(access_token.as_bytes(), jws::hash_bits(alg), &mut digest)?;
    Some(URL_SAFE_NO_PAD.encode(digest.get(..len / 2)?))
}

/// Whether `found` is the `at_hash` of `access_token` for `alg` (constant time), computed on the
/// stack.
fn at_hash_matches(access_token: &str, alg: Algorithm, found: &str) -> bool {
    let mut digest = [0u8; 64];
    let Some(len) = crypto::digest_into(access_token.as_bytes(), jws::hash_bits(alg), &mut digest)
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
    let signed = match jws::verify(
        jwt.expose_secret(),
        keys,
        expect.client_secret,
        expect.policy,
        Purpose::IdToken,
    )? {
        Signed::Verified(signed) => signed,
        Signed::KeyMissing(error) => return Ok(Signed::KeyMissing(error)),
    };
    let claims = read_claims(&signed.claims_json)?;
    check_claims(&claims, signed.alg, expect, now)?;
    Ok(Signed::Verified(IdToken {
        jwt,
        alg: signed.alg,
        kid: signed.kid,
        claims,
        claims_json: signed.claims_json,
    }))
}

/// The rules an id_token is held to outside a login (a diagnostic tool, a token kept from an
/// earlier login): the same JWS and claim rules as the token exchange, signature first. `iss`
/// exactly `issuer`, `aud`/`azp` naming `client_id`, `sub`, `exp`/`nbf`/`iat` (and
/// `max_token_age_secs`) against `now` with the policy's leeway, `auth_time` not in the future,
/// and `nonce` when one is given. HMAC algorithms only when `policy` allows them, keyed by
/// `client_secret`. What only a login knows (`max_age`, the requested `acr`, the access token
/// for `at_hash`) is not checked.
///
/// ```
/// use mc_core::id_token::IdTokenRules;
/// use mc_core::{ClientSecret, IdTokenError, Jwks, Policy, UnixTime};
/// let keys = Jwks::parse(br#"{"keys":[]}"#)?;
/// let rules = IdTokenRules {
///     issuer: "https://op.example",
///     client_id: "my-client-id",
///     client_secret: &ClientSecret::new(""),
///     nonce: None,
///     policy: &Policy::default(),
/// };
/// let verdict = rules.verify("not.a.jwt", &keys, UnixTime::from_secs(1_790_000_000));
/// assert!(matches!(verdict, Err(IdTokenError::Malformed { .. })));
/// # Ok::<(), mc_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct IdTokenRules<'a> {
    /// The issuer the token must name.
    pub issuer: &'a str,
    /// The client the token must be for.
    pub client_id: &'a str,
    /// The key of HMAC algorithms, when the policy allows them.
    pub client_secret: &'a ClientSecret,
    /// The nonce the token must carry, if any.
    pub nonce: Option<&'a Nonce>,
    /// The algorithms allowed, the leeway, the token age.
    pub policy: &'a Policy,
}

impl IdTokenRules<'_> {
    /// Verify `jwt` with `keys` at `now`.
    ///
    /// # Errors
    /// The [`IdTokenError`] naming the first rule broken; a token whose key is not in `keys`
    /// gives [`IdTokenError::UnknownKeyId`] or [`IdTokenError::NoUsableKey`] (no refetch here).
    pub fn verify(&self, jwt: &str, keys: &Jwks, now: UnixTime) -> Result<IdToken, IdTokenError> {
        let expect = Expectations {
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret: self.client_secret,
            nonce: self.nonce,
            max_age: None,
            min_acr: None,
            access_token: None,
            require_at_hash: false,
            require_amr: false,
            policy: self.policy,
        };
        match verify(IdTokenJwt::new(jwt), keys, &expect, now)? {
            Signed::Verified(token) => Ok(token),
            Signed::KeyMissing(error) => Err(error),
        }
    }
}

fn check_claims(
    claims: &IdTokenClaims,
    alg: Algorithm,
    expect: &Expectations<'_>,
    now: UnixTime,
) -> Result<(), IdTokenError> {
    let now = now.as_secs();
    let leeway = expect.policy.leeway_secs;

    check_issuer_and_audience(claims, expect.issuer, expect.client_id, Presence::Required)?;
    if claims.sub.as_deref().is_none_or(str::is_empty) {
        return Err(IdTokenError::MissingClaim { claim: "sub" });
    }
    check_validity(claims, now, leeway, Presence::Required)?;
    let iat = claims
        .iat
        .ok_or(IdTokenError::MissingClaim { claim: "iat" })?;
    if let Some(max_age) = expect.policy.max_token_age_secs
        && now.saturating_sub(iat) > max_age.saturating_add(leeway)
    {
        return Err(IdTokenError::IssuedTooLongAgo { iat, now, max_age });
    }
    // A user cannot have authenticated after now, nor after the token was issued: a future
    // `auth_time` would pass any `max_age`.
    if let Some(auth_time) = claims.auth_time {
        if auth_time > now.saturating_add(leeway) {
            return Err(IdTokenError::AuthTimeInFuture {
                auth_time,
                now,
                leeway,
            });
        }
        if auth_time > iat.saturating_add(leeway) {
            return Err(IdTokenError::AuthTimeAfterIssue {
                auth_time,
                iat,
                leeway,
            });
        }
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
        let Some(achieved) = level_of_assurance(found) else {
            return Err(IdTokenError::AcrUnknown {
                found: found.to_owned(),
            });
        };
        if achieved < requested {
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
    // An empty string names no method: `["" ]` does not satisfy the Mobile Connect DI rule.
    if expect.require_amr && !claims.amr.iter().any(|m| !m.is_empty()) {
        return Err(IdTokenError::AmrMissing);
    }
    Ok(())
}
