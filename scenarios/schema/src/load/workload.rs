//! `[[workload]]`: which traffic a scenario drives, and whether its cluster
//! kind can take it.

use super::*;

impl Checker<'_> {
    pub(super) fn workload(&self, w: RawWorkload, cluster: ClusterKind) -> Check<Workload> {
        // Each quorum queue is a Raft group on every node.
        const MAX_QUEUES: u32 = 16;
        let clients = w.clients.as_ref().map_or(1, |c| *c.get_ref());
        for (what, v, max) in [
            ("rate", Some(&w.rate), 1_000),
            ("keys", Some(&w.keys), 1_000_000),
            ("clients", w.clients.as_ref(), 100),
        ] {
            let Some(v) = v else { continue };
            if *v.get_ref() == 0 || *v.get_ref() > max {
                return Err(self.err(
                    v.span(),
                    format!("workload {what} = {} is out of range", v.get_ref()),
                    &format!("use 1 to {max}"),
                ));
            }
        }
        let kind = match w.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
            Some(("messages", _)) if cluster == ClusterKind::Rabbitmq => {
                if *w.keys.get_ref() > MAX_QUEUES {
                    return Err(self.err(
                        w.keys.span(),
                        format!("{} quorum queues", w.keys.get_ref()),
                        &format!("keys is the number of queues here: use 1 to {MAX_QUEUES}"),
                    ));
                }
                WorkloadKind::Messages
            }
            Some(("messages", span)) => {
                return Err(self.err(
                    span,
                    "a messages workload publishes to RabbitMQ queues: a rabbitmq cluster".into(),
                    "use kind = \"writes\" or \"register\" for this cluster",
                ))
            }
            _ if cluster == ClusterKind::Rabbitmq => {
                let span = w.kind.as_ref().map_or(w.rate.span(), |k| k.span());
                return Err(self.err(
                    span,
                    "a rabbitmq cluster takes a messages workload".into(),
                    "kind = \"messages\" (publisher-confirmed messages to quorum queues)",
                ));
            }
            None | Some(("writes", _)) => WorkloadKind::Writes,
            Some(("register", span)) => {
                if !matches!(cluster, ClusterKind::Etcd | ClusterKind::Consul) {
                    return Err(self.err(
                        span,
                        "a register workload needs a key-value store with compare-and-set: an etcd or consul cluster".into(),
                        "use kind = \"writes\" for this cluster",
                    ));
                }
                WorkloadKind::Register
            }
            Some(("set", span)) => {
                if !matches!(cluster, ClusterKind::Patroni | ClusterKind::Galera) {
                    return Err(self.err(
                        span,
                        "a set workload adds rows to a SQL table: a patroni or galera cluster"
                            .into(),
                        "use kind = \"register\" for an etcd or consul cluster",
                    ));
                }
                WorkloadKind::Set
            }
            Some((other, span)) => {
                return Err(self.err(
                    span,
                    format!("unknown workload kind {other:?}"),
                    "kind = \"writes\", \"register\", \"set\" or \"messages\"",
                ))
            }
        };
        let allowed: &[ReadMode] = match cluster {
            ClusterKind::Etcd => &[ReadMode::Linearizable, ReadMode::Serializable],
            ClusterKind::Consul => &[ReadMode::Consistent, ReadMode::Default, ReadMode::Stale],
            _ => &[],
        };
        let words: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
        let reads = match &w.reads {
            None => allowed.first().copied().unwrap_or(ReadMode::Linearizable),
            Some(r) => {
                if kind != WorkloadKind::Register {
                    return Err(self.err(
                        r.span(),
                        "`reads` is a register workload's setting".into(),
                        "add kind = \"register\", or drop `reads`",
                    ));
                }
                match allowed.iter().find(|m| m.as_str() == r.get_ref()) {
                    Some(m) => *m,
                    None => {
                        return Err(self.err(
                            r.span(),
                            format!(
                                "{:?} is not a read mode of {} clusters",
                                r.get_ref(),
                                if cluster == ClusterKind::Consul {
                                    "consul"
                                } else {
                                    "etcd"
                                }
                            ),
                            &format!("reads = one of {}", words.join(", ")),
                        ))
                    }
                }
            }
        };
        Ok(Workload {
            kind,
            rate: w.rate.into_inner(),
            keys: w.keys.into_inner(),
            clients,
            reads,
        })
    }
}
