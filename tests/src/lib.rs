//! The sandbox Mobile Connect operator: a discovery service and two operator gateways with
//! simulated handsets, usable in memory (it answers `http::Request` values directly) and over
//! loopback HTTP. The GSMA's online sandbox is gone; this one also has fault switches for tests.
#![forbid(unsafe_code)]

pub mod canned;
pub mod driver;
pub mod interop;
pub mod keys;
pub mod sandbox;
pub mod server;

pub use sandbox::{Fault, Handset, OPERATORS, OperatorInfo, Sandbox, Target};
pub use server::SandboxServer;
