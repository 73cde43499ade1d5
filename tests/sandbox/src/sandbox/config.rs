//! What a sandbox is set up with: the SP's registered redirect URIs, how discovery sends the
//! browser to the operator selection page, how long the simulated handset takes, the faults
//! switched on from the start (by name, as the `mc-sandbox` binary takes them), and what
//! server-initiated logins need: the SP's notification URIs and public JWKS, the logins'
//! expiry and polling interval, and whether the server POSTs the notifications.

use std::time::Duration;

use serde_json::Value;

use super::catalogue::{SP_NOTIFICATION_URI, SP_REDIRECT_URI};
use super::faults::FaultSwitch;

/// How the discovery service answers when it cannot tell the operator and the browser must go
/// to the operator selection page (deployments do both: an SP must handle both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SelectionAnswer {
    /// HTTP 202 with a JSON `links` array naming the `operatorSelection` page.
    #[default]
    Accepted,
    /// HTTP 302 with the page in `Location`.
    Redirect,
}

impl SelectionAnswer {
    /// `"202"` or `"302"`.
    #[must_use]
    pub fn status(self) -> &'static str {
        match self {
            Self::Accepted => "202",
            Self::Redirect => "302",
        }
    }

    /// From `"202"` or `"302"`.
    ///
    /// # Errors
    /// For anything else, with a message for the user.
    pub fn from_status(value: &str) -> Result<Self, String> {
        match value {
            "202" => Ok(Self::Accepted),
            "302" => Ok(Self::Redirect),
            other => Err(format!("selection answer {other:?}: expected 202 or 302")),
        }
    }
}

/// A sandbox's setup. The default is what the tests have always used: one redirect URI
/// ([`SP_REDIRECT_URI`]), selection by 202, an instant handset, no faults; and for
/// server-initiated logins one notification URI ([`SP_NOTIFICATION_URI`]), no SP JWKS (register
/// one to start Mobile Connect SI logins or use `private_key_jwt`), logins that expire after
/// 120 s, a 5-second polling interval, and notifications POSTed by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// The SP's redirect URIs registered at every operator: an authorization request's
    /// `redirect_uri` must be one of them exactly. Never empty in a working sandbox.
    pub redirect_uris: Vec<String>,
    /// How discovery sends the browser to the operator selection page.
    pub selection: SelectionAnswer,
    /// How long the handset takes to answer (approval, PIN, refusal) over HTTP: the authorize
    /// answer waits this long. In memory it is only reported ([`super::Sandbox::handle_with_delay`]).
    pub handset_delay: Duration,
    /// Faults switched on from the start.
    pub faults: Vec<FaultSwitch>,
    /// The SP's notification URIs registered at every operator: a Mobile Connect SI request
    /// object's `notification_uri` must be one of them exactly; CIBA pings go to the first.
    pub notification_uris: Vec<String>,
    /// The SP's public JWKS registered at every operator from the start
    /// ([`super::Sandbox::register_sp_jwks`]).
    pub sp_jwks: Option<Value>,
    /// A server-initiated login's `expires_in`, in seconds (a CIBA `requested_expiry` may
    /// shorten it).
    pub backchannel_expiry: u64,
    /// The polling interval the operator asks for, in seconds (at least 1).
    pub poll_interval: u64,
    /// Over HTTP ([`crate::SandboxServer`]): whether the server POSTs the notifications to the
    /// SP (true), or leaves them in the outbox for a test to take
    /// ([`super::Sandbox::take_notifications`]). In memory they always stay in the outbox.
    pub deliver_notifications: bool,
    /// The operators (by name) whose authorize endpoint requires a signed request object
    /// (`request`): an authorization request without one is refused with `invalid_request`.
    /// At every operator a request object that is sent is verified against the SP's
    /// registered JWKS whether or not it is required.
    pub request_objects_required: Vec<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            redirect_uris: vec![SP_REDIRECT_URI.to_owned()],
            selection: SelectionAnswer::default(),
            handset_delay: Duration::ZERO,
            faults: Vec::new(),
            notification_uris: vec![SP_NOTIFICATION_URI.to_owned()],
            sp_jwks: None,
            backchannel_expiry: 120,
            poll_interval: 5,
            deliver_notifications: true,
            request_objects_required: Vec::new(),
        }
    }
}

