//! Pulling the base images a build starts from, before the build, through the retry layer.
//!
//! BuildKit would pull a missing base image itself, but with no retry of ours: one reset
//! connection to the registry fails a build minutes in. So the images named by the Dockerfile's
//! `FROM` lines are pulled first, each only when the engine does not have it yet, with
//! `docker pull` under [`crate::retry::run_command`]; the build then finds them locally. Which
//! images those are is read from the very Dockerfile that is built (global `ARG` defaults
//! resolved), so `--dockerfile` gets the same treatment as the project's own.
//!
//! Nothing is pulled under `--base-images standin` (the stand-ins exist only locally; a check
//! step says when one is missing) or `--offline`, where a base image the engine lacks is a clear
//! error before the build starts.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Context;
use xshell::Shell;

use super::options::BaseImages;
use super::plan::{Options, display_arg};
use crate::paths;
use crate::retry::{self, Policy};

/// One base image to have before the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub reference: String,
    /// `os/arch` to pull, when the build asks for another platform than the engine's.
    pub platform: Option<String>,
}

/// The base images of one build, in Dockerfile order; empty under `--base-images standin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulls {
    pub images: Vec<BaseImage>,
    /// Nothing is pulled: a missing image is an error before the build.
    pub offline: bool,
}

impl Pulls {
    /// The images this build's Dockerfile starts from, unless the options say not to pull.
    pub fn for_build(opts: &Options) -> anyhow::Result<Pulls> {
        if opts.base_images == BaseImages::Standin {
            return Ok(Pulls::default());
        }
        // Relative Dockerfile paths are relative to the project root, where the build runs.
        let path = paths::project_root().join(&opts.dockerfile);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let target = opts.platform.as_ref().map(ToString::to_string);
        Ok(Pulls {
            images: base_images(&text, target.as_deref()),
            offline: opts.offline,
        })
    }

    /// Pulls every image the engine does not have yet; transient failures are retried.
    pub fn run(&self, sh: &Shell, client: &std::path::Path, policy: Policy) -> anyhow::Result<()> {
        for image in &self.images {
            let reference = image.reference.as_str();
            let present = sh
                .cmd(client)
                .args(["image", "inspect", "--format", "{{.Id}}", reference])
                .quiet()
                .ignore_stdout()
                .ignore_stderr()
                .run()
                .is_ok();
            if present {
                eprintln!("[pull] {reference}: present, not pulled");
                continue;
            }
            anyhow::ensure!(
                !self.offline,
                "base image {reference} is not in the engine's store, and --offline pulls \
                 nothing: pull it on a connected machine and `docker save`/`docker load` it here, \
                 or build with --base-images standin"
            );
            let platform = image
                .platform
                .as_ref()
                .map(|p| ["--platform".to_owned(), p.clone()]);
            let cmd = sh
                .cmd(client)
                .arg("pull")
                .args(platform.iter().flatten())
                .arg(reference)
                .quiet();
            eprintln!("[pull] $ {}", display_command(client, image));
            let out =
                retry::run_command(&format!("pull of {reference}"), policy, cmd).map_err(|e| {
                    anyhow::anyhow!(
                        "{e:#}\n  hint: the base image could not be pulled; on a machine that \
                         cannot reach its registry, build with --base-images standin (made by \
                         `cargo xtask base-images`)"
                    )
                })?;
            let said = String::from_utf8_lossy(&out.stdout);
            if let Some(last) = said.lines().rev().find(|l| !l.trim().is_empty()) {
                eprintln!("[pull] {}", last.trim());
            }
        }
        Ok(())
    }
}

fn display_command(client: &std::path::Path, image: &BaseImage) -> String {
    let mut parts = vec![display_arg(&client.display().to_string()), "pull".into()];
    if let Some(p) = &image.platform {
        parts.extend(["--platform".into(), display_arg(p)]);
    }
    parts.push(display_arg(&image.reference));
    parts.join(" ")
}

impl fmt::Display for Pulls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.images.is_empty() {
            return Ok(());
        }
        if self.offline {
            writeln!(
                f,
                "pulls:    none (--offline); these base images must be in the engine's store:"
            )?;
        } else {
            writeln!(
                f,
                "pulls:    before the build, each base image the engine does not have yet, \
                 retried on network errors:"
            )?;
        }
        for image in &self.images {
            match &image.platform {
                Some(p) => writeln!(f, "          {} ({p})", image.reference)?,
                None => writeln!(f, "          {}", image.reference)?,
            }
        }
        Ok(())
    }
}

