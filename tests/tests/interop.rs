//! Interop: the whole login against panva's `oidc-provider` (an independently written,
//! OpenID Certified provider from npm) playing a Mobile Connect operator, through both
//! adapters. Each test starts its own provider process (`mc_tests::interop::Peer`); every test
//! passes without doing anything when `node` is not installed and `CI` is unset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mc_core::{
    Algorithm, AuthorizeOptions, BackchannelError, BackchannelMode, BackchannelPending,
    BasicAuthEncoding, CibaLoginHint, CibaRequest, ClientAuth, ClientSecret, Discovered, Endpoint,
    Error, Exchange as _, IdTokenError, LoginHint, MisuseError, Msisdn, Notified, Poll, Profile,
    SpSigningKey, TokenKind, Tokens,
};
use mc_tests::driver::{BackchannelDriver, Blocking, Driver, Failure, Tokio, entropy, userinfo};
use mc_tests::interop::{
    ALGORITHMS, APPROVING_MSISDN, AuthMethod, Browser, CIBA_ANSWER_DELAY,
    CIBA_DEFAULT_INTERVAL_SECS, CIBA_NOTIFY_PATH, CIBA_POLL_INTERVAL_SECS, CibaClient,
    DECLINING_MSISDN, Landing, PLAIN_OIDC_CLIENT, Peer, PeerClient, PingReceiver, SILENT_MSISDN,
    authorize, client_secret, follow, login, other_key, sp_key,
};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(5);
const BODY_LIMIT: usize = 64 * 1024;

fn blocking() -> Blocking {
    Blocking::new(TIMEOUT, BODY_LIMIT)
}

fn tokio() -> Tokio {
    Tokio::new(TIMEOUT, BODY_LIMIT).unwrap()
}

/// One `#[test]` per adapter for each scenario, each with its own provider process.
macro_rules! through_both_adapters {
    ($($scenario:ident),* $(,)?) => {
        mod blocking_adapter {
            $( #[test] fn $scenario() {
                if let Some(peer) = mc_tests::interop::Peer::start() {
                    super::$scenario(&super::blocking(), &peer)
                }
            } )*
        }
        mod tokio_adapter {
            $( #[test] fn $scenario() {
                if let Some(peer) = mc_tests::interop::Peer::start() {
                    super::$scenario(&super::tokio(), &peer)
                }
            } )*
        }
    };
}

through_both_adapters!(
    metadata_is_read_from_the_issuer,
    login_client_secret_basic_every_alg_with_and_without_pkce,
    login_client_secret_post_every_alg_with_and_without_pkce,
    login_private_key_jwt_every_alg_with_and_without_pkce,
    identity_phonenumber_scope_with_json_userinfo,
    signed_userinfo_every_alg,
    claims_parameter_is_honoured,
    loa3_and_max_age_are_requested_and_verified,
    pcr_login_hint_finds_the_same_subscriber,
    key_rotation_is_absorbed_by_one_jwks_refetch,
    declined_login_is_access_denied,
    replayed_code_is_invalid_grant,
    private_key_jwt_retry_in_the_same_second_repeats_the_assertion,
    wrong_client_secret_is_invalid_client,
    raw_basic_credentials_are_refused_by_an_rfc6749_peer,
    unknown_client_assertion_key_is_invalid_client,
    unregistered_redirect_uri_is_refused_by_the_peer,
    no_login_hint_waits_for_a_person,
    id_token_without_at_hash_fails_only_the_mc_di_profile,
    plain_profile_identity_login_without_acr_values_or_version,
    mc_profile_login_sends_acr_values_and_version_and_stays_strict,
    ciba_poll_login_client_secret_basic,
    ciba_poll_login_private_key_jwt,
    ciba_ping_login_then_one_poll,
    ciba_polling_faster_than_the_interval_is_slow_down,
    ciba_private_key_jwt_polls_in_one_second_carry_distinct_assertions,
    ciba_expiry_ends_the_login,
    ciba_declined_is_access_denied,
    ciba_unknown_login_hint_is_unknown_user_id,
    offline_access_with_consent_gets_a_rotating_refresh_token,
    revoked_refresh_token_is_invalid_grant,
    revoked_access_token_fails_at_userinfo,
    refreshed_id_token_is_held_to_the_first,
);

fn hint(msisdn: &str) -> AuthorizeOptions {
    AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(msisdn)))
}

fn core(failure: Failure) -> Error {
    match failure {
        Failure::Core(e) => e,
        other => panic!("expected a core error, got {other:?}"),
    }
}

fn metadata_is_read_from_the_issuer<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Basic, Algorithm::RS256);
    let op = peer.operator_for(d, client).unwrap();
    assert_eq!(op.issuer(), peer.issuer());
    // No Mobile Connect members in the document: the plain OpenID Connect profile.
    assert_eq!(op.profile(), Profile::OpenIdConnect);
    let endpoints = op.endpoints();
    assert_eq!(endpoints.token.as_str(), format!("{}/token", peer.issuer()));
    assert_eq!(
        endpoints.jwks.as_ref().map(url::Url::as_str),
        Some(format!("{}/jwks", peer.issuer()).as_str())
    );
    let metadata = op.metadata().unwrap();
    assert_eq!(metadata.acr_values_supported, ["2", "3"]);
    assert_eq!(metadata.claims_parameter_supported, Some(true));
    assert_eq!(
        metadata.authorization_response_iss_parameter_supported,
        Some(true)
    );
    assert_eq!(metadata.code_challenge_methods_supported, ["S256"]);
    assert_eq!(metadata.login_hint_methods_supported, ["MSISDN", "PCR"]);
    for scope in ["mc_authn", "mc_identity_phonenumber"] {
        assert!(metadata.scopes_supported.iter().any(|s| s == scope));
    }
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ] {
        assert!(
            metadata
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|m| m == method)
        );
    }
}

