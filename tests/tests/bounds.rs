//! Resource bounds (DESIGN.md rule 5): hostile sizes and shapes end in a typed error, never in
//! an allocation spree, a stack overflow or a hang. Speed is not asserted (project rule); each
//! case only has to end, with the right error.
//!
//! Two layers:
//! - `core_*` tests feed the pathological inputs to mc-core's parsers directly (`Jwks::parse`,
//!   `TokenResponse::parse`, `ProviderMetadata::parse`, `DiscoveryAnswer::parse`,
//!   `Authorizing::callback`, `SelectionReturn::parse`).
//! - The scenarios make the sandbox serve them and run the flow through five executors: in memory
//!   (the sandbox answers `http::Request`s directly: no body cap, so always the core's verdict),
//!   and each adapter with its default 1 MiB body cap (a 10 MB body stops at the adapter as
//!   `BodyTooLarge`) and with a 16 MiB cap (the same body reaches the core, which must answer
//!   with its own typed error).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::wire::{
    MAX_JSON_BYTES, MAX_JWKS_KEYS, MAX_JWT_BYTES, MAX_QUERY_BYTES, MAX_QUERY_PARAMS,
};
use mc_core::{
    AuthorizeOptions, CallbackError, Discovered, DiscoveryAnswer, DiscoveryQuery, Endpoint, Error,
    Exchange, IdTokenError, Jwks, JwtPart, LoginHint, Msisdn, OperatorConfig, Outcome,
    ProtocolError, ProviderMetadata, SelectionLeg, SelectionReturn, TokenResponse, UnixTime,
    Verified,
};
use mc_tests::SandboxExt as _;
use mc_tests::driver::{self, Blocking, Driver, Failure, Tokio, entropy};
use mc_tests::sandbox::{CallbackMutation, IdTokenMutation, JwksMutation, RawBody};
use mc_tests::{Fault, Handset, OPERATORS, Sandbox, SandboxServer, Target};

const TIMEOUT: Duration = Duration::from_secs(20);
const TEN_MB: usize = 10 * 1024 * 1024;
const RAISED_CAP: usize = 16 * 1024 * 1024;
const NESTING: usize = 100_000;

/// The operator selection leg of the browser, started at the fixed time of these checks.
fn selection_leg() -> SelectionLeg {
    SelectionLeg::new(&mut entropy(), UnixTime::from_secs(1_790_000_000), 600)
}

fn default_cap() -> usize {
    mc_io_blocking::Config::default().body_limit
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// A JSON object of exactly `size` bytes: `{"padding":"xxx..."}`.
fn padded_json(size: usize) -> Vec<u8> {
    let mut body = b"{\"padding\":\"".to_vec();
    body.resize(size - 2, b'x');
    body.extend_from_slice(b"\"}");
    assert_eq!(body.len(), size);
    body
}

/// `prefix` then 100,000 `[`.
fn nested(prefix: &str) -> Vec<u8> {
    let mut body = prefix.as_bytes().to_vec();
    body.resize(prefix.len() + NESTING, b'[');
    body
}

/// A JWT-shaped string (three base64url parts) of `len` bytes.
fn jwt_of(len: usize) -> String {
    let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"alpha-key-0"}"#);
    let mut jwt = format!("{head}.");
    jwt.extend(std::iter::repeat_n('A', len - head.len() - 3));
    jwt.push_str(".A");
    assert_eq!(jwt.len(), len);
    jwt
}

/// A query string of `n` distinct parameters after `prefix`.
fn many_params(prefix: &str, n: usize) -> String {
    let mut query = prefix.to_owned();
    for i in 0..n {
        query.push_str(&format!("&p{i}=1"));
    }
    query
}

// ---------------------------------------------------------------------------------------------
// The core's parsers, directly
// ---------------------------------------------------------------------------------------------

fn is_body_too_large(error: &ProtocolError, endpoint: Endpoint, size: usize) -> bool {
    matches!(error, ProtocolError::BodyTooLarge { endpoint: e, limit, size: s }
        if *e == endpoint && *limit == MAX_JSON_BYTES && *s == size)
}

fn is_malformed(error: &ProtocolError, endpoint: Endpoint) -> bool {
    matches!(error, ProtocolError::MalformedJson { endpoint: e, .. } if *e == endpoint)
}

