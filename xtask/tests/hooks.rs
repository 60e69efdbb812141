//! `cargo xtask hooks` and the pre-commit hook, with real git and real cargo.
//!
//! Each test makes a temporary git repository holding a tiny crate whose `.cargo/config.toml`
//! aliases `cargo xtask` to this checkout's xtask (`cargo run --manifest-path …`), so the hook
//! runs exactly what a clone of this project would, and xtask is built once, in this checkout's
//! target directory. Git reads no user or system configuration here: a developer's global
//! `core.hooksPath` must not change what is tested.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Instant, SystemTime};

const CLEAN: &str = "pub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n";
/// A change to CLEAN (so that, once formatted, there is something to commit), unformatted.
const UNFORMATTED: &str = "pub fn add(a:u32,b:u32)->u32{a+b}\npub fn two()->u32{2}\n";

/// A user's own hook: leaves a marker, and fails while a file named `block` exists.
const USER_HOOK: &str = "#!/bin/sh\n\
    # the user's own hook, no trailing newline on purpose\n\
    echo ran >> user-hook-ran\n\
    if [ -e block ]; then echo 'user hook: blocked by ./block' >&2; exit 3; fi";

fn xtask_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")
}

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// A repository with one commit: the tiny crate, formatted, with its Cargo.lock.
    fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::Builder::new()
                .prefix("cv-test-hooks-")
                .tempdir()
                .unwrap(),
        };
        repo.write(
            "Cargo.toml",
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
        );
        repo.write("src/lib.rs", CLEAN);
        repo.write(".gitignore", "/target\n");
        repo.write(
            ".cargo/config.toml",
            &format!(
                "[alias]\nxtask = \"run --quiet --manifest-path {} --\"\n",
                xtask_manifest().display()
            ),
        );
        let lock = repo.cargo(&["generate-lockfile", "--offline"]);
        assert!(lock.status.success(), "{}", text(&lock));
        repo.ok_git(&["init", "-q", "-b", "main"]);
        repo.ok_git(&["add", "."]);
        repo.ok_git(&["commit", "-q", "-m", "tiny crate"]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, contents: &str) {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    fn command(&self, program: &str, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Hook Test")
            .env("GIT_AUTHOR_EMAIL", "hook-test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Hook Test")
            .env("GIT_COMMITTER_EMAIL", "hook-test@example.invalid")
            // Run from inside another hook, these would point git at the wrong repository.
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE");
        cmd
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> Output {
        self.command("git", dir).args(args).output().unwrap()
    }

    fn git(&self, args: &[&str]) -> Output {
        self.git_in(self.path(), args)
    }

    fn ok_git(&self, args: &[&str]) -> String {
        let out = self.git(args);
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn cargo(&self, args: &[&str]) -> Output {
        self.command(&cargo_bin(), self.path())
            .args(args)
            .output()
            .unwrap()
    }

    fn xtask(&self, args: &[&str]) -> Output {
        let mut all = vec!["xtask"];
        all.extend_from_slice(args);
        self.cargo(&all)
    }

    fn ok_xtask(&self, args: &[&str]) -> String {
        let out = self.xtask(args);
        assert!(out.status.success(), "cargo xtask {args:?}: {}", text(&out));
        text(&out)
    }

    fn head(&self) -> String {
        self.ok_git(&["rev-parse", "HEAD"])
    }

    /// Stages everything and commits, through the hook.
    fn commit_in(&self, dir: &Path, message: &str) -> Output {
        let add = self.git_in(dir, &["add", "-A"]);
        assert!(add.status.success(), "{}", text(&add));
        self.git_in(dir, &["commit", "-q", "-m", message])
    }

    fn commit(&self, message: &str) -> Output {
        self.commit_in(self.path(), message)
    }

    fn hooks_dir(&self) -> PathBuf {
        self.path().join(".git/hooks")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Everything in a directory that "exactly as it was" covers: names, bytes (or symlink
/// targets), mode bits, modification times.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32, SystemTime)> {
    let mut files = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let meta = path.symlink_metadata().unwrap();
        let contents = if meta.file_type().is_symlink() {
            fs::read_link(&path)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            fs::read(&path).unwrap()
        };
        files.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            (
                contents,
                meta.permissions().mode() & 0o7777,
                meta.modified().unwrap(),
            ),
        );
    }
    files
}

#[test]
fn hook_blocks_unformatted_code_and_lets_formatted_code_through() {
    let repo = Repo::new();
    let out = repo.ok_xtask(&["hooks", "install"]);
    assert!(out.contains("installed the pre-commit hook"), "{out}");
    let before = repo.head();

    repo.write("src/lib.rs", UNFORMATTED);
    let started = Instant::now();
    let blocked = repo.commit("unformatted");
    eprintln!("blocked commit took {:.1?}", started.elapsed());
    let output = text(&blocked);
    assert!(
        !blocked.status.success(),
        "the commit went through:\n{output}"
    );
    assert_eq!(repo.head(), before, "HEAD moved");
    assert!(
        output
            .lines()
            .any(|l| l.trim_start().starts_with("fmt") && l.contains("FAILED")),
        "{output}"
    );
    assert!(output.contains("run `cargo fmt --all`"), "{output}");
    assert!(
        output.contains("src/lib.rs"),
        "the diff names the file:\n{output}"
    );

    let fmt = repo.cargo(&["fmt", "--all"]);
    assert!(fmt.status.success(), "{}", text(&fmt));
    let started = Instant::now();
    let passed = repo.commit("formatted");
    eprintln!("passing commit took {:.1?}", started.elapsed());
    let output = text(&passed);
    assert!(passed.status.success(), "{output}");
    assert_ne!(repo.head(), before);
    assert!(output.contains("precommit: "), "the hook ran:\n{output}");
    assert!(output.contains(" 0 failed"), "{output}");
}

#[test]
fn no_verify_skips_the_hook_once() {
    let repo = Repo::new();
    repo.ok_xtask(&["hooks", "install"]);
    let before = repo.head();
    repo.write("src/lib.rs", UNFORMATTED);
    repo.ok_git(&["add", "-A"]);
    repo.ok_git(&["commit", "-q", "--no-verify", "-m", "skip the checks"]);
    assert_ne!(repo.head(), before);
}

#[test]
fn a_users_hook_is_kept_still_runs_and_still_blocks_then_comes_back_exactly() {
    let repo = Repo::new();
    let hook = repo.hooks_dir().join("pre-commit");
    fs::write(&hook, USER_HOOK).unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o750)).unwrap();
    let before_install = snapshot(&repo.hooks_dir());

    let out = repo.ok_xtask(&["hooks", "install"]);
    assert!(out.contains("kept as pre-commit.before-cv-xtask"), "{out}");

    repo.write("src/lib.rs", &format!("{CLEAN}\npub const ONE: u32 = 1;\n"));
    let passed = repo.commit("clean");
    assert!(passed.status.success(), "{}", text(&passed));
    assert_eq!(
        fs::read_to_string(repo.path().join("user-hook-ran")).unwrap(),
        "ran\n",
        "the user's hook ran once"
    );
    assert!(text(&passed).contains("precommit: "), "ours ran too");

    // The user's hook fails: the commit is blocked even though our checks would pass.
    let head = repo.head();
    repo.write("block", "");
    let blocked = repo.commit("blocked by the user's hook");
    assert!(!blocked.status.success(), "{}", text(&blocked));
    assert!(text(&blocked).contains("user hook: blocked by ./block"));
    assert_eq!(repo.head(), head);

    let out = repo.ok_xtask(&["hooks", "uninstall"]);
    assert!(
        out.contains("put back the hook that was there before"),
        "{out}"
    );
    assert_eq!(
        snapshot(&repo.hooks_dir()),
        before_install,
        "bytes, mode and time of every file in the hooks directory"
    );
}

