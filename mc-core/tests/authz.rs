//! The `mc_authz` rules (MOBILE-CONNECT.md §3 and §8) in the browser authorize request, the
//! Mobile Connect server-initiated request object and (`binding_message` only) OpenID CIBA:
//! `client_name` (the login's, else the operator context's) and `context` are required and not
//! empty, `binding_message` may be absent or empty, and every text shown on the handset is held
//! to the operator's [`MessageLimits`] in characters, refused and never cut.
//!
//! The refusals are tables `(case id, operator, request, expected error)`, one test name per case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, AuthorizeOptions, CibaLoginHint, CibaRequest, Discovered, Error, Exchange as _,
    LoginHint, MessageLimits, MisuseError, Msisdn, OperatorConfig, SiRequest, SpSigningKey,
};
use mc_sandbox::fixture::{AUTHORIZATION_ENDPOINT, JWKS_URI, MSISDN, PHONE_NUMBER, TOKEN_ENDPOINT};
use serde_json::Value;
use support::*;

const SI_ENDPOINT: &str = "https://op.example/si-authorize";
const BC_ENDPOINT: &str = "https://op.example/bc-authorize";

/// The test operator without an application name of its own.
fn nameless_config() -> OperatorConfig {
    OperatorConfig::new(registration())
        .unwrap()
        .issuer(ISSUER)
        .authorization(AUTHORIZATION_ENDPOINT)
        .unwrap()
        .token(TOKEN_ENDPOINT)
        .unwrap()
        .jwks(JWKS_URI)
        .unwrap()
}

/// `config` with both server-initiated endpoints and the SP's key (SI in polling mode needs no
/// notification URI).
fn with_si(config: OperatorConfig) -> OperatorConfig {
    config
        .si_authorization(SI_ENDPOINT)
        .unwrap()
        .backchannel_authentication(BC_ENDPOINT)
        .unwrap()
        .signing_key(
            SpSigningKey::from_pem(Algorithm::RS256, RSA_B.as_bytes(), "sp-key-1").unwrap(),
        )
}

/// The test operator ("Test Shop"), default limits.
fn op() -> Discovered {
    built_with_keys(with_si(operator_config()))
}

/// The test operator without an application name.
fn nameless() -> Discovered {
    built_with_keys(with_si(nameless_config()))
}

/// The test operator with small limits of its own.
fn strict() -> Discovered {
    built_with_keys(with_si(operator_config().message_limits(MessageLimits {
        client_name: 5,
        context: 10,
        binding_message: 4,
    })))
}

/// A valid browser `mc_authz` login.
fn browser() -> AuthorizeOptions {
    AuthorizeOptions::new()
        .scope(["mc_authz"])
        .context("Pay 10 EUR")
        .binding_message("4G7K")
}

/// A valid server-initiated `mc_authz` login.
fn si() -> SiRequest {
    SiRequest::new(LoginHint::Msisdn(Msisdn::new(MSISDN)))
        .polling()
        .scope(["mc_authz"])
        .context("Pay 10 EUR")
        .binding_message("4G7K")
}

fn ciba() -> CibaRequest {
    CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(PHONE_NUMBER))).binding_message("4G7K")
}

fn browser_result(op: &Discovered, options: AuthorizeOptions) -> Result<url::Url, Error> {
    op.authorize(options, &mut entropy(), now())
        .map(|(redirect, _)| redirect.url().clone())
}

fn si_result(op: &Discovered, request: SiRequest) -> Result<Value, Error> {
    op.si_authorize(request, &mut entropy(), now())
        .map(|start| request_object(&start.request()))
}

fn ciba_result(op: &Discovered, request: CibaRequest) -> Result<Vec<(String, String)>, Error> {
    op.ciba_authorize(request, &mut entropy(), now())
        .map(|start| {
            url::form_urlencoded::parse(start.request().body())
                .into_owned()
                .collect()
        })
}

/// The claims of the SI request object (its signature is the business of `backchannel.rs`).
fn request_object(request: &http::Request<Vec<u8>>) -> Value {
    let query = request.uri().query().unwrap_or_default();
    let jws = url::form_urlencoded::parse(query.as_bytes())
        .chain(url::form_urlencoded::parse(request.body()))
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned())
        .expect("a request object");
    let claims = jws.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

fn missing(field: &'static str) -> impl Fn(&Error) -> bool {
    move |err| matches!(err, Error::Misuse(MisuseError::AuthzFieldMissing { field: f }) if *f == field)
}

