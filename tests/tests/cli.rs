//! The `mc` command-line tool (mc-io-blocking, feature `cli`) run as a process: logins through
//! its loopback listener against the sandbox and against oidc-provider (the test plays the
//! browser), server-initiated logins (OpenID CIBA and Mobile Connect SI, polled or notified to
//! the listener; the sandbox's handset answers), metadata findings for a bad document, decode
//! and verify of good and tampered tokens, and the exit codes (0 ok, 2 misconfigured, 3
//! refused, 4 misbehaving, 5 transport).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{Algorithm, SpSigningKey};
use mc_sandbox::fixture;
use mc_sandbox::loopback::{LoopbackServer, Reply};
use mc_sandbox::sandbox::SandboxConfig;
use mc_tests::driver::Blocking;
use mc_tests::interop::{self, AuthMethod, Browser, CibaClient, Landing, Peer, PeerClient};
use mc_tests::{Handset, Sandbox, SandboxServer};
use serde_json::{Value, json};

/// How long any one `mc` run may take before the test kills it and fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);
const ISSUER: &str = "https://op.example";
const CLIENT_ID: &str = "cli-client";
const NONCE: &str = "n-0S6_WzA2Mj";
const KEY_PEM: &[u8] = include_bytes!("../sandbox/keys/rsa-b.pem");

/// The `mc` binary in this test binary's profile directory. `cargo test` does not build a
/// dependency's binaries, so it is built (or brought up to date: a no-op when fresh, and never
/// a stale binary from before an edit) once per test process, into the same target directory.
fn mc() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("the test binary sits in <target>/<profile>/deps");
            let binary = profile.join(format!("mc{}", std::env::consts::EXE_SUFFIX));
            let target = profile.parent().expect("the target directory");
            let mut build = Command::new(env!("CARGO"));
            build
                .args(["build", "-q", "-p", "mc-io-blocking", "--features", "cli"])
                .args(["--bin", "mc", "--target-dir"])
                .arg(target);
            if profile.ends_with("release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build for the mc binary");
            assert!(status.success(), "cargo build of the mc binary failed");
            assert!(binary.is_file(), "{} is missing", binary.display());
            binary
        })
        .clone()
}

/// A finished `mc` run.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// A running `mc`: stderr lines arrive on a channel as they are written.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::sync::Arc<Mutex<String>>,
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(mc());
    command
        .args(args)
        .env_remove("MC_TEST_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn mc");
    let (send, lines) = mpsc::channel();
    let stderr = std::sync::Arc::new(Mutex::new(String::new()));
    let pipe = child.stderr.take().expect("stderr piped");
    let copy = std::sync::Arc::clone(&stderr);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            copy.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = send.send(line);
        }
    });
    Running {
        child,
        lines,
        stderr,
    }
}

impl Running {
    /// The next stderr line that satisfies `wanted`, within the run limit.
    fn line(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + RUN_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("mc printed no such line: {}", self.stderr.lock().unwrap()),
            }
        }
    }

    /// Wait for the exit (killing the process past the run limit).
    fn finish(mut self) -> Run {
        let deadline = Instant::now() + RUN_LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for mc") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("mc ran past {RUN_LIMIT:?}: {}", self.stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut stdout).expect("read stdout");
        }
        // The reader thread ends with the pipe; give it a moment to copy the last lines.
        let until = Instant::now() + Duration::from_secs(1);
        while self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .is_ok()
        {}
        let stderr = self.stderr.lock().unwrap().clone();
        Run {
            code: status.code().expect("mc exited (not killed by a signal)"),
            stdout,
            stderr,
        }
    }
}

