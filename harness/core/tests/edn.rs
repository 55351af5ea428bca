//! Jepsen's EDN, both ways: a history written as EDN reads back as the same
//! operations with the same verdict, and a hand-written Jepsen history (the
//! one the book shows) is read and judged.

use clusterlab_core::history::{
    self, edn,
    generate::{self, Shape},
    linearizable::Budget,
    verdict::Judgement,
    Event, Func, Op, Outcome, Type,
};
use serde_json::Value as Json;

/// A JSON value of a register value (`None`: absent).
fn json(v: &Option<String>) -> Option<Json> {
    Some(
        v.as_deref()
            .map_or(Json::Null, |s| serde_json::from_str(s).unwrap()),
    )
}

/// The events of generated operations, in time order.
fn events(ops: &[Op]) -> Vec<Event> {
    let mut timed = Vec::new();
    for op in ops {
        let base = Event {
            kind: Type::Invoke,
            client: op.client,
            f: op.f,
            key: op.key.clone(),
            value: None,
            from: None,
            to: None,
            time_us: op.invoke_us,
            node: None,
        };
        let invoke = match op.f {
            Func::Read => base.clone(),
            Func::Write => Event {
                value: json(&op.value),
                ..base.clone()
            },
            Func::Cas => Event {
                from: json(&op.from),
                to: json(&op.value),
                ..base.clone()
            },
            Func::Add => unreachable!("generated histories are registers"),
        };
        let done = match &op.outcome {
            Outcome::Ok(read) => Event {
                kind: Type::Ok,
                value: read.as_ref().and_then(json),
                time_us: op.complete_us.unwrap(),
                ..base.clone()
            },
            Outcome::Unknown => Event {
                kind: Type::Unknown,
                time_us: op.invoke_us + 1,
                ..base.clone()
            },
        };
        timed.push((invoke.time_us, 1, invoke));
        timed.push((done.time_us, 0, done));
    }
    // A completion before an invocation at the same instant: a client's
    // next operation starts after its last one ended.
    timed.sort_by_key(|(t, order, e)| (*t, *order, e.client));
    timed.into_iter().map(|(_, _, e)| e).collect()
}

/// What the checker sees of an operation (not its client, id or line).
#[derive(Debug, PartialEq)]
struct Seen {
    key: String,
    invoke_us: u64,
    complete_us: Option<u64>,
    f: Func,
    value: Option<String>,
    from: Option<String>,
    outcome: Outcome,
}

fn seen(ops: &[Op]) -> Vec<Seen> {
    let mut v: Vec<Seen> = ops
        .iter()
        .map(|o| Seen {
            key: o.key.clone(),
            invoke_us: o.invoke_us,
            complete_us: o.complete_us,
            f: o.f,
            value: o.value.clone(),
            from: o.from.clone(),
            outcome: o.outcome.clone(),
        })
        .collect();
    v.sort_by(|a, b| {
        (&a.key, a.invoke_us, a.complete_us).cmp(&(&b.key, b.invoke_us, b.complete_us))
    });
    v
}

#[test]
fn a_history_written_as_edn_reads_back_the_same_with_the_same_verdict() {
    for seed in 0..20 {
        let mut ops = generate::linearizable(Shape {
            ops: 300,
            keys: 3,
            clients: 5,
            unknown_permille: 100,
            seed,
        });
        if seed % 2 == 1 {
            generate::stale(&mut ops, 2);
        }
        let events = events(&ops);
        let jsonl: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        let original = history::parse("history.jsonl", &jsonl).unwrap();

        let files = edn::write(&events);
        assert_eq!(files.len(), 3, "one file per key");
        let mut back = Vec::new();
        for (key, text) in &files {
            let name = format!("{key}.edn");
            let read = edn::read(&name, key, text).unwrap();
            // Jepsen's rule: a process is not used again after :info.
            let mut ended = std::collections::BTreeSet::new();
            for (_, e) in &read {
                assert!(
                    !ended.contains(&e.client),
                    "process {} reused after :info in {name}",
                    e.client
                );
                if e.kind == Type::Unknown {
                    ended.insert(e.client);
                }
            }
            back.extend(history::from_events(&name, read).unwrap());
        }
        assert_eq!(seen(&original), seen(&back), "seed {seed}");
        let (a, b) = (
            Judgement::of(&original, Budget::default()),
            Judgement::of(&back, Budget::default()),
        );
        assert_eq!(a.anomalies().count(), b.anomalies().count(), "seed {seed}");
        assert_eq!(a.undecided().count(), b.undecided().count(), "seed {seed}");
        if seed % 2 == 1 {
            assert!(
                b.anomalies().count() > 0,
                "seed {seed}: the planted stale reads are found in the EDN copy"
            );
        }
    }
}

