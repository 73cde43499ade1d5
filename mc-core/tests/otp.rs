//! The SMS one-time-password grant (`../shared/protocol/MOBILE-CONNECT.md` §9) against the
//! fixed operator: both requests as snapshots, the answers each step accepts, one named case
//! per rule broken (a table: each starts from a valid answer and breaks one thing), the
//! misuses refused before anything is sent, and properties of the challenge parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

use jsonwebtoken::Algorithm::RS256;
use mc_core::id_token::at_hash;
use mc_core::otp::ChallengeBody;
use mc_core::{
    Discovered, Endpoint, Error, ErrorClass, Exchange as _, IdTokenError, MisuseError, Msisdn,
    OtpChallenge, OtpCode, OtpError, OtpSettings, ProtocolError, Tokens, UnixTime, Verified,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const NUMBER: &str = "447700900123";
const MESSAGE: &str = "Your Example Shop code is {0}";
const REFERENCE: &str = "ref-4f1c9a";
const FRESH_REFERENCE: &str = "ref-77d0e2";
const CODE: &str = "493021";
const OTP_ACCESS_TOKEN: &str = "at-otp-0001";

fn start_request(op: &Discovered) -> http::Request<Vec<u8>> {
    op.otp_start(&Msisdn::new(format!("+{NUMBER}")), MESSAGE, now())
        .unwrap()
        .request()
}

/// The challenge the operator answers the start with: `body` as the answer.
fn started(op: &Discovered, body: &Value) -> Result<OtpChallenge, Error> {
    op.otp_start(&Msisdn::new(NUMBER), MESSAGE, now())?
        .respond(json_response(200, body), now())
}

fn challenge(op: &Discovered) -> OtpChallenge {
    started(
        op,
        &json!({"x_globalsign_iam_challenge": {"reference": REFERENCE}}),
    )
    .unwrap()
}

/// Valid claims of the grant's id_token: the number as `sub`, an `amr`, no nonce, the
/// `at_hash` of [`OTP_ACCESS_TOKEN`].
fn otp_claims() -> Value {
    let mut claims = valid_claims("unused");
    let members = claims.as_object_mut().unwrap();
    members.remove("nonce");
    members.insert("sub".to_owned(), json!(NUMBER));
    members.insert("amr".to_owned(), json!(["OTP_OK"]));
    members.insert(
        "at_hash".to_owned(),
        json!(at_hash(OTP_ACCESS_TOKEN, RS256)),
    );
    claims
}

fn tokens_body(claims: &Value) -> Value {
    json!({
        "access_token": OTP_ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 600,
        "id_token": sign(claims, RS256, TestKey::RsaA, Some("kid-a")),
    })
}

/// Verify [`CODE`] against `challenge`, the operator answering `response` (keys loaded).
fn verified(
    op: &Discovered,
    challenge: &OtpChallenge,
    response: http::Response<Vec<u8>>,
    at: UnixTime,
) -> Result<Tokens, Error> {
    match challenge
        .verify(op, &OtpCode::new(CODE), at)?
        .respond(response, at)?
    {
        Verified::Done(tokens) => Ok(tokens),
        Verified::NeedJwks(_) => panic!("the loaded keys verify the id_token"),
    }
}

/// A valid verification answered with the valid claims after `edit`.
fn verified_with(edit: impl FnOnce(&mut Value)) -> Result<Tokens, Error> {
    let op = operator();
    let challenge = challenge(&op);
    let mut claims = otp_claims();
    edit(&mut claims);
    verified(
        &op,
        &challenge,
        json_response(200, &tokens_body(&claims)),
        now(),
    )
}

#[test]
fn start_request_snapshot() {
    insta::assert_snapshot!("otp_start", transcript(&start_request(&operator())));
}

#[test]
fn verify_request_snapshot() {
    let op = operator();
    let request = challenge(&op)
        .verify(&op, &OtpCode::new(format!(" {CODE} ")), now())
        .unwrap()
        .request();
    insta::assert_snapshot!("otp_verify", transcript(&request));
}

#[test]
fn renamed_parameters_are_sent_under_the_operator_names() {
    let op = built_with_keys(
        operator_config()
            .otp(OtpSettings {
                grant_type: "urn:example:otp".to_owned(),
                username_param: "msisdn".to_owned(),
                message_param: "sms_text".to_owned(),
                ..OtpSettings::default()
            })
            .unwrap(),
    );
    let body = String::from_utf8(start_request(&op).into_body()).unwrap();
    assert!(body.starts_with("grant_type=urn%3Aexample%3Aotp&scope=openid&msisdn=447700900123&sms_text=Your+Example+Shop+code+is+%7B0%7D"), "{body}");
}

#[test]
fn valid_answer_gives_tokens_for_the_number() {
    let tokens = verified_with(|_| {}).unwrap();
    assert_eq!(tokens.sub(), NUMBER);
    assert_eq!(tokens.id_token().claims().amr, ["OTP_OK"]);
    assert_eq!(tokens.access_token().expose_secret(), OTP_ACCESS_TOKEN);
    assert_eq!(tokens.operator_id(), "test-operator");
}

#[test]
fn sub_with_plus_or_tel_prefix_is_the_number() {
    for sub in [format!("+{NUMBER}"), format!("tel:+{NUMBER}")] {
        let tokens = verified_with(|c| c["sub"] = json!(sub)).unwrap();
        assert_eq!(tokens.sub(), sub);
    }
}

#[test]
fn challenge_expiry_comes_from_the_answer_else_the_setting() {
    let op = operator();
    assert_eq!(challenge(&op).expires_at(), now().plus(300));
    let answer = json!({"x_globalsign_iam_challenge": {"reference": REFERENCE, "expires_in": 90}});
    assert_eq!(started(&op, &answer).unwrap().expires_at(), now().plus(90));
}

#[test]
fn challenge_round_trips_through_json_without_showing_number_or_reference() {
    let op = operator();
    let challenge = challenge(&op);
    let text = serde_json::to_string(&challenge).unwrap();
    assert_eq!(
        serde_json::from_str::<OtpChallenge>(&text).unwrap(),
        challenge
    );
    let debug = format!("{challenge:?}");
    assert!(
        !debug.contains(NUMBER) && !debug.contains(REFERENCE),
        "{debug}"
    );
}

/// A case of a table: its name, the one thing it breaks, the verdict expected.
type Case = (&'static str, fn(&mut Value), IdTokenError);

/// One rule broken per case, each from a valid id_token: the verdict named.
#[test]
fn id_token_rule_table() {
    let cases: [Case; 5] = [
        (
            "sub is another number",
            |c| c["sub"] = json!("447700900999"),
            IdTokenError::SubjectNotTheNumber,
        ),
        (
            "sub is a PCR",
            |c| c["sub"] = json!(SUB),
            IdTokenError::SubjectNotTheNumber,
        ),
        (
            "amr missing",
            |c| {
                c.as_object_mut().unwrap().remove("amr");
            },
            IdTokenError::AmrMissing,
        ),
        (
            "amr empty",
            |c| c["amr"] = json!([]),
            IdTokenError::AmrMissing,
        ),
        (
            "at_hash of another token",
            |c| c["at_hash"] = json!(at_hash("another", RS256)),
            IdTokenError::AtHashMismatch,
        ),
    ];
    for (case, edit, expected) in cases {
        match verified_with(edit) {
            Err(Error::IdToken(found)) => assert_eq!(
                std::mem::discriminant(&found),
                std::mem::discriminant(&expected),
                "{case}: {found:?}"
            ),
            other => panic!("{case}: expected {expected:?}, got {other:?}"),
        }
    }
}

#[test]
fn wrong_issuer_is_refused() {
    let result = verified_with(|c| c["iss"] = json!("https://impostor.example"));
    assert!(
        matches!(
            result,
            Err(Error::IdToken(IdTokenError::IssuerMismatch { .. }))
        ),
        "{result:?}"
    );
}

#[test]
fn wrong_code_is_invalid_grant_and_the_challenge_stays_usable() {
    let op = operator();
    let challenge = challenge(&op);
    let answer = json!({"error": "invalid_grant", "error_description": "Invalid OTP"});
    let error = verified(&op, &challenge, json_response(400, &answer), now()).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Refused);
    assert!(
        error.operator_error().unwrap().is("invalid_grant"),
        "{error:?}"
    );
    assert!(matches!(error, Error::Refused(_)), "{error:?}");
    let tokens = verified(
        &op,
        &challenge,
        json_response(200, &tokens_body(&otp_claims())),
        now(),
    );
    assert_eq!(tokens.unwrap().sub(), NUMBER);
}

#[test]
fn otp_expired_with_a_fresh_challenge_carries_it() {
    let op = operator();
    let challenge = challenge(&op);
    let answer = json!({
        "error": "invalid_grant",
        "error_description": "OTP Expired",
        "x_globalsign_iam_challenge": {"reference": FRESH_REFERENCE},
    });
    let later = now().plus(10);
    let error = verified(&op, &challenge, json_response(400, &answer), later).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Refused);
    assert!(error.operator_error().unwrap().is("invalid_grant"));
    let Error::Otp(otp) = &error else {
        panic!("expected OtpError::Expired, got {error:?}");
    };
    let fresh = otp.new_challenge().expect("the fresh challenge");
    assert_eq!(fresh.msisdn(), challenge.msisdn());
    assert_eq!(fresh.expires_at(), later.plus(300));
    let request = fresh
        .verify(&op, &OtpCode::new(CODE), later)
        .unwrap()
        .request();
    let body = String::from_utf8(request.into_body()).unwrap();
    assert!(body.contains(&format!("x_globalsign_iam_reference_id={FRESH_REFERENCE}")));
}

