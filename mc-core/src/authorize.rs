//! The authorization request: the browser redirect to the operator, and the per-login state
//! ([`Authorizing`]) the host keeps until the callback.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::crypto;
use crate::error::{Error, MisuseError};
use crate::exchange::UnixTime;
use crate::registry::{Discovered, Profile};
use crate::secret::{
    DataToBeSigned, Entropy, IdTokenJwt, LoginHintToken, Msisdn, Nonce, PkceVerifier, Redacted,
    State, SubscriberId, random_token,
};
use crate::server_initiated::{REQUEST_OBJECT_TYPE, RequestObject};
use crate::wire;

/// Who the operator should authenticate: `login_hint` in one of the Mobile Connect forms.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LoginHint {
    /// `MSISDN:<digits>`: the phone number in clear (E.164 digits, no `+`).
    Msisdn(Msisdn),
    /// `ENCR_MSISDN:<subscriber_id>`: the encrypted MSISDN from discovery.
    EncryptedMsisdn(SubscriberId),
    /// `PCR:<sub>`: a returning user's pseudonymous customer reference.
    Pcr(String),
}

impl LoginHint {
    pub(crate) fn method(&self) -> &'static str {
        match self {
            Self::Msisdn(_) => "MSISDN",
            Self::EncryptedMsisdn(_) => "ENCR_MSISDN",
            Self::Pcr(_) => "PCR",
        }
    }

    /// The `login_hint` value sent.
    pub(crate) fn value(&self) -> String {
        match self {
            Self::Msisdn(m) => format!("MSISDN:{}", m.expose_secret().trim_start_matches('+')),
            Self::EncryptedMsisdn(s) => format!("ENCR_MSISDN:{}", s.expose_secret()),
            Self::Pcr(p) => format!("PCR:{p}"),
        }
    }
}

/// The option setters the kinds of login share (the browser's [`AuthorizeOptions`], Mobile
/// Connect SI's [`crate::SiRequest`], OpenID CIBA's [`crate::CibaRequest`]), written once: each
/// takes `self` and sets the field of its name.
macro_rules! login_option_setters {
    ($($setter:ident),* $(,)?) => {
        $($crate::authorize::login_option_setters!(@ $setter);)*
    };
    (@ scope) => {
        /// The scopes, e.g. `["mc_authz", "mc_identity_phonenumber"]` (`openid` is added first
        /// when missing).
        pub fn scope<I, S>(mut self, scopes: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.scope = Some($crate::authorize::scopes_with_openid(scopes));
            self
        }
    };
    (@ acr_values) => {
        /// The levels of assurance to ask for (`acr_values`, sent as a string such as `"2 3"`),
        /// e.g. `[2]`, `[3]` or `[2, 3]`: the id_token's `acr` must be at least the lowest of
        /// them. (Without this, the kind of login's default applies: see its documentation.)
        pub fn acr_values(mut self, levels: impl IntoIterator<Item = u8>) -> Self {
            self.acr_values = Some(levels.into_iter().collect());
            self
        }
    };
    (@ claims) => {
        /// The `claims` request (OIDC Core 5.5), e.g. a KYC match on `premiuminfo`.
        pub fn claims(mut self, claims: serde_json::Value) -> Self {
            self.claims = Some(claims);
            self
        }
    };
    (@ context) => {
        $crate::authorize::login_option_setters!(@text context,
            "`context`: the transaction text shown on the handset (`mc_authz`).");
    };
    (@ binding_message) => {
        $crate::authorize::login_option_setters!(@text binding_message,
            "`binding_message`: a short code shown both by the SP and on the handset.");
    };
    (@ client_name) => {
        $crate::authorize::login_option_setters!(@text client_name,
            "`client_name`, the application's name shown on the handset (defaults to the \
             operator context's, [`crate::OperatorConfig::client_name`]; required with \
             `mc_authz`).");
    };
    (@ correlation_id) => {
        $crate::authorize::login_option_setters!(@text correlation_id,
            "`correlation_id`: the SP's identifier of this login, for both sides' logs (a \
             browser login sends it again on the token request).");
    };
    (@ version) => {
        $crate::authorize::login_option_setters!(@text version,
            "Force the Mobile Connect `version` (otherwise the operator's metadata, the \
             operator context or the kind of login decides).");
    };
    (@text $field:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $field(mut self, value: impl Into<String>) -> Self {
            self.$field = Some(value.into());
            self
        }
    };
}
pub(crate) use login_option_setters;