#[test]
fn core_parsers_refuse_oversized_bodies() {
    for size in [MAX_JSON_BYTES + 1, TEN_MB] {
        let body = padded_json(size);
        let e = Jwks::parse(&body).unwrap_err();
        assert!(is_body_too_large(&e, Endpoint::Jwks, size), "{e:?}");
        let e = TokenResponse::parse(&body).unwrap_err();
        assert!(is_body_too_large(&e, Endpoint::Token, size), "{e:?}");
        let e = ProviderMetadata::parse(&body).unwrap_err();
        assert!(is_body_too_large(&e, Endpoint::Metadata, size), "{e:?}");
        let e = DiscoveryAnswer::parse(&body, &mut entropy(), UnixTime::from_secs(1_790_000_000))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Protocol(p) if is_body_too_large(p, Endpoint::Discovery, size)),
            "{e:?}"
        );
    }
    // At the bound exactly, the size is not the problem.
    let e = TokenResponse::parse(&padded_json(MAX_JSON_BYTES)).unwrap_err();
    assert!(
        matches!(
            e,
            ProtocolError::MissingField {
                field: "access_token",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn core_token_response_with_a_10_mb_jwt() {
    let body = format!(
        r#"{{"access_token":"at","token_type":"Bearer","id_token":"{}"}}"#,
        jwt_of(TEN_MB)
    );
    let e = TokenResponse::parse(body.as_bytes()).unwrap_err();
    assert!(is_body_too_large(&e, Endpoint::Token, body.len()), "{e:?}");
}

#[test]
fn core_jwks_key_count_is_bounded() {
    let tiny = |n: usize| {
        let keys = vec![r#"{"kty":"RSA"}"#; n].join(",");
        format!(r#"{{"keys":[{keys}]}}"#).into_bytes()
    };
    for n in [MAX_JWKS_KEYS + 1, 10_000] {
        let e = Jwks::parse(&tiny(n)).unwrap_err();
        assert!(
            matches!(e, ProtocolError::TooManyKeys { limit: MAX_JWKS_KEYS, found } if found == n),
            "{e:?}"
        );
    }
    // At the bound: parsed, the unusable entries skipped.
    let jwks = Jwks::parse(&tiny(MAX_JWKS_KEYS)).unwrap();
    assert_eq!((jwks.keys().len(), jwks.skipped()), (0, MAX_JWKS_KEYS));
    // 10,000 real-sized keys do not even reach the count: the body bound comes first.
    let key = SandboxKey::jwk_text();
    let body = format!(r#"{{"keys":[{}]}}"#, vec![key.as_str(); 10_000].join(","));
    let e = Jwks::parse(body.as_bytes()).unwrap_err();
    assert!(is_body_too_large(&e, Endpoint::Jwks, body.len()), "{e:?}");
}

/// The sandbox's first RSA public key as JWK text.
struct SandboxKey;

impl SandboxKey {
    fn jwk_text() -> String {
        mc_tests::keys::SigningKey::from_pool(mc_tests::keys::KeyFamily::Rs256, 0, "k".to_owned())
            .jwk()
            .to_string()
    }
}

#[test]
fn core_parsers_refuse_deep_nesting() {
    for prefix in [
        "",
        "{\"keys\":",
        "{\"access_token\":\"a\",\"x\":",
        "{\"issuer\":",
    ] {
        let body = nested(prefix);
        let e = Jwks::parse(&body).unwrap_err();
        assert!(is_malformed(&e, Endpoint::Jwks), "{e:?}");
        let e = TokenResponse::parse(&body).unwrap_err();
        assert!(is_malformed(&e, Endpoint::Token), "{e:?}");
        let e = ProviderMetadata::parse(&body).unwrap_err();
        assert!(is_malformed(&e, Endpoint::Metadata), "{e:?}");
        let e = DiscoveryAnswer::parse(&body, &mut entropy(), UnixTime::from_secs(1_790_000_000))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Protocol(p) if is_malformed(p, Endpoint::Discovery)),
            "{e:?}"
        );
    }
}

/// A registry operator (the sandbox's alpha, never asked anything) and a pending login, at a
/// fixed time.
fn pending_login() -> (Discovered, mc_core::Authorizing) {
    let op = Sandbox::new("https://sandbox.example")
        .registry_entry("alpha")
        .unwrap()
        .build()
        .unwrap();
    let mut rng = |buf: &mut [u8]| buf.fill(3);
    let (_, flow) = op
        .authorize(
            AuthorizeOptions::new(),
            &mut rng,
            UnixTime::from_secs(1_790_000_000),
        )
        .unwrap();
    (op, flow)
}

#[test]
fn core_callback_and_selection_return_bound_the_query() {
    let now = UnixTime::from_secs(1_790_000_000);
    // 10,000 parameters cannot fit the byte bound; 100 short ones hit the count bound.
    for (query, limit) in [
        (many_params("code=c", 10_000), MAX_QUERY_BYTES),
        (many_params("code=c", 100), MAX_QUERY_PARAMS),
        (
            format!(
                "https://sp.example/callback?{}",
                many_params("code=c", 10_000)
            ),
            MAX_QUERY_BYTES,
        ),
    ] {
        let (op, flow) = pending_login();
        let e = flow.callback(&op, &query, now).unwrap_err();
        assert!(
            matches!(&e, Error::Callback(CallbackError::TooLarge { limit: l }) if *l == limit),
            "{e:?}"
        );
        let e = SelectionReturn::parse(&query, selection_leg(), now).unwrap_err();
        assert!(
            matches!(&e, Error::Callback(CallbackError::TooLarge { limit: l }) if *l == limit),
            "{e:?}"
        );
    }
    // At the count bound exactly: the callback is read (and its state judged).
    let (op, flow) = pending_login();
    let state = flow.state().expose_secret().to_owned();
    let query = many_params(&format!("code=c&state={state}"), MAX_QUERY_PARAMS - 2);
    let _ = flow.callback(&op, &query, now).unwrap();
    let e = SelectionReturn::parse(
        &many_params("mcc_mnc=234_15", MAX_QUERY_PARAMS),
        selection_leg(),
        now,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Callback(CallbackError::TooLarge {
                limit: MAX_QUERY_PARAMS
            })
        ),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Through the flow: in memory and through both adapters, default and raised body caps
// ---------------------------------------------------------------------------------------------

/// The sandbox without sockets: the core's verdict on exactly the bytes the sandbox serves.
struct InMemory(Sandbox);

impl InMemory {
    fn run<E: Exchange>(&self, exchange: E) -> Result<E::Output, Failure> {
        let response = self.0.handle(&exchange.request());
        Ok(exchange.respond(response, self.now())?)
    }
}

impl Driver for InMemory {
    /// The step, and when it pauses for the operator's keys, the refetch it hands back (its
    /// answer stores the keys in the shared context).
    fn execute<E>(&self, exchange: E) -> Result<<E::Output as Outcome>::Value, Failure>
    where
        E: Exchange + Send,
        E::Output: Outcome,
        <E::Output as Outcome>::Value: Send,
    {
        match self.run(exchange)?.into_verified() {
            Verified::Done(value) => Ok(value),
            Verified::NeedJwks(refetch) => self.run(refetch),
        }
    }

    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Failure> {
        Ok(self.0.handle(&request))
    }

    fn now(&self) -> UnixTime {
        mc_io_blocking::now()
    }
}

/// How a scenario gets its executor for a sandbox, and the executor's body cap.
type Make<D> = fn(&SandboxServer) -> (D, Option<usize>);

fn in_memory(server: &SandboxServer) -> (InMemory, Option<usize>) {
    (InMemory(server.sandbox().clone()), None)
}

fn blocking_default_cap(_: &SandboxServer) -> (Blocking, Option<usize>) {
    (Blocking::new(TIMEOUT, default_cap()), Some(default_cap()))
}

fn blocking_raised_cap(_: &SandboxServer) -> (Blocking, Option<usize>) {
    (Blocking::new(TIMEOUT, RAISED_CAP), Some(RAISED_CAP))
}

fn tokio_default_cap(_: &SandboxServer) -> (Tokio, Option<usize>) {
    (
        Tokio::new(TIMEOUT, default_cap()).unwrap(),
        Some(default_cap()),
    )
}

fn tokio_raised_cap(_: &SandboxServer) -> (Tokio, Option<usize>) {
    (Tokio::new(TIMEOUT, RAISED_CAP).unwrap(), Some(RAISED_CAP))
}

/// One `#[test]` per executor for each scenario.
macro_rules! through_every_executor {
    ($($scenario:ident),* $(,)?) => {
        mod in_memory {
            $( #[test] fn $scenario() { super::$scenario(super::in_memory) } )*
        }
        mod blocking_default_cap {
            $( #[test] fn $scenario() { super::$scenario(super::blocking_default_cap) } )*
        }
        mod blocking_raised_cap {
            $( #[test] fn $scenario() { super::$scenario(super::blocking_raised_cap) } )*
        }
        mod tokio_default_cap {
            $( #[test] fn $scenario() { super::$scenario(super::tokio_default_cap) } )*
        }
        mod tokio_raised_cap {
            $( #[test] fn $scenario() { super::$scenario(super::tokio_raised_cap) } )*
        }
    };
}

through_every_executor!(
    oversized_bodies,
    jwt_of_10_mb,
    jwks_of_10000_keys,
    deeply_nested_json,
    deeply_nested_jwt_parts,
    callback_with_10000_params,
);

/// A sandbox, an executor for it, its cap, and the `alpha` (RS256, JSON userinfo) or `beta`
/// (ES256, signed userinfo) operator.
struct Run<D: Driver> {
    server: SandboxServer,
    d: D,
    cap: Option<usize>,
    name: &'static str,
    config: OperatorConfig,
    op: Discovered,
}

impl<D: Driver> Run<D> {
    fn new(make: Make<D>, name: &'static str) -> Self {
        let server = SandboxServer::start().unwrap();
        let (d, cap) = make(&server);
        let config = server.sandbox().registry_entry(name).unwrap();
        let op = driver::with_metadata(&d, config.clone()).unwrap();
        Self {
            server,
            d,
            cap,
            name,
            config,
            op,
        }
    }

    fn sandbox(&self) -> &Sandbox {
        self.server.sandbox()
    }

    fn fault(&self, target: Target, fault: Fault) {
        self.sandbox().set_operator_fault(self.name, target, fault);
    }

    fn body(&self, target: Target, body: Vec<u8>) {
        self.fault(target, Fault::Body(RawBody::json(body)));
    }

    fn msisdn(&self) -> &'static str {
        OPERATORS
            .iter()
            .find(|o| o.name == self.name)
            .unwrap()
            .subscribers
            .iter()
            .find(|(_, h)| *h == Handset::Approve)
            .unwrap()
            .0
    }

    fn login(&self) -> Result<mc_core::Tokens, Failure> {
        let options =
            AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(self.msisdn())));
        driver::login(&self.d, &self.op, options)
    }

    fn userinfo(&self, tokens: &mc_core::Tokens) -> Result<mc_core::UserInfo, Failure> {
        driver::userinfo(&self.d, &self.op, tokens)
    }

    fn discover(&self) -> Result<mc_core::DiscoveryOutcome, Failure> {
        let service = self.sandbox().discovery_service().unwrap();
        self.d.execute(
            service
                .discover(
                    &DiscoveryQuery::msisdn(Msisdn::new(self.msisdn())),
                    &mut entropy(),
                )
                .unwrap(),
        )
    }

    fn metadata(&self) -> Result<ProviderMetadata, Failure> {
        self.d.execute(self.config.metadata_exchange().unwrap())
    }

    fn jwks(&self) -> Result<Jwks, Failure> {
        self.d.execute(self.op.jwks_exchange().unwrap())
    }

    fn jwks_fetches(&self) -> usize {
        let path = format!("GET /op/{}/jwks", self.name);
        self.sandbox()
            .request_log()
            .iter()
            .filter(|r| **r == path)
            .count()
    }

    /// A body of `size` bytes ends at the adapter's cap when over it, else in the core's typed
    /// error, which `core` must recognise.
    #[track_caller]
    fn expect<T: std::fmt::Debug>(
        &self,
        result: Result<T, Failure>,
        size: usize,
        core: impl FnOnce(&Error) -> bool,
    ) {
        let over_cap = self.cap.is_some_and(|cap| size > cap);
        match result {
            Err(Failure::BodyTooLarge) if over_cap => {}
            Err(Failure::Core(e)) if !over_cap && core(&e) => {}
            other => panic!(
                "a {size}-byte body with cap {:?} ended in {other:?}",
                self.cap
            ),
        }
    }
}

fn protocol(e: &Error, check: impl FnOnce(&ProtocolError) -> bool) -> bool {
    matches!(e, Error::Protocol(p) if check(p))
}

/// Oversized JSON bodies at every endpoint: just over the core's JSON bound, and 10 MB.
fn oversized_bodies<D: Driver>(make: Make<D>) {
    for size in [MAX_JSON_BYTES + 1, TEN_MB] {
        let run = Run::new(make, "alpha");
        let body = padded_json(size);

        run.sandbox()
            .set_fault(Target::Discovery, Fault::Body(RawBody::json(body.clone())));
        run.expect(run.discover(), size, |e| {
            protocol(e, |p| is_body_too_large(p, Endpoint::Discovery, size))
        });
        run.body(Target::Metadata, body.clone());
        run.expect(run.metadata(), size, |e| {
            protocol(e, |p| is_body_too_large(p, Endpoint::Metadata, size))
        });
        run.body(Target::Jwks, body.clone());
        run.expect(run.jwks(), size, |e| {
            protocol(e, |p| is_body_too_large(p, Endpoint::Jwks, size))
        });
        run.body(Target::Token, body.clone());
        let result = run.login();
        run.expect(result, size, |e| {
            protocol(e, |p| is_body_too_large(p, Endpoint::Token, size))
        });

        run.sandbox().clear_faults();
        let tokens = run.login().unwrap();
        run.body(Target::UserInfo, body);
        let result = run.userinfo(&tokens);
        run.expect(result, size, |e| {
            protocol(e, |p| is_body_too_large(p, Endpoint::UserInfo, size))
        });
    }
}

/// A 10 MB id_token (in a 10 MB token response), a 100 KB one (under the JSON bound, over the
/// JWT bound), and a 10 MB signed-userinfo body.
fn jwt_of_10_mb<D: Driver>(make: Make<D>) {
    let run = Run::new(make, "alpha");
    let body = format!(
        r#"{{"access_token":"at","token_type":"Bearer","id_token":"{}"}}"#,
        jwt_of(TEN_MB)
    )
    .into_bytes();
    let size = body.len();
    run.body(Target::Token, body);
    let result = run.login();
    run.expect(result, size, |e| {
        protocol(e, |p| is_body_too_large(p, Endpoint::Token, size))
    });

    let long = 100 * 1024;
    run.fault(
        Target::Token,
        Fault::IdToken(IdTokenMutation::Raw(jwt_of(long))),
    );
    let result = run.login();
    run.expect(result, long, |e| {
        matches!(e, Error::IdToken(IdTokenError::TooLong { limit: MAX_JWT_BYTES, len }) if *len == long)
    });

    // Signed userinfo: the body is the JWT, bounded as a JWT.
    let run = Run::new(make, "beta");
    let tokens = run.login().unwrap();
    run.fault(
        Target::UserInfo,
        Fault::Body(RawBody::new(
            200,
            "application/jwt",
            jwt_of(TEN_MB).into_bytes(),
        )),
    );
    let result = run.userinfo(&tokens);
    run.expect(result, TEN_MB, |e| {
        matches!(e, Error::IdToken(IdTokenError::TooLong { limit: MAX_JWT_BYTES, len }) if *len == TEN_MB)
    });
}

/// A JWKS of 10,000 real keys (4 MB), of 10,000 tiny entries (under the JSON bound, over the
/// key count), and at the count bound: one fetch each, a typed error, no second fetch.
fn jwks_of_10000_keys<D: Driver>(make: Make<D>) {
    for name in ["alpha", "beta"] {
        let run = Run::new(make, name);
        run.fault(Target::Jwks, Fault::Jwks(JwksMutation::Padded(10_000)));
        let size = run
            .sandbox()
            .handle(&run.op.jwks_exchange().unwrap().request())
            .body()
            .len();
        assert!(size > default_cap() && size < RAISED_CAP, "{size}");
        let before = run.jwks_fetches();
        let result = run.login();
        run.expect(result, size, |e| {
            protocol(e, |p| is_body_too_large(p, Endpoint::Jwks, size))
        });
        assert_eq!(run.jwks_fetches(), before + 1);

        let tiny = format!(r#"{{"keys":[{}]}}"#, vec!["{}"; 10_000].join(","));
        run.body(Target::Jwks, tiny.into_bytes());
        let before = run.jwks_fetches();
        let result = run.login();
        run.expect(result, 0, |e| {
            protocol(e, |p| {
                matches!(
                    p,
                    ProtocolError::TooManyKeys {
                        limit: MAX_JWKS_KEYS,
                        found: 10_000
                    }
                )
            })
        });
        assert_eq!(run.jwks_fetches(), before + 1);

        // One over the count bound with real keys, then exactly at it.
        run.fault(
            Target::Jwks,
            Fault::Jwks(JwksMutation::Padded(MAX_JWKS_KEYS)),
        );
        let result = run.login();
        run.expect(result, 0, |e| {
            protocol(e, |p| {
                matches!(p, ProtocolError::TooManyKeys { limit: MAX_JWKS_KEYS, found } if *found == MAX_JWKS_KEYS + 1)
            })
        });
        run.fault(
            Target::Jwks,
            Fault::Jwks(JwksMutation::Padded(MAX_JWKS_KEYS - 1)),
        );
        let _ = run.login().unwrap();
        assert_eq!(run.op.jwks().keys().len(), MAX_JWKS_KEYS);
    }
}

/// 100,000 nested `[` at every JSON endpoint: serde's recursion limit turns it into
/// `MalformedJson`, not a stack overflow.
fn deeply_nested_json<D: Driver>(make: Make<D>) {
    for prefix in ["", "{\"keys\":", "{\"access_token\":\"a\",\"x\":"] {
        let run = Run::new(make, "alpha");
        let body = nested(prefix);
        let size = body.len();
        run.sandbox()
            .set_fault(Target::Discovery, Fault::Body(RawBody::json(body.clone())));
        run.expect(run.discover(), size, |e| {
            protocol(e, |p| is_malformed(p, Endpoint::Discovery))
        });
        run.body(Target::Metadata, body.clone());
        run.expect(run.metadata(), size, |e| {
            protocol(e, |p| is_malformed(p, Endpoint::Metadata))
        });
        run.body(Target::Jwks, body.clone());
        run.expect(run.jwks(), size, |e| {
            protocol(e, |p| is_malformed(p, Endpoint::Jwks))
        });
        run.body(Target::Token, body.clone());
        let result = run.login();
        run.expect(result, size, |e| {
            protocol(e, |p| is_malformed(p, Endpoint::Token))
        });
        run.sandbox().clear_faults();
        let tokens = run.login().unwrap();
        run.body(Target::UserInfo, body);
        let result = run.userinfo(&tokens);
        run.expect(result, size, |e| {
            protocol(e, |p| is_malformed(p, Endpoint::UserInfo))
        });
    }
}

/// Deep nesting inside a signed id_token (claims) and its header, within the JWT bound.
fn deeply_nested_jwt_parts<D: Driver>(make: Make<D>) {
    let run = Run::new(make, "alpha");
    let key = run.sandbox().signing_key("alpha").unwrap();
    let depth = 20_000;
    let deep = |prefix: &str| format!("{prefix}{}", "[".repeat(depth));
    let header = r#"{"alg":"RS256","typ":"JWT","kid":"alpha-key-0"}"#;
    let claims = r#"{"sub":"x"}"#;
    for (header, claims, part) in [
        (header.to_owned(), deep("{\"sub\":"), JwtPart::Claims),
        (deep("{\"alg\":"), claims.to_owned(), JwtPart::Header),
        (deep(""), claims.to_owned(), JwtPart::Header),
    ] {
        let jwt = key.sign_text(&header, &claims);
        assert!(jwt.len() < MAX_JWT_BYTES);
        run.fault(Target::Token, Fault::IdToken(IdTokenMutation::Raw(jwt)));
        let result = run.login();
        run.expect(
            result,
            0,
            |e| matches!(e, Error::IdToken(IdTokenError::Malformed { part: p, .. }) if *p == part),
        );
    }
}

/// The operator's redirect back with 10,000 extra parameters (about 50 KB of query), with 100,
/// and around the parameter-count bound (`code`, `state` and `iss` are 3 of them): the callback
/// ends in `CallbackError::TooLarge`, and no token request is made.
fn callback_with_10000_params<D: Driver>(make: Make<D>) {
    let run = Run::new(make, "alpha");
    for (extra, limit) in [
        (10_000, Some(MAX_QUERY_BYTES)),
        (100, Some(MAX_QUERY_PARAMS)),
        (MAX_QUERY_PARAMS - 2, Some(MAX_QUERY_PARAMS)),
        (MAX_QUERY_PARAMS - 3, None),
    ] {
        run.fault(
            Target::Authorize,
            Fault::Callback(CallbackMutation::ExtraParams(extra)),
        );
        let before = run.sandbox().request_log().len();
        let result = run.login();
        match limit {
            Some(limit) => {
                run.expect(result, 0, |e| {
                    matches!(e, Error::Callback(CallbackError::TooLarge { limit: l }) if *l == limit)
                });
                let after = run.sandbox().request_log()[before..].to_vec();
                assert_eq!(after, ["GET /op/alpha/authorize"]);
            }
            None => {
                let _ = result.unwrap();
            }
        }
    }
}
