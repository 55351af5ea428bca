//! `[discovery]` and `[cluster]`: the store, the cluster's kind and nodes,
//! images, probes and the generic kind's HTTP key-value API.

use super::*;

impl Checker<'_> {
    pub(super) fn discovery(&self, d: RawDiscovery, name: &str) -> Check<Discovery> {
        let nodes = *d.nodes.get_ref();
        if nodes == 0 || nodes % 2 == 0 {
            return Err(self.err(
                d.nodes.span(),
                format!("{nodes} store nodes: a quorum store needs an odd count"),
                "use 1, 3 or 5",
            ));
        }
        let ttl = d
            .ttl
            .as_ref()
            .map_or(Duration::from_secs(10), |t| t.get_ref().0);
        if let Some(t) = &d.ttl {
            let min = if d.kind == StoreKind::Consul { 10 } else { 1 };
            if ttl < Duration::from_secs(min) || ttl.subsec_nanos() != 0 {
                return Err(self.err(
                    t.span(),
                    format!("ttl {ttl:?} is not whole seconds >= {min}s"),
                    if min == 10 {
                        "Consul sessions take 10s to 24h"
                    } else {
                        "etcd leases take whole seconds"
                    },
                ));
            }
        }
        let cluster = match d.cluster {
            Some(c) => {
                self.segment(&c, "cluster")?;
                c.into_inner()
            }
            None => name.to_string(),
        };
        let tls = d.tls.as_ref().is_some_and(|t| *t.get_ref());
        let auth = d.auth.as_ref().is_some_and(|a| *a.get_ref());
        if let Some(a) = d.auth.as_ref().filter(|_| auth && !tls) {
            return Err(self.err(
                a.span(),
                "auth without tls: a cluster's identity (etcd: its certificate's name; Consul: its ACL token) is shown only over TLS".into(),
                "add tls = true to [discovery]",
            ));
        }
        let image = d.image.as_ref().map(|i| self.image(i)).transpose()?;
        Ok(Discovery {
            kind: d.kind,
            nodes,
            ttl,
            prefix: d.prefix.unwrap_or_else(|| "disco".into()),
            cluster,
            tls,
            auth,
            image,
        })
    }

    pub(super) fn segment(&self, v: &Spanned<String>, what: &str) -> Check<()> {
        let s = v.get_ref();
        if s.is_empty() || s.contains('/') || s.chars().any(char::is_whitespace) {
            return Err(self.err(
                v.span(),
                format!("{what} {s:?} must be non-empty without '/' or spaces"),
                "it becomes a key segment",
            ));
        }
        Ok(())
    }

    pub(super) fn cluster(&self, c: RawCluster) -> Check<Cluster> {
        let n = *c.nodes.get_ref();
        if !(1..=64).contains(&n) {
            return Err(self.err(c.nodes.span(), format!("{n} nodes: use 1 to 64"), ""));
        }
        let nodes: Vec<String> = match &c.names {
            Some(names) => {
                let list = names.get_ref();
                if list.len() != n as usize {
                    return Err(self.err(
                        names.span(),
                        format!("{} names for {n} nodes", list.len()),
                        "give one name per node, or drop `names` for n1..nN",
                    ));
                }
                let mut seen = BTreeSet::new();
                for name in list {
                    let span = self.find(&names.span(), name, 0);
                    if !seen.insert(name.as_str()) {
                        return Err(self.err(
                            self.find(&names.span(), name, 1),
                            format!("node name {name:?} appears twice"),
                            "names must be unique",
                        ));
                    }
                    if Role::ALL.iter().any(|(r, _)| r == name) {
                        return Err(self.err(
                            span,
                            format!("{name:?} is a role, not a node name"),
                            "pick another name",
                        ));
                    }
                    if is_store_name(name) {
                        return Err(self.err(
                            span,
                            format!("{name:?} is the name of a discovery store node"),
                            "store nodes are s1, s2, ...; pick another name for a cluster node",
                        ));
                    }
                    self.segment(&Spanned::new(span, name.clone()), "node name")?;
                }
                list.clone()
            }
            None => (1..=n).map(|i| format!("n{i}")).collect(),
        };
        let kind = *c.kind.get_ref();
        let generic = if kind == ClusterKind::Generic {
            let missing = |what: &str| {
                self.err(
                    c.kind.span(),
                    format!("a generic cluster needs `{what}`"),
                    "generic clusters give image, command, port and [cluster.probe]",
                )
            };
            let command = c.command.ok_or_else(|| missing("command"))?;
            disco_template::validate(command.get_ref()).map_err(|e| {
                let span = self.find(&command.span(), &e.arg, 0);
                self.err(
                    span,
                    e.reason.clone(),
                    &format!("placeholders: {}", disco_template::known()),
                )
            })?;
            let p = c.probe.ok_or_else(|| missing("[cluster.probe]"))?;
            let method = p.method.get_ref().to_ascii_uppercase();
            if method != "GET" && method != "POST" {
                return Err(self.err(
                    p.method.span(),
                    format!("probe method {method:?}"),
                    "use GET or POST",
                ));
            }
            let sel = |s: &Spanned<String>| {
                Selector::parse(s.get_ref()).map_err(|m| {
                    self.err(
                        s.span(),
                        m,
                        "e.g. \"/nodes/*/id\" or \"/*[leader=true]/id\"",
                    )
                })
            };
            let agent = match &c.agent {
                None => Vec::new(),
                Some(a) => {
                    for flag in a.get_ref().iter().filter(|f| f.starts_with("--")) {
                        let name = flag.split_once('=').map_or(flag.as_str(), |(n, _)| n);
                        if !AGENT_FLAGS.contains(&name) {
                            return Err(self.err(
                                self.find(&a.span(), flag, 0),
                                format!("disco-agent flag {name:?} is not one a scenario sets"),
                                &format!(
                                    "use {}; the lab sets the store, cluster, node id, TTL and address",
                                    AGENT_FLAGS.join(", ")
                                ),
                            ));
                        }
                    }
                    a.get_ref().clone()
                }
            };
            let http = c.http.as_ref().map(|h| self.http(h)).transpose()?;
            Some(Generic {
                agent,
                http,
                image: c
                    .image
                    .as_ref()
                    .ok_or_else(|| missing("image"))?
                    .get_ref()
                    .clone(),
                command: command.into_inner(),
                port: c.port.ok_or_else(|| missing("port"))?,
                probe: Probe {
                    method,
                    path: p.path,
                    port: p.port,
                    body: p.body,
                    members: sel(&p.members)?,
                    leader: sel(&p.leader)?,
                },
            })
        } else {
            if let Some(h) = &c.http {
                return Err(self.err(
                    h.span(),
                    format!("[cluster.http] is only for generic clusters, not {kind:?}"),
                    "clusterlab writes to this kind itself; remove [cluster.http]",
                ));
            }
            if let Some(cmd) = &c.command {
                return Err(self.err(
                    cmd.span(),
                    format!("`command` is only for generic clusters, not {kind:?}"),
                    "clusterlab builds and runs this kind itself; remove `command`",
                ));
            }
            None
        };
        let image = c.image.as_ref().map(|i| self.image(i)).transpose()?;
        if let (Some(i), ClusterKind::Patroni | ClusterKind::Rabbitmq | ClusterKind::Galera) =
            (&c.image, kind)
        {
            return Err(self.err(
                i.span(),
                format!("`image` is not supported for {kind:?} clusters"),
                "their nodes run the lab's scripts on its Debian-built image; remove `image`, \
                 or run your image as kind = \"generic\"",
            ));
        }
        let release = match &c.release {
            None => None,
            Some(r)
                if kind == ClusterKind::Rabbitmq
                    && RABBITMQ_RELEASES.contains(&r.get_ref().as_str()) =>
            {
                Some(r.get_ref().clone())
            }
            Some(r) if kind == ClusterKind::Rabbitmq => {
                return Err(self.err(
                    r.span(),
                    format!("RabbitMQ release {:?} is not built here", r.get_ref()),
                    &format!("use one of {}", RABBITMQ_RELEASES.join(", ")),
                ))
            }
            Some(r) => {
                return Err(self.err(
                    r.span(),
                    format!("`release` is only for rabbitmq clusters, not {kind:?}"),
                    "remove `release`",
                ))
            }
        };
        let ca_bundle = match &c.ca_bundle {
            Some(b) if kind != ClusterKind::Rabbitmq => {
                return Err(self.err(
                    b.span(),
                    format!("`ca_bundle` is only for rabbitmq clusters, not {kind:?}"),
                    "remove `ca_bundle`",
                ))
            }
            b => b.as_ref().is_some_and(|b| *b.get_ref()),
        };
        let restart = match &c.restart {
            None => Restart::No,
            Some(r) => match r.get_ref().as_str() {
                "no" => Restart::No,
                "always" => Restart::Always,
                other => {
                    return Err(self.err(
                        r.span(),
                        format!("restart policy {other:?} is not one the lab sets"),
                        "restart = \"always\" (start a node whose process exits on its own) or \"no\" (the default)",
                    ))
                }
            },
        };
        let join = match &c.join {
            None => Join::Agent,
            Some(j) => match j.get_ref().as_str() {
                "agent" => Join::Agent,
                "root" if kind == ClusterKind::Galera => Join::Root,
                "root" => {
                    return Err(self.err(
                        j.span(),
                        format!("join = \"root\" is built for galera clusters, not {kind:?}"),
                        "use kind = \"galera\", or remove `join`",
                    ))
                }
                other => {
                    return Err(self.err(
                        j.span(),
                        format!("join {other:?} is not a way the lab forms clusters"),
                        "join = \"agent\" (disco-agent through the store, the default) or \"root\" (seed 001's glue: the first node bootstraps alone, the others join it by name)",
                    ))
                }
            },
        };
        Ok(Cluster {
            kind,
            nodes,
            generic,
            image,
            release,
            ca_bundle,
            restart,
            join,
        })
    }

    /// A generic system's key-value requests: `write = "PUT /path/{key}"`,
    /// `read = "/path/{key}"`, a body with `{value}` (the default).
    pub(super) fn http(&self, h: &Spanned<RawHttp>) -> Check<HttpKv> {
        let raw = h.get_ref();
        let (method, write_path) = raw
            .write
            .get_ref()
            .split_once(' ')
            .map(|(m, p)| (m.to_ascii_uppercase(), p.trim().to_string()))
            .unwrap_or_default();
        if !matches!(method.as_str(), "PUT" | "POST") || !write_path.starts_with('/') {
            return Err(self.err(
                raw.write.span(),
                format!(
                    "write = {:?} is not a method and a path",
                    raw.write.get_ref()
                ),
                "write = \"PUT /v1/kv/{key}\" (PUT or POST)",
            ));
        }
        let body = raw
            .body
            .as_ref()
            .map_or("{value}".to_string(), |b| b.get_ref().clone());
        let read_path = raw.read.get_ref().trim().to_string();
        if !write_path.contains("{key}") || !read_path.contains("{key}") {
            let span = if write_path.contains("{key}") {
                raw.read.span()
            } else {
                raw.write.span()
            };
            return Err(self.err(
                span,
                "a write and a read name their key with {key}".into(),
                "e.g. write = \"PUT /v1/kv/{key}\", read = \"/v1/kv/{key}?raw\"",
            ));
        }
        if !read_path.starts_with('/') {
            return Err(self.err(
                raw.read.span(),
                format!("read = {read_path:?} is not a path (it is a GET)"),
                "read = \"/v1/kv/{key}?raw\"",
            ));
        }
        if !body.contains("{value}") && !write_path.contains("{value}") {
            return Err(self.err(
                raw.body.as_ref().map_or(raw.write.span(), |b| b.span()),
                "the write carries no {value}".into(),
                "put {value} in the body (the default) or the path",
            ));
        }
        let value = match &raw.value {
            None => None,
            Some(v) => Some(Selector::parse(v.get_ref()).map_err(|m| {
                self.err(
                    v.span(),
                    m,
                    "e.g. \"/0/Value\", or drop `value` for a raw answer",
                )
            })?),
        };
        Ok(HttpKv {
            port: raw.port,
            write_method: method,
            write_path,
            body,
            read_path,
            value,
        })
    }
}
