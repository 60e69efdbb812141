//! `cargo xtask base-images`: local stand-ins for the public base images.
//!
//! The Dockerfiles default to the real public images (`rust`, `alpine`, distroless `static`).
//! A machine that cannot pull — these build machines, or any air-gapped network — cannot use
//! them, and pretending otherwise (a mirror that silently substitutes something else, a retagged
//! image that looks public) only hides the problem. This command is the honest path instead: it
//! builds each base locally from inputs the machine already trusts — Debian's packages through
//! the apt mirror the host uses, the host's own pinned Rust toolchain, the host's busybox-static
//! and Mozilla CA certificates — imports them with `docker import`, and tags them under
//! `cv-standin/…` with the label `org.opencontainers.image.description=local stand-in, not the
//! public image`, so no one can mistake them for the public images. `cargo xtask docker
//! --base-images standin` (or `CV_BASE_IMAGES=standin`) then passes them as build args.
//!
//! The work is planned first (which images, which `docker import --change` lines, which files),
//! as pure functions the unit tests below check; `run` then carries the plan out through
//! xshell's `cmd!`, never through a shell string.

use std::fmt;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use xshell::{Shell, cmd};

use crate::paths;

/// The label every stand-in carries, so `docker inspect` tells it from the public image.
pub const STANDIN_DESCRIPTION: &str = "local stand-in, not the public image";

/// Debian packages the builder stand-in adds to `debootstrap --variant=minbase`: a C toolchain
/// for build scripts and bundled SQLite (gcc, libc6-dev, musl-gcc), and the CA bundle.
const BUILDER_PACKAGES: &str = "gcc,libc6-dev,musl-tools,ca-certificates,pkg-config,make";

/// The recipe of the stand-ins: a stand-in whose `io.cv.standin-recipe` label differs is rebuilt
/// even without --force, so a change here reaches machines that made the old one. Bump it when
/// what goes into an image changes. (2: the builder carries zig and cargo-zigbuild; 3: and
/// cargo-auditable.)
pub const RECIPE: &str = "3";

/// What the builder stand-in has that the public `rust` image lacks, said in a label: the cross
/// tools `--platform linux/arm64` needs, and cargo-auditable, which every build of the shipped
/// binary uses. The Dockerfiles install them when they are missing.
const BUILDER_EXTRAS: &str = "zig and cargo-zigbuild for cross builds, cargo-auditable for the \
binary's dependency list (not in the public image; the Dockerfiles install them there)";

/// Names in zig's `lib/libc` and `lib/libc/include` that belong to operating systems the images
/// never target. Leaving them out takes about 130 MB off the builder, which vfs copies on every
/// build step; the zig in the stand-in then builds for Linux only.
const ZIG_FOREIGN_OS: [&str; 7] = [
    "windows", "mingw", "darwin", "freebsd", "netbsd", "openbsd", "wasi",
];

/// The Debian suite the builder stand-in is made from (the public `rust:*-bookworm` images' base).
const DEBIAN_SUITE: &str = "bookworm";

/// Used when no apt source on the host names a Debian mirror.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Where the Debian package ships the Mozilla certificates, without the host's local additions
/// (such as the CA of a TLS-intercepting proxy), which must not end up in an image.
const MOZILLA_CERTS_DIR: &str = "/usr/share/ca-certificates/mozilla";

/// Where busybox-static installs its binary.
const BUSYBOX: &str = "/bin/busybox";

/// The standard path in the images' root for the system CA bundle.
const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";

const EXAMPLES: &str = "\
Examples:
  Make every stand-in that is missing or was made by an older recipe (about 2 min the first time,
  under a second when they are up to date):
    cargo xtask base-images

  Remake only the Alpine runtime stand-in:
    cargo xtask base-images --only alpine --force

  Then build against them:
    cargo xtask docker --mode minimal --base-images standin

