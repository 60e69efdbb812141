//! `cargo xtask docker`: build an image of the CV application through BuildKit.
//!
//! Four phases, in this order: flags become typed [`plan::Options`] (every malformed value is
//! refused here, before any process runs); [`crate::engine`] finds out what can really build;
//! [`plan::plan`] turns both into a list of commands; [`exec`] runs them and [`summary`] reports.
//! `--dry-run` stops after printing the plan.

mod binary;
mod exec;
mod options;
mod plan;
mod pull;
pub mod summary;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use clap::Args;
use xshell::{Shell, cmd};

use crate::engine::{self, Builder, EngineKind};
use crate::paths;
pub use options::{BaseImages, Mode};
use options::{ImageRef, Platform, Progress, Secret, check_container_name};
use plan::{Inputs, Options, RunOptions};

const EXAMPLES: &str = "\
Examples:
  Build the minimal image and serve it on http://127.0.0.1:8080/:
    cargo xtask docker --mode minimal --run

  On a machine that cannot pull images (make the stand-ins once with `cargo xtask base-images`),
  behind a TLS-intercepting proxy:
    cargo xtask docker --mode minimal --base-images standin \\
        --ca-bundle /etc/ssl/certs/ca-certificates.crt

  See what would run, without running it:
    cargo xtask docker --mode prod --platform linux/arm64 --dry-run

  Tag for a registry and push (retried on network errors):
    cargo xtask docker --mode prod --registry 127.0.0.1:5000 --push

  Build with no network at all, from vendor/ (run `cargo xtask vendor` first):
    cargo xtask docker --mode minimal --offline --base-images standin

  Pass a build-time secret (mounted only into the steps that ask for it, never into the image):
    cargo xtask docker --mode prod --secret id=npmrc,src=$HOME/.npmrc

Environment:
  CV_BASE_IMAGES     Default for --base-images
  CV_CA_BUNDLE       Default for --ca-bundle
  CV_RETRY_ATTEMPTS  Default for --retry-attempts (pulls and pushes; see docs/RETRIES.md)
  CV_RETRY_MAX_TIME  Default for --retry-max-time
  CV_NET_TEST_*      What --network-test checks (`cargo xtask net-test --help`)
  SOURCE_DATE_EPOCH  The image's `created` time, in seconds since 1970 [default: the last commit's]
  DOCKER_HOST        Which engine to talk to
An empty variable counts as unset.";

