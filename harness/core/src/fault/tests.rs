//! The engine against a recording world: which atoms each fault puts in
//! effect and undoes, role waits, seeded picks and derived state.

use std::future::Future;

use super::*;

/// Records what the engine asks of a world; its futures are ready at once.
#[derive(Default)]
struct Book {
    leader: Option<String>,
    log: Vec<String>,
}

impl Nemesis for Book {
    type Error = std::convert::Infallible;
    async fn leader(&mut self) -> Option<String> {
        self.leader.clone()
    }
    async fn store_leader(&mut self) -> Option<String> {
        Some("s1".into())
    }
    async fn apply(&mut self, atom: &Atom) -> Result<(), Self::Error> {
        self.log.push(format!("+{atom:?}"));
        Ok(())
    }
    async fn undo(&mut self, atom: &Atom) -> Result<(), Self::Error> {
        self.log.push(format!("-{atom:?}"));
        Ok(())
    }
    async fn bounce(&mut self, node: &str) -> Result<(), Self::Error> {
        self.log.push(format!("bounce {node}"));
        Ok(())
    }
    async fn store(&mut self, op: &StoreOp) -> Result<(), Self::Error> {
        self.log.push(format!("store {op:?}"));
        Ok(())
    }
    async fn database(&mut self, op: &DbOp) -> Result<(), Self::Error> {
        self.log.push(format!("database {op:?}"));
        Ok(())
    }
}

fn scenario(faults: &str) -> Scenario {
    let text = format!(
        "description = \"t\"\nworlds = [\"sim\"]\n[excluded]\ncontainers = \"t\"\n\
         [discovery]\nkind = \"etcd\"\n[cluster]\nkind = \"etcd\"\nnodes = 3\n{faults}"
    );
    clusterlab_scenario::parse("t.toml", "t", &text).unwrap()
}

fn served() -> Past {
    Past {
        served: ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect(),
        ..Past::default()
    }
}

fn run(engine: &mut Engine, book: &mut Book, until: u64) -> Vec<EventKind> {
    let mut out = Vec::new();
    let past = served();
    for s in 0..=until {
        let fired = engine.fire(Duration::from_secs(s), &past, book);
        out.extend(futures_ready(fired).unwrap());
    }
    out
}

/// Polls a future that must be ready at once.
fn futures_ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the book never waits"),
    }
}

#[test]
fn each_fault_is_undone_by_its_own_undo_and_shared_effects_last() {
    let s = scenario(
        "[[faults]]\nat = \"1s\"\naction = \"partition\"\ngroups = [[\"n1\"], [\"n2\", \"n3\"]]\nfor = \"5s\"\n\
         [[faults]]\nat = \"2s\"\naction = \"isolate\"\ntarget = \"n1\"\nfor = \"2s\"\n\
         [[faults]]\nat = \"3s\"\naction = \"partition\"\ngroups = [[\"n1\"], [\"n2\"]]\n",
    );
    let mut e = Engine::new(&s, 1, vec!["s1".into()]);
    let mut b = Book::default();
    run(&mut e, &mut b, 4);
    // The isolation ended alone; both partitions still cut n1-n2.
    assert!(
        b.log.contains(&"-Isolate(\"n1\")".to_string()),
        "{:?}",
        b.log
    );
    assert_eq!(
        b.log.iter().filter(|l| l.contains("Cut")).count(),
        2,
        "{:?}",
        b.log
    );
    run(&mut e, &mut b, 7);
    // The first partition ended: n1-n3 healed, n1-n2 still held by the third.
    assert!(
        b.log.contains(&"-Cut(\"n1\", \"n3\")".to_string()),
        "{:?}",
        b.log
    );
    assert!(
        !b.log.contains(&"-Cut(\"n1\", \"n2\")".to_string()),
        "{:?}",
        b.log
    );
    let healed = futures_ready(e.heal_all(Duration::from_secs(8), &mut b)).unwrap();
    assert_eq!(healed.len(), 1, "{healed:?}");
    assert!(b.log.contains(&"-Cut(\"n1\", \"n2\")".to_string()));
    assert!(e.in_effect().next().is_none());
}

