//! KYC match (`mc_kyc_plain` / `mc_kyc_hashed`): the `premiuminfo` claims request that asks the
//! operator to compare the SP's values with its subscriber records, and the typed reading of the
//! `<attr>_match` answers. Both halves are pure functions of their input: no clock, randomness or IO.
//!
//! ```
//! use mc_core::{AuthorizeOptions, KycAttribute, KycMatch, KycMode, KycResult, MatchCode};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let request = KycMatch::new()
//!     .name("Henry Dorsett Case")
//!     .houseno_or_housename("1198")
//!     .postal_code("407-01");
//! let claims = request.build(KycMode::Plain)?;
//! assert_eq!(claims["premiuminfo"]["name"]["value"], "Henry Dorsett Case");
//! let options = AuthorizeOptions::new().scope([KycMode::Plain.scope()]).claims(claims);
//! # let _ = options;
//!
//! // Later, the premiuminfo answer (`UserInfo::claims()`):
//! let answer = serde_json::json!({"name_match": "Y", "postal_code_match": "N-AV"});
//! let result = KycResult::read(answer.as_object().ok_or("not an object")?)?;
//! assert_eq!(result.get(KycAttribute::Name), Some(MatchCode::Match));
//! assert_eq!(result.get(KycAttribute::PostalCode), Some(MatchCode::NoMatch));
//! assert_eq!(result.get(KycAttribute::Town), None);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// The attributes a KYC match can compare, in the spelling of the claims (`mc_di_r2_v2.3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KycAttribute {
    /// `given_name`.
    GivenName,
    /// `family_name`.
    FamilyName,
    /// `name`: the full name, instead of `given_name` + `family_name`.
    Name,
    /// `houseno_or_housename`.
    HousenoOrHousename,
    /// `postal_code`.
    PostalCode,
    /// `town`.
    Town,
    /// `country`.
    Country,
    /// `address`: the whole address, instead of its parts.
    Address,
    /// `birthdate`.
    Birthdate,
}

impl KycAttribute {
    /// Every attribute, in a fixed order.
    pub const ALL: [Self; 9] = [
        Self::GivenName,
        Self::FamilyName,
        Self::Name,
        Self::HousenoOrHousename,
        Self::PostalCode,
        Self::Town,
        Self::Country,
        Self::Address,
        Self::Birthdate,
    ];

    /// The claim name (`given_name`, `postal_code`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::GivenName => "given_name",
            Self::FamilyName => "family_name",
            Self::Name => "name",
            Self::HousenoOrHousename => "houseno_or_housename",
            Self::PostalCode => "postal_code",
            Self::Town => "town",
            Self::Country => "country",
            Self::Address => "address",
            Self::Birthdate => "birthdate",
        }
    }

    /// The attribute with this claim name, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|attribute| attribute.as_str() == name)
    }
}

impl fmt::Display for KycAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Plain (the values themselves) or hashed (SHA-256 of the normalised values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KycMode {
    /// `mc_kyc_plain`: `{"premiuminfo": {"<attr>": {"value": "..."}}}`.
    Plain,
    /// `mc_kyc_hashed`: `{"premiuminfo": {"<attr>_hashed": {"value": "<hex sha-256>"}}}`.
    Hashed,
}

impl KycMode {
    /// The scope that asks for this kind of KYC match.
    #[must_use]
    pub const fn scope(self) -> &'static str {
        match self {
            Self::Plain => "mc_kyc_plain",
            Self::Hashed => "mc_kyc_hashed",
        }
    }
}

/// How a value is normalised before it is hashed. The rule is agreed per market, so it is the
/// host's to choose; any `Fn(&str) -> String` is one. [`DefaultNormalisation`] is the default.
pub trait Normalisation {
    /// The normalised form of `value`, the bytes that are hashed.
    fn normalise(&self, value: &str) -> String;
}

impl<F: Fn(&str) -> String> Normalisation for F {
    fn normalise(&self, value: &str) -> String {
        self(value)
    }
}

/// The default normalisation: lower-case, spaces removed (`"Henry Dorsett Case"` becomes
/// `"henrydorsettcase"`, as in the GSMA demo's KYC values).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultNormalisation;

