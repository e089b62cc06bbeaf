//! Per-request correlation id, span, access log and HTTP metrics.

use std::time::Instant;

use aras_common::correlation::{self, CorrelationId};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument as _;

tokio::task_local! {
    /// The id of the request being handled, for error bodies built far from the request.
    static CURRENT: CorrelationId;
}

/// The correlation id of the request this task is handling.
pub fn current_correlation_id() -> Option<CorrelationId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Takes the caller's `X-Correlation-ID` (or makes one), exposes it to handlers as an extension,
/// runs the request in a span carrying it, echoes it in the response and records metrics.
pub async fn observe_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = CorrelationId::from_header(
        request
            .headers()
            .get(correlation::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    // The route template, not the raw path, keeps metric labels bounded.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let span = tracing::info_span!("http_request", %method, route = %route, correlation_id = %id);
    aras_common::telemetry::set_parent_from_headers(&span, request.headers());
    request.extensions_mut().insert(id.clone());

    let mut response = CURRENT
        .scope(id.clone(), next.run(request).instrument(span.clone()))
        .await;

    let status = response.status();
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(correlation::HEADER, value);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let labels = [("method", method.to_string()), ("route", route)];
    metrics::histogram!("gateway_http_request_duration_seconds", &labels).record(elapsed);
    let mut counted = labels.to_vec();
    counted.push(("status", status.as_u16().to_string()));
    metrics::counter!("gateway_http_requests_total", &counted).increment(1);
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = elapsed * 1e3,
            "request handled"
        );
    });
    response
}
