//! The relying-party conformance matrix (`../shared/protocol/RP-CONFORMANCE.md`): one test per
//! case marked `core` or `optional` that applies to a code-flow Mobile Connect SP, named after
//! the case id (`rp-id_token-aud` -> `rp_id_token_aud`), plus `x_*` tests for the extra cases
//! and attacks the document names (`x-id_token-expired`, `x-acr-downgrade`, RFC 9207, RFC 9700
//! code injection, RFC 8725). Each makes the sandbox operator misbehave in exactly that way
//! (`Sandbox::set_operator_fault`) and checks the outcome through the public API only: accepted
//! where the case says accept, the exact mc-core error variant where it says reject, and, after
//! a rejected id_token, **no further request** (the sandbox's request log ends with the token
//! request, or with the one JWKS refetch an unknown `kid` allows). Every test runs through both
//! adapters (`blocking_adapter::*`, `tokio_adapter::*`) over loopback HTTP, the pure id_token
//! cases included: the refetch is driven by the adapter, and a case is cheap.
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
//! - `oidcc-client-test-refresh-token` (marked core): mc-core has no refresh-token grant yet
//!   (`Tokens::refresh_token` is exposed, no exchange redeems it), so there is nothing to test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mc_core::{
    Algorithm, AuthorizeOptions, CallbackError, ClientAssertionKey, ClientAuth, ClientSecret,
    Discovered, DiscoveryOutcome, DiscoveryQuery, Endpoint, Error, IdTokenError, JwtPart,
    LoginHint, MetadataExchange, Msisdn, OperatorConfig, Policy, ProtocolError, Registration,
    Tokens, UserInfo,
};
use mc_tests::driver::{self, Blocking, Driver, Failure, Tokio, browser_follow, entropy};
use mc_tests::keys::{KeyFamily, SigningKey, sha256};
use mc_tests::sandbox::{
    CallbackMutation, ClientAuthRequirement, IMPOSTOR_ISSUER, IdTokenMutation, JwksMutation,
    LoggedRequest, RawBody, SP_REDIRECT_URI, parse_form_post,
};
use mc_tests::{Fault, Handset, OPERATORS, Sandbox, SandboxServer, Target};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(5);
const BODY_LIMIT: usize = 256 * 1024;
/// The default leeway of `mc_core::Policy`.
const LEEWAY: i64 = 30;
/// How far from the leeway boundary the time cases stay (clock reads around a request).
const MARGIN: i64 = 5;
/// A client secret long enough for HS256 (RFC 7518 3.2: at least 256 bits).
const STRONG_SECRET: &str = "0123456789abcdef0123456789abcdef-hs256-secret";

fn blocking() -> Blocking {
    Blocking::new(TIMEOUT, BODY_LIMIT)
}

fn tokio() -> Tokio {
    Tokio::new(TIMEOUT, BODY_LIMIT).unwrap()
}

use mc_tests::through_both_adapters;

through_both_adapters!(
    // Response type and response mode.
    rp_response_type_code,
    rp_response_mode_form_post,
    rp_response_mode_form_post_error,
    // ID token.
    rp_id_token_aud,
    rp_id_token_bad_sig_es256,
    rp_id_token_bad_sig_hs256,
    rp_id_token_bad_sig_rs256,
    rp_id_token_iat,
    rp_id_token_issuer_mismatch,
    rp_id_token_kid_absent_multiple_jwks,
    rp_id_token_kid_absent_single_jwks,
    rp_id_token_sig_enc_unsupported_is_refused,
    rp_id_token_sig_es256,
    rp_id_token_sig_hs256,
    rp_id_token_sig_none,
    rp_id_token_sig_rs256,
    rp_id_token_sub,
    x_id_token_missing_aud,
    x_id_token_aud_extra_no_azp,
    x_id_token_bad_at_hash,
    x_id_token_missing_at_hash_mc_di,
    x_id_token_expired,
    x_id_token_iat_future,
    x_id_token_auth_time_beyond_max_age,
    x_acr_downgrade,
    x_id_token_alg_confusion,
    x_id_token_alg_not_the_keys,
    x_id_token_crit,
    x_id_token_key_from_header_ignored,
    x_id_token_duplicate_members,
    x_jwt_duplicate_custom_claims,
    x_id_token_iat_too_old,
    x_id_token_replayed,
    x_id_token_foreign_key,
    x_id_token_unknown_kid_stays_unknown,
    x_hs256_weak_client_secret_is_refused,
    x_token_response_without_id_token,
    // nonce and scope.
    rp_nonce_invalid,
    rp_nonce_unless_code_flow,
    rp_scope_userinfo_claims,
    // Claims request and claim types.
    rp_claims_request_id_token,
    rp_claims_request_userinfo,
    rp_claims_aggregated_unsupported_stays_raw,
    rp_claims_distributed_unsupported_not_fetched,
    // UserInfo.
    rp_userinfo_bad_sub_claim,
    rp_userinfo_bearer_header,
    rp_userinfo_sig,
    rp_userinfo_enc_unsupported_is_refused,
    // Client authentication.
    rp_token_endpoint_client_secret_basic,
    rp_token_endpoint_client_secret_post,
    rp_token_endpoint_private_key_jwt,
    // Discovery.
    rp_discovery_issuer_not_matching_config,
    rp_discovery_issuer_not_matching_config_plain_issuer,
    rp_discovery_jwks_uri_keys,
    rp_discovery_openid_configuration,
    // Key rotation.
    rp_key_rotation_op_sign_key,
    rp_key_rotation_op_sign_key_native,
    // Callback, RFC 9207 and RFC 9700.
    x_callback_foreign_state,
    x_callback_missing_state,
    x_callback_duplicate_state,
    x_callback_iss_mismatch,
    x_callback_iss_missing,
    x_callback_state_of_another_login,
    x_callback_login_expired,
    x_code_injection_stopped_by_pkce,
    x_code_injection_without_pkce_stopped_by_nonce,
    x_tokens_never_in_a_url,
);

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
        let mut case = Self::bare(d, name);
        case.fetch_metadata();
        case.fetch_jwks();
        case
    }

    /// A fresh sandbox and `name`'s registry entry, nothing fetched yet.
    fn bare(d: &'d D, name: &'static str) -> Self {
        let server = SandboxServer::start().unwrap();
        let index = OPERATORS.iter().position(|o| o.name == name).unwrap();
        let config = server.sandbox().registry_entry(name).unwrap();
        let op = config.clone().build().unwrap();
        Self {
            d,
            server,
            name,
            index,
            config,
            op,
        }
    }

    /// Rebuild the operator context from the registry entry as it is now, edited, with
    /// metadata and keys.
    fn reconfigure(&mut self, edit: impl FnOnce(OperatorConfig) -> OperatorConfig) {
        self.config = edit(self.sandbox().registry_entry(self.name).unwrap());
        self.op = self.config.clone().build().unwrap();
        self.fetch_metadata();
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

    fn fetch_metadata(&mut self) {
        let metadata = self
            .d
            .execute(self.config.metadata_exchange().unwrap())
            .unwrap();
        self.config = self.config.clone().with_metadata(metadata).unwrap();
        self.rebuild();
    }

    fn fetch_jwks(&self) {
        let keys = self.d.execute(self.op.jwks_exchange().unwrap()).unwrap();
        self.op.set_jwks(keys, self.d.now());
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

    fn id_token_fault(&self, mutation: IdTokenMutation) {
        self.fault(Target::Token, Fault::IdToken(mutation));
    }

    fn issuer(&self) -> String {
        self.sandbox().issuer(self.name)
    }

    fn client_id(&self) -> &'static str {
        OPERATORS[self.index].client_id
    }

    /// What the operator handed the SP, and no endpoint: the start of the plain OpenID path
    /// (the endpoints then come from the metadata).
    fn registration(&self) -> Result<OperatorConfig, Error> {
        OperatorConfig::new(Registration {
            operator_id: self.name.to_owned(),
            client_id: self.client_id().to_owned(),
            client_secret: ClientSecret::new(self.sandbox().client_secret(self.name).unwrap()),
            redirect_uri: SP_REDIRECT_URI.to_owned(),
        })
    }

    fn msisdn(&self, handset: Handset) -> &'static str {
        OPERATORS[self.index]
            .subscribers
            .iter()
            .find(|(_, h)| *h == handset)
            .map(|(m, _)| *m)
            .unwrap()
    }

    /// Login options for the approving subscriber.
    fn approve(&self) -> AuthorizeOptions {
        AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(
            self.msisdn(Handset::Approve),
        )))
    }

    fn allow_hs256(&mut self) {
        self.set_policy(|policy| policy.allowed_algorithms.push(Algorithm::HS256));
    }

    fn login(&self, options: AuthorizeOptions) -> Result<Tokens, Failure> {
        driver::login(self.d, &self.op, options)
    }

    fn userinfo(&self, tokens: &Tokens) -> Result<UserInfo, Failure> {
        driver::userinfo(self.d, &self.op, tokens)
    }

    fn premiuminfo(&self, tokens: &Tokens) -> Result<UserInfo, Failure> {
        self.d.execute(tokens.premiuminfo(&self.op)?)
    }

    /// Where the request log stands now.
    fn mark(&self) -> usize {
        self.sandbox().request_log().len()
    }

    /// The requests served since `mark`.
    fn since(&self, mark: usize) -> Vec<String> {
        self.sandbox().request_log()[mark..].to_vec()
    }

    fn count_since(&self, mark: usize, request: &str) -> usize {
        self.since(mark).iter().filter(|r| *r == request).count()
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

    /// A login that must succeed.
    #[track_caller]
    fn accept(&self, options: AuthorizeOptions) -> Tokens {
        match self.login(options) {
            Ok(tokens) => tokens,
            Err(e) => panic!("expected the login to be accepted, got {e:?}"),
        }
    }

    /// A login whose id_token is edited by `mutation`; it must be accepted.
    #[track_caller]
    fn accept_with(&self, mutation: IdTokenMutation) -> Tokens {
        self.id_token_fault(mutation);
        let options = self.approve();
        self.accept(options)
    }

    /// A login whose id_token is edited by `mutation`; it must be rejected as an id_token, with
    /// nothing asked of the operator after the token response (the JWKS is already held).
    #[track_caller]
    fn reject(&self, mutation: IdTokenMutation) -> IdTokenError {
        let options = self.approve();
        self.reject_with(options, mutation, 0)
    }

    /// As [`Case::reject`], with these options and this many JWKS refetches expected.
    #[track_caller]
    fn reject_with(
        &self,
        options: AuthorizeOptions,
        mutation: IdTokenMutation,
        refetches: usize,
    ) -> IdTokenError {
        self.id_token_fault(mutation);
        let mark = self.mark();
        let result = self.login(options);
        let error = match result {
            Err(Failure::Core(Error::IdToken(e))) => e,
            other => panic!("expected an id_token rejection, got {other:?}"),
        };
        self.assert_stopped_at_token(mark, refetches);
        error
    }

    /// A login whose id_token is edited by `mutation`: its id_token error, or the tokens if it
    /// was accepted.
    fn reject_or_tokens(
        &self,
        options: AuthorizeOptions,
        mutation: IdTokenMutation,
    ) -> Result<Tokens, IdTokenError> {
        self.id_token_fault(mutation);
        match self.login(options) {
            Ok(tokens) => Ok(tokens),
            Err(Failure::Core(Error::IdToken(e))) => Err(e),
            Err(other) => panic!("expected an id_token verdict, got {other:?}"),
        }
    }

    /// The login's requests since `mark` were exactly the browser's authorize, the token request
    /// and `refetches` JWKS fetches: nothing (no userinfo, no premium info) after the verdict.
    #[track_caller]
    fn assert_stopped_at_token(&self, mark: usize, refetches: usize) {
        let mut expected = vec![self.get("authorize"), self.post("token")];
        expected.extend(std::iter::repeat_n(self.get("jwks"), refetches));
        assert_eq!(self.since(mark), expected);
    }

    /// A login whose callback must be rejected, with no token request made.
    #[track_caller]
    fn reject_callback(&self, options: AuthorizeOptions) -> Error {
        let mark = self.mark();
        let error = core(self.login(options).unwrap_err());
        assert_eq!(self.since(mark), [self.get("authorize")]);
        error
    }

    /// The logged requests (whole) since `mark`.
    fn requests_since(&self, mark: usize) -> Vec<LoggedRequest> {
        self.sandbox().requests()[mark..].to_vec()
    }
}

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

