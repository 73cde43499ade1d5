//! Provider metadata and the JWKS: what the operator publishes about itself and its keys,
//! including its server-initiated endpoints (Mobile Connect `si_authorization_endpoint`, OpenID
//! CIBA `backchannel_authentication_endpoint` in poll and ping modes).

use http::Response;
use serde_json::{Value, json};

use super::super::Sandbox;
use super::super::catalogue::OPERATORS;
use super::super::faults::{Fault, IMPOSTOR_ISSUER, JwksMutation};
use super::super::wire::{json_response, oauth_error};
use crate::keys::{KeyFamily, SigningKey};

impl Sandbox {
    pub(super) fn metadata(&self, index: usize, fault: Option<&Fault>) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        let issuer = self.issuer(info.name);
        let claimed_issuer = if fault == Some(&Fault::ForeignIssuerInMetadata) {
            IMPOSTOR_ISSUER.to_owned()
        } else {
            issuer.clone()
        };
        let jwks_uri = if fault == Some(&Fault::MovedJwksUri) {
            format!("{issuer}/keys/moved")
        } else {
            format!("{issuer}/jwks")
        };
        let alg = if info.family == KeyFamily::Es256 {
            "ES256"
        } else {
            "RS256"
        };
        json_response(
            200,
            &json!({
                "issuer": claimed_issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "revocation_endpoint": format!("{issuer}/revoke"),
                "userinfo_endpoint": format!("{issuer}/userinfo"),
                "premiuminfo_endpoint": format!("{issuer}/premiuminfo"),
                "jwks_uri": jwks_uri,
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "mc_authn", "mc_authz", "mc_identity_phonenumber", "mc_identity_signup"],
                "acr_values_supported": ["2", "3"],
                "id_token_signing_alg_values_supported": [alg],
                "userinfo_signing_alg_values_supported": [alg],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
                "si_authorization_endpoint": format!("{issuer}/si-authorize"),
                "backchannel_authentication_endpoint": format!("{issuer}/bc-authorize"),
                "backchannel_token_delivery_modes_supported": ["poll", "ping"],
                "backchannel_user_code_parameter_supported": false,
                "grant_types_supported": [
                    "authorization_code",
                    "refresh_token",
                    "urn:openid:params:grant-type:ciba",
                    "urn:openid:params:mc:grant_type:server_initiated"
                ],
                "code_challenge_methods_supported": ["S256"],
                "claims_parameter_supported": true,
                "authorization_response_iss_parameter_supported": true,
                "login_hint_methods_supported": ["MSISDN", "ENCR_MSISDN", "PCR"],
                "mc_amr_values_supported": ["SIM_OK", "SIM_PIN"],
                "mobile_connect_version_supported": [
                    { "openid mc_authn": "mc_v1.1" },
                    { "openid mc_authz": "mc_v2.0" },
                    { "openid mc_identity_phonenumber": "mc_di_r2_v2.3" }
                ]
            }),
        )
    }

    pub(super) fn jwks(&self, index: usize, fault: Option<&Fault>) -> Response<Vec<u8>> {
        let (mut keys, rotation): (Vec<Value>, usize) = {
            let state = self.lock();
            (
                state
                    .keys
                    .get(index)
                    .map(|ks| ks.iter().map(SigningKey::jwk).collect())
                    .unwrap_or_default(),
                state.rotations.get(index).copied().unwrap_or_default(),
            )
        };
        let family = OPERATORS.get(index).map_or(KeyFamily::Rs256, |o| o.family);
        let other = |i: usize| SigningKey::from_pool(family, rotation + 1 + i, String::new()).jwk();
        match fault {
            Some(Fault::Jwks(JwksMutation::WithoutKids { extra })) => {
                let mut all: Vec<Value> = (0..*extra).map(other).collect();
                all.append(&mut keys);
                for key in &mut all {
                    if let Some(members) = key.as_object_mut() {
                        members.remove("kid");
                    }
                }
                keys = all;
            }
            Some(Fault::Jwks(JwksMutation::Padded(n))) => {
                let others: Vec<Value> = (0..family.pool_size().saturating_sub(2).max(1))
                    .map(other)
                    .collect();
                keys.reserve(*n);
                for i in 0..*n {
                    let mut key = others.get(i % others.len()).cloned().unwrap_or_default();
                    key["kid"] = json!(format!("padding-{i}"));
                    keys.push(key);
                }
            }
            _ => {}
        }
        json_response(200, &json!({ "keys": keys }))
    }
}
