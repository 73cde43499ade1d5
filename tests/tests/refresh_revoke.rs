//! After the login, over loopback HTTP against the sandbox, through both adapters: the refresh
//! grant with rotating refresh tokens (the spent one is `invalid_grant`), and revocation
//! (RFC 7009) of the refresh token (a refresh is then `invalid_grant`) and of the access token
//! (userinfo then answers `invalid_token`); and the revocation endpoint's faults, each seen
//! as its typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mc_core::{
    AuthorizeOptions, Discovered, Endpoint, Error, ErrorClass, LoginHint, Msisdn, ProtocolError,
    TokenKind, Tokens,
};
use mc_tests::SandboxExt as _;
use mc_tests::driver::{self, Driver, Failure, login, userinfo};
use mc_tests::sandbox::RawBody;
use mc_tests::{Fault, Handset, OPERATORS, SandboxServer, Target};

const TIMEOUT: Duration = Duration::from_secs(2);
const BODY_LIMIT: usize = 64 * 1024;

use mc_tests::through_both_adapters;

through_both_adapters!(
    TIMEOUT, BODY_LIMIT;
    refresh_rotates_the_refresh_token_every_operator,
    spent_refresh_token_is_invalid_grant,
    revoked_refresh_token_is_invalid_grant,
    revoked_access_token_fails_at_userinfo,
    revoking_an_unknown_token_succeeds,
    revocation_faults_are_typed,
);

/// A login at operator `index` by its approving subscriber, with the operator's metadata
/// (which advertises the revocation endpoint).
fn logged_in<D: Driver>(d: &D, server: &SandboxServer, index: usize) -> (Discovered, Tokens) {
    let entry = server
        .sandbox()
        .registry_entry(OPERATORS[index].name)
        .unwrap();
    let op = driver::with_metadata(d, entry).unwrap();
    let msisdn = OPERATORS[index]
        .subscribers
        .iter()
        .find(|(_, h)| *h == Handset::Approve)
        .map(|(m, _)| *m)
        .unwrap();
    let hint = AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(msisdn)));
    let tokens = login(d, &op, hint).unwrap();
    (op, tokens)
}

fn refresh<D: Driver>(d: &D, op: &Discovered, tokens: &Tokens) -> Result<Tokens, Failure> {
    d.execute(tokens.refresh(op, d.now())?)
}

fn revoke<D: Driver>(d: &D, op: &Discovered, tokens: &Tokens, which: TokenKind) {
    d.execute(tokens.revoke(op, which, d.now()).unwrap())
        .unwrap();
}

/// The typed refusal `code` from `endpoint`.
fn assert_refused(failure: Failure, code: &str, endpoint: Endpoint) {
    let Failure::Core(e) = failure else {
        panic!("expected a core error, got {failure:?}");
    };
    assert_eq!(e.class(), ErrorClass::Refused, "{e:?}");
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let refusal = e.operator_error().expect("a typed refusal");
    assert!(refusal.is(code), "{refusal:?}");
    assert_eq!(refusal.endpoint, endpoint);
}

fn refresh_rotates_the_refresh_token_every_operator<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    for index in 0..OPERATORS.len() {
        let (op, tokens) = logged_in(d, &server, index);
        let first = tokens
            .refresh_token()
            .expect("the sandbox issues refresh tokens");
        let refreshed = refresh(d, &op, &tokens).unwrap();
        // New tokens, a new id_token about the same authentication, a rotated refresh token.
        assert_ne!(
            refreshed.access_token().expose_secret(),
            tokens.access_token().expose_secret()
        );
        let second = refreshed.refresh_token().expect("a rotated refresh token");
        assert_ne!(second.expose_secret(), first.expose_secret());
        assert_eq!(refreshed.sub(), tokens.sub());
        assert_eq!(
            refreshed.id_token().claims().iss,
            tokens.id_token().claims().iss
        );
        assert_eq!(refreshed.id_token().claims().nonce, None);
        // The new access token is good at userinfo; a second refresh rotates again.
        assert_eq!(userinfo(d, &op, &refreshed).unwrap().sub(), tokens.sub());
        let third = refresh(d, &op, &refreshed).unwrap();
        assert_ne!(
            third.refresh_token().unwrap().expose_secret(),
            second.expose_secret()
        );
    }
}

