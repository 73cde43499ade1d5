//! `mc login`: a whole browser login with a loopback listener as the redirect URI.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mc_core::{
    Algorithm, AuthorizeOptions, ClientAuth, Discovered, LoginHint, Msisdn, OperatorConfig,
    Profile, Registration, SpSigningKey, SubscriberId,
};
use mc_io_blocking::{Client, OsEntropy, now};
use serde_json::{Value, json};

use crate::args::{AuthMethod, LoginArgs, ProfileArg};
use crate::config::{self, AuthOptions};
use crate::misconfigured;
use crate::outcome::{Exit, Failure, Report};

const DEFAULT_PORT: u16 = 8765;
/// The longest callback request head read (a real one is well under 4 KiB).
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// Everything a login needs, from the arguments or the configuration file.
struct Plan {
    operator_id: String,
    operator: OperatorConfig,
    fetch_metadata: bool,
    profile: Option<Profile>,
    auth: AuthOptions,
}

/// The client's credentials from the arguments, checked before anything listens or is sent.
struct Credentials {
    secret: Option<mc_core::ClientSecret>,
    key: Option<SpSigningKey>,
    method: ClientAuth,
}

pub(crate) fn run(args: &LoginArgs) -> Result<Report, Failure> {
    let file = args.config.as_deref().map(config::read).transpose()?;
    let credentials = match &file {
        Some(_) => None,
        None => Some(credentials(args)?),
    };
    // The listener: the port asked, or a loopback redirect_uri's in the file, or the default.
    let file_redirect = file
        .as_ref()
        .and_then(|f| url::Url::parse(&f.redirect_uri).ok());
    let file_loopback = file_redirect
        .as_ref()
        .filter(|u| u.scheme() == "http" && u.host_str() == Some("127.0.0.1"));
    let port = args
        .port
        .or_else(|| file_loopback.and_then(url::Url::port))
        .unwrap_or(DEFAULT_PORT);
    let path = file_loopback.map_or_else(|| "/callback".to_owned(), |u| u.path().to_owned());
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).map_err(|e| {
        misconfigured(
            "ListenerBind",
            format!("cannot listen on 127.0.0.1:{port}: {e}"),
        )
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| misconfigured("ListenerBind", e.to_string()))?;
    let listening = format!("http://{bound}{path}");
    let redirect_uri = match (&args.redirect_uri, &file) {
        (Some(uri), _) => uri.clone(),
        (None, Some(f)) if file_loopback.is_none() => f.redirect_uri.clone(),
        _ => listening.clone(),
    };

    let plan = match (&file, credentials) {
        (Some(file), _) => plan_from_file(args, file, &redirect_uri)?,
        (None, Some(credentials)) => plan_from_args(args, credentials, &redirect_uri)?,
        (None, None) => return Err(misconfigured("MissingArgument", "--issuer or --config")),
    };
    let client = Client::new()?;
    let operator = build(&client, plan.operator, plan.fetch_metadata, plan.profile)?;

    let options = options(args, &plan.auth)?;
    let (redirect, flow) = operator.authorize(options, &mut OsEntropy, now())?;
    {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "mc: waiting for the callback on {listening} (timeout {}s); log in at:",
            args.timeout
        );
        let _ = writeln!(err, "{}", redirect.as_str());
    }
    if args.open {
        open_browser(redirect.as_str());
    }
    let query = wait_for_callback(&listener, &path, Duration::from_secs(args.timeout))?;
    let _ = writeln!(std::io::stderr(), "mc: callback received; verifying");

    let code = flow.callback(&operator, &query, now())?;
    let tokens = client.execute(code.token_exchange(&operator, now())?)?;
    let userinfo = match operator.endpoints().userinfo {
        Some(_) => Some(client.execute(tokens.userinfo(&operator)?)?),
        None => None,
    };

    let id = tokens.id_token();
    let mut claims = crate::jwt::claims_of(id.jwt().expose_secret()).unwrap_or(Value::Null);
    if let Some(map) = claims.as_object_mut() {
        // The nonce is this login's secret; it was checked.
        map.remove("nonce");
    }
    let phone = userinfo.as_ref().and_then(|u| u.phone_number());
    let result = json!({
        "operator": plan.operator_id,
        "issuer": operator.issuer(),
        "client_id": operator.client_id(),
        "profile": profile_name(operator.profile()),
        "pcr": id.sub(),
        "acr": id.acr(),
        "amr": id.amr(),
        "auth_time": id.claims().auth_time,
        "phone_number": phone,
        "scope": tokens.scope(),
        "refresh_token": tokens.refresh_token().is_some(),
        "id_token": {
            "alg": format!("{:?}", id.alg()),
            "kid": id.kid(),
            "claims": claims,
        },
        "userinfo": userinfo.as_ref().map(|u| Value::Object(u.claims().clone())),
        "userinfo_signed": userinfo.as_ref().map(mc_core::UserInfo::was_signed),
    });
    let mut summary = String::new();
    if plan.operator_id == operator.issuer() {
        let _ = writeln!(summary, "logged in at {}", operator.issuer());
    } else {
        let _ = writeln!(
            summary,
            "logged in through {} ({})",
            plan.operator_id,
            operator.issuer()
        );
    }
    let _ = writeln!(summary, "  PCR (sub):     {}", id.sub());
    let _ = writeln!(summary, "  acr:           {}", id.acr().unwrap_or("-"));
    let _ = writeln!(summary, "  amr:           {}", id.amr().join(" "));
    let _ = writeln!(summary, "  phone number:  {}", phone.unwrap_or("-"));
    let _ = writeln!(
        summary,
        "  id_token:      verified ({:?}, kid {})",
        id.alg(),
        id.kid().unwrap_or("-")
    );
    let _ = writeln!(
        summary,
        "  userinfo:      {}",
        userinfo.as_ref().map_or_else(
            || "no userinfo endpoint".to_owned(),
            |u| format!(
                "{} claims ({})",
                u.claims().len(),
                if u.was_signed() {
                    "signed JWT, verified"
                } else {
                    "JSON"
                }
            )
        )
    );
    Ok(Report::ok(result, summary))
}

