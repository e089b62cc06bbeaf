use aras_ranking::RankingConfig;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = RankingConfig::parse();
    let _telemetry = aras_common::telemetry::init("ranking", &config.telemetry)?;
    aras_ranking::run(config).await
}
