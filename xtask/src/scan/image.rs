//! `scan --image`: what is really inside an image, read from `docker save`, not from what its
//! Dockerfile claims.
//!
//! Scanners famously find nothing in a `scratch` image holding one static Rust binary: there is
//! no package database to read, so such scans always pass. This module reads the image itself:
//! the saved archive's manifest and config, then every layer in order with its whiteouts applied,
//! which gives the final file tree (path, mode, owner, size) the container will see. On that tree
//! and the config it runs the image policy (user, shells, package managers, setuid, world-writable
//! files, secrets, healthcheck, static linking), and from each ELF binary it reads the dependency
//! list that `cargo auditable` embeds (the `.dep-v0` section), so the crates compiled into the
//! binary are checked against the advisory database instead of only the lockfile.
//!
//! Archive layouts read: Docker's `docker save` (manifest.json, `<id>/layer.tar` in 20.10,
//! `blobs/sha256/…` in 25+) and a plain OCI image layout (index.json, as `podman save --format
//! oci-archive` or skopeo write it), with uncompressed or gzip layers.
//!
//! Secrets are looked for in every layer as it is read, not only in the final tree: a file that a
//! later layer deletes is still shipped in the earlier layer's tar.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path};
use std::sync::Arc;

use anyhow::Context;
use object::read::elf::{FileHeader, ProgramHeader};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use xshell::{Shell, cmd};

use super::deps::{self, AdvisoryDb};
use super::{Check, Finding, Location, Severity, Tool, secrets};
use crate::docker::Mode;
use crate::retry::Policy;

/// Files up to this size keep their content in the tree (/etc/passwd, small configs).
pub const SMALL_FILE: u64 = 64 * 1024;
/// Files above this size are listed but not read (no secret scan, no ELF analysis).
pub const READ_LIMIT: u64 = 512 * 1024 * 1024;
/// The decompressed `.dep-v0` JSON may not exceed this (cargo-auditable's own default).
const DEP_JSON_LIMIT: usize = 8 * 1024 * 1024;

/// What the image checks are told besides the image.
#[derive(Debug, Default)]
pub struct Options {
    /// The image's kind when the caller knows it (`cargo xtask docker --scan` does); `None`
    /// decides from the image (see [`ImageKind::decide`]).
    pub mode: Option<Mode>,
    /// Texts that must appear nowhere in the image (`--canary`, `CV_SCAN_CANARY`).
    pub canaries: Vec<String>,
    /// Where the advisory database for the binaries' embedded dependencies comes from.
    pub advisories: Advisories,
}

/// The advisory database of an image scan: loaded only when a binary embeds a dependency list,
/// since a scratch image of shell scripts needs none and loading may mean a download.
#[derive(Debug, Default)]
pub enum Advisories {
    /// Load when needed, as `AdvisoryDb::load` does (`--db`, CV_ADVISORY_DB, local copies, a
    /// download through the retry layer).
    Load {
        flag: Option<std::path::PathBuf>,
        policy: Policy,
    },
    /// Do not check: the dependency checks are listed as skipped.
    #[default]
    None,
}

/// Reading an image archive failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the image archive has no {0}; is it a `docker save` or OCI archive?")]
    Missing(String),
    #[error("{name} in the image archive is not valid JSON: {source}")]
    Json {
        name: String,
        source: serde_json::Error,
    },
    #[error("the image archive names no image (empty manifest)")]
    NoImage,
    #[error("layer {name} is compressed with {what}, which this scanner cannot read")]
    Compression { name: String, what: &'static str },
    #[error("cannot read {what} in the image archive: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ReadError {
    let what = what.into();
    move |source| ReadError::Io { what, source }
}

// ---------------------------------------------------------------------------------------------
// The image: config, final tree, what was found while reading the layers.

/// An image as the container will see it.
#[derive(Debug)]
pub struct Image {
    /// The reference it was asked for (`cv:minimal`).
    pub reference: String,
    /// `sha256:…` of the config blob: the image id.
    pub id: String,
    pub config: ConfigFile,
    /// Number of layers applied.
    pub layers: usize,
    pub tree: Tree,
    /// Secrets and canaries found in layer files (in any layer, also deleted ones).
    pub layer_secrets: Vec<LayerSecret>,
}

/// The image config blob (Docker's, of which OCI's is a subset; Docker's adds `Healthcheck`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub history: Vec<History>,
}

/// What a container of the image runs with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Option<Vec<String>>,
}

/// One build step as the image records it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A secret or canary found in a file of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSecret {
    /// 1-based layer number.
    pub layer: usize,
    /// `/path/in/image`.
    pub path: String,
    /// What it looks like ("GitHub token", "private key"), or `None` for a canary.
    pub kind: Option<&'static str>,
}

