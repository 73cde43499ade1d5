//! A server-initiated login against the local sandbox operator, without a browser:
//! `cargo run -p mc-io-blocking --example server_initiated`.
//!
//! Mobile Connect SI in polling mode: the SP signs a request object for the subscriber's
//! number, the operator's (simulated) handset asks the user, and the SP polls the token
//! endpoint until the tokens come. Then the same through OpenID CIBA in poll mode. The sandbox
//! (package mc-sandbox) runs in this process on 127.0.0.1; everything the Service Provider does
//! goes through mc-core and this adapter exactly as it would against a real operator.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use mc_core::{
    Algorithm, CibaLoginHint, CibaRequest, ClientSecret, LoginHint, Msisdn, OperatorConfig,
    Registration, SiRequest, SpSigningKey,
};
use mc_io_blocking::{Client, OsEntropy, now};
use mc_sandbox::SandboxServer;
use mc_sandbox::sandbox::{SP_REDIRECT_URI, SandboxConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    // The SP's own signing key (a committed test key here; yours stays in your secret store),
    // registered with the operator as a public JWKS: the operator verifies request objects
    // with it.
    let sp_key = SpSigningKey::from_pem(
        Algorithm::RS256,
        mc_sandbox::fixture::RSA_B.as_bytes(),
        "sp-key-1",
    )?;
    let config = SandboxConfig::default()
        .sp_jwks(SpSigningKey::jwks([&sp_key])?)
        .poll_interval(1)
        .handset_delay(Duration::from_millis(1500));
    let server = SandboxServer::start_with("127.0.0.1:0".parse()?, config)?;
    let sandbox = server.sandbox();
    println!("sandbox operator listening on {}", sandbox.base());
    let client = Client::new()?;

    // The operator context, from the registry entry and the provider metadata (which names
    // `si_authorization_endpoint` and `backchannel_authentication_endpoint`), with the SP's key.
    let issuer = sandbox.issuer("alpha");
    let entry = OperatorConfig::new(Registration {
        operator_id: "alpha".to_owned(),
        client_id: "alpha-client-id".to_owned(),
        client_secret: ClientSecret::new(sandbox.client_secret("alpha").unwrap_or_default()),
        redirect_uri: SP_REDIRECT_URI.to_owned(),
    })?
    .issuer(issuer);
    let metadata = client.execute(entry.metadata_exchange()?)?;
    let operator = entry.with_metadata(metadata)?.signing_key(sp_key).build()?;

    // 1. Mobile Connect SI, polling mode: the signed request to si-authorize.
    let msisdn = "447700900001";
    let request = SiRequest::new(LoginHint::Msisdn(Msisdn::new(msisdn))).polling();
    let pending = client.execute(operator.si_authorize(request, &mut OsEntropy, now())?)?;
    println!(
        "1. SI request accepted ({}): expires in {} s, poll every {} s",
        pending.mode(),
        pending
            .expires_at()
            .as_secs()
            .saturating_sub(now().as_secs()),
        pending.interval_secs()
    );
    // The state to keep while the user answers (a host stores it, e.g. keyed by auth_req_id).
    let stored = serde_json::to_string(&pending)?;
    println!("   pending state: {} bytes of JSON", stored.len());

    // 2. Poll until the handset has answered: the core says when; the adapter sleeps.
    let pending = serde_json::from_str(&stored)?;
    let tokens = client.poll_for_tokens(&operator, pending)?;
    let id = tokens.id_token();
    println!(
        "2. tokens: id_token verified (PCR {}, acr {}, amr {})",
        id.sub(),
        id.acr().unwrap_or("-"),
        id.amr().join(" ")
    );

    // 3. The same subscriber through OpenID CIBA, poll mode (client authentication: Basic).
    let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn)));
    let pending = client.execute(operator.ciba_authorize(request, &mut OsEntropy, now())?)?;
    println!("3. CIBA request accepted ({})", pending.mode());
    let tokens = client.poll_for_tokens(&operator, pending)?;
    println!("   tokens: id_token verified (PCR {})", tokens.sub());

    // 4. A subscriber who declines: the poll loop ends with the operator's refusal.
    let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new("447700900009")));
    let pending = client.execute(operator.ciba_authorize(request, &mut OsEntropy, now())?)?;
    match client.poll_for_tokens(&operator, pending) {
        Err(mc_io_blocking::Error::Core(error)) if error.operator_error().is_some() => {
            println!("4. declined: {error} ({})", error.class().as_str());
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    Ok(())
}
