//! Ranking service settings.

use std::net::SocketAddr;
use std::time::Duration;

use aras_common::redis::RedisConfig;
use aras_common::telemetry::TelemetryConfig;

/// Settings of the ranking service; every field has a flag, an `ARAS_*` variable and a default.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "aras-ranking", about = "ARAS courier-ranking gRPC service")]
pub struct RankingConfig {
    /// Address the gRPC server (and /metrics) listens on.
    #[arg(long, env = "ARAS_RANKING_ADDR", default_value = "127.0.0.1:50054")]
    pub listen_addr: SocketAddr,

    /// Most couriers in one request's candidates, and in one answer (a live ranking's ranked
    /// couriers after `top_k`, plus the rejected ones it lists): over it, INVALID_ARGUMENT.
    #[arg(long, env = "ARAS_RANKING_MAX_CANDIDATES", default_value_t = 10_000)]
    pub max_candidates: usize,

    /// Widest live search, in km: the radius of the circle holding a live ranking's ellipse
    /// (half the pickup–drop-off distance, widened by the delivery type's tolerance). Wider:
    /// INVALID_ARGUMENT naming the limit, as one caller's country-wide search would hold a
    /// core that every tenant's rankings share. Rankings of given candidates have no such cap.
    #[arg(
        long,
        env = "ARAS_RANKING_MAX_SEARCH_RADIUS_KM",
        default_value_t = 100.0
    )]
    pub max_search_radius_km: f64,

    /// Largest gRPC request accepted, in bytes.
    #[arg(long, env = "ARAS_RANKING_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_message_bytes: usize,

    #[command(flatten)]
    pub fleet: FleetConfig,

    #[command(flatten)]
    pub telemetry: TelemetryConfig,
}

/// Live couriers: where their durable record lives and the rules of their positions.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetConfig {
    /// The shared Redis (the fleet's unless ARAS_FLEET_REDIS_URL is set).
    #[arg(
        long,
        env = "ARAS_REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,

    /// A Redis of the fleet's own, so the cache and rate limits never queue behind fleet
    /// writes; must persist (AOF). Unset: ARAS_REDIS_URL.
    #[arg(long, env = "ARAS_FLEET_REDIS_URL", hide_env_values = true)]
    pub fleet_redis_url: Option<String>,

    /// Prefix of every ARAS key, so several deployments (or tests) can share one Redis.
    #[arg(long, env = "ARAS_REDIS_PREFIX", default_value = "aras:")]
    pub redis_prefix: String,

    /// Longest wait for one fleet command: a batch of thousands of reports is one script, and a
    /// timed-out write would be reported as failed although Redis applied it.
    #[arg(long = "fleet-redis-timeout", env = "ARAS_FLEET_REDIS_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// Positions older than this are ignored by live rankings; the courier counts again from
    /// its next report.
    #[arg(long = "fleet-max-position-age", env = "ARAS_FLEET_MAX_POSITION_AGE", default_value = "2m", value_parser = humantime::parse_duration)]
    pub max_position_age: Duration,

    /// Position reports in one batch at most.
    #[arg(
        long = "fleet-max-batch",
        env = "ARAS_FLEET_MAX_BATCH",
        default_value_t = 10_000
    )]
    pub max_batch: usize,

    /// Entries the change log (a Redis Stream; an entry is one write, e.g. one batch) keeps,
    /// about: a replica that falls further behind rebuilds its index from Redis.
    #[arg(
        long = "fleet-change-log-length",
        env = "ARAS_FLEET_CHANGE_LOG_LENGTH",
        default_value_t = 5_000
    )]
    pub change_log_length: u64,
}

impl FleetConfig {
    /// The fleet's Redis, with the fleet's timeout.
    pub fn redis(&self) -> RedisConfig {
        RedisConfig {
            url: self
                .fleet_redis_url
                .clone()
                .unwrap_or_else(|| self.redis_url.clone()),
            prefix: self.redis_prefix.clone(),
            timeout: self.redis_timeout,
        }
    }
}

impl RankingConfig {
    /// Defaults, listening on an ephemeral loopback port, with a fleet of its own (a Redis
    /// prefix no other call shares), for tests.
    pub fn for_tests() -> Self {
        let mut config =
            <Self as clap::Parser>::parse_from(["aras-ranking", "--listen-addr", "127.0.0.1:0"]);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        config.fleet.redis_prefix = format!("aras-test-{}-{nanos}:", std::process::id());
        config
    }
}
