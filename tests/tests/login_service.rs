//! The login service (mc-io-tokio) against the sandbox over loopback HTTP, written from the
//! spec (SECURITY.md, the service's module docs, RP-CONFORMANCE.md): every way to start a login
//! and finish it, step-up, every refusal as its typed error with its HTTP status and outcome
//! class, server-initiated logins, the configuration file (ours and the GSMA SDKs' layouts),
//! what `Debug` and the `mc_login` spans may show, and one service shared by concurrent logins.

use std::sync::Arc;
use std::time::Duration;

use mc_io_tokio::service::{
    Finish, Identity, LoggedIn, LoginId, LoginRequest, LoginService, LoginStart, MemoryStore,
    ServiceConfig, SiStatus, StoreError,
};
use mc_io_tokio::{Client, Error, ServiceError};
use mc_tests::sandbox::{IdTokenMutation, SandboxConfig, SelectionAnswer};
use mc_tests::{Fault, Sandbox, SandboxServer, Target, spans};
use serde_json::json;
use url::Url;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The login timeout of the services under test, unless a case shortens it.
const TIMEOUT_SECS: u64 = 60;

struct Setup {
    server: SandboxServer,
    service: LoginService,
}

fn setup() -> Result<Setup> {
    setup_with(SandboxConfig::default())
}

/// A sandbox set up with `config` on a free loopback port, and a service configured from what
/// the sandbox prints for itself.
fn setup_with(config: SandboxConfig) -> Result<Setup> {
    spans::install();
    let server = SandboxServer::start_with("127.0.0.1:0".parse()?, config)?;
    let service = service_for(&server, TIMEOUT_SECS, Arc::new(MemoryStore::default()))?;
    Ok(Setup { server, service })
}

fn service_for(
    server: &SandboxServer,
    login_timeout_secs: u64,
    store: Arc<MemoryStore>,
) -> Result<LoginService> {
    let config = ServiceConfig::from_toml(&server.sandbox().service_config(login_timeout_secs))?;
    Ok(LoginService::with_store(config, store, Client::new()?)?)
}

fn get(url: &Url) -> Result<http::Request<Vec<u8>>> {
    Ok(http::Request::get(url.as_str()).body(Vec::new())?)
}

/// The browser's visit: it is sent back to the SP (the operator after the handset answered, or
/// the selection page after the user chose); the query of that redirect.
async fn visit(client: &Client, url: &Url) -> Result<String> {
    let back = client.send(get(url)?).await?;
    let location = back
        .headers()
        .get(http::header::LOCATION)
        .ok_or_else(|| format!("HTTP {} without a redirect back", back.status()))?
        .to_str()?;
    Ok(Url::parse(location)?.query().unwrap_or_default().to_owned())
}

/// The browser at the operator selection page: it loads the page and follows the link of the
/// operator called `display` (with the number the user typed, if any); the query it brings back.
async fn choose(client: &Client, page: &Url, display: &str, typed: Option<&str>) -> Result<String> {
    let html = String::from_utf8(client.send(get(page)?).await?.into_body())?;
    let end = html
        .find(&format!("\">{display}</a>"))
        .ok_or_else(|| format!("{display} is not on the selection page"))?;
    let before = html.get(..end).unwrap_or_default();
    let start = before.rfind("href=\"").ok_or("no link")? + "href=\"".len();
    let mut link = Url::parse(
        &before
            .get(start..)
            .unwrap_or_default()
            .replace("&amp;", "&"),
    )?;
    if let Some(msisdn) = typed {
        link.query_pairs_mut().append_pair("msisdn", msisdn);
    }
    visit(client, &link).await
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

#[track_caller]
fn assert_unknown_login<T: std::fmt::Debug>(
    outcome: std::result::Result<T, ServiceError>,
    case: &str,
) {
    assert!(
        matches!(outcome, Err(ServiceError::UnknownLogin)),
        "{case}: {outcome:?}"
    );
}

fn logged_in(finish: Finish) -> Result<Box<LoggedIn>> {
    match finish {
        Finish::LoggedIn(login) => Ok(login),
        other => Err(format!("expected a login, got {other:?}").into()),
    }
}

/// A whole browser login: start, the browser at the operator, finish.
async fn login(
    service: &LoginService,
    request: LoginRequest,
) -> Result<(LoginStart, String, Box<LoggedIn>)> {
    let start = service.start(request).await?;
    let query = visit(service.client(), &start.redirect).await?;
    let login = logged_in(service.finish(&start.login_id, &query).await?)?;
    Ok((start, query, login))
}

/// The sandbox operator whose display name (our operator id) is `id`.
fn short_name(id: &str) -> Result<&'static str> {
    mc_tests::OPERATORS
        .iter()
        .find(|o| o.display == id)
        .map(|o| o.name)
        .ok_or_else(|| format!("no sandbox operator {id}").into())
}

/// Where a start sent the browser: the operator's authorization endpoint, with this login hint.
fn assert_sent_to_operator(
    sandbox: &Sandbox,
    start: &LoginStart,
    operator: &str,
    hint: Option<&str>,
) -> Result {
    let authorize = format!("{}/authorize", sandbox.issuer(short_name(operator)?));
    let redirect = &start.redirect;
    assert_eq!(
        redirect.as_str().split('?').next(),
        Some(authorize.as_str())
    );
    let sent = param(redirect, "login_hint");
    match hint {
        Some(prefix) => assert!(
            sent.as_deref().is_some_and(|h| h.starts_with(prefix)),
            "login_hint {sent:?}, expected {prefix}..."
        ),
        None => assert_eq!(sent, None),
    }
    assert_eq!(start.expires_in, Duration::from_secs(TIMEOUT_SECS));
    Ok(())
}

