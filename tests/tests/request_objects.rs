//! Signed request objects in the browser login, over loopback HTTP against the sandbox, through
//! both adapters: an operator context with `sign_authorization_requests` logs in at operators
//! that require a request object (verified with the SP's registered JWKS), a request object
//! signed by a key the operator does not know is refused with `invalid_request_object`, an
//! unsigned login at such an operator with `invalid_request`, and a `login_hint_token` reaches
//! the operator both in the query and in the request object.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, AuthorizeOptions, Discovered, Endpoint, Error, ErrorClass, LoginHint, Msisdn,
    SpSigningKey,
};
use mc_sandbox::fixture;
use mc_sandbox::sandbox::SandboxConfig;
use mc_tests::driver::{Driver, Failure, login};
use mc_tests::{Handset, OPERATORS, SandboxExt as _, SandboxServer};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(5);
const BODY_LIMIT: usize = 64 * 1024;

mc_tests::through_both_adapters!(
    TIMEOUT, BODY_LIMIT;
    signed_login_completes_at_every_operator,
    signed_login_with_an_es256_key_completes,
    unregistered_key_is_invalid_request_object,
    unsigned_login_is_refused_where_required,
    login_hint_token_reaches_the_operator_in_both_places,
);

/// The SP's RSA key, registered at the sandbox as `sp-rsa`.
fn rsa_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::RS256, fixture::RSA_B.as_bytes(), "sp-rsa").unwrap()
}

/// The SP's EC key, registered as `sp-ec`.
fn ec_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::ES256, fixture::EC_P256.as_bytes(), "sp-ec").unwrap()
}

/// A key the SP never registered, under the registered RSA key's `kid`.
fn unregistered_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::RS256, fixture::RSA_A.as_bytes(), "sp-rsa").unwrap()
}

/// A sandbox that knows the SP's public keys and whose every operator requires a signed
/// request object.
fn server() -> SandboxServer {
    let config = OPERATORS.iter().fold(
        SandboxConfig::default().sp_jwks(SpSigningKey::jwks([&rsa_key(), &ec_key()]).unwrap()),
        |config, op| config.require_request_objects(op.name),
    );
    SandboxServer::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), config).unwrap()
}

/// The operator context of sandbox operator `index`, signing its authorization requests with
/// `key` (or not signing them, without one).
fn operator(server: &SandboxServer, index: usize, key: Option<SpSigningKey>) -> Discovered {
    let entry = server
        .sandbox()
        .registry_entry(OPERATORS[index].name)
        .unwrap();
    match key {
        Some(key) => entry.signing_key(key).sign_authorization_requests(true),
        None => entry,
    }
    .build()
    .unwrap()
}

/// A login of operator `index`'s approving subscriber.
fn options(index: usize) -> AuthorizeOptions {
    let msisdn = fixture::subscriber(OPERATORS[index].name, Handset::Approve).unwrap();
    AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(msisdn)))
}

/// The query parameters of the authorization requests the sandbox served.
fn authorize_queries(server: &SandboxServer) -> Vec<Vec<(String, String)>> {
    server
        .sandbox()
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/authorize"))
        .map(|r| {
            url::form_urlencoded::parse(r.query().unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The claims of a compact JWS (the sandbox verified its signature).
fn claims_of(jws: &str) -> Value {
    let payload = jws.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The typed refusal `code` of the authorization request.
fn assert_refused(failure: Failure, code: &str) {
    let Failure::Core(e) = failure else {
        panic!("expected a core error, got {failure:?}");
    };
    assert_eq!(e.class(), ErrorClass::Refused, "{e:?}");
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let refusal = e.operator_error().expect("a typed refusal");
    assert!(refusal.is(code), "{refusal:?}");
    assert_eq!(refusal.endpoint, Endpoint::Authorization);
}

fn signed_login_completes_at_every_operator<D: Driver>(d: &D) {
    let server = server();
    for index in 0..OPERATORS.len() {
        let op = operator(&server, index, Some(rsa_key()));
        let tokens = login(d, &op, options(index)).unwrap();
        assert!(!tokens.sub().is_empty());
    }
    // Every authorization request carried a request object (the operators require one, so
    // each login that completed had it verified).
    let queries = authorize_queries(&server);
    assert_eq!(queries.len(), OPERATORS.len());
    for (query, info) in queries.iter().zip(OPERATORS.iter()) {
        let request = param(query, "request").expect("a request object");
        let claims = claims_of(request);
        assert_eq!(claims["iss"], info.client_id);
        assert_eq!(claims["aud"], server.sandbox().issuer(info.name).as_str());
        assert_eq!(claims["state"].as_str(), param(query, "state"));
        assert_eq!(query.last().map(|(k, _)| k.as_str()), Some("request"));
    }
}

fn signed_login_with_an_es256_key_completes<D: Driver>(d: &D) {
    let server = server();
    let op = operator(&server, 0, Some(ec_key()));
    let tokens = login(d, &op, options(0).acr_values([3])).unwrap();
    assert_eq!(tokens.id_token().acr(), Some("3"));
}

fn unregistered_key_is_invalid_request_object<D: Driver>(d: &D) {
    let server = server();
    let op = operator(&server, 0, Some(unregistered_key()));
    let refused = login(d, &op, options(0)).unwrap_err();
    assert_refused(refused, "invalid_request_object");
    // Refused at the authorize endpoint: no code was ever exchanged.
    assert!(
        !server
            .sandbox()
            .request_log()
            .iter()
            .any(|r| r.ends_with("/token"))
    );
}

fn unsigned_login_is_refused_where_required<D: Driver>(d: &D) {
    let server = server();
    let op = operator(&server, 0, None);
    let refused = login(d, &op, options(0)).unwrap_err();
    assert_refused(refused, "invalid_request");
}

fn login_hint_token_reaches_the_operator_in_both_places<D: Driver>(d: &D) {
    let server = server();
    let op = operator(&server, 0, Some(rsa_key()));
    let token = "lht-eyJhbGciOiJub25lIn0.opaque+token/1=";
    let tokens = login(d, &op, options(0).login_hint_token(token)).unwrap();
    assert!(!tokens.sub().is_empty());
    let queries = authorize_queries(&server);
    let [query] = queries.as_slice() else {
        panic!("one authorization request, got {}", queries.len());
    };
    assert_eq!(param(query, "login_hint_token"), Some(token));
    let claims = claims_of(param(query, "request").unwrap());
    assert_eq!(claims["login_hint_token"], token);
}
