//! The operator context as one value shared by every login through the operator: `Send + Sync`,
//! cloned cheaply, its keys replaced through `&self` by the JWKS refetch a paused login runs as a
//! typed step; built only when it can finish a login; and judging logins by its operator
//! profile (Mobile Connect or plain OpenID Connect). In memory against the sandbox operator
//! (`mc_sandbox`, its clock fixed at [`NOW`]), with real signatures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use mc_core::{
    AuthorizeOptions, CallbackError, Discovered, Endpoint, Error, Exchange as _, IdTokenError,
    KeyRefetch, LoginHint, MissingSetting, MisuseError, Msisdn, OperatorConfig, Policy, Profile,
    ProtocolError, ProviderMetadata, TokenExchange, Tokens, UserInfo, UserInfoExchange, Verified,
};
use mc_sandbox::Sandbox;
use mc_sandbox::fixture::{browse, entropy_from, subject, subscriber};
use serde_json::{Value, json};
use support::*;

/// The sandbox operator of the key refetch and userinfo tests (RS256, JSON userinfo).
const OPERATOR: &str = "alpha";

// ---------------------------------------------------------------------------------------------
// One context, many logins, many threads
// ---------------------------------------------------------------------------------------------

/// A web host keeps one context per operator in a shared map and hands it to every request;
/// each step's exchange travels across `.await` points (and so between threads).
const _: () = {
    const fn shareable<T: Send + Sync + Clone + 'static>() {}
    const fn movable<T: Send>() {}
    shareable::<Discovered>();
    movable::<TokenExchange>();
    movable::<UserInfoExchange>();
    movable::<KeyRefetch<Tokens>>();
    movable::<KeyRefetch<UserInfo>>();
};

#[test]
fn clones_of_a_context_serve_logins_on_many_threads() {
    let op = operator();
    std::thread::scope(|scope| {
        let logins: Vec<_> = (0..4)
            .map(|_| {
                let op = op.clone();
                scope.spawn(move || verify_claims(&op, |_| {}).unwrap().sub().to_owned())
            })
            .collect();
        for login in logins {
            assert_eq!(login.join().unwrap(), SUB);
        }
    });
}

/// A login at the sandbox operator up to the token response; it signs with the key it holds.
fn token_outcome(sandbox: &Sandbox, op: &Discovered, seed: u8) -> Result<Verified<Tokens>, Error> {
    let options = AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(user())));
    let (redirect, flow) = op
        .authorize(options, &mut entropy_from(seed), now())
        .unwrap();
    let callback = browse(sandbox, redirect.as_str()).unwrap();
    let code = flow.callback(op, &callback, now())?;
    let exchange = code.token_exchange(op, now())?;
    assert_eq!(exchange.endpoint(), Endpoint::Token);
    assert_eq!(exchange.operator_id(), Some(OPERATOR));
    run(sandbox, exchange)
}

/// The subscriber who logs in: the handset approves.
fn user() -> &'static str {
    subscriber(OPERATOR, mc_sandbox::Handset::Approve).unwrap()
}

/// The subject the sandbox operator gives [`user`].
fn user_sub() -> String {
    subject(OPERATOR, user()).unwrap()
}

/// The sandbox operator's context holding its keys, as stored at the fixed "now" (so with no
/// refetch spacing: the default would refuse a new `kid` for 60 s).
fn holding_keys(sandbox: &Sandbox) -> Discovered {
    let mut policy = Policy::default();
    policy.jwks_min_refetch_secs = 0;
    sandbox_operator(
        sandbox,
        OPERATOR,
        sandbox_config(sandbox, OPERATOR).policy(policy),
    )
}

/// A sandbox operator that rotated to the next key of its pool, and a context still holding
/// the old keys: a login against it pauses for the JWKS.
fn rotated() -> (Sandbox, Discovered) {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = holding_keys(&sandbox);
    sandbox.rotate_keys(OPERATOR);
    (sandbox, op)
}

/// The `kid` the sandbox operator signs with now.
fn signing_kid(sandbox: &Sandbox) -> String {
    sandbox.signing_key(OPERATOR).unwrap().kid
}

