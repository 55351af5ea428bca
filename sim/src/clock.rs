//! The models' clock: simulated time under turmoil, so that lease and
//! session deadlines survive a restart of the registry host; outside a
//! simulation (the differential tests), time since the store started. The
//! store's clock may drift or jump from the nodes' ([`Chaos`]).

use std::time::Duration;

use tokio::time::Instant;

use crate::chaos::Chaos;

/// Where a model store reads the time.
#[derive(Debug, Clone)]
pub struct Clock {
    start: Instant,
    chaos: Chaos,
}

impl Clock {
    /// A clock whose non-simulated time starts now, shifted by `chaos`.
    pub fn start(chaos: Chaos) -> Clock {
        Clock {
            start: Instant::now(),
            chaos,
        }
    }

    /// The current time, on the store's own clock.
    pub fn now(&self) -> Duration {
        let real = turmoil::sim_elapsed().unwrap_or_else(|| self.start.elapsed());
        self.chaos.store_time(real)
    }
}
