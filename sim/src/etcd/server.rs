//! The model behind etcd's own gRPC API (KV, Lease, Watch), so that disco's
//! real etcd backend (`disco::backend::EtcdRegistry`) talks to it unchanged:
//! over loopback in the differential tests, over turmoil in the simulator.
//!
//! Time is tokio's clock, so under turmoil lease expiry follows simulated
//! time. A sweeper expires leases every [`SWEEP`], as etcd does.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::proto::{
    PbCompare, PbCompareTarget, PbDeleteRequest, PbDeleteResponse, PbKvService,
    PbLeaseGrantRequest, PbLeaseGrantResponse, PbLeaseKeepAliveRequest, PbLeaseKeepAliveResponse,
    PbLeaseLeasesRequest, PbLeaseLeasesResponse, PbLeaseRevokeRequest, PbLeaseRevokeResponse,
    PbLeaseService, PbLeaseTimeToLiveRequest, PbLeaseTimeToLiveResponse, PbPutRequest,
    PbPutResponse, PbRangeRequest, PbRangeResponse, PbResponseHeader, PbResponseOp, PbTargetUnion,
    PbTxnOpRequest, PbTxnOpResponse, PbTxnRequest, PbTxnResponse, PbWatchRequest,
    PbWatchRequestUnion, PbWatchResponse, PbWatchService,
};
use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status, Streaming};

use super::model::{in_range, Model, ModelError};
use crate::chaos::{Chaos, Fate};
use crate::clock::Clock;
use crate::world::net::Peer;

/// How often expired leases are collected.
pub const SWEEP: Duration = Duration::from_millis(500);

type Stream2<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// One model store, shared by the three services.
#[derive(Debug, Clone)]
pub struct Store {
    model: Arc<Mutex<Model>>,
    clock: Clock,
    changed: watch::Sender<i64>,
    chaos: Chaos,
}

/// The client at the other end of a request, if the transport says.
fn peer_of<T>(req: &Request<T>) -> Option<IpAddr> {
    req.extensions().get::<Peer>().and_then(|p| p.0)
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// An empty store whose clock starts now.
    pub fn new() -> Store {
        Store::shared(Arc::default(), Chaos::default())
    }

    /// A store over `model`, which outlives it: a registry host that is
    /// crashed and restarted keeps its data, like a durable etcd.
    pub fn shared(model: Arc<Mutex<Model>>, chaos: Chaos) -> Store {
        let (changed, _) = watch::channel(1);
        Store {
            model,
            clock: Clock::start(chaos.clone()),
            changed,
            chaos,
        }
    }

    /// Answers `peer` with `resp`, as the store's faults say: at once,
    /// late, or never (the request was applied; the reply is lost).
    async fn answer<T>(&self, peer: Option<IpAddr>, resp: T) -> Result<Response<T>, Status> {
        match self.chaos.fate(peer) {
            Fate::Deliver => {}
            Fate::Delay(d) => disco::timer::sleep(d).await,
            Fate::Lose => std::future::pending().await,
        }
        Ok(Response::new(resp))
    }

    /// Runs `f` on the model (after expiring due leases) and wakes the
    /// watches if the revision moved.
    fn with<T>(&self, f: impl FnOnce(&mut Model, Duration) -> T) -> (T, i64) {
        let now = self.clock.now();
        let mut m = self.model.lock().expect("model lock");
        let before = m.revision();
        m.expire(now);
        let out = f(&mut m, now);
        let rev = m.revision();
        drop(m);
        if rev != before {
            self.changed.send_replace(rev);
        }
        (out, rev)
    }

    /// This server has just become the leader (started, or restarted with
    /// the model's data): every lease gets its full TTL again.
    pub fn promote(&self) {
        let now = self.clock.now();
        self.model.lock().expect("model lock").promote(now);
    }

    /// Expires leases every [`SWEEP`]; run it as a task.
    pub async fn sweep(self) {
        loop {
            disco::timer::sleep(SWEEP).await;
            self.with(|_, _| ());
        }
    }

    /// The services, to add to a tonic server.
    pub fn services(
        &self,
    ) -> (
        etcd_client::proto::PbKvServer<Store>,
        etcd_client::proto::PbLeaseServer<Store>,
        etcd_client::proto::PbWatchServer<Store>,
    ) {
        (
            etcd_client::proto::PbKvServer::new(self.clone()),
            etcd_client::proto::PbLeaseServer::new(self.clone()),
            etcd_client::proto::PbWatchServer::new(self.clone()),
        )
    }
}

