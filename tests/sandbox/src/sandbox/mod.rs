//! The sandbox: a discovery service and two or more operator gateways (IDGWs) in one value that
//! answers `http::Request`s directly. [`crate::server`] puts the same value on loopback HTTP.
//!
//! Tests make it misbehave with [`Sandbox::set_fault`]: a [`Fault`] per [`Target`] endpoint,
//! from transport-level faults (HTTP 500, slowness, oversized or raw bodies) to protocol attacks
//! on the relying party: edited or forged id_tokens ([`IdTokenMutation`]), edited callbacks
//! ([`CallbackMutation`]), odd key sets ([`JwksMutation`]), a userinfo `sub` for someone else,
//! provider metadata naming another issuer. [`Sandbox::requests`] records every request it
//! served (method, path and query, headers, body) so that tests can check what the SP sent.
//!
//! A [`SandboxConfig`] sets up what a user's own app needs: its redirect URIs, selection by 202
//! or 302, a handset delay, faults by name ([`FaultSwitch`]), and for server-initiated logins
//! (Mobile Connect SI, OpenID CIBA) its notification URIs, its public JWKS (request objects and
//! `private_key_jwt` assertions are verified against it; also [`Sandbox::register_sp_jwks`]),
//! the `expires_in` and the polling interval. The notifications the operator sends wait in an
//! outbox: in memory a test takes them ([`Sandbox::take_notifications`]), over HTTP the server
//! POSTs them.
//!
//! The modules follow the jobs: `catalogue` holds the operators, test subscribers and
//! credentials; `config` the setup; `faults` the switches; `discovery` the discovery API and
//! operator selection; `gateway` the operator endpoints (one file per step) and the simulated
//! handset; `forge` the JWT building and editing; `wire` the HTTP details (parameters, Basic
//! auth, responses, HTML). This file holds the shared state and the routing.

mod catalogue;
mod config;
mod discovery;
mod faults;
mod forge;
mod gateway;
mod kyc;
mod wire;

#[cfg(test)]
mod backchannel_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use http::{Request, Response};
use serde_json::Value;

use crate::keys::SigningKey;

pub use catalogue::{
    DISCOVERY_CLIENT_ID, DISCOVERY_CLIENT_SECRET, Handset, OPERATORS, OperatorInfo,
    SP_DISCOVERY_REDIRECT, SP_NOTIFICATION_URI, SP_REDIRECT_URI, WRONG_PIN, encrypt_msisdn,
};
pub use config::{SandboxConfig, SelectionAnswer, format_duration, parse_duration, parse_seconds};
pub use faults::{
    CallbackMutation, ClientAuthRequirement, Fault, FaultSwitch, IMPOSTOR_ISSUER,
    IMPOSTOR_RECIPIENT, IdTokenMutation, JwksMutation, NAMED_FAULTS, NamedFault,
    NotificationMutation, PollMutation, RawBody, Target,
};
pub use gateway::parse_form_post;

use gateway::{BackchannelLogin, Grant, IssuedToken, Outgoing, RefreshGrant};
use wire::oauth_error;

