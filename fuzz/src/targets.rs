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
//! position where an object is required). The oracle here no longer tolerates either: a
//! regression is a failed assertion.
#![allow(unreachable_pub, dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, AuthorizeOptions, ClientSecret, DiscoveryAnswer, DiscoveryOutcome, DiscoveryQuery,
    Endpoint, Error, Exchange as _, Jwks, KeyType, LoginHint, MccMnc, MisuseError, Msisdn,
    OperatorConfig, ProviderMetadata, Registration, SelectionReturn, SubscriberId, TokenResponse,
    Tokens, UserInfo,
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

/// Every id_token rule holds for accepted tokens of the fixed login.
fn check_tokens(tokens: &Tokens, access_token: &str) {
    let ctx = ctx();
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
        claims.exp.is_some_and(|e| NOW < e.saturating_add(LEEWAY)),
        "accepted an expired token"
    );
    assert!(
        claims.iat.is_some_and(|i| i <= NOW + LEEWAY),
        "accepted iat in the future"
    );
    assert!(
        claims.nbf.is_none_or(|n| n <= NOW + LEEWAY),
        "accepted a token not yet valid"
    );
    assert!(
        claims
            .auth_time
            .is_some_and(|t| NOW <= t.saturating_add(MAX_AGE).saturating_add(LEEWAY)),
        "accepted auth_time older than max_age"
    );
    assert!(
        claims.auth_time.is_some_and(
            |t| t <= NOW + LEEWAY && claims.iat.is_some_and(|i| t <= i.saturating_add(LEEWAY))
        ),
        "accepted auth_time in the future or after iat"
    );
    assert!(
        claims
            .nonce
            .as_ref()
            .is_some_and(|n| n.expose_secret() == ctx.nonce),
        "accepted a foreign nonce"
    );
    // Levels are the exact strings "1" to "4" ("+3", "003" or " 3" are not levels).
    assert!(
        claims
            .acr
            .as_deref()
            .and_then(|a| ["1", "2", "3", "4"].iter().position(|l| *l == a))
            .is_some_and(|i| i + 1 >= usize::from(MIN_ACR)),
        "accepted acr below the requested LoA"
    );
    assert_eq!(
        claims.at_hash,
        mc_core::id_token::at_hash(access_token, id_token.alg()),
        "accepted a wrong at_hash"
    );
    assert!(
        claims.amr.iter().any(|m| !m.is_empty()),
        "accepted a token without an amr method"
    );
    assert!(
        ctx.operator
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
