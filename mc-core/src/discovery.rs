//! Discovery: ask an API exchange which operator serves a user, and turn its answer into an
//! operator context. Optional since operators hand out credentials directly, but still run by
//! operators and aggregators.

use std::fmt;

use http::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::endpoint::Endpoint;
use crate::error::{CallbackError, Error, MisuseError, OperatorError, ProtocolError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::metadata::metadata_url;
use crate::registry::{OperatorConfig, Registration};
use crate::secret::{ClientSecret, Entropy, Msisdn, State, SubscriberId, random_token};
use crate::wire::{self, BasicAuthEncoding, Classified, lenient};

/// A mobile country code and network code pair (MCC 3 digits, MNC 2 or 3 digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MccMnc {
    mcc: String,
    mnc: String,
}

impl MccMnc {
    /// Validate an MCC/MNC pair.
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] unless MCC is 3 digits and MNC 2 or 3 digits.
    pub fn new(mcc: &str, mnc: &str) -> Result<Self, Error> {
        let digits = |s: &str, lens: &[usize]| {
            lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(mcc, &[3]) {
            return Err(MisuseError::InvalidParameter {
                name: "mcc",
                reason: "not 3 digits",
            }
            .into());
        }
        if !digits(mnc, &[2, 3]) {
            return Err(MisuseError::InvalidParameter {
                name: "mnc",
                reason: "not 2 or 3 digits",
            }
            .into());
        }
        Ok(Self {
            mcc: mcc.to_owned(),
            mnc: mnc.to_owned(),
        })
    }

    /// The `mcc_mnc` form `<mcc>_<mnc>` sent back by the selection page.
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] for any other shape.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let (mcc, mnc) = value.split_once('_').ok_or(MisuseError::InvalidParameter {
            name: "mcc_mnc",
            reason: "not <mcc>_<mnc>",
        })?;
        Self::new(mcc, mnc)
    }

    /// The MCC.
    #[must_use]
    pub fn mcc(&self) -> &str {
        &self.mcc
    }

    /// The MNC.
    #[must_use]
    pub fn mnc(&self) -> &str {
        &self.mnc
    }
}

impl fmt::Display for MccMnc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.mcc, self.mnc)
    }
}

/// The SP's account at a discovery service.
#[derive(Clone, Debug)]
pub struct DiscoveryService {
    endpoint: Url,
    client_id: String,
    client_secret: ClientSecret,
    redirect_url: Url,
    basic_auth: BasicAuthEncoding,
    allow_plain_http: bool,
    require_selection_state: bool,
    selection_timeout_secs: u64,
}

/// How long a browser may take on the operator selection page (default of
/// [`DiscoveryService::selection_timeout_secs`]).
pub const SELECTION_TIMEOUT_SECS: u64 = 600;

/// What to discover by. Build with one of the constructors, then add the optional hints.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct DiscoveryQuery {
    msisdn: Option<Msisdn>,
    identified: Option<MccMnc>,
    selected: Option<MccMnc>,
    source_ip: Option<String>,
    local_client_ip: Option<String>,
    using_mobile_data: Option<bool>,
    manually_select: bool,
    ignore_cookies: bool,
    correlation_id: Option<String>,
}

impl DiscoveryQuery {
    /// By phone number (sent in a POST body, never in a URL).
    pub fn msisdn(msisdn: Msisdn) -> Self {
        Self {
            msisdn: Some(msisdn),
            ..Self::default()
        }
    }

    /// By the MCC/MNC read from the SIM (`Identified-MCC`/`Identified-MNC`).
    pub fn identified(mcc_mnc: MccMnc) -> Self {
        Self {
            identified: Some(mcc_mnc),
            ..Self::default()
        }
    }

    /// By the MCC/MNC the user picked on the selection page (`Selected-MCC`/`Selected-MNC`).
    pub fn selected(mcc_mnc: MccMnc) -> Self {
        Self {
            selected: Some(mcc_mnc),
            ..Self::default()
        }
    }

