//! One workload client's side of the run's history: its invocations and
//! completions as operation events on the run's [`Clock`], stamped with its
//! time, shared by the register and the set workloads so that both write
//! `history.jsonl` the same way.

use clusterlab_core::history::{Event, Func, Type};
use clusterlab_core::trace::EventKind;
use serde_json::Value;

use crate::world::clock::Clock;
use crate::world::kind::Answer;

/// A client as the history names it.
#[derive(Debug, Clone, Copy)]
pub struct OpClient<'a> {
    /// The run's clock and trace.
    pub rec: &'a Clock,
    /// The client's number.
    pub client: u64,
    /// The node its operation goes to.
    pub node: &'a str,
}

/// What an invocation carries: a write's or add's value, a
/// compare-and-set's expected and new values.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// A write's or add's value.
    pub value: Option<Value>,
    /// A compare-and-set's expected value.
    pub from: Option<Value>,
    /// A compare-and-set's new value.
    pub to: Option<Value>,
}

impl OpClient<'_> {
    fn now_us(&self) -> u64 {
        u64::try_from(self.rec.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn push(&self, kind: Type, f: Func, key: &str, args: Args, time_us: u64) {
        self.rec.push(EventKind::Op(Event {
            kind,
            client: self.client,
            f,
            key: key.to_string(),
            value: args.value,
            from: args.from,
            to: args.to,
            time_us,
            node: Some(self.node.to_string()),
        }));
    }

    /// Records the invocation; returns its time.
    pub fn invoke(&self, f: Func, key: &str, args: Args) -> u64 {
        let t = self.now_us();
        self.push(Type::Invoke, f, key, args, t);
        t
    }

    /// Records the completion of the operation invoked at `invoked`; a
    /// read's result is `read(value)`.
    pub fn complete(
        &self,
        f: Func,
        key: &str,
        a: Answer,
        invoked: u64,
        read: impl FnOnce(Option<String>) -> Option<Value>,
    ) {
        let (kind, value) = match a {
            Answer::Ok(v) => (Type::Ok, read(v)),
            Answer::Fail => (Type::Fail, None),
            Answer::Unknown => (Type::Unknown, None),
        };
        let args = Args {
            value,
            ..Args::default()
        };
        self.push(kind, f, key, args, self.now_us().max(invoked));
    }
}
