//! Client authentication at the token endpoint: HTTP Basic (default), client_secret_post and
//! private_key_jwt, each with its emitted request snapshotted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use mc_core::{
    Algorithm, AuthorizeOptions, ClientAuth, Exchange as _, MissingSetting, MisuseError,
    SpSigningKey,
};
use serde_json::Value;
use support::*;

fn token_request(auth: ClientAuth) -> http::Request<Vec<u8>> {
    token_request_with(operator_config().client_auth(auth))
}

fn token_request_signed_by(key: SpSigningKey) -> http::Request<Vec<u8>> {
    token_request_with(
        operator_config()
            .client_auth(ClientAuth::PrivateKeyJwt)
            .signing_key(key),
    )
}

fn token_request_with(config: mc_core::OperatorConfig) -> http::Request<Vec<u8>> {
    let op = built_with_keys(config);
    let started = start(&op, AuthorizeOptions::new().without_pkce());
    exchange_code(&op, started, "the-code").request()
}

fn form(request: &http::Request<Vec<u8>>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(request.body())
        .into_owned()
        .collect()
}

fn transcript(request: &http::Request<Vec<u8>>) -> String {
    let mut headers: Vec<String> = request
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
        .collect();
    headers.sort();
    format!(
        "{} {}\n{}\n\n{}",
        request.method(),
        request.uri(),
        headers.join("\n"),
        String::from_utf8_lossy(request.body())
    )
}

#[test]
fn secret_basic_is_the_default() {
    let request = token_request(ClientAuth::default());
    assert!(
        request.headers()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(request.headers()["authorization"].is_sensitive());
    assert!(!form(&request).iter().any(|(k, _)| k == "client_secret"));
}

#[test]
fn secret_post_sends_the_credentials_in_the_body_only() {
    let request = token_request(ClientAuth::SecretPost);
    assert!(request.headers().get("authorization").is_none());
    let body = form(&request);
    assert_eq!(param(&body, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        param(&body, "client_secret").as_deref(),
        Some(CLIENT_SECRET)
    );
    insta::assert_snapshot!("token_request_client_secret_post", transcript(&request));
}

fn assertion_of(request: &http::Request<Vec<u8>>) -> (Value, Value, String) {
    let body = form(request);
    assert!(request.headers().get("authorization").is_none());
    assert_eq!(param(&body, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        param(&body, "client_assertion_type").as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert!(param(&body, "client_secret").is_none());
    let jwt = param(&body, "client_assertion").unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |p: &str| -> Value {
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };
    (decode(parts[0]), decode(parts[1]), jwt)
}

#[test]
fn private_key_jwt_rs256_assertion_is_signed_and_bounded() {
    let key = SpSigningKey::from_pem(Algorithm::RS256, RSA_B.as_bytes(), "sp-key-1").unwrap();
    assert!(!format!("{key:?}").contains("BEGIN"));
    let request = token_request_signed_by(key);
    let (header, claims, jwt) = assertion_of(&request);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "sp-key-1");
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["aud"], "https://op.example/token");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 120);
    assert!(claims["jti"].as_str().unwrap().len() >= 22);
    // The signature verifies with the SP's public key (as the operator would check it).
    verify_with_keys(&jwt, &TestKey::RsaB);
    insta::assert_snapshot!("token_request_private_key_jwt", transcript(&request));
}

#[test]
fn private_key_jwt_es256_assertion_verifies() {
    let key = SpSigningKey::from_pem(Algorithm::ES256, EC_P256.as_bytes(), "sp-ec").unwrap();
    let request = token_request_signed_by(key);
    let (header, _, jwt) = assertion_of(&request);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], "sp-ec");
    verify_with_keys(&jwt, &TestKey::EcP256);
}

#[test]
fn assertion_ids_differ_between_logins() {
    let key = SpSigningKey::from_pem(Algorithm::RS256, RSA_B.as_bytes(), "sp-key-1").unwrap();
    let first = assertion_of(&token_request_signed_by(key.clone())).1;
    let op = built_with_keys(
        operator_config()
            .client_auth(ClientAuth::PrivateKeyJwt)
            .signing_key(key),
    );
    let started = start(&op, AuthorizeOptions::new());
    let second = assertion_of(&exchange_code(&op, started, "another-code").request()).1;
    assert_ne!(first["jti"], second["jti"]);
}

#[test]
fn unusable_assertion_keys_are_misuse() {
    assert!(SpSigningKey::from_pem(Algorithm::HS256, b"secret", "k").is_err());
    assert!(SpSigningKey::from_pem(Algorithm::ES256, RSA_B.as_bytes(), "k").is_err());
    assert!(SpSigningKey::from_pem(Algorithm::RS256, b"not a key", "k").is_err());
    assert!(SpSigningKey::from_pem(Algorithm::RS256, RSA_B.as_bytes(), "").is_err());
}

#[test]
fn private_key_jwt_without_a_signing_key_is_refused_when_built() {
    let err = operator_config()
        .client_auth(ClientAuth::PrivateKeyJwt)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            mc_core::Error::Misuse(MisuseError::IncompleteOperator {
                missing: MissingSetting::SigningKey,
                ..
            })
        ),
        "{err:?}"
    );
}

fn verify_with_keys(jwt: &str, key: &TestKey) {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk(None, None)).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap()
    };
    let alg = if *key == TestKey::EcP256 {
        Algorithm::ES256
    } else {
        Algorithm::RS256
    };
    let verifier = (mc_core::crypto::provider().verifier_factory)(&alg, &decoding).unwrap();
    verifier.verify(input.as_bytes(), &signature).unwrap();
}
