//! Property tests of every parser of mc-core: no panic on arbitrary input (bytes, strings,
//! arbitrary JSON values and structure-aware JSON), and round trips of generated valid inputs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

use std::collections::BTreeSet;

use mc_core::discovery::ttl_expiry;
use mc_core::userinfo::parse_www_authenticate;
use mc_core::{
    Algorithm, AuthorizeOptions, Authorizing, CallbackError, CodeReceived, DiscoveryAnswer,
    DiscoveryOutcome, DiscoveryQuery, Endpoint, Error, Exchange as _, IdTokenError, Jwks, KeyType,
    LoginHint, MccMnc, Msisdn, Profile, ProtocolError, ProviderMetadata, SelectionReturn,
    SubscriberId, TokenResponse, UnixTime, Verified, wire,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const MIN_TTL: u64 = 5 * 60;
const MAX_TTL: u64 = 180 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Member names the parsers look at, so that arbitrary objects often hit a real field.
const KEYS: &[&str] = &[
    "keys",
    "kty",
    "kid",
    "use",
    "alg",
    "n",
    "e",
    "crv",
    "x",
    "y",
    "k",
    "ttl",
    "response",
    "links",
    "link",
    "rel",
    "href",
    "apis",
    "operatorid",
    "client_id",
    "client_secret",
    "client_name",
    "applicationShortName",
    "subscriber_id",
    "serving_operator",
    "error",
    "error_description",
    "description",
    "error_uri",
    "correlation_id",
    "access_token",
    "token_type",
    "expires_in",
    "id_token",
    "refresh_token",
    "scope",
    "issuer",
    "mobile_connect_version_supported",
    "claims_parameter_supported",
    "scopes_supported",
    "login_hint_methods_supported",
    "sub",
    "op",
    "state",
    "nonce",
    "pkce",
    "redirect_uri",
    "version",
    "issued_at",
    "flow",
    "code",
];

/// String values the parsers give meaning to.
const WORDS: &[&str] = &[
    "RSA",
    "EC",
    "oct",
    "P-256",
    "P-384",
    "sig",
    "enc",
    "RS256",
    "PS384",
    "ES256",
    "HS256",
    "none",
    "Bearer",
    "bearer",
    "3600",
    " 3600 ",
    "1e3",
    "-1",
    "1",
    "true",
    "yes",
    "openid",
    "openid mc_authn",
    "mc_v1.2",
    "operatorSelection",
    "applicationShortName",
    "authorization",
    "https://op.example/x",
    "AQAB",
    "",
];

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(WORDS).prop_map(|s| Value::String(s.to_owned())),
    ]
}

/// Arbitrary JSON values (recursive: arrays and objects up to depth 4).
fn arb_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

/// Arbitrary bytes, JSON-ish text, and serialized arbitrary JSON.
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        arb_bytes(),
        "[ -~\\n\\r\\t]{0,200}".prop_map(String::into_bytes),
        arb_json().prop_map(|v| v.to_string().into_bytes()),
    ]
}

fn key_strategy() -> impl Strategy<Value = TestKey> {
    prop::sample::select(vec![
        TestKey::RsaA,
        TestKey::RsaB,
        TestKey::Rsa1024,
        TestKey::EcP256,
    ])
}

fn alg_name(alg: Algorithm) -> String {
    format!("{alg:?}")
}

const RSA_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// A usable JWK of a test key: a kid (or none) and an `alg` fitting the key (or none).
fn good_jwk() -> impl Strategy<Value = (TestKey, Option<String>, Option<Algorithm>)> {
    (key_strategy(), proptest::option::of("[A-Za-z0-9_-]{1,12}")).prop_flat_map(|(key, kid)| {
        let alg = if key == TestKey::EcP256 {
            proptest::option::of(Just(Algorithm::ES256)).boxed()
        } else {
            proptest::option::of(prop::sample::select(RSA_ALGS)).boxed()
        };
        (Just(key), Just(kid), alg)
    })
}

/// JWK entries mc-core must skip (and count), never fail on.
fn junk_jwk() -> impl Strategy<Value = Value> {
    let mut enc = TestKey::RsaA.jwk(Some("enc-key"), None);
    enc["use"] = json!("enc");
    let mismatched_alg = TestKey::RsaB.jwk(Some("bad-alg"), Some("ES256"));
    let ec_rs = TestKey::EcP256.jwk(Some("ec-rs"), Some("RS256"));
    let bogus_alg = TestKey::RsaA.jwk(Some("bogus"), Some("XX999"));
    let mut p521 = TestKey::EcP256.jwk(Some("p521"), None);
    p521["crv"] = json!("P-521");
    let mut short_x = TestKey::EcP256.jwk(Some("short-x"), None);
    short_x["x"] = json!("AAAA");
    prop::sample::select(vec![
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
        json!({"kty": "AAA", "kid": "PHPOP-99"}),
        json!({"kty": "RSA", "use": "sig", "kid": "no-modulus"}),
        json!({"kid": "no-kty"}),
        json!(7),
        json!("a string"),
        Value::Null,
        json!([]),
        enc,
        mismatched_alg,
        ec_rs,
        bogus_alg,
        p521,
        short_x,
    ])
}

#[derive(Clone, Debug)]
enum Entry {
    Good(TestKey, Option<String>, Option<Algorithm>),
    Junk(Value),
}

fn jwk_value(key: TestKey, kid: Option<&str>, alg: Option<Algorithm>) -> Value {
    key.jwk(kid, alg.map(alg_name).as_deref())
}

/// A valid id_token for this login, signed with `key` under `alg` and header `kid`.
fn signed_for(nonce: &str, alg: Algorithm, key: TestKey, kid: Option<&str>) -> String {
    let mut claims = valid_claims(nonce);
    claims["at_hash"] = json!(mc_core::id_token::at_hash(ACCESS_TOKEN, alg).unwrap());
    sign(&claims, alg, key, kid)
}

fn valid_id_token(nonce: &str) -> String {
    signed_for(nonce, Algorithm::RS256, TestKey::RsaA, Some("kid-a"))
}

