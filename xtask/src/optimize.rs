//! `cargo xtask optimize`: the commands that keep builds fast, under the one name that
//! `scripts/optimize-build.sh` wraps. Each subcommand is the command of the same job
//! (`vendor`, `clean`, `bench`) with the same flags; `cache` is a report of its own.

use std::path::Path;

use clap::Subcommand;
use xshell::Shell;

use crate::{bench, clean, paths, vendor};

const EXAMPLES: &str = "\
Examples:
  scripts/optimize-build.sh vendor          # = cargo xtask vendor
  scripts/optimize-build.sh cache           # what the build caches hold, nothing removed
  scripts/optimize-build.sh clean --level deep
  scripts/optimize-build.sh bench --base-images standin";

/// Vendor, inspect the caches, clean, benchmark: what makes builds fast
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Optimize {
    #[command(subcommand)]
    step: Step,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// Copy every dependency into vendor/ so builds need no network (cargo xtask vendor)
    Vendor(vendor::Vendor),
    /// List what vendor/, the target directories and the build cache hold, removing nothing
    Cache,
    /// Remove build output, build cache and this project's Docker leftovers (cargo xtask clean)
    Clean(clean::Clean),
    /// Measure image size, rebuild times and startup (cargo xtask bench)
    Bench(bench::Bench),
}

impl Optimize {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        match self.step {
            Step::Vendor(cmd) => cmd.run(sh),
            Step::Cache => cache(sh),
            Step::Clean(cmd) => cmd.run(sh),
            Step::Bench(cmd) => cmd.run(sh),
        }
    }
}

fn cache(sh: &Shell) -> anyhow::Result<()> {
    let root = paths::project_root();
    println!("vendor/ (offline builds):");
    println!("  {}", vendor_line(&root));
    clean::Clean::listing().run(sh)
}

/// One line on the vendor tree: fresh (with its size) or what is wrong with it.
fn vendor_line(root: &Path) -> String {
    match vendor::status(root, Path::new("vendor")) {
        Ok(m) => format!(
            "matches Cargo.lock: {} crates, {:.1} MB",
            m.crates,
            m.bytes as f64 / 1e6
        ),
        // The same words `cargo xtask vendor --check` and `docker --offline` use.
        Err(_) => match vendor::require_fresh(root, &root.join("vendor")) {
            Err(why) => format!("{why:#}"),
            Ok(()) => "matches Cargo.lock".to_owned(),
        },
    }
}
