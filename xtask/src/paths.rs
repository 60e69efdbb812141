//! Every repository path the build system uses, in one place.

use std::path::{Path, PathBuf};

/// The workspace root: the parent of this crate's manifest directory.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Where the Dockerfiles and compose files live.
pub fn docker_dir() -> PathBuf {
    project_root().join("docker")
}
