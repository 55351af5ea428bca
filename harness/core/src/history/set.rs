//! The set checker, for a workload that adds unique elements to a set (a
//! SQL table) and reads the whole set back, as Jepsen's set checkers do:
//!
//! - **lost**: an acknowledged add missing from the last read (which began
//!   after the add completed);
//! - **stale**: a read missing an element whose add was acknowledged
//!   before the read began;
//! - **went back**: a read missing an element that an earlier read,
//!   completed before it began, had returned;
//! - **unexpected**: an element no add ever attempted;
//! - **duplicated**: an element twice in one read.
//!
//! Adds with unknown outcomes may be present or not.

use std::collections::{BTreeMap, BTreeSet};

use super::{Func, Op, Outcome};

/// What the checker found on one set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetReport {
    /// The set's key.
    pub key: String,
    /// Adds attempted, acknowledged, unknown.
    pub adds: (usize, usize, usize),
    /// Reads that returned.
    pub reads: usize,
    /// Whether a read returned that began after every acknowledged add
    /// completed (the last one judges `lost`): without it, rows
    /// acknowledged after the last read are never checked.
    pub final_read: bool,
    /// Acknowledged adds missing from the last read.
    pub lost: Vec<String>,
    /// (element, read's invocation µs): acknowledged before the read began,
    /// missing from it.
    pub stale: Vec<(String, u64)>,
    /// (element, read's invocation µs): returned by an earlier read that
    /// completed before this one began, missing from this one.
    pub went_back: Vec<(String, u64)>,
    /// Elements no add attempted.
    pub unexpected: Vec<String>,
    /// Elements twice in one read.
    pub duplicated: Vec<String>,
}

impl SetReport {
    /// No anomaly, and a read to judge by.
    pub fn valid(&self) -> bool {
        self.final_read
            && self.lost.is_empty()
            && self.stale.is_empty()
            && self.went_back.is_empty()
            && self.unexpected.is_empty()
            && self.duplicated.is_empty()
    }

    /// One line for reports.
    pub fn summary(&self) -> String {
        let (attempted, acked, unknown) = self.adds;
        let mut s = format!(
            "set {:?}: {attempted} adds ({acked} acknowledged, {unknown} unknown), {} reads",
            self.key, self.reads
        );
        if !self.final_read {
            s += if self.reads == 0 {
                "; no read returned"
            } else {
                "; no read began after the last acknowledged add: later rows are unchecked"
            };
        }
        let few = |v: &[String]| v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let few_at = |v: &[(String, u64)]| {
            v.iter()
                .take(5)
                .map(|(e, t)| format!("{e} (read at {} ms)", t / 1000))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (what, n, ex) in [
            ("lost", self.lost.len(), few(&self.lost)),
            ("stale", self.stale.len(), few_at(&self.stale)),
            ("went back", self.went_back.len(), few_at(&self.went_back)),
            ("unexpected", self.unexpected.len(), few(&self.unexpected)),
            ("duplicated", self.duplicated.len(), few(&self.duplicated)),
        ] {
            if n > 0 {
                s += &format!("; {n} {what}: {ex}");
            }
        }
        s
    }
}

/// Reports on every set (every key with adds).
pub fn check(ops: &[Op]) -> Vec<SetReport> {
    let mut keys: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        keys.entry(&op.key).or_default().push(op);
    }
    keys.into_iter()
        .filter(|(_, ops)| ops.iter().any(|o| o.f == Func::Add))
        .map(|(k, ops)| check_set(k, &ops))
        .collect()
}

fn elements(o: &Op) -> Option<Vec<String>> {
    let Outcome::Ok(Some(Some(text))) = &o.outcome else {
        return None;
    };
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(v.as_array()?.iter().map(|e| e.to_string()).collect())
}

