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
    seeds.extend(server_initiated_seeds());
    seeds
}

/// A request or response in the harness's message form (`targets.rs`): the start line (method
/// or status), header lines, an empty line, the body.
fn message(start: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{start}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A JSON object body padded with a `padding` member of spaces to exactly `size` bytes.
fn padded(body: &Value, size: usize) -> Vec<u8> {
    let mut with = body.clone();
    with["padding"] = json!("");
    let base = with.to_string().len();
    with["padding"] = json!(" ".repeat(size.saturating_sub(base)));
    let out = with.to_string().into_bytes();
    assert_eq!(out.len(), size, "padding to {size} bytes");
    out
}

/// The seeds of the server-initiated targets: the operator's real payloads (MOBILE-CONNECT.md
/// 8: notifications, start answers, poll answers) for the fixed logins of `fixture::si_ctx`,
/// and one-step breaks of them.
fn server_initiated_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let si = si_ctx();
    let mut seeds: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, name.to_owned(), bytes));
    };
    let json_type = ("Content-Type", "application/json");

    // si_notification: the notification login's POST with its bearer token.
    let notify = StartKind::SiNotification;
    let id = notify.auth_req_id();
    let token = si
        .notify
        .token
        .clone()
        .expect("the notification login's token");
    let ping_id = StartKind::CibaPing.auth_req_id();
    let ping_token = si.ping.token.clone().expect("the ping login's token");
    let bearer = format!("Bearer {token}");
    let tokens_body = |auth_req_id: &str, jwt: &str| {
        json!({
            "auth_req_id": auth_req_id,
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": jwt,
            "correlation_id": "corr-1",
        })
    };
    let post = |authorization: Option<&str>, body: &[u8]| {
        let mut headers = vec![("Host", "sp.example"), json_type];
        if let Some(value) = authorization {
            headers.insert(1, ("Authorization", value));
        }
        message("POST", &headers, body)
    };
    let rs256 = si_id_token(notify, Algorithm::RS256);
    let good = tokens_body(id, &rs256);
    let good_text = good.to_string();
    add(
        "si_notification",
        "ok-tokens-rs256.http",
        post(Some(&bearer), good_text.as_bytes()),
    );
    add(
        "si_notification",
        "ok-tokens-es256.http",
        post(
            Some(&bearer),
            tokens_body(id, &si_id_token(notify, Algorithm::ES256))
                .to_string()
                .as_bytes(),
        ),
    );
    add(
        "si_notification",
        "ok-tokens-hs256.json",
        tokens_body(id, &si_id_token(notify, Algorithm::HS256))
            .to_string()
            .into_bytes(),
    );
    let mut claims_object = tokens_body(id, "");
    claims_object["id_token"] = si_claims(notify, Algorithm::HS256);
    add(
        "si_notification",
        "ok-tokens-claims-object.json",
        claims_object.to_string().into_bytes(),
    );
    let mut bare_claims = si_claims(notify, Algorithm::RS256);
    if let Value::Object(map) = &mut bare_claims {
        map.remove("recipient");
        map.remove("hashed_login_hint");
    }
    add(
        "si_notification",
        "ok-tokens-no-recipient-no-hashed-login-hint.http",
        post(
            Some(&bearer),
            tokens_body(
                id,
                &sign_claims(&bare_claims, Algorithm::RS256, Some(KID_RSA)),
            )
            .to_string()
            .as_bytes(),
        ),
    );
    add(
        "si_notification",
        "ok-bearer-scheme-lower-case.http",
        post(Some(&format!("bearer   {token}")), good_text.as_bytes()),
    );
    add(
        "si_notification",
        "ok-error-access-denied.http",
        post(
            Some(&bearer),
            json!({"auth_req_id": id, "error": "access_denied", "error_description": "The user declined", "correlation_id": "corr-1"})
                .to_string()
                .as_bytes(),
        ),
    );
    add(
        "si_notification",
        "ok-error-description-not-a-string.json",
        json!({"auth_req_id": id, "error": "access_denied", "error_description": 5})
            .to_string()
            .into_bytes(),
    );
    add(
        "si_notification",
        "ok-ping.http",
        post(
            Some(&format!("Bearer {ping_token}")),
            json!({"auth_req_id": ping_id}).to_string().as_bytes(),
        ),
    );
    add(
        "si_notification",
        "ok-ping-bare.json",
        json!({"auth_req_id": ping_id}).to_string().into_bytes(),
    );
    add(
        "si_notification",
        "ok-large-body-at-limit.json",
        padded(&good, mc_core::wire::MAX_JSON_BYTES),
    );
    add(
        "si_notification",
        "huge-body-over-limit.json",
        padded(&good, mc_core::wire::MAX_JSON_BYTES + 1),
    );
    add(
        "si_notification",
        "wrong-bearer.http",
        post(Some("Bearer not-the-token"), good_text.as_bytes()),
    );
    add(
        "si_notification",
        "bearer-of-the-ping-login.http",
        post(Some(&format!("Bearer {ping_token}")), good_text.as_bytes()),
    );
    add(
        "si_notification",
        "bearer-missing.http",
        post(None, good_text.as_bytes()),
    );
    add(
        "si_notification",
        "bearer-twice.http",
        message(
            "POST",
            &[
                ("Authorization", &bearer),
                ("Authorization", &bearer),
                json_type,
            ],
            good_text.as_bytes(),
        ),
    );
    add(
        "si_notification",
        "basic-scheme.http",
        post(Some(&format!("Basic {token}")), good_text.as_bytes()),
    );
    add(
        "si_notification",
        "bearer-tab.http",
        post(Some(&format!("Bearer\t{token}")), good_text.as_bytes()),
    );
    add(
        "si_notification",
        "bearer-two-tokens.http",
        post(
            Some(&format!("Bearer {token} {token}")),
            good_text.as_bytes(),
        ),
    );
    add(
        "si_notification",
        "get-method.http",
        message("GET", &[("Authorization", &bearer)], b""),
    );
    add(
        "si_notification",
        "unknown-auth-req-id.http",
        post(
            Some(&bearer),
            tokens_body("not-a-pending-login", &rs256)
                .to_string()
                .as_bytes(),
        ),
    );
    add(
        "si_notification",
        "auth-req-id-too-long.json",
        tokens_body(&"a".repeat(513), &rs256)
            .to_string()
            .into_bytes(),
    );
    add(
        "si_notification",
        "auth-req-id-number.json",
        json!({"auth_req_id": 42, "error": "access_denied"})
            .to_string()
            .into_bytes(),
    );
    add(
        "si_notification",
        "duplicate-auth-req-id.json",
        format!(r#"{{"auth_req_id":"{id}","auth_req_id":"{id}","error":"access_denied"}}"#)
            .into_bytes(),
    );
    add(
        "si_notification",
        "duplicate-access-token.json",
        format!(
            r#"{{"auth_req_id":"{id}","access_token":"{ACCESS_TOKEN}","access_token":"other","token_type":"Bearer","id_token":"{rs256}"}}"#
        )
        .into_bytes(),
    );
    let mut error_and_tokens = good.clone();
    error_and_tokens["error"] = json!("access_denied");
    add(
        "si_notification",
        "error-and-tokens.json",
        error_and_tokens.to_string().into_bytes(),
    );
    for (name, claim, value) in [
        (
            "tokens-wrong-recipient.http",
            "recipient",
            json!("https://evil.example/notify"),
        ),
        (
            "tokens-recipient-not-a-string.http",
            "recipient",
            json!([NOTIFICATION_URI]),
        ),
        (
            "tokens-wrong-hashed-login-hint.http",
            "hashed_login_hint",
            json!("00".repeat(32)),
        ),
        (
            "tokens-foreign-nonce.http",
            "nonce",
            json!("a-nonce-of-another-login"),
        ),
        ("tokens-expired.http", "exp", json!(NOW - 60)),
        ("tokens-acr-1.http", "acr", json!("1")),
    ] {
        let mut claims = si_claims(notify, Algorithm::RS256);
        claims[claim] = value;
        let jwt = sign_claims(&claims, Algorithm::RS256, Some(KID_RSA));
        add(
            "si_notification",
            name,
            post(Some(&bearer), tokens_body(id, &jwt).to_string().as_bytes()),
        );
    }
    add(
        "si_notification",
        "tokens-unknown-kid.http",
        post(
            Some(&bearer),
            tokens_body(
                id,
                &sign_claims(
                    &si_claims(notify, Algorithm::RS256),
                    Algorithm::RS256,
                    Some("kid-rotated"),
                ),
            )
            .to_string()
            .as_bytes(),
        ),
    );
    add(
        "si_notification",
        "tokens-alg-none.json",
        tokens_body(
            id,
            &format!(
                "{}.{}.",
                b64(br#"{"alg":"none"}"#),
                b64(si_claims(notify, Algorithm::RS256).to_string().as_bytes())
            ),
        )
        .to_string()
        .into_bytes(),
    );
    add(
        "si_notification",
        "tokens-to-the-ping-login.http",
        post(
            Some(&format!("Bearer {ping_token}")),
            tokens_body(ping_id, &rs256).to_string().as_bytes(),
        ),
    );
    add(
        "si_notification",
        "array-body.http",
        post(Some(&bearer), format!(r#"["{id}"]"#).as_bytes()),
    );
    add(
        "si_notification",
        "form-body.http",
        message(
            "POST",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            format!("auth_req_id={id}&error=access_denied").as_bytes(),
        ),
    );
    add(
        "si_notification",
        "empty-body.http",
        post(Some(&bearer), b""),
    );
    add(
        "si_notification",
        "nested-too-deep.json",
        format!(
            r#"{{"auth_req_id":"{id}","x":{}1{}}}"#,
            "[".repeat(65),
            "]".repeat(65)
        )
        .into_bytes(),
    );
    let mut invalid_utf8 =
        format!(r#"{{"auth_req_id":"{id}","error":"access_denied","x":""#).into_bytes();
    invalid_utf8.extend_from_slice(b"\xff\"}");
    add("si_notification", "invalid-utf8.json", invalid_utf8);

    // backchannel_start: the operator's answers to the SI and CIBA starts.
    let answer =
        |status: &str, headers: &[(&str, &str)], body: &[u8]| message(status, headers, body);
    let si_answer =
        json!({"auth_req_id": id, "expires_in": SI_EXPIRES_IN, "correlation_id": "corr-1"});
    add(
        "backchannel_start",
        "ok-si-answer.http",
        answer(
            "200",
            &[json_type, ("Cache-Control", "no-store")],
            si_answer.to_string().as_bytes(),
        ),
    );
    add(
        "backchannel_start",
        "ok-ciba-answer.http",
        answer("200", &[json_type], &StartKind::CibaPoll.answer_body()),
    );
    add(
        "backchannel_start",
        "ok-bare.json",
        StartKind::SiNotification.answer_body(),
    );
    for (name, member, value) in [
        ("ok-expires-in-string.json", "expires_in", json!("120")),
        ("ok-expires-in-float.json", "expires_in", json!(120.9)),
        ("ok-expires-in-u64-max.json", "expires_in", json!(u64::MAX)),
        ("ok-interval-zero.json", "interval", json!(0)),
        ("ok-interval-null.json", "interval", json!(null)),
        ("ok-interval-string.json", "interval", json!(" 7 ")),
        (
            "ok-correlation-id.json",
            "correlation_id",
            json!("op-corr-77"),
        ),
        (
            "ok-unknown-member.json",
            "unknown",
            json!({"nested": [1, 2]}),
        ),
        (
            "ok-auth-req-id-512-bytes.json",
            "auth_req_id",
            json!("a".repeat(512)),
        ),
        (
            "auth-req-id-513-bytes.json",
            "auth_req_id",
            json!("a".repeat(513)),
        ),
        ("auth-req-id-empty.json", "auth_req_id", json!("")),
        ("auth-req-id-number.json", "auth_req_id", json!(42)),
        ("auth-req-id-null.json", "auth_req_id", json!(null)),
        ("expires-in-zero.json", "expires_in", json!(0)),
        ("expires-in-half.json", "expires_in", json!(0.5)),
        ("expires-in-negative.json", "expires_in", json!(-120)),
        ("expires-in-null.json", "expires_in", json!(null)),
        ("expires-in-1e20.json", "expires_in", json!(1e20)),
        ("expires-in-text.json", "expires_in", json!("two minutes")),
        ("expires-in-true.json", "expires_in", json!(true)),
        ("interval-negative.json", "interval", json!(-1)),
        ("interval-text.json", "interval", json!("soon")),
    ] {
        let mut body: Value =
            serde_json::from_slice(&StartKind::CibaPoll.answer_body()).expect("JSON");
        body[member] = value;
        add("backchannel_start", name, body.to_string().into_bytes());
    }
    add(
        "backchannel_start",
        "expires-in-missing.json",
        json!({"auth_req_id": id}).to_string().into_bytes(),
    );
    add(
        "backchannel_start",
        "ok-text-plain.http",
        answer(
            "200",
            &[("Content-Type", "text/plain; charset=utf-8")],
            &StartKind::SiPolling.answer_body(),
        ),
    );
    add(
        "backchannel_start",
        "ok-no-content-type.http",
        answer("200", &[], &StartKind::SiPolling.answer_body()),
    );
    add(
        "backchannel_start",
        "error-invalid-request.http",
        answer(
            "400",
            &[json_type],
            json!({"error": "invalid_request", "error_description": "login_hint is missing"})
                .to_string()
                .as_bytes(),
        ),
    );
    add(
        "backchannel_start",
        "error-unauthorized-client.http",
        answer(
            "401",
            &[json_type, ("WWW-Authenticate", "Basic realm=\"op\"")],
            json!({"error": "unauthorized_client", "error_description": "request object signature"}).to_string().as_bytes(),
        ),
    );
    add(
        "backchannel_start",
        "error-access-denied-at-200.http",
        answer(
            "200",
            &[json_type],
            json!({"error": "access_denied"}).to_string().as_bytes(),
        ),
    );
    add(
        "backchannel_start",
        "error-and-answer-at-200.json",
        json!({"auth_req_id": id, "expires_in": 120, "error": "invalid_scope"})
            .to_string()
            .into_bytes(),
    );
    add(
        "backchannel_start",
        "status-201.http",
        answer(
            "201",
            &[json_type],
            &StartKind::SiNotification.answer_body(),
        ),
    );
    add(
        "backchannel_start",
        "status-302.http",
        answer("302", &[("Location", "https://op.example/elsewhere")], b""),
    );
    add(
        "backchannel_start",
        "status-500-html.http",
        answer(
            "500",
            &[("Content-Type", "text/html")],
            b"<html><body>Internal Server Error</body></html>",
        ),
    );
    add(
        "backchannel_start",
        "duplicate-auth-req-id.json",
        format!(r#"{{"auth_req_id":"{id}","auth_req_id":"other","expires_in":120}}"#).into_bytes(),
    );
    add(
        "backchannel_start",
        "duplicate-expires-in.json",
        format!(r#"{{"auth_req_id":"{id}","expires_in":120,"expires_in":0}}"#).into_bytes(),
    );
    add(
        "backchannel_start",
        "array-body.http",
        answer("200", &[json_type], format!(r#"["{id}",120]"#).as_bytes()),
    );
    add(
        "backchannel_start",
        "empty-body.http",
        answer("200", &[json_type], b""),
    );
    add(
        "backchannel_start",
        "huge-body-over-limit.json",
        padded(&si_answer, mc_core::wire::MAX_JSON_BYTES + 1),
    );

    // backchannel_poll: the token endpoint's answers to the polls.
    let oauth_error = |status: &str, code: &str| {
        answer(
            status,
            &[json_type, ("Cache-Control", "no-store")],
            json!({"error": code, "error_description": "from the fixed operator"})
                .to_string()
                .as_bytes(),
        )
    };
    add(
        "backchannel_poll",
        "ok-authorization-pending.http",
        oauth_error("400", "authorization_pending"),
    );
    add(
        "backchannel_poll",
        "ok-slow-down.http",
        oauth_error("400", "slow_down"),
    );
    add(
        "backchannel_poll",
        "ok-slow-down-at-200.http",
        oauth_error("200", "slow_down"),
    );
    add(
        "backchannel_poll",
        "ok-authorization-pending-bare.json",
        json!({"error": "authorization_pending"})
            .to_string()
            .into_bytes(),
    );
    add(
        "backchannel_poll",
        "ok-slow-down-with-tokens.json",
        json!({"error": "slow_down", "access_token": ACCESS_TOKEN, "token_type": "Bearer"})
            .to_string()
            .into_bytes(),
    );
    add(
        "backchannel_poll",
        "expired-token.http",
        oauth_error("400", "expired_token"),
    );
    add(
        "backchannel_poll",
        "access-denied.http",
        oauth_error("400", "access_denied"),
    );
    add(
        "backchannel_poll",
        "access-denied-403.http",
        oauth_error("403", "access_denied"),
    );
    add(
        "backchannel_poll",
        "invalid-grant.http",
        oauth_error("400", "invalid_grant"),
    );
    add(
        "backchannel_poll",
        "transaction-failed.http",
        oauth_error("400", "transaction_failed"),
    );
    add(
        "backchannel_poll",
        "authorization-pending-case.http",
        oauth_error("400", "Authorization_Pending"),
    );
    add(
        "backchannel_poll",
        "authorization-pending-description-not-a-string.json",
        json!({"error": "authorization_pending", "error_description": 5})
            .to_string()
            .into_bytes(),
    );
    add(
        "backchannel_poll",
        "duplicate-error.json",
        br#"{"error":"slow_down","error":"authorization_pending"}"#.to_vec(),
    );
    let token_answer = |jwt: &str| {
        answer(
            "200",
            &[
                json_type,
                ("Cache-Control", "no-store"),
                ("Pragma", "no-cache"),
            ],
            &token_body(jwt),
        )
    };
    add(
        "backchannel_poll",
        "ok-tokens-si-rs256.http",
        token_answer(&si_id_token(StartKind::SiPolling, Algorithm::RS256)),
    );
    add(
        "backchannel_poll",
        "ok-tokens-ciba-es256.http",
        token_answer(&si_id_token(StartKind::CibaPoll, Algorithm::ES256)),
    );
    add(
        "backchannel_poll",
        "ok-tokens-si-hs256.json",
        token_body(&si_id_token(StartKind::SiPolling, Algorithm::HS256)),
    );
    let mut poll_claims: Value = serde_json::from_slice(&token_body("")).expect("JSON");
    poll_claims["id_token"] = si_claims(StartKind::SiPolling, Algorithm::HS256);
    add(
        "backchannel_poll",
        "ok-tokens-claims-object.json",
        poll_claims.to_string().into_bytes(),
    );
    // LoA 1: refused where LoA 2 was asked for (SI, CIBA poll), taken where none was (ping).
    let mut acr_1 = si_claims(StartKind::CibaPoll, Algorithm::RS256);
    acr_1["acr"] = json!("1");
    add(
        "backchannel_poll",
        "ok-tokens-acr-1-where-unasked.http",
        token_answer(&sign_claims(&acr_1, Algorithm::RS256, Some(KID_RSA))),
    );
    let mut wrong_hash = si_claims(StartKind::SiPolling, Algorithm::RS256);
    wrong_hash["hashed_login_hint"] = json!("ff".repeat(32));
    wrong_hash["nonce"] = json!(si.si_poll.nonce.clone());
    add(
        "backchannel_poll",
        "ok-tokens-wrong-hashed-login-hint-unchecked-by-ciba.http",
        answer(
            "200",
            &[json_type],
            &token_body(&sign_claims(&wrong_hash, Algorithm::RS256, Some(KID_RSA))),
        ),
    );
    add(
        "backchannel_poll",
        "tokens-without-id-token.json",
        json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})
            .to_string()
            .into_bytes(),
    );
    add(
        "backchannel_poll",
        "tokens-at-201.http",
        answer(
            "201",
            &[json_type],
            &token_body(&si_id_token(StartKind::SiPolling, Algorithm::RS256)),
        ),
    );
    add(
        "backchannel_poll",
        "status-503-html.http",
        answer(
            "503",
            &[("Content-Type", "text/html"), ("Retry-After", "5")],
            b"<html>busy</html>",
        ),
    );
    add(
        "backchannel_poll",
        "empty-200.http",
        answer("200", &[], b""),
    );
    add(
        "backchannel_poll",
        "huge-body-over-limit.json",
        padded(
            &json!({"error": "slow_down"}),
            mc_core::wire::MAX_JSON_BYTES + 1,
        ),
    );
    seeds
}
