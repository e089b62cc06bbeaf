//! `/api/v1/admin`: operations on the caller's own tenant, for its admins.

use std::collections::BTreeMap;

use aras_auth::Principal;
use aras_common::correlation::CorrelationId;
use aras_common::problem::Problem;
use aras_proto::recommender::v1::CatalogStatsRequest;
use axum::extract::State;
use axum::{Extension, Json};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
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
