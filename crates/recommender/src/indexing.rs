//! Indexing the catalog: embedding the vehicles whose vectors are missing or stale and writing
//! them to the vector store. `IndexCatalog` streams a whole-catalog run to its caller (the CLI);
//! `StartIndexing` runs one tenant's in the background, recorded in `index_runs` where
//! `GetIndexingRun` reads its progress.

use std::sync::Arc;

use aras_catalog::index_runs::{self, IndexRun};
use aras_catalog::{VehicleRecord, vehicles};
use aras_common::correlation::CorrelationId;
use aras_domain::tenant::Tenant;
use aras_proto::recommender::v1::IndexProgress;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::catalog::{embed_batch, store_batch};
use crate::deps::Deps;
use crate::error::RecommenderError;

/// What a run indexes: one tenant's vehicles or everyone's; all of them, or only those whose
/// vector is missing or stale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub tenant: Option<&'a Tenant>,
    pub full: bool,
}

/// Where a run reports its progress.
pub(crate) trait Progress {
    /// Takes one step; `false` when nobody follows the run any more (it then stops, resumably).
    async fn report(&mut self, step: IndexProgress) -> bool;
}

/// A caller streaming the run (`IndexCatalog`): the run stops when it hangs up.
impl Progress for mpsc::Sender<Result<IndexProgress, tonic::Status>> {
    async fn report(&mut self, step: IndexProgress) -> bool {
        self.send(Ok(step)).await.is_ok()
    }
}

/// A run recorded in `index_runs`: it goes on whoever watches.
struct RecordedRun<'a> {
    pool: &'a aras_catalog::Pool,
    id: Uuid,
}

impl Progress for RecordedRun<'_> {
    async fn report(&mut self, step: IndexProgress) -> bool {
        if let Err(error) = index_runs::progress(self.pool, self.id, step.indexed, step.total).await
        {
            // The run itself needs Postgres too and fails if it stays away.
            tracing::warn!(%error, run = %self.id, "the run's progress could not be recorded");
        }
        true
    }
}

/// Indexes the vehicles of `scope`, reporting progress to `progress` once they are counted and
/// after each batch. The caller holds this replica's indexing permit.
pub(crate) async fn index_catalog(
    deps: &Deps,
    scope: Scope<'_>,
    progress: &mut impl Progress,
    correlation_id: &CorrelationId,
) -> Result<(), RecommenderError> {
    let store = deps.store()?;
    if scope.full {
        vehicles::mark_all_for_indexing(&deps.pool, scope.tenant).await?;
    }
    let total = vehicles::count_to_index(&deps.pool, scope.tenant).await?;
    let batch_size = i64::try_from(deps.config.index_batch_size.max(1)).unwrap_or(64);
    let (mut indexed, mut after) = (0_u64, 0_i64);
    let mut embedded: Option<(Vec<VehicleRecord>, Vec<Vec<f32>>)> = None;
    let tenant = scope.tenant.map(Tenant::as_str);
    tracing::info!(total, full = scope.full, tenant, "indexing the catalog");
    let mut step = async |indexed| {
        let stored = store.count().await?;
        Ok::<_, RecommenderError>(
            progress
                .report(IndexProgress {
                    indexed,
                    total,
                    stored,
                })
                .await,
        )
    };
    if !step(0).await? {
        return Ok(());
    }
    loop {
        let batch = vehicles::next_to_index(&deps.pool, scope.tenant, after, batch_size).await?;
        // Batch N is embedded while batch N-1 is written: the model does not wait on the store.
        let (vectors, written) = tokio::join!(
            async {
                if batch.is_empty() {
                    Ok(None)
                } else {
                    embed_batch(deps, &batch, correlation_id).await.map(Some)
                }
            },
            async {
                match embedded.take() {
                    Some((records, vectors)) => store_batch(deps, &records, vectors)
                        .await
                        .map(|()| records.len()),
                    None => Ok(0),
                }
            },
        );
        let written = written?;
        if written > 0 {
            indexed += written as u64;
            metrics::counter!("recommender_indexed_vehicles_total").increment(written as u64);
            if !step(indexed).await? {
                tracing::info!(
                    indexed,
                    total,
                    "indexing stopped: the caller left (run it again to resume)"
                );
                return Ok(());
            }
        }
        match vectors? {
            Some(vectors) => {
                after = batch.last().map_or(after, |last| last.point_id);
                embedded = Some((batch, vectors));
            }
            None => break,
        }
    }
    // Bulk writes leave vectors in plain segments; build the search index once at the end.
    store.optimize().await?;
    deps.bump_catalog_versions(scope.tenant).await?;
    tracing::info!(indexed, tenant, "catalog indexed");
    step(indexed).await?;
    Ok(())
}

/// Records a run of `tenant`'s catalog and starts it in the background; answers the run as
/// recorded. `Conflict` when the tenant has a run in progress (on any replica); other
/// tenants' runs go on beside it.
pub(crate) async fn start_indexing(
    deps: &Arc<Deps>,
    tenant: Tenant,
    full: bool,
    correlation_id: CorrelationId,
) -> Result<IndexRun, RecommenderError> {
    // A run that cannot start is refused now rather than recorded as failed.
    deps.store()?;
    let run = index_runs::start(&deps.pool, &tenant, full, correlation_id.as_str()).await?;
    let deps = Arc::clone(deps);
    let id = run.id;
    tokio::spawn(async move {
        let scope = Scope {
            tenant: Some(&tenant),
            full,
        };
        let mut recorded = RecordedRun {
            pool: &deps.pool,
            id,
        };
        let indexing = async {
            let _permit = deps.tenant_indexing_permit().await;
            index_catalog(&deps, scope, &mut recorded, &correlation_id).await
        };
        // Waiting for a run over every catalog, the last batch and the final optimisation move
        // no counter: the heartbeat keeps the run from passing for stalled.
        let outcome = tokio::select! {
            outcome = indexing => outcome,
            never = heartbeat(&deps.pool, id) => match never {},
        };
        let outcome = outcome.map_err(|error| {
            tracing::warn!(%error, run = %id, "indexing failed");
            tonic::Status::from(error)
        });
        let reason = outcome.as_ref().err().map(tonic::Status::message);
        if let Err(error) = index_runs::finish(&deps.pool, id, reason.map_or(Ok(()), Err)).await {
            tracing::error!(%error, run = %id, "the end of an indexing run could not be recorded; it will read as failed");
        }
    });
    Ok(run)
}

/// Marks run `id` alive, often enough that it never reads as stalled while this task lives.
async fn heartbeat(pool: &aras_catalog::Pool, id: Uuid) -> std::convert::Infallible {
    let mut beat = tokio::time::interval(index_runs::STALLED_AFTER / 4);
    loop {
        beat.tick().await;
        if let Err(error) = index_runs::heartbeat(pool, id).await {
            tracing::warn!(%error, run = %id, "the run's heartbeat could not be recorded");
        }
    }
}

/// One of `tenant`'s runs.
pub(crate) async fn get_indexing_run(
    deps: &Deps,
    tenant: &Tenant,
    id: &str,
) -> Result<IndexRun, RecommenderError> {
    let not_found = || RecommenderError::NotFound(format!("indexing run {id} not found"));
    let Ok(uuid) = Uuid::parse_str(id) else {
        return Err(not_found());
    };
    index_runs::get(&deps.pool, tenant, uuid)
        .await?
        .ok_or_else(not_found)
}
