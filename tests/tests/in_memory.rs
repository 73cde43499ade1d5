//! The sandbox without sockets: mc-core's requests answered by `Sandbox::handle` at a fixed
//! time, the way mc-core-level tests use it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use mc_core::{
    AuthorizeOptions, DiscoveryOutcome, DiscoveryQuery, Exchange, LoginHint, Msisdn,
    OperatorConfig, Outcome, UnixTime, Verified,
};
use mc_tests::Sandbox;
use mc_tests::SandboxExt as _;

const NOW: u64 = 1_790_000_000;

fn run<E: Exchange>(sandbox: &Sandbox, exchange: E) -> Result<E::Output, mc_core::Error> {
    let response = sandbox.handle(&exchange.request());
    exchange.respond(response, UnixTime::from_secs(NOW))
}

/// A step to its end: when it pauses for the operator's keys, the refetch is itself an
/// exchange, answered by the sandbox like any other (its answer stores the keys in the context).
fn finish<E>(sandbox: &Sandbox, exchange: E) -> <E::Output as Outcome>::Value
where
    E: Exchange,
    E::Output: Outcome,
{
    match run(sandbox, exchange).unwrap().into_verified() {
        Verified::Done(v) => v,
        Verified::NeedJwks(refetch) => run(sandbox, refetch).unwrap(),
    }
}

#[test]
fn a_whole_login_in_memory_at_a_fixed_time() {
    let sandbox = Sandbox::with_clock("https://sandbox.invalid", Arc::new(|| NOW));
    let service = sandbox.discovery_service().unwrap();
    let DiscoveryOutcome::Found(answer) = run(
        &sandbox,
        service
            .discover(
                &DiscoveryQuery::msisdn(Msisdn::new("4915100000003")),
                &mut |buf: &mut [u8]| buf.fill(8),
            )
            .unwrap(),
    )
    .unwrap() else {
        panic!("expected operator beta");
    };
    assert_eq!(answer.serving_operator.as_deref(), Some("Beta Telecom"));
    let config =
        OperatorConfig::from_discovery(&answer, "262_001", mc_tests::sandbox::SP_REDIRECT_URI)
            .unwrap();
    let metadata = run(&sandbox, config.metadata_exchange().unwrap()).unwrap();
    let op = config.with_metadata(metadata).unwrap().build().unwrap();
    assert!(op.jwks().is_empty(), "no keys before the first login");

    let mut rng = |buf: &mut [u8]| buf.fill(9);
    let hint = LoginHint::EncryptedMsisdn(answer.subscriber_id.clone().unwrap());
    let (redirect, flow) = op
        .authorize(
            AuthorizeOptions::new().login_hint(hint).acr_values([3]),
            &mut rng,
            UnixTime::from_secs(NOW),
        )
        .unwrap();
    let mut visit = http::Request::new(Vec::new());
    *visit.uri_mut() = redirect.as_str().parse().unwrap();
    let at_operator = sandbox.handle(&visit);
    let location = at_operator.headers()["location"].to_str().unwrap();
    let query = url::Url::parse(location)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();

    let code = flow
        .callback(&op, &query, UnixTime::from_secs(NOW))
        .unwrap();
    let tokens = finish(
        &sandbox,
        code.token_exchange(&op, UnixTime::from_secs(NOW)).unwrap(),
    );
    assert_eq!(tokens.id_token().acr(), Some("3"));
    assert_eq!(tokens.id_token().claims().iat, Some(NOW));

    let info = finish(&sandbox, tokens.userinfo(&op).unwrap());
    assert!(info.was_signed());
    assert_eq!(info.phone_number(), Some("+4915100000003"));
    assert_eq!(
        sandbox.request_log(),
        [
            "POST /discovery/v2/discovery",
            "GET /op/beta/.well-known/openid-configuration",
            "GET /op/beta/authorize",
            "POST /op/beta/token",
            "GET /op/beta/jwks",
            "GET /op/beta/userinfo",
        ]
    );
    // The refetch stored the keys in the shared context.
    assert_eq!(op.jwks_fetched_at(), Some(UnixTime::from_secs(NOW)));
    assert!(!op.jwks().is_empty());
}
