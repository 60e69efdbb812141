//! `cargo xtask vendor` against a real project: a throwaway workspace with a git dependency (a
//! local repository reached through a file:// URL, made here with the real git) and a path
//! dependency, vendored by the real xtask binary with the real cargo. No Docker, no network:
//! every fetch is from the file system, and each test has a CARGO_HOME of its own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn git(dir: &Path, args: &[&str]) {
    run(Command::new("git")
        .args([
            "-c",
            "user.name=cv-test",
            "-c",
            "user.email=cv-test@127.0.0.1",
        ])
        .args(args)
        .current_dir(dir));
}

/// A temporary workspace: `gitdep/` (a git repository), `app/` (depends on it through
/// file:// and on `app/pathdep` by path), and a CARGO_HOME of its own.
struct Project {
    tmp: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::Builder::new()
            .prefix("cv-test-vendor-")
            .tempdir()
            .unwrap();
        let gitdep = tmp.path().join("gitdep");
        fs::create_dir_all(gitdep.join("src")).unwrap();
        fs::write(
            gitdep.join("Cargo.toml"),
            "[package]\nname = \"gitdep\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .unwrap();
        fs::write(
            gitdep.join("src/lib.rs"),
            "pub fn hello() -> &'static str { \"from git\" }\n",
        )
        .unwrap();
        git(&gitdep, &["init", "-q"]);
        git(&gitdep, &["add", "."]);
        git(&gitdep, &["commit", "-qm", "first"]);

        let app = tmp.path().join("app");
        fs::create_dir_all(app.join("src")).unwrap();
        fs::create_dir_all(app.join("pathdep/src")).unwrap();
        fs::create_dir_all(app.join(".cargo")).unwrap();
        fs::write(
            app.join("Cargo.toml"),
            format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\ngitdep = {{ git = \"file://{}\" }}\n\
                 pathdep = {{ path = \"pathdep\" }}\n",
                gitdep.display()
            ),
        )
        .unwrap();
        fs::write(
            app.join("src/main.rs"),
            "fn main() { println!(\"{} {}\", gitdep::hello(), pathdep::three()); }\n",
        )
        .unwrap();
        fs::write(
            app.join("pathdep/Cargo.toml"),
            "[package]\nname = \"pathdep\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .unwrap();
        fs::write(
            app.join("pathdep/src/lib.rs"),
            "pub fn three() -> u32 { 3 }\n",
        )
        .unwrap();
        // The user's own config: vendoring must leave it exactly as it was.
        fs::write(app.join(".cargo/config.toml"), USER_CONFIG).unwrap();
        let project = Project { tmp };
        run(project.cargo(&app).args(["generate-lockfile"]));
        project
    }

    fn app(&self) -> PathBuf {
        self.tmp.path().join("app")
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("cargo-home")
    }

    /// cargo with this project's CARGO_HOME (never the user's cache).
    fn cargo(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(dir).env("CARGO_HOME", self.home());
        cmd
    }

    fn xtask(&self, args: &[&str]) -> Output {
        let manifest = self.app().join("Cargo.toml");
        Command::new(XTASK)
            .arg("vendor")
            .args(args)
            .arg("--manifest-path")
            .arg(&manifest)
            .env("CARGO_HOME", self.home())
            .output()
            .expect("the xtask binary runs")
    }

    fn vendor(&self) -> Output {
        let out = self.xtask(&[]);
        assert!(
            out.status.success(),
            "cargo xtask vendor failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }
}

const USER_CONFIG: &str = "# the user's own settings\n[net]\nretry = 7\n";

fn manifest(app: &Path) -> serde_json::Value {
    let json = fs::read_to_string(app.join("vendor/.cv-vendor.json")).unwrap();
    serde_json::from_str(&json).unwrap()
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under `dir` with its size and modification time, to tell whether a run changed
/// anything at all.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut all = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                todo.push(entry.path());
            } else {
                all.push((entry.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    all.sort();
    all
}

#[test]
fn vendors_git_dependencies_with_a_manifest_and_a_relative_config() {
    let project = Project::new();
    let app = project.app();
    let out = project.vendor();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));

    assert!(
        stderr.contains("[1/1] gitdep v0.1.0"),
        "no progress line:\n{stderr}"
    );
    assert!(stdout.contains("vendored into vendor/"), "{stdout}");
    assert!(app.join("vendor/gitdep-0.1.0/src/lib.rs").is_file());
    assert!(
        !app.join("vendor/pathdep-0.1.0").exists(),
        "a path dependency is not vendored"
    );

    let manifest = manifest(&app);
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["crates"], 1);
    assert!(manifest["bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        manifest["cargo_lock_sha256"].as_str().unwrap(),
        sha256_hex(&app.join("Cargo.lock"))
    );

    let config = fs::read_to_string(app.join(".cargo/vendor-config.toml")).unwrap();
    let table: toml::Table = config.parse().unwrap();
    assert_eq!(
        table["source"]["vendored-sources"]["directory"].as_str(),
        Some("vendor"),
        "{config}"
    );
    let git_source = format!("git+file://{}", project.tmp.path().join("gitdep").display());
    assert_eq!(
        table["source"][&git_source]["replace-with"].as_str(),
        Some("vendored-sources"),
        "{config}"
    );
    assert!(
        !config.contains(&project.tmp.path().join("app").display().to_string()),
        "the config holds an absolute path into the checkout:\n{config}"
    );
    assert_eq!(
        fs::read_to_string(app.join(".cargo/config.toml")).unwrap(),
        USER_CONFIG,
        "the user's .cargo/config.toml was changed"
    );
}

#[test]
fn a_second_run_changes_nothing() {
    let project = Project::new();
    let app = project.app();
    project.vendor();
    let before = snapshot(&app.join("vendor"));
    let config_before = fs::metadata(app.join(".cargo/vendor-config.toml"))
        .unwrap()
        .modified()
        .unwrap();

    let out = project.vendor();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("vendor/ is up to date with Cargo.lock"),
        "{stdout}"
    );
    assert!(
        !text(&out.stderr).contains("[1/3]"),
        "the second run fetched:\n{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot(&app.join("vendor")), before);
    assert_eq!(
        fs::metadata(app.join(".cargo/vendor-config.toml"))
            .unwrap()
            .modified()
            .unwrap(),
        config_before
    );
}

#[test]
fn check_says_fresh_then_stale_after_a_lockfile_change() {
    let project = Project::new();
    let app = project.app();

    let missing = project.xtask(&["--check"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains("vendor/ is missing; run `cargo xtask vendor --manifest-path"),
        "{stderr}"
    );

    project.vendor();
    let fresh = project.xtask(&["--check"]);
    assert!(fresh.status.success(), "{}", text(&fresh.stderr));
    assert!(
        text(&fresh.stdout).contains("vendor/ matches Cargo.lock: 1 crates"),
        "{}",
        text(&fresh.stdout)
    );

    // A real lockfile change: a new commit upstream, and `cargo update` follows it.
    let gitdep = project.tmp.path().join("gitdep");
    fs::write(
        gitdep.join("src/lib.rs"),
        "pub fn hello() -> &'static str { \"from git, second commit\" }\n",
    )
    .unwrap();
    git(&gitdep, &["commit", "-qam", "second"]);
    let lock_before = fs::read_to_string(app.join("Cargo.lock")).unwrap();
    run(project.cargo(&app).args(["update", "-p", "gitdep"]));
    assert_ne!(
        fs::read_to_string(app.join("Cargo.lock")).unwrap(),
        lock_before
    );

    let before_check = snapshot(&app.join("vendor"));
    let stale = project.xtask(&["--check"]);
    assert_eq!(stale.status.code(), Some(1));
    let stderr = text(&stale.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want one line:\n{stderr}");
    assert!(
        lines[0].starts_with(
            "error: vendor/ is stale: Cargo.lock changed since it was vendored; run `cargo \
             xtask vendor --manifest-path"
        ),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&app.join("vendor")),
        before_check,
        "--check changed vendor/"
    );

    // Vendoring again brings it up to date, with the new commit's source.
    project.vendor();
    assert!(project.xtask(&["--check"]).status.success());
    let vendored = fs::read_to_string(app.join("vendor/gitdep-0.1.0/src/lib.rs")).unwrap();
    assert!(vendored.contains("second commit"), "{vendored}");

    // A vendored crate taken away is noticed too.
    fs::remove_dir_all(app.join("vendor/gitdep-0.1.0")).unwrap();
    let modified = project.xtask(&["--check"]);
    assert_eq!(modified.status.code(), Some(1));
    assert!(
        text(&modified.stderr).contains("vendor/ was changed since it was vendored: 0 crates"),
        "{}",
        text(&modified.stderr)
    );
}

#[test]
fn a_moved_tree_builds_offline_with_a_fresh_cargo_home() {
    let project = Project::new();
    project.vendor();

    // Move the checkout, and take the git dependency's origin away: only vendor/ is left.
    let moved = project.tmp.path().join("elsewhere/app-moved");
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::rename(project.app(), &moved).unwrap();
    fs::remove_dir_all(project.tmp.path().join("gitdep")).unwrap();
    let fresh_home = project.tmp.path().join("never-fetched-home");

    let out = run(Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "--offline",
            "--locked",
            "--config",
            ".cargo/vendor-config.toml",
        ])
        .current_dir(&moved)
        .env("CARGO_HOME", &fresh_home)
        .env("CARGO_TARGET_DIR", moved.join("target")));
    assert_eq!(text(&out.stdout).trim(), "from git 3");
    for fetched in ["git", "registry"] {
        assert!(
            !fresh_home.join(fetched).exists(),
            "cargo wrote {fetched}/ into the fresh cargo home"
        );
    }

    // The manifest still holds after the move.
    let check = Command::new(XTASK)
        .args(["vendor", "--check", "--manifest-path"])
        .arg(moved.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
}

#[test]
fn a_vendor_dir_outside_the_workspace_is_refused() {
    let project = Project::new();
    let outside = project.tmp.path().join("outside-vendor");
    let out = project.xtask(&["--dir", outside.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is not inside the workspace"), "{stderr}");
    assert!(!outside.exists());
}

#[test]
fn a_broken_cargo_lock_is_named_as_such_with_git_advice() {
    let project = Project::new();
    let app = project.app();
    project.vendor();
    let lock = app.join("Cargo.lock");
    let mut broken = fs::read_to_string(&lock).unwrap();
    broken.push_str("\n[[package\nname = \"half an edit\"\n");
    fs::write(&lock, broken).unwrap();

    for args in [&["--check"][..], &[][..]] {
        let out = project.xtask(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: Cargo.lock is broken: not valid TOML at line "),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("`git checkout -- {}`", lock.display())),
            "{stderr}"
        );
        assert!(!stderr.contains("stale"), "{stderr}");
        assert!(!stderr.contains("generate-lockfile"), "{stderr}");
        assert!(!stderr.contains("[1/3]"), "nothing was fetched");
    }
}

#[test]
fn dir_mistakes_are_refused_up_front_with_what_was_wrong() {
    let project = Project::new();
    let app = project.app();
    fs::write(app.join("README.md"), "hello\n").unwrap();
    let refused = |dir: &Path| {
        let out = project.xtask(&["--check", "--dir", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", dir.display());
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        stderr
    };

    let stderr = refused(&app);
    assert!(
        stderr.contains("is the workspace root itself: give a subdirectory of it"),
        "{stderr}"
    );
    let stderr = refused(&app.join("README.md"));
    assert!(stderr.contains("README.md is a file"), "{stderr}");

    // A symlink inside the workspace that leads out of it.
    let away = project.tmp.path().join("away");
    fs::create_dir_all(&away).unwrap();
    std::os::unix::fs::symlink(&away, app.join("linked")).unwrap();
    let stderr = refused(&app.join("linked"));
    assert!(
        stderr.contains("through a symlink, which is outside the workspace"),
        "{stderr}"
    );
    let out = project.xtask(&["--dir", app.join("linked").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fs::read_dir(&away).unwrap().count(), 0, "nothing vendored");
}

#[test]
fn suggested_commands_show_resolved_paths() {
    let project = Project::new();
    let app = project.app();
    let winding = app.join("../app/./pathdep/../Cargo.toml");
    let out = Command::new(XTASK)
        .args(["vendor", "--check", "--manifest-path"])
        .arg(&winding)
        .args(["--dir"])
        .arg(app.join("pathdep/../deps"))
        .env("CARGO_HOME", project.home())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: deps/ is missing; run `cargo xtask vendor --manifest-path {} --dir {}`",
            app.join("Cargo.toml").display(),
            app.join("deps").display()
        )
    );
}

/// What `--check` does not see, as docs/OFFLINE.md says: an edit that keeps every size. Cargo
/// catches it when it builds, against the crate's .cargo-checksum.json.
#[test]
fn a_same_size_edit_passes_check_and_cargo_refuses_it_at_build_time() {
    let project = Project::new();
    let app = project.app();
    project.vendor();
    let source = app.join("vendor/gitdep-0.1.0/src/lib.rs");
    let before = fs::read_to_string(&source).unwrap();
    let edited = before.replace("from git", "from gut");
    assert_eq!(edited.len(), before.len());
    fs::write(&source, edited).unwrap();

    let check = project.xtask(&["--check"]);
    assert!(check.status.success(), "{}", text(&check.stderr));

    let build = project
        .cargo(&app)
        .args([
            "build",
            "--offline",
            "--locked",
            "--config",
            ".cargo/vendor-config.toml",
        ])
        .env("CARGO_TARGET_DIR", app.join("target"))
        .output()
        .unwrap();
    assert!(!build.status.success(), "cargo built an edited crate");
    let stderr = text(&build.stderr);
    assert!(
        stderr.contains("the listed checksum of") && stderr.contains("has changed"),
        "{stderr}"
    );
}
