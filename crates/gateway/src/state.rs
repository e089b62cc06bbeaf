//! State shared by the handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aras_common::correlation::CorrelationId;
use aras_proto::embedding::v1::embedding_client::EmbeddingClient;
use aras_proto::embedding::v1::embedding_server::SERVICE_NAME as EMBEDDING;
use aras_proto::ranking::v1::fleet_client::FleetClient;
use aras_proto::ranking::v1::fleet_server::SERVICE_NAME as FLEET;
use aras_proto::ranking::v1::ranking_client::RankingClient;
use aras_proto::ranking::v1::ranking_server::SERVICE_NAME as RANKING;
use aras_proto::recommender::v1::recommender_client::RecommenderClient;
use aras_proto::recommender::v1::recommender_server::SERVICE_NAME as RECOMMENDER;
use aras_proto::sentiment::v1::sentiment_client::SentimentClient;
use aras_proto::sentiment::v1::sentiment_server::SERVICE_NAME as SENTIMENT;
use tonic::transport::Channel;
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimit;
use tower::load_shed::LoadShed;

use aras_domain::tenant::Tenant;

use crate::auth::Authenticator;
use crate::cache::Cache;
use crate::client::TrustedProxies;
use crate::config::GatewayConfig;
use crate::database::Database;
use crate::jobs::Jobs;
use crate::ratelimit::RateLimiter;

/// A backend service the gateway depends on, checked by the health endpoints.
pub struct Dependency {
    /// Name in health reports (`ranking`).
    pub name: &'static str,
    /// The gRPC service name its `grpc.health.v1` reports on.
    pub grpc_service: &'static str,
    pub channel: Channel,
}

/// A backend's channel behind the gateway's admission limit: past `max_in_flight` calls at once
/// a call is refused at once (RESOURCE_EXHAUSTED, hence 429) instead of queueing behind the
/// HTTP/2 connection's stream limit, where it would only wait and time out.
pub type Admitted = LoadShed<ConcurrencyLimit<Channel>>;

fn admitted(channel: Channel, max_in_flight: usize) -> Admitted {
    ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(max_in_flight)
        .service(channel)
}

pub struct Inner {
    pub ranking: RankingClient<Admitted>,
    pub sentiment: SentimentClient<Admitted>,
    pub embedding: EmbeddingClient<Admitted>,
    pub recommender: RecommenderClient<Admitted>,
    /// Live couriers, kept by the ranking service.
    pub fleet: FleetClient<Admitted>,
    pub cache: Cache,
    pub rate_limiter: Option<RateLimiter>,
    pub jobs: Jobs,
    pub database: Arc<Database>,
    pub authenticator: Authenticator,
    /// Whose forwarding headers name the client.
    pub trusted_proxies: TrustedProxies,
    pub sentiment_max_batch: usize,
    pub max_review_chars: usize,
    pub dependencies: Vec<Dependency>,
    pub grpc_timeout: Duration,
    pub health_timeout: Duration,
    /// The last public health summary (when, and whether all was well): anyone may ask, so the
    /// dependencies are checked for it at most once per `PUBLIC_HEALTH_TTL`.
    pub public_health: tokio::sync::Mutex<Option<(Instant, bool)>>,
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

    /// An outgoing request acting for `tenant` (the recommender keeps tenant data).
    pub fn tenant_request<T>(
        &self,
        message: T,
        correlation_id: &CorrelationId,
        tenant: &Tenant,
    ) -> tonic::Request<T> {
        let mut request = self.request(message, correlation_id);
        aras_common::tenant::attach(&mut request, tenant);
        request
    }

    /// Builds lazy channels balanced over each backend's replicas, and the Redis, Postgres and
    /// broker clients: the gateway starts even while a service or one of those is down, and
    /// the health report says so. Must run inside a Tokio runtime.
    pub fn connect(config: &GatewayConfig) -> anyhow::Result<Self> {
        let channel =
            |urls: &str, service| config.replicas.channel(urls, service, config.grpc_timeout);
        let ranking = channel(&config.ranking_url, RANKING)?;
        let sentiment = channel(&config.sentiment_url, SENTIMENT)?;
        let embedding = channel(&config.embedding_url, EMBEDDING)?;
        let recommender = channel(&config.recommender_url, RECOMMENDER)?;
        let limit = config.backend_max_in_flight;
        let database = Arc::new(Database::new(&config.database)?);
        Ok(Self(Arc::new(Inner {
            ranking: RankingClient::new(admitted(ranking.clone(), limit)),
            fleet: FleetClient::new(admitted(ranking.clone(), limit)),
            sentiment: SentimentClient::new(admitted(sentiment.clone(), limit)),
            embedding: EmbeddingClient::new(admitted(embedding.clone(), limit)),
            recommender: RecommenderClient::new(admitted(recommender.clone(), limit)),
            cache: Cache::connect(&config.redis, config.cache_ttl)?,
            rate_limiter: RateLimiter::new(&config.rate_limits, &config.redis)?,
            jobs: Jobs::new(config, Arc::clone(&database)),
            database,
            authenticator: Authenticator::new(config)?,
            trusted_proxies: TrustedProxies::parse(
                &config.trusted_proxies,
                config.forwarded_header,
            )?,
            sentiment_max_batch: config.sentiment_max_batch,
            max_review_chars: config.max_review_chars,
            dependencies: vec![
                Dependency {
                    name: "ranking",
                    grpc_service: RANKING,
                    channel: ranking.clone(),
                },
                Dependency {
                    name: "fleet",
                    grpc_service: FLEET,
                    channel: ranking,
                },
                Dependency {
                    name: "sentiment",
                    grpc_service: SENTIMENT,
                    channel: sentiment,
                },
                Dependency {
                    name: "embedding",
                    grpc_service: EMBEDDING,
                    channel: embedding,
                },
                Dependency {
                    name: "recommender",
                    grpc_service: RECOMMENDER,
                    channel: recommender,
                },
            ],
            grpc_timeout: config.grpc_timeout,
            health_timeout: config.health_timeout,
            public_health: tokio::sync::Mutex::new(None),
            started: Instant::now(),
        })))
    }
}