impl Image {
    /// Saves `reference` with the engine's client and reads it.
    pub fn save_and_read(
        sh: &Shell,
        reference: &str,
        canaries: &[String],
    ) -> anyhow::Result<Image> {
        let client = container_client()?;
        let dir = sh
            .create_temp_dir()
            .context("cannot make a temporary directory for the saved image")?;
        let archive = dir.path().join("image.tar");
        let out = cmd!(sh, "{client} save --output {archive} {reference}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("cannot run {}", client.display()))?;
        if !out.status.success() {
            anyhow::bail!(
                "cannot read image {reference}: `{} save` failed: {}; build or pull it first",
                client.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let file = std::fs::File::open(&archive)
            .with_context(|| format!("cannot open {}", archive.display()))?;
        Image::read(reference, file, canaries)
            .with_context(|| format!("cannot read image {reference} from its saved archive"))
    }

    /// Reads an image archive (`docker save` or OCI layout, as a tar).
    pub fn read<R: Read + Seek>(
        reference: &str,
        reader: R,
        canaries: &[String],
    ) -> Result<Image, ReadError> {
        let mut archive = Archive::index(reader)?;
        let (config_name, layer_names) = archive.locate(reference)?;
        let config_bytes = archive.read_all(&config_name)?;
        let config: ConfigFile =
            serde_json::from_slice(&config_bytes).map_err(|source| ReadError::Json {
                name: config_name.clone(),
                source,
            })?;
        let id = format!("sha256:{}", hex(&Sha256::digest(&config_bytes)));
        let mut tree = Tree::default();
        let mut layer_secrets = Vec::new();
        for (index, name) in layer_names.iter().enumerate() {
            let layer = index + 1;
            let reader = archive.open(name)?;
            let reader = decompressed(name, BufReader::new(reader))?;
            tree.apply_layer(layer, reader, &mut |path, bytes| {
                layer_secrets.extend(find_secrets(bytes, canaries).into_iter().map(|kind| {
                    LayerSecret {
                        layer,
                        path: format!("/{path}"),
                        kind,
                    }
                }));
            })
            .map_err(io(format!("layer {layer} ({name})")))?;
        }
        Ok(Image {
            reference: reference.to_owned(),
            id,
            config,
            layers: layer_names.len(),
            tree,
            layer_secrets,
        })
    }

    pub fn run_config(&self) -> RunConfig {
        self.config.config.clone().unwrap_or_default()
    }

    /// Every ELF file of the final tree, by path.
    pub fn binaries(&self) -> impl Iterator<Item = (&str, &Node, &ElfFacts)> {
        self.tree
            .nodes
            .iter()
            .filter_map(|(path, node)| node.elf.as_deref().map(|elf| (path.as_str(), node, elf)))
    }
}

/// The client that saves images: Docker's (the engine the builds use), else podman's, whose
/// `save` writes the same archive format by default.
fn container_client() -> anyhow::Result<std::path::PathBuf> {
    ["docker", "podman"]
        .iter()
        .find_map(|name| which::which(name).ok())
        .context("no docker or podman client on PATH to save the image with; install Docker (scripts/setup-machine.sh)")
}

/// The secrets in one file's bytes: a token format or a private key (one per file, the first),
/// and each canary.
fn find_secrets(bytes: &[u8], canaries: &[String]) -> Vec<Option<&'static str>> {
    let text = String::from_utf8_lossy(bytes);
    let mut found: Vec<Option<&'static str>> =
        secrets::find_token(&text).map(Some).into_iter().collect();
    for canary in canaries.iter().filter(|c| !c.is_empty()) {
        if text.contains(canary.as_str()) {
            found.push(None);
        }
    }
    found
}

/// A layer reader with its compression removed (gzip in OCI archives; Docker saves plain tars).
fn decompressed<'a, R: BufRead + 'a>(
    name: &str,
    mut reader: R,
) -> Result<Box<dyn Read + 'a>, ReadError> {
    let magic = reader.fill_buf().map_err(io(name))?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::GzDecoder::new(reader)))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(ReadError::Compression {
            name: name.to_owned(),
            what: "zstd",
        })
    } else {
        Ok(Box::new(reader))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// The outer archive: an index of its entries, read by seeking.

/// The saved archive, indexed once so the manifest (which Docker writes last) and the layers can
/// be read in any order without unpacking anything to disk.
struct Archive<R> {
    reader: R,
    entries: HashMap<String, ArchiveEntry>,
}

enum ArchiveEntry {
    File {
        position: u64,
        size: u64,
    },
    /// Docker 20.10 links a layer that two images share instead of storing it twice.
    Link(String),
}

impl<R: Read + Seek> Archive<R> {
    fn index(mut reader: R) -> Result<Archive<R>, ReadError> {
        let mut entries = HashMap::new();
        {
            let mut tar = tar::Archive::new(&mut reader);
            for entry in tar.entries_with_seek().map_err(io("the archive"))? {
                let entry = entry.map_err(io("an archive entry"))?;
                let Some(name) = entry.path().ok().and_then(|p| normalize(&p)) else {
                    continue;
                };
                let kind = entry.header().entry_type();
                if kind.is_file() {
                    entries.insert(
                        name,
                        ArchiveEntry::File {
                            position: entry.raw_file_position(),
                            size: entry.size(),
                        },
                    );
                } else if kind.is_symlink() || kind.is_hard_link() {
                    let Some(target) = entry.link_name().ok().flatten() else {
                        continue;
                    };
                    let target = if kind.is_symlink() {
                        let parent = Path::new(&name).parent().unwrap_or(Path::new(""));
                        parent.join(target)
                    } else {
                        target.into_owned()
                    };
                    if let Some(target) = normalize(&target) {
                        entries.insert(name, ArchiveEntry::Link(target));
                    }
                }
            }
        }
        Ok(Archive { reader, entries })
    }

    /// The entry's content, following links.
    fn open(&mut self, name: &str) -> Result<EntryReader<'_, R>, ReadError> {
        let mut current = name.to_owned();
        for _ in 0..8 {
            match self.entries.get(&current) {
                Some(ArchiveEntry::File { position, size }) => {
                    return Ok(EntryReader {
                        reader: &mut self.reader,
                        position: *position,
                        remaining: *size,
                    });
                }
                Some(ArchiveEntry::Link(target)) => current = target.clone(),
                None => break,
            }
        }
        Err(ReadError::Missing(name.to_owned()))
    }

    fn read_all(&mut self, name: &str) -> Result<Vec<u8>, ReadError> {
        let mut bytes = Vec::new();
        self.open(name)?.read_to_end(&mut bytes).map_err(io(name))?;
        Ok(bytes)
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self, name: &str) -> Result<T, ReadError> {
        let bytes = self.read_all(name)?;
        serde_json::from_slice(&bytes).map_err(|source| ReadError::Json {
            name: name.to_owned(),
            source,
        })
    }

    /// The config and the layers, in order, of the image `reference` names (or the only one).
    fn locate(&mut self, reference: &str) -> Result<(String, Vec<String>), ReadError> {
        if self.entries.contains_key("manifest.json") {
            let manifest: Vec<DockerManifest> = self.json("manifest.json")?;
            let chosen = manifest
                .iter()
                .find(|m| m.repo_tags.iter().flatten().any(|t| t == reference))
                .or_else(|| manifest.first())
                .ok_or(ReadError::NoImage)?;
            return Ok((chosen.config.clone(), chosen.layers.clone()));
        }
        if self.entries.contains_key("index.json") {
            let mut index: OciIndex = self.json("index.json")?;
            // An index may point to further indexes (one per platform list); the first image
            // manifest for linux/amd64, else the first, is the image.
            for _ in 0..4 {
                let chosen = index
                    .manifests
                    .iter()
                    .find(|d| {
                        d.platform
                            .as_ref()
                            .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
                    })
                    .or_else(|| index.manifests.first())
                    .ok_or(ReadError::NoImage)?
                    .clone();
                let name = blob_path(&chosen.digest);
                if chosen.media_type.contains("index")
                    || chosen.media_type.contains("manifest.list")
                {
                    index = self.json(&name)?;
                    continue;
                }
                let manifest: OciManifest = self.json(&name)?;
                let layers = manifest
                    .layers
                    .iter()
                    .map(|l| blob_path(&l.digest))
                    .collect();
                return Ok((blob_path(&manifest.config.digest), layers));
            }
            return Err(ReadError::NoImage);
        }
        Err(ReadError::Missing("manifest.json or index.json".into()))
    }
}

fn blob_path(digest: &str) -> String {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    format!("blobs/{algorithm}/{hex}")
}

/// One entry's bytes, read from the shared archive file by seeking.
struct EntryReader<'a, R> {
    reader: &'a mut R,
    position: u64,
    remaining: u64,
}

impl<R: Read + Seek> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        // Seeking every time keeps the reader right even if something else moved it.
        self.reader.seek(SeekFrom::Start(self.position))?;
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.reader.read(&mut buf[..want])?;
        self.position += read as u64;
        self.remaining -= read as u64;
        Ok(read)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<OciDescriptor>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<OciPlatform>,
}

#[derive(Clone, Deserialize)]
struct OciPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct OciManifest {
    config: OciDescriptor,
    #[serde(default)]
    layers: Vec<OciDescriptor>,
}

/// `a/./b/../c` → `a/c`, without a leading `/`; `None` for a path that is not UTF-8.
fn normalize(path: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(parts.join("/"))
}

// ---------------------------------------------------------------------------------------------
// The file tree: layers applied in order, whiteouts honoured.

/// The final file tree, keyed by path without a leading `/` (`usr/local/bin/cv`).
#[derive(Debug, Default)]
pub struct Tree {
    pub nodes: BTreeMap<String, Node>,
}

/// One file system entry as the last layer that touched it left it.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    /// Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// 1-based number of the layer it comes from.
    pub layer: usize,
    /// The content of a regular file up to [`SMALL_FILE`] bytes.
    pub content: Option<Arc<[u8]>>,
    /// What an ELF file is (static or not, its embedded dependencies).
    pub elf: Option<Arc<ElfFacts>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir,
    Symlink(String),
    /// Devices, FIFOs.
    Other,
}

/// The whiteout prefix of the OCI and Docker layer formats: `.wh.NAME` deletes NAME.
const WHITEOUT: &str = ".wh.";
/// In a directory, deletes everything lower layers put there.
const OPAQUE: &str = ".wh..wh..opq";

