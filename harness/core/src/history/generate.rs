//! Histories made to measure, for the checker's tests and benchmarks: many
//! clients on a few keys, each operation taking effect at a point inside
//! its interval, so that the history is linearizable by construction (and
//! stays so with unknown outcomes, half of which never took effect).
//! `stale` then plants anomalies a checker must find.

use super::{Func, Op, Outcome};
use crate::fault::pick::Picker;

/// The shape of a generated history.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Operations in all.
    pub ops: usize,
    /// Keys.
    pub keys: usize,
    /// Clients issuing at once.
    pub clients: usize,
    /// Share of operations whose outcome is unknown, in per mille.
    pub unknown_permille: usize,
    /// Seed.
    pub seed: u64,
}

/// A linearizable history of `shape`, operations by invocation time.
pub fn linearizable(shape: Shape) -> Vec<Op> {
    let mut rng = Picker::for_fault(shape.seed, 0);
    // Each client runs its operations back to back with small gaps; an
    // operation's effect lands at a point inside its interval.
    struct Planned {
        op: Op,
        point: u64,
        applies: bool,
    }
    let mut planned = Vec::with_capacity(shape.ops);
    let mut clock = vec![0u64; shape.clients];
    let mut next_value = 0u64;
    for i in 0..shape.ops {
        let c = i % shape.clients;
        let invoke = clock[c] + 1 + rng.below(50) as u64;
        let took = 1 + rng.below(400) as u64;
        let point = invoke + rng.below(took as usize) as u64;
        clock[c] = invoke + took;
        let key = format!("k{}", rng.below(shape.keys));
        let f = match rng.below(10) {
            0..=4 => Func::Read,
            5..=7 => Func::Write,
            _ => Func::Cas,
        };
        next_value += 1;
        let unknown = rng.below(1000) < shape.unknown_permille && f != Func::Read;
        planned.push(Planned {
            op: Op {
                id: i,
                client: c as u64,
                f,
                key,
                value: Some(next_value.to_string()),
                from: None,
                invoke_us: invoke,
                complete_us: (!unknown).then_some(invoke + took),
                outcome: if unknown {
                    Outcome::Unknown
                } else {
                    Outcome::Ok(None)
                },
                line: 0,
                node: None,
            },
            point,
            applies: !unknown || rng.below(2) == 0,
        });
    }
    // Apply the effects in the order of their points: reads see the value
    // then; a compare-and-set expects it (so it succeeds, as an `ok` one
    // must).
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].point, i));
    let mut value: std::collections::HashMap<String, Option<String>> = Default::default();
    for i in order {
        let p = &mut planned[i];
        let current = value.get(&p.op.key).cloned().unwrap_or(None);
        match p.op.f {
            Func::Read => {
                p.op.value = None;
                p.op.outcome = Outcome::Ok(Some(current));
            }
            Func::Write => {
                if p.applies {
                    value.insert(p.op.key.clone(), p.op.value.clone());
                }
            }
            Func::Add => {}
            Func::Cas => {
                p.op.from = current;
                if p.applies {
                    value.insert(p.op.key.clone(), p.op.value.clone());
                }
            }
        }
    }
    let mut ops: Vec<Op> = planned.into_iter().map(|p| p.op).collect();
    ops.sort_by_key(|o| (o.invoke_us, o.id));
    for (i, o) in ops.iter_mut().enumerate() {
        o.id = i;
    }
    ops
}

/// Makes `n` reads that completed after a write return the key's value
/// from before it: stale reads, as a member cut off from its quorum
/// serves them. Returns how many it planted.
pub fn stale(ops: &mut [Op], n: usize) -> usize {
    let mut planted = 0;
    for i in 0..ops.len() {
        if planted == n {
            break;
        }
        let (Func::Write, Some(done)) = (ops[i].f, ops[i].complete_us) else {
            continue;
        };
        let key = ops[i].key.clone();
        let written = ops[i].value.clone();
        // What the key held for certain before the write began: the last
        // acknowledged write to it that completed before. Values are
        // unique, so a read after the write returning it is stale.
        let before = ops[..i]
            .iter()
            .filter(|w| {
                w.key == key
                    && w.f != Func::Read
                    && w.complete_us.is_some_and(|t| t < ops[i].invoke_us)
            })
            .max_by_key(|w| w.complete_us)
            .and_then(|w| w.value.clone());
        // The first read of this key invoked after the write completed
        // and still returning what it wrote.
        if let Some(r) = ops[i + 1..].iter_mut().find(|r| {
            r.key == key
                && r.f == Func::Read
                && r.invoke_us > done
                && r.outcome == Outcome::Ok(Some(written.clone()))
        }) {
            r.outcome = Outcome::Ok(Some(before));
            planted += 1;
        }
    }
    planted
}