// ---------------------------------------------------------------------------------------------
// Response type and response mode
// ---------------------------------------------------------------------------------------------

/// `rp-response_type-code` (core), with the Basic plan's implicit checks: `openid` in the scope,
/// `response_type=code`, the exact registered redirect URI, `state`, `nonce`, an S256 PKCE
/// challenge on every request (RFC 9700 4.8: no downgrade) whose verifier goes with the code;
/// then token and userinfo.
fn rp_response_type_code<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let mark = c.sandbox().requests().len();
        let options = c.approve();
        let tokens = c.accept(options);
        let info = c.userinfo(&tokens).unwrap();
        assert_eq!(
            info.phone_number(),
            Some(format!("+{}", c.msisdn(Handset::Approve)).as_str())
        );

        let requests = c.requests_since(mark);
        let authorize = &requests[0];
        assert_eq!(authorize.path(), c.path("authorize"));
        let query = authorize.query().unwrap();
        assert_eq!(query_param(query, "response_type").as_deref(), Some("code"));
        assert_eq!(
            query_param(query, "redirect_uri").as_deref(),
            Some(SP_REDIRECT_URI)
        );
        assert_eq!(
            query_param(query, "client_id").as_deref(),
            Some(c.client_id())
        );
        let scope = query_param(query, "scope").unwrap();
        assert!(scope.split(' ').any(|s| s == "openid"), "{scope}");
        assert_eq!(query_param(query, "state").unwrap().len(), 43);
        assert_eq!(query_param(query, "nonce").unwrap().len(), 43);
        assert_eq!(
            query_param(query, "code_challenge_method").as_deref(),
            Some("S256")
        );
        let challenge = query_param(query, "code_challenge").unwrap();

        let token = &requests[1];
        assert_eq!(
            (token.method.as_str(), token.path()),
            ("POST", c.path("token").as_str())
        );
        assert_eq!(
            form_param(&token.body, "grant_type").as_deref(),
            Some("authorization_code")
        );
        assert_eq!(
            form_param(&token.body, "redirect_uri").as_deref(),
            Some(SP_REDIRECT_URI)
        );
        assert!(form_param(&token.body, "code").is_some());
        let verifier = form_param(&token.body, "code_verifier").unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())),
            challenge
        );
        assert_eq!(requests[2].path(), c.path("userinfo"));
    }
}

/// The browser visits the authorize URL and gets a form-post page (an optional response mode
/// the library does not choose, but whose body reads like a query): the host hands the POST
/// body to `callback`.
fn form_post_body<D: Driver>(c: &Case<'_, D>, authorize_url: &str) -> String {
    let mut visit = http::Request::new(Vec::new());
    *visit.uri_mut() = authorize_url.parse().unwrap();
    let page = c.d.send(visit).unwrap();
    assert_eq!(page.status(), 200);
    let (action, fields) = parse_form_post(std::str::from_utf8(page.body()).unwrap()).unwrap();
    assert_eq!(action, SP_REDIRECT_URI);
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// `rp-response_mode-form_post` (optional): parameters from a POST body at the redirect URI.
fn rp_response_mode_form_post<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    c.fault(
        Target::Authorize,
        Fault::Callback(CallbackMutation::FormPost),
    );
    let (redirect, flow) =
        c.op.authorize(c.approve(), &mut driver::entropy(), d.now())
            .unwrap();
    let body = form_post_body(&c, redirect.as_str());
    let code = flow.callback(&c.op, &body, d.now()).unwrap();
    let tokens = d
        .execute(code.token_exchange(&c.op, d.now()).unwrap())
        .unwrap();
    assert_eq!(tokens.id_token().acr(), Some("2"));
}

/// `rp-response_mode-form_post-error` (optional): the error read from the POST body is the
/// operator's refusal, not a crash or a loop.
fn rp_response_mode_form_post_error<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    c.fault(
        Target::Authorize,
        Fault::Callback(CallbackMutation::FormPost),
    );
    let options = AuthorizeOptions::new()
        .login_hint(LoginHint::Msisdn(Msisdn::new(c.msisdn(Handset::Decline))));
    let (redirect, flow) =
        c.op.authorize(options, &mut driver::entropy(), d.now())
            .unwrap();
    let body = form_post_body(&c, redirect.as_str());
    let error = flow.callback(&c.op, &body, d.now()).unwrap_err();
    let refusal = error.operator_error().unwrap();
    assert!(refusal.is("access_denied"), "{refusal:?}");
    assert_eq!(refusal.endpoint, Endpoint::Authorization);
}

// ---------------------------------------------------------------------------------------------
// ID token
// ---------------------------------------------------------------------------------------------

/// `rp-id_token-aud` (core): `aud` is another client (`client_id` + `1`, and the old tool's
/// `https://example.com/`).
fn rp_id_token_aud<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let client_id = c.client_id();
        for aud in [
            json!([format!("{client_id}1")]),
            json!("https://example.com/"),
        ] {
            let error = c.reject(IdTokenMutation::set("aud", aud));
            assert!(
                matches!(&error, IdTokenError::AudienceMismatch { client_id: id, found }
                    if id == client_id && found.len() == 1 && found[0] != client_id),
                "{error:?}"
            );
        }
    }
}

/// `x-id_token-missing-aud` (the current suite's `missing-aud`).
fn x_id_token_missing_aud<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let error = c.reject(IdTokenMutation::remove("aud"));
    assert!(
        matches!(error, IdTokenError::MissingClaim { claim: "aud" }),
        "{error:?}"
    );
}

/// `x-id_token-aud-extra-no-azp` (OIDC Core 3.1.3.7 rules 4 and 5, 16.11 token substitution):
/// several audiences need `azp`, and `azp` must be us.
fn x_id_token_aud_extra_no_azp<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let audiences = json!([c.client_id(), "https://other-client.example"]);
    let error = c.reject(IdTokenMutation::All(vec![
        IdTokenMutation::set("aud", audiences.clone()),
        IdTokenMutation::remove("azp"),
    ]));
    assert!(
        matches!(error, IdTokenError::AuthorizedPartyMissing),
        "{error:?}"
    );
    let error = c.reject(IdTokenMutation::All(vec![
        IdTokenMutation::set("aud", audiences),
        IdTokenMutation::set("azp", json!("https://other-client.example")),
    ]));
    assert!(
        matches!(&error, IdTokenError::AuthorizedPartyMismatch { found, .. }
            if found == "https://other-client.example"),
        "{error:?}"
    );
}

/// `rp-id_token-bad-sig-es256` (optional): the ES256 signature is corrupted.
fn rp_id_token_bad_sig_es256<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    let error = c.reject(IdTokenMutation::CorruptSignature);
    assert!(matches!(error, IdTokenError::BadSignature), "{error:?}");
}