/// Every id_token signing algorithm, with and without PKCE, through one authentication method;
/// then JSON userinfo.
fn login_every_alg<D: Driver>(d: &D, peer: &Peer, auth: AuthMethod) {
    for alg in ALGORITHMS {
        let client = PeerClient::new(auth, alg);
        let op = peer.operator_for(d, client).unwrap();
        for pkce in [true, false] {
            let options = if pkce {
                hint(APPROVING_MSISDN)
            } else {
                hint(APPROVING_MSISDN).without_pkce()
            };
            let tokens = login(d, &op, options)
                .unwrap_or_else(|e| panic!("{} pkce={pkce}: {e:?}", client.id()));
            let id_token = tokens.id_token();
            assert_eq!(id_token.alg(), alg, "{}", client.id());
            let expected_kid = format!("op-1-{}", format!("{alg:?}").to_ascii_lowercase());
            assert_eq!(id_token.kid(), Some(expected_kid.as_str()));
            assert_eq!(id_token.acr(), Some("2"));
            assert_eq!(id_token.amr(), ["SIM_OK"]);
            assert!(
                id_token.claims().at_hash.is_some(),
                "at_hash checked by value"
            );
            assert!(tokens.sub().starts_with("pcr-"));
            assert!(
                tokens.refresh_token().is_some(),
                "the peer issues refresh tokens"
            );
            let sub = tokens.sub().to_owned();
            let info = userinfo(d, &op, &tokens).unwrap();
            assert!(!info.was_signed());
            assert_eq!(info.sub(), sub);
            // openid mc_authn grants no phone number.
            assert_eq!(info.phone_number(), None);
        }
    }
}

fn login_client_secret_basic_every_alg_with_and_without_pkce<D: Driver>(d: &D, peer: &Peer) {
    login_every_alg(d, peer, AuthMethod::Basic);
}

fn login_client_secret_post_every_alg_with_and_without_pkce<D: Driver>(d: &D, peer: &Peer) {
    login_every_alg(d, peer, AuthMethod::Post);
}

fn login_private_key_jwt_every_alg_with_and_without_pkce<D: Driver>(d: &D, peer: &Peer) {
    login_every_alg(d, peer, AuthMethod::PrivateKeyJwt);
}

fn identity_phonenumber_scope_with_json_userinfo<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Post, Algorithm::ES256);
    let op = peer.operator_for(d, client).unwrap();
    // The plain profile: no version is sent, and the peer's at_hash is checked by value.
    let options = hint(APPROVING_MSISDN).scope(["mc_authn", "mc_identity_phonenumber"]);
    let tokens = login(d, &op, options).unwrap();
    assert_eq!(tokens.id_token().amr(), ["SIM_OK"]);
    // The peer keeps scope claims out of a code-flow id_token (they come from userinfo).
    assert_eq!(tokens.id_token().claim("phone_number"), None);
    let info = userinfo(d, &op, &tokens).unwrap();
    assert!(!info.was_signed());
    assert_eq!(
        info.phone_number(),
        Some(format!("+{APPROVING_MSISDN}").as_str())
    );
    assert_eq!(info.claim("phone_number_verified"), Some(&json!(true)));
}

fn signed_userinfo_every_alg<D: Driver>(d: &D, peer: &Peer) {
    for alg in ALGORITHMS {
        let client = PeerClient::signed_userinfo(alg);
        let op = peer.operator_for(d, client).unwrap();
        let options = hint(APPROVING_MSISDN).scope(["mc_authn", "mc_identity_phonenumber"]);
        let tokens = login(d, &op, options).unwrap();
        let sub = tokens.sub().to_owned();
        let info = userinfo(d, &op, &tokens).unwrap();
        assert!(info.was_signed(), "{}", client.id());
        assert_eq!(info.sub(), sub);
        assert_eq!(
            info.phone_number(),
            Some(format!("+{APPROVING_MSISDN}").as_str())
        );
        // The signed body carries iss and aud, which mc-core checked.
        assert_eq!(info.claim_str("iss"), Some(peer.issuer()));
        assert_eq!(info.claim_str("aud"), Some(client.id().as_str()));
    }
}

fn claims_parameter_is_honoured<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Basic, Algorithm::PS256);
    let op = peer.operator_for(d, client).unwrap();
    // No phone number scope: the claims arrive only because the claims parameter asks for them.
    let options = hint(APPROVING_MSISDN).claims(json!({
        "id_token": { "phone_number": null },
        "userinfo": { "phone_number_verified": { "essential": true } }
    }));
    let tokens = login(d, &op, options).unwrap();
    assert_eq!(
        tokens.id_token().claim("phone_number"),
        Some(json!(format!("+{APPROVING_MSISDN}")))
    );
    let info = userinfo(d, &op, &tokens).unwrap();
    assert_eq!(info.claim("phone_number_verified"), Some(&json!(true)));
    assert_eq!(info.phone_number(), None);
}

fn loa3_and_max_age_are_requested_and_verified<D: Driver>(d: &D, peer: &Peer) {
    for alg in ALGORITHMS {
        let client = PeerClient::new(AuthMethod::Basic, alg);
        let op = peer.operator_for(d, client).unwrap();
        let options = hint(APPROVING_MSISDN).acr_values([3]).max_age(300);
        let tokens = login(d, &op, options).unwrap();
        assert_eq!(tokens.id_token().acr(), Some("3"));
        assert_eq!(tokens.id_token().amr(), ["SIM_PIN"]);
        // max_age makes auth_time required; mc-core checked it against max_age.
        assert!(tokens.id_token().claims().auth_time.is_some());
    }
}

fn pcr_login_hint_finds_the_same_subscriber<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Post, Algorithm::RS256);
    let op = peer.operator_for(d, client).unwrap();
    let first = login(d, &op, hint(APPROVING_MSISDN)).unwrap();
    let pcr = first.sub().to_owned();
    let again = login(
        d,
        &op,
        AuthorizeOptions::new().login_hint(LoginHint::Pcr(pcr.clone())),
    )
    .unwrap();
    assert_eq!(again.sub(), pcr);
}

fn key_rotation_is_absorbed_by_one_jwks_refetch<D: Driver>(d: &D, peer: &Peer) {
    // The provider rotates seconds after the first fetch: no refetch spacing for these
    // contexts (the default refuses a new kid for 60 s after the last stored key set).
    let mut policy = mc_core::Policy::default();
    policy.jwks_min_refetch_secs = 0;
    let ops: Vec<_> = ALGORITHMS
        .iter()
        .map(|alg| {
            peer.config_for(d, PeerClient::new(AuthMethod::Basic, *alg))
                .unwrap()
                .policy(policy.clone())
                .build()
                .unwrap()
        })
        .collect();
    let mut first_kids = Vec::new();
    for op in &ops {
        let tokens = login(d, op, hint(APPROVING_MSISDN)).unwrap();
        first_kids.push(tokens.id_token().kid().unwrap().to_owned());
    }
    assert_eq!(first_kids, ["op-1-rs256", "op-1-ps256", "op-1-es256"]);
    let new_kids = peer.rotate_keys();
    assert_eq!(new_kids, ["op-2-rs256", "op-2-ps256", "op-2-es256"]);
    for (op, alg) in ops.iter().zip(ALGORITHMS) {
        let before = peer.request_count("/jwks");
        let second = login(d, op, hint(APPROVING_MSISDN)).unwrap();
        let kid = format!("op-2-{}", format!("{alg:?}").to_ascii_lowercase());
        assert_eq!(second.id_token().kid(), Some(kid.as_str()));
        assert_eq!(
            peer.request_count("/jwks"),
            before + 1,
            "one refetch for {kid}"
        );
        // The new key serves the next login without a fetch.
        let third = login(d, op, hint(APPROVING_MSISDN)).unwrap();
        assert_eq!(third.id_token().kid(), Some(kid.as_str()));
        assert_eq!(peer.request_count("/jwks"), before + 1);
    }
}

