//! `cargo xtask precommit`: the fast checks the pre-commit hook runs (issue 5).
//!
//! The checks run on the git repository of the current directory (`git rev-parse
//! --show-toplevel`), not on the checkout xtask was compiled from, so the hook works in any clone
//! and in linked worktrees. Like Bevy's `tools/ci`, the steps are planned first, each with the
//! command that fixes its failure, then run one after another; every step reports its result and
//! time, and the run ends with one summary line.
//!
//! The Dockerfile and compose lint reads what is staged (the index git is about to commit), not
//! the work tree: a bad Dockerfile staged and then fixed only on disk would otherwise pass while
//! the bad one is committed. `--working-tree` lints the files on disk instead, for a run before
//! staging.
//!
//! Nothing here touches the network: a commit must not wait on it or fail for want of it. The
//! advisory check uses a database already on disk and is skipped, saying why, when there is none.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::hooks::git_query;
use crate::scan::{
    self, Check, Outcome, Severity, compose, deps, dockerfile, report::Report, tools,
};

/// The severity at which a lint or advisory finding blocks a commit: `cargo xtask scan`'s default.
const FAIL_ON: Severity = Severity::High;

const EXAMPLES: &str = "\
Examples:
  Run every check on the repository of the current directory:
    cargo xtask precommit

  Leave out the slowest step once:
    cargo xtask precommit --skip clippy

  Only the lint, of the Dockerfiles as they are on disk rather than as staged:
    cargo xtask precommit --skip fmt,clippy,advisories --working-tree

The pre-commit hook (`cargo xtask hooks install`) runs this before every commit;
`git commit --no-verify` skips it once. The advisory step reads a database already on disk
(CV_ADVISORY_DB, else $CARGO_HOME/advisory-db, else the copy `cargo xtask scan` downloaded) and is
skipped when there is none: a commit never waits on the network.

Exit status: 0 when every step passed or was skipped, 1 when one failed.";

/// Format check, clippy, Dockerfile and compose lint, lockfile advisories
///
/// Each step prints its name, result and time; a failing step shows its output and the command
/// that fixes it. The Dockerfile and compose lint reads the staged versions of the files.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Precommit {
    /// Leave out a step; repeatable or comma-separated
    #[arg(long, value_enum, value_name = "STEP", value_delimiter = ',')]
    skip: Vec<StepKind>,

    /// Lint the Dockerfiles and compose files as they are on disk, not as staged
    #[arg(long)]
    working_tree: bool,
}

/// Which version of a file the lint reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The index: what `git commit` is about to record.
    Staged,
    /// The files on disk.
    WorkingTree,
}

/// The checks, in the order they run: cheapest and most often failing first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StepKind {
    /// cargo fmt --all --check
    Fmt,
    /// cargo clippy --workspace --all-targets --locked -- -D warnings
    Clippy,
    /// The scanner's Dockerfile and compose rules on the staged Dockerfiles, Containerfiles and compose files
    DockerLint,
    /// Cargo.lock against the RustSec advisory database on disk
    Advisories,
}

impl StepKind {
    const ALL: [StepKind; 4] = [
        StepKind::Fmt,
        StepKind::Clippy,
        StepKind::DockerLint,
        StepKind::Advisories,
    ];

    fn name(self) -> &'static str {
        match self {
            StepKind::Fmt => "fmt",
            StepKind::Clippy => "clippy",
            StepKind::DockerLint => "docker-lint",
            StepKind::Advisories => "advisories",
        }
    }

    /// What to do when the step fails.
    fn fix(self) -> &'static str {
        match self {
            StepKind::Fmt => "run `cargo fmt --all`",
            StepKind::Clippy => {
                "fix what clippy reports above, then check with \
                 `cargo clippy --workspace --all-targets --locked -- -D warnings`"
            }
            StepKind::DockerLint => {
                "fix the findings shown (they are in the staged version), `git add` the fixed \
                 files, then check with `cargo xtask precommit --skip fmt,clippy,advisories`"
            }
            StepKind::Advisories => {
                "upgrade the crates named above (`cargo update -p NAME`), then check with \
                 `cargo xtask scan --lockfile Cargo.lock`"
            }
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// With a short note, e.g. how many files were checked.
    Passed(String),
    /// With what the step printed, shown to the user.
    Failed(String),
    /// With the reason.
    Skipped(String),
}

