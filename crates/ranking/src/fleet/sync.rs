//! Keeps a replica's indexes in step with Redis: rebuild from the record, then tail the change
//! log; rebuild again when the log was trimmed past what this replica read, when Redis lost
//! its data (its change number went back), or after an error (Redis unreachable).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aras_common::redis::RedisConfig;
use aras_proto::ranking::v1::fleet_server::SERVICE_NAME as FLEET;
use aras_ranking_core::live::CourierIndex;
use fred::prelude::{Client, StreamsInterface as _, Value};
use fred::types::streams::XReadResponse;
use tokio::sync::oneshot;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::store::{StoreError, decode_entry};
use super::{Fleet, Indexes, now_ms};

/// How long one read of the log waits for new changes.
const BLOCK: Duration = Duration::from_secs(1);
/// Log entries read at most per read.
const READ_COUNT: u64 = 1_000;
/// How often the log's head is compared with what this replica applied (lag, lost data).
const HEAD_CHECK: Duration = Duration::from_secs(1);
/// Wait before trying Redis again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Why the indexes were rebuilt (the `reason` label of `ranking_fleet_rebuilds_total`).
#[derive(Debug, Clone, Copy)]
enum Rebuild {
    /// The replica started.
    Start,
    /// The log was trimmed past the last change this replica applied.
    Behind,
    /// Redis's change number went back: it lost its data (no persistence, or restored).
    RedisReset,
    /// Redis failed (unreachable, timed out): what changed meanwhile is unknown.
    RedisError,
}

impl Rebuild {
    fn label(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Behind => "behind",
            Self::RedisReset => "redis_reset",
            Self::RedisError => "redis_error",
        }
    }
}

