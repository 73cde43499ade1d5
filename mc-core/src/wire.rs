//! What goes on the wire: form encoding, HTTP Basic, JSON with bounds, status and content-type
//! checks, OAuth error bodies, and the lenient shapes real operators send.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Response, Uri};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};

use crate::endpoint::Endpoint;
use crate::error::{Error, MisuseError, OperatorError, ProtocolError};
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

/// Endpoints must be absolute http(s) URLs without a fragment that `http::Uri` accepts.
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

pub(crate) fn with_authorization(prepared: Prepared, value: HeaderValue) -> Prepared {
    prepared.header(AUTHORIZATION, value)
}

/// Parse a bounded JSON body. The error names serde's category and position, never the content,
/// because the body may hold tokens.
pub(crate) fn json<T: DeserializeOwned>(
    endpoint: Endpoint,
    body: &[u8],
) -> Result<T, ProtocolError> {
    if body.len() > MAX_JSON_BYTES {
        return Err(ProtocolError::BodyTooLarge {
            endpoint,
            limit: MAX_JSON_BYTES,
            size: body.len(),
        });
    }
    if !is_json_object(body) {
        // serde's derived structs would also read an array by position.
        return Err(ProtocolError::MalformedJson {
            endpoint,
            reason: "not a JSON object".to_owned(),
        });
    }
    serde_json::from_slice(body).map_err(|e| ProtocolError::MalformedJson {
        endpoint,
        reason: describe_json_error(&e),
    })
}

pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let category = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{category} at line {} column {}", e.line(), e.column())
}

/// Whether a JSON text is an object (every protocol document is; RFC 7515/7519 for JOSE parts).
pub(crate) fn is_json_object(json: &[u8]) -> bool {
    json.trim_ascii_start().first() == Some(&b'{')
}

/// Whether a JSON object repeats a top-level member name (RFC 8725 2.6 / RFC 7515 5.2: refuse
/// rather than let the last one win). `None` when the text is not a JSON object.
pub(crate) fn has_duplicate_members(json: &[u8]) -> Option<bool> {
    use serde::de::{IgnoredAny, MapAccess, Visitor};
    struct Check;
    impl<'de> Visitor<'de> for Check {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
            let mut duplicate = false;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                let _: IgnoredAny = map.next_value()?;
                if seen.contains(&key) {
                    duplicate = true;
                } else {
                    seen.push(key);
                }
            }
            Ok(duplicate)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    serde::Deserializer::deserialize_map(&mut de, Check).ok()
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

/// Read an OAuth error body, whatever the status (MC discovery served errors with 200).
#[must_use]
pub fn parse_error_body(
    endpoint: Endpoint,
    status: Option<u16>,
    body: &[u8],
) -> Option<OperatorError> {
    if body.len() > MAX_JSON_BYTES || !is_json_object(body) || !may_hold_error_member(body) {
        return None;
    }
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    Some(OperatorError {
        endpoint,
        status,
        error: parsed.error,
        description: parsed.error_description.or(parsed.description),
        uri: parsed.error_uri,
        correlation_id: parsed.correlation_id,
    })
}

/// False only when `body` certainly parses to no [`ErrorBody`]: a JSON object with neither a
/// backslash (so every key is spelled literally) nor `"error"` anywhere, so it has no `error`
/// member. Anything else (arrays, which serde would read by position, escapes, non-JSON) gets the
/// full parse. A successful token or userinfo body is mostly a JWT: this scan is far cheaper
/// than parsing it a second time.
fn may_hold_error_member(body: &[u8]) -> bool {
    // Eight bytes at a time: does any byte equal `byte`? (Exact: the classic zero-byte test.)
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    fn has_byte(word: u64, byte: u8) -> bool {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    }
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

/// The common handling of a JSON answer: 200 with JSON is the payload; an OAuth error body (any
/// status) is the operator's refusal; anything else is a protocol error.
pub(crate) fn expect_json<T: DeserializeOwned>(
    endpoint: Endpoint,
    response: &Response<Vec<u8>>,
) -> Result<T, Error> {
    let status = response.status().as_u16();
    let body = response.body();
    if let Some(error) = parse_error_body(endpoint, Some(status), body) {
        return Err(error.into());
    }
    if status != 200 {
        return Err(ProtocolError::UnexpectedStatus { endpoint, status }.into());
    }
    Ok(json(endpoint, body)?)
}

/// Parse a query string (with or without `?`, or a whole URL) into ordered pairs with bounds and duplicate rejection.
pub(crate) fn query_pairs(
    query: &str,
) -> Result<Vec<(String, String)>, crate::error::CallbackError> {
    use crate::error::CallbackError;
    // A whole redirect URL is accepted too: keep what follows its `?`, without any fragment.
    let lower = query.get(..8).unwrap_or(query).to_ascii_lowercase();
    let query = if lower.starts_with("http://") || lower.starts_with("https://") {
        let after = query.split_once('?').map_or("", |(_, q)| q);
        after.split_once('#').map_or(after, |(q, _)| q)
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

/// Lenient shapes seen in real payloads.
pub(crate) mod lenient {
    use super::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrString {
        Unsigned(u64),
        Float(f64),
        Text(String),
    }

    fn number(value: NumberOrString) -> Option<u64> {
        match value {
            NumberOrString::Unsigned(n) => Some(n),
            NumberOrString::Float(f) if f.is_finite() && (0.0..1.8e19).contains(&f) =>
            {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Some(f.trunc() as u64)
            }
            NumberOrString::Float(_) => None,
            NumberOrString::Text(s) => {
                let s = s.trim();
                s.parse::<u64>().ok().or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .and_then(|f| number(NumberOrString::Float(f)))
                })
            }
        }
    }

    /// A non-negative number that may come as a float or a string; anything else is `None`.
    pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        Ok(value
            .and_then(|v| NumberOrString::deserialize(v).ok())
            .and_then(number))
    }

    /// A boolean that may come as `true`, `"true"`, `"1"` or `1`.
    pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        Ok(match value {
            Some(serde_json::Value::Bool(b)) => Some(b),
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|n| n != 0),
            Some(serde_json::Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
            _ => None,
        })
    }

    /// One string or an array of strings (`aud`, `amr`); non-strings in an array are dropped.
    pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        Ok(match value {
            Some(serde_json::Value::String(s)) => vec![s],
            Some(serde_json::Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| match v {
                    serde_json::Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
    }

    /// A string, or a number rendered as a string (`acr` sent as 2 instead of "2").
    pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        Ok(match value {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    }
}
