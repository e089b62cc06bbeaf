use aras_embedding::EmbeddingConfig;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = EmbeddingConfig::parse();
    let _telemetry = aras_common::telemetry::init("embedding", &config.telemetry)?;
    aras_embedding::run(config).await
}
