//! One test per id_token verification rule (OIDC Core 3.1.3.7, RFC 8725, the Mobile Connect
//! profile; DESIGN.md rule 2): each starts from a valid signed id_token, breaks exactly one thing,
//! and asserts the precise typed error.
//!
//! The tests are the rows of `cases!` tables, `name: case => expected,`. The case is a [`Case`]:
//! the valid claims after one edit (`claims(..)`), or the JWT built from them (`jwt(..)`), and
//! when the rule needs it the operator (`.on`) or its key set (`.keys`), the authorize options
//! (`.options`) and the JWKS refetch the step must ask for (`.refetch`, answered with that
//! response; without it, asking for one fails the test). `expected` is an `IdTokenError`
//! pattern (with an optional `if` guard), `Ok`, or `Ok(tokens) { checks }`.
//! Every row is its own `#[test]` named by the row, so `cargo test <name>` runs one case; a row
//! `name(x in values): ..` runs its case once per value. The few tests that take several logins
//! or look at more than the verdict are plain functions over the same `check!`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::TestKey::{EcP256, Rsa1024, RsaA, RsaB};
use support::*;

use std::cell::{Cell, RefCell};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm::{self, ES256, HS256, PS256, RS256, RS512};
use mc_core::id_token::at_hash;
use mc_core::wire::MAX_JWT_BYTES;
use mc_core::{
    AuthorizeOptions, Discovered, Error, Exchange as _, IdTokenError, Jwks, JwtPart,
    OperatorConfig, Policy, Tokens, Verified,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The table and its runner
// ---------------------------------------------------------------------------------------------

/// Run one [`Case`] and assert its outcome: `Ok`, `Ok(tokens) { checks }`, or the
/// `IdTokenError` variant as a pattern (fields and an `if` guard allowed; bindings are
/// references).
macro_rules! check {
    ($case:expr => Ok) => {{
        let _tokens = accepted($case.run());
    }};
    ($case:expr => Ok($tokens:ident) $checks:block) => {{
        let $tokens = accepted($case.run());
        $checks
    }};
    ($case:expr => $variant:ident $({ $($field:tt)* })? $(if $guard:expr)?) => {{
        let e = rejected($case.run());
        assert!(
            matches!(&e, Error::IdToken(IdTokenError::$variant $({ $($field)* })?) $(if $guard)?),
            "{e:?}"
        );
    }};
}

/// Rows `name: case => expected,` (see [`check!`]), each a `#[test] fn name`; with
/// `name(x in values): ..` the case runs once per value, bound to the pattern `x`.
macro_rules! cases {
    () => {};
    ($name:ident $(($x:pat in $values:expr))?: $case:expr => Ok $(($t:ident) $checks:block)?,
     $($rest:tt)*) => {
        #[test]
        fn $name() {
            $(for $x in $values)? {
                check!($case => Ok $(($t) $checks)?);
            }
        }
        cases!($($rest)*);
    };
    ($name:ident $(($x:pat in $values:expr))?: $case:expr
     => $variant:ident $({ $($field:tt)* })? $(if $guard:expr)?, $($rest:tt)*) => {
        #[test]
        fn $name() {
            $(for $x in $values)? {
                check!($case => $variant $({ $($field)* })? $(if $guard)?);
            }
        }
        cases!($($rest)*);
    };
}

/// The operator's JWKS URL: the only place a refetch may go.
const JWKS_URI: &str = "https://op.example/jwks";

/// One login through the token step: the id_token the token endpoint returns is built from the
/// login's valid claims.
struct Case<'a> {
    /// `None`: [`operator`].
    op: Option<Discovered>,
    /// `Some`: the operator's JWKS is exactly this, fetched at NOW.
    keys: Option<Jwks>,
    options: AuthorizeOptions,
    token: Box<dyn FnOnce(Value) -> String + 'a>,
    /// `None`: the step must finish without a JWKS refetch. `Some`: it must ask for one, and
    /// the JWKS endpoint answers this.
    refetch: Option<http::Response<Vec<u8>>>,
}

/// The id_token built by `make` from the valid claims.
fn jwt<'a>(make: impl FnOnce(Value) -> String + 'a) -> Case<'a> {
    Case {
        op: None,
        keys: None,
        options: AuthorizeOptions::new(),
        token: Box::new(make),
        refetch: None,
    }
}

/// The valid claims after `edit`, signed RS256 by RSA A as `kid-a`.
fn claims<'a>(edit: impl FnOnce(&mut Value) + 'a) -> Case<'a> {
    jwt(move |mut claims| {
        edit(&mut claims);
        rs256(&claims)
    })
}

/// The valid id_token, unchanged.
fn valid() -> Case<'static> {
    claims(|_| {})
}

/// The valid claims signed by RSA B as `kid-b`: a key the operator's stored JWKS lacks.
fn kid_b() -> Case<'static> {
    jwt(|c| sign(&c, RS256, RsaB, Some("kid-b")))
}

impl Case<'_> {
    /// Against this operator.
    fn on(self, op: Discovered) -> Self {
        Self {
            op: Some(op),
            ..self
        }
    }

    /// With an operator whose JWKS is exactly these JWKs, fetched at NOW.
    fn keys(self, keys: &[Value]) -> Self {
        Self {
            keys: Some(Jwks::parse(&jwks_body(keys)).unwrap()),
            ..self
        }
    }

    /// For a login started with these options.
    fn options(self, options: AuthorizeOptions) -> Self {
        Self { options, ..self }
    }

    /// The step must ask for the JWKS; the JWKS endpoint answers `response`.
    fn refetch(self, response: http::Response<Vec<u8>>) -> Self {
        Self {
            refetch: Some(response),
            ..self
        }
    }

    /// The token step's outcome as `respond` returns it.
    fn exchange(self) -> Result<Verified<Tokens>, Error> {
        let op = self.op.unwrap_or_else(operator);
        if let Some(keys) = self.keys {
            op.set_jwks(keys, now());
        }
        let Started {
            flow, state, nonce, ..
        } = start(&op, self.options);
        let code = flow.callback(&op, &format!("code=the-code&state={state}"), now())?;
        let response = token_response(&(self.token)(valid_claims(&nonce)));
        code.token_exchange(&op, now())?.respond(response, now())
    }

    /// The login's verdict, refetching the JWKS exactly when the case says so.
    fn run(mut self) -> Result<Tokens, Error> {
        let answer = self.refetch.take();
        match (self.exchange(), answer) {
            (Ok(Verified::Done(tokens)), None) => Ok(tokens),
            (Err(e), None) => Err(e),
            (Ok(Verified::NeedJwks(refetch)), Some(answer)) => {
                assert_eq!(refetch.request().uri(), JWKS_URI);
                refetch.respond(answer, now())
            }
            (outcome, answer) => panic!(
                "expected {} JWKS refetch, got {outcome:?}",
                if answer.is_some() { "a" } else { "no" }
            ),
        }
    }
}

