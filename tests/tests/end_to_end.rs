//! The whole browser login over loopback HTTP against the sandbox, through both adapters: every
//! operator, every discovery path, every handset, every fault switch, and a key rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mc_core::{
    AuthorizeOptions, CallbackError, Discovered, DiscoveryOutcome, DiscoveryQuery, Endpoint, Error,
    IdTokenError, LoginHint, MccMnc, Msisdn, OperatorConfig, Policy, ProtocolError, SelectionLeg,
    SelectionReturn,
};
use mc_tests::SandboxExt as _;
use mc_tests::driver::{self, Driver, Failure, browser_follow, login, userinfo};
use mc_tests::{Fault, Handset, OPERATORS, SandboxServer, Target};

const TIMEOUT: Duration = Duration::from_secs(2);
const BODY_LIMIT: usize = 64 * 1024;

use mc_tests::through_both_adapters;

through_both_adapters!(
    TIMEOUT, BODY_LIMIT;
    registry_login_every_operator_with_userinfo,
    msisdn_discovery_login_every_operator,
    mcc_mnc_discovery_login,
    ip_discovery_login,
    operator_selection_discovery_login,
    loa3_pin_login,
    declined_handset_is_access_denied,
    silent_handset_is_access_denied_after_the_wait,
    approve_at_loa2_when_loa3_was_required_is_acr_too_low,
    key_rotation_is_absorbed_by_one_refetch,
    fault_server_error,
    fault_slow_answer_hits_the_timeout,
    fault_oversized_body_hits_the_cap,
    fault_redirect_is_not_followed,
    fault_malformed_json,
    fault_wrong_issuer_token,
    fault_wrong_issuer_signed_userinfo,
    userinfo_failure_keeps_the_tokens,
    unknown_msisdn_is_not_found,
    bad_discovery_credentials_are_refused,
);

fn sandbox() -> SandboxServer {
    SandboxServer::start().unwrap()
}

fn registry_entry(server: &SandboxServer, name: &str) -> OperatorConfig {
    server.sandbox().registry_entry(name).unwrap()
}

/// The operator context of a registry entry, built with the operator's metadata.
fn registry_operator<D: Driver>(d: &D, server: &SandboxServer, name: &str) -> Discovered {
    driver::with_metadata(d, registry_entry(server, name)).unwrap()
}

fn msisdn_hint(msisdn: &str) -> AuthorizeOptions {
    AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(msisdn)))
}

fn subscriber(operator: usize, handset: Handset) -> &'static str {
    OPERATORS[operator]
        .subscribers
        .iter()
        .find(|(_, h)| *h == handset)
        .map(|(m, _)| *m)
        .unwrap()
}

fn core(failure: Failure) -> Error {
    match failure {
        Failure::Core(e) => e,
        other => panic!("expected a core error, got {other:?}"),
    }
}

fn registry_login_every_operator_with_userinfo<D: Driver>(d: &D) {
    let server = sandbox();
    for (i, info) in OPERATORS.iter().enumerate() {
        let op = registry_operator(d, &server, info.name);
        let msisdn = subscriber(i, Handset::Approve);
        let tokens = login(d, &op, msisdn_hint(msisdn)).unwrap();
        assert_eq!(tokens.id_token().acr(), Some("2"));
        assert_eq!(tokens.id_token().amr(), ["SIM_OK"]);
        let sub = tokens.sub().to_owned();
        let info_claims = userinfo(d, &op, &tokens).unwrap();
        assert_eq!(info_claims.sub(), sub);
        assert_eq!(
            info_claims.phone_number(),
            Some(format!("+{msisdn}").as_str())
        );
        assert_eq!(info_claims.was_signed(), info.signed_userinfo);
        // Premium info too, with the same tokens (userinfo only borrowed them).
        let premium = d.execute(tokens.premiuminfo(&op).unwrap()).unwrap();
        assert_eq!(premium.endpoint(), Endpoint::PremiumInfo);
        assert_eq!(premium.claim_str("family_name"), Some("Subscriber"));
    }
}