/// What one login asks of the operator. Defaults: PKCE S256, and the scope and level of
/// assurance the operator's [`Profile`] implies (`openid mc_authn` at LoA 2 for Mobile Connect;
/// `openid` and no level asked for plain OpenID Connect).
///
/// Its `Debug` prints no secret and no personal data: the login hint as its redacting type,
/// `id_token_hint`, `login_hint_token`, `dtbs` and the `claims` request (which may hold KYC
/// values to match) as `[redacted]` when set.
#[derive(Clone)]
#[must_use]
pub struct AuthorizeOptions {
    scope: Option<Vec<String>>,
    acr_values: Option<Vec<u8>>,
    login_hint: Option<LoginHint>,
    login_hint_token: Option<LoginHintToken>,
    prompt: Option<String>,
    display: Option<String>,
    max_age: Option<u64>,
    ui_locales: Option<String>,
    claims_locales: Option<String>,
    id_token_hint: Option<IdTokenJwt>,
    claims: Option<serde_json::Value>,
    dtbs: Option<DataToBeSigned>,
    context: Option<String>,
    binding_message: Option<String>,
    client_name: Option<String>,
    version: Option<String>,
    correlation_id: Option<String>,
    redirect_uri: Option<String>,
    pkce: bool,
}

impl Default for AuthorizeOptions {
    fn default() -> Self {
        Self {
            scope: None,
            acr_values: None,
            login_hint: None,
            login_hint_token: None,
            prompt: None,
            display: None,
            max_age: None,
            ui_locales: None,
            claims_locales: None,
            id_token_hint: None,
            claims: None,
            dtbs: None,
            context: None,
            binding_message: None,
            client_name: None,
            version: None,
            correlation_id: None,
            redirect_uri: None,
            pkce: true,
        }
    }
}

impl fmt::Debug for AuthorizeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field by hand, so that a field added later is not printed until someone decides
        // it may be.
        let Self {
            scope,
            acr_values,
            login_hint,
            login_hint_token,
            prompt,
            display,
            max_age,
            ui_locales,
            claims_locales,
            id_token_hint,
            claims,
            dtbs,
            context,
            binding_message,
            client_name,
            version,
            correlation_id,
            redirect_uri,
            pkce,
        } = self;
        f.debug_struct("AuthorizeOptions")
            .field("scope", scope)
            .field("acr_values", acr_values)
            .field("login_hint", login_hint)
            .field("login_hint_token", login_hint_token)
            .field("prompt", prompt)
            .field("display", display)
            .field("max_age", max_age)
            .field("ui_locales", ui_locales)
            .field("claims_locales", claims_locales)
            .field("id_token_hint", id_token_hint)
            .field("claims", &claims.as_ref().map(|_| Redacted))
            .field("dtbs", dtbs)
            .field("context", context)
            .field("binding_message", binding_message)
            .field("client_name", client_name)
            .field("version", version)
            .field("correlation_id", correlation_id)
            .field("redirect_uri", redirect_uri)
            .field("pkce", pkce)
            .finish()
    }
}

impl AuthorizeOptions {
    /// The defaults: the profile's scope and level of assurance, PKCE.
    pub fn new() -> Self {
        Self::default()
    }

    login_option_setters!(
        scope,
        acr_values,
        claims,
        context,
        binding_message,
        client_name,
        correlation_id,
        version,
    );

    /// `login_hint`.
    pub fn login_hint(mut self, hint: LoginHint) -> Self {
        self.login_hint = Some(hint);
        self
    }

    /// `login_hint_token` (kept in a redacting [`LoginHintToken`]).
    pub fn login_hint_token(mut self, token: impl Into<LoginHintToken>) -> Self {
        self.login_hint_token = Some(token.into());
        self
    }

    /// `prompt` (`login`, `none`, `no_seam`, `consent`, `select_account`).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// `display` (`page`, `popup`, `touch`, `wap`).
    pub fn display(mut self, display: impl Into<String>) -> Self {
        self.display = Some(display.into());
        self
    }

