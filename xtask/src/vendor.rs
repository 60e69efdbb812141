//! `cargo xtask vendor`: every dependency in `vendor/`, so builds need no network (issue 4).
//!
//! Three steps. `cargo fetch --locked` is the only one that touches the network; it goes through
//! the retry layer with cargo's own retries off (CARGO_NET_RETRY=0), so the two never multiply.
//! `cargo vendor --versioned-dirs --offline` then copies every crate (registry and git alike) out
//! of cargo's cache, one line of progress per crate. Last come the source-replacement config
//! `.cargo/vendor-config.toml`, written beside the user's `.cargo/config.toml` and never over it
//! (a build opts in with `--config`), and the manifest `vendor/.cv-vendor.json`: format version,
//! SHA-256 of Cargo.lock, crate count and total size. The manifest is what makes `--check` and
//! [`require_fresh`] cheap: a vendor tree is fresh when it was written for this very Cargo.lock
//! and no crate or byte was added to or taken from it since. An edit that keeps every size is
//! not seen here — hashing ~300 MB before every offline build would cost seconds — but cargo
//! itself refuses it at build time: every vendored file is checked against its crate's
//! `.cargo-checksum.json`.
//!
//! Every path written is relative to the workspace root (cargo resolves paths in a config file
//! against the parent of the `.cargo` directory holding it), so a checkout that moves, or is
//! copied into a build context, keeps a working vendor tree.

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xshell::{Shell, cmd};

use crate::paths;
use crate::retry::{self, RetryArgs};

/// The manifest's file name, inside the vendor directory.
pub const MANIFEST: &str = ".cv-vendor.json";

/// The source-replacement config, relative to the workspace root.
pub const CONFIG: &str = ".cargo/vendor-config.toml";

/// The manifest's format; a tree written in another format is stale and is vendored again.
pub const FORMAT: u32 = 1;

const EXAMPLES: &str = "\
Examples:
  Vendor every dependency (a second run with an unchanged Cargo.lock does nothing):
    cargo xtask vendor

  Fail (exit 1) when vendor/ no longer matches Cargo.lock, e.g. in CI or a pre-commit hook:
    cargo xtask vendor --check

  Build on the host from vendor/, with no network:
    cargo build --offline --config .cargo/vendor-config.toml

  Build the image with every RUN step cut off from the network:
    cargo xtask docker --mode minimal --offline --base-images standin

Environment:
  CARGO              The cargo to run [default: cargo]
  CV_RETRY_ATTEMPTS  Default for --retry-attempts
  CV_RETRY_MAX_TIME  Default for --retry-max-time";

/// Copy every dependency into a vendor directory for offline builds
///
/// Fetches what Cargo.lock names (retried on network errors), copies it into DIR with
/// versioned directory names, writes .cargo/vendor-config.toml (source replacement, opted into
/// with `--config`; the user's .cargo/config.toml is never touched) and DIR/.cv-vendor.json
/// (format, SHA-256 of Cargo.lock, crate count, total size). Does nothing when DIR already
/// matches Cargo.lock.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Vendor {
    /// Subdirectory of the workspace to vendor into [default: vendor beside Cargo.toml]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Only check that DIR matches Cargo.lock (exit 1 if not); change nothing
    #[arg(long)]
    check: bool,

    /// The workspace's root Cargo.toml [default: this workspace's]
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,

    #[command(flatten)]
    retry: RetryArgs,
}

/// What `vendor/.cv-vendor.json` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Hex SHA-256 of the Cargo.lock the tree was vendored for.
    pub cargo_lock_sha256: String,
    /// Vendored crates (directories holding a `.cargo-checksum.json`).
    pub crates: usize,
    /// Total size of the vendored files in bytes, the manifest left out.
    pub bytes: u64,
}

/// Why a vendor tree cannot be used as it is. Each says what is wrong; [`Problem::advice`] adds
/// what to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    #[error("is missing")]
    Missing,
    #[error("has no {MANIFEST} (made by plain `cargo vendor`, or an interrupted run)")]
    NoManifest,
    #[error("has an unreadable {MANIFEST}: {0}")]
    BadManifest(String),
    #[error(
        "was written in manifest format {found}, which this xtask does not read (it writes \
         format {FORMAT})"
    )]
    Format { found: String },
    #[error("is stale: Cargo.lock changed since it was vendored")]
    LockChanged,
    /// Cargo.lock is not valid TOML: no vendoring can follow it, and vendoring again would not
    /// mend it.
    #[error("Cargo.lock is broken: {0}")]
    BrokenLock(String),
    #[error("Cargo.lock cannot be read: {0}")]
    NoLock(String),
    #[error(
        "was changed since it was vendored: {found_crates} crates, {found_bytes} bytes; the \
         manifest says {crates} crates, {bytes} bytes"
    )]
    Modified {
        found_crates: usize,
        found_bytes: u64,
        crates: usize,
        bytes: u64,
    },
    #[error("has no {CONFIG} beside it (the source replacement builds use)")]
    NoConfig,
    #[error("is not the directory {CONFIG} names ({0})")]
    ConfigElsewhere(String),
}

