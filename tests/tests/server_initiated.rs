//! Server-initiated login end to end (issue 12) over loopback HTTP against the sandbox, through
//! both adapters: Mobile Connect SI in notification mode (every transport) and in polling mode,
//! OpenID CIBA in poll and ping modes, with `client_secret_basic` and `private_key_jwt`; then
//! one test per refusal and fault, each expecting the exact typed mc-core error.
//!
//! The test plays the SP's notification endpoint in process: the sandbox keeps its
//! notifications in its outbox ([`Sandbox::take_notifications`]) and the test hands each to
//! mc-core ([`Notification::parse`], the pending login found by `auth_req_id`,
//! [`BackchannelPending::accept`], [`notification_response`]). One test lets the server POST
//! them to a loopback receiver instead. Polls run through the adapters' `poll_for_tokens`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, BackchannelError, BackchannelPending, BackchannelStart, CibaLoginHint, CibaRequest,
    ClientAuth, Discovered, Endpoint, Error, Exchange as _, IdTokenError, LoginHint, Msisdn,
    Notification, Notified, OperatorConfig, Poll, SiRequest, SiTransport, SpSigningKey, Tokens,
    Verified, notification_response,
};
use mc_sandbox::fixture;
use mc_sandbox::sandbox::{
    IMPOSTOR_RECIPIENT, IdTokenMutation, NotificationMutation, PollMutation, SP_NOTIFICATION_URI,
    SandboxConfig, WRONG_PIN,
};
use mc_tests::canned::{CannedServer, Reply};
use mc_tests::driver::{self, BackchannelDriver, Failure, entropy};
use mc_tests::{Fault, Handset, Sandbox, SandboxExt as _, SandboxServer, Target};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(10);
const BODY_LIMIT: usize = 1024 * 1024;

/// How long a login lives at the sandbox: long enough for a loaded machine, short enough for
/// the tests that wait for the expiry.
const EXPIRY: u64 = 30;
/// At least one poll fits: the core polls `interval + 1` seconds after the answer.
const SHORT_EXPIRY: u64 = 3;

mc_tests::through_both_adapters!(
    TIMEOUT, BODY_LIMIT;
    si_notification_login_every_transport,
    si_notification_login_at_loa3_with_an_es256_key,
    si_notification_delivered_by_post,
    si_polling_login_client_secret_basic,
    si_polling_login_private_key_jwt,
    ciba_poll_login_client_secret_basic,
    ciba_poll_login_private_key_jwt,
    ciba_ping_login_client_secret_basic,
    ciba_ping_login_private_key_jwt,
    si_notification_wrong_bearer,
    si_notification_unknown_auth_req_id,
    si_notification_duplicate,
    si_notification_late,
    si_notification_tampered_id_token,
    si_notification_recipient_missing,
    si_notification_recipient_mismatch,
    si_notification_access_denied,
    si_notification_wrong_pin,
    si_request_bad_signature,
    si_request_wrong_aud,
    si_request_unregistered_notification_uri,
    si_request_case_mismatched_claims,
    si_request_missing_nonce,
    si_request_inner_client_id_differs,
    si_request_inner_scope_differs,
    si_request_inner_response_type_differs,
    si_request_expired,
    si_polling_handset_never_answers,
    ciba_poll_slow_down,
    ciba_poll_expired,
    ciba_poll_pending_forever,
    ciba_access_denied,
    ciba_unknown_user,
    ciba_private_key_jwt_unregistered_key,
);

/// The SP's RSA key, registered at the sandbox as `sp-rsa`.
fn rsa_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::RS256, fixture::RSA_B.as_bytes(), "sp-rsa").unwrap()
}

/// The SP's EC key, registered as `sp-ec`.
fn ec_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::ES256, fixture::EC_P256.as_bytes(), "sp-ec").unwrap()
}

/// A key the SP never registered, under the registered RSA key's `kid`.
fn unregistered_key() -> SpSigningKey {
    SpSigningKey::from_pem(Algorithm::RS256, fixture::RSA_A.as_bytes(), "sp-rsa").unwrap()
}

/// The setup every test starts from: the SP's JWKS registered, a 1-second polling interval,
/// and the notifications left in the outbox for the test to take.
fn config() -> SandboxConfig {
    SandboxConfig::default()
        .sp_jwks(SpSigningKey::jwks([&rsa_key(), &ec_key()]).unwrap())
        .backchannel_expiry(EXPIRY)
        .poll_interval(1)
        .deliver_notifications(false)
}

