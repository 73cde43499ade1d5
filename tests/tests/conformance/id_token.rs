//! The id_token from the token endpoint (OIDC Core 3.1.3.7, RFC 8725): each row edits the token
//! the operator serves and says whether the login is accepted, or refused with which
//! `IdTokenError`; after either, nothing more was asked of the operator.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{Algorithm, Error, IdTokenError as E, JwtPart, Tokens};
use mc_tests::driver::{Driver, Failure};
use mc_tests::keys::{KeyFamily, SigningKey};
use mc_tests::sandbox::{IMPOSTOR_ISSUER, IdTokenMutation as M, RawBody};
use mc_tests::{Fault, Target};
use serde_json::{Value, json};

use crate::{Case, LEEWAY, MARGIN, Step, as_served, blocking, step, tokio};

/// A client secret long enough for HS256 (RFC 7518 3.2: at least 256 bits).
const STRONG_SECRET: &str = "0123456789abcdef0123456789abcdef-hs256-secret";
/// The other audience of a token minted for two clients.
const OTHER_CLIENT: &str = "https://other-client.example";

mc_tests::through_both_adapters!(
    rp_id_token_aud,
    x_id_token_missing_aud,
    x_id_token_aud_extra_no_azp,
    rp_id_token_bad_sig_es256,
    rp_id_token_bad_sig_hs256,
    rp_id_token_bad_sig_rs256,
    x_id_token_foreign_key,
    rp_id_token_iat,
    rp_id_token_issuer_mismatch,
    rp_id_token_sig_enc_unsupported_is_refused,
    rp_id_token_sig_es256,
    rp_id_token_sig_hs256,
    x_hs256_weak_client_secret_is_refused,
    rp_id_token_sig_none,
    rp_id_token_sig_rs256,
    rp_id_token_sub,
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
    x_id_token_iat_too_old,
    x_id_token_replayed,
    x_token_response_without_id_token,
    rp_nonce_invalid,
    rp_claims_request_id_token,
);

/// Run the step's login: its outcome is the tokens, or the id_token error (any other error fails
/// the case), and the login's requests were exactly the browser's authorize, the token request
/// and the step's JWKS fetches: nothing (no userinfo, no premium info, no key from a URL the
/// token names) after the verdict.
pub(crate) fn check_id_token<D: Driver>(c: &Case<'_, D>, step: Step) -> Result<Tokens, E> {
    let mark = c.mark();
    let outcome = match c.misbehaving(&step.faults, || c.login(step.options_at(c))) {
        Ok(tokens) => Ok(tokens),
        Err(Failure::Core(Error::IdToken(e))) => Err(e),
        Err(other) => panic!("expected an id_token verdict, got {other:?}"),
    };
    let mut requests = vec![c.get("authorize"), c.post("token")];
    requests.extend(std::iter::repeat_n(c.get("jwks"), step.jwks));
    assert_eq!(c.since(mark), requests, "{outcome:?}");
    outcome
}

