//! `cargo xtask clean`: remove build output, build cache and this project's Docker leftovers.
//!
//! Three levels, each including the one before:
//! - `normal`: cargo target directories — the project's own (as `cargo metadata` reports it, so
//!   `CARGO_TARGET_DIR` and `build.target-dir` count) and every other directory under the project
//!   that cargo marked with its `CACHEDIR.TAG`. A directory without cargo's tag is never removed,
//!   not even the one cargo names, and when cargo cannot read the manifest nothing is: a guessed
//!   `target/` beside some other file may be anyone's.
//! - `deep`: the BuildKit build cache: this project's cache mounts (`cv-cargo-registry`,
//!   `cv-target`, `cv-zig-cache`, …; other projects' cache mounts stay) and the engine's unused
//!   layer records, which belong to no project in particular: those of every project go.
//! - `all`: dangling images and named volumes of this project, found by their labels and names.
//!
//! Everything is listed with its size first; `--dry-run` stops there. Sizes of Docker objects
//! come from `docker system df -v`, which rounds to three or four digits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::engine::{self, Builder, EngineKind};
use crate::paths;

/// Remove build output, build cache and this project's dangling images and volumes
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Clean {
    /// How far to go: normal (target dirs), deep (+ build cache), all (+ images and volumes)
    #[arg(long, value_enum)]
    level: Level,

    /// List what would be removed and how big it is, remove nothing
    #[arg(long)]
    dry_run: bool,

    /// Cargo.toml of the project whose target directories go [default: this workspace]
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,

    /// Build cache removed at deep and all: this project's cache mounts plus the engine's unused layers (all projects'), or the mounts only
    #[arg(long, value_enum, default_value_t = CacheScope::Build)]
    cache_scope: CacheScope,

    /// Target path of a cache mount to treat as this project's; repeatable [default: the Dockerfiles' mounts]
    #[arg(long = "cache-mount", value_name = "PATH")]
    cache_mounts: Vec<String>,

    /// Remove only images and volumes that also carry this label
    #[arg(long, value_name = "KEY[=VALUE]")]
    only_label: Option<String>,

    /// Only list what the caches hold (`cargo xtask optimize cache`): a dry run worded as a report
    #[arg(skip)]
    listing: bool,
}

const EXAMPLES: &str = "\
Examples:
  cargo xtask clean --level normal              # target/ (and nested cargo target dirs)
  cargo xtask clean --level deep --dry-run      # what the build cache holds, nothing removed
  cargo xtask clean --level deep --cache-scope mounts   # only cv-cargo-registry, cv-target, …
  cargo xtask clean --level all                 # + dangling cv images and cv volumes";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Level {
    /// Target directories
    Normal,
    /// Target directories and the build cache
    Deep,
    /// Also dangling images and named volumes of this project
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CacheScope {
    /// This project's cache mounts plus the engine's unused layer cache (all projects)
    Build,
    /// This project's cache mounts only
    Mounts,
}

/// The Dockerfiles' cache mounts: (target path in the build, mount id).
const PROJECT_CACHE_MOUNTS: [(&str, &str); 6] = [
    ("/usr/local/cargo/registry", "cv-cargo-registry"),
    ("/src/target", "cv-target"),
    ("/var/cache/cv-target", "cv-target-vendor"),
    ("/root/.cache/zig", "cv-zig-cache"),
    ("/var/cache/cv-cross-tools", "cv-cross-tools-target"),
    ("/var/cache/cv-dev-tools", "cv-dev-tools-target"),
];

/// BuildKit does not show a cache mount's id, only "cached mount PATH from exec COMMAND". Generic
/// paths such as /usr/local/cargo/registry are ours only when the command is one of our RUN
/// steps, which all read the `ca_bundle` secret or the `/rust-target` file the builder stage
/// writes; paths under /var/cache/cv- are ours by name (a unit test keeps the Dockerfiles to that).
const OUR_RUN_STEP_MARKS: [&str; 2] = ["/run/secrets/ca_bundle", "/rust-target"];

