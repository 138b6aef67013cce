-- Todos, each owned by one subject (the access token's `sub`).
CREATE TABLE todos (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner      TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX todos_by_owner ON todos (owner, id);
