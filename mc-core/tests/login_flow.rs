//! The whole browser login in memory against the sandbox operator (`mc_sandbox`, its clock fixed
//! at [`NOW`]): metadata, authorize, the simulated handset, callback, token (with the first JWKS
//! fetch), userinfo and premium info; then the flows that end in the operator's refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use mc_core::{
    AuthorizeOptions, Discovered, Endpoint, Error, Exchange as _, LoginHint, Msisdn, Tokens,
    Verified,
};
use mc_sandbox::fixture::{browse, hashed_login_hint, subject, subscriber};
use mc_sandbox::{Handset, Sandbox};
use support::*;

/// The sandbox operator these logins go through (RS256, JSON userinfo).
const OPERATOR: &str = "alpha";

/// The subscriber of `operator` whose handset behaves as `handset`.
fn msisdn(operator: &str, handset: Handset) -> &'static str {
    subscriber(operator, handset).unwrap()
}

/// An operator context as a host builds it: registry entry, then its metadata; no keys yet.
fn fresh_operator(sandbox: &Sandbox, operator: &str) -> Discovered {
    let config = sandbox_config(sandbox, operator);
    let metadata = run(sandbox, config.metadata_exchange().unwrap()).unwrap();
    config.with_metadata(metadata).unwrap().build().unwrap()
}

/// The host's token step: run the exchange, and the JWKS refetch when the step pauses for keys.
fn tokens(
    sandbox: &Sandbox,
    op: &Discovered,
    code: mc_core::CodeReceived,
) -> Result<Tokens, Error> {
    finish(sandbox, code.token_exchange(op, now())?)
}

/// The browser's way through the sandbox: the authorization URL, the handset, the callback query.
fn callback_of(sandbox: &Sandbox, started: &Started) -> String {
    browse(sandbox, started.url.as_str()).unwrap()
}

fn login(sandbox: &Sandbox, op: &Discovered, options: AuthorizeOptions) -> Result<Tokens, Error> {
    let started = start(op, options);
    let callback = callback_of(sandbox, &started);
    let code = started.flow.callback(op, &callback, now())?;
    tokens(sandbox, op, code)
}

/// The sandbox operator's RFC 9207 `iss`, form-encoded for a hand-made callback.
fn iss_param(sandbox: &Sandbox) -> String {
    url::form_urlencoded::byte_serialize(sandbox.issuer(OPERATOR).as_bytes()).collect()
}

#[test]
fn whole_login_with_userinfo_and_premiuminfo() {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = fresh_operator(&sandbox, OPERATOR);
    let user = msisdn(OPERATOR, Handset::Approve);
    let options = AuthorizeOptions::new()
        .login_hint(LoginHint::Msisdn(Msisdn::new(user)))
        .correlation_id("corr-1");
    let tokens = login(&sandbox, &op, options).unwrap();
    let sub = subject(OPERATOR, user).unwrap();
    assert_eq!(tokens.sub(), sub);
    assert_eq!(tokens.id_token().acr(), Some("2"));
    assert_eq!(tokens.id_token().amr(), ["SIM_OK"]);
    assert!(
        tokens
            .id_token()
            .hashed_login_hint_matches(&hashed_login_hint(user))
    );
    assert_eq!(tokens.expires_at(), Some(now().plus(3600)));
    // The first token response asked for the JWKS: exactly one fetch.
    assert_eq!(served(&sandbox, "/jwks"), 1);

    let info = match run(&sandbox, tokens.userinfo(&op).unwrap()).unwrap() {
        Verified::Done(info) => info,
        Verified::NeedJwks(_) => panic!("plain JSON needs no keys"),
    };
    // The keys the token step fetched are the context's now.
    assert_eq!(op.jwks_fetched_at(), Some(now()));
    let signing_kid = sandbox.signing_key(OPERATOR).unwrap().kid;
    assert_eq!(op.jwks().keys()[0].kid(), Some(signing_kid.as_str()));
    assert_eq!(info.sub(), sub);
    assert_eq!(info.phone_number(), Some(format!("+{user}").as_str()));
    assert_eq!(info.endpoint(), Endpoint::UserInfo);
    assert!(!info.was_signed());

    // The tokens stay the host's after a userinfo call.
    let premium = match run(&sandbox, tokens.premiuminfo(&op).unwrap()).unwrap() {
        Verified::Done(info) => info,
        Verified::NeedJwks(_) => panic!("plain JSON needs no keys"),
    };
    assert_eq!(premium.endpoint(), Endpoint::PremiumInfo);
    assert_eq!(
        sandbox.request_log(),
        [
            "GET /op/alpha/.well-known/openid-configuration",
            "GET /op/alpha/authorize",
            "POST /op/alpha/token",
            "GET /op/alpha/jwks",
            "GET /op/alpha/userinfo",
            "GET /op/alpha/premiuminfo"
        ]
    );
}

#[test]
fn loa3_with_pin_is_verified() {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = fresh_operator(&sandbox, OPERATOR);
    let options = AuthorizeOptions::new()
        .acr_values([3])
        .login_hint(LoginHint::Msisdn(Msisdn::new(msisdn(
            OPERATOR,
            Handset::ApprovePin,
        ))));
    let tokens = login(&sandbox, &op, options).unwrap();
    assert_eq!(tokens.id_token().acr(), Some("3"));
    assert_eq!(tokens.id_token().amr(), ["SIM_PIN"]);
}