impl Precommit {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let root = repo_root(sh)?;
        let _in_root = sh.push_dir(&root);
        println!("precommit: checking {}", root.display());
        let started = Instant::now();
        let mut failed = Vec::new();
        let (mut passed, mut skipped) = (0, 0);
        for kind in StepKind::ALL {
            print!("  {:<12}", kind.name());
            // The name shows while a slow step (a cold clippy) runs.
            let _ = std::io::stdout().flush();
            let step_started = Instant::now();
            let result = if self.skip.contains(&kind) {
                StepResult::Skipped("--skip".to_owned())
            } else {
                run_step(sh, &root, kind, self.source())
            };
            let took = seconds(step_started.elapsed());
            match &result {
                StepResult::Passed(note) => {
                    passed += 1;
                    println!("passed   {took}  {note}");
                }
                StepResult::Skipped(reason) => {
                    skipped += 1;
                    println!("skipped  {took}  {reason}");
                }
                StepResult::Failed(output) => {
                    failed.push(kind);
                    println!("FAILED   {took}  fix: {}", kind.fix());
                    print!("{}", indent(output));
                }
            }
        }
        println!(
            "precommit: {passed} passed, {} failed, {skipped} skipped in {}",
            failed.len(),
            seconds(started.elapsed()).trim_start()
        );
        if failed.is_empty() {
            return Ok(());
        }
        let mut message = String::from("precommit failed:");
        for kind in &failed {
            let _ = write!(message, " {}: {};", kind.name(), kind.fix());
        }
        message.pop();
        message.push_str(" (`git commit --no-verify` skips the checks once)");
        anyhow::bail!(message)
    }
}

impl Precommit {
    fn source(&self) -> Source {
        if self.working_tree {
            Source::WorkingTree
        } else {
            Source::Staged
        }
    }
}

/// The top of the work tree the process runs in.
fn repo_root(sh: &Shell) -> anyhow::Result<PathBuf> {
    let top = git_query(sh, &["rev-parse", "--show-toplevel"], "precommit")?;
    Ok(PathBuf::from(top))
}

fn run_step(sh: &Shell, root: &Path, kind: StepKind, source: Source) -> StepResult {
    let outcome = match kind {
        StepKind::Fmt | StepKind::Clippy if !root.join("Cargo.toml").is_file() => {
            return StepResult::Skipped("no Cargo.toml at the top of the repository".to_owned());
        }
        StepKind::Fmt | StepKind::Clippy => cargo(sh, &cargo_args(kind, color())),
        StepKind::DockerLint => docker_lint(sh, root, source),
        StepKind::Advisories => advisories(root),
    };
    outcome.unwrap_or_else(|err| StepResult::Failed(format!("{err:#}\n")))
}

/// The command line of a cargo step (after `cargo`).
fn cargo_args(kind: StepKind, color: &'static str) -> Vec<&'static str> {
    match kind {
        StepKind::Fmt => vec!["fmt", "--all", "--check", "--", "--color", color],
        // --quiet: without "Checking …" lines a passing run prints nothing at all.
        StepKind::Clippy => vec![
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--quiet",
            "--color",
            color,
            "--",
            "-D",
            "warnings",
        ],
        StepKind::DockerLint | StepKind::Advisories => Vec::new(),
    }
}

/// Output is captured and shown later: colour only when it will reach a terminal.
fn color() -> &'static str {
    if std::io::stdout().is_terminal() {
        "always"
    } else {
        "never"
    }
}

/// Runs cargo — the one that runs us, as `$CARGO` names it — with output captured: a passing
/// step stays one line, a failing one shows everything.
fn cargo(sh: &Shell, args: &[&str]) -> anyhow::Result<StepResult> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = cmd!(sh, "{cargo} {args...}")
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if out.status.success() {
        return Ok(StepResult::Passed(String::new()));
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(StepResult::Failed(text))
}

