//! A Qdrant server through `qdrant-client` (gRPC), for production: selected by `ARAS_QDRANT_URL`.
//! Qdrant answers the recommend query natively with its `average_vector` strategy.

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vector_output::Vector as VectorOutput;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder, PointId, PointStruct,
    PointsIdsList, Query, QueryPointsBuilder, RecommendInputBuilder, RecommendStrategy,
    SearchParamsBuilder, UpsertPointsBuilder, VectorInput, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};

use crate::{
    Example, FieldKind, HNSW_EF, Hit, INDEXED_FIELDS, RecommendQuery, StoreError, StoreResult,
    VectorStore, VehiclePoint, check_query,
};

#[derive(Clone)]
pub struct ServerStore {
    client: Qdrant,
    collection: String,
}

impl std::fmt::Debug for ServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStore")
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

impl ServerStore {
    /// A client of the Qdrant server at `url` (its gRPC port, e.g. http://qdrant:6334), on
    /// `collection` ([`crate::COLLECTION`] in production; tests use their own).
    pub fn connect(url: &str, collection: &str) -> StoreResult<Self> {
        let client = Qdrant::from_url(url)
            .skip_compatibility_check()
            .build()
            .map_err(unavailable)?;
        Ok(Self {
            client,
            collection: collection.to_owned(),
        })
    }

    /// Drops the collection (tests clean up with it).
    pub async fn delete_collection(&self) -> StoreResult<()> {
        self.client
            .delete_collection(&self.collection)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

impl VectorStore for ServerStore {
    fn ensure_collection(&self, dimension: usize) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            if self
                .client
                .collection_exists(&self.collection)
                .await
                .map_err(unavailable)?
            {
                let info = self
                    .client
                    .collection_info(&self.collection)
                    .await
                    .map_err(unavailable)?;
                let size = info
                    .result
                    .and_then(|i| i.config)
                    .and_then(|c| c.params)
                    .and_then(|p| p.vectors_config)
                    .and_then(|v| v.config)
                    .and_then(|kind| match kind {
                        VectorsConfigKind::Params(params) => Some(params.size),
                        VectorsConfigKind::ParamsMap(_) => None,
                    });
                return if size == Some(dimension as u64) {
                    Ok(())
                } else {
                    Err(StoreError::InvalidInput(format!(
                        "collection {} holds vectors of size {size:?}, not {dimension}",
                        self.collection
                    )))
                };
            }
            self.client
                .create_collection(
                    CreateCollectionBuilder::new(&self.collection).vectors_config(
                        VectorParamsBuilder::new(dimension as u64, Distance::Cosine),
                    ),
                )
                .await
                .map_err(unavailable)?;
            for (field, kind) in INDEXED_FIELDS {
                let field_type = match kind {
                    FieldKind::Keyword => FieldType::Keyword,
                    FieldKind::Float => FieldType::Float,
                    FieldKind::Bool => FieldType::Bool,
                };
                self.client
                    .create_field_index(
                        CreateFieldIndexCollectionBuilder::new(&self.collection, field, field_type)
                            .wait(true),
                    )
                    .await
                    .map_err(unavailable)?;
            }
            Ok(())
        }
        .boxed()
    }

    fn upsert(&self, points: Vec<VehiclePoint>) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let points = points
                .into_iter()
                .map(|p| {
                    let payload = Payload::try_from(p.payload.to_json())
                        .map_err(|e| StoreError::Internal(e.to_string()))?;
                    Ok(PointStruct::new(point_id(p.id), p.vector, payload))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true))
                .await
                .map(|_| ())
                .map_err(unavailable)
        }
        .boxed()
    }

    fn delete(&self, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let points = PointsIdsList {
                ids: ids.into_iter().map(point_id).collect(),
            };
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(points)
                        .wait(true),
                )
                .await
                .map(|_| ())
                .map_err(unavailable)
        }
        .boxed()
    }

    fn vector(&self, id: i64) -> BoxFuture<'_, StoreResult<Option<Vec<f32>>>> {
        async move {
            let response = self
                .client
                .get_points(
                    GetPointsBuilder::new(&self.collection, vec![point_id(id)]).with_vectors(true),
                )
                .await
                .map_err(unavailable)?;
            let vector = response
                .result
                .into_iter()
                .next()
                .and_then(|p| p.vectors)
                .and_then(|v| v.get_vector());
            match vector {
                None => Ok(None),
                Some(VectorOutput::Dense(dense)) => Ok(Some(dense.data)),
                Some(_) => Err(StoreError::Internal(format!(
                    "vehicle {id} has a non-dense vector"
                ))),
            }
        }
        .boxed()
    }

    fn recommend(&self, query: RecommendQuery) -> BoxFuture<'_, StoreResult<Vec<Hit>>> {
        async move {
            check_query(&query)?;
            let input = |examples: Vec<Example>| -> Vec<VectorInput> {
                examples
                    .into_iter()
                    .map(|example| match example {
                        Example::Vehicle(id) => VectorInput::new_id(point_id(id)),
                        Example::Vector(vector) => VectorInput::new_dense(vector),
                    })
                    .collect()
            };
            let recommend = RecommendInputBuilder::default()
                .positive(input(query.positive))
                .negative(input(query.negative))
                .strategy(RecommendStrategy::AverageVector);
            let mut filter = Filter::must([
                Condition::matches("tenant", query.tenant),
                Condition::matches("product_type", query.product_type),
            ]);
            if !query.exclude.is_empty() {
                filter.must_not = vec![Condition::has_id(
                    query.exclude.iter().map(|&id| point_id(id)),
                )];
            }
            let request = QueryPointsBuilder::new(&self.collection)
                .query(Query::new_recommend(recommend))
                .filter(filter)
                .params(SearchParamsBuilder::default().hnsw_ef(HNSW_EF.max(query.limit) as u64))
                .limit(query.limit as u64);
            let response = self
                .client
                .query(request)
                .await
                .map_err(|error| match error {
                    QdrantError::ResponseError { status }
                        if status.code() == tonic::Code::InvalidArgument =>
                    {
                        StoreError::InvalidInput(status.message().to_owned())
                    }
                    other => unavailable(other),
                })?;
            response
                .result
                .into_iter()
                .map(|point| {
                    Ok(Hit {
                        id: vehicle_id(point.id)?,
                        score: point.score,
                    })
                })
                .collect()
        }
        .boxed()
    }

    fn count(&self) -> BoxFuture<'_, StoreResult<u64>> {
        async move {
            let response = self
                .client
                .count(CountPointsBuilder::new(&self.collection).exact(true))
                .await
                .map_err(unavailable)?;
            Ok(response.result.map_or(0, |r| r.count))
        }
        .boxed()
    }

    fn optimize(&self) -> BoxFuture<'_, StoreResult<()>> {
        // The server builds its indexes in the background.
        futures_util::future::ready(Ok(())).boxed()
    }
}

fn point_id(id: i64) -> PointId {
    PointId::from(id.unsigned_abs())
}

fn vehicle_id(id: Option<PointId>) -> StoreResult<i64> {
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Num(n)) => {
            i64::try_from(n).map_err(|_| StoreError::Internal(format!("point id {n} out of range")))
        }
        other => Err(StoreError::Internal(format!(
            "unexpected point id {other:?}"
        ))),
    }
}

#[expect(clippy::needless_pass_by_value, reason = "the shape `map_err` takes")]
fn unavailable(error: QdrantError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}
