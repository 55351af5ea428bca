//! How close the shaper's delays come to what was asked, and what it costs:
//! `cargo bench -p clusterlab-containers --bench shaping` (root: it makes
//! two network namespaces). Asked 50 ms +- 10 ms one way, the echo's round
//! trip must come within 10% of the asked distribution's p50 and p99 (plus
//! the unshaped round trip); the CPU the shaper's thread used is reported
//! at idle, 1,000 and 10,000 packets per second.

use std::time::Duration;

use clusterlab_containers::netfault::shaper::Shaper;
use clusterlab_containers::netfault::testbed::Testbed;
use clusterlab_core::fault::Shaping;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> std::io::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let bed = Testbed::new("bench")?;
    let mut base = bed.round_trips(200, Duration::from_millis(2), Duration::from_secs(1))?;
    base.sort();
    let base50 = pct(&base, 0.5);

    // Accuracy: 50 ms +- 10 ms, uniform: p50 50 ms, p99 59.8 ms.
    let jitter = Shaping {
        delay_us: 50_000,
        jitter_us: 10_000,
        hold_ppm: 1_000_000,
        duplicate_ppm: 0,
    };
    let shaper = Shaper::start(&bed.netns(0), 0, jitter, 42).map_err(std::io::Error::other)?;
    bed.queue_to_echo(0)?;
    let mut rtt = bed.round_trips(1000, Duration::from_millis(5), Duration::from_secs(2))?;
    shaper.stop().map_err(std::io::Error::other)?;
    rtt.sort();
    let want = [
        (0.5, Duration::from_millis(50) + base50),
        (0.99, Duration::from_micros(59_800) + base50),
    ];
    println!(
        "shaping/accuracy: asked 50 ms +- 10 ms one way; unshaped round trip p50 {:.3} ms; {} probes",
        ms(base50),
        rtt.len()
    );
    let mut ok = true;
    for (p, expect) in want {
        let got = pct(&rtt, p);
        let err = (ms(got) - ms(expect)) / ms(expect) * 100.0;
        ok &= err.abs() <= 10.0;
        println!(
            "shaping/accuracy: p{:<4} measured {:7.3} ms, expected {:7.3} ms, error {:+.1}%",
            p * 100.0,
            ms(got),
            ms(expect),
            err
        );
    }
    println!(
        "shaping/accuracy: min {:.3} ms, max {:.3} ms: {}",
        ms(rtt[0]),
        ms(rtt[rtt.len() - 1]),
        if ok { "within 10%" } else { "OUTSIDE 10%" }
    );

    // Cost: a fixed 50 ms, the shaper thread's CPU over 5 s of load.
    let fixed = Shaping {
        delay_us: 50_000,
        hold_ppm: 1_000_000,
        ..Shaping::default()
    };
    for (q, rate) in [(1u16, 0u32), (2, 1_000), (3, 10_000)] {
        bed.iptables(0, &["-F", "OUTPUT"])?;
        let shaper = Shaper::start(&bed.netns(0), q, fixed, 7).map_err(std::io::Error::other)?;
        bed.queue_to_echo(q)?;
        let secs = 5;
        if rate == 0 {
            std::thread::sleep(Duration::from_secs(secs.into()));
        } else {
            bed.load(rate, secs)?;
        }
        std::thread::sleep(Duration::from_millis(100));
        let stats = shaper.stop().map_err(std::io::Error::other)?;
        println!(
            "shaping/cpu: {rate:>6} packets/s for {secs} s: {} packets shaped, {:.2}% of one core ({:.1} us per packet)",
            stats.packets,
            stats.cpu.as_secs_f64() / f64::from(secs) * 100.0,
            if stats.packets > 0 {
                stats.cpu.as_secs_f64() * 1e6 / stats.packets as f64
            } else {
                0.0
            }
        );
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
