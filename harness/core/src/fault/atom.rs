//! The undoable effects a fault is made of, and the ledger that counts
//! them. Two faults may ask for the same effect (two partitions cutting the
//! same pair, a kill of a node another fault killed): the world applies an
//! atom when its count goes from 0 to 1 and undoes it when it returns to 0,
//! so ending one fault never undoes another's effect.

use std::collections::BTreeMap;

/// One effect, on named nodes (cluster nodes, or store nodes for
/// [`Atom::StoreDown`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    /// The two nodes cannot reach each other (names in order).
    Cut(String, String),
    /// The first node cannot send to the second.
    OneWay(String, String),
    /// The node reaches nobody: no node, no store.
    Isolate(String),
    /// The node cannot reach the discovery store.
    CutStore(String),
    /// The node loses this many millionths of its packets, both ways.
    Loss(String, u32),
    /// The node's process is frozen.
    Pause(String),
    /// The node's process is killed (undone by a restart with its data).
    Down(String),
    /// A store node is killed (undone by a restart).
    StoreDown(String),
    /// The node was stopped cleanly for good (never undone).
    Left(String),
    /// The store applies the node's requests but loses this many
    /// millionths of its replies.
    ReplyLoss(String, u32),
    /// The store's replies to the node arrive this many milliseconds late.
    ReplyDelay(String, u64),
    /// The store's lease clock runs at this many thousandths of real speed.
    ClockRate(u32),
    /// The store's blocking-query index has gone backwards (Consul).
    IndexBack,
    /// Consul deregistered the node sessions belong to: every session is
    /// invalidated, and none can be created until it is registered again
    /// (the agent's anti-entropy does it within about a minute).
    NodeGone,
    /// The packets the first node (or store node) sends to the second
    /// (`None`: to anyone) are shaped: late, spread, held back, doubled.
    Shape(String, Option<String>, Shaping),
    /// The node's database does not pass its ready probe.
    DbUnready(String),
}

/// How a shaped link treats each packet, in whole numbers so that an atom
/// can be ordered and counted in the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shaping {
    /// A held packet is this late (microseconds)...
    pub delay_us: u64,
    /// ...give or take up to this much, uniformly (microseconds).
    pub jitter_us: u64,
    /// Millionths of the packets that are held; the rest pass at once and
    /// overtake them (1,000,000: every packet is late).
    pub hold_ppm: u32,
    /// Millionths of the packets that are sent twice.
    pub duplicate_ppm: u32,
}

impl Shaping {
    /// The shaping a scenario's fault asks for.
    pub fn of(shape: &clusterlab_scenario::Shape) -> Shaping {
        use clusterlab_scenario::Shape;
        let us = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let ppm = |r: f64| (r * 1e6).round() as u32;
        match *shape {
            Shape::Latency { delay } => Shaping {
                delay_us: us(delay),
                hold_ppm: 1_000_000,
                ..Shaping::default()
            },
            Shape::Jitter { delay, jitter } => Shaping {
                delay_us: us(delay),
                jitter_us: us(jitter),
                hold_ppm: 1_000_000,
                ..Shaping::default()
            },
            Shape::Reorder { rate, delay } => Shaping {
                delay_us: us(delay),
                hold_ppm: ppm(rate),
                ..Shaping::default()
            },
            Shape::Duplicate { rate } => Shaping {
                duplicate_ppm: ppm(rate),
                ..Shaping::default()
            },
        }
    }

    /// Whether any packet is held (not only duplicated).
    pub fn delays(&self) -> bool {
        self.hold_ppm > 0 && self.delay_us > 0
    }

    /// The shortest and longest time a packet is held.
    pub fn range(&self) -> (std::time::Duration, std::time::Duration) {
        if !self.delays() {
            return Default::default();
        }
        let us = std::time::Duration::from_micros;
        let lo = if self.hold_ppm < 1_000_000 {
            0
        } else {
            self.delay_us.saturating_sub(self.jitter_us)
        };
        (us(lo), us(self.delay_us + self.jitter_us))
    }
}

impl Atom {
    /// A cut between `a` and `b`, whichever order they come in.
    pub fn cut(a: &str, b: &str) -> Atom {
        let (x, y) = if a < b { (a, b) } else { (b, a) };
        Atom::Cut(x.to_string(), y.to_string())
    }

    /// The nodes this atom acts on (for [`Atom::Shape`], store nodes too).
    pub fn nodes(&self) -> Vec<&str> {
        match self {
            Atom::Cut(a, b) | Atom::OneWay(a, b) => vec![a, b],
            Atom::Isolate(n)
            | Atom::CutStore(n)
            | Atom::Loss(n, _)
            | Atom::Pause(n)
            | Atom::Down(n)
            | Atom::Left(n)
            | Atom::ReplyLoss(n, _)
            | Atom::ReplyDelay(n, _)
            | Atom::DbUnready(n) => vec![n],
            Atom::Shape(a, b, _) => std::iter::once(a.as_str()).chain(b.as_deref()).collect(),
            Atom::StoreDown(_) | Atom::ClockRate(_) | Atom::IndexBack | Atom::NodeGone => {
                Vec::new()
            }
        }
    }
}

/// How many active faults hold each atom.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    counts: BTreeMap<Atom, usize>,
}

impl Ledger {
    /// Counts `atom` once more; true if it was not active (apply it now).
    pub fn hold(&mut self, atom: &Atom) -> bool {
        let c = self.counts.entry(atom.clone()).or_insert(0);
        *c += 1;
        *c == 1
    }

    /// Counts `atom` once less; true if no fault holds it any more (undo it
    /// now).
    pub fn release(&mut self, atom: &Atom) -> bool {
        match self.counts.get_mut(atom) {
            Some(c) if *c > 1 => {
                *c -= 1;
                false
            }
            Some(_) => {
                self.counts.remove(atom);
                true
            }
            None => false,
        }
    }

    /// Whether `atom` is active.
    pub fn holds(&self, atom: &Atom) -> bool {
        self.counts.contains_key(atom)
    }

    /// Every active atom.
    pub fn active(&self) -> impl Iterator<Item = &Atom> {
        self.counts.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atom_held_twice_is_undone_once_both_let_go() {
        let mut l = Ledger::default();
        let a = Atom::cut("n2", "n1");
        assert_eq!(a, Atom::Cut("n1".into(), "n2".into()));
        assert!(l.hold(&a), "first hold applies");
        assert!(!l.hold(&a), "second hold does nothing");
        assert!(!l.release(&a), "still held by the other fault");
        assert!(l.holds(&a));
        assert!(l.release(&a), "last release undoes");
        assert!(!l.holds(&a));
        assert!(!l.release(&a), "releasing what is not held is nothing");
    }
}
