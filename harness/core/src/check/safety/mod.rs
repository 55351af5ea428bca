//! Safety checks: each must hold at every instant a world observes.

pub mod bounded_waits;
pub mod claim_lapse;
pub mod clean_stop;
pub mod fencing;
pub mod leader_key_expiry;
pub mod leader_key_follows;
pub mod registered;
pub mod single_bootstrap;
pub mod single_leader;
pub mod stable;
pub mod window_within_lease;

use clusterlab_scenario::Expect;

use super::{Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// One safety check.
#[derive(Debug, Clone, Copy)]
pub struct Safety {
    /// Its name, as reports show it.
    pub name: &'static str,
    /// The check itself.
    pub check: fn(&View, &Past, &Context) -> Option<Violation>,
    /// Whether it judges the published terms (its verdict counts them).
    pub judges_terms: bool,
}

/// The safety checks `expect` asks for ([`super::gate`]).
pub fn enabled(expect: &Expect) -> Vec<Safety> {
    [
        Safety {
            name: single_leader::NAME,
            check: single_leader::check,
            judges_terms: true,
        },
        Safety {
            name: fencing::NAME,
            check: fencing::check,
            judges_terms: true,
        },
        Safety {
            name: window_within_lease::NAME,
            check: window_within_lease::check,
            judges_terms: false,
        },
        Safety {
            name: single_bootstrap::NAME,
            check: single_bootstrap::check,
            judges_terms: false,
        },
        Safety {
            name: leader_key_expiry::NAME,
            check: leader_key_expiry::check,
            judges_terms: false,
        },
        Safety {
            name: registered::NAME,
            check: registered::check,
            judges_terms: false,
        },
        Safety {
            name: stable::NAME,
            check: stable::check,
            judges_terms: false,
        },
        Safety {
            name: leader_key_follows::NAME,
            check: leader_key_follows::check,
            judges_terms: false,
        },
        Safety {
            name: clean_stop::NAME,
            check: clean_stop::check,
            judges_terms: false,
        },
        Safety {
            name: claim_lapse::NAME,
            check: claim_lapse::check,
            judges_terms: false,
        },
        Safety {
            name: bounded_waits::NAME,
            check: bounded_waits::check,
            judges_terms: false,
        },
    ]
    .into_iter()
    .filter(|s| super::gate::on(s.name, expect))
    .collect()
}
