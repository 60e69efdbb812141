//! The prod image (Alpine runtime), built once by the real `cargo xtask docker` and put through
//! the minimal image's checks where they apply, plus issue 3's size limit: under 30 MB.

use crate::minimal::{
    check_binary_is_the_real_one, check_read_only_keeps_posts_in_a_volume,
    check_serves_as_65532_and_turns_healthy, check_stops_in_under_two_seconds,
};
use crate::support::{TestResult, assert_canary_nowhere, docker_ok, engine, prod_image};

/// Issue 3: "prod: the same checks, non-root, under 30 MB".
const MAX_BYTES: u64 = 30 * 1000 * 1000;

/// Skips (or, under CI, fails) without an engine; otherwise yields the shared prod image.
macro_rules! image {
    ($test:literal) => {{
        if !engine($test)? {
            return Ok(());
        }
        prod_image()?
    }};
}

pub fn builds_under_30_mb_as_non_root() -> TestResult {
    let built = image!("builds_under_30_mb_as_non_root");
    let size: u64 = docker_ok(&["image", "inspect", "--format", "{{.Size}}", &built.image])?
        .parse()
        .map_err(|e| format!("image size: {e}"))?;
    eprintln!(
        "prod image {}: {size} bytes ({:.1} MB), built in {:.0} s",
        built.image,
        size as f64 / 1e6,
        built.seconds
    );
    if size >= MAX_BYTES {
        return Err(format!("the prod image is {size} bytes, over 30 MB"));
    }
    let user = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}",
        &built.image,
    ])?;
    if user != "65532:65532" {
        return Err(format!("the image's user is {user:?}, want 65532:65532"));
    }
    // The account has a name in the runtime's own user database.
    let passwd = docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/cat",
        &built.image,
        "/etc/passwd",
    ])?;
    if !passwd.contains("appuser:x:65532:65532:") {
        return Err(format!("no appuser 65532 in /etc/passwd:\n{passwd}"));
    }
    for want in ["user        65532:65532", "cached"] {
        if !built.stdout.contains(want) {
            return Err(format!("summary lacks {want:?}:\n{}", built.stdout));
        }
    }
    Ok(())
}

pub fn binary_is_the_real_one() -> TestResult {
    check_binary_is_the_real_one(image!("binary_is_the_real_one"))
}

pub fn runs_as_65532_serves_the_cv_and_turns_healthy() -> TestResult {
    check_serves_as_65532_and_turns_healthy(image!("runs_as_65532_serves_the_cv_and_turns_healthy"))
}

pub fn stops_in_under_two_seconds() -> TestResult {
    check_stops_in_under_two_seconds(image!("stops_in_under_two_seconds"))
}

pub fn read_only_and_no_capabilities_keep_posts_in_a_volume() -> TestResult {
    check_read_only_keeps_posts_in_a_volume(image!(
        "read_only_and_no_capabilities_keep_posts_in_a_volume"
    ))
}

pub fn canary_secret_is_nowhere_in_the_image() -> TestResult {
    assert_canary_nowhere(image!("canary_secret_is_nowhere_in_the_image"))
}
