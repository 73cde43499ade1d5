//! The sandbox: a discovery service and two or more operator gateways (IDGWs) in one value that
//! answers `http::Request`s directly. [`crate::server`] puts the same value on loopback HTTP.
//!
//! Tests make it misbehave with [`Sandbox::set_fault`]: a [`Fault`] per [`Target`] endpoint,
//! from transport-level faults (HTTP 500, slowness, oversized or raw bodies) to protocol attacks
//! on the relying party: edited or forged id_tokens ([`IdTokenMutation`]), edited callbacks
//! ([`CallbackMutation`]), odd key sets ([`JwksMutation`]), a userinfo `sub` for someone else,
//! provider metadata naming another issuer. [`Sandbox::requests`] records every request it
//! served (method, path and query, headers, body) so that tests can check what the SP sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::keys::{KeyFamily, SigningKey, hmac_sha256, sha256};

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
    /// HTTP 500 with an HTML body, after this long (over HTTP).
    SlowServerError(Duration),
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
    /// [`Target::Token`]: the id_token is edited, re-signed, forged or replaced as described.
    /// [`Target::UserInfo`] / [`Target::PremiumInfo`] of an operator with signed userinfo: the
    /// same edit of the userinfo JWT. Other targets ignore it.
    IdToken(IdTokenMutation),
    /// [`Target::UserInfo`] / [`Target::PremiumInfo`]: the `sub` is not the id_token's
    /// (`sub` + `"invalid"`, as the OpenID conformance suite does), JSON or signed.
    SubjectMismatch,
    /// [`Target::Metadata`]: the document's `issuer` is `https://impostor.example`.
    ForeignIssuerInMetadata,
    /// [`Target::Metadata`]: `jwks_uri` points to a path other than the registry's
    /// (`{issuer}/keys/moved`), where the sandbox serves the JWKS too.
    MovedJwksUri,
    /// [`Target::Authorize`]: the browser's way back to the SP is edited.
    Callback(CallbackMutation),
    /// [`Target::Jwks`]: the key set is edited.
    Jwks(JwksMutation),
    /// [`Target::Token`]: the endpoint accepts only this client authentication method.
    RequireClientAuth(ClientAuthRequirement),
    /// Any target: answer exactly this status, content type and body.
    Body(RawBody),
}

/// How the token endpoint (or signed userinfo) edits the JWT it issues. Claim and header edits
/// apply in order to the genuine token before it is signed, so everything not edited stays
/// valid (fresh `iat`, right `nonce`, matching `at_hash`): one rule broken at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenMutation {
    /// Set a claim to a value (adding it if absent).
    SetClaim(String, Value),
    /// Remove a claim.
    RemoveClaim(String),
    /// Append text to a string claim (`nonce` + `"1"`, as the OpenID conformance suite does:
    /// the genuine value with one character more).
    AppendToClaim(String, String),
    /// Set a time claim (`exp`, `iat`, `nbf`, `auth_time`) to the sandbox's clock plus this many
    /// seconds (negative: in the past), read when the token is built.
    ClaimFromNow(String, i64),
    /// Write the member a second time at the end of the claims JSON (RFC 8725 section 2.6).
    DuplicateClaim(String, Value),
    /// Set a JOSE header member (after the signer set `alg`, so this can also lie about `alg`).
    SetHeader(String, Value),
    /// Remove a JOSE header member (`kid`: the token names no key).
    RemoveHeader(String),
    /// Write the header member a second time at the end of the header JSON.
    DuplicateHeader(String, Value),
    /// An unsecured JWT: `alg` `none` and an empty signature.
    AlgNone,
    /// Flip every signature bit pattern (XOR 0x5A), as the conformance suite does.
    CorruptSignature,
    /// `alg` HS256, MACed with these key bytes (the client secret for a genuine HS256 token;
    /// the operator's public key PEM for an algorithm-confusion attack).
    Hmac(Vec<u8>),
    /// Signed with a key of the operator's family that is not in its JWKS (the pool key before
    /// the current one), under the current `kid`.
    ForeignKey,
    /// Serve the last id_token this operator issued (replay into another login).
    ReplayLast,
    /// Serve this string as the id_token, as is.
    Raw(String),
    /// Several edits, in order.
    All(Vec<IdTokenMutation>),
}