#[test]
fn es256_operator_is_verified() {
    let sandbox = mc_sandbox::fixture::sandbox();
    // The sandbox's second operator signs ES256.
    let op = fresh_operator(&sandbox, "beta");
    let tokens = login(&sandbox, &op, AuthorizeOptions::new()).unwrap();
    assert_eq!(tokens.id_token().alg(), mc_core::Algorithm::ES256);
}

#[test]
fn declined_on_the_handset_is_access_denied() {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = fresh_operator(&sandbox, OPERATOR);
    let options = AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(msisdn(
        OPERATOR,
        Handset::Decline,
    ))));
    let err = login(&sandbox, &op, options).err().unwrap();
    let refusal = err.operator_error().unwrap_or_else(|| panic!("{err:?}"));
    assert!(refusal.is("access_denied"));
    assert_eq!(refusal.endpoint, Endpoint::Authorization);
    assert_eq!(refusal.description.as_deref(), Some("The user declined"));
    assert_eq!(err.class(), mc_core::ErrorClass::Refused);
}

#[test]
fn key_rotation_between_logins_costs_one_refetch() {
    let sandbox = mc_sandbox::fixture::sandbox();
    // The rotation comes at once (a fixed clock): no refetch spacing, unlike the default.
    let mut policy = mc_core::Policy::default();
    policy.jwks_min_refetch_secs = 0;
    let config = sandbox_config(&sandbox, OPERATOR).policy(policy);
    let metadata = run(&sandbox, config.metadata_exchange().unwrap()).unwrap();
    let op = config.with_metadata(metadata).unwrap().build().unwrap();
    let first = login(&sandbox, &op, AuthorizeOptions::new()).unwrap();
    sandbox.rotate_keys(OPERATOR);
    let rotated_kid = sandbox.signing_key(OPERATOR).unwrap().kid;
    assert_ne!(first.id_token().kid(), Some(rotated_kid.as_str()));
    let tokens = login(&sandbox, &op, AuthorizeOptions::new()).unwrap();
    assert_eq!(tokens.id_token().kid(), Some(rotated_kid.as_str()));
    assert_eq!(served(&sandbox, "/jwks"), 2);
}

#[test]
fn a_replayed_code_is_invalid_grant() {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = fresh_operator(&sandbox, OPERATOR);
    let started = start(&op, AuthorizeOptions::new());
    let callback = callback_of(&sandbox, &started);
    let code = started
        .flow
        .clone()
        .callback(&op, &callback, now())
        .unwrap();
    let again = started.flow.callback(&op, &callback, now()).unwrap();
    let _first = tokens(&sandbox, &op, code).unwrap();
    let err = tokens(&sandbox, &op, again).err().unwrap();
    assert!(err.operator_error().unwrap().is("invalid_grant"));
    assert_eq!(err.operator_error().unwrap().status, Some(400));
}

/// Code injection: the attacker logs in with `options` and takes the code from its own
/// callback; the victim's login (started with the same options, its own state and PKCE
/// verifier) is handed that code with the victim's state, and goes to the token step.
fn injected_code_login(
    options: fn() -> AuthorizeOptions,
    victim_fill: u8,
) -> Result<Tokens, Error> {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = fresh_operator(&sandbox, OPERATOR);
    let attacker = start(&op, options());
    let attacker_callback = callback_of(&sandbox, &attacker);
    let stolen_code = attacker_callback.split('&').next().unwrap().to_owned();
    assert!(stolen_code.starts_with("code="), "{attacker_callback}");
    let mut victim_rng = |buf: &mut [u8]| buf.fill(victim_fill);
    let (_, victim) = op.authorize(options(), &mut victim_rng, now()).unwrap();
    let query = format!(
        "{stolen_code}&state={}&iss={}",
        victim.state().expose_secret(),
        iss_param(&sandbox)
    );
    let code = victim.callback(&op, &query, now()).unwrap();
    tokens(&sandbox, &op, code)
}

#[test]
fn an_injected_code_from_another_login_fails_pkce() {
    // The stolen code is bound to the attacker's PKCE challenge.
    let err = injected_code_login(AuthorizeOptions::new, 0xA5)
        .err()
        .unwrap();
    assert!(err.operator_error().unwrap().is("invalid_grant"));
}

#[test]
fn an_injected_code_without_pkce_fails_the_nonce() {
    let err = injected_code_login(|| AuthorizeOptions::new().without_pkce(), 0x5A)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        Error::IdToken(mc_core::IdTokenError::NonceMismatch)
    ));
}

#[test]
fn wrong_client_secret_is_invalid_client() {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = sandbox_config(&sandbox, OPERATOR).build().unwrap();
    // The operator now accepts another secret than the one in the SP's registry entry.
    sandbox.set_client_secret(OPERATOR, "not-the-secret");
    let err = login(&sandbox, &op, AuthorizeOptions::new()).err().unwrap();
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("invalid_client"));
    assert_eq!(refusal.status, Some(401));
}

#[test]
fn userinfo_401_is_the_operators_refusal() {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = fresh_operator(&sandbox, OPERATOR);
    let tokens = login(&sandbox, &op, AuthorizeOptions::new()).unwrap();
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
