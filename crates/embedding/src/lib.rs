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

use aras_inference::manifest::Task;
use aras_inference::service::ServiceKind;
use aras_proto::embedding::v1::embedding_server::{EmbeddingServer, SERVICE_NAME};
use tokio::net::TcpListener;

pub use config::EmbeddingConfig;

/// What the shared inference serving needs to know of this service.
const KIND: ServiceKind = ServiceKind {
    name: "embedding",
    task: Task::Embedding,
    grpc_service: SERVICE_NAME,
};

/// Serves the embedding service on `listener` until `shutdown` resolves. The port answers at
/// once; health is NOT_SERVING until the model is loaded and warm.
pub async fn serve(
    config: EmbeddingConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let inference = config.inference.clone();
    aras_inference::service::serve(
        KIND,
        &config.model,
        &config.inference,
        listener,
        shutdown,
        |routes, slot| {
            routes.add_service(EmbeddingServer::new(service::EmbeddingService::new(
                slot, inference,
            )));
        },
    )
    .await
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(config: EmbeddingConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await
}
