//! Mobile Connect server-initiated authorization (`si-authorize`): the outer parameters
//! `client_id`, `scope`, `response_type` and `request` in any of the four transports gateways
//! use (GET with a query, POST with a query and an empty body, POST form, POST JSON), and the
//! signed request object verified against the SP's registered JWKS, claim by claim
//! (MOBILE-CONNECT.md §8). A bad signature or an unregistered notification URI is
//! `unauthorized_client`; a claim the rules refuse is `invalid_request`.

use http::{Method, Request, Response};
use serde_json::Value;

use super::super::Sandbox;
use super::super::catalogue::OPERATORS;
use super::super::wire::{oauth_error, param, params};
use super::backchannel::{Delivery, Start};
use super::client_auth::{audience_matches, verify_sp_jws};

/// The claims every request object carries.
const REQUIRED_CLAIMS: [&str; 10] = [
    "iss",
    "aud",
    "response_type",
    "client_id",
    "scope",
    "version",
    "nonce",
    "login_hint",
    "acr_values",
    "exp",
];

/// The claims a request object in notification mode carries as well.
const NOTIFICATION_CLAIMS: [&str; 2] = ["notification_uri", "client_notification_token"];

/// The other claims a request object may carry.
const OPTIONAL_CLAIMS: [&str; 9] = [
    "correlation_id",
    "context",
    "binding_message",
    "client_name",
    "claims",
    "iat",
    "jti",
    "nbf",
    "login_hint_token",
];

/// A claim name that is not one of the request object's but differs from one only in case
/// (`Login_Hint`): gateways read claim names case-sensitively.
fn case_mismatched(name: &str) -> bool {
    let mut known = REQUIRED_CLAIMS
        .iter()
        .chain(&NOTIFICATION_CLAIMS)
        .chain(&OPTIONAL_CLAIMS);
    !known.clone().any(|k| *k == name) && known.any(|k| k.eq_ignore_ascii_case(name))
}

/// The outer parameters, wherever the transport put them: the query (GET, and POST with an
/// empty body), a form body, or a JSON object body (its string members).
fn outer_parameters(request: &Request<Vec<u8>>) -> Vec<(String, String)> {
    let is_json = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut out = params(request);
    if request.method() == Method::POST
        && is_json
        && let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(request.body())
    {
        out.extend(
            members
                .into_iter()
                .filter_map(|(name, value)| Some((name, value.as_str()?.to_owned()))),
        );
    }
    out
}

impl Sandbox {
    /// The SI authorization request: its answer is `{auth_req_id, expires_in, interval?,
    /// correlation_id?}`, or an OAuth error.
    pub(super) fn si_authorize(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
    ) -> Response<Vec<u8>> {
        match self.si_start(index, request) {
            Ok(start) => self.start_backchannel(index, start),
            Err((error, description)) => oauth_error(400, error, &description),
        }
    }

