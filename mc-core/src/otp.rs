//! The SMS one-time-password grant, an identity gateway extension (the GlobalSign/Ubisecure
//! IDGW `sms-mt-otp` grant, `../shared/protocol/MOBILE-CONNECT.md` §9): possession of a phone
//! number verified with no browser. [`Discovered::otp_start`] asks the operator to text a code
//! to the number and yields an [`OtpChallenge`] (its reference, small and serializable, kept
//! until the user types the code); [`OtpChallenge::verify`] sends the code and yields
//! [`Tokens`] whose id_token is verified like a login's and names the number as `sub`.
//!
//! The grant type, the parameter names and the challenge member are per-operator settings
//! ([`OtpSettings`], the gateway's names by default). Refusals are typed: a wrong code is
//! [`Error::Refused`] (`invalid_grant`, the challenge stays usable for another try); a code
//! the operator says expired is [`OtpError::Expired`], carrying the fresh challenge the
//! operator may have sent in the same error body; a challenge past its own expiry is refused
//! before anything is sent ([`OtpError::ChallengeExpired`]).

use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::error::{Error, IdTokenError, MisuseError, OperatorError, ProtocolError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::id_token::IdToken;
use crate::jwks::Jwks;
use crate::jws::Signed;
use crate::refetch::Verified;
use crate::registry::Discovered;
use crate::secret::{Msisdn, OtpCode, OtpReference};
use crate::token::{self, LoginExpectations, TokenAnswer, TokenResponse, Tokens, verify_answer};
use crate::wire;

/// The grant type of the gateway's SMS one-time-password grant.
pub const SMS_OTP_GRANT_TYPE: &str = "http://globalsign.com/iam/sso/oauth2/grant-type/sms-mt-otp";

/// The placeholder the message template must hold: the operator puts the code there.
pub const CODE_PLACEHOLDER: &str = "{0}";

/// Longest challenge reference read from an answer, in bytes.
const MAX_REFERENCE_LEN: usize = 1024;

/// Longest one-time code accepted from the user, in characters.
const MAX_CODE_LEN: usize = 64;

/// Longest message template, in characters (a few concatenated SMS).
pub const MAX_MESSAGE_LEN: usize = 480;

/// How one operator names the SMS one-time-password grant and its parameters. The defaults are
/// the gateway's (`../shared/protocol/MOBILE-CONNECT.md` §9); set the ones an operator renamed
/// with struct update syntax.
///
/// ```
/// use mc_core::OtpSettings;
/// let settings = OtpSettings {
///     challenge_lifetime_secs: 120,
///     ..OtpSettings::default()
/// };
/// assert_eq!(settings.grant_type, mc_core::otp::SMS_OTP_GRANT_TYPE);
/// assert_eq!(settings.code_param, "x_globalsign_iam_otp_code");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpSettings {
    /// `grant_type` of both requests.
    pub grant_type: String,
    /// `scope` of both requests.
    pub scope: String,
    /// The parameter naming the phone number (`username`).
    pub username_param: String,
    /// The parameter carrying the message template (`x_globalsign_iam_otp_body`).
    pub message_param: String,
    /// The parameter carrying the challenge reference (`x_globalsign_iam_reference_id`).
    pub reference_param: String,
    /// The parameter carrying the code the user typed (`x_globalsign_iam_otp_code`).
    pub code_param: String,
    /// The answer member holding the challenge (`x_globalsign_iam_challenge`), an object with
    /// a `reference`.
    pub challenge_member: String,
    /// How long a challenge is kept when the answer says nothing (an `expires_in` in the
    /// challenge wins), in seconds.
    pub challenge_lifetime_secs: u64,
}

impl Default for OtpSettings {
    fn default() -> Self {
        Self {
            grant_type: SMS_OTP_GRANT_TYPE.to_owned(),
            scope: "openid".to_owned(),
            username_param: "username".to_owned(),
            message_param: "x_globalsign_iam_otp_body".to_owned(),
            reference_param: "x_globalsign_iam_reference_id".to_owned(),
            code_param: "x_globalsign_iam_otp_code".to_owned(),
            challenge_member: "x_globalsign_iam_challenge".to_owned(),
            challenge_lifetime_secs: 300,
        }
    }
}

impl OtpSettings {
    /// Every name set and a lifetime above zero.
    pub(crate) fn check(&self) -> Result<(), MisuseError> {
        let names = [
            (&self.grant_type, "otp grant_type"),
            (&self.scope, "otp scope"),
            (&self.username_param, "otp username_param"),
            (&self.message_param, "otp message_param"),
            (&self.reference_param, "otp reference_param"),
            (&self.code_param, "otp code_param"),
            (&self.challenge_member, "otp challenge_member"),
        ];
        if let Some((_, name)) = names.iter().find(|(value, _)| value.trim().is_empty()) {
            return Err(MisuseError::InvalidParameter {
                name,
                reason: "empty",
            });
        }
        if self.challenge_lifetime_secs == 0 {
            return Err(MisuseError::InvalidParameter {
                name: "otp challenge_lifetime_secs",
                reason: "zero",
            });
        }
        Ok(())
    }
}

