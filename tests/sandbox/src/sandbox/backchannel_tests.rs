//! Server-initiated logins in memory, on a clock the test moves: the SI transports and the
//! request object's rules, CIBA client authentication, the handset's answers, the polls and
//! the notifications, and their faults. (The SP side is mc-core's, tested end to end in
//! mc-tests; here the SP is hand-written requests.)

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Request, Response};
use serde_json::{Value, json};

use super::*;
use crate::keys::{KeyFamily, SigningKey, sha256};

const BASE: &str = "http://sandbox.test";
const NOW: u64 = 1_700_000_000;
const ALPHA_SECRET: &str = "alpha-client-secret%2B%2F%3D";
const APPROVES: &str = "447700900001";
const DECLINES: &str = "447700900009";
const SILENT: &str = "447700900000";
const NOTIFICATION_TOKEN: &str = "client-notification-token-1";

/// A sandbox on a clock the test moves, with the SP's key registered.
struct Bench {
    sandbox: Sandbox,
    clock: Arc<AtomicU64>,
}

impl Bench {
    fn new(config: SandboxConfig) -> Self {
        let clock = Arc::new(AtomicU64::new(NOW));
        let reading = Arc::clone(&clock);
        let config = config.sp_jwks(json!({ "keys": [sp_key().jwk()] }));
        let sandbox = Sandbox::configured(
            BASE,
            Arc::new(move || reading.load(Ordering::SeqCst)),
            config,
        );
        Self { sandbox, clock }
    }

    fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    fn issuer(&self) -> String {
        self.sandbox.issuer("alpha")
    }
}

/// The SP's registered key.
fn sp_key() -> SigningKey {
    SigningKey::from_pool(KeyFamily::Rs256, 2, "sp-key".to_owned())
}

fn body(response: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(response.body()).unwrap_or_default()
}

