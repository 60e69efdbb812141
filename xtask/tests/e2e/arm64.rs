//! `--platform linux/arm64`: the minimal image cross-compiled on this (x86_64) machine by the
//! real `cargo xtask docker`, with zig through cargo-zigbuild in a builder of the build platform,
//! never under emulation. The binary is taken out of the image and checked from outside: its ELF
//! header (and `file`, when installed) says aarch64 and static, and qemu-user-static runs it.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::support::{
    Kind, TestResult, build_on_standins, docker, docker_ok, engine, in_ci, remember, standins,
    text, unique,
};

const QEMU: &str = "/usr/bin/qemu-aarch64-static";

/// ELF header facts, read independently of the xtask's own check (which this test exercises).
struct Elf {
    class_64: bool,
    machine: u16,
    /// Any `PT_INTERP` program header means a dynamic loader is needed.
    has_interpreter: bool,
}

fn read_elf(bytes: &[u8]) -> Result<Elf, String> {
    let get = |at: usize, len: usize| {
        bytes
            .get(at..at + len)
            .ok_or_else(|| format!("ELF file cut short at byte {at}"))
    };
    if get(0, 4)? != b"\x7fELF" {
        return Err("no ELF magic".into());
    }
    let class_64 = get(4, 1)?[0] == 2;
    if !class_64 || get(5, 1)?[0] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let u16_at = |at| get(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at| get(at, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |at| {
        get(at, 8).map(|b| {
            let mut a = [0; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    let machine = u16_at(18)?;
    let phoff = usize::try_from(u64_at(32)?).map_err(|e| e.to_string())?;
    let phentsize = usize::from(u16_at(54)?);
    let phnum = usize::from(u16_at(56)?);
    let mut has_interpreter = false;
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize)? == 3 {
            has_interpreter = true;
        }
    }
    Ok(Elf {
        class_64,
        machine,
        has_interpreter,
    })
}

/// EM_AARCH64 in the ELF specification.
const EM_AARCH64: u16 = 183;

pub fn binary_is_aarch64_static_and_runs_under_qemu() -> TestResult {
    if !engine("arm64::binary_is_aarch64_static_and_runs_under_qemu")? {
        return Ok(());
    }
    if !Path::new(QEMU).exists() {
        if in_ci() {
            return Err(format!(
                "{QEMU} is missing and CI=true requires it (scripts/setup-machine.sh installs qemu-user-static)"
            ));
        }
        eprintln!("skipped: {QEMU} missing (scripts/setup-machine.sh installs it)");
        return Ok(());
    }
    standins()?;

    let image = format!("{}:e2e", unique("arm64"));
    remember(Kind::Image, &image);
    let started = Instant::now();
    let out = build_on_standins("minimal", &image, &["--platform", "linux/arm64"]);
    let seconds = started.elapsed().as_secs_f64();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "the linux/arm64 build failed after {seconds:.0} s:\n{}",
            tail.join("\n")
        ));
    }
    eprintln!("arm64: cross build of {image} took {seconds:.0} s\n{stdout}");

    // The builder ran natively: cargo zigbuild compiled, and no step ran under emulation.
    if !stderr.contains("zigbuild") {
        return Err("the build log never mentions zigbuild: was it cross-compiled?".into());
    }
    for want in [
        "platform    linux/arm64",
        "binary      /usr/local/bin/cv: ELF arm64, static",
    ] {
        if !stdout.contains(want) {
            return Err(format!("summary lacks {want:?}:\n{stdout}"));
        }
    }
    let arch = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}}",
        &image,
    ])?;
    if arch != "linux/arm64" {
        return Err(format!("the image config says {arch}, want linux/arm64"));
    }

    // Take the binary out of the image and look at it from the host.
    let container = unique("arm64-export");
    remember(Kind::Container, &container);
    docker_ok(&["create", "--name", &container, &image])?;
    let dir = std::env::temp_dir().join(unique("arm64-bin"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let binary = dir.join("cv");
    let copied = docker_ok(&[
        "cp",
        &format!("{container}:/usr/local/bin/cv"),
        &binary.display().to_string(),
    ]);
    let _ = docker(&["rm", "--volumes", &container]);
    copied?;
    let result = check_binary(&binary, &stderr);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn check_binary(binary: &Path, build_log: &str) -> TestResult {
    let bytes = std::fs::read(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    let elf = read_elf(&bytes)?;
    if !elf.class_64 || elf.machine != EM_AARCH64 {
        return Err(format!(
            "ELF machine {} (want {EM_AARCH64}, aarch64)",
            elf.machine
        ));
    }
    if elf.has_interpreter {
        return Err("the binary names a dynamic loader (PT_INTERP): not static".into());
    }
    eprintln!(
        "arm64: the image's binary is an aarch64 static ELF file of {:.2} MB",
        bytes.len() as f64 / 1e6
    );
    if let Ok(out) = Command::new("file").arg(binary).output() {
        let said = text(&out.stdout);
        eprintln!("arm64: file says: {}", said.trim());
        if !said.contains("ARM aarch64")
            || !(said.contains("statically linked") || said.contains("static-pie linked"))
        {
            return Err(format!("`file` disagrees: {said}"));
        }
    }

    // The emulator runs the binary directly; no binfmt registration (and no privileged
    // container to make one) is needed.
    let out = Command::new(QEMU)
        .arg(binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("{QEMU}: {e}"))?;
    let said = text(&out.stdout);
    let revision = build_log
        .split_whitespace()
        .find_map(|w| w.strip_prefix("GIT_REVISION="))
        .ok_or("the printed plan has no GIT_REVISION build arg")?;
    let want = format!("cv 0.1.0 ({revision})");
    if !out.status.success() || said.trim() != want {
        return Err(format!(
            "under qemu `cv --version` said {:?} (exit {:?}; stderr {:?}), want {want:?}",
            said.trim(),
            out.status.code(),
            text(&out.stderr).trim()
        ));
    }
    eprintln!("arm64: under {QEMU}: {}", said.trim());
    Ok(())
}
