//! The HTTP face of `cv`: the CV page, its JSON, health and readiness, metrics and the blog API.
//!
//! [`app`] builds the whole [`Router`] from an [`AppState`], so tests drive it in-process with
//! `tower::ServiceExt::oneshot`; [`serve`] runs it on a bound listener until a shutdown future
//! resolves, finishing in-flight requests first.

mod api;
mod auth;
mod error;
mod metrics;
mod page;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cv_resume::Resume;
use cv_store::Store;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;

pub use api::MAX_REQUEST_BYTES;
pub use auth::{Access, ApiToken};
pub use error::{ApiError, ErrorBody};
pub use metrics::Metrics;
pub use page::{RenderError, RenderedPage, render_html};

/// Everything a request handler needs; cheap to clone (every part is shared).
#[derive(Clone, Debug)]
pub struct AppState {
    page: Arc<RenderedPage>,
    store: Store,
    token: Option<ApiToken>,
    metrics: Metrics,
}

impl AppState {
    /// Renders the page once (its ETag is fixed for the process's life) and sets up metrics with
    /// `cv_build_info{version,revision}`.
    pub fn new(
        resume: &Resume,
        store: Store,
        token: Option<ApiToken>,
        revision: &str,
    ) -> Result<Self, RenderError> {
        Ok(AppState {
            page: Arc::new(RenderedPage::new(resume)?),
            store,
            token,
            metrics: Metrics::new(env!("CARGO_PKG_VERSION"), revision),
        })
    }

    fn access(&self, headers: &HeaderMap) -> Access {
        auth::access(self.token.as_ref(), headers)
    }

    fn require_writer(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match self.access(headers) {
            Access::Writer => Ok(()),
            Access::Anonymous => Err(ApiError::Unauthorized),
            Access::WritesDisabled => Err(ApiError::WritesDisabled),
        }
    }
}

impl FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Metrics {
        state.metrics.clone()
    }
}

/// The complete application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/cv.json", get(cv_json))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::handler))
        .route("/api/posts", get(api::list_posts).post(api::create_post))
        .route(
            "/api/posts/{slug}",
            get(api::get_post)
                .put(api::replace_post)
                .delete(api::delete_post),
        )
        .route("/api/tags", get(api::list_tags))
        .route_layer(middleware::from_fn(metrics::tag_route))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        // For the JSON responses; the page arrives already gzipped, which this layer leaves be.
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then stops accepting and waits for
/// in-flight requests; idle keep-alive connections are closed at once.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.page.respond(&headers)
}

async fn cv_json(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.page.json.clone(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.check()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "readiness check did not finish");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
