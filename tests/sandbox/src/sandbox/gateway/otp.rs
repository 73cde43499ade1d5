//! The SMS one-time-password grant at the token endpoint (the gateway's `sms-mt-otp`
//! extension, `MOBILE-CONNECT.md` §9), after the token endpoint's client authentication. A
//! start (`username`, `x_globalsign_iam_otp_body`) texts a fresh six-digit code to a test
//! subscriber and answers the challenge's reference; a verify (`x_globalsign_iam_reference_id`,
//! `x_globalsign_iam_otp_code`) with the right code spends the reference and answers the
//! tokens of an authentication by `OTP_OK`, whose `sub` is the number.
//!
//! The "SMS" is a line of [`Sandbox::request_log`] (`SMS <number>: <text with the code>`) and,
//! for tests, [`Sandbox::otp_code`]. A code is good for [`OTP_LIFETIME_SECS`] of the sandbox
//! clock; over HTTP the sandbox runs on the system clock, so [`Sandbox::expire_otp`] stands in
//! for the lifetime passing.

use std::collections::BTreeMap;

use http::Response;
use serde_json::{Value, json};

use super::super::catalogue::OPERATORS;
use super::super::faults::Fault;
use super::super::wire::{json_response, oauth_error, param};
use super::super::{Sandbox, random_hex};
use super::Authenticated;

/// The grant type of both requests.
pub(super) const GRANT_TYPE: &str = "http://globalsign.com/iam/sso/oauth2/grant-type/sms-mt-otp";

/// How long a texted code is good for, in seconds of the sandbox clock.
const OTP_LIFETIME_SECS: u64 = 120;

/// Wrong codes that spend a reference.
const MAX_WRONG_CODES: u8 = 3;

/// Where the code goes in the message.
const PLACEHOLDER: &str = "{0}";

const USERNAME: &str = "username";
const MESSAGE: &str = "x_globalsign_iam_otp_body";
const REFERENCE: &str = "x_globalsign_iam_reference_id";
const CODE: &str = "x_globalsign_iam_otp_code";
const CHALLENGE: &str = "x_globalsign_iam_challenge";

/// A code texted to a subscriber, waiting to be typed.
struct Challenge {
    operator: usize,
    msisdn: &'static str,
    code: String,
    /// The template, to text a new code with when this one expires.
    message: String,
    expires_at: u64,
    wrong_codes: u8,
}

/// The challenges waiting for their code, by reference, and the last code texted to each
/// number.
#[derive(Default)]
pub(in crate::sandbox) struct OtpChallenges {
    by_reference: BTreeMap<String, Challenge>,
    last_code: BTreeMap<&'static str, String>,
}

/// What a verify comes to, decided under the lock.
enum Verdict {
    Unknown,
    NotTheNumber,
    Expired(Challenge),
    Wrong,
    Right(Challenge),
}

/// A challenge answer member holding `reference`.
fn challenge(reference: String) -> (String, Value) {
    (CHALLENGE.to_owned(), json!({ "reference": reference }))
}

/// Six random digits.
fn fresh_code() -> String {
    let n = u32::from_str_radix(&random_hex(4), 16).unwrap_or_default() % 1_000_000;
    format!("{n:06}")
}

