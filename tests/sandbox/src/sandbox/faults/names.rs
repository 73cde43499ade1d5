//! Faults by name, for the `mc-sandbox` binary and its config file: `TARGET[@OPERATOR]=FAULT`,
//! e.g. `token=server-error`, `jwks=slow:800ms`, `authorize@beta=foreign-iss`. The table
//! [`NAMED_FAULTS`] is the one list the parser, `mc-sandbox --help` and the README follow.

use std::fmt;
use std::str::FromStr;

use serde_json::json;

use super::{
    CallbackMutation, ClientAuthRequirement, Fault, IMPOSTOR_RECIPIENT, IdTokenMutation,
    NotificationMutation, PollMutation, Target,
};
use crate::sandbox::catalogue::OPERATORS;
use crate::sandbox::config::parse_duration;

/// A fault the binary switches on by name.
#[derive(Debug)]
pub struct NamedFault {
    /// The name, as in `token=server-error`.
    pub name: &'static str,
    /// What follows the name after a colon (`slow:800ms`), if the fault takes anything.
    pub argument: Option<&'static str>,
    /// The endpoints it applies to (empty: any endpoint the SP calls, that is every target but
    /// [`Target::Notification`]).
    pub targets: &'static [Target],
    /// What the SP sees.
    pub description: &'static str,
    make: fn(&str) -> Result<Fault, String>,
}

const ANY: &[Target] = &[];
const METADATA: &[Target] = &[Target::Metadata];
const AUTHORIZE: &[Target] = &[Target::Authorize];
const TOKEN: &[Target] = &[Target::Token];
/// Where id_tokens are issued: the token endpoint and the notifications.
const ID_TOKEN: &[Target] = &[Target::Token, Target::Notification];
/// Where JWTs are issued: the id_token, and userinfo at an operator that signs it.
const JWT: &[Target] = &[
    Target::Token,
    Target::Notification,
    Target::UserInfo,
    Target::PremiumInfo,
];
const USERINFO: &[Target] = &[Target::UserInfo, Target::PremiumInfo];
const NOTIFICATION: &[Target] = &[Target::Notification];

const fn named(
    name: &'static str,
    targets: &'static [Target],
    description: &'static str,
    make: fn(&str) -> Result<Fault, String>,
) -> NamedFault {
    NamedFault {
        name,
        argument: None,
        targets,
        description,
        make,
    }
}

const fn with_argument(
    name: &'static str,
    argument: &'static str,
    description: &'static str,
    make: fn(&str) -> Result<Fault, String>,
) -> NamedFault {
    NamedFault {
        name,
        argument: Some(argument),
        targets: ANY,
        description,
        make,
    }
}

fn edit(mutation: IdTokenMutation) -> Result<Fault, String> {
    Ok(Fault::IdToken(mutation))
}

fn notify(mutation: NotificationMutation) -> Result<Fault, String> {
    Ok(Fault::Notification(mutation))
}

fn poll(mutation: PollMutation) -> Result<Fault, String> {
    Ok(Fault::Poll(mutation))
}

