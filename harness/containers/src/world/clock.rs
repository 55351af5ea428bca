//! The run's clock and trace, shared by the observer, the writer and the
//! fault schedule: every event is stamped with the time since the cluster
//! nodes were started.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_core::trace::{EventKind, Trace};
use tokio::time::Instant;

/// A cheap handle; clones share one trace.
#[derive(Debug, Clone)]
pub struct Clock {
    start: Arc<Mutex<Instant>>,
    /// The start on the machine's monotonic clock, in ns: agents' journals
    /// are written on it.
    start_mono_ns: Arc<Mutex<u64>>,
    trace: Arc<Mutex<Trace>>,
}

impl Clock {
    /// Starts the clock now.
    pub fn start() -> Clock {
        Clock {
            start: Arc::new(Mutex::new(Instant::now())),
            start_mono_ns: Arc::new(Mutex::new(disco::journal::mono_now_ns())),
            trace: Arc::default(),
        }
    }

    /// Moves the start to now (when the cluster nodes are started).
    pub fn restart(&self) {
        *self.start.lock().expect("clock lock") = Instant::now();
        *self.start_mono_ns.lock().expect("clock lock") = disco::journal::mono_now_ns();
    }

    /// The run time of an instant on the machine's monotonic clock (ns),
    /// as agents' journals give them; zero for one before the start.
    pub fn since_mono(&self, mono_ns: u64) -> Duration {
        let zero = *self.start_mono_ns.lock().expect("clock lock");
        Duration::from_nanos(mono_ns.saturating_sub(zero))
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.lock().expect("clock lock").elapsed()
    }

    /// The instant `at` after the start.
    pub fn instant(&self, at: Duration) -> Instant {
        *self.start.lock().expect("clock lock") + at
    }

    /// Records `kind` now.
    pub fn push(&self, kind: EventKind) {
        let at = self.elapsed();
        self.trace.lock().expect("clock lock").push(at, kind);
    }

    /// Records `kind` at a time `at` that may be earlier than now, keeping
    /// the trace in order (after every event at the same millisecond).
    pub fn insert(&self, at: Duration, kind: EventKind) {
        let at_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        let mut t = self.trace.lock().expect("clock lock");
        let pos = t.events.partition_point(|e| e.at_ms <= at_ms);
        t.events
            .insert(pos, clusterlab_core::trace::Event { at_ms, kind });
    }

    /// A copy of the trace so far.
    pub fn trace(&self) -> Trace {
        self.trace.lock().expect("clock lock").clone()
    }
}
