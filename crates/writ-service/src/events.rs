//! The node's view of the authz event log and the catalog: one background task watches the
//! log's head (publishing it to the event streams) and the catalog version (reloading the
//! in-memory catalog when another node changed it). It also keeps the count of this node's
//! open event streams and where each stands ([`Feed`]), for the metrics.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
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
                    // The log is gapless (see the store's dialects): the head's advance is the
                    // count of events appended since, by any node.
                    if last >= 0 && head > last {
                        state.metrics.authz_events_appended((head - last) as u64);
                    }
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

/// This node's open authz event streams, each with the last seq it sent.
#[derive(Default)]
pub struct Feed {
    cursors: Mutex<Vec<Weak<AtomicI64>>>,
}

/// Where one open stream stands; it counts as open until dropped.
pub struct FeedCursor(Arc<AtomicI64>);

impl FeedCursor {
    /// The stream sent every event up to `seq`.
    pub fn sent(&self, seq: i64) {
        self.0.store(seq, Ordering::Relaxed);
    }
}

/// The feed as sampled for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedState {
    /// Open streams.
    pub subscribers: usize,
    /// Events the slowest open stream has yet to send (0 with none open).
    pub lag: i64,
}

impl Feed {
    /// A stream opens, starting after `from`.
    pub fn subscribe(&self, from: i64) -> FeedCursor {
        let c = Arc::new(AtomicI64::new(from));
        let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors.retain(|w| w.strong_count() > 0);
        cursors.push(Arc::downgrade(&c));
        FeedCursor(c)
    }

    /// The open streams and the slowest one's lag behind `head`.
    pub fn state(&self, head: i64) -> FeedState {
        let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors.retain(|w| w.strong_count() > 0);
        let slowest = cursors
            .iter()
            .filter_map(Weak::upgrade)
            .map(|c| c.load(Ordering::Relaxed))
            .min();
        FeedState {
            subscribers: cursors.len(),
            lag: slowest.map_or(0, |s| (head - s).max(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_counts_open_streams_and_the_slowest_ones_lag() {
        let feed = Feed::default();
        assert_eq!(feed.state(10), FeedState::default());
        let a = feed.subscribe(4);
        let b = feed.subscribe(9);
        assert_eq!(
            feed.state(10),
            FeedState {
                subscribers: 2,
                lag: 6
            }
        );
        a.sent(10);
        assert_eq!(
            feed.state(10),
            FeedState {
                subscribers: 2,
                lag: 1
            }
        );
        drop(b);
        assert_eq!(
            feed.state(12),
            FeedState {
                subscribers: 1,
                lag: 2
            }
        );
        drop(a);
        assert_eq!(feed.state(12), FeedState::default());
    }
}
