//! Every step's own checks outside the id_token rules: callback, discovery answers and the
//! selection return, provider metadata, JWKS, token and userinfo responses, and secrets in
//! Debug/Display output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use mc_core::{
    Algorithm, AuthorizeOptions, CallbackError, ClientSecret, DiscoveryAnswer, DiscoveryOutcome,
    DiscoveryQuery, Endpoint, Error, Exchange as _, IdTokenError, MccMnc, MisuseError, Msisdn,
    OperatorConfig, ProtocolError, ProviderMetadata, Registration, SelectionReturn, UnixTime,
    Verified,
};
use serde_json::json;
use support::*;

fn callback(query: &str) -> Result<mc_core::CodeReceived, Error> {
    let op = operator();
    let started = start(&op, AuthorizeOptions::new());
    let query = query.replace("{state}", &started.state);
    started.flow.callback(&op, &query, now())
}

// ---------------------------------------------------------------- callback

#[test]
fn callback_with_code_and_state_is_accepted() {
    assert!(callback("code=abc&state={state}").is_ok());
    assert!(callback("?code=abc&state={state}&iss=https%3A%2F%2Fop.example").is_ok());
}

#[test]
fn callback_without_state_is_refused() {
    let err = callback("code=abc").err().unwrap();
    assert!(matches!(err, Error::Callback(CallbackError::StateMissing)));
}

#[test]
fn callback_with_a_foreign_state_is_refused() {
    let err = callback("code=abc&state=someone-elses").err().unwrap();
    assert!(matches!(err, Error::Callback(CallbackError::StateMismatch)));
}

#[test]
fn callback_state_is_checked_before_the_error() {
    // A forged error redirect must not be believed either.
    let err = callback("error=access_denied&state=forged").err().unwrap();
    assert!(matches!(err, Error::Callback(CallbackError::StateMismatch)));
}

#[test]
fn callback_with_a_duplicated_parameter_is_refused() {
    let err = callback("code=abc&code=def&state={state}").err().unwrap();
    assert!(
        matches!(err, Error::Callback(CallbackError::DuplicateParameter { name }) if name == "code")
    );
}

#[test]
fn callback_over_the_bounds_is_refused() {
    let long = format!("code={}&state={{state}}", "a".repeat(20_000));
    assert!(matches!(
        callback(&long).err().unwrap(),
        Error::Callback(CallbackError::TooLarge { .. })
    ));
    let many: String = (0..100).map(|i| format!("p{i}=v&")).collect::<String>() + "state={state}";
    assert!(matches!(
        callback(&many).err().unwrap(),
        Error::Callback(CallbackError::TooLarge { .. })
    ));
}

#[test]
fn callback_with_a_mismatching_iss_is_refused() {
    let err = callback("code=abc&state={state}&iss=https%3A%2F%2Fevil.example")
        .err()
        .unwrap();
    assert!(
        matches!(err, Error::Callback(CallbackError::IssuerMismatch { found, .. }) if found == "https://evil.example")
    );
}

#[test]
fn callback_without_iss_is_refused_when_the_operator_announces_rfc9207() {
    let op = built_with_keys(
        operator_config()
            .with_metadata(
                ProviderMetadata::parse(br#"{"issuer":"https://op.example","jwks_uri":"https://op.example/jwks","authorization_response_iss_parameter_supported":true}"#)
                    .unwrap(),
            )
            .unwrap(),
    );
    let started = start(&op, AuthorizeOptions::new());
    let err = started
        .flow
        .callback(&op, &format!("code=abc&state={}", started.state), now())
        .err()
        .unwrap();
    assert!(matches!(err, Error::Callback(CallbackError::IssuerMissing)));
}

#[test]
fn callback_without_code_is_refused() {
    let err = callback("state={state}").err().unwrap();
    assert!(matches!(err, Error::Callback(CallbackError::CodeMissing)));
    let err = callback("code=&state={state}").err().unwrap();
    assert!(matches!(err, Error::Callback(CallbackError::CodeMissing)));
}

#[test]
fn callback_error_with_mc_description_and_correlation_id() {
    let err =
        callback("error=access_denied&description=User+said+no&correlation_id=c-9&state={state}")
            .err()
            .unwrap();
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("access_denied"));
    assert_eq!(refusal.description.as_deref(), Some("User said no"));
    assert_eq!(refusal.correlation_id.as_deref(), Some("c-9"));
    assert_eq!(refusal.status, None);
}

