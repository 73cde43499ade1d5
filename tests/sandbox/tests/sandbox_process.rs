//! `mc-sandbox` started as a process, the way a user points an app at it: with the app's own
//! redirect URI, reading the base URL from the first line it prints and the operator's issuer
//! and credentials from the rest, then logging in through mc-core and the blocking adapter
//! (the browser flow, and server-initiated logins with the app's own JWKS and notification
//! URI, the notification POSTed by the binary).
//!
//! This test lives in mc-sandbox's package, not in mc-tests, because only here does Cargo build
//! the binary first and name its path (`CARGO_BIN_EXE_mc-sandbox`); from another package the
//! test would have to guess the target directory and hope the binary is fresh.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mc_core::{
    Algorithm, AuthorizeOptions, CibaLoginHint, CibaRequest, ClientAuth, ClientSecret, Discovered,
    DiscoveryOutcome, DiscoveryQuery, Endpoint, Error, Exchange as _, LoginHint, Msisdn,
    Notification, Notified, OperatorConfig, Registration, SiRequest, SpSigningKey, Verified,
};
use mc_io_blocking::{Client, OsEntropy, now};
use mc_sandbox::loopback::{LoopbackServer, Reply};

/// A redirect URI of the user's app: nothing listens there, the test reads the `Location`.
const CALLBACK: &str = "http://127.0.0.1:9/my/callback";

/// A running `mc-sandbox`, killed when dropped (also when a test fails half-way).
struct Running {
    child: Child,
    banner: Vec<String>,
}