fn form(pairs: &[(String, String)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (n, v) in pairs {
        ser.append_pair(n, v);
    }
    ser.finish()
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// (a) No panic on arbitrary input: always Ok or a typed Err
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn jwks_parse_never_panics(body in arb_body()) {
        if let Ok(jwks) = Jwks::parse(&body) {
            prop_assert!(jwks.keys().len() <= wire::MAX_JWKS_KEYS);
        }
    }

    #[test]
    fn metadata_parse_never_panics(body in arb_body()) {
        let _ = ProviderMetadata::parse(&body);
    }

    #[test]
    fn token_response_parse_never_panics(body in arb_body()) {
        if let Ok(parsed) = TokenResponse::parse(&body) {
            // A parsed response always holds a non-empty access token.
            prop_assert!(!parsed.access_token().unwrap().expose_secret().is_empty());
        }
    }

    #[test]
    fn discovery_answer_parse_never_panics(body in arb_body(), now in 0u64..5_000_000_000) {
        let now = UnixTime::from_secs(now);
        if let Ok(DiscoveryOutcome::Found(answer)) = DiscoveryAnswer::parse(&body, &mut entropy(), now) {
            prop_assert!(!answer.client_id.is_empty());
            prop_assert!(answer.expires_at >= now.plus(MIN_TTL));
            prop_assert!(answer.expires_at <= now.plus(MAX_TTL));
        }
    }

    #[test]
    fn error_body_parse_never_panics(body in arb_body(), status in proptest::option::of(100u16..600)) {
        if let Some(error) = wire::parse_error_body(Endpoint::Token, status, &body) {
            prop_assert_eq!(error.status, status);
            prop_assert_eq!(error.endpoint, Endpoint::Token);
        }
    }

    #[test]
    fn selection_return_parse_never_panics(query in prop_oneof![".{0,200}", "[a-z_=&?%0-9]{0,80}"]) {
        if let Ok(ret) = SelectionReturn::parse(&query, selection_leg(), now())
            && let Some(mcc_mnc) = &ret.mcc_mnc
        {
            prop_assert_eq!(mcc_mnc.mcc().len(), 3);
            prop_assert!(matches!(mcc_mnc.mnc().len(), 2 | 3));
        }
    }

    #[test]
    fn mcc_mnc_parse_never_panics(value in prop_oneof![".{0,12}", "[0-9_]{0,8}"]) {
        if let Ok(parsed) = MccMnc::parse(&value) {
            // Only `ddd_dd` or `ddd_ddd` is accepted, and it prints back as given.
            prop_assert_eq!(parsed.to_string(), value);
        }
    }

    #[test]
    fn www_authenticate_parse_never_panics(value in prop_oneof![
        ".{0,120}",
        "[Bb][Ee][Aa][Rr][Ee][Rr][ ,=\"\\\\a-z_]{0,60}",
    ], status in 100u16..600) {
        if let Some(error) = parse_www_authenticate(Endpoint::UserInfo, status, &value) {
            prop_assert_eq!(error.status, Some(status));
        }
    }

    #[test]
    fn ttl_expiry_is_always_clamped(ttl in proptest::option::of(any::<u64>()), now in 0u64..5_000_000_000) {
        let now = UnixTime::from_secs(now);
        let expiry = ttl_expiry(ttl, now);
        prop_assert!(expiry >= now.plus(MIN_TTL));
        prop_assert!(expiry <= now.plus(MAX_TTL));
    }

    #[test]
    fn ttl_expiry_never_panics_near_the_end_of_time(ttl in proptest::option::of(any::<u64>()), now in any::<u64>()) {
        let _ = ttl_expiry(ttl, UnixTime::from_secs(now));
    }

    #[test]
    fn callback_with_arbitrary_query_is_rejected(query in prop_oneof![
        ".{0,200}",
        "[a-z_=&?%0-9]{0,120}",
        "(state|code|error|iss)=[a-zA-Z0-9]{0,10}(&(state|code|error|iss)=[a-zA-Z0-9]{0,10}){0,4}",
    ]) {
        let op = operator();
        let started = start(&op, AuthorizeOptions::new());
        // Nothing random can carry this login's 256-bit state.
        prop_assert!(started.flow.callback(&op, &query, now()).is_err());
    }

    #[test]
    fn authorizing_from_arbitrary_json_never_panics(value in arb_json()) {
        let text = value.to_string();
        if let Ok(flow) = serde_json::from_str::<Authorizing>(&text) {
            let op = operator();
            let _ = flow.callback(&op, "code=c&state=s", now());
        }
        let _ = serde_json::from_str::<CodeReceived>(&text);
    }
}

// The lenient reader's rules (`wire::lenient`), stated on `Value`s for the documents: `None`
// for JSON `null` (absent in a document), `Some(Err(()))` for a present value it refuses
// (never read as absent), `Some(Ok(_))` for what it reads.

fn lenient_seconds(value: &Value) -> Option<Result<u64, ()>> {
    let float = |f: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (f.is_finite() && (0.0..18_446_744_073_709_551_616.0).contains(&f))
            .then(|| f.trunc() as u64)
            .ok_or(())
    };
    match value {
        Value::Null => None,
        Value::Number(n) => Some(match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(u),
            (None, Some(f)) => float(f),
            _ => Err(()),
        }),
        Value::String(s) => {
            let s = s.trim();
            Some(
                s.parse::<u64>()
                    .or_else(|_| s.parse::<f64>().map_err(drop).and_then(float)),
            )
        }
        _ => Some(Err(())),
    }
}

fn lenient_flag(value: &Value) -> Option<Result<bool, ()>> {
    let word = |s: &str, words: [&str; 3]| words.iter().any(|w| s.trim().eq_ignore_ascii_case(w));
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(Ok(*b)),
        Value::Number(n) => Some(match n.as_u64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(()),
        }),
        Value::String(s) if word(s, ["true", "1", "yes"]) => Some(Ok(true)),
        Value::String(s) if word(s, ["false", "0", "no"]) => Some(Ok(false)),
        _ => Some(Err(())),
    }
}

fn lenient_list(value: &Value) -> Option<Result<Vec<String>, ()>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Ok(vec![s.clone()])),
        Value::Array(items) => Some(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or(()))
                .collect(),
        ),
        _ => Some(Err(())),
    }
}

fn lenient_versions(value: &Value) -> Option<Result<Vec<(String, String)>, ()>> {
    let object = |v: &Value| -> Result<Vec<(String, String)>, ()> {
        v.as_object()
            .ok_or(())?
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())).ok_or(()))
            .collect()
    };
    match value {
        Value::Null => None,
        Value::Object(_) => Some(object(value)),
        Value::Array(items) => Some(
            items
                .iter()
                .map(object)
                .collect::<Result<Vec<_>, ()>>()
                .map(|lists| lists.concat()),
        ),
        _ => Some(Err(())),
    }
}

