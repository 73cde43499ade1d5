//! Server-initiated login (Mobile Connect SI, OpenID CIBA) on tokio: the poll loop
//! ([`Client::poll_for_tokens`]) and the notification receiver ([`NotificationInbox`]). The
//! core decides when to poll and what every answer means; this module only sleeps, sends and
//! hands over.

mod notification;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mc_core::{BackchannelPending, Discovered, MisuseError, Poll, Tokens, UnixTime};
use tracing::Instrument as _;

pub use notification::{NotificationInbox, Waiter};

use crate::{Client, Error, OsEntropy, now};

/// The shortest pause between two polls of one login, whatever a stored state says (the core
/// never asks for less; a hand-edited state could).
const MIN_POLL_SPACING: Duration = Duration::from_secs(1);

/// The longest single sleep: the wall clock is read again after each, so that a clock step
/// never makes a login wait much past the time the core named.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// The shortest single sleep, so that a wait never spins.
const MIN_SLEEP: Duration = Duration::from_millis(10);

impl Client {
    /// Poll the operator's token endpoint for a server-initiated login until it ends: sleep
    /// until [`BackchannelPending::next_poll_at`], run [`BackchannelPending::poll`] through
    /// [`Client::execute`] (so a key refetch and the `mc_exchange` span come with each poll),
    /// keep the state a [`Poll::Pending`] carries (its interval grown by a `slow_down`), and
    /// stop at the tokens, the operator's refusal (`access_denied`, `expired_token`, ...) or
    /// the login's expiry. For Mobile Connect SI polling mode and OpenID CIBA poll mode; a
    /// notification-mode login waits in a [`NotificationInbox`] instead.
    ///
    /// The first poll goes out as soon as the core allows it: at
    /// [`BackchannelPending::next_poll_at`] (in CIBA ping mode at once: call this once the ping
    /// came); each later one after the interval. It never polls before the time the core
    /// names, nor twice within a second, and it never sleeps past
    /// [`BackchannelPending::expires_at`]: once that has come, the core refuses the poll
    /// without a request and this returns [`mc_core::BackchannelError::Expired`]. A misuse
    /// (a notification-mode login, another operator's context) is refused at once.
    ///
    /// The whole wait runs in one `mc_backchannel` span (operator, mode, outcome: `ok`, an
    /// [`Error::class`], or `cancelled`), around the `mc_exchange` span of each poll; neither
    /// names the `auth_req_id` nor any token.
    ///
    /// **Cancellation**: drop the future (`tokio::time::timeout`, `select!`, an aborted task,
    /// a closed client connection). Nothing runs in the background: no poll is sent after the
    /// drop, and a poll in flight is abandoned with its connection. The pending state was moved
    /// in; a host that wants to resume later keeps a copy (it is `Clone` and serializable) and
    /// may poll it again as long as it has not expired.
    ///
    /// Needs a tokio runtime with the time driver (`#[tokio::main]` has it; a hand-built
    /// runtime needs `enable_time` or `enable_all`).
    ///
    /// ```
    /// use mc_core::{CibaLoginHint, CibaRequest, Msisdn};
    /// use mc_io_tokio::{Client, OsEntropy, now};
    ///
    /// # async fn login(operator: &mc_core::Discovered) -> Result<(), mc_io_tokio::Error> {
    /// let client = Client::new()?;
    /// let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new("+447700900301")));
    /// let pending = client
    ///     .execute(operator.ciba_authorize(request, &mut OsEntropy, now())?)
    ///     .await?;
    /// let tokens = client.poll_for_tokens(operator, pending).await?;
    /// println!("PCR {}", tokens.sub());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The operator's refusal and the login's expiry as [`Error::Core`]
    /// ([`mc_core::Error::Refused`], [`mc_core::BackchannelError::Expired`]), a rejected
    /// id_token, a misuse (a notification-mode login, another operator's context), or a
    /// transport failure of a poll (not retried: the login's state is still valid, and the
    /// host decides).
    pub async fn poll_for_tokens(
        &self,
        operator: &Discovered,
        pending: BackchannelPending,
    ) -> Result<Tokens, Error> {
        let span = LoginSpan::new(&pending);
        let result = self
            .poll_until_done(operator, pending)
            .instrument(span.span.clone())
            .await;
        span.close(&result);
        result
    }

    /// The poll loop, without a span of its own (a notified login's waiter runs it inside its
    /// span after a ping). The first poll goes out as soon as the core allows it (at once in
    /// CIBA ping mode, else at `next_poll_at`); each later one after the interval.
    async fn poll_until_done(
        &self,
        operator: &Discovered,
        mut pending: BackchannelPending,
    ) -> Result<Tokens, Error> {
        let mut last_poll: Option<Instant> = None;
        loop {
            if let Some(wait) = last_poll.and_then(|at| MIN_POLL_SPACING.checked_sub(at.elapsed()))
            {
                tokio::time::sleep(wait).await;
            }
            let exchange = match pending.poll(operator, &mut OsEntropy, now()) {
                Ok(exchange) => exchange,
                Err(mc_core::Error::Misuse(MisuseError::PollTooEarly { .. })) => {
                    sleep_until(pending.poll_due()).await;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            last_poll = Some(Instant::now());
            match self.execute(exchange).await? {
                Poll::Pending(still) => {
                    pending = still;
                    sleep_until(pending.poll_due()).await;
                }
                Poll::Tokens(tokens) => return Ok(tokens),
            }
        }
    }
}

/// Sleep until the wall clock reads `due` (whole seconds, as [`now`] reads it).
async fn sleep_until(due: UnixTime) {
    while let Some(wait) = time_until(due) {
        tokio::time::sleep(wait).await;
    }
}

/// How long until the wall clock reaches `due`, clamped to a sleep; `None` once it has.
fn time_until(due: UnixTime) -> Option<Duration> {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let left = Duration::from_secs(due.as_secs()).checked_sub(elapsed)?;
    (!left.is_zero()).then(|| left.clamp(MIN_SLEEP, MAX_SLEEP))
}

/// The `mc_backchannel` span of one login, which records `cancelled` when the wait is dropped
/// before it ends.
#[derive(Debug)]
struct LoginSpan {
    span: tracing::Span,
    open: bool,
}

impl LoginSpan {
    fn new(pending: &BackchannelPending) -> Self {
        let span = tracing::info_span!(
            "mc_backchannel",
            operator = pending.operator_id(),
            mode = pending.mode().as_str(),
            outcome = tracing::field::Empty,
        );
        Self { span, open: true }
    }

    fn close<T>(mut self, result: &Result<T, Error>) {
        self.open = false;
        self.span.record(
            "outcome",
            result.as_ref().map_or_else(Error::class, |_| "ok"),
        );
    }
}

impl Drop for LoginSpan {
    fn drop(&mut self) {
        if self.open {
            self.span.record("outcome", "cancelled");
        }
    }
}
