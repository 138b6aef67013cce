-- writ-migration: additive
-- (A nullable column and an index. An older node beside this one sees a group being deleted,
-- for the second or two until its members are swept, as a top-level group without roles named
-- '/<its id>', and deletes groups its own way, which stays correct.)
--
-- Deleting a group costs O(groups), not O(members). The delete itself marks the subtree's
-- groups deleted (`deleted_at`), renames them out of the way ('/' || id: no group name holds a
-- '/'), detaches the subtree from its parent, drops its roles and raises every subtree group's
-- version with one record each, so every member's effective version rises at once and guards
-- learn it from the feed (a record is read as the group's members, who are still there). From
-- then on no read shows a deleted group (src/sql/groups.rs, src/sql/membership.rs). The members
-- leave afterwards, in batches, each raised by their own version as they go (so none falls
-- back below the group's), and the rows go once the last member has left: see
-- `GroupStore::sweep_deleted_groups`.
ALTER TABLE groups ADD COLUMN deleted_at TEXT;
-- The sweep finds the groups being deleted without reading the others.
CREATE INDEX groups_deleted ON groups(deleted_at) WHERE deleted_at IS NOT NULL;