fn msisdn_discovery_login_every_operator<D: Driver>(d: &D) {
    let server = sandbox();
    let service = server.sandbox().discovery_service().unwrap();
    for (i, info) in OPERATORS.iter().enumerate() {
        let msisdn = subscriber(i, Handset::Approve);
        let query = DiscoveryQuery::msisdn(Msisdn::new(msisdn)).correlation_id("e2e-1");
        let (op, hint) = driver::discover(d, &service, &query, info.name).unwrap();
        let op = driver::with_metadata(d, op).unwrap();
        let hint = hint.expect("discovery by MSISDN returns an encrypted MSISDN");
        let tokens = login(d, &op, AuthorizeOptions::new().login_hint(hint)).unwrap();
        assert_eq!(op.issuer(), server.sandbox().issuer(info.name));
        assert_eq!(tokens.id_token().acr(), Some("2"));
    }
}

fn mcc_mnc_discovery_login<D: Driver>(d: &D) {
    let server = sandbox();
    let service = server.sandbox().discovery_service().unwrap();
    for (i, info) in OPERATORS.iter().enumerate() {
        let query = DiscoveryQuery::identified(MccMnc::new(info.mcc, info.mnc).unwrap());
        let (op, hint) =
            driver::discover(d, &service, &query, &format!("{}_{}", info.mcc, info.mnc)).unwrap();
        assert!(hint.is_none());
        let op = driver::with_metadata(d, op).unwrap();
        let tokens = login(d, &op, msisdn_hint(subscriber(i, Handset::Approve))).unwrap();
        assert!(!tokens.sub().is_empty());
    }
}

fn ip_discovery_login<D: Driver>(d: &D) {
    let server = sandbox();
    let service = server.sandbox().discovery_service().unwrap();
    let query = DiscoveryQuery::by_ip_or_selection().source_ip("198.51.100.23");
    let (op, _) = driver::discover(d, &service, &query, "beta").unwrap();
    let op = driver::with_metadata(d, op).unwrap();
    assert_eq!(op.issuer(), server.sandbox().issuer("beta"));
    let tokens = login(d, &op, msisdn_hint(subscriber(1, Handset::Approve))).unwrap();
    assert_eq!(tokens.id_token().alg(), mc_core::Algorithm::ES256);
}

fn operator_selection_discovery_login<D: Driver>(d: &D) {
    let server = sandbox();
    // The sandbox's selection page sends the leg's `state` back, so the SP requires it.
    let service = server
        .sandbox()
        .discovery_service()
        .unwrap()
        .require_selection_state(true);
    let DiscoveryOutcome::OperatorSelection { url, leg } = d
        .execute(
            service
                .discover(
                    &DiscoveryQuery::by_ip_or_selection(),
                    &mut driver::entropy(),
                )
                .unwrap(),
        )
        .unwrap()
    else {
        panic!("expected the operator selection page");
    };
    // The host binds the leg to this browser (here: what an encrypted cookie would hold).
    let cookie = serde_json::to_string(&leg).unwrap();
    assert!(cookie.len() < 200, "{} bytes", cookie.len());
    let from_cookie = || serde_json::from_str::<SelectionLeg>(&cookie).unwrap();
    // The user picks Alpha and types the number on the selection page.
    let msisdn = subscriber(0, Handset::Approve);
    let mut choose = url.clone();
    choose.set_path("/discovery/operator-selection/choose");
    choose
        .query_pairs_mut()
        .append_pair("mcc_mnc", "234_15")
        .append_pair("msisdn", msisdn);
    let back = browser_follow(d, choose.as_str()).unwrap();
    // An attacker's own return, planted in this browser while it is on the selection page, is
    // refused: it cannot carry the leg's state (RFC 6749 10.12).
    let planted = "mcc_mnc=234_15&subscriber_id=ATTACKER";
    let error = SelectionReturn::parse(planted, from_cookie(), d.now()).unwrap_err();
    assert!(
        matches!(error, Error::Callback(CallbackError::SelectionStateMissing)),
        "{error:?}"
    );
    // The browser's own return, with its leg taken out of the store once.
    let selected = SelectionReturn::parse(&back, from_cookie(), d.now()).unwrap();
    let hint = selected
        .subscriber_id
        .clone()
        .map(LoginHint::EncryptedMsisdn)
        .unwrap();
    let (op, _) =
        driver::discover(d, &service, &selected.discovery_query().unwrap(), "234_15").unwrap();
    let op = driver::with_metadata(d, op).unwrap();
    let tokens = login(d, &op, AuthorizeOptions::new().login_hint(hint)).unwrap();
    assert_eq!(tokens.id_token().acr(), Some("2"));
}

