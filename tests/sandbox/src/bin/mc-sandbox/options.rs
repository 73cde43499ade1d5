//! The command line and the config file of `mc-sandbox`.
//!
//! The flags are parsed by hand from `std::env::args`: there are a dozen of them, each a name and
//! at most one value, and a parser crate (lexopt, pico-args) would be one more dependency of a
//! test tool for no behaviour we need. Both `--flag value` and `--flag=value` work.

use std::time::Duration;

use mc_sandbox::sandbox::{
    FaultSwitch, NAMED_FAULTS, SP_NOTIFICATION_URI, SP_REDIRECT_URI, SandboxConfig,
    SelectionAnswer, Target, check_jwks, format_duration, parse_duration, parse_seconds,
};
use serde_json::Value;

/// What to run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Serve the sandbox.
    Serve(Options),
    /// Print the usage.
    Help,
}

/// Where to listen and how the sandbox is set up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// The loopback port (0: any free port).
    pub(crate) port: u16,
    /// The sandbox setup.
    pub(crate) config: SandboxConfig,
    /// Where to write a login-service configuration for this sandbox (`--service-config`).
    pub(crate) service_config: Option<String>,
}

/// The settings read so far: the config file first, then the flags in order (a flag's scalar
/// replaces the file's; `--redirect-uri`, `--notification-uri` and `--fault` add to its lists).
#[derive(Default)]
struct Settings {
    port: Option<u16>,
    redirect_uris: Vec<String>,
    selection: Option<SelectionAnswer>,
    handset_delay: Option<Duration>,
    faults: Vec<FaultSwitch>,
    notification_uris: Vec<String>,
    sp_jwks: Option<Value>,
    backchannel_expiry: Option<u64>,
    poll_interval: Option<u64>,
    service_config: Option<String>,
}

/// An SP URL given on the command line: absolute, http or https.
fn sp_url(what: &str, value: &str) -> Result<String, String> {
    let uri = url::Url::parse(value).map_err(|e| format!("{what} {value:?}: {e}"))?;
    if !matches!(uri.scheme(), "http" | "https") {
        return Err(format!("{what} {value:?}: expected http or https"));
    }
    Ok(value.to_owned())
}

/// The SP's public JWKS from a file.
fn read_jwks(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("SP JWKS {path}: {e}"))?;
    let jwks: Value = serde_json::from_str(&text).map_err(|e| format!("SP JWKS {path}: {e}"))?;
    check_jwks(&jwks).map_err(|e| format!("SP JWKS {path}: {e}"))?;
    Ok(jwks)
}

impl Settings {
    fn into_options(self) -> Options {
        let defaults = SandboxConfig::default();
        let mut config = SandboxConfig::default()
            .selection(self.selection.unwrap_or_default())
            .handset_delay(self.handset_delay.unwrap_or_default())
            .backchannel_expiry(
                self.backchannel_expiry
                    .unwrap_or(defaults.backchannel_expiry),
            )
            .poll_interval(self.poll_interval.unwrap_or(defaults.poll_interval));
        if !self.redirect_uris.is_empty() {
            config = config.redirect_uris(self.redirect_uris);
        }
        if !self.notification_uris.is_empty() {
            config = config.notification_uris(self.notification_uris);
        }
        if let Some(jwks) = self.sp_jwks {
            config = config.sp_jwks(jwks);
        }
        for fault in self.faults {
            config = config.fault(fault);
        }
        Options {
            port: self.port.unwrap_or(0),
            config,
            service_config: self.service_config,
        }
    }

