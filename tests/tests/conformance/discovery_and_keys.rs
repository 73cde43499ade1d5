//! Provider metadata (OpenID Discovery; Mobile Connect discovery) and the operator's keys: a
//! metadata document naming another issuer is refused on every way a context is built, the
//! endpoints and keys come from the document, and a key is chosen or refetched as OIDC Core
//! 10.1 says.

use mc_core::{
    Discovered, DiscoveryOutcome, DiscoveryQuery, Error, IdTokenError as E, Msisdn, OperatorConfig,
    Policy, ProtocolError as P,
};
use mc_tests::driver::{self, Driver, entropy};
use mc_tests::sandbox::{IMPOSTOR_ISSUER, IdTokenMutation as M, JwksMutation, SP_REDIRECT_URI};
use mc_tests::{Fault, Handset, OPERATORS, SandboxExt as _, Target};
use serde_json::json;

use crate::id_token::check_id_token;
use crate::{Case, Step, Steps, as_served, blocking, core, issuer_config, step, tokio};

mc_tests::through_both_adapters!(
    // Discovery.
    rp_discovery_issuer_not_matching_config,
    rp_discovery_issuer_not_matching_config_plain_issuer,
    rp_discovery_jwks_uri_keys,
    rp_discovery_openid_configuration,
    // Key selection and rotation.
    rp_id_token_kid_absent_multiple_jwks,
    rp_id_token_kid_absent_single_jwks,
    rp_key_rotation_op_sign_key,
    rp_key_rotation_op_sign_key_native,
    x_id_token_unknown_kid_stays_unknown,
);

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

/// How a context gets its provider metadata.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// The configured registry entry's issuer (`OperatorConfig::metadata_exchange`).
    Registry,
    /// Mobile Connect discovery for the approving subscriber: the discovery answer's issuer.
    McDiscovery,
    /// The plain OpenID path: `MetadataExchange::for_issuer`, then the registration with it.
    Issuer,
}

/// One way of building a context, while the metadata endpoint misbehaves so (if at all).
struct Fetch(Via, Option<Fault>);

impl Steps for Fetch {
    type Step = Self;

    fn into_steps(self) -> Vec<Self> {
        vec![self]
    }
}

/// Build a context as the step says: the outcome is the context or the core error; the
/// metadata was read from the well-known location. A context built is then used: a login and
/// userinfo run on its endpoints alone, the keys fetched from its `jwks_uri`.
fn check_metadata<D: Driver>(
    c: &Case<'_, D>,
    Fetch(via, fault): Fetch,
) -> Result<Discovered, Error> {
    let faults: Vec<_> = fault.into_iter().map(|f| (Target::Metadata, f)).collect();
    let mark = c.mark();
    let outcome = c.misbehaving(&faults, || match via {
        Via::Registry => build(c, c.config.clone()),
        Via::McDiscovery => build(c, discovered_config(c)),
        Via::Issuer => issuer_config(c)?.build(),
    });
    // After discovery, if that is the way.
    let mut requests = vec![c.get(".well-known/openid-configuration")];
    if let Via::McDiscovery = via {
        let discovery = url::Url::parse(&c.sandbox().discovery_url()).unwrap();
        requests.insert(0, format!("POST {}", discovery.path()));
    }
    assert_eq!(c.since(mark), requests);
    if let Ok(op) = &outcome {
        let mark = c.mark();
        let tokens = driver::login(c.d, op, c.approve()).unwrap();
        let info = driver::userinfo(c.d, op, &tokens).unwrap();
        assert!(info.phone_number().is_some());
        let jwks = op.endpoints().jwks.as_ref().unwrap().path().to_owned();
        assert_eq!(
            c.since(mark),
            [
                c.get("authorize"),
                c.post("token"),
                format!("GET {jwks}"),
                c.get("userinfo"),
            ]
        );
    }
    outcome
}

/// The registry entry's metadata, then the context.
fn build<D: Driver>(c: &Case<'_, D>, config: OperatorConfig) -> Result<Discovered, Error> {
    let metadata =
        c.d.execute(config.metadata_exchange().unwrap())
            .map_err(core)?;
    config.with_metadata(metadata)?.build()
}

