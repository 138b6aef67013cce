//! Groups: the tree and its paths, sibling names, cycle refusal (also under racing moves),
//! subtree deletion, members and roles, effective permissions and roles through nested groups
//! with their sources, and the authz bumps of every group write (exactly the users concerned,
//! one event each, carrying the version the user now has).

use std::collections::BTreeMap;

use writ_core::*;
use writ_store::dump::{self, Database};
use writ_store::*;

use crate::{
    A, B, TestStore, assert_conflict, assert_invalid, assert_not_found, conformance, page, perm,
    total,
};

conformance!(
    groups_crud_sibling_names_filters_and_paging,
    cycles_are_refused_directly_through_chains_and_under_descendants,
    deleting_a_group_deletes_its_subtree,
    members_and_roles_add_list_and_remove,
    effective_permissions_and_roles_come_through_nested_groups_with_sources,
    group_writes_bump_exactly_the_users_concerned_once_each,
    role_and_api_changes_bump_users_holding_the_role_through_groups,
    racing_moves_cannot_form_a_cycle,
    group_versions_reach_every_member_and_never_go_back,
    a_subjects_events_are_its_own_and_its_groups_records_in_a_range,
);

impl TestStore {
    /// A new group without a description.
    async fn group(&self, name: &str, parent: Option<&Group>) -> Group {
        self.store
            .create_group(name, "", parent.map(|p| p.id.as_str()))
            .await
            .unwrap()
    }

    /// Adds users to a group.
    async fn join(&self, group: &Group, users: &[&User]) {
        let ids: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();
        self.store.add_group_members(&group.id, &ids).await.unwrap();
    }

    /// How many rows `table` holds, as a dump of the database carries them (deleted groups and
    /// their memberships included).
    async fn rows(&self, table: &str) -> usize {
        let db = Database::connect(&self.url).await.unwrap();
        let mut out = Vec::new();
        dump::export(&db, &mut out).await.unwrap();
        db.close().await;
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["table"] == table)
            .count()
    }

    /// Every user's authz version, by id.
    async fn versions(&self) -> BTreeMap<String, i64> {
        let users = self.store.list_users(None, page(0, 100)).await.unwrap();
        users
            .items
            .into_iter()
            .map(|u| (u.user_id, u.authz_version))
            .collect()
    }

    /// Runs `write`, then checks that exactly `expected` users were bumped, each to a version
    /// above any before the write, told by events of `kind` (one per member of each group whose
    /// version the write raised, so a user in two such groups may have two), the newest of
    /// which carries the user's new version.
    async fn expect_bumps<F: std::future::Future<Output = ()>>(
        &self,
        expected: &[&User],
        kind: &str,
        write: F,
    ) {
        let before = self.versions().await;
        let head = self.store.authz_head().await.unwrap();
        write.await;
        let after = self.versions().await;
        let mut want: Vec<&str> = expected.iter().map(|u| u.user_id.as_str()).collect();
        want.sort();
        let bumped: Vec<&str> = after
            .iter()
            .filter(|(id, v)| **v != before[*id])
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(bumped, want, "{kind}: who was bumped");
        for id in &bumped {
            assert!(
                after[*id] > head,
                "{kind}: {id} is past every earlier version"
            );
        }
        let events = self.store.authz_events_after(head, 1_000).await.unwrap();
        let mut newest: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &events.events {
            assert_eq!(e.kind, kind);
            let v = newest.entry(e.subject.as_str()).or_default();
            *v = (*v).max(e.version);
        }
        let told: Vec<&str> = newest.keys().copied().collect();
        assert_eq!(told, want, "{kind}: events for the bumped users only");
        for (id, v) in newest {
            assert_eq!(v, after[id], "{kind}: the newest event has the new version");
        }
    }
}

/// The names of listed groups, in order.
fn names(items: &[Group]) -> Vec<&str> {
    items.iter().map(|g| g.name.as_str()).collect()
}

