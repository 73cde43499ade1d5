//! UserInfo and premium info after a login (OIDC Core 5.3, RFC 6750), and the claims asked for
//! by scope or with the `claims` parameter: each row makes the endpoint misbehave and says what
//! the SP makes of the answer.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{Endpoint, Error, IdTokenError as E, JwtPart, ProtocolError as P, UserInfo};
use mc_tests::driver::{self, Driver};
use mc_tests::sandbox::{IdTokenMutation as M, RawBody};
use mc_tests::{Fault, Handset, Target};
use serde_json::{Value, json};

use crate::{Case, Step, as_served, blocking, core, query_param, step, tokio};

mc_tests::through_both_adapters!(
    rp_userinfo_bad_sub_claim,
    rp_userinfo_bearer_header,
    rp_userinfo_sig,
    rp_userinfo_enc_unsupported_is_refused,
    rp_scope_userinfo_claims,
    rp_claims_request_userinfo,
    rp_claims_aggregated_unsupported_stays_raw,
    rp_claims_distributed_unsupported_not_fetched,
    x_jwt_duplicate_custom_claims,
);

/// Run the step: a login, which must be accepted, then userinfo (or premium info) while the
/// operator misbehaves as the step says; the outcome is the answer. Every such request,
/// whatever the answer, is the one request made, a `GET` of the endpoint without a query or a
/// body, the access token in `Authorization: Bearer` (RFC 6750 2.1): nothing else is fetched. A
/// step that edits the token response is judged at the login instead: refused, and nothing
/// asked after the token request.
fn check_userinfo<D: Driver>(c: &Case<'_, D>, step: Step) -> Result<UserInfo, Error> {
    c.misbehaving(&step.faults, || {
        let mark = c.mark();
        let login = c.login(step.options_at(c));
        if step.edits_token_response() {
            let refusal = login
                .map(|_| "accepted")
                .expect_err("the login was accepted");
            assert_eq!(c.since(mark), [c.get("authorize"), c.post("token")]);
            return Err(core(refusal));
        }
        let tokens = login.unwrap();
        if let Some(members) = &step.userinfo_members {
            c.fault(Target::UserInfo, userinfo_body(tokens.sub(), members));
        }
        let endpoint = if step.premiuminfo {
            "premiuminfo"
        } else {
            "userinfo"
        };
        let mark = c.mark();
        let answer = if step.premiuminfo {
            c.d.execute(tokens.premiuminfo(&c.op).unwrap())
        } else {
            driver::userinfo(c.d, &c.op, &tokens)
        };
        let requests = c.requests_since(mark);
        let [request] = requests.as_slice() else {
            panic!("expected one request, got {:?}", c.since(mark));
        };
        assert_eq!(
            (request.method.as_str(), request.uri.as_str()),
            ("GET", c.path(endpoint).as_str())
        );
        let bearer = format!("Bearer {}", tokens.access_token().expose_secret());
        assert_eq!(request.header("authorization"), Some(bearer.as_str()));
        assert!(request.body.is_empty());
        answer.map_err(core)
    })
}