    /// The login an SI request asks for, or its refusal (`error`, `error_description`).
    fn si_start(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
    ) -> Result<Start, (&'static str, String)> {
        let invalid = |description: String| ("invalid_request", description);
        let Some(info) = OPERATORS.get(index) else {
            return Err(("server_error", "operator index".to_owned()));
        };
        if !matches!(*request.method(), Method::GET | Method::POST) {
            return Err(invalid("GET or POST only".to_owned()));
        }
        let outer = outer_parameters(request);
        if param(&outer, "client_id") != Some(info.client_id) {
            return Err(("unauthorized_client", "Unknown client_id".to_owned()));
        }
        let response_type = param(&outer, "response_type").unwrap_or("mc_si_async_code");
        let delivery = match response_type {
            "mc_si_async_code" => Delivery::SiNotification,
            "mc_si_polling" => Delivery::SiPolling,
            other => {
                return Err((
                    "unsupported_response_type",
                    format!("response_type {other:?}: mc_si_async_code or mc_si_polling"),
                ));
            }
        };
        let Some(outer_scope) = param(&outer, "scope") else {
            return Err(invalid("scope is required".to_owned()));
        };
        let Some(jws) = param(&outer, "request") else {
            return Err(invalid(
                "request (the signed request object) is required".to_owned(),
            ));
        };
        let Some(keys) = self.sp_jwks(info.name) else {
            return Err((
                "unauthorized_client",
                "The SP has registered no JWKS to verify its request object with".to_owned(),
            ));
        };
        let (_, claims) =
            verify_sp_jws(jws, &keys).map_err(|e| ("unauthorized_client", e.to_owned()))?;
        let Some(members) = claims.as_object() else {
            return Err(invalid("the claims are not an object".to_owned()));
        };
        if let Some(name) = members.keys().find(|name| case_mismatched(name)) {
            return Err(invalid(format!("claim names are case-sensitive: {name}")));
        }
        let notified = delivery == Delivery::SiNotification;
        let required = REQUIRED_CLAIMS
            .iter()
            .chain(NOTIFICATION_CLAIMS.iter().filter(|_| notified));
        if let Some(missing) = required
            .into_iter()
            .find(|name| !members.contains_key(**name))
        {
            return Err(invalid(format!("the request object has no {missing}")));
        }
        let text = |name: &str| members.get(name).and_then(Value::as_str);
        for (name, outer_value) in [
            ("client_id", Some(info.client_id)),
            ("scope", Some(outer_scope)),
            ("response_type", Some(response_type)),
        ] {
            if text(name) != outer_value {
                return Err(invalid(format!(
                    "the request object's {name} is not the outer parameter's"
                )));
            }
        }
        if text("iss") != Some(info.client_id) {
            return Err(invalid("iss is not the client_id".to_owned()));
        }
        let issuer = self.issuer(info.name);
        if !audience_matches(members.get("aud"), &[&issuer]) {
            return Err(invalid(format!("aud is not this operator ({issuer})")));
        }
        let now = (self.clock)();
        if members
            .get("exp")
            .and_then(Value::as_u64)
            .is_none_or(|exp| exp <= now)
        {
            return Err(invalid("the request object has expired".to_owned()));
        }
        let scopes: Vec<&str> = outer_scope.split(' ').collect();
        if !scopes.contains(&"openid") {
            return Err(("invalid_scope", "openid is required".to_owned()));
        }
        if scopes.contains(&"mc_authz") && text("client_name").is_none() {
            return Err(invalid("client_name is required with mc_authz".to_owned()));
        }
        let (Some(hint), Some(nonce), Some(acr_values)) =
            (text("login_hint"), text("nonce"), text("acr_values"))
        else {
            return Err(invalid(
                "login_hint, nonce and acr_values must be strings".to_owned(),
            ));
        };
        let notify = if notified {
            let (Some(uri), Some(token)) =
                (text("notification_uri"), text("client_notification_token"))
            else {
                return Err(invalid(
                    "notification_uri and client_notification_token must be strings".to_owned(),
                ));
            };
            if !self.config.notification_uris.iter().any(|r| r == uri) {
                return Err((
                    "unauthorized_client",
                    format!("notification_uri {uri} is not registered"),
                ));
            }
            Some((uri.to_owned(), token.to_owned()))
        } else {
            None
        };
        let Some((msisdn, handset)) = info.subscriber_by_hint(hint) else {
            return Err(invalid("Unknown subscriber".to_owned()));
        };
        Ok(Start {
            delivery,
            msisdn,
            handset,
            hint: hint.to_owned(),
            nonce: Some(nonce.to_owned()),
            // `claims` as an object, or as JSON text.
            claims: members.get("claims").map(|claims| match claims {
                Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
                other => other.clone(),
            }),
            acr_values: Some(acr_values.to_owned()),
            expires_in: self.config.backchannel_expiry.max(1),
            notify,
            correlation_id: text("correlation_id").map(str::to_owned),
        })
    }
}