/// Build a container image of the CV application
///
/// Detects the engine and a builder that honours `RUN --mount` (docker buildx; else a client
/// that builds with BuildKit under DOCKER_BUILDKIT=1; else podman) and never falls back to the
/// legacy builder. Prints each command before running it, streams the engine's progress, and
/// ends with a summary: image, digest, size, layers, user, build time, cached steps.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Docker {
    /// Which image to build
    #[arg(long, value_enum)]
    mode: Mode,

    /// Image reference to tag the result as [default: cv:<MODE>]
    #[arg(long, value_name = "REF")]
    tag: Option<String>,

    /// Version for the image's org.opencontainers.image.version label [default: the workspace's version]
    #[arg(long = "version", value_name = "VERSION")]
    image_version: Option<String>,

    /// Target platform os/arch[/variant], e.g. linux/arm64 [default: the engine's own]
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,

    /// Push the image after building (needs --registry or a --tag naming a registry)
    #[arg(long)]
    push: bool,

    /// Registry to tag the image under, e.g. 127.0.0.1:5000 or ghcr.io/me
    #[arg(long, value_name = "HOST[/PATH]")]
    registry: Option<String>,

    /// Build every step afresh instead of using the build cache
    #[arg(long)]
    no_cache: bool,

    /// Build from vendor/ (`cargo xtask vendor`) with every RUN step cut off from the network
    #[arg(long)]
    offline: bool,

    /// Run `cargo xtask net-test` first and stop if the network cannot carry a build
    #[arg(long)]
    network_test: bool,

    /// Scan the image once tagged, before any push or run (`cargo xtask scan --image`); a high
    /// finding stops there
    #[arg(long)]
    scan: bool,

    /// Build-time secret, mounted only into steps that ask for it; repeatable
    #[arg(long, value_name = "id=ID,src=FILE")]
    secret: Vec<String>,

    /// Container engine [default: docker if installed, else podman]
    #[arg(long, value_enum)]
    engine: Option<EngineKind>,

    /// Named buildx builder instance (needs docker buildx)
    #[arg(long, value_name = "NAME")]
    builder: Option<String>,

    /// How the engine reports progress
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    progress: Progress,

    /// Start the image afterwards, wait until it is healthy and print its URL
    #[arg(long)]
    run: bool,

    /// Host port for --run on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 8080, requires = "run")]
    port: u16,

    /// Container name for --run [default: cv-<MODE>]
    #[arg(long, value_name = "NAME", requires = "run")]
    name: Option<String>,

    /// Base images: the public ones, or local stand-ins from `cargo xtask base-images`
    #[arg(
        long,
        value_enum,
        env = "CV_BASE_IMAGES",
        hide_env_values = true,
        default_value_t = BaseImages::Public
    )]
    base_images: BaseImages,

    /// Extra CA certificates for steps that fetch crates (passed as secret `ca_bundle`)
    #[arg(
        long,
        env = "CV_CA_BUNDLE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    ca_bundle: Option<PathBuf>,

    /// Print the detected builder and the plan, run nothing
    #[arg(long)]
    dry_run: bool,

    /// Dockerfile to build [default: docker/Dockerfile.<MODE> in the build context]
    #[arg(long, value_name = "FILE")]
    dockerfile: Option<PathBuf>,

    /// Build context: a checkout of this workspace [default: the workspace root]
    #[arg(long, value_name = "DIR")]
    context: Option<PathBuf>,

    #[command(flatten)]
    retry: crate::retry::RetryArgs,
}

/// What a finished build made, for callers that go on with the image (`cargo xtask bench`).
#[derive(Debug)]
pub struct Built {
    pub summary: summary::Summary,
    /// Everything the engine printed while building.
    pub build_output: String,
}

