//! Versioned schema migrations: a numbered list of SQL scripts, the version kept in
//! `PRAGMA user_version`.
//!
//! All pending scripts and the new version number are applied in one IMMEDIATE transaction
//! (SQLite's DDL and the header's user_version are both transactional), so a crash mid-way
//! leaves the old schema, and two processes opening a fresh database at once serialise on the
//! write lock instead of both migrating. Scripts are append-only: a released one is never
//! edited, a change is a new script.
//!
//! Schema design: tags live in their own table joined through `post_tags` rather than in a
//! JSON column, so `?tag=` filtering and per-tag counts are index lookups and each tag name is
//! stored once. Tables are STRICT so a type mistake in the code fails loudly instead of
//! storing text in an integer column. Timestamps are RFC 3339 text, which sorts
//! chronologically as text because the format is fixed-width UTC.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// The migration scripts; script `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: posts, tags, and the join between them.
    "CREATE TABLE posts (
        id          INTEGER PRIMARY KEY,
        slug        TEXT    NOT NULL UNIQUE,
        title       TEXT    NOT NULL,
        body        TEXT    NOT NULL,
        body_html   TEXT    NOT NULL,
        published   INTEGER NOT NULL CHECK (published IN (0, 1)),
        featured    INTEGER NOT NULL CHECK (featured IN (0, 1)),
        created_at  TEXT    NOT NULL,
        updated_at  TEXT    NOT NULL
    ) STRICT;
    CREATE INDEX posts_newest_first ON posts (created_at DESC, id DESC);
    CREATE TABLE tags (
        id   INTEGER PRIMARY KEY,
        name TEXT    NOT NULL UNIQUE
    ) STRICT;
    CREATE TABLE post_tags (
        post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
        tag_id  INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (post_id, tag_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX post_tags_by_tag ON post_tags (tag_id, post_id);",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], or refuses one it does not know.
pub(crate) fn migrate(conn: &mut Connection, db_path: &Path) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let Some(applied) = usize::try_from(found)
        .ok()
        .filter(|&applied| applied <= MIGRATIONS.len())
    else {
        return Err(StoreError::UnsupportedSchema {
            path: db_path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    };
    if applied == MIGRATIONS.len() {
        return Ok(());
    }
    for script in &MIGRATIONS[applied..] {
        tx.execute_batch(script)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}
