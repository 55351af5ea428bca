//! The register every key is: what a read may return and what a write or a
//! compare-and-set leaves behind, as etcd and Consul KV promise it for one
//! key (a put replaces the value; a compare-and-set applies only when the
//! current value is the expected one; a read returns the last value
//! applied, or nothing).

use super::{Func, Op, Outcome, Value};

/// The register's state as the checker knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum State {
    /// Any value: the start of a window cut out of a longer history.
    Any,
    /// This value (`None`: absent).
    Known(Value),
}

/// The state after `op` takes effect in `s`, or `None` if it cannot take
/// effect there (a read of another value, a compare-and-set that was
/// acknowledged although the value differed).
pub fn step(s: &State, op: &Op) -> Option<State> {
    match (op.f, &op.outcome) {
        (Func::Read, Outcome::Ok(Some(read))) => match s {
            State::Any => Some(State::Known(read.clone())),
            State::Known(v) => (v == read).then(|| s.clone()),
        },
        // A read whose result is unknown says nothing.
        (Func::Read, _) => Some(s.clone()),
        (Func::Write, _) => Some(State::Known(op.value.clone())),
        // Not a register operation: the set checker judges it.
        (Func::Add, _) => None,
        (Func::Cas, _) => match s {
            State::Known(v) if *v != op.from => None,
            _ => Some(State::Known(op.value.clone())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(f: Func, value: Option<&str>, from: Option<&str>, read: Option<Option<&str>>) -> Op {
        Op {
            id: 0,
            client: 0,
            f,
            key: "k".into(),
            value: value.map(str::to_string),
            from: from.map(str::to_string),
            invoke_us: 0,
            complete_us: Some(1),
            outcome: Outcome::Ok(read.map(|r| r.map(str::to_string))),
            line: 1,
            node: None,
        }
    }

    #[test]
    fn reads_writes_and_compare_and_set() {
        let one = State::Known(Some("1".into()));
        let read1 = op(Func::Read, None, None, Some(Some("1")));
        assert_eq!(step(&one, &read1), Some(one.clone()));
        assert_eq!(step(&State::Known(None), &read1), None);
        assert_eq!(step(&State::Any, &read1), Some(one.clone()));
        let cas = op(Func::Cas, Some("2"), Some("1"), None);
        assert_eq!(step(&one, &cas), Some(State::Known(Some("2".into()))));
        assert_eq!(step(&State::Known(Some("3".into())), &cas), None);
        let w = op(Func::Write, Some("9"), None, None);
        assert_eq!(step(&one, &w), Some(State::Known(Some("9".into()))));
    }
}
