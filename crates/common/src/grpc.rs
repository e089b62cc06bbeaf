//! gRPC plumbing shared by every service and by the gateway's clients.
//!
//! Server side: one listener serves the service's gRPC routes, `grpc.health.v1`, reflection and
//! Prometheus `/metrics` (HTTP/2 and HTTP/1.1 on the same port), with a span per call that
//! carries the caller's correlation id and trace context, and per-method metrics.
//! Client side: lazy channels and requests that always carry a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;
use tracing::Instrument as _;

use crate::correlation::{self, CorrelationId};
use crate::telemetry;

/// The health reporter and the routes every service starts from: `grpc.health.v1` and
/// reflection over all ARAS protos. Services add their own with `add_service` and report
/// SERVING only once they are really ready.
pub fn base_routes() -> (HealthReporter, RoutesBuilder) {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(aras_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the compiled descriptor set is valid");
    let mut routes = RoutesBuilder::default();
    routes.add_service(health_service).add_service(reflection);
    (reporter, routes)
}

/// Serves `routes` and `/metrics` on `listener` until `shutdown` resolves, then lets in-flight
/// calls finish. `metric_prefix` names the service in metric names (`ranking_grpc_…`).
pub async fn serve(
    metric_prefix: &'static str,
    listener: TcpListener,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes
        .prepare()
        .into_axum_router()
        .layer(middleware::from_fn_with_state(metric_prefix, observe_call))
        .merge(crate::metrics::router());
    let listener = listener.tap_io(|tcp| {
        // Small unary messages: Nagle's algorithm would only add latency.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A span per call (method, correlation id, parent trace) and the call's metrics.
async fn observe_call(
    State(prefix): State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.uri().path().to_owned();
    let correlation_id = CorrelationId::from_header(
        request
            .headers()
            .get(correlation::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    let span = tracing::info_span!("grpc_call", method = %method, correlation_id = %correlation_id);
    telemetry::set_parent_from_headers(&span, request.headers());
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();
    // Errors are trailers-only responses, so their status is in the headers; a unary success
    // carries grpc-status 0 in trailers, which a middleware cannot wait for.
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from);
    let code_label = format!("{code:?}");
    metrics::histogram!(format!("{prefix}_grpc_request_duration_seconds"), "method" => method.clone()).record(elapsed);
    metrics::counter!(format!("{prefix}_grpc_requests_total"), "method" => method, "code" => code_label).increment(1);
    span.in_scope(|| tracing::debug!(?code, elapsed_s = elapsed, "gRPC call finished"));
    response
}

/// A channel that connects on first use (so services may start in any order) and bounds every
/// call by `deadline`.
pub fn lazy_channel(url: &str, deadline: Duration) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(deadline.min(Duration::from_secs(2)))
        .timeout(deadline)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

/// An outgoing request carrying the deadline (`grpc-timeout`), correlation id and trace context.
pub fn request<T>(
    message: T,
    correlation_id: &CorrelationId,
    deadline: Duration,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    if let Ok(value) = correlation_id.as_str().parse() {
        request.metadata_mut().insert(correlation::HEADER, value);
    }
    telemetry::inject_trace_context(request.metadata_mut());
    request
}

/// Asks a service's `grpc.health.v1` whether `service` is serving, within `deadline`.
pub async fn check_health(
    channel: Channel,
    service: &str,
    deadline: Duration,
) -> Result<ServingStatus, tonic::Status> {
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    request.set_timeout(deadline);
    let response = tokio::time::timeout(deadline, client.check(request))
        .await
        .map_err(|_| {
            tonic::Status::deadline_exceeded(format!("health check of {service} timed out"))
        })??;
    Ok(match response.into_inner().status() {
        tonic_health::pb::health_check_response::ServingStatus::Serving => ServingStatus::Serving,
        _ => ServingStatus::NotServing,
    })
}
