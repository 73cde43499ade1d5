//! The whole browser login in memory against the fake operator, at a fixed time: metadata,
//! authorize, the simulated handset, callback, token (with the first JWKS fetch), userinfo and
//! premium info; then the flows that end in the operator's refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use mc_core::{
    AuthorizeOptions, Discovered, Endpoint, Error, Exchange as _, LoginHint, Msisdn, Tokens,
    Verified,
};
use support::fake_operator::{FakeOperator, Handset, finish, run};
use support::*;

/// An operator context as a host builds it: registry entry, then its metadata; no keys yet.
fn fresh_operator(fake: &mut FakeOperator) -> Discovered {
    let config = operator_config();
    let metadata = run(fake, config.metadata_exchange().unwrap()).unwrap();
    config.with_metadata(metadata).unwrap().build().unwrap()
}

/// The host's token step: run the exchange, and the JWKS refetch when the step pauses for keys.
fn tokens(
    fake: &mut FakeOperator,
    op: &Discovered,
    code: mc_core::CodeReceived,
) -> Result<Tokens, Error> {
    finish(fake, code.token_exchange(op, now())?)
}

fn login(
    fake: &mut FakeOperator,
    op: &Discovered,
    options: AuthorizeOptions,
) -> Result<Tokens, Error> {
    let started = start(op, options);
    let callback = fake.authorize(&started.url);
    let code = started.flow.callback(op, &callback, now())?;
    tokens(fake, op, code)
}

#[test]
fn whole_login_with_userinfo_and_premiuminfo() {
    let mut fake = FakeOperator::new();
    let op = fresh_operator(&mut fake);
    let options = AuthorizeOptions::new()
        .login_hint(LoginHint::Msisdn(Msisdn::new("447700900301")))
        .correlation_id("corr-1");
    let tokens = login(&mut fake, &op, options).unwrap();
    assert_eq!(tokens.sub(), SUB);
    assert_eq!(tokens.id_token().acr(), Some("2"));
    assert_eq!(tokens.id_token().amr(), ["SIM_OK"]);
    assert!(tokens.id_token().hashed_login_hint_matches("5f2b"));
    assert_eq!(tokens.expires_at(), Some(now().plus(3600)));
    // The first token response asked for the JWKS: exactly one fetch.
    assert_eq!(
        fake.requests
            .iter()
            .filter(|r| r.ends_with("/jwks"))
            .count(),
        1
    );

    let info = match run(&mut fake, tokens.userinfo(&op).unwrap()).unwrap() {
        Verified::Done(info) => info,
        Verified::NeedJwks(_) => panic!("plain JSON needs no keys"),
    };
    // The keys the token step fetched are the context's now.
    assert_eq!(op.jwks_fetched_at(), Some(now()));
    assert_eq!(op.jwks().keys()[0].kid(), Some("kid-a"));
    assert_eq!(info.sub(), SUB);
    assert_eq!(info.phone_number(), Some("+447700900301"));
    assert_eq!(info.endpoint(), Endpoint::UserInfo);
    assert!(!info.was_signed());

    // The tokens stay the host's after a userinfo call.
    let premium = match run(&mut fake, tokens.premiuminfo(&op).unwrap()).unwrap() {
        Verified::Done(info) => info,
        Verified::NeedJwks(_) => panic!("plain JSON needs no keys"),
    };
    assert_eq!(premium.endpoint(), Endpoint::PremiumInfo);
    assert_eq!(
        fake.requests,
        [
            "GET /.well-known/openid-configuration",
            "POST /token",
            "GET /jwks",
            "GET /userinfo",
            "GET /premiuminfo"
        ]
    );
}

#[test]
fn loa3_with_pin_is_verified() {
    let mut fake = FakeOperator::new();
    fake.handset = Handset::ApprovePin;
    let op = fresh_operator(&mut fake);
    let tokens = login(&mut fake, &op, AuthorizeOptions::new().acr_values([3])).unwrap();
    assert_eq!(tokens.id_token().acr(), Some("3"));
    assert_eq!(tokens.id_token().amr(), ["SIM_PIN"]);
}

#[test]
fn es256_operator_is_verified() {
    let mut fake = FakeOperator::new();
    fake.key = TestKey::EcP256;
    fake.kid = "kid-ec".to_owned();
    let op = fresh_operator(&mut fake);
    let tokens = login(&mut fake, &op, AuthorizeOptions::new()).unwrap();
    assert_eq!(tokens.id_token().alg(), mc_core::Algorithm::ES256);
}

#[test]
fn declined_on_the_handset_is_access_denied() {
    let mut fake = FakeOperator::new();
    fake.handset = Handset::Decline;
    let op = fresh_operator(&mut fake);
    let err = login(&mut fake, &op, AuthorizeOptions::new())
        .err()
        .unwrap();
    let refusal = err.operator_error().unwrap_or_else(|| panic!("{err:?}"));
    assert!(refusal.is("access_denied"));
    assert_eq!(refusal.endpoint, Endpoint::Authorization);
    assert_eq!(refusal.description.as_deref(), Some("User declined"));
    assert_eq!(err.class(), mc_core::ErrorClass::Refused);
}