/// The configuration Mobile Connect discovery yields for the approving subscriber.
fn discovered_config<D: Driver>(c: &Case<'_, D>) -> OperatorConfig {
    let service = c.sandbox().discovery_service().unwrap();
    let query = DiscoveryQuery::msisdn(Msisdn::new(c.msisdn(Handset::Approve)));
    let DiscoveryOutcome::Found(answer) =
        c.d.execute(service.discover(&query, &mut entropy()).unwrap())
            .unwrap()
    else {
        panic!("expected an operator");
    };
    OperatorConfig::from_discovery(&answer, "234_15", SP_REDIRECT_URI).unwrap()
}

cases! { check_metadata, c;
    /// `rp-discovery-issuer-not-matching-config` (core): provider metadata naming another
    /// issuer than the configured one (registry) or the discovered one (MC discovery) is
    /// refused, and the operator context keeps its issuer.
    rp_discovery_issuer_not_matching_config at ["alpha"]: without_metadata {
        // Refused when the document is read (the exchange knows the expected issuer)...
        Fetch(Via::Registry, Some(Fault::ForeignIssuerInMetadata))
            => Err(Error::Protocol(P::MetadataIssuerMismatch { expected, found }))
            if *expected == c.issuer() && found == IMPOSTOR_ISSUER
                && c.op.issuer() == c.issuer() && c.op.metadata().is_none(),
        // Through MC discovery: the issuer link of the discovery answer is the expectation.
        Fetch(Via::McDiscovery, Some(Fault::ForeignIssuerInMetadata))
            => Err(Error::Protocol(P::MetadataIssuerMismatch { found, .. }))
            if found == IMPOSTOR_ISSUER,
    };

    /// `rp-discovery-issuer-not-matching-config` on the plain-OpenID path: metadata fetched for
    /// an issuer (`MetadataExchange::for_issuer`) that names another issuer must not become an
    /// operator context for that other issuer (OpenID Discovery 4.3).
    rp_discovery_issuer_not_matching_config_plain_issuer at ["alpha"]: {
        Fetch(Via::Issuer, Some(Fault::ForeignIssuerInMetadata))
            => Err(Error::Protocol(P::MetadataIssuerMismatch { expected, found }))
            if *expected == c.issuer() && found == IMPOSTOR_ISSUER,
    };

    /// `rp-discovery-jwks_uri-keys` (core): the keys come from the metadata's `jwks_uri` (moved
    /// away from the registry's URL), and nowhere else.
    rp_discovery_jwks_uri_keys at ["beta"]: without_metadata {
        Fetch(Via::Registry, Some(Fault::MovedJwksUri)) => Ok(op)
            if op.endpoints().jwks.as_ref().map(url::Url::as_str)
                == Some(format!("{}/keys/moved", c.issuer()).as_str()),
    };

    /// `rp-discovery-openid-configuration` (core): the metadata is fetched from the well-known
    /// location and used (plain OpenID path: the registry entry comes from the document), then
    /// a whole login and userinfo run on its endpoints.
    rp_discovery_openid_configuration at ["alpha"]: {
        Fetch(Via::Issuer, None) => Ok(op) if op.issuer() == c.issuer() && from_the_document(c, op),
    };
}

/// Every endpoint comes from the document, and the document is kept.
fn from_the_document<D: Driver>(c: &Case<'_, D>, op: &Discovered) -> bool {
    let issuer = c.issuer();
    let endpoints = op.endpoints();
    [
        (Some(&endpoints.authorization), "authorize"),
        (Some(&endpoints.token), "token"),
        (endpoints.userinfo.as_ref(), "userinfo"),
        (endpoints.premiuminfo.as_ref(), "premiuminfo"),
        (endpoints.jwks.as_ref(), "jwks"),
    ]
    .into_iter()
    .all(|(endpoint, path)| {
        endpoint.map(url::Url::as_str) == Some(format!("{issuer}/{path}").as_str())
    }) && op.metadata().is_some()
}

// ---------------------------------------------------------------------------------------------
// Key selection and rotation
// ---------------------------------------------------------------------------------------------

