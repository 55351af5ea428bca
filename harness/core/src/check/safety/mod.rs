//! Safety checks: each must hold at every instant a world observes.

pub mod fencing;
pub mod leader_key_expiry;
pub mod registered;
pub mod single_bootstrap;
pub mod single_leader;
pub mod stable;

use clusterlab_scenario::Expect;

use super::{Context, Violation};
use crate::tracker::History;
use crate::view::View;

/// One safety check.
#[derive(Debug, Clone, Copy)]
pub struct Safety {
    /// Its name, as reports show it.
    pub name: &'static str,
    /// The check itself.
    pub check: fn(&View, &History, &Context) -> Option<Violation>,
}

/// The safety checks `expect` asks for.
pub fn enabled(expect: &Expect) -> Vec<Safety> {
    let mut out = Vec::new();
    if expect.single_leader {
        out.push(Safety {
            name: single_leader::NAME,
            check: single_leader::check,
        });
        out.push(Safety {
            name: fencing::NAME,
            check: fencing::check,
        });
    }
    if expect.single_bootstrap {
        out.push(Safety {
            name: single_bootstrap::NAME,
            check: single_bootstrap::check,
        });
    }
    if expect.leader_key_matches {
        out.push(Safety {
            name: leader_key_expiry::NAME,
            check: leader_key_expiry::check,
        });
    }
    if expect.announced_equals_live {
        out.push(Safety {
            name: registered::NAME,
            check: registered::check,
        });
        out.push(Safety {
            name: stable::NAME,
            check: stable::check,
        });
    }
    out
}