#[test]
fn install_twice_changes_nothing_and_uninstall_leaves_no_trace() {
    let repo = Repo::new();
    let pristine = snapshot(&repo.hooks_dir());

    let out = repo.ok_xtask(&["hooks", "uninstall"]);
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(snapshot(&repo.hooks_dir()), pristine);

    repo.ok_xtask(&["hooks", "install"]);
    let installed = snapshot(&repo.hooks_dir());
    let hook = &installed["pre-commit"];
    assert!(String::from_utf8_lossy(&hook.0).contains("# cv-xtask pre-commit hook"));
    assert_eq!(hook.1, 0o755);

    let out = repo.ok_xtask(&["hooks", "install"]);
    assert!(out.contains("already installed"), "{out}");
    assert_eq!(
        snapshot(&repo.hooks_dir()),
        installed,
        "the second install changed files"
    );

    let out = repo.ok_xtask(&["hooks", "status"]);
    assert!(out.contains("installed in"), "{out}");

    let out = repo.ok_xtask(&["hooks", "uninstall"]);
    assert!(out.contains("removed the pre-commit hook"), "{out}");
    assert_eq!(snapshot(&repo.hooks_dir()), pristine);
}

#[test]
fn a_symlinked_user_hook_comes_back_as_the_same_symlink() {
    let repo = Repo::new();
    let hook = repo.hooks_dir().join("pre-commit");
    symlink("../../tools/their-hook", &hook).unwrap();
    let before = snapshot(&repo.hooks_dir());
    repo.ok_xtask(&["hooks", "install"]);
    repo.ok_xtask(&["hooks", "uninstall"]);
    assert_eq!(snapshot(&repo.hooks_dir()), before);
}