fn error_of(response: &Response<Vec<u8>>) -> String {
    body(response)["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A valid request object's claims at alpha, in notification mode.
fn request_claims(bench: &Bench, msisdn: &str) -> Value {
    json!({
        "iss": "alpha-client-id",
        "aud": bench.issuer(),
        "response_type": "mc_si_async_code",
        "client_id": "alpha-client-id",
        "scope": "openid mc_authn",
        "version": "mc_si_r2_v1.0",
        "nonce": "nonce-1",
        "login_hint": format!("MSISDN:{msisdn}"),
        "acr_values": "2",
        "notification_uri": SP_NOTIFICATION_URI,
        "client_notification_token": NOTIFICATION_TOKEN,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "jti-1",
    })
}

/// How an SI request goes.
#[derive(Clone, Copy, Debug)]
enum Transport {
    GetQuery,
    PostQuery,
    PostForm,
    PostJson,
}

/// The SI request with these outer parameters.
fn si_request(bench: &Bench, transport: Transport, outer: &[(&str, &str)]) -> Request<Vec<u8>> {
    let url = format!("{}/si-authorize", bench.issuer());
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(outer)
        .finish();
    match transport {
        Transport::GetQuery => Request::get(format!("{url}?{query}")).body(Vec::new()),
        Transport::PostQuery => Request::post(format!("{url}?{query}")).body(Vec::new()),
        Transport::PostForm => Request::post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(query.into_bytes()),
        Transport::PostJson => {
            let object: serde_json::Map<String, Value> = outer
                .iter()
                .map(|(n, v)| ((*n).to_owned(), json!(v)))
                .collect();
            Request::post(url)
                .header("content-type", "application/json")
                .body(Value::Object(object).to_string().into_bytes())
        }
    }
    .unwrap()
}

/// The SI request carrying `jws`, its outer parameters copied from the claims `outer`.
fn si_signed(bench: &Bench, transport: Transport, outer: &Value, jws: String) -> Request<Vec<u8>> {
    let text = |name: &str| outer[name].as_str().unwrap_or_default().to_owned();
    let outer = [
        ("client_id", text("client_id")),
        ("scope", text("scope")),
        ("response_type", text("response_type")),
        ("request", jws),
    ];
    let outer: Vec<(&str, &str)> = outer.iter().map(|(n, v)| (*n, v.as_str())).collect();
    si_request(bench, transport, &outer)
}

/// The SI answer for `claims` signed by the SP, with outer parameters matching them.
fn si_start(bench: &Bench, transport: Transport, claims: &Value) -> Response<Vec<u8>> {
    let request = si_signed(bench, transport, claims, sp_key().sign(claims));
    bench.sandbox.handle(&request)
}

/// One mutation of a valid request object, for a refusal case.
enum Mutation {
    /// A claim set to another value; the outer parameter of that name stays the genuine one.
    Inner(&'static str, Value),
    /// A claim and the outer parameter of that name, both set to another value.
    Both(&'static str, Value),
    /// A claim left out.
    Remove(&'static str),
    /// A claim under another name.
    Rename(&'static str, &'static str),
}

impl Mutation {
    /// The request object's claims after the mutation, and the claims the outer parameters
    /// are copied from.
    fn apply(&self, genuine: &Value) -> (Value, Value) {
        let mut claims = genuine.clone();
        let object = claims.as_object_mut().unwrap();
        match self {
            Self::Inner(name, value) | Self::Both(name, value) => {
                object.insert((*name).to_owned(), value.clone());
            }
            Self::Remove(name) => {
                object.remove(*name);
            }
            Self::Rename(from, to) => {
                let value = object.remove(*from).unwrap();
                object.insert((*to).to_owned(), value);
            }
        }
        let outer = if matches!(self, Self::Both(..)) {
            claims.clone()
        } else {
            genuine.clone()
        };
        (claims, outer)
    }
}

fn basic() -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("alpha-client-id:{ALPHA_SECRET}"))
    )
}

fn form_post(url: &str, authorization: Option<&str>, pairs: &[(&str, &str)]) -> Request<Vec<u8>> {
    let mut request =
        Request::post(url).header("content-type", "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    request.body(form.into_bytes()).unwrap()
}

/// A CIBA start at alpha with HTTP Basic.
fn ciba_start(bench: &Bench, pairs: &[(&str, &str)]) -> Response<Vec<u8>> {
    let url = format!("{}/bc-authorize", bench.issuer());
    bench
        .sandbox
        .handle(&form_post(&url, Some(&basic()), pairs))
}

/// A poll at alpha with HTTP Basic.
fn poll(bench: &Bench, auth_req_id: &str) -> Response<Vec<u8>> {
    let url = format!("{}/token", bench.issuer());
    bench.sandbox.handle(&form_post(
        &url,
        Some(&basic()),
        &[
            ("grant_type", "urn:openid:params:grant-type:ciba"),
            ("auth_req_id", auth_req_id),
        ],
    ))
}

fn auth_req_id(response: &Response<Vec<u8>>) -> String {
    assert_eq!(response.status(), 200, "{}", body(response));
    body(response)["auth_req_id"].as_str().unwrap().to_owned()
}

fn bearer(request: &Request<Vec<u8>>) -> &str {
    request.headers()["authorization"].to_str().unwrap()
}

fn json_of(request: &Request<Vec<u8>>) -> Value {
    serde_json::from_slice(request.body()).unwrap()
}

#[test]
fn si_every_transport_and_both_response_types() {
    let bench = Bench::new(SandboxConfig::default());
    for transport in [
        Transport::GetQuery,
        Transport::PostQuery,
        Transport::PostForm,
        Transport::PostJson,
    ] {
        let answer = si_start(&bench, transport, &request_claims(&bench, APPROVES));
        let answer = body(&answer);
        assert_eq!(answer["expires_in"], 120, "{transport:?}: {answer}");
        assert!(answer["auth_req_id"].is_string(), "{transport:?}");
        assert!(answer.get("interval").is_none(), "{transport:?}: {answer}");

        let mut polling = request_claims(&bench, APPROVES);
        polling["response_type"] = json!("mc_si_polling");
        let answer = body(&si_start(&bench, transport, &polling));
        assert_eq!(answer["interval"], 5, "{transport:?}: {answer}");
    }
    // Four notifications, one per notification-mode login; none for polling.
    assert_eq!(bench.sandbox.take_notifications().len(), 4);
}

#[test]
fn si_notification_carries_the_tokens_to_the_registered_uri() {
    let bench = Bench::new(SandboxConfig::default());
    let mut claims = request_claims(&bench, APPROVES);
    claims["correlation_id"] = json!("corr-1");
    let id = auth_req_id(&si_start(&bench, Transport::PostQuery, &claims));
    let sent = bench.sandbox.take_notifications();
    assert_eq!(sent.len(), 1);
    let notification = &sent[0];
    assert_eq!(notification.method(), "POST");
    assert_eq!(notification.uri(), SP_NOTIFICATION_URI);
    assert_eq!(bearer(notification), format!("Bearer {NOTIFICATION_TOKEN}"));
    assert_eq!(notification.headers()["content-type"], "application/json");
    let body = json_of(notification);
    assert_eq!(body["auth_req_id"], id.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["correlation_id"], "corr-1");
    assert!(body["access_token"].is_string());
    let id_token = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(id_token["recipient"], SP_NOTIFICATION_URI);
    assert_eq!(id_token["nonce"], "nonce-1");
    assert_eq!(id_token["acr"], "2");
    let hash: String = sha256(format!("MSISDN:{APPROVES}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(id_token["hashed_login_hint"], hash);
    assert!(bench.sandbox.take_notifications().is_empty(), "taken once");
    // The login's result is notified: it cannot be polled.
    assert_eq!(error_of(&poll(&bench, &id)), "invalid_grant");
}

#[test]
fn si_handset_answers_after_its_delay() {
    let bench = Bench::new(SandboxConfig::default().handset_delay(Duration::from_millis(300)));
    let _ = si_start(
        &bench,
        Transport::PostQuery,
        &request_claims(&bench, APPROVES),
    );
    assert!(bench.sandbox.take_notifications().is_empty());
    assert_eq!(bench.sandbox.queued_notifications(), 1);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(bench.sandbox.take_notifications().len(), 1);
}

#[test]
fn si_refusals() {
    use Mutation::{Both, Inner, Remove, Rename};
    let invalid = "invalid_request";
    // (case, the one mutation, expected error, what its description names)
    #[rustfmt::skip]
    let cases = [
        ("unregistered notification URI", Inner("notification_uri", json!("https://sp.example/elsewhere")), "unauthorized_client",       "not registered"),
        ("wrong aud",                     Inner("aud", json!("http://sandbox.test/op/beta")),               invalid,                     "aud"),
        ("case-mismatched claim name",    Rename("login_hint", "Login_Hint"),                               invalid,                     "Login_Hint"),
        ("missing nonce",                 Remove("nonce"),                                                  invalid,                     "nonce"),
        ("missing notification token",    Remove("client_notification_token"),                              invalid,                     "client_notification_token"),
        ("expired",                       Inner("exp", json!(NOW - 1)),                                     invalid,                     "expired"),
        ("iss not the client",            Inner("iss", json!("someone-else")),                              invalid,                     "iss"),
        ("unknown subscriber",            Inner("login_hint", json!("MSISDN:447700999999")),                invalid,                     "Unknown subscriber"),
        ("mc_authz without client_name",  Both("scope", json!("openid mc_authz")),                          invalid,                     "client_name"),
        ("no openid",                     Both("scope", json!("mc_authn")),                                 "invalid_scope",             "openid"),
        ("unknown response type",         Both("response_type", json!("code")),                             "unsupported_response_type", "code"),
        ("inner response_type",           Inner("response_type", json!("mc_si_polling")),                   invalid,                     "response_type"),
        ("inner client_id",               Inner("client_id", json!("beta-client-id")),                      invalid,                     "client_id"),
        ("inner scope",                   Inner("scope", json!("openid mc_authn mc_identity_phonenumber")), invalid,                     "scope"),
    ];
    let bench = Bench::new(SandboxConfig::default());
    for (case, mutation, error, says) in cases {
        let (claims, outer) = mutation.apply(&request_claims(&bench, APPROVES));
        let request = si_signed(&bench, Transport::PostQuery, &outer, sp_key().sign(&claims));
        let answer = bench.sandbox.handle(&request);
        assert_eq!(answer.status(), 400, "{case}");
        let answer = body(&answer);
        assert_eq!(answer["error"], error, "{case}: {answer}");
        assert!(
            answer["error_description"].as_str().unwrap().contains(says),
            "{case}: {answer}"
        );
    }

    // A signature by a key the SP did not register, under its kid; no JWKS at all.
    let claims = request_claims(&bench, APPROVES);
    let signed_by =
        |key: &SigningKey| si_signed(&bench, Transport::PostForm, &claims, key.sign(&claims));
    let other_key = SigningKey::from_pool(KeyFamily::Rs256, 3, "sp-key".to_owned());
    let forged = bench.sandbox.handle(&signed_by(&other_key));
    assert_eq!(error_of(&forged), "unauthorized_client");
    let unregistered = Sandbox::configured(BASE, Arc::new(|| NOW), SandboxConfig::default());
    let refused = unregistered.handle(&signed_by(&sp_key()));
    assert_eq!(error_of(&refused), "unauthorized_client");
    assert!(bench.sandbox.take_notifications().is_empty());
}

#[test]
fn handset_refusals_and_silence() {
    let bench = Bench::new(SandboxConfig::default());
    let mut wrong_pin = request_claims(&bench, "447700900004");
    wrong_pin["acr_values"] = json!("3");
    for (claims, description) in [
        (request_claims(&bench, DECLINES), "The user declined"),
        (wrong_pin, WRONG_PIN),
    ] {
        let id = auth_req_id(&si_start(&bench, Transport::PostJson, &claims));
        let sent = bench.sandbox.take_notifications();
        assert_eq!(
            json_of(&sent[0]),
            json!({ "auth_req_id": id, "error": "access_denied", "error_description": description })
        );
    }
    let _ = si_start(&bench, Transport::GetQuery, &request_claims(&bench, SILENT));
    assert_eq!(bench.sandbox.queued_notifications(), 0);
}

#[test]
fn ciba_poll_paced_by_the_interval() {
    let bench = Bench::new(SandboxConfig::default().poll_interval(2));
    let answer = ciba_start(
        &bench,
        &[
            ("scope", "openid"),
            ("login_hint", "tel:+447700900001"),
            ("binding_message", "4G7K"),
            ("acr_values", "3"),
        ],
    );
    assert_eq!(body(&answer)["interval"], 2);
    let id = auth_req_id(&answer);
    assert_eq!(error_of(&poll(&bench, &id)), "slow_down", "at once");
    bench.advance(6);
    assert_eq!(
        error_of(&poll(&bench, &id)),
        "slow_down",
        "the interval grew by 5 s, to 7"
    );
    bench.advance(12);
    let tokens = body(&poll(&bench, &id));
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["acr"], "3");
    assert!(id_token.get("recipient").is_none() && id_token.get("nonce").is_none());
    bench.advance(12);
    assert_eq!(error_of(&poll(&bench, &id)), "invalid_grant", "used");
}

#[test]
fn ciba_pending_denied_and_expired() {
    let bench = Bench::new(SandboxConfig::default().poll_interval(1));
    let start = |hint: &str, expiry: &str| {
        let answer = ciba_start(
            &bench,
            &[
                ("scope", "openid"),
                ("login_hint", hint),
                ("requested_expiry", expiry),
            ],
        );
        assert_eq!(body(&answer)["expires_in"], expiry.parse::<u64>().unwrap());
        auth_req_id(&answer)
    };
    let silent = start(SILENT, "3");
    let declined = start(&format!("+{DECLINES}"), "60");
    bench.advance(1);
    assert_eq!(error_of(&poll(&bench, &silent)), "authorization_pending");
    assert_eq!(error_of(&poll(&bench, &declined)), "access_denied");
    bench.advance(2);
    assert_eq!(
        error_of(&poll(&bench, &silent)),
        "authorization_pending",
        "a second of grace"
    );
    bench.advance(1);
    assert_eq!(error_of(&poll(&bench, &silent)), "expired_token");
    assert_eq!(
        error_of(&ciba_start(
            &bench,
            &[("scope", "openid"), ("login_hint", "tel:+10000")]
        )),
        "unknown_user_id"
    );
    assert_eq!(
        error_of(&ciba_start(
            &bench,
            &[
                ("scope", "openid"),
                ("login_hint", APPROVES),
                ("requested_expiry", "0")
            ]
        )),
        "invalid_request"
    );
}

#[test]
fn ciba_ping_then_one_poll() {
    let bench = Bench::new(SandboxConfig::default());
    let answer = ciba_start(
        &bench,
        &[
            ("scope", "openid"),
            ("login_hint", APPROVES),
            ("client_notification_token", NOTIFICATION_TOKEN),
        ],
    );
    assert!(body(&answer).get("interval").is_none());
    let id = auth_req_id(&answer);
    let sent = bench.sandbox.take_notifications();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].uri(), SP_NOTIFICATION_URI);
    assert_eq!(bearer(&sent[0]), format!("Bearer {NOTIFICATION_TOKEN}"));
    assert_eq!(json_of(&sent[0]), json!({ "auth_req_id": id }));
    // Ping mode is not paced: the SP polls once, at once.
    assert!(body(&poll(&bench, &id))["access_token"].is_string());
}

#[test]
fn ciba_client_authentication() {
    let bench = Bench::new(SandboxConfig::default());
    let url = format!("{}/bc-authorize", bench.issuer());
    let start = |authorization: Option<&str>, extra: &[(&str, &str)]| {
        let mut pairs = vec![("scope", "openid"), ("login_hint", APPROVES)];
        pairs.extend_from_slice(extra);
        bench
            .sandbox
            .handle(&form_post(&url, authorization, &pairs))
            .status()
    };
    let assertion = |key: &SigningKey, aud: &str, lifetime: u64| {
        key.sign(&json!({
            "iss": "alpha-client-id", "sub": "alpha-client-id", "aud": aud,
            "iat": NOW, "exp": NOW + lifetime, "jti": "j",
        }))
    };
    let with_assertion = |jwt: &str| {
        start(
            None,
            &[
                ("client_id", "alpha-client-id"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", jwt),
            ],
        )
    };
    assert_eq!(start(Some(&basic()), &[]), 200);
    let post = [
        ("client_id", "alpha-client-id"),
        ("client_secret", "alpha-client-secret+/="),
    ];
    assert_eq!(start(None, &post), 200, "client_secret_post");
    assert_eq!(start(None, &[]), 401);
    let issuer = bench.issuer();
    assert_eq!(with_assertion(&assertion(&sp_key(), &issuer, 120)), 200);
    assert_eq!(with_assertion(&assertion(&sp_key(), &url, 300)), 200);
    let other = SigningKey::from_pool(KeyFamily::Rs256, 3, "sp-key".to_owned());
    for (case, jwt) in [
        ("lives too long", assertion(&sp_key(), &issuer, 301)),
        (
            "for another audience",
            assertion(&sp_key(), "https://op.example", 60),
        ),
        ("by an unregistered key", assertion(&other, &issuer, 60)),
        ("expired", assertion(&sp_key(), &issuer, 0)),
    ] {
        assert_eq!(with_assertion(&jwt), 401, "{case}");
    }
}

#[test]
fn notification_faults() {
    let bench = Bench::new(SandboxConfig::default());
    let notify = |fault: Fault| {
        bench.sandbox.clear_faults();
        bench.sandbox.set_fault(Target::Notification, fault);
        let id = auth_req_id(&si_start(
            &bench,
            Transport::PostQuery,
            &request_claims(&bench, APPROVES),
        ));
        (id, bench.sandbox.take_notifications())
    };
    let (_, sent) = notify(Fault::Notification(NotificationMutation::WrongBearer));
    assert_ne!(bearer(&sent[0]), format!("Bearer {NOTIFICATION_TOKEN}"));
    let (id, sent) = notify(Fault::Notification(NotificationMutation::UnknownAuthReqId));
    assert_ne!(json_of(&sent[0])["auth_req_id"], id.as_str());
    let (_, sent) = notify(Fault::Notification(NotificationMutation::Duplicate));
    assert_eq!(sent.len(), 2);
    assert_eq!(json_of(&sent[0]), json_of(&sent[1]));
    let (_, sent) = notify(Fault::Notification(NotificationMutation::Late));
    assert!(sent.is_empty());
    assert_eq!(bench.sandbox.queued_notifications(), 1, "after the expiry");
    let (_, sent) = notify(Fault::IdToken(IdTokenMutation::Tamper(
        "sub".to_owned(),
        json!("someone-else"),
    )));
    let id_token = json_of(&sent[0])["id_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&id_token)["sub"], "someone-else");
    let (_, sent) = notify(Fault::IdToken(IdTokenMutation::remove("recipient")));
    let id_token = json_of(&sent[0])["id_token"].as_str().unwrap().to_owned();
    assert!(claims_of(&id_token).get("recipient").is_none());
}

#[test]
fn tampering_keeps_the_genuine_signature() {
    let bench = Bench::new(SandboxConfig::default());
    let key = bench.sandbox.signing_key("alpha").unwrap();
    let genuine = bench.sandbox.forge(0, &key, json!({ "sub": "a" }), None);
    let tampered = bench.sandbox.forge(
        0,
        &key,
        json!({ "sub": "a" }),
        Some(&IdTokenMutation::Tamper("sub".to_owned(), json!("b"))),
    );
    let parts = |jwt: &str| jwt.split('.').map(str::to_owned).collect::<Vec<_>>();
    let (genuine, tampered) = (parts(&genuine), parts(&tampered));
    assert_eq!(genuine[0], tampered[0]);
    assert_ne!(genuine[1], tampered[1]);
    assert_eq!(genuine[2], tampered[2]);
}

#[test]
fn poll_faults() {
    let bench = Bench::new(SandboxConfig::default().poll_interval(1));
    let start = || {
        auth_req_id(&ciba_start(
            &bench,
            &[("scope", "openid"), ("login_hint", APPROVES)],
        ))
    };
    for (fault, first, then) in [
        (
            PollMutation::PendingForever,
            "authorization_pending",
            "authorization_pending",
        ),
        (PollMutation::SlowDown, "slow_down", ""),
        (PollMutation::Expired, "expired_token", "expired_token"),
    ] {
        bench.sandbox.set_fault(Target::Token, Fault::Poll(fault));
        let id = start();
        bench.advance(1);
        assert_eq!(error_of(&poll(&bench, &id)), first, "{fault:?}");
        bench.advance(6);
        assert_eq!(error_of(&poll(&bench, &id)), then, "{fault:?} then");
    }
}

#[test]
fn metadata_advertises_server_initiated_login() {
    let bench = Bench::new(SandboxConfig::default());
    let request = Request::get(format!(
        "{}/.well-known/openid-configuration",
        bench.issuer()
    ))
    .body(Vec::new())
    .unwrap();
    let metadata = body(&bench.sandbox.handle(&request));
    let issuer = bench.issuer();
    assert_eq!(
        metadata["si_authorization_endpoint"],
        format!("{issuer}/si-authorize")
    );
    assert_eq!(
        metadata["backchannel_authentication_endpoint"],
        format!("{issuer}/bc-authorize")
    );
    assert_eq!(
        metadata["backchannel_token_delivery_modes_supported"],
        json!(["poll", "ping"])
    );
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("urn:openid:params:grant-type:ciba"))
    );
}
