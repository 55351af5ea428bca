//! Linearizability of a register history: is there one order of the
//! operations, each placed between its invocation and its completion, in
//! which every read returns the last value written?
//!
//! The search is Wing and Gong's, with Lowe's memoisation: operations sit
//! in a list of call and return entries in time order; the search tries to
//! linearize each open call in turn, remembers every (set of linearized
//! operations, register state) it has reached so that no configuration is
//! explored twice, and backtracks when it meets the return of an operation
//! it has not linearized. Keys are independent registers, so each key is
//! checked alone (P-compositionality): the cost follows the concurrency on
//! one key, not the history's length.
//!
//! An operation with an unknown outcome has no return entry: it may take
//! effect at any time after its invocation, or never.

use std::collections::{BTreeMap, HashSet};

use super::register::{step, State};
use super::{Op, Outcome};

/// How much searching one key may cost before the verdict is unknown.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Search steps (an operation tried or taken back).
    pub steps: u64,
    /// Configurations remembered (each costs a bitset of the key's
    /// operations).
    pub configurations: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            steps: 50_000_000,
            configurations: 5_000_000,
        }
    }
}

/// What the search says of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some legal order explains every result.
    Linearizable,
    /// No order does; the smallest window found that still has none.
    NotLinearizable(Anomaly),
    /// The budget ran out first.
    Unknown {
        /// Why, with the key's size.
        reason: String,
    },
}

/// A non-linearizable window of one key's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// The key.
    pub key: String,
    /// The operations of the window, by invocation time. No order of these
    /// alone explains their results (from the key's first value if the
    /// window starts at the history's start, from any value otherwise).
    pub window: Vec<Op>,
    /// The operation whose completion no order could reach.
    pub stuck: usize,
}

/// The verdict on every key, keys in order.
pub fn check(ops: &[Op], budget: Budget) -> Vec<(String, Verdict)> {
    let mut keys: BTreeMap<&str, Vec<Op>> = BTreeMap::new();
    for op in ops {
        keys.entry(&op.key).or_default().push(op.clone());
    }
    // Sets are the set checker's.
    keys.retain(|_, ops| !ops.iter().any(|o| o.f == super::Func::Add));
    keys.into_iter()
        .map(|(k, ops)| (k.to_string(), check_key(k, ops, budget)))
        .collect()
}

/// The verdict on one key's operations.
pub fn check_key(key: &str, mut ops: Vec<Op>, budget: Budget) -> Verdict {
    ops = without_unseen_unknowns(ops);
    ops.sort_by_key(|o| (o.invoke_us, o.id));
    match search(&ops, State::Known(None), budget) {
        Search::Linearizable => Verdict::Linearizable,
        Search::Budget => Verdict::Unknown {
            reason: format!(
                "search budget exceeded ({} steps or {} configurations) on key {key:?}, {} operations",
                budget.steps,
                budget.configurations,
                ops.len()
            ),
        },
        Search::Stuck(i) => {
            let stuck = ops[i].id;
            Verdict::NotLinearizable(Anomaly {
                key: key.to_string(),
                window: shrink(ops, stuck, budget),
                stuck,
            })
        }
    }
}

/// Drops the unknown writes and compare-and-sets whose value nobody
/// observed (no read returned it, no compare-and-set expected it). Such an
/// operation may be taken never to have happened: had it taken effect,
/// nothing saw it before the next write, so the history is linearizable
/// with it exactly when it is without it. Each one kept doubles the
/// configurations the search may visit; a member cut off from its quorum
/// leaves dozens of them.
fn without_unseen_unknowns(ops: Vec<Op>) -> Vec<Op> {
    use super::Func;
    let seen: HashSet<&super::Value> = ops
        .iter()
        .filter_map(|o| match (o.f, &o.outcome) {
            (Func::Read, Outcome::Ok(Some(v))) => Some(v),
            (Func::Cas, _) => Some(&o.from),
            _ => None,
        })
        .collect();
    let keep: Vec<bool> = ops
        .iter()
        .map(|o| o.outcome != Outcome::Unknown || o.f == Func::Read || seen.contains(&o.value))
        .collect();
    ops.into_iter()
        .zip(keep)
        .filter_map(|(o, k)| k.then_some(o))
        .collect()
}

enum Search {
    Linearizable,
    /// Not linearizable; the index of the operation whose return was met
    /// with the most operations linearized.
    Stuck(usize),
    Budget,
}

