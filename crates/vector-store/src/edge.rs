//! The embedded backend: Qdrant's engine in-process (`qdrant-edge`), one shard in a directory.
//!
//! `qdrant-edge` is synchronous and `Send + Sync`: every call runs on the blocking pool. It has no
//! background indexing, so [`VectorStore::optimize`] builds the HNSW index after bulk writes, and
//! no recommend query, so the query vector is computed as Qdrant's `average_vector` strategy does
//! ([`aras_domain::recommend::average_vector`]). Only one process may open a directory: the
//! recommender owns it, and indexing goes through the recommender.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use qdrant_edge::{
    Condition, CreateIndex, DEFAULT_VECTOR_NAME, Distance, EdgeConfigBuilder, EdgeShard,
    EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, HasIdCondition,
    HnswIndexConfig, JsonPath, NamedQuery, OperationError, PayloadFieldSchema, PayloadSchemaType,
    PointId, PointInsertOperations, PointOperations, PointStruct, QueryEnum, SearchParams,
    SearchRequest, UpdateOperation, VectorInternal, VectorStructInternal, WithVector,
};

use crate::{
    Example, FieldKind, HNSW_EF, Hit, INDEXED_FIELDS, RecommendQuery, StoreError, StoreResult,
    VectorStore, VehiclePoint, check_query,
};

#[derive(Debug, Clone)]
pub struct EdgeStore {
    shard: Arc<EdgeShard>,
    dimension: usize,
    dir: PathBuf,
    hnsw_ef: usize,
}

impl EdgeStore {
    /// Opens the store in `dir`, creating it for `dimension`-sized vectors if empty. Fails if it
    /// holds vectors of another size.
    pub async fn open(dir: &Path, dimension: usize) -> StoreResult<Self> {
        let dir = dir.to_path_buf();
        blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
            let existing = std::fs::read_dir(&dir)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
                .next()
                .is_some();
            let shard = if existing {
                EdgeShard::load(&dir, None).map_err(internal)?
            } else {
                let vector = EdgeVectorParams::builder(dimension, Distance::Cosine).build();
                EdgeShard::new(
                    &dir,
                    EdgeConfigBuilder::new()
                        .vector(DEFAULT_VECTOR_NAME, vector)
                        .hnsw_config(hnsw())
                        .build(),
                )
                .map_err(internal)?
            };
            let stored = shard
                .config()
                .vectors
                .get(DEFAULT_VECTOR_NAME)
                .map(|v| v.size);
            if stored != Some(dimension) {
                return Err(StoreError::InvalidInput(format!(
                    "{} holds vectors of size {stored:?}, the embedding model gives {dimension}; \
                     delete the directory and re-index",
                    dir.display()
                )));
            }
            for (field, kind) in INDEXED_FIELDS {
                let schema = match kind {
                    FieldKind::Keyword => PayloadSchemaType::Keyword,
                    FieldKind::Float => PayloadSchemaType::Float,
                    FieldKind::Bool => PayloadSchemaType::Bool,
                };
                let index = CreateIndex {
                    field_name: JsonPath::try_from(field)
                        .expect("payload field names are valid paths"),
                    field_schema: Some(PayloadFieldSchema::FieldType(schema)),
                };
                shard
                    .update(UpdateOperation::FieldIndexOperation(
                        FieldIndexOperations::CreateIndex(index),
                    ))
                    .map_err(internal)?;
            }
            Ok(Self {
                shard: Arc::new(shard),
                dimension,
                dir,
                hnsw_ef: HNSW_EF,
            })
        })
        .await
    }

    /// Sets the beam width of HNSW searches (default [`HNSW_EF`]): recall against latency.
    #[must_use]
    pub fn with_hnsw_ef(mut self, hnsw_ef: usize) -> Self {
        self.hnsw_ef = hnsw_ef;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_dimension(&self, vector: &[f32]) -> StoreResult<()> {
        if vector.len() == self.dimension {
            Ok(())
        } else {
            Err(StoreError::InvalidInput(format!(
                "vector of size {}, the store holds {}",
                vector.len(),
                self.dimension
            )))
        }
    }

    fn stored_vector(shard: &EdgeShard, id: i64) -> StoreResult<Option<Vec<f32>>> {
        let records = shard
            .retrieve(
                &[point_id(id)],
                Some(false.into()),
                Some(WithVector::Bool(true)),
            )
            .map_err(internal)?;
        Ok(records
            .into_iter()
            .next()
            .and_then(|record| match record.vector {
                Some(VectorStructInternal::Single(vector)) => Some(vector),
                Some(VectorStructInternal::Named(mut named)) => {
                    match named.remove(DEFAULT_VECTOR_NAME) {
                        Some(VectorInternal::Dense(vector)) => Some(vector),
                        _ => None,
                    }
                }
                _ => None,
            }))
    }
}

fn as_slices(vectors: &[Vec<f32>]) -> Vec<&[f32]> {
    vectors.iter().map(Vec::as_slice).collect()
}

fn hnsw() -> HnswIndexConfig {
    HnswIndexConfig {
        m: 16,
        ef_construct: 128,
        full_scan_threshold: 10_000,
        max_indexing_threads: 0,
        on_disk: None,
        payload_m: None,
        inline_storage: None,
    }
}