impl Docker {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let Some(built) = self.build(sh)? else {
            return Ok(());
        };
        println!("{}", built.summary);
        Ok(())
    }

    /// Parses `cargo xtask docker` flags (without the command name), as the command line would.
    pub fn from_args<I, S>(args: I) -> anyhow::Result<Docker>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            docker: Docker,
        }
        let args = std::iter::once(std::ffi::OsString::from("docker"))
            .chain(args.into_iter().map(Into::into));
        let only = <Only as clap::Parser>::try_parse_from(args)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim()))?;
        Ok(only.docker)
    }

    /// Checks every flag as a build would, running nothing.
    pub fn check(self) -> anyhow::Result<()> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        self.into_options(&cwd, &paths::project_root()).map(drop)
    }

    /// Checks, plans and runs the build; None after `--dry-run`, which only prints the plan.
    pub fn build(self, sh: &Shell) -> anyhow::Result<Option<Built>> {
        let dry_run = self.dry_run;
        let wanted_engine = self.engine;
        let (network_test, scan) = (self.network_test, self.scan);
        let retry = self.retry.policy();
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let opts = self.into_options(&cwd, &paths::project_root())?;
        let context = opts.context.clone().unwrap_or_else(paths::project_root);
        // Before the engine is even asked: a missing or stale vendor tree would fail minutes
        // into the build, or worse, build from crates that no longer match Cargo.lock.
        if opts.offline {
            crate::vendor::require_fresh(&context, &context.join("vendor"))?;
        }

        let needs = crate::net_test::BuildNeeds {
            pulls_base_images: !opts.offline && opts.base_images == BaseImages::Public,
            fetches_crates: !opts.offline,
        };
        let preflight = network_test
            .then(|| crate::net_test::Preflight::from_env(needs))
            .transpose()?;

        let detection = engine::detect(sh, wanted_engine)?;
        if opts.builder.is_some() && !matches!(detection.builder, Builder::Buildx { .. }) {
            bail!(
                "--builder needs docker buildx, and this machine builds with {}; drop --builder",
                detection
            );
        }

        let work_dir = sh
            .create_temp_dir()
            .context("cannot make a temporary directory")?;
        let inputs = gather_inputs(sh, &context, work_dir.path())?;
        let plan = plan::plan(&opts, &detection, &inputs);
        let pulls = pull::Pulls::for_build(&opts)?;
        let mut extra = String::new();
        if let Some(preflight) = &preflight {
            extra.push_str(&format!("{preflight}\n"));
        }
        if scan {
            extra.push_str(&format!(
                "after tagging, before any push or run: cargo xtask scan --image {} (the {} \
                 policy), failing on high\n",
                opts.image,
                opts.mode.name()
            ));
        }
        if dry_run {
            print!("{plan}{pulls}{extra}");
            return Ok(None);
        }
        eprint!("{plan}{pulls}{extra}");

        if let Some(preflight) = &preflight {
            preflight.run(sh)?;
        }
        pulls.run(sh, &detection.client, retry)?;
        let image = opts.image.to_string();
        let mode = opts.mode;
        let mut scan_gate = || crate::scan::scan_built_image(sh, &image, mode);
        let gate: Option<exec::Gate<'_>> = if scan { Some(&mut scan_gate) } else { None };
        let mut outcome = exec::execute(sh, &plan, retry, gate)?;
        let facts = summary::ImageFacts::inspect(sh, &detection.client, opts.image.as_str())?;
        let shown = opts
            .registry_image
            .as_ref()
            .unwrap_or(&opts.image)
            .to_string();
        let summary = summary::Summary::new(shown, facts, &outcome);
        Ok(Some(Built {
            summary,
            build_output: std::mem::take(&mut outcome.build_output),
        }))
    }

    /// Turns raw flags into validated options; refuses anything malformed before work starts.
    fn into_options(self, cwd: &Path, root: &Path) -> anyhow::Result<Options> {
        // The dev image compiles the tree mounted at run time; there is nothing to vendor into it.
        ensure!(
            !(self.offline && self.mode == Mode::Dev),
            "--offline builds the minimal and prod images; the dev image has no offline build \
             (it compiles the mounted tree when it runs)"
        );
        let platform = self
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()?;
        let secrets = self
            .secret
            .iter()
            .map(|s| Secret::parse(s, cwd))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // The engine would keep only one of two secrets with the same id, silently.
        for (i, secret) in secrets.iter().enumerate() {
            ensure!(
                !secrets[..i].iter().any(|s| s.id == secret.id),
                "secret id {:?} is given twice (--secret); give each secret its own id",
                secret.id
            );
        }
        if let Some(clash) = secrets.iter().find(|s| s.id == "ca_bundle") {
            ensure!(
                self.ca_bundle.is_none(),
                "secret id {:?} is given twice: by --secret and by --ca-bundle/CV_CA_BUNDLE",
                clash.id
            );
        }
        let ca_bundle = match self.ca_bundle {
            Some(path) => {
                let path = cwd.join(path);
                // Checked here as net-test and the HTTP client check it: a file the build step
                // cannot use would otherwise fail minutes later as a certificate error.
                if let Err(why) = crate::retry::ca_bundle_certs(&path) {
                    bail!(
                        "CA bundle {} {why} (--ca-bundle / CV_CA_BUNDLE); name a PEM file of CA \
                         certificates",
                        path.display()
                    );
                }
                Some(path)
            }
            None => None,
        };

        // Another checkout (a copy, a worktree) builds with its own Dockerfiles and sources.
        let context = match self.context {
            Some(dir) => {
                let dir = cwd.join(dir);
                ensure!(
                    dir.is_dir(),
                    "build context {} is not a directory (--context)",
                    dir.display()
                );
                ensure!(
                    dir.join("Cargo.toml").is_file(),
                    "build context {} has no Cargo.toml: --context takes a checkout of this workspace",
                    dir.display()
                );
                let dir = dir
                    .canonicalize()
                    .with_context(|| format!("cannot resolve {}", dir.display()))?;
                let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
                (dir != root).then_some(dir)
            }
            None => None,
        };
        let dockerfile = match self.dockerfile {
            Some(path) => cwd.join(path),
            None => context
                .as_deref()
                .map_or_else(paths::docker_dir, |dir| dir.join("docker"))
                .join(format!("Dockerfile.{}", self.mode.name())),
        };
        ensure!(
            !dockerfile.is_dir(),
            "Dockerfile {} is a directory; name the Dockerfile in it (--dockerfile)",
            dockerfile.display()
        );
        ensure!(
            dockerfile.is_file(),
            "Dockerfile {} not found{}",
            dockerfile.display(),
            if dockerfile.starts_with(root) {
                ""
            } else {
                " (--dockerfile)"
            }
        );
        // Inside the repository, print and pass it relative to the build context.
        let dockerfile = dockerfile
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or(dockerfile);

        let image = match &self.tag {
            Some(tag) => tag.parse::<ImageRef>()?,
            None => ImageRef::for_mode(self.mode),
        };
        let registry_image = self
            .registry
            .as_deref()
            .map(|r| image.in_registry(r))
            .transpose()?;
        ensure!(
            !self.push || registry_image.is_some() || image.has_registry(),
            "--push needs somewhere to push to: add --registry HOST (e.g. 127.0.0.1:5000) or a \
             --tag that starts with a registry host"
        );
        if let Some(version) = &self.image_version {
            ensure!(
                !version.is_empty() && !version.contains(char::is_whitespace),
                "malformed --version {version:?}: no spaces, not empty"
            );
        }
        // The dev image serves a source tree mounted at /workspace, with the host user's uid:
        // compose sets that up; a bare `docker run` of it has nothing to build.
        ensure!(
            !(self.run && self.mode == Mode::Dev),
            "--run does not start the dev image: it needs the source tree mounted; run \
             `docker-compose -f docker/docker-compose.dev.yml up` after building it"
        );
        let run = if self.run {
            let container = self
                .name
                .unwrap_or_else(|| format!("cv-{}", self.mode.name()));
            check_container_name(&container)?;
            Some(RunOptions {
                container,
                port: self.port,
            })
        } else {
            None
        };

        Ok(Options {
            mode: self.mode,
            dockerfile,
            image,
            registry_image,
            push: self.push,
            version: self.image_version,
            platform,
            no_cache: self.no_cache,
            secrets,
            ca_bundle,
            builder: self.builder,
            progress: self.progress,
            base_images: self.base_images,
            run,
            context,
            offline: self.offline,
        })
    }
}

