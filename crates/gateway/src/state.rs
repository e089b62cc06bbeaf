//! State shared by the handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aras_proto::ranking::v1::ranking_client::RankingClient;
use tonic::transport::Channel;

use crate::config::GatewayConfig;

/// A backend service the gateway depends on, checked by the health endpoints.
pub struct Dependency {
    /// Name in health reports (`ranking`).
    pub name: &'static str,
    /// The gRPC service name its `grpc.health.v1` reports on.
    pub grpc_service: &'static str,
    pub channel: Channel,
}

pub struct Inner {
    pub ranking: RankingClient<Channel>,
    pub dependencies: Vec<Dependency>,
    pub grpc_timeout: Duration,
    pub health_timeout: Duration,
    pub started: Instant,
}

/// Cheap to clone: handlers get an `Arc`.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds lazy channels: the gateway starts even while a service is down, and readiness
    /// says so.
    pub fn connect(config: &GatewayConfig) -> anyhow::Result<Self> {
        let ranking_channel =
            aras_common::grpc::lazy_channel(&config.ranking_url, config.grpc_timeout)?;
        Ok(Self(Arc::new(Inner {
            ranking: RankingClient::new(ranking_channel.clone()),
            dependencies: vec![Dependency {
                name: "ranking",
                grpc_service: aras_proto::ranking::v1::ranking_server::SERVICE_NAME,
                channel: ranking_channel,
            }],
            grpc_timeout: config.grpc_timeout,
            health_timeout: config.health_timeout,
            started: Instant::now(),
        })))
    }
}
