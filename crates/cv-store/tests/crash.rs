//! `kill -9` during a burst of acknowledged writes: every write the store reported as done
//! is there after a restart, and the database opens cleanly.
//!
//! The writer is this test binary run again as a child process (selected by an environment
//! variable), so the kill hits a real process holding the database open mid-write.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use cv_store::{NewPost, PostFilter, Store};
use tempfile::TempDir;

const CHILD_ENV: &str = "CV_STORE_TEST_CRASH_WRITER_DIR";
/// Acknowledgements to wait for before the kill.
const KILL_AFTER: usize = 150;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        write_until_killed(Path::new(&dir));
        return;
    }

    let dir = TempDir::new().unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_writes_survive_kill_9",
            "--nocapture",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();

    let mut acknowledged = Vec::new();
    while acknowledged.len() < KILL_AFTER {
        let line = lines
            .next()
            .expect("the writer stopped before it was killed")
            .unwrap();
        if let Some(slug) = line.strip_prefix("ACK ") {
            acknowledged.push(slug.to_owned());
        }
    }
    child.0.kill().unwrap(); // SIGKILL
    // Acknowledgements already in the pipe were made before the kill: they count too.
    acknowledged.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ACK ").map(str::to_owned)),
    );
    let status = child.0.wait().unwrap();
    assert!(
        !status.success(),
        "the writer was killed, not finished: {status}"
    );

    let conn = rusqlite::Connection::open(dir.path().join(cv_store::DB_FILE)).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);

    let store = Store::open(dir.path()).unwrap();
    for slug in &acknowledged {
        let post = store.get(slug).unwrap();
        assert!(
            post.is_some_and(|p| p.tags == ["crash"]),
            "{slug} was acknowledged but is lost"
        );
    }
    let stored = store.list(&PostFilter::default()).unwrap().len();
    // At most one write can have committed without its acknowledgement being printed.
    assert!(
        stored == acknowledged.len() || stored == acknowledged.len() + 1,
        "{stored} stored, {} acknowledged",
        acknowledged.len()
    );
}

/// Child side: writes posts as fast as it can, printing each slug once `create` returned Ok.
fn write_until_killed(dir: &Path) {
    let store = Store::open(dir).unwrap();
    let mut out = std::io::stdout().lock();
    // Bounded so a parent that died without killing us cannot leave us running for long.
    for i in 0..100_000 {
        let slug = format!("post-{i}");
        store
            .create(NewPost {
                slug: slug.clone(),
                title: format!("Post {i}"),
                body: "x".repeat(2_000),
                tags: vec!["crash".into()],
                published: true,
                featured: false,
            })
            .unwrap();
        writeln!(out, "ACK {slug}").unwrap();
        out.flush().unwrap();
    }
}