#[tokio::test]
async fn every_way_to_start_a_browser_login_ends_with_the_verified_identity() -> Result {
    let Setup { server, service } = setup()?;
    let alpha_pin = LoginRequest::msisdn("447700900003")?.at_operator("Alpha Mobile");
    let by_ip = LoginRequest::selection().source_ip("198.51.100.23");
    // (case, request, operator, login hint sent, subscriber, acr); amr follows the acr: the
    // OK button at LoA 2, the PIN at LoA 3.
    #[rustfmt::skip]
    let rows = [
        ("by MSISDN through discovery", LoginRequest::msisdn("+44 7700 900001")?,
            "Alpha Mobile", Some("ENCR_MSISDN:"), "447700900001", "2"),
        ("by MSISDN through discovery, signed userinfo", LoginRequest::msisdn("4915100000001")?,
            "Beta Telecom", Some("ENCR_MSISDN:"), "4915100000001", "2"),
        ("by operator id", LoginRequest::operator("Beta Telecom"),
            "Beta Telecom", None, "4915100000001", "2"),
        ("by MSISDN at an operator", alpha_pin,
            "Alpha Mobile", Some("MSISDN:447700900003"), "447700900003", "3"),
        ("LoA 3 asked", LoginRequest::msisdn("447700900001")?.acr_values([3]),
            "Alpha Mobile", Some("ENCR_MSISDN:"), "447700900001", "3"),
        ("discovery by the browser's IP", by_ip,
            "Beta Telecom", None, "4915100000001", "2"),
    ];
    for (case, request, operator, hint, msisdn, acr) in rows {
        let start = service.start(request).await?;
        assert_sent_to_operator(server.sandbox(), &start, operator, hint)?;
        let query = visit(service.client(), &start.redirect).await?;
        let login = logged_in(service.finish(&start.login_id, &query).await?)?;
        let identity = &login.identity;
        assert_eq!(identity.operator, operator, "{case}");
        let pcr = mc_sandbox::fixture::subject(short_name(operator)?, msisdn);
        assert_eq!(Some(identity.pcr.as_str()), pcr.as_deref(), "{case}");
        assert_eq!(login.tokens.sub(), identity.pcr, "{case}");
        assert_eq!(identity.acr.as_deref(), Some(acr), "{case}");
        let amr = if acr == "3" { "SIM_PIN" } else { "SIM_OK" };
        assert_eq!(identity.amr, [amr], "{case}");
        assert!(identity.auth_time.is_some(), "{case}");
        let phone = format!("+{msisdn}");
        assert_eq!(identity.phone_number.as_deref(), Some(phone.as_str()));
        assert_eq!(identity.userinfo.get("sub"), Some(&json!(identity.pcr)));
        // The pending login is taken once: the same callback again is refused.
        assert_unknown_login(service.finish(&start.login_id, &query).await, case);
    }
    Ok(())
}

#[tokio::test]
async fn the_operator_selection_page_leads_to_the_chosen_operator() -> Result {
    // (how discovery sends the browser there, operator chosen, number typed, subscriber, acr)
    #[rustfmt::skip]
    let rows = [
        (SelectionAnswer::Accepted, "Alpha Mobile", None, "447700900001", "2"),
        (SelectionAnswer::Redirect, "Beta Telecom", None, "4915100000001", "2"),
        (SelectionAnswer::Redirect, "Alpha Mobile", Some("447700900003"), "447700900003", "3"),
    ];
    for (answer, operator, typed, msisdn, acr) in rows {
        let case = format!("{} to {operator}, typed {typed:?}", answer.status());
        let Setup { server, service } = setup_with(SandboxConfig::default().selection(answer))?;
        let selection = service.start(LoginRequest::selection()).await?;
        let page = &selection.redirect;
        assert_eq!(page.path(), "/discovery/operator-selection", "{case}");
        assert_eq!(
            param(page, "Redirect_URL").as_deref(),
            Some(server.sandbox().redirect_uri())
        );
        assert!(param(page, "state").is_some(), "{case}: no state");
        let back = choose(service.client(), page, operator, typed).await?;
        let Finish::Redirect(start) = service.finish(&selection.login_id, &back).await? else {
            return Err(format!("{case}: no redirect to the operator").into());
        };
        assert_ne!(start.login_id, selection.login_id, "{case}");
        let hint = typed.map(|_| "ENCR_MSISDN:");
        assert_sent_to_operator(server.sandbox(), &start, operator, hint)?;
        let query = visit(service.client(), &start.redirect).await?;
        let login = logged_in(service.finish(&start.login_id, &query).await?)?;
        assert_eq!(login.identity.operator, operator, "{case}");
        let phone = format!("+{msisdn}");
        assert_eq!(login.identity.phone_number.as_deref(), Some(phone.as_str()));
        assert_eq!(login.identity.acr.as_deref(), Some(acr), "{case}");
        // The selection's pending login was taken when the browser came back.
        assert_unknown_login(service.finish(&selection.login_id, &back).await, &case);
        // The operator chosen is a registry entry (its `mcc_mnc`): one discovery call only.
        assert_eq!(discovery_calls(&server), 1, "{case}");
    }
    Ok(())
}

fn discovery_calls(server: &SandboxServer) -> usize {
    let log = server.sandbox().request_log();
    log.iter()
        .filter(|r| r.contains("/discovery/v2/discovery"))
        .count()
}

#[tokio::test]
async fn a_selection_for_an_operator_outside_the_registry_asks_discovery_again() -> Result {
    let server = SandboxServer::start_with("127.0.0.1:0".parse()?, SandboxConfig::default())?;
    // The sandbox's configuration without its `mcc_mnc` settings: discovery must name the
    // operator the user picked (and its answer's context is cached until its ttl).
    let text: String = server
        .sandbox()
        .service_config(TIMEOUT_SECS)
        .lines()
        .filter(|line| !line.starts_with("mcc_mnc"))
        .map(|line| format!("{line}\n"))
        .collect();
    let config = ServiceConfig::from_toml(&text)?;
    let service =
        LoginService::with_store(config, Arc::new(MemoryStore::default()), Client::new()?)?;
    let selection = service.start(LoginRequest::selection()).await?;
    let back = choose(service.client(), &selection.redirect, "Beta Telecom", None).await?;
    let Finish::Redirect(start) = service.finish(&selection.login_id, &back).await? else {
        return Err("no redirect to the operator".into());
    };
    let query = visit(service.client(), &start.redirect).await?;
    let login = logged_in(service.finish(&start.login_id, &query).await?)?;
    assert_eq!(login.identity.operator, "Beta Telecom");
    assert_eq!(discovery_calls(&server), 2);
    Ok(())
}