fn loa3_pin_login<D: Driver>(d: &D) {
    let server = sandbox();
    for (i, info) in OPERATORS.iter().enumerate() {
        let op = registry_operator(d, &server, info.name);
        let tokens = login(
            d,
            &op,
            msisdn_hint(subscriber(i, Handset::ApprovePin)).acr_values([3]),
        )
        .unwrap();
        assert_eq!(tokens.id_token().acr(), Some("3"));
        assert_eq!(tokens.id_token().amr(), ["SIM_PIN"]);
    }
}

fn declined_handset_is_access_denied<D: Driver>(d: &D) {
    let server = sandbox();
    let op = registry_operator(d, &server, "alpha");
    let err = core(login(d, &op, msisdn_hint(subscriber(0, Handset::Decline))).unwrap_err());
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("access_denied"));
    assert_eq!(refusal.endpoint, Endpoint::Authorization);
}

fn silent_handset_is_access_denied_after_the_wait<D: Driver>(d: &D) {
    let server = sandbox();
    let op = registry_operator(d, &server, "beta");
    let started = std::time::Instant::now();
    let err = core(login(d, &op, msisdn_hint(subscriber(1, Handset::NeverAnswers))).unwrap_err());
    assert!(started.elapsed() >= server.sandbox().handset_wait());
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("access_denied"));
    assert_eq!(
        refusal.description.as_deref(),
        Some("No response from the handset")
    );
}

fn approve_at_loa2_when_loa3_was_required_is_acr_too_low<D: Driver>(d: &D) {
    let server = sandbox();
    let op = registry_operator(d, &server, "alpha");
    let err = core(
        login(
            d,
            &op,
            msisdn_hint(subscriber(0, Handset::NoPin)).acr_values([3]),
        )
        .unwrap_err(),
    );
    assert!(matches!(
        err,
        Error::IdToken(IdTokenError::AcrTooLow { requested: 3, .. })
    ));
}

fn key_rotation_is_absorbed_by_one_refetch<D: Driver>(d: &D) {
    let server = sandbox();
    // The rotation comes seconds after the first fetch: this context has no refetch spacing.
    // (A context with the default spacing refuses the new kid until 60 s after it last stored
    // keys: see the end of this test.)
    let mut policy = Policy::default();
    policy.jwks_min_refetch_secs = 0;
    let op = driver::with_metadata(d, registry_entry(&server, "alpha").policy(policy)).unwrap();
    let spaced = registry_operator(d, &server, "alpha");
    let msisdn = subscriber(0, Handset::Approve);
    // The context starts without keys: the first login fetches them once.
    assert!(op.jwks().is_empty());
    let first = login(d, &op, msisdn_hint(msisdn)).unwrap();
    assert_eq!(count(&server, "/op/alpha/jwks"), 1);
    server.sandbox().rotate_keys("alpha");
    let jwks_before = count(&server, "/op/alpha/jwks");
    let second = login(d, &op, msisdn_hint(msisdn)).unwrap();
    assert_ne!(first.id_token().kid(), second.id_token().kid());
    assert_eq!(count(&server, "/op/alpha/jwks"), jwks_before + 1);
    // The same key serves the next login, through a clone of the context (clones share the
    // keys the refetch stored), without a fetch.
    let shared = op.clone();
    let third = login(d, &shared, msisdn_hint(msisdn)).unwrap();
    assert_eq!(third.id_token().kid(), second.id_token().kid());
    assert_eq!(count(&server, "/op/alpha/jwks"), jwks_before + 1);

    // With the default spacing: the first login of a context without keys fetches them; right
    // after a rotation, the new kid is refused without a fetch.
    let _ = login(d, &spaced, msisdn_hint(msisdn)).unwrap();
    assert_eq!(count(&server, "/op/alpha/jwks"), jwks_before + 2);
    server.sandbox().rotate_keys("alpha");
    let err = core(login(d, &spaced, msisdn_hint(msisdn)).unwrap_err());
    assert!(
        matches!(err, Error::IdToken(IdTokenError::UnknownKeyId { .. })),
        "{err:?}"
    );
    assert_eq!(count(&server, "/op/alpha/jwks"), jwks_before + 2);
}