/// A refusal of the one-time-password grant that the host handles on its own path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtpError {
    /// The operator says the code expired (`invalid_grant`, "OTP Expired"). When the same
    /// answer carries a fresh challenge (the operator texted a new code), it is here: verify
    /// the next code against it.
    #[error("the one-time code expired{}", if .challenge.is_some() { " (a new code was sent)" } else { "" })]
    Expired {
        /// The operator's answer.
        refusal: OperatorError,
        /// The fresh challenge, when the operator sent one.
        challenge: Option<Box<OtpChallenge>>,
    },
    /// The challenge is past its expiry: nothing was sent; start again.
    #[error("the challenge expired at {expires_at}; now {now}")]
    ChallengeExpired {
        /// When it expired, in epoch seconds.
        expires_at: u64,
        /// The host's time, in epoch seconds.
        now: u64,
    },
}

impl OtpError {
    /// Who is at fault: the user was too slow or the operator said no, an ordinary outcome.
    #[must_use]
    pub fn class(&self) -> crate::ErrorClass {
        crate::ErrorClass::Refused
    }

    /// The fresh challenge of an [`OtpError::Expired`], if the operator sent one.
    #[must_use]
    pub fn new_challenge(&self) -> Option<&OtpChallenge> {
        match self {
            Self::Expired { challenge, .. } => challenge.as_deref(),
            Self::ChallengeExpired { .. } => None,
        }
    }
}

impl Discovered {
    /// Ask the operator to text a one-time code to `msisdn`: a form POST to the token endpoint
    /// of the operator's [`OtpSettings::grant_type`], `scope`, the number (digits, an optional
    /// leading `+` dropped) and `message`, the SMS text with [`CODE_PLACEHOLDER`] (`{0}`)
    /// where the code goes, with the operator's client authentication. `now` dates a
    /// `private_key_jwt` assertion and the challenge's expiry.
    ///
    /// Asking again for the same number is how a code is resent: the operator texts a new
    /// code, and the new challenge replaces the old one.
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] for a number that is not 6 to 15 digits, or a message
    /// without `{0}` or over [`MAX_MESSAGE_LEN`] characters.
    pub fn otp_start(
        &self,
        msisdn: &Msisdn,
        message: &str,
        now: UnixTime,
    ) -> Result<OtpStartExchange, Error> {
        let number = otp_number(msisdn)?;
        if !message.contains(CODE_PLACEHOLDER) {
            return Err(MisuseError::InvalidParameter {
                name: "otp message",
                reason: "no {0} where the code goes",
            }
            .into());
        }
        if message.chars().count() > MAX_MESSAGE_LEN {
            return Err(MisuseError::TooLong {
                field: "otp message",
                limit: MAX_MESSAGE_LEN,
                length: message.chars().count(),
            }
            .into());
        }
        let settings = self.otp_settings();
        let prepared = token::authenticated_form(
            self,
            &self.endpoints().token,
            "token endpoint",
            [
                ("grant_type", settings.grant_type.as_str()),
                ("scope", settings.scope.as_str()),
                (settings.username_param.as_str(), number.as_str()),
                (settings.message_param.as_str(), message),
            ],
            &number,
            now,
        )?;
        Ok(OtpStartExchange {
            operator: self.clone(),
            msisdn: Msisdn::new(number),
            prepared,
        })
    }
}

/// The digits of a phone number as the grant sends them (E.164: 6 to 15 digits, an optional
/// leading `+` dropped).
fn otp_number(msisdn: &Msisdn) -> Result<String, MisuseError> {
    let digits = msisdn.expose_secret().trim();
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits.to_owned())
    } else {
        Err(MisuseError::InvalidParameter {
            name: "username",
            reason: "not a phone number of 6 to 15 digits",
        })
    }
}

/// POST the number and the message; the answer is the challenge.
#[must_use]
pub struct OtpStartExchange {
    operator: Discovered,
    msisdn: Msisdn,
    prepared: Prepared,
}

crate::exchange::operator_step_debug!(OtpStartExchange, OtpVerifyExchange);

impl Exchange for OtpStartExchange {
    type Output = OtpChallenge;

    crate::exchange::operator_step!(Endpoint::Otp);

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        now: UnixTime,
    ) -> Result<Self::Output, Error> {
        let settings = self.operator.otp_settings();
        let body = wire::json_body(Endpoint::Otp, &response)?;
        let challenge = ChallengeBody::parse(&settings.challenge_member, body)?;
        Ok(challenge.into_challenge(&self.operator, self.msisdn, now))
    }
}

