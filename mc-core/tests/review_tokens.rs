//! The security review of issue 10, token side (findings 3, 4, 5, 8, 12 and 13): one test per
//! finding, each failing on the code the review ran against. Every case starts from a valid
//! token signed with the test operator's real keys and breaks one thing; cases that differ in
//! one mutation share a table (`case id, mutation, expected`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

use jsonwebtoken::Algorithm;
use mc_core::{
    AuthorizeOptions, Discovered, Endpoint, Error, Exchange as _, IdTokenError, Jwks, MisuseError,
    Policy, ProtocolError, ProviderMetadata, TokenResponse, UserInfo, Verified,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The id_token error of a login whose valid claims were edited, or a panic naming the case.
fn claims_error(
    op: &Discovered,
    options: AuthorizeOptions,
    case: &str,
    edit: impl FnOnce(&mut Value),
) -> IdTokenError {
    match verify_claims_with(op, options, edit) {
        Err(Error::IdToken(e)) => e,
        Err(other) => panic!("{case}: expected an id_token error, got {other:?}"),
        Ok(tokens) => panic!("{case}: accepted (sub {:?})", tokens.sub()),
    }
}

fn invalid(claim: &'static str, reason: &'static str) -> IdTokenError {
    IdTokenError::InvalidClaim { claim, reason }
}

/// Assert a table of (case id, claim value, expected `InvalidClaim` reason) for one claim.
fn assert_unreadable(claim: &'static str, cases: &[(&str, Value, &'static str)]) {
    let op = operator();
    for (case, value, reason) in cases {
        let error = claims_error(&op, AuthorizeOptions::new(), case, |c| {
            c[claim] = value.clone();
        });
        assert!(
            matches!(&error, IdTokenError::InvalidClaim { claim: c, reason: r } if c == &claim && r == reason),
            "{case}: expected {:?}, got {error:?}",
            invalid(claim, reason)
        );
    }
}

/// Tokens of a valid login at `op`.
fn login(op: &Discovered) -> mc_core::Tokens {
    verify_claims(op, |_| {}).unwrap()
}

/// The userinfo exchange's answer to `body` served with `content_type` (a refetch the step asks
/// for is answered with the unchanged keys).
fn userinfo(op: &Discovered, content_type: &str, body: &[u8]) -> Result<UserInfo, Error> {
    let exchange = login(op).userinfo(op).unwrap();
    match exchange.respond(raw_response(200, content_type, body), now())? {
        Verified::Done(info) => Ok(info),
        Verified::NeedJwks(refetch) => refetch.respond(
            jwks_response(&[TestKey::RsaA.jwk(Some("kid-a"), Some("RS256"))]),
            now(),
        ),
    }
}

/// Valid signed-userinfo claims: the subject, a phone number, and iss/aud of the test operator.
fn userinfo_claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": SUB,
        "phone_number": "+447700900301",
    })
}

/// Sign userinfo claims RS256 with `kid-a` under this header (its `alg` and `kid` are set).
fn signed_userinfo(mut header: Value, claims: &Value) -> String {
    header["alg"] = json!("RS256");
    header["kid"] = json!("kid-a");
    sign_raw(
        &header,
        claims,
        Algorithm::RS256,
        &TestKey::RsaA.encoding_key(),
    )
}

fn token_body(fields: Value) -> Vec<u8> {
    serde_json::to_vec(&fields).unwrap()
}

/// The token step of a login whose token endpoint answers 200 with `fields` and the login's
/// valid id_token.
fn token_step_with_fields(op: &Discovered, mut fields: Value) -> Result<mc_core::Tokens, Error> {
    token_step(op, AuthorizeOptions::new(), |s| {
        fields["id_token"] = json!(valid_id_token(&s.nonce));
        raw_response(200, "application/json", &token_body(fields))
    })
}

// ---------------------------------------------------------------------------------------------
// Finding 3: present but unreadable optional claims are refused, never read as absent
// ---------------------------------------------------------------------------------------------

#[test]
fn review_nbf_unreadable_refused() {
    assert_unreadable(
        "nbf",
        &[
            ("float over 2^64", json!(1e20), "out of range"),
            ("words", json!("tomorrow"), "not a number"),
            ("boolean", json!(true), "not a number"),
            ("array", json!([NOW]), "not a number"),
            ("object", json!({"at": NOW}), "not a number"),
            ("negative", json!(-1), "negative"),
            ("null", json!(null), "null"),
        ],
    );
}

