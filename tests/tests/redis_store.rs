//! The login service's Redis store (`RedisStore`, feature `redis`) against a real
//! `redis-server` ([`RedisServer`]: one per test, so that one test's outage is not another's):
//! each value is handed out once, ids are never overwritten, Redis expires values at the login
//! timeout, keys are `<prefix><login id>`, concurrent takes race safely, and an outage is
//! `StoreError::Unavailable` within the response timeout, from which the same store value
//! recovers once Redis is back.
//!
//! Skipped (with a note) when `redis-server` is not installed, unless `CI` is set.

use std::time::{Duration, Instant};

use mc_io_tokio::service::store::RedisStore;
use mc_io_tokio::service::{LoginId, LoginStore as _, StoreError};
use mc_tests::redis::{RedisServer, free_port, once_reconnected};
use tokio::task::JoinSet;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MINUTE: Duration = Duration::from_secs(60);

/// The longest an operation may take while Redis is away: the store's 2 s response (and
/// connection) timeout, and some slack for a loaded machine.
const OUTAGE_BOUND: Duration = Duration::from_secs(3);

/// A server of this test and a store connected to it; `None` when the test is skipped.
async fn setup() -> Result<Option<(RedisServer, RedisStore)>> {
    let Some(server) = RedisServer::start()? else {
        return Ok(None);
    };
    let store = RedisStore::connect(&server.url(), None).await?;
    Ok(Some((server, store)))
}

fn is_outage(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable { .. })
}

/// A plain connection to the test's Redis, to look at what the store wrote.
async fn inspect(server: &RedisServer) -> Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(server.url())?
        .get_multiplexed_async_connection()
        .await?)
}

