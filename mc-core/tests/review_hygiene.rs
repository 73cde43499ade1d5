//! Issue 10, findings 6, 7 and 9 of the security review, one `review_*` test (or more) each:
//! the duplicate-member check is linear and the members of a JOSE header and of a claim set are
//! bounded, before the signature check (6); `AuthorizeOptions` and a logged request print no
//! secret (7); JWKS refetches are spaced by default, so a fresh unknown `kid` in every login is
//! not a fetch per login (9).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::Algorithm;
use mc_core::wire::{self, Members};
use mc_core::{
    AuthorizeOptions, ClientAuth, DataToBeSigned, Discovered, DiscoveryQuery, Error, Exchange as _,
    IdTokenError, JwtPart, LoginHint, LoginHintToken, Msisdn, Policy, Tokens, UnixTime, Verified,
    redacted,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------------------------------------
// Finding 6: the duplicate-member check, linear and bounded
// ---------------------------------------------------------------------------------------------

/// The plain reference of `wire::check_members`: every top-level member name in order (read by
/// the same JSON tokenizer), then each compared with every earlier one. The fast check reads the
/// names up to the first one over `limit` and stops there, so over the bound the reference says
/// `TooMany` whatever follows.
fn reference_members(json: &[u8], limit: usize) -> Members {
    use serde::de::{IgnoredAny, MapAccess, Visitor};
    struct Names<'a>(&'a mut Vec<String>);
    impl<'de> Visitor<'de> for Names<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(name) = map.next_key::<String>()? {
                self.0.push(name);
                let _: IgnoredAny = map.next_value()?;
            }
            Ok(())
        }
    }
    let mut names = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed =
        serde::Deserializer::deserialize_map(&mut de, Names(&mut names)).and_then(|()| de.end());
    if names.len() > limit {
        return Members::TooMany;
    }
    if parsed.is_err() {
        return Members::NotAnObject;
    }
    for (i, name) in names.iter().enumerate() {
        if names.iter().take(i).any(|earlier| earlier == name) {
            return Members::Duplicate;
        }
    }
    Members::Distinct
}

