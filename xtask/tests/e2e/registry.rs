//! Pushing: to the local registry scripts/setup-machine.sh runs on 127.0.0.1:5000, and to an
//! address nobody listens on, where the push must be retried and then fail.

use crate::support::{
    Kind, REGISTRY, TestResult, build_on_standins, engine, engine_and_registry, minimal_image,
    registry_lists, remember, text, unique,
};

pub fn push_to_the_local_registry() -> TestResult {
    if !engine_and_registry("push_to_the_local_registry")? {
        return Ok(());
    }
    minimal_image()?;
    let (repository, tag) = (unique("push"), "e2e");
    let image = format!("{repository}:{tag}");
    remember(Kind::Image, &image);
    remember(Kind::Image, &format!("{REGISTRY}/{image}"));
    let out = build_on_standins("minimal", &image, &["--registry", REGISTRY, "--push"]);
    let stdout = text(&out.stdout);
    if !out.status.success() {
        return Err(format!("push failed:\n{}", text(&out.stderr)));
    }
    let digest_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("digest"))
        .unwrap_or("");
    if !digest_line.contains(&format!("{REGISTRY}/{repository}@sha256:")) {
        return Err(format!("summary shows no registry digest:\n{stdout}"));
    }
    let (listed, answer) = registry_lists(&repository, tag)?;
    if !listed {
        return Err(format!("the registry does not list {tag}: {answer}"));
    }
    Ok(())
}

pub fn push_to_a_dead_registry_is_retried_then_fails() -> TestResult {
    if !engine("push_to_a_dead_registry_is_retried_then_fails")? {
        return Ok(());
    }
    // A one-file image FROM scratch: what is pushed does not matter, only that nobody takes it.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dockerfile = crate::faults::dockerfile(dir.path(), "scratch")?;
    let image = format!("{}:e2e", unique("deadpush"));
    remember(Kind::Image, &image);
    // Bind a port and close it again: nobody listens there now, and every attempt is refused,
    // a transient error.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .to_string();
    remember(Kind::Image, &format!("{dead}/{image}"));
    let started = std::time::Instant::now();
    let out = crate::faults::xtask_docker(&dockerfile, &image, &["--registry", &dead, "--push"]);
    let stderr = text(&out.stderr);
    if out.status.success() {
        return Err("a push to a dead registry succeeded".into());
    }
    let retries = stderr
        .lines()
        .filter(|l| l.starts_with("retry: push of") && l.contains("(connection refused)"))
        .count();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    if retries != 2
        || errors.len() != 1
        || !errors[0].contains("failed 3 times")
        || !errors[0].contains("connection refused")
    {
        return Err(format!(
            "want 2 retries and one final error, got {retries} retries:\n{stderr}"
        ));
    }
    eprintln!(
        "dead registry: 3 attempts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