fn declined_login_is_access_denied<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Basic, Algorithm::RS256);
    let op = peer.operator_for(d, client).unwrap();
    let err = core(login(d, &op, hint(DECLINING_MSISDN)).unwrap_err());
    assert!(matches!(err, Error::Refused(_)), "{err:?}");
    let refusal = err.operator_error().unwrap();
    assert!(refusal.is("access_denied"));
    assert_eq!(refusal.endpoint, Endpoint::Authorization);
    assert_eq!(refusal.status, None);
    assert_eq!(
        refusal.description.as_deref(),
        Some("The user declined on the handset")
    );
}

fn replayed_code_is_invalid_grant<D: Driver>(d: &D, peer: &Peer) {
    for auth in AuthMethod::ALL {
        let client = PeerClient::new(auth, Algorithm::RS256);
        let op = peer.operator_for(d, client).unwrap();
        let code = authorize(d, &op, hint(APPROVING_MSISDN)).unwrap();
        let replay = code.clone();
        // The first exchange dated a second earlier, so that a private_key_jwt replay carries
        // a fresh assertion (its jti derives from code and time) and meets the code check.
        let now = d.now();
        let tokens = d
            .execute(code.token_exchange(&op, now.minus(1)).unwrap())
            .unwrap();
        let err = core(
            d.execute(replay.token_exchange(&op, now).unwrap())
                .unwrap_err(),
        );
        let refusal = err.operator_error().unwrap_or_else(|| panic!("{err:?}"));
        assert!(refusal.is("invalid_grant"), "{auth:?}: {refusal:?}");
        assert_eq!(refusal.endpoint, Endpoint::Token);
        assert_eq!(refusal.status, Some(400));
        // RFC 6749 4.1.2: the peer also revoked what the code gave; userinfo says so in
        // WWW-Authenticate.
        let err = core(userinfo(d, &op, &tokens).unwrap_err());
        let refusal = err.operator_error().unwrap_or_else(|| panic!("{err:?}"));
        assert!(refusal.is("invalid_token"), "{auth:?}: {refusal:?}");
        assert_eq!(refusal.endpoint, Endpoint::UserInfo);
        assert_eq!(refusal.status, Some(401));
    }
}

/// mc-core derives a client assertion's `jti` from client_id, code and `now` (in seconds) so
/// that it needs no randomness: a token request retried within the same second repeats the
/// assertion, and a peer that enforces single-use assertions (RFC 7523 3, item 7) refuses it
/// as a client authentication failure before it looks at the code.
fn private_key_jwt_retry_in_the_same_second_repeats_the_assertion<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::PrivateKeyJwt, Algorithm::ES256);
    let op = peer.operator_for(d, client).unwrap();
    let code = authorize(d, &op, hint(APPROVING_MSISDN)).unwrap();
    let retry = code.clone();
    let now = d.now();
    let first = code.token_exchange(&op, now).unwrap();
    let second = retry.token_exchange(&op, now).unwrap();
    let body = |e: &mc_core::TokenExchange| {
        use mc_core::Exchange as _;
        e.request().into_body()
    };
    assert_eq!(body(&first), body(&second), "byte-identical requests");
    // The first finishes, JWKS fetch included, while the second is pending.
    let _: Tokens = d.execute(first).unwrap();
    let err = core(d.execute(second).unwrap_err());
    let refusal = err.operator_error().unwrap_or_else(|| panic!("{err:?}"));
    assert!(refusal.is("invalid_client"), "{refusal:?}");
    assert_eq!(refusal.status, Some(401));
}

fn wrong_client_secret_is_invalid_client<D: Driver>(d: &D, peer: &Peer) {
    for (auth, method) in [
        (AuthMethod::Basic, ClientAuth::SecretBasic),
        (AuthMethod::Post, ClientAuth::SecretPost),
    ] {
        let id = PeerClient::new(auth, Algorithm::RS256).id();
        // The registered secret with one character more.
        let wrong = format!("{}!", client_secret(&id).expose_secret());
        let op = peer
            .operator(d, &id, ClientSecret::new(wrong), method)
            .unwrap();
        let err = core(login(d, &op, hint(APPROVING_MSISDN)).unwrap_err());
        let refusal = err.operator_error().unwrap_or_else(|| panic!("{err:?}"));
        assert!(refusal.is("invalid_client"), "{auth:?}: {refusal:?}");
        assert_eq!(refusal.endpoint, Endpoint::Token);
        assert_eq!(refusal.status, Some(401));
    }
}

/// RFC 6749 2.3.1 form-urlencodes client_id and secret inside HTTP Basic, and so does mc-core
/// by default; the peer decodes them. The raw form (what the GSMA SDKs sent) breaks on a
/// secret with `%`, `+` or `:`: this peer refuses it outright.
fn raw_basic_credentials_are_refused_by_an_rfc6749_peer<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Basic, Algorithm::RS256);
    let config = peer.config_for(d, client).unwrap();
    let mut policy = mc_core::Policy::default();
    policy.basic_auth = BasicAuthEncoding::Raw;
    let op = config.policy(policy).build().unwrap();
    let err = core(login(d, &op, hint(APPROVING_MSISDN)).unwrap_err());
    let refusal = err.operator_error().unwrap_or_else(|| panic!("{err:?}"));
    assert!(refusal.is("invalid_request"), "{refusal:?}");
    assert_eq!(refusal.status, Some(400));
    assert_eq!(
        refusal.description.as_deref(),
        Some("client_id and client_secret in the authorization header are not properly encoded")
    );
}