/// A challenge as read from an answer, before it is tied to a login.
#[derive(Debug, PartialEq, Eq)]
pub struct ChallengeBody {
    /// The opaque reference.
    pub reference: String,
    /// `expires_in` of the challenge, when the operator said.
    pub expires_in: Option<u64>,
}

impl ChallengeBody {
    /// Read the challenge in member `member` of a JSON answer: an object whose `reference` is
    /// a non-empty string of at most 1024 printable ASCII bytes, and whose `expires_in`, when
    /// present, is a whole number of seconds.
    ///
    /// Not part of the API (hidden from the docs): public for the fuzz target and properties.
    ///
    /// # Errors
    /// [`ProtocolError`] for a body that is not a JSON object, no challenge, or an unusable
    /// reference or `expires_in`.
    #[doc(hidden)]
    pub fn parse(member: &str, body: &[u8]) -> Result<Self, ProtocolError> {
        let object: serde_json::Map<String, serde_json::Value> = wire::json(Endpoint::Otp, body)?;
        Self::from_answer(member, &object).ok_or(ProtocolError::MissingField {
            endpoint: Endpoint::Otp,
            field: "challenge",
        })?
    }

    /// The challenge of an answer already read: `None` when it has none.
    fn from_answer(
        member: &str,
        answer: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Result<Self, ProtocolError>> {
        let challenge = answer.get(member)?;
        let invalid = |field, reason| ProtocolError::InvalidField {
            endpoint: Endpoint::Otp,
            field,
            reason,
        };
        Some((|| {
            let challenge = challenge
                .as_object()
                .ok_or_else(|| invalid("challenge", "not an object"))?;
            let reference = challenge
                .get("reference")
                .ok_or(ProtocolError::MissingField {
                    endpoint: Endpoint::Otp,
                    field: "reference",
                })?
                .as_str()
                .ok_or_else(|| invalid("reference", "not a string"))?;
            if reference.is_empty()
                || reference.len() > MAX_REFERENCE_LEN
                || !reference.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(invalid(
                    "reference",
                    "not 1 to 1024 printable ASCII characters",
                ));
            }
            let expires_in = match challenge.get("expires_in") {
                None | Some(serde_json::Value::Null) => None,
                Some(value) => Some(
                    value
                        .as_u64()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| invalid("expires_in", "not a positive whole number"))?,
                ),
            };
            Ok(Self {
                reference: reference.to_owned(),
                expires_in,
            })
        })())
    }

    fn into_challenge(self, operator: &Discovered, msisdn: Msisdn, now: UnixTime) -> OtpChallenge {
        let lifetime = self
            .expires_in
            .unwrap_or(operator.otp_settings().challenge_lifetime_secs);
        OtpChallenge {
            op: operator.id().to_owned(),
            msisdn,
            reference: OtpReference::new(self.reference),
            expires_at: now.plus(lifetime),
        }
    }
}

/// A code texted to a number, waiting for the user to type it: the operator, the number, the
/// operator's opaque reference and its expiry. Small and serializable (keep it server-side
/// with the login, like [`crate::Authorizing`]); its `Debug` prints neither the number nor
/// the reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct OtpChallenge {
    op: String,
    msisdn: Msisdn,
    reference: OtpReference,
    expires_at: UnixTime,
}

impl OtpChallenge {
    /// The operator that sent the code.
    #[must_use]
    pub fn operator_id(&self) -> &str {
        &self.op
    }

    /// The number the code went to.
    pub fn msisdn(&self) -> &Msisdn {
        &self.msisdn
    }

