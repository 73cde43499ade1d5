//! One test per id_token verification rule (OIDC Core 3.1.3.7, RFC 8725, the Mobile Connect
//! profile; DESIGN.md rule 2): each starts from a valid signed id_token, breaks exactly one thing,
//! and asserts the precise typed error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use mc_core::{
    AuthorizeOptions, Discovered, Error, Exchange as _, IdTokenError, Jwks, JwtPart,
    OperatorConfig, Tokens, Verified,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Run a login whose token response carries the JWT built from the login's valid claims.
fn login_with(
    op: &Discovered,
    options: AuthorizeOptions,
    make_jwt: impl FnOnce(Value) -> String,
) -> Result<Tokens, Error> {
    token_step(op, options, |s| {
        token_response(&make_jwt(valid_claims(&s.nonce)))
    })
}

/// Edit the valid claims, sign them RS256 with `kid-a`, under these authorize options.
fn login_with_claims(
    op: &Discovered,
    options: AuthorizeOptions,
    edit: impl FnOnce(&mut Value),
) -> Result<Tokens, Error> {
    login_with(op, options, |mut claims| {
        edit(&mut claims);
        sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"))
    })
}

/// A login with an arbitrary JWT string in the token response (valid claims not used).
fn login_with_jwt(op: &Discovered, jwt: &str) -> Result<Tokens, Error> {
    token_step(op, AuthorizeOptions::new(), |_| token_response(jwt))
}

/// Run a login to the token response and return `respond`'s outcome as is (no refetch).
fn exchange(
    op: &Discovered,
    options: AuthorizeOptions,
    make_jwt: impl FnOnce(Value) -> String,
) -> Result<Verified<Tokens>, Error> {
    let started = start(op, options);
    let response = token_response(&make_jwt(valid_claims(&started.nonce)));
    let query = format!("code=the-code&state={}", started.state);
    let code = started.flow.callback(op, &query, now())?;
    code.token_exchange(op, now())?.respond(response, now())
}

/// Assert that a login was accepted (with the error if not).
#[track_caller]
fn assert_accepted(result: Result<Tokens, Error>) {
    if let Err(e) = result {
        panic!("expected the id_token to be accepted, got {e:?}");
    }
}

/// The error of a rejected login (panics with the tokens if it was accepted).
fn rejected(result: Result<Tokens, Error>) -> Error {
    match result {
        Ok(tokens) => panic!("expected a rejection, got {tokens:?}"),
        Err(e) => e,
    }
}

/// Sign an arbitrary signing input (`header_b64.claims_b64`) with the backend mc-core uses.
fn sign_input(signing_input: &str, alg: Algorithm, key: &EncodingKey) -> String {
    let signer = (mc_core::crypto::provider().signer_factory)(&alg, key).unwrap();
    let signature = signer.try_sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64(&signature))
}

/// Sign raw header and claims bytes (which need not be JSON) with RS256 / RSA A.
fn sign_bytes_rs256(header: &[u8], claims: &[u8]) -> String {
    sign_input(
        &format!("{}.{}", b64(header), b64(claims)),
        Algorithm::RS256,
        &TestKey::RsaA.encoding_key(),
    )
}

fn rs256_header(kid: &str) -> Value {
    json!({ "alg": "RS256", "typ": "JWT", "kid": kid })
}

/// Flip bits in one byte of the signature.
fn tamper_signature(jwt: &str) -> String {
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5A;
    format!("{input}.{}", b64(&bytes))
}

/// An operator whose JWKS is exactly these JWKs, fetched at NOW.
fn operator_with_keys(keys: &[Value]) -> Discovered {
    let op = operator();
    op.set_jwks(Jwks::parse(&jwks_body(keys)).unwrap(), now());
    op
}

/// The PS256-capable operator: RSA A as `kid-p` with no `alg` pin.
fn operator_rsa_without_alg() -> Discovered {
    operator_with_keys(&[TestKey::RsaA.jwk(Some("kid-p"), None)])
}

fn operator_allowing_hs256() -> Discovered {
    operator_with_policy(|p| p.allowed_algorithms.push(Algorithm::HS256))
}

/// The operator's registry entry with another client secret / without a JWKS URL.
fn bare_config(secret: &str) -> OperatorConfig {
    OperatorConfig::new(registration_with_secret(secret))
        .unwrap()
        .issuer(ISSUER)
        .authorization("https://op.example/authorize")
        .unwrap()
        .token("https://op.example/token")
        .unwrap()
}

fn identity_login() -> AuthorizeOptions {
    AuthorizeOptions::new().scope(["mc_identity_phonenumber"])
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

// ---------------------------------------------------------------------------------------------
// Positive controls
// ---------------------------------------------------------------------------------------------

#[test]
fn accepts_valid_rs256() {
    let op = operator();
    let tokens = verify_claims(&op, |_| {}).unwrap();
    assert_eq!(tokens.sub(), SUB);
    assert_eq!(tokens.id_token().alg(), Algorithm::RS256);
    assert_eq!(tokens.id_token().kid(), Some("kid-a"));
    assert_eq!(tokens.access_token().expose_secret(), ACCESS_TOKEN);
}

#[test]
fn accepts_valid_es256() {
    let op = operator();
    let tokens = login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::ES256, TestKey::EcP256, Some("kid-ec"))
    })
    .unwrap();
    assert_eq!(tokens.id_token().alg(), Algorithm::ES256);
    assert_eq!(tokens.id_token().kid(), Some("kid-ec"));
}

#[test]
fn accepts_valid_ps256_with_a_key_without_alg() {
    let op = operator_rsa_without_alg();
    let tokens = login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::PS256, TestKey::RsaA, Some("kid-p"))
    })
    .unwrap();
    assert_eq!(tokens.id_token().alg(), Algorithm::PS256);
}