#[test]
fn core_hooks_path_is_where_the_hook_goes() {
    let repo = Repo::new();
    repo.ok_git(&["config", "core.hooksPath", ".githooks"]);
    repo.ok_xtask(&["hooks", "install"]);
    assert!(repo.path().join(".githooks/pre-commit").is_file());
    assert!(!repo.hooks_dir().join("pre-commit").exists());

    let before = repo.head();
    repo.write("src/lib.rs", UNFORMATTED);
    // Stage only the source: the hook itself is a new file git would also commit.
    repo.ok_git(&["add", "src/lib.rs"]);
    let blocked = repo.git(&["commit", "-q", "-m", "unformatted"]);
    assert!(!blocked.status.success(), "{}", text(&blocked));
    assert_eq!(repo.head(), before);

    repo.ok_xtask(&["hooks", "uninstall"]);
    assert!(!repo.path().join(".githooks/pre-commit").exists());
}

#[test]
fn in_a_linked_worktree_the_hook_checks_that_worktree() {
    let repo = Repo::new();
    repo.ok_xtask(&["hooks", "install"]);
    let elsewhere = tempfile::Builder::new()
        .prefix("cv-test-hooks-wt-")
        .tempdir()
        .unwrap();
    let tree = elsewhere.path().join("side");
    repo.ok_git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "side",
        tree.to_str().unwrap(),
    ]);

    // Unformatted only in the linked worktree: the main tree is clean, so a pass would mean the
    // checks ran on the wrong tree.
    fs::write(tree.join("src/lib.rs"), UNFORMATTED).unwrap();
    let blocked = repo.commit_in(&tree, "unformatted in the worktree");
    let output = text(&blocked);
    assert!(!blocked.status.success(), "{output}");
    assert!(
        output.contains(&format!("checking {}", tree.display())),
        "{output}"
    );
}

/// A Cargo.lock pinning a version with an advisory in the project's fixture database (critical).
const VULNERABLE_LOCK: &str = r#"version = 4

[[package]]
name = "cvfixture-vuln"
version = "1.1.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "0000000000000000000000000000000000000000000000000000000000000000"

[[package]]
name = "tiny"
version = "0.1.0"
dependencies = ["cvfixture-vuln"]
"#;

const ADD_URL: &str =
    "FROM scratch\nUSER 65532\nADD https://example.com/tool.tar.gz /tool.tar.gz\n";