/// The `alg`, `kid` and `sub` of an accepted id_token.
fn verified(tokens: &Tokens) -> (Algorithm, Option<&str>, &str) {
    (
        tokens.id_token().alg(),
        tokens.id_token().kid(),
        tokens.sub(),
    )
}

/// The id_token's `exp` and `iat` read as the valid claims' (fractions dropped).
#[track_caller]
fn assert_valid_exp_and_iat(tokens: &Tokens) {
    let claims = tokens.id_token().claims();
    assert_eq!((claims.exp, claims.iat), (Some(NOW + 300), Some(NOW - 5)));
}

/// The tokens of an accepted login (panics with the error if it was rejected).
#[track_caller]
fn accepted(result: Result<Tokens, Error>) -> Tokens {
    match result {
        Ok(tokens) => tokens,
        Err(e) => panic!("expected the id_token to be accepted, got {e:?}"),
    }
}

/// The error of a rejected login (panics with the tokens if it was accepted).
#[track_caller]
fn rejected(result: Result<Tokens, Error>) -> Error {
    match result {
        Ok(tokens) => panic!("expected a rejection, got {tokens:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// Operators, options and JWKS answers
// ---------------------------------------------------------------------------------------------

/// The public JWK of a test key as `kid`, with no `alg` pin.
fn jwk(key: TestKey, kid: &str) -> Value {
    key.jwk(Some(kid), None)
}

/// The public JWK of a test key as `kid`, pinned to RS256.
fn pinned(key: TestKey, kid: &str) -> Value {
    key.jwk(Some(kid), Some("RS256"))
}

/// The operator allowing HS256 too.
fn operator_allowing_hs256() -> Discovered {
    operator_allowing_hs256_keyed_by(CLIENT_SECRET)
}

/// The operator allowing HS256 too, registered with this client secret.
fn operator_allowing_hs256_keyed_by(secret: &str) -> Discovered {
    let mut policy = Policy::default();
    policy.allowed_algorithms.push(HS256);
    built_with_keys(operator_config_for(registration_with_secret(secret)).policy(policy))
}

/// An attacker's symmetric key, which [`operator_with_an_oct_key`] lists as `kid-oct`.
const ATTACKER_SECRET: &[u8] = b"attacker-chosen-symmetric-key-0123456789";

/// The HS256-allowing operator whose JWKS also lists [`ATTACKER_SECRET`] as an `oct` key, which
/// the key set skips.
fn operator_with_an_oct_key() -> Discovered {
    let keys = [
        pinned(RsaA, "kid-a"),
        json!({ "kty": "oct", "kid": "kid-oct", "k": b64(ATTACKER_SECRET), "alg": "HS256" }),
    ];
    let op = operator_allowing_hs256();
    op.set_jwks(Jwks::parse(&jwks_body(&keys)).unwrap(), now());
    assert_eq!(op.jwks().skipped(), 1);
    op
}

/// The operator that refetches its JWKS at most once an hour; its keys were fetched at NOW.
fn operator_refetching_hourly() -> Discovered {
    let op = operator_with_policy(|p| p.jwks_min_refetch_secs = 3600);
    assert_eq!(op.jwks_fetched_at(), Some(now()));
    op
}

/// The same operator with keys fetched an hour before NOW.
fn operator_refetching_hourly_with_old_keys() -> Discovered {
    let op = operator_refetching_hourly();
    op.set_jwks(default_jwks(), now().minus(3600));
    op
}

/// Keys handed over at registration, and no JWKS URL to refetch from.
fn operator_without_jwks_uri() -> Discovered {
    let config = OperatorConfig::new(registration()).unwrap().issuer(ISSUER);
    let config = config
        .authorization("https://op.example/authorize")
        .unwrap();
    let config = config.token("https://op.example/token").unwrap();
    config.keys(default_jwks()).build().unwrap()
}

/// The JWKS endpoint's answer when the operator did not rotate: its default keys.
fn unchanged_jwks() -> http::Response<Vec<u8>> {
    raw_response(200, "application/json", &default_jwks_body())
}

/// The JWKS endpoint's answer after the operator added RSA B as `kid-b`.
fn rotated_jwks() -> http::Response<Vec<u8>> {
    jwks_response(&[pinned(RsaA, "kid-a"), pinned(RsaB, "kid-b")])
}

fn acr_values(levels: &[u8]) -> AuthorizeOptions {
    AuthorizeOptions::new().acr_values(levels.iter().copied())
}

fn max_age(secs: u64) -> AuthorizeOptions {
    AuthorizeOptions::new().max_age(secs)
}

fn identity_login() -> AuthorizeOptions {
    AuthorizeOptions::new().scope(["mc_identity_phonenumber"])
}

// ---------------------------------------------------------------------------------------------
// Building and breaking tokens
// ---------------------------------------------------------------------------------------------

/// The claims signed RS256 by RSA A as `kid-a`, like the valid token.
fn rs256(claims: &Value) -> String {
    sign(claims, RS256, RsaA, Some("kid-a"))
}

/// RS256 by `key` over exactly this header.
fn rs256_by(key: TestKey, header: &Value, claims: &Value) -> String {
    sign_raw(header, claims, RS256, &key.encoding_key())
}

fn rs256_header(kid: &str) -> Value {
    json!({ "alg": "RS256", "typ": "JWT", "kid": kid })
}

/// The valid token's header (`alg` RS256, `typ` JWT, `kid` kid-a) with these members set.
fn header(members: Value) -> Value {
    let mut header = rs256_header("kid-a");
    assign(&mut header, members);
    header
}

fn b64_json(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

/// RS256 by RSA A over an arbitrary signing input (`header_b64.claims_b64`), with the backend
/// mc-core uses.
fn sign_input(signing_input: &str) -> String {
    let signer = (mc_core::crypto::provider().signer_factory)(&RS256, &RsaA.encoding_key());
    let signer = signer.unwrap();
    let signature = signer.try_sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64(&signature))
}

/// Sign raw header and claims bytes (which need not be JSON) with RS256 / RSA A.
fn sign_bytes_rs256(header: &[u8], claims: &[u8]) -> String {
    sign_input(&format!("{}.{}", b64(header), b64(claims)))
}

/// Raw claims bytes under the valid token's header, signed.
fn sign_claims_bytes(claims: &[u8]) -> String {
    sign_bytes_rs256(rs256_header("kid-a").to_string().as_bytes(), claims)
}

/// A JWT with header `{"alg", "typ":"JWT"}` and this signature part, signed by nobody.
fn unsigned(claims: &Value, alg: &str, signature: &str) -> String {
    let header = json!({ "alg": alg, "typ": "JWT" });
    format!("{}.{}.{signature}", b64_json(&header), b64_json(claims))
}

/// The JWT with part `index` (0 header, 1 claims, 2 signature) replaced by `part`.
fn replace_part(jwt: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = jwt.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

/// The JWT with its signature bytes edited.
fn edit_signature(jwt: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = URL_SAFE_NO_PAD
        .decode(jwt.rsplit('.').next().unwrap())
        .unwrap();
    edit(&mut bytes);
    replace_part(jwt, 2, &b64(&bytes))
}

/// Flip bits in one byte of the signature.
fn tamper_signature(jwt: &str) -> String {
    edit_signature(jwt, |bytes| {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5A;
    })
}

/// The claims with these members set (added or replaced).
fn assign(claims: &mut Value, members: Value) {
    for (name, value) in members.as_object().unwrap() {
        claims[name] = value.clone();
    }
}

fn remove(claims: &mut Value, name: &str) {
    claims.as_object_mut().unwrap().remove(name);
}

/// The claims with another `sub`.
fn with_sub(mut claims: Value, sub: &str) -> Value {
    claims["sub"] = json!(sub);
    claims
}

/// The claims with `at_hash` computed for `alg`'s hash function.
fn with_at_hash(mut claims: Value, alg: Algorithm) -> Value {
    claims["at_hash"] = json!(at_hash(ACCESS_TOKEN, alg));
    claims
}

/// The nonce of another login through the operator (other randomness): not the one in `claims`.
fn nonce_of_another_login(claims: &Value) -> String {
    let mut other_entropy = |buf: &mut [u8]| buf.fill(0xAB);
    let (redirect, _) = operator()
        .authorize(AuthorizeOptions::new(), &mut other_entropy, now())
        .unwrap();
    let nonce = param(&query_of(redirect.url()), "nonce").unwrap();
    assert_ne!(claims["nonce"], json!(nonce));
    nonce
}

/// The valid claims as a JSON array in IdTokenClaims' field order (RFC 7519 7.2 wants an
/// object).
fn positional(claims: &Value) -> Value {
    json!([
        claims["iss"],
        claims["sub"],
        claims["aud"],
        claims["azp"],
        claims["exp"],
        claims["iat"],
        null,
        claims["auth_time"],
        claims["nonce"],
        claims["acr"],
        claims["amr"],
        claims["at_hash"],
    ])
}

/// An RS256 header naming RSA B's public key as `jwk` (and this `kid`, if any).
fn header_with_attacker_jwk(kid: Option<&str>) -> Value {
    let mut header = json!({
        "alg": "RS256",
        "typ": "JWT",
        "jwk": pinned(RsaB, "attacker"),
    });
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    header
}

/// The header and claims of the valid token padded with a `pad` claim of `claims_pad`
/// characters and a `pad` header member of `header_pad` characters.
fn padded(claims: &Value, claims_pad: usize, header_pad: usize) -> (Value, Value) {
    let mut claims = claims.clone();
    claims["pad"] = json!("x".repeat(claims_pad));
    let mut header = rs256_header("kid-a");
    header["pad"] = json!("y".repeat(header_pad));
    (header, claims)
}

fn padded_jwt(claims: &Value, claims_pad: usize, header_pad: usize) -> String {
    let (header, claims) = padded(claims, claims_pad, header_pad);
    rs256_by(RsaA, &header, &claims)
}

fn padded_len(claims: &Value, claims_pad: usize, header_pad: usize) -> usize {
    let (header, claims) = padded(claims, claims_pad, header_pad);
    // RS256 with a 2048-bit key: 256 signature bytes, 342 base64url characters.
    b64_json(&header).len() + 1 + b64_json(&claims).len() + 1 + 342
}

/// The valid token padded to exactly `target` bytes.
fn padded_to(claims: &Value, target: usize) -> String {
    for header_pad in 0..4 {
        for claims_pad in (target * 3 / 4 - 1200)..(target * 3 / 4) {
            if padded_len(claims, claims_pad, header_pad) == target {
                let jwt = padded_jwt(claims, claims_pad, header_pad);
                assert_eq!(jwt.len(), target);
                return jwt;
            }
        }
    }
    panic!("no padding gives {target} bytes");
}

// ---------------------------------------------------------------------------------------------
// Positive controls
// ---------------------------------------------------------------------------------------------

cases! {
    accepts_valid_rs256: valid() => Ok(t) {
        assert_eq!(verified(&t), (RS256, Some("kid-a"), SUB));
        assert_eq!(t.access_token().expose_secret(), ACCESS_TOKEN);
    },
    accepts_valid_es256: jwt(|c| sign(&c, ES256, EcP256, Some("kid-ec")))
        => Ok(t) { assert_eq!(verified(&t), (ES256, Some("kid-ec"), SUB)) },
    accepts_valid_ps256_with_a_key_without_alg:
        jwt(|c| sign(&c, PS256, RsaA, Some("kid-p"))).keys(&[jwk(RsaA, "kid-p")])
        => Ok(t) { assert_eq!(verified(&t), (PS256, Some("kid-p"), SUB)) },
    accepts_rs512_with_its_sha512_at_hash:
        jwt(|c| sign(&with_at_hash(c, RS512), RS512, RsaA, Some("kid-p")))
        .keys(&[jwk(RsaA, "kid-p")]) => Ok(t) { assert_eq!(t.id_token().alg(), RS512) },
    // HS256 hashes with SHA-256, like RS256: the same at_hash.
    accepts_hs256_keyed_by_client_secret_when_allowed:
        jwt(|c| sign_hmac(&with_at_hash(c, HS256), HS256, CLIENT_SECRET.as_bytes(), None))
        .on(operator_allowing_hs256()) => Ok(t) { assert_eq!(verified(&t), (HS256, None, SUB)) },
    accepts_aud_as_plain_string: claims(|c| c["aud"] = json!(CLIENT_ID))
        => Ok(t) { assert_eq!(t.id_token().claims().aud, vec![CLIENT_ID.to_owned()]) },
    accepts_several_audiences_with_azp_of_our_client:
        claims(|c| c["aud"] = json!([CLIENT_ID, "other-client"])) => Ok,
    accepts_single_audience_without_azp: claims(|c| remove(c, "azp")) => Ok,
    accepts_kid_absent_with_a_single_key: jwt(|c| sign(&c, RS256, RsaA, None))
        .keys(&[RsaA.jwk(None, Some("RS256"))])
        => Ok(t) { assert_eq!(t.id_token().kid(), None) },
    // RSA B first, so the first RSA candidate fails and the second one verifies.
    accepts_kid_absent_with_several_keys_trying_those_of_matching_type:
        jwt(|c| sign(&c, RS256, RsaA, None))
        .keys(&[jwk(EcP256, "kid-ec"), jwk(RsaB, "kid-b"), jwk(RsaA, "kid-a")]) => Ok,
    accepts_es256_without_kid_skipping_rsa_keys: jwt(|c| sign(&c, ES256, EcP256, None)) => Ok,
    accepts_identity_login_with_at_hash_and_amr: valid().options(identity_login())
        => Ok(t) { assert_eq!(t.id_token().amr(), ["SIM_OK".to_owned()]) },
}

// ---------------------------------------------------------------------------------------------
// Signature, algorithm and header
// ---------------------------------------------------------------------------------------------

cases! {
    rejects_tampered_signature: jwt(|c| tamper_signature(&rs256(&c))) => BadSignature,
    rejects_tampered_es256_signature:
        jwt(|c| tamper_signature(&sign(&c, ES256, EcP256, Some("kid-ec")))) => BadSignature,
    rejects_claims_changed_after_signing:
        jwt(|c| replace_part(&rs256(&c), 1, &b64_json(&with_sub(c, "pcr-of-somebody-else"))))
        => BadSignature,
    rejects_truncated_signature:
        jwt(|c| edit_signature(&rs256(&c), |s| s.truncate(s.len() - 3))) => BadSignature,
    rejects_signature_by_another_rsa_key_with_the_same_kid:
        jwt(|c| sign(&c, RS256, RsaB, Some("kid-a"))) => BadSignature,
    rejects_empty_signature: jwt(|c| replace_part(&rs256(&c), 2, ""))
        => Malformed { part: JwtPart::Signature, .. },
    rejects_signature_not_base64url: jwt(|c| replace_part(&rs256(&c), 2, "not*base64!"))
        => Malformed { part: JwtPart::Signature, .. },
    rejects_alg_none_with_empty_signature: jwt(|c| unsigned(&c, "none", ""))
        => AlgorithmNotAllowed { alg } if alg == "none",
    rejects_alg_none_with_garbage_signature:
        jwt(|c| unsigned(&c, "none", &b64(b"garbage signature bytes")))
        => AlgorithmNotAllowed { alg } if alg == "none",
    rejects_alg_none_in_any_spelling(spelling in ["None", "NONE", "nOnE", ""]):
        jwt(move |c| unsigned(&c, spelling, "")) => AlgorithmNotAllowed { alg } if alg == spelling,
    // A real RS256 signature, but the header names an algorithm nobody knows.
    rejects_unknown_alg: jwt(|c| rs256_by(RsaA, &header(json!({ "alg": "RS1" })), &c))
        => AlgorithmNotAllowed { alg } if alg == "RS1",
    rejects_hs256_when_not_in_the_allow_list:
        jwt(|c| sign_hmac(&c, HS256, CLIENT_SECRET.as_bytes(), None))
        => AlgorithmNotAllowed { alg } if alg == "HS256",
    rejects_allowed_family_outside_the_policy: jwt(|c| sign(&c, ES256, EcP256, Some("kid-ec")))
        .on(operator_with_policy(|p| p.allowed_algorithms = vec![RS256]))
        => AlgorithmNotAllowed { alg } if alg == "ES256",
    rejects_eddsa_even_when_listed: jwt(|c| unsigned(&c, "EdDSA", &b64(&[7u8; 64])))
        .on(operator_with_policy(|p| p.allowed_algorithms.push(Algorithm::EdDSA)))
        => AlgorithmNotAllowed { alg } if alg == "EdDSA",
    rejects_hs256_when_the_client_secret_is_empty:
        jwt(|c| sign_hmac(&c, HS256, b"", None)).on(operator_allowing_hs256_keyed_by(""))
        => AlgorithmNotAllowed { alg } if alg == "HS256",
    rejects_hs256_with_a_wrong_secret:
        jwt(|c| sign_hmac(&c, HS256, b"not-the-client-secret", None))
        .on(operator_allowing_hs256()) => BadSignature,
    // Algorithm confusion (RFC 8725 2.1): HMAC keyed by the operator's RSA public key.
    rejects_hs256_keyed_by_the_operator_public_key_pem((key, kid) in rsa_a_public_key_secrets()):
        jwt(move |c| sign_hmac(&c, HS256, &key, kid)).on(operator_allowing_hs256())
        => BadSignature,
    rejects_hs256_keyed_by_the_operator_jwk_modulus(key in rsa_a_jwk_secrets()):
        jwt(move |c| sign_hmac(&c, HS256, &key, Some("kid-a"))).on(operator_allowing_hs256())
        => BadSignature,
    // A symmetric key in the JWKS is skipped: HMAC is keyed by the client secret only.
    rejects_hs256_keyed_by_an_oct_jwk:
        jwt(|c| sign_hmac(&c, HS256, ATTACKER_SECRET, Some("kid-oct")))
        .on(operator_with_an_oct_key()) => BadSignature,
    rejects_crit_header:
        jwt(|c| rs256_by(RsaA, &header(json!({ "crit": ["exp"], "exp": 1 })), &c))
        => CriticalHeader { names } if names == &["exp".to_owned()],
    rejects_crit_header_even_when_empty: jwt(|c| rs256_by(RsaA, &header(json!({ "crit": [] })), &c))
        => CriticalHeader { names } if names.is_empty(),
    ignores_jwk_header_naming_an_attacker_key(kid in [Some("kid-a"), None]):
        jwt(move |c| rs256_by(RsaB, &header_with_attacker_jwk(kid), &c)) => BadSignature,
    ignores_jku_and_x5u_headers: jwt(|c| rs256_by(RsaB, &header(json!({
        "jku": "https://attacker.example/jwks", "x5u": "https://attacker.example/cert.pem",
    })), &c)) => BadSignature,
    // An unknown kid with a jku: one refetch of the operator's own JWKS, never the jku.
    ignores_jku_header_naming_a_new_kid: jwt(|c| rs256_by(RsaB, &json!({
        "alg": "RS256", "kid": "attacker-kid", "jku": "https://attacker.example/jwks",
    }), &c)).on(operator_refetching_at_once()).refetch(unchanged_jwks())
        => UnknownKeyId { kid } if kid == "attacker-kid",
    // A correct RS256 signature by the 1024-bit key: only the key size is wrong.
    rejects_rsa_key_under_2048_bits:
        jwt(|c| rs256_with_pem(&rs256_header("kid-weak"), &c, RSA_1024))
        .keys(&[pinned(Rsa1024, "kid-weak")])
        => KeyRejected { alg } if alg == "RS256",
    rejects_es256_token_whose_kid_names_an_rsa_key:
        jwt(|c| sign(&c, ES256, EcP256, Some("kid-a"))) => NoUsableKey { alg } if alg == "ES256",
    // kid-a is pinned to RS256 in the default JWKS: a PS256 token under kid-a is refused.
    rejects_alg_other_than_the_jwk_alg:
        jwt(|c| sign(&c, PS256, RsaA, Some("kid-a"))) => NoUsableKey { alg } if alg == "PS256",
    rejects_kid_absent_with_no_key_of_the_type: jwt(|c| sign(&c, ES256, EcP256, None))
        .keys(&[pinned(RsaA, "kid-a")])
        => NoUsableKey { alg } if alg == "ES256",
}

#[test]
fn in_test_rsa_signer_matches_the_backend() {
    // The helper used for the 1024-bit key (which the backend refuses to sign with) gives the
    // backend's own RS256 signature for a 2048-bit key.
    let header = rs256_header("kid-a");
    let claims = json!({ "sub": SUB });
    assert_eq!(
        rs256_with_pem(&header, &claims, RSA_A),
        rs256_by(RsaA, &header, &claims)
    );
}

// ---------------------------------------------------------------------------------------------
// kid handling and key rotation
// ---------------------------------------------------------------------------------------------

cases! {
    unknown_kid_asks_for_jwks_then_accepts_the_rotated_key:
        kid_b().on(operator_refetching_at_once()).refetch(rotated_jwks())
        => Ok(t) { assert_eq!(verified(&t), (RS256, Some("kid-b"), SUB)) },
    // The refetch brings the same keys back.
    unknown_kid_still_unknown_after_refetch_is_unknown_key_id:
        kid_b().on(operator_refetching_at_once()).refetch(unchanged_jwks())
        => UnknownKeyId { kid } if kid == "kid-b",
    unknown_kid_within_min_refetch_interval_is_immediate_unknown_key_id:
        kid_b().on(operator_refetching_hourly()) => UnknownKeyId { kid } if kid == "kid-b",
    unknown_kid_after_min_refetch_interval_asks_for_jwks:
        kid_b().on(operator_refetching_hourly_with_old_keys()).refetch(unchanged_jwks())
        => UnknownKeyId { kid } if kid == "kid-b",
    unknown_kid_without_a_jwks_uri_is_unknown_key_id:
        kid_b().on(operator_without_jwks_uri()) => UnknownKeyId { kid } if kid == "kid-b",
}

/// Several logins through one context that has no keys yet: each asks for them, until one
/// refetch stores them.
#[test]
fn operator_without_keys_asks_for_jwks_first() {
    let op = operator_config().build().unwrap();
    assert!(op.jwks().is_empty());
    assert_eq!(op.jwks_fetched_at(), None);
    for kid in [Some("kid-a"), None] {
        let outcome = jwt(|c| sign(&c, RS256, RsaA, kid))
            .on(op.clone())
            .exchange();
        assert!(
            matches!(outcome, Ok(Verified::NeedJwks(_))),
            "kid {kid:?}: {outcome:?}"
        );
    }
    check!(valid().on(op).refetch(unchanged_jwks()) => Ok);
}

// ---------------------------------------------------------------------------------------------
// Malformed JWTs
// ---------------------------------------------------------------------------------------------

cases! {
    rejects_two_parts: jwt(|c| rs256(&c).rsplit_once('.').unwrap().0.to_owned())
        => Malformed { part: JwtPart::Structure, .. },
    rejects_four_parts: jwt(|c| format!("{}.extra", rs256(&c)))
        => Malformed { part: JwtPart::Structure, .. },
    rejects_five_parts_jwe:
        jwt(|_| format!("{}.a2V5.aXY.Y2lwaGVy.dGFn", b64(br#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#)))
        => Malformed { part: JwtPart::Structure, .. },
    rejects_empty_jwt: jwt(|_| String::new()) => Malformed { part: JwtPart::Structure, .. },
    rejects_header_not_base64url: jwt(|c| replace_part(&rs256(&c), 0, "eyJ*bad+header/"))
        => Malformed { part: JwtPart::Header, .. },
    rejects_header_not_json: jwt(|c| sign_bytes_rs256(b"{alg: RS256", c.to_string().as_bytes()))
        => Malformed { part: JwtPart::Header, .. },
    rejects_header_without_alg:
        jwt(|c| rs256_by(RsaA, &json!({ "typ": "JWT", "kid": "kid-a" }), &c))
        => Malformed { part: JwtPart::Header, .. },
    rejects_claims_not_json: jwt(|_| sign_claims_bytes(b"{\"iss\": \"https://op.example\", sub}"))
        => Malformed { part: JwtPart::Claims, .. },
    // RFC 7519 7.2: the claims set must be a JSON object. The same valid claims, as an array.
    rejects_claims_not_a_json_object:
        jwt(|c| sign_claims_bytes(positional(&c).to_string().as_bytes()))
        => Malformed { part: JwtPart::Claims, .. },
    // Correctly signed over a claims part that is not base64url.
    rejects_claims_not_base64url:
        jwt(|_| sign_input(&format!("{}.not*base64!", b64_json(&rs256_header("kid-a")))))
        => Malformed { part: JwtPart::Claims, .. },
    rejects_claims_not_utf8: jwt(|_| sign_claims_bytes(b"{\"iss\": \"\xff\xfe\"}"))
        => Malformed { part: JwtPart::Claims, .. },
}

#[test]
fn rejects_jwt_over_max_bytes() {
    // The error names the length of the JWT the login built, which a row's pattern cannot see.
    let sent_len = Cell::new(0);
    let over_max = jwt(|c| {
        let jwt = padded_jwt(&c, MAX_JWT_BYTES, 0);
        sent_len.set(jwt.len());
        jwt
    });
    check!(over_max => TooLong { limit: MAX_JWT_BYTES, len } if *len == sent_len.get());
}

#[test]
fn rejects_jwt_one_byte_over_max_bytes_and_accepts_exactly_max() {
    check!(jwt(|c| padded_to(&c, MAX_JWT_BYTES)) => Ok(tokens) {
        assert_eq!(tokens.id_token().jwt().expose_secret().len(), MAX_JWT_BYTES);
    });
    check!(jwt(|c| padded_to(&c, MAX_JWT_BYTES + 1))
        => TooLong { limit: MAX_JWT_BYTES, len } if *len == MAX_JWT_BYTES + 1);
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

cases! {
    rejects_issuer_mismatch: claims(|c| c["iss"] = json!("https://evil.example"))
        => IssuerMismatch { expected, found }
            if expected == ISSUER && found == "https://evil.example",
    rejects_issuer_differing_only_by_trailing_slash:
        claims(|c| c["iss"] = json!(format!("{ISSUER}/")))
        => IssuerMismatch { found, .. } if *found == format!("{ISSUER}/"),
    rejects_issuer_differing_only_by_case: claims(|c| c["iss"] = json!("https://OP.example"))
        => IssuerMismatch { .. },
    rejects_missing_iss: claims(|c| remove(c, "iss")) => MissingClaim { claim: "iss" },
    rejects_audience_without_our_client:
        claims(|c| assign(c, json!({ "aud": ["other-client"], "azp": "other-client" })))
        => AudienceMismatch { client_id, found }
            if client_id == CLIENT_ID && found == &["other-client"],
    rejects_audience_that_only_contains_our_client_as_a_substring: claims(|c| {
        c["aud"] = json!(format!("{CLIENT_ID}1"));
        remove(c, "azp");
    }) => AudienceMismatch { .. },
    rejects_missing_aud: claims(|c| remove(c, "aud")) => MissingClaim { claim: "aud" },
    rejects_several_audiences_without_azp: claims(|c| {
        c["aud"] = json!([CLIENT_ID, "other-client"]);
        remove(c, "azp");
    }) => AuthorizedPartyMissing,
    rejects_azp_of_another_client: claims(|c| c["azp"] = json!("other-client"))
        => AuthorizedPartyMismatch { client_id, found }
            if client_id == CLIENT_ID && found == "other-client",
    rejects_missing_sub: claims(|c| remove(c, "sub")) => MissingClaim { claim: "sub" },
    rejects_empty_sub: claims(|c| c["sub"] = json!("")) => MissingClaim { claim: "sub" },
    rejects_missing_exp: claims(|c| remove(c, "exp")) => MissingClaim { claim: "exp" },
    // Present but unreadable: refused as such, never read as absent (review finding 3).
    rejects_unparseable_exp: claims(|c| c["exp"] = json!("tomorrow"))
        => InvalidClaim { claim: "exp", reason: "not a number" },
    rejects_expired_beyond_leeway: claims(|c| c["exp"] = json!(NOW - 3600))
        => Expired { exp, now: NOW, leeway: 30 } if *exp == NOW - 3600,
    // The rule is now >= exp + leeway: exp = NOW - 30 is expired.
    rejects_exp_at_the_leeway_boundary: claims(|c| c["exp"] = json!(NOW - 30))
        => Expired { exp, now: NOW, leeway: 30 } if *exp == NOW - 30,
    accepts_exp_just_within_the_leeway: claims(|c| c["exp"] = json!(NOW - 29)) => Ok,
    rejects_nbf_in_the_future_beyond_leeway: claims(|c| c["nbf"] = json!(NOW + 31))
        => NotYetValid { nbf, now: NOW, leeway: 30 } if *nbf == NOW + 31,
    accepts_nbf_at_the_leeway_boundary: claims(|c| c["nbf"] = json!(NOW + 30)) => Ok,
    rejects_missing_iat: claims(|c| remove(c, "iat")) => MissingClaim { claim: "iat" },
    rejects_iat_in_the_future_beyond_leeway: claims(|c| c["iat"] = json!(NOW + 31))
        => IssuedInFuture { iat, now: NOW, leeway: 30 } if *iat == NOW + 31,
    accepts_iat_at_the_leeway_boundary: claims(|c| c["iat"] = json!(NOW + 30)) => Ok,
    rejects_iat_older_than_max_token_age: claims(|c| c["iat"] = json!(NOW - 91))
        .on(operator_with_policy(|p| p.max_token_age_secs = Some(60)))
        => IssuedTooLongAgo { iat, now: NOW, max_age: 60 } if *iat == NOW - 91,
    // The user authenticated no later than the token was issued.
    accepts_iat_within_max_token_age_and_leeway:
        claims(|c| assign(c, json!({ "iat": NOW - 90, "auth_time": NOW - 90 })))
        .on(operator_with_policy(|p| p.max_token_age_secs = Some(60))) => Ok,
    accepts_old_iat_without_max_token_age:
        claims(|c| assign(c, json!({ "iat": NOW - 86_400, "auth_time": NOW - 86_400 }))) => Ok,
    rejects_missing_auth_time_when_max_age_requested:
        claims(|c| remove(c, "auth_time")).options(max_age(60)) => AuthTimeMissing,
    rejects_auth_time_older_than_max_age:
        claims(|c| c["auth_time"] = json!(NOW - 91)).options(max_age(60))
        => AuthTooOld { auth_time, max_age: 60, now: NOW } if *auth_time == NOW - 91,
    // The valid auth_time, then the boundary: max_age plus leeway.
    accepts_fresh_auth_time_with_max_age(auth_time in [NOW - 10, NOW - 90]):
        claims(move |c| c["auth_time"] = json!(auth_time)).options(max_age(60)) => Ok,
    accepts_missing_auth_time_without_max_age: claims(|c| remove(c, "auth_time")) => Ok,
    rejects_missing_nonce: claims(|c| remove(c, "nonce")) => NonceMissing,
    rejects_nonce_of_another_login:
        claims(|c| c["nonce"] = json!(nonce_of_another_login(c))) => NonceMismatch,
    rejects_nonce_as_a_prefix_of_ours: claims(|c| {
        let ours = c["nonce"].as_str().unwrap().to_owned();
        c["nonce"] = json!(&ours[..ours.len() - 1]);
    }) => NonceMismatch,
    rejects_acr_below_requested: claims(|c| c["acr"] = json!("2")).options(acr_values(&[3]))
        => AcrTooLow { requested: 3, found } if found == "2",
    rejects_missing_acr: claims(|c| remove(c, "acr")) => AcrMissing,
    rejects_unparseable_acr:
        claims(|c| c["acr"] = json!("loa2")) => AcrUnknown { found } if found == "loa2",
    accepts_acr_as_a_number: claims(|c| c["acr"] = json!(3)).options(acr_values(&[3]))
        => Ok(t) { assert_eq!(t.id_token().acr(), Some("3")) },
    accepts_acr_above_the_lowest_requested((options, acr) in [
        (acr_values(&[2, 3]), "2"), (AuthorizeOptions::new(), "3"),
    ]): claims(move |c| c["acr"] = json!(acr)).options(options) => Ok,
    rejects_at_hash_mismatch:
        claims(|c| c["at_hash"] = json!(at_hash("another-access-token", RS256))) => AtHashMismatch,
    // RS512 needs the left half of SHA-512; the SHA-256 at_hash of valid_claims is wrong.
    rejects_at_hash_of_another_hash_function: jwt(|c| sign(&c, RS512, RsaA, Some("kid-p")))
        .keys(&[jwk(RsaA, "kid-p")]) => AtHashMismatch,
    accepts_missing_at_hash_for_mc_v1_1: claims(|c| remove(c, "at_hash")) => Ok,
    rejects_missing_at_hash_for_an_identity_login:
        claims(|c| remove(c, "at_hash")).options(identity_login()) => AtHashMissing,
    rejects_missing_amr_for_an_identity_login:
        claims(|c| remove(c, "amr")).options(identity_login()) => AmrMissing,
    rejects_empty_amr_for_an_identity_login:
        claims(|c| c["amr"] = json!([])).options(identity_login()) => AmrMissing,
    accepts_missing_amr_for_mc_v1_1: claims(|c| remove(c, "amr")) => Ok,
    accepts_amr_as_a_bare_string: claims(|c| c["amr"] = json!("SIM_PIN")).options(identity_login())
        => Ok(t) { assert_eq!(t.id_token().amr(), ["SIM_PIN".to_owned()]) },
    accepts_dates_as_strings: claims(|c| assign(c, json!({ "exp": "1790000300",
        "iat": "1789999995", "auth_time": "1789999990", "nbf": "1789999995" })))
        .options(max_age(60)) => Ok(t) { assert_valid_exp_and_iat(&t) },
    accepts_dates_as_floats: claims(|c| assign(c, json!({ "exp": 1_790_000_300.5,
        "iat": 1_789_999_995.25, "auth_time": 1_789_999_990.75, "nbf": "1789999995.5" })))
        .options(max_age(60)) => Ok(t) { assert_valid_exp_and_iat(&t) },
    // Lenient parsing does not weaken the rule.
    rejects_expired_date_given_as_string: claims(|c| c["exp"] = json!("1789990000"))
        => Expired { exp: 1_789_990_000, .. },
}

#[test]
fn rejects_exp_equal_to_now_with_zero_leeway() {
    let zero_leeway = || operator_with_policy(|p| p.leeway_secs = 0);
    check!(claims(|c| c["exp"] = json!(NOW)).on(zero_leeway())
        => Expired { exp: NOW, now: NOW, leeway: 0 });
    check!(claims(|c| c["exp"] = json!(NOW + 1)).on(zero_leeway()) => Ok);
}

// ---------------------------------------------------------------------------------------------
// Consequences of a rejection
// ---------------------------------------------------------------------------------------------

#[test]
fn rejected_id_token_yields_no_tokens() {
    // respond errs, with no Tokens and no pending state: a bad signature, a bad claim, and a
    // rejection after the refetch.
    let op = operator_refetching_at_once();
    check!(jwt(|c| sign(&c, RS256, RsaB, Some("kid-a"))).on(op.clone()) => BadSignature);
    let other_audience = claims(|c| c["aud"] = json!(["other-client"]));
    check!(other_audience.on(op.clone()) => AudienceMismatch { .. });
    let evil_issuer_by_kid_b = jwt(|mut c| {
        c["iss"] = json!("https://evil.example");
        sign(&c, RS256, RsaB, Some("kid-b"))
    });
    let with_kid_b = jwks_response(&[jwk(RsaB, "kid-b")]);
    check!(evil_issuer_by_kid_b.on(op).refetch(with_kid_b) => IssuerMismatch { .. });
}

#[test]
fn error_messages_never_show_secrets() {
    // The nonces of the logins, which no message may show either.
    let nonces = RefCell::new(Vec::new());
    let noting = |claims: &Value| {
        let nonce = claims["nonce"].as_str().unwrap().to_owned();
        nonces.borrow_mut().push(nonce);
    };
    let mut cases = vec![
        jwt(|c| sign(&c, RS256, RsaB, Some("kid-a"))),
        jwt(|c| sign_hmac(&c, HS256, b"wrong", None)).on(operator_allowing_hs256()),
        jwt(|c| sign_hmac(&c, HS256, CLIENT_SECRET.as_bytes(), None)),
        jwt(|c| {
            noting(&c);
            unsigned(&c, "none", "")
        }),
        // Claims that are not JSON, and carry the access token and the client secret.
        jwt(|c| {
            let body = format!("{{\"nonce\": {ACCESS_TOKEN}, \"x\": {CLIENT_SECRET}, {c}");
            sign_claims_bytes(body.as_bytes())
        }),
        jwt(|_| {
            let header = format!("{{\"alg\": {CLIENT_SECRET}}}");
            sign_bytes_rs256(header.as_bytes(), ACCESS_TOKEN.as_bytes())
        }),
        jwt(|c| padded_jwt(&c, MAX_JWT_BYTES, 0)),
        jwt(|c| sign(&c, RS256, RsaB, Some("kid-unknown"))),
    ];
    for edit in [
        (|c: &mut Value| c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA")) as fn(&mut Value),
        |c| c["nonce"] = json!("another-login-nonce"),
        |c| remove(c, "nonce"),
        |c| c["aud"] = json!(["other"]),
        |c| c["azp"] = json!("other"),
        |c| c["iss"] = json!("https://evil.example"),
        |c| c["exp"] = json!(NOW - 3600),
        |c| c["iat"] = json!(NOW + 3600),
        |c| c["nbf"] = json!(NOW + 3600),
        |c| c["acr"] = json!("1"),
        |c| remove(c, "sub"),
    ] {
        cases.push(claims(move |c| {
            noting(c);
            edit(c);
        }));
    }
    let errors: Vec<Error> = cases.into_iter().map(|case| rejected(case.run())).collect();
    assert!(errors.len() >= 19);
    let nonces = nonces.into_inner();
    for e in &errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(CLIENT_SECRET), "client secret in {text}");
            assert!(!text.contains(ACCESS_TOKEN), "access token in {text}");
            for nonce in &nonces {
                assert!(!text.contains(nonce.as_str()), "nonce in {text}");
            }
            assert!(!text.contains("eyJ"), "a JWT part in {text}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RSA public keys as HMAC secrets, and RS256 by a key the backend refuses
// ---------------------------------------------------------------------------------------------

/// RSA A's public key as an attacker would key HMAC with it (SPKI PEM with and without its final
/// newline, PKCS#1 PEM, SPKI and PKCS#1 DER), each without and with the operator's `kid`.
fn rsa_a_public_key_secrets() -> Vec<(Vec<u8>, Option<&'static str>)> {
    let spki = rsa_public_spki_der(RsaA);
    let pkcs1 = rsa_public_pkcs1_der(RsaA);
    let spki_pem = pem("PUBLIC KEY", &spki);
    // The helper really builds the operator's public key: it verifies an RS256 token of RSA A.
    {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(spki_pem.as_bytes()).unwrap();
        let jwt = sign(&json!({"x": 1}), RS256, RsaA, None);
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let verifier = (mc_core::crypto::provider().verifier_factory)(&RS256, &key).unwrap();
        verifier
            .verify(
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
    }
    let encodings = [
        spki_pem.clone().into_bytes(),
        spki_pem.trim_end().as_bytes().to_vec(),
        pem("RSA PUBLIC KEY", &pkcs1).into_bytes(),
        spki,
        pkcs1,
    ];
    encodings
        .into_iter()
        .flat_map(|key| [(key.clone(), None), (key, Some("kid-a"))])
        .collect()
}

/// RSA A's JWK as HMAC secrets: the modulus as base64url text and as bytes, the whole JWK.
fn rsa_a_jwk_secrets() -> [Vec<u8>; 3] {
    let jwk = pinned(RsaA, "kid-a");
    let n_text = jwk["n"].as_str().unwrap().to_owned();
    let n_bytes = URL_SAFE_NO_PAD.decode(&n_text).unwrap();
    [n_text.into_bytes(), n_bytes, jwk.to_string().into_bytes()]
}

// --- DER / PEM of an RSA public key, for the algorithm-confusion tests ---

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![u8::try_from(len).unwrap()]
    } else if len < 0x100 {
        vec![0x81, u8::try_from(len).unwrap()]
    } else {
        let len = u16::try_from(len).unwrap();
        let [hi, lo] = len.to_be_bytes();
        vec![0x82, hi, lo]
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::new();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(bytes);
    der(0x02, &content)
}

/// PKCS#1 `RSAPublicKey` DER of a test key.
fn rsa_public_pkcs1_der(key: TestKey) -> Vec<u8> {
    let jwk = key.jwk(None, None);
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    der(0x30, &[der_uint(&n), der_uint(&e)].concat())
}

/// X.509 `SubjectPublicKeyInfo` DER of a test key.
fn rsa_public_spki_der(key: TestKey) -> Vec<u8> {
    let rsa_encryption_oid = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
    ];
    let algorithm = der(0x30, &[&rsa_encryption_oid[..], &[0x05, 0x00]].concat());
    let mut bits = vec![0u8];
    bits.extend(rsa_public_pkcs1_der(key));
    der(0x30, &[algorithm, der(0x03, &bits)].concat())
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

// --- A minimal RSA PKCS#1 v1.5 signer (the backend refuses to sign with keys under 2048 bits) ---

/// One DER TLV: (tag, content, rest). Short and long lengths only up to two bytes.
fn der_read(data: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = data[0];
    let (len, header) = match data[1] {
        l if l < 0x80 => (usize::from(l), 2),
        0x81 => (usize::from(data[2]), 3),
        0x82 => (usize::from(data[2]) << 8 | usize::from(data[3]), 4),
        other => panic!("unsupported DER length byte {other:#x}"),
    };
    (tag, &data[header..header + len], &data[header + len..])
}

/// `n` and `d` of a PKCS#8 RSA private key PEM, big-endian without sign bytes.
fn rsa_private_n_d(pem_text: &str) -> (Vec<u8>, Vec<u8>) {
    let body: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der_bytes = STANDARD.decode(body).unwrap();
    let (_, pkcs8, _) = der_read(&der_bytes);
    let (_, _, rest) = der_read(pkcs8); // version
    let (_, _, rest) = der_read(rest); // algorithm
    let (tag, private_key, _) = der_read(rest);
    assert_eq!(tag, 0x04);
    let (_, rsa, _) = der_read(private_key);
    let (_, _, rest) = der_read(rsa); // version
    let (_, n, rest) = der_read(rest);
    let (_, _, rest) = der_read(rest); // e
    let (_, d, _) = der_read(rest);
    let strip = |x: &[u8]| {
        x.iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    (strip(n), strip(d))
}

fn limbs(be: &[u8], count: usize) -> Vec<u64> {
    let mut out = vec![0u64; count];
    for (i, byte) in be.iter().rev().enumerate() {
        out[i / 8] |= u64::from(*byte) << (8 * (i % 8));
    }
    out
}

fn limbs_to_be(limbs: &[u64], len: usize) -> Vec<u8> {
    let le: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    le[..len].iter().rev().copied().collect()
}

fn geq(a: &[u64], b: &[u64]) -> bool {
    for i in (0..a.len()).rev() {
        let bi = b.get(i).copied().unwrap_or(0);
        if a[i] != bi {
            return a[i] > bi;
        }
    }
    true
}

fn sub_in_place(a: &mut [u64], b: &[u64]) {
    let mut borrow = false;
    for (i, limb) in a.iter_mut().enumerate() {
        let (x, o1) = limb.overflowing_sub(b.get(i).copied().unwrap_or(0));
        let (x, o2) = x.overflowing_sub(u64::from(borrow));
        *limb = x;
        borrow = o1 || o2;
    }
}

/// Montgomery product a * b * R^-1 mod n (CIOS).
#[allow(clippy::cast_possible_truncation)]
fn mont_mul(a: &[u64], b: &[u64], n: &[u64], n0inv: u64) -> Vec<u64> {
    let k = n.len();
    let mut t = vec![0u64; k + 2];
    for &ai in a {
        let mut carry: u128 = 0;
        for j in 0..k {
            let s = u128::from(t[j]) + u128::from(ai) * u128::from(b[j]) + carry;
            t[j] = s as u64;
            carry = s >> 64;
        }
        let s = u128::from(t[k]) + carry;
        t[k] = s as u64;
        t[k + 1] = (s >> 64) as u64;
        let m = t[0].wrapping_mul(n0inv);
        let s = u128::from(t[0]) + u128::from(m) * u128::from(n[0]);
        let mut carry = s >> 64;
        for j in 1..k {
            let s = u128::from(t[j]) + u128::from(m) * u128::from(n[j]) + carry;
            t[j - 1] = s as u64;
            carry = s >> 64;
        }
        let s = u128::from(t[k]) + carry;
        t[k - 1] = s as u64;
        t[k] = t[k + 1] + (s >> 64) as u64;
        t[k + 1] = 0;
    }
    let mut r = t[..=k].to_vec();
    if geq(&r, n) {
        sub_in_place(&mut r, n);
    }
    r.truncate(k);
    r
}

/// base^exp mod n, all big-endian; n odd.
fn mod_pow(base: &[u8], exp: &[u8], n: &[u8]) -> Vec<u8> {
    let k = n.len().div_ceil(8);
    let n_l = limbs(n, k);
    let mut inv: u64 = 1;
    for _ in 0..7 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(n_l[0].wrapping_mul(inv)));
    }
    let n0inv = inv.wrapping_neg();
    // R^2 mod n by doubling 1, 2 * 64 * k times.
    let mut r2 = limbs(&[1], k);
    for _ in 0..2 * 64 * k {
        let top = r2[k - 1] >> 63;
        for i in (1..k).rev() {
            r2[i] = (r2[i] << 1) | (r2[i - 1] >> 63);
        }
        r2[0] <<= 1;
        if top == 1 || geq(&r2, &n_l) {
            sub_in_place(&mut r2, &n_l);
        }
    }
    let one = limbs(&[1], k);
    let x = mont_mul(&limbs(base, k), &r2, &n_l, n0inv);
    let mut acc = mont_mul(&one, &r2, &n_l, n0inv);
    for byte in exp {
        for bit in (0..8).rev() {
            acc = mont_mul(&acc, &acc, &n_l, n0inv);
            if (byte >> bit) & 1 == 1 {
                acc = mont_mul(&acc, &x, &n_l, n0inv);
            }
        }
    }
    limbs_to_be(&mont_mul(&acc, &one, &n_l, n0inv), n.len())
}

/// RS256 over these header and claims values with an RSA private key PEM of any size.
fn rs256_with_pem(header: &Value, claims: &Value, pem_text: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let hash = (mc_core::crypto::provider().key_utils.compute_digest)(
        input.as_bytes(),
        jsonwebtoken::jwk::ThumbprintHash::SHA256,
    )
    .unwrap();
    let (n, d) = rsa_private_n_d(pem_text);
    let digest_info: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let mut em = vec![0x00, 0x01];
    em.resize(n.len() - digest_info.len() - hash.len() - 1, 0xFF);
    em.push(0x00);
    em.extend_from_slice(&digest_info);
    em.extend_from_slice(&hash);
    assert_eq!(em.len(), n.len());
    format!("{input}.{}", b64(&mod_pow(&em, &d, &n)))
}
