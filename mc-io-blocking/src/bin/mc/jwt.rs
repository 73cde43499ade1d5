//! `mc decode` (no verification) and `mc verify` (mc-core's id_token rules).

use std::fmt::Write as _;
use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{Algorithm, ClientSecret, Jwks, Nonce, Policy};
use mc_io_blocking::{Client, now};
use serde_json::{Value, json};

use crate::args::{DecodeArgs, VerifyArgs};
use crate::misconfigured;
use crate::outcome::{Exit, Failure, Fetch, Report};

/// The largest token read from stdin (mc-core refuses longer ones anyway).
const MAX_JWT_INPUT: u64 = 64 * 1024;

/// The JWT argument, or stdin for `-`.
fn input(arg: &str) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_JWT_INPUT)
        .read_to_string(&mut text)
        .map_err(|e| misconfigured("Input", format!("cannot read the JWT from stdin: {e}")))?;
    Ok(text.trim().to_owned())
}

fn part(b64: &str, which: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| format!("the {which} is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("the {which} is not JSON: {e}"))
}

/// The claims of a compact JWS, decoded without any check.
pub(crate) fn claims_of(jwt: &str) -> Option<Value> {
    part(jwt.split('.').nth(1)?, "claims").ok()
}

/// `exp`, `iat`, `nbf`, `auth_time` relative to now, for a reader.
fn times(claims: &Value, now: u64) -> String {
    let mut out = String::new();
    for name in ["iat", "nbf", "auth_time", "exp"] {
        if let Some(t) = claims.get(name).and_then(Value::as_u64) {
            let when = if t == now {
                "now".to_owned()
            } else if t > now {
                format!("in {} s", t - now)
            } else {
                format!("{} s ago", now - t)
            };
            let _ = writeln!(out, "  {name:<10} {t} ({when})");
        }
    }
    out
}

pub(crate) fn decode(args: &DecodeArgs) -> Result<Report, Failure> {
    let jwt = input(&args.jwt)?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let (header_b64, claims_b64, signature_b64) = match parts.as_slice() {
        [h, c, s] => (*h, *c, *s),
        [_, _, _, _, _] => {
            return Err(misconfigured(
                "NotAJws",
                "five parts: an encrypted JWT (JWE), which mc cannot decode",
            ));
        }
        _ => {
            return Err(misconfigured(
                "NotAJws",
                "not a JWT: a compact JWS has three dot-separated parts",
            ));
        }
    };
    let bad = |e: String| misconfigured("NotAJws", e);
    let header = part(header_b64, "header").map_err(bad)?;
    let claims = part(claims_b64, "claims").map_err(bad)?;
    let signature_bytes = URL_SAFE_NO_PAD.decode(signature_b64).map_or(0, |s| s.len());
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let mut summary = String::from(
        "UNVERIFIED: decoded only, nothing checked (not the signature, issuer, audience or \
         dates); use `mc verify`\n",
    );
    let _ = writeln!(summary, "header:\n{}", pretty(&header));
    let _ = writeln!(summary, "claims:\n{}", pretty(&claims));
    let _ = write!(summary, "{}", times(&claims, now().as_secs()));
    let _ = writeln!(summary, "signature: {signature_bytes} bytes");
    Ok(Report::ok(
        json!({
            "verified": false,
            "header": header,
            "claims": claims,
            "signature_bytes": signature_bytes,
        }),
        summary,
    ))
}

/// The JWKS from a file, or from an http(s) URL (https only, or loopback).
fn jwks(source: &str) -> Result<Jwks, Failure> {
    let body = if source.starts_with("https://") || source.starts_with("http://") {
        let response = Fetch::get(&Client::new()?, mc_core::Endpoint::Jwks, source)?;
        if !response.status().is_success() {
            return Err(Failure::new(
                Exit::Misbehaving,
                "UnexpectedStatus",
                format!("--jwks {source}: HTTP {}", response.status()),
            ));
        }
        response.into_body()
    } else {
        std::fs::read(source)
            .map_err(|e| misconfigured("JwksUnreadable", format!("cannot read {source}: {e}")))?
    };
    Ok(Jwks::parse(&body)?)
}

pub(crate) fn verify(args: &VerifyArgs) -> Result<Report, Failure> {
    let jwt = input(&args.jwt)?;
    if args.leeway > mc_core::registry::MAX_LEEWAY_SECS {
        return Err(misconfigured(
            "PolicyOutOfBounds",
            format!(
                "--leeway {} is over {} s",
                args.leeway,
                mc_core::registry::MAX_LEEWAY_SECS
            ),
        ));
    }
    let mut policy = Policy::default();
    policy.leeway_secs = args.leeway;
    let secret = match &args.secret_env {
        Some(var) => {
            let secret = std::env::var(var).map_err(|_| {
                misconfigured(
                    "SecretMissing",
                    format!("the environment variable {var} (--secret-env) is not set"),
                )
            })?;
            // HMAC only when the client secret is at hand: it is the only key HS* may use.
            policy.allowed_algorithms.extend([
                Algorithm::HS256,
                Algorithm::HS384,
                Algorithm::HS512,
            ]);
            ClientSecret::new(secret)
        }
        None => ClientSecret::new(""),
    };
    let keys = jwks(&args.jwks)?;
    let nonce = args.nonce.as_deref().map(Nonce::new);
    let rules = mc_core::id_token::IdTokenRules {
        issuer: &args.issuer,
        client_id: &args.client_id,
        client_secret: &secret,
        nonce: nonce.as_ref(),
        policy: &policy,
    };
    let token = rules.verify(&jwt, &keys, now())?;
    let mut claims = claims_of(&jwt).unwrap_or(Value::Null);
    if let Some(map) = claims.as_object_mut() {
        map.remove("nonce");
    }
    let alg = format!("{:?}", token.alg());
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "VERIFIED: signature ({alg}, kid {}), iss, aud/azp, sub, exp/nbf/iat{}",
        token.kid().unwrap_or("-"),
        if nonce.is_some() { ", nonce" } else { "" }
    );
    let _ = writeln!(summary, "  sub        {}", token.sub());
    let _ = writeln!(summary, "  acr        {}", token.acr().unwrap_or("-"));
    let _ = writeln!(summary, "  amr        {}", token.amr().join(" "));
    let _ = write!(summary, "{}", times(&claims, now().as_secs()));
    let _ = writeln!(
        summary,
        "  not checked here (a login's own): max_age, the requested acr, at_hash"
    );
    Ok(Report::ok(
        json!({
            "verified": true,
            "alg": alg,
            "kid": token.kid(),
            "sub": token.sub(),
            "acr": token.acr(),
            "amr": token.amr(),
            "nonce_checked": nonce.is_some(),
            "claims": claims,
        }),
        summary,
    ))
}
