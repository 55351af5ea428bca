//! The exits and starts a run causes and the lives of its containers,
//! shared with the watcher of Docker's `die` and `start` events.

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
    /// Starts asked for here and not yet seen by the watcher.
    starting: BTreeMap<String, u32>,
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

    /// Asks for a start of container `name` (`start`), marked as this
    /// run's before it is asked for (the watcher may see it before the
    /// call returns), forgotten if it fails, counted as a life if not.
    pub(super) async fn start<T, E>(
        &self,
        name: &str,
        start: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        *self.marks().starting.entry(name.to_string()).or_default() += 1;
        let r = start.await;
        let mut m = self.marks();
        match &r {
            Ok(_) => *m.starts.entry(name.to_string()).or_default() += 1,
            Err(_) => {
                if let Some(n) = m.starting.get_mut(name) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        r
    }

    /// The watcher saw container `name` start: whether the engine started
    /// it on its own (a restart policy), not this run (then it is counted
    /// as a life here; a start asked for here is counted by the asker).
    pub fn engine_started(&self, name: &str) -> bool {
        let mut m = self.marks();
        match m.starting.get_mut(name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => {
                *m.starts.entry(name.to_string()).or_default() += 1;
                true
            }
        }
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