fn is_our_run_step(text: &str) -> bool {
    OUR_RUN_STEP_MARKS.iter().any(|m| text.contains(m))
}

/// The named volumes the compose files declare (compose prefixes them with the project name).
const COMPOSE_VOLUMES: [&str; 4] = ["cv-data", "cv-dev-cargo", "cv-dev-target", "cv-dev-data"];

/// The signature cargo writes into `CACHEDIR.TAG` in every target directory.
const CARGO_CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55";

/// One thing to remove.
#[derive(Debug, Clone)]
struct Item {
    what: String,
    bytes: u64,
    outcome: String,
}

/// What one level found and freed.
#[derive(Debug, Default)]
struct Section {
    title: String,
    items: Vec<Item>,
    notes: Vec<String>,
    before: u64,
    after: u64,
}

impl Clean {
    /// What every level would remove, listed with sizes and removed nothing: the build caches
    /// of this project as a report.
    pub fn listing() -> Clean {
        Clean {
            level: Level::All,
            dry_run: true,
            manifest_path: None,
            cache_scope: CacheScope::Build,
            cache_mounts: Vec::new(),
            only_label: None,
            listing: true,
        }
    }

    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let manifest = match &self.manifest_path {
            Some(path) => std::env::current_dir()
                .context("cannot read the current directory")?
                .join(path),
            None => paths::project_root().join("Cargo.toml"),
        };
        if !manifest.is_file() {
            bail!(
                "no Cargo.toml at {} (--manifest-path); give the manifest of the project to clean",
                manifest.display()
            );
        }
        let mut sections = vec![self.target_dirs(sh, &manifest)?];
        if self.level >= Level::Deep {
            match docker_client(sh) {
                Ok((client, builder)) => {
                    sections.push(self.build_cache(sh, &client, &builder)?);
                    if self.level >= Level::All {
                        sections.push(self.images(sh, &client)?);
                        sections.push(self.volumes(sh, &client)?);
                    }
                }
                Err(why) => sections.push(Section {
                    title: "Docker (build cache, images, volumes)".to_owned(),
                    notes: vec![format!("skipped: {why:#}")],
                    ..Section::default()
                }),
            }
        }
        print!("{}", self.render(&sections));
        Ok(())
    }

    fn render(&self, sections: &[Section]) -> String {
        let mut out = String::new();
        let (mut before, mut after) = (0, 0);
        for s in sections {
            let _ = writeln!(out, "{}:", s.title);
            if s.items.is_empty() && s.notes.is_empty() {
                let none = if self.listing {
                    "empty"
                } else {
                    "nothing to remove"
                };
                let _ = writeln!(out, "  {none}");
            }
            for item in &s.items {
                let outcome = if self.listing {
                    String::new()
                } else {
                    format!("  [{}]", item.outcome)
                };
                let _ = writeln!(out, "  {:>10}  {}{outcome}", human(item.bytes), item.what);
            }
            for note in &s.notes {
                let _ = writeln!(out, "  {note}");
            }
            if !self.dry_run && !s.items.is_empty() {
                let _ = writeln!(
                    out,
                    "  freed {} ({} before, {} after)",
                    human(s.before.saturating_sub(s.after)),
                    human(s.before),
                    human(s.after)
                );
            }
            before += s.before;
            after += s.after;
        }
        if self.listing {
            let _ = writeln!(
                out,
                "{} in all; nothing removed (`cargo xtask clean --level normal|deep|all` frees it)",
                human(before)
            );
        } else if self.dry_run {
            let _ = writeln!(
                out,
                "dry run: would free {}, removed nothing",
                human(before)
            );
        } else {
            let _ = writeln!(out, "freed {} in all", human(before.saturating_sub(after)));
        }
        out
    }

    /// Level normal: cargo's target directories of the project.
    fn target_dirs(&self, sh: &Shell, manifest: &Path) -> anyhow::Result<Section> {
        let root = manifest
            .parent()
            .context("the manifest path has no parent directory")?
            .to_path_buf();
        let mut section = Section {
            title: format!("target directories of {}", root.display()),
            ..Section::default()
        };
        // No guessing: without cargo's answer, `target` beside the manifest may be anything
        // (the manifest may not even be a Cargo.toml), so nothing is removed at all.
        let cargos = metadata_target_dir(sh, manifest)?;
        let mut dirs = vec![cargos.clone()];
        find_tagged_target_dirs(&root, &mut dirs);
        dirs.retain(|d| d.is_dir());
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            // A target directory that holds the project (CARGO_TARGET_DIR=.) must never go.
            if root.starts_with(&dir) {
                section.notes.push(format!(
                    "kept {}: it contains the project itself",
                    dir.display()
                ));
                continue;
            }
            // Cargo tags every target directory it creates. One without the tag was made by
            // something else, or holds something else (a misconfigured CARGO_TARGET_DIR naming
            // a directory of documents): only the owner can say it may go.
            if !is_cargo_target_dir(&dir) {
                section.notes.push(format!(
                    "left {}: cargo names it the target directory, but it has no CACHEDIR.TAG \
                     with cargo's signature, so it may hold more than build output; remove it \
                     by hand if it is only that",
                    dir.display()
                ));
                continue;
            }
            let bytes = disk_usage(&dir);
            section.before += bytes;
            let outcome = if self.dry_run {
                "would remove".to_owned()
            } else {
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => "removed".to_owned(),
                    Err(e) => format!("removal failed: {e}"),
                }
            };
            section.after += if dir.exists() { disk_usage(&dir) } else { 0 };
            section.items.push(Item {
                what: format!(
                    "{}{}",
                    dir.display(),
                    outside_remark(&dir, &root, &cargos, std::env::var_os("CARGO_TARGET_DIR"))
                ),
                bytes,
                outcome,
            });
        }
        if self.dry_run {
            section.after = section.before;
        }
        Ok(section)
    }

    /// Level deep: the build cache records this run may remove.
    fn build_cache(&self, sh: &Shell, client: &Path, builder: &Builder) -> anyhow::Result<Section> {
        let mounts: Vec<String> = if self.cache_mounts.is_empty() {
            PROJECT_CACHE_MOUNTS
                .iter()
                .map(|(p, _)| (*p).to_owned())
                .collect()
        } else {
            self.cache_mounts.clone()
        };
        let custom = !self.cache_mounts.is_empty();
        let records = build_cache_records(sh, client)?;
        let mut section = Section {
            title: match self.cache_scope {
                CacheScope::Build => {
                    "build cache (this project's cache mounts, and the engine's unused layer \
                     cache of all projects)"
                }
                CacheScope::Mounts => "build cache (this project's cache mounts)",
            }
            .to_owned(),
            ..Section::default()
        };
        let mut chosen: Vec<&CacheRecord> = Vec::new();
        let mut layers = (0usize, 0u64);
        for record in records.iter().filter(|r| r.in_use != "true") {
            if record.kind == "exec.cachemount" {
                let Some(path) = record.mount_path() else {
                    continue;
                };
                let ours = mounts.iter().any(|m| m == path)
                    && (custom
                        || path.starts_with("/var/cache/cv-")
                        || is_our_run_step(&record.description));
                if ours {
                    let id = PROJECT_CACHE_MOUNTS
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, id)| format!(" ({id})"))
                        .unwrap_or_default();
                    section.items.push(Item {
                        what: format!("cache mount {path}{id}, record {}", record.id),
                        bytes: record.bytes(),
                        outcome: String::new(),
                    });
                    chosen.push(record);
                }
            } else if self.cache_scope == CacheScope::Build
                && !matches!(record.kind.as_str(), "internal" | "frontend")
            {
                layers.0 += 1;
                layers.1 += record.bytes();
                chosen.push(record);
            }
        }
        // Layer records carry no project: they are every project's on this engine, and the
        // line must not read as this project's alone.
        if layers.0 > 0 {
            section.items.push(Item {
                what: format!(
                    "unused layer cache of the engine (all projects): {} layer-cache records",
                    layers.0
                ),
                bytes: layers.1,
                outcome: String::new(),
            });
        }
        section.before = chosen.iter().map(|r| r.bytes()).sum();
        if self.dry_run || chosen.is_empty() {
            section.after = section.before;
            mark(&mut section.items, "would remove");
            return Ok(section);
        }
        let ids: Vec<&str> = chosen.iter().map(|r| r.id.as_str()).collect();
        let prune: &[&str] = match builder {
            Builder::Buildx { .. } => &["buildx", "prune"],
            _ => &["builder", "prune"],
        };
        // The engine takes one id filter, a regular expression: an anchored alternation removes
        // exactly these records (tried on Docker 20.10: other records stay).
        for chunk in ids.chunks(50) {
            let filter = format!("id=^({})$", chunk.join("|"));
            cmd!(sh, "{client} {prune...} --force --filter {filter}")
                .env("DOCKER_BUILDKIT", "1")
                .quiet()
                .ignore_stdout()
                .run()
                .context("docker builder prune failed")?;
        }
        let left = build_cache_records(sh, client)?;
        section.after = left
            .iter()
            .filter(|r| ids.contains(&r.id.as_str()))
            .map(CacheRecord::bytes)
            .sum();
        mark(&mut section.items, "removed");
        Ok(section)
    }

    /// Level all: dangling images that carry this project's labels.
    fn images(&self, sh: &Shell, client: &Path) -> anyhow::Result<Section> {
        let mut section = Section {
            title: "dangling images of this project".to_owned(),
            ..Section::default()
        };
        let format = "{{json .}}";
        let listed = cmd!(
            sh,
            "{client} images --filter dangling=true --no-trunc --format {format}"
        )
        .quiet()
        .read()
        .context("cannot list dangling images")?;
        for line in listed.lines().filter(|l| !l.trim().is_empty()) {
            let image: ImageLine =
                serde_json::from_str(line).context("unexpected `docker images` output")?;
            let format = "{{json .Config.Labels}}";
            let id = &image.id;
            let labels = cmd!(sh, "{client} image inspect --format {format} {id}")
                .quiet()
                .read()
                .unwrap_or_default();
            let labels: BTreeMap<String, String> = serde_json::from_str(&labels)
                .ok()
                .flatten()
                .unwrap_or_default();
            if !image_is_ours(&labels) || !self.label_matches(&labels) {
                continue;
            }
            let bytes = parse_human(&image.size);
            section.before += bytes;
            let short = id
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>();
            let title = labels
                .get("org.opencontainers.image.title")
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            let outcome = self.remove(sh, client, "image", id, bytes, &mut section);
            section.items.push(Item {
                what: format!("image {short}{title}"),
                bytes,
                outcome,
            });
        }
        if self.dry_run {
            section.after = section.before;
        }
        Ok(section)
    }

    /// Level all: named volumes of this project (compose volumes and `cv-` names).
    fn volumes(&self, sh: &Shell, client: &Path) -> anyhow::Result<Section> {
        let mut section = Section {
            title: "named volumes of this project".to_owned(),
            ..Section::default()
        };
        let format = "{{json .}}";
        let listed = cmd!(sh, "{client} volume ls --format {format}")
            .quiet()
            .read()
            .context("cannot list volumes")?;
        let sizes = volume_sizes(sh, client);
        for line in listed.lines().filter(|l| !l.trim().is_empty()) {
            let volume: VolumeLine =
                serde_json::from_str(line).context("unexpected `docker volume ls` output")?;
            let labels = parse_label_list(&volume.labels);
            let compose = labels.get("com.docker.compose.volume").map(String::as_str);
            let ours = volume.name.starts_with("cv-")
                || compose.is_some_and(|v| COMPOSE_VOLUMES.contains(&v));
            if !ours || !self.label_matches(&labels) {
                continue;
            }
            let bytes = sizes.get(&volume.name).copied().unwrap_or(0);
            section.before += bytes;
            let name = &volume.name;
            let outcome = self.remove(sh, client, "volume", name, bytes, &mut section);
            section.items.push(Item {
                what: format!("volume {name}"),
                bytes,
                outcome,
            });
        }
        if self.dry_run {
            section.after = section.before;
        }
        Ok(section)
    }

    /// Removes one image or volume (`kind` is the docker subcommand) unless this is a dry run,
    /// and says what became of it. What Docker refuses to remove (a container still uses it)
    /// stays counted in `section.after`.
    fn remove(
        &self,
        sh: &Shell,
        client: &Path,
        kind: &str,
        name: &str,
        bytes: u64,
        section: &mut Section,
    ) -> String {
        if self.dry_run {
            return "would remove".to_owned();
        }
        let removed = cmd!(sh, "{client} {kind} rm {name}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run();
        match removed {
            Ok(()) => "removed".to_owned(),
            Err(_) => {
                section.after += bytes;
                "kept: a container still uses it".to_owned()
            }
        }
    }

    fn label_matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self.only_label.as_deref().map(|l| l.split_once('=')) {
            None => true,
            Some(Some((key, value))) => labels.get(key).is_some_and(|v| v == value),
            Some(None) => labels.contains_key(self.only_label.as_deref().unwrap_or_default()),
        }
    }
}

