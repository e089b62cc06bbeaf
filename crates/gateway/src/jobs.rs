//! The gateway's side of async jobs: the job store (Postgres, its tables created on first use),
//! the publisher, and the outbox relay that publishes what the broker has not confirmed yet.
//!
//! Accepting a job is committing it: its row and its outbox row are stored together, then
//! published at once. When the broker is down the job is still accepted (202) and waits in the
//! outbox; the relay publishes it as soon as the broker is back. So a 202 is never lost, and
//! submissions keep working through a broker outage (docs/jobs.md says why this beats a 503).

use std::sync::Arc;
use std::time::Duration;

use aras_catalog::Pool;
use aras_domain::tenant::Tenant;
use aras_jobs::publish::{OUTBOX_BATCH, Publisher, outbox_len, publish_pending};
use aras_jobs::store::{self, IdempotencyKey, Origin, Submitted};
use aras_jobs::{Job, JobState, JobsResult, NewJob, TaskId};
use tokio::sync::watch;

use crate::config::GatewayConfig;
use crate::database::Database;
use crate::state::AppState;

pub struct Jobs {
    database: Arc<Database>,
    publisher: Publisher,
    pub max_batch: usize,
    pub idempotency_ttl: Duration,
}

/// A submission's tasks, and whether the broker has them already.
#[derive(Debug)]
pub struct Accepted {
    pub submitted: Submitted,
    /// False when the broker was unreachable: the jobs wait in the outbox.
    pub queued: bool,
}

impl Jobs {
    /// Clients only: Postgres and the broker are contacted on first use.
    pub fn new(config: &GatewayConfig, database: Arc<Database>) -> Self {
        Self {
            database,
            publisher: Publisher::new(&config.amqp, "gateway"),
            max_batch: config.jobs_max_batch,
            idempotency_ttl: config.idempotency_ttl,
        }
    }

    /// The pool, once the job tables exist.
    async fn pool(&self) -> JobsResult<&Pool> {
        Ok(self.database.pool().await?)
    }

    /// Stores `jobs` (all or none) and publishes them.
    pub async fn submit(
        &self,
        tenant: &Tenant,
        jobs: &[NewJob],
        origin: &Origin,
        key: Option<&IdempotencyKey>,
    ) -> JobsResult<Accepted> {
        let pool = self.pool().await?;
        let submitted = store::submit(pool, tenant.as_str(), jobs, origin, key).await?;
        if submitted.replayed {
            return Ok(Accepted {
                submitted,
                queued: true,
            });
        }
        metrics::counter!("gateway_jobs_submitted_total").increment(jobs.len() as u64);
        let queued = match publish_pending(pool, &self.publisher, Some(&submitted.ids)).await {
            Ok(published) => {
                metrics::counter!("gateway_jobs_published_total", "path" => "inline")
                    .increment(published as u64);
                // Fewer: the relay held some rows meanwhile, and publishes them (or keeps them
                // until the broker is back).
                published == submitted.ids.len()
            }
            Err(error) => {
                tracing::warn!(%error, jobs = jobs.len(), "broker unavailable: the jobs wait in the outbox");
                false
            }
        };
        Ok(Accepted { submitted, queued })
    }

    /// The tenant's task `id` (another tenant's is `None`, as if it did not exist).
    pub async fn get(&self, tenant: &Tenant, id: TaskId) -> JobsResult<Option<Job>> {
        store::get(self.pool().await?, tenant.as_str(), id).await
    }

    /// The tenant's jobs per state.
    pub async fn count_by_state(&self, tenant: &Tenant) -> JobsResult<Vec<(JobState, u64)>> {
        store::count_by_state(self.pool().await?, tenant.as_str()).await
    }

    /// Whether the job store answers (health report).
    pub async fn check_store(&self) -> JobsResult<()> {
        self.pool()
            .await?
            .get()
            .await?
            .simple_query("SELECT 1")
            .await?;
        Ok(())
    }

    /// Whether the broker accepts a connection (health report).
    pub async fn check_broker(&self) -> JobsResult<()> {
        self.publisher.check().await
    }

    /// One relay pass: publishes the outbox until it is empty or the broker fails.
    async fn relay_once(&self) -> JobsResult<usize> {
        let pool = self.pool().await?;
        let mut total = 0;
        loop {
            let published = publish_pending(pool, &self.publisher, None).await?;
            total += published;
            if published < usize::try_from(OUTBOX_BATCH).unwrap_or(usize::MAX) {
                break;
            }
        }
        metrics::gauge!("gateway_jobs_outbox_pending").set(outbox_len(pool).await? as f64);
        Ok(total)
    }
}

/// Passes of the relay between two purges of expired idempotency keys.
const PURGE_EVERY: u32 = 60;

/// Publishes the outbox every `interval` until `stop` turns true.
pub async fn relay(state: AppState, interval: Duration, mut stop: watch::Receiver<bool>) {
    let jobs = &state.jobs;
    let mut passes = 0_u32;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        match jobs.relay_once().await {
            Ok(0) => {}
            Ok(published) => {
                metrics::counter!("gateway_jobs_published_total", "path" => "relay")
                    .increment(published as u64);
                tracing::info!(published, "outbox relayed to the broker");
            }
            Err(error) => tracing::debug!(%error, "outbox relay pass failed; next pass soon"),
        }
        passes = passes.wrapping_add(1);
        if passes.is_multiple_of(PURGE_EVERY)
            && let Ok(pool) = jobs.pool().await
            && let Err(error) = store::purge_idempotency_keys(pool, jobs.idempotency_ttl).await
        {
            tracing::debug!(%error, "purging expired idempotency keys failed");
        }
    }
}
