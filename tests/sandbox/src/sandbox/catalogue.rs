//! The catalogue: the sandbox operators, their test subscribers (MSISDNs and what each
//! handset does), and the SP's credentials at the discovery service and at each operator.

use serde_json::{Value, json};

use crate::keys::{KeyFamily, sha256};

/// The SP's discovery credentials at the sandbox's discovery service.
pub const DISCOVERY_CLIENT_ID: &str = "sp-discovery-client";
/// The SP's discovery secret.
pub const DISCOVERY_CLIENT_SECRET: &str = "sp-discovery-secret";
/// The SP's registered redirect URI at every sandbox operator.
pub const SP_REDIRECT_URI: &str = "https://sp.example/callback";
/// The SP's registered discovery redirect URL.
pub const SP_DISCOVERY_REDIRECT: &str = "https://sp.example/discovered";
/// The SP's registered notification URI at every sandbox operator (server-initiated logins:
/// Mobile Connect SI notifications and OpenID CIBA pings).
pub const SP_NOTIFICATION_URI: &str = "https://sp.example/notify";

/// What the simulated handset does for a test MSISDN. The level of assurance asked for is the
/// lowest of the request's `acr_values` (2 when there are none): LoA 2 is an OK button, LoA 3
/// a PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handset {
    /// The user approves: OK at LoA 2 (`acr` 2, `amr` `SIM_OK`), the right PIN when LoA 3 is
    /// asked (`acr` 3, `amr` `SIM_PIN`).
    Approve,
    /// The user enters the PIN whatever is asked: `acr` 3, `amr` `SIM_PIN`.
    ApprovePin,
    /// The user declines: `access_denied`.
    Decline,
    /// The handset never answers: after the operator's wait, `access_denied` with a timeout
    /// description (over HTTP, the authorize answer is delayed by the handset wait).
    NeverAnswers,
    /// OK at LoA 2; when LoA 3 is asked the user enters a wrong PIN: `access_denied` with the
    /// description [`WRONG_PIN`].
    WrongPin,
    /// The user has no PIN: OK, and the operator answers LoA 2 (`acr` 2, `amr` `SIM_OK`) even
    /// when LoA 3 was asked, as gateways that step down do. The SP must refuse the id_token.
    NoPin,
}

/// The `error_description` of a wrong PIN ([`Handset::WrongPin`]).
pub const WRONG_PIN: &str = "The user entered a wrong PIN";

impl Handset {
    /// What the handset does, in a line (for `mc-sandbox`'s listing and the README).
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Approve => {
                "approves: OK at LoA 2 (acr 2, SIM_OK); the right PIN at LoA 3 (acr 3, SIM_PIN)"
            }
            Self::ApprovePin => "approves with the PIN whatever is asked (acr 3, SIM_PIN)",
            Self::Decline => "declines: access_denied",
            Self::NeverAnswers => "never answers: access_denied after the operator's wait",
            Self::WrongPin => "OK at LoA 2; a wrong PIN at LoA 3: access_denied",
            Self::NoPin => "OK, no PIN: acr 2 even when LoA 3 is asked (the SP must refuse it)",
        }
    }
}

/// One sandbox operator's public facts.
#[derive(Clone, Debug)]
pub struct OperatorInfo {
    /// Short name, used in paths (`/op/<name>/...`).
    pub name: &'static str,
    /// Display name, and the operator id discovery answers carry (`serving_operator`): stable,
    /// one per operator, so an SP can key its operator contexts by it.
    pub display: &'static str,
    /// MCC.
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
            ("447700900004", Handset::WrongPin),
            ("447700900002", Handset::NoPin),
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
            ("4915100000004", Handset::WrongPin),
            ("4915100000002", Handset::NoPin),
        ],
        ip_prefix: "198.51.100.",
        family: KeyFamily::Es256,
        signed_userinfo: true,
    },
];

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

