//! Histories built by hand: how unknown writes are placed and which
//! anomalies the checker is shown.

use super::*;
use clusterlab_core::history::{from_events, linearizable};

fn v(p: &str, rev: u64) -> Option<Versioned> {
    Some((p.to_string(), rev))
}

fn write(k: &str, p: &str, rev: Option<u64>) -> Call {
    Call::Write(k.into(), Some(p.into()), rev)
}

/// The checker's verdict on the recorded calls.
fn linearizable(calls: Vec<((u64, u64), bool, Call)>) -> bool {
    let r = Recorder::default();
    for (span, known, call) in calls {
        r.push("n1", span, known, call);
    }
    let events = r.events().into_iter().enumerate().map(|(i, e)| (i + 1, e));
    let ops = from_events("history.jsonl", events).expect("well formed");
    linearizable::check(&ops, linearizable::Budget::default())
        .iter()
        .all(|(_, v)| *v == linearizable::Verdict::Linearizable)
}

#[test]
fn a_write_whose_reply_was_lost_is_placed_by_the_read_that_saw_it() {
    let calls = vec![
        ((0, 10), true, write("k", "a", Some(2))),
        ((20, 30), false, write("k", "b", None)),
        ((40, 50), true, Call::Read("k".into(), v("b", 3))),
        (
            (60, 70),
            true,
            Call::Cas("k".into(), Some(3), Some("c".into()), Some(4)),
        ),
    ];
    assert!(linearizable(calls));
}

#[test]
fn a_write_whose_caller_was_dropped_is_unknown_and_placed_by_its_reader() {
    // Recorded at invocation and never answered (its host crashed).
    let r = Recorder::default();
    r.push("n1", (0, 0), false, write("k", "a", None));
    r.push("n2", (40, 50), true, Call::Read("k".into(), v("a", 3)));
    let events = r.events().into_iter().enumerate().map(|(i, e)| (i + 1, e));
    let ops = from_events("h", events).expect("well formed");
    let verdicts = linearizable::check(&ops, linearizable::Budget::default());
    assert_eq!(verdicts[0].1, linearizable::Verdict::Linearizable);
}

#[test]
fn a_revision_seen_only_as_expected_does_not_take_another_reads_write() {
    // U1 wrote "x" (rev 8), U2 wrote "y" (rev 7), both unanswered; a
    // CAS expected 7 (no payload), a read saw x@8.
    let calls = vec![
        ((1, 1), false, write("k", "x", None)),
        ((2, 2), false, write("k", "y", None)),
        (
            (3, 5),
            true,
            Call::Cas("k".into(), Some(7), Some("z".into()), Some(9)),
        ),
        ((6, 7), true, Call::Read("k".into(), v("z", 9))),
    ];
    assert!(linearizable(calls));
    let calls = vec![
        ((1, 1), false, write("k", "x", None)),
        ((2, 2), false, write("k", "y", None)),
        (
            (3, 5),
            false,
            Call::Cas("k".into(), Some(7), Some("z".into()), None),
        ),
        ((6, 7), true, Call::Read("k".into(), v("x", 8))),
    ];
    assert!(linearizable(calls));
}

#[test]
fn a_revision_nobody_wrote_is_an_anomaly() {
    let calls = vec![
        ((0, 10), true, write("k", "a", Some(2))),
        ((40, 50), true, Call::Read("k".into(), v("b", 3))),
    ];
    assert!(!linearizable(calls));
}

#[test]
fn a_stale_read_and_a_lost_delete_are_anomalies() {
    let stale = vec![
        ((0, 10), true, write("k", "a", Some(2))),
        ((20, 30), true, write("k", "b", Some(3))),
        ((40, 50), true, Call::Read("k".into(), v("a", 2))),
    ];
    assert!(!linearizable(stale));
    // The store deleted the key (a lease ended) before the read began.
    let r = Recorder::default();
    r.push("n1", (0, 10), true, write("k", "a", Some(2)));
    r.store_deleted("k", Duration::from_micros(20), Duration::from_micros(30));
    r.push("n2", (40, 50), true, Call::Read("k".into(), v("a", 2)));
    let events = r.events().into_iter().enumerate().map(|(i, e)| (i + 1, e));
    let ops = from_events("h", events).expect("well formed");
    let verdicts = linearizable::check(&ops, linearizable::Budget::default());
    assert!(matches!(
        verdicts[0].1,
        linearizable::Verdict::NotLinearizable(_)
    ));
}

#[test]
fn a_compare_and_set_on_a_replaced_revision_is_an_anomaly() {
    // The same payload written again is a new revision: a CAS that
    // expected the first must not succeed after the second.
    let calls = vec![
        ((0, 10), true, write("k", "a", Some(2))),
        ((20, 30), true, write("k", "a", Some(3))),
        (
            (40, 50),
            true,
            Call::Cas("k".into(), Some(2), Some("c".into()), Some(4)),
        ),
    ];
    assert!(!linearizable(calls));
}

#[test]
fn a_listing_reads_every_known_key_under_its_prefix() {
    let calls = vec![
        ((0, 10), true, write("m/a", "x", Some(2))),
        // m/a is missing from a listing after its write completed.
        ((20, 30), true, Call::List("m/".into(), vec![])),
    ];
    assert!(!linearizable(calls));
    let calls = vec![
        ((0, 10), true, write("m/a", "x", Some(2))),
        (
            (20, 30),
            true,
            Call::List("m/".into(), vec![("m/a".into(), ("x".into(), 2))]),
        ),
    ];
    assert!(linearizable(calls));
}
