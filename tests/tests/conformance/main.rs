//! The relying-party conformance matrix (`../shared/protocol/RP-CONFORMANCE.md`): one test per
//! case marked `core` or `optional` that applies to a code-flow Mobile Connect SP, named after
//! the case id (`rp-id_token-aud` -> `rp_id_token_aud`), plus `x_*` tests for the extra cases
//! and attacks the document names (`x-id_token-expired`, `x-acr-downgrade`, RFC 9207, RFC 9700
//! code injection, RFC 8725). Each makes the sandbox operator misbehave in exactly that way
//! (`Sandbox::set_operator_fault`) and checks the outcome through the public API only: accepted
//! where the case says accept, the exact mc-core error variant where it says reject, and, after
//! a rejected id_token, **no further request** (the sandbox's request log ends with the token
//! request, or with the one JWKS refetch an unknown `kid` allows). Every test runs through both
//! adapters (`<area>::blocking_adapter::*`, `<area>::tokio_adapter::*`) over loopback HTTP, the
//! pure id_token cases included: the refetch is driven by the adapter, and a case is cheap.
//!
//! The cases are tables, one module per protocol step (`id_token`, `userinfo`, `callback`,
//! `client_auth`, `discovery_and_keys`, and `code_flow` for what every request carries). A row
//! of a table ([`cases!`]) names the case, the operators, the edits of the SP's context, and
//! for each login its misbehaviour ([`Step`]) and the expected outcome as a pattern; one `check`
//! function per kind of case runs a row and asserts what every case of that kind must hold.
//! The few cases that drive the flow by hand stay functions.
//!
//! Operators: `alpha` signs RS256 and answers userinfo as JSON; `beta` signs ES256 and answers
//! userinfo as a signed JWT. Time-boundary tokens are dated by the sandbox's clock when it builds
//! them (`IdTokenMutation::ClaimFromNow`), the same system clock the adapters hand the core, with
//! a 5 s margin on each side of the 30 s default leeway.
//!
//! Cases of the document that get no test here, and why:
//!
//! - `rp-response_type-code+id_token`, `rp-response_type-code+id_token+token`,
//!   `rp-response_type-code+token`: hybrid flows; mc-core only sends `response_type=code`.
//! - `rp-response_type-id_token`, `rp-response_type-id_token+token`: implicit flows (RFC 9700
//!   2.1.2: not offered).
//! - `rp-id_token-bad-at_hash`, `rp-id_token-missing-at_hash`: front-channel access tokens
//!   (implicit/hybrid). The code-flow counterparts are tested: `x_id_token_bad_at_hash` (a
//!   present `at_hash` is checked) and `x_id_token_missing_at_hash_mc_di` (the MC DI profile
//!   requires it).
//! - `rp-id_token-bad-c_hash`, `rp-id_token-missing-c_hash`: hybrid only.
//! - `rp-discovery-webfinger-acct`, `rp-discovery-webfinger-http-href`,
//!   `rp-discovery-webfinger-unknown-member`, `rp-discovery-webfinger-url`: WebFinger; Mobile
//!   Connect has its own discovery (tested in `end_to_end.rs`).
//! - `rp-registration-dynamic`: MC credentials come from the operator or discovery.
//! - `rp-init-logout-session`, `rp-frontchannel-rpinitlogout`, the eight
//!   `rp-backchannel-rpinitlogout*` cases, `oidcc-client-test-rp-frontchannel-opinitlogout`:
//!   session management and logout; Mobile Connect has none and mc-core implements none.
//! - `rp-3rd_party-init-login`: no third-party-initiated login entry point.
//! - `oidcc-client-test-mtls-endpoint-aliases`: no mTLS client authentication.
//!
//! Optional cases whose feature mc-core does not implement (no test can pass them; where the
//! library's refusal is the safe behaviour, a test pins it down):
//!
//! - `rp-id_token-sig+enc`, `rp-id_token-sig+enc-a128kw`: encrypted id_tokens are not
//!   supported; a JWE is refused as `Malformed { part: Structure }`
//!   (`rp_id_token_sig_enc_unsupported_is_refused`).
//! - `rp-userinfo-enc`, `rp-userinfo-sig+enc`: encrypted userinfo likewise refused
//!   (`rp_userinfo_enc_unsupported_is_refused`).
//! - `rp-claims-aggregated`, `rp-claims-distributed`: not resolved; the raw `_claim_names` /
//!   `_claim_sources` members stay raw, nothing from them is merged as a claim and nothing is
//!   fetched (`rp_claims_aggregated_unsupported_stays_raw`,
//!   `rp_claims_distributed_unsupported_not_fetched`).
//! - `rp-userinfo-bearer-body`: mc-core sends the access token in the `Authorization` header
//!   only (RFC 6750 2.1), never in a body or query (`rp_userinfo_bearer_header`).
//! - `rp-token_endpoint-client_secret_jwt`: not offered (`ClientAuth` has Basic, post and
//!   `private_key_jwt`).
//! - `rp-key-rotation-op-enc-key`, `rp-request_uri-enc`, `rp-request_uri-sig`,
//!   `rp-request_uri-sig+enc`, `rp-request_uri-unsigned`: no request objects, nothing is
//!   encrypted to the operator.
//! - `rp-init-logout`, `rp-init-logout-no-state`, `rp-init-logout-other-state`: no logout in
//!   Mobile Connect.
//! - `oidcc-client-test-refresh-token` (marked core): the refresh grant (`Tokens::refresh`) is
//!   tested through both adapters against the sandbox in `tests/tests/refresh_revoke.rs` and
//!   rule by rule in `mc-core/tests/refresh.rs`; against oidc-provider it is still to come.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mc_core::{
    AuthorizeOptions, ClientAuth, ClientSecret, Discovered, Error, LoginHint, MetadataExchange,
    Msisdn, OperatorConfig, Policy, Registration, Tokens,
};
use mc_tests::driver::{self, Blocking, Driver, Failure, Tokio};
use mc_tests::sandbox::{LoggedRequest, SP_REDIRECT_URI};
use mc_tests::{
    Fault, Handset, OPERATORS, OperatorInfo, Sandbox, SandboxExt as _, SandboxServer, Target,
};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(5);
const BODY_LIMIT: usize = 256 * 1024;
/// The default leeway of `mc_core::Policy`.
const LEEWAY: i64 = 30;
/// How far from the leeway boundary the time cases stay (clock reads around a request).
const MARGIN: i64 = 5;

