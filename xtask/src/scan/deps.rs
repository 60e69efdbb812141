//! Dependencies against the RustSec advisory database: a Cargo.lock, or the package list a
//! binary carries (cargo-auditable's `.dep-v0`, read by the image scan).
//!
//! Four kinds, each its own check so the report shows which ran: vulnerabilities
//! (`advisories`), `unmaintained`, `unsound` (both informational advisories) and `yanked`
//! (the crates.io index, only with `--check-yanked`: it needs the network).
//!
//! The database is a directory in the advisory-db layout (`crates/<name>/RUSTSEC-….md`), read
//! with the `rustsec` crate built without its git stack. It comes from, in this order: `--db`,
//! env `CV_ADVISORY_DB`, cargo-audit's copy in `$CARGO_HOME/advisory-db`, our own earlier
//! download in `target/cv-scan/advisory-db`, or a fresh download of the GitHub archive through
//! the retry layer.
//!
//! Severity: a vulnerability's CVSS score where the advisory has one; `high` where it has none
//! (cargo-audit fails on every vulnerability, and an unscored one is not a harmless one).
//! Unsound code is `medium`, an unmaintained crate or a yanked version `low`, a notice `low`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustsec::SourceId;
use rustsec::advisory::Informational;
use rustsec::package::Name;
use rustsec::{Advisory, Database, Lockfile, Version};

use super::{Check, Finding, Location, Severity, Tool};
use crate::paths;
use crate::retry::{self, Policy};

/// Where the advisory database is downloaded from when no copy is found.
const ARCHIVE_URL: &str = "https://github.com/rustsec/advisory-db/archive/refs/heads/main.tar.gz";
/// How old our own download may get before it is fetched again.
const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// What a real database is and how to get one, for every error about one.
const GET_ONE: &str = "a real one is a checkout of rustsec/advisory-db, with a file per advisory \
     in crates/<crate>/RUSTSEC-<year>-<number>.md: `git clone \
     https://github.com/rustsec/advisory-db` and pass its path with --db (or CV_ADVISORY_DB), or \
     set neither to use cargo-audit's copy or a download";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the advisory database {path} is not readable: {source}; {GET_ONE}")]
    Open {
        path: PathBuf,
        source: rustsec::Error,
    },
    #[error("the advisory database {path} does not exist; {GET_ONE}")]
    Missing { path: PathBuf },
    #[error("{path} is not an advisory database (no crates/ directory in it); {GET_ONE}")]
    NotADatabase { path: PathBuf },
    /// Every lockfile would pass against it: a clean verdict that means nothing.
    #[error(
        "the advisory database {path} ({origin}) holds no advisories, so nothing could ever be \
         found in it; {GET_ONE}"
    )]
    Empty { path: PathBuf, origin: &'static str },
}

/// A loaded advisory database and where it came from.
pub struct AdvisoryDb {
    db: Database,
    /// The directory it was read from.
    pub path: PathBuf,
    /// How it was found: `--db`, `CV_ADVISORY_DB`, `cargo-audit's copy`, `downloaded`.
    pub origin: &'static str,
}

impl std::fmt::Debug for AdvisoryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryDb")
            .field("path", &self.path)
            .field("origin", &self.origin)
            .field("advisories", &self.count())
            .finish()
    }
}

impl AdvisoryDb {
    /// Read the database at `path`. One without a single advisory is refused: it is a broken
    /// copy (an empty checkout, a wrong directory that happens to hold `crates/`), not a clean
    /// bill of health.
    pub fn open(path: &Path, origin: &'static str) -> Result<AdvisoryDb, DbError> {
        let path_buf = path.to_path_buf();
        if !path.exists() {
            return Err(DbError::Missing { path: path_buf });
        }
        if !path.join("crates").is_dir() {
            return Err(DbError::NotADatabase { path: path_buf });
        }
        let db = Database::open(path).map_err(|source| DbError::Open {
            path: path_buf.clone(),
            source,
        })?;
        let db = AdvisoryDb {
            db,
            path: path_buf,
            origin,
        };
        if db.count() == 0 {
            return Err(DbError::Empty {
                path: db.path,
                origin,
            });
        }
        Ok(db)
    }