// Arbitrary JSON values in the exact places each parser reads, to reach the lenient readers.
proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn jwks_with_arbitrary_entries_counts_every_entry(entries in prop::collection::vec(arb_json(), 0..8)) {
        let body = serde_json::to_vec(&json!({ "keys": entries })).unwrap();
        let jwks = Jwks::parse(&body).unwrap();
        prop_assert_eq!(jwks.keys().len() + jwks.skipped(), entries.len());
    }

    #[test]
    fn jwks_members_of_any_type_never_panic_on_verify(
        kty in prop::sample::select(vec!["RSA", "EC", "oct", "AAA"]),
        members in prop::collection::btree_map(
            prop::sample::select(vec!["n", "e", "crv", "x", "y", "alg", "use", "k"]),
            prop_oneof![
                arb_json(),
                "[A-Za-z0-9_-]{0,90}".prop_map(Value::String),
                prop::sample::select(vec!["P-256", "P-384", "RS256", "ES256", "sig", "AQAB"])
                    .prop_map(|s| Value::String(s.to_owned())),
            ],
            0..8,
        ),
    ) {
        let mut jwk = serde_json::Map::new();
        jwk.insert("kty".into(), json!(kty));
        jwk.insert("kid".into(), json!("kid-a"));
        for (name, value) in members {
            jwk.insert(name.to_owned(), value);
        }
        let jwks = Jwks::parse(&jwks_body(&[Value::Object(jwk)])).unwrap();
        let op = operator();
        op.set_jwks(jwks, now());
        // Signed by RSA A as kid-a: only RSA A's own modulus could verify it, never these.
        let result = token_step(&op, AuthorizeOptions::new(), |s| token_response(&valid_id_token(&s.nonce)));
        prop_assert!(matches!(result, Err(Error::IdToken(_))), "{:?}", result.map(|t| t.sub().to_owned()));
    }

    #[test]
    fn discovery_ttl_of_any_json_type_is_clamped_or_refused(ttl in prop_oneof![
        arb_json(),
        any::<u64>().prop_map(|n| json!(n.to_string())),
        (0.0f64..1e12).prop_map(|f| json!(f)),
    ]) {
        let body = serde_json::to_vec(&json!({
            "ttl": ttl,
            "response": { "client_id": "c", "client_secret": "s" },
        })).unwrap();
        let reread: Value = serde_json::from_slice(&body).unwrap();
        match (DiscoveryAnswer::parse(&body, &mut entropy(), now()), lenient_seconds(&reread["ttl"])) {
            (Ok(DiscoveryOutcome::Found(answer)), None | Some(Ok(_))) => {
                prop_assert!(answer.expires_at >= now().plus(MIN_TTL));
                prop_assert!(answer.expires_at <= now().plus(MAX_TTL));
            }
            // Present but unreadable: the answer is refused, never given the default ttl.
            (Err(Error::Protocol(ProtocolError::MalformedJson { .. })), Some(Err(()))) => {}
            (other, expected) => prop_assert!(false, "ttl {}: got {:?}, reader rule {:?}", ttl, other, expected),
        }
    }

    #[test]
    fn discovery_with_arbitrary_members_never_panics(
        response in arb_json(), links in arb_json(), subscriber in arb_json(), ttl in arb_json(),
    ) {
        let body = serde_json::to_vec(&json!({
            "ttl": ttl, "response": response, "links": links, "subscriber_id": subscriber,
        })).unwrap();
        let _ = DiscoveryAnswer::parse(&body, &mut entropy(), now());
    }

    #[test]
    fn token_expires_in_of_any_json_type_is_read_or_refused(
        expires_in in prop_oneof![
            arb_json(),
            any::<u64>().prop_map(|n| json!(n.to_string())),
            (0.0f64..1e20).prop_map(|f| json!(f)),
        ],
        refresh in arb_json(),
    ) {
        let body = serde_json::to_vec(&json!({
            "access_token": "at", "token_type": "Bearer", "expires_in": expires_in,
        })).unwrap();
        // The rule applied to the value as serde_json reads the text back (its float parsing is
        // not always exact).
        let reread: Value = serde_json::from_slice(&body).unwrap();
        match (TokenResponse::parse(&body), lenient_seconds(&reread["expires_in"])) {
            (Ok(parsed), None) => prop_assert_eq!(parsed.expires_in(), None),
            (Ok(parsed), Some(Ok(secs))) => prop_assert_eq!(parsed.expires_in(), Some(secs)),
            // Never silently "no expiry".
            (Err(ProtocolError::InvalidField { field: "expires_in", .. }), Some(Err(()))) => {}
            (other, expected) => prop_assert!(false, "expires_in {}: got {:?}, reader rule {:?}", expires_in, other, expected),
        }
        let body = serde_json::to_vec(&json!({
            "access_token": "at", "refresh_token": refresh, "id_token": refresh,
        })).unwrap();
        let _ = TokenResponse::parse(&body);
    }

    #[test]
    fn metadata_lenient_members_of_any_type_are_read_or_refused(
        versions in prop_oneof![
            arb_json(),
            prop::collection::vec(
                prop::collection::btree_map("[a-z_ ]{1,12}", "[a-z0-9_.]{1,8}", 0..2), 0..3,
            ).prop_map(|v| json!(v)),
        ],
        flag in prop_oneof![
            arb_json(),
            prop::sample::select(vec!["1", "0", "true", "FALSE", " yes ", "no", "2"]).prop_map(|s| json!(s)),
            (0u64..3).prop_map(|n| json!(n)),
        ],
        list in prop_oneof![arb_json(), prop::collection::vec("[a-z0-9]{0,6}", 0..4).prop_map(|v| json!(v))],
    ) {
        let body = serde_json::to_vec(&json!({
            "issuer": ISSUER,
            "mobile_connect_version_supported": versions,
            "claims_parameter_supported": flag,
            "mc_claims_parameter_supported": flag,
            "authorization_response_iss_parameter_supported": flag,
            "scopes_supported": list,
            "acr_values_supported": list,
            "login_hint_methods_supported": list,
            "mc_version": list,
        })).unwrap();
        let metadata = ProviderMetadata::parse(&body);
        let (versions, flag, list) = (lenient_versions(&versions), lenient_flag(&flag), lenient_list(&list));
        let readable = versions.as_ref().is_none_or(Result::is_ok)
            && flag.as_ref().is_none_or(Result::is_ok)
            && list.as_ref().is_none_or(Result::is_ok);
        if !readable {
            // Present but unreadable: refused, never read as absent.
            prop_assert!(
                matches!(metadata, Err(ProtocolError::MalformedJson { .. })),
                "{:?}", metadata
            );
            return Ok(());
        }
        prop_assert!(metadata.is_ok(), "{:?}", metadata);
        let metadata = metadata.unwrap();
        prop_assert_eq!(&metadata.mobile_connect_version_supported, &versions.and_then(Result::ok).unwrap_or_default());
        prop_assert_eq!(metadata.claims_parameter_supported, flag.and_then(Result::ok));
        prop_assert_eq!(&metadata.acr_values_supported, &list.and_then(Result::ok).unwrap_or_default());
        let _ = metadata.version_for_scope(&["openid".to_owned()]);
        let _ = metadata.supports_login_hint("ENCR_MSISDN");
    }

    #[test]
    fn error_body_with_arbitrary_members(error in arb_json(), d1 in arb_json(), d2 in arb_json()) {
        let body = serde_json::to_vec(&json!({
            "error": error, "error_description": d1, "description": d2,
        })).unwrap();
        let parsed = wire::parse_error_body(Endpoint::Discovery, Some(400), &body);
        let string_or_null = |v: &Value| matches!(v, Value::String(_) | Value::Null);
        if !matches!(error, Value::String(_)) {
            prop_assert!(parsed.is_none());
        } else if string_or_null(&d1) && string_or_null(&d2) {
            let parsed = parsed.unwrap();
            prop_assert_eq!(Some(parsed.error.as_str()), error.as_str());
            let expected = d1.as_str().or(d2.as_str()).map(str::to_owned);
            prop_assert_eq!(parsed.description, expected);
        }
    }
}

// Whole exchanges fed arbitrary responses.
proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn discovery_exchange_never_panics(
        status in prop_oneof![
            prop::sample::select(vec![200u16, 202, 301, 302, 303, 307, 400, 401, 404, 500]),
            100u16..600,
        ],
        location in proptest::option::of("[ -~]{0,60}"),
        body in arb_body(),
    ) {
        let exchange = discovery_service().discover(&DiscoveryQuery::by_ip_or_selection(), &mut entropy()).unwrap();
        let mut response = http::Response::builder()
            .status(status)
            .header("content-type", "application/json");
        if let Some(location) = &location {
            response = response.header("location", location.as_str());
        }
        let response = response.body(body).unwrap();
        let _ = exchange.respond(response, now());
    }

    #[test]
    fn userinfo_exchange_never_panics(
        status in prop_oneof![Just(200u16), Just(401u16), 100u16..600],
        content_type in prop::sample::select(vec![
            "application/json", "application/jwt", "text/html", "application/json; charset=utf-8",
        ]),
        www_authenticate in proptest::option::of("[ -~]{0,80}"),
        body in prop_oneof![
            arb_body(),
            arb_json().prop_map(|mut v| {
                if let Value::Object(map) = &mut v {
                    map.insert("sub".into(), json!(SUB));
                }
                v.to_string().into_bytes()
            }),
            "eyJ[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}".prop_map(String::into_bytes),
        ],
    ) {
        let op = operator();
        let tokens = verify_claims(&op, |_| {}).unwrap();
        let exchange = tokens.userinfo(&op).unwrap();
        let mut response = http::Response::builder()
            .status(status)
            .header("content-type", content_type);
        if let Some(value) = &www_authenticate {
            response = response.header("www-authenticate", value.as_str());
        }
        let response = response.body(body).unwrap();
        if let Ok(Verified::Done(info)) = exchange.respond(response, now()) {
            prop_assert_eq!(info.sub(), SUB);
            prop_assert_eq!(info.claim_str("sub"), Some(SUB));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Valid generated inputs round-trip
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn jwks_round_trip_keeps_usable_keys_in_order(
        entries in prop::collection::vec(prop_oneof![
            3 => good_jwk().prop_map(|(k, kid, alg)| Entry::Good(k, kid, alg)),
            1 => junk_jwk().prop_map(Entry::Junk),
        ], 0..10),
    ) {
        let values: Vec<Value> = entries.iter().map(|e| match e {
            Entry::Good(key, kid, alg) => jwk_value(*key, kid.as_deref(), *alg),
            Entry::Junk(v) => v.clone(),
        }).collect();
        let jwks = Jwks::parse(&jwks_body(&values)).unwrap();
        let good: Vec<_> = entries.iter().filter_map(|e| match e {
            Entry::Good(key, kid, alg) => Some((*key, kid.clone(), *alg)),
            Entry::Junk(_) => None,
        }).collect();
        let kids: Vec<Option<String>> = jwks.keys().iter().map(|k| k.kid().map(str::to_owned)).collect();
        let expected_kids: Vec<Option<String>> = good.iter().map(|(_, kid, _)| kid.clone()).collect();
        prop_assert_eq!(kids, expected_kids);
        prop_assert_eq!(jwks.skipped(), entries.len() - good.len());
        prop_assert_eq!(jwks.is_empty(), good.is_empty());
        for (parsed, (key, _, alg)) in jwks.keys().iter().zip(&good) {
            let expected_type = if *key == TestKey::EcP256 { KeyType::P256 } else { KeyType::Rsa };
            prop_assert_eq!(parsed.key_type(), expected_type);
            let default_alg = if *key == TestKey::EcP256 { Algorithm::ES256 } else { Algorithm::RS256 };
            prop_assert!(parsed.usable_for(alg.unwrap_or(default_alg)));
            prop_assert!(!parsed.usable_for(Algorithm::HS256));
            if let Some(alg) = alg {
                // A JWK's own alg restricts the key to exactly that algorithm.
                for other in RSA_ALGS.iter().chain([Algorithm::ES256].iter()) {
                    prop_assert_eq!(parsed.usable_for(*other), other == alg);
                }
            }
        }

        // The key set verifies a token signed by any of its (strong) keys.
        if let Some((key, kid, alg)) = good.iter().find(|(k, _, _)| *k != TestKey::Rsa1024) {
            let default_alg = if *key == TestKey::EcP256 { Algorithm::ES256 } else { Algorithm::RS256 };
            let alg = alg.unwrap_or(default_alg);
            let op = operator_with_policy(|_| {});
            op.set_jwks(jwks, now());
            let tokens = token_step(&op, AuthorizeOptions::new(), |s| {
                token_response(&signed_for(&s.nonce, alg, *key, kid.as_deref()))
            });
            prop_assert!(tokens.is_ok(), "{:?}", tokens.err());
            let tokens = tokens.unwrap();
            prop_assert_eq!(tokens.id_token().alg(), alg);
            prop_assert_eq!(tokens.id_token().kid(), kid.as_deref());
        }
    }
}

#[test]
fn jwks_over_the_key_bound_is_refused() {
    let keys: Vec<Value> = (0..=wire::MAX_JWKS_KEYS)
        .map(|i| TestKey::RsaA.jwk(Some(&format!("k{i}")), None))
        .collect();
    match Jwks::parse(&jwks_body(&keys)) {
        Err(ProtocolError::TooManyKeys { limit, found }) => {
            assert_eq!(limit, wire::MAX_JWKS_KEYS);
            assert_eq!(found, wire::MAX_JWKS_KEYS + 1);
        }
        other => panic!("expected TooManyKeys, got {other:?}"),
    }
    let keys = &keys[..wire::MAX_JWKS_KEYS];
    assert_eq!(
        Jwks::parse(&jwks_body(keys)).unwrap().keys().len(),
        wire::MAX_JWKS_KEYS
    );
}

/// How a generated discovery `ttl` is written.
#[derive(Clone, Debug)]
enum Ttl {
    Absent,
    Seconds(i64),
    Millis(i64, u16),
}

fn ttl_strategy() -> impl Strategy<Value = (Ttl, u8)> {
    // Offsets from NOW: in the past, in the clamping window, and beyond 180 days.
    let offset = prop_oneof![
        -400_000_000i64..400_000_000,
        -1_000i64..1_000,
        (MAX_TTL as i64 - 1_000)..(MAX_TTL as i64 + 1_000),
        (MIN_TTL as i64 - 100)..(MIN_TTL as i64 + 100),
    ];
    (
        prop_oneof![
            1 => Just(Ttl::Absent),
            3 => offset.clone().prop_map(Ttl::Seconds),
            3 => (offset, 0u16..1000).prop_map(|(o, ms)| Ttl::Millis(o, ms)),
        ],
        0u8..4,
    )
}

impl Ttl {
    /// The JSON `ttl` member (number, numeric string, float) and the expected expiry.
    fn render(&self, style: u8) -> (Option<Value>, u64) {
        let (raw, secs) = match *self {
            Ttl::Absent => return (None, NOW + MIN_TTL),
            Ttl::Seconds(offset) => {
                let secs = (NOW as i64 + offset) as u64;
                (secs, secs)
            }
            Ttl::Millis(offset, ms) => {
                let secs = (NOW as i64 + offset) as u64;
                (secs * 1000 + u64::from(ms), secs)
            }
        };
        let value = match style {
            0 => json!(raw),
            1 => json!(raw.to_string()),
            2 => json!(format!(" {raw} ")),
            _ => json!(raw as f64),
        };
        (Some(value), secs.clamp(NOW + MIN_TTL, NOW + MAX_TTL))
    }
}

#[derive(Clone, Debug)]
struct GenAnswer {
    client_id: String,
    client_secret: String,
    serving_operator: Option<String>,
    country: Option<String>,
    currency: Option<String>,
    client_name: Option<String>,
    short_name_member: Option<String>,
    links: Vec<(String, String)>,
    subscriber_top: Option<String>,
    subscriber_response: Option<String>,
    correlation_id: Option<String>,
    ttl: (Ttl, u8),
}

fn rel_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "authorization",
            "token",
            "userinfo",
            "premiuminfo",
            "jwks",
            "openid-configuration",
            "tokenrevoke",
            "tokenrefresh",
            "scope",
            "applicationShortName",
            "operatorSelection",
        ])
        .prop_map(str::to_owned),
        ".{0,12}",
    ]
}

