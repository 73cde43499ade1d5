//! The authorize endpoint: it checks the client and the registered redirect URI, verifies a
//! signed request object (`request`, OIDC Core 6.1) when one is sent or the operator requires
//! one, asks the subscriber's handset ([`super::handset`]) at the level of assurance requested,
//! and sends the browser back to the SP's redirect URI (a 302, or a form-post page) with a code
//! or an error, as a fault may have edited it.

use std::time::Duration;

use http::{Request, Response};
use serde_json::Value;

use super::super::catalogue::{OPERATORS, OperatorInfo};
use super::super::faults::{CallbackMutation, Fault, IMPOSTOR_ISSUER};
use super::super::wire::{
    html_escape, html_unescape, oauth_error, param, params, redirect, response,
};
use super::super::{Sandbox, random_hex};
use super::client_auth::{audience_matches, verify_sp_jws};
use super::handset::{self, Answer};
use super::{Authenticated, Grant};

/// The request object's own claims, which have no query parameter to equal.
const OWN_CLAIMS: [&str; 6] = ["iss", "aud", "iat", "exp", "nbf", "jti"];

/// Whether a request object's claim equals the query's text of the same parameter: a string
/// as it is, a number as its decimal text (`max_age`), an object as the JSON it parses to
/// (`claims`).
fn claim_equals(claim: &Value, text: &str) -> bool {
    match claim {
        Value::String(s) => s == text,
        Value::Number(n) => n.to_string() == text,
        Value::Object(_) | Value::Array(_) => {
            serde_json::from_str::<Value>(text).is_ok_and(|parsed| parsed == *claim)
        }
        _ => false,
    }
}

/// The fields of a form-post page built by [`CallbackMutation::FormPost`]: the form's `action`
/// and its hidden inputs, unescaped, in document order.
#[must_use]
pub fn parse_form_post(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + tag.get(start..)?.find('"')?;
        Some(html_unescape(tag.get(start..end)?))
    };
    let form = html.find("<form")?;
    let form_tag = html.get(form..form + html.get(form..)?.find('>')?)?;
    let action = attribute(form_tag, "action")?;
    let mut fields = Vec::new();
    let mut rest = html.get(form..)?;
    while let Some(at) = rest.find("<input") {
        let tag_end = at + rest.get(at..)?.find('>')?;
        let tag = rest.get(at..tag_end)?;
        fields.push((attribute(tag, "name")?, attribute(tag, "value")?));
        rest = rest.get(tag_end..)?;
    }
    Some((action, fields))
}

/// The authorization response: `pairs`, then `state` and RFC 9207 `iss`, as edited by
/// `mutation`, as a 302 to the redirect URI or as a form-post page.
fn callback_response(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: &str,
    iss: &str,
    mutation: Option<&CallbackMutation>,
) -> Response<Vec<u8>> {
    let mut all: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    match mutation {
        Some(CallbackMutation::NoState) => {}
        Some(CallbackMutation::ForeignState) => all.push(("state".to_owned(), random_hex(32))),
        Some(CallbackMutation::DuplicateState) => {
            all.push(("state".to_owned(), state.to_owned()));
            all.push(("state".to_owned(), state.to_owned()));
        }
        _ => all.push(("state".to_owned(), state.to_owned())),
    }
    match mutation {
        Some(CallbackMutation::NoIss) => {}
        Some(CallbackMutation::ForeignIss) => {
            all.push(("iss".to_owned(), IMPOSTOR_ISSUER.to_owned()));
        }
        _ => all.push(("iss".to_owned(), iss.to_owned())),
    }
    if mutation == Some(&CallbackMutation::FormPost) {
        let mut html = format!(
            "<!doctype html><html><body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">",
            html_escape(redirect_uri)
        );
        for (name, value) in &all {
            html.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(name),
                html_escape(value)
            ));
        }
        html.push_str("</form></body></html>");
        return response(200, "text/html; charset=utf-8", html.into_bytes());
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&all)
        .finish();
    if let Some(CallbackMutation::ExtraParams(n)) = mutation {
        // Valueless, distinct names (`&0&1&2...`): 10,000 of them stay under 50 KB, within
        // what HTTP clients accept as a header.
        for i in 0..*n {
            query.push_str(&format!("&{i}"));
        }
    }
    redirect(&format!("{redirect_uri}?{query}"))
}

impl Sandbox {
    /// A request object sent to the authorize endpoint (OIDC Core 6.1): signed by a key of the
    /// SP's registered JWKS (the same check as the SI request object's), `iss` the client_id,
    /// `aud` this operator's issuer, `exp` not passed on the sandbox clock, and every claim
    /// that is also a query parameter equal to it. `Err` holds the `error_description`.
    fn check_request_object(
        &self,
        info: &OperatorInfo,
        jws: &str,
        query: &[(String, String)],
    ) -> Result<(), String> {
        let keys = self
            .sp_jwks(info.name)
            .ok_or("the SP has registered no JWKS to verify its request object with")?;
        let (_, claims) = verify_sp_jws(jws, &keys)?;
        let members = claims
            .as_object()
            .ok_or("the request object's claims are not an object")?;
        if members.get("iss").and_then(Value::as_str) != Some(info.client_id) {
            return Err("iss is not the client_id".to_owned());
        }
        let issuer = self.issuer(info.name);
        if !audience_matches(members.get("aud"), &[&issuer]) {
            return Err(format!("aud is not this operator ({issuer})"));
        }
        let now = (self.clock)();
        if members
            .get("exp")
            .and_then(Value::as_u64)
            .is_none_or(|exp| exp <= now)
        {
            return Err("the request object has expired".to_owned());
        }
        for (name, claim) in members {
            if OWN_CLAIMS.contains(&name.as_str()) {
                continue;
            }
            if let Some(text) = param(query, name)
                && !claim_equals(claim, text)
            {
                return Err(format!(
                    "the request object's {name} is not the query parameter's"
                ));
            }
        }
        Ok(())
    }