fn header(revision: i64) -> Option<PbResponseHeader> {
    Some(PbResponseHeader {
        cluster_id: 1,
        member_id: 1,
        revision,
        raft_term: 1,
    })
}

fn lease_error(e: ModelError) -> Status {
    Status::not_found(e.to_string())
}

/// Whether one transaction compare holds.
fn compare(m: &Model, c: &PbCompare) -> bool {
    let kvs = m.range(&c.key, &c.range_end);
    let target = PbCompareTarget::try_from(c.target).unwrap_or(PbCompareTarget::Version);
    if kvs.is_empty() {
        // etcd: a value compare on a missing key always fails; the others
        // compare against zeroes.
        if target == PbCompareTarget::Value {
            return false;
        }
        return check(c, &Default::default());
    }
    kvs.iter().all(|kv| check(c, kv))
}

fn check(c: &PbCompare, kv: &etcd_client::proto::PbKeyValue) -> bool {
    use std::cmp::Ordering;
    let ord = match &c.target_union {
        Some(PbTargetUnion::Version(v)) => kv.version.cmp(v),
        Some(PbTargetUnion::CreateRevision(v)) => kv.create_revision.cmp(v),
        Some(PbTargetUnion::ModRevision(v)) => kv.mod_revision.cmp(v),
        Some(PbTargetUnion::Value(v)) => kv.value.as_slice().cmp(v.as_slice()),
        Some(PbTargetUnion::Lease(v)) => kv.lease.cmp(v),
        None => Ordering::Equal,
    };
    match c.result {
        0 => ord == Ordering::Equal,
        1 => ord == Ordering::Greater,
        2 => ord == Ordering::Less,
        _ => ord != Ordering::Equal,
    }
}

#[tonic::async_trait]
impl PbKvService for Store {
    async fn range(
        &self,
        req: Request<PbRangeRequest>,
    ) -> Result<Response<PbRangeResponse>, Status> {
        let peer = peer_of(&req);
        let r = req.into_inner();
        let (kvs, rev) = self.with(|m, _| m.range(&r.key, &r.range_end));
        let count = kvs.len() as i64;
        let kvs = if r.count_only { Vec::new() } else { kvs };
        self.answer(
            peer,
            PbRangeResponse {
                header: header(rev),
                kvs,
                more: false,
                count,
            },
        )
        .await
    }

    async fn put(&self, req: Request<PbPutRequest>) -> Result<Response<PbPutResponse>, Status> {
        let peer = peer_of(&req);
        let r = req.into_inner();
        let (res, rev) = self.with(|m, _| {
            m.check_lease(r.lease)?;
            m.begin_write();
            m.put_at_current(&r.key, &r.value, r.lease);
            Ok(())
        });
        res.map_err(lease_error)?;
        self.answer(
            peer,
            PbPutResponse {
                header: header(rev),
                prev_kv: None,
            },
        )
        .await
    }

    async fn delete_range(
        &self,
        req: Request<PbDeleteRequest>,
    ) -> Result<Response<PbDeleteResponse>, Status> {
        let peer = peer_of(&req);
        let r = req.into_inner();
        let (deleted, rev) = self.with(|m, _| {
            m.begin_write();
            let n = m.delete_at_current(&r.key, &r.range_end);
            if n == 0 {
                m.abort_write();
            }
            n
        });
        self.answer(
            peer,
            PbDeleteResponse {
                header: header(rev),
                deleted,
                prev_kvs: Vec::new(),
            },
        )
        .await
    }

