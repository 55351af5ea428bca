//! A scenario's faults as a timeline of steps: each fault's start, and its
//! end when it has a `for`. Both worlds walk the same list.

use std::time::Duration;

use clusterlab_scenario::Fault;

/// One point of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// When it is due, from the start of the run.
    pub at: Duration,
    /// The fault's index in the scenario.
    pub fault: usize,
    /// Its start (true) or its end.
    pub start: bool,
}

/// The steps of `faults`, in firing order: by time; at one instant starts
/// before ends; then by fault index.
pub fn expand(faults: &[Fault]) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        steps.push(Step {
            at: f.at,
            fault: i,
            start: true,
        });
        if let Some(d) = f.duration {
            steps.push(Step {
                at: f.at + d,
                fault: i,
                start: false,
            });
        }
    }
    steps.sort_by_key(|s| (s.at, !s.start, s.fault));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterlab_scenario::Action;

    fn fault(at: u64, len: Option<u64>) -> Fault {
        Fault {
            at: Duration::from_secs(at),
            duration: len.map(Duration::from_secs),
            action: Action::KillLeader,
            during_formation: false,
        }
    }

    #[test]
    fn starts_and_ends_in_time_order() {
        let steps = expand(&[fault(10, Some(5)), fault(15, None), fault(2, Some(20))]);
        let got: Vec<(u64, usize, bool)> = steps
            .iter()
            .map(|s| (s.at.as_secs(), s.fault, s.start))
            .collect();
        assert_eq!(
            got,
            [
                (2, 2, true),
                (10, 0, true),
                (15, 1, true),
                (15, 0, false),
                (22, 2, false)
            ]
        );
    }
}
