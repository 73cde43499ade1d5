//! Secrets never print (DESIGN.md rule 4): after a whole login through each adapter (discovery
//! by MSISDN, metadata, authorize, callback, token with a JWKS refetch, userinfo, for an RS256
//! operator with JSON userinfo and an ES256 one with signed userinfo and a refetch there too),
//! every public value holding a secret is formatted with `{:?}`, `{:#?}` and, where it has
//! one, `{}`; none of the outputs may contain the client secret (raw, form-encoded or inside the
//! Basic credentials), the discovery secret, the code, the access or refresh token, the id_token
//! (or its payload or signature), the nonce, the state, the PKCE verifier, the MSISDN or its
//! encrypted form. Every request the login emits (discovery, metadata, token with each client
//! authentication, JWKS and its refetch, userinfo) is printed through `mc_core::redacted`, the
//! one way a request may be logged, and `AuthorizeOptions` carrying an `id_token_hint`, a
//! `login_hint_token`, `dtbs` and a KYC `claims` request is printed too. The adapters' own
//! errors (transport failure, timeout) of a token request are checked the same way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::{Debug, Display};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mc_core::{
    AccessToken, AuthorizationCode, AuthorizeOptions, ClientAuth, ClientSecret, DataToBeSigned,
    Discovered, DiscoveryOutcome, DiscoveryQuery, Exchange, IdTokenJwt, LoginHint, LoginHintToken,
    Msisdn, Nonce, OperatorConfig, PkceVerifier, RefreshToken, Registration, SelectionLeg,
    SelectionReturn, State, SubscriberId, TokenResponse, Verified, redacted,
};
use mc_tests::SandboxExt as _;
use mc_tests::driver::{self, Driver, Failure, browser_follow};
use mc_tests::sandbox::{
    DISCOVERY_CLIENT_ID, DISCOVERY_CLIENT_SECRET, IdTokenMutation, SP_REDIRECT_URI,
};
use mc_tests::{Fault, Handset, OPERATORS, SandboxServer, Target};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(5);
const BODY_LIMIT: usize = 256 * 1024;
const REFRESH_TOKEN: &str = "rt-4f1d2a9b8c7e6d5f4a3b2c1d0e9f8a7b";
const LOGIN_HINT_TOKEN: &str = "lht-0a9b8c7d6e5f4a3b";
const DTBS: &str = "dtbs-contract-sha256-7e6d5c4b";
const KYC_NAME: &str = "Kycmatch-Given-Name";

use mc_tests::through_both_adapters;

through_both_adapters!(TIMEOUT, BODY_LIMIT; no_secret_in_any_formatted_value_after_a_login);

/// What was printed, and the secrets that must not be in it.
#[derive(Default)]
struct Audit {
    printed: Vec<(String, String)>,
    secrets: Vec<(&'static str, String)>,
    requests: usize,
}

impl Audit {
    fn secret(&mut self, what: &'static str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 8, "{what} is too short to search for");
        self.secrets.push((what, value));
    }

    /// An operator's client secret: raw, form-encoded, and inside the Basic credentials.
    fn client_secret(&mut self, client_id: &str, secret: &str) {
        self.secret("client secret", secret);
        self.secret("form-encoded client secret", form_encoded(secret));
        self.secret(
            "Basic credentials",
            STANDARD.encode(format!(
                "{}:{}",
                form_encoded(client_id),
                form_encoded(secret)
            )),
        );
    }

    fn debug(&mut self, label: &str, value: &impl Debug) {
        self.printed
            .push((format!("{label} {{:?}}"), format!("{value:?}")));
        self.printed
            .push((format!("{label} {{:#?}}"), format!("{value:#?}")));
    }

    fn both(&mut self, label: &str, value: &(impl Debug + Display)) {
        self.debug(label, value);
        self.printed
            .push((format!("{label} {{}}"), format!("{value}")));
    }

    /// A request as it may be logged: through `mc_core::redacted` only.
    fn request(&mut self, label: &str, request: &http::Request<Vec<u8>>) {
        self.requests += 1;
        self.both(&format!("redacted request ({label})"), &redacted(request));
    }

