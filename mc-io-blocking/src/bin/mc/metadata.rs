//! `mc metadata`: fetch an issuer's provider metadata and JWKS and say what is wrong with them.
//!
//! The document is checked twice: by mc-core (the verdict a login would get: the metadata
//! exchange and `OperatorConfig::with_metadata`), and member by member here, on the raw JSON,
//! so that a document mc-core refuses outright still gets every finding.

use std::fmt::Write as _;

use mc_core::{
    ClientSecret, Error, Jwks, MetadataExchange, OperatorConfig, ProtocolError, ProviderMetadata,
    Registration,
};
use mc_io_blocking::{Client, now};
use serde_json::{Map, Value, json};

use crate::args::MetadataArgs;
use crate::outcome::{Exit, Failure, Fetch, Finding, Report, Severity};

/// mc-core's default id_token algorithms (`Policy::default`).
const DEFAULT_ALGORITHMS: [&str; 8] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
];

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, severity: Severity, code: &'static str, message: impl Into<String>) {
        self.0.push(Finding {
            severity,
            code,
            message: message.into(),
        });
    }
}

pub(crate) fn run(args: &MetadataArgs) -> Result<Report, Failure> {
    let issuer = args.issuer.as_str();
    let exchange = MetadataExchange::for_issuer(issuer)?;
    let metadata_url = mc_core::Exchange::request(&exchange).uri().to_string();
    let client = Client::new()?;
    let response = Fetch::get(&client, mc_core::Endpoint::Metadata, &metadata_url)?;
    let (status, headers, body) = (
        response.status(),
        response.headers().clone(),
        response.body().clone(),
    );
    let mut findings = Findings::default();
    let mut transport_failed = false;

    // mc-core's verdict on the answer, as a login would get it.
    let mut copy = http::Response::new(body.clone());
    *copy.status_mut() = status;
    *copy.headers_mut() = headers;
    let verdict = mc_core::Exchange::respond(exchange, copy, now());

    let raw: Option<Map<String, Value>> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) if status.is_success() => Some(map),
        Ok(_) if status.is_success() => {
            findings.add(
                Severity::Error,
                "not-an-object",
                "the document is not a JSON object",
            );
            None
        }
        Ok(_) | Err(_) if !status.is_success() => {
            findings.add(
                Severity::Error,
                "http-status",
                format!("{metadata_url} answered HTTP {status}"),
            );
            None
        }
        Err(e) => {
            findings.add(
                Severity::Error,
                "not-json",
                format!("the document is not JSON: {e}"),
            );
            None
        }
        Ok(_) => None,
    };
    match &verdict {
        Err(Error::Protocol(ProtocolError::MetadataIssuerMismatch { .. })) | Ok(_) => {}
        Err(e) if raw.is_some() || status.is_success() => findings.add(
            Severity::Error,
            "refused-by-mc-core",
            format!("mc-core refuses the document ({}): {e}", variant(e)),
        ),
        Err(_) => {}
    }
    let mut result = json!({"issuer": issuer, "metadata_url": metadata_url});
    if let Some(doc) = &raw {
        check_document(issuer, doc, &mut findings);
        if let Ok(metadata) = &verdict {
            check_with_core(issuer, metadata, &mut findings);
            let profile = mc_core::Profile::from_metadata(Some(metadata));
            result["profile"] = crate::login::profile_name(profile).into();
        }
        match doc.get("jwks_uri").and_then(Value::as_str) {
            None => findings.add(
                Severity::Error,
                "no-jwks-uri",
                "no jwks_uri: the operator's id_token keys cannot be found",
            ),
            Some(uri) => {
                let keys = check_jwks(&client, uri, &mut findings, &mut transport_failed);
                result["jwks_uri"] = uri.into();
                result["keys"] = keys;
            }
        }
    }
    findings.0.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let errors: Vec<&'static str> = findings
        .0
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code)
        .collect();
    let (exit, error) = if !errors.is_empty() {
        (
            Exit::Misbehaving,
            Some(Failure::new(
                Exit::Misbehaving,
                "MetadataFindings",
                format!("{} error finding(s): {}", errors.len(), errors.join(", ")),
            )),
        )
    } else if transport_failed {
        (
            Exit::Transport,
            Some(Failure::new(
                Exit::Transport,
                "JwksUnreachable",
                "the JWKS could not be fetched",
            )),
        )
    } else {
        (Exit::Ok, None)
    };
    let mut summary = String::new();
    let _ = writeln!(summary, "metadata of {issuer}");
    let _ = writeln!(summary, "  from {metadata_url}");
    Ok(Report {
        exit,
        result: Some(result),
        findings: findings.0,
        error,
        summary,
    })
}