#[test]
fn accepts_rs512_with_its_sha512_at_hash() {
    let op = operator_rsa_without_alg();
    let tokens = login_with(&op, AuthorizeOptions::new(), |mut claims| {
        claims["at_hash"] = json!(mc_core::id_token::at_hash(ACCESS_TOKEN, Algorithm::RS512));
        sign(&claims, Algorithm::RS512, TestKey::RsaA, Some("kid-p"))
    })
    .unwrap();
    assert_eq!(tokens.id_token().alg(), Algorithm::RS512);
}

#[test]
fn accepts_hs256_keyed_by_client_secret_when_allowed() {
    let op = operator_allowing_hs256();
    let tokens = login_with(&op, AuthorizeOptions::new(), |mut claims| {
        // HS256 hashes with SHA-256, like RS256: the same at_hash.
        claims["at_hash"] = json!(mc_core::id_token::at_hash(ACCESS_TOKEN, Algorithm::HS256));
        sign_hmac(&claims, Algorithm::HS256, CLIENT_SECRET.as_bytes(), None)
    })
    .unwrap();
    assert_eq!(tokens.id_token().alg(), Algorithm::HS256);
    assert_eq!(tokens.sub(), SUB);
}

#[test]
fn accepts_aud_as_plain_string() {
    let op = operator();
    let tokens = verify_claims(&op, |c| c["aud"] = json!(CLIENT_ID)).unwrap();
    assert_eq!(tokens.id_token().claims().aud, vec![CLIENT_ID.to_owned()]);
}

#[test]
fn accepts_several_audiences_with_azp_of_our_client() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| {
        c["aud"] = json!([CLIENT_ID, "other-client"])
    }));
}

#[test]
fn accepts_single_audience_without_azp() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| {
        c.as_object_mut().unwrap().remove("azp");
    }));
}

#[test]
fn accepts_kid_absent_with_a_single_key() {
    let op = operator_with_keys(&[TestKey::RsaA.jwk(None, Some("RS256"))]);
    let tokens = login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaA, None)
    })
    .unwrap();
    assert_eq!(tokens.id_token().kid(), None);
}

#[test]
fn accepts_kid_absent_with_several_keys_trying_those_of_matching_type() {
    // RSA B first, so the first RSA candidate fails and the second one verifies.
    let op = operator_with_keys(&[
        TestKey::EcP256.jwk(Some("kid-ec"), None),
        TestKey::RsaB.jwk(Some("kid-b"), None),
        TestKey::RsaA.jwk(Some("kid-a"), None),
    ]);
    assert_accepted(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaA, None)
    }));
}

#[test]
fn accepts_es256_without_kid_skipping_rsa_keys() {
    let op = operator();
    assert_accepted(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::ES256, TestKey::EcP256, None)
    }));
}

#[test]
fn accepts_identity_login_with_at_hash_and_amr() {
    let op = operator();
    let tokens = login_with_claims(&op, identity_login(), |_| {}).unwrap();
    assert_eq!(tokens.id_token().amr(), ["SIM_OK".to_owned()]);
}

// ---------------------------------------------------------------------------------------------
// Signature, algorithm and header
// ---------------------------------------------------------------------------------------------

#[test]
fn rejects_tampered_signature() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        tamper_signature(&sign(
            &claims,
            Algorithm::RS256,
            TestKey::RsaA,
            Some("kid-a"),
        ))
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        "{e:?}"
    );
}

#[test]
fn rejects_tampered_es256_signature() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        tamper_signature(&sign(
            &claims,
            Algorithm::ES256,
            TestKey::EcP256,
            Some("kid-ec"),
        ))
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        "{e:?}"
    );
}

#[test]
fn rejects_claims_changed_after_signing() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let jwt = sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"));
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let mut edited = claims.clone();
        edited["sub"] = json!("pcr-of-somebody-else");
        let edited_b64 = b64(edited.to_string().as_bytes());
        parts[1] = &edited_b64;
        parts.join(".")
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        "{e:?}"
    );
}

#[test]
fn rejects_truncated_signature() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let jwt = sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"));
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        format!("{input}.{}", b64(&bytes[..bytes.len() - 3]))
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        "{e:?}"
    );
}

#[test]
fn rejects_signature_by_another_rsa_key_with_the_same_kid() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-a"))
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        "{e:?}"
    );
}

#[test]
fn rejects_empty_signature() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let jwt = sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"));
        let (input, _) = jwt.rsplit_once('.').unwrap();
        format!("{input}.")
    }));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::Malformed {
                part: JwtPart::Signature,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_signature_not_base64url() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let jwt = sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"));
        let (input, _) = jwt.rsplit_once('.').unwrap();
        format!("{input}.not*base64!")
    }));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::Malformed {
                part: JwtPart::Signature,
                ..
            })
        ),
        "{e:?}"
    );
}

fn unsigned(claims: &Value, alg: &str, signature: &str) -> String {
    let header = json!({ "alg": alg, "typ": "JWT" });
    format!(
        "{}.{}.{signature}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

#[test]
fn rejects_alg_none_with_empty_signature() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        unsigned(&claims, "none", "")
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AlgorithmNotAllowed { alg }) if alg == "none"),
        "{e:?}"
    );
}

#[test]
fn rejects_alg_none_with_garbage_signature() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        unsigned(&claims, "none", &b64(b"garbage signature bytes"))
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AlgorithmNotAllowed { alg }) if alg == "none"),
        "{e:?}"
    );
}

#[test]
fn rejects_alg_none_in_any_spelling() {
    for spelling in ["None", "NONE", "nOnE", ""] {
        let op = operator();
        let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
            unsigned(&claims, spelling, "")
        }));
        assert!(
            matches!(&e, Error::IdToken(IdTokenError::AlgorithmNotAllowed { alg }) if alg == spelling),
            "{spelling:?}: {e:?}"
        );
    }
}

#[test]
fn rejects_unknown_alg() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        // A real RS256 signature, but the header names an algorithm nobody knows.
        let header = json!({ "alg": "RS1", "typ": "JWT", "kid": "kid-a" });
        sign_raw(
            &header,
            &claims,
            Algorithm::RS256,
            &TestKey::RsaA.encoding_key(),
        )
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AlgorithmNotAllowed { alg }) if alg == "RS1"),
        "{e:?}"
    );
}