cases! { check_id_token, c;
    /// `rp-id_token-aud` (core): `aud` is another client (`client_id` + `1`, and the old tool's
    /// `https://example.com/`).
    rp_id_token_aud at ["alpha", "beta"]: {
        [
            M::set("aud", json!([format!("{}1", c.client_id())])),
            M::set("aud", json!("https://example.com/")),
        ] => Err(E::AudienceMismatch { client_id, found })
            if *client_id == c.client_id() && found.len() == 1 && found[0] != c.client_id(),
    };

    /// `x-id_token-missing-aud` (the current suite's `missing-aud`).
    x_id_token_missing_aud at ["alpha"]: {
        M::remove("aud") => Err(E::MissingClaim { claim: "aud" }),
    };

    /// `x-id_token-aud-extra-no-azp` (OIDC Core 3.1.3.7 rules 4 and 5, 16.11 token
    /// substitution): several audiences need `azp`, and `azp` must be us.
    x_id_token_aud_extra_no_azp at ["alpha"]: {
        two_audiences(c, M::remove("azp")) => Err(E::AuthorizedPartyMissing),
        two_audiences(c, M::set("azp", json!(OTHER_CLIENT)))
            => Err(E::AuthorizedPartyMismatch { found, .. }) if found == OTHER_CLIENT,
    };

    /// `rp-id_token-bad-sig-es256` (optional): the ES256 signature is corrupted.
    rp_id_token_bad_sig_es256 at ["beta"]: {
        M::CorruptSignature => Err(E::BadSignature),
    };

    /// `rp-id_token-bad-sig-hs256` (optional): with HS256 allowed and a strong client secret, a
    /// MAC that does not verify is rejected; with the default policy HS256 is refused outright.
    rp_id_token_bad_sig_hs256 at ["alpha"]: strong_secret {
        corrupt_mac() => Err(E::AlgorithmNotAllowed { alg }) if alg == "HS256",
    } allow_hs256 {
        corrupt_mac() => Err(E::BadSignature),
        M::Hmac(b"another secret of the same length!!".to_vec()) => Err(E::BadSignature),
    };

    /// `rp-id_token-bad-sig-rs256` (core): the RS256 signature is corrupted.
    rp_id_token_bad_sig_rs256 at ["alpha"]: {
        M::CorruptSignature => Err(E::BadSignature),
    };

    /// A token signed by a key of the right family that is not the operator's, under the
    /// operator's `kid` (a forged token): a bad signature, and no refetch since the `kid` is
    /// known.
    x_id_token_foreign_key at ["alpha", "beta"]: {
        M::ForeignKey => Err(E::BadSignature),
    };

    /// `rp-id_token-iat` (core): no `iat`; also an `iat` that is not a number (present but
    /// unreadable: refused as such, never read as absent).
    rp_id_token_iat at ["alpha"]: {
        M::remove("iat") => Err(E::MissingClaim { claim: "iat" }),
        M::set("iat", json!("yesterday"))
            => Err(E::InvalidClaim { claim: "iat", reason: "not a number" }),
        M::set("iat", Value::Null) => Err(E::InvalidClaim { claim: "iat", reason: "null" }),
    };

    /// `rp-id_token-issuer-mismatch` (core): `iss` is the issuer + `1`, the old tool's
    /// `https://example.org/`, the issuer + `/`, or missing.
    rp_id_token_issuer_mismatch at ["alpha", "beta"]: {
        M::append("iss", "1") => Err(E::IssuerMismatch { expected, found })
            if *expected == c.issuer() && *found == format!("{}1", c.issuer()),
        M::set("iss", json!("https://example.org/"))
            => Err(E::IssuerMismatch { expected, found })
            if *expected == c.issuer() && found == "https://example.org/",
        M::set("iss", json!(format!("{}/", c.issuer())))
            => Err(E::IssuerMismatch { expected, found })
            if *expected == c.issuer() && *found == format!("{}/", c.issuer()),
        M::remove("iss") => Err(E::MissingClaim { claim: "iss" }),
    };

    /// `rp-id_token-sig+enc`, `rp-id_token-sig+enc-a128kw` (optional, not supported): a JWE
    /// id_token is refused as a malformed structure, never half-read.
    rp_id_token_sig_enc_unsupported_is_refused at ["alpha"]: {
        [jwe("RSA1_5"), jwe("A128KW")] => Err(E::Malformed { part: JwtPart::Structure, .. }),
    };

    /// `rp-id_token-sig-es256` (optional): a valid ES256 id_token is accepted.
    rp_id_token_sig_es256 at ["beta"]: {
        as_served() => Ok(t)
            if t.id_token().alg() == Algorithm::ES256 && t.id_token().kid() == Some("beta-key-0"),
    };

    /// `rp-id_token-sig-hs256` (optional): HS256 keyed by the client secret's octets is accepted
    /// only when the host allowed HS256 (the registered algorithm); by default it is refused.
    rp_id_token_sig_hs256 at ["alpha"]: strong_secret {
        strong_mac() => Err(E::AlgorithmNotAllowed { alg }) if alg == "HS256",
    } allow_hs256 {
        strong_mac() => Ok(t) if t.id_token().alg() == Algorithm::HS256,
    };

    /// RFC 7518 3.2 / OIDC Core 16.19 / RP-CONFORMANCE "refuse weaker secrets for HS* where the
    /// library controls it": an HS256 id_token keyed by a client secret shorter than 256 bits is
    /// refused even when HS256 is allowed (`KeyRejected`, as for an RSA key under 2048 bits).
    x_hs256_weak_client_secret_is_refused at ["alpha"]: allow_hs256 {
        weak_mac(c) => Err(E::KeyRejected { alg }) if alg == "HS256",
    };

    /// `rp-id_token-sig-none` (core: reject unless explicitly configured; mc-core never accepts
    /// it): `alg` `none` with an empty signature, in any case spelling, or with a genuine
    /// signature left attached.
    rp_id_token_sig_none at ["alpha", "beta"]: allow_hs256 {
        M::AlgNone => Err(E::AlgorithmNotAllowed { alg }) if alg == "none",
        M::All(vec![M::AlgNone, M::header("alg", json!("None"))])
            => Err(E::AlgorithmNotAllowed { alg }) if alg == "None",
        M::header("alg", json!("none")) => Err(E::AlgorithmNotAllowed { alg }) if alg == "none",
    };

    /// `rp-id_token-sig-rs256` (core): a valid RS256 id_token is accepted after full
    /// validation.
    rp_id_token_sig_rs256 at ["alpha"]: {
        as_served() => Ok(t) if t.id_token().alg() == Algorithm::RS256
            && t.id_token().kid() == Some("alpha-key-0")
            && !t.sub().is_empty(),
    };

    /// `rp-id_token-sub` (core): no `sub`, or an empty one.
    rp_id_token_sub at ["alpha", "beta"]: {
        [M::remove("sub"), M::set("sub", json!(""))] => Err(E::MissingClaim { claim: "sub" }),
    };

    /// `at_hash` present in a code-flow id_token is checked (RP-CONFORMANCE: "if present in a
    /// code-flow id_token, check it"); the front-channel `rp-id_token-bad-at_hash` is n/a.
    x_id_token_bad_at_hash at ["alpha", "beta"]: {
        M::set("at_hash", json!("AAAAAAAAAAAAAAAAAAAAAA")) => Err(E::AtHashMismatch),
    };

    /// The Mobile Connect DI profile (`mc_identity_*` scopes, version `mc_di_r2_v2.3`) requires
    /// `at_hash` and `amr`.
    x_id_token_missing_at_hash_mc_di at ["alpha"]: {
        step(M::remove("at_hash")).options(di_scope(c)) => Err(E::AtHashMissing),
        step(M::remove("amr")).options(di_scope(c)) => Err(E::AmrMissing),
        // Without the DI scope, neither is required.
        M::All(vec![M::remove("at_hash"), M::remove("amr")]) => Ok(_),
    };

    /// `x-id_token-expired` at the leeway boundary: `exp` 35 s ago is expired, 25 s ago is
    /// within the 30 s leeway; no `exp` at all is rejected.
    x_id_token_expired at ["alpha"]: {
        M::from_now("exp", -LEEWAY - MARGIN) => Err(E::Expired { leeway: 30, .. }),
        M::from_now("exp", -LEEWAY + MARGIN) => Ok(_),
        M::remove("exp") => Err(E::MissingClaim { claim: "exp" }),
    };

    /// `x-id_token-iat-future` at the leeway boundary (and `nbf` likewise): 35 s ahead is
    /// rejected, 25 s ahead is within the leeway.
    x_id_token_iat_future at ["beta"]: {
        M::from_now("iat", LEEWAY + MARGIN) => Err(E::IssuedInFuture { leeway: 30, .. }),
        M::from_now("iat", LEEWAY - MARGIN) => Ok(_),
        M::from_now("nbf", LEEWAY + MARGIN) => Err(E::NotYetValid { leeway: 30, .. }),
        M::from_now("nbf", LEEWAY - MARGIN) => Ok(_),
    };

    /// `auth_time` beyond `max_age` (OIDC Core 3.1.3.7 rule 13): with `max_age=60`, an
    /// authentication 95 s ago is too old, 85 s ago is within the leeway, none at all is
    /// rejected.
    x_id_token_auth_time_beyond_max_age at ["alpha"]: {
        step(M::from_now("auth_time", -60 - LEEWAY - MARGIN)).options(c.approve().max_age(60))
            => Err(E::AuthTooOld { max_age: 60, .. }),
        step(M::from_now("auth_time", -60 - LEEWAY + MARGIN)).options(c.approve().max_age(60))
            => Ok(_),
        step(M::remove("auth_time")).options(c.approve().max_age(60)) => Err(E::AuthTimeMissing),
    };

    /// `x-acr-downgrade`: `acr` below the requested LoA (a real LoA 2 approval for an LoA 3
    /// request, or a forged `acr`), or missing, is rejected; a higher LoA is accepted.
    x_acr_downgrade at ["alpha"]: {
        // The subscriber whose handset has no PIN answers LoA 2 when LoA 3 is asked.
        as_served().options(c.no_pin().acr_values([3]))
            => Err(E::AcrTooLow { requested: 3, found }) if found == "2",
        M::set("acr", json!("1")) => Err(E::AcrTooLow { requested: 2, found }) if found == "1",
        // Not a level at all ("1" to "4", exact strings): refused as such.
        M::set("acr", json!("high")) => Err(E::AcrUnknown { found }) if found == "high",
        M::remove("acr") => Err(E::AcrMissing),
        M::set("acr", json!("3")) => Ok(t) if t.id_token().acr() == Some("3"),
    };

    /// Algorithm confusion (RFC 8725 2.1, 3.1): an HS256 token MACed with the operator's public
    /// key (PEM, JWK text, raw modulus or point) is refused by default, and with HS256 allowed
    /// it is a bad signature, because HMAC is keyed by the client secret only.
    x_id_token_alg_confusion at ["alpha", "beta"]: {
        public_key_macs(c) => Err(E::AlgorithmNotAllowed { alg }) if alg == "HS256",
    } allow_hs256 {
        // A MAC under the public key never verifies (and this sandbox client's 22-byte secret
        // is itself refused as too short for HS256).
        public_key_macs(c) => Err(E::BadSignature | E::KeyRejected { .. }),
    };

    /// The header's `alg` must be one the named key is for (RFC 8725 3.1: each key with exactly
    /// one algorithm): an RS384 or ES256 header on the operator's RS256 key finds no usable
    /// key, and with the `kid` known there is no refetch.
    x_id_token_alg_not_the_keys at ["alpha"]: {
        M::header("alg", json!("RS384")) => Err(E::NoUsableKey { alg }) if alg == "RS384",
        M::header("alg", json!("PS256")) => Err(E::NoUsableKey { alg }) if alg == "PS256",
        M::header("alg", json!("ES256")) => Err(E::NoUsableKey { alg }) if alg == "ES256",
    };

    /// A `crit` header member is refused (RFC 7515 4.1.11; no extension is understood).
    x_id_token_crit at ["beta"]: {
        M::All(vec![M::header("crit", json!(["exp"])), M::header("exp", json!(0))])
            => Err(E::CriticalHeader { names }) if names == &["exp"],
    };

    /// Keys are never taken from the token (RFC 8725 3.10): a token signed by the attacker's
    /// key that ships that key in `jwk` and points `jku`/`x5u` at the attacker's set is a bad
    /// signature, and nothing is fetched from those URLs (the check: only authorize and token
    /// were requested); a genuine token with such headers is verified with the operator's key
    /// as usual.
    x_id_token_key_from_header_ignored at ["alpha"]: {
        attacker_key_headers(c, Some(M::ForeignKey)) => Err(E::BadSignature),
        attacker_key_headers(c, None) => Ok(_),
    };

    /// Duplicate member names in the header or the claims are refused (RFC 8725 2.6), so that
    /// no two parsers can read two different tokens.
    x_id_token_duplicate_members at ["alpha"]: {
        [
            M::DuplicateClaim("sub".to_owned(), json!("somebody-else")),
            M::DuplicateClaim("iss".to_owned(), json!(IMPOSTOR_ISSUER)),
            M::DuplicateClaim("nonce".to_owned(), json!("012345678")),
        ] => Err(E::Malformed { part: JwtPart::Claims, .. }),
        [
            M::DuplicateHeader("alg".to_owned(), json!("none")),
            M::DuplicateHeader("kid".to_owned(), json!("another-key")),
        ] => Err(E::Malformed { part: JwtPart::Header, .. }),
    };

    /// OIDC Core 3.1.3.7 rule 10, "reject tokens issued too far in the past": a bound the host
    /// chooses (`Policy::max_token_age_secs`, none by default); with 600 s, an `iat` 640 s old
    /// (beyond bound and leeway) is refused, 620 s is within the leeway.
    x_id_token_iat_too_old at ["alpha"]: {
        // No bound by default: a day-old iat with a live exp passes.
        issued(-86_400) => Ok(_),
    } max_token_age_600 {
        issued(-600 - LEEWAY - 2 * MARGIN) => Err(E::IssuedTooLongAgo { max_age: 600, .. }),
        issued(-600 - LEEWAY + MARGIN) => Ok(_),
    };

    /// Token reuse (OIDC Core 16.9): the id_token of an earlier login, replayed into a new one,
    /// is caught by the nonce bound to the new login.
    x_id_token_replayed at ["beta"]: {
        as_served() => Ok(_),
        M::ReplayLast => Err(E::NonceMismatch),
    };

    /// A token response without an id_token (OIDC: the openid scope makes it mandatory).
    x_token_response_without_id_token at ["alpha"]: {
        (Target::Token, Fault::Body(RawBody::json(
            br#"{"access_token":"an-access-token","token_type":"Bearer","expires_in":3600}"#
                .to_vec(),
        ))) => Err(E::Missing),
    };

    /// `rp-nonce-invalid` (core): the nonce + `1` (current suite), the old tool's `012345678`,
    /// or none at all.
    rp_nonce_invalid at ["alpha", "beta"]: {
        [M::append("nonce", "1"), M::set("nonce", json!("012345678"))] => Err(E::NonceMismatch),
        M::remove("nonce") => Err(E::NonceMissing),
    };

    /// `rp-claims_request-id_token` (optional): a claim asked for with
    /// `claims={"id_token":...}` is read from the verified id_token.
    rp_claims_request_id_token at ["alpha"]: {
        as_served().options(
            c.approve().claims(json!({ "id_token": { "phone_number": { "essential": true } } })),
        ) => Ok(t) if t.id_token().claim("phone_number") == Some(json!(c.phone())),
    };
}

