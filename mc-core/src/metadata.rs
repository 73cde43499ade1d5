//! Provider metadata (`.well-known/openid-configuration`), with the Mobile Connect members.

use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::wire::{self, lenient};

/// The provider metadata an operator publishes. Unknown members are ignored; the members read
/// are read leniently where operators are known to drift (booleans as `"1"`, a list as one
/// string) and refused when present but unreadable (`wire::lenient`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer (required).
    pub issuer: String,
    /// Authorization endpoint.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Token endpoint.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// UserInfo endpoint.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// MC premium info endpoint.
    #[serde(default)]
    pub premiuminfo_endpoint: Option<String>,
    /// JWKS URL.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Revocation endpoint.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// MC server-initiated authorization endpoint.
    #[serde(default)]
    pub si_authorization_endpoint: Option<String>,
    /// OpenID CIBA backchannel authentication endpoint.
    #[serde(default)]
    pub backchannel_authentication_endpoint: Option<String>,
    /// OpenID CIBA token delivery modes (`poll`, `ping`, `push`).
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub backchannel_token_delivery_modes_supported: Vec<String>,
    /// Scopes supported.
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub scopes_supported: Vec<String>,
    /// `acr` values supported (`"2"`, `"3"`, ...).
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub acr_values_supported: Vec<String>,
    /// id_token signing algorithms supported.
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Token endpoint client authentication methods.
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// PKCE methods.
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub code_challenge_methods_supported: Vec<String>,
    /// Whether the `claims` parameter is supported.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub claims_parameter_supported: Option<bool>,
    /// RFC 9207: the operator puts `iss` into authorization responses.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// MC: list of one-entry objects mapping a scope string to a version.
    #[serde(default, deserialize_with = "lenient::version_map")]
    pub mobile_connect_version_supported: Vec<(String, String)>,
    /// MC: flat list of versions.
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub mc_version: Vec<String>,
    /// MC: login hint methods (`MSISDN`, `ENCR_MSISDN` / `ENCRYPTED_MSISDN`, `PCR`).
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub login_hint_methods_supported: Vec<String>,
    /// MC: `amr` values.
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub mc_amr_values_supported: Vec<String>,
    /// MC: identity scopes.
    #[serde(default, deserialize_with = "lenient::string_or_list")]
    pub mc_di_scopes_supported: Vec<String>,
    /// MC: whether the `claims` parameter is supported.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub mc_claims_parameter_supported: Option<bool>,
}

impl ProviderMetadata {
    /// Parse a metadata document.
    ///
    /// # Errors
    /// [`crate::ProtocolError::MalformedJson`] (including a missing `issuer`) or
    /// [`crate::ProtocolError::BodyTooLarge`].
    pub fn parse(body: &[u8]) -> Result<Self, crate::ProtocolError> {
        wire::json(Endpoint::Metadata, body)
    }

    /// The version the operator maps to this exact scope string, or to a scope string with the
    /// same set of scopes.
    #[must_use]
    pub fn version_for_scope(&self, scope: &[String]) -> Option<&str> {
        let mut wanted: Vec<&str> = scope.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        self.mobile_connect_version_supported
            .iter()
            .find(|(s, _)| {
                let mut have: Vec<&str> = s.split_whitespace().collect();
                have.sort_unstable();
                have.dedup();
                have == wanted
            })
            .map(|(_, v)| v.as_str())
    }

    /// Whether the operator supports a login hint method (`ENCR_MSISDN` also matches the older
    /// spelling `ENCRYPTED_MSISDN`). An operator that lists none is assumed to support all.
    #[must_use]
    pub fn supports_login_hint(&self, method: &str) -> bool {
        self.login_hint_methods_supported.is_empty()
            || self
                .login_hint_methods_supported
                .iter()
                .any(|m| m == method || (method == "ENCR_MSISDN" && m == "ENCRYPTED_MSISDN"))
    }
}

/// GET the provider metadata, from `{issuer}/.well-known/openid-configuration` and nowhere
/// else (OIDC Discovery 4.1 and 4.3): the document must name exactly the issuer it was fetched
/// for, so that metadata served from another origin can never speak for an issuer (and name
/// keys of its own).
#[derive(Debug)]
#[must_use]
pub struct MetadataExchange {
    pub(crate) prepared: Prepared,
    /// The issuer the document must name exactly (OIDC Discovery 4.3).
    pub(crate) expected_issuer: String,
    /// The operator it is fetched for, when configured (for tracing spans).
    pub(crate) operator: Option<String>,
}

/// Where an issuer's metadata is: the issuer with any terminating `/` removed, then
/// `/.well-known/openid-configuration` (OIDC Discovery 4.1).
#[must_use]
pub fn metadata_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

impl MetadataExchange {
    /// GET `{issuer}/.well-known/openid-configuration` for an issuer not configured yet (a plain
    /// OpenID Provider); build the context with [`crate::OperatorConfig::with_metadata`] (or
    /// use [`crate::OperatorConfig::metadata_exchange`] once the issuer is configured). The
    /// answer must name exactly this issuer ([`crate::ProtocolError::MetadataIssuerMismatch`]
    /// otherwise). The issuer must be `https`, or plain `http` on a loopback address.
    ///
    /// # Errors
    /// [`crate::MisuseError::InvalidUrl`] for an unusable issuer,
    /// [`crate::MisuseError::PlainHttp`] for plain `http` to another host (a registry entry
    /// that opts in uses [`crate::OperatorConfig::metadata_exchange`]).
    pub fn for_issuer(issuer: &str) -> Result<Self, Error> {
        Self::for_issuer_with(issuer, false)
    }

    pub(crate) fn for_issuer_with(issuer: &str, allow_plain_http: bool) -> Result<Self, Error> {
        let what = "openid-configuration";
        let url = wire::parse_url(&metadata_url(issuer), what)?;
        wire::check_plain_http(&url, what, allow_plain_http)?;
        Ok(Self {
            prepared: wire::get(&url, what, "application/json")?,
            expected_issuer: issuer.to_owned(),
            operator: None,
        })
    }
}

impl Exchange for MetadataExchange {
    type Output = ProviderMetadata;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Metadata
    }

    fn operator_id(&self) -> Option<&str> {
        self.operator.as_deref()
    }

    fn request(&self) -> http::Request<Vec<u8>> {
        self.prepared.to_request()
    }

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        _now: UnixTime,
    ) -> Result<ProviderMetadata, Error> {
        let metadata: ProviderMetadata = wire::expect_json(Endpoint::Metadata, &response)?;
        if metadata.issuer == self.expected_issuer {
            Ok(metadata)
        } else {
            Err(crate::ProtocolError::MetadataIssuerMismatch {
                expected: self.expected_issuer,
                found: metadata.issuer,
            }
            .into())
        }
    }
}
