//! A secured store's certificates (`[discovery] tls = true`): an authority
//! made for the run, the store's certificate, the harness's `root`, the
//! cluster's own client certificate (its RBAC user when `auth = true`) and
//! another cluster's, for the rogue node. On Consul with `auth = true`,
//! also ACL tokens: the management token (the harness's), the cluster's
//! and another cluster's; and a gossip key. Copied into the containers at
//! start; never written to the host or the repository.

use clusterlab_provision::acl::{self, Grant, TlsFiles};
use clusterlab_provision::pki::{Authority, Issued};
use clusterlab_scenario::{Discovery, StoreKind};
use disco::backend::Credentials;

/// The port a secured Consul serves HTTPS on (plain HTTP is off).
pub const CONSUL_HTTPS: u16 = 8501;

/// A secured Consul's secrets besides certificates.
struct Tokens {
    /// The management token (the harness's).
    master: String,
    /// The cluster's.
    cluster: String,
    /// Another cluster's, for the rogue.
    other: String,
}

/// Where the files are inside a container.
pub const DIR: &str = "/certs";

/// The name every store node's certificate carries besides its own, which
/// the harness checks it against when it connects by address.
pub const SERVER_NAME: &str = "clusterlab-store";

/// The run's certificates.
pub struct Secrets {
    kind: StoreKind,
    /// Access control is on: a certificate (etcd) or token (Consul) of
    /// another cluster must be refused too.
    auth: bool,
    /// Consul with `auth = true`.
    tokens: Option<Tokens>,
    /// Consul's gossip key.
    gossip: String,
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
        let mut names: Vec<&str> = vec![SERVER_NAME, acl::SERVER_NAME, "localhost"];
        names.extend(hosts.iter().map(String::as_str));
        names.extend(short.iter().map(String::as_str));
        let user = format!("disco-{}", d.cluster);
        let tokens = (d.kind == StoreKind::Consul && d.auth).then(|| Tokens {
            master: acl::new_token(),
            cluster: acl::new_token(),
            other: acl::new_token(),
        });
        Secrets {
            kind: d.kind,
            auth: d.auth,
            tokens,
            gossip: acl::new_gossip_key(),
            store: ca.issue("store", &names),
            root: ca.issue("root", &[]),
            cluster: ca.issue(&user, &[]),
            other: ca.issue("disco-another-cluster", &[]),
            prefix: format!("{}/{}/", d.prefix.trim_matches('/'), d.cluster),
            user,
            ca,
        }
    }

    /// The files a store node needs: for Consul, its configuration too
    /// (`consul.json`: HTTPS only on [`CONSUL_HTTPS`], verify_incoming,
    /// TLS between servers, gossip encrypted, ACLs when `auth`).
    pub fn store_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = vec![
            file("ca.pem", &self.ca.pem()),
            file("server.pem", &self.store.cert),
            file("server-key.pem", &self.store.key),
        ];
        if self.kind == StoreKind::Consul {
            let tls = TlsFiles {
                ca: format!("{DIR}/ca.pem"),
                cert: format!("{DIR}/server.pem"),
                key: format!("{DIR}/server-key.pem"),
            };
            let master = self.tokens.as_ref().map(|t| t.master.as_str());
            let config = acl::secured_config(&tls, CONSUL_HTTPS, master, Some(&self.gossip));
            files.push(file("consul.json", &config.to_string()));
        }
        files
    }

    /// The catalog node the cluster's Consul sessions live on (the ACL
    /// scopes sessions by node), and another cluster's.
    pub fn session_node(&self) -> String {
        format!("{}-sessions", self.user)
    }

    const OTHER_SESSION_NODE: &'static str = "disco-another-cluster-sessions";

    /// The files a cluster node's agent needs.
    pub fn node_files(&self) -> Vec<(String, Vec<u8>)> {
        self.agent_files(&self.cluster, self.tokens.as_ref().map(|t| &t.cluster))
    }

    /// The files of a rogue node: with access control, another cluster's
    /// certificate (and token); without, no certificate (any certificate
    /// of the authority would pass: TLS alone tells no cluster apart).
    pub fn rogue_files(&self) -> Vec<(String, Vec<u8>)> {
        if self.auth {
            self.agent_files(&self.other, self.tokens.as_ref().map(|t| &t.other))
        } else {
            vec![file("ca.pem", &self.ca.pem())]
        }
    }

    fn agent_files(&self, who: &Issued, token: Option<&String>) -> Vec<(String, Vec<u8>)> {
        let mut files = vec![
            file("ca.pem", &self.ca.pem()),
            file("client.pem", &who.cert),
            file("client-key.pem", &who.key),
        ];
        if let Some(t) = token {
            files.push(file("token", t));
        }
        files
    }

    /// The agent's flags for the files of [`Self::node_files`].
    pub fn agent_flags(&self) -> Vec<String> {
        let mut flags = vec![
            "--ca".to_string(),
            format!("{DIR}/ca.pem"),
            "--cert".into(),
            format!("{DIR}/client.pem"),
            "--key".into(),
            format!("{DIR}/client-key.pem"),
        ];
        if self.tokens.is_some() {
            flags.extend(["--token-file".to_string(), format!("{DIR}/token")]);
            flags.extend(["--consul-session-node".to_string(), self.session_node()]);
        }
        flags
    }

    /// The rogue agent's flags for the files of [`Self::rogue_files`].
    pub fn rogue_flags(&self) -> Vec<String> {
        if !self.auth {
            return vec!["--ca".to_string(), format!("{DIR}/ca.pem")];
        }
        let mut flags = self.agent_flags();
        if let Some(n) = flags.iter().position(|f| f == "--consul-session-node") {
            flags[n + 1] = Self::OTHER_SESSION_NODE.into();
        }
        flags
    }

    fn creds(&self, who: Option<&Issued>, token: Option<&String>) -> Credentials {
        Credentials {
            ca: Some(self.ca.pem().into_bytes()),
            identity: who.map(|i| (i.cert.clone().into_bytes(), i.key.clone().into_bytes())),
            token: token.cloned(),
            server_name: Some(SERVER_NAME.into()),
        }
    }

    /// The harness's own: `root`, and Consul's management token.
    pub fn harness(&self) -> Credentials {
        self.creds(Some(&self.root), self.tokens.as_ref().map(|t| &t.master))
    }

    /// What a rogue node may hold: no certificate (with this cluster's
    /// token on Consul: a stolen token must not pass `verify_incoming`);
    /// with access control also, on etcd where the certificate is the
    /// user, another cluster's certificate; on Consul where the token is,
    /// another cluster's certificate and token, and this cluster's
    /// certificate with no token.
    pub fn rogues(&self) -> Vec<(&'static str, Credentials)> {
        let mut out = Vec::new();
        match (&self.tokens, self.auth) {
            (Some(t), _) => {
                out.push((
                    "another cluster's certificate and token",
                    self.creds(Some(&self.other), Some(&t.other)),
                ));
                out.push((
                    "this cluster's certificate, no token",
                    self.creds(Some(&self.cluster), None),
                ));
                out.push((
                    "this cluster's token, no certificate",
                    self.creds(None, Some(&t.cluster)),
                ));
            }
            (None, true) => {
                out.push((
                    "another cluster's certificate",
                    self.creds(Some(&self.other), None),
                ));
                out.push(("no certificate", self.creds(None, None)));
            }
            (None, false) => out.push(("no certificate", self.creds(None, None))),
        }
        out
    }

    /// Turns the store's access control on at `endpoints` (addresses):
    /// etcd's RBAC, Consul's ACL policies and tokens; the cluster may
    /// touch only its keys, another cluster only its own.
    pub async fn enable_access(&self, endpoints: &[String]) -> Result<(), String> {
        let other_prefix = "disco/another-cluster/";
        match &self.tokens {
            None => {
                clusterlab_provision::pki::enable_rbac(
                    endpoints,
                    &self.ca,
                    &self.root,
                    Some(SERVER_NAME),
                    &[
                        (&self.user, &self.prefix),
                        ("disco-another-cluster", other_prefix),
                    ],
                )
                .await
            }
            Some(t) => {
                acl::grant(
                    &endpoints[0],
                    &self.harness(),
                    &[
                        Grant {
                            name: &self.user,
                            prefix: &self.prefix,
                            session_node: &self.session_node(),
                            token: &t.cluster,
                        },
                        Grant {
                            name: "disco-another-cluster",
                            prefix: other_prefix,
                            session_node: Self::OTHER_SESSION_NODE,
                            token: &t.other,
                        },
                    ],
                    std::time::Duration::from_secs(30),
                )
                .await
            }
        }
    }
}
