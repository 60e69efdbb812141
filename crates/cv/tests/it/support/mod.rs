//! The harness every test shares: start the real `cv` binary on a loopback port with a fresh data
//! directory, talk HTTP to it, and run its other subcommands as processes.
//!
//! Tests only know the contract a user sees (the CLI flags and environment in README.md, the
//! `listening` log line, HTTP), never the crates' internals, so a test failure here is one a
//! user would see.

pub mod http;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub use http::Response;

/// The binary under test, built by cargo for this integration-test target.
pub const BIN: &str = env!("CARGO_BIN_EXE_cv");

/// The bearer token every server gets unless a test says otherwise.
pub const TOKEN: &str = "it-token-5f3a9c";

/// A debug build on a busy 2-core machine starts in well under a second; this only bounds a hang.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Environment variables the binary reads; cleared for every child so the developer's shell
/// cannot change what a test sees.
const CV_ENV: &[&str] = &[
    "CV_ADDR",
    "CV_RESUME",
    "CV_DATA_DIR",
    "CV_LOG",
    "CV_API_TOKEN",
    "CV_API_TOKEN_FILE",
    "CV_SHUTDOWN_GRACE",
    "RUST_LOG",
];

/// The shared JSON Resume sample, or `None` (with the reason printed) when this checkout does not
/// have it. Under `CI=true` its absence is a failure, so CI cannot pass by skipping.
pub fn sample_resume() -> Option<PathBuf> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/resume/sample.resume.json"
    ));
    if path.is_file() {
        return Some(path);
    }
    skip_unless_ci(&format!(
        "the shared sample résumé is missing at {}",
        path.display()
    ));
    None
}

/// Prints why a test is skipped on this machine; under `CI=true` the missing part is a failure
/// instead, because CI must run every test.
pub fn skip_unless_ci(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true requires this test to run, but {why}"
    );
    eprintln!("skipping: {why}");
}

/// The project's own example CV, which `cv serve` embeds when no résumé is given.
pub fn example_resume() -> PathBuf {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/resume.json"
    ));
    assert!(
        path.is_file(),
        "the project's example CV is missing at {}",
        path.display()
    );
    path
}

pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// How the server under test gets its API token.
#[derive(Clone, Debug)]
pub enum Token {
    Env(String),
    File(PathBuf),
    None,
}

/// Options for [`spawn_app`]-like starts; the defaults are a fresh data directory, the embedded
/// example CV and [`TOKEN`] in `CV_API_TOKEN`.
#[derive(Debug)]
pub struct AppBuilder {
    resume: Option<PathBuf>,
    token: Token,
    data_dir: Option<PathBuf>,
    /// Extra `cv serve` flags and environment, applied after the defaults so they override them.
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub fn spawn_app() -> App {
    AppBuilder::new().spawn()
}

impl Default for AppBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl AppBuilder {
    pub fn new() -> Self {
        AppBuilder {
            resume: None,
            token: Token::Env(TOKEN.to_owned()),
            data_dir: None,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn resume(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume = Some(path.into());
        self
    }

    pub fn token(mut self, token: Token) -> Self {
        self.token = token;
        self
    }

    /// Use this data directory instead of a fresh one, so a test can restart on the same database.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The `cv serve` command this builder describes, with `cwd` as its working directory.
    pub fn command(&self, data_dir: &Path, cwd: &Path) -> Command {
        let mut cmd = cv_command();
        cmd.arg("serve").args(&self.args).current_dir(cwd);
        self.apply_env(&mut cmd, data_dir);
        cmd
    }

    /// Sets the serve environment on any command (a wrapper such as setpriv passes it through).
    pub fn apply_env(&self, cmd: &mut Command, data_dir: &Path) {
        clear_cv_env(cmd);
        cmd.env("CV_ADDR", "127.0.0.1:0")
            .env("CV_LOG", "json")
            .env("CV_DATA_DIR", data_dir);
        if let Some(resume) = &self.resume {
            cmd.env("CV_RESUME", resume);
        }
        match &self.token {
            Token::Env(token) => {
                cmd.env("CV_API_TOKEN", token);
            }
            Token::File(path) => {
                cmd.env("CV_API_TOKEN_FILE", path);
            }
            Token::None => {}
        }
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
    }

    pub fn spawn(self) -> App {
        let tmp = tempfile::tempdir().expect("create a temporary directory");
        // A directory that does not exist yet, so the server has to create it (with mode 0700).
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| tmp.path().join("data"));
        let mut child = self
            .command(&data_dir, tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cv serve");

        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let (line_tx, line_rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::clone(&stdout_lines);
        // Keep draining stdout for the whole life of the child: a full pipe would block its logger.
        let stdout_thread = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line.clone());
                let _ = line_tx.send(line);
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let text = Arc::clone(&stderr_text);
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut buf);
            text.lock().unwrap().push_str(&buf);
        });

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match line_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = listening_addr(&line) {
                        break addr;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "cv serve did not log \"listening\" within {STARTUP_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                        stdout_lines.lock().unwrap().join("\n"),
                        stderr_text.lock().unwrap()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("wait for cv serve");
                    let _ = stderr_thread.join();
                    panic!(
                        "cv serve exited ({status}) before listening\nstdout:\n{}\nstderr:\n{}",
                        stdout_lines.lock().unwrap().join("\n"),
                        stderr_text.lock().unwrap()
                    );
                }
            }
        };

        let token = match &self.token {
            Token::Env(token) => Some(token.clone()),
            Token::File(path) => Some(std::fs::read_to_string(path).unwrap().trim().to_owned()),
            Token::None => None,
        };
        App {
            child,
            addr,
            data_dir,
            token,
            client: http::Client::new(addr),
            stdout_lines,
            stderr_text,
            threads: vec![stdout_thread, stderr_thread],
            _tmp: tmp,
        }
    }
}

