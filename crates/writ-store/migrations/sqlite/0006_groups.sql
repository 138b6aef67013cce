-- Groups (Keycloak-style): a tree through `parent_id`, whose members inherit the group's roles
-- and those of every ancestor. Cycles are refused by the store inside the write transaction
-- (see src/sql/groups.rs); deleting a group deletes its subtree (the cascade on `parent_id`),
-- its memberships and role assignments. The parent reference is checked at commit (deferred),
-- so a dump restores groups in id order whatever the tree's shape; the cascade itself is not
-- deferred.
CREATE TABLE groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    parent_id   TEXT REFERENCES groups(id) ON DELETE CASCADE
                DEFERRABLE INITIALLY DEFERRED,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- Names are unique among siblings, so a path (`/eng/backend`) names one group.
CREATE UNIQUE INDEX groups_by_parent_name ON groups(COALESCE(parent_id, ''), name);
-- Children of a group (subtree walks, the cascade).
CREATE INDEX groups_by_parent ON groups(parent_id);
CREATE INDEX groups_by_name ON groups(name, id);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
-- A user's groups (effective permissions start here).
CREATE INDEX group_members_by_user ON group_members(user_id, group_id);

CREATE TABLE group_roles (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    role_id  TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, role_id)
);
-- The groups holding a role (a role's holders through groups).
CREATE INDEX group_roles_by_role ON group_roles(role_id, group_id);