fn run(args: &[&str]) -> Run {
    spawn(args, &[]).finish()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn browser() -> mc_io_blocking::Client {
    mc_io_blocking::Client::with_config(
        mc_io_blocking::Config::default().with_timeout(Duration::from_secs(10)),
    )
    .expect("a client")
}

fn get(client: &mc_io_blocking::Client, url: &str) -> http::Response<Vec<u8>> {
    let request = http::Request::get(url).body(Vec::new()).expect("a request");
    client.send(request).expect("GET")
}

/// `mc login` against the sandbox's operator alpha, the test as the browser: the URL from
/// mc's stderr, the sandbox's redirect (its handset answers at once), then mc's listener.
fn sandbox_login(msisdn: &str) -> Run {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/callback");
    let server = SandboxServer::start_with(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SandboxConfig::default().redirect_uris([callback.clone()]),
    )
    .expect("sandbox");
    let sandbox: &Sandbox = server.sandbox();
    let issuer = sandbox.issuer("alpha");
    let secret = sandbox.client_secret("alpha").unwrap_or_default();
    let hint = format!("MSISDN:{msisdn}");
    let port = port.to_string();
    let mc = spawn(
        &[
            "login",
            "--json",
            "--issuer",
            &issuer,
            "--client-id",
            "alpha-client-id",
            "--secret-env",
            "MC_TEST_SECRET",
            "--login-hint",
            &hint,
            "--port",
            &port,
            "--timeout",
            "30",
        ],
        &[("MC_TEST_SECRET", &secret)],
    );
    let url = mc.line(|l| l.starts_with("http"));
    let client = browser();
    let at_operator = get(&client, &url);
    assert_eq!(at_operator.status(), 302, "the sandbox redirects back");
    let location = at_operator.headers()[http::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.starts_with(&callback), "{location}");
    let page = get(&client, &location);
    assert_eq!(page.status(), 200, "mc's listener answers the callback");
    mc.finish()
}

#[test]
fn login_against_the_sandbox_prints_the_verified_identity() {
    let run = sandbox_login("447700900001");
    assert_eq!(run.code, 0, "{run:?}");
    let out = run.json();
    assert_eq!(out["outcome"], "ok");
    let result = &out["result"];
    let pcr = result["pcr"].as_str().unwrap();
    assert!(!pcr.is_empty());
    assert_eq!(result["id_token"]["claims"]["sub"], pcr);
    assert_eq!(result["acr"], "2");
    assert_eq!(result["amr"], json!(["SIM_OK"]));
    assert_eq!(result["phone_number"], "+447700900001");
    assert_eq!(result["profile"], "mobile_connect");
    assert_eq!(result["mode"], "browser");
    // The login's secrets stay out of the output.
    assert!(result["id_token"]["claims"].get("nonce").is_none());
    assert!(!run.stdout.contains("alpha-client-secret"));
}

#[test]
fn login_declined_by_the_subscriber_exits_3() {
    let run = sandbox_login("447700900009");
    assert_eq!(run.code, 3, "{run:?}");
    let out = run.json();
    assert_eq!(out["outcome"], "refused");
    assert_eq!(out["error"]["class"], "refused");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("access_denied"),
        "{out}"
    );
}

#[test]
fn login_without_a_callback_times_out_exit_5() {
    let server = SandboxServer::start().expect("sandbox");
    let issuer = server.sandbox().issuer("alpha");
    let secret = server.sandbox().client_secret("alpha").unwrap_or_default();
    let mc = spawn(
        &[
            "login",
            "--json",
            "--issuer",
            &issuer,
            "--client-id",
            "alpha-client-id",
            "--secret-env",
            "MC_TEST_SECRET",
            "--port",
            "0",
            "--timeout",
            "1",
        ],
        &[("MC_TEST_SECRET", &secret)],
    );
    let run = mc.finish();
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "CallbackTimeout");
}

/// `mc login` against oidc-provider: it knows only the redirect URI `https://sp.example/callback`,
/// so mc sends that one (`--redirect-uri`) and the test forwards the callback to the listener,
/// as a tunnel would.
fn peer_login(client: PeerClient, credentials: &[&str], env: &[(&str, &str)]) {
    let Some(peer) = Peer::start() else {
        return;
    };
    let id = client.id();
    let mut args = vec![
        "login",
        "--json",
        "--issuer",
        peer.issuer(),
        "--client-id",
        &id,
        "--login-hint",
        "MSISDN:447700900001",
        "--port",
        "0",
        "--redirect-uri",
        interop::REDIRECT_URI,
        "--timeout",
        "30",
    ];
    args.extend_from_slice(credentials);
    let mc = spawn(&args, env);
    let waiting = mc.line(|l| l.starts_with("mc: waiting for the callback on "));
    let listener = waiting
        .trim_start_matches("mc: waiting for the callback on ")
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let url = mc.line(|l| l.starts_with("http"));
    let driver = Blocking::new(Duration::from_secs(10), 1 << 20);
    let query = match Browser::new()
        .visit(&driver, &url)
        .expect("the provider's pages")
    {
        Landing::Redirected(back) => back.query().unwrap_or_default().to_owned(),
        other => panic!("the provider did not redirect back: {other:?}"),
    };
    let page = get(&browser(), &format!("{listener}?{query}"));
    assert_eq!(page.status(), 200);
    let run = mc.finish();
    assert_eq!(run.code, 0, "{run:?}\n{}", peer.output());
    let result = &run.json()["result"];
    assert_eq!(result["issuer"], peer.issuer());
    assert_eq!(result["profile"], "openid_connect");
    assert!(!result["pcr"].as_str().unwrap().is_empty(), "{result}");
    assert_eq!(result["id_token"]["alg"], format!("{:?}", client.alg));
}

