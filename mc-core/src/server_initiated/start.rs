//! The start of a server-initiated login: Mobile Connect's signed request to
//! `si_authorization_endpoint` ([`crate::Discovered::si_authorize`]) and OpenID CIBA's
//! `/bc-authorize` ([`crate::Discovered::ciba_authorize`]), and the operator's answer
//! `{auth_req_id, expires_in, interval?, correlation_id?}`, which becomes the pending state.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::request::{CibaRequest, DEFAULT_SI_VERSION, RequestObject, SiRequest};
use super::{
    BackchannelMode, BackchannelPending, DEFAULT_INTERVAL_SECS, SiTransport, hash_login_hint,
    read_auth_req_id,
};
use crate::authorize::{
    AuthzText, LoginHint, acr_text, requested_levels, requested_scopes, requires_at_hash_and_amr,
};
use crate::endpoint::Endpoint;
use crate::error::{Error, MissingSetting, MisuseError, ProtocolError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::registry::Discovered;
use crate::secret::{Entropy, Nonce, NotificationToken, random_token};
use crate::wire;
use crate::wire::lenient::{self, Invalid, Read, Seconds};

/// The start of a server-initiated login, Mobile Connect SI or OpenID CIBA: send its request;
/// the operator's answer (`auth_req_id`, `expires_in`, and for CIBA `interval`) gives the
/// [`BackchannelPending`] to keep. A refusal (`invalid_request`, `unauthorized_client` for a
/// bad signature or an unregistered notification URI, `access_denied`, `invalid_scope`, ...) is
/// [`Error::Refused`] with the operator's error.
#[must_use]
pub struct BackchannelStart {
    operator: Discovered,
    endpoint: Endpoint,
    prepared: Prepared,
    /// The pending state, short of what the answer brings.
    pending: BackchannelPending,
}

/// The start of a Mobile Connect server-initiated login ([`crate::Discovered::si_authorize`]).
pub type SiStart = BackchannelStart;

/// The start of an OpenID CIBA login ([`crate::Discovered::ciba_authorize`]).
pub type CibaStart = BackchannelStart;

impl fmt::Debug for BackchannelStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackchannelStart")
            .field("operator", &self.operator.id())
            .field("mode", &self.pending.mode)
            .field("request", &self.prepared)
            .finish_non_exhaustive()
    }
}

impl BackchannelStart {
    /// How the tokens of this login will be delivered.
    #[must_use]
    pub fn mode(&self) -> BackchannelMode {
        self.pending.mode
    }
}

/// The operator's answer to a start.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    auth_req_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::member::<_, Seconds>")]
    expires_in: Option<Read<u64>>,
    #[serde(default, deserialize_with = "lenient::member::<_, Seconds>")]
    interval: Option<Read<u64>>,
    #[serde(default)]
    correlation_id: Option<String>,
    /// An `error` member that did not read as an OAuth error body: refused, never a pending
    /// state with the member ignored.
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

/// A readable, positive number of seconds, or the error naming the member.
fn seconds(endpoint: Endpoint, field: &'static str, value: Read<u64>) -> Result<u64, Error> {
    match value {
        Ok(0) => Err(ProtocolError::InvalidField {
            endpoint,
            field,
            reason: "not positive",
        }
        .into()),
        Ok(secs) => Ok(secs),
        Err(Invalid(reason)) => Err(ProtocolError::InvalidField {
            endpoint,
            field,
            reason,
        }
        .into()),
    }
}

impl Exchange for BackchannelStart {
    type Output = BackchannelPending;

    fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    crate::exchange::operator_step!();

