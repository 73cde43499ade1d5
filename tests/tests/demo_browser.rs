//! The demo SP (mc-io-tokio's `demo` example, with the in-process sandbox) in a real headless
//! Chromium: type a test MSISDN, let Chromium follow the redirects through the sandbox operator
//! (whose simulated handset answers at once) and back, and read the page it lands on. The
//! logged-in and declined pages are screenshot under `target/browser-screenshots/` and their
//! paths printed.
//!
//! Each test starts its own demo (`--port 0`) and its own browser. Skipped (with a note) when
//! Chromium or chromedriver is not installed, unless `CI` is set. The demo must be built first
//! (`cargo test --workspace` does it; `cargo build -p mc-io-tokio --features axum,redis
//! --example demo` otherwise).

use std::error::Error;
use std::time::{Duration, Instant};

use mc_tests::OPERATORS;
use mc_tests::browser::Browser;
use mc_tests::demo::DemoProcess;

type TestResult = Result<(), Box<dyn Error>>;

/// A redirect login: the demo, the sandbox operator and the callback, all on loopback with a
/// handset that answers at once (well under a second here).
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// A server-initiated login: the first check of the waiting page, one refresh (1 s with
/// `--poll-interval 1`), and some slack.
const SERVER_INITIATED_TIMEOUT: Duration = Duration::from_secs(15);
/// How often [`wait_for_text`] reads the element again.
const POLL: Duration = Duration::from_millis(50);

/// Approves at LoA 2 (`acr` 2, `SIM_OK`), and with the right PIN at LoA 3.
const APPROVES: &str = "447700900001";
/// Declines: `access_denied`.
const DECLINES: &str = "447700900009";

/// The sandbox operator that serves `msisdn`: its display name is the demo's operator id.
fn operator_of(msisdn: &str) -> Result<&'static str, Box<dyn Error>> {
    OPERATORS
        .iter()
        .find(|op| op.subscribers.iter().any(|(number, _)| *number == msisdn))
        .map(|op| op.display)
        .ok_or_else(|| format!("no sandbox operator serves {msisdn}").into())
}

/// The browser and the demo, or `None` when the browser is not installed (outside CI).
async fn start(args: &[&str]) -> Result<Option<(Browser, DemoProcess)>, Box<dyn Error>> {
    let Some(browser) = Browser::start().await? else {
        return Ok(None);
    };
    let demo = DemoProcess::start(args)?;
    Ok(Some((browser, demo)))
}

