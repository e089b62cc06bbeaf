//! What the handlers share: the catalog pool, the vector store (once open), the clients of the
//! sentiment and embedding services, and the Redis client that publishes the catalog version.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aras_catalog::Pool;
use aras_common::correlation::CorrelationId;
use aras_common::grpc;
use aras_common::redis::{CATALOG_VERSION_KEY, RedisConfig};
use aras_proto::embedding::v1::embedding_client::EmbeddingClient;
use aras_proto::embedding::v1::{EmbedRequest, InfoRequest, InputType};
use aras_proto::sentiment::v1::sentiment_client::SentimentClient;
use aras_proto::sentiment::v1::{AnalyzeRequest, AnalyzeResponse};
use aras_vector_store::VectorStore;
use fred::prelude::{Client as RedisClient, KeysInterface as _};
use tonic::transport::Channel;

use crate::RecommenderConfig;
use crate::error::RecommenderError;

#[derive(Debug)]
pub(crate) struct Deps {
    pub pool: Pool,
    store: OnceLock<Arc<dyn VectorStore>>,
    sentiment: SentimentClient<Channel>,
    embedding: EmbeddingClient<Channel>,
    redis: RedisClient,
    redis_config: RedisConfig,
    pub config: RecommenderConfig,
    /// Held by the indexing run, so two never interleave.
    pub indexing: tokio::sync::Mutex<()>,
}

impl Deps {
    pub fn new(config: RecommenderConfig, pool: Pool) -> anyhow::Result<Self> {
        let sentiment = SentimentClient::new(grpc::lazy_channel(
            &config.sentiment_url,
            config.rpc_timeout,
        )?);
        let embedding = EmbeddingClient::new(grpc::lazy_channel(
            &config.embedding_url,
            config.rpc_timeout,
        )?);
        let redis_config = config.redis.clone();
        let redis = redis_config.connect()?;
        Ok(Self {
            pool,
            store: OnceLock::new(),
            sentiment,
            embedding,
            redis,
            redis_config,
            config,
            indexing: tokio::sync::Mutex::new(()),
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

    pub async fn analyze(
        &self,
        text: &str,
        correlation_id: &CorrelationId,
    ) -> Result<AnalyzeResponse, RecommenderError> {
        let request = grpc::request(
            AnalyzeRequest {
                text: text.to_owned(),
            },
            correlation_id,
            self.config.rpc_timeout,
        );
        let response = self.sentiment.clone().analyze(request).await;
        response
            .map(tonic::Response::into_inner)
            .map_err(|status| RecommenderError::from_dependency("sentiment", &status))
    }

    /// Unit-length vectors of `texts`, embedded as `input_type`.
    pub async fn embed(
        &self,
        texts: Vec<String>,
        input_type: InputType,
        correlation_id: &CorrelationId,
    ) -> Result<Vec<Vec<f32>>, RecommenderError> {
        let message = EmbedRequest {
            texts,
            normalize: true,
            input_type: input_type.into(),
        };
        let request = grpc::request(message, correlation_id, self.config.rpc_timeout);
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

    /// Tells the gateways the catalog changed: their cache keys carry this version. Best effort:
    /// with Redis down there is no cache to invalidate either.
    pub async fn publish_catalog_version(&self, version: u64) {
        let key = self.redis_config.key(CATALOG_VERSION_KEY);
        let result: Result<(), _> = self.redis.set(&key, version, None, None, false).await;
        if let Err(error) = result {
            tracing::warn!(%error, version, "could not publish the catalog version to Redis");
        }
    }
}