#[test]
fn callback_after_the_login_timeout_is_refused() {
    let op = operator();
    let started = start(&op, AuthorizeOptions::new());
    let late = UnixTime::from_secs(NOW + 601);
    let err = started
        .flow
        .callback(&op, &format!("code=abc&state={}", started.state), late)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        Error::Callback(CallbackError::LoginExpired { .. })
    ));
}

#[test]
fn callback_with_another_operators_context_is_misuse() {
    let op = operator();
    let started = start(&op, AuthorizeOptions::new());
    let other = OperatorConfig::new(Registration {
        operator_id: "other-operator".to_owned(),
        ..registration_with_secret("x")
    })
    .unwrap()
    .issuer("https://other.example")
    .authorization("https://other.example/a")
    .unwrap()
    .token("https://other.example/t")
    .unwrap()
    .jwks("https://other.example/jwks")
    .unwrap()
    .build()
    .unwrap();
    let err = started
        .flow
        .callback(&other, &format!("code=abc&state={}", started.state), now())
        .err()
        .unwrap();
    assert!(matches!(
        err,
        Error::Misuse(MisuseError::OperatorMismatch { .. })
    ));
    assert_eq!(err.class(), mc_core::ErrorClass::Misuse);
}

// ---------------------------------------------------------------- authorize misuse

#[test]
fn authorize_refuses_unusable_options() {
    let op = operator();
    let mut rng = entropy();
    let err = op
        .authorize(AuthorizeOptions::new().acr_values([]), &mut rng, now())
        .err()
        .unwrap();
    assert!(matches!(
        err,
        Error::Misuse(MisuseError::InvalidParameter {
            name: "acr_values",
            ..
        })
    ));
    let err = op
        .authorize(AuthorizeOptions::new().scope(["mc_authz"]), &mut rng, now())
        .err()
        .unwrap();
    assert!(matches!(
        err,
        Error::Misuse(MisuseError::AuthzFieldMissing { field: "context" })
    ));
}

#[test]
fn a_discovered_operator_without_an_issuer_is_refused_before_the_redirect() {
    // A discovery answer without an `issuer` link: no login may start until the metadata names
    // the issuer, since no id_token could be judged.
    let mut body = found_body(NOW + 7200);
    body["response"]["apis"]["operatorid"]["link"] = json!([
        {"rel": "authorization", "href": "https://op.example/authorize"},
        {"rel": "token", "href": "https://op.example/token"},
        {"rel": "jwks", "href": "https://op.example/jwks"}
    ]);
    let DiscoveryOutcome::Found(answer) =
        DiscoveryAnswer::parse(&serde_json::to_vec(&body).unwrap(), &mut entropy(), now()).unwrap()
    else {
        panic!("expected an operator");
    };
    let config = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap();
    let err = config.clone().build().err().unwrap();
    assert!(
        matches!(
            &err,
            Error::Misuse(MisuseError::IncompleteOperator { operator, missing })
                if operator == "234_15" && *missing == mc_core::MissingSetting::Issuer
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), mc_core::ErrorClass::Misuse);
    let metadata = br#"{"issuer":"https://op.example","jwks_uri":"https://op.example/jwks"}"#;
    let op = config
        .with_metadata(ProviderMetadata::parse(metadata).unwrap())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(op.issuer(), "https://op.example");
}

#[test]
fn authorizing_state_is_small_and_holds_no_operator_secret() {
    let op = operator();
    let started = start(
        &op,
        AuthorizeOptions::new()
            .login_hint(mc_core::LoginHint::Msisdn(Msisdn::new("447700900301")))
            .max_age(300)
            .correlation_id("3f1c2b9e-2d4a-4b8e-9f00-5a6b7c8d9e0f"),
    );
    let json = serde_json::to_string(&started.flow).unwrap();
    assert!(json.len() < 512, "{} bytes: {json}", json.len());
    assert!(!json.contains(CLIENT_SECRET));
    assert!(!json.contains("447700900301"));
    let back: mc_core::Authorizing = serde_json::from_str(&json).unwrap();
    assert_eq!(back, started.flow);
}

