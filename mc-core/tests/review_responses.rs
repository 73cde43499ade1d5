//! One response classifier (issue 10, "One verifier, one reader"): every step reads status,
//! `Location`, OAuth error body, `WWW-Authenticate` and content type through `wire::classify`
//! and its per-endpoint row, so the same response gets the same typed outcome at every step
//! where the rule applies; and every JSON body the core reads is valid UTF-8 as a whole
//! (RFC 8259 8.1), ignored members included (the leftover of fuzz finding F1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::*;

use mc_core::{DiscoveryOutcome, DiscoveryQuery, Error, Exchange as _, ProtocolError, Verified};
use serde_json::{Value, json};

/// The steps that read an HTTP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Discovery,
    Metadata,
    Jwks,
    Token,
    UserInfo,
    PremiumInfo,
}

const STEPS: [Step; 6] = [
    Step::Discovery,
    Step::Metadata,
    Step::Jwks,
    Step::Token,
    Step::UserInfo,
    Step::PremiumInfo,
];

/// What a step made of a response, as far as the classifier decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// The step's answer was read.
    Accepted,
    /// The operator's refusal, with its `error` code.
    Refused(String),
    /// A status the step does not take.
    UnexpectedStatus(u16),
    /// A body that is not the JSON the step reads.
    MalformedJson,
    /// Anything else (printed, so a table failure shows it).
    Other(String),
}

use Outcome::{Accepted, MalformedJson, UnexpectedStatus};

fn refused(code: &str) -> Outcome {
    Outcome::Refused(code.to_owned())
}

fn outcome<T>(result: Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Accepted,
        Err(Error::Refused(e)) => Outcome::Refused(e.error),
        Err(Error::Protocol(ProtocolError::UnexpectedStatus { status, .. })) => {
            UnexpectedStatus(status)
        }
        Err(Error::Protocol(ProtocolError::MalformedJson { .. })) => MalformedJson,
        Err(other) => Outcome::Other(format!("{other:?}")),
    }
}

/// What a body of the table is.
#[derive(Clone, Copy, Debug)]
enum Body {
    /// The step's valid answer.
    Valid,
    /// `{"error":"invalid_request","error_description":"..."}`.
    OAuthError,
    /// An HTML page.
    Html,
    /// Nothing.
    Empty,
}

fn discovery_found() -> Value {
    json!({
        "ttl": NOW + 3600,
        "response": {
            "client_id": "op-client",
            "client_secret": "op-secret",
            "apis": { "operatorid": { "link": [
                { "rel": "authorization", "href": "https://op.example/authorize" },
                { "rel": "token", "href": "https://op.example/token" },
                { "rel": "jwks", "href": "https://op.example/jwks" }
            ] } }
        }
    })
}

fn metadata_doc() -> Value {
    json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://op.example/authorize",
        "token_endpoint": "https://op.example/token",
        "jwks_uri": "https://op.example/jwks",
    })
}

/// The step's valid answer, as bytes (the token answer needs the login's nonce).
fn valid_body(step: Step, nonce: &str) -> Vec<u8> {
    match step {
        Step::Discovery => serde_json::to_vec(&discovery_found()).unwrap(),
        Step::Metadata => serde_json::to_vec(&metadata_doc()).unwrap(),
        Step::Jwks => default_jwks_body(),
        Step::Token => {
            let jwt = sign(
                &valid_claims(nonce),
                jsonwebtoken::Algorithm::RS256,
                TestKey::RsaA,
                Some("kid-a"),
            );
            serde_json::to_vec(&json!({
                "access_token": ACCESS_TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": jwt,
            }))
            .unwrap()
        }
        Step::UserInfo | Step::PremiumInfo => {
            serde_json::to_vec(&json!({ "sub": SUB, "email": "a@example.com" })).unwrap()
        }
    }
}

fn body_bytes(step: Step, body: Body, nonce: &str) -> Vec<u8> {
    match body {
        Body::Valid => valid_body(step, nonce),
        Body::OAuthError => {
            br#"{"error":"invalid_request","error_description":"try again"}"#.to_vec()
        }
        Body::Html => b"<html><body><h1>Service unavailable</h1></body></html>".to_vec(),
        Body::Empty => Vec::new(),
    }
}

/// One response: status, content type (if any), extra headers, body.
struct Response<'a> {
    status: u16,
    content_type: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
    body: Vec<u8>,
}

impl Response<'_> {
    fn build(&self) -> http::Response<Vec<u8>> {
        let mut builder = http::Response::builder().status(self.status);
        if let Some(content_type) = self.content_type {
            builder = builder.header("content-type", content_type);
        }
        for (name, value) in self.headers {
            builder = builder.header(*name, *value);
        }
        builder.body(self.body.clone()).unwrap()
    }
}