#[test]
fn review_at_hash_unreadable_refused() {
    assert_unreadable(
        "at_hash",
        &[
            ("boolean", json!(true), "not a string"),
            ("array", json!(["x"]), "not a string"),
            ("number", json!(42), "not a string"),
            ("null", json!(null), "null"),
        ],
    );
}

#[test]
fn review_aud_unreadable_refused() {
    // Without `azp`: dropping the 42 would leave one audience, ours, and no azp needed.
    let op = operator();
    for (case, aud) in [
        ("number among strings", json!([CLIENT_ID, 42])),
        ("null among strings", json!([CLIENT_ID, null])),
        ("nested array", json!([CLIENT_ID, [CLIENT_ID]])),
        ("object", json!({"aud": CLIENT_ID})),
        ("number", json!(42)),
    ] {
        let error = claims_error(&op, AuthorizeOptions::new(), case, |c| {
            c["aud"] = aud;
            c.as_object_mut().unwrap().remove("azp");
        });
        assert!(
            matches!(
                error,
                IdTokenError::InvalidClaim {
                    claim: "aud",
                    reason: "not a string or an array of strings"
                }
            ),
            "{case}: {error:?}"
        );
    }
}

#[test]
fn review_azp_unreadable_refused() {
    assert_unreadable(
        "azp",
        &[
            ("array", json!(["other"]), "not a string"),
            ("array of ours", json!([CLIENT_ID]), "not a string"),
            ("null", json!(null), "null"),
            ("number", json!(7), "not a string"),
        ],
    );
}