#[test]
fn precommit_runs_the_scanner_on_the_repositorys_own_files_offline() {
    let repo = Repo::new();
    repo.write("Dockerfile", ADD_URL);
    // Test data is faulty on purpose and not shipped: it must not fail the commit.
    repo.write("tests/data/Dockerfile.seeded", ADD_URL);
    repo.write("Cargo.lock", VULNERABLE_LOCK);
    repo.ok_git(&["add", "-A"]);

    // clippy is left out: it would need the fixture crate, which exists nowhere.
    let out = repo
        .command(&cargo_bin(), repo.path())
        .args(["xtask", "precommit", "--skip", "clippy"])
        .env(
            "CV_ADVISORY_DB",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/advisory-db"),
        )
        .output()
        .unwrap();
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    let failed = |step: &str| {
        output
            .lines()
            .any(|l| l.trim_start().starts_with(step) && l.contains("FAILED"))
    };
    assert!(failed("docker-lint"), "{output}");
    assert!(output.contains("CVD003"), "the ADD rule fired:\n{output}");
    assert!(failed("advisories"), "{output}");
    assert!(output.contains("RUSTSEC-2099-0001"), "{output}");
    assert!(
        !output.contains("Dockerfile.seeded"),
        "test data was scanned:\n{output}"
    );
    assert!(output.contains("fmt         passed"), "{output}");
    assert!(
        output.contains("precommit: 1 passed, 2 failed, 1 skipped"),
        "{output}"
    );
}

/// A Dockerfile with no high finding: scratch (nothing to pin), a numeric user, COPY.
const GOOD_DOCKERFILE: &str = "FROM scratch\nUSER 65532\nCOPY tool /tool\n";

/// The built xtask run in the repository (no `cargo run`, so no build lock), with git's
/// settings isolated as for every other command here.
fn precommit(repo: &Repo, args: &[&str]) -> (Option<i32>, String) {
    let out = repo
        .command(env!("CARGO_BIN_EXE_xtask"), repo.path())
        .arg("precommit")
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), text(&out))
}

fn step_line<'a>(output: &'a str, step: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.trim_start().starts_with(step))
        .unwrap_or_else(|| panic!("no {step} line:\n{output}"))
}

#[test]
fn docker_lint_reads_what_is_staged_not_the_working_tree() {
    let repo = Repo::new();
    // Staged with an ADD of a URL on line 3, then fixed on disk only: the bad one is what
    // `git commit` would record.
    repo.write("docker/Dockerfile.app", ADD_URL);
    repo.ok_git(&["add", "docker/Dockerfile.app"]);
    repo.write("docker/Dockerfile.app", GOOD_DOCKERFILE);
    // --skip takes a comma list, as net-test's does.
    let (code, output) = precommit(&repo, &["--skip", "fmt,clippy,advisories"]);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        step_line(&output, "docker-lint").contains("FAILED"),
        "{output}"
    );
    assert!(
        output.contains("CVD003") && output.contains("docker/Dockerfile.app:3"),
        "the staged version's finding, on its own line:\n{output}"
    );
    assert!(
        output.contains("precommit: 0 passed, 1 failed, 3 skipped"),
        "{output}"
    );

    // --working-tree reads the file on disk, which is fixed.
    let (code, output) = precommit(
        &repo,
        &["--skip", "fmt,clippy,advisories", "--working-tree"],
    );
    assert_eq!(code, Some(0), "{output}");
    assert!(
        step_line(&output, "docker-lint").contains("passed"),
        "{output}"
    );

    // The other way round: a good version staged, a bad one only on disk, passes.
    repo.write("docker/Dockerfile.app", GOOD_DOCKERFILE);
    repo.ok_git(&["add", "docker/Dockerfile.app"]);
    repo.write("docker/Dockerfile.app", ADD_URL);
    let (code, output) = precommit(&repo, &["--skip", "fmt", "--skip", "clippy,advisories"]);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        step_line(&output, "docker-lint").contains("passed"),
        "{output}"
    );
}

#[test]
fn containerfiles_are_linted_like_dockerfiles() {
    let repo = Repo::new();
    repo.write("Containerfile", ADD_URL);
    repo.write("podman/app.Containerfile", ADD_URL);
    repo.ok_git(&["add", "-A"]);
    let (code, output) = precommit(&repo, &["--skip", "fmt,clippy,advisories"]);
    assert_eq!(code, Some(1), "{output}");
    for path in ["Containerfile:3", "podman/app.Containerfile:3"] {
        assert!(output.contains(path), "{path} not linted:\n{output}");
    }

    // One with nothing to lint fails the step, as `cargo xtask scan` refuses it.
    repo.write("Containerfile", "# only a comment\n");
    repo.write("podman/app.Containerfile", GOOD_DOCKERFILE);
    repo.ok_git(&["add", "-A"]);
    let (code, output) = precommit(&repo, &["--skip", "fmt,clippy,advisories"]);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("cannot lint Containerfile: no FROM instruction"),
        "{output}"
    );
}

