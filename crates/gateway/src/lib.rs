//! The ARAS gateway: the public REST API (JSON, French field names as in the seed contract),
//! translated into gRPC calls on the services. It owns correlation ids, problem+json errors,
//! health aggregation, HTTP metrics and the OpenAPI document.
//!
//! Layout:
//! - [`config`]: settings from flags and `ARAS_*` variables.
//! - `state`: the shared state: gRPC clients, the cache and the dependency list for health checks.
//! - `cache`: the Redis recommendation cache, keyed by the catalog version.
//! - `error`: [`ApiError`], the one mapping of every failure to problem+json.
//! - `extract`: the JSON body extractor whose rejections are problem+json too.
//! - `observe`: per-request correlation id, span, access log and metrics.
//! - `routes`: one module per route group (`livreurs`, `sentiment`, `embeddings`,
//!   `recommendations`, `vehicles`, `health`).
//! - `openapi`: the OpenAPI 3.1 document and the offline Swagger UI.

mod cache;
pub mod config;
mod error;
mod extract;
mod observe;
mod openapi;
mod routes;
mod state;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;

pub use config::GatewayConfig;
pub use error::ApiError;
use state::AppState;

/// The whole HTTP application for `config`.
pub fn app(config: &GatewayConfig) -> anyhow::Result<Router> {
    let state = AppState::connect(config)?;
    let (api, openapi) = routes::router().split_for_parts();
    Ok(api
        .merge(openapi::docs(openapi))
        .merge(aras_common::metrics::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn(observe::observe_request))
        .with_state(state))
}

/// Serves the gateway on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = app(&config)?;
    tracing::info!(
        addr = %listener.local_addr()?,
        ranking = %config.ranking_url,
        sentiment = %config.sentiment_url,
        embedding = %config.embedding_url,
        recommender = %config.recommender_url,
        "gateway listening"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(config: GatewayConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await
}