    /// `max_age` in seconds: the id_token must then carry an `auth_time` no older than this.
    pub fn max_age(mut self, secs: u64) -> Self {
        self.max_age = Some(secs);
        self
    }

    /// `ui_locales`.
    pub fn ui_locales(mut self, locales: impl Into<String>) -> Self {
        self.ui_locales = Some(locales.into());
        self
    }

    /// `claims_locales`.
    pub fn claims_locales(mut self, locales: impl Into<String>) -> Self {
        self.claims_locales = Some(locales.into());
        self
    }

    /// `id_token_hint`: a compact id_token the operator issued earlier (kept in a redacting
    /// [`IdTokenJwt`]).
    pub fn id_token_hint(mut self, id_token: impl Into<IdTokenJwt>) -> Self {
        self.id_token_hint = Some(id_token.into());
        self
    }

    /// `dtbs`: data to be signed (kept in a redacting [`DataToBeSigned`]).
    pub fn dtbs(mut self, dtbs: impl Into<DataToBeSigned>) -> Self {
        self.dtbs = Some(dtbs.into());
        self
    }

    /// Another registered redirect URI than the operator context's default.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Turn PKCE off (only for an operator that rejects the extra parameters).
    pub fn without_pkce(mut self) -> Self {
        self.pkce = false;
        self
    }
}

/// `openid` first, then each scope once (in every kind of login).
pub(crate) fn scopes_with_openid<I, S>(scopes: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut scope: Vec<String> = vec!["openid".to_owned()];
    for s in scopes {
        let s = s.into();
        if !scope.contains(&s) {
            scope.push(s);
        }
    }
    scope
}

/// The URL to send the browser to (HTTP 302 `Location`).
#[must_use]
pub struct AuthorizationRedirect {
    url: Url,
}

impl AuthorizationRedirect {
    /// The full URL.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The full URL as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }
}

impl fmt::Debug for AuthorizationRedirect {
    // The query holds state, nonce and possibly an MSISDN: print only where it goes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRedirect")
            .field("origin", &self.url.origin().ascii_serialization())
            .field("path", &self.url.path())
            .finish_non_exhaustive()
    }
}

/// The per-login state between the redirect and the callback.
///
/// Small, `Serialize + Deserialize`, and free of operator secrets: store it in an encrypted
/// cookie or a server-side session. Its secrets (state, nonce, PKCE verifier) redact in Debug.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct Authorizing {
    /// Operator id.
    pub(crate) op: String,
    pub(crate) state: State,
    pub(crate) nonce: Nonce,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pkce: Option<PkceVerifier>,
    pub(crate) redirect_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_acr: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_age: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) correlation_id: Option<String>,
    pub(crate) issued_at: UnixTime,
}

impl Authorizing {
    /// The operator this login goes through.
    #[must_use]
    pub fn operator_id(&self) -> &str {
        &self.op
    }

    /// The `state` sent (for hosts that key server-side sessions by it).
    #[must_use]
    pub fn state(&self) -> &State {
        &self.state
    }

    /// When the login started.
    #[must_use]
    pub fn issued_at(&self) -> UnixTime {
        self.issued_at
    }

    /// The lowest level of assurance the id_token's `acr` must reach (none when the login
    /// asked for no level, under the plain OpenID Connect profile).
    #[must_use]
    pub fn min_acr(&self) -> Option<u8> {
        self.min_acr
    }

    /// The Mobile Connect version requested (none for a plain OpenID Connect login).
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

/// The versions whose id_tokens must carry `at_hash` and `amr` (MC DI R2 v2.3 and later).
pub(crate) fn requires_at_hash_and_amr(version: &str) -> bool {
    version.starts_with("mc_di_")
}

fn default_version(scope: &[String]) -> &'static str {
    let has = |names: &[&str]| scope.iter().any(|s| names.contains(&s.as_str()));
    if has(&[
        "mc_phonenumber",
        "mc_signup",
        "mc_nationalid",
        "mc_kyc_plain",
        "mc_kyc_hashed",
        "mc_atp",
    ]) {
        // The Mobile Connect 3.0 product scope names.
        "mc_di_v3.0"
    } else if scope.iter().any(|s| s.starts_with("mc_identity_")) {
        "mc_di_r2_v2.3"
    } else if has(&["mc_authz"]) {
        "mc_v2.0"
    } else {
        "mc_v1.1"
    }
}

