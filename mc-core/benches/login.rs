//! What one browser login costs the Service Provider's CPU, measured on the same token bytes:
//!
//! - `raw_rs256_verify` / `raw_es256_verify`: aws-lc-rs verifying the id_token's signing input
//!   with a key parsed once: the floor of a login.
//! - `core_login` / `core_login_es256`: everything mc-core does for one login after discovery
//!   (authorize, store and reload the flow state as JSON, callback, token request, token response
//!   with full id_token verification, userinfo request and response).
//! - `core_verify_only`: the token response step alone.
//! - `openidconnect_login` / `openidconnect_login_es256`: the same steps through the
//!   `openidconnect` crate (4.x), its HTTP calls answered by a closure with the same response bytes.
//! - `state_size`: prints the JSON size of the per-login state once.
//! - `hostile_header`: a token response whose id_token header has 3000 members (the most a
//!   32 KiB JWT holds), refused before the signature check; `hostile_header_members_unbounded`:
//!   the duplicate-member check alone on that header with no member bound (linear, not
//!   quadratic).
//!
//! `cargo bench -p mc-core --bench login`; see BENCHMARKS.md at the repository root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Once;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use mc_core::{
    AuthorizeOptions, Authorizing, CodeReceived, Discovered, Error, Exchange, IdTokenError,
    JwtPart, LoginHint, Msisdn, Tokens, UnixTime, UserInfo, Verified,
};
// The fixed login every test and the fuzz harness use: same operator, keys, claims and bodies.
use mc_sandbox::fixture::{
    AUTHORIZATION_ENDPOINT, CLIENT_ID, CLIENT_SECRET, CODE, FIXED_JWKS, ISSUER, MSISDN,
    PHONE_NUMBER, REDIRECT_URI, SUB, TOKEN_ENDPOINT, TestKey, USERINFO_ENDPOINT, entropy,
    query_param, response,
};

// The tests' registry entry of the fixed operator, with its keys stored at the fixed time.
#[path = "../tests/support/mod.rs"]
mod support;

use support::b64;

const NOW: UnixTime = UnixTime::from_secs(mc_sandbox::fixture::NOW);

fn b64d(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn options() -> AuthorizeOptions {
    AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(MSISDN)))
}

/// Everything fixed across iterations: the flow's values, the signed tokens, the responses.
struct Fixture {
    state: String,
    nonce: String,
    pkce_verifier: String,
    callback_query: String,
    id_token_rs256: String,
    id_token_es256: String,
    token_body_rs256: Vec<u8>,
    token_body_es256: Vec<u8>,
    userinfo_body: Vec<u8>,
}

impl Fixture {
    fn new(op: &Discovered) -> Self {
        let (redirect, flow) = op.authorize(options(), &mut entropy(), NOW).unwrap();
        // Every login draws from a fresh counter: the same state, nonce and PKCE verifier.
        let param = |name: &str| query_param(redirect.url(), name).unwrap();
        let (state, nonce) = (param("state"), param("nonce"));
        // The third 32-byte draw of the same counter is the PKCE verifier.
        let pkce_verifier = b64(&(65u8..=96).collect::<Vec<u8>>());
        assert_eq!(flow.state().expose_secret(), state);
        let challenge =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pkce_verifier.as_bytes());
        assert_eq!(
            param("code_challenge"),
            b64(challenge.as_ref()),
            "deterministic entropy"
        );
        let issuer_enc: String = url::form_urlencoded::byte_serialize(ISSUER.as_bytes()).collect();
        let callback_query = format!("code={CODE}&state={state}&iss={issuer_enc}");
        let id_token_rs256 = mc_sandbox::fixture::id_token(&nonce, Algorithm::RS256);
        let id_token_es256 = mc_sandbox::fixture::id_token(&nonce, Algorithm::ES256);
        let token_body = mc_sandbox::fixture::token_body;
        Self {
            token_body_rs256: token_body(&id_token_rs256),
            token_body_es256: token_body(&id_token_es256),
            userinfo_body: mc_sandbox::fixture::userinfo_body(),
            state,
            nonce,
            pkce_verifier,
            callback_query,
            id_token_rs256,
            id_token_es256,
        }
    }

    fn token_response(&self, alg: Algorithm) -> http::Response<Vec<u8>> {
        let body = match alg {
            Algorithm::ES256 => &self.token_body_es256,
            _ => &self.token_body_rs256,
        };
        response(200, "application/json", body)
    }

    fn userinfo_response(&self) -> http::Response<Vec<u8>> {
        response(200, "application/json", &self.userinfo_body)
    }
}