fn gen_answer() -> impl Strategy<Value = GenAnswer> {
    let opt = || proptest::option::of(".{0,16}");
    (
        (".{1,24}", ".{0,24}", opt(), opt(), opt(), opt(), opt()),
        (
            prop::collection::vec((rel_strategy(), ".{0,40}"), 0..8),
            opt(),
            opt(),
            opt(),
            ttl_strategy(),
        ),
    )
        .prop_map(
            |(
                (client_id, client_secret, serving_operator, country, currency, name, short),
                (links, subscriber_top, subscriber_response, correlation_id, ttl),
            )| GenAnswer {
                client_id,
                client_secret,
                serving_operator,
                country,
                currency,
                client_name: name,
                short_name_member: short,
                links,
                subscriber_top,
                subscriber_response,
                correlation_id,
                ttl,
            },
        )
}

impl GenAnswer {
    fn body(&self) -> (Vec<u8>, u64) {
        let mut response = serde_json::Map::new();
        response.insert("client_id".into(), json!(self.client_id));
        response.insert("client_secret".into(), json!(self.client_secret));
        let mut put = |name: &str, value: &Option<String>| {
            if let Some(value) = value {
                response.insert(name.into(), json!(value));
            }
        };
        put("serving_operator", &self.serving_operator);
        put("country", &self.country);
        put("currency", &self.currency);
        put("client_name", &self.client_name);
        put("applicationShortName", &self.short_name_member);
        put("subscriber_id", &self.subscriber_response);
        let links: Vec<Value> = self
            .links
            .iter()
            .map(|(rel, href)| json!({ "href": href, "rel": rel }))
            .collect();
        response.insert("apis".into(), json!({ "operatorid": { "link": links } }));
        let mut top = serde_json::Map::new();
        top.insert("response".into(), Value::Object(response));
        let (ttl, expected) = self.ttl.0.render(self.ttl.1);
        if let Some(ttl) = ttl {
            top.insert("ttl".into(), ttl);
        }
        if let Some(s) = &self.subscriber_top {
            top.insert("subscriber_id".into(), json!(s));
        }
        if let Some(c) = &self.correlation_id {
            top.insert("correlation_id".into(), json!(c));
        }
        (serde_json::to_vec(&Value::Object(top)).unwrap(), expected)
    }
}

