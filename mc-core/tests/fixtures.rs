//! Every file under `tests/fixtures` (real Mobile Connect payloads, see its README) fed to the
//! parser it belongs to. Each category test checks all files of its directory and reports every
//! failing file at once; `all_fixture_files_are_checked` walks the whole tree, so that a missing
//! directory or an unhandled new file cannot pass silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// mc-core's clippy.toml forbids file access to the sans-IO library; these tests read fixtures.
#![allow(clippy::disallowed_methods)]

mod support;
use support::*;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::userinfo::parse_www_authenticate;
use mc_core::{
    Algorithm, AuthorizeOptions, ClientSecret, Discovered, DiscoveryAnswer, DiscoveryOutcome,
    DiscoveryQuery, Endpoint, Error, Exchange as _, IdTokenError, Jwks, KeyType, MisuseError,
    OperatorConfig, ProtocolError, ProviderMetadata, Registration, SelectionReturn, TokenResponse,
    Verified, wire,
};
use serde_json::{Value, json};

/// The files per category listed in the fixtures README ("Counts (99 files)").
const CATEGORIES: &[(&str, usize)] = &[
    ("discovery", 14),
    ("discovery-redirect", 5),
    ("provider-metadata", 4),
    ("jwks", 11),
    ("token", 8),
    ("id-token", 36),
    ("userinfo", 9),
    ("premiuminfo", 2),
    ("errors", 5),
    ("kyc", 2),
    ("server-initiated", 1),
    ("config", 2),
];

const REFERENCE_ISSUER: &str = "https://reference.mobileconnect.io/mobileconnect";
const REFERENCE_CLIENT_ID: &str = "x-ZWRhNjU3OWI3MGIwYTRh";

struct Fixture {
    /// Path relative to the fixtures directory, e.g. `discovery/operator-found-reference-uk.json`.
    rel: String,
    category: String,
    name: String,
    body: Vec<u8>,
}

impl Fixture {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_else(|_| panic!("{} is not UTF-8", self.rel))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", self.rel))
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read fixture directory {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn load(dir: &Path) -> Vec<Fixture> {
    let root = root();
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.parent() != Some(root.as_path())) // the README at the top
        .map(|path| {
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let (category, name) = rel.split_once('/').unwrap();
            Fixture {
                category: category.to_owned(),
                name: name.to_owned(),
                body: std::fs::read(&path).unwrap(),
                rel: rel.clone(),
            }
        })
        .collect()
}

/// Check every fixture, catching each failure (or library panic) so that all are reported.
fn run(fixtures: &[Fixture]) -> usize {
    let mut failures = Vec::new();
    for fixture in fixtures {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(fixture))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "non-string panic".to_owned());
            failures.push(format!("{}: {message}", fixture.rel));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    fixtures.len()
}

fn run_category(category: &str) -> usize {
    let fixtures = load(&root().join(category));
    let expected = CATEGORIES
        .iter()
        .find(|(c, _)| *c == category)
        .map_or(1, |(_, n)| *n);
    assert!(
        fixtures.len() >= expected,
        "{category}: {} files, the README lists {expected}",
        fixtures.len()
    );
    run(&fixtures)
}