#[test]
fn a_malformed_mcc_mnc_setting_is_refused_at_startup() -> Result {
    let server = SandboxServer::start()?;
    let text = server
        .sandbox()
        .service_config(TIMEOUT_SECS)
        .replace("mcc_mnc = \"234_15\"", "mcc_mnc = \"234-15\"");
    let config = ServiceConfig::from_toml(&text)?;
    let refused =
        LoginService::with_store(config, Arc::new(MemoryStore::default()), Client::new()?);
    match refused {
        Err(ServiceError::Config { reason }) => assert!(reason.contains("mcc_mnc"), "{reason}"),
        other => return Err(format!("accepted: {other:?}").into()),
    }
    Ok(())
}

#[tokio::test]
async fn step_up_reaches_loa3_for_the_same_subscriber() -> Result {
    let setup = setup()?;
    let service = &setup.service;
    // (subscriber, operator, acr of the first login)
    let rows = [
        ("447700900001", "Alpha Mobile", "2"),
        ("447700900003", "Alpha Mobile", "3"),
        ("4915100000003", "Beta Telecom", "3"),
    ];
    for (msisdn, operator, first_acr) in rows {
        let (_, _, first) = login(service, LoginRequest::msisdn(msisdn)?).await?;
        let known = &first.identity;
        assert_eq!(known.acr.as_deref(), Some(first_acr), "{msisdn}");
        let start = service.start(LoginRequest::step_up(known)).await?;
        let pcr_hint = format!("PCR:{}", known.pcr);
        assert_eq!(param(&start.redirect, "login_hint"), Some(pcr_hint));
        assert_eq!(param(&start.redirect, "acr_values").as_deref(), Some("3"));
        let query = visit(service.client(), &start.redirect).await?;
        let stepped = logged_in(service.finish(&start.login_id, &query).await?)?;
        let identity = &stepped.identity;
        assert_eq!(
            (identity.operator.as_str(), identity.pcr.as_str()),
            (operator, known.pcr.as_str()),
            "{msisdn}"
        );
        assert_eq!(identity.acr.as_deref(), Some("3"), "{msisdn}");
        assert_eq!(identity.amr, ["SIM_PIN"], "{msisdn}");
    }
    Ok(())
}

/// The ways a login is refused, each provoked through the sandbox by [`provoke`].
#[derive(Clone, Copy, Debug)]
enum Refusal {
    DeclinedHandset,
    ReplayedCallback,
    ExpiredLogin,
    AnotherLoginsCallback,
    NeverIssuedLoginId,
    ForgedSelectionReturn,
    UnknownOperator,
    FullStore,
    SiCheckOfBrowserLogin,
    FinishOfSiLogin,
    SiWithoutNumber,
    StepUpWrongPin,
    StepUpAnotherSubject,
    StepUpUnknownPcr,
}

/// Whether an error is the one a row expects.
type IsExpected = fn(&ServiceError) -> bool;

fn operator_refused(error: &ServiceError, code: &str) -> bool {
    matches!(error, ServiceError::Exchange(Error::Core(mc_core::Error::Refused(e))) if e.is(code))
}

fn callback_refused(error: &ServiceError, expected: fn(&mc_core::CallbackError) -> bool) -> bool {
    matches!(error, ServiceError::Exchange(Error::Core(mc_core::Error::Callback(e))) if expected(e))
}

#[tokio::test]
async fn refusals_are_typed_with_their_http_status_and_class() -> Result {
    use ServiceError::{NoOperator, Store, SubjectMismatch, UnknownLogin, WrongKind};
    use mc_core::CallbackError;
    let setup = setup()?;
    // (case, HTTP status, class, the error)
    #[rustfmt::skip]
    let table: [(Refusal, u16, &str, IsExpected); 14] = [
        (Refusal::DeclinedHandset, 403, "refused", |e| operator_refused(e, "access_denied")),
        (Refusal::ReplayedCallback, 400, "refused", |e| matches!(e, UnknownLogin)),
        (Refusal::ExpiredLogin, 400, "refused", |e| matches!(e, UnknownLogin)),
        (Refusal::AnotherLoginsCallback, 400, "misbehaving",
            |e| callback_refused(e, |c| matches!(c, CallbackError::StateMismatch))),
        (Refusal::NeverIssuedLoginId, 400, "refused", |e| matches!(e, UnknownLogin)),
        (Refusal::ForgedSelectionReturn, 400, "misbehaving",
            |e| callback_refused(e, |c| matches!(c, CallbackError::SelectionStateMismatch))),
        (Refusal::UnknownOperator, 500, "misconfigured",
            |e| matches!(e, ServiceError::UnknownOperator { operator } if operator == "Gamma Net")),
        (Refusal::FullStore, 503, "unavailable",
            |e| matches!(e, Store(StoreError::Full { capacity: 1 }))),
        (Refusal::SiCheckOfBrowserLogin, 400, "refused",
            |e| matches!(e, WrongKind { expected: "server-initiated login" })),
        (Refusal::FinishOfSiLogin, 400, "refused",
            |e| matches!(e, WrongKind { expected: "browser login" })),
        (Refusal::SiWithoutNumber, 500, "misconfigured", |e| matches!(e, NoOperator { .. })),
        (Refusal::StepUpWrongPin, 403, "refused", |e| operator_refused(e, "access_denied")),
        (Refusal::StepUpAnotherSubject, 403, "refused", |e| matches!(e, SubjectMismatch)),
        (Refusal::StepUpUnknownPcr, 403, "refused", |e| operator_refused(e, "invalid_request")),
    ];
    for (case, status, class, expected) in table {
        let error = provoke(case, &setup).await?;
        assert!(expected(&error), "{case:?}: {error:?}");
        assert_eq!(error.http_status().as_u16(), status, "{case:?}: {error:?}");
        assert_eq!(error.class(), class, "{case:?}: {error:?}");
    }
    Ok(())
}

