//! The one test fixture: the fixed login that mc-core's tests, its benchmark and the fuzz harness
//! share (time, operator, client, keys, claims, tokens, responses), and the in-memory sandbox on
//! that fixed time that mc-core's login tests drive.
//!
//! Plain `http`, `serde_json` and `jsonwebtoken` values only: this crate does not depend on
//! mc-core (mc-core's tests depend on it), so each user wraps these values in mc-core's types
//! itself. Signatures and hashes come from the sandbox's own crypto provider ([`crate::keys`]),
//! never from mc-core's, so a test's expectations are computed independently of the code under
//! test. The keys are the committed files under `tests/sandbox/keys/`.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::keys;
use crate::{Handset, Sandbox};

/// The fixed "now": 2026-09-21T14:13:20Z.
pub const NOW: u64 = 1_790_000_000;
/// The fixed operator's issuer.
pub const ISSUER: &str = "https://op.example";
/// The fixed operator's authorization endpoint.
pub const AUTHORIZATION_ENDPOINT: &str = "https://op.example/authorize";
/// The fixed operator's token endpoint.
pub const TOKEN_ENDPOINT: &str = "https://op.example/token";
/// The fixed operator's JWKS URL.
pub const JWKS_URI: &str = "https://op.example/jwks";
/// The fixed operator's userinfo endpoint.
pub const USERINFO_ENDPOINT: &str = "https://op.example/userinfo";
/// The fixed operator's premium info endpoint.
pub const PREMIUMINFO_ENDPOINT: &str = "https://op.example/premiuminfo";
/// The SP's client_id at the fixed operator.
pub const CLIENT_ID: &str = "client-123";
/// The SP's client secret: long enough to key HMAC-SHA-512, so every HS* algorithm works.
pub const CLIENT_SECRET: &str = "s3cret-client-secret-value-long-enough-for-hmac-sha512-keys-0042";
/// The SP's registered redirect URI (also the sandbox operators').
pub const REDIRECT_URI: &str = "https://sp.example/callback";
/// The authorization code the operator sends back to the callback.
pub const CODE: &str = "the-code";
/// The access token of the fixed login.
pub const ACCESS_TOKEN: &str = "at-0123456789abcdef";
/// The subject (a PCR) of the fixed login.
pub const SUB: &str = "pcr-411421B0-38D6";
/// The user's MSISDN (a login hint).
pub const MSISDN: &str = "447700900301";
/// The user's phone number, as userinfo states it.
pub const PHONE_NUMBER: &str = "+447700900301";
/// The `kid` the fixed operator publishes RSA A under (RS256).
pub const KID_RSA: &str = "kid-a";
/// The `kid` the fixed operator publishes the EC key under (ES256).
pub const KID_EC: &str = "kid-ec";

/// RSA A (2048): the fixed operator's RS256 key.
pub const RSA_A: &str = include_str!("../keys/rsa-a.pem");
/// RSA B (2048): the key the fixed operator rotates to; also the SP's own key in tests.
pub const RSA_B: &str = include_str!("../keys/rsa-b.pem");
/// A weak RSA key (1024 bits) that must be refused.
pub const RSA_1024: &str = include_str!("../keys/rsa-1024.pem");
/// The P-256 key: the fixed operator's ES256 key.
pub const EC_P256: &str = include_str!("../keys/ec-p256.pem");
/// The fixed operator's JWKS document as it serves it: RSA A as [`KID_RSA`] with `alg` RS256,
/// the EC key as [`KID_EC`]. Byte for byte the fuzz seed `jwks/ok-committed.json`.
pub const FIXED_JWKS: &str = include_str!("../keys/fixed-jwks.json");

/// Deterministic "randomness" for the SP's state, nonce and PKCE verifier: a byte counter
/// (1, 2, 3, ...), so that requests and snapshots are stable and one signed id_token fits every
/// login drawn from a fresh counter.
pub fn entropy() -> impl FnMut(&mut [u8]) {
    entropy_from(0)
}

