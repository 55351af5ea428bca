//! The registry host, etcd or Consul by the scenario's discovery kind: it
//! serves the model over the store's own API, and the driver reads the same
//! model directly to check invariants (what the leader key names, which
//! nodes are announced).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_scenario::StoreKind;
use disco::backend::{ConsulRegistry, EtcdRegistry};

use super::{net, REGISTRY};
use crate::consul::client::TurmoilHttp;
use crate::{consul, etcd};

/// etcd's client port and Consul's HTTP port on the registry host.
pub const ETCD_PORT: u16 = 2379;
/// Consul's HTTP port.
pub const CONSUL_PORT: u16 = 8500;

/// The model behind the registry host. It outlives the host, so a crashed
/// and restarted registry keeps its data.
#[derive(Debug, Clone)]
pub enum Modelled {
    /// etcd's semantics.
    Etcd(Arc<Mutex<etcd::model::Model>>),
    /// Consul's semantics.
    Consul(Arc<Mutex<consul::model::Model>>),
}

impl Modelled {
    /// An empty store of `kind`.
    pub fn new(kind: StoreKind) -> Modelled {
        match kind {
            StoreKind::Etcd => Modelled::Etcd(Arc::default()),
            StoreKind::Consul => Modelled::Consul(Arc::default()),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<String> {
        match self {
            Modelled::Etcd(m) => m
                .lock()
                .expect("model lock")
                .range(key.as_bytes(), b"")
                .first()
                .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()),
            Modelled::Consul(m) => m
                .lock()
                .expect("model lock")
                .get(key)
                .map(|p| String::from_utf8_lossy(&p.value).into_owned()),
        }
    }

    /// A number that moves with every write to the store.
    pub fn version(&self) -> u64 {
        match self {
            Modelled::Etcd(m) => m.lock().expect("model lock").revision() as u64,
            Modelled::Consul(m) => m.lock().expect("model lock").index(),
        }
    }

    /// Every key under `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        match self {
            Modelled::Etcd(m) => {
                let mut end = prefix.as_bytes().to_vec();
                if let Some(last) = end.last_mut() {
                    *last += 1;
                }
                m.lock()
                    .expect("model lock")
                    .range(prefix.as_bytes(), &end)
                    .iter()
                    .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
                    .collect()
            }
            Modelled::Consul(m) => m
                .lock()
                .expect("model lock")
                .list(prefix)
                .1
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
        }
    }

    /// Serves the model on the registry host until the host is crashed.
    pub async fn serve(self) -> turmoil::Result {
        match self {
            Modelled::Etcd(model) => {
                let store = etcd::server::Store::shared(model);
                tokio::spawn(store.clone().sweep());
                let (kv, lease, watch) = store.services();
                tonic::transport::Server::builder()
                    .add_service(kv)
                    .add_service(lease)
                    .add_service(watch)
                    .serve_with_incoming(net::incoming(ETCD_PORT).await?)
                    .await?;
                Ok(())
            }
            Modelled::Consul(model) => {
                let store = consul::server::Store::shared(model);
                tokio::spawn(store.clone().sweep());
                let listener = turmoil::net::TcpListener::bind(("0.0.0.0", CONSUL_PORT)).await?;
                loop {
                    let (stream, _) = listener.accept().await?;
                    tokio::spawn(store.clone().serve(stream));
                }
            }
        }
    }
}

/// disco's etcd backend on a turmoil channel to the registry host.
pub async fn etcd_registry() -> Result<EtcdRegistry, disco::RegistryError> {
    Ok(EtcdRegistry::from_channels(REGISTRY, || {
        etcd_client::Channel::Tonic(net::channel(REGISTRY, ETCD_PORT))
    })
    .await?
    .with_timeout(Duration::from_secs(1)))
}

/// disco's Consul backend over turmoil HTTP to the registry host.
pub fn consul_registry() -> ConsulRegistry<TurmoilHttp> {
    ConsulRegistry::with_client(&format!("http://{REGISTRY}:{CONSUL_PORT}"), TurmoilHttp)
        .expect("valid address")
        .with_timeout(Duration::from_secs(1))
}
