//! Modes do not depend on the umask. The umask is per process, so this check lives alone in
//! its own test binary where it cannot disturb other tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cv_store::{DB_FILE, NewPost, PostFilter, Store};
use rustix::fs::Mode;
use tempfile::TempDir;

/// The permission bits in octal, as `ls -l` users read them in a failure message.
fn mode(path: &Path) -> String {
    format!(
        "{:04o}",
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    )
}

#[test]
fn a_hostile_umask_still_yields_a_writable_0700_dir_and_0600_files() {
    let root = TempDir::new().unwrap();
    let data = root.path().join("data");
    // 0277 strips the owner's write bit: trusting creation modes would give 0500 and 0400.
    let previous = rustix::process::umask(Mode::from_raw_mode(0o277));
    let result = (|| {
        let store = Store::open(&data)?;
        store.create(NewPost {
            slug: "umask".into(),
            title: "t".into(),
            body: "b".into(),
            tags: vec![],
            published: true,
            featured: false,
        })?;
        Ok::<_, cv_store::StoreError>(store)
    })();
    rustix::process::umask(previous);
    let store = result.unwrap();

    assert_eq!(mode(&data), "0700");
    for name in [DB_FILE, "cv.sqlite3-wal", "cv.sqlite3-shm"] {
        assert_eq!(mode(&data.join(name)), "0600", "{name}");
    }
    store.close().unwrap();
    let reopened = Store::open(&data).unwrap();
    assert_eq!(reopened.list(&PostFilter::default()).unwrap().len(), 1);
}
