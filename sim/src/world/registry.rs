//! The registry host, etcd or Consul by the scenario's discovery kind: it
//! serves the model over the store's own API, and the driver reads the same
//! model directly to check invariants (what the leader key names, which
//! nodes are announced).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_scenario::StoreKind;
use disco::backend::{ConsulRegistry, EtcdRegistry};

use super::{net, REGISTRY};
use crate::chaos::Chaos;
use crate::consul::client::TurmoilHttp;
use crate::{consul, etcd};

/// etcd's client port and Consul's HTTP port on the registry host.
pub const ETCD_PORT: u16 = 2379;
/// Consul's HTTP port.
pub const CONSUL_PORT: u16 = 8500;

/// Which store's semantics the registry host models.
#[derive(Debug, Clone)]
pub enum Model {
    /// etcd's.
    Etcd(Arc<Mutex<etcd::model::Model>>),
    /// Consul's.
    Consul(Arc<Mutex<consul::model::Model>>),
}

/// The model behind the registry host, and the faults inside it. It
/// outlives the host, so a crashed and restarted registry keeps its data.
#[derive(Debug, Clone)]
pub struct Modelled {
    /// The store's state.
    pub model: Model,
    /// The faults the driver puts into the store.
    pub chaos: Chaos,
    /// Keys deleted from outside (an operator's delete), not yet taken.
    deleted: Arc<Mutex<Vec<String>>>,
}

/// One key as the driver reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Its value.
    pub value: String,
    /// Its create revision (etcd) or CreateIndex (Consul).
    pub created: u64,
}

impl Modelled {
    /// An empty store of `kind`.
    pub fn new(kind: StoreKind) -> Modelled {
        let model = match kind {
            StoreKind::Etcd => Model::Etcd(Arc::default()),
            StoreKind::Consul => Model::Consul(Arc::default()),
        };
        Modelled {
            model,
            chaos: Chaos::default(),
            deleted: Arc::default(),
        }
    }

    /// A number that moves with every write to the store.
    pub fn version(&self) -> u64 {
        match &self.model {
            Model::Etcd(m) => m.lock().expect("model lock").revision() as u64,
            Model::Consul(m) => m.lock().expect("model lock").index(),
        }
    }

    /// When the store last granted or renewed the lease (session) `key`
    /// lives on, in real (simulated) time.
    pub fn lease_renewed(&self, key: &str) -> Option<Duration> {
        match &self.model {
            Model::Etcd(m) => m.lock().expect("model lock").lease_renewed(key.as_bytes()),
            Model::Consul(m) => {
                let m = m.lock().expect("model lock");
                let session = m.get(key)?.session.clone()?;
                m.session(&session).map(|s| s.renewed)
            }
        }
    }

    /// `key`, if present.
    pub fn get(&self, key: &str) -> Option<Read> {
        match &self.model {
            Model::Etcd(m) => m
                .lock()
                .expect("model lock")
                .range(key.as_bytes(), b"")
                .first()
                .map(|kv| Read {
                    value: String::from_utf8_lossy(&kv.value).into_owned(),
                    created: kv.create_revision as u64,
                }),
            Model::Consul(m) => m.lock().expect("model lock").get(key).map(|p| Read {
                value: String::from_utf8_lossy(&p.value).into_owned(),
                created: p.create_index,
            }),
        }
    }

    /// Every key under `prefix`, sorted, with its creation (etcd's create
    /// revision, Consul's CreateIndex).
    pub fn entries(&self, prefix: &str) -> Vec<(String, u64)> {
        match &self.model {
            Model::Etcd(m) => {
                let mut end = prefix.as_bytes().to_vec();
                if let Some(last) = end.last_mut() {
                    *last += 1;
                }
                m.lock()
                    .expect("model lock")
                    .range(prefix.as_bytes(), &end)
                    .iter()
                    .map(|kv| {
                        let key = String::from_utf8_lossy(&kv.key).into_owned();
                        (key, kv.create_revision as u64)
                    })
                    .collect()
            }
            Model::Consul(m) => m
                .lock()
                .expect("model lock")
                .list(prefix)
                .1
                .into_iter()
                .map(|(k, p)| (k, p.create_index))
                .collect(),
        }
    }

    /// Deletes `key` from outside, as an operator would.
    pub fn delete(&self, key: &str) {
        match &self.model {
            Model::Etcd(m) => {
                let mut m = m.lock().expect("model lock");
                m.begin_write();
                if m.delete_at_current(key.as_bytes(), b"") == 0 {
                    m.abort_write();
                }
            }
            Model::Consul(m) => {
                m.lock().expect("model lock").delete(key, None);
            }
        }
        self.deleted
            .lock()
            .expect("model lock")
            .push(key.to_string());
    }

    /// The keys that went since the last call without a node's request:
    /// a lease's or session's end, or a delete from outside. The history
    /// holds them as the store's own writes.
    pub fn take_lapsed(&self) -> Vec<String> {
        let mut keys = std::mem::take(&mut *self.deleted.lock().expect("model lock"));
        keys.extend(match &self.model {
            Model::Etcd(m) => m.lock().expect("model lock").take_lapsed(),
            Model::Consul(m) => m.lock().expect("model lock").take_lapsed(),
        });
        keys
    }

    /// Revokes the lease (destroys the session) `key` lives on, from
    /// outside; nothing if it has none.
    pub fn revoke_holder(&self, key: &str) {
        match &self.model {
            Model::Etcd(m) => {
                let mut m = m.lock().expect("model lock");
                let lease = m.range(key.as_bytes(), b"").first().map(|kv| kv.lease);
                if let Some(l) = lease.filter(|l| *l != 0) {
                    m.revoke(l);
                }
            }
            Model::Consul(m) => {
                let mut m = m.lock().expect("model lock");
                let session = m.get(key).and_then(|p| p.session.clone());
                if let Some(s) = session {
                    m.destroy(&s);
                }
            }
        }
    }

    /// etcd: compacts the history and cancels every watch.
    pub fn cancel_watches(&self) {
        if let Model::Etcd(m) = &self.model {
            m.lock().expect("model lock").compact();
        }
        self.chaos.cancel_watches();
    }

    /// Consul: the node every session belongs to is deregistered (`true`),
    /// which invalidates them all and refuses new ones; or registered again.
    pub fn deregister_node(&self, gone: bool) {
        if let Model::Consul(m) = &self.model {
            m.lock().expect("model lock").set_node_registered(!gone);
        }
    }

    /// Serves the model on the registry host until the host is crashed.
    pub async fn serve(self) -> turmoil::Result {
        match self.model {
            Model::Etcd(model) => {
                let store = etcd::server::Store::shared(model, self.chaos);
                store.promote();
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
            Model::Consul(model) => {
                let store = consul::server::Store::shared(model, self.chaos);
                store.promote();
                tokio::spawn(store.clone().sweep());
                let listener = turmoil::net::TcpListener::bind(("0.0.0.0", CONSUL_PORT)).await?;
                loop {
                    let (stream, peer) = listener.accept().await?;
                    tokio::spawn(store.clone().serve(stream, Some(peer.ip())));
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
    ConsulRegistry::with_client(
        &format!("http://{REGISTRY}:{CONSUL_PORT}"),
        TurmoilHttp::default(),
    )
    .expect("valid address")
    .with_timeout(Duration::from_secs(1))
}
