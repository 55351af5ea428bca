//! The linearizability checker against histories whose verdict is known:
//! generated linearizable ones (with unknown outcomes) must pass, planted
//! stale reads must fail, a pathological one must say its budget ran out,
//! and thousands of small random histories must get the same verdict from
//! stateright's `LinearizabilityTester`, an independent exhaustive search.

use clusterlab_core::fault::pick::Picker;
use clusterlab_core::history::generate::{self, Shape};
use clusterlab_core::history::linearizable::{check, check_key, Budget, Verdict};
use clusterlab_core::history::{parse, Op};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

#[test]
fn generated_linearizable_histories_pass_and_planted_stale_reads_fail() {
    for seed in 0..200 {
        let shape = Shape {
            ops: 300,
            keys: 1 + (seed as usize % 5),
            clients: 2 + (seed as usize % 10),
            unknown_permille: 50,
            seed,
        };
        let mut ops = generate::linearizable(shape);
        for (key, v) in check(&ops, Budget::default()) {
            assert_eq!(v, Verdict::Linearizable, "seed {seed}, key {key}");
        }
        let planted = generate::stale(&mut ops, 1);
        if planted == 0 {
            continue;
        }
        let bad: Vec<_> = check(&ops, Budget::default())
            .into_iter()
            .filter(|(_, v)| matches!(v, Verdict::NotLinearizable(_)))
            .collect();
        assert_eq!(bad.len(), 1, "seed {seed}: the stale read is found");
        let Verdict::NotLinearizable(a) = &bad[0].1 else {
            unreachable!()
        };
        assert!(
            a.window.len() <= 12,
            "seed {seed}: a small window:\n{}",
            clusterlab_core::history::linearizable::table(a)
        );
        assert_window_is_evidence(a, seed);
    }
}

/// The window alone has no legal order, and it shows where its values
/// came from: of the values its operations read or expect, at most one (the
/// value the key held when the window opens) has no write in the window. A
/// window of two reads of different values with no write between them also
/// fails, but hides the write the stale read missed.
fn assert_window_is_evidence(a: &clusterlab_core::history::linearizable::Anomaly, seed: u64) {
    use clusterlab_core::history::{Func, Outcome};
    use std::collections::BTreeSet;
    let written: BTreeSet<_> = a
        .window
        .iter()
        .filter(|o| o.f != Func::Read)
        .map(|o| o.value.clone())
        .collect();
    let seen: BTreeSet<_> = a
        .window
        .iter()
        .filter_map(|o| match (o.f, &o.outcome) {
            (Func::Read, Outcome::Ok(Some(v))) => Some(v.clone()),
            (Func::Cas, _) => Some(o.from.clone()),
            _ => None,
        })
        .collect();
    let unexplained: Vec<_> = seen.difference(&written).collect();
    let table = clusterlab_core::history::linearizable::table(a);
    assert!(
        unexplained.len() <= 1,
        "seed {seed}: values {unexplained:?} come from nowhere:\n{table}"
    );
    // From any first value the window fails, so from none it does too.
    assert!(
        matches!(
            check_key(&a.key, a.window.clone(), Budget::default()),
            Verdict::NotLinearizable(_)
        ),
        "seed {seed}: the window fails on its own:\n{table}"
    );
}

#[test]
fn a_pathological_history_ends_with_unknown_not_a_hang() {
    // Thirty writes all concurrent, then a read no order explains: every
    // subset of the writes is a configuration.
    let mut text = String::new();
    for c in 0..30 {
        text += &format!(
            "{{\"type\":\"invoke\",\"client\":{c},\"f\":\"write\",\"key\":\"k\",\"value\":{c},\"time_us\":0}}\n"
        );
    }
    for c in 0..30 {
        text += &format!(
            "{{\"type\":\"ok\",\"client\":{c},\"f\":\"write\",\"key\":\"k\",\"time_us\":10}}\n"
        );
    }
    text += "{\"type\":\"invoke\",\"client\":99,\"f\":\"read\",\"key\":\"k\",\"time_us\":11}\n";
    text += "{\"type\":\"ok\",\"client\":99,\"f\":\"read\",\"key\":\"k\",\"value\":77,\"time_us\":12}\n";
    let ops = parse("p", &text).unwrap();
    let budget = Budget {
        steps: 200_000,
        configurations: 100_000,
    };
    match check_key("k", ops, budget) {
        Verdict::Unknown { reason } => {
            assert!(reason.contains("search budget exceeded"), "{reason}");
            assert!(reason.contains("31 operations"), "{reason}");
        }
        v => panic!("{v:?}"),
    }
}

/// The register as stateright sees it: read, write, compare-and-set.
#[derive(Clone, Debug, Default)]
struct Register(Option<u8>);

#[derive(Clone, Debug)]
enum ROp {
    Read,
    Write(u8),
    Cas(Option<u8>, u8),
}

#[derive(Clone, Debug, PartialEq)]
enum RRet {
    Read(Option<u8>),
    Write,
    Cas(bool),
}