/// Reads the version and source URL from the build context's workspace manifest, the revision
/// from its git checkout (`unknown` outside one) and the creation time from SOURCE_DATE_EPOCH,
/// else the time of the checkout's last commit, else the clock.
fn gather_inputs(sh: &Shell, context: &Path, work_dir: &Path) -> anyhow::Result<Inputs> {
    let manifest_path = context.join("Cargo.toml");
    let manifest = sh.read_file(&manifest_path)?;
    let field = |name: &str| {
        workspace_package_field(&manifest, name).with_context(|| {
            format!(
                "no `{name}` under [workspace.package] in {}",
                manifest_path.display()
            )
        })
    };
    let revision = cmd!(sh, "git -C {context} rev-parse --short HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .map(|r| r.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    // The last second of 9999: RFC 3339 has four-digit years.
    const LAST_EPOCH: u64 = 253_402_300_799;
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&secs| secs <= LAST_EPOCH)
            .with_context(|| {
                format!(
                    "SOURCE_DATE_EPOCH={value:?} is not a number of seconds since 1970 up to \
                     {LAST_EPOCH} (the end of 9999)"
                )
            })?,
        // The commit's time, not the clock's: building one commit twice then gives the same
        // image (same config, same ID), and a rebuild with every step cached leaves no
        // dangling image behind. The clock only outside a git checkout.
        Err(_) => match cmd!(sh, "git -C {context} log -1 --format=%ct")
            .quiet()
            .ignore_stderr()
            .read()
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            Some(commit_time) => commit_time,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_secs(),
        },
    };
    Ok(Inputs {
        version: field("version")?,
        revision,
        created: rfc3339(epoch),
        source_url: field("repository")?,
        work_dir: work_dir.to_path_buf(),
    })
}