    /// Apply one setting, from a flag or a config file key.
    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "port" => {
                let port = value
                    .parse()
                    .map_err(|_| format!("port {value:?}: expected 0 to 65535"))?;
                self.port = Some(port);
            }
            "redirect-uri" => self.redirect_uris.push(sp_url("redirect URI", value)?),
            "notification-uri" => self
                .notification_uris
                .push(sp_url("notification URI", value)?),
            "sp-jwks" => self.sp_jwks = Some(read_jwks(value)?),
            "backchannel-expiry" => {
                self.backchannel_expiry =
                    Some(parse_seconds(value).map_err(|e| format!("backchannel expiry {e}"))?);
            }
            "poll-interval" => {
                self.poll_interval =
                    Some(parse_seconds(value).map_err(|e| format!("poll interval {e}"))?);
            }
            "selection" => self.selection = Some(SelectionAnswer::from_status(value)?),
            "fault" => self.faults.push(value.parse()?),
            "handset-delay" => self.handset_delay = Some(parse_duration(value)?),
            "service-config" => self.service_config = Some(value.to_owned()),
            other => return Err(format!("unknown option --{other} (see --help)")),
        }
        Ok(())
    }

    /// Apply a JSON config file's settings.
    fn load(&mut self, path: &str) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("config file {path}: {e}"))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| format!("config file {path}: {e}"))?;
        let Value::Object(members) = json else {
            return Err(format!("config file {path}: expected a JSON object"));
        };
        for (key, value) in members {
            // A key names its flag with `_` for `-`; lists hold what the flag takes repeatedly.
            let (name, items) = match (key.as_str(), value) {
                (
                    "port" | "selection" | "handset_delay" | "backchannel_expiry" | "poll_interval",
                    Value::Number(n),
                ) => (key.replace('_', "-"), vec![n.to_string()]),
                (
                    "port" | "selection" | "handset_delay" | "backchannel_expiry" | "poll_interval"
                    | "sp_jwks",
                    Value::String(s),
                ) => (key.replace('_', "-"), vec![s]),
                ("sp_jwks", jwks @ Value::Object(_)) => {
                    check_jwks(&jwks).map_err(|e| format!("config file {path}: sp_jwks: {e}"))?;
                    self.sp_jwks = Some(jwks);
                    continue;
                }
                ("redirect_uris" | "notification_uris" | "faults", Value::Array(items)) => {
                    let flag = match key.as_str() {
                        "faults" => "fault",
                        "notification_uris" => "notification-uri",
                        _ => "redirect-uri",
                    };
                    let items = items
                        .into_iter()
                        .map(|item| match item {
                            Value::String(s) => Ok(s),
                            other => Err(format!(
                                "config file {path}: {key}: {other} is not a string"
                            )),
                        })
                        .collect::<Result<_, _>>()?;
                    (flag.to_owned(), items)
                }
                (
                    known @ ("port" | "selection" | "handset_delay" | "redirect_uris" | "faults"
                    | "notification_uris" | "sp_jwks" | "backchannel_expiry"
                    | "poll_interval"),
                    _,
                ) => {
                    return Err(format!(
                        "config file {path}: {known}: wrong type (see --help)"
                    ));
                }
                (unknown, _) => {
                    return Err(format!(
                        "config file {path}: unknown key {unknown:?} (see --help)"
                    ));
                }
            };
            for item in items {
                self.set(&name, &item)
                    .map_err(|e| format!("config file {path}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// The flags that take a value.
const VALUED: [&str; 11] = [
    "port",
    "redirect-uri",
    "selection",
    "fault",
    "handset-delay",
    "config",
    "notification-uri",
    "sp-jwks",
    "backchannel-expiry",
    "poll-interval",
    "service-config",
];

/// Read the command line (without the program name).
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        }
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None if VALUED.contains(&flag) => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("--{flag} needs a value (see --help)"))?;
                    (flag.to_owned(), value)
                }
                None => return Err(format!("unknown option --{flag} (see --help)")),
            };
            flags.push((name, value));
        } else if arg.bytes().all(|b| b.is_ascii_digit()) && !arg.is_empty() {
            // `mc-sandbox 8080`, as the binary took its port before it had flags.
            flags.push(("port".to_owned(), arg));
        } else {
            return Err(format!("unexpected argument {arg:?} (see --help)"));
        }
    }
    let mut settings = Settings::default();
    // The file first, whatever its place: the flags refine it.
    for (_, path) in flags.iter().filter(|(name, _)| name == "config") {
        settings.load(path)?;
    }
    for (name, value) in flags.iter().filter(|(name, _)| name != "config") {
        settings.set(name, value)?;
    }
    Ok(Command::Serve(settings.into_options()))
}

