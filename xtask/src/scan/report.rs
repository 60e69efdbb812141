//! The scan report and its three renderings: a table for people, JSON for scripts, SARIF 2.1.0
//! for code-scanning dashboards.
//!
//! JSON shape (version 1; documented in docs/SCANNING.md):
//! `{"version": 1, "failOn": "high", "passed": bool, "counts": {"critical": n, …},
//!   "checks": [{"id", "target", "outcome": {"status": "ran", "findings": [Finding…]}
//!              | {"status": "skipped", "reason"}}], "notes": [text…]}`
//! where a Finding is `{"rule", "severity", "tool", "message", "location": {"path", "line"}}`.
//!
//! SARIF: one run per tool (ours, hadolint, trivy), each with its rules; a result's location is a
//! physical one (file and start line) for files, a logical one for images (`IMAGE:/path`). The
//! checks list, skipped ones included, is in our run's property bag.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Check, Finding, Outcome, Severity, Tool};

/// Every check of one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    /// What the reader should know about the inputs, e.g. which advisory database was used.
    pub notes: Vec<String>,
}

impl Report {
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.checks.iter().flat_map(|c| c.findings().iter())
    }

    /// Findings at or above `fail_on`.
    pub fn failing(&self, fail_on: Severity) -> usize {
        self.findings().filter(|f| f.severity >= fail_on).count()
    }

    /// Findings per severity, most severe first.
    pub fn counts(&self) -> [(Severity, usize); 4] {
        [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ]
        .map(|s| (s, self.findings().filter(|f| f.severity == s).count()))
    }
}

fn location_text(finding: &Finding) -> String {
    match &finding.location {
        Some(l) => match l.line {
            Some(line) => format!("{}:{line}", l.path),
            None => l.path.clone(),
        },
        None => "-".to_owned(),
    }
}

/// The last line: counts and the verdict.
pub fn summary_line(report: &Report, fail_on: Severity) -> String {
    let counts = report
        .counts()
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let failing = report.failing(fail_on);
    let ran = report
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Ran { .. }))
        .count();
    let skipped = report.checks.len() - ran;
    let checks = if ran == 1 { "check" } else { "checks" };
    format!(
        "{ran} {checks} ran, {skipped} skipped; findings: {counts}; {failing} at or above {}: {}",
        fail_on.as_str(),
        if failing == 0 { "PASS" } else { "FAIL" }
    )
}

/// One line per finding (most severe first), then every check, then the counts.
pub fn table(report: &Report, fail_on: Severity) -> String {
    let mut findings: Vec<&Finding> = report.findings().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("no findings\n");
    } else {
        let rows: Vec<[String; 4]> = findings
            .iter()
            .map(|f| {
                [
                    f.severity.as_str().to_owned(),
                    f.rule.clone(),
                    location_text(f),
                    f.message.clone(),
                ]
            })
            .collect();
        let header = ["SEVERITY", "RULE", "LOCATION", "MESSAGE"].map(str::to_owned);
        push_rows(&mut out, &header, &rows);
    }
    out.push_str("\nchecks:\n");
    let rows: Vec<[String; 4]> = report
        .checks
        .iter()
        .map(|c| match &c.outcome {
            Outcome::Ran { findings } => [
                "ran".to_owned(),
                c.id.clone(),
                c.target.clone(),
                format!("{} finding(s)", findings.len()),
            ],
            Outcome::Skipped { reason } => [
                "skipped".to_owned(),
                c.id.clone(),
                c.target.clone(),
                reason.clone(),
            ],
        })
        .collect();
    push_rows(&mut out, &["", "", "", ""].map(str::to_owned), &rows);
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push('\n');
    out.push_str(&summary_line(report, fail_on));
    out.push('\n');
    out
}

