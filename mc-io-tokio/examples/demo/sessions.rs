//! The demo's sessions in Redis, when its pending logins are there too: then several demo
//! instances behind one load balancer share both, and any instance serves any request.
//!
//! A tower-sessions `SessionStore` over a connection of the login service's Redis store
//! (`RedisStore::query`: the same reconnect-once rule after a dropped connection; the crates.io
//! Redis store for tower-sessions is built on another client, fred): one key per session,
//! `mc:demo:session:<id>`, JSON, expiring at the session's expiry. A new session is written
//! with `SET NX`, so that a colliding id is drawn again, never overwritten.

use std::fmt;

use async_trait::async_trait;
use mc_io_tokio::axum::tower_sessions::session::{Id, Record};
use mc_io_tokio::axum::tower_sessions::session_store::{self, SessionStore};
use mc_io_tokio::service::StoreError;
use mc_io_tokio::service::store::RedisStore;

/// Sessions in Redis.
#[derive(Clone)]
pub(crate) struct RedisSessions {
    redis: RedisStore,
}

impl fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessions").finish_non_exhaustive()
    }
}

fn key(id: &Id) -> String {
    format!("mc:demo:session:{id}")
}

fn backend(error: &StoreError) -> session_store::Error {
    // The store's message names the failure, never the URL (which may hold a password).
    session_store::Error::Backend(error.to_string())
}

impl RedisSessions {
    /// Connect to the Redis at `url`.
    pub(crate) async fn connect(url: &str) -> Result<Self, String> {
        let redis = RedisStore::connect(url, None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { redis })
    }

    /// `SET key record EXAT expiry [NX]`: whether it was written.
    async fn write(&self, record: &Record, only_new: bool) -> session_store::Result<bool> {
        let json =
            serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let mut command = redis::cmd("SET");
        command
            .arg(key(&record.id))
            .arg(json)
            .arg("EXAT")
            .arg(record.expiry_date.unix_timestamp().max(1));
        if only_new {
            command.arg("NX");
        }
        let written: Option<String> = self.redis.query(&command).await.map_err(|e| backend(&e))?;
        Ok(written.is_some())
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // 128-bit random ids: a collision is a broken random source; give up after a few.
        for _ in 0..3 {
            if self.write(record, true).await? {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(session_store::Error::Backend(
            "session id collisions".to_owned(),
        ))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, false).await.map(drop)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let json: Option<Vec<u8>> = self
            .redis
            .query(redis::cmd("GET").arg(key(id)))
            .await
            .map_err(|e| backend(&e))?;
        json.map(|json| {
            serde_json::from_slice(&json).map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let _: i64 = self
            .redis
            .query(redis::cmd("DEL").arg(key(id)))
            .await
            .map_err(|e| backend(&e))?;
        Ok(())
    }
}
