//! The build as data: from typed options, the detection result and the repository's facts, the
//! list of commands to run, each with a hint for when it fails. Pure: no IO, so every mode and
//! flag combination is snapshot-tested without an engine, and `--dry-run` prints exactly this.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::{Builder, Detection};

use super::options::{
    BaseImages, ImageRef, Mode, Platform, Progress, STANDIN_ALPINE, STANDIN_RUST, Secret,
};

/// The port the server listens on inside every image (`CV_ADDR` default).
pub const CONTAINER_PORT: u16 = 8080;

/// How long `--run` waits for the container to turn healthy.
pub const HEALTHY_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything the user asked for, validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// Relative to the project root when inside it (that is how it is printed and passed).
    pub dockerfile: PathBuf,
    /// What the new image is tagged as locally.
    pub image: ImageRef,
    /// `REGISTRY/image`, when `--registry` is given.
    pub registry_image: Option<ImageRef>,
    pub push: bool,
    pub version: Option<String>,
    pub platform: Option<Platform>,
    pub no_cache: bool,
    pub secrets: Vec<Secret>,
    pub ca_bundle: Option<PathBuf>,
    pub builder: Option<String>,
    pub progress: Progress,
    pub base_images: BaseImages,
    pub run: Option<RunOptions>,
    /// The build context when it is not the workspace root (absolute).
    pub context: Option<PathBuf>,
    /// Crates from the context's vendor/, every RUN step without network, nothing pulled.
    pub offline: bool,
}

/// What `--run` starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    pub container: String,
    /// Host port on 127.0.0.1; 0 lets the engine choose a free one.
    pub port: u16,
}

/// Facts about the repository and the moment, gathered before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub version: String,
    pub revision: String,
    /// RFC 3339.
    pub created: String,
    pub source_url: String,
    /// A fresh temporary directory for the image ID file.
    pub work_dir: PathBuf,
}

/// One argument of a step; the image ID is known only once the build has written it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    ImageId,
}

/// What a step is for; decides how the runner treats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// A precondition; failure stops before anything is built.
    Check,
    /// The build: output streamed and captured for the summary; never retried.
    Build,
    /// Reads the entrypoint binary's ELF header out of the new image (`create`, `cp`, `rm`) and
    /// refuses an architecture other than the image's and the one asked for, or (minimal, on
    /// `scratch`) a binary that needs a dynamic loader. Runs before any tag.
    VerifyBinary {
        platform: Option<Platform>,
        require_static: bool,
    },
    /// Gives the built image a name; runs only after a successful build.
    Tag,
    /// A registry call, retried on transient failures.
    Push,
    /// Best effort clean-up: failure is expected when there is nothing to clean.
    Cleanup,
    /// Starts a container.
    Run,
    /// Polls the container's state until it is healthy.
    WaitHealthy {
        container: String,
        timeout: Duration,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub program: PathBuf,
    pub args: Vec<Arg>,
    pub env: Vec<(String, String)>,
    /// What to do when this step fails.
    pub hint: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub detection: Detection,
    pub image: ImageRef,
    pub iidfile: PathBuf,
    pub steps: Vec<Step>,
}

fn lit<I, S>(args: I) -> Vec<Arg>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    args.into_iter().map(|a| Arg::Lit(a.into())).collect()
}

/// The local base images a mode's Dockerfile takes as build args under `--base-images standin`.
fn standin_build_args(mode: Mode) -> Vec<(&'static str, &'static str)> {
    match mode {
        Mode::Minimal | Mode::Dev => vec![("RUST_IMAGE", STANDIN_RUST)],
        Mode::Prod => vec![
            ("RUST_IMAGE", STANDIN_RUST),
            ("RUNTIME_IMAGE", STANDIN_ALPINE),
        ],
    }
}

