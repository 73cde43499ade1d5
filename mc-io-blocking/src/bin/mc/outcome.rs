//! Exit codes, failures and the output: a readable summary, or one stable JSON object.

use std::io::Write as _;

use serde_json::{Map, Value, json};

/// The process's exit status: who is at fault, as mc-core's `ErrorClass` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Everything checked out.
    Ok,
    /// Bad arguments, configuration or a misuse of the library (mc-core `Misuse`).
    Misconfigured,
    /// The operator or the user said no (mc-core `Refused`).
    Refused,
    /// A protocol violation, a token that fails verification, bad metadata (`Misbehaving`).
    Misbehaving,
    /// Connection, timeout, TLS: nothing usable came back.
    Transport,
}

impl Exit {
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Misconfigured => 2,
            Self::Refused => 3,
            Self::Misbehaving => 4,
            Self::Transport => 5,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Misconfigured => "misconfigured",
            Self::Refused => "refused",
            Self::Misbehaving => "misbehaving",
            Self::Transport => "transport",
        }
    }
}

/// Why a command stopped: its exit class, the typed error's name (`BadSignature`,
/// `MetadataIssuerMismatch`, `Timeout`, ...) and its message (never a secret: mc-core's and the
/// adapter's messages redact them).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) kind: String,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(exit: Exit, kind: &str, message: impl Into<String>) -> Self {
        Self {
            exit,
            kind: kind.to_owned(),
            message: message.into(),
        }
    }
}

/// The variant name of an error from its `Debug` form: `IdToken(BadSignature)` -> `BadSignature`,
/// `Timeout { .. }` -> `Timeout`.
pub(crate) fn variant_name(debug: &str) -> String {
    let mut rest = debug;
    loop {
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        let (name, tail) = rest.split_at(end);
        // Wrappers: `Core(..)`, `IdToken(..)`, `Protocol(..)`: the inner error names the rule.
        if matches!(
            name,
            "Core" | "IdToken" | "Protocol" | "Misuse" | "Refused" | "Callback" | "Backchannel"
        ) && tail.starts_with('(')
        {
            rest = &tail[1..];
            continue;
        }
        return name.to_owned();
    }
}

impl From<mc_core::Error> for Failure {
    fn from(e: mc_core::Error) -> Self {
        let exit = match e.class() {
            mc_core::ErrorClass::Refused => Exit::Refused,
            mc_core::ErrorClass::Misbehaving => Exit::Misbehaving,
            _ => Exit::Misconfigured,
        };
        Self {
            exit,
            kind: variant_name(&format!("{e:?}")),
            message: e.to_string(),
        }
    }
}

impl From<mc_core::IdTokenError> for Failure {
    fn from(e: mc_core::IdTokenError) -> Self {
        mc_core::Error::IdToken(e).into()
    }
}

impl From<mc_core::ProtocolError> for Failure {
    fn from(e: mc_core::ProtocolError) -> Self {
        mc_core::Error::Protocol(e).into()
    }
}

impl From<mc_io_blocking::Error> for Failure {
    fn from(e: mc_io_blocking::Error) -> Self {
        let exit = match e {
            mc_io_blocking::Error::Core(core) => return Self::from(core),
            mc_io_blocking::Error::BodyTooLarge { .. } => Exit::Misbehaving,
            mc_io_blocking::Error::Timeout { .. } | mc_io_blocking::Error::Transport { .. } => {
                Exit::Transport
            }
            _ => Exit::Misconfigured,
        };
        Self {
            exit,
            kind: variant_name(&format!("{e:?}")),
            message: e.to_string(),
        }
    }
}

/// One line of `mc metadata`'s findings.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// How bad a finding is: an `error` makes `mc metadata` exit 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// What a command hands back: the exit status, its result (an object whose members are the
/// command's), findings, and the failure if it stopped.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) exit: Exit,
    pub(crate) result: Option<Value>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) error: Option<Failure>,
    /// The readable summary (stdout without `--json`).
    pub(crate) summary: String,
}

impl Report {
    pub(crate) fn ok(result: Value, summary: String) -> Self {
        Self {
            exit: Exit::Ok,
            result: Some(result),
            findings: Vec::new(),
            error: None,
            summary,
        }
    }

    pub(crate) fn failed(failure: Failure) -> Self {
        Self {
            exit: failure.exit,
            result: None,
            findings: Vec::new(),
            error: Some(failure),
            summary: String::new(),
        }
    }

    /// The stable JSON object: `command`, `outcome`, `exit_code`, `result`, `findings`, `error`.
    pub(crate) fn to_json(&self, command: &str) -> Value {
        let findings: Vec<Value> = self
            .findings
            .iter()
            .map(|f| json!({"severity": f.severity.as_str(), "code": f.code, "message": f.message}))
            .collect();
        let error = self
            .error
            .as_ref()
            .map(|f| json!({"class": f.exit.as_str(), "kind": f.kind, "message": f.message}));
        let mut object = Map::new();
        object.insert("command".into(), command.into());
        object.insert("outcome".into(), self.exit.as_str().into());
        object.insert("exit_code".into(), self.exit.code().into());
        object.insert("result".into(), self.result.clone().unwrap_or(Value::Null));
        object.insert("findings".into(), findings.into());
        object.insert("error".into(), error.unwrap_or(Value::Null));
        Value::Object(object)
    }

    pub(crate) fn print(&self, command: &str, as_json: bool) {
        let mut out = std::io::stdout().lock();
        if as_json {
            let text = serde_json::to_string_pretty(&self.to_json(command)).unwrap_or_default();
            let _ = writeln!(out, "{text}");
            return;
        }
        if !self.summary.is_empty() {
            let _ = write!(out, "{}", self.summary);
        }
        if !self.findings.is_empty() {
            let _ = writeln!(out, "findings:");
            for f in &self.findings {
                let _ = writeln!(
                    out,
                    "  {:<7}  {:<23} {}",
                    f.severity.as_str(),
                    f.code,
                    f.message
                );
            }
        }
        if let Some(f) = &self.error {
            let _ = writeln!(
                std::io::stderr(),
                "mc {command}: {} ({}): {}",
                f.exit.as_str(),
                f.kind,
                f.message
            );
        }
    }
}

/// A plain GET run through [`mc_io_blocking::Client::execute`], so that its transport errors
/// name the step (`metadata`, `jwks`); the answer comes back whole, for checks of our own.
#[derive(Debug)]
pub(crate) struct Fetch {
    pub(crate) endpoint: mc_core::Endpoint,
    pub(crate) url: http::Uri,
}

impl mc_core::Exchange for Fetch {
    type Output = mc_core::Verified<http::Response<Vec<u8>>>;

    fn endpoint(&self) -> mc_core::Endpoint {
        self.endpoint
    }

    fn request(&self) -> http::Request<Vec<u8>> {
        let mut request = http::Request::new(Vec::new());
        *request.uri_mut() = self.url.clone();
        request.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        request
    }

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        _now: mc_core::UnixTime,
    ) -> Result<Self::Output, mc_core::Error> {
        Ok(mc_core::Verified::Done(response))
    }
}

impl Fetch {
    /// GET `url` for `endpoint`; an unusable URL is misconfiguration.
    pub(crate) fn get(
        client: &mc_io_blocking::Client,
        endpoint: mc_core::Endpoint,
        url: &str,
    ) -> Result<http::Response<Vec<u8>>, mc_io_blocking::Error> {
        let url = url.parse().map_err(|_| mc_io_blocking::Error::Setup {
            reason: format!("{url} is not a URL"),
        })?;
        client.execute(Self { endpoint, url })
    }
}
