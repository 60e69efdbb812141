//! `cargo xtask hooks`: install or remove the git pre-commit hook that runs
//! `cargo xtask precommit` (issue 5).
//!
//! The hooks directory is the one git itself uses (`git rev-parse --git-path hooks`), so
//! `core.hooksPath` and linked worktrees are honoured. A pre-commit hook that is already there is
//! never overwritten: it is renamed to [`KEPT`] beside ours, our hook runs it first, and
//! `uninstall` renames it back — a rename keeps its bytes, mode bits and timestamps exactly.
//! Our hook carries [`MARKER`], so a file without it is never taken for ours.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

const EXAMPLES: &str = "\
Examples:
  Install the hook in the repository of the current directory:
    cargo xtask hooks install

  See whether it is installed, and where:
    cargo xtask hooks status

  Commit once without the checks:
    git commit --no-verify

  Remove it again (a hook that was there before is put back as it was):
    cargo xtask hooks uninstall

A pre-commit hook that is already there is kept as pre-commit.before-cv-xtask and runs before
the checks; its failure blocks the commit as before. See docs/HOOKS.md.";

/// The hook's file name in the hooks directory.
const HOOK: &str = "pre-commit";

/// Where a pre-commit hook that was there before ours is kept while ours is installed.
pub const KEPT: &str = "pre-commit.before-cv-xtask";

/// The line that says a hook file is ours.
pub const MARKER: &str = "# cv-xtask pre-commit hook";

/// The hook. POSIX sh; it never `exec`s, so the kept hook runs to completion first, and with
/// `set -e` its failure fails the commit. `git commit --no-verify` skips the whole file.
pub const SCRIPT: &str = r#"#!/bin/sh
# cv-xtask pre-commit hook
# Installed by `cargo xtask hooks install`; `cargo xtask hooks uninstall` removes it and puts back
# the hook that was here before (kept meanwhile as pre-commit.before-cv-xtask, which runs first).
# Skip the checks for one commit with `git commit --no-verify`. See docs/HOOKS.md.
set -eu
kept="$(dirname "$0")/pre-commit.before-cv-xtask"
if [ -x "$kept" ]; then
    "$kept" "$@"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "pre-commit: cargo is not on PATH; install Rust or commit with --no-verify" >&2
    exit 1
fi
cargo xtask precommit
"#;

/// Install or remove the git pre-commit hook that runs `cargo xtask precommit`
///
/// Works on the git repository of the current directory, in the hooks directory git uses
/// (core.hooksPath honoured; linked worktrees share their repository's hooks).
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct Hooks {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
enum Action {
    /// Install the hook; a pre-commit hook already there is kept and runs first
    Install,
    /// Remove the hook and put back the one that was there before, if any
    Uninstall,
    /// Say whether the hook is installed, and where
    Status,
}

impl Hooks {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let dir = hooks_dir(sh)?;
        let shown = dir.display();
        match self.action {
            Action::Install => match install(&dir)? {
                Installed::Fresh if exists(&dir.join(KEPT)) => println!(
                    "installed the pre-commit hook in {shown}; {KEPT}, kept by an earlier \
                     install, is beside it and runs first"
                ),
                Installed::Fresh => println!("installed the pre-commit hook in {shown}"),
                Installed::KeptExisting => println!(
                    "installed the pre-commit hook in {shown}; the hook that was there is kept \
                     as {KEPT} and runs first"
                ),
                Installed::Updated => println!("updated the pre-commit hook in {shown}"),
                Installed::Already => {
                    println!("the pre-commit hook is already installed in {shown}; nothing changed")
                }
            },
            Action::Uninstall => match uninstall(&dir)? {
                Uninstalled::Removed => println!("removed the pre-commit hook from {shown}"),
                Uninstalled::Restored => println!(
                    "removed the pre-commit hook from {shown} and put back the hook that was \
                     there before"
                ),
                Uninstalled::NotInstalled => {
                    println!("no pre-commit hook of ours is installed in {shown}; nothing to do")
                }
                Uninstalled::Foreign => println!(
                    "the pre-commit hook in {shown} is not ours (it lacks the line \
                     {MARKER:?}); left it alone"
                ),
            },
            // Each line says what `install` and `uninstall` would really do from here.
            Action::Status => match state(&dir)? {
                State::Absent { kept: false } => println!("no pre-commit hook in {shown}"),
                State::Absent { kept: true } => println!(
                    "no pre-commit hook in {shown}, but {KEPT} (kept by an earlier install) is \
                     there: `cargo xtask hooks install` puts ours in and runs it first; \
                     `cargo xtask hooks uninstall` renames it back to {HOOK}"
                ),
                State::Ours { kept: false } => println!("installed in {shown}"),
                State::Ours { kept: true } => {
                    println!("installed in {shown}; runs {KEPT} first")
                }
                State::Foreign { kept: false } => println!(
                    "{shown}/{HOOK} is someone else's hook; `cargo xtask hooks install` keeps it \
                     and runs it first"
                ),
                State::Foreign { kept: true } => println!(
                    "{shown}/{HOOK} is someone else's hook, and {KEPT} (kept by an earlier \
                     install) is beside it: `cargo xtask hooks install` will not choose between \
                     the two; move one of them away first"
                ),
            },
        }
        Ok(())
    }
}

