//! The API's bearer token: who may write, and who may read drafts.

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;

/// The configured write token. `Debug` never prints it.
#[derive(Clone)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token from its text, trimmed (token files usually end in a newline); `None` when empty,
    /// because an empty token would let an empty `Bearer ` header write.
    pub fn new(text: &str) -> Option<Self> {
        let trimmed = text.trim();
        (!trimmed.is_empty()).then(|| ApiToken(trimmed.to_owned()))
    }

    /// Compares in time independent of where the first differing byte is, so the token cannot be
    /// guessed byte by byte from response times.
    fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token configured: nobody may write.
    WritesDisabled,
    /// No or a wrong token: reads of published posts only.
    Anonymous,
    /// The configured token: writes, and reads of drafts.
    Writer,
}

/// Decides the access of a request from its `Authorization` header.
pub fn access(token: Option<&ApiToken>, headers: &HeaderMap) -> Access {
    let Some(token) = token else {
        return Access::WritesDisabled;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, rest) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    match presented {
        Some(candidate) if token.matches(candidate) => Access::Writer,
        _ => Access::Anonymous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_token_writes() {
        let token = ApiToken::new("s3cret\n").unwrap();
        assert_eq!(
            access(Some(&token), &with_auth("Bearer s3cret")),
            Access::Writer
        );
        assert_eq!(
            access(Some(&token), &with_auth("bearer s3cret")),
            Access::Writer
        );
        assert_eq!(
            access(Some(&token), &with_auth("Bearer s3cre")),
            Access::Anonymous
        );
        assert_eq!(
            access(Some(&token), &with_auth("Bearer s3cretX")),
            Access::Anonymous
        );
        assert_eq!(
            access(Some(&token), &with_auth("Basic s3cret")),
            Access::Anonymous
        );
        assert_eq!(access(Some(&token), &HeaderMap::new()), Access::Anonymous);
        assert_eq!(
            access(None, &with_auth("Bearer s3cret")),
            Access::WritesDisabled
        );
    }

    #[test]
    fn blank_tokens_are_no_token() {
        assert!(ApiToken::new(" \n").is_none());
        assert!(!format!("{:?}", ApiToken::new("abc").unwrap()).contains("abc"));
    }
}
