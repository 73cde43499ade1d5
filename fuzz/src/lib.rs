//! Fuzz targets for mc-core's parsers. The bodies are plain functions in [`harness`], shared
//! with the seed replay test in mc-core (`mc-core/tests/fuzz_seeds.rs`).
#![forbid(unsafe_code)]

pub mod harness;