/// The bound address from the JSON log line `{"message":"listening","addr":"IP:PORT",…}`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let value: Value = serde_json::from_str(line).ok()?;
    if value.get("message")?.as_str()? != "listening" {
        return None;
    }
    value.get("addr")?.as_str()?.parse().ok()
}

/// A running `cv serve`; killed (SIGKILL) when dropped so no test leaves a process behind.
pub struct App {
    child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    token: Option<String>,
    client: http::Client,
    stdout_lines: Arc<Mutex<Vec<String>>>,
    stderr_text: Arc<Mutex<String>>,
    threads: Vec<JoinHandle<()>>,
    _tmp: TempDir,
}

impl App {
    pub fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The stdout lines printed so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_lines.lock().unwrap().clone()
    }

    /// Everything the server printed so far, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout_lines.lock().unwrap().join("\n"),
            self.stderr_text.lock().unwrap()
        )
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped) and a valid signal.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Polls for the child's exit; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the exit and for the output threads, so [`App::output`] is complete.
    pub fn wait_exit_and_drain(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = self.wait_exit(timeout)?;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        Some(status)
    }

    pub fn token(&self) -> &str {
        self.token
            .as_deref()
            .expect("this app has no token configured")
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token())
    }

    pub fn get(&self, path: &str) -> Response {
        self.client.send("GET", path, &[], None)
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.client.send("GET", path, headers, None)
    }

    pub fn get_authed(&self, path: &str) -> Response {
        let bearer = self.bearer();
        self.client
            .send("GET", path, &[("Authorization", &bearer)], None)
    }

    /// Any request, exactly as given (no headers added).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        self.client.send(method, path, headers, body)
    }

    /// A JSON write with the right token.
    pub fn write_json(&self, method: &str, path: &str, body: &str) -> Response {
        let bearer = self.bearer();
        self.client.send(
            method,
            path,
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            Some(body.as_bytes()),
        )
    }

    pub fn delete_authed(&self, path: &str) -> Response {
        let bearer = self.bearer();
        self.client
            .send("DELETE", path, &[("Authorization", &bearer)], None)
    }

    /// Creates a post through the API and insists on 201.
    pub fn create_post(&self, post: &Value) -> Value {
        let response = self.write_json("POST", "/api/posts", &post.to_string());
        assert_eq!(response.status, 201, "create {post}: {}", response.text());
        response.json()
    }

    /// Every post, as the token holder sees them.
    pub fn list_all(&self) -> Value {
        let response = self.get_authed("/api/posts");
        assert_eq!(response.status, 200, "list posts: {}", response.text());
        response.json()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes every CV_* variable the binary reads, so the developer's shell cannot change a test.
pub fn clear_cv_env(cmd: &mut Command) -> &mut Command {
    for var in CV_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// `cv` with a clean environment, ready for arguments.
pub fn cv_command() -> Command {
    let mut cmd = Command::new(BIN);
    clear_cv_env(&mut cmd);
    cmd
}

/// Runs `cv ARGS…` to completion, bounded by `timeout`.
pub fn run_cv(args: &[&str], timeout: Duration) -> Output {
    let mut cmd = cv_command();
    cmd.args(args);
    run_bounded(cmd, timeout)
}

/// Runs a prepared command to completion, killing it if it outlives `timeout`.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cv");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

/// Non-empty lines of a process's stderr.
pub fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The page's text with HTML character references decoded, so content checks do not depend on
/// which characters the template engine chooses to escape (`'` may be `&#39;` or `&#x27;`).
pub fn decode_entities(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                "trade" => Some('™'),
                _ => {
                    let code = if let Some(hex) =
                        entity.strip_prefix("#x").or(entity.strip_prefix("#X"))
                    {
                        u32::from_str_radix(hex, 16).ok()
                    } else if let Some(dec) = entity.strip_prefix('#') {
                        dec.parse().ok()
                    } else {
                        None
                    };
                    code.and_then(char::from_u32)
                }
            };
            ch.map(|ch| (ch, end))
        });
        match decoded {
            Some((ch, end)) => {
                out.push(ch);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Creates a FIFO (named pipe) at `path`: opening it for reading blocks until a writer comes.
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in the path");
    // SAFETY: mkfifo(3) with a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// A loopback port nothing listens on: bind one, note it, and close it again.
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr
}