fn unknown_client_assertion_key_is_invalid_client<D: Driver>(d: &D, peer: &Peer) {
    let id = PeerClient::new(AuthMethod::PrivateKeyJwt, Algorithm::RS256).id();
    let op = peer
        .config(
            d,
            &id,
            ClientSecret::new("unused"),
            ClientAuth::PrivateKeyJwt,
        )
        .unwrap()
        .signing_key(other_key())
        .build()
        .unwrap();
    let err = core(login(d, &op, hint(APPROVING_MSISDN)).unwrap_err());
    let refusal = err.operator_error().unwrap_or_else(|| panic!("{err:?}"));
    assert!(refusal.is("invalid_client"), "{refusal:?}");
    assert_eq!(refusal.status, Some(401));
}

fn unregistered_redirect_uri_is_refused_by_the_peer<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Basic, Algorithm::RS256);
    let op = peer.operator_for(d, client).unwrap();
    let options = hint(APPROVING_MSISDN).redirect_uri("https://sp.example/not-registered");
    let (redirect, _flow) = op
        .authorize(options.clone(), &mut mc_tests::driver::entropy(), d.now())
        .unwrap();
    // The peer must not redirect to an unregistered URI (RFC 6749 4.1.2.1): it shows the
    // user an error page, so the SP never gets a callback.
    let mut browser = Browser::new();
    match browser.visit(d, redirect.as_str()).unwrap() {
        Landing::Page { status, url, body } => {
            assert_eq!(status, 400, "{body}");
            assert_eq!(url.path(), "/auth");
            assert!(body.contains("redirect_uri"), "{body}");
        }
        Landing::Redirected(url) => panic!("the peer redirected to {url}"),
    }
    // Through the login helper that is a browser failure, not a core error.
    let err = authorize(d, &op, options).unwrap_err();
    assert!(
        matches!(&err, Failure::Browser(m) if m.starts_with("stopped at HTTP 400 /auth")),
        "{err:?}"
    );
}

fn no_login_hint_waits_for_a_person<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Basic, Algorithm::RS256);
    let op = peer.operator_for(d, client).unwrap();
    let (redirect, _flow) = op
        .authorize(
            AuthorizeOptions::new(),
            &mut mc_tests::driver::entropy(),
            d.now(),
        )
        .unwrap();
    let mut browser = Browser::new();
    match browser.visit(d, redirect.as_str()).unwrap() {
        Landing::Page { status, url, .. } => {
            assert_eq!(status, 200);
            assert!(url.path().starts_with("/interaction/"), "{url}");
        }
        Landing::Redirected(url) => panic!("the peer redirected to {url}"),
    }
    assert_eq!(browser.hops().first().map(String::as_str), Some("/auth"));
}

/// The Mobile Connect profile, chosen explicitly for this peer (its metadata alone makes a
/// plain OpenID Connect context): its identity (DI) versions require `at_hash`, which the
/// `sp-plain-oidc` client's id_tokens lack, so that login is refused; the plain profile checks
/// `at_hash` only when present and accepts the same login.
fn id_token_without_at_hash_fails_only_the_mc_di_profile<D: Driver>(d: &D, peer: &Peer) {
    let config = peer
        .config(
            d,
            PLAIN_OIDC_CLIENT,
            client_secret(PLAIN_OIDC_CLIENT),
            ClientAuth::SecretBasic,
        )
        .unwrap();
    let op = config
        .clone()
        .profile(Profile::MobileConnect)
        .build()
        .unwrap();
    // mc_authn alone (mc_v1.1): at_hash is optional, as in OIDC Core for the code flow.
    let tokens = login(d, &op, hint(APPROVING_MSISDN)).unwrap();
    assert!(tokens.id_token().claims().at_hash.is_none());
    // mc_identity_phonenumber selects mc_di_r2_v2.3, whose id_tokens must carry at_hash.
    let identity = || hint(APPROVING_MSISDN).scope(["mc_authn", "mc_identity_phonenumber"]);
    let err = core(login(d, &op, identity()).unwrap_err());
    assert!(
        matches!(err, Error::IdToken(IdTokenError::AtHashMissing)),
        "{err:?}"
    );
    // Forcing the older version is the host's way to log in at such an operator under the
    // Mobile Connect profile.
    let tokens = login(d, &op, identity().version("mc_v1.1")).unwrap();
    let info = userinfo(d, &op, &tokens).unwrap();
    assert_eq!(
        info.phone_number(),
        Some(format!("+{APPROVING_MSISDN}").as_str())
    );
    // The plain profile (this peer's default) takes the same login as it is.
    let plain = config.build().unwrap();
    assert_eq!(plain.profile(), Profile::OpenIdConnect);
    let tokens = login(d, &plain, identity()).unwrap();
    assert!(tokens.id_token().claims().at_hash.is_none());
}

