//! The dev image: the committed source tree mounted into a container built by the real
//! `cargo xtask docker --mode dev`, the server run under watchexec as an unprivileged host user.
//! An edit to the CV in the mounted tree must show on the served page without the container
//! restarting; the time from save to new page is printed. Files the server writes into the tree
//! must belong to the host user, not root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    CA_BUNDLE, Container, Kind, TestResult, build_on_standins, docker, docker_ok, engine, http,
    project_root, remember, standins, text, unique,
};

/// The first start fetches the crates and compiles the whole workspace in debug mode (its
/// dependencies at opt-level 1) on 2 cores that other builds share: 15 min was not enough.
const FIRST_SERVE_TIMEOUT: Duration = Duration::from_secs(25 * 60);
/// An edit recompiles the crates below the CV (cv-resume embeds it) and relinks.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(8 * 60);
/// Not root and not any account on the host or in the image: only startup-dev.sh can make it.
const HOST_UID: u32 = 4321;
const HOST_GID: u32 = 4321;
/// A data dir inside the mounted tree, so the server itself writes a file into the tree.
const DATA_IN_TREE: &str = ".dev-data";

/// Removes what the test made as soon as it ends: the tree copy and the named volumes (a debug
/// target dir is gigabytes under vfs). The container goes first, through its own guard.
struct Leftovers {
    dir: PathBuf,
    volumes: Vec<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for volume in &self.volumes {
            let _ = docker(&["volume", "rm", "--force", volume]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn edit_reloads_the_page_without_a_restart() -> TestResult {
    if !engine("dev::edit_reloads_the_page_without_a_restart")? {
        return Ok(());
    }
    standins()?;
    let image = format!("{}:e2e", unique("dev"));
    remember(Kind::Image, &image);
    let started = Instant::now();
    let out = build_on_standins("dev", &image, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "building the dev image failed:\n{}",
            tail.join("\n")
        ));
    }
    eprintln!(
        "dev: image {image} built in {:.0} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    // The watcher's install step and its time (BuildKit's `#N DONE 123.4s` line), when it ran.
    if let Some(line) = stderr.lines().find(|l| l.contains("Installed package")) {
        let step = line.split_whitespace().next().unwrap_or("#");
        let done = stderr
            .lines()
            .find(|l| l.starts_with(&format!("{step} DONE")))
            .unwrap_or("(no DONE line)");
        eprintln!("dev: {line}\ndev: {done}");
    }

    // The committed tree, as a developer's checkout: other work in progress stays out.
    let tree = std::env::temp_dir().join(unique("dev-tree"));
    let container_name = unique("dev");
    let volumes = vec![unique("dev-cargo"), unique("dev-target")];
    let _leftovers = Leftovers {
        dir: tree.clone(),
        volumes: volumes.clone(),
    };
    for volume in &volumes {
        remember(Kind::Volume, volume);
    }
    copy_committed_tree(&tree)?;
    chown_tree(&tree, HOST_UID, HOST_GID)?;
    let resume = tree.join("examples/resume.json");
    let old_name = cv_name(&resume)?;

    let mounts = [
        format!("{}:/workspace", tree.display()),
        format!("{}:/cargo", volumes[0]),
        format!("{}:/target", volumes[1]),
        format!("{CA_BUNDLE}:/run/secrets/ca_bundle:ro"),
    ];
    let env = [
        format!("HOST_UID={HOST_UID}"),
        format!("HOST_GID={HOST_GID}"),
        format!("CV_DATA_DIR=/workspace/{DATA_IN_TREE}"),
    ];
    let mut options = vec!["--publish", "127.0.0.1::8080"];
    for mount in &mounts {
        options.extend(["--volume", mount]);
    }
    for var in &env {
        options.extend(["--env", var]);
    }
    // The hardening of docker-compose.dev.yml, so the test proves the dev setup works under it.
    options.extend([
        "--read-only",
        "--tmpfs",
        "/tmp:size=256m,mode=1777,exec",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CHOWN",
        "--cap-add",
        "DAC_OVERRIDE",
        "--cap-add",
        "FOWNER",
        "--cap-add",
        "SETUID",
        "--cap-add",
        "SETGID",
        "--security-opt",
        "no-new-privileges:true",
    ]);
    let container = Container::start(&container_name, &options, &image, &[])?;
    let addr = container.addr()?;

    let first = Instant::now();
    wait_for_page(&container, &addr, &old_name, FIRST_SERVE_TIMEOUT)?;
    eprintln!(
        "dev: first page (fetch + debug build of the workspace) after {:.0} s",
        first.elapsed().as_secs_f64()
    );
    let before = started_and_restarts(&container_name)?;

    let new_name = format!("Devreload Probe {}", std::process::id());
    let edited = std::fs::read_to_string(&resume)
        .map_err(|e| e.to_string())?
        .replacen(
            &format!("\"name\": \"{old_name}\""),
            &format!("\"name\": \"{new_name}\""),
            1,
        );
    if !edited.contains(&new_name) {
        return Err(format!(
            "could not find `\"name\": \"{old_name}\"` in {}",
            resume.display()
        ));
    }
    std::fs::write(&resume, edited).map_err(|e| e.to_string())?;
    let saved = Instant::now();
    wait_for_page(&container, &addr, &new_name, RELOAD_TIMEOUT)?;
    let reload = saved.elapsed().as_secs_f64();
    eprintln!("dev: save to new page: {reload:.1} s");

    let after = started_and_restarts(&container_name)?;
    if before != after {
        return Err(format!(
            "the container restarted: state before the edit {before:?}, after {after:?}"
        ));
    }

    // Nothing in the container runs as root once startup-dev.sh has handed over.
    let top = docker_ok(&["top", &container_name, "-o", "pid,uid,comm"])?;
    let root: Vec<&str> = top
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(1) != Some(&HOST_UID.to_string()))
        .collect();
    if !root.is_empty() {
        return Err(format!("processes not running as {HOST_UID}:\n{top}"));
    }
    // What the server wrote into the mounted tree belongs to the host user.
    for path in [
        tree.join(DATA_IN_TREE),
        tree.join(DATA_IN_TREE).join("cv.sqlite3"),
    ] {
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if (meta.uid(), meta.gid()) != (HOST_UID, HOST_GID) {
            return Err(format!(
                "{} is owned by {}:{}, want {HOST_UID}:{HOST_GID}",
                path.display(),
                meta.uid(),
                meta.gid()
            ));
        }
    }
    drop(container);
    let _ = docker(&["image", "rm", "--force", &image]);
    Ok(())
}

/// `git archive HEAD`, unpacked: exactly what a fresh checkout holds, without target/.
fn copy_committed_tree(dir: &Path) -> TestResult {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tar = dir.with_extension("tar");
    let run = |cmd: &mut Command| -> TestResult {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{cmd:?} failed: {}", text(&out.stderr)))
        }
    };
    run(Command::new("git")
        .args(["archive", "--format=tar", "-o"])
        .arg(&tar)
        .arg("HEAD")
        .current_dir(project_root()))?;
    let unpacked = run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(dir));
    let _ = std::fs::remove_file(&tar);
    unpacked
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> TestResult {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() && !path.is_symlink() {
            chown_tree(&path, uid, gid)?;
        } else {
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn cv_name(resume: &Path) -> Result<String, String> {
    let json = std::fs::read_to_string(resume).map_err(|e| format!("{}: {e}", resume.display()))?;
    let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    value["basics"]["name"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} has no basics.name", resume.display()))
}

fn started_and_restarts(container: &str) -> Result<String, String> {
    docker_ok(&[
        "inspect",
        "--format",
        "{{.State.Running}} {{.State.StartedAt}} {{.RestartCount}}",
        container,
    ])
}

/// Polls `GET /` until the page names `name`, printing the container's latest log line now and
/// then (a first build runs for minutes); fails early when the container stops.
fn wait_for_page(
    container: &Container,
    addr: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    let mut last_note = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(page) = http(addr, "GET", "/", &[], "")
            && page.status == 200
            && page.body.contains(name)
        {
            return Ok(());
        }
        if last_note.elapsed() > Duration::from_secs(30) {
            last_note = Instant::now();
            let state = started_and_restarts(&container.0)?;
            if !state.starts_with("true ") {
                return Err(format!(
                    "the dev container stopped ({state}); logs:\n{}",
                    container.logs()
                ));
            }
            let logs = container.logs();
            eprintln!(
                "dev: waiting for {name:?} ({:.0} s): {}",
                started.elapsed().as_secs_f64(),
                logs.lines().last().unwrap_or("(no output yet)")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let logs = container.logs();
    let tail: Vec<&str> = logs.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "the page did not show {name:?} within {timeout:?}; logs:\n{}",
        tail.join("\n")
    ))
}