fn blocking() -> Blocking {
    Blocking::new(TIMEOUT, BODY_LIMIT)
}

fn tokio() -> Tokio {
    Tokio::new(TIMEOUT, BODY_LIMIT).unwrap()
}

/// A table of cases. Each row
///
/// ```text
/// case_id at ["alpha", "beta"]: edit, edit { steps => outcome, ... } edit { ... };
/// ```
///
/// becomes `fn case_id<D: Driver>(d: &D)`: at each operator a fresh [`Case`], then each phase in
/// order: its edits (methods of `Case`, run before the phase's logins), then each line
/// `steps => outcome`: each step (one, or an array of them that share the outcome) is run by
/// `$check`, which asserts what holds for every case of its kind and returns the outcome, and
/// the outcome must match the pattern (guard included). `$c` names the case in the steps and
/// patterns. The module lists the functions in `through_both_adapters!`, which makes the
/// `#[test]`s.
macro_rules! cases {
    ($check:path, $c:ident; $(
        $(#[$doc:meta])*
        $case:ident at [$($operator:literal),+]:
        $( $($edit:ident),* { $( $steps:expr => $outcome:pat $(if $guard:expr)? ),+ $(,)? } )+;
    )+) => {$(
        $(#[$doc])*
        // `Ok(_)` is a row's outcome like any other pattern.
        #[allow(clippy::redundant_pattern_matching)]
        fn $case<D: $crate::Driver>(d: &D) {
            for operator in [$($operator),+] {
                let case = &mut $crate::Case::new(d, operator);
                $(
                    $(case.$edit();)*
                    let $c = &*case;
                    $(for step in $crate::Steps::into_steps($steps) {
                        let outcome = $check($c, step);
                        assert!(
                            matches!(&outcome, $outcome $(if $guard)?),
                            "expected {}, got {outcome:?}",
                            stringify!($outcome $(if $guard)?),
                        );
                    })+
                )+
            }
        }
    )+};
}

mod callback;
mod client_auth;
mod code_flow;
mod discovery_and_keys;
mod id_token;
mod userinfo;

// ---------------------------------------------------------------------------------------------
// The harness: one sandbox and one operator context per case.
// ---------------------------------------------------------------------------------------------

struct Case<'d, D: Driver> {
    d: &'d D,
    server: SandboxServer,
    name: &'static str,
    index: usize,
    /// What the context is built from: the registry entry (maybe edited), with the metadata
    /// once fetched. A context is immutable, so an edit builds a new one from this.
    config: OperatorConfig,
    op: Discovered,
}

impl<'d, D: Driver> Case<'d, D> {
    /// A fresh sandbox and `name`'s registry entry with provider metadata and the JWKS fetched,
    /// so that a rejected id_token is judged without a refetch.
    fn new(d: &'d D, name: &'static str) -> Self {
        let server = SandboxServer::start().unwrap();
        let index = OPERATORS.iter().position(|o| o.name == name).unwrap();
        let config = server.sandbox().registry_entry(name).unwrap();
        let op = config.clone().build().unwrap();
        let mut case = Self {
            d,
            server,
            name,
            index,
            config,
            op,
        };
        case.fetch_metadata();
        case
    }

    /// The provider metadata and the keys fetched into the context.
    fn fetch_metadata(&mut self) {
        let metadata = self
            .d
            .execute(self.config.metadata_exchange().unwrap())
            .unwrap();
        self.config = self.config.clone().with_metadata(metadata).unwrap();
        self.rebuild();
        self.fetch_jwks();
    }

    /// Build the context again from `self.config`, keeping the keys the old one held (and when
    /// they were fetched).
    fn rebuild(&mut self) {
        let old = std::mem::replace(&mut self.op, self.config.clone().build().unwrap());
        if let Some(fetched_at) = old.jwks_fetched_at() {
            self.op.set_jwks(old.jwks(), fetched_at);
        }
    }

    /// Edit: fetch the operator's key set into the context now.
    fn fetch_jwks(&self) {
        let keys = self.d.execute(self.op.jwks_exchange().unwrap()).unwrap();
        self.op.set_jwks(keys, self.d.now());
    }

    /// Edit: the registry entry as it is now (e.g. after a new client secret), metadata and keys
    /// fetched again.
    fn reload(&mut self) {
        self.config = self.sandbox().registry_entry(self.name).unwrap();
        self.op = self.config.clone().build().unwrap();
        self.fetch_metadata();
    }

    /// Edit: the registry entry alone, without provider metadata (the operator's RFC 9207
    /// announcement unknown), keys fetched.
    fn without_metadata(&mut self) {
        self.config = self.sandbox().registry_entry(self.name).unwrap();
        self.op = self.config.clone().build().unwrap();
        self.fetch_jwks();
    }

    /// The same operator with an edited policy (fixed when a context is built).
    fn set_policy(&mut self, edit: impl FnOnce(&mut Policy)) {
        let mut policy = self.op.policy().clone();
        edit(&mut policy);
        self.config = self.config.clone().policy(policy);
        self.rebuild();
    }

    fn sandbox(&self) -> &Sandbox {
        self.server.sandbox()
    }

    fn fault(&self, target: Target, fault: Fault) {
        self.sandbox().set_operator_fault(self.name, target, fault);
    }

    fn issuer(&self) -> String {
        self.sandbox().issuer(self.name)
    }

    fn client_id(&self) -> &'static str {
        OPERATORS[self.index].client_id
    }

    fn client_secret(&self) -> Option<String> {
        self.sandbox().client_secret(self.name)
    }

    /// What the operator handed the SP, and no endpoint: the start of the plain OpenID path
    /// (the endpoints then come from the metadata).
    fn registration(&self) -> Result<OperatorConfig, Error> {
        OperatorConfig::new(Registration {
            operator_id: self.name.to_owned(),
            client_id: self.client_id().to_owned(),
            client_secret: ClientSecret::new(self.client_secret().unwrap()),
            redirect_uri: SP_REDIRECT_URI.to_owned(),
        })
    }

    fn msisdn(&self, handset: Handset) -> &'static str {
        subscriber(&OPERATORS[self.index], handset)
    }

    /// The approving subscriber's phone number, as the operator's claims carry it.
    fn phone(&self) -> String {
        format!("+{}", self.msisdn(Handset::Approve))
    }

    /// Login options for the subscriber whose handset behaves so.
    fn login_as(&self, handset: Handset) -> AuthorizeOptions {
        AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(self.msisdn(handset))))
    }

    /// Login options for the approving subscriber.
    fn approve(&self) -> AuthorizeOptions {
        self.login_as(Handset::Approve)
    }

    /// Login options for the subscriber whose handset has no PIN (LoA 2 whatever is asked).
    fn no_pin(&self) -> AuthorizeOptions {
        self.login_as(Handset::NoPin)
    }

    /// Login options for the declining subscriber.
    fn decline(&self) -> AuthorizeOptions {
        self.login_as(Handset::Decline)
    }

    fn login(&self, options: AuthorizeOptions) -> Result<Tokens, Failure> {
        driver::login(self.d, &self.op, options)
    }

    /// Run `login` with these faults switched on and every other one off; then the operator
    /// behaves again (for the edits and steps that follow).
    fn misbehaving<T>(&self, faults: &[(Target, Fault)], login: impl FnOnce() -> T) -> T {
        self.sandbox().clear_faults();
        for (target, fault) in faults {
            self.fault(*target, fault.clone());
        }
        let result = login();
        self.sandbox().clear_faults();
        result
    }

    /// Where the request log stands now.
    fn mark(&self) -> usize {
        self.sandbox().request_log().len()
    }

    /// The requests served since `mark`.
    fn since(&self, mark: usize) -> Vec<String> {
        self.sandbox().request_log()[mark..].to_vec()
    }

    /// The logged requests (whole) since `mark`.
    fn requests_since(&self, mark: usize) -> Vec<LoggedRequest> {
        self.sandbox().requests()[mark..].to_vec()
    }

    fn path(&self, endpoint: &str) -> String {
        format!("/op/{}/{endpoint}", self.name)
    }

    fn get(&self, endpoint: &str) -> String {
        format!("GET {}", self.path(endpoint))
    }

    fn post(&self, endpoint: &str) -> String {
        format!("POST {}", self.path(endpoint))
    }
}

