//! The JSON Resume v1.0.0 schema as data, and the walk that checks a JSON value against it.
//!
//! The schema is small and fixed, so it is written out here rather than interpreted from
//! `schema.json` at run time; a test compares this table with the published schema so the two
//! cannot drift apart. The walk never stops at the first problem: it returns every issue, each
//! with the JSON pointer of the offending value, in document order.

use serde_json::Value;

use crate::date::PartialDate;

/// What a member must look like.
#[derive(Debug)]
pub(crate) enum Shape {
    Text,
    /// A string with `"format": "email"`.
    Email,
    /// A string with `"format": "uri"`.
    Uri,
    /// The schema's `iso8601` definition.
    Date,
    List(&'static Shape),
    /// Named members; any other member is allowed and not checked (`additionalProperties: true`).
    Object(&'static [(&'static str, Shape)]),
}

use Shape::{Date, Email, List, Object, Text, Uri};

const STRINGS: Shape = List(&Text);

pub(crate) const RESUME: Shape = Object(&[
    ("$schema", Uri),
    (
        "basics",
        Object(&[
            ("name", Text),
            ("label", Text),
            ("image", Text),
            ("email", Email),
            ("phone", Text),
            ("url", Uri),
            ("summary", Text),
            (
                "location",
                Object(&[
                    ("address", Text),
                    ("postalCode", Text),
                    ("city", Text),
                    ("countryCode", Text),
                    ("region", Text),
                ]),
            ),
            (
                "profiles",
                List(&Object(&[
                    ("network", Text),
                    ("username", Text),
                    ("url", Uri),
                ])),
            ),
        ]),
    ),
    (
        "work",
        List(&Object(&[
            ("name", Text),
            ("location", Text),
            ("description", Text),
            ("position", Text),
            ("url", Uri),
            ("startDate", Date),
            ("endDate", Date),
            ("summary", Text),
            ("highlights", STRINGS),
        ])),
    ),
    (
        "volunteer",
        List(&Object(&[
            ("organization", Text),
            ("position", Text),
            ("url", Uri),
            ("startDate", Date),
            ("endDate", Date),
            ("summary", Text),
            ("highlights", STRINGS),
        ])),
    ),
    (
        "education",
        List(&Object(&[
            ("institution", Text),
            ("url", Uri),
            ("area", Text),
            ("studyType", Text),
            ("startDate", Date),
            ("endDate", Date),
            ("score", Text),
            ("courses", STRINGS),
        ])),
    ),
    (
        "awards",
        List(&Object(&[
            ("title", Text),
            ("date", Date),
            ("awarder", Text),
            ("summary", Text),
        ])),
    ),
    (
        "certificates",
        List(&Object(&[
            ("name", Text),
            ("date", Date),
            ("url", Uri),
            ("issuer", Text),
        ])),
    ),
    (
        "publications",
        List(&Object(&[
            ("name", Text),
            ("publisher", Text),
            ("releaseDate", Date),
            ("url", Uri),
            ("summary", Text),
        ])),
    ),
    (
        "skills",
        List(&Object(&[
            ("name", Text),
            ("level", Text),
            ("keywords", STRINGS),
        ])),
    ),
    (
        "languages",
        List(&Object(&[("language", Text), ("fluency", Text)])),
    ),
    (
        "interests",
        List(&Object(&[("name", Text), ("keywords", STRINGS)])),
    ),
    (
        "references",
        List(&Object(&[("name", Text), ("reference", Text)])),
    ),
    (
        "projects",
        List(&Object(&[
            ("name", Text),
            ("description", Text),
            ("highlights", STRINGS),
            ("keywords", STRINGS),
            ("startDate", Date),
            ("endDate", Date),
            ("url", Uri),
            ("roles", STRINGS),
            ("entity", Text),
            ("type", Text),
        ])),
    ),
    (
        "meta",
        Object(&[
            ("canonical", Uri),
            ("version", Text),
            ("lastModified", Text),
        ]),
    ),
]);

/// A problem found by the walk, located by pointer only; `parse` adds line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub pointer: String,
    pub message: String,
}

/// Checks `value` against `shape`, returning every finding in document order.
pub(crate) fn check(value: &Value, shape: &Shape) -> Vec<Finding> {
    let mut walk = Walk {
        pointer: String::new(),
        findings: Vec::new(),
    };
    walk.value(value, shape);
    walk.findings
}

