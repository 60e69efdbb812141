//! The values that cross the store's boundary: what callers write, how they filter, and what
//! they read back. Input types deserialize with the blog API's rules (unknown fields rejected,
//! optional fields defaulted) so the web layer may use them directly.

use serde::{Deserialize, Serialize};

/// A post to create (`POST /api/posts`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    pub slug: String,
    pub title: String,
    /// Markdown source.
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub published: bool,
    #[serde(default)]
    pub featured: bool,
}

/// The full replacement of a post's content (`PUT /api/posts/{slug}`); the slug and
/// `created_at` never change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostUpdate {
    pub title: String,
    /// Markdown source.
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub published: bool,
    #[serde(default)]
    pub featured: bool,
}

/// Which posts `Store::list` returns; `None` means "either". Conditions combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFilter {
    /// Normalised like stored tags (trimmed, lowercased) before matching.
    pub tag: Option<String>,
    pub published: Option<bool>,
    pub featured: Option<bool>,
}

/// A stored post as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Post {
    pub slug: String,
    pub title: String,
    /// Markdown source, as written.
    pub body: String,
    /// Sanitised HTML rendered from `body` when the post was written.
    pub body_html: String,
    /// Normalised, deduplicated, sorted alphabetically.
    pub tags: Vec<String>,
    pub published: bool,
    pub featured: bool,
    /// RFC 3339, UTC, milliseconds: `2025-01-31T09:15:02.123Z`. Never changes.
    pub created_at: String,
    /// Same format; strictly later after every replace.
    pub updated_at: String,
}

/// A tag and how many posts carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagCount {
    pub tag: String,
    pub count: u64,
}
