//! The SMS one-time-password grant (`MOBILE-CONNECT.md` §9), over loopback HTTP against the
//! sandbox, through both adapters: the texted code verifies to tokens naming the number; a
//! wrong code is `invalid_grant` and leaves the challenge usable; an expired code brings a new
//! challenge in the same refusal; a second start replaces the first challenge; a message with
//! no place for the code is refused before anything is sent; a stranger is `invalid_grant`.
//! The user's phone is the sandbox's hook ([`mc_sandbox::Sandbox::otp_code`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mc_core::{
    Discovered, Endpoint, Error, MisuseError, Msisdn, OperatorError, OtpChallenge, OtpCode,
    OtpError, Tokens,
};
use mc_tests::SandboxExt as _;
use mc_tests::driver::{self, Driver, Failure};
use mc_tests::{Handset, OPERATORS, SandboxServer};

const TIMEOUT: Duration = Duration::from_secs(2);
const BODY_LIMIT: usize = 64 * 1024;

/// The SMS the SP asks the operator to send.
const MESSAGE: &str = "Your Sandbox Shop code is {0}";

use mc_tests::through_both_adapters;

through_both_adapters!(
    TIMEOUT, BODY_LIMIT;
    the_texted_code_verifies_to_the_number_every_operator,
    a_wrong_code_is_invalid_grant_and_the_right_one_still_works,
    an_expired_code_comes_with_a_new_challenge,
    a_second_start_replaces_the_first_challenge,
    a_message_without_the_placeholder_is_misuse_before_sending,
    an_unknown_subscriber_is_invalid_grant,
);

/// Operator `index`, with its metadata, and its approving subscriber's number.
fn operator<D: Driver>(d: &D, server: &SandboxServer, index: usize) -> (Discovered, &'static str) {
    let entry = server
        .sandbox()
        .registry_entry(OPERATORS[index].name)
        .unwrap();
    let op = driver::with_metadata(d, entry).unwrap();
    let msisdn = OPERATORS[index]
        .subscribers
        .iter()
        .find(|(_, h)| *h == Handset::Approve)
        .map(|(m, _)| *m)
        .unwrap();
    (op, msisdn)
}

fn start<D: Driver>(d: &D, op: &Discovered, msisdn: &str) -> Result<OtpChallenge, Failure> {
    d.execute(op.otp_start(&Msisdn::new(msisdn), MESSAGE, d.now())?)
}

fn verify<D: Driver>(
    d: &D,
    op: &Discovered,
    challenge: &OtpChallenge,
    code: &str,
) -> Result<Tokens, Failure> {
    d.execute(challenge.verify(op, &OtpCode::new(code), d.now())?)
}

/// What the user reads on the phone: the last code texted to `msisdn`.
fn texted(server: &SandboxServer, msisdn: &str) -> String {
    server
        .sandbox()
        .otp_code(msisdn)
        .expect("a code was texted")
}

/// Another six digits.
fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// Tokens of a verified possession of `msisdn`: `sub` is the number, `amr` the SMS method.
fn assert_verified_as(tokens: &Tokens, msisdn: &str) {
    assert_eq!(tokens.sub(), msisdn);
    assert!(
        tokens.id_token().amr().iter().any(|m| m == "OTP_OK"),
        "{:?}",
        tokens.id_token().amr()
    );
}

/// The operator's `invalid_grant` at the OTP step, as a plain refusal.
fn assert_invalid_grant(failure: Failure) -> OperatorError {
    let Failure::Core(Error::Refused(refusal)) = failure else {
        panic!("expected a refusal, got {failure:?}");
    };
    assert!(refusal.is("invalid_grant"), "{refusal:?}");
    assert_eq!(refusal.endpoint, Endpoint::Otp);
    assert_eq!(refusal.status, Some(400));
    refusal
}

/// The form parameter names of the last token request the sandbox served (a JWKS fetch may
/// follow it).
fn last_form_names(server: &SandboxServer) -> Vec<String> {
    let requests = server.sandbox().requests();
    let last = requests
        .iter()
        .rfind(|r| r.path().ends_with("/token"))
        .unwrap();
    let mut names: Vec<String> = url::form_urlencoded::parse(&last.body)
        .map(|(name, _)| name.into_owned())
        .collect();
    names.sort();
    names
}

