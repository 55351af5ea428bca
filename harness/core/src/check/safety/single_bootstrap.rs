//! `single-bootstrap`: at most one node bootstraps over the whole run; two
//! would be two clusters under one name (the seeds' simultaneous first
//! boot).

use clusterlab_scenario::checks::Found;

use super::super::{Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "single-bootstrap";

/// Fails once a second bootstrap is recorded.
pub fn check(view: &View, past: &Past, _: &Context) -> Option<Violation> {
    let b = &past.bootstraps;
    (b.len() > 1).then(|| Violation {
        check: NAME,
        at: b[1].0.max(b[0].0).min(view.at),
        nodes: b.iter().map(|(_, n)| n.clone()).collect(),
        detail: format!(
            "{} bootstraps: {}",
            b.len(),
            b.iter()
                .map(|(t, n)| format!("{n} at {} ms", t.as_millis()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        found: Found::kind("twice"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use std::time::Duration;

    #[test]
    fn one_bootstrap_passes_two_fail() {
        let mut h = Past::default();
        h.bootstraps.push((Duration::from_millis(10), "n1".into()));
        assert!(check(&view(100), &h, &ctx()).is_none());
        h.bootstraps.push((Duration::from_millis(12), "n3".into()));
        let v = check(&view(100), &h, &ctx()).expect("two bootstraps");
        assert_eq!(v.nodes, ["n1", "n3"]);
        assert_eq!(v.at, Duration::from_millis(12));
    }
}
