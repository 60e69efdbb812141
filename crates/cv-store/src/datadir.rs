//! Preparing the data directory and the database file before SQLite sees them.
//!
//! Modes are set explicitly with chmod after creation rather than trusted to the `mode`
//! argument, because the process umask can only remove bits, and an unusual umask (0277) would
//! otherwise leave a database we cannot write. SQLite creates the `-wal` and `-shm` files with
//! the mode of the database file itself (its unix VFS copies it), so creating `cv.sqlite3` as
//! 0600 keeps those two private as well; a test checks it.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, StoreError};

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "cv.sqlite3";

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// The effective uid, named in data-directory errors because it is what a volume's owner must
/// match.
pub(crate) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

pub(crate) fn data_dir_error(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::DataDir {
        path: path.to_owned(),
        uid: effective_uid(),
        reason: reason.into(),
    }
}

/// Makes sure `data_dir` exists and is writable and that the database file exists with mode
/// 0600; returns the database path. An existing directory or file keeps its mode: it may be a
/// volume whose owner chose it.
pub(crate) fn prepare(data_dir: &Path) -> Result<PathBuf> {
    let fail = |reason: String| data_dir_error(data_dir, reason);
    // An empty CV_DATA_DIR would otherwise fail later with a confusing "No such file".
    if data_dir.as_os_str().is_empty() {
        return Err(fail("the path is empty".into()));
    }
    match fs::metadata(data_dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(fail("it exists and is not a directory".into())),
        // A symbolic link whose target is missing: creating the directory would fail with
        // "File exists", which sends the operator looking for a file that is not there.
        Err(_) if fs::symlink_metadata(data_dir).is_ok_and(|meta| meta.is_symlink()) => {
            let target = fs::read_link(data_dir)
                .map(|target| target.display().to_string())
                .unwrap_or_else(|_| "?".into());
            return Err(fail(format!(
                "it is a dangling symbolic link (to {target}, which does not exist or cannot \
                 be reached)"
            )));
        }
        // Any other lookup failure (missing, a parent that is a file, no search permission)
        // is reported by the attempt to create it, which names the real cause.
        Err(_) => {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(data_dir)
                .map_err(|e| fail(format!("cannot create it: {e}")))?;
            fs::set_permissions(data_dir, Permissions::from_mode(DIR_MODE))
                .map_err(|e| fail(format!("cannot set its mode to 0700: {e}")))?;
        }
    }
    probe_writable(data_dir).map_err(|e| fail(format!("cannot create files in it: {e}")))?;

    let db_path = data_dir.join(DB_FILE);
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&db_path);
    match created {
        Ok(_) => fs::set_permissions(&db_path, Permissions::from_mode(FILE_MODE))
            .map_err(|e| fail(format!("cannot set the mode of {DB_FILE} to 0600: {e}")))?,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&db_path)
                .map_err(|e| fail(format!("cannot open {DB_FILE} for writing: {e}")))?;
        }
        Err(e) => return Err(fail(format!("cannot create {DB_FILE}: {e}"))),
    }
    Ok(db_path)
}

/// SQLite must create `-wal` and `-shm` files beside the database, so a writable database file
/// in a read-only directory is still unusable; creating and removing a file is the only
/// check that sees every cause (mode, ownership, read-only mount, ACLs, full inode table).
/// The probe's name is unique per call, not only per process: two threads opening stores in
/// one directory at once would otherwise remove each other's probe and fail with "not found".
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let probe = dir.join(format!(
        ".cv-write-probe-{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, Ordering::Relaxed)
    ));
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&probe)?;
    fs::remove_file(&probe)
}
