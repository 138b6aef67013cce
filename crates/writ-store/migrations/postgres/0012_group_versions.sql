-- writ-migration: breaking
-- (Versions change meaning: a node that counts them, or reads a user's own only, must not run
-- beside one that takes them from the log; stop older nodes before this one starts.)
--
-- Freshness at the scale of groups. An authz version is now the `seq` of the event that set it
-- (so versions from different rows compare), and a group carries one too: a change to what a
-- group's subtree grants (a role added or removed, the group moved or renamed, a permission of
-- one of its roles) raises the version of every group in that subtree, not of every member. A
-- user's effective version is the newest of their own and their groups' (see src/sql/rbac.rs),
-- so the write is O(groups in the subtree) whatever the number of members. Leaving a group
-- (removed, or the group deleted) raises the user's own version, so no user's version drops.
ALTER TABLE groups ADD COLUMN authz_version BIGINT NOT NULL DEFAULT 0;

-- An event with `members_of` set stands for every direct member of that group (its `user_id`
-- holds the group id); the feed expands it to one event per member when it is read.
ALTER TABLE authz_events ADD COLUMN members_of TEXT COLLATE "C";

-- Versions were counters (1 at creation, +1 per change); from now on a row starts at 0 and a
-- change sets the `seq` of its event, so every version stays at most the log's head and the
-- next change is above all of them. Move the head past every counter with one record that
-- tells no one (a group record for no group, `members_of` = ''); a new database needs none.
WITH v AS (
    SELECT GREATEST(COALESCE((SELECT MAX(authz_version) FROM users), 0),
                    COALESCE((SELECT MAX(authz_version) FROM clients), 0)) AS v),
appended AS (
    INSERT INTO authz_events (seq, user_id, version, kind, at, members_of)
    SELECT v.v, '', v.v, 'versions_follow_seq',
           to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), ''
    FROM v CROSS JOIN authz_log_head h
    WHERE h.id = 1 AND v.v > h.seq)
UPDATE authz_log_head SET seq = GREATEST(seq, (SELECT v FROM v)) WHERE id = 1;
