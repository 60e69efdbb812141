//! Bakes the git revision into the binary for `cv --version` and `cv_build_info`.
//!
//! Order: `CV_GIT_REVISION` from the build environment (Docker builds pass it as a build arg,
//! since the context has no `.git`), else `git rev-parse --short HEAD`, else `unknown`, so a
//! build from a source tarball still works.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CV_GIT_REVISION");
    println!("cargo:rerun-if-changed=build.rs");
    let revision = std::env::var("CV_GIT_REVISION")
        .ok()
        .map(|rev| rev.trim().to_owned())
        .filter(|rev| !rev.is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CV_BUILD_REVISION={revision}");
}

fn git_revision() -> Option<String> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    // Arguments, not a shell string; a missing git binary is simply "no revision".
    let output = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(&manifest_dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let revision = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    watch_git_head(Path::new(&manifest_dir));
    (!revision.is_empty()).then_some(revision)
}

/// Rebuilds when HEAD moves. Only files that exist are named: cargo reruns the script on every
/// build when a watched path is missing.
fn watch_git_head(manifest_dir: &Path) {
    let Some(git_dir) = manifest_dir
        .ancestors()
        .map(|dir| dir.join(".git"))
        .find(|dir| dir.is_dir())
    else {
        return;
    };
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(reference) = text.trim().strip_prefix("ref: ")
    {
        let ref_file = git_dir.join(reference);
        if ref_file.exists() {
            println!("cargo:rerun-if-changed={}", ref_file.display());
        }
    }
    let packed = git_dir.join("packed-refs");
    if packed.exists() {
        println!("cargo:rerun-if-changed={}", packed.display());
    }
}