    fn respond(
        self,
        response: http::Response<Vec<u8>>,
        now: UnixTime,
    ) -> Result<BackchannelPending, Error> {
        let endpoint = self.endpoint;
        let answer: Answer = wire::expect_json(endpoint, &response)?;
        if answer.error.is_some() {
            return Err(ProtocolError::InvalidField {
                endpoint,
                field: "error",
                reason: "an error member in a success answer",
            }
            .into());
        }
        let auth_req_id = read_auth_req_id(endpoint, answer.auth_req_id)?;
        let expires_in = answer.expires_in.ok_or(ProtocolError::MissingField {
            endpoint,
            field: "expires_in",
        })?;
        let expires_in = seconds(endpoint, "expires_in", expires_in)?;
        // `interval: 0` names no minimum wait: polled once a second, never in a busy loop.
        let interval = match answer.interval {
            Some(Ok(0)) => 1,
            Some(interval) => seconds(endpoint, "interval", interval)?,
            None => DEFAULT_INTERVAL_SECS,
        };
        let mut pending = self.pending;
        pending.auth_req_id = auth_req_id;
        pending.expires_at = now.plus(expires_in);
        pending.interval = interval;
        pending.next_poll_at = super::poll_time(now, interval);
        if answer
            .correlation_id
            .as_ref()
            .is_some_and(|id| id.len() > super::MAX_CORRELATION_ID_BYTES)
        {
            return Err(crate::ProtocolError::InvalidField {
                endpoint,
                field: "correlation_id",
                reason: "too long",
            }
            .into());
        }
        if answer.correlation_id.is_some() {
            pending.correlation_id = answer.correlation_id;
        }
        Ok(pending)
    }
}

/// The outer parameters of an SI request as a JSON body, in their fixed order.
#[derive(Serialize)]
struct JsonParameters<'a> {
    client_id: &'a str,
    scope: &'a str,
    response_type: &'a str,
    request: &'a str,
}

/// The SI request in the operator's transport.
fn si_prepared(
    url: &url::Url,
    transport: SiTransport,
    params: &JsonParameters<'_>,
) -> Result<Prepared, Error> {
    let what = "si_authorization_endpoint";
    let pairs = [
        ("client_id", params.client_id),
        ("scope", params.scope),
        ("response_type", params.response_type),
        ("request", params.request),
    ];
    let with_query = || {
        let mut url = url.clone();
        url.query_pairs_mut().extend_pairs(pairs);
        url
    };
    match transport {
        SiTransport::GetQuery => wire::get(&with_query(), what, "application/json"),
        SiTransport::PostQuery => wire::post_query(&with_query(), what),
        SiTransport::PostForm => wire::post_form(url, what, wire::form(pairs)),
        SiTransport::PostJson => {
            let body = serde_json::to_vec(params).map_err(|_| MisuseError::InvalidParameter {
                name: "request",
                reason: "the parameters do not serialize",
            })?;
            wire::post_json(url, what, body)
        }
    }
}

/// The Mobile Connect SI version: the metadata's first `mc_si_*` version, else the default.
fn si_version(operator: &Discovered) -> String {
    operator
        .metadata()
        .and_then(|m| m.mc_version.iter().find(|v| v.starts_with("mc_si_")))
        .map_or_else(|| DEFAULT_SI_VERSION.to_owned(), String::clone)
}

impl Discovered {
    fn incomplete(&self, missing: MissingSetting) -> Error {
        MisuseError::IncompleteOperator {
            operator: self.id().to_owned(),
            missing,
        }
        .into()
    }

