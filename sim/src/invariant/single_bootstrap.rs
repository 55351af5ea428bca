//! At most one bootstrap per cluster over the whole run: two would be two
//! clusters under one name (the seeds' simultaneous-first-boot failure).

use super::Violation;

/// Checks the bootstraps recorded so far.
pub fn check(bootstraps: &[String]) -> Option<Violation> {
    (bootstraps.len() > 1).then(|| Violation {
        invariant: "single-bootstrap",
        detail: format!("{} bootstraps: {bootstraps:?}", bootstraps.len()),
    })
}
