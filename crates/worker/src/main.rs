use aras_worker::WorkerConfig;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = WorkerConfig::parse();
    let _telemetry = aras_common::telemetry::init("worker", &config.telemetry)?;
    aras_worker::run(config).await
}
