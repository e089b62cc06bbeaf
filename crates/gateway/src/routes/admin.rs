//! `/api/v1/admin`: operations on the caller's own tenant, for its admins.

use std::collections::BTreeMap;

use aras_auth::Principal;
use aras_common::correlation::CorrelationId;
use aras_common::problem::Problem;
use aras_proto::recommender::v1::{
    CatalogStatsRequest, GetIndexingRunRequest, IndexingRun, StartIndexingRequest,
};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheInvalidated {
    #[schema(example = "demo")]
    tenant: String,
    /// The tenant's new cache generation: answers cached under earlier ones are not served.
    generation: u64,
}

/// Retires every cached recommendation of the caller's tenant (no other tenant's).
#[utoipa::path(post, path = "/api/v1/admin/cache/invalidate", tag = "admin",
    responses(
        (status = 200, description = "The tenant's cached answers are retired", body = CacheInvalidated),
        (status = 503, description = "Redis is unavailable: nothing is cached meanwhile, but entries written before may be served once it is back", body = Problem, content_type = "application/problem+json"),
        crate::schema::RateLimited,
    ))]
pub async fn invalidate_cache(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<CacheInvalidated>, ApiError> {
    let tenant = principal.tenant.as_str();
    let generation = state
        .cache
        .invalidate(tenant)
        .await
        .map_err(|_| ApiError::Rejected {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: "the cache (Redis) is unavailable; try again shortly".into(),
        })?;
    tracing::info!(tenant, generation, "cache invalidated");
    Ok(Json(CacheInvalidated {
        tenant: tenant.to_owned(),
        generation,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogStats {
    vehicles: u64,
    /// Vehicles whose vector is current.
    indexed: u64,
    /// `indexed / vehicles` (1 for an empty catalog).
    indexed_share: f64,
    catalog_version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheStats {
    hits: u64,
    misses: u64,
    /// `hits / (hits + misses)`; 0 before any lookup.
    hit_ratio: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantStats {
    #[schema(example = "demo")]
    tenant: String,
    catalog: CatalogStats,
    /// Recommendation cache lookups of this tenant on this gateway replica since it started.
    cache: CacheStats,
    /// The tenant's async jobs by state (PENDING, STARTED, RETRY, SUCCESS, FAILURE).
    #[schema(example = json!({"PENDING": 0, "STARTED": 0, "RETRY": 0, "SUCCESS": 12, "FAILURE": 1}))]
    jobs: BTreeMap<String, u64>,
}

/// The caller's tenant at a glance: catalog size and indexed share, cache hit ratio, jobs by
/// state.
#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "admin",
    responses(
        (status = 200, description = "The tenant's figures", body = TenantStats),
        (status = 503, description = "The recommender or the job store is unavailable", body = Problem, content_type = "application/problem+json"),
        crate::schema::BackendFailures,
    ))]
pub async fn stats(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<TenantStats>, ApiError> {
    let request = state.tenant_request(CatalogStatsRequest {}, &correlation_id, &principal.tenant);
    let mut recommender = state.recommender.clone();
    let (catalog, jobs) = tokio::join!(
        recommender.catalog_stats(request),
        state.jobs.count_by_state(&principal.tenant)
    );
    let catalog = catalog
        .map_err(|status| ApiError::upstream("recommender", status))?
        .into_inner();
    let mut by_state: BTreeMap<String, u64> = aras_jobs::JobState::ALL
        .iter()
        .map(|state| (state.as_str().to_owned(), 0))
        .collect();
    by_state.extend(
        jobs?
            .into_iter()
            .map(|(state, n)| (state.as_str().to_owned(), n)),
    );
    let lookups = state.cache.lookups(principal.tenant.as_str());
    let looked_up = lookups.hits + lookups.misses;
    Ok(Json(TenantStats {
        tenant: principal.tenant.to_string(),
        catalog: CatalogStats {
            vehicles: catalog.vehicles,
            indexed: catalog.indexed,
            indexed_share: if catalog.vehicles == 0 {
                1.0
            } else {
                catalog.indexed as f64 / catalog.vehicles as f64
            },
            catalog_version: catalog.catalog_version,
        },
        cache: CacheStats {
            hits: lookups.hits,
            misses: lookups.misses,
            hit_ratio: if looked_up == 0 {
                0.0
            } else {
                lookups.hits as f64 / looked_up as f64
            },
        },
        jobs: by_state,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReindexQuery {
    /// `true`: re-embed every vehicle of the tenant; `false`: only those changed since they
    /// were last indexed.
    #[param(default = true)]
    full: Option<bool>,
}

/// A re-indexing run of the caller's catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReindexRun {
    #[schema(example = "0b6f4c1e-3f7a-4d2b-9a51-2f0e8c7d6a10")]
    run_id: String,
    /// `STARTED` while it runs, then `SUCCESS` or `FAILURE`.
    #[schema(example = "STARTED")]
    status: String,
    full: bool,
    /// Vehicles indexed so far.
    indexed: u64,
    /// Vehicles the run has to index; `null` until it has counted them.
    total: Option<u64>,
    /// `indexed / total` in [0, 1]; `null` until the total is known.
    progress: Option<f64>,
    /// Why it failed (`FAILURE` only).
    error: Option<String>,
    /// RFC 3339.
    started_at: String,
    /// RFC 3339; `null` while it runs.
    finished_at: Option<String>,
}

impl From<IndexingRun> for ReindexRun {
    fn from(run: IndexingRun) -> Self {
        let progress = run.total.map(|total| {
            if total == 0 {
                1.0
            } else {
                run.indexed as f64 / total as f64
            }
        });
        Self {
            run_id: run.id,
            status: run.state,
            full: run.full,
            indexed: run.indexed,
            total: run.total,
            progress,
            error: (!run.error.is_empty()).then_some(run.error),
            started_at: run.started_at,
            finished_at: run.finished_at,
        }
    }
}

/// Re-indexes the caller's catalog in the background: embeds its vehicles again and writes
/// their vectors; the answer points at the run, to follow its progress.
#[utoipa::path(post, path = "/api/v1/admin/reindex", tag = "admin",
    params(ReindexQuery),
    responses(
        (status = 202, description = "The run started; follow it at `Location`", body = ReindexRun,
            headers(("Location" = String, description = "The run: `/api/v1/admin/reindex/{run_id}`"))),
        (status = 409, description = "The tenant already has a run in progress, or the recommender is busy indexing", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter is malformed", body = Problem, content_type = "application/problem+json"),
        crate::schema::BackendFailures,
    ))]
pub async fn reindex(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<ReindexQuery>,
) -> Result<Response, ApiError> {
    let request = state.tenant_request(
        StartIndexingRequest {
            full: query.full.unwrap_or(true),
        },
        &correlation_id,
        &principal.tenant,
    );
    let run: ReindexRun = state
        .recommender
        .clone()
        .start_indexing(request)
        .await
        .map_err(|status| ApiError::upstream("recommender", status))?
        .into_inner()
        .into();
    tracing::info!(tenant = %principal.tenant, run = %run.run_id, full = run.full, "re-indexing started");
    let location = format!("/api/v1/admin/reindex/{}", run.run_id);
    let mut response = (StatusCode::ACCEPTED, Json(run)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Where one of the caller's re-indexing runs stands.
#[utoipa::path(get, path = "/api/v1/admin/reindex/{run_id}", tag = "admin",
    params(("run_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The run id (a UUID)")),
    responses(
        (status = 200, description = "The run's state and progress", body = ReindexRun),
        (status = 404, description = "No such run in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The run id is not a UUID", body = Problem, content_type = "application/problem+json"),
        crate::schema::BackendFailures,
    ))]
pub async fn reindex_run(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    Path(run_id): Path<String>,
) -> Result<Json<ReindexRun>, ApiError> {
    let id = uuid::Uuid::parse_str(&run_id)
        .map_err(|_| ApiError::InvalidInput(format!("run id {run_id:?} is not a UUID")))?;
    let request = state.tenant_request(
        GetIndexingRunRequest { id: id.to_string() },
        &correlation_id,
        &principal.tenant,
    );
    let run = state
        .recommender
        .clone()
        .get_indexing_run(request)
        .await
        .map_err(|status| ApiError::upstream("recommender", status))?
        .into_inner();
    Ok(Json(run.into()))
}
