//! `cargo xtask precommit`: the fast checks the pre-commit hook runs (issue 5).

use xshell::Shell;

/// Format check, clippy, Dockerfile and compose lint, lockfile advisories
#[derive(Debug, clap::Args)]
pub struct Precommit {}

impl Precommit {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("cargo xtask precommit is not available yet (issue 5)")
    }
}
