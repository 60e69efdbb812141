//! The built-in compose rules (`CVC…`): a healthcheck calling a tool its image lacks, privileged
//! containers, the host network, and the Docker socket mounted into a container.
//!
//! The healthcheck rule looks at what the service's image is made of: for a service with
//! `build:`, the Dockerfile's target (or final) stage, followed through `FROM <stage>` links to
//! its base image, plus what that stage chain installs with apk or apt. A `scratch` or
//! distroless base has no shell, curl or wget; Alpine's busybox has `sh` and `wget` but no curl;
//! Debian's slim images have `sh` and `bash` but neither curl nor wget. For any other base, or a
//! service with only `image:`, the contents are unknown and nothing is claimed.
//!
//! Line numbers come from the text (YAML parsers lose them): the service's line, then the first
//! line below it that holds the key.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde_yaml_ng::Value;

use super::dockerfile::{self, Base};
use super::{Check, Finding, Location, Severity, Tool};

pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "CVC001",
        severity: Severity::High,
        title: "Healthcheck calls a tool the image does not have",
    },
    Rule {
        id: "CVC002",
        severity: Severity::Critical,
        title: "Privileged container",
    },
    Rule {
        id: "CVC003",
        severity: Severity::High,
        title: "Container on the host network",
    },
    Rule {
        id: "CVC004",
        severity: Severity::Critical,
        title: "Docker socket mounted into a container",
    },
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Tools whose presence the healthcheck rule can judge.
const KNOWN_TOOLS: &[&str] = &["sh", "bash", "curl", "wget", "nc"];

/// Check one compose file.
pub fn check_file(path: &Path, shown: &str) -> anyhow::Result<Check> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the compose file {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let findings = check(&text, shown, dir)
        .with_context(|| format!("{} is not a valid compose file", path.display()))?;
    Ok(Check::ran("compose-rules", shown, findings))
}

/// Every built-in finding for a compose file's text; `dir` is the directory it is in (build
/// contexts are relative to it).
pub fn check(text: &str, shown: &str, dir: &Path) -> Result<Vec<Finding>, serde_yaml_ng::Error> {
    let doc: Value = serde_yaml_ng::from_str(text)?;
    let mut out = Vec::new();
    let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
        return Ok(out);
    };
    for (name, service) in services {
        let Some(name) = name.as_str() else { continue };
        let mut push = |id: &str, key: &str, message: String| {
            let severity = rule(id).map_or(Severity::High, |r| r.severity);
            out.push(Finding {
                rule: id.to_owned(),
                severity,
                tool: Tool::Builtin,
                message: format!("service {name}: {message}"),
                location: Some(Location {
                    path: shown.to_owned(),
                    line: line_of(text, name, key),
                }),
            });
        };
        if service.get("privileged").and_then(Value::as_bool) == Some(true) {
            push(
                "CVC002",
                "privileged:",
                "runs privileged (every capability, every device): drop it and add only the \
                 capabilities it needs"
                    .to_owned(),
            );
        }
        if service.get("network_mode").and_then(Value::as_str) == Some("host") {
            push(
                "CVC003",
                "network_mode:",
                "uses the host network (no isolation, every host port reachable): publish ports \
                 instead"
                    .to_owned(),
            );
        }
        for volume in service
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let source = match volume {
                Value::String(short) => short.split(':').next().unwrap_or("").to_owned(),
                other => other
                    .get("source")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            };
            if source.ends_with("docker.sock") {
                push(
                    "CVC004",
                    "docker.sock",
                    format!(
                        "mounts the Docker socket `{source}`: whoever controls the container \
                         controls the host; use a socket proxy with a narrow API, or none"
                    ),
                );
            }
        }
        if let Some(message) = healthcheck_fault(service, dir) {
            push("CVC001", "healthcheck:", message);
        }
    }
    Ok(out)
}