impl SandboxConfig {
    /// Register exactly these redirect URIs (replacing the default).
    #[must_use]
    pub fn redirect_uris<I: IntoIterator<Item = S>, S: Into<String>>(mut self, uris: I) -> Self {
        self.redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// How discovery sends the browser to the selection page.
    #[must_use]
    pub fn selection(mut self, selection: SelectionAnswer) -> Self {
        self.selection = selection;
        self
    }

    /// How long the handset takes to answer.
    #[must_use]
    pub fn handset_delay(mut self, delay: Duration) -> Self {
        self.handset_delay = delay;
        self
    }

    /// Switch a fault on from the start.
    #[must_use]
    pub fn fault(mut self, fault: FaultSwitch) -> Self {
        self.faults.push(fault);
        self
    }

    /// Register exactly these notification URIs (replacing the default).
    #[must_use]
    pub fn notification_uris<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        uris: I,
    ) -> Self {
        self.notification_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// Register the SP's public JWKS at every operator.
    #[must_use]
    pub fn sp_jwks(mut self, jwks: Value) -> Self {
        self.sp_jwks = Some(jwks);
        self
    }

    /// A server-initiated login's `expires_in`, in seconds.
    #[must_use]
    pub fn backchannel_expiry(mut self, secs: u64) -> Self {
        self.backchannel_expiry = secs;
        self
    }

    /// The polling interval, in seconds.
    #[must_use]
    pub fn poll_interval(mut self, secs: u64) -> Self {
        self.poll_interval = secs;
        self
    }

    /// Whether the server POSTs the notifications (true) or leaves them in the outbox.
    #[must_use]
    pub fn deliver_notifications(mut self, deliver: bool) -> Self {
        self.deliver_notifications = deliver;
        self
    }

    /// Make `operator`'s authorize endpoint require a signed request object.
    #[must_use]
    pub fn require_request_objects(mut self, operator: impl Into<String>) -> Self {
        self.request_objects_required.push(operator.into());
        self
    }

    /// Whether `operator`'s authorize endpoint requires a signed request object.
    #[must_use]
    pub fn requires_request_objects(&self, operator: &str) -> bool {
        self.request_objects_required.iter().any(|o| o == operator)
    }
}

/// A whole number of seconds as the binary takes it (`2s`, `120s`, or `2` alone), at least 1.
///
/// # Errors
/// For anything else, with a message for the user.
pub fn parse_seconds(value: &str) -> Result<u64, String> {
    let secs = value.strip_suffix('s').unwrap_or(value);
    match secs.parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(secs),
        _ => Err(format!(
            "{value:?}: expected a whole number of seconds, at least 1 (e.g. 2s)"
        )),
    }
}

/// A duration as the binary takes it: a whole number of milliseconds (`800ms`) or seconds
/// (`2s`).
///
/// # Errors
/// For anything else, with a message for the user.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let number = |digits: &str| digits.parse::<u64>().ok();
    if let Some(ms) = value.strip_suffix("ms").and_then(number) {
        return Ok(Duration::from_millis(ms));
    }
    if let Some(s) = value.strip_suffix('s').and_then(number) {
        return Ok(Duration::from_secs(s));
    }
    Err(format!(
        "duration {value:?}: expected milliseconds or seconds, e.g. 800ms or 2s"
    ))
}

/// A duration as [`parse_duration`] reads it back (`800ms`, `2s`).
#[must_use]
pub fn format_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_back() {
        for (text, duration) in [
            ("800ms", Duration::from_millis(800)),
            ("2s", Duration::from_secs(2)),
            ("0ms", Duration::ZERO),
            ("1500ms", Duration::from_millis(1500)),
        ] {
            assert_eq!(parse_duration(text), Ok(duration));
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        for bad in ["", "800", "ms", "1.5s", "-2s", "2m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_read_back() {
        for (text, secs) in [("2s", 2), ("120", 120), ("1s", 1)] {
            assert_eq!(parse_seconds(text), Ok(secs));
        }
        for bad in ["", "0s", "0", "1.5s", "800ms", "-2s", "2m"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selection_answer_by_status() {
        for answer in [SelectionAnswer::Accepted, SelectionAnswer::Redirect] {
            assert_eq!(SelectionAnswer::from_status(answer.status()), Ok(answer));
        }
        assert!(SelectionAnswer::from_status("200").is_err());
    }
}
