//! A delaying packet queue: this kernel has no netem, but it has
//! `nfnetlink_queue`. An `iptables -j NFQUEUE` rule hands a namespace's
//! packets to a thread of ours that entered the same namespace; the thread
//! holds each packet for its drawn delay and then lets it go (a verdict may
//! be given in any order, so packets with shorter delays overtake). It
//! works for TCP and UDP alike, and for anything that runs in the
//! container: nothing is installed in the image.
//!
//! The rule carries `--queue-bypass`: while no thread serves the queue
//! (before it starts, after it stops, after a crash of the harness) packets
//! pass unshaped rather than being dropped.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clusterlab_core::fault::Shaping;

/// How long the thread sleeps at most between looks at the queue while
/// packets flow: a packet waits up to this long to be seen (the queue has
/// no file descriptor to wait on), so it bounds the error of every delay.
const TICK: Duration = Duration::from_micros(500);

/// The same once the link has been quiet for [`QUIET`] with nothing held:
/// an idle shaper costs a quarter as much, and only the first packet after
/// a lull may be up to this late.
const IDLE_TICK: Duration = Duration::from_millis(2);

/// How long a link must be quiet before the shaper looks less often.
const QUIET: Duration = Duration::from_millis(100);

/// A shaper that could not start or failed while running.
#[derive(Debug, thiserror::Error)]
pub enum ShaperError {
    /// Entering the namespace, opening or binding the queue failed.
    #[error("packet queue {queue} in {netns}: {step}: {source}; shaping needs root and the kernel's nfnetlink_queue")]
    Start {
        /// The namespace's path.
        netns: String,
        /// The queue number.
        queue: u16,
        /// What was being done.
        step: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The queue failed after it started.
    #[error("packet queue {queue}: {source}")]
    Run {
        /// The queue number.
        queue: u16,
        /// Why.
        source: std::io::Error,
    },
}

/// What a shaper did, reported when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets seen.
    pub packets: u64,
    /// Packets held before being let go.
    pub held: u64,
    /// CPU time the thread used.
    pub cpu: Duration,
}

/// A running delaying queue; stopping (or dropping) it lets every packet it
/// still holds go at once.
#[derive(Debug)]
pub struct Shaper {
    queue: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Stats, ShaperError>>>,
}

impl Shaper {
    /// Serves NFQUEUE `queue` in the network namespace `netns` (e.g.
    /// `/proc/<pid>/ns/net`), delaying packets as `shaping` says; `seed`
    /// fixes the sequence of draws. Returns once the queue is bound, so a
    /// rule added afterwards finds it served.
    pub fn start(
        netns: &Path,
        queue: u16,
        shaping: Shaping,
        seed: u64,
    ) -> Result<Shaper, ShaperError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let path: PathBuf = netns.to_path_buf();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("shaper-{queue}"))
            .spawn(move || {
                let fail = |step: &'static str, source: std::io::Error| ShaperError::Start {
                    netns: path.display().to_string(),
                    queue,
                    step,
                    source,
                };
                let q = enter(&path)
                    .map_err(|e| fail("entering the namespace", e))
                    .and_then(|()| open(queue).map_err(|(step, e)| fail(step, e)));
                match q {
                    Ok(q) => {
                        let _ = ready_tx.send(Ok(()));
                        serve(q, queue, shaping, seed, &flag)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        Ok(Stats::default())
                    }
                }
            })
            .map_err(|e| ShaperError::Start {
                netns: netns.display().to_string(),
                queue,
                step: "spawning its thread",
                source: e,
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Shaper {
                queue,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(ShaperError::Run {
                queue,
                source: std::io::Error::other("the shaper's thread ended before it was ready"),
            }),
        }
    }

    /// The queue number it serves.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Lets every held packet go and stops; what it did.
    pub fn stop(mut self) -> Result<Stats, ShaperError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<Stats, ShaperError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(ShaperError::Run {
                    queue: self.queue,
                    source: std::io::Error::other("the shaper's thread panicked"),
                })
            }),
            None => Ok(Stats::default()),
        }
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Moves this thread into the network namespace at `path`.
fn enter(path: &Path) -> std::io::Result<()> {
    let f = File::open(path)?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

/// Opens and binds `queue` for metadata only (verdicts need no payload).
fn open(queue: u16) -> Result<nfq::Queue, (&'static str, std::io::Error)> {
    let mut q = nfq::Queue::open().map_err(|e| ("opening a netfilter socket", e))?;
    q.bind(queue).map_err(|e| ("binding the queue", e))?;
    q.set_copy_range(queue, 0)
        .map_err(|e| ("asking for metadata only", e))?;
    // A full queue lets packets through rather than dropping them: a
    // shaper must delay, never lose.
    q.set_fail_open(queue, true)
        .map_err(|e| ("setting fail-open", e))?;
    q.set_queue_max_len(queue, 65_535)
        .map_err(|e| ("setting the queue's length", e))?;
    q.set_recv_gso(queue, true)
        .map_err(|e| ("accepting offloaded segments", e))?;
    q.set_nonblocking(true);
    Ok(q)
}

/// The draws of one shaper: splitmix64, so a seed gives one sequence.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// How long the next packet is held (zero: not at all).
    fn delay(&mut self, s: &Shaping) -> Duration {
        if !s.delays() || (self.next() % 1_000_000) >= u64::from(s.hold_ppm) {
            return Duration::ZERO;
        }
        let us = if s.jitter_us == 0 {
            s.delay_us
        } else {
            let lo = s.delay_us.saturating_sub(s.jitter_us);
            lo + self.next() % (s.delay_us + s.jitter_us - lo + 1)
        };
        Duration::from_micros(us)
    }
}

