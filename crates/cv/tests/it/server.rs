//! The server's operational surface: health and readiness, Prometheus metrics, the data
//! directory it creates, and a clear refusal to start on a data directory it cannot use.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::http::RawConn;
use crate::support::{
    AppBuilder, BIN, describe, run_bounded, skip_unless_ci, spawn_app, stderr_lines,
};

#[test]
fn healthz_answers_200_ok() {
    let app = spawn_app();
    let response = app.get("/healthz");
    assert_eq!(response.status, 200);
    assert_eq!(response.text().trim(), "ok");
}

#[test]
fn readyz_answers_200_when_the_store_is_usable() {
    let app = spawn_app();
    assert_eq!(app.get("/readyz").status, 200, "{}", app.output());
}

/// One sample line of Prometheus text: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse_samples(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad sample value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (
                name,
                parse_labels(rest.strip_suffix('}').expect("closing brace")),
            ),
            None => (series, BTreeMap::new()),
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

fn parse_labels(mut text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !text.is_empty() {
        let (name, rest) = text.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => value.push(chars.next().expect("escaped char").1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.trim_start_matches(',').to_owned(), value);
        text = rest[end + 1..].trim_start_matches(',');
    }
    labels
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|sample| {
        sample.name == name
            && labels
                .iter()
                .all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

#[test]
fn metrics_count_requests_by_route_template_and_status() {
    let app = spawn_app();
    assert_eq!(app.get("/").status, 200);
    assert_eq!(app.get("/").status, 200);
    assert_eq!(app.get("/api/posts/no-such-post").status, 404);
    assert_eq!(app.get("/definitely/not/a/route").status, 404);
    app.create_post(&serde_json::json!({"slug": "counted", "title": "Counted", "body": "x"}));

    let response = app.get("/metrics");
    assert_eq!(response.status, 200);
    let text = response.text();
    let samples = parse_samples(&text);

    let page = find(
        &samples,
        "cv_http_requests_total",
        &[("method", "GET"), ("route", "/"), ("status", "200")],
    )
    .unwrap_or_else(|| panic!("no cv_http_requests_total for GET / 200 in:\n{text}"));
    assert!(
        page.value >= 2.0,
        "GET / counted {} times, made 2",
        page.value
    );
    let templated = find(
        &samples,
        "cv_http_requests_total",
        &[
            ("method", "GET"),
            ("route", "/api/posts/{slug}"),
            ("status", "404"),
        ],
    )
    .unwrap_or_else(|| panic!("no sample for route template /api/posts/{{slug}} 404 in:\n{text}"));
    assert!(templated.value >= 1.0);
    assert!(
        find(
            &samples,
            "cv_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        )
        .is_some(),
        "unknown paths are not labelled route=\"unmatched\":\n{text}"
    );
    assert!(
        !text.contains("/definitely/not/a/route"),
        "a raw unknown path leaked into a label (unbounded cardinality)"
    );
    assert!(
        find(
            &samples,
            "cv_http_request_duration_seconds_bucket",
            &[("route", "/")]
        )
        .is_some(),
        "no latency histogram buckets for route /:\n{text}"
    );
    let build = find(&samples, "cv_build_info", &[("version", "0.1.0")])
        .unwrap_or_else(|| panic!("no cv_build_info{{version=\"0.1.0\"}} in:\n{text}"));
    assert_eq!(build.value, 1.0);
    assert!(
        build
            .labels
            .get("revision")
            .is_some_and(|rev| !rev.is_empty()),
        "cv_build_info has no revision"
    );
}

#[test]
fn made_up_methods_do_not_grow_the_metrics_label_set() {
    let app = spawn_app();
    let methods: Vec<String> = (0..20)
        .map(|i| format!("MADEUP{i}{}", "X".repeat(150)))
        .collect();
    for method in &methods {
        let mut conn = RawConn::connect(app.addr);
        let request = format!(
            "{method} /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            app.addr
        );
        conn.write(request.as_bytes()).unwrap();
        let response = conn
            .read_response()
            .expect("a response to a made-up method");
        assert_eq!(response.status, 405, "{method}");
    }
    let text = app.get("/metrics").text();
    assert!(
        !text.contains("MADEUP"),
        "a made-up method became a label value:\n{text}"
    );
    let samples = parse_samples(&text);
    let other = find(
        &samples,
        "cv_http_requests_total",
        &[("method", "other"), ("route", "/healthz")],
    )
    .unwrap_or_else(|| panic!("no method=\"other\" sample for /healthz in:\n{text}"));
    assert_eq!(other.value, methods.len() as f64);
}

/// `cv serve` with its environment and a fresh data directory, run to completion (bounded).
fn serve_output(env: &[(&str, &std::ffi::OsStr)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = crate::support::cv_command();
    cmd.arg("serve")
        .current_dir(dir.path())
        .env("CV_ADDR", "127.0.0.1:0")
        .env("CV_DATA_DIR", dir.path().join("data"));
    for (name, value) in env {
        cmd.env(name, value);
    }
    run_bounded(cmd, Duration::from_secs(10))
}

/// A refusal to start: exit 1 and one `error:` line on stderr containing every `needles`.
#[track_caller]
fn assert_refused_start(output: &Output, needles: &[&str]) {
    assert_eq!(output.status.code(), Some(1), "{}", describe(output));
    let lines = stderr_lines(output);
    assert_eq!(lines.len(), 1, "{}", describe(output));
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    for needle in needles {
        assert!(lines[0].contains(needle), "{needle:?} not in {}", lines[0]);
    }
}

/// FIFOs used to hang the start forever and /dev/zero to be read until memory ran out.
#[test]
fn serve_refuses_special_files_as_resume_and_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    crate::support::mkfifo(&fifo);
    let shown = fifo.display().to_string();
    let output = serve_output(&[("CV_RESUME", fifo.as_os_str())]);
    assert_refused_start(&output, &[&shown, "FIFO"]);
    let output = serve_output(&[("CV_API_TOKEN_FILE", fifo.as_os_str())]);
    assert_refused_start(
        &output,
        &[&shown, "CV_API_TOKEN_FILE", "not a regular file"],
    );
    let output = serve_output(&[("CV_API_TOKEN_FILE", "/dev/zero".as_ref())]);
    assert_refused_start(&output, &["/dev/zero", "not a regular file"]);
}

/// The warning used to say "no CV_API_TOKEN or CV_API_TOKEN_FILE" although the file was named.
#[test]
fn an_empty_token_file_is_named_in_the_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "\n").unwrap();
    let app = AppBuilder::new()
        .token(crate::support::Token::File(path.clone()))
        .spawn();
    let warning = app
        .stdout_lines()
        .into_iter()
        .find(|line| line.contains("writes are disabled"))
        .unwrap_or_else(|| panic!("no warning about disabled writes\n{}", app.output()));
    assert!(warning.contains(&path.display().to_string()), "{warning}");
    assert!(warning.contains("is empty"), "{warning}");
    assert!(!warning.contains("no CV_API_TOKEN"), "{warning}");
}

#[test]
fn serve_names_a_corrupt_database_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("cv.sqlite3");
    std::fs::write(&db, "garbage, not a database\n".repeat(100)).unwrap();
    let output = serve_output(&[("CV_DATA_DIR", data.as_os_str())]);
    let shown = db.display().to_string();
    assert_refused_start(&output, &[&shown, "not a SQLite database", "move it aside"]);
    let line = &stderr_lines(&output)[0];
    assert!(!line.contains("Error code"), "{line}");
}

