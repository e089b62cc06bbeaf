//! The courier-ranking service (`aras.ranking.v1.Ranking`) and the live couriers it owns
//! (`aras.ranking.v1.Fleet`): validates a ranking request, runs the pure
//! [`aras_ranking_core`] rules over the given candidates or over the tenant's live couriers,
//! and answers with the ranking and its explanation.
//!
//! It owns the fleet's Redis keys (`{fleet}:*`: profiles, positions, the change log) and, per
//! replica, an in-memory index of every tenant's couriers that follows the change log.
//!
//! Layout:
//! - [`config`]: settings from flags and `ARAS_RANKING_*` / `ARAS_FLEET_*` variables.
//! - `service`: the `RankCouriers` handler.
//! - `fleet_service`: the Fleet handlers (register, read, report positions, go offline).
//! - `fleet`: the Redis record and change log, and the indexes that follow it.
//! - `convert`: proto ⇄ domain conversions (all validation happens here, at the boundary).
//! - `error`: the crate's error enum and its one mapping to `tonic::Status`.

pub mod config;
mod convert;
mod error;
mod fleet;
mod fleet_service;
mod service;

use std::future::Future;

use aras_proto::ranking::v1::fleet_server::{self, FleetServer};
use aras_proto::ranking::v1::ranking_server::{self, RankingServer};
use tokio::net::TcpListener;

pub use config::{FleetConfig, RankingConfig};
pub use error::RankingServiceError;

/// The name under which the service reports its gRPC health.
pub const SERVICE_NAME: &str = ranking_server::SERVICE_NAME;
/// The live couriers' service: SERVING only while this replica's index follows Redis.
pub const FLEET_SERVICE_NAME: &str = fleet_server::SERVICE_NAME;

/// Serves the ranking service on `listener` until `shutdown` resolves.
///
/// Live couriers load from Redis first: `aras.ranking.v1.Ranking` reports SERVING once that
/// first load has finished, well or not (given candidates need no Redis), so a replica that
/// starts takes no live ranking before it knows the fleet.
pub async fn serve(
    config: RankingConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health, mut routes) = aras_common::grpc::base_routes(&[SERVICE_NAME, FLEET_SERVICE_NAME]);
    // The recorder first: the fleet's task registers its metrics as it starts.
    aras_common::metrics::handle();
    let fleet = fleet::Fleet::connect(config.fleet.clone())?;
    health
        .set_not_serving::<FleetServer<fleet_service::FleetService>>()
        .await;
    let (first_sync, synced) = tokio::sync::oneshot::channel();
    let follower = tokio::spawn(fleet::follow(
        std::sync::Arc::clone(&fleet),
        health.clone(),
        first_sync,
    ));
    let stop_follower = follower.abort_handle();
    // The follower runs as long as the service; if it ever ends (a bug: it panicked), live
    // dispatch must say so rather than serve an index nobody updates.
    let watched = std::sync::Arc::clone(&fleet);
    let fleet_health = health.clone();
    let watcher = tokio::spawn(async move {
        if let Err(error) = follower.await
            && error.is_panic()
        {
            tracing::error!(%error, "the fleet follower panicked: live dispatch is off");
            fleet::set_in_sync(&watched, &fleet_health, false).await;
        }
    });
    routes
        .add_service(
            RankingServer::new(service::RankingService::new(
                &config,
                std::sync::Arc::clone(&fleet),
            ))
            .max_decoding_message_size(config.max_message_bytes),
        )
        .add_service(
            FleetServer::new(fleet_service::FleetService::new(fleet))
                .max_decoding_message_size(config.max_message_bytes),
        );
    let ranking_health = health.clone();
    tokio::spawn(async move {
        if synced.await.is_ok() {
            ranking_health
                .set_serving::<RankingServer<service::RankingService>>()
                .await;
        }
    });
    tracing::info!(addr = %listener.local_addr()?, "ranking service listening");
    let served = aras_common::grpc::serve("ranking", listener, routes.routes(), shutdown).await;
    stop_follower.abort();
    watcher.abort();
    served?;
    Ok(())
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(config: RankingConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await
}
