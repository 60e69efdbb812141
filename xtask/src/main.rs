//! The project's build system: `cargo xtask <command>`.
//!
//! `main` only parses flags, makes one `xshell::Shell` rooted at the workspace and dispatches; each
//! command lives in a module of its own with a `run(self, sh: &Shell) -> anyhow::Result<()>`.

mod base_images;
mod bench;
mod clean;
mod docker;
mod engine;
mod hooks;
mod net_test;
mod optimize;
mod paths;
mod precommit;
mod retry;
mod scan;
mod vendor;

use clap::{Parser, Subcommand};
use xshell::Shell;

/// Build, package and check the CV application
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a container image of the CV application (prod, dev or minimal)
    // Boxed: its many flags would make every other variant as large.
    Docker(Box<docker::Docker>),
    /// Make local stand-ins for the public base images, for machines that cannot pull
    BaseImages(base_images::BaseImages),
    /// Copy every dependency into vendor/ so builds need no network
    Vendor(vendor::Vendor),
    /// Check whether this machine's network can carry a build
    NetTest(net_test::NetTest),
    /// Remove build output, build cache and this project's Docker leftovers
    Clean(clean::Clean),
    /// Check Dockerfiles, compose files, Cargo.lock and images for security faults
    Scan(scan::Scan),
    /// Install or remove the git pre-commit hook
    Hooks(hooks::Hooks),
    /// The checks the pre-commit hook runs: fmt, clippy, Dockerfile lint, advisories
    Precommit(precommit::Precommit),
    /// Measure image size, build and rebuild times, startup and memory of the CV image
    Bench(bench::Bench),
    /// Vendor, inspect the build caches, clean, benchmark (scripts/optimize-build.sh)
    Optimize(optimize::Optimize),
}

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    drop_empty_settings();
    let cli = Cli::parse();
    check_flags(&cli);
    let result = Shell::new().inspect(|sh| sh.change_dir(paths::project_root()));
    let result = result
        .map_err(anyhow::Error::from)
        .and_then(|sh| match cli.command {
            Command::Docker(cmd) => cmd.run(&sh),
            Command::BaseImages(cmd) => cmd.run(&sh),
            Command::Vendor(cmd) => cmd.run(&sh),
            Command::NetTest(cmd) => cmd.run(&sh),
            Command::Clean(cmd) => cmd.run(&sh),
            Command::Scan(cmd) => cmd.run(&sh),
            Command::Hooks(cmd) => cmd.run(&sh),
            Command::Precommit(cmd) => cmd.run(&sh),
            Command::Bench(cmd) => cmd.run(&sh),
            Command::Optimize(cmd) => cmd.run(&sh),
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`cargo xtask net-test | head -1`)
/// panics. A command-line tool should end quietly there, as `cat` does: the default action.
/// Flag combinations clap cannot express (they depend on how often a flag is given) are usage
/// errors all the same: clap's message format and exit status 2, before any work starts.
fn check_flags(cli: &Cli) {
    let problem = match &cli.command {
        Command::Scan(scan) => scan.sbom_paths().err(),
        _ => None,
    };
    if let Some(problem) = problem {
        clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            format!("{problem}\n"),
        )
        .exit();
    }
}

fn restore_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler
    // for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// An empty `CV_*` variable (or SOURCE_DATE_EPOCH) counts as unset, as it does for `cv serve`:
/// `CV_CA_BUNDLE= cargo xtask docker …` is how scripts switch a setting off, and clap would
/// otherwise refuse it as a flag given no value.
fn drop_empty_settings() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(k, v)| {
            v.is_empty()
                && k.to_str()
                    .is_some_and(|k| k.starts_with("CV_") || k == "SOURCE_DATE_EPOCH")
        })
        .map(|(k, _)| k)
        .collect();
    for name in empty {
        // SAFETY: main's first steps, before any thread exists, so nothing reads the
        // environment concurrently.
        unsafe { std::env::remove_var(name) };
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