/// Member names that collide in several spellings (escapes, the empty name, non-ASCII).
fn name_strategy() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(r#""a""#),
        Just(r#""\u0061""#),
        Just(r#""b""#),
        Just(r#""ab""#),
        Just(r#""a\u0062""#),
        Just(r#""""#),
        Just(r#""é""#),
        Just(r#""\u00e9""#),
        Just(r#""alg""#),
        Just(r#""kid""#),
        Just(r#""\"""#),
    ]
}

fn value_strategy() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("0"),
        Just("-1.5e3"),
        Just("true"),
        Just("null"),
        Just(r#""RS256""#),
        Just(r#""\u0000""#),
        Just(r#"{"a":1,"a":2}"#),
        Just(r#"[{"a":1},"a"]"#),
        Just("{}"),
    ]
}

/// Well-formed JSON objects whose members may repeat (which `serde_json::Value` cannot hold).
fn object_strategy() -> impl Strategy<Value = Vec<u8>> {
    let member = (
        name_strategy(),
        value_strategy(),
        prop_oneof![Just(""), Just(" \n")],
    );
    prop::collection::vec(member, 0..12).prop_map(|members| {
        let body: Vec<String> = members
            .into_iter()
            .map(|(name, value, space)| format!("{space}{name}{space}:{value}"))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    })
}

/// JSON-ish text from the fragments that matter: names, values, braces, commas, garbage.
fn soup_strategy() -> impl Strategy<Value = Vec<u8>> {
    json_soup([name_strategy().boxed(), value_strategy().boxed()])
}

fn limit_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![0..8usize, Just(wire::MAX_HEADER_MEMBERS), Just(usize::MAX)]
}

/// A JOSE header of `members` distinct members: `alg`, `kid`, then names `m0`, `m1`, ...
fn header_with(members: usize) -> Value {
    let mut header = json!({ "alg": "RS256", "kid": "kid-a" });
    for i in 0..members.saturating_sub(2) {
        header[format!("m{i}")] = json!(0);
    }
    header
}

/// The JSON text of a 3000-member header: `alg`, `kid`, then two-character names (`,"aa":0`
/// and so on, about 21 KB), so that base64url-encoded it still fits a 32 KiB JWT.
fn hostile_header_text(duplicate_last: bool) -> Vec<u8> {
    let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let names = alphabet
        .iter()
        .flat_map(|a| alphabet.iter().map(move |b| format!("{a}{b}")));
    let mut text = String::from(r#"{"alg":"RS256","kid":"kid-a""#);
    for name in names.take(2998) {
        text.push_str(&format!(r#","{name}":0"#));
    }
    if duplicate_last {
        // The worst case of a scan that compares each name with the earlier ones.
        text.push_str(r#","aa":1"#);
    }
    text.push('}');
    text.into_bytes()
}

/// The verdict of a login whose id_token is `header.claims.signature`, at the test operator.
fn login_with_parts(op: &Discovered, jwt: impl FnOnce(Value) -> String) -> Result<Tokens, Error> {
    token_step(op, AuthorizeOptions::new(), |s| {
        token_response(&jwt(valid_claims(&s.nonce)))
    })
}

/// Assert that a login was refused for the member count of its id_token's `part`, over `limit`.
#[track_caller]
fn assert_too_many_members(error: &Error, part: JwtPart, limit: usize) {
    assert!(
        matches!(
            error,
            Error::IdToken(IdTokenError::TooManyMembers { part: p, limit: l })
                if *p == part && *l == limit
        ),
        "{error:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn review_duplicate_member_check_agrees_with_the_reference_on_objects(
        json in object_strategy(),
        limit in limit_strategy(),
    ) {
        prop_assert_eq!(wire::check_members(&json, limit), reference_members(&json, limit));
    }

    #[test]
    fn review_duplicate_member_check_agrees_with_the_reference_on_soup(
        json in soup_strategy(),
        limit in limit_strategy(),
    ) {
        prop_assert_eq!(wire::check_members(&json, limit), reference_members(&json, limit));
    }

    #[test]
    fn review_duplicate_member_check_agrees_with_the_reference_on_bytes(
        json in prop::collection::vec(any::<u8>(), 0..48),
        limit in limit_strategy(),
    ) {
        prop_assert_eq!(wire::check_members(&json, limit), reference_members(&json, limit));
    }
}

#[test]
fn review_duplicate_member_check_is_linear() {
    // Examples the properties rest on.
    let cases: [(&str, usize, Members); 10] = [
        ("{}", 0, Members::Distinct),
        (r#"{"a":1}"#, 0, Members::TooMany),
        (r#"{"a":1,"b":2}"#, 2, Members::Distinct),
        (r#"{"a":1,"a":2}"#, 2, Members::Duplicate),
        (r#"{"a":1,"\u0061":2}"#, 2, Members::Duplicate),
        (r#"{"a":{"b":1,"b":2}}"#, 2, Members::Distinct),
        (r#"{"a":1,"b":2,"c":"#, 2, Members::TooMany),
        (r#"{"a":1,"a":2"#, 2, Members::NotAnObject),
        (r#"{"a":1} {"#, 2, Members::NotAnObject),
        (r#"["a","a"]"#, 2, Members::NotAnObject),
    ];
    for (json, limit, expected) in cases {
        assert_eq!(
            wire::check_members(json.as_bytes(), limit),
            expected,
            "{json}"
        );
        assert_eq!(
            reference_members(json.as_bytes(), limit),
            expected,
            "{json}"
        );
    }

    // 3000 members, the most a 32 KiB JWT holds: the check alone, with no bound, reads them
    // once and sorts the names (the quadratic scan took 28 ms in a release build).
    let distinct = hostile_header_text(false);
    let repeated = hostile_header_text(true);
    assert_eq!(
        wire::check_members(&distinct, usize::MAX),
        Members::Distinct
    );
    assert_eq!(
        wire::check_members(&repeated, usize::MAX),
        Members::Duplicate
    );
    assert_eq!(
        wire::check_members(&repeated, usize::MAX),
        reference_members(&repeated, usize::MAX)
    );

    // As an id_token header, it is refused for its member count before any signature check:
    // the signature below is not even base64url.
    let op = operator();
    for header in [&distinct, &repeated] {
        let e = login_with_parts(&op, |claims| {
            format!("{}.{}.!!", b64(header), b64(claims.to_string().as_bytes()))
        })
        .unwrap_err();
        assert_too_many_members(&e, JwtPart::Header, wire::MAX_HEADER_MEMBERS);
    }
}

#[test]
fn review_header_member_count_bounded() {
    let op = operator();
    let key = TestKey::RsaA.encoding_key();
    // At the bound: accepted (members mc-core does not know are ignored).
    let at_bound = header_with(wire::MAX_HEADER_MEMBERS);
    assert_eq!(
        at_bound.as_object().unwrap().len(),
        wire::MAX_HEADER_MEMBERS
    );
    let tokens = login_with_parts(&op, |claims| {
        sign_raw(&at_bound, &claims, Algorithm::RS256, &key)
    })
    .unwrap();
    assert_eq!(tokens.sub(), SUB);
    // One more, correctly signed: refused with the typed error.
    let over = header_with(wire::MAX_HEADER_MEMBERS + 1);
    let e = login_with_parts(&op, |claims| {
        sign_raw(&over, &claims, Algorithm::RS256, &key)
    })
    .unwrap_err();
    assert_too_many_members(&e, JwtPart::Header, 32);
    assert_eq!(
        e.to_string(),
        "id_token rejected: header has more than 32 members"
    );
}

#[test]
fn review_claim_count_bounded() {
    let op = operator();
    let with_claims = |count: usize| {
        move |mut claims: Value| {
            let mut i = 0;
            while claims.as_object().unwrap().len() < count {
                claims[format!("extra_{i}")] = json!(i);
                i += 1;
            }
            assert_eq!(claims.as_object().unwrap().len(), count);
            sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"))
        }
    };
    let tokens = login_with_parts(&op, with_claims(wire::MAX_CLAIMS)).unwrap();
    assert_eq!(tokens.id_token().claim("extra_0"), Some(json!(0)));
    let e = login_with_parts(&op, with_claims(wire::MAX_CLAIMS + 1)).unwrap_err();
    assert_too_many_members(&e, JwtPart::Claims, 256);
}

// ---------------------------------------------------------------------------------------------
// Finding 7: secrets in Debug, and logging a request
// ---------------------------------------------------------------------------------------------

const MSISDN: &str = "447700900301";
const LOGIN_HINT_TOKEN: &str = "lht-9f8e7d6c5b4a39281706";
const DTBS: &str = "contract-sha256-0f1e2d3c4b5a";
const KYC_NAME: &str = "Alexandra-Kycmatch";

fn secret_options(id_token_hint: &str) -> AuthorizeOptions {
    AuthorizeOptions::new()
        .scope(["mc_authz", "mc_identity_phonenumber"])
        .login_hint(LoginHint::Msisdn(Msisdn::new(MSISDN)))
        .login_hint_token(LOGIN_HINT_TOKEN)
        .id_token_hint(id_token_hint)
        .dtbs(DTBS)
        .claims(json!({ "premiuminfo": { "given_name": { "value": KYC_NAME } } }))
        .context("Pay 10 GBP to Example Shop")
        .binding_message("B-42")
        .prompt("login")
}

#[test]
fn review_authorize_options_debug_redacts() {
    let hint = sign(
        &json!({ "iss": ISSUER, "sub": SUB, "aud": CLIENT_ID }),
        Algorithm::RS256,
        TestKey::RsaA,
        Some("kid-a"),
    );
    let (_, hint_claims) = hint.split_once('.').unwrap();
    let options = secret_options(&hint);
    let secrets = [
        MSISDN,
        LOGIN_HINT_TOKEN,
        DTBS,
        KYC_NAME,
        hint.as_str(),
        hint_claims.split_once('.').unwrap().0,
    ];
    for text in [format!("{options:?}"), format!("{options:#?}")] {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        // What is not secret still prints.
        for shown in ["Pay 10 GBP to Example Shop", "B-42", "login", "mc_authz"] {
            assert!(text.contains(shown), "{shown} missing from {text}");
        }
        assert!(text.contains("[redacted]"), "{text}");
    }
    // The newtypes on their own.
    for text in [
        format!("{:?}", LoginHintToken::new(LOGIN_HINT_TOKEN)),
        format!("{}", LoginHintToken::new(LOGIN_HINT_TOKEN)),
        format!("{:?}", DataToBeSigned::new(DTBS)),
        format!("{}", DataToBeSigned::new(DTBS)),
    ] {
        assert!(
            text.contains("[redacted]") && !text.contains(LOGIN_HINT_TOKEN) && !text.contains(DTBS)
        );
    }
    // Redaction is for printing only: the operator still receives every value.
    let started = start(&operator(), options);
    let pairs = query_of(&started.url);
    assert_eq!(
        param(&pairs, "login_hint_token").as_deref(),
        Some(LOGIN_HINT_TOKEN)
    );
    assert_eq!(
        param(&pairs, "id_token_hint").as_deref(),
        Some(hint.as_str())
    );
    assert_eq!(param(&pairs, "dtbs").as_deref(), Some(DTBS));
    assert!(param(&pairs, "claims").unwrap().contains(KYC_NAME));
}

fn form_encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The token request of a login at an operator authenticating with `auth`, and its secrets.
fn token_request_and_secrets(auth: ClientAuth) -> (http::Request<Vec<u8>>, Vec<String>) {
    let key = mc_core::SpSigningKey::from_pem(Algorithm::RS256, RSA_B.as_bytes(), "sp-key-1");
    let op = built_with_keys(
        operator_config()
            .client_auth(auth)
            .signing_key(key.unwrap()),
    );
    let started = start(&op, AuthorizeOptions::new());
    let code = "c0de+Spl/xlOBe-77311";
    let verifier = serde_json::to_value(&started.flow).unwrap()["pkce"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = exchange_code(&op, started, &form_encoded(code)).request();
    let mut secrets = vec![
        code.to_owned(),
        form_encoded(code),
        verifier,
        CLIENT_SECRET.to_owned(),
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")),
    ];
    // A client assertion is a bearer credential for its lifetime.
    let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body())
        .into_owned()
        .collect();
    if let Some(assertion) = param(&form, "client_assertion") {
        secrets.push(assertion);
    }
    (request, secrets)
}

/// A request mc-core emits, named, with the secrets it carries.
type Emitted = (&'static str, http::Request<Vec<u8>>, Vec<String>);

/// Every request mc-core emits, with the secrets each carries.
fn every_request() -> Vec<Emitted> {
    let mut all = Vec::new();
    for (label, auth) in [
        ("token (client_secret_basic)", ClientAuth::SecretBasic),
        ("token (client_secret_post)", ClientAuth::SecretPost),
        ("token (private_key_jwt)", ClientAuth::PrivateKeyJwt),
    ] {
        let (request, secrets) = token_request_and_secrets(auth);
        all.push((label, request, secrets));
    }

    let op = operator_refetching_at_once();
    let tokens = token_step(&op, AuthorizeOptions::new(), |s| {
        token_response(&valid_id_token(&s.nonce))
    })
    .unwrap();
    let bearer = vec![ACCESS_TOKEN.to_owned()];
    all.push((
        "userinfo",
        tokens.userinfo(&op).unwrap().request(),
        bearer.clone(),
    ));
    all.push((
        "premiuminfo",
        tokens.premiuminfo(&op).unwrap().request(),
        bearer,
    ));
    all.push(("jwks", op.jwks_exchange().unwrap().request(), Vec::new()));
    all.push((
        "metadata",
        operator_config().metadata_exchange().unwrap().request(),
        Vec::new(),
    ));
    // The JWKS refetch of a login that meets a rotated key.
    let outcome = code_step(&op, |s| {
        token_response(&sign(
            &valid_claims(&s.nonce),
            Algorithm::RS256,
            TestKey::RsaB,
            Some("kid-b"),
        ))
    });
    let Verified::NeedJwks(refetch) = outcome else {
        panic!("kid-b is unknown: a refetch");
    };
    all.push(("jwks refetch", refetch.request(), Vec::new()));

    // Discovery: by MSISDN (a form POST), and by IP (a GET whose query and headers carry the
    // end user's addresses).
    let discovery_secret = "d1sc0very-secret-value";
    let service = discovery_service_with_secret(discovery_secret);
    let discovery_secrets = vec![
        discovery_secret.to_owned(),
        STANDARD.encode(format!("disc-client:{discovery_secret}")),
        MSISDN.to_owned(),
        "203.0.113.77".to_owned(),
        "10.20.30.40".to_owned(),
    ];
    for (label, query) in [
        (
            "discovery (MSISDN)",
            DiscoveryQuery::msisdn(Msisdn::new(MSISDN)),
        ),
        (
            "discovery (IP)",
            DiscoveryQuery::by_ip_or_selection()
                .source_ip("203.0.113.77")
                .local_client_ip("10.20.30.40"),
        ),
    ] {
        let request = service.discover(&query, &mut entropy()).unwrap().request();
        all.push((label, request, discovery_secrets.clone()));
    }
    all
}

/// A login up to the token response, judged at the fixed time.
fn code_step(
    op: &Discovered,
    make_response: impl FnOnce(&Started) -> http::Response<Vec<u8>>,
) -> Verified<Tokens> {
    let started = start(op, AuthorizeOptions::new());
    let response = make_response(&started);
    exchange_code(op, started, "the-code")
        .respond(response, now())
        .unwrap()
}

#[test]
fn review_request_logging_helper_hides_body() {
    let all = every_request();
    assert_eq!(all.len(), 10);
    for (label, request, secrets) in &all {
        let logged = [
            format!("{}", redacted(request)),
            format!("{:?}", redacted(request)),
            format!("{:#?}", redacted(request)),
        ];
        for text in &logged {
            for secret in secrets {
                assert!(
                    secret.len() >= 8,
                    "{label}: {secret} is too short to search for"
                );
                assert!(
                    !text.contains(secret.as_str()),
                    "{label}: {secret} in {text}"
                );
            }
            // What is useful in a log is there: method, host and path, body length.
            assert!(text.contains(request.method().as_str()), "{label}: {text}");
            assert!(
                text.contains(request.uri().host().unwrap()),
                "{label}: {text}"
            );
            assert!(text.contains(request.uri().path()), "{label}: {text}");
            assert!(
                text.contains(&request.body().len().to_string()),
                "{label}: {text}"
            );
        }
    }
    // The hazard the helper exists for: `http`'s own Debug prints the body (as its bytes).
    let (_, token_request, _) = &all[1];
    assert!(format!("{token_request:?}").contains(&format!("{:?}", token_request.body())));

    // The shape of one line, for a client_secret_post token request.
    let (_, request, _) = &all[1];
    let line = redacted(request).to_string();
    assert!(
        line.starts_with(
            "POST https://op.example/token (headers: accept: application/json, \
             content-type: application/x-www-form-urlencoded; body: "
        ),
        "{line}"
    );
    assert!(
        line.ends_with(
            "form: grant_type, code, redirect_uri, code_verifier, client_id, client_secret)"
        ),
        "{line}"
    );
    // A query's values and a sensitive header's value are replaced, their names kept.
    let (_, discovery_by_ip, _) = &all[9];
    let line = redacted(discovery_by_ip).to_string();
    assert!(line.contains("Local-Client-IP=[redacted]"), "{line}");
    assert!(line.contains("x-source-ip: [redacted]"), "{line}");
    assert!(line.contains("authorization: [redacted]"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Finding 9: JWKS refetches spaced by default
// ---------------------------------------------------------------------------------------------

/// A login at time `at` whose token names `kid` (signed by RSA B): the token step's outcome,
/// and, when it asks for a refetch, the refetch answered with the operator's unchanged keys.
/// Returns the verdict and whether a JWKS request was made.
fn login_naming(op: &Discovered, kid: &str, at: UnixTime) -> (Result<Tokens, Error>, bool) {
    let (redirect, flow) = op
        .authorize(AuthorizeOptions::new(), &mut entropy(), at)
        .unwrap();
    let state = param(&query_of(redirect.url()), "state").unwrap();
    let nonce = param(&query_of(redirect.url()), "nonce").unwrap();
    let response = token_response(&sign(
        &valid_claims(&nonce),
        Algorithm::RS256,
        TestKey::RsaB,
        Some(kid),
    ));
    let code = flow
        .callback(op, &format!("code=the-code&state={state}"), at)
        .unwrap();
    match code.token_exchange(op, at).unwrap().respond(response, at) {
        Err(e) => (Err(e), false),
        Ok(Verified::Done(tokens)) => (Ok(tokens), false),
        Ok(Verified::NeedJwks(refetch)) => {
            assert_eq!(refetch.request().uri(), "https://op.example/jwks");
            (refetch.respond(jwks_response(&default_keys()), at), true)
        }
    }
}

fn default_keys() -> Vec<Value> {
    vec![
        TestKey::RsaA.jwk(Some("kid-a"), Some("RS256")),
        TestKey::EcP256.jwk(Some("kid-ec"), None),
    ]
}

fn is_unknown_kid(result: &Result<Tokens, Error>, expected: &str) -> bool {
    matches!(result, Err(Error::IdToken(IdTokenError::UnknownKeyId { kid })) if kid == expected)
}

#[test]
fn review_jwks_refetch_rate_limited_by_default() {
    assert_eq!(Policy::default().jwks_min_refetch_secs, 60);

    // Keys stored at NOW: an unknown kid is refused without a request until NOW + 60.
    let op = operator();
    assert_eq!(op.jwks_fetched_at(), Some(now()));
    for at in [now(), now().plus(59)] {
        let (result, fetched) = login_naming(&op, "kid-new", at);
        assert!(
            !fetched,
            "a refetch {} s after the last",
            at.as_secs() - NOW
        );
        assert!(is_unknown_kid(&result, "kid-new"), "{result:?}");
    }
    let (result, fetched) = login_naming(&op, "kid-new", now().plus(60));
    assert!(fetched, "the spacing is over");
    assert!(is_unknown_kid(&result, "kid-new"), "{result:?}");
    assert_eq!(op.jwks_fetched_at(), Some(now().plus(60)));

    // A context that never stored a key set fetches at once, spacing or not; so does one whose
    // keys were handed over at build time (they were never fetched).
    let fresh = operator_config().build().unwrap();
    assert_eq!(fresh.jwks_fetched_at(), None);
    let (result, fetched) = login_naming(&fresh, "kid-new", now());
    assert!(fetched && is_unknown_kid(&result, "kid-new"), "{result:?}");
    let preloaded = operator_config().keys(default_jwks()).build().unwrap();
    let (result, fetched) = login_naming(&preloaded, "kid-new", now());
    assert!(fetched && is_unknown_kid(&result, "kid-new"), "{result:?}");
}

#[test]
fn review_unknown_kid_per_login_does_not_fetch_per_login() {
    // An operator context with no keys yet, and logins that each present a kid never seen.
    let op = operator_config().build().unwrap();
    let mut fetches = 0;
    for i in 0..20u64 {
        let kid = format!("fresh-kid-{i}");
        let (result, fetched) = login_naming(&op, &kid, now().plus(i));
        fetches += usize::from(fetched);
        assert!(is_unknown_kid(&result, &kid), "login {i}: {result:?}");
        // Only the first one (no key set stored yet) may fetch.
        assert_eq!(fetched, i == 0, "login {i}");
    }
    assert_eq!(fetches, 1);
    // The keys that one fetch stored still verify the operator's own tokens, without a fetch.
    assert_eq!(op.jwks_fetched_at(), Some(now()));
    let outcome = code_step(&op, |s| token_response(&valid_id_token(&s.nonce)));
    assert!(matches!(outcome, Verified::Done(_)), "{outcome:?}");
}

/// No spacing is a per-operator choice the host states (test operators that rotate at once).
#[test]
fn review_jwks_refetch_spacing_zero_is_explicit() {
    let mut policy = Policy::default();
    policy.jwks_min_refetch_secs = 0;
    let op = built_with_keys(operator_config().policy(policy));
    for i in 0..3 {
        let (result, fetched) = login_naming(&op, &format!("kid-{i}"), now());
        assert!(fetched, "login {i}");
        assert!(is_unknown_kid(&result, &format!("kid-{i}")));
    }
}
