//! Liveness, readiness and per-dependency health.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use http::StatusCode;
use serde::Serialize;
use tonic_health::ServingStatus;
use utoipa::ToSchema;

use crate::state::{AppState, Dependency};

/// The gateway's own state: `alive` (liveness) or `ready` (readiness).
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    #[schema(example = "alive")]
    status: &'static str,
}

/// Health of one dependency, as its gRPC health service reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyHealth {
    name: &'static str,
    /// `serving`, `not_serving` or `unreachable`.
    status: &'static str,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl DependencyHealth {
    fn serving(&self) -> bool {
        self.status == "serving"
    }
}

/// What anyone may learn of the gateway's health: the overall state, nothing about the
/// dependencies (their names, addresses and error texts are for admins: `/api/v1/admin/health`).
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthSummary {
    /// `ok` when every dependency serves, else `degraded`.
    #[schema(example = "ok")]
    status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok` when every dependency serves, else `degraded`; the routes that need a dependency
    /// that is down answer 503 meanwhile.
    status: &'static str,
    version: &'static str,
    uptime_s: f64,
    dependencies: Vec<DependencyHealth>,
}

pub async fn check(dependency: &Dependency, state: &AppState) -> DependencyHealth {
    let started = Instant::now();
    let result = aras_common::grpc::check_health(
        dependency.channel.clone(),
        dependency.grpc_service,
        state.health_timeout,
    )
    .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let (status, error) = match result {
        Ok(ServingStatus::Serving) => ("serving", None),
        Ok(_) => ("not_serving", None),
        Err(status) => ("unreachable", Some(status.message().to_owned())),
    };
    DependencyHealth {
        name: dependency.name,
        status,
        latency_ms,
        error,
    }
}

/// A dependency outside the gRPC services (Redis, the job store, the broker): "serving" or
/// "unreachable". None of them makes the gateway unready: without Redis answers are served
/// uncached, without Postgres or RabbitMQ only the async routes suffer.
async fn check_other<E: std::fmt::Display>(
    name: &'static str,
    state: &AppState,
    check: impl std::future::Future<Output = Result<(), E>>,
) -> DependencyHealth {
    let started = Instant::now();
    let result = tokio::time::timeout(state.health_timeout, check).await;
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some("timed out".to_owned()),
    };
    DependencyHealth {
        name,
        status: if error.is_none() {
            "serving"
        } else {
            "unreachable"
        },
        latency_ms: started.elapsed().as_secs_f64() * 1e3,
        error,
    }
}

async fn report(state: &AppState, names: Option<&[&str]>) -> (StatusCode, HealthReport) {
    let selected = state
        .dependencies
        .iter()
        .filter(|d| names.is_none_or(|n| n.contains(&d.name)));
    let mut dependencies = join_all(selected.map(|d| check(d, state))).await;
    let all_serving = dependencies.iter().all(DependencyHealth::serving);
    let mut status = if all_serving { "ok" } else { "degraded" };
    if names.is_none() {
        let others = futures_util::future::join3(
            check_other("redis", state, state.cache.ping()),
            check_other("postgres", state, state.jobs.check_store()),
            check_other("rabbitmq", state, state.jobs.check_broker()),
        )
        .await;
        for other in [others.0, others.1, others.2] {
            if !other.serving() {
                status = "degraded";
            }
            dependencies.push(other);
        }
    }
    let report = HealthReport {
        status,
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.started.elapsed().as_secs_f64(),
        dependencies,
    };
    (
        if all_serving {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        report,
    )
}

/// Liveness: the process answers. Never checks dependencies (a restart would not fix them).
#[utoipa::path(get, path = "/api/v1/health/live", tag = "health",
    responses((status = 200, description = "The gateway is alive", body = Liveness)))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "alive" })
}

/// Readiness: the gateway can serve. It does not depend on the backends: a route whose backend
/// is down answers 503 at once while the others serve, so one dead service must not take every
/// gateway out of its load balancer. The backends' state is in `/api/v1/health`.
#[utoipa::path(get, path = "/api/v1/health/ready", tag = "health",
    responses((status = 200, description = "Ready to serve traffic", body = Liveness)))]
pub async fn ready() -> Json<Liveness> {
    Json(Liveness { status: "ready" })
}

/// How long a public health summary is answered again before the dependencies are checked
/// anew: callers without credentials cannot make the gateway check them more often.
const PUBLIC_HEALTH_TTL: Duration = Duration::from_secs(1);

/// Public health: `ok` or `degraded`, nothing more (at most a second old). Always 200; read
/// `status`.
#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses((status = 200, description = "Overall health", body = HealthSummary)))]
pub async fn summary(State(state): State<AppState>) -> Json<HealthSummary> {
    // Held while checking: callers meanwhile wait for this check instead of starting theirs.
    let mut last = state.public_health.lock().await;
    let ok = match *last {
        Some((at, ok)) if at.elapsed() < PUBLIC_HEALTH_TTL => ok,
        _ => {
            let ok = report(&state, None).await.1.status == "ok";
            *last = Some((Instant::now(), ok));
            ok
        }
    };
    Json(HealthSummary {
        status: if ok { "ok" } else { "degraded" },
    })
}

/// Detailed health, for admins: every dependency's state, check latency and error. Always 200;
/// read `status`.
#[utoipa::path(get, path = "/api/v1/admin/health", tag = "admin",
    responses((status = 200, description = "Per-dependency health", body = HealthReport)))]
pub async fn detail(State(state): State<AppState>) -> Json<HealthReport> {
    Json(report(&state, None).await.1)
}

/// Health of the courier-ranking module alone, as a summary: 200 when the ranking service
/// serves, else 503.
pub async fn module(state: &AppState, name: &str) -> Response {
    let (code, report) = report(state, Some(&[name])).await;
    (
        code,
        Json(HealthSummary {
            status: report.status,
        }),
    )
        .into_response()
}
