//! Redacting newtypes for every secret the flow handles, a loggable view of outgoing requests,
//! and the injected source of randomness.
//!
//! Debug and Display of these types print the type name and `[redacted]`, never the value; the
//! value is reachable only through an explicit `expose_secret()`. Equality between secrets is
//! constant time. Serde passes the value through unchanged, because per-login state has to survive
//! the browser round trip; the host keeps that state encrypted or server-side.
//!
//! # Logging requests
//!
//! An [`crate::Exchange::request`] is a plain `http::Request`, and `http`'s `Debug` prints the
//! body bytes: the token request's body holds the authorization code and the PKCE verifier, and
//! with `client_secret_post` the client secret (with `private_key_jwt`, a signed client
//! assertion); a discovery query or body holds the MSISDN or the end user's IP. The rule: **never
//! format a request with `{:?}`; log [`redacted`]`(&request)`**, which prints the method, the
//! URL without userinfo and with each query value replaced, the harmless headers' values
//! (`accept`, `content-type`, `content-length`) and every other header's name only, and the
//! body's length (and, for a form body, its parameter names). Responses are not printed either:
//! their bodies carry tokens.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

/// Compare two byte strings in constant time (for equal lengths; the length itself is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wrap a value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself. Every call site is a place where the secret leaves the
            /// redacting wrapper: keep them few.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// Constant-time comparison with a candidate value.
            #[must_use]
            pub fn matches(&self, candidate: &str) -> bool {
                ct_eq(self.0.as_bytes(), candidate.as_bytes())
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                ct_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

secret_string!(
    /// An OAuth client secret (the operator's or the discovery service's credentials).
    ClientSecret
);
secret_string!(
    /// An authorization code from the callback.
    AuthorizationCode
);
secret_string!(
    /// An OAuth access token.
    AccessToken
);
secret_string!(
    /// An OAuth refresh token.
    RefreshToken
);
secret_string!(
    /// A compact id_token (or any JWT) as received.
    IdTokenJwt
);
secret_string!(
    /// The OAuth `state` of one login (CSRF defence).
    State
);
secret_string!(
    /// The OpenID Connect `nonce` of one login (replay defence).
    Nonce
);
secret_string!(
    /// The PKCE `code_verifier` of one login.
    PkceVerifier
);
secret_string!(
    /// A subscriber's phone number (E.164 digits, personal data).
    Msisdn
);
secret_string!(
    /// An encrypted MSISDN from discovery (`subscriber_id`), usable as `ENCR_MSISDN:` login hint.
    SubscriberId
);

secret_string!(
    /// A one-time code the user typed (the SMS one-time-password grant).
    OtpCode
);
secret_string!(
    /// The operator's reference of one texted one-time code: with the client credentials, it
    /// is what the code is checked against.
    OtpReference
);
secret_string!(
    /// A `login_hint_token` (an operator- or SP-issued token naming the user).
    LoginHintToken
);
secret_string!(
    /// `dtbs`, the data to be signed on the handset (a contract digest, a payment order).
    DataToBeSigned
);
secret_string!(
    /// The `client_notification_token` of one server-initiated login: the bearer token the
    /// operator's notification must carry (like `state`, a per-login secret).
    NotificationToken
);

/// Placeholder printed for a value that must not be logged.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `scheme://host[:port]/path`, then each query parameter with its value replaced: never the
/// userinfo or a query value (a server-initiated request carries its signed request object
/// there).
pub(crate) fn write_redacted_uri(uri: &http::Uri, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if let Some(scheme) = uri.scheme_str() {
        write!(f, "{scheme}://")?;
    }
    if let Some(authority) = uri.authority() {
        // Without any `user:password@`.
        f.write_str(authority.host())?;
        if let Some(port) = authority.port() {
            write!(f, ":{port}")?;
        }
    }
    f.write_str(uri.path())?;
    if let Some(query) = uri.query() {
        let mut separator = '?';
        for (name, _) in url::form_urlencoded::parse(query.as_bytes()) {
            write!(f, "{separator}{name}=[redacted]")?;
            separator = '&';
        }
    }
    Ok(())
}

/// A URI printed by [`write_redacted_uri`].
pub(crate) struct RedactedUri<'a>(pub(crate) &'a http::Uri);

