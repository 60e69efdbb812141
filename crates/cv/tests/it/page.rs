//! The CV page and its JSON: content from every section of a real résumé, escaping, caching
//! headers and compression, as served by `cv serve`.

use std::io::Read;

use serde_json::Value;

use crate::support::{
    AppBuilder, decode_entities, example_resume, read_json, sample_resume, spawn_app,
};

/// Strings from every section of the shared sample, by JSON pointer. The literal is checked
/// against the file too, so a changed sample fails loudly instead of silently weakening the test.
const SAMPLE_STRINGS: &[(&str, &str)] = &[
    ("/basics/name", "Richard Hendriks"),
    ("/basics/label", "Programmer"),
    ("/basics/email", "richard.hendriks@mail.com"),
    ("/basics/phone", "(912) 555-4321"),
    (
        "/basics/summary",
        "Richard hails from Tulsa. He has earned degrees from the University of Oklahoma and Stanford. (Go Sooners and Cardinal!) Before starting Pied Piper, he worked for Hooli as a part time software developer. While his work focuses on applied information theory, mostly optimizing lossless compression schema of both the length-limited and adaptive variants, his non-work interests range widely, everything from quantum computing to chaos theory. He could tell you about it, but THAT would NOT be a “length-limited” conversation!",
    ),
    ("/basics/location/city", "San Francisco"),
    ("/basics/profiles/0/network", "Twitter"),
    ("/basics/profiles/1/network", "SoundCloud"),
    ("/work/0/name", "Pied Piper"),
    ("/work/0/position", "CEO/President"),
    (
        "/work/0/summary",
        "Pied Piper is a multi-platform technology based on a proprietary universal compression algorithm that has consistently fielded high Weisman Scores™ that are not merely competitive, but approach the theoretical limit of lossless compression.",
    ),
    (
        "/work/0/highlights/1",
        "Successfully won Techcrunch Disrupt",
    ),
    ("/volunteer/0/organization", "CoderDojo"),
    ("/volunteer/0/position", "Teacher"),
    (
        "/volunteer/0/highlights/0",
        "Awarded 'Teacher of the Month'",
    ),
    ("/education/0/institution", "University of Oklahoma"),
    ("/education/0/area", "Information Technology"),
    ("/education/0/studyType", "Bachelor"),
    ("/education/0/courses/0", "DB1101 - Basic SQL"),
    ("/awards/0/title", "Digital Compression Pioneer Award"),
    ("/awards/0/awarder", "Techcrunch"),
    ("/awards/0/summary", "There is no spoon."),
    ("/publications/0/name", "Video compression for 3d media"),
    ("/publications/0/publisher", "Hooli"),
    ("/skills/0/name", "Web Development"),
    ("/skills/0/level", "Master"),
    ("/skills/0/keywords/2", "Javascript"),
    ("/skills/1/name", "Compression"),
    ("/skills/1/keywords/0", "Mpeg"),
    ("/languages/0/language", "English"),
    ("/languages/0/fluency", "Native speaker"),
    ("/interests/0/name", "Wildlife"),
    ("/interests/0/keywords/0", "Ferrets"),
    ("/interests/0/keywords/1", "Unicorns"),
    ("/references/0/name", "Erlich Bachman"),
    (
        "/references/0/reference",
        "It is my pleasure to recommend Richard, his performance working as a consultant for Main St. Company proved that he will be a valuable addition to any company.",
    ),
    ("/projects/0/name", "Miss Direction"),
    (
        "/projects/0/description",
        "A mapping engine that misguides you",
    ),
    ("/projects/0/highlights/0", "Won award at AIHacks 2016"),
];

/// Every expected string that the decoded page lacks, as `POINTER: STRING`.
fn missing_strings(page: &str, resume: &Value, expected: &[(&str, &str)]) -> Vec<String> {
    let text = decode_entities(page);
    let mut missing = Vec::new();
    for (pointer, literal) in expected {
        assert_eq!(
            resume.pointer(pointer).and_then(Value::as_str),
            Some(*literal),
            "the sample résumé changed at {pointer}; update this test"
        );
        if !text.contains(literal) {
            missing.push(format!("{pointer}: {literal}"));
        }
    }
    missing
}

#[test]
fn sample_resume_content_from_every_section_is_on_the_page() {
    let Some(sample) = sample_resume() else {
        return;
    };
    let resume = read_json(&sample);
    let app = AppBuilder::new().resume(&sample).spawn();

    let response = app.get("/");
    assert_eq!(response.status, 200, "{}", app.output());
    assert!(
        response
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("text/html")),
        "content-type: {:?}",
        response.header("content-type")
    );
    let page = response.text();
    let missing = missing_strings(&page, &resume, SAMPLE_STRINGS);
    assert!(
        missing.is_empty(),
        "strings from the sample missing on /:\n{}",
        missing.join("\n")
    );
    // Dates are shown in some human form; every form of 2013-12-01 contains the year.
    assert!(
        decode_entities(&page).contains("2013"),
        "work start year missing"
    );
}