/// Computes the plan. Pure.
pub fn plan(opts: &Options, detection: &Detection, inputs: &Inputs) -> Plan {
    let client = detection.client.clone();
    let step = |kind, args: Vec<Arg>, hint: &str| Step {
        kind,
        program: client.clone(),
        args,
        env: Vec::new(),
        hint: hint.to_owned(),
    };
    let mut steps = Vec::new();

    let standins = match opts.base_images {
        BaseImages::Public => Vec::new(),
        BaseImages::Standin => standin_build_args(opts.mode),
    };
    for (_, image) in &standins {
        steps.push(step(
            StepKind::Check,
            lit(["image", "inspect", "--format", "{{.Id}}", image]),
            &format!(
                "the stand-in base image {image} is missing: make it with `cargo xtask base-images`"
            ),
        ));
    }
    let iidfile = inputs.work_dir.join("image-id");
    let mut build: Vec<String> = detection
        .build_subcommand()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    build.extend(["--file".into(), opts.dockerfile.display().to_string()]);
    if let Some(builder) = &opts.builder {
        build.extend(["--builder".into(), builder.clone()]);
    }
    match (opts.progress, &detection.builder) {
        (Progress::Quiet, _) => build.push("--quiet".into()),
        // Podman has no --progress; it always prints its steps.
        (_, Builder::Podman) | (Progress::Auto, _) => {}
        (Progress::Plain, _) => build.extend(["--progress".into(), "plain".into()]),
    }
    if opts.no_cache {
        build.push("--no-cache".into());
    }
    if let Some(platform) = &opts.platform {
        build.extend(["--platform".into(), platform.to_string()]);
    }
    if opts.offline {
        // Every RUN step without a network. The built-in Dockerfile frontend of Docker 20.10
        // knows no `RUN --network=none`, and a `# syntax=` line to get one would pull a
        // frontend image, so the whole build is cut off instead.
        build.extend(["--network".into(), "none".into()]);
    }
    let version = opts.version.as_deref().unwrap_or(&inputs.version);
    let mut build_args = vec![
        ("VERSION", version),
        ("GIT_REVISION", inputs.revision.as_str()),
        ("CREATED", inputs.created.as_str()),
        ("SOURCE_URL", inputs.source_url.as_str()),
    ];
    build_args.extend(standins.iter().copied());
    if opts.offline {
        build_args.push(("DEPENDENCIES", "vendor"));
    }
    for (key, value) in build_args {
        build.extend(["--build-arg".into(), format!("{key}={value}")]);
    }
    if let Some(ca) = &opts.ca_bundle {
        build.extend([
            "--secret".into(),
            format!("id=ca_bundle,src={}", ca.display()),
        ]);
    }
    for secret in &opts.secrets {
        build.extend(["--secret".into(), secret.to_arg()]);
    }
    if matches!(detection.builder, Builder::Buildx { .. }) {
        // A docker-container builder keeps results in its own cache unless told to load them.
        build.push("--load".into());
    }
    let context = opts
        .context
        .as_ref()
        .map_or_else(|| ".".to_owned(), |dir| dir.display().to_string());
    build.extend(["--iidfile".into(), iidfile.display().to_string(), context]);
    let hint = if opts.offline {
        "the offline build failed; the engine's output above names the failing step (a compile \
         error is fixed in the source; an `offline build:` line says what is missing; no step can \
         download, so the builder image must already hold the musl target, musl-gcc and \
         cargo-auditable, as the stand-in does: --base-images standin); nothing was tagged"
    } else {
        "the build failed; the engine's output above names the failing step (a compile error is \
         fixed in the source; a certificate error fetching crates needs --ca-bundle; a missing \
         base image needs --base-images standin and `cargo xtask base-images`); nothing was \
         tagged"
    };
    steps.push(Step {
        env: detection.build_env(),
        ..step(StepKind::Build, lit(build), hint)
    });

    steps.push(step(
        StepKind::VerifyBinary {
            platform: opts.platform.clone(),
            require_static: opts.mode == Mode::Minimal,
        },
        vec![Arg::Lit("create".into()), Arg::ImageId],
        "the image's entrypoint is not a binary for the platform it claims; check the \
         Dockerfile's cross-compilation (TARGETARCH, --platform=$BUILDPLATFORM); nothing was tagged",
    ));

    let tag = |target: &ImageRef| {
        step(
            StepKind::Tag,
            vec![
                Arg::Lit("tag".into()),
                Arg::ImageId,
                Arg::Lit(target.to_string()),
            ],
            "tagging the new image failed; is the engine still running?",
        )
    };
    steps.push(tag(&opts.image));
    if let Some(remote) = &opts.registry_image {
        steps.push(tag(remote));
    }
    if opts.push {
        let target = opts.registry_image.as_ref().unwrap_or(&opts.image);
        steps.push(step(
            StepKind::Push,
            lit(["push", target.as_str()]),
            "the push failed; check that the registry is up and that you are logged in \
             (`docker login`); a plain-HTTP registry must be listed in the daemon's \
             insecure-registries (127.0.0.1 is by default)",
        ));
    }

    if let Some(run) = &opts.run {
        steps.push(step(
            StepKind::Cleanup,
            lit(["rm", "--force", &run.container]),
            "removing an earlier container of this name failed",
        ));
        let publish = match run.port {
            0 => format!("127.0.0.1::{CONTAINER_PORT}"),
            port => format!("127.0.0.1:{port}:{CONTAINER_PORT}"),
        };
        steps.push(step(
            StepKind::Run,
            lit([
                "run",
                "--detach",
                "--name",
                &run.container,
                "--publish",
                &publish,
                opts.image.as_str(),
            ]),
            "the container did not start; is the port already taken? try --port 0",
        ));
        steps.push(step(
            StepKind::WaitHealthy {
                container: run.container.clone(),
                timeout: HEALTHY_TIMEOUT,
            },
            lit([
                "inspect",
                "--format",
                "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                &run.container,
            ]),
            &format!(
                "the container did not turn healthy; see `docker logs {}`",
                run.container
            ),
        ));
    }

    Plan {
        detection: detection.clone(),
        image: opts.image.clone(),
        iidfile,
        steps,
    }
}

