//! KYC match through both adapters against the sandbox: a login asking `mc_kyc_plain` or
//! `mc_kyc_hashed` with a `KycMatch` claims request, then premiuminfo read as a `KycResult`,
//! at each operator (Alpha answers premiuminfo as JSON, Beta as a signed JWT).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mc_core::{
    AuthorizeOptions, KycAttribute, KycMatch, KycMode, KycResult, LoginHint, MatchCode, Msisdn,
};
use mc_tests::driver::{self, Driver, login};
use mc_tests::{Handset, OPERATORS, SandboxExt as _, SandboxServer};

const TIMEOUT: Duration = Duration::from_secs(2);
const BODY_LIMIT: usize = 64 * 1024;

mc_tests::through_both_adapters!(
    TIMEOUT, BODY_LIMIT;
    kyc_login_reaches_premiuminfo,
    kyc_plain_match_at_premiuminfo,
    kyc_hashed_match_at_premiuminfo,
);

/// The request every scenario sends: the subscriber's name (held, matching, in another case and
/// spacing), a wrong postal code (held, not matching), the address's other parts and a birthdate
/// (Beta holds none).
fn kyc_request() -> KycMatch {
    KycMatch::new()
        .name("TEST subscriber")
        .houseno_or_housename("10")
        .postal_code("ZZ9 9ZZ")
        .town("nowhere")
        .country("GB")
        .birthdate("1980-01-01")
}

/// Log in at operator `index` with a KYC match in `mode`, and read premiuminfo as a KYC result.
fn kyc_login<D: Driver>(d: &D, server: &SandboxServer, index: usize, mode: KycMode) -> KycResult {
    let info = &OPERATORS[index];
    let op = driver::with_metadata(d, server.sandbox().registry_entry(info.name).unwrap()).unwrap();
    let msisdn = info
        .subscribers
        .iter()
        .find(|(_, h)| *h == Handset::Approve)
        .map(|(m, _)| *m)
        .unwrap();
    let options = AuthorizeOptions::new()
        .scope(["mc_authn", mode.scope()])
        .claims(kyc_request().build(mode).unwrap())
        .login_hint(LoginHint::Msisdn(Msisdn::new(msisdn)));
    let tokens = login(d, &op, options).unwrap();
    let premium = d.execute(tokens.premiuminfo(&op).unwrap()).unwrap();
    assert_eq!(premium.sub(), tokens.sub());
    KycResult::read(premium.claims()).unwrap()
}

/// The codes each operator answers for [`kyc_request`]: Alpha's subscriber lives at 10, in GB,
/// born 1980-01-01; Beta's at 1, in DE, with no birthdate held.
fn check_codes(index: usize, result: &KycResult) {
    use MatchCode::{Match, NoData, NoMatch};
    let alpha = OPERATORS[index].country == "GB";
    let expected = [
        (KycAttribute::Name, Match),
        (KycAttribute::PostalCode, NoMatch),
        (KycAttribute::Town, NoMatch),
        (
            KycAttribute::HousenoOrHousename,
            if alpha { Match } else { NoMatch },
        ),
        (KycAttribute::Country, if alpha { Match } else { NoMatch }),
        (KycAttribute::Birthdate, if alpha { Match } else { NoData }),
    ];
    for (attribute, code) in expected {
        assert_eq!(result.get(attribute), Some(code), "{attribute}");
    }
    assert_eq!(result.get(KycAttribute::Address), None, "not asked");
    assert_eq!(result.is_lost_stolen(), Some(false));
    assert_eq!(result.billing_segment(), Some("consumer"));
    assert_eq!(result.account_state(), Some("active"));
}

fn kyc_plain_match_at_premiuminfo<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    for index in 0..OPERATORS.len() {
        let result = kyc_login(d, &server, index, KycMode::Plain);
        check_codes(index, &result);
    }
}

fn kyc_hashed_match_at_premiuminfo<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    for index in 0..OPERATORS.len() {
        let result = kyc_login(d, &server, index, KycMode::Hashed);
        check_codes(index, &result);
    }
}

/// What works today: a login with a KYC claims request and scope is accepted, and premiuminfo
/// answers for its access token with the subscriber's claims and no unreadable KYC answer.
fn kyc_login_reaches_premiuminfo<D: Driver>(d: &D) {
    let server = SandboxServer::start().unwrap();
    for mode in [KycMode::Plain, KycMode::Hashed] {
        for index in 0..OPERATORS.len() {
            kyc_login(d, &server, index, mode);
        }
    }
}