cases! { check_userinfo, c;
    /// `rp-userinfo-bad-sub-claim` (core): userinfo (JSON at alpha, signed at beta) and premium
    /// info for another `sub` are rejected.
    rp_userinfo_bad_sub_claim at ["alpha", "beta"]: {
        step((Target::UserInfo, Fault::SubjectMismatch))
            => Err(Error::Protocol(P::SubjectMismatch { endpoint: Endpoint::UserInfo })),
        premiuminfo(Fault::SubjectMismatch)
            => Err(Error::Protocol(P::SubjectMismatch { endpoint: Endpoint::PremiumInfo })),
    };

    /// `rp-userinfo-bearer-header` (core): the access token goes as `Authorization: Bearer`,
    /// and nowhere else (no query, no body): what the check holds every userinfo request to.
    rp_userinfo_bearer_header at ["alpha", "beta"]: {
        as_served() => Ok(_),
    };

    /// `rp-userinfo-sig` (optional): a signed userinfo JWT is verified before use: accepted
    /// when genuine; a corrupted signature, a foreign key, another audience or `alg` none are
    /// rejected.
    rp_userinfo_sig at ["beta"]: {
        as_served() => Ok(info) if info.was_signed() && info.claim_str("sub") == Some(info.sub()),
        [signed(M::CorruptSignature), signed(M::ForeignKey)]
            => Err(Error::IdToken(E::BadSignature)),
        signed(M::set("aud", json!("another-client")))
            => Err(Error::IdToken(E::AudienceMismatch { .. })),
        signed(M::AlgNone) => Err(Error::IdToken(E::AlgorithmNotAllowed { alg })) if alg == "none",
    };

    /// `rp-userinfo-enc`, `rp-userinfo-sig+enc` (optional, not supported): an encrypted
    /// userinfo (JWE) body is refused as malformed.
    rp_userinfo_enc_unsupported_is_refused at ["alpha", "beta"]: {
        step((Target::UserInfo, Fault::Body(jwe())))
            => Err(Error::IdToken(E::Malformed { part: JwtPart::Structure, .. })),
    };

    /// `rp-scope-userinfo-claims` (core): claims requested by scope (`mc_identity_phonenumber`,
    /// with `openid` added) and read from userinfo, JSON and signed.
    rp_scope_userinfo_claims at ["alpha", "beta"]: {
        as_served().options(c.approve().scope(["mc_identity_phonenumber"])) => Ok(info)
            if info.phone_number() == Some(c.phone().as_str())
                && info.claim("phone_number_verified") == Some(&json!(true))
                && sent_scope(c).as_deref() == Some("openid mc_identity_phonenumber"),
    };

    /// `rp-claims_request-userinfo` (optional): a claim asked for with `claims={"userinfo":...}`
    /// is read from userinfo (JSON and signed).
    rp_claims_request_userinfo at ["alpha", "beta"]: {
        as_served().options(
            c.approve().claims(json!({ "userinfo": { "email": null, "given_name": null } })),
        ) => Ok(info) if info.claim_str("given_name") == Some("Test")
            && info.claim_str("email") == Some(subscriber_email(c).as_str()),
    };

    /// `rp-claims-aggregated` (optional, not supported): an aggregated claim (an unsigned JWT
    /// in `_claim_sources`, as the old tool serves) is not merged into the claims: `address`
    /// stays absent, the raw members stay raw, so nothing unverified passes as a claim.
    rp_claims_aggregated_unsupported_stays_raw at ["alpha"]: {
        userinfo_members(json!({
            "_claim_names": { "address": "src1", "phone_number": "src1" },
            "_claim_sources": { "src1": { "JWT": unsigned_claims() } },
        })) => Ok(info) if info.claim("address").is_none()
            && info.phone_number().is_none()
            && info.claim("_claim_sources").is_some(),
    };

    /// `rp-claims-distributed` (optional, not supported): a distributed claim's endpoint is
    /// never called (nor given the access token: the check sees userinfo only) and the claim
    /// stays absent.
    rp_claims_distributed_unsupported_not_fetched at ["alpha"]: {
        userinfo_members(json!({
            "_claim_names": { "address": "src1" },
            "_claim_sources": { "src1": {
                "endpoint": format!("{}/distributed/claims", c.sandbox().base()),
                "access_token": "ksj3n283dke",
            } },
        })) => Ok(info) if info.claim("address").is_none(),
    };

    /// RFC 8725 2.6 for every member, not only those mc-core reads into typed fields: a signed
    /// id_token or signed userinfo whose payload repeats a claim (here `phone_number`, asked
    /// for with the `claims` parameter) is refused as malformed claims, instead of one of the
    /// two values being picked silently.
    x_jwt_duplicate_custom_claims at ["beta"]: {
        step(duplicate_phone_number())
            .options(c.approve().claims(json!({ "id_token": { "phone_number": null } })))
            => Err(Error::IdToken(E::Malformed { part: JwtPart::Claims, .. })),
        signed(duplicate_phone_number())
            => Err(Error::IdToken(E::Malformed { part: JwtPart::Claims, .. })),
    };
}

/// Premium info asked after the login, the endpoint misbehaving so.
fn premiuminfo(fault: Fault) -> Step {
    Step {
        premiuminfo: true,
        ..step((Target::PremiumInfo, fault))
    }
}

/// The signed userinfo JWT edited so.
fn signed(mutation: M) -> Step {
    step((Target::UserInfo, Fault::IdToken(mutation)))
}

/// Userinfo answers JSON for the logged-in `sub` with these members as well.
fn userinfo_members(members: Value) -> Step {
    Step {
        userinfo_members: Some(members),
        ..as_served()
    }
}

/// Userinfo JSON for `sub` with extra members.
fn userinfo_body(sub: &str, extra: &Value) -> Fault {
    let mut body = json!({ "sub": sub });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    Fault::Body(RawBody::json(body.to_string().into_bytes()))
}

/// An encrypted userinfo answer.
fn jwe() -> RawBody {
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#),
        URL_SAFE_NO_PAD.encode([7u8; 32]),
        URL_SAFE_NO_PAD.encode([1u8; 12]),
        URL_SAFE_NO_PAD.encode([2u8; 40]),
        URL_SAFE_NO_PAD.encode([3u8; 16])
    );
    RawBody::new(200, "application/jwt", jwe.into_bytes())
}

/// An unsigned JWT of forged claims.
fn unsigned_claims() -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"address":{"country":"Forged"},"phone_number":"+1555"}"#)
    )
}

/// `phone_number` a second time in the JWT's claims.
fn duplicate_phone_number() -> M {
    M::DuplicateClaim("phone_number".to_owned(), json!("+15550000000"))
}

/// The scope of the last authorization request.
fn sent_scope<D: Driver>(c: &Case<'_, D>) -> Option<String> {
    let authorize = c
        .sandbox()
        .requests()
        .into_iter()
        .rfind(|r| r.path() == c.path("authorize"))
        .unwrap();
    query_param(authorize.query().unwrap(), "scope")
}

/// The approving subscriber's email address at the operator.
fn subscriber_email<D: Driver>(c: &Case<'_, D>) -> String {
    format!(
        "subscriber-{}@{}.example",
        c.msisdn(Handset::Approve),
        c.name
    )
}
