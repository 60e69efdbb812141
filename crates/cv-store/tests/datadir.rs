//! The data directory: modes of what the store creates, and the one-line error an operator
//! sees when the directory is unusable.

use std::fs::{self, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use cv_store::{DB_FILE, NewPost, Store, StoreError};
use tempfile::TempDir;

/// The permission bits in octal, as `ls -l` users read them in a failure message.
fn mode(path: &Path) -> String {
    format!(
        "{:04o}",
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    )
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn post(slug: &str) -> NewPost {
    NewPost {
        slug: slug.into(),
        title: "t".into(),
        body: "b".into(),
        tags: vec!["x".into()],
        published: true,
        featured: false,
    }
}

#[test]
fn creates_missing_dirs_0700_and_database_files_0600() {
    let root = TempDir::new().unwrap();
    let data = root.path().join("a/b/data");
    let store = Store::open(&data).unwrap();
    store.create(post("one")).unwrap();

    assert_eq!(mode(&data), "0700");
    assert_eq!(store.db_path(), data.join(DB_FILE));
    assert_eq!(mode(&data.join(DB_FILE)), "0600");
    // SQLite creates these beside the database with its mode; neither may be world-readable.
    for suffix in ["-wal", "-shm"] {
        let path = data.join(format!("{DB_FILE}{suffix}"));
        assert_eq!(mode(&path), "0600", "{}", path.display());
    }
    // No probe file is left behind.
    let mut names: Vec<_> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["cv.sqlite3", "cv.sqlite3-shm", "cv.sqlite3-wal"]);
}

#[test]
fn an_existing_directory_keeps_the_mode_its_owner_chose() {
    let root = TempDir::new().unwrap();
    let data = root.path().join("volume");
    fs::create_dir(&data).unwrap();
    fs::set_permissions(&data, Permissions::from_mode(0o750)).unwrap();
    Store::open(&data).unwrap().close().unwrap();
    assert_eq!(mode(&data), "0750");
    assert_eq!(mode(&data.join(DB_FILE)), "0600");
}

/// The error must be one line naming the path, the uid and the two ways out.
fn assert_data_dir_error(err: &StoreError, expected_path: &Path, uid: u32, cause: &str) {
    let StoreError::DataDir {
        path,
        uid: got,
        reason,
    } = err
    else {
        panic!("expected DataDir, got {err:?}");
    };
    assert_eq!(path, expected_path);
    assert_eq!(*got, uid);
    assert!(
        reason.contains(cause),
        "reason {reason:?} should mention {cause:?}"
    );
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.starts_with(&format!("data directory {} ", expected_path.display())),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "mount a volume writable by uid {uid} or set CV_DATA_DIR to a writable directory"
        )),
        "{message}"
    );
}

#[test]
fn a_parent_that_is_a_file_is_a_data_dir_error() {
    let root = TempDir::new().unwrap();
    let file = root.path().join("file");
    fs::write(&file, "not a directory").unwrap();
    let data = file.join("data");
    let err = Store::open(&data).unwrap_err();
    assert_data_dir_error(&err, &data, euid(), "Not a directory");
}

#[test]
fn a_data_dir_that_is_a_file_is_a_data_dir_error() {
    let root = TempDir::new().unwrap();
    let data = root.path().join("data");
    fs::write(&data, "").unwrap();
    let err = Store::open(&data).unwrap_err();
    assert_data_dir_error(&err, &data, euid(), "not a directory");
}

#[test]
fn an_empty_path_is_a_data_dir_error() {
    let err = Store::open(Path::new("")).unwrap_err();
    assert_data_dir_error(&err, Path::new(""), euid(), "the path is empty");
}

#[test]
fn a_database_path_that_is_a_directory_is_a_data_dir_error() {
    let root = TempDir::new().unwrap();
    fs::create_dir(root.path().join(DB_FILE)).unwrap();
    let err = Store::open(root.path()).unwrap_err();
    assert_data_dir_error(&err, root.path(), euid(), "Is a directory");
}

#[test]
fn a_file_that_is_not_a_database_is_an_error_not_a_panic() {
    let root = TempDir::new().unwrap();
    fs::write(root.path().join(DB_FILE), vec![0x42; 8192]).unwrap();
    let err = Store::open(root.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("not a SQLite database"), "{err}");
}

