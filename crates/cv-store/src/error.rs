//! The one error type of the store, shaped so the web layer can map each variant to a status
//! code without parsing messages, and so the CLI can print any of them as a single line.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// One input field breaks its rule; `field` is the JSON name of the field at fault
    /// (`slug`, `title`, `body` or `tags`).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },

    /// A post with this slug already exists. Raised by the UNIQUE constraint inside the
    /// writing transaction, so two racing creates cannot both succeed.
    #[error("a post with slug {slug:?} already exists")]
    Conflict { slug: String },

    /// The data directory (or the database file in it) cannot be created or written by the
    /// user the process runs as. The message is meant for the operator of a container.
    #[error(
        "data directory {path} is not usable by uid {uid}: {reason}; mount a volume writable by \
         uid {uid} or set CV_DATA_DIR to a writable directory",
        path = path.display()
    )]
    DataDir {
        path: PathBuf,
        uid: u32,
        reason: String,
    },

    /// The database's schema version (`PRAGMA user_version`) is not one this binary knows,
    /// normally because a newer cv migrated it; opening it anyway could corrupt data the older
    /// code does not understand, so the store refuses.
    #[error(
        "database {path} has schema version {found}, which this cv does not know (it knows 0 to \
         {supported}); run the newer cv that wrote it or point CV_DATA_DIR at another directory",
        path = path.display()
    )]
    UnsupportedSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// The database file is not a SQLite database, or SQLite found it damaged. The store does
    /// not try to repair or replace it: it may hold the only copy of the posts.
    #[error(
        "database {path} is not a SQLite database or is corrupt; move it aside (or restore it \
         from a backup) and start again, and cv creates a new, empty one",
        path = path.display()
    )]
    Corrupt { path: PathBuf },

    /// Any other SQLite failure (disk full, corrupt file, I/O error).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
