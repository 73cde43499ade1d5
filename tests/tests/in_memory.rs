//! The sandbox without sockets: mc-core's requests answered by `Sandbox::handle` at a fixed
//! time, the way mc-core-level tests use it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use mc_core::{
    AuthorizeOptions, Discovered, DiscoveryOutcome, DiscoveryQuery, Exchange, LoginHint, Msisdn,
    UnixTime, Verified,
};
use mc_tests::Sandbox;

const NOW: u64 = 1_790_000_000;

fn run<E: Exchange>(sandbox: &Sandbox, exchange: E) -> Result<E::Output, mc_core::Error> {
    let response = sandbox.handle(&exchange.request());
    exchange.respond(response, UnixTime::from_secs(NOW))
}

fn finish<P: mc_core::Resume>(
    sandbox: &Sandbox,
    op: &mut Discovered,
    step: Verified<P::Output, P>,
) -> P::Output {
    match step {
        Verified::Done(v) => v,
        Verified::NeedJwks(pending) => {
            let keys = run(sandbox, op.jwks_exchange().unwrap()).unwrap();
            op.set_jwks(keys, UnixTime::from_secs(NOW));
            pending.resume(op, UnixTime::from_secs(NOW)).unwrap()
        }
    }
}

#[test]
fn a_whole_login_in_memory_at_a_fixed_time() {
    let sandbox = Sandbox::with_clock("https://sandbox.invalid", Arc::new(|| NOW));
    let service = sandbox.discovery_service().unwrap();
    let DiscoveryOutcome::Found(answer) = run(
        &sandbox,
        service
            .discover(&DiscoveryQuery::msisdn(Msisdn::new("4915100000003")))
            .unwrap(),
    )
    .unwrap() else {
        panic!("expected operator beta");
    };
    assert_eq!(answer.serving_operator.as_deref(), Some("Beta Telecom"));
    let mut op =
        Discovered::from_discovery(&answer, "262_001", mc_tests::sandbox::SP_REDIRECT_URI).unwrap();
    let metadata = run(&sandbox, op.metadata_exchange().unwrap()).unwrap();
    op.apply_metadata(metadata).unwrap();

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
    let step = run(
        &sandbox,
        code.token_exchange(&op, UnixTime::from_secs(NOW)).unwrap(),
    )
    .unwrap();
    let tokens = finish(&sandbox, &mut op, step);
    assert_eq!(tokens.id_token().acr(), Some("3"));
    assert_eq!(tokens.id_token().claims().iat, Some(NOW));

    let step = run(&sandbox, tokens.userinfo(&op).unwrap()).unwrap();
    let info = finish(&sandbox, &mut op, step);
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
}
