//! Server-initiated login (MOBILE-CONNECT.md §8): Mobile Connect SI in notification and polling
//! mode, OpenID CIBA in poll and ping mode. Happy paths, one named test per refusal (tables run
//! by one check per kind of step), snapshots of every request emitted and of the request
//! object, and properties of the new parsers (the operator's start and poll answers, the
//! inbound notification, the pending state).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mc_core::{
    Algorithm, BackchannelError, BackchannelMode, BackchannelPending, CibaLoginHint, CibaRequest,
    ClientAuth, Discovered, Endpoint, Error, Exchange as _, IdTokenError, LoginHint,
    MissingSetting, MisuseError, Msisdn, Notification, Notified, OperatorConfig, Poll,
    ProtocolError, SiRequest, SiTransport, SpSigningKey, UnixTime, Verified, notification_response,
};
use mc_sandbox::fixture::{KID_RSA, MSISDN, PHONE_NUMBER, hashed_login_hint};
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------------------------------------
// The SP, the operator's answers, the notifications
// ---------------------------------------------------------------------------------------------

const SI_ENDPOINT: &str = "https://op.example/si-authorize";
const BC_ENDPOINT: &str = "https://op.example/bc-authorize";
const NOTIFICATION_URI: &str = "https://sp.example/notify";
const AUTH_REQ_ID: &str = "1c266114-a1be-4252-8ad1-04986c5b9ac1";
const SP_KID: &str = "sp-key-1";
/// The operator's `expires_in` in the start answers.
const EXPIRES_IN: u64 = 120;

fn sp_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::RS256, RSA_B.as_bytes(), SP_KID).unwrap()
}

/// The test operator with both server-initiated endpoints, the SP's key and notification URI.
fn si_config() -> OperatorConfig {
    operator_config()
        .si_authorization(SI_ENDPOINT)
        .unwrap()
        .backchannel_authentication(BC_ENDPOINT)
        .unwrap()
        .notification_uri(NOTIFICATION_URI)
        .unwrap()
        .signing_key(sp_key())
}

fn si_operator() -> Discovered {
    built_with_keys(si_config())
}

fn msisdn_hint() -> LoginHint {
    LoginHint::Msisdn(Msisdn::new(MSISDN))
}

fn phone_hint() -> CibaLoginHint {
    CibaLoginHint::Phone(Msisdn::new(PHONE_NUMBER))
}

/// The `request` parameter of an SI request, whatever the transport carried it in.
fn request_param(request: &http::Request<Vec<u8>>) -> String {
    let query = request.uri().query().unwrap_or_default();
    let from_query = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned());
    from_query
        .or_else(|| {
            url::form_urlencoded::parse(request.body())
                .find(|(k, _)| k == "request")
                .map(|(_, v)| v.into_owned())
        })
        .or_else(|| {
            let body: Value = serde_json::from_slice(request.body()).ok()?;
            body["request"].as_str().map(str::to_owned)
        })
        .expect("the request carries a request object")
}

/// The decoded JOSE header and claims of a compact JWS (not verified here).
fn decode_jws(jws: &str) -> (Value, Value) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let decode =
        |part: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]))
}

/// The request object's claims, after checking its signature with the SP's public JWK as the
/// operator would.
fn request_object(request: &http::Request<Vec<u8>>) -> Value {
    let jws = request_param(request);
    verify_with_sp_jwk(&jws);
    decode_jws(&jws).1
}

/// Verify a JWS with the public JWK the SP publishes (as an operator does).
fn verify_with_sp_jwk(jws: &str) {
    let jwks = SpSigningKey::jwks([&sp_key()]).unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let (input, signature) = jws.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let verifier = (mc_core::crypto::provider().verifier_factory)(&Algorithm::RS256, &key).unwrap();
    verifier.verify(input.as_bytes(), &signature).unwrap();
}

/// The operator's answer to a start.
fn start_answer(interval: Option<u64>) -> http::Response<Vec<u8>> {
    let mut body = json!({ "auth_req_id": AUTH_REQ_ID, "expires_in": EXPIRES_IN });
    if let Some(interval) = interval {
        body["interval"] = json!(interval);
    }
    json_response(200, &body)
}

/// A started SI login: the pending state, and what the operator read in the request object.
struct SiLogin {
    op: Discovered,
    pending: BackchannelPending,
    claims: Value,
}

impl SiLogin {
    fn nonce(&self) -> &str {
        self.claims["nonce"].as_str().unwrap()
    }

    fn token(&self) -> &str {
        self.claims["client_notification_token"].as_str().unwrap()
    }
}

fn si_login_at(op: &Discovered, request: SiRequest) -> SiLogin {
    let start = op.si_authorize(request, &mut entropy(), now()).unwrap();
    let claims = request_object(&start.request());
    let pending = start.respond(start_answer(None), now()).unwrap();
    SiLogin {
        op: op.clone(),
        pending,
        claims,
    }
}

fn si_login(request: SiRequest) -> SiLogin {
    si_login_at(&si_operator(), request)
}

/// Valid id_token claims of a notified SI login: the fixed login's, plus `recipient` and the
/// `hashed_login_hint` of the MSISDN hint.
fn si_claims(nonce: &str) -> Value {
    let mut claims = valid_claims(nonce);
    claims["recipient"] = json!(NOTIFICATION_URI);
    claims["hashed_login_hint"] = json!(hashed_login_hint(MSISDN));
    claims
}

fn signed(claims: &Value) -> String {
    sign(claims, Algorithm::RS256, TestKey::RsaA, Some(KID_RSA))
}

/// The body of a success notification carrying this id_token.
fn tokens_body(id_token: &str) -> Value {
    json!({
        "auth_req_id": AUTH_REQ_ID,
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
        "correlation_id": "corr-1",
    })
}

/// The operator's POST to the SP's notification URI.
fn notification(bearer: Option<&str>, body: &Value) -> http::Request<Vec<u8>> {
    let mut builder =
        http::Request::post(NOTIFICATION_URI).header("content-type", "application/json");
    if let Some(bearer) = bearer {
        builder = builder.header("authorization", format!("Bearer {bearer}"));
    }
    builder.body(body.to_string().into_bytes()).unwrap()
}

/// Parse then accept, as a notification handler does: the result and the SP's answer.
fn deliver(
    login: &SiLogin,
    request: &http::Request<Vec<u8>>,
    at: UnixTime,
) -> (Result<Verified<Notified>, Error>, http::Response<Vec<u8>>) {
    let result = Notification::parse(request).and_then(|n| login.pending.accept(&login.op, n, at));
    let answer = notification_response(&result);
    (result, answer)
}

fn notified_tokens(result: Result<Verified<Notified>, Error>) -> mc_core::Tokens {
    match result {
        Ok(Verified::Done(Notified::Tokens(tokens))) => tokens,
        other => panic!("expected tokens, got {other:?}"),
    }
}

fn polled(result: Result<Verified<Poll>, Error>) -> Poll {
    match result {
        Ok(Verified::Done(poll)) => poll,
        other => panic!("expected a poll verdict, got {other:?}"),
    }
}

fn poll_tokens(result: Result<Verified<Poll>, Error>) -> mc_core::Tokens {
    match polled(result) {
        Poll::Tokens(tokens) => tokens,
        Poll::Pending(pending) => panic!("still pending: {pending:?}"),
    }
}

fn poll_pending(result: Result<Verified<Poll>, Error>) -> BackchannelPending {
    match polled(result) {
        Poll::Pending(pending) => pending,
        Poll::Tokens(tokens) => panic!("unexpected tokens: {tokens:?}"),
    }
}

/// Poll `pending` at `at` and hand the exchange the operator's `answer`.
fn poll_answered(
    op: &Discovered,
    pending: &BackchannelPending,
    at: UnixTime,
    answer: http::Response<Vec<u8>>,
) -> Result<Verified<Poll>, Error> {
    pending
        .poll(op, &mut entropy(), at)
        .unwrap()
        .respond(answer, at)
}

fn oauth_error(status: u16, code: &str) -> http::Response<Vec<u8>> {
    json_response(
        status,
        &json!({ "error": code, "error_description": "from the test" }),
    )
}

fn refused(result: &Result<impl std::fmt::Debug, Error>, code: &str, endpoint: Endpoint) -> bool {
    matches!(result, Err(Error::Refused(e)) if e.is(code) && e.endpoint == endpoint)
}

// ---------------------------------------------------------------------------------------------
// Happy paths
// ---------------------------------------------------------------------------------------------

