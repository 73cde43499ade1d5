//! Network trust (issue 10, findings 1, 2, 10 and 11): every URL the library sends a request or
//! the browser to is https (plain http only on a loopback address, or where a registry entry or
//! discovery service opts in); metadata is taken only from its issuer's own well-known URL, and
//! then the keys' location from it alone; a return from the operator selection page is accepted
//! only with the selection leg of the browser that was sent there; and a fragment is never read
//! as a query. Each test failed on the code before the fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::*;

use mc_core::{
    CallbackError, ClientSecret, DiscoveryAnswer, DiscoveryOutcome, DiscoveryQuery,
    DiscoveryService, Endpoint, Error, Exchange as _, MetadataExchange, MisuseError,
    OperatorConfig, ProtocolError, ProviderMetadata, SelectionLeg, SelectionReturn,
    TransportConfig,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers

/// What `service` makes of `response` to a discovery without identifiers. Each discovery
/// draws other "random" bytes, as the OS would: two selection legs never share a state.
fn discover_with(
    service: &DiscoveryService,
    response: http::Response<Vec<u8>>,
) -> Result<DiscoveryOutcome, Error> {
    static DRAWS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);
    let draw = DRAWS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    service
        .discover(
            &DiscoveryQuery::by_ip_or_selection(),
            &mut |buf: &mut [u8]| {
                buf.fill(draw);
            },
        )
        .unwrap()
        .respond(response, now())
}

fn redirect_to(location: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(302)
        .header("location", location)
        .body(Vec::new())
        .unwrap()
}

/// A discovery answer naming an operator with these links.
fn found(links: &[(&str, &str)]) -> Value {
    let links: Vec<Value> = links
        .iter()
        .map(|(rel, href)| json!({ "rel": rel, "href": href }))
        .collect();
    json!({
        "ttl": NOW + 3600,
        "response": {
            "client_id": "op-client",
            "client_secret": "op-secret",
            "apis": { "operatorid": { "link": links } }
        }
    })
}

/// The answer `service` reads from a 200 with `body`.
fn answer_from(service: &DiscoveryService, body: &Value) -> DiscoveryAnswer {
    match discover_with(service, json_response(200, body)).unwrap() {
        DiscoveryOutcome::Found(answer) => answer,
        other => panic!("expected an operator, got {other:?}"),
    }
}

/// The https links of the test operator.
const OP_LINKS: [(&str, &str); 3] = [
    ("authorization", "https://op.example/authorize"),
    ("token", "https://op.example/token"),
    ("jwks", "https://op.example/jwks"),
];

fn metadata(doc: &Value) -> ProviderMetadata {
    ProviderMetadata::parse(&serde_json::to_vec(doc).unwrap()).unwrap()
}

/// The test operator's metadata with one member replaced.
fn metadata_with(name: &str, value: &str) -> ProviderMetadata {
    let mut doc = json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://op.example/authorize",
        "token_endpoint": "https://op.example/token",
        "userinfo_endpoint": "https://op.example/userinfo",
        "jwks_uri": "https://op.example/jwks",
    });
    doc[name] = json!(value);
    metadata(&doc)
}

fn is_plain_http(error: &Error, endpoint: Endpoint, field: &str, host: &str) -> bool {
    matches!(error, Error::Protocol(ProtocolError::PlainHttp { endpoint: e, field: f, host: h })
        if *e == endpoint && *f == field && h == host)
}

// ---------------------------------------------------------------------------------------------
// Finding 1: plain http only on loopback, or where the entry opts in

#[test]
fn review_http_metadata_endpoint_refused() {
    // Every endpoint member of the metadata, as plain http on a public host: refused, naming
    // the member and the host.
    for (member, what) in [
        ("authorization_endpoint", "authorization endpoint"),
        ("token_endpoint", "token endpoint"),
        ("userinfo_endpoint", "userinfo endpoint"),
        ("premiuminfo_endpoint", "premiuminfo endpoint"),
        ("jwks_uri", "jwks_uri"),
        ("revocation_endpoint", "tokenrevoke"),
        ("si_authorization_endpoint", "si_authorization_endpoint"),
    ] {
        let doc = metadata_with(member, "http://op.example/endpoint");
        let error = operator_config().with_metadata(doc.clone()).unwrap_err();
        assert!(
            is_plain_http(&error, Endpoint::Metadata, what, "op.example"),
            "{member}: {error:?}"
        );
        // On a loopback address (a sandbox), and for an entry that opts in, it is accepted.
        let loopback = metadata_with(member, "http://127.0.0.1:8080/endpoint");
        operator_config()
            .with_metadata(loopback)
            .unwrap_or_else(|e| panic!("{member} on 127.0.0.1: {e:?}"))
            .build()
            .unwrap();
        operator_config()
            .allow_plain_http(true)
            .with_metadata(doc)
            .unwrap_or_else(|e| panic!("{member} with allow_plain_http: {e:?}"))
            .build()
            .unwrap();
    }
}

