//! Shared parts of the end-to-end tests: running the real `cargo xtask` binary, the engine
//! check, the one shared minimal image, a tiny HTTP client, and clean-up of what a run made.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a test returns; `Err` fails it with the message.
pub type TestResult = Result<(), String>;

/// The xtask binary cargo built for this test run.
pub const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// A name unique to this test run, with the prefix every test object carries.
pub fn unique(what: &str) -> String {
    format!("cv-test-{what}-{}", std::process::id())
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether the Docker engine answers. Absent: tests that need it print why and pass, except
/// under CI=true, where they fail, because CI must run them.
pub fn engine(test: &str) -> Result<bool, String> {
    static UP: OnceLock<bool> = OnceLock::new();
    let up = *UP.get_or_init(|| {
        docker(&["version", "--format", "{{.Server.Version}}"]).is_ok_and(|o| o.status.success())
    });
    match (up, in_ci()) {
        (true, _) => Ok(true),
        (false, true) => Err("the Docker engine is not answering, and CI=true requires it (scripts/setup-machine.sh starts it)".into()),
        (false, false) => {
            eprintln!("skipped {test}: no Docker engine answers (run scripts/setup-machine.sh)");
            Ok(false)
        }
    }
}

/// Runs the real `cargo xtask` with these arguments and extra environment.
pub fn xtask(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(XTASK);
    cmd.args(args).current_dir(project_root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the xtask binary runs")
}

/// `cargo xtask docker --mode MODE --tag TAG` against the stand-in bases, with the machine's CA
/// bundle and plain progress, then `extra`: how the end-to-end tests build.
pub fn build_on_standins(mode: &str, tag: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "docker",
        "--mode",
        mode,
        "--base-images",
        "standin",
        "--ca-bundle",
        CA_BUNDLE,
        "--progress",
        "plain",
        "--tag",
        tag,
    ];
    args.extend_from_slice(extra);
    xtask(&args, &[])
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the Docker client (whichever is first on PATH: no build goes through it here).
pub fn docker(args: &[&str]) -> std::io::Result<Output> {
    Command::new("docker").args(args).output()
}

/// Runs the Docker client and returns its trimmed stdout, or its stderr as the error.
pub fn docker_ok(args: &[&str]) -> Result<String, String> {
    let out = docker(args).map_err(|e| format!("docker {args:?}: {e}"))?;
    if out.status.success() {
        Ok(text(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {args:?} failed: {}",
            text(&out.stderr).trim()
        ))
    }
}

pub fn image_exists(image: &str) -> bool {
    docker(&["image", "inspect", image]).is_ok_and(|o| o.status.success())
}

/// Asserts a failed run of the xtask: non-zero exit, exactly one `error:` line on stderr that
/// contains `want`, and (when the engine answers) no image tagged `tag`.
pub fn assert_one_clear_error(out: &Output, want: &str, tag: &str) -> TestResult {
    let stderr = text(&out.stderr);
    if out.status.success() {
        return Err(format!("exited 0; stderr:\n{stderr}"));
    }
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    if errors.len() != 1 {
        return Err(format!(
            "want one `error:` line, got {}:\n{stderr}",
            errors.len()
        ));
    }
    if !errors[0].contains(want) {
        return Err(format!("error line lacks {want:?}:\n{stderr}"));
    }
    if stderr.contains("panicked") {
        return Err(format!("it panicked:\n{stderr}"));
    }
    if engine("image check")? && image_exists(tag) {
        return Err(format!("{tag} was tagged despite the failure"));
    }
    Ok(())
}

/// Everything this run created, removed when the run ends.
static CREATED: Mutex<Vec<(Kind, String)>> = Mutex::new(Vec::new());

#[derive(Clone, Copy)]
pub enum Kind {
    Container,
    Image,
    Volume,
}

pub fn remember(kind: Kind, name: &str) {
    CREATED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((kind, name.to_owned()));
}

/// Removes containers first, then volumes and images (an image in use cannot go).
pub fn cleanup() {
    let created = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|p| p.into_inner()));
    for order in [0, 1, 2] {
        for (kind, name) in &created {
            let args: &[&str] = match (order, kind) {
                (0, Kind::Container) => &["rm", "--force", "--volumes"],
                (1, Kind::Volume) => &["volume", "rm", "--force"],
                (2, Kind::Image) => &["image", "rm", "--force"],
                _ => continue,
            };
            let mut all = args.to_vec();
            all.push(name);
            let _ = docker(&all);
        }
    }
}

/// A container that is removed when the test ends, however it ends.
pub struct Container(pub String);

impl Container {
    /// `docker run --detach` with these options before the image.
    pub fn start(
        name: &str,
        options: &[&str],
        image: &str,
        args: &[&str],
    ) -> Result<Container, String> {
        remember(Kind::Container, name);
        let mut all = vec!["run", "--detach", "--name", name];
        all.extend(options);
        all.push(image);
        all.extend(args);
        docker_ok(&all)?;
        Ok(Container(name.to_owned()))
    }