#[test]
fn a_shaped_store_link_is_one_atom_per_direction_and_excuses_the_node() {
    let s = scenario(
        "[[faults]]\nat = \"1s\"\naction = \"latency\"\ntarget = \"n1\"\npeer = \"store\"\ndelay = \"2s\"\nfor = \"3s\"\n\
         [[faults]]\nat = \"1s\"\naction = \"duplicate\"\ntarget = \"n2\"\ndirection = \"in\"\nrate = 0.5\n",
    );
    let mut e = Engine::new(&s, 1, vec!["s1".into()]);
    let mut b = Book::default();
    run(&mut e, &mut b, 1);
    let late = Shaping {
        delay_us: 2_000_000,
        hold_ppm: 1_000_000,
        ..Shaping::default()
    };
    for atom in [
        Atom::Shape("n1".into(), Some("s1".into()), late),
        Atom::Shape("s1".into(), Some("n1".into()), late),
    ] {
        assert!(b.log.contains(&format!("+{atom:?}")), "{:?}", b.log);
    }
    // `in` with every peer: each other node and the store send n2 copies.
    let copies = b
        .log
        .iter()
        .filter(|l| l.contains("duplicate_ppm: 500000"))
        .count();
    assert_eq!(copies, 3, "{:?}", b.log);
    assert!(
        b.log.iter().all(|l| !l.contains("Shape(\"n2\"")),
        "{:?}",
        b.log
    );
    // n1 cannot be expected to keep its lease; n2's copies delay
    // nothing.
    assert!(!e.reaches_store().contains("n1"));
    assert!(e.reaches_store().contains("n2"));
    run(&mut e, &mut b, 4);
    assert!(b.log.contains(&format!(
        "-{:?}",
        Atom::Shape("s1".into(), Some("n1".into()), late)
    )));
    assert!(e.reaches_store().contains("n1"));
}

#[test]
fn a_leader_target_waits_for_a_leader_then_gives_up() {
    let s = scenario("[[faults]]\nat = \"1s\"\naction = \"kill-leader\"\nfor = \"60s\"\n");
    let mut e = Engine::new(&s, 1, vec!["s1".into()]);
    let mut b = Book::default();
    assert!(
        run(&mut e, &mut b, 5).is_empty(),
        "waits while no leader is known"
    );
    b.leader = Some("n2".into());
    let ev = run(&mut e, &mut b, 6);
    assert!(
        matches!(&ev[0], EventKind::FaultStart { nodes, due_ms: 1000, .. } if nodes == &["n2"]),
        "{ev:?}"
    );
    assert_eq!(e.state("n2"), NodeState::Down);
    let s = scenario("[[faults]]\nat = \"1s\"\naction = \"kill-leader\"\n");
    let mut e = Engine::new(&s, 1, vec!["s1".into()]);
    let ev = run(&mut e, &mut Book::default(), 25);
    assert!(
        ev.iter()
            .any(|e| matches!(e, EventKind::Check { name, .. } if name == "fault-target")),
        "{ev:?}"
    );
}

