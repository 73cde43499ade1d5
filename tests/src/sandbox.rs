//! The sandbox: a discovery service and two or more operator gateways (IDGWs) in one value that
//! answers `http::Request`s directly. [`crate::server`] puts the same value on loopback HTTP.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::keys::{KeyFamily, SigningKey, sha256};

/// The SP's discovery credentials at the sandbox's discovery service.
pub const DISCOVERY_CLIENT_ID: &str = "sp-discovery-client";
/// The SP's discovery secret.
pub const DISCOVERY_CLIENT_SECRET: &str = "sp-discovery-secret";
/// The SP's registered redirect URI at every sandbox operator.
pub const SP_REDIRECT_URI: &str = "https://sp.example/callback";
/// The SP's registered discovery redirect URL.
pub const SP_DISCOVERY_REDIRECT: &str = "https://sp.example/discovered";

/// What the simulated handset does for a test MSISDN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handset {
    /// The user presses OK: LoA 2, `amr` `SIM_OK`.
    Approve,
    /// The user enters the PIN: LoA 3, `amr` `SIM_PIN`.
    ApprovePin,
    /// The user declines: `access_denied`.
    Decline,
    /// The handset never answers: after the operator's wait, `access_denied` with a timeout
    /// description (over HTTP, the authorize answer is delayed by the handset wait).
    NeverAnswers,
}

/// One sandbox operator's public facts.
#[derive(Clone, Debug)]
pub struct OperatorInfo {
    /// Short name, used in paths (`/op/<name>/...`).
    pub name: &'static str,
    /// Display name (`serving_operator`).
    pub display: &'static str,
    /// MCC and MNC.
    pub mcc: &'static str,
    /// MNC.
    pub mnc: &'static str,
    /// Country.
    pub country: &'static str,
    /// The SP's client_id at this operator.
    pub client_id: &'static str,
    /// The SP's client secret at this operator.
    pub client_secret: &'static str,
    /// Test subscribers: MSISDN and handset behaviour.
    pub subscribers: &'static [(&'static str, Handset)],
    /// The X-Source-IP prefix this operator serves (documentation ranges only).
    pub ip_prefix: &'static str,
    /// Signing key family.
    pub family: KeyFamily,
    /// Whether userinfo answers with a signed JWT instead of JSON.
    pub signed_userinfo: bool,
}

/// The two sandbox operators.
pub const OPERATORS: [OperatorInfo; 2] = [
    OperatorInfo {
        name: "alpha",
        display: "Alpha Mobile",
        mcc: "234",
        mnc: "15",
        country: "GB",
        client_id: "alpha-client-id",
        client_secret: "alpha-client-secret+/=",
        subscribers: &[
            ("447700900001", Handset::Approve),
            ("447700900003", Handset::ApprovePin),
            ("447700900009", Handset::Decline),
            ("447700900000", Handset::NeverAnswers),
        ],
        ip_prefix: "192.0.2.",
        family: KeyFamily::Rs256,
        signed_userinfo: false,
    },
    OperatorInfo {
        name: "beta",
        display: "Beta Telecom",
        mcc: "262",
        mnc: "001",
        country: "DE",
        client_id: "beta-client-id",
        client_secret: "beta-client-secret",
        subscribers: &[
            ("4915100000001", Handset::Approve),
            ("4915100000003", Handset::ApprovePin),
            ("4915100000009", Handset::Decline),
            ("4915100000000", Handset::NeverAnswers),
        ],
        ip_prefix: "198.51.100.",
        family: KeyFamily::Es256,
        signed_userinfo: true,
    },
];

/// Which endpoint a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The discovery API.
    Discovery,
    /// Provider metadata.
    Metadata,
    /// JWKS.
    Jwks,
    /// The authorize endpoint.
    Authorize,
    /// The token endpoint.
    Token,
    /// UserInfo.
    UserInfo,
    /// Premium info.
    PremiumInfo,
}

