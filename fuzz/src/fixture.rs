//! The fixed context of the fuzz targets: the operator of the fixed login (`mc_sandbox::fixture`,
//! the one test fixture: constants, committed keys, claims, bodies), one login started at [`NOW`]
//! and called back with [`CODE`], and its valid id_tokens signed once; and ([`si_ctx`]) the same
//! operator with its server-initiated endpoints and one pending login of each [`StartKind`].
//! Shared by the target bodies (`targets.rs`), the seed generation (`seeds.rs`) and, through
//! them, the seed replay test in mc-core (`mc-core/tests/fuzz_seeds.rs`, which includes these
//! files by path). So it may use only mc-core and what mc-core's dev-dependencies provide
//! (mc-sandbox, serde_json, base64, http, url, jsonwebtoken), and no file or clock: the operator
//! context, its keys and "now" are fixed.
#![allow(unreachable_pub, dead_code)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{
    Algorithm, AuthorizeOptions, Authorizing, BackchannelMode, BackchannelPending,
    BackchannelStart, CibaLoginHint, CibaRequest, ClientSecret, CodeReceived, Discovered,
    DiscoveryService, Endpoint, Error, Exchange as _, Jwks, LoginHint, Msisdn, OperatorConfig,
    Outcome, Policy, Registration, SelectionLeg, SiRequest, SpSigningKey, Tokens, UnixTime,
    Verified,
};
use mc_sandbox::fixture::{
    AUTHORIZATION_ENDPOINT, JWKS_URI, PREMIUMINFO_ENDPOINT, TOKEN_ENDPOINT, USERINFO_ENDPOINT,
    entropy, operator_key, query_param,
};
use serde_json::{Value, json};

// The fixed login's values and bodies, for the targets and the seeds.
#[allow(unused_imports)]
pub use mc_sandbox::fixture::{
    ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, CODE, FIXED_JWKS as JWKS_JSON, ISSUER, KID_EC, KID_RSA,
    MSISDN, NOW, PHONE_NUMBER, REDIRECT_URI, SUB, response, token_body, valid_claims,
};

/// The login asks for `max_age`, so `auth_time` is checked.
pub const MAX_AGE: u64 = 3600;
/// The policy's default clock leeway.
pub const LEEWAY: u64 = 30;
/// The login asks for LoA 2.
pub const MIN_ACR: u8 = 2;
/// The operator's `login_timeout_secs` default.
pub const LOGIN_TIMEOUT: u64 = 600;

/// One operator, one login started at [`NOW`] and called back with [`CODE`], and a few tokens
/// signed once with the committed keys.
pub struct Context {
    /// The operator context, holding the committed JWKS. Its JWKS endpoint serves that same
    /// document, so a refetch stores the same keys again: sharing it between targets and
    /// threads changes no verdict.
    pub operator: Discovered,
    /// The same operator with `require_callback_iss` (RFC 9207 announced).
    pub operator_iss: Discovered,
    pub discovery: DiscoveryService,
    pub flow: Authorizing,
    pub code: CodeReceived,
    pub state: String,
    pub nonce: String,
    /// A valid id_token of this login, RS256 with `kid-a`.
    pub rs256: String,
    /// A valid id_token of this login, ES256 with `kid-ec`.
    pub es256: String,
    /// A valid id_token of this login, HS256 keyed by the client secret (cheap to verify).
    pub hs256: String,
}

pub fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

/// The context, built once per process.
pub fn ctx() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(Context::build)
}

/// The options of the fixed login: a Mobile Connect identity scope (so the profile requires
/// `at_hash` and `amr`), LoA 2, `max_age`, PKCE.
pub fn login_options() -> AuthorizeOptions {
    AuthorizeOptions::new()
        .scope(["mc_authn", "mc_identity_phonenumber"])
        .acr_values([MIN_ACR])
        .max_age(MAX_AGE)
}

/// The policy of the fixed operator: HMAC keyed by the client secret is allowed, so that the
/// HS256 paths are reachable and the fuzzer can sign claims of its choosing cheaply; and JWKS
/// refetches are not spaced, so that an unknown `kid` always reaches the refetch path (the
/// default spacing would refuse it at once: the keys are stored at [`NOW`]).
pub fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.allowed_algorithms.push(Algorithm::HS256);
    policy.jwks_min_refetch_secs = 0;
    policy
}