impl Normalisation for DefaultNormalisation {
    fn normalise(&self, value: &str) -> String {
        value
            .chars()
            .filter(|c| *c != ' ')
            .flat_map(char::to_lowercase)
            .collect()
    }
}

/// Why a KYC match request was not built: a validation rule of the profile it breaks. These
/// are the host's mistakes, reported before anything is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KycRequestError {
    /// Neither `name` nor both `given_name` and `family_name`.
    #[error("KYC match needs `name` or both `given_name` and `family_name` (missing: {missing})")]
    NameRequired {
        /// The one of `given_name` / `family_name` missing, or `Name` if both are.
        missing: KycAttribute,
    },
    /// Neither `address` nor both `houseno_or_housename` and `postal_code`.
    #[error(
        "KYC match needs `address` or both `houseno_or_housename` and `postal_code` (missing: {missing})"
    )]
    AddressRequired {
        /// The one of `houseno_or_housename` / `postal_code` missing, or `Address` if both are.
        missing: KycAttribute,
    },
    /// A value that is empty (or only whitespace): nothing to match.
    #[error("KYC match value of `{attribute}` is empty")]
    EmptyValue {
        /// The attribute.
        attribute: KycAttribute,
    },
    /// The crypto backend could not hash (it does not fail for SHA-256).
    #[error("the crypto backend cannot hash")]
    Hash,
}

/// The values the SP asks the operator to match. Holds personal data: its `Debug` shows the
/// attribute names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KycMatch {
    values: BTreeMap<KycAttribute, String>,
}

impl fmt::Debug for KycMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

macro_rules! kyc_setters {
    ($($method:ident => $attribute:ident),* $(,)?) => {
        $(
            #[doc = concat!("Set `", stringify!($method), "`.")]
            #[must_use]
            pub fn $method(self, value: impl Into<String>) -> Self {
                self.set(KycAttribute::$attribute, value)
            }
        )*
    };
}

impl KycMatch {
    /// No values yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Set one attribute (replacing an earlier value).
    #[must_use]
    pub fn set(mut self, attribute: KycAttribute, value: impl Into<String>) -> Self {
        self.values.insert(attribute, value.into());
        self
    }

    kyc_setters! {
        given_name => GivenName,
        family_name => FamilyName,
        name => Name,
        houseno_or_housename => HousenoOrHousename,
        postal_code => PostalCode,
        town => Town,
        country => Country,
        address => Address,
        birthdate => Birthdate,
    }

    /// The attributes set so far.
    pub fn attributes(&self) -> impl Iterator<Item = KycAttribute> + '_ {
        self.values.keys().copied()
    }

    /// Check the profile's rules: no empty value, `name` or `given_name` + `family_name`,
    /// `address` or `houseno_or_housename` + `postal_code` (`town` optional).
    ///
    /// # Errors
    /// The first rule broken, as a [`KycRequestError`].
    pub fn validate(&self) -> Result<(), KycRequestError> {
        if let Some((attribute, _)) = self.values.iter().find(|(_, v)| v.trim().is_empty()) {
            return Err(KycRequestError::EmptyValue {
                attribute: *attribute,
            });
        }
        let has = |attribute| self.values.contains_key(&attribute);
        if !has(KycAttribute::Name) {
            match (has(KycAttribute::GivenName), has(KycAttribute::FamilyName)) {
                (true, true) => {}
                (true, false) => {
                    return Err(KycRequestError::NameRequired {
                        missing: KycAttribute::FamilyName,
                    });
                }
                (false, true) => {
                    return Err(KycRequestError::NameRequired {
                        missing: KycAttribute::GivenName,
                    });
                }
                (false, false) => {
                    return Err(KycRequestError::NameRequired {
                        missing: KycAttribute::Name,
                    });
                }
            }
        }
        if !has(KycAttribute::Address) {
            match (
                has(KycAttribute::HousenoOrHousename),
                has(KycAttribute::PostalCode),
            ) {
                (true, true) => {}
                (true, false) => {
                    return Err(KycRequestError::AddressRequired {
                        missing: KycAttribute::PostalCode,
                    });
                }
                (false, true) => {
                    return Err(KycRequestError::AddressRequired {
                        missing: KycAttribute::HousenoOrHousename,
                    });
                }
                (false, false) => {
                    return Err(KycRequestError::AddressRequired {
                        missing: KycAttribute::Address,
                    });
                }
            }
        }
        Ok(())
    }

    /// The `claims` request for `mode`, with [`DefaultNormalisation`] when hashed. Pass it to
    /// `AuthorizeOptions::claims` together with the scope [`KycMode::scope`].
    ///
    /// # Errors
    /// A broken validation rule ([`KycMatch::validate`]).
    pub fn build(&self, mode: KycMode) -> Result<Value, KycRequestError> {
        self.build_with(mode, &DefaultNormalisation)
    }

    /// The `claims` request for `mode`, normalising hashed values with `normalisation`.
    /// Every claim is keyed by its attribute name (`<attr>` or `<attr>_hashed`), never by its
    /// value (the GSMA Java SDK's builder got that wrong).
    ///
    /// # Errors
    /// A broken validation rule ([`KycMatch::validate`]).
    pub fn build_with(
        &self,
        mode: KycMode,
        normalisation: &dyn Normalisation,
    ) -> Result<Value, KycRequestError> {
        self.validate()?;
        let mut premiuminfo = Map::new();
        for (attribute, value) in &self.values {
            let (key, value) = match mode {
                KycMode::Plain => (attribute.as_str().to_owned(), value.clone()),
                KycMode::Hashed => (
                    format!("{}_hashed", attribute.as_str()),
                    sha256_hex(&normalisation.normalise(value))?,
                ),
            };
            let mut claim = Map::new();
            claim.insert("value".to_owned(), Value::String(value));
            premiuminfo.insert(key, Value::Object(claim));
        }
        let mut claims = Map::new();
        claims.insert("premiuminfo".to_owned(), Value::Object(premiuminfo));
        Ok(Value::Object(claims))
    }
}

