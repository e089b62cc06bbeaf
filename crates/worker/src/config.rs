//! Worker settings.

use std::net::SocketAddr;
use std::time::Duration;

use aras_catalog::DatabaseConfig;
use aras_common::telemetry::TelemetryConfig;
use aras_jobs::amqp::AmqpConfig;
use aras_jobs::backoff::Backoff;

/// Settings of the worker; every field has a flag, an `ARAS_*` variable and a default.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "aras-worker",
    about = "ARAS worker: runs async recommendation jobs"
)]
pub struct WorkerConfig {
    /// Address of the worker's gRPC health, reflection and /metrics.
    #[arg(long, env = "ARAS_WORKER_ADDR", default_value = "127.0.0.1:50055")]
    pub listen_addr: SocketAddr,

    /// URL(s) of the recommender service; comma-separated for several replicas.
    #[arg(
        long,
        env = "ARAS_RECOMMENDER_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub recommender_url: String,

    /// How the replicas behind each URL list are found and checked.
    #[command(flatten)]
    pub replicas: aras_common::replicas::ReplicaConfig,

    /// Deadline of each call to the recommender.
    #[arg(long, env = "ARAS_WORKER_RPC_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub rpc_timeout: Duration,

    /// Where jobs are stored.
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Where jobs are queued.
    #[command(flatten)]
    pub amqp: AmqpConfig,

    /// Jobs a worker holds at once (the AMQP prefetch); they run concurrently. 32 matches the
    /// inference services' largest batch: fewer leaves their batches (and the cores) half used.
    #[arg(long, env = "ARAS_WORKER_PREFETCH", default_value_t = 32)]
    pub prefetch: u16,

    /// Delay before the first retry of a transiently failed job; each retry doubles it.
    #[arg(long, env = "ARAS_JOB_RETRY_BASE", default_value = "1s", value_parser = humantime::parse_duration)]
    pub retry_base: Duration,

    /// Longest delay between two tries of a job.
    #[arg(long, env = "ARAS_JOB_RETRY_CAP", default_value = "600s", value_parser = humantime::parse_duration)]
    pub retry_cap: Duration,

    /// On SIGTERM, how long running jobs may take to finish before they go back to the queue.
    #[arg(long, env = "ARAS_WORKER_DRAIN_TIMEOUT", default_value = "25s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,

    #[command(flatten)]
    pub telemetry: TelemetryConfig,
}

impl WorkerConfig {
    /// Defaults, listening on an ephemeral loopback port; tests set the URLs and names.
    pub fn for_tests() -> Self {
        <Self as clap::Parser>::parse_from(["aras-worker", "--listen-addr", "127.0.0.1:0"])
    }

    pub fn backoff(&self) -> Backoff {
        Backoff {
            base: self.retry_base,
            cap: self.retry_cap,
        }
    }
}
