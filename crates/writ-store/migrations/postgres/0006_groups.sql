-- Groups (Keycloak-style): a tree through `parent_id`, whose members inherit the group's roles
-- and those of every ancestor. Cycles are refused by the store inside the write transaction
-- (see src/sql/groups.rs); deleting a group deletes its subtree (the cascade on `parent_id`),
-- its memberships and role assignments. The parent reference is checked at commit (deferred),
-- so a dump restores groups in id order whatever the tree's shape; the cascade itself is not
-- deferred.
CREATE TABLE groups (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL DEFAULT '',
    parent_id   TEXT COLLATE "C" REFERENCES groups(id) ON DELETE CASCADE
                DEFERRABLE INITIALLY DEFERRED,
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL
);
-- Names are unique among siblings, so a path (`/eng/backend`) names one group.
CREATE UNIQUE INDEX groups_by_parent_name ON groups(COALESCE(parent_id, ''), name);
-- Children of a group (subtree walks, the cascade).
CREATE INDEX groups_by_parent ON groups(parent_id);
CREATE INDEX groups_by_name ON groups(name, id);

CREATE TABLE group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
-- A user's groups (effective permissions start here).
CREATE INDEX group_members_by_user ON group_members(user_id, group_id);

CREATE TABLE group_roles (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    role_id  TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, role_id)
);
-- The groups holding a role (a role's holders through groups).
CREATE INDEX group_roles_by_role ON group_roles(role_id, group_id);

-- A group write bumps the authz version of every member of a subtree (100,000 users and more)
-- in one statement. `authz_version` is in no index, so each bump can be a heap-only update
-- that rewrites no index entry, if the user's page has room for the new row version: leave
-- half of each page free. This applies to pages written from now on (VACUUM FULL users, or
-- an import into a new database, applies it to all).
ALTER TABLE users SET (fillfactor = 50);
