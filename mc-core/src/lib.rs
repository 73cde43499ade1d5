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
//! DOC_EXAMPLE_PLACEHOLDER
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
pub mod endpoint;
pub mod error;
pub mod exchange;
pub mod id_token;
pub mod jwks;
pub mod metadata;
pub mod refetch;
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
pub use endpoint::Endpoint;
pub use exchange::{Exchange, TransportConfig, UnixTime};
pub use id_token::{IdToken, IdTokenClaims};
pub use jsonwebtoken::Algorithm;
pub use jwks::{Jwks, JwksExchange, KeyType, VerificationKey};
pub use metadata::{MetadataExchange, ProviderMetadata};
pub use refetch::{KeyRefetch, Outcome, Verified};
pub use registry::{Discovered, Endpoints, OperatorConfig, Policy, Profile, Registration};
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, Entropy, IdTokenJwt, Msisdn, Nonce, PkceVerifier,
    RefreshToken, State, SubscriberId,
};
pub use token::{TokenExchange, TokenResponse, Tokens};
pub use userinfo::{UserInfo, UserInfoExchange};
pub use wire::BasicAuthEncoding;
