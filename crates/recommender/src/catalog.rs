//! The catalog's reads and writes (`GetVehicle`, `ListVehicles`, `CreateVehicle`,
//! `UpdateVehicle`, `ReplaceVehicle`, `DeleteVehicle`, `ListReviews`): the catalog and its
//! vectors kept in step. A write is indexed before it is answered.

use aras_catalog::reviews::{self, ReviewFilter};
use aras_catalog::{VehicleRecord, vehicles};
use aras_common::correlation::CorrelationId;
use aras_domain::recommend::ProductType;
use aras_domain::search::{Cursor, DEFAULT_LIMIT, MAX_LIMIT, SearchError, Sort, VehicleSearch};
use aras_domain::tenant::Tenant;
use aras_domain::vehicle::UnknownValue;
use aras_domain::vehicle::VehicleChange;
use aras_proto::embedding::v1::InputType;
use aras_proto::recommender::v1::{
    DeleteVehicleResponse, ListReviewsRequest, ListReviewsResponse, ListVehiclesRequest,
    ListVehiclesResponse, UpdateVehicleRequest, UpdateVehicleResponse, Vehicle,
    WriteVehicleRequest,
};

use crate::convert;
use crate::deps::Deps;
use crate::error::RecommenderError;

pub(crate) async fn get_vehicle(
    deps: &Deps,
    tenant: &Tenant,
    id: i64,
) -> Result<Vehicle, RecommenderError> {
    let (record, _) = vehicles::get(&deps.pool, tenant, id).await?;
    Ok(convert::vehicle_message(&record))
}

pub(crate) async fn update_vehicle(
    deps: &Deps,
    tenant: &Tenant,
    request: UpdateVehicleRequest,
    correlation_id: &CorrelationId,
) -> Result<UpdateVehicleResponse, RecommenderError> {
    let patch = VehicleChange {
        available: request.available,
        daily_price: request.daily_price,
        rating: request.rating,
        city: request.city,
    };
    let (record, _) = vehicles::update(&deps.pool, tenant, request.id, &patch).await?;
    indexed(deps, record, correlation_id).await
}

/// Adds a vehicle (`create`) or replaces one, then indexes it.
pub(crate) async fn write_vehicle(
    deps: &Deps,
    tenant: &Tenant,
    request: &WriteVehicleRequest,
    create: bool,
    correlation_id: &CorrelationId,
) -> Result<UpdateVehicleResponse, RecommenderError> {
    let vehicle = convert::vehicle_from_write(request)?;
    let (record, _) = if create {
        vehicles::create(&deps.pool, tenant, &vehicle).await?
    } else {
        vehicles::replace(&deps.pool, tenant, &vehicle).await?
    };
    indexed(deps, record, correlation_id).await
}

/// Indexes a written vehicle and answers it with the catalog version that includes its vector.
async fn indexed(
    deps: &Deps,
    record: VehicleRecord,
    correlation_id: &CorrelationId,
) -> Result<UpdateVehicleResponse, RecommenderError> {
    index_batch(deps, std::slice::from_ref(&record), correlation_id).await?;
    // Bumped again once the vector is written, so no answer computed from the old vector can
    // be cached under the new version.
    let version = deps.bump_catalog_version(&record.tenant).await?;
    Ok(UpdateVehicleResponse {
        vehicle: Some(convert::vehicle_message(&record)),
        catalog_version: version,
    })
}

/// Removes a vehicle, then its vector: a search between the two finds a candidate the catalog
/// no longer has, which re-scoring drops (it reads the catalog).
pub(crate) async fn delete_vehicle(
    deps: &Deps,
    tenant: &Tenant,
    id: i64,
) -> Result<DeleteVehicleResponse, RecommenderError> {
    let point_id = vehicles::delete(&deps.pool, tenant, id).await?;
    deps.store()?.delete(vec![point_id]).await?;
    let version = deps.bump_catalog_version(tenant).await?;
    Ok(DeleteVehicleResponse {
        catalog_version: version,
    })
}