fn too_long(field: &'static str, limit: usize, length: usize) -> impl Fn(&Error) -> bool {
    move |err| {
        matches!(err, Error::Misuse(MisuseError::TooLong { field: f, limit: l, length: n })
            if *f == field && *l == limit && *n == length)
    }
}

/// `n` copies of `c`.
fn text(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

macro_rules! refused {
    ($($(#[$doc:meta])* $name:ident: $result:expr => $expected:expr;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            let err = $result.expect_err("refused before anything is sent");
            assert!(($expected)(&err), "unexpected error: {err:?}");
        }
    )*};
}

refused! {
    browser_mc_authz_without_context:
        browser_result(&op(), AuthorizeOptions::new().scope(["mc_authz"]).client_name("Shop"))
        => missing("context");
    browser_mc_authz_with_empty_context:
        browser_result(&op(), browser().context(""))
        => missing("context");
    /// Neither the login nor the operator context names the application.
    browser_mc_authz_without_client_name:
        browser_result(&nameless(), browser())
        => missing("client_name");
    browser_mc_authz_with_empty_client_name:
        browser_result(&op(), browser().client_name(""))
        => missing("client_name");
    browser_client_name_over_the_default_limit:
        browser_result(&op(), browser().client_name(text('a', 33)))
        => too_long("client_name", 32, 33);
    browser_context_over_the_default_limit:
        browser_result(&op(), browser().context(text('a', 65)))
        => too_long("context", 64, 65);
    browser_binding_message_over_the_default_limit:
        browser_result(&op(), browser().binding_message(text('a', 65)))
        => too_long("binding_message", 64, 65);
    /// The operator context's own name is held to the limit too (it is what is sent).
    browser_context_client_name_over_an_operator_limit:
        browser_result(&strict(), browser().context("Pay"))
        => too_long("client_name", 5, 9);
    /// Limits hold without `mc_authz` too: whatever is sent is shown on the handset.
    browser_binding_message_over_the_limit_without_mc_authz:
        browser_result(&strict(), AuthorizeOptions::new().binding_message("12345"))
        => too_long("binding_message", 4, 5);

    si_mc_authz_without_context:
        si_result(&op(), SiRequest::new(LoginHint::Msisdn(Msisdn::new(MSISDN))).polling().scope(["mc_authz"]))
        => missing("context");
    si_mc_authz_with_empty_context:
        si_result(&op(), si().context(""))
        => missing("context");
    si_mc_authz_without_client_name:
        si_result(&nameless(), si())
        => missing("client_name");
    si_mc_authz_with_empty_client_name:
        si_result(&op(), si().client_name(""))
        => missing("client_name");
    si_client_name_over_the_default_limit:
        si_result(&op(), si().client_name(text('a', 33)))
        => too_long("client_name", 32, 33);
    si_context_over_the_default_limit:
        si_result(&op(), si().context(text('a', 65)))
        => too_long("context", 64, 65);
    si_binding_message_over_the_default_limit:
        si_result(&op(), si().binding_message(text('a', 65)))
        => too_long("binding_message", 64, 65);
    si_context_over_an_operator_limit:
        si_result(&strict(), si().client_name("Shop").context("Pay 10 EUR!"))
        => too_long("context", 10, 11);

    ciba_binding_message_over_the_default_limit:
        ciba_result(&op(), ciba().binding_message(text('a', 65)))
        => too_long("binding_message", 64, 65);
    ciba_binding_message_over_an_operator_limit:
        ciba_result(&strict(), ciba().binding_message("4G7K5"))
        => too_long("binding_message", 4, 5);

    /// Characters, not bytes: 33 two-byte characters are 33, over 32.
    multi_byte_client_name_over_the_limit_counts_characters:
        browser_result(&op(), browser().client_name(text('é', 33)))
        => too_long("client_name", 32, 33);
    multi_byte_context_over_the_limit_counts_characters:
        si_result(&op(), si().context(text('🙂', 65)))
        => too_long("context", 64, 65);
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[test]
fn an_empty_or_absent_binding_message_is_accepted() {
    let url = browser_result(&op(), browser().binding_message("")).unwrap();
    assert_eq!(param(&url, "binding_message").as_deref(), Some(""));
    let url = browser_result(
        &op(),
        AuthorizeOptions::new().scope(["mc_authz"]).context("Pay"),
    )
    .unwrap();
    assert_eq!(param(&url, "binding_message"), None);

    let claims = si_result(&op(), si().binding_message("")).unwrap();
    assert_eq!(claims["binding_message"], "");
    let claims = si_result(
        &op(),
        SiRequest::new(LoginHint::Msisdn(Msisdn::new(MSISDN)))
            .polling()
            .scope(["mc_authz"])
            .context("Pay"),
    )
    .unwrap();
    assert!(claims.get("binding_message").is_none());

    let form = ciba_result(&op(), ciba().binding_message("")).unwrap();
    assert!(form.contains(&("binding_message".to_owned(), String::new())));
}

#[test]
fn the_context_client_name_is_the_default_and_a_login_name_wins() {
    let url = browser_result(&op(), browser()).unwrap();
    assert_eq!(param(&url, "client_name").as_deref(), Some("Test Shop"));
    let url = browser_result(&nameless(), browser().client_name("Shop")).unwrap();
    assert_eq!(param(&url, "client_name").as_deref(), Some("Shop"));
    let claims = si_result(&nameless(), si().client_name("Shop")).unwrap();
    assert_eq!(claims["client_name"], "Shop");
}

#[test]
fn values_exactly_at_the_default_limits_are_sent_whole() {
    let (name, context, binding) = (text('n', 32), text('c', 64), text('b', 64));
    let options = browser()
        .client_name(name.clone())
        .context(context.clone())
        .binding_message(binding.clone());
    let url = browser_result(&op(), options).unwrap();
    assert_eq!(param(&url, "client_name"), Some(name.clone()));
    assert_eq!(param(&url, "context"), Some(context.clone()));
    assert_eq!(param(&url, "binding_message"), Some(binding.clone()));

    let request = si()
        .client_name(name.clone())
        .context(context.clone())
        .binding_message(binding.clone());
    let claims = si_result(&op(), request).unwrap();
    assert_eq!(claims["client_name"], name.as_str());
    assert_eq!(claims["context"], context.as_str());
    assert_eq!(claims["binding_message"], binding.as_str());

    assert!(ciba_result(&op(), ciba().binding_message(binding)).is_ok());
}

#[test]
fn limits_are_set_per_operator() {
    let limits = MessageLimits {
        client_name: 5,
        context: 10,
        binding_message: 4,
    };
    assert_eq!(strict().message_limits(), limits);
    assert_eq!(op().message_limits(), MessageLimits::default());
    assert_eq!(MessageLimits::default(), MessageLimits::DEFAULT);
    // At the strict operator's limits: accepted.
    let at_limit = |c| {
        browser()
            .client_name("Shop5")
            .context("Pay 10 EU€")
            .binding_message(c)
    };
    assert!(browser_result(&strict(), at_limit("4G7K")).is_ok());
    let request = si().client_name("Shop5").context("Pay 10 EU€");
    assert!(si_result(&strict(), request.clone()).is_ok());
    assert!(ciba_result(&strict(), ciba()).is_ok());
    // One over at the strict operator is fine at the default one.
    let longer = browser().client_name("Shop 6").context("Pay 10 EUR!");
    assert!(browser_result(&strict(), longer.clone()).is_err());
    assert!(browser_result(&op(), longer).is_ok());
}

#[test]
fn multi_byte_values_at_the_limit_are_accepted() {
    // 32 / 64 characters of 2, 3 and 4 bytes each: within the limits in characters, far over
    // them in bytes.
    let options = browser()
        .client_name(text('é', 32))
        .context(text('€', 64))
        .binding_message(text('🙂', 64));
    let url = browser_result(&op(), options).unwrap();
    assert_eq!(param(&url, "context"), Some(text('€', 64)));
    let claims = si_result(
        &op(),
        si().client_name(text('é', 32)).context(text('🙂', 64)),
    )
    .unwrap();
    assert_eq!(claims["context"], text('🙂', 64).as_str());
    // A combining sequence counts each scalar value: "e" + U+0301 is 2 characters.
    let combining = "e\u{301}".repeat(33);
    let err = browser_result(&op(), browser().context(combining)).unwrap_err();
    assert!(too_long("context", 64, 66)(&err), "{err:?}");
}

#[test]
fn a_too_long_error_does_not_print_the_value() {
    let secret = format!("Pay 10 EUR to {}", text('x', 60));
    let err = browser_result(&op(), browser().context(secret.clone())).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("xxxxxxxx"), "{shown}");
    assert!(shown.contains("context") && shown.contains("74") && shown.contains("64"));
    assert_eq!(err.class(), mc_core::ErrorClass::Misuse);
}
