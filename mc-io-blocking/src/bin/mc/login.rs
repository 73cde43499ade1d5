//! `mc login`: a whole browser login with a loopback listener as the redirect URI, and what
//! the server-initiated login shares with it (the plan, the context, the verified report).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use mc_core::{
    Algorithm, AuthorizeOptions, BackchannelMode, ClientAuth, Discovered, LoginHint, Msisdn,
    OperatorConfig, Profile, Registration, SpSigningKey, SubscriberId, Tokens,
};
use mc_io_blocking::{Client, OsEntropy, now};
use serde_json::{Value, json};

use crate::args::{AuthMethod, LoginArgs, ProfileArg};
use crate::config::{self, AuthOptions};
use crate::listener::Listener;
use crate::misconfigured;
use crate::outcome::{Exit, Failure, Report};

const DEFAULT_PORT: u16 = 8765;

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
    if args.server_initiated {
        return crate::server_initiated::run(args);
    }
    let setup = Setup::read(args)?;
    let (port, file_path) = setup.loopback(args);
    let listener = Listener::bind(port, file_path.as_deref().unwrap_or("/callback"))?;
    let redirect_uri = setup.redirect_uri(args, &listener.url);
    let login = setup.operator(args, &redirect_uri, Ok)?;

    let options = LoginOptions::read(args, &login.auth)?.authorize();
    let (redirect, flow) = login.operator.authorize(options, &mut OsEntropy, now())?;
    {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "mc: waiting for the callback on {} (timeout {}s); log in at:",
            listener.url, args.timeout
        );
        let _ = writeln!(err, "{}", redirect.as_str());
    }
    if args.open {
        open_browser(redirect.as_str());
    }
    let query = wait_for_callback(&listener, Duration::from_secs(args.timeout))?;
    let _ = writeln!(std::io::stderr(), "mc: callback received; verifying");

    let code = flow.callback(&login.operator, &query, now())?;
    let tokens = login
        .client
        .execute(code.token_exchange(&login.operator, now())?)?;
    login.report(&tokens, None)
}

/// The login's inputs read before anything listens or is sent: the configuration file, or
/// the credentials from the arguments.
pub(crate) struct Setup {
    file: Option<config::ServiceFile>,
    credentials: Option<Credentials>,
}

/// A login's operator context, ready: the operator's id, the context (metadata applied), the
/// HTTP client and the `[auth]` options of the file.
pub(crate) struct Login {
    pub(crate) operator_id: String,
    pub(crate) operator: Discovered,
    pub(crate) client: Client,
    pub(crate) auth: AuthOptions,
}

impl Setup {
    pub(crate) fn read(args: &LoginArgs) -> Result<Self, Failure> {
        let file = args.config.as_deref().map(config::read).transpose()?;
        let credentials = match &file {
            Some(_) => None,
            None => Some(credentials(args)?),
        };
        Ok(Self { file, credentials })
    }

    /// The file's redirect_uri when it is a loopback one (its port and path are the listener's).
    fn file_loopback(&self) -> Option<url::Url> {
        self.file
            .as_ref()
            .and_then(|f| url::Url::parse(&f.redirect_uri).ok())
            .filter(|u| u.scheme() == "http" && u.host_str() == Some("127.0.0.1"))
    }

    /// The listener's port (the one asked, else a loopback redirect_uri's in the file, else
    /// the default) and that redirect_uri's path, if any.
    pub(crate) fn loopback(&self, args: &LoginArgs) -> (u16, Option<String>) {
        let file_loopback = self.file_loopback();
        let port = args
            .port
            .or_else(|| file_loopback.as_ref().and_then(url::Url::port))
            .unwrap_or(DEFAULT_PORT);
        (port, file_loopback.map(|u| u.path().to_owned()))
    }

    /// The redirect URI sent: `--redirect-uri`, else the file's when it is not a loopback one,
    /// else the listener's `listening`.
    pub(crate) fn redirect_uri(&self, args: &LoginArgs, listening: &str) -> String {
        match (&args.redirect_uri, &self.file) {
            (Some(uri), _) => uri.clone(),
            (None, Some(f)) if self.file_loopback().is_none() => f.redirect_uri.clone(),
            _ => listening.to_owned(),
        }
    }

    /// The operator context: the plan (from the file or the arguments), changed by `adjust`,
    /// the metadata applied when fetched, built.
    pub(crate) fn operator(
        self,
        args: &LoginArgs,
        redirect_uri: &str,
        adjust: impl FnOnce(OperatorConfig) -> Result<OperatorConfig, Failure>,
    ) -> Result<Login, Failure> {
        let plan = match (&self.file, self.credentials) {
            (Some(file), _) => plan_from_file(args, file, redirect_uri)?,
            (None, Some(credentials)) => plan_from_args(args, credentials, redirect_uri)?,
            (None, None) => return Err(misconfigured("MissingArgument", "--issuer or --config")),
        };
        let client = Client::new()?;
        let operator = build(
            &client,
            adjust(plan.operator)?,
            plan.fetch_metadata,
            plan.profile,
        )?;
        Ok(Login {
            operator_id: plan.operator_id,
            operator,
            client,
            auth: plan.auth,
        })
    }
}

