//! The embedding gRPC service (`aras.embedding.v1.Embedding`): sentence vectors from a
//! sentence-transformer, with the query/passage prefixes its manifest entry declares.
//!
//! Layout:
//! - [`config`]: settings from flags and `ARAS_*` variables.
//! - `service`: the RPC handlers: validation, prefixes, batching, normalisation.
//!
//! Model loading, batching and the error → status mapping are `aras_inference`'s.

pub mod config;
mod service;

use std::future::Future;
use std::sync::Arc;

use aras_inference::manifest::Task;
use aras_inference::service::{load_engine, serve_with_model};
use aras_proto::embedding::v1::embedding_server::{EmbeddingServer, SERVICE_NAME};
use tokio::net::TcpListener;

pub use config::EmbeddingConfig;

/// Serves the embedding service on `listener` until `shutdown` resolves. The port answers at
/// once; health is NOT_SERVING until the model is loaded and warm.
pub async fn serve(
    config: EmbeddingConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health, mut routes) = aras_common::grpc::base_routes(&[SERVICE_NAME]);
    let slot = Arc::default();
    let service = service::EmbeddingService::new(Arc::clone(&slot), config.inference.clone());
    routes.add_service(EmbeddingServer::new(service));
    tracing::info!(addr = %listener.local_addr()?, model = %config.model, "embedding service listening");
    let load = load_engine(
        &config.inference,
        &config.model,
        Task::Embedding,
        "embedding",
    );
    serve_with_model(
        "embedding",
        listener,
        health,
        SERVICE_NAME,
        routes,
        slot,
        load,
        shutdown,
    )
    .await
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(config: EmbeddingConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await
}