/// `rp-id_token-bad-sig-hs256` (optional): with HS256 allowed and a strong client secret, a MAC
/// that does not verify is rejected; with the default policy HS256 is refused outright.
fn rp_id_token_bad_sig_hs256<D: Driver>(d: &D) {
    let mut c = Case::new(d, "alpha");
    c.sandbox().set_client_secret("alpha", STRONG_SECRET);
    c.reconfigure(|config| config);
    let error = c.reject(IdTokenMutation::All(vec![
        IdTokenMutation::Hmac(STRONG_SECRET.as_bytes().to_vec()),
        IdTokenMutation::CorruptSignature,
    ]));
    assert!(
        matches!(&error, IdTokenError::AlgorithmNotAllowed { alg } if alg == "HS256"),
        "default policy: {error:?}"
    );
    c.allow_hs256();
    let error = c.reject(IdTokenMutation::All(vec![
        IdTokenMutation::Hmac(STRONG_SECRET.as_bytes().to_vec()),
        IdTokenMutation::CorruptSignature,
    ]));
    assert!(matches!(error, IdTokenError::BadSignature), "{error:?}");
    let error = c.reject(IdTokenMutation::Hmac(
        b"another secret of the same length!!".to_vec(),
    ));
    assert!(matches!(error, IdTokenError::BadSignature), "{error:?}");
}

/// `rp-id_token-bad-sig-rs256` (core): the RS256 signature is corrupted.
fn rp_id_token_bad_sig_rs256<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let error = c.reject(IdTokenMutation::CorruptSignature);
    assert!(matches!(error, IdTokenError::BadSignature), "{error:?}");
}

/// A token signed by a key of the right family that is not the operator's, under the
/// operator's `kid` (a forged token): a bad signature, and no refetch since the `kid` is known.
fn x_id_token_foreign_key<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let error = c.reject(IdTokenMutation::ForeignKey);
        assert!(matches!(error, IdTokenError::BadSignature), "{error:?}");
    }
}

/// `rp-id_token-iat` (core): no `iat`; also an `iat` that is not a number (present but
/// unreadable: refused as such, never read as absent).
fn rp_id_token_iat<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let error = c.reject(IdTokenMutation::remove("iat"));
    assert!(
        matches!(error, IdTokenError::MissingClaim { claim: "iat" }),
        "{error:?}"
    );
    for (mutation, reason) in [
        (
            IdTokenMutation::set("iat", json!("yesterday")),
            "not a number",
        ),
        (IdTokenMutation::set("iat", Value::Null), "null"),
    ] {
        let error = c.reject(mutation);
        assert!(
            matches!(error, IdTokenError::InvalidClaim { claim: "iat", reason: r } if r == reason),
            "{error:?}"
        );
    }
}

/// `rp-id_token-issuer-mismatch` (core): `iss` is the issuer + `1`, the old tool's
/// `https://example.org/`, or missing.
fn rp_id_token_issuer_mismatch<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let issuer = c.issuer();
        for (mutation, found) in [
            (IdTokenMutation::append("iss", "1"), format!("{issuer}1")),
            (
                IdTokenMutation::set("iss", json!("https://example.org/")),
                "https://example.org/".to_owned(),
            ),
            (
                IdTokenMutation::set("iss", json!(format!("{issuer}/"))),
                format!("{issuer}/"),
            ),
        ] {
            let error = c.reject(mutation);
            assert!(
                matches!(&error, IdTokenError::IssuerMismatch { expected, found: f }
                    if *expected == issuer && *f == found),
                "{error:?}"
            );
        }
        let error = c.reject(IdTokenMutation::remove("iss"));
        assert!(
            matches!(error, IdTokenError::MissingClaim { claim: "iss" }),
            "{error:?}"
        );
    }
}

/// `rp-id_token-kid-absent-multiple-jwks` (core): no `kid`, and a JWKS of several keys of the
/// same type without kids (three RSA at alpha, two P-256 at beta). Either outcome passes the case; mc-core tries each candidate key,
/// so the genuine token is accepted after one JWKS fetch, and a forged one is a bad signature
/// after trying them all (no loop, no second fetch).
fn rp_id_token_kid_absent_multiple_jwks<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let mut c = Case::bare(d, name);
        let extra = OPERATORS[c.index].family.pool_size() - 2;
        c.fetch_metadata();
        c.fault(
            Target::Jwks,
            Fault::Jwks(JwksMutation::WithoutKids { extra }),
        );
        let mark = c.mark();
        let tokens = c.accept_with(IdTokenMutation::remove_header("kid"));
        assert_eq!(tokens.id_token().kid(), None);
        assert_eq!(c.op.jwks().keys().len(), extra + 1);
        assert_eq!(c.count_since(mark, &c.get("jwks")), 1);

        let mut c = Case::bare(d, name);
        c.fetch_metadata();
        c.fault(
            Target::Jwks,
            Fault::Jwks(JwksMutation::WithoutKids { extra }),
        );
        let options = c.approve();
        let error = c.reject_with(
            options,
            IdTokenMutation::All(vec![
                IdTokenMutation::remove_header("kid"),
                IdTokenMutation::CorruptSignature,
            ]),
            1,
        );
        assert!(matches!(error, IdTokenError::BadSignature), "{error:?}");
    }
}

/// `rp-id_token-kid-absent-single-jwks` (core): no `kid` in the token, one key in the JWKS (with
/// and without a kid of its own): that key is used.
fn rp_id_token_kid_absent_single_jwks<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let mut c = Case::bare(d, name);
        c.fetch_metadata();
        c.fault(
            Target::Jwks,
            Fault::Jwks(JwksMutation::WithoutKids { extra: 0 }),
        );
        let mark = c.mark();
        let tokens = c.accept_with(IdTokenMutation::remove_header("kid"));
        assert_eq!(tokens.id_token().kid(), None);
        assert_eq!(c.count_since(mark, &c.get("jwks")), 1);

        let c = Case::new(d, name);
        let tokens = c.accept_with(IdTokenMutation::remove_header("kid"));
        assert_eq!(tokens.id_token().kid(), None);
    }
}

/// `rp-id_token-sig+enc`, `rp-id_token-sig+enc-a128kw` (optional, not supported): a JWE
/// id_token is refused as a malformed structure, never half-read.
fn rp_id_token_sig_enc_unsupported_is_refused<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    for header in [
        json!({ "alg": "RSA1_5", "enc": "A128CBC-HS256" }),
        json!({ "alg": "A128KW", "enc": "A128CBC-HS256" }),
    ] {
        let jwe = format!(
            "{}.{}.{}.{}.{}",
            b64(&header),
            URL_SAFE_NO_PAD.encode([7u8; 32]),
            URL_SAFE_NO_PAD.encode([1u8; 16]),
            URL_SAFE_NO_PAD.encode([2u8; 64]),
            URL_SAFE_NO_PAD.encode([3u8; 16])
        );
        let error = c.reject(IdTokenMutation::Raw(jwe));
        assert!(
            matches!(
                error,
                IdTokenError::Malformed {
                    part: JwtPart::Structure,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}

/// `rp-id_token-sig-es256` (optional): a valid ES256 id_token is accepted.
fn rp_id_token_sig_es256<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    let options = c.approve();
    let tokens = c.accept(options);
    assert_eq!(tokens.id_token().alg(), Algorithm::ES256);
    assert_eq!(tokens.id_token().kid(), Some("beta-key-0"));
}

/// `rp-id_token-sig-hs256` (optional): HS256 keyed by the client secret's octets is accepted
/// only when the host allowed HS256 (the registered algorithm); by default it is refused.
fn rp_id_token_sig_hs256<D: Driver>(d: &D) {
    let mut c = Case::new(d, "alpha");
    c.sandbox().set_client_secret("alpha", STRONG_SECRET);
    c.reconfigure(|config| config);
    let mac = IdTokenMutation::Hmac(STRONG_SECRET.as_bytes().to_vec());
    let error = c.reject(mac.clone());
    assert!(
        matches!(&error, IdTokenError::AlgorithmNotAllowed { alg } if alg == "HS256"),
        "{error:?}"
    );
    c.allow_hs256();
    let tokens = c.accept_with(mac);
    assert_eq!(tokens.id_token().alg(), Algorithm::HS256);
}

/// RFC 7518 3.2 / OIDC Core 16.19 / RP-CONFORMANCE "refuse weaker secrets for HS* where the
/// library controls it": an HS256 id_token keyed by a client secret shorter than 256 bits is
/// refused even when HS256 is allowed (`KeyRejected`, as for an RSA key under 2048 bits).
fn x_hs256_weak_client_secret_is_refused<D: Driver>(d: &D) {
    let mut c = Case::new(d, "alpha");
    let weak = c.sandbox().client_secret("alpha").unwrap();
    assert!(weak.len() < 32);
    c.allow_hs256();
    let options = c.approve();
    let mark = c.mark();
    match c.reject_or_tokens(options, IdTokenMutation::Hmac(weak.clone().into_bytes())) {
        Err(IdTokenError::KeyRejected { alg }) if alg == "HS256" => {
            c.assert_stopped_at_token(mark, 0);
        }
        other => panic!(
            "an HS256 id_token keyed by a {}-byte client secret was not refused as KeyRejected: \
             {:?}",
            weak.len(),
            other.map(|t| t.id_token().alg())
        ),
    }
}

/// `rp-id_token-sig-none` (core: reject unless explicitly configured; mc-core never accepts
/// it): `alg` `none` with an empty signature, in any case spelling, or with a genuine signature
/// left attached.
fn rp_id_token_sig_none<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let mut c = Case::new(d, name);
        c.allow_hs256();
        for (mutation, alg) in [
            (IdTokenMutation::AlgNone, "none"),
            (
                IdTokenMutation::All(vec![
                    IdTokenMutation::AlgNone,
                    IdTokenMutation::header("alg", json!("None")),
                ]),
                "None",
            ),
            (IdTokenMutation::header("alg", json!("none")), "none"),
        ] {
            let error = c.reject(mutation);
            assert!(
                matches!(&error, IdTokenError::AlgorithmNotAllowed { alg: a } if a == alg),
                "{error:?}"
            );
        }
    }
}