impl Login {
    /// The verified result of a login that ended in `tokens` (userinfo fetched when the
    /// operator has the endpoint): the JSON result and the summary. `server_initiated` is the
    /// mode of a server-initiated login (`mode` in the result, a line of the summary); `None`
    /// for the browser login (`"mode": "browser"`).
    pub(crate) fn report(
        &self,
        tokens: &Tokens,
        server_initiated: Option<BackchannelMode>,
    ) -> Result<Report, Failure> {
        let operator = &self.operator;
        let userinfo = match operator.endpoints().userinfo {
            Some(_) => Some(self.client.execute(tokens.userinfo(operator)?)?),
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
            "operator": self.operator_id,
            "issuer": operator.issuer(),
            "client_id": operator.client_id(),
            "profile": profile_name(operator.profile()),
            "mode": server_initiated.map_or("browser", BackchannelMode::as_str),
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
        if self.operator_id == operator.issuer() {
            let _ = writeln!(summary, "logged in at {}", operator.issuer());
        } else {
            let _ = writeln!(
                summary,
                "logged in through {} ({})",
                self.operator_id,
                operator.issuer()
            );
        }
        if let Some(mode) = server_initiated {
            let _ = writeln!(summary, "  mode:          {mode} (server-initiated)");
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
}

fn credentials(args: &LoginArgs) -> Result<Credentials, Failure> {
    let secret = config::secret(&args.secret)?;
    let key = match &args.key {
        Some(path) => Some(signing_key(path, &args.key_alg, &args.key_id)?),
        None => None,
    };
    // A key alone is private_key_jwt; with a secret too, the key only signs request objects.
    let method = match (args.auth, key.is_some() && secret.is_none()) {
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
    if let Some(path) = &args.key {
        operator = operator.signing_key(signing_key(path, &args.key_alg, &args.key_id)?);
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

/// What the user asked of the login, whichever kind runs it: the arguments over the file's
/// `[auth]` options.
pub(crate) struct LoginOptions {
    pub(crate) scope: Option<Vec<String>>,
    pub(crate) acr: Option<Vec<u8>>,
    pub(crate) context: Option<String>,
    pub(crate) binding_message: Option<String>,
    /// The hint as parsed, and as given (OpenID CIBA sends a non-MSISDN hint as given).
    pub(crate) login_hint: Option<(LoginHint, String)>,
}

impl LoginOptions {
    pub(crate) fn read(args: &LoginArgs, auth: &AuthOptions) -> Result<Self, Failure> {
        let scope = args
            .scope
            .as_ref()
            .or(auth.scope.as_ref())
            .map(|s| s.split_whitespace().map(str::to_owned).collect());
        let acr = match (args.acr, &auth.acr_values) {
            (Some(level), _) => Some(vec![level]),
            (None, Some(levels)) => Some(
                levels
                    .split_whitespace()
                    .map(|l| match l.parse::<u8>() {
                        Ok(n @ 1..=4) => Ok(n),
                        _ => Err(misconfigured(
                            "Config",
                            format!("acr_values: {l:?} is not a level of assurance (1 to 4)"),
                        )),
                    })
                    .collect::<Result<Vec<u8>, _>>()?,
            ),
            (None, None) => None,
        };
        let login_hint = match &args.login_hint {
            Some(hint) => Some((login_hint(hint)?, hint.clone())),
            None => None,
        };
        Ok(Self {
            scope,
            acr,
            context: auth.context.clone(),
            binding_message: auth.binding_message.clone(),
            login_hint,
        })
    }

    /// The browser login's options.
    fn authorize(self) -> AuthorizeOptions {
        let mut options = AuthorizeOptions::new();
        if let Some(scope) = self.scope {
            options = options.scope(scope);
        }
        if let Some(levels) = self.acr {
            options = options.acr_values(levels);
        }
        if let Some(context) = self.context {
            options = options.context(context);
        }
        if let Some(message) = self.binding_message {
            options = options.binding_message(message);
        }
        if let Some((hint, _)) = self.login_hint {
            options = options.login_hint(hint);
        }
        options
    }
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

/// Answer requests until one is the callback (`GET` to the listener's path): answer it and
/// return its query. Others (a browser's `/favicon.ico`) get a 404. No callback before
/// `timeout` is a transport failure.
fn wait_for_callback(listener: &Listener, timeout: Duration) -> Result<String, Failure> {
    let deadline = Instant::now() + timeout;
    loop {
        let Some(inbound) = listener.next(deadline)? else {
            return Err(Failure::new(
                Exit::Transport,
                "CallbackTimeout",
                format!("no callback within {}s", timeout.as_secs()),
            ));
        };
        if inbound.is(&http::Method::GET, &listener.path) {
            let query = inbound
                .request
                .as_ref()
                .and_then(|r| r.uri().query())
                .unwrap_or_default()
                .to_owned();
            inbound.answer_text(
                200,
                "mc has the callback: you can close this window and look at the terminal.\n",
            );
            return Ok(query);
        }
        inbound.answer_text(404, "not the callback\n");
    }
}