fn check_set(key: &str, ops: &[&Op]) -> SetReport {
    let adds: Vec<&&Op> = ops.iter().filter(|o| o.f == Func::Add).collect();
    let attempted: BTreeSet<&str> = adds.iter().filter_map(|o| o.value.as_deref()).collect();
    let acked: Vec<(&str, u64)> = adds
        .iter()
        .filter_map(|o| Some((o.value.as_deref()?, o.complete_us?)))
        .collect();
    let mut reads: Vec<(&Op, Vec<String>)> = ops
        .iter()
        .filter(|o| o.f == Func::Read)
        .filter_map(|o| Some((*o, elements(o)?)))
        .collect();
    reads.sort_by_key(|(o, _)| o.invoke_us);
    let mut r = SetReport {
        key: key.to_string(),
        adds: (adds.len(), acked.len(), adds.len() - acked.len()),
        reads: reads.len(),
        final_read: reads
            .last()
            .is_some_and(|(last, _)| acked.iter().all(|(_, done)| *done < last.invoke_us)),
        ..SetReport::default()
    };
    let mut unexpected = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    // Every element of the reads completed so far, grown as the reads (in
    // invocation order) pass their completions: one pass, where a union of
    // all earlier reads per read took half a minute on a 3,000-row history.
    let mut completed: Vec<(u64, &[String])> = reads
        .iter()
        .filter_map(|(o, els)| Some((o.complete_us?, els.as_slice())))
        .collect();
    completed.sort_by_key(|(t, _)| *t);
    let mut before: BTreeSet<&str> = BTreeSet::new();
    let mut next = 0;
    for (read, els) in &reads {
        let set: BTreeSet<&str> = els.iter().map(String::as_str).collect();
        if set.len() != els.len() {
            let mut seen = BTreeSet::new();
            duplicated.extend(els.iter().filter(|e| !seen.insert(e.as_str())).cloned());
        }
        unexpected.extend(
            set.iter()
                .filter(|e| !attempted.contains(*e))
                .map(|e| e.to_string()),
        );
        for (e, done) in &acked {
            if *done < read.invoke_us && !set.contains(e) {
                r.stale.push((e.to_string(), read.invoke_us));
            }
        }
        // Every element of a read that completed before this one began
        // must still be here.
        while let Some((_, els)) = completed.get(next).filter(|(t, _)| *t < read.invoke_us) {
            before.extend(els.iter().map(String::as_str));
            next += 1;
        }
        r.went_back.extend(
            before
                .iter()
                .filter(|e| !set.contains(*e))
                .map(|e| (e.to_string(), read.invoke_us)),
        );
    }
    if let Some((last, els)) = reads.last() {
        let set: BTreeSet<&str> = els.iter().map(String::as_str).collect();
        r.lost = acked
            .iter()
            .filter(|(e, done)| *done < last.invoke_us && !set.contains(e))
            .map(|(e, _)| e.to_string())
            .collect();
    }
    r.unexpected = unexpected.into_iter().collect();
    r.duplicated = duplicated.into_iter().collect();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::parse;

    fn ops(lines: &[&str]) -> Vec<Op> {
        parse("t", &(lines.join("\n") + "\n")).unwrap()
    }

    fn add(c: u64, e: u64, t0: u64, done: &str) -> [String; 2] {
        [
            format!(
                r#"{{"type":"invoke","client":{c},"f":"add","key":"s","value":{e},"time_us":{t0}}}"#
            ),
            format!(
                r#"{{"type":"{done}","client":{c},"f":"add","key":"s","time_us":{}}}"#,
                t0 + 1
            ),
        ]
    }

    fn read_invoked(c: u64, t: u64) -> String {
        format!(r#"{{"type":"invoke","client":{c},"f":"read","key":"s","time_us":{t}}}"#)
    }

    fn read_returned(c: u64, els: &str, t: u64) -> String {
        format!(r#"{{"type":"ok","client":{c},"f":"read","key":"s","value":{els},"time_us":{t}}}"#)
    }

    fn read(c: u64, els: &str, t0: u64) -> [String; 2] {
        [read_invoked(c, t0), read_returned(c, els, t0 + 1)]
    }

    fn report(parts: &[[String; 2]]) -> SetReport {
        report_lines(parts.iter().flatten())
    }

    /// The report on one set from history lines in time order.
    fn report_lines<'a>(lines: impl IntoIterator<Item = &'a String>) -> SetReport {
        let lines: Vec<&str> = lines.into_iter().map(String::as_str).collect();
        let mut r = check(&ops(&lines));
        assert_eq!(r.len(), 1);
        r.remove(0)
    }

    #[test]
    fn a_clean_set_passes_with_unknown_adds_either_way() {
        let r = report(&[
            add(1, 1, 0, "ok"),
            add(1, 2, 10, "unknown"),
            add(2, 3, 20, "unknown"),
            read(3, "[1, 3]", 30),
            read(3, "[1, 3]", 40),
        ]);
        assert!(r.valid(), "{}", r.summary());
        assert_eq!(r.adds, (3, 1, 2));
    }

    #[test]
    fn each_anomaly_is_named() {
        let r = report(&[add(1, 1, 0, "ok"), read(3, "[]", 10)]);
        assert_eq!(r.lost, ["1"]);
        assert_eq!(r.stale, [("1".to_string(), 10)]);
        let r = report(&[
            add(1, 1, 0, "unknown"),
            read(3, "[1]", 10),
            read(3, "[]", 20),
            read(3, "[1, 1, 9]", 30),
        ]);
        assert_eq!(r.went_back, [("1".to_string(), 20)]);
        assert_eq!(r.unexpected, ["9"]);
        assert_eq!(r.duplicated, ["1"]);
        assert!(!r.valid());
        assert!(
            r.summary().contains("1 went back: 1 (read at 0 ms)"),
            "{}",
            r.summary()
        );
        let r = report(&[add(1, 1, 0, "ok")]);
        assert!(!r.valid() && r.summary().contains("no read returned"));
    }

    /// Before the change any read counted as the final one: a read-back
    /// that failed after the heal left an earlier read to judge `lost`,
    /// and rows acknowledged after it were never checked.
    #[test]
    fn the_final_read_must_follow_every_acknowledged_add() {
        let r = report(&[add(1, 1, 0, "ok"), read(3, "[1]", 10), add(1, 2, 20, "ok")]);
        assert!(!r.final_read && !r.valid(), "{}", r.summary());
        assert!(
            r.summary().contains("later rows are unchecked"),
            "{}",
            r.summary()
        );
        let r = report(&[
            add(1, 1, 0, "ok"),
            read(3, "[1]", 10),
            add(1, 2, 20, "ok"),
            read(3, "[1, 2]", 30),
        ]);
        assert!(r.valid(), "{}", r.summary());
    }

    /// A read that overlaps a later one does not bind it; one that
    /// completed before it began does, whatever order they were invoked in.
    #[test]
    fn went_back_counts_only_reads_completed_before() {
        // Client 4 reads [2] from 5 to 50; client 3 reads [1] (10-11),
        // then [] (30-31): 1 went back, 2 did not (its read was still open).
        let adds = [add(1, 1, 0, "unknown"), add(1, 2, 2, "unknown")];
        let reads = [
            read_invoked(4, 5),
            read_invoked(3, 10),
            read_returned(3, "[1]", 11),
            read_invoked(3, 30),
            read_returned(3, "[]", 31),
            read_returned(4, "[2]", 50),
        ];
        let r = report_lines(adds.iter().flatten().chain(&reads));
        assert_eq!(r.went_back, [("1".to_string(), 30)], "{}", r.summary());
    }
}
