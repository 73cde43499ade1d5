//! Server-initiated logins against the local sandbox operator, without a browser:
//! `cargo run -p mc-io-tokio --example server_initiated_tokio`.
//!
//! Mobile Connect SI in notification mode: the SP signs a request object for the subscriber's
//! number, the operator's (simulated) handset asks the user, and the operator POSTs the tokens
//! to the SP's notification URI, where a [`NotificationInbox`] hands them to the login waiting
//! for them. Then OpenID CIBA in ping mode (the operator's ping to the same URI, then one
//! poll) and in poll mode. The sandbox (package mc-sandbox) runs in this process on 127.0.0.1;
//! everything the Service Provider does goes through mc-core and this adapter exactly as it
//! would against a real operator.
#![allow(clippy::print_stdout)]

use std::net::TcpListener;
use std::time::Duration;

use mc_core::{
    Algorithm, CibaLoginHint, CibaRequest, ClientSecret, LoginHint, Msisdn, OperatorConfig,
    Registration, SiRequest, SpSigningKey,
};
use mc_io_tokio::{Client, NotificationInbox, OsEntropy, now};
use mc_sandbox::SandboxServer;
use mc_sandbox::loopback::{LoopbackServer, Recorded, Reply};
use mc_sandbox::sandbox::{SP_REDIRECT_URI, SandboxConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let client = Client::new()?;
    let inbox = NotificationInbox::new(client.clone());

    // The SP's notification URI (its endpoint starts below, once the operator context exists).
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let notification_uri = format!("http://{}/notify", listener.local_addr()?);

    // The SP's own signing key (a committed test key here; yours stays in your secret store),
    // registered with the operator as a public JWKS, and the SP's notification URI.
    let sp_key = SpSigningKey::from_pem(
        Algorithm::RS256,
        mc_sandbox::fixture::RSA_B.as_bytes(),
        "sp-key-1",
    )?;
    let config = SandboxConfig::default()
        .sp_jwks(SpSigningKey::jwks([&sp_key])?)
        .notification_uris([notification_uri.as_str()])
        .poll_interval(1)
        .handset_delay(Duration::from_millis(1500));
    let server = SandboxServer::start_with("127.0.0.1:0".parse()?, config)?;
    let sandbox = server.sandbox();
    println!("sandbox operator listening on {}", sandbox.base());

    // The operator context, from the registry entry and the provider metadata, with the SP's
    // key and notification URI; shared by every login and by the notification endpoint.
    let issuer = sandbox.issuer("alpha");
    let entry = OperatorConfig::new(Registration {
        operator_id: "alpha".to_owned(),
        client_id: "alpha-client-id".to_owned(),
        client_secret: ClientSecret::new(sandbox.client_secret("alpha").unwrap_or_default()),
        redirect_uri: SP_REDIRECT_URI.to_owned(),
    })?
    .issuer(issuer);
    let metadata = client.execute(entry.metadata_exchange()?).await?;
    let operator = entry
        .with_metadata(metadata)?
        .signing_key(sp_key)
        .notification_uri(&notification_uri)?
        .build()?;

    // The SP's notification endpoint. Any web framework does: its handler hands the request
    // to `inbox.deliver` and sends back the response it returns. Here the stand-in is the
    // sandbox's small loopback HTTP server (a thread per connection), so the handler re-enters
    // the runtime; in axum it is one `.await` (see `NotificationInbox`).
    let endpoint = {
        let (inbox, operator) = (inbox.clone(), operator.clone());
        let runtime = tokio::runtime::Handle::current();
        LoopbackServer::serve(listener, move |request| match inbound(request) {
            Some(request) => outbound(&runtime.block_on(inbox.deliver(&operator, request))),
            None => Reply::status(400),
        })?
    };
    println!("SP notification endpoint on {}", endpoint.url("/notify"));
    let operator = &operator;
    let msisdn = "447700900001";

    // 1. Mobile Connect SI, notification mode: start, register, wait for the notification.
    let request = SiRequest::new(LoginHint::Msisdn(Msisdn::new(msisdn)));
    let pending = client
        .execute(operator.si_authorize(request, &mut OsEntropy, now())?)
        .await?;
    println!("1. SI request accepted ({})", pending.mode());
    // Register at once: the operator may notify as soon as the user has answered.
    let waiter = inbox.register(pending)?;
    let tokens = waiter.await?;
    let id = tokens.id_token();
    println!(
        "   notified: id_token verified (PCR {}, acr {}, amr {})",
        id.sub(),
        id.acr().unwrap_or("-"),
        id.amr().join(" ")
    );

    // 2. OpenID CIBA, ping mode: the operator pings the same URI, the waiter polls once.
    let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn))).ping();
    let pending = client
        .execute(operator.ciba_authorize(request, &mut OsEntropy, now())?)
        .await?;
    println!("2. CIBA request accepted ({})", pending.mode());
    let tokens = inbox.register(pending)?.await?;
    println!("   pinged, polled once: PCR {}", tokens.sub());

    // 3. OpenID CIBA, poll mode: the adapter polls until the user has answered.
    let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new(msisdn)));
    let pending = client
        .execute(operator.ciba_authorize(request, &mut OsEntropy, now())?)
        .await?;
    println!("3. CIBA request accepted ({})", pending.mode());
    // Cancellation is dropping the future: here a deadline of our own around the wait.
    let tokens = tokio::time::timeout(
        Duration::from_secs(30),
        client.poll_for_tokens(operator, pending),
    )
    .await??;
    println!("   polled: PCR {}", tokens.sub());
    Ok(())
}

/// The stand-in web server's request as an `http::Request` (what a framework hands over).
fn inbound(recorded: &Recorded) -> Option<http::Request<Vec<u8>>> {
    let mut request = http::Request::builder()
        .method(recorded.method.as_str())
        .uri(recorded.target.as_str());
    for (name, value) in &recorded.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    request.body(recorded.body.clone()).ok()
}

/// The inbox's response as the stand-in web server's reply.
fn outbound(response: &http::Response<Vec<u8>>) -> Reply {
    let mut reply = Reply::status(response.status().as_u16());
    for (name, value) in response.headers() {
        reply = reply.header(name.as_str(), value.to_str().unwrap_or_default());
    }
    reply.body(response.body().clone())
}