/// Follows Redis for as long as the service runs. `first_sync` fires once the first rebuild
/// has finished, well or not (rankings of given candidates need no Redis, so the service
/// serves them either way). The Fleet service's health follows whether the indexes are in sync.
pub async fn run(fleet: Arc<Fleet>, health: HealthReporter, first_sync: oneshot::Sender<()>) {
    for outcome in ["applied", "not_newer", "unknown_courier"] {
        metrics::counter!("ranking_fleet_position_reports_total", "outcome" => outcome)
            .increment(0);
    }
    for reason in [
        Rebuild::Start,
        Rebuild::Behind,
        Rebuild::RedisReset,
        Rebuild::RedisError,
    ] {
        metrics::counter!("ranking_fleet_rebuilds_total", "reason" => reason.label()).increment(0);
    }
    metrics::gauge!("ranking_fleet_change_log_lag_seconds").set(0.0);
    metrics::gauge!("ranking_fleet_change_log_lag_entries").set(0.0);
    let tail_redis = RedisConfig {
        // A blocked read must not time out before Redis answers it.
        timeout: fleet.config.redis_timeout + BLOCK,
        ..fleet.config.redis()
    };
    let tail = match tail_redis.connect() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "the fleet's Redis URL is malformed: live dispatch is off");
            set_in_sync(&fleet, &health, false).await;
            let _ = first_sync.send(());
            return;
        }
    };
    let mut first_sync = Some(first_sync);
    let mut reason = Rebuild::Start;
    loop {
        let started = Instant::now();
        let rebuilt = rebuild(&fleet).await;
        if let Some(first) = first_sync.take() {
            let _ = first.send(());
        }
        let (seq, epoch) = match rebuilt {
            Ok(at) => at,
            Err(error) => {
                tracing::warn!(%error, "live couriers cannot be loaded from Redis; retrying");
                set_in_sync(&fleet, &health, false).await;
                reason = Rebuild::RedisError;
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        metrics::counter!("ranking_fleet_rebuilds_total", "reason" => reason.label()).increment(1);
        tracing::info!(
            reason = reason.label(),
            change = seq,
            couriers = fleet.couriers(),
            elapsed_ms = started.elapsed().as_millis(),
            "live couriers loaded from Redis"
        );
        set_in_sync(&fleet, &health, true).await;
        reason = match follow(&fleet, &tail, seq, &epoch).await {
            Ok(reason) => reason,
            Err(error) => {
                tracing::warn!(%error, "lost the fleet's change log; live dispatch is off until Redis answers");
                set_in_sync(&fleet, &health, false).await;
                tokio::time::sleep(RETRY).await;
                Rebuild::RedisError
            }
        };
    }
}

/// Records whether the indexes follow Redis: the flag live rankings read, the gauge, the Fleet
/// service's health.
pub async fn set_in_sync(fleet: &Fleet, health: &HealthReporter, in_sync: bool) {
    fleet.in_sync.store(in_sync, Ordering::Release);
    metrics::gauge!("ranking_fleet_in_sync").set(if in_sync { 1.0 } else { 0.0 });
    let status = if in_sync {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    health.set_service_status(FLEET, status).await;
}

/// Loads every tenant's couriers from Redis into new indexes and swaps them in; answers the
/// number and epoch of the last change they hold. The head is read first, so the changes
/// written while the record is read come again from the log, and applying them again lands on
/// what Redis holds (each change sets a state; the log applies them in Redis's order). Until
/// the swap, rankings read the indexes as they were.
async fn rebuild(fleet: &Fleet) -> Result<(u64, String), StoreError> {
    let head = fleet.store.head().await?;
    let mut indexes = Indexes::new();
    for tenant in head.tenants {
        let mut index = CourierIndex::default();
        for (id, courier) in fleet.store.snapshot(&tenant).await? {
            index.register(&id, courier.profile);
            if let Some(fix) = courier.fix {
                index.report(&id, fix);
            }
        }
        indexes.insert(tenant, Arc::new(RwLock::new(index)));
    }
    fleet.replace(indexes, head.seq);
    metrics::gauge!("ranking_fleet_couriers").set(fleet.couriers() as f64);
    Ok((head.seq, head.epoch))
}

/// Tails the log from change `last` of `epoch`; returns why the indexes must be rebuilt.
async fn follow(
    fleet: &Fleet,
    tail: &Client,
    mut last: u64,
    epoch: &str,
) -> Result<Rebuild, StoreError> {
    let mut epoch = epoch.to_owned();
    let key = fleet.store.changes_key();
    let block_ms = u64::try_from(BLOCK.as_millis()).unwrap_or(1_000);
    let mut head_checked = Instant::now();
    loop {
        let read: Value = tail
            .xread(
                Some(READ_COUNT),
                Some(block_ms),
                key.as_str(),
                format!("{last}-0"),
            )
            .await?;
        // A read that waited its whole block for nothing answers nil, not an empty map.
        let read: XReadResponse<String, String, String, String> = if read.is_null() {
            HashMap::new()
        } else {
            read.into_xread_response()?
        };
        let mut applied_any = false;
        for (id, fields) in read.into_values().flatten() {
            let entry = decode_entry(&id, &fields)?;
            if last == 0 && entry.seq == 1 {
                // The log's first change starts its epoch; before it there was nothing to lose.
                epoch.clone_from(&entry.epoch);
            }
            if entry.epoch != epoch {
                tracing::warn!(
                    epoch = entry.epoch,
                    expected = epoch,
                    "the change log started again (Redis lost its data): rebuilding"
                );
                return Ok(Rebuild::RedisReset);
            }
            if entry.seq != last + 1 {
                tracing::warn!(
                    expected = last + 1,
                    found = entry.seq,
                    "the change log was trimmed past this replica: rebuilding"
                );
                return Ok(Rebuild::Behind);
            }
            fleet.apply(&entry.tenant, &entry.changes);
            last = entry.seq;
            applied_any = true;
            metrics::gauge!("ranking_fleet_change_log_lag_seconds")
                .set(now_ms().saturating_sub(entry.written_ms) as f64 / 1e3);
        }
        if applied_any {
            fleet.applied.send_replace(last);
        }
        if head_checked.elapsed() >= HEAD_CHECK {
            head_checked = Instant::now();
            let head = fleet.store.head().await?;
            // Lost with no write since (the number went back), or with writes this replica
            // has not read yet (another epoch).
            if head.seq < last || (head.epoch != epoch && last > 0) {
                tracing::warn!(
                    head = head.seq,
                    applied = last,
                    "Redis lost the fleet's data: rebuilding"
                );
                return Ok(Rebuild::RedisReset);
            }
            metrics::gauge!("ranking_fleet_change_log_lag_entries")
                .set(head.seq.saturating_sub(last) as f64);
            if head.seq == last {
                metrics::gauge!("ranking_fleet_change_log_lag_seconds").set(0.0);
            }
            metrics::gauge!("ranking_fleet_couriers").set(fleet.couriers() as f64);
        }
    }
}
