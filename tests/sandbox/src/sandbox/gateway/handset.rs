//! The simulated handset: what the user does when the operator asks for approval, at the level
//! of assurance the SP asked for (an OK button for LoA 2, a PIN for LoA 3).

use crate::sandbox::catalogue::{Handset, WRONG_PIN};

/// The handset's answer to the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// Authenticated at this `acr` with this `amr`.
    Approved {
        acr: &'static str,
        amr: &'static str,
    },
    /// `access_denied`, with this description.
    Refused(&'static str),
    /// No answer at all: the operator gives up after its wait.
    Silent,
}

const OK: Answer = Answer::Approved {
    acr: "2",
    amr: "SIM_OK",
};
const PIN: Answer = Answer::Approved {
    acr: "3",
    amr: "SIM_PIN",
};

/// The level of assurance a request asks for: the lowest of its `acr_values` (the one that
/// would satisfy every value, as the SP checks it), 2 when there are none.
pub(super) fn requested_loa(acr_values: Option<&str>) -> u8 {
    acr_values
        .unwrap_or_default()
        .split(' ')
        .filter_map(|v| v.parse::<u8>().ok())
        .min()
        .unwrap_or(2)
}

/// What `handset` answers when LoA `loa` is asked.
pub(super) fn answer(handset: Handset, loa: u8) -> Answer {
    let pin_asked = loa >= 3;
    match (handset, pin_asked) {
        (Handset::Approve | Handset::WrongPin | Handset::NoPin, false) | (Handset::NoPin, true) => {
            OK
        }
        (Handset::Approve, true) | (Handset::ApprovePin, _) => PIN,
        (Handset::WrongPin, true) => Answer::Refused(WRONG_PIN),
        (Handset::Decline, _) => Answer::Refused("The user declined"),
        (Handset::NeverAnswers, _) => Answer::Silent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_requested_level_counts() {
        for (acr_values, loa) in [
            (None, 2),
            (Some(""), 2),
            (Some("2"), 2),
            (Some("3"), 3),
            (Some("3 2"), 2),
            (Some("3 4"), 3),
            (Some("high"), 2),
        ] {
            assert_eq!(requested_loa(acr_values), loa, "{acr_values:?}");
        }
    }

    #[test]
    fn every_handset_at_both_levels() {
        let refused = Answer::Refused;
        for (handset, at_loa2, at_loa3) in [
            (Handset::Approve, OK, PIN),
            (Handset::ApprovePin, PIN, PIN),
            (
                Handset::Decline,
                refused("The user declined"),
                refused("The user declined"),
            ),
            (Handset::NeverAnswers, Answer::Silent, Answer::Silent),
            (Handset::WrongPin, OK, refused(WRONG_PIN)),
            (Handset::NoPin, OK, OK),
        ] {
            assert_eq!(answer(handset, 2), at_loa2, "{handset:?} at LoA 2");
            assert_eq!(answer(handset, 3), at_loa3, "{handset:?} at LoA 3");
        }
    }
}
