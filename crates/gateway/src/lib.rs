//! The ARAS gateway: the public REST API (JSON, French field names as in the seed contract),
//! translated into gRPC calls on the services. It owns correlation ids, problem+json errors,
//! health aggregation, HTTP metrics and the OpenAPI document.
//!
//! Layout:
//! - [`config`]: settings from flags and `ARAS_*` variables.
//! - `state`: the shared state: gRPC clients (balanced over replicas, behind an admission
//!   limit), the cache, the rate limiter and the dependency list for health checks.
//! - `cache`: the Redis recommendation cache, keyed by the catalog version.
//! - `jobs`: async jobs: the job store, the publisher and the outbox relay.
//! - `error`: [`ApiError`], the one mapping of every failure to problem+json.
//! - `extract`: the JSON body extractor whose rejections are problem+json too; `strict`: the
//!   deserializer adapter it uses, so a struct is read only from a JSON object.
//! - `observe`: per-request correlation id, span, access log and metrics.
//! - `auth`: who calls (access token, API key, or development's anonymous demo admin) and
//!   whether their role may; `database`: the gateway's Postgres (credentials, jobs).
//! - `client`: the client's address (behind trusted proxies only, from their headers).
//! - `throttle`: failed authentications per client address and per email, in Redis.
//! - `ratelimit`: rate limits per principal (per client address without one), in Redis.
//! - `security`: security headers on every response, CORS only for configured origins.
//! - `routes`: one module per route group (`auth`, `livreurs`, `sentiment`, `embeddings`,
//!   `recommendations`, `tasks`, `vehicles`, `health`).
//! - `openapi`: the OpenAPI 3.1 document and the offline Swagger UI; `schema`: the schema
//!   pieces and response sets its operations share.
//! - `console`: the web console at `/` (embedded HTML, CSS and JavaScript over the API).

mod auth;
mod cache;
mod client;
pub mod config;
mod console;
mod database;
mod error;
mod extract;
mod jobs;
mod observe;
mod openapi;
mod ratelimit;
mod routes;
mod schema;
mod security;
mod state;
mod strict;
mod throttle;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use http::HeaderName;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use config::GatewayConfig;
pub use error::ApiError;
use state::AppState;

const CORRELATION_HEADER: HeaderName = HeaderName::from_static(aras_common::correlation::HEADER);

/// The whole HTTP application for `config`, and its state.
fn app(config: &GatewayConfig) -> anyhow::Result<(Router, AppState)> {
    let state = AppState::connect(config)?;
    let (api, mut openapi) = routes::router().split_for_parts();
    openapi::secure(&mut openapi, config.auth.environment);
    let router = api
        .merge(openapi::docs(openapi))
        .merge(console::router())
        .merge(aras_common::metrics::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        // Outermost last: a malformed id is dropped, an id set (the caller's or a new UUID) and
        // echoed, the request run in its span with an access log line, observed, its client
        // address found, authenticated, then limited (per principal, so after authentication).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client::identify,
        ))
        .layer(axum::middleware::from_fn(observe::observe_request))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(observe::span)
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                // Failures are logged once, where they are turned into problem+json.
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(CORRELATION_HEADER))
        .layer(SetRequestIdLayer::new(CORRELATION_HEADER, MakeRequestUuid))
        .layer(axum::middleware::map_request(
            observe::drop_malformed_correlation_id,
        ))
        .layer(tower::util::option_layer(security::cors(
            &config.cors_allowed_origins,
        )?));
    let router = security::with_headers(router).with_state(state.clone());
    Ok((router, state))
}

/// Serves the gateway on `listener` until `shutdown` resolves, then drains in-flight requests
/// and stops the outbox relay.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (app, state) = app(&config)?;
    tracing::info!(
        addr = %listener.local_addr()?,
        ranking = %config.ranking_url,
        sentiment = %config.sentiment_url,
        embedding = %config.embedding_url,
        recommender = %config.recommender_url,
        amqp = %aras_jobs::amqp::redact(&config.amqp.url),
        "gateway listening"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(jobs::relay(state, config.outbox_interval, stopped));
    // The peer address keys the rate limits.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop.send(true);
    })
    .await?;
    relay.await?;
    Ok(())
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(config: GatewayConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await
}