fn start(config: SandboxConfig) -> SandboxServer {
    SandboxServer::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), config).unwrap()
}

/// A sandbox with `fault` switched on for `target`.
fn with_fault(target: Target, fault: Fault) -> SandboxServer {
    let server = start(config());
    server.sandbox().set_fault(target, fault);
    server
}

fn subscriber(operator: &str, handset: Handset) -> &'static str {
    fixture::subscriber(operator, handset).unwrap()
}

fn msisdn_hint(operator: &str, handset: Handset) -> LoginHint {
    LoginHint::Msisdn(Msisdn::new(subscriber(operator, handset)))
}

fn core(failure: Failure) -> Error {
    match failure {
        Failure::Core(e) => e,
        other => panic!("expected a core error, got {other:?}"),
    }
}

/// Whether `error` is the operator's refusal `code` from `endpoint`.
fn refused(error: &Error, code: &str, endpoint: Endpoint) -> bool {
    matches!(error, Error::Refused(e) if e.is(code) && e.endpoint == endpoint)
}

/// The SP: its context for one sandbox operator (endpoints from the metadata, its signing key,
/// its notification URI), its pending logins by `auth_req_id`, and its notification endpoint.
struct Sp<'a, D> {
    d: &'a D,
    sandbox: Sandbox,
    op: Discovered,
    logins: BTreeMap<String, BackchannelPending>,
}

impl<'a, D: BackchannelDriver> Sp<'a, D> {
    /// The SP at `operator`, its registry entry changed by `configure`.
    fn new(
        d: &'a D,
        server: &SandboxServer,
        operator: &str,
        key: SpSigningKey,
        configure: impl FnOnce(OperatorConfig) -> OperatorConfig,
    ) -> Self {
        let sandbox = server.sandbox().clone();
        let entry = sandbox
            .registry_entry(operator)
            .unwrap()
            .notification_uri(SP_NOTIFICATION_URI)
            .unwrap()
            .signing_key(key);
        let op = driver::with_metadata(d, configure(entry)).unwrap();
        Self {
            d,
            sandbox,
            op,
            logins: BTreeMap::new(),
        }
    }

    /// The SP at alpha with its RSA key and defaults.
    fn alpha(d: &'a D, server: &SandboxServer) -> Self {
        Self::new(d, server, "alpha", rsa_key(), |c| c)
    }

    /// Run a start and keep the pending login where the notification endpoint finds it.
    fn keep(
        &mut self,
        start: Result<BackchannelStart, Error>,
    ) -> Result<BackchannelPending, Failure> {
        let pending = self.d.execute(start?)?;
        self.logins
            .insert(pending.auth_req_id().to_owned(), pending.clone());
        Ok(pending)
    }

    fn start_si(&mut self, request: SiRequest) -> Result<BackchannelPending, Failure> {
        let now = self.d.now();
        self.keep(self.op.si_authorize(request, &mut entropy(), now))
    }

    fn start_ciba(&mut self, request: CibaRequest) -> Result<BackchannelPending, Failure> {
        let now = self.d.now();
        self.keep(self.op.ciba_authorize(request, &mut entropy(), now))
    }