#[test]
fn otp_expired_without_a_challenge_is_expired_with_none() {
    let op = operator();
    let answer = json!({"error": "invalid_grant", "error_description": "OTP Expired"});
    let error = verified(&op, &challenge(&op), json_response(400, &answer), now()).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Otp(OtpError::Expired {
                challenge: None,
                ..
            })
        ),
        "{error:?}"
    );
}

#[test]
fn unreadable_fresh_challenge_is_still_expired_with_none() {
    let op = operator();
    let answer = json!({
        "error": "invalid_grant",
        "error_description": "OTP Expired",
        "x_globalsign_iam_challenge": {"reference": ""},
    });
    let error = verified(&op, &challenge(&op), json_response(400, &answer), now()).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Otp(OtpError::Expired {
                challenge: None,
                ..
            })
        ),
        "{error:?}"
    );
}

#[test]
fn other_refusals_stay_refusals() {
    let op = operator();
    let answer = json!({"error": "invalid_client", "error_description": "expired client"});
    let error = verified(&op, &challenge(&op), json_response(401, &answer), now()).unwrap_err();
    assert!(
        matches!(&error, Error::Refused(e) if e.is("invalid_client")),
        "{error:?}"
    );
    assert_eq!(error.operator_error().unwrap().endpoint, Endpoint::Otp);
}

