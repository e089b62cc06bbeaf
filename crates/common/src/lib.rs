//! What every ARAS service shares, so each service crate holds only its own logic.
//!
//! Layout:
//! - [`telemetry`]: JSON logs, OTLP traces when configured, trace-context propagation.
//! - [`shutdown`]: the one shutdown signal (SIGTERM or Ctrl-C).
//! - [`metrics`]: the process-wide Prometheus recorder and its `/metrics` route.
//! - [`correlation`]: the `x-correlation-id` carried from the gateway through every service.
//! - [`grpc`]: gRPC server bootstrap (health, reflection, `/metrics`, per-call span and metrics)
//!   and the outgoing-request helper (deadline, correlation id, trace context).
//! - [`replicas`]: client-side balancing over every replica of a backend, dead ones ejected.
//! - [`redis`]: the Redis client settings shared by the cache and the catalog-version publisher.
//! - [`tenant`]: the tenant of a gRPC call, in its metadata.
//! - [`problem`]: RFC 9457 `application/problem+json` responses and the gRPC → HTTP status map.
//! - [`time`]: how instants appear in answers (RFC 3339, milliseconds).

pub mod correlation;
pub mod grpc;
pub mod metrics;
pub mod problem;
pub mod redis;
pub mod replicas;
pub mod shutdown;
pub mod telemetry;
pub mod tenant;
pub mod time;