fn credentials(args: &LoginArgs) -> Result<Credentials, Failure> {
    let secret = config::secret(&args.secret)?;
    let key = match &args.key {
        Some(path) => Some(signing_key(path, &args.key_alg, &args.key_id)?),
        None => None,
    };
    let method = match (args.auth, key.is_some()) {
        (Some(AuthMethod::Basic), _) | (None, false) => ClientAuth::SecretBasic,
        (Some(AuthMethod::Post), _) => ClientAuth::SecretPost,
        (Some(AuthMethod::PrivateKeyJwt), _) | (None, true) => ClientAuth::PrivateKeyJwt,
    };
    if method == ClientAuth::PrivateKeyJwt && key.is_none() {
        return Err(misconfigured(
            "MissingArgument",
            "--auth private_key_jwt needs --key FILE",
        ));
    }
    if method != ClientAuth::PrivateKeyJwt && secret.is_none() {
        return Err(misconfigured(
            "MissingArgument",
            "a client secret: --secret-env VAR or --secret-file FILE (or --key FILE)",
        ));
    }
    Ok(Credentials {
        secret,
        key,
        method,
    })
}

fn plan_from_args(
    args: &LoginArgs,
    credentials: Credentials,
    redirect_uri: &str,
) -> Result<Plan, Failure> {
    let (Some(issuer), Some(client_id)) = (&args.issuer, &args.client_id) else {
        return Err(misconfigured(
            "MissingArgument",
            "--issuer and --client-id (or --config and --operator)",
        ));
    };
    let Credentials {
        secret,
        key,
        method,
    } = credentials;
    let mut operator = OperatorConfig::new(Registration {
        operator_id: issuer.clone(),
        client_id: client_id.clone(),
        client_secret: secret.unwrap_or_else(|| mc_core::ClientSecret::new("")),
        redirect_uri: redirect_uri.to_owned(),
    })?
    .issuer(issuer.clone())
    .client_auth(method);
    if let Some(key) = key {
        operator = operator.signing_key(key);
    }
    Ok(Plan {
        operator_id: issuer.clone(),
        operator,
        fetch_metadata: true,
        profile: args.profile.map(|p| match p {
            ProfileArg::Mc => Profile::MobileConnect,
            ProfileArg::Oidc => Profile::OpenIdConnect,
        }),
        auth: AuthOptions::default(),
    })
}

