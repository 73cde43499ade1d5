//! Fuzz targets for mc-core's parsers. The bodies are plain functions in [`targets`], run on the
//! fixed login of [`fixture`] and seeded by [`seeds`]; all three are shared with the seed replay
//! test in mc-core (`mc-core/tests/fuzz_seeds.rs`).
#![forbid(unsafe_code)]

pub mod fixture;
pub mod seeds;
pub mod targets;
