//! `writ demo`: idempotent demo data for the five-minute tour — a todos API with RBAC, the
//! `viewer` and `editor` roles, alice (editor) and bob (viewer), a machine client with a grant,
//! and a first-party client allowed to use the password grant from scripts.
//!
//! The demo's secrets are fixed so that re-running prints the same working commands; never use
//! demo data in production.

use writ_core::{AppType, Permission, ResourceServer, Role, Scope, SigningAlg, TokenDialect, User};
use writ_store::{NewUser, StoreError};

use crate::state::AppState;
use writ_service::bootstrap::{client_grant, machine_client};

pub const TODOS_API: &str = "https://todos.example/api";
pub const MACHINE_CLIENT_ID: &str = "demo-machine";
pub const MACHINE_CLIENT_SECRET: &str = "demo-machine-secret-change-me";
pub const SPA_CLIENT_ID: &str = "demo-spa";
/// Where the example SPA runs (`examples/spa-react`).
pub const SPA_ORIGINS: [&str; 2] = ["http://127.0.0.1:5173", "http://localhost:5173"];
/// The example API's client for the authz event feed (`read:authz_events`).
pub const EVENTS_CLIENT_ID: &str = "demo-todos-api";
pub const EVENTS_CLIENT_SECRET: &str = "demo-todos-api-secret-change-me";
pub const SCRIPT_CLIENT_ID: &str = "demo-cli";
pub const SCRIPT_CLIENT_SECRET: &str = "demo-cli-secret-change-me";
pub const ALICE: (&str, &str) = ("alice@example.com", "alice-password-1");
pub const BOB: (&str, &str) = ("bob@example.com", "bob-password-1");
/// The demo administrator: role `admin`, every Management API permission, for the console.
pub const ADMIN: (&str, &str) = ("admin@example.com", "admin-password-1");
pub const ADMIN_ROLE: &str = "admin";

/// Creates whatever of the demo data is missing.
pub async fn seed(state: &AppState) -> Result<(), StoreError> {
    let s = &state.store;
    let scopes = [
        ("read:todos", "Read todos"),
        ("write:todos", "Create and edit todos"),
        ("delete:todos", "Delete todos"),
    ];
    if let Err(StoreError::NotFound(_)) = s.get_resource_server(TODOS_API).await {
        s.create_resource_server(ResourceServer {
            id: String::new(),
            identifier: TODOS_API.into(),
            name: "Todos API".into(),
            scopes: scopes
                .iter()
                .map(|(v, d)| Scope {
                    value: (*v).into(),
                    description: (*d).into(),
                })
                .collect(),
            signing_alg: SigningAlg::RS256,
            token_lifetime: 3600,
            enforce_policies: true,
            token_dialect: TokenDialect::AccessTokenAuthz,
            allow_offline_access: true,
            is_system: false,
            token_claims: Default::default(),
        })
        .await?;
    }
    let perm = |p: &str| Permission {
        resource_server_identifier: TODOS_API.into(),
        permission_name: p.into(),
    };
    let mut role_ids = Vec::new();
    for (name, desc, perms) in [
        ("viewer", "Can read todos", vec!["read:todos"]),
        (
            "editor",
            "Can read, write and delete todos",
            vec!["read:todos", "write:todos", "delete:todos"],
        ),
    ] {
        let role = role(state, name, desc).await?;
        s.add_role_permissions(&role.id, &perms.iter().map(|p| perm(p)).collect::<Vec<_>>())
            .await?;
        role_ids.push(role.id);
    }
    for ((email, password), role) in [(ALICE, &role_ids[1]), (BOB, &role_ids[0])] {
        let name = email.split('@').next().unwrap_or(email);
        let user = user(state, email, password, name).await?;
        s.assign_user_roles(&user.user_id, std::slice::from_ref(role))
            .await?;
    }
    if let Err(StoreError::NotFound(_)) = s.get_client(MACHINE_CLIENT_ID).await {
        s.create_client(&machine_client(
            MACHINE_CLIENT_ID,
            "Demo machine client",
            MACHINE_CLIENT_SECRET,
        ))
        .await?;
    }
    grant(state, MACHINE_CLIENT_ID, TODOS_API, "read:todos").await?;
    if let Err(StoreError::NotFound(_)) = s.get_client(SCRIPT_CLIENT_ID).await {
        let mut c = machine_client(
            SCRIPT_CLIENT_ID,
            "Demo CLI (password grant)",
            SCRIPT_CLIENT_SECRET,
        );
        c.app_type = AppType::RegularWeb;
        c.grant_types = vec!["password".into()];
        s.create_client(&c).await?;
    }
    if let Err(StoreError::NotFound(_)) = s.get_client(SPA_CLIENT_ID).await {
        let mut c = machine_client(SPA_CLIENT_ID, "Todos", "unused");
        c.secret_hash = None;
        c.app_type = AppType::Spa;
        c.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
        c.callbacks = SPA_ORIGINS.iter().map(|o| format!("{o}/")).collect();
        c.allowed_logout_urls = c.callbacks.clone();
        c.web_origins = SPA_ORIGINS.iter().map(|o| o.to_string()).collect();
        c.allowed_origins = c.web_origins.clone();
        s.create_client(&c).await?;
    }
    if let Err(StoreError::NotFound(_)) = s.get_client(EVENTS_CLIENT_ID).await {
        s.create_client(&machine_client(
            EVENTS_CLIENT_ID,
            "Todos API (authz event feed)",
            EVENTS_CLIENT_SECRET,
        ))
        .await?;
    }
    let mgmt = state.config.management_audience();
    grant(state, EVENTS_CLIENT_ID, &mgmt, "read:authz_events").await?;
    seed_admin(state).await?;
    state.reload().await
}

