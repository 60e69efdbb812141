//! Fault injection on loopback, without Docker: the real `cargo fetch` against a cargo sparse
//! registry served by the fault server, run through xtask's retry layer (`retry::run_command`,
//! with cargo's own retries off). For each fault: fewer faulted requests than the retry budget
//! end in success, as many or more in one clear failure, and a 404 is tried exactly once.
//! Attempts are counted twice: by the server (every request) and by the retry layer's error.
//!
//! The registry is real enough for cargo: `config.json`, an index file whose line carries the
//! sha256 of a `.crate` made here by `cargo package` of a tiny crate, and the download itself.

#[allow(dead_code)]
#[path = "../src/retry.rs"]
mod retry;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use retry::Policy;
use retry::faulty::{Backend, Fault, Faulty};

const CRATE: &str = "cvtiny";
const VERSION: &str = "0.1.0";
const DOWNLOAD: &str = "/dl/cvtiny/0.1.0/download";

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The `.crate` of a tiny crate, packaged once per run by the real `cargo package`.
fn packaged_crate() -> &'static (Vec<u8>, String) {
    static PACKAGED: OnceLock<(Vec<u8>, String)> = OnceLock::new();
    PACKAGED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().join(CRATE);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{CRATE}\"\nversion = \"{VERSION}\"\nedition = \"2021\"\n\
                 description = \"fault-injection test crate\"\nlicense = \"MIT\"\n\n[workspace]\n"
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("src/lib.rs"),
            "pub fn answer() -> u32 {\n    42\n}\n",
        )
        .unwrap();
        let out = Command::new(cargo())
            .args(["package", "--no-verify", "--allow-dirty", "--offline"])
            .current_dir(&root)
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo package failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = root.join(format!("target/package/{CRATE}-{VERSION}.crate"));
        let bytes = std::fs::read(&file).expect("cargo package wrote the .crate");
        // The real tool for the checksum cargo verifies.
        let sum = Command::new("sha256sum").arg(&file).output().unwrap();
        let sum = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(sum.len(), 64, "sha256sum printed {sum:?}");
        (bytes, sum)
    })
}

/// A sparse registry on the fault server, and a crate that depends on its one crate, with a
/// cargo home of its own that has never fetched anything.
struct Registry {
    server: Faulty,
    _dir: tempfile::TempDir,
    manifest: PathBuf,
    cargo_home: PathBuf,
}

impl Registry {
    fn new(fault: Fault, first: usize) -> Registry {
        Registry::with(fault, first, None)
    }

    /// Only requests whose path contains `only` are faulted.
    fn with(fault: Fault, first: usize, only: Option<&str>) -> Registry {
        let server = Faulty::start_only(Backend::Files, fault, first, only).unwrap();
        let (bytes, sum) = packaged_crate();
        let url = server.url();
        server.put(
            "/index/config.json",
            format!(r#"{{"dl":"{url}/dl/{{crate}}/{{version}}/download"}}"#),
        );
        server.put(
            "/index/cv/ti/cvtiny",
            format!(
                r#"{{"name":"{CRATE}","vers":"{VERSION}","deps":[],"cksum":"{sum}","features":{{}},"yanked":false}}"#
            ) + "\n",
        );
        server.put(DOWNLOAD, bytes.clone());

        let dir = tempfile::tempdir().unwrap();
        let consumer = dir.path().join("consumer");
        std::fs::create_dir_all(consumer.join("src")).unwrap();
        std::fs::write(
            consumer.join("Cargo.toml"),
            format!(
                "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\n{CRATE} = {{ version = \"0.1\", registry = \"faulty\" }}\n\n[workspace]\n"
            ),
        )
        .unwrap();
        std::fs::write(consumer.join("src/lib.rs"), "").unwrap();
        let cargo_home = dir.path().join("cargo-home");
        std::fs::create_dir_all(&cargo_home).unwrap();
        std::fs::write(
            cargo_home.join("config.toml"),
            format!("[registries.faulty]\nindex = \"sparse+{url}/index/\"\n"),
        )
        .unwrap();
        Registry {
            server,
            manifest: consumer.join("Cargo.toml"),
            cargo_home,
            _dir: dir,
        }
    }

    /// The real `cargo fetch` through the retry layer; cargo's own retries are off so that the
    /// layer sees (and counts) every failure.
    fn fetch(&self, policy: Policy) -> anyhow::Result<std::process::Output> {
        let sh = xshell::Shell::new()?;
        let cargo = cargo();
        let manifest = &self.manifest;
        let cmd = xshell::cmd!(sh, "{cargo} fetch --manifest-path {manifest}")
            .env("CARGO_HOME", &self.cargo_home)
            .env("CARGO_NET_RETRY", "0")
            .env("CARGO_HTTP_TIMEOUT", "2")
            .env_remove("CARGO_TARGET_DIR")
            .quiet();
        retry::run_command("cargo fetch", policy, cmd)
    }

    fn fetched(&self) -> bool {
        has_file_named(
            &self.cargo_home.join("registry/cache"),
            &format!("{CRATE}-{VERSION}.crate"),
        )
    }
}

fn has_file_named(dir: &Path, name: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let path = e.path();
            path.file_name().is_some_and(|n| n == name)
                || (path.is_dir() && has_file_named(&path, name))
        })
    })
}