/// One request the sandbox served, as it arrived.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// The method.
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl LoggedRequest {
    /// The path, without the query.
    #[must_use]
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    /// The query, if any.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }

    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Wall-clock seconds, injectable for in-memory tests at a fixed time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

struct State {
    keys: Vec<Vec<SigningKey>>,
    rotations: Vec<usize>,
    codes: BTreeMap<String, Grant>,
    tokens: BTreeMap<String, IssuedToken>,
    /// Refresh tokens not yet spent or revoked.
    refresh_tokens: BTreeMap<String, RefreshGrant>,
    faults: BTreeMap<(Option<usize>, Target), Fault>,
    log: Vec<String>,
    requests: Vec<LoggedRequest>,
    /// The client secret each operator currently accepts.
    secrets: Vec<String>,
    /// The last id_token each operator issued.
    last_id_token: Vec<Option<String>>,
    /// The SP's public JWKS each operator verifies its signatures with, once registered.
    sp_jwks: Vec<Option<Value>>,
    /// Server-initiated logins by `auth_req_id`.
    backchannel: BTreeMap<String, BackchannelLogin>,
    /// Notifications to the SP, waiting to be sent.
    outbox: Vec<Outgoing>,
    /// SMS one-time-password challenges, and the codes texted.
    otp: gateway::OtpChallenges,
}

/// The sandbox. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Sandbox {
    base: String,
    clock: Clock,
    handset_wait: Duration,
    config: Arc<SandboxConfig>,
    state: Arc<Mutex<State>>,
    /// Signalled when a notification is queued (for the server's courier; used with `state`).
    outbox_signal: Arc<Condvar>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The system clock in seconds.
#[must_use]
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// Whether `jwks` is a JWKS document: an object whose `keys` is an array of objects.
///
/// # Errors
/// When it is not, with a message for the user.
pub fn check_jwks(jwks: &Value) -> Result<(), String> {
    match jwks.get("keys").and_then(Value::as_array) {
        Some(keys) if keys.iter().all(Value::is_object) => Ok(()),
        _ => Err("expected a JWKS document: {\"keys\": [ {JWK}, ... ]}".to_owned()),
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The sandbox is test infrastructure; a zero buffer on an OS without entropy is harmless.
    let _ = getrandom::fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sandbox {
    /// A sandbox whose URLs start with `base` (e.g. `http://127.0.0.1:8080`), on the system clock.
    #[must_use]
    pub fn new(base: &str) -> Self {
        Self::with_clock(base, system_clock())
    }

    /// A sandbox with an injected clock (fixed time for in-memory tests).
    #[must_use]
    pub fn with_clock(base: &str, clock: Clock) -> Self {
        Self::configured(base, clock, SandboxConfig::default())
    }

    /// A sandbox set up with `config` (its faults switched on).
    #[must_use]
    pub fn configured(base: &str, clock: Clock, config: SandboxConfig) -> Self {
        let keys = OPERATORS
            .iter()
            .map(|op| {
                vec![SigningKey::from_pool(
                    op.family,
                    0,
                    format!("{}-key-0", op.name),
                )]
            })
            .collect();
        let sandbox = Self {
            base: base.trim_end_matches('/').to_owned(),
            clock,
            handset_wait: Duration::from_millis(200),
            config: Arc::new(config),
            state: Arc::new(Mutex::new(State {
                keys,
                rotations: vec![0; OPERATORS.len()],
                codes: BTreeMap::new(),
                tokens: BTreeMap::new(),
                refresh_tokens: BTreeMap::new(),
                faults: BTreeMap::new(),
                log: Vec::new(),
                requests: Vec::new(),
                secrets: OPERATORS
                    .iter()
                    .map(|o| o.client_secret.to_owned())
                    .collect(),
                last_id_token: vec![None; OPERATORS.len()],
                sp_jwks: vec![None; OPERATORS.len()],
                backchannel: BTreeMap::new(),
                outbox: Vec::new(),
                otp: gateway::OtpChallenges::default(),
            })),
            outbox_signal: Arc::new(Condvar::new()),
        };
        if let Some(jwks) = &sandbox.config.sp_jwks {
            for op in &OPERATORS {
                // A malformed document is refused when the config is read (the binary);
                // a test's own malformed one simply registers nothing.
                let _ = sandbox.register_sp_jwks(op.name, jwks);
            }
        }
        for switch in &sandbox.config.faults {
            match &switch.operator {
                Some(operator) => {
                    sandbox.set_operator_fault(operator, switch.target, switch.fault.clone());
                }
                None => sandbox.set_fault(switch.target, switch.fault.clone()),
            }
        }
        sandbox
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The discovery endpoint URL.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        format!("{}/discovery/v2/discovery", self.base)
    }

    /// The operator selection page, as discovery names it for an SP whose discovery redirect is
    /// `redirect_url`.
    #[must_use]
    pub fn selection_url(&self, redirect_url: &str) -> String {
        format!(
            "{}/discovery/operator-selection?Redirect_URL={}",
            self.base,
            url::form_urlencoded::byte_serialize(redirect_url.as_bytes()).collect::<String>()
        )
    }

    /// The setup.
    #[must_use]
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The SP's first registered redirect URI (by default [`SP_REDIRECT_URI`]).
    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        self.config
            .redirect_uris
            .first()
            .map_or(SP_REDIRECT_URI, String::as_str)
    }

    /// The SP's first registered notification URI (by default [`SP_NOTIFICATION_URI`]): where
    /// CIBA pings go.
    #[must_use]
    pub fn notification_uri(&self) -> Option<&str> {
        self.config.notification_uris.first().map(String::as_str)
    }

    /// Register the SP's public JWKS (`{"keys": [...]}`) at `operator`, replacing any earlier
    /// one: Mobile Connect SI request objects and `private_key_jwt` client assertions are
    /// verified against it.
    ///
    /// # Errors
    /// For an unknown operator or a document that is not a JWKS, with a message for the user.
    pub fn register_sp_jwks(&self, operator: &str, jwks: &Value) -> Result<(), String> {
        let index = OPERATORS
            .iter()
            .position(|o| o.name == operator)
            .ok_or_else(|| format!("no operator {operator:?}"))?;
        check_jwks(jwks)?;
        if let Some(slot) = self.lock().sp_jwks.get_mut(index) {
            *slot = Some(jwks.clone());
        }
        Ok(())
    }

    /// The SP's public JWKS registered at `operator`, if any.
    #[must_use]
    pub fn sp_jwks(&self, operator: &str) -> Option<Value> {
        let index = OPERATORS.iter().position(|o| o.name == operator)?;
        self.lock().sp_jwks.get(index).cloned().flatten()
    }

    /// A configuration file for mc-io-tokio's login service (TOML) that logs in through this
    /// sandbox: its discovery service and both operators as registry entries (keyed by the
    /// operator id discovery answers carry, endpoints from their metadata), the SP's first
    /// registered redirect URI as both the callback and the discovery `Redirect_URL`, and
    /// `login_timeout_secs`. Credentials inline: they are the sandbox's.
    #[must_use]
    pub fn service_config(&self, login_timeout_secs: u64) -> String {
        let redirect = self.redirect_uri();
        let mut text = format!(
            "# mc-io-tokio login service, against the Mobile Connect sandbox at {base}\n\
             redirect_uri = \"{redirect}\"\n\
             login_timeout_secs = {login_timeout_secs}\n\n\
             [auth]\n\
             client_name = \"Sandbox Shop\"\n\n\
             [discovery]\n\
             endpoint = \"{discovery}\"\n\
             client_id = \"{DISCOVERY_CLIENT_ID}\"\n\
             client_secret = \"{DISCOVERY_CLIENT_SECRET}\"\n\
             redirect_uri = \"{redirect}\"\n",
            base = self.base,
            discovery = self.discovery_url(),
        );
        for op in &OPERATORS {
            let secret = self.client_secret(op.name).unwrap_or_default();
            text.push_str(&format!(
                "\n[operators.\"{id}\"]\n\
                 issuer = \"{issuer}\"\n\
                 client_id = \"{client_id}\"\n\
                 client_secret = \"{secret}\"\n\
                 fetch_metadata = true\n\
                 mcc_mnc = \"{mcc}_{mnc}\"\n",
                id = op.display,
                issuer = self.issuer(op.name),
                client_id = op.client_id,
                mcc = op.mcc,
                mnc = op.mnc,
            ));
        }
        text
    }

    /// An operator's issuer.
    #[must_use]
    pub fn issuer(&self, operator: &str) -> String {
        format!("{}/op/{operator}", self.base)
    }

    /// The operator facts by name.
    #[must_use]
    pub fn operator(name: &str) -> Option<&'static OperatorInfo> {
        OPERATORS.iter().find(|o| o.name == name)
    }

    /// Switch a fault on for `target` at every operator (and discovery), until cleared.
    pub fn set_fault(&self, target: Target, fault: Fault) {
        self.lock().faults.insert((None, target), fault);
    }

    /// Switch a fault on for `target` at one operator only.
    pub fn set_operator_fault(&self, operator: &str, target: Target, fault: Fault) {
        let index = OPERATORS.iter().position(|o| o.name == operator);
        self.lock().faults.insert((index, target), fault);
    }

    /// The fault switched on for `target` at operator `index` (or at every operator).
    fn fault(&self, operator: Option<usize>, target: Target) -> Option<Fault> {
        let state = self.lock();
        state
            .faults
            .get(&(operator, target))
            .or_else(|| state.faults.get(&(None, target)))
            .cloned()
    }

    /// Clear every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The client secret `operator` currently accepts (initially [`OperatorInfo::client_secret`]).
    #[must_use]
    pub fn client_secret(&self, operator: &str) -> Option<String> {
        let index = OPERATORS.iter().position(|o| o.name == operator)?;
        self.lock().secrets.get(index).cloned()
    }

    /// Register another client secret for the SP at `operator` (e.g. a 32-byte one for HS256
    /// id_tokens). Registry entries, discovery answers and the token endpoint use it from now on.
    pub fn set_client_secret(&self, operator: &str, secret: &str) {
        let Some(index) = OPERATORS.iter().position(|o| o.name == operator) else {
            return;
        };
        if let Some(slot) = self.lock().secrets.get_mut(index) {
            secret.clone_into(slot);
        }
    }

    /// The signing key `operator` currently uses (its public half is in the JWKS).
    #[must_use]
    pub fn signing_key(&self, operator: &str) -> Option<SigningKey> {
        let index = OPERATORS.iter().position(|o| o.name == operator)?;
        self.lock().keys.get(index)?.first().cloned()
    }

    /// Rotate `operator`'s signing key: the next key of its pool, under a new `kid`. The old key
    /// leaves the JWKS.
    pub fn rotate_keys(&self, operator: &str) {
        let Some(index) = OPERATORS.iter().position(|o| o.name == operator) else {
            return;
        };
        let mut state = self.lock();
        let Some(rotation) = state.rotations.get_mut(index) else {
            return;
        };
        *rotation += 1;
        let n = *rotation;
        if let (Some(keys), Some(info)) = (state.keys.get_mut(index), OPERATORS.get(index)) {
            *keys = vec![SigningKey::from_pool(
                info.family,
                n,
                format!("{}-key-{n}", info.name),
            )];
        }
    }

    /// How long a never-answering handset keeps the authorize request waiting over HTTP.
    #[must_use]
    pub fn handset_wait(&self) -> Duration {
        self.handset_wait
    }

    /// The requests served so far (`METHOD /path`), for tests that count calls.
    #[must_use]
    pub fn request_log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// The requests served so far, whole (path and query, headers, body), for tests that check
    /// what the SP put where.
    #[must_use]
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().requests.clone()
    }

    /// Answer one request in memory.
    #[must_use]
    pub fn handle(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        self.handle_with_delay(request).0
    }

    /// Answer one request, with how long an HTTP server should wait before sending it.
    #[must_use]
    pub fn handle_with_delay(&self, request: &Request<Vec<u8>>) -> (Response<Vec<u8>>, Duration) {
        let path = request.uri().path().to_owned();
        {
            let mut state = self.lock();
            state.log.push(format!("{} {path}", request.method()));
            state.requests.push(LoggedRequest {
                method: request.method().to_string(),
                uri: request
                    .uri()
                    .path_and_query()
                    .map_or_else(|| path.clone(), ToString::to_string),
                headers: request
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: request.body().clone(),
            });
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (operator, target) = match segments.as_slice() {
            ["discovery", "v2", "discovery"] => (None, Target::Discovery),
            ["discovery", "operator-selection"] => {
                return (self.selection_page(request), Duration::ZERO);
            }
            ["discovery", "operator-selection", "choose"] => {
                return (self.selection_choice(request), Duration::ZERO);
            }
            ["op", name, rest @ ..] => {
                let Some(index) = OPERATORS.iter().position(|o| o.name == *name) else {
                    return (
                        oauth_error(404, "not_found", "no such operator"),
                        Duration::ZERO,
                    );
                };
                let target = match rest {
                    [".well-known", "openid-configuration"] => Target::Metadata,
                    ["jwks"] | ["keys", _] => Target::Jwks,
                    ["authorize"] => Target::Authorize,
                    ["token"] => Target::Token,
                    ["revoke"] => Target::Revocation,
                    ["userinfo"] => Target::UserInfo,
                    ["premiuminfo"] => Target::PremiumInfo,
                    ["si-authorize"] => Target::SiAuthorize,
                    ["bc-authorize"] => Target::BcAuthorize,
                    _ => {
                        return (
                            oauth_error(404, "not_found", "no such endpoint"),
                            Duration::ZERO,
                        );
                    }
                };
                (Some(index), target)
            }
            _ => {
                return (
                    oauth_error(404, "not_found", "no such path"),
                    Duration::ZERO,
                );
            }
        };
        let fault = self.fault(operator, target);
        if let Some(answer) = fault.as_ref().and_then(|f| f.short_circuit(&self.base)) {
            return answer;
        }
        let delay = match fault {
            Some(Fault::Slow(d)) => d,
            _ => Duration::ZERO,
        };
        let fault = fault.as_ref();
        let (answer, extra) = match operator {
            None => (self.discovery(request), Duration::ZERO),
            Some(index) => self.gateway(index, target, request, fault),
        };
        (answer, delay + extra)
    }
}