/// Wait until the element matching `css` reads `expected`. Unlike [`Browser::wait_for`], this
/// sees a change on a page that already has the element (the logged-in page after step-up);
/// while a navigation is under way, a missing or stale element is read again.
async fn wait_for_text(
    browser: &Browser,
    css: &str,
    expected: &str,
    timeout: Duration,
) -> TestResult {
    let deadline = Instant::now() + timeout;
    loop {
        let last = browser.text(css).await;
        if matches!(&last, Ok(text) if text == expected) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let url = browser.current_url().await?;
            return Err(format!(
                "`{css}` did not read {expected:?} within {timeout:?} (last: {last:?}, at {url})"
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The address bar shows the demo's home page, without the callback's `code` and `state`.
async fn assert_clean_url(browser: &Browser, demo: &DemoProcess) -> TestResult {
    let url = browser.current_url().await?;
    let query = url.query().unwrap_or_default();
    assert!(
        !query.contains("code=") && !query.contains("state="),
        "the callback's query is in the address bar: {url}"
    );
    assert_eq!(url.as_str(), demo.url("/"), "a clean URL");
    Ok(())
}

#[allow(clippy::print_stdout)]
fn took(test: &str, started: Instant) {
    println!("{test}: {:?}", started.elapsed());
}

#[tokio::test]
async fn an_approved_login_shows_the_pcr_then_steps_up_to_loa_3_and_logs_out() -> TestResult {
    let started = Instant::now();
    let Some((browser, demo)) = start(&[]).await? else {
        return Ok(());
    };
    let operator = operator_of(APPROVES)?;

    browser.goto(&demo.url("/")).await?;
    browser.fill("#msisdn", APPROVES).await?;
    browser.click("#login").await?;
    // Demo → discovery → operator → handset → callback → demo, all followed by Chromium.
    browser.wait_for("#pcr", PAGE_TIMEOUT).await?;

    let pcr = browser.text("#pcr").await?;
    assert!(!pcr.is_empty(), "the PCR is empty");
    assert_eq!(browser.text("#acr").await?, "2");
    assert_eq!(browser.text("#amr").await?, "SIM_OK");
    assert_eq!(browser.text("#phone").await?, format!("+{APPROVES}"));
    assert_eq!(browser.text("#operator").await?, operator);
    assert_clean_url(&browser, &demo).await?;
    browser.keep_screenshot("demo-logged-in").await?;

    // Step-up: the same subscriber again at LoA 3 (the handset's PIN step), same PCR.
    browser.click("#step-up").await?;
    wait_for_text(&browser, "#acr", "3", PAGE_TIMEOUT).await?;
    assert_eq!(browser.text("#amr").await?, "SIM_PIN");
    assert_eq!(browser.text("#pcr").await?, pcr, "the same subscriber");
    assert_eq!(browser.text("#phone").await?, format!("+{APPROVES}"));
    assert_clean_url(&browser, &demo).await?;
    browser.keep_screenshot("demo-stepped-up").await?;

    browser.click("#logout").await?;
    browser.wait_for("#msisdn", PAGE_TIMEOUT).await?;
    browser.find("#login").await?;
    assert!(
        browser.find("#pcr").await.is_err(),
        "the identity is still shown after logout"
    );
    assert_eq!(browser.current_url().await?.as_str(), demo.url("/"));

    browser.close().await?;
    took("approved", started);
    Ok(())
}

#[tokio::test]
async fn a_declined_login_shows_the_error_page_of_class_refused() -> TestResult {
    let started = Instant::now();
    let Some((browser, demo)) = start(&[]).await? else {
        return Ok(());
    };

    browser.goto(&demo.url("/")).await?;
    browser.fill("#msisdn", DECLINES).await?;
    browser.click("#login").await?;
    browser.wait_for("#error", PAGE_TIMEOUT).await?;

    let error = browser.text("#error").await?;
    assert!(error.contains("refused"), "#error reads {error:?}");
    assert_eq!(browser.title().await?, "Login failed");
    assert!(
        browser.find("#pcr").await.is_err(),
        "a declined login shows an identity"
    );
    browser.keep_screenshot("demo-declined").await?;

    // Nobody is logged in: the home page is the login page.
    browser.goto(&demo.url("/")).await?;
    browser.wait_for("#msisdn", PAGE_TIMEOUT).await?;
    assert!(browser.find("#pcr").await.is_err());

    browser.close().await?;
    took("declined", started);
    Ok(())
}

#[tokio::test]
async fn a_server_initiated_login_waits_on_the_refreshing_page_then_shows_the_pcr() -> TestResult {
    let started = Instant::now();
    let Some((browser, demo)) = start(&["--poll-interval", "1"]).await? else {
        return Ok(());
    };
    let operator = operator_of(APPROVES)?;

    browser.goto(&demo.url("/")).await?;
    browser.fill("#msisdn", APPROVES).await?;
    // A server-initiated login needs the operator named (no discovery round trip).
    browser
        .find("#operator-select")
        .await?
        .select_by_label(operator)
        .await?;
    browser.click("#login-si").await?;

    // The waiting page, which refreshes itself (no script) until the handset has answered.
    browser.wait_for("#waiting", PAGE_TIMEOUT).await?;
    assert_eq!(browser.current_url().await?.path(), "/login/wait");
    browser.wait_for("#pcr", SERVER_INITIATED_TIMEOUT).await?;

    assert!(!browser.text("#pcr").await?.is_empty(), "the PCR is empty");
    assert_eq!(browser.text("#phone").await?, format!("+{APPROVES}"));
    assert_eq!(browser.text("#operator").await?, operator);
    assert_eq!(browser.current_url().await?.as_str(), demo.url("/"));
    browser.keep_screenshot("demo-server-initiated").await?;

    browser.close().await?;
    took("server-initiated", started);
    Ok(())
}