/// Aligned columns; the last column is not padded. An all-empty header is left out.
fn push_rows(out: &mut String, header: &[String; 4], rows: &[[String; 4]]) {
    let mut widths = [0; 3];
    for row in std::iter::once(header).chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let show_header = header.iter().any(|h| !h.is_empty());
    for row in std::iter::once(header).filter(|_| show_header).chain(rows) {
        let line = format!(
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// The whole report as JSON (shape in the module docs).
pub fn json(report: &Report, fail_on: Severity) -> String {
    let counts: BTreeMap<&str, usize> = report
        .counts()
        .iter()
        .map(|(s, n)| (s.as_str(), *n))
        .collect();
    let value = json!({
        "version": 1,
        "failOn": fail_on,
        "passed": report.failing(fail_on) == 0,
        "counts": counts,
        "checks": report.checks,
        "notes": report.notes,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// The built-in Dockerfile and compose rules as a Markdown table (docs/SCANNING.md holds it).
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "| rule | severity | what | hadolint's counterpart |\n| --- | --- | --- | --- |\n",
    );
    for r in super::dockerfile::RULES {
        let counterpart = if r.hadolint.is_empty() {
            "none".to_owned()
        } else {
            r.hadolint.join(", ")
        };
        out.push_str(&format!(
            "| {} | {} | {} | {counterpart} |\n",
            r.id,
            r.severity.as_str(),
            r.title
        ));
    }
    for r in super::compose::RULES {
        out.push_str(&format!(
            "| {} | {} | {} | (compose: not hadolint's) |\n",
            r.id,
            r.severity.as_str(),
            r.title
        ));
    }
    out
}

/// A rule as SARIF shows it.
struct RuleInfo {
    title: String,
    severity: Severity,
}

/// Title and default severity of a built-in rule id, if it is one of ours.
fn builtin_rule(id: &str) -> Option<RuleInfo> {
    if let Some(r) = super::dockerfile::rule(id) {
        return Some(RuleInfo {
            title: r.title.to_owned(),
            severity: r.severity,
        });
    }
    super::compose::rule(id).map(|r| RuleInfo {
        title: r.title.to_owned(),
        severity: r.severity,
    })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning reads `security-severity` (a CVSS-like score) to rank results.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

/// The report as SARIF 2.1.0: our own run, then one per other tool that ran. A run says a tool
/// executed (`executionSuccessful`), so hadolint or trivy skipped (not installed,
/// `--builtin-only`) gets none; its skipped check is listed in our run's `properties.checks`,
/// which keeps the reason on record.
pub fn sarif(report: &Report) -> String {
    let ran = |tool: Tool| {
        report
            .checks
            .iter()
            .any(|c| tool_of_check(&c.id) == tool && matches!(c.outcome, Outcome::Ran { .. }))
    };
    let mut runs = Vec::new();
    for tool in [Tool::Builtin, Tool::Hadolint, Tool::Trivy] {
        if tool != Tool::Builtin && !ran(tool) {
            continue;
        }
        let findings: Vec<&Finding> = report.findings().filter(|f| f.tool == tool).collect();
        let checks: Vec<&Check> = report
            .checks
            .iter()
            .filter(|c| {
                let owner = tool_of_check(&c.id);
                owner == tool || (tool == Tool::Builtin && !ran(owner))
            })
            .collect();
        runs.push(sarif_run(tool, &findings, &checks));
    }
    let value = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": runs,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

fn tool_of_check(id: &str) -> Tool {
    match id {
        "hadolint" => Tool::Hadolint,
        "trivy" => Tool::Trivy,
        _ => Tool::Builtin,
    }
}

fn sarif_run(tool: Tool, findings: &[&Finding], checks: &[&Check]) -> Value {
    // Our own version is known at build time; the others' are asked of the installed tool.
    let (name, version, uri) = match tool {
        Tool::Builtin => (
            "cv-xtask-scan",
            env!("CARGO_PKG_VERSION"),
            "https://github.com/cv-containers/cv/blob/main/docs/SCANNING.md",
        ),
        Tool::Hadolint => ("hadolint", "", "https://github.com/hadolint/hadolint"),
        Tool::Trivy => ("trivy", "", "https://github.com/aquasecurity/trivy"),
    };
    // Rules: every built-in one for our run (so dashboards know them before they fire), plus
    // whatever id a finding carries.
    let mut rules: BTreeMap<String, RuleInfo> = BTreeMap::new();
    if tool == Tool::Builtin {
        for r in super::dockerfile::RULES {
            rules.insert(
                r.id.to_owned(),
                RuleInfo {
                    title: r.title.to_owned(),
                    severity: r.severity,
                },
            );
        }
        for r in super::compose::RULES {
            rules.insert(
                r.id.to_owned(),
                RuleInfo {
                    title: r.title.to_owned(),
                    severity: r.severity,
                },
            );
        }
    }
    for f in findings {
        rules.entry(f.rule.clone()).or_insert_with(|| {
            builtin_rule(&f.rule).unwrap_or(RuleInfo {
                title: f.message.clone(),
                severity: f.severity,
            })
        });
    }
    let index: BTreeMap<&str, usize> = rules
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let rules_json: Vec<Value> = rules
        .iter()
        .map(|(id, info)| {
            let mut rule = json!({
                "id": id,
                "shortDescription": { "text": info.title },
                "defaultConfiguration": { "level": sarif_level(info.severity) },
                "properties": { "security-severity": security_severity(info.severity) },
            });
            if id.starts_with("RUSTSEC-") {
                rule["helpUri"] = json!(format!("https://rustsec.org/advisories/{id}.html"));
            } else if id.starts_with("DL") || id.starts_with("SC") {
                rule["helpUri"] = json!(format!("https://github.com/hadolint/hadolint/wiki/{id}"));
            }
            rule
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": index.get(f.rule.as_str()).copied().unwrap_or(0),
                "level": sarif_level(f.severity),
                "message": { "text": f.message },
                "properties": { "severity": f.severity },
            });
            if let Some(location) = &f.location {
                result["locations"] = json!([sarif_location(&location.path, location.line)]);
            }
            result
        })
        .collect();
    let mut driver = json!({
        "name": name,
        "informationUri": uri,
        "rules": rules_json,
    });
    let version = match tool {
        Tool::Builtin => Some(version.to_owned()),
        Tool::Hadolint | Tool::Trivy => installed_version(name),
    };
    if let Some(version) = version {
        driver["version"] = json!(version);
    }
    json!({
        "tool": { "driver": driver },
        "results": results,
        "invocations": [{ "executionSuccessful": true }],
        "properties": { "checks": checks },
    })
}

/// The version an installed tool reports (`hadolint --version`: "Haskell Dockerfile Linter
/// 2.15.1"; `trivy --version`: "Version: 0.50.1"): its last word, if the tool runs.
fn installed_version(program: &str) -> Option<String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let word = text.lines().next()?.split_whitespace().last()?;
    Some(word.trim_start_matches('v').to_owned())
}

/// A file is a physical location (relative URI, start line); an image or a file in one
/// (`IMAGE:/path`) is a logical location, since it is no file of the repository.
fn sarif_location(path: &str, line: Option<usize>) -> Value {
    if path.contains(':') {
        return json!({ "logicalLocations": [{ "fullyQualifiedName": path, "kind": "resource" }] });
    }
    let mut physical = json!({ "artifactLocation": { "uri": path.replace(' ', "%20") } });
    if let Some(line) = line {
        physical["region"] = json!({ "startLine": line });
    }
    json!({ "physicalLocation": physical })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Location;

    fn sample() -> Report {
        Report {
            checks: vec![
                Check::ran(
                    "dockerfile-rules",
                    "docker/Dockerfile.x",
                    vec![Finding {
                        rule: "CVD003".into(),
                        severity: Severity::High,
                        tool: Tool::Builtin,
                        message: "ADD downloads a URL".into(),
                        location: Some(Location {
                            path: "docker/Dockerfile.x".into(),
                            line: Some(4),
                        }),
                    }],
                ),
                Check::skipped(
                    "hadolint",
                    "docker/Dockerfile.x",
                    "hadolint is not installed",
                ),
            ],
            notes: vec![],
        }
    }

    #[test]
    fn table_lists_findings_checks_and_verdict() {
        let text = table(&sample(), Severity::High);
        expect_test::expect![[r#"
              SEVERITY  RULE    LOCATION               MESSAGE
              high      CVD003  docker/Dockerfile.x:4  ADD downloads a URL

            checks:
              ran      dockerfile-rules  docker/Dockerfile.x  1 finding(s)
              skipped  hadolint          docker/Dockerfile.x  hadolint is not installed

            1 check ran, 1 skipped; findings: 0 critical, 1 high, 0 medium, 0 low; 1 at or above high: FAIL
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn the_summary_says_check_or_checks_as_counted() {
        let mut report = sample();
        report.checks[1] = Check::ran("hadolint", "docker/Dockerfile.x", Vec::new());
        let line = summary_line(&report, Severity::High);
        assert!(line.starts_with("2 checks ran, 0 skipped;"), "{line}");
    }

    #[test]
    fn json_counts_and_verdict() {
        let value: Value =
            serde_json::from_str(&json(&sample(), Severity::Critical)).expect("json");
        assert_eq!(value["passed"], true);
        assert_eq!(value["counts"]["high"], 1);
        assert_eq!(value["checks"][1]["outcome"]["status"], "skipped");
        assert_eq!(
            value["checks"][0]["outcome"]["findings"][0]["location"]["line"],
            4
        );
    }

    #[test]
    fn sarif_has_rules_results_and_regions() {
        let value: Value = serde_json::from_str(&sarif(&sample())).expect("sarif");
        let run = &value["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "cv-xtask-scan");
        let result = &run["results"][0];
        let rule_index = result["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(run["tool"]["driver"]["rules"][rule_index]["id"], "CVD003");
        assert_eq!(
            result["locations"][0]["physicalLocation"]["region"]["startLine"],
            4
        );
        // hadolint did not run, so it has no run (a run would claim it executed); its skipped
        // check is on record in ours.
        assert_eq!(
            value["runs"].as_array().expect("runs").len(),
            1,
            "{value:#}"
        );
        let checks = &run["properties"]["checks"];
        assert_eq!(checks[1]["id"], "hadolint");
        assert_eq!(checks[1]["outcome"]["status"], "skipped");
        assert_eq!(checks[1]["outcome"]["reason"], "hadolint is not installed");
    }

    #[test]
    fn sarif_has_a_run_for_a_tool_that_ran() {
        let mut report = sample();
        report.checks[1] = Check::ran("hadolint", "docker/Dockerfile.x", Vec::new());
        report
            .checks
            .push(Check::skipped("trivy", "cv:prod", "trivy is not installed"));
        let value: Value = serde_json::from_str(&sarif(&report)).expect("sarif");
        let names: Vec<&str> = value["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| r["tool"]["driver"]["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["cv-xtask-scan", "hadolint"]);
        assert_eq!(
            value["runs"][1]["properties"]["checks"][0]["id"],
            "hadolint"
        );
        let ours = value["runs"][0]["properties"]["checks"]
            .as_array()
            .expect("checks");
        assert!(ours.iter().any(|c| c["id"] == "trivy"), "{ours:?}");
        assert!(!ours.iter().any(|c| c["id"] == "hadolint"), "{ours:?}");
    }
}
