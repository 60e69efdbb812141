//! `cargo xtask docker`: build an image of the CV application through BuildKit.

use clap::Args;
use xshell::Shell;

/// Build a container image of the CV application
#[derive(Debug, Args)]
pub struct Docker {}

impl Docker {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("cargo xtask docker is not available yet")
    }
}