/// The MSISDN of the operator's test subscriber whose handset behaves so.
fn subscriber(operator: &OperatorInfo, handset: Handset) -> &'static str {
    operator
        .subscribers
        .iter()
        .find(|(_, h)| *h == handset)
        .map(|(m, _)| *m)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Steps: what one login of a row does.
// ---------------------------------------------------------------------------------------------

/// One login of a row: its options, how the operator misbehaves during it, and what the SP
/// does differently. Built from a fault (`IdTokenMutation` for the token endpoint,
/// `CallbackMutation` for the authorize endpoint, or `(Target, Fault)`) with [`step`], or as
/// served with [`as_served`].
#[derive(Default)]
struct Step {
    /// The login's options (`None`: the approving subscriber's).
    options: Option<AuthorizeOptions>,
    /// The faults switched on during this step; every other one is off.
    faults: Vec<(Target, Fault)>,
    /// How many JWKS fetches the login makes after the token response.
    jwks: usize,
    /// How the SP authenticates at the token endpoint (`None`: the registry's, HTTP Basic).
    client_auth: Option<ClientAuth>,
    /// The SP's signing key for `private_key_jwt` (`None`: the registry's, none).
    signing_key: Option<mc_core::SpSigningKey>,
    /// Ask premium info instead of userinfo after the login (the userinfo table).
    premiuminfo: bool,
    /// Userinfo answers JSON for the logged-in `sub` with these members (the userinfo table).
    userinfo_members: Option<Value>,
}

