//! Reading a résumé file with a size bound: the crate's only IO.
//!
//! Only regular files are read (symbolic links are followed): opening a FIFO blocks until a
//! writer appears, and a device such as `/dev/zero` never ends, so both are refused by their
//! type before they are opened. The size bound is checked twice: on the metadata (cheap refusal
//! of a big file) and while reading, because a file still being written may grow.

use std::fmt;
use std::fs::{File, FileType};
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::issue::{Issue, ParseError};
use crate::model::Resume;

/// The largest résumé file `load` accepts: 1 MiB, far above any real CV.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// Why a file could not be loaded. Display is one line that names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", .path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{}: is a directory, expected a JSON Resume file", .path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: is a {kind}, expected a regular JSON Resume file", .path.display())]
    NotAFile {
        path: PathBuf,
        /// What it is instead: `FIFO`, `character device`, `block device` or `socket`.
        kind: &'static str,
    },
    #[error("{}: is empty, expected a JSON Resume document", .path.display())]
    Empty { path: PathBuf },
    #[error("{}: is too large: {}, the limit is {limit} bytes", .path.display(), Size(*.size))]
    TooLarge {
        path: PathBuf,
        /// The size from the metadata, or `None` when the bound was hit while reading.
        size: Option<u64>,
        limit: u64,
    },
    #[error("{}: is not UTF-8 text (invalid byte sequence at byte offset {offset})", .path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{}:{}:{}: not JSON: {}", .path.display(), .issue.line, .issue.column, .issue.message)]
    Syntax { path: PathBuf, issue: Issue },
    #[error("{}:{} ({} issue{} in all)", .path.display(), .issues.first().map(ToString::to_string).unwrap_or_default(), .issues.len(), if .issues.len() == 1 { "" } else { "s" })]
    Invalid { path: PathBuf, issues: Vec<Issue> },
}

struct Size(Option<u64>);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(size) => write!(f, "{size} bytes"),
            None => write!(f, "more than {MAX_BYTES} bytes"),
        }
    }
}

impl LoadError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Unreadable { path, .. }
            | Self::IsDirectory { path }
            | Self::NotAFile { path, .. }
            | Self::Empty { path }
            | Self::TooLarge { path, .. }
            | Self::NotUtf8 { path, .. }
            | Self::Syntax { path, .. }
            | Self::Invalid { path, .. } => path,
        }
    }

    /// The located issues of a file that was read but is not a valid résumé (empty otherwise),
    /// for callers that list every one.
    pub fn issues(&self) -> &[Issue] {
        match self {
            Self::Syntax { issue, .. } => std::slice::from_ref(issue),
            Self::Invalid { issues, .. } => issues,
            _ => &[],
        }
    }
}

/// Reads, checks and parses a JSON Resume file.
pub fn load(path: &Path) -> Result<Resume, LoadError> {
    let text = read_bounded(path)?;
    crate::parse(&text).map_err(|error| match error {
        ParseError::Syntax(issue) => LoadError::Syntax {
            path: path.to_owned(),
            issue,
        },
        ParseError::Invalid(issues) => LoadError::Invalid {
            path: path.to_owned(),
            issues,
        },
    })
}

/// Refuses anything but a regular file, naming what it is.
fn check_type(path: &Path, file_type: FileType) -> Result<(), LoadError> {
    let kind = if file_type.is_file() {
        return Ok(());
    } else if file_type.is_dir() {
        return Err(LoadError::IsDirectory {
            path: path.to_owned(),
        });
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    };
    Err(LoadError::NotAFile {
        path: path.to_owned(),
        kind,
    })
}

fn read_bounded(path: &Path) -> Result<String, LoadError> {
    let unreadable = |source| LoadError::Unreadable {
        path: path.to_owned(),
        source,
    };
    // Checked on the path before opening (opening a FIFO would block), and again on the open
    // file in case the path was swapped in between.
    check_type(
        path,
        std::fs::metadata(path).map_err(unreadable)?.file_type(),
    )?;
    let file = File::open(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    check_type(path, metadata.file_type())?;
    if metadata.len() > MAX_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
            size: Some(metadata.len()),
            limit: MAX_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // One byte past the bound tells "exactly at the limit" from "over it".
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
            size: None,
            limit: MAX_BYTES,
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    // Editors on Windows may prefix a byte-order mark, which JSON does not allow; it carries no
    // content, so it is dropped rather than reported.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    };
    if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Err(LoadError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(text)
}
