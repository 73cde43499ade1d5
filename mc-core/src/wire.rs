//! What goes on the wire: form encoding, HTTP Basic, JSON with bounds, status and content-type
//! checks, OAuth error bodies, and the lenient shapes real operators send.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Response, Uri};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::endpoint::Endpoint;
use crate::error::{Error, IdTokenError, JwtPart, MisuseError, OperatorError, ProtocolError};
use crate::exchange::Prepared;
use crate::secret::ClientSecret;

/// Largest JSON body a step parses (bytes). Adapters cap the body earlier, this is the core's own
/// bound for hosts that do not.
pub const MAX_JSON_BYTES: usize = 256 * 1024;
/// Largest JWT accepted (bytes).
pub const MAX_JWT_BYTES: usize = 32 * 1024;
/// Most keys taken from one JWKS.
pub const MAX_JWKS_KEYS: usize = 64;
/// Largest callback or selection-return query string (bytes).
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Most parameters in a callback or selection-return query string.
pub const MAX_QUERY_PARAMS: usize = 64;

/// `application/x-www-form-urlencoded` body from ordered pairs (deterministic output).
pub(crate) fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// How client credentials are put into HTTP Basic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum BasicAuthEncoding {
    /// RFC 6749 section 2.3.1: form-urlencode client_id and secret, then base64.
    #[default]
    FormUrlEncoded,
    /// base64 of `client_id:client_secret` as is (what the GSMA SDKs sent; for operators that do
    /// not decode the credentials).
    Raw,
}

/// The `Authorization: Basic ...` value, marked sensitive so that http's Debug hides it.
pub(crate) fn basic_auth(
    client_id: &str,
    secret: &ClientSecret,
    encoding: BasicAuthEncoding,
) -> Result<HeaderValue, Error> {
    let joined = match encoding {
        BasicAuthEncoding::FormUrlEncoded => {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            format!("{}:{}", enc(client_id), enc(secret.expose_secret()))
        }
        BasicAuthEncoding::Raw => format!("{}:{}", client_id, secret.expose_secret()),
    };
    sensitive_header(
        &format!("Basic {}", STANDARD.encode(joined)),
        "client credentials",
    )
}

/// `Authorization: Bearer <token>`, marked sensitive.
pub(crate) fn bearer(token: &str) -> Result<HeaderValue, Error> {
    sensitive_header(&format!("Bearer {token}"), "access token")
}

fn sensitive_header(value: &str, name: &'static str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(value).map_err(|_| MisuseError::InvalidParameter {
        name,
        reason: "not a valid HTTP header value",
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Parse and check a URL the library will send requests to (or send the browser to).
pub(crate) fn parse_url(value: &str, what: &'static str) -> Result<url::Url, Error> {
    let url = url::Url::parse(value).map_err(|e| MisuseError::InvalidUrl {
        what,
        reason: e.to_string(),
    })?;
    check_url(&url, what)?;
    Ok(url)
}

/// Whether `host` (a URL's host; an IPv6 address with or without brackets) is a loopback IP
/// literal: 127.0.0.0/8 or `::1`. A name is not, `localhost` included: what a name resolves to
/// is decided by the resolver and the hosts file at the time of the request, not by the URL
/// (RFC 8252 8.3 prefers the literal for the same reason), so only a literal proves that the
/// request stays on this machine.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    // `core::net`: address syntax only (mc-core opens no sockets and resolves no names).
    bare.parse::<core::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The host of a plain `http://` URL that must be refused: not a loopback literal, and
/// `allow_plain_http` not set. `None` for https, loopback, or when plain HTTP is allowed.
pub(crate) fn refused_plain_http(url: &url::Url, allow_plain_http: bool) -> Option<String> {
    let host = url.host_str().unwrap_or_default();
    (url.scheme() == "http" && !allow_plain_http && !is_loopback_host(host))
        .then(|| host.to_owned())
}

/// [`refused_plain_http`] as the host's misuse (a URL it configured).
pub(crate) fn check_plain_http(
    url: &url::Url,
    what: &'static str,
    allow_plain_http: bool,
) -> Result<(), MisuseError> {
    match refused_plain_http(url, allow_plain_http) {
        Some(host) => Err(MisuseError::PlainHttp { what, host }),
        None => Ok(()),
    }
}

/// Endpoints must be absolute http(s) URLs without a fragment that `http::Uri` accepts.
/// (Whether plain `http` is acceptable is the caller's decision: [`refused_plain_http`].)
fn check_url(url: &url::Url, what: &'static str) -> Result<(), Error> {
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(MisuseError::InvalidUrl {
            what,
            reason: "not an absolute http(s) URL".to_owned(),
        }
        .into());
    }
    if url.fragment().is_some() {
        return Err(MisuseError::InvalidUrl {
            what,
            reason: "has a fragment".to_owned(),
        }
        .into());
    }
    uri(url, what).map(|_| ())
}