const HAND_WRITTEN: &str = include_str!("data/jepsen-register.edn");

#[test]
fn a_hand_written_jepsen_history_is_read_and_judged() {
    let events = edn::read("jepsen-register.edn", "register", HAND_WRITTEN).unwrap();
    assert_eq!(events.len(), 6, "the nemesis's operation is skipped");
    assert_eq!(events[3].1.kind, Type::Fail);
    assert_eq!(
        events[3].0, 6,
        "events keep their lines (after the two comment lines)"
    );
    let ops = history::from_events("jepsen-register.edn", events).unwrap();
    assert_eq!(ops.len(), 2, "the failed compare-and-set did not happen");
    let judged = Judgement::of(&ops, Budget::default());
    let anomaly = judged
        .anomalies()
        .next()
        .expect("a read of 2 that nobody wrote");
    let table = history::linearizable::table(anomaly);
    assert!(table.contains("read"), "{table}");
}

#[test]
fn the_book_shows_the_hand_written_history_verbatim() {
    let page = include_str!("../../../docs/src/histories.md");
    let block = page
        .split("```edn\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/src/histories.md has an ```edn block");
    assert_eq!(
        block, HAND_WRITTEN,
        "docs/src/histories.md must show tests/data/jepsen-register.edn verbatim"
    );
}

/// One event of client `c` on `key` at `us`.
fn ev(kind: Type, c: u64, f: Func, key: &str, value: Option<Json>, us: u64) -> Event {
    Event {
        kind,
        client: c,
        f,
        key: key.into(),
        value,
        from: None,
        to: None,
        time_us: us,
        node: None,
    }
}

#[test]
fn the_writer_writes_jepsens_lines_exactly() {
    let cas = |kind| Event {
        from: Some(Json::from(1)),
        to: Some(Json::from("x\"y\n")),
        ..ev(kind, 9, Func::Cas, "k", None, 0)
    };
    let events = vec![
        ev(Type::Invoke, 7, Func::Write, "k", Some(Json::from(1)), 1),
        ev(Type::Unknown, 7, Func::Write, "k", None, 2),
        ev(Type::Invoke, 9, Func::Read, "k", None, 3),
        ev(Type::Ok, 9, Func::Read, "k", Some(Json::Null), 4),
        Event {
            time_us: 5,
            ..cas(Type::Invoke)
        },
        Event {
            time_us: 6,
            ..cas(Type::Fail)
        },
        ev(Type::Invoke, 7, Func::Read, "k", None, 7),
        ev(Type::Ok, 7, Func::Read, "k", Some(Json::from(1)), 8),
        // A set: its adds and its reads are not a register's.
        ev(Type::Invoke, 9, Func::Add, "s", Some(Json::from(3)), 9),
        ev(Type::Ok, 9, Func::Add, "s", None, 10),
        ev(Type::Invoke, 9, Func::Read, "s", None, 11),
        ev(
            Type::Ok,
            9,
            Func::Read,
            "s",
            Some(serde_json::json!([3])),
            12,
        ),
    ];
    let files = edn::write(&events);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["k"],
        "the set's key is left out"
    );
    let expected = "\
;; clusterlab history of key \"k\"
{:type :invoke, :f :write, :value 1, :process 0, :time 1000}
{:type :info, :f :write, :value 1, :process 0, :time 2000}
{:type :invoke, :f :read, :value nil, :process 2, :time 3000}
{:type :ok, :f :read, :value nil, :process 2, :time 4000}
{:type :invoke, :f :cas, :value [1 \"x\\\"y\\n\"], :process 2, :time 5000}
{:type :fail, :f :cas, :value [1 \"x\\\"y\\n\"], :process 2, :time 6000}
{:type :invoke, :f :read, :value nil, :process 1, :time 7000}
{:type :ok, :f :read, :value 1, :process 1, :time 8000}
";
    assert_eq!(
        files["k"], expected,
        "client 7 goes on as a new process (1) after its :info"
    );
    let back = edn::read("k.edn", "k", &files["k"]).unwrap();
    assert_eq!(
        back[4].1.to,
        Some(Json::from("x\"y\n")),
        "the string reads back"
    );
}

#[test]
fn times_a_few_nanoseconds_apart_stay_ordered() {
    let text = "\
{:type :invoke, :f :write, :value 1, :process 0, :time 1000100}
{:type :ok, :f :write, :value 1, :process 0, :time 1000200}
{:type :invoke, :f :read, :value nil, :process 1, :time 1000300}
{:type :ok, :f :read, :value 1, :process 1, :time 1000400}
";
    let times: Vec<u64> = edn::read("t.edn", "k", text)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.time_us)
        .collect();
    assert_eq!(
        times,
        [1000, 1001, 1002, 1003],
        "the read began after the write ended"
    );
}