#[test]
fn login_against_oidc_provider_with_client_secret_basic() {
    let client = PeerClient::new(AuthMethod::Basic, Algorithm::RS256);
    let secret = interop::client_secret(&client.id());
    peer_login(
        client,
        &["--secret-env", "MC_TEST_SECRET"],
        &[("MC_TEST_SECRET", secret.expose_secret())],
    );
}

#[test]
fn login_against_oidc_provider_with_private_key_jwt() {
    let key = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/keys/sp-private-key-jwt.pem");
    let key = key.to_str().unwrap().to_owned();
    peer_login(
        PeerClient::new(AuthMethod::PrivateKeyJwt, Algorithm::ES256),
        &["--key", &key, "--key-id", interop::SP_KEY_ID],
        &[],
    );
}

/// The SP's key file for Mobile Connect SI: the sandbox registers its public half under `mc`,
/// mc's default `--key-id`.
fn sp_key_file() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sandbox/keys/rsa-b.pem");
    path.to_str().unwrap().to_owned()
}

/// A sandbox for server-initiated logins: the SP's JWKS registered, a 1-second polling
/// interval, logins that live 30 s, and (for `--notify`) the listener on `notify_port` as the
/// notification URI, to which the server POSTs.
fn si_sandbox(notify_port: Option<u16>) -> SandboxServer {
    let key = SpSigningKey::from_pem(Algorithm::RS256, KEY_PEM, "mc").unwrap();
    let mut config = SandboxConfig::default()
        .sp_jwks(SpSigningKey::jwks([&key]).unwrap())
        .poll_interval(1)
        .backchannel_expiry(30);
    if let Some(port) = notify_port {
        config = config.notification_uris([format!("http://127.0.0.1:{port}/notify")]);
    }
    SandboxServer::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), config).expect("sandbox")
}

/// `mc login --server-initiated --json` at the sandbox's alpha (secret and SP key given) for
/// the subscriber with `handset`, with `extra` arguments (`--timeout 30` unless they set one).
fn si_login(server: &SandboxServer, handset: Handset, extra: &[&str]) -> Run {
    let sandbox = server.sandbox();
    let issuer = sandbox.issuer("alpha");
    let secret = sandbox.client_secret("alpha").unwrap_or_default();
    let hint = format!(
        "MSISDN:{}",
        fixture::subscriber("alpha", handset).expect("a subscriber")
    );
    let key = sp_key_file();
    let mut args = vec![
        "login",
        "--json",
        "--server-initiated",
        "--issuer",
        &issuer,
        "--client-id",
        "alpha-client-id",
        "--secret-env",
        "MC_TEST_SECRET",
        "--key",
        &key,
        "--login-hint",
        &hint,
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--timeout") {
        args.extend(["--timeout", "30"]);
    }
    spawn(&args, &[("MC_TEST_SECRET", &secret)]).finish()
}

/// The flavours, as `--si-flavour` takes them (none: CIBA, the sandbox has both), and the mode
/// each runs in when polling and when notified.
const FLAVOURS: [(Option<&str>, &str, &str); 2] = [
    (None, "ciba_poll", "ciba_ping"),
    (Some("mc"), "si_polling", "si_notification"),
];

fn flavour_args(flavour: Option<&str>) -> Vec<&str> {
    flavour.map_or_else(Vec::new, |f| vec!["--si-flavour", f])
}

/// A verified server-initiated login: exit 0, the mode, the browser login's result shape.
fn assert_logged_in(run: &Run, mode: &str) {
    assert_eq!(run.code, 0, "{mode}: {run:?}");
    assert!(
        run.stderr
            .contains("waiting for the subscriber to confirm on the handset"),
        "{}",
        run.stderr
    );
    let result = &run.json()["result"];
    assert_eq!(result["mode"], mode);
    let pcr = result["pcr"].as_str().unwrap();
    assert!(!pcr.is_empty());
    assert_eq!(result["id_token"]["claims"]["sub"], pcr);
    assert_eq!(result["acr"], "2", "{mode}");
    assert_eq!(result["phone_number"], "+447700900001", "{mode}");
    assert_eq!(result["profile"], "mobile_connect");
    assert!(result["id_token"]["claims"].get("nonce").is_none());
}

