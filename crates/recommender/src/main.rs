use aras_recommender::RecommenderConfig;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = RecommenderConfig::parse();
    let _telemetry = aras_common::telemetry::init("recommender", &config.telemetry)?;
    aras_recommender::run(config).await
}
