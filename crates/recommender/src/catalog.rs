//! The catalog's reads and writes (`GetVehicle`, `ListVehicles`, `CreateVehicle`,
//! `UpdateVehicle`, `ReplaceVehicle`, `DeleteVehicle`, `ListReviews`) and `IndexCatalog`: the
//! catalog and its vectors kept in step. A write is indexed before it is answered.

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
    DeleteVehicleResponse, IndexProgress, ListReviewsRequest, ListReviewsResponse,
    ListVehiclesRequest, ListVehiclesResponse, UpdateVehicleRequest, UpdateVehicleResponse,
    Vehicle, WriteVehicleRequest,
};
use tokio::sync::mpsc;

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
    let version = vehicles::bump_version(&deps.pool).await?;
    deps.publish_catalog_version(version);
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
    vehicles::delete(&deps.pool, tenant, id).await?;
    deps.store()?.delete(vec![id]).await?;
    let version = vehicles::bump_version(&deps.pool).await?;
    deps.publish_catalog_version(version);
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
async fn embed_batch(
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
async fn store_batch(
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

/// Indexes every vehicle waiting for it (all with `full`), reporting progress on `progress`
/// after each batch. Stops early, resumably, when the receiver is gone.
pub(crate) async fn index_catalog(
    deps: &Deps,
    full: bool,
    progress: &mpsc::Sender<Result<IndexProgress, tonic::Status>>,
    correlation_id: &CorrelationId,
) -> Result<(), RecommenderError> {
    let Ok(_one_run) = deps.indexing.try_lock() else {
        return Err(RecommenderError::Unavailable(
            "an indexing run is already in progress".into(),
        ));
    };
    if full {
        vehicles::mark_all_for_indexing(&deps.pool).await?;
    }
    let total = vehicles::count_to_index(&deps.pool).await?;
    let store = deps.store()?;
    let batch_size = i64::try_from(deps.config.index_batch_size.max(1)).unwrap_or(64);
    let (mut indexed, mut after) = (0_u64, 0_i64);
    let mut embedded: Option<(Vec<VehicleRecord>, Vec<Vec<f32>>)> = None;
    tracing::info!(total, full, "indexing the catalog");
    loop {
        let batch = vehicles::next_to_index(&deps.pool, after, batch_size).await?;
        // Batch N is embedded while batch N-1 is written: the model does not wait on the store.
        let (vectors, written) = tokio::join!(
            async {
                if batch.is_empty() {
                    Ok(None)
                } else {
                    embed_batch(deps, &batch, correlation_id).await.map(Some)
                }
            },
            async {
                match embedded.take() {
                    Some((records, vectors)) => store_batch(deps, &records, vectors)
                        .await
                        .map(|()| records.len()),
                    None => Ok(0),
                }
            },
        );
        let written = written?;
        if written > 0 {
            indexed += written as u64;
            metrics::counter!("recommender_indexed_vehicles_total").increment(written as u64);
            let step = IndexProgress {
                indexed,
                total,
                stored: store.count().await?,
            };
            if progress.send(Ok(step)).await.is_err() {
                tracing::info!(
                    indexed,
                    total,
                    "indexing stopped: the caller left (run it again to resume)"
                );
                return Ok(());
            }
        }
        match vectors? {
            Some(vectors) => {
                after = batch.last().map_or(after, |last| last.vehicle.id);
                embedded = Some((batch, vectors));
            }
            None => break,
        }
    }
    // Bulk writes leave vectors in plain segments; build the search index once at the end.
    store.optimize().await?;
    let version = vehicles::bump_version(&deps.pool).await?;
    deps.publish_catalog_version(version);
    tracing::info!(indexed, version, "catalog indexed");
    let _ = progress
        .send(Ok(IndexProgress {
            indexed,
            total,
            stored: store.count().await?,
        }))
        .await;
    Ok(())
}
