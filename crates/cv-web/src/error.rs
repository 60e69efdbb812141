//! The one error type of the HTTP layer and its mapping to the contract's JSON error bodies.
//!
//! Every refusal a client can cause has its own variant with a fixed status and code; anything
//! else is `Internal`, whose cause is logged here and never sent to the client. Error responses
//! made by axum itself (405 for a known path with another method) get the same JSON body from
//! [`json_error_bodies`].

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a request failed. The `Display` text is the client-facing `message`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all (syntax error or truncated).
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),

    /// A write came without `Content-Type: application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,

    /// The JSON is well-formed but a field is missing, of the wrong type, unknown, or breaks a
    /// rule. `field` is `None` only when the document as a whole has the wrong shape.
    #[error("{message}")]
    InvalidField {
        field: Option<String>,
        message: String,
    },

    /// A post with this slug exists already.
    #[error("a post with slug {slug:?} already exists")]
    Conflict { slug: String },

    /// The request body, or the Markdown body inside it, is over its size bound.
    #[error("{0}")]
    TooLarge(String),

    /// A query-string filter could not be parsed.
    #[error("invalid query string: {0}")]
    InvalidQuery(String),

    /// A write without the configured bearer token.
    #[error("a valid bearer token is required for writes")]
    Unauthorized,

    /// A write while the server has no token configured at all.
    #[error("writes are disabled: the server has no API token configured")]
    WritesDisabled,

    /// No such post (or route).
    #[error("not found")]
    NotFound,

    /// A failure that is not the client's fault; the cause is logged, the client sees a fixed text.
    #[error("internal server error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// Wraps any error as an internal one.
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(err.into())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::WritesDisabled => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error` code of the contract's table.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::Conflict { .. } => "conflict",
            ApiError::TooLarge(_) => "too_large",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::Unauthorized => "unauthorized",
            ApiError::WritesDisabled => "writes_disabled",
            ApiError::NotFound => "not_found",
            ApiError::Internal(_) => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::InvalidField { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

/// The JSON error body: `{"error","message"}` plus `"field"` when one field is at fault.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error while handling a request");
        }
        let status = self.status();
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
            field: self.field(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Middleware: gives an error response that has no body of ours (no `Content-Type`; axum's 405
/// is the one the router makes) the contract's JSON body, keeping its status and headers
/// (`Allow` on a 405). Errors hyper answers before the app sees a request (a 431 for headers
/// over its limit, a 400 for a malformed request line) are outside the app's reach.
pub(crate) async fn json_error_bodies(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let (mut parts, _empty) = response.into_parts();
    let (code, message) = if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = parts
            .headers
            .get(header::ALLOW)
            .and_then(|allow| allow.to_str().ok())
            .unwrap_or_default();
        // The method is echoed only when it is a standard one: a made-up method can be any
        // token of any length.
        let shown = if method_is_standard(&method) {
            method.as_str()
        } else {
            "this method"
        };
        (
            "method_not_allowed".to_owned(),
            format!("{shown} is not allowed here; allowed: {allowed}"),
        )
    } else {
        let reason = status.canonical_reason().unwrap_or("error");
        (
            reason.to_ascii_lowercase().replace([' ', '-'], "_"),
            reason.to_owned(),
        )
    };
    let body = ErrorBody {
        error: &code,
        message,
        field: None,
    };
    let Ok(bytes) = serde_json::to_vec(&body) else {
        return Response::from_parts(parts, Body::empty());
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(bytes))
}

fn method_is_standard(method: &axum::http::Method) -> bool {
    use axum::http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ]
    .contains(method)
}

impl From<cv_store::StoreError> for ApiError {
    fn from(err: cv_store::StoreError) -> Self {
        use cv_store::StoreError;
        match err {
            StoreError::Invalid { field, message } => ApiError::InvalidField {
                field: Some(field.to_owned()),
                message: format!("{field}: {message}"),
            },
            StoreError::Conflict { slug } => ApiError::Conflict { slug },
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(err: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let auth = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, auth, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn every_variant_maps_to_its_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::InvalidJson("eof".into()), 400, "invalid_json"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::InvalidField {
                    field: Some("title".into()),
                    message: "m".into(),
                },
                422,
                "invalid_field",
            ),
            (ApiError::Conflict { slug: "a".into() }, 409, "conflict"),
            (ApiError::TooLarge("big".into()), 413, "too_large"),
            (ApiError::InvalidQuery("q".into()), 400, "invalid_query"),
            (ApiError::Unauthorized, 401, "unauthorized"),
            (ApiError::WritesDisabled, 403, "writes_disabled"),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::internal("disk on fire"), 500, "internal"),
        ];
        for (err, status, code) in cases {
            let (got_status, _, body) = body_of(err).await;
            assert_eq!(got_status.as_u16(), status, "{code}");
            assert_eq!(body["error"], code);
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }

    #[tokio::test]
    async fn field_is_present_only_when_one_field_is_at_fault() {
        let (_, _, body) = body_of(ApiError::InvalidField {
            field: Some("slug".into()),
            message: "bad".into(),
        })
        .await;
        assert_eq!(body["field"], "slug");
        let (_, _, body) = body_of(ApiError::NotFound).await;
        assert!(body.get("field").is_none());
    }

    #[tokio::test]
    async fn unauthorized_carries_the_bearer_challenge() {
        let (_, auth, _) = body_of(ApiError::Unauthorized).await;
        assert_eq!(auth.as_deref(), Some("Bearer"));
        let (_, auth, _) = body_of(ApiError::WritesDisabled).await;
        assert_eq!(auth, None);
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let (_, _, body) = body_of(ApiError::internal("secret path /var/lib/x")).await;
        assert_eq!(body["message"], "internal server error");
    }

    #[test]
    fn store_errors_map_to_the_contract() {
        let invalid = cv_store::StoreError::Invalid {
            field: "slug",
            message: "bad slug".into(),
        };
        let mapped = ApiError::from(invalid);
        assert_eq!(mapped.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(mapped.field(), Some("slug"));
        let conflict = cv_store::StoreError::Conflict { slug: "x".into() };
        assert_eq!(ApiError::from(conflict).status(), StatusCode::CONFLICT);
    }
}
