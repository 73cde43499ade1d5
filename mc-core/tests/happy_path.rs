//! Smoke test of the support module: one valid login.
mod support;
use support::*;

#[test]
fn valid_token_is_accepted() {
    let op = operator();
    let tokens = verify_claims(&op, |_| {}).unwrap();
    assert_eq!(tokens.sub(), SUB);
    assert_eq!(tokens.id_token().acr(), Some("2"));
}
