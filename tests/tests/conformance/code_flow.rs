//! What the code flow sends (the Basic RP plan's implicit checks, RFC 9700 4.3.2 and 4.8): the
//! authorization request, the nonce bound to each login, and no secret in any URL. These cases
//! read the flow's own secrets or run discovery, so they drive the flow by hand.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::{AuthorizeOptions, DiscoveryQuery, Msisdn};
use mc_tests::driver::{self, Driver, browser_follow};
use mc_tests::keys::sha256;
use mc_tests::sandbox::SP_REDIRECT_URI;
use mc_tests::{Handset, OPERATORS, SandboxExt as _, SandboxServer};

use crate::{Case, blocking, flow_secrets, form_param, query_param, subscriber, tokio};

mc_tests::through_both_adapters!(
    rp_response_type_code,
    rp_nonce_unless_code_flow,
    x_tokens_never_in_a_url,
);

/// `rp-response_type-code` (core), with the Basic plan's implicit checks: `openid` in the scope,
/// `response_type=code`, the exact registered redirect URI, `state`, `nonce`, an S256 PKCE
/// challenge on every request (RFC 9700 4.8: no downgrade) whose verifier goes with the code;
/// then token and userinfo.
fn rp_response_type_code<D: Driver>(d: &D) {
    for name in ["alpha", "beta"] {
        let c = Case::new(d, name);
        let mark = c.sandbox().requests().len();
        let tokens = c.login(c.approve()).unwrap();
        let info = driver::userinfo(d, &c.op, &tokens).unwrap();
        assert_eq!(info.phone_number(), Some(c.phone().as_str()));

        let requests = c.requests_since(mark);
        let authorize = &requests[0];
        assert_eq!(authorize.path(), c.path("authorize"));
        let query = authorize.query().unwrap();
        assert_eq!(query_param(query, "response_type").as_deref(), Some("code"));
        assert_eq!(
            query_param(query, "redirect_uri").as_deref(),
            Some(SP_REDIRECT_URI)
        );
        assert_eq!(
            query_param(query, "client_id").as_deref(),
            Some(c.client_id())
        );
        let scope = query_param(query, "scope").unwrap();
        assert!(scope.split(' ').any(|s| s == "openid"), "{scope}");
        assert_eq!(query_param(query, "state").unwrap().len(), 43);
        assert_eq!(query_param(query, "nonce").unwrap().len(), 43);
        assert_eq!(
            query_param(query, "code_challenge_method").as_deref(),
            Some("S256")
        );
        let challenge = query_param(query, "code_challenge").unwrap();

        let token = &requests[1];
        assert_eq!(
            (token.method.as_str(), token.path()),
            ("POST", c.path("token").as_str())
        );
        assert_eq!(
            form_param(&token.body, "grant_type").as_deref(),
            Some("authorization_code")
        );
        assert_eq!(
            form_param(&token.body, "redirect_uri").as_deref(),
            Some(SP_REDIRECT_URI)
        );
        assert!(form_param(&token.body, "code").is_some());
        let verifier = form_param(&token.body, "code_verifier").unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())),
            challenge
        );
        assert_eq!(requests[2].path(), c.path("userinfo"));
    }
}

/// `rp-nonce-unless-code-flow` (core for MC): every authorization request carries a fresh
/// nonce, and the verified id_token echoes that very nonce.
fn rp_nonce_unless_code_flow<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (redirect, flow) =
            c.op.authorize(c.approve(), &mut driver::entropy(), d.now())
                .unwrap();
        let (_, nonce, _) = flow_secrets(&flow);
        let query = redirect.url().query().unwrap().to_owned();
        assert_eq!(
            query_param(&query, "nonce").as_deref(),
            Some(nonce.as_str())
        );
        let callback = browser_follow(d, redirect.as_str()).unwrap();
        let code = flow.callback(&c.op, &callback, d.now()).unwrap();
        let tokens = d
            .execute(code.token_exchange(&c.op, d.now()).unwrap())
            .unwrap();
        assert!(
            tokens
                .id_token()
                .claims()
                .nonce
                .as_ref()
                .unwrap()
                .matches(&nonce)
        );
        seen.push(nonce);
    }
    assert_ne!(seen[0], seen[1]);
}

