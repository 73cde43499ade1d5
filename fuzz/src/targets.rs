//! The fuzz target bodies: one plain function per target, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/<target>.rs`) and by the seed replay test in mc-core
//! (`mc-core/tests/fuzz_seeds.rs`, which includes this file by path, with `fixture.rs`). So this
//! file may use only mc-core and what mc-core's dev-dependencies provide, and no file or clock:
//! everything fixed lives in [`crate::fixture`].
//!
//! Every body takes arbitrary bytes, must never panic on them, and asserts invariants that are
//! cheap to check: an accepted callback yields exactly the code it was given, an accepted id_token
//! satisfies every rule, a non-200 answer is never a success, secrets never reach `Debug`.
//! A failed assertion is a finding, exactly like a panic inside mc-core.
//!
//! Fixed findings keep their `crash-f*` seeds and a strict test in `mc-core/tests/fuzz_seeds.rs`
//! (F1: invalid UTF-8 was accepted where serde skips a member unread, in a JOSE header and in
//! the ignored members of a JSON body such as an OAuth error body; F2: JSON arrays were read by
//! position where an object is required; F3: the `correlation_id` of the operator's start
//! answer was kept in the pending state unbounded; F4: at a success status, an `error` member
//! was ignored when the rest of the body was no readable OAuth error body, so the token
//! endpoint's answer gave tokens and the SI/CIBA start a pending state). The oracle here no
//! longer tolerates any of them: a regression is a failed assertion.
#![allow(unreachable_pub, dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, AuthorizeOptions, BackchannelError, BackchannelPending, ClientSecret,
    DiscoveryAnswer, DiscoveryOutcome, DiscoveryQuery, Endpoint, Error, Exchange as _, Jwks,
    KeyType, LoginHint, MccMnc, MisuseError, Msisdn, Notification, Notified, OperatorConfig, Poll,
    ProviderMetadata, Registration, SelectionReturn, SubscriberId, TokenResponse, Tokens, UnixTime,
    UserInfo, notification_response,
};
use serde_json::Value;

use crate::fixture::*;

/// A harness body.
pub type Body = fn(&[u8]);

/// Every target, by name, as the seed directories and the fuzz targets are named.
pub const TARGETS: &[(&str, Body)] = &[
    ("callback_query", callback_query),
    ("discovery_response", discovery_response),
    ("discovery_return", discovery_return),
    ("provider_metadata", provider_metadata),
    ("jwks", jwks),
    ("token_response", token_response),
    ("id_token", id_token),
    ("userinfo", userinfo),
    ("oauth_error", oauth_error),
    ("si_notification", si_notification),
    ("backchannel_start", backchannel_start),
    ("backchannel_poll", backchannel_poll),
    ("kyc_result", kyc_result),
    ("refresh_response", refresh_response),
    ("otp_response", otp_response),
];

/// A header value from fuzz bytes, when they make one.
fn header_value(data: &[u8]) -> Option<http::HeaderValue> {
    http::HeaderValue::from_bytes(data).ok()
}

/// Tokens of the fixed login (the HS256 id_token: cheap to verify).
pub fn login() -> Tokens {
    let ctx = ctx();
    let tokens = token_step(
        &ctx.operator,
        response(200, "application/json", &token_body(&ctx.hs256)),
    )
    .expect("the fixed login verifies");
    check_tokens(&tokens, ACCESS_TOKEN);
    tokens
}

/// Touch an error the way a host would (Display for logs, class for handling).
fn touch(error: &Error) {
    let _ = error.to_string();
    let _ = format!("{error:?}");
    let _ = error.class();
    let _ = error.operator_error();
}

