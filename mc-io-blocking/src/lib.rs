//! Executes [mc_core] Mobile Connect exchanges over HTTP (ureq, blocking).
//! This crate is a placeholder until its adapter lands; it re-exports the core so that
//! dependants can already name it.
#![forbid(unsafe_code)]

pub use mc_core;