#[test]
fn review_http_registry_endpoint_refused() {
    // A registry entry's own URLs: refused when the context is built (whatever order the
    // builder ran in), as the host's misuse.
    type Edit = fn(OperatorConfig, &str) -> Result<OperatorConfig, Error>;
    let setters: [(&str, Edit); 7] = [
        ("authorization endpoint", OperatorConfig::authorization),
        ("token endpoint", OperatorConfig::token),
        ("userinfo endpoint", OperatorConfig::userinfo),
        ("premiuminfo endpoint", OperatorConfig::premiuminfo),
        ("jwks", OperatorConfig::jwks),
        ("tokenrevoke", OperatorConfig::revocation),
        ("tokenrefresh", OperatorConfig::refresh),
    ];
    for (what, set) in setters {
        let config = set(operator_config(), "http://op.example/endpoint").unwrap();
        let error = config.clone().build().unwrap_err();
        assert!(
            matches!(&error, Error::Misuse(MisuseError::PlainHttp { what: w, host })
                if *w == what && host == "op.example"),
            "{what}: {error:?}"
        );
        config.allow_plain_http(true).build().unwrap();
    }
    // The metadata of an issuer on plain http is not fetched either.
    let error = operator_config()
        .issuer("http://op.example")
        .metadata_exchange()
        .unwrap_err();
    assert!(
        matches!(&error, Error::Misuse(MisuseError::PlainHttp { host, .. }) if host == "op.example"),
        "{error:?}"
    );
    assert!(MetadataExchange::for_issuer("http://op.example").is_err());
    assert!(MetadataExchange::for_issuer("http://127.0.0.1:3000").is_ok());
    assert!(MetadataExchange::for_issuer("http://[::1]:3000").is_ok());
}

#[test]
fn review_http_loopback_means_ip_literals_only() {
    // 127.0.0.0/8 and ::1 are on this machine by definition; a name (`localhost` included) is
    // whatever the resolver says at the time of the request.
    for (url, accepted) in [
        ("http://127.0.0.1/token", true),
        ("http://127.8.9.10:9000/token", true),
        ("http://[::1]:9000/token", true),
        ("https://op.example/token", true),
        ("http://localhost:9000/token", false),
        ("http://localhost.op.example/token", false),
        ("http://127.0.0.1.nip.io/token", false),
        ("http://[::ffff:127.0.0.1]/token", false),
        ("http://10.0.0.1/token", false),
        ("http://op.example/token", false),
    ] {
        let built = operator_config().token(url).unwrap().build();
        assert_eq!(built.is_ok(), accepted, "{url}: {built:?}");
        let permitted = TransportConfig::default().permits(&url.parse().unwrap());
        assert_eq!(permitted, accepted, "{url} through an adapter");
    }
    let any = TransportConfig::default().with_plain_http(true);
    assert!(any.permits(&"http://op.example/token".parse().unwrap()));
    assert!(!any.permits(&"ftp://op.example/token".parse().unwrap()));
}

