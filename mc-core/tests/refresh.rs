//! Refresh (RFC 6749 6, OIDC Core 12.2) and revocation (RFC 7009) after a login through the
//! fixed operator: what the answer replaces and keeps, one named test per rule broken (each
//! starts from a valid refreshed id_token and breaks one thing), the misuses, and a property
//! that the refresh answer's parser never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

use jsonwebtoken::Algorithm::RS256;
use mc_core::id_token::at_hash;
use mc_core::{
    AuthorizeOptions, Discovered, Endpoint, Error, Exchange as _, IdTokenError, MisuseError,
    TokenKind, Tokens, Verified,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const REFRESH_ENDPOINT: &str = "https://op.example/refresh";
const REVOCATION_ENDPOINT: &str = "https://op.example/revoke";
/// The refresh token of the first login.
const REFRESH_TOKEN: &str = "rt-original-0001";
/// The refresh token a rotating operator answers with.
const ROTATED: &str = "rt-rotated-0002";
/// The access token of the refresh answer.
const NEW_ACCESS_TOKEN: &str = "at-refreshed-0002";

/// The fixed operator with refresh and revocation endpoints.
fn op() -> Discovered {
    built_with_keys(
        operator_config()
            .refresh(REFRESH_ENDPOINT)
            .unwrap()
            .revocation(REVOCATION_ENDPOINT)
            .unwrap(),
    )
}

/// The first login's tokens (with [`REFRESH_TOKEN`] when `refresh_token`) and its nonce.
fn login_with(op: &Discovered, refresh_token: bool) -> (Tokens, String) {
    let mut nonce = String::new();
    let tokens = token_step(op, AuthorizeOptions::new(), |s| {
        nonce.clone_from(&s.nonce);
        let mut body: Value =
            serde_json::from_slice(&mc_sandbox::fixture::token_body(&valid_id_token(&s.nonce)))
                .unwrap();
        if refresh_token {
            body["refresh_token"] = json!(REFRESH_TOKEN);
        }
        body["scope"] = json!("openid");
        json_response(200, &body)
    })
    .unwrap();
    (tokens, nonce)
}

fn login(op: &Discovered) -> (Tokens, String) {
    login_with(op, true)
}

/// A valid refreshed id_token's claims: the login's, issued now, without a nonce, with the
/// `at_hash` of [`NEW_ACCESS_TOKEN`].
fn refreshed_claims() -> Value {
    let mut claims = valid_claims("unused");
    let members = claims.as_object_mut().unwrap();
    members.remove("nonce");
    members.insert("iat".to_owned(), json!(NOW - 1));
    members.insert(
        "at_hash".to_owned(),
        json!(at_hash(NEW_ACCESS_TOKEN, RS256)),
    );
    claims
}

/// A refresh answer with this id_token's claims (none: no id_token) and refresh token.
fn refresh_body(claims: Option<&Value>, refresh_token: Option<&str>) -> Value {
    let mut body = json!({
        "access_token": NEW_ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 600,
    });
    if let Some(claims) = claims {
        body["id_token"] = json!(sign(claims, RS256, TestKey::RsaA, Some("kid-a")));
    }
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    body
}

/// Refresh `tokens` and hand the exchange `response` (the keys are loaded: no refetch).
fn refresh_answered(
    op: &Discovered,
    tokens: &Tokens,
    response: http::Response<Vec<u8>>,
) -> Result<Tokens, Error> {
    match tokens.refresh(op, now())?.respond(response, now())? {
        Verified::Done(tokens) => Ok(tokens),
        Verified::NeedJwks(_) => panic!("the keys of the login verify the refreshed id_token"),
    }
}

/// A login, then a refresh answered with the valid refreshed claims after `edit`.
fn refresh_with(edit: impl FnOnce(&mut Value, &str)) -> Result<Tokens, Error> {
    let op = op();
    let (tokens, nonce) = login(&op);
    let mut claims = refreshed_claims();
    edit(&mut claims, &nonce);
    refresh_answered(
        &op,
        &tokens,
        json_response(200, &refresh_body(Some(&claims), Some(ROTATED))),
    )
}

fn id_token_error(result: Result<Tokens, Error>) -> IdTokenError {
    match result {
        Err(Error::IdToken(e)) => e,
        other => panic!("expected an id_token rejection, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// What a refresh replaces and keeps
// ---------------------------------------------------------------------------------------------

#[test]
fn refresh_rotated_token_replaces_the_old() {
    let op = op();
    let (tokens, _) = login(&op);
    let refreshed = refresh_answered(
        &op,
        &tokens,
        json_response(200, &refresh_body(Some(&refreshed_claims()), Some(ROTATED))),
    )
    .unwrap();
    assert_eq!(refreshed.access_token().expose_secret(), NEW_ACCESS_TOKEN);
    assert_eq!(refreshed.refresh_token().unwrap().expose_secret(), ROTATED);
    assert_eq!(refreshed.expires_at(), Some(now().plus(600)));
    assert_eq!(refreshed.sub(), SUB);
    assert_ne!(refreshed.id_token().jwt(), tokens.id_token().jwt());
    assert_eq!(refreshed.id_token().claims().nonce, None);
    // Not in the answer: kept.
    assert_eq!(refreshed.scope(), Some("openid"));
    assert_eq!(refreshed.operator_id(), tokens.operator_id());
}

#[test]
fn refresh_without_a_new_refresh_token_keeps_the_old() {
    let op = op();
    let (tokens, _) = login(&op);
    let refreshed = refresh_answered(
        &op,
        &tokens,
        json_response(200, &refresh_body(Some(&refreshed_claims()), None)),
    )
    .unwrap();
    assert_eq!(refreshed.access_token().expose_secret(), NEW_ACCESS_TOKEN);
    assert_eq!(
        refreshed.refresh_token().unwrap().expose_secret(),
        REFRESH_TOKEN
    );
}

#[test]
fn refresh_without_an_id_token_keeps_the_original() {
    let op = op();
    let (tokens, _) = login(&op);
    let refreshed = refresh_answered(
        &op,
        &tokens,
        json_response(200, &refresh_body(None, Some(ROTATED))),
    )
    .unwrap();
    assert_eq!(refreshed.access_token().expose_secret(), NEW_ACCESS_TOKEN);
    assert_eq!(refreshed.id_token().jwt(), tokens.id_token().jwt());
    assert_eq!(refreshed.refresh_token().unwrap().expose_secret(), ROTATED);
}

#[test]
fn refresh_with_the_original_nonce_is_accepted() {
    let refreshed = refresh_with(|c, nonce| c["nonce"] = json!(nonce)).unwrap();
    assert_eq!(refreshed.sub(), SUB);
}

#[test]
fn refresh_with_auth_time_only_in_one_token_is_accepted() {
    let refreshed = refresh_with(|c, _| {
        c.as_object_mut().unwrap().remove("auth_time");
    })
    .unwrap();
    assert_eq!(refreshed.id_token().claims().auth_time, None);
}

#[test]
fn refresh_goes_to_the_token_endpoint_without_a_refresh_endpoint() {
    let op = built_with_keys(operator_config());
    let (tokens, _) = login(&op);
    let request = tokens.refresh(&op, now()).unwrap().request();
    assert_eq!(
        request.uri().to_string(),
        mc_sandbox::fixture::TOKEN_ENDPOINT
    );
}

// ---------------------------------------------------------------------------------------------
// OIDC Core 12.2 and the id_token rules: one broken rule each
// ---------------------------------------------------------------------------------------------

#[test]
fn refresh_changed_sub() {
    let e = id_token_error(refresh_with(|c, _| c["sub"] = json!("pcr-someone-else")));
    assert!(matches!(e, IdTokenError::SubjectChanged), "{e:?}");
}

#[test]
fn refresh_changed_iss() {
    let e = id_token_error(refresh_with(|c, _| {
        c["iss"] = json!("https://evil.example")
    }));
    assert!(
        matches!(&e, IdTokenError::IssuerMismatch { found, .. } if found == "https://evil.example"),
        "{e:?}"
    );
}

#[test]
fn refresh_aud_without_the_client() {
    let e = id_token_error(refresh_with(|c, _| {
        c["aud"] = json!(["another-client"]);
        c.as_object_mut().unwrap().remove("azp");
    }));
    assert!(matches!(e, IdTokenError::AudienceMismatch { .. }), "{e:?}");
}

#[test]
fn refresh_changed_auth_time() {
    let e = id_token_error(refresh_with(|c, _| c["auth_time"] = json!(NOW - 3)));
    assert!(
        matches!(e, IdTokenError::AuthTimeChanged { original, found }
            if original == NOW - 10 && found == NOW - 3),
        "{e:?}"
    );
}

#[test]
fn refresh_wrong_nonce() {
    let e = id_token_error(refresh_with(|c, _| c["nonce"] = json!("another-nonce")));
    assert!(matches!(e, IdTokenError::NonceMismatch), "{e:?}");
}

#[test]
fn refresh_bad_signature() {
    let op = op();
    let (tokens, _) = login(&op);
    let mut body = refresh_body(None, None);
    // The operator's kid, signed by a key the operator does not hold.
    body["id_token"] = json!(sign(
        &refreshed_claims(),
        RS256,
        TestKey::RsaB,
        Some("kid-a")
    ));
    let e = id_token_error(refresh_answered(&op, &tokens, json_response(200, &body)));
    assert!(matches!(e, IdTokenError::BadSignature), "{e:?}");
}

#[test]
fn refresh_expired_id_token() {
    let e = id_token_error(refresh_with(|c, _| c["exp"] = json!(NOW - 600)));
    assert!(matches!(e, IdTokenError::Expired { .. }), "{e:?}");
}

#[test]
fn refresh_at_hash_of_another_access_token() {
    let e = id_token_error(refresh_with(|c, _| {
        c["at_hash"] = json!(at_hash(ACCESS_TOKEN, RS256));
    }));
    assert!(matches!(e, IdTokenError::AtHashMismatch), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Refusals and misuse
// ---------------------------------------------------------------------------------------------

#[test]
fn refresh_invalid_grant() {
    let op = op();
    let (tokens, _) = login(&op);
    let e = refresh_answered(
        &op,
        &tokens,
        json_response(
            400,
            &json!({"error": "invalid_grant", "error_description": "refresh token revoked"}),
        ),
    )
    .unwrap_err();
    let refusal = e.operator_error().expect("a typed refusal");
    assert!(refusal.is("invalid_grant"), "{refusal:?}");
    assert_eq!(refusal.status, Some(400));
    assert_eq!(refusal.endpoint, Endpoint::Refresh);
    assert_eq!(e.class(), mc_core::ErrorClass::Refused);
}

#[test]
fn refresh_and_revoke_name_their_endpoints() {
    let op = op();
    let (tokens, _) = login(&op);
    assert_eq!(
        tokens.refresh(&op, now()).unwrap().endpoint(),
        Endpoint::Refresh
    );
    let revoke = tokens.revoke(&op, TokenKind::Access, now()).unwrap();
    assert_eq!(revoke.endpoint(), Endpoint::Revocation);
    assert_eq!(Endpoint::Refresh.as_str(), "refresh");
    assert_eq!(Endpoint::Revocation.as_str(), "revocation");
}

#[test]
fn refresh_malformed_answer_names_the_refresh_endpoint() {
    let op = op();
    let (tokens, _) = login(&op);
    let e =
        refresh_answered(&op, &tokens, raw_response(200, "application/json", b"{")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Protocol(mc_core::ProtocolError::MalformedJson {
                endpoint: Endpoint::Refresh,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn refresh_missing_refresh_token() {
    let op = op();
    let (tokens, _) = login_with(&op, false);
    let e = tokens.refresh(&op, now()).unwrap_err();
    assert!(
        matches!(e, Error::Misuse(MisuseError::NoRefreshToken)),
        "{e:?}"
    );
    let e = tokens.revoke(&op, TokenKind::Refresh, now()).unwrap_err();
    assert!(
        matches!(e, Error::Misuse(MisuseError::NoRefreshToken)),
        "{e:?}"
    );
}

#[test]
fn refresh_with_another_operator() {
    let op = op();
    let (tokens, _) = login(&op);
    let mut other = registration();
    other.operator_id = "other-operator".to_owned();
    let other = built_with_keys(operator_config_for(other));
    let e = tokens.refresh(&other, now()).unwrap_err();
    assert!(
        matches!(e, Error::Misuse(MisuseError::OperatorMismatch { .. })),
        "{e:?}"
    );
}

#[test]
fn revoke_no_revocation_endpoint() {
    let op = built_with_keys(operator_config());
    let (tokens, _) = login(&op);
    let e = tokens.revoke(&op, TokenKind::Access, now()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Misuse(MisuseError::MissingEndpoint {
                endpoint: "revocation"
            })
        ),
        "{e:?}"
    );
}

#[test]
fn revoke_success_with_any_body() {
    let op = op();
    let (tokens, _) = login(&op);
    for body in [&b""[..], b"{}", b"ok", b"{\"error\":\"ignored at 200\"}"] {
        let exchange = tokens.revoke(&op, TokenKind::Refresh, now()).unwrap();
        exchange
            .respond(raw_response(200, "text/plain", body), now())
            .unwrap();
    }
}

#[test]
fn revoke_refusal() {
    let op = op();
    let (tokens, _) = login(&op);
    let exchange = tokens.revoke(&op, TokenKind::Access, now()).unwrap();
    let e = exchange
        .respond(
            json_response(400, &json!({"error": "unsupported_token_type"})),
            now(),
        )
        .unwrap_err();
    let refusal = e.operator_error().expect("a typed refusal");
    assert!(refusal.is("unsupported_token_type"), "{refusal:?}");
    assert_eq!(refusal.endpoint, Endpoint::Revocation);
}

#[test]
fn revoke_server_error_without_a_body() {
    let op = op();
    let (tokens, _) = login(&op);
    let exchange = tokens.revoke(&op, TokenKind::Access, now()).unwrap();
    let e = exchange
        .respond(raw_response(503, "text/plain", b"busy"), now())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Protocol(mc_core::ProtocolError::UnexpectedStatus {
                endpoint: Endpoint::Revocation,
                status: 503
            })
        ),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(128))]

    /// Whatever bytes answer a refresh, at whatever status: a value or a typed error.
    #[test]
    fn refresh_response_parser_never_panics(
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            json_soup([
                Just("\"access_token\"").boxed(),
                Just("\"token_type\"").boxed(),
                Just("\"Bearer\"").boxed(),
                Just("\"refresh_token\"").boxed(),
                Just("\"id_token\"").boxed(),
                Just("\"expires_in\"").boxed(),
                Just("\"error\"").boxed(),
                Just("null").boxed(),
                Just("1e999").boxed(),
                Just("\"eyJhbGciOiJSUzI1NiJ9.e30.c2ln\"").boxed(),
            ]),
        ],
        status in prop_oneof![Just(200u16), Just(400u16), 100u16..600],
    ) {
        let op = op();
        let (tokens, _) = login(&op);
        let exchange = tokens.refresh(&op, now()).unwrap();
        let _ = exchange.respond(raw_response(status, "application/json", &body), now());
    }
}