#[test]
fn an_unknown_step_in_a_skip_list_is_a_usage_error() {
    let repo = Repo::new();
    let (code, output) = precommit(&repo, &["--skip", "fmt,lint"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("'lint'"), "{output}");
}

fn xtask_in(repo: &Repo, dir: &Path, args: &[&str]) -> Output {
    repo.command(env!("CARGO_BIN_EXE_xtask"), dir)
        .args(args)
        .output()
        .unwrap()
}

/// An old kept hook plus someone else's current one: `install` refuses to choose, and `status`
/// says exactly that instead of promising to keep the current one.
#[test]
fn status_tells_the_truth_when_install_would_refuse() {
    let repo = Repo::new();
    let hooks = repo.hooks_dir();
    fs::write(
        hooks.join("pre-commit.before-cv-xtask"),
        "#!/bin/sh\necho old\n",
    )
    .unwrap();
    fs::write(hooks.join("pre-commit"), "#!/bin/sh\necho current\n").unwrap();
    let before = snapshot(&hooks);

    let status = xtask_in(&repo, repo.path(), &["hooks", "status"]);
    let said = text(&status);
    assert!(status.status.success(), "{said}");
    assert!(!said.contains("keeps it and runs it first"), "{said}");
    assert!(said.contains("will not choose between the two"), "{said}");

    let install = xtask_in(&repo, repo.path(), &["hooks", "install"]);
    assert_eq!(install.status.code(), Some(1), "{}", text(&install));
    assert!(
        text(&install).contains("move one of them away"),
        "{}",
        text(&install)
    );
    assert_eq!(snapshot(&hooks), before, "neither hook was touched");

    // Only the kept one: status says install runs it and uninstall puts it back, as they do.
    fs::remove_file(hooks.join("pre-commit")).unwrap();
    let said = text(&xtask_in(&repo, repo.path(), &["hooks", "status"]));
    assert!(
        said.contains("`cargo xtask hooks install` puts ours in and runs it first"),
        "{said}"
    );
    let out = repo.ok_xtask(&["hooks", "install"]);
    assert!(out.contains("kept by an earlier install"), "{out}");
    let out = repo.ok_xtask(&["hooks", "uninstall"]);
    assert!(
        out.contains("put back the hook that was there before"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        "#!/bin/sh\necho old\n"
    );
}

#[test]
fn core_hooks_path_naming_a_file_is_said_plainly() {
    let repo = Repo::new();
    repo.write("hooks-file", "not a directory\n");
    repo.ok_git(&["config", "core.hooksPath", "hooks-file"]);
    for action in ["install", "status", "uninstall"] {
        let out = xtask_in(&repo, repo.path(), &["hooks", action]);
        assert_eq!(out.status.code(), Some(1), "{action}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: core.hooksPath names {}, which is a file, not a directory",
                repo.path().join("hooks-file").display()
            )),
            "{stderr}"
        );
    }
    assert_eq!(
        fs::read_to_string(repo.path().join("hooks-file")).unwrap(),
        "not a directory\n"
    );
}

#[test]
fn outside_a_repository_the_error_is_one_clean_line() {
    let repo = Repo::new();
    let outside = tempfile::Builder::new()
        .prefix("cv-test-hooks-norepo-")
        .tempdir()
        .unwrap();
    for (args, command) in [
        (&["hooks", "status"][..], "hooks"),
        (&["hooks", "install"][..], "hooks"),
        (&["precommit"][..], "precommit"),
    ] {
        let out = repo
            .command(env!("CARGO_BIN_EXE_xtask"), outside.path())
            // No repository above the temporary directory counts, whatever the machine has.
            .env("GIT_CEILING_DIRECTORIES", outside.path().parent().unwrap())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            stderr,
            format!(
                "error: {} is not inside a git repository: run `cargo xtask {command}` in your \
                 checkout\n",
                outside.path().display()
            ),
            "{args:?}"
        );
    }
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}
