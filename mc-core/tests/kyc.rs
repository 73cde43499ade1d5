//! KYC match: the premiuminfo claims request (plain and hashed, the validation rules) and the
//! typed reading of the `<attr>_match` answers. SHA-256 vectors were computed independently with
//! Python's hashlib.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mc_core::{
    AuthorizeOptions, KycAttribute, KycMatch, KycMode, KycRequestError, KycResult, KycResultError,
    MatchCode,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The GSMA PHP demo's KYC values (`fixtures/kyc/php-demo-kyc-claims.json`), before
/// normalisation.
fn php_demo() -> KycMatch {
    KycMatch::new()
        .name("Henry Dorsett Case")
        .address("1198 407 01 Chiba City Japan")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn plain_request_keys_claims_by_attribute_name() {
    let claims = KycMatch::new()
        .given_name("Jane")
        .family_name("Doe")
        .houseno_or_housename("12")
        .postal_code("AB1 2CD")
        .town("Leeds")
        .build(KycMode::Plain)
        .unwrap();
    assert_eq!(
        claims,
        json!({"premiuminfo": {
            "given_name": {"value": "Jane"},
            "family_name": {"value": "Doe"},
            "houseno_or_housename": {"value": "12"},
            "postal_code": {"value": "AB1 2CD"},
            "town": {"value": "Leeds"},
        }})
    );
}

#[test]
fn plain_request_with_every_attribute() {
    let mut request = KycMatch::new();
    for attribute in KycAttribute::ALL {
        request = request.set(attribute, format!("v-{attribute}"));
    }
    let claims = request.build(KycMode::Plain).unwrap();
    let premiuminfo = claims["premiuminfo"].as_object().unwrap();
    assert_eq!(premiuminfo.len(), 9);
    for attribute in KycAttribute::ALL {
        assert_eq!(
            premiuminfo[attribute.as_str()],
            json!({"value": format!("v-{attribute}")})
        );
    }
}

#[test]
fn hashed_request_uses_default_normalisation_and_sha256_hex() {
    let claims = php_demo().build(KycMode::Hashed).unwrap();
    // sha256("henrydorsettcase"), sha256("119840701chibacityjapan"): the demo's own values.
    assert_eq!(
        claims,
        json!({"premiuminfo": {
            "name_hashed": {"value": "10b182c8d5395b6f9279848b5bcc070071644cb09548b2fd5dad09dbb290ba3a"},
            "address_hashed": {"value": "ab7898d762572dbe066ccd14f25d9b8f3c1dc405a24ae4f1b611755ac517b8ff"},
        }})
    );
}

#[test]
fn hashed_request_of_the_parts() {
    let claims = KycMatch::new()
        .given_name(" Jane")
        .family_name("DOE")
        .houseno_or_housename("1 2")
        .postal_code("AB12 CD")
        .build(KycMode::Hashed)
        .unwrap();
    assert_eq!(
        claims,
        json!({"premiuminfo": {
            "given_name_hashed": {"value": "81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2"},
            "family_name_hashed": {"value": "799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f"},
            "houseno_or_housename_hashed": {"value": "6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918"},
            "postal_code_hashed": {"value": "02a781a698d64ddb428878d7eb69b80e63d6b065d8a5961012d43f55b154c5fa"},
        }})
    );
}

#[test]
fn hashed_request_with_a_custom_normalisation() {
    // A market that hashes the value as given: sha256("1") for a house number of "1".
    let verbatim = |value: &str| value.to_owned();
    let claims = KycMatch::new()
        .name("janedoe")
        .houseno_or_housename("1")
        .postal_code("sw1a1aa")
        .build_with(KycMode::Hashed, &verbatim)
        .unwrap();
    assert_eq!(
        claims["premiuminfo"]["houseno_or_housename_hashed"]["value"],
        "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
    );
    assert_eq!(
        claims["premiuminfo"]["name_hashed"]["value"],
        "7618385caea382f562305468e586330381aae549829075b78dca7cb0d0aefac6"
    );
    assert_eq!(
        claims["premiuminfo"]["postal_code_hashed"]["value"],
        "830e1d4b9838bab1f5c2acdb23e0b502ff13a9832c4632e8d67a1d43d3b7f614"
    );
}

#[test]
fn request_goes_into_authorize_options() {
    let claims = php_demo().build(KycMode::Plain).unwrap();
    let _options = AuthorizeOptions::new()
        .scope([KycMode::Plain.scope()])
        .claims(claims);
    assert_eq!(KycMode::Plain.scope(), "mc_kyc_plain");
    assert_eq!(KycMode::Hashed.scope(), "mc_kyc_hashed");
}

#[test]
fn debug_shows_no_values() {
    let debug = format!("{:?}", php_demo());
    assert!(!debug.contains("Henry"), "{debug}");
    assert!(debug.contains("Name"), "{debug}");
}

#[test]
fn validation_rules_have_typed_errors() {
    use KycAttribute as A;
    let cases: &[(&str, KycMatch, KycRequestError)] = &[
        (
            "empty request",
            KycMatch::new(),
            KycRequestError::NameRequired { missing: A::Name },
        ),
        (
            "no name at all",
            KycMatch::new().address("x"),
            KycRequestError::NameRequired { missing: A::Name },
        ),
        (
            "given_name without family_name",
            KycMatch::new().given_name("Jane").address("x"),
            KycRequestError::NameRequired {
                missing: A::FamilyName,
            },
        ),
        (
            "family_name without given_name",
            KycMatch::new().family_name("Doe").address("x"),
            KycRequestError::NameRequired {
                missing: A::GivenName,
            },
        ),
        (
            "no address at all",
            KycMatch::new().name("Jane Doe").town("Leeds"),
            KycRequestError::AddressRequired {
                missing: A::Address,
            },
        ),
        (
            "house without postal_code",
            KycMatch::new().name("Jane Doe").houseno_or_housename("12"),
            KycRequestError::AddressRequired {
                missing: A::PostalCode,
            },
        ),
        (
            "postal_code without house",
            KycMatch::new().name("Jane Doe").postal_code("AB1"),
            KycRequestError::AddressRequired {
                missing: A::HousenoOrHousename,
            },
        ),
        (
            "empty value",
            KycMatch::new().name("Jane Doe").address(""),
            KycRequestError::EmptyValue {
                attribute: A::Address,
            },
        ),
        (
            "whitespace value",
            php_demo().birthdate("  "),
            KycRequestError::EmptyValue {
                attribute: A::Birthdate,
            },
        ),
    ];
    for (case, request, expected) in cases {
        for mode in [KycMode::Plain, KycMode::Hashed] {
            assert_eq!(
                request.build(mode).as_ref(),
                Err(expected),
                "{case} ({mode:?})"
            );
        }
        assert!(!expected.to_string().is_empty());
    }
}

#[test]
fn validation_accepts_each_allowed_shape() {
    let shapes = [
        KycMatch::new().name("n").address("a"),
        KycMatch::new()
            .given_name("g")
            .family_name("f")
            .address("a"),
        KycMatch::new()
            .name("n")
            .houseno_or_housename("h")
            .postal_code("p"),
        KycMatch::new()
            .given_name("g")
            .family_name("f")
            .houseno_or_housename("h")
            .postal_code("p")
            .town("t")
            .country("c")
            .birthdate("1970-01-01"),
    ];
    for shape in shapes {
        assert_eq!(shape.validate(), Ok(()), "{shape:?}");
    }
}

#[test]
fn reads_each_match_code() {
    let cases = [
        ("Y", MatchCode::Match),
        ("N-NA", MatchCode::NoData),
        ("N-AV", MatchCode::NoMatch),
        ("N-AD", MatchCode::AccessDenied),
        ("Y-AD", MatchCode::MatchAccessDenied),
    ];
    for (wire, code) in cases {
        assert_eq!(MatchCode::from_code(wire), Some(code));
        assert_eq!(code.as_str(), wire);
        for suffix in ["_match", "_hashed_match", "_hash_match"] {
            let claims = object(json!({ format!("postal_code{suffix}"): wire }));
            let result = KycResult::read(&claims).unwrap();
            assert_eq!(
                result.get(KycAttribute::PostalCode),
                Some(code),
                "{wire}{suffix}"
            );
            assert_eq!(result.get(KycAttribute::Name), None);
        }
    }
    assert!(MatchCode::Match.is_match());
    assert!(!MatchCode::MatchAccessDenied.is_match());
}

#[test]
fn reads_a_whole_answer_with_extras() {
    let claims = object(json!({
        "sub": "pcr",
        "name_match": "Y",
        "given_name_hashed_match": "N-NA",
        "address_hash_match": "N-AV",
        "birthdate_match": "N-AD",
        "is_lost_stolen": "N",
        "billing_segment": "prepaid",
        "account_state": "active",
        "phone_number": "+447700900001",
    }));
    let result = KycResult::read(&claims).unwrap();
    assert_eq!(
        result.codes().collect::<Vec<_>>(),
        vec![
            (KycAttribute::GivenName, MatchCode::NoData),
            (KycAttribute::Name, MatchCode::Match),
            (KycAttribute::Address, MatchCode::NoMatch),
            (KycAttribute::Birthdate, MatchCode::AccessDenied),
        ]
    );
    assert_eq!(result.is_lost_stolen(), Some(false));
    assert_eq!(result.billing_segment(), Some("prepaid"));
    assert_eq!(result.account_state(), Some("active"));
}

#[test]
fn absent_answers_are_none() {
    let result = KycResult::read(&Map::new()).unwrap();
    assert_eq!(result.codes().count(), 0);
    assert_eq!(result.is_lost_stolen(), None);
    assert_eq!(result.billing_segment(), None);
    assert_eq!(result.account_state(), None);
    let result = KycResult::read(&object(json!({"is_lost_stolen": true}))).unwrap();
    assert_eq!(result.is_lost_stolen(), Some(true));
}

#[test]
fn bad_answers_have_typed_errors() {
    let cases: &[(&str, Value, KycResultError)] = &[
        (
            "unknown code",
            json!({"name_match": "MAYBE"}),
            KycResultError::UnknownCode {
                claim: "name_match".into(),
                code: "MAYBE".into(),
            },
        ),
        (
            "lower-case code",
            json!({"town_hash_match": "y"}),
            KycResultError::UnknownCode {
                claim: "town_hash_match".into(),
                code: "y".into(),
            },
        ),
        (
            "empty code",
            json!({"country_match": ""}),
            KycResultError::UnknownCode {
                claim: "country_match".into(),
                code: String::new(),
            },
        ),
        (
            "boolean code",
            json!({"name_match": true}),
            KycResultError::WrongType {
                claim: "name_match".into(),
                expected: "string",
            },
        ),
        (
            "plain and hashed disagree",
            json!({"name_match": "Y", "name_hashed_match": "N-AV"}),
            KycResultError::Conflicting {
                attribute: KycAttribute::Name,
                first: "name_match".into(),
                second: "name_hashed_match".into(),
            },
        ),
        (
            "unknown lost/stolen value",
            json!({"is_lost_stolen": "maybe"}),
            KycResultError::UnknownLostStolen,
        ),
        (
            "numeric lost/stolen value",
            json!({"is_lost_stolen": 1}),
            KycResultError::UnknownLostStolen,
        ),
        (
            "non-string billing_segment",
            json!({"billing_segment": 3}),
            KycResultError::WrongType {
                claim: "billing_segment".into(),
                expected: "string",
            },
        ),
    ];
    for (case, claims, expected) in cases {
        let claims = object(claims.clone());
        assert_eq!(KycResult::read(&claims).as_ref(), Err(expected), "{case}");
        assert!(!expected.to_string().is_empty());
    }
}

#[test]
fn unknown_code_is_truncated_in_the_error() {
    let long = "N".repeat(10_000);
    let claims = object(json!({"name_match": long}));
    match KycResult::read(&claims) {
        Err(KycResultError::UnknownCode { code, .. }) => assert_eq!(code.len(), 64),
        other => panic!("{other:?}"),
    }
}

#[test]
fn agreeing_spellings_are_accepted() {
    let claims = object(json!({"name_match": "Y", "name_hash_match": "Y"}));
    let result = KycResult::read(&claims).unwrap();
    assert_eq!(result.get(KycAttribute::Name), Some(MatchCode::Match));
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Member names the reader looks at, so that arbitrary maps often hit one.
fn json_key() -> impl Strategy<Value = String> {
    let mut known: Vec<String> = vec![
        "is_lost_stolen".into(),
        "billing_segment".into(),
        "account_state".into(),
    ];
    for attribute in KycAttribute::ALL {
        for suffix in ["_match", "_hashed_match", "_hash_match"] {
            known.push(format!("{attribute}{suffix}"));
        }
    }
    prop_oneof![prop::sample::select(known), "[a-z_]{0,24}", any::<String>()]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec!["Y", "N-NA", "N-AV", "N-AD", "Y-AD", "Y ", "N", "true"])
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_code() -> impl Strategy<Value = MatchCode> {
    prop::sample::select(vec![
        MatchCode::Match,
        MatchCode::NoData,
        MatchCode::NoMatch,
        MatchCode::AccessDenied,
        MatchCode::MatchAccessDenied,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The reader never panics; what it accepts holds only known codes, and every error is
    /// displayable.
    #[test]
    fn reader_never_panics(map in prop::collection::btree_map(json_key(), arb_json(), 0..12)) {
        let claims: Map<String, Value> = map.into_iter().collect();
        match KycResult::read(&claims) {
            Ok(result) => {
                for (attribute, code) in result.codes() {
                    prop_assert_eq!(MatchCode::from_code(code.as_str()), Some(code));
                    let answered = ["_match", "_hashed_match", "_hash_match"]
                        .iter()
                        .any(|suffix| claims.contains_key(&format!("{attribute}{suffix}")));
                    prop_assert!(answered);
                }
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    /// Build a request, answer every requested claim (by the name it was requested under), read
    /// the answer: the same attributes come back with the codes given.
    #[test]
    fn build_then_read_round_trips_attribute_names(
        values in prop::collection::btree_map(
            prop::sample::select(KycAttribute::ALL.to_vec()),
            "[A-Za-z0-9 ]{0,8}[A-Za-z0-9]",
            0..10,
        ),
        hashed in any::<bool>(),
        codes in prop::collection::vec(arb_code(), 9),
    ) {
        let mut request = KycMatch::new().name("n").address("a");
        for (attribute, value) in &values {
            request = request.set(*attribute, value.clone());
        }
        let mode = if hashed { KycMode::Hashed } else { KycMode::Plain };
        let claims = request.build(mode).unwrap();
        let premiuminfo = claims["premiuminfo"].as_object().unwrap();
        let mut answer = Map::new();
        let mut expected = Vec::new();
        for (index, key) in premiuminfo.keys().enumerate() {
            let name = if hashed { key.strip_suffix("_hashed").unwrap() } else { key.as_str() };
            let attribute = KycAttribute::from_name(name).unwrap();
            let requested: Vec<_> = request.attributes().collect();
            prop_assert!(requested.contains(&attribute));
            let value = &premiuminfo[key]["value"];
            if hashed {
                let hex = value.as_str().unwrap();
                prop_assert_eq!(hex.len(), 64);
                prop_assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            }
            answer.insert(format!("{key}_match"), Value::from(codes[index].as_str()));
            expected.push((attribute, codes[index]));
        }
        expected.sort_by_key(|(attribute, _)| *attribute);
        let result = KycResult::read(&answer).unwrap();
        prop_assert_eq!(result.codes().collect::<Vec<_>>(), expected);
        prop_assert_eq!(
            result.codes().map(|(a, _)| a).collect::<Vec<_>>(),
            request.attributes().collect::<Vec<_>>()
        );
    }
}
