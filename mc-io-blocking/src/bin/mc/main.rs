//! `mc`: test a Mobile Connect operator integration from the command line (log in through a
//! loopback listener or server-initiated, run discovery, check an operator's metadata and
//! keys, decode and verify id_tokens), with mc-core doing every check and mc-io-blocking
//! moving the bytes.
//!
//! Built with the `cli` feature: `cargo run -p mc-io-blocking --features cli --bin mc -- --help`.
#![forbid(unsafe_code)]
// The argument structs' doc comments are `mc --help`'s text, written for a terminal
// (`MSISDN:<digits>`, `[operators]`), not rustdoc markup.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod args;
mod config;
mod discover;
mod jwt;
mod listener;
mod login;
mod metadata;
mod outcome;
mod server_initiated;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Cli, Command};
use crate::outcome::{Exit, Failure, Report};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` print and succeed; a usage error is misconfiguration.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(Exit::Misconfigured.code())
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let (command, result) = match &cli.command {
        Command::Login(a) => ("login", login::run(a)),
        Command::Discover(a) => ("discover", discover::run(a)),
        Command::Metadata(a) => ("metadata", metadata::run(a)),
        Command::Decode(a) => ("decode", jwt::decode(a)),
        Command::Verify(a) => ("verify", jwt::verify(a)),
    };
    let report = match result {
        Ok(report) => report,
        Err(failure) => Report::failed(failure),
    };
    report.print(command, cli.json);
    ExitCode::from(report.exit.code())
}

/// Where a `Failure` is built from a plain message.
fn misconfigured(kind: &str, message: impl Into<String>) -> Failure {
    Failure::new(Exit::Misconfigured, kind, message)
}