fn pkce_challenge(verifier: &PkceVerifier) -> Result<String, Error> {
    let digest = crypto::digest(verifier.expose_secret().as_bytes(), 256).ok_or(
        MisuseError::InvalidParameter {
            name: "code_verifier",
            reason: "the crypto backend cannot hash",
        },
    )?;
    Ok(URL_SAFE_NO_PAD.encode(digest))
}

/// The levels of assurance a login asks for under `profile`: those requested, else LoA 2 for
/// Mobile Connect (which never goes without one) and none for plain OpenID Connect.
pub(crate) fn requested_levels(
    profile: Profile,
    requested: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    match (profile, requested) {
        (Profile::MobileConnect, None) => Ok(vec![2]),
        (Profile::MobileConnect, Some([])) => Err(MisuseError::InvalidParameter {
            name: "acr_values",
            reason: "a Mobile Connect login needs at least one level of assurance",
        }
        .into()),
        (_, Some(levels)) => Ok(levels.to_vec()),
        (_, None) => Ok(Vec::new()),
    }
}

/// The scopes a login asks for under `profile`: those requested, else `openid mc_authn` for
/// Mobile Connect and `openid` for plain OpenID Connect.
pub(crate) fn requested_scopes(profile: Profile, requested: Option<&[String]>) -> Vec<String> {
    match (requested, profile) {
        (Some(scopes), _) => scopes.to_vec(),
        (None, Profile::MobileConnect) => vec!["openid".to_owned(), "mc_authn".to_owned()],
        (None, _) => vec!["openid".to_owned()],
    }
}

/// `acr_values` as sent: the levels separated by spaces (`"2 3"`).
pub(crate) fn acr_text(levels: &[u8]) -> String {
    levels
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The texts a login shows on the handset, as asked (`client_name` as given by the login, not
/// yet defaulted).
pub(crate) struct AuthzText<'a> {
    pub(crate) client_name: Option<&'a str>,
    pub(crate) context: Option<&'a str>,
    pub(crate) binding_message: Option<&'a str>,
}

/// The parameters of one authorization request, in the order they are sent: the one source
/// of both the query and the request object's claims, so that the two cannot differ.
#[derive(Serialize)]
struct AuthorizationParameters<'a> {
    client_id: &'a str,
    redirect_uri: &'a str,
    response_type: &'a str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr_values: Option<&'a str>,
    state: &'a str,
    nonce: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_hint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_hint_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
    /// A number in the request object, its decimal text in the query.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ui_locales: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims_locales: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token_hint: Option<&'a str>,
    /// A JSON object in the request object, its JSON text in the query.
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dtbs: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    binding_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_challenge: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_challenge_method: Option<&'a str>,
}

impl AuthorizationParameters<'_> {
    /// Append the parameters present to `url`'s query, in the struct's order.
    fn append_to(&self, url: &mut Url) {
        let max_age = self.max_age.map(|m| m.to_string());
        let claims = self.claims.map(serde_json::Value::to_string);
        let mut query = url.query_pairs_mut();
        let pairs = [
            ("client_id", Some(self.client_id)),
            ("redirect_uri", Some(self.redirect_uri)),
            ("response_type", Some(self.response_type)),
            ("scope", Some(self.scope)),
            ("acr_values", self.acr_values),
            ("state", Some(self.state)),
            ("nonce", Some(self.nonce)),
            ("version", self.version),
            ("login_hint", self.login_hint),
            ("login_hint_token", self.login_hint_token),
            ("prompt", self.prompt),
            ("display", self.display),
            ("max_age", max_age.as_deref()),
            ("ui_locales", self.ui_locales),
            ("claims_locales", self.claims_locales),
            ("id_token_hint", self.id_token_hint),
            ("claims", claims.as_deref()),
            ("dtbs", self.dtbs),
            ("client_name", self.client_name),
            ("context", self.context),
            ("binding_message", self.binding_message),
            ("correlation_id", self.correlation_id),
            ("code_challenge", self.code_challenge),
            ("code_challenge_method", self.code_challenge_method),
        ];
        for (name, value) in pairs {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
}

/// The claims of a browser login's request object (OIDC Core 6.1): `iss` and `aud`, every
/// parameter of the query with an equal value (`max_age` as a number, `claims` as an object),
/// then `iat`, `exp` and `jti`, in this order (the same inputs give the same bytes).
#[derive(Serialize)]
struct AuthorizationRequestObject<'a> {
    iss: &'a str,
    aud: &'a str,
    #[serde(flatten)]
    parameters: &'a AuthorizationParameters<'a>,
    iat: u64,
    exp: u64,
    jti: &'a str,
}