fn count(server: &SandboxServer, path: &str) -> usize {
    server
        .sandbox()
        .request_log()
        .iter()
        .filter(|r| r.ends_with(path))
        .count()
}

/// A logged-in-ready operator context, then a fault on `target`.
fn with_fault(server: &SandboxServer, target: Target, fault: Fault, d: &impl Driver) -> Discovered {
    let op = registry_operator(d, server, "alpha");
    let keys = d.execute(op.jwks_exchange().unwrap()).unwrap();
    op.set_jwks(keys, d.now());
    server.sandbox().set_fault(target, fault);
    op
}

/// A login of alpha's approving subscriber whose token request meets `fault`: its core error,
/// and the requests the sandbox served during the login.
fn token_fault<D: Driver>(d: &D, fault: Fault) -> (Error, Vec<String>) {
    let server = sandbox();
    let op = with_fault(&server, Target::Token, fault, d);
    let before = server.sandbox().request_log().len();
    let err = core(login(d, &op, msisdn_hint(subscriber(0, Handset::Approve))).unwrap_err());
    (err, server.sandbox().request_log()[before..].to_vec())
}

fn fault_server_error<D: Driver>(d: &D) {
    let (err, _) = token_fault(d, Fault::ServerError);
    assert!(matches!(
        err,
        Error::Protocol(ProtocolError::UnexpectedStatus {
            status: 500,
            endpoint: Endpoint::Token
        })
    ));
}

fn fault_slow_answer_hits_the_timeout<D: Driver>(d: &D) {
    let server = sandbox();
    let op = with_fault(
        &server,
        Target::Token,
        Fault::Slow(TIMEOUT + Duration::from_secs(1)),
        d,
    );
    let started = std::time::Instant::now();
    let err = login(d, &op, msisdn_hint(subscriber(0, Handset::Approve))).unwrap_err();
    assert!(matches!(err, Failure::Timeout), "{err:?}");
    assert!(started.elapsed() < TIMEOUT + Duration::from_millis(900));
}

fn fault_oversized_body_hits_the_cap<D: Driver>(d: &D) {
    let server = sandbox();
    let _op = with_fault(
        &server,
        Target::Metadata,
        Fault::Oversized(4 * BODY_LIMIT),
        d,
    );
    let config = registry_entry(&server, "alpha");
    let err = d.execute(config.metadata_exchange().unwrap()).unwrap_err();
    assert!(matches!(err, Failure::BodyTooLarge), "{err:?}");
}

fn fault_redirect_is_not_followed<D: Driver>(d: &D) {
    let (err, log) = token_fault(d, Fault::Redirect);
    assert!(matches!(
        err,
        Error::Protocol(ProtocolError::UnexpectedStatus { status: 302, .. })
    ));
    assert!(!log.iter().any(|r| r.ends_with("/elsewhere")), "{log:?}");
}