impl IdTokenMutation {
    /// [`IdTokenMutation::SetClaim`].
    #[must_use]
    pub fn set(name: &str, value: Value) -> Self {
        Self::SetClaim(name.to_owned(), value)
    }

    /// [`IdTokenMutation::RemoveClaim`].
    #[must_use]
    pub fn remove(name: &str) -> Self {
        Self::RemoveClaim(name.to_owned())
    }

    /// [`IdTokenMutation::AppendToClaim`].
    #[must_use]
    pub fn append(name: &str, suffix: &str) -> Self {
        Self::AppendToClaim(name.to_owned(), suffix.to_owned())
    }

    /// [`IdTokenMutation::ClaimFromNow`].
    #[must_use]
    pub fn from_now(name: &str, offset_secs: i64) -> Self {
        Self::ClaimFromNow(name.to_owned(), offset_secs)
    }

    /// [`IdTokenMutation::SetHeader`].
    #[must_use]
    pub fn header(name: &str, value: Value) -> Self {
        Self::SetHeader(name.to_owned(), value)
    }

    /// [`IdTokenMutation::RemoveHeader`].
    #[must_use]
    pub fn remove_header(name: &str) -> Self {
        Self::RemoveHeader(name.to_owned())
    }
}

/// How the authorize endpoint edits the redirect back to the SP (success and error alike).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackMutation {
    /// `state` replaced by a fresh random value (CSRF, or another login's callback).
    ForeignState,
    /// No `state`.
    NoState,
    /// RFC 9207 `iss` of another issuer (mix-up): `https://impostor.example`.
    ForeignIss,
    /// No `iss` (although the metadata announces RFC 9207 support).
    NoIss,
    /// `state` twice.
    DuplicateState,
    /// This many extra parameters after the genuine ones: distinct names without values
    /// (`&0&1&2...`). Ignored with [`CallbackMutation::FormPost`].
    ExtraParams(usize),
    /// `response_mode=form_post` style: a 200 HTML page whose form POSTs the parameters to the
    /// redirect URI, instead of a 302 (read it with [`parse_form_post`]).
    FormPost,
}

/// How the JWKS endpoint edits the operator's key set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksMutation {
    /// The signing key plus `extra` other keys of the same family (listed first), none with a
    /// `kid`. `extra` is at most the pool size minus 2, so that [`IdTokenMutation::ForeignKey`]
    /// stays outside the set.
    WithoutKids {
        /// How many other keys.
        extra: usize,
    },
    /// The genuine keys followed by this many other public keys of the family under fresh kids
    /// (`padding-<n>`): a JWKS of real-sized keys, as large as wanted.
    Padded(usize),
}

/// The one client authentication method the token endpoint accepts under
/// [`Fault::RequireClientAuth`] (without the fault, HTTP Basic).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthRequirement {
    /// `client_secret_post`: `client_id` and `client_secret` in the form body, no Basic header.
    SecretPost,
    /// `private_key_jwt`: an RS256 or ES256 `client_assertion` verified with this public JWK of
    /// the SP (`iss` = `sub` = client_id, `aud` = the token endpoint, not expired).
    PrivateKeyJwt(Value),
}

/// A body served by [`Fault::Body`]: shared, and printed by length only (it may be megabytes).
#[derive(Clone, PartialEq, Eq)]
pub struct RawBody {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: String,
    bytes: Arc<[u8]>,
}

