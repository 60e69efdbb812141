//! Typed values of `cargo xtask docker`'s flags: parsing constructors, no IO beyond checking that
//! named files exist.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, ensure};

/// Which image to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Static musl binary on `scratch`: the smallest, no shell
    Minimal,
    /// Alpine runtime with a non-root user
    Prod,
    /// Toolchain image with hot reload, for development
    Dev,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Minimal => "minimal",
            Mode::Prod => "prod",
            Mode::Dev => "dev",
        }
    }
}

/// How the engine reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// The engine's choice (plain here, since the output is also captured for the summary)
    Auto,
    /// One line per event; cached steps are counted from it
    Plain,
    /// Nothing but errors; the summary cannot count cached steps
    Quiet,
}

/// Which base images the Dockerfiles start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaseImages {
    /// The real public images (the Dockerfiles' defaults); needs a reachable registry
    Public,
    /// The local `cv-standin/*` images made by `cargo xtask base-images`, for air-gapped machines
    Standin,
}

/// The local stand-ins, as the contract between `base-images` and the Dockerfiles names them.
pub const STANDIN_RUST: &str = "cv-standin/rust:1.95.0";
pub const STANDIN_ALPINE: &str = "cv-standin/alpine:3";

/// The Dockerfiles' default base images (their `ARG RUST_IMAGE=` and `ARG RUNTIME_IMAGE=`), for
/// the test in pull.rs that reads them from the Dockerfiles; the code itself reads the files.
#[cfg(test)]
pub const PUBLIC_RUST: &str = "docker.io/library/rust:1.95.0-slim-bookworm";
#[cfg(test)]
pub const PUBLIC_ALPINE: &str = "docker.io/library/alpine:3";