fn spent_refresh_token_is_invalid_grant<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, tokens) = logged_in(d, &server, 0);
    let refreshed = refresh(d, &op, &tokens).unwrap();
    assert!(refreshed.refresh_token().is_some());
    let spent = refresh(d, &op, &tokens).unwrap_err();
    assert_refused(spent, "invalid_grant", Endpoint::Refresh);
}

fn revoked_refresh_token_is_invalid_grant<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, tokens) = logged_in(d, &server, 0);
    revoke(d, &op, &tokens, TokenKind::Refresh);
    let revoked = refresh(d, &op, &tokens).unwrap_err();
    assert_refused(revoked, "invalid_grant", Endpoint::Refresh);
    // The access token was not revoked with it.
    assert_eq!(userinfo(d, &op, &tokens).unwrap().sub(), tokens.sub());
}

fn revoked_access_token_fails_at_userinfo<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, tokens) = logged_in(d, &server, 0);
    assert_eq!(userinfo(d, &op, &tokens).unwrap().sub(), tokens.sub());
    revoke(d, &op, &tokens, TokenKind::Access);
    let revoked = userinfo(d, &op, &tokens).unwrap_err();
    assert_refused(revoked, "invalid_token", Endpoint::UserInfo);
    // Revoking again is success (RFC 7009 2.2), and the refresh token still works.
    revoke(d, &op, &tokens, TokenKind::Access);
    let refreshed = refresh(d, &op, &tokens).unwrap();
    assert_eq!(userinfo(d, &op, &refreshed).unwrap().sub(), tokens.sub());
}

fn revoking_an_unknown_token_succeeds<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, tokens) = logged_in(d, &server, 0);
    let refreshed = refresh(d, &op, &tokens).unwrap();
    // The original refresh token was spent by the refresh: unknown to the operator now.
    revoke(d, &op, &tokens, TokenKind::Refresh);
    let again = refresh(d, &op, &refreshed).unwrap();
    assert_eq!(again.sub(), tokens.sub());
}

/// The operator's error answer to a revocation (RFC 7009 2.2.1), mc-core's fixture.
const UNSUPPORTED_TOKEN_TYPE: &[u8] =
    include_bytes!("../../mc-core/tests/fixtures/errors/revoke-unsupported-token-type.json");

