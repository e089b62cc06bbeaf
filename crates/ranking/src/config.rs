//! Ranking service settings.

use std::net::SocketAddr;

use aras_common::telemetry::TelemetryConfig;

/// Settings of the ranking service; every field has a flag, an `ARAS_*` variable and a default.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "aras-ranking", about = "ARAS courier-ranking gRPC service")]
pub struct RankingConfig {
    /// Address the gRPC server (and /metrics) listens on.
    #[arg(long, env = "ARAS_RANKING_ADDR", default_value = "127.0.0.1:50054")]
    pub listen_addr: SocketAddr,

    /// Most candidate couriers accepted in one request.
    #[arg(long, env = "ARAS_RANKING_MAX_CANDIDATES", default_value_t = 10_000)]
    pub max_candidates: usize,

    /// Largest gRPC request accepted, in bytes.
    #[arg(long, env = "ARAS_RANKING_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_message_bytes: usize,

    #[command(flatten)]
    pub telemetry: TelemetryConfig,
}

impl RankingConfig {
    /// Defaults, listening on an ephemeral loopback port (tests, the dev runner).
    pub fn for_tests() -> Self {
        <Self as clap::Parser>::parse_from(["aras-ranking", "--listen-addr", "127.0.0.1:0"])
    }
}