// Edits of the SP's context and the sandbox, between a row's logins.
impl<D: Driver> Case<'_, D> {
    /// The operator takes a client secret long enough for HS256, and the SP uses it.
    fn strong_secret(&mut self) {
        self.sandbox().set_client_secret(self.name, STRONG_SECRET);
        self.reload();
    }

    /// The host allows HS256 (the registered algorithm).
    fn allow_hs256(&mut self) {
        self.set_policy(|policy| policy.allowed_algorithms.push(Algorithm::HS256));
    }

    /// The host bounds the token age (`iat`) to 600 s.
    fn max_token_age_600(&mut self) {
        self.set_policy(|policy| policy.max_token_age_secs = Some(600));
    }
}

/// Audiences: us and [`OTHER_CLIENT`], with this edit of `azp`.
fn two_audiences<D: Driver>(c: &Case<'_, D>, azp: M) -> M {
    M::All(vec![
        M::set("aud", json!([c.client_id(), OTHER_CLIENT])),
        azp,
    ])
}

/// HS256 keyed by [`STRONG_SECRET`].
fn strong_mac() -> M {
    M::Hmac(STRONG_SECRET.as_bytes().to_vec())
}

/// HS256 keyed by [`STRONG_SECRET`], the MAC corrupted.
fn corrupt_mac() -> M {
    M::All(vec![strong_mac(), M::CorruptSignature])
}