fn variant(e: &Error) -> String {
    crate::outcome::variant_name(&format!("{e:?}"))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// The raw document, member by member.
fn check_document(issuer: &str, doc: &Map<String, Value>, findings: &mut Findings) {
    match doc.get("issuer").and_then(Value::as_str) {
        None => findings.add(Severity::Error, "issuer-missing", "no issuer member"),
        Some(found) if found != issuer => findings.add(
            Severity::Error,
            "issuer-mismatch",
            format!(
                "the document names issuer {found:?}, fetched for {issuer:?} (OIDC Discovery 4.3)"
            ),
        ),
        Some(_) => {}
    }
    let mut loopback = Vec::new();
    for (name, value) in doc {
        if !(name.ends_with("_endpoint") || name == "jwks_uri") {
            continue;
        }
        let Some(text) = value.as_str() else {
            findings.add(
                Severity::Error,
                "bad-endpoint",
                format!("{name} is not a string"),
            );
            continue;
        };
        match url::Url::parse(text) {
            Ok(url) if url.scheme() == "https" => {}
            Ok(url) if url.scheme() == "http" && is_loopback(&url) => loopback.push(name.as_str()),
            Ok(url) if url.scheme() == "http" => findings.add(
                Severity::Error,
                "http-endpoint",
                format!("{name} is plain http: {text}"),
            ),
            _ => findings.add(
                Severity::Error,
                "bad-endpoint",
                format!("{name} is not an https URL: {text}"),
            ),
        }
    }
    if !loopback.is_empty() {
        findings.add(
            Severity::Info,
            "http-endpoint-loopback",
            format!(
                "{} endpoints are plain http on loopback (a sandbox; refused on other hosts)",
                loopback.len()
            ),
        );
    }
    let iss_supported = match doc.get("authorization_response_iss_parameter_supported") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "true" | "1"),
        _ => false,
    };
    if iss_supported {
        findings.add(
            Severity::Info,
            "rfc9207",
            "authorization_response_iss_parameter_supported: callbacks carry iss (mix-up defence)",
        );
    } else {
        findings.add(
            Severity::Warning,
            "rfc9207-missing",
            "authorization_response_iss_parameter_supported is not true: callbacks are not \
             bound to the issuer (RFC 9207); set Policy::require_callback_iss if they carry it",
        );
    }
    let algs: Vec<String> = list(doc.get("id_token_signing_alg_values_supported"));
    if algs.is_empty() {
        findings.add(
            Severity::Warning,
            "algorithms-missing",
            "id_token_signing_alg_values_supported is missing (required by OIDC Discovery)",
        );
    }
    for alg in &algs {
        if alg.eq_ignore_ascii_case("none") {
            findings.add(
                Severity::Error,
                "alg-none",
                "id_token_signing_alg_values_supported lists none: unsigned id_tokens",
            );
        } else if alg.starts_with("HS") {
            findings.add(
                Severity::Warning,
                "alg-hmac",
                format!("{alg} listed: HMAC id_tokens are keyed by the client secret (accepted only when the policy allows HS*)"),
            );
        } else if !DEFAULT_ALGORITHMS.contains(&alg.as_str()) {
            findings.add(
                Severity::Warning,
                "alg-unknown",
                format!("{alg} is not in mc-core's default algorithm allow-list"),
            );
        }
    }
    if !algs.is_empty()
        && !algs
            .iter()
            .any(|a| DEFAULT_ALGORITHMS.contains(&a.as_str()))
    {
        findings.add(
            Severity::Error,
            "no-usable-algorithm",
            "no algorithm of mc-core's default allow-list is listed",
        );
    }
    for (member, what) in [
        ("userinfo_endpoint", "userinfo"),
        (
            "premiuminfo_endpoint",
            "premium info (KYC match, mc_identity scopes)",
        ),
    ] {
        if !doc.contains_key(member) {
            findings.add(
                Severity::Warning,
                if member == "userinfo_endpoint" {
                    "no-userinfo-endpoint"
                } else {
                    "no-premiuminfo-endpoint"
                },
                format!("no {member}: no {what}"),
            );
        }
    }
    let mut versions: Vec<String> = list(doc.get("mc_version"));
    if let Some(Value::Array(entries)) = doc.get("mobile_connect_version_supported") {
        for entry in entries {
            if let Value::Object(map) = entry {
                for (scope, version) in map {
                    versions.push(format!("{scope}={}", version.as_str().unwrap_or_default()));
                }
            }
        }
    }
    if versions.is_empty() {
        findings.add(
            Severity::Info,
            "mc-versions",
            "no Mobile Connect versions listed (mobile_connect_version_supported, mc_version): \
             the plain OpenID Connect profile by default",
        );
    } else {
        findings.add(
            Severity::Info,
            "mc-versions",
            format!("Mobile Connect versions: {}", versions.join(", ")),
        );
    }
}