/// The authorization request's parameters, by name (each once).
fn request_params(redirect: &mc_core::AuthorizationRedirect) -> Vec<(String, String)> {
    redirect
        .url()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A plain OpenID Connect login (the profile the peer's metadata implies: no Mobile Connect
/// members) with an identity scope, no level of assurance asked and no version forced: the
/// authorization request carries neither `acr_values` nor `version`, the login's state asks for
/// no `acr`, the id_token needs no `at_hash` (`sp-plain-oidc` sends none), and userinfo answers
/// the identity claims.
fn plain_profile_identity_login_without_acr_values_or_version<D: Driver>(d: &D, peer: &Peer) {
    let rs256 = PeerClient::new(AuthMethod::Basic, Algorithm::RS256).id();
    for client_id in [rs256.as_str(), PLAIN_OIDC_CLIENT] {
        let op = peer
            .operator(
                d,
                client_id,
                client_secret(client_id),
                ClientAuth::SecretBasic,
            )
            .unwrap();
        assert_eq!(op.profile(), Profile::OpenIdConnect);
        let options = hint(APPROVING_MSISDN).scope(["mc_identity_phonenumber"]);
        let (redirect, flow) = op.authorize(options, &mut entropy(), d.now()).unwrap();
        let params = request_params(&redirect);
        assert_eq!(
            param(&params, "acr_values"),
            None,
            "{client_id}: {params:?}"
        );
        assert_eq!(param(&params, "version"), None, "{client_id}: {params:?}");
        assert_eq!(
            param(&params, "scope"),
            Some("openid mc_identity_phonenumber")
        );
        assert_eq!(flow.version(), None);
        // The per-login state asks for no level, so the id_token's `acr` is not judged (this
        // peer sends one anyway: its handset always reports LoA 2).
        let stored = serde_json::to_value(&flow).unwrap();
        assert_eq!(stored.get("min_acr"), None, "{client_id}");
        let code = follow(d, &op, &redirect, flow).unwrap();
        let tokens = d
            .execute(code.token_exchange(&op, d.now()).unwrap())
            .unwrap_or_else(|e| panic!("{client_id}: {e:?}"));
        assert!(tokens.sub().starts_with("pcr-"));
        assert_eq!(
            tokens.id_token().claims().at_hash.is_some(),
            client_id != PLAIN_OIDC_CLIENT,
            "{client_id}"
        );
        let info = userinfo(d, &op, &tokens).unwrap();
        assert_eq!(
            info.phone_number(),
            Some(format!("+{APPROVING_MSISDN}").as_str())
        );
        assert_eq!(info.claim("phone_number_verified"), Some(&json!(true)));
    }
}

/// The same peer under an explicit Mobile Connect profile is still strict: the request asks for
/// LoA 2 (`acr_values=2`) and sends the Mobile Connect `version`, the login remembers both, the
/// id_token's `acr` is verified against LoA 2, and a login that asks for no level at all is
/// refused before the browser is sent away. (This peer always issues an `acr` at least as high
/// as asked, so an id_token with a missing or lower `acr` cannot be produced here; the sandbox
/// tests refuse those, e.g. `approve_at_loa2_when_loa3_was_required_is_acr_too_low`. The
/// refusal this peer can show is `id_token_without_at_hash_fails_only_the_mc_di_profile`.)
fn mc_profile_login_sends_acr_values_and_version_and_stays_strict<D: Driver>(d: &D, peer: &Peer) {
    let client = PeerClient::new(AuthMethod::Basic, Algorithm::RS256);
    let op = peer
        .operator_with_profile(d, client, Profile::MobileConnect)
        .unwrap();
    assert_eq!(op.profile(), Profile::MobileConnect);
    for (scope, version) in [
        (vec!["mc_authn"], "mc_v1.1"),
        (vec!["mc_authn", "mc_identity_phonenumber"], "mc_di_r2_v2.3"),
    ] {
        let options = hint(APPROVING_MSISDN).scope(scope);
        let (redirect, flow) = op.authorize(options, &mut entropy(), d.now()).unwrap();
        let params = request_params(&redirect);
        assert_eq!(param(&params, "acr_values"), Some("2"), "{params:?}");
        assert_eq!(param(&params, "version"), Some(version), "{params:?}");
        assert_eq!(flow.version(), Some(version));
        let stored = serde_json::to_value(&flow).unwrap();
        assert_eq!(stored.get("min_acr"), Some(&json!(2)));
        let code = follow(d, &op, &redirect, flow).unwrap();
        let tokens = d
            .execute(code.token_exchange(&op, d.now()).unwrap())
            .unwrap();
        assert_eq!(tokens.id_token().acr(), Some("2"));
        assert_eq!(tokens.id_token().amr(), ["SIM_OK"]);
        // The identity version's at_hash was required, and checked by value.
        assert!(tokens.id_token().claims().at_hash.is_some());
    }
    // No level of assurance at all is not a Mobile Connect login.
    let err = op
        .authorize(
            hint(APPROVING_MSISDN).acr_values([]),
            &mut entropy(),
            d.now(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Misuse(mc_core::MisuseError::InvalidParameter {
                name: "acr_values",
                ..
            })
        ),
        "{err:?}"
    );
}

// OpenID CIBA (provider.mjs: features.ciba, a handset answering from the login hint).

/// The peer's client that gets refresh tokens by oidc-provider's stock rule only
/// (`offline_access` asked with `prompt=consent`); `client_secret_basic`, RS256.
const REFRESH_CLIENT: &str = "sp-refresh";

/// The issuer the peer's `sp-refresh-new-iss` switch writes into a refreshed id_token.
const IMPOSTOR_ISSUER: &str = "https://impostor.example";

/// The operator context for one of the peer's refresh clients (`sp-refresh*`).
fn refresh_operator<D: Driver>(d: &D, peer: &Peer, client_id: &str) -> Discovered {
    peer.operator(
        d,
        client_id,
        client_secret(client_id),
        ClientAuth::SecretBasic,
    )
    .unwrap()
}

/// A login that asks for a refresh token the way OpenID Connect Core 11 says.
fn offline(msisdn: &str) -> AuthorizeOptions {
    hint(msisdn).scope(["offline_access"]).prompt("consent")
}

fn refresh<D: Driver>(d: &D, op: &Discovered, tokens: &Tokens) -> Result<Tokens, Failure> {
    d.execute(tokens.refresh(op, d.now())?)
}

fn revoke<D: Driver>(d: &D, op: &Discovered, tokens: &Tokens, which: TokenKind) {
    d.execute(tokens.revoke(op, which, d.now()).unwrap())
        .unwrap_or_else(|e| panic!("revoke {which:?}: {e:?}"));
}

/// The typed refusal `code` from `endpoint`, with its HTTP status.
fn assert_refused(failure: Failure, code: &str, endpoint: Endpoint, status: u16) {
    let refusal = refusal(failure);
    assert!(refusal.is(code), "{refusal:?}");
    assert_eq!(refusal.endpoint, endpoint);
    assert_eq!(refusal.status, Some(status));
}

/// oidc-provider issues a refresh token to this client only for `offline_access` with
/// `prompt=consent`; a refresh gives new tokens, a new id_token about the same login and a
/// rotated refresh token; the spent one is `invalid_grant`, and its reuse revokes the grant
/// (the peer's reuse detection), so the rotated one is refused too.
fn offline_access_with_consent_gets_a_rotating_refresh_token<D: Driver>(d: &D, peer: &Peer) {
    let op = refresh_operator(d, peer, REFRESH_CLIENT);
    let online = login(d, &op, hint(APPROVING_MSISDN)).unwrap();
    assert!(online.refresh_token().is_none(), "no offline_access asked");
    let tokens = login(d, &op, offline(APPROVING_MSISDN)).unwrap();
    let first = tokens.refresh_token().expect("offline_access with consent");
    let refreshed = refresh(d, &op, &tokens).unwrap();
    assert_ne!(
        refreshed.access_token().expose_secret(),
        tokens.access_token().expose_secret()
    );
    let second = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(second.expose_secret(), first.expose_secret());
    assert_eq!(refreshed.sub(), tokens.sub());
    assert_eq!(
        refreshed.id_token().claims().iss.as_deref(),
        Some(peer.issuer())
    );
    assert_ne!(
        refreshed.id_token().jwt().expose_secret(),
        tokens.id_token().jwt().expose_secret()
    );
    assert_eq!(userinfo(d, &op, &refreshed).unwrap().sub(), tokens.sub());
    assert_refused(
        refresh(d, &op, &tokens).unwrap_err(),
        "invalid_grant",
        Endpoint::Refresh,
        400,
    );
    assert_refused(
        refresh(d, &op, &refreshed).unwrap_err(),
        "invalid_grant",
        Endpoint::Refresh,
        400,
    );
}

/// The peer's metadata names its revocation endpoint, which `with_metadata` takes; a revoked
/// refresh token is `invalid_grant` (and the peer revoked its grant's access token with it,
/// as RFC 7009 2.1 allows); revoking it again is success (RFC 7009 2.2).
fn revoked_refresh_token_is_invalid_grant<D: Driver>(d: &D, peer: &Peer) {
    let op = refresh_operator(d, peer, REFRESH_CLIENT);
    assert_eq!(
        op.endpoints().revocation.as_ref().map(url::Url::as_str),
        Some(format!("{}/token/revocation", peer.issuer()).as_str())
    );
    let tokens = login(d, &op, offline(APPROVING_MSISDN)).unwrap();
    revoke(d, &op, &tokens, TokenKind::Refresh);
    assert_refused(
        refresh(d, &op, &tokens).unwrap_err(),
        "invalid_grant",
        Endpoint::Refresh,
        400,
    );
    assert_refused(
        userinfo(d, &op, &tokens).unwrap_err(),
        "invalid_token",
        Endpoint::UserInfo,
        401,
    );
    revoke(d, &op, &tokens, TokenKind::Refresh);
}

/// A revoked access token is refused at userinfo (`invalid_token`); revoking it again is
/// success. The peer revokes every token of the grant with it (RFC 7009 2.1 allows that for
/// the refresh token), so a refresh is `invalid_grant` too.
fn revoked_access_token_fails_at_userinfo<D: Driver>(d: &D, peer: &Peer) {
    let op = refresh_operator(d, peer, REFRESH_CLIENT);
    let tokens = login(d, &op, offline(APPROVING_MSISDN)).unwrap();
    assert_eq!(userinfo(d, &op, &tokens).unwrap().sub(), tokens.sub());
    revoke(d, &op, &tokens, TokenKind::Access);
    assert_refused(
        userinfo(d, &op, &tokens).unwrap_err(),
        "invalid_token",
        Endpoint::UserInfo,
        401,
    );
    revoke(d, &op, &tokens, TokenKind::Access);
    assert_refused(
        refresh(d, &op, &tokens).unwrap_err(),
        "invalid_grant",
        Endpoint::Refresh,
        400,
    );
}

/// Whether an id_token error is the one a case expects.
type IsExpected = fn(&IdTokenError) -> bool;

/// The peer's misbehaviour switches (per client, `provider.mjs`): the refreshed id_token is
/// edited and signed again with the genuine key, so only the comparison with the first
/// (OpenID Connect Core 12.2) catches it. After the refusal nothing more was requested (no key
/// refetch, no userinfo).
fn refreshed_id_token_is_held_to_the_first<D: Driver>(d: &D, peer: &Peer) {
    let cases: [(&str, &str, IsExpected); 2] = [
        ("another sub", "sp-refresh-new-sub", |e| {
            matches!(e, IdTokenError::SubjectChanged)
        }),
        (
            "another iss",
            "sp-refresh-new-iss",
            |e| matches!(e, IdTokenError::IssuerMismatch { found, .. } if found == IMPOSTOR_ISSUER),
        ),
    ];
    for (case, client_id, expected) in cases {
        let op = refresh_operator(d, peer, client_id);
        let tokens = login(d, &op, offline(APPROVING_MSISDN)).unwrap();
        // The login's id_token is genuine: the switch edits refreshes only.
        assert!(tokens.sub().starts_with("pcr-"), "{case}");
        assert_eq!(
            tokens.id_token().claims().iss.as_deref(),
            Some(peer.issuer()),
            "{case}"
        );
        let paths = ["/token", "/jwks", "/me"];
        let before = paths.map(|p| peer.request_count(p));
        match core(refresh(d, &op, &tokens).unwrap_err()) {
            Error::IdToken(e) if expected(&e) => {}
            other => panic!("{case}: {other:?}"),
        }
        let after = paths.map(|p| peer.request_count(p));
        assert_eq!(after, [before[0] + 1, before[1], before[2]], "{case}");
    }
}

fn phone(msisdn: &str) -> CibaRequest {
    CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn)))
}

