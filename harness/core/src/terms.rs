//! Every leadership term of the run, as the nodes published them: each
//! node says, whenever its leadership changes or is renewed, "I may act as
//! leader until this instant under this fencing token" or "I do not lead".
//! The worlds hand each publication over as it happens (the simulator from
//! its nodes, containers from the journal each agent writes), so a term is
//! known from its first window to its end however often the world samples,
//! and a node that is cut off or frozen keeps the window it last published.
//! `single-leader` and `fencing` compare terms, not samples.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::view::Window;

/// A publication: when, whose, and the window from then on (`None`: it
/// does not lead).
pub type Publication = (Duration, String, Option<Window>);

/// One term as its holder published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Who held it.
    pub node: String,
    /// Its fencing token.
    pub token: u64,
    /// When the node first published a window under this token.
    pub start: Duration,
    /// Until when it may have acted: its last window's close, or the
    /// instant it said it no longer led, whichever came first.
    pub end: Duration,
}

impl Term {
    /// Whether the two terms share an instant.
    pub fn overlaps(&self, other: &Term) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The terms of one run, in the order they began.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terms {
    terms: Vec<Term>,
    /// Each node's term that is still open (it has not said otherwise).
    open: BTreeMap<String, usize>,
    /// Terms begun or changed since [`Terms::take_changed`].
    changed: Vec<usize>,
}

impl Terms {
    /// `node` published at `at` that it may act until `window.until` under
    /// `window.token`, or (`None`) that it does not lead.
    pub fn publish(&mut self, at: Duration, node: &str, window: Option<Window>) {
        let open = self.open.get(node).copied();
        match (open, window) {
            (Some(i), Some(w)) if self.terms[i].token == w.token => {
                // A renewal: from now on its claim is the new window's.
                let t = &mut self.terms[i];
                t.end = t.end.min(at).max(w.until);
                self.mark(i);
            }
            (open, window) => {
                if let Some(i) = open {
                    let t = &mut self.terms[i];
                    t.end = t.end.min(at);
                    self.open.remove(node);
                    self.mark(i);
                }
                if let Some(w) = window.filter(|w| w.until > at) {
                    self.terms.push(Term {
                        node: node.to_string(),
                        token: w.token,
                        start: at,
                        end: w.until,
                    });
                    let i = self.terms.len() - 1;
                    self.open.insert(node.to_string(), i);
                    self.mark(i);
                }
            }
        }
    }

    fn mark(&mut self, i: usize) {
        if !self.changed.contains(&i) {
            self.changed.push(i);
        }
    }

    /// Every term so far, in the order they began.
    pub fn all(&self) -> &[Term] {
        &self.terms
    }

    /// The terms begun or changed since the last call, in order.
    pub fn take_changed(&mut self) -> Vec<&Term> {
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        changed.into_iter().map(|i| &self.terms[i]).collect()
    }

    /// The newest token of any term begun by `at`, if any.
    pub fn newest_token_by(&self, at: Duration) -> Option<u64> {
        self.terms
            .iter()
            .filter(|t| t.start <= at)
            .map(|t| t.token)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn w(until: u64, token: u64) -> Option<Window> {
        Some(Window {
            until: ms(until),
            token,
        })
    }

    #[test]
    fn renewals_extend_a_term_and_a_step_down_ends_it() {
        let mut t = Terms::default();
        t.publish(ms(100), "n1", w(1000, 7));
        t.publish(ms(600), "n1", w(1500, 7));
        assert_eq!(t.all().len(), 1);
        assert_eq!((t.all()[0].start, t.all()[0].end), (ms(100), ms(1500)));
        t.publish(ms(900), "n1", None);
        assert_eq!(t.all()[0].end, ms(900), "it said it no longer led");
        t.publish(ms(2000), "n1", w(3000, 9));
        assert_eq!(t.all().len(), 2);
        assert_eq!(t.take_changed().len(), 2);
        assert!(t.take_changed().is_empty());
    }

    #[test]
    fn a_new_token_closes_the_old_term_and_windows_overlap_by_time() {
        let mut t = Terms::default();
        t.publish(ms(0), "n1", w(1000, 7));
        t.publish(ms(500), "n1", w(1800, 8));
        assert_eq!(t.all()[0].end, ms(500));
        t.publish(ms(1700), "n2", w(2500, 9));
        assert!(t.all()[1].overlaps(&t.all()[2]), "1700..1800");
        assert!(!t.all()[0].overlaps(&t.all()[2]));
        // A window already over when published opens nothing.
        t.publish(ms(3000), "n3", w(2900, 10));
        assert_eq!(t.all().len(), 3);
        assert_eq!(t.newest_token_by(ms(3000)), Some(9));
        assert_eq!(t.newest_token_by(ms(1000)), Some(8));
    }
}
