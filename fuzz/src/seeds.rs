//! The generated fuzz seeds: valid inputs of the fixed login ([`crate::fixture`]) and one-step
//! breaks of them. The replay test in mc-core (`mc-core/tests/fuzz_seeds.rs`, which includes this
//! file by path) checks that they behave as named, and its ignored `write_generated_seeds`
//! writes them under `fuzz/seeds/`.
#![allow(unreachable_pub, dead_code)]

use mc_core::Algorithm;
use serde_json::{Value, json};

use crate::fixture::*;

/// Seeds built from the fixed context (valid tokens of the fixed login, and one-step breaks of
/// them), as (target, file name, bytes). Names starting with `ok-` must be accepted. The replay
/// test's ignored `write_generated_seeds` writes them under `fuzz/seeds/`.
pub fn generated_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let ctx = ctx();
    let mut seeds: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, name.to_owned(), bytes));
    };
    let state = &ctx.state;
    let iss = url::form_urlencoded::byte_serialize(ISSUER.as_bytes()).collect::<String>();

    // callback_query
    add(
        "callback_query",
        "ok-code-state.txt",
        format!("code={CODE}&state={state}").into_bytes(),
    );
    add(
        "callback_query",
        "ok-code-state-iss.txt",
        format!("?code=SplxlOBeZQQYbYS6WxSbIA&state={state}&iss={iss}").into_bytes(),
    );
    add(
        "callback_query",
        "ok-whole-url.txt",
        format!("https://sp.example/callback?state={state}&code=abc%20def&iss={iss}&correlation_id=c1#frag")
            .into_bytes(),
    );
    add(
        "callback_query",
        "error-access-denied.txt",
        format!("error=access_denied&error_description=User+declined&state={state}&iss={iss}&correlation_id=abc").into_bytes(),
    );
    add(
        "callback_query",
        "state-mismatch.txt",
        format!("code={CODE}&state=x{state}").into_bytes(),
    );
    add(
        "callback_query",
        "duplicate-code.txt",
        format!("code=a&code=b&state={state}").into_bytes(),
    );
    add(
        "callback_query",
        "foreign-iss.txt",
        format!("code={CODE}&state={state}&iss=https%3A%2F%2Fevil.example").into_bytes(),
    );
    add(
        "callback_query",
        "fragment-before-query.txt",
        format!("https://sp.example/callback#x?code={CODE}&state={state}").into_bytes(),
    );

    // discovery_return: the fixed browser's leg, a foreign leg, a planted fragment.
    let leg = selection_leg();
    let leg_state = leg.state().expose_secret();
    add(
        "discovery_return",
        "ok-leg-state.txt",
        format!("mcc_mnc=234_15&subscriber_id=abc123&state={leg_state}").into_bytes(),
    );
    add(
        "discovery_return",
        "foreign-state.txt",
        b"mcc_mnc=234_15&subscriber_id=ATTACKER&state=guess".to_vec(),
    );
    add(
        "discovery_return",
        "ok-fragment-is-not-read.txt",
        format!("https://sp.example/discovered#x?mcc_mnc=234_15&subscriber_id=ATTACKER&state={leg_state}").into_bytes(),
    );
    // discovery_response: plain-http selection pages (a public host refused, a loopback one
    // accepted).
    add(
        "discovery_response",
        "plain-http-selection.json",
        br#"{"links":[{"rel":"operatorSelection","href":"http://discovery.example/select"}]}"#
            .to_vec(),
    );
    add(
        "discovery_response",
        "ok-loopback-http-selection.json",
        br#"{"links":[{"rel":"operatorSelection","href":"http://127.0.0.1:8080/select"}]}"#
            .to_vec(),
    );

    // id_token: valid tokens in each key family, claims for the HS256 mode, one-step breaks.
    add(
        "id_token",
        "ok-rs256.jwt.txt",
        ctx.rs256.clone().into_bytes(),
    );
    add(
        "id_token",
        "ok-es256.jwt.txt",
        ctx.es256.clone().into_bytes(),
    );
    add(
        "id_token",
        "ok-hs256.jwt.txt",
        ctx.hs256.clone().into_bytes(),
    );
    let claims = valid_claims(&ctx.nonce, Algorithm::HS256);
    add(
        "id_token",
        "ok-claims.json",
        claims.to_string().into_bytes(),
    );
    let mut claims_aud = claims.clone();
    claims_aud["aud"] = json!([CLIENT_ID, "other-client"]);
    claims_aud["amr"] = json!("SIM_PIN");
    claims_aud["acr"] = json!(3);
    claims_aud["exp"] = json!(format!("{}", NOW + 60));
    add(
        "id_token",
        "ok-claims-lenient-types.json",
        claims_aud.to_string().into_bytes(),
    );
    let mut expired = claims.clone();
    expired["exp"] = json!(NOW - 60);
    add(
        "id_token",
        "claims-expired.json",
        expired.to_string().into_bytes(),
    );
    let mut foreign = claims.clone();
    foreign["iss"] = json!("https://evil.example");
    add(
        "id_token",
        "claims-foreign-iss.json",
        foreign.to_string().into_bytes(),
    );
    let mut flipped = ctx.rs256.clone().into_bytes();
    if let Some(last) = flipped.last_mut() {
        *last = if *last == b'A' { b'B' } else { b'A' };
    }
    add("id_token", "rs256-signature-flipped.jwt.txt", flipped);
    let crit = sign_raw(
        br#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        claims.to_string().as_bytes(),
        Algorithm::HS256,
    );
    add("id_token", "hs256-crit.jwt.txt", crit.into_bytes());
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims.to_string().as_bytes())
    );
    add("id_token", "alg-none.jwt.txt", none.into_bytes());
    let unknown_kid = sign_claims(
        &valid_claims(&ctx.nonce, Algorithm::RS256),
        Algorithm::RS256,
        Some("kid-rotated"),
    );
    add(
        "id_token",
        "rs256-unknown-kid.jwt.txt",
        unknown_kid.into_bytes(),
    );
    // Security review (issue 10), token side: each one break of the valid claims or header.
    let crit_null = sign_raw(
        br#"{"alg":"HS256","crit":null}"#,
        claims.to_string().as_bytes(),
        Algorithm::HS256,
    );
    add(
        "id_token",
        "review-crit-null.jwt.txt",
        crit_null.into_bytes(),
    );
    for (name, claim, value) in [
        ("review-nbf-unreadable.json", "nbf", json!("tomorrow")),
        ("review-nbf-over-2-64.json", "nbf", json!(1e20)),
        ("review-exp-over-2-64.json", "exp", json!(1.9e19)),
        ("review-azp-null.json", "azp", json!(null)),
        ("review-at-hash-true.json", "at_hash", json!(true)),
        ("review-numeric-sub.json", "sub", json!(42)),
        ("review-acr-plus-2.json", "acr", json!("+2")),
        ("review-amr-empty-string.json", "amr", json!([""])),
        (
            "review-auth-time-future.json",
            "auth_time",
            json!(NOW + 315_360_000),
        ),
    ] {
        let mut broken = claims.clone();
        broken[claim] = value;
        add("id_token", name, broken.to_string().into_bytes());
    }

    // token_response
    add("token_response", "ok-rs256.json", token_body(&ctx.rs256));
    add("token_response", "ok-es256.json", token_body(&ctx.es256));
    add("token_response", "ok-hs256.json", token_body(&ctx.hs256));
    let lenient = json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "bearer",
        "expires_in": "3600",
        "refresh_token": null,
        "scope": "openid mc_authn mc_identity_phonenumber",
        "correlation_id": "c-1",
        "id_token": ctx.hs256,
    });
    add(
        "token_response",
        "ok-lenient-types.json",
        lenient.to_string().into_bytes(),
    );
    add(
        "token_response",
        "no-id-token.json",
        json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer"})
            .to_string()
            .into_bytes(),
    );
    add(
        "token_response",
        "mac-token-type.json",
        json!({"access_token": ACCESS_TOKEN, "token_type": "mac", "id_token": ctx.hs256})
            .to_string()
            .into_bytes(),
    );
    add(
        "token_response",
        "review-no-token-type.json",
        json!({"access_token": ACCESS_TOKEN, "expires_in": 3600, "id_token": ctx.hs256})
            .to_string()
            .into_bytes(),
    );
    add(
        "token_response",
        "review-expires-in-1e300.json",
        json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 1e300, "id_token": ctx.hs256})
            .to_string()
            .into_bytes(),
    );

    // userinfo
    let info = json!({"sub": SUB, "phone_number": PHONE_NUMBER, "phone_number_verified": true, "updated_at": "1790000000"});
    add("userinfo", "ok-phone.json", info.to_string().into_bytes());
    let mut signed_claims = info.clone();
    signed_claims["iss"] = json!(ISSUER);
    signed_claims["aud"] = json!(CLIENT_ID);
    add(
        "userinfo",
        "ok-signed-claims.json",
        signed_claims.to_string().into_bytes(),
    );
    add(
        "userinfo",
        "ok-signed-rs256.jwt.txt",
        sign_claims(&signed_claims, Algorithm::RS256, Some(KID_RSA)).into_bytes(),
    );
    add(
        "userinfo",
        "ok-signed-es256.jwt.txt",
        sign_claims(&signed_claims, Algorithm::ES256, Some(KID_EC)).into_bytes(),
    );
    add(
        "userinfo",
        "other-sub.json",
        json!({"sub": "someone-else", "email": "a@b.example"})
            .to_string()
            .into_bytes(),
    );
    // An id_token of this login served as userinfo, and a JWT typed for another purpose.
    add(
        "userinfo",
        "review-id-token-as-userinfo.jwt.txt",
        ctx.rs256.clone().into_bytes(),
    );
    add(
        "userinfo",
        "review-typ-at-jwt.jwt.txt",
        sign_raw(
            br#"{"alg":"RS256","kid":"kid-a","typ":"at+jwt"}"#,
            signed_claims.to_string().as_bytes(),
            Algorithm::RS256,
        )
        .into_bytes(),
    );

    // jwks
    add("jwks", "ok-committed.json", JWKS_JSON.as_bytes().to_vec());
    let mut committed: Value = serde_json::from_str(JWKS_JSON).expect("committed JWKS");
    if let Some(keys) = committed.get_mut("keys").and_then(Value::as_array_mut) {
        keys.insert(
            0,
            json!({"kty": "oct", "k": b64(CLIENT_SECRET.as_bytes()), "kid": KID_RSA}),
        );
        keys.push(json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}));
        keys.push(json!({"kty": "RSA", "use": "enc", "kid": "kid-enc", "n": "AQAB", "e": "AQAB"}));
    }
    add(
        "jwks",
        "ok-with-skipped-keys.json",
        committed.to_string().into_bytes(),
    );
    // The committed keys restricted to signing (`key_ops` without `verify`): all skipped.
    let mut sign_only: Value = serde_json::from_str(JWKS_JSON).expect("committed JWKS");
    if let Some(keys) = sign_only.get_mut("keys").and_then(Value::as_array_mut) {
        for key in keys {
            key["key_ops"] = json!(["sign"]);
        }
    }
    add(
        "jwks",
        "review-key-ops-sign-only.json",
        sign_only.to_string().into_bytes(),
    );

    // oauth_error
    add(
        "oauth_error",
        "ok-www-authenticate-invalid-token.txt",
        br#"Bearer realm="op", error="invalid_token", error_description="The access token expired""#.to_vec(),
    );
    add(
        "oauth_error",
        "ok-www-authenticate-unquoted.txt",
        b"bearer error=insufficient_scope , scope=openid".to_vec(),
    );
    seeds
}