fn https_url() -> impl Strategy<Value = String> {
    (
        "[a-z]{1,10}(\\.[a-z]{1,6}){1,2}",
        "(/[a-zA-Z0-9_.-]{0,8}){0,3}",
        "[a-zA-Z0-9-]{0,20}",
    )
        .prop_map(|(host, path, session)| format!("https://{host}{path}?session_id={session}"))
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn discovery_answer_round_trip(generated in gen_answer()) {
        let (body, expected_expiry) = generated.body();
        let answer = match DiscoveryAnswer::parse(&body, &mut entropy(), now()) {
            Ok(DiscoveryOutcome::Found(answer)) => answer,
            other => return Err(TestCaseError::fail(format!("expected Found, got {other:?}"))),
        };
        prop_assert_eq!(&answer.client_id, &generated.client_id);
        prop_assert_eq!(answer.client_secret.expose_secret(), generated.client_secret.as_str());
        prop_assert_eq!(&answer.serving_operator, &generated.serving_operator);
        prop_assert_eq!(&answer.country, &generated.country);
        prop_assert_eq!(&answer.currency, &generated.currency);
        prop_assert_eq!(&answer.links, &generated.links);
        prop_assert_eq!(&answer.correlation_id, &generated.correlation_id);
        let expected_name = generated.client_name.clone()
            .or_else(|| generated.short_name_member.clone())
            .or_else(|| generated.links.iter().find(|(r, _)| r == "applicationShortName").map(|(_, h)| h.clone()));
        prop_assert_eq!(&answer.client_name, &expected_name);
        let expected_subscriber = generated.subscriber_top.clone().or_else(|| generated.subscriber_response.clone());
        prop_assert_eq!(answer.subscriber_id.as_ref().map(|s| s.expose_secret().to_owned()), expected_subscriber);
        prop_assert_eq!(answer.expires_at.as_secs(), expected_expiry);
        prop_assert!(answer.expires_at >= now().plus(MIN_TTL) && answer.expires_at <= now().plus(MAX_TTL));
        for (rel, _) in &generated.links {
            let first = generated.links.iter().find(|(r, _)| r == rel).map(|(_, h)| h.as_str());
            prop_assert_eq!(answer.link(rel), first);
        }
    }

    #[test]
    fn discovery_answer_without_client_id_is_refused(mut generated in gen_answer()) {
        generated.client_id = String::new();
        let (body, _) = generated.body();
        let result = DiscoveryAnswer::parse(&body, &mut entropy(), now());
        prop_assert!(
            matches!(result, Err(Error::Protocol(ProtocolError::MissingField { field: "client_id", .. }))),
            "{:?}", result
        );
    }

    #[test]
    fn discovery_ttl_is_clamped(ttl in ttl_strategy()) {
        let (ttl_value, expected) = ttl.0.render(ttl.1);
        let mut body = json!({ "response": { "client_id": "c", "client_secret": "s" } });
        if let Some(value) = ttl_value {
            body["ttl"] = value;
        }
        match DiscoveryAnswer::parse(&serde_json::to_vec(&body).unwrap(), &mut entropy(), now()) {
            Ok(DiscoveryOutcome::Found(answer)) => {
                prop_assert_eq!(answer.expires_at.as_secs(), expected);
            }
            other => prop_assert!(false, "expected Found, got {:?}", other),
        }
    }

    #[test]
    fn operator_selection_round_trip(
        href in https_url(),
        before in prop::collection::vec((".{0,10}".prop_filter("not selection", |r| r != "operatorSelection"), ".{0,20}"), 0..3),
        with_response in any::<bool>(),
    ) {
        let mut links: Vec<Value> = before.iter().map(|(rel, href)| json!({ "rel": rel, "href": href })).collect();
        links.push(json!({ "rel": "operatorSelection", "href": href }));
        let mut body = json!({ "links": links });
        if with_response {
            body["response"] = json!({ "client_id": "c", "client_secret": "s" });
        }
        match DiscoveryAnswer::parse(&serde_json::to_vec(&body).unwrap(), &mut entropy(), now()) {
            Ok(DiscoveryOutcome::OperatorSelection { url, leg }) => {
                // The link, plus the selection leg's `state` for the page to send back.
                let mut expected = url::Url::parse(&href).unwrap();
                expected.query_pairs_mut().append_pair("state", leg.state().expose_secret());
                prop_assert_eq!(url.as_str(), expected.as_str());
            }
            other => prop_assert!(false, "expected OperatorSelection, got {:?}", other),
        }
    }

    #[test]
    fn operator_selection_with_unusable_href_is_refused(href in "[a-z ]{0,20}") {
        let body = json!({ "links": [{ "rel": "operatorSelection", "href": href }] });
        let result = DiscoveryAnswer::parse(&serde_json::to_vec(&body).unwrap(), &mut entropy(), now());
        prop_assert!(
            matches!(result, Err(Error::Protocol(ProtocolError::InvalidField { field: "operatorSelection", .. }))),
            "{:?}", result
        );
    }

    #[test]
    fn error_body_round_trip(
        error in ".{0,20}",
        error_description in proptest::option::of(".{0,30}"),
        description in proptest::option::of(".{0,30}"),
        uri in proptest::option::of(".{0,30}"),
        correlation_id in proptest::option::of(".{0,30}"),
        extra in prop::collection::btree_map("x_[a-z]{1,8}", arb_json(), 0..4),
        status in proptest::option::of(100u16..600),
    ) {
        let mut body = serde_json::Map::new();
        body.insert("error".into(), json!(error));
        for (name, value) in [
            ("error_description", &error_description),
            ("description", &description),
            ("error_uri", &uri),
            ("correlation_id", &correlation_id),
        ] {
            if let Some(value) = value {
                body.insert(name.into(), json!(value));
            }
        }
        for (name, value) in extra {
            body.insert(name, value);
        }
        let parsed = wire::parse_error_body(Endpoint::Discovery, status, &serde_json::to_vec(&body).unwrap()).unwrap();
        prop_assert_eq!(&parsed.error, &error);
        prop_assert!(parsed.is(&error));
        prop_assert_eq!(&parsed.description, &error_description.or(description));
        prop_assert_eq!(&parsed.uri, &uri);
        prop_assert_eq!(&parsed.correlation_id, &correlation_id);
        prop_assert_eq!(parsed.status, status);
    }

    #[test]
    fn www_authenticate_round_trip(
        scheme in prop::sample::select(vec!["Bearer", "bearer", "BEARER", " Bearer"]),
        realm in proptest::option::of("[a-z]{1,10}"),
        error in "[A-Za-z0-9_.-]{1,20}",
        description in proptest::option::of("[ -~]{0,30}"),
        quote_error in any::<bool>(),
        eq in prop::sample::select(vec!["=", " = ", "= ", " ="]),
        sep in prop::sample::select(vec![", ", ",", " , ", ",  "]),
        status in 400u16..600,
    ) {
        let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut params = Vec::new();
        if let Some(realm) = &realm {
            params.push(format!("realm{eq}{}", quoted(realm)));
        }
        params.push(format!("error{eq}{}", if quote_error { quoted(&error) } else { error.clone() }));
        if let Some(description) = &description {
            params.push(format!("error_description{eq}{}", quoted(description)));
        }
        let value = format!("{scheme} {}", params.join(sep));
        let parsed = parse_www_authenticate(Endpoint::UserInfo, status, &value);
        prop_assert!(parsed.is_some(), "{}", value);
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed.error, &error, "{}", value);
        prop_assert_eq!(&parsed.description, &description, "{}", value);
        prop_assert_eq!(parsed.status, Some(status));
    }

    #[test]
    fn www_authenticate_other_schemes_are_ignored(
        scheme in prop::sample::select(vec!["Basic", "Digest", "DPoP", "Negotiate", "Bearerx"]),
    ) {
        let value = format!("{scheme} error=\"invalid_token\"");
        // "Bearerx" starts with "Bearer": reading it as Bearer is tolerable, the others are not.
        if scheme != "Bearerx" {
            prop_assert!(parse_www_authenticate(Endpoint::UserInfo, 401, &value).is_none());
        }
    }
}

fn reserved(name: &str) -> bool {
    matches!(name, "state" | "code" | "error" | "iss")
}

/// The callback's parameters in random order; `None` marks where this login's state goes.
fn callback_params() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    (
        ".{1,40}",
        prop::collection::btree_map(
            "[a-z_]{1,12}".prop_filter("reserved", |n| !reserved(n)),
            ".{0,30}",
            0..8,
        ),
    )
        .prop_flat_map(|(code, extras)| {
            let mut params: Vec<(String, Option<String>)> =
                vec![("code".to_owned(), Some(code)), ("state".to_owned(), None)];
            params.extend(extras.into_iter().map(|(n, v)| (n, Some(v))));
            Just(params).prop_shuffle()
        })
}