    /// With no identifier: by the caller's IP (see [`DiscoveryQuery::source_ip`]), or else the
    /// service answers with its operator selection page.
    pub fn by_ip_or_selection() -> Self {
        Self::default()
    }

    /// `X-Source-IP`: the end user's public IP address.
    pub fn source_ip(mut self, ip: impl Into<String>) -> Self {
        self.source_ip = Some(ip.into());
        self
    }

    /// `Local-Client-IP`.
    pub fn local_client_ip(mut self, ip: impl Into<String>) -> Self {
        self.local_client_ip = Some(ip.into());
        self
    }

    /// `Using-Mobile-Data`.
    pub fn using_mobile_data(mut self, on: bool) -> Self {
        self.using_mobile_data = Some(on);
        self
    }

    /// `Manually-Select=true`: always show the selection page.
    pub fn manually_select(mut self) -> Self {
        self.manually_select = true;
        self
    }

    /// `Ignore-Cookies=true`.
    pub fn ignore_cookies(mut self) -> Self {
        self.ignore_cookies = true;
        self
    }

    /// `correlation_id`.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }
}

impl DiscoveryService {
    /// A discovery service account: its endpoint (e.g. `https://.../v2/discovery`), the SP's
    /// discovery credentials and the registered discovery redirect URL.
    ///
    /// # Errors
    /// [`MisuseError::InvalidUrl`].
    pub fn new(
        endpoint: &str,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        redirect_url: &str,
    ) -> Result<Self, Error> {
        Ok(Self {
            endpoint: wire::parse_url(endpoint, "discovery endpoint")?,
            client_id: client_id.into(),
            client_secret,
            redirect_url: wire::parse_url(redirect_url, "discovery Redirect_URL")?,
            // The GSMA discovery API documents `base64(client_id:client_secret)` as is.
            basic_auth: BasicAuthEncoding::Raw,
            allow_plain_http: false,
            require_selection_state: false,
            selection_timeout_secs: SELECTION_TIMEOUT_SECS,
        })
    }

    /// Accept plain `http://` for this discovery service, whatever its host: its endpoint, its
    /// selection links and `Location` headers, and the operator endpoints its answers name
    /// (an answer keeps the setting, and [`OperatorConfig::from_discovery`] passes it on with
    /// [`OperatorConfig::allow_plain_http`]). Default `false`: https only, except on a loopback
    /// address (127.0.0.0/8, `::1`; not the name `localhost`). Only for a test network: over
    /// plain HTTP the credentials and the subscriber's identifiers cross it in clear.
    #[must_use]
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// Require the selection page to send the selection leg's `state` back (default `false`).
    /// mc-core always adds `state` to the selection page URL and always checks it when the
    /// return carries one; the GSMA selection pages send back only `mcc_mnc` and
    /// `subscriber_id`, so by default a return without it is judged by the browser's
    /// [`SelectionLeg`] alone. Set this for a service that echoes `state`: then a forged
    /// return is refused even while the victim's browser is on the selection page.
    #[must_use]
    pub fn require_selection_state(mut self, require: bool) -> Self {
        self.require_selection_state = require;
        self
    }

    /// How long the browser may stay on the operator selection page, in seconds (default
    /// [`SELECTION_TIMEOUT_SECS`]); a later return is refused
    /// ([`CallbackError::SelectionExpired`]).
    #[must_use]
    pub fn selection_timeout_secs(mut self, secs: u64) -> Self {
        self.selection_timeout_secs = secs;
        self
    }

    /// How the discovery credentials go into HTTP Basic (default: [`BasicAuthEncoding::Raw`],
    /// as the GSMA discovery API documents).
    #[must_use]
    pub fn basic_auth(mut self, encoding: BasicAuthEncoding) -> Self {
        self.basic_auth = encoding;
        self
    }