#[test]
fn rejects_hs256_when_not_in_the_allow_list() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign_hmac(&claims, Algorithm::HS256, CLIENT_SECRET.as_bytes(), None)
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AlgorithmNotAllowed { alg }) if alg == "HS256"),
        "{e:?}"
    );
}

#[test]
fn rejects_allowed_family_outside_the_policy() {
    let op = operator_with_policy(|p| p.allowed_algorithms = vec![Algorithm::RS256]);
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::ES256, TestKey::EcP256, Some("kid-ec"))
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AlgorithmNotAllowed { alg }) if alg == "ES256"),
        "{e:?}"
    );
}

#[test]
fn rejects_eddsa_even_when_listed() {
    let op = operator_with_policy(|p| p.allowed_algorithms.push(Algorithm::EdDSA));
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        unsigned(&claims, "EdDSA", &b64(&[7u8; 64]))
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AlgorithmNotAllowed { alg }) if alg == "EdDSA"),
        "{e:?}"
    );
}

#[test]
fn rejects_hs256_when_the_client_secret_is_empty() {
    let mut policy = mc_core::Policy::default();
    policy.allowed_algorithms.push(Algorithm::HS256);
    let op = built_with_keys(
        bare_config("")
            .jwks("https://op.example/jwks")
            .unwrap()
            .policy(policy),
    );
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign_hmac(&claims, Algorithm::HS256, b"", None)
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AlgorithmNotAllowed { alg }) if alg == "HS256"),
        "{e:?}"
    );
}

#[test]
fn rejects_hs256_with_a_wrong_secret() {
    let op = operator_allowing_hs256();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign_hmac(&claims, Algorithm::HS256, b"not-the-client-secret", None)
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        "{e:?}"
    );
}

#[test]
fn rejects_hs256_keyed_by_the_operator_public_key_pem() {
    // Algorithm confusion (RFC 8725 2.1): HMAC keyed by the operator's RSA public key.
    let spki = rsa_public_spki_der(TestKey::RsaA);
    let pkcs1 = rsa_public_pkcs1_der(TestKey::RsaA);
    let spki_pem = pem("PUBLIC KEY", &spki);
    // The helper really builds the operator's public key: it verifies an RS256 token of RSA A.
    {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(spki_pem.as_bytes()).unwrap();
        let jwt = sign(&json!({"x": 1}), Algorithm::RS256, TestKey::RsaA, None);
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let verifier =
            (mc_core::crypto::provider().verifier_factory)(&Algorithm::RS256, &key).unwrap();
        verifier
            .verify(
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
    }
    let variants: Vec<Vec<u8>> = vec![
        spki_pem.clone().into_bytes(),
        spki_pem.trim_end().as_bytes().to_vec(),
        pem("RSA PUBLIC KEY", &pkcs1).into_bytes(),
        spki,
        pkcs1,
    ];
    let op = operator_allowing_hs256();
    for (i, secret) in variants.into_iter().enumerate() {
        for kid in [None, Some("kid-a")] {
            let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
                sign_hmac(&claims, Algorithm::HS256, &secret, kid)
            }));
            assert!(
                matches!(e, Error::IdToken(IdTokenError::BadSignature)),
                "variant {i}, kid {kid:?}: {e:?}"
            );
        }
    }
}

#[test]
fn rejects_hs256_keyed_by_the_operator_jwk_modulus() {
    let jwk = TestKey::RsaA.jwk(Some("kid-a"), Some("RS256"));
    let n_text = jwk["n"].as_str().unwrap().to_owned();
    let n_bytes = URL_SAFE_NO_PAD.decode(&n_text).unwrap();
    let op = operator_allowing_hs256();
    for secret in [n_text.into_bytes(), n_bytes, jwk.to_string().into_bytes()] {
        let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
            sign_hmac(&claims, Algorithm::HS256, &secret, Some("kid-a"))
        }));
        assert!(
            matches!(e, Error::IdToken(IdTokenError::BadSignature)),
            "{e:?}"
        );
    }
}

#[test]
fn rejects_hs256_keyed_by_an_oct_jwk() {
    // A symmetric key in the JWKS is skipped: HMAC is keyed by the client secret only.
    let attacker_secret = b"attacker-chosen-symmetric-key-0123456789";
    let keys = [
        TestKey::RsaA.jwk(Some("kid-a"), Some("RS256")),
        json!({ "kty": "oct", "kid": "kid-oct", "k": b64(attacker_secret), "alg": "HS256" }),
    ];
    let op = operator_allowing_hs256();
    op.set_jwks(Jwks::parse(&jwks_body(&keys)).unwrap(), now());
    assert_eq!(op.jwks().skipped(), 1);
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign_hmac(&claims, Algorithm::HS256, attacker_secret, Some("kid-oct"))
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        "{e:?}"
    );
}

#[test]
fn rejects_crit_header() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let header =
            json!({ "alg": "RS256", "typ": "JWT", "kid": "kid-a", "crit": ["exp"], "exp": 1 });
        sign_raw(
            &header,
            &claims,
            Algorithm::RS256,
            &TestKey::RsaA.encoding_key(),
        )
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::CriticalHeader { names }) if names == &["exp".to_owned()]),
        "{e:?}"
    );
}

#[test]
fn rejects_crit_header_even_when_empty() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "kid-a", "crit": [] });
        sign_raw(
            &header,
            &claims,
            Algorithm::RS256,
            &TestKey::RsaA.encoding_key(),
        )
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::CriticalHeader { names }) if names.is_empty()),
        "{e:?}"
    );
}

#[test]
fn ignores_jwk_header_naming_an_attacker_key() {
    let op = operator();
    for kid in [Some("kid-a"), None] {
        let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
            let mut header = json!({
                "alg": "RS256",
                "typ": "JWT",
                "jwk": TestKey::RsaB.jwk(Some("attacker"), Some("RS256")),
            });
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            sign_raw(
                &header,
                &claims,
                Algorithm::RS256,
                &TestKey::RsaB.encoding_key(),
            )
        }));
        assert!(
            matches!(e, Error::IdToken(IdTokenError::BadSignature)),
            "kid {kid:?}: {e:?}"
        );
    }
}

