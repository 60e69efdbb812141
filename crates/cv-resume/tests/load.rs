//! `load` on real files: every refusal is its own variant with a one-line message naming the file.

use std::path::Path;

use cv_resume::{LoadError, MAX_BYTES, load};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The error, after checking the contract every load error shares: one line naming the file.
fn refused(path: &Path) -> LoadError {
    let error = load(path).expect_err("loaded a file that should be refused");
    let text = error.to_string();
    assert!(!text.contains('\n'), "more than one line: {text}");
    assert!(
        text.contains(&path.display().to_string()),
        "file not named: {text}"
    );
    assert_eq!(error.path(), path);
    error
}

#[test]
fn loads_the_project_example() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/resume.json"
    ));
    let resume = load(path).unwrap();
    assert_eq!(resume.name(), Some("Maren Okafor-Lind"));
}

#[test]
fn a_missing_file_reports_the_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.json");
    let error = refused(&path);
    assert!(
        matches!(&error, LoadError::Unreadable { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(error.to_string().contains("cannot read"), "{error}");
}

#[test]
fn a_directory_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let error = refused(dir.path());
    assert!(matches!(error, LoadError::IsDirectory { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .ends_with("is a directory, expected a JSON Resume file")
    );
}

#[test]
fn devices_are_refused_by_type_without_reading() {
    // /dev/zero never ends: it used to be read up to the size bound before being refused.
    for (device, kind) in [
        ("/dev/zero", "character device"),
        ("/dev/null", "character device"),
    ] {
        let error = refused(Path::new(device));
        assert!(
            matches!(error, LoadError::NotAFile { kind: k, .. } if k == kind),
            "{device}: {error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("{device}: is a {kind}, expected a regular JSON Resume file")
        );
    }
}

#[test]
fn a_symlink_to_a_regular_file_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = write(&dir, "real.json", br#"{"basics":{"name":"Linked"}}"#);
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let resume = cv_resume::load(&link).unwrap();
    assert_eq!(resume.name(), Some("Linked"));
}

#[test]
fn empty_and_blank_files_are_empty() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.json", &b""[..]),
        ("blank.json", b" \n\t\r\n"),
        ("bom.json", b"\xef\xbb\xbf"),
    ] {
        let error = refused(&write(&dir, name, bytes));
        assert!(
            matches!(error, LoadError::Empty { .. }),
            "{name}: {error:?}"
        );
    }
}

#[test]
fn a_file_over_the_limit_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "big.json", &vec![b' '; MAX_BYTES as usize + 1]);
    let error = refused(&path);
    assert!(
        matches!(error, LoadError::TooLarge { size: Some(size), limit: MAX_BYTES, .. } if size == MAX_BYTES + 1),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("1048577 bytes, the limit is 1048576 bytes"),
        "{error}"
    );
}

#[test]
fn a_file_exactly_at_the_limit_loads() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"{}".to_vec();
    bytes.resize(MAX_BYTES as usize, b' ');
    assert!(load(&write(&dir, "edge.json", &bytes)).is_ok());
}

#[test]
fn invalid_utf8_reports_the_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let error = refused(&write(&dir, "latin1.json", b"{\"name\": \"Andr\xe9\"}"));
    assert!(
        matches!(error, LoadError::NotUtf8 { offset: 14, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("byte offset 14"), "{error}");
}

#[test]
fn a_byte_order_mark_is_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(&write(&dir, "bom.json", b"\xef\xbb\xbf{\"basics\": {}}")).is_ok());
}

#[test]
fn not_json_gives_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "cv.yaml", b"basics:\n  name: Me\n");
    let error = refused(&path);
    assert!(matches!(error, LoadError::Syntax { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("{}:1:1: not JSON: expected value", path.display())
    );
    assert_eq!(error.issues().len(), 1);
}

#[test]
fn an_invalid_resume_gives_the_first_issue_and_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "cv.json",
        b"{\"work\": [{\"startDate\": \"May 2020\"}],\n \"skills\": 3}",
    );
    let error = refused(&path);
    assert_eq!(error.issues().len(), 2);
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1:25: /work/0/startDate: invalid date \"May 2020\": expected a date as YYYY, YYYY-MM or YYYY-MM-DD (2 issues in all)",
            path.display()
        )
    );
}
