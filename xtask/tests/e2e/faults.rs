//! Fault injection on loopback with the real Docker Engine: the fault server as a proxy in front
//! of the local registry (127.0.0.1:5000), through which `cargo xtask docker` pulls a base image
//! and pushes its result. For each fault: fewer faulted requests than the retry budget end in
//! success, as many in one clear failure; a missing image (404) is tried exactly once. Attempts
//! are counted by the proxy and from xtask's `retry:` lines.
//!
//! The Docker daemon retries some things itself; `daemon_retries_as_documented` measures that
//! on raw `docker push`/`docker pull` so that the counts below are explained, not guessed.

#[path = "../support/faulty.rs"]
mod faulty;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use faulty::{Backend, Fault, Faulty};

use crate::support::{
    Kind, REGISTRY, TestResult, docker, docker_ok, engine_and_registry, registry_lists, remember,
    text, unique, xtask,
};

fn registry_addr() -> SocketAddr {
    REGISTRY.parse().expect("a socket address")
}

/// A one-file image (`docker import`, no build), pushed straight to the registry once per run:
/// what the pull tests pull through the proxy. Returns its repository name there.
fn seeded_base() -> Result<&'static str, String> {
    static SEEDED: OnceLock<Result<String, String>> = OnceLock::new();
    SEEDED
        .get_or_init(|| {
            let name = unique("faults-base");
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            std::fs::write(dir.path().join("hello.txt"), "hello from a fault test\n")
                .map_err(|e| e.to_string())?;
            let tar = dir.path().join("root.tar");
            let out = std::process::Command::new("tar")
                .arg("-cf")
                .arg(&tar)
                .arg("-C")
                .arg(dir.path())
                .arg("hello.txt")
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("tar failed: {}", text(&out.stderr)));
            }
            let local = format!("{name}:1");
            let remote = format!("{REGISTRY}/{name}:1");
            remember(Kind::Image, &local);
            remember(Kind::Image, &remote);
            docker_ok(&["import", &tar.display().to_string(), &local])?;
            docker_ok(&["tag", &local, &remote])?;
            docker_ok(&["push", &remote])?;
            Ok(name)
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// A Dockerfile in its own directory that starts from `from` and adds one small file.
pub fn dockerfile(dir: &Path, from: &str) -> Result<String, String> {
    let path = dir.join("Dockerfile");
    std::fs::write(&path, format!("FROM {from}\nCOPY Cargo.toml /marker\n"))
        .map_err(|e| e.to_string())?;
    Ok(path.display().to_string())
}

/// `cargo xtask docker` on a tiny Dockerfile, with three attempts per network step.
pub fn xtask_docker(dockerfile: &str, tag: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "docker",
        "--mode",
        "minimal",
        "--dockerfile",
        dockerfile,
        "--tag",
        tag,
        "--retry-attempts",
        "3",
        "--retry-max-time",
        "120",
    ];
    args.extend(extra);
    xtask(&args, &[])
}

fn retry_lines(stderr: &str, what: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.starts_with(&format!("retry: {what}")))
        .count()
}

/// The faults a registry proxy can do to Docker. (A delay only makes Docker wait: the daemon's
/// registry client has no response timeout shorter than minutes.)
const FAULTS: [Fault; 3] = [Fault::Status(503), Fault::Reset, Fault::Drop];

/// Faulted manifest requests one failed pull attempt costs: on a 503 to its `HEAD` the daemon
/// falls back to a `GET` (measured in [`daemon_retries_as_documented`]); a reset or a dropped
/// connection fails the pull at once.
fn per_pull_attempt(fault: Fault) -> usize {
    match fault {
        Fault::Status(_) => 2,
        _ => 1,
    }
}

/// Each `docker pull`/`docker push` starts with one `GET /v2/`: the proxy's count of them is the
/// number of attempts the engine saw.
fn pings(proxy: &Faulty) -> usize {
    proxy
        .log()
        .iter()
        .filter(|l| l.starts_with("GET /v2/ ->"))
        .count()
}

fn proxy(fault: Fault, first: usize) -> Result<Faulty, String> {
    // Only manifest requests are faulted: the daemon retries neither a manifest GET nor a
    // manifest PUT, so each faulted one costs xtask an attempt.
    Faulty::start_only(
        Backend::Proxy(registry_addr()),
        fault,
        first,
        Some("/manifests/"),
    )
    .map_err(|e| e.to_string())
}