    /// The host address of the container's port 8080.
    pub fn addr(&self) -> Result<String, String> {
        let out = docker_ok(&["port", &self.0, "8080/tcp"])?;
        out.lines()
            .next()
            .map(str::to_owned)
            .ok_or_else(|| format!("{} publishes no port", self.0))
    }

    pub fn logs(&self) -> String {
        docker(&["logs", &self.0])
            .map(|o| format!("{}{}", text(&o.stdout), text(&o.stderr)))
            .unwrap_or_default()
    }

    /// Waits until `/healthz` answers 200; fails with the container's logs otherwise.
    pub fn wait_serving(&self, timeout: Duration) -> Result<String, String> {
        let addr = self.addr()?;
        let started = Instant::now();
        while started.elapsed() < timeout {
            if http(&addr, "GET", "/healthz", &[], "").is_ok_and(|r| r.status == 200) {
                return Ok(addr);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "{} did not serve /healthz within {timeout:?}; logs:\n{}",
            self.0,
            self.logs()
        ))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", "--volumes", &self.0]);
    }
}

pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One HTTP/1.0 request (so the server answers without chunking and closes the connection).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Response, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    Ok(Response {
        status,
        body: body.to_owned(),
    })
}

/// The image every engine test shares: built once per run, by the real `cargo xtask docker`.
pub struct Built {
    pub image: String,
    /// The summary (stdout) and the build log (stderr) of that run.
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
    /// A random value passed as a build secret; it must appear nowhere in the image.
    pub canary: String,
    /// The git revision the build was given, as its printed plan shows it.
    pub revision: String,
    /// The source tree's state when the build started; see [`tree_fingerprint`].
    pub tree: String,
}

/// HEAD, uncommitted changes and untracked files: equal fingerprints mean the build context
/// did not change (other people edit this tree while the tests run).
pub fn tree_fingerprint() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(project_root())
            .output()
            .map(|o| text(&o.stdout))
            .unwrap_or_default()
    };
    let mut all = git(&["rev-parse", "HEAD"]);
    all.push_str(&git(&["diff", "HEAD"]));
    all.push_str(&git(&["ls-files", "--others", "--exclude-standard"]));
    all
}

pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The secret id the Dockerfiles' compile step mounts (a private registry's token); the shared
/// builds pass a canary through it, so the step that compiles really holds a secret.
pub const CANARY_SECRET_ID: &str = "cargo_registry_token";

/// What the compile step logs when it was given that secret (never the value).
pub const CANARY_USED_LINE: &str = "CARGO_REGISTRY_TOKEN set from secret cargo_registry_token";

/// Builds the minimal image on first use; later callers wait for it and share the result.
pub fn minimal_image() -> Result<&'static Built, String> {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build_shared("minimal"))
        .as_ref()
        .map_err(Clone::clone)
}

/// Builds the prod image on first use, like [`minimal_image`].
pub fn prod_image() -> Result<&'static Built, String> {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build_shared("prod"))
        .as_ref()
        .map_err(Clone::clone)
}

/// `cargo xtask base-images`, once per run.
pub fn standins() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let started = Instant::now();
        let standins = xtask(&["base-images"], &[]);
        if !standins.status.success() {
            return Err(format!(
                "`cargo xtask base-images` failed:\n{}",
                text(&standins.stderr)
            ));
        }
        eprintln!(
            "e2e: stand-in base images ready after {:.0} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
    .clone()
}

/// A random value to pass as a build secret; it must appear nowhere in the image.
pub fn new_canary() -> String {
    format!(
        "cv-test-canary-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

fn build_shared(mode: &str) -> Result<Built, String> {
    standins()?;
    let canary = new_canary();
    let canary_file = std::env::temp_dir().join(format!("{}.secret", unique(mode)));
    std::fs::write(&canary_file, &canary).map_err(|e| e.to_string())?;
    let secret = format!("id={CANARY_SECRET_ID},src={}", canary_file.display());

    let image = format!("{}:e2e", unique(mode));
    remember(Kind::Image, &image);
    let tree = tree_fingerprint();
    let started = Instant::now();
    let out = build_on_standins(mode, &image, &["--secret", &secret]);
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&canary_file);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "building the {mode} image failed:\n{}",
            tail.join("\n")
        ));
    }
    eprintln!("e2e: {mode} image {image} built in {seconds:.0} s\n{stdout}");
    let revision = stderr
        .split_whitespace()
        .find_map(|w| w.strip_prefix("GIT_REVISION="))
        .ok_or("the printed plan has no GIT_REVISION build arg")?
        .to_owned();
    Ok(Built {
        image,
        stdout,
        stderr,
        seconds,
        canary,
        revision,
        tree,
    })
}