/// An `http::Uri` from a validated URL.
pub(crate) fn uri(url: &url::Url, what: &'static str) -> Result<Uri, Error> {
    Uri::try_from(url.as_str()).map_err(|e| {
        Error::from(MisuseError::InvalidUrl {
            what,
            reason: e.to_string(),
        })
    })
}

/// A GET request accepting `accept`.
pub(crate) fn get(
    url: &url::Url,
    what: &'static str,
    accept: &'static str,
) -> Result<Prepared, Error> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(accept));
    Ok(Prepared {
        method: Method::GET,
        uri: uri(url, what)?,
        headers,
        body: Vec::new(),
    })
}

/// A form POST accepting JSON.
pub(crate) fn post_form(
    url: &url::Url,
    what: &'static str,
    body: String,
) -> Result<Prepared, Error> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    Ok(Prepared {
        method: Method::POST,
        uri: uri(url, what)?,
        headers,
        body: body.into_bytes(),
    })
}

/// A POST whose parameters are in the URL's query and whose body is empty, accepting JSON.
pub(crate) fn post_query(url: &url::Url, what: &'static str) -> Result<Prepared, Error> {
    Ok(Prepared {
        method: Method::POST,
        ..get(url, what, "application/json")?
    })
}

/// A JSON POST accepting JSON.
pub(crate) fn post_json(
    url: &url::Url,
    what: &'static str,
    body: Vec<u8>,
) -> Result<Prepared, Error> {
    let mut prepared = post_query(url, what)?;
    prepared
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    prepared.body = body;
    Ok(prepared)
}

pub(crate) fn with_authorization(prepared: Prepared, value: HeaderValue) -> Prepared {
    prepared.header(AUTHORIZATION, value)
}

/// Deepest nesting of arrays and objects a JSON body may have. A protocol document nests four
/// or five levels; serde_json refuses more than 128 only where it builds values, and skips an
/// ignored member of any depth unread, so the bound is the core's own (DESIGN rule 5).
pub const MAX_JSON_DEPTH: usize = 64;