fn list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// What a login would get when it applies the document to an operator context.
fn check_with_core(issuer: &str, metadata: &ProviderMetadata, findings: &mut Findings) {
    let config = OperatorConfig::new(Registration {
        operator_id: "mc-metadata".to_owned(),
        client_id: "mc-metadata".to_owned(),
        client_secret: ClientSecret::new("unused"),
        redirect_uri: "https://sp.example/callback".to_owned(),
    })
    .map(|c| c.issuer(issuer.to_owned()));
    match config.and_then(|c| c.with_metadata(metadata.clone())) {
        Ok(_) | Err(Error::Protocol(ProtocolError::PlainHttp { .. })) => {}
        Err(e) => findings.add(
            Severity::Error,
            "refused-by-mc-core",
            format!(
                "an operator context refuses the document ({}): {e}",
                variant(&e)
            ),
        ),
    }
}

/// Fetch and read the JWKS; the keys' summary for the result.
fn check_jwks(client: &Client, uri: &str, findings: &mut Findings, transport: &mut bool) -> Value {
    let response = match Fetch::get(client, mc_core::Endpoint::Jwks, uri) {
        Ok(r) => r,
        Err(mc_io_blocking::Error::SchemeRefused { .. }) => {
            findings.add(
                Severity::Error,
                "jwks-not-fetched",
                format!("{uri} is not https: not fetched"),
            );
            return Value::Null;
        }
        Err(e) => {
            *transport = true;
            findings.add(Severity::Warning, "jwks-unreachable", format!("{uri}: {e}"));
            return Value::Null;
        }
    };
    if !response.status().is_success() {
        findings.add(
            Severity::Error,
            "jwks-status",
            format!("{uri} answered HTTP {}", response.status()),
        );
        return Value::Null;
    }
    let jwks = match Jwks::parse(response.body()) {
        Ok(jwks) => jwks,
        Err(e) => {
            findings.add(
                Severity::Error,
                "jwks-refused",
                format!("mc-core refuses the JWKS: {e}"),
            );
            return Value::Null;
        }
    };
    let mut keys = Vec::new();
    for key in jwks.keys() {
        let kid = key.kid().unwrap_or("(no kid)");
        if key.is_weak() {
            findings.add(
                Severity::Error,
                "rsa-key-too-small",
                format!(
                    "RSA key {kid} is under {} bits (never used)",
                    mc_core::jwks::MIN_RSA_BITS
                ),
            );
        }
        keys.push(json!({"kid": key.kid(), "type": format!("{:?}", key.key_type()), "weak": key.is_weak()}));
    }
    let usable = jwks.keys().iter().filter(|k| !k.is_weak()).count();
    if usable == 0 {
        findings.add(
            Severity::Error,
            "jwks-no-usable-key",
            "the JWKS has no usable signing key",
        );
    } else {
        let names: Vec<String> = jwks
            .keys()
            .iter()
            .filter(|k| !k.is_weak())
            .map(|k| format!("{} ({:?})", k.kid().unwrap_or("no kid"), k.key_type()))
            .collect();
        findings.add(
            Severity::Info,
            "jwks",
            format!("{usable} usable signing key(s): {}", names.join(", ")),
        );
    }
    if jwks.skipped() > 0 {
        findings.add(
            Severity::Warning,
            "jwks-skipped-keys",
            format!(
                "{} key(s) skipped (unknown type, encryption, symmetric or unreadable)",
                jwks.skipped()
            ),
        );
    }
    Value::Array(keys)
}
