//! The bugs a review of disco found, each as the fault that exposes it,
//! injected into a real etcd's calls by `clusterlab_servers::faulty`. Each
//! test failed before its fix.

use std::time::Duration;

use clusterlab_servers::faulty::{Control, Fault, Faulty};
use clusterlab_servers::Server;
use disco::announce::{AnnounceConfig, Announcement};
use disco::backend::EtcdRegistry;
use disco::bootstrap::Role;
use disco::leader::{Election, LeaderRecord, Leadership};
use disco::node::{Node, NodeConfig};
use disco::{Keys, Registry, Revision};
use tokio::time::Instant;

fn config(node: &str, cluster: &str, ttl: u64, campaign: bool) -> NodeConfig {
    NodeConfig {
        prefix: "disco".into(),
        cluster: cluster.into(),
        node: node.into(),
        address: format!("{node}:7000"),
        ttl: Duration::from_secs(ttl),
        campaign,
    }
}

/// What node `node` announces: its address and a lease of `ttl` seconds.
fn announce_config(node: &str, ttl: u64) -> AnnounceConfig {
    AnnounceConfig {
        node: node.into(),
        address: format!("{node}:7000"),
        ttl: Duration::from_secs(ttl),
    }
}

async fn faulty(s: &Server) -> (Faulty<EtcdRegistry>, Control) {
    Faulty::new(s.etcd_registry().await)
}

