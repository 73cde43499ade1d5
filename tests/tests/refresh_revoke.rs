//! After the login, over loopback HTTP against the sandbox, through both adapters: the refresh
//! grant with rotating refresh tokens (the spent one is `invalid_grant`), and revocation
//! (RFC 7009) of the refresh token (a refresh is then `invalid_grant`) and of the access token
//! (userinfo then answers `invalid_token`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mc_core::{
    AuthorizeOptions, Discovered, Endpoint, Error, ErrorClass, LoginHint, Msisdn, TokenKind, Tokens,
};
use mc_tests::SandboxExt as _;
use mc_tests::driver::{self, Blocking, Driver, Failure, Tokio, login, userinfo};
use mc_tests::{Handset, OPERATORS, SandboxServer};

const TIMEOUT: Duration = Duration::from_secs(2);
const BODY_LIMIT: usize = 64 * 1024;

fn blocking() -> Blocking {
    Blocking::new(TIMEOUT, BODY_LIMIT)
}

fn tokio() -> Tokio {
    Tokio::new(TIMEOUT, BODY_LIMIT).unwrap()
}

use mc_tests::through_both_adapters;

through_both_adapters!(
    refresh_rotates_the_refresh_token_every_operator,
    spent_refresh_token_is_invalid_grant,
    revoked_refresh_token_is_invalid_grant,
    revoked_access_token_fails_at_userinfo,
    revoking_an_unknown_token_succeeds,
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
