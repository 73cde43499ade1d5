//! The demo's command line, parsed by hand as `mc-sandbox` parses its own (a handful of flags,
//! each a name and at most one value; `--flag value` and `--flag=value`).

use mc_sandbox::FaultSwitch;
use mc_sandbox::sandbox::parse_seconds;

/// What to run.
#[derive(Debug)]
pub(crate) enum Command {
    /// Serve the demo.
    Serve(Options),
    /// Print the usage.
    Help,
}

/// The demo's settings.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// The login service's configuration file (a real operator); none: the in-process sandbox.
    pub(crate) config: Option<String>,
    /// The demo's port on 127.0.0.1 (0: any free port).
    pub(crate) port: u16,
    /// A Redis for pending logins and sessions, over the configuration's `[store]`.
    pub(crate) redis: Option<String>,
    /// The in-process sandbox's port (default: any free port).
    pub(crate) sandbox_port: u16,
    /// The in-process sandbox's polling interval for server-initiated logins, in seconds.
    pub(crate) poll_interval: Option<u64>,
    /// Faults switched on in the in-process sandbox (`TARGET=FAULT`, as `mc-sandbox --fault`).
    pub(crate) faults: Vec<FaultSwitch>,
}

const VALUED: [&str; 6] = [
    "config",
    "port",
    "redis",
    "sandbox-port",
    "poll-interval",
    "fault",
];

fn port(flag: &str, value: &str) -> Result<u16, String> {
    value
        .parse()
        .map_err(|_| format!("--{flag} {value:?}: expected 0 to 65535"))
}

/// Read the command line (without the program name).
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut options = Options {
        port: 3000,
        ..Options::default()
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        }
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?} (see --help)"));
        };
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
        match name.as_str() {
            "config" => options.config = Some(value),
            "port" => options.port = port(&name, &value)?,
            "redis" => options.redis = Some(value),
            "sandbox-port" => options.sandbox_port = port(&name, &value)?,
            "poll-interval" => {
                options.poll_interval =
                    Some(parse_seconds(&value).map_err(|e| format!("--poll-interval {e}"))?);
            }
            "fault" => options.faults.push(value.parse()?),
            other => return Err(format!("unknown option --{other} (see --help)")),
        }
    }
    let sandbox_only =
        options.sandbox_port != 0 || options.poll_interval.is_some() || !options.faults.is_empty();
    if options.config.is_some() && sandbox_only {
        return Err(
            "--sandbox-port, --poll-interval and --fault set up the in-process sandbox, \
             which --config replaces"
                .to_owned(),
        );
    }
    Ok(Command::Serve(options))
}

/// The usage text.
pub(crate) fn usage() -> &'static str {
    "\
demo: a Service Provider web app that logs in with Mobile Connect (mc-io-tokio's login service
on axum). Without --config it starts the sandbox operator in-process, with the demo's callback
registered, and needs no setup. The first line it prints is its base URL alone.

Usage: demo [OPTIONS]

Options:
  --config FILE          the login service's configuration (TOML, or JSON) for real operators;
                         its redirect_uri's path is the demo's callback, and a [store] redis_url
                         keeps pending logins (and the demo's sessions) in Redis
  --port N               listen on 127.0.0.1:N (default 3000; 0: any free port)
  --redis URL            keep pending logins and sessions in this Redis (over the file's [store])
  --sandbox-port N       the in-process sandbox's port (default: any free port)
  --poll-interval SECS   the sandbox's polling interval for server-initiated logins (default 5)
  --fault TARGET=FAULT   switch a sandbox fault on (as mc-sandbox --fault; repeatable)
  -h, --help             this text
"
}
