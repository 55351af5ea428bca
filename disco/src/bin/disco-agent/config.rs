//! Command-line and environment settings of `disco-agent`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Announce this node in etcd or Consul, resolve its peers, then run the
/// database with a command line rendered from them.
///
/// Placeholders in the command: {id} {advertise} {state} {peers} {members}
/// {initial_cluster} {leader} {peer} (an argument with {peer} is repeated
/// per peer). Example:
///
///   disco-agent --etcd http://etcd:2379 --cluster rdb --node-id n1
///   --advertise n1:29015 -- rethinkdb --bind all --join={peer}
#[derive(Debug, Parser)]
#[command(name = "disco-agent", version, verbatim_doc_comment)]
pub struct Args {
    /// etcd endpoints (comma-separated http://host:port).
    #[arg(
        long,
        env = "DISCO_ETCD",
        value_delimiter = ',',
        conflicts_with = "consul"
    )]
    pub etcd: Vec<String>,
    /// Consul HTTP address (http://host:8500, or https://host:8501 with
    /// --ca).
    #[arg(long, env = "DISCO_CONSUL")]
    pub consul: Option<String>,
    /// The CA that signed the store's certificate: the store is reached
    /// over TLS (etcd endpoints https://host:2379, Consul
    /// https://host:8501).
    #[arg(long, env = "DISCO_CA", value_name = "PEM")]
    pub ca: Option<std::path::PathBuf>,
    /// This client's certificate (etcd takes its common name for the RBAC
    /// user; Consul with verify_incoming demands one); needs --key.
    #[arg(long, env = "DISCO_CERT", value_name = "PEM")]
    pub cert: Option<std::path::PathBuf>,
    /// The certificate's private key.
    #[arg(long, env = "DISCO_KEY", value_name = "PEM")]
    pub key: Option<std::path::PathBuf>,
    /// A Consul ACL token (sent as X-Consul-Token; prefer the variable,
    /// which other users cannot read in the process list).
    #[arg(
        long,
        env = "DISCO_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,
    /// Create Consul sessions on this catalog node (it must exist) rather
    /// than on the answering agent's: an ACL can then scope the cluster's
    /// sessions with `session "<node>"`, out of other tokens' reach.
    #[arg(long, env = "DISCO_CONSUL_SESSION_NODE", value_name = "NODE")]
    pub consul_session_node: Option<String>,
    /// A file holding the Consul ACL token (its first line).
    #[arg(long, env = "DISCO_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// Cluster name; several clusters can share one store.
    #[arg(long, env = "DISCO_CLUSTER")]
    pub cluster: String,
    /// This node's id, unique within the cluster.
    #[arg(long, env = "DISCO_NODE_ID")]
    pub node_id: String,
    /// Address peers use to reach this node's database (host:port).
    #[arg(long, env = "DISCO_ADVERTISE")]
    pub advertise: String,
    /// Lease TTL (e.g. 10s). etcd takes whole seconds >= 1 (it rounds up to
    /// its own minimum); Consul 10s to 24h.
    #[arg(long, env = "DISCO_TTL", default_value = "10s", value_parser = parse_duration)]
    pub ttl: Duration,
    /// Key prefix shared by all clusters.
    #[arg(long, env = "DISCO_PREFIX", default_value = "disco")]
    pub prefix: String,
    /// Do not campaign for the leader key.
    #[arg(long, env = "DISCO_NO_LEADER")]
    pub no_leader: bool,
    /// Start only once this file exists: credentials a sidecar delivers, or
    /// a test harness that sets the node's network up first. Counted in
    /// --startup-timeout.
    #[arg(long, env = "DISCO_WAIT_FOR_FILE", value_name = "FILE")]
    pub wait_for_file: Option<std::path::PathBuf>,
    /// Give up if not registered within this time (the store is retried with
    /// backoff meanwhile).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub startup_timeout: Duration,
    /// A joining node waits this long for a pending bootstrap, for another
    /// member to appear, and for its database's preparation (etcd's member
    /// add).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub join_timeout: Duration,
    /// A bootstrapping node gives its claim up, and stops its new database,
    /// if --ready-probe has not answered within this time (the others
    /// then contend again).
    #[arg(long, env = "DISCO_READY_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// Campaign for the leader key only while this URL (on the local
    /// database) answers 2xx, and its body contains --leader-match if given:
    /// the key then always names the database's real leader.
    #[arg(long, env = "DISCO_LEADER_PROBE")]
    pub leader_probe: Option<String>,
    /// A bootstrapping node commits its bootstrap (others may then join)
    /// once this URL on its new database answers 2xx; without it, as soon
    /// as the database has started. Until the commit, a bootstrap that dies
    /// lapses with its lease and another node bootstraps.
    #[arg(long, env = "DISCO_READY_PROBE")]
    pub ready_probe: Option<String>,
    /// Text the --leader-probe answer must contain to mean "I lead".
    #[arg(long, env = "DISCO_LEADER_MATCH", requires = "leader_probe")]
    pub leader_match: Option<String>,
    /// The database is etcd: before a joiner starts it, add it as a member
    /// through a peer's client port (this port on the peer's host), one
    /// joiner at a time, and render {initial_cluster} from the answer.
    /// --advertise must then be the peer URL (http://host:2380).
    #[arg(long, env = "DISCO_ETCD_MEMBER_ADD", value_name = "CLIENT_PORT")]
    pub etcd_member_add: Option<u16>,
    /// Serve the agent's own view (boot role, registration, disco's member
    /// view, leadership window) as JSON on this port.
    #[arg(long, env = "DISCO_STATUS_PORT", value_name = "PORT")]
    pub status_port: Option<u16>,
    /// Append every change of this node's leadership window and its
    /// bootstrap to this file, as JSON lines on the monotonic clock, for a
    /// harness that must know what the agent believed while the node was
    /// cut off or frozen.
    #[arg(long, env = "DISCO_JOURNAL", value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Keep this file holding the current members' addresses, one per line.
    #[arg(long, env = "DISCO_PEERS_FILE")]
    pub peers_file: Option<PathBuf>,
    /// The database command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// The chosen store.
