//! The setup ([`SandboxConfig`]) and the handset's levels of assurance, in memory.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Request, Response};
use serde_json::Value;

use super::*;

const BASE: &str = "http://sandbox.test";
const CALLBACK: &str = "http://127.0.0.1:9/my/callback";

fn sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::configured(BASE, Arc::new(|| 1_700_000_000), config)
}

fn get(uri: &str) -> Request<Vec<u8>> {
    Request::get(uri).body(Vec::new()).unwrap()
}

fn location(response: &Response<Vec<u8>>) -> &str {
    response.headers()["location"].to_str().unwrap()
}

fn discovery_without_a_hint(sandbox: &Sandbox) -> Response<Vec<u8>> {
    let basic = STANDARD.encode(format!("{DISCOVERY_CLIENT_ID}:{DISCOVERY_CLIENT_SECRET}"));
    let request = Request::get(format!(
        "{}?Redirect_URL=https%3A%2F%2Fsp.example%2Fdiscovered",
        sandbox.discovery_url()
    ))
    .header("authorization", format!("Basic {basic}"))
    .body(Vec::new())
    .unwrap();
    sandbox.handle(&request)
}

/// The authorize answer for `msisdn` at alpha, with `acr_values` and `redirect_uri`.
fn authorize(sandbox: &Sandbox, msisdn: &str, acr: &str, redirect_uri: &str) -> (String, Duration) {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", "alpha-client-id"),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", "openid mc_authn"),
            ("acr_values", acr),
            ("state", "s"),
            ("nonce", "n"),
            ("login_hint", &format!("MSISDN:{msisdn}")),
        ])
        .finish();
    let (response, delay) = sandbox.handle_with_delay(&get(&format!(
        "{}/authorize?{query}",
        sandbox.issuer("alpha")
    )));
    let answer = if response.status() == 302 {
        location(&response).to_owned()
    } else {
        String::from_utf8_lossy(response.body()).into_owned()
    };
    (answer, delay)
}

/// The id_token claims for the code in `callback`.
fn id_token_claims(sandbox: &Sandbox, callback: &str, redirect_uri: &str) -> Value {
    let url = url::Url::parse(callback).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
        ])
        .finish();
    let basic = STANDARD.encode("alpha-client-id:alpha-client-secret%2B%2F%3D");
    let request = Request::post(format!("{}/token", sandbox.issuer("alpha")))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .unwrap();
    let tokens: Value = serde_json::from_slice(sandbox.handle(&request).body()).unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

#[test]
fn selection_by_202_or_by_302() {
    let by_202 = discovery_without_a_hint(&sandbox(SandboxConfig::default()));
    assert_eq!(by_202.status(), 202);
    let body: Value = serde_json::from_slice(by_202.body()).unwrap();
    let page = sandbox(SandboxConfig::default()).selection_url(SP_DISCOVERY_REDIRECT);
    assert_eq!(body["links"][0]["href"], page.as_str());

    let redirecting = sandbox(SandboxConfig::default().selection(SelectionAnswer::Redirect));
    let by_302 = discovery_without_a_hint(&redirecting);
    assert_eq!(by_302.status(), 302);
    assert_eq!(location(&by_302), page);
}

#[test]
fn only_registered_redirect_uris_are_accepted() {
    let default = sandbox(SandboxConfig::default());
    let (answer, _) = authorize(&default, "447700900001", "2", CALLBACK);
    assert!(answer.contains("Unregistered redirect_uri"), "{answer}");
    let (answer, _) = authorize(&default, "447700900001", "2", SP_REDIRECT_URI);
    assert!(
        answer.starts_with(&format!("{SP_REDIRECT_URI}?code=")),
        "{answer}"
    );

    let custom =
        sandbox(SandboxConfig::default().redirect_uris([CALLBACK, "https://app.example/cb"]));
    assert_eq!(custom.redirect_uri(), CALLBACK);
    for registered in [CALLBACK, "https://app.example/cb"] {
        let (answer, _) = authorize(&custom, "447700900001", "2", registered);
        assert!(
            answer.starts_with(&format!("{registered}?code=")),
            "{answer}"
        );
    }
    let (answer, _) = authorize(&custom, "447700900001", "2", SP_REDIRECT_URI);
    assert!(answer.contains("Unregistered redirect_uri"), "{answer}");
}