/// The same counter starting after `seed`: another login's state, nonce and PKCE verifier.
pub fn entropy_from(seed: u8) -> impl FnMut(&mut [u8]) {
    let mut counter = seed;
    move |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            counter = counter.wrapping_add(1);
            *b = counter;
        }
    }
}

/// The value of the first query parameter `name` of a URL (the authorization redirect's
/// `state`, `nonce`, `code_challenge`), decoded.
#[must_use]
pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A private key of the fixed login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKey {
    /// [`RSA_A`].
    RsaA,
    /// [`RSA_B`].
    RsaB,
    /// [`RSA_1024`].
    Rsa1024,
    /// [`EC_P256`].
    EcP256,
}

impl TestKey {
    /// The key's file name under `keys/` (and its name in `public.json`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaA => "rsa-a",
            Self::RsaB => "rsa-b",
            Self::Rsa1024 => "rsa-1024",
            Self::EcP256 => "ec-p256",
        }
    }

    /// The private key as PEM.
    #[must_use]
    pub fn pem(self) -> &'static str {
        match self {
            Self::RsaA => RSA_A,
            Self::RsaB => RSA_B,
            Self::Rsa1024 => RSA_1024,
            Self::EcP256 => EC_P256,
        }
    }

    /// The private key, ready to sign.
    ///
    /// # Panics
    /// If a committed PEM file is broken (a build defect, not an input).
    #[must_use]
    pub fn encoding_key(self) -> EncodingKey {
        let pem = self.pem().as_bytes();
        #[allow(clippy::expect_used)]
        match self {
            Self::EcP256 => EncodingKey::from_ec_pem(pem).expect("committed EC key"),
            _ => EncodingKey::from_rsa_pem(pem).expect("committed RSA key"),
        }
    }

    /// The public JWK with `kid` (and `alg`) when given, and `use` `sig`.
    #[must_use]
    pub fn jwk(self, kid: Option<&str>, alg: Option<&str>) -> Value {
        let mut jwk = keys::public_jwk(self.name());
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
#[must_use]
pub fn jwks_body(keys: &[Value]) -> Vec<u8> {
    json!({ "keys": keys }).to_string().into_bytes()
}

/// The body of the fixed operator's JWKS document ([`FIXED_JWKS`]).
#[must_use]
pub fn default_jwks_body() -> Vec<u8> {
    FIXED_JWKS.as_bytes().to_vec()
}

/// A 200 answer of the JWKS endpoint with these JWK values.
#[must_use]
pub fn jwks_response(keys: &[Value]) -> http::Response<Vec<u8>> {
    response(200, "application/json", &jwks_body(keys))
}

/// The JOSE header the fixed operator signs with: `alg`, `typ` `JWT`, and `kid` when given.
#[must_use]
pub fn header(alg: Algorithm, kid: Option<&str>) -> Value {
    let mut header = json!({ "alg": format!("{alg:?}"), "typ": "JWT" });
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    header
}

/// Sign a JWS over exactly these header and claims values.
#[must_use]
pub fn sign_raw(header: &Value, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    keys::sign_with(header, claims, alg, key)
}

/// Sign with a key of the fixed login, under [`header`].
#[must_use]
pub fn sign(claims: &Value, alg: Algorithm, key: TestKey, kid: Option<&str>) -> String {
    sign_raw(&header(alg, kid), claims, alg, &key.encoding_key())
}

/// Sign with HMAC keyed by arbitrary bytes, under [`header`].
#[must_use]
pub fn sign_hmac(claims: &Value, alg: Algorithm, secret: &[u8], kid: Option<&str>) -> String {
    sign_raw(
        &header(alg, kid),
        claims,
        alg,
        &EncodingKey::from_secret(secret),
    )
}

/// The key the fixed operator signs `alg` with: HMAC keyed by the client secret for HS*, the
/// EC key for ES256, RSA A otherwise.
#[must_use]
pub fn operator_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            EncodingKey::from_secret(CLIENT_SECRET.as_bytes())
        }
        Algorithm::ES256 => TestKey::EcP256.encoding_key(),
        _ => TestKey::RsaA.encoding_key(),
    }
}