struct Walk {
    /// The pointer of the value being checked, extended and truncated as the walk descends.
    pointer: String,
    findings: Vec<Finding>,
}

impl Walk {
    fn report(&mut self, message: String) {
        self.findings.push(Finding {
            pointer: self.pointer.clone(),
            message,
        });
    }

    fn value(&mut self, value: &Value, shape: &Shape) {
        match (shape, value) {
            (Text, Value::String(_)) => {}
            (Email, Value::String(text)) => {
                if let Err(why) = check_email(text) {
                    self.report(format!("invalid email address {}: {why}", quote(text)));
                }
            }
            (Uri, Value::String(text)) => {
                if let Err(why) = check_uri(text) {
                    self.report(format!("invalid URL {}: {why}", quote(text)));
                }
            }
            (Date, Value::String(text)) => {
                if let Err(why) = PartialDate::parse(text) {
                    self.report(format!("invalid date {}: {why}", quote(text)));
                }
            }
            (List(item), Value::Array(items)) => {
                for (index, element) in items.iter().enumerate() {
                    let len = self.pointer.len();
                    self.pointer.push('/');
                    self.pointer.push_str(&index.to_string());
                    self.value(element, item);
                    self.pointer.truncate(len);
                }
            }
            (Object(members), Value::Object(map)) => {
                // Walk the document's members (not the schema's) so findings come in source order.
                for (key, member) in map {
                    let Some((_, shape)) = members.iter().find(|(name, _)| name == key) else {
                        continue;
                    };
                    let len = self.pointer.len();
                    push_token(&mut self.pointer, key);
                    self.value(member, shape);
                    self.pointer.truncate(len);
                }
            }
            (shape, value) => {
                self.report(format!(
                    "expected {}, found {}",
                    expected(shape),
                    describe(value)
                ));
            }
        }
    }
}

/// Appends one RFC 6901 reference token: `~` and `/` in keys are escaped as `~0` and `~1`.
pub(crate) fn push_token(pointer: &mut String, key: &str) {
    pointer.push('/');
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn expected(shape: &Shape) -> &'static str {
    match shape {
        Text => "a string",
        Email => "an email address (string)",
        Uri => "a URL (string)",
        Date => "a date string (YYYY, YYYY-MM or YYYY-MM-DD)",
        List(_) => "an array",
        Object(_) => "an object",
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value in quotes with escapes, shortened so one issue stays one readable line.
fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    if text.chars().count() <= MAX_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_CHARS).collect();
        format!("{head:?}…")
    }
}

/// A deliberately lenient check (`local@domain`, no spaces): the schema's `format` is an
/// annotation in draft-07, and a CV should not be refused over an unusual but deliverable address.
/// An empty string is accepted as "not given", as JSON Resume templates write it.
fn check_email(text: &str) -> Result<(), &'static str> {
    if text.is_empty() {
        return Ok(());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters");
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err("expected name@domain");
    };
    if local.is_empty() || domain.is_empty() {
        return Err("expected name@domain");
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err("the domain is malformed");
    }
    Ok(())
}

