//! The discovery API (by MSISDN, by MCC/MNC, by source IP) and the operator selection page
//! the browser is sent to when none of those names an operator.

use http::{Request, Response};
use serde_json::json;

use super::Sandbox;
use super::catalogue::{
    DISCOVERY_CLIENT_ID, DISCOVERY_CLIENT_SECRET, OPERATORS, SP_DISCOVERY_REDIRECT, encrypt_msisdn,
};
use super::config::SelectionAnswer;
use super::wire::{
    credentials_match, json_response, oauth_error, param, params, redirect, response,
};

impl Sandbox {
    fn operator_answer(&self, index: usize, msisdn: Option<&str>) -> Response<Vec<u8>> {
        let Some(info) = OPERATORS.get(index) else {
            return oauth_error(500, "server_error", "operator index");
        };
        let issuer = self.issuer(info.name);
        let client_secret = self.client_secret(info.name).unwrap_or_default();
        let ttl_ms = (self.clock)().saturating_add(3600).saturating_mul(1000);
        let link = |rel: &str, path: &str| json!({ "rel": rel, "href": format!("{issuer}{path}") });
        let mut body = json!({
            "ttl": ttl_ms,
            "response": {
                "serving_operator": info.display,
                "mcc_mnc": info.mcc_mnc(),
                "country": info.country,
                "currency": if info.country == "GB" { "GBP" } else { "EUR" },
                "client_id": info.client_id,
                "client_secret": client_secret,
                "client_name": "Sandbox Shop",
                "apis": { "operatorid": { "link": [
                    link("authorization", "/authorize"),
                    link("token", "/token"),
                    link("userinfo", "/userinfo"),
                    link("premiuminfo", "/premiuminfo"),
                    link("jwks", "/jwks"),
                    link("openid-configuration", "/.well-known/openid-configuration"),
                    { "rel": "issuer", "href": issuer },
                    { "rel": "scope", "href": "openid mc_authn mc_authz mc_identity_phonenumber" },
                ] } }
            }
        });
        if let Some(msisdn) = msisdn {
            body["subscriber_id"] = json!(encrypt_msisdn(msisdn));
        }
        json_response(200, &body)
    }

    pub(super) fn discovery(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        if !credentials_match(request, DISCOVERY_CLIENT_ID, DISCOVERY_CLIENT_SECRET) {
            return json_response(
                401,
                &json!({ "error": "unauthorized_client", "description": "Bad discovery credentials" }),
            );
        }
        let p = params(request);
        let Some(redirect_url) = param(&p, "Redirect_URL") else {
            return json_response(
                400,
                &json!({ "error": "invalid_request", "description": "Redirect_URL is required" }),
            );
        };
        if let Some(msisdn) = param(&p, "MSISDN") {
            let msisdn = msisdn.trim_start_matches('+');
            return match OPERATORS
                .iter()
                .position(|o| o.subscribers.iter().any(|(m, _)| *m == msisdn))
            {
                Some(index) => self.operator_answer(index, Some(msisdn)),
                None => json_response(
                    404,
                    &json!({ "error": "Not_Found_Entity", "description": "Operator Not Found" }),
                ),
            };
        }
        let by_mcc = |mcc: Option<&str>, mnc: Option<&str>| {
            OPERATORS
                .iter()
                .position(|o| Some(o.mcc) == mcc && Some(o.mnc) == mnc)
        };
        for prefix in ["Selected", "Identified"] {
            let mcc = param(&p, &format!("{prefix}-MCC"));
            let mnc = param(&p, &format!("{prefix}-MNC"));
            if mcc.is_some() || mnc.is_some() {
                return match by_mcc(mcc, mnc) {
                    Some(index) => self.operator_answer(index, None),
                    None => json_response(
                        404,
                        &json!({ "error": "Not_Found_Entity", "description": "Operator Not Found" }),
                    ),
                };
            }
        }
        let source_ip = request
            .headers()
            .get("x-source-ip")
            .and_then(|v| v.to_str().ok());
        if let Some(index) =
            source_ip.and_then(|ip| OPERATORS.iter().position(|o| ip.starts_with(o.ip_prefix)))
        {
            return self.operator_answer(index, None);
        }
        let selection = self.selection_url(redirect_url);
        match self.config.selection {
            SelectionAnswer::Accepted => json_response(
                202,
                &json!({ "links": [{ "rel": "operatorSelection", "href": selection }] }),
            ),
            SelectionAnswer::Redirect => redirect(&selection),
        }
    }

    /// The selection page. Like an OAuth authorization page, it sends the SP's `state` back
    /// with the choice (the GSMA pages did not: mc-core accepts either).
    pub(super) fn selection_page(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let p = params(request);
        let back = param(&p, "Redirect_URL").unwrap_or(SP_DISCOVERY_REDIRECT);
        let mut back_enc: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        if let Some(state) = param(&p, "state") {
            back_enc.push_str("&amp;state=");
            back_enc.extend(url::form_urlencoded::byte_serialize(state.as_bytes()));
        }
        let mut html = String::from(
            "<!doctype html><title>Choose your operator</title><h1>Choose your mobile operator</h1><ul>",
        );
        for o in &OPERATORS {
            html.push_str(&format!(
                "<li><a href=\"{}/discovery/operator-selection/choose?mcc_mnc={}&amp;Redirect_URL={back_enc}\">{}</a></li>",
                self.base,
                o.mcc_mnc(),
                o.display
            ));
        }
        html.push_str("</ul>");
        response(200, "text/html; charset=utf-8", html.into_bytes())
    }

    /// The selection page's form target: `mcc_mnc` (and optionally `msisdn`) chosen by the user.
    pub(super) fn selection_choice(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let p = params(request);
        let back = param(&p, "Redirect_URL").unwrap_or(SP_DISCOVERY_REDIRECT);
        let mut back = back.to_owned();
        if let Some(state) = param(&p, "state") {
            back.push(if back.contains('?') { '&' } else { '?' });
            back.push_str("state=");
            back.extend(url::form_urlencoded::byte_serialize(state.as_bytes()));
        }
        let sep = if back.contains('?') { '&' } else { '?' };
        let Some(mcc_mnc) = param(&p, "mcc_mnc") else {
            return redirect(&format!(
                "{back}{sep}error=invalid_request&description=No+operator+chosen"
            ));
        };
        let known = OPERATORS.iter().any(|o| o.mcc_mnc() == mcc_mnc);
        if !known {
            return redirect(&format!("{back}{sep}err_msg=NotSupportedOperatorMSISDN"));
        }
        let mut location = format!("{back}{sep}mcc_mnc={mcc_mnc}");
        if let Some(msisdn) = param(&p, "msisdn") {
            location.push_str(&format!("&subscriber_id={}", encrypt_msisdn(msisdn)));
        }
        redirect(&location)
    }
}