#[derive(Debug)]
pub enum Backend {
    /// etcd endpoints.
    Etcd(Vec<String>),
    /// Consul address.
    Consul(String),
}

impl Args {
    /// Checks what clap cannot: one backend, well-formed names, a valid
    /// template. Errors say what to change.
    pub fn validate(&self) -> Result<Backend, String> {
        for (flag, v) in [("--cluster", &self.cluster), ("--node-id", &self.node_id)] {
            if v.is_empty() || v.contains('/') || v.chars().any(char::is_whitespace) {
                return Err(format!(
                    "{flag} {v:?} must be non-empty, without '/' or spaces (it becomes a key segment)"
                ));
            }
        }
        if self.advertise.is_empty() {
            return Err("--advertise must name host:port".into());
        }
        if self.ttl < Duration::from_secs(1) || self.ttl.subsec_nanos() != 0 {
            return Err(format!(
                "--ttl {:?} must be whole seconds, at least 1s",
                self.ttl
            ));
        }
        if self.etcd_member_add.is_some() && !self.advertise.starts_with("http://") {
            return Err(format!(
                "--etcd-member-add needs --advertise to be the etcd peer URL (http://host:2380), not {:?}",
                self.advertise
            ));
        }
        for (flag, probe) in [
            ("--leader-probe", &self.leader_probe),
            ("--ready-probe", &self.ready_probe),
        ] {
            if let Some(p) = probe {
                if !p.starts_with("http://") {
                    return Err(format!("{flag} {p:?} must start with http://"));
                }
            }
        }
        disco::render::validate(&self.command).map_err(|e| e.to_string())?;
        if (self.cert.is_some() || self.key.is_some()) && self.ca.is_none() {
            return Err(
                "--cert and --key are shown only over TLS: pass --ca (the store's CA) too".into(),
            );
        }
        match (&self.etcd[..], &self.consul) {
            ([], None) => Err(
                "no discovery store: pass --etcd http://host:2379 or --consul http://host:8500"
                    .into(),
            ),
            ([], Some(c)) => {
                let scheme = self.scheme();
                if !c.starts_with(scheme) {
                    return Err(format!(
                        "--consul {c:?} must start with {scheme}{}",
                        self.scheme_hint()
                    ));
                }
                if self.ttl < Duration::from_secs(10) {
                    return Err(format!(
                        "--ttl {:?} is below Consul's minimum session TTL; use --ttl 10s or more",
                        self.ttl
                    ));
                }
                Ok(Backend::Consul(c.clone()))
            }
            (eps, _) => {
                let scheme = self.scheme();
                if let Some(bad) = eps.iter().find(|e| !e.starts_with(scheme)) {
                    return Err(format!(
                        "--etcd endpoint {bad:?} must start with {scheme}{}",
                        self.scheme_hint()
                    ));
                }
                if self.consul_session_node.is_some() {
                    return Err("--consul-session-node is for Consul; etcd has no sessions".into());
                }
                if self.token.is_some() || self.token_file.is_some() {
                    return Err(
                        "--token is a Consul ACL token; etcd takes the user from --cert's common name"
                            .into(),
                    );
                }
                Ok(Backend::Etcd(eps.to_vec()))
            }
        }
    }