/// An absolute URI (RFC 3986: a scheme, then a non-empty rest) without spaces or characters
/// that cannot appear in one; `http(s)` URLs must name a host. Empty means "not given".
fn check_uri(text: &str) -> Result<(), &'static str> {
    if text.is_empty() {
        return Ok(());
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
    {
        return Err("contains spaces or characters not allowed in a URL");
    }
    let Some((scheme, rest)) = text.split_once(':') else {
        return Err("expected an absolute URL such as https://example.com/");
    };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("expected an absolute URL such as https://example.com/");
    }
    if rest.is_empty() {
        return Err("nothing after the scheme");
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        let host = rest
            .strip_prefix("//")
            .map(|r| r.split(['/', '?', '#']).next().unwrap_or(""))
            .unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        if host.is_empty() || host.starts_with(':') {
            return Err("no host after http:// or https://");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails() {
        for ok in [
            "",
            "a@b",
            "richard.hendriks@mail.com",
            "x+tag@sub.example.org",
        ] {
            assert_eq!(check_email(ok), Ok(()), "{ok}");
        }
        for bad in [
            "plain",
            "@example.com",
            "me@",
            "a b@c.d",
            "me@.example",
            "me@example..com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uris() {
        for ok in [
            "",
            "https://www.twitter.com",
            "http://en.wikipedia.org/wiki/Silicon_Valley_(TV_series)",
            "mailto:me@example.com",
            "https://user@host.example:8443/p?q#f",
            "urn:isbn:0451450523",
        ] {
            assert_eq!(check_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "example.com",
            "www.example.com/path",
            "https://",
            "http:///path",
            "https://exa mple.com",
            "1http://x",
            "https:",
            "http://<script>",
        ] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reports_every_finding_in_document_order_with_escaped_pointers() {
        let doc = json!({
            "basics": {"name": 7, "email": "nope", "location": []},
            "work": [{"startDate": "2020-13"}, "oops", {"highlights": ["a", false]}],
            "meta": null,
            "x/y~z": 1,
        });
        let found: Vec<_> = check(&doc, &RESUME)
            .into_iter()
            .map(|f| f.pointer)
            .collect();
        assert_eq!(
            found,
            [
                "/basics/name",
                "/basics/email",
                "/basics/location",
                "/work/0/startDate",
                "/work/1",
                "/work/2/highlights/1",
                "/meta",
            ]
        );
        let mut pointer = String::new();
        push_token(&mut pointer, "x/y~z");
        assert_eq!(pointer, "/x~1y~0z");
        assert_eq!(doc.pointer(&pointer), Some(&json!(1)));
    }

    #[test]
    fn messages_name_what_was_expected_and_found() {
        let findings = check(
            &json!({"work": {"startDate": "x"}, "skills": [{"keywords": "rust"}]}),
            &RESUME,
        );
        assert_eq!(findings[0].message, "expected an array, found an object");
        assert_eq!(findings[1].pointer, "/skills/0/keywords");
        assert_eq!(findings[1].message, "expected an array, found a string");
        let findings = check(&json!({"awards": [{"date": "2021-02-30"}]}), &RESUME);
        assert_eq!(
            findings[0].message,
            "invalid date \"2021-02-30\": day must be between 01 and 28 for that month"
        );
    }

    /// Flattens a table into `pointer-ish path: kind` lines, e.g. `/work/[]/startDate: date`.
    fn describe_table(shape: &Shape, at: &str, out: &mut Vec<String>) {
        match shape {
            Text => out.push(format!("{at}: string")),
            Email => out.push(format!("{at}: email")),
            Uri => out.push(format!("{at}: uri")),
            Date => out.push(format!("{at}: date")),
            List(item) => {
                out.push(format!("{at}: array"));
                describe_table(item, &format!("{at}/[]"), out);
            }
            Object(members) => {
                out.push(format!("{at}: object"));
                for (name, member) in *members {
                    describe_table(member, &format!("{at}/{name}"), out);
                }
            }
        }
    }

    /// The same flattening of the published JSON Schema.
    fn describe_schema(schema: &Value, at: &str, out: &mut Vec<String>) {
        if schema.get("$ref").and_then(Value::as_str) == Some("#/definitions/iso8601") {
            out.push(format!("{at}: date"));
            return;
        }
        match (
            schema["type"].as_str(),
            schema.get("format").and_then(Value::as_str),
        ) {
            (Some("string"), Some("email")) => out.push(format!("{at}: email")),
            (Some("string"), Some("uri")) => out.push(format!("{at}: uri")),
            (Some("string"), None) => out.push(format!("{at}: string")),
            (Some("array"), None) => {
                out.push(format!("{at}: array"));
                describe_schema(&schema["items"], &format!("{at}/[]"), out);
            }
            (Some("object"), None) => {
                out.push(format!("{at}: object"));
                let properties = schema["properties"]
                    .as_object()
                    .expect("object with properties");
                for (name, member) in properties {
                    describe_schema(member, &format!("{at}/{name}"), out);
                }
            }
            other => panic!("{at}: the table has no shape for {other:?}"),
        }
    }

    #[test]
    fn the_table_matches_the_published_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/resume/schema.json"
        );
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("CI=true but the shared schema {path} is unreadable: {e}")
            }
            Err(e) => {
                eprintln!("skipped: shared schema {path} is unreadable ({e})");
                return;
            }
        };
        let schema: Value = serde_json::from_str(&text).unwrap();
        let (mut published, mut ours) = (Vec::new(), Vec::new());
        describe_schema(&schema, "", &mut published);
        describe_table(&RESUME, "", &mut ours);
        published.sort();
        ours.sort();
        assert_eq!(ours, published);
        assert!(
            published.len() > 100,
            "suspiciously small schema: {}",
            published.len()
        );
    }
}
