//! What differs between SQLite and PostgreSQL, one file per database, and nothing else.
//!
//! The store's statements and logic are written once, in `src/sql/`. Each dialect file declares
//! its store type and includes that module as its child (`#[path = "../sql/mod.rs"] mod sql;`),
//! so the one source is compiled twice, each time against concrete sqlx types (`Sqlite` or
//! `Postgres`) and the dialect items below, which the child reaches as `super::…`. This is
//! what a `macro_rules!` stamping the code for both databases would do, with the shared code
//! still formatted and linted as ordinary Rust, and none of the higher-ranked `Executor`,
//! `Encode` and `Decode` bounds a store generic over `sqlx::Database` would need on every
//! function.
//!
//! Every dialect defines these items (private: only its `sql` child uses them):
//!
//! | item | SQLite | PostgreSQL |
//! |---|---|---|
//! | `DB`, `Store` | `Sqlite`, [`SqliteStore`](sqlite::SqliteStore) | `Postgres`, [`PgStore`](postgres::PgStore) |
//! | `begin_write` | `BEGIN IMMEDIATE`: writers queue on the database lock | `BEGIN` (read committed): statements lock the rows they depend on |
//! | `WriterTurn`, `writer_turn` (held by every `write()` transaction until it ends) | the store's own async mutex, taken before `BEGIN IMMEDIATE`: the process's writers hand the database lock on in order instead of polling it in the busy handler's sleeps | `()`: nothing to wait for |
//! | `write_pool` (where a lone write statement runs, in the writer's turn: `Store::write_one`) | the writing connection | the pool |
//! | `begin_authz_write` | `BEGIN IMMEDIATE` | `BEGIN`, then the `authz_log_head` row lock |
//! | `bump_and_log` (each subject's version becomes its event's `seq`) | an `INSERT … SELECT` of the events numbered after the head, then an `UPDATE … FROM` the rows those events name; under the single writer | one statement over a materialized numbering: `UPDATE … FROM`, `INSERT` numbered from the head row (gapless), head moved; the transaction's `work_mem` raised so a large fan-out does not spill |
//! | `id_list` | `json_each` of a bound JSON array | `json_array_elements_text` of it |
//! | `FOR_UPDATE`, `FOR_KEY_SHARE` | empty: the writer lock already serializes | the row lock clauses |
//! | `LIKE` | `LIKE` (case-insensitive for ASCII) | `ILIKE` |
//! | `STRING_AGG` | `group_concat` | `string_agg` |
//! | `rotation_queue` (the store's refresh-token rotations waiting for their batch: the same on both, see `sql::login`) | the `rotations` field | the `rotations` field (one queue per node) |
//! | `limit_lock_waits` (a rotation batch gives way rather than wait on a lock, so it cannot deadlock with another multi-row writer) | nothing: no row locks | `SET LOCAL lock_timeout` of 100 ms |
//! | `lock_key_rotation` | nothing (single writer) | a transaction-scoped advisory lock |
//! | `wakeups` | `None`: followers poll | a `LISTEN writ_authz, writ_catalog` task |
//! | `wakeups_connected` | `None` | whether that task's connection is up |
//! | `check_file` (readiness) | the file at the path is still the one opened | nothing |
//! | `BACKEND` | [`Backend::Sqlite`](crate::Backend) | [`Backend::Postgres`](crate::Backend) |
//!
//! The rest is common SQL: `$N` placeholders (sqlx binds them on SQLite too), `ON CONFLICT`,
//! `RETURNING`, `TRUE`/`FALSE` and `NOT col` (SQLite reads its 0/1 integer columns as booleans).
//! Opening a store (pool options, pragmas) is per database too, as are the migrations
//! themselves (`migrations/sqlite`, `migrations/postgres`, run by `crate::migrate`).

pub mod postgres;
pub mod sqlite;