fn paused(sandbox: &Sandbox, op: &Discovered, seed: u8) -> KeyRefetch<Tokens> {
    match token_outcome(sandbox, op, seed).unwrap() {
        Verified::NeedJwks(refetch) => refetch,
        Verified::Done(tokens) => panic!("the new kid is not held yet, but verified: {tokens:?}"),
    }
}

fn kids(op: &Discovered) -> Vec<Option<String>> {
    op.jwks()
        .keys()
        .iter()
        .map(|k| k.kid().map(str::to_owned))
        .collect()
}

fn jwks_requests(sandbox: &Sandbox) -> usize {
    served(sandbox, "/jwks")
}

#[test]
fn a_key_refetch_is_the_jwks_get_and_stores_the_keys_in_the_shared_context() {
    let (sandbox, op) = rotated();
    let new_kid = signing_kid(&sandbox);
    let jwks_uri = format!("{}/jwks", sandbox.issuer(OPERATOR));
    let observer = op.clone();
    let refetch = paused(&sandbox, &op, 0);
    assert_eq!(refetch.endpoint(), Endpoint::Jwks);
    assert_eq!(refetch.operator_id(), Some(OPERATOR));
    assert_eq!(refetch.jwks_uri(), jwks_uri.as_str());
    let request = refetch.request();
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(request.uri(), jwks_uri.as_str());
    assert!(request.body().is_empty());
    assert!(request.headers().get(http::header::AUTHORIZATION).is_none());

    // The refetch finishes on another thread; the keys land in the one shared context.
    let later = now().plus(60);
    let response = sandbox.handle(&request);
    let tokens = std::thread::spawn(move || refetch.respond(response, later))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(tokens.sub(), user_sub());
    assert_eq!(tokens.id_token().kid(), Some(new_kid.as_str()));
    assert_eq!(kids(&observer), [Some(new_kid.clone())]);
    assert_eq!(observer.jwks_fetched_at(), Some(later));

    // The next login through any clone verifies at once.
    let Verified::Done(tokens) = token_outcome(&sandbox, &observer, 100).unwrap() else {
        panic!("the refetched key is held");
    };
    assert_eq!(tokens.id_token().kid(), Some(new_kid.as_str()));
    assert_eq!(jwks_requests(&sandbox), 1);
}

#[test]
fn a_refetch_that_brings_no_usable_key_refuses_the_login() {
    type Check = fn(&Error, &str) -> bool;
    let later = now().plus(60);
    // What a context holds before the rotation: the operator's first key.
    let before = mc_sandbox::fixture::sandbox()
        .signing_key(OPERATOR)
        .unwrap();
    let default_kids = [Some(before.kid.clone())];
    let cases: [(&str, http::Response<Vec<u8>>, Check, Option<_>); 3] = [
        (
            // The operator still serves the old keys: the kid stays unknown, and the answer is
            // stored as the operator's current set.
            "kid still unknown",
            raw_response(200, "application/json", &jwks_body(&[before.jwk()])),
            |e, new_kid| matches!(e, Error::IdToken(IdTokenError::UnknownKeyId { kid }) if kid == new_kid),
            Some(later),
        ),
        (
            "JWKS endpoint fails",
            raw_response(500, "text/plain", b"oops"),
            |e, _| {
                matches!(
                    e,
                    Error::Protocol(ProtocolError::UnexpectedStatus {
                        endpoint: Endpoint::Jwks,
                        status: 500
                    })
                )
            },
            Some(now()),
        ),
        (
            "JWKS not JSON",
            raw_response(200, "text/html", b"<html>maintenance</html>"),
            |e, _| {
                matches!(
                    e,
                    Error::Protocol(ProtocolError::MalformedJson {
                        endpoint: Endpoint::Jwks,
                        ..
                    })
                )
            },
            Some(now()),
        ),
    ];
    for (case, answer, check, fetched_at) in cases {
        let (sandbox, op) = rotated();
        let refetch = paused(&sandbox, &op, 0);
        let err = refetch.respond(answer, later).err().unwrap();
        assert!(check(&err, &signing_kid(&sandbox)), "{case}: {err:?}");
        // A failed refetch keeps the keys the context held; none is a second refetch.
        assert_eq!(kids(&op), default_kids, "{case}");
        assert_eq!(op.jwks_fetched_at(), fetched_at, "{case}");
    }
}