    #[track_caller]
    fn check(&self) {
        assert!(self.printed.len() > 60, "{}", self.printed.len());
        let mut leaks = Vec::new();
        for (label, text) in &self.printed {
            for (what, secret) in &self.secrets {
                if text.contains(secret.as_str()) {
                    leaks.push(format!("{what} in {label}: {text}"));
                }
            }
        }
        assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

fn form_encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn no_secret_in_any_formatted_value_after_a_login<D: Driver>(d: &D) {
    for info in &OPERATORS {
        let server = SandboxServer::start().unwrap();
        let sandbox = server.sandbox();
        let mut audit = Audit::default();
        let msisdn = info
            .subscribers
            .iter()
            .find(|(_, h)| *h == Handset::Approve)
            .unwrap()
            .0;
        let secret = sandbox.client_secret(info.name).unwrap();
        audit.client_secret(info.client_id, &secret);
        audit.secret("discovery secret", DISCOVERY_CLIENT_SECRET);
        audit.secret(
            "discovery Basic credentials",
            STANDARD.encode(format!("{DISCOVERY_CLIENT_ID}:{DISCOVERY_CLIENT_SECRET}")),
        );
        audit.secret("MSISDN", msisdn);
        audit.secret("refresh token", REFRESH_TOKEN);

        // Discovery by MSISDN.
        let service = sandbox.discovery_service().unwrap();
        audit.debug("DiscoveryService", &service);
        let query = DiscoveryQuery::msisdn(Msisdn::new(msisdn)).correlation_id("corr-1");
        audit.debug("DiscoveryQuery", &query);
        let exchange = service.discover(&query, &mut driver::entropy()).unwrap();
        audit.debug("DiscoveryExchange", &exchange);
        audit.request("discovery", &exchange.request());
        let outcome = d.execute(exchange).unwrap();
        audit.debug("DiscoveryOutcome", &outcome);
        let DiscoveryOutcome::Found(answer) = outcome else {
            panic!("expected an operator");
        };
        audit.debug("DiscoveryAnswer", &answer);
        let subscriber_id = answer.subscriber_id.clone().unwrap();
        audit.secret("encrypted MSISDN", subscriber_id.expose_secret());
        audit.both("SubscriberId", &subscriber_id);
        let leg = SelectionLeg::new(&mut driver::entropy(), d.now(), 600);
        audit.secret("selection state", leg.state().expose_secret());
        audit.debug("SelectionLeg", &leg);
        let selection = SelectionReturn::parse(
            &format!(
                "mcc_mnc={}_{}&subscriber_id={}",
                info.mcc,
                info.mnc,
                subscriber_id.expose_secret()
            ),
            leg,
            d.now(),
        )
        .unwrap();
        audit.debug("SelectionReturn", &selection);

        // The operator context.
        let discovered =
            OperatorConfig::from_discovery(&answer, info.name, SP_REDIRECT_URI).unwrap();
        audit.debug("OperatorConfig (from discovery)", &discovered);
        let metadata_exchange = discovered.metadata_exchange().unwrap();
        audit.debug("MetadataExchange", &metadata_exchange);
        audit.request("metadata", &metadata_exchange.request());
        let metadata = d.execute(metadata_exchange).unwrap();
        audit.debug("ProviderMetadata", &metadata);
        let discovered = discovered.with_metadata(metadata).unwrap();
        audit.debug("OperatorConfig (with metadata)", &discovered);
        // No JWKS refetch spacing: the signed-userinfo operator rotates its key seconds after
        // the token step fetched the keys (below), so that its refetch is printed too.
        let mut policy = mc_core::Policy::default();
        policy.jwks_min_refetch_secs = 0;
        let op = discovered.policy(policy).build().unwrap();
        let config: OperatorConfig = sandbox.registry_entry(info.name).unwrap();
        audit.debug("OperatorConfig", &config);

        // Authorize, with both kinds of MSISDN hint on display.
        let clear_hint = LoginHint::Msisdn(Msisdn::new(msisdn));
        audit.debug("LoginHint::Msisdn", &clear_hint);
        audit.debug(
            "AuthorizeOptions (MSISDN hint)",
            &AuthorizeOptions::new().login_hint(clear_hint),
        );
        let options =
            AuthorizeOptions::new().login_hint(LoginHint::EncryptedMsisdn(subscriber_id.clone()));
        audit.debug("AuthorizeOptions", &options);
        let (redirect, flow) = op
            .authorize(options.clone(), &mut driver::entropy(), d.now())
            .unwrap();
        audit.debug("AuthorizationRedirect", &redirect);
        audit.debug("Authorizing", &flow);
        let flow_json = serde_json::to_value(&flow).unwrap();
        let field = |name: &str| flow_json[name].as_str().unwrap().to_owned();
        let (state, nonce, verifier) = (field("state"), field("nonce"), field("pkce"));
        audit.secret("state", state.clone());
        audit.secret("nonce", nonce.clone());
        audit.secret("PKCE verifier", verifier.clone());
        audit.both("State", flow.state());

        // The callback, and a callback error that saw it.
        let callback = browser_follow(d, redirect.as_str()).unwrap();
        let code = query_param(&callback, "code").unwrap();
        audit.secret("code", code.clone());
        let (_, other_flow) = op
            .authorize(options.clone(), &mut driver::entropy(), d.now())
            .unwrap();
        let state_error = other_flow.callback(&op, &callback, d.now()).unwrap_err();
        audit.both("Error (state mismatch)", &state_error);
        let received = flow.callback(&op, &callback, d.now()).unwrap();
        audit.debug("CodeReceived", &received);

        // The token exchange, paused for the JWKS (none fetched yet), then finished by the
        // refetch. Run by hand, so that the paused value can be printed too.
        let exchange = received.token_exchange(&op, d.now()).unwrap();
        audit.debug("TokenExchange", &exchange);
        audit.request("token", &exchange.request());
        let step = step_by_hand(d, exchange);
        audit.debug("Verified<Tokens>", &step);
        let Verified::NeedJwks(refetch) = step else {
            panic!("the first login pauses for the JWKS");
        };
        audit.debug("KeyRefetch<Tokens>", &refetch);
        audit.request("JWKS refetch", &refetch.request());
        let tokens = d.execute(refetch).unwrap();
        let access_token = tokens.access_token().expose_secret().to_owned();
        let id_token = tokens.id_token().jwt().expose_secret().to_owned();
        audit.secret("access token", access_token.clone());
        audit.secret("id_token", id_token.clone());
        let parts: Vec<&str> = id_token.split('.').collect();
        audit.secret("id_token payload", parts[1]);
        audit.secret("id_token signature", parts[2]);
        audit.debug("Tokens", &tokens);
        audit.debug("IdToken", tokens.id_token());
        audit.debug("IdTokenClaims", tokens.id_token().claims());
        audit.both("AccessToken", tokens.access_token());
        audit.both("IdTokenJwt", tokens.id_token().jwt());
        audit.both(
            "Nonce (from the id_token)",
            tokens.id_token().claims().nonce.as_ref().unwrap(),
        );
        audit.debug("Discovered", &op);
        audit.debug("Jwks", &op.jwks());
        audit.debug("JwksExchange", &op.jwks_exchange().unwrap());
        audit.request("JWKS", &op.jwks_exchange().unwrap().request());
        let response = TokenResponse::parse(
            json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
                "refresh_token": REFRESH_TOKEN,
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        audit.debug("TokenResponse", &response);

        // Userinfo; at the signed-userinfo operator, after a key rotation, so that it pauses
        // for a refetch too.
        if info.signed_userinfo {
            sandbox.rotate_keys(info.name);
        }
        let exchange = tokens.userinfo(&op).unwrap();
        audit.debug("UserInfoExchange", &exchange);
        audit.request("userinfo", &exchange.request());
        let step = step_by_hand(d, exchange);
        audit.debug("Verified<UserInfo>", &step);
        assert_eq!(info.signed_userinfo, matches!(step, Verified::NeedJwks(_)));
        let userinfo = match step {
            Verified::Done(userinfo) => userinfo,
            Verified::NeedJwks(refetch) => {
                audit.debug("KeyRefetch<UserInfo>", &refetch);
                audit.request("JWKS refetch (userinfo)", &refetch.request());
                d.execute(refetch).unwrap()
            }
        };
        audit.debug("UserInfo", &userinfo);
        audit.request("premiuminfo", &tokens.premiuminfo(&op).unwrap().request());

        // The token request under the other client authentications (built, not sent): the
        // secret in the body with client_secret_post, a signed assertion with private_key_jwt.
        for (label, auth) in [
            ("token, client_secret_post", ClientAuth::SecretPost),
            ("token, private_key_jwt", ClientAuth::PrivateKeyJwt),
        ] {
            let other = config
                .clone()
                .client_auth(auth)
                .signing_key(mc_tests::interop::sp_key())
                .build()
                .unwrap();
            let (_, flow) = other
                .authorize(AuthorizeOptions::new(), &mut driver::entropy(), d.now())
                .unwrap();
            let flow_json = serde_json::to_value(&flow).unwrap();
            audit.secret(
                "PKCE verifier (other login)",
                flow_json["pkce"].as_str().unwrap(),
            );
            let query = format!(
                "code={}&state={}&iss={}",
                form_encoded(&code),
                flow_json["state"].as_str().unwrap(),
                form_encoded(&sandbox.issuer(info.name))
            );
            let request = flow
                .callback(&other, &query, d.now())
                .unwrap()
                .token_exchange(&other, d.now())
                .unwrap()
                .request();
            if let Some((_, assertion)) = url::form_urlencoded::parse(request.body())
                .find(|(name, _)| name == "client_assertion")
            {
                audit.secret("client assertion", assertion.into_owned());
            }
            audit.request(label, &request);
        }

        // Authorization options carrying secrets and personal data.
        audit.secret("login_hint_token", LOGIN_HINT_TOKEN);
        audit.secret("dtbs", DTBS);
        audit.secret("KYC value", KYC_NAME);
        let secret_options = AuthorizeOptions::new()
            .login_hint(LoginHint::Msisdn(Msisdn::new(msisdn)))
            .id_token_hint(id_token.clone())
            .login_hint_token(LOGIN_HINT_TOKEN)
            .dtbs(DTBS)
            .claims(json!({ "premiuminfo": { "given_name": { "value": KYC_NAME } } }));
        audit.debug("AuthorizeOptions (hints, dtbs, claims)", &secret_options);
        audit.both("LoginHintToken", &LoginHintToken::new(LOGIN_HINT_TOKEN));
        audit.both("DataToBeSigned", &DataToBeSigned::new(DTBS));

        // Errors raised around these secrets.
        sandbox.set_operator_fault(info.name, Target::UserInfo, Fault::SubjectMismatch);
        let failure = driver::userinfo(d, &op, &tokens).unwrap_err();
        audit.debug("Failure (userinfo sub mismatch)", &failure);
        audit.both("Error (userinfo sub mismatch)", failure.core().unwrap());
        // The used code again, in a fresh login of the same browser: invalid_grant.
        let (replay_redirect, replay) = op
            .authorize(options.clone(), &mut driver::entropy(), d.now())
            .unwrap();
        let replay_state = query_param(replay_redirect.url().query().unwrap(), "state").unwrap();
        let replay_query = format!(
            "code={code}&state={replay_state}&iss={}",
            form_encoded(&sandbox.issuer(info.name))
        );
        let replayed = replay.callback(&op, &replay_query, d.now()).unwrap();
        let failure = d
            .execute(replayed.token_exchange(&op, d.now()).unwrap())
            .unwrap_err();
        audit.debug("Failure (code replay)", &failure);
        audit.both("Error (code replay)", failure.core().unwrap());
        sandbox.set_operator_fault(
            info.name,
            Target::Token,
            Fault::IdToken(IdTokenMutation::append("nonce", "1")),
        );
        let failure = driver::login(d, &op, options).unwrap_err();
        audit.both("Error (nonce mismatch)", failure.core().unwrap());
        if let mc_core::Error::IdToken(e) = failure.core().unwrap() {
            audit.both("IdTokenError", e);
        }

        // The newtypes themselves.
        audit.both("ClientSecret", &ClientSecret::new(secret.clone()));
        audit.both("AuthorizationCode", &AuthorizationCode::new(code.clone()));
        audit.both("State (new)", &State::new(state.clone()));
        audit.both("Nonce (new)", &Nonce::new(nonce.clone()));
        audit.both("PkceVerifier", &PkceVerifier::new(verifier.clone()));
        audit.both("Msisdn", &Msisdn::new(msisdn));
        audit.both(
            "SubscriberId (new)",
            &SubscriberId::new(subscriber_id.expose_secret()),
        );
        audit.both("AccessToken (new)", &AccessToken::new(access_token.clone()));
        audit.both("RefreshToken", &RefreshToken::new(REFRESH_TOKEN));
        audit.both("IdTokenJwt (new)", &IdTokenJwt::new(id_token.clone()));

        // Discovery, metadata, token (three client authentications), JWKS, its refetch,
        // userinfo, premium info, and the refetch of signed userinfo.
        assert_eq!(
            audit.requests,
            9 + usize::from(info.signed_userinfo),
            "every request of the login is printed"
        );
        audit.check();
    }
}

/// One step by hand (request sent raw, response handed to the core), so that a paused value
/// can be looked at before `execute` finishes it.
fn step_by_hand<D: Driver, E: Exchange>(d: &D, exchange: E) -> E::Output {
    let response = d.send(exchange.request()).unwrap();
    exchange.respond(response, d.now()).unwrap()
}

/// A code-received login at `alpha` whose token endpoint is `token_url`, with its secrets.
fn pending_token_request(
    server: &SandboxServer,
    token_url: &str,
) -> (Discovered, mc_core::CodeReceived, Audit) {
    let info = &OPERATORS[0];
    let sandbox = server.sandbox();
    let secret = sandbox.client_secret(info.name).unwrap();
    let issuer = sandbox.issuer(info.name);
    let op = OperatorConfig::new(Registration {
        operator_id: info.name.to_owned(),
        client_id: info.client_id.to_owned(),
        client_secret: ClientSecret::new(secret.clone()),
        redirect_uri: SP_REDIRECT_URI.to_owned(),
    })
    .unwrap()
    .issuer(issuer.clone())
    .authorization(&format!("{issuer}/authorize"))
    .unwrap()
    .token(token_url)
    .unwrap()
    .jwks(&format!("{issuer}/jwks"))
    .unwrap()
    .build()
    .unwrap();
    let (_, flow) = op
        .authorize(
            AuthorizeOptions::new(),
            &mut driver::entropy(),
            mc_io_blocking::now(),
        )
        .unwrap();
    let flow_json: Value = serde_json::to_value(&flow).unwrap();
    let code = "code-7d1f0c2b9a8e4f3d";
    let query = format!(
        "code={code}&state={}&iss={}",
        flow_json["state"].as_str().unwrap(),
        form_encoded(&issuer)
    );
    let mut audit = Audit::default();
    audit.client_secret(info.client_id, &secret);
    audit.secret("code", code);
    audit.secret("PKCE verifier", flow_json["pkce"].as_str().unwrap());
    audit.secret("state", flow_json["state"].as_str().unwrap());
    let received = flow.callback(&op, &query, mc_io_blocking::now()).unwrap();
    (op, received, audit)
}

/// The adapters' transport errors (nothing listening) and timeouts on a token request, which
/// carries the code, the verifier and the client credentials, print none of them.
#[test]
fn adapter_errors_of_a_token_request_print_no_secret() {
    let server = SandboxServer::start().unwrap();
    let dead_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{dead_port}/op/alpha/token");
    let live = format!("{}/token", server.sandbox().issuer("alpha"));
    server.sandbox().set_operator_fault(
        "alpha",
        Target::Token,
        Fault::Slow(Duration::from_secs(3)),
    );
    let config = mc_io_blocking::Config::default().with_timeout(Duration::from_millis(500));
    let blocking = mc_io_blocking::Client::with_config(config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tokio_client = mc_io_tokio::Client::with_config(
        mc_io_tokio::Config::default().with_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    for (url, expect_timeout) in [(dead.as_str(), false), (live.as_str(), true)] {
        let (op, received, mut audit) = pending_token_request(&server, url);
        let exchange = received
            .clone()
            .token_exchange(&op, mc_io_blocking::now())
            .unwrap();
        let error = blocking.execute(exchange).unwrap_err();
        assert_eq!(
            matches!(error, mc_io_blocking::Error::Timeout { .. }),
            expect_timeout,
            "{error:?}"
        );
        audit.both("mc_io_blocking::Error", &error);
        let exchange = received.token_exchange(&op, mc_io_blocking::now()).unwrap();
        let error = runtime
            .block_on(tokio_client.execute(exchange))
            .unwrap_err();
        assert_eq!(
            matches!(error, mc_io_tokio::Error::Timeout { .. }),
            expect_timeout,
            "{error:?}"
        );
        audit.both("mc_io_tokio::Error", &error);
        audit.debug("Failure", &Failure::from(error));
        let printed = audit.printed.len();
        assert!(printed >= 8);
        // `check` wants many values; here a handful is the whole surface.
        for (label, text) in &audit.printed {
            for (what, secret) in &audit.secrets {
                assert!(!text.contains(secret.as_str()), "{what} in {label}: {text}");
            }
        }
    }
}