fn serve(
    mut q: nfq::Queue,
    queue: u16,
    shaping: Shaping,
    seed: u64,
    stop: &AtomicBool,
) -> Result<Stats, ShaperError> {
    let run = |source| ShaperError::Run { queue, source };
    let mut draws = Draws(seed ^ u64::from(queue));
    let mut held: BTreeMap<(Instant, u64), nfq::Message> = BTreeMap::new();
    let mut stats = Stats::default();
    let mut seq = 0u64;
    let accept = |q: &mut nfq::Queue, mut m: nfq::Message| {
        m.set_verdict(nfq::Verdict::Accept);
        q.verdict(m)
    };
    let mut last_seen = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        loop {
            match q.recv() {
                Ok(m) => {
                    last_seen = Instant::now();
                    stats.packets += 1;
                    let d = draws.delay(&shaping);
                    if d.is_zero() {
                        accept(&mut q, m).map_err(run)?;
                    } else {
                        stats.held += 1;
                        seq += 1;
                        held.insert((Instant::now() + d, seq), m);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(run(e)),
            }
        }
        let now = Instant::now();
        while let Some(entry) = held.first_entry() {
            if entry.key().0 > now {
                break;
            }
            accept(&mut q, entry.remove()).map_err(run)?;
        }
        let tick = if held.is_empty() && now.duration_since(last_seen) > QUIET {
            IDLE_TICK
        } else {
            TICK
        };
        let wait = held
            .first_key_value()
            .map_or(tick, |((due, _), _)| due.saturating_duration_since(now))
            .min(tick);
        std::thread::sleep(wait);
    }
    for (_, m) in std::mem::take(&mut held) {
        accept(&mut q, m).map_err(run)?;
    }
    stats.cpu = thread_cpu();
    Ok(stats)
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(Duration::ZERO, Duration::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_inside_the_asked_range_and_hold_the_asked_share() {
        let jitter = Shaping {
            delay_us: 50_000,
            jitter_us: 10_000,
            hold_ppm: 1_000_000,
            duplicate_ppm: 0,
        };
        let mut d = Draws(7);
        let all: Vec<Duration> = (0..10_000).map(|_| d.delay(&jitter)).collect();
        let (lo, hi) = jitter.range();
        assert!(all.iter().all(|x| *x >= lo && *x <= hi), "{lo:?}..{hi:?}");
        let mean = all.iter().sum::<Duration>() / 10_000;
        assert!(mean > Duration::from_millis(49) && mean < Duration::from_millis(51));
        let reorder = Shaping {
            delay_us: 100_000,
            jitter_us: 0,
            hold_ppm: 200_000,
            duplicate_ppm: 0,
        };
        let held = (0..10_000).filter(|_| !d.delay(&reorder).is_zero()).count();
        assert!((1_800..2_200).contains(&held), "{held} of 10,000 held");
        let dup = Shaping {
            duplicate_ppm: 500_000,
            ..Shaping::default()
        };
        assert!((0..100).all(|_| d.delay(&dup).is_zero()));
    }

    #[test]
    fn the_same_seed_draws_the_same_delays() {
        let s = Shaping {
            delay_us: 50_000,
            jitter_us: 10_000,
            hold_ppm: 500_000,
            duplicate_ppm: 0,
        };
        let (mut a, mut b) = (Draws(3), Draws(3));
        assert!((0..1000).all(|_| a.delay(&s) == b.delay(&s)));
    }
}
