//! Snapshots of every request mc-core emits: discovery, provider metadata, JWKS, the
//! authorization redirect, the token request, userinfo and premium info.
//!
//! Each request is rendered as a transcript (`support::transcript`: request line, headers sorted
//! by name, blank line, body) so that a reviewer can read exactly what goes on the wire. Secrets
//! in these transcripts are deterministic test data; sensitive header values are printed in full
//! and flagged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

use mc_core::{
    AuthorizeOptions, BasicAuthEncoding, Discovered, DiscoveryQuery, DiscoveryService, Exchange,
    LoginHint, MccMnc, Msisdn, OperatorConfig, Profile, ProviderMetadata, Registration,
    SubscriberId,
};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

/// A discovery service whose secret needs form-urlencoding (`+`, `=`, `/`, `:` and a space).
fn discovery_service_awkward_secret() -> DiscoveryService {
    discovery_service_with_secret("p+ss/w=rd: x")
}

fn discovery(service: &DiscoveryService, query: &DiscoveryQuery) -> String {
    transcript(&service.discover(query, &mut entropy()).unwrap().request())
}

fn msisdn() -> Msisdn {
    Msisdn::new("447700900301")
}

fn authorize_url(op: &Discovered, options: AuthorizeOptions) -> String {
    render_url(&start(op, options).url)
}

/// The token request of a login started with `options`, after a valid callback. The code holds
/// `+` and `/` to show its form encoding in the body.
fn token_request(op: &Discovered, options: AuthorizeOptions) -> http::Request<Vec<u8>> {
    exchange_code(op, start(op, options), "Spl%2Bxl%2FOBe").request()
}

/// The test operator, with a client secret that needs form-urlencoding.
fn operator_with_awkward_secret(encoding: BasicAuthEncoding) -> Discovered {
    let mut policy = mc_core::Policy::default();
    policy.basic_auth = encoding;
    operator_config_for(registration_with_secret("p+ss/w=rd: x"))
        .policy(policy)
        .build()
        .unwrap()
}

fn tokens(op: &Discovered) -> mc_core::Tokens {
    token_step(op, AuthorizeOptions::new(), |s| {
        token_response(&sign(
            &valid_claims(&s.nonce),
            mc_core::Algorithm::RS256,
            TestKey::RsaA,
            Some("kid-a"),
        ))
    })
    .unwrap()
}

fn metadata(body: &serde_json::Value) -> ProviderMetadata {
    ProviderMetadata::parse(&serde_json::to_vec(body).unwrap()).unwrap()
}

