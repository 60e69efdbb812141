//! `cargo xtask scan`: what makes an image unsafe, found before it ships (issue 5).
//!
//! Every check produces a [`Check`]: what ran (or why it was skipped) and its [`Finding`]s. The
//! report lists every check, so a clean result says what was looked at, not only that nothing was
//! found.
//!
//! The work is split by target: [`dockerfile`] and [`compose`] hold the built-in policy rules,
//! [`deps`] checks a Cargo.lock (or a binary's embedded dependency list) against the RustSec
//! advisory database, [`tools`] merges hadolint's and trivy's findings where they are installed,
//! and [`report`] renders the result as a table, JSON or SARIF.

pub mod compose;
pub mod deps;
pub mod dockerfile;
pub mod image;
pub mod report;
pub mod sbom;
pub mod secrets;
pub mod tools;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use xshell::Shell;

use crate::docker::Mode;
use crate::paths;
use crate::retry::RetryArgs;
use report::Report;

/// How bad a finding is; `--fail-on` compares against this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Which tool found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// This scanner's own rules.
    Builtin,
    Hadolint,
    Trivy,
}

/// Where a finding is: a file (Dockerfile, compose file, Cargo.lock), an image, or a file in an
/// image (`path` is then `IMAGE:/path/in/image`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: String,
    /// 1-based, when the finding is on a line.
    pub line: Option<usize>,
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id: `CVD…` Dockerfile, `CVC…` compose, `CVI…` image, `RUSTSEC-…` advisories,
    /// `DL…`/`SC…` hadolint's own.
    pub rule: String,
    pub severity: Severity,
    pub tool: Tool,
    /// One line: what is wrong and what to do.
    pub message: String,
    pub location: Option<Location>,
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id, e.g. `dockerfile-rules`, `hadolint`, `advisories`, `image-user`.
    pub id: String,
    /// What was checked, e.g. the file or image.
    pub target: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Ran {
        findings: Vec<Finding>,
    },
    /// Not run, and why (e.g. "hadolint is not installed").
    Skipped {
        reason: String,
    },
}

impl Check {
    pub fn ran(id: &str, target: impl Into<String>, findings: Vec<Finding>) -> Check {
        Check {
            id: id.to_owned(),
            target: target.into(),
            outcome: Outcome::Ran { findings },
        }
    }

    pub fn skipped(id: &str, target: impl Into<String>, reason: impl Into<String>) -> Check {
        Check {
            id: id.to_owned(),
            target: target.into(),
            outcome: Outcome::Skipped {
                reason: reason.into(),
            },
        }
    }

    pub fn findings(&self) -> &[Finding] {
        match &self.outcome {
            Outcome::Ran { findings } => findings,
            Outcome::Skipped { .. } => &[],
        }
    }
}

/// The report formats of `--format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per finding, then the checks and the counts
    #[default]
    Table,
    /// The whole report as JSON (shape in docs/SCANNING.md)
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards
    Sarif,
}

/// The SBOM formats of `--sbom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SbomFormat {
    /// CycloneDX 1.5 JSON of the image's binary
    Cyclonedx,
}

const EXAMPLES: &str = "\
Examples:
  cargo xtask scan                                  # our Dockerfiles, compose files and Cargo.lock
  cargo xtask scan --dockerfile Dockerfile --fail-on medium
  cargo xtask scan --lockfile Cargo.lock --db ~/.cargo/advisory-db --format json
  cargo xtask scan --image cv:prod --format sarif --output scan.sarif
  cargo xtask scan --image cv:minimal --sbom cyclonedx --sbom-output cv.cdx.json
  cargo xtask scan --image cv:prod --image cv:minimal --sbom cyclonedx   # cv-sbom-cv_prod.cdx.json, …
  cargo xtask scan --list-rules                     # the built-in rules and hadolint's counterparts

