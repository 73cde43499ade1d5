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
    fn method(&self) -> &'static str {
        match self {
            Self::Msisdn(_) => "MSISDN",
            Self::EncryptedMsisdn(_) => "ENCR_MSISDN",
            Self::Pcr(_) => "PCR",
        }
    }

    fn value(&self) -> String {
        match self {
            Self::Msisdn(m) => format!("MSISDN:{}", m.expose_secret().trim_start_matches('+')),
            Self::EncryptedMsisdn(s) => format!("ENCR_MSISDN:{}", s.expose_secret()),
            Self::Pcr(p) => format!("PCR:{p}"),
        }
    }
}

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

    /// The scopes (`openid` is added first when missing), e.g. `["mc_authz", "mc_identity_phonenumber"]`.
    pub fn scope<I, S>(mut self, scopes: I) -> Self
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
        self.scope = Some(scope);
        self
    }

    /// The levels of assurance to ask for (`acr_values`), e.g. `[2]`, `[3]` or `[2, 3]`. The
    /// id_token's `acr` must be at least the lowest of them. Without this, a Mobile Connect
    /// operator is asked for LoA 2 and a plain OpenID Connect one for no level.
    pub fn acr_values(mut self, levels: impl IntoIterator<Item = u8>) -> Self {
        self.acr_values = Some(levels.into_iter().collect());
        self
    }

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

    /// The `claims` request parameter (OIDC Core 5.5), e.g. a KYC match on `premiuminfo`.
    pub fn claims(mut self, claims: serde_json::Value) -> Self {
        self.claims = Some(claims);
        self
    }

    /// `dtbs`: data to be signed (kept in a redacting [`DataToBeSigned`]).
    pub fn dtbs(mut self, dtbs: impl Into<DataToBeSigned>) -> Self {
        self.dtbs = Some(dtbs.into());
        self
    }

    /// `context`: the transaction text shown on the handset (`mc_authz`).
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// `binding_message`: a short code shown both on the SP's page and the handset.
    pub fn binding_message(mut self, message: impl Into<String>) -> Self {
        self.binding_message = Some(message.into());
        self
    }

    /// `client_name` (defaults to the operator context's application name).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// Force the Mobile Connect `version` (sent under either profile).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// `correlation_id`, sent again on the token request.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
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

impl Discovered {
    /// Start a login: the URL to redirect the browser to, and the per-login state to keep.
    ///
    /// `state`, `nonce` and the PKCE verifier are fresh 256-bit values from `entropy`. Parameters
    /// are emitted in a fixed order, so equal inputs give byte-identical URLs.
    ///
    /// # Errors
    /// [`MisuseError::InvalidParameter`] for an unusable option (no LoA, `mc_authz` without
    /// `context`, a login hint method the operator does not support, ...).
    pub fn authorize(
        &self,
        options: AuthorizeOptions,
        entropy: &mut dyn Entropy,
        now: UnixTime,
    ) -> Result<(AuthorizationRedirect, Authorizing), Error> {
        let invalid = |name, reason| Error::from(MisuseError::InvalidParameter { name, reason });
        let profile = self.profile();
        let acr_values = match (profile, &options.acr_values) {
            (Profile::MobileConnect, None) => vec![2],
            (Profile::MobileConnect, Some(levels)) if levels.is_empty() => {
                return Err(invalid(
                    "acr_values",
                    "a Mobile Connect login needs at least one level of assurance",
                ));
            }
            (_, Some(levels)) => levels.clone(),
            (_, None) => Vec::new(),
        };
        let scopes = match (&options.scope, profile) {
            (Some(scopes), _) => scopes.clone(),
            (None, Profile::MobileConnect) => vec!["openid".to_owned(), "mc_authn".to_owned()],
            (None, _) => vec!["openid".to_owned()],
        };
        let is_authz = scopes.iter().any(|s| s == "mc_authz");
        let client_name = options
            .client_name
            .clone()
            .or_else(|| self.inner.client_name.clone());
        if is_authz && options.context.is_none() {
            return Err(invalid(
                "context",
                "mc_authz needs a context shown on the handset",
            ));
        }
        if is_authz && client_name.is_none() {
            return Err(invalid(
                "client_name",
                "mc_authz needs the application's name",
            ));
        }
        if let Some(hint) = &options.login_hint
            && let Some(metadata) = self.metadata()
            && !metadata.supports_login_hint(hint.method())
        {
            return Err(invalid(
                "login_hint",
                "the operator does not support this hint method",
            ));
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
        let acr_text = acr_values
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let max_age = options.max_age.map(|m| m.to_string());
        let claims = options.claims.as_ref().map(serde_json::Value::to_string);
        let login_hint = options.login_hint.as_ref().map(LoginHint::value);

        let mut url = self.endpoints().authorization.clone();
        {
            let mut query = url.query_pairs_mut();
            let mut add = |name: &str, value: Option<&str>| {
                if let Some(value) = value {
                    query.append_pair(name, value);
                }
            };
            add("client_id", Some(self.client_id()));
            add("redirect_uri", Some(redirect_uri.as_str()));
            add("response_type", Some("code"));
            add("scope", Some(&scope));
            add(
                "acr_values",
                Some(acr_text.as_str()).filter(|a| !a.is_empty()),
            );
            add("state", Some(state.expose_secret()));
            add("nonce", Some(nonce.expose_secret()));
            add("version", version.as_deref());
            add("login_hint", login_hint.as_deref());
            add(
                "login_hint_token",
                options
                    .login_hint_token
                    .as_ref()
                    .map(LoginHintToken::expose_secret),
            );
            add("prompt", options.prompt.as_deref());
            add("display", options.display.as_deref());
            add("max_age", max_age.as_deref());
            add("ui_locales", options.ui_locales.as_deref());
            add("claims_locales", options.claims_locales.as_deref());
            add(
                "id_token_hint",
                options
                    .id_token_hint
                    .as_ref()
                    .map(IdTokenJwt::expose_secret),
            );
            add("claims", claims.as_deref());
            add(
                "dtbs",
                options.dtbs.as_ref().map(DataToBeSigned::expose_secret),
            );
            add(
                "client_name",
                if is_authz || options.client_name.is_some() {
                    client_name.as_deref()
                } else {
                    None
                },
            );
            add("context", options.context.as_deref());
            add("binding_message", options.binding_message.as_deref());
            add("correlation_id", options.correlation_id.as_deref());
            add("code_challenge", challenge.as_deref());
            add("code_challenge_method", challenge.as_ref().map(|_| "S256"));
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
