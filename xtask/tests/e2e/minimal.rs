//! The minimal image, built once by the real `cargo xtask docker` and checked on the real
//! engine: issue 3's "Must show" list, as far as this image goes.

use std::time::{Duration, Instant};

use crate::support::{
    Built, Container, Kind, TestResult, assert_canary_nowhere, build_on_standins, docker,
    docker_ok, engine, http, minimal_image, remember, sample_resume, text, tree_fingerprint,
    unique,
};

const SERVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Skips (or, under CI, fails) without an engine; otherwise yields the shared image.
macro_rules! image {
    ($test:literal) => {{
        if !engine($test)? {
            return Ok(());
        }
        minimal_image()?
    }};
}

/// The machine's architecture in OCI's words.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn builds_with_a_summary() -> TestResult {
    let built = image!("builds_with_a_summary");
    let summary = &built.stdout;
    for want in [
        format!("image       {}", built.image),
        "user        65532:65532".to_owned(),
        format!("binary      /usr/local/bin/cv: ELF {}, static", host_arch()),
        format!("platform    linux/{}", host_arch()),
        format!("labels      version 0.1.0, revision {}", built.revision),
    ] {
        if !summary.contains(&want) {
            return Err(format!("summary lacks {want:?}:\n{summary}"));
        }
    }
    if !summary
        .lines()
        .any(|l| l.trim_start().starts_with("cached") && l.contains(" of "))
    {
        return Err(format!("summary counts no cached steps:\n{summary}"));
    }
    // Every command is printed before it runs.
    if !built.stderr.contains("$ DOCKER_BUILDKIT=1 ") && !built.stderr.contains("buildx build") {
        return Err("the build command was not printed".into());
    }
    eprintln!("minimal image built in {:.0} s", built.seconds);
    Ok(())
}

pub fn binary_is_the_real_one() -> TestResult {
    check_binary_is_the_real_one(image!("binary_is_the_real_one"))
}

/// Also run on the prod image.
pub fn check_binary_is_the_real_one(built: &Built) -> TestResult {
    let out = docker_ok(&["run", "--rm", &built.image, "--version"])?;
    let want = format!("cv 0.1.0 ({})", built.revision);
    if out != want {
        return Err(format!(
            "`cv --version` in the image says {out:?}, want {want:?}"
        ));
    }
    Ok(())
}

pub fn has_no_shell() -> TestResult {
    let built = image!("has_no_shell");
    for shell in ["/bin/sh", "/bin/busybox", "/bin/bash"] {
        let name = unique("shell");
        remember(Kind::Container, &name);
        let out = docker(&[
            "run",
            "--rm",
            "--name",
            &name,
            "--entrypoint",
            shell,
            &built.image,
            "-c",
            "true",
        ])
        .map_err(|e| e.to_string())?;
        if out.status.success() {
            return Err(format!("{shell} ran inside the image"));
        }
    }
    // And from the other side: list every file in the image's filesystem.
    let name = unique("export");
    remember(Kind::Container, &name);
    docker_ok(&["create", "--name", &name, &built.image])?;
    let exported = docker(&["export", &name]).map_err(|e| e.to_string())?;
    let _ = docker(&["rm", "--volumes", &name]);
    let files = tar_names(&exported.stdout);
    let shells: Vec<&String> = files
        .iter()
        .filter(|f| ["sh", "bash", "busybox", "ash"].contains(&f.rsplit('/').next().unwrap_or("")))
        .collect();
    if !shells.is_empty() {
        return Err(format!("shells in the image: {shells:?}"));
    }
    eprintln!("minimal image holds {} entries: {files:?}", files.len());
    Ok(())
}

/// Entry names of a tar stream (enough of the format for `docker export`'s plain ustar).
fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let field = |range: std::ops::Range<usize>| {
            let raw = &header[range];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).trim().to_owned()
        };
        let (prefix, name) = (field(345..500), field(0..100));
        names.push(if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        });
        let size = u64::from_str_radix(&field(124..136), 8).unwrap_or(0) as usize;
        at += 512 + size.div_ceil(512) * 512;
    }
    names
}

pub fn runs_as_65532_serves_the_cv_and_turns_healthy() -> TestResult {
    check_serves_as_65532_and_turns_healthy(image!("runs_as_65532_serves_the_cv_and_turns_healthy"))
}

