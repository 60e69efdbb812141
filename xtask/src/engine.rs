//! Finding out which container engine and image builder this machine really has.
//!
//! A `docker` client is not proof of BuildKit: a 23+ client without the buildx plugin refuses
//! BuildKit and, unless told otherwise, silently falls back to the legacy builder, which knows no
//! `RUN --mount`. So detection does not trust version numbers or flags; for clients without buildx
//! it runs a throwaway build whose Dockerfile only BuildKit can parse (about 0.2 s, exports to a
//! temporary directory, tags nothing). Every client on PATH is tried in order, so a machine whose
//! first `docker` is a bare 28.x client still finds Debian's 20.10 client behind it.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// The container engine, as `--engine` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    Docker,
    Podman,
}

/// What builds the image: decides the build command's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builder {
    /// `docker buildx build` (its version as `docker buildx version` prints it).
    Buildx { version: String },
    /// `docker build` under `DOCKER_BUILDKIT=1`, proven by a probe build.
    ClassicBuildKit,
    /// `podman build` (Buildah inside), which honours `RUN --mount` natively.
    Podman,
}

/// The result of detection: which client talks to which engine through which builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub engine: EngineKind,
    /// Absolute path of the client binary every step runs.
    pub client: PathBuf,
    pub client_version: String,
    pub server_version: String,
    pub builder: Builder,
}

impl Detection {
    /// The arguments that start a build with this builder (`buildx build` or `build`).
    pub fn build_subcommand(&self) -> &'static [&'static str] {
        match self.builder {
            Builder::Buildx { .. } => &["buildx", "build"],
            Builder::ClassicBuildKit | Builder::Podman => &["build"],
        }
    }

    /// Environment a build needs on top of the caller's.
    pub fn build_env(&self) -> Vec<(String, String)> {
        match self.builder {
            Builder::ClassicBuildKit => vec![("DOCKER_BUILDKIT".into(), "1".into())],
            Builder::Buildx { .. } | Builder::Podman => Vec::new(),
        }
    }
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let builder = match &self.builder {
            Builder::Buildx { version } => format!("docker buildx ({version})"),
            Builder::ClassicBuildKit => "BuildKit through DOCKER_BUILDKIT=1 (no buildx)".to_owned(),
            Builder::Podman => "podman build (Buildah)".to_owned(),
        };
        write!(
            f,
            "{engine:?} client {client} {cv}, engine {sv}, builder {builder}",
            engine = self.engine,
            client = self.client.display(),
            cv = self.client_version,
            sv = self.server_version,
        )
    }
}

/// Go template for the client's own version (docker and podman alike).
const CLIENT_VERSION: &str = "{{.Client.Version}}";

/// Where the Docker client will look for the daemon, for error messages.
pub fn docker_daemon_address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// Detects the engine and builder; `wanted` restricts it to one engine (`--engine`).
pub fn detect(sh: &Shell, wanted: Option<EngineKind>) -> anyhow::Result<Detection> {
    match wanted {
        Some(EngineKind::Docker) => detect_docker(sh),
        Some(EngineKind::Podman) => detect_podman(sh),
        None => {
            if candidates("docker").is_empty() && !candidates("podman").is_empty() {
                detect_podman(sh)
            } else {
                detect_docker(sh)
            }
        }
    }
}

/// Every distinct executable of this name on PATH, in PATH order.
pub fn candidates(name: &str) -> Vec<PathBuf> {
    let mut seen = Vec::new();
    let mut found = Vec::new();
    for path in which::which_all(name).into_iter().flatten() {
        // /bin is often a symlink to /usr/bin: the same client must not be probed twice.
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.contains(&real) {
            seen.push(real);
            found.push(path);
        }
    }
    found
}

