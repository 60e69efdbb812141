//! `cv`: validate, render and serve a JSON Resume CV with a small blog API.
//!
//! This file only parses flags and dispatches; each command lives in its own module. Every
//! failure ends as one `error: …` line on stderr and exit status 1, never a panic.

mod healthcheck;
mod render;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// The git revision baked in by build.rs.
pub(crate) const REVISION: &str = env!("CV_BUILD_REVISION");

#[derive(Debug, Parser)]
#[command(
    name = "cv",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CV_BUILD_REVISION"), ")"),
    about = "Render and serve a JSON Resume CV with a small blog API",
    after_long_help = "\
Examples:
  cv validate resume.json
  cv render --resume resume.json --out site
  CV_API_TOKEN=s3cret cv serve --resume resume.json
  cv healthcheck

Run `cv help COMMAND` or `cv COMMAND --help` for a command's flags and examples."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a JSON Resume file and report every issue with its location
    #[command(after_long_help = "\
Prints `FILE: valid` and exits 0, or prints every issue on stderr as FILE:LINE:COL: POINTER: MESSAGE
(POINTER is a JSON pointer; (root) is the whole document) and exits 1.

Examples:
  cv validate resume.json
  cv validate resume.json 2> issues.txt || cat issues.txt")]
    Validate {
        /// The JSON Resume file
        file: PathBuf,
    },
    /// Write the CV as a static site: DIR/index.html and DIR/cv.json
    #[command(after_long_help = "\
index.html is self-contained (CSS inlined, no absolute URLs) and opens from disk.

Examples:
  cv render --out site
  cv render --resume resume.json --out /srv/www/cv")]
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
    let cli = parse_cli();
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

/// Parses the command line with two departures from clap's handling of `env` fallbacks: an
/// empty `CV_*` variable counts as unset (`CV_RESUME=` in a compose file means "the default",
/// not "a value is required"), and an invalid value that came from a variable names it.
fn parse_cli() -> Cli {
    let mut command = ignore_empty_env(Cli::command());
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = match command.try_get_matches_from_mut(&args) {
        Ok(matches) => matches,
        Err(mut err) => {
            if let Some(var) = env_behind(&err, &command, &args) {
                err.insert(
                    ContextKind::Suggested,
                    ContextValue::StyledStrs(vec![
                        format!("the value comes from the environment variable {var}").into(),
                    ]),
                );
            }
            err.exit()
        }
    };
    Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.format(&mut command).exit())
}

/// Drops the `env` fallback of every argument whose variable is set but empty. Changing the
/// command rather than the environment: `std::env::remove_var` is unsafe in a program that
/// may have threads.
fn ignore_empty_env(mut command: clap::Command) -> clap::Command {
    let is_empty = |arg: &clap::Arg| {
        arg.get_env()
            .and_then(std::env::var_os)
            .is_some_and(|value| value.is_empty())
    };
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in subcommands {
        command = command.mut_subcommand(name, |sub| {
            let empty: Vec<String> = sub
                .get_arguments()
                .filter(|arg| is_empty(arg))
                .map(|arg| arg.get_id().to_string())
                .collect();
            empty
                .into_iter()
                .fold(sub, |sub, id| sub.mut_arg(id, |arg| arg.env(None::<&str>)))
        });
    }
    command
}

/// The variable an invalid value came from: the argument clap blames has an `env` fallback
/// that is set, and its flag is not on the command line.
fn env_behind(
    err: &clap::Error,
    command: &clap::Command,
    args: &[std::ffi::OsString],
) -> Option<String> {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(blamed)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let arg = command
        .get_subcommands()
        .flat_map(|sub| sub.get_arguments())
        .find(|arg| {
            arg.get_long().is_some_and(|long| {
                let flag = format!("--{long}");
                blamed == &flag || blamed.starts_with(&format!("{flag} "))
            })
        })?;
    let long = format!("--{}", arg.get_long()?);
    let on_command_line = args.iter().any(|given| {
        given
            .to_str()
            .is_some_and(|given| given == long || given.starts_with(&format!("{long}=")))
    });
    let var = arg.get_env()?;
    (!on_command_line && std::env::var_os(var).is_some()).then(|| var.to_string_lossy().into())
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
