//! The per-login fast paths give exactly the answers of the straightforward code they replace:
//! the OAuth error-body pre-scan (`wire::parse_error_body`) and the lenient id_token claim
//! reader (`wire::lenient` visitors, no `serde_json::Value` per claim), held to a plain
//! `Value`-based statement of its rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::json_soup;

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
    // RFC 8259 8.1: the whole text is UTF-8, ignored members included.
    let parsed: ReferenceErrorBody = serde_json::from_str(std::str::from_utf8(body).ok()?).ok()?;
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
    json_soup(
        [
            "\n",
            "\t",
            "\"error\"",
            "\"\\u0065rror\"",
            "\"err\\u006fr\"",
            "\"error_description\"",
            "\"description\"",
            "\"errors\"",
            "\"x-error\"",
            "\"access_token\"",
            "\"invalid_grant\"",
            "\"eyJhbGciOiJSUzI1NiJ9.eyJlcnJvciI6MX0.c2ln\"",
            "null",
            "1",
            "true",
            "\"\\\"\"",
            "\u{c}",
        ]
        .map(|fragment| Just(fragment).boxed()),
    )
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

// --- The lenient claim reader, against a plain reading of `serde_json::Value`s. ---
//
// The reference states the rules of `wire::lenient` for the id_token claims directly: a claim
// absent is `None`/empty; present, it reads as its shape or is refused with the shape's reason
// (never read as absent). The first refused claim in document order is the verdict.

type Reference<T> = Result<T, &'static str>;

fn seconds(value: &Value) -> Reference<u64> {
    fn float(f: f64) -> Reference<u64> {
        if !f.is_finite() {
            Err("not a number")
        } else if f < 0.0 {
            Err("negative")
        } else if f >= 18_446_744_073_709_551_616.0 {
            Err("out of range")
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(f.trunc() as u64)
        }
    }
    match value {
        Value::Null => Err("null"),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Ok(u),
            (None, Some(_), _) => Err("negative"),
            (None, None, Some(f)) => float(f),
            _ => Err("not a number"),
        },
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().or_else(|_| match s.parse::<f64>() {
                Ok(f) => float(f),
                Err(_) => Err("not a number"),
            })
        }
        _ => Err("not a number"),
    }
}

fn text(value: &Value) -> Reference<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Err("null"),
        _ => Err("not a string"),
    }
}

fn text_or_integer(value: &Value) -> Reference<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        Value::Null => Err("null"),
        _ => Err("not a string or an integer"),
    }
}

fn list(value: &Value) -> Reference<Vec<String>> {
    let refused = "not a string or an array of strings";
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(refused))
            .collect(),
        Value::Null => Err("null"),
        _ => Err(refused),
    }
}

/// The claims as the reference reads them: (strings, times, lists), or the first refusal.
type ReferenceClaims = (Vec<Option<String>>, Vec<Option<u64>>, Vec<Vec<String>>);

