//! The process-wide Prometheus recorder. Installed once per process, so several services started
//! in one process (tests, the dev runner) share it.

use std::sync::OnceLock;

use axum::{Router, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from 100 µs (ranking math) to 10 s (a slow model batch).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
    2.5, 5.0, 10.0,
];

/// The recorder's handle, installing the recorder on first use.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("the latency bucket list is not empty")
                .install_recorder()
                .expect("the first call installs the only global metrics recorder")
        })
        .clone()
}

/// `GET /metrics` in the Prometheus text format, mergeable into any router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let handle = handle();
    Router::new().route("/metrics", get(move || std::future::ready(handle.render())))
}