fn ciba_start<D: Driver>(
    d: &D,
    op: &Discovered,
    request: CibaRequest,
) -> Result<BackchannelPending, Failure> {
    d.execute(op.ciba_authorize(request, &mut entropy(), d.now())?)
}

/// The operator's refusal of a failure, or a panic naming what came instead.
fn refusal(failure: Failure) -> mc_core::OperatorError {
    match core(failure) {
        Error::Refused(refusal) => refusal,
        other => panic!("expected the operator's refusal, got {other:?}"),
    }
}

/// Sleep until the driver's clock (whole seconds) reads `at`.
fn sleep_until<D: Driver>(d: &D, at: mc_core::UnixTime) {
    let secs = at.as_secs().saturating_sub(d.now().as_secs());
    std::thread::sleep(Duration::from_secs(secs));
}

/// The peer's metadata names its CIBA endpoint and both delivery modes; a poll-mode login with
/// a `tel:+` hint, a binding message and (second round) LoA 3 ends in tokens through the
/// adapter's poll loop, after at least one `authorization_pending` (the handset answers
/// [`CIBA_ANSWER_DELAY`] later) and without a `slow_down`; a poll before `next_poll_at` is
/// refused by the core without a request.
fn ciba_poll_login<D: BackchannelDriver>(d: &D, peer: &Peer, client: CibaClient) {
    let op = peer.ciba_operator(d, client).unwrap();
    assert_eq!(
        op.endpoints()
            .backchannel_authentication
            .as_ref()
            .map(url::Url::as_str),
        Some(format!("{}/backchannel", peer.issuer()).as_str())
    );
    let metadata = op.metadata().unwrap();
    assert_eq!(
        metadata.backchannel_token_delivery_modes_supported,
        ["poll", "ping"]
    );
    for (levels, acr, amr) in [(None, "2", "SIM_OK"), (Some(3), "3", "SIM_PIN")] {
        let mut request = phone(APPROVING_MSISDN).binding_message("4G7K");
        if let Some(level) = levels {
            request = request.acr_values([level]);
        }
        let polls_before = peer.request_count("/token");
        let pending = ciba_start(d, &op, request).unwrap();
        assert_eq!(pending.mode(), BackchannelMode::CibaPoll);
        assert_eq!(pending.interval_secs(), CIBA_POLL_INTERVAL_SECS);
        assert_eq!(pending.min_acr(), levels);
        // The answer's own second: too early, refused without a request.
        let answered = pending.next_poll_at().minus(CIBA_POLL_INTERVAL_SECS);
        let err = pending.poll(&op, &mut entropy(), answered).unwrap_err();
        assert!(
            matches!(err, Error::Misuse(MisuseError::PollTooEarly { next_poll_at, now })
                if next_poll_at == pending.next_poll_at().as_secs() && now == answered.as_secs()),
            "{err:?}"
        );
        assert_eq!(peer.request_count("/token"), polls_before);

        let tokens = d
            .poll_for_tokens(&op, pending)
            .unwrap_or_else(|e| panic!("{}: {e:?}", client.id()));
        let polls = peer.request_count("/token") - polls_before;
        assert!(
            polls >= 2,
            "at least one authorization_pending first: {polls}"
        );
        assert_eq!(peer.request_count("slow_down"), 0, "paced as the peer asks");
        let id_token = tokens.id_token();
        assert_eq!(id_token.alg(), client.alg());
        assert_eq!(id_token.acr(), Some(acr));
        assert_eq!(id_token.amr(), [amr]);
        assert!(id_token.claims().at_hash.is_some(), "checked by value");
        assert!(tokens.sub().starts_with("pcr-"));
        assert!(tokens.refresh_token().is_some());
        let info = userinfo(d, &op, &tokens).unwrap();
        assert_eq!(info.sub(), tokens.sub());
    }
}

