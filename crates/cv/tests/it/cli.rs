//! The one-shot subcommands as a user runs them: `cv validate`, `cv render`, `cv healthcheck`
//! and `cv --version` — exit codes, what goes to stdout and stderr, and never a panic.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::{
    closed_port, cv_command, decode_entities, describe, example_resume, mkfifo, read_json,
    run_bounded, run_cv, sample_resume, spawn_app, stderr_lines,
};

const QUICK: Duration = Duration::from_secs(10);

fn assert_no_panic(output: &Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains("panicked"), "{}", describe(output));
}

// ---- cv validate ----

#[track_caller]
fn assert_valid(path: &Path) {
    let shown = path.display().to_string();
    let output = run_cv(&["validate", &shown], QUICK);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("{shown}: valid")
    );
}

#[test]
fn validate_accepts_the_shared_sample() {
    let Some(sample) = sample_resume() else {
        return;
    };
    assert_valid(&sample);
}

#[test]
fn validate_accepts_the_project_example() {
    assert_valid(&example_resume());
}

/// Three faults at known places: a number where a string belongs, a date that is no date, and a
/// string where an array belongs. Line numbers are 1-based.
const INVALID: &str = r#"{
  "basics": {
    "name": 42,
    "email": "ada@example.com"
  },
  "work": [
    {
      "name": "Acme",
      "startDate": "yesterday"
    }
  ],
  "skills": [
    {
      "name": "Rust",
      "keywords": "not-an-array"
    }
  ]
}
"#;

#[test]
fn validate_lists_every_error_with_file_line_column_and_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, INVALID).unwrap();
    let shown = path.display().to_string();
    let output = run_cv(&["validate", &shown], QUICK);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_no_panic(&output);

    let mut found = Vec::new();
    for line in stderr_lines(&output) {
        let rest = line
            .strip_prefix(&format!("{shown}:"))
            .unwrap_or_else(|| panic!("issue line does not start with FILE: {line}"));
        let mut parts = rest.splitn(3, ':');
        let line_no: usize = parts
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("no LINE in {line}"));
        let column: usize = parts
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or_else(|_| panic!("no COL in {line}"));
        let (pointer, message) = parts
            .next()
            .and_then(|tail| tail.trim_start().split_once(": "))
            .unwrap_or_else(|| panic!("no POINTER: MESSAGE in {line}"));
        assert!(column >= 1, "column is 1-based: {line}");
        assert!(!message.trim().is_empty(), "empty message: {line}");
        found.push((pointer.to_owned(), line_no));
    }
    found.sort();
    let expected = vec![
        ("/basics/name".to_owned(), 3),
        ("/skills/0/keywords".to_owned(), 15),
        ("/work/0/startDate".to_owned(), 9),
    ];
    assert_eq!(found, expected, "{}", describe(&output));
}

/// The whole document's pointer is empty; it used to print as `FILE:1:1: : expected an object`.
#[test]
fn validate_names_the_root_readably() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("array.json");
    std::fs::write(&path, "[]").unwrap();
    let shown = path.display().to_string();
    let output = run_cv(&["validate", &shown], QUICK);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{}", describe(&output));
    assert!(
        lines[0].starts_with(&format!("{shown}:1:1: (root): ")),
        "{}",
        lines[0]
    );
}

/// A load failure: exit 1, exactly one `error: …` line on stderr that names the file.
#[track_caller]
fn assert_load_error(path: &Path) {
    let shown = path.display().to_string();
    let output = run_cv(&["validate", &shown], QUICK);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_no_panic(&output);
    let lines = stderr_lines(&output);
    assert_eq!(
        lines.len(),
        1,
        "expected one stderr line:\n{}",
        describe(&output)
    );
    assert!(
        lines[0].starts_with("error: "),
        "not an `error: …` line: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(&shown),
        "does not name {shown}: {}",
        lines[0]
    );
}

#[test]
fn validate_missing_file_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_load_error(&dir.path().join("does-not-exist.json"));
}

#[test]
fn validate_directory_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_load_error(dir.path());
}

/// Opening a FIFO for reading blocks until a writer appears: validate used to hang forever.
#[test]
fn validate_fifo_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resume.json");
    mkfifo(&path);
    assert_load_error(&path);
}

#[test]
fn validate_empty_file_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.json");
    std::fs::write(&path, "").unwrap();
    assert_load_error(&path);
}

#[test]
fn validate_non_utf8_file_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.json");
    std::fs::write(&path, b"{\"basics\":{\"name\":\"Ren\xe9 \xff\xfe\"}}").unwrap();
    assert_load_error(&path);
}

