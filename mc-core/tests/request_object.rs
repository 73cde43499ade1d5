//! Signed request objects in the browser login (OIDC Core 6.1, MOBILE-CONNECT.md §3): with
//! `OperatorConfig::sign_authorization_requests`, the authorization URL ends with `request`, a
//! JWS signed by the SP's key whose claims repeat every query parameter with an equal value.
//! A snapshot of the URL and the decoded request object, the claims checked one by one against
//! the query, a property over arbitrary options, the configuration refusal, the default (off),
//! and the in-memory sandbox operator verifying it (and refusing a tampered one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, AuthorizeOptions, Discovered, Error, LoginHint, MissingSetting, MisuseError, Msisdn,
    OperatorConfig, SpSigningKey,
};
use mc_sandbox::Sandbox;
use mc_sandbox::fixture::MSISDN;
use proptest::prelude::*;
use serde_json::{Value, json};
use support::*;

const SP_KID: &str = "sp-key-1";

/// The request object's own claims (no query parameter of that name).
const OWN_CLAIMS: [&str; 5] = ["iss", "aud", "iat", "exp", "jti"];

fn sp_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::RS256, RSA_B.as_bytes(), SP_KID).unwrap()
}

/// The test operator, signing its authorization requests with the SP's key.
fn signing_config() -> OperatorConfig {
    operator_config()
        .signing_key(sp_key())
        .sign_authorization_requests(true)
}

fn signing_operator() -> Discovered {
    built_with_keys(signing_config())
}

/// Every option a browser login has, with values that need encoding.
fn every_option() -> AuthorizeOptions {
    AuthorizeOptions::new()
        .scope(["mc_authz", "mc_identity_phonenumber"])
        .acr_values([2, 3])
        .login_hint(LoginHint::Msisdn(Msisdn::new(MSISDN)))
        .login_hint_token("lht-opaque+token/1=")
        .prompt("login")
        .display("touch")
        .max_age(300)
        .ui_locales("en-GB fr")
        .claims_locales("en de")
        .id_token_hint("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwY3ItMSJ9.c2ln")
        .claims(json!({ "premiuminfo": { "name": { "value": "Jane Doe" } } }))
        .dtbs("data to be signed")
        .client_name("Test Shop")
        .context("Pay 10 EUR to Example Shop")
        .binding_message("4G7K")
        .correlation_id("corr-auth-1")
}

/// The `request` parameter of an authorization URL.
fn request_param(url: &url::Url) -> String {
    param(&query_of(url), "request").expect("the URL carries a request object")
}

/// The JOSE header and claims of the request object, after checking its signature with the
/// SP's published JWK, as an operator does.
fn verified_request_object(url: &url::Url) -> (Value, Value) {
    let jws = request_param(url);
    let jwks = SpSigningKey::jwks([&sp_key()]).unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let (input, signature) = jws.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let verifier = (mc_core::crypto::provider().verifier_factory)(&Algorithm::RS256, &key).unwrap();
    verifier.verify(input.as_bytes(), &signature).unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let decode =
        |part: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]))
}

/// Every query parameter (but `request`) is a claim of equal value, every claim but the
/// request object's own is a query parameter, and the own claims are right.
fn assert_claims_equal_query(url: &url::Url) {
    let pairs = query_of(url);
    let (header, claims) = verified_request_object(url);
    assert_eq!(
        header,
        json!({ "alg": "RS256", "kid": SP_KID, "typ": "JWT" })
    );
    let members = claims.as_object().expect("claims are an object");
    for (name, value) in pairs.iter().filter(|(name, _)| name != "request") {
        let claim = members
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from the request object"));
        match name.as_str() {
            "max_age" => assert_eq!(claim.as_u64().map(|n| n.to_string()).as_ref(), Some(value)),
            "claims" => {
                assert!(claim.is_object(), "claims is an object, not text: {claim}");
                assert_eq!(*claim, serde_json::from_str::<Value>(value).unwrap());
            }
            _ => assert_eq!(claim.as_str(), Some(value.as_str()), "{name}"),
        }
    }
    for name in members.keys() {
        assert!(
            OWN_CLAIMS.contains(&name.as_str()) || param(&pairs, name).is_some(),
            "{name} is in the request object only"
        );
    }
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["aud"], ISSUER);
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 300);
    assert_eq!(claims["jti"].as_str().map(str::len), Some(43));
    let last = pairs.last().map(|(name, _)| name.as_str());
    assert_eq!(last, Some("request"), "request goes last");
    assert_eq!(pairs.iter().filter(|(n, _)| n == "request").count(), 1);
}

/// The JOSE header and the claims of a compact JWS as the bytes signed (members in the order
/// sent).
fn decoded_as_sent(jws: &str) -> (String, String) {
    let text = |part: &str| String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    (text(parts[0]), text(parts[1]))
}