const CHILD_ENV: &str = "CV_STORE_TEST_OPEN_AS_CHILD";

/// A directory the process may not write. Root ignores permission bits, so as root the check
/// runs this test binary again as uid 65534 (nobody) under a root-owned 0755 directory; as
/// any other user a 0500 directory is enough.
#[test]
fn an_unwritable_directory_names_the_effective_uid() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        // Child side: report the outcome on stdout for the parent to check.
        match Store::open(Path::new(&dir)) {
            Ok(_) => println!("OPENED"),
            Err(e) => println!("ERROR {e}"),
        }
        return;
    }

    let root = TempDir::new().unwrap();
    fs::set_permissions(root.path(), Permissions::from_mode(0o755)).unwrap();
    if euid() != 0 {
        fs::set_permissions(root.path(), Permissions::from_mode(0o500)).unwrap();
        let data = root.path().join("data");
        let err = Store::open(&data).unwrap_err();
        fs::set_permissions(root.path(), Permissions::from_mode(0o700)).unwrap();
        assert_data_dir_error(&err, &data, euid(), "Permission denied");
        return;
    }

    const NOBODY: u32 = 65534;
    let data = root.path().join("data");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_unwritable_directory_names_the_effective_uid",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &data)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("run this test binary as uid 65534 (is the target dir readable by others?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        // libtest prints the test name on the same line before the child's own output.
        .find_map(|l| l.split_once("ERROR ").map(|(_, message)| message))
        .unwrap_or_else(|| panic!("the child opened a store it cannot write: {stdout}"));
    assert_eq!(
        line,
        format!(
            "data directory {} is not usable by uid {NOBODY}: cannot create it: Permission \
             denied (os error 13); mount a volume writable by uid {NOBODY} or set CV_DATA_DIR \
             to a writable directory",
            data.display()
        )
    );
    assert!(!data.exists());
}

/// Creating the directory used to fail with "cannot create it: File exists".
#[test]
fn a_dangling_symlink_is_named_as_such() {
    let root = TempDir::new().unwrap();
    let link = root.path().join("data");
    std::os::unix::fs::symlink(root.path().join("gone"), &link).unwrap();
    let err = Store::open(&link).unwrap_err();
    assert!(matches!(err, StoreError::DataDir { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("dangling symbolic link"), "{text}");
    assert!(
        text.contains(&root.path().join("gone").display().to_string()),
        "{text}"
    );
    assert!(!text.contains("File exists"), "{text}");
}

/// A file that is not a database used to give "database error: file is not a database: Error
/// code 26: file is not a database", with no path and no way forward.
#[test]
fn a_file_that_is_not_a_database_is_named_with_what_to_do() {
    let root = TempDir::new().unwrap();
    let data = root.path().join("data");
    fs::create_dir(&data).unwrap();
    let db = data.join(DB_FILE);
    fs::write(
        &db,
        "this is not SQLite, but it is long enough to have a header...\n".repeat(20),
    )
    .unwrap();
    let err = Store::open(&data).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&db.display().to_string()), "{text}");
    assert!(text.contains("not a SQLite database"), "{text}");
    assert!(text.contains("move it aside"), "{text}");
    // The file is left as it was: it may be the only copy of the posts.
    assert!(
        fs::read_to_string(&db)
            .unwrap()
            .starts_with("this is not SQLite")
    );
}

/// The write probe was named by pid only, so threads opening stores in one directory removed
/// each other's probe and failed with "cannot create files in it: No such file or directory"
/// (seen as a hang of the racing-creates test, whose other threads waited at a barrier).
#[test]
fn concurrent_opens_in_one_process_do_not_trip_over_the_write_probe() {
    let root = TempDir::new().unwrap();
    let data = root.path().join("data");
    Store::open(&data).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let data = data.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| Store::open(&data).map(drop))
                    .find(Result::is_err)
                    .unwrap_or(Ok(()))
            })
        })
        .collect();
    for thread in threads {
        if let Err(err) = thread.join().unwrap() {
            panic!("{err}");
        }
    }
}
