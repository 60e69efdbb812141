//! `docker/docker-compose.prod.yml` run by Compose v1 (`docker-compose` 1.29) with the prod image
//! just built: it comes up healthy, takes a write with the token from its secret, and runs with
//! the hardening the file promises. `down -v` runs however the test ends.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{TestResult, docker_ok, engine, http, prod_image, project_root, text, unique};

/// A Compose project that is taken down, volumes and all, when dropped.
struct Project {
    name: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn compose(&self, args: &[&str]) -> Result<Output, String> {
        let file = project_root().join("docker/docker-compose.prod.yml");
        Command::new("docker-compose")
            .arg("--project-name")
            .arg(&self.name)
            .arg("--file")
            .arg(file)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(project_root())
            .output()
            .map_err(|e| format!("docker-compose {args:?}: {e}"))
    }

    fn compose_ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.compose(args)?;
        if out.status.success() {
            Ok(text(&out.stdout).trim().to_owned())
        } else {
            Err(format!(
                "docker-compose {args:?} failed:\n{}",
                text(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        match self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]) {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "docker-compose down failed for {}: {}",
                self.name,
                text(&out.stderr)
            ),
            Err(e) => eprintln!("{e}"),
        }
    }
}

pub fn prod_compose_up_healthy_and_hardened() -> TestResult {
    if !engine("prod_compose_up_healthy_and_hardened")? {
        return Ok(());
    }
    let built = prod_image()?;
    let name = unique("compose");
    let token = format!("{name}-token-0123456789abcdef");
    // Compose v1 bind-mounts a file secret as it is: it must be readable by uid 65532.
    let token_file: PathBuf = std::env::temp_dir().join(format!("{name}.token"));
    std::fs::write(&token_file, &token).map_err(|e| e.to_string())?;
    let _remove_token = RemoveOnDrop(token_file.clone());
    // Subnets of their own, so a concurrent run of the file (defaults) cannot clash with this one.
    let n = std::process::id() % 200 + 20;
    let project = Project {
        name: name.clone(),
        env: vec![
            ("CV_IMAGE".into(), built.image.clone()),
            (
                "CV_API_TOKEN_SECRET_FILE".into(),
                token_file.display().to_string(),
            ),
            ("CV_PUBLISH".into(), "127.0.0.1:".into()),
            ("CV_SUBNET_V4".into(), format!("172.31.{n}.0/24")),
            ("CV_SUBNET_V6".into(), format!("fd00:c5:{n:x}::/64")),
        ],
    };

    let started = Instant::now();
    project.compose_ok(&["up", "--detach", "--no-build"])?;
    let id = project.compose_ok(&["ps", "--quiet", "cv"])?;
    if id.is_empty() {
        return Err("docker-compose ps lists no cv container".into());
    }
    loop {
        let state = docker_ok(&[
            "inspect",
            "--format",
            "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
            &id,
        ])?;
        match state.as_str() {
            "healthy" => break,
            "none" => return Err("the compose service has no healthcheck".into()),
            "unhealthy" => {
                return Err(format!(
                    "unhealthy; logs:\n{}",
                    project.compose_ok(&["logs", "--no-color"])?
                ));
            }
            _ if started.elapsed() > Duration::from_secs(120) => {
                return Err(format!("not healthy after 120 s (state {state})"));
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    eprintln!(
        "compose project {name} healthy {:.1} s after `up`",
        started.elapsed().as_secs_f64()
    );

    let addr = project.compose_ok(&["port", "cv", "8080"])?;
    let post = r#"{"slug":"from-compose","title":"Compose","body":"hi","published":true}"#;
    let json = ("Content-Type", "application/json");
    let refused = http(&addr, "POST", "/api/posts", &[json], post)?;
    if refused.status != 401 {
        return Err(format!(
            "POST without the token answered {}, want 401",
            refused.status
        ));
    }
    let auth = format!("Bearer {token}");
    let created = http(
        &addr,
        "POST",
        "/api/posts",
        &[json, ("Authorization", &auth)],
        post,
    )?;
    if created.status != 201 {
        return Err(format!(
            "POST with the secret's token answered {}: {}",
            created.status, created.body
        ));
    }

    let hardening = docker_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}} {{.Config.User}}",
        &id,
    ])?;
    eprintln!("compose container: ReadonlyRootfs CapDrop SecurityOpt User = {hardening}");
    let mut fields = hardening.splitn(4, ' ');
    let (readonly, cap_drop, security, user) = (
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
    );
    if readonly != "true" {
        return Err(format!("ReadonlyRootfs is {readonly}, want true"));
    }
    let cap_drop: Vec<String> = serde_json::from_str(cap_drop).map_err(|e| e.to_string())?;
    if cap_drop != ["ALL"] {
        return Err(format!("CapDrop is {cap_drop:?}, want [\"ALL\"]"));
    }
    if !security.contains("no-new-privileges") {
        return Err(format!("SecurityOpt lacks no-new-privileges: {security}"));
    }
    if user != "65532:65532" {
        return Err(format!("runs as {user:?}, want 65532:65532"));
    }
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
