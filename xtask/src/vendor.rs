//! `cargo xtask vendor`: every dependency in `vendor/`, so builds need no network (issue 4).

use xshell::Shell;

/// Copy every dependency into a vendor directory for offline builds
#[derive(Debug, clap::Args)]
pub struct Vendor {}

impl Vendor {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("cargo xtask vendor is not available yet (issue 4)")
    }
}
