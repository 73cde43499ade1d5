//! The operator's notifications to the SP (Mobile Connect SI notification mode, OpenID CIBA
//! ping): a JSON POST to the notification URI with `Authorization: Bearer
//! <client_notification_token>`, queued in an outbox until the handset has answered, as a
//! [`Fault::Notification`] gets it wrong. In memory a test takes them
//! ([`Sandbox::take_notifications`]); over HTTP the server POSTs them
//! ([`crate::server::SandboxServer`]).

use std::time::{Duration, Instant};

use http::Request;
use serde_json::{Value, json};

use super::super::faults::{Fault, NotificationMutation, Target};
use super::super::{Sandbox, random_hex};

/// A notification waiting in the outbox.
pub(in crate::sandbox) struct Outgoing {
    /// When it is sent.
    due: Instant,
    request: Request<Vec<u8>>,
}

/// The notification request: a JSON POST to `uri` with the bearer token.
fn notification(uri: &str, token: &str, body: &Value) -> Option<Request<Vec<u8>>> {
    Request::post(uri)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.to_string().into_bytes())
        .ok()
}

impl Sandbox {
    /// Queue `body` for `uri` with bearer `token`, sent at `due` (or `late` after now under
    /// [`NotificationMutation::Late`]), as the notification fault of operator `index` edits it.
    pub(super) fn queue_notification(
        &self,
        index: usize,
        uri: &str,
        token: &str,
        mut body: Value,
        due: Instant,
        late: Duration,
    ) {
        let mutation = match self.fault(Some(index), Target::Notification) {
            Some(Fault::Notification(mutation)) => Some(mutation),
            _ => None,
        };
        let mut token = token.to_owned();
        let mut due = due;
        let mut copies = 1;
        match mutation {
            Some(NotificationMutation::WrongBearer) => token = random_hex(16),
            Some(NotificationMutation::UnknownAuthReqId) => {
                body["auth_req_id"] = json!(random_hex(16));
            }
            Some(NotificationMutation::Duplicate) => copies = 2,
            Some(NotificationMutation::Late) => due = Instant::now() + late,
            None => {}
        }
        let Some(request) = notification(uri, &token, &body) else {
            // An unusable registered URI (a test's own setup): nothing can be sent.
            return;
        };
        let mut state = self.lock();
        for _ in 1..copies {
            state.outbox.push(Outgoing {
                due,
                request: request.clone(),
            });
        }
        state.outbox.push(Outgoing { due, request });
        drop(state);
        self.outbox_signal.notify_all();
    }

    /// The notifications due by now (the handset has answered), in the order they fall due,
    /// taken out of the outbox: each is a JSON POST to the SP's notification URI with
    /// `Authorization: Bearer <client_notification_token>`. Mobile Connect SI success:
    /// `auth_req_id`, `access_token`, `id_token` (with `recipient` = the notification URI,
    /// `hashed_login_hint` and the request's `nonce`), `token_type`, `expires_in`,
    /// `correlation_id`; failure: `auth_req_id`, `error`, `error_description`; OpenID CIBA
    /// ping: `auth_req_id` only. Over HTTP the server sends them itself unless set up not to
    /// ([`super::super::SandboxConfig::deliver_notifications`]).
    #[must_use]
    pub fn take_notifications(&self) -> Vec<Request<Vec<u8>>> {
        let now = Instant::now();
        let mut state = self.lock();
        let (mut due, later): (Vec<Outgoing>, Vec<Outgoing>) = std::mem::take(&mut state.outbox)
            .into_iter()
            .partition(|o| o.due <= now);
        state.outbox = later;
        due.sort_by_key(|o| o.due);
        due.into_iter().map(|o| o.request).collect()
    }

    /// How many notifications wait in the outbox, due or not.
    #[must_use]
    pub fn queued_notifications(&self) -> usize {
        self.lock().outbox.len()
    }

    /// Block until notifications are due (then take them) or `stop` is set (then none): the
    /// server's courier thread. Set `stop`, then call [`Sandbox::wake_courier`].
    #[cfg(feature = "server")]
    pub(crate) fn wait_for_notifications(
        &self,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Vec<Request<Vec<u8>>> {
        let mut state = self.lock();
        loop {
            if stop.load(std::sync::atomic::Ordering::Acquire) {
                return Vec::new();
            }
            let now = Instant::now();
            let next = state.outbox.iter().map(|o| o.due).min();
            match next {
                Some(due) if due <= now => {
                    drop(state);
                    return self.take_notifications();
                }
                _ => {
                    let wait = next.map_or(Duration::from_secs(3600), |due| due - now);
                    state = match self.outbox_signal.wait_timeout(state, wait) {
                        Ok((state, _)) => state,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                }
            }
        }
    }

    /// Wake the courier thread (after setting its `stop` flag). Taking the lock first means the
    /// courier is either waiting (and wakes) or has not yet read the flag.
    #[cfg(feature = "server")]
    pub(crate) fn wake_courier(&self) {
        let state = self.lock();
        self.outbox_signal.notify_all();
        drop(state);
    }
}
