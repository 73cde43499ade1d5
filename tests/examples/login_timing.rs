//! Wall time of one whole browser login (authorize, simulated handset, callback, token with
//! id_token verification, userinfo) through each adapter against the loopback sandbox:
//! `cargo run --release -p mc-tests --example login_timing [-- N]` (default N = 100).
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use mc_core::{AuthorizeOptions, LoginHint, Msisdn};
use mc_tests::SandboxExt as _;
use mc_tests::SandboxServer;
use mc_tests::driver::{self, Blocking, Driver, Tokio, login, userinfo};

fn measure<D: Driver>(
    name: &str,
    d: &D,
    server: &SandboxServer,
    n: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let entry = server.sandbox().registry_entry("alpha")?;
    let op = driver::with_metadata(d, entry).map_err(|e| format!("{e:?}"))?;
    let options =
        || AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new("447700900001")));
    // Warm up: the JWKS fetch and connection setup happen once per operator, not per login.
    let tokens = login(d, &op, options()).map_err(|e| format!("{e:?}"))?;
    let _warm = userinfo(d, &op, &tokens).map_err(|e| format!("{e:?}"))?;
    let mut times: Vec<Duration> = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let tokens = login(d, &op, options()).map_err(|e| format!("{e:?}"))?;
        let info = userinfo(d, &op, &tokens).map_err(|e| format!("{e:?}"))?;
        times.push(start.elapsed());
        assert_eq!(info.phone_number(), Some("+447700900001"));
    }
    times.sort_unstable();
    let pct = |p: usize| {
        times
            .get((times.len() * p / 100).min(times.len() - 1))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name:>14}: {n} logins, median {:?}, p90 {:?}, min {:?}, max {:?}",
        pct(50),
        pct(90),
        times.first().copied().unwrap_or_default(),
        times.last().copied().unwrap_or_default()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100)
        .max(1);
    let server = SandboxServer::start()?;
    let timeout = Duration::from_secs(10);
    measure(
        "mc-io-blocking",
        &Blocking::new(timeout, 1 << 20),
        &server,
        n,
    )?;
    let tokio = Tokio::new(timeout, 1 << 20).map_err(|e| format!("{e:?}"))?;
    measure("mc-io-tokio", &tokio, &server, n)?;
    Ok(())
}
