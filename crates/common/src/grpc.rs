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
use tonic::transport::Channel;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;
use tracing::Instrument as _;

use crate::correlation::{self, CorrelationId};
use crate::telemetry;

/// The health reporter and the routes every service starts from: `grpc.health.v1` and
/// reflection (`grpc.reflection.v1` and `v1alpha`, for clients of either) listing exactly
/// `services`, health and reflection — what this server answers, not every ARAS service.
/// Services add their own with `add_service` and report SERVING only once they are really ready.
pub fn base_routes(services: &[&str]) -> (HealthReporter, RoutesBuilder) {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let configure = || {
        services
            .iter()
            .copied()
            .chain([HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA])
            .fold(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(aras_proto::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                    )
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                    )
                    .include_reflection_service(false),
                tonic_reflection::server::Builder::with_service_name,
            )
    };
    let reflection_v1 = configure()
        .build_v1()
        .expect("the compiled descriptor sets are valid");
    let reflection_v1alpha = configure()
        .build_v1alpha()
        .expect("the compiled descriptor sets are valid");
    let mut routes = RoutesBuilder::default();
    routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    (reporter, routes)
}

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

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
    // A path no service answers is a caller's choice: one label for all of them keeps the
    // metric's series bounded whatever is sent.
    let method = if code == tonic::Code::Unimplemented {
        "unknown".to_owned()
    } else {
        method
    };
    metrics::histogram!(format!("{prefix}_grpc_request_duration_seconds"), "method" => method.clone()).record(elapsed);
    metrics::counter!(format!("{prefix}_grpc_requests_total"), "method" => method, "code" => code_label).increment(1);
    span.in_scope(|| tracing::debug!(?code, elapsed_s = elapsed, "gRPC call finished"));
    response
}

/// A channel to one address that connects on first use and bounds every call by `deadline`
/// (one-off clients such as the CLI; services use [`crate::replicas`]).
pub fn lazy_channel(url: &str, deadline: Duration) -> Result<Channel, tonic::transport::Error> {
    Ok(crate::replicas::endpoint(url, deadline)?.connect_lazy())
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

/// When the caller stops waiting, from the request's `grpc-timeout` (read as the request
/// arrives): calls made on its behalf must fit in what is left. `None` when it set no deadline.
pub fn incoming_deadline<T>(request: &tonic::Request<T>) -> Option<Instant> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    parse_grpc_timeout(value).map(|timeout| Instant::now() + timeout)
}

/// `grpc-timeout`: at most 8 digits and a unit (gRPC over HTTP/2, "Timeout").
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// Kept from what is left of a caller's deadline for the answer (an error naming what timed
/// out) to reach it before it gives up: a twentieth, between 20 and 250 ms.
fn answer_margin(left: Duration) -> Duration {
    (left / 20).clamp(Duration::from_millis(20), Duration::from_millis(250))
}

/// The timeout of a call made for a caller whose deadline is `deadline`: what is left of it
/// (less a margin to answer in), never more than `cap`; `None` once nothing is left, so the
/// call is not made at all.
pub fn budget(deadline: Option<Instant>, cap: Duration) -> Option<Duration> {
    let Some(deadline) = deadline else {
        return Some(cap);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let left = left.saturating_sub(answer_margin(left));
    (!left.is_zero()).then(|| left.min(cap))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit_and_nothing_else() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_hours(2)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_mins(3)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_grpc_timeout("4999m"),
            Some(Duration::from_millis(4999))
        );
        assert_eq!(parse_grpc_timeout("12u"), Some(Duration::from_micros(12)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "123456789S", "5s", "-5S", "5", "1.5S", "5 S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_budget_is_what_is_left_of_the_deadline_never_more_than_the_cap() {
        let cap = Duration::from_secs(5);
        assert_eq!(budget(None, cap), Some(cap));
        let far = Instant::now() + Duration::from_mins(1);
        assert_eq!(budget(Some(far), cap), Some(cap));
        let near = Instant::now() + Duration::from_millis(500);
        let left = budget(Some(near), cap).unwrap();
        assert!(
            left <= Duration::from_millis(480) && left > Duration::from_millis(400),
            "{left:?}"
        );
        let later = Instant::now() + Duration::from_secs(4);
        let left = budget(Some(later), cap).unwrap();
        assert!(
            left <= Duration::from_millis(3800) && left > Duration::from_millis(3700),
            "{left:?}"
        );
        assert_eq!(budget(Some(Instant::now()), cap), None);
        assert_eq!(
            budget(Some(Instant::now() + Duration::from_millis(10)), cap),
            None
        );
    }
}