    /// The database named by `--db` (clap also fills it from `CV_ADVISORY_DB`), else the first
    /// local copy, else a download.
    /// `policy` is the retry policy of the command's `--retry-*` flags, for the download.
    pub fn load(flag: Option<&Path>, policy: Policy) -> anyhow::Result<AdvisoryDb> {
        if let Some(path) = flag {
            return Ok(AdvisoryDb::open(path, "--db or CV_ADVISORY_DB")?);
        }
        if let Some(path) = cargo_audit_copy().filter(|p| p.join("crates").is_dir()) {
            return Ok(AdvisoryDb::open(&path, "cargo-audit's copy")?);
        }
        let ours = download_dir();
        if is_fresh(&ours) {
            return Ok(AdvisoryDb::open(&ours, "downloaded earlier")?);
        }
        match download(&ours, policy) {
            Ok(()) => Ok(AdvisoryDb::open(&ours, "downloaded")?),
            Err(err) if ours.join("crates").is_dir() => {
                eprintln!(
                    "warning: could not refresh the advisory database ({err:#}); using the copy \
                     in {}",
                    ours.display()
                );
                Ok(AdvisoryDb::open(&ours, "downloaded earlier (stale)")?)
            }
            Err(err) => Err(err.context(
                "no advisory database: pass --db PATH (a checkout of rustsec/advisory-db) or set \
                 CV_ADVISORY_DB",
            )),
        }
    }

    /// Number of advisories in it.
    pub fn count(&self) -> usize {
        self.db.iter().count()
    }

    /// One line for the report's notes: which database, from where, how large.
    pub fn describe(&self) -> String {
        format!(
            "advisory-db {} ({}, {} advisories)",
            self.path.display(),
            self.origin,
            self.count()
        )
    }

    /// Advisories (withdrawn ones left out) affecting this crate version.
    fn affecting(
        &self,
        name: &Name,
        version: &Version,
        source: Option<&SourceId>,
    ) -> Vec<&Advisory> {
        let mut query = rustsec::database::Query::new()
            .collection(rustsec::Collection::Crates)
            .package_name(name.clone())
            .package_version(version.clone())
            .withdrawn(false);
        if let Some(source) = source {
            query = query.package_source(source.clone());
        }
        self.db.query(&query)
    }
}

/// `$CARGO_HOME/advisory-db`, where cargo-audit keeps its clone.
fn cargo_audit_copy() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(cargo_home.join("advisory-db"))
}

/// Where our own download lives (in target/, so `cargo xtask clean` takes it too).
/// `CV_ADVISORY_DB_CACHE` moves it (a CI cache directory, or a test's temporary one).
pub fn download_dir() -> PathBuf {
    match std::env::var_os("CV_ADVISORY_DB_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => paths::project_root().join("target/cv-scan/advisory-db"),
    }
}

/// The archive to download: `CV_ADVISORY_DB_URL` (a mirror, or a test's loopback server), else
/// GitHub's archive of rustsec/advisory-db.
fn archive_url() -> String {
    std::env::var("CV_ADVISORY_DB_URL").unwrap_or_else(|_| ARCHIVE_URL.to_owned())
}

fn is_fresh(dir: &Path) -> bool {
    std::fs::metadata(dir.join("crates"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < MAX_AGE)
}

/// Download the archive of rustsec/advisory-db into `dir`, replacing what was there only once
/// the new copy is complete.
fn download(dir: &Path, policy: Policy) -> anyhow::Result<()> {
    let url = archive_url();
    eprintln!("fetching the RustSec advisory database from {url}");
    let bytes = retry::http_get("advisory-db download", policy, &url)?;
    let parent = dir
        .parent()
        .context("the download directory has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = parent.join("advisory-db.partial");
    let _ = std::fs::remove_dir_all(&staging);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    for entry in archive
        .entries()
        .context("the advisory-db archive is not a tar.gz")?
    {
        let mut entry = entry.context("the advisory-db archive is damaged")?;
        let path = entry.path()?.into_owned();
        // The archive's top directory is `advisory-db-main/`; drop it.
        let relative: PathBuf = path.components().skip(1).collect();
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = staging.join(&relative);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("cannot unpack {}", relative.display()))?;
    }
    AdvisoryDb::open(&staging, "downloaded")?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staging, dir)
        .with_context(|| format!("cannot move the download to {}", dir.display()))?;
    Ok(())
}