/// The Dockerfiles and compose files git tracks, as paths relative to the repository's top
/// (as git prints them).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DockerFiles {
    pub dockerfiles: Vec<String>,
    pub compose_files: Vec<String>,
}

/// Directories whose Dockerfiles and compose files are not the project's own: test data (often
/// faulty on purpose, as the scanner's seeded faults are) and vendored code.
pub const NOT_SHIPPED: [&str; 6] = [
    "tests",
    "test",
    "testdata",
    "test-data",
    "fixtures",
    "vendor",
];

/// Sorts tracked paths (relative to the repository's top, as `git ls-files` prints them) into
/// Dockerfiles (`Dockerfile`, `Dockerfile.*`, `*.dockerfile`, and the same with `Containerfile`,
/// podman's name for one) and compose files (`compose*.yml`, `docker-compose*.yml`, and
/// `.yaml`), leaving out those under a directory in [`NOT_SHIPPED`].
pub fn docker_files<'a>(tracked: impl IntoIterator<Item = &'a str>) -> DockerFiles {
    let mut found = DockerFiles::default();
    for path in tracked {
        let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
        if dirs.split('/').any(|dir| NOT_SHIPPED.contains(&dir)) {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        // Case matters for the prefix: `dockerfile.rs` is source code, `Dockerfile.prod` is not.
        let dockerfile = ["dockerfile", "containerfile"]
            .iter()
            .any(|base| lower == *base || lower.ends_with(&format!(".{base}")))
            || name.starts_with("Dockerfile.")
            || name.starts_with("Containerfile.");
        let compose = (lower.starts_with("compose") || lower.starts_with("docker-compose"))
            && (lower.ends_with(".yml") || lower.ends_with(".yaml"));
        if dockerfile {
            found.dockerfiles.push(path.to_owned());
        } else if compose {
            found.compose_files.push(path.to_owned());
        }
    }
    found
}

/// The text of each file to lint, by its path relative to the repository's top.
trait Contents {
    /// `None` when there is nothing to read: deleted on disk, or a symlink or submodule in the
    /// index.
    fn read(&self, path: &str) -> anyhow::Result<Option<String>>;
}

/// Files on disk under the repository's top.
struct WorkingTree<'a> {
    root: &'a Path,
}

impl Contents for WorkingTree<'_> {
    fn read(&self, path: &str) -> anyhow::Result<Option<String>> {
        let full = self.root.join(path);
        if !full.is_file() {
            return Ok(None);
        }
        std::fs::read_to_string(&full)
            .map(Some)
            .with_context(|| format!("cannot read {}", full.display()))
    }
}

/// Blobs in the index: path → object id of each regular file at stage 0 (a file in a merge
/// conflict has no stage 0, and git refuses to commit it anyway).
struct Index<'a> {
    sh: &'a Shell,
    blobs: std::collections::BTreeMap<String, String>,
}

impl<'a> Index<'a> {
    /// Reads the index `git ls-files --stage` shows; under the hook that is `GIT_INDEX_FILE`,
    /// the one being committed (also for `git commit -a` and `git commit PATH`).
    fn load(sh: &'a Shell) -> anyhow::Result<Index<'a>> {
        let listing = cmd!(sh, "git ls-files --stage -z")
            .quiet()
            .read()
            .context("listing the staged files (git ls-files --stage)")?;
        Ok(Index {
            sh,
            blobs: parse_stage_listing(&listing),
        })
    }
}

impl Contents for Index<'_> {
    fn read(&self, path: &str) -> anyhow::Result<Option<String>> {
        let Some(id) = self.blobs.get(path) else {
            return Ok(None);
        };
        let sh = self.sh;
        let bytes = cmd!(sh, "git cat-file blob {id}")
            .quiet()
            .output()
            .with_context(|| format!("cannot read the staged {path} (git cat-file blob {id})"))?
            .stdout;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// `git ls-files --stage -z` lines, `MODE OBJECT STAGE<TAB>PATH`: the regular files at stage 0.
fn parse_stage_listing(listing: &str) -> std::collections::BTreeMap<String, String> {
    listing
        .split('\0')
        .filter_map(|entry| {
            let (meta, path) = entry.split_once('\t')?;
            let mut fields = meta.split(' ');
            let (mode, id, stage) = (fields.next()?, fields.next()?, fields.next()?);
            let regular = mode == "100644" || mode == "100755";
            (regular && stage == "0").then(|| (path.to_owned(), id.to_owned()))
        })
        .collect()
}

/// A Dockerfile's text in a file of its own, for hadolint, which reads only files; removed when
/// dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("cv-precommit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch { dir })
    }