#[test]
fn signed_request_snapshot() {
    let url = start(&signing_operator(), every_option()).url;
    verified_request_object(&url);
    let (header, claims) = decoded_as_sent(&request_param(&url));
    let decoded = format!(
        "{}\n\nrequest header: {header}\nrequest claims: {claims}",
        render_url(&url)
    );
    insta::assert_snapshot!("authorize_signed_request", decoded);
}

#[test]
fn every_claim_equals_its_query_parameter() {
    assert_claims_equal_query(&start(&signing_operator(), every_option()).url);
    assert_claims_equal_query(&start(&signing_operator(), AuthorizeOptions::new()).url);
    assert_claims_equal_query(
        &start(&signing_operator(), AuthorizeOptions::new().without_pkce()).url,
    );
}

#[test]
fn login_hint_token_is_in_the_query_and_the_request_object() {
    let url = start(
        &signing_operator(),
        AuthorizeOptions::new().login_hint_token("lht-opaque-token"),
    )
    .url;
    assert_eq!(
        param(&query_of(&url), "login_hint_token").as_deref(),
        Some("lht-opaque-token")
    );
    assert_eq!(
        verified_request_object(&url).1["login_hint_token"],
        "lht-opaque-token"
    );
}

#[test]
fn same_inputs_give_the_same_url() {
    let first = start(&signing_operator(), every_option()).url;
    let second = start(&signing_operator(), every_option()).url;
    assert_eq!(first.as_str(), second.as_str());
}

#[test]
fn the_query_before_request_is_the_unsigned_one() {
    // Turning signing on appends `request` and changes nothing before it (the jti is drawn
    // after the state, nonce and PKCE verifier).
    let plain = start(&operator(), every_option()).url;
    let signed = start(&signing_operator(), every_option()).url;
    let (before, _) = signed.as_str().rsplit_once("&request=").unwrap();
    assert_eq!(before, plain.as_str());
}

#[test]
fn off_by_default() {
    let op = operator();
    assert!(!op.signs_authorization_requests());
    let url = start(&op, every_option()).url;
    assert!(param(&query_of(&url), "request").is_none());
    // A signing key alone (for SI or private_key_jwt) does not sign browser requests.
    let with_key = built_with_keys(operator_config().signing_key(sp_key()));
    assert!(!with_key.signs_authorization_requests());
    assert_eq!(start(&with_key, every_option()).url, url);
}

#[test]
fn signed_requests_without_a_signing_key_are_refused_at_build() {
    let refused = operator_config()
        .sign_authorization_requests(true)
        .build()
        .unwrap_err();
    match refused {
        Error::Misuse(MisuseError::IncompleteOperator { operator, missing }) => {
            assert_eq!(operator, "test-operator");
            assert_eq!(missing, MissingSetting::SigningKey);
        }
        other => panic!("expected IncompleteOperator, got {other:?}"),
    }
    // Switched off again, the same entry builds.
    assert!(
        operator_config()
            .sign_authorization_requests(true)
            .sign_authorization_requests(false)
            .build()
            .is_ok()
    );
}

// ---------------------------------------------------------------------------------------------
// Property: for arbitrary options, the inner claims equal the outer parameters
// ---------------------------------------------------------------------------------------------

/// Short text of any printable characters (within the handset text limits).
fn text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("\\PC{0,24}")
}

fn claims_request() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(
        proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,12}", 0..4).prop_map(|members| {
            let members: serde_json::Map<String, Value> = members
                .into_iter()
                .map(|(name, value)| (name, json!({ "value": value })))
                .collect();
            json!({ "userinfo": members })
        }),
    )
}

#[derive(Debug, Clone)]
struct Texts {
    pcr: Option<String>,
    login_hint_token: Option<String>,
    prompt: Option<String>,
    display: Option<String>,
    ui_locales: Option<String>,
    claims_locales: Option<String>,
    dtbs: Option<String>,
    context: Option<String>,
    binding_message: Option<String>,
    client_name: Option<String>,
    correlation_id: Option<String>,
}

fn texts() -> impl Strategy<Value = Texts> {
    (
        (text(), text(), text(), text(), text()),
        (text(), text(), text(), text(), text(), text()),
    )
        .prop_map(|((a, b, c, d, e), (f, g, h, i, j, k))| Texts {
            pcr: k,
            login_hint_token: a,
            prompt: b,
            display: c,
            ui_locales: d,
            claims_locales: e,
            dtbs: f,
            context: g,
            binding_message: h,
            client_name: i,
            correlation_id: j,
        })
}