/// The four advisory checks of a Cargo.lock (yanked is separate: see [`check_yanked`]).
pub fn check_lockfile(db: &AdvisoryDb, path: &Path, shown: &str) -> anyhow::Result<Vec<Check>> {
    let lockfile = Lockfile::load(path).with_context(|| {
        format!(
            "cannot read {} as a Cargo.lock (run `cargo generate-lockfile`?)",
            path.display()
        )
    })?;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut kinds = Kinds::default();
    for package in &lockfile.packages {
        // Workspace and path crates have no source: advisories are about published crates.
        let Some(source) = &package.source else {
            continue;
        };
        let version = package.version.to_string();
        for advisory in db.affecting(&package.name, &package.version, Some(source)) {
            kinds.add(
                advisory,
                package.name.as_str(),
                &version,
                &Location {
                    path: shown.to_owned(),
                    line: package_line(&text, package.name.as_str(), &version),
                },
            );
        }
    }
    Ok(kinds.into_checks(shown))
}

/// The line of a package's `name = "…"` in a Cargo.lock, for the report and SARIF regions.
fn package_line(text: &str, name: &str, version: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let name_line = format!("name = \"{name}\"");
    let version_line = format!("version = \"{version}\"");
    lines
        .iter()
        .enumerate()
        .position(|(i, l)| {
            l.trim() == name_line && lines.get(i + 1).is_some_and(|v| v.trim() == version_line)
        })
        .map(|i| i + 1)
}

/// Findings of every kind for a list of `(name, version)` pairs, e.g. the dependency list
/// embedded in a binary; `target` is the location the findings name (`IMAGE:/usr/local/bin/cv`).
/// A pair whose name or version does not parse is a low finding of its own, not an error.
pub fn check_packages(
    db: &AdvisoryDb,
    packages: &[(String, String)],
    target: &str,
) -> Vec<Finding> {
    let mut kinds = Kinds::default();
    let location = Location {
        path: target.to_owned(),
        line: None,
    };
    for (name, version) in packages {
        let parsed = (Name::from_str(name), Version::parse(version));
        let (Ok(parsed_name), Ok(parsed_version)) = parsed else {
            kinds.unparsable.push(Finding {
                rule: "CVDEP-PARSE".to_owned(),
                severity: Severity::Low,
                tool: Tool::Builtin,
                message: format!("cannot check `{name} {version}`: not a crate name and version"),
                location: Some(location.clone()),
            });
            continue;
        };
        for advisory in db.affecting(&parsed_name, &parsed_version, None) {
            kinds.add(advisory, name, version, &location);
        }
    }
    let mut all = kinds.vulnerabilities;
    all.extend(kinds.unmaintained);
    all.extend(kinds.unsound);
    all.extend(kinds.unparsable);
    all
}

/// Findings sorted by kind.
#[derive(Default)]
struct Kinds {
    vulnerabilities: Vec<Finding>,
    unmaintained: Vec<Finding>,
    unsound: Vec<Finding>,
    unparsable: Vec<Finding>,
}

