//! Per-request correlation id, span, access log and HTTP metrics. tower-http sets the id (the
//! caller's `X-Correlation-ID` when well-formed, else a new UUID) and echoes it, and runs each
//! request in a span with an access log line; this module adds what is ARAS's own: malformed
//! ids dropped first, the id for handlers and error bodies, the span's fields, the metrics.

use std::time::Instant;

use aras_common::correlation::{self, CorrelationId};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::RequestId;

tokio::task_local! {
    /// The id of the request being handled, for error bodies built far from the request.
    static CURRENT: CorrelationId;
}

/// The correlation id of the request this task is handling.
pub fn current_correlation_id() -> Option<CorrelationId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Removes a malformed `X-Correlation-ID` before the request id is set, so the request gets a
/// new one: a malformed id must not reach logs or headers, and refusing the request for it
/// would help nobody.
pub async fn drop_malformed_correlation_id(mut request: Request) -> Request {
    let malformed = request
        .headers()
        .get(correlation::HEADER)
        .is_some_and(|v| v.to_str().ok().and_then(CorrelationId::parse).is_none());
    if malformed {
        request.headers_mut().remove(correlation::HEADER);
    }
    request
}

/// The request's span: method, route template, correlation id, and the caller's trace as
/// parent.
pub fn span<B>(request: &http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "http_request",
        method = %request.method(),
        route = route(request),
        correlation_id = %correlation_id(request),
        // Recorded once the caller is authenticated (`auth`).
        tenant = tracing::field::Empty,
        principal = tracing::field::Empty,
    );
    aras_common::telemetry::set_parent_from_headers(&span, request.headers());
    span
}

/// Gives handlers the correlation id (an extension, and a task-local for error bodies) and
/// records the request's metrics.
pub async fn observe_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = correlation_id(&request);
    let route = route(&request).to_owned();
    let method = method_label(request.method());
    request.extensions_mut().insert(id.clone());
    let response = CURRENT.scope(id, next.run(request)).await;
    let labels = [("method", method.to_owned()), ("route", route)];
    metrics::histogram!("gateway_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    let mut counted = labels.to_vec();
    counted.push(("status", response.status().as_u16().to_string()));
    metrics::counter!("gateway_http_requests_total", &counted).increment(1);
    response
}

/// The id tower-http's `SetRequestId` put on the request (well-formed: malformed ones were
/// dropped before it).
fn correlation_id<B>(request: &http::Request<B>) -> CorrelationId {
    CorrelationId::from_header(
        request
            .extensions()
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok()),
    )
}

/// The route template, not the raw path: it keeps metric labels bounded.
fn route<B>(request: &http::Request<B>) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// The method as a metric label: one of HTTP's own, or `other` — a caller may send any token
/// as a method, and each new label value would be a series kept forever.
fn method_label(method: &http::Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&http::Method::PATCH), "PATCH");
        for made_up in ["FOO", "get", "PROPFIND"] {
            let method = http::Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
    }
}
