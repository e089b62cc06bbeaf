//! Recommender service settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aras_catalog::DatabaseConfig;
use aras_common::redis::RedisConfig;
use aras_common::telemetry::TelemetryConfig;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "aras-recommender", about = "ARAS recommender gRPC service")]
pub struct RecommenderConfig {
    /// Address the gRPC server (and /metrics) listens on.
    #[arg(long, env = "ARAS_RECOMMENDER_ADDR", default_value = "127.0.0.1:50053")]
    pub listen_addr: SocketAddr,

    /// gRPC URL(s) of the sentiment service; comma-separated for several replicas.
    #[arg(
        long,
        env = "ARAS_SENTIMENT_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub sentiment_url: String,

    /// gRPC URL(s) of the embedding service; comma-separated for several replicas.
    #[arg(
        long,
        env = "ARAS_EMBEDDING_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub embedding_url: String,

    /// How the replicas behind each URL list are found and checked.
    #[command(flatten)]
    pub replicas: aras_common::replicas::ReplicaConfig,

    /// Deadline of each call to the sentiment and embedding services.
    #[arg(long, env = "ARAS_RECOMMENDER_RPC_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub rpc_timeout: Duration,

    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Directory of the embedded vector store (used unless ARAS_QDRANT_URL is set).
    #[arg(long, env = "ARAS_VECTOR_DIR", default_value = "data/vectors")]
    pub vector_dir: PathBuf,

    /// A Qdrant server or cluster instead of the embedded store.
    #[command(flatten)]
    pub qdrant: QdrantConfig,

    /// Where the catalog version is published for the gateways' cache.
    #[command(flatten)]
    pub redis: RedisConfig,

    /// Candidates taken from the vector search before re-scoring.
    #[arg(long, env = "ARAS_RECOMMENDER_CANDIDATES", default_value_t = 100)]
    pub candidates: usize,

    /// Longest review accepted, in characters.
    #[arg(long, env = "ARAS_MAX_REVIEW_CHARS", default_value_t = 5000)]
    pub max_review_chars: usize,

    /// Vehicles embedded per call when indexing.
    #[arg(long, env = "ARAS_INDEX_BATCH_SIZE", default_value_t = 64)]
    pub index_batch_size: usize,

    #[command(flatten)]
    pub telemetry: TelemetryConfig,
}

impl RecommenderConfig {
    /// Defaults on an ephemeral loopback port; tests set the URLs, database and directory.
    pub fn for_tests() -> Self {
        <Self as clap::Parser>::parse_from(["aras-recommender", "--listen-addr", "127.0.0.1:0"])
    }
}

/// The Qdrant server or cluster, when the catalog's vectors live there.
#[derive(Debug, Clone, clap::Args)]
pub struct QdrantConfig {
    /// gRPC URL(s) of Qdrant nodes (e.g. http://qdrant:6334), comma-separated: calls rotate
    /// over them and move on from a failed node. Unset: the embedded store.
    #[arg(long = "qdrant-url", env = "ARAS_QDRANT_URL", value_delimiter = ',')]
    pub urls: Vec<String>,

    /// Shards of the collection when ARAS creates it (a cluster: one or more per node).
    #[arg(
        long = "qdrant-shards",
        env = "ARAS_QDRANT_SHARDS",
        default_value_t = 1
    )]
    pub shards: u32,

    /// Copies of each shard when ARAS creates the collection (a cluster: 2 survives a node).
    #[arg(
        long = "qdrant-replication-factor",
        env = "ARAS_QDRANT_REPLICATION_FACTOR",
        default_value_t = 1
    )]
    pub replication_factor: u32,

    /// Copies that must confirm each write (at most the replication factor).
    #[arg(
        long = "qdrant-write-consistency",
        env = "ARAS_QDRANT_WRITE_CONSISTENCY",
        default_value_t = 1
    )]
    pub write_consistency: u32,

    /// Longest wait for one Qdrant node before the next is tried.
    #[arg(long = "qdrant-timeout", env = "ARAS_QDRANT_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

impl QdrantConfig {
    /// The layout the collection is created with, or must have.
    pub fn layout(&self) -> aras_vector_store::CollectionLayout {
        aras_vector_store::CollectionLayout {
            shards: self.shards,
            replication_factor: self.replication_factor,
            write_consistency: self.write_consistency,
        }
    }
}