fn render_query(params: &[(String, Option<String>)], state: &str) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().unwrap_or_else(|| state.to_owned())))
        .collect()
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn callback_with_right_state_returns_the_code(
        params in callback_params(),
        leading_question_mark in any::<bool>(),
    ) {
        let op = operator();
        let started = start(&op, AuthorizeOptions::new());
        let flow_json = serde_json::to_value(&started.flow).unwrap();
        let pairs = render_query(&params, &started.state);
        let code = pairs.iter().find(|(n, _)| n == "code").unwrap().1.clone();
        let query = format!("{}{}", if leading_question_mark { "?" } else { "" }, form(&pairs));
        let received = started.flow.callback(&op, &query, now());
        prop_assert!(received.is_ok(), "{:?}", received.err());
        let received = received.unwrap();
        let json = serde_json::to_value(&received).unwrap();
        prop_assert_eq!(&json["code"], &json!(code));
        prop_assert_eq!(&json["flow"], &flow_json);
        // The code goes to the token endpoint unchanged.
        let exchange = received.token_exchange(&op, now()).unwrap();
        let body = form_pairs(exchange.request().body());
        prop_assert_eq!(body.iter().find(|(n, _)| n == "code").map(|(_, v)| v.as_str()), Some(code.as_str()));
    }

    #[test]
    fn callback_with_wrong_state_is_always_state_mismatch(
        params in callback_params(),
        wrong_state in prop_oneof![".{0,50}", "[A-Za-z0-9_-]{43}"],
        with_error in any::<bool>(),
        with_iss in proptest::option::of(".{0,20}"),
    ) {
        let op = operator();
        let started = start(&op, AuthorizeOptions::new());
        prop_assume!(wrong_state != started.state);
        let mut pairs = render_query(&params, &wrong_state);
        if with_error {
            pairs.push(("error".to_owned(), "access_denied".to_owned()));
        }
        if let Some(iss) = with_iss {
            pairs.push(("iss".to_owned(), iss));
        }
        let result = started.flow.callback(&op, &form(&pairs), now());
        prop_assert!(
            matches!(result, Err(Error::Callback(CallbackError::StateMismatch))),
            "{:?}", result
        );
    }

    #[test]
    fn mcc_mnc_round_trip(
        mcc in "[0-9]{3}",
        mnc in "[0-9]{2,3}",
        subscriber in proptest::option::of("[0-9a-f]{1,64}"),
        prefix in prop::sample::select(vec!["", "?"]),
    ) {
        let value = format!("{mcc}_{mnc}");
        let parsed = MccMnc::parse(&value).unwrap();
        prop_assert_eq!(parsed.mcc(), mcc.as_str());
        prop_assert_eq!(parsed.mnc(), mnc.as_str());
        prop_assert_eq!(parsed.to_string(), value.clone());
        prop_assert_eq!(MccMnc::new(&mcc, &mnc).unwrap(), parsed.clone());

        let mut pairs = vec![("mcc_mnc".to_owned(), value)];
        if let Some(s) = &subscriber {
            pairs.push(("subscriber_id".to_owned(), s.clone()));
        }
        let ret = SelectionReturn::parse(&format!("{prefix}{}", form(&pairs)), selection_leg(), now()).unwrap();
        prop_assert_eq!(ret.mcc_mnc.as_ref(), Some(&parsed));
        prop_assert_eq!(ret.subscriber_id.as_ref().map(|s| s.expose_secret().to_owned()), subscriber);
        prop_assert!(ret.discovery_query().is_some());
    }

    #[test]
    fn selection_return_accepts_the_whole_redirect_url(
        mcc in "[0-9]{3}",
        mnc in "[0-9]{2,3}",
        subscriber in "[0-9a-f]{1,64}",
        base in prop::sample::select(vec![
            "http://localhost:8001/", "https://sp.example/discovered", "https://sp.example/a/b",
        ]),
    ) {
        // SelectionReturn::parse documents "a query string (with or without `?`) or the whole
        // redirect URL": both forms must read the same.
        let query = form(&[
            ("mcc_mnc".to_owned(), format!("{mcc}_{mnc}")),
            ("subscriber_id".to_owned(), subscriber),
        ]);
        let from_query = SelectionReturn::parse(&query, selection_leg(), now()).unwrap();
        let from_url = SelectionReturn::parse(&format!("{base}?{query}"), selection_leg(), now());
        prop_assert!(from_url.is_ok(), "{:?}", from_url);
        prop_assert_eq!(from_url.unwrap(), from_query);
    }

    #[test]
    fn malformed_mcc_mnc_is_a_typed_error(
        value in prop_oneof![
            "[0-9]{0,2}_[0-9]{2,3}",
            "[0-9]{4,6}_[0-9]{2,3}",
            "[0-9]{3}_[0-9]{0,1}",
            "[0-9]{3}_[0-9]{4,6}",
            "[0-9]{5,6}",
            "[a-z]{3}_[0-9]{2}",
            "[0-9]{3}_[0-9]{2}_[0-9]{1,2}",
        ],
    ) {
        prop_assert!(matches!(MccMnc::parse(&value), Err(Error::Misuse(_))));
        let result = SelectionReturn::parse(&form(&[("mcc_mnc".to_owned(), value)]), selection_leg(), now());
        prop_assert!(
            matches!(result, Err(Error::Protocol(ProtocolError::InvalidField { field: "mcc_mnc", .. }))),
            "{:?}", result
        );
    }

    #[test]
    fn selection_return_error_is_refused(
        name in prop::sample::select(vec!["error", "err_msg"]),
        error in "[A-Za-z_]{1,20}",
        description in proptest::option::of((prop::sample::select(vec!["error_description", "description"]), ".{0,20}")),
    ) {
        let mut pairs = vec![(name.to_owned(), error.clone()), ("mcc_mnc".to_owned(), "901_01".to_owned())];
        if let Some((n, d)) = &description {
            pairs.push(((*n).to_owned(), d.clone()));
        }
        match SelectionReturn::parse(&form(&pairs), selection_leg(), now()) {
            Err(Error::Refused(refused)) => {
                prop_assert_eq!(&refused.error, &error);
                prop_assert_eq!(refused.description, description.map(|(_, d)| d));
            }
            other => prop_assert!(false, "expected Refused, got {:?}", other),
        }
    }
}

// Token responses, metadata, serialization of the per-login state.

fn expires_in_value(n: u64, style: u8) -> Value {
    match style {
        0 => json!(n),
        1 => json!(n.to_string()),
        2 => json!(format!(" {n}\t")),
        _ => json!(n as f64),
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn token_response_round_trip(
        expires_in in proptest::option::of((0u64..4_000_000_000, 0u8..4)),
        token_type in prop::sample::select(vec!["Bearer", "bearer", "BEARER", "BeArEr"]),
        refresh in prop_oneof![Just(None), Just(Some(None)), "[A-Za-z0-9._-]{1,40}".prop_map(|s| Some(Some(s)))],
        scope in proptest::option::of("[a-z_ ]{0,40}"),
        correlation_id in proptest::option::of("[A-Za-z0-9-]{0,36}"),
        extra in prop::collection::btree_map("x_[a-z]{1,8}", arb_json(), 0..3),
    ) {
        let build = |id_token: &str| {
            let mut body = serde_json::Map::new();
            body.insert("access_token".into(), json!(ACCESS_TOKEN));
            body.insert("id_token".into(), json!(id_token));
            body.insert("token_type".into(), json!(token_type));
            if let Some((n, style)) = expires_in {
                body.insert("expires_in".into(), expires_in_value(n, style));
            }
            match &refresh {
                None => {}
                Some(None) => {
                    body.insert("refresh_token".into(), Value::Null);
                }
                Some(Some(r)) => {
                    body.insert("refresh_token".into(), json!(r));
                }
            }
            if let Some(s) = &scope {
                body.insert("scope".into(), json!(s));
            }
            if let Some(c) = &correlation_id {
                body.insert("correlation_id".into(), json!(c));
            }
            for (n, v) in &extra {
                body.insert(n.clone(), v.clone());
            }
            Value::Object(body)
        };
        let parsed = TokenResponse::parse(&serde_json::to_vec(&build("a.b.c")).unwrap()).unwrap();
        prop_assert_eq!(parsed.access_token().unwrap().expose_secret(), ACCESS_TOKEN);
        prop_assert_eq!(parsed.id_token().unwrap().expose_secret(), "a.b.c");

        let op = operator();
        let tokens = token_step(&op, AuthorizeOptions::new(), |s| json_response(200, &build(&valid_id_token(&s.nonce))));
        prop_assert!(tokens.is_ok(), "{:?}", tokens.err());
        let tokens = tokens.unwrap();
        prop_assert_eq!(tokens.expires_at(), expires_in.map(|(n, _)| now().plus(n)));
        prop_assert_eq!(tokens.refresh_token().map(|r| r.expose_secret().to_owned()), refresh.flatten());
        prop_assert_eq!(tokens.scope(), scope.as_deref());
        prop_assert_eq!(tokens.correlation_id(), correlation_id.as_deref());
        prop_assert_eq!(tokens.access_token().expose_secret(), ACCESS_TOKEN);
        prop_assert_eq!(tokens.sub(), SUB);
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn token_type_other_than_bearer_is_refused(
        token_type in "[A-Za-z_-]{0,12}".prop_filter("bearer", |t| !t.eq_ignore_ascii_case("bearer")),
    ) {
        let body = json!({ "access_token": "at", "token_type": token_type });
        let result = TokenResponse::parse(&serde_json::to_vec(&body).unwrap());
        prop_assert!(matches!(result, Err(ProtocolError::TokenTypeNotBearer { .. })), "{:?}", result);
    }

    #[test]
    fn token_without_access_token_is_refused(
        access_token in prop_oneof![Just(None), Just(Some(json!(""))), Just(Some(Value::Null))],
        id_token in proptest::option::of(".{0,20}"),
    ) {
        let mut body = json!({ "token_type": "Bearer", "expires_in": 3600 });
        if let Some(a) = access_token {
            body["access_token"] = a;
        }
        if let Some(i) = id_token {
            body["id_token"] = json!(i);
        }
        let result = TokenResponse::parse(&serde_json::to_vec(&body).unwrap());
        prop_assert!(
            matches!(result, Err(ProtocolError::MissingField { field: "access_token", .. })),
            "{:?}", result
        );
    }
}

const SCOPE_POOL: &[&str] = &[
    "openid",
    "mc_authn",
    "mc_authz",
    "mc_identity_phonenumber",
    "profile",
];

fn scope_set() -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(SCOPE_POOL, 0..=SCOPE_POOL.len()).prop_shuffle()
}

fn set_of<'a>(scopes: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    scopes.into_iter().collect()
}

