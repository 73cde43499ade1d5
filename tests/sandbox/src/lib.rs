//! The sandbox Mobile Connect operator: a discovery service and two operator gateways with
//! simulated handsets, usable in memory (it answers `http::Request` values directly) and, with
//! the `server` feature, over loopback HTTP. The GSMA's online sandbox is gone; this one also has
//! fault switches for tests. It does not depend on mc-core, so that mc-core's own tests can use it.
//! The `mc-sandbox` binary serves it for an SP's own app, set up by flags or a config file
//! ([`SandboxConfig`]): `cargo run -p mc-sandbox -- --help`.
#![forbid(unsafe_code)]

pub mod fixture;
pub mod keys;
#[cfg(feature = "server")]
pub mod loopback;
pub mod sandbox;
#[cfg(feature = "server")]
pub mod server;

pub use sandbox::{
    Fault, FaultSwitch, Handset, OPERATORS, OperatorInfo, Sandbox, SandboxConfig, SelectionAnswer,
    Target,
};
#[cfg(feature = "server")]
pub use server::SandboxServer;