/// The hooks directory of the repository of the process's working directory — not of the
/// xtask checkout, so `cargo xtask hooks` works in whichever clone it is run.
fn hooks_dir(sh: &Shell) -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    // git prints the path relative to the directory it ran in, or absolute (core.hooksPath).
    let out = git_query(sh, &["rev-parse", "--git-path", "hooks"], "hooks")?;
    let dir = cwd.join(out);
    if dir.exists() && !dir.is_dir() {
        let configured = git_query(sh, &["config", "--get", "core.hooksPath"], "hooks").is_ok();
        if configured {
            bail!(
                "core.hooksPath names {}, which is a file, not a directory: point it at a \
                 directory (`git config core.hooksPath .githooks`) or unset it (`git config \
                 --unset core.hooksPath`)",
                dir.display()
            );
        }
        bail!(
            "the hooks directory {} is a file, not a directory: move the file away",
            dir.display()
        );
    }
    Ok(dir)
}

/// A read-only git query (`git ARGS`) in the process's working directory, its output trimmed.
/// A failure is one line: outside a repository it says so and what to do, otherwise it gives
/// git's own message without its `fatal:` prefix (and no exit-code line of the runner's).
/// `command` is the xtask command named in the advice.
pub fn git_query(sh: &Shell, args: &[&str], command: &str) -> anyhow::Result<String> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let _in_cwd = sh.push_dir(&cwd);
    let out = cmd!(sh, "git {args...}")
        .quiet()
        .ignore_status()
        .output()
        .context("cannot run git: is it installed and on PATH?")?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let message = stderr
        .lines()
        .map(|l| l.trim().trim_start_matches("fatal:").trim())
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if message.starts_with("not a git repository") {
        bail!(
            "{} is not inside a git repository: run `cargo xtask {command}` in your checkout",
            cwd.display()
        );
    }
    if message.is_empty() {
        bail!(
            "`git {}` failed in {} ({})",
            args.join(" "),
            cwd.display(),
            out.status
        );
    }
    bail!(
        "`git {}` failed in {}: {message}",
        args.join(" "),
        cwd.display()
    )
}

/// What is at `pre-commit` now; `kept` when a hook kept by an earlier install waits beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Absent {
        kept: bool,
    },
    /// Ours.
    Ours {
        kept: bool,
    },
    /// Anything else: a script of the user's or another tool's, a symlink, even a dangling one.
    Foreign {
        kept: bool,
    },
}

fn exists(path: &Path) -> bool {
    // symlink_metadata: a dangling symlink is still something not to overwrite.
    path.symlink_metadata().is_ok()
}

fn is_ours(path: &Path) -> bool {
    let regular = path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_file());
    regular && fs::read_to_string(path).is_ok_and(|text| text.lines().any(|l| l == MARKER))
}