/// Three attempts, short waits.
fn policy() -> Policy {
    Policy {
        attempts: 3,
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_time: Duration::from_secs(60),
        request_timeout: Duration::from_secs(5),
    }
}

/// The faults, each aimed at the first request of an attempt; with three attempts, two faulted
/// requests are survived and three are not.
fn faults() -> [Fault; 4] {
    [
        Fault::Status(503),
        Fault::Drop,
        Fault::Reset,
        // Longer than CARGO_HTTP_TIMEOUT=2: cargo gives up on the request.
        Fault::Delay(Duration::from_secs(4)),
    ]
}

#[test]
fn cargo_fetch_survives_faults_below_the_retry_budget() {
    for fault in faults() {
        let registry = Registry::new(fault, 2);
        let started = Instant::now();
        let out = registry.fetch(policy());
        let log = registry.server.log();
        assert!(out.is_ok(), "{fault:?}: {:#}\n{log:#?}", out.unwrap_err());
        assert!(registry.fetched(), "{fault:?}: no .crate in the cargo home");
        assert_eq!(registry.server.faulted(), 2, "{fault:?}: {log:#?}");
        // Two faulted requests (config.json, once per failed attempt), then one whole
        // successful fetch: config.json, the index file, the download.
        assert_eq!(log.len(), 2 + 3, "{fault:?}: {log:#?}");
        assert_eq!(
            registry.server.requests_to(DOWNLOAD),
            1,
            "{fault:?}: {log:#?}"
        );
        eprintln!(
            "{fault:?} x2: {} requests, {:.1} s",
            log.len(),
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn cargo_fetch_fails_once_clearly_at_the_retry_budget() {
    for fault in faults() {
        let registry = Registry::new(fault, 3);
        let err = registry.fetch(policy()).unwrap_err();
        let log = registry.server.log();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("cargo fetch failed 3 times in ")
                && text.contains("all 3 attempts used"),
            "{fault:?}: {text}"
        );
        assert_eq!(text.lines().count(), 1, "{fault:?}: one line: {text}");
        assert_eq!(registry.server.faulted(), 3, "{fault:?}: {log:#?}");
        assert_eq!(log.len(), 3, "{fault:?}: one request per attempt: {log:#?}");
        assert!(!registry.fetched(), "{fault:?}");
    }
}

#[test]
fn cargo_fetch_of_a_missing_crate_file_is_tried_exactly_once() {
    // The index names the crate, but its download answers 404, which no retry can fix.
    let registry = Registry::with(Fault::Status(404), usize::MAX, Some("/dl/"));
    let err = registry.fetch(policy()).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.starts_with("cargo fetch failed (HTTP 404 not found; not retried"),
        "{text}"
    );
    let log = registry.server.log();
    assert_eq!(registry.server.requests_to(DOWNLOAD), 1, "{log:#?}");
    assert_eq!(registry.server.faulted(), 1, "{log:#?}");
}
