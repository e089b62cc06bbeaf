//! Redis clients as ARAS uses them. Commands fail fast (a timeout) while the connection is down
//! and the client reconnects in the background. For the cache, the rate limits and the catalog
//! versions Redis is an accelerator: callers carry on without it. For the live couriers (the
//! ranking service's fleet) it is the durable record, which must persist (AOF): without it
//! live dispatch answers 503.

use std::sync::LazyLock;
use std::time::Duration;

use fred::prelude::{Builder, Client, ClientLike as _, Config, ReconnectPolicy};
use fred::types::scripts::Script;

/// Key (after the prefix) holding `tenant`'s catalog version, which its cached recommendations
/// are keyed by.
pub fn catalog_version_key(tenant: &str) -> String {
    format!("catalog_version:{tenant}")
}

/// Sets the key to ARGV[1] unless it holds a larger number; answers what it holds after.
static RAISE_TO: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        "local held = tonumber(redis.call('GET', KEYS[1]) or '0') \
    local wanted = tonumber(ARGV[1]) \
    if wanted > held then redis.call('SET', KEYS[1], ARGV[1]) return wanted end \
    return held",
    )
});

#[derive(Debug, Clone, clap::Args)]
pub struct RedisConfig {
    /// Redis URL (cache, rate limits, catalog versions; the ranking service's fleet unless it
    /// has a Redis of its own).
    #[arg(
        id = "redis_url",
        long = "redis-url",
        env = "ARAS_REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    pub url: String,

    /// Prefix of every ARAS key, so several deployments (or tests) can share one Redis.
    #[arg(
        id = "redis_prefix",
        long = "redis-prefix",
        env = "ARAS_REDIS_PREFIX",
        default_value = "aras:"
    )]
    pub prefix: String,

    /// Longest wait for one Redis command before going on without it.
    #[arg(id = "redis_timeout", long = "redis-timeout", env = "ARAS_REDIS_TIMEOUT", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

impl RedisConfig {
    /// A connected-in-the-background client. Fails only on a malformed URL.
    pub fn connect(&self) -> Result<Client, fred::error::Error> {
        let config = Config {
            fail_fast: true,
            ..Config::from_url(&self.url)?
        };
        let timeout = self.timeout;
        let client = Builder::from_config(config)
            .with_performance_config(|performance| performance.default_command_timeout = timeout)
            .with_connection_config(|connection| {
                connection.connection_timeout = Duration::from_secs(1);
                connection.internal_command_timeout = Duration::from_secs(1);
                connection.max_command_attempts = 1;
            })
            // Retry forever, backing off to 5 s between attempts.
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()?;
        // The connection task reconnects on its own; its end is only the client's shutdown.
        let _connection = client.connect();
        Ok(client)
    }

    /// Raises `tenant`'s published catalog version to `version`, atomically, unless Redis
    /// holds a later one: versions only move forward, whoever writes them and in whatever order
    /// (a recommender retrying an old publish, a gateway adopting the version of an answer).
    /// Returns the version Redis holds afterwards.
    pub async fn raise_catalog_version(
        &self,
        client: &Client,
        tenant: &str,
        version: u64,
    ) -> Result<u64, fred::error::Error> {
        RAISE_TO
            .evalsha_with_reload(client, self.key(&catalog_version_key(tenant)), version)
            .await
    }

    /// `prefix` + `key`.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}
