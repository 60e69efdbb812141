//! Issue 3: "A rebuild after a source-only change reuses the dependency layer (cached steps
//! counted) and is timed next to the clean build." The workspace's files (as git lists them, so
//! no target/) are copied to a directory of their own, the minimal image is built from there with
//! `--context`, one comment line is appended to a source file of crates/cv-web, and it is built
//! again. The dependencies must not be compiled again; both durations are printed as a figure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::{
    Built, CANARY_SECRET_ID, CANARY_USED_LINE, Kind, TestResult, assert_canary_nowhere,
    build_on_standins, copy_sources, docker, engine, new_canary, remember, standins, text, unique,
};

/// Dependencies the workspace's crates pull in: none of them may be compiled by the rebuild.
const DEPENDENCIES: &[&str] = &[
    "tokio",
    "hyper",
    "axum",
    "rusqlite",
    "libsqlite3-sys",
    "serde",
    "serde_json",
    "askama",
    "tracing",
    "rustls",
    "ring",
    "pulldown-cmark",
];

/// One `cargo xtask docker --mode minimal --context DIR` run, with a canary secret.
fn build(context: &Path, image: &str, canary_file: &Path) -> Result<(String, String, f64), String> {
    remember(Kind::Image, image);
    let context = context.display().to_string();
    let secret = format!("id={CANARY_SECRET_ID},src={}", canary_file.display());
    let started = Instant::now();
    let out = build_on_standins(
        "minimal",
        image,
        &["--context", &context, "--secret", &secret],
    );
    let seconds = started.elapsed().as_secs_f64();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!("building {image} failed:\n{}", tail.join("\n")));
    }
    Ok((stdout, stderr, seconds))
}

/// `cached      N of M steps` from a summary.
fn cached_steps(summary: &str) -> Result<(usize, usize), String> {
    let line = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("cached"))
        .ok_or_else(|| format!("the summary has no cached line:\n{summary}"))?;
    let numbers: Vec<usize> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [cached, total] => Ok((cached, total)),
        _ => Err(format!("cannot read the cached line {line:?}")),
    }
}

/// The crates cargo compiled, from a build log (`Compiling NAME vX.Y.Z`).
fn compiled(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once("Compiling ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn source_change_reuses_the_dependency_layer() -> TestResult {
    if !engine("source_change_reuses_the_dependency_layer")? {
        return Ok(());
    }
    // Not the shared image: its build would add two more 1.3 GB vfs snapshots when this test
    // runs alone. The first build below warms what the second one reuses.
    standins()?;
    let dir = std::env::temp_dir().join(unique("rebuild"));
    let _remove = RemoveDir(dir.clone());
    let context = dir.join("src");
    let files = copy_sources(&context)?;
    let canary = new_canary();
    let canary_file = dir.join("canary");
    std::fs::write(&canary_file, &canary).map_err(|e| e.to_string())?;

    let first_image = format!("{}:first", unique("rebuild"));
    let (_, first_log, first_seconds) = build(&context, &first_image, &canary_file)?;

    let edited = context.join("crates/cv-web/src/lib.rs");
    let mut source = std::fs::read_to_string(&edited).map_err(|e| e.to_string())?;
    source.push_str("// cv-test: a source-only change for the rebuild test\n");
    std::fs::write(&edited, source).map_err(|e| e.to_string())?;

    let second_image = format!("{}:second", unique("rebuild"));
    let result = build(&context, &second_image, &canary_file).and_then(|(stdout, stderr, seconds)| {
        let (cached, total) = cached_steps(&stdout)?;
        let crates = compiled(&stderr);
        eprintln!(
            "figure (rebuild test, {}): minimal image from a copy of the workspace ({files} \
             files), cache mounts warm: first build {first_seconds:.0} s ({} crates compiled); \
             after one comment line in crates/cv-web: {seconds:.0} s, {cached} of {total} steps \
             cached, compiled {crates:?}",
            today(),
            compiled(&first_log).len(),
        );
        if cached == 0 {
            return Err(format!("the rebuild reused no step: 0 of {total} cached"));
        }
        for want in ["cv-web", "cv"] {
            if !crates.iter().any(|c| c == want) {
                return Err(format!("the rebuild did not compile {want}: {crates:?}"));
            }
        }
        let again: Vec<&String> = crates
            .iter()
            .filter(|c| DEPENDENCIES.contains(&c.as_str()))
            .collect();
        if !again.is_empty() {
            return Err(format!("the rebuild compiled dependencies again: {again:?}"));
        }
        // This step surely ran (its input changed), so here the secret mount is proven.
        if !stderr.contains(CANARY_USED_LINE) {
            return Err(format!(
                "the compile step did not see secret {CANARY_SECRET_ID} (no {CANARY_USED_LINE:?})"
            ));
        }
        assert_canary_nowhere(&Built {
            image: second_image.clone(),
            stdout,
            stderr,
            seconds,
            canary: canary.clone(),
            revision: "unknown".into(),
            tree: String::new(),
        })
    });
    for image in [&first_image, &second_image] {
        let _ = docker(&["image", "rm", "--force", image]);
    }
    result
}

/// Today's date (UTC) for the printed figure.
fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| text(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
