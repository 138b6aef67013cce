//! Actions (hooks) and their trigger bindings (`ActionStore`): put, get and list; not found;
//! deleting an action deletes its bindings; bindings are replaced whole and keep their order;
//! the revision-conditional write refuses a stale row and loses no write among racing
//! read-modify-write loops; webhook URLs round-trip; a dump carries every action column.

use std::sync::Arc;

use writ_core::*;
use writ_store::dump::{self, Database};
use writ_store::*;

use crate::{TestStore, assert_not_found, conformance};

conformance!(
    actions_are_put_read_and_listed,
    missing_actions_are_not_found,
    deleting_an_action_deletes_its_bindings,
    bindings_are_replaced_whole_in_order,
    a_replace_is_conditional_on_the_revision_it_read,
    racing_read_modify_writes_lose_nothing,
    webhook_urls_round_trip,
    a_dump_carries_actions_and_bindings,
);

fn action(id: &str, trigger: &str) -> Action {
    Action {
        id: id.into(),
        name: format!("{id} — hook ✓"),
        trigger: trigger.into(),
        code: format!("exports.onExecutePostLogin = async () => {{ /* {id} */ }};"),
        secrets: vec![0, 1, 2, 255, 7],
        version: 0,
        deployed_code: None,
        created_at: format!("2026-01-01T00:00:0{}Z", id.len() % 10),
        updated_at: "2026-01-01T00:00:00Z".into(),
        url: None,
        deployed_url: None,
        revision: 0,
    }
}

fn binding(id: &str) -> ActionBinding {
    ActionBinding {
        action_id: id.into(),
        display_name: format!("bound {id}"),
    }
}

async fn actions_are_put_read_and_listed(t: TestStore) {
    let s = &t.store;
    assert!(s.actions().await.unwrap().is_empty());
    let a = action("act_a", "post-login");
    let mut b = action("act_bb", "credentials-exchange");
    b.deployed_code = Some("exports.onExecuteCredentialsExchange = async () => {};".into());
    b.version = 3;
    s.put_action(&a).await.unwrap();
    s.put_action(&b).await.unwrap();
    assert_eq!(s.get_action("act_a").await.unwrap(), a);
    assert_eq!(s.get_action("act_bb").await.unwrap(), b);
    // Listed oldest first.
    assert_eq!(s.actions().await.unwrap(), vec![a.clone(), b.clone()]);
    // A put of an existing id replaces it (created_at kept from the first).
    let mut a2 = a.clone();
    a2.name = "renamed".into();
    a2.created_at = "2030-01-01T00:00:00Z".into();
    s.put_action(&a2).await.unwrap();
    let got = s.get_action("act_a").await.unwrap();
    assert_eq!(got.name, "renamed");
    assert_eq!(got.created_at, a.created_at);
    assert_eq!(s.actions().await.unwrap().len(), 2);
}

async fn missing_actions_are_not_found(t: TestStore) {
    let s = &t.store;
    assert_not_found(s.get_action("act_nope").await, "action");
    assert_not_found(s.delete_action("act_nope").await, "action");
    assert_not_found(
        s.replace_action(&action("act_nope", "post-login")).await,
        "action",
    );
    assert!(s.action_bindings("post-login").await.unwrap().is_empty());
}

async fn deleting_an_action_deletes_its_bindings(t: TestStore) {
    let s = &t.store;
    for id in ["act_1", "act_2", "act_3"] {
        s.put_action(&action(id, "post-login")).await.unwrap();
    }
    s.put_action(&action("act_c", "credentials-exchange"))
        .await
        .unwrap();
    s.set_action_bindings(
        "post-login",
        &[binding("act_1"), binding("act_2"), binding("act_3")],
    )
    .await
    .unwrap();
    s.set_action_bindings("credentials-exchange", &[binding("act_c")])
        .await
        .unwrap();
    s.delete_action("act_2").await.unwrap();
    assert_not_found(s.get_action("act_2").await, "action");
    assert_eq!(
        s.action_bindings("post-login").await.unwrap(),
        vec![binding("act_1"), binding("act_3")]
    );
    // Other triggers' bindings are untouched.
    assert_eq!(
        s.action_bindings("credentials-exchange").await.unwrap(),
        vec![binding("act_c")]
    );
    let left: Vec<String> = s
        .actions()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(left.len(), 3);
    assert!(!left.contains(&"act_2".to_string()));
}

