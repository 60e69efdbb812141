//! What `parse` reports: issues located by JSON pointer and by line:column in the source text.

use std::fmt;

/// One problem in a document.
///
/// `pointer` is an RFC 6901 JSON pointer (`""` is the whole document, `/work/0/startDate` a
/// member); `line` and `column` are 1-based and locate the start of the offending value (for a
/// syntax error: where the parser stopped). Columns count characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Issue {
    pub pointer: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// `LINE:COL: POINTER: MESSAGE`, with `(root)` standing for the empty pointer so the field is
/// never blank.
impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, pointer, self.message
        )
    }
}

/// Why a text is not a valid JSON Resume document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all; parsing stopped at the first error.
    #[error("not JSON: {0}")]
    Syntax(Issue),
    /// JSON, but not a valid JSON Resume; every issue found, in document order.
    #[error("{} ({} issue{} in all)", .0.first().map(ToString::to_string).unwrap_or_default(), .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<Issue>),
}

impl ParseError {
    /// Every issue, one for a syntax error.
    pub fn issues(&self) -> &[Issue] {
        match self {
            Self::Syntax(issue) => std::slice::from_ref(issue),
            Self::Invalid(issues) => issues,
        }
    }
}