#[test]
fn server_initiated_poll_login_approved_exit_0() {
    let server = si_sandbox(None);
    for (flavour, mode, _) in FLAVOURS {
        let run = si_login(&server, Handset::Approve, &flavour_args(flavour));
        assert_logged_in(&run, mode);
    }
}

#[test]
fn server_initiated_declined_exits_3() {
    let server = si_sandbox(None);
    for (flavour, mode, _) in FLAVOURS {
        let run = si_login(&server, Handset::Decline, &flavour_args(flavour));
        assert_eq!(run.code, 3, "{mode}: {run:?}");
        let out = run.json();
        assert_eq!(out["error"]["class"], "refused");
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap()
                .contains("access_denied"),
            "{mode}: {out}"
        );
    }
}

/// `--notify`: Mobile Connect SI notification mode (the tokens POSTed to the listener) and
/// OpenID CIBA ping mode (a ping to the listener, then one poll).
#[test]
fn server_initiated_notify_login_approved_exit_0() {
    for (flavour, _, mode) in FLAVOURS {
        let port = free_port();
        let server = si_sandbox(Some(port));
        let port = port.to_string();
        let mut args = flavour_args(flavour);
        args.extend(["--notify", "--port", &port]);
        let run = si_login(&server, Handset::Approve, &args);
        assert_logged_in(&run, mode);
    }
}

#[test]
fn server_initiated_without_an_answer_times_out_exit_5() {
    let server = si_sandbox(None);
    let run = si_login(&server, Handset::NeverAnswers, &["--timeout", "2"]);
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "HandsetTimeout");
}

