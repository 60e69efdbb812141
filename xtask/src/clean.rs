//! `cargo xtask clean`: remove build output, build cache and this project's Docker leftovers.

use xshell::Shell;

/// Remove build output, build cache and this project's dangling images and volumes
#[derive(Debug, clap::Args)]
pub struct Clean {}

impl Clean {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("cargo xtask clean is not available yet (issue 4)")
    }
}