/// A vendor tree that is not usable, with where it is, for one-line errors.
#[derive(Debug)]
pub struct Problem {
    /// The vendor directory relative to the workspace root, e.g. `vendor`.
    pub dir: PathBuf,
    pub stale: Stale,
}

impl Problem {
    /// The one line a user sees: what is wrong, where, and the command that fixes it.
    pub fn advice(&self, root: &Path) -> String {
        // Paths the user typed (`crates/../Cargo.toml`) are shown resolved.
        let root = normalize(root);
        let own_root = paths::project_root();
        let elsewhere = !same_dir(&root, &own_root);
        let mut fix = "cargo xtask vendor".to_owned();
        if elsewhere {
            fix.push_str(&format!(
                " --manifest-path {}",
                root.join("Cargo.toml").display()
            ));
        }
        if self.dir != Path::new("vendor") {
            fix.push_str(&format!(" --dir {}", root.join(&self.dir).display()));
        }
        match &self.stale {
            // Not `cargo generate-lockfile`: it would re-resolve every version. The committed
            // lockfile is the one to go back to; cargo cannot read a broken one to mend it.
            Stale::BrokenLock(_) => {
                let lock = if elsewhere {
                    root.join("Cargo.lock").display().to_string()
                } else {
                    "Cargo.lock".to_owned()
                };
                format!(
                    "{self}; restore the committed one with `git checkout -- {lock}` (or undo \
                     the edit), then run `{fix}`"
                )
            }
            _ => format!("{self}; run `{fix}`"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stale {
            // About the lockfile, not the vendor tree.
            Stale::BrokenLock(_) | Stale::NoLock(_) => write!(f, "{}", self.stale),
            _ => write!(f, "{}/ {}", self.dir.display(), self.stale),
        }
    }
}

impl Vendor {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        // Resolved lexically, so messages and suggested commands show `crates/Cargo.toml`, not
        // `crates/../crates/Cargo.toml`.
        let manifest_path = match &self.manifest_path {
            Some(path) => normalize(&cwd.join(path)),
            None => paths::project_root().join("Cargo.toml"),
        };
        ensure!(
            manifest_path.is_file(),
            "{} is not a file (--manifest-path takes the workspace's root Cargo.toml)",
            manifest_path.display()
        );
        let root = manifest_path
            .parent()
            .context("the manifest path has no directory")?
            .to_path_buf();
        ensure!(
            root.join("Cargo.lock").is_file(),
            "no Cargo.lock beside {}: vendoring follows the lockfile exactly; give the \
             workspace's root manifest, restore a deleted one with `git checkout -- Cargo.lock`, \
             or make a first one with `cargo generate-lockfile`",
            manifest_path.display()
        );
        let dir = match &self.dir {
            Some(dir) => cwd.join(dir),
            None => root.join("vendor"),
        };
        let rel = inside(&root, &dir)?;

        if self.check {
            let manifest = status(&root, &rel).map_err(|stale| {
                anyhow::anyhow!(
                    Problem {
                        dir: rel.clone(),
                        stale
                    }
                    .advice(&root)
                )
            })?;
            println!(
                "{}/ matches Cargo.lock: {}",
                rel.display(),
                describe(&manifest)
            );
            return Ok(());
        }
        match status(&root, &rel) {
            Ok(manifest) => {
                println!(
                    "{}/ is up to date with Cargo.lock ({}): nothing to do",
                    rel.display(),
                    describe(&manifest)
                );
                return Ok(());
            }
            // Vendoring follows the lockfile: with none that parses there is nothing to follow.
            Err(stale @ (Stale::BrokenLock(_) | Stale::NoLock(_))) => {
                bail!(Problem { dir: rel, stale }.advice(&root))
            }
            Err(stale) => eprintln!(
                "==> {}; vendoring",
                Problem {
                    dir: rel.clone(),
                    stale
                }
            ),
        }

        let started = Instant::now();
        let manifest = vendor(sh, &root, &rel, &manifest_path, &self.retry)?;
        println!(
            "==> vendored into {}/ in {:.0} s: {}",
            rel.display(),
            started.elapsed().as_secs_f64(),
            describe(&manifest)
        );
        println!(
            "    build offline with `cargo build --offline --config {CONFIG}` or \
             `cargo xtask docker --offline`"
        );
        Ok(())
    }
}

/// Fetches, vendors and writes the config and the manifest (the manifest last: a tree without
/// one is never taken for fresh).
fn vendor(
    sh: &Shell,
    root: &Path,
    rel: &Path,
    manifest_path: &Path,
    retry_args: &RetryArgs,
) -> anyhow::Result<Manifest> {
    let dir = root.join(rel);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let lock = fs::read(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let table = parse_lock(&lock).map_err(|stale| {
        anyhow::anyhow!(
            Problem {
                dir: rel.to_path_buf(),
                stale
            }
            .advice(root)
        )
    })?;
    let total = locked_packages(&table);

    eprintln!("[1/3] fetching {total} locked packages (cargo fetch, retried on network errors)");
    let fetch = cmd!(sh, "{cargo} fetch --locked --manifest-path {manifest_path}")
        .env("CARGO_NET_RETRY", "0")
        .quiet();
    retry::run_command("cargo fetch", retry_args.policy(), fetch)?;

    let stale_manifest = dir.join(MANIFEST);
    if stale_manifest.exists() {
        fs::remove_file(&stale_manifest)
            .with_context(|| format!("removing {}", stale_manifest.display()))?;
    }
    eprintln!(
        "[2/3] copying them into {}/ (cargo vendor --versioned-dirs, offline)",
        rel.display()
    );
    let vendor = cmd!(
        sh,
        "{cargo} vendor --versioned-dirs --locked --offline --manifest-path {manifest_path} {dir}"
    )
    .quiet();
    let printed_config = run_with_progress(Command::from(vendor), total)?;

    eprintln!("[3/3] writing {CONFIG} and {}/{MANIFEST}", rel.display());
    let config = config_for(&printed_config, rel)?;
    let config_path = root.join(CONFIG);
    write_atomically(&config_path, &config)?;
    let (crates, bytes) = measure(&dir)?;
    let manifest = Manifest {
        format: FORMAT,
        cargo_lock_sha256: sha256_hex(&lock),
        crates,
        bytes,
    };
    let json = serde_json::to_string_pretty(&manifest).context("serialising the manifest")?;
    write_atomically(&dir.join(MANIFEST), &format!("{json}\n"))?;
    Ok(manifest)
}

/// Runs `cargo vendor`, turning each `Vendoring NAME vX` line into `[k/total] NAME vX`; other
/// lines pass through. Returns its stdout: the config snippet it prints.
fn run_with_progress(mut command: Command, total: usize) -> anyhow::Result<String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start cargo vendor")?;
    let stderr = child.stderr.take().context("cargo vendor has no stderr")?;
    let echo = std::thread::spawn(move || {
        let mut done = 0;
        let mut tail = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut words = line.split_whitespace();
            if words.next() == Some("Vendoring") {
                done += 1;
                let name = words.next().unwrap_or("?");
                let version = words.next().unwrap_or("");
                eprintln!("  [{done}/{total}] {name} {version}");
            } else if !line.starts_with("To use vendored sources") {
                eprintln!("{line}");
                tail.push(line);
            }
        }
        tail
    });
    let mut stdout = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stdout).context("reading cargo vendor")?;
    }
    let status = child.wait().context("waiting for cargo vendor")?;
    let tail = echo.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "cargo vendor failed ({status}): {}",
            tail.last().map_or("see its output above", String::as_str)
        );
    }
    Ok(stdout)
}

