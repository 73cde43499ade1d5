//! What a sandbox is set up with: the SP's registered redirect URIs, how discovery sends the
//! browser to the operator selection page, how long the simulated handset takes, and the faults
//! switched on from the start (by name, as the `mc-sandbox` binary takes them).

use std::time::Duration;

use super::catalogue::SP_REDIRECT_URI;
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
/// ([`SP_REDIRECT_URI`]), selection by 202, an instant handset, no faults.
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
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            redirect_uris: vec![SP_REDIRECT_URI.to_owned()],
            selection: SelectionAnswer::default(),
            handset_delay: Duration::ZERO,
            faults: Vec::new(),
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
    fn selection_answer_by_status() {
        for answer in [SelectionAnswer::Accepted, SelectionAnswer::Redirect] {
            assert_eq!(SelectionAnswer::from_status(answer.status()), Ok(answer));
        }
        assert!(SelectionAnswer::from_status("200").is_err());
    }
}
