//! The courier-ranking gRPC service (`aras.ranking.v1.Ranking`): validates a ranking request,
//! runs the pure [`aras_ranking_core::rank`] and answers with the ranking and its explanation.
//!
//! Layout:
//! - [`config`]: settings from flags and `ARAS_RANKING_*` variables.
//! - `service`: the RPC handler.
//! - `convert`: proto ⇄ domain conversions (all validation happens here, at the boundary).
//! - `error`: the crate's error enum and its one mapping to `tonic::Status`.

pub mod config;
mod convert;
mod error;
mod service;

use std::future::Future;

use aras_proto::ranking::v1::ranking_server::RankingServer;
use tokio::net::TcpListener;

pub use config::RankingConfig;
pub use error::RankingServiceError;

/// The name under which the service reports its gRPC health.
pub const SERVICE_NAME: &str = "aras.ranking.v1.Ranking";

/// Serves the ranking service on `listener` until `shutdown` resolves.
pub async fn serve(
    config: RankingConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (health, mut routes) = aras_common::grpc::base_routes(&[SERVICE_NAME]);
    routes.add_service(
        RankingServer::new(service::RankingService::new(&config))
            .max_decoding_message_size(config.max_message_bytes),
    );
    // Pure computation with nothing to load: ready as soon as it listens.
    health
        .set_serving::<RankingServer<service::RankingService>>()
        .await;
    tracing::info!(addr = %listener.local_addr()?, "ranking service listening");
    aras_common::grpc::serve("ranking", listener, routes.routes(), shutdown).await
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(config: RankingConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await?;
    Ok(())
}