    /// The authorization request, with how long the handset kept it waiting.
    pub(super) fn authorize(
        &self,
        index: usize,
        request: &Request<Vec<u8>>,
        fault: Option<&Fault>,
    ) -> (Response<Vec<u8>>, Duration) {
        let Some(info) = OPERATORS.get(index) else {
            return (
                oauth_error(500, "server_error", "operator index"),
                Duration::ZERO,
            );
        };
        let p = params(request);
        // Errors before the redirect URI is trusted are shown to the user, never redirected.
        if param(&p, "client_id") != Some(info.client_id) {
            return (
                response(400, "text/html", b"<html>Unknown client</html>".to_vec()),
                Duration::ZERO,
            );
        }
        let Some(redirect_uri) = param(&p, "redirect_uri").filter(|r| {
            self.config
                .redirect_uris
                .iter()
                .any(|registered| registered == r)
        }) else {
            return (
                response(
                    400,
                    "text/html",
                    b"<html>Unregistered redirect_uri</html>".to_vec(),
                ),
                Duration::ZERO,
            );
        };
        let state = param(&p, "state").unwrap_or_default();
        let iss = self.issuer(info.name);
        let mutation = match fault {
            Some(Fault::Callback(m)) => Some(m),
            _ => None,
        };
        let back =
            |pairs: &[(&str, &str)]| callback_response(redirect_uri, pairs, state, &iss, mutation);
        match param(&p, "request") {
            Some(jws) => {
                if let Err(description) = self.check_request_object(info, jws, &p) {
                    return (
                        back(&[
                            ("error", "invalid_request_object"),
                            ("error_description", &description),
                        ]),
                        Duration::ZERO,
                    );
                }
            }
            None if self.config.requires_request_objects(info.name) => {
                return (
                    back(&[
                        ("error", "invalid_request"),
                        (
                            "error_description",
                            "this operator requires a signed request object",
                        ),
                    ]),
                    Duration::ZERO,
                );
            }
            None => {}
        }
        if param(&p, "response_type") != Some("code") {
            return (
                back(&[("error", "unsupported_response_type")]),
                Duration::ZERO,
            );
        }
        if !param(&p, "scope")
            .unwrap_or_default()
            .split(' ')
            .any(|s| s == "openid")
        {
            return (
                back(&[
                    ("error", "invalid_scope"),
                    ("error_description", "openid is required"),
                ]),
                Duration::ZERO,
            );
        }
        let challenge = param(&p, "code_challenge").map(str::to_owned);
        if challenge.is_some() && param(&p, "code_challenge_method") != Some("S256") {
            return (
                back(&[
                    ("error", "invalid_request"),
                    ("error_description", "PKCE S256 only"),
                ]),
                Duration::ZERO,
            );
        }
        let hint = param(&p, "login_hint").unwrap_or_default();
        let named = ["MSISDN:", "ENCR_MSISDN:", "PCR:"]
            .iter()
            .any(|method| hint.starts_with(method));
        // No hint: the operator's page would ask for the number; the sandbox's user is the
        // first test subscriber.
        let subscriber = if named {
            info.subscriber_by_hint(hint)
        } else {
            info.subscribers.first().copied()
        };
        let Some((msisdn, handset)) = subscriber else {
            return (
                back(&[
                    ("error", "invalid_request"),
                    ("error_description", "Unknown subscriber"),
                ]),
                Duration::ZERO,
            );
        };
        let loa = handset::requested_loa(param(&p, "acr_values"));
        let (acr, amr) = match handset::answer(handset, loa) {
            Answer::Approved { acr, amr } => (acr, amr),
            Answer::Refused(description) => {
                return (
                    back(&[
                        ("error", "access_denied"),
                        ("error_description", description),
                    ]),
                    self.config.handset_delay,
                );
            }
            Answer::Silent => {
                return (
                    back(&[
                        ("error", "access_denied"),
                        ("error_description", "No response from the handset"),
                    ]),
                    self.handset_wait,
                );
            }
        };
        let code = random_hex(16);
        let now = (self.clock)();
        self.lock().codes.insert(
            code.clone(),
            Grant {
                operator: index,
                user: Authenticated {
                    msisdn: msisdn.to_owned(),
                    hint: format!("MSISDN:{msisdn}"),
                    nonce: param(&p, "nonce").map(str::to_owned),
                    claims: param(&p, "claims").and_then(|c| serde_json::from_str(c).ok()),
                    acr,
                    amr,
                    auth_time: now,
                },
                challenge,
                redirect_uri: redirect_uri.to_owned(),
            },
        );
        (back(&[("code", &code)]), self.config.handset_delay)
    }
}
