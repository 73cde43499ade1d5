// The canned operator of `canned_operator.rs` (include that file first), extended for the
// server-initiated examples in the crate documentation: it answers `si-authorize` (reading the
// nonce from the request object), and a poll of its token endpoint with one
// `authorization_pending`, then the canned tokens. The SP's own key is another committed test
// key of the repository (`tests/sandbox/keys`). It is not part of the library.

#[allow(dead_code)]
mod canned_backchannel {
    use std::cell::Cell;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::canned;

    const SP_KEY: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sandbox/keys/rsa-b.pem"));

    thread_local! {
        static POLLS: Cell<u32> = const { Cell::new(0) };
    }

    /// The SP's private key (PEM), registered with the operator as `sp-key-1`.
    pub fn sp_key_pem() -> &'static [u8] {
        SP_KEY.as_bytes()
    }

    /// The operator's HTTP answer to one request.
    pub fn operator_answer(request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let json = |status: u16, body: serde_json::Value| {
            http::Response::builder()
                .status(status)
                .body(body.to_string().into_bytes())
                .expect("a valid response")
        };
        match request.uri().path() {
            "/si-authorize" => {
                // The user's handset gets the login; the id_token will carry the request
                // object's nonce (the canned operator reads it from a URL's query).
                let url = url::Url::parse(&request.uri().to_string()).expect("a URL");
                let jws = url
                    .query_pairs()
                    .find(|(k, _)| k == "request")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let payload = jws.split('.').nth(1).unwrap_or_default();
                let claims: serde_json::Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
                        .expect("JSON claims");
                let nonce = claims["nonce"].as_str().unwrap_or_default();
                canned::browser(&format!("https://op.example/handset?nonce={nonce}"));
                json(200, serde_json::json!({ "auth_req_id": "auth-req-1", "expires_in": 120 }))
            }
            "/token" if POLLS.with(|p| p.replace(p.get() + 1)) == 0 => {
                json(400, serde_json::json!({ "error": "authorization_pending" }))
            }
            "/token" => {
                // The user approved: the canned token answer, for the poll's credentials.
                let mut redeem = request.clone();
                *redeem.body_mut() = b"code=canned-code-1".to_vec();
                canned::send(redeem)
            }
            _ => canned::send(request.clone()),
        }
    }
}