/// Polls `cond` every 20 ms until it holds; false if `deadline` passes.
async fn within<F: FnMut() -> Fut, Fut: std::future::Future<Output = bool>>(
    deadline: Duration,
    mut cond: F,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// n1 announced on a lease of `ttl` seconds and campaigning for the
/// leader key; the announcement must be kept, or the lease goes with it.
async fn campaigning_n1(
    r: &Faulty<EtcdRegistry>,
    keys: &Keys,
    ttl: u64,
) -> (Announcement, Election) {
    let ann = Announcement::start(r.clone(), keys.clone(), announce_config("n1", ttl));
    ann.registered(Duration::from_secs(10)).await.unwrap();
    let me = LeaderRecord {
        node: "n1".into(),
        address: "n1:7000".into(),
    };
    let election = Election::start(r.clone(), keys.clone(), me, ann.subscribe());
    (ann, election)
}

/// Whether the term of token `old` ends within 3 s (a new term may begin).
async fn term_ends_in_3s(election: &Election, old: Revision) -> bool {
    within(Duration::from_secs(3), || {
        let term = election.current().token();
        async move { term != Some(old) }
    })
    .await
}

/// 1a. The winning create was applied but its reply lost: the retry finds
/// the node's own claim. It must still bootstrap (it used to rejoin a
/// cluster nobody had created).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_bootstrap_whose_reply_was_lost_still_bootstraps() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    control.once("create", Fault::DropReply);
    let node = Node::start(
        r,
        config("n1", "lost-reply", 2, false),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(control.calls("create"), 2, "the reply was lost once");
    assert_eq!(*node.role(), Role::Bootstrap);
}

/// 1b. The winner dies before its database exists: its claim lapses with
/// its lease and another node bootstraps (the key used to name the dead
/// winner for good, and every other node waited to join nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrapper_that_dies_before_its_database_exists_is_replaced() {
    let s = Server::etcd().await;
    let a = Node::start_uncommitted(
        s.etcd_registry().await,
        config("n1", "dies-early", 2, false),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(*a.role(), Role::Bootstrap);
    drop(a); // a crash: no deregistration, no commit
    let b = tokio::time::timeout(
        Duration::from_secs(15),
        Node::start(
            s.etcd_registry().await,
            config("n2", "dies-early", 2, false),
            Duration::from_secs(10),
        ),
    )
    .await
    .expect("n2 decides within the dead claim's lease")
    .unwrap();
    assert_eq!(*b.role(), Role::Bootstrap, "n2 bootstraps in n1's place");
}

/// 1c. Found by mutation testing: a node restarted before its database
/// existed finds its earlier life's claim, on a lease that died with that
/// life. It must not adopt that claim (it lapses with the dead lease, maybe
/// before this life's database exists, and another node then bootstraps
/// too); it waits for it to lapse and claims on its own live lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_does_not_adopt_its_earlier_lifes_claim() {
    let s = Server::etcd().await;
    let cfg = || config("n1", "restarted", 2, false);
    let first = Node::start_uncommitted(s.etcd_registry().await, cfg(), Duration::from_secs(10))
        .await
        .unwrap();
    drop(first); // a crash: its lease lives on for up to a TTL
    let again = Node::start_uncommitted(s.etcd_registry().await, cfg(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(*again.role(), Role::Bootstrap);
    // The claim must outlive the dead lease: this life keeps it alive
    // until it commits.
    let r = s.etcd_registry().await;
    let key = Keys::new("disco", "restarted").bootstrap();
    let lapsed = within(Duration::from_secs(6), || async {
        r.get(&key).await.unwrap().is_none()
    })
    .await;
    assert!(!lapsed, "the claim lapsed with the earlier life's lease");
    drop(again);
}

/// 1d. Found by mutation testing: a node that finds another's claim pending
/// waits for the key to change (a watch), then decides; it does not ask
/// the store again and again while the claimant initialises its database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_claim_is_waited_for_not_polled() {
    let s = Server::etcd().await;
    let cfg = |n| config(n, "pending", 2, false);
    let first =
        Node::start_uncommitted(s.etcd_registry().await, cfg("n1"), Duration::from_secs(10))
            .await
            .unwrap();
    let (r, control) = faulty(&s).await;
    let second = tokio::spawn(Node::start(r, cfg("n2"), Duration::from_secs(30)));
    assert!(
        within(Duration::from_secs(5), || async {
            control.calls("create") >= 1
        })
        .await
    );
    let seen = control.calls("create");
    let polled = within(Duration::from_secs(2), || async {
        control.calls("create") > seen + 2
    })
    .await;
    assert!(
        !polled,
        "a pending claim was polled: {} creates",
        control.calls("create")
    );
    first.bootstrapped(&s.etcd_registry().await).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("n2 decides once the claim is committed")
        .unwrap()
        .unwrap();
    assert_eq!(
        *second.role(),
        Role::Join {
            bootstrapper: "n1".into()
        }
    );
}

/// 1e. Found by mutation testing: a claim that lapsed (its lease revoked
/// from outside) and was then won by another node cannot be committed: the
/// commit says the bootstrap was lost, never that it succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_claim_cannot_be_committed() {
    let s = Server::etcd().await;
    let cfg = |n| config(n, "lapsed", 3, false);
    let first =
        Node::start_uncommitted(s.etcd_registry().await, cfg("n1"), Duration::from_secs(10))
            .await
            .unwrap();
    let r = s.etcd_registry().await;
    let key = Keys::new("disco", "lapsed").bootstrap();
    let claim = r.get(&key).await.unwrap().expect("n1's claim");
    r.revoke(claim.lease.as_ref().expect("a claim is on a lease"))
        .await
        .unwrap();
    let second =
        Node::start_uncommitted(s.etcd_registry().await, cfg("n2"), Duration::from_secs(10))
            .await
            .unwrap();
    assert_eq!(
        *second.role(),
        Role::Bootstrap,
        "n2 claims once n1's claim is gone"
    );
    let err = first.bootstrapped(&r).await.unwrap_err();
    assert!(
        matches!(err, disco::DiscoError::BootstrapLost { .. }),
        "{err}"
    );
}

/// 1f. Found by mutation testing: a commit applied whose reply was lost is
/// recognised as done on the retry, not taken for a lost bootstrap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_reply_was_lost_is_done() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    let node = Node::start_uncommitted(
        r.clone(),
        config("n1", "commit-reply", 2, false),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    control.once("cas", Fault::DropReply);
    node.bootstrapped(&r).await.unwrap();
    assert_eq!(control.calls("cas"), 2, "the reply was lost once");
}