async fn bindings_are_replaced_whole_in_order(t: TestStore) {
    let s = &t.store;
    for id in ["act_1", "act_2", "act_3"] {
        s.put_action(&action(id, "post-login")).await.unwrap();
    }
    s.set_action_bindings("post-login", &[binding("act_3"), binding("act_1")])
        .await
        .unwrap();
    assert_eq!(
        s.action_bindings("post-login").await.unwrap(),
        vec![binding("act_3"), binding("act_1")]
    );
    // Replaced, not appended; the new order is kept.
    s.set_action_bindings(
        "post-login",
        &[binding("act_2"), binding("act_3"), binding("act_1")],
    )
    .await
    .unwrap();
    assert_eq!(
        s.action_bindings("post-login").await.unwrap(),
        vec![binding("act_2"), binding("act_3"), binding("act_1")]
    );
    // The same action twice runs twice.
    s.set_action_bindings("post-login", &[binding("act_1"), binding("act_1")])
        .await
        .unwrap();
    assert_eq!(s.action_bindings("post-login").await.unwrap().len(), 2);
    s.set_action_bindings("post-login", &[]).await.unwrap();
    assert!(s.action_bindings("post-login").await.unwrap().is_empty());
}

async fn a_replace_is_conditional_on_the_revision_it_read(t: TestStore) {
    let s = &t.store;
    s.put_action(&action("act_r", "post-login")).await.unwrap();
    let read1 = s.get_action("act_r").await.unwrap();
    let read2 = s.get_action("act_r").await.unwrap();
    assert_eq!(read1.revision, 0);

    let mut first = read1.clone();
    first.name = "first".into();
    first.created_at = "ignored".into();
    assert_eq!(s.replace_action(&first).await.unwrap(), Some(1));
    // The second writer read revision 0 too: refused, and the first write stands.
    let mut second = read2.clone();
    second.name = "second".into();
    assert_eq!(s.replace_action(&second).await.unwrap(), None);
    let now = s.get_action("act_r").await.unwrap();
    assert_eq!(now.name, "first");
    assert_eq!(now.revision, 1);
    assert_eq!(now.created_at, read1.created_at, "created_at is kept");
    // Read again, it goes through, every field written.
    let mut again = now.clone();
    again.name = "second".into();
    again.code = "new code".into();
    again.secrets = vec![9, 9];
    again.version = 7;
    again.deployed_code = Some("new code".into());
    again.updated_at = "2026-02-02T00:00:00Z".into();
    again.url = Some("https://hooks.example/x".into());
    again.deployed_url = Some("https://hooks.example/x".into());
    assert_eq!(s.replace_action(&again).await.unwrap(), Some(2));
    assert_eq!(
        s.get_action("act_r").await.unwrap(),
        Action {
            revision: 2,
            ..again
        }
    );
}

