//! Running a plan: the one place `cargo xtask docker` starts processes.
//!
//! Every command is built with xshell (arguments stay separate; no shell). The build and the push
//! must stream their progress *and* be captured (for the summary, and for classifying a failed
//! push), which xshell cannot do, so those two are turned into a `std::process::Command` and their
//! output is copied through by two threads.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use xshell::{Cmd, Shell};

use super::binary::{elf, first_tar_file};
use super::plan::{Arg, CONTAINER_PORT, Plan, Step, StepKind};
use super::summary::ImageFacts;
use crate::retry::{self, Policy};

/// What running the plan produced, for the summary.
#[derive(Debug, Default)]
pub struct Outcome {
    pub image_id: String,
    pub build_output: String,
    pub build_time: Duration,
    pub pushed: Option<String>,
    pub url: Option<String>,
    pub binary: Option<String>,
}

/// A check the image must pass once it is built and tagged, before anything leaves this
/// machine or starts: `cargo xtask docker --scan`. It gets the tagged reference.
pub type Gate<'a> = &'a mut dyn FnMut() -> anyhow::Result<()>;

pub fn execute(
    sh: &Shell,
    plan: &Plan,
    retry_policy: Policy,
    mut gate: Option<Gate<'_>>,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::default();
    let total = plan.steps.len();
    for (i, step) in plan.steps.iter().enumerate() {
        // The gate runs after the tags and before the first push, cleanup or run: an image that
        // fails it is neither shipped nor started (it stays tagged here, to be looked at).
        if matches!(
            step.kind,
            StepKind::Push | StepKind::Cleanup | StepKind::Run
        ) && let Some(gate) = gate.take()
        {
            gate()?;
        }
        let image_id = (!outcome.image_id.is_empty()).then_some(outcome.image_id.as_str());
        eprintln!("[{}/{total}] $ {}", i + 1, step.command_line(image_id));
        let failed = |detail: String| {
            anyhow::anyhow!(
                "step {} of {total} failed: {detail}\n  hint: {}",
                i + 1,
                step.hint
            )
        };
        let cmd = command(sh, step, &outcome.image_id);
        match &step.kind {
            StepKind::Check => {
                let out = cmd.ignore_status().output()?;
                if !out.status.success() {
                    return Err(failed(last_line(&out.stderr)));
                }
            }
            StepKind::Build => {
                let started = Instant::now();
                let (ok, output) = tee(cmd).map_err(|e| failed(format!("{e:#}")))?;
                outcome.build_time = started.elapsed();
                if !ok {
                    return Err(failed(format!(
                        "the build exited with an error: {}",
                        last_error_line(&output)
                    )));
                }
                outcome.build_output = output;
                let id = sh.read_file(&plan.iidfile).with_context(|| {
                    format!("the build wrote no image ID to {}", plan.iidfile.display())
                })?;
                outcome.image_id = id.trim().to_owned();
                if outcome.image_id.is_empty() {
                    return Err(failed("the build wrote an empty image ID file".into()));
                }
            }
            StepKind::VerifyBinary {
                platform,
                require_static,
            } => {
                let wanted = platform.as_ref().map(|p| p.arch.as_str());
                let found =
                    match verify_binary(sh, step, &outcome.image_id, wanted, *require_static) {
                        Ok(found) => found,
                        Err(e) => {
                            // Refused before tagging: the image would be left dangling. `image rm`
                            // without --force keeps it if a tag or a container still uses it.
                            let _ = sh
                                .cmd(&step.program)
                                .args(["image", "rm", &outcome.image_id])
                                .quiet()
                                .ignore_stdout()
                                .ignore_stderr()
                                .run();
                            return Err(failed(format!("{e:#}")));
                        }
                    };
                outcome.binary = Some(found);
            }
            StepKind::Tag | StepKind::Run => {
                let out = cmd.ignore_status().output()?;
                if !out.status.success() {
                    // `docker run -d` that fails to start (a port taken) leaves the container
                    // created; remove it so the next try is not refused over the name.
                    if step.kind == StepKind::Run
                        && let Some(name) = container_name(step)
                    {
                        let _ = sh
                            .cmd(&step.program)
                            .args(["rm", "--force", name])
                            .quiet()
                            .ignore_stdout()
                            .ignore_stderr()
                            .run();
                    }
                    return Err(failed(last_line(&out.stderr)));
                }
            }
            StepKind::Push => {
                let target = match step.args.last() {
                    Some(Arg::Lit(t)) => t.clone(),
                    _ => String::new(),
                };
                retry::retry(&format!("push of {target}"), retry_policy, || {
                    let cmd = command(sh, step, &outcome.image_id);
                    match tee(cmd) {
                        Ok((true, _)) => Ok(()),
                        Ok((false, output)) => Err(output),
                        Err(e) => Err(format!("{e:#}")),
                    }
                })
                .map_err(|e| failed(format!("{e:#}")))?;
                outcome.pushed = Some(target);
            }
            StepKind::Cleanup => {
                // Nothing to clean is the usual case; the next step reports real trouble.
                let _ = cmd.ignore_status().ignore_stdout().ignore_stderr().run();
            }
            StepKind::WaitHealthy { container, timeout } => {
                wait_healthy(sh, step, container, *timeout)
                    .map_err(|e| failed(format!("{e:#}")))?;
                outcome.url = Some(published_url(sh, step, container)?);
            }
        }
    }
    if let Some(gate) = gate.take() {
        gate()?;
    }
    Ok(outcome)
}

