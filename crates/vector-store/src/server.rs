//! A Qdrant server or cluster through `qdrant-client` (gRPC), for production: selected by
//! `ARAS_QDRANT_URL`. Qdrant answers the recommend query natively with its `average_vector`
//! strategy.
//!
//! Several node URLs may be given: each call goes to the next node in turn and, when a node
//! fails at the transport level (down, unreachable, too slow), to the following ones, so the
//! store keeps serving while any node does. A failed node is skipped for [`NODE_COOLDOWN`], then
//! tried again. Every call is safe to repeat: writes are upserts and deletes by id.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vector_output::Vector as VectorOutput;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    CollectionParams, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
    GetPointsBuilder, PayloadSchemaInfo, PayloadSchemaType, PointId, PointStruct, PointsIdsList,
    Query, QueryPointsBuilder, RecommendInputBuilder, RecommendStrategy, SearchParamsBuilder,
    UpsertPointsBuilder, VectorInput, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use tonic::Code;

use crate::{
    Example, FieldKind, HNSW_EF, Hit, INDEXED_FIELDS, RecommendQuery, StoreError, StoreResult,
    VectorStore, VehiclePoint, check_query,
};

/// How long a node that failed is passed over before it is tried again.
pub const NODE_COOLDOWN: Duration = Duration::from_secs(1);

/// How the collection is spread over a cluster: applied when ARAS creates the collection,
/// checked when it exists (Qdrant cannot change the shard count of a collection in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionLayout {
    /// Shards the points are split into (one per node spreads the index and the searches).
    pub shards: u32,
    /// Copies of each shard on different nodes (2 survives the loss of one node).
    pub replication_factor: u32,
    /// Copies that must confirm a write before it succeeds (at most the replication factor).
    pub write_consistency: u32,
}

impl Default for CollectionLayout {
    /// One node: one shard, one copy.
    fn default() -> Self {
        Self {
            shards: 1,
            replication_factor: 1,
            write_consistency: 1,
        }
    }
}

impl CollectionLayout {
    fn check(self) -> StoreResult<Self> {
        if self.shards == 0 || self.replication_factor == 0 || self.write_consistency == 0 {
            return Err(StoreError::InvalidInput(format!(
                "shards, replication factor and write consistency must be at least 1: {self:?}"
            )));
        }
        if self.write_consistency > self.replication_factor {
            return Err(StoreError::InvalidInput(format!(
                "write consistency {} exceeds the replication factor {}: no write could succeed",
                self.write_consistency, self.replication_factor
            )));
        }
        Ok(self)
    }
}

/// One Qdrant node and when it may be tried again after a failure.
struct Node {
    url: String,
    client: Qdrant,
    passed_over_until: Mutex<Option<Instant>>,
}

impl Node {
    fn is_passed_over(&self, now: Instant) -> bool {
        self.passed_over_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|until| now < until)
    }

    fn set_passed_over_until(&self, until: Option<Instant>) {
        *self
            .passed_over_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }
}

#[derive(Clone)]
pub struct ServerStore {
    nodes: Arc<[Node]>,
    next_node: Arc<AtomicUsize>,
    collection: String,
    layout: CollectionLayout,
    hnsw_ef: usize,
}

