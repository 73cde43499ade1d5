//! Many logins on one shared operator context while the operator rotates its signing key
//! (issue 9): the context lives in an `Arc` (or is cloned: clones share it), nothing holds it
//! across network IO, and logins paused by the same rotation fetch the JWKS once between them.
//!
//! The run is cut in phases at the rotations: the context starts without keys, and each later
//! phase starts right after `Sandbox::rotate_keys`. Within a phase every login goes through the
//! browser and the callback, then waits at a barrier, so that all of the phase's token exchanges
//! are in flight together when they meet the `kid` the context does not hold. The sandbox's
//! JWKS answers slowly (`Fault::Slow`), so the one fetch is still running when the others'
//! token responses arrive and pause too: each login of a phase waits for that fetch (its token
//! step lasts about the JWKS delay), and the request log shows one `GET .../jwks` per phase.
//! (Rotating while logins of the old key are still in flight would fail them: the sandbox drops
//! the old key from its JWKS at once, as an operator must not.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mc_core::{
    AuthorizeOptions, Authorizing, Discovered, LoginHint, Msisdn, TokenExchange, Tokens, UnixTime,
    UserInfo,
};
use mc_tests::SandboxExt as _;
use mc_tests::{Fault, SandboxServer, Target};

const OPERATOR: &str = "alpha";
/// Alpha's subscriber whose handset approves (LoA 2).
const MSISDN: &str = "447700900001";
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long the sandbox takes to answer a JWKS request: long against a token response, so that
/// a phase's logins all pause while the one fetch runs.
const JWKS_DELAY: Duration = Duration::from_millis(600);

fn options() -> AuthorizeOptions {
    AuthorizeOptions::new().login_hint(LoginHint::Msisdn(Msisdn::new(MSISDN)))
}

/// The sandbox's registry entry for [`OPERATOR`] with no JWKS refetch spacing: each phase starts
/// right after a rotation, seconds after the previous fetch, which the default spacing (60 s)
/// would refuse.
fn rotating_registry_entry(server: &SandboxServer) -> mc_core::OperatorConfig {
    let mut policy = mc_core::Policy::default();
    policy.jwks_min_refetch_secs = 0;
    server
        .sandbox()
        .registry_entry(OPERATOR)
        .unwrap()
        .policy(policy)
}

fn jwks_fetches(server: &SandboxServer) -> usize {
    let request = format!("GET /op/{OPERATOR}/jwks");
    server
        .sandbox()
        .request_log()
        .iter()
        .filter(|r| **r == request)
        .count()
}

/// The query of the `Location` the operator sends the browser back with.
fn callback_query(answer: &http::Response<Vec<u8>>) -> String {
    let location = answer
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("HTTP {} without Location", answer.status()));
    url::Url::parse(location)
        .unwrap()
        .query()
        .unwrap()
        .to_owned()
}

fn browser_request(url: &str) -> http::Request<Vec<u8>> {
    let mut request = http::Request::new(Vec::new());
    *request.uri_mut() = url.parse().unwrap();
    request
}

/// The token exchange of a login at `operator` whose browser came back with `answer` (the
/// operator's redirect to the SP): the callback with the query it carries.
fn redeem(
    operator: &Discovered,
    flow: Authorizing,
    answer: &http::Response<Vec<u8>>,
    now: fn() -> UnixTime,
) -> TokenExchange {
    let code = flow
        .callback(operator, &callback_query(answer), now())
        .unwrap();
    code.token_exchange(operator, now()).unwrap()
}

/// A login through mc-io-tokio up to its token request: authorize, the browser's visit (the
/// handset approves), the callback.
async fn tokio_token_exchange(
    client: &mc_io_tokio::Client,
    operator: &Discovered,
) -> TokenExchange {
    let now = mc_io_tokio::now;
    let (redirect, flow) = operator
        .authorize(options(), &mut mc_io_tokio::OsEntropy, now())
        .unwrap();
    let answer = client
        .send(browser_request(redirect.as_str()))
        .await
        .unwrap();
    redeem(operator, flow, &answer, now)
}

/// What one login saw: the `kid` of its id_token, and how long its token step took.
struct Login {
    kid: String,
    token_step: Duration,
}

impl Login {
    /// The login of [`MSISDN`], after checking the userinfo its tokens fetched.
    #[track_caller]
    fn checked(tokens: &Tokens, info: &UserInfo, token_step: Duration) -> Self {
        assert_eq!(info.phone_number(), Some("+447700900001"));
        assert_eq!(info.sub(), tokens.sub());
        Self {
            kid: tokens.id_token().kid().unwrap().to_owned(),
            token_step,
        }
    }
}