/// Whether the vendor tree `rel` (relative to `root`) matches `root/Cargo.lock`, with its
/// config beside it. Reads files only; quick enough for every offline build.
pub fn status(root: &Path, rel: &Path) -> Result<Manifest, Stale> {
    let dir = root.join(rel);
    if !dir.is_dir() {
        return Err(Stale::Missing);
    }
    let text = match fs::read_to_string(dir.join(MANIFEST)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Stale::NoManifest),
        Err(e) => return Err(Stale::BadManifest(e.to_string())),
    };
    let value = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| Stale::BadManifest(e.to_string()))?;
    match value.get("format") {
        Some(f) if f.as_u64() == Some(u64::from(FORMAT)) => {}
        // Any other value, a number or not (`-1`, `"1"`), is a format this xtask does not know.
        Some(found) => {
            return Err(Stale::Format {
                found: found.to_string(),
            });
        }
        None => return Err(Stale::BadManifest("no `format` field".into())),
    }
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| Stale::BadManifest(e.to_string()))?;
    let lock = fs::read(root.join("Cargo.lock")).map_err(|e| Stale::NoLock(e.to_string()))?;
    if sha256_hex(&lock) != manifest.cargo_lock_sha256 {
        // Parsed only when it changed: the one that was vendored parsed then.
        parse_lock(&lock)?;
        return Err(Stale::LockChanged);
    }
    let (found_crates, found_bytes) =
        measure(&dir).map_err(|e| Stale::BadManifest(format!("{e:#}")))?;
    if (found_crates, found_bytes) != (manifest.crates, manifest.bytes) {
        return Err(Stale::Modified {
            found_crates,
            found_bytes,
            crates: manifest.crates,
            bytes: manifest.bytes,
        });
    }
    let config = fs::read_to_string(root.join(CONFIG)).map_err(|_| Stale::NoConfig)?;
    match configured_directory(&config) {
        Some(named) if Path::new(&named) == rel => Ok(manifest),
        Some(named) => Err(Stale::ConfigElsewhere(named)),
        None => Err(Stale::ConfigElsewhere(
            "no vendored-sources directory".into(),
        )),
    }
}