#[test]
fn logins_paused_by_one_rotation_cost_one_jwks_fetch() {
    let (sandbox, op) = rotated();
    let new_kid = signing_kid(&sandbox);
    let first = paused(&sandbox, &op, 0);
    let second = paused(&sandbox, &op.clone(), 100);
    let tokens = run(&sandbox, first).unwrap();
    assert_eq!(tokens.id_token().kid(), Some(new_kid.as_str()));
    // The first login stored the new keys: the second finishes without a request.
    let Verified::Done(tokens) = second.with_newer_keys(now()).unwrap() else {
        panic!("newer keys were stored since the second login paused");
    };
    assert_eq!(tokens.id_token().kid(), Some(new_kid.as_str()));
    assert_eq!(jwks_requests(&sandbox), 1);
    assert_eq!(
        sandbox.request_log(),
        [
            "GET /op/alpha/authorize",
            "POST /op/alpha/token",
            "GET /op/alpha/authorize",
            "POST /op/alpha/token",
            "GET /op/alpha/jwks"
        ],
        "the second login fetched nothing"
    );
}

#[test]
fn without_newer_keys_the_refetch_is_handed_back() {
    let (sandbox, op) = rotated();
    let refetch = paused(&sandbox, &op, 0);
    let Verified::NeedJwks(refetch) = refetch.with_newer_keys(now()).unwrap() else {
        panic!("no keys were stored since the pause");
    };
    assert_eq!(
        refetch.request().uri().to_string(),
        format!("{}/jwks", sandbox.issuer(OPERATOR))
    );
    assert_eq!(jwks_requests(&sandbox), 0);
    let tokens = run(&sandbox, refetch).unwrap();
    assert_eq!(
        tokens.id_token().kid(),
        Some(signing_kid(&sandbox).as_str())
    );
}

#[test]
fn newer_keys_without_the_kid_refuse_the_login_without_a_fetch() {
    let (sandbox, op) = rotated();
    let new_kid = signing_kid(&sandbox);
    let refetch = paused(&sandbox, &op, 0);
    // Another login (or the host) stored a key set that still lacks the new kid.
    op.set_jwks(default_jwks(), now().plus(1));
    let err = refetch.with_newer_keys(now().plus(1)).err().unwrap();
    assert!(
        matches!(&err, Error::IdToken(IdTokenError::UnknownKeyId { kid }) if *kid == new_kid),
        "{err:?}"
    );
    assert_eq!(jwks_requests(&sandbox), 0);
}

// ---------------------------------------------------------------------------------------------
// Tokens outlive a failed userinfo call
// ---------------------------------------------------------------------------------------------