fn check(fixture: &Fixture) {
    match fixture.category.as_str() {
        "discovery" => check_discovery(fixture),
        "discovery-redirect" => check_discovery_redirect(fixture),
        "provider-metadata" => check_metadata(fixture),
        "jwks" => check_jwks(fixture),
        "token" => check_token(fixture),
        "id-token" => check_id_token(fixture),
        "userinfo" | "premiuminfo" => check_userinfo(fixture),
        "errors" => check_error(fixture),
        "kyc" => check_kyc(fixture),
        "server-initiated" => {
            assert!(fixture.json().is_object());
        }
        "config" => check_config(fixture),
        other => panic!("no check for fixture category {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An operator that looks like the one a token was issued by: its issuer and client, the HMAC
/// key the PHP vectors use ("secret"), HS256 allowed, and the given keys.
fn lookalike_operator(issuer: &str, client_id: &str, jwks: Jwks) -> Discovered {
    let mut policy = mc_core::Policy::default();
    policy.allowed_algorithms.push(Algorithm::HS256);
    let op = OperatorConfig::new(Registration {
        operator_id: "lookalike".to_owned(),
        client_id: client_id.to_owned(),
        client_secret: ClientSecret::new("secret"),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .unwrap()
    .issuer(issuer)
    .authorization("https://op.example/authorize")
    .unwrap()
    .token("https://op.example/token")
    .unwrap()
    .jwks("https://op.example/jwks")
    .unwrap()
    .userinfo("https://op.example/userinfo")
    .unwrap()
    .premiuminfo("https://op.example/premiuminfo")
    .unwrap()
    .policy(policy)
    .build()
    .unwrap();
    op.set_jwks(jwks, now());
    op
}

/// The union of the key sets the README says are real and usable (no negative vector).
fn fixture_keys() -> Jwks {
    let mut keys = Vec::new();
    for name in [
        "reference-phpop-00.json",
        "integration2-rs256-no-kid.json",
        "integration2-two-keys-kid.json",
    ] {
        let doc: Value =
            serde_json::from_slice(&std::fs::read(root().join("jwks").join(name)).unwrap())
                .unwrap();
        keys.extend(doc["keys"].as_array().unwrap().iter().cloned());
    }
    Jwks::parse(&jwks_body(&keys)).unwrap()
}

fn reference_token() -> String {
    std::fs::read_to_string(root().join("id-token/reference-phpop-00.jwt.txt")).unwrap()
}

/// Errors about the JWS itself (structure, algorithm, key, signature), as opposed to claims.
fn is_signature_error(error: &Error) -> bool {
    matches!(
        error,
        Error::IdToken(
            IdTokenError::TooLong { .. }
                | IdTokenError::Malformed { .. }
                | IdTokenError::AlgorithmNotAllowed { .. }
                | IdTokenError::CriticalHeader { .. }
                | IdTokenError::UnknownKeyId { .. }
                | IdTokenError::NoUsableKey { .. }
                | IdTokenError::KeyRejected { .. }
                | IdTokenError::BadSignature
        )
    )
}

fn decoded_payload(jwt: &str) -> Vec<u8> {
    let payload = jwt.trim().split('.').nth(1).unwrap();
    URL_SAFE_NO_PAD.decode(payload).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

fn expected_expiry(ttl: Option<&Value>) -> u64 {
    let raw = ttl.and_then(|t| {
        t.as_u64()
            .or_else(|| t.as_str().and_then(|s| s.trim().parse().ok()))
    });
    let secs = raw.map_or(0, |t| if t < 100_000_000_000 { t } else { t / 1000 });
    secs.clamp(NOW + 300, NOW + 180 * 24 * 3600)
}

/// A 200 discovery answer read through a discovery service that allows plain `http://` (the
/// captures are from sandboxes that served their links over plain HTTP).
fn discover_allowing_http(body: &[u8]) -> Result<DiscoveryOutcome, Error> {
    discovery_service()
        .allow_plain_http(true)
        .discover(&DiscoveryQuery::by_ip_or_selection(), &mut entropy())
        .unwrap()
        .respond(raw_response(200, "application/json", body), now())
}

/// Whether a URL is refused by default: plain `http` on a host other than a loopback address.
fn plain_http(href: &str) -> bool {
    let url = url::Url::parse(href).unwrap();
    url.scheme() == "http" && !matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
}

fn check_discovery(fixture: &Fixture) {
    let doc = fixture.json();
    let outcome = DiscoveryAnswer::parse(&fixture.body, &mut entropy(), now());
    if fixture.name.starts_with("operator-selection") {
        let href = doc["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "operatorSelection")
            .and_then(|l| l["href"].as_str())
            .unwrap();
        // Every captured selection page was on plain HTTP: refused unless the service opts in.
        assert!(plain_http(href));
        assert!(
            matches!(
                outcome,
                Err(Error::Protocol(ProtocolError::PlainHttp {
                    endpoint: Endpoint::Discovery,
                    field: "operatorSelection",
                    ..
                }))
            ),
            "expected PlainHttp, got {outcome:?}"
        );
        match discover_allowing_http(&fixture.body) {
            Ok(DiscoveryOutcome::OperatorSelection { url, leg }) => {
                // The link as sent, plus the selection leg's `state`.
                let mut sent = url::Url::parse(href).unwrap();
                sent.query_pairs_mut()
                    .append_pair("state", leg.state().expose_secret());
                assert_eq!(url, sent);
                assert!(url.query().unwrap().contains("session_id="));
            }
            other => panic!("expected OperatorSelection, got {other:?}"),
        }
        return;
    }
    assert!(
        fixture.name.starts_with("operator-found"),
        "unknown discovery fixture"
    );
    let answer = match outcome {
        Ok(DiscoveryOutcome::Found(answer)) => answer,
        other => panic!("expected Found, got {other:?}"),
    };
    let response = &doc["response"];
    assert_eq!(
        Some(answer.client_id.as_str()),
        response["client_id"].as_str()
    );
    assert_eq!(
        Some(answer.client_secret.expose_secret()),
        response["client_secret"].as_str()
    );
    assert_eq!(
        answer.serving_operator.as_deref(),
        response["serving_operator"].as_str()
    );
    assert_eq!(answer.country.as_deref(), response["country"].as_str());
    assert_eq!(answer.currency.as_deref(), response["currency"].as_str());
    let links: Vec<(String, String)> = str_links(response);
    assert_eq!(answer.links, links);
    let short_name_link = links
        .iter()
        .find(|(r, _)| r == "applicationShortName")
        .map(|(_, h)| h.as_str());
    let expected_name = response["client_name"]
        .as_str()
        .or(response["applicationShortName"].as_str())
        .or(short_name_link);
    assert_eq!(answer.client_name.as_deref(), expected_name);
    let expected_subscriber = doc["subscriber_id"]
        .as_str()
        .or(response["subscriber_id"].as_str());
    assert_eq!(
        answer.subscriber_id.as_ref().map(|s| s.expose_secret()),
        expected_subscriber
    );
    // Every capture dates from 2016: its ttl (ms or s) is long past, so the floor applies.
    assert_eq!(answer.expires_at.as_secs(), expected_expiry(doc.get("ttl")));
    assert_eq!(answer.expires_at, now().plus(300));

    // Spot checks from the README notes.
    match fixture.name.as_str() {
        "operator-found-sandbox2-operator-a.json" => {
            assert_eq!(answer.client_id, "66742a85-2282-4747-881d-ed5b7bd74d2d");
            assert_eq!(answer.link("scope"), Some("openid profile email"));
            assert!(answer.subscriber_id.is_some());
        }
        "operator-found-reference-uk.json" | "operator-found-reference-uk-client-name.json" => {
            assert_eq!(answer.client_name.as_deref(), Some("test1"));
            assert_eq!(answer.client_id, REFERENCE_CLIENT_ID);
        }
        "operator-found-integration-operator-b.json"
        | "operator-found-integration2-operator-b.json" => {
            assert_eq!(answer.client_name.as_deref(), Some("csharp-sdk"));
        }
        "operator-found-telenor-pakistan.json" => {
            assert_eq!(answer.currency.as_deref(), Some("PKR"));
        }
        "operator-found-v1-sandbox-operator-a.json" => {
            assert!(answer.subscriber_id.is_none());
            assert_eq!(answer.client_id, "0c9df219");
        }
        _ => {}
    }

    // An answer with plain-HTTP endpoints (most sandbox captures) is refused by default, and
    // taken from a discovery service that opts in.
    let strict = OperatorConfig::from_discovery(&answer, "fixture-operator", REDIRECT_URI);
    let answer = if OPERATOR_ENDPOINT_RELS
        .iter()
        .filter_map(|rel| answer.link(rel))
        .any(plain_http)
    {
        assert!(
            matches!(
                strict,
                Err(Error::Protocol(ProtocolError::PlainHttp {
                    endpoint: Endpoint::Discovery,
                    ..
                }))
            ),
            "expected PlainHttp, got {strict:?}"
        );
        match discover_allowing_http(&fixture.body) {
            Ok(DiscoveryOutcome::Found(answer)) => answer,
            other => panic!("expected Found, got {other:?}"),
        }
    } else {
        answer
    };

    // The answer becomes an operator context with exactly the links it carries.
    let config = OperatorConfig::from_discovery(&answer, "fixture-operator", REDIRECT_URI)
        .unwrap_or_else(|e| panic!("from_discovery failed: {e}"));
    // The issuer: the issuer link, or the one whose metadata URL the openid-configuration link
    // is exactly (a link of another form, like the reference operator's `discovery.php/...`,
    // names none).
    let named_issuer = answer.link("issuer").or_else(|| {
        answer
            .link("openid-configuration")
            .and_then(|l| l.strip_suffix("/.well-known/openid-configuration"))
    });
    // Without an issuer or a JWKS link the context cannot judge an id_token: it is refused
    // until the host supplies what is missing (here by hand; usually from the metadata).
    let issuer = named_issuer.unwrap_or(ISSUER).to_owned();
    let op = match config.clone().build() {
        Ok(op) => op,
        Err(Error::Misuse(MisuseError::IncompleteOperator { missing, .. })) => {
            assert!(
                named_issuer.is_none() || answer.link("jwks").is_none(),
                "refused with both an issuer and a JWKS link: {missing}"
            );
            config
                .issuer(issuer.clone())
                .keys(default_jwks())
                .build()
                .unwrap_or_else(|e| panic!("refused with an issuer and keys: {e}"))
        }
        Err(e) => panic!("the discovered configuration is refused: {e}"),
    };
    assert_eq!(op.issuer(), issuer);
    let endpoints = op.endpoints();
    let url_of = |rel: &str| answer.link(rel).map(|h| url::Url::parse(h).unwrap());
    assert_eq!(
        Some(endpoints.authorization.clone()),
        url_of("authorization")
    );
    assert_eq!(Some(endpoints.token.clone()), url_of("token"));
    assert_eq!(endpoints.userinfo, url_of("userinfo"));
    assert_eq!(endpoints.premiuminfo, url_of("premiuminfo"));
    assert_eq!(endpoints.jwks, url_of("jwks"));
    assert_eq!(endpoints.revocation, url_of("tokenrevoke"));
    if fixture.name == "operator-found-reference-uk-no-userinfo.json" {
        assert!(endpoints.userinfo.is_none());
    }
    assert_eq!(op.client_id(), answer.client_id);
    let started = start(&op, AuthorizeOptions::new());
    assert!(
        started
            .url
            .as_str()
            .starts_with(endpoints.authorization.as_str())
    );
}

fn str_links(response: &Value) -> Vec<(String, String)> {
    response["apis"]["operatorid"]["link"]
        .as_array()
        .map(|links| {
            links
                .iter()
                .map(|l| {
                    (
                        l["rel"].as_str().unwrap().to_owned(),
                        l["href"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check_discovery_redirect(fixture: &Fixture) {
    let text = fixture.text();
    // The captured returns carry no `state`: a browser with its selection leg is enough.
    let result = SelectionReturn::parse(text, selection_leg(), now());
    let is_hex_512 = |s: &str| s.len() == 512 && s.bytes().all(|b| b.is_ascii_hexdigit());
    match fixture.name.as_str() {
        "java-mcc-mnc-only.txt" => {
            let ret = result.unwrap();
            let mcc_mnc = ret.mcc_mnc.as_ref().expect("mcc_mnc");
            assert_eq!((mcc_mnc.mcc(), mcc_mnc.mnc()), ("456", "789"));
            assert!(ret.subscriber_id.is_none());
            assert!(ret.discovery_query().is_some());
        }
        "java-subscriber-id-and-mcc-mnc.txt" => {
            let ret = result.unwrap();
            let mcc_mnc = ret.mcc_mnc.as_ref().expect("mcc_mnc");
            assert_eq!((mcc_mnc.mcc(), mcc_mnc.mnc()), ("456", "789"));
            assert_eq!(
                ret.subscriber_id.as_ref().map(|s| s.expose_secret()),
                Some("abc123")
            );
        }
        "java-mcc-mnc-without-underscore.txt" => {
            // "456789" cannot be split (the MNC has 2 or 3 digits): a typed error, no guess.
            assert!(
                matches!(
                    result,
                    Err(Error::Protocol(ProtocolError::InvalidField {
                        endpoint: Endpoint::Discovery,
                        field: "mcc_mnc",
                        ..
                    }))
                ),
                "expected InvalidField mcc_mnc, got {result:?}"
            );
        }
        "net-mcc-mnc-subscriber-id.txt" => {
            // The whole redirect URL, which SelectionReturn::parse documents as accepted.
            let ret = result.unwrap();
            let mcc_mnc = ret.mcc_mnc.as_ref().unwrap_or_else(|| {
                panic!("mcc_mnc 901_01 not read from {text:.60}..., got {ret:?}")
            });
            assert_eq!((mcc_mnc.mcc(), mcc_mnc.mnc()), ("901", "01"));
            let subscriber = ret.subscriber_id.as_ref().expect("subscriber_id");
            assert!(is_hex_512(subscriber.expose_secret()));
        }
        "net-subscriber-id-only.txt" => {
            let ret = result.unwrap();
            assert!(ret.mcc_mnc.is_none());
            assert!(ret.discovery_query().is_none());
            let subscriber = ret.subscriber_id.as_ref().unwrap_or_else(|| {
                panic!("subscriber_id not read from {text:.60}..., got {ret:?}")
            });
            assert!(is_hex_512(subscriber.expose_secret()));
        }
        _ => {
            // A new vector: it must at least be read without a panic.
            let _ = result;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Provider metadata
// ---------------------------------------------------------------------------------------------

/// Whether `fixture` is a `.txt` one (not JSON), after asserting that its parse `result` is a
/// refusal as malformed JSON from `endpoint`.
#[track_caller]
fn refused_as_not_json<T: std::fmt::Debug>(
    fixture: &Fixture,
    result: &Result<T, ProtocolError>,
    endpoint: Endpoint,
) -> bool {
    let not_json = fixture.name.ends_with(".txt");
    if not_json {
        assert!(
            matches!(result, Err(ProtocolError::MalformedJson { endpoint: e, .. }) if *e == endpoint),
            "expected MalformedJson, got {result:?}"
        );
    }
    not_json
}

fn check_metadata(fixture: &Fixture) {
    let result = ProviderMetadata::parse(&fixture.body);
    if refused_as_not_json(fixture, &result, Endpoint::Metadata) {
        return;
    }
    let doc = fixture.json();
    let metadata = result.unwrap_or_else(|e| panic!("metadata refused: {e}"));
    assert_eq!(Some(metadata.issuer.as_str()), doc["issuer"].as_str());
    assert_eq!(metadata.issuer, REFERENCE_ISSUER);
    assert_eq!(
        metadata.authorization_endpoint.as_deref(),
        doc["authorization_endpoint"].as_str()
    );
    assert_eq!(
        metadata.token_endpoint.as_deref(),
        doc["token_endpoint"].as_str()
    );
    assert_eq!(metadata.jwks_uri.as_deref(), doc["jwks_uri"].as_str());
    assert_eq!(
        metadata.premiuminfo_endpoint.as_deref(),
        doc["premiuminfo_endpoint"].as_str()
    );
    // `true` in two files, the string "1" in the iOS one.
    assert_eq!(metadata.claims_parameter_supported, Some(true));
    // ENCR_MSISDN and the older ENCRYPTED_MSISDN both count.
    for method in ["MSISDN", "ENCR_MSISDN", "PCR"] {
        assert!(metadata.supports_login_hint(method), "{method}");
    }
    let scope = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        metadata.version_for_scope(&scope(&["openid"])),
        Some("mc_v1.1")
    );
    assert_eq!(
        metadata.version_for_scope(&scope(&["mc_authn", "openid"])),
        Some("mc_v1.2")
    );
    assert_eq!(
        metadata.version_for_scope(&scope(&["openid", "mc_authz"])),
        Some("mc_v1.2")
    );
    assert_eq!(metadata.version_for_scope(&scope(&["profile"])), None);
    let versions = doc["mobile_connect_version_supported"].as_array().unwrap();
    assert_eq!(
        metadata.mobile_connect_version_supported.len(),
        versions.len()
    );
    assert!(metadata.acr_values_supported.contains(&"2".to_owned()));
    if fixture.name == "reference-mobileconnect-io-mc-identity.json" {
        assert!(metadata.premiuminfo_endpoint.is_some());
        assert_eq!(
            metadata.version_for_scope(&scope(&["mc_identity_signup", "openid"])),
            Some("mc_v1.2")
        );
    }

    // Applied to an operator that does not know its issuer yet: the issuer and endpoints come in.
    let config = OperatorConfig::new(Registration {
        operator_id: "reference".to_owned(),
        client_id: REFERENCE_CLIENT_ID.to_owned(),
        client_secret: ClientSecret::new("x"),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .unwrap()
    .authorization("https://op.example/authorize")
    .unwrap()
    .token("https://op.example/token")
    .unwrap();
    let op = config
        .with_metadata(metadata.clone())
        .unwrap_or_else(|e| panic!("with_metadata failed: {e}"))
        .build()
        .unwrap_or_else(|e| panic!("the metadata does not complete the operator: {e}"));
    assert_eq!(op.issuer(), REFERENCE_ISSUER);
    assert_eq!(
        Some(op.endpoints().token.as_str()),
        doc["token_endpoint"].as_str()
    );
    assert_eq!(
        op.endpoints().jwks.as_ref().map(url::Url::as_str),
        doc["jwks_uri"].as_str()
    );
    // The reference IDGW announces its Mobile Connect versions: the Mobile Connect profile.
    assert_eq!(op.profile(), mc_core::Profile::MobileConnect);
    assert_eq!(op.metadata(), Some(&metadata));
    // Another issuer is refused.
    assert!(matches!(
        operator_config().with_metadata(metadata),
        Err(Error::Protocol(
            ProtocolError::MetadataIssuerMismatch { .. }
        ))
    ));
}

// ---------------------------------------------------------------------------------------------
// JWKS
// ---------------------------------------------------------------------------------------------

fn check_jwks(fixture: &Fixture) {
    let result = Jwks::parse(&fixture.body);
    // Unquoted member names, trailing commas: not JSON, refused cleanly.
    if refused_as_not_json(fixture, &result, Endpoint::Jwks) {
        return;
    }
    let doc = fixture.json();
    if fixture.name.starts_with("negative-") {
        let jwks = match result {
            Ok(jwks) => jwks,
            // A bare JWK (no "keys"): refused as a document; as an entry it must be skipped.
            Err(ProtocolError::MalformedJson { .. }) if doc.get("keys").is_none() => {
                let wrapped = Jwks::parse(&jwks_body(std::slice::from_ref(&doc))).unwrap();
                assert!(wrapped.is_empty(), "bare negative JWK kept: {wrapped:?}");
                assert_eq!(wrapped.skipped(), 1);
                wrapped
            }
            Err(e) => panic!("negative JWKS refused as a document: {e}"),
        };
        // Whatever is kept, nothing in it verifies the reference token.
        let op = lookalike_operator(REFERENCE_ISSUER, REFERENCE_CLIENT_ID, jwks);
        let result = token_step(&op, AuthorizeOptions::new(), |_| {
            token_response(&reference_token())
        });
        match result {
            Err(e) if is_signature_error(&e) => {}
            other => panic!(
                "the reference token must fail at the signature step, got {:?}",
                other.map(|t| t.sub().to_owned())
            ),
        }
        match fixture.name.as_str() {
            "negative-kty-unknown-kid-99.json" | "negative-no-modulus.json" => {
                let jwks = Jwks::parse(&fixture.body).unwrap();
                assert!(jwks.is_empty());
                assert_eq!(jwks.skipped(), 1);
            }
            _ => {}
        }
        return;
    }
    let jwks = result.unwrap_or_else(|e| panic!("JWKS refused: {e}"));
    let entries = doc["keys"].as_array().unwrap().len();
    assert_eq!(jwks.keys().len() + jwks.skipped(), entries);
    let kids: Vec<Option<&str>> = jwks.keys().iter().map(|k| k.kid()).collect();
    match fixture.name.as_str() {
        "reference-phpop-00.json" => {
            assert_eq!(kids, [Some("PHPOP-00")]);
            assert_eq!(jwks.keys()[0].key_type(), KeyType::Rsa);
            assert!(jwks.keys()[0].usable_for(Algorithm::RS256));
        }
        "integration2-rs256-no-kid.json" => {
            assert_eq!(kids, [None]);
            assert!(jwks.keys()[0].usable_for(Algorithm::RS256));
            assert!(!jwks.keys()[0].usable_for(Algorithm::RS384));
        }
        "integration2-two-keys-kid.json" => {
            assert_eq!(kids, [Some("test1"), Some("nottest")]);
        }
        "integration2-hs256-oct.json" => {
            // HMAC is keyed by the client secret only, never by a JWK.
            assert!(jwks.is_empty());
            assert_eq!(jwks.skipped(), 1);
        }
        _ => {}
    }
    for key in jwks.keys() {
        assert!(!key.usable_for(Algorithm::HS256));
    }
}

// ---------------------------------------------------------------------------------------------
// Token responses
// ---------------------------------------------------------------------------------------------

fn check_token(fixture: &Fixture) {
    let doc = fixture.json();
    let result = TokenResponse::parse(&fixture.body);
    if fixture.name.starts_with("negative-access-token-missing")
        || doc.get("access_token").is_none()
    {
        assert!(
            matches!(
                result,
                Err(ProtocolError::MissingField {
                    endpoint: Endpoint::Token,
                    field: "access_token"
                })
            ),
            "expected MissingField access_token, got {result:?}"
        );
        return;
    }
    let parsed = result.unwrap_or_else(|e| panic!("token response refused: {e}"));
    let access_token = doc["access_token"].as_str().unwrap();
    assert_eq!(parsed.access_token().unwrap().expose_secret(), access_token);
    assert_eq!(
        parsed.id_token().map(|t| t.expose_secret()),
        doc["id_token"].as_str()
    );
    let debug = format!("{parsed:?}");
    assert!(
        !debug.contains(access_token),
        "Debug leaks the access token"
    );

    // The same response with an id_token of this login: accepted, expires_in read (number or
    // string), refresh_token null read as absent.
    let expires_in = doc["expires_in"]
        .as_u64()
        .or_else(|| doc["expires_in"].as_str().and_then(|s| s.parse().ok()));
    let op = operator();
    let tokens = token_step(&op, AuthorizeOptions::new(), |s| {
        let mut claims = valid_claims(&s.nonce);
        claims["at_hash"] =
            json!(mc_core::id_token::at_hash(access_token, Algorithm::RS256).unwrap());
        let mut body = doc.clone();
        body["id_token"] = json!(sign(
            &claims,
            Algorithm::RS256,
            TestKey::RsaA,
            Some("kid-a")
        ));
        json_response(200, &body)
    })
    .unwrap_or_else(|e| panic!("token response with a valid id_token refused: {e}"));
    assert_eq!(tokens.access_token().expose_secret(), access_token);
    assert_eq!(tokens.expires_at(), expires_in.map(|n| now().plus(n)));
    assert_eq!(
        tokens.refresh_token().map(|r| r.expose_secret()),
        doc["refresh_token"].as_str()
    );
    if fixture.name == "reference-refresh-token-null.json" {
        assert!(doc["refresh_token"].is_null());
        assert!(tokens.refresh_token().is_none());
    }
    if fixture.name == "ios-sandbox2-hs256.json" {
        assert_eq!(doc["expires_in"], json!("3600"));
        assert_eq!(tokens.expires_at(), Some(now().plus(3600)));
    }
}

// ---------------------------------------------------------------------------------------------
// id_tokens: every one is rejected
// ---------------------------------------------------------------------------------------------

/// Tokens whose signature is documented as valid under the lookalike operator (HMAC key
/// "secret" or the integration2 RSA key): they must fail on a claim, not on the signature.
const SIGNATURE_VALID: &[&str] = &[
    "claims-aud-array",
    "claims-aud-not-client",
    "claims-aud-string",
    "claims-auth-time-old",
    "claims-expired",
    "test-rs256-x-clientid-x",
    "test-rs256-aud-azp-x-clientid-y",
    "integration2-rs256",
];

/// Tokens that must fail at the signature step even under the lookalike operator.
const SIGNATURE_INVALID: &[&str] = &[
    "integration2-rs256-no-signature",
    "reference-phpop-00-no-signature",
    "test-rs256-signature-tampered",
    "go-oidc-core-example-expired",
    "integration2-rs256-kid-test",
    "integration2-hs256",
    "ios-sandbox2-hs256",
    "v1-sandbox-operator-a-sms-url",
    "v1-sandbox-operator-a-sms-url-2",
];

fn check_id_token(fixture: &Fixture) {
    if let Some(stem) = fixture.name.strip_suffix(".claims.json") {
        // The claims file is the JWT payload, byte for byte.
        let claims = fixture.json();
        assert!(claims.is_object());
        let jwt = std::fs::read_to_string(root().join("id-token").join(format!("{stem}.jwt.txt")))
            .unwrap();
        assert_eq!(decoded_payload(&jwt), fixture.body);
        return;
    }
    let stem = fixture
        .name
        .strip_suffix(".jwt.txt")
        .unwrap_or_else(|| panic!("unknown id-token fixture"));
    let jwt = fixture.text().to_owned();

    // 1. The test operator: default policy, its own keys.
    let op = operator();
    let result = token_step(&op, AuthorizeOptions::new(), |_| token_response(&jwt));
    assert!(
        matches!(result, Err(Error::IdToken(_))),
        "test operator accepted or mis-rejected it: {:?}",
        result.map(|t| t.sub().to_owned())
    );

    // 2. The test operator with HMAC allowed (keyed by its own client secret).
    let op = operator_with_policy(|p| {
        p.allowed_algorithms
            .extend([Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
    });
    let result = token_step(&op, AuthorizeOptions::new().max_age(2600), |_| {
        token_response(&jwt)
    });
    assert!(
        matches!(result, Err(Error::IdToken(_))),
        "HMAC-enabled test operator: {:?}",
        result.map(|t| t.sub().to_owned())
    );

    // 3. An operator that looks like the issuer (its iss, its client, the fixture keys, the
    //    "secret" HMAC key): still rejected, since the login's nonce cannot match.
    let claims: Value = serde_json::from_slice(&decoded_payload(&jwt)).unwrap();
    let issuer = claims["iss"].as_str().unwrap_or(ISSUER);
    let client_id = claims["azp"]
        .as_str()
        .or(claims["aud"].as_str())
        .or(claims["aud"][0].as_str())
        .unwrap_or(CLIENT_ID);
    let op = lookalike_operator(issuer, client_id, fixture_keys());
    let result = token_step(&op, AuthorizeOptions::new(), |_| token_response(&jwt));
    let error = match result {
        Err(e @ Error::IdToken(_)) => e,
        other => panic!(
            "lookalike operator: expected an id_token error, got {:?}",
            other.map(|t| t.sub().to_owned())
        ),
    };
    // The sandbox tokens are MACed with the 6-byte key "secret": correctly signed, but the key is
    // below RFC 7518's minimum for HS256 and refused as such.
    let weak_hmac = matches!(error, Error::IdToken(IdTokenError::KeyRejected { ref alg }) if alg.starts_with("HS"));
    if SIGNATURE_VALID.contains(&stem) && !weak_hmac {
        assert!(
            !is_signature_error(&error),
            "documented as correctly signed, rejected at the signature step: {error:?}"
        );
    }
    if SIGNATURE_INVALID.contains(&stem) {
        assert!(
            is_signature_error(&error),
            "must fail at the signature step, failed on: {error:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// UserInfo and premium info
// ---------------------------------------------------------------------------------------------

/// Tokens of a login at `op` whose id_token `sub` is `sub`.
fn tokens_for(op: &Discovered, sub: &str) -> mc_core::Tokens {
    token_step(op, AuthorizeOptions::new(), |s| {
        let mut claims = valid_claims(&s.nonce);
        claims["sub"] = json!(sub);
        token_response(&sign(
            &claims,
            Algorithm::RS256,
            TestKey::RsaA,
            Some("kid-a"),
        ))
    })
    .unwrap()
}

/// What the userinfo (or premium info) step of `sub`'s login at `op` makes of `response`.
fn claims_answer(
    op: &Discovered,
    sub: &str,
    premium: bool,
    response: http::Response<Vec<u8>>,
) -> Result<Verified<mc_core::UserInfo>, Error> {
    let tokens = tokens_for(op, sub);
    let exchange = if premium {
        tokens.premiuminfo(op).unwrap()
    } else {
        tokens.userinfo(op).unwrap()
    };
    exchange.respond(response, now())
}

fn check_userinfo(fixture: &Fixture) {
    let premium = fixture.category == "premiuminfo";
    let name = fixture.name.as_str();
    if name.contains("www-authenticate") {
        let value = fixture.text();
        let error = parse_www_authenticate(Endpoint::UserInfo, 401, value)
            .unwrap_or_else(|| panic!("WWW-Authenticate not read: {value:?}"));
        assert_eq!(error.error, "invalid_request");
        assert_eq!(error.description.as_deref(), Some("No Access Token"));
        assert_eq!(error.status, Some(401));
        // The same header on a 401 from the userinfo endpoint.
        let op = operator();
        let response = http::Response::builder()
            .status(401)
            .header("www-authenticate", value)
            .body(Vec::new())
            .unwrap();
        match claims_answer(&op, SUB, premium, response) {
            Err(Error::Refused(refused)) => assert_eq!(refused.error, "invalid_request"),
            other => panic!("expected Refused, got {other:?}"),
        }
        return;
    }
    if name.starts_with("negative-") {
        assert!(serde_json::from_slice::<Value>(&fixture.body).is_err());
        let op = operator();
        let result = claims_answer(
            &op,
            SUB,
            premium,
            raw_response(200, "application/json", &fixture.body),
        );
        assert!(
            matches!(
                result,
                Err(Error::Protocol(ProtocolError::MalformedJson { .. }))
            ),
            "expected MalformedJson, got {result:?}"
        );
        return;
    }
    if let Some(stem) = name.strip_suffix(".claims.json") {
        let jwt = std::fs::read_to_string(
            root()
                .join(&fixture.category)
                .join(format!("{stem}.jwt.txt")),
        )
        .unwrap();
        assert_eq!(decoded_payload(&jwt), fixture.body);
        assert!(fixture.json().is_object());
        return;
    }
    if name.ends_with(".jwt.txt") {
        // A signed (HS256, key "secret") userinfo body.
        let jwt = fixture.text().trim().to_owned();
        let claims: Value = serde_json::from_slice(&decoded_payload(&jwt)).unwrap();
        let sub = claims["sub"].as_str().unwrap();
        // The test operator does not allow HS256.
        let op = operator();
        let result = claims_answer(
            &op,
            sub,
            premium,
            raw_response(200, "application/jwt", jwt.as_bytes()),
        );
        assert!(
            matches!(
                result,
                Err(Error::IdToken(IdTokenError::AlgorithmNotAllowed { .. }))
            ),
            "expected AlgorithmNotAllowed, got {result:?}"
        );
        // An operator whose client secret is "secret" and that allows HS256 detects the JWT by
        // its shape alone (no content type), and refuses the 6-byte key (RFC 7518 3.2).
        let op = lookalike_operator(ISSUER, CLIENT_ID, default_jwks());
        match claims_answer(&op, sub, premium, raw_response(200, "", jwt.as_bytes())) {
            Err(Error::IdToken(IdTokenError::KeyRejected { alg })) => assert_eq!(alg, "HS256"),
            other => panic!("the weak HMAC key must be refused: {other:?}"),
        }
        return;
    }
    // Plain JSON claims: an object with a string sub, read as such by the exchange.
    let doc = fixture.json();
    let sub = doc["sub"]
        .as_str()
        .unwrap_or_else(|| panic!("no string sub"));
    let op = operator();
    match claims_answer(
        &op,
        sub,
        premium,
        raw_response(200, "application/json", &fixture.body),
    ) {
        Ok(Verified::Done(info)) => {
            assert!(!info.was_signed());
            assert_eq!(info.sub(), sub);
            assert_eq!(&Value::Object(info.claims().clone()), &doc);
            assert_eq!(
                info.endpoint(),
                if premium {
                    Endpoint::PremiumInfo
                } else {
                    Endpoint::UserInfo
                }
            );
        }
        other => panic!("claims refused: {other:?}"),
    }
    // Another user's claims are refused.
    let result = claims_answer(
        &op,
        "someone-else",
        premium,
        raw_response(200, "application/json", &fixture.body),
    );
    assert!(
        matches!(
            result,
            Err(Error::Protocol(ProtocolError::SubjectMismatch { .. }))
        ),
        "expected SubjectMismatch, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Error bodies
// ---------------------------------------------------------------------------------------------

fn check_error(fixture: &Fixture) {
    let doc = fixture.json();
    let code = doc["error"].as_str().unwrap();
    let description = doc["error_description"]
        .as_str()
        .or(doc["description"].as_str());
    let error = wire::parse_error_body(Endpoint::Token, Some(400), &fixture.body)
        .unwrap_or_else(|| panic!("error body not read"));
    assert_eq!(error.error, code);
    assert_eq!(error.description.as_deref(), description);
    assert_eq!(error.uri.as_deref(), doc["error_uri"].as_str());
    assert_eq!(error.status, Some(400));
    if fixture.name == "discovery-not-found-entity.json" {
        // The MC spelling: "description", no "error_description".
        assert_eq!(error.error, "Not_Found_Entity");
        assert_eq!(error.description.as_deref(), Some("Operator Not Found"));
    }
    if fixture.name == "identity-error-with-uri.json" {
        assert_eq!(error.uri.as_deref(), Some("http://test"));
    }

    // Served with 200 by discovery: still the operator's refusal.
    match DiscoveryAnswer::parse(&fixture.body, &mut entropy(), now()) {
        Err(Error::Refused(refused)) => {
            assert_eq!(refused.error, code);
            assert_eq!(refused.description.as_deref(), description);
            assert_eq!(refused.endpoint, Endpoint::Discovery);
        }
        other => panic!("discovery: expected Refused, got {other:?}"),
    }
    // From the token endpoint, with 400 or 200.
    for status in [400, 200] {
        let op = operator();
        let result = token_step(&op, AuthorizeOptions::new(), |_| {
            raw_response(status, "application/json", &fixture.body)
        });
        match result {
            Err(Error::Refused(refused)) => {
                assert_eq!(refused.error, code);
                assert_eq!(refused.status, Some(status));
            }
            other => panic!(
                "token endpoint {status}: expected Refused, got {:?}",
                other.map(|t| t.sub().to_owned())
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// KYC claims requests and SDK demo configurations
// ---------------------------------------------------------------------------------------------

fn check_kyc(fixture: &Fixture) {
    // A `claims` request value: sent as given in the authorization request.
    let claims = fixture.json();
    assert!(claims.is_object());
    let started = start(&operator(), AuthorizeOptions::new().claims(claims.clone()));
    let sent = query_of(&started.url)
        .into_iter()
        .find(|(n, _)| n == "claims")
        .map(|(_, v)| v)
        .expect("claims parameter");
    assert_eq!(serde_json::from_str::<Value>(&sent).unwrap(), claims);
}

/// The first string member (searched depth first) whose name is one of `names`.
fn find_str<'a>(value: &'a Value, names: &[&str]) -> Option<&'a str> {
    match value {
        Value::Object(map) => map
            .iter()
            .find(|(k, v)| names.contains(&k.as_str()) && v.is_string())
            .and_then(|(_, v)| v.as_str())
            .or_else(|| map.values().find_map(|v| find_str(v, names))),
        _ => None,
    }
}

fn check_config(fixture: &Fixture) {
    // A static "without discovery" registry entry: it builds an operator that can start a login.
    let doc = fixture.json();
    let client_id = find_str(&doc, &["clientID", "client_id"]).expect("client id");
    let secret = find_str(&doc, &["clientSecret", "client_secret"]).expect("client secret");
    let authorize = find_str(&doc, &["authorizationUrl", "authURL"]).expect("authorization URL");
    let token = find_str(&doc, &["requestTokenUrl", "tokenURL"]).expect("token URL");
    let mut config = OperatorConfig::new(Registration {
        operator_id: "sandbox-operator-b".to_owned(),
        client_id: client_id.to_owned(),
        client_secret: ClientSecret::new(secret),
        redirect_uri: REDIRECT_URI.to_owned(),
    })
    .and_then(|c| c.authorization(authorize))
    .and_then(|c| c.token(token))
    .unwrap_or_else(|e| panic!("registry entry refused: {e}"));
    if let Some(name) = find_str(&doc, &["client_name", "clientName"]) {
        config = config.client_name(name);
    }
    // The SDK configs leave the issuer and the keys to the metadata: without them no login may
    // start, since no id_token could be judged.
    match config.clone().build() {
        Err(Error::Misuse(MisuseError::IncompleteOperator { operator, missing })) => {
            assert_eq!(operator, "sandbox-operator-b");
            assert_eq!(missing, mc_core::MissingSetting::Issuer);
        }
        other => panic!("expected IncompleteOperator, got {other:?}"),
    }
    let issuer = url::Url::parse(authorize)
        .unwrap()
        .origin()
        .ascii_serialization();
    let op = config
        .issuer(issuer)
        .keys(default_jwks())
        .build()
        .unwrap_or_else(|e| panic!("registry entry with issuer and keys refused: {e}"));
    let scopes: Vec<&str> = find_str(&doc, &["scope"])
        .unwrap_or("openid")
        .split_whitespace()
        .collect();
    let mut options = AuthorizeOptions::new().scope(scopes.iter().copied());
    if let Some(version) = find_str(&doc, &["apiVersion"]) {
        options = options.version(version);
    }
    if scopes.contains(&"mc_authz") {
        options = options.context(find_str(&doc, &["context"]).unwrap_or("demo"));
    }
    let started = start(&op, options);
    assert!(started.url.as_str().starts_with(authorize));
    assert_eq!(
        param(&query_of(&started.url), "client_id").as_deref(),
        Some(client_id)
    );
    if let Some(version) = find_str(&doc, &["apiVersion"]) {
        assert_eq!(started.flow.version(), Some(version));
        assert_eq!(
            param(&query_of(&started.url), "version").as_deref(),
            Some(version)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests, one per category, and the whole tree
// ---------------------------------------------------------------------------------------------

#[test]
fn discovery_answers() {
    run_category("discovery");
}

#[test]
fn discovery_redirects() {
    run_category("discovery-redirect");
}

#[test]
fn provider_metadata() {
    run_category("provider-metadata");
}

#[test]
fn jwks_documents() {
    run_category("jwks");
}

#[test]
fn token_responses() {
    run_category("token");
}

#[test]
fn id_tokens_are_all_rejected() {
    run_category("id-token");
}

#[test]
fn userinfo_bodies_and_headers() {
    run_category("userinfo");
}

#[test]
fn premiuminfo_bodies() {
    run_category("premiuminfo");
}

#[test]
fn error_bodies() {
    run_category("errors");
}

#[test]
fn kyc_claims_requests() {
    run_category("kyc");
}

#[test]
fn server_initiated_request_object() {
    run_category("server-initiated");
}

#[test]
fn sdk_configs() {
    run_category("config");
}

#[test]
fn all_fixture_files_are_checked() {
    let root = root();
    assert!(
        root.join("README.md").is_file(),
        "fixtures README missing at {}",
        root.display()
    );
    let all = load(&root);
    for (category, expected) in CATEGORIES {
        let found = all.iter().filter(|f| f.category == *category).count();
        assert!(
            found >= *expected,
            "{category}: {found} files, the README lists {expected}"
        );
    }
    let checked = run(&all);
    eprintln!("checked {checked} fixture files");
    assert!(
        checked >= 90,
        "only {checked} fixture files found under {}",
        root.display()
    );
}