#[test]
fn validate_file_over_1_mib_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    // Valid JSON: only its size is wrong.
    let text = format!(
        r#"{{"basics":{{"name":"Big","summary":"{}"}}}}"#,
        "a".repeat(1024 * 1024)
    );
    std::fs::write(&path, text).unwrap();
    assert_load_error(&path);
}

#[test]
fn validate_not_json_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resume.yaml");
    std::fs::write(&path, "basics:\n  name: Not JSON\n").unwrap();
    assert_load_error(&path);
}

// ---- cv render ----

/// Attribute values of `name` (double- or single-quoted) in one tag's text.
fn attribute_values<'a>(tag: &'a str, name: &str) -> Vec<&'a str> {
    let mut values = Vec::new();
    for quote in ['"', '\''] {
        let needle = format!(" {name}={quote}");
        let mut rest = tag;
        while let Some(at) = rest.find(&needle) {
            let value_start = &rest[at + needle.len()..];
            let end = value_start.find(quote).unwrap_or(value_start.len());
            values.push(&value_start[..end]);
            rest = &value_start[end..];
        }
    }
    values
}

/// Every reference in the page that would load something (or navigate) off the local disk.
fn non_local_references(html: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for piece in html.split('<').skip(1) {
        let tag = piece.split('>').next().unwrap_or_default();
        let name: String = tag
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let is_remote =
            |v: &str| v.starts_with("http://") || v.starts_with("https://") || v.starts_with("//");
        for value in attribute_values(tag, "src")
            .into_iter()
            .chain(attribute_values(tag, "srcset"))
        {
            if is_remote(value) || value.starts_with('/') {
                bad.push(format!("<{name} src={value}>"));
            }
        }
        for value in attribute_values(tag, "href") {
            // Links a reader follows (profiles, employers) may point anywhere; an asset may not,
            // and no href may be root-absolute, which means nothing when opened from disk.
            if value.starts_with('/') || (name != "a" && is_remote(value)) {
                bad.push(format!("<{name} href={value}>"));
            }
        }
    }
    for css_url in html.split("url(").skip(1) {
        let target = css_url.trim_start_matches(['"', '\'']);
        if target.starts_with("http://")
            || target.starts_with("https://")
            || target.starts_with('/')
        {
            bad.push(format!("url({})", &target[..target.len().min(60)]));
        }
    }
    if html.contains("@import") {
        bad.push("@import".to_owned());
    }
    bad
}

#[test]
fn render_writes_a_self_contained_site_of_the_sample() {
    let Some(sample) = sample_resume() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    std::fs::create_dir(&out).unwrap();
    let output = run_cv(
        &[
            "render",
            "--resume",
            &sample.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
        QUICK,
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html written");
    let text = decode_entities(&html);
    for expected in [
        "Richard Hendriks",
        "Pied Piper",
        "University of Oklahoma",
        "Digital Compression Pioneer Award",
        "Miss Direction",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from index.html"
        );
    }
    let bad = non_local_references(&html);
    assert!(
        bad.is_empty(),
        "index.html does not open from disk on its own:\n{}",
        bad.join("\n")
    );
    assert!(html.contains("<style"), "CSS is not inlined");
    assert!(
        html.contains("prefers-color-scheme"),
        "no light/dark styles"
    );
    assert!(html.contains("@media print"), "no print stylesheet");

    let cv_json = read_json(&out.join("cv.json"));
    assert_eq!(
        cv_json,
        read_json(&sample),
        "cv.json differs from the input"
    );
}

#[test]
fn render_without_resume_uses_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    std::fs::create_dir(&out).unwrap();
    let output = run_cv(&["render", "--out", &out.display().to_string()], QUICK);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        read_json(&out.join("cv.json")),
        read_json(&example_resume())
    );
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html written");
    // Opened from disk there are no response headers: the policy travels in a meta tag, placed
    // before the inline CSS it must cover.
    let html = decode_entities(&html);
    let meta = html
        .find(concat!(
            r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; "#,
            r#"style-src 'unsafe-inline'; img-src https: data:; base-uri 'none'; "#,
            r#"form-action 'none'">"#
        ))
        .unwrap_or_else(|| panic!("no Content-Security-Policy meta tag in:\n{html}"));
    assert!(meta < html.find("<style").expect("inline CSS"));
}

// ---- cv healthcheck ----