#[test]
fn a_failed_userinfo_call_keeps_the_tokens() {
    let sandbox = mc_sandbox::fixture::sandbox();
    let op = holding_keys(&sandbox);
    let Verified::Done(tokens) = token_outcome(&sandbox, &op, 0).unwrap() else {
        panic!("the signing key is held");
    };
    let unavailable = raw_response(503, "text/html", b"<html>try later</html>");
    let err = tokens
        .userinfo(&op)
        .unwrap()
        .respond(unavailable, now())
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::UnexpectedStatus {
                endpoint: Endpoint::UserInfo,
                status: 503
            })
        ),
        "{err:?}"
    );
    // The same tokens: userinfo again, then premium info.
    for (exchange, endpoint) in [
        (tokens.userinfo(&op).unwrap(), Endpoint::UserInfo),
        (tokens.premiuminfo(&op).unwrap(), Endpoint::PremiumInfo),
    ] {
        assert_eq!(exchange.endpoint(), endpoint);
        let Verified::Done(info) = run(&sandbox, exchange).unwrap() else {
            panic!("plain JSON needs no keys");
        };
        assert_eq!(info.endpoint(), endpoint);
        assert_eq!(info.sub(), user_sub());
        assert_eq!(info.operator_id(), OPERATOR);
        assert_eq!(info.phone_number(), Some(format!("+{}", user()).as_str()));
    }
    // Both calls carried the access token the operator issued (it accepted them).
    let bearer = format!("Bearer {}", tokens.access_token().expose_secret());
    let calls: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with("info"))
        .collect();
    assert_eq!(calls.len(), 2);
    for call in calls {
        assert_eq!(call.header("authorization"), Some(bearer.as_str()));
    }
    assert_eq!(tokens.id_token().sub(), user_sub());
    assert!(tokens.id_token().jwt().expose_secret().starts_with("eyJ"));
    assert_eq!(
        sandbox.request_log(),
        [
            "GET /op/alpha/authorize",
            "POST /op/alpha/token",
            "GET /op/alpha/userinfo",
            "GET /op/alpha/premiuminfo"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Built only when it can finish a login
// ---------------------------------------------------------------------------------------------

/// Which facts a configuration is given.
#[derive(Clone, Copy)]
struct Parts {
    issuer: bool,
    authorization: bool,
    token: bool,
    jwks: bool,
}

const ALL: Parts = Parts {
    issuer: true,
    authorization: true,
    token: true,
    jwks: true,
};

fn config_of(parts: Parts) -> OperatorConfig {
    let mut config = OperatorConfig::new(registration()).unwrap();
    if parts.issuer {
        config = config.issuer(ISSUER);
    }
    if parts.authorization {
        config = config
            .authorization("https://op.example/authorize")
            .unwrap();
    }
    if parts.token {
        config = config.token("https://op.example/token").unwrap();
    }
    if parts.jwks {
        config = config.jwks("https://op.example/jwks").unwrap();
    }
    config
}

#[test]
fn an_incomplete_operator_is_refused_before_the_redirect() {
    let cases = [
        (
            Parts {
                issuer: false,
                ..ALL
            },
            MissingSetting::Issuer,
        ),
        (
            Parts {
                authorization: false,
                ..ALL
            },
            MissingSetting::AuthorizationEndpoint,
        ),
        (
            Parts {
                token: false,
                ..ALL
            },
            MissingSetting::TokenEndpoint,
        ),
        (
            // The default policy allows RS256 and the other asymmetric algorithms.
            Parts { jwks: false, ..ALL },
            MissingSetting::KeySource,
        ),
    ];
    for (parts, expected) in cases {
        let err = config_of(parts).build().err().unwrap();
        assert!(
            matches!(
                &err,
                Error::Misuse(MisuseError::IncompleteOperator { operator, missing })
                    if operator == "test-operator" && *missing == expected
            ),
            "{expected:?}: {err:?}"
        );
        assert_eq!(err.class(), mc_core::ErrorClass::Misuse);
    }
    assert!(config_of(ALL).build().is_ok());
}

#[test]
fn an_operator_needs_no_jwks_when_only_hmac_is_allowed_or_keys_are_given() {
    let no_jwks = Parts { jwks: false, ..ALL };
    let mut hmac_only = Policy::default();
    hmac_only.allowed_algorithms = vec![mc_core::Algorithm::HS256];
    let op = config_of(no_jwks).policy(hmac_only).build().unwrap();
    assert!(op.endpoints().jwks.is_none());
    // Its logins verify id_tokens MACed with the client secret.
    let tokens = token_step(&op, AuthorizeOptions::new(), |s| {
        token_response(&sign_hmac(
            &valid_claims(&s.nonce),
            mc_core::Algorithm::HS256,
            CLIENT_SECRET.as_bytes(),
            None,
        ))
    })
    .unwrap();
    assert_eq!(tokens.id_token().alg(), mc_core::Algorithm::HS256);

    // Keys handed over at registration stand in for a JWKS URL.
    let op = config_of(no_jwks).keys(default_jwks()).build().unwrap();
    assert_eq!(kids(&op).len(), 2);
    assert_eq!(op.jwks_fetched_at(), None);
    assert!(verify_claims(&op, |_| {}).is_ok());
}

// ---------------------------------------------------------------------------------------------
// A context built from the operator's metadata
// ---------------------------------------------------------------------------------------------

fn metadata(body: &Value) -> ProviderMetadata {
    ProviderMetadata::parse(&serde_json::to_vec(body).unwrap()).unwrap()
}

/// A plain OpenID Provider's metadata naming every endpoint, with RFC 9207 announced.
fn full_metadata() -> Value {
    json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://idgw.op.example/authorize",
        "token_endpoint": "https://idgw.op.example/token",
        "userinfo_endpoint": "https://idgw.op.example/userinfo",
        "premiuminfo_endpoint": "https://idgw.op.example/premiuminfo",
        "jwks_uri": "https://idgw.op.example/jwks",
        "revocation_endpoint": "https://idgw.op.example/revoke",
        "si_authorization_endpoint": "https://idgw.op.example/si-authorize",
        "authorization_response_iss_parameter_supported": true,
    })
}