/// The one gate every JSON body the core reads passes (token, discovery, metadata, JWKS,
/// userinfo, OAuth error bodies): at most [`MAX_JSON_BYTES`], an object, valid UTF-8 as a
/// whole (RFC 8259 8.1: serde's `IgnoredAny` skips an ignored member without validating it, so
/// the text is checked once here), and nested at most [`MAX_JSON_DEPTH`] deep.
pub(crate) fn json_text(endpoint: Endpoint, body: &[u8]) -> Result<&str, ProtocolError> {
    let malformed = |reason: String| ProtocolError::MalformedJson { endpoint, reason };
    if body.len() > MAX_JSON_BYTES {
        return Err(ProtocolError::BodyTooLarge {
            endpoint,
            limit: MAX_JSON_BYTES,
            size: body.len(),
        });
    }
    if !is_json_object(body) {
        // serde's derived structs would also read an array by position.
        return Err(malformed("not a JSON object".to_owned()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| malformed(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    if nested_too_deep(text.as_bytes(), MAX_JSON_DEPTH) {
        return Err(malformed(format!("nested deeper than {MAX_JSON_DEPTH}")));
    }
    Ok(text)
}

/// Whether arrays and objects nest deeper than `limit` outside strings. Linear; a body with
/// at most `limit` brackets (every protocol document) is only counted, not walked.
fn nested_too_deep(json: &[u8], limit: usize) -> bool {
    if !more_brackets_than(json, limit) {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for byte in json {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parse a bounded JSON body ([`json_text`]). The error names serde's category and position,
/// never the content, because the body may hold tokens.
pub(crate) fn json<T: DeserializeOwned>(
    endpoint: Endpoint,
    body: &[u8],
) -> Result<T, ProtocolError> {
    serde_json::from_str(json_text(endpoint, body)?).map_err(|e| ProtocolError::MalformedJson {
        endpoint,
        reason: describe_json_error(&e),
    })
}

pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let category = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        // A member the lenient reader refused: its reason names no value, so say it.
        serde_json::error::Category::Data => {
            let message = e.to_string();
            lenient::REASONS
                .iter()
                .find(|reason| {
                    message
                        .strip_prefix(**reason)
                        .is_some_and(|rest| rest.starts_with(" at line "))
                })
                .copied()
                .unwrap_or("unexpected shape")
        }
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{category} at line {} column {}", e.line(), e.column())
}

/// Whether a JSON text is an object (every protocol document is; RFC 7515/7519 for JOSE parts).
pub(crate) fn is_json_object(json: &[u8]) -> bool {
    json.trim_ascii_start().first() == Some(&b'{')
}

/// Most members a JOSE header may have. RFC 7515 and 7518 register fewer than twenty and a
/// Mobile Connect operator sends three or four; the bound keeps a hostile header (a 32 KiB JWT
/// holds thousands of members) from costing more than a few dozen names before the signature
/// check.
pub const MAX_HEADER_MEMBERS: usize = 32;
/// Most claims a JWT (id_token or signed userinfo) may carry: a Mobile Connect id_token has
/// about fifteen, a signed premium-info answer a few dozen.
pub const MAX_CLAIMS: usize = 256;

/// What [`check_members`] found in a JSON text's top-level member names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Members {
    /// A JSON object of at most `limit` members, no name repeated.
    Distinct,
    /// A JSON object of at most `limit` members with a name repeated (RFC 8725 2.6 /
    /// RFC 7515 5.2: refused, never "the last one wins").
    Duplicate,
    /// More than `limit` members: reading stopped at the first one over the bound.
    TooMany,
    /// Not a JSON object, or not valid JSON before reading stopped.
    NotAnObject,
}

/// The top-level member names of a JSON object: more than `limit` of them (reading stops at
/// the first one over), a name repeated, or neither. Linear in the text (the names, at most
/// `limit`, are sorted once), because it runs on a JOSE header before its signature is checked.
/// Names are compared after JSON unescaping (`"a"` and `"\u0061"` are the same member).
#[must_use]
pub fn check_members(json: &[u8], limit: usize) -> Members {
    use serde::de::{IgnoredAny, MapAccess, Visitor};
    use std::borrow::Cow;

    struct Check<'a> {
        limit: usize,
        too_many: &'a mut bool,
    }
    impl<'de> Visitor<'de> for Check<'_> {
        type Value = Members;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
            let mut names: Vec<Cow<'de, str>> = Vec::new();
            while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                if names.len() == self.limit {
                    // Stop reading here: serde_json only lets a visitor leave a map early
                    // through an error.
                    *self.too_many = true;
                    return Err(serde::de::Error::custom("too many members"));
                }
                let _: IgnoredAny = map.next_value()?;
                names.push(name);
            }
            names.sort_unstable();
            let repeated = names.windows(2).any(|pair| pair.first() == pair.last());
            Ok(if repeated {
                Members::Duplicate
            } else {
                Members::Distinct
            })
        }
    }
    let mut too_many = false;
    let mut de = serde_json::Deserializer::from_slice(json);
    let check = Check {
        limit,
        too_many: &mut too_many,
    };
    // A complete object must be all the text holds (whitespace aside).
    let members = serde::Deserializer::deserialize_map(&mut de, check)
        .and_then(|members| de.end().map(|()| members));
    match members {
        _ if too_many => Members::TooMany,
        Ok(members) => members,
        Err(_) => Members::NotAnObject,
    }
}

/// The member rules of a JOSE header or claim set, with the part's bound
/// ([`MAX_HEADER_MEMBERS`], [`MAX_CLAIMS`]): over it, [`IdTokenError::TooManyMembers`]; a name
/// repeated, [`IdTokenError::Malformed`]. Text that is not a JSON object passes: the part's
/// parser refuses it with its own reason.
pub(crate) fn check_jose_members(json: &[u8], part: JwtPart) -> Result<(), IdTokenError> {
    let limit = match part {
        JwtPart::Header => MAX_HEADER_MEMBERS,
        _ => MAX_CLAIMS,
    };
    match check_members(json, limit) {
        Members::TooMany => Err(IdTokenError::TooManyMembers { part, limit }),
        Members::Duplicate => Err(IdTokenError::Malformed {
            part,
            reason: if part == JwtPart::Header {
                "duplicate member"
            } else {
                "duplicate claim"
            }
            .to_owned(),
        }),
        Members::Distinct | Members::NotAnObject => Ok(()),
    }
}

/// The media type of a response (lower-case, parameters stripped), if any.
pub(crate) fn media_type(response: &Response<Vec<u8>>) -> Option<String> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// An OAuth (or MC discovery) error body: `error` plus `error_description` or `description`.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    error_uri: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// Read an OAuth error body, whatever the status (MC discovery served errors with 200): a JSON
/// object of at most [`MAX_JSON_BYTES`], valid UTF-8 throughout (RFC 8259 8.1) and nested at
/// most [`MAX_JSON_DEPTH`] deep, with a string `error`.
/// Not part of the API (hidden from the docs): public for the fuzz targets and property tests.
#[doc(hidden)]
#[must_use]
pub fn parse_error_body(
    endpoint: Endpoint,
    status: Option<u16>,
    body: &[u8],
) -> Option<OperatorError> {
    if body.len() > MAX_JSON_BYTES || !is_json_object(body) || !may_hold_error_member(body) {
        return None;
    }
    let parsed: ErrorBody = serde_json::from_str(json_text(endpoint, body).ok()?).ok()?;
    Some(OperatorError {
        endpoint,
        status,
        error: parsed.error,
        description: parsed.error_description.or(parsed.description),
        uri: parsed.error_uri,
        correlation_id: parsed.correlation_id,
    })
}

/// Whether `word` (eight bytes) holds `byte`: the classic exact zero-byte test.
fn has_byte(word: u64, byte: u8) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// Whether `json` holds more than `limit` opening brackets (inside strings or not), eight bytes
/// at a time: a token response is mostly a JWT without a single bracket, so most words are
/// skipped with two tests.
fn more_brackets_than(json: &[u8], limit: usize) -> bool {
    let count_in = |bytes: &[u8]| bytes.iter().filter(|b| matches!(b, b'[' | b'{')).count();
    let mut count = 0;
    let mut chunks = json.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let word = u64::from_ne_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        if has_byte(word, b'{') || has_byte(word, b'[') {
            count += count_in(chunk);
            if count > limit {
                return true;
            }
        }
    }
    count + count_in(chunks.remainder()) > limit
}

