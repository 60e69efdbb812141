//! The blog API: `/api/posts`, `/api/posts/{slug}` and `/api/tags`.
//!
//! Order of checks on a write, so that a refused write never reaches the store and an anonymous
//! client learns nothing about the body's validity: token, Content-Type, body size, JSON syntax,
//! JSON shape, then the store's field rules.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cv_store::{NewPost, Post, PostFilter, PostUpdate, Store, TagCount};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::Access;
use crate::error::ApiError;

/// Largest accepted request body; the Markdown inside has its own, smaller bound in the store.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// `?tag=&published=&featured=`; unknown keys are ignored, bad booleans are `invalid_query`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    tag: Option<String>,
    published: Option<bool>,
    featured: Option<bool>,
}

/// Runs a blocking store call off the async workers; a panicked or cancelled task is internal.
async fn blocking<T, F>(store: &Store, call: F) -> Result<T, ApiError>
where
    F: FnOnce(&Store) -> Result<T, cv_store::StoreError> + Send + 'static,
    T: Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || call(&store))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

pub(crate) async fn list_posts(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Post>>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    let mut filter = PostFilter {
        tag: query.tag.filter(|tag| !tag.is_empty()),
        published: query.published,
        featured: query.featured,
    };
    if state.access(&headers) != Access::Writer {
        // Drafts are invisible without the token: asking for them yields nothing.
        if filter.published == Some(false) {
            return Ok(Json(Vec::new()));
        }
        filter.published = Some(true);
    }
    let posts = blocking(&state.store, move |store| store.list(&filter)).await?;
    Ok(Json(posts))
}

pub(crate) async fn get_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Json<Post>, ApiError> {
    let writer = state.access(&headers) == Access::Writer;
    let post = blocking(&state.store, move |store| store.get(&slug)).await?;
    match post {
        Some(post) if post.published || writer => Ok(Json(post)),
        _ => Err(ApiError::NotFound),
    }
}

pub(crate) async fn create_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: NewPost = write_input(&state, &headers, body)?;
    let post = blocking(&state.store, move |store| store.create(input)).await?;
    let location =
        HeaderValue::from_str(&format!("/api/posts/{}", post.slug)).map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(post),
    )
        .into_response())
}

pub(crate) async fn replace_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Post>, ApiError> {
    let input: PostUpdate = write_input(&state, &headers, body)?;
    let post = blocking(&state.store, move |store| store.replace(&slug, input)).await?;
    post.map(Json).ok_or(ApiError::NotFound)
}

pub(crate) async fn delete_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.require_writer(&headers)?;
    let deleted = blocking(&state.store, move |store| store.delete(&slug)).await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

pub(crate) async fn list_tags(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<TagCount>>, ApiError> {
    let published_only = state.access(&headers) != Access::Writer;
    let tags = blocking(&state.store, move |store| store.tags(published_only)).await?;
    Ok(Json(tags))
}

/// The checks every write shares, in the order the module documentation gives.
fn write_input<T: DeserializeOwned + HasBody>(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    state.require_writer(headers)?;
    if !is_json_content_type(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!(
                "request body is over the limit of {MAX_REQUEST_BYTES} bytes"
            ))
        } else {
            ApiError::InvalidJson(rejection.body_text())
        }
    })?;
    let input: T = parse_json(&bytes)?;
    if input.body().len() > cv_store::MAX_BODY_BYTES {
        return Err(ApiError::TooLarge(format!(
            "body: the Markdown body is over the limit of {} bytes",
            cv_store::MAX_BODY_BYTES
        )));
    }
    Ok(input)
}

/// Write inputs carry a Markdown body whose size is checked before the store sees it.
trait HasBody {
    fn body(&self) -> &str;
}

impl HasBody for NewPost {
    fn body(&self) -> &str {
        &self.body
    }
}

impl HasBody for PostUpdate {
    fn body(&self) -> &str {
        &self.body
    }
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses a JSON body, telling a syntax error (400) from a shape error (422 naming the field).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body: `{} trailing` is not JSON, even though its start is
    // an object that misses fields. `IgnoredAny` checks without building anything.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|err| ApiError::InvalidJson(err.to_string()))?;
    // serde's derive also maps a JSON array onto a struct, field by field in declaration
    // order, so `["slug","title","body"]` would be a post. The API's inputs are objects with
    // named fields; any other valid JSON is a document of the wrong shape: 422 invalid_field
    // with no single field at fault.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::InvalidField {
            field: None,
            message: "expected a JSON object".to_owned(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = field_of(&err);
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::InvalidField {
                message: match &field {
                    Some(field) => format!("{field}: {inner}"),
                    None => inner.to_string(),
                },
                field,
            },
            _ => ApiError::InvalidJson(inner.to_string()),
        }
    })?;
    Ok(value)
}

/// The field a data error is about: the path to it when serde got inside it (wrong type), else
/// the name serde quotes in its message (missing or unknown field at the top level).
fn field_of(err: &serde_path_to_error::Error<serde_json::Error>) -> Option<String> {
    let path = err.path().to_string();
    if !path.is_empty() && path != "." && path != "?" {
        // `tags[2]` is about `tags`: the API's fields are flat.
        let top = path.split(['.', '[']).next().unwrap_or_default();
        if !top.is_empty() {
            return Some(top.to_owned());
        }
    }
    let message = err.inner().to_string();
    let quoted = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    let name = &quoted[..quoted.find('`')?];
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<NewPost, ApiError>) -> (u16, Option<String>) {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(err) => {
                let status = err.status().as_u16();
                match err {
                    ApiError::InvalidField { field, .. } => (status, field),
                    _ => (status, None),
                }
            }
        }
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        for body in ["", "{", "{\"slug\":}", "not json", "{} trailing"] {
            assert_eq!(field(parse_json(body.as_bytes())), (400, None), "{body:?}");
        }
    }

    #[test]
    fn shape_errors_name_their_field() {
        let missing = r#"{"slug":"a","body":"b"}"#;
        assert_eq!(
            field(parse_json(missing.as_bytes())),
            (422, Some("title".into()))
        );
        let wrong_type = r#"{"slug":"a","title":5,"body":"b"}"#;
        assert_eq!(
            field(parse_json(wrong_type.as_bytes())),
            (422, Some("title".into()))
        );
        let bad_tag = r#"{"slug":"a","title":"t","body":"b","tags":["x",3]}"#;
        assert_eq!(
            field(parse_json(bad_tag.as_bytes())),
            (422, Some("tags".into()))
        );
        let unknown = r#"{"slug":"a","title":"t","body":"b","colour":"red"}"#;
        assert_eq!(
            field(parse_json(unknown.as_bytes())),
            (422, Some("colour".into()))
        );
        assert_eq!(field(parse_json(b"[1,2]")), (422, None));
    }

    #[test]
    fn only_objects_are_inputs() {
        // The same fields as an array used to be accepted as a post.
        for body in [
            r#"["slug","t","b"]"#,
            r#" ["slug","t","b",[],true,false]"#,
            "\"x\"",
            "5",
            "null",
        ] {
            assert_eq!(field(parse_json(body.as_bytes())), (422, None), "{body}");
            let Err(err) = parse_json::<NewPost>(body.as_bytes()) else {
                panic!("{body} accepted");
            };
            assert_eq!(err.to_string(), "expected a JSON object");
        }
    }

    #[test]
    fn content_type_accepts_parameters_only_on_json() {
        let mut headers = HeaderMap::new();
        assert!(!is_json_content_type(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json_content_type(&headers));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json_content_type(&headers));
    }
}