impl Discovered {
    /// The `client_name` a login sends, after the `mc_authz` rules and the operator's
    /// [`crate::MessageLimits`]: with `mc_authz`, `context` and `client_name` (the login's, else
    /// the context's) are required and not empty ([`MisuseError::AuthzFieldMissing`]), while
    /// `binding_message` may be absent or empty; any value sent that is over its limit in
    /// characters is [`MisuseError::TooLong`]. `client_name` is sent with `mc_authz`, or when the
    /// login names one.
    pub(crate) fn authz_text(
        &self,
        is_authz: bool,
        text: &AuthzText<'_>,
    ) -> Result<Option<String>, Error> {
        let client_name = text
            .client_name
            .or(self.inner.client_name.as_deref())
            .filter(|_| is_authz || text.client_name.is_some());
        if is_authz {
            // context first: it is what the user confirms.
            for (field, value) in [("context", text.context), ("client_name", client_name)] {
                if value.is_none_or(str::is_empty) {
                    return Err(MisuseError::AuthzFieldMissing { field }.into());
                }
            }
        }
        self.inner
            .message_limits
            .check(client_name, text.context, text.binding_message)?;
        Ok(client_name.map(str::to_owned))
    }

    /// A login hint method the operator's metadata does not list is refused.
    pub(crate) fn check_login_hint(&self, hint: &LoginHint) -> Result<(), Error> {
        match self.metadata() {
            Some(metadata) if !metadata.supports_login_hint(hint.method()) => {
                Err(MisuseError::InvalidParameter {
                    name: "login_hint",
                    reason: "the operator does not support this hint method",
                }
                .into())
            }
            _ => Ok(()),
        }
    }

    /// The signed request object of a login with these parameters, when this operator signs
    /// its authorization requests.
    fn request_object(
        &self,
        parameters: &AuthorizationParameters<'_>,
        entropy: &mut dyn Entropy,
        now: UnixTime,
    ) -> Result<Option<String>, Error> {
        if !self.signs_authorization_requests() {
            return Ok(None);
        }
        // `build` refuses signed requests without a key; this is the same rule, kept typed.
        let key = self
            .signing_key()
            .ok_or_else(|| MisuseError::IncompleteOperator {
                operator: self.id().to_owned(),
                missing: crate::MissingSetting::SigningKey,
            })?;
        let jti = random_token(entropy);
        let (iat, exp) = RequestObject::window(now);
        let claims = AuthorizationRequestObject {
            iss: self.client_id(),
            aud: self.issuer(),
            parameters,
            iat,
            exp,
            jti: &jti,
        };
        key.sign(REQUEST_OBJECT_TYPE, &claims).map(Some)
    }

