//! Where disco waits: tokio's timers, each deadline also told to a hook that
//! a simulator may install. tokio cannot be asked for a runtime's next timer,
//! so a simulator that skips idle time (clusterlab's, over turmoil) learns
//! every deadline here instead; outside one the hook is unset and these are
//! tokio's own functions.

use std::cell::Cell;
use std::future::IntoFuture;
use std::time::Duration;

use tokio::time::{Instant, Sleep, Timeout};

thread_local! {
    static HOOK: Cell<Option<fn(Instant)>> = const { Cell::new(None) };
}

/// Installs (or with `None` removes) the hook told every deadline set on
/// this thread. A simulator sets it for the length of a run.
pub fn set_hook(hook: Option<fn(Instant)>) {
    HOOK.with(|h| h.set(hook));
}

fn note(deadline: Instant) {
    if let Some(hook) = HOOK.with(Cell::get) {
        hook(deadline);
    }
}

/// [`tokio::time::sleep`], told to the hook.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// [`tokio::time::sleep_until`], told to the hook.
pub fn sleep_until(deadline: Instant) -> Sleep {
    note(deadline);
    tokio::time::sleep_until(deadline)
}

/// [`tokio::time::timeout`], told to the hook.
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    timeout_at(Instant::now() + duration, future)
}

/// [`tokio::time::timeout_at`], told to the hook.
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    note(deadline);
    tokio::time::timeout_at(deadline, future)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static SEEN: RefCell<Vec<Instant>> = const { RefCell::new(Vec::new()) };
    }

    fn record(at: Instant) {
        SEEN.with(|s| s.borrow_mut().push(at));
    }

    #[tokio::test(start_paused = true)]
    async fn every_deadline_reaches_the_hook_and_none_after_it_is_removed() {
        set_hook(Some(record));
        let start = Instant::now();
        sleep(Duration::from_millis(5)).await;
        let _ = timeout(Duration::from_millis(7), std::future::pending::<()>()).await;
        set_hook(None);
        sleep(Duration::from_millis(1)).await;
        let seen = SEEN.with(|s| s.borrow().clone());
        assert_eq!(
            seen,
            vec![
                start + Duration::from_millis(5),
                start + Duration::from_millis(12)
            ]
        );
    }
}
