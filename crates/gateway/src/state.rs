//! State shared by the handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aras_common::correlation::CorrelationId;
use aras_proto::embedding::v1::embedding_client::EmbeddingClient;
use aras_proto::ranking::v1::ranking_client::RankingClient;
use aras_proto::recommender::v1::recommender_client::RecommenderClient;
use aras_proto::sentiment::v1::sentiment_client::SentimentClient;
use tonic::transport::Channel;

use crate::cache::Cache;
use crate::config::GatewayConfig;
use crate::jobs::Jobs;

/// Tenancy arrives with authentication; until then every request is the default tenant's.
pub const TENANT: &str = "default";

/// A backend service the gateway depends on, checked by the health endpoints.
pub struct Dependency {
    /// Name in health reports (`ranking`).
    pub name: &'static str,
    /// The gRPC service name its `grpc.health.v1` reports on.
    pub grpc_service: &'static str,
    pub channel: Channel,
}

pub struct Inner {
    pub ranking: RankingClient<Channel>,
    pub sentiment: SentimentClient<Channel>,
    pub embedding: EmbeddingClient<Channel>,
    pub recommender: RecommenderClient<Channel>,
    pub cache: Cache,
    pub jobs: Jobs,
    pub sentiment_max_batch: usize,
    pub max_review_chars: usize,
    pub dependencies: Vec<Dependency>,
    pub grpc_timeout: Duration,
    pub health_timeout: Duration,
    pub started: Instant,
}

/// Cheap to clone: handlers get an `Arc`.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// An outgoing gRPC request with the gateway's deadline and the caller's correlation id.
    pub fn request<T>(&self, message: T, correlation_id: &CorrelationId) -> tonic::Request<T> {
        aras_common::grpc::request(message, correlation_id, self.grpc_timeout)
    }

    /// Builds lazy channels and the Redis, Postgres and broker clients: the gateway starts even
    /// while a service or one of those is down, and the health report says so. Must run inside a Tokio runtime.
    pub fn connect(config: &GatewayConfig) -> anyhow::Result<Self> {
        let channel = |url: &str| aras_common::grpc::lazy_channel(url, config.grpc_timeout);
        let ranking = channel(&config.ranking_url)?;
        let sentiment = channel(&config.sentiment_url)?;
        let embedding = channel(&config.embedding_url)?;
        let recommender = channel(&config.recommender_url)?;
        Ok(Self(Arc::new(Inner {
            ranking: RankingClient::new(ranking.clone()),
            sentiment: SentimentClient::new(sentiment.clone()),
            embedding: EmbeddingClient::new(embedding.clone()),
            recommender: RecommenderClient::new(recommender.clone()),
            cache: Cache::connect(&config.redis, config.cache_ttl)?,
            jobs: Jobs::new(config)?,
            sentiment_max_batch: config.sentiment_max_batch,
            max_review_chars: config.max_review_chars,
            dependencies: vec![
                Dependency {
                    name: "ranking",
                    grpc_service: aras_proto::ranking::v1::ranking_server::SERVICE_NAME,
                    channel: ranking,
                },
                Dependency {
                    name: "sentiment",
                    grpc_service: aras_proto::sentiment::v1::sentiment_server::SERVICE_NAME,
                    channel: sentiment,
                },
                Dependency {
                    name: "embedding",
                    grpc_service: aras_proto::embedding::v1::embedding_server::SERVICE_NAME,
                    channel: embedding,
                },
                Dependency {
                    name: "recommender",
                    grpc_service: aras_proto::recommender::v1::recommender_server::SERVICE_NAME,
                    channel: recommender,
                },
            ],
            grpc_timeout: config.grpc_timeout,
            health_timeout: config.health_timeout,
            started: Instant::now(),
        })))
    }
}