    async fn txn(&self, req: Request<PbTxnRequest>) -> Result<Response<PbTxnResponse>, Status> {
        let peer = peer_of(&req);
        let r = req.into_inner();
        let (res, rev) = self.with(|m, _| {
            let succeeded = r.compare.iter().all(|c| compare(m, c));
            let ops = if succeeded { &r.success } else { &r.failure };
            // Every lease is checked before anything is written.
            for op in ops {
                if let Some(PbTxnOpRequest::RequestPut(p)) = &op.request {
                    m.check_lease(p.lease).map_err(lease_error)?;
                }
            }
            let writes = ops.iter().any(|op| {
                matches!(
                    op.request,
                    Some(PbTxnOpRequest::RequestPut(_) | PbTxnOpRequest::RequestDeleteRange(_))
                )
            });
            if writes {
                m.begin_write();
            }
            let mut responses = Vec::new();
            let mut deleted_any = !writes;
            for op in ops {
                let response = match &op.request {
                    Some(PbTxnOpRequest::RequestRange(g)) => {
                        let kvs = m.range(&g.key, &g.range_end);
                        PbTxnOpResponse::ResponseRange(PbRangeResponse {
                            header: header(m.revision()),
                            count: kvs.len() as i64,
                            kvs,
                            more: false,
                        })
                    }
                    Some(PbTxnOpRequest::RequestPut(p)) => {
                        m.put_at_current(&p.key, &p.value, p.lease);
                        deleted_any = true;
                        PbTxnOpResponse::ResponsePut(PbPutResponse {
                            header: header(m.revision()),
                            prev_kv: None,
                        })
                    }
                    Some(PbTxnOpRequest::RequestDeleteRange(d)) => {
                        let n = m.delete_at_current(&d.key, &d.range_end);
                        deleted_any |= n > 0;
                        PbTxnOpResponse::ResponseDeleteRange(PbDeleteResponse {
                            header: header(m.revision()),
                            deleted: n,
                            prev_kvs: Vec::new(),
                        })
                    }
                    _ => return Err(Status::unimplemented("nested transactions")),
                };
                responses.push(PbResponseOp {
                    response: Some(response),
                });
            }
            // A transaction whose only writes deleted nothing leaves the
            // revision alone, as etcd does.
            if writes && !deleted_any {
                m.abort_write();
            }
            Ok((succeeded, responses))
        });
        let (succeeded, responses) = res?;
        self.answer(
            peer,
            PbTxnResponse {
                header: header(rev),
                succeeded,
                responses,
            },
        )
        .await
    }

    type RangeStreamStream = Stream2<etcd_client::proto::PbRangeStreamResponse>;

    async fn range_stream(
        &self,
        _req: Request<PbRangeRequest>,
    ) -> Result<Response<Self::RangeStreamStream>, Status> {
        Err(Status::unimplemented("streamed ranges are not modelled"))
    }

    async fn compact(
        &self,
        req: Request<etcd_client::proto::PbCompactionRequest>,
    ) -> Result<Response<etcd_client::proto::PbCompactionResponse>, Status> {
        let r = req.into_inner();
        let (res, rev) = self.with(|m, _| m.compact_at(r.revision));
        res.map_err(|e| Status::out_of_range(e.to_string()))?;
        Ok(Response::new(etcd_client::proto::PbCompactionResponse {
            header: header(rev),
        }))
    }
}

#[tonic::async_trait]
impl PbLeaseService for Store {
    async fn lease_grant(
        &self,
        req: Request<PbLeaseGrantRequest>,
    ) -> Result<Response<PbLeaseGrantResponse>, Status> {
        let peer = peer_of(&req);
        let r = req.into_inner();
        let ((id, ttl), rev) = self.with(|m, now| m.grant(now, r.ttl, r.id));
        self.answer(
            peer,
            PbLeaseGrantResponse {
                header: header(rev),
                id,
                ttl,
                error: String::new(),
            },
        )
        .await
    }

    async fn lease_revoke(
        &self,
        req: Request<PbLeaseRevokeRequest>,
    ) -> Result<Response<PbLeaseRevokeResponse>, Status> {
        let peer = peer_of(&req);
        let r = req.into_inner();
        let (found, rev) = self.with(|m, _| m.revoke(r.id));
        if !found {
            return Err(lease_error(ModelError::LeaseNotFound));
        }
        self.answer(
            peer,
            PbLeaseRevokeResponse {
                header: header(rev),
            },
        )
        .await
    }

    type LeaseKeepAliveStream = Stream2<PbLeaseKeepAliveResponse>;

    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<PbLeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let store = self.clone();
        let peer = peer_of(&req);
        let out = req.into_inner().filter_map(move |r| {
            let store = store.clone();
            async move {
                let r = r.ok()?;
                let (ttl, rev) = store.with(|m, now| m.keep_alive(now, r.id));
                match store.chaos.fate(peer) {
                    Fate::Deliver => {}
                    Fate::Delay(d) => disco::timer::sleep(d).await,
                    Fate::Lose => return None,
                }
                Some(Ok(PbLeaseKeepAliveResponse {
                    header: header(rev),
                    id: r.id,
                    ttl,
                }))
            }
        });
        Ok(Response::new(Box::pin(out)))
    }

    async fn lease_time_to_live(
        &self,
        req: Request<PbLeaseTimeToLiveRequest>,
    ) -> Result<Response<PbLeaseTimeToLiveResponse>, Status> {
        let peer = peer_of(&req);
        let r = req.into_inner();
        let ((ttl, granted), rev) = self.with(|m, now| m.time_to_live(now, r.id));
        self.answer(
            peer,
            PbLeaseTimeToLiveResponse {
                header: header(rev),
                id: r.id,
                ttl,
                granted_ttl: granted,
                keys: Vec::new(),
            },
        )
        .await
    }

    async fn lease_leases(
        &self,
        _req: Request<PbLeaseLeasesRequest>,
    ) -> Result<Response<PbLeaseLeasesResponse>, Status> {
        Err(Status::unimplemented("lease listing is not modelled"))
    }
}

