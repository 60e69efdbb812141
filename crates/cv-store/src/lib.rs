//! The blog's persistence: posts and tags in one SQLite file (`cv.sqlite3`) in the data
//! directory.
//!
//! One connection behind a mutex serves the whole process. SQLite serialises writers anyway,
//! and a blog's reads take well under a millisecond, so a pool would add moving parts without
//! adding throughput; callers in async code run store calls in `spawn_blocking`. Every write is
//! one IMMEDIATE transaction that validates first and commits last, so an error at any point
//! leaves the database as it was.

mod datadir;
mod error;
mod markdown;
mod migrations;
mod model;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior};

pub use datadir::DB_FILE;
pub use error::{Result, StoreError};
pub use markdown::render_markdown;
pub use migrations::SCHEMA_VERSION;
pub use model::{NewPost, Post, PostFilter, PostUpdate, TagCount};
pub use validate::{
    MAX_BODY_BYTES, MAX_SLUG_CHARS, MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS, normalize_tag,
    normalize_tags, validate_body, validate_slug, validate_title,
};

/// How long a write waits for another process's write lock before failing with "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The current time as stored: RFC 3339 UTC with milliseconds, e.g. `2025-01-31T09:15:02.123Z`.
/// SQLite evaluates `'now'` once per statement, so two uses in one statement agree.
macro_rules! now_sql {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}

/// The columns of a [`Post`] in the order [`post_from_row`] reads them; tags come as one
/// comma-joined string (tags cannot contain commas).
macro_rules! select_post {
    () => {
        "SELECT p.slug, p.title, p.body, p.body_html, p.published, p.featured, p.created_at,
                p.updated_at,
                (SELECT group_concat(t.name, ',') FROM post_tags pt JOIN tags t ON t.id = pt.tag_id
                  WHERE pt.post_id = p.id)
           FROM posts p"
    };
}