/// A misbehaviour switched on for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with an HTML body.
    ServerError,
    /// Answer correctly, but only after this long (over HTTP).
    Slow(Duration),
    /// A 200 body of this many bytes.
    Oversized(usize),
    /// A 302 to another URL.
    Redirect,
    /// A 200 body that is not JSON.
    MalformedJson,
    /// id_tokens (token endpoint) or signed userinfo carry a foreign `iss`.
    WrongIssuer,
}

/// Wall-clock seconds, injectable for in-memory tests at a fixed time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

struct Grant {
    operator: usize,
    msisdn: String,
    nonce: Option<String>,
    challenge: Option<String>,
    redirect_uri: String,
    acr: &'static str,
    amr: &'static str,
    hint: String,
    auth_time: u64,
}

struct IssuedToken {
    operator: usize,
    msisdn: String,
}

struct State {
    keys: Vec<Vec<SigningKey>>,
    rotations: Vec<usize>,
    codes: BTreeMap<String, Grant>,
    tokens: BTreeMap<String, IssuedToken>,
    faults: BTreeMap<(Option<usize>, Target), Fault>,
    log: Vec<String>,
}

/// The sandbox. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Sandbox {
    base: String,
    clock: Clock,
    handset_wait: Duration,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The system clock in seconds.