/// The images a Dockerfile's `FROM` lines name, with global `ARG` defaults substituted; stages,
/// `scratch` and references that stay unresolved are left out. A `FROM --platform=$BUILDPLATFORM`
/// image is pulled for the engine's own platform, any other for `target` when given.
pub fn base_images(dockerfile: &str, target: Option<&str>) -> Vec<BaseImage> {
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut images: Vec<BaseImage> = Vec::new();
    let mut seen_from = false;
    for instruction in instructions(dockerfile) {
        let mut words = instruction.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        match keyword.to_ascii_uppercase().as_str() {
            // Only ARGs before the first FROM are in scope for FROM lines.
            "ARG" if !seen_from => {
                for arg in words {
                    if let Some((name, value)) = arg.split_once('=') {
                        args.insert(name.to_owned(), unquote(value).to_owned());
                    }
                }
            }
            "FROM" => {
                seen_from = true;
                let mut platform = None;
                let mut reference = None;
                let mut rest = words.by_ref();
                for word in &mut rest {
                    if let Some(p) = word.strip_prefix("--platform=") {
                        platform = Some(p.to_owned());
                    } else if !word.starts_with("--") {
                        reference = Some(word.to_owned());
                        break;
                    }
                }
                let stage = match (rest.next(), rest.next()) {
                    (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                let Some(reference) = reference.map(|r| substitute(&r, &args)) else {
                    continue;
                };
                let is_stage = stages.contains(&reference.to_ascii_lowercase());
                if let Some(stage) = stage {
                    stages.push(stage);
                }
                if is_stage || reference == "scratch" || reference.contains('$') {
                    continue;
                }
                let native = platform
                    .as_deref()
                    .is_some_and(|p| p.contains("BUILDPLATFORM"));
                let image = BaseImage {
                    reference,
                    platform: if native {
                        None
                    } else {
                        target.map(str::to_owned)
                    },
                };
                if !images.contains(&image) {
                    images.push(image);
                }
            }
            _ => {}
        }
    }
    images
}

/// The Dockerfile's instructions: comments dropped, `\` continuations joined.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                if !current.trim().is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// `${NAME}`, `${NAME:-default}` and `$NAME` from `args`; unknown names stay as they are.
fn substitute(text: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (expr, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => (braced, after.len()),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        match args.get(name).map(String::as_str).or(default) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(dockerfile: &str, target: Option<&str>) -> Vec<(String, Option<String>)> {
        base_images(dockerfile, target)
            .into_iter()
            .map(|i| (i.reference, i.platform))
            .collect()
    }

    #[test]
    fn from_lines_with_global_args_stages_and_scratch() {
        let dockerfile = "\
# syntax is not used here
ARG RUST_IMAGE=docker.io/library/rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=\"docker.io/library/alpine:3\"
ARG MINIMAL_BASE=scratch
FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS builder
ARG RUNTIME_IMAGE=ignored/inside:stage
RUN echo \\
    FROM not-an-instruction
FROM builder AS test
FROM ${MINIMAL_BASE} AS minimal
FROM $RUNTIME_IMAGE
FROM ${UNSET:-debian:12} AS other
FROM ${UNSET_TOO}
FROM docker.io/library/rust:1.95.0-slim-bookworm
";
        assert_eq!(
            refs(dockerfile, None),
            [
                ("docker.io/library/rust:1.95.0-slim-bookworm".into(), None),
                ("docker.io/library/alpine:3".into(), None),
                ("debian:12".into(), None),
            ]
        );
        // Cross builds: the builder stays native, the runtime is pulled for the target.
        assert_eq!(
            refs(dockerfile, Some("linux/arm64"))[..2],
            [
                ("docker.io/library/rust:1.95.0-slim-bookworm".into(), None),
                (
                    "docker.io/library/alpine:3".into(),
                    Some("linux/arm64".into())
                ),
            ]
        );
    }

    #[test]
    fn the_project_s_dockerfiles_name_their_public_base_images() {
        let read = |mode: &str| {
            let path = paths::docker_dir().join(format!("Dockerfile.{mode}"));
            std::fs::read_to_string(path).unwrap()
        };
        let names = |mode: &str| -> Vec<String> {
            base_images(&read(mode), None)
                .into_iter()
                .map(|i| i.reference)
                .collect()
        };
        let rust = super::super::options::PUBLIC_RUST;
        let alpine = super::super::options::PUBLIC_ALPINE;
        assert_eq!(names("minimal"), [rust]);
        assert_eq!(names("dev"), [rust]);
        assert_eq!(names("prod"), [rust, alpine]);
    }

    #[test]
    fn substitution() {
        let args = BTreeMap::from([("A".to_owned(), "x".to_owned())]);
        assert_eq!(substitute("${A}:1", &args), "x:1");
        assert_eq!(substitute("$A/b", &args), "x/b");
        assert_eq!(substitute("${B:-d}", &args), "d");
        assert_eq!(substitute("${B}", &args), "${B}");
        assert_eq!(substitute("plain", &args), "plain");
    }

    #[test]
    fn shown_in_the_plan() {
        let pulls = Pulls {
            images: vec![
                BaseImage {
                    reference: "docker.io/library/rust:1".into(),
                    platform: None,
                },
                BaseImage {
                    reference: "docker.io/library/alpine:3".into(),
                    platform: Some("linux/arm64".into()),
                },
            ],
            offline: false,
        };
        expect_test::expect![[r#"
            pulls:    before the build, each base image the engine does not have yet, retried on network errors:
                      docker.io/library/rust:1
                      docker.io/library/alpine:3 (linux/arm64)
        "#]]
        .assert_eq(&pulls.to_string());
        assert_eq!(Pulls::default().to_string(), "");
        let offline = Pulls {
            offline: true,
            ..pulls
        };
        assert!(
            offline
                .to_string()
                .starts_with("pulls:    none (--offline); these base images must be in")
        );
    }
}