/// Also run on the prod image.
pub fn check_serves_as_65532_and_turns_healthy(built: &Built) -> TestResult {
    let sample = sample_resume()?;
    let name = per_image(built, "serve");
    let mount;
    let mut options = vec!["--publish", "127.0.0.1::8080"];
    if let Some((path, _)) = &sample {
        mount = format!("{}:/cv/resume.json:ro", path.display());
        options.extend(["--volume", &mount, "--env", "CV_RESUME=/cv/resume.json"]);
    }
    let container = Container::start(&name, &options, &built.image, &[])?;
    let addr = container.wait_serving(SERVE_TIMEOUT)?;

    let uid = docker_ok(&["top", &name, "-o", "pid,uid"])?;
    let uids: Vec<&str> = uid
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    if uids.is_empty() || uids.iter().any(|u| *u != "65532") {
        return Err(format!("processes not all uid 65532:\n{uid}"));
    }
    let healthz = http(&addr, "GET", "/healthz", &[], "")?;
    if healthz.status != 200 {
        return Err(format!("/healthz answered {}", healthz.status));
    }
    let page = http(&addr, "GET", "/", &[], "")?;
    let want = match &sample {
        Some((_, name)) => name.clone(),
        None => "<html".to_owned(),
    };
    if page.status != 200 || !page.body.contains(&want) {
        return Err(format!("`/` answered {} without {want:?}", page.status));
    }

    // The image's own HEALTHCHECK (interval as the Dockerfile sets it) must turn healthy.
    let started = Instant::now();
    loop {
        let state = docker_ok(&[
            "inspect",
            "--format",
            "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
            &name,
        ])?;
        match state.as_str() {
            "healthy" => break,
            "none" => return Err("the image has no HEALTHCHECK".into()),
            "unhealthy" => {
                return Err(format!(
                    "HEALTHCHECK says unhealthy; logs:\n{}",
                    container.logs()
                ));
            }
            _ if started.elapsed() > Duration::from_secs(120) => {
                return Err(format!("not healthy after 120 s (state {state})"));
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    eprintln!(
        "healthy {:.1} s after serving",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn stops_in_under_two_seconds() -> TestResult {
    check_stops_in_under_two_seconds(image!("stops_in_under_two_seconds"))
}

/// Also run on the prod image.
pub fn check_stops_in_under_two_seconds(built: &Built) -> TestResult {
    let name = per_image(built, "stop");
    let container = Container::start(&name, &["--publish", "127.0.0.1::8080"], &built.image, &[])?;
    container.wait_serving(SERVE_TIMEOUT)?;
    let started = Instant::now();
    docker_ok(&["stop", &name])?;
    let took = started.elapsed();
    let code = docker_ok(&["inspect", "--format", "{{.State.ExitCode}}", &name])?;
    eprintln!(
        "docker stop took {:.2} s, exit code {code}",
        took.as_secs_f64()
    );
    if took >= Duration::from_secs(2) {
        return Err(format!("docker stop took {took:?}"));
    }
    if code != "0" {
        return Err(format!("the server exited {code} on SIGTERM, want 0"));
    }
    Ok(())
}

/// A container or volume name unique to this run and image: the minimal and prod checks run
/// side by side.
fn per_image(built: &Built, what: &str) -> String {
    let repository = built.image.split(':').next().unwrap_or(&built.image);
    format!("{repository}-{what}")
}

/// The data directory the image declares, from its environment (CV_DATA_DIR) and workdir.
fn data_dir(image: &str) -> Result<String, String> {
    let env = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        image,
    ])?;
    let env: Vec<String> = serde_json::from_str(&env).map_err(|e| e.to_string())?;
    let dir = env
        .iter()
        .find_map(|e| e.strip_prefix("CV_DATA_DIR="))
        .unwrap_or("data");
    if dir.starts_with('/') {
        return Ok(dir.to_owned());
    }
    let workdir = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.WorkingDir}}",
        image,
    ])?;
    Ok(format!(
        "{}/{dir}",
        if workdir.is_empty() {
            ""
        } else {
            workdir.trim_end_matches('/')
        }
    ))
}

pub fn read_only_and_no_capabilities_keep_posts_in_a_volume() -> TestResult {
    check_read_only_keeps_posts_in_a_volume(image!(
        "read_only_and_no_capabilities_keep_posts_in_a_volume"
    ))
}

