//! A paused process, as far as turmoil allows: while its node is frozen a
//! host's main task is not polled, so the node neither observes nor acts
//! (publishes leadership or membership), and every message to and from it is
//! held on the network and delivered on thaw, as a stopped process's socket
//! buffers would be. turmoil cannot stop a host's clock, so timers in tasks
//! disco spawned still fire; with all their I/O held they can only time out.

use std::future::Future;

use tokio::sync::watch;

/// Runs `work`, polling it only while `frozen` says `false`.
pub async fn gated<F: Future>(mut frozen: watch::Receiver<bool>, work: F) -> F::Output {
    tokio::pin!(work);
    loop {
        if *frozen.borrow_and_update() {
            if frozen.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        tokio::select! {
            biased;
            r = frozen.changed() => if r.is_err() { return work.await },
            out = &mut work => return out,
        }
    }
}