Without target flags (--image, --dockerfile, --compose, --lockfile) the project's own
docker/Dockerfile.*, docker/*compose*.yml and Cargo.lock are scanned. The advisory database comes
from --db, else CV_ADVISORY_DB, else cargo-audit's copy in $CARGO_HOME/advisory-db, else it is
downloaded (with retries) into target/cv-scan/advisory-db.

Exit status: 0 when no finding is at or above --fail-on, 1 when one is (or the scan could not
run), 2 for bad flags.";

/// Check Dockerfiles, compose files, Cargo.lock and images for security faults
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Scan {
    /// Image to scan (repeatable): its binaries' embedded dependencies, user, files, secrets
    #[arg(long = "image", value_name = "REF")]
    pub images: Vec<String>,
    /// Dockerfile to check against the built-in rules and hadolint (repeatable)
    #[arg(long = "dockerfile", value_name = "PATH")]
    pub dockerfiles: Vec<PathBuf>,
    /// Compose file to check (repeatable)
    #[arg(long = "compose", value_name = "PATH")]
    pub compose_files: Vec<PathBuf>,
    /// Cargo.lock to check against the RustSec advisory database
    #[arg(long, value_name = "PATH")]
    pub lockfile: Option<PathBuf>,
    /// RustSec advisory database directory (a checkout of rustsec/advisory-db)
    #[arg(long, value_name = "PATH", env = "CV_ADVISORY_DB")]
    pub db: Option<PathBuf>,
    /// Report format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write an SBOM of each --image's binary
    #[arg(long, value_enum, requires = "images")]
    pub sbom: Option<SbomFormat>,
    /// Where to write the SBOM of the one --image (default: cv-sbom.cdx.json, or cv-sbom-REF.cdx.json per image)
    #[arg(long, value_name = "FILE", requires = "sbom")]
    pub sbom_output: Option<PathBuf>,
    /// Write the report to this file instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this severity
    #[arg(long, value_enum, default_value_t = Severity::High)]
    pub fail_on: Severity,
    /// Text that must never appear in an image or a Dockerfile (repeatable), e.g. a planted token
    #[arg(long = "canary", value_name = "TEXT")]
    pub canaries: Vec<String>,
    /// Ask the crates.io sparse index whether locked versions were yanked (needs the network)
    #[arg(long)]
    pub check_yanked: bool,
    /// Run only the built-in rules, not hadolint or trivy even where they are installed
    #[arg(long)]
    pub builtin_only: bool,
    /// Print the built-in rules (id, severity, what, hadolint's counterpart) as Markdown and exit
    #[arg(long)]
    pub list_rules: bool,
    /// Retries of the advisory-db download and the index queries
    #[command(flatten)]
    pub retry: RetryArgs,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            images: Vec::new(),
            dockerfiles: Vec::new(),
            compose_files: Vec::new(),
            lockfile: None,
            db: None,
            format: Format::Table,
            sbom: None,
            sbom_output: None,
            output: None,
            fail_on: Severity::High,
            canaries: Vec::new(),
            check_yanked: false,
            builtin_only: false,
            list_rules: false,
            retry: RetryArgs::default(),
        }
    }
}

/// What one run looks at, after the defaults are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub dockerfiles: Vec<PathBuf>,
    pub compose_files: Vec<PathBuf>,
    pub lockfile: Option<PathBuf>,
    pub images: Vec<String>,
}

/// The SBOM file name without `--sbom-output` when one image is scanned.
pub const DEFAULT_SBOM: &str = "cv-sbom.cdx.json";

impl Scan {
    /// Where each `--image`'s SBOM goes, in `--image` order; empty without `--sbom`. One file
    /// cannot hold several SBOMs (the second used to overwrite the first), so `--sbom-output`
    /// is refused with more than one image, and the default name then carries the reference:
    /// `cv-sbom-REF.cdx.json`, every character other than a letter, digit, `.`, `_` or `-`
    /// written as `_` (`cv:prod` gives `cv-sbom-cv_prod.cdx.json`). Two images that would share
    /// a name are refused too. The error is a usage error: `main` reports it as clap does.
    pub fn sbom_paths(&self) -> Result<Vec<(String, PathBuf)>, String> {
        if self.sbom.is_none() {
            return Ok(Vec::new());
        }
        if let [image] = self.images.as_slice() {
            let path = self
                .sbom_output
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SBOM));
            return Ok(vec![(image.clone(), path)]);
        }
        if let Some(output) = &self.sbom_output {
            return Err(format!(
                "--sbom-output {} names one file, but {} images are scanned and each gets its \
                 own SBOM; leave --sbom-output out to write cv-sbom-REF.cdx.json per image, or \
                 scan one --image per run",
                output.display(),
                self.images.len()
            ));
        }
        let mut paths: Vec<(String, PathBuf)> = Vec::new();
        for image in &self.images {
            let name: String = image
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let path = PathBuf::from(format!("cv-sbom-{name}.cdx.json"));
            if let Some((other, _)) = paths.iter().find(|(_, p)| *p == path) {
                return Err(format!(
                    "--image {other} and --image {image} would both write their SBOM to {}; \
                     give each image once, or scan them in separate runs with --sbom-output",
                    path.display()
                ));
            }
            paths.push((image.clone(), path));
        }
        Ok(paths)
    }

    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        if self.list_rules {
            print!("{}", report::rules_markdown());
            return Ok(());
        }
        let report = self.report(sh)?;
        let text = match self.format {
            Format::Table => report::table(&report, self.fail_on),
            Format::Json => report::json(&report, self.fail_on),
            Format::Sarif => report::sarif(&report),
        };
        match &self.output {
            Some(path) => {
                std::fs::write(path, text.as_bytes())
                    .with_context(|| format!("cannot write the report to {}", path.display()))?;
                eprintln!("{}", report::summary_line(&report, self.fail_on));
            }
            None => print!("{text}"),
        }
        let failing = report.failing(self.fail_on);
        if failing > 0 {
            anyhow::bail!(
                "{failing} finding(s) at or above --fail-on {}; {}",
                self.fail_on.as_str(),
                fail_advice(self.fail_on)
            );
        }
        Ok(())
    }

    /// Every check this scan's targets call for, run; what the renderers and precommit use.
    pub fn report(&self, sh: &Shell) -> anyhow::Result<Report> {
        let targets = self.targets()?;
        let mut checks = Vec::new();
        let mut notes = Vec::new();
        for path in &targets.dockerfiles {
            checks.extend(self.scan_dockerfile(sh, path)?);
        }
        for path in &targets.compose_files {
            checks.push(compose::check_file(path, &display_path(path))?);
        }
        if let Some(lockfile) = &targets.lockfile {
            let db = deps::AdvisoryDb::load(self.db.as_deref(), self.retry.policy())?;
            notes.push(db.describe());
            checks.extend(deps::check_lockfile(
                &db,
                lockfile,
                &display_path(lockfile),
            )?);
            checks.push(if self.check_yanked {
                deps::check_yanked(lockfile, &display_path(lockfile), self.retry.policy())?
            } else {
                Check::skipped(
                    "yanked",
                    display_path(lockfile),
                    "needs the crates.io index over the network: pass --check-yanked",
                )
            });
        }
        // `main` has refused flags that give no path per image; this is for other callers.
        let sboms = self.sbom_paths().map_err(anyhow::Error::msg)?;
        for image in &targets.images {
            let sbom = sboms
                .iter()
                .find(|(i, _)| i == image)
                .map(|(_, p)| p.as_path());
            checks.extend(self.scan_image(sh, image, sbom)?);
        }
        Ok(Report { checks, notes })
    }

    /// The explicit targets, or the project's own files when none is named.
    pub fn targets(&self) -> anyhow::Result<Targets> {
        let explicit = !(self.images.is_empty()
            && self.dockerfiles.is_empty()
            && self.compose_files.is_empty()
            && self.lockfile.is_none());
        if explicit {
            return Ok(Targets {
                dockerfiles: self.dockerfiles.clone(),
                compose_files: self.compose_files.clone(),
                lockfile: self.lockfile.clone(),
                images: self.images.clone(),
            });
        }
        let docker_dir = paths::docker_dir();
        let mut dockerfiles = Vec::new();
        let mut compose_files = Vec::new();
        let entries = std::fs::read_dir(&docker_dir)
            .with_context(|| format!("cannot list {}", docker_dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with("Dockerfile.") {
                dockerfiles.push(path);
            } else if name.contains("compose") && name.ends_with(".yml") {
                compose_files.push(path);
            }
        }
        dockerfiles.sort();
        compose_files.sort();
        Ok(Targets {
            dockerfiles,
            compose_files,
            lockfile: Some(paths::project_root().join("Cargo.lock")),
            images: Vec::new(),
        })
    }

    fn scan_dockerfile(&self, sh: &Shell, path: &Path) -> anyhow::Result<Vec<Check>> {
        let shown = display_path(path);
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the Dockerfile {}", path.display()))?;
        dockerfile::require_from(&text)
            .with_context(|| format!("cannot scan the Dockerfile {}", path.display()))?;
        let findings = dockerfile::check(&text, &shown, &self.canaries);
        let mut checks = vec![Check::ran("dockerfile-rules", &shown, findings)];
        checks.push(if self.builtin_only {
            Check::skipped("hadolint", &shown, "--builtin-only")
        } else {
            tools::hadolint(sh, path, &shown)?
        });
        Ok(checks)
    }

    fn scan_image(
        &self,
        sh: &Shell,
        image: &str,
        sbom: Option<&Path>,
    ) -> anyhow::Result<Vec<Check>> {
        let opts = image::Options {
            mode: None,
            canaries: image::canaries_with_env(&self.canaries),
            advisories: image::Advisories::Load {
                flag: self.db.clone(),
                policy: self.retry.policy(),
            },
        };
        let (read, mut checks) = image::inspect(sh, image, &opts)?;
        if let Some(path) = sbom {
            sbom::write(&read, path)?;
            eprintln!("CycloneDX 1.5 SBOM of {image}: {}", path.display());
        }
        checks.push(if self.builtin_only {
            Check::skipped("trivy", image, "--builtin-only")
        } else {
            tools::trivy_image(sh, image)?
        });
        Ok(checks)
    }
}

/// What to do about findings at or above `--fail-on`: there is no level above critical to raise
/// it to, so there the only way out is the fix.
fn fail_advice(fail_on: Severity) -> &'static str {
    match fail_on {
        Severity::Critical => {
            "fix them (critical is the highest level, so no --fail-on lets them pass)"
        }
        Severity::Low | Severity::Medium | Severity::High => "fix them or raise --fail-on",
    }
}

/// A path as the report shows it: relative to the project root when under it.
pub fn display_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match absolute.strip_prefix(paths::project_root()) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

/// `cargo xtask docker --scan`: scans the image just built, failing on high findings. The mode
/// it was built in decides which image rules apply; the advisory database and canary come from
/// CV_ADVISORY_DB and CV_SCAN_CANARY, as for `cargo xtask scan`.
pub fn scan_built_image(sh: &Shell, image: &str, mode: Mode) -> anyhow::Result<()> {
    let db_flag = std::env::var_os("CV_ADVISORY_DB").map(PathBuf::from);
    let opts = image::Options {
        mode: Some(mode),
        canaries: image::canaries_with_env(&[]),
        advisories: image::Advisories::Load {
            flag: db_flag,
            policy: crate::retry::Policy::default(),
        },
    };
    let report = Report {
        checks: image::scan(sh, image, &opts)?,
        notes: Vec::new(),
    };
    print!("{}", report::table(&report, Severity::High));
    let failing = report.failing(Severity::High);
    anyhow::ensure!(
        failing == 0,
        "the scan of {image} found {failing} finding(s) at or above high (listed above); fix them \
         before shipping the image"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_sbom(images: &[&str], output: Option<&str>) -> Scan {
        Scan {
            images: images.iter().map(|i| (*i).to_owned()).collect(),
            sbom: Some(SbomFormat::Cyclonedx),
            sbom_output: output.map(PathBuf::from),
            ..Scan::default()
        }
    }

    /// Two images wrote their SBOMs to the same file, the second silently over the first.
    #[test]
    fn every_image_gets_its_own_sbom_file_or_the_flags_are_refused() {
        let paths = |scan: Scan| -> Vec<(String, String)> {
            scan.sbom_paths()
                .expect("paths")
                .into_iter()
                .map(|(i, p)| (i, p.display().to_string()))
                .collect()
        };
        assert_eq!(
            paths(with_sbom(&["cv:prod"], None)),
            [("cv:prod".to_owned(), DEFAULT_SBOM.to_owned())]
        );
        assert_eq!(
            paths(with_sbom(&["cv:prod"], Some("out.json"))),
            [("cv:prod".to_owned(), "out.json".to_owned())]
        );
        assert_eq!(
            paths(with_sbom(&["cv:prod", "127.0.0.1:5000/cv:minimal"], None)),
            [
                ("cv:prod".to_owned(), "cv-sbom-cv_prod.cdx.json".to_owned()),
                (
                    "127.0.0.1:5000/cv:minimal".to_owned(),
                    "cv-sbom-127.0.0.1_5000_cv_minimal.cdx.json".to_owned()
                ),
            ]
        );
        let err = with_sbom(&["a:1", "b:1"], Some("out.json"))
            .sbom_paths()
            .expect_err("one file for two SBOMs");
        assert!(
            err.starts_with("--sbom-output out.json names one file, but 2 images are scanned"),
            "{err}"
        );
        let err = with_sbom(&["cv/x:1", "cv_x:1"], None)
            .sbom_paths()
            .expect_err("the same name twice");
        assert!(err.contains("cv-sbom-cv_x_1.cdx.json"), "{err}");
        assert!(with_sbom(&["a", "a"], None).sbom_paths().is_err());
        let no_sbom = Scan {
            sbom: None,
            ..with_sbom(&["a", "b"], None)
        };
        assert!(no_sbom.sbom_paths().expect("paths").is_empty());
    }
}