    fn scheme(&self) -> &'static str {
        if self.ca.is_some() {
            "https://"
        } else {
            "http://"
        }
    }

    fn scheme_hint(&self) -> &'static str {
        if self.ca.is_some() {
            " (--ca reaches the store over TLS)"
        } else {
            " (or pass --ca for a TLS store)"
        }
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 500ms, 10s, 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{s:?} has no unit; write e.g. 500ms, 10s, 2m")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The agent's flags as a user writes them, validated.
    fn validate(flags: &[&str]) -> Result<Backend, String> {
        let base = ["disco-agent", "--cluster", "c", "--node-id", "n1"];
        let args = Args::try_parse_from(base.iter().chain(flags).chain(&["--", "db"]))
            .map_err(|e| e.to_string())?;
        args.validate()
    }

    fn refused(flags: &[&str], says: &str) {
        let err = validate(flags).expect_err(&format!("{flags:?} is refused"));
        assert!(err.contains(says), "{flags:?} says {says:?}: {err}");
    }

    const ETCD: [&str; 4] = ["--etcd", "http://h:2379", "--advertise", "h:1"];

    #[test]
    fn a_ttl_is_whole_seconds_from_one() {
        let with = |ttl: &str| validate(&[&ETCD[..], &["--ttl", ttl]].concat());
        assert!(with("1s").is_ok(), "the shortest TTL etcd grants");
        assert!(with("90s").is_ok());
        for bad in ["0s", "999ms", "1500ms"] {
            assert!(with(bad).unwrap_err().contains("whole seconds"), "{bad}");
        }
    }

    #[test]
    fn names_become_key_segments() {
        assert!(validate(&ETCD).is_ok());
        for bad in ["", "a/b", "a b", "a\tb"] {
            let err = validate(&[&ETCD[..], &["--node-id", bad]].concat()).unwrap_err();
            assert!(err.contains("--node-id"), "{bad:?}: {err}");
        }
        refused(
            &["--etcd", "http://h:2379", "--advertise", ""],
            "--advertise",
        );
    }

    #[test]
    fn member_add_and_probes_need_http_urls() {
        let add = ["--etcd-member-add", "2379"];
        refused(&[&ETCD[..], &add].concat(), "etcd peer URL");
        let peer = ["--etcd", "http://h:2379", "--advertise", "http://h:2380"];
        assert!(validate(&[&peer[..], &add].concat()).is_ok());
        for flag in ["--leader-probe", "--ready-probe"] {
            refused(&[&ETCD[..], &[flag, "h:2379/health"]].concat(), flag);
            assert!(validate(&[&ETCD[..], &[flag, "http://h:2379/health"]].concat()).is_ok());
        }
    }

    #[test]
    fn a_certificate_or_key_needs_the_ca() {
        for flag in ["--cert", "--key"] {
            refused(&[&ETCD[..], &[flag, "x.pem"]].concat(), "pass --ca");
        }
        let tls = [
            "--etcd",
            "https://h:2379",
            "--advertise",
            "h:1",
            "--ca",
            "ca.pem",
        ];
        assert!(validate(&[&tls[..], &["--cert", "c.pem", "--key", "k.pem"]].concat()).is_ok());
        refused(
            &[
                "--etcd",
                "http://h:2379",
                "--advertise",
                "h:1",
                "--ca",
                "ca.pem",
            ],
            "must start with https:// (--ca reaches the store over TLS)",
        );
        refused(
            &["--etcd", "https://h:2379", "--advertise", "h:1"],
            "must start with http:// (or pass --ca for a TLS store)",
        );
    }

    #[test]
    fn each_store_takes_its_own_settings() {
        let consul = ["--consul", "http://h:8500", "--advertise", "h:1"];
        assert!(matches!(
            validate(&[&consul[..], &["--ttl", "10s"]].concat()),
            Ok(Backend::Consul(c)) if c == "http://h:8500"
        ));
        refused(
            &[&consul[..], &["--ttl", "9s"]].concat(),
            "Consul's minimum",
        );
        assert!(matches!(validate(&ETCD), Ok(Backend::Etcd(e)) if e == ["http://h:2379"]));
        refused(
            &[&ETCD[..], &["--consul-session-node", "x"]].concat(),
            "etcd has no sessions",
        );
        refused(
            &[&ETCD[..], &["--token-file", "t"]].concat(),
            "Consul ACL token",
        );
    }

    #[test]
    fn durations_take_their_unit() {
        let d = |s| parse_duration(s);
        assert_eq!(d("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(d(" 7s "), Ok(Duration::from_secs(7)));
        assert_eq!(d("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(d("3h"), Ok(Duration::from_secs(10_800)));
        assert!(d("10").unwrap_err().contains("no unit"));
        assert!(d("ten").unwrap_err().contains("not a duration"));
        assert!(d("5d").unwrap_err().contains("no unit"));
    }
}
