//! JSON Resume v1.0.0 for the `cv` application: typed documents, validation that reports every
//! issue with its JSON pointer and line:column, and bounded loading from a file.
//!
//! Pure: no async, no IO except [`load`]. A document is first parsed as a JSON value, then
//! checked against the schema (collecting every issue), and only then deserialised into
//! [`Resume`], so the typed layer never sees an invalid document and a type error never hides
//! the ones after it.
//!
//! ```
//! let resume = cv_resume::parse(cv_resume::EXAMPLE).expect("the example CV is valid");
//! assert_eq!(resume.name(), Some("Maren Okafor-Lind"));
//!
//! let Err(cv_resume::ParseError::Invalid(issues)) =
//!     cv_resume::parse(r#"{"work": [{"startDate": "2020-13"}], "skills": {}}"#)
//! else {
//!     panic!("accepted an invalid document")
//! };
//! let located: Vec<String> = issues.iter().map(ToString::to_string).collect();
//! assert_eq!(located, [
//!     "1:25: /work/0/startDate: invalid date \"2020-13\": month must be between 01 and 12",
//!     "1:48: /skills: expected an array, found an object",
//! ]);
//! ```

mod date;
mod issue;
mod load;
mod model;
mod position;
mod schema;

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

pub use date::{DateError, PartialDate, period};
pub use issue::{Issue, ParseError};
pub use load::{LoadError, MAX_BYTES, load};
pub use model::{
    Award, Basics, Certificate, Dated, Education, Extra, Interest, Language, List, Location, Meta,
    Profile, Project, Publication, Reference, Resume, Skill, Volunteer, Work,
};

/// The project's own example CV (a fictional person), served when no résumé is configured.
pub const EXAMPLE: &str = include_str!("../../../examples/resume.json");

/// Parses and validates a JSON Resume document, reporting every issue.
pub fn parse(text: &str) -> Result<Resume, ParseError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ParseError::Syntax(syntax_issue(text, &e)))?;
    let findings = schema::check(&value, &schema::RESUME);
    if !findings.is_empty() {
        return Err(ParseError::Invalid(locate(text, findings)));
    }
    // The walk above accepted every member this deserialisation reads, so an error here is a
    // disagreement between the schema table and the types; it is still reported, never a panic.
    Resume::deserialize(&value).map_err(|e| {
        ParseError::Invalid(vec![Issue {
            pointer: String::new(),
            line: 1,
            column: 1,
            message: format!("internal error: the document passed validation but not typing: {e}"),
        }])
    })
}

/// Attaches line and column to each finding.
fn locate(text: &str, findings: Vec<schema::Finding>) -> Vec<Issue> {
    let mut wanted: HashMap<String, Option<usize>> =
        findings.iter().map(|f| (f.pointer.clone(), None)).collect();
    position::offsets(text, &mut wanted);
    let offsets: Vec<usize> = findings
        .iter()
        .map(|f| wanted[&f.pointer].unwrap_or(0))
        .collect();
    let positions = position::line_columns(text, &offsets);
    findings
        .into_iter()
        .zip(positions)
        .map(|(finding, (line, column))| Issue {
            pointer: finding.pointer,
            line,
            column,
            message: finding.message,
        })
        .collect()
}

/// serde_json's error, located in characters and in the innermost open container.
fn syntax_issue(text: &str, error: &serde_json::Error) -> Issue {
    // serde_json counts columns in bytes from 1, with 0 meaning "before the first byte of the
    // line" (e.g. at the end of input after a newline).
    let line_start = match error.line() {
        0 | 1 => 0,
        n => text
            .match_indices('\n')
            .nth(n - 2)
            .map_or(text.len(), |(i, _)| i + 1),
    };
    let mut offset = (line_start + error.column().saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let (line, column) = position::line_columns(text, &[offset])[0];
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    Issue {
        pointer: position::container_at(text, offset),
        line,
        column,
        message,
    }
}
