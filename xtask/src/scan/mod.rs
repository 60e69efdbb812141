//! `cargo xtask scan`: what makes an image unsafe, found before it ships (issue 5).
//!
//! Every check produces a [`Check`]: what ran (or why it was skipped) and its [`Finding`]s. The
//! report lists every check, so a clean result says what was looked at, not only that nothing was
//! found.

use serde::Serialize;
use xshell::Shell;

use crate::docker::Mode;

/// How bad a finding is; `--fail-on` compares against this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
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
    Ran { findings: Vec<Finding> },
    /// Not run, and why (e.g. "hadolint is not installed").
    Skipped { reason: String },
}

/// Check Dockerfiles, compose files, Cargo.lock and images for security faults
#[derive(Debug, clap::Args)]
pub struct Scan {}

impl Scan {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("cargo xtask scan is not available yet (issue 5)")
    }
}

/// `cargo xtask docker --scan`: scans the image just built, failing on high findings.
pub fn scan_built_image(_sh: &Shell, _image: &str, _mode: Mode) -> anyhow::Result<()> {
    anyhow::bail!("--scan is not available yet (issue 5)")
}
