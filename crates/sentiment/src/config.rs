//! Sentiment service settings.

use std::net::SocketAddr;

use aras_common::telemetry::TelemetryConfig;
use aras_inference::InferenceConfig;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "aras-sentiment", about = "ARAS sentiment gRPC service")]
pub struct SentimentConfig {
    /// Address the gRPC server (and /metrics) listens on.
    #[arg(long, env = "ARAS_SENTIMENT_ADDR", default_value = "127.0.0.1:50051")]
    pub listen_addr: SocketAddr,

    /// Model id in models/models.toml.
    #[arg(
        long,
        env = "ARAS_SENTIMENT_MODEL",
        default_value = "e5-small-sentiment-fr-en"
    )]
    pub model: String,

    #[command(flatten)]
    pub inference: InferenceConfig,

    #[command(flatten)]
    pub telemetry: TelemetryConfig,
}

impl SentimentConfig {
    /// Defaults on an ephemeral loopback port, with models from `models_dir`.
    pub fn for_tests(models_dir: &std::path::Path) -> Self {
        let mut config =
            <Self as clap::Parser>::parse_from(["aras-sentiment", "--listen-addr", "127.0.0.1:0"]);
        models_dir.clone_into(&mut config.inference.models_dir);
        config
    }
}