/// One whole login through mc-core, from the authorize redirect to the userinfo claims.
#[inline(never)] // one frame to find in profiles
fn core_login(
    op: &Discovered,
    callback_query: &str,
    token_response: http::Response<Vec<u8>>,
    userinfo_response: http::Response<Vec<u8>>,
) -> (Tokens, UserInfo) {
    let (redirect, flow) = op.authorize(options(), &mut entropy(), NOW).unwrap();
    black_box(redirect.as_str());
    // The host keeps the flow state until the callback (a cookie, a session store).
    let stored = serde_json::to_vec(&flow).unwrap();
    let flow: Authorizing = serde_json::from_slice(black_box(&stored)).unwrap();
    let code = flow.callback(op, callback_query, NOW).unwrap();
    let exchange = code.token_exchange(op, NOW).unwrap();
    black_box(exchange.request());
    let Verified::Done(tokens) = exchange.respond(token_response, NOW).unwrap() else {
        panic!("no JWKS refetch expected");
    };
    let userinfo = tokens.userinfo(op).unwrap();
    black_box(userinfo.request());
    let Verified::Done(info) = userinfo.respond(userinfo_response, NOW).unwrap() else {
        panic!("plain JSON userinfo");
    };
    (tokens, info)
}

/// The CodeReceived of a login, for `core_verify_only` and `state_size`.
fn code_received(op: &Discovered, fx: &Fixture) -> CodeReceived {
    let (_, flow) = op.authorize(options(), &mut entropy(), NOW).unwrap();
    flow.callback(op, &fx.callback_query, NOW).unwrap()
}

fn raw_verify(c: &mut Criterion, fx: &Fixture, alg: Algorithm) {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
        RsaPublicKeyComponents,
    };
    let field = |key: TestKey, name: &str| b64d(key.jwk(None, None)[name].as_str().unwrap());
    // The key parsed once, as a verifier that caches keys per JWKS fetch would hold it.
    let (name, key, id_token) = match alg {
        Algorithm::ES256 => {
            let mut point = vec![4u8];
            point.extend(field(TestKey::EcP256, "x"));
            point.extend(field(TestKey::EcP256, "y"));
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).unwrap();
            ("raw_es256_verify", key, &fx.id_token_es256)
        }
        _ => {
            let key = RsaPublicKeyComponents {
                n: field(TestKey::RsaA, "n"),
                e: field(TestKey::RsaA, "e"),
            }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .unwrap();
            ("raw_rs256_verify", key, &fx.id_token_rs256)
        }
    };
    let (input, signature) = id_token.rsplit_once('.').unwrap();
    let signature = b64d(signature);
    key.verify_sig(input.as_bytes(), &signature).unwrap();
    c.bench_function(name, |b| {
        b.iter(|| {
            key.verify_sig(black_box(input.as_bytes()), black_box(&signature))
                .unwrap();
        });
    });
}

/// Every iteration gets response values built just before it (`PerIteration`), as an adapter
/// hands over a body it has just read; the responses' construction is not timed.
fn core(c: &mut Criterion, op: &Discovered, fx: &Fixture, alg: Algorithm) {
    let name = match alg {
        Algorithm::ES256 => "core_login_es256",
        _ => "core_login",
    };
    let (tokens, info) = core_login(
        op,
        &fx.callback_query,
        fx.token_response(alg),
        fx.userinfo_response(),
    );
    assert_eq!(info.sub(), SUB);
    assert_eq!(info.phone_number(), Some(PHONE_NUMBER));
    assert_eq!(tokens.id_token().alg(), alg);
    c.bench_function(name, |b| {
        b.iter_batched(
            || (fx.token_response(alg), fx.userinfo_response()),
            |(token, userinfo)| core_login(op, &fx.callback_query, token, userinfo),
            BatchSize::PerIteration,
        );
    });
}

fn core_verify_only(c: &mut Criterion, op: &Discovered, fx: &Fixture) {
    c.bench_function("core_verify_only", |b| {
        b.iter_batched(
            || {
                let exchange = code_received(op, fx).token_exchange(op, NOW).unwrap();
                (exchange, fx.token_response(Algorithm::RS256))
            },
            |(exchange, response)| {
                let Verified::Done(tokens) = exchange.respond(response, NOW).unwrap() else {
                    panic!("no JWKS refetch expected");
                };
                tokens
            },
            BatchSize::PerIteration,
        );
    });
}

fn state_size(c: &mut Criterion, op: &Discovered, fx: &Fixture) {
    static PRINT: Once = Once::new();
    let (_, flow) = op.authorize(options(), &mut entropy(), NOW).unwrap();
    let authorizing = serde_json::to_vec(&flow).unwrap();
    let code = code_received(op, fx);
    let received = serde_json::to_vec(&code).unwrap();
    PRINT.call_once(|| {
        eprintln!(
            "state_size: Authorizing {} bytes, CodeReceived {} bytes (JSON)",
            authorizing.len(),
            received.len()
        );
    });
    assert!(authorizing.len() < 512 && received.len() < 512);
    c.bench_function("state_size", |b| {
        b.iter(|| serde_json::to_vec(black_box(&code)).unwrap().len());
    });
}