impl Tree {
    /// Applies one layer tar on top of the tree. `on_file` sees every regular file's bytes (up to
    /// [`READ_LIMIT`]) as they stream by, for the secret scan.
    pub fn apply_layer(
        &mut self,
        layer: usize,
        reader: impl Read,
        on_file: &mut dyn FnMut(&str, &[u8]),
    ) -> std::io::Result<()> {
        let mut archive = tar::Archive::new(reader);
        // Whiteouts delete from the layers below only: entries of this layer are collected first
        // and added after the deletions, whatever order the tar lists them in.
        let mut deleted = Vec::new();
        let mut opaque = Vec::new();
        let mut added: Vec<(String, Node, Option<String>)> = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let Some(path) = entry.path().ok().and_then(|p| normalize(&p)) else {
                continue;
            };
            if path.is_empty() {
                continue;
            }
            let (parent, name) = match path.rsplit_once('/') {
                Some((parent, name)) => (parent.to_owned(), name),
                None => (String::new(), path.as_str()),
            };
            if name == OPAQUE {
                opaque.push(parent);
                continue;
            }
            if let Some(target) = name.strip_prefix(WHITEOUT) {
                deleted.push(join(&parent, target));
                continue;
            }
            let header = entry.header();
            let mode = header.mode()? & 0o7777;
            let uid = header.uid()?;
            let gid = header.gid()?;
            let size = entry.size();
            let kind = header.entry_type();
            let mut hard_link = None;
            let node_kind = if kind.is_dir() {
                NodeKind::Dir
            } else if kind.is_symlink() {
                let target = entry
                    .link_name()?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                NodeKind::Symlink(target)
            } else if kind.is_hard_link() {
                hard_link = entry.link_name()?.and_then(|t| normalize(&t));
                NodeKind::File
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                NodeKind::File
            } else {
                NodeKind::Other
            };
            let mut node = Node {
                kind: node_kind,
                mode,
                uid,
                gid,
                size,
                layer,
                content: None,
                elf: None,
            };
            if node.kind == NodeKind::File && hard_link.is_none() && size <= READ_LIMIT {
                let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                entry.read_to_end(&mut bytes)?;
                on_file(&path, &bytes);
                node.elf = analyse_elf(&bytes).map(Arc::new);
                if size <= SMALL_FILE {
                    node.content = Some(bytes.into());
                }
            }
            added.push((path, node, hard_link));
        }
        for dir in opaque {
            let prefix = format!("{dir}/");
            self.nodes
                .retain(|path, _| !(path.starts_with(&prefix) || dir.is_empty()));
        }
        for path in deleted {
            self.remove(&path);
        }
        for (path, mut node, hard_link) in added {
            if let Some(target) = hard_link
                && let Some(original) = self.nodes.get(&target)
            {
                // A hard link is the same file: its content and what it is come from the target.
                node.size = original.size;
                node.content = original.content.clone();
                node.elf = original.elf.clone();
            }
            if node.kind != NodeKind::Dir {
                // A file replacing a directory replaces what was inside it too.
                self.remove(&path);
            }
            self.nodes.insert(path, node);
        }
        Ok(())
    }

    /// Removes `path` and everything under it.
    fn remove(&mut self, path: &str) {
        let prefix = format!("{path}/");
        self.nodes
            .retain(|p, _| p != path && !p.starts_with(&prefix));
    }

    /// The node `path` names, following symlinks as the kernel would (at most 40), with the
    /// path it resolved to.
    pub fn resolve(&self, path: &str) -> Option<(String, &Node)> {
        let mut pending: Vec<String> = split(path).into_iter().rev().collect();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                current.pop();
                continue;
            }
            current.push(part);
            let joined = current.join("/");
            if let Some(Node {
                kind: NodeKind::Symlink(target),
                ..
            }) = self.nodes.get(&joined)
            {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                current.pop();
                if target.starts_with('/') {
                    current.clear();
                }
                pending.extend(split(target).into_iter().rev());
            }
        }
        let joined = current.join("/");
        self.nodes.get(&joined).map(|node| (joined, node))
    }

    /// The content of a small regular file, following symlinks.
    pub fn small_file(&self, path: &str) -> Option<&[u8]> {
        self.resolve(path)
            .and_then(|(_, node)| node.content.as_deref())
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

fn split(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// ELF binaries: static or not, and the dependency list cargo-auditable embeds.

/// What an ELF file is.
#[derive(Debug, Clone)]
pub struct ElfFacts {
    /// The program interpreter (`PT_INTERP`, e.g. /lib64/ld-linux-x86-64.so.2): set means the
    /// binary is dynamically linked and needs a libc in the image.
    pub interpreter: Option<String>,
    /// Whether it looks like a Rust program (a `.dep-v0` section, or [`RUST_MARKERS`]).
    pub rust: bool,
    pub dependencies: Dependencies,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// The dependency list a binary carries.
#[derive(Debug, Clone)]
pub enum Dependencies {
    /// From the `.dep-v0` section.
    Embedded(Vec<Package>),
    /// No `.dep-v0` section: built without `cargo auditable`.
    Missing,
    /// A `.dep-v0` section that could not be read, and why.
    Unreadable(String),
}

/// One package of an embedded dependency list (cargo-auditable's format, version 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// `crates.io`, `local`, `git`, `registry`, …
    pub source: String,
    /// Only needed to build it (build scripts, proc macros), not compiled into the binary.
    pub build_only: bool,
    /// Indices into the same list.
    pub dependencies: Vec<usize>,
    /// The package the binary belongs to.
    pub root: bool,
}

fn analyse_elf(bytes: &[u8]) -> Option<ElfFacts> {
    if !bytes.starts_with(b"\x7fELF") {
        return None;
    }
    let (interpreter, has_dep_section) = match object::FileKind::parse(bytes).ok()? {
        object::FileKind::Elf32 => {
            elf_headers::<object::elf::FileHeader32<object::Endianness>>(bytes)?
        }
        object::FileKind::Elf64 => {
            elf_headers::<object::elf::FileHeader64<object::Endianness>>(bytes)?
        }
        _ => return None,
    };
    let dependencies = if has_dep_section {
        match embedded_list(bytes) {
            Ok(packages) => Dependencies::Embedded(packages),
            Err(why) => Dependencies::Unreadable(why),
        }
    } else {
        Dependencies::Missing
    };
    let rust = has_dep_section || RUST_MARKERS.iter().any(|marker| contains(bytes, marker));
    Some(ElfFacts {
        interpreter,
        rust,
        dependencies,
        sha256: hex(&Sha256::digest(bytes)),
    })
}

/// The `.dep-v0` list: zlib-compressed JSON, unpacked by cargo-auditable's own reader (which
/// bounds the size, against zip bombs) and parsed here.
fn embedded_list(bytes: &[u8]) -> Result<Vec<Package>, String> {
    #[derive(Deserialize)]
    struct List {
        packages: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        name: String,
        version: String,
        source: String,
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        dependencies: Vec<usize>,
        #[serde(default)]
        root: bool,
    }
    let json = auditable_info::json_from_slice(bytes, DEP_JSON_LIMIT).map_err(|e| e.to_string())?;
    let list: List = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    Ok(list
        .packages
        .into_iter()
        .map(|p| Package {
            name: p.name,
            version: p.version,
            source: p.source,
            build_only: p.kind.as_deref() == Some("build"),
            dependencies: p.dependencies,
            root: p.root,
        })
        .collect())
}

/// The interpreter and whether a `.dep-v0` section exists.
fn elf_headers<H: FileHeader<Endian = object::Endianness>>(
    bytes: &[u8],
) -> Option<(Option<String>, bool)> {
    let header = H::parse(bytes).ok()?;
    let endian = header.endian().ok()?;
    let interpreter = header
        .program_headers(endian, bytes)
        .ok()?
        .iter()
        .find(|segment| segment.p_type(endian) == object::elf::PT_INTERP)
        .and_then(|segment| segment.data(endian, bytes).ok())
        .map(|data| {
            let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
            String::from_utf8_lossy(&data[..end]).into_owned()
        });
    let has_dep_section = header
        .sections(endian, bytes)
        .is_ok_and(|sections| sections.section_by_name(endian, b".dep-v0").is_some());
    Some((interpreter, has_dep_section))
}

/// Texts only Rust programs hold, even stripped: rustc's source paths in panic locations, and
/// a panic message of `core` (for builds that remap the paths away).
const RUST_MARKERS: &[&[u8]] = &[b"/rustc/", b"called `Option::unwrap()` on a `None` value"];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Which kind of image it is: some rules hold only for minimal images, one only for prod.

/// The image's kind and how it was decided, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageKind {
    pub mode: Mode,
    pub source: KindSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindSource {
    /// The caller said (`cargo xtask docker --scan` knows the mode it built).
    Given,
    /// This project's `org.opencontainers.image.description` label says "(minimal image)" etc.
    Label,
    /// No /etc/os-release: nothing in it came from a distribution, as in a `scratch` image.
    NoDistribution,
    /// A distribution's image: held to the prod rules.
    Distribution,
}

impl ImageKind {
    /// Given, else the project's description label, else from the contents: an image without an
    /// os-release file was assembled file by file (`FROM scratch`) and is held to the minimal
    /// rules; any other is held to the prod rules.
    pub fn decide(image: &Image, given: Option<Mode>) -> ImageKind {
        if let Some(mode) = given {
            return ImageKind {
                mode,
                source: KindSource::Given,
            };
        }
        let description = image
            .run_config()
            .labels
            .and_then(|labels| labels.get("org.opencontainers.image.description").cloned())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let labelled = [
            ("minimal image", Mode::Minimal),
            ("production image", Mode::Prod),
            ("development image", Mode::Dev),
        ]
        .into_iter()
        .find(|(words, _)| description.contains(words));
        if let Some((_, mode)) = labelled {
            return ImageKind {
                mode,
                source: KindSource::Label,
            };
        }
        let distribution = ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .any(|p| image.tree.resolve(p).is_some());
        if distribution {
            ImageKind {
                mode: Mode::Prod,
                source: KindSource::Distribution,
            }
        } else {
            ImageKind {
                mode: Mode::Minimal,
                source: KindSource::NoDistribution,
            }
        }
    }

    fn explain(self) -> String {
        let why = match self.source {
            KindSource::Given => "as built",
            KindSource::Label => "from its description label",
            KindSource::NoDistribution => "no /etc/os-release: assembled like a scratch image",
            KindSource::Distribution => "it has a distribution's /etc/os-release",
        };
        format!("a {} image ({why})", self.mode.name())
    }
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// Saves and reads the image, then runs every image check on it.
pub fn scan(sh: &Shell, image_ref: &str, opts: &Options) -> anyhow::Result<Vec<Check>> {
    inspect(sh, image_ref, opts).map(|(_, checks)| checks)
}

/// Like [`scan`], also returning what was read (for the SBOM).
pub fn inspect(sh: &Shell, image_ref: &str, opts: &Options) -> anyhow::Result<(Image, Vec<Check>)> {
    let image = Image::save_and_read(sh, image_ref, &opts.canaries)?;
    let checks = checks(&image, opts)
        .with_context(|| format!("cannot check the dependencies of the image {image_ref}"))?;
    Ok((image, checks))
}

/// The canaries given, plus CV_SCAN_CANARY's value when set (how CI plants one without putting
/// it on a command line).
pub fn canaries_with_env(given: &[String]) -> Vec<String> {
    let mut all = given.to_vec();
    all.extend(
        std::env::var("CV_SCAN_CANARY")
            .ok()
            .filter(|c| !c.is_empty()),
    );
    all
}

/// Every image check, in the order the report lists them. An error only for an advisory
/// database named explicitly that cannot be used (see [`dependency_checks`]).
pub fn checks(image: &Image, opts: &Options) -> anyhow::Result<Vec<Check>> {
    let kind = ImageKind::decide(image, opts.mode);
    let target = image.reference.as_str();
    let mut checks = vec![
        Check::ran("image-user", target, user(image)),
        minimal_only(kind, "image-shell", target, "a shell", || {
            tools(image, SHELLS, "CVI003", "a shell")
        }),
        minimal_only(
            kind,
            "image-package-manager",
            target,
            "a package manager",
            || tools(image, PACKAGE_MANAGERS, "CVI004", "a package manager"),
        ),
        Check::ran("image-setuid", target, setuid(image)),
        Check::ran("image-world-writable", target, world_writable(image)),
        Check::ran(
            "image-secrets-config",
            target,
            config_secrets(image, &opts.canaries),
        ),
        Check::ran("image-secrets-files", target, file_secrets(image)),
        if kind.mode == Mode::Prod {
            Check::ran("image-healthcheck", target, healthcheck(image))
        } else {
            Check::skipped(
                "image-healthcheck",
                target,
                format!(
                    "{}: the HEALTHCHECK rule is for prod images",
                    kind.explain()
                ),
            )
        },
        minimal_only(
            kind,
            "image-static",
            target,
            "a dynamically linked binary",
            || dynamic_binaries(image),
        ),
    ];
    checks.extend(dependency_checks(image, &opts.advisories)?);
    Ok(checks)
}

fn minimal_only(
    kind: ImageKind,
    id: &str,
    target: &str,
    what: &str,
    run: impl FnOnce() -> Vec<Finding>,
) -> Check {
    if kind.mode == Mode::Minimal {
        Check::ran(id, target, run())
    } else {
        Check::skipped(
            id,
            target,
            format!(
                "{}: only minimal images must not have {what}",
                kind.explain()
            ),
        )
    }
}

fn finding(
    rule: &str,
    severity: Severity,
    image: &Image,
    path: Option<&str>,
    message: String,
) -> Finding {
    Finding {
        rule: rule.to_owned(),
        severity,
        tool: Tool::Builtin,
        message,
        location: Some(Location {
            path: match path {
                Some(path) => format!("{}:{path}", image.reference),
                None => image.reference.clone(),
            },
            line: None,
        }),
    }
}

/// CVI001: the container's processes run as root; CVI002: a user name the image does not know.
fn user(image: &Image) -> Vec<Finding> {
    let user = image.run_config().user.unwrap_or_default();
    let name = user.split(':').next().unwrap_or_default();
    let root = |how: String| {
        vec![finding(
            "CVI001",
            Severity::High,
            image,
            None,
            format!(
                "runs as root ({how}); add `USER 65532:65532` (a numeric non-root id) to the final stage"
            ),
        )]
    };
    if name.is_empty() {
        return root("no USER".into());
    }
    if name == "root" || name == "0" {
        return root(format!("USER {user}"));
    }
    if name.parse::<u64>().is_ok() {
        return Vec::new();
    }
    let passwd = image
        .tree
        .small_file("etc/passwd")
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default();
    let uid = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name)).then(|| fields.nth(1).unwrap_or_default().to_owned())
    });
    match uid.as_deref() {
        Some("0") => root(format!("USER {user} has uid 0 in /etc/passwd")),
        Some(_) => Vec::new(),
        None => vec![finding(
            "CVI002",
            Severity::Medium,
            image,
            Some("/etc/passwd"),
            format!(
                "USER {user} is not in /etc/passwd, so the container cannot start; use a numeric id"
            ),
        )],
    }
}