#[must_use]
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The sandbox is test infrastructure; a zero buffer on an OS without entropy is harmless.
    let _ = getrandom::fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn response(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

fn json_response(status: u16, body: &Value) -> Response<Vec<u8>> {
    response(status, "application/json", body.to_string().into_bytes())
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response<Vec<u8>> {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn redirect(location: &str) -> Response<Vec<u8>> {
    let mut r = response(302, "text/plain", Vec::new());
    if let Ok(v) = http::HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

fn params(request: &Request<Vec<u8>>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let is_form = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method() == Method::POST && is_form {
        out.extend(url::form_urlencoded::parse(request.body()).into_owned());
    }
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Client credentials from HTTP Basic, accepting both RFC 6749 form-encoded and raw forms.
fn basic_credentials(request: &Request<Vec<u8>>) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn credentials_match(request: &Request<Vec<u8>>, id: &str, secret: &str) -> bool {
    let Some((got_id, got_secret)) = basic_credentials(request) else {
        return false;
    };
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    (got_id == id && got_secret == secret)
        || (decode(&got_id) == id && decode(&got_secret) == secret)
}

fn bearer(request: &Request<Vec<u8>>) -> Option<String> {
    request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// The sandbox's "encryption" of an MSISDN into a `subscriber_id`: reversible by the sandbox
/// only, opaque to the SP (hex of the digits XORed with a fixed pad).
#[must_use]
pub fn encrypt_msisdn(msisdn: &str) -> String {
    msisdn
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            format!(
                "{:02x}",
                b ^ (0x5a_u8.wrapping_add(u8::try_from(i % 200).unwrap_or(0)))
            )
        })
        .collect()
}

fn decrypt_msisdn(subscriber_id: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..subscriber_id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(subscriber_id.get(i..i + 2)?, 16).ok())
        .collect();
    let plain: Vec<u8> = bytes?
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ (0x5a_u8.wrapping_add(u8::try_from(i % 200).unwrap_or(0))))
        .collect();
    String::from_utf8(plain)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
}

impl Sandbox {
    /// A sandbox whose URLs start with `base` (e.g. `http://127.0.0.1:8080`), on the system clock.
    #[must_use]
    pub fn new(base: &str) -> Self {
        Self::with_clock(base, system_clock())
    }

    /// A sandbox with an injected clock (fixed time for in-memory tests).
    #[must_use]
    pub fn with_clock(base: &str, clock: Clock) -> Self {
        let keys = OPERATORS
            .iter()
            .map(|op| {
                vec![SigningKey::from_pool(
                    op.family,
                    0,
                    format!("{}-key-0", op.name),
                )]
            })
            .collect();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            clock,
            handset_wait: Duration::from_millis(200),
            state: Arc::new(Mutex::new(State {
                keys,
                rotations: vec![0; OPERATORS.len()],
                codes: BTreeMap::new(),
                tokens: BTreeMap::new(),
                faults: BTreeMap::new(),
                log: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The discovery endpoint URL.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        format!("{}/discovery/v2/discovery", self.base)
    }

    /// An operator's issuer.
    #[must_use]
    pub fn issuer(&self, operator: &str) -> String {
        format!("{}/op/{operator}", self.base)
    }

    /// The operator facts by name.
    #[must_use]
    pub fn operator(name: &str) -> Option<&'static OperatorInfo> {
        OPERATORS.iter().find(|o| o.name == name)
    }

    /// A registry entry for `operator` as an SP would configure it (issuer, all endpoints).
    ///
    /// # Errors
    /// Never for the built-in operators; the type is mc-core's.
    pub fn registry_entry(
        &self,
        operator: &str,
    ) -> Result<mc_core::OperatorConfig, mc_core::Error> {
        let info = Self::operator(operator).ok_or(mc_core::MisuseError::InvalidParameter {
            name: "operator",
            reason: "no such sandbox operator",
        })?;
        let issuer = self.issuer(operator);
        mc_core::OperatorConfig::new(
            operator,
            info.client_id,
            mc_core::ClientSecret::new(info.client_secret),
            SP_REDIRECT_URI,
            &format!("{issuer}/authorize"),
            &format!("{issuer}/token"),
        )?
        .issuer(issuer.clone())
        .jwks(&format!("{issuer}/jwks"))?
        .userinfo(&format!("{issuer}/userinfo"))?
        .premiuminfo(&format!("{issuer}/premiuminfo"))?
        .metadata(&format!("{issuer}/.well-known/openid-configuration"))
        .map(|c| c.client_name("Sandbox Shop"))
    }

    /// The SP's account at the sandbox discovery service.
    ///
    /// # Errors
    /// Never for a well-formed base URL.
    pub fn discovery_service(&self) -> Result<mc_core::DiscoveryService, mc_core::Error> {
        mc_core::DiscoveryService::new(
            &self.discovery_url(),
            DISCOVERY_CLIENT_ID,
            mc_core::ClientSecret::new(DISCOVERY_CLIENT_SECRET),
            SP_DISCOVERY_REDIRECT,
        )
    }

    /// Switch a fault on for `target` at every operator (and discovery), until cleared.
    pub fn set_fault(&self, target: Target, fault: Fault) {
        self.lock().faults.insert((None, target), fault);
    }

    /// Switch a fault on for `target` at one operator only.
    pub fn set_operator_fault(&self, operator: &str, target: Target, fault: Fault) {
        let index = OPERATORS.iter().position(|o| o.name == operator);
        self.lock().faults.insert((index, target), fault);
    }

    /// Clear every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Rotate `operator`'s signing key: the next key of its pool, under a new `kid`. The old key
    /// leaves the JWKS.
    pub fn rotate_keys(&self, operator: &str) {
        let Some(index) = OPERATORS.iter().position(|o| o.name == operator) else {
            return;
        };
        let mut state = self.lock();
        let Some(rotation) = state.rotations.get_mut(index) else {
            return;
        };
        *rotation += 1;
        let n = *rotation;
        if let (Some(keys), Some(info)) = (state.keys.get_mut(index), OPERATORS.get(index)) {
            *keys = vec![SigningKey::from_pool(
                info.family,
                n,
                format!("{}-key-{n}", info.name),
            )];
        }
    }

    /// How long a never-answering handset keeps the authorize request waiting over HTTP.
    #[must_use]
    pub fn handset_wait(&self) -> Duration {
        self.handset_wait
    }

    /// The requests served so far (`METHOD /path`), for tests that count calls.
    #[must_use]
    pub fn request_log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// Answer one request in memory.
    #[must_use]
    pub fn handle(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        self.handle_with_delay(request).0
    }

    /// Answer one request, with how long an HTTP server should wait before sending it.
    #[must_use]
    pub fn handle_with_delay(&self, request: &Request<Vec<u8>>) -> (Response<Vec<u8>>, Duration) {
        let path = request.uri().path().to_owned();
        self.lock().log.push(format!("{} {path}", request.method()));
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (operator, target) = match segments.as_slice() {
            ["discovery", "v2", "discovery"] => (None, Target::Discovery),
            ["discovery", "operator-selection"] => {
                return (self.selection_page(request), Duration::ZERO);
            }
            ["discovery", "operator-selection", "choose"] => {
                return (self.selection_choice(request), Duration::ZERO);
            }
            ["op", name, rest @ ..] => {
                let Some(index) = OPERATORS.iter().position(|o| o.name == *name) else {
                    return (
                        oauth_error(404, "not_found", "no such operator"),
                        Duration::ZERO,
                    );
                };
                let target = match rest {
                    [".well-known", "openid-configuration"] => Target::Metadata,
                    ["jwks"] => Target::Jwks,
                    ["authorize"] => Target::Authorize,
                    ["token"] => Target::Token,
                    ["userinfo"] => Target::UserInfo,
                    ["premiuminfo"] => Target::PremiumInfo,
                    _ => {
                        return (
                            oauth_error(404, "not_found", "no such endpoint"),
                            Duration::ZERO,
                        );
                    }
                };
                (Some(index), target)
            }
            _ => {
                return (
                    oauth_error(404, "not_found", "no such path"),
                    Duration::ZERO,
                );
            }
        };
        let fault = {
            let state = self.lock();
            state
                .faults
                .get(&(operator, target))
                .or_else(|| state.faults.get(&(None, target)))
                .cloned()
        };
        match fault {
            Some(Fault::ServerError) => {
                return (
                    response(
                        500,
                        "text/html",
                        b"<html>Internal Server Error</html>".to_vec(),
                    ),
                    Duration::ZERO,
                );
            }
            Some(Fault::Oversized(size)) => {
                let mut body = b"{\"padding\":\"".to_vec();
                body.resize(size.saturating_sub(2), b'x');
                body.extend_from_slice(b"\"}");
                return (response(200, "application/json", body), Duration::ZERO);
            }
            Some(Fault::Redirect) => {
                return (
                    redirect(&format!("{}/elsewhere", self.base)),
                    Duration::ZERO,
                );
            }
            Some(Fault::MalformedJson) => {
                return (
                    response(
                        200,
                        "application/json",
                        b"{\"access_token\": \"abc\", oops".to_vec(),
                    ),
                    Duration::ZERO,
                );
            }
            _ => {}
        }
        let delay = match fault {
            Some(Fault::Slow(d)) => d,
            _ => Duration::ZERO,
        };
        let wrong_issuer = fault == Some(Fault::WrongIssuer);
        let (answer, extra) = match (operator, target) {
            (None, _) => (self.discovery(request), Duration::ZERO),
            (Some(op), Target::Metadata) => (self.metadata(op), Duration::ZERO),
            (Some(op), Target::Jwks) => (self.jwks(op), Duration::ZERO),
            (Some(op), Target::Authorize) => self.authorize(op, request),
            (Some(op), Target::Token) => (self.token(op, request, wrong_issuer), Duration::ZERO),
            (Some(op), Target::UserInfo) => (
                self.userinfo(op, request, false, wrong_issuer),
                Duration::ZERO,
            ),
            (Some(op), _) => (
                self.userinfo(op, request, true, wrong_issuer),
                Duration::ZERO,
            ),
        };
        (answer, delay + extra)
    }

    // ------------------------------------------------------------------ discovery API

    fn operator_answer(&self, index: usize, msisdn: Option<&str>) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        let issuer = self.issuer(info.name);
        let ttl_ms = (self.clock)().saturating_add(3600).saturating_mul(1000);
        let link = |rel: &str, path: &str| json!({ "rel": rel, "href": format!("{issuer}{path}") });
        let mut body = json!({
            "ttl": ttl_ms,
            "response": {
                "serving_operator": info.display,
                "country": info.country,
                "currency": if info.country == "GB" { "GBP" } else { "EUR" },
                "client_id": info.client_id,
                "client_secret": info.client_secret,
                "client_name": "Sandbox Shop",
                "apis": { "operatorid": { "link": [
                    link("authorization", "/authorize"),
                    link("token", "/token"),
                    link("userinfo", "/userinfo"),
                    link("premiuminfo", "/premiuminfo"),
                    link("jwks", "/jwks"),
                    link("openid-configuration", "/.well-known/openid-configuration"),
                    { "rel": "issuer", "href": issuer },
                    { "rel": "scope", "href": "openid mc_authn mc_authz mc_identity_phonenumber" },
                ] } }
            }
        });
        if let Some(msisdn) = msisdn {
            body["subscriber_id"] = json!(encrypt_msisdn(msisdn));
        }
        json_response(200, &body)
    }

    fn discovery(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        if !credentials_match(request, DISCOVERY_CLIENT_ID, DISCOVERY_CLIENT_SECRET) {
            return json_response(
                401,
                &json!({ "error": "unauthorized_client", "description": "Bad discovery credentials" }),
            );
        }
        let p = params(request);
        let Some(redirect_url) = param(&p, "Redirect_URL") else {
            return json_response(
                400,
                &json!({ "error": "invalid_request", "description": "Redirect_URL is required" }),
            );
        };
        if let Some(msisdn) = param(&p, "MSISDN") {
            let msisdn = msisdn.trim_start_matches('+');
            return match OPERATORS
                .iter()
                .position(|o| o.subscribers.iter().any(|(m, _)| *m == msisdn))
            {
                Some(index) => self.operator_answer(index, Some(msisdn)),
                None => json_response(
                    404,
                    &json!({ "error": "Not_Found_Entity", "description": "Operator Not Found" }),
                ),
            };
        }
        let by_mcc = |mcc: Option<&str>, mnc: Option<&str>| {
            OPERATORS
                .iter()
                .position(|o| Some(o.mcc) == mcc && Some(o.mnc) == mnc)
        };
        for prefix in ["Selected", "Identified"] {
            let mcc = param(&p, &format!("{prefix}-MCC"));
            let mnc = param(&p, &format!("{prefix}-MNC"));
            if mcc.is_some() || mnc.is_some() {
                return match by_mcc(mcc, mnc) {
                    Some(index) => self.operator_answer(index, None),
                    None => json_response(
                        404,
                        &json!({ "error": "Not_Found_Entity", "description": "Operator Not Found" }),
                    ),
                };
            }
        }
        let source_ip = request
            .headers()
            .get("x-source-ip")
            .and_then(|v| v.to_str().ok());
        if let Some(index) =
            source_ip.and_then(|ip| OPERATORS.iter().position(|o| ip.starts_with(o.ip_prefix)))
        {
            return self.operator_answer(index, None);
        }
        let selection = format!(
            "{}/discovery/operator-selection?Redirect_URL={}",
            self.base,
            url::form_urlencoded::byte_serialize(redirect_url.as_bytes()).collect::<String>()
        );
        json_response(
            202,
            &json!({ "links": [{ "rel": "operatorSelection", "href": selection }] }),
        )
    }

    fn selection_page(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let p = params(request);
        let back = param(&p, "Redirect_URL").unwrap_or(SP_DISCOVERY_REDIRECT);
        let back_enc: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        let mut html = String::from(
            "<!doctype html><title>Choose your operator</title><h1>Choose your mobile operator</h1><ul>",
        );
        for o in &OPERATORS {
            html.push_str(&format!(
                "<li><a href=\"{}/discovery/operator-selection/choose?mcc_mnc={}_{}&amp;Redirect_URL={back_enc}\">{}</a></li>",
                self.base, o.mcc, o.mnc, o.display
            ));
        }
        html.push_str("</ul>");
        response(200, "text/html; charset=utf-8", html.into_bytes())
    }

    /// The selection page's form target: `mcc_mnc` (and optionally `msisdn`) chosen by the user.
    fn selection_choice(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let p = params(request);
        let back = param(&p, "Redirect_URL").unwrap_or(SP_DISCOVERY_REDIRECT);
        let sep = if back.contains('?') { '&' } else { '?' };
        let Some(mcc_mnc) = param(&p, "mcc_mnc") else {
            return redirect(&format!(
                "{back}{sep}error=invalid_request&description=No+operator+chosen"
            ));
        };
        let known = OPERATORS
            .iter()
            .any(|o| format!("{}_{}", o.mcc, o.mnc) == mcc_mnc);
        if !known {
            return redirect(&format!("{back}{sep}err_msg=NotSupportedOperatorMSISDN"));
        }
        let mut location = format!("{back}{sep}mcc_mnc={mcc_mnc}");
        if let Some(msisdn) = param(&p, "msisdn") {
            location.push_str(&format!("&subscriber_id={}", encrypt_msisdn(msisdn)));
        }
        redirect(&location)
    }

    // ------------------------------------------------------------------ operator gateways

    fn metadata(&self, index: usize) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        let issuer = self.issuer(info.name);
        let alg = if info.family == KeyFamily::Es256 {
            "ES256"
        } else {
            "RS256"
        };
        json_response(
            200,
            &json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "userinfo_endpoint": format!("{issuer}/userinfo"),
                "premiuminfo_endpoint": format!("{issuer}/premiuminfo"),
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "mc_authn", "mc_authz", "mc_identity_phonenumber", "mc_identity_signup"],
                "acr_values_supported": ["2", "3"],
                "id_token_signing_alg_values_supported": [alg],
                "userinfo_signing_alg_values_supported": [alg],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                "claims_parameter_supported": true,
                "authorization_response_iss_parameter_supported": true,
                "login_hint_methods_supported": ["MSISDN", "ENCR_MSISDN", "PCR"],
                "mc_amr_values_supported": ["SIM_OK", "SIM_PIN"],
                "mobile_connect_version_supported": [
                    { "openid mc_authn": "mc_v1.1" },
                    { "openid mc_authz": "mc_v2.0" },
                    { "openid mc_identity_phonenumber": "mc_di_r2_v2.3" }
                ]
            }),
        )
    }

    fn jwks(&self, index: usize) -> Response<Vec<u8>> {
        let keys: Vec<Value> = self
            .lock()
            .keys
            .get(index)
            .map(|ks| ks.iter().map(SigningKey::jwk).collect())
            .unwrap_or_default();
        json_response(200, &json!({ "keys": keys }))
    }

    fn pcr(info: &OperatorInfo, msisdn: &str) -> String {
        // A GUID-shaped pseudonym, stable per subscriber per SP, like the reference IDGW's.
        let digest = sha256(format!("{}:{}:{msisdn}", info.name, info.client_id).as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02X}")).collect();
        let part = |a: usize, b: usize| hex.get(a..b).unwrap_or_default().to_owned();
        [
            part(0, 8),
            part(8, 12),
            part(12, 16),
            part(16, 20),
            part(20, 32),
        ]
        .join("-")
    }

    fn authorize(&self, index: usize, request: &Request<Vec<u8>>) -> (Response<Vec<u8>>, Duration) {
        let Some(info) = OPERATORS.get(index) else {
            return (
                oauth_error(500, "server_error", "operator index"),
                Duration::ZERO,
            );
        };
        let p = params(request);
        // Errors before the redirect URI is trusted are shown to the user, never redirected.
        if param(&p, "client_id") != Some(info.client_id) {
            return (
                response(400, "text/html", b"<html>Unknown client</html>".to_vec()),
                Duration::ZERO,
            );
        }
        let Some(redirect_uri) = param(&p, "redirect_uri").filter(|r| *r == SP_REDIRECT_URI) else {
            return (
                response(
                    400,
                    "text/html",
                    b"<html>Unregistered redirect_uri</html>".to_vec(),
                ),
                Duration::ZERO,
            );
        };
        let state = param(&p, "state").unwrap_or_default();
        let iss = self.issuer(info.name);
        let back = |query: String| {
            let state_enc: String =
                url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
            let iss_enc: String = url::form_urlencoded::byte_serialize(iss.as_bytes()).collect();
            redirect(&format!(
                "{redirect_uri}?{query}&state={state_enc}&iss={iss_enc}"
            ))
        };
        if param(&p, "response_type") != Some("code") {
            return (
                back("error=unsupported_response_type".to_owned()),
                Duration::ZERO,
            );
        }
        if !param(&p, "scope")
            .unwrap_or_default()
            .split(' ')
            .any(|s| s == "openid")
        {
            return (
                back("error=invalid_scope&error_description=openid+is+required".to_owned()),
                Duration::ZERO,
            );
        }
        let challenge = param(&p, "code_challenge").map(str::to_owned);
        if challenge.is_some() && param(&p, "code_challenge_method") != Some("S256") {
            return (
                back("error=invalid_request&error_description=PKCE+S256+only".to_owned()),
                Duration::ZERO,
            );
        }
        let hint = param(&p, "login_hint").unwrap_or_default();
        let msisdn = if let Some(m) = hint.strip_prefix("MSISDN:") {
            Some(m.trim_start_matches('+').to_owned())
        } else if let Some(s) = hint.strip_prefix("ENCR_MSISDN:") {
            decrypt_msisdn(s)
        } else if let Some(pcr) = hint.strip_prefix("PCR:") {
            info.subscribers
                .iter()
                .map(|(m, _)| *m)
                .find(|m| Self::pcr(info, m) == pcr)
                .map(str::to_owned)
        } else {
            // No hint: the operator's page would ask for the number; the sandbox's user is the
            // first test subscriber.
            info.subscribers.first().map(|(m, _)| (*m).to_owned())
        };
        let Some((msisdn, handset)) = msisdn.and_then(|m| {
            info.subscribers
                .iter()
                .find(|(s, _)| *s == m)
                .map(|(s, h)| ((*s).to_owned(), *h))
        }) else {
            return (
                back("error=invalid_request&error_description=Unknown+subscriber".to_owned()),
                Duration::ZERO,
            );
        };
        let (acr, amr) = match handset {
            Handset::Approve => ("2", "SIM_OK"),
            Handset::ApprovePin => ("3", "SIM_PIN"),
            Handset::Decline => {
                return (
                    back("error=access_denied&error_description=The+user+declined".to_owned()),
                    Duration::ZERO,
                );
            }
            Handset::NeverAnswers => {
                return (
                    back(
                        "error=access_denied&error_description=No+response+from+the+handset"
                            .to_owned(),
                    ),
                    self.handset_wait,
                );
            }
        };
        let code = random_hex(16);
        let now = (self.clock)();
        self.lock().codes.insert(
            code.clone(),
            Grant {
                operator: index,
                hint: format!("MSISDN:{msisdn}"),
                msisdn,
                nonce: param(&p, "nonce").map(str::to_owned),
                challenge,
                redirect_uri: redirect_uri.to_owned(),
                acr,
                amr,
                auth_time: now,
            },
        );
        (back(format!("code={code}")), Duration::ZERO)
    }

    fn token(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        wrong_issuer: bool,
    ) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        if request.method() != Method::POST {
            return oauth_error(405, "invalid_request", "POST only");
        }
        if !credentials_match(request, info.client_id, info.client_secret) {
            return oauth_error(401, "invalid_client", "Client authentication failed");
        }
        let p = params(request);
        if param(&p, "grant_type") != Some("authorization_code") {
            return oauth_error(400, "unsupported_grant_type", "authorization_code only");
        }
        let grant = param(&p, "code").and_then(|c| self.lock().codes.remove(c));
        let Some(grant) = grant.filter(|g| g.operator == index) else {
            return oauth_error(400, "invalid_grant", "Unknown, used or foreign code");
        };
        if param(&p, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return oauth_error(400, "invalid_grant", "redirect_uri does not match");
        }
        if let Some(challenge) = &grant.challenge {
            let verifier = param(&p, "code_verifier").unwrap_or_default();
            if URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())) != *challenge {
                return oauth_error(400, "invalid_grant", "PKCE verification failed");
            }
        }
        let key = match self.lock().keys.get(index).and_then(|k| k.first().cloned()) {
            Some(key) => key,
            None => return oauth_error(500, "server_error", "no key"),
        };
        let access_token = random_hex(24);
        let now = (self.clock)();
        let iss = if wrong_issuer {
            "https://impostor.example".to_owned()
        } else {
            self.issuer(info.name)
        };
        let mut claims = json!({
            "iss": iss,
            "sub": Self::pcr(info, &grant.msisdn),
            "aud": [info.client_id],
            "azp": info.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": grant.auth_time,
            "acr": grant.acr,
            "amr": [grant.amr],
            "at_hash": mc_core::id_token::at_hash(&access_token, key.alg).unwrap_or_default(),
            "hashed_login_hint": sha256(grant.hint.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>(),
        });
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = json!(nonce);
        }
        let id_token = key.sign(&claims);
        self.lock().tokens.insert(
            access_token.clone(),
            IssuedToken {
                operator: index,
                msisdn: grant.msisdn,
            },
        );
        json_response(
            200,
            &json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
                "correlation_id": param(&p, "correlation_id"),
            }),
        )
    }

    fn userinfo(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        premium: bool,
        wrong_issuer: bool,
    ) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        let unauthorized = |error: &str, description: &str| {
            let mut r = response(401, "application/json", Vec::new());
            if let Ok(v) = http::HeaderValue::from_str(&format!(
                "Bearer error=\"{error}\", error_description=\"{description}\""
            )) {
                r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
            }
            r
        };
        let Some(token) = bearer(request) else {
            return unauthorized("invalid_request", "No Access Token");
        };
        let msisdn = {
            let state = self.lock();
            state
                .tokens
                .get(&token)
                .filter(|t| t.operator == index)
                .map(|t| t.msisdn.clone())
        };
        let Some(msisdn) = msisdn else {
            return unauthorized("invalid_token", "Unknown access token");
        };
        let mut claims = json!({
            "sub": Self::pcr(info, &msisdn),
            "phone_number": format!("+{msisdn}"),
            "phone_number_verified": true,
        });
        if premium {
            claims["given_name"] = json!("Test");
            claims["family_name"] = json!("Subscriber");
            claims["postal_code"] = json!("SW1A 1AA");
            claims["country"] = json!(info.country);
        }
        if info.signed_userinfo {
            claims["iss"] = json!(if wrong_issuer {
                "https://impostor.example".to_owned()
            } else {
                self.issuer(info.name)
            });
            claims["aud"] = json!(info.client_id);
            let key = self.lock().keys.get(index).and_then(|k| k.first().cloned());
            return match key {
                Some(key) => response(200, "application/jwt", key.sign(&claims).into_bytes()),
                None => oauth_error(500, "server_error", "no key"),
            };
        }
        json_response(200, &claims)
    }

    /// Sign arbitrary header and claims with `operator`'s current key (for tests that need a
    /// token the sandbox would never issue).
    #[must_use]
    pub fn sign_as(&self, operator: &str, header: &Value, claims: &Value) -> Option<String> {
        let index = OPERATORS.iter().position(|o| o.name == operator)?;
        let key = self.lock().keys.get(index)?.first()?.clone();
        Some(key.sign_raw(header, claims))
    }
}