impl RawBody {
    /// Any status, content type and bytes.
    #[must_use]
    pub fn new(status: u16, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type: content_type.to_owned(),
            bytes: Arc::from(bytes.into()),
        }
    }

    /// A 200 `application/json` body.
    #[must_use]
    pub fn json(bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(200, "application/json", bytes)
    }

    /// The bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBody")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// One request the sandbox served, as it arrived.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// The method.
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl LoggedRequest {
    /// The path, without the query.
    #[must_use]
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    /// The query, if any.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }

    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The fields of a form-post page built by [`CallbackMutation::FormPost`]: the form's `action`
/// and its hidden inputs, unescaped, in document order.
#[must_use]
pub fn parse_form_post(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + tag.get(start..)?.find('"')?;
        Some(html_unescape(tag.get(start..end)?))
    };
    let form = html.find("<form")?;
    let form_tag = html.get(form..form + html.get(form..)?.find('>')?)?;
    let action = attribute(form_tag, "action")?;
    let mut fields = Vec::new();
    let mut rest = html.get(form..)?;
    while let Some(at) = rest.find("<input") {
        let tag_end = at + rest.get(at..)?.find('>')?;
        let tag = rest.get(at..tag_end)?;
        fields.push((attribute(tag, "name")?, attribute(tag, "value")?));
        rest = rest.get(tag_end..)?;
    }
    Some((action, fields))
}

fn html_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html_unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The foreign issuer the faults use.
pub const IMPOSTOR_ISSUER: &str = "https://impostor.example";

/// Wall-clock seconds, injectable for in-memory tests at a fixed time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

struct Grant {
    operator: usize,
    /// The `claims` request parameter, if any.
    claims: Option<Value>,
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
    /// Claim names requested for userinfo through the `claims` parameter.
    userinfo_claims: Vec<String>,
}