    /// The discovery request: a form POST when an MSISDN is sent, a GET otherwise.
    ///
    /// `entropy` draws the `state` of the operator selection leg, used only if the service
    /// answers with its selection page ([`DiscoveryOutcome::OperatorSelection`]).
    ///
    /// # Errors
    /// [`MisuseError`] for unusable credentials or header values, or
    /// [`MisuseError::PlainHttp`] for a plain `http` endpoint on a host that is not a loopback
    /// address (unless [`DiscoveryService::allow_plain_http`]).
    pub fn discover(
        &self,
        query: &DiscoveryQuery,
        entropy: &mut dyn Entropy,
    ) -> Result<DiscoveryExchange, Error> {
        wire::check_plain_http(&self.endpoint, "discovery endpoint", self.allow_plain_http)?;
        let bool_str = |b: bool| if b { "true" } else { "false" };
        let mut params: Vec<(&str, &str)> = vec![("Redirect_URL", self.redirect_url.as_str())];
        if let Some(m) = &query.msisdn {
            params.push(("MSISDN", m.expose_secret().trim_start_matches('+')));
        }
        if let Some(id) = &query.identified {
            params.push(("Identified-MCC", id.mcc()));
            params.push(("Identified-MNC", id.mnc()));
        }
        if let Some(sel) = &query.selected {
            params.push(("Selected-MCC", sel.mcc()));
            params.push(("Selected-MNC", sel.mnc()));
        }
        if let Some(ip) = &query.local_client_ip {
            params.push(("Local-Client-IP", ip));
        }
        if let Some(on) = query.using_mobile_data {
            params.push(("Using-Mobile-Data", if on { "1" } else { "0" }));
        }
        if query.manually_select {
            params.push(("Manually-Select", bool_str(true)));
        }
        if query.ignore_cookies {
            params.push(("Ignore-Cookies", bool_str(true)));
        }
        if let Some(id) = &query.correlation_id {
            params.push(("correlation_id", id));
        }
        let mut prepared = if query.msisdn.is_some() {
            wire::post_form(&self.endpoint, "discovery endpoint", wire::form(params))?
        } else {
            let mut url = self.endpoint.clone();
            url.query_pairs_mut().extend_pairs(params);
            wire::get(&url, "discovery endpoint", "application/json")?
        };
        if let Some(ip) = &query.source_ip {
            let value = HeaderValue::from_str(ip).map_err(|_| MisuseError::InvalidParameter {
                name: "X-Source-IP",
                reason: "not a valid header value",
            })?;
            prepared = prepared.header(HeaderName::from_static("x-source-ip"), value);
        }
        let auth = wire::basic_auth(&self.client_id, &self.client_secret, self.basic_auth)?;
        Ok(DiscoveryExchange {
            prepared: wire::with_authorization(prepared, auth),
            allow_plain_http: self.allow_plain_http,
            selection: PendingLeg {
                state: State::new(random_token(entropy)),
                require_state: self.require_selection_state,
                timeout_secs: self.selection_timeout_secs,
            },
        })
    }
}

/// One discovery request.
#[derive(Debug)]
#[must_use]
pub struct DiscoveryExchange {
    prepared: Prepared,
    allow_plain_http: bool,
    selection: PendingLeg,
}

/// The selection leg an exchange hands out if the service answers with its selection page.
#[derive(Debug)]
struct PendingLeg {
    state: State,
    require_state: bool,
    timeout_secs: u64,
}

impl PendingLeg {
    /// The leg, and the selection page URL with its `state` added.
    fn start(self, mut url: Url, now: UnixTime) -> DiscoveryOutcome {
        url.query_pairs_mut()
            .append_pair("state", self.state.expose_secret());
        DiscoveryOutcome::OperatorSelection {
            url,
            leg: SelectionLeg {
                state: self.state,
                issued_at: now,
                expires_at: now.plus(self.timeout_secs),
                require_state: self.require_state,
            },
        }
    }
}

/// What discovery answered.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiscoveryOutcome {
    /// Send the browser to this operator selection page, and bind `leg` to that browser; it
    /// comes back to the discovery `Redirect_URL` (read it with [`SelectionReturn::parse`],
    /// which needs the leg).
    OperatorSelection {
        /// The selection page (with the leg's `state` added to its query).
        url: Url,
        /// The selection leg: keep it for this browser only, and take it out once.
        leg: SelectionLeg,
    },
    /// The operator serving the user.
    Found(DiscoveryAnswer),
}