    /// The next `count` notifications the operator sends, waiting at most `within`.
    fn notifications(&self, count: usize, within: Duration) -> Vec<http::Request<Vec<u8>>> {
        let deadline = Instant::now() + within;
        let mut all = self.sandbox.take_notifications();
        while all.len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            all.extend(self.sandbox.take_notifications());
        }
        assert_eq!(all.len(), count, "notifications within {within:?}");
        all
    }

    /// The SP's notification endpoint: the verdict on one notification (its key refetch
    /// run, if it needs one), and the status it answers the operator with.
    fn receive(&self, request: &http::Request<Vec<u8>>) -> (Result<Notified, Error>, u16) {
        let now = self.d.now();
        let verdict = Notification::parse(request)
            .and_then(|notification| {
                let pending = self
                    .logins
                    .get(notification.auth_req_id())
                    .ok_or(BackchannelError::UnknownAuthReqId)?;
                pending.accept(&self.op, notification, now)
            })
            .and_then(|verified| match verified {
                Verified::Done(notified) => Ok(notified),
                Verified::NeedJwks(refetch) => {
                    let keys = self.d.send(refetch.request()).unwrap();
                    refetch.respond(keys, self.d.now())
                }
            });
        let status = notification_response(&verdict).status().as_u16();
        (verdict, status)
    }

    /// An SI login in notification mode started, and the `count` notifications it brings.
    fn sent(
        &mut self,
        request: SiRequest,
        count: usize,
        within: Duration,
    ) -> Vec<http::Request<Vec<u8>>> {
        let _ = self.start_si(request).unwrap();
        self.notifications(count, within)
    }

    /// An SI login in notification mode up to its one notification, received.
    fn notified(&mut self, request: SiRequest) -> (Result<Notified, Error>, u16) {
        let sent = self.sent(request, 1, Duration::from_secs(5));
        self.receive(&sent[0])
    }

    /// The tokens of an SI login in notification mode.
    fn notified_tokens(&mut self, request: SiRequest) -> Tokens {
        match self.notified(request) {
            (Ok(Notified::Tokens(tokens)), 204) => tokens,
            other => panic!("expected tokens answered 204, got {other:?}"),
        }
    }

    /// A polled login's tokens (SI polling mode, CIBA poll mode, CIBA after its ping).
    fn polled(&self, pending: BackchannelPending) -> Result<Tokens, Failure> {
        self.d.poll_for_tokens(&self.op, pending)
    }

    /// The subscriber's phone number at userinfo, with the login's access token.
    fn phone_number(&self, tokens: &Tokens) -> String {
        let userinfo = self.d.execute(tokens.userinfo(&self.op).unwrap()).unwrap();
        userinfo.phone_number().unwrap().to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Logins.

/// Mobile Connect SI in notification mode through each transport an operator may want: the
/// request as the transport sends it, the tokens by notification (204), a working access token.
fn si_notification_login_every_transport<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    for (transport, method, content_type) in [
        (SiTransport::GetQuery, "GET", None),
        (SiTransport::PostQuery, "POST", None),
        (
            SiTransport::PostForm,
            "POST",
            Some("application/x-www-form-urlencoded"),
        ),
        (SiTransport::PostJson, "POST", Some("application/json")),
    ] {
        let mut sp = Sp::new(d, &server, "alpha", rsa_key(), |c| {
            c.si_transport(transport)
        });
        let msisdn = subscriber("alpha", Handset::Approve);
        let tokens = sp.notified_tokens(SiRequest::new(msisdn_hint("alpha", Handset::Approve)));
        assert_eq!(tokens.id_token().acr(), Some("2"), "{transport:?}");
        assert_eq!(tokens.id_token().amr(), ["SIM_OK"], "{transport:?}");
        assert_eq!(sp.phone_number(&tokens), format!("+{msisdn}"));
        let sent = server
            .sandbox()
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.path().ends_with("/si-authorize"))
            .unwrap();
        assert_eq!(sent.method, method, "{transport:?}");
        assert_eq!(sent.header("content-type"), content_type, "{transport:?}");
        assert_eq!(
            sent.query().is_some_and(|q| q.contains("request=")),
            content_type.is_none(),
            "{transport:?}"
        );
    }
}

/// LoA 3 at beta, with the SP's ES256 key: the handset asks for the PIN.
fn si_notification_login_at_loa3_with_an_es256_key<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::new(d, &server, "beta", ec_key(), |c| c);
    let request = SiRequest::new(msisdn_hint("beta", Handset::Approve)).acr_values([3]);
    let tokens = sp.notified_tokens(request);
    assert_eq!(tokens.id_token().acr(), Some("3"));
    assert_eq!(tokens.id_token().amr(), ["SIM_PIN"]);
}

