//! `writ groups list|get|create|update|delete`, `writ groups members list|add|remove` and
//! `writ groups roles list|add|remove`: the group tree over `/api/v2/groups`. A group is named
//! by its id (`grp_…`) or its exact name when only one group has it, a role by id or name, a
//! user by id or email.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use writ_server::mgmt::types::{GroupList, GroupMembersRequest, GroupRolesRequest, List};

use super::CliError;
use super::api::Api;
use super::shared::{
    BodyArg, Change, Fields, ListArgs, Listing, ROLES, delete, get, ids, list, plural, role_id,
    save, set_if_given, user_id,
};

#[derive(Subcommand)]
pub enum GroupsCommand {
    /// List the groups.
    List {
        /// Only the groups with exactly this name.
        #[arg(long)]
        name: Option<String>,
        /// Only groups whose name contains this text.
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a group (by id or name).
    Get {
        group: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a group (under --parent when given).
    Create {
        #[command(flatten)]
        fields: GroupFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Rename, describe or move a group.
    Update {
        /// The group's id or name.
        group: String,
        #[command(flatten)]
        fields: GroupFields,
        /// Move the group to the top of the tree.
        #[arg(long, conflicts_with = "parent")]
        top: bool,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Delete a group and its subgroups.
    Delete {
        /// The group's id or name.
        group: String,
    },
    /// A group's members.
    #[command(subcommand)]
    Members(GroupMembersCommand),
    /// A group's roles.
    #[command(subcommand)]
    Roles(GroupRolesCommand),
}

/// The properties of a group.
#[derive(Args)]
pub struct GroupFields {
    /// The group's name (required on create; unique among its siblings, without `/`).
    #[arg(long)]
    name: Option<String>,
    /// What the group is for.
    #[arg(long)]
    description: Option<String>,
    /// The parent group (id or name).
    #[arg(long)]
    parent: Option<String>,
}

#[derive(Subcommand)]
pub enum GroupMembersCommand {
    /// List a group's direct members.
    List {
        group: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Add users (ids or emails) to a group.
    Add {
        group: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Remove users (ids or emails) from a group.
    Remove {
        group: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum GroupRolesCommand {
    /// List the roles assigned to a group.
    List {
        group: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Assign roles (ids or names) to a group: its members and those of its subgroups get them.
    Add {
        group: String,
        #[arg(required = true)]
        roles: Vec<String>,
    },
    /// Remove roles (ids or names) from a group.
    Remove {
        group: String,
        #[arg(required = true)]
        roles: Vec<String>,
    },
}

/// A group list.
const GROUPS: Listing = Listing {
    key: "groups",
    columns: &[
        ("ID", "id"),
        ("NAME", "name"),
        ("PARENT", "parent_id"),
        ("DESCRIPTION", "description"),
    ],
};

/// A group's members.
const MEMBERS: Listing = Listing {
    key: "members",
    columns: &[("USER ID", "user_id"), ("EMAIL", "email"), ("NAME", "name")],
};

/// The fields given, with the parent already resolved to an id.
struct Resolved {
    name: Option<String>,
    description: Option<String>,
    /// `Some(None)`: to the top.
    parent: Option<Option<String>>,
}

impl Fields for Resolved {
    fn apply(self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        set_if_given(body, "name", self.name);
        set_if_given(body, "description", self.description);
        if let Some(parent) = self.parent {
            body.insert("parent_id".into(), json!(parent));
        }
        Ok(())
    }
}

/// A group id, from an id (`grp_…`) or a name only one group has.
async fn group_id(api: &mut Api, group: &str) -> Result<String, CliError> {
    if group.starts_with("grp_") {
        return Ok(group.to_owned());
    }
    let query = [("name", group.to_owned()), ("per_page", "100".into())];
    let found: GroupList = api.get_as(&["groups"], &query).await?;
    match &found.into_items()[..] {
        [g] => Ok(g.id.clone()),
        [] => Err(CliError::Failed(format!("no group is named {group:?}"))),
        _ => Err(CliError::Failed(format!(
            "several groups are named {group:?}: give the group id"
        ))),
    }
}

/// The fields, the parent named by id.
async fn resolve(api: &mut Api, f: GroupFields, top: bool) -> Result<Resolved, CliError> {
    let parent = match (f.parent, top) {
        (_, true) => Some(None),
        (Some(p), false) => Some(Some(group_id(api, &p).await?)),
        (None, false) => None,
    };
    Ok(Resolved {
        name: f.name,
        description: f.description,
        parent,
    })
}

/// Runs one `writ groups …` command.
pub async fn run(cmd: GroupsCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        GroupsCommand::List {
            name,
            search,
            list: args,
        } => {
            let query = [("name", name), ("search", search)]
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            list(&mut api, &["groups"], query, &args, &GROUPS).await
        }
        GroupsCommand::Get { group, json } => {
            let id = group_id(&mut api, &group).await?;
            get(&mut api, &["groups", &id], json).await
        }
        GroupsCommand::Create { fields, body } => {
            let fields = resolve(&mut api, fields, false).await?;
            save(&mut api, "groups", None, fields, &body).await
        }
        GroupsCommand::Update {
            group,
            fields,
            top,
            body,
        } => {
            let id = group_id(&mut api, &group).await?;
            let fields = resolve(&mut api, fields, top).await?;
            save(&mut api, "groups", Some(&id), fields, &body).await
        }
        GroupsCommand::Delete { group } => {
            let id = group_id(&mut api, &group).await?;
            let what = format!("the group {group} and its subgroups");
            delete(&mut api, &["groups", &id], &what).await
        }
        GroupsCommand::Members(GroupMembersCommand::List { group, list: args }) => {
            let id = group_id(&mut api, &group).await?;
            let path = ["groups", &id, "members"];
            list(&mut api, &path, vec![], &args, &MEMBERS).await
        }
        GroupsCommand::Roles(GroupRolesCommand::List { group, list: args }) => {
            let id = group_id(&mut api, &group).await?;
            list(&mut api, &["groups", &id, "roles"], vec![], &args, &ROLES).await
        }
        GroupsCommand::Members(GroupMembersCommand::Add { group, users }) => {
            relate(&mut api, &group, &users, Relation::Members, Change::Add).await
        }
        GroupsCommand::Members(GroupMembersCommand::Remove { group, users }) => {
            relate(&mut api, &group, &users, Relation::Members, Change::Remove).await
        }
        GroupsCommand::Roles(GroupRolesCommand::Add { group, roles }) => {
            relate(&mut api, &group, &roles, Relation::Roles, Change::Add).await
        }
        GroupsCommand::Roles(GroupRolesCommand::Remove { group, roles }) => {
            relate(&mut api, &group, &roles, Relation::Roles, Change::Remove).await
        }
    }
}

/// What a group holds: members (users, by id or email) or roles (by id or name).
#[derive(Clone, Copy)]
enum Relation {
    Members,
    Roles,
}

/// Adds `names` to a group's members or roles, or removes them, and says so.
async fn relate(
    api: &mut Api,
    group: &str,
    names: &[String],
    relation: Relation,
    change: Change,
) -> Result<(), CliError> {
    let (path, what, body) = match relation {
        Relation::Members => {
            let members = ids(api, names, user_id).await?;
            let what = plural(members.len(), "member");
            ("members", what, json!(GroupMembersRequest { members }))
        }
        Relation::Roles => {
            let roles = ids(api, names, role_id).await?;
            let what = plural(roles.len(), "role");
            ("roles", what, json!(GroupRolesRequest { roles }))
        }
    };
    let id = group_id(api, group).await?;
    change.send(api, &["groups", &id, path], body).await?;
    match change {
        Change::Add => println!("Added {what} to the group {group}."),
        Change::Remove => println!("Removed {what} from the group {group}."),
    }
    Ok(())
}