/// False only when `body` certainly parses to no [`ErrorBody`]: a JSON object with neither a
/// backslash (so every key is spelled literally) nor `"error"` anywhere, so it has no `error`
/// member. Anything else (arrays, which serde would read by position, escapes, non-JSON) gets the
/// full parse. A successful token or userinfo body is mostly a JWT: this scan is far cheaper
/// than parsing it a second time.
fn may_hold_error_member(body: &[u8]) -> bool {
    // Eight bytes at a time ([`has_byte`]).
    let suspicious = |at: usize| match body.get(at) {
        Some(b'\\') => true,
        Some(b'"') => body
            .get(at + 1..)
            .is_some_and(|rest| rest.starts_with(b"error\"")),
        _ => false,
    };
    if body.trim_ascii_start().first() != Some(&b'{') {
        return true;
    }
    let mut chunks = body.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_ne_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        if (has_byte(word, b'"') || has_byte(word, b'\\')) && (at..at + 8).any(suspicious) {
            return true;
        }
        at += 8;
    }
    (at..at + chunks.remainder().len()).any(suspicious)
}

/// One endpoint's row in the response classifier's table: what [`classify`] accepts from it.
///
/// | endpoint                | success  | 3xx + `Location` | signed body | error body at success | `WWW-Authenticate` |
/// |-------------------------|----------|------------------|-------------|-----------------------|--------------------|
/// | discovery               | 200, 202 | selection page   | no          | refusal               | no                 |
/// | metadata                | 200      | no               | no          | refusal               | no                 |
/// | JWKS                    | 200      | no               | no          | not read              | no                 |
/// | token (and polling)     | 200      | no               | no          | refusal               | no                 |
/// | userinfo, premium info  | 200      | no               | JWT         | refusal               | read first         |
/// | SI authorization, CIBA  | 200      | no               | no          | refusal               | no                 |
///
/// Rules for every row: at a status that is not a success, an OAuth error body (and, where
/// read, a `Bearer` challenge) is the operator's refusal, anything else
/// [`ProtocolError::UnexpectedStatus`]. The `Content-Type` never refuses a body: operators send
/// JSON as `text/plain`, `text/html` (PHP's default) or without a type, and the body's own
/// syntax is checked strictly anyway ([`json_text`]). It decides one thing only, where a row
/// accepts a signed body: `application/jwt` (or a body shaped like a compact JWS) is the signed
/// answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Accepts {
    /// Statuses whose body is the step's answer.
    pub(crate) success: &'static [u16],
    /// A 3xx names the next step in `Location` (discovery's operator selection page).
    pub(crate) redirect: bool,
    /// A success body may be a signed JWT (OIDC Core 5.3.2).
    pub(crate) signed: bool,
    /// An OAuth error body at a success status is a refusal (MC discovery answered errors
    /// with 200; token, metadata and userinfo bodies never carry an `error` member).
    pub(crate) error_at_success: bool,
    /// A `WWW-Authenticate: Bearer error=..` challenge is read before the body (RFC 6750 3).
    pub(crate) www_authenticate: bool,
}