impl Kinds {
    fn add(&mut self, advisory: &Advisory, name: &str, version: &str, location: &Location) {
        let id = advisory.id().to_string();
        let fix = match advisory.versions.patched() {
            [] => "no fixed version yet: replace the crate".to_owned(),
            patched => format!(
                "upgrade to {}",
                patched
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        };
        let (list, severity, kind) = match &advisory.metadata.informational {
            None => (
                &mut self.vulnerabilities,
                advisory.severity().map_or(Severity::High, from_cvss),
                "vulnerability",
            ),
            Some(Informational::Unmaintained) => {
                (&mut self.unmaintained, Severity::Low, "unmaintained")
            }
            Some(Informational::Unsound) => (&mut self.unsound, Severity::Medium, "unsound"),
            Some(other) => (&mut self.unmaintained, Severity::Low, other.as_str()),
        };
        list.push(Finding {
            rule: id,
            severity,
            tool: Tool::Builtin,
            message: format!("{name} {version}: {kind}: {} ({fix})", advisory.title()),
            location: Some(location.clone()),
        });
    }

    fn into_checks(self, target: &str) -> Vec<Check> {
        vec![
            Check::ran("advisories", target, self.vulnerabilities),
            Check::ran("unmaintained", target, self.unmaintained),
            Check::ran("unsound", target, self.unsound),
        ]
    }
}

fn from_cvss(severity: rustsec::advisory::Severity) -> Severity {
    use rustsec::advisory::Severity as Cvss;
    match severity {
        Cvss::None | Cvss::Low => Severity::Low,
        Cvss::Medium => Severity::Medium,
        Cvss::High => Severity::High,
        Cvss::Critical => Severity::Critical,
    }
}

/// The crates.io sparse index, overridable for tests (`CV_CRATES_INDEX`, e.g. a loopback fake).
fn index_url() -> String {
    std::env::var("CV_CRATES_INDEX").unwrap_or_else(|_| "https://index.crates.io".to_owned())
}

/// The sparse index path of a crate: `1/a`, `2/ab`, `3/a/abc`, `se/rd/serde`.
pub fn index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// Whether the locked crates.io versions were yanked, asked of the sparse index.
pub fn check_yanked(path: &Path, shown: &str, policy: Policy) -> anyhow::Result<Check> {
    let lockfile =
        Lockfile::load(path).with_context(|| format!("cannot read {}", path.display()))?;
    let base = index_url();
    let mut findings = Vec::new();
    for package in &lockfile.packages {
        let from_crates_io = package
            .source
            .as_ref()
            .is_some_and(|s| s.is_default_registry());
        if !from_crates_io {
            continue;
        }
        let url = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            index_path(package.name.as_str())
        );
        let body = match retry::http_get("crates.io index", policy, &url) {
            Ok(body) => body,
            Err(err) => {
                return Ok(Check::skipped(
                    "yanked",
                    shown,
                    format!(
                        "the crates.io index did not answer for {}: {err:#}",
                        package.name
                    ),
                ));
            }
        };
        if is_yanked(&body, &package.version.to_string()) {
            findings.push(Finding {
                rule: "CVDEP-YANKED".to_owned(),
                severity: Severity::Low,
                tool: Tool::Builtin,
                message: format!(
                    "{} {} was yanked from crates.io: `cargo update -p {}`",
                    package.name, package.version, package.name
                ),
                location: Some(Location {
                    path: shown.to_owned(),
                    line: None,
                }),
            });
        }
    }
    Ok(Check::ran(
        "yanked",
        format!("{shown} against {base}"),
        findings,
    ))
}

/// Whether the index file (one JSON object per line) marks `version` as yanked.
fn is_yanked(index_file: &[u8], version: &str) -> bool {
    String::from_utf8_lossy(index_file)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .any(|entry| entry["vers"] == version && entry["yanked"] == true)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{AdvisoryDb, DbError, index_path, is_yanked};

    fn fixture_db() -> &'static Path {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/advisory-db"
        ))
    }

    #[test]
    fn a_database_must_exist_have_crates_and_hold_advisories() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no-such-db");
        let err = AdvisoryDb::open(&missing, "--db").expect_err("missing");
        assert!(matches!(err, DbError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = AdvisoryDb::open(dir.path(), "--db").expect_err("no crates/");
        assert!(matches!(err, DbError::NotADatabase { .. }), "{err}");
        std::fs::create_dir_all(dir.path().join("crates/some-crate")).expect("mkdir");
        let err = AdvisoryDb::open(dir.path(), "--db").expect_err("empty");
        assert!(matches!(err, DbError::Empty { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("holds no advisories"), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(
            text.contains("git clone https://github.com/rustsec/advisory-db"),
            "{text}"
        );
        let db = AdvisoryDb::open(fixture_db(), "--db").expect("the fixture database");
        assert_eq!(db.count(), 6);
    }

    #[test]
    fn sparse_index_paths() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("Serde"), "se/rd/serde");
    }

    #[test]
    fn yanked_versions_from_index_lines() {
        let file = br#"{"name":"x","vers":"0.1.0","yanked":false}
{"name":"x","vers":"0.1.1","yanked":true}"#;
        assert!(is_yanked(file, "0.1.1"));
        assert!(!is_yanked(file, "0.1.0"));
        assert!(!is_yanked(file, "0.2.0"));
    }
}