#[test]
fn page_is_html5_with_landmarks_and_one_h1() {
    let app = spawn_app();
    let page = app.get("/").text();
    assert!(
        page.trim_start()
            .to_ascii_lowercase()
            .starts_with("<!doctype html>"),
        "no doctype"
    );
    assert!(page.contains("<html lang="), "no <html lang=…>");
    assert!(page.contains("<main"), "no <main> landmark");
    assert_eq!(page.matches("<h1").count(), 1, "exactly one <h1>");
}

#[test]
fn cv_json_equals_the_sample_file() {
    let Some(sample) = sample_resume() else {
        return;
    };
    let expected = read_json(&sample);
    let app = AppBuilder::new().resume(&sample).spawn();
    let response = app.get("/cv.json");
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json")),
        "content-type: {:?}",
        response.header("content-type")
    );
    assert_eq!(response.json(), expected);
}

#[test]
fn embedded_example_cv_is_served_without_cv_resume() {
    let example = read_json(&example_resume());
    let app = spawn_app();
    let response = app.get("/");
    assert_eq!(response.status, 200, "{}", app.output());
    let name = example
        .pointer("/basics/name")
        .and_then(Value::as_str)
        .expect("example has basics.name");
    assert!(
        decode_entities(&response.text()).contains(name),
        "example name {name:?} not on /"
    );
    assert_eq!(app.get("/cv.json").json(), example);
}

#[test]
fn summary_with_script_tag_is_shown_escaped_never_raw() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.json");
    let evil =
        r#"{"basics":{"name":"Mallory <b>Bold</b>","summary":"<script>alert(1)</script> & more"}}"#;
    std::fs::write(&path, evil).unwrap();
    let app = AppBuilder::new().resume(&path).spawn();
    let page = app.get("/").text();
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "raw script tag on the page"
    );
    assert!(
        !page.contains("<b>Bold</b>"),
        "raw markup from the name on the page"
    );
    // Absent raw but present once character references are decoded: shown as text, escaped in
    // whichever form the template engine picks (`&lt;` or `&#60;`).
    let text = decode_entities(&page);
    assert!(
        text.contains("<script>alert(1)</script> & more"),
        "summary text missing"
    );
    assert!(text.contains("Mallory <b>Bold</b>"), "name text missing");
}

#[test]
fn certificates_section_is_rendered() {
    // The shared sample has no certificates, so this section gets a résumé of its own.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certs.json");
    let resume = r#"{"basics":{"name":"Ada Example"},"certificates":[{"name":"Certified Kubernetes Administrator","date":"2021-03","issuer":"Cloud Native Computing Foundation","url":"https://example.com/cka"}]}"#;
    std::fs::write(&path, resume).unwrap();
    let app = AppBuilder::new().resume(&path).spawn();
    let text = decode_entities(&app.get("/").text());
    assert!(
        text.contains("Certified Kubernetes Administrator"),
        "certificate name missing"
    );
    assert!(
        text.contains("Cloud Native Computing Foundation"),
        "certificate issuer missing"
    );
}

#[test]
fn page_has_a_strong_etag_and_if_none_match_gives_304() {
    let app = spawn_app();
    let first = app.get("/");
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("GET / has an ETag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "ETag {etag:?} is not a strong entity tag"
    );

    let cached = app.get_with("/", &[("If-None-Match", &etag)]);
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty(), "304 with a body");
    assert_eq!(
        cached.header("etag"),
        Some(etag.as_str()),
        "304 repeats the ETag"
    );

    let other = app.get_with("/", &[("If-None-Match", "\"some-other-tag\"")]);
    assert_eq!(other.status, 200);
    assert_eq!(other.body, first.body);
}

#[test]
fn page_is_gzip_compressed_when_the_client_accepts_it() {
    let app = spawn_app();
    let plain = app.get_with("/", &[("Accept-Encoding", "identity")]);
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);

    let compressed = app.get_with("/", &[("Accept-Encoding", "gzip")]);
    assert_eq!(compressed.status, 200);
    assert_eq!(compressed.header("content-encoding"), Some("gzip"));
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(compressed.body.as_slice())
        .read_to_end(&mut decoded)
        .expect("body is valid gzip");
    assert_eq!(decoded, plain.body, "gzip body decodes to the page");
    assert!(
        compressed.body.len() < plain.body.len(),
        "compression made the page larger"
    );
}
