//! The steps every console change goes through, written once: a destructive change asks first
//! (in the browser's dialog or on a confirmation page), then the admin's permission is checked
//! (a refusal recorded in the audit log under the Management API operation the change is), then
//! the use case runs and the admin goes on to the page, or sees the refusal. A card's add form
//! (a member, a role, a permission) instead comes back with the refusal next to its field.
//!
//! It exists because the handlers of roles, groups, users and clients made these steps in the
//! same order, each with its own copy; here they cannot drift apart.

use writ_service::audit::Operation;
use writ_service::{ServiceError, Writ};

use super::form::FormData;
use super::view::{Admin, Answer, Ask};

/// A destructive change made from a form on the page `page`: where the form posts (`{page}/
/// {tail}`, the confirmation page posting it again there), the permission it needs with the
/// operation a refusal is audited as, where the admin goes once it is made, and the heading of
/// the page of its refusal.
pub struct Confirmed {
    page: String,
    tail: String,
    perm: &'static str,
    op: Operation,
    then: String,
    failed: &'static str,
}

impl Confirmed {
    /// Removing one thing listed in the card `#card` of `page` (a member, a role, a
    /// permission, a grant): the form posts to `{page}/{card}/remove`, and the admin comes back
    /// to the card with "Removed.".
    pub fn removal(page: String, card: &str, perm: &'static str, op: Operation) -> Self {
        Confirmed {
            tail: format!("{card}/remove"),
            then: format!("{page}?flash=removed#{card}"),
            page,
            perm,
            op,
            failed: "Not removed",
        }
    }

    /// Deleting the thing `page` shows: the form posts to `{page}/delete`, and the admin goes
    /// on to the list `list` with "Deleted.".
    pub fn deletion(page: String, list: &str, perm: &'static str, op: Operation) -> Self {
        Confirmed {
            page,
            tail: "delete".into(),
            perm,
            op,
            then: format!("{list}?flash=deleted"),
            failed: "Not deleted",
        }
    }
}

// The errors below are the pages to answer with, returned at once: no need to box them.
#[allow(clippy::result_large_err)]
impl Admin {
    /// Makes the destructive change `c` once the admin confirmed it: until then the page that
    /// asks what `ask` says (awaited only then, so a name it looks up is read only for the
    /// question). `change` runs only once confirmed and allowed.
    pub async fn after_confirmation<'a, T>(
        &self,
        s: &Writ,
        form: &FormData,
        c: Confirmed,
        ask: impl Future<Output = Ask<'a>>,
        change: impl AsyncFnOnce() -> Result<T, ServiceError>,
    ) -> Answer {
        if !form.confirmed() {
            self.confirmed(form, &c.page, &c.tail, ask.await)?;
        }
        self.may(s, &[c.perm], c.op).await?;
        self.done(change().await, &c.then, c.failed)
    }

    /// Adds what a card's form picked (`Err(message)` when it picked nothing usable) under
    /// `perm` (a refusal audited as `op`): `Ok(Ok(303 to then))` once added, `Ok(Err(message))`
    /// for the form to show next to its field when nothing was picked or the use case refused.
    pub async fn add<V>(
        &self,
        s: &Writ,
        picked: Result<V, String>,
        perm: &'static str,
        op: Operation,
        change: impl AsyncFnOnce(V) -> Result<(), ServiceError>,
        then: String,
    ) -> Result<Result<axum::response::Response, String>, axum::response::Response> {
        let v = match picked {
            Ok(v) => v,
            Err(m) => return Ok(Err(m)),
        };
        self.may(s, &[perm], op).await?;
        Ok(match change(v).await {
            Ok(()) => Ok(super::view::see_other(&then)),
            Err(e) => Err(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_post_under_their_card_and_deletions_go_on_to_the_list() {
        let op = || Operation::at("DELETE", "/roles/{id}", "rol_1", 204);
        let r = Confirmed::removal("/admin/roles/rol_1".into(), "members", "update:users", op());
        assert_eq!(r.tail, "members/remove");
        assert_eq!(r.then, "/admin/roles/rol_1?flash=removed#members");
        assert_eq!((r.perm, r.failed), ("update:users", "Not removed"));
        let d = Confirmed::deletion(
            "/admin/roles/rol_1".into(),
            "/admin/roles",
            "delete:roles",
            op(),
        );
        assert_eq!(d.page, "/admin/roles/rol_1");
        assert_eq!(d.tail, "delete");
        assert_eq!(d.then, "/admin/roles?flash=deleted");
        assert_eq!(d.failed, "Not deleted");
    }
}
