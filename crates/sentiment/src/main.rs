use aras_sentiment::SentimentConfig;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = SentimentConfig::parse();
    let _telemetry = aras_common::telemetry::init("sentiment", &config.telemetry)?;
    aras_sentiment::run(config).await
}
