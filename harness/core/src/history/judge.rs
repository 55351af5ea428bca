//! The `linearizable` and `set` checks over a run's recorded operations,
//! the same in every world: the verdicts of [`linearizable::check`] and
//! [`set::check`](super::set::check) on the trace's history, as check
//! events that name what was found (each anomaly's kind and key, for
//! `[[expect.findings]]`), the anomaly's window, its clients' nodes and
//! when it happened.
//!
//! A world says which of the two it expects to judge ([`Wants`]): a check
//! it expects that finds nothing to judge (no history, no set, no
//! acknowledged write) says so and fails, unless the scenario says why
//! (`[expect.unjudged]`): a workload that recorded nothing is not a pass.

use std::time::Duration;

use clusterlab_scenario::checks::{Found, NOTHING_TO_JUDGE};

use super::linearizable::{self, Anomaly, Budget};
use super::set::SetReport;
use super::verdict::Judgement;
use super::{from_events, Func, Op, Outcome};
use crate::trace::{EventKind, Trace};

/// The check's name.
pub const NAME: &str = "linearizable";

/// The set check's name.
pub const SET: &str = "set";

/// Which checks a run's workload must feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    /// The register checker (a register workload; the simulator's nodes).
    pub linearizable: bool,
    /// The set checker (a set or messages workload).
    pub set: bool,
}

/// The check events (and their times) for `trace`'s operations: the
/// `linearizable` check over its registers, the `set` check over each set.
pub fn judge(trace: &Trace, wants: Wants) -> Vec<(Duration, EventKind)> {
    let events = trace.history();
    let end = Duration::from_micros(events.last().map_or(0, |e| e.time_us));
    let lines = events.into_iter().enumerate().map(|(i, e)| (i + 1, e));
    let ops = match from_events("history.jsonl", lines) {
        Ok(ops) => ops,
        Err(e) => {
            let detail = format!("the recorded history is malformed: {e}");
            let found = vec![Found::kind("malformed")];
            return vec![(end, check(NAME, false, detail, Vec::new(), found))];
        }
    };
    let judged = Judgement::of(&ops, Budget::default());
    let mut out: Vec<(Duration, EventKind)> = judged
        .sets
        .iter()
        .map(|r| {
            let found = set_found(r);
            (
                end,
                check(SET, found.is_empty(), r.summary(), Vec::new(), found),
            )
        })
        .collect();
    if wants.set && judged.sets.is_empty() {
        let detail = format!(
            "no set was added to ({} operations recorded): nothing to judge",
            ops.len()
        );
        out.push((end, nothing(SET, detail)));
    }
    if let Some(e) = registers(&ops, &judged, end) {
        out.push(e);
    } else if wants.linearizable {
        let detail = format!(
            "no register operation recorded ({} operations): nothing to judge",
            ops.len()
        );
        out.push((end, nothing(NAME, detail)));
    }
    out
}

/// What a set's report found, each kind on the set's key.
fn set_found(r: &SetReport) -> Vec<Found> {
    let mut out = Vec::new();
    if r.adds.0 == 0 {
        out.push(Found::on(NOTHING_TO_JUDGE, &r.key));
    } else if !r.final_read {
        out.push(Found::on("no-final-read", &r.key));
    }
    for (kind, any) in [
        ("lost", !r.lost.is_empty()),
        ("stale", !r.stale.is_empty()),
        ("went-back", !r.went_back.is_empty()),
        ("unexpected", !r.unexpected.is_empty()),
        ("duplicated", !r.duplicated.is_empty()),
    ] {
        if any {
            out.push(Found::on(kind, &r.key));
        }
    }
    out
}