#[test]
fn healthcheck_exits_0_against_the_live_server() {
    let app = spawn_app();
    let output = run_cv(&["healthcheck", "--url", &app.url("/healthz")], QUICK);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn healthcheck_defaults_to_the_port_of_cv_addr() {
    let app = spawn_app();
    let mut cmd = cv_command();
    cmd.arg("healthcheck")
        .env("CV_ADDR", format!("0.0.0.0:{}", app.addr.port()));
    let output = run_bounded(cmd, QUICK);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[track_caller]
fn assert_unhealthy(output: &Output) {
    assert_eq!(output.status.code(), Some(1), "{}", describe(output));
    assert_no_panic(output);
    assert_eq!(
        stderr_lines(output).len(),
        1,
        "expected one line saying why:\n{}",
        describe(output)
    );
}

#[test]
fn healthcheck_exits_1_against_a_closed_port() {
    let addr = closed_port();
    let output = run_cv(
        &["healthcheck", "--url", &format!("http://{addr}/healthz")],
        QUICK,
    );
    assert_unhealthy(&output);
}

#[test]
fn healthcheck_exits_1_when_the_server_answers_500() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("healthcheck connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).expect("read the request");
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfail")
            .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let output = run_cv(
        &["healthcheck", "--url", &format!("http://{addr}/healthz")],
        QUICK,
    );
    let request = server.join().expect("fake server");
    assert!(
        request.starts_with("GET /healthz HTTP/1.1"),
        "request was {request:?}"
    );
    assert_unhealthy(&output);
}

#[test]
fn healthcheck_exits_1_when_the_server_never_answers() {
    // Bound but never accepted: the kernel completes the handshake, nobody replies.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Instant::now();
    let output = run_cv(
        &[
            "healthcheck",
            "--url",
            &format!("http://{addr}/healthz"),
            "--timeout",
            "1",
        ],
        QUICK,
    );
    let took = started.elapsed();
    assert_unhealthy(&output);
    assert!(took < Duration::from_secs(4), "--timeout 1 took {took:?}");
    drop(listener);
}

// ---- cv --version ----

#[test]
fn version_prints_version_and_revision() {
    let output = run_cv(&["--version"], QUICK);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.trim();
    let revision = line
        .strip_prefix("cv 0.1.0 (")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not `cv 0.1.0 (REV)`: {line:?}"));
    assert!(
        !revision.is_empty() && !revision.contains(char::is_whitespace),
        "revision {revision:?}"
    );
}

/// Damaged copies of the sample (truncated at many points, single bytes replaced): `cv validate`
/// must answer every one with exit 0 or 1 and located, well-formed messages — never a panic.
#[test]
fn validate_never_panics_on_damaged_input() {
    let Some(sample) = sample_resume() else {
        return;
    };
    let original = std::fs::read(&sample).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.json");
    let shown = path.display().to_string();

    let mut cases: Vec<Vec<u8>> = Vec::new();
    for cut in (0..original.len()).step_by(original.len() / 40 + 1) {
        cases.push(original[..cut].to_vec());
    }
    // A fixed linear congruential sequence: the same damage on every run, so a failure reproduces.
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let replacements = [
        b'"', b'{', b'}', b'[', b']', b',', b':', b'\\', b'0', 0xff, b'\n',
    ];
    for _ in 0..40 {
        let mut damaged = original.clone();
        let at = next() % damaged.len();
        damaged[at] = replacements[next() % replacements.len()];
        cases.push(damaged);
    }

    for (i, case) in cases.iter().enumerate() {
        std::fs::write(&path, case).unwrap();
        let output = run_cv(&["validate", &shown], QUICK);
        let context = format!(
            "case {i}:\n{}\n{}",
            String::from_utf8_lossy(case),
            describe(&output)
        );
        assert!(matches!(output.status.code(), Some(0 | 1)), "{context}");
        assert_no_panic(&output);
        if output.status.code() == Some(1) {
            let lines = stderr_lines(&output);
            assert!(!lines.is_empty(), "exit 1 without a reason: {context}");
            for line in &lines {
                assert!(
                    line.starts_with("error: ") || line.starts_with(&format!("{shown}:")),
                    "unlocated message {line:?} in {context}"
                );
            }
        }
    }
}

// ---- help ----

#[test]
fn help_has_examples_and_serve_help_explains_the_token() {
    let output = run_cv(&["--help"], QUICK);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Examples:\n  cv validate"));
    for command in ["validate", "render", "serve", "healthcheck"] {
        let output = run_cv(&[command, "--help"], QUICK);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains(&format!("Examples:\n  cv {command}")),
            "{command}:\n{text}"
        );
    }
    let output = run_cv(&["serve", "--help"], QUICK);
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in ["CV_API_TOKEN=", "CV_API_TOKEN_FILE=", "403 writes_disabled"] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}