async fn racing_read_modify_writes_lose_nothing(t: TestStore) {
    t.store
        .put_action(&action("act_race", "post-login"))
        .await
        .unwrap();
    // 20 writers, each raising `version` by one and adding its mark to the code, retrying
    // when another write came first.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s: Arc<dyn Store> = t.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            loop {
                let mut a = s.get_action("act_race").await.unwrap();
                a.version += 1;
                a.code.push_str(&format!("[{i}]"));
                match s.replace_action(&a).await.unwrap() {
                    Some(_) => return conflicts,
                    None => conflicts += 1,
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let a = t.store.get_action("act_race").await.unwrap();
    assert_eq!(a.version, 20);
    assert_eq!(a.revision, 20);
    for i in 0..20 {
        assert_eq!(a.code.matches(&format!("[{i}]")).count(), 1, "{}", a.code);
    }
}

async fn webhook_urls_round_trip(t: TestStore) {
    let s = &t.store;
    let mut a = action("act_w", "post-login");
    a.url = Some("https://hooks.example/claims?tenant=a&x=%20".into());
    s.put_action(&a).await.unwrap();
    let got = s.get_action("act_w").await.unwrap();
    assert_eq!(got.url, a.url);
    assert_eq!(got.deployed_url, None);
    // Deployed, then turned back into code: the deployed URL stays until the next deploy.
    let mut d = got.clone();
    d.deployed_url = d.url.clone();
    d.deployed_code = Some(String::new());
    s.replace_action(&d).await.unwrap().unwrap();
    let mut back = s.get_action("act_w").await.unwrap();
    assert_eq!(back.deployed_url, a.url);
    back.url = None;
    s.replace_action(&back).await.unwrap().unwrap();
    let got = s.get_action("act_w").await.unwrap();
    assert_eq!(got.url, None);
    assert_eq!(got.deployed_url, a.url);
    assert_eq!(s.actions().await.unwrap(), vec![got]);
}

async fn a_dump_carries_actions_and_bindings(t: TestStore) {
    let s = &t.store;
    let mut web = action("act_web", "post-login");
    web.url = Some("https://hooks.example/a".into());
    web.deployed_url = Some("https://hooks.example/old".into());
    web.deployed_code = Some(String::new());
    web.version = 4;
    web.revision = 9;
    let mut js = action("act_js", "credentials-exchange");
    js.deployed_code = Some("exports.onExecuteCredentialsExchange = async () => {};".into());
    js.revision = 2;
    let draft = action("act_draft", "post-login");
    for a in [&web, &js, &draft] {
        s.put_action(a).await.unwrap();
    }
    s.set_action_bindings("post-login", &[binding("act_draft"), binding("act_web")])
        .await
        .unwrap();
    s.set_action_bindings("credentials-exchange", &[binding("act_js")])
        .await
        .unwrap();
    let before = (
        s.actions().await.unwrap(),
        s.action_bindings("post-login").await.unwrap(),
        s.action_bindings("credentials-exchange").await.unwrap(),
    );

    let db = Database::connect(&t.url).await.unwrap();
    let mut out = Vec::new();
    dump::export(&db, &mut out).await.unwrap();
    db.close().await;
    let text = String::from_utf8(out).unwrap();
    let row = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["table"] == "actions" && r["row"]["id"] == "act_web")
        .unwrap();
    assert_eq!(row["row"]["url"], "https://hooks.example/a");
    assert_eq!(row["row"]["deployed_url"], "https://hooks.example/old");
    assert_eq!(row["row"]["revision"], 9);

    let mut targets = vec![TestStore::sqlite().await];
    targets.extend(TestStore::postgres().await);
    for target in targets {
        let db = Database::connect(&target.url).await.unwrap();
        dump::import(&db, text.as_bytes()).await.unwrap();
        db.close().await;
        let after = (
            target.store.actions().await.unwrap(),
            target.store.action_bindings("post-login").await.unwrap(),
            target
                .store
                .action_bindings("credentials-exchange")
                .await
                .unwrap(),
        );
        assert_eq!(after, before, "{:?} → {:?}", t.backend, target.backend);
        // The restored revision is the one a conditional write is checked against.
        let mut stale = target.store.get_action("act_web").await.unwrap();
        stale.revision = 8;
        assert_eq!(target.store.replace_action(&stale).await.unwrap(), None);
        stale.revision = 9;
        assert_eq!(target.store.replace_action(&stale).await.unwrap(), Some(10));
    }
}