#[test]
fn ignores_jku_and_x5u_headers() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let header = json!({
            "alg": "RS256",
            "typ": "JWT",
            "kid": "kid-a",
            "jku": "https://attacker.example/jwks",
            "x5u": "https://attacker.example/cert.pem",
        });
        sign_raw(
            &header,
            &claims,
            Algorithm::RS256,
            &TestKey::RsaB.encoding_key(),
        )
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::BadSignature)),
        "{e:?}"
    );
}

#[test]
fn ignores_jku_header_naming_a_new_kid() {
    // An unknown kid with a jku: one refetch of the operator's own JWKS, never the jku.
    let op = operator_refetching_at_once();
    let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
        let header = json!({
            "alg": "RS256",
            "kid": "attacker-kid",
            "jku": "https://attacker.example/jwks",
        });
        sign_raw(
            &header,
            &claims,
            Algorithm::RS256,
            &TestKey::RsaB.encoding_key(),
        )
    })
    .unwrap();
    let Verified::NeedJwks(refetch) = outcome else {
        panic!("expected NeedJwks, got {outcome:?}");
    };
    assert_eq!(refetch.request().uri(), "https://op.example/jwks");
    let e = refetch
        .respond(
            raw_response(200, "application/json", &default_jwks_body()),
            now(),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::UnknownKeyId { kid }) if kid == "attacker-kid"),
        "{e:?}"
    );
}

#[test]
fn in_test_rsa_signer_matches_the_backend() {
    // The helper used for the 1024-bit key (which the backend refuses to sign with) gives the
    // backend's own RS256 signature for a 2048-bit key.
    let header = rs256_header("kid-a");
    let claims = json!({ "sub": SUB });
    assert_eq!(
        rs256_with_pem(&header, &claims, RSA_A),
        sign_raw(
            &header,
            &claims,
            Algorithm::RS256,
            &TestKey::RsaA.encoding_key()
        )
    );
}

#[test]
fn rejects_rsa_key_under_2048_bits() {
    let op = operator_with_keys(&[TestKey::Rsa1024.jwk(Some("kid-weak"), Some("RS256"))]);
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        // A correct RS256 signature by the 1024-bit key: only the key size is wrong.
        rs256_with_pem(&rs256_header("kid-weak"), &claims, RSA_1024)
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::KeyRejected { alg }) if alg == "RS256"),
        "{e:?}"
    );
}

#[test]
fn rejects_es256_token_whose_kid_names_an_rsa_key() {
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::ES256, TestKey::EcP256, Some("kid-a"))
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::NoUsableKey { alg }) if alg == "ES256"),
        "{e:?}"
    );
}

#[test]
fn rejects_alg_other_than_the_jwk_alg() {
    // kid-a is pinned to RS256 in the default JWKS: a PS256 token under kid-a is refused.
    let op = operator();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::PS256, TestKey::RsaA, Some("kid-a"))
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::NoUsableKey { alg }) if alg == "PS256"),
        "{e:?}"
    );
}

#[test]
fn rejects_kid_absent_with_no_key_of_the_type() {
    let op = operator_with_keys(&[TestKey::RsaA.jwk(Some("kid-a"), Some("RS256"))]);
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::ES256, TestKey::EcP256, None)
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::NoUsableKey { alg }) if alg == "ES256"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// kid handling and key rotation
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_kid_asks_for_jwks_then_accepts_the_rotated_key() {
    let op = operator_refetching_at_once();
    let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-b"))
    })
    .unwrap();
    let Verified::NeedJwks(refetch) = outcome else {
        panic!("expected NeedJwks, got {outcome:?}");
    };
    let tokens = refetch
        .respond(
            jwks_response(&[
                TestKey::RsaA.jwk(Some("kid-a"), Some("RS256")),
                TestKey::RsaB.jwk(Some("kid-b"), Some("RS256")),
            ]),
            now(),
        )
        .unwrap();
    assert_eq!(tokens.id_token().kid(), Some("kid-b"));
    assert_eq!(tokens.sub(), SUB);
}

#[test]
fn unknown_kid_still_unknown_after_refetch_is_unknown_key_id() {
    let op = operator_refetching_at_once();
    let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-b"))
    })
    .unwrap();
    let Verified::NeedJwks(refetch) = outcome else {
        panic!("expected NeedJwks, got {outcome:?}");
    };
    // The refetch brings the same keys back.
    let e = refetch
        .respond(
            raw_response(200, "application/json", &default_jwks_body()),
            now(),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::UnknownKeyId { kid }) if kid == "kid-b"),
        "{e:?}"
    );
}

#[test]
fn unknown_kid_within_min_refetch_interval_is_immediate_unknown_key_id() {
    let op = operator_with_policy(|p| p.jwks_min_refetch_secs = 3600);
    assert_eq!(op.jwks_fetched_at(), Some(now()));
    let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-b"))
    });
    let e = match outcome {
        Err(e) => e,
        Ok(other) => panic!("expected UnknownKeyId without a refetch, got {other:?}"),
    };
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::UnknownKeyId { kid }) if kid == "kid-b"),
        "{e:?}"
    );
}

#[test]
fn unknown_kid_after_min_refetch_interval_asks_for_jwks() {
    let op = operator_with_policy(|p| p.jwks_min_refetch_secs = 3600);
    op.set_jwks(default_jwks(), now().minus(3600));
    let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-b"))
    })
    .unwrap();
    assert!(matches!(outcome, Verified::NeedJwks(_)), "{outcome:?}");
}

