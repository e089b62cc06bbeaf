//! What every job shares: the job store, the recommender client, the topology and the retry
//! policy.

use aras_catalog::Pool;
use aras_jobs::JobsResult;
use aras_jobs::amqp::Topology;
use aras_jobs::backoff::Backoff;
use aras_proto::recommender::v1::recommender_client::RecommenderClient;
use tonic::transport::Channel;

use crate::config::WorkerConfig;

#[derive(Debug)]
pub struct Deps {
    pub pool: Pool,
    pub recommender: RecommenderClient<Channel>,
    pub topology: Topology,
    pub backoff: Backoff,
    pub config: WorkerConfig,
    migrated: tokio::sync::OnceCell<()>,
}

impl Deps {
    /// Clients only: nothing is contacted until the first session.
    pub fn new(config: WorkerConfig) -> anyhow::Result<Self> {
        let recommender = RecommenderClient::new(config.replicas.channel(
            &config.recommender_url,
            aras_proto::recommender::v1::recommender_server::SERVICE_NAME,
            config.rpc_timeout,
        )?);
        Ok(Self {
            pool: config.database.pool()?,
            recommender,
            topology: config.amqp.topology(),
            backoff: config.backoff(),
            migrated: tokio::sync::OnceCell::new(),
            config,
        })
    }

    /// Succeeds once Postgres answers with the job tables in place (created on first use).
    pub async fn database_ready(&self) -> JobsResult<()> {
        self.migrated
            // Boxed: creating and migrating the database is a large future, run once.
            .get_or_try_init(|| {
                Box::pin(async {
                    self.config.database.create_database_if_missing().await?;
                    aras_catalog::db::migrate(&self.pool).await?;
                    Ok::<_, aras_jobs::JobsError>(())
                })
            })
            .await?;
        self.pool.get().await?.simple_query("SELECT 1").await?;
        Ok(())
    }
}
