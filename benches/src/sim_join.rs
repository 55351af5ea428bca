//! The join bench's disco cluster ([`DiscoCluster`], the very code the real
//! bench times) inside the simulator under event stepping, over the etcd or
//! Consul model: the simulated join latency, to set beside the real one for
//! the same store and size.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use clusterlab_scenario::StoreKind;
use clusterlab_sim::world::registry::{consul_registry, etcd_registry, Modelled};
use clusterlab_sim::world::stepping::{Announced, Events, EVENT_LATENCY};
use clusterlab_sim::world::REGISTRY;
use disco::Registry;

use crate::join::DiscoCluster;
use crate::Backend;

/// `joins` joins of one node into `size - 1` disco nodes over the `kind`
/// model, in simulated time, with `seed`.
pub fn disco_joins(kind: StoreKind, size: usize, joins: usize, seed: u64) -> Vec<Duration> {
    let mut builder = turmoil::Builder::new();
    builder
        .simulation_duration(Duration::from_secs(3600))
        .rng_seed(seed)
        .min_message_latency(EVENT_LATENCY.0)
        .max_message_latency(EVENT_LATENCY.1);
    let mut sim = builder.build();
    let _announced = Announced::install();
    let mut events = Events::new(&mut sim);
    let modelled = Modelled::new(kind);
    sim.host(REGISTRY, move || modelled.clone().serve());
    let out = Rc::new(RefCell::new(Vec::new()));
    let took = out.clone();
    sim.client("bench", async move {
        match kind {
            // The real bench's TTLs (Backend::min_ttl).
            StoreKind::Etcd => {
                let ttl = Backend::Etcd.min_ttl();
                time(etcd_registry().await?, ttl, size, joins, &took).await
            }
            StoreKind::Consul => {
                let ttl = Backend::Consul.min_ttl();
                time(consul_registry(), ttl, size, joins, &took).await
            }
        }
        Ok(())
    });
    let mut first = true;
    while !events.step(&mut sim, first, None).expect("simulates") {
        first = false;
    }
    out.take()
}

async fn time<R: Registry>(
    registry: R,
    ttl: Duration,
    size: usize,
    joins: usize,
    out: &RefCell<Vec<Duration>>,
) {
    let mut cluster = DiscoCluster::start(registry, "sim-join", size, ttl).await;
    for _ in 0..joins {
        let took = cluster.join_once().await;
        out.borrow_mut().push(took);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_join_takes_milliseconds_as_a_real_one_does() {
        // A join is a lease grant, a put on it and a watch event: a few
        // one-way messages of 1-2 ms each under event stepping.
        for kind in [StoreKind::Etcd, StoreKind::Consul] {
            let took = disco_joins(kind, 5, 5, 1);
            assert_eq!(took.len(), 5);
            for t in took {
                assert!(t < Duration::from_millis(50), "{kind:?}: a join took {t:?}");
                assert!(t >= Duration::from_millis(3), "{kind:?}: a join took {t:?}");
            }
        }
    }
}
