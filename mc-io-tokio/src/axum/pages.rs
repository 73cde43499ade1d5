//! The pages the login routes answer with themselves: the error page and the server-initiated
//! waiting page. Plain HTML, no script, no external asset; a host styles its own through
//! [`Pages`].

use std::fmt::Write as _;
use std::time::Duration;

use ::axum::http::StatusCode;

/// Why a login route failed, for the error page: the HTTP status, the error class and a fixed
/// sentence. Never the error's own text (it may carry the operator's or the browser's words)
/// nor any secret.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginFailure {
    /// The status the page is sent with ([`crate::ServiceError::http_status`] for the service's
    /// errors).
    pub status: StatusCode,
    /// The error class: [`crate::ServiceError::class`] (`refused`, `misbehaving`, `transport`,
    /// `misconfigured`, `unavailable`, `misuse`).
    pub class: &'static str,
    /// What happened, in a sentence for the user.
    pub reason: &'static str,
    /// Where to start again (the login page, else `/`).
    pub home: String,
}

/// The HTML of the pages the login routes render. Implement it to give them the host's look;
/// every method has a plain default ([`DefaultPages`]).
pub trait Pages: Send + Sync + 'static {
    /// The error page (sent with `failure.status`). The default puts the class in the element
    /// `#error`.
    fn error(&self, failure: &LoginFailure) -> String {
        default_error(failure)
    }

    /// The page shown while a server-initiated login waits for the handset. It must reload
    /// itself after `retry_after` without script: `<meta http-equiv="refresh" content="N">`
    /// (N in seconds, at least 1), as the default does.
    fn waiting(&self, retry_after: Duration) -> String {
        default_waiting(retry_after)
    }
}

/// The default pages.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPages;

impl Pages for DefaultPages {}

fn default_error(failure: &LoginFailure) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Login failed</title></head>\n<body>\n<h1>Login failed</h1>\n\
         <p id=\"error\" data-class=\"{class}\"><strong>{class}</strong>: {reason}</p>\n\
         <p><a href=\"{home}\">Start again</a></p>\n</body></html>\n",
        class = escape_html(failure.class),
        reason = escape_html(failure.reason),
        home = escape_html(&failure.home),
    )
}

fn default_waiting(retry_after: Duration) -> String {
    let secs = retry_after.as_secs().max(1);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{secs}\"><title>Confirm on your phone</title>\
         </head>\n<body>\n<h1>Confirm on your phone</h1>\n\
         <p id=\"waiting\">Your phone is asking you to confirm this login. This page checks \
         again in {secs} s.</p>\n</body></html>\n"
    )
}

/// Text for HTML content and quoted attribute values (`&`, `<`, `>`, `"`, `'` and control
/// characters as character references): what a host's own [`Pages`] need for the values they
/// show, every one of which came from an operator or a browser.
///
/// ```
/// assert_eq!(
///     mc_io_tokio::axum::escape_html("<b>\"O'Brien\" & co</b>"),
///     "&lt;b&gt;&quot;O&#39;Brien&quot; &amp; co&lt;/b&gt;"
/// );
/// ```
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pages_carry_what_a_browser_test_reads() {
        let failure = LoginFailure {
            status: StatusCode::FORBIDDEN,
            class: "refused",
            reason: "The login was declined.",
            home: "/\"><script>".to_owned(),
        };
        let page = DefaultPages.error(&failure);
        assert!(page.contains("id=\"error\""), "{page}");
        assert!(page.contains("refused"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        let waiting = DefaultPages.waiting(Duration::ZERO);
        assert!(
            waiting.contains("<meta http-equiv=\"refresh\" content=\"1\">"),
            "{waiting}"
        );
    }
}