fn mark(items: &mut [Item], outcome: &str) {
    for item in items {
        item.outcome = outcome.to_owned();
    }
}

/// Images of this project: the app images (title `cv`) and the stand-in bases.
fn image_is_ours(labels: &BTreeMap<String, String>) -> bool {
    let title = labels
        .get("org.opencontainers.image.title")
        .map(String::as_str);
    title == Some("cv")
        || title.is_some_and(|t| t.starts_with("cv-standin/"))
        || labels.keys().any(|k| k.starts_with("io.cv."))
}

/// `docker volume ls` prints labels as `k=v,k2=v2`.
fn parse_label_list(labels: &str) -> BTreeMap<String, String> {
    labels
        .split(',')
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

/// A client that can prune BuildKit's cache: the same detection `cargo xtask docker` uses, so the
/// 28.x client without buildx is passed over for Debian's 20.10 one.
fn docker_client(sh: &Shell) -> anyhow::Result<(PathBuf, Builder)> {
    let detection = engine::detect(sh, Some(EngineKind::Docker))?;
    Ok((detection.client, detection.builder))
}

/// A target directory outside the project is listed under the project's heading only because
/// cargo names it (CARGO_TARGET_DIR or `build.target-dir`, perhaps another checkout's): the
/// line says so, so that nobody removes it believing it is this project's own.
fn outside_remark(
    dir: &Path,
    root: &Path,
    cargos: &Path,
    env: Option<std::ffi::OsString>,
) -> &'static str {
    if dir.starts_with(root) || dir != cargos {
        ""
    } else if env.is_some_and(|v| !v.is_empty()) {
        "  (CARGO_TARGET_DIR, outside this project)"
    } else {
        "  (build.target-dir, outside this project)"
    }
}

