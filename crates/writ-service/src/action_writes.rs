//! Race-free changes to an action: every update and deploy is a read-modify-write of the
//! whole row, so two at once (a PATCH of secrets and a deploy, say) could otherwise lose one.
//! Each write here is conditional on the revision it read (`ActionStore::replace_action`);
//! the loser of a race reads the action again and re-applies its change.

use std::time::Duration;

use writ_core::Action;

use crate::Writ;
use crate::error::ServiceError;

/// How many times a change is tried before the caller is told to try again.
const ATTEMPTS: u32 = 32;

/// Reads action `id`, applies `change` and writes it back unless another write came in
/// between, in which case it starts over (after a short random pause, so racing writers
/// spread out). `change` may run several times; it must depend only on the action it is given.
pub(crate) async fn modify(
    w: &Writ,
    id: &str,
    change: impl Fn(&mut Action) -> Result<(), ServiceError>,
) -> Result<Action, ServiceError> {
    for attempt in 0..ATTEMPTS {
        let mut a = w.store.get_action(id).await?;
        change(&mut a)?;
        a.updated_at = chrono::Utc::now().to_rfc3339();
        if let Some(revision) = w.store.replace_action(&a).await? {
            a.revision = revision;
            return Ok(a);
        }
        let most = 1 + u64::from(attempt.min(10)) * 2;
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % most)).await;
    }
    Err(ServiceError::Conflict(format!(
        "The action {id} was changed by other requests at the same time; try again."
    )))
}