async fn groups_crud_sibling_names_filters_and_paging(t: TestStore) {
    let s = &t.store;
    let eng = s.create_group("eng", "Engineering", None).await.unwrap();
    assert!(
        eng.id.starts_with("grp_") && eng.id.len() == 20,
        "{}",
        eng.id
    );
    assert_eq!(eng.parent_id, None);
    assert_eq!(eng.created_at, eng.updated_at);
    let backend = t.group("backend", Some(&eng)).await;
    let frontend = t.group("Frontend", Some(&eng)).await;
    assert_eq!(backend.parent_id.as_deref(), Some(eng.id.as_str()));
    assert_eq!(s.get_group(&backend.id).await.unwrap(), backend);
    assert_eq!(
        s.get_group(&eng.id).await.unwrap().description,
        "Engineering"
    );
    assert_not_found(s.get_group("grp_missing").await, "group");

    // Names are unique among siblings only.
    assert_conflict(
        s.create_group("backend", "", Some(&eng.id)).await,
        "A group named 'backend' already exists under this parent",
    );
    assert_conflict(
        s.create_group("eng", "", None).await,
        "A group named 'eng' already exists under this parent",
    );
    let top_backend = t.group("backend", None).await;
    // A parent that does not exist.
    assert_invalid(
        s.create_group("x", "", Some("grp_missing")).await,
        "parent_id",
    );

    // Update: name and description; a rename onto a sibling's name conflicts.
    let renamed = s
        .update_group(
            &frontend.id,
            &GroupChange {
                name: Some("web".into()),
                description: Some("the web".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "web");
    assert_eq!(renamed.parent_id.as_deref(), Some(eng.id.as_str()));
    assert_eq!(s.get_group(&frontend.id).await.unwrap(), renamed);
    assert_conflict(
        s.update_group(
            &frontend.id,
            &GroupChange {
                name: Some("backend".into()),
                ..Default::default()
            },
        )
        .await,
        "A group named 'backend' already exists under this parent",
    );
    // Moving the top-level "backend" under eng collides with eng's "backend".
    assert_conflict(
        s.update_group(
            &top_backend.id,
            &GroupChange {
                parent_id: Some(Some(eng.id.clone())),
                ..Default::default()
            },
        )
        .await,
        "A group named 'backend' already exists under this parent",
    );
    assert_not_found(
        s.update_group("grp_missing", &GroupChange::default()).await,
        "group",
    );

    // Listing: by name then id, exact name, substring search (case-insensitive), totals.
    let all = s
        .list_groups(&GroupFilter::default(), page(0, 10))
        .await
        .unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(names(&all.items), ["backend", "backend", "eng", "web"]);
    let named = s
        .list_groups(
            &GroupFilter {
                name: Some("backend".into()),
                ..Default::default()
            },
            page(0, 1),
        )
        .await
        .unwrap();
    assert_eq!((named.total, named.items.len()), (2, 1));
    let second = s
        .list_groups(
            &GroupFilter {
                name: Some("backend".into()),
                ..Default::default()
            },
            page(1, 1),
        )
        .await
        .unwrap();
    assert_ne!(second.items[0].id, named.items[0].id);
    let searched = s
        .list_groups(
            &GroupFilter {
                search: Some("EN".into()),
                ..Default::default()
            },
            page(0, 10),
        )
        .await
        .unwrap();
    assert_eq!(names(&searched.items), ["backend", "backend", "eng"]);
    // LIKE's wildcards are matched literally.
    let wild = GroupFilter {
        search: Some("%".into()),
        ..Default::default()
    };
    assert_eq!(total(s.list_groups(&wild, page(0, 10)).await), 0);
    let both = GroupFilter {
        name: Some("eng".into()),
        search: Some("ck".into()),
    };
    assert_eq!(total(s.list_groups(&both, page(0, 10)).await), 0);
    let beyond = s
        .list_groups(&GroupFilter::default(), page(2, 3))
        .await
        .unwrap();
    assert_eq!((beyond.total, beyond.items.len()), (4, 0));
}

/// The parent of each group, by name (`None` at the top).
async fn parents(t: &TestStore, groups: &[&Group]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for g in groups {
        out.push(t.store.get_group(&g.id).await.unwrap().parent_id);
    }
    out
}

fn move_to(parent: Option<&Group>) -> GroupChange {
    GroupChange {
        parent_id: Some(parent.map(|p| p.id.clone())),
        ..Default::default()
    }
}

async fn cycles_are_refused_directly_through_chains_and_under_descendants(t: TestStore) {
    let s = &t.store;
    let a = t.group("a", None).await;
    let b = t.group("b", Some(&a)).await;
    let c = t.group("c", Some(&b)).await;
    let d = t.group("d", Some(&c)).await;
    let before = parents(&t, &[&a, &b, &c, &d]).await;
    // A group under itself.
    assert_invalid(s.update_group(&a.id, &move_to(Some(&a))).await, "parent_id");
    assert_invalid(s.update_group(&c.id, &move_to(Some(&c))).await, "parent_id");
    // Under its child, and under a descendant through a chain.
    assert_invalid(s.update_group(&a.id, &move_to(Some(&b))).await, "parent_id");
    assert_invalid(s.update_group(&a.id, &move_to(Some(&d))).await, "parent_id");
    assert_invalid(s.update_group(&b.id, &move_to(Some(&d))).await, "parent_id");
    // Under a group that does not exist.
    let missing = GroupChange {
        parent_id: Some(Some("grp_missing".into())),
        ..Default::default()
    };
    assert_invalid(s.update_group(&b.id, &missing).await, "parent_id");
    assert_eq!(parents(&t, &[&a, &b, &c, &d]).await, before);

    // Legal moves: d to the top, then a under d (d is no longer below a); c under a.
    s.update_group(&d.id, &move_to(None)).await.unwrap();
    s.update_group(&a.id, &move_to(Some(&d))).await.unwrap();
    assert_eq!(parents(&t, &[&a, &d]).await, [Some(d.id.clone()), None]);
    // Now d is a's ancestor: d under c (below a) would close a cycle.
    assert_invalid(s.update_group(&d.id, &move_to(Some(&c))).await, "parent_id");
    // A move to the parent it has is no move.
    s.update_group(&c.id, &move_to(Some(&b))).await.unwrap();
    let u = t.user("u@example.com").await;
    t.join(&c, &[&u]).await;
    assert_eq!(
        t.store
            .user_groups(&u.user_id, page(0, 10))
            .await
            .unwrap()
            .items[0]
            .path,
        "/d/a/b/c"
    );
}

async fn deleting_a_group_deletes_its_subtree(t: TestStore) {
    let s = &t.store;
    t.api(A, &["r", "w"]).await;
    let reader = t.role("reader").await;
    t.grant_role(&reader.id, &[perm(A, "r")]).await;
    let a = t.group("a", None).await;
    let b = t.group("b", Some(&a)).await;
    let c = t.group("c", Some(&b)).await;
    let sibling = t.group("sibling", Some(&a)).await;
    let (ua, uc, us) = (
        t.user("a@example.com").await,
        t.user("c@example.com").await,
        t.user("s@example.com").await,
    );
    t.join(&a, &[&ua]).await;
    t.join(&c, &[&uc]).await;
    t.join(&sibling, &[&us]).await;
    s.add_group_roles(&a.id, std::slice::from_ref(&reader.id))
        .await
        .unwrap();
    s.add_group_roles(&c.id, std::slice::from_ref(&reader.id))
        .await
        .unwrap();
    assert_eq!(t.effective(&uc.user_id, A).await, ["r"]);

    // Deleting b takes c (and their memberships and roles) with it; only c's members lose
    // anything, and they are bumped at once (through the groups, whose members leave later).
    t.expect_bumps(&[&uc], "group_deleted", async {
        s.delete_group(&b.id).await.unwrap();
    })
    .await;
    assert_not_found(s.get_group(&b.id).await, "group");
    assert_not_found(s.get_group(&c.id).await, "group");
    assert_eq!(s.get_group(&sibling.id).await.unwrap(), sibling);
    assert!(t.effective(&uc.user_id, A).await.is_empty());
    assert!(s.effective_roles(&uc.user_id).await.unwrap().is_empty());
    assert_eq!(t.effective(&ua.user_id, A).await, ["r"]);
    assert_eq!(total(s.user_groups(&uc.user_id, page(0, 10)).await), 0);
    let holding = s.role_groups(&reader.id, page(0, 10)).await.unwrap();
    assert_eq!(names(&holding.items), ["a"]);
    assert_not_found(s.delete_group(&b.id).await, "group");
    // A deleted group takes no member, role or child, and its name is free at once.
    assert_not_found(
        s.add_group_members(&c.id, std::slice::from_ref(&ua.user_id))
            .await,
        "group",
    );
    assert_not_found(
        s.add_group_roles(&c.id, std::slice::from_ref(&reader.id))
            .await,
        "group",
    );
    assert_invalid(s.create_group("x", "", Some(&c.id)).await, "parent_id");
    assert_invalid(
        s.update_group(&sibling.id, &move_to(Some(&c))).await,
        "parent_id",
    );
    assert_eq!(
        names(
            &s.list_groups(&GroupFilter::default(), page(0, 10))
                .await
                .unwrap()
                .items
        ),
        ["a", "sibling"]
    );
    let b2 = t.group("b", Some(&a)).await;
    // The deleted groups' rows and c's member stay until swept.
    assert_eq!(t.rows("groups").await, 5);
    assert_eq!(t.rows("group_members").await, 3);

    // The sweep moves the members out (raising their own versions, so none falls back when
    // the groups stop counting), then drops the rows.
    t.expect_bumps(&[&uc], "group_deleted", async {
        assert_eq!(s.sweep_deleted_groups(1).await.unwrap(), 1);
    })
    .await;
    t.expect_bumps(&[], "group_deleted", async {
        assert_eq!(s.sweep_deleted_groups(1).await.unwrap(), 0);
    })
    .await;
    assert_eq!(t.rows("groups").await, 3);
    assert_eq!(t.rows("group_members").await, 2);
    assert!(t.effective(&uc.user_id, A).await.is_empty());
    s.delete_group(&b2.id).await.unwrap();

    // Deleting the root takes everything; deleting a user or a role removes their rows.
    s.delete_user(&us.user_id).await.unwrap();
    assert_eq!(total(s.group_members(&sibling.id, page(0, 10)).await), 0);
    s.delete_role(&reader.id).await.unwrap();
    assert_eq!(total(s.group_roles(&a.id, page(0, 10)).await), 0);
    t.expect_bumps(&[&ua], "group_deleted", async {
        s.delete_group(&a.id).await.unwrap();
    })
    .await;
    assert_eq!(
        total(s.list_groups(&GroupFilter::default(), page(0, 10)).await),
        0
    );
    while s.sweep_deleted_groups(1).await.unwrap() > 0 {}
    assert_eq!(t.rows("groups").await, 0);
    assert_eq!(t.rows("group_members").await, 0);
}

async fn members_and_roles_add_list_and_remove(t: TestStore) {
    let s = &t.store;
    let g = t.group("g", None).await;
    let users = [
        t.user("c@example.com").await,
        t.user("a@example.com").await,
        t.user("b@example.com").await,
    ];
    let mut by_id: Vec<&User> = users.iter().collect();
    by_id.sort_by(|x, y| x.user_id.cmp(&y.user_id));
    let all: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();

    // An unknown user refuses the whole list, naming the entry.
    let with_unknown = vec![all[0].clone(), "usr_missing".into()];
    let refused = s.add_group_members(&g.id, &with_unknown).await;
    assert_invalid(refused, "members[1]");
    let Err(StoreError::Invalid(e)) = s.add_group_members(&g.id, &with_unknown).await else {
        unreachable!()
    };
    assert_eq!(e.reason, "User 'usr_missing' does not exist");
    assert_eq!(total(s.group_members(&g.id, page(0, 10)).await), 0);
    assert_not_found(s.add_group_members("grp_missing", &all).await, "group");
    assert_not_found(s.group_members("grp_missing", page(0, 10)).await, "group");

    // Added (twice: no duplicates), listed by user id and paged.
    s.add_group_members(&g.id, &all).await.unwrap();
    s.add_group_members(&g.id, &[all[0].clone(), all[0].clone()])
        .await
        .unwrap();
    let first = s.group_members(&g.id, page(0, 2)).await.unwrap();
    assert_eq!(first.total, 3);
    let listed: Vec<&str> = first.items.iter().map(|m| m.user_id.as_str()).collect();
    assert_eq!(listed, [&by_id[0].user_id, &by_id[1].user_id]);
    assert_eq!(first.items[0].email, by_id[0].email);
    let rest = s.group_members(&g.id, page(1, 2)).await.unwrap();
    assert_eq!(rest.items[0].user_id, by_id[2].user_id);
    // Removed (an id that is no member is ignored).
    s.remove_group_members(&g.id, &[all[1].clone(), "usr_missing".into()])
        .await
        .unwrap();
    assert_eq!(total(s.group_members(&g.id, page(0, 10)).await), 2);

    // Roles: unknown refused by position, listed by name, the groups of a role.
    let (viewer, admin) = (t.role("viewer").await, t.role("admin").await);
    let refused = s
        .add_group_roles(&g.id, &[viewer.id.clone(), "rol_missing".into()])
        .await;
    assert_invalid(refused, "roles[1]");
    assert_eq!(total(s.group_roles(&g.id, page(0, 10)).await), 0);
    s.add_group_roles(&g.id, &[viewer.id.clone(), admin.id.clone()])
        .await
        .unwrap();
    let roles = s.group_roles(&g.id, page(0, 10)).await.unwrap();
    assert_eq!(roles.total, 2);
    assert_eq!(roles.items, [admin.clone(), viewer.clone()]);
    let h = t.group("h", Some(&g)).await;
    s.add_group_roles(&h.id, std::slice::from_ref(&viewer.id))
        .await
        .unwrap();
    let holding = s.role_groups(&viewer.id, page(0, 10)).await.unwrap();
    assert_eq!(names(&holding.items), ["g", "h"]);
    assert_eq!(holding.total, 2);
    assert_not_found(s.role_groups("rol_missing", page(0, 10)).await, "role");
    s.remove_group_roles(&g.id, std::slice::from_ref(&viewer.id))
        .await
        .unwrap();
    assert_eq!(
        s.group_roles(&g.id, page(0, 10)).await.unwrap().items,
        [admin]
    );
    assert_not_found(s.group_roles("grp_missing", page(0, 10)).await, "group");

    // A user's groups with their paths, by name.
    t.join(&h, &[&users[0]]).await;
    let mine = s.user_groups(&users[0].user_id, page(0, 10)).await.unwrap();
    assert_eq!(mine.total, 2);
    let paths: Vec<(&str, &str)> = mine
        .items
        .iter()
        .map(|g| (g.group.name.as_str(), g.path.as_str()))
        .collect();
    assert_eq!(paths, [("g", "/g"), ("h", "/g/h")]);
    assert_eq!(mine.items[1].group, h);
    assert_not_found(s.user_groups("usr_missing", page(0, 10)).await, "user");
}

async fn effective_permissions_and_roles_come_through_nested_groups_with_sources(t: TestStore) {
    let s = &t.store;
    t.api(A, &["r", "w", "d", "x"]).await;
    t.api(B, &["r"]).await;
    let u = t.user("u@example.com").await;
    let other = t.user("other@example.com").await;
    let (reader, writer, auditor) = (
        t.role("reader").await,
        t.role("writer").await,
        t.role("auditor").await,
    );
    t.grant_role(&reader.id, &[perm(A, "r"), perm(B, "r")])
        .await;
    t.grant_role(&writer.id, &[perm(A, "w"), perm(A, "r")])
        .await;
    t.grant_role(&auditor.id, &[perm(A, "x")]).await;
    let eng = t.group("eng", None).await;
    let backend = t.group("backend", Some(&eng)).await;
    let db = t.group("db", Some(&backend)).await;
    let ops = t.group("ops", None).await;
    s.add_group_roles(&eng.id, std::slice::from_ref(&reader.id))
        .await
        .unwrap();
    s.add_group_roles(&backend.id, std::slice::from_ref(&writer.id))
        .await
        .unwrap();
    s.add_group_roles(&ops.id, std::slice::from_ref(&reader.id))
        .await
        .unwrap();
    // auditor is held by no group u is in.
    s.add_group_roles(&ops.id, std::slice::from_ref(&auditor.id))
        .await
        .unwrap();
    // u: a member of /eng/backend/db (inheriting /eng/backend and /eng), of /eng itself,
    // with reader directly too and a direct grant.
    t.join(&db, &[&u]).await;
    t.join(&eng, &[&u]).await;
    t.assign(&u.user_id, &[&reader.id]).await;
    t.grant_user(&u.user_id, &[perm(A, "d")]).await;

    assert_eq!(t.effective(&u.user_id, A).await, ["d", "r", "w"]);
    assert_eq!(t.effective(&u.user_id, B).await, ["r"]);
    assert!(t.effective(&other.user_id, A).await.is_empty());
    // Joining ops brings auditor's permission.
    t.join(&ops, &[&other]).await;
    assert_eq!(t.effective(&other.user_id, A).await, ["r", "x"]);

    let sources = s
        .effective_permissions_with_sources(&u.user_id, Some(A))
        .await
        .unwrap();
    let role = |r: &Role| Source::Role {
        id: r.id.clone(),
        name: r.name.clone(),
    };
    let group = |path: &str, r: &Role| Source::Group {
        path: path.into(),
        role_id: r.id.clone(),
        role_name: r.name.clone(),
    };
    let got: Vec<(&str, Source)> = sources
        .iter()
        .map(|p| (p.permission_name.as_str(), p.source.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("d", Source::Direct),
            ("r", role(&reader)),
            ("r", group("/eng", &reader)),
            ("r", group("/eng/backend", &writer)),
            ("w", group("/eng/backend", &writer)),
        ]
    );
    assert_eq!(sources[2].description, "r things");
    // Every API: B's permission through the group too.
    let every = s
        .effective_permissions_with_sources(&u.user_id, None)
        .await
        .unwrap();
    assert_eq!(every.len(), 7);
    assert_eq!(every[5].resource_server_identifier, B);
    assert_eq!(every[6].source, group("/eng", &reader));

    let roles = s.effective_roles(&u.user_id).await.unwrap();
    let shape: Vec<(&str, Vec<RoleSource>)> = roles
        .iter()
        .map(|r| (r.name.as_str(), r.sources.clone()))
        .collect();
    assert_eq!(
        shape,
        [
            (
                "reader",
                vec![RoleSource::Direct, RoleSource::Group("/eng".into())]
            ),
            ("writer", vec![RoleSource::Group("/eng/backend".into())]),
        ]
    );
    assert_eq!(roles[0].id, reader.id);
    assert!(
        s.effective_roles(&t.user("none@example.com").await.user_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(s.effective_roles("usr_missing").await, "user");

    // Moving backend out from under eng: db's members lose eng's roles, keep backend's.
    s.update_group(&backend.id, &move_to(None)).await.unwrap();
    s.remove_group_members(&eng.id, std::slice::from_ref(&u.user_id))
        .await
        .unwrap();
    assert_eq!(t.effective(&u.user_id, A).await, ["d", "r", "w"]);
    assert_eq!(t.effective(&u.user_id, B).await, ["r"]);
    s.remove_user_roles(&u.user_id, std::slice::from_ref(&reader.id))
        .await
        .unwrap();
    assert!(t.effective(&u.user_id, B).await.is_empty());
    let roles = s.effective_roles(&u.user_id).await.unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].sources, [RoleSource::Group("/backend".into())]);
}

async fn group_writes_bump_exactly_the_users_concerned_once_each(t: TestStore) {
    let s = &t.store;
    t.api(A, &["r"]).await;
    let role = t.role("reader").await;
    let top = t.group("top", None).await;
    let mid = t.group("mid", Some(&top)).await;
    let leaf = t.group("leaf", Some(&mid)).await;
    let elsewhere = t.group("elsewhere", None).await;
    let (u_top, u_leaf, u_else, u_none) = (
        t.user("top@example.com").await,
        t.user("leaf@example.com").await,
        t.user("else@example.com").await,
        t.user("none@example.com").await,
    );
    let _ = &u_none;
    t.expect_bumps(&[&u_top], "group_member_added", async {
        t.join(&top, &[&u_top]).await;
    })
    .await;
    // Adding members bumps only those not yet in.
    t.expect_bumps(&[&u_leaf], "group_member_added", async {
        t.join(&leaf, &[&u_leaf]).await;
        t.join(&leaf, &[&u_leaf]).await;
    })
    .await;
    t.join(&elsewhere, &[&u_else]).await;
    // A role on the top group: its members and every descendant's.
    t.expect_bumps(&[&u_top, &u_leaf], "group_roles_added", async {
        s.add_group_roles(&top.id, std::slice::from_ref(&role.id))
            .await
            .unwrap();
    })
    .await;
    // Again: nothing changes, nobody is bumped.
    t.expect_bumps(&[], "group_roles_added", async {
        s.add_group_roles(&top.id, std::slice::from_ref(&role.id))
            .await
            .unwrap();
    })
    .await;
    t.expect_bumps(&[&u_leaf], "group_roles_added", async {
        s.add_group_roles(&mid.id, std::slice::from_ref(&role.id))
            .await
            .unwrap();
    })
    .await;
    t.expect_bumps(&[&u_leaf], "group_roles_removed", async {
        s.remove_group_roles(&mid.id, std::slice::from_ref(&role.id))
            .await
            .unwrap();
    })
    .await;
    t.expect_bumps(&[], "group_roles_removed", async {
        s.remove_group_roles(&mid.id, std::slice::from_ref(&role.id))
            .await
            .unwrap();
    })
    .await;
    // Moving the leaf (its members, wherever it goes); renaming it too (the names and paths
    // tokens carry change); a new description (or the same name and parent) bumps nobody.
    t.expect_bumps(&[&u_leaf], "group_moved", async {
        s.update_group(&leaf.id, &move_to(Some(&elsewhere)))
            .await
            .unwrap();
    })
    .await;
    let change = |name: &str| GroupChange {
        name: Some(name.into()),
        description: Some("d".into()),
        parent_id: Some(Some(elsewhere.id.clone())),
    };
    t.expect_bumps(&[&u_leaf], "group_renamed", async {
        s.update_group(&leaf.id, &change("renamed")).await.unwrap();
    })
    .await;
    t.expect_bumps(&[], "group_renamed", async {
        s.update_group(&leaf.id, &change("renamed")).await.unwrap();
    })
    .await;
    t.expect_bumps(&[&u_leaf, &u_top], "group_member_removed", async {
        s.remove_group_members(&leaf.id, std::slice::from_ref(&u_leaf.user_id))
            .await
            .unwrap();
        s.remove_group_members(&top.id, std::slice::from_ref(&u_top.user_id))
            .await
            .unwrap();
        s.remove_group_members(&top.id, std::slice::from_ref(&u_top.user_id))
            .await
            .unwrap();
    })
    .await;
    // A role on a group without members below it: nobody.
    t.expect_bumps(&[], "group_roles_added", async {
        s.add_group_roles(&mid.id, std::slice::from_ref(&role.id))
            .await
            .unwrap();
    })
    .await;
}

async fn role_and_api_changes_bump_users_holding_the_role_through_groups(t: TestStore) {
    let s = &t.store;
    let mut api = t.api(A, &["r", "w"]).await;
    let role = t.role("reader").await;
    let top = t.group("top", None).await;
    let leaf = t.group("leaf", Some(&top)).await;
    let other = t.group("other", None).await;
    let (direct, via_top, via_leaf, both, outside) = (
        t.user("direct@example.com").await,
        t.user("top@example.com").await,
        t.user("leaf@example.com").await,
        t.user("both@example.com").await,
        t.user("outside@example.com").await,
    );
    t.assign(&direct.user_id, &[&role.id]).await;
    t.assign(&both.user_id, &[&role.id]).await;
    t.join(&top, &[&via_top, &both]).await;
    t.join(&leaf, &[&via_leaf, &both]).await;
    t.join(&other, &[&outside]).await;
    s.add_group_roles(&top.id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    let holders = [&direct, &via_top, &via_leaf, &both];
    // A permission added to the role: every holder once, whichever ways they hold it.
    t.expect_bumps(&holders, "role_permissions_added", async {
        t.grant_role(&role.id, &[perm(A, "r"), perm(A, "w")]).await;
    })
    .await;
    assert_eq!(t.effective(&via_leaf.user_id, A).await, ["r", "w"]);
    t.expect_bumps(&holders, "role_permissions_removed", async {
        s.remove_role_permissions(&role.id, &[perm(A, "w")])
            .await
            .unwrap();
    })
    .await;
    // A scope removed from the API's catalog: whoever held it, through groups too.
    t.expect_bumps(&holders, "api_scopes_removed", async {
        api.scopes.retain(|sc| sc.value != "r");
        s.update_resource_server(&api).await.unwrap();
    })
    .await;
    assert!(t.effective(&via_leaf.user_id, A).await.is_empty());
    // The role renamed (tokens may carry role names); a new description alone bumps nobody.
    let mut renamed = role.clone();
    renamed.name = "readers".into();
    t.expect_bumps(&holders, "role_renamed", async {
        s.update_role(&renamed).await.unwrap();
    })
    .await;
    renamed.description = "new words".into();
    t.expect_bumps(&[], "role_renamed", async {
        s.update_role(&renamed).await.unwrap();
    })
    .await;
    // The role deleted.
    t.expect_bumps(&holders, "role_deleted", async {
        s.delete_role(&role.id).await.unwrap();
    })
    .await;
}

async fn racing_moves_cannot_form_a_cycle(t: TestStore) {
    for round in 0..10 {
        let a = t.group(&format!("a{round}"), None).await;
        let b = t.group(&format!("b{round}"), None).await;
        let (sa, sb) = (t.store.clone(), t.store.clone());
        let (ga, gb) = (a.clone(), b.clone());
        let first = tokio::spawn(async move { sa.update_group(&ga.id, &move_to(Some(&gb))).await });
        let (ga, gb) = (a.clone(), b.clone());
        let second =
            tokio::spawn(async move { sb.update_group(&gb.id, &move_to(Some(&ga))).await });
        let results = [first.await.unwrap(), second.await.unwrap()];
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {results:?}");
        for r in results {
            if let Err(e) = r {
                assert!(
                    matches!(&e, StoreError::Invalid(v) if v.field == "parent_id"),
                    "{e:?}"
                );
            }
        }
        let pa = t.store.get_group(&a.id).await.unwrap().parent_id;
        let pb = t.store.get_group(&b.id).await.unwrap().parent_id;
        assert!(pa.is_none() || pb.is_none(), "a cycle: {pa:?} {pb:?}");
    }
}

/// A change to what a group grants raises the versions of the subtree's groups, not of each
/// member: the members' effective versions follow, the log has one record per group which the
/// feed expands to one event per direct member, a page never splits a record, and leaving a
/// group (removed, or the group deleted) never takes a user back to an older version.
async fn group_versions_reach_every_member_and_never_go_back(t: TestStore) {
    let s = &t.store;
    let role = t.role("reader").await;
    let top = t.group("top", None).await;
    let mid = t.group("mid", Some(&top)).await;
    let leaf = t.group("leaf", Some(&mid)).await;
    let empty = t.group("empty", None).await;
    let (a, b, c) = (
        t.user("a@example.com").await,
        t.user("b@example.com").await,
        t.user("c@example.com").await,
    );
    t.join(&leaf, &[&a, &c]).await;
    t.join(&mid, &[&b]).await;
    t.join(&top, &[&c]).await;

    let head = s.authz_head().await.unwrap();
    s.add_group_roles(&top.id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    // One record per group of the subtree, whatever the members.
    let new_head = s.authz_head().await.unwrap();
    assert_eq!(new_head - head, 3);
    for u in [&a, &b, &c] {
        assert_eq!(
            t.version(&u.user_id).await,
            s.authz_version(&u.user_id).await.unwrap()
        );
        assert!(t.version(&u.user_id).await > head, "{}", u.email);
    }
    // Read one record at a time: each page is one group's members, `next` its seq.
    let mut cursor = head;
    let mut told = Vec::new();
    while cursor < new_head {
        let page = s.authz_events_after(cursor, 1).await.unwrap();
        assert_eq!(page.next, cursor + 1);
        assert!(page.events.iter().all(|e| e.seq == page.next));
        told.extend(page.events.into_iter().map(|e| e.subject));
        cursor = page.next;
    }
    told.sort();
    let mut want = vec![
        a.user_id.clone(),
        b.user_id.clone(),
        c.user_id.clone(),
        c.user_id.clone(),
    ];
    want.sort();
    assert_eq!(told, want, "c is a member of two groups of the subtree");

    // A group without members: its record moves `next` and tells nobody.
    s.add_group_roles(&empty.id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    let page = s.authz_events_after(new_head, 10).await.unwrap();
    assert_eq!(page.next, new_head + 1);
    assert!(page.events.is_empty());

    // Leaving a group raises the user's own version above the group's.
    let va = t.version(&a.user_id).await;
    s.remove_group_members(&leaf.id, std::slice::from_ref(&a.user_id))
        .await
        .unwrap();
    assert!(t.version(&a.user_id).await > va);
    // Deleting a subtree raises its groups' versions, one record each, read as their
    // members (still there until swept).
    let (vb, vc) = (t.version(&b.user_id).await, t.version(&c.user_id).await);
    let before = s.authz_head().await.unwrap();
    s.delete_group(&mid.id).await.unwrap();
    assert_eq!(
        s.authz_head().await.unwrap() - before,
        2,
        "one record per group"
    );
    assert!(t.version(&b.user_id).await > vb);
    assert!(t.version(&c.user_id).await > vc);
    let told_since = |after: i64| async move {
        let page = s.authz_events_after(after, 10).await.unwrap();
        let mut told: Vec<(String, i64)> = page
            .events
            .into_iter()
            .map(|e| (e.subject, e.version))
            .collect();
        told.sort();
        told
    };
    let mut want = vec![
        (b.user_id.clone(), t.version(&b.user_id).await),
        (c.user_id.clone(), t.version(&c.user_id).await),
    ];
    want.sort();
    assert_eq!(told_since(before).await, want);
    // The sweep then raises each member's own version above the group's, one event each, so
    // none goes back when the deleted groups stop counting; c stays in top.
    let (vb, vc) = (t.version(&b.user_id).await, t.version(&c.user_id).await);
    let swept = s.authz_head().await.unwrap();
    while s.sweep_deleted_groups(1).await.unwrap() > 0 {}
    assert!(t.version(&b.user_id).await > vb);
    assert!(t.version(&c.user_id).await > vc);
    let mut want = vec![
        (b.user_id.clone(), t.version(&b.user_id).await),
        (c.user_id.clone(), t.version(&c.user_id).await),
    ];
    want.sort();
    assert_eq!(told_since(swept).await, want);
    assert_eq!(
        total(s.user_groups(&b.user_id, crate::page(0, 10)).await),
        0
    );
    let c_groups = s.user_groups(&c.user_id, crate::page(0, 10)).await.unwrap();
    assert_eq!(c_groups.items.len(), 1);
    assert_eq!(c_groups.items[0].path, "/top");
    // Moving a group raises its subtree above everything before.
    let leaf2 = t.group("leaf2", Some(&top)).await;
    t.join(&leaf2, &[&a]).await;
    let va = t.version(&a.user_id).await;
    s.update_group(&leaf2.id, &move_to(Some(&empty)))
        .await
        .unwrap();
    assert!(t.version(&a.user_id).await > va);
}

/// A user's own events (for the live stream's catch-up): its own records and its groups'
/// records within `(after, upto]`, in order, never another user's.
async fn a_subjects_events_are_its_own_and_its_groups_records_in_a_range(t: TestStore) {
    let s = &t.store;
    let role = t.role("reader").await;
    let top = t.group("top", None).await;
    let (a, b) = (t.user("a@example.com").await, t.user("b@example.com").await);
    let head = s.authz_head().await.unwrap();
    t.join(&top, &[&a, &b]).await;
    s.assign_user_roles(&a.user_id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    s.assign_user_roles(&b.user_id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    s.add_group_roles(&top.id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    let end = s.authz_head().await.unwrap();
    let of = |who: &User, after: i64, upto: i64| {
        let id = who.user_id.clone();
        async move { s.authz_events_of(&id, after, upto, 100).await.unwrap() }
    };
    let mine = of(&a, head, end).await;
    assert!(mine.iter().all(|e| e.subject == a.user_id));
    assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq), "{mine:?}");
    let kinds: Vec<&str> = mine.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"role_assigned"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"group_roles_added"), "{kinds:?}");
    assert_eq!(
        mine.last().unwrap().seq,
        end,
        "the group's record, read as a"
    );
    assert_eq!(
        mine.last().unwrap().version,
        s.authz_version(&a.user_id).await.unwrap()
    );
    // b's own assignment is not a's; the shared group's record is both's.
    let theirs = of(&b, head, end).await;
    let a_seqs: Vec<i64> = mine.iter().map(|e| e.seq).collect();
    let b_seqs: Vec<i64> = theirs.iter().map(|e| e.seq).collect();
    assert_ne!(a_seqs, b_seqs);
    assert!(b_seqs.contains(&end));
    // The range bounds it: nothing after `upto`, nothing up to `after`.
    assert!(of(&a, end, end).await.is_empty());
    let before_group = of(&a, head, end - 1).await;
    assert_eq!(before_group.len(), mine.len() - 1);
    assert_eq!(
        s.authz_events_of(&a.user_id, head, end, 1)
            .await
            .unwrap()
            .len(),
        1
    );
}
