//! `cargo xtask hooks`: install or remove the git pre-commit hook (issue 5).

use xshell::Shell;

/// Install or remove the git pre-commit hook that runs `cargo xtask precommit`
#[derive(Debug, clap::Args)]
pub struct Hooks {}

impl Hooks {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("cargo xtask hooks is not available yet (issue 5)")
    }
}