#[test]
fn operator_without_keys_asks_for_jwks_first() {
    let op = operator_config().build().unwrap();
    assert!(op.jwks().is_empty());
    assert_eq!(op.jwks_fetched_at(), None);
    for kid in [Some("kid-a"), None] {
        let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
            sign(&claims, Algorithm::RS256, TestKey::RsaA, kid)
        })
        .unwrap();
        assert!(
            matches!(outcome, Verified::NeedJwks(_)),
            "kid {kid:?}: {outcome:?}"
        );
    }
    let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"))
    })
    .unwrap();
    let Verified::NeedJwks(refetch) = outcome else {
        panic!("expected NeedJwks, got {outcome:?}");
    };
    assert_accepted(refetch.respond(
        raw_response(200, "application/json", &default_jwks_body()),
        now(),
    ));
}

#[test]
fn unknown_kid_without_a_jwks_uri_is_unknown_key_id() {
    // Keys handed over at registration, and no JWKS URL to refetch from.
    let op = bare_config(CLIENT_SECRET)
        .keys(default_jwks())
        .build()
        .unwrap();
    let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-b"))
    });
    let e = match outcome {
        Err(e) => e,
        Ok(other) => panic!("expected UnknownKeyId, got {other:?}"),
    };
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::UnknownKeyId { kid }) if kid == "kid-b"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed JWTs
// ---------------------------------------------------------------------------------------------

fn assert_malformed(result: Result<Tokens, Error>, expected: JwtPart) {
    let e = rejected(result);
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::Malformed { part, .. }) if *part == expected),
        "expected malformed {expected:?}: {e:?}"
    );
}

#[test]
fn rejects_two_parts() {
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |claims| {
        let jwt = sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"));
        jwt.rsplit_once('.').unwrap().0.to_owned()
    });
    assert_malformed(result, JwtPart::Structure);
}

#[test]
fn rejects_four_parts() {
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |claims| {
        let jwt = sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"));
        format!("{jwt}.extra")
    });
    assert_malformed(result, JwtPart::Structure);
}

#[test]
fn rejects_five_parts_jwe() {
    let op = operator();
    let header = b64(br#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#);
    let result = login_with_jwt(&op, &format!("{header}.a2V5.aXY.Y2lwaGVy.dGFn"));
    assert_malformed(result, JwtPart::Structure);
}

#[test]
fn rejects_empty_jwt() {
    let op = operator();
    assert_malformed(login_with_jwt(&op, ""), JwtPart::Structure);
}

#[test]
fn rejects_header_not_base64url() {
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |claims| {
        let jwt = sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"));
        let (_, rest) = jwt.split_once('.').unwrap();
        format!("eyJ*bad+header/.{rest}")
    });
    assert_malformed(result, JwtPart::Header);
}

#[test]
fn rejects_header_not_json() {
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |claims| {
        sign_bytes_rs256(b"{alg: RS256", claims.to_string().as_bytes())
    });
    assert_malformed(result, JwtPart::Header);
}

#[test]
fn rejects_header_without_alg() {
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |claims| {
        sign_bytes_rs256(
            json!({ "typ": "JWT", "kid": "kid-a" })
                .to_string()
                .as_bytes(),
            claims.to_string().as_bytes(),
        )
    });
    assert_malformed(result, JwtPart::Header);
}

#[test]
fn rejects_claims_not_json() {
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |_| {
        sign_bytes_rs256(
            rs256_header("kid-a").to_string().as_bytes(),
            b"{\"iss\": \"https://op.example\", sub}",
        )
    });
    assert_malformed(result, JwtPart::Claims);
}

#[test]
fn rejects_claims_not_a_json_object() {
    // RFC 7519 7.2: the claims set must be a JSON object. The same valid claims, as an array in
    // IdTokenClaims' field order.
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |claims| {
        let positional = json!([
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
        ]);
        sign_bytes_rs256(
            rs256_header("kid-a").to_string().as_bytes(),
            positional.to_string().as_bytes(),
        )
    });
    assert_malformed(result, JwtPart::Claims);
}

#[test]
fn rejects_claims_not_base64url() {
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |_| {
        // Correctly signed over a claims part that is not base64url.
        let input = format!(
            "{}.not*base64!",
            b64(rs256_header("kid-a").to_string().as_bytes())
        );
        sign_input(&input, Algorithm::RS256, &TestKey::RsaA.encoding_key())
    });
    assert_malformed(result, JwtPart::Claims);
}

#[test]
fn rejects_claims_not_utf8() {
    let op = operator();
    let result = login_with(&op, AuthorizeOptions::new(), |_| {
        sign_bytes_rs256(
            rs256_header("kid-a").to_string().as_bytes(),
            b"{\"iss\": \"\xff\xfe\"}",
        )
    });
    assert_malformed(result, JwtPart::Claims);
}

/// The valid token padded with a `pad` claim of `claims_pad` characters and a `pad` header
/// member of `header_pad` characters.
fn padded_jwt(claims: &Value, claims_pad: usize, header_pad: usize) -> String {
    let mut claims = claims.clone();
    claims["pad"] = json!("x".repeat(claims_pad));
    let mut header = rs256_header("kid-a");
    header["pad"] = json!("y".repeat(header_pad));
    sign_raw(
        &header,
        &claims,
        Algorithm::RS256,
        &TestKey::RsaA.encoding_key(),
    )
}

fn padded_len(claims: &Value, claims_pad: usize, header_pad: usize) -> usize {
    let mut claims = claims.clone();
    claims["pad"] = json!("x".repeat(claims_pad));
    let mut header = rs256_header("kid-a");
    header["pad"] = json!("y".repeat(header_pad));
    // RS256 with a 2048-bit key: 256 signature bytes, 342 base64url characters.
    b64(header.to_string().as_bytes()).len()
        + 1
        + b64(claims.to_string().as_bytes()).len()
        + 1
        + 342
}

