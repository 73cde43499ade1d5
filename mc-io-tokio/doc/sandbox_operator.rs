// The sandbox operator for the README's server-initiated examples, which run as doctests of
// this crate (each includes this file in a hidden line): the in-process sandbox (package
// mc-sandbox) on 127.0.0.1 with the SP's key registered, a 1-second polling interval and its
// notifications kept for the example to hand over (`take_notifications`), and the operator
// context of its operator "alpha" from the provider metadata. It is not part of the library.

#[allow(dead_code)]
mod sandbox_operator {
    use mc_core::{
        Algorithm, ClientSecret, Discovered, OperatorConfig, Registration, SpSigningKey,
    };
    use mc_sandbox::SandboxServer;
    use mc_sandbox::sandbox::{SP_NOTIFICATION_URI, SP_REDIRECT_URI, SandboxConfig};

    type Error = Box<dyn std::error::Error>;

    /// The running sandbox and the context of its operator "alpha".
    pub async fn start(client: &mc_io_tokio::Client) -> Result<(SandboxServer, Discovered), Error> {
        let key = SpSigningKey::from_pem(
            Algorithm::RS256,
            mc_sandbox::fixture::RSA_B.as_bytes(),
            "sp-key-1",
        )?;
        let config = SandboxConfig::default()
            .sp_jwks(SpSigningKey::jwks([&key])?)
            .poll_interval(1)
            .deliver_notifications(false);
        let server = SandboxServer::start_with("127.0.0.1:0".parse()?, config)?;
        let sandbox = server.sandbox();
        let entry = OperatorConfig::new(Registration {
            operator_id: "alpha".to_owned(),
            client_id: "alpha-client-id".to_owned(),
            client_secret: ClientSecret::new(sandbox.client_secret("alpha").unwrap_or_default()),
            redirect_uri: SP_REDIRECT_URI.to_owned(),
        })?
        .issuer(sandbox.issuer("alpha"));
        let metadata = client.execute(entry.metadata_exchange()?).await?;
        let operator = entry
            .with_metadata(metadata)?
            .signing_key(key)
            .notification_uri(SP_NOTIFICATION_URI)?
            .build()?;
        Ok((server, operator))
    }
}