fn ciba_poll_login_client_secret_basic<D: BackchannelDriver>(d: &D, peer: &Peer) {
    ciba_poll_login(d, peer, CibaClient::PollBasic);
}

/// `private_key_jwt` at both endpoints: the assertion for `/backchannel` is addressed to the
/// issuer, the polls' to the token endpoint; the peer knows the key from the JWKS mc-core
/// publishes (`keys/sp-jwks.json`, see `sp_jwks_file_is_what_mc_core_publishes`).
fn ciba_poll_login_private_key_jwt<D: BackchannelDriver>(d: &D, peer: &Peer) {
    ciba_poll_login(d, peer, CibaClient::PollPrivateKeyJwt);
}

/// Ping mode, both authentication methods: the peer's answer names no interval (CIBA's 5 s
/// apply), nothing is polled until the peer's ping reaches the SP's receiver, which the core
/// accepts (bearer token, `auth_req_id`) and answers 204; then one poll gives the tokens.
fn ciba_ping_login_then_one_poll<D: Driver>(d: &D, peer: &Peer) {
    for client in [CibaClient::PingBasic, CibaClient::PingPrivateKeyJwt] {
        let op = peer.ciba_operator(d, client).unwrap();
        let receiver = PingReceiver::start(op.clone()).unwrap();
        peer.set_sp_origin(&receiver.origin());
        let polls_before = peer.request_count("/token");
        let pending = ciba_start(d, &op, phone(APPROVING_MSISDN).ping()).unwrap();
        assert_eq!(pending.mode(), BackchannelMode::CibaPing);
        assert_eq!(pending.interval_secs(), CIBA_DEFAULT_INTERVAL_SECS);
        receiver.expect(&pending);

        let pinged = receiver
            .next(CIBA_ANSWER_DELAY + Duration::from_secs(5))
            .expect("the peer pings");
        assert_eq!(pinged.request.method, "POST");
        assert_eq!(pinged.request.path(), CIBA_NOTIFY_PATH);
        assert!(
            matches!(pinged.result, Ok(Notified::Ping)),
            "{:?}",
            pinged.result
        );
        assert_eq!(pinged.status, 204);
        assert_eq!(peer.request_count("/token"), polls_before, "no poll before");

        let Poll::Tokens(tokens) = d
            .execute(pending.poll(&op, &mut entropy(), d.now()).unwrap())
            .unwrap()
        else {
            panic!("{}: still pending after the ping", client.id());
        };
        assert_eq!(peer.request_count("/token"), polls_before + 1);
        assert_eq!(tokens.id_token().alg(), client.alg());
        assert_eq!(tokens.id_token().acr(), Some("2"));
        assert!(tokens.sub().starts_with("pcr-"));
        assert!(receiver.next(Duration::ZERO).is_none(), "one ping");
    }
}

/// The peer (provider.mjs's pacing; oidc-provider itself never answers `slow_down`) refuses a
/// poll made sooner than the interval after the request or the last poll with `slow_down`;
/// the core then adds 5 s to the interval each time (CIBA Core 11). Provoked in ping mode,
/// where the core lets the host poll at any time: two polls at once after the start, for a
/// login whose handset never answers.
fn ciba_polling_faster_than_the_interval_is_slow_down<D: Driver>(d: &D, peer: &Peer) {
    let op = peer.ciba_operator(d, CibaClient::PingBasic).unwrap();
    let pending = ciba_start(d, &op, phone(SILENT_MSISDN).ping()).unwrap();
    assert_eq!(pending.interval_secs(), CIBA_DEFAULT_INTERVAL_SECS);
    let mut state = pending;
    for grown in [10, 15] {
        let before = d.now();
        let Poll::Pending(next) = d
            .execute(state.poll(&op, &mut entropy(), d.now()).unwrap())
            .unwrap()
        else {
            panic!("tokens for a silent handset");
        };
        assert_eq!(next.interval_secs(), grown, "slow_down adds 5 s");
        let after = d.now();
        let due = next.next_poll_at().as_secs();
        assert!(
            // The answer's whole second + interval + 1 (mc-core never polls early).
            due > before.as_secs() + grown && due <= after.as_secs() + grown + 1,
            "{due}"
        );
        assert_eq!(next.auth_req_id(), state.auth_req_id());
        assert_eq!(next.expires_at(), state.expires_at());
        state = next;
    }
    assert_eq!(peer.request_count("/token"), 2);
    assert_eq!(peer.request_count("slow_down"), 2);
}