const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"];
const PACKAGE_MANAGERS: &[&str] = &[
    "apk", "apt", "apt-get", "dpkg", "yum", "dnf", "microdnf", "rpm", "zypper", "pacman", "pip",
];

/// Whether a file name is one of `names`; `pip3`, `pip3.11` count as `pip`.
fn tool_name(file: &str, names: &[&str]) -> bool {
    names.contains(&file)
        || (names.contains(&"pip")
            && file.strip_prefix("pip").is_some_and(|rest| {
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
            }))
}

/// CVI003/CVI004: executables by the names of shells or package managers, wherever they are
/// (a symlink counts when it leads to an executable file: Alpine's /bin/sh → busybox).
fn tools(image: &Image, names: &[&str], rule: &str, what: &str) -> Vec<Finding> {
    image
        .tree
        .nodes
        .keys()
        .filter(|path| tool_name(path.rsplit('/').next().unwrap_or(path), names))
        .filter_map(|path| {
            let (resolved, node) = image.tree.resolve(path)?;
            (node.kind == NodeKind::File && node.mode & 0o111 != 0).then_some((path, resolved))
        })
        .map(|(path, resolved)| {
            let via = if *path == resolved {
                String::new()
            } else {
                format!(" (→ /{resolved})")
            };
            finding(
                rule,
                Severity::High,
                image,
                Some(&format!("/{path}")),
                format!("{what} in a minimal image: /{path}{via}; copy only the binary and the files it needs into `scratch`"),
            )
        })
        .collect()
}

/// CVI005: setuid or setgid files.
fn setuid(image: &Image) -> Vec<Finding> {
    image
        .tree
        .nodes
        .iter()
        .filter(|(_, node)| node.kind == NodeKind::File && node.mode & 0o6000 != 0)
        .map(|(path, node)| {
            let bits = match (node.mode & 0o4000 != 0, node.mode & 0o2000 != 0) {
                (true, true) => "setuid and setgid",
                (true, false) => "setuid",
                _ => "setgid",
            };
            finding(
                "CVI005",
                Severity::High,
                image,
                Some(&format!("/{path}")),
                format!("/{path} is {bits} (mode {:04o}, owner {}:{}): a way to gain its owner's rights; `chmod u-s,g-s` it in the build", node.mode, node.uid, node.gid),
            )
        })
        .collect()
}

/// CVI006: files and directories anyone may write (directories with the sticky bit, like
/// /tmp, are fine: there, only a file's owner may delete it).
fn world_writable(image: &Image) -> Vec<Finding> {
    image
        .tree
        .nodes
        .iter()
        .filter(|(_, node)| match node.kind {
            NodeKind::File => node.mode & 0o002 != 0,
            NodeKind::Dir => node.mode & 0o002 != 0 && node.mode & 0o1000 == 0,
            NodeKind::Symlink(_) | NodeKind::Other => false,
        })
        .map(|(path, node)| {
            let what = if node.kind == NodeKind::Dir {
                "directory"
            } else {
                "file"
            };
            finding(
                "CVI006",
                Severity::Medium,
                image,
                Some(&format!("/{path}")),
                format!(
                    "/{path} is a world-writable {what} (mode {:04o}); `chmod o-w` it in the build",
                    node.mode
                ),
            )
        })
        .collect()
}

/// CVI007/CVI008/CVI009 in the config: env, labels, history.
fn config_secrets(image: &Image, canaries: &[String]) -> Vec<Finding> {
    let run = image.run_config();
    let mut places: Vec<(String, String)> = Vec::new();
    let mut findings = Vec::new();
    for var in run.env.unwrap_or_default() {
        let (name, value) = var.split_once('=').unwrap_or((var.as_str(), ""));
        if secrets::is_secret_name(name) && !value.is_empty() {
            findings.push(finding(
                "CVI009",
                Severity::High,
                image,
                None,
                format!("ENV {name} holds a value and its name says it is a secret; pass secrets at run time (`docker run --env`, a secret file), not in the image"),
            ));
        }
        places.push((format!("ENV {name}"), var.clone()));
    }
    for (key, value) in run.labels.unwrap_or_default() {
        places.push((format!("LABEL {key}"), format!("{key}={value}")));
    }
    for (step, history) in image.config.history.iter().enumerate() {
        for text in [&history.created_by, &history.comment]
            .into_iter()
            .flatten()
        {
            places.push((format!("history step {}", step + 1), text.clone()));
        }
    }
    for (place, text) in places {
        if let Some(kind) = secrets::find_token(&text) {
            findings.push(finding(
                "CVI007",
                Severity::Critical,
                image,
                None,
                format!("{place} holds {}; rotate it and pass it as a build secret (`RUN --mount=type=secret`) or at run time", secrets::with_article(kind)),
            ));
        }
        for canary in canaries.iter().filter(|c| !c.is_empty()) {
            if text.contains(canary.as_str()) {
                findings.push(finding(
                    "CVI008",
                    Severity::Critical,
                    image,
                    None,
                    format!(
                        "{place} holds the canary text: a build secret leaked into the image config"
                    ),
                ));
            }
        }
    }
    findings
}