fn detect_docker(sh: &Shell) -> anyhow::Result<Detection> {
    let clients = candidates("docker");
    if clients.is_empty() {
        bail!(
            "no `docker` client on PATH; install Docker Engine with BuildKit \
             (Debian: apt-get install docker.io, or run scripts/setup-machine.sh), \
             or pass --engine podman"
        );
    }
    // The daemon is the same whichever client asks; the first client that answers tells us.
    let server_version = server_version(sh, &clients[0])?;
    let mut tried = Vec::new();
    for client in &clients {
        let fmt = CLIENT_VERSION;
        let client_version = cmd!(sh, "{client} version --format {fmt}")
            .quiet()
            .ignore_stderr()
            .read()
            .unwrap_or_else(|_| "unknown".to_owned());
        let buildx = cmd!(sh, "{client} buildx version")
            .quiet()
            .ignore_stderr()
            .read();
        let builder = match buildx {
            Ok(version) => Some(Builder::Buildx {
                version: version.trim().to_owned(),
            }),
            Err(_) if probe_classic_buildkit(sh, client)? => Some(Builder::ClassicBuildKit),
            Err(_) => None,
        };
        match builder {
            Some(builder) => {
                return Ok(Detection {
                    engine: EngineKind::Docker,
                    client: client.clone(),
                    client_version,
                    server_version,
                    builder,
                });
            }
            None => tried.push(format!("{} ({client_version})", client.display())),
        }
    }
    bail!(
        "no Docker client here can build with BuildKit (tried {tried}): none has the buildx plugin \
         and none builds `RUN --mount` under DOCKER_BUILDKIT=1, and the legacy builder cannot build \
         these Dockerfiles; install the buildx plugin \
         (docs.docker.com/go/buildx; from Docker's apt repository: docker-buildx-plugin), \
         or Debian's docker.io client whose 20.10 docker builds with BuildKit \
         (scripts/setup-machine.sh), or pass --engine podman",
        tried = tried.join(", ")
    )
}

/// Asks the daemon for its version; a silent daemon is the most common failure, so it gets
/// its own message.
pub fn server_version(sh: &Shell, client: &Path) -> anyhow::Result<String> {
    let fmt = "{{.Server.Version}}";
    let out = cmd!(sh, "{client} version --format {fmt}")
        .quiet()
        .ignore_status()
        .output()
        .context("cannot run the docker client")?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || version.is_empty() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no answer");
        bail!(
            "the Docker daemon at {addr} is not answering; start it (scripts/setup-machine.sh \
             starts dockerd with the vfs storage driver) or point DOCKER_HOST at a running one \
             (client said: {why})",
            addr = docker_daemon_address(),
        );
    }
    Ok(version)
}

/// A Dockerfile only BuildKit can parse. Its `RUN` is in a stage nothing needs, so BuildKit
/// never executes it, while the legacy builder rejects `--mount` outright.
const PROBE_DOCKERFILE: &str = "FROM scratch AS probe\n\
RUN --mount=type=cache,target=/cache --mount=type=secret,id=probe true\n\
FROM scratch\n";

fn probe_classic_buildkit(sh: &Shell, client: &Path) -> anyhow::Result<bool> {
    let dir = sh
        .create_temp_dir()
        .context("cannot make a temporary directory")?;
    let context = dir.path().join("context");
    let out = dir.path().join("out");
    sh.write_file(context.join("Dockerfile"), PROBE_DOCKERFILE)?;
    let ok = cmd!(
        sh,
        "{client} build --progress=plain --output type=local,dest={out} {context}"
    )
    .env("DOCKER_BUILDKIT", "1")
    .quiet()
    .ignore_stdout()
    .ignore_stderr()
    .run()
    .is_ok();
    Ok(ok)
}

fn detect_podman(sh: &Shell) -> anyhow::Result<Detection> {
    let Some(client) = candidates("podman").into_iter().next() else {
        bail!(
            "no `podman` on PATH; install it (Debian: apt-get install podman) or use --engine docker"
        );
    };
    let fmt = CLIENT_VERSION;
    let client_version = cmd!(sh, "{client} version --format {fmt}")
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_else(|_| "unknown".to_owned());
    let fmt = "{{.Version.Version}}";
    let server_version = cmd!(sh, "{client} info --format {fmt}")
        .quiet()
        .ignore_stderr()
        .read()
        .map_err(|_| {
            anyhow::anyhow!(
                "podman at {} cannot reach its storage or service; run `podman info` to see why",
                client.display()
            )
        })?;
    Ok(Detection {
        engine: EngineKind::Podman,
        client,
        client_version,
        server_version,
        builder: Builder::Podman,
    })
}