#[test]
fn rejects_jwt_over_max_bytes() {
    let op = operator();
    let mut sent_len = 0;
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let jwt = padded_jwt(&claims, mc_core::wire::MAX_JWT_BYTES, 0);
        sent_len = jwt.len();
        jwt
    }));
    assert!(
        matches!(
            &e,
            Error::IdToken(IdTokenError::TooLong { limit, len })
                if *limit == mc_core::wire::MAX_JWT_BYTES && *len == sent_len
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_jwt_one_byte_over_max_bytes_and_accepts_exactly_max() {
    let max = mc_core::wire::MAX_JWT_BYTES;
    let op = operator();
    // Find paddings that hit the bound exactly, and one byte over it.
    let find = |target: usize, claims: &Value| -> (usize, usize) {
        for header_pad in 0..4 {
            for claims_pad in (max * 3 / 4 - 1200)..(max * 3 / 4) {
                if padded_len(claims, claims_pad, header_pad) == target {
                    return (claims_pad, header_pad);
                }
            }
        }
        panic!("no padding gives {target} bytes");
    };
    let tokens = login_with(&op, AuthorizeOptions::new(), |claims| {
        let (c, h) = find(max, &claims);
        let jwt = padded_jwt(&claims, c, h);
        assert_eq!(jwt.len(), max);
        jwt
    })
    .unwrap();
    assert_eq!(tokens.id_token().jwt().expose_secret().len(), max);
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        let (c, h) = find(max + 1, &claims);
        let jwt = padded_jwt(&claims, c, h);
        assert_eq!(jwt.len(), max + 1);
        jwt
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::TooLong { limit, len }) if *limit == max && *len == max + 1),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

fn remove(claims: &mut Value, name: &str) {
    claims.as_object_mut().unwrap().remove(name);
}

#[test]
fn rejects_issuer_mismatch() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| {
        c["iss"] = json!("https://evil.example")
    }));
    assert!(
        matches!(
            &e,
            Error::IdToken(IdTokenError::IssuerMismatch { expected, found })
                if expected == ISSUER && found == "https://evil.example"
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_issuer_differing_only_by_trailing_slash() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| {
        c["iss"] = json!(format!("{ISSUER}/"))
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::IssuerMismatch { found, .. }) if *found == format!("{ISSUER}/")),
        "{e:?}"
    );
}

#[test]
fn rejects_issuer_differing_only_by_case() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| {
        c["iss"] = json!("https://OP.example")
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::IssuerMismatch { .. })),
        "{e:?}"
    );
}

#[test]
fn rejects_missing_iss() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| remove(c, "iss")));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::MissingClaim { claim: "iss" })
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_audience_without_our_client() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| {
        c["aud"] = json!(["other-client"]);
        c["azp"] = json!("other-client");
    }));
    assert!(
        matches!(
            &e,
            Error::IdToken(IdTokenError::AudienceMismatch { client_id, found })
                if client_id == CLIENT_ID && found == &["other-client".to_owned()]
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_audience_that_only_contains_our_client_as_a_substring() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| {
        c["aud"] = json!(format!("{CLIENT_ID}1"));
        remove(c, "azp");
    }));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AudienceMismatch { .. })),
        "{e:?}"
    );
}

#[test]
fn rejects_missing_aud() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| remove(c, "aud")));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::MissingClaim { claim: "aud" })
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_several_audiences_without_azp() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| {
        c["aud"] = json!([CLIENT_ID, "other-client"]);
        remove(c, "azp");
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::AuthorizedPartyMissing)),
        "{e:?}"
    );
}

#[test]
fn rejects_azp_of_another_client() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["azp"] = json!("other-client")));
    assert!(
        matches!(
            &e,
            Error::IdToken(IdTokenError::AuthorizedPartyMismatch { client_id, found })
                if client_id == CLIENT_ID && found == "other-client"
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_missing_sub() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| remove(c, "sub")));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::MissingClaim { claim: "sub" })
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_empty_sub() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["sub"] = json!("")));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::MissingClaim { claim: "sub" })
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_missing_exp() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| remove(c, "exp")));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::MissingClaim { claim: "exp" })
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_unparseable_exp() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["exp"] = json!("tomorrow")));
    // Present but unreadable: refused as such, never read as absent (review finding 3).
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::InvalidClaim {
                claim: "exp",
                reason: "not a number"
            })
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_expired_beyond_leeway() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["exp"] = json!(NOW - 3600)));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::Expired { exp, now: NOW, leeway: 30 }) if exp == NOW - 3600
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_exp_at_the_leeway_boundary() {
    // The rule is now >= exp + leeway: exp = NOW - 30 is expired.
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["exp"] = json!(NOW - 30)));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::Expired { exp, now: NOW, leeway: 30 }) if exp == NOW - 30
        ),
        "{e:?}"
    );
}

#[test]
fn accepts_exp_just_within_the_leeway() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| c["exp"] = json!(NOW - 29)));
}

#[test]
fn rejects_exp_equal_to_now_with_zero_leeway() {
    let op = operator_with_policy(|p| p.leeway_secs = 0);
    let e = rejected(verify_claims(&op, |c| c["exp"] = json!(NOW)));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::Expired {
                exp: NOW,
                now: NOW,
                leeway: 0
            })
        ),
        "{e:?}"
    );
    assert_accepted(verify_claims(&op, |c| c["exp"] = json!(NOW + 1)));
}

#[test]
fn rejects_nbf_in_the_future_beyond_leeway() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["nbf"] = json!(NOW + 31)));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::NotYetValid { nbf, now: NOW, leeway: 30 }) if nbf == NOW + 31
        ),
        "{e:?}"
    );
}

#[test]
fn accepts_nbf_at_the_leeway_boundary() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| c["nbf"] = json!(NOW + 30)));
}

#[test]
fn rejects_missing_iat() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| remove(c, "iat")));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::MissingClaim { claim: "iat" })
        ),
        "{e:?}"
    );
}

#[test]
fn rejects_iat_in_the_future_beyond_leeway() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["iat"] = json!(NOW + 31)));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::IssuedInFuture { iat, now: NOW, leeway: 30 }) if iat == NOW + 31
        ),
        "{e:?}"
    );
}

#[test]
fn accepts_iat_at_the_leeway_boundary() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| c["iat"] = json!(NOW + 30)));
}