/// The sample CV from ../shared, when present. Absent: None (tests fall back to the embedded
/// example), except under CI=true, where its absence fails the test.
pub fn sample_resume() -> Result<Option<(PathBuf, String)>, String> {
    let path = project_root().join("../shared/resume/sample.resume.json");
    match std::fs::read_to_string(&path) {
        Ok(json) => {
            let value: serde_json::Value =
                serde_json::from_str(&json).map_err(|e| e.to_string())?;
            let name = value["basics"]["name"]
                .as_str()
                .ok_or("sample has no basics.name")?;
            let path = path.canonicalize().map_err(|e| e.to_string())?;
            Ok(Some((path, name.to_owned())))
        }
        Err(e) if in_ci() => Err(format!("{} is required under CI=true: {e}", path.display())),
        Err(e) => {
            eprintln!(
                "note: {} unreadable ({e}); using the embedded example CV",
                path.display()
            );
            Ok(None)
        }
    }
}

/// The canary passed as secret `cargo_registry_token` reached the compile step (when that step
/// ran rather than came from cache) and is nowhere in the image: not in `docker save` output
/// (every layer and the config), not in `docker history --no-trunc`, not in `docker image
/// inspect`, and not in the build's own log.
pub fn assert_canary_nowhere(built: &Built) -> TestResult {
    if !built
        .stderr
        .contains(&format!("--secret id={CANARY_SECRET_ID},src="))
    {
        return Err(format!(
            "the canary was not passed as secret {CANARY_SECRET_ID}"
        ));
    }
    // "built: cv …" is the compile step's smoke run: when it is in the log, the step ran now.
    if built.stderr.contains("built: cv ") {
        if !built.stderr.contains(CANARY_USED_LINE) {
            return Err(format!(
                "the compile step ran but did not see secret {CANARY_SECRET_ID} \
                 (no {CANARY_USED_LINE:?} in the build log)"
            ));
        }
    } else {
        eprintln!("note: the compile step came from cache; the rebuild test proves the mount");
    }
    if built.stderr.contains(&built.canary) || built.stdout.contains(&built.canary) {
        return Err("the canary secret's value is in the build's output".into());
    }
    let saved = docker(&["save", &built.image]).map_err(|e| e.to_string())?;
    if !saved.status.success() || saved.stdout.len() < 1024 {
        return Err(format!("docker save failed: {}", text(&saved.stderr)));
    }
    let canary = built.canary.as_bytes();
    if saved.stdout.windows(canary.len()).any(|w| w == canary) {
        return Err("the canary secret is in `docker save` output".into());
    }
    let history = docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        &built.image,
    ])?;
    if history.contains(&built.canary) {
        return Err(format!(
            "the canary secret is in `docker history`:\n{history}"
        ));
    }
    let inspect = docker_ok(&["image", "inspect", &built.image])?;
    if inspect.contains(&built.canary) {
        return Err("the canary secret is in `docker image inspect`".into());
    }
    eprintln!(
        "canary absent from {} bytes of `docker save`, the history and the inspect output",
        saved.stdout.len()
    );
    Ok(())
}

/// Copies every file git knows in the workspace (tracked, and untracked but not ignored) to
/// `to`: the sources as they are now, without target/ or a vendor/ of the main tree (both ignored).
/// The rebuild and offline tests build such copies, never the checkout itself.
pub fn copy_sources(to: &Path) -> Result<usize, String> {
    let root = project_root();
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !out.status.success() {
        return Err(format!("git ls-files failed: {}", text(&out.stderr)));
    }
    let mut copied = 0;
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name);
        let from = root.join(&*name);
        // Deleted but still tracked, or a directory (a submodule): nothing to copy.
        if !from.is_file() {
            continue;
        }
        let dest = to.join(&*name);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::copy(&from, &dest).map_err(|e| format!("copy {}: {e}", from.display()))?;
        copied += 1;
    }
    Ok(copied)
}

/// The local registry scripts/setup-machine.sh runs.
pub const REGISTRY: &str = "127.0.0.1:5000";

/// Whether the engine and the local registry are both up; prints why not (fails under CI).
pub fn engine_and_registry(test: &str) -> Result<bool, String> {
    if !engine(test)? {
        return Ok(false);
    }
    if http(REGISTRY, "GET", "/v2/", &[], "").is_err() {
        if in_ci() {
            return Err(format!(
                "no registry on {REGISTRY}; scripts/setup-machine.sh starts one"
            ));
        }
        eprintln!("skipped {test}: no registry on {REGISTRY}");
        return Ok(false);
    }
    Ok(true)
}

/// Whether the local registry lists `tag` for `repository`, with what it answered (for messages).
pub fn registry_lists(repository: &str, tag: &str) -> Result<(bool, String), String> {
    let tags = http(
        REGISTRY,
        "GET",
        &format!("/v2/{repository}/tags/list"),
        &[],
        "",
    )?;
    let listed = tags.status == 200 && tags.body.contains(&format!("\"{tag}\""));
    Ok((listed, format!("{} {}", tags.status, tags.body)))
}