/// One browser's trip through the operator selection page (RFC 6749 10.12: the return must
/// be tied to the browser that was sent away, or an attacker's link
/// `?mcc_mnc=..&subscriber_id=ATTACKER` logs the victim into the attacker's account).
///
/// Small and serializable like [`crate::Authorizing`]: a `state` drawn from the injected
/// [`Entropy`] (256 bits), the time the leg started and when it expires. It carries no secret of
/// the SP, but it is what proves that a return was solicited, so **the host must**:
/// - keep it for the browser it sends to the selection page and for no other: server-side,
///   keyed by a random id in a cookie, or in a cookie that is encrypted and integrity-protected
///   (AEAD); `Secure`, `HttpOnly`, `SameSite=Lax` (the return is a cross-site top-level GET),
///   scoped to the discovery `Redirect_URL` path, expiring at [`SelectionLeg::expires_at`];
/// - take it out **exactly once** when the browser returns, whatever the outcome (delete the
///   cookie or the stored value), and hand it to [`SelectionReturn::parse`], which consumes it;
/// - refuse a return from a browser that holds no leg: without a leg there is no way to call
///   [`SelectionReturn::parse`].
///
/// The return's `state`, when the page sends it back, must equal the leg's (constant time); a
/// service that always echoes it should be configured with
/// [`DiscoveryService::require_selection_state`], so that a return without it is refused.
///
/// A leg is not `Clone`, and reading a return consumes it:
///
/// ```compile_fail,E0382
/// # fn twice(leg: mc_core::SelectionLeg, now: mc_core::UnixTime) {
/// let first = mc_core::SelectionReturn::parse("mcc_mnc=234_15", leg, now);
/// let again = mc_core::SelectionReturn::parse("mcc_mnc=234_15", leg, now);
/// # }
/// ```
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct SelectionLeg {
    state: State,
    issued_at: UnixTime,
    expires_at: UnixTime,
    #[serde(default)]
    require_state: bool,
}

impl SelectionLeg {
    /// A leg started at `now`, for a host that drives discovery by other means (a
    /// [`DiscoveryExchange`] makes its own when the service answers with its selection page).
    /// Add [`SelectionLeg::state`] to the selection page URL as `state`.
    pub fn new(entropy: &mut dyn Entropy, now: UnixTime, timeout_secs: u64) -> Self {
        Self {
            state: State::new(random_token(entropy)),
            issued_at: now,
            expires_at: now.plus(timeout_secs),
            require_state: false,
        }
    }

    /// The leg's `state` (already on the selection page URL that came with it).
    #[must_use]
    pub fn state(&self) -> &State {
        &self.state
    }

    /// When the leg started.
    #[must_use]
    pub fn issued_at(&self) -> UnixTime {
        self.issued_at
    }

    /// When the leg expires (a cookie holding it should expire then too).
    #[must_use]
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }
}

/// A discovery answer naming the serving operator.
#[derive(Clone)]
#[non_exhaustive]
pub struct DiscoveryAnswer {
    /// `serving_operator`.
    pub serving_operator: Option<String>,
    /// `country`.
    pub country: Option<String>,
    /// `currency`.
    pub currency: Option<String>,
    /// The SP's client_id at this operator.
    pub client_id: String,
    /// The SP's client secret at this operator.
    pub client_secret: ClientSecret,
    /// The application short name (`client_name`, `applicationShortName` member or link).
    pub client_name: Option<String>,
    /// The `links` (rel, href) in document order, `scope` and `applicationShortName` included.
    pub links: Vec<(String, String)>,
    /// The encrypted MSISDN: for this user only, never cache it with the operator.
    pub subscriber_id: Option<SubscriberId>,
    /// When this answer expires (the `ttl`, clamped to [now + 5 min, now + 180 days]).
    pub expires_at: UnixTime,
    /// `correlation_id`.
    pub correlation_id: Option<String>,
    /// Whether the discovery service that answered accepts plain `http://`
    /// ([`DiscoveryService::allow_plain_http`]); passed on to the operator configuration.
    allow_plain_http: bool,
}

