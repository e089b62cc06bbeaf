//! The recommendation cache (Redis): answers keyed by everything that shapes them, and by the
//! catalog version and the tenant's cache generation, so a catalog write (or an admin's
//! invalidation, for one tenant) retires every stale entry without a scan. Redis is an
//! accelerator only: when it fails, requests are served uncached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aras_common::redis::{RedisConfig, catalog_version_key};
use fred::prelude::{Client, ClientLike as _, Expiration, KeysInterface as _};
use sha2::{Digest as _, Sha256};

/// What shapes a recommendation, hence its cache key.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheKey<'a> {
    pub tenant: &'a str,
    pub client_id: i64,
    pub product_id: i64,
    pub product_type: &'a str,
    pub top_k: usize,
    /// Similarity, availability, reputation.
    pub weights: [f64; 3],
    /// The review as normalised for caching (see `Review::normalized`).
    pub normalized_review: &'a str,
}

/// The versions a tenant's cached answers are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub catalog: Option<u64>,
    pub generation: u64,
}

pub struct Cache {
    client: Client,
    config: RedisConfig,
    ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Hits and misses per tenant since this gateway started, for the admin stats.
    by_tenant: Mutex<HashMap<String, Lookups>>,
}

/// Cache lookups: how many hit, how many missed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lookups {
    pub hits: u64,
    pub misses: u64,
}

impl Cache {
    pub fn connect(config: &RedisConfig, ttl: Duration) -> Result<Self, fred::error::Error> {
        Ok(Self {
            client: config.connect()?,
            config: config.clone(),
            ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            by_tenant: Mutex::default(),
        })
    }

    /// What the tenant's answers are keyed by, in one round trip: its catalog version (`None`
    /// when Redis has none yet: a fresh Redis) and its cache generation. `Err` when
    /// Redis cannot be reached (then nothing is cached).
    pub async fn versions(&self, tenant: &str) -> Result<Versions, fred::error::Error> {
        let keys = vec![
            self.config.key(&catalog_version_key(tenant)),
            self.generation_key(tenant),
        ];
        let values: Vec<Option<u64>> = self
            .client
            .mget(keys)
            .await
            .inspect_err(|e| failed("version", e))?;
        Ok(Versions {
            catalog: values.first().copied().flatten(),
            generation: values.get(1).copied().flatten().unwrap_or(0),
        })
    }

    fn generation_key(&self, tenant: &str) -> String {
        self.config.key(&format!("cache_generation:{tenant}"))
    }

    /// Retires every cached answer of `tenant` (and no other tenant's): its generation moves
    /// on, so lookups miss the old entries, which expire on their TTL. Returns the new one.
    pub async fn invalidate(&self, tenant: &str) -> Result<u64, fred::error::Error> {
        self.client
            .incr(self.generation_key(tenant))
            .await
            .inspect_err(|e| failed("invalidate", e))
    }

    /// Raises `tenant`'s published catalog version to `version` (that of an answer just
    /// computed), unless Redis holds a later one: a recommender whose publish failed, or a Redis
    /// that restarted empty, cannot leave lookups on an old version. Returns what Redis holds.
    pub async fn raise_catalog_version(&self, tenant: &str, version: u64) -> Option<u64> {
        self.config
            .raise_catalog_version(&self.client, tenant, version)
            .await
            .inspect_err(|e| failed("raise_version", e))
            .ok()
    }

    pub fn key(&self, key: &CacheKey<'_>, catalog_version: u64, generation: u64) -> String {
        let review = hex::encode(Sha256::digest(key.normalized_review.as_bytes()));
        let [s, a, r] = key.weights;
        self.config.key(&format!(
            "rec:v{catalog_version}:{tenant}:g{generation}:{client}:{product}:{kind}:{top_k}:{s}/{a}/{r}:{review}",
            tenant = key.tenant,
            client = key.client_id,
            product = key.product_id,
            kind = key.product_type,
            top_k = key.top_k,
        ))
    }

    /// The tenant's lookups since this gateway started.
    pub fn lookups(&self, tenant: &str) -> Lookups {
        self.by_tenant
            .lock()
            .expect("never poisoned: no panics while held")
            .get(tenant)
            .copied()
            .unwrap_or_default()
    }

    /// The cached answer, if any; a Redis failure counts as a miss.
    pub async fn get(&self, tenant: &str, key: &str) -> Option<String> {
        let value: Option<String> = self
            .client
            .get(key)
            .await
            .inspect_err(|e| failed("get", e))
            .ok()
            .flatten();
        let counter = if value.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        {
            let mut by_tenant = self
                .by_tenant
                .lock()
                .expect("never poisoned: no panics while held");
            // The tenant's name is copied once, at its first lookup, not at every one.
            if !by_tenant.contains_key(tenant) {
                by_tenant.insert(tenant.to_owned(), Lookups::default());
            }
            let lookups = by_tenant
                .get_mut(tenant)
                .expect("inserted above if it was missing");
            if value.is_some() {
                lookups.hits += 1;
            } else {
                lookups.misses += 1;
            }
        }
        metrics::counter!("gateway_cache_lookups_total", "result" => if value.is_some() { "hit" } else { "miss" })
            .increment(1);
        let (hits, misses) = (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        );
        metrics::gauge!("gateway_cache_hit_ratio").set(hits as f64 / (hits + misses).max(1) as f64);
        value
    }

    pub async fn put(&self, key: &str, value: String) {
        let expiration =
            Expiration::EX(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX).max(1));
        let result: Result<(), _> = self
            .client
            .set(key, value, Some(expiration), None, false)
            .await;
        if let Err(error) = result {
            failed("put", &error);
        }
    }

    /// Whether Redis answers a PING, for the health report.
    pub async fn ping(&self) -> Result<(), fred::error::Error> {
        self.client.ping::<String>(None).await.map(|_| ())
    }
}

fn failed(operation: &'static str, error: &fred::error::Error) {
    metrics::counter!("gateway_cache_errors_total", "operation" => operation).increment(1);
    tracing::warn!(%error, operation, "Redis unavailable; serving without the cache");
}
