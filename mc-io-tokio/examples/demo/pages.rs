//! The demo's pages: plain HTML with a little inline CSS, no script, no external asset. The
//! elements a browser test reads or clicks have stable ids: `#msisdn`, `#operator-select`,
//! `#login`, `#login-si`, `#select-operator` on the login page; `#operator`, `#pcr`, `#acr`,
//! `#amr`, `#phone`, `#step-up`, `#logout` on the logged-in page; `#error` on the error page;
//! `#waiting` on the waiting page.
//!
//! Every value from the operator (PCR, phone number, amr, ...) is escaped: it is the operator's
//! text, not the demo's.

use std::fmt::Write as _;
use std::time::Duration;

use mc_io_tokio::Identity;
use mc_io_tokio::axum::{LoginFailure, Pages, escape_html};

/// What the login page offers.
#[derive(Clone, Debug)]
pub(crate) struct LoginPage {
    /// The operators of the registry (the select's options).
    pub(crate) operators: Vec<String>,
    /// Whether a discovery service is configured (the selection page button).
    pub(crate) discovery: bool,
    /// The in-process sandbox's test numbers, to show; empty with a real operator.
    pub(crate) test_numbers: Vec<(String, String)>,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5}form{margin:1rem 0}input,select,button{font:inherit;\
padding:.3rem .5rem}button{cursor:pointer}dl{display:grid;grid-template-columns:max-content 1fr;\
gap:.2rem 1rem}dt{font-weight:bold}dd{margin:0;word-break:break-all}.error{color:#a00}\
small{color:#555}";

fn layout(title: &str, head: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">{head}<title>{title}</title>\
         <style>{STYLE}</style></head>\n<body>\n<h1>{title}</h1>\n{body}</body></html>\n",
        title = escape_html(title),
    )
}

impl LoginPage {
    pub(crate) fn render(&self) -> String {
        let mut body = String::from(
            "<form method=\"post\" action=\"/login\">\n\
             <p><label for=\"msisdn\">Mobile number</label><br>\
             <input id=\"msisdn\" name=\"msisdn\" type=\"tel\" autocomplete=\"tel\" \
             placeholder=\"447700900001\"></p>\n\
             <p><label for=\"operator-select\">Operator</label><br>\
             <select id=\"operator-select\" name=\"operator\">",
        );
        if self.discovery {
            body.push_str("<option value=\"\">Find it from my number (discovery)</option>");
        }
        for operator in &self.operators {
            let _ = write!(body, "<option>{}</option>", escape_html(operator));
        }
        body.push_str(
            "</select></p>\n\
             <p><button id=\"login\" type=\"submit\">Log in</button> \
             <button id=\"login-si\" type=\"submit\" formaction=\"/login/si\">\
             Confirm on my phone, no redirect</button></p>\n\
             <p><small>\u{201c}Confirm on my phone\u{201d}: the operator asks the handset \
             (OpenID CIBA); this page waits.</small></p>\n</form>\n",
        );
        if self.discovery {
            body.push_str(
                "<form method=\"post\" action=\"/login\">\
                 <input type=\"hidden\" name=\"selection\" value=\"1\">\
                 <button id=\"select-operator\" type=\"submit\">\
                 Choose my operator on the operator selection page</button></form>\n",
            );
        }
        if !self.test_numbers.is_empty() {
            body.push_str("<h2>Sandbox test numbers</h2>\n<dl>");
            for (number, what) in &self.test_numbers {
                let _ = write!(
                    body,
                    "<dt>{}</dt><dd>{}</dd>",
                    escape_html(number),
                    escape_html(what)
                );
            }
            body.push_str("</dl>\n");
        }
        layout("Log in with your mobile", "", &body)
    }
}

/// The logged-in page.
pub(crate) fn logged_in(identity: &Identity) -> String {
    let amr = identity.amr.join(" ");
    let rows = [
        ("operator", "Operator", identity.operator.as_str()),
        ("pcr", "PCR (your pseudonym)", identity.pcr.as_str()),
        (
            "acr",
            "Level of assurance",
            identity.acr.as_deref().unwrap_or(""),
        ),
        ("amr", "Authenticated by", amr.as_str()),
        (
            "phone",
            "Phone number",
            identity.phone_number.as_deref().unwrap_or(""),
        ),
    ];
    let mut body = String::from("<dl>\n");
    for (id, label, value) in rows {
        let _ = writeln!(
            body,
            "<dt>{label}</dt><dd id=\"{id}\">{}</dd>",
            escape_html(value)
        );
    }
    body.push_str(
        "</dl>\n\
         <form method=\"post\" action=\"/step-up\"><button id=\"step-up\" type=\"submit\">\
         Confirm with PIN</button> <small>(LoA 3: the PIN on your phone)</small></form>\n\
         <form method=\"post\" action=\"/logout\"><button id=\"logout\" type=\"submit\">\
         Log out</button></form>\n",
    );
    layout("You are logged in", "", &body)
}

/// The demo's look for the login routes' own pages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DemoPages;

impl Pages for DemoPages {
    fn error(&self, failure: &LoginFailure) -> String {
        let body = format!(
            "<p id=\"error\" class=\"error\" data-class=\"{class}\"><strong>{class}</strong> \
             ({status}): {reason}</p>\n<p><a href=\"{home}\">Start again</a></p>\n",
            class = escape_html(failure.class),
            status = failure.status.as_u16(),
            reason = escape_html(failure.reason),
            home = escape_html(&failure.home),
        );
        layout("Login failed", "", &body)
    }

    fn waiting(&self, retry_after: Duration) -> String {
        let secs = retry_after.as_secs().max(1);
        let head = format!("<meta http-equiv=\"refresh\" content=\"{secs}\">");
        let body = format!(
            "<p id=\"waiting\">Your phone is asking you to confirm this login. This page checks \
             again in {secs} s.</p>\n"
        );
        layout("Confirm on your phone", &head, &body)
    }
}