#[test]
fn challenge_past_its_expiry_sends_nothing() {
    let op = operator();
    let challenge = challenge(&op);
    let error = challenge
        .verify(&op, &OtpCode::new(CODE), challenge.expires_at())
        .unwrap_err();
    assert!(
        matches!(error, Error::Otp(OtpError::ChallengeExpired { .. })),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Refused);
}

/// The misuses refused before a request exists.
#[test]
fn misuse_table() {
    let op = operator();
    let challenge = challenge(&op);
    let other = built_with_keys(
        mc_core::OperatorConfig::new(mc_core::Registration {
            operator_id: "other-operator".to_owned(),
            ..registration()
        })
        .unwrap()
        .issuer(ISSUER)
        .authorization("https://op.example/authorize")
        .unwrap()
        .token("https://op.example/token")
        .unwrap()
        .jwks("https://op.example/jwks")
        .unwrap(),
    );
    let long = format!("{{0}}{}", "x".repeat(480));
    let cases: Vec<(&str, Result<(), Error>)> = vec![
        (
            "no {0} in the message",
            op.otp_start(&Msisdn::new(NUMBER), "Your code", now())
                .map(drop),
        ),
        (
            "message too long",
            op.otp_start(&Msisdn::new(NUMBER), &long, now()).map(drop),
        ),
        (
            "number with letters",
            op.otp_start(&Msisdn::new("44770090012a"), MESSAGE, now())
                .map(drop),
        ),
        (
            "number too short",
            op.otp_start(&Msisdn::new("12345"), MESSAGE, now())
                .map(drop),
        ),
        (
            "number too long",
            op.otp_start(&Msisdn::new("1234567890123456"), MESSAGE, now())
                .map(drop),
        ),
        (
            "empty code",
            challenge.verify(&op, &OtpCode::new("  "), now()).map(drop),
        ),
        (
            "code over 64 characters",
            challenge
                .verify(&op, &OtpCode::new("1".repeat(65)), now())
                .map(drop),
        ),
        (
            "another operator",
            challenge
                .verify(&other, &OtpCode::new(CODE), now())
                .map(drop),
        ),
    ];
    for (case, result) in cases {
        match result {
            Err(Error::Misuse(_)) => {}
            other => panic!("{case}: expected a misuse, got {other:?}"),
        }
    }
    let empty_name = operator_config().otp(OtpSettings {
        code_param: String::new(),
        ..OtpSettings::default()
    });
    assert!(matches!(
        empty_name.map(drop),
        Err(Error::Misuse(MisuseError::InvalidParameter { .. }))
    ));
}