#[test]
fn review_http_discovery_link_refused() {
    // An operator link in a discovery answer, as plain http on a public host.
    for rel in OPERATOR_ENDPOINT_RELS {
        let mut links = OP_LINKS.to_vec();
        links.retain(|(r, _)| *r != rel);
        links.push((rel, "http://op.example/endpoint"));
        let answer = answer_from(&discovery_service(), &found(&links));
        let error = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap_err();
        assert!(
            is_plain_http(&error, Endpoint::Discovery, rel, "op.example"),
            "{rel}: {error:?}"
        );
        // A discovery service that opts in passes the choice on to the operator.
        let lab = discovery_service().allow_plain_http(true);
        let answer = answer_from(&lab, &found(&links));
        OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI)
            .unwrap_or_else(|e| panic!("{rel} from a service that allows http: {e:?}"))
            .issuer(ISSUER)
            .build()
            .unwrap();
    }
    // The issuer link (the metadata would be fetched from it), and an openid-configuration
    // link that names the issuer.
    for (rel, href, field) in [
        ("issuer", "http://op.example", "issuer"),
        (
            "openid-configuration",
            "http://op.example/.well-known/openid-configuration",
            "openid-configuration",
        ),
    ] {
        let mut links = OP_LINKS.to_vec();
        links.push((rel, href));
        let answer = answer_from(&discovery_service(), &found(&links));
        let error = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap_err();
        assert!(
            is_plain_http(&error, Endpoint::Discovery, field, "op.example"),
            "{rel}: {error:?}"
        );
    }
    // The operator selection link, in a 202 and in a 200.
    let body = json!({ "links": [{ "rel": "operatorSelection", "href": "http://discovery.example/select" }] });
    for status in [202, 200] {
        let error = discover_with(&discovery_service(), json_response(status, &body)).unwrap_err();
        assert!(
            is_plain_http(
                &error,
                Endpoint::Discovery,
                "operatorSelection",
                "discovery.example"
            ),
            "{status}: {error:?}"
        );
    }
    // The discovery endpoint itself.
    let plain = DiscoveryService::new(
        "http://discovery.example/v2/discovery",
        "disc-client",
        ClientSecret::new("disc-secret"),
        "https://sp.example/discovered",
    )
    .unwrap();
    let error = plain
        .discover(&DiscoveryQuery::by_ip_or_selection(), &mut entropy())
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Misuse(MisuseError::PlainHttp {
                what: "discovery endpoint",
                ..
            })
        ),
        "{error:?}"
    );
    let exchange = plain
        .allow_plain_http(true)
        .discover(&DiscoveryQuery::by_ip_or_selection(), &mut entropy())
        .unwrap();
    assert_eq!(exchange.request().uri().scheme_str(), Some("http"));
}

#[test]
fn review_http_location_refused() {
    let error = discover_with(
        &discovery_service(),
        redirect_to("http://discovery.example/select"),
    )
    .unwrap_err();
    assert!(
        is_plain_http(&error, Endpoint::Discovery, "Location", "discovery.example"),
        "{error:?}"
    );
    // https, a loopback sandbox, or a service that opts in.
    for (service, location) in [
        (discovery_service(), "https://discovery.example/select"),
        (discovery_service(), "http://127.0.0.1:8080/select"),
        (
            discovery_service().allow_plain_http(true),
            "http://discovery.example/select",
        ),
    ] {
        match discover_with(&service, redirect_to(location)) {
            Ok(DiscoveryOutcome::OperatorSelection { url, .. }) => {
                assert!(url.as_str().starts_with(location), "{url}");
            }
            other => panic!("{location}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 2: the issuer is tied to the origin of its metadata

#[test]
fn review_metadata_from_foreign_origin_refused() {
    // A discovery answer pairing the real operator's issuer with metadata on another host (that
    // would claim the issuer and name its own keys): refused.
    let foreign = "https://evil.example/.well-known/openid-configuration";
    let mut links = OP_LINKS.to_vec();
    links.push(("issuer", ISSUER));
    links.push(("openid-configuration", foreign));
    let answer = answer_from(&discovery_service(), &found(&links));
    let error = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap_err();
    assert!(
        matches!(&error, Error::Protocol(ProtocolError::MetadataOrigin { expected, found })
            if expected == "https://op.example/.well-known/openid-configuration" && found == foreign),
        "{error:?}"
    );

    // The same link without an issuer link names its own issuer, evil.example: metadata
    // fetched from there that claims the real operator's issuer is refused.
    let mut links = OP_LINKS.to_vec();
    links.push(("openid-configuration", foreign));
    let answer = answer_from(&discovery_service(), &found(&links));
    let config = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap();
    let exchange = config.metadata_exchange().unwrap();
    assert_eq!(exchange.request().uri(), foreign);
    let forged = json_response(
        200,
        &json!({ "issuer": ISSUER, "jwks_uri": "https://evil.example/jwks" }),
    );
    let error = exchange.respond(forged, now()).unwrap_err();
    assert!(
        matches!(&error, Error::Protocol(ProtocolError::MetadataIssuerMismatch { expected, found })
            if expected == "https://evil.example" && found == ISSUER),
        "{error:?}"
    );

    // A link of another form (the GSMA reference operator's `discovery.php/...`) is not used:
    // no issuer, so no metadata until the host names the issuer, and then only from the
    // issuer's own well-known URL.
    let mut links = OP_LINKS.to_vec();
    links.push((
        "openid-configuration",
        "https://evil.example/discovery.php/openid-configuration",
    ));
    let answer = answer_from(&discovery_service(), &found(&links));
    let config = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap();
    assert!(matches!(
        config.metadata_exchange().unwrap_err(),
        Error::Misuse(MisuseError::MissingEndpoint { .. })
    ));
    let exchange = config.issuer(ISSUER).metadata_exchange().unwrap();
    assert_eq!(
        exchange.request().uri(),
        "https://op.example/.well-known/openid-configuration"
    );

    // The matching pair is accepted, and the metadata comes from the issuer's URL.
    let mut links = OP_LINKS.to_vec();
    links.push(("issuer", "https://op.example/tenant/"));
    links.push((
        "openid-configuration",
        "https://op.example/tenant/.well-known/openid-configuration",
    ));
    let answer = answer_from(&discovery_service(), &found(&links));
    let config = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap();
    assert_eq!(
        config.metadata_exchange().unwrap().request().uri(),
        "https://op.example/tenant/.well-known/openid-configuration"
    );
}

#[test]
fn review_jwks_uri_only_from_metadata() {
    // A JWKS link from discovery (or a registry entry) does not survive the operator's
    // metadata: its `jwks_uri`, or no JWKS URL at all.
    let mut links = OP_LINKS.to_vec();
    links.retain(|(rel, _)| *rel != "jwks");
    links.push(("jwks", "https://attacker.example/jwks"));
    links.push(("issuer", ISSUER));
    let answer = answer_from(&discovery_service(), &found(&links));
    let config = OperatorConfig::from_discovery(&answer, "234_15", REDIRECT_URI).unwrap();

    let op = config
        .clone()
        .with_metadata(metadata_with("jwks_uri", "https://op.example/keys"))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        op.endpoints().jwks.as_ref().map(url::Url::as_str),
        Some("https://op.example/keys")
    );

    // Metadata without `jwks_uri`: the discovered link is dropped, and a context that needs
    // the operator's keys cannot be built.
    let without = metadata(&json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://op.example/authorize",
        "token_endpoint": "https://op.example/token",
    }));
    let configured = config.with_metadata(without.clone()).unwrap();
    let error = configured.clone().build().unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Misuse(MisuseError::IncompleteOperator {
                missing: mc_core::MissingSetting::KeySource,
                ..
            })
        ),
        "{error:?}"
    );
    // Keys the host handed over itself stay.
    let op = configured.keys(default_jwks()).build().unwrap();
    assert!(op.endpoints().jwks.is_none());
    assert!(!op.jwks().is_empty());

    // The same for a registry entry's configured JWKS URL.
    let error = operator_config()
        .with_metadata(without)
        .unwrap()
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Misuse(MisuseError::IncompleteOperator { .. })
        ),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 10: the selection return is tied to the browser