/// 2. A store that refuses the claim outright (Consul's 409 for any failed
/// operation of a transaction) is retried with backoff, not hammered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bootstrap_claim_backs_off() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    control.always("create", Fault::Refuse);
    let start = tokio::spawn(Node::start(
        r,
        config("n1", "refused", 2, false),
        Duration::from_secs(30),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = control.calls("create");
    assert!(
        calls <= 12,
        "{calls} claims in 2 s: backoff, not a retry storm"
    );
    control.clear("create");
    let node = start.await.unwrap().unwrap();
    assert_eq!(*node.role(), Role::Bootstrap);
}

/// 3. The leader key deleted from outside (an operator's `etcdctl del`)
/// while the holder's lease lives and its watch cannot start: the holder
/// steps down while another node takes the key (it used to keep leading,
/// every renewal extending its term).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_key_is_deleted_steps_down_without_a_watch() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    control.always("watch", Fault::Refuse);
    let keys = Keys::new("disco", "deleted");
    let (_ann, election) = campaigning_n1(&r, &keys, 3).await;
    let mut view = election.subscribe();
    let old = view
        .wait_for(|l| l.is_leader_now())
        .await
        .unwrap()
        .token()
        .expect("a term");
    s.etcd_registry()
        .await
        .delete(&keys.leader())
        .await
        .unwrap();
    // n1's old term must end (it may win a new one: the key is free).
    assert!(
        term_ends_in_3s(&election, old).await,
        "n1 still leads under token {old} 3 s after its key was deleted"
    );
}

/// 3b. A leader whose key another node rewrote steps down when its watch
/// shows the new key, even when the watch never shows the deletion in
/// between (a store that batches one watch response's events, a watcher
/// that reads late): the key is its own only if its create revision is the
/// term's token, not because something is there. Otherwise it leads on
/// beside the key's new holder until its next renewal re-reads the key. (A
/// surviving mutant: taking any entry under the key's name for its own.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_key_is_rewritten_steps_down_at_its_watch() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    control.always("watch", Fault::Coalesce(Duration::from_secs(1)));
    let keys = Keys::new("disco", "rewritten");
    // Renewals every 5 s (a third of the TTL), each followed by a re-read.
    let ttl = 15;
    let (_ann, election) = campaigning_n1(&r, &keys, ttl).await;
    let mut view = election.subscribe();
    let (token, until) = match &*view.wait_for(|l| l.is_leader_now()).await.unwrap() {
        Leadership::Leader { token, valid_until } => (*token, *valid_until),
        other => panic!("not a term: {other:?}"),
    };
    // A renewal just confirmed against the key: the next re-read is a
    // renewal interval away, so only the watch can tell n1 in time.
    view.wait_for(|l| matches!(l, Leadership::Leader { token: t, valid_until } if *t == token && *valid_until > until))
        .await
        .unwrap();
    let outsider = s.etcd_registry().await;
    outsider.delete(&keys.leader()).await.unwrap();
    let lease = outsider.grant(Duration::from_secs(ttl)).await.unwrap();
    let n9 = serde_json::to_string(&LeaderRecord {
        node: "n9".into(),
        address: "n9:7000".into(),
    })
    .unwrap();
    outsider
        .put(&keys.leader(), &n9, Some(&lease.id))
        .await
        .unwrap();
    assert!(
        term_ends_in_3s(&election, token).await,
        "n1 still leads under token {token} 3 s after n9 rewrote its key"
    );
}

/// A resignation hands the key over at once: another campaigner wins well
/// inside the TTL instead of waiting for the resigner's lease to lapse. (A
/// surviving mutant: `Election::resign` that did nothing passed every
/// test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resignation_hands_the_key_over_within_the_ttl() {
    let s = Server::etcd().await;
    let keys = Keys::new("disco", "resign");
    let ttl = Duration::from_secs(20);
    let mut elections = Vec::new();
    for n in ["n1", "n2"] {
        let r = s.etcd_registry().await;
        let cfg = announce_config(n, ttl.as_secs());
        let ann = Announcement::start(r.clone(), keys.clone(), cfg);
        ann.registered(Duration::from_secs(10)).await.unwrap();
        let me = LeaderRecord {
            node: n.into(),
            address: format!("{n}:7000"),
        };
        elections.push((Election::start(r, keys.clone(), me, ann.subscribe()), ann));
    }
    let leads = |e: &Election| e.current().is_leader_now();
    let won = within(Duration::from_secs(10), || {
        let any = elections.iter().any(|(e, _)| leads(e));
        async move { any }
    })
    .await;
    assert!(won, "nobody won the free key in 10 s");
    let at = elections.iter().position(|(e, _)| leads(e)).unwrap();
    let (resigner, _ann) = elections.remove(at);
    resigner.resign().await;
    let (other, _) = &elections[0];
    let start = Instant::now();
    let handed = within(Duration::from_secs(5), || {
        let l = leads(other);
        async move { l }
    })
    .await;
    assert!(
        handed,
        "the other campaigner still follows {:?} after a resignation (TTL {ttl:?})",
        start.elapsed()
    );
}

