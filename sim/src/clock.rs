//! The models' clock: simulated time under turmoil, so that lease and
//! session deadlines survive a restart of the registry host; outside a
//! simulation (the differential tests), time since the store started.

use std::time::Duration;

use tokio::time::Instant;

/// Where a model store reads the time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose non-simulated time starts now.
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Duration {
        turmoil::sim_elapsed().unwrap_or_else(|| self.start.elapsed())
    }
}