/// The sandbox, with a slow JWKS at alpha.
fn slow_jwks_sandbox() -> SandboxServer {
    let server = SandboxServer::start().unwrap();
    server
        .sandbox()
        .set_operator_fault(OPERATOR, Target::Jwks, Fault::Slow(JWKS_DELAY));
    server
}

/// After each phase: every login used the phase's key, and all of them waited for one fetch.
#[track_caller]
fn check_phase(server: &SandboxServer, phase: usize, fetches_before: usize, logins: &[Login]) {
    let fetches = jwks_fetches(server) - fetches_before;
    let kid = format!("{OPERATOR}-key-{phase}");
    assert!(
        logins.iter().all(|l| l.kid == kid),
        "phase {phase}: kids {:?}",
        logins.iter().map(|l| l.kid.as_str()).collect::<Vec<_>>()
    );
    let waits: Vec<Duration> = logins.iter().map(|l| l.token_step).collect();
    assert_eq!(
        fetches,
        1,
        "phase {phase}: {} concurrent logins meeting kid {kid} fetched the JWKS {fetches} times \
         (token steps {waits:?})",
        logins.len()
    );
    // Each login's token step lasted about the JWKS delay: it paused for the new key and was
    // finished by the one fetch, in flight while all of them were (a login that found the keys
    // already stored would have taken a few milliseconds).
    assert!(
        waits.iter().all(|w| *w >= JWKS_DELAY / 2),
        "phase {phase}: not every login waited for the fetch: {waits:?}"
    );
}

/// 64 logins through mc-io-tokio on a multi-threaded runtime, on one `Arc<Discovered>`, in
/// three phases of concurrent logins cut by two key rotations: every login succeeds (authorize,
/// browser, callback, token exchange with id_token verification, userinfo), and the sandbox
/// serves one JWKS request per phase (the first fetch of a context without keys, then one per
/// rotation).
#[test]
fn tokio_64_concurrent_logins_on_one_context_fetch_the_keys_once_per_rotation() {
    const PHASES: [usize; 3] = [16, 24, 24];
    assert_eq!(PHASES.iter().sum::<usize>(), 64);
    let server = slow_jwks_sandbox();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client =
            mc_io_tokio::Client::with_config(mc_io_tokio::Config::default().with_timeout(TIMEOUT))
                .unwrap();
        let config = rotating_registry_entry(&server);
        let metadata = client
            .execute(config.metadata_exchange().unwrap())
            .await
            .unwrap();
        let operator = Arc::new(config.with_metadata(metadata).unwrap().build().unwrap());
        assert!(
            operator.jwks().is_empty(),
            "the context starts without keys"
        );

        for (phase, &n) in PHASES.iter().enumerate() {
            if phase > 0 {
                server.sandbox().rotate_keys(OPERATOR);
            }
            let fetches_before = jwks_fetches(&server);
            let barrier = Arc::new(tokio::sync::Barrier::new(n));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..n {
                let (client, operator, barrier) =
                    (client.clone(), Arc::clone(&operator), Arc::clone(&barrier));
                tasks.spawn(async move { tokio_login(&client, &operator, &barrier).await });
            }
            let mut logins = Vec::with_capacity(n);
            while let Some(login) = tasks.join_next().await {
                logins.push(login.unwrap());
            }
            check_phase(&server, phase, fetches_before, &logins);
        }
        // At most one fetch per rotation, plus the first one.
        let rotations = PHASES.len() - 1;
        assert_eq!(jwks_fetches(&server), rotations + 1);
        assert_eq!(operator.jwks().keys().len(), 1);
    });
    let log = server.sandbox().request_log();
    let count = |request: &str| log.iter().filter(|r| *r == request).count();
    assert_eq!(count("POST /op/alpha/token"), 64);
    assert_eq!(count("GET /op/alpha/userinfo"), 64);
}

async fn tokio_login(
    client: &mc_io_tokio::Client,
    operator: &Discovered,
    barrier: &tokio::sync::Barrier,
) -> Login {
    let exchange = tokio_token_exchange(client, operator).await;
    // Every login of the phase sends its token request at once.
    barrier.wait().await;
    let token_started = Instant::now();
    let tokens = client.execute(exchange).await.unwrap();
    let token_step = token_started.elapsed();
    let info = client
        .execute(tokens.userinfo(operator).unwrap())
        .await
        .unwrap();
    Login::checked(&tokens, &info, token_step)
}