impl fmt::Debug for DiscoveryAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryAnswer")
            .field("serving_operator", &self.serving_operator)
            .field("country", &self.country)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("client_name", &self.client_name)
            .field("links", &self.links)
            .field("subscriber_id", &self.subscriber_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl DiscoveryAnswer {
    /// The href of the first link with this `rel`.
    #[must_use]
    pub fn link(&self, rel: &str) -> Option<&str> {
        self.links
            .iter()
            .find(|(r, _)| r == rel)
            .map(|(_, h)| h.as_str())
    }
}

#[derive(Deserialize)]
struct Link {
    rel: String,
    href: String,
}

#[derive(Deserialize)]
struct LinkList {
    #[serde(default)]
    link: Vec<Link>,
}

#[derive(Deserialize)]
struct Apis {
    #[serde(default)]
    operatorid: Option<LinkList>,
}

#[derive(Deserialize)]
struct RawOperator {
    #[serde(default)]
    serving_operator: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<ClientSecret>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default, rename = "applicationShortName")]
    application_short_name: Option<String>,
    #[serde(default)]
    subscriber_id: Option<SubscriberId>,
    #[serde(default)]
    apis: Option<Apis>,
}

#[derive(Deserialize)]
struct RawAnswer {
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    ttl: Option<u64>,
    #[serde(default)]
    subscriber_id: Option<SubscriberId>,
    #[serde(default)]
    response: Option<RawOperator>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    links: Vec<Link>,
}

const MIN_TTL_SECS: u64 = 5 * 60;
const MAX_TTL_SECS: u64 = 180 * 24 * 3600;

/// The discovery `ttl` as an expiry time: epoch milliseconds or seconds (told apart by
/// magnitude: below 10^11 is seconds), clamped to [now + 5 min, now + 180 days].
/// Not part of the API (hidden from the docs): public for the property tests only.
#[doc(hidden)]
#[must_use]
pub fn ttl_expiry(ttl: Option<u64>, now: UnixTime) -> UnixTime {
    let secs = ttl.map_or(0, |t| if t < 100_000_000_000 { t } else { t / 1000 });
    UnixTime::from_secs(secs.clamp(
        now.plus(MIN_TTL_SECS).as_secs(),
        now.plus(MAX_TTL_SECS).as_secs(),
    ))
}

impl DiscoveryAnswer {
    /// Parse a 200 discovery body naming an operator: an answer of a service on https (or a
    /// loopback address). The selection page's `state` is drawn from `entropy` if the body
    /// names the operator selection page instead.
    ///
    /// # Errors
    /// [`Error::Refused`] for an error body (served with 200 by some deployments),
    /// [`ProtocolError`] for anything else unusable (a plain `http` selection link on a host
    /// that is not a loopback address included).
    pub fn parse(
        body: &[u8],
        entropy: &mut dyn Entropy,
        now: UnixTime,
    ) -> Result<DiscoveryOutcome, Error> {
        let leg = PendingLeg {
            state: State::new(random_token(entropy)),
            require_state: false,
            timeout_secs: SELECTION_TIMEOUT_SECS,
        };
        if let Some(error) = wire::parse_error_body(Endpoint::Discovery, Some(200), body) {
            return Err(error.into());
        }
        Self::parse_with(body, false, leg, now)
    }

    fn parse_with(
        body: &[u8],
        allow_plain_http: bool,
        leg: PendingLeg,
        now: UnixTime,
    ) -> Result<DiscoveryOutcome, Error> {
        let raw: RawAnswer = wire::json(Endpoint::Discovery, body)?;
        if let Some(url) = selection_link(&raw.links, allow_plain_http)? {
            return Ok(leg.start(url, now));
        }
        let missing = |field| ProtocolError::MissingField {
            endpoint: Endpoint::Discovery,
            field,
        };
        let response = raw.response.ok_or(missing("response"))?;
        let links: Vec<(String, String)> = response
            .apis
            .and_then(|a| a.operatorid)
            .map(|l| l.link.into_iter().map(|l| (l.rel, l.href)).collect())
            .unwrap_or_default();
        let client_name = response
            .client_name
            .or(response.application_short_name)
            .or_else(|| {
                links
                    .iter()
                    .find(|(r, _)| r == "applicationShortName")
                    .map(|(_, h)| h.clone())
            });
        Ok(DiscoveryOutcome::Found(DiscoveryAnswer {
            serving_operator: response.serving_operator,
            country: response.country,
            currency: response.currency,
            client_id: response
                .client_id
                .filter(|c| !c.is_empty())
                .ok_or(missing("client_id"))?,
            client_secret: response.client_secret.ok_or(missing("client_secret"))?,
            client_name,
            links,
            subscriber_id: raw.subscriber_id.or(response.subscriber_id),
            expires_at: ttl_expiry(raw.ttl, now),
            correlation_id: raw.correlation_id,
            allow_plain_http,
        }))
    }
}

