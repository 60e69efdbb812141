//! Field rules of the blog API as pure functions, checked before any database work so that a
//! refused write never opens a transaction.
//!
//! Tags are normalised, not only checked: surrounding whitespace is trimmed and ASCII letters
//! are lowercased, then duplicates are dropped and the rest sorted. `" Rust"` and `"rust"` are
//! the same tag to a reader, so refusing one of them would only push the normalisation onto
//! every client. Lowercasing is ASCII-only on purpose: Unicode case folding maps some
//! non-ASCII characters (the Kelvin sign `K`) onto ASCII letters, which would let lookalike
//! tags in; those are refused instead. Slugs are identifiers in URLs and are not normalised.

use crate::error::{Result, StoreError};

/// Longest slug, in characters (all ASCII).
pub const MAX_SLUG_CHARS: usize = 100;
/// Longest title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// Largest Markdown body, in bytes (256 KiB).
pub const MAX_BODY_BYTES: usize = 262_144;
/// Most tags on one post, counted after normalisation and deduplication.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 40;

/// Checks a slug against `^[a-z0-9]+(-[a-z0-9]+)*$` and the length limit.
pub fn validate_slug(slug: &str) -> Result<()> {
    let invalid = |message: String| Err(StoreError::invalid("slug", message));
    if slug.is_empty() {
        return invalid("must not be empty".into());
    }
    let well_formed = slug
        .split('-')
        .all(|part| !part.is_empty() && part.bytes().all(is_lower_alnum));
    if !well_formed {
        return invalid(format!(
            "{:?} must be lowercase letters and digits in words joined by single '-'",
            preview(slug)
        ));
    }
    // Checked after the pattern, so the slug is ASCII and bytes are characters.
    if slug.len() > MAX_SLUG_CHARS {
        return invalid(format!(
            "must be at most {MAX_SLUG_CHARS} characters, got {}",
            slug.len()
        ));
    }
    Ok(())
}

