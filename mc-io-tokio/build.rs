//! The README's sections on server-initiated login, refresh and revoke, the login service and
//! the demo show this crate at work, so their examples cannot run with the rest of the README (a
//! doctest of mc-core, which does not depend on the adapters): there they are fenced
//! `rust,ignore`, and this script copies those sections, fences opened as Rust, for `lib.rs` to
//! run as this crate's doctests. Outside the repository (a packaged crate) there is no README,
//! and no such doctests.

use std::path::PathBuf;
use std::{env, fs};

/// The sections' headings in the README (each runs to the next `## ` heading).
const HEADINGS: [&str; 4] = [
    "## Try the demo",
    "## Server-initiated login",
    "## Refresh and revoke",
    "## The login service",
];

fn main() -> std::io::Result<()> {
    let readme = PathBuf::from("../README.md");
    #[allow(clippy::print_stdout)] // Cargo reads a build script's instructions on stdout.
    {
        println!("cargo::rerun-if-changed={}", readme.display());
    }
    let text = fs::read_to_string(&readme).unwrap_or_default();
    let mut sections = String::new();
    for heading in HEADINGS {
        let section = text
            .split_once(heading)
            .map(|(_, rest)| {
                rest.split_once("\n## ")
                    .map_or(rest, |(section, _)| section)
            })
            .unwrap_or_default();
        sections.push_str(section);
        sections.push('\n');
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    fs::write(
        out.join("readme_sections.md"),
        sections.replace("```rust,ignore", "```rust"),
    )
}