#[test]
fn random_picks_depend_on_seed_and_fault_only() {
    let s = scenario("[[faults]]\nat = \"1s\"\naction = \"isolate\"\ntarget = \"random\"\n");
    let hit = |seed, leader: Option<&str>| {
        let mut e = Engine::new(&s, seed, vec!["s1".into()]);
        let mut b = Book {
            leader: leader.map(str::to_string),
            ..Book::default()
        };
        match &run(&mut e, &mut b, 1)[0] {
            EventKind::FaultStart { nodes, .. } => nodes.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        hit(7, None),
        hit(7, Some("n1")),
        "the leader does not move a random pick"
    );
    let all: BTreeSet<Vec<String>> = (0..32).map(|s| hit(s, None)).collect();
    assert!(all.len() > 1, "seeds pick different nodes: {all:?}");
}

#[test]
fn a_killed_node_is_down_until_its_fault_ends_and_the_store_counts_its_majority() {
    let s = scenario(
        "[[faults]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"n1\"\nfor = \"2s\"\n\
         [[faults]]\nat = \"1s\"\naction = \"kill-store-leader\"\nfor = \"2s\"\n",
    );
    let mut e = Engine::new(&s, 1, vec!["s1".into(), "s2".into(), "s3".into()]);
    let mut b = Book::default();
    run(&mut e, &mut b, 1);
    assert_eq!(e.state("n1"), NodeState::Down);
    assert!(e.store_up(), "two of three store nodes are up");
    assert!(!e.reaches_store().contains("n1"));
    assert!(e.reaches_store().contains("n2"));
    run(&mut e, &mut b, 3);
    assert_eq!(e.state("n1"), NodeState::Up);
    assert!(b.log.contains(&"-Down(\"n1\")".to_string()));
    let mut one = Engine::new(&s, 1, vec!["s1".into()]);
    run(&mut one, &mut b, 1);
    assert!(
        !one.store_up(),
        "a single store node down is the store down"
    );
    assert!(one.reaches_store().is_empty());
}

/// Before the change any store node's kill or restart moved
/// `store_changed` (widening `leader-key-expiry` by a lease), and any
/// store operation set `tampered` (silencing every leader overlap).
/// Now only a store leader's kill or a regained quorum moves the one,
/// and only a theft of the leader key is recorded, with its holder.
#[test]
fn only_leader_changes_and_key_thefts_excuse() {
    let s = scenario(
        "[[faults]]\nat = \"1s\"\naction = \"kill-store-leader\"\nfor = \"2s\"\n\
         [[faults]]\nat = \"5s\"\naction = \"delete-key\"\nkey = \"member\"\ntarget = \"n2\"\n\
         [[faults]]\nat = \"6s\"\naction = \"revoke-lease\"\ntarget = \"n3\"\n\
         [[faults]]\nat = \"7s\"\naction = \"delete-key\"\nkey = \"leader\"\n",
    );
    let three = vec!["s1".into(), "s2".into(), "s3".into()];
    let mut e = Engine::new(&s, 1, three);
    let mut b = Book::default();
    run(&mut e, &mut b, 2);
    assert_eq!(
        e.store_changed(),
        Some(Duration::from_secs(1)),
        "its leader killed"
    );
    run(&mut e, &mut b, 4);
    assert_eq!(
        e.store_changed(),
        Some(Duration::from_secs(1)),
        "the old leader back as a follower changes no lease"
    );
    run(&mut e, &mut b, 5);
    assert!(e.taken().is_empty(), "a member key is not the leader key");
    run(&mut e, &mut b, 7);
    assert_eq!(
        e.taken(),
        [
            Taken {
                at: Duration::from_secs(6),
                holder: Some("n3".into())
            },
            Taken {
                at: Duration::from_secs(7),
                holder: None
            }
        ]
    );
    // A one-node store: its restart is a regained quorum.
    let s = scenario("[[faults]]\nat = \"1s\"\naction = \"kill-store-leader\"\nfor = \"2s\"\n");
    let mut e = Engine::new(&s, 1, vec!["s1".into()]);
    run(&mut e, &mut b, 4);
    assert_eq!(e.store_changed(), Some(Duration::from_secs(3)));
}

/// A paused, isolated or store-cut node is severed; a lossy one is not.
#[test]
fn severed_nodes_are_the_ones_with_no_path_to_the_store() {
    let s = scenario(
        "[[faults]]\nat = \"1s\"\naction = \"pause\"\ntarget = \"n1\"\nfor = \"5s\"\n\
         [[faults]]\nat = \"1s\"\naction = \"cut-discovery\"\ntarget = \"n2\"\nfor = \"5s\"\n\
         [[faults]]\nat = \"1s\"\naction = \"packet-loss\"\ntarget = \"n3\"\nrate = 0.5\nfor = \"5s\"\n",
    );
    let mut e = Engine::new(&s, 1, vec!["s1".into()]);
    let mut b = Book::default();
    run(&mut e, &mut b, 2);
    let severed: Vec<&str> = e.severed().iter().map(String::as_str).collect();
    assert_eq!(severed, ["n1", "n2"]);
    run(&mut e, &mut b, 7);
    assert!(e.severed().is_empty());
}

/// A node that leaves and is cut from the store at once, or in the same
/// instant, may not have deregistered: the engine says since when; one
/// whose path stayed open is not named.
#[test]
fn a_leaver_cut_from_the_store_is_named_with_when() {
    let s = scenario(
        "[[faults]]\nat = \"2s\"\naction = \"isolate\"\ntarget = \"n1\"\nfor = \"3s\"\n\
         [[faults]]\nat = \"2s\"\naction = \"leave\"\ntarget = \"n1\"\n\
         [[faults]]\nat = \"3s\"\naction = \"leave\"\ntarget = \"n2\"\n\
         [[faults]]\nat = \"6s\"\naction = \"leave\"\ntarget = \"n3\"\n\
         [[faults]]\nat = \"8s\"\naction = \"cut-discovery\"\ntarget = \"n3\"\nfor = \"1s\"\n",
    );
    let mut e = Engine::new(&s, 1, vec!["s1".into()]);
    let mut b = Book::default();
    run(&mut e, &mut b, 10);
    let cut: Vec<(&str, u64)> = e
        .left_cut()
        .iter()
        .map(|(n, at)| (n.as_str(), at.as_secs()))
        .collect();
    assert_eq!(
        cut,
        [("n1", 2), ("n3", 8)],
        "n2 reached the store throughout"
    );
}
