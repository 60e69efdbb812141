//! Markdown to sanitised HTML, done once when a post is written so reads serve stored HTML.
//!
//! pulldown-cmark is a CommonMark parser that passes raw HTML and any link URL through
//! untouched (as CommonMark requires), so its output alone is not safe to embed. ammonia then
//! re-parses that output with html5ever, the same HTML5 parsing algorithm browsers use, and
//! keeps only whitelisted tags, attributes and URL schemes: `<script>` and `<style>` are
//! removed with their content, event-handler attributes and `javascript:` URLs are dropped,
//! and links get `rel="noopener noreferrer"`. Sanitising the final HTML (rather than filtering
//! parser events) means no Markdown construct can smuggle markup past the whitelist.

use pulldown_cmark::{Options, Parser, html};

/// Renders Markdown to HTML that is safe to embed in a page.
pub fn render_markdown(markdown: &str) -> String {
    // Task lists are left out: they render as `<input>`, which the sanitiser removes anyway.
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_SMART_PUNCTUATION;
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::clean(&unsafe_html)
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn renders_common_markdown() {
        let html = render_markdown("# Title\n\nSome *emphasis* and `code`.\n\n- one\n- two\n");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>emphasis</em>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
    }

    #[test]
    fn script_never_survives() {
        for attack in [
            "<script>alert(1)</script>",
            "hello <script>alert(1)</script> world",
            "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
            "<scr<script>ipt>alert(1)</script>",
            "```\n</code><script>alert(1)</script>\n```",
            "<div><script>alert(1)</script></div>",
        ] {
            let html = render_markdown(attack);
            assert!(
                !html.to_ascii_lowercase().contains("<script"),
                "{attack:?} rendered to {html:?}"
            );
        }
    }

    #[test]
    fn dangerous_attributes_and_urls_are_dropped() {
        let html = render_markdown(
            "[click](javascript:alert(1)) <img src=x onerror=alert(1)> \
             <a href=\"https://example.com\" onclick=\"alert(1)\">ok</a>",
        );
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(html.contains("rel=\"noopener noreferrer\""), "{html}");
    }

    #[test]
    fn code_blocks_show_markup_as_text() {
        let html = render_markdown("```\n<script>alert(1)</script>\n```\n");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
