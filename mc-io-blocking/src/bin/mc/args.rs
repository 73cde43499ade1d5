//! The command line (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  2  misconfigured: bad arguments or configuration, a misuse of the library
  3  refused: the operator or the user said no (an OAuth error such as access_denied)
  4  misbehaving: a protocol violation, a token that fails verification, bad metadata
  5  transport: connection, timeout, TLS (or no callback or handset answer before --timeout)

Secrets are read from the environment (--secret-env) or files (--secret-file, --key), never
from the command line. With --json, stdout is one object: command, outcome, exit_code, result,
findings, error (see the README).";

/// Test a Mobile Connect (or OpenID Connect) operator integration.
#[derive(Debug, Parser)]
#[command(name = "mc", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// Print one JSON object on stdout (stable fields, for scripts) instead of a summary.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Log in through the operator with a loopback listener as the redirect URI, verify
    /// everything, fetch userinfo and print the verified identity.
    Login(LoginArgs),
    /// Run discovery and print the operator context it would build (never the secret).
    Discover(DiscoverArgs),
    /// Fetch and check an issuer's provider metadata and JWKS; print findings.
    Metadata(MetadataArgs),
    /// Print a JWT's header and claims WITHOUT verifying anything.
    Decode(DecodeArgs),
    /// Verify an id_token with the library's rules (signature, iss, aud/azp, exp/nbf/iat,
    /// nonce).
    Verify(VerifyArgs),
}

/// Token-endpoint client authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuthMethod {
    /// client_secret_basic (the Mobile Connect default).
    Basic,
    /// client_secret_post.
    Post,
    /// private_key_jwt with --key.
    #[value(name = "private_key_jwt")]
    PrivateKeyJwt,
}

/// The operator profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProfileArg {
    /// GSMA Mobile Connect (acr_values sent and checked, version sent).
    Mc,
    /// Plain OpenID Connect.
    Oidc,
}

/// Where the client secret comes from.
#[derive(Debug, Args)]
pub(crate) struct SecretArgs {
    /// The environment variable holding the client secret.
    #[arg(long, value_name = "VAR")]
    pub(crate) secret_env: Option<String>,
    /// A file holding the client secret (one line; surrounding whitespace is trimmed).
    #[arg(long, value_name = "FILE", conflicts_with = "secret_env")]
    pub(crate) secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The operator's issuer (its metadata is read from ISSUER/.well-known/openid-configuration).
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    pub(crate) issuer: Option<String>,
    /// The client_id the operator registered.
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    pub(crate) client_id: Option<String>,
    #[command(flatten)]
    pub(crate) secret: SecretArgs,
    /// The SP's private key (PEM): for private_key_jwt, and the signed request object of
    /// Mobile Connect SI (--server-initiated). With a client secret too, the token endpoint
    /// still gets the secret unless --auth private_key_jwt.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// The key's algorithm (RS256, PS256, ES256, ...).
    #[arg(long, default_value = "RS256", requires = "key")]
    pub(crate) key_alg: String,
    /// The key's kid, as the operator knows it.
    #[arg(long, default_value = "mc", requires = "key")]
    pub(crate) key_id: String,
    /// Token-endpoint authentication (default: basic with a client secret, else
    /// private_key_jwt with --key).
    #[arg(long, value_enum)]
    pub(crate) auth: Option<AuthMethod>,
    /// Scopes, space-separated (default: the profile's, `openid mc_authn` for Mobile Connect).
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// The level of assurance to ask for.
    #[arg(long, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub(crate) acr: Option<u8>,
    /// The login hint: MSISDN:<digits>, ENCR_MSISDN:<id> or PCR:<sub>.
    #[arg(long, value_name = "HINT")]
    pub(crate) login_hint: Option<String>,
    /// The operator profile (default: from the metadata).
    #[arg(long, value_enum)]
    pub(crate) profile: Option<ProfileArg>,
    /// The login service's configuration file (TOML or JSON), instead of --issuer/--client-id.
    #[arg(long, value_name = "FILE", requires = "operator")]
    pub(crate) config: Option<PathBuf>,
    /// The operator's id in --config (its key under [operators]).
    #[arg(long, value_name = "ID", requires = "config")]
    pub(crate) operator: Option<String>,
    /// The listener's port on 127.0.0.1; the redirect URI is http://127.0.0.1:PORT/callback
    /// (0: any free port), the notification URI of --notify http://127.0.0.1:PORT/notify.
    /// Default 8765, or the port of a loopback redirect_uri in --config.
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// The redirect URI to send instead of the listener's (a registered URI whose callback a
    /// tunnel or proxy forwards to the listener).
    #[arg(long, value_name = "URL")]
    pub(crate) redirect_uri: Option<String>,
    /// How long to wait for the callback (or the handset's answer), in seconds.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout: u64,
    /// Open the authorization URL in the system's browser.
    #[arg(long, conflicts_with = "server_initiated")]
    pub(crate) open: bool,
    /// A server-initiated login instead of the browser one: the operator asks the subscriber
    /// named by --login-hint (required) on the handset. OpenID CIBA when the metadata names a
    /// backchannel_authentication_endpoint, else Mobile Connect SI (which needs --key).
    #[arg(long)]
    pub(crate) server_initiated: bool,
    /// Which server-initiated flavour, when the operator has both.
    #[arg(long, value_enum, requires = "server_initiated")]
    pub(crate) si_flavour: Option<SiFlavour>,
    /// Take the answer as a notification to the listener (http://127.0.0.1:PORT/notify) instead
    /// of polling: Mobile Connect SI notification mode, or OpenID CIBA ping mode (the operator
    /// pings the notification endpoint registered for the client).
    #[arg(long, requires = "server_initiated")]
    pub(crate) notify: bool,
}