/// A dropped election stops at once, without resigning (its doc's
/// promise: a resignation is `resign`): the key stays until its lease
/// goes, and once it is gone nobody takes it back for the dropped node. (A
/// surviving mutant: an `Election` whose drop did not abort its task, which
/// then saw its stop channel close and resigned, passed every test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_election_neither_resigns_nor_campaigns() {
    let s = Server::etcd().await;
    let r = s.etcd_registry().await;
    let keys = Keys::new("disco", "dropped");
    let cfg = announce_config("n1", 20);
    let ann = Announcement::start(r.clone(), keys.clone(), cfg);
    ann.registered(Duration::from_secs(10)).await.unwrap();
    let me = LeaderRecord {
        node: "n1".into(),
        address: "n1:7000".into(),
    };
    let election = Election::start(r.clone(), keys.clone(), me, ann.subscribe());
    let mut view = election.subscribe();
    view.wait_for(|l| l.is_leader_now()).await.unwrap();
    drop(election);
    let key_is = |present: bool| {
        let (r, key) = (r.clone(), keys.leader());
        move || {
            let (r, key) = (r.clone(), key.clone());
            async move { r.get(&key).await.unwrap().is_some() == present }
        }
    };
    let resigned = within(Duration::from_secs(2), key_is(false)).await;
    assert!(!resigned, "dropping the election deleted the leader key");
    r.delete(&keys.leader()).await.unwrap();
    let retaken = within(Duration::from_secs(2), key_is(true)).await;
    assert!(!retaken, "a dropped election took the leader key back");
}

/// Found by mutation testing: dropping an announcement is a crash, as
/// dropping an election is: renewals stop, and the key stays until its
/// lease runs out. Tests and the simulator crash a node by dropping it;
/// were a drop to deregister (it would, by closing the stop channel, if
/// it did not abort the task), every crash would be a clean leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_announcement_neither_deregisters_nor_renews() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    let keys = Keys::new("disco", "dropped-announcement");
    let ann = Announcement::start(
        r.clone(),
        keys.clone(),
        // Renewed every 2 s; the key outlives the last renewal by 6 s.
        announce_config("n1", 6),
    );
    ann.registered(Duration::from_secs(10)).await.unwrap();
    drop(ann);
    let renewals = control.calls("keep_alive");
    let key = keys.member("n1");
    let deleted = within(Duration::from_secs(3), || {
        let (r, key) = (r.clone(), key.clone());
        async move { r.get(&key).await.unwrap().is_none() }
    })
    .await;
    assert!(!deleted, "dropping the announcement deleted its key");
    assert_eq!(
        control.calls("keep_alive"),
        renewals,
        "a dropped announcement went on renewing its lease"
    );
}

