//! A whole Mobile Connect login against the local sandbox operator, step by step:
//! `cargo run -p mc-io-tokio --example quickstart_tokio`.
//!
//! The sandbox (package mc-sandbox) plays the discovery service, the operator and the user's
//! handset on 127.0.0.1; everything the Service Provider does goes through mc-core and this
//! adapter exactly as it would against a real operator.
#![allow(clippy::print_stdout)]

use mc_core::{AuthorizeOptions, DiscoveryOutcome, DiscoveryQuery, Msisdn, OperatorConfig};
use mc_io_tokio::{Client, OsEntropy, now};
use mc_sandbox::SandboxServer;
use mc_sandbox::sandbox::{
    DISCOVERY_CLIENT_ID, DISCOVERY_CLIENT_SECRET, SP_DISCOVERY_REDIRECT, SP_REDIRECT_URI,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let server = SandboxServer::start()?;
    let sandbox = server.sandbox();
    println!("sandbox operator listening on {}", sandbox.base());
    let client = Client::new()?;

    // 1. Discovery by MSISDN: which operator serves +44 7700 900001?
    let msisdn = "447700900001";
    let service = mc_core::DiscoveryService::new(
        &sandbox.discovery_url(),
        DISCOVERY_CLIENT_ID,
        mc_core::ClientSecret::new(DISCOVERY_CLIENT_SECRET),
        SP_DISCOVERY_REDIRECT,
    )?;
    let DiscoveryOutcome::Found(answer) = client
        .execute(service.discover(&DiscoveryQuery::msisdn(Msisdn::new(msisdn)), &mut OsEntropy)?)
        .await?
    else {
        return Err("discovery wanted the operator selection page".into());
    };
    // The answer names the operator: `serving_operator` is stable and one per operator, so it
    // keys the operator context (per-login state refers to the context by this id).
    let operator_id = answer
        .serving_operator
        .clone()
        .ok_or("the discovery answer names no serving_operator")?;
    println!("1. discovery: {operator_id} serves the number");
    let config = OperatorConfig::from_discovery(&answer, operator_id, SP_REDIRECT_URI)?;

    // 2. Provider metadata (endpoints, versions, RFC 9207 support).
    //    The operator context is built from the discovery answer and the metadata, whole; it
    //    would be shared by every login through this operator (clones share it).
    let metadata = client.execute(config.metadata_exchange()?).await?;
    let operator = config.with_metadata(metadata)?.build()?;
    println!("2. metadata: issuer {}", operator.issuer());

    // 3. The authorization redirect, with the encrypted MSISDN as login hint.
    let hint = answer
        .subscriber_id
        .clone()
        .map(mc_core::LoginHint::EncryptedMsisdn)
        .ok_or("no subscriber_id")?;
    let (redirect, flow) = operator.authorize(
        AuthorizeOptions::new().login_hint(hint),
        &mut OsEntropy,
        now(),
    )?;
    let stored = serde_json::to_string(&flow)?;
    println!("3. redirect the browser to {}", redirect.url().path());
    println!("   per-login state to keep: {} bytes of JSON", stored.len());

    // 4. The browser at the operator: the sandbox's simulated handset approves (LoA 2) and the
    //    operator redirects back to our callback.
    let mut visit = http::Request::new(Vec::new());
    *visit.uri_mut() = redirect.as_str().parse()?;
    let at_operator = client.send(visit).await?;
    let location = at_operator
        .headers()
        .get(http::header::LOCATION)
        .ok_or("no redirect back")?
        .to_str()?;
    let callback_query = url::Url::parse(location)?
        .query()
        .unwrap_or_default()
        .to_owned();
    println!(
        "4. handset approved; the browser returns to {}",
        location.split('?').next().unwrap_or_default()
    );

    // 5. The callback: state, RFC 9207 iss, then the code.
    let flow: mc_core::Authorizing = serde_json::from_str(&stored)?;
    let code = flow.callback(&operator, &callback_query, now())?;
    println!("5. callback checked (state, iss)");

    // 6. Token exchange with full id_token verification; the first one fetches the JWKS.
    //    `execute` finishes the step, including that key refetch.
    let tokens = client
        .execute(code.token_exchange(&operator, now())?)
        .await?;
    println!(
        "6. tokens: id_token verified ({:?}, kid {})",
        tokens.id_token().alg(),
        tokens.id_token().kid().unwrap_or("-")
    );

    // 7. UserInfo.
    let userinfo = client.execute(tokens.userinfo(&operator)?).await?;
    println!("7. userinfo received (the tokens stay usable)");

    let id = tokens.id_token();
    println!("\nverified identity");
    println!("  PCR (sub):     {}", id.sub());
    println!("  acr:           {}", id.acr().unwrap_or("-"));
    println!("  amr:           {}", id.amr().join(" "));
    println!(
        "  phone number:  {}",
        userinfo.phone_number().unwrap_or("-")
    );
    Ok(())
}