/// Lower-case hex SHA-256 of `value`'s UTF-8 bytes.
fn sha256_hex(value: &str) -> Result<String, KycRequestError> {
    use std::fmt::Write as _;
    let digest = crate::crypto::digest(value.as_bytes(), 256).ok_or(KycRequestError::Hash)?;
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

/// The operator's verdict on one attribute (`<attr>_match`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchCode {
    /// `Y`: the value matches the operator's record.
    Match,
    /// `N-NA`: the operator holds no data for this attribute.
    NoData,
    /// `N-AV`: the operator holds data and it does not match.
    NoMatch,
    /// `N-AD`: access denied (the subscriber or the operator withholds the answer).
    AccessDenied,
    /// `Y-AD`: listed by the schema beside `N-AD`, meaning undocumented; kept apart, and never
    /// counted as a match.
    MatchAccessDenied,
}

impl MatchCode {
    /// The wire code (`Y`, `N-NA`, `N-AV`, `N-AD`, `Y-AD`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Match => "Y",
            Self::NoData => "N-NA",
            Self::NoMatch => "N-AV",
            Self::AccessDenied => "N-AD",
            Self::MatchAccessDenied => "Y-AD",
        }
    }

    /// The code for a wire value; exact spelling only.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "Y" => Some(Self::Match),
            "N-NA" => Some(Self::NoData),
            "N-AV" => Some(Self::NoMatch),
            "N-AD" => Some(Self::AccessDenied),
            "Y-AD" => Some(Self::MatchAccessDenied),
            _ => None,
        }
    }

    /// Whether the operator confirmed the value (`Y` only).
    #[must_use]
    pub const fn is_match(self) -> bool {
        matches!(self, Self::Match)
    }
}

/// Why a premiuminfo answer could not be read as a KYC result: the operator broke the protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KycResultError {
    /// A `<attr>_match` claim with a code outside `Y`, `N-NA`, `N-AV`, `N-AD`, `Y-AD`.
    #[error("unknown KYC match code in `{claim}`")]
    UnknownCode {
        /// The claim name.
        claim: String,
        /// The code received (at most 64 characters of it).
        code: String,
    },
    /// A `<attr>_match` claim (or an extra) that is not of its JSON type.
    #[error("`{claim}` is not a {expected}")]
    WrongType {
        /// The claim name.
        claim: String,
        /// The expected type.
        expected: &'static str,
    },
    /// The plain and hashed spellings of one attribute's answer disagree.
    #[error("conflicting KYC answers for `{attribute}`: `{first}` and `{second}`")]
    Conflicting {
        /// The attribute.
        attribute: KycAttribute,
        /// One claim name.
        first: String,
        /// The other claim name.
        second: String,
    },
    /// `is_lost_stolen` with a value that is neither a boolean nor `Y`/`N`/`true`/`false`.
    #[error("`is_lost_stolen` has an unknown value")]
    UnknownLostStolen,
}