/// The fixed operator's configuration, before its context is built.
pub fn operator_config() -> OperatorConfig {
    OperatorConfig::new(Registration {
        operator_id: "fuzz-operator".to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: ClientSecret::new(CLIENT_SECRET),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .map(|c| c.issuer(ISSUER))
    .and_then(|c| c.authorization(AUTHORIZATION_ENDPOINT))
    .and_then(|c| c.token(TOKEN_ENDPOINT))
    .and_then(|c| c.jwks(JWKS_URI))
    .and_then(|c| c.userinfo(USERINFO_ENDPOINT))
    .and_then(|c| c.premiuminfo(PREMIUMINFO_ENDPOINT))
    .expect("fixed operator config")
    .client_name("Fuzz Shop")
    .policy(policy())
}

/// A context of the fixed operator of its own (clones of a context share its keys), holding
/// `keys` as fetched at [`NOW`].
pub fn operator_with_keys(config: OperatorConfig, keys: Jwks) -> Discovered {
    let operator = config.build().expect("fixed operator context");
    operator.set_jwks(keys, now());
    operator
}

/// The committed JWKS.
pub fn committed_jwks() -> Jwks {
    Jwks::parse(JWKS_JSON.as_bytes()).expect("committed JWKS")
}

impl Context {
    fn build() -> Self {
        let operator = operator_with_keys(operator_config(), committed_jwks());
        let mut strict = policy();
        strict.require_callback_iss = true;
        let operator_iss = operator_with_keys(operator_config().policy(strict), committed_jwks());

        let discovery = DiscoveryService::new(
            "https://discovery.example/v2/discovery",
            "discovery-client",
            ClientSecret::new("discovery-secret"),
            "https://sp.example/discovered",
        )
        .expect("fixed discovery service");

        let (redirect, flow) = operator
            .authorize(login_options(), &mut entropy(), now())
            .expect("fixed login");
        let param = |name: &str| {
            query_param(redirect.url(), name).expect("state and nonce in the redirect")
        };
        let (state, nonce) = (param("state"), param("nonce"));
        let code = flow
            .clone()
            .callback(&operator, &format!("code={CODE}&state={state}"), now())
            .expect("fixed callback");

        let rs256 = mc_sandbox::fixture::id_token(&nonce, Algorithm::RS256);
        let es256 = mc_sandbox::fixture::id_token(&nonce, Algorithm::ES256);
        let hs256 = mc_sandbox::fixture::id_token(&nonce, Algorithm::HS256);
        Self {
            operator,
            operator_iss,
            discovery,
            flow,
            code,
            state,
            nonce,
            rs256,
            es256,
            hs256,
        }
    }
}

/// The selection leg of the fixed browser: its `state` is 32 bytes of 7 (`BwcH...`), so seeds
/// can carry it.
pub fn selection_leg() -> SelectionLeg {
    SelectionLeg::new(&mut |buf: &mut [u8]| buf.fill(7), now(), 600)
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The signature over `signing_input` with the fixed operator's key for `alg` (HMAC: the client
/// secret).
pub fn signature(signing_input: &str, alg: Algorithm) -> String {
    b64(&mc_sandbox::keys::sign_input(
        signing_input.as_bytes(),
        alg,
        &operator_key(alg),
    ))
}

/// A compact JWS over exactly these header and claims bytes.
pub fn sign_raw(header: &[u8], claims: &[u8], alg: Algorithm) -> String {
    mc_sandbox::keys::sign_bytes(header, claims, alg, &operator_key(alg))
}

/// Sign claims with header `{"alg","typ":"JWT"[,"kid"]}`.
pub fn sign_claims(claims: &Value, alg: Algorithm, kid: Option<&str>) -> String {
    mc_sandbox::fixture::operator_sign(claims, alg, kid)
}

/// The token exchange of the fixed login against `operator`; a JWKS refetch is answered with
/// `jwks` (the document the operator's context was built with, so an unknown `kid` stays
/// unknown).
pub fn token_step_with_jwks(
    operator: &Discovered,
    jwks: &[u8],
    response: http::Response<Vec<u8>>,
) -> Result<Tokens, Error> {
    let exchange = ctx().code.clone().token_exchange(operator, now())?;
    let outcome = exchange.respond(response, now())?;
    finish_with_jwks(outcome, jwks)
}

/// The token exchange of the fixed login against an operator holding the committed JWKS.
pub fn token_step(
    operator: &Discovered,
    response: http::Response<Vec<u8>>,
) -> Result<Tokens, Error> {
    token_step_with_jwks(operator, JWKS_JSON.as_bytes(), response)
}

/// A step's outcome, its JWKS refetch (if it asks for one) answered with `jwks`.
pub fn finish_with_jwks<O: Outcome>(outcome: O, jwks: &[u8]) -> Result<O::Value, Error> {
    match outcome.into_verified() {
        Verified::Done(value) => Ok(value),
        Verified::NeedJwks(refetch) => {
            let request = refetch.request();
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(request.uri(), JWKS_URI);
            refetch.respond(response(200, "application/json", jwks), now())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server-initiated logins (Mobile Connect SI, OpenID CIBA)
// ---------------------------------------------------------------------------------------------

/// The fixed operator's Mobile Connect `si_authorization_endpoint`.
pub const SI_AUTHORIZATION_ENDPOINT: &str = "https://op.example/si-authorize";
/// The fixed operator's OpenID CIBA `backchannel_authentication_endpoint`.
pub const BC_AUTHORIZATION_ENDPOINT: &str = "https://op.example/bc-authorize";
/// The SP's notification URI (a notified id_token's `recipient`).
pub const NOTIFICATION_URI: &str = "https://sp.example/notify";
/// The SP's request-object key id.
pub const SP_KID: &str = "sp-key-1";
/// The `expires_in` of the operator's start answers of the fixed server-initiated logins.
pub const SI_EXPIRES_IN: u64 = 120;
/// The `interval` of the operator's CIBA start answers (Mobile Connect sends none: 5 s).
pub const CIBA_INTERVAL: u64 = 2;
/// How long after [`NOW`] the fixed notifications arrive.
pub const NOTIFIED_AFTER: u64 = 30;

/// One kind of server-initiated start, as the host asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartKind {
    /// Mobile Connect SI, notification mode (`mc_si_async_code`).
    SiNotification,
    /// Mobile Connect SI, polling mode (`mc_si_polling`).
    SiPolling,
    /// OpenID CIBA, poll mode, LoA 2 asked for.
    CibaPoll,
    /// OpenID CIBA, ping mode, no level asked for.
    CibaPing,
}

impl StartKind {
    pub const ALL: [Self; 4] = [
        Self::SiNotification,
        Self::SiPolling,
        Self::CibaPoll,
        Self::CibaPing,
    ];

    pub fn mode(self) -> BackchannelMode {
        match self {
            Self::SiNotification => BackchannelMode::SiNotification,
            Self::SiPolling => BackchannelMode::SiPolling,
            Self::CibaPoll => BackchannelMode::CibaPoll,
            Self::CibaPing => BackchannelMode::CibaPing,
        }
    }

    pub fn endpoint(self) -> Endpoint {
        match self {
            Self::SiNotification | Self::SiPolling => Endpoint::SiAuthorization,
            Self::CibaPoll | Self::CibaPing => Endpoint::BackchannelAuthentication,
        }
    }

    /// The `auth_req_id` the operator gives this kind's fixed login (one per kind, so that a
    /// notification for one login is another login's unknown id).
    pub fn auth_req_id(self) -> &'static str {
        match self {
            Self::SiNotification => "1c266114-a1be-4252-8ad1-04986c5b9ac1",
            Self::SiPolling => "2d377225-b2cf-4363-9be2-15a97d6cabd2",
            Self::CibaPoll => "3e488336-c3d0-4474-acf3-26ba8e7dbce3",
            Self::CibaPing => "4f599447-d4e1-4585-bd04-37cb9f8ecdf4",
        }
    }

    /// The operator's 200 answer body to this kind's start (CIBA with `interval`).
    pub fn answer_body(self) -> Vec<u8> {
        let mut body = json!({"auth_req_id": self.auth_req_id(), "expires_in": SI_EXPIRES_IN});
        if matches!(self, Self::CibaPoll | Self::CibaPing) {
            body["interval"] = json!(CIBA_INTERVAL);
        }
        body.to_string().into_bytes()
    }

    /// A fresh start exchange of this kind at [`NOW`] (its answer consumes it). Its entropy is a
    /// counter seeded per kind, so every start of a kind draws the same nonce and notification
    /// token (those of [`SiContext`]); the ES256 request object's signature differs each time.
    pub fn start(self, operator: &Discovered) -> BackchannelStart {
        let seed = match self {
            Self::SiNotification => 100,
            Self::SiPolling => 140,
            Self::CibaPoll => 180,
            Self::CibaPing => 220,
        };
        let mut entropy = mc_sandbox::fixture::entropy_from(seed);
        let si_hint = || LoginHint::Msisdn(Msisdn::new(MSISDN));
        let ciba_hint = || CibaLoginHint::Phone(Msisdn::new(PHONE_NUMBER));
        match self {
            Self::SiNotification => {
                operator.si_authorize(SiRequest::new(si_hint()), &mut entropy, now())
            }
            Self::SiPolling => {
                operator.si_authorize(SiRequest::new(si_hint()).polling(), &mut entropy, now())
            }
            Self::CibaPoll => operator.ciba_authorize(
                CibaRequest::new(ciba_hint()).acr_values([MIN_ACR]),
                &mut entropy,
                now(),
            ),
            Self::CibaPing => {
                operator.ciba_authorize(CibaRequest::new(ciba_hint()).ping(), &mut entropy, now())
            }
        }
        .expect("the fixed server-initiated start builds")
    }
}

/// One fixed server-initiated login, started at [`NOW`] and answered with its kind's
/// [`StartKind::answer_body`], with the secrets the operator read in its request.
pub struct SiLogin {
    pub kind: StartKind,
    pub pending: BackchannelPending,
    /// The request object's `nonce` (Mobile Connect SI only).
    pub nonce: Option<String>,
    /// The `client_notification_token` sent (notification and ping modes).
    pub token: Option<String>,
}

/// The server-initiated context: the fixed operator with both server-initiated endpoints, the
/// SP's notification URI and request-object key, and one pending login of each kind.
pub struct SiContext {
    pub operator: Discovered,
    /// Another operator (another id, the same settings): a host handing a login the wrong
    /// context.
    pub foreign: Discovered,
    pub notify: SiLogin,
    pub si_poll: SiLogin,
    pub ciba_poll: SiLogin,
    pub ping: SiLogin,
    /// The `hashed_login_hint` of the SI logins' MSISDN hint (lower-case hex SHA-256 of
    /// `MSISDN:<digits>`).
    pub hashed_login_hint: String,
}

/// The server-initiated context, built once per process.
pub fn si_ctx() -> &'static SiContext {
    static CTX: OnceLock<SiContext> = OnceLock::new();
    CTX.get_or_init(SiContext::build)
}

/// The SP's request-object key. ES256 (the fixed operator's P-256 key serves as the SP's
/// here): the start target signs a request object per input, and an RSA signature would cost
/// a millisecond each.
pub fn sp_key() -> SpSigningKey {
    SpSigningKey::from_pem(
        Algorithm::ES256,
        mc_sandbox::fixture::EC_P256.as_bytes(),
        SP_KID,
    )
    .expect("the SP's fixed key")
}

/// The fixed operator with both server-initiated endpoints, the notification URI and the SP's
/// key.
pub fn si_operator_config() -> OperatorConfig {
    operator_config()
        .si_authorization(SI_AUTHORIZATION_ENDPOINT)
        .and_then(|c| c.backchannel_authentication(BC_AUTHORIZATION_ENDPOINT))
        .and_then(|c| c.notification_uri(NOTIFICATION_URI))
        .expect("fixed server-initiated settings")
        .signing_key(sp_key())
}

/// When the fixed notifications arrive.
pub fn notified_at() -> UnixTime {
    now().plus(NOTIFIED_AFTER)
}

/// The claims of a compact JWS, not verified.
fn jws_claims(jws: &str) -> Value {
    jws.split('.')
        .nth(1)
        .and_then(|claims| URL_SAFE_NO_PAD.decode(claims).ok())
        .and_then(|claims| serde_json::from_slice(&claims).ok())
        .expect("a request object with JSON claims")
}

/// A parameter of a start request, from its query, form body or JSON body.
fn start_param(request: &http::Request<Vec<u8>>, name: &str) -> Option<String> {
    let query = request.uri().query().unwrap_or_default();
    let pair = |pairs: url::form_urlencoded::Parse<'_>| {
        pairs.into_owned().find(|(k, _)| k == name).map(|(_, v)| v)
    };
    pair(url::form_urlencoded::parse(query.as_bytes()))
        .or_else(|| pair(url::form_urlencoded::parse(request.body())))
        .or_else(|| {
            let body: Value = serde_json::from_slice(request.body()).ok()?;
            body.get(name)?.as_str().map(str::to_owned)
        })
}

impl SiLogin {
    fn start(operator: &Discovered, kind: StartKind) -> Self {
        let start = kind.start(operator);
        let request = start.request();
        let (nonce, token) = match kind {
            StartKind::SiNotification | StartKind::SiPolling => {
                let claims =
                    jws_claims(&start_param(&request, "request").expect("a request object"));
                let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
                (text("nonce"), text("client_notification_token"))
            }
            StartKind::CibaPoll | StartKind::CibaPing => {
                (None, start_param(&request, "client_notification_token"))
            }
        };
        let pending = start
            .respond(
                response(200, "application/json", &kind.answer_body()),
                now(),
            )
            .expect("the fixed start answer");
        assert_eq!(pending.mode(), kind.mode());
        assert_eq!(token.is_some(), kind.mode().is_notified());
        assert_eq!(
            nonce.is_some(),
            matches!(kind, StartKind::SiNotification | StartKind::SiPolling)
        );
        Self {
            kind,
            pending,
            nonce,
            token,
        }
    }

    /// The secrets of this login (which no output may print).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.nonce
            .iter()
            .chain(self.token.iter())
            .map(String::as_str)
    }
}

impl SiContext {
    fn build() -> Self {
        let operator = operator_with_keys(si_operator_config(), committed_jwks());
        let foreign = operator_with_keys(
            OperatorConfig::new(Registration {
                operator_id: "fuzz-other-operator".to_owned(),
                client_id: CLIENT_ID.to_owned(),
                client_secret: ClientSecret::new(CLIENT_SECRET),
                redirect_uri: REDIRECT_URI.to_owned(),
            })
            .map(|c| c.issuer(ISSUER))
            .and_then(|c| c.authorization(AUTHORIZATION_ENDPOINT))
            .and_then(|c| c.token(TOKEN_ENDPOINT))
            .and_then(|c| c.jwks(JWKS_URI))
            .expect("the other operator")
            .policy(policy()),
            committed_jwks(),
        );
        let login = |kind| SiLogin::start(&operator, kind);
        Self {
            notify: login(StartKind::SiNotification),
            si_poll: login(StartKind::SiPolling),
            ciba_poll: login(StartKind::CibaPoll),
            ping: login(StartKind::CibaPing),
            hashed_login_hint: mc_sandbox::fixture::hashed_login_hint(MSISDN),
            operator,
            foreign,
        }
    }

    /// Every fixed login.
    pub fn logins(&self) -> [&SiLogin; 4] {
        [&self.notify, &self.si_poll, &self.ciba_poll, &self.ping]
    }

    /// The fixed login of a kind.
    pub fn login(&self, kind: StartKind) -> &SiLogin {
        match kind {
            StartKind::SiNotification => &self.notify,
            StartKind::SiPolling => &self.si_poll,
            StartKind::CibaPoll => &self.ciba_poll,
            StartKind::CibaPing => &self.ping,
        }
    }
}

/// Valid id_token claims of a server-initiated login: the fixed login's with this nonce (none
/// for CIBA), plus, for Mobile Connect SI, `hashed_login_hint` and (notification mode)
/// `recipient`.
pub fn si_claims(kind: StartKind, alg: Algorithm) -> Value {
    let si = si_ctx();
    let login = si.login(kind);
    let mut claims = valid_claims(login.nonce.as_deref().unwrap_or_default(), alg);
    match kind {
        StartKind::SiNotification => {
            claims["recipient"] = json!(NOTIFICATION_URI);
            claims["hashed_login_hint"] = json!(si.hashed_login_hint);
        }
        StartKind::SiPolling => claims["hashed_login_hint"] = json!(si.hashed_login_hint),
        StartKind::CibaPoll | StartKind::CibaPing => {
            if let Value::Object(map) = &mut claims {
                map.remove("nonce");
            }
        }
    }
    claims
}

/// A valid id_token of a server-initiated login ([`si_claims`]), as the fixed operator signs
/// `alg`.
pub fn si_id_token(kind: StartKind, alg: Algorithm) -> String {
    sign_claims(
        &si_claims(kind, alg),
        alg,
        mc_sandbox::fixture::operator_kid(alg),
    )
}
