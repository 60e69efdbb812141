//! JSON Resume v1.0.0 for the `cv` application: typed documents, validation that reports every
//! issue with its JSON pointer and line:column, and bounded loading from a file.
//!
//! Pure: no async, no IO except [`load`]. A document is first parsed as a JSON value, then
//! checked against the schema (collecting every issue), and only then deserialised into
//! [`Resume`], so the typed layer never sees an invalid document.

mod date;
mod issue;
mod load;
mod model;

pub use date::{DateError, PartialDate, period};
pub use issue::{Issue, ParseError};
pub use load::{LoadError, MAX_BYTES, load};
pub use model::{
    Award, Basics, Certificate, Dated, Education, Extra, Interest, Language, List, Location, Meta,
    Profile, Project, Publication, Reference, Resume, Skill, Volunteer, Work,
};

use serde_json::Value;

/// The project's own example CV (a fictional person), served when no résumé is configured.
pub const EXAMPLE: &str = include_str!("../../../examples/resume.json");

/// Parses and validates a JSON Resume document.
pub fn parse(text: &str) -> Result<Resume, ParseError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ParseError::Syntax(Issue {
            pointer: String::new(),
            line: e.line().max(1),
            column: e.column().max(1),
            message: e.to_string(),
        })
    })?;
    if !value.is_object() {
        return Err(ParseError::Invalid(vec![Issue {
            pointer: String::new(),
            line: 1,
            column: 1,
            message: "expected an object".into(),
        }]));
    }
    Resume::deserialize(&value).map_err(|e| {
        ParseError::Invalid(vec![Issue {
            pointer: String::new(),
            line: 1,
            column: 1,
            message: e.to_string(),
        }])
    })
}

use serde::Deserialize;
