//! `cargo xtask bench` on the shared minimal image: the noop rebuild and the startup scenario,
//! read back from its JSON and checked against what the engine itself says. (Its source-change
//! scenario is the rebuild test's procedure; running both would cost two more builds.)

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    CA_BUNDLE, TestResult, docker_ok, engine, minimal_image, text, tree_fingerprint, unique, xtask,
};

pub fn noop_and_startup_figures_match_the_engine() -> TestResult {
    if !engine("noop_and_startup_figures_match_the_engine")? {
        return Ok(());
    }
    let built = minimal_image()?;
    let out_file = std::env::temp_dir().join(format!("{}.json", unique("bench")));
    let tree = tree_fingerprint();
    let id_before = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &built.image])?;
    let out = xtask(
        &[
            "bench",
            "--mode",
            "minimal",
            "--scenario",
            "noop,startup",
            "--tag",
            &built.image,
            "--base-images",
            "standin",
            "--ca-bundle",
            CA_BUNDLE,
            "--requests",
            "50",
            "--json",
            "--out",
            out_file.to_str().unwrap_or_default(),
        ],
        &[],
    );
    let written = std::fs::read_to_string(&out_file);
    let _ = std::fs::remove_file(&out_file);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if !out.status.success() {
        return Err(format!("bench failed:\n{stderr}"));
    }
    let report: Value = serde_json::from_str(&stdout)
        .map_err(|e| format!("stdout is not JSON only ({e}):\n{stdout}"))?;
    let written: Value = serde_json::from_str(&written.map_err(|e| format!("--out: {e}"))?)
        .map_err(|e| format!("--out is not JSON: {e}"))?;
    if written != report {
        return Err("the --out file differs from what stdout printed".into());
    }
    eprintln!("figure (bench e2e): {report}");

    for (key, want) in [("format", Value::from(1)), ("mode", Value::from("minimal"))] {
        if report[key] != want {
            return Err(format!("{key} is {}, want {want}", report[key]));
        }
    }
    if report["machine"]["storage_driver"] != "vfs" || report["machine"]["cpus"].as_u64() < Some(1)
    {
        return Err(format!(
            "machine is not this machine: {}",
            report["machine"]
        ));
    }
    let results = report["results"].as_array().ok_or("no results array")?;
    let [noop, startup] = &results[..] else {
        return Err(format!("want 2 results, got {}", results.len()));
    };

    // The noop rebuild: the image the engine holds under the tag, every step from cache.
    if noop["scenario"] != "noop" {
        return Err(format!("first result is {}", noop["scenario"]));
    }
    let size: u64 = docker_ok(&["image", "inspect", "--format", "{{.Size}}", &built.image])?
        .parse()
        .map_err(|e| format!("image size: {e}"))?;
    if noop["image_bytes"].as_u64() != Some(size) {
        return Err(format!(
            "bench says {} bytes, the engine {size}",
            noop["image_bytes"]
        ));
    }
    if tree == built.tree && tree_fingerprint() == tree {
        if noop["steps_cached"] != noop["steps_total"] || noop["steps_total"].as_u64() < Some(1) {
            return Err(format!("an unchanged tree was not all cached: {noop}"));
        }
        if noop["compiled"].as_array().is_none_or(|c| !c.is_empty()) {
            return Err(format!(
                "a noop rebuild compiled crates: {}",
                noop["compiled"]
            ));
        }
        // The created label comes from the commit, not the clock: the same commit built twice
        // is the same image, and the first is not left dangling.
        let id_after = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &built.image])?;
        if id_after != id_before {
            return Err(format!(
                "a noop rebuild made a new image ({id_before} became {id_after})"
            ));
        }
    }
    if !noop["binary"]
        .as_str()
        .is_some_and(|b| b.contains("static"))
    {
        return Err(format!("binary not verified: {}", noop["binary"]));
    }

    // Startup: plausible bounds that a broken measurement (zeros, a wrong unit) would miss.
    if startup["scenario"] != "startup" {
        return Err(format!("second result is {}", startup["scenario"]));
    }
    let number = |key: &str| startup[key].as_f64().unwrap_or(-1.0);
    let checks = [
        (
            "seconds_to_healthy",
            number("seconds_to_healthy") > 0.0 && number("seconds_to_healthy") < 60.0,
        ),
        ("requests", startup["requests"] == 50),
        // The CV page with the example résumé is several kB.
        ("page_bytes", number("page_bytes") > 2000.0),
        (
            "page_ms_p50",
            number("page_ms_p50") > 0.0 && number("page_ms_p50") <= number("page_ms_p95"),
        ),
        // A static server's RSS: above 100 kB, far below 100 MB.
        (
            "memory_bytes",
            number("memory_bytes") > 1e5 && number("memory_bytes") < 1e8,
        ),
        // The image handles SIGTERM itself (docker stop would otherwise wait 10 s).
        (
            "stop_seconds",
            number("stop_seconds") > 0.0 && number("stop_seconds") < 5.0,
        ),
    ];
    for (key, ok) in checks {
        if !ok {
            return Err(format!("implausible {key}: {startup}"));
        }
    }

    // Nothing left running: the container is removed however the scenario ends.
    std::thread::sleep(Duration::from_millis(200));
    let left = docker_ok(&["ps", "--all", "--quiet", "--filter", "name=cv-bench-"])?;
    if !left.is_empty() {
        return Err(format!("bench left containers behind: {left}"));
    }
    Ok(())
}

/// Bad flags are refused before any build, with one clear line.
pub fn bad_flags_are_refused_before_any_build() -> TestResult {
    let out = xtask(&["bench", "--mode", "dev"], &[]);
    if out.status.code() != Some(2) || !text(&out.stderr).contains("invalid value 'dev'") {
        return Err(format!(
            "--mode dev: exit {:?}\n{}",
            out.status.code(),
            text(&out.stderr)
        ));
    }
    let out = xtask(
        &["bench", "--ca-bundle", "/nonexistent/ca.pem", "--json"],
        &[("CV_BASE_IMAGES", "standin")],
    );
    let stderr = text(&out.stderr);
    if out.status.code() != Some(1)
        || !stderr.contains("CA bundle /nonexistent/ca.pem does not exist")
        || stderr.contains("bench: [1/")
        || !out.stdout.is_empty()
    {
        return Err(format!(
            "--ca-bundle missing: exit {:?}\n{stderr}",
            out.status.code()
        ));
    }
    Ok(())
}
