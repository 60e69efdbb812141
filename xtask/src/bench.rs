//! `cargo xtask bench`: the figures users judge a container build by, measured on this machine.
//!
//! Every scenario is a real build or a real container: builds go through the very code of
//! `cargo xtask docker` ([`crate::docker::Docker::build`]), so a figure here is what a user gets.
//! The results are a table for people and stable JSON for scripts (`--json`, `--out FILE`), with
//! the date, the git revision and the machine they were measured on, so figures in the docs can
//! name their source. Nothing is timed against a threshold: a benchmark reports, tests assert.
//!
//! The source-change scenario edits a copy of the tracked files, never the checkout itself.

use std::fmt::{self, Write as _};
use std::io::{Read, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use clap::ValueEnum;
use serde::Serialize;
use xshell::{Shell, cmd};

use crate::docker::summary::count_steps;
use crate::docker::{BaseImages, Built, Docker, Mode, rfc3339};
use crate::engine;
use crate::paths;

const EXAMPLES: &str = "\
Examples:
  Every default scenario on the minimal image, on a machine that cannot pull (stand-ins made by
  `cargo xtask base-images`), behind a TLS-intercepting proxy:
    cargo xtask bench --base-images standin --ca-bundle /etc/ssl/certs/ca-certificates.crt

  Only the rebuild after a one-line source change, as JSON for a script:
    cargo xtask bench --scenario source-change --json > rebuild.json

  The prod image: size, rebuilds and startup, kept in a file as well as shown:
    cargo xtask bench --mode prod --out target/bench/prod.json

Scenarios (run in the order given):
  build          build the image as the cache stands: time, steps cached, size, layers, binary
  noop           build again with nothing changed: what a CI run with a warm cache pays
  source-change  copy the tracked files, build the copy, append a comment to
                 crates/cv-web/src/lib.rs, build again: time and the crates cargo recompiled
  no-cache       build with --no-cache: every step reruns (cache mounts stay warm)
  startup        run the image: `docker run` to the first 200 of /healthz, GET / latency
                 (p50, p95), memory after those requests, `docker stop` time

The builds are tagged --tag (default cv-bench:MODE; the source-change builds
cv-bench:MODE-source-change, removed afterwards). Progress goes to stderr; stdout has the table or
the JSON.

Exit status: 0 when every scenario ran, 1 when one failed (the others are not run).";

/// Measure image size, build and rebuild times, startup and memory of the CV image
///
/// Builds through the same code as `cargo xtask docker` and runs the image as a user would; prints
/// a table (or JSON) naming the date, revision and machine of the figures.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Bench {
    /// Image to measure
    #[arg(long, value_enum, default_value_t = BenchMode::Minimal)]
    mode: BenchMode,

    /// Scenarios to run, comma-separated [default: build,noop,source-change,startup]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SCENARIO")]
    scenario: Vec<Scenario>,

    /// Image reference the builds are tagged as [default: cv-bench:<MODE>]
    #[arg(long, value_name = "REF")]
    tag: Option<String>,

    /// Sequential GET / requests for the startup scenario's latency figures
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    requests: u32,

    /// Base images: the public ones, or local stand-ins from `cargo xtask base-images`
    #[arg(
        long,
        value_enum,
        env = "CV_BASE_IMAGES",
        hide_env_values = true,
        default_value_t = BaseImages::Public
    )]
    base_images: BaseImages,

    /// Extra CA certificates for the build steps that fetch crates (as `cargo xtask docker`)
    #[arg(
        long,
        env = "CV_CA_BUNDLE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    ca_bundle: Option<PathBuf>,

    /// Build from vendor/ with no network (`cargo xtask docker --offline`)
    #[arg(long)]
    offline: bool,

    /// Print the results as JSON on stdout instead of a table
    #[arg(long)]
    json: bool,

    /// Also write the JSON results to FILE
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The images bench builds (dev has no image of its own to measure: it compiles at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BenchMode {
    /// Static musl binary on scratch
    Minimal,
    /// Alpine runtime
    Prod,
}

impl BenchMode {
    fn mode(self) -> Mode {
        match self {
            BenchMode::Minimal => Mode::Minimal,
            BenchMode::Prod => Mode::Prod,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Scenario {
    /// Build as the cache stands
    Build,
    /// Build again with nothing changed
    Noop,
    /// Rebuild a copy after a one-line change in crates/cv-web
    SourceChange,
    /// Build with --no-cache (cache mounts stay warm)
    NoCache,
    /// Run the image: time to healthy, latency, memory, stop time
    Startup,
}

impl Scenario {
    const DEFAULT: [Scenario; 4] = [
        Scenario::Build,
        Scenario::Noop,
        Scenario::SourceChange,
        Scenario::Startup,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Build => "build",
            Scenario::Noop => "noop",
            Scenario::SourceChange => "source-change",
            Scenario::NoCache => "no-cache",
            Scenario::Startup => "startup",
        }
    }
}

/// The file the source-change scenario edits, relative to the workspace root.
const EDITED_FILE: &str = "crates/cv-web/src/lib.rs";
const EDIT: &str = "// cargo xtask bench: a source-only change\n";

/// The JSON document; `format` changes when a field changes meaning or goes away.
#[derive(Debug, Serialize)]
struct Report {
    format: u32,
    date: String,
    revision: String,
    mode: &'static str,
    image: String,
    machine: Machine,
    results: Vec<Measured>,
}

#[derive(Debug, Serialize)]
struct Machine {
    cpus: usize,
    memory_bytes: u64,
    engine: String,
    storage_driver: String,
    builder: String,
}

/// One scenario's figures.
#[derive(Debug, Serialize)]
#[serde(tag = "scenario", rename_all = "kebab-case")]
enum Measured {
    Build(BuildFigures),
    Noop(BuildFigures),
    SourceChange {
        edited: &'static str,
        /// The first build of the copy, before the edit.
        copy: BuildFigures,
        /// The build after the edit: the figure this scenario is about.
        after_edit: BuildFigures,
    },
    NoCache(BuildFigures),
    Startup(StartupFigures),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
struct BuildFigures {
    seconds: f64,
    steps_cached: Option<usize>,
    steps_total: Option<usize>,
    image_bytes: u64,
    layers: usize,
    binary: Option<String>,
    /// Crates cargo compiled in this build (`Compiling NAME vX.Y.Z` lines), in order.
    compiled: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
struct StartupFigures {
    /// From `docker run` until /healthz first answered 200.
    seconds_to_healthy: f64,
    requests: u32,
    page_bytes: usize,
    page_ms_p50: f64,
    page_ms_p95: f64,
    /// `docker stats` after the requests.
    memory_bytes: u64,
    stop_seconds: f64,
}

impl Bench {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let scenarios = if self.scenario.is_empty() {
            Scenario::DEFAULT.to_vec()
        } else {
            self.scenario.clone()
        };
        let mode = self.mode.mode();
        let tag = self
            .tag
            .clone()
            .unwrap_or_else(|| format!("cv-bench:{}", mode.name()));
        // Every flag is checked, as the builds will read them, before anything is made.
        self.docker(&tag, None, false)?.check()?;
        let out_file = match &self.out {
            Some(path) => {
                let path = std::env::current_dir()
                    .context("cannot read the current directory")?
                    .join(path);
                ensure!(
                    !path.is_dir(),
                    "--out {} is a directory; name the file to write the JSON to",
                    path.display()
                );
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {} (--out)", dir.display()))?;
                }
                Some(path)
            }
            None => None,
        };

        let detection = engine::detect(sh, None)?;
        let machine = machine(sh, &detection)?;
        let mut report = Report {
            format: 1,
            date: rfc3339(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .context("the clock is before 1970")?
                    .as_secs(),
            ),
            revision: revision(sh),
            mode: mode.name(),
            image: tag.clone(),
            machine,
            results: Vec::new(),
        };
        let total = scenarios.len();
        for (i, scenario) in scenarios.iter().enumerate() {
            eprintln!(
                "bench: [{}/{total}] {} ({})",
                i + 1,
                scenario.name(),
                scenario
                    .to_possible_value()
                    .and_then(|v| v.get_help().map(ToString::to_string))
                    .unwrap_or_default()
            );
            let started = Instant::now();
            let measured = self
                .scenario_run(sh, *scenario, &tag, &detection.client)
                .with_context(|| format!("scenario {} failed", scenario.name()))?;
            eprintln!(
                "bench: [{}/{total}] {} done in {:.1} s",
                i + 1,
                scenario.name(),
                started.elapsed().as_secs_f64()
            );
            report.results.push(measured);
        }

        let json = serde_json::to_string_pretty(&report).context("cannot encode the results")?;
        if let Some(path) = &out_file {
            std::fs::write(path, format!("{json}\n"))
                .with_context(|| format!("cannot write {} (--out)", path.display()))?;
            eprintln!("bench: results written to {}", path.display());
        }
        if self.json {
            println!("{json}");
        } else {
            print!("{}", Table(&report));
        }
        Ok(())
    }

    /// The `cargo xtask docker` a build scenario runs, parsed as its command line would be.
    fn docker(&self, tag: &str, context: Option<&Path>, no_cache: bool) -> anyhow::Result<Docker> {
        let base = self
            .base_images
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        let mut args: Vec<String> = [
            "--mode",
            self.mode.mode().name(),
            "--tag",
            tag,
            "--progress",
            "plain",
            "--base-images",
            &base,
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(ca) = &self.ca_bundle {
            args.extend(["--ca-bundle".to_owned(), ca.display().to_string()]);
        }
        if let Some(dir) = context {
            args.extend(["--context".to_owned(), dir.display().to_string()]);
        }
        if self.offline {
            args.push("--offline".to_owned());
        }
        if no_cache {
            args.push("--no-cache".to_owned());
        }
        Docker::from_args(args).context("bad flags for the build")
    }

    fn build(
        &self,
        sh: &Shell,
        tag: &str,
        context: Option<&Path>,
        no_cache: bool,
    ) -> anyhow::Result<BuildFigures> {
        let started = Instant::now();
        let built = self
            .docker(tag, context, no_cache)?
            .build(sh)?
            .context("the build ran as a dry run")?;
        Ok(figures(&built, started.elapsed()))
    }

    fn scenario_run(
        &self,
        sh: &Shell,
        scenario: Scenario,
        tag: &str,
        client: &Path,
    ) -> anyhow::Result<Measured> {
        Ok(match scenario {
            Scenario::Build => Measured::Build(self.build(sh, tag, None, false)?),
            Scenario::Noop => Measured::Noop(self.build(sh, tag, None, false)?),
            Scenario::NoCache => Measured::NoCache(self.build(sh, tag, None, true)?),
            Scenario::SourceChange => {
                let copy_tag = format!("{tag}-source-change");
                let dir = sh
                    .create_temp_dir()
                    .context("cannot make a temporary directory")?;
                let context = dir.path().join("src");
                let files = copy_tracked(sh, &paths::project_root(), &context)?;
                eprintln!(
                    "bench: copied {files} tracked files to {}; building the copy",
                    context.display()
                );
                let result = (|| {
                    let copy = self.build(sh, &copy_tag, Some(&context), false)?;
                    let edited = context.join(EDITED_FILE);
                    let mut source = std::fs::read_to_string(&edited)
                        .with_context(|| format!("cannot read {}", edited.display()))?;
                    source.push_str(EDIT);
                    std::fs::write(&edited, source)
                        .with_context(|| format!("cannot write {}", edited.display()))?;
                    eprintln!("bench: appended a comment to {EDITED_FILE}; building again");
                    let after_edit = self.build(sh, &copy_tag, Some(&context), false)?;
                    anyhow::Ok(Measured::SourceChange {
                        edited: EDITED_FILE,
                        copy,
                        after_edit,
                    })
                })();
                // The copy's image is a by-product; only the --tag image is kept.
                let _ = cmd!(sh, "{client} image rm --force {copy_tag}")
                    .quiet()
                    .ignore_stdout()
                    .ignore_stderr()
                    .run();
                result?
            }
            Scenario::Startup => Measured::Startup(startup(sh, client, tag, self.requests)?),
        })
    }
}

fn figures(built: &Built, took: Duration) -> BuildFigures {
    let steps = count_steps(&built.build_output);
    BuildFigures {
        seconds: round(took.as_secs_f64(), 1),
        steps_cached: steps.map(|s| s.cached),
        steps_total: steps.map(|s| s.total),
        image_bytes: built.summary.facts.size,
        layers: built.summary.facts.layers,
        binary: built.summary.binary.clone(),
        compiled: compiled(&built.build_output),
    }
}

/// The crates cargo compiled, from a build log (`Compiling NAME vX.Y.Z`), in order.
fn compiled(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once("Compiling ").map(|(_, rest)| rest))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let name = words.next()?;
            // `Compiling cv v0.1.0 (/src/crates/cv)`: a version must follow, or it is prose.
            words
                .next()
                .filter(|v| v.starts_with('v'))
                .map(|_| name.to_owned())
        })
        .collect()
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Copies every file git lists in `root` (tracked, and untracked but not ignored) to `to`, with
/// their mtimes: the sources as they are now, without target/ or vendor/ (ignored). Returns how
/// many.
fn copy_tracked(sh: &Shell, root: &Path, to: &Path) -> anyhow::Result<usize> {
    let listed = cmd!(
        sh,
        "git -C {root} ls-files -z --cached --others --exclude-standard"
    )
    .quiet()
    .read()
    .with_context(|| {
        format!(
            "cannot list the files of {} (the source-change scenario needs a git checkout)",
            root.display()
        )
    })?;
    let mut copied = 0;
    for name in listed.split('\0').filter(|n| !n.is_empty()) {
        let from = root.join(name);
        // Deleted but still tracked, or a submodule: nothing to copy.
        if !from.is_file() {
            continue;
        }
        let dest = to.join(name);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(&from, &dest).with_context(|| format!("cannot copy {}", from.display()))?;
        // The original's mtime, as in a checkout edited in place: cargo decides by mtimes what
        // to recompile, and a copy stamped "now" would rebuild every workspace crate after the
        // first edit, overstating the rebuild.
        let modified = std::fs::metadata(&from).and_then(|m| m.modified());
        if let Ok(modified) = modified {
            std::fs::File::options()
                .write(true)
                .open(&dest)
                .and_then(|f| f.set_modified(modified))
                .with_context(|| format!("cannot set the mtime of {}", dest.display()))?;
        }
        copied += 1;
    }
    ensure!(copied > 0, "git lists no files in {}", root.display());
    Ok(copied)
}

/// Removes the benchmark's container (and its anonymous volumes) however the scenario ends.
struct Container<'a> {
    sh: &'a Shell,
    client: &'a Path,
    name: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let (client, name) = (self.client, &self.name);
        let _ = cmd!(self.sh, "{client} rm --force --volumes {name}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run();
    }
}

fn startup(
    sh: &Shell,
    client: &Path,
    image: &str,
    requests: u32,
) -> anyhow::Result<StartupFigures> {
    let name = format!("cv-bench-{}", std::process::id());
    let container = Container {
        sh,
        client,
        name: name.clone(),
    };
    let port = "127.0.0.1::8080";
    let started = Instant::now();
    cmd!(
        sh,
        "{client} run --detach --name {name} --publish {port} {image}"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .with_context(|| format!("cannot start a container of {image}"))?;
    let published = cmd!(sh, "{client} port {name} 8080/tcp")
        .quiet()
        .read()
        .context("cannot read the published port")?;
    let addr: SocketAddr = published
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .with_context(|| format!("`docker port` printed no address: {published:?}"))?;

    let deadline = Duration::from_secs(60);
    let seconds_to_healthy = loop {
        if matches!(get(addr, "/healthz"), Ok((200, _))) {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > deadline {
            let logs = cmd!(sh, "{client} logs --tail 20 {name}")
                .quiet()
                .ignore_status()
                .read_stderr()
                .unwrap_or_default();
            bail!(
                "{image} did not answer 200 on /healthz within {} s; its last log lines:\n{logs}",
                deadline.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    let mut times = Vec::with_capacity(requests as usize);
    let mut page_bytes = 0;
    for _ in 0..requests {
        let t = Instant::now();
        let (status, body) = get(addr, "/").context("GET / failed")?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        ensure!(status == 200, "GET / answered {status}");
        page_bytes = body;
    }
    times.sort_by(f64::total_cmp);

    let format = "{{.MemUsage}}";
    let usage = cmd!(sh, "{client} stats --no-stream --format {format} {name}")
        .quiet()
        .read()
        .context("docker stats failed")?;
    let memory_bytes = parse_mem_usage(&usage)
        .with_context(|| format!("cannot read the memory figure in {usage:?}"))?;

    let stopping = Instant::now();
    cmd!(sh, "{client} stop {name}")
        .quiet()
        .ignore_stdout()
        .run()
        .context("docker stop failed")?;
    let stop_seconds = stopping.elapsed().as_secs_f64();
    drop(container);

    Ok(StartupFigures {
        seconds_to_healthy: round(seconds_to_healthy, 3),
        requests,
        page_bytes,
        page_ms_p50: round(percentile(&times, 50), 3),
        page_ms_p95: round(percentile(&times, 95), 3),
        memory_bytes,
        stop_seconds: round(stop_seconds, 3),
    })
}

/// The `p`th percentile of sorted values (nearest rank).
fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// One HTTP/1.1 GET on a new connection: the status and the body's length.
fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, usize)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    match head.parse(&response)? {
        httparse::Status::Complete(len) => Ok((head.code.unwrap_or(0), response.len() - len)),
        httparse::Status::Partial => bail!("the response to GET {path} ended inside its head"),
    }
}

/// The used part of `docker stats`' MemUsage, `1.5MiB / 23.47GiB`, in bytes.
fn parse_mem_usage(text: &str) -> Option<u64> {
    let used = text.split('/').next()?.trim();
    let split = used.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = used.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let factor = match unit.trim() {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return None,
    };
    Some((number * factor).round() as u64)
}

fn machine(sh: &Shell, detection: &engine::Detection) -> anyhow::Result<Machine> {
    let client = &detection.client;
    let format = match detection.engine {
        engine::EngineKind::Docker => "{{.Driver}}",
        engine::EngineKind::Podman => "{{.Store.GraphDriverName}}",
    };
    let storage_driver = cmd!(sh, "{client} info --format {format}")
        .quiet()
        .read()
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    Ok(Machine {
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        memory_bytes,
        engine: format!(
            "{} {}",
            format!("{:?}", detection.engine).to_lowercase(),
            detection.server_version
        ),
        storage_driver,
        builder: match &detection.builder {
            engine::Builder::Buildx { version } => format!("buildx {version}"),
            engine::Builder::ClassicBuildKit => "BuildKit (DOCKER_BUILDKIT=1)".to_owned(),
            engine::Builder::Podman => "Buildah (podman build)".to_owned(),
        },
    })
}

/// The checkout's revision, `-dirty` when the work tree differs from it (figures of uncommitted
/// code must say so).
fn revision(sh: &Shell) -> String {
    let root = paths::project_root();
    let Ok(rev) = cmd!(sh, "git -C {root} rev-parse --short HEAD")
        .quiet()
        .read()
    else {
        return "unknown".to_owned();
    };
    let dirty = cmd!(sh, "git -C {root} status --porcelain --untracked-files=no")
        .quiet()
        .read()
        .is_ok_and(|s| !s.trim().is_empty());
    format!("{}{}", rev.trim(), if dirty { "-dirty" } else { "" })
}

/// The human-readable form of a report.
struct Table<'a>(&'a Report);

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn steps(f: &BuildFigures) -> String {
    match (f.steps_cached, f.steps_total) {
        (Some(c), Some(t)) => format!("{c} of {t} steps cached"),
        _ => "steps not counted".to_owned(),
    }
}

fn compiled_note(f: &BuildFigures) -> String {
    match f.compiled.len() {
        0 => "nothing compiled".to_owned(),
        n if n <= 6 => format!("compiled {}", f.compiled.join(", ")),
        n => format!("compiled {n} crates"),
    }
}

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let m = &r.machine;
        writeln!(
            f,
            "bench: {} image {} at {} on {}",
            r.mode, r.image, r.revision, r.date
        )?;
        writeln!(
            f,
            "machine: {} CPUs, {:.1} GiB, {} ({} storage), {}",
            m.cpus,
            m.memory_bytes as f64 / (1u64 << 30) as f64,
            m.engine,
            m.storage_driver,
            m.builder
        )?;
        let build_row = |f: &mut fmt::Formatter<'_>, name: &str, b: &BuildFigures| {
            writeln!(
                f,
                "  {name:<24}{:>8.1} s  {}; {}; image {}, {} layers",
                b.seconds,
                steps(b),
                compiled_note(b),
                mb(b.image_bytes),
                b.layers
            )
        };
        for result in &r.results {
            match result {
                Measured::Build(b) => {
                    build_row(f, "build", b)?;
                    if let Some(binary) = &b.binary {
                        writeln!(f, "  {:<24}{binary}", "")?;
                    }
                }
                Measured::Noop(b) => build_row(f, "noop rebuild", b)?,
                Measured::NoCache(b) => build_row(f, "no-cache build", b)?,
                Measured::SourceChange {
                    edited,
                    copy,
                    after_edit,
                } => {
                    build_row(f, "copy of the tree", copy)?;
                    build_row(f, "after one-line change", after_edit)?;
                    writeln!(f, "  {:<24}(edited {edited})", "")?;
                }
                Measured::Startup(s) => {
                    let mut line = String::new();
                    let _ = write!(
                        line,
                        "{:.3} s to the first 200 of /healthz; GET / ({} B) p50 {:.2} ms, p95 \
                         {:.2} ms over {} requests; memory {}; stop {:.2} s",
                        s.seconds_to_healthy,
                        s.page_bytes,
                        s.page_ms_p50,
                        s.page_ms_p95,
                        s.requests,
                        mb(s.memory_bytes),
                        s.stop_seconds
                    );
                    writeln!(f, "  {:<24}{line}", "startup")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_figures_of_docker_stats() {
        assert_eq!(parse_mem_usage("1.5MiB / 23.47GiB"), Some(1_572_864));
        assert_eq!(parse_mem_usage("812KiB / 2GiB"), Some(831_488));
        assert_eq!(parse_mem_usage("0B / 0B"), Some(0));
        assert_eq!(parse_mem_usage("3.2MB / 1GB"), Some(3_200_000));
        assert_eq!(parse_mem_usage("--"), None);
        assert_eq!(parse_mem_usage("12 parsecs / 1GiB"), None);
    }

    #[test]
    fn compiled_crates_from_a_build_log() {
        let log = "#12 41.3    Compiling cv-web v0.1.0 (/src/crates/cv-web)\n\
                   #12 52.0    Compiling cv v0.1.0 (/src/crates/cv)\n\
                   #12 60.1     Finished `release` profile [optimized] target(s)\n\
                   #7 0.2 Compiling the list of packages\n";
        assert_eq!(compiled(log), ["cv-web", "cv"]);
        assert!(compiled("#5 CACHED\n").is_empty());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50), 50.0);
        assert_eq!(percentile(&v, 95), 95.0);
        assert_eq!(percentile(&[7.0], 95), 7.0);
        assert_eq!(percentile(&[], 50), 0.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50), 2.0);
    }

    #[test]
    fn default_scenarios_and_their_names() {
        let names: Vec<&str> = Scenario::DEFAULT.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["build", "noop", "source-change", "startup"]);
        for s in Scenario::value_variants() {
            assert_eq!(s.to_possible_value().unwrap().get_name(), s.name());
        }
    }

    #[test]
    fn the_build_flags_are_those_of_cargo_xtask_docker() {
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: Bench,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "bench",
            "--mode",
            "prod",
            "--base-images",
            "standin",
            "--offline",
        ])
        .unwrap();
        let docker = cli
            .bench
            .docker("cv-bench:prod", Some(Path::new("/tmp/copy")), true)
            .unwrap();
        let shown = format!("{docker:?}");
        for want in [
            "mode: Prod",
            "tag: Some(\"cv-bench:prod\")",
            "no_cache: true",
            "offline: true",
            "base_images: Standin",
            "context: Some(\"/tmp/copy\")",
            "progress: Plain",
        ] {
            assert!(shown.contains(want), "{want} not in {shown}");
        }
    }

    #[test]
    fn json_shape_is_stable() {
        let b = BuildFigures {
            seconds: 1.5,
            steps_cached: Some(3),
            steps_total: Some(4),
            image_bytes: 7_800_000,
            layers: 2,
            binary: Some("/cv: static".into()),
            compiled: vec!["cv".into()],
        };
        let report = Report {
            format: 1,
            date: "2026-12-04T00:00:00Z".into(),
            revision: "abc1234".into(),
            mode: "minimal",
            image: "cv-bench:minimal".into(),
            machine: Machine {
                cpus: 2,
                memory_bytes: 1,
                engine: "docker 20.10.24".into(),
                storage_driver: "vfs".into(),
                builder: "BuildKit".into(),
            },
            results: vec![
                Measured::Noop(b.clone()),
                Measured::SourceChange {
                    edited: EDITED_FILE,
                    copy: b.clone(),
                    after_edit: b,
                },
                Measured::Startup(StartupFigures {
                    seconds_to_healthy: 0.5,
                    requests: 10,
                    page_bytes: 8669,
                    page_ms_p50: 0.4,
                    page_ms_p95: 0.9,
                    memory_bytes: 1_500_000,
                    stop_seconds: 0.2,
                }),
            ],
        };
        let v = serde_json::to_value(&report).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(
            keys(&v),
            [
                "format", "date", "revision", "mode", "image", "machine", "results"
            ]
        );
        assert_eq!(v["results"][0]["scenario"], "noop");
        assert_eq!(
            keys(&v["results"][0]),
            [
                "scenario",
                "seconds",
                "steps_cached",
                "steps_total",
                "image_bytes",
                "layers",
                "binary",
                "compiled"
            ]
        );
        assert_eq!(v["results"][1]["scenario"], "source-change");
        assert_eq!(v["results"][1]["after_edit"]["compiled"][0], "cv");
        assert_eq!(v["results"][2]["scenario"], "startup");
        assert_eq!(v["results"][2]["page_bytes"], 8669);
        let table = Table(&report).to_string();
        assert!(table.contains("after one-line change"), "{table}");
        assert!(table.contains("3 of 4 steps cached"), "{table}");
    }
}
