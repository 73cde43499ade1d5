//! Serve the sandbox operator on loopback for hand testing: `cargo run -p mc-sandbox [port]`.
#![allow(clippy::print_stdout)]

use mc_sandbox::{OPERATORS, SandboxServer};

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let server = SandboxServer::start_on(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    let sandbox = server.sandbox();
    println!("Mobile Connect sandbox on {}", sandbox.base());
    println!(
        "  discovery:  {}  (Basic {}:{})",
        sandbox.discovery_url(),
        mc_sandbox::sandbox::DISCOVERY_CLIENT_ID,
        mc_sandbox::sandbox::DISCOVERY_CLIENT_SECRET
    );
    println!(
        "  SP redirect_uri: {}",
        mc_sandbox::sandbox::SP_REDIRECT_URI
    );
    for op in &OPERATORS {
        println!(
            "\n  operator {} ({}, MCC {} MNC {})",
            op.name, op.display, op.mcc, op.mnc
        );
        println!("    issuer:   {}", sandbox.issuer(op.name));
        println!(
            "    metadata: {}/.well-known/openid-configuration",
            sandbox.issuer(op.name)
        );
        println!("    client:   {} / {}", op.client_id, op.client_secret);
        for (msisdn, handset) in op.subscribers {
            println!("    MSISDN {msisdn}: {handset:?}");
        }
    }
    println!("\nCtrl-C to stop.");
    server.wait();
    Ok(())
}
