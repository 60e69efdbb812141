//! `cv serve`: logging, configuration from flags and environment, the store, the listener and
//! graceful shutdown on SIGTERM/SIGINT/SIGHUP, bounded by a grace period.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use cv_store::Store;
use cv_web::{ApiToken, AppState};
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::filter::{LevelFilter, Targets};

/// Flags of `cv serve`; each falls back to its environment variable.
#[derive(Debug, Args)]
#[command(after_long_help = SERVE_HELP)]
pub(crate) struct ServeArgs {
    /// Address to listen on
    #[arg(long, env = "CV_ADDR", default_value = "0.0.0.0:8080")]
    addr: SocketAddr,
    /// The JSON Resume file (default: the embedded example CV)
    #[arg(long, env = "CV_RESUME", value_name = "FILE")]
    resume: Option<PathBuf>,
    /// Directory of the blog database
    #[arg(
        long,
        env = "CV_DATA_DIR",
        value_name = "DIR",
        default_value = "./data"
    )]
    data_dir: PathBuf,
    /// Log format on stdout
    #[arg(long, env = "CV_LOG", value_enum, default_value_t = LogFormat::Json)]
    log: LogFormat,
    /// Seconds in-flight requests get after a stop signal before they are cut (Docker waits 10)
    #[arg(
        long,
        env = "CV_SHUTDOWN_GRACE",
        value_name = "SECS",
        default_value = "5",
        value_parser = parse_grace
    )]
    shutdown_grace: Duration,
}

/// A grace period in seconds, fractions allowed; zero means "cut at once".
fn parse_grace(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|grace| *grace <= Duration::from_secs(3600))
        .ok_or_else(|| "expected a number of seconds from 0 to 3600, such as 5 or 0.5".to_owned())
}

/// The end of `cv serve --help`: the token, which has no flag (a flag would show in `ps`).
const SERVE_HELP: &str = "\
Blog writes (POST, PUT, DELETE under /api/posts) need a bearer token, read from the environment:
  CV_API_TOKEN=TOKEN         the token itself
  CV_API_TOKEN_FILE=FILE     a file holding it (a Docker secret), trimmed; at most 4 KiB
With neither, the server starts, logs a warning and answers every write 403 writes_disabled;
reads show published posts only. Requests with the token also see drafts.

An empty CV_* variable counts as unset.

Examples:
  cv serve
  CV_ADDR=127.0.0.1:3000 CV_DATA_DIR=/var/lib/cv cv serve --log pretty
  CV_API_TOKEN_FILE=/run/secrets/cv_token cv serve --resume /etc/cv/resume.json
  curl -H 'Authorization: Bearer TOKEN' -H 'Content-Type: application/json' \\
       -d '{\"slug\":\"hello\",\"title\":\"Hello\",\"body\":\"*hi*\"}' localhost:8080/api/posts";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// One flattened JSON object per line, for log collectors
    Json,
    /// Human-readable lines
    Pretty,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log);
    // Everything that can fail on bad configuration fails before the runtime starts, with one
    // line naming what to fix.
    let resume = crate::render::load_resume(args.resume.as_deref())?;
    let token = api_token()?;
    let store = Store::open(&args.data_dir)?;
    let token = match token {
        Ok(token) => Some(token),
        Err(reason) => {
            tracing::warn!("{reason}: blog writes are disabled");
            None
        }
    };
    let state = AppState::new(&resume, store.clone(), token, crate::REVISION)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let stopped = runtime.block_on(async {
        // Handlers are installed before the listening line, so a supervisor that signals as
        // soon as it sees that line gets a graceful stop, not the default (death by signal).
        let signals = ShutdownSignals::install()?;
        let listener = TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        tracing::info!(addr = %addr, data_dir = %args.data_dir.display(), "listening");
        anyhow::Ok(cv_web::serve(listener, state, signals.wait(), args.shutdown_grace).await)
    })?;
    // The runtime (and every clone of the store in the router) is gone before the final close.
    // A store call still running on a blocking thread is not waited for without bound: the
    // SQLite transaction it is in either commits or is rolled back by the next open.
    runtime.shutdown_timeout(Duration::from_secs(1));
    store.close().context("cannot close the database cleanly")?;
    tracing::info!(connections_cut = stopped.cut, "stopped");
    Ok(())
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // RUST_LOG as `target=level` pairs (no regex engine in the binary); default info.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        // Flattened, so the fields of an event (`addr`, …) sit beside `message` at the top level.
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stdout),
            )
            .try_init(),
        // Colour codes only on a terminal: in a file or a log collector they are noise.
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                    .with_writer(std::io::stdout),
            )
            .try_init(),
    };
    if let Err(err) = result {
        eprintln!("warning: cannot set up logging: {err}");
    }
}

