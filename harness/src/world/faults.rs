//! Applying a scenario's faults to the running containers, and undoing
//! them. Targets given by role are resolved against the latest sample when
//! the fault fires; `random` picks are drawn from the run's seed.

use clusterlab_scenario::{Action, Groups, Role, Target};

use super::addrs::Addrs;
use super::observe::{Sample, Status, Statuses};
use super::store::Store;
use super::WorldError;
use crate::nemesis::{self, isolate, loss, partition, Node};
use crate::run::Run;

/// How to undo an applied fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// Flush the fault chain of these nodes.
    ClearRules(Vec<String>),
    /// Thaw these nodes.
    Unpause(Vec<String>),
    /// Start these killed cluster nodes again, with their data.
    Restart(Vec<String>),
    /// Start these killed store nodes again.
    RestartStore(Vec<String>),
    /// Nothing left to undo.
    Nothing,
}

/// The fault injector of one run.
#[derive(Debug)]
pub struct Nemesis<'a> {
    /// The run's containers.
    pub run: &'a Run,
    /// Their addresses.
    pub addrs: &'a Addrs,
    /// Up, down or paused.
    pub statuses: Statuses,
    /// The discovery store.
    pub store: &'a Store,
    /// Cluster node names.
    pub nodes: &'a [String],
    /// State of the seeded picker.
    pub seed: u64,
}