fn plan_from_file(
    args: &LoginArgs,
    file: &config::ServiceFile,
    redirect_uri: &str,
) -> Result<Plan, Failure> {
    let id = args.operator.as_deref().unwrap_or_default();
    let Some(entry) = file.operators.get(id) else {
        let known: Vec<&str> = file.operators.keys().map(String::as_str).collect();
        return Err(misconfigured(
            "UnknownOperator",
            format!(
                "no operator {id:?} in the file (it has: {})",
                known.join(", ")
            ),
        ));
    };
    let mut operator = OperatorConfig::new(Registration {
        operator_id: id.to_owned(),
        client_id: entry.client_id.clone(),
        client_secret: entry.secret(id)?,
        redirect_uri: redirect_uri.to_owned(),
    })?
    .issuer(entry.issuer.clone())
    .allow_plain_http(file.allow_plain_http);
    if let Some(url) = &entry.authorization_endpoint {
        operator = operator.authorization(url)?;
    }
    if let Some(url) = &entry.token_endpoint {
        operator = operator.token(url)?;
    }
    if let Some(url) = &entry.userinfo_endpoint {
        operator = operator.userinfo(url)?;
    }
    if let Some(url) = &entry.premiuminfo_endpoint {
        operator = operator.premiuminfo(url)?;
    }
    if let Some(url) = &entry.jwks_uri {
        operator = operator.jwks(url)?;
    }
    let auth = file.auth.overridden_by(&entry.auth);
    if let Some(name) = &auth.client_name {
        operator = operator.client_name(name.clone());
    }
    if let Some(version) = &auth.version {
        operator = operator.version(version.clone());
    }
    let profile = match (args.profile, entry.profile.as_deref()) {
        (Some(ProfileArg::Mc), _) | (None, Some("mobile_connect")) => Some(Profile::MobileConnect),
        (Some(ProfileArg::Oidc), _) | (None, Some("openid_connect")) => {
            Some(Profile::OpenIdConnect)
        }
        (None, None) => None,
        (None, Some(other)) => {
            return Err(misconfigured(
                "Config",
                format!("operator {id}: profile {other:?} is not mobile_connect or openid_connect"),
            ));
        }
    };
    Ok(Plan {
        operator_id: id.to_owned(),
        operator,
        fetch_metadata: entry.fetch_metadata || !entry.is_complete(),
        profile,
        auth,
    })
}

fn signing_key(path: &std::path::Path, alg: &str, kid: &str) -> Result<SpSigningKey, Failure> {
    let pem = std::fs::read(path).map_err(|e| {
        misconfigured(
            "KeyUnreadable",
            format!("cannot read {} (--key): {e}", path.display()),
        )
    })?;
    let alg: Algorithm = alg.parse().map_err(|_| {
        misconfigured(
            "KeyUnreadable",
            format!("--key-alg {alg}: no such algorithm"),
        )
    })?;
    Ok(SpSigningKey::from_pem(alg, &pem, kid)?)
}

/// The operator context: the metadata applied (when fetched), the profile, built.
fn build(
    client: &Client,
    mut config: OperatorConfig,
    fetch_metadata: bool,
    profile: Option<Profile>,
) -> Result<Discovered, Failure> {
    if fetch_metadata {
        let metadata = client.execute(config.metadata_exchange()?)?;
        config = config.with_metadata(metadata)?;
    }
    if let Some(profile) = profile {
        config = config.profile(profile);
    }
    Ok(config.build()?)
}