/// The usage text, with every named fault.
pub(crate) fn usage() -> String {
    let mut text = format!(
        "\
mc-sandbox: a Mobile Connect discovery service and two operator gateways with simulated
handsets, on 127.0.0.1. It prints its URLs, credentials and test MSISDNs on start; the first
line is the base URL alone.

Usage: mc-sandbox [OPTIONS]

Options:
  --port N                  listen on 127.0.0.1:N (default 0: any free port)
  --redirect-uri URI        register the SP's redirect URI (repeatable; default
                            {SP_REDIRECT_URI})
  --selection 202|302       send the browser to operator selection with a 202 and a JSON
                            link (default) or with a 302
  --handset-delay DURATION  the handset answers DURATION late (e.g. 500ms, 2s; default 0ms)
  --fault TARGET[@OPERATOR]=FAULT
                            switch a fault on (repeatable), at every operator or one

Server-initiated logins (Mobile Connect SI at si-authorize, OpenID CIBA at bc-authorize):
  --sp-jwks FILE            register the SP's public JWKS (a JSON {{\"keys\": [...]}} file):
                            SI request objects and private_key_jwt assertions are verified
                            against it (without it, SI requests are unauthorized_client)
  --notification-uri URI    register the SP's notification URI (repeatable; default
                            {SP_NOTIFICATION_URI}); CIBA pings go to the first.
                            Notifications are POSTed when the handset answers: with
                            --handset-delay 0ms one may arrive before the SP has read the
                            si-authorize answer
  --backchannel-expiry SECS a login's expires_in (default 120s)
  --poll-interval SECS      the polling interval asked for (default 5s); polling sooner is
                            answered slow_down

  --service-config FILE     write a configuration file for mc-io-tokio's login service (TOML:
                            this sandbox's discovery service and both operators, the first
                            redirect URI) once listening; the demo SP takes it with --config
  --config FILE             read settings from a JSON file first; flags refine them:
                            {{\"port\": 8080, \"redirect_uris\": [\"http://127.0.0.1:3000/callback\"],
                             \"selection\": \"302\", \"handset_delay\": \"500ms\",
                             \"faults\": [\"token=server-error\"],
                             \"notification_uris\": [\"http://127.0.0.1:3000/notify\"],
                             \"sp_jwks\": \"sp-jwks.json\" (or the document itself),
                             \"backchannel_expiry\": \"60s\", \"poll_interval\": \"2s\"}}
  -h, --help                this text

TARGET: {}
OPERATOR: alpha, beta

FAULT (the endpoints it applies to, if not any):
",
        Target::ALL.map(Target::name).join(", ")
    );
    for named in NAMED_FAULTS {
        let syntax = match named.argument {
            Some(argument) => format!("{}:{argument}", named.name),
            None => named.name.to_owned(),
        };
        let targets = if named.targets.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = named.targets.iter().map(|t| t.name()).collect();
            format!(" [{}]", names.join(", "))
        };
        text.push_str(&format!("  {syntax:<28}{}{targets}\n", named.description));
    }
    text.push_str(&format!(
        "\nExamples:\n  mc-sandbox --port 8080 --redirect-uri http://127.0.0.1:3000/callback\n  \
         mc-sandbox --fault token=server-error --fault jwks=slow:{} --handset-delay 500ms\n  \
         mc-sandbox --sp-jwks sp-jwks.json --notification-uri http://127.0.0.1:3000/notify \\\n    \
         --handset-delay 1s --poll-interval 1s --fault notification=wrong-bearer\n",
        format_duration(Duration::from_millis(800))
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Options {
        match parse(args.iter().map(|a| (*a).to_owned())) {
            Ok(Command::Serve(options)) => options,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_tests_sandbox() {
        let options = serve(&[]);
        assert_eq!(options.port, 0);
        assert_eq!(options.config, SandboxConfig::default());
    }

    #[test]
    fn every_flag() {
        let options = serve(&[
            "--port",
            "8080",
            "--redirect-uri",
            "http://127.0.0.1:3000/callback",
            "--redirect-uri=https://app.example/cb",
            "--selection",
            "302",
            "--handset-delay=500ms",
            "--fault",
            "token@beta=server-error",
            "--notification-uri",
            "http://127.0.0.1:3000/notify",
            "--backchannel-expiry=30s",
            "--poll-interval",
            "2",
            "--service-config",
            "mc.toml",
        ]);
        assert_eq!(options.port, 8080);
        assert_eq!(options.service_config.as_deref(), Some("mc.toml"));
        let config = &options.config;
        assert_eq!(
            config.redirect_uris,
            ["http://127.0.0.1:3000/callback", "https://app.example/cb"]
        );
        assert_eq!(config.selection, SelectionAnswer::Redirect);
        assert_eq!(config.handset_delay, Duration::from_millis(500));
        assert_eq!(config.faults.len(), 1);
        assert_eq!(config.notification_uris, ["http://127.0.0.1:3000/notify"]);
        assert_eq!(config.backchannel_expiry, 30);
        assert_eq!(config.poll_interval, 2);
        assert_eq!(serve(&["9000"]).port, 9000);
    }

    #[test]
    fn the_file_first_then_the_flags() {
        let dir = std::env::temp_dir();
        let jwks_path = dir.join(format!("mc-sandbox-jwks-{}.json", std::process::id()));
        std::fs::write(&jwks_path, r#"{"keys": [{"kty": "EC", "kid": "file"}]}"#).unwrap();
        let path = dir.join(format!("mc-sandbox-{}.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"port": 8080, "redirect_uris": ["http://127.0.0.1:3000/cb"], "selection": 302,
                "handset_delay": "2s", "faults": ["jwks=slow:800ms"],
                "notification_uris": ["http://127.0.0.1:3000/notify"],
                "sp_jwks": {"keys": [{"kty": "RSA", "kid": "inline"}]},
                "backchannel_expiry": 60, "poll_interval": "2s"}"#,
        )
        .unwrap();
        let path = path.to_str().unwrap();
        let options = serve(&[
            "--port",
            "9000",
            "--config",
            path,
            "--fault",
            "token=redirect",
        ]);
        assert_eq!(
            options.config.sp_jwks,
            Some(serde_json::json!({"keys": [{"kty": "RSA", "kid": "inline"}]}))
        );
        let replaced = serve(&["--config", path, "--sp-jwks", jwks_path.to_str().unwrap()]);
        assert_eq!(replaced.config.sp_jwks.unwrap()["keys"][0]["kid"], "file");
        std::fs::remove_file(path).unwrap();
        std::fs::remove_file(jwks_path).unwrap();
        assert_eq!(options.port, 9000);
        let config = &options.config;
        assert_eq!(config.redirect_uris, ["http://127.0.0.1:3000/cb"]);
        assert_eq!(config.selection, SelectionAnswer::Redirect);
        assert_eq!(config.handset_delay, Duration::from_secs(2));
        let faults: Vec<String> = config.faults.iter().map(ToString::to_string).collect();
        assert_eq!(faults, ["jwks=slow:800ms", "token=redirect"]);
        assert_eq!(config.notification_uris, ["http://127.0.0.1:3000/notify"]);
        assert_eq!((config.backchannel_expiry, config.poll_interval), (60, 2));
    }

    #[test]
    fn mistakes_are_explained() {
        for (args, says) in [
            (&["--port"][..], "needs a value"),
            (&["--port", "http"], "port"),
            (&["--colour"], "unknown option"),
            (&["--selection", "200"], "202 or 302"),
            (&["--redirect-uri", "/callback"], "redirect URI"),
            (&["--fault", "token=teapot"], "no fault"),
            (&["--handset-delay", "soon"], "duration"),
            (&["--config", "/nonexistent/mc-sandbox.json"], "config file"),
            (&["--sp-jwks", "/nonexistent/jwks.json"], "SP JWKS"),
            (&["--notification-uri", "notify"], "notification URI"),
            (&["--poll-interval", "0s"], "poll interval"),
            (&["--backchannel-expiry", "soon"], "backchannel expiry"),
            (&["serve"], "unexpected argument"),
        ] {
            let error = parse(args.iter().map(|a| (*a).to_owned())).unwrap_err();
            assert!(error.contains(says), "{args:?}: {error}");
        }
        assert_eq!(parse(["--help".to_owned()]), Ok(Command::Help));
    }

    #[test]
    fn the_usage_names_every_fault() {
        let usage = usage();
        for named in NAMED_FAULTS {
            assert!(usage.contains(named.name), "{}", named.name);
        }
    }
}