mod oidc {
    //! The same login through `openidconnect` 4.x.

    use std::convert::Infallible;

    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
        CoreUserInfoClaims,
    };
    use openidconnect::{
        AccessTokenHash, AuthUrl, AuthenticationContextClass, AuthorizationCode, ClientId,
        ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge,
        PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _, TokenUrl, UserInfoUrl,
    };
    use serde::{Deserialize, Serialize};

    use mc_sandbox::fixture::NOW as NOW_SECS;

    use super::{
        AUTHORIZATION_ENDPOINT, CLIENT_ID, CLIENT_SECRET, Cell, Criterion, FIXED_JWKS, ISSUER,
        MSISDN, PHONE_NUMBER, REDIRECT_URI, SUB, TOKEN_ENDPOINT, USERINFO_ENDPOINT, black_box,
    };
    use crate::{Algorithm, BatchSize, Fixture};

    /// What a host keeps between the redirect and the callback with openidconnect.
    #[derive(Serialize, Deserialize)]
    struct Stored {
        state: String,
        nonce: String,
        pkce_verifier: String,
    }

    type Response = http::Response<Vec<u8>>;

    pub(crate) fn bench(c: &mut Criterion, fx: &Fixture, alg: Algorithm) {
        let jwks: CoreJsonWebKeySet = serde_json::from_str(FIXED_JWKS).unwrap();
        let client = CoreClient::new(
            ClientId::new(CLIENT_ID.to_owned()),
            IssuerUrl::new(ISSUER.to_owned()).unwrap(),
            jwks,
        )
        .set_client_secret(ClientSecret::new(CLIENT_SECRET.to_owned()))
        .set_auth_uri(AuthUrl::new(AUTHORIZATION_ENDPOINT.to_owned()).unwrap())
        .set_token_uri(TokenUrl::new(TOKEN_ENDPOINT.to_owned()).unwrap())
        .set_user_info_url(UserInfoUrl::new(USERINFO_ENDPOINT.to_owned()).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap());
        let now = chrono::DateTime::from_timestamp(i64::try_from(NOW_SECS).unwrap(), 0).unwrap();

        let login = |token: Response, userinfo: Response| -> CoreUserInfoClaims {
            // Authorize: the same fixed state, nonce and PKCE verifier as mc-core draws.
            let (state, nonce) = (fx.state.clone(), fx.nonce.clone());
            let verifier = PkceCodeVerifier::new(fx.pkce_verifier.clone());
            let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
            let (url, csrf, nonce) = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    move || CsrfToken::new(state),
                    move || Nonce::new(nonce),
                )
                .add_scope(Scope::new("mc_authn".to_owned()))
                .add_auth_context_value(AuthenticationContextClass::new("2".to_owned()))
                .add_extra_param("version", "mc_v1.1")
                .add_extra_param("login_hint", format!("MSISDN:{MSISDN}"))
                .set_pkce_challenge(challenge)
                .url();
            black_box(url.as_str());
            let stored = serde_json::to_vec(&Stored {
                state: csrf.into_secret(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.into_secret(),
            })
            .unwrap();
            let stored: Stored = serde_json::from_slice(black_box(&stored)).unwrap();

            // Callback: state and RFC 9207 iss, then the code.
            let mut code = None;
            let mut state_ok = false;
            let mut iss_ok = false;
            for (name, value) in url::form_urlencoded::parse(fx.callback_query.as_bytes()) {
                match &*name {
                    "state" => state_ok = value == stored.state.as_str(),
                    "iss" => iss_ok = value == ISSUER,
                    "code" => code = Some(value.into_owned()),
                    _ => {}
                }
            }
            assert!(state_ok && iss_ok);

            // Token exchange, the HTTP call answered with the prebuilt response.
            let token = Cell::new(Some(token));
            let http = |request: http::Request<Vec<u8>>| -> Result<Response, Infallible> {
                black_box(request);
                Ok(token.take().unwrap())
            };
            let tokens = client
                .exchange_code(AuthorizationCode::new(code.unwrap()))
                .set_pkce_verifier(PkceCodeVerifier::new(stored.pkce_verifier))
                .request(&http)
                .unwrap();
            let id_token = tokens.id_token().unwrap();
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs([
                    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                ])
                .set_time_fn(move || now);
            let claims = id_token
                .claims(&verifier, &Nonce::new(stored.nonce))
                .unwrap();
            if let Some(expected) = claims.access_token_hash() {
                let actual = AccessTokenHash::from_token(
                    tokens.access_token(),
                    id_token.signing_alg().unwrap(),
                    id_token.signing_key(&verifier).unwrap(),
                )
                .unwrap();
                assert_eq!(&actual, expected, "at_hash");
            }
            let subject = claims.subject().clone();

            // Userinfo.
            let userinfo = Cell::new(Some(userinfo));
            let http = |request: http::Request<Vec<u8>>| -> Result<Response, Infallible> {
                black_box(request);
                Ok(userinfo.take().unwrap())
            };
            client
                .user_info(tokens.access_token().clone(), Some(subject))
                .request(&http)
                .unwrap()
        };

        let name = match alg {
            Algorithm::ES256 => "openidconnect_login_es256",
            _ => "openidconnect_login",
        };
        let info = login(fx.token_response(alg), fx.userinfo_response());
        assert_eq!(info.subject().as_str(), SUB);
        assert_eq!(
            info.phone_number().map(|p| p.as_str().to_owned()),
            Some(PHONE_NUMBER.to_owned())
        );
        c.bench_function(name, |b| {
            b.iter_batched(
                || (fx.token_response(alg), fx.userinfo_response()),
                |(token, userinfo)| login(token, userinfo),
                BatchSize::PerIteration,
            );
        });
    }
}