fn from_metadata(doc: &Value) -> Discovered {
    OperatorConfig::new(registration())
        .unwrap()
        .with_metadata(metadata(doc))
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn every_endpoint_of_the_metadata_is_the_contexts() {
    let doc = full_metadata();
    let op = from_metadata(&doc);
    let endpoints = op.endpoints();
    let url = |member: &str| Some(doc[member].as_str().unwrap());
    assert_eq!(
        Some(endpoints.authorization.as_str()),
        url("authorization_endpoint")
    );
    assert_eq!(Some(endpoints.token.as_str()), url("token_endpoint"));
    for (endpoint, member) in [
        (&endpoints.userinfo, "userinfo_endpoint"),
        (&endpoints.premiuminfo, "premiuminfo_endpoint"),
        (&endpoints.jwks, "jwks_uri"),
        (&endpoints.revocation, "revocation_endpoint"),
        (&endpoints.si_authorization, "si_authorization_endpoint"),
    ] {
        assert_eq!(
            endpoint.as_ref().map(url::Url::as_str),
            url(member),
            "{member}"
        );
    }
    assert_eq!(op.issuer(), ISSUER);
    assert_eq!(op.metadata(), Some(&metadata(&doc)));
    assert_eq!(
        op.jwks_exchange().unwrap().request().uri(),
        "https://idgw.op.example/jwks"
    );
}

#[test]
fn a_metadata_announcing_rfc9207_makes_iss_required_in_callbacks() {
    let announced = |value: Value| {
        let mut doc = full_metadata();
        doc["authorization_response_iss_parameter_supported"] = value;
        from_metadata(&doc)
    };
    let iss = format!("&iss={}", "https%3A%2F%2Fop.example");
    let cases = [
        (json!(true), "", Err(CallbackError::IssuerMissing)),
        (json!(true), iss.as_str(), Ok(())),
        (json!("1"), "", Err(CallbackError::IssuerMissing)),
        (json!(false), "", Ok(())),
        (Value::Null, "", Ok(())),
    ];
    for (flag, extra, expected) in cases {
        let op = announced(flag.clone());
        let started = start(&op, AuthorizeOptions::new());
        let query = format!("code=abc&state={}{extra}", started.state);
        let result = started.flow.callback(&op, &query, now());
        match (expected, result) {
            (Ok(()), Ok(code)) => assert_eq!(code.operator_id(), "test-operator"),
            (
                Err(CallbackError::IssuerMissing),
                Err(Error::Callback(CallbackError::IssuerMissing)),
            ) => {}
            (expected, result) => {
                panic!("flag {flag}, query {query:?}: expected {expected:?}, got {result:?}")
            }
        }
    }
}

#[test]
fn metadata_of_another_issuer_is_refused_by_exact_comparison() {
    for configured in [
        "https://op.example/",
        "https://OP.example",
        "https://op.example/x",
    ] {
        let err = operator_config()
            .issuer(configured)
            .with_metadata(metadata(&full_metadata()))
            .err()
            .unwrap();
        assert!(
            matches!(
                &err,
                Error::Protocol(ProtocolError::MetadataIssuerMismatch { expected, found })
                    if expected == configured && found == ISSUER
            ),
            "{configured}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Operator profiles
// ---------------------------------------------------------------------------------------------

#[test]
fn the_profile_follows_the_metadata_unless_set() {
    // (Each names its keys: the metadata alone says where they are.)
    let jwks = "https://op.example/jwks";
    let plain = metadata(&json!({ "issuer": ISSUER, "jwks_uri": jwks }));
    let versions = metadata(&json!({
        "issuer": ISSUER,
        "jwks_uri": jwks,
        "mobile_connect_version_supported": [{ "openid mc_authn": "mc_v1.2" }],
    }));
    let flat = metadata(&json!({ "issuer": ISSUER, "jwks_uri": jwks, "mc_version": ["mc_v1.1"] }));
    let cases = [
        ("no metadata", None, None, Profile::MobileConnect),
        ("plain metadata", Some(&plain), None, Profile::OpenIdConnect),
        (
            "mobile_connect_version_supported",
            Some(&versions),
            None,
            Profile::MobileConnect,
        ),
        ("mc_version", Some(&flat), None, Profile::MobileConnect),
        (
            "set over MC metadata",
            Some(&versions),
            Some(Profile::OpenIdConnect),
            Profile::OpenIdConnect,
        ),
        (
            "set over plain metadata",
            Some(&plain),
            Some(Profile::MobileConnect),
            Profile::MobileConnect,
        ),
        (
            "set without metadata",
            None,
            Some(Profile::OpenIdConnect),
            Profile::OpenIdConnect,
        ),
    ];
    for (case, doc, set, expected) in cases {
        let mut config = operator_config();
        if let Some(profile) = set {
            config = config.profile(profile);
        }
        if let Some(doc) = doc {
            config = config.with_metadata(doc.clone()).unwrap();
        }
        assert_eq!(config.build().unwrap().profile(), expected, "{case}");
        if set.is_none() {
            assert_eq!(Profile::from_metadata(doc), expected, "{case}");
        }
    }
}

fn with_profile(profile: Profile) -> Discovered {
    built_with_keys(operator_config().profile(profile))
}

fn oidc() -> Discovered {
    with_profile(Profile::OpenIdConnect)
}

#[test]
fn an_openid_connect_login_asks_for_no_level_and_no_version_unless_told() {
    let op = oidc();
    let started = start(&op, AuthorizeOptions::new());
    let pairs = query_of(&started.url);
    assert_eq!(param(&pairs, "acr_values"), None);
    assert_eq!(param(&pairs, "version"), None);
    // No Mobile Connect product scope a plain provider would not know.
    assert_eq!(param(&pairs, "scope").as_deref(), Some("openid"));
    assert_eq!(started.flow.version(), None);
    insta::assert_snapshot!("authorize_oidc_profile", render_url(&started.url));

    let started = start(
        &op,
        AuthorizeOptions::new().acr_values([3]).version("mc_v2.0"),
    );
    let pairs = query_of(&started.url);
    assert_eq!(param(&pairs, "acr_values").as_deref(), Some("3"));
    assert_eq!(param(&pairs, "version").as_deref(), Some("mc_v2.0"));
    assert_eq!(started.flow.version(), Some("mc_v2.0"));
}

#[test]
fn a_mobile_connect_login_asks_for_loa_2_and_sends_the_version() {
    let op = with_profile(Profile::MobileConnect);
    let started = start(&op, AuthorizeOptions::new());
    let pairs = query_of(&started.url);
    assert_eq!(param(&pairs, "acr_values").as_deref(), Some("2"));
    assert_eq!(param(&pairs, "version").as_deref(), Some("mc_v1.1"));
    assert_eq!(started.flow.version(), Some("mc_v1.1"));
    // The same URL as the registry operator's (whose profile is Mobile Connect by default).
    assert_eq!(started.url, start(&operator(), AuthorizeOptions::new()).url);

    let mut rng = entropy();
    let err = op
        .authorize(AuthorizeOptions::new().acr_values([]), &mut rng, now())
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::Misuse(MisuseError::InvalidParameter {
                name: "acr_values",
                ..
            })
        ),
        "{err:?}"
    );
}

type ClaimEdit = fn(&mut Value);
/// `None`: accepted; otherwise the rule the token breaks.
type Verdict = Option<fn(&IdTokenError) -> bool>;
/// (case, profile, login options, the change to the valid claims, verdict)
type ProfileCase = (
    &'static str,
    Profile,
    fn() -> AuthorizeOptions,
    ClaimEdit,
    Verdict,
);

fn remove(claims: &mut Value, name: &str) {
    claims.as_object_mut().unwrap().remove(name);
}

fn identity() -> AuthorizeOptions {
    AuthorizeOptions::new().scope(["mc_identity_phonenumber"])
}

fn loa3() -> AuthorizeOptions {
    AuthorizeOptions::new().acr_values([3])
}

#[test]
fn each_profile_judges_the_id_token_by_its_own_rules() {
    let cases: [ProfileCase; 11] = [
        (
            "oidc: no acr",
            Profile::OpenIdConnect,
            AuthorizeOptions::new,
            |c| remove(c, "acr"),
            None,
        ),
        (
            "oidc: identity scope without at_hash and amr",
            Profile::OpenIdConnect,
            identity,
            |c| {
                remove(c, "at_hash");
                remove(c, "amr");
            },
            None,
        ),
        (
            "oidc: wrong at_hash",
            Profile::OpenIdConnect,
            AuthorizeOptions::new,
            |c| {
                c["at_hash"] = json!(
                    mc_core::id_token::at_hash("another-access-token", mc_core::Algorithm::RS256)
                        .unwrap()
                );
            },
            Some(|e| matches!(e, IdTokenError::AtHashMismatch)),
        ),
        (
            "oidc: acr 2 when 3 asked",
            Profile::OpenIdConnect,
            loa3,
            |_| {},
            Some(|e| matches!(e, IdTokenError::AcrTooLow { requested: 3, found } if found == "2")),
        ),
        (
            "oidc: acr 3 when 3 asked",
            Profile::OpenIdConnect,
            loa3,
            |c| c["acr"] = json!("3"),
            None,
        ),
        (
            "oidc: no acr when 3 asked",
            Profile::OpenIdConnect,
            loa3,
            |c| remove(c, "acr"),
            Some(|e| matches!(e, IdTokenError::AcrMissing)),
        ),
        (
            "mc: no acr",
            Profile::MobileConnect,
            AuthorizeOptions::new,
            |c| remove(c, "acr"),
            Some(|e| matches!(e, IdTokenError::AcrMissing)),
        ),
        (
            "mc: authn without at_hash and amr",
            Profile::MobileConnect,
            AuthorizeOptions::new,
            |c| {
                remove(c, "at_hash");
                remove(c, "amr");
            },
            None,
        ),
        (
            "mc: identity without at_hash",
            Profile::MobileConnect,
            identity,
            |c| remove(c, "at_hash"),
            Some(|e| matches!(e, IdTokenError::AtHashMissing)),
        ),
        (
            "mc: identity without amr",
            Profile::MobileConnect,
            identity,
            |c| remove(c, "amr"),
            Some(|e| matches!(e, IdTokenError::AmrMissing)),
        ),
        (
            "mc: identity, every claim",
            Profile::MobileConnect,
            identity,
            |_| {},
            None,
        ),
    ];
    for (case, profile, options, edit, verdict) in cases {
        let result = verify_claims_with(&with_profile(profile), options(), edit);
        match (verdict, result) {
            (None, Ok(tokens)) => assert_eq!(tokens.sub(), SUB, "{case}"),
            (Some(check), Err(Error::IdToken(e))) => assert!(check(&e), "{case}: {e:?}"),
            (None, Err(e)) => panic!("{case}: expected acceptance, got {e:?}"),
            (Some(_), other) => panic!("{case}: expected an id_token rule, got {other:?}"),
        }
    }
}