/// Quotes an argument for display only (nothing here is ever run through a shell).
pub fn display_arg(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@,+%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

impl Step {
    /// The command line as printed before running it.
    pub fn command_line(&self, image_id: Option<&str>) -> String {
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", display_arg(v)))
            .collect();
        parts.push(display_arg(&self.program.display().to_string()));
        for arg in &self.args {
            parts.push(match arg {
                Arg::Lit(s) => display_arg(s),
                Arg::ImageId => image_id.map_or_else(|| "<image-id>".to_owned(), display_arg),
            });
        }
        parts.join(" ")
    }

    fn label(&self) -> &'static str {
        match self.kind {
            StepKind::Check => "check",
            StepKind::Build => "build",
            StepKind::VerifyBinary { .. } => "verify",
            StepKind::Tag => "tag",
            StepKind::Push => "push, retried",
            StepKind::Cleanup => "cleanup",
            StepKind::Run => "run",
            StepKind::WaitHealthy { .. } => "wait",
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "detected: {}", self.detection)?;
        writeln!(f, "image:    {}", self.image)?;
        writeln!(f, "plan:")?;
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(
                f,
                "{:>3}. [{}] {}",
                i + 1,
                step.label(),
                step.command_line(None)
            )?;
            match &step.kind {
                StepKind::WaitHealthy { timeout, .. } => writeln!(
                    f,
                    "       until it says `running healthy` (at most {} s)",
                    timeout.as_secs()
                )?,
                StepKind::VerifyBinary {
                    platform,
                    require_static,
                } => writeln!(
                    f,
                    "       then copy the entrypoint out and read its ELF header: architecture {}{}",
                    platform
                        .as_ref()
                        .map_or("as the image says".to_owned(), |p| p.arch.clone()),
                    if *require_static {
                        ", statically linked"
                    } else {
                        ""
                    }
                )?,
                _ => {}
            }
            writeln!(f, "       on failure: {}", step.hint)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineKind;
    use expect_test::{Expect, expect};

    fn detection(builder: Builder) -> Detection {
        let (engine, client) = match builder {
            Builder::Podman => (EngineKind::Podman, "/usr/bin/podman"),
            _ => (EngineKind::Docker, "/usr/bin/docker"),
        };
        Detection {
            engine,
            client: client.into(),
            client_version: "20.10.24".into(),
            server_version: "20.10.24".into(),
            builder,
        }
    }

    fn inputs() -> Inputs {
        Inputs {
            version: "0.1.0".into(),
            revision: "abc1234".into(),
            created: "2026-01-02T03:04:05Z".into(),
            source_url: "https://github.com/cv-containers/cv".into(),
            work_dir: "/tmp/xtask-docker".into(),
        }
    }

    fn options(mode: Mode) -> Options {
        Options {
            mode,
            dockerfile: format!("docker/Dockerfile.{}", mode.name()).into(),
            image: ImageRef::for_mode(mode),
            registry_image: None,
            push: false,
            version: None,
            platform: None,
            no_cache: false,
            secrets: Vec::new(),
            ca_bundle: None,
            builder: None,
            progress: Progress::Auto,
            base_images: BaseImages::Public,
            run: None,
            context: None,
            offline: false,
        }
    }

    fn check(opts: &Options, builder: Builder, want: Expect) {
        want.assert_eq(&plan(opts, &detection(builder), &inputs()).to_string());
    }

    #[test]
    fn minimal_defaults() {
        check(
            &options(Mode::Minimal),
            Builder::ClassicBuildKit,
            expect![[r#"
                detected: Docker client /usr/bin/docker 20.10.24, engine 20.10.24, builder BuildKit through DOCKER_BUILDKIT=1 (no buildx)
                image:    cv:minimal
                plan:
                  1. [build] DOCKER_BUILDKIT=1 /usr/bin/docker build --file docker/Dockerfile.minimal --build-arg VERSION=0.1.0 --build-arg GIT_REVISION=abc1234 --build-arg CREATED=2026-01-02T03:04:05Z --build-arg SOURCE_URL=https://github.com/cv-containers/cv --iidfile /tmp/xtask-docker/image-id .
                       on failure: the build failed; the engine's output above names the failing step (a compile error is fixed in the source; a certificate error fetching crates needs --ca-bundle; a missing base image needs --base-images standin and `cargo xtask base-images`); nothing was tagged
                  2. [verify] /usr/bin/docker create <image-id>
                       then copy the entrypoint out and read its ELF header: architecture as the image says, statically linked
                       on failure: the image's entrypoint is not a binary for the platform it claims; check the Dockerfile's cross-compilation (TARGETARCH, --platform=$BUILDPLATFORM); nothing was tagged
                  3. [tag] /usr/bin/docker tag <image-id> cv:minimal
                       on failure: tagging the new image failed; is the engine still running?
            "#]],
        );
    }

    #[test]
    fn minimal_standin_with_secrets_and_run() {
        let mut opts = options(Mode::Minimal);
        opts.base_images = BaseImages::Standin;
        opts.ca_bundle = Some("/etc/ssl/certs/ca-certificates.crt".into());
        opts.secrets = vec![Secret {
            id: "canary".into(),
            src: "/tmp/canary file".into(),
        }];
        opts.progress = Progress::Plain;
        opts.image = "cv-test-minimal:1".parse().unwrap();
        opts.run = Some(RunOptions {
            container: "cv-test-run".into(),
            port: 0,
        });
        check(
            &opts,
            Builder::ClassicBuildKit,
            expect![[r#"
                detected: Docker client /usr/bin/docker 20.10.24, engine 20.10.24, builder BuildKit through DOCKER_BUILDKIT=1 (no buildx)
                image:    cv-test-minimal:1
                plan:
                  1. [check] /usr/bin/docker image inspect --format '{{.Id}}' cv-standin/rust:1.95.0
                       on failure: the stand-in base image cv-standin/rust:1.95.0 is missing: make it with `cargo xtask base-images`
                  2. [build] DOCKER_BUILDKIT=1 /usr/bin/docker build --file docker/Dockerfile.minimal --progress plain --build-arg VERSION=0.1.0 --build-arg GIT_REVISION=abc1234 --build-arg CREATED=2026-01-02T03:04:05Z --build-arg SOURCE_URL=https://github.com/cv-containers/cv --build-arg RUST_IMAGE=cv-standin/rust:1.95.0 --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt --secret 'id=canary,src=/tmp/canary file' --iidfile /tmp/xtask-docker/image-id .
                       on failure: the build failed; the engine's output above names the failing step (a compile error is fixed in the source; a certificate error fetching crates needs --ca-bundle; a missing base image needs --base-images standin and `cargo xtask base-images`); nothing was tagged
                  3. [verify] /usr/bin/docker create <image-id>
                       then copy the entrypoint out and read its ELF header: architecture as the image says, statically linked
                       on failure: the image's entrypoint is not a binary for the platform it claims; check the Dockerfile's cross-compilation (TARGETARCH, --platform=$BUILDPLATFORM); nothing was tagged
                  4. [tag] /usr/bin/docker tag <image-id> cv-test-minimal:1
                       on failure: tagging the new image failed; is the engine still running?
                  5. [cleanup] /usr/bin/docker rm --force cv-test-run
                       on failure: removing an earlier container of this name failed
                  6. [run] /usr/bin/docker run --detach --name cv-test-run --publish 127.0.0.1::8080 cv-test-minimal:1
                       on failure: the container did not start; is the port already taken? try --port 0
                  7. [wait] /usr/bin/docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' cv-test-run
                       until it says `running healthy` (at most 120 s)
                       on failure: the container did not turn healthy; see `docker logs cv-test-run`
            "#]],
        );
    }

    #[test]
    fn prod_buildx_push_to_registry_for_arm64() {
        let mut opts = options(Mode::Prod);
        opts.base_images = BaseImages::Standin;
        opts.platform = Some("linux/arm64".parse().unwrap());
        opts.no_cache = true;
        opts.version = Some("1.2.3".into());
        opts.builder = Some("cross".into());
        opts.progress = Progress::Quiet;
        opts.registry_image = Some(opts.image.in_registry("127.0.0.1:5000").unwrap());
        opts.push = true;
        check(
            &opts,
            Builder::Buildx {
                version: "v0.12.1".into(),
            },
            expect![[r#"
                detected: Docker client /usr/bin/docker 20.10.24, engine 20.10.24, builder docker buildx (v0.12.1)
                image:    cv:prod
                plan:
                  1. [check] /usr/bin/docker image inspect --format '{{.Id}}' cv-standin/rust:1.95.0
                       on failure: the stand-in base image cv-standin/rust:1.95.0 is missing: make it with `cargo xtask base-images`
                  2. [check] /usr/bin/docker image inspect --format '{{.Id}}' cv-standin/alpine:3
                       on failure: the stand-in base image cv-standin/alpine:3 is missing: make it with `cargo xtask base-images`
                  3. [build] /usr/bin/docker buildx build --file docker/Dockerfile.prod --builder cross --quiet --no-cache --platform linux/arm64 --build-arg VERSION=1.2.3 --build-arg GIT_REVISION=abc1234 --build-arg CREATED=2026-01-02T03:04:05Z --build-arg SOURCE_URL=https://github.com/cv-containers/cv --build-arg RUST_IMAGE=cv-standin/rust:1.95.0 --build-arg RUNTIME_IMAGE=cv-standin/alpine:3 --load --iidfile /tmp/xtask-docker/image-id .
                       on failure: the build failed; the engine's output above names the failing step (a compile error is fixed in the source; a certificate error fetching crates needs --ca-bundle; a missing base image needs --base-images standin and `cargo xtask base-images`); nothing was tagged
                  4. [verify] /usr/bin/docker create <image-id>
                       then copy the entrypoint out and read its ELF header: architecture arm64
                       on failure: the image's entrypoint is not a binary for the platform it claims; check the Dockerfile's cross-compilation (TARGETARCH, --platform=$BUILDPLATFORM); nothing was tagged
                  5. [tag] /usr/bin/docker tag <image-id> cv:prod
                       on failure: tagging the new image failed; is the engine still running?
                  6. [tag] /usr/bin/docker tag <image-id> 127.0.0.1:5000/cv:prod
                       on failure: tagging the new image failed; is the engine still running?
                  7. [push, retried] /usr/bin/docker push 127.0.0.1:5000/cv:prod
                       on failure: the push failed; check that the registry is up and that you are logged in (`docker login`); a plain-HTTP registry must be listed in the daemon's insecure-registries (127.0.0.1 is by default)
            "#]],
        );
    }

    #[test]
    fn dev_with_podman() {
        let mut opts = options(Mode::Dev);
        opts.progress = Progress::Plain;
        opts.run = Some(RunOptions {
            container: "cv-dev".into(),
            port: 8080,
        });
        let plan = plan(&opts, &detection(Builder::Podman), &inputs());
        let build = plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Build)
            .unwrap();
        expect![[r#"/usr/bin/podman build --file docker/Dockerfile.dev --build-arg VERSION=0.1.0 --build-arg GIT_REVISION=abc1234 --build-arg CREATED=2026-01-02T03:04:05Z --build-arg SOURCE_URL=https://github.com/cv-containers/cv --iidfile /tmp/xtask-docker/image-id ."#]]
            .assert_eq(&build.command_line(None));
        let run = plan.steps.iter().find(|s| s.kind == StepKind::Run).unwrap();
        expect!["/usr/bin/podman run --detach --name cv-dev --publish 127.0.0.1:8080:8080 cv:dev"]
            .assert_eq(&run.command_line(None));
    }

    #[test]
    fn another_context_is_the_build_s_last_argument() {
        let mut opts = options(Mode::Minimal);
        opts.context = Some("/tmp/cv copy".into());
        opts.dockerfile = "/tmp/cv copy/docker/Dockerfile.minimal".into();
        let plan = plan(&opts, &detection(Builder::ClassicBuildKit), &inputs());
        let build = plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Build)
            .unwrap();
        expect![[r#"DOCKER_BUILDKIT=1 /usr/bin/docker build --file '/tmp/cv copy/docker/Dockerfile.minimal' --build-arg VERSION=0.1.0 --build-arg GIT_REVISION=abc1234 --build-arg CREATED=2026-01-02T03:04:05Z --build-arg SOURCE_URL=https://github.com/cv-containers/cv --iidfile /tmp/xtask-docker/image-id '/tmp/cv copy'"#]]
            .assert_eq(&build.command_line(None));
    }

    #[test]
    fn offline_cuts_the_build_off_and_takes_vendor() {
        let mut opts = options(Mode::Minimal);
        opts.offline = true;
        opts.base_images = BaseImages::Standin;
        check(
            &opts,
            Builder::ClassicBuildKit,
            expect![[r#"
                detected: Docker client /usr/bin/docker 20.10.24, engine 20.10.24, builder BuildKit through DOCKER_BUILDKIT=1 (no buildx)
                image:    cv:minimal
                plan:
                  1. [check] /usr/bin/docker image inspect --format '{{.Id}}' cv-standin/rust:1.95.0
                       on failure: the stand-in base image cv-standin/rust:1.95.0 is missing: make it with `cargo xtask base-images`
                  2. [build] DOCKER_BUILDKIT=1 /usr/bin/docker build --file docker/Dockerfile.minimal --network none --build-arg VERSION=0.1.0 --build-arg GIT_REVISION=abc1234 --build-arg CREATED=2026-01-02T03:04:05Z --build-arg SOURCE_URL=https://github.com/cv-containers/cv --build-arg RUST_IMAGE=cv-standin/rust:1.95.0 --build-arg DEPENDENCIES=vendor --iidfile /tmp/xtask-docker/image-id .
                       on failure: the offline build failed; the engine's output above names the failing step (a compile error is fixed in the source; an `offline build:` line says what is missing; no step can download, so the builder image must already hold the musl target, musl-gcc and cargo-auditable, as the stand-in does: --base-images standin); nothing was tagged
                  3. [verify] /usr/bin/docker create <image-id>
                       then copy the entrypoint out and read its ELF header: architecture as the image says, statically linked
                       on failure: the image's entrypoint is not a binary for the platform it claims; check the Dockerfile's cross-compilation (TARGETARCH, --platform=$BUILDPLATFORM); nothing was tagged
                  4. [tag] /usr/bin/docker tag <image-id> cv:minimal
                       on failure: tagging the new image failed; is the engine still running?
            "#]],
        );
    }

    #[test]
    fn tags_come_only_after_the_build_and_its_check() {
        // Nothing half-tagged: every tag comes after the build, and pushes after tags.
        let mut opts = options(Mode::Prod);
        opts.registry_image = Some(opts.image.in_registry("r.example").unwrap());
        opts.push = true;
        let plan = plan(&opts, &detection(Builder::ClassicBuildKit), &inputs());
        let kinds: Vec<&StepKind> = plan.steps.iter().map(|s| &s.kind).collect();
        assert_eq!(
            kinds,
            [
                &StepKind::Build,
                &StepKind::VerifyBinary {
                    platform: None,
                    require_static: false
                },
                &StepKind::Tag,
                &StepKind::Tag,
                &StepKind::Push
            ]
        );
        let tag = &plan.steps[2];
        assert_eq!(
            tag.command_line(Some("sha256:ab")),
            "/usr/bin/docker tag sha256:ab cv:prod"
        );
    }
}