impl SequentialSpec for Register {
    type Op = ROp;
    type Ret = RRet;
    fn invoke(&mut self, op: &ROp) -> RRet {
        match op {
            ROp::Read => RRet::Read(self.0),
            ROp::Write(v) => {
                self.0 = Some(*v);
                RRet::Write
            }
            ROp::Cas(from, to) => {
                let ok = self.0 == *from;
                if ok {
                    self.0 = Some(*to);
                }
                RRet::Cas(ok)
            }
        }
    }
}

/// One random small history, as events for both checkers: 2-3 clients of
/// 1-3 operations, reads returning random values, acknowledged
/// compare-and-sets, a client's last operation sometimes unknown.
fn random_history(seed: u64) -> (String, Vec<(u64, ROp, Option<RRet>)>) {
    let mut rng = Picker::for_fault(seed, 7);
    let clients = 2 + rng.below(2);
    let mut plans: Vec<Vec<(ROp, Option<RRet>)>> = Vec::new();
    let val = |rng: &mut Picker| match rng.below(3) {
        0 => None,
        n => Some(n as u8),
    };
    for _ in 0..clients {
        let n = 1 + rng.below(3);
        let mut ops = Vec::new();
        for i in 0..n {
            let unknown = i == n - 1 && rng.below(4) == 0;
            let op = match rng.below(3) {
                0 => ROp::Read,
                1 => ROp::Write(1 + rng.below(2) as u8),
                _ => ROp::Cas(val(&mut rng), 1 + rng.below(2) as u8),
            };
            let ret = match (&op, unknown) {
                (_, true) => None,
                (ROp::Read, _) => Some(RRet::Read(val(&mut rng))),
                (ROp::Write(_), _) => Some(RRet::Write),
                (ROp::Cas(..), _) => Some(RRet::Cas(true)),
            };
            let unknown_read = matches!(op, ROp::Read) && ret.is_none();
            if !unknown_read {
                ops.push((op, ret));
            }
        }
        plans.push(ops);
    }
    // Interleave invocations and completions at random, one event per
    // microsecond.
    let mut next = vec![(0usize, false); clients];
    let mut events = Vec::new();
    let mut text = String::new();
    let mut t = 0u64;
    loop {
        let open: Vec<usize> = (0..clients)
            .filter(|&c| {
                let (i, invoked) = next[c];
                i < plans[c].len() && !(invoked && plans[c][i].1.is_none())
            })
            .collect();
        if open.is_empty() {
            break;
        }
        let c = open[rng.below(open.len())];
        let (i, invoked) = next[c];
        let (op, ret) = plans[c][i].clone();
        t += 1;
        let json = |v: Option<u8>| v.map_or("null".to_string(), |v| v.to_string());
        let (f, args) = match &op {
            ROp::Read => ("read", String::new()),
            ROp::Write(v) => ("write", format!(",\"value\":{v}")),
            ROp::Cas(from, to) => ("cas", format!(",\"from\":{},\"to\":{to}", json(*from))),
        };
        if invoked {
            let value = match &ret {
                Some(RRet::Read(v)) => format!(",\"value\":{}", json(*v)),
                _ => String::new(),
            };
            text += &format!(
                "{{\"type\":\"ok\",\"client\":{c},\"f\":\"{f}\",\"key\":\"k\"{value},\"time_us\":{t}}}\n"
            );
            events.push((c as u64, op, ret));
            next[c] = (i + 1, false);
        } else {
            text += &format!(
                "{{\"type\":\"invoke\",\"client\":{c},\"f\":\"{f}\",\"key\":\"k\"{args},\"time_us\":{t}}}\n"
            );
            events.push((c as u64, op, None));
            next[c] = (i, true);
        }
    }
    (text, events)
}

/// stateright's verdict: events are (client, op, None) for an invocation
/// and (client, op, Some(ret)) for a completion.
fn stateright_says(events: &[(u64, ROp, Option<RRet>)]) -> bool {
    let mut t = LinearizabilityTester::new(Register::default());
    for (c, op, ret) in events {
        match ret {
            None => t.on_invoke(*c, op.clone()).unwrap(),
            Some(r) => t.on_return(*c, r.clone()).unwrap(),
        };
    }
    t.is_consistent()
}

#[test]
fn same_verdicts_as_stateright_on_thousands_of_small_histories() {
    let (mut agree, mut bad) = (0, 0);
    for seed in 0..20_000 {
        let (text, events) = random_history(seed);
        let ops: Vec<Op> = parse("random", &text).unwrap();
        let ours = check_key("k", ops, Budget::default());
        let theirs = stateright_says(&events);
        assert_eq!(
            ours == Verdict::Linearizable,
            theirs,
            "seed {seed}: ours {ours:?}, stateright {theirs}\n{text}"
        );
        agree += 1;
        bad += usize::from(!theirs);
    }
    println!("{agree} histories, same verdict; {bad} not linearizable");
    assert!(
        bad > 2_000 && bad < 18_000,
        "both verdicts are exercised: {bad}"
    );
}