/// The `linearizable` check over the registers, if there are any: every
/// anomalous key's anomaly, every undecided key, or nothing to judge if
/// no key has both an acknowledged write and a read that returned.
fn registers(ops: &[Op], judged: &Judgement, end: Duration) -> Option<(Duration, EventKind)> {
    if judged.registers.is_empty() {
        return None;
    }
    let keys = judged.registers.len();
    let (ok, unk) = count(ops);
    let summary = format!(
        "{} operations ({ok} ok, {unk} unknown) on {keys} keys",
        ops.len()
    );
    let anomalies: Vec<&Anomaly> = judged.anomalies().collect();
    let mut found: Vec<Found> = anomalies
        .iter()
        .map(|a| Found::on(shape(a, ops), &a.key))
        .collect();
    found.extend(
        judged
            .registers
            .iter()
            .filter(|(_, v)| matches!(v, linearizable::Verdict::Unknown { .. }))
            .map(|(k, _)| Found::on("unknown", k)),
    );
    if let Some(a) = anomalies.first() {
        let at = Duration::from_micros(stuck_time(a));
        let more = if anomalies.len() > 1 {
            format!(" (and {} more keys)", anomalies.len() - 1)
        } else {
            String::new()
        };
        let detail = format!("{summary}{more}: {}", linearizable::table(a));
        return Some((
            at,
            check(NAME, false, detail, window_nodes(&a.window), found),
        ));
    }
    if let Some(reason) = judged.undecided().next() {
        let detail = format!("unknown: {reason}");
        return Some((end, check(NAME, false, detail, Vec::new(), found)));
    }
    if !judgeable(ops) {
        let detail = format!(
            "{summary}: no key has both an acknowledged write and a read that returned: nothing to judge"
        );
        return Some((end, nothing(NAME, detail)));
    }
    Some((
        end,
        check(
            NAME,
            true,
            format!("{summary}: linearizable"),
            Vec::new(),
            Vec::new(),
        ),
    ))
}

/// Whether some register key has an acknowledged write (or set) and a
/// read that returned: otherwise every read is explained by anything.
fn judgeable(ops: &[Op]) -> bool {
    let mut written = std::collections::BTreeSet::new();
    let mut read = std::collections::BTreeSet::new();
    for o in ops.iter().filter(|o| o.complete_us.is_some()) {
        match o.f {
            Func::Write | Func::Cas => {
                written.insert(o.key.as_str());
            }
            Func::Read => {
                read.insert(o.key.as_str());
            }
            Func::Add => {}
        }
    }
    written.intersection(&read).next().is_some()
}

/// The shape of an anomaly, by the operation no order could reach: a read
/// of a value that existed but was not current (`stale-read`), a read of
/// a value nobody wrote to that key in `ops` (`unwritten-read`), or a
/// write or compare-and-set whose result no order explains.
pub fn shape(a: &Anomaly, ops: &[Op]) -> &'static str {
    let Some(stuck) = a.window.iter().find(|o| o.id == a.stuck) else {
        return "stale-read";
    };
    match (stuck.f, &stuck.outcome) {
        (Func::Read, Outcome::Ok(Some(Some(v)))) => {
            let written = ops.iter().any(|o| {
                o.key == a.key
                    && matches!(o.f, Func::Write | Func::Cas)
                    && o.value.as_deref() == Some(v)
            });
            if written {
                "stale-read"
            } else {
                "unwritten-read"
            }
        }
        (Func::Read, _) => "stale-read",
        (Func::Cas, _) => "cas",
        (Func::Write | Func::Add, _) => "write",
    }
}

fn nothing(name: &str, detail: String) -> EventKind {
    check(
        name,
        false,
        detail,
        Vec::new(),
        vec![Found::kind(NOTHING_TO_JUDGE)],
    )
}

fn check(
    name: &str,
    passed: bool,
    detail: String,
    nodes: Vec<String>,
    found: Vec<Found>,
) -> EventKind {
    EventKind::Check {
        name: name.into(),
        passed,
        detail,
        nodes,
        found,
    }
}

fn count(ops: &[Op]) -> (usize, usize) {
    let unknown = ops.iter().filter(|o| o.complete_us.is_none()).count();
    (ops.len() - unknown, unknown)
}

