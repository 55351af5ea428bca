//! The engine's clock: firing the steps due, starting and ending faults,
//! healing everything at the end of a run.

use super::*;

impl Engine {
    /// Fires every step due at `now`, in order, and returns the events to
    /// record. A start whose target is a role the world cannot resolve yet
    /// (no leader known) waits, while later steps go on: it fires as soon
    /// as the role is known, or, hitting nobody, at its end or after
    /// [`ROLE_WAIT`], whichever comes first.
    pub async fn fire<N: Nemesis>(
        &mut self,
        now: Duration,
        past: &Past,
        world: &mut N,
    ) -> Result<Vec<EventKind>, N::Error> {
        let mut out = Vec::new();
        let mut leader: Option<Option<String>> = None;
        let waiting = std::mem::take(&mut self.waiting);
        for step in waiting {
            let l = match &leader {
                Some(l) => l.clone(),
                None => leader.insert(world.leader().await).clone(),
            };
            if l.is_some() || now >= step.at + ROLE_WAIT {
                self.start(now, step, l, past, world, &mut out).await?;
            } else {
                self.waiting.push(step);
            }
        }
        while let Some(step) = self.steps.get(self.next).copied() {
            if step.at > now {
                break;
            }
            self.next += 1;
            if step.start {
                let l = if depends_on_leader(&self.faults[step.fault].action) {
                    match &leader {
                        Some(l) => l.clone(),
                        None => leader.insert(world.leader().await).clone(),
                    }
                } else {
                    None
                };
                if l.is_none()
                    && depends_on_leader(&self.faults[step.fault].action)
                    && now < step.at + ROLE_WAIT
                {
                    self.waiting.push(step);
                    continue;
                }
                self.start(now, step, l, past, world, &mut out).await?;
            } else {
                if let Some(pos) = self.waiting.iter().position(|w| w.fault == step.fault) {
                    // Its role never became known while it was due.
                    let w = self.waiting.remove(pos);
                    self.start(now, w, None, past, world, &mut out).await?;
                }
                self.end(now, step.fault, world, &mut out).await?;
            }
        }
        Ok(out)
    }

    /// Undoes every fault still in effect at `now` (the checks are about a
    /// healed cluster).
    pub async fn heal_all<N: Nemesis>(
        &mut self,
        now: Duration,
        world: &mut N,
    ) -> Result<Vec<EventKind>, N::Error> {
        let mut out = Vec::new();
        while let Some(a) = self.active.first() {
            let fault = a.fault;
            self.end(now, fault, world, &mut out).await?;
        }
        Ok(out)
    }

    async fn end<N: Nemesis>(
        &mut self,
        now: Duration,
        fault: usize,
        world: &mut N,
        out: &mut Vec<EventKind>,
    ) -> Result<(), N::Error> {
        let Some(pos) = self.active.iter().position(|a| a.fault == fault) else {
            return Ok(());
        };
        let a = self.active.remove(pos);
        self.changed = now;
        for atom in &a.atoms {
            if self.ledger.release(atom) {
                let was_up = self.store_up;
                self.derive();
                // The old leader restarts as a follower; only a store that
                // regains its quorum elects (and renews every lease).
                if matches!(atom, Atom::StoreDown(_)) && !was_up && self.store_up {
                    self.store_changed = Some(now);
                }
                world.undo(atom).await?;
            }
        }
        out.push(EventKind::FaultEnd {
            fault,
            action: self.faults[fault].action.name().into(),
        });
        Ok(())
    }

    async fn start<N: Nemesis>(
        &mut self,
        now: Duration,
        step: Step,
        leader: Option<String>,
        past: &Past,
        world: &mut N,
        out: &mut Vec<EventKind>,
    ) -> Result<(), N::Error> {
        let i = step.fault;
        self.changed = now;
        let fault = self.faults[i].clone();
        let fault = &fault;
        let name = fault.action.name();
        let due_ms = u64::try_from(step.at.as_millis()).unwrap_or(u64::MAX);
        if fault.action == Action::Heal {
            while let Some(a) = self.active.first() {
                let f = a.fault;
                self.end(now, f, world, out).await?;
            }
            out.push(EventKind::FaultStart {
                fault: i,
                action: name.into(),
                nodes: Vec::new(),
                due_ms,
            });
            out.push(EventKind::FaultEnd {
                fault: i,
                action: name.into(),
            });
            return Ok(());
        }
        if self.strict && !fault.during_formation {
            let never: Vec<String> = self
                .up()
                .into_iter()
                .filter(|n| !past.served.contains(n))
                .collect();
            if !never.is_empty() {
                out.push(EventKind::Check {
                    name: "formed-before-fault".into(),
                    passed: false,
                    detail: format!(
                        "fault {i} ({name}) fired while {never:?} had never served; move it later"
                    ),
                    nodes: never,
                    found: Vec::new(),
                });
            }
        }
        let Resolved {
            hit,
            atoms,
            forever,
            bounce,
            ops,
            db,
        } = self.resolve(i, fault, leader.as_deref(), world).await;
        for atom in atoms.iter().chain(&forever) {
            if self.ledger.hold(atom) {
                self.derive();
                if matches!(atom, Atom::StoreDown(_)) {
                    self.store_changed = Some(now);
                }
                world.apply(atom).await?;
            }
        }
        for n in &bounce {
            world.bounce(n).await?;
        }
        for op in &ops {
            world.store(op).await?;
        }
        for op in &db {
            world.database(op).await?;
        }
        for op in &ops {
            match op {
                StoreOp::DeleteLeaderKey => self.taken.push(Taken {
                    at: now,
                    holder: None,
                }),
                StoreOp::RevokeLease(n) => self.taken.push(Taken {
                    at: now,
                    holder: Some(n.clone()),
                }),
                _ => {}
            }
        }
        if atoms.contains(&Atom::NodeGone) {
            self.taken.push(Taken {
                at: now,
                holder: None,
            });
        }
        if hit.is_empty() && self.strict && effects::hits_nodes(&fault.action) {
            out.push(EventKind::Check {
                name: "fault-target".into(),
                passed: false,
                detail: format!(
                    "fault {i} ({name}) resolved to no node (leader: {})",
                    leader.as_deref().unwrap_or("none")
                ),
                nodes: Vec::new(),
                found: Vec::new(),
            });
        }
        out.push(EventKind::FaultStart {
            fault: i,
            action: name.into(),
            nodes: hit,
            due_ms,
        });
        if fault.duration.is_some() || !atoms.is_empty() {
            self.active.push(Active { fault: i, atoms });
        }
        Ok(())
    }
}