fn options_from(
    t: Texts,
    max_age: Option<u64>,
    claims: Option<Value>,
    loa3: bool,
    pkce: bool,
) -> AuthorizeOptions {
    let mut o = AuthorizeOptions::new().acr_values(if loa3 { vec![3] } else { vec![2] });
    let set = |o: AuthorizeOptions,
               v: Option<String>,
               f: fn(AuthorizeOptions, String) -> AuthorizeOptions| match v {
        Some(v) => f(o, v),
        None => o,
    };
    o = set(o, t.pcr, |o, v| o.login_hint(LoginHint::Pcr(v)));
    o = set(o, t.login_hint_token, |o, v| o.login_hint_token(v));
    o = set(o, t.prompt, |o, v| o.prompt(v));
    o = set(o, t.display, |o, v| o.display(v));
    o = set(o, t.ui_locales, |o, v| o.ui_locales(v));
    o = set(o, t.claims_locales, |o, v| o.claims_locales(v));
    o = set(o, t.dtbs, |o, v| o.dtbs(v));
    o = set(o, t.context, |o, v| o.context(v));
    o = set(o, t.binding_message, |o, v| o.binding_message(v));
    o = set(o, t.client_name, |o, v| o.client_name(v));
    o = set(o, t.correlation_id, |o, v| o.correlation_id(v));
    if let Some(max_age) = max_age {
        o = o.max_age(max_age);
    }
    if let Some(claims) = claims {
        o = o.claims(claims);
    }
    if pkce { o } else { o.without_pkce() }
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn inner_claims_equal_outer_parameters(
        t in texts(),
        max_age in proptest::option::of(any::<u64>()),
        claims in claims_request(),
        loa3 in any::<bool>(),
        pkce in any::<bool>(),
    ) {
        let url = start(&signing_operator(), options_from(t, max_age, claims, loa3, pkce)).url;
        assert_claims_equal_query(&url);
    }
}

// ---------------------------------------------------------------------------------------------
// The in-memory sandbox operator verifies the request object
// ---------------------------------------------------------------------------------------------

/// A sandbox that knows the SP's public keys, and its first operator's context signing
/// authorization requests with `key`.
fn sandbox_signing(key: SpSigningKey) -> (Sandbox, Discovered) {
    let sandbox = mc_sandbox::fixture::sandbox();
    let name = mc_sandbox::OPERATORS[0].name;
    sandbox
        .register_sp_jwks(name, &SpSigningKey::jwks([&sp_key()]).unwrap())
        .unwrap();
    let config = sandbox_config(&sandbox, name)
        .signing_key(key)
        .sign_authorization_requests(true);
    let op = sandbox_operator(&sandbox, name, config);
    (sandbox, op)
}

/// The callback query the sandbox sends the browser back with, for this authorization URL:
/// as sent, and decoded.
fn browse(sandbox: &Sandbox, url: &str) -> (String, Vec<(String, String)>) {
    let query = mc_sandbox::fixture::browse(sandbox, url).expect("a redirect to the SP");
    let pairs = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (query, pairs)
}

#[test]
fn the_sandbox_accepts_a_signed_request_and_logs_in() {
    let (sandbox, op) = sandbox_signing(sp_key());
    let started = start(&op, AuthorizeOptions::new().login_hint_token("lht-1"));
    let (query, back) = browse(&sandbox, started.url.as_str());
    assert!(param(&back, "code").is_some(), "{back:?}");
    let code = started.flow.callback(&op, &query, now()).unwrap();
    let tokens = finish(&sandbox, code.token_exchange(&op, now()).unwrap()).unwrap();
    assert!(!tokens.sub().is_empty());
}

#[test]
fn the_sandbox_refuses_a_request_object_it_cannot_trust() {
    let unregistered = SpSigningKey::from_pem(Algorithm::RS256, RSA_A.as_bytes(), SP_KID).unwrap();
    // (case, the authorization URL after the mutation)
    let cases: Vec<(&str, String)> = vec![
        ("signed by an unregistered key", {
            let (_, op) = sandbox_signing(unregistered);
            start(&op, AuthorizeOptions::new()).url.to_string()
        }),
        ("a query parameter differs from its claim", {
            let (_, op) = sandbox_signing(sp_key());
            let url = start(&op, AuthorizeOptions::new().prompt("login")).url;
            url.as_str().replace("prompt=login", "prompt=none")
        }),
        ("the signature does not match the claims", {
            let (_, op) = sandbox_signing(sp_key());
            let url = start(&op, AuthorizeOptions::new()).url;
            let jws = request_param(&url);
            let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(br#"{"iss":"client-123"}"#);
            url.as_str().replace(&jws, &parts.join("."))
        }),
    ];
    for (case, url) in cases {
        let (sandbox, _) = sandbox_signing(sp_key());
        let (_, back) = browse(&sandbox, &url);
        assert_eq!(
            param(&back, "error").as_deref(),
            Some("invalid_request_object"),
            "{case}: {back:?}"
        );
        assert!(
            param(&back, "state").is_some(),
            "{case}: the state comes back"
        );
        assert!(param(&back, "code").is_none(), "{case}");
    }
}
