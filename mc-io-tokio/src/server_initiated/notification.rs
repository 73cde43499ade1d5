//! The notification receiver: the operator's notifications of server-initiated logins handed
//! over by the host's web handler, each matched to the login waiting for it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use mc_core::{
    BackchannelError, BackchannelPending, Discovered, MisuseError, Notification, Notified, Tokens,
    notification_response,
};
use tokio::sync::oneshot;
use tracing::Instrument as _;

use super::{LoginSpan, MIN_SLEEP, time_until};
use crate::{Client, Error, now};

/// What the first authenticated notification of a login hands its waiter.
// Sent once per login, and moved at once: boxing the tokens would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Delivery {
    /// The login's end: its tokens, or the verdict on the notification.
    Settled(Result<Tokens, Error>),
    /// An OpenID CIBA ping: the waiter polls the operator (this context) for the outcome.
    Ping(Discovered),
}

/// One registered login.
struct Entry {
    pending: BackchannelPending,
    /// Its waiter, until the first notification that settles the login; kept afterwards (until
    /// the login expires) so that a duplicate gets the same answer and wakes nobody.
    waiter: Option<oneshot::Sender<Delivery>>,
    span: tracing::Span,
}

/// The logins waiting for a notification, by `auth_req_id`.
type Logins = Arc<Mutex<BTreeMap<String, Entry>>>;

fn lock(logins: &Mutex<BTreeMap<String, Entry>>) -> MutexGuard<'_, BTreeMap<String, Entry>> {
    logins.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The SP's notification endpoint for server-initiated logins (Mobile Connect SI notification
/// mode, OpenID CIBA ping mode) in a tokio host, on any web framework: the host registers each
/// login it starts ([`NotificationInbox::register`], which gives a [`Waiter`] to await), and
/// its handler for the notification URI hands every inbound request to
/// [`NotificationInbox::deliver`] and sends back the response it returns, as is.
///
/// `deliver` parses the notification ([`Notification::parse`]), finds the login by its
/// `auth_req_id`, has the core check it ([`BackchannelPending::accept`]: bearer token in
/// constant time, expiry, the id_token as strictly as in the browser flow, with a key refetch
/// when it names a new key), wakes the waiter, and answers as the core says
/// ([`notification_response`]):
///
/// | notification                                    | answer | the waiter |
/// |-------------------------------------------------|--------|------------|
/// | tokens, verified                                | 204    | resolves with the tokens |
/// | the operator's error (the user declined, ...)   | 204    | resolves with [`mc_core::Error::Refused`] |
/// | a CIBA ping                                     | 204    | polls the token endpoint once, resolves with the outcome |
/// | a duplicate of one already taken                | as the first (204) | not woken again |
/// | no or another bearer token                      | 401    | keeps waiting |
/// | unknown `auth_req_id` (or its login dropped)    | 400    | - |
/// | a rejected id_token, a malformed body, expired  | 400    | resolves with that error (a malformed body before the `auth_req_id` is read wakes nobody) |
/// | the wrong operator context handed over          | 500    | keeps waiting |
/// | the key refetch failed (transport)              | 500    | keeps waiting (an operator that retries delivers again) |
///
/// The inbox is bounded: it holds at most its capacity of logins, each until it expires (a
/// settled login stays to answer duplicates), and drops expired ones when it needs room. A
/// waiter whose login expires without a notification resolves with
/// [`BackchannelError::Expired`]. Dropping a waiter before its login settles cancels the wait
/// and forgets the login (a later notification for it is answered 400). Clones share the
/// logins: keep one in the web host's shared state.
///
/// The inbox lives in one process: with several SP instances behind a load balancer, the
/// notification reaches the instance that registered the login only if the host routes it
/// there (or each instance has its own notification URI).
///
/// With axum (not a dependency of this crate), the handler of the notification URI of one
/// operator is, in outline:
///
/// ```ignore
/// async fn notify(State(app): State<App>, request: axum::extract::Request) -> axum::response::Response {
///     let (parts, body) = request.into_parts();
///     // Cap the body: a notification is a few kilobytes.
///     let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
///         return StatusCode::PAYLOAD_TOO_LARGE.into_response();
///     };
///     let request = http::Request::from_parts(parts, body.to_vec());
///     app.inbox.deliver(&app.operator, request).await.map(axum::body::Body::from)
/// }
/// ```
///
/// and where the login starts: `let waiter = app.inbox.register(pending)?;` then
/// `waiter.await?` for the tokens. With hyper, collect the body the same way (`http_body_util`)
/// and answer `response.map(Full::from)`.
#[derive(Clone)]
pub struct NotificationInbox {
    client: Client,
    capacity: usize,
    logins: Logins,
}

