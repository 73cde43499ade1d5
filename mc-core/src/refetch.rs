//! The JWKS refetch a verification may ask for, as a typed step: a token or signed userinfo
//! naming a key the operator context does not hold pauses as a [`KeyRefetch`], an exchange whose
//! request is the JWKS GET and whose answer finishes the paused verification against the keys it
//! brought. There is no way to resume without fresh keys.

use std::fmt;

use crate::discovery::DiscoveryOutcome;
use crate::endpoint::Endpoint;
use crate::error::{Error, IdTokenError};
use crate::exchange::{Exchange, Prepared, UnixTime};
use crate::jwks::{self, Jwks, KeySnapshot};
use crate::metadata::ProviderMetadata;
use crate::registry::Discovered;

/// The outcome of a step that verifies signatures: done, or the operator's keys must be fetched
/// first.
#[derive(Debug)]
#[must_use]
// The refetch is the rare path; boxing it would cost every caller a pattern through a `Box`.
#[allow(clippy::large_enum_variant)]
pub enum Verified<T> {
    /// The step completed.
    Done(T),
    /// Run this exchange (the JWKS GET); its answer finishes the step.
    NeedJwks(KeyRefetch<T>),
}

impl<T: 'static> Verified<T> {
    /// The value as `map` wraps it, now or when the paused step finishes (the tokens of a
    /// poll become `Poll::Tokens`).
    pub(crate) fn map<U: 'static>(self, map: fn(T) -> U) -> Verified<U> {
        match self {
            Self::Done(value) => Verified::Done(map(value)),
            Self::NeedJwks(refetch) => Verified::NeedJwks(KeyRefetch {
                operator: refetch.operator,
                generation: refetch.generation,
                missing: refetch.missing,
                prepared: refetch.prepared,
                paused: Box::new(Mapped {
                    inner: refetch.paused,
                    map,
                }),
            }),
        }
    }
}

/// What an exchange yields, seen by a generic executor: a final value, or a [`KeyRefetch`] to
/// run before the value exists. Implemented by [`Verified`] and by every plain output, so that
/// an adapter has one `execute` for every step.
pub trait Outcome {
    /// The value the step finally yields.
    type Value;

    /// This output as done or paused.
    fn into_verified(self) -> Verified<Self::Value>;
}

impl<T> Outcome for Verified<T> {
    type Value = T;

    fn into_verified(self) -> Self {
        self
    }
}

macro_rules! final_outcome {
    ($($output:ty),* $(,)?) => {
        $(impl Outcome for $output {
            type Value = Self;

            fn into_verified(self) -> Verified<Self> {
                Verified::Done(self)
            }
        })*
    };
}

final_outcome!(
    DiscoveryOutcome,
    ProviderMetadata,
    Jwks,
    crate::token::Tokens,
    crate::userinfo::UserInfo,
    crate::server_initiated::BackchannelPending,
    crate::server_initiated::Poll,
    crate::server_initiated::Notified,
    crate::otp::OtpChallenge,
);

/// A verification paused until fresh keys arrive; finishing it never asks for keys again.
pub(crate) trait Paused<T>: Send {
    fn finish(
        self: Box<Self>,
        operator: &Discovered,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<T, Error>;
}

/// A paused verification whose value is wrapped when it finishes (the tokens of a poll become
/// `Poll::Tokens`): one paused step serves every output that carries its value.
struct Mapped<T, U> {
    inner: Box<dyn Paused<T>>,
    map: fn(T) -> U,
}

impl<T, U> Paused<U> for Mapped<T, U> {
    fn finish(
        self: Box<Self>,
        operator: &Discovered,
        keys: &Jwks,
        now: UnixTime,
    ) -> Result<U, Error> {
        self.inner.finish(operator, keys, now).map(self.map)
    }
}

/// A verification that found no key in `snapshot`: paused for a refetch when the context may
/// refetch now, else refused with `missing`.
pub(crate) fn pause_or_refuse<T>(
    operator: &Discovered,
    snapshot: &KeySnapshot,
    now: UnixTime,
    missing: IdTokenError,
    paused: impl FnOnce() -> Box<dyn Paused<T>>,
) -> Result<Verified<T>, Error> {
    if operator.may_refetch_jwks(snapshot, now) {
        Ok(Verified::NeedJwks(KeyRefetch::new(
            operator,
            snapshot.generation,
            missing,
            paused(),
        )?))
    } else {
        Err(missing.into())
    }
}

/// A verification paused because the token names a key the operator context does not hold.
///
/// It is an [`Exchange`]: its request is the operator's JWKS GET, and its `respond` parses the
/// key set, stores it in the shared operator context (so that every later login uses it), and
/// finishes the paused verification against it, returning the verified value. A `kid` still
/// unknown then is [`crate::IdTokenError::UnknownKeyId`]; there is no second refetch.
///
/// When many logins pause at once for the same key rotation, an executor that runs refetches
/// for one operator one at a time calls [`KeyRefetch::with_newer_keys`] first: a key set stored
/// by another login since this one paused finishes it without another fetch. (The adapters do
/// this per `Client`: logins sharing one context through one client fetch once per rotation;
/// each further client sharing the context may fetch once more.)
#[must_use]
pub struct KeyRefetch<T> {
    operator: Discovered,
    generation: u64,
    /// The verdict when no fresh keys can be had.
    missing: IdTokenError,
    prepared: Prepared,
    paused: Box<dyn Paused<T>>,
}

impl<T> fmt::Debug for KeyRefetch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRefetch")
            .field("operator", &self.operator.id())
            .field("request", &self.prepared)
            .finish_non_exhaustive()
    }
}

impl<T> KeyRefetch<T> {
    fn new(
        operator: &Discovered,
        generation: u64,
        missing: IdTokenError,
        paused: Box<dyn Paused<T>>,
    ) -> Result<Self, Error> {
        Ok(Self {
            prepared: operator.jwks_request()?,
            operator: operator.clone(),
            generation,
            missing,
            paused,
        })
    }

    /// Give up without fetching: the verdict the step would have had with no refetch allowed
    /// ([`crate::IdTokenError::UnknownKeyId`] or [`crate::IdTokenError::NoUsableKey`]). For an
    /// executor whose refetch for the same operator just failed: the logins that waited for it
    /// fail at once instead of each trying again.
    #[must_use]
    pub fn into_error(self) -> Error {
        self.missing.into()
    }

    /// The JWKS URL this refetch GETs: executors that run one refetch per operator at a time
    /// key their lock by it.
    #[must_use]
    pub fn jwks_uri(&self) -> &http::Uri {
        &self.prepared.uri
    }

    /// Finish without fetching when the operator context already holds a newer key set than
    /// the one this verification paused on (another login refetched meanwhile); otherwise hand
    /// the refetch back unchanged.
    ///
    /// # Errors
    /// As the paused step, verified against the newer keys.
    pub fn with_newer_keys(self, now: UnixTime) -> Result<Verified<T>, Error> {
        let snapshot = self.operator.key_snapshot();
        if snapshot.generation == self.generation {
            return Ok(Verified::NeedJwks(self));
        }
        self.paused
            .finish(&self.operator, &snapshot.jwks, now)
            .map(Verified::Done)
    }
}

impl<T> Exchange for KeyRefetch<T> {
    type Output = T;

    crate::exchange::operator_step!(Endpoint::Jwks);

    fn respond(self, response: http::Response<Vec<u8>>, now: UnixTime) -> Result<T, Error> {
        let keys = jwks::parse_response(&response)?;
        let snapshot = self.operator.keys_store(keys, now);
        self.paused.finish(&self.operator, &snapshot.jwks, now)
    }
}
