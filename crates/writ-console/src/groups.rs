//! `/admin/groups`: the group tree — every group indented under its parent, create, rename,
//! move (a move under the group itself or a descendant is refused by the service), delete with
//! the subtree, and each group's members and roles. Changes are the use cases of
//! [`writ_service::groups`].

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use writ_core::Group;
use writ_service::audit::Operation;
use writ_service::groups::{self, GroupInput};
use writ_service::{Writ, roles};

use super::auth::{On, Post, Seen};
use super::cards::{self, MemberForm, MembersCard, RolesCard};
use super::change::Confirmed;
use super::form::{Errors, FormData};
use super::view::{self, Admin, Answer, Ask, Layout, ListQuery, enc};

pub fn router() -> Router<Writ> {
    Router::new()
        .route("/admin/groups", get(list).post(create))
        .route("/admin/groups/{id}", get(detail).post(save))
        .route("/admin/groups/{id}/members", post(add_member))
        .route("/admin/groups/{id}/members/remove", post(remove_member))
        .route("/admin/groups/{id}/roles", post(add_role))
        .route("/admin/groups/{id}/roles/remove", post(remove_role))
        .route("/admin/groups/{id}/delete", post(delete))
}

fn href(g: &Group) -> String {
    format!("/admin/groups/{}", enc(&g.id))
}

/// A group in the tree: how deep it is and its path.
pub struct Node {
    pub group: Group,
    pub depth: usize,
    pub path: String,
}

/// Every group in tree order (each parent before its children, siblings by name).
fn tree(all: Vec<Group>) -> Vec<Node> {
    let mut children: HashMap<Option<String>, Vec<Group>> = HashMap::new();
    for g in all {
        children.entry(g.parent_id.clone()).or_default().push(g);
    }
    let mut out = Vec::new();
    let mut stack: Vec<(Group, usize, String)> = children
        .remove(&None)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|g| (g, 0, String::new()))
        .collect();
    while let Some((g, depth, parent_path)) = stack.pop() {
        let path = format!("{parent_path}/{}", g.name);
        let kids = children.remove(&Some(g.id.clone())).unwrap_or_default();
        for k in kids.into_iter().rev() {
            stack.push((k, depth + 1, path.clone()));
        }
        out.push(Node {
            group: g,
            depth,
            path,
        });
    }
    out
}

/// The group form as the use cases take it: an empty parent makes the group top-level.
fn input(form: &FormData) -> GroupInput {
    let parent = form.text("parent_id");
    GroupInput {
        name: Some(form.text("name")),
        description: Some(form.text("description")),
        parent_id: Some((!parent.is_empty()).then_some(parent)),
    }
}

const FIELDS: &[&str] = &["name", "description", "parent_id"];

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct ListPage {
    l: Layout,
    nodes: Vec<Node>,
    can_create: bool,
    name: String,
    description: String,
    parent_id: String,
    e: Errors,
}

async fn list_page(s: &Writ, admin: &Admin, q: &ListQuery, form: &FormData, e: Errors) -> Answer {
    admin.need(&["read:groups"])?;
    let nodes = tree(admin.ok(groups::all(s).await)?);
    Ok(view::render(
        view::status(&[&e]),
        &ListPage {
            l: admin.layout("Groups", "groups").with_flash(q.flash()),
            nodes,
            can_create: admin.can("create:groups"),
            name: form.text("name"),
            description: form.text("description"),
            parent_id: form.text("parent_id"),
            e,
        },
    ))
}

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    let q = ListQuery::parse(q);
    list_page(&s, &admin, &q, &FormData::default(), Errors::default()).await
}