#[test]
fn review_exp_out_of_range_refused() {
    // 1.9e19 used to be reported as a missing exp.
    assert_unreadable(
        "exp",
        &[
            ("float over 2^64", json!(1.9e19), "out of range"),
            ("string over 2^64", json!("1.9e19"), "out of range"),
            ("words", json!("never"), "not a number"),
            ("null", json!(null), "null"),
        ],
    );
    // Lenient shapes the ecosystem sends still read: a float, a string of digits.
    let op = operator();
    for (case, exp) in [
        ("float", json!(NOW as f64 + 300.7)),
        ("string", json!(format!("{}", NOW + 300))),
        ("padded string", json!(format!(" {} ", NOW + 300))),
    ] {
        let tokens =
            verify_claims(&op, |c| c["exp"] = exp).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(tokens.id_token().claims().exp, Some(NOW + 300), "{case}");
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 4: a future auth_time is refused
// ---------------------------------------------------------------------------------------------

#[test]
fn review_future_auth_time_refused() {
    let op = operator();
    let ten_years = 10 * 365 * 24 * 3600;
    for (case, options) in [
        ("with max_age", AuthorizeOptions::new().max_age(60)),
        ("without max_age", AuthorizeOptions::new()),
    ] {
        let error = claims_error(&op, options, case, |c| {
            c["auth_time"] = json!(NOW + ten_years)
        });
        assert!(
            matches!(error, IdTokenError::AuthTimeInFuture { auth_time, now: NOW, leeway: 30 } if auth_time == NOW + ten_years),
            "{case}: {error:?}"
        );
    }
    // After the token was issued (but not after now): refused too.
    let error = claims_error(&op, AuthorizeOptions::new(), "after iat", |c| {
        c["iat"] = json!(NOW - 100);
        c["auth_time"] = json!(NOW - 100 + 31);
    });
    assert!(
        matches!(
            error,
            IdTokenError::AuthTimeAfterIssue {
                auth_time,
                iat,
                leeway: 30
            } if auth_time == NOW - 69 && iat == NOW - 100
        ),
        "{error:?}"
    );
    // Within the leeway of both: accepted.
    let _ = verify_claims(&op, |c| {
        c["iat"] = json!(NOW);
        c["auth_time"] = json!(NOW + 30);
    })
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Finding 5: any present `crit` is refused, `null` included
// ---------------------------------------------------------------------------------------------

#[test]
fn review_crit_null_refused() {
    let op = operator();
    for (case, crit, names) in [
        ("null", json!(null), vec!["null"]),
        ("empty list", json!([]), vec![]),
        ("an extension", json!(["b64"]), vec!["b64"]),
        ("a string", json!("exp"), vec!["\"exp\""]),
    ] {
        let result = token_step(&op, AuthorizeOptions::new(), |s| {
            let header = json!({ "alg": "RS256", "kid": "kid-a", "crit": crit });
            token_response(&sign_raw(
                &header,
                &valid_claims(&s.nonce),
                Algorithm::RS256,
                &TestKey::RsaA.encoding_key(),
            ))
        });
        match result {
            Err(Error::IdToken(IdTokenError::CriticalHeader { names: found })) => {
                assert_eq!(found, names, "{case}");
            }
            other => panic!(
                "{case}: expected CriticalHeader, got {:?}",
                other.map(|t| t.sub().to_owned())
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 8: `sub` is a JSON string
// ---------------------------------------------------------------------------------------------

#[test]
fn review_numeric_sub_refused() {
    // Two different subjects that a float would make equal (1.2345678901234568e+22).
    let big: Value = serde_json::from_str("12345678901234567890123").unwrap();
    let next: Value = serde_json::from_str("12345678901234567890124").unwrap();
    assert_unreadable(
        "sub",
        &[
            ("big integer", big, "not a string"),
            ("its neighbour", next, "not a string"),
            ("small integer", json!(42), "not a string"),
            ("array", json!([SUB]), "not a string"),
            ("null", json!(null), "null"),
        ],
    );
    // Userinfo likewise: plain JSON with a numeric `sub` is refused by name, never compared.
    let op = operator();
    let body = serde_json::to_vec(&json!({ "sub": 42 })).unwrap();
    match userinfo(&op, "application/json", &body) {
        Err(Error::Protocol(ProtocolError::InvalidField {
            endpoint: Endpoint::UserInfo,
            field: "sub",
            reason: "not a string",
        })) => {}
        other => panic!("numeric userinfo sub: {other:?}"),
    }
    let jwt = signed_userinfo(json!({}), &json!({ "sub": 42 }));
    assert!(matches!(
        userinfo(&op, "application/jwt", jwt.as_bytes()),
        Err(Error::IdToken(IdTokenError::InvalidClaim {
            claim: "sub",
            ..
        }))
    ));
}

// ---------------------------------------------------------------------------------------------
// Finding 12: signed userinfo is bound to its purpose
// ---------------------------------------------------------------------------------------------

/// An id_token served as userinfo is told by the claims only an id_token has (`nonce`,
/// `at_hash`, `c_hash`): it has the same signer, keys, `typ` and often the same `sub`, `iss`
/// and `aud`.
#[test]
fn review_id_token_as_userinfo_refused() {
    let op = operator();
    let tokens = login(&op);
    // The very id_token of the login, served back as userinfo.
    let id_token = tokens.id_token().jwt().expose_secret().to_owned();
    let exchange = tokens.userinfo(&op).unwrap();
    match exchange.respond(
        raw_response(200, "application/jwt", id_token.as_bytes()),
        now(),
    ) {
        Err(Error::IdToken(IdTokenError::IdTokenAsUserInfo { claim: "nonce" })) => {}
        other => panic!("the login's id_token as userinfo: {other:?}"),
    }
    for claim in ["nonce", "at_hash", "c_hash"] {
        let mut claims = userinfo_claims();
        claims[claim] = json!("x");
        let jwt = signed_userinfo(json!({ "typ": "JWT" }), &claims);
        match userinfo(&op, "application/jwt", jwt.as_bytes()) {
            Err(Error::IdToken(IdTokenError::IdTokenAsUserInfo { claim: found })) => {
                assert_eq!(found, claim);
            }
            other => panic!("{claim}: {other:?}"),
        }
    }
}

#[test]
fn review_userinfo_typ_refused() {
    let op = operator();
    for typ in [
        "at+jwt",
        "logout+jwt",
        "JOSE",
        "id_token+jwt",
        "application/at+jwt",
        "jwt; q=1",
    ] {
        let jwt = signed_userinfo(json!({ "typ": typ }), &userinfo_claims());
        match userinfo(&op, "application/jwt", jwt.as_bytes()) {
            Err(Error::IdToken(IdTokenError::UnexpectedType { found, .. })) => {
                assert_eq!(found, typ);
            }
            other => panic!("typ {typ:?}: {other:?}"),
        }
    }
    // Absent, JWT or userinfo+jwt, in any case, with or without `application/` (RFC 7515 4.1.9).
    for header in [
        json!({}),
        json!({ "typ": "JWT" }),
        json!({ "typ": "jwt" }),
        json!({ "typ": "application/jwt" }),
        json!({ "typ": "userinfo+jwt" }),
        json!({ "typ": "APPLICATION/USERINFO+JWT" }),
    ] {
        let jwt = signed_userinfo(header.clone(), &userinfo_claims());
        let info = userinfo(&op, "application/jwt", jwt.as_bytes())
            .unwrap_or_else(|e| panic!("{header}: {e}"));
        assert!(info.was_signed());
    }
    // A `typ` that is not a string is a malformed header.
    let jwt = signed_userinfo(json!({ "typ": 1 }), &userinfo_claims());
    assert!(matches!(
        userinfo(&op, "application/jwt", jwt.as_bytes()),
        Err(Error::IdToken(IdTokenError::Malformed { .. }))
    ));
}

/// A table row: case id, the mutation of valid userinfo claims, the error expected.
type UserInfoCase = (&'static str, fn(&mut Value), fn(&IdTokenError) -> bool);

#[test]
fn review_userinfo_claims_checked_when_present() {
    let op = operator();
    let cases: [UserInfoCase; 8] = [
        (
            "empty aud",
            |c| c["aud"] = json!([]),
            |e| matches!(e, IdTokenError::AudienceMismatch { found, .. } if found.is_empty()),
        ),
        (
            "foreign iss",
            |c| c["iss"] = json!("https://evil.example"),
            |e| matches!(e, IdTokenError::IssuerMismatch { .. }),
        ),
        (
            "foreign aud",
            |c| c["aud"] = json!("other"),
            |e| matches!(e, IdTokenError::AudienceMismatch { .. }),
        ),
        (
            "two audiences, no azp",
            |c| c["aud"] = json!([CLIENT_ID, "other"]),
            |e| matches!(e, IdTokenError::AuthorizedPartyMissing),
        ),
        (
            "expired long ago",
            |c| c["exp"] = json!(1),
            |e| matches!(e, IdTokenError::Expired { exp: 1, .. }),
        ),
        (
            "not yet valid",
            |c| c["nbf"] = json!(NOW + 3600),
            |e| matches!(e, IdTokenError::NotYetValid { .. }),
        ),
        (
            "issued in the future",
            |c| c["iat"] = json!(NOW + 3600),
            |e| matches!(e, IdTokenError::IssuedInFuture { .. }),
        ),
        (
            "numeric iss",
            |c| c["iss"] = json!(1),
            |e| matches!(e, IdTokenError::InvalidClaim { claim: "iss", .. }),
        ),
    ];
    for (case, edit, expected) in cases {
        let mut claims = userinfo_claims();
        edit(&mut claims);
        let jwt = signed_userinfo(json!({ "typ": "JWT" }), &claims);
        match userinfo(&op, "application/jwt", jwt.as_bytes()) {
            Err(Error::IdToken(e)) if expected(&e) => {}
            other => panic!("{case}: {other:?}"),
        }
    }
    // None of them present: accepted (OIDC Core 5.3.2 says "should").
    let jwt = signed_userinfo(json!({}), &json!({ "sub": SUB }));
    assert!(
        userinfo(&op, "application/jwt", jwt.as_bytes())
            .unwrap()
            .was_signed()
    );
}

#[test]
fn review_userinfo_must_be_signed_policy() {
    let plain =
        serde_json::to_vec(&json!({ "sub": SUB, "phone_number": "+447700900301" })).unwrap();
    let signed = signed_userinfo(json!({ "typ": "JWT" }), &userinfo_claims());
    // Off by default: plain JSON over TLS is accepted.
    assert!(Policy::default().require_signed_userinfo.eq(&false));
    let op = operator();
    assert!(
        !userinfo(&op, "application/json", &plain)
            .unwrap()
            .was_signed()
    );
    // On: plain JSON refused (on both endpoints), a signed answer accepted.
    let op = operator_with_policy(|p| p.require_signed_userinfo = true);
    match userinfo(&op, "application/json", &plain) {
        Err(Error::Protocol(ProtocolError::UserInfoNotSigned {
            endpoint: Endpoint::UserInfo,
        })) => {}
        other => panic!("plain userinfo under the policy: {other:?}"),
    }
    let exchange = login(&op).premiuminfo(&op).unwrap();
    assert!(matches!(
        exchange.respond(raw_response(200, "application/json", &plain), now()),
        Err(Error::Protocol(ProtocolError::UserInfoNotSigned {
            endpoint: Endpoint::PremiumInfo,
        }))
    ));
    assert!(
        userinfo(&op, "application/jwt", signed.as_bytes())
            .unwrap()
            .was_signed()
    );
    // An OAuth error at 200 is still the operator's refusal, not "unsigned".
    let error = serde_json::to_vec(&json!({ "error": "invalid_token" })).unwrap();
    assert!(matches!(
        userinfo(&op, "application/json", &error),
        Err(Error::Refused(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Finding 13: leniency
// ---------------------------------------------------------------------------------------------

#[test]
fn review_acr_exact_strings() {
    let op = operator();
    let options = || AuthorizeOptions::new().acr_values([3]);
    for (case, acr) in [
        ("plus sign", json!("+3")),
        ("leading zeros", json!("003")),
        ("whitespace", json!(" 3\n")),
        ("decimal", json!("3.0")),
        ("float", json!(3.0)),
        ("word", json!("loa3")),
        ("level 5", json!("5")),
    ] {
        let error = claims_error(&op, options(), case, |c| c["acr"] = acr.clone());
        match error {
            IdTokenError::AcrUnknown { found } => {
                assert_eq!(Some(found.as_str()), acr.as_str().or(Some("3.0")), "{case}");
            }
            // A JSON float is not a string or an integer: unreadable.
            IdTokenError::InvalidClaim { claim: "acr", .. } if acr.is_f64() => {}
            other => panic!("{case}: {other:?}"),
        }
    }
    // The exact strings, and an integer (read as its digits).
    for acr in [json!("3"), json!(3), json!("4")] {
        let tokens = verify_claims_with(&op, options(), |c| c["acr"] = acr.clone())
            .unwrap_or_else(|e| panic!("{acr}: {e}"));
        assert_eq!(
            tokens.id_token().acr(),
            Some(acr.to_string().trim_matches('"'))
        );
    }
    let error = claims_error(&op, options(), "level 2", |c| c["acr"] = json!("2"));
    assert!(
        matches!(error, IdTokenError::AcrTooLow { requested: 3, .. }),
        "{error:?}"
    );
}

#[test]
fn review_empty_amr_does_not_satisfy_di() {
    // An empty string names no method: ignored when counting, so `[""]` is no amr at all.
    let op = operator();
    let di = || AuthorizeOptions::new().version("mc_di_r2_v2.3");
    for (case, amr) in [
        ("one empty string", json!([""])),
        ("bare empty string", json!("")),
        ("two empty strings", json!(["", ""])),
        ("empty list", json!([])),
    ] {
        let error = claims_error(&op, di(), case, |c| c["amr"] = amr);
        assert!(
            matches!(error, IdTokenError::AmrMissing),
            "{case}: {error:?}"
        );
    }
    let _ = verify_claims_with(&op, di(), |c| c["amr"] = json!(["", "SIM_PIN"])).unwrap();
    // Outside the DI versions amr is not required, empty or not.
    let _ = verify_claims(&op, |c| c["amr"] = json!([""])).unwrap();
    // Non-strings are unreadable, DI or not.
    let error = claims_error(&op, AuthorizeOptions::new(), "number", |c| {
        c["amr"] = json!([1])
    });
    assert!(
        matches!(error, IdTokenError::InvalidClaim { claim: "amr", .. }),
        "{error:?}"
    );
}

#[test]
fn review_missing_token_type_refused() {
    let id_token = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";
    let body = token_body(json!({ "access_token": ACCESS_TOKEN, "id_token": id_token }));
    assert!(matches!(
        TokenResponse::parse(&body),
        Err(ProtocolError::MissingField {
            endpoint: Endpoint::Token,
            field: "token_type"
        })
    ));
    // Through the exchange, with an otherwise valid answer.
    let op = operator();
    let result = token_step_with_fields(
        &op,
        json!({ "access_token": ACCESS_TOKEN, "expires_in": 3600 }),
    );
    assert!(
        matches!(
            result,
            Err(Error::Protocol(ProtocolError::MissingField {
                field: "token_type",
                ..
            }))
        ),
        "{:?}",
        result.map(|t| t.sub().to_owned())
    );
    // `null` is absent; `Bearer` in any case is accepted, anything else refused.
    let body = token_body(json!({ "access_token": ACCESS_TOKEN, "token_type": null }));
    assert!(matches!(
        TokenResponse::parse(&body),
        Err(ProtocolError::MissingField {
            field: "token_type",
            ..
        })
    ));
    for bearer in ["Bearer", "bearer", "BEARER"] {
        let body = token_body(json!({ "access_token": ACCESS_TOKEN, "token_type": bearer }));
        TokenResponse::parse(&body).unwrap_or_else(|e| panic!("{bearer}: {e}"));
    }
    let body = token_body(json!({ "access_token": ACCESS_TOKEN, "token_type": "DPoP" }));
    assert!(matches!(
        TokenResponse::parse(&body),
        Err(ProtocolError::TokenTypeNotBearer { .. })
    ));
}

#[test]
fn review_huge_expires_in() {
    let parse = |expires_in: Value| {
        TokenResponse::parse(&token_body(json!({
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": expires_in,
        })))
    };
    for (case, value, reason) in [
        ("1e300", json!(1e300), "out of range"),
        (
            "2^64 as a string",
            json!("18446744073709551616"),
            "out of range",
        ),
        ("negative", json!(-1), "negative"),
        ("words", json!("soon"), "not a number"),
        ("boolean", json!(true), "not a number"),
        ("array", json!([3600]), "not a number"),
    ] {
        match parse(value) {
            Err(ProtocolError::InvalidField {
                endpoint: Endpoint::Token,
                field: "expires_in",
                reason: found,
            }) => assert_eq!(found, reason, "{case}"),
            other => panic!("{case}: expected InvalidField expires_in, got {other:?}"),
        }
    }
    for (case, value, expected) in [
        ("integer", json!(3600), Some(3600)),
        ("float", json!(3600.9), Some(3600)),
        ("string", json!("3600"), Some(3600)),
        ("null", json!(null), None),
    ] {
        let parsed = parse(value).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(parsed.expires_in(), expected, "{case}");
    }
    // Through the exchange: refused before the id_token is looked at.
    let op = operator();
    let result = token_step_with_fields(
        &op,
        json!({ "access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 1e300 }),
    );
    assert!(matches!(
        result,
        Err(Error::Protocol(ProtocolError::InvalidField {
            field: "expires_in",
            ..
        }))
    ));
}

#[test]
fn review_key_ops_without_verify_skipped() {
    let with_ops = |ops: Value| {
        let mut jwk = TestKey::RsaA.jwk(Some("kid-a"), Some("RS256"));
        jwk["key_ops"] = ops;
        jwk
    };
    for (case, ops, kept) in [
        ("sign only", json!(["sign"]), false),
        ("encrypt", json!(["encrypt", "wrapKey"]), false),
        ("empty", json!([]), false),
        ("unreadable", json!([1]), false),
        ("verify", json!(["verify"]), true),
        ("sign and verify", json!(["sign", "verify"]), true),
        ("bare string", json!("verify"), true),
    ] {
        let jwks = Jwks::parse(&jwks_body(&[with_ops(ops)])).unwrap();
        assert_eq!(jwks.keys().len(), usize::from(kept), "{case}");
        assert_eq!(jwks.skipped(), usize::from(!kept), "{case}");
        // A token signed by that key verifies only when the key is kept.
        let op = built_with_keys(operator_config());
        op.set_jwks(jwks, now());
        let result = verify_claims(&op, |_| {});
        match (kept, result) {
            (true, Ok(_)) => {}
            (false, Err(Error::IdToken(IdTokenError::UnknownKeyId { kid }))) => {
                assert_eq!(kid, "kid-a", "{case}");
            }
            (_, other) => panic!("{case}: {:?}", other.map(|t| t.sub().to_owned())),
        }
    }
}

#[test]
fn review_leeway_bounded() {
    let build = |leeway: u64| {
        let mut policy = Policy::default();
        policy.leeway_secs = leeway;
        operator_config().policy(policy).build()
    };
    match build(301) {
        Err(Error::Misuse(MisuseError::PolicyOutOfBounds {
            setting: "leeway_secs",
            value: 301,
            limit: 300,
        })) => {}
        other => panic!("leeway 301: {other:?}"),
    }
    assert!(matches!(
        build(u64::MAX),
        Err(Error::Misuse(MisuseError::PolicyOutOfBounds { .. }))
    ));
    assert_eq!(mc_core::registry::MAX_LEEWAY_SECS, 300);
    assert_eq!(build(300).unwrap().policy().leeway_secs, 300);
    assert_eq!(build(0).unwrap().policy().leeway_secs, 0);
}

#[test]
fn review_expired_message_names_both_times() {
    let op = operator();
    let error = claims_error(&op, AuthorizeOptions::new(), "expired", |c| {
        c["exp"] = json!(NOW - 1000);
    });
    assert!(matches!(error, IdTokenError::Expired { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "expired: exp 1789999000 (2026-09-21T13:56:40Z) is not after the current time \
         1790000000 (2026-09-21T14:13:20Z) minus the leeway of 30s"
    );
    // The other time rules say which time is which as well.
    let error = claims_error(&op, AuthorizeOptions::new(), "nbf", |c| {
        c["nbf"] = json!(NOW + 3600)
    });
    assert_eq!(
        error.to_string(),
        "not yet valid: nbf 1790003600 (2026-09-21T15:13:20Z) is after the current time \
         1790000000 (2026-09-21T14:13:20Z) plus the leeway of 30s"
    );
    // Dates far from now print as well (epoch, leap day, year 10000).
    for (secs, date) in [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (253_402_300_800, "10000-01-01T00:00:00Z"),
    ] {
        let error = IdTokenError::Expired {
            exp: secs,
            now: secs,
            leeway: 0,
        };
        assert!(error.to_string().contains(date), "{secs}: {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// The one lenient reader: every document parser fails closed
// ---------------------------------------------------------------------------------------------

#[test]
fn review_lenient_documents_fail_closed() {
    let metadata = |member: &str, value: Value| {
        let mut doc = json!({ "issuer": ISSUER });
        doc[member] = value;
        ProviderMetadata::parse(&serde_json::to_vec(&doc).unwrap())
    };
    for (case, member, value, reason) in [
        (
            "boolean word",
            "claims_parameter_supported",
            json!("maybe"),
            "not a boolean",
        ),
        (
            "boolean 2",
            "authorization_response_iss_parameter_supported",
            json!(2),
            "not a boolean",
        ),
        (
            "list of numbers",
            "acr_values_supported",
            json!(["2", 3]),
            "not a string or an array of strings",
        ),
        (
            "version map of numbers",
            "mobile_connect_version_supported",
            json!([{ "openid": 1.1 }]),
            "not an object of strings or an array of them",
        ),
        (
            "version map of strings",
            "mobile_connect_version_supported",
            json!(["mc_v1.1"]),
            "not an object of strings or an array of them",
        ),
    ] {
        match metadata(member, value) {
            Err(ProtocolError::MalformedJson {
                endpoint: Endpoint::Metadata,
                reason: found,
            }) => {
                assert!(found.starts_with(reason), "{case}: {found}");
            }
            other => panic!("{case}: {other:?}"),
        }
    }
    // The shapes operators send still read; null is absent in documents.
    let read = metadata("claims_parameter_supported", json!("1")).unwrap();
    assert_eq!(read.claims_parameter_supported, Some(true));
    let read = metadata("claims_parameter_supported", json!(null)).unwrap();
    assert_eq!(read.claims_parameter_supported, None);
    let read = metadata("acr_values_supported", json!("2")).unwrap();
    assert_eq!(read.acr_values_supported, ["2"]);
    let read = metadata(
        "mobile_connect_version_supported",
        json!({ "openid": "mc_v1.1" }),
    )
    .unwrap();
    assert_eq!(
        read.mobile_connect_version_supported,
        [("openid".to_owned(), "mc_v1.1".to_owned())]
    );
}
