//! Secrets and the login service's configuration file (mc-io-tokio's `ServiceConfig` format,
//! read here with serde so that the tool needs no async stack): the members a login uses.

use std::collections::BTreeMap;
use std::path::Path;

use mc_core::ClientSecret;
use serde::Deserialize;

use crate::args::SecretArgs;
use crate::misconfigured;
use crate::outcome::Failure;

/// The secret from `--secret-env` or `--secret-file`; `None` when neither is given.
pub(crate) fn secret(args: &SecretArgs) -> Result<Option<ClientSecret>, Failure> {
    if let Some(var) = &args.secret_env {
        return std::env::var(var)
            .map(|s| Some(ClientSecret::new(s)))
            .map_err(|_| {
                misconfigured(
                    "SecretMissing",
                    format!("the environment variable {var} (--secret-env) is not set"),
                )
            });
    }
    if let Some(path) = &args.secret_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            misconfigured(
                "SecretMissing",
                format!("cannot read {} (--secret-file): {e}", path.display()),
            )
        })?;
        return Ok(Some(ClientSecret::new(text.trim())));
    }
    Ok(None)
}

/// The configuration file: the members a login reads; the others (store, discovery, ...) are
/// accepted and ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct ServiceFile {
    pub(crate) redirect_uri: String,
    #[serde(default)]
    pub(crate) allow_plain_http: bool,
    #[serde(default)]
    pub(crate) auth: AuthOptions,
    #[serde(default)]
    pub(crate) operators: BTreeMap<String, OperatorEntry>,
}

/// `[auth]`, or an operator's own (field by field over the service's).
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct AuthOptions {
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(default)]
    pub(crate) acr_values: Option<String>,
    #[serde(default)]
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) client_name: Option<String>,
    #[serde(default)]
    pub(crate) context: Option<String>,
    #[serde(default)]
    pub(crate) binding_message: Option<String>,
}

impl AuthOptions {
    pub(crate) fn overridden_by(&self, other: &Self) -> Self {
        let pick = |mine: &Option<String>, theirs: &Option<String>| theirs.clone().or(mine.clone());
        Self {
            scope: pick(&self.scope, &other.scope),
            acr_values: pick(&self.acr_values, &other.acr_values),
            version: pick(&self.version, &other.version),
            client_name: pick(&self.client_name, &other.client_name),
            context: pick(&self.context, &other.context),
            binding_message: pick(&self.binding_message, &other.binding_message),
        }
    }
}

/// `[operators.<id>]`.
#[derive(Debug, Deserialize)]
pub(crate) struct OperatorEntry {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_env: Option<String>,
    #[serde(default)]
    pub(crate) fetch_metadata: bool,
    #[serde(default)]
    pub(crate) authorization_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) token_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) premiuminfo_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) jwks_uri: Option<String>,
    /// `mobile_connect` or `openid_connect`.
    #[serde(default)]
    pub(crate) profile: Option<String>,
    #[serde(default)]
    pub(crate) auth: AuthOptions,
}

impl OperatorEntry {
    pub(crate) fn secret(&self, id: &str) -> Result<ClientSecret, Failure> {
        match (&self.client_secret, &self.client_secret_env) {
            (Some(secret), None) => Ok(ClientSecret::new(secret.clone())),
            (None, Some(var)) => std::env::var(var).map(ClientSecret::new).map_err(|_| {
                misconfigured(
                    "SecretMissing",
                    format!("operator {id}: the environment variable {var} is not set"),
                )
            }),
            _ => Err(misconfigured(
                "SecretMissing",
                format!("operator {id}: set one of client_secret, client_secret_env"),
            )),
        }
    }

    /// Whether the entry lists every endpoint a login needs (else the metadata is fetched).
    pub(crate) fn is_complete(&self) -> bool {
        self.authorization_endpoint.is_some()
            && self.token_endpoint.is_some()
            && self.jwks_uri.is_some()
    }
}

/// Read the file: JSON when its name ends in `.json` or its text starts with `{`, else TOML.
pub(crate) fn read(path: &Path) -> Result<ServiceFile, Failure> {
    let bad = |e: String| misconfigured("Config", format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    if path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{') {
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
    } else {
        toml::from_str(&text).map_err(|e| bad(e.message().to_owned()))
    }
}
