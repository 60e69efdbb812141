//! What the image's entrypoint really is: the architecture and linkage of the ELF file, read
//! from its header. A cross-compile that silently produced a host binary, or a dynamically linked
//! one on `scratch`, is caught here instead of at `docker run` on the target machine.

use std::fmt;

/// The facts read from an ELF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elf {
    /// In the OCI platform's words: amd64, arm64, arm, 386, riscv64, …
    pub arch: &'static str,
    /// No `PT_INTERP` program header: the kernel runs it without a dynamic loader.
    pub is_static: bool,
}

impl fmt::Display for Elf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let linkage = if self.is_static {
            "static"
        } else {
            "dynamically linked"
        };
        write!(f, "ELF {}, {linkage}", self.arch)
    }
}

const PT_INTERP: u32 = 3;

/// Reads the architecture and linkage of an ELF file; None when it is not one (a script).
pub fn elf(bytes: &[u8]) -> Option<Elf> {
    if bytes.get(..4)? != b"\x7fELF" {
        return None;
    }
    let is_64 = match bytes.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = *bytes.get(5)? == 1;
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let u64_at = |at: usize| -> Option<u64> {
        let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
        Some(if little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    };
    let arch = match u16_at(18)? {
        3 => "386",
        8 => "mips",
        20 => "ppc",
        21 => "ppc64",
        22 => "s390x",
        40 => "arm",
        62 => "amd64",
        183 => "arm64",
        243 => "riscv64",
        _ => "unknown",
    };
    let (phoff, phentsize, phnum) = if is_64 {
        (usize::try_from(u64_at(32)?).ok()?, u16_at(54)?, u16_at(56)?)
    } else {
        (u32_at(28)? as usize, u16_at(42)?, u16_at(44)?)
    };
    let mut is_static = true;
    for i in 0..usize::from(phnum) {
        let at = phoff.checked_add(i.checked_mul(usize::from(phentsize))?)?;
        if u32_at(at)? == PT_INTERP {
            is_static = false;
        }
    }
    Some(Elf { arch, is_static })
}

/// The content of the first file in a tar stream (what `docker cp CONTAINER:PATH -` prints).
pub fn first_tar_file(tar: &[u8]) -> Option<&[u8]> {
    let header = tar.get(..512)?;
    let size_field = std::str::from_utf8(&header[124..136]).ok()?;
    let size =
        usize::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok()?;
    tar.get(512..512 + size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-bit little-endian ELF header with `phnum` program headers of the given types.
    fn elf64(machine: u16, types: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * types.len()];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for (i, t) in types.iter().enumerate() {
            b[64 + 56 * i..68 + 56 * i].copy_from_slice(&t.to_le_bytes());
        }
        b
    }

    #[test]
    fn headers() {
        assert_eq!(
            elf(&elf64(62, &[1, 1])),
            Some(Elf {
                arch: "amd64",
                is_static: true
            })
        );
        assert_eq!(
            elf(&elf64(183, &[6, 3, 1])),
            Some(Elf {
                arch: "arm64",
                is_static: false
            })
        );
        assert_eq!(elf(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(
            elf(&elf64(62, &[1])[..40]),
            None,
            "a truncated header is not an ELF file"
        );
    }

    #[test]
    fn this_test_binary_is_read_correctly() {
        // A real ELF file to hold the parser to: the test executable itself.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let got = elf(&me).unwrap();
        let want = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        assert_eq!(got.arch, want);
        assert!(
            !got.is_static,
            "cargo test binaries for gnu targets use the dynamic loader"
        );
    }

    #[test]
    fn tar_content() {
        let mut tar = vec![0u8; 1024];
        tar[..2].copy_from_slice(b"cv");
        tar[124..136].copy_from_slice(b"00000000005\0");
        tar[512..517].copy_from_slice(b"hello");
        assert_eq!(first_tar_file(&tar), Some(&b"hello"[..]));
        assert_eq!(first_tar_file(&tar[..100]), None);
    }
}
