//! Faults that live inside the simulated store, set by the driver and read
//! by the model servers: how they answer each client (replies lost or
//! late), how their lease clock runs (drift, jumps), which watches they
//! cancel, and whether Consul's index has gone back.
//!
//! Replies to lose are picked by a counter-driven mix, not a random
//! generator, so that a seed still replays byte for byte.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// What happens to one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Sent as usual.
    Deliver,
    /// Applied, but never answered.
    Lose,
    /// Answered this much later.
    Delay(Duration),
}

/// How replies to one client go wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Replies {
    loss_ppm: u32,
    delay: Duration,
}

/// The store's lease clock: `base_store` at real time `base_real`,
/// running `rate` times real speed since.
#[derive(Debug, Clone, Copy)]
struct Shift {
    base_real: Duration,
    base_store: Duration,
    rate: f64,
}

impl Shift {
    fn at(&self, real: Duration) -> Duration {
        self.base_store + real.saturating_sub(self.base_real).mul_f64(self.rate)
    }
}

#[derive(Debug)]
struct Inner {
    replies: BTreeMap<IpAddr, Replies>,
    counter: u64,
    shift: Shift,
    index_back: bool,
}

/// Shared by the driver and the store's servers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Chaos {
    inner: Arc<Mutex<Inner>>,
    cancels: Arc<watch::Sender<u64>>,
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos {
            inner: Arc::new(Mutex::new(Inner {
                replies: BTreeMap::new(),
                counter: 0,
                shift: Shift {
                    base_real: Duration::ZERO,
                    base_store: Duration::ZERO,
                    rate: 1.0,
                },
                index_back: false,
            })),
            cancels: Arc::new(watch::channel(0).0),
        }
    }
}

impl Chaos {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("chaos lock"))
    }

    /// The fate of the next reply to `peer` (`None`: an unknown client).
    pub fn fate(&self, peer: Option<IpAddr>) -> Fate {
        let Some(peer) = peer else {
            return Fate::Deliver;
        };
        self.with(|i| {
            let Some(r) = i.replies.get(&peer).copied() else {
                return Fate::Deliver;
            };
            i.counter += 1;
            if r.loss_ppm > 0 && (mix(i.counter) % 1_000_000) < u64::from(r.loss_ppm) {
                Fate::Lose
            } else if r.delay > Duration::ZERO {
                Fate::Delay(r.delay)
            } else {
                Fate::Deliver
            }
        })
    }

    /// Loses this many millionths of the replies to `peer` (0: none).
    pub fn lose_replies(&self, peer: IpAddr, ppm: u32) {
        self.with(|i| i.replies.entry(peer).or_default().loss_ppm = ppm);
    }

    /// Delays every reply to `peer` by `delay` (zero: none).
    pub fn delay_replies(&self, peer: IpAddr, delay: Duration) {
        self.with(|i| i.replies.entry(peer).or_default().delay = delay);
    }

    /// The store's clock at real (simulated) time `real`.
    pub fn store_time(&self, real: Duration) -> Duration {
        self.with(|i| i.shift.at(real))
    }

    /// From real time `now` on, the store's clock runs at `rate`.
    pub fn clock_rate(&self, now: Duration, rate: f64) {
        self.with(|i| {
            let at = i.shift.at(now);
            i.shift = Shift {
                base_real: now,
                base_store: at,
                rate,
            };
        });
    }

    /// The store's clock jumps forward by `by` at real time `now`.
    pub fn clock_jump(&self, now: Duration, by: Duration) {
        self.with(|i| {
            let at = i.shift.at(now);
            i.shift = Shift {
                base_real: now,
                base_store: at + by,
                rate: i.shift.rate,
            };
        });
    }

    /// Cancels every watch the store serves.
    pub fn cancel_watches(&self) {
        self.cancels.send_modify(|g| *g += 1);
    }

    /// A receiver that changes when watches are cancelled.
    pub fn cancels(&self) -> watch::Receiver<u64> {
        self.cancels.subscribe()
    }

    /// Whether Consul's index is reported gone back.
    pub fn index_back(&self) -> bool {
        self.with(|i| i.index_back)
    }

    /// Sets whether Consul's index is reported gone back.
    pub fn set_index_back(&self, back: bool) {
        self.with(|i| i.index_back = back);
    }
}

/// splitmix64: a fixed mix of a counter, so lost replies replay exactly.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_clock_drifts_and_jumps() {
        let c = Chaos::default();
        let s = Duration::from_secs;
        assert_eq!(c.store_time(s(10)), s(10));
        c.clock_rate(s(10), 2.0);
        assert_eq!(c.store_time(s(12)), s(14));
        c.clock_jump(s(12), s(5));
        assert_eq!(c.store_time(s(12)), s(19));
        c.clock_rate(s(13), 1.0);
        assert_eq!(c.store_time(s(14)), s(22));
    }

    #[test]
    fn a_fraction_of_replies_is_lost_and_the_rest_delayed() {
        let c = Chaos::default();
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(c.fate(Some(peer)), Fate::Deliver);
        c.lose_replies(peer, 500_000);
        c.delay_replies(peer, Duration::from_millis(300));
        let fates: Vec<Fate> = (0..1000).map(|_| c.fate(Some(peer))).collect();
        let lost = fates.iter().filter(|f| **f == Fate::Lose).count();
        assert!((400..600).contains(&lost), "{lost} of 1000 lost");
        assert!(fates.contains(&Fate::Delay(Duration::from_millis(300))));
        assert_eq!(c.fate(None), Fate::Deliver);
    }
}