fn fault_malformed_json<D: Driver>(d: &D) {
    let (err, _) = token_fault(d, Fault::MalformedJson);
    assert!(matches!(
        err,
        Error::Protocol(ProtocolError::MalformedJson {
            endpoint: Endpoint::Token,
            ..
        })
    ));
}

fn fault_wrong_issuer_token<D: Driver>(d: &D) {
    let (err, after) = token_fault(d, Fault::WrongIssuer);
    assert!(matches!(
        err,
        Error::IdToken(IdTokenError::IssuerMismatch { .. })
    ));
    // Nothing is asked of the operator after a rejected id_token.
    assert_eq!(
        after.last().map(String::as_str),
        Some("POST /op/alpha/token"),
        "{after:?}"
    );
}

fn fault_wrong_issuer_signed_userinfo<D: Driver>(d: &D) {
    let server = sandbox();
    let op = registry_operator(d, &server, "beta");
    let tokens = login(d, &op, msisdn_hint(subscriber(1, Handset::Approve))).unwrap();
    server
        .sandbox()
        .set_operator_fault("beta", Target::UserInfo, Fault::WrongIssuer);
    let err = core(userinfo(d, &op, &tokens).unwrap_err());
    assert!(matches!(
        err,
        Error::IdToken(IdTokenError::IssuerMismatch { .. })
    ));
}

/// Userinfo borrows the tokens: when it fails (a 503 here), the access token, the refresh
/// token and the verified id_token are still there, and the same tokens fetch userinfo once
/// the operator is back.
fn userinfo_failure_keeps_the_tokens<D: Driver>(d: &D) {
    let server = sandbox();
    for (i, info) in OPERATORS.iter().enumerate() {
        let op = registry_operator(d, &server, info.name);
        let tokens = login(d, &op, msisdn_hint(subscriber(i, Handset::Approve))).unwrap();
        server.sandbox().set_operator_fault(
            info.name,
            Target::UserInfo,
            Fault::Body(mc_tests::sandbox::RawBody::new(
                503,
                "text/plain",
                "maintenance",
            )),
        );
        let err = core(userinfo(d, &op, &tokens).unwrap_err());
        assert!(
            matches!(
                err,
                Error::Protocol(ProtocolError::UnexpectedStatus {
                    status: 503,
                    endpoint: Endpoint::UserInfo
                })
            ),
            "{err:?}"
        );
        server.sandbox().clear_faults();
        let again = userinfo(d, &op, &tokens).unwrap();
        assert_eq!(again.sub(), tokens.sub());
        assert_eq!(
            again.phone_number(),
            Some(format!("+{}", subscriber(i, Handset::Approve)).as_str())
        );
        // Premium info with the same tokens, too.
        let premium = d.execute(tokens.premiuminfo(&op).unwrap()).unwrap();
        assert_eq!(premium.sub(), tokens.sub());
    }
}

fn unknown_msisdn_is_not_found<D: Driver>(d: &D) {
    let server = sandbox();
    let service = server.sandbox().discovery_service().unwrap();
    let err = core(
        driver::discover(
            d,
            &service,
            &DiscoveryQuery::msisdn(Msisdn::new("15550000000")),
            "x",
        )
        .unwrap_err(),
    );
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("Not_Found_Entity"));
    assert_eq!(refusal.description.as_deref(), Some("Operator Not Found"));
    assert_eq!(refusal.status, Some(404));
}

fn bad_discovery_credentials_are_refused<D: Driver>(d: &D) {
    let server = sandbox();
    let service = mc_core::DiscoveryService::new(
        &server.sandbox().discovery_url(),
        "sp-discovery-client",
        mc_core::ClientSecret::new("wrong"),
        mc_tests::sandbox::SP_DISCOVERY_REDIRECT,
    )
    .unwrap();
    let err = core(
        driver::discover(d, &service, &DiscoveryQuery::by_ip_or_selection(), "x").unwrap_err(),
    );
    assert_eq!(err.operator_error().unwrap().status, Some(401));
}