/// The `kid` the fixed operator signs `alg` under: [`KID_EC`] for ES256, none for HS* (the
/// client secret is no published key), [`KID_RSA`] otherwise.
#[must_use]
pub fn operator_kid(alg: Algorithm) -> Option<&'static str> {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => None,
        Algorithm::ES256 => Some(KID_EC),
        _ => Some(KID_RSA),
    }
}

/// Sign claims as the fixed operator signs `alg` ([`operator_key`]), under [`header`] with
/// this `kid`.
#[must_use]
pub fn operator_sign(claims: &Value, alg: Algorithm, kid: Option<&str>) -> String {
    sign_raw(&header(alg, kid), claims, alg, &operator_key(alg))
}

/// A valid id_token of the fixed login for this nonce, as the fixed operator issues it with
/// `alg`: [`valid_claims`], signed with [`operator_key`] under [`operator_kid`].
#[must_use]
pub fn id_token(nonce: &str, alg: Algorithm) -> String {
    operator_sign(&valid_claims(nonce, alg), alg, operator_kid(alg))
}

/// The claims of a valid id_token of the fixed login with this nonce, LoA 2, and the `at_hash`
/// of [`ACCESS_TOKEN`] for `alg`.
#[must_use]
pub fn valid_claims(nonce: &str, alg: Algorithm) -> Value {
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
        "at_hash": keys::at_hash(ACCESS_TOKEN, alg),
    })
}

/// The token endpoint's 200 body carrying this id_token and [`ACCESS_TOKEN`].
#[must_use]
pub fn token_body(id_token: &str) -> Vec<u8> {
    json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    })
    .to_string()
    .into_bytes()
}

/// A 200 token response carrying this id_token and [`ACCESS_TOKEN`].
#[must_use]
pub fn token_response(id_token: &str) -> http::Response<Vec<u8>> {
    response(200, "application/json", &token_body(id_token))
}

/// The userinfo body of the fixed login: [`SUB`] and [`PHONE_NUMBER`].
#[must_use]
pub fn userinfo_body() -> Vec<u8> {
    json!({ "sub": SUB, "phone_number": PHONE_NUMBER })
        .to_string()
        .into_bytes()
}

/// A JSON response.
#[must_use]
pub fn json_response(status: u16, body: &Value) -> http::Response<Vec<u8>> {
    response(status, "application/json", body.to_string().as_bytes())
}

/// A response with this status, `Content-Type` (sent even when empty) and body. A status or
/// content type `http` cannot carry becomes a 500 or no header: a test sees a refusal.
#[must_use]
pub fn response(status: u16, content_type: &str, body: &[u8]) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body.to_vec());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// The in-memory sandbox on the fixed clock
// ---------------------------------------------------------------------------------------------

/// The base URL of the in-memory sandbox (never resolved: it answers `http::Request` values).
pub const SANDBOX_BASE: &str = "https://sandbox.example";

/// A sandbox whose clock stands still at [`NOW`], for tests that drive it in memory.
#[must_use]
pub fn sandbox() -> Sandbox {
    Sandbox::with_clock(SANDBOX_BASE, Arc::new(|| NOW))
}

/// The test subscriber of `operator` whose simulated handset behaves as `handset`.
#[must_use]
pub fn subscriber(operator: &str, handset: Handset) -> Option<&'static str> {
    Sandbox::operator(operator)?
        .subscribers
        .iter()
        .find(|(_, h)| *h == handset)
        .map(|(msisdn, _)| *msisdn)
}

/// The user's browser at the sandbox: it follows an authorization URL, the simulated handset
/// answers, and this is the query of the redirect back to the SP (the callback's query). `None`
/// when the sandbox does not redirect back (an unknown client or redirect URI).
#[must_use]
pub fn browse(sandbox: &Sandbox, authorization_url: &str) -> Option<String> {
    let request = http::Request::get(authorization_url)
        .body(Vec::new())
        .ok()?;
    let response = sandbox.handle(&request);
    let location = response
        .headers()
        .get(http::header::LOCATION)?
        .to_str()
        .ok()?;
    location.split_once('?').map(|(_, query)| query.to_owned())
}

