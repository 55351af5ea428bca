//! A secured store's certificates (`[discovery] tls = true`): an authority
//! made for the run, the store's certificate, the harness's `root`, the
//! cluster's own client certificate (its RBAC user when `auth = true`) and
//! another cluster's, for the rogue node. Copied into the containers at
//! start; never written to the host or the repository.

use clusterlab_scenario::Discovery;
use clusterlab_servers::pki::{Authority, Issued};
use disco::backend::Credentials;

/// Where the files are inside a container.
pub const DIR: &str = "/certs";

/// The name every store node's certificate carries besides its own, which
/// the harness checks it against when it connects by address.
pub const SERVER_NAME: &str = "clusterlab-store";

/// The run's certificates.
pub struct Secrets {
    ca: Authority,
    store: Issued,
    root: Issued,
    cluster: Issued,
    other: Issued,
    /// The cluster's RBAC user (its certificate's common name).
    pub user: String,
    /// The keys it may touch.
    pub prefix: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("user", &self.user).finish()
    }
}

fn file(name: &str, text: &str) -> (String, Vec<u8>) {
    (format!("{DIR}/{name}"), text.as_bytes().to_vec())
}

impl Secrets {
    /// New certificates for `d`'s store, whose nodes are reached as
    /// `hosts` (container names) and `short` names.
    pub fn new(d: &Discovery, hosts: &[String], short: &[String]) -> Secrets {
        let ca = Authority::new("clusterlab run authority");
        let mut names: Vec<&str> = vec![SERVER_NAME, "localhost"];
        names.extend(hosts.iter().map(String::as_str));
        names.extend(short.iter().map(String::as_str));
        let user = format!("disco-{}", d.cluster);
        Secrets {
            store: ca.issue("etcd", &names),
            root: ca.issue("root", &[]),
            cluster: ca.issue(&user, &[]),
            other: ca.issue("disco-another-cluster", &[]),
            prefix: format!("{}/{}/", d.prefix.trim_matches('/'), d.cluster),
            user,
            ca,
        }
    }

    /// The files a store node needs.
    pub fn store_files(&self) -> Vec<(String, Vec<u8>)> {
        vec![
            file("ca.pem", &self.ca.pem()),
            file("server.pem", &self.store.cert),
            file("server-key.pem", &self.store.key),
        ]
    }

    /// The files a cluster node's agent needs.
    pub fn node_files(&self) -> Vec<(String, Vec<u8>)> {
        vec![
            file("ca.pem", &self.ca.pem()),
            file("client.pem", &self.cluster.cert),
            file("client-key.pem", &self.cluster.key),
        ]
    }

    /// The files of a rogue node: another cluster's certificate.
    pub fn rogue_files(&self) -> Vec<(String, Vec<u8>)> {
        vec![
            file("ca.pem", &self.ca.pem()),
            file("client.pem", &self.other.cert),
            file("client-key.pem", &self.other.key),
        ]
    }

    /// The agent's flags for the files of [`Self::node_files`].
    pub fn agent_flags() -> Vec<String> {
        [
            "--ca",
            &format!("{DIR}/ca.pem"),
            "--cert",
            &format!("{DIR}/client.pem"),
            "--key",
            &format!("{DIR}/client-key.pem"),
        ]
        .map(str::to_string)
        .to_vec()
    }

    fn creds(&self, who: Option<&Issued>) -> Credentials {
        Credentials {
            ca: Some(self.ca.pem().into_bytes()),
            identity: who.map(|i| (i.cert.clone().into_bytes(), i.key.clone().into_bytes())),
            token: None,
            server_name: Some(SERVER_NAME.into()),
        }
    }

    /// The harness's own: `root`.
    pub fn harness(&self) -> Credentials {
        self.creds(Some(&self.root))
    }

    /// Another cluster's certificate, and no certificate at all: what a
    /// rogue node may hold.
    pub fn rogues(&self) -> [(&'static str, Credentials); 2] {
        [
            (
                "another cluster's certificate",
                self.creds(Some(&self.other)),
            ),
            ("no certificate", self.creds(None)),
        ]
    }

    /// Turns RBAC on at `endpoints` (addresses): the cluster's user may
    /// touch only its keys; another cluster's user only its own.
    pub async fn enable_rbac(&self, endpoints: &[String]) -> Result<(), String> {
        clusterlab_servers::pki::enable_rbac(
            endpoints,
            &self.ca,
            &self.root,
            Some(SERVER_NAME),
            &[
                (&self.user, &self.prefix),
                ("disco-another-cluster", "disco/another-cluster/"),
            ],
        )
        .await
    }
}
