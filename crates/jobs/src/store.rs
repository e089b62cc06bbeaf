//! Jobs in Postgres: submission (job rows, outbox rows and the idempotency key in one
//! transaction), reads, and the worker's state transitions. Every transition is conditional on
//! the state it leaves, so a late or duplicated message never moves a job backwards, and the
//! database refuses any change to a terminal job (migration V2's trigger).

use std::time::{Duration, SystemTime};

use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{JobsError, JobsResult};
use crate::model::{Job, JobError, JobState, NewJob, TaskId};
use aras_catalog::Pool;

/// A submission's `Idempotency-Key`, with the fingerprint of what was submitted under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// SHA-256 of the submitted requests (and of the route: single or batch).
    pub request_hash: Vec<u8>,
    /// How long the key answers with the same tasks.
    pub ttl: Duration,
}

/// The trace of the submitting request, stored with its jobs so their spans join it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub correlation_id: String,
    pub traceparent: Option<String>,
}

/// The tasks a submission answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub ids: Vec<TaskId>,
    /// The key was seen before: these are the first submission's tasks, nothing new was stored.
    pub replayed: bool,
}

/// Stores `jobs` as PENDING with their outbox rows, all or nothing. With a key already used
/// for the same requests, answers the tasks of that first submission instead.
pub async fn submit(
    pool: &Pool,
    tenant: &str,
    jobs: &[NewJob],
    origin: &Origin,
    idempotency: Option<&IdempotencyKey>,
) -> JobsResult<Submitted> {
    let ids: Vec<Uuid> = jobs.iter().map(|j| j.id.as_uuid()).collect();
    let requests: Vec<&[u8]> = jobs.iter().map(|j| j.request.as_slice()).collect();
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    if let Some(key) = idempotency {
        // Claims the key (or an expired one). A concurrent submission with the same key waits
        // here until ours commits, then sees it.
        let claimed = transaction
            .query_opt(
                "INSERT INTO job_idempotency_keys (tenant, key, request_hash, job_ids) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, key) DO UPDATE
                     SET request_hash = EXCLUDED.request_hash, job_ids = EXCLUDED.job_ids, created_at = now()
                     WHERE job_idempotency_keys.created_at < now() - make_interval(secs => $5)
                 RETURNING 1",
                &[&tenant, &key.key, &key.request_hash, &ids, &key.ttl.as_secs_f64()],
            )
            .await?;
        if claimed.is_none() {
            let row = transaction
                .query_one(
                    "SELECT request_hash, job_ids FROM job_idempotency_keys WHERE tenant = $1 AND key = $2",
                    &[&tenant, &key.key],
                )
                .await?;
            let (hash, ids): (Vec<u8>, Vec<Uuid>) = (row.try_get(0)?, row.try_get(1)?);
            if hash != key.request_hash {
                return Err(JobsError::KeyReused(key.key.clone()));
            }
            return Ok(Submitted {
                ids: ids.into_iter().map(TaskId::from).collect(),
                replayed: true,
            });
        }
    }
    transaction
        .execute(
            "INSERT INTO jobs (id, tenant, request, correlation_id, traceparent)
             SELECT job.id, $2, job.request, $4, $5 FROM UNNEST($1::uuid[], $3::bytea[]) AS job(id, request)",
            &[&ids, &tenant, &requests, &origin.correlation_id, &origin.traceparent],
        )
        .await?;
    transaction
        .execute(
            "INSERT INTO job_outbox (job_id) SELECT UNNEST($1::uuid[])",
            &[&ids],
        )
        .await?;
    transaction.commit().await?;
    Ok(Submitted {
        ids: ids.into_iter().map(TaskId::from).collect(),
        replayed: false,
    })
}

const JOB_COLUMNS: &str = "id, tenant, state, attempts, result, processing_ms, error_code, error_message, \
                           correlation_id, created_at, started_at, finished_at, next_attempt_at, updated_at";

fn job(row: &Row) -> JobsResult<Job> {
    let state: String = row.try_get("state")?;
    let error = match (
        row.try_get::<_, Option<i32>>("error_code")?,
        row.try_get::<_, Option<String>>("error_message")?,
    ) {
        (Some(code), message) => Some(JobError {
            code: tonic::Code::from(code),
            message: message.unwrap_or_default(),
        }),
        (None, _) => None,
    };
    Ok(Job {
        id: TaskId::from(row.try_get::<_, Uuid>("id")?),
        tenant: row.try_get("tenant")?,
        state: state
            .parse()
            .map_err(|e: crate::model::UnknownState| JobsError::Internal(e.to_string()))?,
        attempts: row.try_get::<_, i32>("attempts")?.unsigned_abs(),
        result: row.try_get("result")?,
        processing_ms: row
            .try_get::<_, Option<i64>>("processing_ms")?
            .map(i64::unsigned_abs),
        error,
        correlation_id: row.try_get("correlation_id")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The tenant's job `id`, if it exists.
pub async fn get(pool: &Pool, tenant: &str, id: TaskId) -> JobsResult<Option<Job>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND tenant = $2"
        ))
        .await?;
    client
        .query_opt(&statement, &[&id.as_uuid(), &tenant])
        .await?
        .as_ref()
        .map(job)
        .transpose()
}