pub(crate) async fn list_vehicles(
    deps: &Deps,
    tenant: &Tenant,
    request: ListVehiclesRequest,
) -> Result<ListVehiclesResponse, RecommenderError> {
    let invalid = |e: SearchError| RecommenderError::InvalidInput(e.0);
    let sort: Sort = match request.sort.as_str() {
        "" => Sort::default(),
        text => text.parse().map_err(invalid)?,
    };
    let search = VehicleSearch {
        text: Some(request.q).filter(|q| !q.trim().is_empty()),
        vehicle_type: match request.vehicle_type.as_str() {
            "" => None,
            text => Some(text.parse().map_err(|e: UnknownValue| {
                RecommenderError::InvalidInput(format!("vehicle_type: {e}"))
            })?),
        },
        price_min: request.price_min,
        price_max: request.price_max,
        city: Some(request.city).filter(|c| !c.is_empty()),
        available: request.available,
        rating_min: request.rating_min,
        sort,
        limit: if request.limit == 0 {
            DEFAULT_LIMIT
        } else {
            request.limit
        },
        after: match request.cursor.as_str() {
            "" => None,
            text => Some(Cursor::decode(text, sort).map_err(invalid)?),
        },
    };
    let (records, next) = vehicles::search(&deps.pool, tenant, &search).await?;
    Ok(ListVehiclesResponse {
        vehicles: records.iter().map(convert::vehicle_message).collect(),
        next_cursor: next.map(|c| c.encode()).unwrap_or_default(),
    })
}

pub(crate) async fn list_reviews(
    deps: &Deps,
    tenant: &Tenant,
    request: ListReviewsRequest,
) -> Result<ListReviewsResponse, RecommenderError> {
    let limit = if request.limit == 0 {
        DEFAULT_LIMIT
    } else {
        request.limit
    };
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(RecommenderError::InvalidInput(format!(
            "limit must be within [1, {MAX_LIMIT}], got {limit}"
        )));
    }
    let before = match request.cursor.as_str() {
        "" => None,
        text => Some(text.parse::<i64>().map_err(|_| {
            RecommenderError::InvalidInput("cursor is not one this API handed out".into())
        })?),
    };
    let filter = ReviewFilter {
        product_id: request.product_id,
        client_id: request.client_id,
        limit,
        before,
    };
    let (page, next) = reviews::list(&deps.pool, tenant, filter).await?;
    Ok(ListReviewsResponse {
        reviews: page.iter().map(convert::review_message).collect(),
        next_cursor: next.map(|id| id.to_string()).unwrap_or_default(),
    })
}

/// Embeds and upserts `records`, then records them as indexed.
async fn index_batch(
    deps: &Deps,
    records: &[VehicleRecord],
    correlation_id: &CorrelationId,
) -> Result<(), RecommenderError> {
    let vectors = embed_batch(deps, records, correlation_id).await?;
    store_batch(deps, records, vectors).await
}

/// The vectors of `records`' descriptions, in order.
pub(crate) async fn embed_batch(
    deps: &Deps,
    records: &[VehicleRecord],
    correlation_id: &CorrelationId,
) -> Result<Vec<Vec<f32>>, RecommenderError> {
    let texts = records.iter().map(|r| r.vehicle.description_fr()).collect();
    let vectors = deps
        .embed(texts, InputType::Passage, correlation_id, None)
        .await?;
    if vectors.len() != records.len() {
        return Err(RecommenderError::Internal(format!(
            "{} vectors for {} texts",
            vectors.len(),
            records.len()
        )));
    }
    Ok(vectors)
}

/// Upserts the vectors of `records`, then records them as indexed.
pub(crate) async fn store_batch(
    deps: &Deps,
    records: &[VehicleRecord],
    vectors: Vec<Vec<f32>>,
) -> Result<(), RecommenderError> {
    let product_type = ProductType::Vehicle.as_str();
    let points = records
        .iter()
        .zip(vectors)
        .map(|(r, v)| convert::point(r, product_type, v))
        .collect();
    deps.store()?.upsert(points).await?;
    vehicles::mark_indexed(&deps.pool, records).await?;
    Ok(())
}
