//! `mc login --server-initiated`: a login without a browser, OpenID CIBA or Mobile Connect SI.
//! The operator asks the subscriber named by the login hint on the handset; the tokens come by
//! polling the token endpoint (the adapter's `poll_for_tokens`) or, with `--notify`, by a
//! notification to the loopback listener (mc-core's `Notification`). The plan, the operator
//! context and the verified report are the browser login's.

use std::io::Write as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mc_core::{
    BackchannelError, BackchannelMode, BackchannelPending, CibaLoginHint, CibaRequest, LoginHint,
    Notification, Notified, SiRequest, Tokens, Verified, notification_response,
};
use mc_io_blocking::{OsEntropy, now};

use crate::args::{LoginArgs, SiFlavour};
use crate::listener::Listener;
use crate::login::{Login, LoginOptions, Setup};
use crate::misconfigured;
use crate::outcome::{Exit, Failure, Report};

/// The listener's path for `--notify`.
const NOTIFY_PATH: &str = "/notify";

pub(crate) fn run(args: &LoginArgs) -> Result<Report, Failure> {
    if args.login_hint.is_none() {
        return Err(misconfigured(
            "MissingArgument",
            "--server-initiated needs --login-hint MSISDN:<digits> (ENCR_MSISDN:<id>, PCR:<sub>): \
             the subscriber the operator asks on the handset",
        ));
    }
    let setup = Setup::read(args)?;
    let (port, _) = setup.loopback(args);
    let listener = if args.notify {
        Some(Listener::bind(port, NOTIFY_PATH)?)
    } else {
        None
    };
    // No redirect happens; the registration still names one.
    let redirect_uri = setup.redirect_uri(args, &format!("http://127.0.0.1:{port}/callback"));
    let notification_uri = listener.as_ref().map(|l| l.url.clone());
    let login = setup.operator(args, &redirect_uri, |config| match &notification_uri {
        Some(uri) => Ok(config.notification_uri(uri)?),
        None => Ok(config),
    })?;
    let mut options = LoginOptions::read(args, &login.auth)?;
    let Some((hint, given)) = options.login_hint.take() else {
        return Err(misconfigured("MissingArgument", "--login-hint"));
    };

    let operator = &login.operator;
    let start = match flavour(args.si_flavour, &login)? {
        SiFlavour::Mc => {
            if operator.signing_key().is_none() {
                return Err(misconfigured(
                    "MissingArgument",
                    "Mobile Connect SI signs its request object with the SP's key: --key FILE \
                     (PEM; its public key registered with the operator as a JWKS, under \
                     --key-id)",
                ));
            }
            operator.si_authorize(
                si_request(options, hint, args.notify),
                &mut OsEntropy,
                now(),
            )?
        }
        SiFlavour::Ciba => operator.ciba_authorize(
            ciba_request(options, hint, given, args.notify),
            &mut OsEntropy,
            now(),
        )?,
    };
    let pending = login.client.execute(start)?;
    let mode = pending.mode();
    let how = match (&listener, mode) {
        (Some(l), BackchannelMode::CibaPing) => format!(
            "a ping to the client_notification_endpoint registered with the operator, here {}",
            l.url
        ),
        (Some(l), _) => format!("a notification to {}", l.url),
        (None, _) => format!("polling every {}s", pending.interval_secs()),
    };
    let _ = writeln!(
        std::io::stderr(),
        "mc: waiting for the subscriber to confirm on the handset ({mode}: {how}; timeout {}s)",
        args.timeout
    );

    let timeout = Duration::from_secs(args.timeout);
    let deadline = Instant::now() + timeout;
    let tokens = match (&listener, mode) {
        (Some(listener), BackchannelMode::SiNotification) => {
            match wait_for_notification(&login, listener, &pending, deadline, timeout)? {
                Notified::Tokens(tokens) => tokens,
                Notified::Ping => {
                    return Err(Failure::new(
                        Exit::Misbehaving,
                        "Ping",
                        "a ping in Mobile Connect SI notification mode",
                    ));
                }
            }
        }
        (Some(listener), _) => {
            let _ = wait_for_notification(&login, listener, &pending, deadline, timeout)?;
            let _ = writeln!(std::io::stderr(), "mc: pinged; polling once");
            poll(&login, pending, deadline, timeout)?
        }
        (None, _) => poll(&login, pending, deadline, timeout)?,
    };
    let _ = writeln!(
        std::io::stderr(),
        "mc: the subscriber confirmed; tokens verified"
    );
    login.report(&tokens, Some(mode))
}