const NIL: usize = usize::MAX;

/// Wing-Gong-Lowe over `ops` (sorted by invocation), from `start`.
fn search(ops: &[Op], start: State, budget: Budget) -> Search {
    if ops.is_empty() {
        return Search::Linearizable;
    }
    // Entries: (time, is_return, op). Calls sort before returns at one
    // instant: operations that touch at an instant are concurrent.
    let mut entries: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        entries.push((op.invoke_us, false, i));
        if let Some(done) = op.complete_us {
            entries.push((done, true, i));
        }
    }
    entries.sort_unstable();
    let n = entries.len();
    let head = n;
    let mut next: Vec<usize> = (1..=n).collect();
    next[n - 1] = NIL;
    next.push(if n == 0 { NIL } else { 0 });
    let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { head } else { i - 1 }).collect();
    prev.push(NIL);
    let mut ret_entry = vec![NIL; ops.len()];
    for (e, &(_, is_ret, op)) in entries.iter().enumerate() {
        if is_ret {
            ret_entry[op] = e;
        }
    }
    let unlink = |x: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>| {
        next[prev[x]] = next[x];
        if next[x] != NIL {
            prev[next[x]] = prev[x];
        }
    };
    let relink = |x: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>| {
        if next[x] != NIL {
            prev[next[x]] = x;
        }
        next[prev[x]] = x;
    };

    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut seen: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut calls: Vec<(usize, State)> = Vec::new();
    let mut state = start;
    let mut returns_left = ops.iter().filter(|o| o.complete_us.is_some()).count();
    let (mut deepest, mut stuck) = (0usize, 0usize);
    let mut steps = 0u64;
    let mut entry = next[head];
    while returns_left > 0 {
        steps += 1;
        if steps > budget.steps || seen.len() > budget.configurations {
            return Search::Budget;
        }
        let is_call = entry != NIL && !entries[entry].1;
        if is_call {
            let op = entries[entry].2;
            if let Some(after) = step(&state, &ops[op]) {
                linearized[op / 64] |= 1 << (op % 64);
                if seen.insert((linearized.clone(), after.clone())) {
                    calls.push((entry, std::mem::replace(&mut state, after)));
                    unlink(entry, &mut next, &mut prev);
                    if ret_entry[op] != NIL {
                        unlink(ret_entry[op], &mut next, &mut prev);
                        returns_left -= 1;
                    }
                    entry = next[head];
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            entry = next[entry];
        } else {
            if entry != NIL && calls.len() >= deepest {
                deepest = calls.len();
                stuck = entries[entry].2;
            }
            let Some((call, before)) = calls.pop() else {
                return Search::Stuck(stuck);
            };
            let op = entries[call].2;
            state = before;
            linearized[op / 64] &= !(1 << (op % 64));
            if ret_entry[op] != NIL {
                relink(ret_entry[op], &mut next, &mut prev);
                returns_left += 1;
            }
            relink(call, &mut next, &mut prev);
            entry = next[call];
        }
    }
    Search::Linearizable
}

/// Cuts a failing key history down to a small window that still fails:
/// the operations up to the stuck one's completion, then the latest start
/// that still fails (from any value), then, if few are left, every
/// operation whose removal keeps the failure.
fn shrink(ops: Vec<Op>, stuck: usize, budget: Budget) -> Vec<Op> {
    let fails = |w: &[Op], from_start: bool| {
        let start = if from_start {
            State::Known(None)
        } else {
            State::Any
        };
        matches!(search(w, start, budget), Search::Stuck(_))
    };
    let end = ops
        .iter()
        .find(|o| o.id == stuck)
        .and_then(|o| o.complete_us)
        .unwrap_or(u64::MAX);
    let prefix: Vec<Op> = ops.iter().filter(|o| o.invoke_us <= end).cloned().collect();
    let mut w = if fails(&prefix, true) { prefix } else { ops };
    // The latest start that still fails; the first operation may be what
    // the anomaly is about (a read of a value never written), so start 0
    // keeps the key's first value.
    let (mut lo, mut hi) = (0, w.len());
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fails(&w[mid..], false) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let from_start = lo == 0;
    w.drain(..lo);
    if w.len() <= 64 {
        let mut i = 0;
        while i < w.len() {
            if w[i].id != stuck {
                let mut fewer = w.clone();
                fewer.remove(i);
                if fails(&fewer, from_start) {
                    w = fewer;
                    continue;
                }
            }
            i += 1;
        }
    }
    w
}

/// The window as a table, for reports and the `check` command.
pub fn table(a: &Anomaly) -> String {
    let mut out = format!(
        "key {:?}: not linearizable; no order of these {} operations explains their results:\n",
        a.key,
        a.window.len()
    );
    out.push_str("  op   line  client  node      invoke_us   complete_us  operation\n");
    for o in &a.window {
        let what = describe(o);
        let done = o
            .complete_us
            .map_or_else(|| "unknown".to_string(), |t| t.to_string());
        out.push_str(&format!(
            "  {:<4} {:<5} {:<7} {:<9} {:<11} {:<12} {what}{}\n",
            o.id,
            o.line,
            o.client,
            o.node.as_deref().unwrap_or("-"),
            o.invoke_us,
            done,
            if o.id == a.stuck {
                "   <- no order reaches its completion"
            } else {
                ""
            }
        ));
    }
    out
}

/// What an operation did, as the table and the timeline print it.
pub fn describe(o: &Op) -> String {
    match (o.f, &o.outcome) {
        (super::Func::Read, Outcome::Ok(Some(v))) => format!("read -> {}", show(v)),
        (super::Func::Read, _) => "read -> ?".to_string(),
        (super::Func::Write, _) => format!("write {}", show(&o.value)),
        (super::Func::Cas, _) => format!("cas {} -> {}", show(&o.from), show(&o.value)),
        (super::Func::Add, _) => format!("add {}", show(&o.value)),
    }
}

fn show(v: &super::Value) -> String {
    v.clone().unwrap_or_else(|| "nil".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::parse;

    /// A history in a short hand: `c1 w 1 0-5` is client 1 writing 1 from
    /// 0 to 5 µs; `c2 r 1 2-6` a read of 1 (`r nil`: absent); `c3 cas 1>2 3-9`;
    /// a completion `?` is unknown, `x` failed.
    fn h(lines: &[&str]) -> Vec<Op> {
        let mut events = Vec::new();
        for l in lines {
            let p: Vec<&str> = l.split_whitespace().collect();
            let client: u64 = p[0][1..].parse().unwrap();
            let (f, arg, span) = (p[1], p[2], p[3]);
            let (a, b) = span.split_once('-').unwrap();
            let a: u64 = a.parse().unwrap();
            let val = |v: &str| {
                if v == "nil" {
                    "null".to_string()
                } else {
                    v.to_string()
                }
            };
            let (inv, done) = match f {
                "w" => (
                    format!(r#""f":"write","key":"k","value":{}"#, val(arg)),
                    r#""f":"write","key":"k""#.to_string(),
                ),
                "r" => (
                    r#""f":"read","key":"k""#.to_string(),
                    format!(r#""f":"read","key":"k","value":{}"#, val(arg)),
                ),
                _ => {
                    let (x, y) = arg.split_once('>').unwrap();
                    (
                        format!(r#""f":"cas","key":"k","from":{x},"to":{y}"#),
                        r#""f":"cas","key":"k""#.to_string(),
                    )
                }
            };
            events.push((
                a,
                format!(r#"{{"type":"invoke","client":{client},{inv},"time_us":{a}}}"#),
            ));
            let (kind, t) = match b {
                "?" => ("unknown", a),
                "x" => ("fail", a),
                t => ("ok", t.parse().unwrap()),
            };
            if kind != "unknown" {
                events.push((
                    t,
                    format!(r#"{{"type":"{kind}","client":{client},{done},"time_us":{t}}}"#),
                ));
            }
        }
        events.sort_by_key(|e| e.0);
        let text: String = events.into_iter().map(|e| e.1 + "\n").collect();
        parse("t", &text).unwrap()
    }

    fn verdict(lines: &[&str]) -> Verdict {
        check_key("k", h(lines), Budget::default())
    }

    #[test]
    fn legal_histories_pass() {
        for lines in [
            vec![],
            vec!["c1 w 1 0-5", "c2 r 1 6-7"],
            // Concurrent with the write: either value is fine.
            vec!["c1 w 1 0-10", "c2 r nil 1-2", "c3 r 1 3-4"],
            vec!["c1 w 1 0-2", "c2 cas 1>2 3-5", "c3 r 2 6-7"],
            // A read that must see a write whose reply was lost.
            vec!["c1 w 1 0-?", "c2 r 1 50-60"],
            // An unknown write that never took effect.
            vec!["c1 w 1 0-?", "c2 r nil 50-60"],
            // A failed write did not happen.
            vec!["c1 w 1 0-x", "c2 r nil 5-6"],
            // The unknown write must land between two reads.
            vec![
                "c1 w 2 0-1",
                "c2 r 2 2-3",
                "c3 w 5 4-?",
                "c2 r 5 10-11",
                "c2 r 5 12-13",
            ],
        ] {
            assert_eq!(verdict(&lines), Verdict::Linearizable, "{lines:?}");
        }
    }

    fn anomaly(lines: &[&str]) -> Anomaly {
        match verdict(lines) {
            Verdict::NotLinearizable(a) => a,
            v => panic!("{lines:?}: {v:?}"),
        }
    }

    #[test]
    fn anomalies_fail_with_a_small_window() {
        // A stale read: after the write completed, a later read sees nothing.
        let a = anomaly(&["c1 w 1 0-5", "c2 r nil 6-7"]);
        assert_eq!(a.window.len(), 2);
        // A value never written.
        let a = anomaly(&["c1 w 1 0-5", "c2 r 3 6-7"]);
        assert_eq!(a.stuck, 1);
        // A compare-and-set that succeeded twice from the same value.
        anomaly(&[
            "c1 w 1 0-1",
            "c2 cas 1>2 2-5",
            "c3 cas 1>3 2-6",
            "c4 r 3 7-8",
        ]);
        // Reads going back in time.
        anomaly(&["c1 w 1 0-1", "c1 w 2 2-3", "c2 r 2 4-5", "c3 r 1 6-7"]);
        // An unknown write cannot explain a read that came before it began.
        anomaly(&["c2 r 1 0-1", "c1 w 1 5-?"]);
        // The window leaves out what does not matter.
        let mut long: Vec<String> = (0..200)
            .map(|i| format!("c1 w {i} {}-{}", i * 10, i * 10 + 5))
            .collect();
        long.push("c2 r 3 3000-3001".into());
        long.extend(
            (0..50).map(|i| format!("c1 w {} {}-{}", 1000 + i, 4000 + i * 10, 4005 + i * 10)),
        );
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        let a = anomaly(&refs);
        assert!(a.window.len() <= 3, "{}", table(&a));
        assert!(table(&a).contains("read -> 3"), "{}", table(&a));
    }

    #[test]
    fn a_search_past_its_budget_says_so() {
        let lines: Vec<String> = (0..40)
            .map(|i| format!("c{i} w {i} 0-100"))
            .chain(["c99 r 77 200-201".to_string()])
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let small = Budget {
            steps: 1_000,
            configurations: 1_000,
        };
        match check_key("k", h(&refs), small) {
            Verdict::Unknown { reason } => assert!(
                reason.contains("budget exceeded") && reason.contains("41 operations"),
                "{reason}"
            ),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn unknown_writes_nobody_saw_cost_nothing() {
        // Sixty writes from a member cut off from its quorum, none applied,
        // beside a working register: decided at once.
        let mut lines: Vec<String> = (0..60)
            .map(|i| format!("c{} w {} {}-?", 100 + i, 1000 + i, i * 10))
            .collect();
        lines.extend((0..60).map(|i| format!("c1 w {i} {}-{}", i * 10, i * 10 + 5)));
        lines.extend((0..60).map(|i| format!("c2 r {i} {}-{}", i * 10 + 6, i * 10 + 8)));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let small = Budget {
            steps: 100_000,
            configurations: 100_000,
        };
        assert_eq!(check_key("k", h(&refs), small), Verdict::Linearizable);
        // One of them seen: it must be placed, and can be.
        lines.push("c3 r 1030 700-701".into());
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(check_key("k", h(&refs), small), Verdict::Linearizable);
    }

    #[test]
    fn keys_are_checked_apart() {
        let mut ops = h(&["c1 w 1 0-5", "c2 r 1 6-7"]);
        let mut other = h(&["c3 w 1 0-5", "c4 r nil 6-7"]);
        for o in &mut other {
            o.key = "j".into();
            o.id += 10;
        }
        ops.extend(other);
        let v = check(&ops, Budget::default());
        assert_eq!(v[1], ("k".to_string(), Verdict::Linearizable));
        assert!(matches!(&v[0], (k, Verdict::NotLinearizable(_)) if k == "j"));
    }
}
