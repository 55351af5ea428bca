//! The exits a run causes and the lives of its containers, shared with
//! the watcher of Docker's `die` events.

use std::collections::{BTreeMap, BTreeSet};

/// Containers this process is making exit (killed or stopped), shared
/// with whoever watches containers die, so that an exit a fault caused is
/// told apart from a crash; and each container's lives (starts here,
/// deaths the watcher has recorded), so that a run can tell when every
/// exit is on record.
#[derive(Debug, Clone, Default)]
pub struct Exits(std::sync::Arc<std::sync::Mutex<Marks>>);

#[derive(Debug, Default)]
struct Marks {
    expected: BTreeSet<String>,
    starts: BTreeMap<String, u32>,
    deaths: BTreeMap<String, u32>,
}

impl Exits {
    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.0.lock().expect("exits lock")
    }

    pub(super) fn expect(&self, name: &str) {
        self.marks().expected.insert(name.to_string());
    }

    pub(super) fn started(&self, name: &str) {
        *self.marks().starts.entry(name.to_string()).or_default() += 1;
    }

    /// Whether container `name`'s exit was caused here (and forgets it).
    pub fn caused(&self, name: &str) -> bool {
        self.marks().expected.remove(name)
    }

    /// The watcher has recorded a death of container `name`.
    pub fn died(&self, name: &str) {
        *self.marks().deaths.entry(name.to_string()).or_default() += 1;
    }

    /// Whether every life of container `name` started here has its death
    /// recorded: true once it is down and its exit is in the trace.
    pub fn all_deaths_recorded(&self, name: &str) -> bool {
        let m = self.marks();
        m.deaths.get(name).copied().unwrap_or(0) >= m.starts.get(name).copied().unwrap_or(0)
    }

    /// Forgets a mark whose kill or stop failed: the container was not
    /// running (it had died on its own), so its next exit is not ours.
    pub(super) fn unless<T, E>(&self, name: &str, r: Result<T, E>) -> Result<T, E> {
        if r.is_err() {
            self.caused(name);
        }
        r
    }
}
