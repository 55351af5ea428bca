//! The run's clock and trace, shared by the observer, the writer and the
//! fault schedule: every event is stamped with the time since the cluster
//! nodes were started.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_scenario::trace::{EventKind, Trace};
use tokio::time::Instant;

/// A cheap handle; clones share one trace.
#[derive(Debug, Clone)]
pub struct Recorder {
    start: Arc<Mutex<Instant>>,
    trace: Arc<Mutex<Trace>>,
}

impl Recorder {
    /// Starts the clock now.
    pub fn start() -> Recorder {
        Recorder {
            start: Arc::new(Mutex::new(Instant::now())),
            trace: Arc::default(),
        }
    }

    /// Moves the start to now (when the cluster nodes are started).
    pub fn restart(&self) {
        *self.start.lock().expect("recorder lock") = Instant::now();
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.lock().expect("recorder lock").elapsed()
    }

    /// The instant `at` after the start.
    pub fn instant(&self, at: Duration) -> Instant {
        *self.start.lock().expect("recorder lock") + at
    }

    /// Records `kind` now.
    pub fn push(&self, kind: EventKind) {
        let at = self.elapsed();
        self.trace.lock().expect("recorder lock").push(at, kind);
    }

    /// Records `kind` at an earlier time `at`, keeping the trace in order.
    pub fn insert(&self, at: Duration, kind: EventKind) {
        let mut t = self.trace.lock().expect("recorder lock");
        t.push(at, kind);
        t.events.sort_by_key(|e| e.at_ms);
    }

    /// Records a failed check now.
    pub fn fail(&self, name: &str, detail: String) {
        self.push(EventKind::Check {
            name: name.into(),
            passed: false,
            detail,
        });
    }

    /// Whether `node` has ever been seen serving (leader or follower).
    pub fn has_answered(&self, node: &str) -> bool {
        use clusterlab_scenario::trace::NodeRole;
        self.trace.lock().expect("recorder lock").events.iter().any(|e| {
            matches!(&e.kind, EventKind::Role { node: n, role: NodeRole::Leader | NodeRole::Follower } if n == node)
        })
    }

    /// A copy of the trace so far.
    pub fn trace(&self) -> Trace {
        self.trace.lock().expect("recorder lock").clone()
    }
}
