//! What the handlers share: the catalog pool, the vector store (once open), the clients of the
//! sentiment and embedding services, and the Redis client that publishes the catalog version.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aras_catalog::Pool;
use aras_common::correlation::CorrelationId;
use aras_common::grpc;
use aras_common::redis::RedisConfig;
use aras_domain::tenant::Tenant;
use aras_proto::embedding::v1::embedding_client::EmbeddingClient;
use aras_proto::embedding::v1::{EmbedRequest, InfoRequest, InputType};
use aras_proto::sentiment::v1::sentiment_client::SentimentClient;
use aras_proto::sentiment::v1::{AnalyzeRequest, AnalyzeResponse};
use aras_vector_store::VectorStore;
use fred::prelude::Client as RedisClient;
use tonic::transport::Channel;

use crate::RecommenderConfig;
use crate::error::RecommenderError;

#[derive(Debug)]
pub(crate) struct Deps {
    pub pool: Pool,
    store: OnceLock<Arc<dyn VectorStore>>,
    sentiment: SentimentClient<Channel>,
    embedding: EmbeddingClient<Channel>,
    /// The latest catalog version of each tenant to publish; a task publishes them, retrying
    /// until Redis takes them.
    versions_to_publish: tokio::sync::watch::Sender<BTreeMap<Tenant, u64>>,
    pub config: RecommenderConfig,
    /// Shared by tenants' runs (Postgres allows one per tenant across replicas, and tenants'
    /// vehicles are apart), held alone by a run over every tenant's catalog (`aras index`).
    indexing: Arc<tokio::sync::RwLock<()>>,
}

impl Deps {
    pub fn new(config: RecommenderConfig, pool: Pool) -> anyhow::Result<Self> {
        let sentiment = SentimentClient::new(config.replicas.channel(
            &config.sentiment_url,
            aras_proto::sentiment::v1::sentiment_server::SERVICE_NAME,
            config.rpc_timeout,
        )?);
        let embedding = EmbeddingClient::new(config.replicas.channel(
            &config.embedding_url,
            aras_proto::embedding::v1::embedding_server::SERVICE_NAME,
            config.rpc_timeout,
        )?);
        let redis = config.redis.connect()?;
        let (versions_to_publish, wanted) = tokio::sync::watch::channel(BTreeMap::new());
        tokio::spawn(publish_catalog_versions(
            redis,
            config.redis.clone(),
            wanted,
        ));
        Ok(Self {
            pool,
            store: OnceLock::new(),
            sentiment,
            embedding,
            versions_to_publish,
            config,
            indexing: Arc::default(),
        })
    }

    /// The vector store, or UNAVAILABLE while start-up has not opened it yet.
    pub fn store(&self) -> Result<&Arc<dyn VectorStore>, RecommenderError> {
        self.store
            .get()
            .ok_or_else(|| RecommenderError::Unavailable("the vector store is not open yet".into()))
    }

    pub fn set_store(&self, store: Arc<dyn VectorStore>) {
        // Start-up opens the store once; a second call would be a bug in serve().
        assert!(
            self.store.set(store).is_ok(),
            "the vector store is opened once"
        );
    }

    /// The right to index one tenant's catalog, held for its run: another tenant's run never
    /// stands in the way; a run over every catalog does, until it ends (the run waits).
    pub async fn tenant_indexing_permit(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        Arc::clone(&self.indexing).read_owned().await
    }

    /// The right to index every tenant's catalog: waits for the tenants' runs in progress.
    pub async fn catalog_indexing_permit(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        Arc::clone(&self.indexing).write_owned().await
    }

    /// The sentiment of `text`, within what is left of `deadline` (the caller's).
    pub async fn analyze(
        &self,
        text: &str,
        correlation_id: &CorrelationId,
        deadline: Option<Instant>,
    ) -> Result<AnalyzeResponse, RecommenderError> {
        let request = grpc::request(
            AnalyzeRequest {
                text: text.to_owned(),
            },
            correlation_id,
            self.budget("sentiment", deadline)?,
        );
        let response = self.sentiment.clone().analyze(request).await;
        response
            .map(tonic::Response::into_inner)
            .map_err(|status| RecommenderError::from_dependency("sentiment", &status))
    }

    /// Unit-length vectors of `texts`, embedded as `input_type`, within what is left of
    /// `deadline` (the caller's).
    pub async fn embed(
        &self,
        texts: Vec<String>,
        input_type: InputType,
        correlation_id: &CorrelationId,
        deadline: Option<Instant>,
    ) -> Result<Vec<Vec<f32>>, RecommenderError> {
        let message = EmbedRequest {
            texts,
            normalize: true,
            input_type: input_type.into(),
        };
        let request = grpc::request(message, correlation_id, self.budget("embedding", deadline)?);
        let response = self
            .embedding
            .clone()
            .embed(request)
            .await
            .map_err(|status| RecommenderError::from_dependency("embedding", &status))?;
        Ok(response
            .into_inner()
            .embeddings
            .into_iter()
            .map(|v| v.values)
            .collect())
    }

