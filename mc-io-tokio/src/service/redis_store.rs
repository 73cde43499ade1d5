//! The Redis store (feature `redis`), re-exported as [`super::store::RedisStore`]; this module
//! is private, so the whole story is on the type.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::store::{LoginId, LoginStore, StoreError, StoreFuture};

/// The default key prefix.
pub(super) const DEFAULT_PREFIX: &str = "mc:login:";

/// How long one Redis operation may take before it counts as an outage.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long connecting may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// Pending logins in Redis (feature `redis`), shared by every SP instance that names the same
/// Redis, so that the callback may land on any of them.
///
/// Each login is one key, `<prefix><login id>` (prefix `mc:login:` by default), written with
/// `SET .. NX PX <login timeout>` (never over an existing key; Redis drops it at the timeout)
/// and taken with `GETDEL` (Redis 6.2 or later): removed and returned in one atomic step, so
/// that of two callbacks racing on two instances one gets the login and the other
/// [`super::ServiceError::UnknownLogin`]. A pending browser login is about 310 bytes of JSON,
/// about 430 bytes of Redis memory with its key (measured by `tests/tests/shared_logins.rs`).
///
/// The connection is a `redis` crate connection manager: it reconnects by itself after an
/// outage; while Redis is away, every operation fails within the 2 s response timeout as
/// [`StoreError::Unavailable`] (a web host answers 503), and nothing is half-done: a login
/// whose state could not be written was never started. A take that timed out against a hung
/// Redis may still run once Redis wakes up: that login is then lost (its browser starts
/// again), never handed out twice. A Redis without persistence loses every pending login when
/// it restarts, with the same outcome.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connect to the Redis at `url` (`redis://[[user]:password@]host:port[/db]`), with keys
    /// under `prefix` (`mc:login:` when `None`). TLS (`rediss://`) is not built in (the
    /// `redis` crate's TLS features are off): such a URL is refused as unusable.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is unusable (malformed, or `rediss://`) or
    /// Redis cannot be reached now (the message never repeats the URL, which may hold a
    /// password).
    pub async fn connect(url: &str, prefix: Option<&str>) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Unavailable {
            reason: format!(
                "redis: unusable URL, {:?} (redis://[[user]:password@]host:port[/db] expected; \
                 rediss:// needs TLS, which this build lacks)",
                e.kind()
            ),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(Self {
            connection,
            prefix: prefix.unwrap_or(DEFAULT_PREFIX).to_owned(),
        })
    }

    /// Run one command. A connection found dropped (Redis restarted, an idle connection closed
    /// by Redis's `timeout` or a proxy) is noticed only by the command that meets it: the
    /// connection manager then reconnects, and the command is sent once more on the new
    /// connection. A `GETDEL` whose answer was lost with the old connection finds nothing the
    /// second time (the login is lost, never handed out twice); a `SET NX` that did land finds
    /// its own key (a [`StoreError::Collision`]: the login is not started). A timeout is not
    /// retried (Redis may be hung; the caller has waited long enough).
    ///
    /// Public so that a host can keep its own keys (its sessions, say) on the same connection
    /// with the same rule.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when Redis cannot be reached or answers with an error.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        match command.query_async(&mut connection).await {
            Err(e) if e.is_connection_dropped() && !e.is_timeout() => command
                .query_async(&mut connection)
                .await
                .map_err(|e| unavailable(&e)),
            result => result.map_err(|e| unavailable(&e)),
        }
    }

    fn key(&self, id: &LoginId) -> String {
        format!("{}{}", self.prefix, id.as_str())
    }
}

/// A Redis error as an outage, described by its kind and category only.
fn unavailable(error: &redis::RedisError) -> StoreError {
    StoreError::Unavailable {
        reason: format!("redis: {:?} ({})", error.kind(), error.category()),
    }
}

impl LoginStore for RedisStore {
    fn put<'a>(&'a self, id: &'a LoginId, state: Vec<u8>, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut command = redis::cmd("SET");
            command
                .arg(self.key(id))
                .arg(state)
                .arg("NX")
                .arg("PX")
                .arg(millis);
            let written: Option<String> = self.query(&command).await?;
            match written {
                Some(_) => Ok(()),
                None => Err(StoreError::Collision),
            }
        })
    }

    fn take<'a>(&'a self, id: &'a LoginId) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut command = redis::cmd("GETDEL");
            command.arg(self.key(id));
            self.query(&command).await
        })
    }
}
