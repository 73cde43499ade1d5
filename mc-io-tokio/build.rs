//! The README's section on server-initiated login shows this crate at work, so its examples
//! cannot run with the rest of the README (a doctest of mc-core, which does not depend on the
//! adapters): there they are fenced `rust,ignore`, and this script copies the section, fences
//! opened as Rust, for `lib.rs` to run as this crate's doctests. Outside the repository (a
//! packaged crate) there is no README, and no such doctests.

use std::path::PathBuf;
use std::{env, fs};

/// The section's heading in the README.
const HEADING: &str = "## Server-initiated login";

fn main() -> std::io::Result<()> {
    let readme = PathBuf::from("../README.md");
    #[allow(clippy::print_stdout)] // Cargo reads a build script's instructions on stdout.
    {
        println!("cargo::rerun-if-changed={}", readme.display());
    }
    let text = fs::read_to_string(&readme).unwrap_or_default();
    let section = text
        .split_once(HEADING)
        .map(|(_, rest)| {
            rest.split_once("\n## ")
                .map_or(rest, |(section, _)| section)
        })
        .unwrap_or_default();
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    fs::write(
        out.join("readme_server_initiated.md"),
        section.replace("```rust,ignore", "```rust"),
    )
}
