//! Mutation properties of id_token verification: start from a valid signed id_token of a login,
//! apply ONE random mutation (a claim value, a header member, a signature byte, a segment cut
//! or removed, another signing key), and check that the token is rejected with the error that
//! names the broken part, or accepted when the mutation leaves it valid (`typ`, `jku`, a later
//! `exp`, a higher `acr`...). Plus the exchanges' `respond` with arbitrary status, headers and
//! bodies for the steps `parsers_prop.rs` does not drive (metadata, JWKS, token): never a panic,
//! never a success from a non-200 answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, AuthorizeOptions, Error, Exchange as _, IdTokenError, JwtPart, Tokens, Verified,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};

/// The login under test asks for `max_age` (so `auth_time` is checked) and a Mobile Connect
/// identity scope (so the profile requires `at_hash` and `amr`), at LoA 2.
const MAX_AGE: u64 = 600;
const LEEWAY: u64 = 30;

fn options() -> AuthorizeOptions {
    AuthorizeOptions::new()
        .scope(["mc_authn", "mc_identity_phonenumber"])
        .acr_values([2])
        .max_age(MAX_AGE)
}

/// Every case signs a fresh RSA token; the pure-Rust backend signs slowly in debug builds.
fn cases(aws_lc: u32, rust_crypto: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(if cfg!(feature = "aws-lc-rs") {
            aws_lc
        } else {
            rust_crypto
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations and what they must cause
// ---------------------------------------------------------------------------------------------

/// What verification must say about a mutated token.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The mutation leaves the token valid.
    Accepted,
    /// Rejected with an error naming the broken part (`rule` is the name printed on failure).
    Rejected {
        rule: &'static str,
        check: fn(&IdTokenError) -> bool,
    },
}

/// One mutation of the valid token.
#[derive(Clone, Debug)]
enum Mutation {
    /// Set (`Some`) or remove (`None`) a claim before signing.
    Claim(&'static str, Option<Value>),
    /// Set or remove a JOSE header member before signing (the token is re-signed by the right
    /// key, so only the header change itself is judged).
    Header(&'static str, Option<Value>),
    /// Flip one bit of the decoded signature.
    SignatureBit { index: usize, bit: u8 },
    /// Replace one character of the base64url signature.
    SignatureChar { index: usize, with: char },
    /// Keep only the first `keep` characters of segment 0 (header), 1 (claims) or 2 (signature).
    Truncate { segment: usize, keep: usize },
    /// Drop segment 0, 1 or 2 (with its dot).
    Remove { segment: usize },
    /// Append a fourth segment.
    Extra(String),
    /// Sign with another RSA key under the same `kid`.
    OtherKey,
}

#[derive(Clone, Debug)]
struct Case {
    mutation: Mutation,
    expect: Expect,
}

fn case(mutation: Mutation, expect: Expect) -> Case {
    Case { mutation, expect }
}

fn reject(rule: &'static str, check: fn(&IdTokenError) -> bool) -> Expect {
    Expect::Rejected { rule, check }
}

fn claim(name: &'static str, value: Option<Value>, expect: Expect) -> Case {
    case(Mutation::Claim(name, value), expect)
}

fn header(name: &'static str, value: Option<Value>, expect: Expect) -> Case {
    case(Mutation::Header(name, value), expect)
}

/// JSON values that are neither strings nor numbers: no registered claim reads them (a claim
/// present with one is unreadable, never absent).
fn non_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(|b| json!(b)),
        Just(json!({})),
        Just(json!([])),
    ]
}

/// A claim present but unreadable as its type: `InvalidClaim` naming it.
fn unreadable(claim: &'static str) -> Expect {
    // A fn pointer cannot capture `claim`, so each claim has its own checker.
    macro_rules! invalid {
        ($name:literal) => {
            reject(concat!("InvalidClaim{", $name, "}"), |e| {
                matches!(e, IdTokenError::InvalidClaim { claim: $name, .. })
            })
        };
    }
    match claim {
        "iss" => invalid!("iss"),
        "aud" => invalid!("aud"),
        "azp" => invalid!("azp"),
        "sub" => invalid!("sub"),
        "exp" => invalid!("exp"),
        "iat" => invalid!("iat"),
        "nbf" => invalid!("nbf"),
        "auth_time" => invalid!("auth_time"),
        "nonce" => invalid!("nonce"),
        "acr" => invalid!("acr"),
        "amr" => invalid!("amr"),
        "at_hash" => invalid!("at_hash"),
        _ => unreachable!("no InvalidClaim case for {claim}"),
    }
}

fn other_string(not: &'static str) -> impl Strategy<Value = String> {
    "[ -~]{0,40}".prop_filter("a different value", move |s| s != not)
}

fn missing(claim: &'static str) -> Expect {
    // A fn pointer cannot capture `claim`, so each claim has its own checker.
    match claim {
        "iss" => reject("MissingClaim{iss}", |e| {
            matches!(e, IdTokenError::MissingClaim { claim: "iss" })
        }),
        "aud" => reject("MissingClaim{aud}", |e| {
            matches!(e, IdTokenError::MissingClaim { claim: "aud" })
        }),
        "sub" => reject("MissingClaim{sub}", |e| {
            matches!(e, IdTokenError::MissingClaim { claim: "sub" })
        }),
        "exp" => reject("MissingClaim{exp}", |e| {
            matches!(e, IdTokenError::MissingClaim { claim: "exp" })
        }),
        "iat" => reject("MissingClaim{iat}", |e| {
            matches!(e, IdTokenError::MissingClaim { claim: "iat" })
        }),
        _ => unreachable!("no MissingClaim for {claim}"),
    }
}

fn iss_cases() -> impl Strategy<Value = Case> {
    let mismatch = reject("IssuerMismatch", |e| {
        matches!(e, IdTokenError::IssuerMismatch { .. })
    });
    prop_oneof![
        other_string(ISSUER).prop_map(move |s| claim("iss", Some(json!(s)), mismatch)),
        // Near misses of the exact comparison.
        prop::sample::select(vec![
            "https://op.example/",
            "https://OP.example",
            "http://op.example",
            "https://op.example ",
            "https://op.example.evil",
            "op.example",
        ])
        .prop_map(move |s| claim("iss", Some(json!(s)), mismatch)),
        any::<i64>().prop_map(|n| claim("iss", Some(json!(n)), unreadable("iss"))),
        non_scalar().prop_map(|v| claim("iss", Some(v), unreadable("iss"))),
        Just(claim("iss", None, missing("iss"))),
    ]
}

fn aud_cases() -> impl Strategy<Value = Case> {
    let mismatch = reject("AudienceMismatch", |e| {
        matches!(e, IdTokenError::AudienceMismatch { .. })
    });
    prop_oneof![
        other_string(CLIENT_ID).prop_map(move |s| claim("aud", Some(json!(s)), mismatch)),
        prop::collection::vec(other_string(CLIENT_ID), 1..4).prop_map(move |v| claim(
            "aud",
            Some(json!(v)),
            mismatch
        )),
        Just(claim("aud", Some(json!([])), missing("aud"))),
        Just(claim("aud", None, missing("aud"))),
        non_scalar()
            .prop_filter("[] is an empty list", |v| *v != json!([]))
            .prop_map(|v| claim("aud", Some(v), unreadable("aud"))),
        any::<i64>().prop_map(|n| claim("aud", Some(json!(n)), unreadable("aud"))),
        // Our client_id next to a value that is not a string: unreadable, not "one audience".
        any::<i64>().prop_map(|n| claim("aud", Some(json!([CLIENT_ID, n])), unreadable("aud"))),
        // Still valid: our client_id as a plain string, or among others (azp names us).
        Just(claim("aud", Some(json!(CLIENT_ID)), Expect::Accepted)),
        prop::collection::vec(other_string(CLIENT_ID), 1..3).prop_map(|mut v| {
            v.push(CLIENT_ID.to_owned());
            claim("aud", Some(json!(v)), Expect::Accepted)
        }),
    ]
}

fn azp_cases() -> impl Strategy<Value = Case> {
    let mismatch = reject("AuthorizedPartyMismatch", |e| {
        matches!(e, IdTokenError::AuthorizedPartyMismatch { .. })
    });
    prop_oneof![
        other_string(CLIENT_ID).prop_map(move |s| claim("azp", Some(json!(s)), mismatch)),
        any::<i64>().prop_map(|n| claim("azp", Some(json!(n)), unreadable("azp"))),
        non_scalar().prop_map(|v| claim("azp", Some(v), unreadable("azp"))),
        Just(claim("azp", Some(json!([CLIENT_ID])), unreadable("azp"))),
        // Valid: no azp with a single audience.
        Just(claim("azp", None, Expect::Accepted)),
    ]
}

fn sub_cases() -> impl Strategy<Value = Case> {
    prop_oneof![
        Just(claim("sub", Some(json!("")), missing("sub"))),
        Just(claim("sub", None, missing("sub"))),
        non_scalar().prop_map(|v| claim("sub", Some(v), unreadable("sub"))),
        // A number is not a subject (a float would merge distinct ones).
        any::<u64>().prop_map(|n| claim("sub", Some(json!(n)), unreadable("sub"))),
        // Valid: any other subject (sub is the operator's to choose; userinfo is matched to it).
        "[ -~]{1,40}".prop_map(|s| claim("sub", Some(json!(s)), Expect::Accepted)),
    ]
}

/// A time as the wire may carry it: integer, float, or string of either.
fn time_value(t: u64, style: u8) -> Value {
    #[allow(clippy::cast_precision_loss)]
    match style % 4 {
        0 => json!(t),
        1 => json!(t as f64 + 0.5),
        2 => json!(t.to_string()),
        _ => json!(format!("{t}.0")),
    }
}

fn exp_cases() -> impl Strategy<Value = Case> {
    let expired = reject("Expired", |e| matches!(e, IdTokenError::Expired { .. }));
    prop_oneof![
        (0..NOW - LEEWAY, any::<u8>()).prop_map(move |(t, s)| claim(
            "exp",
            Some(time_value(t, s)),
            expired
        )),
        Just(claim("exp", None, missing("exp"))),
        non_scalar().prop_map(|v| claim("exp", Some(v), unreadable("exp"))),
        "[a-z]{1,8}"
            .prop_filter("not a float word", |s| !["inf", "infinity", "nan"]
                .contains(&s.as_str()))
            .prop_map(|s| claim("exp", Some(json!(s)), unreadable("exp"))),
        Just(claim("exp", Some(json!(-1)), unreadable("exp"))),
        Just(claim("exp", Some(json!(1.9e19)), unreadable("exp"))),
        // Valid: any later expiry.
        (NOW + LEEWAY..NOW + 10 * 365 * 86_400, any::<u8>()).prop_map(|(t, s)| claim(
            "exp",
            Some(time_value(t, s)),
            Expect::Accepted
        )),
    ]
}

fn iat_cases() -> impl Strategy<Value = Case> {
    let future = reject("IssuedInFuture", |e| {
        matches!(e, IdTokenError::IssuedInFuture { .. })
    });
    prop_oneof![
        (NOW + LEEWAY + 1..NOW + 10 * 365 * 86_400, any::<u8>()).prop_map(move |(t, s)| claim(
            "iat",
            Some(time_value(t, s)),
            future
        )),
        Just(claim("iat", None, missing("iat"))),
        non_scalar().prop_map(|v| claim("iat", Some(v), unreadable("iat"))),
        // Issued before the user authenticated (`auth_time` is NOW - 10): refused.
        (0..NOW - 10 - LEEWAY, any::<u8>()).prop_map(|(t, s)| claim(
            "iat",
            Some(time_value(t, s)),
            reject("AuthTimeAfterIssue", |e| {
                matches!(e, IdTokenError::AuthTimeAfterIssue { .. })
            })
        )),
        // Valid: issued any time since (no max_token_age in the default policy).
        (NOW - 10 - LEEWAY..=NOW + LEEWAY, any::<u8>()).prop_map(|(t, s)| claim(
            "iat",
            Some(time_value(t, s)),
            Expect::Accepted
        )),
    ]
}

fn nbf_cases() -> impl Strategy<Value = Case> {
    let not_yet = reject("NotYetValid", |e| {
        matches!(e, IdTokenError::NotYetValid { .. })
    });
    prop_oneof![
        (NOW + LEEWAY + 1..NOW + 10 * 365 * 86_400, any::<u8>()).prop_map(move |(t, s)| claim(
            "nbf",
            Some(time_value(t, s)),
            not_yet
        )),
        (0..=NOW + LEEWAY, any::<u8>()).prop_map(|(t, s)| claim(
            "nbf",
            Some(time_value(t, s)),
            Expect::Accepted
        )),
        non_scalar().prop_map(|v| claim("nbf", Some(v), unreadable("nbf"))),
        Just(claim("nbf", Some(json!(1e20)), unreadable("nbf"))),
        Just(claim("nbf", Some(json!("tomorrow")), unreadable("nbf"))),
    ]
}

fn auth_time_cases() -> impl Strategy<Value = Case> {
    let too_old = reject("AuthTooOld", |e| {
        matches!(e, IdTokenError::AuthTooOld { .. })
    });
    let missing = reject("AuthTimeMissing", |e| {
        matches!(e, IdTokenError::AuthTimeMissing)
    });
    prop_oneof![
        (0..NOW - MAX_AGE - LEEWAY, any::<u8>()).prop_map(move |(t, s)| claim(
            "auth_time",
            Some(time_value(t, s)),
            too_old
        )),
        Just(claim("auth_time", None, missing)),
        non_scalar().prop_map(|v| claim("auth_time", Some(v), unreadable("auth_time"))),
        // After now, or after the token was issued (iat is NOW - 5): refused.
        (NOW + LEEWAY + 1..NOW + 10 * 365 * 86_400, any::<u8>()).prop_map(|(t, s)| claim(
            "auth_time",
            Some(time_value(t, s)),
            reject("AuthTimeInFuture", |e| {
                matches!(e, IdTokenError::AuthTimeInFuture { .. })
            })
        )),
        (NOW - 5 + LEEWAY + 1..=NOW + LEEWAY, any::<u8>()).prop_map(|(t, s)| claim(
            "auth_time",
            Some(time_value(t, s)),
            reject("AuthTimeAfterIssue", |e| {
                matches!(e, IdTokenError::AuthTimeAfterIssue { .. })
            })
        )),
        (NOW - MAX_AGE..=NOW, any::<u8>()).prop_map(|(t, s)| claim(
            "auth_time",
            Some(time_value(t, s)),
            Expect::Accepted
        )),
    ]
}

fn nonce_cases() -> impl Strategy<Value = Case> {
    let mismatch = reject("NonceMismatch", |e| {
        matches!(e, IdTokenError::NonceMismatch)
    });
    let missing = reject("NonceMissing", |e| matches!(e, IdTokenError::NonceMissing));
    prop_oneof![
        // The login's nonce is 43 base64url characters: any other string is foreign.
        "[ -~]{0,60}".prop_map(move |s| claim("nonce", Some(json!(s)), mismatch)),
        Just(claim("nonce", None, missing)),
        Just(claim("nonce", Some(Value::Null), unreadable("nonce"))),
        any::<i64>().prop_map(|n| claim("nonce", Some(json!(n)), unreadable("nonce"))),
    ]
}

fn acr_cases() -> impl Strategy<Value = Case> {
    let low = reject("AcrTooLow", |e| matches!(e, IdTokenError::AcrTooLow { .. }));
    let unknown = reject("AcrUnknown", |e| {
        matches!(e, IdTokenError::AcrUnknown { .. })
    });
    let missing = reject("AcrMissing", |e| matches!(e, IdTokenError::AcrMissing));
    prop_oneof![
        Just(claim("acr", Some(json!("1")), low)),
        Just(claim("acr", Some(json!(1)), low)),
        // Only the exact strings "1" to "4" are levels.
        Just(claim("acr", Some(json!(0)), unknown)),
        "[a-zA-Z. ]{0,6}".prop_map(move |s| claim("acr", Some(json!(s)), unknown)),
        (5u32..100_000).prop_map(move |n| claim("acr", Some(json!(n.to_string())), unknown)),
        prop::sample::select(vec!["+3", "03", "003", " 3", "3\n", "3.0", "2 "])
            .prop_map(move |s| claim("acr", Some(json!(s)), unknown)),
        Just(claim("acr", None, missing)),
        Just(claim("acr", Some(Value::Null), unreadable("acr"))),
        Just(claim("acr", Some(json!(3.0)), unreadable("acr"))),
        // Valid: a higher level, as a string or a number.
        (2u8..=4).prop_map(|n| claim("acr", Some(json!(n.to_string())), Expect::Accepted)),
        (2u8..=4).prop_map(|n| claim("acr", Some(json!(n)), Expect::Accepted)),
    ]
}

fn at_hash_cases() -> impl Strategy<Value = Case> {
    let mismatch = reject("AtHashMismatch", |e| {
        matches!(e, IdTokenError::AtHashMismatch)
    });
    let missing = reject("AtHashMissing", |e| {
        matches!(e, IdTokenError::AtHashMissing)
    });
    let valid = mc_core::id_token::at_hash(ACCESS_TOKEN, Algorithm::RS256).unwrap();
    prop_oneof![
        "[A-Za-z0-9_-]{0,43}"
            .prop_filter("a different value", move |s| *s != valid)
            .prop_map(move |s| claim("at_hash", Some(json!(s)), mismatch)),
        // The at_hash of the same access token for another hash size.
        Just(claim(
            "at_hash",
            Some(json!(
                mc_core::id_token::at_hash(ACCESS_TOKEN, Algorithm::RS512).unwrap()
            )),
            mismatch
        )),
        any::<i64>().prop_map(|n| claim("at_hash", Some(json!(n)), unreadable("at_hash"))),
        non_scalar().prop_map(|v| claim("at_hash", Some(v), unreadable("at_hash"))),
        Just(claim("at_hash", None, missing)),
    ]
}

fn amr_cases() -> impl Strategy<Value = Case> {
    let missing = reject("AmrMissing", |e| matches!(e, IdTokenError::AmrMissing));
    prop_oneof![
        Just(claim("amr", None, missing)),
        Just(claim("amr", Some(json!([])), missing)),
        // An empty string names no method.
        Just(claim("amr", Some(json!([""])), missing)),
        Just(claim("amr", Some(json!([1])), unreadable("amr"))),
        // Valid: a bare string (old sandboxes), other methods.
        "[A-Z_]{1,10}".prop_map(|s| claim("amr", Some(json!(s)), Expect::Accepted)),
    ]
}

/// What a changed `alg` must cause: refused outright when not in the allow-list (or not an
/// algorithm), else no usable key (the JWK `kid-a` is RSA pinned to RS256).
fn alg_expect(alg: &str) -> Expect {
    match alg {
        "RS256" => Expect::Accepted,
        "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" => {
            reject("NoUsableKey", |e| {
                matches!(e, IdTokenError::NoUsableKey { .. })
            })
        }
        _ => reject("AlgorithmNotAllowed", |e| {
            matches!(e, IdTokenError::AlgorithmNotAllowed { .. })
        }),
    }
}

fn malformed_header() -> Expect {
    reject("Malformed{Header}", |e| {
        matches!(
            e,
            IdTokenError::Malformed {
                part: JwtPart::Header,
                ..
            }
        )
    })
}

fn header_cases() -> impl Strategy<Value = Case> {
    let critical = reject("CriticalHeader", |e| {
        matches!(e, IdTokenError::CriticalHeader { .. })
    });
    let unknown_kid = reject("UnknownKeyId", |e| {
        matches!(e, IdTokenError::UnknownKeyId { .. })
    });
    prop_oneof![
        // alg
        prop::sample::select(vec![
            "none", "None", "NONE", "", "HS256", "HS384", "HS512", "EdDSA", "RS384", "RS512",
            "PS256", "PS384", "PS512", "ES256", "ES384", "RSA-OAEP", "rs256", "RS256 ",
        ])
        .prop_map(|a| header("alg", Some(json!(a)), alg_expect(a))),
        "[A-Za-z0-9]{0,8}".prop_map(|a| header("alg", Some(json!(a)), alg_expect(&a))),
        Just(header("alg", None, malformed_header())),
        any::<i64>().prop_map(|n| header("alg", Some(json!(n)), malformed_header())),
        // kid: unknown after the one refetch; the EC key's kid has no RS256 key; absent is fine.
        "[ -~]{0,20}"
            .prop_filter("another kid", |k| k != "kid-a" && k != "kid-ec")
            .prop_map(move |k| header("kid", Some(json!(k)), unknown_kid)),
        Just(header(
            "kid",
            Some(json!("kid-ec")),
            reject("NoUsableKey", |e| matches!(
                e,
                IdTokenError::NoUsableKey { .. }
            ))
        )),
        Just(header("kid", None, Expect::Accepted)),
        any::<i64>().prop_map(|n| header("kid", Some(json!(n)), malformed_header())),
        // crit in any form, null included, is refused (no extension is understood).
        Just(header("crit", Some(Value::Null), critical)),
        prop::collection::vec("[a-z]{1,8}", 0..3).prop_map(move |names| header(
            "crit",
            Some(json!(names)),
            critical
        )),
        "[a-z]{0,8}".prop_map(move |s| header("crit", Some(json!(s)), critical)),
        any::<bool>().prop_map(move |b| header("crit", Some(json!(b)), critical)),
        // Harmless: typ, cty; and key references in the token are ignored (keys come by kid
        // from the operator's JWKS only).
        "[ -~]{0,12}".prop_map(|t| header("typ", Some(json!(t)), Expect::Accepted)),
        Just(header("typ", None, Expect::Accepted)),
        Just(header("cty", Some(json!("JWT")), Expect::Accepted)),
        Just(header(
            "jku",
            Some(json!("https://evil.example/jwks")),
            Expect::Accepted
        )),
        Just(header(
            "x5u",
            Some(json!("https://evil.example/cert")),
            Expect::Accepted
        )),
        Just(header(
            "jwk",
            Some(TestKey::RsaB.jwk(Some("kid-a"), Some("RS256"))),
            Expect::Accepted
        )),
    ]
}

fn signature_cases() -> impl Strategy<Value = Case> {
    let bad = reject("BadSignature", |e| matches!(e, IdTokenError::BadSignature));
    let bad_or_malformed = reject("BadSignature or Malformed{Signature}", |e| {
        matches!(
            e,
            IdTokenError::BadSignature
                | IdTokenError::Malformed {
                    part: JwtPart::Signature,
                    ..
                }
        )
    });
    // A `.` would add a JWT segment: that is a structure mutation, covered below.
    prop_oneof![
        (any::<usize>(), 0u8..8)
            .prop_map(move |(index, bit)| case(Mutation::SignatureBit { index, bit }, bad)),
        (
            any::<usize>(),
            prop::sample::select(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=!"
                    .chars()
                    .collect::<Vec<_>>()
            )
        )
            .prop_map(move |(index, with)| case(
                Mutation::SignatureChar { index, with },
                bad_or_malformed
            )),
        Just(case(Mutation::OtherKey, bad)),
    ]
}

fn structure_cases() -> impl Strategy<Value = Case> {
    let structure = reject("Malformed{Structure}", |e| {
        matches!(
            e,
            IdTokenError::Malformed {
                part: JwtPart::Structure,
                ..
            }
        )
    });
    // The claims are covered by the signature, which is checked before they are decoded: a cut
    // in the claims segment is a bad signature (or, when the cut leaves no valid base64url,
    // still the signature check that fails first).
    let claims_cut = reject("BadSignature (claims are signed)", |e| {
        matches!(
            e,
            IdTokenError::BadSignature
                | IdTokenError::Malformed {
                    part: JwtPart::Claims,
                    ..
                }
        )
    });
    let signature_cut = reject("Malformed{Signature} or BadSignature", |e| {
        matches!(
            e,
            IdTokenError::BadSignature
                | IdTokenError::Malformed {
                    part: JwtPart::Signature,
                    ..
                }
        )
    });
    prop_oneof![
        any::<usize>()
            .prop_map(|keep| case(Mutation::Truncate { segment: 0, keep }, malformed_header())),
        any::<usize>()
            .prop_map(move |keep| case(Mutation::Truncate { segment: 1, keep }, claims_cut)),
        any::<usize>()
            .prop_map(move |keep| case(Mutation::Truncate { segment: 2, keep }, signature_cut)),
        (0usize..3).prop_map(move |segment| case(Mutation::Remove { segment }, structure)),
        "[A-Za-z0-9_-]{0,20}".prop_map(move |s| case(Mutation::Extra(s), structure)),
    ]
}

fn any_case() -> impl Strategy<Value = Case> {
    prop_oneof![
        iss_cases(),
        aud_cases(),
        azp_cases(),
        sub_cases(),
        exp_cases(),
        iat_cases(),
        nbf_cases(),
        auth_time_cases(),
        nonce_cases(),
        acr_cases(),
        at_hash_cases(),
        amr_cases(),
        header_cases(),
        signature_cases(),
        structure_cases(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Building and judging the mutated token
// ---------------------------------------------------------------------------------------------

fn set(object: &mut Value, name: &str, value: Option<&Value>) {
    let map = object.as_object_mut().expect("a JSON object");
    match value {
        Some(v) => {
            map.insert(name.to_owned(), v.clone());
        }
        None => {
            map.remove(name);
        }
    }
}

/// Cut `s` to at most `keep` characters (`keep` reduced modulo the length, so the cut is real).
fn cut(s: &str, keep: usize) -> String {
    let keep = if s.is_empty() { 0 } else { keep % s.len() };
    s.chars().take(keep).collect()
}

/// The valid token of the login with this nonce, with the mutation applied.
fn mutated_token(nonce: &str, mutation: &Mutation) -> String {
    let mut claims = valid_claims(nonce);
    let mut head = json!({ "alg": "RS256", "typ": "JWT", "kid": "kid-a" });
    match mutation {
        Mutation::Claim(name, value) => set(&mut claims, name, value.as_ref()),
        Mutation::Header(name, value) => set(&mut head, name, value.as_ref()),
        _ => {}
    }
    let key = if matches!(mutation, Mutation::OtherKey) {
        TestKey::RsaB
    } else {
        TestKey::RsaA
    };
    let jwt = sign_raw(&head, &claims, Algorithm::RS256, &key.encoding_key());
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    match mutation {
        Mutation::SignatureBit { index, bit } => {
            let mut bytes = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
            let i = index % bytes.len();
            bytes[i] ^= 1 << bit;
            parts[2] = b64(&bytes);
        }
        Mutation::SignatureChar { index, with } => {
            let mut chars: Vec<char> = parts[2].chars().collect();
            let i = index % chars.len();
            // Replace by something else than what is there (an identical character is no change).
            chars[i] = if chars[i] == *with {
                if *with == 'A' { 'B' } else { 'A' }
            } else {
                *with
            };
            parts[2] = chars.into_iter().collect();
        }
        Mutation::Truncate { segment, keep } => parts[*segment] = cut(&parts[*segment], *keep),
        Mutation::Remove { segment } => {
            parts.remove(*segment);
        }
        Mutation::Extra(s) => parts.push(s.clone()),
        _ => {}
    }
    parts.join(".")
}

fn login(case: &Case) -> Result<Tokens, Error> {
    token_step(&operator(), options(), |started| {
        token_response(&mutated_token(&started.nonce, &case.mutation))
    })
}

fn judge(case: &Case, result: Result<Tokens, Error>) -> Result<(), TestCaseError> {
    match (case.expect, result) {
        (Expect::Accepted, Ok(_)) => Ok(()),
        (Expect::Accepted, Err(e)) => Err(TestCaseError::fail(format!(
            "{:?} leaves the token valid, but it was rejected: {e:?}",
            case.mutation
        ))),
        (Expect::Rejected { rule, .. }, Ok(_)) => Err(TestCaseError::fail(format!(
            "{:?} must be rejected with {rule}, but the token was accepted",
            case.mutation
        ))),
        (Expect::Rejected { rule, check }, Err(Error::IdToken(e))) => {
            prop_assert!(
                check(&e),
                "{:?} must be rejected with {}, got {:?}",
                case.mutation,
                rule,
                e
            );
            Ok(())
        }
        (Expect::Rejected { rule, .. }, Err(e)) => Err(TestCaseError::fail(format!(
            "{:?} must be rejected with {rule}, got a non-id_token error {e:?}",
            case.mutation
        ))),
    }
}

#[test]
fn the_unmutated_token_is_accepted() {
    let tokens = token_step(&operator(), options(), |started| {
        token_response(&sign(
            &valid_claims(&started.nonce),
            Algorithm::RS256,
            TestKey::RsaA,
            Some("kid-a"),
        ))
    })
    .expect("the base token of the mutations is valid");
    assert_eq!(tokens.sub(), SUB);
    // And through the mutation path with a no-op header change.
    let typ = case(
        Mutation::Header("typ", Some(json!("JWT"))),
        Expect::Accepted,
    );
    judge(&typ, login(&typ)).unwrap();
}

proptest! {
    #![proptest_config(cases(384, 48))]

    /// One random mutation of a valid id_token is rejected with the error naming what was
    /// broken, or accepted when it leaves the token valid.
    #[test]
    fn one_mutation_is_rejected_by_its_rule(case in any_case()) {
        let result = login(&case);
        judge(&case, result)?;
    }
}

proptest! {
    #![proptest_config(cases(64, 16))]

    /// Each claim rule on its own, so that every one of them is exercised in every run.
    #[test]
    fn claim_mutations(case in prop_oneof![
        iss_cases(), aud_cases(), azp_cases(), sub_cases(), exp_cases(), iat_cases(),
        nbf_cases(), auth_time_cases(), nonce_cases(), acr_cases(), at_hash_cases(), amr_cases(),
    ]) {
        let result = login(&case);
        judge(&case, result)?;
    }

    #[test]
    fn header_mutations(case in header_cases()) {
        let result = login(&case);
        judge(&case, result)?;
    }

    #[test]
    fn signature_and_structure_mutations(case in prop_oneof![signature_cases(), structure_cases()]) {
        let result = login(&case);
        judge(&case, result)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The exchanges' respond with arbitrary answers (the steps parsers_prop.rs does not drive)
// ---------------------------------------------------------------------------------------------

fn arb_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(vec![
            200u16, 201, 202, 204, 301, 302, 400, 401, 403, 404, 500, 503
        ]),
        100u16..1000,
    ]
}

fn arb_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "content-type".to_owned(),
                "www-authenticate".to_owned(),
                "location".to_owned(),
                "content-length".to_owned(),
                "cache-control".to_owned(),
                "x-anything".to_owned(),
            ]),
            prop_oneof![
                prop::sample::select(vec![
                    b"application/json".to_vec(),
                    b"application/jwt".to_vec(),
                    b"application/json; charset=utf-8".to_vec(),
                    b"text/html".to_vec(),
                    b"Bearer error=\"invalid_token\"".to_vec(),
                    b"https://op.example/elsewhere".to_vec(),
                    b"0".to_vec(),
                ]),
                prop::collection::vec(any::<u8>(), 0..40),
            ],
        ),
        0..4,
    )
}