impl fmt::Debug for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_redacted_uri(self.0, f)
    }
}

/// A view of an HTTP request that is safe to log; see [the module's rule](self#logging-requests).
///
/// ```
/// # fn main() -> Result<(), http::Error> {
/// let request = http::Request::post("https://op.example/token?tenant=acme")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .header("authorization", "Basic Y2xpZW50OnNlY3JldA==")
///     .body(b"grant_type=authorization_code&code=c0de-5ecret&code_verifier=v3rifier".to_vec())?;
/// let logged = format!("{}", mc_core::secret::redacted(&request));
/// assert_eq!(
///     logged,
///     "POST https://op.example/token?tenant=[redacted] \
///      (headers: content-type: application/x-www-form-urlencoded, authorization: [redacted]; \
///      body: 69 bytes, form: grant_type, code, code_verifier)"
/// );
/// assert!(!format!("{:?}", mc_core::secret::redacted(&request)).contains("c0de-5ecret"));
/// # Ok(()) }
/// ```
pub struct RedactedRequest<'a, B> {
    request: &'a http::Request<B>,
}

/// The loggable view of `request`: never the body, query values or sensitive headers.
#[must_use]
pub fn redacted<B: AsRef<[u8]>>(request: &http::Request<B>) -> RedactedRequest<'_, B> {
    RedactedRequest { request }
}

/// Headers whose values are printed; every other header shows its name only.
fn header_is_harmless(name: &http::HeaderName) -> bool {
    [
        http::header::ACCEPT,
        http::header::CONTENT_TYPE,
        http::header::CONTENT_LENGTH,
    ]
    .contains(name)
}

impl<B: AsRef<[u8]>> RedactedRequest<'_, B> {
    fn write_url(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_redacted_uri(self.request.uri(), f)
    }

    fn is_form(&self) -> bool {
        self.request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
    }

    fn form_names(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        let body: &[u8] = if self.is_form() {
            self.request.body().as_ref()
        } else {
            &[]
        };
        url::form_urlencoded::parse(body).map(|(name, _)| name)
    }
}

impl<B: AsRef<[u8]>> fmt::Display for RedactedRequest<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.request.method())?;
        self.write_url(f)?;
        f.write_str(" (headers: ")?;
        for (i, (name, value)) in self.request.headers().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match value.to_str() {
                Ok(value) if header_is_harmless(name) && !value.is_empty() => {
                    write!(f, "{name}: {value}")?;
                }
                _ => write!(f, "{name}: [redacted]")?,
            }
        }
        write!(f, "; body: {} bytes", self.request.body().as_ref().len())?;
        let mut names = self.form_names().peekable();
        if names.peek().is_some() {
            f.write_str(", form: ")?;
            for (i, name) in names.enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(&name)?;
            }
        }
        f.write_str(")")
    }
}

impl<B: AsRef<[u8]>> fmt::Debug for RedactedRequest<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Url<'r, 'a, B>(&'r RedactedRequest<'a, B>);
        impl<B: AsRef<[u8]>> fmt::Debug for Url<'_, '_, B> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_url(f)
            }
        }
        struct Headers<'a>(&'a http::HeaderMap);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut map = f.debug_map();
                for (name, value) in self.0 {
                    match value.to_str() {
                        Ok(value) if header_is_harmless(name) => map.entry(name, &value),
                        _ => map.entry(name, &Redacted),
                    };
                }
                map.finish()
            }
        }
        f.debug_struct("RedactedRequest")
            .field("method", self.request.method())
            .field("url", &Url(self))
            .field("headers", &Headers(self.request.headers()))
            .field("body_len", &self.request.body().as_ref().len())
            .field("form", &self.form_names().collect::<Vec<_>>())
            .finish()
    }
}

/// A source of cryptographically secure random bytes, injected by the host.
///
/// mc-core never reaches for an OS RNG itself; adapters provide one backed by the operating
/// system, and tests provide a deterministic one so that emitted requests can be snapshotted.
pub trait Entropy {
    /// Fill `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill(&mut self, dest: &mut [u8]) {
        self(dest);
    }
}

/// 32 random bytes, base64url without padding (43 characters, 256 bits).
pub(crate) fn random_token(entropy: &mut dyn Entropy) -> String {
    let mut bytes = [0u8; 32];
    entropy.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
