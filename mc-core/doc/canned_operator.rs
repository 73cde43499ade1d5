// A canned Mobile Connect operator in memory, for the examples in the crate documentation and
// the README (each includes this file in a hidden line, so that the examples run as doctests).
// It answers the token, JWKS and userinfo endpoints of `https://op.example` with real RS256
// signatures made with a committed test key of the repository (`tests/sandbox/keys`), and a
// `browser` that plays the user approving on the handset. It is not part of the library.

#[allow(dead_code)]
mod canned {
    use std::cell::RefCell;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub const ISSUER: &str = "https://op.example";
    pub const CLIENT_ID: &str = "my-client-id";
    pub const PCR: &str = "pcr-411421B0-38D6";
    pub const PHONE: &str = "+447700900001";
    const CODE: &str = "canned-code-1";
    const ACCESS_TOKEN: &str = "canned-access-token";
    const KID: &str = "op-key-1";
    const PRIVATE_KEY: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sandbox/keys/rsa-a.pem"));
    const PUBLIC_KEYS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sandbox/keys/public.json"));

    thread_local! {
        static NONCE: RefCell<String> = const { RefCell::new(String::new()) };
    }

    /// The fixed time of the examples.
    pub fn now() -> mc_core::UnixTime {
        mc_core::UnixTime::from_secs(1_790_000_000)
    }

    /// Deterministic "randomness" for the examples; use the OS CSPRNG in production.
    pub fn rng(buf: &mut [u8]) {
        buf.fill(7);
    }

    /// The user's browser: it follows the authorization redirect, the user approves on the
    /// handset, and the operator sends the browser back; this is the callback's query string.
    pub fn browser(authorization_url: &str) -> String {
        let url = url::Url::parse(authorization_url).expect("an absolute URL");
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        NONCE.with(|n| *n.borrow_mut() = param("nonce"));
        format!("code={CODE}&state={}", param("state"))
    }

    /// The operator's HTTP answer to one request.
    pub fn send(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = String::from_utf8_lossy(request.body()).into_owned();
        match (request.method().as_str(), request.uri().path()) {
            ("GET", "/jwks") => {
                let keys: serde_json::Value = serde_json::from_str(PUBLIC_KEYS).expect("JSON");
                let mut jwk = keys["rsa-a"].clone();
                jwk["kid"] = KID.into();
                json(200, &serde_json::json!({ "keys": [jwk] }))
            }
            ("POST", "/token")
                if authorization.starts_with("Basic ") && body.contains(&format!("code={CODE}")) =>
            {
                json(
                    200,
                    &serde_json::json!({
                        "access_token": ACCESS_TOKEN,
                        "token_type": "Bearer",
                        "expires_in": 3600,
                        "id_token": id_token(),
                    }),
                )
            }
            ("GET", "/userinfo") if authorization == format!("Bearer {ACCESS_TOKEN}") => {
                json(200, &serde_json::json!({ "sub": PCR, "phone_number": PHONE }))
            }
            _ => json(400, &serde_json::json!({ "error": "invalid_request" })),
        }
    }

    fn id_token() -> String {
        let now = now().as_secs();
        let nonce = NONCE.with(|n| n.borrow().clone());
        let alg = jsonwebtoken::Algorithm::RS256;
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": KID });
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": PCR, "aud": CLIENT_ID, "azp": CLIENT_ID,
            "iat": now, "exp": now + 300, "auth_time": now, "nonce": nonce,
            "acr": "2", "amr": ["SIM_OK"],
            "at_hash": mc_core::id_token::at_hash(ACCESS_TOKEN, alg),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).expect("PEM");
        let signer = (mc_core::crypto::provider().signer_factory)(&alg, &key).expect("signer");
        let signature = signer.try_sign(input.as_bytes()).expect("signature");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn json(status: u16, value: &serde_json::Value) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(value.to_string().into_bytes())
            .expect("a valid response")
    }
}
