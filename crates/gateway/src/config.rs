//! Gateway settings.

use std::net::SocketAddr;
use std::time::Duration;

use aras_catalog::DatabaseConfig;
use aras_common::redis::RedisConfig;
use aras_common::replicas::ReplicaConfig;
use aras_common::telemetry::TelemetryConfig;
use aras_jobs::amqp::AmqpConfig;

/// Settings of the gateway; every field has a flag, an `ARAS_*` variable and a default.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "aras-gateway", about = "ARAS public REST API")]
pub struct GatewayConfig {
    /// Address the REST API listens on.
    #[arg(long, env = "ARAS_GATEWAY_ADDR", default_value = "127.0.0.1:8000")]
    pub listen_addr: SocketAddr,

    /// URL of the ranking service; several, comma-separated, for several replicas (each name
    /// may also resolve to several addresses, as a headless Service does).
    #[arg(
        long,
        env = "ARAS_RANKING_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub ranking_url: String,

    /// URL(s) of the sentiment service, comma-separated (see `ARAS_RANKING_URL`).
    #[arg(
        long,
        env = "ARAS_SENTIMENT_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub sentiment_url: String,

    /// URL(s) of the embedding service, comma-separated (see `ARAS_RANKING_URL`).
    #[arg(
        long,
        env = "ARAS_EMBEDDING_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub embedding_url: String,

    /// URL(s) of the recommender service, comma-separated (see `ARAS_RANKING_URL`).
    #[arg(
        long,
        env = "ARAS_RECOMMENDER_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub recommender_url: String,

    /// How the replicas behind each URL list are found and checked.
    #[command(flatten)]
    pub replicas: ReplicaConfig,

    /// Most calls in flight to one backend service; more are refused at once with 429 and
    /// `Retry-After` rather than queued.
    #[arg(long, env = "ARAS_BACKEND_MAX_IN_FLIGHT", default_value_t = 128)]
    pub backend_max_in_flight: usize,

    /// Longest review accepted by `POST /api/v1/recommendations`, in characters.
    #[arg(long, env = "ARAS_MAX_REVIEW_CHARS", default_value_t = 5000)]
    pub max_review_chars: usize,

    /// How long a cached recommendation is served (e.g. 1h, 90s).
    #[arg(long, env = "ARAS_CACHE_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,

    /// The recommendation cache (and the rate limits' counters).
    #[command(flatten)]
    pub redis: RedisConfig,

    #[command(flatten)]
    pub rate_limits: crate::ratelimit::RateLimitConfig,

    /// Failed authentications allowed per client address and per email.
    #[command(flatten)]
    pub throttle: crate::throttle::ThrottleConfig,

    /// Proxies (addresses or networks, comma-separated: `10.0.0.0/8,192.0.2.7`) whose
    /// `Forwarded` / `X-Forwarded-For` headers name the client for the rate limits and the
    /// failed-authentication counters. None by default: the TCP peer is the client, and those
    /// headers, which any caller can write, are ignored.
    #[arg(long, env = "ARAS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// The header the trusted proxies name the client in: `x-forwarded-for` or `forwarded`
    /// (RFC 7239). Only that one is read: a proxy usually passes the other on as the caller
    /// wrote it.
    #[arg(
        long,
        env = "ARAS_FORWARDED_HEADER",
        value_enum,
        default_value = "x-forwarded-for"
    )]
    pub forwarded_header: crate::client::ForwardedHeader,

    /// Login password checks run at once (each holds 19 MiB and a core while it runs); 0: one
    /// per core.
    #[arg(long, env = "ARAS_PASSWORD_CHECKS", default_value_t = 0)]
    pub password_checks: usize,

    /// Logins that may wait for a password check; more at once are refused with 503 and
    /// `Retry-After: 1`.
    #[arg(long, env = "ARAS_PASSWORD_CHECKS_QUEUE", default_value_t = 32)]
    pub password_checks_queue: usize,

    /// How long an API key found valid is trusted without asking Postgres again (0: every
    /// request asks). A revoked key keeps working this long on a replica that saw it.
    #[arg(long, env = "ARAS_API_KEY_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub api_key_cache_ttl: Duration,

    /// Browser origins allowed to call the API (CORS), comma-separated, e.g.
    /// `https://console.example.com`; none by default, so browsers keep other sites out.
    #[arg(long, env = "ARAS_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Most reviews in one `POST /api/v1/sentiment/batch`.
    #[arg(long, env = "ARAS_SENTIMENT_MAX_BATCH", default_value_t = 64)]
    pub sentiment_max_batch: usize,

    /// Deadline of every gRPC call made by the gateway (e.g. 5s, 500ms).
    #[arg(long, env = "ARAS_GRPC_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub grpc_timeout: Duration,

    /// Deadline of the dependency health checks behind the readiness probe.
    #[arg(long, env = "ARAS_HEALTH_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub health_timeout: Duration,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "ARAS_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Where async jobs are stored (the job store; the gateway owns no other table).
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Where async jobs are queued.
    #[command(flatten)]
    pub amqp: AmqpConfig,

    /// Most requests in one `POST /api/v1/recommendations/async/batch`.
    #[arg(long, env = "ARAS_JOBS_MAX_BATCH", default_value_t = 1000)]
    pub jobs_max_batch: usize,

    /// How often stored jobs the broker has not confirmed yet are published again.
    #[arg(long, env = "ARAS_OUTBOX_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub outbox_interval: Duration,

    /// How long an `Idempotency-Key` answers with the tasks it first created.
    #[arg(long, env = "ARAS_IDEMPOTENCY_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub idempotency_ttl: Duration,

    /// `ARAS_ENV`, token signing keys and lifetimes.
    #[command(flatten)]
    pub auth: aras_auth::AuthConfig,

    #[command(flatten)]
    pub telemetry: TelemetryConfig,
}

impl GatewayConfig {
    /// Defaults on an ephemeral loopback port, in development mode (requests without
    /// credentials act as the demo tenant's admin); point the service URLs at the test's
    /// services.
    pub fn for_tests() -> Self {
        <Self as clap::Parser>::parse_from([
            "aras-gateway",
            "--listen-addr",
            "127.0.0.1:0",
            "--env",
            "development",
        ])
    }
}
