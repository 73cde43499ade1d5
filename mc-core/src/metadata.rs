//! Provider metadata (`.well-known/openid-configuration`), with the Mobile Connect members.

use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::wire::{self, lenient};

/// The provider metadata an operator publishes. Unknown members are ignored; members of the
/// wrong type are read leniently where operators are known to drift (booleans as `"1"`).
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
    #[serde(default, deserialize_with = "version_map")]
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

fn version_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    let mut out = Vec::new();
    let mut push_object = |map: serde_json::Map<String, serde_json::Value>| {
        for (scope, version) in map {
            if let serde_json::Value::String(version) = version {
                out.push((scope, version));
            }
        }
    };
    match value {
        Some(serde_json::Value::Array(items)) => {
            for item in items {
                if let serde_json::Value::Object(map) = item {
                    push_object(map);
                }
            }
        }
        Some(serde_json::Value::Object(map)) => push_object(map),
        _ => {}
    }
    Ok(out)
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

/// GET the provider metadata.
#[derive(Debug)]
#[must_use]
pub struct MetadataExchange {
    pub(crate) prepared: Prepared,
    /// The issuer the document must name exactly (OIDC Discovery 4.3), when known.
    pub(crate) expected_issuer: Option<String>,
    /// The operator it is fetched for, when configured (for tracing spans).
    pub(crate) operator: Option<String>,
}

impl MetadataExchange {
    /// GET `{issuer}/.well-known/openid-configuration` for an issuer not configured yet (a plain
    /// OpenID Provider); build the context with [`crate::OperatorConfig::with_metadata`] (or
    /// use [`crate::OperatorConfig::metadata_exchange`] once the issuer is configured). The
    /// answer must name exactly this issuer ([`crate::ProtocolError::MetadataIssuerMismatch`]
    /// otherwise).
    ///
    /// # Errors
    /// [`crate::MisuseError::InvalidUrl`] for an unusable issuer.
    pub fn for_issuer(issuer: &str) -> Result<Self, Error> {
        let url = wire::parse_url(
            &format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
            "openid-configuration",
        )?;
        Ok(Self {
            prepared: wire::get(&url, "openid-configuration", "application/json")?,
            expected_issuer: Some(issuer.to_owned()),
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
        match self.expected_issuer {
            Some(expected) if expected != metadata.issuer => {
                Err(crate::ProtocolError::MetadataIssuerMismatch {
                    expected,
                    found: metadata.issuer,
                }
                .into())
            }
            _ => Ok(metadata),
        }
    }
}