/// The project's target directory as cargo resolves it; an error, with cargo's own words, when
/// cargo cannot read the manifest.
fn metadata_target_dir(sh: &Shell, manifest: &Path) -> anyhow::Result<PathBuf> {
    #[derive(Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = cmd!(
        sh,
        "{cargo} metadata --format-version 1 --no-deps --offline --manifest-path {manifest}"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata cannot read {} (--manifest-path): {}; nothing was removed: give \
             --manifest-path the Cargo.toml of the project to clean",
            manifest.display(),
            cargo_error(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let metadata: Metadata = serde_json::from_slice(&out.stdout)
        .context("cargo metadata printed something other than its JSON; nothing was removed")?;
    Ok(metadata.target_directory)
}

/// Cargo's error as one line: its `error:` prefix dropped, continuation lines joined.
fn cargo_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("error:"))
        .unwrap_or(0);
    let text = lines[start..].join(" ");
    let text = text.strip_prefix("error:").unwrap_or(&text).trim();
    if text.is_empty() {
        "cargo gave no message".to_owned()
    } else {
        text.to_owned()
    }
}

/// Whether cargo made `dir`: its `CACHEDIR.TAG` carries cargo's signature.
fn is_cargo_target_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("CACHEDIR.TAG"))
        .is_ok_and(|tag| tag.starts_with(CARGO_CACHEDIR_TAG))
}

