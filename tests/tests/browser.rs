//! The headless-Chromium harness (`mc_tests::browser`) against pages served here on loopback:
//! a form round trip with a screenshot, and the sandbox's operator selection page followed back
//! to the SP. Skipped (with a note) when Chromium is not installed, unless `CI` is set.

use std::error::Error;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mc_sandbox::loopback::{LoopbackServer, Recorded, Reply};
use mc_tests::browser::Browser;
use mc_tests::{OPERATORS, SandboxServer};

type TestResult = Result<(), Box<dyn Error>>;
/// The requests a loopback server saw, in order.
type Seen = Arc<Mutex<Vec<Recorded>>>;

const PAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Typed into the form: an ampersand and a `<` for the form encoding and the page's escaping, a
/// non-ASCII letter for the key-by-key typing.
const NAME: &str = "Ada Lovelace & Zoë <3";

const FORM_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Greeter</title>\
    <form method=post action=/greet><label>Name <input id=name name=name autocomplete=off>\
    </label> <button id=submit type=submit>Greet</button></form>";

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(body: &str) -> Reply {
    Reply::status(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><meta charset=utf-8><title>SP</title>{body}"
        ))
}

/// The test's own SP: the form, its target, and a callback page that shows its query. Every
/// request is recorded.
fn sp_server() -> Result<(LoopbackServer, Seen), Box<dyn Error>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recording = Arc::clone(&seen);
    let server = LoopbackServer::serve(
        std::net::TcpListener::bind("127.0.0.1:0")?,
        move |request: &Recorded| {
            recording
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(request.clone());
            match (request.method.as_str(), request.path()) {
                ("GET", "/") => Reply::status(200)
                    .header("Content-Type", "text/html; charset=utf-8")
                    .body(FORM_PAGE),
                ("POST", "/greet") => {
                    let name = url::form_urlencoded::parse(&request.body)
                        .find(|(key, _)| key == "name")
                        .map(|(_, value)| value.into_owned())
                        .unwrap_or_default();
                    html(&format!(
                        "<h1 id=greeting>Hello, {}</h1>",
                        escape_html(&name)
                    ))
                }
                ("GET", "/cb") => {
                    let query = request.target.split_once('?').map_or("", |(_, q)| q);
                    html(&format!("<p id=query>{}</p>", escape_html(query)))
                }
                _ => Reply::status(404),
            }
        },
    )?;
    Ok((server, seen))
}

#[allow(clippy::print_stdout)]
fn report(browser: &Browser) {
    let startup = browser.startup();
    println!(
        "startup: chromedriver listening after {:?}, Chromium session open after {:?} more",
        startup.driver, startup.session
    );
}

#[tokio::test]
async fn fills_a_form_submits_it_and_screenshots_the_result() -> TestResult {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    report(&browser);
    let (server, seen) = sp_server()?;

    browser.goto(&server.url("/")).await?;
    assert_eq!(browser.title().await?, "Greeter");
    browser.fill("#name", NAME).await?;
    browser.click("#submit").await?;
    browser.wait_for("#greeting", PAGE_TIMEOUT).await?;

    assert_eq!(browser.text("#greeting").await?, format!("Hello, {NAME}"));
    assert_eq!(browser.current_url().await?.path(), "/greet");
    let posts: Vec<Recorded> = seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|r| r.method == "POST")
        .cloned()
        .collect();
    assert_eq!(posts.len(), 1, "one form submission");
    let post = posts.first().ok_or("no POST")?;
    assert_eq!(
        post.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(post.body, b"name=Ada+Lovelace+%26+Zo%C3%AB+%3C3");

    browser
        .keep_screenshot("browser-self-test-greeting")
        .await?;
    browser.close().await?;
    Ok(())
}

#[tokio::test]
async fn renders_the_sandbox_operator_selection_and_follows_a_choice_back() -> TestResult {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    report(&browser);
    let sandbox = SandboxServer::start()?;
    let (sp, _) = sp_server()?;

    browser
        .goto(&sandbox.sandbox().selection_url(&sp.url("/cb")))
        .await?;
    assert_eq!(browser.title().await?, "Choose your operator");
    let mut links = Vec::new();
    for link in browser
        .client()
        .find_all(fantoccini::Locator::Css("li a"))
        .await?
    {
        links.push(link.text().await?);
    }
    let displays: Vec<&str> = OPERATORS.iter().map(|o| o.display).collect();
    assert_eq!(links, displays);

    // The first operator's link: the sandbox answers with a redirect to the SP's Redirect_URL.
    browser.click("li:first-child a").await?;
    browser.wait_for("#query", PAGE_TIMEOUT).await?;
    let first = OPERATORS.first().ok_or("no operators")?;
    assert_eq!(
        browser.text("#query").await?,
        format!("mcc_mnc={}", first.mcc_mnc())
    );
    let url = browser.current_url().await?;
    assert_eq!((url.port(), url.path()), (Some(sp.addr().port()), "/cb"));
    Ok(())
}