struct State {
    keys: Vec<Vec<SigningKey>>,
    rotations: Vec<usize>,
    codes: BTreeMap<String, Grant>,
    tokens: BTreeMap<String, IssuedToken>,
    faults: BTreeMap<(Option<usize>, Target), Fault>,
    log: Vec<String>,
    requests: Vec<LoggedRequest>,
    /// The client secret each operator currently accepts.
    secrets: Vec<String>,
    /// The last id_token each operator issued.
    last_id_token: Vec<Option<String>>,
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
fn server_error() -> Response<Vec<u8>> {
    response(
        500,
        "text/html",
        b"<html>Internal Server Error</html>".to_vec(),
    )
}

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

/// A JWT being built: the claims, the pending header edits and how it gets signed.
struct Forge {
    claims: Value,
    header_edits: Vec<(String, Option<Value>)>,
    duplicate_header: Vec<(String, Value)>,
    duplicate_claims: Vec<(String, Value)>,
    signer: Signer,
    corrupt: bool,
    replace: Option<String>,
}

enum Signer {
    Genuine,
    None,
    Hmac(Vec<u8>),
    Foreign,
}

/// A JSON object's text with members written again at its end (duplicate names).
fn with_duplicates(json_text: String, duplicates: &[(String, Value)]) -> String {
    let mut text = json_text;
    for (name, value) in duplicates {
        if text.ends_with('}') {
            text.pop();
            if !text.ends_with('{') {
                text.push(',');
            }
            text.push_str(&format!("{}:{value}}}", json!(name)));
        }
    }
    text
}

/// The authorization response: `pairs`, then `state` and RFC 9207 `iss`, as edited by
/// `mutation`, as a 302 to the redirect URI or as a form-post page.
fn callback_response(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: &str,
    iss: &str,
    mutation: Option<&CallbackMutation>,
) -> Response<Vec<u8>> {
    let mut all: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    match mutation {
        Some(CallbackMutation::NoState) => {}
        Some(CallbackMutation::ForeignState) => all.push(("state".to_owned(), random_hex(32))),
        Some(CallbackMutation::DuplicateState) => {
            all.push(("state".to_owned(), state.to_owned()));
            all.push(("state".to_owned(), state.to_owned()));
        }
        _ => all.push(("state".to_owned(), state.to_owned())),
    }
    match mutation {
        Some(CallbackMutation::NoIss) => {}
        Some(CallbackMutation::ForeignIss) => {
            all.push(("iss".to_owned(), IMPOSTOR_ISSUER.to_owned()));
        }
        _ => all.push(("iss".to_owned(), iss.to_owned())),
    }
    if mutation == Some(&CallbackMutation::FormPost) {
        let mut html = format!(
            "<!doctype html><html><body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">",
            html_escape(redirect_uri)
        );
        for (name, value) in &all {
            html.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(name),
                html_escape(value)
            ));
        }
        html.push_str("</form></body></html>");
        return response(200, "text/html; charset=utf-8", html.into_bytes());
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&all)
        .finish();
    if let Some(CallbackMutation::ExtraParams(n)) = mutation {
        // Valueless, distinct names (`&0&1&2...`): 10,000 of them stay under 50 KB, within
        // what HTTP clients accept as a header.
        for i in 0..*n {
            query.push_str(&format!("&{i}"));
        }
    }
    redirect(&format!("{redirect_uri}?{query}"))
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
                requests: Vec::new(),
                secrets: OPERATORS
                    .iter()
                    .map(|o| o.client_secret.to_owned())
                    .collect(),
                last_id_token: vec![None; OPERATORS.len()],
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

    /// The client secret `operator` currently accepts (initially [`OperatorInfo::client_secret`]).
    #[must_use]
    pub fn client_secret(&self, operator: &str) -> Option<String> {
        let index = OPERATORS.iter().position(|o| o.name == operator)?;
        self.lock().secrets.get(index).cloned()
    }

    /// Register another client secret for the SP at `operator` (e.g. a 32-byte one for HS256
    /// id_tokens). Registry entries, discovery answers and the token endpoint use it from now on.
    pub fn set_client_secret(&self, operator: &str, secret: &str) {
        let Some(index) = OPERATORS.iter().position(|o| o.name == operator) else {
            return;
        };
        if let Some(slot) = self.lock().secrets.get_mut(index) {
            secret.clone_into(slot);
        }
    }

    /// The signing key `operator` currently uses (its public half is in the JWKS).
    #[must_use]
    pub fn signing_key(&self, operator: &str) -> Option<SigningKey> {
        let index = OPERATORS.iter().position(|o| o.name == operator)?;
        self.lock().keys.get(index)?.first().cloned()
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

    /// The requests served so far, whole (path and query, headers, body), for tests that check
    /// what the SP put where.
    #[must_use]
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().requests.clone()
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
        {
            let mut state = self.lock();
            state.log.push(format!("{} {path}", request.method()));
            state.requests.push(LoggedRequest {
                method: request.method().to_string(),
                uri: request
                    .uri()
                    .path_and_query()
                    .map_or_else(|| path.clone(), ToString::to_string),
                headers: request
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: request.body().clone(),
            });
        }
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
                    ["jwks"] | ["keys", _] => Target::Jwks,
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
                return (server_error(), Duration::ZERO);
            }
            Some(Fault::SlowServerError(delay)) => return (server_error(), delay),
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
            Some(Fault::Body(body)) => {
                return (
                    response(body.status, &body.content_type, body.bytes().to_vec()),
                    Duration::ZERO,
                );
            }
            _ => {}
        }
        let delay = match fault {
            Some(Fault::Slow(d)) => d,
            _ => Duration::ZERO,
        };
        let fault = fault.as_ref();
        let (answer, extra) = match (operator, target) {
            (None, _) => (self.discovery(request), Duration::ZERO),
            (Some(op), Target::Metadata) => (self.metadata(op, fault), Duration::ZERO),
            (Some(op), Target::Jwks) => (self.jwks(op, fault), Duration::ZERO),
            (Some(op), Target::Authorize) => self.authorize(op, request, fault),
            (Some(op), Target::Token) => (self.token(op, request, fault), Duration::ZERO),
            (Some(op), Target::UserInfo) => {
                (self.userinfo(op, request, false, fault), Duration::ZERO)
            }
            (Some(op), _) => (self.userinfo(op, request, true, fault), Duration::ZERO),
        };
        (answer, delay + extra)
    }

    // ------------------------------------------------------------------ discovery API

    fn operator_answer(&self, index: usize, msisdn: Option<&str>) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        let issuer = self.issuer(info.name);
        let client_secret = self.client_secret(info.name).unwrap_or_default();
        let ttl_ms = (self.clock)().saturating_add(3600).saturating_mul(1000);
        let link = |rel: &str, path: &str| json!({ "rel": rel, "href": format!("{issuer}{path}") });
        let mut body = json!({
            "ttl": ttl_ms,
            "response": {
                "serving_operator": info.display,
                "country": info.country,
                "currency": if info.country == "GB" { "GBP" } else { "EUR" },
                "client_id": info.client_id,
                "client_secret": client_secret,
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

    /// The selection page. Like an OAuth authorization page, it sends the SP's `state` back
    /// with the choice (the GSMA pages did not: mc-core accepts either).
    fn selection_page(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let p = params(request);
        let back = param(&p, "Redirect_URL").unwrap_or(SP_DISCOVERY_REDIRECT);
        let mut back_enc: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        if let Some(state) = param(&p, "state") {
            back_enc.push_str("&amp;state=");
            back_enc.extend(url::form_urlencoded::byte_serialize(state.as_bytes()));
        }
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
        let mut back = back.to_owned();
        if let Some(state) = param(&p, "state") {
            back.push(if back.contains('?') { '&' } else { '?' });
            back.push_str("state=");
            back.extend(url::form_urlencoded::byte_serialize(state.as_bytes()));
        }
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

    fn metadata(&self, index: usize, fault: Option<&Fault>) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        let issuer = self.issuer(info.name);
        let claimed_issuer = if fault == Some(&Fault::ForeignIssuerInMetadata) {
            IMPOSTOR_ISSUER.to_owned()
        } else {
            issuer.clone()
        };
        let jwks_uri = if fault == Some(&Fault::MovedJwksUri) {
            format!("{issuer}/keys/moved")
        } else {
            format!("{issuer}/jwks")
        };
        let alg = if info.family == KeyFamily::Es256 {
            "ES256"
        } else {
            "RS256"
        };
        json_response(
            200,
            &json!({
                "issuer": claimed_issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "userinfo_endpoint": format!("{issuer}/userinfo"),
                "premiuminfo_endpoint": format!("{issuer}/premiuminfo"),
                "jwks_uri": jwks_uri,
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

    fn jwks(&self, index: usize, fault: Option<&Fault>) -> Response<Vec<u8>> {
        let (mut keys, rotation): (Vec<Value>, usize) = {
            let state = self.lock();
            (
                state
                    .keys
                    .get(index)
                    .map(|ks| ks.iter().map(SigningKey::jwk).collect())
                    .unwrap_or_default(),
                state.rotations.get(index).copied().unwrap_or_default(),
            )
        };
        let family = OPERATORS.get(index).map_or(KeyFamily::Rs256, |o| o.family);
        let other = |i: usize| SigningKey::from_pool(family, rotation + 1 + i, String::new()).jwk();
        match fault {
            Some(Fault::Jwks(JwksMutation::WithoutKids { extra })) => {
                let mut all: Vec<Value> = (0..*extra).map(other).collect();
                all.append(&mut keys);
                for key in &mut all {
                    if let Some(members) = key.as_object_mut() {
                        members.remove("kid");
                    }
                }
                keys = all;
            }
            Some(Fault::Jwks(JwksMutation::Padded(n))) => {
                let others: Vec<Value> = (0..family.pool_size().saturating_sub(2).max(1))
                    .map(other)
                    .collect();
                keys.reserve(*n);
                for i in 0..*n {
                    let mut key = others.get(i % others.len()).cloned().unwrap_or_default();
                    key["kid"] = json!(format!("padding-{i}"));
                    keys.push(key);
                }
            }
            _ => {}
        }
        json_response(200, &json!({ "keys": keys }))
    }

    /// The claims the operator knows about a subscriber, for the `claims` request parameter.
    fn known_claim(info: &OperatorInfo, msisdn: &str, name: &str) -> Option<Value> {
        Some(match name {
            "phone_number" => json!(format!("+{msisdn}")),
            "phone_number_verified" => json!(true),
            "given_name" => json!("Test"),
            "family_name" => json!("Subscriber"),
            "postal_code" => json!("SW1A 1AA"),
            "country" => json!(info.country),
            "email" => json!(format!("subscriber-{msisdn}@{}.example", info.name)),
            "email_verified" => json!(true),
            _ => return None,
        })
    }

    /// The claim names requested for `member` (`id_token` or `userinfo`) in a `claims` value.
    fn requested_claims(claims: Option<&Value>, member: &str) -> Vec<String> {
        claims
            .and_then(|c| c.get(member))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
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

    fn authorize(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        fault: Option<&Fault>,
    ) -> (Response<Vec<u8>>, Duration) {
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
        let mutation = match fault {
            Some(Fault::Callback(m)) => Some(m),
            _ => None,
        };
        let back =
            |pairs: &[(&str, &str)]| callback_response(redirect_uri, pairs, state, &iss, mutation);
        if param(&p, "response_type") != Some("code") {
            return (
                back(&[("error", "unsupported_response_type")]),
                Duration::ZERO,
            );
        }
        if !param(&p, "scope")
            .unwrap_or_default()
            .split(' ')
            .any(|s| s == "openid")
        {
            return (
                back(&[
                    ("error", "invalid_scope"),
                    ("error_description", "openid is required"),
                ]),
                Duration::ZERO,
            );
        }
        let challenge = param(&p, "code_challenge").map(str::to_owned);
        if challenge.is_some() && param(&p, "code_challenge_method") != Some("S256") {
            return (
                back(&[
                    ("error", "invalid_request"),
                    ("error_description", "PKCE S256 only"),
                ]),
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
                back(&[
                    ("error", "invalid_request"),
                    ("error_description", "Unknown subscriber"),
                ]),
                Duration::ZERO,
            );
        };
        let (acr, amr) = match handset {
            Handset::Approve => ("2", "SIM_OK"),
            Handset::ApprovePin => ("3", "SIM_PIN"),
            Handset::Decline => {
                return (
                    back(&[
                        ("error", "access_denied"),
                        ("error_description", "The user declined"),
                    ]),
                    Duration::ZERO,
                );
            }
            Handset::NeverAnswers => {
                return (
                    back(&[
                        ("error", "access_denied"),
                        ("error_description", "No response from the handset"),
                    ]),
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
                claims: param(&p, "claims").and_then(|c| serde_json::from_str(c).ok()),
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
        (back(&[("code", &code)]), Duration::ZERO)
    }

    /// Whether the token request authenticates the SP the way the endpoint demands.
    fn client_authenticated(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        p: &[(String, String)],
        fault: Option<&Fault>,
    ) -> bool {
        let Some(info) = OPERATORS.get(index) else {
            return false;
        };
        let secret = self.client_secret(info.name).unwrap_or_default();
        let has_basic = request.headers().contains_key(http::header::AUTHORIZATION);
        match fault {
            Some(Fault::RequireClientAuth(ClientAuthRequirement::SecretPost)) => {
                !has_basic
                    && param(p, "client_id") == Some(info.client_id)
                    && param(p, "client_secret") == Some(secret.as_str())
            }
            Some(Fault::RequireClientAuth(ClientAuthRequirement::PrivateKeyJwt(jwk))) => {
                !has_basic
                    && param(p, "client_secret").is_none()
                    && param(p, "client_id") == Some(info.client_id)
                    && param(p, "client_assertion_type")
                        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                    && param(p, "client_assertion").is_some_and(|assertion| {
                        self.assertion_valid(
                            assertion,
                            jwk,
                            info.client_id,
                            &format!("{}/token", self.issuer(info.name)),
                        )
                    })
            }
            _ => credentials_match(request, info.client_id, &secret),
        }
    }

    /// An RFC 7523 client assertion: signature by `jwk`, `iss` = `sub` = client_id, `aud` the
    /// token endpoint, not expired.
    fn assertion_valid(
        &self,
        assertion: &str,
        jwk: &Value,
        client_id: &str,
        audience: &str,
    ) -> bool {
        let mut parts = assertion.split('.');
        let (Some(h), Some(c), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        let (Some(header), Some(claims), Ok(signature)) =
            (decode(h), decode(c), URL_SAFE_NO_PAD.decode(sig))
        else {
            return false;
        };
        let member = |name: &str| jwk.get(name).and_then(Value::as_str).unwrap_or_default();
        let (alg, key) = match (header.get("alg").and_then(Value::as_str), member("kty")) {
            (Some("RS256"), "RSA") => (
                jsonwebtoken::Algorithm::RS256,
                jsonwebtoken::DecodingKey::from_rsa_components(member("n"), member("e")),
            ),
            (Some("ES256"), "EC") => (
                jsonwebtoken::Algorithm::ES256,
                jsonwebtoken::DecodingKey::from_ec_components(member("x"), member("y")),
            ),
            _ => return false,
        };
        let Ok(key) = key else {
            return false;
        };
        let verified = (crate::keys::provider().verifier_factory)(&alg, &key)
            .is_ok_and(|v| v.verify(format!("{h}.{c}").as_bytes(), &signature).is_ok());
        let now = (self.clock)();
        verified
            && claims.get("iss").and_then(Value::as_str) == Some(client_id)
            && claims.get("sub").and_then(Value::as_str) == Some(client_id)
            && claims.get("aud").and_then(Value::as_str) == Some(audience)
            && claims
                .get("exp")
                .and_then(Value::as_u64)
                .is_some_and(|exp| exp > now)
    }

    fn token(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        fault: Option<&Fault>,
    ) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        if request.method() != Method::POST {
            return oauth_error(405, "invalid_request", "POST only");
        }
        let p = params(request);
        if !self.client_authenticated(index, request, &p, fault) {
            return oauth_error(401, "invalid_client", "Client authentication failed");
        }
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
        let iss = if fault == Some(&Fault::WrongIssuer) {
            IMPOSTOR_ISSUER.to_owned()
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
            "at_hash": crate::keys::at_hash(&access_token, key.alg),
            "hashed_login_hint": sha256(grant.hint.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>(),
        });
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = json!(nonce);
        }
        for name in Self::requested_claims(grant.claims.as_ref(), "id_token") {
            if claims.get(&name).is_none()
                && let Some(value) = Self::known_claim(info, &grant.msisdn, &name)
            {
                claims[name] = value;
            }
        }
        let mutation = match fault {
            Some(Fault::IdToken(m)) => Some(m),
            _ => None,
        };
        let id_token = self.forge(index, &key, claims, mutation);
        let userinfo_claims = Self::requested_claims(grant.claims.as_ref(), "userinfo");
        {
            let mut state = self.lock();
            if let Some(slot) = state.last_id_token.get_mut(index) {
                *slot = Some(id_token.clone());
            }
            state.tokens.insert(
                access_token.clone(),
                IssuedToken {
                    operator: index,
                    msisdn: grant.msisdn,
                    userinfo_claims,
                },
            );
        }
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

    /// Build and sign a JWT from `claims` with `key`, as edited by `mutation`.
    fn forge(
        &self,
        index: usize,
        key: &SigningKey,
        claims: Value,
        mutation: Option<&IdTokenMutation>,
    ) -> String {
        let mut forge = Forge {
            claims,
            header_edits: Vec::new(),
            duplicate_header: Vec::new(),
            duplicate_claims: Vec::new(),
            signer: Signer::Genuine,
            corrupt: false,
            replace: None,
        };
        if let Some(mutation) = mutation {
            self.apply(index, &mut forge, mutation);
        }
        if let Some(jwt) = forge.replace {
            return jwt;
        }
        let alg = match &forge.signer {
            Signer::None => "none".to_owned(),
            Signer::Hmac(_) => "HS256".to_owned(),
            Signer::Genuine | Signer::Foreign => format!("{:?}", key.alg),
        };
        let mut header = json!({ "alg": alg, "typ": "JWT", "kid": key.kid });
        for edit in forge.header_edits {
            match edit {
                (name, Some(value)) => header[name] = value,
                (name, None) => {
                    if let Some(members) = header.as_object_mut() {
                        members.remove(&name);
                    }
                }
            }
        }
        let header_json = with_duplicates(header.to_string(), &forge.duplicate_header);
        let claims_json = with_duplicates(forge.claims.to_string(), &forge.duplicate_claims);
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(claims_json)
        );
        let mut signature = match &forge.signer {
            Signer::None => Vec::new(),
            Signer::Genuine => key.signature(input.as_bytes()),
            Signer::Hmac(secret) => hmac_sha256(input.as_bytes(), secret),
            Signer::Foreign => {
                let family = OPERATORS.get(index).map_or(KeyFamily::Rs256, |o| o.family);
                let rotation = self
                    .lock()
                    .rotations
                    .get(index)
                    .copied()
                    .unwrap_or_default();
                let foreign = SigningKey::from_pool(
                    family,
                    rotation + family.pool_size() - 1,
                    key.kid.clone(),
                );
                foreign.signature(input.as_bytes())
            }
        };
        if forge.corrupt {
            for byte in &mut signature {
                *byte ^= 0x5a;
            }
        }
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn apply(&self, index: usize, forge: &mut Forge, mutation: &IdTokenMutation) {
        match mutation {
            IdTokenMutation::SetClaim(name, value) => forge.claims[name] = value.clone(),
            IdTokenMutation::RemoveClaim(name) => {
                if let Some(members) = forge.claims.as_object_mut() {
                    members.remove(name);
                }
            }
            IdTokenMutation::AppendToClaim(name, suffix) => {
                let edited = forge
                    .claims
                    .get(name)
                    .and_then(Value::as_str)
                    .map(|v| format!("{v}{suffix}"));
                if let Some(edited) = edited {
                    forge.claims[name] = json!(edited);
                }
            }
            IdTokenMutation::ClaimFromNow(name, offset) => {
                let now = i64::try_from((self.clock)()).unwrap_or(i64::MAX);
                forge.claims[name] = json!(now.saturating_add(*offset).max(0));
            }
            IdTokenMutation::DuplicateClaim(name, value) => {
                forge.duplicate_claims.push((name.clone(), value.clone()));
            }
            IdTokenMutation::SetHeader(name, value) => {
                forge.header_edits.push((name.clone(), Some(value.clone())));
            }
            IdTokenMutation::RemoveHeader(name) => forge.header_edits.push((name.clone(), None)),
            IdTokenMutation::DuplicateHeader(name, value) => {
                forge.duplicate_header.push((name.clone(), value.clone()));
            }
            IdTokenMutation::AlgNone => forge.signer = Signer::None,
            IdTokenMutation::CorruptSignature => forge.corrupt = true,
            IdTokenMutation::Hmac(secret) => forge.signer = Signer::Hmac(secret.clone()),
            IdTokenMutation::ForeignKey => forge.signer = Signer::Foreign,
            IdTokenMutation::ReplayLast => {
                forge.replace = self.lock().last_id_token.get(index).cloned().flatten();
            }
            IdTokenMutation::Raw(jwt) => forge.replace = Some(jwt.clone()),
            IdTokenMutation::All(mutations) => {
                for m in mutations {
                    self.apply(index, forge, m);
                }
            }
        }
    }

    fn userinfo(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        premium: bool,
        fault: Option<&Fault>,
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
        let issued = {
            let state = self.lock();
            state
                .tokens
                .get(&token)
                .filter(|t| t.operator == index)
                .map(|t| (t.msisdn.clone(), t.userinfo_claims.clone()))
        };
        let Some((msisdn, requested)) = issued else {
            return unauthorized("invalid_token", "Unknown access token");
        };
        let mut sub = Self::pcr(info, &msisdn);
        if fault == Some(&Fault::SubjectMismatch) {
            sub.push_str("invalid");
        }
        let mut claims = json!({
            "sub": sub,
            "phone_number": format!("+{msisdn}"),
            "phone_number_verified": true,
        });
        if premium {
            claims["given_name"] = json!("Test");
            claims["family_name"] = json!("Subscriber");
            claims["postal_code"] = json!("SW1A 1AA");
            claims["country"] = json!(info.country);
        }
        for name in requested {
            if claims.get(&name).is_none()
                && let Some(value) = Self::known_claim(info, &msisdn, &name)
            {
                claims[name] = value;
            }
        }
        if info.signed_userinfo {
            claims["iss"] = json!(if fault == Some(&Fault::WrongIssuer) {
                IMPOSTOR_ISSUER.to_owned()
            } else {
                self.issuer(info.name)
            });
            claims["aud"] = json!(info.client_id);
            let key = self.lock().keys.get(index).and_then(|k| k.first().cloned());
            let mutation = match fault {
                Some(Fault::IdToken(m)) => Some(m),
                _ => None,
            };
            return match key {
                Some(key) => response(
                    200,
                    "application/jwt",
                    self.forge(index, &key, claims, mutation).into_bytes(),
                ),
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