impl Step {
    /// With these login options.
    fn options(mut self, options: AuthorizeOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// With this fault as well.
    fn and(mut self, (target, fault): (Target, Fault)) -> Self {
        self.faults.push((target, fault));
        self
    }

    /// Making this many JWKS fetches.
    fn jwks(mut self, fetches: usize) -> Self {
        self.jwks = fetches;
        self
    }

    /// With this client authentication.
    fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = Some(auth);
        self
    }

    /// With this SP signing key.
    fn signing_key(mut self, key: mc_core::SpSigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// The login's options.
    fn options_at<D: Driver>(&self, c: &Case<'_, D>) -> AuthorizeOptions {
        self.options.clone().unwrap_or_else(|| c.approve())
    }

    /// Whether the token endpoint misbehaves in this step.
    fn edits_token_response(&self) -> bool {
        self.faults
            .iter()
            .any(|(target, _)| *target == Target::Token)
    }
}

/// A login with this fault.
fn step(fault: impl Into<Step>) -> Step {
    fault.into()
}

/// A login with nothing edited.
fn as_served() -> Step {
    Step::default()
}

impl From<(Target, Fault)> for Step {
    fn from(fault: (Target, Fault)) -> Self {
        Self::default().and(fault)
    }
}

impl From<mc_tests::sandbox::IdTokenMutation> for Step {
    fn from(mutation: mc_tests::sandbox::IdTokenMutation) -> Self {
        (Target::Token, Fault::IdToken(mutation)).into()
    }
}

impl From<mc_tests::sandbox::CallbackMutation> for Step {
    fn from(mutation: mc_tests::sandbox::CallbackMutation) -> Self {
        (Target::Authorize, Fault::Callback(mutation)).into()
    }
}

/// A row's left-hand side: one step, or several that share the expected outcome.
trait Steps {
    /// What the table's check runs.
    type Step;