fn is_ascii_digits(s: &str, lens: &[usize]) -> bool {
    lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The same JSON object with the string values of these members replaced.
fn with_replaced(value: &Value, members: &[&str]) -> Value {
    let mut out = value.clone();
    if let Value::Object(map) = &mut out {
        for (i, member) in members.iter().enumerate() {
            if let Some(v @ Value::String(_)) = map.get_mut(*member) {
                *v = Value::String(format!("replaced-secret-{i}"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Invariants of accepted values
// ---------------------------------------------------------------------------------------------

/// What an accepted id_token must satisfy: the login's expectations, read independently.
struct Expect<'a> {
    /// The host's clock at the check.
    now: u64,
    /// The nonce sent (none for OpenID CIBA: not checked).
    nonce: Option<&'a str>,
    /// `max_age` asked for (then `auth_time` is required and checked).
    max_age: Option<u64>,
    /// The lowest level asked for (then `acr` is required and checked).
    min_acr: Option<u8>,
    /// A Mobile Connect identity login: `at_hash` and `amr` are required.
    di: bool,
}

/// The fixed browser login's expectations at [`NOW`].
fn login_expect() -> Expect<'static> {
    Expect {
        now: NOW,
        nonce: Some(ctx().nonce.as_str()),
        max_age: Some(MAX_AGE),
        min_acr: Some(MIN_ACR),
        di: true,
    }
}

/// Every id_token rule holds for accepted tokens of the fixed login.
fn check_tokens(tokens: &Tokens, access_token: &str) {
    check_tokens_for(tokens, access_token, &login_expect());
}

/// Every id_token rule holds for accepted tokens of a login with these expectations.
fn check_tokens_for(tokens: &Tokens, access_token: &str, expect: &Expect<'_>) {
    let now = expect.now;
    let id_token = tokens.id_token();
    let claims = id_token.claims();
    assert_eq!(claims.iss.as_deref(), Some(ISSUER), "accepted foreign iss");
    assert!(
        claims.aud.iter().any(|a| a == CLIENT_ID),
        "accepted aud without our client_id"
    );
    assert!(
        claims.azp.as_deref().is_none_or(|a| a == CLIENT_ID),
        "accepted a foreign azp"
    );
    assert!(
        claims.aud.len() == 1 || claims.azp.is_some(),
        "accepted several audiences without azp"
    );
    assert!(!tokens.sub().is_empty(), "accepted an empty sub");
    assert!(
        claims.exp.is_some_and(|e| now < e.saturating_add(LEEWAY)),
        "accepted an expired token"
    );
    assert!(
        claims.iat.is_some_and(|i| i <= now + LEEWAY),
        "accepted iat in the future"
    );
    assert!(
        claims.nbf.is_none_or(|n| n <= now + LEEWAY),
        "accepted a token not yet valid"
    );
    if let Some(max_age) = expect.max_age {
        assert!(
            claims
                .auth_time
                .is_some_and(|t| now <= t.saturating_add(max_age).saturating_add(LEEWAY)),
            "accepted auth_time older than max_age"
        );
        assert!(
            claims
                .auth_time
                .is_some_and(|t| t <= now + LEEWAY
                    && claims.iat.is_some_and(|i| t <= i.saturating_add(LEEWAY))),
            "accepted auth_time in the future or after iat"
        );
    }
    if let Some(nonce) = expect.nonce {
        assert!(
            claims
                .nonce
                .as_ref()
                .is_some_and(|n| n.expose_secret() == nonce),
            "accepted a foreign nonce"
        );
    }
    // Levels are the exact strings "1" to "4" ("+3", "003" or " 3" are not levels).
    if let Some(min_acr) = expect.min_acr {
        assert!(
            claims
                .acr
                .as_deref()
                .and_then(|a| ["1", "2", "3", "4"].iter().position(|l| *l == a))
                .is_some_and(|i| i + 1 >= usize::from(min_acr)),
            "accepted acr below the requested LoA"
        );
    }
    // `at_hash` is checked by value whenever present, and required in the identity profile.
    if expect.di || claims.at_hash.is_some() {
        assert_eq!(
            claims.at_hash,
            mc_core::id_token::at_hash(access_token, id_token.alg()),
            "accepted a wrong at_hash"
        );
    }
    if expect.di {
        assert!(
            claims.amr.iter().any(|m| !m.is_empty()),
            "accepted a token without an amr method"
        );
    }
    assert!(
        ctx()
            .operator
            .policy()
            .allowed_algorithms
            .contains(&id_token.alg()),
        "accepted an algorithm outside the allow-list"
    );
    // The header as sent: no critical extensions, and the algorithm it names is the one used.
    let jwt = id_token.jwt().expose_secret();
    let header = jwt
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .expect("an accepted token has a base64url header");
    match serde_json::from_slice::<Value>(&header) {
        Ok(header) => {
            assert!(
                header.get("crit").is_none(),
                "accepted a critical header extension (`crit`, even null)"
            );
            assert_eq!(
                header.get("alg").and_then(Value::as_str),
                Some(format!("{:?}", id_token.alg()).as_str())
            );
        }
        // Valid JSON nested deeper than serde_json's Value recursion limit (mc-core skips the
        // unknown member without that limit): not a finding.
        Err(e) if e.to_string().contains("recursion limit") => {}
        Err(e) => panic!("accepted a header that is not JSON: {e}"),
    }
    assert_eq!(jwt.split('.').count(), 3);
    // Tokens print no access token (unless a public member happens to contain it).
    let debug = format!("{tokens:?}");
    let public = format!(
        "{claims:?} {:?} {:?} {}",
        tokens.scope(),
        tokens.correlation_id(),
        tokens.operator_id()
    );
    if !public.contains(access_token) {
        assert!(
            !debug.contains(access_token),
            "Debug of Tokens shows the access token"
        );
    }
}

fn check_userinfo(info: &UserInfo, body: &[u8]) {
    assert_eq!(info.sub(), SUB);
    assert_eq!(
        info.claim_str("sub"),
        Some(SUB),
        "accepted userinfo of another subject"
    );
    if info.was_signed() {
        // Bound to its purpose: a userinfo `typ`, and no claim only an id_token has.
        let header = body
            .trim_ascii()
            .split(|b| *b == b'.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .expect("an accepted signed userinfo has a JSON header");
        if let Some(typ) = header.get("typ") {
            let typ = typ.as_str().expect("accepted a typ that is not a string");
            let lower = typ.to_ascii_lowercase();
            let subtype = lower.strip_prefix("application/").unwrap_or(&lower);
            assert!(
                subtype == "jwt" || subtype == "userinfo+jwt",
                "accepted signed userinfo with typ {typ:?}"
            );
        }
        assert!(header.get("crit").is_none(), "accepted a critical header");
        for claim in ["nonce", "at_hash", "c_hash"] {
            assert!(
                info.claim(claim).is_none(),
                "accepted an id_token (with {claim}) as userinfo"
            );
        }
        if let Some(exp) = info.claim("exp") {
            assert!(
                exp.as_f64()
                    .or_else(|| exp.as_str().and_then(|s| s.trim().parse().ok()))
                    .is_some_and(|e| e >= (NOW - LEEWAY) as f64),
                "accepted expired signed userinfo"
            );
        }
        if let Some(iss) = info.claim("iss") {
            assert_eq!(iss.as_str(), Some(ISSUER), "accepted signed userinfo iss");
        }
        if let Some(aud) = info.claim("aud") {
            let ours = match aud {
                Value::String(s) => s == CLIENT_ID,
                Value::Array(items) => items.iter().any(|v| v.as_str() == Some(CLIENT_ID)),
                _ => false,
            };
            assert!(ours, "accepted signed userinfo for another audience");
        }
    }
    // Debug prints claim names (public); the access token must not appear anywhere else.
    let names = format!("{:?}", info.claims().keys().collect::<Vec<_>>());
    if !names.contains(ACCESS_TOKEN) {
        assert!(
            !format!("{info:?}").contains(ACCESS_TOKEN),
            "Debug of UserInfo shows the access token"
        );
    }
}

fn check_discovery(outcome: Result<DiscoveryOutcome, Error>) -> bool {
    match outcome {
        Ok(DiscoveryOutcome::Found(answer)) => {
            check_answer(&answer);
            true
        }
        Ok(DiscoveryOutcome::OperatorSelection { url, leg }) => {
            assert!(
                secure_or_loopback(&url),
                "selection URL {url} is neither https nor on a loopback address"
            );
            assert_eq!(
                url.query_pairs()
                    .filter(|(name, _)| name == "state")
                    .last()
                    .map(|(_, value)| value.into_owned())
                    .as_deref(),
                Some(leg.state().expose_secret()),
                "the selection URL does not carry the leg's state"
            );
            true
        }
        Ok(_) => true,
        Err(e) => {
            touch(&e);
            false
        }
    }
}

/// The plain-HTTP rule, read independently: https, or http on 127.0.0.0/8 or `::1`.
fn secure_or_loopback(url: &url::Url) -> bool {
    match url.host() {
        _ if url.scheme() == "https" => true,
        Some(url::Host::Ipv4(ip)) => url.scheme() == "http" && ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => url.scheme() == "http" && ip.is_loopback(),
        _ => false,
    }
}

fn check_answer(answer: &DiscoveryAnswer) {
    assert!(!answer.client_id.is_empty(), "accepted an empty client_id");
    let expires = answer.expires_at.as_secs();
    assert!(
        (NOW + 300..=NOW + 180 * 24 * 3600).contains(&expires),
        "ttl not clamped: {expires}"
    );
    for rel in [
        "authorization",
        "token",
        "userinfo",
        "jwks",
        "issuer",
        "scope",
    ] {
        let _ = answer.link(rel);
    }
    // Secrets never reach Debug: the Debug output does not change when they do.
    let mut other = answer.clone();
    other.client_secret = ClientSecret::new("replaced-secret");
    other.subscriber_id = other
        .subscriber_id
        .map(|_| SubscriberId::new("replaced-subscriber-id"));
    assert_eq!(
        format!("{answer:?}"),
        format!("{other:?}"),
        "Debug of DiscoveryAnswer depends on a secret"
    );
    match OperatorConfig::from_discovery(answer, "fuzz-discovered", REDIRECT_URI) {
        Ok(config) => {
            assert!(
                answer.link("authorization").is_some() && answer.link("token").is_some(),
                "an operator configuration without authorization or token link"
            );
            let _ = config.metadata_exchange().map(|e| e.request());
            match config.build() {
                Ok(op) => {
                    assert_eq!(op.client_id(), answer.client_id);
                    // The issuer is the issuer link, or else the issuer whose metadata URL the
                    // openid-configuration link is exactly (OIDC Discovery 4.3).
                    match answer.link("issuer") {
                        Some(issuer) => assert_eq!(op.issuer(), issuer),
                        None => assert_eq!(
                            answer.link("openid-configuration"),
                            Some(format!("{}/.well-known/openid-configuration", op.issuer()))
                                .as_deref(),
                            "an issuer the answer does not name"
                        ),
                    }
                    let e = op.endpoints();
                    for url in [&e.authorization, &e.token]
                        .into_iter()
                        .chain(e.userinfo.iter())
                        .chain(e.premiuminfo.iter())
                        .chain(e.jwks.iter())
                        .chain(e.revocation.iter())
                        .chain(e.refresh.iter())
                    {
                        assert!(
                            secure_or_loopback(url),
                            "a discovered endpoint {url} is neither https nor on a loopback address"
                        );
                    }
                    assert!(
                        answer.link("jwks").is_some(),
                        "an operator context without keys or a JWKS link"
                    );
                    let _ = op.jwks_exchange().map(|e| e.request());
                    let mut entropy = |buf: &mut [u8]| buf.fill(7);
                    if let Some(id) = &answer.subscriber_id {
                        let options = AuthorizeOptions::new()
                            .login_hint(LoginHint::EncryptedMsisdn(id.clone()));
                        let _ = op.authorize(options, &mut entropy, now());
                    }
                }
                Err(e) => {
                    assert!(
                        matches!(e, Error::Misuse(MisuseError::IncompleteOperator { .. })),
                        "a discovered configuration refused for {e:?}"
                    );
                    assert!(
                        answer.link("issuer").is_none() || answer.link("jwks").is_none(),
                        "refused with an issuer and a JWKS link: {e}"
                    );
                }
            }
        }
        Err(e) => touch(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// The targets
// ---------------------------------------------------------------------------------------------

/// Whether the target accepted this input somewhere (the replay test checks that the `ok-*`
/// seeds really reach the end of each path).
pub fn accepts(target: &str, data: &[u8]) -> bool {
    match target {
        "callback_query" => run_callback_query(data),
        "discovery_response" => run_discovery_response(data),
        "discovery_return" => run_discovery_return(data),
        "provider_metadata" => run_provider_metadata(data),
        "jwks" => run_jwks(data),
        "token_response" => run_token_response(data),
        "id_token" => run_id_token(data),
        "userinfo" => run_userinfo(data),
        "oauth_error" => run_oauth_error(data),
        "si_notification" => run_si_notification(data),
        "backchannel_start" => run_backchannel_start(data),
        "backchannel_poll" => run_backchannel_poll(data),
        "kyc_result" => run_kyc_result(data),
        "refresh_response" => run_refresh_response(data),
        "otp_response" => run_otp_response(data),
        _ => panic!("unknown fuzz target {target}"),
    }
}

/// The callback query of the fixed login (`Authorizing::callback`).
pub fn callback_query(data: &[u8]) {
    let _ = run_callback_query(data);
}

/// The query as the library reads it, by an independent reading: the fragment (from the first
/// `#`, even one before the `?`) is never read; a whole URL keeps what follows its `?`;
/// otherwise one leading `?` is dropped.
fn oracle_query(query: &str) -> &str {
    let query = query.split('#').next().unwrap_or_default();
    let is_url = ["http://", "https://"].iter().any(|p| {
        query
            .as_bytes()
            .get(..p.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(p.as_bytes()))
    });
    if is_url {
        query.split_once('?').map_or("", |(_, q)| q)
    } else {
        query.strip_prefix('?').unwrap_or(query)
    }
}

fn run_callback_query(data: &[u8]) -> bool {
    let ctx = ctx();
    let query = String::from_utf8_lossy(data);
    let later = now().plus(1);
    let accepted = match ctx.flow.clone().callback(&ctx.operator, &query, later) {
        Ok(code) => {
            let pairs: Vec<(String, String)> =
                url::form_urlencoded::parse(oracle_query(&query).as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            let values = |name: &str| -> Vec<&str> {
                pairs
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .collect()
            };
            assert_eq!(
                values("state"),
                [ctx.state.as_str()],
                "accepted a foreign state"
            );
            assert!(values("error").is_empty(), "accepted an error callback");
            assert!(
                values("iss").iter().all(|i| *i == ISSUER),
                "accepted a foreign iss"
            );
            let given = values("code");
            assert_eq!(
                given.len(),
                1,
                "accepted a callback with {} codes",
                given.len()
            );
            let kept = serde_json::to_value(&code).expect("CodeReceived serializes");
            assert_eq!(
                kept.get("code").and_then(Value::as_str),
                given.first().copied(),
                "the code taken is not the code given"
            );
            assert!(
                !given.first().is_some_and(|c| c.is_empty()),
                "accepted an empty code"
            );
            assert_eq!(code.operator_id(), ctx.operator.id());
            assert!(
                !format!("{code:?}").contains(&ctx.state),
                "Debug of CodeReceived shows the state"
            );
            true
        }
        Err(e) => {
            touch(&e);
            false
        }
    };
    // With RFC 9207 required, an accepted callback carried the right `iss`.
    match ctx.flow.clone().callback(&ctx.operator_iss, &query, later) {
        Ok(_) => {
            let pairs = url::form_urlencoded::parse(oracle_query(&query).as_bytes());
            let iss: Vec<_> = pairs.filter(|(k, _)| k == "iss").map(|(_, v)| v).collect();
            assert!(
                iss.len() == 1 && iss.first().is_some_and(|i| i == ISSUER),
                "accepted a callback without the required iss"
            );
        }
        Err(e) => touch(&e),
    }
    // After the login timeout nothing is accepted.
    let expired = now().plus(LOGIN_TIMEOUT + 1);
    assert!(
        ctx.flow
            .clone()
            .callback(&ctx.operator, &query, expired)
            .is_err(),
        "accepted a callback after the login timeout"
    );
    accepted
}

/// A discovery answer: `DiscoveryAnswer::parse` and the discovery exchange's `respond` at the
/// statuses deployments use (200, 202, 302 with the input as `Location`, 404).
pub fn discovery_response(data: &[u8]) {
    let _ = run_discovery_response(data);
}

fn run_discovery_response(data: &[u8]) -> bool {
    let ctx = ctx();
    let mut entropy = |buf: &mut [u8]| buf.fill(7);
    let mut accepted = check_discovery(DiscoveryAnswer::parse(data, &mut entropy, now()));
    for status in [200u16, 202, 302, 404] {
        let Ok(exchange) = ctx
            .discovery
            .discover(&DiscoveryQuery::by_ip_or_selection(), &mut entropy)
        else {
            panic!("the fixed discovery request builds");
        };
        let mut response = response(status, "application/json", data);
        if status == 302
            && let Some(location) = header_value(data.trim_ascii())
        {
            response
                .headers_mut()
                .insert(http::header::LOCATION, location);
        }
        let outcome = exchange.respond(response, now());
        if status == 404 {
            assert!(outcome.is_err(), "a 404 discovery answer was a success");
        }
        accepted |= check_discovery(outcome);
    }
    accepted
}

/// The browser's return from the operator selection page (`SelectionReturn::parse`).
pub fn discovery_return(data: &[u8]) {
    let _ = run_discovery_return(data);
}

fn run_discovery_return(data: &[u8]) -> bool {
    let query = String::from_utf8_lossy(data);
    let leg_state = selection_leg().state().expose_secret().to_owned();
    let result = SelectionReturn::parse(&query, selection_leg(), now());
    // Read independently: a `state` other than the leg's is refused, and so is any return
    // after the leg expired.
    let foreign_state = url::form_urlencoded::parse(oracle_query(&query).as_bytes())
        .any(|(name, value)| name == "state" && value != leg_state.as_str());
    if foreign_state {
        assert!(
            result.is_err(),
            "accepted a selection return of another leg"
        );
    }
    assert!(
        SelectionReturn::parse(&query, selection_leg(), now().plus(601)).is_err(),
        "accepted a selection return after the leg expired"
    );
    match result {
        Ok(selection) => {
            // Nothing comes from outside the query (a fragment, even one before the `?`).
            let names: Vec<String> = url::form_urlencoded::parse(oracle_query(&query).as_bytes())
                .map(|(name, _)| name.into_owned())
                .collect();
            let has = |name: &str| names.iter().any(|n| n == name);
            if !has("mcc_mnc") {
                assert!(selection.mcc_mnc.is_none(), "an mcc_mnc outside the query");
            }
            if !has("subscriber_id") && !has("subscriber_id_token") {
                assert!(
                    selection.subscriber_id.is_none(),
                    "a subscriber_id outside the query"
                );
            }
            if let Some(mcc_mnc) = &selection.mcc_mnc {
                assert!(
                    is_ascii_digits(mcc_mnc.mcc(), &[3]),
                    "MCC {:?}",
                    mcc_mnc.mcc()
                );
                assert!(
                    is_ascii_digits(mcc_mnc.mnc(), &[2, 3]),
                    "MNC {:?}",
                    mcc_mnc.mnc()
                );
                assert_eq!(
                    MccMnc::parse(&mcc_mnc.to_string()).ok().as_ref(),
                    Some(mcc_mnc),
                    "MccMnc does not round-trip"
                );
            }
            if let Some(id) = &selection.subscriber_id {
                assert!(!id.expose_secret().is_empty(), "an empty subscriber_id");
                let mut other = selection.clone();
                other.subscriber_id = Some(SubscriberId::new("replaced-subscriber-id"));
                assert_eq!(
                    format!("{selection:?}"),
                    format!("{other:?}"),
                    "Debug of SelectionReturn shows the subscriber_id"
                );
            }
            match selection.discovery_query() {
                Some(query) => {
                    assert!(selection.mcc_mnc.is_some());
                    let exchange = ctx()
                        .discovery
                        .discover(&query, &mut |buf: &mut [u8]| buf.fill(7))
                        .expect("discovery by a parsed MCC/MNC builds");
                    let _ = exchange.request();
                }
                None => assert!(selection.mcc_mnc.is_none()),
            }
            true
        }
        Err(e) => {
            touch(&e);
            false
        }
    }
}

/// Provider metadata: `ProviderMetadata::parse`, the metadata exchange, and what a host does with
/// the document (build the fixed operator's context with it, build a context from it alone,
/// authorize).
pub fn provider_metadata(data: &[u8]) {
    let _ = run_provider_metadata(data);
}

fn run_provider_metadata(data: &[u8]) -> bool {
    let parsed = ProviderMetadata::parse(data);
    for status in [200u16, 400] {
        let exchange = operator_config()
            .metadata_exchange()
            .expect("the fixed operator has a metadata URL");
        match exchange.respond(response(status, "application/json", data), now()) {
            Ok(metadata) => {
                assert_eq!(status, 200, "a {status} metadata answer was a success");
                assert_eq!(
                    parsed.as_ref().ok(),
                    Some(&metadata),
                    "the exchange and the parser disagree"
                );
            }
            Err(e) => touch(&e),
        }
    }
    let Ok(metadata) = parsed else {
        return false;
    };
    let _ = metadata.version_for_scope(&["openid".to_owned(), "mc_authn".to_owned()]);
    let _ = metadata.supports_login_hint("ENCR_MSISDN");
    match operator_config()
        .with_metadata(metadata.clone())
        .and_then(OperatorConfig::build)
    {
        Ok(operator) => {
            assert_eq!(
                metadata.issuer, ISSUER,
                "applied metadata of another issuer"
            );
            assert_eq!(operator.issuer(), ISSUER);
            assert_eq!(operator.metadata(), Some(&metadata));
            let mut entropy = |buf: &mut [u8]| buf.fill(7);
            let options = login_options().login_hint(LoginHint::Msisdn(Msisdn::new(MSISDN)));
            if let Ok((redirect, flow)) = operator.authorize(options, &mut entropy, now()) {
                assert!(
                    matches!(redirect.url().scheme(), "http" | "https"),
                    "authorize URL with scheme {}",
                    redirect.url().scheme()
                );
                assert_eq!(flow.operator_id(), operator.id());
            }
        }
        Err(e) => touch(&e),
    }
    // A plain OpenID Provider known by its metadata alone.
    let bare = OperatorConfig::new(Registration {
        operator_id: "fuzz-from-metadata".to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: ClientSecret::new(CLIENT_SECRET),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .expect("fixed registration");
    match bare
        .with_metadata(metadata.clone())
        .and_then(OperatorConfig::build)
    {
        Ok(operator) => {
            assert_eq!(operator.issuer(), metadata.issuer);
            assert!(
                metadata.authorization_endpoint.is_some()
                    && metadata.token_endpoint.is_some()
                    && metadata.jwks_uri.is_some(),
                "a context from metadata without its endpoints"
            );
        }
        Err(e) => touch(&e),
    }
    true
}

/// A JWKS document: `Jwks::parse`, the JWKS exchange, and the fixed RS256 and ES256 id_tokens
/// verified against the parsed keys.
pub fn jwks(data: &[u8]) {
    let _ = run_jwks(data);
}

fn run_jwks(data: &[u8]) -> bool {
    let ctx = ctx();
    let parsed = Jwks::parse(data);
    for status in [200u16, 500] {
        let exchange = ctx
            .operator
            .jwks_exchange()
            .expect("the fixed operator has a JWKS URL");
        match exchange.respond(response(status, "application/json", data), now()) {
            Ok(keys) => {
                assert_eq!(status, 200, "a {status} JWKS answer was a success");
                assert_eq!(
                    Some(keys.keys().len()),
                    parsed.as_ref().ok().map(|k| k.keys().len())
                );
            }
            Err(e) => touch(&e),
        }
    }
    let Ok(keys) = parsed else {
        return false;
    };
    assert!(keys.keys().len() <= mc_core::wire::MAX_JWKS_KEYS);
    if let Some(entries) = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| v.get("keys").and_then(Value::as_array).map(Vec::len))
    {
        assert_eq!(
            entries,
            keys.keys().len() + keys.skipped(),
            "JWKS entries neither kept nor counted as skipped"
        );
    }
    for key in keys.keys() {
        let _ = format!("{key:?}");
        let _ = key.kid();
    }
    // A context of its own: the fixed one is shared, and its keys must stay the committed ones.
    let operator = operator_with_keys(operator_config(), keys.clone());
    let mut accepted = false;
    for (jwt, alg, kid, key_type) in [
        (&ctx.rs256, Algorithm::RS256, KID_RSA, KeyType::Rsa),
        (&ctx.es256, Algorithm::ES256, KID_EC, KeyType::P256),
    ] {
        match token_step_with_jwks(
            &operator,
            data,
            response(200, "application/json", &token_body(jwt)),
        ) {
            Ok(tokens) => {
                check_tokens(&tokens, ACCESS_TOKEN);
                assert!(
                    keys.keys().iter().any(|k| k.kid() == Some(kid)
                        && k.key_type() == key_type
                        && k.usable_for(alg)
                        && !k.is_weak()),
                    "a token verified without its key in the JWKS"
                );
                accepted = true;
            }
            Err(e) => touch(&e),
        }
    }
    accepted
}

/// A token endpoint answer: `TokenResponse::parse` and the token exchange of the fixed login
/// (so an id_token inside is fully verified).
pub fn token_response(data: &[u8]) {
    let _ = run_token_response(data);
}

fn run_token_response(data: &[u8]) -> bool {
    let ctx = ctx();
    let parsed = TokenResponse::parse(data);
    if let Ok(parsed) = &parsed {
        assert!(
            parsed
                .access_token()
                .is_some_and(|t| !t.expose_secret().is_empty()),
            "parsed a token response without access_token"
        );
        if let Ok(value) = serde_json::from_slice::<Value>(data) {
            let replaced = with_replaced(&value, &["access_token", "id_token", "refresh_token"]);
            if let Some(other) = serde_json::to_vec(&replaced)
                .ok()
                .and_then(|b| TokenResponse::parse(&b).ok())
            {
                assert_eq!(
                    format!("{parsed:?}"),
                    format!("{other:?}"),
                    "Debug of TokenResponse depends on a secret"
                );
            }
        }
    }
    let mut accepted = false;
    for status in [200u16, 400] {
        match token_step(&ctx.operator, response(status, "application/json", data)) {
            Ok(tokens) => {
                assert_eq!(status, 200, "a {status} token answer was a success");
                let parsed = parsed
                    .as_ref()
                    .expect("the exchange accepted what parse refuses");
                let access_token = parsed
                    .access_token()
                    .expect("checked above")
                    .expose_secret();
                assert_eq!(tokens.access_token().expose_secret(), access_token);
                assert_eq!(
                    Some(tokens.id_token().jwt()),
                    parsed.id_token(),
                    "the verified id_token is not the one sent"
                );
                check_tokens(&tokens, access_token);
                accepted = true;
            }
            Err(e) => touch(&e),
        }
    }
    accepted
}

/// An id_token, three ways through the token exchange of the fixed login: the input as the
/// compact token (header, structure, key choice and signature checks against the committed
/// JWKS); the input's own signing input MACed with the client secret (so header and claims
/// mutations reach the claim rules when the header says HS256); and an input starting with `{`
/// as the claims of an HS256 token.
pub fn id_token(data: &[u8]) {
    let _ = run_id_token(data);
}

fn verify_id_token(jwt: &str) -> bool {
    let ctx = ctx();
    match token_step(
        &ctx.operator,
        response(200, "application/json", &token_body(jwt)),
    ) {
        Ok(tokens) => {
            assert_eq!(tokens.id_token().jwt().expose_secret(), jwt);
            check_tokens(&tokens, ACCESS_TOKEN);
            true
        }
        Err(e) => {
            touch(&e);
            false
        }
    }
}

fn run_id_token(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let mut accepted = verify_id_token(&text);
    if let Some((signing_input, _)) = text.rsplit_once('.')
        && signing_input.contains('.')
    {
        let jwt = format!(
            "{signing_input}.{}",
            signature(signing_input, Algorithm::HS256)
        );
        accepted |= verify_id_token(&jwt);
    }
    if data.first() == Some(&b'{') {
        let jwt = sign_raw(br#"{"alg":"HS256","typ":"JWT"}"#, data, Algorithm::HS256);
        accepted |= verify_id_token(&jwt);
    }
    accepted
}

/// A userinfo or premium info body after the fixed login: as JSON, as `application/jwt`, and an
/// input starting with `{` as the claims of an HS256-signed body.
pub fn userinfo(data: &[u8]) {
    let _ = run_userinfo(data);
}

fn userinfo_step(premium: bool, content_type: &str, body: &[u8]) -> bool {
    let ctx = ctx();
    let tokens = login();
    let exchange = if premium {
        tokens.premiuminfo(&ctx.operator)
    } else {
        tokens.userinfo(&ctx.operator)
    }
    .expect("the fixed operator has both endpoints");
    let outcome = exchange
        .respond(response(200, content_type, body), now())
        .and_then(|outcome| finish_with_jwks(outcome, JWKS_JSON.as_bytes()));
    match outcome {
        Ok(info) => {
            check_userinfo(&info, body);
            let expected = if premium {
                Endpoint::PremiumInfo
            } else {
                Endpoint::UserInfo
            };
            assert_eq!(info.endpoint(), expected);
            true
        }
        Err(e) => {
            touch(&e);
            false
        }
    }
}

fn run_userinfo(data: &[u8]) -> bool {
    let mut accepted = userinfo_step(false, "application/json", data);
    accepted |= userinfo_step(true, "application/jwt", data);
    if data.first() == Some(&b'{') {
        let jwt = sign_raw(br#"{"alg":"HS256"}"#, data, Algorithm::HS256);
        accepted |= userinfo_step(false, "application/jwt", jwt.as_bytes());
    }
    accepted
}

/// OAuth error bodies and `WWW-Authenticate` values: `parse_error_body`, `parse_www_authenticate`,
/// and the error answers of the token, userinfo and discovery exchanges (never a success).
pub fn oauth_error(data: &[u8]) {
    let _ = run_oauth_error(data);
}

/// The `error` member of an error body, whatever else it holds.
#[derive(serde::Deserialize)]
struct ErrorMember {
    error: Option<String>,
}

fn run_oauth_error(data: &[u8]) -> bool {
    let ctx = ctx();
    let mut accepted = false;
    for (endpoint, status) in [
        (Endpoint::Token, Some(400)),
        (Endpoint::Discovery, Some(200)),
        (Endpoint::UserInfo, None),
    ] {
        if let Some(error) = mc_core::wire::parse_error_body(endpoint, status, data) {
            // F2 (fixed): only a JSON object is an error body, never an array read by position.
            assert_eq!(
                data.trim_ascii_start().first(),
                Some(&b'{'),
                "read an error body that is not a JSON object"
            );
            // An accepted error body is valid UTF-8 as a whole (RFC 8259 8.1) and valid JSON
            // syntax all through (RFC 8259 2; numbers of any magnitude are valid JSON, so the
            // syntax is checked without reading them as `f64`, which `Value` cannot hold past
            // 1.8e308), and its `error` member is the code read.
            let text = std::str::from_utf8(data).expect("read an error body that is not UTF-8");
            let _: serde::de::IgnoredAny =
                serde_json::from_str(text).expect("read an error body that is not valid JSON");
            let sent: ErrorMember =
                serde_json::from_str(text).expect("read an error body without one `error`");
            assert_eq!(
                sent.error.as_deref(),
                Some(error.error.as_str()),
                "the error code read is not the one sent"
            );
            assert_eq!(error.endpoint, endpoint);
            assert_eq!(error.status, status);
            let _ = error.to_string();
            accepted = true;
        }
    }
    let header = String::from_utf8_lossy(data);
    if let Some(error) = mc_core::userinfo::parse_www_authenticate(Endpoint::UserInfo, 401, &header)
    {
        let trimmed = header.trim();
        assert!(
            trimmed
                .as_bytes()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer")),
            "a non-Bearer challenge was read"
        );
        let _ = error.to_string();
        accepted = true;
    }
    // The error answers of the exchanges are never a success.
    let token = token_step(&ctx.operator, response(400, "application/json", data));
    assert!(token.is_err(), "a 400 token answer was a success");
    if let Err(e) = &token {
        touch(e);
    }
    let exchange = login()
        .userinfo(&ctx.operator)
        .expect("the fixed operator has a userinfo endpoint");
    let mut unauthorized = response(401, "application/json", data);
    if let Some(value) = header_value(data) {
        unauthorized
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, value);
    }
    match exchange.respond(unauthorized, now()) {
        Ok(_) => panic!("a 401 userinfo answer was a success"),
        Err(e) => touch(&e),
    }
    let discovery = ctx
        .discovery
        .discover(
            &DiscoveryQuery::by_ip_or_selection(),
            &mut |buf: &mut [u8]| buf.fill(7),
        )
        .expect("the fixed discovery request builds");
    match discovery.respond(response(401, "application/json", data), now()) {
        Ok(_) => panic!("a 401 discovery answer was a success"),
        Err(e) => touch(&e),
    }
    accepted
}

// ---------------------------------------------------------------------------------------------
// Server-initiated login (Mobile Connect SI, OpenID CIBA): the inputs, the oracles
// ---------------------------------------------------------------------------------------------

/// An HTTP message from fuzz bytes: a start line (a request's method, a response's status),
/// `Name: value` header lines, an empty line, then the body as is (`\r\n` or `\n`). Lines that
/// make no header are skipped; without an empty line there is no body.
struct Message {
    start: Vec<u8>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    body: Vec<u8>,
}

/// A line without its `\r\n` or `\n`, and what follows it.
fn split_line(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => {
            let line = &data[..at];
            (
                line.strip_suffix(b"\r").unwrap_or(line),
                Some(&data[at + 1..]),
            )
        }
        None => (data, None),
    }
}

fn message(data: &[u8]) -> Message {
    let (start, mut rest) = split_line(data);
    let mut headers = Vec::new();
    let mut body = Vec::new();
    while let Some(text) = rest {
        let (line, next) = split_line(text);
        if line.is_empty() {
            body = next.unwrap_or_default().to_vec();
            break;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let value = &line[colon + 1..];
            let value = &value[value
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count()..];
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(&line[..colon]),
                http::HeaderValue::from_bytes(value),
            ) {
                headers.push((name, value));
            }
        }
        rest = next;
    }
    Message {
        start: start.to_vec(),
        headers,
        body,
    }
}

/// An input that is a bare JSON body (the operator's usual message), not a whole message.
fn is_bare_json(data: &[u8]) -> bool {
    data.trim_ascii_start().first() == Some(&b'{')
}

/// A response the harness can build again (exchanges consume theirs).
struct Answer {
    status: u16,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, body: &[u8]) -> Self {
        Self {
            status,
            headers: vec![(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )],
            body: body.to_vec(),
        }
    }

    fn build(&self) -> http::Response<Vec<u8>> {
        let mut response = http::Response::new(self.body.clone());
        *response.status_mut() =
            http::StatusCode::from_u16(self.status).expect("a status checked when read");
        for (name, value) in &self.headers {
            response.headers_mut().append(name.clone(), value.clone());
        }
        response
    }
}

/// The operator's answers an input stands for: a bare JSON body at 200 and at 400, or the
/// message it spells (a status line of three digits, headers, body), each also with the body's
/// [`body_variants`].
fn answers(data: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    if is_bare_json(data) {
        for body in body_variants(data) {
            answers.push(Answer::json(200, &body));
            answers.push(Answer::json(400, &body));
        }
    } else {
        let message = message(data);
        let Some(status) = std::str::from_utf8(&message.start)
            .ok()
            .filter(|s| s.len() == 3)
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| http::StatusCode::from_u16(*s).is_ok())
        else {
            return answers;
        };
        for body in body_variants(&message.body) {
            answers.push(Answer {
                status,
                headers: message.headers.clone(),
                body,
            });
        }
    }
    answers
}

/// A body as sent, and the variants that let the fuzzer reach the id_token's claim rules
/// without forging signatures: an `id_token` string whose signing input is re-MACed (HS256,
/// the client secret; spliced in place, the rest of the body byte for byte), and an `id_token`
/// given as a claims object, signed HS256.
fn body_variants(body: &[u8]) -> Vec<Vec<u8>> {
    let mut variants = vec![body.to_vec()];
    let Ok(Value::Object(mut members)) = serde_json::from_slice::<Value>(body) else {
        return variants;
    };
    match members.get("id_token") {
        Some(Value::String(jwt)) => {
            if let Some((signing_input, _)) = jwt.rsplit_once('.')
                && signing_input.contains('.')
            {
                let remaced = format!(
                    "{signing_input}.{}",
                    signature(signing_input, Algorithm::HS256)
                );
                let text = std::str::from_utf8(body).expect("a JSON body is UTF-8");
                if remaced != *jwt
                    && let Some(at) = text.find(jwt.as_str())
                {
                    let mut spliced = Vec::with_capacity(body.len() + remaced.len());
                    spliced.extend_from_slice(&body[..at]);
                    spliced.extend_from_slice(remaced.as_bytes());
                    spliced.extend_from_slice(&body[at + jwt.len()..]);
                    variants.push(spliced);
                }
            }
        }
        Some(claims @ Value::Object(_)) => {
            let jwt = sign_raw(
                br#"{"alg":"HS256","typ":"JWT"}"#,
                claims.to_string().as_bytes(),
                Algorithm::HS256,
            );
            members.insert("id_token".to_owned(), Value::String(jwt));
            variants.push(Value::Object(members).to_string().into_bytes());
        }
        _ => {}
    }
    variants
}

/// The members the oracles read: what decides a notification, a start answer or a poll answer.
const READ_MEMBERS: &[&str] = &[
    "auth_req_id",
    "error",
    "access_token",
    "id_token",
    "token_type",
    "expires_in",
    "interval",
    "correlation_id",
    "refresh_token",
];

/// The top-level members of a JSON object named in [`READ_MEMBERS`], in order, duplicates kept
/// (serde_json's `Value` keeps the last); the others are skipped unread, as mc-core skips them
/// (so a number no `f64` holds there is no reason to fail). `None` for anything but a JSON
/// object.
fn members(body: &[u8]) -> Option<Vec<(String, Value)>> {
    struct Members(Vec<(String, Value)>);
    impl<'de> serde::Deserialize<'de> for Members {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Members;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Members, A::Error> {
                    let mut out = Vec::new();
                    while let Some(name) = map.next_key::<String>()? {
                        if READ_MEMBERS.contains(&name.as_str()) {
                            out.push((name, map.next_value::<Value>()?));
                        } else {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                    Ok(Members(out))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_slice::<Members>(body).ok().map(|m| m.0)
}

/// The values of the members named `name`.
fn named<'a>(members: &'a [(String, Value)], name: &str) -> Vec<&'a Value> {
    assert!(
        READ_MEMBERS.contains(&name),
        "{name} is not read by `members`"
    );
    members
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect()
}

/// The one non-null member named `name`, if there is exactly one member of that name.
fn the_one<'a>(members: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    match named(members, name)[..] {
        [value] if !value.is_null() => Some(value),
        _ => None,
    }
}

/// A number of seconds as the documented lenient rule reads it: a non-negative integer, a
/// finite float in [0, 2^64) truncated, or a string holding either (whitespace around it
/// ignored). `None`: unreadable.
fn oracle_seconds(value: &Value) -> Option<u64> {
    fn float(f: f64) -> Option<u64> {
        // In range when kept; `as` truncates toward zero.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (f.is_finite() && (0.0..18_446_744_073_709_551_616.0).contains(&f)).then_some(f as u64)
    }
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            if n.is_i64() {
                None
            } else {
                n.as_f64().and_then(float)
            }
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(float))
        }
        _ => None,
    }
}

/// Whether some member named `name` is a string (an OAuth `error` is one).
fn has_string(members: &[(String, Value)], name: &str) -> bool {
    named(members, name).iter().any(|v| v.is_string())
}

/// The token of the request's one `Authorization` header when it is `Bearer` (the scheme in
/// any case) followed by spaces and one token (RFC 6750 2.1; spaces around it ignored).
fn oracle_bearer(request: &http::Request<Vec<u8>>) -> Option<String> {
    let mut values = request
        .headers()
        .get_all(http::header::AUTHORIZATION)
        .iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let value = value.as_bytes();
    let (scheme, rest) = (value.get(..6)?, value.get(6..)?);
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = std::str::from_utf8(rest).ok()?.trim_matches(' ');
    (!token.is_empty() && !token.contains(' ')).then(|| token.to_owned())
}

/// Whether the compact JWS verifies under one of the fixed operator's keys (the committed
/// JWKS, or the client secret for HMAC), read independently of mc-core's key choice.
fn signature_verifies(jwt: &str) -> bool {
    let Some((signing_input, signature)) = jwt.rsplit_once('.') else {
        return false;
    };
    let Some(alg) = signing_input
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .and_then(|h| h.get("alg")?.as_str()?.parse::<Algorithm>().ok())
    else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    static KEYS: std::sync::OnceLock<Vec<jsonwebtoken::DecodingKey>> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(JWKS_JSON).expect("the committed JWKS");
        let mut keys = vec![jsonwebtoken::DecodingKey::from_secret(
            CLIENT_SECRET.as_bytes(),
        )];
        keys.extend(
            jwks.keys
                .iter()
                .filter_map(|jwk| jsonwebtoken::DecodingKey::from_jwk(jwk).ok()),
        );
        keys
    });
    let provider = mc_sandbox::keys::provider();
    keys.iter().any(|key| {
        (provider.verifier_factory)(&alg, key)
            .is_ok_and(|v| v.verify(signing_input.as_bytes(), &signature).is_ok())
    })
}

/// The secrets of the fixed server-initiated logins that the input does not itself carry
/// (found once per input: the search is linear, the input may be a quarter of a megabyte).
fn absent_secrets(input: &[u8]) -> Vec<&'static str> {
    let text = String::from_utf8_lossy(input);
    si_ctx()
        .logins()
        .into_iter()
        .flat_map(SiLogin::secrets)
        .filter(|secret| !text.contains(secret))
        .collect()
}

/// No output text shows a secret of the fixed logins the input did not itself carry.
fn check_no_secret(what: &str, text: &str, absent: &[&str]) {
    for secret in absent {
        assert!(!text.contains(secret), "{what} shows a login's secret");
    }
}

/// What a body with an `error` member (of any type) is: the operator's refusal, never a success
/// that ignores it (F4, fixed: also when the rest of the body is no readable OAuth error body).
fn check_no_error(_endpoint: Endpoint, _body: &[u8], members: &[(String, Value)], what: &str) {
    assert!(
        !members.iter().any(|(name, _)| name == "error"),
        "{what} from a body with an error"
    );
}

/// Accepted tokens of a server-initiated login: the body's own tokens, the id_token verified
/// (signature under the operator's keys, every claim rule, `recipient` when notified, the
/// login hint's hash).
fn check_si_tokens(
    login: &SiLogin,
    tokens: &Tokens,
    endpoint: Endpoint,
    body: &[u8],
    members: &[(String, Value)],
    at: u64,
) {
    let si = si_ctx();
    check_no_error(endpoint, body, members, "tokens");
    let access_token = tokens.access_token().expose_secret();
    assert_eq!(
        named(members, "access_token"),
        [&Value::String(access_token.to_owned())],
        "the access token kept is not the one sent"
    );
    let jwt = tokens.id_token().jwt().expose_secret();
    assert_eq!(
        named(members, "id_token"),
        [&Value::String(jwt.to_owned())],
        "the id_token verified is not the one sent"
    );
    assert!(
        signature_verifies(jwt),
        "accepted an id_token no key of the operator signed"
    );
    check_tokens_for(
        tokens,
        access_token,
        &Expect {
            now: at,
            nonce: login.nonce.as_deref(),
            max_age: None,
            min_acr: login.pending.min_acr(),
            di: false,
        },
    );
    let id_token = tokens.id_token();
    if login.kind == StartKind::SiNotification {
        assert!(
            id_token
                .claim("recipient")
                .is_none_or(|r| r == Value::String(NOTIFICATION_URI.to_owned())),
            "accepted a notified id_token for another recipient"
        );
    }
    if login.nonce.is_some() {
        assert!(
            id_token
                .claims()
                .hashed_login_hint
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(&si.hashed_login_hint)),
            "accepted an id_token for another login hint"
        );
    }
    assert_eq!(tokens.operator_id(), si.operator.id());
}

// ---------------------------------------------------------------------------------------------
// si_notification
// ---------------------------------------------------------------------------------------------

/// The operator's notification to the SP: `Notification::parse` on an arbitrary request, then
/// `BackchannelPending::accept` by each fixed server-initiated login (notification, ping and
/// the two polling ones), its key refetch, and `notification_response`.
///
/// The input is a request (`METHOD`, header lines, empty line, body), or a bare JSON body,
/// sent as a `POST` with the bearer token of the notification login and then of the ping
/// login. Bodies also run as their [`body_variants`].
pub fn si_notification(data: &[u8]) {
    let _ = run_si_notification(data);
}

fn notification_request(
    method: http::Method,
    headers: &[(http::HeaderName, http::HeaderValue)],
    body: Vec<u8>,
) -> http::Request<Vec<u8>> {
    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = http::Uri::from_static(NOTIFICATION_URI);
    for (name, value) in headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    request
}

fn run_si_notification(data: &[u8]) -> bool {
    let si = si_ctx();
    let absent = absent_secrets(data);
    let mut accepted = false;
    if is_bare_json(data) {
        for body in body_variants(data) {
            for login in [&si.notify, &si.ping] {
                let token = login
                    .token
                    .as_deref()
                    .expect("a notified login has a token");
                let headers = [
                    (
                        http::header::AUTHORIZATION,
                        http::HeaderValue::from_str(&format!("Bearer {token}"))
                            .expect("a token is a header value"),
                    ),
                    (
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    ),
                ];
                let request = notification_request(http::Method::POST, &headers, body.clone());
                accepted |= notify_every_login(&request, &absent);
            }
        }
    } else {
        let message = message(data);
        let Ok(method) = http::Method::from_bytes(&message.start) else {
            return false;
        };
        for body in body_variants(&message.body) {
            let request = notification_request(method.clone(), &message.headers, body);
            accepted |= notify_every_login(&request, &absent);
        }
    }
    accepted
}

/// The notification handed to every fixed login; whether one took it (answered 204).
fn notify_every_login(request: &http::Request<Vec<u8>>, absent: &[&str]) -> bool {
    let si = si_ctx();
    let mut taken = false;
    let parsed = Notification::parse(request);
    match &parsed {
        Ok(notification) => {
            assert_eq!(request.method(), http::Method::POST, "parsed a non-POST");
            let bearer = oracle_bearer(request);
            assert!(
                bearer.is_some(),
                "parsed a notification without a bearer token"
            );
            let id = notification.auth_req_id();
            assert!(
                !id.is_empty() && id.len() <= mc_core::server_initiated::MAX_AUTH_REQ_ID_BYTES,
                "parsed an auth_req_id of {} bytes",
                id.len()
            );
            let members = members(request.body()).expect("parsed a body that is not an object");
            assert_eq!(
                named(&members, "auth_req_id"),
                [&Value::String(id.to_owned())],
                "parsed another auth_req_id than the body's one"
            );
            // Debug does not depend on the bearer token: the same request with another one
            // prints the same.
            let debug = format!("{notification:?}");
            let mut other =
                notification_request(request.method().clone(), &[], request.body().clone());
            for (name, value) in request.headers() {
                if name != http::header::AUTHORIZATION {
                    other.headers_mut().append(name.clone(), value.clone());
                }
            }
            other.headers_mut().insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_static("Bearer replaced-secret-token"),
            );
            let other = Notification::parse(&other).expect("parsed with another bearer token");
            assert_eq!(
                debug,
                format!("{other:?}"),
                "Debug of Notification depends on the bearer token"
            );
            check_no_secret("Debug of Notification", &debug, absent);
        }
        Err(e) => touch(e),
    }
    for login in si.logins() {
        taken |= notify(login, request, absent);
    }
    if parsed.is_ok() {
        // Another operator's context is the host's misuse, whatever the notification.
        let notification = Notification::parse(request).expect("parsed once already");
        let result = si
            .notify
            .pending
            .accept(&si.foreign, notification, notified_at());
        assert!(
            matches!(result, Err(Error::Misuse(_))),
            "accepted with another operator's context: {result:?}"
        );
        assert_eq!(notification_response(&result).status(), 500);
    }
    taken
}

