//! `mc discover`: discovery by MSISDN or MCC/MNC, and the operator context it would build.

use std::fmt::Write as _;

use mc_core::{DiscoveryOutcome, DiscoveryQuery, DiscoveryService, MccMnc, Msisdn, OperatorConfig};
use mc_io_blocking::{Client, OsEntropy};
use serde_json::{Value, json};

use crate::args::DiscoverArgs;
use crate::config;
use crate::misconfigured;
use crate::outcome::{Failure, Report};

pub(crate) fn run(args: &DiscoverArgs) -> Result<Report, Failure> {
    let secret = config::secret(&args.secret)?.ok_or_else(|| {
        misconfigured(
            "MissingArgument",
            "the discovery client secret: --secret-env VAR or --secret-file FILE",
        )
    })?;
    let query = match (&args.msisdn, &args.mcc_mnc) {
        (Some(n), _) => DiscoveryQuery::msisdn(Msisdn::new(n.trim_start_matches('+'))),
        (None, Some(m)) => DiscoveryQuery::identified(MccMnc::parse(m)?),
        (None, None) => {
            return Err(misconfigured("MissingArgument", "--msisdn or --mcc-mnc"));
        }
    };
    let service = DiscoveryService::new(
        &args.discovery_url,
        &args.client_id,
        secret,
        &args.redirect_uri,
    )?;
    let client = Client::new()?;
    let answer = match client.execute(service.discover(&query, &mut OsEntropy)?)? {
        DiscoveryOutcome::Found(answer) => answer,
        DiscoveryOutcome::OperatorSelection { url, .. } => {
            let summary = format!(
                "discovery did not identify the operator: the user would choose it on\n  {url}\n"
            );
            return Ok(Report::ok(json!({"selection_url": url.as_str()}), summary));
        }
        _ => {
            return Err(misconfigured(
                "UnknownOutcome",
                "discovery answered in a way this mc does not know",
            ));
        }
    };
    let operator_id = answer
        .serving_operator
        .clone()
        .unwrap_or_else(|| "discovered".to_owned());
    let mut config =
        OperatorConfig::from_discovery(&answer, operator_id.clone(), &args.redirect_uri)?;
    // As a login would: the operator's own metadata, when the answer names an issuer.
    let metadata_applied = match config.metadata_exchange() {
        Ok(exchange) => {
            let metadata = client.execute(exchange)?;
            config = config.with_metadata(metadata)?;
            true
        }
        Err(_) => false,
    };
    let operator = config.build()?;
    let endpoints = operator.endpoints();
    let url = |u: &Option<url::Url>| u.as_ref().map(|u| Value::from(u.as_str()));
    let result = json!({
        "operator": operator_id,
        "serving_operator": answer.serving_operator,
        "country": answer.country,
        "currency": answer.currency,
        "client_name": answer.client_name,
        "client_id": operator.client_id(),
        "issuer": operator.issuer(),
        "profile": crate::login::profile_name(operator.profile()),
        "metadata_applied": metadata_applied,
        "subscriber_id": answer.subscriber_id.is_some(),
        "expires_at": answer.expires_at.as_secs(),
        "endpoints": {
            "authorization": endpoints.authorization.as_str(),
            "token": endpoints.token.as_str(),
            "userinfo": url(&endpoints.userinfo),
            "premiuminfo": url(&endpoints.premiuminfo),
            "jwks": url(&endpoints.jwks),
            "revocation": url(&endpoints.revocation),
            "si_authorization": url(&endpoints.si_authorization),
            "backchannel_authentication": url(&endpoints.backchannel_authentication),
        },
    });
    let mut summary = String::new();
    let _ = writeln!(summary, "operator context for {operator_id}");
    let _ = writeln!(summary, "  issuer:        {}", operator.issuer());
    let _ = writeln!(summary, "  client_id:     {}", operator.client_id());
    let _ = writeln!(
        summary,
        "  client_secret: (from the discovery answer, not shown)"
    );
    let _ = writeln!(
        summary,
        "  profile:       {}",
        crate::login::profile_name(operator.profile())
    );
    let _ = writeln!(
        summary,
        "  subscriber_id: {}",
        if answer.subscriber_id.is_some() {
            "present (ENCR_MSISDN login hint)"
        } else {
            "-"
        }
    );
    let _ = writeln!(summary, "  authorization: {}", endpoints.authorization);
    let _ = writeln!(summary, "  token:         {}", endpoints.token);
    for (name, value) in [
        ("userinfo", &endpoints.userinfo),
        ("premiuminfo", &endpoints.premiuminfo),
        ("jwks", &endpoints.jwks),
        ("revocation", &endpoints.revocation),
        ("si-authorize", &endpoints.si_authorization),
    ] {
        if let Some(u) = value {
            let _ = writeln!(summary, "  {:<15}{u}", format!("{name}:"));
        }
    }
    Ok(Report::ok(result, summary))
}