/// Runs the xtask to build FROM an image that is pulled through a proxy with `fault` on its
/// first `first` manifest requests. Returns the proxy and the run's output.
fn pull_through(
    fault: Fault,
    first: usize,
    image: &str,
) -> Result<(Faulty, std::process::Output, String), String> {
    let proxy = proxy(fault, first)?;
    let from = format!("{}/{image}", proxy.addr());
    remember(Kind::Image, &from);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dockerfile(dir.path(), &from)?;
    let tag = format!(
        "{}:1",
        unique(&format!("faults-pulled-{}", proxy.addr().port()))
    );
    remember(Kind::Image, &tag);
    let out = xtask_docker(&file, &tag, &[]);
    let _ = docker(&["image", "rm", &from]);
    Ok((proxy, out, tag))
}

pub fn pull_survives_faults_below_the_budget() -> TestResult {
    if !engine_and_registry("faults::pull_survives_faults_below_the_budget")? {
        return Ok(());
    }
    let base = seeded_base()?;
    for fault in FAULTS {
        let first = 2 * per_pull_attempt(fault);
        let (proxy, out, tag) = pull_through(fault, first, &format!("{base}:1"))?;
        let stderr = text(&out.stderr);
        let log = proxy.log();
        if !out.status.success() {
            return Err(format!("{fault:?}: the build failed:\n{stderr}\n{log:#?}"));
        }
        let retries = retry_lines(&stderr, "pull of");
        // Two failed attempts, then one whole pull: the manifest's HEAD, and its GET unless
        // the engine already holds that digest (it does after the first fault kind).
        let manifests = proxy.requests_to("/manifests/");
        let whole = manifests.saturating_sub(first);
        if retries != 2
            || pings(&proxy) != 3
            || proxy.faulted() != first
            || !(1..=2).contains(&whole)
        {
            return Err(format!(
                "{fault:?}: want 2 retries, 3 attempts, {first} faulted and 1-2 more manifest \
                 requests; got {retries}, {}, {} and {whole}:\n{stderr}\n{log:#?}",
                pings(&proxy),
                proxy.faulted()
            ));
        }
        docker_ok(&["image", "inspect", &tag])?;
    }
    Ok(())
}

pub fn pull_fails_once_clearly_at_the_budget() -> TestResult {
    if !engine_and_registry("faults::pull_fails_once_clearly_at_the_budget")? {
        return Ok(());
    }
    let base = seeded_base()?;
    for fault in FAULTS {
        let first = 3 * per_pull_attempt(fault);
        let (proxy, out, tag) = pull_through(fault, first, &format!("{base}:1"))?;
        let stderr = text(&out.stderr);
        let log = proxy.log();
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        let clear = errors.len() == 1
            && errors[0].contains("pull of ")
            && errors[0].contains("failed 3 times")
            && errors[0].contains("all 3 attempts used");
        if out.status.success() || !clear {
            return Err(format!("{fault:?}: want one clear error:\n{stderr}"));
        }
        let retries = retry_lines(&stderr, "pull of");
        if retries != 2 || pings(&proxy) != 3 || proxy.requests_to("/manifests/") != first {
            return Err(format!(
                "{fault:?}: want 2 retries and 3 attempts, got {retries} and {}:\n{log:#?}",
                pings(&proxy)
            ));
        }
        if stderr.contains("] $ DOCKER_BUILDKIT=1") || crate::support::image_exists(&tag) {
            return Err(format!("{fault:?}: the build ran anyway:\n{stderr}"));
        }
    }
    Ok(())
}

pub fn pull_of_a_missing_image_is_tried_once() -> TestResult {
    if !engine_and_registry("faults::pull_of_a_missing_image_is_tried_once")? {
        return Ok(());
    }
    let missing = format!("{}:1", unique("faults-missing"));
    let (proxy, out, _) = pull_through(Fault::Status(503), 0, &missing)?;
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    if out.status.success()
        || errors.len() != 1
        || !errors[0].contains("not found; not retried")
        || retry_lines(&stderr, "") != 0
        || pings(&proxy) != 1
    {
        return Err(format!(
            "want one attempt and one clear error, got {} attempts:\n{stderr}\n{:#?}",
            pings(&proxy),
            proxy.log()
        ));
    }
    Ok(())
}

/// Builds a one-file image FROM scratch (nothing to pull) and pushes it through a proxy with
/// `fault` on its first `first` manifest requests.
fn push_through(
    fault: Fault,
    first: usize,
) -> Result<(Faulty, std::process::Output, String), String> {
    let proxy = proxy(fault, first)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dockerfile(dir.path(), "scratch")?;
    let repository = unique(&format!("faults-push-{}", proxy.addr().port()));
    let tag = format!("{repository}:1");
    remember(Kind::Image, &tag);
    let registry = proxy.addr().to_string();
    remember(Kind::Image, &format!("{registry}/{tag}"));
    let out = xtask_docker(&file, &tag, &["--registry", &registry, "--push"]);
    Ok((proxy, out, repository))
}