/// Provoke `case` and return the service's error (an error of the test itself when the service
/// accepted what it must refuse).
async fn provoke(case: Refusal, setup: &Setup) -> Result<ServiceError> {
    let Setup { server, service } = setup;
    let client = service.client();
    let alpha = |msisdn: &str| LoginRequest::msisdn(msisdn).map(|r| r.at_operator("Alpha Mobile"));
    let outcome = match case {
        Refusal::DeclinedHandset => {
            let start = service.start(alpha("447700900009")?).await?;
            let query = visit(client, &start.redirect).await?;
            assert_eq!(query_param(&query, "code"), None);
            service.finish(&start.login_id, &query).await.map(drop)
        }
        Refusal::ReplayedCallback => {
            let (start, query, _) = login(service, alpha("447700900001")?).await?;
            service.finish(&start.login_id, &query).await.map(drop)
        }
        Refusal::ExpiredLogin => {
            let brief = service_for(server, 1, Arc::new(MemoryStore::default()))?;
            let start = brief.start(alpha("447700900001")?).await?;
            let query = visit(client, &start.redirect).await?;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            brief.finish(&start.login_id, &query).await.map(drop)
        }
        Refusal::AnotherLoginsCallback => {
            // Two logins in flight; login A is handed login B's callback (code injection).
            let a = service.start(alpha("447700900001")?).await?;
            let b = service.start(alpha("447700900003")?).await?;
            let _ = visit(client, &a.redirect).await?;
            let b_query = visit(client, &b.redirect).await?;
            let outcome = service.finish(&a.login_id, &b_query).await.map(drop);
            // A was consumed by the attempt; B, untouched, still finishes with its own.
            assert_unknown_login(service.finish(&a.login_id, &b_query).await, "A again");
            logged_in(service.finish(&b.login_id, &b_query).await?)?;
            outcome
        }
        Refusal::NeverIssuedLoginId => {
            let query = "code=0123456789abcdef&state=0123456789abcdef";
            service.finish(&LoginId::random(), query).await.map(drop)
        }
        Refusal::ForgedSelectionReturn => {
            // Login CSRF through operator selection: a return with another state is refused,
            // and the browser's selection is spent.
            let selection = service.start(LoginRequest::selection()).await?;
            let forged = "mcc_mnc=234_15&subscriber_id=ATTACKER&state=forged";
            let outcome = service.finish(&selection.login_id, forged).await.map(drop);
            assert_unknown_login(service.finish(&selection.login_id, forged).await, "again");
            outcome
        }
        Refusal::UnknownOperator => service
            .start(LoginRequest::operator("Gamma Net"))
            .await
            .map(drop),
        Refusal::FullStore => {
            let store = Arc::new(MemoryStore::new(1));
            let full = service_for(server, TIMEOUT_SECS, Arc::clone(&store))?;
            let first = full.start(alpha("447700900001")?).await?;
            let outcome = full.start(alpha("447700900003")?).await.map(drop);
            // Nothing half-started: the refused login left nothing behind, the first is intact.
            assert_eq!(store.len(), 1);
            let query = visit(client, &first.redirect).await?;
            logged_in(full.finish(&first.login_id, &query).await?)?;
            assert!(store.is_empty());
            outcome
        }
        Refusal::SiCheckOfBrowserLogin => {
            let start = service.start(alpha("447700900001")?).await?;
            service
                .check_server_initiated(&start.login_id)
                .await
                .map(drop)
        }
        Refusal::FinishOfSiLogin => {
            let id = service
                .start_server_initiated(alpha("447700900001")?)
                .await?;
            let query = "code=0123456789abcdef&state=0123456789abcdef";
            service.finish(&id, query).await.map(drop)
        }
        Refusal::SiWithoutNumber => service
            .start_server_initiated(LoginRequest::operator("Alpha Mobile"))
            .await
            .map(drop),
        Refusal::StepUpWrongPin => {
            let (_, _, known) = login(service, alpha("447700900004")?).await?;
            step_up(service, &known.identity).await?
        }
        Refusal::StepUpAnotherSubject => {
            // The operator authenticates someone else than the PCR it was asked for: its
            // id_token (otherwise valid, re-signed) names another subscriber.
            let (_, _, known) = login(service, alpha("447700900001")?).await?;
            let other = mc_sandbox::fixture::subject("alpha", "447700900003");
            let sandbox = server.sandbox();
            let mutation = IdTokenMutation::set("sub", json!(other));
            sandbox.set_operator_fault("alpha", Target::Token, Fault::IdToken(mutation));
            let outcome = step_up(service, &known.identity).await?;
            sandbox.clear_faults();
            outcome
        }
        Refusal::StepUpUnknownPcr => {
            // An identity the operator never issued (another PCR): the sandbox's authorize
            // endpoint refuses the unknown `PCR:` hint, so this is the operator's refusal.
            let (_, _, known) = login(service, alpha("447700900001")?).await?;
            let mut value = serde_json::to_value(&known.identity)?;
            value["pcr"] = json!("00000000-0000-0000-0000-000000000000");
            let crafted: Identity = serde_json::from_value(value)?;
            step_up(service, &crafted).await?
        }
    };
    outcome
        .err()
        .ok_or_else(|| format!("{case:?} was accepted").into())
}

/// A step-up of `identity`, through the browser.
async fn step_up(
    service: &LoginService,
    identity: &Identity,
) -> Result<std::result::Result<(), ServiceError>> {
    let start = service.start(LoginRequest::step_up(identity)).await?;
    let query = visit(service.client(), &start.redirect).await?;
    Ok(service.finish(&start.login_id, &query).await.map(drop))
}