/// The `--name` a run step gives its container.
fn container_name(step: &Step) -> Option<&str> {
    let mut args = step.args.iter();
    args.find(|a| matches!(a, Arg::Lit(s) if s == "--name"))?;
    match args.next() {
        Some(Arg::Lit(name)) => Some(name),
        _ => None,
    }
}

/// The step as an xshell command, with the image ID filled in. Echo is off: [`execute`] prints
/// each command itself, with its environment.
fn command<'a>(sh: &'a Shell, step: &Step, image_id: &str) -> Cmd<'a> {
    let args = step.args.iter().map(|a| match a {
        Arg::Lit(s) => s.clone(),
        Arg::ImageId => image_id.to_owned(),
    });
    sh.cmd(&step.program)
        .args(args)
        .envs(step.env.iter().map(|(k, v)| (k, v)))
        .quiet()
}

/// Runs `cmd`, copying its stdout and stderr through to our stderr as they come while keeping a
/// copy of both. Returns whether it succeeded and everything it printed. The engine's output is
/// progress: our stdout carries only the result (the summary, or `cargo xtask bench --json`).
fn tee(cmd: Cmd<'_>) -> anyhow::Result<(bool, String)> {
    let mut command = Command::from(cmd);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let out = thread::spawn(move || copy_through(stdout, std::io::stderr()));
    let err = thread::spawn(move || copy_through(stderr, std::io::stderr()));
    let status = child.wait().context("waiting for the engine")?;
    let mut captured = out.join().unwrap_or_default();
    captured.extend(err.join().unwrap_or_default());
    Ok((
        status.success(),
        String::from_utf8_lossy(&captured).into_owned(),
    ))
}

fn copy_through(mut from: impl Read, mut to: impl Write) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                // A closed terminal must not stop the build; the copy is kept regardless.
                let _ = to.write_all(&buf[..n]);
                let _ = to.flush();
            }
        }
    }
    kept
}