#[test]
fn si_notification_login() {
    let login = si_login(SiRequest::new(msisdn_hint()));
    assert_eq!(login.pending.mode(), BackchannelMode::SiNotification);
    assert_eq!(login.pending.auth_req_id(), AUTH_REQ_ID);
    assert_eq!(login.pending.expires_at(), now().plus(EXPIRES_IN));
    let request = notification(
        Some(login.token()),
        &tokens_body(&signed(&si_claims(login.nonce()))),
    );

    let parsed = Notification::parse(&request).unwrap();
    assert_eq!(parsed.auth_req_id(), AUTH_REQ_ID);
    assert!(!parsed.is_ping());
    assert!(!format!("{parsed:?}").contains(login.token()));

    let (result, answer) = deliver(&login, &request, now().plus(30));
    assert_eq!(answer.status(), 204);
    assert!(answer.body().is_empty());
    let tokens = notified_tokens(result);
    assert_eq!(tokens.sub(), SUB);
    assert_eq!(tokens.access_token().expose_secret(), ACCESS_TOKEN);
    assert_eq!(tokens.correlation_id(), Some("corr-1"));
    assert_eq!(tokens.operator_id(), "test-operator");
}

#[test]
fn si_polling_login() {
    let login = si_login(SiRequest::new(msisdn_hint()).polling());
    assert_eq!(login.pending.mode(), BackchannelMode::SiPolling);
    // Mobile Connect answers carry no interval: CIBA's default of 5 s.
    assert_eq!(login.pending.interval_secs(), 5);
    // One second more than the interval: `now` is a floored second (CIBA Core 7.3).
    assert_eq!(login.pending.next_poll_at(), now().plus(6));

    let first = login.pending.next_poll_at();
    let exchange = login
        .pending
        .poll(&login.op, &mut entropy(), first)
        .unwrap();
    assert_eq!(exchange.endpoint(), Endpoint::Token);
    assert_eq!(exchange.operator_id(), Some("test-operator"));
    let pending = poll_pending(exchange.respond(oauth_error(400, "authorization_pending"), first));
    assert_eq!(pending.next_poll_at(), first.plus(6));

    let second = pending.next_poll_at();
    let mut claims = valid_claims(login.nonce());
    claims["hashed_login_hint"] = json!(hashed_login_hint(MSISDN));
    let exchange = pending.poll(&login.op, &mut entropy(), second).unwrap();
    let tokens = poll_tokens(exchange.respond(token_response(&signed(&claims)), second));
    assert_eq!(tokens.sub(), SUB);
}

fn ciba_operator(auth: ClientAuth) -> Discovered {
    built_with_keys(si_config().client_auth(auth))
}

/// A started CIBA login (`interval` 2 s).
fn ciba_login(
    op: &Discovered,
    request: CibaRequest,
) -> (BackchannelPending, Vec<(String, String)>) {
    let start = op.ciba_authorize(request, &mut entropy(), now()).unwrap();
    assert_eq!(start.endpoint(), Endpoint::BackchannelAuthentication);
    let form = form_of(&start.request());
    (start.respond(start_answer(Some(2)), now()).unwrap(), form)
}

fn form_of(request: &http::Request<Vec<u8>>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(request.body())
        .into_owned()
        .collect()
}

/// CIBA id_token claims: the fixed login's, without a nonce (CIBA requests carry none).
fn ciba_claims() -> Value {
    let mut claims = valid_claims("unused");
    claims.as_object_mut().unwrap().remove("nonce");
    claims
}

/// The tokens of a CIBA login polled at `at`, the operator answering with valid ones.
fn ciba_tokens(op: &Discovered, pending: &BackchannelPending, at: UnixTime) -> mc_core::Tokens {
    let answer = token_response(&signed(&ciba_claims()));
    poll_tokens(poll_answered(op, pending, at, answer))
}

#[test]
fn ciba_poll_login() {
    let op = ciba_operator(ClientAuth::SecretBasic);
    let (pending, _) = ciba_login(&op, CibaRequest::new(phone_hint()));
    assert_eq!(pending.mode(), BackchannelMode::CibaPoll);
    assert_eq!(pending.interval_secs(), 2);
    let at = pending.next_poll_at();
    assert_eq!(at, now().plus(3));
    let pending = poll_pending(poll_answered(
        &op,
        &pending,
        at,
        oauth_error(400, "authorization_pending"),
    ));
    let at = pending.next_poll_at();
    assert_eq!(at, now().plus(6));
    assert_eq!(ciba_tokens(&op, &pending, at).sub(), SUB);
}

#[test]
fn ciba_ping_login() {
    let op = ciba_operator(ClientAuth::SecretBasic);
    let (pending, form) = ciba_login(&op, CibaRequest::new(phone_hint()).ping());
    assert_eq!(pending.mode(), BackchannelMode::CibaPing);
    let token = param(&form, "client_notification_token").unwrap();
    let ping = notification(Some(&token), &json!({ "auth_req_id": AUTH_REQ_ID }));
    let parsed = Notification::parse(&ping).unwrap();
    assert!(parsed.is_ping());
    let at = now().plus(1);
    let result = pending.accept(&op, parsed, at);
    assert_eq!(notification_response(&result).status(), 204);
    assert!(
        matches!(result, Ok(Verified::Done(Notified::Ping))),
        "{result:?}"
    );
    // After the ping, one poll at once (before next_poll_at: ping mode does not wait).
    assert!(at < pending.next_poll_at());
    assert_eq!(ciba_tokens(&op, &pending, at).sub(), SUB);
}

#[test]
fn ciba_id_token_nonce_is_ignored() {
    // CIBA requests carry no nonce (CIBA Core 7.1): a nonce in the id_token is not checked.
    let op = ciba_operator(ClientAuth::SecretBasic);
    let (pending, form) = ciba_login(&op, CibaRequest::new(phone_hint()));
    assert!(param(&form, "nonce").is_none());
    let at = pending.next_poll_at();
    let claims = valid_claims("a nonce this SP never sent");
    let tokens = poll_tokens(poll_answered(
        &op,
        &pending,
        at,
        token_response(&signed(&claims)),
    ));
    assert_eq!(tokens.sub(), SUB);
}

#[test]
fn ciba_acr_is_checked_only_when_asked() {
    let op = ciba_operator(ClientAuth::SecretBasic);
    let mut claims = ciba_claims();
    claims.as_object_mut().unwrap().remove("acr");
    // Not asked: no acr needed, whatever the operator's profile.
    let (pending, form) = ciba_login(&op, CibaRequest::new(phone_hint()));
    assert!(param(&form, "acr_values").is_none());
    let at = pending.next_poll_at();
    let response = token_response(&signed(&claims));
    assert!(
        poll_tokens(poll_answered(&op, &pending, at, response))
            .id_token()
            .acr()
            .is_none()
    );
    // Asked: the id_token must reach the level.
    let (pending, form) = ciba_login(&op, CibaRequest::new(phone_hint()).acr_values([3]));
    assert_eq!(param(&form, "acr_values").as_deref(), Some("3"));
    let mut claims = ciba_claims();
    claims["acr"] = json!("2");
    let result = poll_answered(&op, &pending, at, token_response(&signed(&claims)));
    assert!(
        matches!(
            result,
            Err(Error::IdToken(IdTokenError::AcrTooLow { requested: 3, .. }))
        ),
        "{result:?}"
    );
}

#[test]
fn si_notification_unknown_kid_pauses_for_refetch() {
    let op = operator_with_refetch_at_once();
    let login = si_login_at(&op, SiRequest::new(msisdn_hint()));
    let jwt = sign(
        &si_claims(login.nonce()),
        Algorithm::RS256,
        TestKey::RsaB,
        Some("kid-new"),
    );
    let request = notification(Some(login.token()), &tokens_body(&jwt));
    let (result, _) = deliver(&login, &request, now());
    let Ok(Verified::NeedJwks(refetch)) = result else {
        panic!("expected a refetch, got {result:?}");
    };
    assert_eq!(refetch.endpoint(), Endpoint::Jwks);
    let keys = jwks_response(&[
        TestKey::RsaA.jwk(Some(KID_RSA), None),
        TestKey::RsaB.jwk(Some("kid-new"), None),
    ]);
    let finished: Result<Notified, Error> = refetch.respond(keys, now());
    assert_eq!(notification_response(&finished).status(), 204);
    match finished {
        Ok(Notified::Tokens(tokens)) => assert_eq!(tokens.sub(), SUB),
        other => panic!("{other:?}"),
    }
}

#[test]
fn poll_unknown_kid_pauses_for_refetch() {
    let op = operator_with_refetch_at_once();
    let login = si_login_at(&op, SiRequest::new(msisdn_hint()).polling());
    let at = login.pending.next_poll_at();
    let jwt = sign(
        &valid_claims(login.nonce()),
        Algorithm::RS256,
        TestKey::RsaB,
        Some("kid-new"),
    );
    let result = poll_answered(&op, &login.pending, at, token_response(&jwt));
    let Ok(Verified::NeedJwks(refetch)) = result else {
        panic!("expected a refetch, got {result:?}");
    };
    // Keys that still lack the kid: the verdict of the paused step, no second refetch.
    let unchanged = jwks_response(&[TestKey::RsaA.jwk(Some(KID_RSA), None)]);
    let err = refetch.respond(unchanged, at).unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenError::UnknownKeyId { ref kid }) if kid == "kid-new"),
        "{err:?}"
    );
}