/// Whom the operator asks is required: exit 2 before anything is read or sent.
#[test]
fn server_initiated_without_a_login_hint_exits_2() {
    let run = run(&[
        "login",
        "--json",
        "--server-initiated",
        "--issuer",
        ISSUER,
        "--client-id",
        "c",
        "--secret-env",
        "MC_TEST_SECRET",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    let error = &run.json()["error"];
    assert_eq!(error["kind"], "MissingArgument");
    assert!(
        error["message"].as_str().unwrap().contains("--login-hint"),
        "{error}"
    );
}

/// Mobile Connect SI signs a request object: without `--key` it is misconfiguration, named.
#[test]
fn server_initiated_mc_without_a_key_exits_2() {
    let server = si_sandbox(None);
    let sandbox = server.sandbox();
    let issuer = sandbox.issuer("alpha");
    let secret = sandbox.client_secret("alpha").unwrap_or_default();
    let run = spawn(
        &[
            "login",
            "--json",
            "--server-initiated",
            "--si-flavour",
            "mc",
            "--issuer",
            &issuer,
            "--client-id",
            "alpha-client-id",
            "--secret-env",
            "MC_TEST_SECRET",
            "--login-hint",
            "MSISDN:447700900001",
        ],
        &[("MC_TEST_SECRET", &secret)],
    )
    .finish();
    assert_eq!(run.code, 2, "{run:?}");
    let error = &run.json()["error"];
    assert_eq!(error["kind"], "MissingArgument");
    assert!(
        error["message"].as_str().unwrap().contains("--key"),
        "{error}"
    );
}

/// OpenID CIBA poll mode at oidc-provider (its client `sp-ciba-basic`; its handset answers
/// after two seconds).
#[test]
fn server_initiated_ciba_poll_against_oidc_provider() {
    let Some(peer) = Peer::start() else {
        return;
    };
    let client = CibaClient::PollBasic;
    let secret = interop::client_secret(client.id());
    let hint = format!("MSISDN:{}", interop::APPROVING_MSISDN);
    let run = spawn(
        &[
            "login",
            "--json",
            "--server-initiated",
            "--issuer",
            peer.issuer(),
            "--client-id",
            client.id(),
            "--secret-env",
            "MC_TEST_SECRET",
            "--login-hint",
            &hint,
            "--timeout",
            "30",
        ],
        &[("MC_TEST_SECRET", secret.expose_secret())],
    )
    .finish();
    assert_eq!(run.code, 0, "{run:?}\n{}", peer.output());
    let result = &run.json()["result"];
    assert_eq!(result["mode"], "ciba_poll");
    assert_eq!(result["issuer"], peer.issuer());
    assert_eq!(result["profile"], "openid_connect");
    assert!(
        result["pcr"].as_str().unwrap().starts_with("pcr-"),
        "{result}"
    );
    assert_eq!(result["id_token"]["alg"], format!("{:?}", client.alg()));
}

/// A 1024-bit RSA modulus (never used to verify: only its size matters here).
fn weak_jwks() -> Value {
    let mut n = vec![0xC3_u8; 128];
    n[127] = 0x01;
    json!({"keys": [{"kty": "RSA", "kid": "weak-1024", "use": "sig", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"}]})
}

/// Serve one metadata document (with `{base}` replaced by the server's URL) and a JWKS.
fn serve_metadata(document: &'static str) -> LoopbackServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let jwks = weak_jwks().to_string();
    LoopbackServer::serve(listener, move |request| match request.path() {
        "/.well-known/openid-configuration" => Reply::json(200, document.replace("{base}", &base)),
        "/jwks" => Reply::json(200, jwks.clone()),
        _ => Reply::status(404),
    })
    .unwrap()
}

fn codes(out: &Value) -> Vec<String> {
    out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["severity"].as_str().unwrap(),
                f["code"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn metadata_findings_for_a_bad_document_exit_4() {
    let server = serve_metadata(
        r#"{"issuer": "https://elsewhere.example",
            "authorization_endpoint": "{base}/authorize",
            "token_endpoint": "http://op.example/token",
            "jwks_uri": "{base}/jwks",
            "id_token_signing_alg_values_supported": ["none", "HS256", "RS256"]}"#,
    );
    let issuer = format!("http://{}", server.addr());
    let run = run(&["metadata", "--json", &issuer]);
    assert_eq!(run.code, 4, "{run:?}");
    let out = run.json();
    assert_eq!(out["error"]["kind"], "MetadataFindings");
    let found = codes(&out);
    for expected in [
        "error:issuer-mismatch",
        "error:http-endpoint",
        "error:alg-none",
        "error:rsa-key-too-small",
        "warning:rfc9207-missing",
        "warning:alg-hmac",
        "warning:no-userinfo-endpoint",
        "warning:no-premiuminfo-endpoint",
        "info:mc-versions",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "{expected} missing from {found:?}"
        );
    }
    // The readable form names them too.
    let text = self::run(&["metadata", &issuer]);
    assert_eq!(text.code, 4);
    assert!(text.stdout.contains("issuer-mismatch") && text.stdout.contains("alg-none"));
}

#[test]
fn metadata_the_parser_refuses_is_a_finding_exit_4() {
    let server = serve_metadata(
        r#"{"issuer": "{base}", "authorization_endpoint": "{base}/authorize",
            "token_endpoint": "{base}/token", "jwks_uri": "{base}/jwks",
            "claims_parameter_supported": {"not": "a boolean"}}"#,
    );
    let run = run(&["metadata", "--json", &format!("http://{}", server.addr())]);
    assert_eq!(run.code, 4, "{run:?}");
    let found = codes(&run.json());
    assert!(
        found.iter().any(|f| f == "error:refused-by-mc-core"),
        "{found:?}"
    );
}

#[test]
fn metadata_of_the_sandbox_has_no_error_findings() {
    let server = SandboxServer::start().expect("sandbox");
    let run = run(&["metadata", "--json", &server.sandbox().issuer("alpha")]);
    assert_eq!(run.code, 0, "{run:?}");
    let found = codes(&run.json());
    assert!(found.iter().any(|f| f == "info:rfc9207"), "{found:?}");
    assert!(!found.iter().any(|f| f.starts_with("error:")), "{found:?}");
}

/// An id_token signed with a sandbox test key, and the matching JWKS written to a file.
fn signed_token(claims: &Value) -> (String, tempfile_path::TempFile) {
    let key = SpSigningKey::from_pem(Algorithm::RS256, KEY_PEM, "cli-key").unwrap();
    let jwks = SpSigningKey::jwks([&key]).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("cli-key".to_owned());
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(KEY_PEM).unwrap();
    let token = jsonwebtoken::encode(&header, claims, &encoding).unwrap();
    (token, tempfile_path::TempFile::with(&jwks.to_string()))
}

fn good_claims() -> Value {
    let now = mc_io_blocking::now().as_secs();
    json!({"iss": ISSUER, "sub": "PCR-123", "aud": CLIENT_ID, "exp": now + 300, "iat": now,
        "nonce": NONCE, "acr": "2", "amr": ["SIM_OK"]})
}

/// Temporary files removed on drop, named by process and a counter.
mod tempfile_path {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) struct TempFile(pub(crate) PathBuf);

    impl TempFile {
        pub(crate) fn with(text: &str) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("mc-cli-test-{}-{n}.json", std::process::id()));
            std::fs::write(&path, text).unwrap();
            Self(path)
        }

        pub(crate) fn as_str(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn decode_prints_header_and_claims_labelled_unverified() {
    let (token, _jwks) = signed_token(&good_claims());
    let text = run(&["decode", &token]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.starts_with("UNVERIFIED"), "{}", text.stdout);
    let out = run(&["decode", "--json", &token]).json();
    assert_eq!(out["result"]["verified"], false);
    assert_eq!(out["result"]["header"]["kid"], "cli-key");
    assert_eq!(out["result"]["claims"]["sub"], "PCR-123");
}

fn verify(token: &str, jwks: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "verify",
        "--json",
        token,
        "--issuer",
        ISSUER,
        "--client-id",
        CLIENT_ID,
        "--jwks",
        jwks,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn verify_accepts_a_good_token() {
    let (token, jwks) = signed_token(&good_claims());
    let run = verify(&token, jwks.as_str(), &["--nonce", NONCE]);
    assert_eq!(run.code, 0, "{run:?}");
    let result = &run.json()["result"];
    assert_eq!(result["verified"], true);
    assert_eq!(result["sub"], "PCR-123");
    assert_eq!(result["nonce_checked"], true);
}

/// Each case breaks one thing; mc names mc-core's typed error and exits 4.
#[test]
fn verify_refuses_a_tampered_token_exit_4() {
    let (token, jwks) = signed_token(&good_claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = good_claims();
    claims["sub"] = json!("SOMEONE-ELSE");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");
    let run = verify(&tampered, jwks.as_str(), &[]);
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "BadSignature");
}

#[test]
fn verify_refuses_a_wrong_nonce_exit_4() {
    let (token, jwks) = signed_token(&good_claims());
    let run = verify(&token, jwks.as_str(), &["--nonce", "another-login"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "NonceMismatch");
}

#[test]
fn verify_refuses_an_expired_token_exit_4() {
    let mut claims = good_claims();
    claims["exp"] = json!(mc_io_blocking::now().as_secs() - 600);
    let (token, jwks) = signed_token(&claims);
    let run = verify(&token, jwks.as_str(), &[]);
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "Expired");
}

/// Bad arguments and configuration: exit 2, before anything is sent.
#[test]
fn wrong_arguments_exit_2() {
    let cases: [(&str, &[&str]); 8] = [
        ("no subcommand", &[]),
        ("login without an issuer", &["login", "--client-id", "c"]),
        (
            "acr out of range",
            &[
                "login",
                "--issuer",
                ISSUER,
                "--client-id",
                "c",
                "--acr",
                "5",
            ],
        ),
        (
            "login without a secret",
            &[
                "login",
                "--issuer",
                ISSUER,
                "--client-id",
                "c",
                "--port",
                "0",
            ],
        ),
        (
            "secret variable unset",
            &[
                "login",
                "--issuer",
                ISSUER,
                "--client-id",
                "c",
                "--port",
                "0",
                "--secret-env",
                "MC_TEST_SECRET",
            ],
        ),
        (
            "--notify without --server-initiated",
            &["login", "--notify", "--issuer", ISSUER, "--client-id", "c"],
        ),
        ("not a JWT", &["decode", "not-a-jwt"]),
        (
            "discover with neither msisdn nor mcc_mnc",
            &[
                "discover",
                "--discovery-url",
                ISSUER,
                "--client-id",
                "c",
                "--secret-env",
                "X",
            ],
        ),
    ];
    for (case, args) in cases {
        let run = run(args);
        assert_eq!(run.code, 2, "{case}: {run:?}");
    }
    let help = run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
}

#[test]
fn unreachable_issuer_exit_5() {
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let metadata = run(&["metadata", "--json", &issuer]);
    assert_eq!(metadata.code, 5, "{metadata:?}");
    assert_eq!(metadata.json()["outcome"], "transport");
    let login = spawn(
        &[
            "login",
            "--issuer",
            &issuer,
            "--client-id",
            "c",
            "--secret-env",
            "MC_TEST_SECRET",
            "--port",
            "0",
        ],
        &[("MC_TEST_SECRET", "s")],
    )
    .finish();
    assert_eq!(login.code, 5, "{login:?}");
    assert!(login.stderr.contains("transport"), "{}", login.stderr);
}
