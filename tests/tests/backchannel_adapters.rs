//! Server-initiated login through the adapters (issue 12), over real loopback HTTP against a
//! scripted operator: the poll loop of both adapters (`poll_for_tokens`: pending, slow_down,
//! tokens, refusals, expiry, its pace measured on the wall clock), the tokio adapter's
//! cancellation (a dropped wait sends nothing more) and its notification inbox (bearer token,
//! duplicates, ping, expiry, bounds), and the `mc_backchannel` spans (operator, mode, outcome;
//! no secret). id_tokens are signed with the sandbox's committed keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, BackchannelError, BackchannelMode, BackchannelPending, BackchannelStart,
    CibaLoginHint, CibaRequest, ClientSecret, Discovered, Jwks, LoginHint, MisuseError, Msisdn,
    OperatorConfig, Registration, SiRequest, SpSigningKey, Tokens,
};
use mc_io_tokio::NotificationInbox;
use mc_sandbox::loopback::{LoopbackServer, Recorded, Reply};
use mc_tests::driver::{BackchannelDriver, Blocking, Driver as _, Failure, Tokio, entropy};
use mc_tests::keys::{self, KeyFamily, SigningKey};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(10);
const BODY_LIMIT: usize = 1024 * 1024;

const CLIENT_ID: &str = "backchannel-client";
const CLIENT_SECRET: &str = "backchannel-client-secret-marker";
const REDIRECT_URI: &str = "https://sp.example/callback";
const NOTIFICATION_URI: &str = "https://sp.example/notify";
const AUTH_REQ_ID: &str = "auth-req-marker-6a7c-11f0";
const MSISDN: &str = "447700900301";
const PHONE: &str = "+447700900301";
const SUB: &str = "pcr-backchannel-subscriber";
const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";

fn blocking() -> Blocking {
    recorder::install();
    Blocking::new(TIMEOUT, BODY_LIMIT)
}

fn tokio() -> Tokio {
    recorder::install();
    Tokio::new(TIMEOUT, BODY_LIMIT).unwrap()
}

mc_tests::through_both_adapters!(
    poll_returns_the_tokens_after_authorization_pending,
    slow_down_adds_five_seconds_before_the_next_poll,
    access_denied_ends_the_wait,
    expired_token_ends_the_wait,
    the_wait_ends_at_expiry_when_slow_down_pushes_the_next_poll_past_it,
    an_si_polling_login_is_polled_to_its_tokens,
    a_notified_login_is_not_polled,
    each_poll_loop_leaves_one_backchannel_span_and_no_secret,
);

// ---------------------------------------------------------------------------------------------
// The scripted operator.

/// What the operator has answered and will answer.
#[derive(Default)]
struct Book {
    /// Per path, the replies still to give in order; the last one is given for ever after.
    scripts: BTreeMap<String, VecDeque<Reply>>,
    /// Every request, with the wall-clock time it arrived.
    log: Vec<(SystemTime, Recorded)>,
}

/// An operator on loopback (the sandbox's HTTP server, [`mc_sandbox::loopback`]) that answers
/// each path from a script, as the canned server of the adapter suite answers it with one
/// fixed reply, and notes when each request arrived (the poll loop's pace is what is tested).
struct Operator {
    server: LoopbackServer,
    book: Arc<Mutex<Book>>,
}

impl Operator {
    fn start() -> Self {
        let book = Arc::new(Mutex::new(Book::default()));
        let answering = Arc::clone(&book);
        let server = LoopbackServer::serve(TcpListener::bind("127.0.0.1:0").unwrap(), move |r| {
            let mut book = answering.lock().unwrap_or_else(PoisonError::into_inner);
            book.log.push((SystemTime::now(), r.clone()));
            match book.scripts.get_mut(r.path()) {
                Some(script) if script.len() > 1 => script.pop_front().unwrap(),
                Some(script) => script
                    .front()
                    .cloned()
                    .unwrap_or_else(|| Reply::status(404)),
                None => Reply::status(404),
            }
        })
        .unwrap();
        Self { server, book }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Answer `path` with these replies in order from now on, the last one for ever after.
    fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .scripts
            .insert(path.to_owned(), replies.into_iter().collect());
    }