/// HS256 keyed by the sandbox client's own secret, which is too short for HS256.
fn weak_mac<D: Driver>(c: &Case<'_, D>) -> M {
    let weak = c.client_secret().unwrap();
    assert!(weak.len() < 32, "{} bytes", weak.len());
    M::Hmac(weak.into_bytes())
}

/// HS256 MACs keyed by the operator's public key: its PEM, its JWK text, its raw modulus or
/// point.
fn public_key_macs<D: Driver>(c: &Case<'_, D>) -> [M; 3] {
    let key = c.sandbox().signing_key(c.name).unwrap();
    let jwk = key.jwk();
    let raw = jwk
        .get("n")
        .or_else(|| jwk.get("x"))
        .and_then(Value::as_str)
        .map(|v| URL_SAFE_NO_PAD.decode(v).unwrap())
        .unwrap();
    [
        M::Hmac(key.public_pem().into_bytes()),
        M::Hmac(jwk.to_string().into_bytes()),
        M::Hmac(raw),
    ]
}

/// An encrypted id_token (a JWE of this key management algorithm).
fn jwe(alg: &str) -> M {
    let header = json!({ "alg": alg, "enc": "A128CBC-HS256" });
    M::Raw(format!(
        "{}.{}.{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode([7u8; 32]),
        URL_SAFE_NO_PAD.encode([1u8; 16]),
        URL_SAFE_NO_PAD.encode([2u8; 64]),
        URL_SAFE_NO_PAD.encode([3u8; 16])
    ))
}

/// The attacker's key in `jwk` and their key set's URL in `jku` and `x5u`, then `signer`.
fn attacker_key_headers<D: Driver>(c: &Case<'_, D>, signer: Option<M>) -> M {
    let attacker = SigningKey::from_pool(KeyFamily::Rs256, 3, "alpha-key-0".to_owned());
    let attacker_jwks = format!("{}/attacker/jwks", c.sandbox().base());
    let mut edits = vec![
        M::header("jku", json!(attacker_jwks)),
        M::header("x5u", json!(attacker_jwks)),
        M::header("jwk", attacker.jwk()),
    ];
    edits.extend(signer);
    M::All(edits)
}

/// Issued (and authenticated: an `auth_time` after `iat` is refused) this many seconds from
/// now.
fn issued(offset: i64) -> M {
    M::All(vec![
        M::from_now("iat", offset),
        M::from_now("auth_time", offset),
    ])
}

/// The approving subscriber with a Mobile Connect DI scope.
fn di_scope<D: Driver>(c: &Case<'_, D>) -> mc_core::AuthorizeOptions {
    c.approve().scope(["mc_identity_phonenumber"])
}
