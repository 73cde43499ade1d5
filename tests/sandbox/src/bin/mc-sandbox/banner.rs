//! What `mc-sandbox` prints on start: every URL, credential, registered redirect URI and test
//! MSISDN an SP needs, and the operator id to key its operator context by. The first line is
//! the base URL alone, for a parent process to read.

use std::fmt::Write as _;

use mc_sandbox::keys::KeyFamily;
use mc_sandbox::sandbox::{
    DISCOVERY_CLIENT_ID, DISCOVERY_CLIENT_SECRET, OPERATORS, SP_DISCOVERY_REDIRECT, Sandbox,
    SelectionAnswer, format_duration,
};

/// The start banner of `sandbox`.
pub(crate) fn banner(sandbox: &Sandbox) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_banner(&mut out, sandbox);
    out
}

fn write_banner(out: &mut String, sandbox: &Sandbox) -> std::fmt::Result {
    let config = sandbox.config();
    writeln!(out, "{}", sandbox.base())?;
    writeln!(out, "Mobile Connect sandbox on {}", sandbox.base())?;
    writeln!(out)?;
    writeln!(
        out,
        "Registered redirect URIs (an authorization request's redirect_uri must be one of these):"
    )?;
    for uri in &config.redirect_uris {
        writeln!(out, "  {uri}")?;
    }
    writeln!(out)?;
    writeln!(out, "Discovery service")?;
    writeln!(out, "  endpoint:       {}", sandbox.discovery_url())?;
    writeln!(out, "  client_id:      {DISCOVERY_CLIENT_ID}")?;
    writeln!(out, "  client_secret:  {DISCOVERY_CLIENT_SECRET}")?;
    writeln!(
        out,
        "  Redirect_URL:   any URL of yours (the selection page sends the browser back there), e.g. {SP_DISCOVERY_REDIRECT}"
    )?;
    let how = match config.selection {
        SelectionAnswer::Accepted => "a 202 with a JSON operatorSelection link",
        SelectionAnswer::Redirect => "a 302 with Location",
    };
    writeln!(
        out,
        "  selection page: {}  (discovery answers {how} when neither MSISDN, MCC/MNC nor X-Source-IP names the operator)",
        sandbox.selection_url(SP_DISCOVERY_REDIRECT)
    )?;
    writeln!(
        out,
        "  operator id:    the answer's serving_operator (stable, one per operator); the answer also carries mcc_mnc"
    )?;
    for op in &OPERATORS {
        let issuer = sandbox.issuer(op.name);
        let alg = match op.family {
            KeyFamily::Rs256 => "RS256",
            KeyFamily::Es256 => "ES256",
        };
        let userinfo = if op.signed_userinfo {
            "a signed JWT"
        } else {
            "JSON"
        };
        writeln!(out)?;
        writeln!(
            out,
            "Operator {}: {} ({}, MCC {} MNC {}, X-Source-IP {}*)",
            op.name, op.display, op.country, op.mcc, op.mnc, op.ip_prefix
        )?;
        writeln!(
            out,
            "  operator id:   {}  (discovery answers name it as serving_operator: key the operator context by it)",
            op.display
        )?;
        writeln!(out, "  mcc_mnc:       {}", op.mcc_mnc())?;
        writeln!(out, "  issuer:        {issuer}")?;
        writeln!(
            out,
            "  metadata:      {issuer}/.well-known/openid-configuration"
        )?;
        for endpoint in [
            "authorize",
            "token",
            "userinfo",
            "premiuminfo",
            "jwks",
            "revoke",
            "si-authorize",
            "bc-authorize",
        ] {
            writeln!(out, "  {:<15}{issuer}/{endpoint}", format!("{endpoint}:"))?;
        }
        writeln!(out, "  client_id:     {}", op.client_id)?;
        writeln!(
            out,
            "  client_secret: {}  (HTTP Basic, form-encoded as RFC 6749 asks, or raw)",
            sandbox.client_secret(op.name).unwrap_or_default()
        )?;
        writeln!(
            out,
            "  signs:         id_tokens {alg}; userinfo is {userinfo}"
        )?;
        writeln!(
            out,
            "  token grants:  authorization_code, refresh_token (rotating), CIBA/SI polls, the SMS one-time password (its code: Sandbox::otp_code, in process)"
        )?;
        writeln!(
            out,
            "  test MSISDNs (login_hint MSISDN:<number>, or ENCR_MSISDN:<subscriber_id> from discovery):"
        )?;
        for (msisdn, handset) in op.subscribers {
            writeln!(out, "    {msisdn:<14} {}", handset.describe())?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Handset: answers after {}; a silent handset is given up after {}. LoA 3 (acr_values=3) asks for the PIN.",
        format_duration(config.handset_delay),
        format_duration(sandbox.handset_wait())
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Server-initiated logins (Mobile Connect SI at si-authorize, OpenID CIBA at bc-authorize, poll and ping):"
    )?;
    writeln!(
        out,
        "  notification URIs (an SI request object's notification_uri must be one of these; CIBA pings go to the first):"
    )?;
    for uri in &config.notification_uris {
        writeln!(out, "    {uri}")?;
    }
    match &config.sp_jwks {
        Some(jwks) => {
            let kids: Vec<&str> = jwks["keys"]
                .as_array()
                .map(|keys| keys.iter().filter_map(|k| k["kid"].as_str()).collect())
                .unwrap_or_default();
            writeln!(
                out,
                "  SP JWKS: registered (kids: {}); request objects and private_key_jwt are verified against it",
                kids.join(", ")
            )?;
        }
        None => writeln!(
            out,
            "  SP JWKS: none (register yours with --sp-jwks FILE to use SI and private_key_jwt)"
        )?,
    }
    writeln!(
        out,
        "  expires_in {}s, interval {}s; notifications are {} when the handset answers",
        config.backchannel_expiry,
        config.poll_interval,
        if config.deliver_notifications {
            "POSTed"
        } else {
            "kept in the outbox"
        }
    )?;
    if config.faults.is_empty() {
        writeln!(out, "Faults: none (see --help)")?;
    } else {
        let faults: Vec<String> = config.faults.iter().map(ToString::to_string).collect();
        writeln!(out, "Faults: {}", faults.join(", "))?;
    }
    writeln!(out, "Ctrl-C to stop.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_base_url_and_every_msisdn_is_listed() {
        let sandbox = Sandbox::new("http://127.0.0.1:4000");
        let text = banner(&sandbox);
        assert_eq!(text.lines().next(), Some("http://127.0.0.1:4000"));
        for op in &OPERATORS {
            assert!(text.contains(&format!("{}/op/{}/token", sandbox.base(), op.name)));
            assert!(text.contains(op.client_secret));
            for (msisdn, handset) in op.subscribers {
                assert!(text.contains(&format!("{msisdn:<14} {}", handset.describe())));
            }
        }
        assert!(text.contains(DISCOVERY_CLIENT_SECRET));
        assert!(text.contains("https://sp.example/callback"));
        assert!(text.contains(&format!("{}/op/alpha/si-authorize", sandbox.base())));
        assert!(text.contains(&format!("{}/op/beta/bc-authorize", sandbox.base())));
        assert!(text.contains("https://sp.example/notify"));
    }
}