/// The largest API token file read: a token is one line, and a bound keeps `/dev/zero` or a
/// wrongly named big file from being read into memory.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// The write token: `CV_API_TOKEN`, else the trimmed content of the file `CV_API_TOKEN_FILE`
/// names (a Docker secret). A named file that cannot be read is an error, not "no token"; with
/// no usable token, `Err` says why writes are disabled, for the startup warning.
fn api_token() -> anyhow::Result<Result<ApiToken, String>> {
    let blank_env = match std::env::var("CV_API_TOKEN") {
        Ok(text) => match ApiToken::new(&text) {
            Some(token) => return Ok(Ok(token)),
            None => !text.is_empty(),
        },
        Err(_) => false,
    };
    match std::env::var_os("CV_API_TOKEN_FILE") {
        Some(path) if !path.is_empty() => {
            let path = Path::new(&path);
            Ok(read_token_file(path)?.ok_or_else(|| {
                format!(
                    "the API token file {} named by CV_API_TOKEN_FILE is empty",
                    path.display()
                )
            }))
        }
        _ if blank_env => Ok(Err("CV_API_TOKEN is blank".to_owned())),
        _ => Ok(Err("no CV_API_TOKEN or CV_API_TOKEN_FILE".to_owned())),
    }
}

/// The token in a regular file (symbolic links followed) of at most [`MAX_TOKEN_FILE_BYTES`];
/// `None` when it is blank. A FIFO would block the start for good and a device may never end,
/// so anything else is refused by its type before it is opened.
fn read_token_file(path: &Path) -> anyhow::Result<Option<ApiToken>> {
    use std::io::Read;
    let context = || {
        format!(
            "cannot read the API token file {} named by CV_API_TOKEN_FILE",
            path.display()
        )
    };
    let is_file = |meta: &std::fs::Metadata| -> anyhow::Result<()> {
        anyhow::ensure!(
            meta.is_file(),
            "the API token file {} named by CV_API_TOKEN_FILE is not a regular file",
            path.display()
        );
        Ok(())
    };
    is_file(&std::fs::metadata(path).with_context(context)?)?;
    let file = std::fs::File::open(path).with_context(context)?;
    is_file(&file.metadata().with_context(context)?)?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(context)?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_TOKEN_FILE_BYTES,
        "the API token file {} named by CV_API_TOKEN_FILE is over {MAX_TOKEN_FILE_BYTES} bytes; \
         it should hold only the token",
        path.display()
    );
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "the API token file {} named by CV_API_TOKEN_FILE is not UTF-8 text",
            path.display()
        )
    })?;
    Ok(ApiToken::new(&text))
}

/// SIGTERM (container stop), SIGINT (Ctrl-C) and SIGHUP (the terminal went away), registered
/// up front. SIGHUP's default action kills the process without closing the database, leaving
/// `-wal` and `-shm` files behind; a server has no configuration to reload, so it stops
/// gracefully like the other two.
struct ShutdownSignals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<Self> {
        Ok(ShutdownSignals {
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            hangup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        })
    }

    async fn wait(mut self) {
        let name = tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.hangup.recv() => "SIGHUP",
        };
        tracing::info!(signal = name, "shutting down: finishing in-flight requests");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods_are_bounded_seconds() {
        assert_eq!(parse_grace("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_grace("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_grace("0"), Ok(Duration::ZERO));
        for bad in ["", "-1", "soon", "NaN", "inf", "3601"] {
            assert!(parse_grace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn token_files_are_trimmed_and_blank_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert!(read_token_file(&path).unwrap().is_some());
        std::fs::write(&path, "\n").unwrap();
        assert!(read_token_file(&path).unwrap().is_none());
        let missing = dir.path().join("missing");
        let err = read_token_file(&missing).unwrap_err();
        assert!(format!("{err:#}").contains("CV_API_TOKEN_FILE"));
    }

    #[test]
    fn token_files_must_be_small_regular_files() {
        // /dev/zero used to be read until memory ran out (2.3 GB seen).
        let err = read_token_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the API token file /dev/zero named by CV_API_TOKEN_FILE is not a regular file"
        );
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(5000)).unwrap();
        let err = read_token_file(&big).unwrap_err();
        assert!(err.to_string().contains("over 4096 bytes"), "{err}");
        assert!(
            err.to_string().contains(&big.display().to_string()),
            "{err}"
        );
        let exact = dir.path().join("exact");
        std::fs::write(&exact, "y".repeat(4096)).unwrap();
        assert!(read_token_file(&exact).unwrap().is_some());
    }
}