/// CVI007/CVI008 in layer files, in every layer.
fn file_secrets(image: &Image) -> Vec<Finding> {
    image
        .layer_secrets
        .iter()
        .map(|secret| {
            let (rule, what) = match secret.kind {
                Some(kind) => ("CVI007", secrets::with_article(kind)),
                None => ("CVI008", "the canary text".to_owned()),
            };
            let still = match image.tree.nodes.get(secret.path.trim_start_matches('/')) {
                Some(node) if node.layer == secret.layer => String::new(),
                _ => " (a later layer hides it, but the layer still ships it)".to_owned(),
            };
            finding(
                rule,
                Severity::Critical,
                image,
                Some(&secret.path),
                format!("{} in layer {} holds {what}{still}; use a build secret (`RUN --mount=type=secret`) and rotate it", secret.path, secret.layer),
            )
        })
        .collect()
}

/// CVI010: a prod image without a HEALTHCHECK (or with `HEALTHCHECK NONE`).
fn healthcheck(image: &Image) -> Vec<Finding> {
    let test = image
        .run_config()
        .healthcheck
        .and_then(|h| h.test)
        .unwrap_or_default();
    if test.is_empty() || test.first().is_some_and(|t| t == "NONE") {
        vec![finding(
            "CVI010",
            Severity::Medium,
            image,
            None,
            "no HEALTHCHECK: the engine cannot tell a hung server from a working one; add one that needs no shell (`CMD [\"/app\", \"healthcheck\"]`)".into(),
        )]
    } else {
        Vec::new()
    }
}

/// CVI011: a dynamically linked binary in a minimal image (it needs a libc the image lacks).
fn dynamic_binaries(image: &Image) -> Vec<Finding> {
    image
        .binaries()
        .filter_map(|(path, _, elf)| {
            let interpreter = elf.interpreter.as_ref()?;
            let present = if image.tree.resolve(interpreter).is_some() {
                "present"
            } else {
                "absent, so it cannot even start"
            };
            Some(finding(
                "CVI011",
                Severity::High,
                image,
                Some(&format!("/{path}")),
                format!("/{path} is dynamically linked (interpreter {interpreter}, {present}); link it statically (e.g. the musl target, or `-C target-feature=+crt-static`)"),
            ))
        })
        .collect()
}

/// One `image-dependencies` check per binary that matters: every binary with an embedded list
/// (its packages checked against the advisory database), and every Rust binary without one
/// (CVI012) or with a broken one (CVI013). C binaries of a distribution
/// (busybox, musl's loader) belong to its package database, which this check does not read.
///
/// A database named with `--db` or CV_ADVISORY_DB that is missing, not a database or empty is
/// an error, as it is for a lockfile: the user asked for that one, and a skipped check would
/// hide the mistake. It is opened even when no binary needs it (opening a directory costs no
/// download). Without one, a database that cannot be had (no copy, the download failed) only
/// skips the check, with the reason.
fn dependency_checks(image: &Image, advisories: &Advisories) -> anyhow::Result<Vec<Check>> {
    let embeds = image
        .binaries()
        .any(|(_, _, elf)| matches!(elf.dependencies, Dependencies::Embedded(_)));
    let loaded;
    let db: Result<&AdvisoryDb, String> = match advisories {
        Advisories::Load {
            flag: Some(path),
            policy,
        } => {
            loaded = AdvisoryDb::load(Some(path), *policy)?;
            Ok(&loaded)
        }
        _ if !embeds => Err(String::new()),
        Advisories::Load { flag: None, policy } => match AdvisoryDb::load(None, *policy) {
            Ok(db) => {
                loaded = db;
                Ok(&loaded)
            }
            // The error already begins "no advisory database: pass --db …".
            Err(err) => Err(format!("{err:#}")),
        },
        Advisories::None => Err("no advisory database was given".to_owned()),
    };
    let mut checks = Vec::new();
    for (path, _, elf) in image.binaries() {
        let target = format!("{}:/{path}", image.reference);
        match &elf.dependencies {
            Dependencies::Embedded(packages) => {
                let shown = format!("{target} ({} packages embedded)", packages.len());
                checks.push(match &db {
                    Ok(db) => {
                        let findings = deps::check_packages(db, &advisory_inputs(packages), &target);
                        Check::ran("image-dependencies", shown, findings)
                    }
                    Err(why) => Check::skipped("image-dependencies", shown, why.clone()),
                });
            }
            Dependencies::Missing if elf.rust => checks.push(Check::ran(
                "image-dependencies",
                target,
                vec![finding(
                    "CVI012",
                    Severity::Medium,
                    image,
                    Some(&format!("/{path}")),
                    format!("/{path} carries no dependency list (no .dep-v0 section), so the crates compiled into it cannot be checked; build it with `cargo auditable build` (`cargo install --locked cargo-auditable`)"),
                )],
            )),
            Dependencies::Missing => {}
            Dependencies::Unreadable(why) => checks.push(Check::ran(
                "image-dependencies",
                target,
                vec![finding(
                    "CVI013",
                    Severity::Medium,
                    image,
                    Some(&format!("/{path}")),
                    format!("/{path} has a .dep-v0 section that cannot be read ({why}); rebuild it with a current cargo-auditable"),
                )],
            )),
        }
    }
    if checks.is_empty() {
        checks.push(Check::ran(
            "image-dependencies",
            image.reference.as_str(),
            Vec::new(),
        ));
    }
    Ok(checks)
}