/// Directories under `root` that cargo tagged as its target directories; `.git` and the tagged
/// directories themselves are not descended into.
fn find_tagged_target_dirs(root: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || entry.file_name() == ".git" {
            continue;
        }
        if is_cargo_target_dir(&path) {
            found.push(path);
        } else {
            find_tagged_target_dirs(&path, found);
        }
    }
}

/// Bytes on disk (allocated blocks, symlinks not followed).
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    let children = std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0);
    own + children
}

#[derive(Debug, Deserialize)]
struct CacheRecord {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "CacheType")]
    kind: String,
    #[serde(rename = "Description", default)]
    description: String,
    #[serde(rename = "InUse", default)]
    in_use: String,
    #[serde(rename = "Size", default)]
    size: String,
}

impl CacheRecord {
    fn bytes(&self) -> u64 {
        parse_human(&self.size)
    }

    /// The target path of a cache mount: its description reads "cached mount PATH from …".
    fn mount_path(&self) -> Option<&str> {
        self.description
            .strip_prefix("cached mount ")?
            .split(" from ")
            .next()
    }
}

#[derive(Debug, Deserialize)]
struct ImageLine {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Size", default)]
    size: String,
}

#[derive(Debug, Deserialize)]
struct VolumeLine {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Labels", default)]
    labels: String,
}

