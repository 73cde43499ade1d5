//! Server-initiated login (Mobile Connect SI polling mode, OpenID CIBA poll mode) on a blocking
//! host: the poll loop ([`Client::poll_for_tokens`]). The core decides when to poll and what
//! every answer means; this module only sleeps and sends.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mc_core::{BackchannelPending, Discovered, MisuseError, Poll, Tokens, UnixTime};

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
    /// notification-mode login is answered by the host's notification handler
    /// ([`mc_core::Notification`]).
    ///
    /// The first poll goes out as soon as the core allows it: at
    /// [`BackchannelPending::next_poll_at`] (in CIBA ping mode at once: call this once the ping
    /// came); each later one after the interval. It never polls before the time the core
    /// names, nor twice within a second, and it never sleeps past
    /// [`BackchannelPending::expires_at`]: once that has come, the core refuses the poll
    /// without a request and this returns [`mc_core::BackchannelError::Expired`]. A misuse
    /// (a notification-mode login, another operator's context) is refused at once.
    ///
    /// The whole wait runs in one `mc_backchannel` span (operator, mode, outcome: `ok` or an
    /// [`Error::class`]), around the `mc_exchange` span of each poll; neither names the
    /// `auth_req_id` nor any token.
    ///
    /// It blocks the calling thread for up to the login's lifetime (`expires_in`, often two
    /// minutes) and cannot be interrupted: run it on a thread of its own when something else
    /// must go on. The same method as `mc-io-tokio`'s, without `.await`.
    ///
    /// ```no_run
    /// use mc_core::{CibaLoginHint, CibaRequest, Msisdn};
    /// use mc_io_blocking::{Client, OsEntropy, now};
    ///
    /// # fn login(operator: &mc_core::Discovered) -> Result<(), mc_io_blocking::Error> {
    /// let client = Client::new()?;
    /// let request = CibaRequest::new(CibaLoginHint::Phone(Msisdn::new("+447700900301")));
    /// let pending = client.execute(operator.ciba_authorize(request, &mut OsEntropy, now())?)?;
    /// let tokens = client.poll_for_tokens(operator, pending)?;
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
    pub fn poll_for_tokens(
        &self,
        operator: &Discovered,
        mut pending: BackchannelPending,
    ) -> Result<Tokens, Error> {
        let span = tracing::info_span!(
            "mc_backchannel",
            operator = pending.operator_id(),
            mode = pending.mode().as_str(),
            outcome = tracing::field::Empty,
        );
        let _entered = span.enter();
        let mut last_poll: Option<Instant> = None;
        let result = loop {
            if let Some(wait) = last_poll.and_then(|at| MIN_POLL_SPACING.checked_sub(at.elapsed()))
            {
                std::thread::sleep(wait);
            }
            let exchange = match pending.poll(operator, &mut OsEntropy, now()) {
                Ok(exchange) => exchange,
                Err(mc_core::Error::Misuse(MisuseError::PollTooEarly { .. })) => {
                    sleep_until(pending.poll_due());
                    continue;
                }
                Err(error) => break Err(error.into()),
            };
            last_poll = Some(Instant::now());
            match self.execute(exchange) {
                Ok(Poll::Pending(still)) => {
                    pending = still;
                    sleep_until(pending.poll_due());
                }
                Ok(Poll::Tokens(tokens)) => break Ok(tokens),
                Err(error) => break Err(error),
            }
        };
        span.record(
            "outcome",
            result.as_ref().map_or_else(Error::class, |_| "ok"),
        );
        result
    }
}

/// Sleep until the wall clock reads `due` (whole seconds, as [`now`] reads it).
fn sleep_until(due: UnixTime) {
    while let Some(wait) = time_until(due) {
        std::thread::sleep(wait);
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
