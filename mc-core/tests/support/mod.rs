//! Shared test support: mc-core's types around the one test fixture (`mc_sandbox::fixture`: the
//! fixed login's time, keys, claims, tokens and responses), deterministic entropy, and the
//! in-memory sandbox operator driven on the fixed clock. Not every test file uses every item.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use mc_core::{
    AuthorizeOptions, Authorizing, ClientSecret, Discovered, DiscoveryService, Exchange as _, Jwks,
    OperatorConfig, Outcome, Policy, Registration, TokenExchange, UnixTime, Verified,
};
use mc_sandbox::Sandbox;
use proptest::strategy::{BoxedStrategy, Just, Strategy, Union};
use proptest::test_runner::Config as ProptestConfig;
// The fixed login's values under the names the tests use (each test file uses some of them).
#[allow(unused_imports)]
pub use mc_sandbox::fixture::{
    ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, EC_P256, ISSUER, NOW, REDIRECT_URI, RSA_1024, RSA_A,
    RSA_B, SUB, TestKey, default_jwks_body, entropy, json_response, jwks_body, jwks_response,
    response as raw_response, sign, sign_hmac, sign_raw, token_response,
};
use serde_json::Value;

pub fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

/// A selection leg of the browser started at [`NOW`], valid for 600 s (the state its returns
/// carry, if any: `selection_leg().state()`).
pub fn selection_leg() -> mc_core::SelectionLeg {
    mc_core::SelectionLeg::new(&mut entropy(), now(), 600)
}

