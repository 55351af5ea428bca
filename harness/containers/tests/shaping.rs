//! The shaper on a real kernel: two namespaces of the test's own joined by
//! a veth pair, a UDP echo in one, the shaped prober in the other. These
//! check what must hold whatever the machine's load (no packet leaves
//! before its delay, none is lost, overtaking and copies happen); how close
//! the delays come to what was asked, and what they cost, is measured by
//! `cargo bench -p clusterlab-containers --bench shaping`.

use std::time::Duration;

use clusterlab_containers::netfault::shaper::Shaper;
use clusterlab_containers::netfault::testbed::{Testbed, ADDRS};
use clusterlab_core::fault::Shaping;

const MS: u64 = 1000;

fn queue_to_echo(bed: &Testbed, queue: u16) {
    bed.queue_to_echo(queue).expect("NFQUEUE rule");
}

#[test]
fn no_packet_leaves_before_its_delay_and_none_is_lost() {
    let bed = Testbed::new("late").expect("namespaces (needs root and iproute2)");
    let before = bed
        .round_trips(20, Duration::from_millis(2), Duration::from_secs(1))
        .unwrap();
    assert_eq!(before.len(), 20);
    let shaping = Shaping {
        delay_us: 50 * MS,
        jitter_us: 10 * MS,
        hold_ppm: 1_000_000,
        duplicate_ppm: 0,
    };
    let shaper = Shaper::start(&bed.netns(0), 0, shaping, 1).expect("shaper");
    queue_to_echo(&bed, 0);
    let late = bed
        .round_trips(40, Duration::from_millis(5), Duration::from_secs(2))
        .unwrap();
    let stats = shaper.stop().unwrap();
    assert_eq!(late.len(), 40, "every probe answered: {late:?}");
    let (lo, hi) = shaping.range();
    for rtt in &late {
        assert!(
            *rtt >= lo,
            "a probe came back in {rtt:?}, before its {lo:?} delay"
        );
        assert!(
            *rtt < hi + Duration::from_secs(1),
            "a probe held {rtt:?}, far past {hi:?}"
        );
    }
    assert!(
        stats.packets >= 40 && stats.held == stats.packets,
        "{stats:?}"
    );
    // Stopped: the rule stays, but an unserved queue is bypassed.
    let after = bed
        .round_trips(20, Duration::from_millis(2), Duration::from_secs(1))
        .unwrap();
    assert_eq!(
        after.len(),
        20,
        "with no shaper, --queue-bypass lets packets pass"
    );
    assert!(after.iter().all(|r| *r < lo), "{after:?}");
}

#[test]
fn held_back_packets_are_overtaken() {
    let bed = Testbed::new("reorder").expect("namespaces");
    let shaping = Shaping {
        delay_us: 20 * MS,
        jitter_us: 0,
        hold_ppm: 300_000,
        duplicate_ppm: 0,
    };
    let _shaper = Shaper::start(&bed.netns(0), 2, shaping, 9).expect("shaper");
    queue_to_echo(&bed, 2);
    let got = bed
        .burst(200, Duration::from_micros(200), Duration::from_millis(500))
        .unwrap();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<u64>>(), "each datagram once");
    let overtaken = got.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(overtaken > 0, "30% held back 20 ms, yet all came in order");
}

#[test]
fn duplicated_packets_arrive_twice() {
    let bed = Testbed::new("dup").expect("namespaces");
    let echo = ADDRS[1].to_string();
    bed.iptables(
        0,
        &[
            "-t",
            "mangle",
            "-A",
            "OUTPUT",
            "-d",
            &echo,
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            "0.5",
            "-j",
            "TEE",
            "--gateway",
            &echo,
        ],
    )
    .expect("TEE rule");
    let got = bed
        .burst(200, Duration::from_micros(200), Duration::from_millis(300))
        .unwrap();
    let mut distinct = got.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 200, "every datagram arrived");
    assert!(
        got.len() > 250 && got.len() < 350,
        "half of 200 sent twice, yet {} came back",
        got.len()
    );
}
