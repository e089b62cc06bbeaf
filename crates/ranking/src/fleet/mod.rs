//! Live couriers: Redis is their shared, durable record ([`store`]); each replica keeps every
//! tenant's couriers in memory ([`CourierIndex`]) and follows Redis's change log ([`sync`]), so
//! a live ranking reads only memory and ranks every eligible courier.
//!
//! Writes go to Redis first and answer once this replica's index has applied them (read your
//! writes on the replica that took them; the others follow within the log's delay).

mod store;
mod sync;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aras_ranking_core::Profile;
use aras_ranking_core::live::{CourierIndex, Fix};
use tokio::sync::watch;

use crate::config::FleetConfig;
use store::Store;
pub use store::{Report, ReportOutcome, StoreError, StoredCourier};

/// One change to a tenant's couriers, as the change log carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Register {
        courier_id: String,
        profile: Profile,
    },
    Position {
        courier_id: String,
        fix: Fix,
    },
    Offline {
        courier_id: String,
    },
}

/// Every tenant's index.
type Indexes = HashMap<String, Arc<RwLock<CourierIndex>>>;

/// The fleet of one replica: the Redis record, the indexes and where they stand in the log.
pub struct Fleet {
    store: Store,
    indexes: RwLock<Indexes>,
    /// The number of the last change applied to the indexes.
    applied: watch::Sender<u64>,
    /// Whether the indexes follow Redis: rebuilt and tailing without errors.
    in_sync: AtomicBool,
    pub config: FleetConfig,
}

/// How long a write waits for this replica's index to apply it before answering anyway (the
/// write is durable; only this replica's rankings would not show it yet).
const APPLY_WAIT: Duration = Duration::from_secs(1);

impl Fleet {
    /// The fleet on the configured Redis; the indexes fill once [`sync::run`] has rebuilt them.
    pub fn connect(config: FleetConfig) -> Result<Arc<Self>, fred::error::Error> {
        let redis = config.redis();
        let client = redis.connect()?;
        Ok(Arc::new(Self {
            store: Store::new(client, redis, config.change_log_length),
            indexes: RwLock::default(),
            applied: watch::Sender::new(0),
            in_sync: AtomicBool::new(false),
            config,
        }))
    }

    pub fn in_sync(&self) -> bool {
        self.in_sync.load(Ordering::Acquire)
    }

    /// The oldest position a live ranking counts now, in Unix ms.
    pub fn oldest_fresh_ms(&self) -> u64 {
        now_ms().saturating_sub(
            u64::try_from(self.config.max_position_age.as_millis()).unwrap_or(u64::MAX),
        )
    }

    /// `tenant`'s index, if it has couriers.
    pub fn index(&self, tenant: &str) -> Option<Arc<RwLock<CourierIndex>>> {
        self.indexes
            .read()
            .expect("no panic while holding the indexes")
            .get(tenant)
            .cloned()
    }

    pub async fn register(
        &self,
        tenant: &str,
        courier_id: &str,
        profile: &Profile,
    ) -> Result<bool, StoreError> {
        let (created, seq) = self.store.register(tenant, courier_id, profile).await?;
        self.wait_applied(seq).await;
        Ok(created)
    }

    pub async fn report(
        &self,
        tenant: &str,
        reports: &[Report],
    ) -> Result<Vec<ReportOutcome>, StoreError> {
        let (outcomes, seq) = self.store.report(tenant, reports).await?;
        if let Some(seq) = seq {
            self.wait_applied(seq).await;
        }
        Ok(outcomes)
    }

    /// `None` when unregistered, else whether it was online.
    pub async fn offline(
        &self,
        tenant: &str,
        courier_id: &str,
    ) -> Result<Option<bool>, StoreError> {
        let Some((was_online, seq)) = self.store.offline(tenant, courier_id).await? else {
            return Ok(None);
        };
        self.wait_applied(seq).await;
        Ok(Some(was_online))
    }

    pub async fn get(
        &self,
        tenant: &str,
        courier_id: &str,
    ) -> Result<Option<StoredCourier>, StoreError> {
        self.store.get(tenant, courier_id).await
    }

    async fn wait_applied(&self, seq: u64) {
        let mut applied = self.applied.subscribe();
        let waited = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|&at| at >= seq)).await;
        if !matches!(waited, Ok(Ok(_))) {
            tracing::warn!(
                change = seq,
                applied = *self.applied.borrow(),
                "a fleet write is stored but this replica's index has not applied it yet"
            );
        }
    }

    /// Applies changes of `tenant` to its index (created on its first change).
    fn apply(&self, tenant: &str, changes: &[Change]) {
        let index = self.index(tenant).unwrap_or_else(|| {
            let mut indexes = self
                .indexes
                .write()
                .expect("no panic while holding the indexes");
            Arc::clone(indexes.entry(tenant.to_owned()).or_default())
        });
        let mut index = index.write().expect("no panic while holding an index");
        for change in changes {
            match change {
                Change::Register {
                    courier_id,
                    profile,
                } => {
                    index.register(courier_id, *profile);
                }
                // The log holds only changes Redis applied, to registered couriers.
                Change::Position { courier_id, fix } => {
                    index.report(courier_id, *fix);
                }
                Change::Offline { courier_id } => {
                    index.offline(courier_id);
                }
            }
        }
    }

    /// Replaces every index (a rebuild), as of change `seq`.
    fn replace(&self, indexes: Indexes, seq: u64) {
        *self
            .indexes
            .write()
            .expect("no panic while holding the indexes") = indexes;
        self.applied.send_replace(seq);
    }

    /// Registered couriers, all tenants.
    fn couriers(&self) -> usize {
        self.indexes
            .read()
            .expect("no panic while holding the indexes")
            .values()
            .map(|index| index.read().expect("no panic while holding an index").len())
            .sum()
    }
}

/// Now, in Unix ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub use sync::{run as follow, set_in_sync};