/// The final result of a notification handed to `login` at `at` (its key refetch answered
/// with the committed JWKS).
fn notified(
    login: &SiLogin,
    request: &http::Request<Vec<u8>>,
    at: UnixTime,
) -> Result<Notified, Error> {
    Notification::parse(request)
        .and_then(|n| login.pending.accept(&si_ctx().operator, n, at))
        .and_then(|outcome| finish_with_jwks(outcome, JWKS_JSON.as_bytes()))
}

/// A verdict in words, to compare two deliveries of the same notification.
fn verdict(result: &Result<Notified, Error>) -> String {
    match result {
        Ok(Notified::Tokens(tokens)) => format!(
            "tokens {} {}",
            tokens.access_token().expose_secret(),
            tokens.id_token().jwt().expose_secret()
        ),
        Ok(Notified::Ping) => "ping".to_owned(),
        Err(e) => format!("error {e}"),
    }
}

fn notify(login: &SiLogin, request: &http::Request<Vec<u8>>, absent: &[&str]) -> bool {
    let at = notified_at();
    let result = notified(login, request, at);
    let expected_bearer = login.token.as_deref();
    let right_bearer =
        expected_bearer.is_some() && oracle_bearer(request).as_deref() == expected_bearer;
    match &result {
        Ok(notified) => {
            assert!(
                login.kind.mode().is_notified(),
                "a {:?} login took a notification",
                login.kind
            );
            assert_eq!(request.method(), http::Method::POST);
            assert!(
                right_bearer,
                "accepted a notification without the login's bearer token"
            );
            let members = members(request.body()).expect("accepted a body that is not an object");
            assert_eq!(
                named(&members, "auth_req_id"),
                [&Value::String(login.pending.auth_req_id().to_owned())],
                "accepted a notification for another auth_req_id"
            );
            assert!(!login.pending.is_expired(at));
            match notified {
                Notified::Tokens(tokens) => {
                    assert_eq!(
                        login.kind,
                        StartKind::SiNotification,
                        "tokens by notification in {:?}",
                        login.kind
                    );
                    check_si_tokens(
                        login,
                        tokens,
                        Endpoint::Notification,
                        request.body(),
                        &members,
                        at.as_secs(),
                    );
                }
                Notified::Ping => {
                    assert_eq!(
                        login.kind,
                        StartKind::CibaPing,
                        "a ping in {:?}",
                        login.kind
                    );
                    for name in ["access_token", "id_token", "token_type", "error"] {
                        assert!(
                            named(&members, name).iter().all(|v| v.is_null()),
                            "took a ping that carries {name}"
                        );
                    }
                }
            }
        }
        Err(Error::Refused(error)) => {
            assert_eq!(error.endpoint, Endpoint::Notification);
            assert!(
                right_bearer,
                "took an error notification without the login's bearer token"
            );
            let members = members(request.body()).expect("took a body that is not an object");
            assert_eq!(
                named(&members, "auth_req_id"),
                [&Value::String(login.pending.auth_req_id().to_owned())],
                "took an error notification for another auth_req_id"
            );
            assert_eq!(
                named(&members, "error"),
                [&Value::String(error.error.clone())],
                "the error taken is not the one sent"
            );
            let _ = error.to_string();
        }
        Err(e) => touch(e),
    }
    if let Err(e) = &result {
        check_no_secret("an error", &format!("{e} {e:?}"), absent);
    }
    // The SP's answer: one of four statuses, no body, nothing of the request echoed.
    let answer = notification_response(&result);
    let status = answer.status().as_u16();
    let expected = match &result {
        Ok(_) => 204,
        Err(Error::Refused(e)) if e.endpoint == Endpoint::Notification => 204,
        Err(Error::Backchannel(
            BackchannelError::BearerMissing | BackchannelError::BearerMismatch,
        )) => 401,
        Err(Error::Misuse(_)) => 500,
        Err(_) => 400,
    };
    assert_eq!(status, expected, "answered {status} to {result:?}");
    assert!(
        answer.body().is_empty(),
        "the notification answer has a body"
    );
    if status == 401 {
        assert!(!right_bearer, "answered 401 to the login's bearer token");
        assert_eq!(
            answer
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }
    for (name, value) in answer.headers() {
        assert!(
            [http::header::CACHE_CONTROL, http::header::WWW_AUTHENTICATE].contains(name),
            "the notification answer has a {name} header"
        );
        check_no_secret(
            "the notification answer",
            &String::from_utf8_lossy(value.as_bytes()),
            &absent_secrets(b""),
        );
    }
    // A duplicate gets the same verdict; a late one is refused.
    assert_eq!(
        verdict(&notified(login, request, at)),
        verdict(&result),
        "a duplicate notification got another verdict"
    );
    assert!(
        notified(login, request, login.pending.expires_at()).is_err(),
        "took a notification after the login expired"
    );
    status == 204
}

/// The next poll of a state given by an answer at `now`: never sooner than its interval after
/// the answer (CIBA Core 7.3; times are whole seconds, so mc-core may add the one second the
/// answer's instant within `now` can take), and so never before `now`.
fn check_next_poll(pending: &BackchannelPending, now: UnixTime) {
    let due = pending.next_poll_at();
    let earliest = now.plus(pending.interval_secs());
    assert!(due > now, "next_poll_at {due:?} not after now {now:?}");
    assert!(
        earliest <= due && due <= earliest.plus(1),
        "next_poll_at {due:?} for an interval of {} s from {now:?}",
        pending.interval_secs()
    );
}

// ---------------------------------------------------------------------------------------------
// backchannel_start
// ---------------------------------------------------------------------------------------------

/// The largest JSON a pending state may take: the fixed login's own fields (operator id, mode,
/// nonce, notification token, URI, hash, times) and what the operator's answer adds, an
/// `auth_req_id` of at most `MAX_AUTH_REQ_ID_BYTES`, each byte escaped as `\u00XX` at worst.
const PENDING_JSON_BOUND: usize = 1024 + 6 * mc_core::server_initiated::MAX_AUTH_REQ_ID_BYTES;

/// The operator's answer to the start of each kind of server-initiated login (Mobile Connect
/// SI notification and polling, OpenID CIBA poll and ping): `respond` on an arbitrary status,
/// headers and body. The input is a response (`STATUS`, header lines, empty line, body), or a
/// bare JSON body, answered at 200 and at 400.
pub fn backchannel_start(data: &[u8]) {
    let _ = run_backchannel_start(data);
}

fn run_backchannel_start(data: &[u8]) -> bool {
    let si = si_ctx();
    let mut accepted = false;
    for answer in answers(data) {
        for kind in StartKind::ALL {
            let result = kind.start(&si.operator).respond(answer.build(), now());
            accepted |= check_started(kind, &answer, result);
        }
    }
    accepted
}

fn check_started(
    kind: StartKind,
    answer: &Answer,
    result: Result<BackchannelPending, Error>,
) -> bool {
    let si = si_ctx();
    let now = now();
    let pending = match result {
        Ok(pending) => pending,
        Err(e) => {
            if let Error::Refused(error) = &e {
                assert_eq!(error.endpoint, kind.endpoint());
            }
            touch(&e);
            return false;
        }
    };
    // Only a 200 whose body is a JSON object with one auth_req_id and a positive expires_in.
    assert_eq!(
        answer.status, 200,
        "a {} start answer gave a pending state",
        answer.status
    );
    let members = members(&answer.body).expect("a pending state from a body that is not an object");
    let id = the_one(&members, "auth_req_id")
        .and_then(Value::as_str)
        .expect("a pending state without one string auth_req_id");
    assert!(
        !id.is_empty() && id.len() <= mc_core::server_initiated::MAX_AUTH_REQ_ID_BYTES,
        "kept an auth_req_id of {} bytes",
        id.len()
    );
    assert_eq!(pending.auth_req_id(), id);
    check_no_error(kind.endpoint(), &answer.body, &members, "a pending state");
    let expires_in = the_one(&members, "expires_in")
        .and_then(oracle_seconds)
        .expect("a pending state without one readable expires_in");
    assert!(expires_in > 0, "a pending state with expires_in 0");
    assert_eq!(pending.expires_at(), now.plus(expires_in));
    let interval = match named(&members, "interval")[..] {
        [] => 5,
        [value] if value.is_null() => 5,
        [value] => match oracle_seconds(value).expect("kept an unreadable interval") {
            0 => 1,
            secs => secs,
        },
        _ => panic!("kept one of several intervals"),
    };
    assert_eq!(pending.interval_secs(), interval);
    check_next_poll(&pending, now);
    assert_eq!(
        pending.correlation_id(),
        the_one(&members, "correlation_id").and_then(Value::as_str),
        "the correlation_id kept is not the answer's"
    );
    assert_eq!(pending.mode(), kind.mode());
    assert_eq!(pending.operator_id(), si.operator.id());
    let login = si.login(kind);
    assert_eq!(pending.min_acr(), login.pending.min_acr());

    // Small, serializable, and printing no secret.
    let json = serde_json::to_string(&pending).expect("a pending state serializes");
    // F3 (fixed): the answer's `correlation_id` is bounded like the rest of the state.
    assert!(
        json.len() <= PENDING_JSON_BOUND,
        "a pending state of {} bytes of JSON",
        json.len()
    );
    let back: BackchannelPending = serde_json::from_str(&json).expect("a pending state reads back");
    assert!(back == pending, "a pending state does not round-trip");
    // The operator chooses the `auth_req_id` and the `correlation_id`, and Debug prints them
    // (they are no secret of the SP): an answer may echo anything in them, the SP's own nonce
    // included (found by this target: the nonce inside an `auth_req_id`). Look for secrets in
    // the rest of the output.
    let mut debug = format!("{pending:?}");
    for echoed in [Some(pending.auth_req_id()), pending.correlation_id()]
        .into_iter()
        .flatten()
    {
        debug = debug.replace(&format!("{echoed:?}"), "");
    }
    for secret in login.secrets().chain([si.hashed_login_hint.as_str()]) {
        assert!(
            !debug.contains(secret),
            "Debug of BackchannelPending shows a secret"
        );
    }

    // The clock rules of the state it gives.
    let op = &si.operator;
    let expired = pending.poll(
        op,
        &mut mc_sandbox::fixture::entropy(),
        pending.expires_at(),
    );
    assert!(expired.is_err(), "a poll after expiry was made");
    match kind {
        StartKind::SiNotification => assert!(
            matches!(
                pending.poll(
                    op,
                    &mut mc_sandbox::fixture::entropy(),
                    pending.next_poll_at()
                ),
                Err(Error::Misuse(MisuseError::WrongMode { .. }))
            ),
            "a notification-mode login polled"
        ),
        StartKind::CibaPing => assert_eq!(
            pending
                .poll(op, &mut mc_sandbox::fixture::entropy(), now)
                .is_ok(),
            !pending.is_expired(now),
            "a ping-mode login is polled at once"
        ),
        StartKind::SiPolling | StartKind::CibaPoll => {
            assert!(
                matches!(
                    pending.poll(op, &mut mc_sandbox::fixture::entropy(), now),
                    Err(Error::Misuse(MisuseError::PollTooEarly { .. }))
                ),
                "polled before next_poll_at"
            );
            let due = pending.next_poll_at();
            assert_eq!(
                pending
                    .poll(op, &mut mc_sandbox::fixture::entropy(), due)
                    .is_ok(),
                !pending.is_expired(due)
            );
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// backchannel_poll
// ---------------------------------------------------------------------------------------------

/// The token endpoint's answer to a poll of each polling login (Mobile Connect SI polling,
/// OpenID CIBA poll, and CIBA ping's one poll): `PollExchange::respond` on an arbitrary
/// response, three rounds while the answer keeps the login pending. The input is read as by
/// `backchannel_start`.
pub fn backchannel_poll(data: &[u8]) {
    let _ = run_backchannel_poll(data);
}

fn run_backchannel_poll(data: &[u8]) -> bool {
    let si = si_ctx();
    let absent = absent_secrets(data);
    let mut accepted = false;
    for answer in answers(data) {
        for login in [&si.si_poll, &si.ciba_poll, &si.ping] {
            let mut state = login.pending.clone();
            for round in 0..3 {
                // Ping mode polls once the ping came, at once; the others when due.
                let at = if login.kind == StartKind::CibaPing && round == 0 {
                    now().plus(1)
                } else {
                    state.next_poll_at()
                };
                if state.is_expired(at) {
                    assert!(
                        matches!(
                            state.poll(&si.operator, &mut mc_sandbox::fixture::entropy(), at),
                            Err(Error::Backchannel(BackchannelError::Expired { .. }))
                        ),
                        "polled an expired login"
                    );
                    break;
                }
                let exchange = state
                    .poll(&si.operator, &mut mc_sandbox::fixture::entropy(), at)
                    .expect("a due poll builds");
                let result = exchange
                    .respond(answer.build(), at)
                    .and_then(|outcome| finish_with_jwks(outcome, JWKS_JSON.as_bytes()));
                match check_polled(login, &state, &answer, at, result, &absent) {
                    Some(Poll::Pending(next)) => {
                        accepted = true;
                        state = next;
                    }
                    Some(Poll::Tokens(_)) => {
                        accepted = true;
                        break;
                    }
                    None => break,
                }
            }
        }
    }
    accepted
}

/// A pending state without what a poll may change, as JSON.
fn unchanged_part(pending: &BackchannelPending) -> Value {
    let mut value = serde_json::to_value(pending).expect("a pending state serializes");
    if let Value::Object(map) = &mut value {
        map.remove("interval");
        map.remove("next_poll_at");
    }
    value
}

fn check_polled(
    login: &SiLogin,
    before: &BackchannelPending,
    answer: &Answer,
    at: UnixTime,
    result: Result<Poll, Error>,
    absent: &[&str],
) -> Option<Poll> {
    let si = si_ctx();
    match result {
        Ok(Poll::Pending(next)) => {
            let members = members(&answer.body).expect("pending from a body that is not an object");
            let error = the_one(&members, "error")
                .and_then(Value::as_str)
                .expect("pending without one error");
            let interval = match error {
                "authorization_pending" => before.interval_secs(),
                "slow_down" => before
                    .interval_secs()
                    .saturating_add(mc_core::server_initiated::SLOW_DOWN_SECS),
                other => panic!("pending on {other:?}"),
            };
            assert_eq!(
                next.interval_secs(),
                interval,
                "{error} gave another interval"
            );
            check_next_poll(&next, at);
            assert_eq!(
                unchanged_part(&next),
                unchanged_part(before),
                "a poll changed the login"
            );
            if login.kind != StartKind::CibaPing {
                let early = next.next_poll_at().minus(1);
                if !next.is_expired(early) {
                    assert!(
                        matches!(
                            next.poll(&si.operator, &mut mc_sandbox::fixture::entropy(), early),
                            Err(Error::Misuse(MisuseError::PollTooEarly { .. }))
                        ),
                        "polled before next_poll_at"
                    );
                }
            }
            Some(Poll::Pending(next))
        }
        Ok(Poll::Tokens(tokens)) => {
            assert_eq!(answer.status, 200, "tokens from a {} answer", answer.status);
            let members = members(&answer.body).expect("tokens from a body that is not an object");
            check_si_tokens(
                login,
                &tokens,
                Endpoint::Token,
                &answer.body,
                &members,
                at.as_secs(),
            );
            Some(Poll::Tokens(tokens))
        }
        Err(e) => {
            if let Error::Refused(error) = &e {
                assert_eq!(error.endpoint, Endpoint::Token);
                assert!(
                    !error.is("authorization_pending") && !error.is("slow_down"),
                    "{} ended the login",
                    error.error
                );
                let members =
                    members(&answer.body).expect("an error from a body that is not an object");
                assert_eq!(
                    named(&members, "error"),
                    [&Value::String(error.error.clone())],
                    "the error read is not the one sent"
                );
            }
            touch(&e);
            check_no_secret("an error", &format!("{e} {e:?}"), absent);
            None
        }
    }
}

/// KYC match: `KycResult::read` on the input as a claims map (a JSON object), and the claims
/// request built from the input's lines as attribute values (plain and hashed).
pub fn kyc_result(data: &[u8]) {
    let _ = run_kyc_result(data);
}

const KYC_SUFFIXES: [&str; 3] = ["_match", "_hashed_match", "_hash_match"];

fn run_kyc_result(data: &[u8]) -> bool {
    kyc_request(data);
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) else {
        return false;
    };
    match mc_core::KycResult::read(&claims) {
        Ok(result) => {
            // Every answer read is one the body holds, spelled exactly as on the wire.
            for (attribute, code) in result.codes() {
                let sent = KYC_SUFFIXES.iter().any(|suffix| {
                    claims.get(&format!("{attribute}{suffix}")) == Some(&Value::from(code.as_str()))
                });
                assert!(sent, "{attribute} read as {code:?} without such a claim");
            }
            // Every attribute the body answers is read.
            for attribute in mc_core::KycAttribute::ALL {
                let answered = KYC_SUFFIXES
                    .iter()
                    .any(|suffix| claims.contains_key(&format!("{attribute}{suffix}")));
                assert_eq!(answered, result.get(attribute).is_some(), "{attribute}");
            }
            if let Some(segment) = result.billing_segment() {
                assert_eq!(claims.get("billing_segment"), Some(&Value::from(segment)));
            }
            if let Some(state) = result.account_state() {
                assert_eq!(claims.get("account_state"), Some(&Value::from(state)));
            }
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

/// The input's lines as the values of the attributes, in `KycAttribute::ALL` order (an empty
/// line leaves the attribute out): a request is built exactly when it validates, and keys its
/// claims by attribute name.
fn kyc_request(data: &[u8]) {
    use mc_core::{KycAttribute, KycMatch, KycMode};
    let text = String::from_utf8_lossy(data);
    let mut request = KycMatch::new();
    for (attribute, line) in KycAttribute::ALL.into_iter().zip(text.split('\n')) {
        if !line.is_empty() {
            request = request.set(attribute, line);
        }
    }
    let valid = request.validate().is_ok();
    for mode in [KycMode::Plain, KycMode::Hashed] {
        match request.build(mode) {
            Ok(claims) => {
                assert!(valid);
                let premiuminfo = claims
                    .get("premiuminfo")
                    .and_then(Value::as_object)
                    .expect("a premiuminfo object");
                let mut names: Vec<&str> = premiuminfo
                    .keys()
                    .map(|key| match mode {
                        KycMode::Plain => key.as_str(),
                        KycMode::Hashed => key.strip_suffix("_hashed").expect("_hashed key"),
                    })
                    .collect();
                let mut expected: Vec<&str> = request.attributes().map(|a| a.as_str()).collect();
                names.sort_unstable();
                expected.sort_unstable();
                assert_eq!(names, expected);
                if mode == KycMode::Hashed {
                    for claim in premiuminfo.values() {
                        let hex = claim.get("value").and_then(Value::as_str).expect("a value");
                        assert_eq!(hex.len(), 64);
                        assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
                    }
                }
            }
            Err(e) => {
                assert!(!valid);
                let _ = e.to_string();
            }
        }
    }
}

/// The refresh token the fixed login's first answer carried (see [`refresh_login`]).
const REFRESH_TOKEN: &str = "rt-fuzz-0001";

/// Tokens of the fixed login (HS256 id_token) whose answer also carried [`REFRESH_TOKEN`].
fn refresh_login() -> &'static Tokens {
    static TOKENS: std::sync::OnceLock<Tokens> = std::sync::OnceLock::new();
    TOKENS.get_or_init(|| {
        let ctx = ctx();
        let mut body: Value =
            serde_json::from_slice(&token_body(&ctx.hs256)).expect("the fixed token body");
        body["refresh_token"] = Value::from(REFRESH_TOKEN);
        let tokens = token_step(
            &ctx.operator,
            response(200, "application/json", body.to_string().as_bytes()),
        )
        .expect("the fixed login with a refresh token verifies");
        assert_eq!(
            tokens.refresh_token().map(|t| t.expose_secret()),
            Some(REFRESH_TOKEN)
        );
        tokens
    })
}

/// A refresh answer: `RefreshExchange::respond` of the fixed login's refresh on each answer
/// the input stands for ([`answers`]: a bare JSON body at 200 and 400, or a whole message, with
/// an `id_token` re-MACed or given as HS256-signed claims), a JWKS refetch answered with the
/// committed keys. Accepted tokens hold to the answer and to OIDC Core 12.2 against the login.
pub fn refresh_response(data: &[u8]) {
    let _ = run_refresh_response(data);
}

fn run_refresh_response(data: &[u8]) -> bool {
    let ctx = ctx();
    let original = refresh_login();
    let mut accepted = false;
    for answer in answers(data) {
        let exchange = original
            .refresh(&ctx.operator, now())
            .expect("the fixed login has a refresh token");
        let outcome = exchange
            .respond(answer.build(), now())
            .and_then(|outcome| finish_with_jwks(outcome, JWKS_JSON.as_bytes()));
        match outcome {
            Ok(tokens) => {
                check_refreshed(original, &answer, &tokens);
                accepted = true;
            }
            Err(e) => touch(&e),
        }
    }
    accepted
}

/// What accepted refreshed tokens must satisfy, read from the answer independently.
fn check_refreshed(original: &Tokens, answer: &Answer, tokens: &Tokens) {
    assert_eq!(answer.status, 200, "tokens from a {} answer", answer.status);
    let parsed = TokenResponse::parse(&answer.body).expect("refreshed from a body parse refuses");
    assert_eq!(
        Some(tokens.access_token().expose_secret()),
        parsed.access_token().map(|t| t.expose_secret()),
        "the access token is not the one sent"
    );
    // A new id_token replaces the original; without one, the original stays.
    let expected_jwt = parsed.id_token().unwrap_or(original.id_token().jwt());
    assert_eq!(
        tokens.id_token().jwt(),
        expected_jwt,
        "not the id_token sent"
    );
    // A rotated refresh token replaces the old one; a missing (or null) one keeps it.
    // Read member by member: another member may hold a number no `f64` holds, which mc-core
    // skips unread (found by this target: `"auth_time":1789e99990` inside an unknown member).
    let members = members(&answer.body).expect("refreshed from a body that is not an object");
    let refresh = tokens.refresh_token().map(|t| t.expose_secret());
    match the_one(&members, "refresh_token").and_then(Value::as_str) {
        Some(sent) if !sent.is_empty() => assert_eq!(refresh, Some(sent), "rotation lost"),
        Some(_) => {}
        None => assert_eq!(
            refresh,
            Some(REFRESH_TOKEN),
            "the old refresh token was lost"
        ),
    }
    // OIDC Core 12.2: the same authentication.
    let (was, now_claims) = (original.id_token().claims(), tokens.id_token().claims());
    assert_eq!(
        now_claims.iss.as_deref(),
        Some(ISSUER),
        "accepted foreign iss"
    );
    assert_eq!(tokens.sub(), original.sub(), "accepted a changed sub");
    assert!(
        now_claims.aud.iter().any(|a| a == CLIENT_ID),
        "accepted aud without our client_id"
    );
    if let (Some(was), Some(found)) = (was.auth_time, now_claims.auth_time) {
        assert_eq!(was, found, "accepted a changed auth_time");
    }
    if let Some(nonce) = &now_claims.nonce {
        assert_eq!(was.nonce.as_ref(), Some(nonce), "accepted a foreign nonce");
    }
    assert_eq!(tokens.operator_id(), original.operator_id());
}

// ---------------------------------------------------------------------------------------------
// The SMS one-time-password grant
// ---------------------------------------------------------------------------------------------

/// The number the fixed one-time-password challenge went to.
const OTP_NUMBER: &str = "447700900123";

/// The reference of the fixed challenge.
const OTP_REFERENCE: &str = "otp-ref-0001";

/// The default challenge member.
const OTP_CHALLENGE: &str = "x_globalsign_iam_challenge";

fn otp_start() -> mc_core::OtpStartExchange {
    ctx()
        .operator
        .otp_start(&Msisdn::new(OTP_NUMBER), "Your code is {0}", now())
        .expect("the fixed start")
}

/// The fixed challenge, as the start step read it from the operator's answer.
fn otp_challenge() -> &'static mc_core::OtpChallenge {
    static CHALLENGE: std::sync::OnceLock<mc_core::OtpChallenge> = std::sync::OnceLock::new();
    CHALLENGE.get_or_init(|| {
        let body = format!(r#"{{"{OTP_CHALLENGE}":{{"reference":"{OTP_REFERENCE}"}}}}"#);
        otp_start()
            .respond(response(200, "application/json", body.as_bytes()), now())
            .expect("the fixed challenge")
    })
}

/// The reference a verification request sends, read back from its form body.
fn sent_reference(challenge: &mc_core::OtpChallenge) -> String {
    let request = challenge
        .verify(&ctx().operator, &mc_core::OtpCode::new("123456"), now())
        .expect("a challenge read now is usable now")
        .request();
    url::form_urlencoded::parse(request.body())
        .find(|(name, _)| name == "x_globalsign_iam_reference_id")
        .map(|(_, value)| value.into_owned())
        .expect("the reference is sent")
}

/// The challenge reference an answer body holds, read independently (serde_json keeps the
/// last of duplicate members, as mc-core's reading does).
fn body_reference(body: &[u8]) -> Option<String> {
    let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    members
        .get(OTP_CHALLENGE)?
        .get("reference")?
        .as_str()
        .map(str::to_owned)
}

/// The SMS one-time-password grant's answers: `ChallengeBody::parse` on the input, then for
/// each answer the input stands for ([`answers`]) the start step (`OtpStartExchange::respond`:
/// an accepted challenge carries the body's reference, printable, with an expiry ahead) and the
/// verification of the fixed challenge (`OtpVerifyExchange::respond`, a JWKS refetch answered
/// with the committed keys: accepted tokens come from a 200 and name the number as `sub`, with
/// an `amr`, our issuer and audience; an "expired" verdict is an `invalid_grant` whose fresh
/// challenge, if any, is the one in the body).
pub fn otp_response(data: &[u8]) {
    let _ = run_otp_response(data);
}

fn run_otp_response(data: &[u8]) -> bool {
    if let Ok(parsed) = mc_core::otp::ChallengeBody::parse(OTP_CHALLENGE, data) {
        assert!(
            !parsed.reference.is_empty()
                && parsed.reference.len() <= 1024
                && parsed.reference.bytes().all(|b| b.is_ascii_graphic()),
            "an unusable reference was read"
        );
        assert_ne!(parsed.expires_in, Some(0), "a zero expiry was read");
    }
    let ctx = ctx();
    let mut accepted = false;
    for answer in answers(data) {
        match otp_start().respond(answer.build(), now()) {
            Ok(challenge) => {
                assert_eq!(
                    answer.status, 200,
                    "a challenge from a {} answer",
                    answer.status
                );
                assert_eq!(
                    Some(sent_reference(&challenge)),
                    body_reference(&answer.body),
                    "not the reference sent"
                );
                assert!(
                    challenge.expires_at() > now(),
                    "a challenge expired when read"
                );
                assert_eq!(challenge.msisdn().expose_secret(), OTP_NUMBER);
                assert!(
                    !format!("{challenge:?}").contains(OTP_NUMBER),
                    "the number in Debug"
                );
                accepted = true;
            }
            Err(e) => touch(&e),
        }
        let verify = otp_challenge()
            .verify(&ctx.operator, &mc_core::OtpCode::new("123456"), now())
            .expect("the fixed challenge is usable now");
        let outcome = verify
            .respond(answer.build(), now())
            .and_then(|outcome| finish_with_jwks(outcome, JWKS_JSON.as_bytes()));
        match outcome {
            Ok(tokens) => {
                assert_eq!(answer.status, 200, "tokens from a {} answer", answer.status);
                let parsed =
                    TokenResponse::parse(&answer.body).expect("tokens from a body parse refuses");
                assert_eq!(
                    Some(tokens.access_token().expose_secret()),
                    parsed.access_token().map(|t| t.expose_secret()),
                    "the access token is not the one sent"
                );
                let claims = tokens.id_token().claims();
                let sub = tokens.sub();
                let sub = sub.strip_prefix("tel:").unwrap_or(sub);
                assert_eq!(
                    sub.strip_prefix('+').unwrap_or(sub),
                    OTP_NUMBER,
                    "accepted another sub"
                );
                assert!(!claims.amr.is_empty(), "accepted no amr");
                assert_eq!(
                    claims.iss.as_deref(),
                    Some(ISSUER),
                    "accepted a foreign iss"
                );
                assert!(
                    claims.aud.iter().any(|a| a == CLIENT_ID),
                    "accepted a foreign aud"
                );
                accepted = true;
            }
            Err(Error::Otp(mc_core::OtpError::Expired { refusal, challenge })) => {
                assert!(
                    refusal.is("invalid_grant"),
                    "expired from {}",
                    refusal.error
                );
                if let Some(fresh) = challenge {
                    assert_eq!(
                        Some(sent_reference(&fresh)),
                        body_reference(&answer.body),
                        "a fresh challenge not in the body"
                    );
                    assert_eq!(fresh.msisdn().expose_secret(), OTP_NUMBER);
                }
            }
            Err(e) => touch(&e),
        }
    }
    accepted
}
