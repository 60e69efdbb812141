//! `cargo xtask base-images`: local stand-ins for the public base images.

use clap::Args;
use xshell::Shell;

/// Make local stand-ins for the public base images
#[derive(Debug, Args)]
pub struct BaseImages {}

impl BaseImages {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("cargo xtask base-images is not available yet")
    }
}