/// A target platform `os/arch[/variant]`, e.g. `linux/arm64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl FromStr for Platform {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let well_formed = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
        ensure!(
            well_formed,
            "malformed platform {s:?}: expected os/arch[/variant] in lowercase, \
             e.g. linux/amd64 or linux/arm64"
        );
        ensure!(
            parts[0] == "linux" && matches!(parts[1], "amd64" | "arm64") && parts.len() == 2,
            "unsupported platform {s:?}: the Dockerfiles build linux/amd64 and linux/arm64"
        );
        Ok(Platform {
            os: parts[0].to_owned(),
            arch: parts[1].to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A BuildKit secret `id=ID,src=FILE`; `src` is made absolute and must be a readable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub src: PathBuf,
}

impl Secret {
    /// Parses `id=…,src=…` (also `source=…`, as Docker accepts), resolving a relative `src`
    /// against `cwd`.
    pub fn parse(s: &str, cwd: &Path) -> anyhow::Result<Secret> {
        let usage = "expected --secret id=ID,src=FILE (ID of letters, digits, '_', '-', '.')";
        let (mut id, mut src) = (None, None);
        for field in s.split(',') {
            match field.split_once('=') {
                Some(("id", v)) if id.is_none() => id = Some(v),
                Some(("src" | "source", v)) if src.is_none() => src = Some(v),
                _ => bail!("malformed secret {s:?}: unexpected {field:?}; {usage}"),
            }
        }
        let (Some(id), Some(src)) = (id, src) else {
            bail!("malformed secret {s:?}: both id and src are required; {usage}");
        };
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        ensure!(id_ok, "malformed secret {s:?}: bad id {id:?}; {usage}");
        ensure!(
            !src.is_empty(),
            "malformed secret {s:?}: empty src; {usage}"
        );
        let src = cwd.join(src);
        ensure!(
            src.is_file(),
            "secret {id:?}: {} is not a file (it must exist and be a regular file)",
            src.display()
        );
        Ok(Secret {
            id: id.to_owned(),
            src,
        })
    }

    /// The value of `--secret` as the engine takes it.
    pub fn to_arg(&self) -> String {
        format!("id={},src={}", self.id, self.src.display())
    }
}

/// An image reference `[HOST[:PORT]/]NAME[:TAG]`, checked by a simplified form of Docker's
/// grammar so that mistakes are caught before a minutes-long build rather than after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef(String);

impl ImageRef {
    /// The default `cv:<mode>`.
    pub fn for_mode(mode: Mode) -> ImageRef {
        ImageRef(format!("cv:{}", mode.name()))
    }

    /// This reference under a registry: `REGISTRY/NAME[:TAG]`.
    pub fn in_registry(&self, registry: &str) -> anyhow::Result<ImageRef> {
        ensure!(
            !registry.contains("://"),
            "malformed --registry {registry:?}: no scheme, just HOST[:PORT][/PATH], \
             e.g. 127.0.0.1:5000"
        );
        let host = registry.split('/').next().unwrap_or_default();
        // Without a '.' or ':' (or `localhost`), Docker reads the first part as a Docker Hub
        // namespace: `--registry myregistry` would push to docker.io/myregistry.
        ensure!(
            host.contains(['.', ':']) || host == "localhost",
            "--registry {registry:?} names no registry host: Docker would push it to Docker Hub \
             (docker.io/{registry}); give a host such as 127.0.0.1:5000 or registry.example.com/team"
        );
        format!("{}/{}", registry.trim_end_matches('/'), self.0)
            .parse()
            .map_err(|e| anyhow::anyhow!("--registry {registry:?}: {e:#}"))
    }

    /// Whether the first component names a registry host (has a '.' or ':' or is localhost).
    pub fn has_registry(&self) -> bool {
        match self.0.split_once('/') {
            Some((first, _)) => first.contains(['.', ':']) || first == "localhost",
            None => false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ImageRef {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<ImageRef> {
        let bad = |why: &str| {
            anyhow::anyhow!(
                "malformed image reference {s:?}: {why}; expected [HOST[:PORT]/]NAME[:TAG] \
                 such as cv:minimal or 127.0.0.1:5000/cv:1.0"
            )
        };
        // The tag is after the last ':' that follows the last '/'.
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match s[last_slash..].rfind(':') {
            Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
            None => (s, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(bad("bad tag"));
            }
        }
        let mut components: Vec<&str> = path.split('/').collect();
        if components.len() > 1
            && (components[0].contains(['.', ':']) || components[0] == "localhost")
        {
            let host = components.remove(0);
            if !is_registry_host(host) {
                return Err(bad(
                    "bad registry host: DNS labels joined by dots, then an optional :PORT \
                     (1-65535)",
                ));
            }
        }
        if s.contains('@') {
            return Err(bad("digests are not accepted here, only tags"));
        }
        if path.len() > 255 {
            return Err(bad("the name is longer than 255 characters"));
        }
        for c in components {
            if !is_path_component(c) {
                return Err(bad(
                    "names are lowercase letters and digits, joined by one . or _, two _, or dashes",
                ));
            }
        }
        Ok(ImageRef(s.to_owned()))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Docker's reference grammar for a path component:
/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn is_path_component(c: &str) -> bool {
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    let bytes: Vec<char> = c.chars().collect();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep: String = bytes[start..i].iter().collect();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|ch| ch == '-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry host as Docker's grammar has it: DNS labels joined by dots, an optional port.
fn is_registry_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.starts_with(|c: char| c.is_ascii_alphanumeric())
            && l.ends_with(|c: char| c.is_ascii_alphanumeric())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    // Docker's grammar allows any digits; a port past 65535 (or 0) would only fail at the push.
    let port_ok = port.is_none_or(|p| {
        p.chars().all(|c| c.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n != 0)
    });
    name.split('.').all(label_ok) && port_ok
}

/// A container name as Docker accepts it: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_container_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    ensure!(
        ok,
        "malformed container name {name:?}: at least two of letters, digits and _ . -, \
         starting with a letter or digit"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        for ok in ["linux/amd64", "linux/arm64"] {
            let p: Platform = ok.parse().unwrap();
            assert_eq!(p.to_string(), ok);
        }
        for unsupported in [
            "linux/arm/v7",
            "linux/386",
            "windows/amd64",
            "linux/riscv64",
        ] {
            let err = unsupported.parse::<Platform>().unwrap_err().to_string();
            assert!(
                err.contains("unsupported platform"),
                "{unsupported:?}: {err}"
            );
        }
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "Linux/AMD64",
            "linux amd64",
            "linux//amd64",
        ] {
            let err = bad.parse::<Platform>().unwrap_err().to_string();
            assert!(err.contains("malformed platform"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn secrets() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("xtask-secret-test-{}", std::process::id()));
        std::fs::write(&file, "s3cret").unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();

        let s = Secret::parse(&format!("id=tok,src={name}"), &dir).unwrap();
        assert_eq!(
            s,
            Secret {
                id: "tok".into(),
                src: file.clone()
            }
        );
        assert_eq!(s.to_arg(), format!("id=tok,src={}", file.display()));
        let s = Secret::parse(
            &format!("source={},id=a.b-c_d", file.display()),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(s.id, "a.b-c_d");

        let cases = [
            ("tok", "malformed secret"),
            ("id=tok", "both id and src"),
            (&format!("src={name}") as &str, "both id and src"),
            (&format!("id=,src={name}"), "bad id"),
            (&format!("id=a b,src={name}"), "bad id"),
            (&format!("id=a,src={name},mode=1"), "unexpected"),
            (&format!("id=a,id=b,src={name}"), "unexpected"),
            ("id=a,src=", "empty src"),
            ("id=a,src=/nonexistent/file", "is not a file"),
            ("id=a,src=/", "is not a file"),
        ];
        for (input, want) in cases {
            let err = Secret::parse(input, &dir).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn image_refs() {
        for ok in [
            "cv",
            "cv:minimal",
            "cv-test-minimal:1",
            "127.0.0.1:5000/cv:1.0",
            "localhost/a/b_c:x",
            "ghcr.io/o/cv",
        ] {
            assert_eq!(ok.parse::<ImageRef>().unwrap().as_str(), ok);
        }
        for ok in ["a__b", "a---b", "cv.x_y"] {
            assert!(ok.parse::<ImageRef>().is_ok(), "{ok:?} refused");
        }
        let long = "a".repeat(300);
        for bad in [
            "",
            "CV",
            "cv:",
            "cv:-x",
            "cv/",
            "cv:a:b",
            "-cv",
            "cv test",
            "cv..x:1",
            "cv.-x",
            "a___b",
            ":5000/cv",
            "localhost:/cv",
            "localhost:99999/cv",
            "localhost:0/cv",
            "localhost:+80/cv",
            "a:b/cv",
            "-host.com/cv",
            "--host.io/cv",
            &long,
            "cv@sha256:0000",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad:?} accepted");
        }
        let r: ImageRef = "cv:minimal".parse().unwrap();
        assert!(!r.has_registry());
        for bad in [
            "myregistry",
            "team/x",
            "http://127.0.0.1:5000",
            "127.0.0.1:5000:6000",
            "-r.io",
        ] {
            assert!(r.in_registry(bad).is_err(), "--registry {bad:?} accepted");
        }
        assert!(
            r.in_registry("myregistry")
                .unwrap_err()
                .to_string()
                .contains("Docker Hub")
        );
        let pushed = r.in_registry("127.0.0.1:5000/").unwrap();
        assert_eq!(pushed.as_str(), "127.0.0.1:5000/cv:minimal");
        assert!(pushed.has_registry());
        assert!(!"team/cv".parse::<ImageRef>().unwrap().has_registry());
    }

    #[test]
    fn container_names() {
        assert!(check_container_name("cv-test-run.1_a").is_ok());
        assert!(check_container_name("-x").is_err());
        assert!(check_container_name("a/b").is_err());
    }
}