/// Two polls of one login dated the same second (ping mode lets the host poll at any time)
/// carry distinct `private_key_jwt` assertions (the `jti` draws on the poll's entropy), so this
/// peer, which takes each assertion once (RFC 7523 3), answers both as polls: `slow_down`, the
/// second sooner than the interval after the first.
fn ciba_private_key_jwt_polls_in_one_second_carry_distinct_assertions<D: Driver>(
    d: &D,
    peer: &Peer,
) {
    let op = peer
        .ciba_operator(d, CibaClient::PingPrivateKeyJwt)
        .unwrap();
    let pending = ciba_start(d, &op, phone(SILENT_MSISDN).ping()).unwrap();
    let slowed_before = peer.request_count("slow_down");
    let now = d.now();
    let first = pending.poll(&op, &mut entropy(), now).unwrap();
    let second = pending.poll(&op, &mut entropy(), now).unwrap();
    assert_ne!(
        first.request().into_body(),
        second.request().into_body(),
        "one assertion per poll"
    );
    for poll in [first, second] {
        let Poll::Pending(slowed) = d.execute(poll).unwrap() else {
            panic!("tokens for a silent handset");
        };
        assert_eq!(slowed.interval_secs(), CIBA_DEFAULT_INTERVAL_SECS + 5);
    }
    assert_eq!(peer.request_count("slow_down") - slowed_before, 2);
}

/// A login whose handset never answers, with `requested_expiry=3` (the peer honours it; with
/// the 1 s interval the first poll is due 2 s after the answer, before the expiry):
/// the adapter's poll loop polls until the core refuses the next poll itself at `expires_at`
/// ([`BackchannelError::Expired`], no request). The peer's own verdict, `expired_token`, is
/// seen by an SP whose clock runs a second behind the peer's: in ping mode (no `next_poll_at`
/// to respect) a poll dated one second before `expires_at`, sent once the peer's time is past it.
fn ciba_expiry_ends_the_login<D: BackchannelDriver>(d: &D, peer: &Peer) {
    const EXPIRY: u64 = 3;
    let op = peer.ciba_operator(d, CibaClient::PollBasic).unwrap();
    let before = d.now();
    let pending = ciba_start(d, &op, phone(SILENT_MSISDN).requested_expiry(EXPIRY)).unwrap();
    let expires_at = pending.expires_at();
    assert!(expires_at.as_secs() >= before.as_secs() + EXPIRY);
    assert!(expires_at.as_secs() <= d.now().as_secs() + EXPIRY);
    let polls_before = peer.request_count("/token");
    let err = core(d.poll_for_tokens(&op, pending).unwrap_err());
    assert!(
        matches!(err, Error::Backchannel(BackchannelError::Expired { expires_at: at, now })
            if at == expires_at.as_secs() && now >= at),
        "{err:?}"
    );
    let polls = peer.request_count("/token") - polls_before;
    assert!((1..=EXPIRY).contains(&polls), "{polls} polls");

    let op = peer.ciba_operator(d, CibaClient::PingBasic).unwrap();
    let pending = ciba_start(d, &op, phone(SILENT_MSISDN).requested_expiry(EXPIRY).ping()).unwrap();
    sleep_until(d, pending.expires_at());
    let err = pending.poll(&op, &mut entropy(), d.now()).unwrap_err();
    assert!(
        matches!(err, Error::Backchannel(BackchannelError::Expired { .. })),
        "{err:?}"
    );
    let behind = pending.expires_at().minus(1);
    let refusal = refusal(
        d.execute(pending.poll(&op, &mut entropy(), behind).unwrap())
            .unwrap_err(),
    );
    assert!(refusal.is("expired_token"), "{refusal:?}");
    assert_eq!(refusal.endpoint, Endpoint::Token);
    assert_eq!(refusal.status, Some(400));
}

/// The handset declines: in poll mode the adapter's loop ends with the peer's `access_denied`
/// from the token endpoint; in ping mode the peer pings (a ping carries no outcome), the core
/// accepts it, and the one poll is refused `access_denied`.
fn ciba_declined_is_access_denied<D: BackchannelDriver>(d: &D, peer: &Peer) {
    let op = peer.ciba_operator(d, CibaClient::PollBasic).unwrap();
    let pending = ciba_start(d, &op, phone(DECLINING_MSISDN)).unwrap();
    let denied = refusal(d.poll_for_tokens(&op, pending).unwrap_err());
    assert!(denied.is("access_denied"), "{denied:?}");
    assert_eq!(denied.endpoint, Endpoint::Token);
    assert_eq!(denied.status, Some(400));

    let op = peer.ciba_operator(d, CibaClient::PingBasic).unwrap();
    let receiver = PingReceiver::start(op.clone()).unwrap();
    peer.set_sp_origin(&receiver.origin());
    let pending = ciba_start(d, &op, phone(DECLINING_MSISDN).ping()).unwrap();
    receiver.expect(&pending);
    let pinged = receiver
        .next(CIBA_ANSWER_DELAY + Duration::from_secs(5))
        .expect("the peer pings");
    assert!(
        matches!(pinged.result, Ok(Notified::Ping)),
        "{:?}",
        pinged.result
    );
    assert_eq!(pinged.status, 204);
    let denied = refusal(
        d.execute(pending.poll(&op, &mut entropy(), d.now()).unwrap())
            .unwrap_err(),
    );
    assert!(denied.is("access_denied"), "{denied:?}");
    assert_eq!(denied.endpoint, Endpoint::Token);
}

/// A hint the peer cannot resolve (a bare number: its handset knows `tel:+` hints only) is
/// refused at the backchannel endpoint (CIBA Core 13).
fn ciba_unknown_login_hint_is_unknown_user_id<D: Driver>(d: &D, peer: &Peer) {
    let op = peer.ciba_operator(d, CibaClient::PollBasic).unwrap();
    let request = CibaRequest::new(CibaLoginHint::Plain(APPROVING_MSISDN.to_owned()));
    let refusal = refusal(ciba_start(d, &op, request).unwrap_err());
    assert!(refusal.is("unknown_user_id"), "{refusal:?}");
    assert_eq!(refusal.endpoint, Endpoint::BackchannelAuthentication);
    assert_eq!(refusal.status, Some(400));
}

/// The `private_key_jwt` CIBA clients at the peer are registered with `keys/sp-jwks.json`:
/// exactly the public JWKS mc-core publishes for the SP's key.
#[test]
fn sp_jwks_file_is_what_mc_core_publishes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/keys/sp-jwks.json");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(file, SpSigningKey::jwks([&sp_key()]).unwrap());
}

#[test]
fn the_provider_process_is_killed_on_drop() {
    let Some(peer) = Peer::start() else {
        return;
    };
    let pid = peer.pid();
    let issuer = peer.issuer().to_owned();
    drop(peer);
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    if std::path::Path::new("/proc/self").exists() {
        assert!(!proc_dir.exists(), "node {pid} still runs");
    }
    let err = blocking()
        .execute(mc_core::MetadataExchange::for_issuer(&issuer).unwrap())
        .unwrap_err();
    assert!(matches!(err, Failure::Transport(_)), "{err:?}");
}