/// For `cargo xtask docker --offline`: Ok when `dir` holds a vendor tree that matches
/// `root/Cargo.lock`; else an error saying what is wrong and to run `cargo xtask vendor`.
pub fn require_fresh(root: &Path, dir: &Path) -> anyhow::Result<()> {
    let rel = inside(root, dir)?;
    status(root, &rel)
        .map(|_| ())
        .map_err(|stale| anyhow::anyhow!(Problem { dir: rel, stale }.advice(root)))
}

/// Cargo.lock as TOML, or why it is broken, in one line: where, and what (the toml crate's own
/// text spans several lines).
fn parse_lock(lock: &[u8]) -> Result<toml::Table, Stale> {
    let text = std::str::from_utf8(lock)
        .map_err(|e| Stale::BrokenLock(format!("not UTF-8 (byte {})", e.valid_up_to())))?;
    text.parse::<toml::Table>().map_err(|error| {
        let message = error.message().trim().to_owned();
        Stale::BrokenLock(match error.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("not valid TOML at line {line}, column {column} ({message})")
            }
            None => format!("not valid TOML ({message})"),
        })
    })
}

/// `dir` relative to `root`; refused when outside it, since a tree outside the checkout would
/// not move with it, nor be in a build context. The workspace root itself is refused too (the
/// tree would be the checkout), and so is a file. The check is made on the real paths as well,
/// so a symlink inside the workspace that leads out of it is refused; the relative path given
/// back is the lexical one, as the config names it.
fn inside(root: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let (root_n, dir_n) = (normalize(root), normalize(dir));
    let why = "the vendor tree must move with the checkout (and be in Docker's build context)";
    let Ok(rel) = dir_n.strip_prefix(&root_n) else {
        bail!(
            "--dir {} is not inside the workspace {}: {why}",
            dir_n.display(),
            root_n.display()
        );
    };
    ensure!(
        !rel.as_os_str().is_empty(),
        "--dir {} is the workspace root itself: give a subdirectory of it, such as {}",
        dir_n.display(),
        root_n.join("vendor").display()
    );
    ensure!(
        !dir_n.exists() || dir_n.is_dir(),
        "--dir {} is a file: give a directory to vendor into (it is made when missing)",
        dir_n.display()
    );
    let (real_root, real_dir) = (real_path(&root_n), real_path(&dir_n));
    ensure!(
        real_dir.starts_with(&real_root) && real_dir != real_root,
        "--dir {} leads to {} through a symlink, which is {}: {why}; give a real directory \
         inside the workspace",
        dir_n.display(),
        real_dir.display(),
        if real_dir == real_root {
            "the workspace root itself"
        } else {
            "outside the workspace"
        }
    );
    Ok(rel.to_path_buf())
}

/// The path with every symlink resolved: the longest existing ancestor canonicalised, the rest
/// (not made yet) appended as it is.
fn real_path(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// `.` and `..` resolved without touching the file system (the directory may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => normalize(a) == normalize(b),
    }
}