/// One `mobile_connect_version_supported` entry: its scopes, the separator used to join them,
/// and the version (`None`: a non-string version, which refuses the whole document: a present
/// but unreadable member is never read as absent).
type VersionEntry = (Vec<&'static str>, &'static str, Option<String>);

fn version_entries() -> impl Strategy<Value = Vec<VersionEntry>> {
    prop::collection::vec(
        (
            scope_set(),
            prop::sample::select(vec![" ", "  ", "\t", " \n "]),
            proptest::option::of("mc_(v1\\.[0-9]|v2\\.0|di_r2_v2\\.3|di_v3\\.0)"),
        ),
        0..6,
    )
}

fn version_oracle<'a>(entries: &'a [VersionEntry], query: &[&str]) -> Option<&'a str> {
    let wanted = set_of(query.iter().copied());
    entries
        .iter()
        .filter(|(_, _, v)| v.is_some())
        .find(|(scopes, _, _)| set_of(scopes.iter().copied()) == wanted)
        .and_then(|(_, _, v)| v.as_deref())
}

/// The metadata of `metadata_body`, parsed; `None` (checked to be a refusal) when an entry's
/// version is not a string.
fn parse_versions(entries: &[VersionEntry], as_object: bool) -> Option<ProviderMetadata> {
    let parsed =
        ProviderMetadata::parse(&serde_json::to_vec(&metadata_body(entries, as_object)).unwrap());
    if entries.iter().any(|(_, _, v)| v.is_none()) {
        assert!(
            matches!(parsed, Err(ProtocolError::MalformedJson { .. })),
            "{parsed:?}"
        );
        return None;
    }
    Some(parsed.unwrap())
}

fn metadata_body(entries: &[VersionEntry], as_object: bool) -> Value {
    let versions: Vec<Value> = entries
        .iter()
        .map(|(scopes, sep, version)| {
            let mut entry = serde_json::Map::new();
            entry.insert(
                scopes.join(sep),
                version.as_ref().map_or_else(|| json!(7), |v| json!(v)),
            );
            Value::Object(entry)
        })
        .collect();
    let versions = if as_object {
        let mut merged = serde_json::Map::new();
        for v in versions {
            if let Value::Object(m) = v {
                merged.extend(m);
            }
        }
        Value::Object(merged)
    } else {
        Value::Array(versions)
    };
    json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://op.example/authorize",
        "token_endpoint": "https://op.example/token",
        "mobile_connect_version_supported": versions,
        "claims_parameter_supported": "1",
        "login_hint_methods_supported": ["MSISDN", "ENCRYPTED_MSISDN"],
    })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn metadata_version_for_scope(
        entries in version_entries(),
        query in scope_set(),
        duplicate in any::<bool>(),
    ) {
        let Some(metadata) = parse_versions(&entries, false) else {
            return Ok(());
        };
        prop_assert_eq!(&metadata.issuer, ISSUER);
        prop_assert_eq!(metadata.claims_parameter_supported, Some(true));
        prop_assert!(metadata.supports_login_hint("ENCR_MSISDN"));
        prop_assert!(!metadata.supports_login_hint("PCR"));
        let kept: Vec<_> = entries.iter().filter(|(_, _, v)| v.is_some()).collect();
        prop_assert_eq!(metadata.mobile_connect_version_supported.len(), kept.len());
        let mut asked: Vec<String> = query.iter().map(|s| (*s).to_owned()).collect();
        if duplicate && let Some(first) = asked.first().cloned() {
            asked.push(first);
        }
        prop_assert_eq!(metadata.version_for_scope(&asked), version_oracle(&entries, &query));
    }

    #[test]
    fn metadata_version_map_as_one_object(entries in version_entries(), query in scope_set()) {
        // In object form the member names must differ; keep one entry per scope set so that the
        // map's member order does not matter.
        let mut seen = BTreeSet::new();
        let entries: Vec<VersionEntry> = entries
            .into_iter()
            .filter(|(s, _, _)| seen.insert(set_of(s.iter().copied())))
            .collect();
        let Some(metadata) = parse_versions(&entries, true) else {
            return Ok(());
        };
        let asked: Vec<String> = query.iter().map(|s| (*s).to_owned()).collect();
        prop_assert_eq!(metadata.version_for_scope(&asked), version_oracle(&entries, &query));
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn authorize_uses_the_metadata_version(entries in version_entries(), scopes in scope_set()) {
        let Some(metadata) = parse_versions(&entries, false) else {
            return Ok(());
        };
        // A Mobile Connect operator (its metadata may list no version at all, nor keys: those
        // are handed over).
        let op = operator_config()
            .profile(Profile::MobileConnect)
            .with_metadata(metadata)
            .unwrap()
            .keys(default_jwks())
            .build()
            .unwrap();
        let mut options = AuthorizeOptions::new().scope(scopes.iter().copied());
        if scopes.contains(&"mc_authz") {
            options = options.context("Pay 10 EUR");
        }
        let mut query: Vec<&str> = vec!["openid"];
        query.extend(scopes.iter().copied().filter(|s| *s != "openid"));
        let started = start(&op, options);
        let expected = version_oracle(&entries, &query).unwrap_or(
            if scopes.contains(&"mc_identity_phonenumber") {
                "mc_di_r2_v2.3"
            } else if scopes.contains(&"mc_authz") {
                "mc_v2.0"
            } else {
                "mc_v1.1"
            },
        );
        prop_assert_eq!(started.flow.version(), Some(expected));
    }
}

#[derive(Clone, Debug)]
enum Hint {
    Msisdn(String),
    Encrypted(String),
    Pcr(String),
}

#[derive(Clone, Debug)]
struct GenOptions {
    scopes: Vec<&'static str>,
    acr: Vec<u8>,
    max_age: Option<u64>,
    correlation_id: Option<String>,
    hint: Option<Hint>,
    pkce: bool,
    version: Option<String>,
    prompt: Option<&'static str>,
}

const OPTION_SCOPES: &[&str] = &[
    "mc_authn",
    "mc_authz",
    "mc_identity_phonenumber",
    "mc_identity_signup",
    "mc_kyc_plain",
    "profile",
    "email",
    "phone",
];

fn gen_options() -> impl Strategy<Value = GenOptions> {
    (
        prop::sample::subsequence(OPTION_SCOPES, 0..=4).prop_shuffle(),
        prop::collection::vec(1u8..=4, 1..4),
        proptest::option::of(0u64..=u64::from(u32::MAX)),
        proptest::option::of("[A-Za-z0-9-]{1,64}"),
        proptest::option::of(prop_oneof![
            "\\+?44[0-9]{10}".prop_map(Hint::Msisdn),
            "[0-9a-f]{64,512}".prop_map(Hint::Encrypted),
            "[A-Za-z0-9-]{8,40}".prop_map(Hint::Pcr),
        ]),
        any::<bool>(),
        proptest::option::of("mc_(v1\\.1|v2\\.0|di_r2_v2\\.3|di_v3\\.0)"),
        proptest::option::of(prop::sample::select(vec!["login", "none", "no_seam"])),
    )
        .prop_map(
            |(scopes, acr, max_age, correlation_id, hint, pkce, version, prompt)| GenOptions {
                scopes,
                acr,
                max_age,
                correlation_id,
                hint,
                pkce,
                version,
                prompt,
            },
        )
}

