use aras_gateway::GatewayConfig;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = GatewayConfig::parse();
    let _telemetry = aras_common::telemetry::init("gateway", &config.telemetry)?;
    aras_gateway::run(config).await
}
