//! The demo SP (mc-io-tokio's `demo` example: the login service's axum routes and pages) as a
//! process, driven over HTTP by [`mc_tests::demo::Browser`], a plain client that follows no
//! redirect and keeps its cookies by hand, as a browser would: every hop of every login is
//! checked, and every answer of the demo carries `Cache-Control: no-store` and
//! `Referrer-Policy: no-referrer`. One instance with its in-process sandbox per test; several
//! instances sharing one Redis are `demo_redis.rs`.
//!
//! The demo must be built first (`cargo test --workspace` does it;
//! `cargo build -p mc-io-tokio --features axum,redis --example demo` otherwise).

use std::collections::BTreeMap;
use std::time::Duration;

use mc_tests::demo::{Browser, DemoProcess};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The demo with the in-process sandbox.
fn demo(args: &[&str]) -> Result<(DemoProcess, Browser)> {
    let demo = DemoProcess::start(args)?;
    let browser = Browser::new(&demo)?;
    Ok((demo, browser))
}

#[tokio::test]
async fn a_login_by_msisdn_ends_on_a_clean_url_showing_the_identity() -> Result {
    let (demo, mut browser) = demo(&[])?;

    let start = browser
        .post(&demo.url("/login"), &[("msisdn", "447700900001")])
        .await?;
    start.expect(303)?;
    let cookie = start.set_cookie("mc_login").ok_or("no login cookie")?;
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: {cookie}"
    );

    let callback = browser.through_operator(&start).await?;
    callback.expect(303)?;
    assert_eq!(callback.location()?.as_str(), demo.url("/"), "a clean URL");
    assert!(
        callback
            .set_cookie("mc_login")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the login cookie is cleared: {:?}",
        callback.headers
    );
    assert!(browser.cookie(demo.base_url(), "demo_session").is_some());

    let page = browser.get(&demo.url("/")).await?;
    page.expect(200)?;
    let pcr = page.element("pcr").ok_or("no #pcr")?;
    assert!(!pcr.is_empty(), "{}", page.body);
    assert_eq!(page.element("acr"), Some("2"));
    assert_eq!(page.element("amr"), Some("SIM_OK"));
    assert_eq!(page.element("phone"), Some("+447700900001"));
    assert_eq!(page.element("operator"), Some("Alpha Mobile"));
    Ok(())
}

#[tokio::test]
async fn a_replayed_callback_is_400() -> Result {
    let (demo, mut browser) = demo(&[])?;
    let start = browser
        .post(&demo.url("/login"), &[("msisdn", "447700900001")])
        .await?;
    let login_cookie = browser
        .cookie(demo.base_url(), "mc_login")
        .ok_or("no login cookie")?;
    let back = browser.get(start.location()?.as_str()).await?;
    let callback = back.location()?;
    browser.get(callback.as_str()).await?.expect(303)?;

    // The same callback again, with the same login cookie (an attacker who saw both).
    let replay = browser
        .send(
            http::Method::GET,
            callback.as_str(),
            None,
            &[("cookie", &format!("mc_login={login_cookie}"))],
        )
        .await?;
    replay.expect(400)?;
    assert!(
        replay
            .element("error")
            .is_some_and(|e| e.contains("refused")),
        "{}",
        replay.body
    );
    Ok(())
}

#[tokio::test]
async fn a_callback_without_the_login_cookie_is_400_and_leaves_the_login_alone() -> Result {
    let (demo, mut browser) = demo(&[])?;
    let start = browser
        .post(&demo.url("/login"), &[("msisdn", "447700900001")])
        .await?;
    let back = browser.get(start.location()?.as_str()).await?;
    let callback = back.location()?;

    // Another browser (no cookie) at this browser's callback URL.
    let mut stranger = Browser::new(&demo)?;
    let refused = stranger.get(callback.as_str()).await?;
    refused.expect(400)?;
    assert!(
        refused
            .element("error")
            .is_some_and(|e| e.contains("refused")),
        "{}",
        refused.body
    );

    // Refused before the store was asked: the browser that started the login finishes it.
    browser.get(callback.as_str()).await?.expect(303)?;
    Ok(())
}