#[test]
fn key_rotation_between_logins_costs_one_refetch() {
    let mut fake = FakeOperator::new();
    // The rotation comes at once (a fixed clock): no refetch spacing, unlike the default.
    let mut policy = mc_core::Policy::default();
    policy.jwks_min_refetch_secs = 0;
    let config = operator_config().policy(policy);
    let metadata = run(&mut fake, config.metadata_exchange().unwrap()).unwrap();
    let op = config.with_metadata(metadata).unwrap().build().unwrap();
    let _first = login(&mut fake, &op, AuthorizeOptions::new()).unwrap();
    fake.key = TestKey::RsaB;
    fake.kid = "kid-b".to_owned();
    let tokens = login(&mut fake, &op, AuthorizeOptions::new()).unwrap();
    assert_eq!(tokens.id_token().kid(), Some("kid-b"));
    assert_eq!(
        fake.requests
            .iter()
            .filter(|r| r.ends_with("/jwks"))
            .count(),
        2
    );
}

#[test]
fn a_replayed_code_is_invalid_grant() {
    let mut fake = FakeOperator::new();
    let op = fresh_operator(&mut fake);
    let started = start(&op, AuthorizeOptions::new());
    let callback = fake.authorize(&started.url);
    let code = started
        .flow
        .clone()
        .callback(&op, &callback, now())
        .unwrap();
    let again = started.flow.callback(&op, &callback, now()).unwrap();
    let _first = tokens(&mut fake, &op, code).unwrap();
    let err = tokens(&mut fake, &op, again).err().unwrap();
    assert!(err.operator_error().unwrap().is("invalid_grant"));
    assert_eq!(err.operator_error().unwrap().status, Some(400));
}

#[test]
fn an_injected_code_from_another_login_fails_pkce() {
    let mut fake = FakeOperator::new();
    let op = fresh_operator(&mut fake);
    // The attacker's own login yields a code bound to the attacker's PKCE challenge...
    let attacker = start(&op, AuthorizeOptions::new());
    let attacker_callback = fake.authorize(&attacker.url);
    let stolen_code = attacker_callback.split('&').next().unwrap().to_owned();
    // ...injected into the victim's callback with the victim's state.
    let mut victim_rng = |buf: &mut [u8]| buf.fill(0xA5);
    let (_, victim) = op
        .authorize(AuthorizeOptions::new(), &mut victim_rng, now())
        .unwrap();
    let query = format!(
        "{stolen_code}&state={}&iss=https%3A%2F%2Fop.example",
        victim.state().expose_secret()
    );
    let code = victim.callback(&op, &query, now()).unwrap();
    let err = tokens(&mut fake, &op, code).err().unwrap();
    assert!(err.operator_error().unwrap().is("invalid_grant"));
}

#[test]
fn an_injected_code_without_pkce_fails_the_nonce() {
    let mut fake = FakeOperator::new();
    let op = fresh_operator(&mut fake);
    let attacker = start(&op, AuthorizeOptions::new().without_pkce());
    let attacker_callback = fake.authorize(&attacker.url);
    let stolen_code = attacker_callback.split('&').next().unwrap().to_owned();
    let mut victim_rng = |buf: &mut [u8]| buf.fill(0x5A);
    let (_, victim) = op
        .authorize(
            AuthorizeOptions::new().without_pkce(),
            &mut victim_rng,
            now(),
        )
        .unwrap();
    let query = format!(
        "{stolen_code}&state={}&iss=https%3A%2F%2Fop.example",
        victim.state().expose_secret()
    );
    let code = victim.callback(&op, &query, now()).unwrap();
    let err = tokens(&mut fake, &op, code).err().unwrap();
    assert!(matches!(
        err,
        Error::IdToken(mc_core::IdTokenError::NonceMismatch)
    ));
}

#[test]
fn wrong_client_secret_is_invalid_client() {
    let mut fake = FakeOperator::new();
    let op = operator_config_for(registration_with_secret("not-the-secret"))
        .build()
        .unwrap();
    let err = login(&mut fake, &op, AuthorizeOptions::new())
        .err()
        .unwrap();
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("invalid_client"));
    assert_eq!(refusal.status, Some(401));
}

#[test]
fn userinfo_401_is_the_operators_refusal() {
    let mut fake = FakeOperator::new();
    let op = fresh_operator(&mut fake);
    let tokens = login(&mut fake, &op, AuthorizeOptions::new()).unwrap();
    let exchange = tokens.userinfo(&op).unwrap();
    let response = http::Response::builder()
        .status(401)
        .header(
            "www-authenticate",
            "Bearer error = \"invalid_request\", error_description = \"No Access Token\"",
        )
        .body(Vec::new())
        .unwrap();
    let err = exchange.respond(response, now()).err().unwrap();
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("invalid_request"));
    assert_eq!(refusal.description.as_deref(), Some("No Access Token"));
}