#[tonic::async_trait]
impl PbWatchService for Store {
    type WatchStream = Stream2<PbWatchResponse>;

    async fn watch(
        &self,
        req: Request<Streaming<PbWatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let peer = peer_of(&req);
        let mut requests = req.into_inner();
        let (tx, rx) = mpsc::channel::<Result<PbWatchResponse, Status>>(64);
        let store = self.clone();
        tokio::spawn(async move {
            let mut next_id = 0i64;
            while let Some(Ok(r)) = requests.next().await {
                let Some(PbWatchRequestUnion::CreateRequest(c)) = r.request_union else {
                    continue;
                };
                let id = next_id;
                next_id += 1;
                let rev = store.model.lock().expect("model lock").revision();
                let created = PbWatchResponse {
                    header: header(rev),
                    watch_id: id,
                    created: true,
                    ..Default::default()
                };
                if tx.send(Ok(created)).await.is_err() {
                    return;
                }
                let from = if c.start_revision > 0 {
                    c.start_revision
                } else {
                    rev + 1
                };
                let compacted = store.model.lock().expect("model lock").compacted();
                if from < compacted {
                    // etcd: a watch cannot start inside compacted history.
                    let canceled = PbWatchResponse {
                        header: header(rev),
                        watch_id: id,
                        canceled: true,
                        compact_revision: compacted,
                        cancel_reason: "mvcc: required revision has been compacted".into(),
                        ..Default::default()
                    };
                    if tx.send(Ok(canceled)).await.is_err() {
                        return;
                    }
                    continue;
                }
                tokio::spawn(feed(
                    store.clone(),
                    tx.clone(),
                    peer,
                    id,
                    c.key,
                    c.range_end,
                    from,
                ));
            }
        });
        let out = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Response::new(Box::pin(out)))
    }
}

/// Sends watch `id` every event in range from revision `from` on, one
/// response per revision, until the client goes away or the store cancels
/// its watches (then with a `canceled` response, as etcd does).
#[allow(clippy::too_many_arguments)]
async fn feed(
    store: Store,
    tx: mpsc::Sender<Result<PbWatchResponse, Status>>,
    peer: Option<IpAddr>,
    id: i64,
    key: Vec<u8>,
    end: Vec<u8>,
    mut from: i64,
) {
    let mut changed = store.changed.subscribe();
    let mut cancels = store.chaos.cancels();
    cancels.mark_unchanged();
    loop {
        let (events, rev) = {
            let m = store.model.lock().expect("model lock");
            (m.events_since(from, &key, &end), m.revision())
        };
        let mut i = 0;
        while i < events.len() {
            let r = events[i].kv.as_ref().map_or(0, |kv| kv.mod_revision);
            let batch: Vec<_> = events[i..]
                .iter()
                .take_while(|e| e.kv.as_ref().map_or(0, |kv| kv.mod_revision) == r)
                .cloned()
                .collect();
            i += batch.len();
            let resp = PbWatchResponse {
                header: header(r),
                watch_id: id,
                events: batch,
                ..Default::default()
            };
            match store.chaos.fate(peer) {
                Fate::Deliver => {}
                Fate::Delay(d) => disco::timer::sleep(d).await,
                // A stream's messages are lost only with its connection:
                // the stream ends in an error, as a broken one would.
                Fate::Lose => {
                    let _ = tx.send(Err(Status::unavailable("connection lost"))).await;
                    return;
                }
            }
            if tx.send(Ok(resp)).await.is_err() {
                return;
            }
        }
        from = rev + 1;
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            _ = cancels.changed() => {
                let rev = store.model.lock().expect("model lock").revision();
                let canceled = PbWatchResponse {
                    header: header(rev),
                    watch_id: id,
                    canceled: true,
                    cancel_reason: "canceled by the store".into(),
                    ..Default::default()
                };
                let _ = tx.send(Ok(canceled)).await;
                return;
            }
        }
        debug_assert!(in_range(&key, &key, &end) || !end.is_empty());
    }
}
