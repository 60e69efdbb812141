//! `cv`: validate, render and serve a JSON Resume CV with a small blog API.
//!
//! This file only parses flags and dispatches; each command lives in its own module. Every
//! failure ends as one `error: …` line on stderr and exit status 1, never a panic.

mod healthcheck;
mod render;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The git revision baked in by build.rs.
pub(crate) const REVISION: &str = env!("CV_BUILD_REVISION");

#[derive(Debug, Parser)]
#[command(
    name = "cv",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CV_BUILD_REVISION"), ")"),
    about = "Render and serve a JSON Resume CV with a small blog API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a JSON Resume file and report every issue with its location
    Validate {
        /// The JSON Resume file
        file: PathBuf,
    },
    /// Write the CV as a static site: DIR/index.html and DIR/cv.json
    Render {
        /// The JSON Resume file (default: the embedded example CV)
        #[arg(long, value_name = "FILE")]
        resume: Option<PathBuf>,
        /// The output directory, created if missing
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Serve the CV page, its JSON, health, metrics and the blog API
    Serve(serve::ServeArgs),
    /// Exit 0 when the server's health endpoint answers 200 in time
    Healthcheck(healthcheck::HealthcheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { file } => return render::validate(&file),
        Command::Render { resume, out } => render::render(resume.as_deref(), &out),
        Command::Serve(args) => serve::run(args),
        Command::Healthcheck(args) => healthcheck::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each joined by `: `. Many library errors already
/// print their source inside their own message; such a cause is not repeated.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let missing = std::path::Path::new("/nonexistent/cv.json");
        let load_error = cv_resume::load(missing).unwrap_err();
        let message = load_error.to_string();
        let err = anyhow::Error::from(load_error).context("loading");
        assert!(err.chain().count() >= 3, "the io::Error is a source too");
        assert_eq!(one_line(&err), format!("loading: {message}"));
        let err = anyhow::anyhow!("line one\nline two").context("outer");
        assert_eq!(one_line(&err), "outer: line one line two");
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn version_names_the_revision() {
        let version = Cli::command().render_version();
        assert_eq!(version.trim(), format!("cv 0.1.0 ({REVISION})"));
    }
}