fn the_texted_code_verifies_to_the_number_every_operator<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    for index in 0..OPERATORS.len() {
        let (op, msisdn) = operator(d, &server, index);
        let challenge = start(d, &op, msisdn).unwrap();
        assert_eq!(challenge.operator_id(), op.id());
        let code = texted(&server, msisdn);
        let sms = format!("SMS {msisdn}: Your Sandbox Shop code is {code}");
        assert!(server.sandbox().request_log().contains(&sms), "{sms}");

        let tokens = verify(d, &op, &challenge, &code).unwrap();
        assert_verified_as(&tokens, msisdn);
        // Step 2 sends the grant, the number, the reference and the code (Basic auth).
        assert_eq!(
            last_form_names(&server),
            [
                "grant_type",
                "scope",
                "username",
                "x_globalsign_iam_otp_code",
                "x_globalsign_iam_reference_id",
            ]
        );
        // The reference is spent.
        assert_invalid_grant(verify(d, &op, &challenge, &code).unwrap_err());
    }
}

fn a_wrong_code_is_invalid_grant_and_the_right_one_still_works<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, msisdn) = operator(d, &server, 0);
    let challenge = start(d, &op, msisdn).unwrap();
    let code = texted(&server, msisdn);
    let refusal = assert_invalid_grant(verify(d, &op, &challenge, &wrong(&code)).unwrap_err());
    assert_eq!(refusal.description.as_deref(), Some("Invalid OTP"));
    assert_verified_as(&verify(d, &op, &challenge, &code).unwrap(), msisdn);
}

fn an_expired_code_comes_with_a_new_challenge<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, msisdn) = operator(d, &server, 0);
    let old = start(d, &op, msisdn).unwrap();
    let old_code = texted(&server, msisdn);
    // The sandbox runs on the system clock over HTTP: its hook stands for the lifetime passing.
    assert!(server.sandbox().expire_otp(msisdn));
    let failure = verify(d, &op, &old, &old_code).unwrap_err();
    let Failure::Core(Error::Otp(OtpError::Expired {
        refusal,
        challenge: Some(new),
    })) = failure
    else {
        panic!("expected an expiry with a new challenge, got {failure:?}");
    };
    assert!(refusal.is("invalid_grant"), "{refusal:?}");
    assert_eq!(refusal.description.as_deref(), Some("OTP Expired"));
    assert_ne!(*new, old);
    assert_eq!(new.msisdn(), old.msisdn());
    let new_code = texted(&server, msisdn);
    assert_verified_as(&verify(d, &op, &new, &new_code).unwrap(), msisdn);
}

fn a_second_start_replaces_the_first_challenge<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, msisdn) = operator(d, &server, 0);
    let first = start(d, &op, msisdn).unwrap();
    let first_code = texted(&server, msisdn);
    let second = start(d, &op, msisdn).unwrap();
    let second_code = texted(&server, msisdn);
    let refusal = assert_invalid_grant(verify(d, &op, &first, &first_code).unwrap_err());
    assert_eq!(
        refusal.description.as_deref(),
        Some("Unknown or spent reference")
    );
    assert_verified_as(&verify(d, &op, &second, &second_code).unwrap(), msisdn);
}

fn a_message_without_the_placeholder_is_misuse_before_sending<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, msisdn) = operator(d, &server, 0);
    let served = server.sandbox().requests().len();
    let misuse = op
        .otp_start(&Msisdn::new(msisdn), "Your code", d.now())
        .unwrap_err();
    assert!(
        matches!(
            misuse,
            Error::Misuse(MisuseError::InvalidParameter {
                name: "otp message",
                ..
            })
        ),
        "{misuse:?}"
    );
    assert_eq!(server.sandbox().requests().len(), served, "nothing sent");
    assert_eq!(server.sandbox().otp_code(msisdn), None);
}

fn an_unknown_subscriber_is_invalid_grant<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    let (op, _) = operator(d, &server, 0);
    // A number no sandbox operator serves, and beta's subscriber at alpha.
    for stranger in ["447700900999", OPERATORS[1].subscribers[0].0] {
        let refusal = assert_invalid_grant(start(d, &op, stranger).unwrap_err());
        assert_eq!(refusal.description.as_deref(), Some("Unknown subscriber"));
        assert_eq!(server.sandbox().otp_code(stranger), None);
    }
}