/// The KYC answers in a premiuminfo (or userinfo) claims map. Absent attributes are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KycResult {
    codes: BTreeMap<KycAttribute, MatchCode>,
    is_lost_stolen: Option<bool>,
    billing_segment: Option<String>,
    account_state: Option<String>,
}

/// The spellings of an attribute's answer: plain, `_hashed` (SDKs), `_hash` (GSMA API examples).
const MATCH_SUFFIXES: [&str; 3] = ["_match", "_hashed_match", "_hash_match"];

impl KycResult {
    /// Read the `<attr>_match` answers (also `<attr>_hashed_match` and `<attr>_hash_match`) and
    /// the extras. Other claims are ignored.
    ///
    /// # Errors
    /// An unknown match code, a claim of the wrong JSON type, or the plain and hashed answers of
    /// one attribute disagreeing, as a [`KycResultError`].
    pub fn read(claims: &Map<String, Value>) -> Result<Self, KycResultError> {
        let mut result = Self::default();
        for attribute in KycAttribute::ALL {
            let mut found: Option<(String, MatchCode)> = None;
            for suffix in MATCH_SUFFIXES {
                let claim = format!("{}{suffix}", attribute.as_str());
                let Some(value) = claims.get(&claim) else {
                    continue;
                };
                let code = read_code(&claim, value)?;
                match &found {
                    Some((first, earlier)) if *earlier != code => {
                        return Err(KycResultError::Conflicting {
                            attribute,
                            first: first.clone(),
                            second: claim,
                        });
                    }
                    Some(_) => {}
                    None => found = Some((claim, code)),
                }
            }
            if let Some((_, code)) = found {
                result.codes.insert(attribute, code);
            }
        }
        result.is_lost_stolen = match claims.get("is_lost_stolen") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => match s.as_str() {
                "Y" | "true" => Some(true),
                "N" | "false" => Some(false),
                _ => return Err(KycResultError::UnknownLostStolen),
            },
            Some(_) => return Err(KycResultError::UnknownLostStolen),
        };
        result.billing_segment = read_text(claims, "billing_segment")?;
        result.account_state = read_text(claims, "account_state")?;
        Ok(result)
    }

    /// The answer for `attribute`, `None` if the operator sent none.
    #[must_use]
    pub fn get(&self, attribute: KycAttribute) -> Option<MatchCode> {
        self.codes.get(&attribute).copied()
    }

    /// Every answer received, by attribute.
    pub fn codes(&self) -> impl Iterator<Item = (KycAttribute, MatchCode)> + '_ {
        self.codes.iter().map(|(a, c)| (*a, *c))
    }

    /// `is_lost_stolen`: whether the SIM is reported lost or stolen, if the operator said.
    #[must_use]
    pub fn is_lost_stolen(&self) -> Option<bool> {
        self.is_lost_stolen
    }

    /// `billing_segment` (e.g. prepaid or postpaid), as sent.
    #[must_use]
    pub fn billing_segment(&self) -> Option<&str> {
        self.billing_segment.as_deref()
    }

    /// `account_state`, as sent.
    #[must_use]
    pub fn account_state(&self) -> Option<&str> {
        self.account_state.as_deref()
    }
}

fn read_code(claim: &str, value: &Value) -> Result<MatchCode, KycResultError> {
    let Value::String(code) = value else {
        return Err(KycResultError::WrongType {
            claim: claim.to_owned(),
            expected: "string",
        });
    };
    MatchCode::from_code(code).ok_or_else(|| KycResultError::UnknownCode {
        claim: claim.to_owned(),
        code: code.chars().take(64).collect(),
    })
}

fn read_text(claims: &Map<String, Value>, claim: &str) -> Result<Option<String>, KycResultError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(KycResultError::WrongType {
            claim: claim.to_owned(),
            expected: "string",
        }),
    }
}