/// Checks a title and returns it trimmed, which is how it is stored.
///
/// Control characters (C0, DEL, C1: NUL, escape sequences, line breaks) and the bidirectional
/// embedding, override and isolate characters are refused: a title is one line shown in lists,
/// feeds and terminals, where these would truncate it, inject terminal escapes, or reorder the
/// text around it (U+202E makes `gpj.exe` read `exe.jpg`). The directional marks (U+200E,
/// U+200F, U+061C) stay allowed: they only nudge neutral characters in right-to-left text.
pub fn validate_title(title: &str) -> Result<String> {
    let trimmed = title.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(StoreError::invalid("title", "must not be empty"));
    }
    if let Some((index, ch)) = trimmed
        .chars()
        .enumerate()
        .find(|(_, ch)| ch.is_control() || is_bidi_control(*ch))
    {
        return Err(StoreError::invalid(
            "title",
            format!(
                "must not contain control or bidirectional formatting characters, found \
                 U+{:04X} at character {index}",
                u32::from(ch)
            ),
        ));
    }
    if chars > MAX_TITLE_CHARS {
        return Err(StoreError::invalid(
            "title",
            format!("must be at most {MAX_TITLE_CHARS} characters, got {chars}"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Checks the size of a Markdown body. An empty body is allowed (a title-only note).
pub fn validate_body(body: &str) -> Result<()> {
    if body.len() > MAX_BODY_BYTES {
        return Err(StoreError::invalid(
            "body",
            format!(
                "must be at most {MAX_BODY_BYTES} bytes (256 KiB), got {}",
                body.len()
            ),
        ));
    }
    Ok(())
}

/// Normalises one tag (trim, ASCII-lowercase) without checking it; used for filters too.
pub fn normalize_tag(tag: &str) -> String {
    tag.trim().to_ascii_lowercase()
}

/// Normalises a post's tags and checks each against `^[a-z0-9][a-z0-9-]{0,39}$` and the
/// count against [`MAX_TAGS`]. Returns them deduplicated and sorted.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut normalized = Vec::with_capacity(tags.len().min(MAX_TAGS + 1));
    for (index, raw) in tags.iter().enumerate() {
        let tag = normalize_tag(raw);
        let well_formed = tag.len() <= MAX_TAG_CHARS
            && tag.bytes().next().is_some_and(is_lower_alnum)
            && tag.bytes().all(|b| is_lower_alnum(b) || b == b'-');
        if !well_formed {
            return Err(StoreError::invalid(
                "tags",
                format!(
                    "tag {index} ({:?}) must be 1 to {MAX_TAG_CHARS} of a-z, 0-9 and '-', \
                     starting with a letter or digit",
                    preview(raw)
                ),
            ));
        }
        normalized.push(tag);
    }
    normalized.sort();
    normalized.dedup();
    if normalized.len() > MAX_TAGS {
        return Err(StoreError::invalid(
            "tags",
            format!(
                "at most {MAX_TAGS} distinct tags are allowed, got {}",
                normalized.len()
            ),
        ));
    }
    Ok(normalized)
}

/// The explicit bidirectional embeddings, overrides (U+202A..=U+202E) and isolates
/// (U+2066..=U+2069).
fn is_bidi_control(ch: char) -> bool {
    matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Keeps error messages one short line even when the input is megabytes long.
fn preview(value: &str) -> String {
    const LIMIT: usize = 60;
    if value.chars().count() <= LIMIT {
        value.to_owned()
    } else {
        let head: String = value.chars().take(LIMIT).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_refuse_control_and_bidi_override_characters() {
        for bad in [
            "nul\u{0}here",
            "escape \u{1b}[31mred",
            "two\nlines",
            "tab\tinside",
            "c1 \u{85} next line",
            "del \u{7f}",
            "evil\u{202E}gpj.exe",
            "isolate \u{2066}x\u{2069}",
        ] {
            let err = validate_title(bad).unwrap_err();
            assert!(
                matches!(err, StoreError::Invalid { field: "title", .. }),
                "{bad:?}: {err:?}"
            );
        }
        let err = validate_title("ab\u{202E}").unwrap_err();
        assert!(err.to_string().contains("U+202E at character 2"), "{err}");
        // Ordinary Unicode, right-to-left text and its marks are titles.
        for good in [
            "Über „Zitate“ — 日本語",
            "שלום\u{200F} world",
            "  trimmed\n",
        ] {
            assert!(validate_title(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn tags_refuse_control_and_bidi_characters() {
        for bad in ["ru\u{0}st", "rust\u{202E}", "\u{2066}rust"] {
            assert!(normalize_tags(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }

    fn field_of(result: Result<impl std::fmt::Debug>) -> &'static str {
        match result {
            Err(StoreError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn slugs_follow_the_pattern() {
        for good in [
            "a",
            "hello-world",
            "2025-01-post",
            "a1-b2-c3",
            &"x".repeat(100),
        ] {
            assert!(validate_slug(good).is_ok(), "{good:?} should be accepted");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "Hello",
            "héllo",
            "a_b",
            "a b",
            "a/b",
            "../etc",
            &"x".repeat(101),
        ] {
            assert_eq!(
                field_of(validate_slug(bad)),
                "slug",
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters() {
        assert_eq!(validate_title("  Hello \n").unwrap(), "Hello");
        // 200 multi-byte characters are within the limit although they are 400 bytes.
        assert!(validate_title(&"é".repeat(200)).is_ok());
        assert_eq!(field_of(validate_title(&"é".repeat(201))), "title");
        assert_eq!(field_of(validate_title("")), "title");
        assert_eq!(field_of(validate_title(" \t\n ")), "title");
    }

    #[test]
    fn body_is_bounded_in_bytes() {
        assert!(validate_body("").is_ok());
        assert!(validate_body(&"a".repeat(MAX_BODY_BYTES)).is_ok());
        assert_eq!(
            field_of(validate_body(&"a".repeat(MAX_BODY_BYTES + 1))),
            "body"
        );
        // 131073 two-byte characters: under the limit in characters, over it in bytes.
        assert_eq!(
            field_of(validate_body(&"é".repeat(MAX_BODY_BYTES / 2 + 1))),
            "body"
        );
    }

    #[test]
    fn tags_are_trimmed_lowercased_deduplicated_and_sorted() {
        let tags: Vec<String> = [" Rust", "web", "rust ", "WEB", "a-1"]
            .map(String::from)
            .to_vec();
        assert_eq!(normalize_tags(&tags).unwrap(), ["a-1", "rust", "web"]);
    }

    #[test]
    fn bad_tags_are_refused() {
        for bad in [
            "",
            "  ",
            "-rust",
            "c++",
            "two words",
            "ünï",
            "\u{212A}elvin",
            &"x".repeat(41),
        ] {
            let result = normalize_tags(&[bad.to_owned()]);
            assert_eq!(field_of(result), "tags", "{bad:?} should be refused");
        }
        assert!(normalize_tags(&["x".repeat(40)]).is_ok());
    }

    #[test]
    fn at_most_twenty_distinct_tags() {
        let twenty: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        assert_eq!(normalize_tags(&twenty).unwrap().len(), 20);
        let mut twenty_one = twenty.clone();
        twenty_one.push("t20".into());
        assert_eq!(field_of(normalize_tags(&twenty_one)), "tags");
        // Duplicates collapse before counting: they are one tag once stored.
        let mut with_duplicates = twenty;
        with_duplicates.extend(["T0".to_owned(), " t1 ".to_owned()]);
        assert_eq!(normalize_tags(&with_duplicates).unwrap().len(), 20);
    }

    #[test]
    fn long_input_is_cut_in_messages() {
        let err = validate_slug(&"A".repeat(50)).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
        let err = normalize_tags(&["!".repeat(10_000)])
            .unwrap_err()
            .to_string();
        assert!(err.len() < 300, "{err}");
    }
}
