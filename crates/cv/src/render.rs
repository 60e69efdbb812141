//! `cv validate` and `cv render`: the commands that only read a résumé.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use cv_resume::{LoadError, Resume};

/// Loads the résumé at `path`, or the embedded example CV when no path is given.
pub(crate) fn load_resume(path: Option<&Path>) -> anyhow::Result<Resume> {
    match path {
        Some(path) => Ok(cv_resume::load(path)?),
        None => cv_resume::parse(cv_resume::EXAMPLE)
            .map_err(|err| anyhow::anyhow!("the embedded example CV is invalid: {err}")),
    }
}

/// `cv validate FILE`: `FILE: valid`, or every issue as `FILE:LINE:COL: POINTER: MESSAGE`, in
/// the form of [`cv_resume::Issue`]'s `Display` (the whole document's empty pointer as `(root)`).
pub(crate) fn validate(file: &Path) -> ExitCode {
    match cv_resume::load(file) {
        Ok(_) => {
            println!("{}: valid", file.display());
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid { issues, .. }) => {
            for issue in &issues {
                eprintln!("{}:{issue}", file.display());
            }
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `cv render --out DIR`: a static copy of what the server shows, openable from disk.
pub(crate) fn render(resume: Option<&Path>, out: &Path) -> anyhow::Result<()> {
    let resume = load_resume(resume)?;
    let html = cv_web::render_html(&resume)?;
    let mut json = serde_json::to_string_pretty(&resume).context("cannot serialise the CV")?;
    json.push('\n');
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    for (name, content) in [("index.html", html), ("cv.json", json)] {
        let path = out.join(name);
        std::fs::write(&path, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "wrote {} and {}",
        out.join("index.html").display(),
        out.join("cv.json").display()
    );
    Ok(())
}
