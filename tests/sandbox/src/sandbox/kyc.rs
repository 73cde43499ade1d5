//! KYC match at premiuminfo (`mc_kyc_plain` / `mc_kyc_hashed`): the operator compares the
//! values the SP sent in the `claims` request's `premiuminfo` member with the facts it holds
//! about the subscriber, and answers a code per attribute (`<claim>_match`: `Y`, `N-AV` when it
//! holds other data, `N-NA` when it holds none), with the account extras.

use serde_json::{Map, Value, json};

use crate::keys::sha256;

/// The attributes a KYC match may ask about.
const ATTRIBUTES: [&str; 9] = [
    "given_name",
    "family_name",
    "name",
    "houseno_or_housename",
    "postal_code",
    "town",
    "country",
    "address",
    "birthdate",
];

/// The market's normalisation, as the SP's default: lower-case, spaces removed.
fn normalise(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != ' ')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Lower-case hex SHA-256 of the normalised fact (what a hashed request sends).
fn hashed(fact: &str) -> String {
    sha256(normalise(fact).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The KYC claims answering `request` (the `claims` request's `premiuminfo` member) against
/// `facts` (the subscriber's, none for a subscriber the operator holds nothing about): one
/// `<claim>_match` per requested attribute that carries a `value` (plain `<attr>`, hashed
/// `<attr>_hashed` or `<attr>_hash`), and, when any was asked, `is_lost_stolen`,
/// `billing_segment` and `account_state`. Claims that are no KYC attribute are left to
/// premiuminfo's other claims.
pub(super) fn answer(
    facts: Option<&[(&str, &str)]>,
    request: &Map<String, Value>,
) -> Map<String, Value> {
    let mut answers = Map::new();
    for (claim, spec) in request {
        let (attribute, is_hashed) = match claim
            .strip_suffix("_hashed")
            .or_else(|| claim.strip_suffix("_hash"))
        {
            Some(attribute) => (attribute, true),
            None => (claim.as_str(), false),
        };
        if !ATTRIBUTES.contains(&attribute) {
            continue;
        }
        let Some(sent) = spec.get("value").and_then(Value::as_str) else {
            continue;
        };
        let fact = facts.and_then(|f| f.iter().find(|(name, _)| *name == attribute));
        let code = match fact {
            None => "N-NA",
            Some((_, fact)) if is_hashed && sent.eq_ignore_ascii_case(&hashed(fact)) => "Y",
            Some((_, fact)) if !is_hashed && normalise(sent) == normalise(fact) => "Y",
            Some(_) => "N-AV",
        };
        answers.insert(format!("{claim}_match"), json!(code));
    }
    if !answers.is_empty() {
        answers.insert("is_lost_stolen".to_owned(), json!("N"));
        answers.insert("billing_segment".to_owned(), json!("consumer"));
        answers.insert("account_state".to_owned(), json!("active"));
    }
    answers
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::{answer, hashed};

    const FACTS: &[(&str, &str)] = &[
        ("name", "Test Subscriber"),
        ("postal_code", "SW1A 1AA"),
        ("birthdate", "1980-01-01"),
    ];

    fn request(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn kyc_plain_compares_normalised_values() {
        let answers = answer(
            Some(FACTS),
            &request(json!({
                "name": {"value": "test SUBSCRIBER"},
                "postal_code": {"value": "LS1 4AP"},
                "town": {"value": "London"},
                "phone_number": {"value": "+447700900001"},
            })),
        );
        assert_eq!(answers["name_match"], "Y");
        assert_eq!(answers["postal_code_match"], "N-AV");
        assert_eq!(answers["town_match"], "N-NA");
        assert!(!answers.contains_key("phone_number_match"));
        assert_eq!(answers["is_lost_stolen"], "N");
        assert_eq!(answers["billing_segment"], "consumer");
        assert_eq!(answers["account_state"], "active");
    }

    #[test]
    fn kyc_hashed_compares_the_hash_of_the_normalised_fact() {
        assert_eq!(
            hashed("Test Subscriber"),
            // printf '%s' testsubscriber | sha256sum
            "3098f550fb9b77edb62ee4efc2302407fe7f73e485358f1e1f793884ee37f1b8"
        );
        let answers = answer(
            Some(FACTS),
            &request(json!({
                "name_hashed": {"value": hashed("TEST subscriber")},
                "postal_code_hash": {"value": hashed("LS1 4AP")},
                "birthdate_hashed": {"value": hashed("1980-01-01").to_uppercase()},
            })),
        );
        assert_eq!(answers["name_hashed_match"], "Y");
        assert_eq!(answers["postal_code_hash_match"], "N-AV");
        assert_eq!(answers["birthdate_hashed_match"], "Y");
    }

    #[test]
    fn kyc_unknown_subscriber_holds_no_data() {
        let answers = answer(
            None,
            &request(json!({"name": {"value": "Test Subscriber"}})),
        );
        assert_eq!(answers["name_match"], "N-NA");
    }

    #[test]
    fn kyc_no_match_request_adds_nothing() {
        assert!(
            answer(
                Some(FACTS),
                &request(json!({"name": null, "email": {"value": "x"}}))
            )
            .is_empty()
        );
    }
}