pub fn push_survives_faults_below_the_budget() -> TestResult {
    if !engine_and_registry("faults::push_survives_faults_below_the_budget")? {
        return Ok(());
    }
    for fault in FAULTS {
        let (proxy, out, repository) = push_through(fault, 2)?;
        let stderr = text(&out.stderr);
        let log = proxy.log();
        if !out.status.success() {
            return Err(format!("{fault:?}: the push failed:\n{stderr}\n{log:#?}"));
        }
        let retries = retry_lines(&stderr, "push of");
        if retries != 2 || pings(&proxy) != 3 || proxy.faulted() != 2 {
            return Err(format!(
                "{fault:?}: want 2 retries, 3 attempts; got {retries}, {}:\n{stderr}\n{log:#?}",
                pings(&proxy)
            ));
        }
        let (listed, answer) = registry_lists(&repository, "1")?;
        if !listed {
            return Err(format!("{fault:?}: the registry lacks the tag: {answer}"));
        }
    }
    Ok(())
}

pub fn push_fails_once_clearly_at_the_budget() -> TestResult {
    if !engine_and_registry("faults::push_fails_once_clearly_at_the_budget")? {
        return Ok(());
    }
    for fault in FAULTS {
        let (proxy, out, _) = push_through(fault, 3)?;
        let stderr = text(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        let clear = errors.len() == 1
            && errors[0].contains("push of ")
            && errors[0].contains("failed 3 times");
        let retries = retry_lines(&stderr, "push of");
        if out.status.success() || !clear || retries != 2 || pings(&proxy) != 3 {
            return Err(format!(
                "{fault:?}: want one clear error after 3 attempts, got {} attempts:\n{stderr}",
                pings(&proxy)
            ));
        }
    }
    Ok(())
}

/// The daemon's own retries, measured on raw `docker pull`/`docker push` through the proxy,
/// which the counts above rely on (Docker 20.10): a 503 to a manifest HEAD is followed by a
/// GET; a reset manifest request fails the pull; a failed layer upload is retried by the
/// daemon after 5 s (then 10, 15, 20 s: five uploads in all); a failed manifest PUT is not.
pub fn daemon_retries_as_documented() -> TestResult {
    if !engine_and_registry("faults::daemon_retries_as_documented")? {
        return Ok(());
    }
    let base = seeded_base()?;
    let pull = |fault: Fault| -> Result<(bool, Faulty), String> {
        let proxy = proxy(fault, 1)?;
        let remote = format!("{}/{base}:1", proxy.addr());
        remember(Kind::Image, &remote);
        let out = docker(&["pull", &remote]).map_err(|e| e.to_string())?;
        let _ = docker(&["image", "rm", &remote]);
        Ok((out.status.success(), proxy))
    };
    let (ok, p) = pull(Fault::Status(503))?;
    if !ok || p.requests_to("/manifests/") != 3 {
        return Err(format!("a 503 to the manifest HEAD: {ok}, {:#?}", p.log()));
    }
    let (ok, p) = pull(Fault::Reset)?;
    if ok || p.requests_to("/manifests/") != 1 {
        return Err(format!("a reset manifest HEAD: {ok}, {:#?}", p.log()));
    }

    let push = |only: &str| -> Result<(bool, f64, Faulty), String> {
        let proxy =
            Faulty::start_only(Backend::Proxy(registry_addr()), Fault::Reset, 1, Some(only))
                .map_err(|e| e.to_string())?;
        let target = format!(
            "{}/{}:1",
            proxy.addr(),
            unique(&format!("faults-daemon-{}", proxy.addr().port()))
        );
        remember(Kind::Image, &target);
        docker_ok(&["tag", &format!("{base}:1"), &target])?;
        let started = Instant::now();
        let out = docker(&["push", &target]).map_err(|e| e.to_string())?;
        let _ = docker(&["image", "rm", &target]);
        Ok((out.status.success(), started.elapsed().as_secs_f64(), proxy))
    };
    let (ok, seconds, p) = push("/blobs/uploads/")?;
    if !ok || seconds < 4.5 {
        return Err(format!(
            "a reset layer upload: want the daemon to retry it after ~5 s; {ok} in {seconds:.1} s: {:#?}",
            p.log()
        ));
    }
    let (ok, _, p) = push("/manifests/")?;
    if ok {
        return Err(format!(
            "a reset manifest PUT was retried by the daemon: {:#?}",
            p.log()
        ));
    }
    eprintln!(
        "daemon: a reset layer upload cost the push {seconds:.1} s of the daemon's own waiting"
    );
    Ok(())
}