/// The `sub` a sandbox operator gives a subscriber: a GUID-shaped pseudonym, upper-case hex of
/// the first 16 bytes of SHA-256 over `<operator>:<client_id>:<msisdn>`, stable per subscriber
/// per SP. Restated here so that tests hold the sandbox to it.
#[must_use]
pub fn subject(operator: &str, msisdn: &str) -> Option<String> {
    let info = Sandbox::operator(operator)?;
    let digest = keys::sha256(format!("{operator}:{}:{msisdn}", info.client_id).as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02X}")).collect();
    let groups = [(0, 8), (8, 12), (12, 16), (16, 20), (20, 32)];
    let parts: Option<Vec<&str>> = groups.iter().map(|(a, b)| hex.get(*a..*b)).collect();
    Some(parts?.join("-"))
}

/// The `hashed_login_hint` a sandbox operator puts in its id_tokens for an MSISDN hint:
/// lower-case hex SHA-256 of `MSISDN:<digits>`.
#[must_use]
pub fn hashed_login_hint(msisdn: &str) -> String {
    keys::sha256(format!("MSISDN:{msisdn}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_fixed_jwks_is_the_public_half_of_the_fixed_keys() {
        let served: Value = serde_json::from_str(FIXED_JWKS).unwrap();
        let expected = json!({ "keys": [
            TestKey::RsaA.jwk(Some(KID_RSA), Some("RS256")),
            TestKey::EcP256.jwk(Some(KID_EC), None),
        ]});
        assert_eq!(served, expected);
    }

    #[test]
    fn every_strong_fixed_key_signs_and_has_a_public_half() {
        // aws-lc-rs refuses to sign with the 1024-bit key: tests that need a token signed by it
        // compute the RSA signature by hand.
        assert!(TestKey::Rsa1024.jwk(None, None).get("n").is_some());
        for key in [TestKey::RsaA, TestKey::RsaB, TestKey::EcP256] {
            let alg = if key == TestKey::EcP256 {
                Algorithm::ES256
            } else {
                Algorithm::RS256
            };
            let jwt = sign(&valid_claims("n", alg), alg, key, None);
            assert!(!jwt.ends_with('.'), "{key:?} did not sign");
            assert!(key.jwk(None, None).get("kty").is_some(), "{key:?}");
        }
    }

    #[test]
    fn the_restated_subject_and_login_hint_hash_are_the_sandboxs() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let sandbox = sandbox();
        let info = Sandbox::operator("alpha").unwrap();
        let msisdn = subscriber("alpha", Handset::Approve).unwrap();
        let redirect: String =
            url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect();
        let url = format!(
            "{}/authorize?response_type=code&scope=openid&client_id={}&redirect_uri={redirect}&state=s&login_hint=MSISDN%3A{msisdn}",
            sandbox.issuer("alpha"),
            info.client_id,
        );
        let query = browse(&sandbox, &url).unwrap();
        let code = query
            .strip_prefix("code=")
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let basic = STANDARD.encode(format!("{}:{}", info.client_id, info.client_secret));
        let token = http::Request::post(format!("{}/token", sandbox.issuer("alpha")))
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                format!("grant_type=authorization_code&code={code}&redirect_uri={redirect}")
                    .into_bytes(),
            )
            .unwrap();
        let answer: Value = serde_json::from_slice(sandbox.handle(&token).body()).unwrap();
        let id_token = answer["id_token"].as_str().unwrap();
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(id_token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["sub"], json!(subject("alpha", msisdn).unwrap()));
        assert_eq!(
            claims["hashed_login_hint"],
            json!(hashed_login_hint(msisdn))
        );
        assert_eq!(claims["iat"], json!(NOW));
    }
}