impl Sandbox {
    /// The grant at operator `index` (the client already authenticated): a verify when the
    /// form carries a reference, a start otherwise. `fault` edits the id_token as it does for
    /// the other grants.
    pub(super) fn otp(
        &self,
        index: usize,
        p: &[(String, String)],
        fault: Option<&Fault>,
    ) -> Response<Vec<u8>> {
        if !param(p, "scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")) {
            return oauth_error(400, "invalid_scope", "The scope must include openid");
        }
        match param(p, REFERENCE) {
            Some(reference) => self.otp_verify(index, p, reference, fault),
            None => self.otp_start(index, p),
        }
    }

    /// Text a code to a subscriber of this operator; answer the challenge.
    fn otp_start(&self, index: usize, p: &[(String, String)]) -> Response<Vec<u8>> {
        let (Some(username), Some(message)) = (param(p, USERNAME), param(p, MESSAGE)) else {
            return oauth_error(
                400,
                "invalid_request",
                "username and x_globalsign_iam_otp_body are required",
            );
        };
        if !message.contains(PLACEHOLDER) {
            return oauth_error(
                400,
                "invalid_request",
                "The message has no {0} for the code",
            );
        }
        let subscriber = OPERATORS
            .get(index)
            .and_then(|op| op.subscriber_by_phone(username));
        let Some((msisdn, _)) = subscriber else {
            return oauth_error(400, "invalid_grant", "Unknown subscriber");
        };
        let reference = self.text_code(index, msisdn, message);
        json_response(
            200,
            &Value::Object([challenge(reference)].into_iter().collect()),
        )
    }

    /// Text a fresh code to `msisdn` with `message` and open its challenge, replacing any the
    /// number has at this operator (a resend): the new reference.
    fn text_code(&self, index: usize, msisdn: &'static str, message: &str) -> String {
        let code = fresh_code();
        let reference = random_hex(16);
        let expires_at = (self.clock)().saturating_add(OTP_LIFETIME_SECS);
        let mut state = self.lock();
        state
            .otp
            .by_reference
            .retain(|_, c| !(c.operator == index && c.msisdn == msisdn));
        let text = message.replace(PLACEHOLDER, &code);
        state.log.push(format!("SMS {msisdn}: {text}"));
        state.otp.last_code.insert(msisdn, code.clone());
        state.otp.by_reference.insert(
            reference.clone(),
            Challenge {
                operator: index,
                msisdn,
                code,
                message: message.to_owned(),
                expires_at,
                wrong_codes: 0,
            },
        );
        reference
    }

    /// Check the code against the reference's challenge: the tokens for the right one.
    fn otp_verify(
        &self,
        index: usize,
        p: &[(String, String)],
        reference: &str,
        fault: Option<&Fault>,
    ) -> Response<Vec<u8>> {
        let Some(typed) = param(p, CODE) else {
            return oauth_error(
                400,
                "invalid_request",
                "x_globalsign_iam_otp_code is required",
            );
        };
        let now = (self.clock)();
        let verdict = self.judge(index, reference, param(p, USERNAME), typed, now);
        match verdict {
            Verdict::Unknown => oauth_error(400, "invalid_grant", "Unknown or spent reference"),
            Verdict::NotTheNumber => oauth_error(
                400,
                "invalid_grant",
                "The reference was not issued to this username",
            ),
            Verdict::Wrong => oauth_error(400, "invalid_grant", "Invalid OTP"),
            Verdict::Expired(old) => {
                let fresh = self.text_code(index, old.msisdn, &old.message);
                let mut body = json!({
                    "error": "invalid_grant",
                    "error_description": "OTP Expired",
                });
                let (member, value) = challenge(fresh);
                body[member] = value;
                json_response(400, &body)
            }
            Verdict::Right(spent) => {
                let user = Authenticated {
                    msisdn: spent.msisdn.to_owned(),
                    hint: format!("MSISDN:{}", spent.msisdn),
                    nonce: None,
                    claims: None,
                    acr: "2",
                    amr: "OTP_OK",
                    auth_time: now,
                };
                match self.issue(index, &user, &[("sub", json!(spent.msisdn))], fault) {
                    Ok(tokens) => json_response(200, &tokens),
                    Err(description) => oauth_error(500, "server_error", description),
                }
            }
        }
    }

    /// The verdict on `typed` for `reference` at operator `index`, the challenge removed when
    /// it is spent (right code, expiry, the last wrong code).
    fn judge(
        &self,
        index: usize,
        reference: &str,
        username: Option<&str>,
        typed: &str,
        now: u64,
    ) -> Verdict {
        let mut state = self.lock();
        let challenges = &mut state.otp.by_reference;
        let Some(challenge) = challenges
            .get_mut(reference)
            .filter(|c| c.operator == index)
        else {
            return Verdict::Unknown;
        };
        if username.is_some_and(|u| u.trim_start_matches('+') != challenge.msisdn) {
            return Verdict::NotTheNumber;
        }
        if now < challenge.expires_at && typed != challenge.code {
            challenge.wrong_codes += 1;
            if challenge.wrong_codes < MAX_WRONG_CODES {
                return Verdict::Wrong;
            }
        }
        let Some(spent) = challenges.remove(reference) else {
            return Verdict::Unknown;
        };
        if now >= spent.expires_at {
            Verdict::Expired(spent)
        } else if typed == spent.code {
            Verdict::Right(spent)
        } else {
            Verdict::Wrong
        }
    }

    /// The last one-time code the sandbox texted to `msisdn` (digits, as in [`OPERATORS`]), at
    /// any operator: what the user reads on the phone. Each text is also a line of
    /// [`Sandbox::request_log`]: `SMS <number>: <the message with the code>`.
    #[must_use]
    pub fn otp_code(&self, msisdn: &str) -> Option<String> {
        self.lock().otp.last_code.get(msisdn).cloned()
    }

    /// Make the codes waiting for `msisdn` expire now, as if their lifetime had passed (over
    /// HTTP the sandbox runs on the system clock): the next verify answers "OTP Expired" with
    /// a new challenge. Whether a code was waiting.
    pub fn expire_otp(&self, msisdn: &str) -> bool {
        let now = (self.clock)();
        let mut state = self.lock();
        let mut any = false;
        for challenge in state.otp.by_reference.values_mut() {
            if challenge.msisdn == msisdn {
                challenge.expires_at = now;
                any = true;
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use http::Request;
    use serde_json::Value;

    use super::super::super::{Fault, IdTokenMutation, SandboxConfig, Target};
    use super::*;

    const START: u64 = 1_700_000_000;
    const NUMBER: &str = "447700900001";
    const MESSAGE: &str = "Your Sandbox Shop code is {0}";

    /// A sandbox whose clock the test moves.
    fn sandbox() -> (Sandbox, Arc<AtomicU64>) {
        let time = Arc::new(AtomicU64::new(START));
        let clock = Arc::clone(&time);
        let sandbox = Sandbox::configured(
            "http://sandbox.test",
            Arc::new(move || clock.load(Ordering::SeqCst)),
            SandboxConfig::default(),
        );
        (sandbox, time)
    }

    /// POST the grant with `pairs` to alpha's token endpoint, as the SP (Basic): status and
    /// body.
    fn grant(sandbox: &Sandbox, pairs: &[(&str, &str)]) -> (u16, Value) {
        grant_at(sandbox, "alpha", pairs)
    }

    /// POST the grant with `pairs` to `operator`'s token endpoint, as the SP (Basic).
    fn grant_at(sandbox: &Sandbox, operator: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("grant_type", GRANT_TYPE), ("scope", "openid")])
            .extend_pairs(pairs)
            .finish();
        let info = Sandbox::operator(operator).unwrap();
        let secret: String =
            url::form_urlencoded::byte_serialize(info.client_secret.as_bytes()).collect();
        let basic = STANDARD.encode(format!("{}:{secret}", info.client_id));
        let request = Request::post(format!("{}/token", sandbox.issuer(operator)))
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
            .unwrap();
        let response = sandbox.handle(&request);
        // A fault's answer may be no JSON.
        let body = serde_json::from_slice(response.body()).unwrap_or_default();
        (response.status().as_u16(), body)
    }

    fn start(sandbox: &Sandbox, number: &str, message: &str) -> (u16, Value) {
        grant(sandbox, &[(USERNAME, number), (super::MESSAGE, message)])
    }

    /// Start for [`NUMBER`]: the reference.
    fn started(sandbox: &Sandbox) -> String {
        let (status, body) = start(sandbox, NUMBER, MESSAGE);
        assert_eq!(status, 200, "{body}");
        body[CHALLENGE]["reference"].as_str().unwrap().to_owned()
    }

    fn verify(sandbox: &Sandbox, reference: &str, code: &str) -> (u16, Value) {
        grant(
            sandbox,
            &[(USERNAME, NUMBER), (REFERENCE, reference), (CODE, code)],
        )
    }

    fn texted(sandbox: &Sandbox) -> String {
        sandbox.otp_code(NUMBER).unwrap()
    }

    fn wrong(code: &str) -> String {
        format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
    }

    fn assert_refused(answer: &(u16, Value), error: &str, description: &str) {
        assert_eq!(answer.0, 400, "{}", answer.1);
        assert_eq!(answer.1["error"], error, "{}", answer.1);
        assert_eq!(answer.1["error_description"], description, "{}", answer.1);
    }

    fn id_token_claims(tokens: &Value) -> Value {
        let id_token = tokens["id_token"].as_str().unwrap();
        let claims = id_token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
    }

    #[test]
    fn the_right_code_answers_tokens_naming_the_number() {
        let (sandbox, _) = sandbox();
        let reference = started(&sandbox);
        let code = texted(&sandbox);
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        let sms = format!("SMS {NUMBER}: Your Sandbox Shop code is {code}");
        assert!(sandbox.request_log().contains(&sms));

        let (status, tokens) = verify(&sandbox, &reference, &code);
        assert_eq!(status, 200, "{tokens}");
        let claims = id_token_claims(&tokens);
        assert_eq!(claims["sub"], NUMBER);
        assert_eq!(claims["amr"], json!(["OTP_OK"]));
        assert_eq!(claims["acr"], "2");
        assert!(claims.get("nonce").is_none());
        // Spent.
        let again = verify(&sandbox, &reference, &code);
        assert_refused(&again, "invalid_grant", "Unknown or spent reference");
    }

    #[test]
    fn a_start_is_refused_for_a_stranger_or_a_message_without_the_code() {
        let (sandbox, _) = sandbox();
        let stranger = start(&sandbox, "447700900999", MESSAGE);
        assert_refused(&stranger, "invalid_grant", "Unknown subscriber");
        // Beta's subscriber is a stranger at alpha.
        let foreign = start(&sandbox, "4915100000001", MESSAGE);
        assert_refused(&foreign, "invalid_grant", "Unknown subscriber");
        let no_code = start(&sandbox, NUMBER, "Your code");
        assert_refused(
            &no_code,
            "invalid_request",
            "The message has no {0} for the code",
        );
        assert_eq!(sandbox.otp_code(NUMBER), None);
    }

    #[test]
    fn three_wrong_codes_spend_the_reference() {
        let (sandbox, _) = sandbox();
        let reference = started(&sandbox);
        let code = texted(&sandbox);
        for _ in 0..MAX_WRONG_CODES {
            let answer = verify(&sandbox, &reference, &wrong(&code));
            assert_refused(&answer, "invalid_grant", "Invalid OTP");
        }
        let spent = verify(&sandbox, &reference, &code);
        assert_refused(&spent, "invalid_grant", "Unknown or spent reference");
    }

    #[test]
    fn a_wrong_code_leaves_the_challenge_usable() {
        let (sandbox, _) = sandbox();
        let reference = started(&sandbox);
        let code = texted(&sandbox);
        let answer = verify(&sandbox, &reference, &wrong(&code));
        assert_refused(&answer, "invalid_grant", "Invalid OTP");
        assert_eq!(verify(&sandbox, &reference, &code).0, 200);
    }

    #[test]
    fn an_expired_code_is_replaced_by_a_new_one() {
        let (sandbox, time) = sandbox();
        let reference = started(&sandbox);
        let old = texted(&sandbox);
        time.fetch_add(OTP_LIFETIME_SECS, Ordering::SeqCst);
        let (status, body) = verify(&sandbox, &reference, &old);
        assert_refused(&(status, body.clone()), "invalid_grant", "OTP Expired");
        let fresh = body[CHALLENGE]["reference"].as_str().unwrap();
        assert_ne!(fresh, reference);
        // The old reference is gone; the new code (texted again) verifies against the new one.
        let gone = verify(&sandbox, &reference, &old);
        assert_refused(&gone, "invalid_grant", "Unknown or spent reference");
        let new = texted(&sandbox);
        assert_eq!(verify(&sandbox, fresh, &new).0, 200);
        let texts = sandbox
            .request_log()
            .iter()
            .filter(|line| line.starts_with("SMS "))
            .count();
        assert_eq!(texts, 2);
    }

    #[test]
    fn the_expiry_hook_stands_for_the_lifetime_passing() {
        let (sandbox, _) = sandbox();
        let reference = started(&sandbox);
        assert!(sandbox.expire_otp(NUMBER));
        let expired = verify(&sandbox, &reference, &texted(&sandbox));
        assert_refused(&expired, "invalid_grant", "OTP Expired");
        assert!(!sandbox.expire_otp("447700900003"));
    }

    #[test]
    fn a_second_start_replaces_the_first_challenge() {
        let (sandbox, _) = sandbox();
        let first = started(&sandbox);
        let first_code = texted(&sandbox);
        let second = started(&sandbox);
        let replaced = verify(&sandbox, &first, &first_code);
        assert_refused(&replaced, "invalid_grant", "Unknown or spent reference");
        assert_eq!(verify(&sandbox, &second, &texted(&sandbox)).0, 200);
    }

    #[test]
    fn the_reference_belongs_to_its_number_and_operator() {
        let (sandbox, _) = sandbox();
        let reference = started(&sandbox);
        let code = texted(&sandbox);
        let other = grant(
            &sandbox,
            &[
                (USERNAME, "447700900003"),
                (REFERENCE, &reference),
                (CODE, &code),
            ],
        );
        assert_refused(
            &other,
            "invalid_grant",
            "The reference was not issued to this username",
        );
        // The reference means nothing at beta.
        let at_beta = grant_at(&sandbox, "beta", &[(REFERENCE, &reference), (CODE, &code)]);
        assert_refused(&at_beta, "invalid_grant", "Unknown or spent reference");
        // Without a username, the reference alone is enough.
        let answer = grant(&sandbox, &[(REFERENCE, &reference), (CODE, &code)]);
        assert_eq!(answer.0, 200, "{}", answer.1);
    }

    #[test]
    fn token_endpoint_faults_apply_to_the_grant() {
        let (sandbox, _) = sandbox();
        let reference = started(&sandbox);
        let mutation = IdTokenMutation::SetClaim("aud".to_owned(), json!("someone-else"));
        sandbox.set_fault(Target::Token, Fault::IdToken(mutation));
        let (status, tokens) = verify(&sandbox, &reference, &texted(&sandbox));
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(id_token_claims(&tokens)["aud"], "someone-else");
        sandbox.set_fault(Target::Token, Fault::ServerError);
        assert_eq!(start(&sandbox, NUMBER, MESSAGE).0, 500);
    }
}
