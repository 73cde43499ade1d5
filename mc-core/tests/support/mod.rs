//! Shared test support: fixed time, deterministic entropy, real keys, a token signer and a small
//! in-memory operator. Not every test file uses every item.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod fake_operator;

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use mc_core::{
    AuthorizeOptions, Authorizing, ClientSecret, Discovered, Exchange as _, Jwks, OperatorConfig,
    Policy, Registration, UnixTime, Verified,
};
use serde_json::{Value, json};

/// The fixed "now" of every test: 2026-09-21T14:13:20Z.
pub const NOW: u64 = 1_790_000_000;
pub const ISSUER: &str = "https://op.example";
pub const CLIENT_ID: &str = "client-123";
pub const CLIENT_SECRET: &str = "s3cret-client-secret-value-long-enough-for-hmac-sha512-keys-0042";
pub const REDIRECT_URI: &str = "https://sp.example/callback";
pub const ACCESS_TOKEN: &str = "at-0123456789abcdef";
pub const SUB: &str = "pcr-411421B0-38D6";

pub fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

/// Deterministic "randomness": a counter, so snapshots are stable.
pub fn entropy() -> impl FnMut(&mut [u8]) {
    let mut counter: u8 = 0;
    move |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            counter = counter.wrapping_add(1);
            *b = counter;
        }
    }
}

/// A selection leg of the browser started at [`NOW`], valid for 600 s (the state its returns
/// carry, if any: `selection_leg().state()`).
pub fn selection_leg() -> mc_core::SelectionLeg {
    mc_core::SelectionLeg::new(&mut entropy(), now(), 600)
}

pub const RSA_A: &str = include_str!("../keys/rsa-a.pem");
pub const RSA_B: &str = include_str!("../keys/rsa-b.pem");
pub const RSA_1024: &str = include_str!("../keys/rsa-1024.pem");
pub const EC_P256: &str = include_str!("../keys/ec-p256.pem");
const PUBLIC: &str = include_str!("../keys/public.json");

/// A private key of the test operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKey {
    RsaA,
    RsaB,
    Rsa1024,
    EcP256,
}

impl TestKey {
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaA => "rsa-a",
            Self::RsaB => "rsa-b",
            Self::Rsa1024 => "rsa-1024",
            Self::EcP256 => "ec-p256",
        }
    }

    pub fn encoding_key(self) -> EncodingKey {
        match self {
            Self::RsaA => EncodingKey::from_rsa_pem(RSA_A.as_bytes()).unwrap(),
            Self::RsaB => EncodingKey::from_rsa_pem(RSA_B.as_bytes()).unwrap(),
            Self::Rsa1024 => EncodingKey::from_rsa_pem(RSA_1024.as_bytes()).unwrap(),
            Self::EcP256 => EncodingKey::from_ec_pem(EC_P256.as_bytes()).unwrap(),
        }
    }

    /// The public JWK with `kid` (and `alg` when given).
    pub fn jwk(self, kid: Option<&str>, alg: Option<&str>) -> Value {
        let all: Value = serde_json::from_str(PUBLIC).unwrap();
        let mut jwk = all[self.name()].clone();
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk["use"] = json!("sig");
        jwk
    }
}

/// A JWKS document body from JWK values.
pub fn jwks_body(keys: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

/// The JWKS document the test operator serves: RSA A as `kid-a`, the EC key as `kid-ec`.
pub fn default_jwks_body() -> Vec<u8> {
    jwks_body(&[
        TestKey::RsaA.jwk(Some("kid-a"), Some("RS256")),
        TestKey::EcP256.jwk(Some("kid-ec"), None),
    ])
}

/// The default key set of the test operator, parsed.
pub fn default_jwks() -> Jwks {
    Jwks::parse(&default_jwks_body()).unwrap()
}

/// A 200 answer of the JWKS endpoint with these JWK values.
pub fn jwks_response(keys: &[Value]) -> http::Response<Vec<u8>> {
    raw_response(200, "application/json", &jwks_body(keys))
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Sign a JWS over exactly these header and claims values with the backend mc-core uses.
pub fn sign_raw(header: &Value, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signer = (mc_core::crypto::provider().signer_factory)(&alg, key).unwrap();
    let signature = signer.try_sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64(&signature))
}

/// Sign with a test key, header `{"alg", "typ":"JWT", "kid"}`.
pub fn sign(claims: &Value, alg: Algorithm, key: TestKey, kid: Option<&str>) -> String {
    let mut header = json!({ "alg": format!("{alg:?}"), "typ": "JWT" });
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    sign_raw(&header, claims, alg, &key.encoding_key())
}

/// Sign with HMAC keyed by arbitrary bytes.
pub fn sign_hmac(claims: &Value, alg: Algorithm, secret: &[u8], kid: Option<&str>) -> String {
    let mut header = json!({ "alg": format!("{alg:?}"), "typ": "JWT" });
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    sign_raw(&header, claims, alg, &EncodingKey::from_secret(secret))
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
    OperatorConfig::new(registration)
        .unwrap()
        .issuer(ISSUER)
        .authorization("https://op.example/authorize")
        .unwrap()
        .token("https://op.example/token")
        .unwrap()
        .jwks("https://op.example/jwks")
        .unwrap()
        .userinfo("https://op.example/userinfo")
        .unwrap()
        .premiuminfo("https://op.example/premiuminfo")
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

/// Valid id_token claims for a login with this nonce, the default access token, LoA 2.
pub fn valid_claims(nonce: &str) -> Value {
    json!({
        "iss": ISSUER,
        "sub": SUB,
        "aud": [CLIENT_ID],
        "azp": CLIENT_ID,
        "exp": NOW + 300,
        "iat": NOW - 5,
        "auth_time": NOW - 10,
        "nonce": nonce,
        "acr": "2",
        "amr": ["SIM_OK"],
        "at_hash": mc_core::id_token::at_hash(ACCESS_TOKEN, Algorithm::RS256).unwrap(),
    })
}

/// A 200 token response carrying this id_token and the default access token.
pub fn token_response(id_token: &str) -> http::Response<Vec<u8>> {
    json_response(
        200,
        &json!({
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
        }),
    )
}

pub fn json_response(status: u16, body: &Value) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .unwrap()
}

pub fn raw_response(status: u16, content_type: &str, body: &[u8]) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body.to_vec())
        .unwrap()
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
            Some("kid-a"),
        ))
    })
}