fn stuck_time(a: &linearizable::Anomaly) -> u64 {
    a.window
        .iter()
        .find(|o| o.id == a.stuck)
        .and_then(|o| o.complete_us)
        .unwrap_or(0)
}

fn window_nodes(w: &[Op]) -> Vec<String> {
    let mut nodes: Vec<String> = w.iter().filter_map(|o| o.node.clone()).collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// A small history with a stale read, for tests here and in the reports.
#[cfg(test)]
pub(crate) mod fixture {
    use std::time::Duration;

    use crate::history::{Event, Func, Type};
    use crate::trace::{EventKind, Trace};

    fn ev(kind: Type, client: u64, f: Func, value: Option<i64>, t: u64) -> EventKind {
        EventKind::Op(Event {
            kind,
            client,
            f,
            key: "x".into(),
            value: value.map(serde_json::Value::from),
            from: None,
            to: None,
            time_us: t,
            node: Some(format!("n{client}")),
        })
    }

    /// n1 writes 1, n3 writes 2, then n2 reads `read` (1: stale).
    pub(crate) fn trace(read: i64) -> Trace {
        let mut t = Trace::default();
        let at = Duration::from_millis(1);
        t.push(at, ev(Type::Invoke, 1, Func::Write, Some(1), 10));
        t.push(at, ev(Type::Ok, 1, Func::Write, None, 20));
        t.push(at, ev(Type::Invoke, 3, Func::Write, Some(2), 22));
        t.push(at, ev(Type::Ok, 3, Func::Write, None, 25));
        t.push(at, ev(Type::Invoke, 2, Func::Read, None, 30));
        t.push(at, ev(Type::Ok, 2, Func::Read, Some(read), 40));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::trace;
    use super::*;

    const REGISTERS: Wants = Wants {
        linearizable: true,
        set: false,
    };

    fn verdict(t: &Trace) -> (bool, String, Vec<String>, Vec<Found>) {
        match judge(t, REGISTERS).remove(0).1 {
            EventKind::Check {
                passed,
                detail,
                nodes,
                found,
                ..
            } => (passed, detail, nodes, found),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_stale_read_fails_and_names_its_shape_and_key() {
        // Client 2 on n2 reads 1 after n3's write of 2 completed.
        let (passed, detail, nodes, found) = verdict(&trace(1));
        assert!(!passed);
        assert!(detail.contains("not linearizable"), "{detail}");
        assert_eq!(nodes, ["n2", "n3"]);
        assert_eq!(found, [Found::on("stale-read", "x")]);
        let (passed, _, _, found) = verdict(&trace(2));
        assert!(passed && found.is_empty());
        let (passed, _, _, found) = verdict(&trace(7));
        assert!(!passed);
        assert_eq!(found, [Found::on("unwritten-read", "x")]);
    }

    /// Before the change an empty history emitted no check at all, and a
    /// history whose writes were all unknown passed; both are nothing to
    /// judge now, and fail unless the scenario says why.
    #[test]
    fn an_empty_or_unknowable_history_is_nothing_to_judge() {
        let (passed, detail, _, found) = verdict(&Trace::default());
        assert!(!passed, "{detail}");
        assert_eq!(found, [Found::kind(NOTHING_TO_JUDGE)]);
        assert!(judge(&Trace::default(), Wants::default()).is_empty());
        let mut t = Trace::default();
        for e in trace(1)
            .history()
            .into_iter()
            .filter(|e| e.client != 1 && e.client != 3 || e.kind == crate::history::Type::Invoke)
        {
            t.push(Duration::from_millis(1), EventKind::Op(e));
        }
        let (passed, detail, _, found) = verdict(&t);
        assert!(!passed, "{detail}");
        assert_eq!(found, [Found::kind(NOTHING_TO_JUDGE)], "{detail}");
    }

    #[test]
    fn operations_go_to_history_jsonl_not_events_jsonl() {
        let t = trace(2);
        assert_eq!(t.to_jsonl(), "");
        assert_eq!(t.history().len(), 6);
    }
}
