//! The per-login fast paths give exactly the answers of the straightforward code they replace:
//! the OAuth error-body pre-scan (`wire::parse_error_body`) and the lenient id_token claim
//! readers (no `serde_json::Value` per claim).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mc_core::Endpoint;
use mc_core::id_token::IdTokenClaims;
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// The error body as `wire` reads it, parsed in full every time.
#[derive(Deserialize)]
struct ReferenceErrorBody {
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

type ErrorFields = (String, Option<String>, Option<String>, Option<String>);

fn reference_error(body: &[u8]) -> Option<ErrorFields> {
    // Error bodies are JSON objects; an array is never read by position.
    if body.len() > mc_core::wire::MAX_JSON_BYTES || body.trim_ascii_start().first() != Some(&b'{')
    {
        return None;
    }
    let parsed: ReferenceErrorBody = serde_json::from_slice(body).ok()?;
    Some((
        parsed.error,
        parsed.error_description.or(parsed.description),
        parsed.error_uri,
        parsed.correlation_id,
    ))
}

fn fast_error(body: &[u8]) -> Option<ErrorFields> {
    mc_core::wire::parse_error_body(Endpoint::Token, Some(400), body)
        .map(|e| (e.error, e.description, e.uri, e.correlation_id))
}

/// JSON-ish text from fragments that matter to the scan: keys spelled plainly or with escapes,
/// `error` inside values, arrays, whitespace, chunk-boundary positions.
fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just(":"),
        Just(","),
        Just(" "),
        Just("\n"),
        Just("\t"),
        Just("\""),
        Just("\\"),
        Just("\"error\""),
        Just("\"\\u0065rror\""),
        Just("\"err\\u006fr\""),
        Just("\"error_description\""),
        Just("\"description\""),
        Just("\"errors\""),
        Just("\"x-error\""),
        Just("\"access_token\""),
        Just("\"invalid_grant\""),
        Just("\"eyJhbGciOiJSUzI1NiJ9.eyJlcnJvciI6MX0.c2ln\""),
        Just("null"),
        Just("1"),
        Just("true"),
        Just("\"\\\"\""),
        Just("\u{c}"),
    ];
    prop::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat().into_bytes())
}

fn object_strategy() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just(json!("invalid_grant")),
        Just(json!("the \"error\" word")),
        Just(json!("back\\slash")),
        Just(json!(12)),
        Just(json!(null)),
        Just(json!(["error", 1])),
        Just(json!({ "error": "nested" })),
    ];
    let key = prop_oneof![
        Just("error"),
        Just("error_description"),
        Just("description"),
        Just("error_uri"),
        Just("correlation_id"),
        Just("access_token"),
        Just("id_token"),
        Just("errors"),
    ];
    (
        prop::collection::vec((key, value), 0..6),
        prop_oneof![Just(""), Just(" "), Just("\n\t ")],
    )
        .prop_map(|(members, lead)| {
            let mut map = serde_json::Map::new();
            for (k, v) in members {
                map.insert(k.to_owned(), v);
            }
            let mut body = lead.as_bytes().to_vec();
            body.extend(serde_json::to_vec(&Value::Object(map)).unwrap());
            body
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn error_body_scan_agrees_with_the_full_parse(body in body_strategy()) {
        prop_assert_eq!(fast_error(&body), reference_error(&body));
    }

    #[test]
    fn error_body_scan_agrees_on_objects(body in object_strategy()) {
        prop_assert_eq!(fast_error(&body), reference_error(&body));
    }

    #[test]
    fn error_body_scan_agrees_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(fast_error(&body), reference_error(&body));
    }
}

#[test]
fn error_body_scan_examples() {
    for body in [
        &br#"{"error":"invalid_grant"}"#[..],
        br#"  {"error_description":"x","error":"invalid_grant"}"#,
        br#"{"\u0065rror":"escaped_key"}"#,
        br#"{"access_token":"at","id_token":"eyJ.eyJ.sig"}"#,
        br#"{"access_token":"error"}"#,
        b"",
        b"not json",
    ] {
        assert_eq!(
            fast_error(body),
            reference_error(body),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

// --- The lenient claim readers, against the `serde_json::Value` readers they replace. ---

fn number(value: &Value) -> Option<u64> {
    fn float(f: f64) -> Option<u64> {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (f.is_finite() && (0.0..1.8e19).contains(&f)).then(|| f.trunc() as u64)
    }
    match value {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().and_then(float)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(float))
        }
        _ => None,
    }
}

fn opt_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_or_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn claim_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (0.0f64..2e19).prop_map(Value::from),
        Just(json!(1.8e19)),
        Just(json!(-0.0)),
        Just(json!(1e300)),
        "[a-z0-9 .+-]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just(" 1790000000 "),
            Just("1790000000.9"),
            Just("1e9"),
            Just("-5"),
            Just("NaN"),
            Just("inf"),
            Just("18446744073709551616"),
            Just("2"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const STRING_CLAIMS: [&str; 6] = ["iss", "sub", "azp", "acr", "at_hash", "hashed_login_hint"];
const TIME_CLAIMS: [&str; 4] = ["exp", "iat", "nbf", "auth_time"];
const LIST_CLAIMS: [&str; 2] = ["aud", "amr"];

fn check_claims(document: &Value) -> Result<(), TestCaseError> {
    let text = document.to_string();
    let claims: IdTokenClaims = serde_json::from_str(&text).unwrap();
    // The reference reads the same text (serde_json's float parsing is not always exact).
    let document: Value = serde_json::from_str(&text).unwrap();
    let get = |name: &str| document.get(name).unwrap_or(&Value::Null);
    let strings = [
        &claims.iss,
        &claims.sub,
        &claims.azp,
        &claims.acr,
        &claims.at_hash,
        &claims.hashed_login_hint,
    ];
    for (name, found) in STRING_CLAIMS.iter().zip(strings) {
        prop_assert_eq!(found, &opt_string(get(name)), "{} in {}", name, text);
    }
    let times = [claims.exp, claims.iat, claims.nbf, claims.auth_time];
    for (name, found) in TIME_CLAIMS.iter().zip(times) {
        prop_assert_eq!(found, number(get(name)), "{} in {}", name, text);
    }
    let lists = [&claims.aud, &claims.amr];
    for (name, found) in LIST_CLAIMS.iter().zip(lists) {
        prop_assert_eq!(found, &string_or_list(get(name)), "{} in {}", name, text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn lenient_claims_read_like_json_values(
        values in prop::collection::vec(claim_value(), 12),
    ) {
        let names = STRING_CLAIMS.iter().chain(&TIME_CLAIMS).chain(&LIST_CLAIMS);
        let document: serde_json::Map<String, Value> = names
            .zip(values)
            .map(|(name, value)| ((*name).to_owned(), value))
            .collect();
        check_claims(&Value::Object(document))?;
    }
}

#[test]
fn lenient_claim_examples() {
    let document = json!({
        "iss": 42, "sub": -7, "azp": 2.5, "acr": "3", "at_hash": [1], "hashed_login_hint": {"a": 1},
        "exp": "1790000300", "iat": 1_789_999_995.7, "nbf": -1, "auth_time": " 17e8 ",
        "aud": ["client", 5, null, ["nested"], {"o": 1}, "other"], "amr": "SIM_PIN",
    });
    check_claims(&document).unwrap();
    let empty = json!({ "aud": null, "amr": {"x": ["y"]}, "exp": true, "sub": false });
    check_claims(&empty).unwrap();
}