impl fmt::Debug for NotificationInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationInbox")
            .field("capacity", &self.capacity)
            .field("logins", &self.len())
            .finish_non_exhaustive()
    }
}

impl NotificationInbox {
    /// How many logins an inbox holds by default.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// An inbox of [`NotificationInbox::DEFAULT_CAPACITY`] logins, polling through `client`
    /// after a CIBA ping and fetching keys through it.
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self::with_capacity(client, Self::DEFAULT_CAPACITY)
    }

    /// An inbox of at most `capacity` logins at a time.
    #[must_use]
    pub fn with_capacity(client: Client, capacity: usize) -> Self {
        Self {
            client,
            capacity,
            logins: Logins::default(),
        }
    }

    /// How many logins the inbox holds (waiting, or settled and not yet expired).
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.logins).len()
    }

    /// Whether the inbox holds no login.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wait for the notification of a login just started in a notified mode (Mobile Connect
    /// SI notification mode, OpenID CIBA ping mode): the [`Waiter`] resolves with the login's
    /// tokens or its end (see the type's table). Register the pending state before the operator
    /// can notify, that is as soon as the start exchange returns it.
    ///
    /// The waiter and the deliveries run in the login's `mc_backchannel` span (operator,
    /// mode, outcome), as [`Client::poll_for_tokens`] does.
    ///
    /// # Errors
    /// [`MisuseError::WrongMode`] for a polling login (use [`Client::poll_for_tokens`]);
    /// [`MisuseError::InvalidParameter`] when a login with this `auth_req_id` is registered
    /// already, or when the inbox holds its capacity of unexpired logins.
    pub fn register(&self, pending: BackchannelPending) -> Result<Waiter, Error> {
        if !pending.mode().is_notified() {
            return Err(misuse(MisuseError::WrongMode {
                mode: pending.mode(),
                step: "notification inbox",
            }));
        }
        let (sender, receiver) = oneshot::channel();
        let auth_req_id = pending.auth_req_id().to_owned();
        let span = {
            let mut logins = lock(&self.logins);
            if logins.len() >= self.capacity {
                let now = now();
                logins.retain(|_, entry| !entry.pending.is_expired(now));
            }
            if logins.contains_key(&auth_req_id) {
                return Err(misuse(MisuseError::InvalidParameter {
                    name: "auth_req_id",
                    reason: "a login with this auth_req_id is registered already",
                }));
            }
            if logins.len() >= self.capacity {
                return Err(misuse(MisuseError::InvalidParameter {
                    name: "pending",
                    reason: "the notification inbox is full",
                }));
            }
            let span = LoginSpan::new(&pending);
            logins.insert(
                auth_req_id.clone(),
                Entry {
                    pending: pending.clone(),
                    waiter: Some(sender),
                    span: span.span.clone(),
                },
            );
            span
        };
        let registration = Registration {
            logins: Arc::clone(&self.logins),
            auth_req_id,
        };
        let client = self.client.clone();
        let instrument = span.span.clone();
        let future = async move {
            let _registration = registration;
            let result = match receive(receiver, &pending).await {
                Delivery::Settled(result) => result,
                Delivery::Ping(operator) => client.poll_until_done(&operator, pending).await,
            };
            span.close(&result);
            result
        };
        Ok(Waiter {
            future: Box::pin(future.instrument(instrument)),
        })
    }

    /// Handle one inbound request to the notification URI of `operator` (the host's handler
    /// hands it over whole, its body capped) and return the response to send back, as is:
    /// 204, 400, 401 or 500, no body, `Cache-Control: no-store` (see the type's table).
    ///
    /// It returns once the verdict is final: after a key refetch when the id_token names a key
    /// the context does not hold. The poll that follows a CIBA ping runs in the waiter, not
    /// here, so the operator gets its 204 at once.
    pub async fn deliver(
        &self,
        operator: &Discovered,
        request: http::Request<Vec<u8>>,
    ) -> http::Response<Vec<u8>> {
        let notification = match Notification::parse(&request) {
            Ok(notification) => notification,
            Err(error) => return notification_response::<()>(&Err(error)),
        };
        let auth_req_id = notification.auth_req_id().to_owned();
        let found = lock(&self.logins)
            .get(&auth_req_id)
            .map(|entry| (entry.pending.clone(), entry.span.clone()));
        let Some((pending, span)) = found else {
            return notification_response::<()>(&Err(BackchannelError::UnknownAuthReqId.into()));
        };
        let verdict = async {
            match pending.accept(operator, notification, now()) {
                Ok(verified) => self.client.finish(verified).await,
                Err(error) => Err(error.into()),
            }
        }
        .instrument(span)
        .await;
        let verdict = match verdict {
            Ok(notified) => Ok(notified),
            Err(Error::Core(error)) => Err(error),
            Err(_) => {
                // The keys could not be fetched: no verdict, and none to give the waiter.
                let mut response = notification_response::<()>(&Ok(()));
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                return response;
            }
        };
        let response = notification_response(&verdict);
        if verdict.as_ref().is_err_and(|error| !settles(error)) {
            return response;
        }
        let waiter = {
            let mut logins = lock(&self.logins);
            let waiter = logins
                .get_mut(&auth_req_id)
                .and_then(|entry| entry.waiter.take());
            if pending.is_expired(now()) {
                logins.remove(&auth_req_id);
            }
            waiter
        };
        if let Some(waiter) = waiter {
            let delivery = match verdict {
                Ok(Notified::Tokens(tokens)) => Delivery::Settled(Ok(tokens)),
                Ok(Notified::Ping) => Delivery::Ping(operator.clone()),
                Err(error) => Delivery::Settled(Err(error.into())),
            };
            // A waiter dropped meanwhile no longer wants it.
            let _ = waiter.send(delivery);
        }
        response
    }
}