/// The same through mc-io-blocking: 16 threads share one `mc_io_blocking::Client` and one
/// operator context (each thread holds a clone of the `Discovered`, and clones share the
/// context), three phases of 16 concurrent logins cut by two key rotations, one JWKS fetch per
/// phase.
#[test]
fn blocking_16_threads_on_one_context_fetch_the_keys_once_per_rotation() {
    const THREADS: usize = 16;
    const PHASES: usize = 3;
    let server = slow_jwks_sandbox();
    let client = mc_io_blocking::Client::with_config(
        mc_io_blocking::Config::default().with_timeout(TIMEOUT),
    )
    .unwrap();
    let config = rotating_registry_entry(&server);
    let metadata = client.execute(config.metadata_exchange().unwrap()).unwrap();
    let operator = config.with_metadata(metadata).unwrap().build().unwrap();
    assert!(
        operator.jwks().is_empty(),
        "the context starts without keys"
    );

    for phase in 0..PHASES {
        if phase > 0 {
            server.sandbox().rotate_keys(OPERATOR);
        }
        let fetches_before = jwks_fetches(&server);
        let barrier = std::sync::Barrier::new(THREADS);
        let logins: Vec<Login> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (client, operator, barrier) = (&client, operator.clone(), &barrier);
                    scope.spawn(move || blocking_login(client, &operator, barrier))
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        check_phase(&server, phase, fetches_before, &logins);
    }
    assert_eq!(jwks_fetches(&server), PHASES);
    assert_eq!(operator.jwks().keys().len(), 1);
}

fn blocking_login(
    client: &mc_io_blocking::Client,
    operator: &Discovered,
    barrier: &std::sync::Barrier,
) -> Login {
    let now = mc_io_blocking::now;
    let (redirect, flow) = operator
        .authorize(options(), &mut mc_io_blocking::OsEntropy, now())
        .unwrap();
    let answer = client.send(browser_request(redirect.as_str())).unwrap();
    let exchange = redeem(operator, flow, &answer, now);
    barrier.wait();
    let token_started = Instant::now();
    let tokens = client.execute(exchange).unwrap();
    let token_step = token_started.elapsed();
    let info = client.execute(tokens.userinfo(operator).unwrap()).unwrap();
    Login::checked(&tokens, &info, token_step)
}

/// A refetch that fails is not repeated by the logins that waited for it: 16 logins pause on a
/// `kid` the context does not hold while the operator's JWKS answers 500 (slowly, so that all of
/// them are waiting); one JWKS request is made, and every login is refused with the verdict it
/// would have had without a refetch (`UnknownKeyId`), instead of each trying again in turn.
#[test]
fn logins_waiting_on_a_failed_refetch_fail_without_fetching_again() {
    const LOGINS: usize = 16;
    let server = SandboxServer::start().unwrap();
    server
        .sandbox()
        .set_operator_fault(OPERATOR, Target::Jwks, Fault::SlowServerError(JWKS_DELAY));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let outcomes = runtime.block_on(async {
        let client =
            mc_io_tokio::Client::with_config(mc_io_tokio::Config::default().with_timeout(TIMEOUT))
                .unwrap();
        let operator = Arc::new(
            server
                .sandbox()
                .registry_entry(OPERATOR)
                .unwrap()
                .build()
                .unwrap(),
        );
        let barrier = Arc::new(tokio::sync::Barrier::new(LOGINS));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..LOGINS {
            let (client, operator, barrier) =
                (client.clone(), Arc::clone(&operator), Arc::clone(&barrier));
            tasks.spawn(async move {
                let exchange = tokio_token_exchange(&client, &operator).await;
                barrier.wait().await;
                client.execute(exchange).await
            });
        }
        let mut outcomes = Vec::with_capacity(LOGINS);
        while let Some(outcome) = tasks.join_next().await {
            outcomes.push(outcome.unwrap());
        }
        assert!(operator.jwks().is_empty(), "no keys were stored");
        outcomes
    });
    assert_eq!(
        jwks_fetches(&server),
        1,
        "one refetch for all waiting logins"
    );
    let mut failed_fetch = 0;
    for outcome in outcomes {
        match outcome {
            // The login whose turn it was sees the operator's 500.
            Err(mc_io_tokio::Error::Core(mc_core::Error::Protocol(
                mc_core::ProtocolError::UnexpectedStatus { status: 500, .. },
            ))) => failed_fetch += 1,
            Err(mc_io_tokio::Error::Core(mc_core::Error::IdToken(
                mc_core::IdTokenError::UnknownKeyId { .. },
            ))) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(failed_fetch, 1);
}
