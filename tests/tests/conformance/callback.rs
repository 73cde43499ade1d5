//! The authorization response (state, RFC 9207 `iss`, response modes) and authorization code
//! injection (RFC 9700 2.1.1, 4.5): each row makes the browser's way back misbehave and says
//! whether the login completes.

use mc_core::{CallbackError, Endpoint, Error, IdTokenError, Tokens};
use mc_tests::driver::{self, Driver, Failure, browser_follow};
use mc_tests::sandbox::{
    CallbackMutation as Cb, IMPOSTOR_ISSUER, SP_REDIRECT_URI, parse_form_post,
};
use mc_tests::{Fault, Target};

use crate::{
    Case, Step, as_served, blocking, core, flow_secrets, issuer_config, query_param, refused, step,
    tokio,
};

mc_tests::through_both_adapters!(
    rp_response_mode_form_post,
    rp_response_mode_form_post_error,
    x_callback_foreign_state,
    x_callback_missing_state,
    x_callback_duplicate_state,
    x_callback_iss_mismatch,
    x_callback_iss_missing,
    x_code_injection_stopped_by_pkce,
    x_code_injection_without_pkce_stopped_by_nonce,
    x_callback_state_of_another_login,
    x_callback_login_expired,
);

/// Run the step's login (the browser follows the redirect back, or submits the form-post
/// page): the outcome is the tokens or the core error. A refused callback has made no token
/// request (the authorize request was the last); a completed login, the token request alone
/// after it.
fn check_callback<D: Driver>(c: &Case<'_, D>, step: Step) -> Result<Tokens, Error> {
    let mark = c.mark();
    let outcome = c
        .misbehaving(&step.faults, || login(c, &step))
        .map_err(core);
    let requests = match outcome {
        Ok(_) => vec![c.get("authorize"), c.post("token")],
        Err(_) => vec![c.get("authorize")],
    };
    assert_eq!(c.since(mark), requests, "{outcome:?}");
    outcome
}

/// The login, the browser following a redirect or, in form-post mode, submitting the page.
fn login<D: Driver>(c: &Case<'_, D>, step: &Step) -> Result<Tokens, Failure> {
    let form_post = (Target::Authorize, Fault::Callback(Cb::FormPost));
    if !step.faults.contains(&form_post) {
        return c.login(step.options_at(c));
    }
    let (redirect, flow) =
        c.op.authorize(step.options_at(c), &mut driver::entropy(), c.d.now())?;
    let body = form_post_body(c, redirect.as_str());
    let code = flow.callback(&c.op, &body, c.d.now())?;
    c.d.execute(code.token_exchange(&c.op, c.d.now())?)
}

/// The browser visits the authorize URL and gets a form-post page (an optional response mode
/// the library does not choose, but whose body reads like a query): the host hands the POST
/// body to `callback`.
fn form_post_body<D: Driver>(c: &Case<'_, D>, authorize_url: &str) -> String {
    let mut visit = http::Request::new(Vec::new());
    *visit.uri_mut() = authorize_url.parse().unwrap();
    let page = c.d.send(visit).unwrap();
    assert_eq!(page.status(), 200);
    let (action, fields) = parse_form_post(std::str::from_utf8(page.body()).unwrap()).unwrap();
    assert_eq!(action, SP_REDIRECT_URI);
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

cases! { check_callback, c;
    /// `rp-response_mode-form_post` (optional): parameters from a POST body at the redirect
    /// URI.
    rp_response_mode_form_post at ["alpha"]: {
        Cb::FormPost => Ok(t) if t.id_token().acr() == Some("2"),
    };

    /// `rp-response_mode-form_post-error` (optional): the error read from the POST body is the
    /// operator's refusal, not a crash or a loop.
    rp_response_mode_form_post_error at ["alpha"]: {
        step(Cb::FormPost).options(c.decline())
            => Err(e) if refused(e, "access_denied", Endpoint::Authorization),
    };

    /// A callback carrying a `state` this login never sent (CSRF): refused before the code is
    /// used.
    x_callback_foreign_state at ["alpha"]: {
        Cb::ForeignState => Err(Error::Callback(CallbackError::StateMismatch)),
    };

    /// A callback without `state`.
    x_callback_missing_state at ["alpha"]: {
        Cb::NoState => Err(Error::Callback(CallbackError::StateMissing)),
    };

    /// A callback with `state` twice (RFC 6749 3.1: parameters must not repeat).
    x_callback_duplicate_state at ["alpha"]: {
        Cb::DuplicateState
            => Err(Error::Callback(CallbackError::DuplicateParameter { name })) if name == "state",
    };

    /// RFC 9207 mix-up defence: an `iss` of another issuer is refused, on success and on error
    /// responses alike (the error is not believed either).
    x_callback_iss_mismatch at ["beta"]: {
        [step(Cb::ForeignIss), step(Cb::ForeignIss).options(c.decline())]
            => Err(Error::Callback(CallbackError::IssuerMismatch { expected, found }))
            if *expected == c.issuer() && found == IMPOSTOR_ISSUER,
    };

    /// RFC 9207: without `iss`, a callback is refused when the metadata announces
    /// `authorization_response_iss_parameter_supported` (or the policy demands it), whether the
    /// context came from a registry entry or from the metadata alone, and accepted for an
    /// operator that never announced it.
    x_callback_iss_missing at ["alpha"]: {
        Cb::NoIss => Err(Error::Callback(CallbackError::IssuerMissing))
            if c.op.metadata().unwrap().authorization_response_iss_parameter_supported
                == Some(true),
    } without_metadata {
        // A registry entry without metadata: the operator never announced RFC 9207.
        Cb::NoIss => Ok(_),
    } require_callback_iss {
        Cb::NoIss => Err(Error::Callback(CallbackError::IssuerMissing)),
    } via_issuer_metadata {
        // Built the documented plain-OpenID way (the metadata fetched for the issuer, then
        // `OperatorConfig::with_metadata`): the context keeps the document, so its RFC 9207
        // announcement holds without any further step.
        Cb::NoIss => Err(Error::Callback(CallbackError::IssuerMissing)),
    };
}

// Edits of the SP's context, between a row's logins.
impl<D: Driver> Case<'_, D> {
    /// The host demands RFC 9207 `iss` on every callback.
    fn require_callback_iss(&mut self) {
        self.set_policy(|policy| policy.require_callback_iss = true);
    }

    /// The context built the plain-OpenID way, keys fetched (the policy the default).
    fn via_issuer_metadata(&mut self) {
        self.config = issuer_config(self).unwrap();
        self.rebuild();
        self.fetch_jwks();
    }
}

