//! `parse` against real documents: the shared JSON Resume sample, the project's example, and
//! broken documents whose every issue must come back with the right pointer and line:column.

use cv_resume::{Dated, Issue, ParseError, PartialDate, Resume, parse};
use serde_json::{Value, json};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/resume/");

/// A file from the shared reference data, or `None` (with the reason printed) when this checkout
/// has no `shared/` beside it. Under CI=true its absence is a failure, not a skip.
fn shared(name: &str) -> Option<String> {
    let path = format!("{SHARED}{name}");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but the shared test data {path} is unreadable: {e}")
        }
        Err(e) => {
            eprintln!("skipped: shared test data {path} is unreadable ({e})");
            None
        }
    }
}

fn round_trips(text: &str) -> Resume {
    let resume = parse(text).unwrap_or_else(|e| panic!("valid document refused: {e:?}"));
    let source: Value = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_value(&resume).unwrap(), source);
    resume
}

#[test]
fn the_shared_sample_parses_and_round_trips() {
    let Some(text) = shared("sample.resume.json") else {
        return;
    };
    let resume = round_trips(&text);
    assert_eq!(resume.name(), Some("Richard Hendriks"));
    assert_eq!(resume.label(), Some("Programmer"));
    let basics = resume.basics.as_ref().unwrap();
    assert_eq!(basics.profiles.len(), 2);
    assert_eq!(
        basics.location.as_ref().unwrap().to_string(),
        "2712 Broadway St, San Francisco, California, CA 94115, US"
    );
    assert_eq!(
        resume.work[0].start_date,
        Some(PartialDate::parse("2013-12-01").unwrap())
    );
    assert_eq!(
        resume.work[0].period().as_deref(),
        Some("1 Dec 2013 – 1 Dec 2014")
    );
    assert_eq!(resume.projects[0].kind.as_deref(), Some("application"));
    assert!(resume.certificates.is_empty());
    assert_eq!(
        resume.meta.as_ref().unwrap().last_modified.as_deref(),
        Some("2017-12-24T15:53:00")
    );
    assert_eq!(
        resume.schema_url(),
        Some("https://raw.githubusercontent.com/jsonresume/resume-schema/v1.0.0/schema.json")
    );
}

#[test]
fn the_example_fills_every_section_keeps_extensions_and_round_trips() {
    let resume = round_trips(cv_resume::EXAMPLE);
    let basics = resume.basics.as_ref().expect("basics");
    assert!(basics.location.is_some() && !basics.profiles.is_empty());
    let sections = [
        resume.work.len(),
        resume.volunteer.len(),
        resume.education.len(),
        resume.awards.len(),
        resume.certificates.len(),
        resume.publications.len(),
        resume.skills.len(),
        resume.languages.len(),
        resume.interests.len(),
        resume.references.len(),
        resume.projects.len(),
    ];
    assert!(
        sections.iter().all(|&n| n > 0),
        "an empty section: {sections:?}"
    );
    assert!(resume.meta.is_some());
    assert_eq!(basics.extra["x-pronouns"], "she/her");
    assert_eq!(resume.work[0].extra["x-team-size"], 7);
    assert!(
        !cv_resume::EXAMPLE.contains('<'),
        "the example CV holds no markup"
    );
}

#[test]
fn unknown_members_and_empty_lists_survive_at_every_level() {
    let doc = json!({
        "x-top": {"nested": [1, 2.5, null]},
        "basics": {"x-b": true, "location": {"x-l": "l"}, "profiles": []},
        "work": [{"x-w": 1, "highlights": []}],
        "volunteer": [],
        "education": [{"courses": [], "x-e": {}}],
        "awards": [{"x-a": []}],
        "certificates": [{"x-c": "c"}],
        "publications": [{"x-p": "p"}],
        "skills": [{"keywords": [], "x-s": 0}],
        "languages": [{"x-lang": "?"}],
        "interests": [{"keywords": []}],
        "references": [{"x-r": -1}],
        "projects": [{"roles": [], "keywords": [], "highlights": [], "x-pr": "y"}],
        "meta": {"x-m": "m"}
    });
    round_trips(&doc.to_string());
    round_trips("{}");
}

