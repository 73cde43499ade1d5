//! Cross-crate tests of mc-core and its adapters against the sandbox operator ([`mc_sandbox`]):
//! drivers that run a login through either adapter, a canned HTTP server for the adapters' own
//! tests, the interop provider, and [`SandboxExt`], which turns sandbox facts into mc-core
//! values.
#![forbid(unsafe_code)]

pub mod browser;
pub mod canned;
pub mod demo;
pub mod driver;
pub mod interop;
pub mod redis;
pub mod spans;

pub use mc_sandbox::{
    Fault, Handset, OPERATORS, OperatorInfo, Sandbox, SandboxServer, Target, keys, sandbox, server,
};

/// mc-core values for a sandbox: what an SP configures from the facts the sandbox prints.
pub trait SandboxExt {
    /// A registry entry for `operator` as an SP would configure it (issuer, all endpoints), with
    /// the sandbox's first registered redirect URI.
    ///
    /// # Errors
    /// Never for the built-in operators; the type is mc-core's.
    fn registry_entry(&self, operator: &str) -> Result<mc_core::OperatorConfig, mc_core::Error>;

    /// The SP's account at the sandbox discovery service.
    ///
    /// # Errors
    /// Never for a well-formed base URL.
    fn discovery_service(&self) -> Result<mc_core::DiscoveryService, mc_core::Error>;
}

impl SandboxExt for Sandbox {
    fn registry_entry(&self, operator: &str) -> Result<mc_core::OperatorConfig, mc_core::Error> {
        let info = Sandbox::operator(operator).ok_or(mc_core::MisuseError::InvalidParameter {
            name: "operator",
            reason: "no such sandbox operator",
        })?;
        let issuer = self.issuer(operator);
        mc_core::OperatorConfig::new(mc_core::Registration {
            operator_id: operator.to_owned(),
            client_id: info.client_id.to_owned(),
            client_secret: mc_core::ClientSecret::new(
                self.client_secret(operator).unwrap_or_default(),
            ),
            redirect_uri: self.redirect_uri().to_owned(),
        })?
        .issuer(issuer.clone())
        .authorization(&format!("{issuer}/authorize"))?
        .token(&format!("{issuer}/token"))?
        .jwks(&format!("{issuer}/jwks"))?
        .userinfo(&format!("{issuer}/userinfo"))?
        .premiuminfo(&format!("{issuer}/premiuminfo"))
        .map(|c| c.client_name("Sandbox Shop"))
    }

    fn discovery_service(&self) -> Result<mc_core::DiscoveryService, mc_core::Error> {
        mc_core::DiscoveryService::new(
            &self.discovery_url(),
            sandbox::DISCOVERY_CLIENT_ID,
            mc_core::ClientSecret::new(sandbox::DISCOVERY_CLIENT_SECRET),
            sandbox::SP_DISCOVERY_REDIRECT,
        )
    }
}