/// The selection page URL and leg of a discovery that answered with its selection page.
fn selection(service: &DiscoveryService) -> (url::Url, SelectionLeg) {
    let body = json!({ "links": [{ "rel": "operatorSelection", "href": "https://discovery.example/select?session_id=42" }] });
    match discover_with(service, json_response(202, &body)).unwrap() {
        DiscoveryOutcome::OperatorSelection { url, leg } => (url, leg),
        other => panic!("expected the selection page, got {other:?}"),
    }
}

/// The `state` the selection page URL carries.
fn state_of(url: &url::Url) -> String {
    param(&query_of(url), "state").expect("state on the selection URL")
}

#[test]
fn review_unsolicited_selection_return_refused() {
    let (url, leg) = selection(&discovery_service());
    let state = state_of(&url);
    assert_eq!(state, leg.state().expose_secret());
    assert_eq!(state.len(), 43, "256 bits, base64url");
    assert_eq!(leg.issued_at(), now());
    assert_eq!(leg.expires_at(), now().plus(600));
    // Small and serializable, for the host's store or cookie.
    let stored = serde_json::to_string(&leg).unwrap();
    assert!(stored.len() < 200, "{stored}");
    let stored = || serde_json::from_str::<SelectionLeg>(&stored).unwrap();

    // The attacker's own return (login CSRF: `login_hint=ENCR_MSISDN:ATTACKER` in the
    // victim's redirect) with any state but the leg's is refused before anything is read.
    for planted in [
        "mcc_mnc=234_15&subscriber_id=ATTACKER&state=guess".to_owned(),
        format!("mcc_mnc=234_15&subscriber_id=ATTACKER&state={state}x"),
        "mcc_mnc=234_15&subscriber_id=ATTACKER&state=".to_owned(),
        "error=access_denied&state=guess".to_owned(),
    ] {
        let error = SelectionReturn::parse(&planted, stored(), now()).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Callback(CallbackError::SelectionStateMismatch)
            ),
            "{planted}: {error:?}"
        );
    }
    // The browser's own return is read.
    let own = format!("mcc_mnc=234_15&subscriber_id=abc123&state={state}");
    let back = SelectionReturn::parse(&own, stored(), now()).unwrap();
    assert_eq!(back.subscriber_id.unwrap().expose_secret(), "abc123");

    // A service whose page echoes `state`: a return without it is refused too, even while
    // the victim's browser holds a leg.
    let (url, leg) = selection(&discovery_service().require_selection_state(true));
    let planted = "mcc_mnc=234_15&subscriber_id=ATTACKER";
    let error = SelectionReturn::parse(planted, leg, now()).unwrap_err();
    assert!(
        matches!(error, Error::Callback(CallbackError::SelectionStateMissing)),
        "{error:?}"
    );
    let (_, leg) = selection(&discovery_service().require_selection_state(true));
    assert!(
        SelectionReturn::parse(&format!("{planted}&state={}", state_of(&url)), leg, now()).is_err()
    );
}