/// Bodies: arbitrary bytes, JSON objects with the members these steps read, and valid bodies.
fn arb_answer_body() -> impl Strategy<Value = Vec<u8>> {
    let member = prop::sample::select(vec![
        "issuer",
        "keys",
        "kty",
        "access_token",
        "token_type",
        "expires_in",
        "id_token",
        "refresh_token",
        "error",
        "error_description",
        "jwks_uri",
        "acr_values_supported",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,24}".prop_map(Value::String),
        Just(json!(ISSUER)),
        Just(json!("Bearer")),
        Just(json!([TestKey::RsaA.jwk(Some("kid-a"), Some("RS256"))])),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::btree_map(member, leaf, 0..6)
            .prop_map(|m| serde_json::to_vec(&m).unwrap()),
        Just(jwks_body(
            &[TestKey::RsaA.jwk(Some("kid-a"), Some("RS256"))]
        )),
        Just(serde_json::to_vec(&json!({ "issuer": ISSUER })).unwrap()),
        Just(
            serde_json::to_vec(&json!({ "error": "invalid_grant", "error_description": "used" }))
                .unwrap()
        ),
    ]
}

fn answer(status: u16, headers: &[(String, Vec<u8>)], body: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            response.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value,
            );
        }
    }
    response
}

proptest! {
    #![proptest_config(cases(256, 64))]

    #[test]
    fn metadata_exchange_never_panics(
        status in arb_status(),
        headers in arb_headers(),
        body in arb_answer_body(),
    ) {
        let exchange = operator_config().metadata_exchange().unwrap();
        if let Ok(metadata) = exchange.respond(answer(status, &headers, body.clone()), now()) {
            prop_assert_eq!(status, 200);
            prop_assert_eq!(Some(metadata), mc_core::ProviderMetadata::parse(&body).ok());
        }
    }

    #[test]
    fn jwks_exchange_never_panics(
        status in arb_status(),
        headers in arb_headers(),
        body in arb_answer_body(),
    ) {
        let exchange = operator().jwks_exchange().unwrap();
        if let Ok(keys) = exchange.respond(answer(status, &headers, body.clone()), now()) {
            prop_assert_eq!(status, 200);
            prop_assert!(keys.keys().len() <= mc_core::wire::MAX_JWKS_KEYS);
        }
    }

    #[test]
    fn token_exchange_never_panics(
        status in arb_status(),
        headers in arb_headers(),
        body in prop_oneof![
            arb_answer_body(),
            // A well-formed token response around an arbitrary id_token value.
            (any::<bool>(), "[ -~]{0,80}").prop_map(|(bearer, id_token)| serde_json::to_vec(&json!({
                "access_token": ACCESS_TOKEN,
                "token_type": if bearer { "Bearer" } else { "mac" },
                "id_token": id_token,
            })).unwrap()),
        ],
    ) {
        let op = operator();
        let exchange = exchange_code(&op, start(&op, AuthorizeOptions::new()), "the-code");
        // No valid signed id_token is generated, so nothing may be accepted at all.
        match exchange.respond(answer(status, &headers, body), now()) {
            Ok(Verified::Done(tokens)) => {
                return Err(TestCaseError::fail(format!("accepted {tokens:?} from HTTP {status}")));
            }
            Ok(Verified::NeedJwks(refetch)) => {
                prop_assert_eq!(status, 200);
                // The operator's JWKS endpoint serves its usual keys: still nothing verifies.
                let keys = raw_response(200, "application/json", &default_jwks_body());
                prop_assert!(refetch.respond(keys, now()).is_err());
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}