/// `rp-id_token-sig-rs256` (core): a valid RS256 id_token is accepted after full validation.
fn rp_id_token_sig_rs256<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let options = c.approve();
    let tokens = c.accept(options);
    assert_eq!(tokens.id_token().alg(), Algorithm::RS256);
    assert_eq!(tokens.id_token().kid(), Some("alpha-key-0"));
    assert!(!tokens.sub().is_empty());
}

/// `rp-id_token-sub` (core): no `sub`, or an empty one.
fn rp_id_token_sub<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        for mutation in [
            IdTokenMutation::remove("sub"),
            IdTokenMutation::set("sub", json!("")),
        ] {
            let error = c.reject(mutation);
            assert!(
                matches!(error, IdTokenError::MissingClaim { claim: "sub" }),
                "{error:?}"
            );
        }
    }
}

/// `at_hash` present in a code-flow id_token is checked (RP-CONFORMANCE: "if present in a
/// code-flow id_token, check it"); the front-channel `rp-id_token-bad-at_hash` is n/a.
fn x_id_token_bad_at_hash<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let error = c.reject(IdTokenMutation::set(
            "at_hash",
            json!("AAAAAAAAAAAAAAAAAAAAAA"),
        ));
        assert!(matches!(error, IdTokenError::AtHashMismatch), "{error:?}");
    }
}

/// The Mobile Connect DI profile (`mc_identity_*` scopes, version `mc_di_r2_v2.3`) requires
/// `at_hash` and `amr`.
fn x_id_token_missing_at_hash_mc_di<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let options = c.approve().scope(["mc_identity_phonenumber"]);
    let error = c.reject_with(options.clone(), IdTokenMutation::remove("at_hash"), 0);
    assert!(matches!(error, IdTokenError::AtHashMissing), "{error:?}");
    let error = c.reject_with(options.clone(), IdTokenMutation::remove("amr"), 0);
    assert!(matches!(error, IdTokenError::AmrMissing), "{error:?}");
    // Without the DI scope, neither is required.
    let _ = c.accept_with(IdTokenMutation::All(vec![
        IdTokenMutation::remove("at_hash"),
        IdTokenMutation::remove("amr"),
    ]));
}

/// `x-id_token-expired` at the leeway boundary: `exp` 35 s ago is expired, 25 s ago is within
/// the 30 s leeway; no `exp` at all is rejected.
fn x_id_token_expired<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let error = c.reject(IdTokenMutation::from_now("exp", -LEEWAY - MARGIN));
    assert!(
        matches!(error, IdTokenError::Expired { leeway: 30, .. }),
        "{error:?}"
    );
    let _ = c.accept_with(IdTokenMutation::from_now("exp", -LEEWAY + MARGIN));
    let error = c.reject(IdTokenMutation::remove("exp"));
    assert!(
        matches!(error, IdTokenError::MissingClaim { claim: "exp" }),
        "{error:?}"
    );
}

/// `x-id_token-iat-future` at the leeway boundary (and `nbf` likewise): 35 s ahead is rejected,
/// 25 s ahead is within the leeway.
fn x_id_token_iat_future<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    let error = c.reject(IdTokenMutation::from_now("iat", LEEWAY + MARGIN));
    assert!(
        matches!(error, IdTokenError::IssuedInFuture { leeway: 30, .. }),
        "{error:?}"
    );
    let _ = c.accept_with(IdTokenMutation::from_now("iat", LEEWAY - MARGIN));
    let error = c.reject(IdTokenMutation::from_now("nbf", LEEWAY + MARGIN));
    assert!(
        matches!(error, IdTokenError::NotYetValid { leeway: 30, .. }),
        "{error:?}"
    );
    let _ = c.accept_with(IdTokenMutation::from_now("nbf", LEEWAY - MARGIN));
}

/// `auth_time` beyond `max_age` (OIDC Core 3.1.3.7 rule 13): with `max_age=60`, an
/// authentication 95 s ago is too old, 85 s ago is within the leeway, none at all is rejected.
fn x_id_token_auth_time_beyond_max_age<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let options = c.approve().max_age(60);
    let error = c.reject_with(
        options.clone(),
        IdTokenMutation::from_now("auth_time", -60 - LEEWAY - MARGIN),
        0,
    );
    assert!(
        matches!(error, IdTokenError::AuthTooOld { max_age: 60, .. }),
        "{error:?}"
    );
    c.id_token_fault(IdTokenMutation::from_now(
        "auth_time",
        -60 - LEEWAY + MARGIN,
    ));
    let _ = c.accept(options.clone());
    let error = c.reject_with(options, IdTokenMutation::remove("auth_time"), 0);
    assert!(matches!(error, IdTokenError::AuthTimeMissing), "{error:?}");
}

/// `x-acr-downgrade`: `acr` below the requested LoA (a real LoA 2 approval for an LoA 3
/// request, or a forged `acr`), or missing, is rejected; a higher LoA is accepted.
fn x_acr_downgrade<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let options = c.approve().acr_values([3]);
    let mark = c.mark();
    let error = core(c.login(options).unwrap_err());
    assert!(
        matches!(&error, Error::IdToken(IdTokenError::AcrTooLow { requested: 3, found }) if found == "2"),
        "{error:?}"
    );
    c.assert_stopped_at_token(mark, 0);
    let error = c.reject(IdTokenMutation::set("acr", json!("1")));
    assert!(
        matches!(&error, IdTokenError::AcrTooLow { requested: 2, found } if found == "1"),
        "{error:?}"
    );
    // Not a level at all ("1" to "4", exact strings): refused as such.
    let error = c.reject(IdTokenMutation::set("acr", json!("high")));
    assert!(
        matches!(&error, IdTokenError::AcrUnknown { found } if found == "high"),
        "{error:?}"
    );
    let error = c.reject(IdTokenMutation::remove("acr"));
    assert!(matches!(error, IdTokenError::AcrMissing), "{error:?}");
    let tokens = c.accept_with(IdTokenMutation::set("acr", json!("3")));
    assert_eq!(tokens.id_token().acr(), Some("3"));
}

/// Algorithm confusion (RFC 8725 2.1, 3.1): an HS256 token MACed with the operator's public key
/// (PEM, JWK text, raw modulus or point) is refused by default, and with HS256 allowed it is a
/// bad signature, because HMAC is keyed by the client secret only.
fn x_id_token_alg_confusion<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let mut c = Case::new(d, name);
        let key = c.sandbox().signing_key(name).unwrap();
        let jwk = key.jwk();
        let raw = jwk
            .get("n")
            .or_else(|| jwk.get("x"))
            .and_then(Value::as_str)
            .map(|v| URL_SAFE_NO_PAD.decode(v).unwrap())
            .unwrap();
        let candidates = [
            key.public_pem().into_bytes(),
            jwk.to_string().into_bytes(),
            raw,
        ];
        for candidate in &candidates {
            let error = c.reject(IdTokenMutation::Hmac(candidate.clone()));
            assert!(
                matches!(&error, IdTokenError::AlgorithmNotAllowed { alg } if alg == "HS256"),
                "{error:?}"
            );
        }
        c.allow_hs256();
        for candidate in candidates {
            let error = c.reject(IdTokenMutation::Hmac(candidate));
            // HMAC is keyed by the client secret only: a MAC under the public key never verifies
            // (and this sandbox client's 22-byte secret is itself refused as too short for HS256).
            assert!(
                matches!(
                    error,
                    IdTokenError::BadSignature | IdTokenError::KeyRejected { .. }
                ),
                "{error:?}"
            );
        }
    }
}

/// The header's `alg` must be one the named key is for (RFC 8725 3.1: each key with exactly one
/// algorithm): an RS384 or ES256 header on the operator's RS256 key finds no usable key, and
/// with the `kid` known there is no refetch.
fn x_id_token_alg_not_the_keys<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    for alg in ["RS384", "PS256", "ES256"] {
        let error = c.reject(IdTokenMutation::header("alg", json!(alg)));
        assert!(
            matches!(&error, IdTokenError::NoUsableKey { alg: a } if a == alg),
            "{error:?}"
        );
    }
}

/// A `crit` header member is refused (RFC 7515 4.1.11; no extension is understood).
fn x_id_token_crit<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    let error = c.reject(IdTokenMutation::All(vec![
        IdTokenMutation::header("crit", json!(["exp"])),
        IdTokenMutation::header("exp", json!(0)),
    ]));
    assert!(
        matches!(&error, IdTokenError::CriticalHeader { names } if names == &["exp"]),
        "{error:?}"
    );
}

/// Keys are never taken from the token (RFC 8725 3.10): a token signed by the attacker's key
/// that ships that key in `jwk` and points `jku`/`x5u` at the attacker's set is a bad
/// signature, and nothing is fetched from those URLs; a genuine token with such headers is
/// verified with the operator's key as usual.
fn x_id_token_key_from_header_ignored<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let attacker = SigningKey::from_pool(KeyFamily::Rs256, 3, "alpha-key-0".to_owned());
    let attacker_jwks = format!("{}/attacker/jwks", c.sandbox().base());
    let headers = || {
        vec![
            IdTokenMutation::header("jku", json!(attacker_jwks)),
            IdTokenMutation::header("x5u", json!(attacker_jwks)),
            IdTokenMutation::header("jwk", attacker.jwk()),
        ]
    };
    let mut forged = headers();
    forged.push(IdTokenMutation::ForeignKey);
    let mark = c.mark();
    let error = c.reject(IdTokenMutation::All(forged));
    assert!(matches!(error, IdTokenError::BadSignature), "{error:?}");
    let _ = c.accept_with(IdTokenMutation::All(headers()));
    assert!(
        !c.since(mark).iter().any(|r| r.contains("/attacker/")),
        "{:?}",
        c.since(mark)
    );
}