#[test]
fn the_handset_answers_the_level_asked() {
    let sandbox = sandbox(SandboxConfig::default());
    for (msisdn, acr_values, acr, amr) in [
        ("447700900001", "2", "2", "SIM_OK"),
        ("447700900001", "3", "3", "SIM_PIN"),
        ("447700900001", "2 3", "2", "SIM_OK"),
        ("447700900003", "2", "3", "SIM_PIN"),
        ("447700900004", "2", "2", "SIM_OK"),
        ("447700900002", "3", "2", "SIM_OK"),
    ] {
        let (callback, _) = authorize(&sandbox, msisdn, acr_values, SP_REDIRECT_URI);
        let claims = id_token_claims(&sandbox, &callback, SP_REDIRECT_URI);
        assert_eq!(claims["acr"], acr, "{msisdn} at {acr_values}");
        assert_eq!(
            claims["amr"],
            serde_json::json!([amr]),
            "{msisdn} at {acr_values}"
        );
    }
    let (callback, _) = authorize(&sandbox, "447700900004", "3", SP_REDIRECT_URI);
    let pairs: Vec<(String, String)> = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(pairs.contains(&("error".to_owned(), "access_denied".to_owned())));
    assert!(pairs.contains(&("error_description".to_owned(), WRONG_PIN.to_owned())));
}

#[test]
fn the_handset_delay_holds_every_answer_but_silence() {
    let delay = Duration::from_millis(500);
    let sandbox = sandbox(SandboxConfig::default().handset_delay(delay));
    for msisdn in [
        "447700900001",
        "447700900003",
        "447700900009",
        "447700900004",
    ] {
        let (_, waited) = authorize(&sandbox, msisdn, "3", SP_REDIRECT_URI);
        assert_eq!(waited, delay, "{msisdn}");
    }
    let (_, waited) = authorize(&sandbox, "447700900000", "2", SP_REDIRECT_URI);
    assert_eq!(waited, sandbox.handset_wait());
}

#[test]
fn faults_by_name_are_on_from_the_start() {
    let config = SandboxConfig::default()
        .fault("jwks@beta=server-error".parse().unwrap())
        .fault("metadata=slow:800ms".parse().unwrap());
    let sandbox = sandbox(config);
    let jwks = |operator: &str| sandbox.handle(&get(&format!("{}/jwks", sandbox.issuer(operator))));
    assert_eq!(jwks("alpha").status(), 200);
    assert_eq!(jwks("beta").status(), 500);
    let metadata = format!(
        "{}/.well-known/openid-configuration",
        sandbox.issuer("alpha")
    );
    let (answer, delay) = sandbox.handle_with_delay(&get(&metadata));
    assert_eq!(answer.status(), 200);
    assert_eq!(delay, Duration::from_millis(800));
}

#[test]
fn the_discovery_answer_names_the_operator() {
    let sandbox = sandbox(SandboxConfig::default());
    let basic = STANDARD.encode(format!("{DISCOVERY_CLIENT_ID}:{DISCOVERY_CLIENT_SECRET}"));
    let request = Request::post(sandbox.discovery_url())
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"Redirect_URL=https%3A%2F%2Fsp.example%2Fdiscovered&MSISDN=4915100000001".to_vec())
        .unwrap();
    let answer: Value = serde_json::from_slice(sandbox.handle(&request).body()).unwrap();
    assert_eq!(answer["response"]["serving_operator"], "Beta Telecom");
    assert_eq!(answer["response"]["mcc_mnc"], "262_001");
}