// ---------------------------------------------------------------------------------------------
// Code injection (RFC 9700 4.5)
// ---------------------------------------------------------------------------------------------

/// The attacker plants the victim's code into a login of their own (a callback with the
/// attacker's own `state`), both logins started with the step's options: the outcome is that of
/// redeeming it, and nothing was asked after the token request.
fn check_injected_code<D: Driver>(c: &Case<'_, D>, step: Step) -> Result<Tokens, Error> {
    let d = c.d;
    let mark = c.mark();
    let (victim_redirect, _victim) =
        c.op.authorize(step.options_at(c), &mut driver::entropy(), d.now())
            .unwrap();
    let victim_code = query_param(
        &browser_follow(d, victim_redirect.as_str()).unwrap(),
        "code",
    )
    .unwrap();
    let (attacker_redirect, attacker) =
        c.op.authorize(step.options_at(c), &mut driver::entropy(), d.now())
            .unwrap();
    let attacker_callback = browser_follow(d, attacker_redirect.as_str()).unwrap();
    let (state, _, _) = flow_secrets(&attacker);
    let iss = query_param(&attacker_callback, "iss").unwrap();
    let injected = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &victim_code)
        .append_pair("state", &state)
        .append_pair("iss", &iss)
        .finish();
    let code = attacker.callback(&c.op, &injected, d.now()).unwrap();
    let outcome = d.execute(code.token_exchange(&c.op, d.now()).unwrap());
    let after = c.since(mark);
    assert_eq!(after.last(), Some(&c.post("token")));
    assert!(!after.iter().any(|r| r.contains("userinfo")));
    outcome.map_err(core)
}

cases! { check_injected_code, c;
    /// Code injection with PKCE (the default): the token endpoint refuses the attacker's
    /// verifier for the victim's code, and no token is issued.
    x_code_injection_stopped_by_pkce at ["alpha"]: {
        as_served() => Err(e) if refused(e, "invalid_grant", Endpoint::Token),
    };

    /// Code injection where PKCE is off: the victim's id_token carries the victim's nonce,
    /// which the attacker's login rejects (the nonce is bound to the login), before anything
    /// else happens.
    x_code_injection_without_pkce_stopped_by_nonce at ["beta"]: {
        as_served().options(c.approve().without_pkce())
            => Err(Error::IdToken(IdTokenError::NonceMismatch)),
    };
}

// ---------------------------------------------------------------------------------------------
// Callbacks built by hand
// ---------------------------------------------------------------------------------------------

/// RFC 9700 2.1.1 library test: the callback of another pending login (its `state`) does not
/// complete this one.
fn x_callback_state_of_another_login<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let (_, first) =
        c.op.authorize(c.approve(), &mut driver::entropy(), d.now())
            .unwrap();
    let (second_redirect, second) =
        c.op.authorize(c.approve(), &mut driver::entropy(), d.now())
            .unwrap();
    let second_callback = browser_follow(d, second_redirect.as_str()).unwrap();
    let error = first
        .callback(&c.op, &second_callback, d.now())
        .unwrap_err();
    assert!(
        matches!(error, Error::Callback(CallbackError::StateMismatch)),
        "{error:?}"
    );
    // The rightful login still completes with it.
    let _ = second.callback(&c.op, &second_callback, d.now()).unwrap();
}

/// A callback for a login started longer ago than the policy's login timeout (600 s) is
/// refused, even with the right `state`.
fn x_callback_login_expired<D: Driver>(d: &D) {
    let c = Case::new(d, "alpha");
    let started = d.now().minus(601);
    let (redirect, flow) =
        c.op.authorize(c.approve(), &mut driver::entropy(), started)
            .unwrap();
    let callback = browser_follow(d, redirect.as_str()).unwrap();
    let error = flow.callback(&c.op, &callback, d.now()).unwrap_err();
    assert!(
        matches!(error, Error::Callback(CallbackError::LoginExpired { issued_at, .. })
            if issued_at == started.as_secs()),
        "{error:?}"
    );
}
