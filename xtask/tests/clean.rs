//! `cargo xtask clean` on things the tests made themselves: a temporary cargo project for the
//! target directories, a cache mount with a test-only path, a labelled volume and a dangling
//! image. Every run passes `--manifest-path` of the temporary project and, for Docker levels,
//! either `--dry-run` or a scope (`--cache-scope mounts --cache-mount …`, `--only-label …`) that
//! matches only test objects: the workspace's target/ and the real build cache are never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether the engine answers through Debian's BuildKit-capable client; without it a test prints
/// why and passes, except under CI.
fn engine(test: &str) -> bool {
    let up = Command::new(docker())
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        up || !in_ci(),
        "the Docker engine is not answering, and CI=true requires it (scripts/setup-machine.sh)"
    );
    if !up {
        eprintln!("skipped {test}: no Docker engine answers (run scripts/setup-machine.sh)");
    }
    up
}

/// The client that builds with BuildKit here (machine notes: the 28.x one has no buildx).
fn docker() -> &'static str {
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

fn docker_ok(args: &[&str]) -> String {
    let out = Command::new(docker())
        .args(args)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn clean(args: &[&str]) -> Output {
    let mut all = vec!["clean"];
    all.extend_from_slice(args);
    Command::new(XTASK)
        .args(&all)
        .output()
        .expect("the xtask binary runs")
}

/// A real cargo project, built once so its target/ is cargo's own, plus a nested target dir
/// with cargo's tag and a decoy `target` directory without it.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[package]\nname = \"cv-clean-fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(root.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let built = Command::new(cargo)
            .args(["build", "--offline", "--quiet", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        assert!(built.status.success(), "{}", text(&built.stderr));
        assert!(
            root.join("target/CACHEDIR.TAG").is_file(),
            "cargo tags its target dir"
        );

        let nested = root.join("examples/demo/target");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::copy(
            root.join("target/CACHEDIR.TAG"),
            nested.join("CACHEDIR.TAG"),
        )
        .unwrap();
        std::fs::write(nested.join("blob"), vec![7u8; 300_000]).unwrap();
        let decoy = root.join("docs/target");
        std::fs::create_dir_all(&decoy).unwrap();
        std::fs::write(decoy.join("keep.md"), "not cargo's").unwrap();
        Project { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn manifest(&self) -> String {
        self.path("Cargo.toml").display().to_string()
    }
}

fn workspace_target_tag() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/CACHEDIR.TAG")
}

#[test]
fn normal_dry_run_lists_target_dirs_and_removes_nothing() {
    let project = Project::new();
    let out = clean(&[
        "--level",
        "normal",
        "--dry-run",
        "--manifest-path",
        &project.manifest(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for dir in ["target", "examples/demo/target"] {
        let line = stdout
            .lines()
            .find(|l| l.ends_with(&format!("{}  [would remove]", project.path(dir).display())))
            .unwrap_or_else(|| panic!("{dir} not listed:\n{stdout}"));
        assert!(!line.trim_start().starts_with("0 B"), "sized: {line}");
        assert!(project.path(dir).is_dir(), "dry run removed {dir}");
    }
    assert!(
        !stdout.contains("docs/target"),
        "untagged dirs are not cargo's:\n{stdout}"
    );
    assert!(stdout.contains("dry run: would free "), "{stdout}");
    assert!(
        !stdout.contains("build cache"),
        "normal stops at target dirs:\n{stdout}"
    );
}

/// CARGO_TARGET_DIR naming another checkout's target dir lists it under this project's
/// heading (cargo names it); its line must say it lies outside the project.
#[test]
fn a_cargo_target_dir_outside_the_project_is_marked_as_such() {
    let project = Project::new();
    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(
        project.path("target/CACHEDIR.TAG"),
        target.join("CACHEDIR.TAG"),
    )
    .unwrap();
    let out = Command::new(XTASK)
        .args(["clean", "--level", "normal", "--dry-run", "--manifest-path"])
        .arg(project.manifest())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("the xtask binary runs");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let line = stdout
        .lines()
        .find(|l| l.contains(&target.display().to_string()))
        .unwrap_or_else(|| panic!("{} not listed:\n{stdout}", target.display()));
    assert!(
        line.ends_with("(CARGO_TARGET_DIR, outside this project)  [would remove]"),
        "{line}"
    );
    let own = stdout
        .lines()
        .find(|l| l.contains(&project.path("target").display().to_string()))
        .unwrap_or_else(|| panic!("the project's own target/ not listed:\n{stdout}"));
    assert!(!own.contains("outside"), "{own}");
    assert!(target.is_dir(), "a dry run removes nothing");
}

#[test]
fn normal_removes_the_projects_target_dirs_and_says_how_much_it_freed() {
    let project = Project::new();
    let out = clean(&["--level", "normal", "--manifest-path", &project.manifest()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(!project.path("target").exists() && !project.path("examples/demo/target").exists());
    assert!(
        project.path("docs/target/keep.md").is_file(),
        "the decoy stays"
    );
    assert!(project.path("src/lib.rs").is_file() && project.path("Cargo.toml").is_file());
    let freed = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("freed ") && l.contains("before"))
        .unwrap_or_else(|| panic!("no freed line:\n{stdout}"));
    assert!(freed.contains(", 0 B after)"), "{freed}");
    assert!(!freed.starts_with("  freed 0 B"), "{freed}");
    assert!(
        workspace_target_tag().is_file(),
        "the workspace target dir is untouched"
    );

    // A second run finds nothing: the command is idempotent.
    let again = clean(&["--level", "normal", "--manifest-path", &project.manifest()]);
    assert!(
        text(&again.stdout).contains("nothing to remove"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn a_missing_manifest_is_a_one_line_error() {
    let out = clean(&[
        "--level",
        "normal",
        "--manifest-path",
        "/nonexistent/Cargo.toml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: no Cargo.toml at /nonexistent/Cargo.toml"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = clean(&["--level", "everything"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

/// A manifest cargo cannot read is a refusal, not a guess: `target/` beside a Dockerfile is not
/// cargo's, and neither the dry run nor the real one may list or remove it.
#[test]
fn a_manifest_cargo_cannot_read_is_refused_and_nothing_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::fs::write(root.join("target/notes.md"), "mine, not cargo's").unwrap();
    let broken = root.join("broken");
    std::fs::create_dir_all(broken.join("target")).unwrap();
    std::fs::write(broken.join("Cargo.toml"), "[package\nname = ").unwrap();
    std::fs::write(broken.join("target/notes.md"), "mine too").unwrap();
    let dockerfile = root.join("Dockerfile").display().to_string();
    let cargo_toml = broken.join("Cargo.toml").display().to_string();
    for manifest in [&dockerfile, &cargo_toml] {
        for dry_run in [true, false] {
            let mut args = vec!["--level", "normal", "--manifest-path", manifest.as_str()];
            if dry_run {
                args.push("--dry-run");
            }
            let out = clean(&args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(
                stderr.starts_with(&format!(
                    "error: cargo metadata cannot read {manifest} (--manifest-path): "
                )),
                "{stderr}"
            );
            assert!(stderr.contains("nothing was removed"), "{stderr}");
            // Cargo's own words follow: what it could not read, and why.
            assert!(!stderr.contains("cargo gave no message"), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(!text(&out.stdout).contains("would remove"));
        }
    }
    assert!(root.join("target/notes.md").is_file());
    assert!(broken.join("target/notes.md").is_file());
}

/// The target directory cargo names is removed only when cargo tagged it: `CARGO_TARGET_DIR`
/// pointed at a folder of one's own leaves that folder, and says so.
#[test]
fn an_untagged_target_dir_is_left_and_the_report_says_why() {
    let project = Project::new();
    let mine = project.path("my-documents");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("thesis.md"), "years of work").unwrap();
    let out = Command::new(XTASK)
        .args(["clean", "--level", "normal", "--manifest-path"])
        .arg(project.manifest())
        .env("CARGO_TARGET_DIR", &mine)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(mine.join("thesis.md").is_file(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "left {}: cargo names it the target directory, but it has no CACHEDIR.TAG",
            mine.display()
        )),
        "{stdout}"
    );
    // The tagged directories under the project still go.
    assert!(!project.path("target").exists(), "{stdout}");
    assert!(!project.path("examples/demo/target").exists(), "{stdout}");
}

/// A one-binary base image from the static busybox (scripts/setup-machine.sh installs it).
fn busybox_base(tag: &str, work: &Path) -> bool {
    let Ok(busybox) = which::which("busybox") else {
        assert!(
            !in_ci(),
            "busybox-static is missing; scripts/setup-machine.sh installs it"
        );
        eprintln!("skipped: no busybox to make a base image from (apt-get install busybox-static)");
        return false;
    };
    let root = work.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in ["sh", "dd"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = work.join("rootfs.tar");
    let made = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(made.success());
    docker_ok(&["import", tar.to_str().unwrap(), tag]);
    true
}

fn cache_ids_with(description_part: &str) -> Vec<String> {
    let json = docker_ok(&["system", "df", "-v", "--format", "{{json .BuildCache}}"]);
    let records: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap_or_default();
    records
        .iter()
        .filter(|r| {
            r["Description"]
                .as_str()
                .unwrap_or("")
                .contains(description_part)
        })
        .map(|r| r["ID"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn deep_removes_only_the_named_cache_mount() {
    if !engine("deep_removes_only_the_named_cache_mount") {
        return;
    }
    let pid = std::process::id();
    let work = tempfile::tempdir().unwrap();
    let base = format!("cv-test-clean-base:{pid}");
    if !busybox_base(&base, work.path()) {
        return;
    }
    let mount = format!("/cv-test-clean-{pid}");
    let context = work.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {base}\nRUN --mount=type=cache,id=cv-test-clean-{pid},target={mount} \
             dd if=/dev/zero of={mount}/blob bs=1k count=600\n"
        ),
    )
    .unwrap();
    let out = work.path().join("out");
    docker_ok(&[
        "build",
        "--output",
        &format!("type=local,dest={}", out.display()),
        context.to_str().unwrap(),
    ]);
    let marker = format!("cached mount {mount} from");
    assert_eq!(
        cache_ids_with(&marker).len(),
        1,
        "the build made the cache mount"
    );
    let project = Project::new();
    let manifest = project.manifest();
    let scoped = |dry_run: bool| {
        let mut args = vec!["--level", "deep", "--manifest-path", manifest.as_str()];
        args.extend(["--cache-scope", "mounts", "--cache-mount", mount.as_str()]);
        if dry_run {
            args.push("--dry-run");
        }
        args
    };

    let dry = clean(&scoped(true));
    let stdout = text(&dry.stdout);
    assert!(dry.status.success(), "{stdout}{}", text(&dry.stderr));
    assert!(
        stdout.contains(&format!("cache mount {mount}, record")),
        "{stdout}"
    );
    assert_eq!(
        cache_ids_with(&marker).len(),
        1,
        "a dry run removes nothing"
    );

    let real = clean(&scoped(false));
    let stdout = text(&real.stdout);
    assert!(real.status.success(), "{stdout}{}", text(&real.stderr));
    let line = stdout
        .lines()
        .find(|l| l.contains(&format!("cache mount {mount}")))
        .unwrap();
    assert!(line.ends_with("[removed]"), "{line}");
    assert!(
        line.contains(" kB ") || line.contains(" MB "),
        "600 kB were written: {line}"
    );
    assert!(
        cache_ids_with(&marker).is_empty(),
        "the cache mount is gone"
    );
    assert!(
        !stdout.contains("layer-cache records"),
        "mounts scope leaves layers:\n{stdout}"
    );

    // Clean up what this test made: the RUN step's layer record and the base image.
    let leftover = cache_ids_with(&format!("of={mount}/blob"));
    if !leftover.is_empty() {
        docker_ok(&[
            "builder",
            "prune",
            "--force",
            "--filter",
            &format!("id=^({})$", leftover.join("|")),
        ]);
    }
    docker_ok(&["image", "rm", &base]);
}

#[test]
fn deep_dry_run_lists_the_build_cache_without_removing_it() {
    if !engine("deep_dry_run_lists_the_build_cache_without_removing_it") {
        return;
    }
    let before = cache_ids_with("");
    let project = Project::new();
    let out = clean(&[
        "--level",
        "deep",
        "--dry-run",
        "--manifest-path",
        &project.manifest(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "build cache (this project's cache mounts, and the engine's unused layer cache of \
             all projects):"
        ),
        "{stdout}"
    );
    // The layer records are every project's: their line says so, whatever else it says.
    if let Some(line) = stdout.lines().find(|l| l.contains("layer-cache records")) {
        assert!(
            line.contains("unused layer cache of the engine (all projects)"),
            "{line}"
        );
    }
    let after = cache_ids_with("");
    let gone: Vec<&String> = before.iter().filter(|id| !after.contains(id)).collect();
    assert!(
        gone.is_empty(),
        "a dry run removed build cache records {gone:?}"
    );
}

#[test]
fn all_removes_only_labelled_project_volumes_and_dangling_images() {
    if !engine("all_removes_only_labelled_project_volumes_and_dangling_images") {
        return;
    }
    let pid = std::process::id();
    let label = format!("cv.test.run={pid}");
    let ours = format!("cv-test-clean-{pid}-labelled");
    let unlabelled = format!("cv-test-clean-{pid}-unlabelled");
    let foreign = format!("othertest-clean-{pid}");
    docker_ok(&["volume", "create", "--label", &label, &ours]);
    docker_ok(&["volume", "create", &unlabelled]);
    docker_ok(&["volume", "create", "--label", &label, &foreign]);

    // Two imports under one tag: the first loses the tag and is left dangling.
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("empty")).unwrap();
    let tar = work.path().join("empty.tar");
    assert!(
        Command::new("tar")
            .arg("-C")
            .arg(work.path().join("empty"))
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    let tag = format!("cv-test-clean-img:{pid}");
    let import = |generation: &str| {
        docker_ok(&[
            "import",
            "--change",
            "LABEL org.opencontainers.image.title=cv",
            "--change",
            &format!("LABEL cv.test.run={pid} cv.test.generation={generation}"),
            tar.to_str().unwrap(),
            &tag,
        ])
    };
    let dangling = import("1");
    let tagged = import("2");
    assert_ne!(dangling, tagged);

    let project = Project::new();
    let out = clean(&[
        "--level",
        "all",
        "--manifest-path",
        &project.manifest(),
        "--cache-scope",
        "mounts",
        "--cache-mount",
        &format!("/cv-test-clean-none-{pid}"),
        "--only-label",
        &label,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let volumes = docker_ok(&["volume", "ls", "--format", "{{.Name}}"]);
    let exists = |name: &str| volumes.lines().any(|l| l == name);
    assert!(
        !exists(&ours),
        "the labelled project volume is removed:\n{stdout}"
    );
    assert!(
        exists(&unlabelled),
        "--only-label spares the unlabelled one"
    );
    assert!(exists(&foreign), "another project's volume stays");
    assert!(
        stdout.contains(&format!("volume {ours}  [removed]")),
        "{stdout}"
    );
    let short: String = dangling
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    assert!(
        stdout.contains(&format!("image {short} (cv)  [removed]")),
        "{stdout}"
    );
    let gone = Command::new(docker())
        .args(["image", "inspect", &dangling])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the dangling image is removed");
    docker_ok(&["image", "inspect", &tag]);
    assert!(stdout.contains("freed "), "{stdout}");

    docker_ok(&["volume", "rm", &unlabelled, &foreign]);
    docker_ok(&["image", "rm", &tag]);
}