async fn create(State(s): State<Writ>, Post { admin, form }: Post) -> Answer {
    let op = Operation::new("POST", "/groups", "/groups".into(), 201);
    admin.may(&s, &["create:groups"], op).await?;
    match groups::create(&s, admin.actor(), input(&form)).await {
        Ok(g) => Ok(view::see_other(&format!("{}?flash=created", href(&g)))),
        Err(e) => {
            let e = Errors::from_error(&e, FIELDS, Some("name"));
            list_page(&s, &admin, &ListQuery::default(), &form, e).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct DetailPage {
    l: Layout,
    group: Group,
    path: String,
    /// The settings form as typed (after an error) or as stored.
    name: String,
    description: String,
    parent_id: String,
    /// Where the group may move: every group outside its subtree.
    parents: Vec<Node>,
    e: Errors,
    members: MembersCard,
    roles: RolesCard,
    can_update: bool,
    can_delete: bool,
}

/// What a re-rendered detail page keeps from a failed form.
#[derive(Default)]
struct Kept {
    form: Option<FormData>,
    e: Errors,
    member: MemberForm,
    re: Errors,
}

loads!(Group, "read:groups", "group", groups::get);

async fn detail_page(s: &Writ, admin: &Admin, group: Group, q: &ListQuery, kept: Kept) -> Answer {
    let nodes = tree(admin.ok(groups::all(s).await)?);
    let path = nodes
        .iter()
        .find(|n| n.group.id == group.id)
        .map(|n| n.path.clone())
        .unwrap_or_else(|| format!("/{}", group.name));
    let inside = format!("{path}/");
    let parents = nodes
        .into_iter()
        .filter(|n| n.group.id != group.id && !n.path.starts_with(&inside))
        .collect();
    let can_update = admin.can("update:groups");
    let members = MembersCard::load(
        admin,
        ["update:groups", "update:groups"],
        href(&group),
        &group.name,
        q,
        async {
            let p = groups::members(s, &group.id, q.page()).await?;
            Ok((p.items, p.total))
        },
        kept.member,
    )
    .await?;
    let can_read_roles = admin.can("read:roles");
    let (held, options) = if can_read_roles {
        let first = writ_service::Page {
            page: 0,
            per_page: 100,
        };
        let assigned = admin.ok(groups::roles(s, &group.id, first).await)?.items;
        let all = if can_update {
            admin.ok(roles::list_all(s).await)?
        } else {
            vec![]
        };
        (assigned, all)
    } else {
        (vec![], vec![])
    };
    let form = kept.form.unwrap_or_default();
    let typed = |k: &str, stored: &str| {
        if kept.e.is_empty() {
            stored.to_owned()
        } else {
            form.text(k)
        }
    };
    Ok(view::render(
        view::status(&[&kept.e, members.errors(), &kept.re]),
        &DetailPage {
            l: admin.layout(&group.name, "groups").with_flash(q.flash()),
            name: typed("name", &group.name),
            description: typed("description", &group.description),
            parent_id: typed("parent_id", group.parent_id.as_deref().unwrap_or("")),
            roles: RolesCard {
                page: href(&group),
                of: group.name.clone(),
                can_read: can_read_roles,
                can_update,
                held,
                options,
                e: kept.re,
            },
            path,
            parents,
            group,
            e: kept.e,
            members,
            can_update,
            can_delete: admin.can("delete:groups"),
        },
    ))
}

async fn again(s: &Writ, admin: &Admin, group: Group, kept: Kept) -> Answer {
    detail_page(s, admin, group, &ListQuery::default(), kept).await
}

async fn detail(State(s): State<Writ>, Seen(admin, group, q): Seen<Group>) -> Answer {
    detail_page(&s, &admin, group, &ListQuery::parse(q), Kept::default()).await
}

async fn save(State(s): State<Writ>, On(admin, form, group): On<Group>) -> Answer {
    let op = Operation::at("PATCH", "/groups/{id}", &group.id, 200);
    admin.may(&s, &["update:groups"], op).await?;
    match groups::update(&s, admin.actor(), &group.id, input(&form)).await {
        Ok(_) => Ok(view::see_other(&format!("{}?flash=saved", href(&group)))),
        Err(e) => {
            let kept = Kept {
                e: Errors::from_error(&e, FIELDS, Some("name")),
                form: Some(form),
                ..Default::default()
            };
            again(&s, &admin, group, kept).await
        }
    }
}

async fn add_member(State(s): State<Writ>, On(admin, form, group): On<Group>) -> Answer {
    let op = Operation::at("POST", "/groups/{id}/members", &group.id, 201);
    let add = async |user| groups::add_members(&s, admin.actor(), &group.id, &[user]).await;
    let then = format!("{}?flash=added#members", href(&group));
    match cards::add_by_email(&s, &admin, &form, "update:groups", op, add, then).await? {
        Ok(page) => Ok(page),
        Err(member) => {
            let kept = Kept {
                member,
                ..Default::default()
            };
            again(&s, &admin, group, kept).await
        }
    }
}

async fn remove_member(State(s): State<Writ>, On(admin, form, group): On<Group>) -> Answer {
    let user_id = form.text("user_id");
    let ask = async {
        let who = cards::email_of(&s, &user_id).await;
        Ask {
            heading: format!("Remove {who} from {}?", group.name),
            detail: format!(
                "{who} loses the roles of {} and its ancestors they do not hold another way.",
                group.name
            ),
            button: "Remove from group",
        }
    };
    let op = Operation::at("DELETE", "/groups/{id}/members", &group.id, 204);
    let c = Confirmed::removal(href(&group), "members", "update:groups", op);
    let removed = std::slice::from_ref(&user_id);
    let remove = async || groups::remove_members(&s, admin.actor(), &group.id, removed).await;
    admin.after_confirmation(&s, &form, c, ask, remove).await
}

async fn add_role(State(s): State<Writ>, On(admin, form, group): On<Group>) -> Answer {
    let op = Operation::at("POST", "/groups/{id}/roles", &group.id, 201);
    let add = async |role| groups::add_roles(&s, admin.actor(), &group.id, &[role]).await;
    let then = format!("{}?flash=added#roles", href(&group));
    let picked = view::picked_role(&form);
    match admin
        .add(&s, picked, "update:groups", op, add, then)
        .await?
    {
        Ok(page) => Ok(page),
        Err(m) => {
            let kept = Kept {
                re: Errors::one("role_id", m),
                ..Default::default()
            };
            again(&s, &admin, group, kept).await
        }
    }
}

async fn remove_role(State(s): State<Writ>, On(admin, form, group): On<Group>) -> Answer {
    let removed = [form.text("role_id")];
    let ask = Ask {
        heading: format!("Remove this role from {}?", group.name),
        detail: "The members of the group and of its subgroups lose its permissions unless they hold them another way; APIs following the event feed refuse their older tokens.".into(),
        button: "Remove role",
    };
    let op = Operation::at("DELETE", "/groups/{id}/roles", &group.id, 204);
    let c = Confirmed::removal(href(&group), "roles", "update:groups", op);
    let remove = async || groups::remove_roles(&s, admin.actor(), &group.id, &removed).await;
    admin
        .after_confirmation(&s, &form, c, async { ask }, remove)
        .await
}

async fn delete(State(s): State<Writ>, On(admin, form, group): On<Group>) -> Answer {
    let ask = Ask {
        heading: format!("Delete the group {} and its subgroups?", group.name),
        detail: "Their members lose the roles they held through them. This cannot be undone."
            .into(),
        button: "Delete group",
    };
    let op = Operation::at("DELETE", "/groups/{id}", &group.id, 204);
    let c = Confirmed::deletion(href(&group), "/admin/groups", "delete:groups", op);
    let delete = async || groups::delete(&s, admin.actor(), &group.id).await;
    admin
        .after_confirmation(&s, &form, c, async { ask }, delete)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(id: &str, name: &str, parent: Option<&str>) -> Group {
        Group {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            parent_id: parent.map(Into::into),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn the_tree_puts_parents_before_children_with_paths() {
        let nodes = tree(vec![
            g("b", "backend", Some("e")),
            g("d", "db", Some("b")),
            g("e", "eng", None),
            g("o", "ops", None),
            g("f", "frontend", Some("e")),
        ]);
        let shown: Vec<(&str, usize)> = nodes.iter().map(|n| (n.path.as_str(), n.depth)).collect();
        assert_eq!(
            shown,
            [
                ("/eng", 0),
                ("/eng/backend", 1),
                ("/eng/backend/db", 2),
                ("/eng/frontend", 1),
                ("/ops", 0)
            ]
        );
    }
}