/// Hand `step` the response `make` builds (given the login's nonce) and read the outcome.
fn run(step: Step, make: impl FnOnce(&str) -> http::Response<Vec<u8>>) -> Outcome {
    let op = operator();
    match step {
        Step::Discovery => {
            let exchange = discovery_service()
                .discover(&DiscoveryQuery::by_ip_or_selection(), &mut entropy())
                .unwrap();
            outcome(exchange.respond(make(""), now()).map(|answer| {
                assert!(matches!(
                    answer,
                    DiscoveryOutcome::Found(_) | DiscoveryOutcome::OperatorSelection { .. }
                ));
            }))
        }
        Step::Metadata => outcome(
            operator_config()
                .metadata_exchange()
                .unwrap()
                .respond(make(""), now()),
        ),
        Step::Jwks => outcome(op.jwks_exchange().unwrap().respond(make(""), now())),
        Step::Token => outcome(token_step(&op, mc_core::AuthorizeOptions::new(), |s| {
            make(&s.nonce)
        })),
        Step::UserInfo | Step::PremiumInfo => {
            let tokens = verify_claims(&op, |_| {}).unwrap();
            let exchange = if step == Step::UserInfo {
                tokens.userinfo(&op).unwrap()
            } else {
                tokens.premiuminfo(&op).unwrap()
            };
            outcome(
                exchange
                    .respond(make(""), now())
                    .map(|verified| assert!(matches!(verified, Verified::Done(_)))),
            )
        }
    }
}

/// One row: a response, and the outcome at each step (in [`STEPS`] order).
struct Row {
    case: &'static str,
    status: u16,
    content_type: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    body: Body,
    expect: [Outcome; 6],
}

fn all(outcome: &Outcome) -> [Outcome; 6] {
    std::array::from_fn(|_| outcome.clone())
}

