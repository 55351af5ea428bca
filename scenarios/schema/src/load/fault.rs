//! `[[fault]]`: an action, its targets and groups, its time and the fields
//! each action takes.

use super::*;

impl Checker<'_> {
    /// A target value: one name or role, or a list of them.
    pub(super) fn targets(
        &self,
        v: &Spanned<Value>,
        nodes: &[String],
        field: &str,
    ) -> Check<Vec<Target>> {
        let items: Vec<&Value> = match v.get_ref() {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        if items.is_empty() {
            return Err(self.err(
                v.span(),
                format!("`{field}` is empty"),
                "name at least one node or role",
            ));
        }
        let mut out = Vec::new();
        for item in items {
            let Value::String(s) = item else {
                return Err(self.err(
                    v.span(),
                    format!("`{field}` must be a node name, a role, or a list of them"),
                    "e.g. target = \"n1\" or target = [\"n1\", \"n2\"] or target = \"leader\"",
                ));
            };
            if let Some((_, role)) = Role::ALL.iter().find(|(r, _)| r == s) {
                out.push(Target::Role(*role));
            } else if nodes.contains(s) {
                out.push(Target::Node(s.clone()));
            } else {
                return Err(self.err(
                    self.find(&v.span(), s, 0),
                    format!("target {s:?} is neither a node nor a role"),
                    &format!(
                        "nodes: {}; roles: leader, follower, minority, majority, random",
                        nodes.join(", ")
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// Explicit groups: lists of node names, no node twice.
    pub(super) fn group_lists(
        &self,
        v: &Spanned<Value>,
        nodes: &[String],
    ) -> Check<Vec<Vec<String>>> {
        let shape = || {
            self.err(v.span(), "`groups` must be a list of lists of node names, \"halves\" or \"majority-minority\"".into(), "e.g. groups = [[\"n1\", \"n2\"], [\"n3\"]]")
        };
        let Value::Array(groups) = v.get_ref() else {
            return Err(shape());
        };
        if groups.len() < 2 {
            return Err(self.err(
                v.span(),
                format!("{} group: a partition needs at least two", groups.len()),
                "",
            ));
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for g in groups {
            let Value::Array(members) = g else {
                return Err(shape());
            };
            let mut group = Vec::new();
            for m in members {
                let Value::String(name) = m else {
                    return Err(shape());
                };
                let count = seen.entry(name.as_str()).or_insert(0);
                *count += 1;
                if *count > 1 {
                    return Err(self.err(
                        self.find(&v.span(), name, *count - 1),
                        format!("node {name:?} is in more than one partition group"),
                        "a node can be on one side of a partition only",
                    ));
                }
                if !nodes.contains(name) {
                    return Err(self.err(
                        self.find(&v.span(), name, 0),
                        format!("group member {name:?} is not a node"),
                        &format!("nodes: {}", nodes.join(", ")),
                    ));
                }
                group.push(name.clone());
            }
            if group.is_empty() {
                return Err(self.err(v.span(), "an empty partition group".into(), "remove it"));
            }
            out.push(group);
        }
        Ok(out)
    }

    pub(super) fn fault(
        &self,
        f: RawFault,
        nodes: &[String],
        worlds: &[World],
        store: StoreKind,
    ) -> Check<Fault> {
        let action = f.action.get_ref().as_str();
        let aspan = f.action.span();
        let need = |v: Option<&'_ Spanned<Value>>, field: &str| -> Check<Spanned<Value>> {
            v.cloned().ok_or_else(|| {
                self.err(
                    aspan.clone(),
                    format!("`{action}` needs `{field}`"),
                    &format!("add {field} = ... to this fault"),
                )
            })
        };
        // Fields that the action does not use are errors, not silently ignored.
        let used: &[&str] = match action {
            "isolate" | "cut-discovery" | "pause" | "kill" | "restart" | "reschedule" | "crash"
            | "leave" | "revoke-lease" | "db-leader-move" | "db-not-ready" | "db-crash" => {
                &["target"]
            }
            "packet-loss" | "drop-replies" => &["target", "rate"],
            "delay-replies" => &["target", "delay"],
            "delete-key" => &["key", "target"],
            "clock-drift" => &["rate"],
            "clock-jump" => &["by"],
            "partition" => &["groups"],
            "bridge" => &["groups", "via"],
            "partition-one-way" => &["from", "to"],
            "latency" => &["target", "peer", "direction", "delay"],
            "jitter" => &["target", "peer", "direction", "delay", "jitter"],
            "reorder" => &["target", "peer", "direction", "delay", "rate"],
            "duplicate" => &["target", "peer", "direction", "rate"],
            "kill-leader" | "kill-store-leader" | "heal" | "cancel-watches" | "reset-index"
            | "deregister-node" => &[],
            other => {
                let near = ACTIONS
                    .iter()
                    .min_by_key(|a| distance(a, other))
                    .copied()
                    .unwrap_or("heal");
                return Err(self.err(
                    aspan,
                    format!("unknown action {other:?}"),
                    &format!("did you mean {near:?}? actions: {}", ACTIONS.join(", ")),
                ));
            }
        };
        let present = [
            ("target", f.target.as_ref().map(Spanned::span)),
            ("groups", f.groups.as_ref().map(Spanned::span)),
            ("from", f.from.as_ref().map(Spanned::span)),
            ("to", f.to.as_ref().map(Spanned::span)),
            ("via", f.via.as_ref().map(Spanned::span)),
            ("rate", f.rate.as_ref().map(Spanned::span)),
            ("key", f.key.as_ref().map(Spanned::span)),
            ("delay", f.delay.as_ref().map(Spanned::span)),
            ("by", f.by.as_ref().map(Spanned::span)),
            ("peer", f.peer.as_ref().map(Spanned::span)),
            ("direction", f.direction.as_ref().map(Spanned::span)),
            ("jitter", f.jitter.as_ref().map(Spanned::span)),
        ];
        for (field, span) in present {
            if let Some(span) = span {
                if !used.contains(&field) {
                    return Err(self.err(
                        span,
                        format!("`{action}` takes no `{field}`"),
                        &format!(
                            "`{action}` uses: {}",
                            if used.is_empty() {
                                "nothing but at".into()
                            } else {
                                used.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
        if action == "heal" {
            if let Some(d) = &f.duration {
                return Err(self.err(d.span(), "`heal` takes no `for`".into(), "remove it"));
            }
        }
        if let Some(d) = &f.duration {
            let end = f.at.get_ref().0 + d.get_ref().0;
            if end > crate::time::MAX {
                return Err(self.err(
                    d.span(),
                    format!(
                        "this fault ends at {end:?}, past the limit of {}h for a run",
                        crate::time::MAX.as_secs() / 3600
                    ),
                    "start it earlier or shorten its `for`; a soak test longer than a day is several runs",
                ));
            }
        }
        let act = match action {
            "isolate" => Action::Isolate {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "cut-discovery" => Action::CutDiscovery {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "pause" => Action::Pause {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "kill" => Action::Kill {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "restart" => Action::Restart {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "reschedule" => Action::Reschedule {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "packet-loss" | "drop-replies" => {
                let target = self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?;
                let rate = f.rate.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        format!("`{action}` needs `rate`"),
                        "rate = 0.3 loses 30%",
                    )
                })?;
                let r = *rate.get_ref();
                if !(r > 0.0 && r <= 1.0) {
                    return Err(self.err(
                        rate.span(),
                        format!("rate {r} is outside (0, 1]"),
                        "rate = 0.3 loses 30%",
                    ));
                }
                if action == "packet-loss" {
                    Action::PacketLoss { target, rate: r }
                } else {
                    Action::DropReplies { target, rate: r }
                }
            }
            "db-leader-move" => Action::DbLeaderMove {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "db-not-ready" => Action::DbNotReady {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "db-crash" => Action::DbCrash {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "crash" => Action::Crash {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "leave" => Action::Leave {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "revoke-lease" => Action::RevokeLease {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "delete-key" => {
                let key = f.key.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`delete-key` needs `key`".into(),
                        "key = \"leader\", \"bootstrap\" or \"member\" (with a target)",
                    )
                })?;
                let which = match key.get_ref().as_str() {
                    "leader" => StoreKey::Leader,
                    "bootstrap" => StoreKey::Bootstrap,
                    "member" => StoreKey::Member,
                    other => {
                        return Err(self.err(
                            key.span(),
                            format!("unknown key {other:?}"),
                            "use \"leader\", \"bootstrap\" or \"member\"",
                        ))
                    }
                };
                let target = match (which, f.target.as_ref()) {
                    (StoreKey::Member, t) => self.targets(&need(t, "target")?, nodes, "target")?,
                    (_, Some(t)) => {
                        return Err(self.err(
                            t.span(),
                            format!(
                                "a {:?} key belongs to no node; `target` is for key = \"member\"",
                                key.get_ref()
                            ),
                            "remove `target`",
                        ))
                    }
                    (_, None) => Vec::new(),
                };
                Action::DeleteKey { key: which, target }
            }
            "delay-replies" => {
                let target = self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?;
                let delay = f.delay.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`delay-replies` needs `delay`".into(),
                        "delay = \"2s\"",
                    )
                })?;
                Action::DelayReplies {
                    target,
                    delay: delay.get_ref().0,
                }
            }
            "clock-drift" => {
                let rate = f.rate.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`clock-drift` needs `rate`".into(),
                        "rate = 1.05: the store's clock runs 5% fast",
                    )
                })?;
                let r = *rate.get_ref();
                if !(0.5..=2.0).contains(&r) {
                    return Err(self.err(
                        rate.span(),
                        format!("a clock rate of {r}"),
                        "use a rate from 0.5 to 2.0 (1.05: 5% fast)",
                    ));
                }
                Action::ClockDrift { rate: r }
            }
            "clock-jump" => {
                let by = f.by.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`clock-jump` needs `by`".into(),
                        "by = \"500ms\": the store's clock jumps forward",
                    )
                })?;
                Action::ClockJump { by: by.get_ref().0 }
            }
            "cancel-watches" => Action::CancelWatches,
            "reset-index" => Action::ResetIndex,
            "deregister-node" => Action::DeregisterNode,
            "partition" => {
                let g = &need(f.groups.as_ref(), "groups")?;
                let groups = match g.get_ref() {
                    Value::String(s) if s == "halves" => Groups::Halves,
                    Value::String(s) if s == "majority-minority" => Groups::MajorityMinority,
                    Value::String(s) => {
                        return Err(self.err(
                            g.span(),
                            format!("unknown group preset {s:?}"),
                            "use \"halves\", \"majority-minority\" or explicit lists",
                        ))
                    }
                    _ => Groups::Explicit(self.group_lists(g, nodes)?),
                };
                Action::Partition { groups }
            }
            "bridge" => {
                let g = &need(f.groups.as_ref(), "groups")?;
                let groups = self.group_lists(g, nodes)?;
                if groups.len() != 2 {
                    return Err(self.err(
                        g.span(),
                        format!("{} groups: a bridge joins exactly two", groups.len()),
                        "",
                    ));
                }
                let via = f.via.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`bridge` needs `via`".into(),
                        "via = \"n3\": the node both sides reach",
                    )
                })?;
                let name = via.get_ref();
                if !nodes.contains(name) {
                    return Err(self.err(
                        via.span(),
                        format!("via {name:?} is not a node"),
                        &format!("nodes: {}", nodes.join(", ")),
                    ));
                }
                if groups.iter().flatten().any(|n| n == name) {
                    return Err(self.err(
                        via.span(),
                        format!("via {name:?} is also in a group"),
                        "the bridge node stands between the groups",
                    ));
                }
                Action::Bridge {
                    groups,
                    via: name.clone(),
                }
            }
            "partition-one-way" => Action::PartitionOneWay {
                from: self.targets(&need(f.from.as_ref(), "from")?, nodes, "from")?,
                to: self.targets(&need(f.to.as_ref(), "to")?, nodes, "to")?,
            },
            "latency" | "jitter" | "reorder" | "duplicate" => self.shape(&f, action, nodes)?,
            "kill-leader" => Action::KillLeader,
            "kill-store-leader" => Action::KillStoreLeader,
            _ => Action::Heal,
        };
        let (can, kind) = act.needs();
        if let Some(w) = worlds.iter().find(|w| !can.contains(w)) {
            return Err(self.err(
                aspan,
                format!("`{action}` cannot be made in the {} world", w.as_str()),
                &format!(
                    "run this scenario in the {} world only: move {} to [excluded] with a reason",
                    can.iter()
                        .map(|w| w.as_str())
                        .collect::<Vec<_>>()
                        .join(" and "),
                    w.as_str()
                ),
            ));
        }
        if kind.is_some_and(|k| k != store) {
            return Err(self.err(
                aspan,
                format!(
                    "`{action}` needs a {:?} discovery store, not {store:?}",
                    kind.expect("some")
                ),
                "change [discovery] kind, or use another fault",
            ));
        }
        if matches!(
            act,
            Action::Crash { .. }
                | Action::Reschedule { .. }
                | Action::Leave { .. }
                | Action::DbLeaderMove { .. }
                | Action::DbCrash { .. }
        ) {
            if let Some(d) = &f.duration {
                return Err(self.err(
                    d.span(),
                    format!("`{action}` happens at one instant and takes no `for`"),
                    "drop `for` (`kill` is a node that comes back after a while)",
                ));
            }
        }
        Ok(Fault {
            at: f.at.into_inner().0,
            duration: f.duration.map(|d| d.into_inner().0),
            action: act,
            during_formation: f.during_formation.unwrap_or(false),
        })
    }
}
