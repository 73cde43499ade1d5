//! Discovery: ask an API exchange which operator serves a user, and turn its answer into an
//! operator context. Optional since operators hand out credentials directly, but still run by
//! operators and aggregators.

use std::fmt;

use http::header::{HeaderName, HeaderValue, LOCATION};
use serde::Deserialize;
use url::Url;

use crate::endpoint::Endpoint;
use crate::error::{Error, MisuseError, OperatorError, ProtocolError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::registry::{OperatorConfig, Registration};
use crate::secret::{ClientSecret, Msisdn, SubscriberId};
use crate::wire::{self, BasicAuthEncoding, lenient};

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
}

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
        })
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
    /// # Errors
    /// [`MisuseError`] for unusable credentials or header values.
    pub fn discover(&self, query: &DiscoveryQuery) -> Result<DiscoveryExchange, Error> {
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
        })
    }
}

/// One discovery request.
#[derive(Debug)]
#[must_use]
pub struct DiscoveryExchange {
    prepared: Prepared,
}

/// What discovery answered.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiscoveryOutcome {
    /// Send the browser to this operator selection page; it comes back to the discovery
    /// `Redirect_URL` (read it with [`SelectionReturn::parse`]).
    OperatorSelection {
        /// The selection page.
        url: Url,
    },
    /// The operator serving the user.
    Found(DiscoveryAnswer),
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
#[must_use]
pub fn ttl_expiry(ttl: Option<u64>, now: UnixTime) -> UnixTime {
    let secs = ttl.map_or(0, |t| if t < 100_000_000_000 { t } else { t / 1000 });
    UnixTime::from_secs(secs.clamp(
        now.plus(MIN_TTL_SECS).as_secs(),
        now.plus(MAX_TTL_SECS).as_secs(),
    ))
}

impl DiscoveryAnswer {
    /// Parse a 200 discovery body naming an operator.
    ///
    /// # Errors
    /// [`Error::Refused`] for an error body (served with 200 by some deployments),
    /// [`ProtocolError`] for anything else unusable.
    pub fn parse(body: &[u8], now: UnixTime) -> Result<DiscoveryOutcome, Error> {
        if let Some(error) = wire::parse_error_body(Endpoint::Discovery, Some(200), body) {
            return Err(error.into());
        }
        let raw: RawAnswer = wire::json(Endpoint::Discovery, body)?;
        if let Some(outcome) = selection_link(&raw.links)? {
            return Ok(outcome);
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
        }))
    }
}

fn selection_link(links: &[Link]) -> Result<Option<DiscoveryOutcome>, Error> {
    match links.iter().find(|l| l.rel == "operatorSelection") {
        Some(link) => Ok(Some(DiscoveryOutcome::OperatorSelection {
            url: wire::parse_url(&link.href, "operatorSelection").map_err(|_| {
                ProtocolError::InvalidField {
                    endpoint: Endpoint::Discovery,
                    field: "operatorSelection",
                    reason: "not an absolute http(s) URL",
                }
            })?,
        })),
        None => Ok(None),
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
        let status = response.status().as_u16();
        let body = response.body();
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or(ProtocolError::MissingField {
                    endpoint: Endpoint::Discovery,
                    field: "Location",
                })?;
            let url = wire::parse_url(location, "operatorSelection").map_err(|_| {
                ProtocolError::InvalidField {
                    endpoint: Endpoint::Discovery,
                    field: "Location",
                    reason: "not an absolute http(s) URL",
                }
            })?;
            return Ok(DiscoveryOutcome::OperatorSelection { url });
        }
        match status {
            200 => DiscoveryAnswer::parse(body, now),
            202 => {
                if let Some(error) = wire::parse_error_body(Endpoint::Discovery, Some(status), body)
                {
                    return Err(error.into());
                }
                let raw: RawAnswer = wire::json(Endpoint::Discovery, body)?;
                selection_link(&raw.links)?.ok_or_else(|| {
                    ProtocolError::MissingField {
                        endpoint: Endpoint::Discovery,
                        field: "operatorSelection",
                    }
                    .into()
                })
            }
            _ => Err(
                match wire::parse_error_body(Endpoint::Discovery, Some(status), body) {
                    Some(error) => error.into(),
                    None => ProtocolError::UnexpectedStatus {
                        endpoint: Endpoint::Discovery,
                        status,
                    }
                    .into(),
                },
            ),
        }
    }
}

/// The browser's return from the operator selection page to the discovery `Redirect_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectionReturn {
    /// The operator the user picked (absent: start discovery again).
    pub mcc_mnc: Option<MccMnc>,
    /// The encrypted MSISDN (`subscriber_id`, or `subscriber_id_token`), if the page sent one.
    pub subscriber_id: Option<SubscriberId>,
}

impl SelectionReturn {
    /// Parse the return: a query string (with or without `?`) or the whole redirect URL.
    ///
    /// # Errors
    /// [`Error::Refused`] for `error` (+ `description`/`error_description`) or `err_msg`
    /// (e.g. `MSISDNNotFound`); [`ProtocolError::InvalidField`] for a malformed `mcc_mnc`;
    /// [`crate::CallbackError`] for an oversized or duplicated query.
    pub fn parse(query: &str) -> Result<Self, Error> {
        let mut pairs = wire::query_pairs(query)?;
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
    /// links (authorization, token, userinfo, premiuminfo, jwks, openid-configuration,
    /// tokenrevoke, tokenrefresh) and issuer, and the application name. The answer's
    /// `subscriber_id` is **not** kept: it belongs to one user and goes into that user's login
    /// hint. Without an `issuer` link, apply the metadata
    /// ([`OperatorConfig::metadata_exchange`], [`OperatorConfig::with_metadata`]) before
    /// [`OperatorConfig::build`].
    ///
    /// `id` names the operator in per-login state (e.g. the `mcc_mnc`); `redirect_uri` is the
    /// SP's registered callback.
    ///
    /// # Errors
    /// [`ProtocolError::MissingField`] when the answer has no authorization or token link;
    /// [`MisuseError::InvalidUrl`] for unusable URLs.
    pub fn from_discovery(
        answer: &DiscoveryAnswer,
        id: impl Into<String>,
        redirect_uri: &str,
    ) -> Result<Self, Error> {
        let missing = |field| ProtocolError::MissingField {
            endpoint: Endpoint::Discovery,
            field,
        };
        let authorization = answer
            .link("authorization")
            .ok_or(missing("authorization link"))?;
        let token = answer.link("token").ok_or(missing("token link"))?;
        let mut config = Self::new(Registration {
            operator_id: id.into(),
            client_id: answer.client_id.clone(),
            client_secret: answer.client_secret.clone(),
            redirect_uri: redirect_uri.to_owned(),
        })?
        .authorization(authorization)?
        .token(token)?;
        if let Some(issuer) = answer.link("issuer") {
            config = config.issuer(issuer);
        }
        if let Some(name) = &answer.client_name {
            config = config.client_name(name.clone());
        }
        type Setter = fn(OperatorConfig, &str) -> Result<OperatorConfig, Error>;
        let links: [(&str, Setter); 6] = [
            ("userinfo", Self::userinfo),
            ("premiuminfo", Self::premiuminfo),
            ("jwks", Self::jwks),
            ("openid-configuration", Self::metadata_url),
            ("tokenrevoke", Self::revocation),
            ("tokenrefresh", Self::refresh),
        ];
        for (rel, set) in links {
            if let Some(href) = answer.link(rel) {
                config = set(config, href)?;
            }
        }
        Ok(config)
    }
}
