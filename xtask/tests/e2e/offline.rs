//! Issue 4, offline builds: "after `cargo xtask vendor`, the minimal image builds with RUN steps
//! cut off from the network and a cargo home that has never fetched anything; the same build
//! without `vendor/` fails fast with the message that says to run vendor. A vendor tree copied
//! to another path still builds."
//!
//! One image build in all: the workspace's files are copied to a directory of their own; the
//! offline build is refused there (no vendor/ yet) before any step runs; `cargo xtask vendor`
//! vendors that copy; the copy, vendor/ included, is copied again to another path and the first
//! one removed; the offline build runs from the second copy with `--context`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::{
    Kind, TestResult, assert_one_clear_error, copy_sources, docker, docker_ok, engine, remember,
    standins, text, unique, xtask,
};

/// Removes a directory when the test ends, however it ends.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn offline_build(context: &Path, tag: &str) -> std::process::Output {
    let context = context.display().to_string();
    xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--offline",
            "--context",
            &context,
            "--base-images",
            "standin",
            "--progress",
            "plain",
            "--tag",
            tag,
        ],
        &[],
    )
}

pub fn vendored_copy_builds_with_no_network() -> TestResult {
    if !engine("vendored_copy_builds_with_no_network")? {
        return Ok(());
    }
    standins()?;
    let dir = std::env::temp_dir().join(unique("offline"));
    let _remove = RemoveDir(dir.clone());
    let first = dir.join("first");
    let files = copy_sources(&first)?;
    // A source change of this run's own, so the compile step really runs (an identical context
    // would come from the layer cache, and prove nothing about this build's network).
    let edited = first.join("crates/cv-web/src/lib.rs");
    let mut source = std::fs::read_to_string(&edited).map_err(|e| e.to_string())?;
    source.push_str(&format!("// {}\n", unique("offline-source-change")));
    std::fs::write(&edited, source).map_err(|e| e.to_string())?;
    let tag = format!("{}:e2e", unique("offline"));
    remember(Kind::Image, &tag);

    // Without vendor/: refused before any step (no plan printed, nothing run, nothing tagged).
    let started = Instant::now();
    let refused = offline_build(&first, &tag);
    let refused_in = started.elapsed().as_secs_f64();
    assert_one_clear_error(
        &refused,
        "vendor/ is missing; run `cargo xtask vendor --manifest-path",
        &tag,
    )?;
    let stderr = text(&refused.stderr);
    if stderr.contains("plan:") || stderr.contains("[1/") {
        return Err(format!("a step ran before the vendor check:\n{stderr}"));
    }
    if refused_in > 10.0 {
        return Err(format!(
            "the refusal took {refused_in:.1} s; it must come first"
        ));
    }

    let manifest = first.join("Cargo.toml").display().to_string();
    let vendored = xtask(&["vendor", "--manifest-path", &manifest], &[]);
    if !vendored.status.success() {
        return Err(format!(
            "cargo xtask vendor failed:\n{}",
            text(&vendored.stderr)
        ));
    }

    // Another path, the first one gone: the tree holds nothing absolute.
    let second = dir.join("elsewhere/second");
    std::fs::create_dir_all(second.parent().unwrap_or(&dir)).map_err(|e| e.to_string())?;
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&first)
        .arg(&second)
        .status()
        .map_err(|e| e.to_string())?;
    if !copied.success() {
        return Err("cp -a of the vendored copy failed".into());
    }
    std::fs::remove_dir_all(&first).map_err(|e| e.to_string())?;

    let started = Instant::now();
    let built = offline_build(&second, &tag);
    let seconds = started.elapsed().as_secs_f64();
    let (stdout, stderr) = (text(&built.stdout), text(&built.stderr));
    if !built.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!("the offline build failed:\n{}", tail.join("\n")));
    }
    let want = [
        // The whole build cut off from the network, crates from vendor/.
        "--network none",
        "--build-arg DEPENDENCIES=vendor",
        // The compile step saw no interface but loopback...
        "offline: no network interface but loopback",
        // ...and its fresh cargo home holds no index, crate or git checkout afterwards.
        "nothing fetched (no registry/, no git/)",
        "built: cv 0.1.0",
    ];
    for line in want {
        if !stderr.contains(line) {
            return Err(format!("the build log lacks {line:?}:\n{stderr}"));
        }
    }
    for fetching in ["Updating crates.io index", "Downloading", "Downloaded"] {
        if stderr.contains(fetching) {
            return Err(format!(
                "the offline build fetched ({fetching:?}):\n{stderr}"
            ));
        }
    }

    // The image is the real thing: the binary runs, and carries its dependency list.
    let version = docker_ok(&["run", "--rm", &tag, "--version"])?;
    if !version.starts_with("cv 0.1.0") {
        return Err(format!("the image's cv --version said {version:?}"));
    }
    let container = unique("offline-cp");
    remember(Kind::Container, &container);
    docker_ok(&["create", "--name", &container, &tag])?;
    let binary = dir.join("cv");
    let from = format!("{container}:/usr/local/bin/cv");
    let cp = docker_ok(&["cp", &from, &binary.display().to_string()]);
    let _ = docker(&["rm", "--force", &container]);
    cp?;
    let bytes = std::fs::read(&binary).map_err(|e| e.to_string())?;
    if !bytes.windows(7).any(|w| w == b".dep-v0") {
        return Err("the binary has no .dep-v0 section (not built with cargo auditable)".into());
    }
    eprintln!(
        "figure (offline test): refused without vendor/ in {refused_in:.1} s; minimal image \
         built offline from a moved, vendored copy ({files} files) in {seconds:.0} s\n{stdout}"
    );
    let _ = docker(&["image", "rm", "--force", &tag]);
    Ok(())
}