    fn into_steps(self) -> Vec<Self::Step>;
}

impl<T: Into<Step>> Steps for T {
    type Step = Step;

    fn into_steps(self) -> Vec<Step> {
        vec![self.into()]
    }
}

impl<T: Into<Step>, const N: usize> Steps for [T; N] {
    type Step = Step;

    fn into_steps(self) -> Vec<Step> {
        self.into_iter().map(Into::into).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading what was sent and answered.
// ---------------------------------------------------------------------------------------------

/// The per-login secrets of a flow, read from its serialized form: (state, nonce, PKCE verifier).
fn flow_secrets(flow: &mc_core::Authorizing) -> (String, String, Option<String>) {
    let value = serde_json::to_value(flow).unwrap();
    let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    (text("state").unwrap(), text("nonce").unwrap(), text("pkce"))
}

fn core(failure: Failure) -> Error {
    match failure {
        Failure::Core(e) => e,
        other => panic!("expected a core error, got {other:?}"),
    }
}

/// The operator refused with this OAuth error code at this endpoint.
fn refused(error: &Error, code: &str, endpoint: mc_core::Endpoint) -> bool {
    error
        .operator_error()
        .is_some_and(|refusal| refusal.is(code) && refusal.endpoint == endpoint)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

fn form_param(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// The plain-OpenID way to a configuration: the metadata fetched for the issuer, then the
/// operator's registration with it.
fn issuer_config<D: Driver>(c: &Case<'_, D>) -> Result<OperatorConfig, Error> {
    let metadata =
        c.d.execute(MetadataExchange::for_issuer(&c.issuer()).unwrap())
            .map_err(core)?;
    c.registration()?.with_metadata(metadata)
}
