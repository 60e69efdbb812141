//! `cargo xtask net-test`: can this machine's network carry a build? (issue 4)

use xshell::Shell;

/// Check DNS, TCP, HTTPS, proxies, IPv6, the Docker daemon and cargo's network settings
#[derive(Debug, clap::Args)]
pub struct NetTest {}

impl NetTest {
    pub fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        anyhow::bail!("cargo xtask net-test is not available yet (issue 4)")
    }
}

/// Runs the checks a build needs (`cargo xtask docker --network-test`); errors when a build could
/// not proceed.
pub fn preflight(_sh: &Shell) -> anyhow::Result<()> {
    anyhow::bail!("--network-test is not available yet (issue 4)")
}
