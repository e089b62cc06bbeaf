use aras_gateway::GatewayConfig;
use clap::Parser as _;

// Every request allocates (headers, JSON, protobuf, spans): under load glibc's allocator was the
// gateway's largest user-space cost (docs/BENCHMARKS.md, "The edge through make up").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = GatewayConfig::parse();
    let _telemetry = aras_common::telemetry::init("gateway", &config.telemetry)?;
    aras_gateway::run(config).await
}