/// Duplicate member names in the header or the claims are refused (RFC 8725 2.6), so that no
/// two parsers can read two different tokens.
fn x_id_token_duplicate_members<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    for (name, value) in [
        ("sub", json!("somebody-else")),
        ("iss", json!(IMPOSTOR_ISSUER)),
        ("nonce", json!("012345678")),
    ] {
        let error = c.reject(IdTokenMutation::DuplicateClaim(name.to_owned(), value));
        assert!(
            matches!(
                error,
                IdTokenError::Malformed {
                    part: JwtPart::Claims,
                    ..
                }
            ),
            "{name}: {error:?}"
        );
    }
    for (name, value) in [("alg", json!("none")), ("kid", json!("another-key"))] {
        let error = c.reject(IdTokenMutation::DuplicateHeader(name.to_owned(), value));
        assert!(
            matches!(
                error,
                IdTokenError::Malformed {
                    part: JwtPart::Header,
                    ..
                }
            ),
            "{name}: {error:?}"
        );
    }
}

/// RFC 8725 2.6 for every member, not only those mc-core reads into typed fields: a signed
/// id_token or signed userinfo whose payload repeats a claim (here `phone_number`, asked for with
/// the `claims` parameter) is refused as malformed claims, instead of one of the two values being
/// picked silently.
fn x_jwt_duplicate_custom_claims<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    let duplicate =
        IdTokenMutation::DuplicateClaim("phone_number".to_owned(), json!("+15550000000"));
    let options = c
        .approve()
        .claims(json!({ "id_token": { "phone_number": null } }));
    let mark = c.mark();
    match c.reject_or_tokens(options, duplicate.clone()) {
        Err(IdTokenError::Malformed {
            part: JwtPart::Claims,
            ..
        }) => c.assert_stopped_at_token(mark, 0),
        other => panic!(
            "an id_token with phone_number twice was not refused: {:?}",
            other.map(|t| t.id_token().claim("phone_number"))
        ),
    }

    c.sandbox().clear_faults();
    let options = c.approve();
    let tokens = c.accept(options);
    c.fault(Target::UserInfo, Fault::IdToken(duplicate));
    match c.userinfo(&tokens) {
        Err(Failure::Core(Error::IdToken(IdTokenError::Malformed {
            part: JwtPart::Claims,
            ..
        }))) => {}
        other => panic!(
            "a signed userinfo with phone_number twice was not refused: {:?}",
            other.map(|u| u.phone_number().map(str::to_owned))
        ),
    }
}

/// OIDC Core 3.1.3.7 rule 10, "reject tokens issued too far in the past": a bound the host
/// chooses (`Policy::max_token_age_secs`, none by default); with 600 s, an `iat` 640 s old
/// (beyond bound and leeway) is refused, 620 s is within the leeway.
fn x_id_token_iat_too_old<D: Driver>(d: &D) {
    // The user authenticated when the token was issued (an `auth_time` after `iat` is refused).
    let issued = |offset: i64| {
        IdTokenMutation::All(vec![
            IdTokenMutation::from_now("iat", offset),
            IdTokenMutation::from_now("auth_time", offset),
        ])
    };
    let mut c = Case::new(d, "alpha");
    // No bound by default: a day-old iat with a live exp passes.
    let _ = c.accept_with(issued(-86_400));
    c.set_policy(|policy| policy.max_token_age_secs = Some(600));
    let error = c.reject(issued(-600 - LEEWAY - 2 * MARGIN));
    assert!(
        matches!(error, IdTokenError::IssuedTooLongAgo { max_age: 600, .. }),
        "{error:?}"
    );
    let _ = c.accept_with(issued(-600 - LEEWAY + MARGIN));
}

/// Token reuse (OIDC Core 16.9): the id_token of an earlier login, replayed into a new one, is
/// caught by the nonce bound to the new login.
fn x_id_token_replayed<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    let options = c.approve();
    let _ = c.accept(options);
    let error = c.reject(IdTokenMutation::ReplayLast);
    assert!(matches!(error, IdTokenError::NonceMismatch), "{error:?}");
}

/// An unknown `kid` that stays unknown after the one refetch (OIDC Core 10.1.1): exactly one
/// JWKS fetch per verification, then `UnknownKeyId`, never a loop, when refetches are not
/// spaced; with the default spacing (60 s) and a fresh key set, no fetch at all.
fn x_id_token_unknown_kid_stays_unknown<D: Driver>(d: &D) {
    let mut c = Case::new(d, "alpha");
    c.set_policy(|policy| policy.jwks_min_refetch_secs = 0);
    let options = c.approve();
    for _ in 0..2 {
        let error = c.reject_with(
            options.clone(),
            IdTokenMutation::header("kid", json!("no-such-key")),
            1,
        );
        assert!(
            matches!(&error, IdTokenError::UnknownKeyId { kid } if kid == "no-such-key"),
            "{error:?}"
        );
    }
    c.set_policy(|policy| policy.jwks_min_refetch_secs = Policy::default().jwks_min_refetch_secs);
    c.fetch_jwks();
    let error = c.reject_with(
        options,
        IdTokenMutation::header("kid", json!("no-such-key")),
        0,
    );
    assert!(
        matches!(&error, IdTokenError::UnknownKeyId { kid } if kid == "no-such-key"),
        "{error:?}"
    );
}

/// A token response without an id_token (OIDC: the openid scope makes it mandatory).
fn x_token_response_without_id_token<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    c.fault(
        Target::Token,
        Fault::Body(RawBody::json(
            br#"{"access_token":"an-access-token","token_type":"Bearer","expires_in":3600}"#
                .to_vec(),
        )),
    );
    let mark = c.mark();
    let options = c.approve();
    let error = core(c.login(options).unwrap_err());
    assert!(
        matches!(error, Error::IdToken(IdTokenError::Missing)),
        "{error:?}"
    );
    c.assert_stopped_at_token(mark, 0);
}

// ---------------------------------------------------------------------------------------------
// nonce and scope
// ---------------------------------------------------------------------------------------------

/// `rp-nonce-invalid` (core): the nonce + `1` (current suite), the old tool's `012345678`, or
/// none at all.
fn rp_nonce_invalid<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        for mutation in [
            IdTokenMutation::append("nonce", "1"),
            IdTokenMutation::set("nonce", json!("012345678")),
        ] {
            let error = c.reject(mutation);
            assert!(matches!(error, IdTokenError::NonceMismatch), "{error:?}");
        }
        let error = c.reject(IdTokenMutation::remove("nonce"));
        assert!(matches!(error, IdTokenError::NonceMissing), "{error:?}");
    }
}

/// `rp-nonce-unless-code-flow` (core for MC): every authorization request carries a fresh nonce,
/// and the verified id_token echoes that very nonce.
fn rp_nonce_unless_code_flow<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (redirect, flow) =
            c.op.authorize(c.approve(), &mut driver::entropy(), d.now())
                .unwrap();
        let (_, nonce, _) = flow_secrets(&flow);
        let query = redirect.url().query().unwrap().to_owned();
        assert_eq!(
            query_param(&query, "nonce").as_deref(),
            Some(nonce.as_str())
        );
        let callback = browser_follow(d, redirect.as_str()).unwrap();
        let code = flow.callback(&c.op, &callback, d.now()).unwrap();
        let tokens = d
            .execute(code.token_exchange(&c.op, d.now()).unwrap())
            .unwrap();
        assert!(
            tokens
                .id_token()
                .claims()
                .nonce
                .as_ref()
                .unwrap()
                .matches(&nonce)
        );
        seen.push(nonce);
    }
    assert_ne!(seen[0], seen[1]);
}

/// `rp-scope-userinfo-claims` (core): claims requested by scope (`mc_identity_phonenumber`, with
/// `openid` added) and read from userinfo, JSON and signed.
fn rp_scope_userinfo_claims<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let mark = c.sandbox().requests().len();
        let options = c.approve().scope(["mc_identity_phonenumber"]);
        let tokens = c.accept(options);
        let info = c.userinfo(&tokens).unwrap();
        assert_eq!(
            info.phone_number(),
            Some(format!("+{}", c.msisdn(Handset::Approve)).as_str())
        );
        assert_eq!(info.claim("phone_number_verified"), Some(&json!(true)));
        let authorize = &c.requests_since(mark)[0];
        assert_eq!(
            query_param(authorize.query().unwrap(), "scope").as_deref(),
            Some("openid mc_identity_phonenumber")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Claims request parameter and claim types
// ---------------------------------------------------------------------------------------------

/// `rp-claims_request-id_token` (optional): a claim asked for with `claims={"id_token":...}` is
/// read from the verified id_token.
fn rp_claims_request_id_token<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let options = c
        .approve()
        .claims(json!({ "id_token": { "phone_number": { "essential": true } } }));
    let tokens = c.accept(options);
    assert_eq!(
        tokens.id_token().claim("phone_number"),
        Some(json!(format!("+{}", c.msisdn(Handset::Approve))))
    );
}

/// `rp-claims_request-userinfo` (optional): a claim asked for with `claims={"userinfo":...}` is
/// read from userinfo (JSON and signed).
fn rp_claims_request_userinfo<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let options = c
            .approve()
            .claims(json!({ "userinfo": { "email": null, "given_name": null } }));
        let tokens = c.accept(options);
        let info = c.userinfo(&tokens).unwrap();
        let msisdn = c.msisdn(Handset::Approve);
        assert_eq!(
            info.claim_str("email"),
            Some(format!("subscriber-{msisdn}@{name}.example").as_str())
        );
        assert_eq!(info.claim_str("given_name"), Some("Test"));
    }
}

/// Userinfo JSON for `sub` with extra members.
fn userinfo_body(sub: &str, extra: &Value) -> RawBody {
    let mut body = json!({ "sub": sub });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    RawBody::json(body.to_string().into_bytes())
}