/// Found by mutation testing: renewals that fail for good while other
/// calls go through (a broken keep-alive path) must not leave the node on
/// a lease that has certainly expired, waiting for a store answer that
/// says so: once it cannot have survived, the node announces again on a
/// new lease. Until then it retries with backoff, not in a storm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_renewals_all_fail_announces_again_once_its_lease_is_gone() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    let keys = Keys::new("disco", "renewals-fail");
    let ann = Announcement::start(r.clone(), keys.clone(), announce_config("n1", 3));
    let first = ann.registered(Duration::from_secs(10)).await.unwrap();
    let before = control.calls("keep_alive");
    control.always("keep_alive", Fault::Refuse);
    // etcd's contract: a lease nobody renews is gone TTL (3 s) after its
    // last renewal, which came at most one renewal interval (TTL/3) before
    // the refusals began; a failed renewal is retried within an interval;
    // 2 s more for the new grant and put.
    let bound = Duration::from_secs(3 + 1 + 1 + 2);
    let mut rx = ann.subscribe();
    let moved = tokio::time::timeout(
        bound,
        rx.wait_for(|l| l.as_ref().is_some_and(|l| l.lease.id != first.lease.id)),
    )
    .await;
    assert!(
        moved.is_ok(),
        "still on lease {:?} {bound:?} after its renewals began to fail",
        first.lease.id
    );
    // Meanwhile a refused renewal was retried after a pause, not at once
    // (the module's backoff: 100 ms doubling to a third of the TTL, never
    // under half that): at most 20 tries in those 7 s, where a retry loop
    // with no pause would make thousands.
    let tries = control.calls("keep_alive") - before;
    assert!(
        tries <= 20,
        "{tries} refused renewals before announcing again: a retry storm"
    );
    let now = ann.lease().expect("registered again");
    let entry = r.get(&keys.member("n1")).await.unwrap();
    assert_eq!(
        entry.and_then(|e| e.lease),
        Some(now.lease.id),
        "the member key is back, on the new lease"
    );
}

/// Found by mutation testing: renewals come one per interval (TTL/3, the
/// rate the module documents), never in a burst: a mistaken schedule
/// (renewing again at once after a renewal, or right after the grant)
/// still keeps the lease, so only the store's load would show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_come_one_per_interval() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    let ann = Announcement::start(
        r,
        Keys::new("disco", "renewal-rate"),
        announce_config("n1", 3),
    );
    ann.registered(Duration::from_secs(10)).await.unwrap();
    let start = Instant::now();
    // Renewals are due 1 s and 2 s after the grant, the next at 3 s: two
    // fit in 2.5 s, and a slow machine only makes them later.
    let window = Duration::from_millis(2500);
    let wait = within(window, || async { control.calls("keep_alive") > 2 }).await;
    assert!(
        !wait,
        "{} renewals within {:?} of the grant, with a 1 s interval",
        control.calls("keep_alive"),
        start.elapsed()
    );
    assert!(
        control.calls("keep_alive") >= 1,
        "the lease was renewed within the window"
    );
}

/// n1 announced on a lease of `ttl` seconds through `r`, past its first
/// renewal (the member key is watched from then on), and the key's name.
async fn renewed_n1(
    r: &Faulty<EtcdRegistry>,
    control: &Control,
    keys: &Keys,
    ttl: u64,
) -> (Announcement, String) {
    let ann = Announcement::start(r.clone(), keys.clone(), announce_config("n1", ttl));
    ann.registered(Duration::from_secs(10)).await.unwrap();
    let interval = Duration::from_secs(ttl) / 3;
    let renewed = within(interval * 2, || async { control.calls("keep_alive") >= 1 }).await;
    assert!(renewed, "no renewal within two intervals");
    (ann, keys.member("n1"))
}

/// Whether `key` is back on `ann`'s lease within `deadline`.
async fn back_within(
    r: &Faulty<EtcdRegistry>,
    ann: &Announcement,
    key: &str,
    deadline: Duration,
) -> bool {
    let lease = ann.lease().expect("registered").lease.id;
    within(deadline, || {
        let (r, key, lease) = (r.clone(), key.to_string(), lease.clone());
        async move { r.get(&key).await.ok().flatten().and_then(|e| e.lease) == Some(lease) }
    })
    .await
}

