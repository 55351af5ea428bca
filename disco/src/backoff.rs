//! Exponential backoff with deterministic jitter.
//!
//! Jitter comes from a hash of a caller-chosen seed (the node id) and the
//! attempt number, not from a thread RNG, so the simulator replays it
//! exactly and nodes that fail together still retry at different times.

use std::time::Duration;

/// Backoff state for one retry loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    /// A backoff starting at `base`, doubling up to `max`, jittered by `seed`.
    pub fn new(base: Duration, max: Duration, seed: &str) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
            seed: fnv1a(seed.as_bytes()),
        }
    }

    /// The default for registry retries: 100 ms doubling to 5 s.
    pub fn for_registry(seed: &str) -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5), seed)
    }

    /// For work that keeps a lease of `ttl` alive (registering, renewing,
    /// campaigning): 100 ms doubling to a third of the TTL, so that a node
    /// cut off for longer than its lease is back within one renewal
    /// interval of the store answering again.
    pub fn for_lease(seed: &str, ttl: Duration) -> Self {
        let max = (ttl / 3).max(Duration::from_millis(100));
        Backoff::new(Duration::from_millis(100), max, seed)
    }

    /// How many delays have been handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The next delay: `base * 2^attempt`, capped at `max`, then scaled into
    /// [50%, 100%] by the jitter.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        let capped = exp.min(self.max);
        let mix = fnv1a(
            &[
                self.seed.to_le_bytes(),
                u64::from(self.attempt).to_le_bytes(),
            ]
            .concat(),
        );
        self.attempt = self.attempt.saturating_add(1);
        let frac = 0.5 + (mix % 1000) as f64 / 2000.0;
        capped.mul_f64(frac)
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// FNV-1a: a tiny, stable hash (std's hasher is randomly seeded per process).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_is_deterministic() {
        let mut a = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), "n1");
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), "n1");
        let da: Vec<_> = (0..8).map(|_| a.next_delay()).collect();
        let db: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        assert_eq!(da, db, "same seed, same delays");
        assert!(da[0] >= Duration::from_millis(50) && da[0] <= Duration::from_millis(100));
        assert!(da[3] >= Duration::from_millis(400), "doubles: {da:?}");
        assert!(
            da.iter().all(|d| *d <= Duration::from_secs(1)),
            "capped: {da:?}"
        );
        let mut c = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), "n2");
        let dc: Vec<_> = (0..8).map(|_| c.next_delay()).collect();
        assert_ne!(da, dc, "another seed jitters differently");
        a.reset();
        assert_eq!(a.attempt(), 0);
    }
}
