//! Several SP instances sharing one Redis (mc-io-tokio's login service with `RedisStore`),
//! against the sandbox over loopback HTTP and a real `redis-server`: a login started on one
//! instance finishes on any other, exactly once; expiry and an outage behave the same on every
//! instance; and the size of one pending login in Redis, measured.
//!
//! The test Redis runs with no persistence (`--save "" --appendonly no`): a stop loses every
//! pending login, as it does in production with such a Redis. Their browsers get
//! `UnknownLogin` and start again; with persistence (or a replica) they would survive.
//!
//! Skipped (with a note) when `redis-server` is not installed, unless `CI` is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mc_io_tokio::service::store::RedisStore;
use mc_io_tokio::service::{
    Finish, LoginRequest, LoginService, LoginStart, ServiceConfig, StoreError,
};
use mc_io_tokio::{Client, ServiceError};
use mc_tests::SandboxServer;
use mc_tests::redis::{RedisServer, once_reconnected};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The sandbox, the shared Redis and the configuration every instance is built from.
struct Shared {
    /// Serves until the test ends.
    _sandbox: SandboxServer,
    redis: RedisServer,
    config: ServiceConfig,
}

/// `None` when the test is skipped (no `redis-server`, `CI` unset).
fn setup(login_timeout_secs: u64) -> Result<Option<Shared>> {
    let Some(redis) = RedisServer::start()? else {
        return Ok(None);
    };
    let sandbox = SandboxServer::start()?;
    let config = ServiceConfig::from_toml(&sandbox.sandbox().service_config(login_timeout_secs))?;
    Ok(Some(Shared {
        _sandbox: sandbox,
        redis,
        config,
    }))
}

impl Shared {
    /// A new SP instance: its own operator contexts, HTTP client and Redis connection; only
    /// Redis is shared.
    async fn instance(&self) -> Result<LoginService> {
        let store = RedisStore::connect(&self.redis.url(), None).await?;
        Ok(LoginService::with_store(
            self.config.clone(),
            Arc::new(store),
            Client::new()?,
        )?)
    }

    /// A plain connection to the shared Redis, to look at what the instances wrote.
    async fn inspect(&self) -> Result<redis::aio::MultiplexedConnection> {
        Ok(redis::Client::open(self.redis.url())?
            .get_multiplexed_async_connection()
            .await?)
    }
}

/// The Redis key of a pending login (the default prefix).
fn key(start: &LoginStart) -> String {
    format!("mc:login:{}", start.login_id.as_str())
}

/// The browser's visit to the operator: the handset answers and the operator redirects back;
/// the redirect's query.
async fn visit(client: &Client, url: &url::Url) -> Result<String> {
    let back = client
        .send(http::Request::get(url.as_str()).body(Vec::new())?)
        .await?;
    let location = back
        .headers()
        .get(http::header::LOCATION)
        .ok_or("no redirect back")?
        .to_str()?;
    Ok(url::Url::parse(location)?
        .query()
        .unwrap_or_default()
        .to_owned())
}

fn is_outage(error: &ServiceError) -> bool {
    matches!(error, ServiceError::Store(StoreError::Unavailable { .. }))
}

fn is_unknown_login<T>(result: &std::result::Result<T, ServiceError>) -> bool {
    matches!(result, Err(ServiceError::UnknownLogin))
}

