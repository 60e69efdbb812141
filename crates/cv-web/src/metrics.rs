//! Prometheus metrics: the registry, the request-recording middleware and the `/metrics` handler.
//!
//! The route label is the matched route *template* (`/api/posts/{slug}`), never the raw path, so a
//! client cannot grow the label set without bound; requests no route matched share `unmatched`.
//! The method label is bounded the same way: the standard methods by name, anything else `other`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::error::ApiError;

/// The content type of the OpenMetrics text exposition that Prometheus scrapes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds: the page is served from memory (sub-millisecond), writes reach
/// SQLite with fsync (milliseconds), so the buckets span 0.25 ms to 5 s.
const BUCKETS: [f64; 13] = [
    0.000_25, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    revision: String,
}

/// The server's metrics; cheap to clone (shared registry).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry with `cv_build_info{version,revision} 1` set from the arguments.
    pub fn new(version: &str, revision: &str) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // The `_total` suffix is added by the encoder for counters.
        registry.register(
            "cv_http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
        );
        registry.register(
            "cv_http_request_duration_seconds",
            "HTTP request latency by route template",
            durations.clone(),
        );
        // The `_info` suffix is added by the encoder for info metrics.
        registry.register(
            "cv_build",
            "Version and git revision of the running binary",
            Info::new(BuildLabels {
                version: version.to_owned(),
                revision: revision.to_owned(),
            }),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                durations,
            }),
        }
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.inner
            .durations
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)?;
        Ok(text)
    }
}

/// The matched route template, carried from the inner (per-route) middleware to the outer one
/// in the response's extensions, because only the inner one runs after routing.
#[derive(Clone)]
struct RouteTemplate(String);

/// Per-route middleware (installed with `Router::route_layer`): copies the matched route
/// template into the response so [`track`] can label it.
pub(crate) async fn tag_route(request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| RouteTemplate(path.as_str().to_owned()));
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(template);
    }
    response
}

/// Outer middleware (installed with `Router::layer`): times every request, matched or not.
pub(crate) async fn track(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    // The path only: a query string may carry anything a client typed.
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or("unmatched", |template| template.0.as_str());
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    metrics.record(method, route, status, seconds);
    // The access log: every request at debug (a busy server's info log stays quiet), a server
    // error at warn so it is seen without turning debug on.
    let millis = seconds * 1000.0;
    if response.status().is_server_error() {
        tracing::warn!(method, path, route, status, millis, "request");
    } else {
        tracing::debug!(method, path, route, status, millis, "request");
    }
    response
}

/// The method as a label value. HTTP lets a client send any token as a method, so the raw
/// method would let one client create unbounded series; only RFC 9110's methods and PATCH are
/// kept by name.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `GET /metrics`.
pub(crate) async fn handler(State(metrics): State<Metrics>) -> Result<Response, ApiError> {
    let text = metrics.encode().map_err(ApiError::internal)?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_and_recorded_requests_are_exposed() {
        let metrics = Metrics::new("0.1.0", "abc1234");
        metrics.record("GET", "/api/posts/{slug}", 404, 0.003);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"cv_build_info{version="0.1.0",revision="abc1234"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cv_http_requests_total{method="GET",route="/api/posts/{slug}",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cv_http_request_duration_seconds_bucket{le="0.005",route="/api/posts/{slug}"} 1"#
            ) || text.contains(
                r#"cv_http_request_duration_seconds_bucket{route="/api/posts/{slug}",le="0.005"} 1"#
            ),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let made_up = Method::from_bytes(b"XYZZYPLUGH").unwrap();
        assert_eq!(method_label(&made_up), "other");
        // Lower-case `get` is a different (extension) method to HTTP, not GET.
        assert_eq!(method_label(&Method::from_bytes(b"get").unwrap()), "other");
    }
}
