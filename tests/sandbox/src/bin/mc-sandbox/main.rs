//! Serve the sandbox operator on loopback, for hand testing and for pointing an SP's own app at
//! it: `cargo run -p mc-sandbox -- --help`.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod banner;
mod options;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use mc_sandbox::SandboxServer;

use options::Command;

fn main() -> ExitCode {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(Command::Serve(options)) => options,
        Ok(Command::Help) => {
            print!("{}", options::usage());
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mc-sandbox: {message}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], options.port));
    let server = match SandboxServer::start_with(addr, options.config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mc-sandbox: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &options.service_config {
        // The login timeout of the service's own default (10 minutes).
        if let Err(e) = std::fs::write(path, server.sandbox().service_config(600)) {
            eprintln!("mc-sandbox: cannot write the service configuration {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut stdout = std::io::stdout().lock();
    // Flushed at once: a parent process reads the base URL from the first line while the
    // server runs (stdout to a pipe is block-buffered otherwise).
    let printed = stdout
        .write_all(banner::banner(server.sandbox()).as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = printed {
        eprintln!("mc-sandbox: cannot print: {e}");
    }
    server.wait();
    ExitCode::SUCCESS
}