/// The JSON of a JOSE header with 3000 distinct members (`alg`, `kid`, then two-character
/// names), about 21 KB: base64url-encoded, it fills most of a 32 KiB JWT.
fn hostile_header_json() -> Vec<u8> {
    let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let mut json = String::from(r#"{"alg":"RS256","kid":"kid-a""#);
    let names = alphabet
        .iter()
        .flat_map(|a| alphabet.iter().map(move |b| format!("{a}{b}")));
    for name in names.take(2998) {
        json.push_str(&format!(r#","{name}":0"#));
    }
    json.push('}');
    json.into_bytes()
}

/// What an attacker who can hand the SP a token response costs it before any signature check:
/// the whole `TokenExchange::respond` of a response whose id_token has the hostile header (the
/// claims and signature of a valid token behind it), refused for its member count.
fn hostile_header(c: &mut Criterion, op: &Discovered, fx: &Fixture) {
    let header = hostile_header_json();
    let (_, rest) = fx.id_token_rs256.split_once('.').unwrap();
    let id_token = format!("{}.{rest}", b64(&header));
    assert!(
        id_token.len() <= mc_core::wire::MAX_JWT_BYTES,
        "{}",
        id_token.len()
    );
    let body = mc_sandbox::fixture::token_body(&id_token);
    let refuse = |exchange: mc_core::TokenExchange, response| {
        let error = exchange.respond(response, NOW).unwrap_err();
        assert!(
            matches!(
                error,
                Error::IdToken(IdTokenError::TooManyMembers {
                    part: JwtPart::Header,
                    ..
                })
            ),
            "{error:?}"
        );
        error
    };
    refuse(
        code_received(op, fx).token_exchange(op, NOW).unwrap(),
        response(200, "application/json", &body),
    );
    c.bench_function("hostile_header", |b| {
        b.iter_batched(
            || {
                let exchange = code_received(op, fx).token_exchange(op, NOW).unwrap();
                (exchange, response(200, "application/json", &body))
            },
            |(exchange, response)| refuse(exchange, response),
            BatchSize::PerIteration,
        );
    });
    assert_eq!(
        mc_core::wire::check_members(&header, usize::MAX),
        mc_core::wire::Members::Distinct
    );
    c.bench_function("hostile_header_members_unbounded", |b| {
        b.iter(|| mc_core::wire::check_members(black_box(&header), usize::MAX));
    });
}

fn benches(c: &mut Criterion) {
    let op = support::operator();
    let fx = Fixture::new(&op);
    assert_eq!(fx.pkce_verifier.len(), 43);
    // Each floor right before the logins it is compared with, so that a ratio's two medians are
    // measured as close together as possible.
    raw_verify(c, &fx, Algorithm::RS256);
    core(c, &op, &fx, Algorithm::RS256);
    core_verify_only(c, &op, &fx);
    oidc::bench(c, &fx, Algorithm::RS256);
    raw_verify(c, &fx, Algorithm::ES256);
    core(c, &op, &fx, Algorithm::ES256);
    oidc::bench(c, &fx, Algorithm::ES256);
    state_size(c, &op, &fx);
    hostile_header(c, &op, &fx);
}

criterion_group! {
    name = login;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(8));
    targets = benches
}
criterion_main!(login);