    fn write(&self, n: usize, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(format!("{n}.Dockerfile"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The scanner's Dockerfile and compose rules (and hadolint where installed) on the staged
/// versions of the tracked files (or, with `--working-tree`, those on disk), failing on high
/// findings as `cargo xtask scan` does. Findings name the file as git does, with the line
/// numbers of the version read.
fn docker_lint(sh: &Shell, root: &Path, source: Source) -> anyhow::Result<StepResult> {
    // The index, not a directory walk: target/ and vendor/ are never looked at.
    let index = Index::load(sh)?;
    let files = docker_files(index.blobs.keys().map(String::as_str));
    let tree = WorkingTree { root };
    let contents: &dyn Contents = match source {
        Source::Staged => &index,
        Source::WorkingTree => &tree,
    };
    let scratch = Scratch::new()?;
    let mut checks = Vec::new();
    for (n, path) in files.dockerfiles.iter().enumerate() {
        let Some(text) = contents.read(path)? else {
            continue;
        };
        // As `cargo xtask scan` does: a file with no FROM has nothing to fault, and would pass.
        dockerfile::require_from(&text).with_context(|| format!("cannot lint {path}"))?;
        checks.push(Check::ran(
            "dockerfile-rules",
            path,
            dockerfile::check(&text, path, &[]),
        ));
        let on_disk = match source {
            Source::Staged => scratch.write(n, &text)?,
            Source::WorkingTree => root.join(path),
        };
        checks.push(tools::hadolint(sh, &on_disk, path)?);
    }
    for path in &files.compose_files {
        let Some(text) = contents.read(path)? else {
            continue;
        };
        // Build contexts in a compose file are relative to its directory.
        let dir = root.join(Path::new(path).parent().unwrap_or(Path::new("")));
        let findings = compose::check(&text, path, &dir)
            .with_context(|| format!("{path} is not a valid compose file"))?;
        checks.push(Check::ran("compose-rules", path, findings));
    }
    if checks.is_empty() {
        return Ok(StepResult::Skipped(
            "no Dockerfile, Containerfile or compose file is tracked".to_owned(),
        ));
    }
    Ok(verdict(&Report {
        checks,
        notes: Vec::new(),
    }))
}

/// Where the advisory step reads its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDb {
    pub path: PathBuf,
    pub origin: &'static str,
}

/// A database already on disk: CV_ADVISORY_DB, else cargo-audit's copy in
/// `$CARGO_HOME/advisory-db`, else the one `cargo xtask scan` downloaded (however old: a stale
/// database still catches what it knows). Never fetches; the error is the reason to skip.
pub fn local_advisory_db() -> Result<LocalDb, String> {
    if let Some(path) = std::env::var_os("CV_ADVISORY_DB") {
        return Ok(LocalDb {
            path: PathBuf::from(path),
            origin: "CV_ADVISORY_DB",
        });
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let candidates = [
        cargo_home.map(|home| (home.join("advisory-db"), "cargo-audit's copy")),
        Some((deps::download_dir(), "downloaded by cargo xtask scan")),
    ];
    for (path, origin) in candidates.into_iter().flatten() {
        if path.join("crates").is_dir() {
            return Ok(LocalDb { path, origin });
        }
    }
    Err(
        "no advisory database on disk (set CV_ADVISORY_DB, or run `cargo xtask scan` once to \
         download one); a commit does not wait on the network"
            .to_owned(),
    )
}

/// Cargo.lock against the local advisory database: vulnerabilities, unmaintained, unsound.
/// Yanked versions are left to `cargo xtask scan --check-yanked`, which needs the network.
fn advisories(root: &Path) -> anyhow::Result<StepResult> {
    let lockfile = root.join("Cargo.lock");
    if !lockfile.is_file() {
        return Ok(StepResult::Skipped("no Cargo.lock".to_owned()));
    }
    let local = match local_advisory_db() {
        Ok(local) => local,
        Err(reason) => return Ok(StepResult::Skipped(reason)),
    };
    let db = deps::AdvisoryDb::open(&local.path, local.origin)?;
    let report = Report {
        checks: deps::check_lockfile(&db, &lockfile, &scan::display_path(&lockfile))?,
        notes: vec![db.describe()],
    };
    Ok(verdict(&report))
}

/// Passed with the counts when nothing reaches [`FAIL_ON`], else failed with the whole table.
fn verdict(report: &Report) -> StepResult {
    if report.failing(FAIL_ON) > 0 {
        return StepResult::Failed(scan::report::table(report, FAIL_ON));
    }
    let counts: Vec<String> = report
        .counts()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(severity, n)| format!("{n} {}", severity.as_str()))
        .collect();
    let skipped: Vec<String> = report
        .checks
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Skipped { reason } => Some(format!("{} skipped: {reason}", c.id)),
            Outcome::Ran { .. } => None,
        })
        .collect();
    let mut note = format!(
        "{} checks; findings below {}: {}",
        report.checks.len(),
        FAIL_ON.as_str(),
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        }
    );
    // The first skip reason is enough to say what was not looked at (e.g. no hadolint).
    if let Some(first) = skipped.first() {
        let _ = write!(note, "; {first}");
    }
    for extra in &report.notes {
        let _ = write!(note, "; {extra}");
    }
    StepResult::Passed(note)
}