/// Tokens never in a URL (RFC 6750 2.3, RFC 9700 4.3.2): across discovery by MSISDN, metadata,
/// authorize, token, JWKS, userinfo and premium info, no request URI carries the access token,
/// the id_token, the code, the PKCE verifier, a client secret or the MSISDN given to discovery
/// (the login goes on with discovery's encrypted MSISDN); the code and verifier travel in the
/// token request's body, the access token in a header.
fn x_tokens_never_in_a_url<D: Driver>(d: &D) {
    for info in &OPERATORS {
        let server = SandboxServer::start().unwrap();
        let sandbox = server.sandbox();
        let service = sandbox.discovery_service().unwrap();
        let msisdn = subscriber(info, Handset::Approve);
        let query = DiscoveryQuery::msisdn(Msisdn::new(msisdn));
        let (op, hint) = driver::discover(d, &service, &query, info.name).unwrap();
        let op = driver::with_metadata(d, op).unwrap();
        let (redirect, flow) = op
            .authorize(
                AuthorizeOptions::new().login_hint(hint.unwrap()),
                &mut driver::entropy(),
                d.now(),
            )
            .unwrap();
        let (state, nonce, verifier) = flow_secrets(&flow);
        let callback = browser_follow(d, redirect.as_str()).unwrap();
        let code = query_param(&callback, "code").unwrap();
        let received = flow.callback(&op, &callback, d.now()).unwrap();
        let tokens = d
            .execute(received.token_exchange(&op, d.now()).unwrap())
            .unwrap();
        let access_token = tokens.access_token().expose_secret().to_owned();
        let id_token = tokens.id_token().jwt().expose_secret().to_owned();
        let _ = driver::userinfo(d, &op, &tokens).unwrap();
        let _ = d.execute(tokens.premiuminfo(&op).unwrap()).unwrap();

        let requests = sandbox.requests();
        assert_eq!(requests.len(), 7, "{:?}", sandbox.request_log());
        let secret = sandbox.client_secret(info.name).unwrap();
        let verifier = verifier.unwrap();
        for request in &requests {
            let uri = url::form_urlencoded::parse(request.uri.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            for (what, value) in [
                ("access token", access_token.as_str()),
                ("id_token", id_token.as_str()),
                ("code", code.as_str()),
                ("PKCE verifier", verifier.as_str()),
                ("client secret", secret.as_str()),
                (
                    "discovery secret",
                    mc_tests::sandbox::DISCOVERY_CLIENT_SECRET,
                ),
                ("MSISDN", msisdn),
            ] {
                assert!(
                    !uri.contains(value) && !request.uri.contains(value),
                    "{what} in the URL of {} {}",
                    request.method,
                    request.path()
                );
            }
        }
        // Where they do go.
        let discovery = &requests[0];
        assert_eq!(
            form_param(&discovery.body, "MSISDN").as_deref(),
            Some(msisdn)
        );
        let authorize = requests
            .iter()
            .find(|r| r.path().ends_with("/authorize"))
            .unwrap();
        assert_eq!(
            query_param(authorize.query().unwrap(), "state").as_deref(),
            Some(state.as_str())
        );
        assert_eq!(
            query_param(authorize.query().unwrap(), "nonce").as_deref(),
            Some(nonce.as_str())
        );
        let token = requests
            .iter()
            .find(|r| r.path().ends_with("/token"))
            .unwrap();
        assert_eq!(
            form_param(&token.body, "code").as_deref(),
            Some(code.as_str())
        );
        assert_eq!(
            form_param(&token.body, "code_verifier").as_deref(),
            Some(verifier.as_str())
        );
        for endpoint in ["/userinfo", "/premiuminfo"] {
            let request = requests
                .iter()
                .find(|r| r.path().ends_with(endpoint))
                .unwrap();
            assert_eq!(
                request.header("authorization"),
                Some(format!("Bearer {access_token}").as_str())
            );
        }
    }
}