/// Every fault the binary knows by name. The rest of [`Fault`] (arbitrary bodies, chosen claim
/// edits, private_key_jwt) is for tests, in code.
pub const NAMED_FAULTS: &[NamedFault] = &[
    named("server-error", ANY, "HTTP 500 with an HTML body", |_| {
        Ok(Fault::ServerError)
    }),
    with_argument(
        "slow",
        "DURATION",
        "the right answer, DURATION late (e.g. 800ms, 2s)",
        |d| parse_duration(d).map(Fault::Slow),
    ),
    with_argument(
        "slow-server-error",
        "DURATION",
        "HTTP 500, DURATION late",
        |d| parse_duration(d).map(Fault::SlowServerError),
    ),
    with_argument(
        "oversized",
        "BYTES",
        "a 200 JSON body of BYTES bytes",
        |n| {
            n.parse()
                .map(Fault::Oversized)
                .map_err(|_| format!("oversized:{n}: expected a number of bytes"))
        },
    ),
    named("redirect", ANY, "a 302 to another URL", |_| {
        Ok(Fault::Redirect)
    }),
    named("malformed-json", ANY, "a 200 body that is not JSON", |_| {
        Ok(Fault::MalformedJson)
    }),
    named(
        "foreign-issuer",
        METADATA,
        "the document names another issuer (https://impostor.example)",
        |_| Ok(Fault::ForeignIssuerInMetadata),
    ),
    named(
        "moved-jwks-uri",
        METADATA,
        "jwks_uri names another path (the keys are served there too)",
        |_| Ok(Fault::MovedJwksUri),
    ),
    named(
        "no-state",
        AUTHORIZE,
        "the callback carries no state",
        |_| Ok(Fault::Callback(CallbackMutation::NoState)),
    ),
    named(
        "foreign-state",
        AUTHORIZE,
        "the callback carries another state (CSRF)",
        |_| Ok(Fault::Callback(CallbackMutation::ForeignState)),
    ),
    named(
        "no-iss",
        AUTHORIZE,
        "the callback carries no iss (RFC 9207 is announced)",
        |_| Ok(Fault::Callback(CallbackMutation::NoIss)),
    ),
    named(
        "foreign-iss",
        AUTHORIZE,
        "the callback's iss names another issuer (mix-up)",
        |_| Ok(Fault::Callback(CallbackMutation::ForeignIss)),
    ),
    named(
        "form-post",
        AUTHORIZE,
        "a page that POSTs the callback instead of a 302",
        |_| Ok(Fault::Callback(CallbackMutation::FormPost)),
    ),
    named(
        "secret-post",
        TOKEN,
        "only client_secret_post is accepted (HTTP Basic is refused)",
        |_| Ok(Fault::RequireClientAuth(ClientAuthRequirement::SecretPost)),
    ),
    named(
        "wrong-issuer",
        JWT,
        "the id_token (or signed userinfo) names another issuer",
        |_| Ok(Fault::WrongIssuer),
    ),
    named("alg-none", JWT, "an unsigned JWT (alg none)", |_| {
        edit(IdTokenMutation::AlgNone)
    }),
    named(
        "bad-signature",
        JWT,
        "a JWT whose signature does not verify",
        |_| edit(IdTokenMutation::CorruptSignature),
    ),
    named(
        "foreign-key",
        JWT,
        "a JWT signed with a key that is not in the JWKS, under the current kid",
        |_| edit(IdTokenMutation::ForeignKey),
    ),
    named("expired", JWT, "a JWT that expired 10 minutes ago", |_| {
        edit(IdTokenMutation::from_now("exp", -600))
    }),
    named("wrong-audience", JWT, "a JWT for another client", |_| {
        edit(IdTokenMutation::set("aud", json!(["another-client"])))
    }),
    named(
        "wrong-nonce",
        ID_TOKEN,
        "an id_token with another login's nonce",
        |_| edit(IdTokenMutation::append("nonce", "1")),
    ),
    named(
        "replay",
        ID_TOKEN,
        "the id_token the operator issued last, again",
        |_| edit(IdTokenMutation::ReplayLast),
    ),
    named(
        "tampered-id-token",
        ID_TOKEN,
        "an id_token whose sub was changed after signing",
        |_| {
            edit(IdTokenMutation::Tamper(
                "sub".to_owned(),
                json!("tampered-subscriber"),
            ))
        },
    ),
    named(
        "no-recipient",
        NOTIFICATION,
        "the notified id_token has no recipient",
        |_| edit(IdTokenMutation::remove("recipient")),
    ),
    named(
        "wrong-recipient",
        NOTIFICATION,
        "the notified id_token names another SP's notification URI as recipient",
        |_| edit(IdTokenMutation::set("recipient", json!(IMPOSTOR_RECIPIENT))),
    ),
    named(
        "wrong-bearer",
        NOTIFICATION,
        "the notification carries another bearer token",
        |_| notify(NotificationMutation::WrongBearer),
    ),
    named(
        "unknown-auth-req-id",
        NOTIFICATION,
        "the notification names an auth_req_id never issued",
        |_| notify(NotificationMutation::UnknownAuthReqId),
    ),
    named(
        "duplicate",
        NOTIFICATION,
        "every notification is sent twice",
        |_| notify(NotificationMutation::Duplicate),
    ),
    named(
        "late",
        NOTIFICATION,
        "the notification comes only after the login expired",
        |_| notify(NotificationMutation::Late),
    ),
    named(
        "pending-forever",
        TOKEN,
        "polls are answered authorization_pending whatever the handset did",
        |_| poll(PollMutation::PendingForever),
    ),
    named(
        "slow-down",
        TOKEN,
        "the first poll of each login is answered slow_down",
        |_| poll(PollMutation::SlowDown),
    ),
    named(
        "expired-token",
        TOKEN,
        "polls are answered expired_token",
        |_| poll(PollMutation::Expired),
    ),
    named(
        "subject-mismatch",
        USERINFO,
        "a sub other than the id_token's",
        |_| Ok(Fault::SubjectMismatch),
    ),
];

/// A fault switched on by name: `TARGET[@OPERATOR]=FAULT[:ARGUMENT]`, at every operator unless
/// one is named. Displays as it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSwitch {
    /// The operator (`alpha`, `beta`), or every operator.
    pub operator: Option<String>,
    /// The endpoint.
    pub target: Target,
    /// The fault.
    pub fault: Fault,
    spec: String,
}

