//! The ARAS worker: consumes async recommendation jobs from RabbitMQ, runs each on the
//! recommender over gRPC, and records its outcome in Postgres. docs/jobs.md tells the whole
//! path; `aras-jobs` holds what the worker shares with the gateway.
//!
//! Layout:
//! - [`config`]: settings from flags and `ARAS_*` variables.
//! - `deps`: what every job shares (job store, recommender client, topology, retry policy).
//! - [`process`]: [`process_one`], one delivery to its [`Outcome`] (tests drive it directly).
//! - `consume`: the consuming session and the supervisor that reopens it after a failure.
//!
//! Health (`grpc.health.v1`, service [`HEALTH_SERVICE`]) is SERVING while the worker consumes;
//! reflection and `/metrics` share its port.

pub mod config;
mod consume;
mod deps;
pub mod process;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic_health::ServingStatus;

pub use config::WorkerConfig;
pub use deps::Deps;
pub use process::{Outcome, process_one};

/// The name the worker reports its health under (it serves no RPC of its own).
pub const HEALTH_SERVICE: &str = "aras.worker.v1.Worker";

/// Consumes jobs, and serves health and `/metrics` on `listener`, until `shutdown` resolves;
/// then stops consuming, lets running jobs finish (within the drain timeout; the rest go back to
/// the queue) and returns.
pub async fn serve(
    config: WorkerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let deps = Arc::new(Deps::new(config)?);
    let (health, routes) = aras_common::grpc::base_routes(&[]);
    health
        .set_service_status(HEALTH_SERVICE, ServingStatus::NotServing)
        .await;
    tracing::info!(
        addr = %listener.local_addr()?,
        amqp = %aras_jobs::amqp::redact(&deps.config.amqp.url),
        queue = %deps.topology.queue(),
        recommender = %deps.config.recommender_url,
        "worker listening"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut server_stopped = stopped.clone();
    let server = tokio::spawn(aras_common::grpc::serve(
        "worker",
        listener,
        routes.routes(),
        async move {
            let _ = server_stopped.wait_for(|stop| *stop).await;
        },
    ));
    let consumer = tokio::spawn(consume::supervise(Arc::clone(&deps), health, stopped));
    shutdown.await;
    // Health answers NOT_SERVING while the jobs drain; the port closes last.
    let _ = stop.send(true);
    consumer.await?;
    server.await??;
    Ok(())
}

/// Binds the configured address and works until SIGTERM or Ctrl-C.
pub async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await
}