/// `rp-claims-aggregated` (optional, not supported): an aggregated claim (an unsigned JWT in
/// `_claim_sources`, as the old tool serves) is not merged into the claims: `address` stays
/// absent, the raw members stay raw, so nothing unverified passes as a claim.
fn rp_claims_aggregated_unsupported_stays_raw<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let options = c.approve();
    let tokens = c.accept(options);
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"address":{"country":"Forged"},"phone_number":"+1555"}"#)
    );
    c.fault(
        Target::UserInfo,
        Fault::Body(userinfo_body(
            tokens.sub(),
            &json!({
                "_claim_names": { "address": "src1", "phone_number": "src1" },
                "_claim_sources": { "src1": { "JWT": unsigned } },
            }),
        )),
    );
    let info = c.userinfo(&tokens).unwrap();
    assert_eq!(info.claim("address"), None);
    assert_eq!(info.phone_number(), None);
    assert!(info.claim("_claim_sources").is_some());
}

/// `rp-claims-distributed` (optional, not supported): a distributed claim's endpoint is never
/// called (nor given the access token) and the claim stays absent.
fn rp_claims_distributed_unsupported_not_fetched<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let options = c.approve();
    let tokens = c.accept(options);
    let endpoint = format!("{}/distributed/claims", c.sandbox().base());
    c.fault(
        Target::UserInfo,
        Fault::Body(userinfo_body(
            tokens.sub(),
            &json!({
                "_claim_names": { "address": "src1" },
                "_claim_sources": { "src1": { "endpoint": endpoint, "access_token": "ksj3n283dke" } },
            }),
        )),
    );
    let mark = c.mark();
    let info = c.userinfo(&tokens).unwrap();
    assert_eq!(info.claim("address"), None);
    assert_eq!(c.since(mark), [c.get("userinfo")]);
}

// ---------------------------------------------------------------------------------------------
// UserInfo
// ---------------------------------------------------------------------------------------------

/// `rp-userinfo-bad-sub-claim` (core): userinfo (JSON at alpha, signed at beta) and premium info
/// for another `sub` are rejected.
fn rp_userinfo_bad_sub_claim<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        for (target, endpoint) in [
            (Target::UserInfo, Endpoint::UserInfo),
            (Target::PremiumInfo, Endpoint::PremiumInfo),
        ] {
            let options = c.approve();
            let tokens = c.accept(options);
            c.fault(target, Fault::SubjectMismatch);
            let result = match target {
                Target::UserInfo => c.userinfo(&tokens),
                _ => c.premiuminfo(&tokens),
            };
            let error = core(result.unwrap_err());
            assert!(
                matches!(&error, Error::Protocol(ProtocolError::SubjectMismatch { endpoint: e }) if *e == endpoint),
                "{error:?}"
            );
        }
    }
}

/// `rp-userinfo-bearer-header` (core): the access token goes as `Authorization: Bearer`, and
/// nowhere else (no query, no body).
fn rp_userinfo_bearer_header<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let options = c.approve();
        let tokens = c.accept(options);
        let access_token = tokens.access_token().expose_secret().to_owned();
        let mark = c.sandbox().requests().len();
        let _ = c.userinfo(&tokens).unwrap();
        let requests = c.requests_since(mark);
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, "GET");
        assert_eq!(request.uri, c.path("userinfo"));
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {access_token}").as_str())
        );
        assert!(request.body.is_empty());
    }
}

/// `rp-userinfo-sig` (optional): a signed userinfo JWT is verified before use: accepted when
/// genuine; a corrupted signature, a foreign key, another audience or `alg` none are rejected.
fn rp_userinfo_sig<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    let options = c.approve();
    let tokens = c.accept(options);
    let info = c.userinfo(&tokens).unwrap();
    assert!(info.was_signed());
    assert_eq!(info.sub(), info.claim_str("sub").unwrap());
    type Expected = fn(&IdTokenError) -> bool;
    let cases: [(IdTokenMutation, Expected); 4] = [
        (IdTokenMutation::CorruptSignature, |e| {
            matches!(e, IdTokenError::BadSignature)
        }),
        (IdTokenMutation::ForeignKey, |e| {
            matches!(e, IdTokenError::BadSignature)
        }),
        (IdTokenMutation::set("aud", json!("another-client")), |e| {
            matches!(e, IdTokenError::AudienceMismatch { .. })
        }),
        (
            IdTokenMutation::AlgNone,
            |e| matches!(e, IdTokenError::AlgorithmNotAllowed { alg } if alg == "none"),
        ),
    ];
    for (mutation, expected) in cases {
        c.sandbox().clear_faults();
        let options = c.approve();
        let tokens = c.accept(options);
        c.fault(Target::UserInfo, Fault::IdToken(mutation));
        let error = core(c.userinfo(&tokens).unwrap_err());
        assert!(
            matches!(&error, Error::IdToken(e) if expected(e)),
            "{error:?}"
        );
    }
}

/// `rp-userinfo-enc`, `rp-userinfo-sig+enc` (optional, not supported): an encrypted userinfo
/// (JWE) body is refused as malformed.
fn rp_userinfo_enc_unsupported_is_refused<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let options = c.approve();
        let tokens = c.accept(options);
        let jwe = format!(
            "{}.{}.{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#),
            URL_SAFE_NO_PAD.encode([7u8; 32]),
            URL_SAFE_NO_PAD.encode([1u8; 12]),
            URL_SAFE_NO_PAD.encode([2u8; 40]),
            URL_SAFE_NO_PAD.encode([3u8; 16])
        );
        c.fault(
            Target::UserInfo,
            Fault::Body(RawBody::new(200, "application/jwt", jwe.into_bytes())),
        );
        let error = core(c.userinfo(&tokens).unwrap_err());
        assert!(
            matches!(
                error,
                Error::IdToken(IdTokenError::Malformed {
                    part: JwtPart::Structure,
                    ..
                })
            ),
            "{error:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Client authentication
// ---------------------------------------------------------------------------------------------

/// `rp-token_endpoint-client_secret_basic` (core): HTTP Basic with the client id and secret
/// form-urlencoded before base64 (RFC 6749 2.3.1; alpha's secret has `+/=` in it), and the
/// secret nowhere else.
fn rp_token_endpoint_client_secret_basic<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let mark = c.sandbox().requests().len();
    let options = c.approve();
    let _ = c.accept(options);
    let secret = c.sandbox().client_secret("alpha").unwrap();
    let token = c
        .requests_since(mark)
        .into_iter()
        .find(|r| r.path() == c.path("token"))
        .unwrap();
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(c.client_id()), encode(&secret)))
    );
    assert!(secret.contains('+') && secret.contains('/') && secret.contains('='));
    assert_eq!(token.header("authorization"), Some(expected.as_str()));
    assert_eq!(form_param(&token.body, "client_secret"), None);
    assert!(!token.uri.contains("secret"));
}

/// `rp-token_endpoint-client_secret_post` (optional): the operator takes credentials in the
/// body only.
fn rp_token_endpoint_client_secret_post<D: Driver>(d: &D) {
    let mut c = Case::new(d, "alpha");
    c.fault(
        Target::Token,
        Fault::RequireClientAuth(ClientAuthRequirement::SecretPost),
    );
    // The default (Basic) is refused by this operator.
    let options = c.approve();
    let error = core(c.login(options).unwrap_err());
    assert!(
        error.operator_error().unwrap().is("invalid_client"),
        "{error:?}"
    );
    c.reconfigure(|config| config.client_auth(ClientAuth::SecretPost));
    let mark = c.sandbox().requests().len();
    let options = c.approve();
    let _ = c.accept(options);
    let token = c
        .requests_since(mark)
        .into_iter()
        .find(|r| r.path() == c.path("token"))
        .unwrap();
    assert_eq!(token.header("authorization"), None);
    assert_eq!(
        form_param(&token.body, "client_secret"),
        c.sandbox().client_secret("alpha")
    );
}