    /// Start a Mobile Connect server-initiated login: the signed request object (see the
    /// crate's `server_initiated` module) sent to `si_authorization_endpoint` with the outer
    /// `client_id`, `scope`, `response_type` (`mc_si_async_code` for notification mode,
    /// `mc_si_polling` for polling) and `request`, in the operator's [`SiTransport`]. No
    /// client authentication is sent: the signed request object authenticates the SP.
    ///
    /// The request object is a JWS signed with the context's [`crate::SpSigningKey`] (header
    /// `alg`, `kid`, `typ: JWT`) whose claims are `iss` (the client_id), `aud` (the issuer),
    /// `response_type`, `client_id`, `scope`, `version`, `nonce`, `login_hint`, `acr_values`
    /// (a string), in notification mode `notification_uri` and `client_notification_token`,
    /// the optional `correlation_id`, `context`, `binding_message`, `client_name` and
    /// `claims`, and `iat`, `exp` (300 s later) and `jti`. The nonce, the notification token
    /// and the `jti` are fresh 256-bit values from `entropy`; equal inputs give byte-identical
    /// requests.
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] without a `si_authorization_endpoint`;
    /// [`MisuseError::IncompleteOperator`] without a signing key, or (notification mode)
    /// without a notification URI; [`MisuseError::InvalidParameter`] for an unusable option
    /// (no level of assurance, a login hint method the operator does not support);
    /// [`MisuseError::AuthzFieldMissing`] for `mc_authz` without `context` or `client_name`
    /// (the request's, else the context's); [`MisuseError::TooLong`] for a `client_name`,
    /// `context` or `binding_message` over the operator's [`crate::MessageLimits`].
    pub fn si_authorize(
        &self,
        request: SiRequest,
        entropy: &mut dyn Entropy,
        now: UnixTime,
    ) -> Result<SiStart, Error> {
        let url =
            self.endpoints()
                .si_authorization
                .as_ref()
                .ok_or(MisuseError::MissingEndpoint {
                    endpoint: "si_authorization_endpoint",
                })?;
        let key = self
            .signing_key()
            .ok_or_else(|| self.incomplete(MissingSetting::SigningKey))?;
        let (mode, response_type) = if request.polling {
            (BackchannelMode::SiPolling, "mc_si_polling")
        } else {
            (BackchannelMode::SiNotification, "mc_si_async_code")
        };
        let notification_uri = match mode {
            BackchannelMode::SiNotification => Some(
                self.notification_uri()
                    .ok_or_else(|| self.incomplete(MissingSetting::NotificationUri))?
                    .as_str(),
            ),
            _ => None,
        };
        let levels = requested_levels(self.profile(), request.acr_values.as_deref())?;
        let scope = requested_scopes(self.profile(), request.scope.as_deref()).join(" ");
        let is_authz = scope.split(' ').any(|s| s == "mc_authz");
        let client_name = self.authz_text(
            is_authz,
            &AuthzText {
                client_name: request.client_name.as_deref(),
                context: request.context.as_deref(),
                binding_message: request.binding_message.as_deref(),
            },
        )?;
        self.check_login_hint(&request.login_hint)?;
        let login_hint = request.login_hint.value();
        let hashed_login_hint = match (&request.hashed_login_hint, &request.login_hint) {
            (Some(expected), _) => Some(expected.clone()),
            (None, LoginHint::Msisdn(_)) => Some(hash_login_hint(&login_hint)?),
            (None, _) => None,
        };
        let version = request.version.unwrap_or_else(|| si_version(self));

        let nonce = Nonce::new(random_token(entropy));
        let notification_token = notification_uri
            .is_some()
            .then(|| NotificationToken::new(random_token(entropy)));
        let jti = random_token(entropy);
        let (iat, exp) = RequestObject::window(now);
        let signed = RequestObject {
            iss: self.client_id(),
            aud: self.issuer(),
            response_type,
            client_id: self.client_id(),
            scope: &scope,
            version: &version,
            nonce: nonce.expose_secret(),
            login_hint: &login_hint,
            acr_values: &acr_text(&levels),
            notification_uri,
            client_notification_token: notification_token
                .as_ref()
                .map(NotificationToken::expose_secret),
            correlation_id: request.correlation_id.as_deref(),
            context: request.context.as_deref(),
            binding_message: request.binding_message.as_deref(),
            client_name: client_name.as_deref(),
            claims: request.claims.as_ref(),
            iat,
            exp,
            jti: &jti,
        }
        .sign(key)?;
        let prepared = si_prepared(
            url,
            self.si_transport(),
            &JsonParameters {
                client_id: self.client_id(),
                scope: &scope,
                response_type,
                request: &signed,
            },
        )?;
        Ok(BackchannelStart {
            operator: self.clone(),
            endpoint: Endpoint::SiAuthorization,
            prepared,
            pending: BackchannelPending {
                op: self.id().to_owned(),
                mode,
                auth_req_id: String::new(),
                nonce: Some(nonce),
                notification_token,
                notification_uri: notification_uri.map(str::to_owned),
                hashed_login_hint,
                min_acr: levels.iter().copied().min(),
                di_profile: requires_at_hash_and_amr(&version),
                correlation_id: request.correlation_id,
                expires_at: now,
                interval: DEFAULT_INTERVAL_SECS,
                next_poll_at: now,
            },
        })
    }

    /// Start an OpenID CIBA login (CIBA Core 7.1): a form POST to
    /// `backchannel_authentication_endpoint` with the context's client authentication (HTTP
    /// Basic, `client_secret_post`, or a `private_key_jwt` assertion for the issuer, valid
    /// 120 s), `scope`, `login_hint`, `binding_message`, `acr_values`, `requested_expiry`,
    /// and in ping mode a fresh `client_notification_token` from `entropy`.
    ///
    /// No nonce is sent (CIBA has none): the id_token's `nonce`, if any, is not checked.
    ///
    /// # Errors
    /// [`MisuseError::MissingEndpoint`] without a `backchannel_authentication_endpoint`;
    /// [`MisuseError::InvalidParameter`] for ping mode at an operator whose metadata lists
    /// delivery modes without `ping`, or a zero `requested_expiry`; [`MisuseError::TooLong`]
    /// for a `binding_message` over the operator's [`crate::MessageLimits`] (CIBA has no
    /// `client_name` or `context`, so the `mc_authz` rules of [`Self::si_authorize`] do not
    /// apply).
    pub fn ciba_authorize(
        &self,
        request: CibaRequest,
        entropy: &mut dyn Entropy,
        now: UnixTime,
    ) -> Result<CibaStart, Error> {
        let url = self.endpoints().backchannel_authentication.as_ref().ok_or(
            MisuseError::MissingEndpoint {
                endpoint: "backchannel_authentication_endpoint",
            },
        )?;
        let mode = if request.ping {
            BackchannelMode::CibaPing
        } else {
            BackchannelMode::CibaPoll
        };
        let invalid = |name, reason| Error::from(MisuseError::InvalidParameter { name, reason });
        if let Some(metadata) = self.metadata() {
            let modes = &metadata.backchannel_token_delivery_modes_supported;
            let wanted = if request.ping { "ping" } else { "poll" };
            if !modes.is_empty() && !modes.iter().any(|m| m == wanted) {
                return Err(invalid(
                    "token delivery mode",
                    "the operator's metadata does not list it",
                ));
            }
        }
        if request.requested_expiry == Some(0) {
            return Err(invalid("requested_expiry", "must be positive"));
        }
        self.message_limits()
            .check(None, None, request.binding_message.as_deref())?;
        let scope = request
            .scope
            .unwrap_or_else(|| vec!["openid".to_owned()])
            .join(" ");
        let levels = request.acr_values.unwrap_or_default();
        let acr_values = acr_text(&levels);
        let requested_expiry = request.requested_expiry.map(|secs| secs.to_string());
        let notification_token = request
            .ping
            .then(|| NotificationToken::new(random_token(entropy)));
        let unique = random_token(entropy);
        let credentials = self.client().credentials(self.issuer(), &unique, now)?;
        let login_hint = request.login_hint.value();
        let body = wire::form(
            [
                ("scope", Some(scope.as_str())),
                ("login_hint", Some(login_hint.as_str())),
                ("binding_message", request.binding_message.as_deref()),
                (
                    "acr_values",
                    Some(acr_values.as_str()).filter(|a| !a.is_empty()),
                ),
                ("requested_expiry", requested_expiry.as_deref()),
                (
                    "client_notification_token",
                    notification_token
                        .as_ref()
                        .map(NotificationToken::expose_secret),
                ),
            ]
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v)))
            .chain(credentials.params.iter().map(|(n, v)| (*n, v.as_str()))),
        );
        let mut prepared = wire::post_form(url, "backchannel_authentication_endpoint", body)?;
        if let Some(header) = credentials.header {
            prepared = wire::with_authorization(prepared, header);
        }
        Ok(BackchannelStart {
            operator: self.clone(),
            endpoint: Endpoint::BackchannelAuthentication,
            prepared,
            pending: BackchannelPending {
                op: self.id().to_owned(),
                mode,
                auth_req_id: String::new(),
                nonce: None,
                notification_token,
                notification_uri: None,
                hashed_login_hint: None,
                min_acr: levels.iter().copied().min(),
                di_profile: false,
                correlation_id: None,
                expires_at: now,
                interval: DEFAULT_INTERVAL_SECS,
                next_poll_at: now,
            },
        })
    }
}
