//! The fixed context of the fuzz targets: the operator of the fixed login (`mc_sandbox::fixture`,
//! the one test fixture: constants, committed keys, claims, bodies), one login started at [`NOW`]
//! and called back with [`CODE`], and its valid id_tokens signed once. Shared by the target
//! bodies (`targets.rs`), the seed generation (`seeds.rs`) and, through them, the seed replay
//! test in mc-core (`mc-core/tests/fuzz_seeds.rs`, which includes these files by path). So it may
//! use only mc-core and what mc-core's dev-dependencies provide (mc-sandbox, serde_json, base64,
//! http, url, jsonwebtoken), and no file or clock: the operator context, its keys and "now" are
//! fixed.
#![allow(unreachable_pub, dead_code)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, AuthorizeOptions, Authorizing, ClientSecret, CodeReceived, Discovered,
    DiscoveryService, Error, Exchange as _, Jwks, OperatorConfig, Outcome, Policy, Registration,
    SelectionLeg, Tokens, UnixTime, Verified,
};
use mc_sandbox::fixture::{
    AUTHORIZATION_ENDPOINT, JWKS_URI, PREMIUMINFO_ENDPOINT, TOKEN_ENDPOINT, USERINFO_ENDPOINT,
    entropy, operator_key, query_param,
};
use serde_json::Value;

// The fixed login's values and bodies, for the targets and the seeds.
#[allow(unused_imports)]
pub use mc_sandbox::fixture::{
    ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, CODE, FIXED_JWKS as JWKS_JSON, ISSUER, KID_EC, KID_RSA,
    MSISDN, NOW, PHONE_NUMBER, REDIRECT_URI, SUB, response, token_body, valid_claims,
};

/// The login asks for `max_age`, so `auth_time` is checked.
pub const MAX_AGE: u64 = 3600;
/// The policy's default clock leeway.
pub const LEEWAY: u64 = 30;
/// The login asks for LoA 2.
pub const MIN_ACR: u8 = 2;
/// The operator's `login_timeout_secs` default.
pub const LOGIN_TIMEOUT: u64 = 600;

/// One operator, one login started at [`NOW`] and called back with [`CODE`], and a few tokens
/// signed once with the committed keys.
pub struct Context {
    /// The operator context, holding the committed JWKS. Its JWKS endpoint serves that same
    /// document, so a refetch stores the same keys again: sharing it between targets and
    /// threads changes no verdict.
    pub operator: Discovered,
    /// The same operator with `require_callback_iss` (RFC 9207 announced).
    pub operator_iss: Discovered,
    pub discovery: DiscoveryService,
    pub flow: Authorizing,
    pub code: CodeReceived,
    pub state: String,
    pub nonce: String,
    /// A valid id_token of this login, RS256 with `kid-a`.
    pub rs256: String,
    /// A valid id_token of this login, ES256 with `kid-ec`.
    pub es256: String,
    /// A valid id_token of this login, HS256 keyed by the client secret (cheap to verify).
    pub hs256: String,
}

pub fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

/// The context, built once per process.
pub fn ctx() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(Context::build)
}

/// The options of the fixed login: a Mobile Connect identity scope (so the profile requires
/// `at_hash` and `amr`), LoA 2, `max_age`, PKCE.
pub fn login_options() -> AuthorizeOptions {
    AuthorizeOptions::new()
        .scope(["mc_authn", "mc_identity_phonenumber"])
        .acr_values([MIN_ACR])
        .max_age(MAX_AGE)
}

/// The policy of the fixed operator: HMAC keyed by the client secret is allowed, so that the
/// HS256 paths are reachable and the fuzzer can sign claims of its choosing cheaply; and JWKS
/// refetches are not spaced, so that an unknown `kid` always reaches the refetch path (the
/// default spacing would refuse it at once: the keys are stored at [`NOW`]).
pub fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.allowed_algorithms.push(Algorithm::HS256);
    policy.jwks_min_refetch_secs = 0;
    policy
}