#[test]
fn review_selection_return_replayed_or_expired_refused() {
    // A return captured from an earlier selection (its state) replayed into a browser that
    // is on a selection of its own: refused.
    let (first_url, first_leg) = selection(&discovery_service());
    let captured = format!(
        "mcc_mnc=234_15&subscriber_id=abc123&state={}",
        state_of(&first_url)
    );
    SelectionReturn::parse(&captured, first_leg, now()).unwrap();
    let (_, second_leg) = selection(&discovery_service());
    let error = SelectionReturn::parse(&captured, second_leg, now()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Callback(CallbackError::SelectionStateMismatch)
        ),
        "{error:?}"
    );

    // The leg's lifetime, against the injected clock: the last second is in, the next out,
    // whatever the return says.
    let (url, leg) = selection(&discovery_service().selection_timeout_secs(120));
    let stored = serde_json::to_string(&leg).unwrap();
    let leg = || serde_json::from_str::<SelectionLeg>(&stored).unwrap();
    let own = format!("mcc_mnc=234_15&state={}", state_of(&url));
    SelectionReturn::parse(&own, leg(), now().plus(120)).unwrap();
    for query in [own.as_str(), "mcc_mnc=234_15", "err_msg=MSISDNNotFound"] {
        let error = SelectionReturn::parse(query, leg(), now().plus(121)).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Callback(CallbackError::SelectionExpired {
                    issued_at: NOW,
                    expires_at,
                    now: later,
                }) if expires_at == NOW + 120 && later == NOW + 121
            ),
            "{query}: {error:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 11: the fragment starts at the first `#`

#[test]
fn review_callback_url_fragment_before_query() {
    let op = operator();
    let started = start(&op, mc_core::AuthorizeOptions::new());
    let state = &started.state;
    // `?code=..&state=..` after a `#` is the fragment, which the server never received and
    // the attacker writes freely: it is not the callback's query.
    for url in [
        format!("https://sp.example/callback#x?code=evil&state={state}"),
        format!("https://sp.example/callback#?code=evil&state={state}"),
        format!("HTTPS://sp.example/callback#frag?code=evil&state={state}"),
    ] {
        let error = started.flow.clone().callback(&op, &url, now()).unwrap_err();
        assert!(
            matches!(error, Error::Callback(CallbackError::StateMissing)),
            "{url}: {error:?}"
        );
    }
    // A query before the fragment is read, and the fragment ignored.
    let url = format!("https://sp.example/callback?code=good&state={state}#code=evil");
    let code = started.flow.clone().callback(&op, &url, now()).unwrap();
    assert_eq!(code.operator_id(), op.id());
    // A bare query string with a `#` is cut there too.
    let error = started
        .flow
        .clone()
        .callback(&op, &format!("state={state}#&code=evil"), now())
        .unwrap_err();
    assert!(
        matches!(error, Error::Callback(CallbackError::CodeMissing)),
        "{error:?}"
    );

    // The selection return: the same rule.
    let (url, leg) = selection(&discovery_service());
    let planted = format!(
        "https://sp.example/discovered#x?mcc_mnc=234_15&subscriber_id=ATTACKER&state={}",
        state_of(&url)
    );
    let back = SelectionReturn::parse(&planted, leg, now()).unwrap();
    assert!(
        back.mcc_mnc.is_none() && back.subscriber_id.is_none(),
        "{back:?}"
    );
}