/// A handle on the database; cheap to clone, shareable between threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    db_path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("db_path", &self.inner.db_path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) `data_dir/cv.sqlite3` and migrates it. A missing directory is
    /// created with mode 0700 and a new database file with mode 0600.
    pub fn open(data_dir: &Path) -> Result<Store> {
        let db_path = datadir::prepare(data_dir)?;
        let conn = Self::connect(data_dir, &db_path).map_err(|err| match err {
            // SQLite reads the file's header at the first statement; "not a database" or
            // "malformed" there means the file, not the code, is at fault.
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
                if matches!(
                    failure.code,
                    rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
                ) =>
            {
                StoreError::Corrupt {
                    path: db_path.clone(),
                }
            }
            other => other,
        })?;
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                db_path,
            }),
        })
    }

    /// Opens the prepared database file, sets the connection up and migrates it.
    fn connect(data_dir: &Path, db_path: &Path) -> Result<Connection> {
        // No CREATE flag: the file was just created with the right mode, and SQLite must not
        // re-create it with umask-dependent permissions should it vanish in between.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(db_path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(datadir::data_dir_error(
                data_dir,
                format!("its filesystem does not support SQLite's WAL mode (got {mode:?})"),
            ));
        }
        // In WAL mode synchronous=NORMAL already survives kill -9 of the process (the
        // committed WAL frames are in the OS page cache), but a host crash or power cut could
        // still drop the last commits. FULL fsyncs the WAL at every commit, so a write the API
        // acknowledged survives those too; one fsync per blog write is a cost nobody notices.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrations::migrate(&mut conn, db_path)?;
        Ok(conn)
    }

    /// The path of the database file.
    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    /// Stores a new post. Fails with [`StoreError::Invalid`] when a field breaks its rule and
    /// [`StoreError::Conflict`] when the slug is taken.
    pub fn create(&self, new: NewPost) -> Result<Post> {
        validate_slug(&new.slug)?;
        let title = validate_title(&new.title)?;
        validate_body(&new.body)?;
        let tags = normalize_tags(&new.tags)?;
        let body_html = render_markdown(&new.body);

        self.write(|tx| {
            let id: i64 = tx
                .query_row(
                    concat!(
                        "INSERT INTO posts (slug, title, body, body_html, published, featured,
                                            created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ",
                        now_sql!(),
                        ", ",
                        now_sql!(),
                        ") RETURNING id"
                    ),
                    (
                        &new.slug,
                        &title,
                        &new.body,
                        &body_html,
                        new.published,
                        new.featured,
                    ),
                    |row| row.get(0),
                )
                .map_err(|e| conflict_or_sqlite(e, &new.slug))?;
            set_tags(tx, id, &tags)?;
            read_post(tx, id)
        })
    }

    /// The post with this slug, if any.
    pub fn get(&self, slug: &str) -> Result<Option<Post>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(concat!(select_post!(), " WHERE p.slug = ?1"))?;
        Ok(stmt.query_row([slug], post_from_row).optional()?)
    }

    /// Replaces everything but the slug and `created_at` of an existing post; `None` when no
    /// post has this slug. `updated_at` becomes the current time, and is always later than
    /// before even when two replaces fall in the same millisecond.
    pub fn replace(&self, slug: &str, update: PostUpdate) -> Result<Option<Post>> {
        let title = validate_title(&update.title)?;
        validate_body(&update.body)?;
        let tags = normalize_tags(&update.tags)?;
        let body_html = render_markdown(&update.body);

        self.write_optional(|tx| {
            let id: Option<i64> = tx
                .query_row(
                    concat!(
                        "UPDATE posts
                            SET title = ?2, body = ?3, body_html = ?4, published = ?5,
                                featured = ?6,
                                updated_at = max(",
                        now_sql!(),
                        ", strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+0.001 seconds'))
                          WHERE slug = ?1
                      RETURNING id"
                    ),
                    (
                        slug,
                        &title,
                        &update.body,
                        &body_html,
                        update.published,
                        update.featured,
                    ),
                    |row| row.get(0),
                )
                .optional()?;
            let Some(id) = id else {
                return Ok(None);
            };
            set_tags(tx, id, &tags)?;
            delete_orphan_tags(tx)?;
            read_post(tx, id).map(Some)
        })
    }

    /// Deletes the post with this slug; `false` when there was none.
    pub fn delete(&self, slug: &str) -> Result<bool> {
        self.write(|tx| {
            let deleted = tx.execute("DELETE FROM posts WHERE slug = ?1", [slug])?;
            if deleted > 0 {
                delete_orphan_tags(tx)?;
            }
            Ok(deleted > 0)
        })
    }

    /// The posts matching every condition of `filter`, newest first.
    pub fn list(&self, filter: &PostFilter) -> Result<Vec<Post>> {
        let tag = filter.tag.as_deref().map(normalize_tag);
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(concat!(
            select_post!(),
            " WHERE (?1 IS NULL OR EXISTS (
                       SELECT 1 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id
                        WHERE pt.post_id = p.id AND t.name = ?1))
                AND (?2 IS NULL OR p.published = ?2)
                AND (?3 IS NULL OR p.featured = ?3)
              ORDER BY p.created_at DESC, p.id DESC"
        ))?;
        let posts = stmt
            .query_map((tag, filter.published, filter.featured), post_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(posts)
    }

    /// Every tag in use with the number of posts carrying it, most used first, then by name.
    /// With `published_only`, drafts are not counted and tags used only by drafts are absent.
    pub fn tags(&self, published_only: bool) -> Result<Vec<TagCount>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT t.name, count(*) AS n
               FROM tags t
               JOIN post_tags pt ON pt.tag_id = t.id
               JOIN posts p ON p.id = pt.post_id
              WHERE (?1 = 0 OR p.published = 1)
              GROUP BY t.id
              ORDER BY n DESC, t.name ASC",
        )?;
        let counts = stmt
            .query_map([published_only], |row| {
                Ok(TagCount {
                    tag: row.get(0)?,
                    // rusqlite reads no u64 (SQLite integers are i64); count(*) is never
                    // negative, so this conversion is exact.
                    count: row.get::<_, i64>(1)?.unsigned_abs(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(counts)
    }

    /// Readiness: succeeds when the database answers a query on the posts table.
    pub fn check(&self) -> Result<()> {
        let conn = self.lock();
        conn.query_row("SELECT EXISTS (SELECT 1 FROM posts)", [], |row| {
            row.get::<_, bool>(0)
        })?;
        Ok(())
    }

    /// Closes this handle. The last handle also checkpoints the WAL into the database file and
    /// truncates it, so a stopped server leaves one self-contained file behind (handy for
    /// backups and for copying a volume). Other handles stay usable.
    pub fn close(self) -> Result<()> {
        let Ok(inner) = Arc::try_unwrap(self.inner) else {
            return Ok(());
        };
        let conn = inner
            .conn
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        conn.close().map_err(|(_, e)| StoreError::from(e))
    }

    /// The connection. A panic while it was held cannot leave it mid-transaction (rusqlite
    /// rolls back a dropped transaction), so a poisoned lock is safe to take over.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` in one IMMEDIATE transaction, committed only if it returns `Ok`.
    /// IMMEDIATE takes the write lock up front, so waiting for another process happens in
    /// `busy_timeout` instead of failing when a read transaction tries to upgrade.
    fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Like [`Store::write`], but a `None` result rolls back: nothing matched, nothing changes.
    fn write_optional<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        match work(&tx)? {
            Some(value) => {
                tx.commit()?;
                Ok(Some(value))
            }
            None => Ok(None),
        }
    }
}

/// Maps the slug's UNIQUE violation to [`StoreError::Conflict`]; the constraint, checked inside
/// the transaction, is the only race-free test for a taken slug.
fn conflict_or_sqlite(err: rusqlite::Error, slug: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &err
        && failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    {
        return StoreError::Conflict {
            slug: slug.to_owned(),
        };
    }
    err.into()
}

/// Makes `tags` (already normalised) exactly the tags of post `id`.
fn set_tags(tx: &Transaction<'_>, id: i64, tags: &[String]) -> Result<()> {
    tx.execute("DELETE FROM post_tags WHERE post_id = ?1", [id])?;
    let mut add_tag =
        tx.prepare_cached("INSERT INTO tags (name) VALUES (?1) ON CONFLICT DO NOTHING")?;
    let mut link = tx.prepare_cached(
        "INSERT INTO post_tags (post_id, tag_id) SELECT ?1, id FROM tags WHERE name = ?2",
    )?;
    for tag in tags {
        add_tag.execute([tag])?;
        link.execute((id, tag))?;
    }
    Ok(())
}

/// Tags nobody uses any more would otherwise accumulate forever.
fn delete_orphan_tags(tx: &Transaction<'_>) -> Result<()> {
    tx.execute(
        "DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM post_tags WHERE tag_id = tags.id)",
        [],
    )?;
    Ok(())
}

fn read_post(tx: &Transaction<'_>, id: i64) -> Result<Post> {
    let mut stmt = tx.prepare_cached(concat!(select_post!(), " WHERE p.id = ?1"))?;
    Ok(stmt.query_row([id], post_from_row)?)
}

fn post_from_row(row: &Row<'_>) -> rusqlite::Result<Post> {
    let tags: Option<String> = row.get(8)?;
    let mut tags: Vec<String> = tags
        .map(|joined| joined.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    tags.sort();
    Ok(Post {
        slug: row.get(0)?,
        title: row.get(1)?,
        body: row.get(2)?,
        body_html: row.get(3)?,
        published: row.get(4)?,
        featured: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-connection settings are invisible from another connection, so they are read here
    /// through the store's own.
    #[test]
    fn the_connection_is_configured_for_durability() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.lock();
        let pragma = |name: &str| -> String {
            let value: rusqlite::types::Value = conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap();
            match value {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => panic!("PRAGMA {name} gave {other:?}"),
            }
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("synchronous"), "2", "2 is FULL");
        assert_eq!(pragma("foreign_keys"), "1");
        assert_eq!(pragma("user_version"), SCHEMA_VERSION.to_string());
        assert_eq!(pragma("busy_timeout"), "5000");
    }
}