/// The server POSTs the notification to the SP's (loopback) notification URI itself; the SP
/// takes what arrived.
fn si_notification_delivered_by_post<D: BackchannelDriver>(d: &D) {
    let receiver = CannedServer::start().unwrap();
    receiver.route("/notify", Reply::status(204));
    let uri = receiver.url("/notify");
    let server = start(
        config()
            .notification_uris([uri.clone()])
            .deliver_notifications(true),
    );
    let mut sp = Sp::new(d, &server, "alpha", rsa_key(), |c| {
        c.notification_uri(&uri).unwrap()
    });
    let pending = sp
        .start_si(SiRequest::new(msisdn_hint("alpha", Handset::Approve)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.requests_to("/notify").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let arrived = receiver.requests_to("/notify");
    assert_eq!(arrived.len(), 1);
    let mut request = http::Request::post(uri.as_str());
    for (name, value) in &arrived[0].headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request.body(arrived[0].body.clone()).unwrap();
    let (verdict, status) = sp.receive(&request);
    assert!(matches!(verdict, Ok(Notified::Tokens(_))), "{verdict:?}");
    assert_eq!(status, 204);
    assert_eq!(server.sandbox().queued_notifications(), 0);
    let body: Value = serde_json::from_slice(&arrived[0].body).unwrap();
    assert_eq!(body["auth_req_id"], pending.auth_req_id());
}

fn si_polling_login_client_secret_basic<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::alpha(d, &server);
    let pending = sp
        .start_si(SiRequest::new(msisdn_hint("alpha", Handset::Approve)).polling())
        .unwrap();
    assert_eq!(pending.interval_secs(), 1);
    let tokens = sp.polled(pending).unwrap();
    assert_eq!(tokens.id_token().acr(), Some("2"));
    let poll = last_poll(&server);
    assert!(poll.header("authorization").unwrap().starts_with("Basic "));
}

fn si_polling_login_private_key_jwt<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::new(d, &server, "beta", ec_key(), |c| {
        c.client_auth(ClientAuth::PrivateKeyJwt)
            .si_transport(SiTransport::PostJson)
    });
    let pending = sp
        .start_si(SiRequest::new(msisdn_hint("beta", Handset::ApprovePin)).polling())
        .unwrap();
    let tokens = sp.polled(pending).unwrap();
    assert_eq!(tokens.id_token().acr(), Some("3"));
    assert_assertion(&last_poll(&server));
}

fn ciba_poll_login_client_secret_basic<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::alpha(d, &server);
    let msisdn = subscriber("alpha", Handset::Approve);
    let request =
        CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn))).binding_message("4G7K");
    let pending = sp.start_ciba(request).unwrap();
    let tokens = sp.polled(pending).unwrap();
    assert_eq!(tokens.id_token().acr(), Some("2"));
    assert_eq!(sp.phone_number(&tokens), format!("+{msisdn}"));
    let start = last_request(&server, "/bc-authorize");
    assert!(start.header("authorization").unwrap().starts_with("Basic "));
    assert!(form_has(
        &start.body,
        "login_hint",
        &format!("tel:+{msisdn}")
    ));
}

/// CIBA with `private_key_jwt`, a plain MSISDN as the login hint, LoA 3 and a requested expiry.
fn ciba_poll_login_private_key_jwt<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::new(d, &server, "beta", ec_key(), |c| {
        c.client_auth(ClientAuth::PrivateKeyJwt)
    });
    let msisdn = subscriber("beta", Handset::Approve);
    let request = CibaRequest::new(CibaLoginHint::Plain(msisdn.to_owned()))
        .acr_values([3])
        .requested_expiry(20);
    let pending = sp.start_ciba(request).unwrap();
    assert!(pending.expires_at().as_secs() <= d.now().as_secs() + 20);
    let tokens = sp.polled(pending).unwrap();
    assert_eq!(tokens.id_token().acr(), Some("3"));
    assert_eq!(tokens.id_token().amr(), ["SIM_PIN"]);
    assert_assertion(&last_request(&server, "/bc-authorize"));
    assert_assertion(&last_poll(&server));
}

/// CIBA ping mode: the ping carries only `auth_req_id` (answered 204), then one poll.
fn ciba_ping<D: BackchannelDriver>(sp: &mut Sp<'_, D>, handset_operator: &str) -> Tokens {
    let msisdn = subscriber(handset_operator, Handset::Approve);
    let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn))).ping();
    let pending = sp.start_ciba(request).unwrap();
    let sent = sp.notifications(1, Duration::from_secs(5));
    let body: Value = serde_json::from_slice(sent[0].body()).unwrap();
    assert_eq!(body, json!({ "auth_req_id": pending.auth_req_id() }));
    match sp.receive(&sent[0]) {
        (Ok(Notified::Ping), 204) => {}
        other => panic!("expected a ping answered 204, got {other:?}"),
    }
    sp.polled(pending).unwrap()
}

fn ciba_ping_login_client_secret_basic<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::alpha(d, &server);
    let tokens = ciba_ping(&mut sp, "alpha");
    assert_eq!(tokens.id_token().acr(), Some("2"));
}

