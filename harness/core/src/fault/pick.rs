//! The seeded picker: where a fault's target is a choice (`random`, which
//! `follower`), the choice comes from the run's seed and the fault's index,
//! never from how many choices came before, so that the same seed picks the
//! same node in every world.

/// A splitmix64 stream for one fault.
#[derive(Debug, Clone)]
pub struct Picker {
    state: u64,
}

impl Picker {
    /// The picker of fault `fault` in a run seeded with `seed`.
    pub fn for_fault(seed: u64, fault: usize) -> Picker {
        let mut p = Picker {
            state: seed ^ (fault as u64).wrapping_mul(0xa076_1d64_78bd_642f),
        };
        p.next();
        p
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An index below `len` (0 when `len` is 0).
    pub fn below(&mut self, len: usize) -> usize {
        (self.next() % len.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_fault_same_picks_and_others_differ() {
        let picks = |seed, fault| {
            let mut p = Picker::for_fault(seed, fault);
            (0..16).map(|_| p.below(5)).collect::<Vec<_>>()
        };
        assert_eq!(picks(7, 0), picks(7, 0));
        assert_ne!(picks(7, 0), picks(7, 1));
        assert_ne!(picks(7, 0), picks(8, 0));
        assert!(picks(7, 0).iter().all(|i| *i < 5));
    }
}