#[test]
fn serve_names_a_dangling_symlink_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("data");
    std::os::unix::fs::symlink(dir.path().join("missing"), &link).unwrap();
    let output = serve_output(&[("CV_DATA_DIR", link.as_os_str())]);
    let shown = link.display().to_string();
    assert_refused_start(&output, &[&shown, "dangling symbolic link"]);
}

#[test]
fn data_dir_is_created_0700_with_database_file_0600() {
    let app = spawn_app();
    let dir_mode = std::fs::metadata(&app.data_dir)
        .expect("data dir exists")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "data dir mode {dir_mode:o}");
    let db = app.data_dir.join("cv.sqlite3");
    let file_mode = std::fs::metadata(&db)
        .expect("cv.sqlite3 exists")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(file_mode, 0o600, "database file mode {file_mode:o}");
}

/// True if `line` says `uid` followed (after spaces, `=` or `:`) by exactly this number.
fn names_uid(line: &str, uid: u32) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.match_indices("uid").any(|(at, _)| {
        let rest = lower[at + 3..].trim_start_matches([' ', '=', ':']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok() == Some(uid)
    })
}

fn assert_refused_data_dir(output: &Output, data_dir: &Path, uid: u32) {
    assert_eq!(output.status.code(), Some(1), "{}", describe(output));
    let lines = stderr_lines(output);
    assert_eq!(
        lines.len(),
        1,
        "expected one stderr line, got:\n{}",
        describe(output)
    );
    let line = &lines[0];
    assert!(
        line.contains(&data_dir.display().to_string()),
        "stderr does not name {}: {line}",
        data_dir.display()
    );
    assert!(
        names_uid(line, uid),
        "stderr does not name uid {uid}: {line}"
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn serve_refuses_a_data_dir_under_a_regular_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let data_dir = file.join("data");
    let cmd = AppBuilder::new().command(&data_dir, tmp.path());
    let output = run_bounded(cmd, Duration::from_secs(10));
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    assert_refused_data_dir(&output, &data_dir, uid);
}

#[test]
fn serve_refuses_a_root_owned_0700_data_dir_as_an_unprivileged_user() {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip_unless_ci("switching to uid 65534 needs root");
        return;
    }
    if !Path::new("/usr/bin/setpriv").exists() {
        skip_unless_ci("/usr/bin/setpriv is not installed (util-linux)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = locked.join("data");

    let mut cmd = Command::new("/usr/bin/setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        BIN,
        "serve",
    ])
    .current_dir("/");
    AppBuilder::new().apply_env(&mut cmd, &data_dir);
    let output = run_bounded(cmd, Duration::from_secs(10));
    assert_refused_data_dir(&output, &data_dir, 65534);
}

#[test]
fn json_log_mode_prints_only_json_objects_on_stdout() {
    let mut app = spawn_app();
    assert_eq!(app.get("/").status, 200);
    assert_eq!(app.get("/api/posts/missing").status, 404);
    app.signal(libc::SIGTERM);
    let status = app
        .wait_exit_and_drain(Duration::from_secs(5))
        .expect("exited");
    assert_eq!(status.code(), Some(0));
    let lines = app.stdout_lines();
    assert!(!lines.is_empty(), "nothing logged");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value.is_object(), "not a JSON object: {line}");
    }
}