/// `rp-token_endpoint-private_key_jwt` (optional): the operator takes an RFC 7523 assertion
/// signed with the SP's registered key; an assertion by another key is refused.
fn rp_token_endpoint_private_key_jwt<D: Driver>(d: &D) {
    for (family, alg) in [
        (KeyFamily::Rs256, Algorithm::RS256),
        (KeyFamily::Es256, Algorithm::ES256),
    ] {
        let mut c = Case::new(d, "alpha");
        let sp_key = SigningKey::from_pool(family, 2, "sp-key-1".to_owned());
        c.fault(
            Target::Token,
            Fault::RequireClientAuth(ClientAuthRequirement::PrivateKeyJwt(sp_key.jwk())),
        );
        let assertion_key = ClientAssertionKey::from_pem(
            alg,
            sp_key.private_pem().as_bytes(),
            Some("sp-key-1".to_owned()),
        )
        .unwrap();
        c.reconfigure(|config| config.client_auth(ClientAuth::PrivateKeyJwt(assertion_key)));
        let mark = c.sandbox().requests().len();
        let options = c.approve();
        let _ = c.accept(options);
        let token = c
            .requests_since(mark)
            .into_iter()
            .find(|r| r.path() == c.path("token"))
            .unwrap();
        assert_eq!(token.header("authorization"), None);
        assert_eq!(form_param(&token.body, "client_secret"), None);
        assert!(form_param(&token.body, "client_assertion").is_some());

        let other = SigningKey::from_pool(family, 1, "sp-key-1".to_owned());
        let wrong_key = ClientAssertionKey::from_pem(
            alg,
            other.private_pem().as_bytes(),
            Some("sp-key-1".to_owned()),
        )
        .unwrap();
        c.reconfigure(|config| config.client_auth(ClientAuth::PrivateKeyJwt(wrong_key)));
        let options = c.approve();
        let error = core(c.login(options).unwrap_err());
        assert!(
            error.operator_error().unwrap().is("invalid_client"),
            "{error:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

/// `rp-discovery-issuer-not-matching-config` (core): provider metadata naming another issuer than
/// the configured one (registry) or the discovered one (MC discovery) is refused, and the
/// operator context keeps its issuer.
fn rp_discovery_issuer_not_matching_config<D: Driver>(d: &D) {
    let c = Case::bare(d, "alpha");
    c.fault(Target::Metadata, Fault::ForeignIssuerInMetadata);
    // Refused when the document is read (the exchange knows the expected issuer)...
    let error = core(
        d.execute(c.config.metadata_exchange().unwrap())
            .unwrap_err(),
    );
    let issuer = c.issuer();
    assert!(
        matches!(&error, Error::Protocol(ProtocolError::MetadataIssuerMismatch { expected, found })
            if *expected == issuer && found == IMPOSTOR_ISSUER),
        "{error:?}"
    );
    assert_eq!(c.op.issuer(), issuer);
    assert!(c.op.metadata().is_none());

    // Through MC discovery: the issuer link of the discovery answer is the expectation.
    let service = c.sandbox().discovery_service().unwrap();
    let query = DiscoveryQuery::msisdn(Msisdn::new(c.msisdn(Handset::Approve)));
    let DiscoveryOutcome::Found(answer) = d
        .execute(service.discover(&query, &mut entropy()).unwrap())
        .unwrap()
    else {
        panic!("expected an operator");
    };
    let config = OperatorConfig::from_discovery(&answer, "234_15", SP_REDIRECT_URI).unwrap();
    let error = core(d.execute(config.metadata_exchange().unwrap()).unwrap_err());
    assert!(
        matches!(&error, Error::Protocol(ProtocolError::MetadataIssuerMismatch { found, .. })
            if found == IMPOSTOR_ISSUER),
        "{error:?}"
    );
}

/// `rp-discovery-issuer-not-matching-config` on the plain-OpenID path: metadata fetched for an
/// issuer (`MetadataExchange::for_issuer`) that names another issuer must not become an
/// operator context for that other issuer (OpenID Discovery 4.3).
fn rp_discovery_issuer_not_matching_config_plain_issuer<D: Driver>(d: &D) {
    let c = Case::bare(d, "alpha");
    c.fault(Target::Metadata, Fault::ForeignIssuerInMetadata);
    let issuer = c.issuer();
    let result = d
        .execute(MetadataExchange::for_issuer(&issuer).unwrap())
        .map_err(core)
        .and_then(|metadata| c.registration()?.with_metadata(metadata)?.build());
    match result {
        Err(Error::Protocol(ProtocolError::MetadataIssuerMismatch { expected, found })) => {
            assert_eq!(
                (expected.as_str(), found.as_str()),
                (issuer.as_str(), IMPOSTOR_ISSUER)
            );
        }
        Err(other) => panic!("expected MetadataIssuerMismatch, got {other:?}"),
        Ok(op) => panic!(
            "metadata fetched for {issuer} naming {IMPOSTOR_ISSUER} was accepted: the operator \
             context now trusts issuer {:?}",
            op.issuer()
        ),
    }
}

/// `rp-discovery-jwks_uri-keys` (core): the keys come from the metadata's `jwks_uri` (moved
/// away from the registry's URL), and nowhere else.
fn rp_discovery_jwks_uri_keys<D: Driver>(d: &D) {
    let mut c = Case::bare(d, "beta");
    c.fault(Target::Metadata, Fault::MovedJwksUri);
    c.fetch_metadata();
    let moved = format!("{}/keys/moved", c.issuer());
    assert_eq!(c.op.endpoints().jwks.as_ref().unwrap().as_str(), moved);
    let mark = c.mark();
    let options = c.approve();
    let tokens = c.accept(options);
    let _ = c.userinfo(&tokens).unwrap();
    assert_eq!(c.count_since(mark, &c.get("keys/moved")), 1);
    assert_eq!(c.count_since(mark, &c.get("jwks")), 0);
}

/// `rp-discovery-openid-configuration` (core): the metadata is fetched from the well-known
/// location and used (plain OpenID path: the registry entry comes from the document), then a
/// whole login and userinfo run on its endpoints.
fn rp_discovery_openid_configuration<D: Driver>(d: &D) {
    let c = Case::bare(d, "alpha");
    let issuer = c.issuer();
    let mark = c.mark();
    let metadata = d
        .execute(MetadataExchange::for_issuer(&issuer).unwrap())
        .unwrap();
    assert_eq!(c.since(mark), [c.get(".well-known/openid-configuration")]);
    let op = c
        .registration()
        .unwrap()
        .with_metadata(metadata)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(op.issuer(), issuer);
    // Every endpoint comes from the document, and the document is kept.
    let endpoints = op.endpoints();
    for (endpoint, path) in [
        (Some(&endpoints.authorization), "authorize"),
        (Some(&endpoints.token), "token"),
        (endpoints.userinfo.as_ref(), "userinfo"),
        (endpoints.premiuminfo.as_ref(), "premiuminfo"),
        (endpoints.jwks.as_ref(), "jwks"),
    ] {
        assert_eq!(
            endpoint.map(url::Url::as_str),
            Some(format!("{issuer}/{path}").as_str())
        );
    }
    assert!(op.metadata().is_some());
    let tokens = driver::login(d, &op, c.approve()).unwrap();
    let info = driver::userinfo(d, &op, &tokens).unwrap();
    assert!(info.phone_number().is_some());
}

// ---------------------------------------------------------------------------------------------
// Key rotation
// ---------------------------------------------------------------------------------------------

/// `rp-key-rotation-op-sign-key` (core): the signing key rolls over between two logins; the
/// unknown `kid` triggers exactly one refetch and both tokens are accepted.
fn rp_key_rotation_op_sign_key<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let mut c = Case::bare(d, name);
        c.fetch_metadata();
        // The rollover comes seconds after the first fetch: no refetch spacing (the default
        // refuses a new kid for 60 s after the last stored key set).
        c.set_policy(|policy| policy.jwks_min_refetch_secs = 0);
        let mark = c.mark();
        let options = c.approve();
        let first = c.accept(options);
        assert_eq!(c.count_since(mark, &c.get("jwks")), 1);
        c.sandbox().rotate_keys(name);
        let mark = c.mark();
        let options = c.approve();
        let second = c.accept(options);
        assert_eq!(c.count_since(mark, &c.get("jwks")), 1);
        assert_ne!(first.id_token().kid(), second.id_token().kid());
        let mark = c.mark();
        let options = c.approve();
        let _ = c.accept(options);
        assert_eq!(c.count_since(mark, &c.get("jwks")), 0);
    }
}

/// `rp-key-rotation-op-sign-key-native` (core): the key rolls over after the SP cached the key
/// set and before the first id_token: the cached set does not prevent the one refetch.
fn rp_key_rotation_op_sign_key_native<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let mut c = Case::new(d, name);
        // The key set was cached just now: no refetch spacing, as above.
        c.set_policy(|policy| policy.jwks_min_refetch_secs = 0);
        assert_eq!(c.op.jwks().keys().len(), 1);
        c.sandbox().rotate_keys(name);
        let mark = c.mark();
        let options = c.approve();
        let tokens = c.accept(options);
        assert_eq!(
            tokens.id_token().kid(),
            Some(format!("{name}-key-1").as_str())
        );
        assert_eq!(c.count_since(mark, &c.get("jwks")), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Callback (state, RFC 9207 iss) and code injection (RFC 9700 2.1.1, 4.5)
// ---------------------------------------------------------------------------------------------

/// A callback carrying a `state` this login never sent (CSRF): refused before the code is used.
fn x_callback_foreign_state<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    c.fault(
        Target::Authorize,
        Fault::Callback(CallbackMutation::ForeignState),
    );
    let options = c.approve();
    let error = c.reject_callback(options);
    assert!(
        matches!(error, Error::Callback(CallbackError::StateMismatch)),
        "{error:?}"
    );
}

/// A callback without `state`.
fn x_callback_missing_state<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    c.fault(
        Target::Authorize,
        Fault::Callback(CallbackMutation::NoState),
    );
    let options = c.approve();
    let error = c.reject_callback(options);
    assert!(
        matches!(error, Error::Callback(CallbackError::StateMissing)),
        "{error:?}"
    );
}

/// A callback with `state` twice (RFC 6749 3.1: parameters must not repeat).
fn x_callback_duplicate_state<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    c.fault(
        Target::Authorize,
        Fault::Callback(CallbackMutation::DuplicateState),
    );
    let options = c.approve();
    let error = c.reject_callback(options);
    assert!(
        matches!(&error, Error::Callback(CallbackError::DuplicateParameter { name }) if name == "state"),
        "{error:?}"
    );
}

/// RFC 9207 mix-up defence: an `iss` of another issuer is refused, on success and on error
/// responses alike (the error is not believed either).
fn x_callback_iss_mismatch<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    c.fault(
        Target::Authorize,
        Fault::Callback(CallbackMutation::ForeignIss),
    );
    let issuer = c.issuer();
    let decline = AuthorizeOptions::new()
        .login_hint(LoginHint::Msisdn(Msisdn::new(c.msisdn(Handset::Decline))));
    for options in [c.approve(), decline] {
        let error = c.reject_callback(options);
        assert!(
            matches!(&error, Error::Callback(CallbackError::IssuerMismatch { expected, found })
                if *expected == issuer && found == IMPOSTOR_ISSUER),
            "{error:?}"
        );
    }
}