/// The packages the advisory database can speak about: compiled into the binary (not build-only)
/// and published (not the workspace's own crates).
fn advisory_inputs(packages: &[Package]) -> Vec<(String, String)> {
    packages
        .iter()
        .filter(|p| !p.build_only && p.source != "local")
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

/// Builders for the tests here and in `sbom`: layer tars, saved-image archives and ELF files
/// made in memory, so the reader is tested on bytes whose every detail the test chose.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Write;

    /// One entry of a layer tar.
    pub enum Entry<'a> {
        File(&'a str, u32, &'a [u8]),
        /// A file with an owner: path, mode, uid, content.
        Owned(&'a str, u32, u64, &'a [u8]),
        Dir(&'a str, u32),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
    }

    pub fn layer(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut header = tar::Header::new_ustar();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            let (path, data): (&str, &[u8]) = match entry {
                Entry::File(path, mode, data) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    (path, data)
                }
                Entry::Owned(path, mode, uid, data) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_uid(*uid);
                    header.set_gid(*uid);
                    (path, data)
                }
                Entry::Dir(path, mode) => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    (path, &[])
                }
                Entry::Symlink(path, target) | Entry::HardLink(path, target) => {
                    let kind = if matches!(entry, Entry::Symlink(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    };
                    header.set_entry_type(kind);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder
                        .append_link(&mut header, path, target)
                        .expect("a link entry");
                    continue;
                }
            };
            header.set_size(data.len() as u64);
            builder
                .append_data(&mut header, path, data)
                .expect("a tar entry");
        }
        builder.into_inner().expect("a layer tar")
    }

    /// A `docker save` archive as Docker 20.10 writes it: `<id>/layer.tar` per layer, the config
    /// as `<id>.json`, manifest.json last. `shared` links the last layer to the first, as Docker
    /// does for a layer two images share.
    pub fn docker_archive(
        reference: &str,
        config: &serde_json::Value,
        layers: &[Vec<u8>],
    ) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut names = Vec::new();
        for (index, bytes) in layers.iter().enumerate() {
            let name = format!("{index:064}/layer.tar");
            append(&mut builder, &name, bytes);
            names.push(name);
        }
        let config = serde_json::to_vec(config).expect("config JSON");
        append(&mut builder, "cfg.json", &config);
        let manifest =
            serde_json::json!([{ "Config": "cfg.json", "RepoTags": [reference], "Layers": names }]);
        append(
            &mut builder,
            "manifest.json",
            &serde_json::to_vec(&manifest).expect("JSON"),
        );
        builder.into_inner().expect("an archive")
    }

    pub fn append(builder: &mut tar::Builder<Vec<u8>>, name: &str, bytes: &[u8]) {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        builder
            .append_data(&mut header, name, bytes)
            .expect("an entry");
    }

    /// A config with this user and env, and this project's description label when `label`.
    pub fn config(user: &str, env: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "User": user, "Env": env, "Labels": null, "Entrypoint": null },
            "history": [{ "created_by": "COPY . / # buildkit" }],
        })
    }

    /// A minimal ELF64 (x86-64, little endian) with an optional program interpreter and an
    /// optional `.dep-v0` section holding `dep_json` zlib-compressed, as cargo-auditable writes it.
    pub fn elf(interpreter: Option<&str>, dep_json: Option<&str>, extra: &[u8]) -> Vec<u8> {
        let interp = interpreter
            .map(|i| format!("{i}\0").into_bytes())
            .unwrap_or_default();
        let dep = dep_json.map(|json| {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(json.as_bytes()).expect("zlib");
            z.finish().expect("zlib")
        });
        let shstrtab: &[u8] = if dep.is_some() {
            b"\0.dep-v0\0.shstrtab\0"
        } else {
            b"\0.shstrtab\0"
        };
        let phnum: u16 = if interpreter.is_some() { 1 } else { 0 };
        let phoff = 64u64;
        let interp_off = phoff + 56 * u64::from(phnum);
        let dep_off = interp_off + interp.len() as u64;
        let dep_len = dep.as_ref().map_or(0, Vec::len) as u64;
        let extra_off = dep_off + dep_len;
        let strtab_off = extra_off + extra.len() as u64;
        let shoff = strtab_off + shstrtab.len() as u64;
        let shnum: u16 = if dep.is_some() { 3 } else { 2 };

        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        out.extend_from_slice(&3u16.to_le_bytes()); // ET_DYN, as static-pie and PIE binaries are
        out.extend_from_slice(&62u16.to_le_bytes()); // x86-64
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // entry
        out.extend_from_slice(&(if phnum > 0 { phoff } else { 0 }).to_le_bytes());
        out.extend_from_slice(&shoff.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&56u16.to_le_bytes());
        out.extend_from_slice(&phnum.to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&shnum.to_le_bytes());
        out.extend_from_slice(&(shnum - 1).to_le_bytes()); // .shstrtab is the last section
        if phnum > 0 {
            out.extend_from_slice(&object::elf::PT_INTERP.to_le_bytes());
            out.extend_from_slice(&4u32.to_le_bytes());
            for value in [
                interp_off,
                interp_off,
                interp_off,
                interp.len() as u64,
                interp.len() as u64,
                1,
            ] {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        out.extend_from_slice(&interp);
        if let Some(dep) = &dep {
            out.extend_from_slice(dep);
        }
        out.extend_from_slice(extra);
        out.extend_from_slice(shstrtab);
        let mut section = |name: u32, kind: u32, offset: u64, size: u64| {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            for value in [0u64, 0, offset, size] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&1u64.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes());
        };
        section(0, 0, 0, 0);
        if dep.is_some() {
            section(1, 1, dep_off, dep_len);
            section(9, 3, strtab_off, shstrtab.len() as u64);
        } else {
            section(1, 3, strtab_off, shstrtab.len() as u64);
        }
        out
    }

    /// cargo-auditable's JSON for a binary `app` depending on `serde` (runtime), which depends on
    /// `serde_derive` (build only), plus the given extra runtime package.
    pub fn dep_json(extra: (&str, &str)) -> String {
        serde_json::json!({
            "packages": [
                { "name": "app", "version": "0.1.0", "source": "local", "dependencies": [1, 3], "root": true },
                { "name": "serde", "version": "1.0.200", "source": "crates.io", "dependencies": [2] },
                { "name": "serde_derive", "version": "1.0.200", "source": "crates.io", "kind": "build" },
                { "name": extra.0, "version": extra.1, "source": "crates.io" },
            ]
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::testing::{Entry, config, dep_json, docker_archive, elf, layer};
    use super::*;

    fn tree(layers: &[Vec<u8>]) -> Tree {
        let mut tree = Tree::default();
        for (index, bytes) in layers.iter().enumerate() {
            tree.apply_layer(index + 1, Cursor::new(bytes), &mut |_, _| {})
                .expect("the layer applies");
        }
        tree
    }

    fn paths(tree: &Tree) -> Vec<&str> {
        tree.nodes.keys().map(String::as_str).collect()
    }

    fn read(config: &serde_json::Value, layers: &[Vec<u8>], canaries: &[String]) -> Image {
        let archive = docker_archive("cv-test:1", config, layers);
        Image::read("cv-test:1", Cursor::new(archive), canaries).expect("the archive reads")
    }

    fn rules(checks: &[Check], id: &str) -> Vec<String> {
        let check = checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id}"));
        assert!(
            matches!(check.outcome, super::super::Outcome::Ran { .. }),
            "{id} did not run: {check:?}"
        );
        check.findings().iter().map(|f| f.rule.clone()).collect()
    }

    #[test]
    fn a_whiteout_deletes_a_lower_file_and_everything_under_a_lower_directory() {
        let lower = layer(&[
            Entry::Dir("etc/", 0o755),
            Entry::File("etc/keep", 0o644, b"k"),
            Entry::File("etc/gone", 0o644, b"g"),
            Entry::Dir("opt/app/", 0o755),
            Entry::File("opt/app/a", 0o644, b"a"),
        ]);
        let upper = layer(&[
            Entry::File("etc/.wh.gone", 0o644, b""),
            Entry::File("opt/.wh.app", 0o644, b""),
        ]);
        let tree = tree(&[lower, upper]);
        assert_eq!(paths(&tree), ["etc", "etc/keep"]);
    }

    #[test]
    fn an_opaque_directory_hides_lower_entries_but_keeps_its_own_layers() {
        let lower = layer(&[
            Entry::Dir("d/", 0o755),
            Entry::File("d/old", 0o644, b"o"),
            Entry::File("e", 0o644, b"e"),
        ]);
        // The marker comes after the layer's own entry: the order inside a layer must not matter.
        let upper = layer(&[
            Entry::File("d/new", 0o644, b"n"),
            Entry::File("d/.wh..wh..opq", 0o644, b""),
        ]);
        let tree = tree(&[lower, upper]);
        assert_eq!(paths(&tree), ["d", "d/new", "e"]);
        assert_eq!(tree.nodes["d/new"].layer, 2);
    }

    #[test]
    fn a_later_layer_replaces_a_file_and_a_file_replaces_a_directory() {
        let lower = layer(&[
            Entry::File("f", 0o644, b"one"),
            Entry::Dir("x/", 0o755),
            Entry::File("x/inner", 0o644, b"i"),
        ]);
        let upper = layer(&[
            Entry::File("f", 0o600, b"two!"),
            Entry::File("x", 0o644, b"now a file"),
        ]);
        let tree = tree(&[lower, upper]);
        assert_eq!(paths(&tree), ["f", "x"]);
        assert_eq!(tree.nodes["f"].mode, 0o600);
        assert_eq!(tree.small_file("f"), Some(&b"two!"[..]));
        assert_eq!(tree.nodes["x"].kind, NodeKind::File);
    }

    #[test]
    fn symlinks_resolve_like_the_kernel_and_hard_links_share_their_target() {
        let tree = tree(&[layer(&[
            Entry::Dir("usr/bin/", 0o755),
            Entry::File("usr/bin/busybox", 0o755, b"bb"),
            Entry::Symlink("bin", "usr/bin"),
            Entry::Symlink("usr/bin/sh", "/bin/busybox"),
            Entry::Symlink("usr/bin/up", "../bin/busybox"),
            Entry::HardLink("usr/bin/ash", "usr/bin/busybox"),
            Entry::Symlink("loop", "loop"),
        ])]);
        assert_eq!(
            tree.resolve("/bin/sh").map(|(p, _)| p),
            Some("usr/bin/busybox".to_owned())
        );
        assert_eq!(
            tree.resolve("bin/up").map(|(p, _)| p),
            Some("usr/bin/busybox".to_owned())
        );
        assert!(
            tree.resolve("loop").is_none(),
            "a symlink loop resolves to nothing"
        );
        assert!(tree.resolve("bin/missing").is_none());
        assert_eq!(tree.small_file("usr/bin/ash"), Some(&b"bb"[..]));
        assert_eq!(tree.nodes["usr/bin/ash"].size, 2);
    }

    #[test]
    fn a_secret_deleted_by_a_later_layer_is_still_found_in_the_layer_that_ships_it() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        let canary = "cv-test-canary-42".to_owned();
        let layers = [
            layer(&[Entry::File("root/.ssh/id_ed25519", 0o600, key.as_bytes())]),
            layer(&[
                Entry::File("root/.ssh/.wh.id_ed25519", 0o644, b""),
                Entry::File("app/conf", 0o644, b"x=cv-test-canary-42"),
            ]),
        ];
        let image = read(
            &config("65532", &[]),
            &layers,
            std::slice::from_ref(&canary),
        );
        assert!(image.tree.resolve("root/.ssh/id_ed25519").is_none());
        let checks = checks(
            &image,
            &Options {
                canaries: vec![canary],
                ..Options::default()
            },
        )
        .expect("checks");
        let check = checks
            .iter()
            .find(|c| c.id == "image-secrets-files")
            .expect("the check");
        let found: Vec<(&str, &str)> = check
            .findings()
            .iter()
            .map(|f| (f.rule.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0].0, "CVI007");
        assert!(
            found[0]
                .1
                .contains("layer 1 holds a private key (a later layer hides it"),
            "{}",
            found[0].1
        );
        assert_eq!(found[1].0, "CVI008");
        assert!(
            found[1]
                .1
                .starts_with("/app/conf in layer 2 holds the canary"),
            "{}",
            found[1].1
        );
    }

    #[test]
    fn docker_20_10_shared_layers_are_links_inside_the_archive() {
        let base = layer(&[Entry::File("etc/os-release", 0o644, b"ID=test")]);
        let mut builder = tar::Builder::new(Vec::new());
        testing::append(&mut builder, "a/layer.tar", &base);
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, "b/layer.tar", "../a/layer.tar")
            .expect("a link");
        testing::append(
            &mut builder,
            "c.json",
            &serde_json::to_vec(&config("1000", &[])).expect("JSON"),
        );
        let manifest = serde_json::json!([{ "Config": "c.json", "RepoTags": ["x:1"], "Layers": ["a/layer.tar", "b/layer.tar"] }]);
        testing::append(
            &mut builder,
            "manifest.json",
            &serde_json::to_vec(&manifest).expect("JSON"),
        );
        let image = Image::read("x:1", Cursor::new(builder.into_inner().expect("tar")), &[])
            .expect("reads");
        assert_eq!(image.layers, 2);
        assert_eq!(image.tree.nodes["etc/os-release"].layer, 2);
    }

    #[test]
    fn an_oci_layout_with_a_gzip_layer_behind_an_index_reads_too() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer(&[Entry::File("app", 0o755, b"hello")]))
            .expect("gzip");
        let layer_blob = gz.finish().expect("gzip");
        let config_blob = serde_json::to_vec(&config("nobody", &[])).expect("JSON");
        let digest = |bytes: &[u8]| format!("sha256:{}", hex(&Sha256::digest(bytes)));
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config_blob) },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(&layer_blob) }],
        }))
        .expect("JSON");
        let inner_index = serde_json::to_vec(&serde_json::json!({
            "manifests": [
                { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:00", "platform": { "os": "linux", "architecture": "arm64" } },
                { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(&manifest), "platform": { "os": "linux", "architecture": "amd64" } },
            ]
        }))
        .expect("JSON");
        let index = serde_json::json!({ "manifests": [{ "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest(&inner_index) }] });
        let mut builder = tar::Builder::new(Vec::new());
        for blob in [&layer_blob, &config_blob, &manifest, &inner_index] {
            testing::append(&mut builder, &blob_path(&digest(blob)), blob);
        }
        testing::append(
            &mut builder,
            "index.json",
            &serde_json::to_vec(&index).expect("JSON"),
        );
        let image = Image::read(
            "oci:1",
            Cursor::new(builder.into_inner().expect("tar")),
            &[],
        )
        .expect("reads");
        assert_eq!(image.tree.small_file("app"), Some(&b"hello"[..]));
        assert_eq!(image.id, digest(&config_blob));
        assert_eq!(image.run_config().user.as_deref(), Some("nobody"));
    }

    #[test]
    fn an_archive_without_a_manifest_is_a_clear_error() {
        let mut builder = tar::Builder::new(Vec::new());
        testing::append(&mut builder, "something.txt", b"x");
        let err = Image::read("x", Cursor::new(builder.into_inner().expect("tar")), &[])
            .expect_err("no manifest");
        assert_eq!(
            err.to_string(),
            "the image archive has no manifest.json or index.json; is it a `docker save` or OCI archive?"
        );
    }

    #[test]
    fn elf_facts_static_dynamic_and_the_embedded_list() {
        let dynamic =
            analyse_elf(&elf(Some("/lib64/ld-linux-x86-64.so.2"), None, b"")).expect("an ELF");
        assert_eq!(
            dynamic.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert!(matches!(dynamic.dependencies, Dependencies::Missing));
        assert!(!dynamic.rust, "no Rust marker in it");

        let audited =
            analyse_elf(&elf(None, Some(&dep_json(("itoa", "1.0.1"))), b"")).expect("an ELF");
        assert_eq!(audited.interpreter, None);
        assert!(audited.rust);
        let Dependencies::Embedded(packages) = &audited.dependencies else {
            panic!("no embedded list: {:?}", audited.dependencies);
        };
        let names: Vec<(&str, bool, bool)> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.root, p.build_only))
            .collect();
        assert_eq!(
            names,
            [
                ("app", true, false),
                ("serde", false, false),
                ("serde_derive", false, true),
                ("itoa", false, false)
            ]
        );
        assert_eq!(
            advisory_inputs(packages),
            [
                ("serde".to_owned(), "1.0.200".to_owned()),
                ("itoa".to_owned(), "1.0.1".to_owned())
            ]
        );

        let broken = analyse_elf(&elf(None, Some("{\"packages\": 7}"), b"")).expect("an ELF");
        assert!(
            matches!(broken.dependencies, Dependencies::Unreadable(_)),
            "{:?}",
            broken.dependencies
        );
        assert!(analyse_elf(b"#!/bin/sh\necho not an ELF\n").is_none());
    }

    #[test]
    fn the_dependency_check_names_rust_binaries_without_a_list_and_ignores_c_ones() {
        let rust_marker =
            b"/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/option.rs";
        let image = read(
            &config("65532", &[]),
            &[layer(&[
                Entry::File(
                    "usr/local/bin/plain-rust",
                    0o755,
                    &elf(None, None, rust_marker),
                ),
                Entry::File("bin/c-tool", 0o755, &elf(None, None, b"")),
                Entry::File(
                    "usr/local/bin/audited",
                    0o755,
                    &elf(None, Some(&dep_json(("itoa", "1.0.1"))), b""),
                ),
            ])],
            &[],
        );
        let checks = checks(&image, &Options::default()).expect("checks");
        let deps: Vec<(&str, String, Vec<String>)> = checks
            .iter()
            .filter(|c| c.id == "image-dependencies")
            .map(|c| {
                let status = match &c.outcome {
                    super::super::Outcome::Ran { .. } => "ran",
                    super::super::Outcome::Skipped { .. } => "skipped",
                };
                (
                    status,
                    c.target.clone(),
                    c.findings().iter().map(|f| f.rule.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            deps,
            [
                (
                    "skipped",
                    "cv-test:1:/usr/local/bin/audited (4 packages embedded)".to_owned(),
                    vec![]
                ),
                (
                    "ran",
                    "cv-test:1:/usr/local/bin/plain-rust".to_owned(),
                    vec!["CVI012".to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn embedded_packages_are_checked_against_the_advisory_database() {
        let db = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/advisory-db");
        let image = read(
            &config("65532", &[]),
            &[layer(&[Entry::File(
                "app",
                0o755,
                &elf(None, Some(&dep_json(("cvfixture-vuln", "1.1.0"))), b""),
            )])],
            &[],
        );
        let opts = Options {
            advisories: Advisories::Load {
                flag: Some(db),
                policy: Policy::default(),
            },
            ..Options::default()
        };
        let checks = checks(&image, &opts).expect("checks");
        let deps = checks
            .iter()
            .find(|c| c.id == "image-dependencies")
            .expect("the check");
        assert_eq!(deps.target, "cv-test:1:/app (4 packages embedded)");
        let found: Vec<(&str, Severity, &str)> = deps
            .findings()
            .iter()
            .map(|f| {
                let at = f.location.as_ref().map_or("", |l| l.path.as_str());
                (f.rule.as_str(), f.severity, at)
            })
            .collect();
        assert_eq!(
            found,
            [("RUSTSEC-2099-0001", Severity::Critical, "cv-test:1:/app")]
        );
    }

    /// `--db /tmp` was a skipped check for an image and an error for a lockfile; an explicit
    /// database that cannot be used is an error for both, whether or not a binary needs it.
    #[test]
    fn an_explicit_database_that_is_no_database_is_an_error() {
        let not_a_db = tempfile::tempdir().expect("temp dir");
        let empty = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(empty.path().join("crates")).expect("crates/");
        let embedding = read(
            &config("65532", &[]),
            &[layer(&[Entry::File(
                "app",
                0o755,
                &elf(None, Some(&dep_json(("itoa", "1.0.1"))), b""),
            )])],
            &[],
        );
        let plain = read(
            &config("65532", &[]),
            &[layer(&[Entry::File("etc/motd", 0o644, b"hi")])],
            &[],
        );
        let cases = [
            (not_a_db.path().to_path_buf(), "is not an advisory database"),
            (empty.path().to_path_buf(), "holds no advisories"),
            (not_a_db.path().join("missing"), "does not exist"),
        ];
        for (path, why) in cases {
            for image in [&embedding, &plain] {
                let opts = Options {
                    advisories: Advisories::Load {
                        flag: Some(path.clone()),
                        policy: Policy::default(),
                    },
                    ..Options::default()
                };
                let err = checks(image, &opts).expect_err("an error, not a skipped check");
                let text = format!("{err:#}");
                assert!(
                    text.contains(&path.display().to_string()) && text.contains(why),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn user_root_in_every_spelling_and_a_name_resolved_through_passwd() {
        let passwd: &[u8] = b"root:x:0:0::/root:/sbin/nologin\ntoor:x:0:0::/:/sbin/nologin\napp:x:1000:1000::/:/sbin/nologin\n";
        let verdict = |user: &str| {
            let image = read(
                &config(user, &[]),
                &[layer(&[Entry::File("etc/passwd", 0o644, passwd)])],
                &[],
            );
            rules(
                &checks(&image, &Options::default()).expect("checks"),
                "image-user",
            )
        };
        for root in ["", "root", "0", "0:0", "root:65532", "toor"] {
            assert_eq!(verdict(root), ["CVI001"], "USER {root:?}");
        }
        for fine in ["65532", "65532:65532", "app", "1000:0"] {
            assert!(verdict(fine).is_empty(), "USER {fine:?}");
        }
        assert_eq!(verdict("ghost"), ["CVI002"]);
    }

    #[test]
    fn shells_and_package_managers_are_found_through_symlinks_in_minimal_images_only() {
        let layers = [layer(&[
            Entry::File("bin/busybox", 0o755, b"bb"),
            Entry::Symlink("bin/sh", "busybox"),
            Entry::File("usr/bin/pip3.11", 0o755, b"#!"),
            Entry::File("usr/share/doc/sh", 0o644, b"not executable"),
            Entry::Symlink("usr/bin/apk", "/nowhere"),
        ])];
        let image = read(&config("65532", &[]), &layers, &[]);
        let minimal = checks(&image, &Options::default()).expect("checks");
        assert_eq!(rules(&minimal, "image-shell"), ["CVI003", "CVI003"]);
        let shell = minimal
            .iter()
            .find(|c| c.id == "image-shell")
            .expect("the check");
        assert!(
            shell.findings()[1]
                .message
                .contains("/bin/sh (→ /bin/busybox)"),
            "{:?}",
            shell.findings()
        );
        assert_eq!(rules(&minimal, "image-package-manager"), ["CVI004"]);

        let prod = checks(
            &image,
            &Options {
                mode: Some(Mode::Prod),
                ..Options::default()
            },
        )
        .expect("checks");
        let shell = prod
            .iter()
            .find(|c| c.id == "image-shell")
            .expect("the check");
        assert!(
            matches!(&shell.outcome, super::super::Outcome::Skipped { reason } if reason.starts_with("a prod image (as built)"))
        );
    }

    #[test]
    fn setuid_setgid_and_world_writable_but_not_sticky_directories() {
        let image = read(
            &config("65532", &[]),
            &[layer(&[
                Entry::Owned("usr/bin/su", 0o4755, 0, b"su"),
                Entry::Owned("usr/bin/wall", 0o2755, 0, b"wall"),
                Entry::File("usr/bin/ok", 0o755, b"ok"),
                Entry::Dir("tmp/", 0o1777),
                Entry::Dir("shared/", 0o777),
                Entry::File("etc/open", 0o666, b"x"),
                Entry::Symlink("etc/link", "open"),
            ])],
            &[],
        );
        let checks = checks(&image, &Options::default()).expect("checks");
        assert_eq!(rules(&checks, "image-setuid"), ["CVI005", "CVI005"]);
        let setuid = checks
            .iter()
            .find(|c| c.id == "image-setuid")
            .expect("the check");
        assert!(
            setuid.findings()[0]
                .message
                .starts_with("/usr/bin/su is setuid (mode 4755, owner 0:0)")
        );
        let writable: Vec<String> = checks
            .iter()
            .find(|c| c.id == "image-world-writable")
            .expect("the check")
            .findings()
            .iter()
            .map(|f| f.location.as_ref().expect("a location").path.clone())
            .collect();
        assert_eq!(writable, ["cv-test:1:/etc/open", "cv-test:1:/shared"]);
    }

    #[test]
    fn secrets_in_env_labels_and_history_and_the_canary() {
        let token = format!("ghp_{}", "a1B2".repeat(9));
        let mut config = config(
            "65532",
            &[
                "PATH=/usr/bin",
                "DB_PASSWORD=hunter2",
                "API_TOKEN_FILE=/run/secrets/t",
            ],
        );
        config["config"]["Labels"] = serde_json::json!({ "build.token": token });
        config["history"] =
            serde_json::json!([{ "created_by": "RUN |1 CANARY=cv-canary-7 /bin/sh -c make" }]);
        let image = read(&config, &[layer(&[])], &[]);
        let checks = checks(
            &image,
            &Options {
                canaries: vec!["cv-canary-7".into()],
                ..Options::default()
            },
        )
        .expect("checks");
        let findings = checks
            .iter()
            .find(|c| c.id == "image-secrets-config")
            .expect("the check")
            .findings();
        let summary: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| {
                (
                    f.rule.as_str(),
                    f.message.split(';').next().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "CVI009",
                    "ENV DB_PASSWORD holds a value and its name says it is a secret"
                ),
                ("CVI007", "LABEL build.token holds a GitHub token"),
                (
                    "CVI008",
                    "history step 1 holds the canary text: a build secret leaked into the image config"
                ),
            ]
        );
    }

    #[test]
    fn the_kind_comes_from_the_caller_then_the_label_then_the_contents() {
        let scratch = read(
            &config("1", &[]),
            &[layer(&[Entry::File("app", 0o755, b"a")])],
            &[],
        );
        assert_eq!(ImageKind::decide(&scratch, None).mode, Mode::Minimal);
        assert_eq!(
            ImageKind::decide(&scratch, Some(Mode::Dev)).source,
            KindSource::Given
        );
        let distro = read(
            &config("1", &[]),
            &[layer(&[Entry::File("usr/lib/os-release", 0o644, b"ID=x")])],
            &[],
        );
        assert_eq!(
            ImageKind::decide(&distro, None),
            ImageKind {
                mode: Mode::Prod,
                source: KindSource::Distribution
            }
        );
        let mut labelled = config("1", &[]);
        labelled["config"]["Labels"] =
            serde_json::json!({ "org.opencontainers.image.description": "A CV (minimal image)" });
        let labelled = read(
            &labelled,
            &[layer(&[Entry::File("usr/lib/os-release", 0o644, b"ID=x")])],
            &[],
        );
        assert_eq!(
            ImageKind::decide(&labelled, None),
            ImageKind {
                mode: Mode::Minimal,
                source: KindSource::Label
            }
        );
    }

    #[test]
    fn healthcheck_is_required_of_prod_images() {
        let mut with = config("1", &[]);
        with["config"]["Healthcheck"] =
            serde_json::json!({ "Test": ["CMD", "/app", "healthcheck"] });
        let mut none = config("1", &[]);
        none["config"]["Healthcheck"] = serde_json::json!({ "Test": ["NONE"] });
        let prod = Options {
            mode: Some(Mode::Prod),
            ..Options::default()
        };
        for (config, want) in [
            (with, vec![]),
            (none, vec!["CVI010"]),
            (config("1", &[]), vec!["CVI010"]),
        ] {
            let image = read(&config, &[layer(&[])], &[]);
            assert_eq!(
                rules(&checks(&image, &prod).expect("checks"), "image-healthcheck"),
                want
            );
        }
    }

    #[test]
    fn a_dynamically_linked_binary_in_a_minimal_image() {
        let image = read(
            &config("1", &[]),
            &[layer(&[
                Entry::File(
                    "app",
                    0o755,
                    &elf(Some("/lib/ld-musl-x86_64.so.1"), None, b""),
                ),
                Entry::File("static", 0o755, &elf(None, None, b"")),
            ])],
            &[],
        );
        let checks = checks(&image, &Options::default()).expect("checks");
        let findings = checks
            .iter()
            .find(|c| c.id == "image-static")
            .expect("the check")
            .findings();
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.starts_with(
            "/app is dynamically linked (interpreter /lib/ld-musl-x86_64.so.1, absent"
        ));
    }
}