fn ciba_ping_login_private_key_jwt<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::new(d, &server, "alpha", rsa_key(), |c| {
        c.client_auth(ClientAuth::PrivateKeyJwt)
    });
    let tokens = ciba_ping(&mut sp, "alpha");
    assert_eq!(tokens.id_token().acr(), Some("2"));
    assert_assertion(&last_poll(&server));
}

// ---------------------------------------------------------------------------------------------
// Notifications the SP must refuse (or take exactly once).

/// An SI notification-mode login at alpha with `fault` on the notification: the verdict on
/// the one notification sent and the SP's answer.
fn notified_with<D: BackchannelDriver>(d: &D, fault: Fault) -> (Result<Notified, Error>, u16) {
    let server = with_fault(Target::Notification, fault);
    let mut sp = Sp::alpha(d, &server);
    sp.notified(SiRequest::new(msisdn_hint("alpha", Handset::Approve)))
}

fn expect_refused_notification(
    (verdict, status): (Result<Notified, Error>, u16),
    expected: impl Fn(&Error) -> bool,
    expected_status: u16,
) {
    let error = verdict.unwrap_err();
    assert!(expected(&error), "{error:?}");
    assert_eq!(status, expected_status, "{error:?}");
}

fn si_notification_wrong_bearer<D: BackchannelDriver>(d: &D) {
    expect_refused_notification(
        notified_with(d, Fault::Notification(NotificationMutation::WrongBearer)),
        |e| matches!(e, Error::Backchannel(BackchannelError::BearerMismatch)),
        401,
    );
}

fn si_notification_unknown_auth_req_id<D: BackchannelDriver>(d: &D) {
    expect_refused_notification(
        notified_with(
            d,
            Fault::Notification(NotificationMutation::UnknownAuthReqId),
        ),
        |e| matches!(e, Error::Backchannel(BackchannelError::UnknownAuthReqId)),
        400,
    );
}

/// The same notification twice: the same verdict twice (the tokens, 204), so that the
/// operator's retry does not turn a login into a failure.
fn si_notification_duplicate<D: BackchannelDriver>(d: &D) {
    let server = with_fault(
        Target::Notification,
        Fault::Notification(NotificationMutation::Duplicate),
    );
    let mut sp = Sp::alpha(d, &server);
    let request = SiRequest::new(msisdn_hint("alpha", Handset::Approve));
    let sent = sp.sent(request, 2, Duration::from_secs(5));
    let tokens: Vec<Tokens> = sent
        .iter()
        .map(|request| match sp.receive(request) {
            (Ok(Notified::Tokens(tokens)), 204) => tokens,
            other => panic!("expected tokens answered 204, got {other:?}"),
        })
        .collect();
    assert_eq!(
        tokens[0].access_token().expose_secret(),
        tokens[1].access_token().expose_secret()
    );
}

/// A notification after the login's expiry is refused.
fn si_notification_late<D: BackchannelDriver>(d: &D) {
    let server = start(config().backchannel_expiry(SHORT_EXPIRY));
    server.sandbox().set_fault(
        Target::Notification,
        Fault::Notification(NotificationMutation::Late),
    );
    let mut sp = Sp::alpha(d, &server);
    let request = SiRequest::new(msisdn_hint("alpha", Handset::Approve));
    let sent = sp.sent(request, 1, Duration::from_secs(SHORT_EXPIRY + 5));
    expect_refused_notification(
        sp.receive(&sent[0]),
        |e| matches!(e, Error::Backchannel(BackchannelError::Expired { .. })),
        400,
    );
}

fn si_notification_tampered_id_token<D: BackchannelDriver>(d: &D) {
    expect_refused_notification(
        notified_with(
            d,
            Fault::IdToken(IdTokenMutation::Tamper(
                "sub".to_owned(),
                json!("someone-else"),
            )),
        ),
        |e| matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        400,
    );
}

/// `recipient` is checked when present: an id_token without it is taken (operators differ).
fn si_notification_recipient_missing<D: BackchannelDriver>(d: &D) {
    let (verdict, status) = notified_with(d, Fault::IdToken(IdTokenMutation::remove("recipient")));
    assert!(matches!(verdict, Ok(Notified::Tokens(_))), "{verdict:?}");
    assert_eq!(status, 204);
}