fn build_cache_records(sh: &Shell, client: &Path) -> anyhow::Result<Vec<CacheRecord>> {
    let format = "{{json .BuildCache}}";
    let json = cmd!(sh, "{client} system df -v --format {format}")
        .quiet()
        .read()
        .context("cannot list the build cache (docker system df -v)")?;
    let records: Option<Vec<CacheRecord>> =
        serde_json::from_str(&json).context("unexpected `docker system df` output")?;
    Ok(records.unwrap_or_default())
}

fn volume_sizes(sh: &Shell, client: &Path) -> BTreeMap<String, u64> {
    #[derive(Deserialize)]
    struct VolumeSize {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Size", default)]
        size: String,
    }
    let format = "{{json .Volumes}}";
    cmd!(sh, "{client} system df -v --format {format}")
        .quiet()
        .read()
        .ok()
        .and_then(|json| {
            serde_json::from_str::<Option<Vec<VolumeSize>>>(&json)
                .ok()
                .flatten()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.name, parse_human(&v.size)))
        .collect()
}

/// Docker's sizes ("380MB", "1.5kB", "0B", "N/A"): decimal units, as go-units prints them.
fn parse_human(text: &str) -> u64 {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let Ok(number) = number.parse::<f64>() else {
        return 0;
    };
    let scale = match unit.trim() {
        "B" | "" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return 0,
    };
    (number * scale).round() as u64
}

