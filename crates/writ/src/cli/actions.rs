//! `writ actions list|get|create|update|deploy|delete` and `writ actions bind <trigger>
//! <action>...`: claim hooks over `/api/v2/actions` (JavaScript, or signed webhooks with
//! `--runtime webhook --url …`). An action is named by its id (`act_…`) or its exact name when
//! only one action has it. Secrets are sent as `--secret NAME=VALUE` and only ever shown by name.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};
use writ_server::mgmt::types::{
    Action, ActionList, ActionSecret, ActionTrigger, BindingRef, BindingRequest, BindingsRequest,
};

use super::api::Api;
use super::shared::{BodyArg, Fields, delete, get, plural, send, set_if_given};
use super::{CliError, output};

#[derive(Subcommand)]
pub enum ActionsCommand {
    /// List the actions.
    List {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an action (by id or name).
    Get {
        action: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create an action (a draft: it runs once deployed and bound).
    Create {
        #[command(flatten)]
        fields: ActionFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Change an action's name, code, webhook URL or secrets.
    Update {
        /// The action's id or name.
        action: String,
        #[command(flatten)]
        fields: ActionFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Make an action's current code (or webhook URL) the one that runs.
    Deploy {
        /// The action's id or name.
        action: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an action and its bindings.
    Delete {
        /// The action's id or name.
        action: String,
    },
    /// Set the actions a trigger runs, in order (none: the trigger runs nothing).
    Bind {
        /// `post-login` or `credentials-exchange`.
        trigger: String,
        /// The actions' ids or names, in the order they run.
        actions: Vec<String>,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The properties of an action.
#[derive(Args)]
pub struct ActionFields {
    /// The action's name (required on create).
    #[arg(long)]
    name: Option<String>,
    /// The trigger it is for: post-login or credentials-exchange (on create; default
    /// post-login).
    #[arg(long)]
    trigger: Option<String>,
    /// The JavaScript code.
    #[arg(long, conflicts_with = "code_file")]
    code: Option<String>,
    /// A file holding the JavaScript code.
    #[arg(long, value_name = "PATH")]
    code_file: Option<String>,
    /// `webhook` for a signed webhook (with --url and --secret SIGNING_SECRET=…), `node18` for
    /// JavaScript.
    #[arg(long)]
    runtime: Option<String>,
    /// A webhook action's URL.
    #[arg(long)]
    url: Option<String>,
    /// A secret, NAME=VALUE (repeat for several; replaces the action's secrets: give NAME
    /// alone to keep an existing one's value).
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
}

impl Fields for ActionFields {
    fn apply(self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        set_if_given(body, "name", self.name);
        if let Some(t) = self.trigger {
            // With Auth0's trigger version, as before (Writ ignores it).
            let triggers = [ActionTrigger {
                id: t,
                version: Some("v3".into()),
            }];
            body.insert("supported_triggers".into(), json!(triggers));
        }
        let code = match self.code_file {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| CliError::Usage(format!("cannot read {path}: {e}")))?,
            ),
            None => self.code,
        };
        set_if_given(body, "code", code);
        set_if_given(body, "runtime", self.runtime);
        set_if_given(body, "url", self.url);
        if !self.secrets.is_empty() {
            let list: Vec<ActionSecret> = self
                .secrets
                .into_iter()
                .map(|s| match s.split_once('=') {
                    Some((name, value)) => ActionSecret {
                        name: name.to_owned(),
                        value: Some(value.to_owned()),
                    },
                    None => ActionSecret {
                        name: s,
                        value: None,
                    },
                })
                .collect();
            body.insert("secrets".into(), json!(list));
        }
        Ok(())
    }
}

/// The columns of `writ actions list`.
const ACTIONS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("TRIGGER", "trigger"),
    ("RUNTIME", "runtime"),
    ("DEPLOYED", "all_changes_deployed"),
];

/// Every action.
async fn all(api: &mut Api) -> Result<Vec<Action>, CliError> {
    let page: ActionList = api.get_as(&["actions", "actions"], &[]).await?;
    Ok(page.actions)
}

/// The table's row of an action: its JSON, with its trigger beside it.
fn row(a: &Action) -> Value {
    let mut v = json!(a);
    if let Some(t) = a.supported_triggers.first() {
        v["trigger"] = json!(t.id);
    }
    v
}

/// An action id, from an id (`act_…`) or an exact name.
async fn action_id(api: &mut Api, action: &str) -> Result<String, CliError> {
    if action.starts_with("act_") {
        return Ok(action.to_owned());
    }
    let found: Vec<String> = all(api)
        .await?
        .into_iter()
        .filter(|a| a.name == action)
        .map(|a| a.id)
        .collect();
    match &found[..] {
        [id] => Ok(id.clone()),
        [] => Err(CliError::Failed(format!("no action is named {action:?}"))),
        _ => Err(CliError::Failed(format!(
            "several actions are named {action:?}: give the action id"
        ))),
    }
}

/// Runs one `writ actions …` command.
pub async fn run(cmd: ActionsCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        ActionsCommand::List { json } => {
            if json {
                output::json(&api.get(&["actions", "actions"], &[]).await?);
            } else {
                let rows: Vec<Value> = all(&mut api).await?.iter().map(row).collect();
                output::table(ACTIONS, &rows);
            }
            Ok(())
        }
        ActionsCommand::Get { action, json } => {
            let id = action_id(&mut api, &action).await?;
            get(&mut api, &["actions", "actions", &id], json).await
        }
        ActionsCommand::Create { mut fields, body } => {
            // Auth0 asks for a trigger; post-login is the usual one.
            if fields.trigger.is_none() && !body.request_body()?.contains_key("supported_triggers")
            {
                fields.trigger = Some("post-login".into());
            }
            let mut request = body.request_body()?;
            fields.apply(&mut request)?;
            send(
                &mut api,
                Method::POST,
                &["actions", "actions"],
                request,
                &body,
            )
            .await
        }
        ActionsCommand::Update {
            action,
            fields,
            body,
        } => {
            let id = action_id(&mut api, &action).await?;
            let mut request = body.request_body()?;
            fields.apply(&mut request)?;
            let path = ["actions", "actions", id.as_str()];
            send(&mut api, Method::PATCH, &path, request, &body).await
        }
        ActionsCommand::Deploy { action, json } => {
            let id = action_id(&mut api, &action).await?;
            let a = api
                .post(&["actions", "actions", &id, "deploy"], json!({}))
                .await?;
            if json {
                output::json(&a);
            } else {
                let deployed: Action = serde_json::from_value(a).map_err(|e| {
                    CliError::Failed(format!(
                        "the action was deployed, but the server's answer is not an action: {e}"
                    ))
                })?;
                let version = deployed.deployed_version.map_or(0, |d| d.number);
                println!("Deployed the action {action} (version {version}).");
            }
            Ok(())
        }
        ActionsCommand::Delete { action } => {
            let id = action_id(&mut api, &action).await?;
            delete(
                &mut api,
                &["actions", "actions", &id],
                &format!("the action {action}"),
            )
            .await
        }
        ActionsCommand::Bind {
            trigger,
            actions,
            json,
        } => {
            let mut bindings = Vec::new();
            for a in &actions {
                let id = action_id(&mut api, a).await?;
                bindings.push(BindingRequest {
                    reference: BindingRef {
                        kind: "action_id".into(),
                        value: id,
                    },
                    display_name: Some(a.clone()),
                });
            }
            let answer = api
                .call(
                    Method::PATCH,
                    &["actions", "triggers", &trigger, "bindings"],
                    &[],
                    super::api::Body::Json(json!(BindingsRequest { bindings })),
                )
                .await?;
            if json {
                output::json(&answer);
            } else {
                println!(
                    "The trigger {trigger} runs {}.",
                    plural(actions.len(), "action")
                );
            }
            Ok(())
        }
    }
}