pub(super) fn decrypt_msisdn(subscriber_id: &str) -> Option<String> {
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

impl OperatorInfo {
    /// `<mcc>_<mnc>`, as the operator selection page returns it (`234_15`).
    #[must_use]
    pub fn mcc_mnc(&self) -> String {
        format!("{}_{}", self.mcc, self.mnc)
    }

    /// The claims the operator knows about a subscriber, for the `claims` request parameter.
    pub(super) fn known_claim(&self, msisdn: &str, name: &str) -> Option<Value> {
        Some(match name {
            "phone_number" => json!(format!("+{msisdn}")),
            "phone_number_verified" => json!(true),
            "given_name" => json!("Test"),
            "family_name" => json!("Subscriber"),
            "postal_code" => json!("SW1A 1AA"),
            "country" => json!(self.country),
            "email" => json!(format!("subscriber-{msisdn}@{}.example", self.name)),
            "email_verified" => json!(true),
            _ => return None,
        })
    }

    /// The KYC facts the operator holds about a test subscriber (attribute name and value, as
    /// in a `premiuminfo` KYC match), if it holds any: the first (approving) subscriber of each
    /// operator. What is left out is data the operator does not hold (`N-NA`): Alpha holds no
    /// one-line `address`, Beta no `birthdate`.
    pub(super) fn kyc_facts(
        &self,
        msisdn: &str,
    ) -> Option<&'static [(&'static str, &'static str)]> {
        let facts: &'static [(&'static str, &'static str)] = match msisdn {
            "447700900001" => &[
                ("given_name", "Test"),
                ("family_name", "Subscriber"),
                ("name", "Test Subscriber"),
                ("houseno_or_housename", "10"),
                ("postal_code", "SW1A 1AA"),
                ("town", "London"),
                ("country", "GB"),
                ("birthdate", "1980-01-01"),
            ],
            "4915100000001" => &[
                ("given_name", "Test"),
                ("family_name", "Subscriber"),
                ("name", "Test Subscriber"),
                ("houseno_or_housename", "1"),
                ("postal_code", "10117"),
                ("town", "Berlin"),
                ("country", "DE"),
                ("address", "Unter den Linden 1, 10117 Berlin"),
            ],
            _ => return None,
        };
        self.subscriber(msisdn).map(|_| facts)
    }

    /// A test subscriber and what their handset does.
    fn subscriber(&self, msisdn: &str) -> Option<(&'static str, Handset)> {
        self.subscribers.iter().copied().find(|(m, _)| *m == msisdn)
    }

    /// The subscriber a Mobile Connect login hint names: `MSISDN:<digits>` (a `+` tolerated),
    /// `ENCR_MSISDN:<subscriber_id>` or `PCR:<sub>`.
    pub(super) fn subscriber_by_hint(&self, hint: &str) -> Option<(&'static str, Handset)> {
        if let Some(m) = hint.strip_prefix("MSISDN:") {
            self.subscriber(m.trim_start_matches('+'))
        } else if let Some(s) = hint.strip_prefix("ENCR_MSISDN:") {
            self.subscriber(&decrypt_msisdn(s)?)
        } else if let Some(pcr) = hint.strip_prefix("PCR:") {
            self.subscribers
                .iter()
                .copied()
                .find(|(m, _)| self.pcr(m) == pcr)
        } else {
            None
        }
    }

    /// The subscriber an OpenID CIBA login hint names: `tel:+<digits>` (the CAMARA form), the
    /// number alone with or without `+`, or a Mobile Connect hint.
    pub(super) fn subscriber_by_phone(&self, hint: &str) -> Option<(&'static str, Handset)> {
        let number = hint.strip_prefix("tel:").unwrap_or(hint);
        self.subscriber(number.trim_start_matches('+'))
            .or_else(|| self.subscriber_by_hint(hint))
    }

    /// The subscriber's PCR (the id_token `sub`).
    pub(super) fn pcr(&self, msisdn: &str) -> String {
        // A GUID-shaped pseudonym, stable per subscriber per SP, like the reference IDGW's.
        let digest = sha256(format!("{}:{}:{msisdn}", self.name, self.client_id).as_bytes());
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
}