    /// Start a login: the URL to redirect the browser to, and the per-login state to keep.
    ///
    /// `state`, `nonce` and the PKCE verifier are fresh 256-bit values from `entropy`. Parameters
    /// are emitted in a fixed order, so equal inputs give byte-identical URLs.
    ///
    /// With [`crate::OperatorConfig::sign_authorization_requests`], a `request` parameter comes
    /// last: a request object (OIDC Core 6.1), a compact JWS signed with the context's
    /// [`crate::SpSigningKey`] (header `alg`, `kid`, `typ: JWT`) whose claims are `iss` (the
    /// client_id), `aud` (the issuer), every parameter of the query with an equal value
    /// (`max_age` as a number, `claims` as a JSON object), `iat`, `exp` (300 s later) and a
    /// `jti`, a fresh 256-bit value from `entropy` drawn after the others. The plain parameters
    /// stay in the query. With an RS256 (or RS384/RS512) key the signature, and so the URL, is
    /// the same for the same inputs; PS* and ES* signatures are randomized.
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] for an unusable option (no LoA, a login hint method
    /// the operator does not support, ...); [`MisuseError::AuthzFieldMissing`] for `mc_authz`
    /// without `context` or `client_name`; [`MisuseError::TooLong`] for a `client_name`,
    /// `context` or `binding_message` over the operator's [`crate::MessageLimits`];
    /// [`MisuseError::InvalidParameter`] when the SP's key cannot sign the request object.
    pub fn authorize(
        &self,
        options: AuthorizeOptions,
        entropy: &mut dyn Entropy,
        now: UnixTime,
    ) -> Result<(AuthorizationRedirect, Authorizing), Error> {
        let profile = self.profile();
        let acr_values = requested_levels(profile, options.acr_values.as_deref())?;
        let scopes = requested_scopes(profile, options.scope.as_deref());
        let is_authz = scopes.iter().any(|s| s == "mc_authz");
        let client_name = self.authz_text(
            is_authz,
            &AuthzText {
                client_name: options.client_name.as_deref(),
                context: options.context.as_deref(),
                binding_message: options.binding_message.as_deref(),
            },
        )?;
        if let Some(hint) = &options.login_hint {
            self.check_login_hint(hint)?;
        }
        let redirect_uri = match &options.redirect_uri {
            Some(uri) => wire::parse_url(uri, "redirect_uri")?,
            None => self.inner.redirect_uri.clone(),
        };
        let version = match (&options.version, profile) {
            (Some(v), _) => Some(v.clone()),
            (None, Profile::OpenIdConnect) => None,
            (None, _) => Some(
                self.metadata()
                    .and_then(|m| m.version_for_scope(&scopes))
                    .map(str::to_owned)
                    .or_else(|| self.inner.version.clone())
                    .unwrap_or_else(|| default_version(&scopes).to_owned()),
            ),
        };

        let state = State::new(random_token(entropy));
        let nonce = Nonce::new(random_token(entropy));
        let pkce = options
            .pkce
            .then(|| PkceVerifier::new(random_token(entropy)));
        let challenge = pkce.as_ref().map(pkce_challenge).transpose()?;

        let scope = scopes.join(" ");
        let acr_text = acr_text(&acr_values);
        let login_hint = options.login_hint.as_ref().map(LoginHint::value);
        let parameters = AuthorizationParameters {
            client_id: self.client_id(),
            redirect_uri: redirect_uri.as_str(),
            response_type: "code",
            scope: &scope,
            acr_values: Some(acr_text.as_str()).filter(|a| !a.is_empty()),
            state: state.expose_secret(),
            nonce: nonce.expose_secret(),
            version: version.as_deref(),
            login_hint: login_hint.as_deref(),
            login_hint_token: options
                .login_hint_token
                .as_ref()
                .map(LoginHintToken::expose_secret),
            prompt: options.prompt.as_deref(),
            display: options.display.as_deref(),
            max_age: options.max_age,
            ui_locales: options.ui_locales.as_deref(),
            claims_locales: options.claims_locales.as_deref(),
            id_token_hint: options
                .id_token_hint
                .as_ref()
                .map(IdTokenJwt::expose_secret),
            claims: options.claims.as_ref(),
            dtbs: options.dtbs.as_ref().map(DataToBeSigned::expose_secret),
            client_name: client_name.as_deref(),
            context: options.context.as_deref(),
            binding_message: options.binding_message.as_deref(),
            correlation_id: options.correlation_id.as_deref(),
            code_challenge: challenge.as_deref(),
            code_challenge_method: challenge.as_ref().map(|_| "S256"),
        };

        let mut url = self.endpoints().authorization.clone();
        parameters.append_to(&mut url);
        if let Some(request) = self.request_object(&parameters, entropy, now)? {
            url.query_pairs_mut().append_pair("request", &request);
        }

        let min_acr = acr_values.iter().copied().min();
        Ok((
            AuthorizationRedirect { url },
            Authorizing {
                op: self.id().to_owned(),
                state,
                nonce,
                pkce,
                redirect_uri: redirect_uri.into(),
                min_acr,
                max_age: options.max_age,
                version,
                correlation_id: options.correlation_id,
                issued_at: now,
            },
        ))
    }
}