/// Packages in Cargo.lock that come from somewhere (a registry or git): what gets vendored.
fn locked_packages(lock: &toml::Table) -> usize {
    lock.get("package")
        .and_then(toml::Value::as_array)
        .map_or(0, |packages| {
            packages
                .iter()
                .filter(|p| p.get("source").is_some())
                .count()
        })
}

/// The config `cargo vendor` printed, with the vendored-sources directory made relative to the
/// workspace root (cargo prints the path it was given, which is absolute here), under a header
/// that says how to use it.
pub fn config_for(printed: &str, rel: &Path) -> anyhow::Result<String> {
    let mut table: toml::Table = printed
        .parse()
        .context("cargo vendor printed a config that is not valid TOML")?;
    let directory = table
        .get_mut("source")
        .and_then(|s| s.get_mut("vendored-sources"))
        .and_then(toml::Value::as_table_mut)
        .context("cargo vendor printed no [source.vendored-sources]")?;
    let rel = rel
        .to_str()
        .context("the vendor directory's path is not UTF-8")?;
    directory.insert("directory".into(), toml::Value::String(rel.to_owned()));
    let body = toml::to_string(&table).context("writing the vendor config")?;
    Ok(format!(
        "# Written by `cargo xtask vendor`; do not edit (the next run rewrites it).\n\
         # Source replacement: every crate comes from {rel}/. Builds opt in with\n\
         #   cargo build --offline --config {CONFIG}\n\
         # The path is relative to the workspace root, so the checkout may move.\n\n{body}"
    ))
}

/// The `directory` of `[source.vendored-sources]` in a vendor config.
fn configured_directory(config: &str) -> Option<String> {
    let table: toml::Table = config.parse().ok()?;
    table
        .get("source")?
        .get("vendored-sources")?
        .get("directory")?
        .as_str()
        .map(str::to_owned)
}

/// Vendored crates and their total size, the manifest left out.
fn measure(dir: &Path) -> anyhow::Result<(usize, u64)> {
    let mut crates = 0;
    let mut bytes = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            if path.join(".cargo-checksum.json").is_file() {
                crates += 1;
            }
            bytes += tree_size(&path)?;
        } else if entry.file_name() != MANIFEST {
            bytes += entry.metadata()?.len();
        }
    }
    Ok((crates, bytes))
}

