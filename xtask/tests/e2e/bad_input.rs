//! Bad input, one test each: one clear error, a non-zero exit, nothing tagged.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use crate::support::{TestResult, assert_one_clear_error, engine, unique, xtask};

/// A Dockerfile that would build, so that only the bad input under test can fail the run.
fn good_dockerfile(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("Dockerfile");
    std::fs::write(&path, "FROM scratch\nCOPY rust-toolchain.toml /\n")
        .map_err(|e| e.to_string())?;
    Ok(path)
}

fn temp_dir(what: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(unique(what));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

pub fn unknown_mode() -> TestResult {
    let tag = unique("bad-mode");
    let out = xtask(&["docker", "--mode", "huge", "--tag", &tag], &[]);
    assert_one_clear_error(&out, "invalid value 'huge' for '--mode <MODE>'", &tag)
}

pub fn missing_dockerfile() -> TestResult {
    let tag = unique("bad-dockerfile");
    let out = xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--dockerfile",
            "docker/Dockerfile.missing",
            "--tag",
            &tag,
        ],
        &[],
    );
    assert_one_clear_error(&out, "docker/Dockerfile.missing not found", &tag)
}

pub fn malformed_platform() -> TestResult {
    let dir = temp_dir("bad-platform")?;
    let dockerfile = good_dockerfile(&dir)?;
    let tag = unique("bad-platform");
    let out = xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--dockerfile",
            dockerfile.to_str().unwrap_or_default(),
            "--platform",
            "linux/amd64/v2/extra",
            "--tag",
            &tag,
        ],
        &[],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_one_clear_error(&out, "malformed platform \"linux/amd64/v2/extra\"", &tag)
}

pub fn malformed_secret() -> TestResult {
    let dir = temp_dir("bad-secret")?;
    let dockerfile = good_dockerfile(&dir)?;
    let dockerfile = dockerfile.to_str().unwrap_or_default();
    let tag = unique("bad-secret");
    let out = xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--dockerfile",
            dockerfile,
            "--secret",
            "id=has space,src=Cargo.toml",
            "--tag",
            &tag,
        ],
        &[],
    );
    assert_one_clear_error(&out, "malformed secret", &tag)?;
    let out = xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--dockerfile",
            dockerfile,
            "--secret",
            "id=token,src=/nonexistent/token",
            "--tag",
            &tag,
        ],
        &[],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_one_clear_error(&out, "/nonexistent/token is not a file", &tag)
}

pub fn engine_not_running() -> TestResult {
    // This needs a Docker client (to be refused by a dead daemon), not a running engine.
    let client = std::process::Command::new("docker")
        .arg("--version")
        .output();
    if !client.is_ok_and(|o| o.status.success()) {
        if crate::support::in_ci() {
            return Err("no docker client on PATH, and CI=true requires one".into());
        }
        eprintln!("skipped engine_not_running: no docker client on PATH");
        return Ok(());
    }
    let dir = temp_dir("dead-engine")?;
    let dockerfile = good_dockerfile(&dir)?;
    // A socket file nobody listens on: connections are refused, as with a crashed daemon.
    let socket = dir.join("docker.sock");
    drop(UnixListener::bind(&socket).map_err(|e| e.to_string())?);
    let host = format!("unix://{}", socket.display());
    let tag = unique("dead-engine");
    let out = xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--dockerfile",
            dockerfile.to_str().unwrap_or_default(),
            "--tag",
            &tag,
        ],
        &[("DOCKER_HOST", &host)],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_one_clear_error(
        &out,
        &format!("the Docker daemon at {host} is not answering"),
        &tag,
    )
}

