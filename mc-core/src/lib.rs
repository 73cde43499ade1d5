//! The sans-IO core of a GSMA Mobile Connect Service Provider (OpenID Connect relying party).
//! It decides every step of the login and verifies every answer, while the host (or an adapter
//! crate) moves the bytes, reads the clock and supplies randomness.
//!
//! # The flow
//!
//! ```text
//! static registry ─┐
//! metadata ────────┼─ OperatorConfig ──build──> Discovered ──authorize──> Authorizing
//! discovery ───────┘    (refused if it could       │ (shared,                  │ callback
//!                        not finish a login)       │  Send + Sync)             v
//!     UserInfo <──userinfo / premiuminfo (borrows Tokens)── Tokens <──token── CodeReceived
//!                                                  (id_token verified; an unknown kid
//!                                                   pauses as a KeyRefetch step)
//!
//! server-initiated (Mobile Connect SI, OpenID CIBA), no browser:
//!   Discovered ──si_authorize / ciba_authorize──> BackchannelPending
//!                 ──accept(Notification) | poll──> Tokens (verified as above)
//! ```
//!
//! [`Discovered`] is the operator context ("the operator is known"): endpoints, credentials,
//! metadata, [`Profile`] and keys, built by [`OperatorConfig::build`] whatever the facts came
//! from (a registry entry, the operator's metadata, a discovery answer). It is `Send + Sync`,
//! cheap to clone (clones share it), and shared by every login through that operator: nothing
//! borrows it across network IO, and a refetched key set is swapped in through `&self`.
//! [`Authorizing`], [`CodeReceived`] and [`BackchannelPending`] are per-login state: small,
//! serializable, with no operator secret. Each transition consumes the previous state, so a flow cannot skip a check.
//!
//! # The driver loop
//!
//! Every network step is an [`Exchange`]: send [`Exchange::request`] (no redirects followed, body
//! bounded), hand the whole response, whatever its status, to [`Exchange::respond`] with the
//! current time. Steps that verify signatures return [`Verified`]: `Done`, or `NeedJwks` with a
//! [`KeyRefetch`] when the token names a key the context does not hold yet. The refetch is an
//! exchange too: send its request (the JWKS GET) and hand it the answer; it stores the new keys
//! in the shared context and returns the verified value. It never asks a second time, and there
//! is no other way to finish the paused step. The adapter crates (`mc-io-tokio`,
//! `mc-io-blocking`) run all of this in one `execute` call per step.
//!
//! A whole login against a canned in-memory operator (`send` answers like the operator's HTTP
//! endpoints, `browser` plays the user approving on the handset):
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/canned_operator.rs"));
//! # use canned::{browser, rng, send};
//! use mc_core::{
//!     AuthorizeOptions, ClientSecret, Exchange, OperatorConfig, Registration, Verified,
//! };
//!
//! # fn main() -> Result<(), mc_core::Error> {
//! // Once per operator, at startup: the context every login shares.
//! let operator = OperatorConfig::new(Registration {
//!     operator_id: "example-operator".to_owned(),
//!     client_id: "my-client-id".to_owned(),
//!     client_secret: ClientSecret::new("my-client-secret"),
//!     redirect_uri: "https://sp.example/callback".to_owned(),
//! })?
//! .issuer("https://op.example")
//! .authorization("https://op.example/authorize")?
//! .token("https://op.example/token")?
//! .jwks("https://op.example/jwks")?
//! .userinfo("https://op.example/userinfo")?
//! .build()?;
//! let now = canned::now();
//!
//! // 1. Redirect the browser; keep `flow` (serializable, no operator secret) until the callback.
//! let (redirect, flow) = operator.authorize(AuthorizeOptions::new(), &mut rng, now)?;
//! assert!(redirect.as_str().starts_with("https://op.example/authorize?client_id=my-client-id"));
//! assert!(redirect.as_str().contains("&acr_values=2&"));
//!
//! // 2. The browser comes back to the redirect URI with `?code=...&state=...`.
//! let query = browser(redirect.as_str());
//! let code = flow.callback(&operator, &query, now)?;
//!
//! // 3. Exchange the code and verify the id_token. The context holds no keys yet, so the
//! //    operator's key set is fetched first, as a step of its own.
//! let exchange = code.token_exchange(&operator, now)?;
//! let response = send(exchange.request());
//! let tokens = match exchange.respond(response, now)? {
//!     Verified::Done(tokens) => tokens,
//!     Verified::NeedJwks(refetch) => {
//!         assert_eq!(refetch.jwks_uri(), "https://op.example/jwks");
//!         let response = send(refetch.request());
//!         refetch.respond(response, now)? // stores the keys in `operator`, then verifies
//!     }
//! };
//! assert_eq!(tokens.sub(), canned::PCR);
//! assert_eq!(tokens.id_token().acr(), Some("2"));
//! assert_eq!(operator.jwks().keys().len(), 1);
//!
//! // 4. The claims the user granted; `tokens` stay usable afterwards.
//! let exchange = tokens.userinfo(&operator)?;
//! let response = send(exchange.request());
//! let userinfo = match exchange.respond(response, now)? {
//!     Verified::Done(userinfo) => userinfo,
//!     Verified::NeedJwks(refetch) => {
//!         let response = send(refetch.request());
//!         refetch.respond(response, now)?
//!     }
//! };
//! assert_eq!(userinfo.phone_number(), Some(canned::PHONE));
//! assert_eq!(userinfo.sub(), tokens.sub());
//! # Ok(()) }
//! ```
//!
//! A paused step cannot be finished without the keys its refetch brings: it has no `resume`.
//!
//! ```compile_fail,E0599
//! # fn paused(refetch: mc_core::KeyRefetch<mc_core::Tokens>, operator: &mc_core::Discovered) {
//! let tokens = refetch.resume(operator, mc_core::UnixTime::from_secs(0));
//! # }
//! ```
//!
//! # Discovery and the operator selection page
//! [`DiscoveryService::discover`] answers `Found` (a [`DiscoveryAnswer`], whose
//! [`OperatorConfig::from_discovery`] feeds the same builder) or `OperatorSelection { url, leg }`:
//! send the browser to `url` and keep `leg` ([`SelectionLeg`]) for that browser only, like the
//! per-login state; [`SelectionReturn::parse`] requires it (once, before it expires), so an
//! unsolicited return cannot plant another subscriber's `subscriber_id` in this browser's login.
//! Every URL from discovery, metadata and `Location` must be https (or a loopback IP literal)
//! unless the entry opts in with `allow_plain_http`.
//!
//! # Server-initiated login
//! [`server_initiated`] has the Mobile Connect SI and OpenID CIBA flows, the host's duties in
//! each mode, and a whole polling login as an example. The SP's own key ([`SpSigningKey`], in
//! the context through [`OperatorConfig::signing_key`]) signs their request objects and
//! `private_key_jwt` assertions, and [`SpSigningKey::jwks`] is the document the SP publishes.
//!
//! # Layout
//! One module per protocol step (`registry`, `discovery`, `metadata`, `jwks`, `authorize`,
//! `callback`, `token`, `id_token`, `userinfo`, `refetch`, `server_initiated` with its start,
//! notification and poll steps), plus `signing_key` (the SP's key), `jws` (compact JWS: header
//! rules, algorithm allow-list, key choice and signature, shared by the id_token and signed
//! userinfo), `wire` (what goes on the wire, with `wire::lenient`, the one lenient JSON reader),
//! `secret`, `error`, `endpoint`, `crypto` and `exchange`. The rule: each transition lives in the
//! file of the step it performs (`Authorizing::callback` in `callback.rs`,
//! `CodeReceived::token_exchange` in `token.rs`, `Tokens::userinfo` in `userinfo.rs`).
//!
//! # What the crate never does
//! It opens no socket, reads no clock, environment or file, and draws no randomness of its own
//! (clippy's `disallowed-methods` enforces this). Secrets live in redacting newtypes
//! ([`ClientSecret`], [`AccessToken`], ...); an emitted request is logged through [`redacted`],
//! never with `{:?}` (its body holds the code and credentials). Crypto goes through jsonwebtoken
//! with the backend chosen by this crate's features (`aws-lc-rs`, default, or `rust-crypto`),
//! passed explicitly.
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
mod jws;
pub mod kyc;
pub mod metadata;
pub mod otp;
pub mod refetch;
pub mod refresh;
pub mod registry;
pub mod revoke;
pub mod secret;
pub mod server_initiated;
pub mod signing_key;
pub mod token;
pub mod userinfo;
pub mod wire;