/// Also run on the prod image.
pub fn check_read_only_keeps_posts_in_a_volume(built: &Built) -> TestResult {
    let volume = per_image(built, "data");
    remember(Kind::Volume, &volume);
    docker_ok(&["volume", "create", &volume])?;
    let mount = format!("{volume}:{}", data_dir(&built.image)?);
    let token = "cv-test-token-0123456789";
    let token_env = format!("CV_API_TOKEN={token}");
    let options = [
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--publish",
        "127.0.0.1::8080",
        "--volume",
        &mount,
        "--env",
        &token_env,
    ];
    let name = per_image(built, "readonly");
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    {
        let container = Container::start(&name, &options, &built.image, &[])?;
        let addr = container.wait_serving(SERVE_TIMEOUT)?;
        let post = r#"{"slug":"survives-restart","title":"Kept","body":"*hello*","tags":["e2e"],"published":true}"#;
        let created = http(&addr, "POST", "/api/posts", &headers, post)?;
        if created.status != 201 {
            return Err(format!(
                "POST answered {}: {}\nlogs:\n{}",
                created.status,
                created.body,
                container.logs()
            ));
        }
    }
    // A new container on the same volume (the old one was removed): the post must be there.
    let container = Container::start(&name, &options, &built.image, &[])?;
    let addr = container.wait_serving(SERVE_TIMEOUT)?;
    let got = http(&addr, "GET", "/api/posts/survives-restart", &headers, "")?;
    if got.status != 200 || !got.body.contains("\"title\":\"Kept\"") {
        return Err(format!(
            "after restart GET answered {}: {}",
            got.status, got.body
        ));
    }
    Ok(())
}

pub fn canary_secret_is_nowhere_in_the_image() -> TestResult {
    assert_canary_nowhere(image!("canary_secret_is_nowhere_in_the_image"))
}

/// `--run` on the same image: the rebuild comes from cache, the container turns healthy and
/// the printed URL serves.
pub fn run_flag_rebuilds_from_cache_and_serves() -> TestResult {
    let built = image!("run_flag_rebuilds_from_cache_and_serves");
    let name = unique("run");
    remember(Kind::Container, &name);
    let image = format!("{name}:e2e");
    remember(Kind::Image, &image);
    let tree = tree_fingerprint();
    let started = Instant::now();
    let out = build_on_standins(
        "minimal",
        &image,
        &["--run", "--name", &name, "--port", "0"],
    );
    let _guard = Container(name.clone());
    let stdout = text(&out.stdout);
    if !out.status.success() {
        return Err(format!("--run failed:\n{}", text(&out.stderr)));
    }
    eprintln!(
        "cached rebuild and --run took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let cached = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("cached"))
        .ok_or_else(|| format!("no cached line:\n{stdout}"))?;
    let numbers: Vec<usize> = cached
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [cached, total] = numbers[..] else {
        return Err(format!("cannot read the cached line {cached:?}"));
    };
    if tree == built.tree && tree_fingerprint() == tree {
        if cached != total {
            return Err(format!(
                "an unchanged tree was rebuilt with only {cached} of {total} steps cached"
            ));
        }
    } else if cached == 0 {
        return Err(format!(
            "the rebuild after a source change reused nothing: 0 of {total} steps cached"
        ));
    } else {
        eprintln!(
            "the tree changed during the run (edits by others): {cached} of {total} steps cached"
        );
    }
    let url = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("url"))
        .map(str::trim)
        .ok_or_else(|| format!("no url printed:\n{stdout}"))?;
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let healthz = http(addr, "GET", "/healthz", &[], "")?;
    if healthz.status != 200 {
        return Err(format!("{url}healthz answered {}", healthz.status));
    }
    Ok(())
}

/// `--run` on a host port something else holds: exit 1 with the engine's reason and the hint,
/// and no container left behind (`docker run --detach` creates it before the bind fails, and a
/// left-over one would refuse the next try over its name).
pub fn run_on_a_taken_port_fails_and_leaves_no_container() -> TestResult {
    image!("run_on_a_taken_port_fails_and_leaves_no_container");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = taken
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?
        .port()
        .to_string();
    let name = unique("run-taken");
    remember(Kind::Container, &name);
    let image = format!("{name}:e2e");
    remember(Kind::Image, &image);
    let out = build_on_standins(
        "minimal",
        &image,
        &["--run", "--name", &name, "--port", &port],
    );
    let _guard = Container(name.clone());
    let stderr = text(&out.stderr);
    if out.status.code() != Some(1) {
        return Err(format!(
            "--run on taken port {port}: exit {:?}, want 1\nstderr:\n{stderr}",
            out.status.code()
        ));
    }
    for want in ["the container did not start", "try --port 0"] {
        if !stderr.contains(want) {
            return Err(format!("the error lacks {want:?}:\n{stderr}"));
        }
    }
    let inspect = docker(&["container", "inspect", &name]).map_err(|e| e.to_string())?;
    if inspect.status.success() {
        return Err(format!(
            "the failed --run left container {name} behind:\n{}",
            text(&inspect.stdout)
        ));
    }
    drop(taken);
    Ok(())
}
