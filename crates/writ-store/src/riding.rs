//! An audit entry that rides a change's own write transaction, so that the change and its entry
//! commit together or not at all, in one transaction (on SQLite, in one writer turn instead
//! of two: the entry no longer queues behind whatever write came in between).
//!
//! The application layer knows the entry of a Management API write before the write (who, what,
//! from where; the outcome is success if it commits). It runs the write inside
//! [`with_entry`]; the first write transaction that commits inside that scope, on this task,
//! inserts the entry just before its `COMMIT` (`sql::WriteTx::commit`, the one place every
//! write transaction commits). [`with_entry`] returns the entry as stored when it landed, and
//! `None` when nothing committed (a refusal, a failed write, or a write made of lone statements),
//! for the caller to record the outcome itself. Writes on other tasks (the refresh-token
//! rotation queue, background sweeps) never see the entry: a tokio task-local does not cross a
//! spawn.

use std::cell::RefCell;
use std::future::Future;

use crate::{LogEntry, NewLogEntry};

/// The entry waiting for a commit, then the entry committed.
#[derive(Default)]
struct Rider {
    waiting: Option<LogEntry>,
    landed: Option<LogEntry>,
}

tokio::task_local! {
    static RIDER: RefCell<Rider>;
}

/// Runs `change` with `entry` riding its first committed write transaction. Returns the
/// change's output and, when a transaction carried it, the entry as stored. An entry the store
/// cannot take (no type) rides nothing and comes back `None`.
pub async fn with_entry<F: Future>(
    entry: &NewLogEntry,
    change: F,
) -> (F::Output, Option<LogEntry>) {
    let Ok(prepared) = crate::common::prepare_log(entry) else {
        return (change.await, None);
    };
    let rider = RefCell::new(Rider {
        waiting: Some(prepared),
        landed: None,
    });
    RIDER
        .scope(rider, async {
            let out = change.await;
            let landed = RIDER.with(|r| r.borrow_mut().landed.take());
            (out, landed)
        })
        .await
}

/// The entry waiting to ride, taken (so that one transaction carries it); `None` outside a
/// [`with_entry`] scope or once taken.
pub(crate) fn take() -> Option<LogEntry> {
    RIDER
        .try_with(|r| r.borrow_mut().waiting.take())
        .ok()
        .flatten()
}

/// The taken entry's fate: committed with its transaction (`landed`), or back to waiting for
/// the next one when that transaction failed.
pub(crate) fn settle(entry: LogEntry, landed: bool) {
    let _ = RIDER.try_with(|r| {
        let mut r = r.borrow_mut();
        if landed {
            r.landed = Some(entry);
        } else {
            r.waiting = Some(entry);
        }
    });
}