    /// The requests to `path` so far, with their arrival in whole seconds of the wall clock
    /// (the resolution of the core's `UnixTime`).
    fn requests_to(&self, path: &str) -> Vec<(u64, Recorded)> {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        book.log
            .iter()
            .filter(|(_, r)| r.path() == path)
            .map(|(at, r)| (at.duration_since(UNIX_EPOCH).unwrap().as_secs(), r.clone()))
            .collect()
    }

    /// The operator context of an SP registered here as `id`: every server-initiated endpoint,
    /// the SP's signing key and notification URI, and the operator's first key already known.
    fn context(&self, id: &str) -> Discovered {
        OperatorConfig::new(Registration {
            operator_id: id.to_owned(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: ClientSecret::new(CLIENT_SECRET),
            redirect_uri: REDIRECT_URI.to_owned(),
        })
        .unwrap()
        .issuer(self.url(""))
        .authorization(&self.url("/authorize"))
        .unwrap()
        .token(&self.url("/token"))
        .unwrap()
        .jwks(&self.url("/jwks"))
        .unwrap()
        .si_authorization(&self.url("/si-authorize"))
        .unwrap()
        .backchannel_authentication(&self.url("/bc-authorize"))
        .unwrap()
        .notification_uri(NOTIFICATION_URI)
        .unwrap()
        .signing_key(
            SpSigningKey::from_pem(
                Algorithm::RS256,
                mc_sandbox::fixture::RSA_B.as_bytes(),
                "sp-key-1",
            )
            .unwrap(),
        )
        .keys(Jwks::parse(jwks_json(&[&operator_key()]).as_bytes()).unwrap())
        .build()
        .unwrap()
    }
}

/// The operator's signing key the SP already knows.
fn operator_key() -> SigningKey {
    SigningKey::from_pool(KeyFamily::Rs256, 0, "kid-1".to_owned())
}

/// The key the operator rotates to (unknown to the SP until it refetches).
fn rotated_key() -> SigningKey {
    SigningKey::from_pool(KeyFamily::Rs256, 1, "kid-2".to_owned())
}

fn jwks_json(keys: &[&SigningKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

/// The operator's answer to a start.
fn started(expires_in: u64, interval: u64) -> Reply {
    Reply::json(
        200,
        json!({ "auth_req_id": AUTH_REQ_ID, "expires_in": expires_in, "interval": interval })
            .to_string(),
    )
}

/// An OAuth error from the token endpoint.
fn oauth_error(error: &str) -> Reply {
    Reply::json(400, json!({ "error": error }).to_string())
}

/// A token response whose id_token `key` signed: with `nonce` for Mobile Connect SI (CIBA sends
/// none), and with `recipient` and `hashed_login_hint` when notified.
fn token_body(
    operator: &Discovered,
    key: &SigningKey,
    nonce: Option<&str>,
    notified: bool,
    access_token: &str,
) -> Value {
    let now = mc_io_blocking::now().as_secs();
    let mut claims = json!({
        "iss": operator.issuer(),
        "sub": SUB,
        "aud": [CLIENT_ID],
        "azp": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "acr": "2",
        "amr": ["SMS_URL_OK"],
        "at_hash": keys::at_hash(access_token, key.alg),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
        claims["hashed_login_hint"] = json!(mc_sandbox::fixture::hashed_login_hint(MSISDN));
    }
    if notified {
        claims["recipient"] = json!(NOTIFICATION_URI);
    }
    json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": key.sign(&claims),
    })
}

fn tokens_reply(operator: &Discovered, nonce: Option<&str>, access_token: &str) -> Reply {
    Reply::json(
        200,
        token_body(operator, &operator_key(), nonce, false, access_token).to_string(),
    )
}

/// Run a start against the operator, which answers with this expiry and interval: the pending
/// state, and the request the operator received.
fn start<D: BackchannelDriver>(
    driver: &D,
    operator: &Operator,
    path: &str,
    start: BackchannelStart,
    (expires_in, interval): (u64, u64),
) -> (BackchannelPending, Recorded) {
    operator.script(path, [started(expires_in, interval)]);
    let pending = driver.execute(start).unwrap();
    let (_, sent) = operator.requests_to(path).pop().unwrap();
    (pending, sent)
}

/// Start an OpenID CIBA login (poll mode, or ping mode); in ping mode also the
/// `client_notification_token` the SP sent.
fn start_ciba<D: BackchannelDriver>(
    driver: &D,
    operator: &Operator,
    context: &Discovered,
    ping: bool,
    timing: (u64, u64),
) -> (BackchannelPending, Option<String>) {
    let mut request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(PHONE)));
    if ping {
        request = request.ping();
    }
    let exchange = context.ciba_authorize(request, &mut entropy(), driver.now());
    let (pending, sent) = start(driver, operator, "/bc-authorize", exchange.unwrap(), timing);
    (pending, form(&sent.body, "client_notification_token"))
}