/// `name = "value"` from the `[workspace.package]` table; enough TOML for our own manifest.
fn workspace_package_field(manifest: &str, name: &str) -> Option<String> {
    let mut in_table = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[workspace.package]";
        } else if in_table {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if key.trim() == name {
                return Some(value.trim().trim_matches('"').to_owned());
            }
        }
    }
    None
}

/// Seconds since 1970 as RFC 3339 UTC (civil-from-days, H. Hinnant's algorithm).
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        docker: Docker,
    }

    fn options(args: &[&str]) -> anyhow::Result<Options> {
        let cli = Cli::try_parse_from(std::iter::once("docker").chain(args.iter().copied()))?;
        let root = paths::project_root();
        // A Dockerfile that surely exists, so these tests do not wait for docker/.
        cli.docker.into_options(&root, &root)
    }

    const ANY: &[&str] = &["--mode", "minimal", "--dockerfile", "Cargo.toml"];

    fn err(extra: &[&str]) -> String {
        let args: Vec<&str> = ANY.iter().chain(extra).copied().collect();
        format!("{:#}", options(&args).unwrap_err())
    }

    #[test]
    fn unknown_mode_is_refused_by_the_parser() {
        let e = Cli::try_parse_from(["docker", "--mode", "huge"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("invalid value 'huge' for '--mode <MODE>'"),
            "{e}"
        );
    }

    #[test]
    fn offline_is_for_minimal_and_prod() {
        assert!(
            options(&[
                "--mode",
                "minimal",
                "--dockerfile",
                "Cargo.toml",
                "--offline"
            ])
            .unwrap()
            .offline
        );
        let e = format!(
            "{:#}",
            options(&["--mode", "dev", "--dockerfile", "Cargo.toml", "--offline"]).unwrap_err()
        );
        assert!(e.contains("the dev image has no offline build"), "{e}");
    }

    #[test]
    fn malformed_values_are_refused_before_work() {
        assert!(err(&["--platform", "linux"]).contains("malformed platform \"linux\""));
        assert!(err(&["--secret", "id=x"]).contains("malformed secret"));
        assert!(err(&["--secret", "id=x,src=/nonexistent"]).contains("is not a file"));
        assert!(err(&["--tag", "CV:Bad"]).contains("malformed image reference"));
        assert!(err(&["--push"]).contains("--push needs somewhere to push to"));
        assert!(
            err(&["--ca-bundle", "/nonexistent"]).contains("CA bundle /nonexistent does not exist")
        );
        // The project's own empty bundle (compose's default) is no bundle for a build.
        assert!(
            err(&["--ca-bundle", "docker/no-extra-ca.pem"]).contains("holds no PEM certificate"),
            "{}",
            err(&["--ca-bundle", "docker/no-extra-ca.pem"])
        );
        assert!(err(&["--ca-bundle", "Cargo.toml"]).contains("holds no PEM certificate"));
        assert!(err(&["--ca-bundle", "docker"]).contains("is a directory"));
        assert!(
            err(&[
                "--secret",
                "id=a,src=Cargo.toml",
                "--secret",
                "id=a,src=README.md"
            ])
            .contains("secret id \"a\" is given twice")
        );
        assert!(err(&["--secret", "id=..,src=Cargo.toml"]).contains("bad id"));
        let e = format!(
            "{:#}",
            options(&["--mode", "prod", "--dockerfile", "docker"]).unwrap_err()
        );
        assert!(
            e.contains("is a directory; name the Dockerfile in it"),
            "{e}"
        );
        assert!(err(&["--version", "1 2"]).contains("malformed --version"));
        assert!(err(&["--run", "--name", "a/b"]).contains("malformed container name"));
        let e = format!(
            "{:#}",
            options(&["--mode", "dev", "--dockerfile", "Cargo.toml", "--run"]).unwrap_err()
        );
        assert!(e.contains("--run does not start the dev image"), "{e}");
        let e = format!(
            "{:#}",
            options(&["--mode", "prod", "--dockerfile", "docker/Dockerfile.nope"]).unwrap_err()
        );
        assert!(
            e.contains("Dockerfile") && e.contains("Dockerfile.nope not found"),
            "{e}"
        );
        assert!(
            err(&[
                "--ca-bundle",
                "Cargo.toml",
                "--secret",
                "id=ca_bundle,src=Cargo.toml"
            ])
            .contains("given twice")
        );
    }

    #[test]
    fn well_formed_flags_become_options() {
        let o = options(&[
            "--mode",
            "prod",
            "--dockerfile",
            "Cargo.toml",
            "--tag",
            "cv-test-x:1",
            "--registry",
            "127.0.0.1:5000",
            "--push",
            "--platform",
            "linux/arm64",
            "--run",
            "--port",
            "0",
        ])
        .unwrap();
        assert_eq!(o.mode, Mode::Prod);
        assert_eq!(o.dockerfile, Path::new("Cargo.toml"));
        assert_eq!(
            o.registry_image.unwrap().as_str(),
            "127.0.0.1:5000/cv-test-x:1"
        );
        assert_eq!(o.platform.unwrap().to_string(), "linux/arm64");
        assert_eq!(
            o.run,
            Some(RunOptions {
                container: "cv-prod".into(),
                port: 0
            })
        );
        let o = options(ANY).unwrap();
        assert_eq!(o.image.as_str(), "cv:minimal");
        assert!(o.run.is_none() && !o.push);
    }

    #[test]
    fn context_must_be_a_workspace_checkout() {
        let root = paths::project_root();
        let o = options(&["--mode", "minimal", "--context", "."]).unwrap();
        assert_eq!(o.context, None, "the workspace root itself is the default");
        assert!(err(&["--context", "/nonexistent"]).contains("is not a directory (--context)"));
        let e = err(&["--context", "xtask/src"]);
        assert!(e.contains("has no Cargo.toml"), "{e}");
        // A checkout elsewhere brings its own Dockerfile.
        let crate_dir = root.join("xtask");
        let o = options(&[
            "--mode",
            "minimal",
            "--context",
            "xtask",
            "--dockerfile",
            "Cargo.toml",
        ])
        .unwrap();
        assert_eq!(o.context, Some(crate_dir.clone()));
        let e = format!(
            "{:#}",
            options(&["--mode", "minimal", "--context", "xtask"]).unwrap_err()
        );
        assert!(
            e.contains("xtask/docker/Dockerfile.minimal not found"),
            "{e}"
        );
    }

    #[test]
    fn port_and_name_need_run() {
        assert!(Cli::try_parse_from(["docker", "--mode", "dev", "--port", "1"]).is_err());
    }

    #[test]
    fn help_teaches() {
        use clap::CommandFactory;
        let help = Cli::command()
            .name("cargo xtask docker")
            .render_long_help()
            .to_string();
        expect_test::expect_file!["help.txt"].assert_eq(&help);
    }

    #[test]
    fn manifest_fields() {
        let manifest = "[workspace]\nversion = \"9\"\n[workspace.package]\nversion = \"0.1.0\"\nrepository = \"https://x/y\"\n[x]\n";
        assert_eq!(
            workspace_package_field(manifest, "version").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(
            workspace_package_field(manifest, "repository").as_deref(),
            Some("https://x/y")
        );
        assert_eq!(workspace_package_field(manifest, "edition"), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_323_045), "2026-01-02T03:04:05Z");
    }
}