/// What the SP makes of a revocation answer.
#[derive(Debug)]
enum Seen {
    /// Revoked (any 200, RFC 7009 2.2).
    Done,
    /// The operator's typed refusal: this OAuth error, with this status.
    Refused(&'static str, u16),
    /// An answer that is no refusal: the protocol's unexpected-status error.
    UnexpectedStatus(u16),
    /// The adapter's total timeout.
    Timeout,
    /// The adapter's body cap.
    BodyTooLarge,
}

fn check_revocation(case: &str, outcome: Result<(), Failure>, expected: &Seen) {
    match (expected, outcome) {
        (Seen::Done, Ok(())) => {}
        (Seen::Refused(code, status), Err(Failure::Core(e))) => {
            assert_eq!(e.class(), ErrorClass::Refused, "{case}: {e:?}");
            let refusal = e.operator_error().expect("a typed refusal");
            assert!(refusal.is(code), "{case}: {refusal:?}");
            assert_eq!(refusal.endpoint, Endpoint::Revocation, "{case}");
            assert_eq!(refusal.status, Some(*status), "{case}");
        }
        (
            Seen::UnexpectedStatus(expected),
            Err(Failure::Core(Error::Protocol(ProtocolError::UnexpectedStatus {
                endpoint,
                status,
            }))),
        ) => {
            assert_eq!(endpoint, Endpoint::Revocation, "{case}");
            assert_eq!(status, *expected, "{case}");
        }
        (Seen::Timeout, Err(Failure::Timeout))
        | (Seen::BodyTooLarge, Err(Failure::BodyTooLarge)) => {}
        (expected, outcome) => panic!("{case}: expected {expected:?}, got {outcome:?}"),
    }
}

/// Each fault of the revocation endpoint, one at a time, seen as its typed error: one request
/// each (a POST is never retried), and the endpoint answers genuinely again once it is cleared.
fn revocation_faults_are_typed<D: Driver>(d: &D) {
    let html = RawBody::new(
        200,
        "text/html",
        "<!doctype html><title>Revoked</title><p>Your token is gone.</p>",
    );
    // (case, fault, what the SP sees, whether the operator revoked all the same: only a
    // fault that delays the genuine answer lets the endpoint run).
    let cases: [(&str, Fault, Seen, bool); 10] = [
        (
            "server-error",
            Fault::ServerError,
            Seen::UnexpectedStatus(500),
            false,
        ),
        (
            "slow-server-error",
            Fault::SlowServerError(Duration::from_millis(100)),
            Seen::UnexpectedStatus(500),
            false,
        ),
        (
            "unsupported-token-type",
            Fault::Body(RawBody::new(
                400,
                "application/json",
                UNSUPPORTED_TOKEN_TYPE,
            )),
            Seen::Refused("unsupported_token_type", 400),
            false,
        ),
        (
            "invalid-client",
            Fault::Body(RawBody::new(
                401,
                "application/json",
                r#"{"error":"invalid_client"}"#,
            )),
            Seen::Refused("invalid_client", 401),
            false,
        ),
        ("html-200", Fault::Body(html), Seen::Done, false),
        (
            "malformed-json-200",
            Fault::MalformedJson,
            Seen::Done,
            false,
        ),
        (
            "redirect",
            Fault::Redirect,
            Seen::UnexpectedStatus(302),
            false,
        ),
        (
            "oversized",
            Fault::Oversized(BODY_LIMIT + 1),
            Seen::BodyTooLarge,
            false,
        ),
        (
            "slow",
            Fault::Slow(Duration::from_millis(200)),
            Seen::Done,
            true,
        ),
        (
            "slower-than-the-timeout",
            Fault::Slow(TIMEOUT + Duration::from_secs(1)),
            Seen::Timeout,
            true,
        ),
    ];
    let server = SandboxServer::start().unwrap();
    let (op, mut tokens) = logged_in(d, &server, 0);
    let sandbox = server.sandbox();
    let revocations = || {
        sandbox
            .requests()
            .iter()
            .filter(|r| r.path().ends_with("/revoke"))
            .count()
    };
    for (case, fault, expected, revoked) in cases {
        sandbox.set_fault(Target::Revocation, fault);
        let before = revocations();
        let exchange = tokens.revoke(&op, TokenKind::Refresh, d.now()).unwrap();
        check_revocation(case, d.execute(exchange), &expected);
        assert_eq!(revocations(), before + 1, "{case}: one request, no retry");
        sandbox.clear_faults();
        if revoked {
            // A timeout says nothing of what the operator did: here it revoked.
            let refused = refresh(d, &op, &tokens).unwrap_err();
            assert_refused(refused, "invalid_grant", Endpoint::Refresh);
            tokens = logged_in(d, &server, 0).1;
        } else {
            // The fault answered instead of the endpoint: the refresh token is still good.
            tokens = refresh(d, &op, &tokens).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        }
    }
    // Without a fault, the endpoint revokes.
    revoke(d, &op, &tokens, TokenKind::Refresh);
    let revoked = refresh(d, &op, &tokens).unwrap_err();
    assert_refused(revoked, "invalid_grant", Endpoint::Refresh);
}