fn selection_link(links: &[Link], allow_plain_http: bool) -> Result<Option<Url>, Error> {
    links
        .iter()
        .find(|l| l.rel == "operatorSelection")
        .map(|link| discovered_url(&link.href, "operatorSelection", allow_plain_http))
        .transpose()
}

/// A URL from a discovery answer (a link, or a `Location` header): absolute http(s), and plain
/// `http` only on a loopback address unless the service opted in.
fn discovered_url(value: &str, field: &'static str, allow_plain_http: bool) -> Result<Url, Error> {
    let url = wire::parse_url(value, field).map_err(|_| ProtocolError::InvalidField {
        endpoint: Endpoint::Discovery,
        field,
        reason: "not an absolute http(s) URL",
    })?;
    match wire::refused_plain_http(&url, allow_plain_http) {
        Some(host) => Err(ProtocolError::PlainHttp {
            endpoint: Endpoint::Discovery,
            field,
            host,
        }
        .into()),
        None => Ok(url),
    }
}

impl Exchange for DiscoveryExchange {
    type Output = DiscoveryOutcome;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Discovery
    }

    fn request(&self) -> http::Request<Vec<u8>> {
        self.prepared.to_request()
    }

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        now: UnixTime,
    ) -> Result<DiscoveryOutcome, Error> {
        match wire::classify(Endpoint::Discovery, &response)? {
            Classified::Redirect { location } => {
                let url = discovered_url(location, "Location", self.allow_plain_http)?;
                Ok(self.selection.start(url, now))
            }
            Classified::Json { status: 202, body } => {
                let raw: RawAnswer = wire::json(Endpoint::Discovery, body)?;
                let url = selection_link(&raw.links, self.allow_plain_http)?.ok_or(
                    ProtocolError::MissingField {
                        endpoint: Endpoint::Discovery,
                        field: "operatorSelection",
                    },
                )?;
                Ok(self.selection.start(url, now))
            }
            Classified::Json { body, .. } => {
                DiscoveryAnswer::parse_with(body, self.allow_plain_http, self.selection, now)
            }
            // Not in the discovery row (`wire::Accepts`).
            Classified::Jwt(_) => Err(ProtocolError::UnexpectedStatus {
                endpoint: Endpoint::Discovery,
                status: response.status().as_u16(),
            }
            .into()),
        }
    }
}

/// The browser's return from the operator selection page to the discovery `Redirect_URL`,
/// accepted only with the [`SelectionLeg`] of the browser that was sent there.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectionReturn {
    /// The operator the user picked (absent: start discovery again).
    pub mcc_mnc: Option<MccMnc>,
    /// The encrypted MSISDN (`subscriber_id`, or `subscriber_id_token`), if the page sent one.
    pub subscriber_id: Option<SubscriberId>,
}

