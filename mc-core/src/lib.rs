//! The sans-IO core of a GSMA Mobile Connect Service Provider (OpenID Connect relying party).
//! It decides every step of the login and verifies every answer, while the host (or an adapter
//! crate) moves the bytes, reads the clock and supplies randomness.
//!
//! # The flow
//!
//! ```text
//! static registry ─┐
//! discovery ───────┴─> Discovered ──authorize──> Authorizing ──callback──> CodeReceived
//!                                                                            │ token exchange
//!                      UserInfo <──userinfo / premiuminfo exchange── Tokens <┘ (id_token verified)
//! ```
//!
//! [`Discovered`] is the long-lived operator context (endpoints, credentials, metadata, keys),
//! shared by every login through that operator. [`Authorizing`] and [`CodeReceived`] are
//! per-login state: small, serializable, with no operator secret. Each transition consumes the
//! previous state, so a flow cannot skip a check.
//!
//! # The driver loop
//!
//! Every network step is an [`Exchange`]: send [`Exchange::request`] (no redirects followed, body
//! bounded), hand the whole response, whatever its status, to [`Exchange::respond`] with the
//! current time. Steps that verify signatures return [`Verified`]: `Done`, or `NeedJwks` when the
//! token names a key the context does not hold yet. Then the host MUST fetch the JWKS
//! ([`Discovered::jwks_exchange`]), store it ([`Discovered::set_jwks`]) and call `resume` on
//! the pending value, which never asks a second time.
//!
//! ```
//! use mc_core::{AuthorizeOptions, ClientSecret, Discovered, Exchange, OperatorConfig, UnixTime, Verified};
//!
//! # fn send(_: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> { http::Response::new(Vec::new()) }
//! # fn run() -> Result<(), mc_core::Error> {
//! let mut operator = Discovered::from_registry(
//!     OperatorConfig::new(
//!         "example-operator",
//!         "my-client-id",
//!         ClientSecret::new("my-client-secret"),
//!         "https://sp.example/callback",
//!         "https://op.example/authorize",
//!         "https://op.example/token",
//!     )?
//!     .issuer("https://op.example")
//!     .jwks("https://op.example/jwks")?
//!     .userinfo("https://op.example/userinfo")?,
//! );
//! let now = UnixTime::from_secs(1_790_000_000);
//! let mut rng = |buf: &mut [u8]| buf.fill(7); // use an OS CSPRNG in production
//!
//! // 1. Redirect the browser; keep `flow` (serializable) until the callback.
//! let (redirect, flow) = operator.authorize(AuthorizeOptions::new(), &mut rng, now)?;
//! assert!(redirect.as_str().starts_with("https://op.example/authorize?client_id="));
//!
//! // 2. The browser comes back to the redirect URI with `?code=...&state=...`.
//! let callback_query = format!("code=abc&state={}", flow.state().expose_secret());
//! let code = flow.callback(&operator, &callback_query, now)?;
//!
//! // 3. Exchange the code and verify the id_token, fetching the JWKS when asked to.
//! let exchange = code.token_exchange(&operator, now)?;
//! let request = exchange.request();
//! # if false {
//! let tokens = match exchange.respond(send(request), now)? {
//!     Verified::Done(tokens) => tokens,
//!     Verified::NeedJwks(pending) => {
//!         let jwks = operator.jwks_exchange()?;
//!         let keys = jwks.respond(send(jwks_request_of(&operator)), now)?;
//!         operator.set_jwks(keys, now);
//!         pending.resume(&operator, now)?
//!     }
//! };
//! // 4. The claims the user granted.
//! let userinfo = tokens.userinfo(&operator)?;
//! # }
//! # Ok(()) }
//! # fn jwks_request_of(_: &Discovered) -> http::Request<Vec<u8>> { http::Request::new(Vec::new()) }
//! # run().unwrap();
//! ```
//!
//! # What the crate never does
//! It opens no socket, reads no clock, environment or file, and draws no randomness of its own
//! (clippy's `disallowed-methods` enforces this). Secrets live in redacting newtypes
//! ([`ClientSecret`], [`AccessToken`], ...). Crypto goes through jsonwebtoken with the backend
//! chosen by this crate's features (`aws-lc-rs`, default, or `rust-crypto`), passed explicitly.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod authorize;
pub mod callback;
pub mod client_auth;
pub mod crypto;
pub mod discovery;
pub mod error;
pub mod exchange;
pub mod id_token;
pub mod jwks;
pub mod metadata;
pub mod registry;
pub mod secret;
pub mod token;
pub mod userinfo;
pub mod wire;

pub use authorize::{AuthorizationRedirect, AuthorizeOptions, Authorizing, LoginHint};
pub use callback::CodeReceived;
pub use client_auth::{ClientAssertionKey, ClientAuth};
pub use discovery::{
    DiscoveryAnswer, DiscoveryExchange, DiscoveryOutcome, DiscoveryQuery, DiscoveryService, MccMnc,
    SelectionReturn,
};
pub use error::{
    CallbackError, Error, ErrorClass, IdTokenError, JwtPart, MisuseError, OperatorError,
    ProtocolError,
};
pub use exchange::{Endpoint, Exchange, Resume, TransportConfig, UnixTime, Verified};
pub use id_token::{IdToken, IdTokenClaims};
pub use jsonwebtoken::Algorithm;
pub use jwks::{Jwks, JwksExchange, KeyType, VerificationKey};
pub use metadata::{MetadataExchange, ProviderMetadata};
pub use registry::{Discovered, Endpoints, OperatorConfig, Policy};
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, Entropy, IdTokenJwt, Msisdn, Nonce, PkceVerifier,
    RefreshToken, State, SubscriberId,
};
pub use token::{PendingTokens, TokenExchange, TokenResponse, Tokens};
pub use userinfo::{PendingUserInfo, UserInfo, UserInfoExchange};
pub use wire::BasicAuthEncoding;
