//! Two network namespaces of our own joined by a veth pair, to measure the
//! shaper without containers: a UDP echo in one, a prober in the other.
//! Made with `ip netns` (iproute2) and removed on drop; nothing leaves
//! them.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The two ends.
#[derive(Debug)]
pub struct Testbed {
    names: [String; 2],
    stop: Arc<AtomicBool>,
}

/// The prober's address and the echo's.
pub const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 203, 0, 1), Ipv4Addr::new(10, 203, 0, 2)];

/// The echo's port.
pub const ECHO_PORT: u16 = 7007;

/// Runs `ip <pre> <args>`; its stderr is the error.
fn ip(pre: &[&str], args: &[&str]) -> std::io::Result<()> {
    let out = Command::new("ip").args(pre).args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip {} {}: {}",
            pre.join(" "),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn run(args: &[&str]) -> std::io::Result<()> {
    ip(&[], args)
}

impl Testbed {
    /// Makes the pair (`tag` keeps concurrent beds apart) and starts the
    /// echo in the second namespace.
    pub fn new(tag: &str) -> std::io::Result<Testbed> {
        let names = [0, 1].map(|i| format!("clab-{tag}-{}-{i}", std::process::id()));
        for n in &names {
            let _ = run(&["netns", "del", n]);
            run(&["netns", "add", n])?;
        }
        let bed = Testbed {
            names: names.clone(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (a, b) = (&names[0], &names[1]);
        let veth = format!("v{}", std::process::id() % 100_000);
        let peer = format!("{veth}p");
        run(&[
            "link", "add", &veth, "netns", a, "type", "veth", "peer", "name", &peer, "netns", b,
        ])?;
        for (ns, dev, ip) in [(a, &veth, ADDRS[0]), (b, &peer, ADDRS[1])] {
            run(&["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev])?;
            run(&["-n", ns, "link", "set", dev, "up"])?;
            run(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let path = bed.netns(1);
        let stop = bed.stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let sock = std::fs::File::open(&path)
                .and_then(|f| {
                    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(std::io::Error::from)
                })
                .and_then(|()| UdpSocket::bind((ADDRS[1], ECHO_PORT)));
            let sock = match sock {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        });
        rx.recv().map_err(std::io::Error::other)??;
        Ok(bed)
    }

    /// The path of namespace `i` (0: the prober's, 1: the echo's).
    pub fn netns(&self, i: usize) -> PathBuf {
        format!("/run/netns/{}", self.names[i]).into()
    }

    /// Runs `iptables -w <args>` in namespace `i`.
    pub fn iptables(&self, i: usize, args: &[&str]) -> std::io::Result<()> {
        ip(&["netns", "exec", &self.names[i], "iptables", "-w"], args)
    }

    /// Hands what the prober sends the echo to NFQUEUE `queue` (bypassed
    /// while nobody serves it).
    pub fn queue_to_echo(&self, queue: u16) -> std::io::Result<()> {
        let (q, echo) = (queue.to_string(), ADDRS[1].to_string());
        self.iptables(
            0,
            &[
                "-A",
                "OUTPUT",
                "-d",
                &echo,
                "-j",
                "NFQUEUE",
                "--queue-num",
                &q,
                "--queue-bypass",
            ],
        )
    }

    /// Runs `f` on a thread inside namespace `i`.
    pub fn inside<T: Send + 'static>(
        &self,
        i: usize,
        f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let path = self.netns(i);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path)?;
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)?;
            f()
        })
        .join()
        .map_err(|_| std::io::Error::other("the thread panicked"))?
    }

    /// `count` echo round trips from the prober, one every `every`; each
    /// one's time (a lost one, after `timeout`, is left out).
    pub fn round_trips(
        &self,
        count: usize,
        every: Duration,
        timeout: Duration,
    ) -> std::io::Result<Vec<Duration>> {
        self.inside(0, move || {
            let sock = UdpSocket::bind((ADDRS[0], 0))?;
            sock.set_read_timeout(Some(timeout))?;
            let to = SocketAddr::from((ADDRS[1], ECHO_PORT));
            let mut out = Vec::with_capacity(count);
            let mut buf = [0u8; 64];
            for i in 0..count as u64 {
                let t = Instant::now();
                sock.send_to(&i.to_be_bytes(), to)?;
                // Skip late answers to earlier probes.
                while let Ok((n, _)) = sock.recv_from(&mut buf) {
                    if n == 8 && buf[..8] == i.to_be_bytes() {
                        out.push(t.elapsed());
                        break;
                    }
                }
                std::thread::sleep(every.saturating_sub(t.elapsed()));
            }
            Ok(out)
        })
    }
}

impl Testbed {
    /// Sends `count` numbered datagrams to the echo, one every `gap`, and
    /// returns the numbers echoed back, in the order they came (until
    /// `quiet` passes with nothing).
    pub fn burst(&self, count: u64, gap: Duration, quiet: Duration) -> std::io::Result<Vec<u64>> {
        self.inside(0, move || {
            let sock = UdpSocket::bind((ADDRS[0], 0))?;
            let to = SocketAddr::from((ADDRS[1], ECHO_PORT));
            let rx = sock.try_clone()?;
            let reader = std::thread::spawn(move || {
                let _ = rx.set_read_timeout(Some(quiet));
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                while let Ok((n, _)) = rx.recv_from(&mut buf) {
                    if n == 8 {
                        got.push(u64::from_be_bytes(buf[..8].try_into().expect("8 bytes")));
                    }
                }
                got
            });
            for i in 0..count {
                sock.send_to(&i.to_be_bytes(), to)?;
                std::thread::sleep(gap);
            }
            reader
                .join()
                .map_err(|_| std::io::Error::other("the reader panicked"))
        })
    }

    /// Sends datagrams to the echo at `rate` per second for `secs`
    /// seconds (a load for measuring the shaper's cost).
    pub fn load(&self, rate: u32, secs: u32) -> std::io::Result<u64> {
        self.inside(0, move || {
            let sock = UdpSocket::bind((ADDRS[0], 0))?;
            let to = SocketAddr::from((ADDRS[1], ECHO_PORT));
            let start = Instant::now();
            let total = u64::from(rate) * u64::from(secs);
            for i in 0..total {
                let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                sock.send_to(&i.to_be_bytes(), to)?;
            }
            Ok(total)
        })
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for n in &self.names {
            let _ = run(&["netns", "del", n]);
        }
    }
}
