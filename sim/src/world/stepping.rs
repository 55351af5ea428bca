//! How the simulator moves time. turmoil steps every host by a fixed tick
//! and delivers messages only between steps, so a 50 ms tick cannot see a
//! race narrower than 50 ms, and a finer tick costs ticks x hosts. Event
//! stepping (our patch of turmoil, `sim/vendor/turmoil/PATCH.md`) runs a
//! host only when a message is due for it or a deadline it announced
//! through [`disco::timer`] falls due, and jumps over the time between: 1 ms
//! resolution, the cost of the events rather than of the idle time.

use std::time::Duration;

use turmoil::Sim;

/// How the simulator moves time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stepping {
    /// From one event to the next at 1 ms resolution, message latency
    /// [`EVENT_LATENCY`].
    #[default]
    Events,
    /// turmoil's fixed [`super::TICK`], every host each tick, message latency
    /// turmoil's default range (0 to 100 ms): the simulator before event
    /// stepping, kept to compare with.
    Ticks,
}

/// Message latency under event stepping, one way: as near a LAN's (well
/// under a millisecond) as tokio's timer resolution allows; turmoil draws
/// each message's from the range, weighted to its low end.
pub const EVENT_LATENCY: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_millis(2));

/// How long a running host may go without being run before the next sweep
/// runs it (so at most twice this): a guard for timers it did not announce
/// (a library's own, such as HTTP/2 keepalive), which otherwise fire only
/// when it next runs; a message one sends is then late if it falls due
/// before that run, and counted ([`Sim::late`]).
pub const MAX_LAG: Duration = Duration::from_millis(100);

/// The longest jump: the observer and the fault engine look at the world
/// at least this often (a leadership window ends, a fault waiting for a role
/// is tried again), within [`super::SLACK`].
pub const MAX_JUMP: Duration = Duration::from_millis(100);

/// The length of a host's run at an event: tokio's timer resolution.
const RUN: Duration = Duration::from_millis(1);

/// Moves `sim` forward once under event stepping: runs the hosts with
/// something due now (every host if `everyone`), or else jumps to the next
/// event, bounded by `bound` (the next fault) and [`MAX_JUMP`].
pub struct Events {
    last_sweep: Duration,
}

impl Events {
    /// Event stepping on `sim`, from its start.
    pub fn new(sim: &mut Sim<'_>) -> Events {
        sim.event_driven();
        Events {
            last_sweep: Duration::ZERO,
        }
    }

    /// One move: to the next event (or to `bound`, the next fault, or
    /// [`MAX_JUMP`] if sooner), then a run of the hosts with something due
    /// there; no host runs in between, so nothing but the time changes.
    /// Whether every client host has finished (turmoil's `step`'s answer).
    pub fn step(
        &mut self,
        sim: &mut Sim<'_>,
        everyone: bool,
        bound: Option<Duration>,
    ) -> turmoil::Result<bool> {
        let now = sim.elapsed();
        let sweep = self.last_sweep + MAX_LAG;
        let next = sim.next_event().map(ceil_ms);
        if !everyone && next.is_none_or(|t| t > now) && sweep > now {
            // A fault already due waits for a role: tried again after every
            // run and every jump, not every millisecond.
            let bound = bound.map(ceil_ms).filter(|b| *b > now);
            let until = [next, bound, Some(sweep), Some(now + MAX_JUMP)]
                .into_iter()
                .flatten()
                .min()
                .expect("a bound")
                .max(now + RUN);
            sim.advance(until - now);
            let fault = bound == Some(until);
            if fault || (next != Some(until) && sweep != until) {
                // A fault fires before anything runs; at a bound alone the
                // observer and the fault engine look.
                return Ok(false);
            }
        }
        let now = sim.elapsed();
        if sweep <= now {
            self.last_sweep = now;
        }
        sim.run_due(RUN, everyone, MAX_LAG)
    }
}

/// `t` rounded up to a whole millisecond: tokio's timers fire on those.
fn ceil_ms(t: Duration) -> Duration {
    let ms = t.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(ms as u64)
}

/// Tells turmoil of every deadline disco and the models set on this
/// thread, for the length of a run.
pub struct Announced;

impl Announced {
    /// Installs the hook.
    pub fn install() -> Announced {
        disco::timer::set_hook(Some(turmoil::wake_at));
        Announced
    }
}

impl Drop for Announced {
    fn drop(&mut self) {
        disco::timer::set_hook(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_the_millisecond_tokio_fires_them_on() {
        assert_eq!(
            ceil_ms(Duration::from_micros(1_000)),
            Duration::from_millis(1)
        );
        assert_eq!(
            ceil_ms(Duration::from_micros(1_001)),
            Duration::from_millis(2)
        );
        assert_eq!(ceil_ms(Duration::ZERO), Duration::ZERO);
    }
}
