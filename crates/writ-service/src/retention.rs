//! Keeps what only grows from growing without bound: one task per server prunes, at start and
//! then every [`PRUNE_INTERVAL`], the audit log (after `WRIT_AUDIT_RETENTION_DAYS`, see
//! [`crate::audit::prune`]), the authz event log (see [`prune_authz_events`]) and the login
//! state nothing can use any more (expired sessions, console sessions, codes, refresh
//! families; see `writ_store::LoginStore::prune_logins`), and outgoing mail and email links a
//! week after they were sent, abandoned or expired (`writ_store::MailStore::prune_mail`). It also finishes moving members out
//! of deleted groups (see [`crate::groups::sweep`]), should a stop have cut a sweep short.

use std::time::Duration;

use writ_store::StoreError;

use crate::Writ;

/// How often old entries are pruned.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Margin kept on top of the longest access-token lifetime: the guards' clock leeway, and
/// tokens made just before the lifetime setting was lowered.
const EVENT_MARGIN: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Deletes authz events older than the longest access-token lifetime of any API (plus an hour):
/// every token made before such an event has expired, and a token made after it carries a
/// version at least the event's, so no guard needs it. This bounds both the log and what a
/// guard replays when it starts. Returns how many were deleted.
pub async fn prune_authz_events(state: &Writ) -> Result<u64, StoreError> {
    let longest = state
        .catalog
        .load()
        .apis
        .values()
        .map(|a| a.token_lifetime.max(0))
        .max()
        .unwrap_or(0);
    let cutoff = crate::time::now_utc() - chrono::TimeDelta::seconds(longest) - EVENT_MARGIN;
    state
        .store
        .prune_authz_events(&crate::time::rfc3339(cutoff))
        .await
}

/// Prunes now and then every [`PRUNE_INTERVAL`], until the server shuts down or the state is
/// dropped.
pub fn spawn(state: &Writ) {
    let weak = state.downgrade();
    let mut closing = state.closing.subscribe();
    tokio::spawn(async move {
        loop {
            let Some(state) = weak.upgrade() else {
                return;
            };
            match crate::audit::prune(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "pruned old audit log entries"),
                Err(e) => tracing::warn!(error = %e, "pruning the audit log"),
            }
            match prune_authz_events(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "pruned authz events older than every token"),
                Err(e) => tracing::warn!(error = %e, "pruning the authz event log"),
            }
            match crate::groups::sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(memberships = n, "members left the deleted groups"),
                Err(e) => tracing::warn!(error = %e, "sweeping deleted groups"),
            }
            let now = crate::time::now();
            match state
                .store
                .prune_logins(now, writ_core::protocol::SESSION_IDLE)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    "pruned expired sessions, codes and refresh tokens"
                ),
                Err(e) => tracing::warn!(error = %e, "pruning expired login state"),
            }
            // Mail sent or abandoned a week ago, and links expired a week ago.
            match state.store.prune_mail(now - 7 * 86_400).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "pruned old outgoing mail and expired links"),
                Err(e) => tracing::warn!(error = %e, "pruning the outbox"),
            }
            drop(state);
            tokio::select! {
                _ = tokio::time::sleep(PRUNE_INTERVAL) => {}
                _ = closing.wait_for(|c| *c) => return,
            }
        }
    });
}