/// Start a Mobile Connect SI login; the claims of the request object the operator received.
fn start_si<D: BackchannelDriver>(
    driver: &D,
    operator: &Operator,
    context: &Discovered,
    polling: bool,
    timing: (u64, u64),
) -> (BackchannelPending, Value) {
    let mut request = SiRequest::new(LoginHint::Msisdn(Msisdn::new(MSISDN)));
    if polling {
        request = request.polling();
    }
    let exchange = context.si_authorize(request, &mut entropy(), driver.now());
    let (pending, sent) = start(driver, operator, "/si-authorize", exchange.unwrap(), timing);
    let query = sent.target.split_once('?').unwrap().1;
    let jws = form(query.as_bytes(), "request").unwrap();
    let payload = jws.split('.').nth(1).unwrap();
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    (pending, claims)
}

fn form(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// The core's error of a failed wait.
fn core_error(result: Result<Tokens, Failure>) -> mc_core::Error {
    match result {
        Err(Failure::Core(error)) => error,
        other => panic!("expected the core's verdict, got {other:?}"),
    }
}

/// The polls that reached the operator: each a form POST with the CIBA grant type and this
/// login's `auth_req_id`, authenticated with HTTP Basic; their arrival seconds.
fn polls(operator: &Operator) -> Vec<u64> {
    operator
        .requests_to("/token")
        .into_iter()
        .map(|(at, request)| {
            assert_eq!(request.method, "POST");
            assert_eq!(
                form(&request.body, "grant_type").as_deref(),
                Some(CIBA_GRANT)
            );
            assert_eq!(
                form(&request.body, "auth_req_id").as_deref(),
                Some(AUTH_REQ_ID)
            );
            assert!(
                request
                    .header("authorization")
                    .is_some_and(|v| v.starts_with("Basic ")),
                "{request:?}"
            );
            at
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The poll loop, through both adapters.

/// `authorization_pending` twice, then tokens: three polls, the first not before the
/// `next_poll_at` of the start, each later one at least the interval after the one before.
fn poll_returns_the_tokens_after_authorization_pending<D: BackchannelDriver>(driver: &D) {
    let operator = Operator::start();
    let context = operator.context("poll-tokens");
    let (pending, _) = start_ciba(driver, &operator, &context, false, (30, 1));
    let first_due = pending.next_poll_at().as_secs();
    operator.script(
        "/token",
        [
            oauth_error("authorization_pending"),
            oauth_error("authorization_pending"),
            tokens_reply(&context, None, "access-poll"),
        ],
    );

    let tokens = driver.poll_for_tokens(&context, pending).unwrap();
    assert_eq!(tokens.access_token().expose_secret(), "access-poll");
    assert_eq!(tokens.sub(), SUB);
    let polls = polls(&operator);
    assert_eq!(polls.len(), 3, "{polls:?}");
    assert!(polls[0] >= first_due, "{polls:?} before {first_due}");
    assert!(polls.windows(2).all(|w| w[1] > w[0]), "{polls:?}");
}

/// `slow_down` grows the interval by 5 s: the next poll comes at least 6 s (1 + 5) later.
fn slow_down_adds_five_seconds_before_the_next_poll<D: BackchannelDriver>(driver: &D) {
    let operator = Operator::start();
    let context = operator.context("poll-slow-down");
    let (pending, _) = start_ciba(driver, &operator, &context, false, (30, 1));
    operator.script(
        "/token",
        [
            oauth_error("slow_down"),
            tokens_reply(&context, None, "access-slow"),
        ],
    );

    let tokens = driver.poll_for_tokens(&context, pending).unwrap();
    assert_eq!(tokens.access_token().expose_secret(), "access-slow");
    let polls = polls(&operator);
    assert_eq!(polls.len(), 2, "{polls:?}");
    assert!(polls[1] >= polls[0] + 6, "{polls:?}");
}

/// The operator's refusal ends the wait at once: one poll, the operator's error, class
/// `refused`.
fn refusal_ends_the_wait<D: BackchannelDriver>(driver: &D, refusal: &str) {
    let operator = Operator::start();
    let context = operator.context(refusal);
    let (pending, _) = start_ciba(driver, &operator, &context, false, (30, 1));
    operator.script("/token", [oauth_error(refusal)]);

    let error = core_error(driver.poll_for_tokens(&context, pending));
    assert!(
        error.operator_error().is_some_and(|e| e.is(refusal)),
        "{error:?}"
    );
    assert_eq!(error.class(), mc_core::ErrorClass::Refused);
    assert_eq!(polls(&operator).len(), 1);
}

fn access_denied_ends_the_wait<D: BackchannelDriver>(driver: &D) {
    refusal_ends_the_wait(driver, "access_denied");
}

fn expired_token_ends_the_wait<D: BackchannelDriver>(driver: &D) {
    refusal_ends_the_wait(driver, "expired_token");
}

/// A `slow_down` that puts the next poll after the login's expiry: the loop sleeps until the
/// expiry, not past it, and ends with the core's typed expiry without another request.
fn the_wait_ends_at_expiry_when_slow_down_pushes_the_next_poll_past_it<D: BackchannelDriver>(
    driver: &D,
) {
    let operator = Operator::start();
    let context = operator.context("poll-expiry");
    let (pending, _) = start_ciba(driver, &operator, &context, false, (3, 1));
    let expires_at = pending.expires_at();
    operator.script("/token", [oauth_error("slow_down")]);

    let started = Instant::now();
    let error = core_error(driver.poll_for_tokens(&context, pending));
    assert!(
        matches!(error, mc_core::Error::Backchannel(BackchannelError::Expired { expires_at: at, now })
            if at == expires_at.as_secs() && now >= at),
        "{error:?}"
    );
    assert!(driver.now() >= expires_at);
    // The slow_down asked for 6 s; the login expired after at most 3.
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(polls(&operator).len(), 1);
}

/// Mobile Connect SI in polling mode: the signed request goes to `si-authorize`, the loop
/// polls with the (default, CIBA) grant type, and the id_token's nonce is the request
/// object's.
fn an_si_polling_login_is_polled_to_its_tokens<D: BackchannelDriver>(driver: &D) {
    let operator = Operator::start();
    let context = operator.context("si-polling");
    let (pending, claims) = start_si(driver, &operator, &context, true, (30, 1));
    assert_eq!(pending.mode(), BackchannelMode::SiPolling);
    assert_eq!(claims["response_type"], "mc_si_polling");
    let nonce = claims["nonce"].as_str().unwrap();
    operator.script(
        "/token",
        [
            oauth_error("authorization_pending"),
            tokens_reply(&context, Some(nonce), "access-si"),
        ],
    );

    let tokens = driver.poll_for_tokens(&context, pending).unwrap();
    assert_eq!(tokens.access_token().expose_secret(), "access-si");
    assert_eq!(polls(&operator).len(), 2);
}

/// A notification-mode login has nothing to poll: the core refuses it, nothing is sent.
fn a_notified_login_is_not_polled<D: BackchannelDriver>(driver: &D) {
    let operator = Operator::start();
    let context = operator.context("si-notified");
    let (pending, _) = start_si(driver, &operator, &context, false, (30, 1));

    let started = Instant::now();
    let error = core_error(driver.poll_for_tokens(&context, pending));
    assert!(
        matches!(
            error,
            mc_core::Error::Misuse(MisuseError::WrongMode {
                mode: BackchannelMode::SiNotification,
                ..
            })
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(operator.requests_to("/token").is_empty());
}

/// Each wait leaves one `mc_backchannel` span with the operator, the mode and the outcome,
/// around one `mc_exchange` span per poll; no span field or event holds the `auth_req_id`, a
/// token, the id_token or the client's credentials.
fn each_poll_loop_leaves_one_backchannel_span_and_no_secret<D: BackchannelDriver>(driver: &D) {
    let operator = Operator::start();
    let id = format!("traced-poll-{}", std::any::type_name::<D>());
    let context = operator.context(&id);
    let body = token_body(&context, &operator_key(), None, false, "access-traced");
    let (pending, _) = start_ciba(driver, &operator, &context, false, (30, 1));
    operator.script(
        "/token",
        [
            oauth_error("authorization_pending"),
            Reply::json(200, body.to_string()),
        ],
    );
    let tokens = driver.poll_for_tokens(&context, pending).unwrap();
    assert_eq!(tokens.access_token().expose_secret(), "access-traced");
    let (pending, _) = start_ciba(driver, &operator, &context, false, (30, 1));
    operator.script("/token", [oauth_error("access_denied")]);
    driver.poll_for_tokens(&context, pending).unwrap_err();

    let spans = recorder::spans();
    let logins = recorder::named(&spans, "mc_backchannel", &id);
    let outcomes: Vec<_> = logins.iter().map(|s| s.field("outcome")).collect();
    assert_eq!(outcomes, [Some("ok"), Some("refused")], "{logins:?}");
    assert!(logins.iter().all(|s| s.field("mode") == Some("ciba_poll")));
    let polls_of = |login: &recorder::SpanRecord| -> Vec<_> {
        spans
            .iter()
            .filter(|s| s.name == "mc_exchange" && s.parent == Some(login.id))
            .map(|s| (s.field("step"), s.field("outcome")))
            .collect()
    };
    assert_eq!(
        polls_of(logins[0]),
        [(Some("token"), Some("ok")), (Some("token"), Some("ok"))]
    );
    assert_eq!(polls_of(logins[1]), [(Some("token"), Some("refused"))]);

    let mut secrets = vec![
        AUTH_REQ_ID.to_owned(),
        CLIENT_SECRET.to_owned(),
        "access-traced".to_owned(),
        body["id_token"].as_str().unwrap().to_owned(),
    ];
    for (_, request) in operator.requests_to("/token") {
        secrets.extend(request.header("authorization").map(str::to_owned));
    }
    recorder::assert_no_secret(&secrets);
}

// ---------------------------------------------------------------------------------------------
// Cancellation (tokio).

/// Run `future` on the driver's runtime for at most `limit`; dropped when it is over.
fn within<F: Future>(
    driver: &Tokio,
    limit: Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    driver.block_on(async { tokio::time::timeout(limit, future).await })
}

/// Dropping the wait (here by a timeout) stops it: no poll reaches the operator afterwards,
/// although the runtime keeps running, and the login's span says `cancelled`.
#[test]
fn tokio_dropping_the_wait_stops_polling() {
    let driver = tokio();
    let operator = Operator::start();
    let context = operator.context("tokio-cancelled");
    let (pending, _) = start_ciba(&driver, &operator, &context, false, (60, 1));
    operator.script("/token", [oauth_error("authorization_pending")]);

    let wait = driver.client().poll_for_tokens(&context, pending);
    let result = within(&driver, Duration::from_millis(2500), wait);
    assert!(result.is_err(), "{result:?}");
    let sent = polls(&operator).len();
    assert!(sent >= 1, "the wait polled before it was dropped");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(polls(&operator).len(), sent, "a poll after the drop");

    let spans = recorder::spans();
    let logins = recorder::named(&spans, "mc_backchannel", "tokio-cancelled");
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].field("outcome"), Some("cancelled"));
}

// ---------------------------------------------------------------------------------------------
// The notification inbox (tokio).

/// A notification as the operator POSTs it.
fn notification(bearer: Option<&str>, body: &Value) -> http::Request<Vec<u8>> {
    let mut request =
        http::Request::post(NOTIFICATION_URI).header("content-type", "application/json");
    if let Some(bearer) = bearer {
        request = request.header("authorization", format!("Bearer {bearer}"));
    }
    request.body(body.to_string().into_bytes()).unwrap()
}

/// Which bearer token a notification carries.
#[derive(Clone, Copy, Debug)]
enum Bearer {
    /// The login's `client_notification_token`.
    Right,
    Wrong,
    Missing,
}

/// What a notification carries.
#[derive(Clone, Copy, Debug)]
enum Body {
    /// The tokens, the id_token signed by the key the SP knows.
    Tokens,
    /// The tokens, the id_token signed by a key the SP must fetch first.
    TokensNewKey,
    /// The tokens, the id_token signed by another key under the known `kid`.
    Forged,
    /// The user declined.
    Denied,
    /// Tokens for an `auth_req_id` nobody registered.
    UnknownId,
    /// Not JSON.
    Garbage,
}

/// How the login ends, as its waiter sees it.
#[derive(Clone, Copy, Debug)]
enum End {
    Tokens,
    /// The operator's error.
    Refused(&'static str),
    /// A rejected id_token.
    Rejected,
    /// Still waiting.
    Waiting,
}

/// Which operator context the host hands `deliver`.
#[derive(Clone, Copy, Debug)]
enum Context {
    Own,
    Other,
}

/// One inbox case: a fresh Mobile Connect SI notification-mode login registered in a fresh
/// inbox, then these notifications, each with the status it must get, and how the waiter ends.
fn inbox_case(deliveries: &[(Bearer, Body, Context, u16)], end: End) {
    let driver = tokio();
    let operator = Operator::start();
    let context = operator.context("inbox");
    let other = Operator::start().context("inbox-other");
    operator.script(
        "/jwks",
        [Reply::json(
            200,
            jwks_json(&[&operator_key(), &rotated_key()]),
        )],
    );
    let (pending, claims) = start_si(&driver, &operator, &context, false, (30, 5));
    let bearer = claims["client_notification_token"].as_str().unwrap();
    let nonce = claims["nonce"].as_str();
    let inbox = NotificationInbox::new(driver.client().clone());
    let mut waiter = inbox.register(pending).unwrap();

    let mut fetches = 0;
    for &(which, body, to, status) in deliveries {
        let bearer = match which {
            Bearer::Right => Some(bearer),
            Bearer::Wrong => Some("not-the-notification-token"),
            Bearer::Missing => None,
        };
        let tokens = |key: &SigningKey| {
            let mut body = token_body(&context, key, nonce, true, "access-notified");
            body["auth_req_id"] = json!(AUTH_REQ_ID);
            body
        };
        let body = match body {
            Body::Tokens => tokens(&operator_key()),
            Body::TokensNewKey => {
                fetches = 1;
                tokens(&rotated_key())
            }
            Body::Forged => tokens(&SigningKey::from_pool(
                KeyFamily::Rs256,
                3,
                "kid-1".to_owned(),
            )),
            Body::Denied => json!({ "auth_req_id": AUTH_REQ_ID, "error": "access_denied" }),
            Body::UnknownId => json!({ "auth_req_id": "nobody-registered-this" }),
            Body::Garbage => json!("not an object"),
        };
        let to = match to {
            Context::Own => &context,
            Context::Other => &other,
        };
        let response = driver.block_on(inbox.deliver(to, notification(bearer, &body)));
        assert_eq!(response.status(), status, "{which:?} {body}");
        assert!(response.body().is_empty());
        assert_eq!(response.headers()["cache-control"], "no-store");
        if status == 401 {
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
        }
    }

    let outcome = within(&driver, Duration::from_millis(300), &mut waiter);
    match (end, outcome) {
        (End::Tokens, Ok(Ok(tokens))) => {
            assert_eq!(tokens.access_token().expose_secret(), "access-notified");
        }
        (End::Refused(error), Ok(Err(mc_io_tokio::Error::Core(e))))
            if e.operator_error().is_some_and(|o| o.is(error)) => {}
        (End::Rejected, Ok(Err(mc_io_tokio::Error::Core(mc_core::Error::IdToken(_))))) => {}
        (End::Waiting, Err(_)) => assert_eq!(inbox.len(), 1),
        (end, outcome) => panic!("expected {end:?}, got {outcome:?}"),
    }
    assert_eq!(operator.requests_to("/jwks").len(), fetches);
    assert!(operator.requests_to("/token").is_empty());
}

macro_rules! inbox_cases {
    ($($case:ident: [$(($bearer:ident, $body:ident, $context:ident, $status:literal)),*] => $end:expr;)*) => {
        mod inbox {
            use super::*;
            $(
                #[test]
                fn $case() {
                    inbox_case(
                        &[$((Bearer::$bearer, Body::$body, Context::$context, $status)),*],
                        $end,
                    );
                }
            )*
        }
    };
}

inbox_cases! {
    si_notification_tokens: [(Right, Tokens, Own, 204)] => End::Tokens;
    si_notification_after_a_key_rotation: [(Right, TokensNewKey, Own, 204)] => End::Tokens;
    si_notification_wrong_bearer: [(Wrong, Tokens, Own, 401)] => End::Waiting;
    si_notification_missing_bearer: [(Missing, Tokens, Own, 401)] => End::Waiting;
    si_notification_wrong_bearer_then_right:
        [(Wrong, Tokens, Own, 401), (Right, Tokens, Own, 204)] => End::Tokens;
    si_notification_duplicate: [(Right, Tokens, Own, 204), (Right, Tokens, Own, 204)] => End::Tokens;
    si_notification_access_denied: [(Right, Denied, Own, 204)] => End::Refused("access_denied");
    si_notification_forged_id_token: [(Right, Forged, Own, 400)] => End::Rejected;
    si_notification_unknown_auth_req_id: [(Right, UnknownId, Own, 400)] => End::Waiting;
    si_notification_malformed: [(Right, Garbage, Own, 400)] => End::Waiting;
    si_notification_other_operator_context: [(Right, Tokens, Other, 500)] => End::Waiting;
}

/// CIBA ping mode: the ping (with the right bearer) is answered 204 at once and the waiter
/// polls the token endpoint once, without waiting for the interval; a second ping is answered
/// 204 and polls no more; a ping with another bearer token is 401 and polls nothing.
#[test]
fn tokio_inbox_ping_polls_once() {
    let driver = tokio();
    let operator = Operator::start();
    let context = operator.context("inbox-ping");
    let (pending, bearer) = start_ciba(&driver, &operator, &context, true, (60, 30));
    let bearer = bearer.unwrap();
    operator.script("/token", [tokens_reply(&context, None, "access-ping")]);
    let inbox = NotificationInbox::new(driver.client().clone());
    let waiter = inbox.register(pending).unwrap();
    let ping = json!({ "auth_req_id": AUTH_REQ_ID });

    let forged = driver.block_on(inbox.deliver(&context, notification(Some("forged"), &ping)));
    assert_eq!(forged.status(), 401);
    let started = Instant::now();
    let answer = driver.block_on(inbox.deliver(&context, notification(Some(&bearer), &ping)));
    assert_eq!(answer.status(), 204);
    assert!(
        operator.requests_to("/token").is_empty(),
        "the poll is the waiter's"
    );
    let tokens = driver.block_on(waiter).unwrap();
    assert_eq!(tokens.access_token().expose_secret(), "access-ping");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(polls(&operator).len(), 1);

    let again = driver.block_on(inbox.deliver(&context, notification(Some(&bearer), &ping)));
    assert_eq!(again.status(), 204);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(polls(&operator).len(), 1, "a duplicate ping polled");

    let spans = recorder::spans();
    let logins = recorder::named(&spans, "mc_backchannel", "inbox-ping");
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].field("mode"), Some("ciba_ping"));
    assert_eq!(logins[0].field("outcome"), Some("ok"));
    assert!(spans.iter().any(|s| s.name == "mc_exchange"
        && s.parent == Some(logins[0].id)
        && s.field("step") == Some("token")));
    recorder::assert_no_secret(&[AUTH_REQ_ID.to_owned(), bearer, "access-ping".to_owned()]);
}

/// The tokio adapter's server-initiated futures are `Send` (and the waiter `'static`), so a
/// multi-threaded host can spawn them.
#[test]
fn tokio_backchannel_futures_are_send() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    fn assert_send_future<T: Send>(_: T) {}
    let driver = tokio();
    let operator = Operator::start();
    let context = operator.context("tokio-send");
    let (pending, _) = start_si(&driver, &operator, &context, false, (30, 1));
    let client = driver.client();
    let inbox = NotificationInbox::new(client.clone());
    assert_send_future(client.poll_for_tokens(&context, pending.clone()));
    assert_send_future(inbox.deliver(&context, notification(None, &json!({}))));
    let waiter = inbox.register(pending).unwrap();
    assert_send(&waiter);
}

/// A login nobody notifies: its waiter resolves with the core's typed expiry once the login
/// expires, the inbox forgets it, and a notification after that is answered 400.
#[test]
fn tokio_inbox_waiter_resolves_with_the_expiry() {
    let driver = tokio();
    let operator = Operator::start();
    let context = operator.context("inbox-expiry");
    let (pending, claims) = start_si(&driver, &operator, &context, false, (2, 1));
    let expires_at = pending.expires_at().as_secs();
    let inbox = NotificationInbox::new(driver.client().clone());
    let waiter = inbox.register(pending).unwrap();

    let outcome = within(&driver, Duration::from_secs(4), waiter);
    match outcome {
        Ok(Err(mc_io_tokio::Error::Core(mc_core::Error::Backchannel(
            BackchannelError::Expired {
                expires_at: at,
                now,
            },
        )))) => assert!(at == expires_at && now >= at),
        other => panic!("{other:?}"),
    }
    assert!(inbox.is_empty());
    let bearer = claims["client_notification_token"].as_str();
    let late = json!({ "auth_req_id": AUTH_REQ_ID, "error": "access_denied" });
    let answer = driver.block_on(inbox.deliver(&context, notification(bearer, &late)));
    assert_eq!(answer.status(), 400);
}

/// The inbox holds at most its capacity: a login over it is refused, and room comes back when
/// a held login expires or its waiter is dropped. Polling logins and a second registration of
/// one `auth_req_id` are refused.
#[test]
fn tokio_inbox_is_bounded() {
    let driver = tokio();
    let operator = Operator::start();
    let context = operator.context("inbox-bounded");
    let inbox = NotificationInbox::with_capacity(driver.client().clone(), 1);
    let login = |expires_in: u64| {
        let (mut pending, _) = start_si(&driver, &operator, &context, false, (expires_in, 1));
        // Each login its own auth_req_id.
        let mut json = serde_json::to_value(&pending).unwrap();
        json["auth_req_id"] = json!(format!("{AUTH_REQ_ID}-{}", inbox.len()));
        pending = serde_json::from_value(json).unwrap();
        pending
    };
    let full = |result: Result<mc_io_tokio::Waiter, mc_io_tokio::Error>| {
        matches!(
            result,
            Err(mc_io_tokio::Error::Core(mc_core::Error::Misuse(
                MisuseError::InvalidParameter { .. }
            )))
        )
    };

    let short = login(2);
    let (again, expires_at) = (short.clone(), short.expires_at());
    let held = inbox.register(short).unwrap();
    assert!(full(inbox.register(again)), "the same auth_req_id twice");
    let waiting = login(30);
    assert!(full(inbox.register(waiting.clone())), "over the capacity");
    while driver.now() < expires_at {
        std::thread::sleep(Duration::from_millis(100));
    }
    // The first login expired: its place is taken (its waiter, never awaited, resolves with
    // the expiry whenever it is).
    let second = inbox.register(waiting).unwrap();
    assert_eq!(inbox.len(), 1);
    drop(second);
    assert!(inbox.is_empty(), "a dropped waiter's login is forgotten");
    drop(held);

    let (polling, _) = start_ciba(&driver, &operator, &context, false, (30, 1));
    assert!(matches!(
        inbox.register(polling),
        Err(mc_io_tokio::Error::Core(mc_core::Error::Misuse(
            MisuseError::WrongMode { .. }
        )))
    ));
}

// ---------------------------------------------------------------------------------------------

use mc_tests::spans as recorder;