The stand-ins are tagged cv-standin/* and labelled `local stand-in, not the public image`; the
Dockerfiles' defaults stay the real public images. Needs root, debootstrap and a reachable Debian
mirror (the host's apt sources name it).";

/// Make local stand-ins for the public base images, for machines that cannot pull
///
/// The Rust builder (debootstrap of Debian bookworm plus this machine's toolchain, musl targets,
/// zig, cargo-zigbuild and cargo-auditable), an Alpine-like runtime from busybox, and a
/// distroless-like static base. Up-to-date stand-ins are kept.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct BaseImages {
    /// Build only this stand-in
    #[arg(long, value_enum)]
    only: Option<Standin>,
    /// Rebuild a stand-in even when the image already exists
    #[arg(long)]
    force: bool,
}

/// One of the public base images the Dockerfiles use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Standin {
    /// The Rust builder (`RUST_IMAGE`)
    Rust,
    /// The Alpine runtime of the prod image (`RUNTIME_IMAGE`)
    Alpine,
    /// Distroless static, the optional final stage of the minimal image (`MINIMAL_BASE`)
    Distroless,
}

impl Standin {
    pub const ALL: [Standin; 3] = [Standin::Rust, Standin::Alpine, Standin::Distroless];

    /// The local tag, as the contract between docker/ and xtask fixes it.
    pub fn tag(self, rust_version: &str) -> String {
        match self {
            Standin::Rust => format!("cv-standin/rust:{rust_version}"),
            Standin::Alpine => "cv-standin/alpine:3".to_owned(),
            Standin::Distroless => "cv-standin/distroless-static:nonroot".to_owned(),
        }
    }

    /// The public image this one replaces, recorded in a label.
    pub fn stands_in_for(self, rust_version: &str) -> String {
        match self {
            Standin::Rust => format!("docker.io/library/rust:{rust_version}-slim-bookworm"),
            Standin::Alpine => "docker.io/library/alpine:3".to_owned(),
            Standin::Distroless => "gcr.io/distroless/static-debian12:nonroot".to_owned(),
        }
    }

    /// The `docker import --change` lines: the image config the public image has that matters
    /// to our Dockerfiles, plus the labels that mark it as a stand-in.
    pub fn import_changes(self, rust_version: &str, host: &str) -> Vec<String> {
        let mut changes = vec![
            format!("LABEL org.opencontainers.image.description=\"{STANDIN_DESCRIPTION}\""),
            format!(
                "LABEL org.opencontainers.image.title=\"{}\"",
                self.tag(rust_version)
            ),
            format!(
                "LABEL io.cv.standin-for=\"{}\"",
                self.stands_in_for(rust_version)
            ),
            format!("LABEL io.cv.standin-recipe=\"{RECIPE}\""),
        ];
        match self {
            Standin::Rust => {
                // The same layout as the public rust image: cargo and rustc on PATH through
                // CARGO_HOME/bin, so `cargo install` lands on PATH as well.
                changes.extend([
                    "ENV RUSTUP_HOME=/usr/local/rustup".to_owned(),
                    "ENV CARGO_HOME=/usr/local/cargo".to_owned(),
                    format!("ENV RUST_VERSION={rust_version}"),
                    format!("ENV PATH={STANDARD_PATH_WITH_CARGO}"),
                    format!("LABEL io.cv.rust-toolchain=\"{rust_version}-{host}\""),
                    format!("LABEL io.cv.standin-extras=\"{BUILDER_EXTRAS}\""),
                    "CMD [\"bash\"]".to_owned(),
                ]);
            }
            Standin::Alpine => {
                changes.extend([
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                        .to_owned(),
                    "CMD [\"/bin/sh\"]".to_owned(),
                ]);
            }
            Standin::Distroless => {
                changes.extend([
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                        .to_owned(),
                    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".to_owned(),
                    "USER 65532:65532".to_owned(),
                    "WORKDIR /home/nonroot".to_owned(),
                ]);
            }
        }
        changes
    }
}

impl fmt::Display for Standin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Standin::Rust => "rust",
            Standin::Alpine => "alpine",
            Standin::Distroless => "distroless",
        })
    }
}

const STANDARD_PATH_WITH_CARGO: &str =
    "/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The images to build, in order: the builder first, since it takes longest and fails loudest.
pub fn selected(only: Option<Standin>) -> Vec<Standin> {
    match only {
        Some(one) => vec![one],
        None => Standin::ALL.to_vec(),
    }
}

/// The `channel` of rust-toolchain.toml, which names the Rust version the stand-in carries.
pub fn toolchain_channel(rust_toolchain_toml: &str) -> Option<String> {
    rust_toolchain_toml.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "channel").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The Debian mirror the host's apt uses (deb822 `.sources` or one-line `sources.list`), taken
/// from the first entry whose suites include `suite`. Security and update suites are skipped:
/// debootstrap needs the main archive.
pub fn debian_mirror(sources: &[String], suite: &str) -> Option<String> {
    for text in sources {
        // deb822: paragraphs of `Key: value` lines.
        for paragraph in text.split("\n\n") {
            let field = |name: &str| {
                paragraph.lines().find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    (key.trim().eq_ignore_ascii_case(name)).then(|| value.trim().to_owned())
                })
            };
            if let (Some(uris), Some(suites)) = (field("URIs"), field("Suites"))
                && suites.split_whitespace().any(|s| s == suite)
                && let Some(uri) = uris.split_whitespace().next()
            {
                return Some(uri.trim_end_matches('/').to_owned());
            }
        }
        // One-line format: `deb [options] URI SUITE COMPONENTS…`.
        for line in text.lines() {
            let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
            if words.next() != Some("deb") {
                continue;
            }
            if let (Some(uri), Some(line_suite)) = (words.next(), words.next())
                && line_suite == suite
            {
                return Some(uri.trim_end_matches('/').to_owned());
            }
        }
    }
    None
}

/// The toolchain directories copied into the builder: everything a build needs, not the
/// documentation (`share/` is 800 MB of HTML), which vfs would copy again on every build step.
pub fn toolchain_entries_to_copy(entries: &[String]) -> Vec<String> {
    let mut keep: Vec<String> = entries
        .iter()
        .filter(|name| matches!(name.as_str(), "bin" | "lib" | "libexec" | "etc"))
        .cloned()
        .collect();
    keep.sort();
    keep
}

/// `/etc/passwd` and `/etc/group` of the Alpine stand-in, as Alpine's own base has them.
pub fn alpine_accounts() -> (String, String) {
    (
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n".to_owned(),
        "root:x:0:root\nnobody:x:65534:\n".to_owned(),
    )
}

/// `/etc/passwd` and `/etc/group` of the distroless stand-in: distroless's `nonroot` is 65532.
pub fn distroless_accounts() -> (String, String) {
    (
        "root:x:0:0:root:/root:/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
         nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
            .to_owned(),
        "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n".to_owned(),
    )
}

/// `/etc/os-release` of a small stand-in, saying plainly what it is.
fn os_release(standin: Standin, rust_version: &str) -> String {
    format!(
        "NAME=\"cv-standin {standin}\"\nID=cv-standin\nPRETTY_NAME=\"{} ({STANDIN_DESCRIPTION}: {})\"\n",
        standin.tag(rust_version),
        standin.stands_in_for(rust_version)
    )
}

impl BaseImages {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let toml_path = paths::project_root().join("rust-toolchain.toml");
        let toml = fs::read_to_string(&toml_path)
            .with_context(|| format!("reading {}", toml_path.display()))?;
        let rust_version = toolchain_channel(&toml)
            .with_context(|| format!("{} names no channel", toml_path.display()))?;
        let docker = docker_client();

        let format = "{{.ServerVersion}}";
        if cmd!(sh, "{docker} info --format {format}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_err()
        {
            bail!(
                "the Docker Engine does not answer ({} info failed): run scripts/setup-machine.sh",
                docker.display()
            );
        }

        let started = Instant::now();
        let mut summary = Vec::new();
        for standin in selected(self.only) {
            let tag = standin.tag(&rust_version);
            let previous = image_recipe(sh, &docker, &tag);
            match &previous {
                Some(recipe) if !self.force && recipe == RECIPE => {
                    println!("==> {tag}: exists, skipped (--force rebuilds it)");
                    summary.push((tag.clone(), image_size(sh, &docker, &tag), None));
                    continue;
                }
                Some(recipe) if recipe != RECIPE => println!(
                    "==> {tag}: exists from stand-in recipe {recipe:?}, this is recipe {RECIPE}: rebuilding"
                ),
                _ => {}
            }
            let previous_id = previous.and_then(|_| image_id(sh, &docker, &tag));
            println!(
                "==> {tag}: building (stands in for {})",
                standin.stands_in_for(&rust_version)
            );
            let step = Instant::now();
            let tmp = sh
                .create_temp_dir()
                .context("creating a temporary directory")?;
            let rootfs = tmp.path().join("rootfs");
            fs::create_dir(&rootfs).with_context(|| format!("creating {}", rootfs.display()))?;
            match standin {
                Standin::Rust => make_rust_rootfs(sh, &rootfs, &rust_version)?,
                Standin::Alpine => make_alpine_rootfs(sh, &rootfs, &rust_version)?,
                Standin::Distroless => make_distroless_rootfs(&rootfs, &rust_version)?,
            }
            let host = host_triple(sh)?;
            import(
                sh,
                &docker,
                &rootfs,
                &tmp.path().join("rootfs.tar"),
                &tag,
                &standin.import_changes(&rust_version, &host),
            )?;
            let took = step.elapsed();
            println!("==> {tag}: done in {}", seconds(took));
            // The replaced image would otherwise stay on disk untagged (1.3 GB under vfs). One
            // still used by a container stays, and that is only a note.
            if let Some(id) = previous_id
                && image_id(sh, &docker, &tag).as_ref() != Some(&id)
            {
                match cmd!(sh, "{docker} image rm {id}")
                    .quiet()
                    .ignore_status()
                    .output()
                {
                    Ok(out) if out.status.success() => {
                        println!("--> removed the replaced image {id}")
                    }
                    Ok(out) => println!(
                        "--> the replaced image {id} stays: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    Err(e) => println!("--> the replaced image {id} stays: {e}"),
                }
            }
            summary.push((tag.clone(), image_size(sh, &docker, &tag), Some(took)));
        }

        println!("\nstand-in images ({STANDIN_DESCRIPTION}):");
        for (tag, size, took) in &summary {
            let size = size.map_or_else(|| "?".to_owned(), |s| format!("{:.1} MB", s as f64 / 1e6));
            let how = took.map_or_else(
                || "already there".to_owned(),
                |t| format!("built in {}", seconds(t)),
            );
            println!("  {tag:<40} {size:>10}  {how}");
        }
        println!("total {}", seconds(started.elapsed()));
        println!(
            "use them with: cargo xtask docker --base-images standin (or CV_BASE_IMAGES=standin)"
        );
        Ok(())
    }
}

/// Debian's client when it is there: the `docker` first on PATH here may be a newer client
/// without buildx; `docker import` works with either, but one client everywhere is simpler.
fn docker_client() -> PathBuf {
    let debian = Path::new("/usr/bin/docker");
    if debian.exists() {
        debian.to_path_buf()
    } else {
        PathBuf::from("docker")
    }
}

/// The `io.cv.standin-recipe` label of an existing image: None when there is no such image,
/// `Some("")` for a stand-in made before the label existed.
fn image_recipe(sh: &Shell, docker: &Path, tag: &str) -> Option<String> {
    let format = "{{index .Config.Labels \"io.cv.standin-recipe\"}}";
    let recipe = cmd!(sh, "{docker} image inspect --format {format} {tag}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    Some(recipe.trim().trim_start_matches("<no value>").to_owned())
}

fn image_id(sh: &Shell, docker: &Path, tag: &str) -> Option<String> {
    let format = "{{.Id}}";
    cmd!(sh, "{docker} image inspect --format {format} {tag}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .map(|id| id.trim().to_owned())
}

fn image_size(sh: &Shell, docker: &Path, tag: &str) -> Option<u64> {
    let format = "{{.Size}}";
    cmd!(sh, "{docker} image inspect --format {format} {tag}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn host_triple(sh: &Shell) -> anyhow::Result<String> {
    let verbose = cmd!(sh, "rustc -vV")
        .quiet()
        .read()
        .context("running rustc -vV")?;
    verbose
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host triple")
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

fn require_root(what: &str) -> anyhow::Result<()> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .unwrap_or("");
    if uid != "0" {
        bail!("{what} needs root (uid {uid}): run it as root, as CI does");
    }
    Ok(())
}

fn write_file(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

fn make_dir(path: &Path, mode: u32) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// The Mozilla CA bundle, concatenated as update-ca-certificates would, without local additions.
fn mozilla_ca_bundle() -> anyhow::Result<String> {
    let dir = Path::new(MOZILLA_CERTS_DIR);
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| {
            format!("reading {MOZILLA_CERTS_DIR} (ca-certificates missing: run scripts/setup-machine.sh)")
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "crt"))
        .collect();
    files.sort();
    let mut bundle = String::new();
    for file in &files {
        let pem =
            fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        bundle.push_str(pem.trim_end());
        bundle.push('\n');
    }
    if files.is_empty() {
        bail!("{MOZILLA_CERTS_DIR} holds no certificates: run scripts/setup-machine.sh");
    }
    Ok(bundle)
}

fn make_rust_rootfs(sh: &Shell, rootfs: &Path, rust_version: &str) -> anyhow::Result<()> {
    require_root("debootstrap")?;
    let debootstrap = which::which("debootstrap")
        .map_err(|_| anyhow::anyhow!("debootstrap not found: run scripts/setup-machine.sh"))?;
    let sources = apt_sources();
    let mirror = debian_mirror(&sources, DEBIAN_SUITE).unwrap_or_else(|| DEFAULT_MIRROR.to_owned());

    // The toolchain is checked before the minute of debootstrap, so a wrong one fails fast.
    let sysroot = cmd!(sh, "rustc --print sysroot")
        .quiet()
        .read()
        .context("running rustc")?;
    let sysroot = fs::canonicalize(sysroot.trim())
        .with_context(|| format!("resolving the Rust sysroot {}", sysroot.trim()))?;
    let version = cmd!(sh, "rustc --version").quiet().read()?;
    if !version.starts_with(&format!("rustc {rust_version} ")) {
        bail!("the active rustc is `{version}`, not {rust_version}: install it with rustup");
    }
    let host = host_triple(sh)?;
    let cross = CrossTools::find(sh)?;

    println!("--> debootstrap {DEBIAN_SUITE} from {mirror} (about a minute)");
    let step = Instant::now();
    cmd!(
        sh,
        "{debootstrap} --variant=minbase --include={BUILDER_PACKAGES} {DEBIAN_SUITE} {rootfs} {mirror}"
    )
    .run()
    .context("debootstrap failed (is the Debian mirror reachable? see the lines above)")?;
    println!("--> debootstrap done in {}", seconds(step.elapsed()));

    // Lean: vfs copies the whole image for every build step that uses it.
    for dir in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
    ] {
        let path = rootfs.join(dir);
        if path.exists() {
            fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
            fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        }
    }

    let toolchain_name = format!("{rust_version}-{host}");
    let toolchain_dir = rootfs
        .join("usr/local/rustup/toolchains")
        .join(&toolchain_name);
    fs::create_dir_all(&toolchain_dir)
        .with_context(|| format!("creating {}", toolchain_dir.display()))?;
    let entries: Vec<String> = fs::read_dir(&sysroot)
        .with_context(|| format!("reading {}", sysroot.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    let sources: Vec<PathBuf> = toolchain_entries_to_copy(&entries)
        .iter()
        .map(|name| sysroot.join(name))
        .collect();
    println!(
        "--> copying the Rust {toolchain_name} toolchain from {}",
        sysroot.display()
    );
    cmd!(sh, "cp -a {sources...} {toolchain_dir}")
        .run()
        .context("copying the toolchain")?;

    // CARGO_HOME/bin holds the tools, as the rustup proxies do in the public image.
    let cargo_bin = rootfs.join("usr/local/cargo/bin");
    fs::create_dir_all(&cargo_bin).with_context(|| format!("creating {}", cargo_bin.display()))?;
    for entry in fs::read_dir(toolchain_dir.join("bin")).context("reading the toolchain's bin")? {
        let name = entry?.file_name();
        let target = Path::new("../../rustup/toolchains")
            .join(&toolchain_name)
            .join("bin")
            .join(&name);
        symlink(&target, cargo_bin.join(&name))
            .with_context(|| format!("linking {}", cargo_bin.join(&name).display()))?;
    }
    cross.install(sh, rootfs)
}

/// zig and cargo-zigbuild as the host has them (scripts/setup-machine.sh installs both), for
/// cross builds in the builder without emulation; and cargo-auditable, so the builder needs no
/// network to embed the dependency list (offline builds run this builder with `--network none`).
struct CrossTools {
    /// The directory holding the `zig` executable and its `lib/`.
    zig_dir: PathBuf,
    zig_version: String,
    cargo_zigbuild: PathBuf,
    cargo_auditable: PathBuf,
}

impl CrossTools {
    fn find(sh: &Shell) -> anyhow::Result<CrossTools> {
        let missing = "run scripts/setup-machine.sh (it installs PyPI's ziglang, cargo-zigbuild \
                       and cargo-auditable)";
        // PyPI's ziglang puts zig inside the Python package; a zig on PATH may be a symlink to
        // a distribution directory. Either way the directory holds `zig` and `lib/`.
        let zig_dir = match which::which("zig") {
            Ok(zig) => fs::canonicalize(&zig)
                .with_context(|| format!("resolving {}", zig.display()))?
                .parent()
                .map(Path::to_path_buf)
                .context("zig has no parent directory")?,
            Err(_) => {
                let script = "import os, ziglang; print(os.path.dirname(ziglang.__file__))";
                let dir = cmd!(sh, "python3 -c {script}")
                    .quiet()
                    .ignore_stderr()
                    .read()
                    .map_err(|_| anyhow::anyhow!("zig not found: {missing}"))?;
                PathBuf::from(dir.trim())
            }
        };
        if !zig_dir.join("lib/libc").is_dir() {
            bail!(
                "{} has no lib/libc: not a zig distribution; {missing}",
                zig_dir.display()
            );
        }
        let zig = zig_dir.join("zig");
        let zig_version = cmd!(sh, "{zig} version")
            .quiet()
            .read()
            .with_context(|| format!("running {} version", zig.display()))?;
        let cargo_zigbuild = which::which("cargo-zigbuild")
            .map_err(|_| anyhow::anyhow!("cargo-zigbuild not found: {missing}"))?;
        let cargo_auditable = which::which("cargo-auditable")
            .map_err(|_| anyhow::anyhow!("cargo-auditable not found: {missing}"))?;
        Ok(CrossTools {
            zig_dir,
            zig_version: zig_version.trim().to_owned(),
            cargo_zigbuild,
            cargo_auditable,
        })
    }

    /// zig under /usr/local/zig (linked from /usr/local/bin), cargo-zigbuild and cargo-auditable
    /// in CARGO_HOME/bin. The host's cargo-zigbuild (and cargo-auditable) is linked against the host's glibc; the stand-in is the same
    /// Debian release as the host (see scripts/setup-machine.sh), so it runs there unchanged.
    fn install(&self, sh: &Shell, rootfs: &Path) -> anyhow::Result<()> {
        let zig_home = rootfs.join("usr/local/zig");
        println!(
            "--> copying zig {} from {} (foreign-OS libc trees left out)",
            self.zig_version,
            self.zig_dir.display()
        );
        make_dir(&zig_home, 0o755)?;
        let zig = self.zig_dir.join("zig");
        let lib = self.zig_dir.join("lib");
        cmd!(sh, "cp -a {zig} {lib} {zig_home}")
            .run()
            .context("copying zig")?;
        for dir in [zig_home.join("lib/libc"), zig_home.join("lib/libc/include")] {
            let entries: Vec<String> = fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .collect();
            for name in zig_entries_to_prune(&entries) {
                let path = dir.join(&name);
                fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        let bin = rootfs.join("usr/local/bin");
        make_dir(&bin, 0o755)?;
        symlink("../zig/zig", bin.join("zig")).context("linking /usr/local/bin/zig")?;
        for tool in [&self.cargo_zigbuild, &self.cargo_auditable] {
            let name = tool
                .file_name()
                .context("a tool path without a file name")?;
            let dest = rootfs.join("usr/local/cargo/bin").join(name);
            fs::copy(tool, &dest).with_context(|| format!("copying {}", tool.display()))?;
        }
        Ok(())
    }
}

/// The directories of zig's libc trees that serve only operating systems other than Linux.
pub fn zig_entries_to_prune(entries: &[String]) -> Vec<String> {
    let mut prune: Vec<String> = entries
        .iter()
        .filter(|name| ZIG_FOREIGN_OS.iter().any(|os| name.contains(os)))
        .cloned()
        .collect();
    prune.sort();
    prune
}

/// The apt source files of the host, for the mirror debootstrap should use.
fn apt_sources() -> Vec<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|ext| ext == "sources" || ext == "list")
            })
            .collect();
        more.sort();
        files.extend(more);
    }
    files
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .collect()
}

fn make_alpine_rootfs(sh: &Shell, rootfs: &Path, rust_version: &str) -> anyhow::Result<()> {
    let busybox = Path::new(BUSYBOX);
    let kind = fs::read(busybox)
        .map_err(|_| anyhow::anyhow!("{BUSYBOX} not found: run scripts/setup-machine.sh"))?;
    // A dynamically linked busybox would need a libc the image does not have.
    if kind
        .windows(b"/lib64/ld-linux".len())
        .any(|w| w == b"/lib64/ld-linux")
    {
        bail!(
            "{BUSYBOX} is not the static build: install busybox-static (scripts/setup-machine.sh)"
        );
    }
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "var", "home", "lib", "run",
    ] {
        make_dir(&rootfs.join(dir), 0o755)?;
    }
    make_dir(&rootfs.join("tmp"), 0o1777)?;
    make_dir(&rootfs.join("var/tmp"), 0o1777)?;
    make_dir(&rootfs.join("root"), 0o700)?;
    fs::copy(busybox, rootfs.join("bin/busybox")).context("copying busybox")?;
    let applets = cmd!(sh, "{busybox} --list-full")
        .quiet()
        .read()
        .context("listing applets")?;
    // `linuxrc` is busybox's init for initramfs roots, nothing an image wants.
    for applet in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !matches!(*a, "bin/busybox" | "linuxrc"))
    {
        let link = rootfs.join(applet);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        if !link.exists() {
            symlink("/bin/busybox", &link)
                .with_context(|| format!("linking {}", link.display()))?;
        }
    }
    let (passwd, group) = alpine_accounts();
    write_file(&rootfs.join("etc/passwd"), &passwd, 0o644)?;
    write_file(&rootfs.join("etc/group"), &group, 0o644)?;
    // busybox adduser/addgroup update shadow files when they exist, as on Alpine.
    write_file(
        &rootfs.join("etc/shadow"),
        "root:*::0:::::\nnobody:!::0:::::\n",
        0o640,
    )?;
    write_file(
        &rootfs.join("etc/os-release"),
        &os_release(Standin::Alpine, rust_version),
        0o644,
    )?;
    write_file(&rootfs.join(CA_BUNDLE_PATH), &mozilla_ca_bundle()?, 0o644)?;
    Ok(())
}

fn make_distroless_rootfs(rootfs: &Path, rust_version: &str) -> anyhow::Result<()> {
    for dir in ["etc", "var", "usr"] {
        make_dir(&rootfs.join(dir), 0o755)?;
    }
    make_dir(&rootfs.join("tmp"), 0o1777)?;
    make_dir(&rootfs.join("root"), 0o700)?;
    let home = rootfs.join("home/nonroot");
    make_dir(&home, 0o700)?;
    std::os::unix::fs::chown(&home, Some(65532), Some(65532))
        .with_context(|| format!("giving {} to 65532", home.display()))?;
    let (passwd, group) = distroless_accounts();
    write_file(&rootfs.join("etc/passwd"), &passwd, 0o644)?;
    write_file(&rootfs.join("etc/group"), &group, 0o644)?;
    write_file(
        &rootfs.join("etc/os-release"),
        &os_release(Standin::Distroless, rust_version),
        0o644,
    )?;
    write_file(&rootfs.join(CA_BUNDLE_PATH), &mozilla_ca_bundle()?, 0o644)?;
    Ok(())
}

fn import(
    sh: &Shell,
    docker: &Path,
    rootfs: &Path,
    tarball: &Path,
    tag: &str,
    changes: &[String],
) -> anyhow::Result<()> {
    println!("--> packing {}", rootfs.display());
    cmd!(sh, "tar --numeric-owner -C {rootfs} -cf {tarball} .")
        .run()
        .context("packing the root")?;
    let change_args: Vec<String> = changes
        .iter()
        .flat_map(|c| ["--change".to_owned(), c.clone()])
        .collect();
    println!("--> docker import as {tag}");
    cmd!(sh, "{docker} import {change_args...} {tarball} {tag}")
        .run()
        .with_context(|| format!("docker import of {tag} failed"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_contract_and_never_look_public() {
        assert_eq!(Standin::Rust.tag("1.95.0"), "cv-standin/rust:1.95.0");
        assert_eq!(Standin::Alpine.tag("1.95.0"), "cv-standin/alpine:3");
        assert_eq!(
            Standin::Distroless.tag("1.95.0"),
            "cv-standin/distroless-static:nonroot"
        );
        for standin in Standin::ALL {
            let tag = standin.tag("1.95.0");
            assert!(tag.starts_with("cv-standin/"), "{tag}");
            assert_ne!(tag, standin.stands_in_for("1.95.0"));
        }
    }

    #[test]
    fn selection_builds_all_or_only_the_one_asked_for() {
        assert_eq!(selected(None), Standin::ALL.to_vec());
        assert_eq!(selected(Some(Standin::Alpine)), vec![Standin::Alpine]);
    }

    #[test]
    fn every_standin_is_labelled_as_one() {
        for standin in Standin::ALL {
            let changes = standin.import_changes("1.95.0", "x86_64-unknown-linux-gnu");
            assert!(changes.contains(&format!(
                "LABEL org.opencontainers.image.description=\"{STANDIN_DESCRIPTION}\""
            )));
            assert!(
                changes
                    .iter()
                    .any(|c| c.starts_with("LABEL io.cv.standin-for="))
            );
        }
    }

    #[test]
    fn builder_config_puts_cargo_on_path_like_the_public_image() {
        let changes = Standin::Rust.import_changes("1.95.0", "x86_64-unknown-linux-gnu");
        assert!(changes.contains(&"ENV CARGO_HOME=/usr/local/cargo".to_owned()));
        assert!(changes.contains(&"ENV RUSTUP_HOME=/usr/local/rustup".to_owned()));
        let path = changes
            .iter()
            .find(|c| c.starts_with("ENV PATH="))
            .expect("a PATH");
        assert!(path.starts_with("ENV PATH=/usr/local/cargo/bin:"), "{path}");
    }

    #[test]
    fn distroless_runs_as_nonroot_65532() {
        let changes = Standin::Distroless.import_changes("1.95.0", "x86_64-unknown-linux-gnu");
        assert!(changes.contains(&"USER 65532:65532".to_owned()));
        let (passwd, group) = distroless_accounts();
        assert!(
            passwd
                .lines()
                .any(|l| l.starts_with("nonroot:x:65532:65532:"))
        );
        assert!(group.lines().any(|l| l == "nonroot:x:65532:"));
    }

    #[test]
    fn alpine_accounts_have_root_and_nobody_only() {
        let (passwd, group) = alpine_accounts();
        let users: Vec<&str> = passwd
            .lines()
            .map(|l| l.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(users, ["root", "nobody"]);
        assert_eq!(group.lines().count(), 2);
    }

    #[test]
    fn channel_is_read_from_rust_toolchain_toml() {
        let toml = "[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"rustfmt\"]\n";
        assert_eq!(toolchain_channel(toml).as_deref(), Some("1.95.0"));
        assert_eq!(toolchain_channel("[toolchain]\n"), None);
    }

    #[test]
    fn the_real_rust_toolchain_toml_names_a_channel() {
        let toml = fs::read_to_string(paths::project_root().join("rust-toolchain.toml"))
            .expect("rust-toolchain.toml at the root");
        let channel = toolchain_channel(&toml).expect("a channel");
        assert!(
            channel.split('.').count() == 3,
            "a pinned version, not {channel}"
        );
    }

    #[test]
    fn mirror_comes_from_deb822_sources_skipping_security() {
        let sources = vec![
            "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n\
             Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n"
                .to_owned(),
        ];
        assert_eq!(
            debian_mirror(&sources, "bookworm").as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn mirror_comes_from_one_line_sources() {
        let sources = vec![
            "# comment\ndeb [signed-by=/k.gpg] http://one.example/debian bookworm main\n"
                .to_owned(),
        ];
        assert_eq!(
            debian_mirror(&sources, "bookworm").as_deref(),
            Some("http://one.example/debian")
        );
        assert_eq!(debian_mirror(&sources, "trixie"), None);
        assert_eq!(debian_mirror(&[], "bookworm"), None);
    }

    #[test]
    fn toolchain_copy_leaves_out_the_documentation() {
        let entries: Vec<String> = ["share", "lib", "bin", "libexec", "etc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            toolchain_entries_to_copy(&entries),
            ["bin", "etc", "lib", "libexec"]
        );
    }

    #[test]
    fn zig_keeps_linux_and_the_generic_musl_trees() {
        let entries: Vec<String> = [
            "any-windows-any",
            "mingw",
            "aarch64-linux-musl",
            "x86_64-linux-musl",
            "generic-musl",
            "any-linux-any",
            "musl",
            "glibc",
            "wasm-wasi-musl",
            "wasi",
            "any-darwin-any",
            "generic-freebsd",
            "x86_64-netbsd-none",
            "aarch64-openbsd-none",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            zig_entries_to_prune(&entries),
            [
                "aarch64-openbsd-none",
                "any-darwin-any",
                "any-windows-any",
                "generic-freebsd",
                "mingw",
                "wasi",
                "wasm-wasi-musl",
                "x86_64-netbsd-none",
            ]
        );
    }

    #[test]
    fn every_standin_names_its_recipe_and_the_builder_its_extras() {
        for standin in Standin::ALL {
            let changes = standin.import_changes("1.95.0", "x86_64-unknown-linux-gnu");
            assert!(changes.contains(&format!("LABEL io.cv.standin-recipe=\"{RECIPE}\"")));
        }
        let builder = Standin::Rust.import_changes("1.95.0", "x86_64-unknown-linux-gnu");
        assert!(
            builder
                .iter()
                .any(|c| c.starts_with("LABEL io.cv.standin-extras=")
                    && c.contains("zig")
                    && c.contains("cargo-auditable"))
        );
    }

    #[test]
    fn cli_parses_only_and_force() {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: BaseImages,
        }
        let parsed = Wrapper::try_parse_from(["x", "--only", "rust", "--force"]).expect("valid");
        assert_eq!(parsed.args.only, Some(Standin::Rust));
        assert!(parsed.args.force);
        assert!(Wrapper::try_parse_from(["x", "--only", "debian"]).is_err());
    }
}