impl VectorStore for EdgeStore {
    fn ensure_collection(&self, dimension: usize) -> BoxFuture<'_, StoreResult<()>> {
        let result = if dimension == self.dimension {
            Ok(())
        } else {
            Err(StoreError::InvalidInput(format!(
                "the store holds vectors of size {}, not {dimension}",
                self.dimension
            )))
        };
        futures_util::future::ready(result).boxed()
    }

    fn upsert(&self, points: Vec<VehiclePoint>) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            for point in &points {
                self.check_dimension(&point.vector)?;
            }
            let shard = Arc::clone(&self.shard);
            blocking(move || {
                let points = points
                    .into_iter()
                    .map(|p| {
                        PointStruct::new(point_id(p.id), normalized(p.vector), p.payload.to_json())
                            .into()
                    })
                    .collect::<Vec<_>>();
                let operation =
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(points));
                shard
                    .update(UpdateOperation::PointOperation(operation))
                    .map_err(internal)
            })
            .await
        }
        .boxed()
    }

    fn delete(&self, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        let shard = Arc::clone(&self.shard);
        blocking(move || {
            let ids = ids.into_iter().map(point_id).collect();
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePoints { ids },
                ))
                .map_err(internal)
        })
        .boxed()
    }

    fn vector(&self, id: i64) -> BoxFuture<'_, StoreResult<Option<Vec<f32>>>> {
        let shard = Arc::clone(&self.shard);
        blocking(move || Self::stored_vector(&shard, id)).boxed()
    }

    fn recommend(&self, query: RecommendQuery) -> BoxFuture<'_, StoreResult<Vec<Hit>>> {
        async move {
            check_query(&query)?;
            let shard = Arc::clone(&self.shard);
            let (dimension, hnsw_ef) = (self.dimension, self.hnsw_ef);
            blocking(move || {
                let resolve = |examples: &[Example]| -> StoreResult<Vec<Vec<f32>>> {
                    examples
                        .iter()
                        .map(|example| match example {
                            Example::Vehicle(id) => {
                                Self::stored_vector(&shard, *id)?.ok_or(StoreError::NotIndexed(*id))
                            }
                            Example::Vector(vector) if vector.len() == dimension => {
                                Ok(vector.clone())
                            }
                            Example::Vector(vector) => Err(StoreError::InvalidInput(format!(
                                "example of size {}, the store holds {dimension}",
                                vector.len()
                            ))),
                        })
                        .collect()
                };
                let positive = resolve(&query.positive)?;
                let negative = resolve(&query.negative)?;
                let vector = aras_domain::recommend::average_vector(
                    &as_slices(&positive),
                    &as_slices(&negative),
                )
                .ok_or_else(|| StoreError::InvalidInput("examples of different sizes".into()))?;
                let filter = Filter {
                    must: Some(
                        [
                            ("tenant", &query.tenant),
                            ("product_type", &query.product_type),
                        ]
                        .map(|(field, value)| {
                            Condition::Field(FieldCondition::new_match(
                                JsonPath::try_from(field).expect("valid path"),
                                value.clone().into(),
                            ))
                        })
                        .into(),
                    ),
                    must_not: (!query.exclude.is_empty()).then(|| {
                        vec![Condition::HasId(
                            query
                                .exclude
                                .iter()
                                .map(|&id| point_id(id))
                                .collect::<HasIdCondition>(),
                        )]
                    }),
                    ..Filter::default()
                };
                let request = SearchRequest {
                    query: QueryEnum::Nearest(NamedQuery::default_dense(normalized(vector))),
                    filter: Some(filter),
                    params: Some(SearchParams {
                        hnsw_ef: Some(hnsw_ef.max(query.limit)),
                        ..SearchParams::default()
                    }),
                    limit: query.limit,
                    offset: 0,
                    with_payload: None,
                    with_vector: None,
                    score_threshold: None,
                };
                let points = shard.search(request).map_err(internal)?;
                points
                    .into_iter()
                    .map(|point| {
                        Ok(Hit {
                            id: vehicle_id(point.id)?,
                            score: point.score,
                        })
                    })
                    .collect()
            })
            .await
        }
        .boxed()
    }

    fn count(&self) -> BoxFuture<'_, StoreResult<u64>> {
        let shard = Arc::clone(&self.shard);
        blocking(move || Ok(shard.info().points_count as u64)).boxed()
    }

    fn optimize(&self) -> BoxFuture<'_, StoreResult<()>> {
        let shard = Arc::clone(&self.shard);
        blocking(move || shard.optimize().map(|_| ()).map_err(internal)).boxed()
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
}

fn point_id(id: i64) -> PointId {
    // Vehicle ids are positive (the catalog's primary key checks it upstream).
    PointId::NumId(id.unsigned_abs())
}

fn vehicle_id(id: PointId) -> StoreResult<i64> {
    match id {
        PointId::NumId(n) => {
            i64::try_from(n).map_err(|_| StoreError::Internal(format!("point id {n} out of range")))
        }
        PointId::Uuid(uuid) => Err(StoreError::Internal(format!("unexpected point id {uuid}"))),
    }
}

/// Unit length, so cosine scores are comparable whatever the caller sends.
pub(crate) fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    aras_domain::vector::l2_normalize(&mut vector);
    vector
}

#[expect(clippy::needless_pass_by_value, reason = "the shape `map_err` takes")]
fn internal(error: OperationError) -> StoreError {
    StoreError::Internal(error.to_string())
}