// The README's examples run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub use authorize::{AuthorizationRedirect, AuthorizeOptions, Authorizing, LoginHint};
pub use callback::CodeReceived;
pub use client_auth::ClientAuth;
pub use discovery::{
    DiscoveryAnswer, DiscoveryExchange, DiscoveryOutcome, DiscoveryQuery, DiscoveryService, MccMnc,
    SelectionLeg, SelectionReturn,
};
pub use endpoint::Endpoint;
pub use error::{
    BackchannelError, CallbackError, Error, ErrorClass, IdTokenError, JwtPart, MissingSetting,
    MisuseError, OperatorError, ProtocolError,
};
pub use exchange::{Exchange, TransportConfig, UnixTime};
pub use id_token::{IdToken, IdTokenClaims};
pub use jsonwebtoken::Algorithm;
pub use jwks::{Jwks, JwksExchange, KeyType, VerificationKey};
pub use kyc::{
    DefaultNormalisation, KycAttribute, KycMatch, KycMode, KycRequestError, KycResult,
    KycResultError, MatchCode, Normalisation,
};
pub use metadata::{MetadataExchange, ProviderMetadata};
pub use otp::{OtpChallenge, OtpError, OtpSettings, OtpStartExchange, OtpVerifyExchange};
pub use refetch::{KeyRefetch, Outcome, Verified};
pub use refresh::RefreshExchange;
pub use registry::{
    Discovered, Endpoints, MessageLimits, OperatorConfig, Policy, Profile, Registration,
};
pub use revoke::{RevokeExchange, TokenKind};
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, DataToBeSigned, Entropy, IdTokenJwt,
    LoginHintToken, Msisdn, Nonce, NotificationToken, OtpCode, OtpReference, PkceVerifier,
    RedactedRequest, RefreshToken, State, SubscriberId, redacted,
};
pub use server_initiated::{
    BackchannelMode, BackchannelPending, BackchannelStart, CibaLoginHint, CibaRequest, CibaStart,
    Notification, Notified, Poll, PollExchange, SiRequest, SiStart, SiTransport,
    notification_response,
};
pub use signing_key::SpSigningKey;
pub use token::{TokenExchange, TokenResponse, Tokens};
pub use userinfo::{UserInfo, UserInfoExchange};
pub use wire::BasicAuthEncoding;