/// RFC 9207: without `iss`, a callback is refused when the metadata announces
/// `authorization_response_iss_parameter_supported` (or the policy demands it), whether the
/// context came from a registry entry or from the metadata alone, and accepted for an operator
/// that never announced it.
fn x_callback_iss_missing<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    assert_eq!(
        c.op.metadata()
            .unwrap()
            .authorization_response_iss_parameter_supported,
        Some(true)
    );
    c.fault(Target::Authorize, Fault::Callback(CallbackMutation::NoIss));
    let options = c.approve();
    let error = c.reject_callback(options);
    assert!(
        matches!(error, Error::Callback(CallbackError::IssuerMissing)),
        "{error:?}"
    );

    // A registry entry without metadata: the operator never announced RFC 9207.
    let mut plain = Case::bare(d, "alpha");
    plain.fetch_jwks();
    plain.fault(Target::Authorize, Fault::Callback(CallbackMutation::NoIss));
    let options = plain.approve();
    let _ = plain.accept(options);
    plain.set_policy(|policy| policy.require_callback_iss = true);
    let options = plain.approve();
    let error = plain.reject_callback(options);
    assert!(
        matches!(error, Error::Callback(CallbackError::IssuerMissing)),
        "{error:?}"
    );

    // Built the documented plain-OpenID way (the metadata fetched for the issuer, then
    // `OperatorConfig::with_metadata`): the context keeps the document, so its RFC 9207
    // announcement holds without any further step.
    let mut from_metadata = Case::bare(d, "alpha");
    let metadata = d
        .execute(MetadataExchange::for_issuer(&from_metadata.issuer()).unwrap())
        .unwrap();
    from_metadata.config = from_metadata
        .registration()
        .unwrap()
        .with_metadata(metadata)
        .unwrap();
    from_metadata.rebuild();
    from_metadata.fetch_jwks();
    from_metadata.fault(Target::Authorize, Fault::Callback(CallbackMutation::NoIss));
    let options = from_metadata.approve();
    let error = from_metadata.reject_callback(options);
    assert!(
        matches!(error, Error::Callback(CallbackError::IssuerMissing)),
        "{error:?}"
    );
}

/// RFC 9700 2.1.1 library test: the callback of another pending login (its `state`) does not
/// complete this one.
fn x_callback_state_of_another_login<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let (_, first) =
        c.op.authorize(c.approve(), &mut driver::entropy(), d.now())
            .unwrap();
    let (second_redirect, second) =
        c.op.authorize(c.approve(), &mut driver::entropy(), d.now())
            .unwrap();
    let second_callback = browser_follow(d, second_redirect.as_str()).unwrap();
    let error = first
        .callback(&c.op, &second_callback, d.now())
        .unwrap_err();
    assert!(
        matches!(error, Error::Callback(CallbackError::StateMismatch)),
        "{error:?}"
    );
    // The rightful login still completes with it.
    let _ = second.callback(&c.op, &second_callback, d.now()).unwrap();
}

/// A callback for a login started longer ago than the policy's login timeout (600 s) is
/// refused, even with the right `state`.
fn x_callback_login_expired<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let started = d.now().minus(601);
    let (redirect, flow) =
        c.op.authorize(c.approve(), &mut driver::entropy(), started)
            .unwrap();
    let callback = browser_follow(d, redirect.as_str()).unwrap();
    let error = flow.callback(&c.op, &callback, d.now()).unwrap_err();
    assert!(
        matches!(error, Error::Callback(CallbackError::LoginExpired { issued_at, .. }) if issued_at == started.as_secs()),
        "{error:?}"
    );
}

/// Code injection (RFC 9700 4.5): the attacker plants the victim's code into a login of their
/// own (a callback with the attacker's own `state`). Returns the outcome of redeeming it.
fn inject_code<D: Driver>(c: &Case<'_, D>, pkce: bool) -> Result<Tokens, Failure> {
    let d = c.d;
    let options = |c: &Case<'_, D>| {
        let o = c.approve();
        if pkce { o } else { o.without_pkce() }
    };
    let (victim_redirect, _victim) =
        c.op.authorize(options(c), &mut driver::entropy(), d.now())
            .unwrap();
    let victim_code = query_param(
        &browser_follow(d, victim_redirect.as_str()).unwrap(),
        "code",
    )
    .unwrap();
    let (attacker_redirect, attacker) =
        c.op.authorize(options(c), &mut driver::entropy(), d.now())
            .unwrap();
    let attacker_callback = browser_follow(d, attacker_redirect.as_str()).unwrap();
    let (state, _, _) = flow_secrets(&attacker);
    let iss = query_param(&attacker_callback, "iss").unwrap();
    let injected = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &victim_code)
        .append_pair("state", &state)
        .append_pair("iss", &iss)
        .finish();
    let code = attacker.callback(&c.op, &injected, d.now()).unwrap();
    d.execute(code.token_exchange(&c.op, d.now()).unwrap())
}

/// Code injection with PKCE (the default): the token endpoint refuses the attacker's verifier
/// for the victim's code, and no token is issued.
fn x_code_injection_stopped_by_pkce<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let mark = c.mark();
    let error = core(inject_code(&c, true).unwrap_err());
    let refusal = error.operator_error().unwrap();
    assert!(refusal.is("invalid_grant"), "{refusal:?}");
    assert_eq!(refusal.endpoint, Endpoint::Token);
    assert!(!c.since(mark).iter().any(|r| r.contains("userinfo")));
}

/// Code injection where PKCE is off: the victim's id_token carries the victim's nonce, which the
/// attacker's login rejects (the nonce is bound to the login), before anything else happens.
fn x_code_injection_without_pkce_stopped_by_nonce<D: Driver>(d: &D) {
    let c = Case::new(d, "beta");
    let mark = c.mark();
    let error = core(inject_code(&c, false).unwrap_err());
    assert!(
        matches!(error, Error::IdToken(IdTokenError::NonceMismatch)),
        "{error:?}"
    );
    let after = c.since(mark);
    assert_eq!(after.last(), Some(&c.post("token")));
    assert!(!after.iter().any(|r| r.contains("userinfo")));
}

/// Tokens never in a URL (RFC 6750 2.3, RFC 9700 4.3.2): across discovery by MSISDN, metadata,
/// authorize, token, JWKS, userinfo and premium info, no request URI carries the access token,
/// the id_token, the code, the PKCE verifier, a client secret or the MSISDN given to discovery
/// (the login goes on with discovery's encrypted MSISDN); the code and verifier travel in the
/// token request's body, the access token in a header.
fn x_tokens_never_in_a_url<D: Driver>(d: &D) {
    for info in &OPERATORS {
        let server = SandboxServer::start().unwrap();
        let sandbox = server.sandbox();
        let service = sandbox.discovery_service().unwrap();
        let msisdn = info
            .subscribers
            .iter()
            .find(|(_, h)| *h == Handset::Approve)
            .unwrap()
            .0;
        let query = DiscoveryQuery::msisdn(Msisdn::new(msisdn));
        let (op, hint) = driver::discover(d, &service, &query, info.name).unwrap();
        let op = driver::with_metadata(d, op).unwrap();
        let (redirect, flow) = op
            .authorize(
                AuthorizeOptions::new().login_hint(hint.unwrap()),
                &mut driver::entropy(),
                d.now(),
            )
            .unwrap();
        let (state, nonce, verifier) = flow_secrets(&flow);
        let callback = browser_follow(d, redirect.as_str()).unwrap();
        let code = query_param(&callback, "code").unwrap();
        let received = flow.callback(&op, &callback, d.now()).unwrap();
        let tokens = d
            .execute(received.token_exchange(&op, d.now()).unwrap())
            .unwrap();
        let access_token = tokens.access_token().expose_secret().to_owned();
        let id_token = tokens.id_token().jwt().expose_secret().to_owned();
        let _ = driver::userinfo(d, &op, &tokens).unwrap();
        let _ = d.execute(tokens.premiuminfo(&op).unwrap()).unwrap();

        let requests = sandbox.requests();
        assert_eq!(requests.len(), 7, "{:?}", sandbox.request_log());
        let secret = sandbox.client_secret(info.name).unwrap();
        let verifier = verifier.unwrap();
        for request in &requests {
            let uri = url::form_urlencoded::parse(request.uri.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            for (what, value) in [
                ("access token", access_token.as_str()),
                ("id_token", id_token.as_str()),
                ("code", code.as_str()),
                ("PKCE verifier", verifier.as_str()),
                ("client secret", secret.as_str()),
                (
                    "discovery secret",
                    mc_tests::sandbox::DISCOVERY_CLIENT_SECRET,
                ),
                ("MSISDN", msisdn),
            ] {
                assert!(
                    !uri.contains(value) && !request.uri.contains(value),
                    "{what} in the URL of {} {}",
                    request.method,
                    request.path()
                );
            }
        }
        // Where they do go.
        let discovery = &requests[0];
        assert_eq!(
            form_param(&discovery.body, "MSISDN").as_deref(),
            Some(msisdn)
        );
        let authorize = requests
            .iter()
            .find(|r| r.path().ends_with("/authorize"))
            .unwrap();
        assert_eq!(
            query_param(authorize.query().unwrap(), "state").as_deref(),
            Some(state.as_str())
        );
        assert_eq!(
            query_param(authorize.query().unwrap(), "nonce").as_deref(),
            Some(nonce.as_str())
        );
        let token = requests
            .iter()
            .find(|r| r.path().ends_with("/token"))
            .unwrap();
        assert_eq!(
            form_param(&token.body, "code").as_deref(),
            Some(code.as_str())
        );
        assert_eq!(
            form_param(&token.body, "code_verifier").as_deref(),
            Some(verifier.as_str())
        );
        for endpoint in ["/userinfo", "/premiuminfo"] {
            let request = requests
                .iter()
                .find(|r| r.path().ends_with(endpoint))
                .unwrap();
            assert_eq!(
                request.header("authorization"),
                Some(format!("Bearer {access_token}").as_str())
            );
        }
    }
}