#[test]
fn rejects_iat_older_than_max_token_age() {
    let op = operator_with_policy(|p| p.max_token_age_secs = Some(60));
    let e = rejected(verify_claims(&op, |c| c["iat"] = json!(NOW - 91)));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::IssuedTooLongAgo { iat, now: NOW, max_age: 60 }) if iat == NOW - 91
        ),
        "{e:?}"
    );
}

#[test]
fn accepts_iat_within_max_token_age_and_leeway() {
    let op = operator_with_policy(|p| p.max_token_age_secs = Some(60));
    // The user authenticated no later than the token was issued.
    assert_accepted(verify_claims(&op, |c| {
        c["iat"] = json!(NOW - 90);
        c["auth_time"] = json!(NOW - 90);
    }));
}

#[test]
fn accepts_old_iat_without_max_token_age() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| {
        c["iat"] = json!(NOW - 86_400);
        c["auth_time"] = json!(NOW - 86_400);
    }));
}

#[test]
fn rejects_missing_auth_time_when_max_age_requested() {
    let op = operator();
    let e = rejected(login_with_claims(
        &op,
        AuthorizeOptions::new().max_age(60),
        |c| remove(c, "auth_time"),
    ));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::AuthTimeMissing)),
        "{e:?}"
    );
}

#[test]
fn rejects_auth_time_older_than_max_age() {
    let op = operator();
    let e = rejected(login_with_claims(
        &op,
        AuthorizeOptions::new().max_age(60),
        |c| c["auth_time"] = json!(NOW - 91),
    ));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::AuthTooOld { auth_time, max_age: 60, now: NOW })
                if auth_time == NOW - 91
        ),
        "{e:?}"
    );
}

#[test]
fn accepts_fresh_auth_time_with_max_age() {
    let op = operator();
    assert_accepted(login_with_claims(
        &op,
        AuthorizeOptions::new().max_age(60),
        |_| {},
    ));
    // The boundary: max_age plus leeway.
    assert_accepted(login_with_claims(
        &op,
        AuthorizeOptions::new().max_age(60),
        |c| {
            c["auth_time"] = json!(NOW - 90);
        },
    ));
}

#[test]
fn accepts_missing_auth_time_without_max_age() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| remove(c, "auth_time")));
}

#[test]
fn rejects_missing_nonce() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| remove(c, "nonce")));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::NonceMissing)),
        "{e:?}"
    );
}

#[test]
fn rejects_nonce_of_another_login() {
    let op = operator();
    // The nonce of another login through the same operator (other randomness).
    let mut other_entropy = |buf: &mut [u8]| buf.fill(0xAB);
    let (redirect, _) = op
        .authorize(AuthorizeOptions::new(), &mut other_entropy, now())
        .unwrap();
    let other_nonce = param(&query_of(redirect.url()), "nonce").unwrap();
    let e = rejected(verify_claims(&op, |c| {
        assert_ne!(c["nonce"], json!(other_nonce));
        c["nonce"] = json!(other_nonce);
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::NonceMismatch)),
        "{e:?}"
    );
}

#[test]
fn rejects_nonce_as_a_prefix_of_ours() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| {
        let ours = c["nonce"].as_str().unwrap().to_owned();
        c["nonce"] = json!(&ours[..ours.len() - 1]);
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::NonceMismatch)),
        "{e:?}"
    );
}

#[test]
fn rejects_acr_below_requested() {
    let op = operator();
    let e = rejected(login_with_claims(
        &op,
        AuthorizeOptions::new().acr_values([3]),
        |c| c["acr"] = json!("2"),
    ));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AcrTooLow { requested: 3, found }) if found == "2"),
        "{e:?}"
    );
}

#[test]
fn rejects_missing_acr() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| remove(c, "acr")));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::AcrMissing)),
        "{e:?}"
    );
}

#[test]
fn rejects_unparseable_acr() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["acr"] = json!("loa2")));
    assert!(
        matches!(&e, Error::IdToken(IdTokenError::AcrUnknown { found }) if found == "loa2"),
        "{e:?}"
    );
}

#[test]
fn accepts_acr_as_a_number() {
    let op = operator();
    let tokens = login_with_claims(&op, AuthorizeOptions::new().acr_values([3]), |c| {
        c["acr"] = json!(3);
    })
    .unwrap();
    assert_eq!(tokens.id_token().acr(), Some("3"));
}

#[test]
fn accepts_acr_above_the_lowest_requested() {
    let op = operator();
    assert_accepted(login_with_claims(
        &op,
        AuthorizeOptions::new().acr_values([2, 3]),
        |c| {
            c["acr"] = json!("2");
        },
    ));
    assert_accepted(verify_claims(&op, |c| c["acr"] = json!("3")));
}

#[test]
fn rejects_at_hash_mismatch() {
    let op = operator();
    let e = rejected(verify_claims(&op, |c| {
        c["at_hash"] = json!(mc_core::id_token::at_hash(
            "another-access-token",
            Algorithm::RS256
        ));
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::AtHashMismatch)),
        "{e:?}"
    );
}

#[test]
fn rejects_at_hash_of_another_hash_function() {
    // RS512 needs the left half of SHA-512; the SHA-256 at_hash of valid_claims is wrong.
    let op = operator_rsa_without_alg();
    let e = rejected(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS512, TestKey::RsaA, Some("kid-p"))
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::AtHashMismatch)),
        "{e:?}"
    );
}

#[test]
fn accepts_missing_at_hash_for_mc_v1_1() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| remove(c, "at_hash")));
}

#[test]
fn rejects_missing_at_hash_for_an_identity_login() {
    let op = operator();
    let e = rejected(login_with_claims(&op, identity_login(), |c| {
        remove(c, "at_hash");
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::AtHashMissing)),
        "{e:?}"
    );
}

#[test]
fn rejects_missing_amr_for_an_identity_login() {
    let op = operator();
    let e = rejected(login_with_claims(&op, identity_login(), |c| {
        remove(c, "amr")
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::AmrMissing)),
        "{e:?}"
    );
}