/// The role named `name`, created with `description` when there is none.
async fn role(state: &AppState, name: &str, description: &str) -> Result<Role, StoreError> {
    let existing = state
        .store
        .list_roles(
            Some(name),
            writ_store::Page {
                page: 0,
                per_page: 100,
            },
        )
        .await?;
    match existing.items.into_iter().find(|r| r.name == name) {
        Some(r) => Ok(r),
        None => state.store.create_role(name, description).await,
    }
}

/// The user with this email, created (verified, with `password` and `name`) when there is none.
async fn user(
    state: &AppState,
    email: &str,
    password: &str,
    name: &str,
) -> Result<User, StoreError> {
    if let Some(c) = state.store.credentials_by_email(email).await? {
        return Ok(c.user);
    }
    let hash = state
        .hasher
        .hash(password)
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    state
        .store
        .create_user(NewUser {
            email: email.into(),
            password_hash: Some(hash),
            name: Some(name.to_owned()),
            email_verified: true,
            ..Default::default()
        })
        .await
}

/// A client grant of `scope` for `audience` to `client_id`, unless the client has one for it.
async fn grant(
    state: &AppState,
    client_id: &str,
    audience: &str,
    scope: &str,
) -> Result<(), StoreError> {
    if client_grant(&*state.store, client_id, audience)
        .await?
        .is_none()
    {
        state
            .store
            .create_client_grant(client_id, audience, &[scope.to_string()])
            .await?;
    }
    Ok(())
}

/// The admin console's demo administrator: a role with every Management API permission.
async fn seed_admin(state: &AppState) -> Result<(), StoreError> {
    let s = &state.store;
    let mgmt = state.config.management_audience();
    let role = role(
        state,
        ADMIN_ROLE,
        "Every Management API permission (the admin console)",
    )
    .await?;
    let perms: Vec<Permission> = writ_core::MANAGEMENT_SCOPES
        .iter()
        .map(|p| Permission {
            resource_server_identifier: mgmt.clone(),
            permission_name: (*p).into(),
        })
        .collect();
    s.add_role_permissions(&role.id, &perms).await?;
    let (email, password) = ADMIN;
    let user = user(state, email, password, "Demo admin").await?;
    s.assign_user_roles(&user.user_id, std::slice::from_ref(&role.id))
        .await
}

/// The tour printed after the demo starts.
pub fn tour(issuer: &str) -> String {
    let (alice, alice_pw) = ALICE;
    let (bob, bob_pw) = BOB;
    let (admin, admin_pw) = ADMIN;
    format!(
        r#"
Writ demo is running at {issuer}

  API        {TODOS_API}   (read:todos, write:todos, delete:todos; RBAC on)
  roles      viewer (read)   editor (read, write, delete)
  users      {alice} / {alice_pw}   (editor)
             {bob} / {bob_pw}       (viewer)
             {admin} / {admin_pw}   (admin: every Management API permission)
  console    {issuer}admin   (sign in as {admin} / {admin_pw})
  clients    {SPA_CLIENT_ID}   (SPA, PKCE; examples/spa-react on http://127.0.0.1:5173)
             {MACHINE_CLIENT_ID} / {MACHINE_CLIENT_SECRET}   (client_credentials, read:todos)
             {SCRIPT_CLIENT_ID} / {SCRIPT_CLIENT_SECRET}     (password grant, for scripts)

The whole flow in a browser (two more terminals):

  WRIT_EVENTS_CLIENT_ID={EVENTS_CLIENT_ID} WRIT_EVENTS_CLIENT_SECRET={EVENTS_CLIENT_SECRET} \
    cargo run --release -p todos-api                            # the example API on :4000
  cd examples/spa-react && npm ci && npm run dev                # the React SPA on :5173
  # then open http://127.0.0.1:5173/ and log in as alice or bob

Try it with curl:

  # a machine token for the todos API
  curl -s {issuer}oauth/token -d grant_type=client_credentials \
    -d client_id={MACHINE_CLIENT_ID} -d client_secret={MACHINE_CLIENT_SECRET} -d audience={TODOS_API}

  # alice's token: its `permissions` claim carries read, write and delete
  curl -s {issuer}oauth/token -d grant_type=password -d client_id={SCRIPT_CLIENT_ID} \
    -d client_secret={SCRIPT_CLIENT_SECRET} -d username={alice} -d password={alice_pw} -d audience={TODOS_API}

  # decode a token's claims
  ... | python3 -c 'import sys,json,base64;t=json.load(sys.stdin)["access_token"].split(".")[1];print(base64.urlsafe_b64decode(t+"=="*2).decode())'

  # the public keys APIs verify with
  curl -s {issuer}.well-known/jwks.json

The Management API ({issuer}api/v2/) needs a token from a client with a management grant
(WRIT_BOOTSTRAP_CLIENT_ID/SECRET, or the client printed at first start). Its reference: {issuer}api/v2/docs
"#
    )
}