fn reference_claims(document: &serde_json::Map<String, Value>) -> Result<ReferenceClaims, String> {
    // Document order: the order serde_json writes (and reads back) this map in.
    for (name, value) in document {
        let verdict = match name.as_str() {
            "acr" => text_or_integer(value).map(drop),
            n if STRING_CLAIMS.contains(&n) => text(value).map(drop),
            n if TIME_CLAIMS.contains(&n) => seconds(value).map(drop),
            n if LIST_CLAIMS.contains(&n) => list(value).map(drop),
            _ => Ok(()),
        };
        if let Err(reason) = verdict {
            return Err(format!("claim {name}: {reason}"));
        }
    }
    let get = |name: &str| document.get(name);
    Ok((
        STRING_CLAIMS
            .iter()
            .map(|n| {
                get(n).map(|v| {
                    if *n == "acr" {
                        text_or_integer(v).unwrap()
                    } else {
                        text(v).unwrap()
                    }
                })
            })
            .collect(),
        TIME_CLAIMS
            .iter()
            .map(|n| get(n).map(|v| seconds(v).unwrap()))
            .collect(),
        LIST_CLAIMS
            .iter()
            .map(|n| get(n).map(|v| list(v).unwrap()).unwrap_or_default())
            .collect(),
    ))
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
        Just(json!(1.9e19)),
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
            Just("18446744073709551615"),
            Just("2"),
            Just(""),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec("[a-z]{1,3}".prop_map(Value::from), 0..4).prop_map(Value::Array),
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
    // The reference reads the same text (serde_json's float parsing is not always exact).
    let document: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let read = serde_json::from_str::<IdTokenClaims>(&text);
    match (read, reference_claims(&document)) {
        (Ok(claims), Ok((strings, times, lists))) => {
            let found = [
                &claims.iss,
                &claims.sub,
                &claims.azp,
                &claims.acr,
                &claims.at_hash,
                &claims.hashed_login_hint,
            ];
            for ((name, found), expected) in STRING_CLAIMS.iter().zip(found).zip(&strings) {
                prop_assert_eq!(found, expected, "{} in {}", name, text);
            }
            let found = [claims.exp, claims.iat, claims.nbf, claims.auth_time];
            for ((name, found), expected) in TIME_CLAIMS.iter().zip(found).zip(&times) {
                prop_assert_eq!(&found, expected, "{} in {}", name, text);
            }
            let found = [&claims.aud, &claims.amr];
            for ((name, found), expected) in LIST_CLAIMS.iter().zip(found).zip(&lists) {
                prop_assert_eq!(found, expected, "{} in {}", name, text);
            }
        }
        (Err(e), Err(expected)) => {
            let message = e.to_string();
            prop_assert!(
                message == expected || message.starts_with(&format!("{expected} at line ")),
                "{} in {}: reader says {}",
                expected,
                text,
                message
            );
        }
        (read, expected) => {
            return Err(TestCaseError::fail(format!(
                "{text}: reader {:?}, reference {expected:?}",
                read.map(|_| "accepted").map_err(|e| e.to_string())
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn lenient_claims_read_like_json_values(
        values in prop::collection::vec(claim_value(), 12),
        present in prop::collection::vec(any::<bool>(), 12),
    ) {
        let names = STRING_CLAIMS.iter().chain(&TIME_CLAIMS).chain(&LIST_CLAIMS);
        let document: serde_json::Map<String, Value> = names
            .zip(values)
            .zip(present)
            .filter(|(_, present)| *present)
            .map(|((name, value), _)| ((*name).to_owned(), value))
            .collect();
        check_claims(&Value::Object(document))?;
    }

    /// Every claim readable: the values read are the reference's.
    #[test]
    fn lenient_claims_read_readable_values(
        strings in prop::collection::vec("[ -~]{0,12}", 6),
        times in prop::collection::vec((0u64..4_000_000_000, 0u8..4), 4),
        lists in prop::collection::vec(prop::collection::vec("[A-Z_]{0,6}", 0..3), 2),
    ) {
        let mut document = serde_json::Map::new();
        for (name, value) in STRING_CLAIMS.iter().zip(strings) {
            document.insert((*name).to_owned(), json!(value));
        }
        for (name, (t, style)) in TIME_CLAIMS.iter().zip(times) {
            #[allow(clippy::cast_precision_loss)]
            let value = match style {
                0 => json!(t),
                1 => json!(t as f64 + 0.5),
                2 => json!(t.to_string()),
                _ => json!(format!(" {t}.25 ")),
            };
            document.insert((*name).to_owned(), value);
        }
        for (name, value) in LIST_CLAIMS.iter().zip(lists) {
            let value = if value.len() == 1 { json!(value[0]) } else { json!(value) };
            document.insert((*name).to_owned(), value);
        }
        let document = Value::Object(document);
        prop_assert!(serde_json::from_str::<IdTokenClaims>(&document.to_string()).is_ok());
        check_claims(&document)?;
    }
}

#[test]
fn lenient_claim_examples() {
    // Every lenient shape the ecosystem sends, read.
    let document = json!({
        "iss": "https://op.example", "sub": "pcr", "azp": "client", "acr": 3, "at_hash": "x",
        "hashed_login_hint": "5f2b",
        "exp": "1790000300", "iat": 1_789_999_995.7, "nbf": " 17e8 ", "auth_time": 1_789_999_990,
        "aud": ["client", "other"], "amr": "SIM_PIN",
    });
    check_claims(&document).unwrap();
    let claims: IdTokenClaims = serde_json::from_value(document).unwrap();
    assert_eq!(claims.acr.as_deref(), Some("3"));
    assert_eq!(claims.iat, Some(1_789_999_995));
    assert_eq!(claims.nbf, Some(1_700_000_000));
    assert_eq!(claims.amr, ["SIM_PIN"]);
    // Present but unreadable: refused, with the claim named (review finding 3).
    for (document, message) in [
        (json!({ "nbf": 1e20 }), "claim nbf: out of range"),
        (json!({ "nbf": "tomorrow" }), "claim nbf: not a number"),
        (json!({ "nbf": true }), "claim nbf: not a number"),
        (json!({ "at_hash": ["x"] }), "claim at_hash: not a string"),
        (
            json!({ "aud": ["client", 42] }),
            "claim aud: not a string or an array of strings",
        ),
        (json!({ "azp": null }), "claim azp: null"),
        (json!({ "exp": 1.9e19 }), "claim exp: out of range"),
        (json!({ "sub": 42 }), "claim sub: not a string"),
        (
            json!({ "acr": 2.5 }),
            "claim acr: not a string or an integer",
        ),
    ] {
        check_claims(&document).unwrap();
        let error = serde_json::from_value::<IdTokenClaims>(document).unwrap_err();
        assert!(error.to_string().starts_with(message), "{error}");
    }
    // Empty and absent are the absent rule.
    let empty = json!({ "aud": [], "amr": [] });
    check_claims(&empty).unwrap();
    check_claims(&json!({})).unwrap();
    // A claim given twice is refused by the reader itself (it checks the member rules).
    let twice = r#"{"sub":"a","sub":"b"}"#;
    let error = serde_json::from_str::<IdTokenClaims>(twice).unwrap_err();
    assert!(error.to_string().starts_with("duplicate claim"), "{error}");
}

/// The depth bound of the JSON gate (a word-at-a-time bracket count before the walk) against a
/// plain reference: the nesting outside strings, byte by byte.
fn reference_depth(json: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

proptest! {
    #[test]
    fn json_depth_bound_agrees_with_the_reference(
        depth in 0usize..140,
        noise in proptest::collection::vec(
            prop_oneof![Just("[1,"), Just("\"{[\\\"[\""), Just("{\"k\":"), Just("  ")],
            0..40,
        ),
        open_in_string in any::<bool>(),
    ) {
        let mut body = String::from("{\"issuer\":\"https://op.example\",\"x\":");
        let opens: String = (0..depth).map(|i| if i % 2 == 0 { '[' } else { '{' }).collect();
        // Objects need keys: wrap each `{` level as `{"k":`.
        let opens = opens.replace('{', "{\"k\":");
        body.push_str(&opens);
        if open_in_string {
            body.push_str("\"[[[[{{{{\"");
        } else {
            body.push('1');
        }
        for part in &noise {
            body.push_str(part);
        }
        let body = body.into_bytes();
        let refused_for_depth = match mc_core::ProviderMetadata::parse(&body) {
            Err(mc_core::ProtocolError::MalformedJson { reason, .. }) => {
                reason.contains("nested deeper")
            }
            _ => false,
        };
        prop_assert_eq!(refused_for_depth, reference_depth(&body) > mc_core::wire::MAX_JSON_DEPTH);
    }
}