#[tokio::test]
async fn a_declined_login_is_a_403_error_page_of_class_refused() -> Result {
    let (demo, mut browser) = demo(&[])?;
    let declined = browser.log_in("447700900009").await?;
    declined.expect(403)?;
    let error = declined.element("error").ok_or("no #error")?;
    assert!(error.contains("refused"), "{}", declined.body);
    assert!(
        declined
            .set_cookie("mc_login")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    assert!(browser.cookie(demo.base_url(), "demo_session").is_none());
    Ok(())
}

#[tokio::test]
async fn step_up_reaches_loa_3_for_the_same_subscriber_in_a_new_session() -> Result {
    let (demo, mut browser) = demo(&[])?;
    browser.log_in("447700900001").await?.expect(303)?;
    let before = browser.get(&demo.url("/")).await?;
    let pcr = before.element("pcr").ok_or("no #pcr")?.to_owned();
    let session = browser
        .cookie(demo.base_url(), "demo_session")
        .ok_or("no session")?;

    let start = browser.post(&demo.url("/step-up"), &[]).await?;
    start.expect(303)?;
    let operator = start.location()?;
    let query: BTreeMap<_, _> = operator.query_pairs().into_owned().collect();
    assert_eq!(query.get("acr_values").map(String::as_str), Some("3"));
    assert_eq!(
        query.get("login_hint").map(String::as_str),
        Some(&*format!("PCR:{pcr}"))
    );
    browser.through_operator(&start).await?.expect(303)?;

    let after = browser.get(&demo.url("/")).await?;
    assert_eq!(after.element("acr"), Some("3"), "{}", after.body);
    assert_eq!(after.element("amr"), Some("SIM_PIN"));
    assert_eq!(after.element("pcr"), Some(&*pcr));
    let cycled = browser
        .cookie(demo.base_url(), "demo_session")
        .ok_or("no session")?;
    assert_ne!(cycled, session, "the session id changes at each login");

    // The old session id no longer logs anyone in.
    let mut stale = Browser::new(&demo)?;
    let old = stale
        .send(
            http::Method::GET,
            &demo.url("/"),
            None,
            &[("cookie", &format!("demo_session={session}"))],
        )
        .await?;
    assert!(old.element("pcr").is_none(), "{}", old.body);
    Ok(())
}

#[tokio::test]
async fn step_up_without_a_login_goes_to_the_login_page() -> Result {
    let (demo, mut browser) = demo(&[])?;
    let answer = browser.post(&demo.url("/step-up"), &[]).await?;
    answer.expect(303)?;
    assert_eq!(answer.location()?.as_str(), demo.url("/"));
    assert!(answer.set_cookie("mc_login").is_none());
    Ok(())
}

#[tokio::test]
async fn logout_ends_the_session() -> Result {
    let (demo, mut browser) = demo(&[])?;
    browser.log_in("447700900001").await?.expect(303)?;
    let session = browser
        .cookie(demo.base_url(), "demo_session")
        .ok_or("no session")?;

    let out = browser.post(&demo.url("/logout"), &[]).await?;
    out.expect(303)?;
    assert_eq!(out.location()?.as_str(), demo.url("/"));
    assert!(browser.cookie(demo.base_url(), "demo_session").is_none());
    let page = browser.get(&demo.url("/")).await?;
    assert!(page.element("pcr").is_none(), "{}", page.body);
    assert!(page.body.contains("id=\"msisdn\""), "the login page");

    // Gone on the server too: the old cookie, replayed, logs nobody in.
    let mut stale = Browser::new(&demo)?;
    let old = stale
        .send(
            http::Method::GET,
            &demo.url("/"),
            None,
            &[("cookie", &format!("demo_session={session}"))],
        )
        .await?;
    assert!(old.element("pcr").is_none(), "{}", old.body);
    Ok(())
}

#[tokio::test]
async fn a_server_initiated_login_waits_on_a_refreshing_page_then_logs_in() -> Result {
    let (demo, mut browser) = demo(&["--poll-interval", "1"])?;
    let start = browser
        .post(
            &demo.url("/login/si"),
            &[("msisdn", "447700900001"), ("operator", "Alpha Mobile")],
        )
        .await?;
    start.expect(303)?;
    assert_eq!(start.location()?.as_str(), demo.url("/login/wait"));
    assert!(start.set_cookie("mc_login").is_some());

    let mut done = None;
    for _ in 0..10 {
        let wait = browser.get(&demo.url("/login/wait")).await?;
        if wait.status == 303 {
            done = Some(wait);
            break;
        }
        wait.expect(200)?;
        let refresh = wait
            .body
            .split_once("http-equiv=\"refresh\" content=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .and_then(|(secs, _)| secs.parse::<u64>().ok())
            .ok_or_else(|| format!("no refresh in the waiting page:\n{}", wait.body))?;
        assert!(wait.element("waiting").is_some());
        tokio::time::sleep(Duration::from_secs(refresh)).await;
    }
    let done = done.ok_or("still waiting after 10 checks")?;
    assert_eq!(done.location()?.as_str(), demo.url("/"));
    let page = browser.get(&demo.url("/")).await?;
    assert_eq!(
        page.element("phone"),
        Some("+447700900001"),
        "{}",
        page.body
    );
    assert_eq!(page.element("operator"), Some("Alpha Mobile"));
    Ok(())
}

#[tokio::test]
async fn a_login_through_the_operator_selection_page() -> Result {
    let (demo, mut browser) = demo(&[])?;
    let start = browser
        .post(&demo.url("/login"), &[("selection", "1")])
        .await?;
    start.expect(303)?;
    let page = browser.get(start.location()?.as_str()).await?;
    page.expect(200)?;
    // The page's first operator (Alpha Mobile).
    let link = page
        .body
        .split_once("<a href=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(href, _)| href.replace("&amp;", "&"))
        .ok_or("no operator link")?;
    let chosen = browser.get(&link).await?;
    chosen.expect(302)?;
    // Back at the callback: on to the chosen operator, with a new login cookie.
    let first_cookie = browser.cookie(demo.base_url(), "mc_login");
    let onwards = browser.get(chosen.location()?.as_str()).await?;
    onwards.expect(303)?;
    let second_cookie = browser.cookie(demo.base_url(), "mc_login");
    assert!(second_cookie.is_some() && second_cookie != first_cookie);
    browser.through_operator(&onwards).await?.expect(303)?;
    let page = browser.get(&demo.url("/")).await?;
    assert_eq!(
        page.element("operator"),
        Some("Alpha Mobile"),
        "{}",
        page.body
    );
    Ok(())
}

#[tokio::test]
async fn cross_site_posts_are_refused() -> Result {
    let (demo, mut browser) = demo(&[])?;
    let form = [("msisdn", "447700900001")];
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: [(&str, Headers<'_>, u16); 5] = [
        (
            "fetch metadata: cross-site",
            vec![("sec-fetch-site", "cross-site")],
            403,
        ),
        (
            "fetch metadata: same-site",
            vec![("sec-fetch-site", "same-site")],
            403,
        ),
        (
            "origin of another site",
            vec![("origin", "http://attacker.example")],
            403,
        ),
        ("origin null", vec![("origin", "null")], 403),
        ("own origin", vec![("origin", demo.base_url())], 303),
    ];
    for (case, headers, status) in cases {
        let answer = browser
            .post_with(&demo.url("/login"), &form, &headers)
            .await?;
        assert_eq!(answer.status, status, "{case}: {}", answer.body);
        if status == 403 {
            assert!(answer.set_cookie("mc_login").is_none(), "{case}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn not_a_phone_number_is_400() -> Result {
    let (demo, mut browser) = demo(&[])?;
    let answer = browser
        .post(&demo.url("/login"), &[("msisdn", "12<script>")])
        .await?;
    answer.expect(400)?;
    assert!(
        answer
            .element("error")
            .is_some_and(|e| e.contains("refused"))
    );
    assert!(!answer.body.contains("<script>"));
    Ok(())
}
