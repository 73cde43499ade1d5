//! The sandbox Mobile Connect operator and the cross-crate end-to-end tests.
//! The sandbox lands with the adapters; for now this package only checks that the workspace
//! links together.
#![forbid(unsafe_code)]

pub use mc_core;