fn si_notification_recipient_mismatch<D: BackchannelDriver>(d: &D) {
    expect_refused_notification(
        notified_with(
            d,
            Fault::IdToken(IdTokenMutation::set("recipient", json!(IMPOSTOR_RECIPIENT))),
        ),
        |e| {
            matches!(e, Error::IdToken(IdTokenError::RecipientMismatch { expected, found })
                if expected == SP_NOTIFICATION_URI && found == IMPOSTOR_RECIPIENT)
        },
        400,
    );
}

/// The user declines: an error notification, taken (204), the login refused.
fn si_notification_access_denied<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::alpha(d, &server);
    expect_refused_notification(
        sp.notified(SiRequest::new(msisdn_hint("alpha", Handset::Decline))),
        |e| {
            refused(e, "access_denied", Endpoint::Notification)
                && e.operator_error().unwrap().description.as_deref() == Some("The user declined")
        },
        204,
    );
}

fn si_notification_wrong_pin<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::new(d, &server, "beta", ec_key(), |c| c);
    let request = SiRequest::new(msisdn_hint("beta", Handset::WrongPin)).acr_values([3]);
    expect_refused_notification(
        sp.notified(request),
        |e| {
            refused(e, "access_denied", Endpoint::Notification)
                && e.operator_error().unwrap().description.as_deref() == Some(WRONG_PIN)
        },
        204,
    );
}

// ---------------------------------------------------------------------------------------------
// Request objects the operator refuses.

/// The SI start at alpha of an SP configured by `configure` and signing with `key`: the error.
fn si_start_refused<D: BackchannelDriver>(
    d: &D,
    key: SpSigningKey,
    configure: impl FnOnce(OperatorConfig) -> OperatorConfig,
) -> Error {
    let server = start(config());
    si_start_refused_by(d, &server, Sp::new(d, &server, "alpha", key, configure).op)
}

/// The SI start at the sandbox of `server` with the context `op`: the error.
fn si_start_refused_by<D: BackchannelDriver>(
    d: &D,
    server: &SandboxServer,
    op: Discovered,
) -> Error {
    let sandbox = server.sandbox();
    let request = SiRequest::new(msisdn_hint("alpha", Handset::Approve));
    let start = op.si_authorize(request, &mut entropy(), d.now()).unwrap();
    let error = core(d.execute(start).unwrap_err());
    assert_eq!(sandbox.queued_notifications(), 0);
    error
}

/// The request object signed by a key the SP never registered (under its registered `kid`).
fn si_request_bad_signature<D: BackchannelDriver>(d: &D) {
    let error = si_start_refused(d, unregistered_key(), |c| c);
    assert!(
        refused(&error, "unauthorized_client", Endpoint::SiAuthorization),
        "{error:?}"
    );
}

/// `aud` names another operator: the SP's context has beta's issuer and alpha's endpoint
/// (built without metadata, which would name beta's endpoints).
fn si_request_wrong_aud<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let sandbox = server.sandbox();
    let op = sandbox
        .registry_entry("alpha")
        .unwrap()
        .issuer(sandbox.issuer("beta"))
        .si_authorization(&format!("{}/si-authorize", sandbox.issuer("alpha")))
        .unwrap()
        .notification_uri(SP_NOTIFICATION_URI)
        .unwrap()
        .signing_key(rsa_key())
        .build()
        .unwrap();
    let error = si_start_refused_by(d, &server, op);
    assert!(
        refused(&error, "invalid_request", Endpoint::SiAuthorization),
        "{error:?}"
    );
}

fn si_request_unregistered_notification_uri<D: BackchannelDriver>(d: &D) {
    let error = si_start_refused(d, rsa_key(), |c| {
        c.notification_uri("https://sp.example/elsewhere").unwrap()
    });
    assert!(
        refused(&error, "unauthorized_client", Endpoint::SiAuthorization),
        "{error:?}"
    );
}