/// Bytes in decimal units, the way Docker prints them.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_sizes_parse_and_print() {
        assert_eq!(parse_human("380MB"), 380_000_000);
        assert_eq!(parse_human("1.5kB"), 1_500);
        assert_eq!(parse_human("0B"), 0);
        assert_eq!(parse_human("N/A"), 0);
        assert_eq!(human(999), "999 B");
        assert_eq!(human(2_177_000_000), "2.2 GB");
    }

    /// `CARGO_TARGET_DIR=/other/checkout/target` was listed as this project's with no remark.
    #[test]
    fn a_target_dir_outside_the_project_says_so() {
        let root = Path::new("/work/p");
        let env = || Some(std::ffi::OsString::from("/elsewhere/target"));
        let outside = Path::new("/elsewhere/target");
        assert_eq!(
            outside_remark(outside, root, outside, env()),
            "  (CARGO_TARGET_DIR, outside this project)"
        );
        assert_eq!(
            outside_remark(outside, root, outside, None),
            "  (build.target-dir, outside this project)"
        );
        let inside = Path::new("/work/p/target");
        assert_eq!(outside_remark(inside, root, inside, env()), "");
        assert_eq!(
            outside_remark(Path::new("/work/p/examples/x/target"), root, outside, env()),
            ""
        );
    }

    #[test]
    fn cargo_errors_become_one_line() {
        assert_eq!(
            cargo_error("error: the manifest-path must be a path to a Cargo.toml file\n"),
            "the manifest-path must be a path to a Cargo.toml file"
        );
        assert_eq!(
            cargo_error(
                "warning: x\nerror: failed to parse manifest at `/p/Cargo.toml`\n\nCaused by:\n  \
                 invalid table\n"
            ),
            "failed to parse manifest at `/p/Cargo.toml` Caused by: invalid table"
        );
        assert_eq!(cargo_error(""), "cargo gave no message");
    }

    #[test]
    fn cache_mount_records_name_their_path() {
        let record = CacheRecord {
            id: "x".into(),
            kind: "exec.cachemount".into(),
            description: "cached mount /src/target from exec /bin/sh -c true".into(),
            in_use: "false".into(),
            size: "1MB".into(),
        };
        assert_eq!(record.mount_path(), Some("/src/target"));
    }

    /// Cache mounts at generic paths are recognised by the `ca_bundle` secret their RUN step
    /// reads; every RUN step with a cache mount must keep doing so, and mount only known ids.
    #[test]
    fn every_cache_mount_in_the_dockerfiles_is_known_and_marked() {
        for mode in ["minimal", "prod", "dev"] {
            let path = paths::docker_dir().join(format!("Dockerfile.{mode}"));
            let text = std::fs::read_to_string(&path).unwrap();
            // Whole RUN instructions, continuation lines joined.
            let joined = text.replace("\\\n", " ");
            for run in joined.lines().filter(|l| l.contains("--mount=type=cache")) {
                for part in run
                    .split_whitespace()
                    .filter(|p| p.starts_with("--mount=type=cache"))
                {
                    let field = |name: &str| {
                        part.split(',')
                            .find_map(|f| f.strip_prefix(name))
                            .unwrap_or_default()
                    };
                    let known = PROJECT_CACHE_MOUNTS
                        .iter()
                        .any(|(p, id)| *p == field("target=") && *id == field("id="));
                    assert!(known, "{mode}: {part} is not in PROJECT_CACHE_MOUNTS");
                    assert!(
                        field("target=").starts_with("/var/cache/cv-") || is_our_run_step(run),
                        "{mode}: {part} is at a generic path in a RUN step with none of \
                         {OUR_RUN_STEP_MARKS:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_our_images_and_labels_match() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(image_is_ours(&labels(&[(
            "org.opencontainers.image.title",
            "cv"
        )])));
        assert!(image_is_ours(&labels(&[(
            "org.opencontainers.image.title",
            "cv-standin/alpine:3"
        )])));
        assert!(!image_is_ours(&labels(&[(
            "org.opencontainers.image.title",
            "cvs"
        )])));
        assert!(!image_is_ours(&labels(&[])));
        assert_eq!(
            parse_label_list("com.docker.compose.volume=cv-data,x"),
            labels(&[("com.docker.compose.volume", "cv-data"), ("x", "")])
        );
    }
}