/// The flavour asked, else CIBA when the operator has it, else Mobile Connect SI.
fn flavour(asked: Option<SiFlavour>, login: &Login) -> Result<SiFlavour, Failure> {
    let endpoints = login.operator.endpoints();
    match asked {
        // mc-core names a missing endpoint (MissingEndpoint, misconfigured).
        Some(flavour) => Ok(flavour),
        None if endpoints.backchannel_authentication.is_some() => Ok(SiFlavour::Ciba),
        None if endpoints.si_authorization.is_some() => Ok(SiFlavour::Mc),
        None => Err(misconfigured(
            "MissingEndpoint",
            "the operator names neither a backchannel_authentication_endpoint (OpenID CIBA) nor \
             a si_authorization_endpoint (Mobile Connect SI)",
        )),
    }
}

fn si_request(options: LoginOptions, hint: LoginHint, notify: bool) -> SiRequest {
    let mut request = SiRequest::new(hint);
    if !notify {
        request = request.polling();
    }
    if let Some(scope) = options.scope {
        request = request.scope(scope);
    }
    if let Some(levels) = options.acr {
        request = request.acr_values(levels);
    }
    if let Some(context) = options.context {
        request = request.context(context);
    }
    if let Some(message) = options.binding_message {
        request = request.binding_message(message);
    }
    request
}

/// CIBA sends an MSISDN as `tel:+<digits>`, any other hint as given.
fn ciba_request(options: LoginOptions, hint: LoginHint, given: String, ping: bool) -> CibaRequest {
    let hint = match hint {
        LoginHint::Msisdn(msisdn) => CibaLoginHint::Phone(msisdn),
        _ => CibaLoginHint::Plain(given),
    };
    let mut request = CibaRequest::new(hint);
    if ping {
        request = request.ping();
    }
    if let Some(scope) = options.scope {
        request = request.scope(scope);
    }
    if let Some(levels) = options.acr {
        request = request.acr_values(levels);
    }
    if let Some(message) = options.binding_message {
        request = request.binding_message(message);
    }
    request
}

fn handset_timeout(timeout: Duration) -> Failure {
    Failure::new(
        Exit::Transport,
        "HandsetTimeout",
        format!(
            "no answer from the handset within {}s (--timeout)",
            timeout.as_secs()
        ),
    )
}

/// Poll until the tokens, the operator's refusal or the login's expiry (the adapter's loop, on
/// a thread of its own: it cannot be interrupted, and `--timeout` may come first).
fn poll(
    login: &Login,
    pending: BackchannelPending,
    deadline: Instant,
    timeout: Duration,
) -> Result<Tokens, Failure> {
    let (send, receive) = mpsc::channel();
    let client = login.client.clone();
    let operator = login.operator.clone();
    std::thread::spawn(move || {
        let _ = send.send(client.poll_for_tokens(&operator, pending));
    });
    match receive.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(result) => Ok(result?),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(handset_timeout(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::new(
            Exit::Misconfigured,
            "PollStopped",
            "the poll loop stopped without an answer",
        )),
    }
}

/// Answer requests to the listener until the login's notification: parsed, accepted against
/// the pending login (a key refetch run if it asks for one) and answered as mc-core says. A
/// notification that is not this login's (no or a wrong bearer token, another `auth_req_id`)
/// is refused and the wait goes on; any other verdict ends it. The login's expiry and
/// `--timeout` end it too.
fn wait_for_notification(
    login: &Login,
    listener: &Listener,
    pending: &BackchannelPending,
    deadline: Instant,
    timeout: Duration,
) -> Result<Notified, Failure> {
    let left = pending
        .expires_at()
        .as_secs()
        .saturating_sub(now().as_secs());
    let until = deadline.min(Instant::now() + Duration::from_secs(left));
    loop {
        let Some(inbound) = listener.next(until)? else {
            pending.check_not_expired(now())?;
            return Err(handset_timeout(timeout));
        };
        let Some(request) = inbound
            .request
            .as_ref()
            .filter(|_| inbound.is(&http::Method::POST, NOTIFY_PATH))
        else {
            inbound.answer_text(404, "not the notification endpoint\n");
            continue;
        };
        let accepted = Notification::parse(request)
            .and_then(|notification| pending.accept(&login.operator, notification, now()));
        let result = match accepted {
            Ok(Verified::Done(notified)) => Ok(notified),
            Ok(Verified::NeedJwks(refetch)) => match login.client.execute(refetch) {
                Ok(notified) => Ok(notified),
                Err(mc_io_blocking::Error::Core(e)) => Err(e),
                Err(other) => {
                    inbound.answer_text(500, "");
                    return Err(other.into());
                }
            },
            Err(e) => Err(e),
        };
        inbound.answer(&notification_response(&result));
        match result {
            Ok(notified) => return Ok(notified),
            Err(mc_core::Error::Backchannel(
                e @ (BackchannelError::BearerMissing
                | BackchannelError::BearerMismatch
                | BackchannelError::AuthReqIdMismatch),
            )) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "mc: refused a notification that is not this login's: {e}"
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
}