/// Copies the entrypoint out of the image and checks its ELF header; returns what it found.
fn verify_binary(
    sh: &Shell,
    step: &Step,
    image_id: &str,
    wanted_arch: Option<&str>,
    require_static: bool,
) -> anyhow::Result<String> {
    let client = &step.program;
    let facts = ImageFacts::inspect(sh, client, image_id)?;
    let Some(path) = facts.entrypoint.first().filter(|p| p.starts_with('/')) else {
        return Ok("not checked (no absolute entrypoint path)".to_owned());
    };
    let container = command(sh, step, image_id)
        .read()
        .context("cannot create a container from the new image")?;
    let source = format!("{container}:{path}");
    let copied = sh.cmd(client).args(["cp", &source, "-"]).quiet().output();
    // The container was never started; removing it is bookkeeping, whatever `cp` did. With
    // its anonymous volumes: each VOLUME of the image got one, which would otherwise be left
    // behind by every build.
    let _ = sh
        .cmd(client)
        .args(["rm", "--volumes", &container])
        .quiet()
        .ignore_stdout()
        .run();
    let tar = copied
        .with_context(|| format!("cannot copy {path} out of the new image"))?
        .stdout;
    let content = first_tar_file(&tar).with_context(|| format!("`cp` of {path} gave no file"))?;
    let Some(found) = elf(content) else {
        return Ok(format!(
            "{path}: not an ELF executable (a script?); not checked"
        ));
    };
    let image_arch = facts.architecture.as_str();
    if found.arch != image_arch {
        bail!(
            "{path} is an {} binary, but the image says its platform is {image_arch}",
            found.arch
        );
    }
    if let Some(wanted) = wanted_arch.filter(|w| *w != found.arch) {
        bail!(
            "{path} is an {} binary, but --platform asked for {wanted}",
            found.arch
        );
    }
    if require_static && !found.is_static {
        bail!("{path} is dynamically linked, and this image has no dynamic loader");
    }
    Ok(format!("{path}: {found}"))
}

fn wait_healthy(sh: &Shell, step: &Step, container: &str, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < timeout {
        let out = command(sh, step, "").ignore_status().output()?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        match state.as_str() {
            // An image without a HEALTHCHECK (dev) is ready once it runs.
            "running healthy" | "running" => {
                eprintln!(
                    "       {container}: {state} after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            s if s.ends_with("unhealthy") => bail!("{container} reports unhealthy"),
            s if s.starts_with("exited") || s.starts_with("dead") => {
                bail!("{container} stopped ({s}) before it turned healthy")
            }
            _ => {}
        }
        if state != last {
            eprintln!("       {container}: {state}");
            last = state;
        }
        thread::sleep(Duration::from_millis(500));
    }
    bail!(
        "{container} did not turn healthy within {} s (last state: {last})",
        timeout.as_secs()
    )
}

fn published_url(sh: &Shell, step: &Step, container: &str) -> anyhow::Result<String> {
    let program = &step.program;
    let port = format!("{CONTAINER_PORT}/tcp");
    let out = sh
        .cmd(program)
        .args(["port", container, &port])
        .quiet()
        .read()
        .context("cannot read the published port")?;
    let addr = out.lines().next().unwrap_or("").trim();
    Ok(format!("http://{addr}/"))
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_owned()
}

/// The line that best explains a failed build: the last one that speaks of an error or a
/// failure (BuildKit ends with `failed to solve…` or `executor failed running…`), else the last.
fn last_error_line(output: &str) -> String {
    output
        .lines()
        .rev()
        .find(|l| {
            let l = l.to_lowercase();
            l.contains("error") || l.contains("failed")
        })
        .map(|l| l.trim().to_owned())
        .unwrap_or_else(|| last_line(output.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tee_streams_and_keeps_output_of_a_real_process() {
        let sh = Shell::new().unwrap();
        let cmd = sh.cmd("sh").args(["-c", "echo out; echo err >&2; exit 3"]);
        let (ok, output) = tee(cmd).unwrap();
        assert!(!ok);
        assert!(
            output.contains("out\n") && output.contains("err\n"),
            "{output:?}"
        );
    }

    #[test]
    fn error_lines() {
        let out = "#9 [builder 4/6] RUN cargo build\n#9 ERROR: process \"/bin/sh -c cargo build\" did not complete successfully: exit code: 101\n------\n";
        assert!(last_error_line(out).starts_with("#9 ERROR: process"));
        let out = "#9 ERROR: x\nexecutor failed running [/bin/sh -c cargo build]: exit code: 101\n";
        assert!(last_error_line(out).starts_with("executor failed running"));
        assert_eq!(last_error_line("a\nlast\n\n"), "last");
    }
}