/// A member key deleted or overwritten from outside (an operator, a
/// cleanup script, another process under the same name) while the lease
/// lives is written again on the lease as soon as the store reports it:
/// the node watches its own key. TTL 15 s: the next renewal is 5 s away,
/// the next read of the key 15 s, so only the watch is in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_key_deleted_or_overwritten_from_outside_is_written_again_at_once() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    let keys = Keys::new("disco", "member-deleted");
    let (ann, key) = renewed_n1(&r, &control, &keys, 15).await;
    // The watch's first snapshot shows the key: wait until it is open.
    assert!(
        within(Duration::from_secs(2), || async {
            control.calls("watch") >= 1
        })
        .await
    );
    s.etcd_registry().await.delete(&key).await.unwrap();
    assert!(
        back_within(&r, &ann, &key, Duration::from_secs(2)).await,
        "the member key was not written again within 2 s of its deletion"
    );
    // Overwritten on no lease: it would outlive the node.
    s.etcd_registry()
        .await
        .put(&key, "elsewhere:7000", None)
        .await
        .unwrap();
    assert!(
        back_within(&r, &ann, &key, Duration::from_secs(2)).await,
        "the member key was not taken back within 2 s of its overwrite"
    );
}

/// Without a watch on its key (the store refuses it), every renewal reads
/// the key: a deletion is mended within a renewal interval (2 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_key_deleted_unwatched_is_written_again_at_the_next_renewal() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    control.always("watch", Fault::Refuse);
    let keys = Keys::new("disco", "member-deleted-unwatched");
    let (ann, key) = renewed_n1(&r, &control, &keys, 6).await;
    s.etcd_registry().await.delete(&key).await.unwrap();
    // One interval to the next renewal, 1 s for it and the write.
    assert!(
        back_within(&r, &ann, &key, Duration::from_secs(3)).await,
        "the member key was not written again within a renewal interval"
    );
}

/// A watch that sees nothing (on a stalled connection) must not hide a
/// deletion for good: one renewal in three reads the key anyway, so it is
/// back within a TTL (6 s here) of its deletion, however many renewals
/// came before (the deletion comes after the third).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_key_deleted_behind_a_stalled_watch_is_written_again_within_a_ttl() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    control.always("watch", Fault::Stall);
    let keys = Keys::new("disco", "member-deleted-stalled");
    let (ann, key) = renewed_n1(&r, &control, &keys, 6).await;
    let third = within(Duration::from_secs(8), || async {
        control.calls("keep_alive") >= 3
    })
    .await;
    assert!(third, "three renewals within 8 s at a 2 s interval");
    s.etcd_registry().await.delete(&key).await.unwrap();
    assert!(
        back_within(&r, &ann, &key, Duration::from_secs(7)).await,
        "the member key was not written again within a TTL"
    );
}

/// While the member key is watched and nobody touches it, renewals read
/// it only one time in three (the rate the module documents) and nothing
/// writes it again: reading at every renewal doubles the requests a node
/// sends, and a node that took its own key's snapshots for deletions would
/// write it in a loop; only the store's load would show either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_member_key_costs_a_read_in_three_renewals_and_no_writes() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    let keys = Keys::new("disco", "member-reads");
    let (_ann, _key) = renewed_n1(&r, &control, &keys, 3).await;
    let six = within(Duration::from_secs(10), || async {
        control.calls("keep_alive") >= 6
    })
    .await;
    assert!(six, "six renewals within 10 s at a 1 s interval");
    // Reads after renewals 3 and 6, and perhaps one in flight.
    let reads = control.calls("get");
    assert!(
        reads <= 3,
        "{reads} reads of the member key in six renewals"
    );
    let puts = control.calls("put");
    assert_eq!(puts, 1, "the member key was written {puts} times, not once");
}

/// 5. One renewal that never answers (a stalled connection) must not cost
/// a 3 s lease: the next attempt comes within the lease (the renewal used
/// to wait for its backend's 5 s deadline, or for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stalled_renewal_does_not_cost_the_lease() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    let keys = Keys::new("disco", "stalled");
    let ann = Announcement::start(r, keys.clone(), announce_config("n1", 3));
    let first = ann.registered(Duration::from_secs(10)).await.unwrap();
    control.once("keep_alive", Fault::Stall);
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(control.calls("keep_alive") >= 3, "renewals went on");
    let now = ann.lease().expect("still registered");
    assert_eq!(now.lease.id, first.lease.id, "the same lease, never lost");
}