#[test]
fn review_one_response_classifier_table() {
    let bearer: &'static [(&str, &str)] = &[(
        "www-authenticate",
        r#"Bearer error="invalid_token", error_description="expired""#,
    )];
    let rows = [
        Row {
            case: "the step's answer as application/json",
            status: 200,
            content_type: Some("application/json; charset=utf-8"),
            headers: &[],
            body: Body::Valid,
            expect: all(&Accepted),
        },
        // DESIGN rule 2: the content type never refuses a body; the body's syntax is checked.
        Row {
            case: "the step's answer labelled text/plain",
            status: 200,
            content_type: Some("text/plain"),
            headers: &[],
            body: Body::Valid,
            expect: all(&Accepted),
        },
        Row {
            case: "the step's answer without a content type",
            status: 200,
            content_type: None,
            headers: &[],
            body: Body::Valid,
            expect: all(&Accepted),
        },
        Row {
            case: "the step's answer labelled text/html (PHP's default)",
            status: 200,
            content_type: Some("text/html"),
            headers: &[],
            body: Body::Valid,
            expect: all(&Accepted),
        },
        Row {
            case: "an HTML page at 200",
            status: 200,
            content_type: Some("text/html"),
            headers: &[],
            body: Body::Html,
            expect: all(&MalformedJson),
        },
        Row {
            case: "an OAuth error at 400",
            status: 400,
            content_type: Some("application/json"),
            headers: &[],
            body: Body::OAuthError,
            expect: all(&refused("invalid_request")),
        },
        Row {
            case: "an OAuth error at 401 labelled text/plain",
            status: 401,
            content_type: Some("text/plain"),
            headers: &[],
            body: Body::OAuthError,
            expect: all(&refused("invalid_request")),
        },
        // MC discovery served errors with 200; no token, metadata or userinfo answer has an
        // `error` member. A JWKS is a static document with no OAuth error (RFC 7517): its
        // `error` member is not read, and a key set without `keys` is malformed.
        Row {
            case: "an OAuth error at 200",
            status: 200,
            content_type: Some("application/json"),
            headers: &[],
            body: Body::OAuthError,
            expect: [
                refused("invalid_request"),
                refused("invalid_request"),
                MalformedJson,
                refused("invalid_request"),
                refused("invalid_request"),
                refused("invalid_request"),
            ],
        },
        Row {
            case: "an HTML page at 500",
            status: 500,
            content_type: Some("text/html"),
            headers: &[],
            body: Body::Html,
            expect: all(&UnexpectedStatus(500)),
        },
        Row {
            case: "an empty 503",
            status: 503,
            content_type: None,
            headers: &[],
            body: Body::Empty,
            expect: all(&UnexpectedStatus(503)),
        },
        Row {
            case: "the step's answer at 201",
            status: 201,
            content_type: Some("application/json"),
            headers: &[],
            body: Body::Valid,
            expect: all(&UnexpectedStatus(201)),
        },
        // RFC 6750 3: the challenge is read where a bearer token was sent.
        Row {
            case: "a Bearer challenge at 401 with an HTML body",
            status: 401,
            content_type: Some("text/html"),
            headers: bearer,
            body: Body::Html,
            expect: [
                UnexpectedStatus(401),
                UnexpectedStatus(401),
                UnexpectedStatus(401),
                UnexpectedStatus(401),
                refused("invalid_token"),
                refused("invalid_token"),
            ],
        },
        // Only discovery takes a redirect (to the operator selection page).
        Row {
            case: "a 302 to a page",
            status: 302,
            content_type: None,
            headers: &[("location", "https://discovery.example/select")],
            body: Body::Empty,
            expect: [
                Accepted,
                UnexpectedStatus(302),
                UnexpectedStatus(302),
                UnexpectedStatus(302),
                UnexpectedStatus(302),
                UnexpectedStatus(302),
            ],
        },
        Row {
            case: "an OAuth error at 302",
            status: 302,
            content_type: Some("application/json"),
            headers: &[],
            body: Body::OAuthError,
            expect: [
                Outcome::Other(
                    "Protocol(MissingField { endpoint: Discovery, field: \"Location\" })".into(),
                ),
                refused("invalid_request"),
                refused("invalid_request"),
                refused("invalid_request"),
                refused("invalid_request"),
                refused("invalid_request"),
            ],
        },
    ];
    let mut failures = Vec::new();
    for row in &rows {
        for (step, expected) in STEPS.iter().zip(&row.expect) {
            let found = run(*step, |nonce| {
                Response {
                    status: row.status,
                    content_type: row.content_type,
                    headers: row.headers,
                    body: body_bytes(*step, row.body, nonce),
                }
                .build()
            });
            if found != *expected {
                failures.push(format!(
                    "{}: {step:?} gave {found:?}, expected {expected:?}",
                    row.case
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Invalid UTF-8 (a lone continuation byte) inside a member the step ignores: serde skips such
/// a member unread, so the check is the core's own, once for every JSON body.
fn with_invalid_utf8(body: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(body).unwrap();
    let rest = text.strip_prefix('{').unwrap();
    let mut out = b"{\"x-ignored\":\"\x95\xe4T\",".to_vec();
    out.extend_from_slice(rest.as_bytes());
    out
}

#[test]
fn review_json_bodies_must_be_utf8() {
    let mut failures = Vec::new();
    for step in STEPS {
        // The valid answer is accepted, and refused once an ignored member holds invalid UTF-8.
        for (broken, expected) in [(false, Accepted), (true, MalformedJson)] {
            let found = run(step, |nonce| {
                let body = valid_body(step, nonce);
                let body = if broken {
                    with_invalid_utf8(&body)
                } else {
                    body
                };
                raw_response(200, "application/json", &body)
            });
            if found != expected {
                failures.push(format!("{step:?} (broken: {broken}): {found:?}"));
            }
        }
        // An error body with invalid UTF-8 is not read as the operator's words: at 400 the
        // answer is a status the step does not take.
        let error = br#"{"error":"invalid_grant","error_description":"no"}"#;
        let found = run(step, |_| {
            raw_response(400, "application/json", &with_invalid_utf8(error))
        });
        if found != UnexpectedStatus(400) {
            failures.push(format!("{step:?} error body: {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The error-body reader and the public body parsers say so themselves.
    let error = with_invalid_utf8(br#"{"error":"invalid_grant"}"#);
    for endpoint in [
        mc_core::Endpoint::Token,
        mc_core::Endpoint::Discovery,
        mc_core::Endpoint::UserInfo,
    ] {
        assert!(mc_core::wire::parse_error_body(endpoint, Some(400), &error).is_none());
    }
    let reason = |result: Result<(), ProtocolError>| match result {
        Err(ProtocolError::MalformedJson { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    let metadata = with_invalid_utf8(&serde_json::to_vec(&metadata_doc()).unwrap());
    assert_eq!(
        reason(mc_core::ProviderMetadata::parse(&metadata).map(drop)),
        "invalid UTF-8 at byte 14"
    );
    let jwks = with_invalid_utf8(&default_jwks_body());
    assert_eq!(
        reason(mc_core::Jwks::parse(&jwks).map(drop)),
        "invalid UTF-8 at byte 14"
    );
    let token = with_invalid_utf8(br#"{"access_token":"a","token_type":"Bearer"}"#);
    assert_eq!(
        reason(mc_core::TokenResponse::parse(&token).map(drop)),
        "invalid UTF-8 at byte 14"
    );
    // Nesting is bounded in the same gate (DESIGN rule 5): serde skips an ignored member of
    // any depth unread.
    for (depth, read) in [(65, false), (63, true)] {
        let body = format!(
            "{{\"x\":{}{},\"error\":\"invalid_grant\"}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let error =
            mc_core::wire::parse_error_body(mc_core::Endpoint::Token, Some(400), body.as_bytes());
        assert_eq!(error.is_some(), read, "nested {depth} deep");
    }
}