fn seconds(d: Duration) -> String {
    format!("{:>5.1} s", d.as_secs_f64())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      | {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_tracked_files_into_dockerfiles_and_compose_files() {
        let tracked = [
            "Dockerfile",
            "docker/Dockerfile.prod",
            "tools/build.Dockerfile",
            "Containerfile",
            "podman/Containerfile.arm64",
            "podman/app.Containerfile",
            "docker/docker-compose.dev.yml",
            "compose.yaml",
            "docker/README-measurements.md",
            "src/dockerfile.rs",
            "src/containerfile.rs",
            "config.yml",
            "xtask/tests/data/scan/Dockerfile.add-url",
            "vendor/some-crate/Dockerfile",
        ];
        let found = docker_files(tracked);
        assert_eq!(
            found.dockerfiles,
            [
                "Dockerfile",
                "docker/Dockerfile.prod",
                "tools/build.Dockerfile",
                "Containerfile",
                "podman/Containerfile.arm64",
                "podman/app.Containerfile",
            ]
        );
        assert_eq!(
            found.compose_files,
            ["docker/docker-compose.dev.yml", "compose.yaml"]
        );
    }

    #[test]
    fn the_index_listing_gives_regular_files_at_stage_0() {
        let listing = "100644 aaaa 0\tDockerfile\0\
                       100755 bbbb 0\tdocker/Dockerfile.prod\0\
                       120000 cccc 0\tlinked/Dockerfile\0\
                       160000 dddd 0\tsubmodule\0\
                       100644 eeee 1\tconflict/Dockerfile\0\
                       100644 ffff 2\tconflict/Dockerfile\0\
                       100644 1111 0\twith space/Dockerfile\0";
        let blobs = parse_stage_listing(listing);
        let got: Vec<(&str, &str)> = blobs
            .iter()
            .map(|(p, id)| (p.as_str(), id.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("Dockerfile", "aaaa"),
                ("docker/Dockerfile.prod", "bbbb"),
                ("with space/Dockerfile", "1111"),
            ]
        );
    }

    #[test]
    fn every_step_names_a_command_to_run() {
        for kind in StepKind::ALL {
            assert!(kind.fix().contains('`'), "{}: {}", kind.name(), kind.fix());
        }
    }

    #[test]
    fn cargo_steps_run_these_commands() {
        assert_eq!(
            cargo_args(StepKind::Fmt, "never").join(" "),
            "fmt --all --check -- --color never"
        );
        assert_eq!(
            cargo_args(StepKind::Clippy, "always").join(" "),
            "clippy --workspace --all-targets --locked --quiet --color always -- -D warnings"
        );
    }
}