#[test]
fn phone_numbers_are_checked_before_anything_is_sent() {
    // (as typed, accepted): 6 to 15 ASCII digits, an optional `+`, spaces allowed.
    let rows = [
        ("447700900001", true),
        ("+44 7700 900001", true),
        ("123456", true),
        ("123456789012345", true),
        ("", false),
        ("+", false),
        ("++447700900001", false),
        ("abc", false),
        ("12", false),
        ("12345", false),
        ("1234567890123456", false),
        ("44-7700-900001", false),
        ("٤٤٧٧٠٠", false),
    ];
    for (typed, accepted) in rows {
        match LoginRequest::msisdn(typed) {
            Ok(_) => assert!(accepted, "{typed:?} accepted"),
            Err(error) => {
                assert!(!accepted, "{typed:?} refused: {error:?}");
                assert!(matches!(error, ServiceError::InvalidMsisdn), "{error:?}");
                assert_eq!(error.http_status(), http::StatusCode::BAD_REQUEST);
                assert_eq!(error.class(), "refused");
            }
        }
    }
}

#[tokio::test]
async fn server_initiated_logins_poll_until_the_handset_answers() -> Result {
    let setup = setup_with(SandboxConfig::default().poll_interval(1))?;
    let service = &setup.service;
    // (subscriber, operator, named by the request (else found by discovery), in one call, the
    // phone number logged in or the operator's refusal)
    #[rustfmt::skip]
    let rows = [
        ("447700900001", "Alpha Mobile", true, false, Some("+447700900001")),
        ("4915100000001", "Beta Telecom", true, true, Some("+4915100000001")),
        ("4915100000001", "Beta Telecom", false, false, Some("+4915100000001")),
        ("447700900001", "Alpha Mobile", false, true, Some("+447700900001")),
        ("447700900009", "Alpha Mobile", true, false, None),
        ("4915100000009", "Beta Telecom", true, true, None),
    ];
    let mut running = Vec::new();
    for (msisdn, operator, named, one_call, _) in rows {
        let (service, request) = (service.clone(), LoginRequest::msisdn(msisdn)?);
        let request = if named {
            request.at_operator(operator)
        } else {
            request
        };
        running.push(tokio::spawn(async move {
            if one_call {
                Ok(service.server_initiated(request).await)
            } else {
                waiting_page(&service, request).await
            }
        }));
    }
    for ((msisdn, operator, _, _, phone), task) in rows.into_iter().zip(running) {
        match (task.await??, phone) {
            (Ok(login), Some(phone)) => {
                assert_eq!(login.identity.operator, operator, "{msisdn}");
                assert_eq!(login.identity.phone_number.as_deref(), Some(phone));
                assert_eq!(login.identity.acr.as_deref(), Some("2"), "{msisdn}");
            }
            (Err(error), None) => {
                assert!(operator_refused(&error, "access_denied"), "{error:?}");
                assert_eq!(error.http_status(), http::StatusCode::FORBIDDEN);
                assert_eq!(error.class(), "refused");
            }
            (outcome, _) => return Err(format!("{msisdn}: {outcome:?}").into()),
        }
    }
    Ok(())
}

/// A waiting page: start the login, then ask after each `retry_after` until the handset
/// answered. A finished login is no longer there to ask about.
async fn waiting_page(
    service: &LoginService,
    request: LoginRequest,
) -> Result<std::result::Result<LoggedIn, ServiceError>> {
    let id = service.start_server_initiated(request).await?;
    for _ in 0..10 {
        match service.check_server_initiated(&id).await {
            Ok(SiStatus::Waiting { retry_after }) => {
                assert!(retry_after <= Duration::from_secs(5), "{retry_after:?}");
                tokio::time::sleep(retry_after).await;
            }
            Ok(SiStatus::LoggedIn(login)) => {
                assert_unknown_login(service.check_server_initiated(&id).await, "again");
                return Ok(Ok(*login));
            }
            Ok(other) => return Err(format!("unknown status {other:?}").into()),
            Err(error) => return Ok(Err(error)),
        }
    }
    Err("the handset never answered".into())
}