impl SelectionReturn {
    /// Parse the return of the browser that holds `leg` (taken out of the host's store or
    /// cookie for this browser, once): a query string (with or without `?`) or the whole
    /// redirect URL (its fragment, from the first `#`, is never read).
    ///
    /// Order: bounds and duplicate parameters; `state`, when present (or required by the
    /// leg), equal to the leg's in constant time; the leg's age; then the page's error, or
    /// `mcc_mnc` and `subscriber_id`.
    ///
    /// # Errors
    /// [`CallbackError::SelectionStateMismatch`] / [`CallbackError::SelectionStateMissing`]
    /// for a return this browser's leg did not solicit; [`CallbackError::SelectionExpired`];
    /// [`Error::Refused`] for `error` (+ `description`/`error_description`) or `err_msg`
    /// (e.g. `MSISDNNotFound`); [`ProtocolError::InvalidField`] for a malformed `mcc_mnc`;
    /// [`crate::CallbackError`] for an oversized or duplicated query.
    pub fn parse(query: &str, leg: SelectionLeg, now: UnixTime) -> Result<Self, Error> {
        let mut pairs = wire::query_pairs(query)?;
        match wire::take(&mut pairs, "state") {
            Some(state) if !leg.state.matches(&state) => {
                return Err(CallbackError::SelectionStateMismatch.into());
            }
            None if leg.require_state => return Err(CallbackError::SelectionStateMissing.into()),
            _ => {}
        }
        if now > leg.expires_at {
            return Err(CallbackError::SelectionExpired {
                issued_at: leg.issued_at.as_secs(),
                expires_at: leg.expires_at.as_secs(),
                now: now.as_secs(),
            }
            .into());
        }
        let error = wire::take(&mut pairs, "error").or_else(|| wire::take(&mut pairs, "err_msg"));
        if let Some(error) = error {
            let description = wire::take(&mut pairs, "error_description")
                .or_else(|| wire::take(&mut pairs, "description"));
            return Err(OperatorError {
                endpoint: Endpoint::Discovery,
                status: None,
                error,
                description,
                uri: None,
                correlation_id: wire::take(&mut pairs, "correlation_id"),
            }
            .into());
        }
        let mcc_mnc = match wire::take(&mut pairs, "mcc_mnc").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(MccMnc::parse(&v).map_err(|_| ProtocolError::InvalidField {
                endpoint: Endpoint::Discovery,
                field: "mcc_mnc",
                reason: "not <3-digit mcc>_<2 or 3-digit mnc>",
            })?),
        };
        let subscriber_id = wire::take(&mut pairs, "subscriber_id")
            .or_else(|| wire::take(&mut pairs, "subscriber_id_token"))
            .filter(|v| !v.is_empty())
            .map(SubscriberId::new);
        Ok(Self {
            mcc_mnc,
            subscriber_id,
        })
    }

    /// The follow-up discovery query (`Selected-MCC`/`Selected-MNC`), if an operator was picked.
    #[must_use]
    pub fn discovery_query(&self) -> Option<DiscoveryQuery> {
        self.mcc_mnc.clone().map(DiscoveryQuery::selected)
    }
}