    /// The timeout of a call to `service`: what the caller's deadline leaves, at most the
    /// configured one; out of time already, the call is not made.
    fn budget(
        &self,
        service: &str,
        deadline: Option<Instant>,
    ) -> Result<Duration, RecommenderError> {
        grpc::budget(deadline, self.config.rpc_timeout).ok_or_else(|| {
            RecommenderError::DeadlineExceeded(format!(
                "no time was left to call the {service} service"
            ))
        })
    }

    /// The embedding model's id and dimension, waiting (with the shutdown) for the service to
    /// answer.
    pub async fn embedding_model(&self) -> (String, usize) {
        let correlation_id = CorrelationId::new_random();
        let mut attempt = 0_u32;
        loop {
            let request = grpc::request(InfoRequest {}, &correlation_id, self.config.rpc_timeout);
            match self.embedding.clone().info(request).await {
                Ok(info) => {
                    let info = info.into_inner();
                    return (info.model, info.dimension as usize);
                }
                Err(status) => {
                    attempt += 1;
                    if attempt % 20 == 1 {
                        tracing::info!(url = %self.config.embedding_url, error = %status.message(), "waiting for the embedding service");
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Moves `tenant`'s catalog version on (its catalog changed) and publishes it; answers it.
    pub async fn bump_catalog_version(&self, tenant: &Tenant) -> Result<u64, RecommenderError> {
        self.bump_catalog_versions(Some(tenant))
            .await?
            .into_iter()
            .find_map(|(bumped, version)| (bumped == *tenant).then_some(version))
            .ok_or_else(|| RecommenderError::Internal(format!("tenant {tenant} has no version")))
    }

    /// Moves the catalog version of `tenant`, or of every tenant, on and publishes them; answers
    /// each tenant's new version (every tenant counts its own).
    pub async fn bump_catalog_versions(
        &self,
        tenant: Option<&Tenant>,
    ) -> Result<Vec<(Tenant, u64)>, RecommenderError> {
        let bumped = aras_catalog::vehicles::bump_versions(&self.pool, tenant).await?;
        for (tenant, version) in &bumped {
            self.publish_catalog_version(tenant, *version);
        }
        Ok(bumped)
    }

    /// Tells the gateways `tenant`'s catalog changed: their cache keys carry its version.
    /// Returns at once; the publisher retries while Redis is unreachable (with Redis down there
    /// is no cache to invalidate either, and a gateway raises the version itself from the next
    /// answer).
    pub fn publish_catalog_version(&self, tenant: &Tenant, version: u64) {
        self.versions_to_publish.send_if_modified(|wanted| {
            let held = wanted.entry(tenant.clone()).or_default();
            let later = version > *held;
            if later {
                *held = version;
            }
            later
        });
    }
}

/// Publishes the catalog versions `wanted` receives until Redis takes each; ends with the
/// `Deps` that owns the sender.
async fn publish_catalog_versions(
    redis: RedisClient,
    config: RedisConfig,
    mut wanted: tokio::sync::watch::Receiver<BTreeMap<Tenant, u64>>,
) {
    let mut published: BTreeMap<Tenant, u64> = BTreeMap::new();
    while wanted.changed().await.is_ok() {
        let mut retry_in = Duration::from_millis(50);
        loop {
            let pending: Vec<(Tenant, u64)> = wanted
                .borrow_and_update()
                .iter()
                .filter(|(tenant, version)| published.get(*tenant) < Some(*version))
                .map(|(tenant, version)| (tenant.clone(), *version))
                .collect();
            let Some(failed) = publish(&redis, &config, pending, &mut published).await else {
                break;
            };
            metrics::counter!("recommender_version_publish_failures_total").increment(1);
            tracing::warn!(error = %failed, retry_in_ms = retry_in.as_millis(), "could not publish catalog versions to Redis; retrying");
            tokio::time::sleep(retry_in).await;
            retry_in = (retry_in * 2).min(Duration::from_secs(2));
        }
    }
}

/// Raises each tenant's published version; stops at the first failure and answers it.
async fn publish(
    redis: &RedisClient,
    config: &RedisConfig,
    pending: Vec<(Tenant, u64)>,
    published: &mut BTreeMap<Tenant, u64>,
) -> Option<fred::error::Error> {
    for (tenant, version) in pending {
        match config
            .raise_catalog_version(redis, tenant.as_str(), version)
            .await
        {
            Ok(held) => {
                tracing::debug!(%tenant, version, held, "catalog version published");
                published.insert(tenant, version);
            }
            Err(error) => return Some(error),
        }
    }
    None
}