/// The documented example of the configuration file (the ```toml block of the module docs).
fn documented_example() -> String {
    include_str!("../../mc-io-tokio/src/service/config.rs")
        .lines()
        .skip_while(|line| line.trim() != "//! ```toml")
        .skip(1)
        .take_while(|line| line.trim() != "//! ```")
        .map(|line| line.trim_start_matches("//!").trim_start_matches(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_documented_toml_example_parses() -> Result {
    let config = ServiceConfig::from_toml(&documented_example())?;
    assert_eq!(config.redirect_uri, "https://sp.example/callback");
    assert_eq!(config.login_timeout_secs, 600);
    assert_eq!(
        config.store.redis_url.as_deref(),
        Some("redis://127.0.0.1:6379")
    );
    assert_eq!(config.auth.client_name.as_deref(), Some("Example Shop"));
    assert_eq!(config.auth.binding_message.as_deref(), Some("EX-1"));
    let discovery = config.discovery.as_ref().ok_or("no discovery")?;
    assert_eq!(discovery.endpoint, "https://discovery.example/v2/discovery");
    assert_eq!(
        discovery.redirect_uri.as_deref(),
        Some("https://sp.example/discovered")
    );
    let alpha = config.operators.get("alpha").ok_or("no operator alpha")?;
    assert_eq!(alpha.issuer, "https://op.alpha.example");
    assert_eq!(alpha.client_id, "alpha-client-id");
    assert_eq!(alpha.auth.acr_values.as_deref(), Some("2"));
    assert_eq!(alpha.authorization_endpoint, None);
    Ok(())
}

#[test]
fn our_json_layout_reads_as_the_toml() -> Result {
    let toml = r#"
        redirect_uri = "https://sp.example/callback"
        login_timeout_secs = 300
        metadata_ttl_secs = 3600
        [store]
        memory_capacity = 10
        [auth]
        scope = "openid mc_authn"
        acr_values = "2"
        client_name = "Example Shop"
        [discovery]
        endpoint = "https://discovery.example/v2/discovery"
        client_id = "sp-discovery-client"
        client_secret = "discovery-secret"
        [operators.alpha]
        issuer = "https://op.alpha.example"
        client_id = "alpha-client-id"
        client_secret_env = "MC_ALPHA_SECRET"
        authorization_endpoint = "https://op.alpha.example/authorize"
        token_endpoint = "https://op.alpha.example/token"
        jwks_uri = "https://op.alpha.example/jwks"
        profile = "mobile_connect"
        mcc_mnc = "234_15"
        [operators.alpha.auth]
        acr_values = "3"
    "#;
    let json = r#"{
        "redirect_uri": "https://sp.example/callback",
        "login_timeout_secs": 300,
        "metadata_ttl_secs": 3600,
        "store": { "memory_capacity": 10 },
        "auth": { "scope": "openid mc_authn", "acr_values": "2", "client_name": "Example Shop" },
        "discovery": {
            "endpoint": "https://discovery.example/v2/discovery",
            "client_id": "sp-discovery-client",
            "client_secret": "discovery-secret"
        },
        "operators": { "alpha": {
            "issuer": "https://op.alpha.example",
            "client_id": "alpha-client-id",
            "client_secret_env": "MC_ALPHA_SECRET",
            "authorization_endpoint": "https://op.alpha.example/authorize",
            "token_endpoint": "https://op.alpha.example/token",
            "jwks_uri": "https://op.alpha.example/jwks",
            "profile": "mobile_connect",
            "mcc_mnc": "234_15",
            "auth": { "acr_values": "3" }
        } }
    }"#;
    let from_toml = ServiceConfig::from_toml(toml)?;
    let from_json = ServiceConfig::from_json(json)?;
    assert_eq!(format!("{from_toml:?}"), format!("{from_json:?}"));
    let alpha = from_json.operators.get("alpha").ok_or("no alpha")?;
    assert!(alpha.is_complete());
    assert_eq!(alpha.mcc_mnc.as_deref(), Some("234_15"));
    let auth = from_json.auth.overridden_by(&alpha.auth);
    assert_eq!(auth.levels()?, Some(vec![3]));
    assert_eq!(auth.client_name.as_deref(), Some("Example Shop"));
    Ok(())
}

#[test]
fn gsma_sdk_configurations_map_to_one_default_operator() -> Result {
    let operator_b = "https://operator-b.sandbox.mobileconnect.io";
    // (file, client id, secret, redirect URI, metadata fetched, [scope, acr_values, version,
    // client_name, context, binding_message])
    #[rustfmt::skip]
    let rows = [
        ("java-without-discovery-operator-b.json",
            "MjlkNGM0NWEtYTViMy00MDU4LThiOTctYTQ0YTBhOGMwNmVjOm9wZXJhdG9yLWI=",
            "ZmRiNTM2NmQtMjk3My00MzFjLTgwZGQtYzY1NGNhMmVmODkzOm9wZXJhdG9yLWI=",
            "http://3.8.5.176:8080/mobile-connect/server_side_api/discovery_callback",
            true,
            [Some("openid"), Some("2"), Some("mc_di_v3.0"), Some("SDKTestApp"), None, None]),
        ("php-without-discovery-operator-b.json",
            "M2UyMTcyNzgtNDI0MS00NjhiLWJhMzYtM2UyYjdkMzlmOTJlOm9wZXJhdG9yLWI=",
            "MTMwNzU3YWUtODlmOS00NTkxLWIwYzAtNjA1MmFiMWMzOTIyOm9wZXJhdG9yLWI=",
            "http://localhost/php-server-side-library/public/callback",
            false,
            [Some("openid mc_authz"), None, Some("mc_di_r2_v2.3"), Some("PhpServerSideDemo"),
                Some("demo"), Some("demo auth")]),
    ];
    for (file, client_id, secret, redirect, fetch_metadata, auth) in rows {
        let path = format!("{}/fixtures/config/{file}", env!("CARGO_MANIFEST_DIR"));
        let config = ServiceConfig::from_file(&path)?;
        assert_eq!(config.redirect_uri, redirect, "{file}");
        assert!(config.discovery.is_none(), "{file}: the operator URLs win");
        assert_eq!(
            config.operators.keys().collect::<Vec<_>>(),
            ["default"],
            "{file}"
        );
        let entry = config.operators.get("default").ok_or("no default")?;
        assert_eq!(entry.issuer, operator_b, "{file}");
        assert_eq!(entry.client_id, client_id, "{file}");
        assert_eq!(entry.secret.resolve("default")?.expose_secret(), secret);
        assert_eq!(entry.fetch_metadata, fetch_metadata, "{file}");
        let endpoints = [
            &entry.authorization_endpoint,
            &entry.token_endpoint,
            &entry.userinfo_endpoint,
            &entry.premiuminfo_endpoint,
        ];
        let expected = ["authorize", "accesstoken", "userinfo", "premiuminfo"]
            .map(|path| Some(format!("{operator_b}/oidc/{path}")));
        assert_eq!(endpoints.map(Clone::clone), expected, "{file}");
        let a = &config.auth;
        #[rustfmt::skip]
        let read = [&a.scope, &a.acr_values, &a.version, &a.client_name, &a.context,
            &a.binding_message];
        assert_eq!(read.map(Option::as_deref), auth, "{file}");
        assert!(!format!("{config:?}").contains(secret), "{file}");
        // A usable configuration: the service builds from it (nothing is fetched yet).
        let store = Arc::new(MemoryStore::default());
        LoginService::with_store(config, store, Client::new()?)?;
    }
    Ok(())
}

#[test]
fn unknown_keys_are_refused_by_name() {
    const OPERATOR: &str = "[operators.alpha]\nissuer = \"https://op.example\"\n\
                            client_id = \"id\"\nclient_secret = \"s\"\n";
    const DISCOVERY: &str = "[discovery]\nendpoint = \"https://d.example\"\n\
                             client_id = \"id\"\nclient_secret = \"s\"\n";
    let toml = |section: &str, extra: &str| {
        format!("redirect_uri = \"https://sp.example/cb\"\n{section}{extra}")
    };
    // (case, TOML text, the key the error must name)
    #[rustfmt::skip]
    let rows = [
        ("top level", toml("", "colour = 1\n"), "colour"),
        ("store", toml("[store]\n", "redis_uri = \"r\"\n"), "redis_uri"),
        ("auth", toml("[auth]\n", "acr_value = \"2\"\n"), "acr_value"),
        ("discovery", toml(DISCOVERY, "secret_env = \"X\"\n"), "secret_env"),
        ("operator", toml(OPERATOR, "jwks_url = \"u\"\n"), "jwks_url"),
        ("operator auth", toml(OPERATOR, "[operators.alpha.auth]\ncontexts = \"c\"\n"), "contexts"),
    ];
    for (case, text, key) in rows {
        let parsed = ServiceConfig::from_toml(&text);
        assert!(
            matches!(&parsed, Err(ServiceError::Config { reason }) if reason.contains(key)),
            "TOML {case}: {parsed:?}"
        );
    }
    #[rustfmt::skip]
    let json_rows = [
        (r#"{"redirect_uri": "https://sp.example/cb", "colour": 1}"#, "colour"),
        (r#"{"redirect_uri": "https://sp.example/cb", "operators": {"alpha": {
                "issuer": "https://op.example", "client_id": "id", "client_secret": "s",
                "jwks_url": "u"}}}"#, "jwks_url"),
    ];
    for (text, key) in json_rows {
        let parsed = ServiceConfig::from_json(text);
        assert!(
            matches!(&parsed, Err(ServiceError::Config { reason }) if reason.contains(key)),
            "JSON {key}: {parsed:?}"
        );
    }
}

#[test]
fn secrets_come_from_exactly_one_source_and_errors_never_show_them() -> Result {
    const UNSET: &str = "MC_LOGIN_SERVICE_TEST_NEVER_SET_7F3A";
    const INLINE: &str = "inline-secret-value-91c2";
    let config = |discovery: &str, operator: &str| {
        format!(
            "redirect_uri = \"https://sp.example/cb\"\n\
             [discovery]\nendpoint = \"https://d.example/v2/discovery\"\n\
             client_id = \"sp\"\n{discovery}\n\
             [operators.alpha]\nissuer = \"https://op.example\"\nclient_id = \"id\"\n{operator}\n"
        )
    };
    let inline = format!("client_secret = \"{INLINE}\"");
    let unset = format!("client_secret_env = \"{UNSET}\"");
    let both = format!("client_secret = \"{INLINE}\"\nclient_secret_env = \"PATH\"");
    let from_path = "client_secret_env = \"PATH\"".to_owned();
    // (case, discovery's secret, operator's secret, what the error names, or None if it builds)
    #[rustfmt::skip]
    let rows = [
        ("both inline", inline.clone(), inline.clone(), None),
        ("from a set variable", inline.clone(), from_path, None),
        ("operator's variable unset", inline.clone(), unset.clone(), Some(UNSET)),
        ("discovery's variable unset", unset, inline.clone(), Some(UNSET)),
        ("operator's in both places", inline.clone(), both.clone(), Some("alpha")),
        ("discovery's in both places", both, inline.clone(), Some("discovery")),
        ("operator's missing", inline, String::new(), Some("alpha")),
    ];
    for (case, discovery, operator, names) in rows {
        let parsed = ServiceConfig::from_toml(&config(&discovery, &operator))?;
        let built =
            LoginService::with_store(parsed, Arc::new(MemoryStore::default()), Client::new()?);
        match (built, names) {
            (Ok(_), None) => {}
            (Err(error), Some(names)) => {
                let shown = format!("{error} {error:?}");
                assert!(
                    matches!(error, ServiceError::Config { .. }),
                    "{case}: {shown}"
                );
                assert!(shown.contains(names), "{case}: {shown}");
                assert!(!shown.contains(INLINE), "{case}: {shown}");
                let path = std::env::var("PATH").unwrap_or_default();
                assert!(path.is_empty() || !shown.contains(&path), "{case}: {shown}");
                assert_eq!(error.http_status().as_u16(), 500, "{case}");
                assert_eq!(error.class(), "misconfigured", "{case}");
            }
            (built, _) => return Err(format!("{case}: {built:?}").into()),
        }
    }
    Ok(())
}

#[tokio::test]
async fn debug_output_shows_no_secret_phone_number_or_whole_login_id() -> Result {
    let setup = setup()?;
    let service = &setup.service;
    let request = LoginRequest::msisdn("+44 7700 900001")?.at_operator("Alpha Mobile");
    let start = service.start(request.clone()).await?;
    let query = visit(service.client(), &start.redirect).await?;
    let finish = service.finish(&start.login_id, &query).await?;
    let shown_finish = format!("{finish:?}");
    let login = logged_in(finish)?;
    let selection = service.start(LoginRequest::selection()).await?;
    let hidden = [
        "alpha-client-secret",
        "beta-client-secret",
        "sp-discovery-secret",
        "447700900001",
        "7700 900001",
        start.login_id.as_str(),
        selection.login_id.as_str(),
        &query_param(&query, "code").ok_or("no code")?,
        &query_param(&query, "state").ok_or("no state")?,
        &param(&start.redirect, "nonce").ok_or("no nonce")?,
        &param(&selection.redirect, "state").ok_or("no selection state")?,
        login.tokens.access_token().expose_secret(),
        login.tokens.id_token().jwt().expose_secret(),
    ];
    // (what, its Debug)
    let shown = [
        ("config", format!("{:?}", service.config())),
        ("service", format!("{service:?}")),
        ("request", format!("{request:?}")),
        (
            "step-up request",
            format!("{:?}", LoginRequest::step_up(&login.identity)),
        ),
        ("login id", format!("{:?}", start.login_id)),
        ("login start", format!("{start:?}")),
        ("selection start", format!("{selection:?}")),
        ("finish", shown_finish),
        ("identity", format!("{:?}", login.identity)),
        ("logged in", format!("{login:?}")),
    ];
    for (what, debug) in &shown {
        for secret in hidden {
            assert!(!debug.contains(secret), "{what} shows {secret:?}: {debug}");
        }
    }
    // What they do show: enough to tell them apart.
    let id = format!("{:?}", start.login_id);
    assert!(
        id.contains(start.login_id.as_str().get(..6).unwrap_or("?")),
        "{id}"
    );
    assert!(format!("{:?}", login.identity).contains(&login.identity.pcr));
    Ok(())
}

/// The one `mc_login` span this thread opened since `seen` spans were recorded, as (step,
/// operator, outcome).
fn last_login_span(seen: &mut usize) -> Result<(String, Option<String>, String)> {
    let all = spans::spans();
    let this_thread = std::thread::current().id();
    let mine: Vec<_> = all
        .get(*seen..)
        .unwrap_or_default()
        .iter()
        .filter(|s| s.name == "mc_login" && s.thread == this_thread)
        .collect();
    *seen = all.len();
    let [span] = mine.as_slice() else {
        return Err(format!("{} mc_login spans: {mine:?}", mine.len()).into());
    };
    let field = |name| span.field(name).map(str::to_owned);
    Ok((
        field("step").unwrap_or_default(),
        field("operator"),
        field("outcome").unwrap_or_default(),
    ))
}

#[tokio::test]
async fn each_call_leaves_one_mc_login_span_without_secrets() -> Result {
    let setup = setup_with(SandboxConfig::default().poll_interval(1))?;
    let service = &setup.service;
    let client = service.client();
    let mut seen = spans::spans().len();
    let mut recorded = Vec::new();
    let mut secrets = vec![
        "447700900001".to_owned(),
        "447700900009".to_owned(),
        "4915100000001".to_owned(),
    ];

    let start = service.start(LoginRequest::msisdn("447700900001")?).await?;
    recorded.push(last_login_span(&mut seen)?);
    let query = visit(client, &start.redirect).await?;
    service.finish(&start.login_id, &query).await?;
    recorded.push(last_login_span(&mut seen)?);
    let replay = service.finish(&start.login_id, &query).await;
    assert!(replay.is_err(), "{replay:?}");
    recorded.push(last_login_span(&mut seen)?);
    secrets.extend(param(&start.redirect, "login_hint"));
    secrets.extend(
        ["code", "state"]
            .map(|n| query_param(&query, n))
            .into_iter()
            .flatten(),
    );
    secrets.push(start.login_id.as_str().to_owned());

    let declined = LoginRequest::msisdn("447700900009")?.at_operator("Alpha Mobile");
    let start = service.start(declined).await?;
    recorded.push(last_login_span(&mut seen)?);
    let query = visit(client, &start.redirect).await?;
    let refused = service.finish(&start.login_id, &query).await;
    assert!(refused.is_err(), "{refused:?}");
    recorded.push(last_login_span(&mut seen)?);
    secrets.push(start.login_id.as_str().to_owned());

    let unknown = service.start(LoginRequest::operator("Gamma Net")).await;
    assert!(unknown.is_err(), "{unknown:?}");
    recorded.push(last_login_span(&mut seen)?);

    let si = LoginRequest::msisdn("4915100000001")?.at_operator("Beta Telecom");
    let id = service.start_server_initiated(si).await?;
    recorded.push(last_login_span(&mut seen)?);
    service.check_server_initiated(&id).await?;
    recorded.push(last_login_span(&mut seen)?);
    let never = service.check_server_initiated(&LoginId::random()).await;
    assert!(never.is_err(), "{never:?}");
    recorded.push(last_login_span(&mut seen)?);
    secrets.push(id.as_str().to_owned());

    let alpha = Some("Alpha Mobile");
    let expected = [
        ("start", alpha, "ok"),
        ("finish", alpha, "ok"),
        ("finish", None, "refused"),
        ("start", alpha, "ok"),
        ("finish", alpha, "refused"),
        ("start", Some("Gamma Net"), "misconfigured"),
        ("si_start", Some("Beta Telecom"), "ok"),
        ("si_check", Some("Beta Telecom"), "ok"),
        ("si_check", None, "refused"),
    ];
    let recorded: Vec<_> = recorded
        .iter()
        .map(|(step, operator, outcome)| (step.as_str(), operator.as_deref(), outcome.as_str()))
        .collect();
    assert_eq!(recorded, expected);
    spans::assert_no_secret(&secrets);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_service_serves_concurrent_logins_and_fetches_each_operators_metadata_once() -> Result {
    let Setup { server, service } = setup()?;
    let logins: Vec<_> = (0..20)
        .map(|i| {
            let service = service.clone();
            let (msisdn, operator) = if i % 2 == 0 {
                ("447700900001", "Alpha Mobile")
            } else {
                ("4915100000001", "Beta Telecom")
            };
            tokio::spawn(async move {
                let (_, _, login) = login(&service, LoginRequest::msisdn(msisdn)?).await?;
                assert_eq!(login.identity.operator, operator);
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(login.identity.pcr)
            })
        })
        .collect();
    let mut subjects = std::collections::BTreeSet::new();
    for login in logins {
        subjects.insert(login.await??);
    }
    assert_eq!(subjects.len(), 2, "one PCR per subscriber");
    // Each operator's metadata (and keys) fetched once for the twenty logins: the service
    // builds one context per operator and shares it.
    let log = server.sandbox().request_log();
    let count = |request: &str| log.iter().filter(|r| *r == request).count();
    for (request, expected) in [
        ("POST /discovery/v2/discovery", 20),
        ("GET /op/alpha/.well-known/openid-configuration", 1),
        ("GET /op/beta/.well-known/openid-configuration", 1),
        ("GET /op/alpha/jwks", 1),
        ("GET /op/beta/jwks", 1),
        ("POST /op/alpha/token", 10),
        ("POST /op/beta/token", 10),
    ] {
        assert_eq!(count(request), expected, "{request}");
    }
    Ok(())
}
