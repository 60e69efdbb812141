//! The HTTP face of `cv`: the CV page, its JSON, health and readiness, metrics and the blog API.
//!
//! [`app`] builds the whole [`Router`] from an [`AppState`], so tests drive it in-process with
//! `tower::ServiceExt::oneshot`; [`serve`] runs it on a bound listener until a shutdown future
//! resolves, finishing in-flight requests first, within a bounded grace period.

mod api;
mod auth;
mod error;
mod metrics;
mod page;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cv_resume::Resume;
use cv_store::Store;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower_http::compression::CompressionLayer;

pub use api::MAX_REQUEST_BYTES;
pub use auth::{Access, ApiToken};
pub use error::{ApiError, ErrorBody};
pub use metrics::Metrics;
pub use page::{CONTENT_SECURITY_POLICY, RenderError, RenderedPage, render_html};

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
        .layer(middleware::from_fn(error::json_error_bodies))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        // For the JSON responses; the page arrives already gzipped, which this layer leaves be.
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(middleware::from_fn(nosniff))
        .with_state(state)
}

/// Middleware: `X-Content-Type-Options: nosniff` on every response, so a browser never reads a
/// JSON body (which may quote a post's HTML) or the metrics text as a page.
async fn nosniff(request: axum::extract::Request, next: middleware::Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// How long a client may take to send a request's head (request line and headers). Without a
/// bound, a client that sends `GET / HTTP/1.1\r\n` and then nothing holds a connection forever
/// (slowloris); after it, hyper closes the connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Connections still open when the grace period ran out, and closed mid-request.
    pub cut: usize,
}

/// Serves [`app`] on `listener` until `shutdown` resolves; then stops accepting, closes idle
/// keep-alive connections at once and lets in-flight requests finish for up to `grace`. A
/// connection still open after that (a client trickling a body, say) is dropped, so a stop
/// request is always honoured within `grace`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Stopped {
    let service = TowerToHyperService::new(app(state));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    // Every connection's task, so the ones left after the grace period can be aborted.
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: pause rather than spin on the error.
                tracing::warn!(error = %err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Responses are written whole; Nagle's algorithm would only delay their last segment.
        let _ = stream.set_nodelay(true);
        // No upgrades: the app has no WebSocket or CONNECT route.
        let connection =
            graceful.watch(http.serve_connection(TokioIo::new(stream), service.clone()));
        connections.spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(grace, async {
        graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_ok() {
        return Stopped { cut: 0 };
    }
    while connections.try_join_next().is_some() {}
    let cut = connections.len();
    connections.shutdown().await;
    tracing::warn!(
        connections = cut,
        grace_seconds = grace.as_secs_f64(),
        "grace period over: cut the connections still open"
    );
    Stopped { cut }
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