#[test]
fn rejects_empty_amr_for_an_identity_login() {
    let op = operator();
    let e = rejected(login_with_claims(&op, identity_login(), |c| {
        c["amr"] = json!([]);
    }));
    assert!(
        matches!(e, Error::IdToken(IdTokenError::AmrMissing)),
        "{e:?}"
    );
}

#[test]
fn accepts_missing_amr_for_mc_v1_1() {
    let op = operator();
    assert_accepted(verify_claims(&op, |c| remove(c, "amr")));
}

#[test]
fn accepts_amr_as_a_bare_string() {
    let op = operator();
    let tokens = login_with_claims(&op, identity_login(), |c| c["amr"] = json!("SIM_PIN")).unwrap();
    assert_eq!(tokens.id_token().amr(), ["SIM_PIN".to_owned()]);
}

#[test]
fn accepts_dates_as_strings() {
    let op = operator();
    let tokens = login_with_claims(&op, AuthorizeOptions::new().max_age(60), |c| {
        c["exp"] = json!("1790000300");
        c["iat"] = json!("1789999995");
        c["auth_time"] = json!("1789999990");
        c["nbf"] = json!("1789999995");
    })
    .unwrap();
    assert_eq!(tokens.id_token().claims().exp, Some(1_790_000_300));
}

#[test]
fn accepts_dates_as_floats() {
    let op = operator();
    let tokens = login_with_claims(&op, AuthorizeOptions::new().max_age(60), |c| {
        c["exp"] = json!(1_790_000_300.5);
        c["iat"] = json!(1_789_999_995.25);
        c["auth_time"] = json!(1_789_999_990.75);
        c["nbf"] = json!("1789999995.5");
    })
    .unwrap();
    assert_eq!(tokens.id_token().claims().exp, Some(1_790_000_300));
    assert_eq!(tokens.id_token().claims().iat, Some(1_789_999_995));
}

#[test]
fn rejects_expired_date_given_as_string() {
    // Lenient parsing does not weaken the rule.
    let op = operator();
    let e = rejected(verify_claims(&op, |c| c["exp"] = json!("1789990000")));
    assert!(
        matches!(
            e,
            Error::IdToken(IdTokenError::Expired {
                exp: 1_789_990_000,
                ..
            })
        ),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Consequences of a rejection
// ---------------------------------------------------------------------------------------------

#[test]
fn rejected_id_token_yields_no_tokens() {
    let op = operator_refetching_at_once();
    // A bad signature: respond errs, with no Tokens and no pending state.
    let outcome = exchange(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-a"))
    });
    assert!(
        matches!(outcome, Err(Error::IdToken(IdTokenError::BadSignature))),
        "{outcome:?}"
    );
    // A bad claim.
    let outcome = exchange(&op, AuthorizeOptions::new(), |mut claims| {
        claims["aud"] = json!(["other-client"]);
        sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"))
    });
    assert!(
        matches!(
            outcome,
            Err(Error::IdToken(IdTokenError::AudienceMismatch { .. }))
        ),
        "{outcome:?}"
    );
    // A rejection after the refetch.
    let outcome = exchange(&op, AuthorizeOptions::new(), |mut claims| {
        claims["iss"] = json!("https://evil.example");
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-b"))
    })
    .unwrap();
    let Verified::NeedJwks(refetch) = outcome else {
        panic!("expected NeedJwks, got {outcome:?}");
    };
    let result = refetch.respond(
        jwks_response(&[TestKey::RsaB.jwk(Some("kid-b"), None)]),
        now(),
    );
    assert!(
        matches!(
            result,
            Err(Error::IdToken(IdTokenError::IssuerMismatch { .. }))
        ),
        "{result:?}"
    );
}

#[test]
fn error_messages_never_show_secrets() {
    let op = operator();
    let hs_op = operator_allowing_hs256();
    let mut errors: Vec<Error> = Vec::new();
    let mut nonces: Vec<String> = Vec::new();
    let mut push = |result: Result<Tokens, Error>| errors.push(rejected(result));

    push(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(&claims, Algorithm::RS256, TestKey::RsaB, Some("kid-a"))
    }));
    push(login_with(&hs_op, AuthorizeOptions::new(), |claims| {
        sign_hmac(&claims, Algorithm::HS256, b"wrong", None)
    }));
    push(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign_hmac(&claims, Algorithm::HS256, CLIENT_SECRET.as_bytes(), None)
    }));
    push(login_with(&op, AuthorizeOptions::new(), |claims| {
        nonces.push(claims["nonce"].as_str().unwrap().to_owned());
        unsigned(&claims, "none", "")
    }));
    push(login_with(&op, AuthorizeOptions::new(), |claims| {
        // Claims that are not JSON, and carry the access token and the client secret.
        let body = format!("{{\"nonce\": {ACCESS_TOKEN}, \"x\": {CLIENT_SECRET}, {claims}");
        sign_bytes_rs256(
            rs256_header("kid-a").to_string().as_bytes(),
            body.as_bytes(),
        )
    }));
    push(login_with(&op, AuthorizeOptions::new(), |_| {
        sign_bytes_rs256(
            format!("{{\"alg\": {CLIENT_SECRET}}}").as_bytes(),
            ACCESS_TOKEN.as_bytes(),
        )
    }));
    push(login_with(&op, AuthorizeOptions::new(), |claims| {
        padded_jwt(&claims, mc_core::wire::MAX_JWT_BYTES, 0)
    }));
    push(login_with(&op, AuthorizeOptions::new(), |claims| {
        sign(
            &claims,
            Algorithm::RS256,
            TestKey::RsaB,
            Some("kid-unknown"),
        )
    }));
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
        push(login_with(&op, AuthorizeOptions::new(), |mut claims| {
            nonces.push(claims["nonce"].as_str().unwrap().to_owned());
            edit(&mut claims);
            sign(&claims, Algorithm::RS256, TestKey::RsaA, Some("kid-a"))
        }));
    }
    assert!(errors.len() >= 19);
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