cases! { check_id_token, c;
    /// `rp-id_token-kid-absent-multiple-jwks` (core): no `kid`, and a JWKS of several keys of
    /// the same type without kids (three RSA at alpha, two P-256 at beta). Either outcome passes
    /// the case; mc-core tries each candidate key, so the genuine token is accepted after one
    /// JWKS fetch, and a forged one is a bad signature after trying them all (no loop, no second
    /// fetch).
    rp_id_token_kid_absent_multiple_jwks at ["alpha", "beta"]: forget_keys {
        step(M::remove_header("kid")).and(jwks_without_kids(other_keys(c))).jwks(1)
            => Ok(t) if t.id_token().kid().is_none()
                && c.op.jwks().keys().len() == other_keys(c) + 1,
    } forget_keys {
        step(M::All(vec![M::remove_header("kid"), M::CorruptSignature]))
            .and(jwks_without_kids(other_keys(c)))
            .jwks(1) => Err(E::BadSignature),
    };

    /// `rp-id_token-kid-absent-single-jwks` (core): no `kid` in the token, one key in the JWKS
    /// (without a kid of its own, then with it): that key is used.
    rp_id_token_kid_absent_single_jwks at ["alpha", "beta"]: forget_keys {
        step(M::remove_header("kid")).and(jwks_without_kids(0)).jwks(1)
            => Ok(t) if t.id_token().kid().is_none(),
    } fetch_jwks {
        M::remove_header("kid") => Ok(t) if t.id_token().kid().is_none(),
    };

    /// `rp-key-rotation-op-sign-key` (core): the signing key rolls over between two logins;
    /// the unknown `kid` triggers exactly one refetch and both tokens are accepted.
    rp_key_rotation_op_sign_key at ["alpha", "beta"]: forget_keys, no_refetch_spacing {
        as_served().jwks(1) => Ok(t) if t.id_token().kid() == Some(key_id(c, 0).as_str()),
    } rotate_keys {
        as_served().jwks(1) => Ok(t) if t.id_token().kid() == Some(key_id(c, 1).as_str()),
        as_served() => Ok(_),
    };

    /// `rp-key-rotation-op-sign-key-native` (core): the key rolls over after the SP cached the
    /// key set and before the first id_token: the cached set does not prevent the one refetch.
    rp_key_rotation_op_sign_key_native at ["alpha", "beta"]: no_refetch_spacing, rotate_keys {
        as_served().jwks(1) => Ok(t) if t.id_token().kid() == Some(key_id(c, 1).as_str()),
    };

    /// An unknown `kid` that stays unknown after the one refetch (OIDC Core 10.1.1): exactly
    /// one JWKS fetch per verification, then `UnknownKeyId`, never a loop, when refetches are
    /// not spaced; with the default spacing (60 s) and a fresh key set, no fetch at all.
    x_id_token_unknown_kid_stays_unknown at ["alpha"]: no_refetch_spacing {
        [unknown_kid().jwks(1), unknown_kid().jwks(1)]
            => Err(E::UnknownKeyId { kid }) if kid == "no-such-key",
    } default_refetch_spacing, fetch_jwks {
        unknown_kid() => Err(E::UnknownKeyId { kid }) if kid == "no-such-key",
    };
}

// Edits of the SP's context and the sandbox, between a row's logins.
impl<D: Driver> Case<'_, D> {
    /// The context holds no keys: the next id_token fetches them.
    fn forget_keys(&mut self) {
        self.op = self.config.clone().build().unwrap();
    }

    /// No refetch spacing: a rollover seconds after the last fetch is picked up (the default
    /// refuses a new kid for 60 s after the last stored key set).
    fn no_refetch_spacing(&mut self) {
        self.set_policy(|policy| policy.jwks_min_refetch_secs = 0);
    }

    /// The default refetch spacing.
    fn default_refetch_spacing(&mut self) {
        self.set_policy(|policy| {
            policy.jwks_min_refetch_secs = Policy::default().jwks_min_refetch_secs;
        });
    }

    /// The operator rolls its signing key over (the old key leaves its JWKS); the context still
    /// holds the one key of before.
    fn rotate_keys(&mut self) {
        assert_eq!(self.op.jwks().keys().len(), 1);
        self.sandbox().rotate_keys(self.name);
    }
}

/// The `kid` of the operator's `n`th signing key.
fn key_id<D: Driver>(c: &Case<'_, D>, n: usize) -> String {
    format!("{}-key-{n}", c.name)
}

/// The JWKS serves the signing key and `extra` other keys of its family, none with a `kid`.
fn jwks_without_kids(extra: usize) -> (Target, Fault) {
    (
        Target::Jwks,
        Fault::Jwks(JwksMutation::WithoutKids { extra }),
    )
}

/// As many other keys as the operator's pool allows beside its signing key (see
/// `JwksMutation::WithoutKids`).
fn other_keys<D: Driver>(c: &Case<'_, D>) -> usize {
    OPERATORS[c.index].family.pool_size() - 2
}

/// A token naming a key the operator does not have.
fn unknown_kid() -> Step {
    step(M::header("kid", json!("no-such-key")))
}