/// How many of the tenant's jobs are in each state (states without jobs are left out).
pub async fn count_by_state(pool: &Pool, tenant: &str) -> JobsResult<Vec<(JobState, u64)>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT state, count(*) FROM jobs WHERE tenant = $1 GROUP BY state ORDER BY state",
            &[&tenant],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let state = row
                .try_get::<_, String>(0)?
                .parse()
                .map_err(|e: crate::model::UnknownState| JobsError::Internal(e.to_string()))?;
            Ok((state, row.try_get::<_, i64>(1)?.unsigned_abs()))
        })
        .collect()
}

/// What a worker may do with a delivered try.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// Run it: the job is STARTED with this try.
    Run {
        /// The job was PENDING until now: how long it waited since submission.
        queued_for: Option<Duration>,
        /// The tenant that submitted it, which the job runs as (the stored row says, not the
        /// message).
        tenant: String,
    },
    /// The job is finished (SUCCESS or FAILURE): a redelivery or a duplicate.
    Finished(JobState),
    /// An older try than the job's latest (its retry is already scheduled or running).
    Stale,
    /// No such job.
    Unknown,
}

/// Marks job `id` STARTED with try `attempt`, if that try is still due: a first delivery of a
/// later try, or the redelivery of the running try after a worker died.
pub async fn start(pool: &Pool, id: TaskId, attempt: u32) -> JobsResult<Start> {
    let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE jobs SET state = 'STARTED', attempts = $2, started_at = COALESCE(started_at, now()),
                             next_attempt_at = NULL, updated_at = now()
             WHERE id = $1 AND state IN ('PENDING', 'STARTED', 'RETRY')
               AND ($2 > attempts OR ($2 = attempts AND state = 'STARTED'))
             RETURNING started_at = now() AS first_start,
                       extract(epoch FROM now() - created_at)::float8 AS waited_s, tenant",
        )
        .await?;
    if let Some(row) = client
        .query_opt(&statement, &[&id.as_uuid(), &attempt])
        .await?
    {
        // Measured by the database's clock alone: no skew between its host and the worker's.
        let first_start: bool = row.try_get("first_start")?;
        let waited: f64 = row.try_get("waited_s")?;
        return Ok(Start::Run {
            queued_for: first_start.then(|| Duration::from_secs_f64(waited.max(0.0))),
            tenant: row.try_get("tenant")?,
        });
    }
    let row = client
        .query_opt("SELECT state FROM jobs WHERE id = $1", &[&id.as_uuid()])
        .await?;
    let Some(row) = row else {
        return Ok(Start::Unknown);
    };
    let state: JobState = row
        .try_get::<_, String>(0)?
        .parse()
        .map_err(|e: crate::model::UnknownState| JobsError::Internal(e.to_string()))?;
    Ok(if state.is_terminal() {
        Start::Finished(state)
    } else {
        Start::Stale
    })
}

/// Stores the result and SUCCESS (one statement, so one transaction). False when the job was
/// already finished (a duplicate try won the race): nothing changed.
pub async fn succeed(
    pool: &Pool,
    id: TaskId,
    result: &[u8],
    processing: Duration,
) -> JobsResult<bool> {
    let millis = i64::try_from(processing.as_millis()).unwrap_or(i64::MAX);
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE jobs SET state = 'SUCCESS', result = $2, processing_ms = $3, error_code = NULL,
                             error_message = NULL, next_attempt_at = NULL, finished_at = now(), updated_at = now()
             WHERE id = $1 AND state NOT IN ('SUCCESS', 'FAILURE')",
        )
        .await?;
    Ok(client
        .execute(&statement, &[&id.as_uuid(), &result, &millis])
        .await?
        == 1)
}

/// Records that try `attempt` failed transiently and the next one runs at `next_attempt_at`.
/// False when the job moved on meanwhile (nothing changed).
pub async fn schedule_retry(
    pool: &Pool,
    id: TaskId,
    attempt: u32,
    error: &JobError,
    next_attempt_at: SystemTime,
) -> JobsResult<bool> {
    let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE jobs SET state = 'RETRY', error_code = $3, error_message = $4, next_attempt_at = $5,
                             updated_at = now()
             WHERE id = $1 AND state = 'STARTED' AND attempts = $2",
        )
        .await?;
    Ok(client
        .execute(
            &statement,
            &[
                &id.as_uuid(),
                &attempt,
                &(error.code as i32),
                &error.message,
                &next_attempt_at,
            ],
        )
        .await?
        == 1)
}

/// Records FAILURE with its error. False when the job was already finished.
pub async fn fail(pool: &Pool, id: TaskId, error: &JobError) -> JobsResult<bool> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE jobs SET state = 'FAILURE', error_code = $2, error_message = $3, next_attempt_at = NULL,
                             finished_at = now(), updated_at = now()
             WHERE id = $1 AND state NOT IN ('SUCCESS', 'FAILURE')",
        )
        .await?;
    Ok(client
        .execute(
            &statement,
            &[&id.as_uuid(), &(error.code as i32), &error.message],
        )
        .await?
        == 1)
}

/// Forgets idempotency keys older than `ttl` (they no longer answer anyway).
pub async fn purge_idempotency_keys(pool: &Pool, ttl: Duration) -> JobsResult<u64> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            "DELETE FROM job_idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
            &[&ttl.as_secs_f64()],
        )
        .await?)
}