/// The SP's genuine SI request at alpha with its request object's claims edited by `edit` and
/// re-signed with the SP's registered key, sent raw; the answer handed to mc-core: the error,
/// which must be the operator's `invalid_request` naming `says`.
fn si_request_edited<D: BackchannelDriver>(d: &D, edit: fn(&mut Value), says: &str) {
    let server = start(config());
    let sp = Sp::alpha(d, &server);
    let request = SiRequest::new(msisdn_hint("alpha", Handset::Approve));
    let start = sp
        .op
        .si_authorize(request, &mut entropy(), d.now())
        .unwrap();
    let genuine = start.request();
    let mut url = url::Url::parse(&genuine.uri().to_string()).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(n, v)| {
            let v = if n == "request" {
                resign(&v, edit)
            } else {
                v.into_owned()
            };
            (n.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let mut edited = http::Request::post(url.as_str());
    for (name, value) in genuine.headers() {
        edited = edited.header(name, value);
    }
    let answer = d.send(edited.body(Vec::new()).unwrap()).unwrap();
    let error = start.respond(answer, d.now()).unwrap_err();
    assert!(
        refused(&error, "invalid_request", Endpoint::SiAuthorization),
        "{error:?}"
    );
    let description = error.operator_error().unwrap().description.clone();
    assert!(
        description.as_deref().unwrap_or_default().contains(says),
        "{description:?}"
    );
}

/// A request object with its claims edited and signed again with the SP's RSA key.
fn resign(jws: &str, edit: fn(&mut Value)) -> String {
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let mut parts = jws.split('.');
    let header = decode(parts.next().unwrap());
    let mut claims = decode(parts.next().unwrap());
    edit(&mut claims);
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(fixture::RSA_B.as_bytes()).unwrap();
    mc_tests::keys::sign_with(&header, &claims, jsonwebtoken::Algorithm::RS256, &key)
}

fn rename(claims: &mut Value, from: &str, to: &str) {
    let members = claims.as_object_mut().unwrap();
    let value = members.remove(from).unwrap();
    members.insert(to.to_owned(), value);
}

fn si_request_case_mismatched_claims<D: BackchannelDriver>(d: &D) {
    si_request_edited(d, |c| rename(c, "login_hint", "Login_Hint"), "Login_Hint");
}

fn si_request_missing_nonce<D: BackchannelDriver>(d: &D) {
    si_request_edited(
        d,
        |c| {
            c.as_object_mut().unwrap().remove("nonce");
        },
        "nonce",
    );
}

fn si_request_inner_client_id_differs<D: BackchannelDriver>(d: &D) {
    si_request_edited(d, |c| c["client_id"] = json!("beta-client-id"), "client_id");
}

fn si_request_inner_scope_differs<D: BackchannelDriver>(d: &D) {
    si_request_edited(
        d,
        |c| c["scope"] = json!("openid mc_authn mc_identity_phonenumber"),
        "scope",
    );
}

fn si_request_inner_response_type_differs<D: BackchannelDriver>(d: &D) {
    si_request_edited(
        d,
        |c| c["response_type"] = json!("mc_si_polling"),
        "response_type",
    );
}

fn si_request_expired<D: BackchannelDriver>(d: &D) {
    si_request_edited(
        d,
        |c| {
            let iat = c["iat"].as_u64().unwrap();
            c["iat"] = json!(iat - 600);
            c["exp"] = json!(iat - 300);
        },
        "expired",
    );
}

// ---------------------------------------------------------------------------------------------
// Polls.

/// The handset never answers: `authorization_pending` until the SP's own expiry ends the wait.
fn si_polling_handset_never_answers<D: BackchannelDriver>(d: &D) {
    let server = start(config().backchannel_expiry(SHORT_EXPIRY));
    let mut sp = Sp::alpha(d, &server);
    let pending = sp
        .start_si(SiRequest::new(msisdn_hint("alpha", Handset::NeverAnswers)).polling())
        .unwrap();
    let error = core(sp.polled(pending).unwrap_err());
    assert!(
        matches!(error, Error::Backchannel(BackchannelError::Expired { .. })),
        "{error:?}"
    );
    assert!(polls(&server) >= 1, "{:?}", server.sandbox().request_log());
    assert!(
        last_poll(&server)
            .body
            .windows(12)
            .any(|w| w == b"auth_req_id="),
        "polled for this login"
    );
}

/// A poll sooner than the interval (the SP polled from a stale copy of its state) is answered
/// `slow_down`, and the state the core hands back waits 5 s longer.
fn ciba_poll_slow_down<D: BackchannelDriver>(d: &D) {
    // Two seconds, so that the second poll, right after the first, is inside the interval
    // even when a second boundary falls between them.
    let server = start(config().poll_interval(2));
    let mut sp = Sp::alpha(d, &server);
    let msisdn = subscriber("alpha", Handset::NeverAnswers);
    let stale = sp
        .start_ciba(CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn))))
        .unwrap();
    let poll_once = |pending: &BackchannelPending| -> BackchannelPending {
        while d.now() < pending.next_poll_at() {
            std::thread::sleep(Duration::from_millis(50));
        }
        match d
            .execute(pending.poll(&sp.op, &mut entropy(), d.now()).unwrap())
            .unwrap()
        {
            Poll::Pending(next) => next,
            Poll::Tokens(_) => panic!("the handset never answers"),
        }
    };
    let waiting = poll_once(&stale);
    assert_eq!(waiting.interval_secs(), 2, "authorization_pending");
    let slowed = poll_once(&stale);
    assert_eq!(slowed.interval_secs(), 2 + 5, "slow_down");
    assert!(slowed.next_poll_at().as_secs() >= d.now().as_secs() + 6);
    assert_eq!(polls(&server), 2);
}

