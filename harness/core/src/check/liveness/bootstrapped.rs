//! `bootstrapped`: some node bootstrapped the cluster (committed its
//! bootstrap). "At most one" is `single-bootstrap`; this is "at least one":
//! a cluster nobody created cannot be joined.

use super::super::Verdict;
use crate::tracker::Past;

/// The check's name.
pub const NAME: &str = "bootstrapped";

/// The verdict on what the run has seen.
pub fn check(past: &Past) -> Verdict {
    match past.bootstraps.first() {
        Some((at, n)) => Verdict::held(NAME, format!("{n} bootstrapped at {} ms", at.as_millis())),
        None => Verdict::failed(
            NAME,
            "none",
            "no node bootstrapped the cluster".into(),
            Vec::new(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn none_fails_one_passes() {
        let mut h = Past::default();
        assert!(!check(&h).passed);
        h.bootstraps.push((Duration::from_millis(400), "n2".into()));
        assert!(check(&h).passed);
    }
}