// ---------------------------------------------------------------- discovery

fn discover(response: http::Response<Vec<u8>>) -> Result<DiscoveryOutcome, Error> {
    let exchange = discovery_service()
        .discover(
            &DiscoveryQuery::msisdn(Msisdn::new("447700900301")),
            &mut entropy(),
        )
        .unwrap();
    exchange.respond(response, now())
}

#[test]
fn discovery_302_is_operator_selection() {
    let response = http::Response::builder()
        .status(302)
        .header("location", "https://discovery.example/select?session=1")
        .body(Vec::new())
        .unwrap();
    match discover(response).unwrap() {
        DiscoveryOutcome::OperatorSelection { url, .. } => assert_eq!(url.path(), "/select"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn discovery_302_without_location_is_a_protocol_error() {
    let response = http::Response::builder()
        .status(302)
        .body(Vec::new())
        .unwrap();
    assert!(matches!(
        discover(response).err().unwrap(),
        Error::Protocol(ProtocolError::MissingField {
            field: "Location",
            ..
        })
    ));
}

#[test]
fn discovery_202_with_links_is_operator_selection() {
    let body =
        json!({"links":[{"rel":"operatorSelection","href":"https://discovery.example/select"}]});
    assert!(matches!(
        discover(json_response(202, &body)).unwrap(),
        DiscoveryOutcome::OperatorSelection { .. }
    ));
}

#[test]
fn discovery_404_not_found_entity_is_a_refusal_with_description() {
    let body = json!({"error":"Not_Found_Entity","description":"Operator Not Found"});
    let err = discover(json_response(404, &body)).err().unwrap();
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("Not_Found_Entity"));
    assert_eq!(refusal.description.as_deref(), Some("Operator Not Found"));
    assert_eq!(refusal.status, Some(404));
    // Some deployments served the same body with 200.
    assert!(
        discover(json_response(200, &body))
            .err()
            .unwrap()
            .operator_error()
            .is_some()
    );
}

#[test]
fn discovery_401_without_body_is_unexpected_status() {
    let response = http::Response::builder()
        .status(401)
        .body(Vec::new())
        .unwrap();
    assert!(matches!(
        discover(response).err().unwrap(),
        Error::Protocol(ProtocolError::UnexpectedStatus { status: 401, .. })
    ));
}

fn found_body(ttl: u64) -> serde_json::Value {
    json!({
        "ttl": ttl,
        "subscriber_id": "e4b4f6c2",
        "response": {
            "serving_operator": "Example Operator A",
            "country": "GB",
            "currency": "GBP",
            "client_id": "op-client",
            "client_secret": "op-secret",
            "apis": {"operatorid": {"link": [
                {"rel": "authorization", "href": "https://op.example/authorize"},
                {"rel": "token", "href": "https://op.example/token"},
                {"rel": "userinfo", "href": "https://op.example/userinfo"},
                {"rel": "jwks", "href": "https://op.example/jwks"},
                {"rel": "issuer", "href": "https://op.example"},
                {"rel": "scope", "href": "openid mc_authn"},
                {"rel": "applicationShortName", "href": "Test Shop"}
            ]}}
        }
    })
}

#[test]
fn discovery_answer_becomes_an_operator_context_without_the_subscriber_id() {
    let DiscoveryOutcome::Found(answer) =
        discover(json_response(200, &found_body(NOW * 1000 + 3_600_000))).unwrap()
    else {
        panic!("expected an operator");
    };
    assert_eq!(answer.expires_at, now().plus(3600));
    assert_eq!(answer.client_name.as_deref(), Some("Test Shop"));
    assert_eq!(answer.link("scope"), Some("openid mc_authn"));
    assert_eq!(
        answer.subscriber_id.as_ref().unwrap().expose_secret(),
        "e4b4f6c2"
    );
    let config = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap();
    for debug in [format!("{config:?}"), format!("{answer:?}")] {
        assert!(!debug.contains("e4b4f6c2"), "{debug}");
        assert!(!debug.contains("op-secret"), "{debug}");
    }
    let op = config.build().unwrap();
    assert_eq!(op.id(), "234_15");
    assert_eq!(op.issuer(), "https://op.example");
    assert_eq!(op.client_id(), "op-client");
    assert!(!format!("{op:?}").contains("e4b4f6c2"));
    assert!(!format!("{op:?}").contains("op-secret"));
}

#[test]
fn discovery_ttl_in_seconds_and_out_of_range_is_clamped() {
    let DiscoveryOutcome::Found(a) = discover(json_response(200, &found_body(NOW + 7200))).unwrap()
    else {
        panic!()
    };
    assert_eq!(a.expires_at, now().plus(7200));
    let DiscoveryOutcome::Found(a) =
        discover(json_response(200, &found_body(1_466_082_848_000))).unwrap()
    else {
        panic!()
    };
    assert_eq!(a.expires_at, now().plus(300));
    let DiscoveryOutcome::Found(a) =
        discover(json_response(200, &found_body(NOW * 1000 * 2))).unwrap()
    else {
        panic!()
    };
    assert_eq!(a.expires_at, now().plus(180 * 24 * 3600));
}

#[test]
fn discovery_answer_without_a_token_link_cannot_make_an_operator() {
    let mut body = found_body(NOW + 7200);
    body["response"]["apis"]["operatorid"]["link"] =
        json!([{"rel": "authorization", "href": "https://op.example/authorize"}]);
    let DiscoveryOutcome::Found(answer) =
        DiscoveryAnswer::parse(&serde_json::to_vec(&body).unwrap(), &mut entropy(), now()).unwrap()
    else {
        panic!()
    };
    assert!(matches!(
        OperatorConfig::from_discovery(&answer, "x", REDIRECT_URI)
            .err()
            .unwrap(),
        Error::Protocol(ProtocolError::MissingField {
            field: "token link",
            ..
        })
    ));
}

#[test]
fn selection_return_gives_the_next_query() {
    let ret = SelectionReturn::parse(
        "mcc_mnc=234_015&subscriber_id=abc123",
        selection_leg(),
        now(),
    )
    .unwrap();
    assert_eq!(ret.mcc_mnc, Some(MccMnc::new("234", "015").unwrap()));
    assert_eq!(
        ret.subscriber_id.as_ref().unwrap().expose_secret(),
        "abc123"
    );
    assert!(ret.discovery_query().is_some());
    let ret = SelectionReturn::parse(
        "https://sp.example/discovered?subscriber_id_token=t",
        selection_leg(),
        now(),
    )
    .unwrap();
    assert_eq!(ret.mcc_mnc, None);
    assert!(ret.discovery_query().is_none());
}

#[test]
fn selection_return_errors_are_refusals() {
    let err = SelectionReturn::parse("err_msg=MSISDNNotFound", selection_leg(), now())
        .err()
        .unwrap();
    assert!(err.operator_error().unwrap().is("MSISDNNotFound"));
    let err = SelectionReturn::parse(
        "error=invalid_request&description=bad",
        selection_leg(),
        now(),
    )
    .err()
    .unwrap();
    assert_eq!(
        err.operator_error().unwrap().description.as_deref(),
        Some("bad")
    );
    assert!(matches!(
        SelectionReturn::parse("mcc_mnc=23415", selection_leg(), now())
            .err()
            .unwrap(),
        Error::Protocol(ProtocolError::InvalidField {
            field: "mcc_mnc",
            ..
        })
    ));
}

#[test]
fn mcc_mnc_is_validated() {
    assert!(MccMnc::new("234", "15").is_ok());
    assert!(MccMnc::new("405", "755").is_ok());
    assert!(MccMnc::new("23", "15").is_err());
    assert!(MccMnc::new("234", "1").is_err());
    assert!(MccMnc::parse("234-15").is_err());
    assert_eq!(MccMnc::parse("901_01").unwrap().to_string(), "901_01");
}

// ---------------------------------------------------------------- metadata and JWKS

#[test]
fn metadata_with_another_issuer_is_refused() {
    let md = ProviderMetadata::parse(br#"{"issuer":"https://evil.example"}"#).unwrap();
    let err = operator_config().with_metadata(md).err().unwrap();
    assert!(
        matches!(
            &err,
            Error::Protocol(ProtocolError::MetadataIssuerMismatch { expected, found })
                if expected == ISSUER && found == "https://evil.example"
        ),
        "{err:?}"
    );
}

#[test]
fn metadata_endpoints_override_the_configured_ones() {
    let md = ProviderMetadata::parse(
        br#"{"issuer":"https://op.example","token_endpoint":"https://op.example/v2/token","jwks_uri":"https://op.example/v2/jwks","mc_claims_parameter_supported":"1"} "#,
    )
    .unwrap();
    let op = operator_config()
        .with_metadata(md)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(op.endpoints().token.as_str(), "https://op.example/v2/token");
    assert_eq!(
        op.endpoints().jwks.as_ref().unwrap().as_str(),
        "https://op.example/v2/jwks"
    );
    assert_eq!(
        op.metadata().unwrap().mc_claims_parameter_supported,
        Some(true)
    );
}

#[test]
fn metadata_without_issuer_is_malformed() {
    assert!(matches!(
        ProviderMetadata::parse(br#"{"token_endpoint":"https://x"}"#)
            .err()
            .unwrap(),
        ProtocolError::MalformedJson { .. }
    ));
}

#[test]
fn an_unknown_issuer_is_learned_from_metadata() {
    let config = OperatorConfig::new(Registration {
        operator_id: "o".to_owned(),
        client_id: "c".to_owned(),
        client_secret: ClientSecret::new("s"),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .unwrap()
    .authorization("https://o.example/a")
    .unwrap()
    .token("https://o.example/t")
    .unwrap()
    .jwks("https://o.example/jwks")
    .unwrap();
    assert!(config.metadata_exchange().is_err());
    let config = config
        .with_metadata(
            ProviderMetadata::parse(
                br#"{"issuer":"https://o.example","jwks_uri":"https://o.example/jwks"}"#,
            )
            .unwrap(),
        )
        .unwrap();
    let req = config.metadata_exchange().unwrap().request();
    assert_eq!(
        req.uri(),
        "https://o.example/.well-known/openid-configuration"
    );
    let op = config.build().unwrap();
    assert_eq!(op.issuer(), "https://o.example");
}

#[test]
fn jwks_skips_unusable_keys_and_bounds_the_count() {
    let body = jwks_body(&[
        json!({"kty": "AAA", "kid": "x"}),
        json!({"kty": "oct", "k": "c2VjcmV0"}),
        json!({"kty": "RSA", "kid": "no-n", "e": "AQAB"}),
        TestKey::RsaA
            .jwk(Some("enc"), None)
            .as_object()
            .cloned()
            .map(|mut m| {
                m.insert("use".into(), json!("enc"));
                serde_json::Value::Object(m)
            })
            .unwrap(),
        TestKey::RsaA.jwk(Some("good"), Some("RS256")),
        TestKey::EcP256.jwk(Some("ec"), Some("RS256")),
    ]);
    let jwks = mc_core::Jwks::parse(&body).unwrap();
    assert_eq!(jwks.keys().len(), 1);
    assert_eq!(jwks.keys()[0].kid(), Some("good"));
    assert_eq!(jwks.skipped(), 5);

    let many: Vec<_> = (0..65)
        .map(|i| TestKey::RsaA.jwk(Some(&format!("k{i}")), None))
        .collect();
    assert!(matches!(
        mc_core::Jwks::parse(&jwks_body(&many)).err().unwrap(),
        ProtocolError::TooManyKeys { found: 65, .. }
    ));
}

#[test]
fn jwks_exchange_refuses_an_error_status() {
    let op = operator();
    let err = op
        .jwks_exchange()
        .unwrap()
        .respond(raw_response(500, "text/plain", b"oops"), now())
        .err()
        .unwrap();
    assert!(matches!(
        err,
        Error::Protocol(ProtocolError::UnexpectedStatus {
            status: 500,
            endpoint: Endpoint::Jwks
        })
    ));
}

// ---------------------------------------------------------------- token responses

fn token_with(response: http::Response<Vec<u8>>) -> Result<mc_core::Tokens, Error> {
    token_step(&operator(), AuthorizeOptions::new(), |_| response)
}

#[test]
fn token_error_body_is_the_operators_refusal() {
    let err = token_with(json_response(
        400,
        &json!({"error":"invalid_grant","error_description":"Code expired"}),
    ))
    .err()
    .unwrap();
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("invalid_grant"));
    assert_eq!(refusal.endpoint, Endpoint::Token);
}

#[test]
fn token_response_problems_are_protocol_errors() {
    assert!(matches!(
        token_with(raw_response(500, "text/html", b"<html>"))
            .err()
            .unwrap(),
        Error::Protocol(ProtocolError::UnexpectedStatus { status: 500, .. })
    ));
    assert!(matches!(
        token_with(raw_response(200, "text/html", b"<html>"))
            .err()
            .unwrap(),
        Error::Protocol(ProtocolError::MalformedJson { .. })
    ));
    assert!(matches!(
        token_with(json_response(
            200,
            &json!({"token_type":"Bearer","id_token":"x"})
        ))
        .err()
        .unwrap(),
        Error::Protocol(ProtocolError::MissingField {
            field: "access_token",
            ..
        })
    ));
    assert!(matches!(
        token_with(json_response(
            200,
            &json!({"access_token":"a","token_type":"MAC","id_token":"x"})
        ))
        .err()
        .unwrap(),
        Error::Protocol(ProtocolError::TokenTypeNotBearer { .. })
    ));
    assert!(matches!(
        token_with(json_response(
            200,
            &json!({"access_token":"a","token_type":"bearer"})
        ))
        .err()
        .unwrap(),
        Error::IdToken(IdTokenError::Missing)
    ));
    let huge = vec![b' '; mc_core::wire::MAX_JSON_BYTES + 1];
    assert!(matches!(
        token_with(raw_response(200, "application/json", &huge))
            .err()
            .unwrap(),
        Error::Protocol(ProtocolError::BodyTooLarge { .. })
    ));
}

#[test]
fn malformed_json_errors_do_not_echo_the_body() {
    let err = token_with(raw_response(
        200,
        "application/json",
        br#"{"access_token": "at-SECRET-1", "expires_in": [1,2]}"#,
    ))
    .err()
    .unwrap();
    assert!(!format!("{err} {err:?}").contains("SECRET"));
}

// ---------------------------------------------------------------- userinfo

fn tokens() -> mc_core::Tokens {
    verify_claims(&operator(), |_| {}).unwrap()
}

fn userinfo_with(response: http::Response<Vec<u8>>) -> Result<Verified<mc_core::UserInfo>, Error> {
    let op = operator();
    tokens().userinfo(&op).unwrap().respond(response, now())
}

#[test]
fn userinfo_sub_must_match_the_id_token() {
    let err = userinfo_with(json_response(200, &json!({"sub":"someone-else"})))
        .err()
        .unwrap();
    assert!(matches!(
        err,
        Error::Protocol(ProtocolError::SubjectMismatch {
            endpoint: Endpoint::UserInfo
        })
    ));
    let err = userinfo_with(json_response(200, &json!({"email":"x@example.com"})))
        .err()
        .unwrap();
    assert!(matches!(
        err,
        Error::Protocol(ProtocolError::MissingField { field: "sub", .. })
    ));
}

#[test]
fn userinfo_html_and_error_bodies() {
    assert!(matches!(
        userinfo_with(raw_response(200, "text/html", b"<html>not valid</html>"))
            .err()
            .unwrap(),
        Error::Protocol(ProtocolError::MalformedJson { .. })
    ));
    let err = userinfo_with(json_response(403, &json!({"error":"insufficient_scope"})))
        .err()
        .unwrap();
    assert!(err.operator_error().unwrap().is("insufficient_scope"));
}

fn signed_userinfo(claims: serde_json::Value, kid: &str) -> http::Response<Vec<u8>> {
    raw_response(
        200,
        "application/jwt",
        sign(&claims, Algorithm::RS256, TestKey::RsaA, Some(kid)).as_bytes(),
    )
}

#[test]
fn signed_userinfo_is_verified() {
    let claims =
        json!({"sub": SUB, "iss": ISSUER, "aud": CLIENT_ID, "phone_number": "+447700900301"});
    let Verified::Done(info) = userinfo_with(signed_userinfo(claims, "kid-a")).unwrap() else {
        panic!()
    };
    assert!(info.was_signed());
    assert_eq!(info.phone_number(), Some("+447700900301"));
    assert!(!format!("{info:?}").contains("447700900301"));
}

#[test]
fn signed_userinfo_rejections() {
    let bad_iss = json!({"sub": SUB, "iss": "https://evil.example"});
    assert!(matches!(
        userinfo_with(signed_userinfo(bad_iss, "kid-a"))
            .err()
            .unwrap(),
        Error::IdToken(IdTokenError::IssuerMismatch { .. })
    ));
    let bad_aud = json!({"sub": SUB, "aud": "another-client"});
    assert!(matches!(
        userinfo_with(signed_userinfo(bad_aud, "kid-a"))
            .err()
            .unwrap(),
        Error::IdToken(IdTokenError::AudienceMismatch { .. })
    ));
    let mut tampered = sign(
        &json!({"sub": SUB}),
        Algorithm::RS256,
        TestKey::RsaA,
        Some("kid-a"),
    );
    tampered.push('A');
    assert!(matches!(
        userinfo_with(raw_response(200, "application/jwt", tampered.as_bytes()))
            .err()
            .unwrap(),
        Error::IdToken(IdTokenError::BadSignature | IdTokenError::Malformed { .. })
    ));
}

#[test]
fn signed_userinfo_with_an_unknown_kid_asks_for_keys_once() {
    // Keys stored at the fixed "now" and a new kid at once: no refetch spacing.
    let op = operator_refetching_at_once();
    let refetch = match tokens()
        .userinfo(&op)
        .unwrap()
        .respond(signed_userinfo(json!({"sub": SUB}), "kid-new"), now())
        .unwrap()
    {
        Verified::NeedJwks(refetch) => refetch,
        Verified::Done(_) => panic!("kid-new is not loaded"),
    };
    let request = refetch.request();
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(request.uri(), "https://op.example/jwks");
    let later = now().plus(60);
    let info = refetch
        .respond(
            raw_response(
                200,
                "application/json",
                &jwks_body(&[TestKey::RsaA.jwk(Some("kid-new"), None)]),
            ),
            later,
        )
        .unwrap();
    assert!(info.was_signed());
    assert_eq!(info.endpoint(), Endpoint::UserInfo);
    // The refetched keys are the context's.
    assert_eq!(op.jwks().keys()[0].kid(), Some("kid-new"));
    assert_eq!(op.jwks_fetched_at(), Some(later));
}

// ---------------------------------------------------------------- secrets

#[test]
fn no_secret_appears_in_debug_or_display() {
    let op = operator();
    let started = start(
        &op,
        AuthorizeOptions::new().login_hint(mc_core::LoginHint::Msisdn(Msisdn::new("447700900301"))),
    );
    let flow_debug = format!("{:?}", started.flow);
    let code = started
        .flow
        .callback(
            &op,
            &format!("code=the-secret-code&state={}", started.state),
            now(),
        )
        .unwrap();
    let code_debug = format!("{code:?}");
    let exchange = code.token_exchange(&op, now()).unwrap();
    let exchange_debug = format!("{exchange:?} {:?}", exchange.request());
    let id_token = sign(
        &valid_claims(&started.nonce),
        Algorithm::RS256,
        TestKey::RsaA,
        Some("kid-a"),
    );
    let Verified::Done(tokens) = exchange.respond(token_response(&id_token), now()).unwrap() else {
        panic!()
    };
    let tokens_debug = format!("{tokens:?} {:?}", tokens.id_token());
    let userinfo = tokens.userinfo(&op).unwrap();
    let userinfo_debug = format!("{userinfo:?} {:?}", userinfo.request());
    let all = [
        flow_debug,
        code_debug,
        exchange_debug,
        tokens_debug,
        userinfo_debug,
        format!("{op:?}"),
    ]
    .join("\n");
    for secret in [
        CLIENT_SECRET,
        "the-secret-code",
        ACCESS_TOKEN,
        started.state.as_str(),
        started.nonce.as_str(),
        "447700900301",
        id_token.as_str(),
    ] {
        assert!(!all.contains(secret), "{secret} leaked into:\n{all}");
    }
    assert_eq!(ClientSecret::new("x").to_string(), "[redacted]");
}
