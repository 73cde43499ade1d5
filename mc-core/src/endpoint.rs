//! The names of the endpoints a step talks to, for errors and tracing spans.

use std::fmt;

/// Which operator (or discovery) endpoint a step talks to; named in errors and tracing spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The discovery service (API exchange).
    Discovery,
    /// The operator's provider metadata (`.well-known/openid-configuration`).
    Metadata,
    /// The operator's key set.
    Jwks,
    /// The browser redirect to the operator and its callback.
    Authorization,
    /// The token endpoint.
    Token,
    /// The refresh endpoint (the discovery `tokenrefresh` link), else the token endpoint
    /// asked for a `refresh_token` grant.
    Refresh,
    /// The token revocation endpoint (RFC 7009; the discovery `tokenrevoke` link).
    Revocation,
    /// The token endpoint asked for the SMS one-time-password grant (its challenge, then
    /// the code).
    Otp,
    /// The userinfo endpoint.
    UserInfo,
    /// The premium info endpoint.
    PremiumInfo,
    /// Mobile Connect's server-initiated authorization endpoint (`si_authorization_endpoint`).
    SiAuthorization,
    /// OpenID CIBA's backchannel authentication endpoint (`/bc-authorize`).
    BackchannelAuthentication,
    /// The SP's own notification endpoint, which the operator calls (server-initiated
    /// notification mode, CIBA ping).
    Notification,
}

impl Endpoint {
    /// A stable lower-case name, used for tracing spans.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Metadata => "metadata",
            Self::Jwks => "jwks",
            Self::Authorization => "authorization",
            Self::Token => "token",
            Self::Refresh => "refresh",
            Self::Revocation => "revocation",
            Self::Otp => "otp",
            Self::UserInfo => "userinfo",
            Self::PremiumInfo => "premiuminfo",
            Self::SiAuthorization => "si_authorization",
            Self::BackchannelAuthentication => "backchannel_authentication",
            Self::Notification => "notification",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