impl OperatorConfig {
    /// The configuration a discovery answer gives: the operator's credentials for this SP, its
    /// links (authorization, token, userinfo, premiuminfo, jwks, tokenrevoke, tokenrefresh) and
    /// issuer, and the application name. The answer's `subscriber_id` is **not** kept: it
    /// belongs to one user and goes into that user's login hint. Apply the metadata
    /// ([`OperatorConfig::metadata_exchange`], [`OperatorConfig::with_metadata`]) before
    /// [`OperatorConfig::build`] where the operator publishes it: its endpoints replace the
    /// links, and its `jwks_uri` alone says where the keys are.
    ///
    /// The metadata is only ever fetched from `{issuer}/.well-known/openid-configuration`
    /// (OIDC Discovery 4.3), so the `openid-configuration` link is never fetched as such:
    /// - with an `issuer` link, the `openid-configuration` link, if any, must be exactly that
    ///   issuer's metadata URL, or the answer is refused ([`ProtocolError::MetadataOrigin`]);
    /// - without one, a link of exactly the form `{issuer}/.well-known/openid-configuration`
    ///   names the issuer (the metadata fetched from it must then name that issuer exactly);
    ///   a link of another form is not used, and the host configures the issuer
    ///   ([`OperatorConfig::issuer`]) before the metadata or the build.
    ///
    /// Every URL link must be `https`, or plain `http` on a loopback address, unless the
    /// discovery service allows plain HTTP ([`DiscoveryService::allow_plain_http`], which the
    /// configuration then inherits).
    ///
    /// `id` names the operator in per-login state (e.g. the `mcc_mnc`); `redirect_uri` is the
    /// SP's registered callback.
    ///
    /// # Errors
    /// [`ProtocolError::MissingField`] when the answer has no authorization or token link;
    /// [`ProtocolError::MetadataOrigin`] as above; [`ProtocolError::PlainHttp`] or
    /// [`ProtocolError::InvalidField`] for unusable link URLs; [`MisuseError::InvalidUrl`] for
    /// an unusable `redirect_uri`.
    pub fn from_discovery(
        answer: &DiscoveryAnswer,
        id: impl Into<String>,
        redirect_uri: &str,
    ) -> Result<Self, Error> {
        let missing = |field| ProtocolError::MissingField {
            endpoint: Endpoint::Discovery,
            field,
        };
        answer
            .link("authorization")
            .ok_or(missing("authorization link"))?;
        answer.link("token").ok_or(missing("token link"))?;
        let mut config = Self::new(Registration {
            operator_id: id.into(),
            client_id: answer.client_id.clone(),
            client_secret: answer.client_secret.clone(),
            redirect_uri: redirect_uri.to_owned(),
        })?
        .allow_plain_http(answer.allow_plain_http);
        if let Some(issuer) = discovered_issuer(answer)? {
            config = config.issuer(issuer);
        }
        if let Some(name) = &answer.client_name {
            config = config.client_name(name.clone());
        }
        type Setter = fn(OperatorConfig, &str) -> Result<OperatorConfig, Error>;
        let links: [(&'static str, Setter); 7] = [
            ("authorization", Self::authorization),
            ("token", Self::token),
            ("userinfo", Self::userinfo),
            ("premiuminfo", Self::premiuminfo),
            ("jwks", Self::jwks),
            ("tokenrevoke", Self::revocation),
            ("tokenrefresh", Self::refresh),
        ];
        for (rel, set) in links {
            if let Some(href) = answer.link(rel) {
                let url = discovered_url(href, rel, answer.allow_plain_http)?;
                config = set(config, url.as_str())?;
            }
        }
        Ok(config)
    }
}

/// The issuer a discovery answer names (see [`OperatorConfig::from_discovery`]): its `issuer`
/// link, which an `openid-configuration` link must not contradict, or else the issuer of an
/// `openid-configuration` link of exactly the form `{issuer}/.well-known/openid-configuration`.
fn discovered_issuer(answer: &DiscoveryAnswer) -> Result<Option<String>, Error> {
    const WELL_KNOWN: &str = "/.well-known/openid-configuration";
    let link = answer.link("openid-configuration");
    let (issuer, field) = match (answer.link("issuer"), link) {
        (Some(issuer), Some(link)) if link != metadata_url(issuer) => {
            return Err(ProtocolError::MetadataOrigin {
                expected: metadata_url(issuer),
                found: link.to_owned(),
            }
            .into());
        }
        (Some(issuer), _) => (issuer, "issuer"),
        // Exactly `{issuer}/.well-known/...`: an issuer of its own (not empty, no terminating
        // `/`, no query or fragment) that gives this very URL back.
        (None, Some(link)) => match link.strip_suffix(WELL_KNOWN).filter(|issuer| {
            !issuer.is_empty() && !issuer.contains(['?', '#']) && metadata_url(issuer) == link
        }) {
            Some(issuer) => (issuer, "openid-configuration"),
            None => return Ok(None),
        },
        (None, None) => return Ok(None),
    };
    // The metadata will be fetched from the issuer: plain http under the rules of every link.
    // (An issuer that is no URL at all is an identifier only; its metadata cannot be fetched.)
    if let Ok(url) = Url::parse(issuer)
        && let Some(host) = wire::refused_plain_http(&url, answer.allow_plain_http)
    {
        return Err(ProtocolError::PlainHttp {
            endpoint: Endpoint::Discovery,
            field,
            host,
        }
        .into());
    }
    Ok(Some(issuer.to_owned()))
}