impl GenOptions {
    fn build(&self) -> AuthorizeOptions {
        let mut options = AuthorizeOptions::new()
            .scope(self.scopes.iter().copied())
            .acr_values(self.acr.iter().copied());
        if self.scopes.contains(&"mc_authz") {
            options = options.context("Pay 10 EUR").binding_message("ABC");
        }
        if let Some(m) = self.max_age {
            options = options.max_age(m);
        }
        if let Some(c) = &self.correlation_id {
            options = options.correlation_id(c.clone());
        }
        if let Some(hint) = &self.hint {
            options = options.login_hint(match hint {
                Hint::Msisdn(m) => LoginHint::Msisdn(Msisdn::new(m.clone())),
                Hint::Encrypted(s) => LoginHint::EncryptedMsisdn(SubscriberId::new(s.clone())),
                Hint::Pcr(p) => LoginHint::Pcr(p.clone()),
            });
        }
        if !self.pkce {
            options = options.without_pkce();
        }
        if let Some(v) = &self.version {
            options = options.version(v.clone());
        }
        if let Some(p) = self.prompt {
            options = options.prompt(p);
        }
        options
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn flow_state_serde_round_trip(generated in gen_options(), code in "[A-Za-z0-9._~-]{1,64}") {
        let op = operator();
        let started = start(&op, generated.build());
        let text = serde_json::to_string(&started.flow).unwrap();
        prop_assert!(text.len() < 512, "{} bytes: {}", text.len(), text);
        prop_assert!(!text.contains(CLIENT_SECRET));
        if let Some(Hint::Msisdn(m)) = &generated.hint {
            prop_assert!(!text.contains(m.trim_start_matches('+')), "MSISDN in the flow state");
        }
        if let Some(Hint::Encrypted(s)) = &generated.hint {
            prop_assert!(!text.contains(s.as_str()), "subscriber_id in the flow state");
        }

        let back: Authorizing = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &started.flow);
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), text.clone());

        let value: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&value["state"], &json!(started.state));
        prop_assert_eq!(&value["nonce"], &json!(started.nonce));
        prop_assert_eq!(value.get("pkce").is_some(), generated.pkce);
        prop_assert_eq!(&value["min_acr"], &json!(generated.acr.iter().copied().min()));
        prop_assert_eq!(value.get("max_age").and_then(Value::as_u64), generated.max_age);
        prop_assert_eq!(value.get("correlation_id").and_then(Value::as_str), generated.correlation_id.as_deref());
        if let Some(v) = &generated.version {
            prop_assert_eq!(back.version(), Some(v.as_str()));
        }
        prop_assert_eq!(back.issued_at(), now());

        // The deserialized state completes the callback, and CodeReceived round-trips too.
        let query = form(&[("state".to_owned(), started.state.clone()), ("code".to_owned(), code.clone())]);
        let received = back.callback(&op, &query, now()).unwrap();
        let text = serde_json::to_string(&received).unwrap();
        prop_assert!(!text.contains(CLIENT_SECRET));
        let received_back: CodeReceived = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&received_back, &received);
        prop_assert_eq!(received_back.operator_id(), op.id());
        let value: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&value["code"], &json!(code));
    }
}

// ---------------------------------------------------------------------------------------------
// (c) The id_token path: arbitrary strings as the id_token never panic and are never accepted
// ---------------------------------------------------------------------------------------------

fn b64_json(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

/// Compact-JWS-looking strings: random parts, JSON headers with real and odd members, JSON
/// claims (arbitrary or almost valid), random signatures.
fn jwt_like() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        arb_json(),
        (
            prop::sample::select(vec![
                "RS256", "RS384", "PS256", "ES256", "ES384", "HS256", "HS512", "none", "None",
                "EdDSA", "", "RSA-OAEP",
            ]),
            proptest::option::of(prop_oneof![
                prop::sample::select(vec!["kid-a", "kid-ec", "PHPOP-00", ""])
                    .prop_map(|s| json!(s)),
                arb_json(),
            ]),
            proptest::option::of(arb_json()),
        )
            .prop_map(|(alg, kid, crit)| {
                let mut h = json!({ "alg": alg, "typ": "JWT" });
                if let Some(kid) = kid {
                    h["kid"] = kid;
                }
                if let Some(crit) = crit {
                    h["crit"] = crit;
                }
                h
            }),
    ];
    let claims = prop_oneof![
        arb_json(),
        (
            prop::sample::select(vec![
                "iss", "sub", "aud", "exp", "iat", "nonce", "azp", "acr"
            ]),
            arb_json()
        )
            .prop_map(|(name, value)| {
                let mut c = valid_claims("not-this-login");
                c[name] = value;
                c
            }),
    ];
    prop_oneof![
        ".{0,200}",
        "[A-Za-z0-9_.=+/-]{0,300}",
        "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}(\\.[A-Za-z0-9_-]{0,10}){0,2}",
        (
            header,
            claims,
            prop::collection::vec(any::<u8>(), 0..300),
            prop::sample::select(vec!["", "=", "==", " ", "\n"])
        )
            .prop_map(|(h, c, sig, suffix)| {
                format!("{}{suffix}.{}.{}", b64_json(&h), b64_json(&c), b64(&sig))
            }),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_id_token_is_rejected_without_panic(id_token in jwt_like()) {
        let op = operator();
        let result = token_step(&op, AuthorizeOptions::new(), |_| token_response(&id_token));
        prop_assert!(matches!(result, Err(Error::IdToken(_))), "{:?}", result.map(|t| t.sub().to_owned()));
    }

    #[test]
    fn arbitrary_id_token_is_rejected_with_hmac_allowed(id_token in jwt_like()) {
        let op = operator_with_policy(|p| {
            p.allowed_algorithms.extend([Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
        });
        let result = token_step(&op, AuthorizeOptions::new().max_age(60), |_| token_response(&id_token));
        prop_assert!(matches!(result, Err(Error::IdToken(_))), "{:?}", result.map(|t| t.sub().to_owned()));
    }

    #[test]
    fn arbitrary_id_token_value_in_token_response_never_panics(id_token in arb_json()) {
        let op = operator();
        let result = token_step(&op, AuthorizeOptions::new(), |_| json_response(200, &json!({
            "access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": id_token,
        })));
        prop_assert!(result.is_err());
    }
}

proptest! {
    #![proptest_config(cases(128))]

    /// Properly signed tokens whose claims carry arbitrary values: never a panic, and whatever is
    /// accepted meets the login's expectations.
    #[test]
    fn signed_claims_of_any_shape_never_panic(
        edits in prop::collection::vec((
            prop::sample::select(vec![
                "iss", "sub", "aud", "azp", "exp", "iat", "nbf", "auth_time", "nonce", "acr",
                "amr", "at_hash", "hashed_login_hint", "other",
            ]),
            proptest::option::of(arb_json()),
        ), 0..4),
        max_age in proptest::option::of(0u64..10_000),
    ) {
        let op = operator();
        let mut options = AuthorizeOptions::new();
        if let Some(m) = max_age {
            options = options.max_age(m);
        }
        let mut nonce = String::new();
        let result = token_step(&op, options, |s| {
            nonce = s.nonce.clone();
            let mut claims = valid_claims(&s.nonce);
            for (name, value) in &edits {
                match value {
                    Some(v) => claims[*name] = v.clone(),
                    None => {
                        claims.as_object_mut().unwrap().remove(*name);
                    }
                }
            }
            token_response(&sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a")))
        });
        match result {
            Ok(tokens) => {
                let claims = tokens.id_token().claims();
                prop_assert_eq!(claims.iss.as_deref(), Some(ISSUER));
                prop_assert!(claims.aud.iter().any(|a| a == CLIENT_ID));
                prop_assert!(claims.nonce.as_ref().is_some_and(|n| n.matches(&nonce)));
                prop_assert!(!tokens.sub().is_empty());
                prop_assert!(claims.exp.is_some_and(|e| e.saturating_add(30) > NOW));
                // Levels are the exact strings "1" to "4".
                prop_assert!(matches!(claims.acr.as_deref(), Some("2" | "3" | "4")));
                prop_assert!(claims.auth_time.is_none_or(|t| t <= NOW + 30));
            }
            Err(e) => prop_assert!(matches!(e, Error::IdToken(_)), "{:?}", e),
        }
    }
}

#[test]
fn oversized_id_token_is_too_long() {
    let op = operator();
    let huge = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.sig",
        "A".repeat(wire::MAX_JWT_BYTES)
    );
    let result = token_step(&op, AuthorizeOptions::new(), |_| token_response(&huge));
    assert!(
        matches!(result, Err(Error::IdToken(IdTokenError::TooLong { .. }))),
        "{result:?}"
    );
}