fn kyc_claims() -> serde_json::Value {
    json!({
        "premiuminfo": {
            "name": { "value": "Jane Doe" },
            "postal_code": { "value": "SW1A 1AA" }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

#[test]
fn discovery_by_msisdn_is_a_form_post() {
    let request = discovery_service()
        .discover(
            &DiscoveryQuery::msisdn(Msisdn::new("+447700900301")),
            &mut entropy(),
        )
        .unwrap()
        .request();
    assert_eq!(request.method(), http::Method::POST);
    let uri = request.uri().to_string();
    assert!(!uri.contains("MSISDN"), "MSISDN in the URL: {uri}");
    assert!(!uri.contains("447700900301"), "MSISDN in the URL: {uri}");
    assert!(uri.find('?').is_none(), "query on a POST: {uri}");
    insta::assert_snapshot!("discovery_msisdn", transcript(&request));
}

#[test]
fn discovery_by_msisdn_with_hints() {
    let query = DiscoveryQuery::msisdn(msisdn())
        .source_ip("203.0.113.7")
        .correlation_id("corr-disc-1");
    let request = discovery_service()
        .discover(&query, &mut entropy())
        .unwrap()
        .request();
    assert!(!request.uri().to_string().contains("447700900301"));
    insta::assert_snapshot!("discovery_msisdn_with_hints", transcript(&request));
}

#[test]
fn discovery_by_identified_mcc_mnc() {
    let query = DiscoveryQuery::identified(MccMnc::new("234", "15").unwrap());
    insta::assert_snapshot!(
        "discovery_identified",
        discovery(&discovery_service(), &query)
    );
}

#[test]
fn discovery_by_selected_mcc_mnc() {
    let query = DiscoveryQuery::selected(MccMnc::new("310", "260").unwrap());
    insta::assert_snapshot!(
        "discovery_selected",
        discovery(&discovery_service(), &query)
    );
}

#[test]
fn discovery_after_selection_return() {
    let back = mc_core::SelectionReturn::parse(
        "mcc_mnc=901_01&subscriber_id=abc123",
        selection_leg(),
        now(),
    )
    .unwrap();
    let query = back.discovery_query().unwrap();
    insta::assert_snapshot!(
        "discovery_selection_return",
        discovery(&discovery_service(), &query)
    );
}

#[test]
fn discovery_by_ip() {
    let query = DiscoveryQuery::by_ip_or_selection()
        .source_ip("203.0.113.7")
        .local_client_ip("10.0.0.12")
        .using_mobile_data(true);
    insta::assert_snapshot!("discovery_ip", discovery(&discovery_service(), &query));
}

#[test]
fn discovery_not_on_mobile_data() {
    let query = DiscoveryQuery::by_ip_or_selection()
        .source_ip("203.0.113.7")
        .using_mobile_data(false);
    insta::assert_snapshot!(
        "discovery_ip_not_mobile_data",
        discovery(&discovery_service(), &query)
    );
}

#[test]
fn discovery_manual_selection() {
    let query = DiscoveryQuery::by_ip_or_selection()
        .manually_select()
        .ignore_cookies()
        .correlation_id("corr-disc-2");
    insta::assert_snapshot!(
        "discovery_manually_select",
        discovery(&discovery_service(), &query)
    );
}

#[test]
fn discovery_bare() {
    insta::assert_snapshot!(
        "discovery_bare",
        discovery(&discovery_service(), &DiscoveryQuery::by_ip_or_selection())
    );
}

#[test]
fn discovery_basic_auth_form_urlencoded_vs_raw() {
    let query = DiscoveryQuery::by_ip_or_selection();
    let encoded = discovery(
        &discovery_service_awkward_secret().basic_auth(BasicAuthEncoding::FormUrlEncoded),
        &query,
    );
    // Raw is the discovery default (the GSMA discovery API documents base64(id:secret)).
    let raw = discovery(&discovery_service_awkward_secret(), &query);
    assert_ne!(encoded, raw);
    insta::assert_snapshot!("discovery_basic_auth_form_urlencoded", encoded);
    insta::assert_snapshot!("discovery_basic_auth_raw", raw);
}

// ---------------------------------------------------------------------------------------------
// Provider metadata and JWKS
// ---------------------------------------------------------------------------------------------

#[test]
fn metadata_request() {
    let request = operator_config().metadata_exchange().unwrap().request();
    insta::assert_snapshot!("metadata", transcript(&request));
}

#[test]
fn metadata_request_derived_from_issuer() {
    let config = OperatorConfig::new(Registration {
        operator_id: "issuer-only".to_owned(),
        ..registration()
    })
    .unwrap()
    .issuer("https://op.example/tenant-1/");
    let request = config.metadata_exchange().unwrap().request();
    insta::assert_snapshot!("metadata_from_issuer", transcript(&request));
}

#[test]
fn jwks_request() {
    let request = operator().jwks_exchange().unwrap().request();
    insta::assert_snapshot!("jwks", transcript(&request));
}

#[test]
fn endpoints_from_metadata_override_the_registry() {
    // A Mobile Connect operator whose metadata names no versions: the profile is set explicitly
    // (such metadata alone would make it a plain OpenID Connect operator).
    let op = built_with_keys(
        operator_config()
            .profile(Profile::MobileConnect)
            .with_metadata(metadata(&json!({
                "issuer": ISSUER,
                "authorization_endpoint": "https://idgw.op.example/oidc/authorize",
                "token_endpoint": "https://idgw.op.example/oidc/token",
                "userinfo_endpoint": "https://idgw.op.example/oidc/userinfo",
                "jwks_uri": "https://idgw.op.example/oidc/jwks.json",
            })))
            .unwrap(),
    );
    insta::assert_snapshot!(
        "jwks_from_metadata",
        transcript(&op.jwks_exchange().unwrap().request())
    );
    insta::assert_snapshot!(
        "authorize_endpoint_from_metadata",
        authorize_url(&op, AuthorizeOptions::new())
    );
    insta::assert_snapshot!(
        "token_endpoint_from_metadata",
        transcript(&token_request(&op, AuthorizeOptions::new()))
    );
}

// ---------------------------------------------------------------------------------------------
// Authorization redirect
// ---------------------------------------------------------------------------------------------

#[test]
fn authorize_defaults() {
    insta::assert_snapshot!(
        "authorize_defaults",
        authorize_url(&operator(), AuthorizeOptions::new())
    );
}

#[test]
fn authorize_loa3() {
    insta::assert_snapshot!(
        "authorize_loa3",
        authorize_url(&operator(), AuthorizeOptions::new().acr_values([3]))
    );
}

#[test]
fn authorize_loa2_or_3() {
    insta::assert_snapshot!(
        "authorize_acr_2_3",
        authorize_url(&operator(), AuthorizeOptions::new().acr_values([2, 3]))
    );
}

#[test]
fn authorize_login_hint_msisdn() {
    let url = start(
        &operator(),
        AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new("+447700900301"))),
    )
    .url;
    assert_eq!(
        param(&query_of(&url), "login_hint").as_deref(),
        Some("MSISDN:447700900301")
    );
    insta::assert_snapshot!("authorize_login_hint_msisdn", render_url(&url));
}

#[test]
fn authorize_login_hint_encrypted_msisdn() {
    let hint = LoginHint::EncryptedMsisdn(SubscriberId::new(
        "e4bd7b2f0b6c4e22a2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809",
    ));
    insta::assert_snapshot!(
        "authorize_login_hint_encr_msisdn",
        authorize_url(&operator(), AuthorizeOptions::new().login_hint(hint))
    );
}

#[test]
fn authorize_login_hint_pcr() {
    insta::assert_snapshot!(
        "authorize_login_hint_pcr",
        authorize_url(
            &operator(),
            AuthorizeOptions::new().login_hint(LoginHint::Pcr("pcr-1".to_owned()))
        )
    );
}

#[test]
fn authorize_mc_authz() {
    let options = AuthorizeOptions::new()
        .scope(["mc_authz"])
        .context("Pay 12.50 GBP to Test Shop")
        .binding_message("ABC-123")
        .client_name("Test Shop Checkout");
    insta::assert_snapshot!("authorize_mc_authz", authorize_url(&operator(), options));
}

#[test]
fn authorize_mc_authz_default_client_name_and_dtbs() {
    // client_name comes from the operator context ("Test Shop").
    let options = AuthorizeOptions::new()
        .scope(["mc_authz"])
        .context("Sign the contract")
        .dtbs("contract #42, sha256:0f1e2d");
    insta::assert_snapshot!(
        "authorize_mc_authz_dtbs",
        authorize_url(&operator(), options)
    );
}

#[test]
fn authorize_identity_with_kyc_claims() {
    let options = AuthorizeOptions::new()
        .scope(["mc_identity_phonenumber", "mc_kyc_plain"])
        .claims(kyc_claims());
    insta::assert_snapshot!(
        "authorize_identity_kyc_claims",
        authorize_url(&operator(), options)
    );
}

#[test]
fn authorize_every_optional_parameter() {
    let options = AuthorizeOptions::new()
        .prompt("login")
        .display("touch")
        .max_age(300)
        .ui_locales("en-GB fr")
        .claims_locales("en de")
        .id_token_hint("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwY3ItMSJ9.c2ln")
        .dtbs("data to be signed")
        .correlation_id("corr-auth-1")
        .login_hint_token("lht-opaque-token");
    let url = start(&operator(), options).url;
    let pairs = query_of(&url);
    for name in [
        "max_age",
        "ui_locales",
        "claims_locales",
        "login_hint_token",
        "id_token_hint",
        "acr_values",
    ] {
        assert!(param(&pairs, name).is_some(), "{name} missing");
    }
    for wrong in [
        "max-age",
        "ui-locales",
        "login_token_hint",
        "claims-locales",
    ] {
        assert!(param(&pairs, wrong).is_none(), "{wrong} sent");
    }
    insta::assert_snapshot!("authorize_optional_parameters", render_url(&url));
}

#[test]
fn authorize_without_pkce() {
    let url = start(&operator(), AuthorizeOptions::new().without_pkce()).url;
    let pairs = query_of(&url);
    assert!(param(&pairs, "code_challenge").is_none());
    assert!(param(&pairs, "code_challenge_method").is_none());
    insta::assert_snapshot!("authorize_without_pkce", render_url(&url));
}

#[test]
fn authorize_version_from_metadata() {
    let op = built_with_keys(
        operator_config()
            .with_metadata(
                ProviderMetadata::parse(
                    br#"{
                        "issuer": "https://op.example",
                        "jwks_uri": "https://op.example/jwks",
                        "mobile_connect_version_supported": [
                            {"openid mc_authn": "mc_v1.2"},
                            {"openid mc_identity_phonenumber": "mc_di_v3.0"}
                        ]
                    }"#,
                )
                .unwrap(),
            )
            .unwrap(),
    );
    assert_eq!(op.profile(), Profile::MobileConnect);
    insta::assert_snapshot!(
        "authorize_version_from_metadata_authn",
        authorize_url(&op, AuthorizeOptions::new())
    );
    insta::assert_snapshot!(
        "authorize_version_from_metadata_identity",
        authorize_url(
            &op,
            AuthorizeOptions::new().scope(["mc_identity_phonenumber"])
        )
    );
}

#[test]
fn authorize_forced_version() {
    insta::assert_snapshot!(
        "authorize_forced_version",
        authorize_url(&operator(), AuthorizeOptions::new().version("mc_v2.0"))
    );
}

#[test]
fn authorize_version_from_registry() {
    let op = built_with_keys(operator_config().version("mc_di_r3.0"));
    insta::assert_snapshot!(
        "authorize_version_from_registry",
        authorize_url(&op, AuthorizeOptions::new())
    );
}

#[test]
fn authorize_other_redirect_uri() {
    insta::assert_snapshot!(
        "authorize_other_redirect_uri",
        authorize_url(
            &operator(),
            AuthorizeOptions::new().redirect_uri("https://sp.example/other/callback?tenant=7")
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Token request
// ---------------------------------------------------------------------------------------------

#[test]
fn token_with_pkce() {
    let request = token_request(&operator(), AuthorizeOptions::new());
    assert_eq!(request.method(), http::Method::POST);
    insta::assert_snapshot!("token_pkce", transcript(&request));
}

#[test]
fn token_pkce_verifier_matches_challenge() {
    let op = operator();
    let started = start(&op, AuthorizeOptions::new());
    let pairs = query_of(&started.url);
    let challenge = param(&pairs, "code_challenge").unwrap();
    assert_eq!(
        param(&pairs, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let request = exchange_code(&op, started, "c").request();
    let body: Vec<(String, String)> = url::form_urlencoded::parse(request.body())
        .into_owned()
        .collect();
    let verifier = param(&body, "code_verifier").unwrap();
    let digest = (mc_core::crypto::provider().key_utils.compute_digest)(
        verifier.as_bytes(),
        jsonwebtoken::jwk::ThumbprintHash::SHA256,
    )
    .unwrap();
    assert_eq!(b64(&digest), challenge);
}

#[test]
fn token_without_pkce() {
    let request = token_request(&operator(), AuthorizeOptions::new().without_pkce());
    insta::assert_snapshot!("token_without_pkce", transcript(&request));
}

#[test]
fn token_with_correlation_id() {
    let request = token_request(
        &operator(),
        AuthorizeOptions::new().correlation_id("corr-token-1"),
    );
    insta::assert_snapshot!("token_correlation_id", transcript(&request));
}

#[test]
fn token_with_other_redirect_uri() {
    let request = token_request(
        &operator(),
        AuthorizeOptions::new().redirect_uri("https://sp.example/other/callback?tenant=7"),
    );
    insta::assert_snapshot!("token_other_redirect_uri", transcript(&request));
}

#[test]
fn token_basic_auth_raw_via_policy() {
    // The test operator's secret is plain, so both encodings agree; shown for the record.
    let op = operator_with_policy(|p| p.basic_auth = BasicAuthEncoding::Raw);
    insta::assert_snapshot!(
        "token_basic_auth_raw_plain_secret",
        transcript(&token_request(&op, AuthorizeOptions::new()))
    );
    // A secret that needs encoding shows the difference.
    let encoded = transcript(&token_request(
        &operator_with_awkward_secret(BasicAuthEncoding::FormUrlEncoded),
        AuthorizeOptions::new(),
    ));
    let raw = transcript(&token_request(
        &operator_with_awkward_secret(BasicAuthEncoding::Raw),
        AuthorizeOptions::new(),
    ));
    assert_ne!(encoded, raw);
    insta::assert_snapshot!("token_basic_auth_form_urlencoded_awkward_secret", encoded);
    insta::assert_snapshot!("token_basic_auth_raw_awkward_secret", raw);
}

// ---------------------------------------------------------------------------------------------
// UserInfo and premium info
// ---------------------------------------------------------------------------------------------

#[test]
fn userinfo_request() {
    let op = operator();
    let request = tokens(&op).userinfo(&op).unwrap().request();
    assert_eq!(request.method(), http::Method::GET);
    assert!(!request.uri().to_string().contains(ACCESS_TOKEN));
    assert!(request.uri().query().is_none());
    insta::assert_snapshot!("userinfo", transcript(&request));
}

#[test]
fn premiuminfo_request() {
    let op = operator();
    let request = tokens(&op).premiuminfo(&op).unwrap().request();
    assert_eq!(request.method(), http::Method::GET);
    assert!(!request.uri().to_string().contains(ACCESS_TOKEN));
    insta::assert_snapshot!("premiuminfo", transcript(&request));
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn request_twice_is_byte_identical() {
    fn twice(exchange: &impl Exchange) {
        let (a, b) = (exchange.request(), exchange.request());
        assert_eq!(transcript(&a), transcript(&b));
        assert_eq!(a.body(), b.body());
        assert_eq!(a.headers(), b.headers());
        for ((_, va), (_, vb)) in a.headers().iter().zip(b.headers().iter()) {
            assert_eq!(va.is_sensitive(), vb.is_sensitive());
        }
    }
    let op = operator();
    twice(
        &discovery_service()
            .discover(
                &DiscoveryQuery::msisdn(msisdn()).source_ip("203.0.113.7"),
                &mut entropy(),
            )
            .unwrap(),
    );
    twice(
        &discovery_service()
            .discover(
                &DiscoveryQuery::identified(MccMnc::new("234", "15").unwrap()),
                &mut entropy(),
            )
            .unwrap(),
    );
    twice(&operator_config().metadata_exchange().unwrap());
    twice(&op.jwks_exchange().unwrap());

    let started = start(&op, AuthorizeOptions::new().correlation_id("c-1"));
    twice(&exchange_code(&op, started, "abc"));

    twice(&tokens(&op).userinfo(&op).unwrap());
    twice(&tokens(&op).premiuminfo(&op).unwrap());
}

#[test]
fn authorize_is_deterministic_for_the_same_entropy() {
    let op = operator();
    let options = || {
        AuthorizeOptions::new()
            .scope(["mc_identity_phonenumber"])
            .claims(kyc_claims())
            .login_hint(LoginHint::Msisdn(msisdn()))
            .ui_locales("en")
    };
    let mut first_rng = entropy();
    let mut second_rng = entropy();
    let (first, first_flow) = op.authorize(options(), &mut first_rng, now()).unwrap();
    let (second, second_flow) = op.authorize(options(), &mut second_rng, now()).unwrap();
    assert_eq!(first.as_str(), second.as_str());
    assert_eq!(first_flow, second_flow);

    // A different seed gives different state, nonce and PKCE values.
    let mut other_rng = |buf: &mut [u8]| buf.fill(0xA5);
    let (third, _) = op.authorize(options(), &mut other_rng, now()).unwrap();
    assert_ne!(first.as_str(), third.as_str());
    let (a, c) = (query_of(first.url()), query_of(third.url()));
    for name in ["state", "nonce", "code_challenge"] {
        assert_ne!(param(&a, name), param(&c, name), "{name}");
    }
    // state, nonce and the PKCE verifier are never the same value.
    assert_ne!(param(&a, "state"), param(&a, "nonce"));
}

// ---------------------------------------------------------------------------------------------
// Refresh and revocation
// ---------------------------------------------------------------------------------------------

/// The test operator with refresh and revocation endpoints, and a login's tokens there that
/// hold a refresh token.
fn refreshable(
    config: impl FnOnce(OperatorConfig) -> OperatorConfig,
) -> (Discovered, mc_core::Tokens) {
    let op = built_with_keys(config(
        operator_config()
            .refresh("https://op.example/refresh")
            .unwrap()
            .revocation("https://op.example/revoke")
            .unwrap(),
    ));
    let tokens = token_step(&op, AuthorizeOptions::new(), |s| {
        let mut body: serde_json::Value =
            serde_json::from_slice(&mc_sandbox::fixture::token_body(&valid_id_token(&s.nonce)))
                .unwrap();
        body["refresh_token"] = json!("rt+0001/x=");
        json_response(200, &body)
    })
    .unwrap();
    (op, tokens)
}

#[test]
fn refresh_request() {
    let (op, tokens) = refreshable(|c| c);
    let request = tokens.refresh(&op, now()).unwrap().request();
    assert_eq!(request.method(), http::Method::POST);
    insta::assert_snapshot!("refresh", transcript(&request));
}

#[test]
fn refresh_request_client_secret_post() {
    let (op, tokens) = refreshable(|c| c.client_auth(mc_core::ClientAuth::SecretPost));
    let request = tokens.refresh(&op, now()).unwrap().request();
    assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
    insta::assert_snapshot!("refresh_client_secret_post", transcript(&request));
}

#[test]
fn revoke_access_token_request() {
    let (op, tokens) = refreshable(|c| c);
    let request = tokens
        .revoke(&op, mc_core::TokenKind::Access, now())
        .unwrap()
        .request();
    insta::assert_snapshot!("revoke_access_token", transcript(&request));
}

#[test]
fn revoke_refresh_token_request() {
    let (op, tokens) = refreshable(|c| c);
    let request = tokens
        .revoke(&op, mc_core::TokenKind::Refresh, now())
        .unwrap()
        .request();
    insta::assert_snapshot!("revoke_refresh_token", transcript(&request));
}

#[test]
fn refresh_and_revoke_are_byte_identical_twice() {
    let (op, tokens) = refreshable(|c| c);
    let refresh = tokens.refresh(&op, now()).unwrap();
    assert_eq!(
        transcript(&refresh.request()),
        transcript(&refresh.request())
    );
    let revoke = tokens
        .revoke(&op, mc_core::TokenKind::Refresh, now())
        .unwrap();
    assert_eq!(transcript(&revoke.request()), transcript(&revoke.request()));
}