impl std::fmt::Debug for ServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.nodes.iter().map(|node| node.url.as_str()).collect();
        f.debug_struct("ServerStore")
            .field("nodes", &urls)
            .field("collection", &self.collection)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl ServerStore {
    /// A client of the Qdrant nodes at `urls` (their gRPC port, e.g. http://qdrant:6334), on
    /// `collection` ([`crate::COLLECTION`] in production; tests use their own). `timeout` bounds
    /// each call to one node, so a hung node costs at most that before the next is tried.
    pub fn connect(
        urls: &[String],
        collection: &str,
        layout: CollectionLayout,
        timeout: Duration,
    ) -> StoreResult<Self> {
        if urls.is_empty() {
            return Err(StoreError::InvalidInput("no Qdrant URL given".into()));
        }
        let nodes = urls
            .iter()
            .map(|url| {
                let client = Qdrant::from_url(url)
                    .timeout(timeout)
                    .connect_timeout(timeout.min(Duration::from_secs(1)))
                    .skip_compatibility_check()
                    .build()
                    .map_err(|error| StoreError::InvalidInput(format!("{url}: {error}")))?;
                Ok(Node {
                    url: url.clone(),
                    client,
                    passed_over_until: Mutex::new(None),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            nodes: nodes.into(),
            next_node: Arc::new(AtomicUsize::new(0)),
            collection: collection.to_owned(),
            layout: layout.check()?,
            hnsw_ef: HNSW_EF,
        })
    }

    /// The same store searching with another HNSW beam width (benchmarks compare them).
    #[must_use]
    pub fn with_hnsw_ef(mut self, hnsw_ef: usize) -> Self {
        self.hnsw_ef = hnsw_ef;
        self
    }

    /// Drops the collection (tests clean up with it).
    pub async fn delete_collection(&self) -> StoreResult<()> {
        let collection = self.collection.clone();
        self.call(move |client| {
            let collection = collection.clone();
            async move { client.delete_collection(collection).await.map(|_| ()) }
        })
        .await
    }

    /// Runs `call` on the nodes in turn, starting with the next one in rotation and moving on
    /// while a node fails at the transport level; nodes passed over after a recent failure come
    /// last. Any other error is the call's answer.
    async fn call<T, F, Fut>(&self, call: F) -> StoreResult<T>
    where
        F: Fn(Qdrant) -> Fut,
        Fut: Future<Output = Result<T, QdrantError>>,
    {
        let now = Instant::now();
        let first = self.next_node.fetch_add(1, Ordering::Relaxed);
        let (ready, passed_over): (Vec<&Node>, Vec<&Node>) = (0..self.nodes.len())
            .map(|i| &self.nodes[(first + i) % self.nodes.len()])
            .partition(|node| !node.is_passed_over(now));
        let mut failures = Vec::new();
        for node in ready.into_iter().chain(passed_over) {
            match call(node.client.clone()).await {
                Ok(answer) => {
                    node.set_passed_over_until(None);
                    return Ok(answer);
                }
                Err(error) if is_node_failure(&error) => {
                    tracing::warn!(node = %node.url, %error, "Qdrant node failed; trying the next");
                    node.set_passed_over_until(Some(Instant::now() + NODE_COOLDOWN));
                    failures.push(format!("{}: {error}", node.url));
                }
                Err(error) => return Err(store_error(error)),
            }
        }
        Err(StoreError::Unavailable(failures.join("; ")))
    }

    /// Creates the payload indexes the queries filter on that `existing` lacks; reports one
    /// that exists with another type.
    async fn ensure_payload_indexes(
        &self,
        existing: &HashMap<String, PayloadSchemaInfo>,
    ) -> StoreResult<()> {
        for (field, kind) in INDEXED_FIELDS {
            let (field_type, schema_type) = match kind {
                FieldKind::Keyword => (FieldType::Keyword, PayloadSchemaType::Keyword),
                FieldKind::Float => (FieldType::Float, PayloadSchemaType::Float),
                FieldKind::Bool => (FieldType::Bool, PayloadSchemaType::Bool),
            };
            if let Some(info) = existing.get(field) {
                if info.data_type() == schema_type {
                    continue;
                }
                return Err(StoreError::InvalidInput(format!(
                    "collection {}: payload field {field} is indexed as {:?}, not {schema_type:?}",
                    self.collection,
                    info.data_type()
                )));
            }
            let collection = self.collection.clone();
            self.call(move |client| {
                let request =
                    CreateFieldIndexCollectionBuilder::new(&collection, field, field_type)
                        .wait(true);
                async move { client.create_field_index(request).await.map(|_| ()) }
            })
            .await?;
            tracing::info!(collection = %self.collection, field, "payload index created");
        }
        Ok(())
    }

    /// Refuses an existing collection whose vectors or layout differ from the configured ones.
    fn check_existing(
        &self,
        params: Option<&CollectionParams>,
        dimension: usize,
    ) -> StoreResult<()> {
        let size = params
            .and_then(|p| p.vectors_config.as_ref())
            .and_then(|v| v.config.as_ref())
            .and_then(|kind| match kind {
                VectorsConfigKind::Params(params) => Some(params.size),
                VectorsConfigKind::ParamsMap(_) => None,
            });
        if size != Some(dimension as u64) {
            return Err(StoreError::InvalidInput(format!(
                "collection {} holds vectors of size {size:?}, not {dimension}",
                self.collection
            )));
        }
        let found = CollectionLayout {
            shards: params.map_or(1, |p| p.shard_number),
            replication_factor: params.and_then(|p| p.replication_factor).unwrap_or(1),
            write_consistency: params.and_then(|p| p.write_consistency_factor).unwrap_or(1),
        };
        if found != self.layout {
            return Err(StoreError::InvalidInput(format!(
                "collection {} exists with {} shard(s), replication factor {}, write consistency \
                 {}, not the configured {}, {}, {} (ARAS_QDRANT_SHARDS, \
                 ARAS_QDRANT_REPLICATION_FACTOR, ARAS_QDRANT_WRITE_CONSISTENCY): change the \
                 settings, or move the catalog to a new collection (docs/SCALING.md)",
                self.collection,
                found.shards,
                found.replication_factor,
                found.write_consistency,
                self.layout.shards,
                self.layout.replication_factor,
                self.layout.write_consistency
            )));
        }
        Ok(())
    }
}

/// A failure of the node or the path to it, rather than an answer about the request: the codes
/// `qdrant-client` itself reconnects on (it reports a refused connection as INTERNAL), and a
/// deadline. A server-side INTERNAL error is thus tried on the next node too, which is harmless:
/// every call can be repeated, and at most once per node.
fn is_node_failure(error: &QdrantError) -> bool {
    matches!(
        error,
        QdrantError::ResponseError { status } if matches!(
            status.code(),
            Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::Unknown
                | Code::Internal
        )
    )
}

fn store_error(error: QdrantError) -> StoreError {
    match error {
        QdrantError::ResponseError { status } if status.code() == Code::InvalidArgument => {
            StoreError::InvalidInput(status.message().to_owned())
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl VectorStore for ServerStore {
    fn ensure_collection(&self, dimension: usize) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let collection = self.collection.clone();
            let exists = self
                .call(move |client| {
                    let collection = collection.clone();
                    async move { client.collection_exists(collection).await }
                })
                .await?;
            if !exists {
                let collection = self.collection.clone();
                let layout = self.layout;
                self.call(move |client| {
                    let request = CreateCollectionBuilder::new(&collection)
                        .vectors_config(VectorParamsBuilder::new(
                            dimension as u64,
                            Distance::Cosine,
                        ))
                        .shard_number(layout.shards)
                        .replication_factor(layout.replication_factor)
                        .write_consistency_factor(layout.write_consistency);
                    async move { client.create_collection(request).await.map(|_| ()) }
                })
                .await?;
                tracing::info!(collection = %self.collection, layout = ?self.layout, "collection created");
            }
            let collection = self.collection.clone();
            let info = self
                .call(move |client| {
                    let collection = collection.clone();
                    async move { client.collection_info(collection).await }
                })
                .await?
                .result
                .unwrap_or_default();
            self.check_existing(
                info.config.as_ref().and_then(|c| c.params.as_ref()),
                dimension,
            )?;
            self.ensure_payload_indexes(&info.payload_schema).await
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
            let collection = self.collection.clone();
            self.call(move |client| {
                let request = UpsertPointsBuilder::new(&collection, points.clone()).wait(true);
                async move { client.upsert_points(request).await.map(|_| ()) }
            })
            .await
        }
        .boxed()
    }

    fn delete(&self, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let points = PointsIdsList {
                ids: ids.into_iter().map(point_id).collect(),
            };
            let collection = self.collection.clone();
            self.call(move |client| {
                let request = DeletePointsBuilder::new(&collection)
                    .points(points.clone())
                    .wait(true);
                async move { client.delete_points(request).await.map(|_| ()) }
            })
            .await
        }
        .boxed()
    }

    fn vector(&self, id: i64) -> BoxFuture<'_, StoreResult<Option<Vec<f32>>>> {
        async move {
            let collection = self.collection.clone();
            let response = self
                .call(move |client| {
                    let request =
                        GetPointsBuilder::new(&collection, vec![point_id(id)]).with_vectors(true);
                    async move { client.get_points(request).await }
                })
                .await?;
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
                .params(
                    SearchParamsBuilder::default().hnsw_ef(self.hnsw_ef.max(query.limit) as u64),
                )
                .limit(query.limit as u64)
                .build();
            let response = self
                .call(move |client| {
                    let request = request.clone();
                    async move { client.query(request).await }
                })
                .await?;
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
            let collection = self.collection.clone();
            let response = self
                .call(move |client| {
                    let request = CountPointsBuilder::new(&collection).exact(true);
                    async move { client.count(request).await }
                })
                .await?;
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
