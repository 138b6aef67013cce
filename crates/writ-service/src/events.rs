//! The node's view of the authz event log and the catalog: one background task watches the
//! log's head (publishing it to the event streams) and the catalog version (reloading the
//! in-memory catalog when another node changed it).

use std::time::Duration;

use crate::Writ;

/// How often the head of the log is checked (bounds propagation delay).
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// With a push signal (PostgreSQL), the watcher still looks this often, in case a
/// notification was lost.
pub const PUSH_SAFETY_POLL: Duration = Duration::from_secs(1);

/// Watches the log's head and the catalog version: publishes the head to SSE subscribers and
/// reloads the in-memory catalog when another node changed it. Woken by the store's push signal
/// where there is one (PostgreSQL `LISTEN/NOTIFY`, with a slow poll as a safety net), else it
/// polls every [`POLL_INTERVAL`]; a Management API write through this node wakes it at once.
/// Ends when the state is dropped.
pub fn spawn_head_watcher(state: &Writ) {
    let weak = state.downgrade();
    let mut wakeups = state.store.wakeups();
    let local = state.watcher_wake.clone();
    tokio::spawn(async move {
        let mut last = -1;
        while let Some(state) = weak.upgrade() {
            // The catalog first: a stream woken by the new head then checks its caller against
            // the catalog that includes the change (a machine client's new version).
            match state.store.catalog_version().await {
                Ok(v) if v > state.catalog_loaded() => {
                    if let Err(e) = state.reload().await {
                        tracing::warn!(error = %e, "reloading the catalog after another node changed it");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the catalog version"),
            }
            match state.store.authz_head().await {
                Ok(head) if head != last => {
                    last = head;
                    state.authz_head.send_replace(head);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the authz event head"),
            }
            drop(state);
            // Woken by a write through this node, by the store's signal (another node), or by
            // the poll, whichever comes first.
            match &mut wakeups {
                Some(rx) => {
                    tokio::select! {
                        _ = local.notified() => {}
                        r = tokio::time::timeout(PUSH_SAFETY_POLL, rx.changed()) => {
                            if let Ok(Err(_)) = r {
                                wakeups = None; // the signal is gone: poll
                            }
                        }
                    }
                }
                None => {
                    tokio::select! {
                        _ = local.notified() => {}
                        _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
            }
        }
    });
}
