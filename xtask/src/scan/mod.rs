//! `cargo xtask scan`: what makes an image unsafe, found before it ships (issue 5).

use xshell::Shell;

use crate::docker::Mode;

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