#[test]
fn every_issue_is_reported_with_pointer_line_and_column() {
    let text = r#"{
  "basics": {
    "name": 42,
    "email": "not-an-address",
    "location": ["Rotterdam"]
  },
  "work": [
    { "name": "A", "startDate": "2020-13" },
    { "endDate": "2021-02-30", "highlights": ["ok", 7] }
  ],
  "skills": { "name": "Rust" },
  "meta": { "canonical": "no scheme here" }
}"#;
    let Err(ParseError::Invalid(issues)) = parse(text) else {
        panic!("accepted an invalid document")
    };
    let located: Vec<(&str, usize, usize)> = issues
        .iter()
        .map(|i| (i.pointer.as_str(), i.line, i.column))
        .collect();
    assert_eq!(
        located,
        [
            ("/basics/name", 3, 13),
            ("/basics/email", 4, 14),
            ("/basics/location", 5, 17),
            ("/work/0/startDate", 8, 33),
            ("/work/1/endDate", 9, 18),
            ("/work/1/highlights/1", 9, 53),
            ("/skills", 11, 13),
            ("/meta/canonical", 12, 26),
        ]
    );
    assert_eq!(issues[0].message, "expected a string, found a number");
    assert!(
        issues[3]
            .message
            .contains("month must be between 01 and 12"),
        "{}",
        issues[3].message
    );
    assert!(
        issues[4].message.contains("day must be between 01 and 28"),
        "{}",
        issues[4].message
    );
    assert_eq!(issues[6].message, "expected an array, found an object");
    let value: Value = serde_json::from_str(text).unwrap();
    for issue in &issues {
        assert!(value.pointer(&issue.pointer).is_some(), "{issue:?}");
    }
}

#[test]
fn a_root_that_is_not_an_object_is_one_issue_at_the_root() {
    for (text, found) in [
        ("[]", "an array"),
        ("  \"cv\"", "a string"),
        ("null", "null"),
        ("3", "a number"),
    ] {
        let Err(ParseError::Invalid(issues)) = parse(text) else {
            panic!("{text} accepted")
        };
        let column = text.len() - text.trim_start().len() + 1;
        assert_eq!(
            issues,
            [Issue {
                pointer: String::new(),
                line: 1,
                column,
                message: format!("expected an object, found {found}"),
            }]
        );
    }
}

#[test]
fn syntax_errors_carry_serde_positions_and_the_innermost_container() {
    let cases: [(&str, &str, usize, usize); 6] = [
        ("", "", 1, 1),
        (
            "{\n  \"work\": [\n    {\"name\": \"A\",, }\n  ]\n}",
            "/work/0",
            3,
            18,
        ),
        ("{\"basics\": {\"name\": }}", "/basics", 1, 21),
        ("{\"a\": 1} trailing", "", 1, 10),
        ("{\"a\": [1, 2\n", "/a", 2, 1),
        // serde_json stops at the first byte that cannot continue `null`.
        ("{\"é\": {\"k\": nope}}", "/é", 1, 14),
    ];
    for (text, pointer, line, column) in cases {
        let Err(ParseError::Syntax(issue)) = parse(text) else {
            panic!("{text:?} accepted")
        };
        assert_eq!(
            (issue.pointer.as_str(), issue.line, issue.column),
            (pointer, line, column),
            "{text:?}: {issue}"
        );
        assert!(
            !issue.message.contains(" at line "),
            "position left in the message: {}",
            issue.message
        );
    }
}

#[test]
fn issue_display_is_one_line() {
    let Err(error) = parse(r#"{"work": [{"summary": ["line\nbreak"]}]}"#) else {
        panic!()
    };
    assert_eq!(
        error.to_string(),
        "1:23: /work/0/summary: expected a string, found an array (1 issue in all)"
    );
    let Err(error) = parse(r#"{"basics": {"url": "a\nb"}}"#) else {
        panic!()
    };
    assert!(!error.to_string().contains('\n'), "{error}");
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    for text in [
        "[".repeat(200_000),
        r#"{"a":"#.repeat(100_000),
        format!(
            r#"{{"x-deep": {}1{}}}"#,
            "[".repeat(5_000),
            "]".repeat(5_000)
        ),
    ] {
        let Err(ParseError::Syntax(issue)) = parse(&text) else {
            panic!("deep nesting accepted")
        };
        assert!(issue.message.contains("recursion limit"), "{issue}");
        assert!(
            issue.pointer.matches('/').count() <= 128,
            "{}",
            issue.pointer
        );
    }
}
