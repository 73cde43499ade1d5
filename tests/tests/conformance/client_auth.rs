//! Client authentication at the token endpoint (RFC 6749 2.3, RFC 7523): each row says which
//! method the operator accepts and which the SP uses, and what the token request carried or
//! why it was refused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mc_core::{ClientAuth, Endpoint, Error, SpSigningKey};
use mc_tests::driver::{self, Driver};
use mc_tests::keys::{KeyFamily, SigningKey};
use mc_tests::sandbox::{ClientAuthRequirement, LoggedRequest};
use mc_tests::{Fault, Target};

use crate::{Case, Step, as_served, blocking, core, form_param, refused, step, tokio};

mc_tests::through_both_adapters!(
    rp_token_endpoint_client_secret_basic,
    rp_token_endpoint_client_secret_post,
    rp_token_endpoint_private_key_jwt,
);

/// The pool index of the SP's registered key.
const REGISTERED: usize = 2;
/// The pool index of a key the operator does not know.
const UNREGISTERED: usize = 1;

/// Run the step's login with the SP's client authentication as the step says: the outcome is
/// the token request as the operator received it, or the core error; the login made exactly
/// the authorize and the token request.
fn check_token_request<D: Driver>(c: &Case<'_, D>, step: Step) -> Result<LoggedRequest, Error> {
    let op = match &step.client_auth {
        Some(auth) => {
            let mut config = c.config.clone().client_auth(*auth);
            if let Some(key) = &step.signing_key {
                config = config.signing_key(key.clone());
            }
            let op = config.build().unwrap();
            op.set_jwks(c.op.jwks(), c.op.jwks_fetched_at().unwrap());
            op
        }
        None => c.op.clone(),
    };
    let mark = c.mark();
    let login = c.misbehaving(&step.faults, || driver::login(c.d, &op, step.options_at(c)));
    assert_eq!(c.since(mark), [c.get("authorize"), c.post("token")]);
    login
        .map(|_| c.requests_since(mark).swap_remove(1))
        .map_err(core)
}

cases! { check_token_request, c;
    /// `rp-token_endpoint-client_secret_basic` (core): HTTP Basic with the client id and secret
    /// form-urlencoded before base64 (RFC 6749 2.3.1; alpha's secret has `+/=` in it), and the
    /// secret nowhere else.
    rp_token_endpoint_client_secret_basic at ["alpha"]: {
        as_served() => Ok(token)
            if token.header("authorization") == Some(basic_credentials(c).as_str())
            && form_param(&token.body, "client_secret").is_none()
            && !token.uri.contains("secret"),
    };

    /// `rp-token_endpoint-client_secret_post` (optional): the operator takes credentials in the
    /// body only.
    rp_token_endpoint_client_secret_post at ["alpha"]: {
        // The default (Basic) is refused by this operator.
        requiring(ClientAuthRequirement::SecretPost)
            => Err(e) if refused(e, "invalid_client", Endpoint::Token),
        requiring(ClientAuthRequirement::SecretPost).client_auth(ClientAuth::SecretPost)
            => Ok(token) if token.header("authorization").is_none()
                && form_param(&token.body, "client_secret") == c.client_secret(),
    };

    /// `rp-token_endpoint-private_key_jwt` (optional): the operator takes an RFC 7523 assertion
    /// signed with the SP's registered key; an assertion by another key is refused.
    rp_token_endpoint_private_key_jwt at ["alpha"]: {
        [
            private_key_jwt(KeyFamily::Rs256, REGISTERED),
            private_key_jwt(KeyFamily::Es256, REGISTERED),
        ] => Ok(token) if token.header("authorization").is_none()
                && form_param(&token.body, "client_secret").is_none()
                && form_param(&token.body, "client_assertion").is_some(),
        [
            private_key_jwt(KeyFamily::Rs256, UNREGISTERED),
            private_key_jwt(KeyFamily::Es256, UNREGISTERED),
        ] => Err(e) if refused(e, "invalid_client", Endpoint::Token),
    };
}

/// The token endpoint accepts only this client authentication method.
fn requiring(method: ClientAuthRequirement) -> Step {
    step((Target::Token, Fault::RequireClientAuth(method)))
}

/// The operator takes `private_key_jwt` with the SP's registered key of this family; the SP
/// signs its assertion with the pool key at `signer`, under the registered `kid`.
fn private_key_jwt(family: KeyFamily, signer: usize) -> Step {
    let registered = SigningKey::from_pool(family, REGISTERED, "sp-key-1".to_owned());
    let signer = SigningKey::from_pool(family, signer, "sp-key-1".to_owned());
    let key = SpSigningKey::from_pem(
        signer.alg,
        signer.private_pem().as_bytes(),
        signer.kid.clone(),
    )
    .unwrap();
    requiring(ClientAuthRequirement::PrivateKeyJwt(registered.jwk()))
        .client_auth(ClientAuth::PrivateKeyJwt)
        .signing_key(key)
}

/// `Authorization: Basic` of the client id and secret, each form-urlencoded (the secret has
/// characters that this changes).
fn basic_credentials<D: Driver>(c: &Case<'_, D>) -> String {
    let secret = c.client_secret().unwrap();
    assert!(secret.contains('+') && secret.contains('/') && secret.contains('='));
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(c.client_id()), encode(&secret)))
    )
}
