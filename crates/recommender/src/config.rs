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

    /// gRPC URL of a Qdrant server (e.g. http://qdrant:6334); unset: the embedded store.
    #[arg(long, env = "ARAS_QDRANT_URL")]
    pub qdrant_url: Option<String>,

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