impl Running {
    /// Start the binary with `args` on a free port and read its banner.
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mc-sandbox"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mc-sandbox");
        let stdout = child.stdout.take().unwrap();
        let mut running = Self {
            child,
            banner: Vec::new(),
        };
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read the banner");
            let last = line == "Ctrl-C to stop.";
            running.banner.push(line);
            if last {
                return running;
            }
        }
        panic!(
            "mc-sandbox stopped before its banner ended: {:?}",
            running.banner
        );
    }

    /// The first line: the base URL, with the port the system chose.
    fn base(&self) -> &str {
        &self.banner[0]
    }

    /// The value of `key` in the block of `operator` (`  key: value  (note)`).
    fn field(&self, operator: &str, key: &str) -> &str {
        let heading = format!("Operator {operator}:");
        let label = format!("{key}:");
        self.banner
            .iter()
            .skip_while(|line| !line.starts_with(&heading))
            .skip(1)
            .take_while(|line| line.starts_with(' '))
            .find_map(|line| line.trim_start().strip_prefix(label.as_str()))
            .map(|value| value.trim().split("  ").next().unwrap_or_default())
            .unwrap_or_else(|| panic!("no {key} for {operator} in {:?}", self.banner))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The operator context an SP builds from what the sandbox printed: its registry entry, with
/// the endpoints from the provider metadata.
fn operator(client: &Client, sandbox: &Running, name: &str) -> Discovered {
    with_metadata(client, registry_entry(sandbox, name))
}

fn with_metadata(client: &Client, config: OperatorConfig) -> Discovered {
    let metadata = client.execute(config.metadata_exchange().unwrap()).unwrap();
    config.with_metadata(metadata).unwrap().build().unwrap()
}

/// The registry entry of `name` from what the sandbox printed.
fn registry_entry(sandbox: &Running, name: &str) -> OperatorConfig {
    OperatorConfig::new(Registration {
        operator_id: sandbox.field(name, "operator id").to_owned(),
        client_id: sandbox.field(name, "client_id").to_owned(),
        client_secret: ClientSecret::new(sandbox.field(name, "client_secret")),
        redirect_uri: CALLBACK.to_owned(),
    })
    .unwrap()
    .issuer(sandbox.field(name, "issuer"))
}

/// The browser's round trip to the operator: the authorization redirect, the handset, and the
/// callback query the operator sends it back to the app with.
fn callback_query(client: &Client, redirect: &str) -> String {
    let mut visit = http::Request::new(Vec::new());
    *visit.uri_mut() = redirect.parse().unwrap();
    let at_operator = client.send(visit).unwrap();
    let location = at_operator.headers()[http::header::LOCATION]
        .to_str()
        .unwrap();
    let back = url::Url::parse(location).unwrap();
    assert_eq!(
        back.as_str().split('?').next(),
        Some(CALLBACK),
        "back to the app's own redirect URI"
    );
    back.query().unwrap_or_default().to_owned()
}

/// A login at LoA 3 for `msisdn`, up to the callback's code, then the tokens and userinfo.
fn login_at_loa3(
    client: &Client,
    operator: &Discovered,
    msisdn: &str,
) -> Result<(mc_core::Tokens, mc_core::UserInfo), Error> {
    let options = AuthorizeOptions::new()
        .login_hint(LoginHint::Msisdn(Msisdn::new(msisdn)))
        .acr_values([3]);
    let (redirect, flow) = operator.authorize(options, &mut OsEntropy, now())?;
    let query = callback_query(client, redirect.as_str());
    let code = flow.callback(operator, &query, now())?;
    let tokens = client
        .execute(code.token_exchange(operator, now())?)
        .unwrap();
    let userinfo = client.execute(tokens.userinfo(operator)?).unwrap();
    Ok((tokens, userinfo))
}

#[test]
fn loa3_login_with_the_apps_own_redirect_uri() {
    let sandbox = Running::start(&["--redirect-uri", CALLBACK]);
    assert!(sandbox.base().starts_with("http://127.0.0.1:"));
    assert!(sandbox.banner.iter().any(|line| line.trim() == CALLBACK));
    let client = Client::new().unwrap();
    for name in ["alpha", "beta"] {
        let operator = operator(&client, &sandbox, name);
        assert_eq!(operator.issuer(), format!("{}/op/{name}", sandbox.base()));
        let msisdn = if name == "alpha" {
            "447700900001"
        } else {
            "4915100000001"
        };
        let (tokens, userinfo) = login_at_loa3(&client, &operator, msisdn).unwrap();
        assert_eq!(tokens.id_token().acr(), Some("3"));
        assert_eq!(tokens.id_token().amr(), ["SIM_PIN"]);
        assert_eq!(userinfo.phone_number(), Some(format!("+{msisdn}").as_str()));
    }
}

#[test]
fn wrong_pin_is_access_denied() {
    let sandbox = Running::start(&["--redirect-uri", CALLBACK]);
    let client = Client::new().unwrap();
    let operator = operator(&client, &sandbox, "beta");
    let error = login_at_loa3(&client, &operator, "4915100000004").unwrap_err();
    let refusal = error.operator_error().expect("the operator's refusal");
    assert!(refusal.is("access_denied"), "{refusal:?}");
    assert_eq!(refusal.endpoint, Endpoint::Authorization);
    assert_eq!(
        refusal.description.as_deref(),
        Some(mc_sandbox::sandbox::WRONG_PIN)
    );
}

#[test]
fn discovery_names_the_operator_and_selection_comes_by_302() {
    let sandbox = Running::start(&["--selection", "302", "--redirect-uri", CALLBACK]);
    let client = Client::new().unwrap();
    let line = |label: &str| {
        sandbox
            .banner
            .iter()
            .find_map(|line| line.trim_start().strip_prefix(label))
            .map(|value| value.trim().split("  ").next().unwrap_or_default())
            .unwrap()
    };
    let service = mc_core::DiscoveryService::new(
        line("endpoint:"),
        line("client_id:"),
        ClientSecret::new(line("client_secret:")),
        "https://app.example/discovered",
    )
    .unwrap();
    let by_msisdn = DiscoveryQuery::msisdn(Msisdn::new("447700900001"));
    let DiscoveryOutcome::Found(answer) = client
        .execute(service.discover(&by_msisdn, &mut OsEntropy).unwrap())
        .unwrap()
    else {
        panic!("expected an operator");
    };
    let id = answer.serving_operator.clone().unwrap();
    assert_eq!(id, sandbox.field("alpha", "operator id"));
    let config = OperatorConfig::from_discovery(&answer, id, CALLBACK).unwrap();
    assert_eq!(config.id(), "Alpha Mobile");

    let unknown = DiscoveryQuery::by_ip_or_selection();
    let outcome = client
        .execute(service.discover(&unknown, &mut OsEntropy).unwrap())
        .unwrap();
    let DiscoveryOutcome::OperatorSelection { url, .. } = outcome else {
        panic!("expected the selection page, got {outcome:?}");
    };
    assert!(
        url.as_str()
            .starts_with(&format!("{}/discovery/operator-selection", sandbox.base()))
    );
}

/// The app registers its JWKS file and its notification endpoint (a loopback receiver here):
/// an SI login whose tokens the binary POSTs there, and a CIBA login polled with
/// `private_key_jwt`.
#[test]
fn server_initiated_logins_with_the_apps_own_keys() {
    let key = SpSigningKey::from_pem(
        Algorithm::RS256,
        mc_sandbox::fixture::RSA_B.as_bytes(),
        "app-key",
    )
    .unwrap();
    let jwks_path =
        std::env::temp_dir().join(format!("mc-sandbox-app-{}.json", std::process::id()));
    std::fs::write(&jwks_path, SpSigningKey::jwks([&key]).unwrap().to_string()).unwrap();
    let (arrived, notifications) = mpsc::channel();
    let receiver =
        LoopbackServer::serve(TcpListener::bind("127.0.0.1:0").unwrap(), move |request| {
            let _ = arrived.send(request.clone());
            Reply::status(204)
        })
        .unwrap();
    let notify = receiver.url("/notify");
    let sandbox = Running::start(&[
        "--sp-jwks",
        jwks_path.to_str().unwrap(),
        "--notification-uri",
        &notify,
        "--poll-interval",
        "1s",
        "--handset-delay",
        "300ms",
    ]);
    std::fs::remove_file(&jwks_path).unwrap();
    assert!(
        sandbox
            .field("alpha", "si-authorize")
            .ends_with("/op/alpha/si-authorize")
    );
    assert!(
        sandbox
            .banner
            .iter()
            .any(|line| line.contains("kids: app-key"))
    );
    let client = Client::new().unwrap();
    let config = registry_entry(&sandbox, "alpha")
        .notification_uri(&notify)
        .unwrap()
        .signing_key(key);
    let operator = with_metadata(&client, config.clone());

    let request = SiRequest::new(LoginHint::Msisdn(Msisdn::new("447700900001")));
    let start = operator
        .si_authorize(request, &mut OsEntropy, now())
        .unwrap();
    let pending = client.execute(start).unwrap();
    let posted = notifications.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(posted.method, "POST");
    assert_eq!(posted.path(), "/notify");
    let mut inbound = http::Request::post(notify.as_str());
    for (name, value) in &posted.headers {
        inbound = inbound.header(name.as_str(), value.as_str());
    }
    let inbound = inbound.body(posted.body).unwrap();
    let notification = Notification::parse(&inbound).unwrap();
    let notified = match pending.accept(&operator, notification, now()).unwrap() {
        Verified::Done(notified) => notified,
        Verified::NeedJwks(refetch) => {
            let keys = client.send(refetch.request()).unwrap();
            refetch.respond(keys, now()).unwrap()
        }
    };
    let Notified::Tokens(tokens) = notified else {
        panic!("expected tokens, got {notified:?}");
    };
    assert_eq!(tokens.id_token().acr(), Some("2"));

    let ciba = with_metadata(&client, config.client_auth(ClientAuth::PrivateKeyJwt));
    let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new("447700900003")));
    let pending = client
        .execute(ciba.ciba_authorize(request, &mut OsEntropy, now()).unwrap())
        .unwrap();
    let tokens = client.poll_for_tokens(&ciba, pending).unwrap();
    assert_eq!(tokens.id_token().amr(), ["SIM_PIN"]);
}

#[test]
fn writes_a_login_service_configuration_for_itself() {
    let path = std::env::temp_dir().join(format!("mc-sandbox-service-{}.toml", std::process::id()));
    let sandbox = Running::start(&[
        "--redirect-uri",
        CALLBACK,
        "--service-config",
        path.to_str().expect("a UTF-8 temp dir"),
    ]);
    let text = std::fs::read_to_string(&path).expect("the configuration was written");
    let _ = std::fs::remove_file(&path);
    assert!(
        text.contains(&format!("redirect_uri = \"{CALLBACK}\"")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "endpoint = \"{}/discovery/v2/discovery\"",
            sandbox.base()
        )),
        "{text}"
    );
    for operator in ["alpha", "beta"] {
        let issuer = format!("issuer = \"{}\"", sandbox.field(operator, "issuer"));
        assert!(text.contains(&issuer), "{issuer} in {text}");
    }
}
