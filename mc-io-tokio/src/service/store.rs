//! Where pending logins wait between the redirect and the callback: one small trait
//! ([`LoginStore`]), an in-memory store ([`MemoryStore`], the default: one process, bounded, with
//! expiry) and, with the `redis` feature, `RedisStore` (several SP instances share one Redis,
//! so that any instance can finish any login).
//!
//! A store keeps opaque bytes (the service's serialized per-login state: no operator secret, no
//! token) under a random [`LoginId`], for at most the login timeout, and hands each value out
//! **once**: [`LoginStore::take`] removes what it returns atomically, so that two callbacks
//! racing on two instances cannot both finish one login.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mc_core::Entropy as _;

#[cfg(feature = "redis")]
pub use super::redis_store::RedisStore;

/// What a store operation returns: a boxed future, so that a store is usable as
/// `Arc<dyn LoginStore>` (the service picks memory or Redis from its configuration at run time).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Keeps each pending login's state until the callback takes it, once.
///
/// Implementations must:
/// - expire a value `ttl` after [`put`](LoginStore::put) (the login timeout), and never hand out
///   an expired value;
/// - make [`take`](LoginStore::take) atomic: remove and return in one step (Redis `GETDEL`), so
///   that of two concurrent takes of one id at most one gets the value;
/// - refuse to overwrite: a `put` under an id already present is [`StoreError::Collision`];
/// - report an outage as [`StoreError::Unavailable`] (the web host answers 503), never panic.
pub trait LoginStore: Send + Sync + fmt::Debug + 'static {
    /// Keep `state` under `id` for `ttl`.
    fn put<'a>(&'a self, id: &'a LoginId, state: Vec<u8>, ttl: Duration) -> StoreFuture<'a, ()>;

    /// Remove and return the state under `id`: `None` when it was never there, has expired, or
    /// was already taken.
    fn take<'a>(&'a self, id: &'a LoginId) -> StoreFuture<'a, Option<Vec<u8>>>;
}

/// A store operation that did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or answered with an error (a web host answers 503).
    #[error("the login store is unavailable: {reason}")]
    Unavailable {
        /// What failed; never holds a login id or a stored value.
        reason: String,
    },
    /// The in-memory store holds its capacity of pending logins (a web host answers 503).
    #[error("the login store is full ({capacity} pending logins)")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// A value already exists under the new login's id (a broken random source).
    #[error("a pending login already exists under this login id")]
    Collision,
}

/// The random, opaque id of one pending login: 256 bits from the OS, base64url (43 characters).
/// The browser holds it in a cookie; it names the server-side state and proves nothing else.
///
/// Its `Debug` shows only its first 6 characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LoginId(String);

/// The length of a login id's text.
const LOGIN_ID_LEN: usize = 43;

impl LoginId {
    /// A fresh id from the operating system's random source.
    #[must_use]
    pub fn random() -> Self {
        let mut bytes = [0_u8; 32];
        crate::OsEntropy.fill(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Read an id back from a cookie: `None` unless it has the shape of one (43 base64url
    /// characters), so that no other text reaches a store.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == LOGIN_ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(text.to_owned()))
    }

    /// The id's text, for the host's cookie.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginId({}..)", self.0.get(..6).unwrap_or_default())
    }
}

/// The default capacity of a [`MemoryStore`].
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

/// Pending logins in this process's memory: bounded, with expiry. For one SP instance (or
/// sticky sessions); several instances share a `RedisStore` instead (feature `redis`).
#[derive(Debug)]
pub struct MemoryStore {
    capacity: usize,
    entries: Mutex<HashMap<LoginId, (Instant, Vec<u8>)>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY_CAPACITY)
    }
}

impl MemoryStore {
    /// A store that holds at most `capacity` pending logins (expired ones are dropped first when
    /// it is full; a `put` beyond is [`StoreError::Full`]).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How many logins it holds (expired ones included until they are dropped).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether it holds no login.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put_now(&self, id: &LoginId, state: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.get(id).is_some_and(|(expiry, _)| *expiry > now) {
            return Err(StoreError::Collision);
        }
        if entries.len() >= self.capacity {
            entries.retain(|_, (expiry, _)| *expiry > now);
            if entries.len() >= self.capacity {
                return Err(StoreError::Full {
                    capacity: self.capacity,
                });
            }
        }
        let expiry = now.checked_add(ttl).unwrap_or(now);
        entries.insert(id.clone(), (expiry, state));
        Ok(())
    }

    fn take_now(&self, id: &LoginId) -> Option<Vec<u8>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (expiry, state) = entries.remove(id)?;
        (expiry > Instant::now()).then_some(state)
    }
}

impl LoginStore for MemoryStore {
    fn put<'a>(&'a self, id: &'a LoginId, state: Vec<u8>, ttl: Duration) -> StoreFuture<'a, ()> {
        let result = self.put_now(id, state, ttl);
        Box::pin(async move { result })
    }

    fn take<'a>(&'a self, id: &'a LoginId) -> StoreFuture<'a, Option<Vec<u8>>> {
        let result = self.take_now(id);
        Box::pin(async move { Ok(result) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(future: StoreFuture<'_, T>) -> Result<T, StoreError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| StoreError::Unavailable {
                reason: e.to_string(),
            })?
            .block_on(future)
    }

    #[test]
    fn a_value_is_taken_once() -> Result<(), StoreError> {
        let store = MemoryStore::default();
        let id = LoginId::random();
        block(store.put(&id, b"state".to_vec(), Duration::from_secs(60)))?;
        assert_eq!(block(store.take(&id))?, Some(b"state".to_vec()));
        assert_eq!(block(store.take(&id))?, None);
        Ok(())
    }

    #[test]
    fn an_expired_value_is_not_handed_out() -> Result<(), StoreError> {
        let store = MemoryStore::default();
        let id = LoginId::random();
        block(store.put(&id, b"state".to_vec(), Duration::ZERO))?;
        assert_eq!(block(store.take(&id))?, None);
        Ok(())
    }

    #[test]
    fn a_full_store_drops_expired_logins_first_then_refuses() -> Result<(), StoreError> {
        let store = MemoryStore::new(2);
        block(store.put(&LoginId::random(), vec![1], Duration::ZERO))?;
        block(store.put(&LoginId::random(), vec![2], Duration::from_secs(60)))?;
        block(store.put(&LoginId::random(), vec![3], Duration::from_secs(60)))?;
        assert!(matches!(
            block(store.put(&LoginId::random(), vec![4], Duration::from_secs(60))),
            Err(StoreError::Full { capacity: 2 })
        ));
        assert_eq!(store.len(), 2);
        Ok(())
    }

    #[test]
    fn an_id_in_use_is_not_overwritten() -> Result<(), StoreError> {
        let store = MemoryStore::default();
        let id = LoginId::random();
        block(store.put(&id, vec![1], Duration::from_secs(60)))?;
        assert!(matches!(
            block(store.put(&id, vec![2], Duration::from_secs(60))),
            Err(StoreError::Collision)
        ));
        assert_eq!(block(store.take(&id))?, Some(vec![1]));
        Ok(())
    }

    #[test]
    fn login_ids_are_parsed_strictly_and_redacted() {
        let id = LoginId::random();
        assert_eq!(LoginId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(LoginId::parse(""), None);
        assert_eq!(LoginId::parse(&format!("{}=", &id.as_str()[1..])), None);
        assert_eq!(LoginId::parse("mc:login:*"), None);
        let debug = format!("{id:?}");
        assert!(!debug.contains(id.as_str()), "{debug}");
    }
}
