//! Re-indexing runs started over the API: one tenant's catalog, its progress, how it ended.
//!
//! A run belongs to the recommender replica that started it; it moves `updated_at` with each
//! batch. One that has not moved for [`STALLED_AFTER`] died with its replica (a crash, a
//! redeploy): it is recorded as failed the next time runs are read or started, so the tenant can
//! start another.

use std::time::{Duration, SystemTime};

use aras_domain::tenant::Tenant;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::{CatalogError, CatalogResult, Pool};

/// How long a run may go without progress before it counts as dead. A batch is embedded in
/// seconds; minutes without one mean nobody is running it.
pub const STALLED_AFTER: Duration = Duration::from_mins(2);

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Started,
    Success,
    Failure,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
        }
    }

    fn parse(text: &str) -> CatalogResult<Self> {
        match text {
            "STARTED" => Ok(Self::Started),
            "SUCCESS" => Ok(Self::Success),
            "FAILURE" => Ok(Self::Failure),
            other => Err(CatalogError::Internal(format!(
                "index run in an unknown state {other:?}"
            ))),
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRun {
    pub id: Uuid,
    pub tenant: String,
    pub state: RunState,
    pub full: bool,
    pub indexed: u64,
    /// `None` until the run has counted what it has to index.
    pub total: Option<u64>,
    pub error: Option<String>,
    pub started_at: SystemTime,
    pub finished_at: Option<SystemTime>,
}

const COLUMNS: &str =
    "id, tenant, state, full_reindex, indexed, total, error, started_at, finished_at";

fn run(row: &Row) -> CatalogResult<IndexRun> {
    let count = |value: i64| value.unsigned_abs();
    Ok(IndexRun {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        state: RunState::parse(row.try_get("state")?)?,
        full: row.try_get("full_reindex")?,
        indexed: count(row.try_get("indexed")?),
        total: row.try_get::<_, Option<i64>>("total")?.map(count),
        error: row.try_get("error")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Records the runs that stopped moving as failed.
async fn fail_stalled(client: &tokio_postgres::Client) -> CatalogResult<()> {
    let failed = client
        .execute(
            "UPDATE index_runs SET state = 'FAILURE', finished_at = now(),
                    error = 'the recommender running it stopped; start another run'
             WHERE state = 'STARTED' AND updated_at < now() - make_interval(secs => $1)",
            &[&STALLED_AFTER.as_secs_f64()],
        )
        .await?;
    if failed > 0 {
        tracing::warn!(failed, "index runs stalled and were recorded as failed");
    }
    Ok(())
}

/// Records a new run of `tenant`; `Conflict` when the tenant has one running.
pub async fn start(
    pool: &Pool,
    tenant: &Tenant,
    full: bool,
    correlation_id: &str,
) -> CatalogResult<IndexRun> {
    let client = pool.get().await?;
    fail_stalled(&client).await?;
    let row = client
        .query_one(
            &format!(
                "INSERT INTO index_runs (id, tenant, full_reindex, correlation_id)
                 VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
            ),
            &[&Uuid::new_v4(), &tenant.as_str(), &full, &correlation_id],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                CatalogError::Conflict(format!(
                    "tenant {tenant} already has an indexing run in progress"
                ))
            } else {
                e.into()
            }
        })?;
    run(&row)
}

/// Records a running run's progress (which also shows it is alive).
pub async fn progress(pool: &Pool, id: Uuid, indexed: u64, total: u64) -> CatalogResult<()> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE index_runs SET indexed = $2, total = $3, updated_at = now()
             WHERE id = $1 AND state = 'STARTED'",
            &[&id, &as_bigint(indexed), &as_bigint(total)],
        )
        .await?;
    Ok(())
}

/// Records that a running run is alive.
pub async fn heartbeat(pool: &Pool, id: Uuid) -> CatalogResult<()> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE index_runs SET updated_at = now() WHERE id = $1 AND state = 'STARTED'",
            &[&id],
        )
        .await?;
    Ok(())
}

/// Records how a run ended: `Ok` or the reason it failed.
pub async fn finish(pool: &Pool, id: Uuid, outcome: Result<(), &str>) -> CatalogResult<()> {
    let client = pool.get().await?;
    let (state, error) = match outcome {
        Ok(()) => (RunState::Success, None),
        Err(reason) => (RunState::Failure, Some(reason)),
    };
    client
        .execute(
            "UPDATE index_runs SET state = $2, error = $3, finished_at = now(), updated_at = now()
             WHERE id = $1 AND state = 'STARTED'",
            &[&id, &state.as_str(), &error],
        )
        .await?;
    Ok(())
}

/// One of `tenant`'s runs (another tenant's is `None`).
pub async fn get(pool: &Pool, tenant: &Tenant, id: Uuid) -> CatalogResult<Option<IndexRun>> {
    let client = pool.get().await?;
    fail_stalled(&client).await?;
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM index_runs WHERE id = $1 AND tenant = $2"),
            &[&id, &tenant.as_str()],
        )
        .await?
        .as_ref()
        .map(run)
        .transpose()
}

fn as_bigint(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