fn ciba_poll_with_fault<D: BackchannelDriver>(d: &D, fault: PollMutation, expiry: u64) -> Error {
    let server = with_fault(Target::Token, Fault::Poll(fault));
    let mut sp = Sp::alpha(d, &server);
    let msisdn = subscriber("alpha", Handset::Approve);
    let request =
        CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn))).requested_expiry(expiry);
    let pending = sp.start_ciba(request).unwrap();
    core(sp.polled(pending).unwrap_err())
}

fn ciba_poll_expired<D: BackchannelDriver>(d: &D) {
    let error = ciba_poll_with_fault(d, PollMutation::Expired, EXPIRY);
    assert!(
        refused(&error, "expired_token", Endpoint::Token),
        "{error:?}"
    );
}

fn ciba_poll_pending_forever<D: BackchannelDriver>(d: &D) {
    let error = ciba_poll_with_fault(d, PollMutation::PendingForever, SHORT_EXPIRY);
    assert!(
        matches!(error, Error::Backchannel(BackchannelError::Expired { .. })),
        "{error:?}"
    );
}

fn ciba_access_denied<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::alpha(d, &server);
    let msisdn = subscriber("alpha", Handset::Decline);
    let pending = sp
        .start_ciba(CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn))))
        .unwrap();
    let error = core(sp.polled(pending).unwrap_err());
    assert!(
        refused(&error, "access_denied", Endpoint::Token),
        "{error:?}"
    );
}

fn ciba_unknown_user<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::alpha(d, &server);
    let error = core(
        sp.start_ciba(CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(
            "447700999999",
        ))))
        .unwrap_err(),
    );
    assert!(
        refused(
            &error,
            "unknown_user_id",
            Endpoint::BackchannelAuthentication
        ),
        "{error:?}"
    );
}

fn ciba_private_key_jwt_unregistered_key<D: BackchannelDriver>(d: &D) {
    let server = start(config());
    let mut sp = Sp::new(d, &server, "alpha", unregistered_key(), |c| {
        c.client_auth(ClientAuth::PrivateKeyJwt)
    });
    let msisdn = subscriber("alpha", Handset::Approve);
    let error = core(
        sp.start_ciba(CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn))))
            .unwrap_err(),
    );
    assert!(
        refused(
            &error,
            "invalid_client",
            Endpoint::BackchannelAuthentication
        ),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// What went on the wire.

fn last_request(server: &SandboxServer, suffix: &str) -> mc_tests::sandbox::LoggedRequest {
    server
        .sandbox()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path().ends_with(suffix))
        .unwrap()
}

fn last_poll(server: &SandboxServer) -> mc_tests::sandbox::LoggedRequest {
    let poll = last_request(server, "/token");
    assert!(form_has(
        &poll.body,
        "grant_type",
        "urn:openid:params:grant-type:ciba"
    ));
    poll
}

fn polls(server: &SandboxServer) -> usize {
    server
        .sandbox()
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/token"))
        .count()
}

fn form_has(body: &[u8], name: &str, value: &str) -> bool {
    url::form_urlencoded::parse(body).any(|(n, v)| n == name && v == value)
}

/// A `private_key_jwt` request: an assertion, no secret, no Basic header.
fn assert_assertion(request: &mc_tests::sandbox::LoggedRequest) {
    assert!(request.header("authorization").is_none());
    assert!(form_has(
        &request.body,
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ));
    assert!(url::form_urlencoded::parse(&request.body).all(|(n, _)| n != "client_secret"));
}
