//! The cards several detail pages share, with what their forms need: the members card (who
//! holds a role, who belongs to a group) and the roles card (the roles of a group or of a
//! user), both drawn by the macros of `admin/cards.html`.
//!
//! It exists so that the role, group and user pages show, add and remove these the same way,
//! from one template and one handler step each, instead of near-copies that drift apart.

use writ_core::Role;
use writ_service::audit::Operation;
use writ_service::{ServiceError, UserSummary, Writ, users};

use super::form::{Errors, FormData};
use super::view::{Admin, ListQuery, Pager};

/// The add-a-member form as a refusal leaves it: the email as typed, the error next to it.
#[derive(Default)]
pub struct MemberForm {
    pub email: String,
    pub e: Errors,
}

/// The members card of the page `page` (the path its forms post under) of `of` (the name the
/// confirmations use).
pub struct MembersCard {
    pub page: String,
    pub of: String,
    /// With `read:users` only.
    pub can_read: bool,
    pub rows: Vec<UserSummary>,
    pub pager: Pager,
    pub can_add: bool,
    pub can_remove: bool,
    pub form: MemberForm,
}

impl MembersCard {
    /// The card with a page of members and their total, as `members` reads them (awaited only
    /// with `read:users`); adding and removing one need `add_perm` and `remove_perm`.
    #[allow(clippy::result_large_err)]
    pub async fn load(
        admin: &Admin,
        [add_perm, remove_perm]: [&str; 2],
        page: String,
        of: &str,
        q: &ListQuery,
        members: impl Future<Output = Result<(Vec<UserSummary>, i64), ServiceError>>,
        form: MemberForm,
    ) -> Result<Self, axum::response::Response> {
        let can_read = admin.can("read:users");
        let (rows, total) = if can_read {
            admin.ok(members.await)?
        } else {
            (vec![], 0)
        };
        Ok(MembersCard {
            pager: q.pager(&page, total),
            page,
            of: of.to_owned(),
            can_read,
            rows,
            can_add: admin.can(add_perm),
            can_remove: admin.can(remove_perm),
            form,
        })
    }

    /// `e` of the add form, for the page's status.
    pub fn errors(&self) -> &Errors {
        &self.form.e
    }
}

/// Adds the user whose email the members card's form names (`email`, with `read:users` to
/// look them up) through `add`, under `perm` (a refusal audited as `op`), then on to `then`;
/// `Ok(Err(form))` is the form to show again with its error.
pub async fn add_by_email(
    s: &Writ,
    admin: &Admin,
    form: &FormData,
    perm: &'static str,
    op: Operation,
    add: impl AsyncFnOnce(String) -> Result<(), ServiceError>,
    then: String,
) -> Result<Result<axum::response::Response, MemberForm>, axum::response::Response> {
    admin.need(&["read:users"])?;
    let email = form.text("email");
    let picked = admin
        .ok(users::by_email(s, &email).await)?
        .map(|u| u.user_id)
        .ok_or_else(|| "No user has this email address.".to_owned());
    Ok(admin
        .add(s, picked, perm, op, add, then)
        .await?
        .map_err(|m| MemberForm {
            email,
            e: Errors::one("email", m),
        }))
}

/// The email of the user `user_id` for a confirmation, or the id when there is no such user.
pub async fn email_of(s: &Writ, user_id: &str) -> String {
    match users::get(s, user_id).await {
        Ok(u) => u.email,
        Err(_) => user_id.to_owned(),
    }
}

/// The roles card of the page `page` (the path its forms post under) of `of` (the name the
/// confirmations use): the roles held, those the picker offers, the picker's error.
pub struct RolesCard {
    pub page: String,
    pub of: String,
    /// With `read:roles` only.
    pub can_read: bool,
    pub can_update: bool,
    pub held: Vec<Role>,
    pub options: Vec<Role>,
    pub e: Errors,
}