/// Why the service's healthcheck cannot run in its image, if it cannot.
fn healthcheck_fault(service: &Value, dir: &Path) -> Option<String> {
    let healthcheck = service.get("healthcheck")?;
    if healthcheck.get("disable").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let needed = tools_needed(healthcheck.get("test")?);
    if needed.is_empty() {
        return None;
    }
    let image = ImageContents::of_service(service, dir)?;
    let missing: Vec<&str> = needed
        .iter()
        .map(String::as_str)
        .filter(|tool| !image.has(tool))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "the healthcheck needs {} but the image (base {}) has no such program, so it can never \
         pass: let the binary check itself, as `cv healthcheck` does",
        missing
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(" and "),
        image.base
    ))
}

/// The programs a healthcheck test runs that [`KNOWN_TOOLS`] covers.
fn tools_needed(test: &Value) -> Vec<String> {
    let mut needed = Vec::new();
    let argv: Vec<String> = match test {
        Value::String(shell) => vec!["CMD-SHELL".to_owned(), shell.clone()],
        Value::Sequence(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => return needed,
    };
    let program = |word: &str| word.rsplit('/').next().unwrap_or(word).to_owned();
    match argv.first().map(String::as_str) {
        Some("CMD") => {
            if let Some(first) = argv.get(1) {
                needed.push(program(first));
            }
        }
        Some("CMD-SHELL") => {
            needed.push("sh".to_owned());
            if let Some(first) = argv.get(1).and_then(|c| c.split_whitespace().next()) {
                needed.push(program(first));
            }
        }
        _ => {}
    }
    needed.retain(|t| KNOWN_TOOLS.contains(&t.as_str()));
    needed.dedup();
    needed
}

/// What the image of a service built from one of our Dockerfiles holds, as far as it is known.
struct ImageContents {
    base: String,
    tools: Vec<String>,
}

impl ImageContents {
    fn of_service(service: &Value, dir: &Path) -> Option<ImageContents> {
        let build = service.get("build")?;
        let (context, dockerfile, target, args) = match build {
            Value::String(context) => (context.as_str(), "Dockerfile", None, HashMap::new()),
            build => (
                build.get("context").and_then(Value::as_str).unwrap_or("."),
                build
                    .get("dockerfile")
                    .and_then(Value::as_str)
                    .unwrap_or("Dockerfile"),
                build.get("target").and_then(Value::as_str),
                build_args(build.get("args")),
            ),
        };
        let path = dir.join(context).join(dockerfile);
        let text = std::fs::read_to_string(path).ok()?;
        let stages = dockerfile::stages(&dockerfile::parse(&text), &args);
        let index = match target {
            Some(target) => stages
                .iter()
                .position(|s| s.name.as_deref() == Some(&target.to_ascii_lowercase()))?,
            None => stages.len().checked_sub(1)?,
        };
        let (root, chain) = dockerfile::root_of(&stages, index);
        let (base, mut tools): (String, Vec<&str>) = match &root {
            Base::Scratch => ("scratch".to_owned(), vec![]),
            Base::Image(image) => {
                let name = image.repository.rsplit('/').next().unwrap_or("");
                let tag = image.tag.as_deref().unwrap_or("");
                let tools = if image.repository.contains("distroless") {
                    if tag.contains("debug") {
                        vec!["sh"]
                    } else {
                        vec![]
                    }
                } else if name == "alpine" || name == "busybox" || tag.contains("alpine") {
                    vec!["sh", "wget", "nc"]
                } else if tag.contains("slim") || name == "debian" || name == "ubuntu" {
                    vec!["sh", "bash"]
                } else {
                    return None;
                };
                (image.reference.clone(), tools)
            }
            Base::Stage(_) => return None,
        };
        // What the stages on the way install.
        for &stage in &chain {
            for instruction in &stages[stage].instructions {
                if instruction.keyword != "RUN" {
                    continue;
                }
                for tool in KNOWN_TOOLS {
                    let installs = ["apk add", "apt-get install", "apt install"]
                        .iter()
                        .any(|pm| instruction.args.contains(pm));
                    let named = instruction.args.split_whitespace().any(|w| w == *tool);
                    if installs && named {
                        tools.push(tool);
                    }
                }
            }
        }
        Some(ImageContents {
            base,
            tools: tools.into_iter().map(str::to_owned).collect(),
        })
    }

    fn has(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }
}

/// Literal build args (a `${VAR}` value is left to the Dockerfile's default).
fn build_args(args: Option<&Value>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    match args {
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                if let (Some(k), Some(v)) = (k.as_str(), v.as_str())
                    && !v.contains('$')
                {
                    out.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        Some(Value::Sequence(items)) => {
            for item in items.iter().filter_map(Value::as_str) {
                if let Some((k, v)) = item.split_once('=')
                    && !v.contains('$')
                {
                    out.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        _ => {}
    }
    out
}

/// The line of `needle` in service `service`'s block, else the service's own line.
fn line_of(text: &str, service: &str, needle: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let start = lines.iter().position(|l| {
        let t = l.trim();
        indent(l) > 0 && (t == format!("{service}:") || t.starts_with(&format!("{service}: ")))
    })?;
    let own = indent(lines[start]);
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent(line) <= own {
            break;
        }
        if t.contains(needle) {
            return Some(i + 1);
        }
    }
    Some(start + 1)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn rules_of(yaml: &str, dir: &Path) -> Vec<(String, Option<usize>)> {
        check(yaml, "compose.yml", dir)
            .expect("valid yaml")
            .into_iter()
            .map(|f| (f.rule, f.location.and_then(|l| l.line)))
            .collect()
    }

    #[test]
    fn privileged_host_network_and_socket() {
        let yaml = "services:\n  a:\n    image: x\n    privileged: true\n    network_mode: host\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n      - data:/data\n";
        assert_eq!(
            rules_of(yaml, Path::new(".")),
            [
                ("CVC002".into(), Some(4)),
                ("CVC003".into(), Some(5)),
                ("CVC004".into(), Some(7))
            ]
        );
    }

    #[test]
    fn healthcheck_tools_against_the_built_image() {
        let dir = std::env::temp_dir().join(format!("cv-scan-compose-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("Dockerfile"),
            "ARG BASE=scratch\nFROM alpine:3 AS b\nFROM ${BASE}\nUSER 1\n",
        )
        .expect("write");
        std::fs::write(
            dir.join("Dockerfile.alpine"),
            "FROM alpine:3\nRUN apk add --no-cache curl\n",
        )
        .expect("write");
        let service = |dockerfile: &str, test: &str| {
            format!(
                "services:\n  web:\n    build:\n      context: .\n      dockerfile: {dockerfile}\n    healthcheck:\n      test: {test}\n"
            )
        };
        let curl = r#"["CMD", "curl", "-f", "http://localhost/"]"#;
        assert_eq!(
            rules_of(&service("Dockerfile", curl), &dir),
            [("CVC001".into(), Some(6))]
        );
        assert_eq!(
            rules_of(&service("Dockerfile", "wget -q -O- http://x/"), &dir).len(),
            1
        );
        assert_eq!(
            rules_of(&service("Dockerfile", r#"["CMD", "/app", "check"]"#), &dir),
            []
        );
        assert_eq!(rules_of(&service("Dockerfile.alpine", curl), &dir), []);
        assert_eq!(
            rules_of(&service("Dockerfile.alpine", "wget -q http://x/"), &dir),
            []
        );
        // A build argument picks the base: alpine has wget.
        let with_arg = service("Dockerfile", "wget -q http://x/").replace(
            "      dockerfile: Dockerfile\n",
            "      dockerfile: Dockerfile\n      args:\n        BASE: alpine:3\n",
        );
        assert_eq!(rules_of(&with_arg, &dir), []);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn byte_order_marks_change_nothing() {
        let dir = std::env::temp_dir().join(format!("cv-scan-compose-bom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // The built Dockerfile's first line is its only FROM: lost behind the mark, the image
        // would be unknown and the healthcheck not judged.
        std::fs::write(dir.join("Dockerfile"), "\u{feff}FROM scratch\nUSER 1\n").expect("write");
        let yaml = "\u{feff}services:\n  web:\n    build: .\n    privileged: true\n    healthcheck:\n      test: [\"CMD\", \"curl\", \"-f\", \"http://localhost/\"]\n";
        assert_eq!(
            rules_of(yaml, &dir),
            [("CVC002".into(), Some(4)), ("CVC001".into(), Some(5))]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