/// The fixed operator's configuration, before its context is built.
pub fn operator_config() -> OperatorConfig {
    OperatorConfig::new(Registration {
        operator_id: "fuzz-operator".to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: ClientSecret::new(CLIENT_SECRET),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .map(|c| c.issuer(ISSUER))
    .and_then(|c| c.authorization(AUTHORIZATION_ENDPOINT))
    .and_then(|c| c.token(TOKEN_ENDPOINT))
    .and_then(|c| c.jwks(JWKS_URI))
    .and_then(|c| c.userinfo(USERINFO_ENDPOINT))
    .and_then(|c| c.premiuminfo(PREMIUMINFO_ENDPOINT))
    .expect("fixed operator config")
    .client_name("Fuzz Shop")
    .policy(policy())
}

/// A context of the fixed operator of its own (clones of a context share its keys), holding
/// `keys` as fetched at [`NOW`].
pub fn operator_with_keys(config: OperatorConfig, keys: Jwks) -> Discovered {
    let operator = config.build().expect("fixed operator context");
    operator.set_jwks(keys, now());
    operator
}

/// The committed JWKS.
pub fn committed_jwks() -> Jwks {
    Jwks::parse(JWKS_JSON.as_bytes()).expect("committed JWKS")
}

impl Context {
    fn build() -> Self {
        let operator = operator_with_keys(operator_config(), committed_jwks());
        let mut strict = policy();
        strict.require_callback_iss = true;
        let operator_iss = operator_with_keys(operator_config().policy(strict), committed_jwks());

        let discovery = DiscoveryService::new(
            "https://discovery.example/v2/discovery",
            "discovery-client",
            ClientSecret::new("discovery-secret"),
            "https://sp.example/discovered",
        )
        .expect("fixed discovery service");

        let (redirect, flow) = operator
            .authorize(login_options(), &mut entropy(), now())
            .expect("fixed login");
        let param = |name: &str| {
            query_param(redirect.url(), name).expect("state and nonce in the redirect")
        };
        let (state, nonce) = (param("state"), param("nonce"));
        let code = flow
            .clone()
            .callback(&operator, &format!("code={CODE}&state={state}"), now())
            .expect("fixed callback");

        let rs256 = mc_sandbox::fixture::id_token(&nonce, Algorithm::RS256);
        let es256 = mc_sandbox::fixture::id_token(&nonce, Algorithm::ES256);
        let hs256 = mc_sandbox::fixture::id_token(&nonce, Algorithm::HS256);
        Self {
            operator,
            operator_iss,
            discovery,
            flow,
            code,
            state,
            nonce,
            rs256,
            es256,
            hs256,
        }
    }
}

/// The selection leg of the fixed browser: its `state` is 32 bytes of 7 (`BwcH...`), so seeds
/// can carry it.
pub fn selection_leg() -> SelectionLeg {
    SelectionLeg::new(&mut |buf: &mut [u8]| buf.fill(7), now(), 600)
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The signature over `signing_input` with the fixed operator's key for `alg` (HMAC: the client
/// secret).
pub fn signature(signing_input: &str, alg: Algorithm) -> String {
    b64(&mc_sandbox::keys::sign_input(
        signing_input.as_bytes(),
        alg,
        &operator_key(alg),
    ))
}

/// A compact JWS over exactly these header and claims bytes.
pub fn sign_raw(header: &[u8], claims: &[u8], alg: Algorithm) -> String {
    mc_sandbox::keys::sign_bytes(header, claims, alg, &operator_key(alg))
}

/// Sign claims with header `{"alg","typ":"JWT"[,"kid"]}`.
pub fn sign_claims(claims: &Value, alg: Algorithm, kid: Option<&str>) -> String {
    mc_sandbox::fixture::operator_sign(claims, alg, kid)
}

/// The token exchange of the fixed login against `operator`; a JWKS refetch is answered with
/// `jwks` (the document the operator's context was built with, so an unknown `kid` stays
/// unknown).
pub fn token_step_with_jwks(
    operator: &Discovered,
    jwks: &[u8],
    response: http::Response<Vec<u8>>,
) -> Result<Tokens, Error> {
    let exchange = ctx().code.clone().token_exchange(operator, now())?;
    let outcome = exchange.respond(response, now())?;
    finish_with_jwks(outcome, jwks)
}

/// The token exchange of the fixed login against an operator holding the committed JWKS.
pub fn token_step(
    operator: &Discovered,
    response: http::Response<Vec<u8>>,
) -> Result<Tokens, Error> {
    token_step_with_jwks(operator, JWKS_JSON.as_bytes(), response)
}

/// A step's outcome, its JWKS refetch (if it asks for one) answered with `jwks`.
pub fn finish_with_jwks<O: Outcome>(outcome: O, jwks: &[u8]) -> Result<O::Value, Error> {
    match outcome.into_verified() {
        Verified::Done(value) => Ok(value),
        Verified::NeedJwks(refetch) => {
            let request = refetch.request();
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(request.uri(), JWKS_URI);
            refetch.respond(response(200, "application/json", jwks), now())
        }
    }
}