#[test]
fn serve_flags_override_their_environment_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let resume = tmp.path().join("flag.json");
    std::fs::write(&resume, r#"{"basics":{"name":"Flagged Person"}}"#).unwrap();
    let not_a_dir = tmp.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let data_dir = tmp.path().join("flag-data");

    // Every environment variable is unusable, so the server only starts if the flags win.
    let app = AppBuilder::new()
        .env("CV_ADDR", "not-an-address")
        .env(
            "CV_RESUME",
            tmp.path().join("missing.json").display().to_string(),
        )
        .env("CV_DATA_DIR", not_a_dir.join("data").display().to_string())
        .arg("--addr")
        .arg("127.0.0.1:0")
        .arg("--resume")
        .arg(resume.display().to_string())
        .arg("--data-dir")
        .arg(data_dir.display().to_string())
        .spawn();
    assert!(app.get("/").text().contains("Flagged Person"));
    assert!(data_dir.join("cv.sqlite3").is_file(), "--data-dir not used");
}

/// `CV_RESUME=` and friends (as a compose file's `CV_RESUME: ""` sets them) used to make clap
/// fail with "a value is required for '--resume <FILE>'"; empty now means unset.
#[test]
fn empty_cv_variables_mean_their_defaults() {
    let app = AppBuilder::new()
        .env("CV_RESUME", "")
        .env("CV_DATA_DIR", "")
        .env("CV_LOG", "")
        .env("CV_SHUTDOWN_GRACE", "")
        .spawn();
    // The embedded example CV, JSON logs (the harness found the listening line), ./data.
    assert_eq!(app.get("/").status, 200);
    assert_eq!(app.get("/readyz").status, 200, "{}", app.output());
}