impl Accepts {
    /// The row of `endpoint` (the authorization endpoint answers the browser, never the
    /// core: it gets the strictest row).
    pub(crate) const fn of(endpoint: Endpoint) -> Self {
        const STRICT: Accepts = Accepts {
            success: &[200],
            redirect: false,
            signed: false,
            error_at_success: true,
            www_authenticate: false,
        };
        match endpoint {
            Endpoint::Discovery => Self {
                success: &[200, 202],
                redirect: true,
                ..STRICT
            },
            Endpoint::Jwks => Self {
                error_at_success: false,
                ..STRICT
            },
            Endpoint::UserInfo | Endpoint::PremiumInfo => Self {
                signed: true,
                www_authenticate: true,
                ..STRICT
            },
            // The notification endpoint is the SP's own: its requests are read by
            // `server_initiated::Notification::parse`, never classified as a response.
            Endpoint::Metadata
            | Endpoint::Token
            | Endpoint::Refresh
            | Endpoint::Otp
            | Endpoint::Revocation
            | Endpoint::Authorization
            | Endpoint::SiAuthorization
            | Endpoint::BackchannelAuthentication
            | Endpoint::Notification => STRICT,
        }
    }
}

/// What a response is, once [`classify`] has read its status and headers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Classified<'a> {
    /// A success status and a body to read as JSON (with [`json`]).
    Json {
        /// The status (discovery's 200 and 202 mean different answers).
        status: u16,
        /// The body, unread.
        body: &'a [u8],
    },
    /// A success status and a signed body: the compact JWS, trimmed, UTF-8.
    Jwt(&'a str),
    /// A redirect to `location` (unchecked: the step decides what a URL from there may be).
    Redirect {
        /// The `Location` header.
        location: &'a str,
    },
}

/// The one response classifier: status, `Location`, OAuth error body, `WWW-Authenticate` and
/// content type, read the same way for every step by the step's row ([`Accepts::of`]). The
/// operator's refusal ([`Error::Refused`]) and a status the step does not accept
/// ([`ProtocolError::UnexpectedStatus`]) come back as errors, because every step stops there.
pub(crate) fn classify(
    endpoint: Endpoint,
    response: &Response<Vec<u8>>,
) -> Result<Classified<'_>, Error> {
    let row = Accepts::of(endpoint);
    let status = response.status().as_u16();
    let body = response.body();
    if row.redirect && response.status().is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ProtocolError::MissingField {
                endpoint,
                field: "Location",
            })?;
        return Ok(Classified::Redirect { location });
    }
    if !row.success.contains(&status) {
        let challenge = || {
            response
                .headers()
                .get(WWW_AUTHENTICATE)
                .filter(|_| row.www_authenticate)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_www_authenticate(endpoint, status, v))
        };
        return Err(
            match challenge().or_else(|| parse_error_body(endpoint, Some(status), body)) {
                Some(error) => error.into(),
                None => ProtocolError::UnexpectedStatus { endpoint, status }.into(),
            },
        );
    }
    if row.signed {
        let trimmed = body.trim_ascii();
        if media_type(response).as_deref() == Some("application/jwt") || looks_like_jwt(trimmed) {
            let jwt = std::str::from_utf8(trimmed).map_err(|_| IdTokenError::Malformed {
                part: JwtPart::Structure,
                reason: "not UTF-8".to_owned(),
            })?;
            return Ok(Classified::Jwt(jwt));
        }
    }
    if row.error_at_success
        && let Some(error) = parse_error_body(endpoint, Some(status), body)
    {
        return Err(error.into());
    }
    Ok(Classified::Json { status, body })
}