impl Nemesis<'_> {
    fn pick(&mut self, len: usize) -> usize {
        // splitmix64: a tiny, seeded, reproducible choice.
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % len.max(1) as u64) as usize
    }

    fn set(&self, names: &[String], status: Status) {
        let mut s = self.statuses.lock().expect("statuses lock");
        for n in names {
            s.insert(n.clone(), status);
        }
    }

    fn resolve(&mut self, targets: &[Target], sample: &Sample) -> Vec<String> {
        let leader = sample.leaders().first().cloned();
        let live: Vec<String> = sample.live.iter().cloned().collect();
        let size = self.nodes.len();
        clusterlab_scenario::target::resolve(targets, leader.as_ref(), &live, size, &mut |len| {
            self.pick(len)
        })
    }

    async fn handles(&self, names: &[String]) -> Result<Vec<Node>, WorldError> {
        let mut v = Vec::new();
        for n in names {
            v.push(self.addrs.refresh(self.run, n).await?);
        }
        Ok(v)
    }

    async fn groups(&self, groups: &[Vec<String>]) -> Result<Vec<Vec<Node>>, WorldError> {
        let mut v = Vec::new();
        for g in groups {
            v.push(self.handles(g).await?);
        }
        Ok(v)
    }

    /// Applies `action`; returns the nodes it hit and how to undo it.
    pub async fn apply(
        &mut self,
        action: &Action,
        sample: &Sample,
    ) -> Result<(Vec<String>, Undo), WorldError> {
        Ok(match action {
            Action::Isolate { target } => {
                let names = self.resolve(target, sample);
                for n in self.handles(&names).await? {
                    isolate::isolate(&n)?;
                }
                (names.clone(), Undo::ClearRules(names))
            }
            Action::Partition { groups } => {
                let groups: Vec<Vec<String>> = match groups {
                    Groups::Explicit(g) => g.clone(),
                    Groups::Halves => {
                        let mid = self.nodes.len().div_ceil(2);
                        vec![self.nodes[..mid].to_vec(), self.nodes[mid..].to_vec()]
                    }
                    Groups::MajorityMinority => {
                        let majority = self.resolve(&[Target::Role(Role::Majority)], sample);
                        let minority = self
                            .nodes
                            .iter()
                            .filter(|n| !majority.contains(n))
                            .cloned()
                            .collect();
                        vec![majority, minority]
                    }
                };
                self.partition(groups).await?
            }
            Action::Bridge { groups, .. } => self.partition(groups.clone()).await?,
            Action::PartitionOneWay { from, to } => {
                let (from, to) = (self.resolve(from, sample), self.resolve(to, sample));
                let (f, t) = (self.handles(&from).await?, self.handles(&to).await?);
                partition::one_way(&f.iter().collect::<Vec<_>>(), &t.iter().collect::<Vec<_>>())?;
                let mut all = [from, to].concat();
                all.sort();
                all.dedup();
                (all.clone(), Undo::ClearRules(all))
            }
            Action::CutDiscovery { target } => {
                let names = self.resolve(target, sample);
                let store_ips: Vec<_> = self
                    .store
                    .names
                    .iter()
                    .filter_map(|s| self.addrs.ip(s))
                    .collect();
                for n in self.handles(&names).await? {
                    for ip in &store_ips {
                        n.cut(*ip)?;
                    }
                }
                (names.clone(), Undo::ClearRules(names))
            }
            Action::PacketLoss { target, rate } => {
                let names = self.resolve(target, sample);
                for n in self.handles(&names).await? {
                    loss::packet_loss(&n, *rate)?;
                }
                (names.clone(), Undo::ClearRules(names))
            }
            Action::Pause { target } => {
                let names = self.resolve(target, sample);
                for n in &names {
                    self.run.pause(n).await?;
                }
                self.set(&names, Status::Paused);
                (names.clone(), Undo::Unpause(names))
            }
            Action::Kill { target } => {
                let names = self.resolve(target, sample);
                self.kill(&names).await?;
                (names.clone(), Undo::Restart(names))
            }
            Action::KillLeader => {
                let names = self.resolve(&[Target::Role(Role::Leader)], sample);
                self.kill(&names).await?;
                (names.clone(), Undo::Restart(names))
            }
            Action::Restart { target } => {
                let names = self.resolve(target, sample);
                self.kill(&names).await?;
                self.undo(Undo::Restart(names.clone())).await?;
                (names, Undo::Nothing)
            }
            Action::KillStoreLeader => {
                let names: Vec<String> = self.store.leader(self.addrs).await.into_iter().collect();
                for n in &names {
                    self.run.kill(n).await?;
                }
                (names.clone(), Undo::RestartStore(names))
            }
            Action::Heal => (Vec::new(), Undo::Nothing),
        })
    }

    async fn partition(&self, groups: Vec<Vec<String>>) -> Result<(Vec<String>, Undo), WorldError> {
        let handles = self.groups(&groups).await?;
        let refs: Vec<Vec<&Node>> = handles.iter().map(|g| g.iter().collect()).collect();
        partition::partition(&refs)?;
        let mut all = groups.concat();
        all.sort();
        Ok((all.clone(), Undo::ClearRules(all)))
    }

    async fn kill(&self, names: &[String]) -> Result<(), WorldError> {
        // Marked down first, so that nobody writes to or probes a corpse.
        self.set(names, Status::Down);
        for n in names {
            self.run.kill(n).await?;
        }
        Ok(())
    }

    /// Undoes one applied fault.
    pub async fn undo(&self, undo: Undo) -> Result<(), WorldError> {
        match undo {
            Undo::ClearRules(names) => {
                let up: Vec<String> = {
                    let s = self.statuses.lock().expect("statuses lock");
                    names
                        .into_iter()
                        .filter(|n| s.get(n) != Some(&Status::Down))
                        .collect()
                };
                // Looked up afresh: a node restarted since has a new
                // namespace (with no rules in it).
                let mut handles = Vec::new();
                for n in &up {
                    if let Ok(h) = self.addrs.refresh(self.run, n).await {
                        handles.push(h);
                    }
                }
                nemesis::heal(&handles)?;
            }
            Undo::Unpause(names) => {
                for n in &names {
                    self.run.unpause(n).await?;
                }
                self.set(&names, Status::Up);
            }
            Undo::Restart(names) => {
                for n in &names {
                    self.run.restart(n).await?;
                    self.addrs.refresh(self.run, n).await?;
                }
                self.set(&names, Status::Up);
            }
            Undo::RestartStore(names) => {
                for n in &names {
                    self.run.restart(n).await?;
                    self.addrs.refresh(self.run, n).await?;
                }
            }
            Undo::Nothing => {}
        }
        Ok(())
    }
}