#[tokio::test]
async fn a_login_started_on_one_instance_finishes_on_another_once() -> Result {
    let Some(shared) = setup(60)? else {
        return Ok(());
    };
    let a = shared.instance().await?;
    let start = a.start(LoginRequest::msisdn("+44 7700 900001")?).await?;
    let query = visit(a.client(), &start.redirect).await?;
    drop(a);

    let b = shared.instance().await?;
    let Finish::LoggedIn(login) = b.finish(&start.login_id, &query).await? else {
        return Err("no login on instance B".into());
    };
    assert_eq!(login.identity.operator, "Alpha Mobile");
    assert_eq!(login.identity.acr.as_deref(), Some("2"));
    assert_eq!(
        login.identity.phone_number.as_deref(),
        Some("+447700900001")
    );

    // The same callback replayed on a third instance: the state was taken.
    let a_again = shared.instance().await?;
    let replay = a_again.finish(&start.login_id, &query).await;
    assert!(is_unknown_login(&replay), "{replay:?}");
    let left: bool = redis::cmd("EXISTS")
        .arg(key(&start))
        .query_async(&mut shared.inspect().await?)
        .await?;
    assert!(!left, "the finished login is still in Redis");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_finishing_one_login_at_once_log_in_once() -> Result {
    let Some(shared) = setup(60)? else {
        return Ok(());
    };
    let a = shared.instance().await?;
    let b = shared.instance().await?;
    let start = a.start(LoginRequest::msisdn("+44 7700 900001")?).await?;
    let query = visit(a.client(), &start.redirect).await?;

    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let finishes = [a, b].map(|instance| {
        let (id, query, barrier) = (start.login_id.clone(), query.clone(), Arc::clone(&barrier));
        tokio::spawn(async move {
            barrier.wait().await;
            instance.finish(&id, &query).await
        })
    });
    let mut logged_in = 0;
    let mut unknown = 0;
    for finish in finishes {
        match finish.await? {
            Ok(Finish::LoggedIn(_)) => logged_in += 1,
            Err(ServiceError::UnknownLogin) => unknown += 1,
            other => return Err(format!("unexpected outcome: {other:?}").into()),
        }
    }
    assert_eq!((logged_in, unknown), (1, 1));
    Ok(())
}

#[tokio::test]
async fn an_expired_login_is_unknown_on_every_instance() -> Result {
    let Some(shared) = setup(1)? else {
        return Ok(());
    };
    let a = shared.instance().await?;
    let start = a.start(LoginRequest::msisdn("+44 7700 900001")?).await?;
    assert_eq!(start.expires_in, Duration::from_secs(1));
    let query = visit(a.client(), &start.redirect).await?;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(key(&start))
        .query_async(&mut shared.inspect().await?)
        .await?;
    assert!((1..=1000).contains(&pttl), "PTTL {pttl} ms");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let b = shared.instance().await?;
    let late = b.finish(&start.login_id, &query).await;
    assert!(is_unknown_login(&late), "{late:?}");
    let on_a = a.finish(&start.login_id, &query).await;
    assert!(is_unknown_login(&on_a), "{on_a:?}");
    Ok(())
}

#[tokio::test]
async fn a_redis_outage_is_503_and_logins_resume_after_a_restart() -> Result {
    let Some(mut shared) = setup(60)? else {
        return Ok(());
    };
    let a = shared.instance().await?;
    let b = shared.instance().await?;
    let lost = a.start(LoginRequest::msisdn("+44 7700 900001")?).await?;
    let lost_query = visit(a.client(), &lost.redirect).await?;

    shared.redis.stop()?;
    let started = Instant::now();
    let finish = b.finish(&lost.login_id, &lost_query).await;
    let took = started.elapsed();
    assert!(finish.as_ref().is_err_and(is_outage), "{finish:?}");
    // The store's 2 s response timeout, and slack for a loaded machine.
    assert!(took < Duration::from_secs(3), "finish took {took:?}");
    let Err(error) = finish else {
        return Err("finished without Redis".into());
    };
    assert_eq!(error.http_status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error.class(), "unavailable");
    // Nothing starts while the state cannot be kept.
    let start = a.start(LoginRequest::operator("Alpha Mobile")).await;
    assert!(start.as_ref().is_err_and(is_outage), "{start:?}");

    shared.redis.restart()?;
    // The restarted Redis is empty (no persistence): the login pending during the stop is
    // gone, and its browser has to start again.
    let gone = once_reconnected(is_outage, async || {
        b.finish(&lost.login_id, &lost_query).await
    })
    .await;
    assert!(is_unknown_login(&gone), "{gone:?}");
    let request = LoginRequest::msisdn("+44 7700 900001")?;
    let start = once_reconnected(is_outage, async || a.start(request.clone()).await).await?;
    let query = visit(a.client(), &start.redirect).await?;
    let Finish::LoggedIn(login) = b.finish(&start.login_id, &query).await? else {
        return Err("no login after the restart".into());
    };
    assert_eq!(login.identity.operator, "Alpha Mobile");
    Ok(())
}

#[tokio::test]
async fn the_size_of_a_pending_login_in_redis() -> Result {
    let Some(shared) = setup(600)? else {
        return Ok(());
    };
    let service = shared.instance().await?;
    let mut redis = shared.inspect().await?;
    let cases = [
        (
            "by MSISDN through discovery",
            LoginRequest::msisdn("+44 7700 900001")?,
        ),
        ("by operator id", LoginRequest::operator("Alpha Mobile")),
        (
            "by MSISDN at a registry operator",
            LoginRequest::msisdn("+44 7700 900001")?.at_operator("Alpha Mobile"),
        ),
        ("through the selection page", LoginRequest::selection()),
    ];
    for (case, request) in cases {
        let start = service.start(request).await?;
        let strlen: u64 = redis::cmd("STRLEN")
            .arg(key(&start))
            .query_async(&mut redis)
            .await?;
        let memory: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key(&start))
            .query_async(&mut redis)
            .await?;
        eprintln!(
            "pending login {case}: STRLEN {strlen} bytes, MEMORY USAGE {memory} bytes \
             (key {} bytes)",
            key(&start).len()
        );
        // The design's bound on the per-login state (DESIGN.md: under 512 bytes as JSON).
        assert!(strlen < 512, "{case}: {strlen} bytes");
    }
    Ok(())
}