/// Whether the core's verdict on a notification ends its login: every verdict once the
/// notification proved to come from the operator (its bearer token matched) and the host
/// handed the right context.
fn settles(error: &mc_core::Error) -> bool {
    !matches!(
        error,
        mc_core::Error::Misuse(_)
            | mc_core::Error::Backchannel(
                BackchannelError::BearerMissing | BackchannelError::BearerMismatch
            )
    )
}

fn misuse(error: MisuseError) -> Error {
    Error::Core(error.into())
}

/// The waiter's end of the channel, until the login expires (then the core's typed expiry).
async fn receive(
    mut receiver: oneshot::Receiver<Delivery>,
    pending: &BackchannelPending,
) -> Delivery {
    loop {
        if let Err(expired) = pending.check_not_expired(now()) {
            return match receiver.try_recv() {
                Ok(delivery) => delivery,
                Err(_) => Delivery::Settled(Err(Error::Core(expired))),
            };
        }
        let wait = time_until(pending.expires_at()).unwrap_or(MIN_SLEEP);
        match tokio::time::timeout(wait, &mut receiver).await {
            Ok(Ok(delivery)) => return delivery,
            // The inbox dropped the login: only expired ones are dropped. Wait out the clock.
            Ok(Err(_)) => tokio::time::sleep(wait).await,
            Err(_) => {}
        }
    }
}

/// Forgets a login whose waiter is dropped or gave up before a notification settled it.
struct Registration {
    logins: Logins,
    auth_req_id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut logins = lock(&self.logins);
        if logins
            .get(&self.auth_req_id)
            .is_some_and(|entry| entry.waiter.is_some())
        {
            logins.remove(&self.auth_req_id);
        }
    }
}

/// A login registered in a [`NotificationInbox`]: a future that resolves with its tokens, or
/// with its end (the operator's refusal, a rejected notification, the expiry the operator
/// gave). `Send + 'static`: await it in the request that started the login, or spawn it.
/// Dropping it cancels the wait and forgets the login.
#[must_use = "a waiter does nothing unless awaited, and dropping it forgets the login"]
pub struct Waiter {
    future: Pin<Box<dyn Future<Output = Result<Tokens, Error>> + Send>>,
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter").finish_non_exhaustive()
    }
}

impl Future for Waiter {
    type Output = Result<Tokens, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}