fn state(dir: &Path) -> anyhow::Result<State> {
    let hook = dir.join(HOOK);
    let kept = exists(&dir.join(KEPT));
    Ok(if is_ours(&hook) {
        State::Ours { kept }
    } else if exists(&hook) {
        State::Foreign { kept }
    } else {
        State::Absent { kept }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    Fresh,
    /// A hook was there; it now lives at [`KEPT`].
    KeptExisting,
    /// An older version of ours was replaced.
    Updated,
    Already,
}

/// Installs [`SCRIPT`] as `dir/pre-commit`. Idempotent: a second call changes nothing.
pub fn install(dir: &Path) -> anyhow::Result<Installed> {
    let hook = dir.join(HOOK);
    let kept = dir.join(KEPT);
    let outcome = match state(dir)? {
        State::Ours { .. } => {
            let current = fs::read(&hook).with_context(|| format!("reading {}", hook.display()))?;
            if current == SCRIPT.as_bytes() {
                return Ok(Installed::Already);
            }
            Installed::Updated
        }
        State::Foreign { kept: has_kept } => {
            if has_kept {
                bail!(
                    "both {} and {} exist, and neither is our hook: move one of them away, then \
                     run `cargo xtask hooks install` again",
                    hook.display(),
                    kept.display()
                );
            }
            fs::rename(&hook, &kept).with_context(|| {
                format!(
                    "keeping the existing hook {} as {}",
                    hook.display(),
                    kept.display()
                )
            })?;
            Installed::KeptExisting
        }
        State::Absent { .. } => {
            // core.hooksPath may name a directory that does not exist yet.
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Installed::Fresh
        }
    };
    write_executable(&hook, SCRIPT)?;
    Ok(outcome)
}

/// Writes through a temporary file and a rename, so a reader never sees half a hook.
fn write_executable(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("cv-xtask-tmp");
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uninstalled {
    Removed,
    /// Ours removed and the kept hook renamed back.
    Restored,
    NotInstalled,
    /// A hook is there but not ours, and nothing is kept: left alone.
    Foreign,
}

/// Removes our hook and renames the kept one back, leaving the directory as it was before
/// `install`.
pub fn uninstall(dir: &Path) -> anyhow::Result<Uninstalled> {
    let hook = dir.join(HOOK);
    let kept = dir.join(KEPT);
    match state(dir)? {
        State::Ours { kept: has_kept } => {
            fs::remove_file(&hook).with_context(|| format!("removing {}", hook.display()))?;
            if !has_kept {
                return Ok(Uninstalled::Removed);
            }
        }
        // Ours was deleted by hand: the kept hook still belongs back in place.
        State::Absent { kept: true } => {}
        State::Absent { kept: false } => return Ok(Uninstalled::NotInstalled),
        State::Foreign { kept: true } => bail!(
            "{} is no longer our hook, and the hook kept from before waits at {}: decide which \
             one to keep and rename it to {HOOK}",
            hook.display(),
            kept.display()
        ),
        State::Foreign { kept: false } => return Ok(Uninstalled::Foreign),
    }
    match fs::rename(&kept, &hook) {
        Ok(()) => Ok(Uninstalled::Restored),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Uninstalled::Removed),
        Err(e) => Err(e).with_context(|| {
            format!(
                "putting back the kept hook {} as {}",
                kept.display(),
                hook.display()
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(path: &Path) -> u32 {
        path.symlink_metadata().unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn fresh_install_then_uninstall_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(install(dir.path()).unwrap(), Installed::Fresh);
        let hook = dir.path().join(HOOK);
        assert_eq!(fs::read_to_string(&hook).unwrap(), SCRIPT);
        assert_eq!(mode(&hook), 0o755);
        assert_eq!(install(dir.path()).unwrap(), Installed::Already);
        assert_eq!(uninstall(dir.path()).unwrap(), Uninstalled::Removed);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(uninstall(dir.path()).unwrap(), Uninstalled::NotInstalled);
    }

    #[test]
    fn existing_hook_is_kept_and_restored_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let hook = dir.path().join(HOOK);
        let theirs = b"#!/bin/sh\n# theirs, no trailing newline\nexit 0";
        fs::write(&hook, theirs).unwrap();
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(install(dir.path()).unwrap(), Installed::KeptExisting);
        assert_eq!(fs::read(dir.path().join(KEPT)).unwrap(), theirs);
        assert_eq!(install(dir.path()).unwrap(), Installed::Already);
        assert_eq!(uninstall(dir.path()).unwrap(), Uninstalled::Restored);
        assert_eq!(fs::read(&hook).unwrap(), theirs);
        assert_eq!(mode(&hook), 0o750);
        assert!(!exists(&dir.path().join(KEPT)));
    }

    #[test]
    fn a_symlinked_hook_is_kept_as_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let hook = dir.path().join(HOOK);
        symlink("../../tools/pre-commit-that-is-not-there", &hook).unwrap();
        assert_eq!(install(dir.path()).unwrap(), Installed::KeptExisting);
        assert!(is_ours(&hook));
        assert_eq!(uninstall(dir.path()).unwrap(), Uninstalled::Restored);
        assert_eq!(
            fs::read_link(&hook).unwrap(),
            Path::new("../../tools/pre-commit-that-is-not-there")
        );
    }

    #[test]
    fn an_older_version_of_ours_is_updated() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(HOOK),
            format!("#!/bin/sh\n{MARKER}\necho old\n"),
        )
        .unwrap();
        assert_eq!(install(dir.path()).unwrap(), Installed::Updated);
        assert_eq!(fs::read_to_string(dir.path().join(HOOK)).unwrap(), SCRIPT);
    }

    #[test]
    fn refuses_to_guess_between_two_foreign_hooks() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(HOOK), "#!/bin/sh\necho a\n").unwrap();
        fs::write(dir.path().join(KEPT), "#!/bin/sh\necho b\n").unwrap();
        let err = install(dir.path()).unwrap_err().to_string();
        assert!(err.contains("move one of them away"), "{err}");
        let err = uninstall(dir.path()).unwrap_err().to_string();
        assert!(err.contains("decide which one to keep"), "{err}");
        // Nothing was touched.
        assert_eq!(
            fs::read_to_string(dir.path().join(HOOK)).unwrap(),
            "#!/bin/sh\necho a\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join(KEPT)).unwrap(),
            "#!/bin/sh\necho b\n"
        );
    }

    #[test]
    fn a_foreign_hook_alone_is_left_alone_by_uninstall() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(HOOK), "#!/bin/sh\n").unwrap();
        assert_eq!(uninstall(dir.path()).unwrap(), Uninstalled::Foreign);
        assert_eq!(
            fs::read_to_string(dir.path().join(HOOK)).unwrap(),
            "#!/bin/sh\n"
        );
    }

    #[test]
    fn install_creates_a_missing_hooks_directory() {
        let dir = tempfile::tempdir().unwrap();
        let hooks = dir.path().join("githooks/nested");
        assert_eq!(install(&hooks).unwrap(), Installed::Fresh);
        assert!(is_ours(&hooks.join(HOOK)));
    }
}