impl FromStr for FaultSwitch {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (place, fault) = spec.split_once('=').ok_or_else(|| {
            format!("fault {spec:?}: expected TARGET=FAULT, e.g. token=server-error")
        })?;
        let (target_name, operator) = match place.split_once('@') {
            Some((target, operator)) => (target, Some(operator)),
            None => (place, None),
        };
        let target = Target::from_name(target_name).ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            format!(
                "fault {spec:?}: no endpoint {target_name:?} (one of {})",
                names.join(", ")
            )
        })?;
        if let Some(operator) = operator {
            if target == Target::Discovery {
                return Err(format!("fault {spec:?}: discovery belongs to no operator"));
            }
            if !OPERATORS.iter().any(|o| o.name == operator) {
                return Err(format!("fault {spec:?}: no operator {operator:?}"));
            }
        }
        let (name, argument) = match fault.split_once(':') {
            Some((name, argument)) => (name, Some(argument)),
            None => (fault, None),
        };
        let named = NAMED_FAULTS
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| format!("fault {spec:?}: no fault {name:?} (see --help)"))?;
        let fault = match (named.argument, argument) {
            (Some(_), Some(argument)) => (named.make)(argument)?,
            (None, None) => (named.make)("")?,
            (Some(expected), None) => {
                return Err(format!("fault {spec:?}: write {name}:{expected}"));
            }
            (None, Some(_)) => return Err(format!("fault {spec:?}: {name} takes no argument")),
        };
        if named.targets.is_empty() && target == Target::Notification {
            return Err(format!(
                "fault {spec:?}: {name} applies to the endpoints the SP calls, not to notification"
            ));
        }
        if !named.targets.is_empty() && !named.targets.contains(&target) {
            let names: Vec<&str> = named.targets.iter().map(|t| t.name()).collect();
            return Err(format!(
                "fault {spec:?}: {name} applies to {} only",
                names.join(", ")
            ));
        }
        Ok(Self {
            operator: operator.map(str::to_owned),
            target,
            fault,
            spec: spec.to_owned(),
        })
    }
}

impl fmt::Display for FaultSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn switches_by_name() {
        let switch: FaultSwitch = "jwks=slow:800ms".parse().unwrap();
        assert_eq!(switch.target, Target::Jwks);
        assert_eq!(switch.operator, None);
        assert_eq!(switch.fault, Fault::Slow(Duration::from_millis(800)));
        assert_eq!(switch.to_string(), "jwks=slow:800ms");
        let switch: FaultSwitch = "token@beta=server-error".parse().unwrap();
        assert_eq!(switch.operator.as_deref(), Some("beta"));
        assert_eq!(switch.fault, Fault::ServerError);
        // The revocation endpoint takes the transport faults.
        let switch: FaultSwitch = "revoke@alpha=slow:3s".parse().unwrap();
        assert_eq!(switch.target, Target::Revocation);
        assert_eq!(switch.fault, Fault::Slow(Duration::from_secs(3)));
    }

    #[test]
    fn every_named_fault_parses_at_its_endpoints() {
        for named in NAMED_FAULTS {
            let served: Vec<Target> = Target::ALL
                .into_iter()
                .filter(|t| *t != Target::Notification)
                .collect();
            let targets = if named.targets.is_empty() {
                &served[..]
            } else {
                named.targets
            };
            let fault = match named.argument {
                Some("DURATION") => format!("{}:2s", named.name),
                Some(_) => format!("{}:1000", named.name),
                None => named.name.to_owned(),
            };
            for target in targets {
                let spec = format!("{}={fault}", target.name());
                assert!(spec.parse::<FaultSwitch>().is_ok(), "{spec}");
            }
        }
    }

    #[test]
    fn mistakes_are_explained() {
        for (spec, says) in [
            ("token", "expected TARGET=FAULT"),
            ("tokens=server-error", "no endpoint"),
            ("token@gamma=server-error", "no operator"),
            ("discovery@alpha=server-error", "no operator"),
            ("token=teapot", "no fault"),
            ("token=slow", "write slow:DURATION"),
            ("token=slow:fast", "duration"),
            ("token=redirect:1", "takes no argument"),
            ("jwks=foreign-iss", "applies to authorize only"),
            ("revoke=wrong-issuer", "applies to token, notification"),
            ("notification=server-error", "not to notification"),
            ("token=late", "applies to notification only"),
        ] {
            let error = spec.parse::<FaultSwitch>().unwrap_err();
            assert!(error.contains(says), "{spec}: {error}");
        }
    }
}
