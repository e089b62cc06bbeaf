//! The sentiment gRPC service (`aras.sentiment.v1.Sentiment`): scores review texts with a
//! transformer classifier, mapping its class probabilities to a score in [-1, 1] by the labels
//! its `config.json` declares.
//!
//! Layout:
//! - [`config`]: settings from flags and `ARAS_*` variables.
//! - `service`: the RPC handlers: validation, tokenisation, batching, scoring.
//!
//! Model loading, batching and the error → status mapping are `aras_inference`'s.

pub mod config;
mod service;

use std::future::Future;

use aras_inference::manifest::Task;
use aras_inference::service::ServiceKind;
use aras_proto::sentiment::v1::sentiment_server::{SERVICE_NAME, SentimentServer};
use tokio::net::TcpListener;

pub use config::SentimentConfig;

/// What the shared inference serving needs to know of this service.
const KIND: ServiceKind = ServiceKind {
    name: "sentiment",
    task: Task::Sentiment,
    grpc_service: SERVICE_NAME,
};

/// Serves the sentiment service on `listener` until `shutdown` resolves. The port answers at
/// once; health is NOT_SERVING until the model is loaded and warm.
pub async fn serve(
    config: SentimentConfig,
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
            routes.add_service(SentimentServer::new(service::SentimentService::new(
                slot, inference,
            )));
        },
    )
    .await
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(config: SentimentConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await
}