/// 6. A renewal that wrongly says the lease is gone (a keep-alive stream
/// that closed without an answer): the node re-announces on a new lease,
/// and the old one, still alive, is revoked at once, taking the leader key
/// it held (it used to hold it for a whole TTL, beside the new term).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_given_up_is_revoked_with_the_keys_it_holds() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    let keys = Keys::new("disco", "given-up");
    let node = Node::start(
        r.clone(),
        config("n1", "given-up", 10, true),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let mut view = node.election().unwrap().subscribe();
    view.wait_for(|l| l.is_leader_now()).await.unwrap();
    let held = s
        .etcd_registry()
        .await
        .get(&keys.leader())
        .await
        .unwrap()
        .expect("the leader key");
    control.once("keep_alive", Fault::LeaseLost);
    let raw = s.etcd_registry().await;
    let gone = within(Duration::from_secs(5), || {
        let raw = raw.clone();
        let key = keys.leader();
        let created = held.created;
        async move {
            raw.get(&key)
                .await
                .unwrap()
                .is_none_or(|e| e.created != created)
        }
    })
    .await;
    assert!(
        gone,
        "the old term's key outlived the lease the node gave up (TTL 10 s)"
    );
}

/// 7a. Asked to stop while (re-)registering: a put already on the wire
/// lands after the deregistration and must not resurrect the member key on
/// a lease nobody revokes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_registration_leaves_no_key_behind() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    control.delay_puts(Duration::from_millis(800));
    let keys = Keys::new("disco", "stop-early");
    let ann = Announcement::start(r, keys.clone(), announce_config("n1", 10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    ann.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let left = s
        .etcd_registry()
        .await
        .get(&keys.member("n1"))
        .await
        .unwrap();
    assert!(left.is_none(), "the member key came back: {left:?}");
}

/// 7b. A node whose start fails after it registered takes its member key
/// away at once (the error path used to leave it to the TTL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_deregisters() {
    let s = Server::etcd().await;
    let (r, control) = faulty(&s).await;
    control.always("create", Fault::Reject);
    let keys = Keys::new("disco", "failed-start");
    let started = Node::start(
        r,
        config("n1", "failed-start", 10, false),
        Duration::from_secs(10),
    )
    .await;
    assert!(
        started.is_err(),
        "a rejected bootstrap claim fails the start"
    );
    let left = s
        .etcd_registry()
        .await
        .get(&keys.member("n1"))
        .await
        .unwrap();
    assert!(left.is_none(), "the member key outlived the failed start");
}

/// 7c. A leader key that is no leader record and has no lease (left by a
/// script, another tool) would never go: a campaigner must not wait on it
/// for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_leader_key_without_a_lease_does_not_block_the_election() {
    let s = Server::etcd().await;
    let keys = Keys::new("disco", "garbage");
    let raw = s.etcd_registry().await;
    raw.put(&keys.leader(), "not a leader record", None)
        .await
        .unwrap();
    let node = Node::start(
        s.etcd_registry().await,
        config("n1", "garbage", 2, true),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let mut view = node.election().unwrap().subscribe();
    let led = tokio::time::timeout(
        Duration::from_secs(5),
        view.wait_for(|l| matches!(l, Leadership::Leader { .. })),
    )
    .await;
    assert!(led.is_ok(), "no leadership in 5 s behind a garbage key");
}

/// An HTTP client that answers every request with an empty listing and no
/// `X-Consul-Index`, counting the requests.
#[derive(Debug, Clone, Default)]
struct NoIndex(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl disco::backend::http::HttpClient for NoIndex {
    async fn send(
        &self,
        _req: disco::backend::http::HttpRequest,
    ) -> Result<disco::backend::http::HttpResponse, String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(disco::backend::http::HttpResponse {
            status: 200,
            index: 0,
            body: "[]".into(),
        })
    }
}

/// 7d. A Consul answer without `X-Consul-Index` cannot block the next
/// query: the watch must pause between queries, not spin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consul_watch_without_an_index_does_not_spin() {
    let http = NoIndex::default();
    let r = disco::backend::ConsulRegistry::with_client("http://consul.invalid:8500", http.clone())
        .unwrap();
    let _watch = r.watch("disco/c/members/").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = http.0.load(std::sync::atomic::Ordering::Relaxed);
    assert!(n <= 20, "{n} queries in 2 s: the watch spins");
}