fn options(args: &LoginArgs, auth: &AuthOptions) -> Result<AuthorizeOptions, Failure> {
    let mut options = AuthorizeOptions::new();
    if let Some(scope) = args.scope.as_ref().or(auth.scope.as_ref()) {
        options = options.scope(scope.split_whitespace().map(str::to_owned));
    }
    if let Some(level) = args.acr {
        options = options.acr_values([level]);
    } else if let Some(levels) = &auth.acr_values {
        let parsed: Result<Vec<u8>, _> = levels
            .split_whitespace()
            .map(|l| match l.parse::<u8>() {
                Ok(n @ 1..=4) => Ok(n),
                _ => Err(misconfigured(
                    "Config",
                    format!("acr_values: {l:?} is not a level of assurance (1 to 4)"),
                )),
            })
            .collect();
        options = options.acr_values(parsed?);
    }
    if let Some(context) = &auth.context {
        options = options.context(context.clone());
    }
    if let Some(message) = &auth.binding_message {
        options = options.binding_message(message.clone());
    }
    if let Some(hint) = &args.login_hint {
        options = options.login_hint(login_hint(hint)?);
    }
    Ok(options)
}

fn login_hint(hint: &str) -> Result<LoginHint, Failure> {
    match hint.split_once(':') {
        Some(("MSISDN", n)) if !n.is_empty() => Ok(LoginHint::Msisdn(Msisdn::new(n))),
        Some(("ENCR_MSISDN", s)) if !s.is_empty() => {
            Ok(LoginHint::EncryptedMsisdn(SubscriberId::new(s)))
        }
        Some(("PCR", p)) if !p.is_empty() => Ok(LoginHint::Pcr(p.to_owned())),
        _ => Err(misconfigured(
            "InvalidLoginHint",
            "--login-hint is MSISDN:<digits>, ENCR_MSISDN:<id> or PCR:<sub>",
        )),
    }
}

pub(crate) fn profile_name(profile: Profile) -> &'static str {
    match profile {
        Profile::MobileConnect => "mobile_connect",
        _ => "openid_connect",
    }
}

/// Hand the URL to the desktop's opener; a failure only leaves the printed URL to copy.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        let _ = writeln!(
            std::io::stderr(),
            "mc: cannot run {opener}: {e}; open the URL yourself"
        );
    }
}

/// Accept connections until one asks for `path`: answer it and return its query. Other paths
/// (a browser's `/favicon.ico`) get a 404. No callback before `timeout` is a transport failure.
fn wait_for_callback(
    listener: &TcpListener,
    path: &str,
    timeout: Duration,
) -> Result<String, Failure> {
    let deadline = Instant::now() + timeout;
    listener
        .set_nonblocking(true)
        .map_err(|e| misconfigured("ListenerBind", e.to_string()))?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(query) = answer(stream, path, deadline) {
                    return Ok(query);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(Failure::new(
                        Exit::Transport,
                        "CallbackTimeout",
                        format!("no callback within {}s", timeout.as_secs()),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(Failure::new(Exit::Transport, "Listener", e.to_string()));
            }
        }
    }
}

/// Read one request; `Some(query)` when it is the callback (answered 200), `None` otherwise.
fn answer(mut stream: TcpStream, path: &str, deadline: Instant) -> Option<String> {
    let _ = stream.set_nonblocking(false);
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let _ = stream.set_read_timeout(Some(wait));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let target = text
        .lines()
        .next()
        .and_then(|line| {
            let mut parts = line.split(' ');
            (parts.next() == Some("GET"))
                .then(|| parts.next())
                .flatten()
        })
        .unwrap_or_default()
        .to_owned();
    let (target_path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (status, body, found) = if target_path == path {
        (
            "200 OK",
            "mc has the callback: you can close this window and look at the terminal.\n",
            Some(query.to_owned()),
        )
    } else {
        ("404 Not Found", "not the callback\n", None)
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
    found
}