fn operator_with_refetch_at_once() -> Discovered {
    let mut policy = mc_core::Policy::default();
    policy.jwks_min_refetch_secs = 0;
    built_with_keys(si_config().policy(policy))
}

#[test]
fn si_notification_operator_error_is_refused_and_answered_204() {
    let login = si_login(SiRequest::new(msisdn_hint()));
    let body = json!({
        "auth_req_id": AUTH_REQ_ID,
        "error": "access_denied",
        "error_description": "The user declined",
        "correlation_id": "corr-1",
    });
    let (result, answer) = deliver(&login, &notification(Some(login.token()), &body), now());
    assert!(
        refused(&result, "access_denied", Endpoint::Notification),
        "{result:?}"
    );
    let error = result.unwrap_err();
    let error = error.operator_error().unwrap();
    assert_eq!(error.description.as_deref(), Some("The user declined"));
    assert_eq!(error.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(answer.status(), 204);
}

#[test]
fn si_notification_duplicate_is_idempotent() {
    let login = si_login(SiRequest::new(msisdn_hint()));
    let request = notification(
        Some(login.token()),
        &tokens_body(&signed(&si_claims(login.nonce()))),
    );
    let (first, first_answer) = deliver(&login, &request, now().plus(10));
    let (second, second_answer) = deliver(&login, &request, now().plus(11));
    assert_eq!(first_answer.status(), 204);
    assert_eq!(second_answer.status(), 204);
    assert_eq!(notified_tokens(first).sub(), notified_tokens(second).sub());
    // A refused one stays refused the same way.
    let wrong = notification(
        Some("not-the-token"),
        &tokens_body(&signed(&si_claims(login.nonce()))),
    );
    let (a, _) = deliver(&login, &wrong, now());
    let (b, _) = deliver(&login, &wrong, now());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

// ---------------------------------------------------------------------------------------------
// Notification refusals: one table, one check
// ---------------------------------------------------------------------------------------------

/// How a case changes the valid notification of a started SI login.
#[derive(Clone, Copy)]
enum Mutation {
    /// Another bearer token.
    Bearer(&'static str),
    /// No `Authorization` header.
    NoBearer,
    /// `Authorization` with another scheme.
    BasicScheme,
    /// A GET instead of a POST.
    Get,
    /// Delivered this many seconds after the start answer.
    Late(u64),
    /// The notification body edited.
    Body(fn(&mut Value)),
    /// The id_token's claims edited (then signed as valid).
    Claims(fn(&mut Value)),
    /// The id_token's signature broken.
    TamperedSignature,
    /// The login started in polling mode.
    PollingLogin,
}

fn si_notification_case(
    mutation: Mutation,
) -> (Result<Verified<Notified>, Error>, http::Response<Vec<u8>>) {
    let request = match mutation {
        Mutation::PollingLogin => SiRequest::new(msisdn_hint()).polling(),
        _ => SiRequest::new(msisdn_hint()),
    };
    let login = si_login(request);
    let token = login
        .claims
        .get("client_notification_token")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned();
    let mut claims = si_claims(login.nonce());
    if let Mutation::Claims(edit) = mutation {
        edit(&mut claims);
    }
    let mut jwt = signed(&claims);
    if let Mutation::TamperedSignature = mutation {
        let last = jwt.pop().unwrap();
        jwt.push(if last == 'A' { 'B' } else { 'A' });
    }
    let mut body = tokens_body(&jwt);
    if let Mutation::Body(edit) = mutation {
        edit(&mut body);
    }
    let bearer = match mutation {
        Mutation::Bearer(other) => Some(other.to_owned()),
        Mutation::NoBearer => None,
        _ => Some(token),
    };
    let mut request = notification(bearer.as_deref(), &body);
    match mutation {
        Mutation::BasicScheme => {
            request.headers_mut().insert(
                "authorization",
                http::HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("a:b"))).unwrap(),
            );
        }
        Mutation::Get => *request.method_mut() = http::Method::GET,
        _ => {}
    }
    let at = match mutation {
        Mutation::Late(secs) => now().plus(secs),
        _ => now().plus(5),
    };
    deliver(&login, &request, at)
}

/// One named test per refused notification: the mutation, the error, the SP's answer.
macro_rules! notification_refusals {
    ($($(#[$doc:meta])* $name:ident: $mutation:expr => $pattern:pat, $status:expr;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            let (result, answer) = si_notification_case($mutation);
            assert!(matches!(result, Err($pattern)), "{result:?}");
            assert_eq!(answer.status(), $status, "{result:?}");
            assert!(answer.body().is_empty());
        }
    )*};
}

notification_refusals! {
    /// The bearer token is compared with the login's `client_notification_token`.
    si_notification_wrong_bearer: Mutation::Bearer("Wm1VFlURXpNR1V0T0Rjek1TMDBOVFpqTFdGalpEZ3")
        => Error::Backchannel(BackchannelError::BearerMismatch), 401;
    si_notification_missing_bearer: Mutation::NoBearer
        => Error::Backchannel(BackchannelError::BearerMissing), 401;
    si_notification_basic_instead_of_bearer: Mutation::BasicScheme
        => Error::Backchannel(BackchannelError::BearerMissing), 401;
    si_notification_not_a_post: Mutation::Get
        => Error::Backchannel(BackchannelError::NotificationNotPost { .. }), 400;
    /// The notification names another login's `auth_req_id`.
    si_notification_unknown_auth_req_id: Mutation::Body(|b| b["auth_req_id"] = json!("another-login"))
        => Error::Backchannel(BackchannelError::AuthReqIdMismatch), 400;
    si_notification_without_auth_req_id: Mutation::Body(|b| { b.as_object_mut().unwrap().remove("auth_req_id"); })
        => Error::Protocol(ProtocolError::MissingField { endpoint: Endpoint::Notification, field: "auth_req_id" }), 400;
    si_notification_auth_req_id_not_a_string: Mutation::Body(|b| b["auth_req_id"] = json!(42))
        => Error::Protocol(ProtocolError::MalformedJson { endpoint: Endpoint::Notification, .. }), 400;
    si_notification_error_and_tokens: Mutation::Body(|b| b["error"] = json!("access_denied"))
        => Error::Protocol(ProtocolError::InvalidField { field: "error", .. }), 400;
    si_notification_without_tokens: Mutation::Body(|b| *b = json!({ "auth_req_id": AUTH_REQ_ID }))
        => Error::Protocol(ProtocolError::MissingField { endpoint: Endpoint::Notification, field: "access_token" }), 400;
    si_notification_not_bearer_token_type: Mutation::Body(|b| b["token_type"] = json!("mac"))
        => Error::Protocol(ProtocolError::TokenTypeNotBearer { .. }), 400;
    si_notification_without_id_token: Mutation::Body(|b| { b.as_object_mut().unwrap().remove("id_token"); })
        => Error::IdToken(IdTokenError::Missing), 400;
    /// After the operator's `expires_in`, a notification is refused.
    si_notification_after_expiry: Mutation::Late(EXPIRES_IN + 1)
        => Error::Backchannel(BackchannelError::Expired { .. }), 400;
    si_notification_at_expiry: Mutation::Late(EXPIRES_IN)
        => Error::Backchannel(BackchannelError::Expired { .. }), 400;
    /// `recipient` must be the notification URI the request object named.
    si_notification_recipient_mismatch: Mutation::Claims(|c| c["recipient"] = json!("https://attacker.example/notify"))
        => Error::IdToken(IdTokenError::RecipientMismatch { .. }), 400;
    si_notification_recipient_not_a_string: Mutation::Claims(|c| c["recipient"] = json!(["https://sp.example/notify"]))
        => Error::IdToken(IdTokenError::InvalidClaim { claim: "recipient", .. }), 400;
    /// `hashed_login_hint` must be the SHA-256 of `MSISDN:<digits>` sent.
    si_notification_hashed_login_hint_mismatch: Mutation::Claims(|c| c["hashed_login_hint"] = json!(hashed_login_hint("447700900302")))
        => Error::IdToken(IdTokenError::HashedLoginHintMismatch), 400;
    si_notification_tampered_id_token: Mutation::TamperedSignature
        => Error::IdToken(IdTokenError::BadSignature), 400;
    si_notification_nonce_mismatch: Mutation::Claims(|c| c["nonce"] = json!("another-login-nonce"))
        => Error::IdToken(IdTokenError::NonceMismatch), 400;
    si_notification_nonce_missing: Mutation::Claims(|c| { c.as_object_mut().unwrap().remove("nonce"); })
        => Error::IdToken(IdTokenError::NonceMissing), 400;
    si_notification_acr_missing: Mutation::Claims(|c| { c.as_object_mut().unwrap().remove("acr"); })
        => Error::IdToken(IdTokenError::AcrMissing), 400;
    si_notification_at_hash_mismatch: Mutation::Claims(|c| c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA"))
        => Error::IdToken(IdTokenError::AtHashMismatch), 400;
    si_notification_wrong_audience: Mutation::Claims(|c| { c["aud"] = json!(["another-client"]); c["azp"] = json!("another-client"); })
        => Error::IdToken(IdTokenError::AudienceMismatch { .. }), 400;
    si_notification_wrong_issuer: Mutation::Claims(|c| c["iss"] = json!("https://attacker.example"))
        => Error::IdToken(IdTokenError::IssuerMismatch { .. }), 400;
    si_notification_expired_id_token: Mutation::Claims(|c| c["exp"] = json!(NOW - 120))
        => Error::IdToken(IdTokenError::Expired { .. }), 400;
    /// A polling login takes no notification.
    si_notification_to_a_polling_login: Mutation::PollingLogin
        => Error::Backchannel(BackchannelError::NotificationNotExpected { mode: BackchannelMode::SiPolling }), 400;
}

#[test]
fn si_notification_without_recipient_or_hashed_login_hint_passes() {
    // Both claims are checked when present only.
    let login = si_login(SiRequest::new(msisdn_hint()));
    let claims = valid_claims(login.nonce());
    let request = notification(Some(login.token()), &tokens_body(&signed(&claims)));
    let (result, answer) = deliver(&login, &request, now());
    assert_eq!(answer.status(), 204);
    assert_eq!(notified_tokens(result).sub(), SUB);
}

#[test]
fn hashed_login_hint_upper_case_hex_matches() {
    let login = si_login(SiRequest::new(msisdn_hint()));
    let mut claims = si_claims(login.nonce());
    claims["hashed_login_hint"] = json!(hashed_login_hint(MSISDN).to_ascii_uppercase());
    let request = notification(Some(login.token()), &tokens_body(&signed(&claims)));
    assert_eq!(deliver(&login, &request, now()).1.status(), 204);
}

#[test]
fn hashed_login_hint_rule_is_pluggable() {
    // An operator that hashes the digits alone: the SP states the expected value.
    let digits_only = hashed_login_hint(MSISDN).replace('a', "b");
    let login = si_login(SiRequest::new(msisdn_hint()).hashed_login_hint(digits_only.clone()));
    let mut claims = si_claims(login.nonce());
    claims["hashed_login_hint"] = json!(digits_only);
    let request = notification(Some(login.token()), &tokens_body(&signed(&claims)));
    assert_eq!(deliver(&login, &request, now()).1.status(), 204);
    // For an encrypted MSISDN the hash is unknown and not checked.
    let hint = LoginHint::EncryptedMsisdn(mc_core::SubscriberId::new("e3a1f0"));
    let login = si_login(SiRequest::new(hint));
    let request = notification(
        Some(login.token()),
        &tokens_body(&signed(&si_claims(login.nonce()))),
    );
    assert_eq!(deliver(&login, &request, now()).1.status(), 204);
}

#[test]
fn ciba_ping_with_tokens_is_refused() {
    let op = ciba_operator(ClientAuth::SecretBasic);
    let (pending, form) = ciba_login(&op, CibaRequest::new(phone_hint()).ping());
    let token = param(&form, "client_notification_token").unwrap();
    let request = notification(Some(&token), &tokens_body(&signed(&ciba_claims())));
    let result = Notification::parse(&request).and_then(|n| pending.accept(&op, n, now()));
    assert!(
        matches!(
            result,
            Err(Error::Protocol(ProtocolError::InvalidField {
                endpoint: Endpoint::Notification,
                ..
            }))
        ),
        "{result:?}"
    );
    assert_eq!(notification_response(&result).status(), 400);
}

#[test]
fn ciba_poll_login_takes_no_notification() {
    let op = ciba_operator(ClientAuth::SecretBasic);
    let (pending, _) = ciba_login(&op, CibaRequest::new(phone_hint()));
    let request = notification(Some("anything"), &json!({ "auth_req_id": AUTH_REQ_ID }));
    let result = Notification::parse(&request).and_then(|n| pending.accept(&op, n, now()));
    assert!(
        matches!(
            result,
            Err(Error::Backchannel(
                BackchannelError::NotificationNotExpected {
                    mode: BackchannelMode::CibaPoll
                }
            ))
        ),
        "{result:?}"
    );
}

#[test]
fn notification_for_another_operator_is_misuse_answered_500() {
    let login = si_login(SiRequest::new(msisdn_hint()));
    let other = built_with_keys(operator_config_for(mc_core::Registration {
        operator_id: "other-operator".to_owned(),
        ..registration()
    }));
    let request = notification(
        Some(login.token()),
        &tokens_body(&signed(&si_claims(login.nonce()))),
    );
    let result = Notification::parse(&request).and_then(|n| login.pending.accept(&other, n, now()));
    assert!(
        matches!(
            result,
            Err(Error::Misuse(MisuseError::OperatorMismatch { .. }))
        ),
        "{result:?}"
    );
    assert_eq!(notification_response(&result).status(), 500);
}

#[test]
fn notification_answers_never_echo_the_request() {
    let unauthorized: Result<(), Error> = Err(BackchannelError::BearerMismatch.into());
    let answer = notification_response(&unauthorized);
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["www-authenticate"], "Bearer");
    assert_eq!(answer.headers()["cache-control"], "no-store");
    assert!(answer.body().is_empty());
    let unknown: Result<(), Error> = Err(BackchannelError::UnknownAuthReqId.into());
    assert_eq!(notification_response(&unknown).status(), 400);
    assert!(
        notification_response(&unknown)
            .headers()
            .get("www-authenticate")
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Poll answers and refusals
// ---------------------------------------------------------------------------------------------

/// A started CIBA poll-mode login (interval 2 s), polled at its next poll time with `answer`.
fn ciba_poll_with(
    answer: http::Response<Vec<u8>>,
) -> (BackchannelPending, Result<Verified<Poll>, Error>) {
    let op = ciba_operator(ClientAuth::SecretBasic);
    let (pending, _) = ciba_login(&op, CibaRequest::new(phone_hint()));
    let at = pending.next_poll_at();
    let result = poll_answered(&op, &pending, at, answer);
    (pending, result)
}

#[test]
fn ciba_poll_authorization_pending_waits_the_interval() {
    let (before, result) = ciba_poll_with(oauth_error(400, "authorization_pending"));
    let after = poll_pending(result);
    assert_eq!(after.interval_secs(), before.interval_secs());
    assert_eq!(after.next_poll_at(), before.next_poll_at().plus(3));
    assert_eq!(after.auth_req_id(), before.auth_req_id());
}

#[test]
fn ciba_poll_slow_down_adds_five_seconds() {
    let (before, result) = ciba_poll_with(oauth_error(400, "slow_down"));
    let after = poll_pending(result);
    assert_eq!(after.interval_secs(), before.interval_secs() + 5);
    assert_eq!(after.next_poll_at(), before.next_poll_at().plus(8));
    // The slower pace holds for the following answers.
    let op = ciba_operator(ClientAuth::SecretBasic);
    let at = after.next_poll_at();
    let again = poll_pending(
        after
            .poll(&op, &mut entropy(), at)
            .unwrap()
            .respond(oauth_error(400, "authorization_pending"), at),
    );
    assert_eq!(again.next_poll_at(), at.plus(8));
}

/// One named test per refused poll: the operator's answer and the error.
macro_rules! poll_refusals {
    ($($(#[$doc:meta])* $name:ident: $answer:expr => $code:literal;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            let (_, result) = ciba_poll_with($answer);
            assert!(refused(&result, $code, Endpoint::Token), "{result:?}");
            assert_eq!(result.unwrap_err().class(), mc_core::ErrorClass::Refused);
        }
    )*};
}

poll_refusals! {
    ciba_poll_expired_token: oauth_error(400, "expired_token") => "expired_token";
    ciba_poll_access_denied: oauth_error(403, "access_denied") => "access_denied";
    ciba_poll_invalid_grant: oauth_error(400, "invalid_grant") => "invalid_grant";
    ciba_poll_transaction_failed: oauth_error(400, "transaction_failed") => "transaction_failed";
    ciba_poll_invalid_client: oauth_error(401, "invalid_client") => "invalid_client";
    /// Served with 200 by a sloppy gateway: still the operator's error.
    ciba_poll_pending_error_at_200_is_read: oauth_error(200, "access_denied") => "access_denied";
}

#[test]
fn ciba_poll_unexpected_status_is_a_protocol_error() {
    let (_, result) = ciba_poll_with(raw_response(502, "text/html", b"<html>bad gateway</html>"));
    assert!(
        matches!(
            result,
            Err(Error::Protocol(ProtocolError::UnexpectedStatus {
                status: 502,
                ..
            }))
        ),
        "{result:?}"
    );
}

#[test]
fn ciba_poll_after_expiry_sends_nothing() {
    let op = ciba_operator(ClientAuth::SecretBasic);
    let (pending, _) = ciba_login(&op, CibaRequest::new(phone_hint()));
    let expired = pending.expires_at();
    assert!(pending.is_expired(expired));
    let err = pending.poll(&op, &mut entropy(), expired).unwrap_err();
    assert!(
        matches!(err, Error::Backchannel(BackchannelError::Expired { expires_at, now }) if expires_at == expired.as_secs() && now == expired.as_secs()),
        "{err:?}"
    );
    assert_eq!(err.class(), mc_core::ErrorClass::Refused);
    // One second earlier the poll is still made.
    assert!(pending.poll(&op, &mut entropy(), expired.minus(1)).is_ok());
}

#[test]
fn ciba_poll_too_early_is_refused() {
    let op = ciba_operator(ClientAuth::SecretBasic);
    let (pending, _) = ciba_login(&op, CibaRequest::new(phone_hint()));
    let err = pending
        .poll(&op, &mut entropy(), now().plus(1))
        .unwrap_err();
    assert!(
        matches!(err, Error::Misuse(MisuseError::PollTooEarly { next_poll_at, .. }) if next_poll_at == NOW + 3),
        "{err:?}"
    );
}

#[test]
fn si_notification_login_cannot_poll() {
    let login = si_login(SiRequest::new(msisdn_hint()));
    let err = login
        .pending
        .poll(&login.op, &mut entropy(), now().plus(60))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Misuse(MisuseError::WrongMode {
                mode: BackchannelMode::SiNotification,
                step: "poll"
            })
        ),
        "{err:?}"
    );
}

#[test]
fn si_polling_id_token_recipient_is_not_checked() {
    // `recipient` names the notification URI only in notification mode.
    let login = si_login(SiRequest::new(msisdn_hint()).polling());
    let mut claims = valid_claims(login.nonce());
    claims["recipient"] = json!("https://elsewhere.example/notify");
    let at = login.pending.next_poll_at();
    let response = token_response(&signed(&claims));
    assert_eq!(
        poll_tokens(poll_answered(&login.op, &login.pending, at, response)).sub(),
        SUB
    );
}

#[test]
fn si_polling_hashed_login_hint_mismatch() {
    let login = si_login(SiRequest::new(msisdn_hint()).polling());
    let mut claims = valid_claims(login.nonce());
    claims["hashed_login_hint"] = json!(hashed_login_hint("447700900302"));
    let at = login.pending.next_poll_at();
    let result = poll_answered(
        &login.op,
        &login.pending,
        at,
        token_response(&signed(&claims)),
    );
    assert!(
        matches!(
            result,
            Err(Error::IdToken(IdTokenError::HashedLoginHintMismatch))
        ),
        "{result:?}"
    );
}

#[test]
fn si_polling_nonce_mismatch() {
    let login = si_login(SiRequest::new(msisdn_hint()).polling());
    let at = login.pending.next_poll_at();
    let response = token_response(&signed(&valid_claims("another-nonce")));
    let result = poll_answered(&login.op, &login.pending, at, response);
    assert!(
        matches!(result, Err(Error::IdToken(IdTokenError::NonceMismatch))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Start: refusals and misuse
// ---------------------------------------------------------------------------------------------

fn si_start_with(answer: http::Response<Vec<u8>>) -> Result<BackchannelPending, Error> {
    let start = si_operator()
        .si_authorize(SiRequest::new(msisdn_hint()), &mut entropy(), now())
        .unwrap();
    assert_eq!(start.endpoint(), Endpoint::SiAuthorization);
    assert_eq!(start.operator_id(), Some("test-operator"));
    start.respond(answer, now())
}

/// One named test per refused start: the operator's answer, and the error it must give.
macro_rules! start_refusals {
    ($($(#[$doc:meta])* $name:ident: $answer:expr => { $($verdict:tt)* })*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            let result = si_start_with($answer);
            assert!(matches!(&result, $($verdict)*), "{result:?}");
        }
    )*};
}

start_refusals! {
    si_start_invalid_request: oauth_error(400, "invalid_request")
        => { Err(Error::Refused(e)) if e.is("invalid_request") && e.endpoint == Endpoint::SiAuthorization }
    /// A bad request-object signature or an unregistered notification URI.
    si_start_unauthorized_client: oauth_error(401, "unauthorized_client")
        => { Err(Error::Refused(e)) if e.is("unauthorized_client") && e.status == Some(401) }
    si_start_access_denied: oauth_error(403, "access_denied") => { Err(Error::Refused(e)) if e.is("access_denied") }
    si_start_invalid_scope: oauth_error(400, "invalid_scope") => { Err(Error::Refused(e)) if e.is("invalid_scope") }
    si_start_error_at_200: oauth_error(200, "unauthorized_client") => { Err(Error::Refused(e)) if e.is("unauthorized_client") }
    si_start_without_auth_req_id: json_response(200, &json!({ "expires_in": 120 }))
        => { Err(Error::Protocol(ProtocolError::MissingField { field: "auth_req_id", .. })) }
    si_start_empty_auth_req_id: json_response(200, &json!({ "auth_req_id": "", "expires_in": 120 }))
        => { Err(Error::Protocol(ProtocolError::MissingField { field: "auth_req_id", .. })) }
    si_start_auth_req_id_too_long: json_response(200, &json!({ "auth_req_id": "x".repeat(513), "expires_in": 120 }))
        => { Err(Error::Protocol(ProtocolError::InvalidField { field: "auth_req_id", reason: "too long", .. })) }
    si_start_without_expires_in: json_response(200, &json!({ "auth_req_id": AUTH_REQ_ID }))
        => { Err(Error::Protocol(ProtocolError::MissingField { field: "expires_in", .. })) }
    si_start_zero_expires_in: json_response(200, &json!({ "auth_req_id": AUTH_REQ_ID, "expires_in": 0 }))
        => { Err(Error::Protocol(ProtocolError::InvalidField { field: "expires_in", .. })) }
    si_start_unreadable_expires_in: json_response(200, &json!({ "auth_req_id": AUTH_REQ_ID, "expires_in": "soon" }))
        => { Err(Error::Protocol(ProtocolError::InvalidField { field: "expires_in", reason: "not a number", .. })) }
    si_start_negative_interval: json_response(200, &json!({ "auth_req_id": AUTH_REQ_ID, "expires_in": 120, "interval": -5 }))
        => { Err(Error::Protocol(ProtocolError::InvalidField { field: "interval", .. })) }
    si_start_not_json: raw_response(200, "text/html", b"<html>ok</html>")
        => { Err(Error::Protocol(ProtocolError::MalformedJson { endpoint: Endpoint::SiAuthorization, .. })) }
    si_start_server_error: raw_response(500, "text/plain", b"oops")
        => { Err(Error::Protocol(ProtocolError::UnexpectedStatus { status: 500, .. })) }
}

#[test]
fn si_start_answer_reads_sloppy_numbers_and_the_correlation_id() {
    let pending = si_start_with(json_response(
        200,
        &json!({ "auth_req_id": AUTH_REQ_ID, "expires_in": "120", "interval": 0, "correlation_id": "op-corr" }),
    ))
    .unwrap();
    assert_eq!(pending.expires_at(), now().plus(120));
    // `interval: 0` is polled once a second.
    assert_eq!(pending.interval_secs(), 1);
    assert_eq!(pending.correlation_id(), Some("op-corr"));
}

fn misuse_of(config: OperatorConfig, request: SiRequest) -> Error {
    config
        .build()
        .unwrap()
        .si_authorize(request, &mut entropy(), now())
        .unwrap_err()
}

/// The test operator's metadata (issuer, authorization, token and JWKS) with `extra` members.
fn metadata_with(extra: Value) -> mc_core::ProviderMetadata {
    let mut document = json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://op.example/authorize",
        "token_endpoint": "https://op.example/token",
        "jwks_uri": "https://op.example/jwks",
    });
    for (name, value) in extra.as_object().unwrap() {
        document[name] = value.clone();
    }
    mc_core::ProviderMetadata::parse(document.to_string().as_bytes()).unwrap()
}

/// The test operator's entry with the SI endpoint and the SP's key, but without a notification
/// URI or an application name.
fn bare_si_config() -> OperatorConfig {
    let metadata = metadata_with(json!({
        "si_authorization_endpoint": SI_ENDPOINT,
    }));
    OperatorConfig::new(registration())
        .unwrap()
        .with_metadata(metadata)
        .unwrap()
        .signing_key(sp_key())
}

/// One named test per start the host cannot make: the context, the request, the error.
macro_rules! start_misuse {
    ($($(#[$doc:meta])* $name:ident: $config:expr, $request:expr => { $($verdict:tt)* })*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            let err = misuse_of($config, $request);
            assert!(matches!(&err, $($verdict)*), "{err:?}");
            assert_eq!(err.class(), mc_core::ErrorClass::Misuse);
        }
    )*};
}

start_misuse! {
    si_start_without_signing_key:
        operator_config().si_authorization(SI_ENDPOINT).unwrap().notification_uri(NOTIFICATION_URI).unwrap(),
        SiRequest::new(msisdn_hint())
        => { Error::Misuse(MisuseError::IncompleteOperator { missing: MissingSetting::SigningKey, .. }) }
    /// Notification mode names the SP's notification URI (polling needs none).
    si_start_without_notification_uri: bare_si_config(), SiRequest::new(msisdn_hint())
        => { Error::Misuse(MisuseError::IncompleteOperator { missing: MissingSetting::NotificationUri, .. }) }
    si_start_without_endpoint: operator_config().signing_key(sp_key()), SiRequest::new(msisdn_hint())
        => { Error::Misuse(MisuseError::MissingEndpoint { endpoint: "si_authorization_endpoint" }) }
    si_start_mc_authz_needs_client_name:
        bare_si_config().notification_uri(NOTIFICATION_URI).unwrap(),
        SiRequest::new(msisdn_hint()).scope(["mc_authz"]).context("Pay 10 EUR to Test Shop")
        => { Error::Misuse(MisuseError::AuthzFieldMissing { field: "client_name" }) }
    si_start_without_levels_is_refused_for_mobile_connect: si_config(), SiRequest::new(msisdn_hint()).acr_values([])
        => { Error::Misuse(MisuseError::InvalidParameter { name: "acr_values", .. }) }
}

#[test]
fn si_start_what_the_mode_and_the_context_supply() {
    // Polling needs no notification URI.
    let op = bare_si_config().build().unwrap();
    let polling = SiRequest::new(msisdn_hint()).polling();
    assert!(op.si_authorize(polling, &mut entropy(), now()).is_ok());
    // mc_authz takes the context's application name.
    let authz = SiRequest::new(msisdn_hint())
        .scope(["mc_authz"])
        .context("Pay 10 EUR to Test Shop");
    let start = si_operator()
        .si_authorize(authz, &mut entropy(), now())
        .unwrap();
    assert_eq!(request_object(&start.request())["client_name"], "Test Shop");
}

#[test]
fn ciba_start_without_endpoint() {
    let op = built_with_keys(operator_config());
    let err = op
        .ciba_authorize(CibaRequest::new(phone_hint()), &mut entropy(), now())
        .unwrap_err();
    let missing = MisuseError::MissingEndpoint {
        endpoint: "backchannel_authentication_endpoint",
    };
    assert_eq!(format!("{err:?}"), format!("{:?}", Error::from(missing)));
}

#[test]
fn ciba_ping_refused_when_metadata_lists_only_poll() {
    let metadata = metadata_with(json!({
        "backchannel_authentication_endpoint": BC_ENDPOINT,
        "backchannel_token_delivery_modes_supported": ["poll"],
    }));
    let op = built_with_keys(operator_config().with_metadata(metadata).unwrap());
    assert_eq!(
        op.endpoints()
            .backchannel_authentication
            .as_ref()
            .unwrap()
            .as_str(),
        BC_ENDPOINT
    );
    let err = op
        .ciba_authorize(CibaRequest::new(phone_hint()).ping(), &mut entropy(), now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Misuse(MisuseError::InvalidParameter {
                name: "token delivery mode",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        op.ciba_authorize(CibaRequest::new(phone_hint()), &mut entropy(), now())
            .is_ok()
    );
}

#[test]
fn si_endpoints_and_version_from_metadata() {
    let metadata = metadata_with(json!({
        "si_authorization_endpoint": "https://op.example/si-authorize-from-metadata",
        "mc_version": ["mc_v1.1", "mc_si_r2_v1.0", "mc_si_r2.0"],
    }));
    let op = built_with_keys(
        operator_config()
            .with_metadata(metadata)
            .unwrap()
            .signing_key(sp_key())
            .notification_uri(NOTIFICATION_URI)
            .unwrap(),
    );
    let start = op
        .si_authorize(SiRequest::new(msisdn_hint()), &mut entropy(), now())
        .unwrap();
    let request = start.request();
    assert_eq!(request.uri().path(), "/si-authorize-from-metadata");
    assert_eq!(request_object(&request)["version"], "mc_si_r2_v1.0");
}

#[test]
fn plain_http_notification_uri_is_refused() {
    let err = si_config()
        .notification_uri("http://sp.example/notify")
        .unwrap()
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Misuse(MisuseError::PlainHttp {
                what: "notification_uri",
                ..
            })
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The request object and the SP's keys
// ---------------------------------------------------------------------------------------------

#[test]
fn request_object_claims_follow_the_profile() {
    let op = si_operator();
    let start = op
        .si_authorize(
            SiRequest::new(msisdn_hint()).polling(),
            &mut entropy(),
            now(),
        )
        .unwrap();
    let request = start.request();
    let outer = query_pairs(&request);
    let (header, claims) = decode_jws(&request_param(&request));
    assert_eq!(
        header,
        json!({ "alg": "RS256", "kid": SP_KID, "typ": "JWT" })
    );
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["aud"], ISSUER);
    // The inner client_id, scope and response_type equal the outer ones.
    for name in ["client_id", "scope", "response_type"] {
        assert_eq!(
            claims[name].as_str(),
            param(&outer, name).as_deref(),
            "{name}"
        );
    }
    assert_eq!(claims["response_type"], "mc_si_polling");
    assert_eq!(claims["acr_values"], "2");
    assert_eq!(claims["login_hint"], format!("MSISDN:{MSISDN}"));
    assert_eq!(claims["exp"], NOW + 300);
    // Polling: nothing to notify.
    assert!(claims.get("notification_uri").is_none());
    assert!(claims.get("client_notification_token").is_none());
    assert_ne!(claims["jti"], claims["nonce"]);
}

#[test]
fn sp_public_jwks_matches_the_private_keys() {
    let rsa = sp_key();
    let ec = SpSigningKey::from_pem(Algorithm::ES256, EC_P256.as_bytes(), "sp-ec").unwrap();
    let document = SpSigningKey::jwks([&rsa, &ec]).unwrap();
    let keys = document["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let expected_rsa = TestKey::RsaB.jwk(Some(SP_KID), Some("RS256"));
    let expected_ec = TestKey::EcP256.jwk(Some("sp-ec"), Some("ES256"));
    assert_eq!(keys[0], expected_rsa);
    assert_eq!(keys[1], expected_ec);
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{private}");
        }
    }
    // The document parses as a key set and verifies what the key signs.
    assert_eq!(
        mc_core::Jwks::parse(document.to_string().as_bytes())
            .unwrap()
            .keys()
            .len(),
        2
    );
    // A kid may not name two keys.
    let twin = SpSigningKey::from_pem(Algorithm::RS256, RSA_A.as_bytes(), SP_KID).unwrap();
    assert!(SpSigningKey::jwks([&rsa, &twin]).is_err());
}

#[test]
fn sp_signing_key_debug_is_redacted() {
    let debug = format!("{:?}", sp_key());
    assert!(debug.contains(SP_KID));
    assert!(!debug.contains("BEGIN") && !debug.contains("MII"));
}

#[test]
fn weak_sp_key_is_refused_at_startup() {
    let weak = SpSigningKey::from_pem(Algorithm::RS256, RSA_1024.as_bytes(), "weak");
    // aws-lc-rs refuses to sign with RSA under 2048 bits; the pure-Rust backend signs.
    if cfg!(feature = "aws-lc-rs") {
        assert!(weak.is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// The pending state
// ---------------------------------------------------------------------------------------------

#[test]
fn pending_state_json_is_small() {
    // A typical SI login: MSISDN hint, notification mode, a UUID auth_req_id, LoA 2.
    let login = si_login(
        SiRequest::new(msisdn_hint()).correlation_id("3e0b7d0a-5c56-4d24-a0a5-7d2c0d1e4f10"),
    );
    let json = serde_json::to_string(&login.pending).unwrap();
    eprintln!("pending SI state: {} bytes: {json}", json.len());
    assert!(json.len() <= 512, "{} bytes: {json}", json.len());
    let (ciba, _) = ciba_login(
        &ciba_operator(ClientAuth::SecretBasic),
        CibaRequest::new(phone_hint()).ping(),
    );
    let json = serde_json::to_string(&ciba).unwrap();
    eprintln!("pending CIBA ping state: {} bytes: {json}", json.len());
    assert!(json.len() <= 512, "{} bytes: {json}", json.len());
    // Without a correlation id and in polling mode (no notification token): smaller still.
    let polling = si_login(SiRequest::new(msisdn_hint()).polling());
    let json = serde_json::to_string(&polling.pending).unwrap();
    eprintln!("pending SI polling state: {} bytes: {json}", json.len());
    assert!(json.len() <= 512, "{} bytes: {json}", json.len());
}

#[test]
fn pending_state_round_trips_and_holds_no_operator_secret() {
    let login = si_login(SiRequest::new(msisdn_hint()));
    let json = serde_json::to_string(&login.pending).unwrap();
    assert!(!json.contains(CLIENT_SECRET));
    assert!(!json.contains("BEGIN"));
    let back: BackchannelPending = serde_json::from_str(&json).unwrap();
    assert_eq!(back, login.pending);
    // The restored state accepts the notification as the original would.
    let request = notification(
        Some(login.token()),
        &tokens_body(&signed(&si_claims(login.nonce()))),
    );
    let result = Notification::parse(&request).and_then(|n| back.accept(&login.op, n, now()));
    assert_eq!(notified_tokens(result).sub(), SUB);
}

#[test]
fn debug_prints_no_secret() {
    let login = si_login(SiRequest::new(msisdn_hint()));
    let start = login
        .op
        .si_authorize(SiRequest::new(msisdn_hint()), &mut entropy(), now())
        .unwrap();
    let secrets = [
        login.token().to_owned(),
        login.nonce().to_owned(),
        hashed_login_hint(MSISDN),
        MSISDN.to_owned(),
        request_param(&start.request()),
        CLIENT_SECRET.to_owned(),
    ];
    let jwt = signed(&si_claims(login.nonce()));
    let notification =
        Notification::parse(&notification(Some(login.token()), &tokens_body(&jwt))).unwrap();
    let printed = [
        format!("{:?}", login.pending),
        format!("{start:?}"),
        format!("{notification:?}"),
        format!(
            "{:?}",
            SiRequest::new(msisdn_hint()).hashed_login_hint("abc")
        ),
        format!("{:?}", CibaRequest::new(phone_hint())),
        format!("{:?}", CibaLoginHint::Plain(MSISDN.to_owned())),
        format!("{:?}", login.op),
        format!(
            "{:?}",
            login
                .pending
                .poll(&login.op, &mut entropy(), now())
                .map(|_| ())
                .unwrap_err()
        ),
    ];
    for text in &printed {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{text} leaks a secret");
        }
        assert!(
            !text.contains(ACCESS_TOKEN) && !text.contains(&jwt),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots of every request emitted
// ---------------------------------------------------------------------------------------------

/// The request's [`transcript`], then the decoded query or form, one parameter per line.
fn transcript_decoded(request: &http::Request<Vec<u8>>) -> String {
    let mut out = transcript(request);
    let is_form = request
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/x-www-form-urlencoded");
    let decoded = if is_form {
        form_of(request)
    } else {
        query_pairs(request)
    };
    if !decoded.is_empty() {
        out.push_str("\n\ndecoded:\n");
        for (name, value) in decoded {
            writeln!(out, "{name}={value}").unwrap();
        }
    }
    out
}

fn query_pairs(request: &http::Request<Vec<u8>>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The decoded header and claims of the request object, pretty-printed.
fn request_object_snapshot(request: &http::Request<Vec<u8>>) -> String {
    let (header, claims) = decode_jws(&request_param(request));
    format!(
        "header: {}\nclaims: {}",
        serde_json::to_string_pretty(&header).unwrap(),
        serde_json::to_string_pretty(&claims).unwrap()
    )
}

fn si_start_request(transport: SiTransport) -> http::Request<Vec<u8>> {
    let op = built_with_keys(si_config().si_transport(transport));
    op.si_authorize(SiRequest::new(msisdn_hint()), &mut entropy(), now())
        .unwrap()
        .request()
}

#[test]
fn snapshot_si_start_transports() {
    let transports = [
        ("si_start_post_query", SiTransport::PostQuery),
        ("si_start_get_query", SiTransport::GetQuery),
        ("si_start_post_form", SiTransport::PostForm),
        ("si_start_post_json", SiTransport::PostJson),
    ];
    for (name, transport) in transports {
        insta::assert_snapshot!(name, transcript_decoded(&si_start_request(transport)));
    }
    // The default is the GSMA example's.
    assert_eq!(si_operator().si_transport(), SiTransport::PostQuery);
    // Every transport carries the same request object.
    let objects: Vec<String> = transports
        .into_iter()
        .map(|(_, t)| request_param(&si_start_request(t)))
        .collect();
    assert!(objects.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn snapshot_request_object_claims() {
    let op = si_operator();
    let request = |r: SiRequest| op.si_authorize(r, &mut entropy(), now()).unwrap().request();
    insta::assert_snapshot!(
        "request_object_notification",
        request_object_snapshot(&request(SiRequest::new(msisdn_hint())))
    );
    insta::assert_snapshot!(
        "request_object_polling",
        request_object_snapshot(&request(SiRequest::new(msisdn_hint()).polling()))
    );
    let authz = SiRequest::new(LoginHint::Pcr(SUB.to_owned()))
        .scope(["mc_authz", "mc_identity_phonenumber"])
        .acr_values([3])
        .context("Pay 10 EUR to Test Shop")
        .binding_message("4G7K")
        .correlation_id("corr-1")
        .version("mc_si_v2.0")
        .claims(json!({ "premiuminfo": { "address": { "value": "123 Fake Street" } } }));
    insta::assert_snapshot!(
        "request_object_mc_authz",
        request_object_snapshot(&request(authz))
    );
    // The same inputs give the same bytes.
    assert_eq!(
        request(SiRequest::new(msisdn_hint())).body(),
        request(SiRequest::new(msisdn_hint())).body()
    );
    assert_eq!(
        request(SiRequest::new(msisdn_hint())).uri(),
        request(SiRequest::new(msisdn_hint())).uri()
    );
}

fn ciba_start_request(auth: ClientAuth, request: CibaRequest) -> http::Request<Vec<u8>> {
    ciba_operator(auth)
        .ciba_authorize(request, &mut entropy(), now())
        .unwrap()
        .request()
}

#[test]
fn snapshot_ciba_start_client_authentication() {
    let full = || {
        CibaRequest::new(phone_hint())
            .scope(["offline_access"])
            .binding_message("4G7K")
            .acr_values([2])
            .requested_expiry(120)
    };
    insta::assert_snapshot!(
        "ciba_start_client_secret_basic",
        transcript_decoded(&ciba_start_request(ClientAuth::SecretBasic, full()))
    );
    insta::assert_snapshot!(
        "ciba_start_client_secret_post",
        transcript_decoded(&ciba_start_request(ClientAuth::SecretPost, full()))
    );
    let request = ciba_start_request(ClientAuth::PrivateKeyJwt, full());
    insta::assert_snapshot!("ciba_start_private_key_jwt", transcript_decoded(&request));
    insta::assert_snapshot!(
        "ciba_start_ping",
        transcript_decoded(&ciba_start_request(
            ClientAuth::SecretBasic,
            CibaRequest::new(CibaLoginHint::Plain("ipport:198.51.100.7:443".to_owned())).ping()
        ))
    );
    // The assertion: for the issuer, at most 300 s, signed by the SP's key.
    let assertion = param(&form_of(&request), "client_assertion").unwrap();
    verify_with_sp_jwk(&assertion);
    let (header, claims) = decode_jws(&assertion);
    assert_eq!(header["kid"], SP_KID);
    assert_eq!(claims["aud"], ISSUER);
    assert!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap() <= 300);
}

#[test]
fn snapshot_poll_requests() {
    let login = si_login(SiRequest::new(msisdn_hint()).polling());
    let at = login.pending.next_poll_at();
    insta::assert_snapshot!(
        "poll_si_polling_basic",
        transcript_decoded(
            &login
                .pending
                .poll(&login.op, &mut entropy(), at)
                .unwrap()
                .request()
        )
    );
    let op = ciba_operator(ClientAuth::PrivateKeyJwt);
    let (pending, _) = ciba_login(&op, CibaRequest::new(phone_hint()));
    let at = pending.next_poll_at();
    let request = pending.poll(&op, &mut entropy(), at).unwrap().request();
    insta::assert_snapshot!("poll_ciba_private_key_jwt", transcript_decoded(&request));
    let assertion = param(&form_of(&request), "client_assertion").unwrap();
    assert_eq!(decode_jws(&assertion).1["aud"], "https://op.example/token");
    // Two polls of one state in one second (ping mode allows it) carry distinct assertions:
    // the jti draws on the poll's entropy (RFC 7523 3: an assertion is used once).
    let (pinged, _) = ciba_login(&op, CibaRequest::new(phone_hint()).ping());
    let mut rng = entropy();
    let jti = |request: &http::Request<Vec<u8>>| {
        let assertion = param(&form_of(request), "client_assertion").unwrap();
        decode_jws(&assertion).1["jti"].clone()
    };
    let first = pinged.poll(&op, &mut rng, now()).unwrap().request();
    let second = pinged.poll(&op, &mut rng, now()).unwrap().request();
    assert_ne!(jti(&first), jti(&second));
    // Another polling grant type, per operator.
    let other = built_with_keys(
        si_config().polling_grant_type("urn:openid:params:mc:grant_type:server_initiated"),
    );
    let login = si_login_at(&other, SiRequest::new(msisdn_hint()).polling());
    let at = login.pending.next_poll_at();
    let form = form_of(
        &login
            .pending
            .poll(&login.op, &mut entropy(), at)
            .unwrap()
            .request(),
    );
    assert_eq!(
        param(&form, "grant_type").as_deref(),
        Some("urn:openid:params:mc:grant_type:server_initiated")
    );
}

// ---------------------------------------------------------------------------------------------
// Properties of the new parsers
// ---------------------------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// One notification-mode login for every case (its request object is signed once).
    fn shared_si_login() -> &'static SiLogin {
        static LOGIN: std::sync::OnceLock<SiLogin> = std::sync::OnceLock::new();
        LOGIN.get_or_init(|| si_login(SiRequest::new(msisdn_hint())))
    }

    fn shared_ciba_operator() -> &'static Discovered {
        static OPERATOR: std::sync::OnceLock<Discovered> = std::sync::OnceLock::new();
        OPERATOR.get_or_init(|| ciba_operator(ClientAuth::SecretBasic))
    }

    /// Member names and values the new parsers give meaning to.
    const KEYS: &[&str] = &[
        "auth_req_id",
        "expires_in",
        "interval",
        "correlation_id",
        "error",
        "error_description",
        "description",
        "access_token",
        "token_type",
        "id_token",
        "refresh_token",
        "scope",
    ];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
            ".{0,16}".prop_map(Value::String),
            prop::sample::select(vec![
                "Bearer",
                "authorization_pending",
                "slow_down",
                "120",
                "1e3",
                AUTH_REQ_ID
            ])
            .prop_map(|s| Value::String(s.to_owned())),
        ]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(str::to_owned),
                        "[a-z_]{1,8}"
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            "[ -~]{0,120}".prop_map(String::into_bytes),
            arb_json().prop_map(|v| v.to_string().into_bytes()),
        ]
    }

    fn status() -> impl Strategy<Value = u16> {
        prop_oneof![Just(200u16), Just(400), Just(401), Just(403), 100u16..600]
    }

    /// Every error from these parsers is one of the typed kinds, never a panic.
    fn typed(error: &Error) -> bool {
        matches!(
            error,
            Error::Refused(_) | Error::Protocol(_) | Error::IdToken(_) | Error::Backchannel(_)
        )
    }

    proptest! {
        #![proptest_config(cases(256))]

        #[test]
        fn notification_parse_never_panics(
            body in arb_body(),
            method in prop::sample::select(vec!["POST", "GET", "PUT"]),
            authorization in proptest::option::of(prop_oneof![
                Just("Bearer the-token".to_owned()),
                Just("bearer  the-token ".to_owned()),
                Just("Bearer".to_owned()),
                Just("Bearer a b".to_owned()),
                "[ -~]{0,40}",
            ]),
        ) {
            let mut request = http::Request::new(body);
            *request.method_mut() = method.parse().unwrap();
            if let Some(value) = authorization.and_then(|a| http::HeaderValue::from_str(&a).ok()) {
                request.headers_mut().insert("authorization", value);
            }
            match Notification::parse(&request) {
                Ok(n) => prop_assert!(!n.auth_req_id().is_empty() && n.auth_req_id().len() <= 512),
                Err(e) => prop_assert!(typed(&e), "{e:?}"),
            }
        }

        #[test]
        fn notification_accept_never_panics(body in arb_json()) {
            let login = shared_si_login();
            let request = notification(Some(login.token()), &body);
            if let Err(e) = Notification::parse(&request).and_then(|n| login.pending.accept(&login.op, n, now())) {
                prop_assert!(typed(&e), "{e:?}");
                let status = notification_response(&Err::<(), _>(e)).status();
                prop_assert!(status == 204 || status == 400, "{status}");
            }
        }

        #[test]
        fn start_answer_never_panics(status in status(), body in arb_body()) {
            // The answer of either start goes through one parser: the CIBA start, unsigned,
            // keeps the cases cheap.
            let op = shared_ciba_operator();
            let start = op.ciba_authorize(CibaRequest::new(phone_hint()), &mut entropy(), now()).unwrap();
            match start.respond(raw_response(status, "application/json", &body), now()) {
                Ok(pending) => {
                    prop_assert!(pending.expires_at() > now());
                    prop_assert!(pending.interval_secs() >= 1);
                    prop_assert!(!pending.auth_req_id().is_empty());
                }
                Err(e) => prop_assert!(typed(&e), "{e:?}"),
            }
        }

        #[test]
        fn start_answer_round_trip(
            auth_req_id in "[!-~]{1,64}",
            expires_in in 1u64..100_000,
            interval in proptest::option::of(1u64..600),
            style in 0u8..3,
            correlation_id in proptest::option::of("[a-z0-9-]{1,20}"),
        ) {
            let number = |n: u64| match style {
                0 => json!(n),
                1 => json!(n.to_string()),
                _ => json!(n as f64 + 0.25),
            };
            let mut body = json!({ "auth_req_id": auth_req_id, "expires_in": number(expires_in) });
            if let Some(interval) = interval {
                body["interval"] = number(interval);
            }
            if let Some(id) = &correlation_id {
                body["correlation_id"] = json!(id);
            }
            let op = shared_ciba_operator();
            let start = op.ciba_authorize(CibaRequest::new(phone_hint()), &mut entropy(), now()).unwrap();
            let pending = start.respond(json_response(200, &body), now()).unwrap();
            prop_assert_eq!(pending.auth_req_id(), auth_req_id.as_str());
            prop_assert_eq!(pending.expires_at(), now().plus(expires_in));
            prop_assert_eq!(pending.interval_secs(), interval.unwrap_or(5));
            prop_assert_eq!(pending.next_poll_at(), now().plus(interval.unwrap_or(5) + 1));
            prop_assert_eq!(pending.correlation_id(), correlation_id.as_deref());
            let json = serde_json::to_string(&pending).unwrap();
            prop_assert_eq!(serde_json::from_str::<BackchannelPending>(&json).unwrap(), pending);
        }

        #[test]
        fn poll_answer_never_panics(status in status(), body in arb_body()) {
            let op = shared_ciba_operator();
            let (pending, _) = ciba_login(op, CibaRequest::new(phone_hint()));
            let at = pending.next_poll_at();
            match poll_answered(op, &pending, at, raw_response(status, "application/json", &body)) {
                Ok(Verified::Done(Poll::Pending(next))) => prop_assert!(next.next_poll_at() > at),
                Ok(other) => prop_assert!(false, "tokens from junk: {other:?}"),
                Err(e) => prop_assert!(typed(&e), "{e:?}"),
            }
        }

        #[test]
        fn poll_error_codes_are_read(
            code in prop_oneof![
                prop::sample::select(vec!["authorization_pending", "slow_down", "expired_token", "access_denied", "invalid_grant", "transaction_failed"]).prop_map(str::to_owned),
                "[a-z_]{1,20}",
            ],
            status in prop::sample::select(vec![400u16, 401, 403]),
            interval in 1u64..60,
        ) {
            let op = shared_ciba_operator();
            let start = op.ciba_authorize(CibaRequest::new(phone_hint()), &mut entropy(), now()).unwrap();
            let pending = start.respond(json_response(200, &json!({ "auth_req_id": AUTH_REQ_ID, "expires_in": 600, "interval": interval })), now()).unwrap();
            let at = pending.next_poll_at();
            let result = poll_answered(op, &pending, at, oauth_error(status, &code));
            match code.as_str() {
                "authorization_pending" => prop_assert_eq!(poll_pending(result).next_poll_at(), at.plus(interval + 1)),
                "slow_down" => prop_assert_eq!(poll_pending(result).next_poll_at(), at.plus(interval + 5 + 1)),
                _ => prop_assert!(refused(&result, &code, Endpoint::Token), "{result:?}"),
            }
        }

        #[test]
        fn pending_state_from_arbitrary_json_never_panics(value in arb_json()) {
            let _ = serde_json::from_value::<BackchannelPending>(value);
        }
    }
}