#[tokio::test]
async fn a_value_is_taken_once() -> Result {
    let Some((_server, store)) = setup().await? else {
        return Ok(());
    };
    let id = LoginId::random();
    store.put(&id, b"pending login".to_vec(), MINUTE).await?;
    assert_eq!(store.take(&id).await?, Some(b"pending login".to_vec()));
    assert_eq!(store.take(&id).await?, None);
    assert_eq!(store.take(&LoginId::random()).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_connection_closed_by_redis_is_reopened_by_the_next_command() -> Result {
    let Some((server, store)) = setup().await? else {
        return Ok(());
    };
    let id = LoginId::random();
    store.put(&id, b"pending login".to_vec(), MINUTE).await?;
    // What Redis's idle `timeout`, a proxy or a failover does: the store's connection is closed
    // under it. The next command meets the closed connection, and is sent again on a new one.
    let mut admin = inspect(&server).await?;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await?;
    assert!(killed >= 1, "no connection of the store was closed");
    assert_eq!(store.take(&id).await?, Some(b"pending login".to_vec()));
    let again = LoginId::random();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await?;
    store.put(&again, b"next".to_vec(), MINUTE).await?;
    assert_eq!(store.take(&again).await?, Some(b"next".to_vec()));
    Ok(())
}

#[tokio::test]
async fn an_id_in_use_is_a_collision_and_keeps_its_value() -> Result {
    let Some((_server, store)) = setup().await? else {
        return Ok(());
    };
    let id = LoginId::random();
    store.put(&id, b"first".to_vec(), MINUTE).await?;
    let second = store.put(&id, b"second".to_vec(), MINUTE).await;
    assert!(matches!(second, Err(StoreError::Collision)), "{second:?}");
    assert_eq!(store.take(&id).await?, Some(b"first".to_vec()));
    Ok(())
}

#[tokio::test]
async fn redis_expires_a_value_at_its_ttl() -> Result {
    let Some((server, store)) = setup().await? else {
        return Ok(());
    };
    let ttl = Duration::from_millis(300);
    let id = LoginId::random();
    store.put(&id, b"short-lived".to_vec(), ttl).await?;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("mc:login:{}", id.as_str()))
        .query_async(&mut inspect(&server).await?)
        .await?;
    assert!(
        pttl > 0 && u128::try_from(pttl)? <= ttl.as_millis(),
        "PTTL {pttl} ms for a TTL of {ttl:?}"
    );
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_eq!(store.take(&id).await?, None);
    Ok(())
}

#[tokio::test]
async fn keys_are_the_prefix_and_the_login_id() -> Result {
    let Some((server, default_store)) = setup().await? else {
        return Ok(());
    };
    let custom_store = RedisStore::connect(&server.url(), Some("shop-eu:pending:")).await?;
    let mut redis = inspect(&server).await?;
    for (store, prefix) in [
        (&default_store, "mc:login:"),
        (&custom_store, "shop-eu:pending:"),
    ] {
        let id = LoginId::random();
        store.put(&id, b"state".to_vec(), MINUTE).await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("*{}", id.as_str()))
            .query_async(&mut redis)
            .await?;
        assert_eq!(keys, [format!("{prefix}{}", id.as_str())]);
        let stored: Option<Vec<u8>> = redis::cmd("GET").arg(&keys).query_async(&mut redis).await?;
        assert_eq!(stored.as_deref(), Some(&b"state"[..]));
        assert_eq!(store.take(&id).await?, Some(b"state".to_vec()));
    }
    // One prefix does not see the other's logins.
    let id = LoginId::random();
    custom_store.put(&id, b"state".to_vec(), MINUTE).await?;
    assert_eq!(default_store.take(&id).await?, None);
    assert_eq!(custom_store.take(&id).await?, Some(b"state".to_vec()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_32_concurrent_takes_exactly_one_gets_the_value() -> Result {
    let Some((server, first)) = setup().await? else {
        return Ok(());
    };
    // Four connections, as four SP instances would have, eight callbacks on each.
    let mut stores = vec![first];
    for _ in 1..4 {
        stores.push(RedisStore::connect(&server.url(), None).await?);
    }
    let id = LoginId::random();
    stores[0].put(&id, b"one login".to_vec(), MINUTE).await?;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(32));
    let mut takes = JoinSet::new();
    for n in 0..32 {
        let store = stores[n % stores.len()].clone();
        let id = id.clone();
        let start = std::sync::Arc::clone(&start);
        takes.spawn(async move {
            start.wait().await;
            store.take(&id).await
        });
    }
    let mut got = Vec::new();
    while let Some(taken) = takes.join_next().await {
        got.push(taken??);
    }
    assert_eq!(got.len(), 32);
    let winners: Vec<_> = got.iter().flatten().collect();
    assert_eq!(winners, [&b"one login".to_vec()]);
    Ok(())
}

#[tokio::test]
async fn an_outage_is_unavailable_and_the_same_store_recovers_after_a_restart() -> Result {
    let Some((mut server, store)) = setup().await? else {
        return Ok(());
    };
    let kept = LoginId::random();
    store
        .put(&kept, b"lost in the outage".to_vec(), MINUTE)
        .await?;
    server.stop()?;

    let id = LoginId::random();
    let started = Instant::now();
    let put = store.put(&id, b"state".to_vec(), MINUTE).await;
    let put_took = started.elapsed();
    let started = Instant::now();
    let take = store.take(&kept).await;
    let take_took = started.elapsed();
    eprintln!("redis down: put failed after {put_took:?}, take after {take_took:?}");
    assert!(put.as_ref().is_err_and(is_outage), "{put:?}");
    assert!(take.as_ref().is_err_and(is_outage), "{take:?}");
    assert!(put_took < OUTAGE_BOUND, "put took {put_took:?}");
    assert!(take_took < OUTAGE_BOUND, "take took {take_took:?}");

    server.restart()?;
    let restarted = Instant::now();
    once_reconnected(is_outage, async || {
        store.put(&id, b"state".to_vec(), MINUTE).await
    })
    .await?;
    eprintln!(
        "redis back: the store wrote again {:?} after the restart",
        restarted.elapsed()
    );
    assert_eq!(store.take(&id).await?, Some(b"state".to_vec()));
    // The server keeps nothing across a stop (no persistence): that login is gone.
    assert_eq!(store.take(&kept).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_hung_redis_is_unavailable_after_the_response_timeout_then_recovers() -> Result {
    let Some((server, store)) = setup().await? else {
        return Ok(());
    };
    let id = LoginId::random();
    store.put(&id, b"state".to_vec(), MINUTE).await?;
    server.pause()?;
    let started = Instant::now();
    let take = store.take(&id).await;
    let took = started.elapsed();
    let other = LoginId::random();
    let put = store.put(&other, b"state".to_vec(), MINUTE).await;
    let put_took = started.elapsed().saturating_sub(took);
    server.resume()?;
    eprintln!("redis hung: take failed after {took:?}, put after {put_took:?}: {take:?}");
    assert!(take.as_ref().is_err_and(is_outage), "{take:?}");
    assert!(put.as_ref().is_err_and(is_outage), "{put:?}");
    assert!(took < OUTAGE_BOUND, "take took {took:?}");
    assert!(put_took < OUTAGE_BOUND, "put took {put_took:?}");
    // The timed-out GETDEL had reached Redis, which ran it on waking up: that login is gone,
    // taken by nobody. A login is handed out at most once; an outage may lose it, never
    // duplicate it.
    let after = once_reconnected(is_outage, async || store.take(&id).await).await;
    assert_eq!(after?, None);
    Ok(())
}

/// A store that cannot connect says why in a few words, quickly, and never repeats the URL:
/// (case, URL with a password, what the reason names). Needs no `redis-server`.
#[tokio::test]
async fn a_failed_connect_is_unavailable_and_hides_the_url() -> Result {
    // A loopback port nothing listens on.
    let port = free_port()?;
    let cases = [
        (
            "nothing listens",
            format!("redis://:secretpw@127.0.0.1:{port}"),
            "Io",
        ),
        (
            "malformed database number",
            format!("redis://:secretpw@127.0.0.1:{port}/first"),
            "unusable URL",
        ),
        (
            "TLS, not built in",
            format!("rediss://:secretpw@127.0.0.1:{port}"),
            "unusable URL",
        ),
    ];
    for (case, url, names) in cases {
        let started = Instant::now();
        let connected = RedisStore::connect(&url, None).await;
        let took = started.elapsed();
        eprintln!("{case}: connect failed after {took:?}: {connected:?}");
        let Err(error) = connected else {
            return Err(format!("{case}: connected to {url}").into());
        };
        assert!(took < OUTAGE_BOUND, "{case}: connect took {took:?}");
        let StoreError::Unavailable { reason } = &error else {
            return Err(format!("{case}: {error:?}").into());
        };
        assert!(reason.contains(names), "{case}: {reason}");
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("secretpw"), "{case}: {text}");
            assert!(
                !text.contains(&format!("127.0.0.1:{port}")),
                "{case}: {text}"
            );
        }
    }
    Ok(())
}
