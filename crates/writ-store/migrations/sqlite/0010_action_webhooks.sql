-- An action may be a signed webhook instead of code: `url` is the draft target, `deployed_url`
-- the one that runs (set by a deploy, like `deployed_code`); both NULL for a code action.
-- `revision` counts the writes to the row: an update is conditional on the revision it read,
-- so two concurrent read-modify-writes cannot lose one (the loser reads again and retries).
ALTER TABLE actions ADD COLUMN url TEXT;
ALTER TABLE actions ADD COLUMN deployed_url TEXT;
ALTER TABLE actions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