fn tree_size(dir: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            bytes += tree_size(&entry.path())?;
        } else if kind.is_file() {
            bytes += entry.metadata()?.len();
        }
    }
    Ok(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn describe(manifest: &Manifest) -> String {
    format!(
        "{} crates, {:.1} MB",
        manifest.crates,
        manifest.bytes as f64 / 1e6
    )
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_becomes_relative_and_keeps_git_sources() {
        let printed = r#"
[source."git+file:///tmp/x/gitdep"]
git = "file:///tmp/x/gitdep"
replace-with = "vendored-sources"

[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "/abs/path/vendor"
"#;
        let config = config_for(printed, Path::new("vendor")).unwrap();
        assert!(
            config.starts_with("# Written by `cargo xtask vendor`"),
            "{config}"
        );
        assert_eq!(configured_directory(&config).as_deref(), Some("vendor"));
        let table: toml::Table = config.parse().unwrap();
        assert_eq!(
            table["source"]["git+file:///tmp/x/gitdep"]["replace-with"].as_str(),
            Some("vendored-sources")
        );
        assert_eq!(
            table["source"]["crates-io"]["replace-with"].as_str(),
            Some("vendored-sources")
        );
        assert!(!config.contains("/abs/path"), "{config}");
        assert!(config_for("[source.crates-io]\n", Path::new("vendor")).is_err());
    }

    #[test]
    fn the_vendor_dir_must_be_inside_the_workspace() {
        let root = Path::new("/w/cv");
        assert_eq!(
            inside(root, Path::new("/w/cv/vendor")).unwrap(),
            Path::new("vendor")
        );
        assert_eq!(
            inside(root, Path::new("/w/cv/./third/../deps")).unwrap(),
            Path::new("deps")
        );
        for outside in ["/w/other/vendor", "/w/cv/../vendor"] {
            let err = inside(root, Path::new(outside)).unwrap_err().to_string();
            assert!(
                err.contains("is not inside the workspace"),
                "{outside}: {err}"
            );
        }
        for itself in ["/w/cv", "/w/cv/vendor/.."] {
            let err = inside(root, Path::new(itself)).unwrap_err().to_string();
            assert_eq!(
                err,
                "--dir /w/cv is the workspace root itself: give a subdirectory of it, such as \
                 /w/cv/vendor"
            );
        }
    }

    #[test]
    fn a_file_or_a_symlink_out_of_the_workspace_is_not_a_vendor_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        let away = tmp.path().join("away");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&away).unwrap();
        fs::write(root.join("README.md"), "hello").unwrap();
        let err = inside(&root, &root.join("README.md"))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "README.md is a file: give a directory to vendor into (it is made when missing)"
            ),
            "{err}"
        );

        std::os::unix::fs::symlink(&away, root.join("vendor")).unwrap();
        let err = inside(&root, &root.join("vendor")).unwrap_err().to_string();
        assert!(
            err.contains("through a symlink, which is outside the workspace"),
            "{err}"
        );
        // Not made yet, below the link: still outside.
        let err = inside(&root, &root.join("vendor/deeper"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside the workspace"), "{err}");

        // A link that stays inside is fine, and keeps its lexical name.
        fs::create_dir_all(root.join("deps")).unwrap();
        std::os::unix::fs::symlink(root.join("deps"), root.join("linked")).unwrap();
        assert_eq!(
            inside(&root, &root.join("linked")).unwrap(),
            Path::new("linked")
        );
    }

    #[test]
    fn a_manifest_in_an_unknown_format_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("vendor")).unwrap();
        fs::write(root.join("Cargo.lock"), "version = 4\n").unwrap();
        for (json, found) in [
            (r#"{"format": -1}"#, "-1"),
            (r#"{"format": 2}"#, "2"),
            (r#"{"format": "1"}"#, "\"1\""),
        ] {
            fs::write(root.join("vendor").join(MANIFEST), json).unwrap();
            assert_eq!(
                status(root, Path::new("vendor")),
                Err(Stale::Format {
                    found: found.to_owned()
                })
            );
        }
        let stale = status(root, Path::new("vendor")).unwrap_err();
        assert_eq!(
            stale.to_string(),
            "was written in manifest format \"1\", which this xtask does not read (it writes format 1)"
        );
        fs::write(root.join("vendor").join(MANIFEST), "{}").unwrap();
        assert_eq!(
            status(root, Path::new("vendor")),
            Err(Stale::BadManifest("no `format` field".into()))
        );
    }

    #[test]
    fn locked_packages_count_only_those_with_a_source() {
        let lock = r#"
version = 4
[[package]]
name = "app"
version = "0.1.0"
[[package]]
name = "gitdep"
version = "0.1.0"
source = "git+file:///tmp/gitdep#077c81ac"
[[package]]
name = "itoa"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        assert_eq!(locked_packages(&parse_lock(lock.as_bytes()).unwrap()), 2);
        assert_eq!(
            parse_lock(b"version = 4\n\n[[package\nname = 1\n").unwrap_err(),
            Stale::BrokenLock(
                "not valid TOML at line 3, column 10 (unclosed array table, expected `]]`)".into()
            )
        );
    }

    #[test]
    fn problems_read_as_one_line_naming_the_fix() {
        let root = paths::project_root();
        let problem = Problem {
            dir: "vendor".into(),
            stale: Stale::LockChanged,
        };
        assert_eq!(
            problem.advice(&root),
            "vendor/ is stale: Cargo.lock changed since it was vendored; run `cargo xtask vendor`"
        );
        let elsewhere = Problem {
            dir: "deps".into(),
            stale: Stale::Missing,
        };
        assert_eq!(
            elsewhere.advice(Path::new("/tmp/copy")),
            "deps/ is missing; run `cargo xtask vendor --manifest-path /tmp/copy/Cargo.toml \
             --dir /tmp/copy/deps`"
        );
        // No `crates/../crates` in a command to copy.
        assert_eq!(
            elsewhere.advice(Path::new("/tmp/copy/crates/../crates/./x/..")),
            "deps/ is missing; run `cargo xtask vendor --manifest-path \
             /tmp/copy/crates/Cargo.toml --dir /tmp/copy/crates/deps`"
        );
        let broken = Problem {
            dir: "vendor".into(),
            stale: Stale::BrokenLock("not valid TOML at line 3, column 10 (…)".into()),
        };
        let advice = broken.advice(&root);
        assert_eq!(
            advice,
            "Cargo.lock is broken: not valid TOML at line 3, column 10 (…); restore the \
             committed one with `git checkout -- Cargo.lock` (or undo the edit), then run \
             `cargo xtask vendor`"
        );
        assert!(!advice.contains("generate-lockfile"), "{advice}");
    }

    #[test]
    fn sha256_is_hex_of_the_bytes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