/// The server-initiated protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SiFlavour {
    /// OpenID CIBA (backchannel_authentication_endpoint): poll, or ping with --notify.
    Ciba,
    /// Mobile Connect SI (si_authorization_endpoint, a request object signed with --key):
    /// mc_si_polling, or mc_si_async_code with --notify.
    Mc,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["msisdn", "mcc_mnc"])))]
pub(crate) struct DiscoverArgs {
    /// The discovery endpoint.
    #[arg(long, value_name = "URL")]
    pub(crate) discovery_url: String,
    /// The SP's discovery client_id.
    #[arg(long)]
    pub(crate) client_id: String,
    #[command(flatten)]
    pub(crate) secret: SecretArgs,
    /// The subscriber's number (E.164 digits).
    #[arg(long, value_name = "N")]
    pub(crate) msisdn: Option<String>,
    /// The operator's MCC_MNC (e.g. 234_15).
    #[arg(long, value_name = "MCC_MNC")]
    pub(crate) mcc_mnc: Option<String>,
    /// The discovery Redirect_URL, and the redirect URI of the context built.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8765/callback"
    )]
    pub(crate) redirect_uri: String,
}

#[derive(Debug, Args)]
pub(crate) struct MetadataArgs {
    /// The issuer (its metadata is read from ISSUER/.well-known/openid-configuration).
    pub(crate) issuer: String,
}

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The JWT (compact serialization), or `-` to read it from stdin.
    pub(crate) jwt: String,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The id_token (compact serialization), or `-` to read it from stdin.
    pub(crate) jwt: String,
    /// The issuer the token must name exactly.
    #[arg(long)]
    pub(crate) issuer: String,
    /// Our client_id (in `aud`; `azp` when present).
    #[arg(long)]
    pub(crate) client_id: String,
    /// The operator's keys: a JWKS file, or an http(s) URL.
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) jwks: String,
    /// The nonce the login sent (the token must carry it).
    #[arg(long)]
    pub(crate) nonce: Option<String>,
    /// Clock leeway in seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) leeway: u64,
    /// The client secret, for HS256/384/512 tokens (allowed only with it).
    #[arg(long, value_name = "VAR")]
    pub(crate) secret_env: Option<String>,
}