/// The JSON body of a success, for the steps whose row takes no redirect and no signed body
/// (token, metadata, JWKS).
pub(crate) fn json_body(endpoint: Endpoint, response: &Response<Vec<u8>>) -> Result<&[u8], Error> {
    match classify(endpoint, response)? {
        Classified::Json { body, .. } => Ok(body),
        // Not in these rows (`Accepts::of`); a status the step does not take, never a panic.
        Classified::Jwt(_) | Classified::Redirect { .. } => Err(ProtocolError::UnexpectedStatus {
            endpoint,
            status: response.status().as_u16(),
        }
        .into()),
    }
}

/// [`json_body`] parsed with [`json`].
pub(crate) fn expect_json<T: DeserializeOwned>(
    endpoint: Endpoint,
    response: &Response<Vec<u8>>,
) -> Result<T, Error> {
    Ok(json(endpoint, json_body(endpoint, response)?)?)
}

/// A body shaped like a compact JWS (what some operators send as userinfo without
/// `application/jwt`).
fn looks_like_jwt(body: &[u8]) -> bool {
    body.starts_with(b"eyJ") && body.iter().filter(|b| **b == b'.').count() == 2
}

/// Parse a `WWW-Authenticate: Bearer error="...", error_description="..."` value tolerantly
/// (spaces around `=`, unquoted values).
/// Not part of the API (hidden from the docs): public for the fuzz targets and property tests.
#[doc(hidden)]
#[must_use]
pub fn parse_www_authenticate(
    endpoint: Endpoint,
    status: u16,
    value: &str,
) -> Option<OperatorError> {
    let rest = value.trim();
    let rest = rest
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("bearer"))
        .and_then(|_| rest.get(6..))
        .filter(|r| r.is_empty() || r.starts_with(' '))?;
    let mut params: Vec<(String, String)> = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let name: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_owned();
        if name.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars
                .by_ref()
                .take_while(|c| *c != ',')
                .collect::<String>()
                .trim()
                .to_owned();
        }
        params.push((name, value));
        if params.len() > 16 {
            break;
        }
    }
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    Some(OperatorError {
        endpoint,
        status: Some(status),
        error: get("error")?,
        description: get("error_description"),
        uri: get("error_uri"),
        correlation_id: None,
    })
}

/// Parse a query string (with or without `?`, or a whole URL) into ordered pairs with bounds and duplicate rejection.
pub(crate) fn query_pairs(
    query: &str,
) -> Result<Vec<(String, String)>, crate::error::CallbackError> {
    use crate::error::CallbackError;
    // A whole redirect URL is accepted too: keep what follows its `?`, without any fragment.
    // The fragment starts at the first `#` (RFC 3986 3.5), even before a `?`: a `?` after it
    // belongs to the fragment, which a server never receives and the attacker writes freely.
    let query = query.split_once('#').map_or(query, |(before, _)| before);
    let lower = query.get(..8).unwrap_or(query).to_ascii_lowercase();
    let query = if lower.starts_with("http://") || lower.starts_with("https://") {
        query.split_once('?').map_or("", |(_, q)| q)
    } else {
        query.strip_prefix('?').unwrap_or(query)
    };
    if query.len() > MAX_QUERY_BYTES {
        return Err(CallbackError::TooLarge {
            limit: MAX_QUERY_BYTES,
        });
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if pairs.len() >= MAX_QUERY_PARAMS {
            return Err(CallbackError::TooLarge {
                limit: MAX_QUERY_PARAMS,
            });
        }
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(CallbackError::DuplicateParameter {
                name: name.into_owned(),
            });
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok(pairs)
}

pub(crate) fn take(pairs: &mut Vec<(String, String)>, name: &str) -> Option<String> {
    let index = pairs.iter().position(|(n, _)| n == name)?;
    Some(pairs.swap_remove(index).1)
}

/// The one lenient JSON reader (its own file: `wire/lenient.rs`).
pub(crate) mod lenient;