/// The default key set of the test operator, parsed.
pub fn default_jwks() -> Jwks {
    Jwks::parse(&default_jwks_body()).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the test operator handed the SP when it registered.
pub fn registration() -> Registration {
    registration_with_secret(CLIENT_SECRET)
}

/// The same registration with another client secret.
pub fn registration_with_secret(secret: &str) -> Registration {
    Registration {
        operator_id: "test-operator".to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: ClientSecret::new(secret),
        redirect_uri: REDIRECT_URI.to_owned(),
    }
}

/// The operator's registry entry (no metadata: the Mobile Connect profile).
pub fn operator_config() -> OperatorConfig {
    operator_config_for(registration())
}

/// The test operator's registry entry for another registration (e.g. another client secret).
pub fn operator_config_for(registration: Registration) -> OperatorConfig {
    use mc_sandbox::fixture::{
        AUTHORIZATION_ENDPOINT, JWKS_URI, PREMIUMINFO_ENDPOINT, TOKEN_ENDPOINT, USERINFO_ENDPOINT,
    };
    OperatorConfig::new(registration)
        .unwrap()
        .issuer(ISSUER)
        .authorization(AUTHORIZATION_ENDPOINT)
        .unwrap()
        .token(TOKEN_ENDPOINT)
        .unwrap()
        .jwks(JWKS_URI)
        .unwrap()
        .userinfo(USERINFO_ENDPOINT)
        .unwrap()
        .premiuminfo(PREMIUMINFO_ENDPOINT)
        .unwrap()
        .client_name("Test Shop")
}

/// A context built from `config`, with the default keys stored as fetched at [`NOW`]. Every call
/// builds a context of its own: clones of a context share its keys.
pub fn built_with_keys(config: OperatorConfig) -> Discovered {
    let op = config.build().unwrap();
    op.set_jwks(default_jwks(), now());
    op
}

/// The operator context with its default keys loaded at [`NOW`].
pub fn operator() -> Discovered {
    built_with_keys(operator_config())
}

/// The same operator with a modified policy (fixed when the context is built).
pub fn operator_with_policy(edit: impl FnOnce(&mut Policy)) -> Discovered {
    let mut policy = Policy::default();
    edit(&mut policy);
    built_with_keys(operator_config().policy(policy))
}

/// The operator with no spacing between JWKS refetches, for tests that rotate keys right after
/// the context stored its key set (the default policy refuses an unknown `kid` for 60 s then).
pub fn operator_refetching_at_once() -> Discovered {
    operator_with_policy(|p| p.jwks_min_refetch_secs = 0)
}

/// The URL without its query, then one decoded `k=v` per line, then the raw URL (to show the
/// percent-encoding actually sent).
pub fn render_url(url: &url::Url) -> String {
    let mut base = url.clone();
    base.set_query(None);
    let mut out = String::new();
    writeln!(out, "{base}").unwrap();
    for (name, value) in url.query_pairs() {
        writeln!(out, "{name}={value}").unwrap();
    }
    writeln!(out).unwrap();
    write!(out, "raw: {url}").unwrap();
    out
}

/// The query parameters of a URL.
pub fn query_of(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The SP's account at the test discovery service (https).
pub fn discovery_service() -> DiscoveryService {
    discovery_service_with_secret("disc-secret")
}

/// The same account with another client secret.
pub fn discovery_service_with_secret(secret: &str) -> DiscoveryService {
    DiscoveryService::new(
        "https://discovery.example/v2/discovery",
        "disc-client",
        ClientSecret::new(secret),
        "https://sp.example/discovered",
    )
    .unwrap()
}

/// The `rel`s of a discovery answer's links that name an operator endpoint (each must be https).
pub const OPERATOR_ENDPOINT_RELS: [&str; 7] = [
    "authorization",
    "token",
    "userinfo",
    "premiuminfo",
    "jwks",
    "tokenrevoke",
    "tokenrefresh",
];

/// A started login: the flow state, and the state/nonce/verifier the operator saw.
pub struct Started {
    pub flow: Authorizing,
    pub state: String,
    pub nonce: String,
    pub url: url::Url,
}

pub fn start(op: &Discovered, options: AuthorizeOptions) -> Started {
    let mut rng = entropy();
    let (redirect, flow) = op.authorize(options, &mut rng, now()).unwrap();
    let pairs = query_of(redirect.url());
    Started {
        state: param(&pairs, "state").unwrap(),
        nonce: param(&pairs, "nonce").unwrap(),
        url: redirect.url().clone(),
        flow,
    }
}

/// The token exchange of a started login, after the browser came back with `code` (as it stands
/// in the query) and the login's state.
pub fn exchange_code(op: &Discovered, started: Started, code: &str) -> TokenExchange {
    let query = format!("code={code}&state={}", started.state);
    let received = started.flow.callback(op, &query, now()).unwrap();
    received.token_exchange(op, now()).unwrap()
}

/// Valid id_token claims for a login with this nonce, the default access token, LoA 2.
pub fn valid_claims(nonce: &str) -> Value {
    mc_sandbox::fixture::valid_claims(nonce, Algorithm::RS256)
}

/// The valid id_token of a login with this nonce: [`valid_claims`] signed RS256 by RSA A as
/// `kid-a`.
pub fn valid_id_token(nonce: &str) -> String {
    mc_sandbox::fixture::id_token(nonce, Algorithm::RS256)
}

/// Run a login to the token step and hand the token endpoint `response`. A JWKS refetch the
/// step asks for is answered by an unchanged key set (the operator did not rotate): a `kid`
/// unknown before stays unknown, so the result is the verdict on the keys the context holds.
pub fn token_step(
    op: &Discovered,
    options: AuthorizeOptions,
    make_response: impl FnOnce(&Started) -> http::Response<Vec<u8>>,
) -> Result<mc_core::Tokens, mc_core::Error> {
    let started = start(op, options);
    let response = make_response(&started);
    let query = format!("code=the-code&state={}", started.state);
    let code = started.flow.callback(op, &query, now())?;
    let exchange = code.token_exchange(op, now())?;
    match exchange.respond(response, now())? {
        Verified::Done(tokens) => Ok(tokens),
        Verified::NeedJwks(refetch) => {
            let jwks_url = op.endpoints().jwks.as_ref().map(url::Url::as_str);
            assert_eq!(Some(refetch.request().uri().to_string().as_str()), jwks_url);
            op.set_jwks(op.jwks(), now());
            match refetch.with_newer_keys(now())? {
                Verified::Done(tokens) => Ok(tokens),
                Verified::NeedJwks(_) => panic!("keys stored after the pause finish the step"),
            }
        }
    }
}

/// The id_token verification of the login's valid claims after `edit`, signed RS256 by RSA A as
/// `kid-a`, for a login started with the default options.
pub fn verify_claims(
    op: &Discovered,
    edit: impl FnOnce(&mut Value),
) -> Result<mc_core::Tokens, mc_core::Error> {
    verify_claims_with(op, AuthorizeOptions::new(), edit)
}

/// The same for a login started with `options`.
pub fn verify_claims_with(
    op: &Discovered,
    options: AuthorizeOptions,
    edit: impl FnOnce(&mut Value),
) -> Result<mc_core::Tokens, mc_core::Error> {
    token_step(op, options, |s| {
        let mut claims = valid_claims(&s.nonce);
        edit(&mut claims);
        token_response(&sign(
            &claims,
            Algorithm::RS256,
            TestKey::RsaA,
            Some(mc_sandbox::fixture::KID_RSA),
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Request transcripts
// ---------------------------------------------------------------------------------------------

/// `METHOD URI`, the headers sorted by name (`name: value`, sensitive values printed and flagged,
/// Basic credentials decoded alongside), a blank line, then the body as UTF-8: what a reviewer
/// reads in a snapshot.
pub fn transcript(request: &http::Request<Vec<u8>>) -> String {
    let mut out = String::new();
    writeln!(out, "{} {}", request.method(), request.uri()).unwrap();
    let mut headers: Vec<(&str, &http::HeaderValue)> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value))
        .collect();
    // Stable: repeated headers keep their order.
    headers.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        write!(out, "{name}: {text}").unwrap();
        if value.is_sensitive() {
            out.push_str("  # sensitive");
            if let Some(encoded) = text.strip_prefix("Basic ") {
                let decoded = STANDARD.decode(encoded).expect("Basic value is base64");
                let decoded = String::from_utf8(decoded).expect("Basic value is UTF-8");
                write!(out, "; decoded: {decoded}").unwrap();
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(std::str::from_utf8(request.body()).expect("request body is UTF-8"));
    out
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// `n` cases, and no regression files written next to the sources (a failure prints its
/// minimal input; copy it into a unit test to keep it).
pub fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(n)
    }
}

/// JSON's structural characters, a space, a quote and a backslash: where a scanner of JSON text
/// goes wrong.
const JSON_PUNCTUATION: [&str; 9] = ["{", "}", "[", "]", ":", ",", " ", "\"", "\\"];

/// JSON-ish text of up to 24 fragments, each one of [`JSON_PUNCTUATION`] or drawn from one of
/// `more`, every one of these choices equally likely.
pub fn json_soup(
    more: impl IntoIterator<Item = BoxedStrategy<&'static str>>,
) -> impl Strategy<Value = Vec<u8>> {
    let fragments = JSON_PUNCTUATION
        .into_iter()
        .map(|p| Just(p).boxed())
        .chain(more);
    proptest::collection::vec(Union::new(fragments), 0..24)
        .prop_map(|parts| parts.concat().into_bytes())
}

// ---------------------------------------------------------------------------------------------
// The in-memory sandbox operator
// ---------------------------------------------------------------------------------------------

/// The SP's registry entry for a sandbox operator, as a host writes it from what the operator
/// handed over: the operator's name as its id, the SP's credentials there, its endpoints under
/// the sandbox's issuer. No metadata, no keys.
pub fn sandbox_config(sandbox: &Sandbox, operator: &str) -> OperatorConfig {
    let info = Sandbox::operator(operator).unwrap();
    let issuer = sandbox.issuer(operator);
    OperatorConfig::new(Registration {
        operator_id: operator.to_owned(),
        client_id: info.client_id.to_owned(),
        client_secret: ClientSecret::new(sandbox.client_secret(operator).unwrap()),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .unwrap()
    .issuer(&issuer)
    .authorization(&format!("{issuer}/authorize"))
    .unwrap()
    .token(&format!("{issuer}/token"))
    .unwrap()
    .jwks(&format!("{issuer}/jwks"))
    .unwrap()
    .userinfo(&format!("{issuer}/userinfo"))
    .unwrap()
    .premiuminfo(&format!("{issuer}/premiuminfo"))
    .unwrap()
}

/// The JWKS a sandbox operator serves now (read without a request, so none is logged).
pub fn sandbox_jwks(sandbox: &Sandbox, operator: &str) -> Jwks {
    let key = sandbox.signing_key(operator).unwrap();
    Jwks::parse(&jwks_body(&[key.jwk()])).unwrap()
}

/// A context of a sandbox operator built from `config`, holding the keys the operator signs
/// with now, stored at [`NOW`].
pub fn sandbox_operator(sandbox: &Sandbox, operator: &str, config: OperatorConfig) -> Discovered {
    let op = config.build().unwrap();
    op.set_jwks(sandbox_jwks(sandbox, operator), now());
    op
}

/// Drive one exchange against the in-memory sandbox: its request answered, its response judged
/// at [`NOW`].
pub fn run<E: mc_core::Exchange>(
    sandbox: &Sandbox,
    exchange: E,
) -> Result<E::Output, mc_core::Error> {
    let response = sandbox.handle(&exchange.request());
    exchange.respond(response, now())
}

/// Drive a step to its end against the sandbox, as an adapter's `execute` does: the exchange,
/// then the JWKS refetch when the step pauses for keys.
pub fn finish<E>(
    sandbox: &Sandbox,
    exchange: E,
) -> Result<<E::Output as Outcome>::Value, mc_core::Error>
where
    E: mc_core::Exchange,
    E::Output: Outcome,
{
    match run(sandbox, exchange)?.into_verified() {
        Verified::Done(value) => Ok(value),
        Verified::NeedJwks(refetch) => run(sandbox, refetch),
    }
}

/// The requests the sandbox served so far whose path ends with `suffix` (`/jwks`, `/token`).
pub fn served(sandbox: &Sandbox, suffix: &str) -> usize {
    sandbox
        .request_log()
        .iter()
        .filter(|r| r.ends_with(suffix))
        .count()
}