/// PATH holds only a client that cannot build with BuildKit: the real 28.x client without
/// buildx where the machine has one (it refuses BuildKit and would fall back to the legacy
/// builder), else a stand-in script that behaves as such a client does.
pub fn buildkit_unavailable() -> TestResult {
    if !engine("buildkit_unavailable")? {
        return Ok(());
    }
    let dir = temp_dir("no-buildkit")?;
    let dockerfile = good_dockerfile(&dir)?;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    let legacy = Path::new("/usr/local/bin/docker");
    let has_buildx = std::process::Command::new(legacy)
        .args(["buildx", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if legacy.exists() && !has_buildx {
        std::os::unix::fs::symlink(legacy, bin.join("docker")).map_err(|e| e.to_string())?;
    } else {
        let script = "#!/bin/sh\ncase \"$1\" in\n\
            buildx) echo \"docker: 'buildx' is not a docker command.\" >&2; exit 1 ;;\n\
            build) echo 'Sending build context to Docker daemon'; echo 'Unknown flag: mount' >&2; exit 1 ;;\n\
            *) exec /usr/bin/docker \"$@\" ;;\nesac\n";
        let path = bin.join("docker");
        std::fs::write(&path, script).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    let tag = unique("no-buildkit");
    let path = bin.display().to_string();
    let out = xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--dockerfile",
            dockerfile.to_str().unwrap_or_default(),
            "--tag",
            &tag,
        ],
        &[("PATH", &path)],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_one_clear_error(&out, "no Docker client here can build with BuildKit", &tag)?;
    let stderr = crate::support::text(&out.stderr);
    if !stderr.contains("install the buildx plugin") {
        return Err(format!(
            "the error does not say how to install what is missing:\n{stderr}"
        ));
    }
    Ok(())
}

/// An image that claims arm64 but holds an amd64 binary (what a cross-compile that forgot its
/// target produces) is refused before it is tagged.
pub fn wrong_architecture_is_refused_untagged() -> TestResult {
    if !engine("wrong_architecture_is_refused_untagged")? {
        return Ok(());
    }
    crate::support::minimal_image()?; // makes sure the stand-in images exist
    let dir = temp_dir("wrong-arch")?;
    let dockerfile = dir.join("Dockerfile");
    std::fs::write(
        &dockerfile,
        "FROM --platform=$BUILDPLATFORM cv-standin/alpine:3 AS host\n\
         FROM scratch\nCOPY --from=host /bin/busybox /busybox\nENTRYPOINT [\"/busybox\"]\n",
    )
    .map_err(|e| e.to_string())?;
    let tag = unique("wrong-arch");
    let out = xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--dockerfile",
            dockerfile.to_str().unwrap_or_default(),
            "--platform",
            "linux/arm64",
            "--tag",
            &tag,
        ],
        &[],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_one_clear_error(
        &out,
        "/busybox is an amd64 binary, but the image says its platform is arm64",
        &tag,
    )?;
    // The refused image is removed, not left dangling: its ID is in the printed check step.
    let stderr = crate::support::text(&out.stderr);
    let id = stderr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .find(|w| w.starts_with("sha256:") && w.len() == 71)
        .ok_or_else(|| format!("no image ID in the output:\n{stderr}"))?;
    if crate::support::image_exists(id) {
        let _ = crate::support::docker(&["image", "rm", id]);
        return Err(format!("the refused image {id} was left behind"));
    }
    Ok(())
}

/// `--dry-run` prints the plan on stdout and runs none of it.
pub fn dry_run_runs_nothing() -> TestResult {
    if !engine("dry_run_runs_nothing")? {
        return Ok(());
    }
    let tag = unique("dry-run");
    let out = xtask(
        &[
            "docker",
            "--mode",
            "minimal",
            "--tag",
            &tag,
            "--run",
            "--name",
            &tag,
            "--dry-run",
        ],
        &[],
    );
    let stdout = crate::support::text(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "--dry-run failed:\n{}",
            crate::support::text(&out.stderr)
        ));
    }
    for want in [
        "detected: Docker client",
        "[build]",
        "[verify]",
        "[tag]",
        "[run]",
        "[wait]",
        "on failure:",
    ] {
        if !stdout.contains(want) {
            return Err(format!("the plan lacks {want:?}:\n{stdout}"));
        }
    }
    if crate::support::image_exists(&tag) || crate::support::docker_ok(&["inspect", &tag]).is_ok() {
        return Err(format!("--dry-run made {tag}"));
    }
    Ok(())
}
