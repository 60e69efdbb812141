//! The CV page: rendered once from askama templates compiled into the binary, then served from
//! memory with a strong ETag.

use std::hash::{Hash, Hasher};

use askama::Template;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cv_resume::{Dated, Resume};

/// The stylesheet, inlined into the page so a static export opens from disk with no file beside it.
const CSS: &str = include_str!("../templates/style.css");

/// Why the page could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot render the CV page: {0}")]
    Template(#[from] askama::Error),
    #[error("cannot serialise the CV as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Template)]
#[template(path = "cv.html", whitespace = "minimize")]
struct CvPage<'a> {
    resume: &'a Resume,
    name: &'a str,
    title: String,
    css: &'static str,
}

/// The HTML page of `resume`: valid HTML5, every string escaped, CSS inlined.
pub fn render_html(resume: &Resume) -> Result<String, RenderError> {
    let name = resume.name().unwrap_or("Curriculum vitae");
    let title = match (resume.name(), resume.label()) {
        (Some(name), Some(label)) => format!("{name} — {label}"),
        (Some(name), None) => name.to_owned(),
        _ => "Curriculum vitae".to_owned(),
    };
    let page = CvPage {
        resume,
        name,
        title,
        css: CSS,
    };
    Ok(page.render()?)
}

/// A URL that may go into `href`/`src`: only http(s) and mailto, because an HTML-escaped
/// `javascript:` URL still runs script when clicked. Anything else is shown as text.
fn safe_href<'a>(url: &Option<&'a str>) -> Option<&'a str> {
    let url = (*url)?.trim();
    let scheme_end = url.find(':')?;
    let scheme = &url[..scheme_end];
    ["http", "https", "mailto"]
        .iter()
        .any(|allowed| scheme.eq_ignore_ascii_case(allowed))
        .then_some(url)
}

/// "Mar 2020 – present" style period of a dated item, empty when it has no start.
fn period<D: Dated>(item: &&D) -> String {
    item.period().unwrap_or_default()
}

/// The page and the JSON document, as served; built once at startup.
#[derive(Debug)]
pub struct RenderedPage {
    pub html: Bytes,
    pub json: Bytes,
    /// Quoted strong validator of the identity-encoded page, e.g. `"3f2a…"`.
    pub etag: String,
}

impl RenderedPage {
    pub fn new(resume: &Resume) -> Result<Self, RenderError> {
        let html = render_html(resume)?;
        let json = serde_json::to_vec_pretty(resume)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        html.hash(&mut hasher);
        let etag = format!("\"{:016x}{:x}\"", hasher.finish(), html.len());
        Ok(RenderedPage {
            html: Bytes::from(html),
            json: Bytes::from(json),
            etag,
        })
    }

    /// 304 when `If-None-Match` names this page (in any encoding), else the page.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let etag =
            HeaderValue::from_str(&self.etag).expect("an ETag of hex digits is a valid header");
        if let Some(matched) = self.matching_tag(headers) {
            // Echo the tag the client holds: it names the encoding its cached copy has.
            let echoed = HeaderValue::from_str(&matched).unwrap_or(etag);
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, echoed)]).into_response();
        }
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::ETAG, etag),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            self.html.clone(),
        )
            .into_response()
    }

    /// The entity tag of `If-None-Match` that names this page, compared weakly as RFC 9110
    /// requires for this header.
    fn matching_tag(&self, headers: &HeaderMap) -> Option<String> {
        let ours = self.etag.trim_matches('"');
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .find_map(|tag| {
                if tag == "*" {
                    return Some(self.etag.clone());
                }
                let opaque = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
                let base = opaque.strip_suffix(GZIP_SUFFIX).unwrap_or(opaque);
                (base == ours).then(|| format!("\"{opaque}\""))
            })
    }
}

/// What a compressed representation's ETag gets appended: a strong validator must differ
/// between encodings of the same page.
const GZIP_SUFFIX: &str = "-gzip";

/// Response mapper (outside the compression layer): marks the ETag of a compressed response.
pub(crate) async fn etag_per_encoding(mut response: Response) -> Response {
    let compressed = response.headers().contains_key(header::CONTENT_ENCODING);
    if !compressed {
        return response;
    }
    let marked = response
        .headers()
        .get(header::ETAG)
        .and_then(|value| value.to_str().ok())
        .and_then(|tag| tag.strip_suffix('"'))
        .and_then(|tag| HeaderValue::from_str(&format!("{tag}{GZIP_SUFFIX}\"")).ok());
    if let Some(marked) = marked {
        response.headers_mut().insert(header::ETAG, marked);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_and_mail_links_become_hrefs() {
        assert_eq!(
            safe_href(&Some("https://example.com")),
            Some("https://example.com")
        );
        assert_eq!(
            safe_href(&Some("HTTP://example.com")),
            Some("HTTP://example.com")
        );
        assert_eq!(safe_href(&Some("mailto:a@b.c")), Some("mailto:a@b.c"));
        assert_eq!(safe_href(&Some("javascript:alert(1)")), None);
        assert_eq!(safe_href(&Some(" JavaScript:alert(1)")), None);
        assert_eq!(safe_href(&Some("data:text/html,x")), None);
        assert_eq!(safe_href(&Some("example.com")), None);
        assert_eq!(safe_href(&None), None);
    }
}