    /// When the challenge expires.
    #[must_use]
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// Send the code the user typed: the same grant with the reference and the code (and the
    /// number), with the operator's client authentication. The challenge stays usable: after a
    /// wrong code ([`Error::Refused`], `invalid_grant`) the user may try again.
    ///
    /// The answer's id_token is verified like a login's (signature, `iss`, `aud`/`azp`,
    /// validity window, `at_hash` when present) and must name this number as `sub` (digits,
    /// an optional `+` or `tel:` prefix allowed) and carry an `amr` (the method used).
    ///
    /// # Errors
    /// [`OtpError::ChallengeExpired`] at or after [`OtpChallenge::expires_at`] (nothing is
    /// sent); [`MisuseError::InvalidParameter`] for an empty code or one over 64 characters;
    /// [`MisuseError::OperatorMismatch`] when `operator` is not the one that sent the code.
    pub fn verify(
        &self,
        operator: &Discovered,
        code: &OtpCode,
        now: UnixTime,
    ) -> Result<OtpVerifyExchange, Error> {
        operator.check_flow_operator(&self.op)?;
        if now >= self.expires_at {
            return Err(OtpError::ChallengeExpired {
                expires_at: self.expires_at.as_secs(),
                now: now.as_secs(),
            }
            .into());
        }
        let typed = code.expose_secret().trim();
        if typed.is_empty() || typed.chars().count() > MAX_CODE_LEN {
            return Err(MisuseError::InvalidParameter {
                name: "otp code",
                reason: "empty or over 64 characters",
            }
            .into());
        }
        let settings = operator.otp_settings();
        let prepared = token::authenticated_form(
            operator,
            &operator.endpoints().token,
            "token endpoint",
            [
                ("grant_type", settings.grant_type.as_str()),
                ("scope", settings.scope.as_str()),
                (
                    settings.username_param.as_str(),
                    self.msisdn.expose_secret(),
                ),
                (
                    settings.reference_param.as_str(),
                    self.reference.expose_secret(),
                ),
                (settings.code_param.as_str(), typed),
            ],
            // A `private_key_jwt` assertion per code tried: a wrong code then the right one in
            // the same second must not repeat a `jti`.
            &format!("{}\n{typed}", self.reference.expose_secret()),
            now,
        )?;
        Ok(OtpVerifyExchange {
            operator: operator.clone(),
            challenge: self.clone(),
            prepared,
        })
    }
}

/// POST the code; the answer's id_token is verified and must name the number.
#[must_use]
pub struct OtpVerifyExchange {
    operator: Discovered,
    challenge: OtpChallenge,
    prepared: Prepared,
}

impl TokenAnswer for OtpChallenge {
    fn verify(
        &self,
        operator: &Discovered,
        response: &TokenResponse,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<Signed<IdToken>, Error> {
        verify(operator, self, response, keys, now)
    }

    fn tokens(
        self,
        response: TokenResponse,
        id_token: IdToken,
        now: UnixTime,
    ) -> Result<Tokens, Error> {
        token::tokens(self.op, response, id_token, now)
    }
}

/// The id_token verified like a login's (no nonce: the grant sends none), then held to the
/// number and to the method.
fn verify(
    operator: &Discovered,
    challenge: &OtpChallenge,
    response: &TokenResponse,
    keys: &Jwks,
    now: UnixTime,
) -> Result<Signed<IdToken>, Error> {
    let login = LoginExpectations {
        nonce: None,
        max_age: None,
        min_acr: None,
        di_profile: false,
    };
    let signed = token::verify_response(operator, &login, response, keys, now)?;
    if let Signed::Verified(id_token) = &signed {
        let claims = id_token.claims();
        if !claims
            .sub
            .as_deref()
            .is_some_and(|sub| names_number(sub, challenge.msisdn.expose_secret()))
        {
            return Err(IdTokenError::SubjectNotTheNumber.into());
        }
        if claims.amr.is_empty() {
            return Err(IdTokenError::AmrMissing.into());
        }
    }
    Ok(signed)
}

/// Whether `sub` is the number `digits` (as sent), allowing a `+` or `tel:+` prefix.
fn names_number(sub: &str, digits: &str) -> bool {
    let sub = sub.strip_prefix("tel:").unwrap_or(sub);
    sub.strip_prefix('+').unwrap_or(sub) == digits
}

/// An `invalid_grant` refusal that says the code expired, or carries a fresh challenge, is
/// [`OtpError::Expired`]; any other error stays as it was.
fn expired_refusal(
    operator: &Discovered,
    msisdn: &Msisdn,
    error: Error,
    response: &http::Response<Vec<u8>>,
    now: UnixTime,
) -> Error {
    let Error::Refused(refusal) = error else {
        return error;
    };
    if !refusal.is("invalid_grant") {
        return refusal.into();
    }
    let member = &operator.otp_settings().challenge_member;
    let challenge =
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(response.body())
            .ok()
            .and_then(|answer| ChallengeBody::from_answer(member, &answer))
            .and_then(Result::ok)
            .map(|body| Box::new(body.into_challenge(operator, msisdn.clone(), now)));
    let says_expired = refusal
        .description
        .as_deref()
        .is_some_and(|d| d.to_ascii_lowercase().contains("expired"));
    if challenge.is_some() || says_expired {
        OtpError::Expired { refusal, challenge }.into()
    } else {
        refusal.into()
    }
}

impl Exchange for OtpVerifyExchange {
    type Output = Verified<Tokens>;

    crate::exchange::operator_step!(Endpoint::Otp);

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        now: UnixTime,
    ) -> Result<Self::Output, Error> {
        let body = wire::json_body(Endpoint::Otp, &response).map_err(|e| {
            expired_refusal(&self.operator, &self.challenge.msisdn, e, &response, now)
        })?;
        let parsed = TokenResponse::parse_from(Endpoint::Otp, body)?;
        verify_answer(&self.operator, self.challenge, parsed, now)
    }
}