/// What the start step refuses in a 200 answer, each named.
#[test]
fn start_answer_table() {
    let op = operator();
    let cases: [(&str, Value, &str); 7] = [
        ("no challenge", json!({"reference": REFERENCE}), "challenge"),
        (
            "challenge not an object",
            json!({"x_globalsign_iam_challenge": REFERENCE}),
            "challenge",
        ),
        (
            "no reference",
            json!({"x_globalsign_iam_challenge": {}}),
            "reference",
        ),
        (
            "reference a number",
            json!({"x_globalsign_iam_challenge": {"reference": 7}}),
            "reference",
        ),
        (
            "reference empty",
            json!({"x_globalsign_iam_challenge": {"reference": ""}}),
            "reference",
        ),
        (
            "reference with a space",
            json!({"x_globalsign_iam_challenge": {"reference": "a b"}}),
            "reference",
        ),
        (
            "expires_in negative",
            json!({"x_globalsign_iam_challenge": {"reference": REFERENCE, "expires_in": -5}}),
            "expires_in",
        ),
    ];
    for (case, body, field) in cases {
        match started(&op, &body) {
            Err(Error::Protocol(
                ProtocolError::MissingField { endpoint, field: f }
                | ProtocolError::InvalidField {
                    endpoint, field: f, ..
                },
            )) => {
                assert_eq!(endpoint, Endpoint::Otp, "{case}");
                assert_eq!(f, field, "{case}");
            }
            other => panic!("{case}: expected a protocol error on {field}, got {other:?}"),
        }
    }
    let refused = started(
        &op,
        &json!({"error": "invalid_request", "error_description": "no"}),
    );
    assert!(matches!(refused, Err(Error::Refused(e)) if e.is("invalid_request")));
}

proptest! {
    #![proptest_config(cases(512))]

    /// Any reference of printable ASCII round-trips; the parser never panics on any body.
    #[test]
    fn printable_reference_round_trips(reference in "[!-~]{1,200}", expires in proptest::option::of(1u64..100_000)) {
        let mut challenge = json!({"reference": reference});
        if let Some(expires) = expires {
            challenge["expires_in"] = json!(expires);
        }
        let body = serde_json::to_vec(&json!({"x_globalsign_iam_challenge": challenge})).unwrap();
        let parsed = ChallengeBody::parse("x_globalsign_iam_challenge", &body).unwrap();
        prop_assert_eq!(parsed.reference, reference);
        prop_assert_eq!(parsed.expires_in, expires);
    }

    #[test]
    fn parser_never_panics(body in json_soup([
        Just("\"x_globalsign_iam_challenge\"").boxed(),
        Just("\"reference\"").boxed(),
        Just("\"expires_in\"").boxed(),
        Just("\"r-1\"").boxed(),
        Just("120").boxed(),
        Just("-1").boxed(),
        Just("null").boxed(),
    ])) {
        if let Ok(parsed) = ChallengeBody::parse("x_globalsign_iam_challenge", &body) {
            prop_assert!(!parsed.reference.is_empty() && parsed.reference.len() <= 1024);
        }
    }

    /// Any error answer to the verification is typed: expired (with or without a challenge) or
    /// a refusal, never a panic, never tokens.
    #[test]
    fn verify_error_answers_are_typed(
        description in proptest::option::of("[ -~]{0,40}"),
        reference in proptest::option::of("[!-~]{0,40}"),
        status in prop_oneof![Just(400u16), Just(401), Just(200)],
    ) {
        let op = operator();
        let challenge = challenge(&op);
        let mut answer = json!({"error": "invalid_grant"});
        if let Some(d) = &description {
            answer["error_description"] = json!(d);
        }
        if let Some(r) = &reference {
            answer["x_globalsign_iam_challenge"] = json!({"reference": r});
        }
        let error = verified(&op, &challenge, json_response(status, &answer), now()).unwrap_err();
        prop_assert_eq!(error.class(), ErrorClass::Refused);
        prop_assert!(error.operator_error().is_some_and(|e| e.is("invalid_grant")));
    }
}
