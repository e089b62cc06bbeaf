//! Where the catalog's vectors live, behind one trait: [`VectorStore`].
//!
//! Layout:
//! - [`edge`]: the embedded default, Qdrant's own engine in-process (`qdrant-edge`) on a local
//!   directory, so ARAS needs no Qdrant server to run.
//! - [`server`]: a Qdrant server through `qdrant-client`, selected by `ARAS_QDRANT_URL`.
//!
//! Both store one point per vehicle (point id = the vehicle's point key in the catalog, unique
//! across tenants where vehicle ids are not, so re-indexing is idempotent) in the
//! `vehicles` collection, cosine distance, with payload indexes on the filtered fields, and answer
//! the same recommend-style query: positive and negative examples combined the way Qdrant's
//! `average_vector` strategy does.

pub mod edge;
pub mod server;

use futures_util::future::BoxFuture;

pub use edge::EdgeStore;
pub use server::{CollectionLayout, ServerStore};

/// The collection holding one point per vehicle.
pub const COLLECTION: &str = "vehicles";

/// Beam width of HNSW searches. Qdrant's default (the limit) gives poor recall for top-100;
/// 512 keeps recall near 1 at 100k vectors for a few milliseconds.
pub const HNSW_EF: usize = 512;

/// What a point carries besides its vector: the fields queries filter on.
#[derive(Debug, Clone, PartialEq)]
pub struct VehiclePayload {
    /// The tenant owning the vehicle: every query is confined to one.
    pub tenant: String,
    /// The catalog the item belongs to ("vehicle").
    pub product_type: String,
    pub vehicle_type: String,
    pub brand: String,
    pub daily_price: f64,
    pub available: bool,
    pub rating: f32,
}

/// Payload fields with an index, and their kind.
pub(crate) const INDEXED_FIELDS: [(&str, FieldKind); 7] = [
    ("tenant", FieldKind::Keyword),
    ("product_type", FieldKind::Keyword),
    ("vehicle_type", FieldKind::Keyword),
    ("brand", FieldKind::Keyword),
    ("daily_price", FieldKind::Float),
    ("available", FieldKind::Bool),
    ("rating", FieldKind::Float),
];

#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldKind {
    Keyword,
    Float,
    Bool,
}

impl VehiclePayload {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "tenant": self.tenant,
            "product_type": self.product_type,
            "vehicle_type": self.vehicle_type,
            "brand": self.brand,
            "daily_price": self.daily_price,
            "available": self.available,
            "rating": self.rating,
        })
    }
}

/// One vehicle's vector and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct VehiclePoint {
    pub id: i64,
    pub vector: Vec<f32>,
    pub payload: VehiclePayload,
}

/// An example of a recommend query: a stored vehicle, or a vector such as a review's embedding.
#[derive(Debug, Clone, PartialEq)]
pub enum Example {
    Vehicle(i64),
    Vector(Vec<f32>),
}

/// "More like the positives, less like the negatives", among the vehicles of `tenant` and
/// `product_type`, never returning the vehicles of `exclude`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendQuery {
    pub tenant: String,
    pub positive: Vec<Example>,
    pub negative: Vec<Example>,
    pub product_type: String,
    pub exclude: Vec<i64>,
    pub limit: usize,
}

/// A vehicle found by a query, with its cosine similarity to the query vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The query or points do not fit the collection (wrong dimension, no positive example).
    #[error("{0}")]
    InvalidInput(String),
    /// An example names a vehicle that has no vector.
    #[error("vehicle {0} is not indexed")]
    NotIndexed(i64),
    /// The store cannot be reached (server down, directory unusable).
    #[error("vector store unavailable: {0}")]
    Unavailable(String),
    #[error("vector store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The catalog's vector store. Implementations are cheap to share (`Arc` inside).
pub trait VectorStore: Send + Sync + std::fmt::Debug {
    /// Creates the collection and its payload indexes if missing; fails if it exists with
    /// another dimension.
    fn ensure_collection(&self, dimension: usize) -> BoxFuture<'_, StoreResult<()>>;
    /// Inserts or replaces points by id.
    fn upsert(&self, points: Vec<VehiclePoint>) -> BoxFuture<'_, StoreResult<()>>;
    /// Removes the points of `ids` (absent ones are ignored).
    fn delete(&self, ids: Vec<i64>) -> BoxFuture<'_, StoreResult<()>>;
    /// The stored vector of a vehicle, if any.
    fn vector(&self, id: i64) -> BoxFuture<'_, StoreResult<Option<Vec<f32>>>>;
    /// The best `limit` vehicles for a recommend-style query, best first.
    fn recommend(&self, query: RecommendQuery) -> BoxFuture<'_, StoreResult<Vec<Hit>>>;
    /// Points stored.
    fn count(&self) -> BoxFuture<'_, StoreResult<u64>>;
    /// Builds search indexes after bulk writes (HNSW for the embedded store); a no-op where the
    /// backend indexes in the background.
    fn optimize(&self) -> BoxFuture<'_, StoreResult<()>>;
}

/// Checks a query before either backend runs it.
pub(crate) fn check_query(query: &RecommendQuery) -> StoreResult<()> {
    if query.positive.is_empty() {
        return Err(StoreError::InvalidInput(
            "a recommend query needs a positive example".into(),
        ));
    }
    if query.limit == 0 {
        return Err(StoreError::InvalidInput("limit must be at least 1".into()));
    }
    Ok(())
}