/// An empty CV_ADDR is the default 0.0.0.0:8080 for serve, as it already was for healthcheck.
/// The data directory is unusable so serve stops before binding the well-known port: the exit
/// status (1 from serve, not 2 from the parser) shows the empty address was accepted.
#[test]
fn empty_cv_addr_is_the_default_for_serve_and_healthcheck() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let output = serve_output(&[("CV_ADDR", "".as_ref()), ("CV_DATA_DIR", file.as_os_str())]);
    assert_refused_start(&output, &["data directory"]);

    let mut cmd = crate::support::cv_command();
    cmd.args(["healthcheck", "--timeout", "2"])
        .env("CV_ADDR", "");
    let output = run_bounded(cmd, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http://127.0.0.1:8080/healthz"),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    for (var, value) in [
        ("CV_ADDR", "nonsense"),
        ("CV_LOG", "loud"),
        ("CV_SHUTDOWN_GRACE", "soon"),
    ] {
        let output = serve_output(&[(var, value.as_ref())]);
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(var), "{var}={value}: {}", describe(&output));
    }
    // Given as a flag, the variable is not blamed.
    let mut cmd = crate::support::cv_command();
    cmd.args(["serve", "--addr", "nonsense"])
        .env("CV_ADDR", "127.0.0.1:0");
    let output = run_bounded(cmd, Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("CV_ADDR"));
}

/// `--log pretty` used to write colour escape codes into files and pipes.
#[test]
fn pretty_logs_have_no_colour_codes_when_stdout_is_not_a_terminal() {
    // No token (a warning is logged) and an address that cannot be bound (so serve stops).
    let output = serve_output(&[
        ("CV_LOG", "pretty".as_ref()),
        ("CV_ADDR", "192.0.2.1:9".as_ref()),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("writes are disabled"),
        "{}",
        describe(&output)
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "colour codes in a pipe:\n{stdout:?}"
    );
}

#[test]
fn responses_carry_nosniff_and_the_page_a_content_security_policy() {
    let app = spawn_app();
    for path in [
        "/",
        "/cv.json",
        "/api/posts",
        "/api/posts/missing",
        "/metrics",
        "/healthz",
    ] {
        let response = app.get(path);
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    let page = app.get("/");
    let csp = page.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src https: data:",
        "base-uri 'none'",
        "form-action 'none'",
    ] {
        assert!(csp.contains(directive), "{directive:?} not in {csp:?}");
    }
    // The page's only styles are inline, which the policy allows; it has no script to block.
    let html = page.text();
    assert!(html.contains("<style>"), "the page lost its inline CSS");
    assert!(
        !html.contains("<script"),
        "the page has a script the policy would block"
    );
    assert!(
        !html.contains("<link"),
        "the page loads a resource the policy would block"
    );
}

#[test]
fn every_request_is_logged_at_debug() {
    let app = AppBuilder::new().env("RUST_LOG", "debug").spawn();
    assert_eq!(app.get("/api/posts/missing?secret=1").status, 404);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let line = loop {
        let found = app.stdout_lines().into_iter().find(|line| {
            line.contains(r#""message":"request""#) && line.contains("/api/posts/missing")
        });
        if let Some(line) = found {
            break line;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access log line\n{}",
            app.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["level"], "DEBUG", "{line}");
    assert_eq!(entry["method"], "GET", "{line}");
    assert_eq!(entry["path"], "/api/posts/missing", "{line}");
    assert_eq!(entry["route"], "/api/posts/{slug}", "{line}");
    assert_eq!(entry["status"], 404, "{line}");
    assert!(
        !line.contains("secret"),
        "the query string was logged: {line}"
    );
}
