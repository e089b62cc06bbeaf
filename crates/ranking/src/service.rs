//! The `RankCouriers` handler: given candidates, or the tenant's live couriers.

use std::sync::Arc;
use std::time::Instant;

use aras_proto::ranking::v1::{
    self as pb, RankCouriersRequest, RankCouriersResponse, ranking_server::Ranking,
};
use aras_ranking_core::Rules;
use aras_ranking_core::live::CourierIndex;
use tonic::{Request, Response, Status};

use crate::RankingConfig;
use crate::convert::{CourierNames, RankRequest, age_s, ranking_to_pb};
use crate::error::RankingServiceError;
use crate::fleet::{Fleet, now_ms};

pub struct RankingService {
    max_candidates: usize,
    max_search_radius_km: f64,
    fleet: Arc<Fleet>,
}

impl RankingService {
    pub fn new(config: &RankingConfig, fleet: Arc<Fleet>) -> Self {
        Self {
            max_candidates: config.max_candidates,
            max_search_radius_km: config.max_search_radius_km,
            fleet,
        }
    }
}

/// Above this many candidates the computation moves off the async workers, so one large
/// request cannot stall the small ones queued behind it.
const BLOCKING_THRESHOLD: usize = 2_000;

#[tonic::async_trait]
impl Ranking for RankingService {
    async fn rank_couriers(
        &self,
        request: Request<RankCouriersRequest>,
    ) -> Result<Response<RankCouriersResponse>, Status> {
        let started = Instant::now();
        let tenant = request
            .get_ref()
            .live
            .then(|| aras_common::tenant::of(&request))
            .transpose()?;
        let request = RankRequest::parse(request.into_inner(), self.max_candidates)
            .map_err(RankingServiceError::from)?;
        let response = match tenant {
            Some(tenant) => self.rank_live(request, tenant.as_str(), started).await?,
            None => rank_given(request, started).await?,
        };
        Ok(Response::new(response))
    }
}

async fn rank_given(
    request: RankRequest,
    started: Instant,
) -> Result<RankCouriersResponse, RankingServiceError> {
    let large = request.couriers.len() > BLOCKING_THRESHOLD;
    let compute = move || {
        let ranking =
            aras_ranking_core::rank(&request.announcement, &request.couriers, &request.options)?;
        Ok::<_, RankingServiceError>((request, ranking))
    };
    let (request, ranking) = if large {
        tokio::task::spawn_blocking(compute)
            .await
            .map_err(|e| RankingServiceError::Internal(format!("ranking task failed: {e}")))??
    } else {
        compute()?
    };
    record("given", &request, ranking.stats, started);
    Ok(ranking_to_pb(
        &request,
        &ranking,
        request.couriers.as_slice(),
        None,
        started.elapsed().as_secs_f64() * 1e3,
    ))
}

/// A live ranking's couriers: ids and position ages from the tenant's index.
struct LiveNames<'a> {
    index: &'a CourierIndex,
    now_ms: u64,
}

impl CourierNames for LiveNames<'_> {
    fn id(&self, index: usize) -> String {
        self.index.id(index).to_owned()
    }

    fn position_age_s(&self, index: usize) -> Option<f64> {
        self.index
            .fix(index)
            .map(|fix| age_s(fix.at_ms, self.now_ms))
    }
}

/// A live search whose circle is wider than this (km) moves off the async workers: a city's
/// search takes a millisecond or so, a country's could take tens.
const LARGE_SEARCH_KM: f64 = 50.0;

impl RankingService {
    /// Ranks every eligible live courier of `tenant` from this replica's index: memory only,
    /// in place for a city-sized search.
    async fn rank_live(
        &self,
        request: RankRequest,
        tenant: &str,
        started: Instant,
    ) -> Result<RankCouriersResponse, RankingServiceError> {
        let rules = Rules::new(&request.announcement, &request.options)?;
        let radius_km = rules.ellipse().bounding_circle().radius_km;
        if radius_km > self.max_search_radius_km {
            return Err(RankingServiceError::InvalidInput(format!(
                "annonce: a live search this long would cover a circle of {radius_km:.0} km radius, over the maximum of {} km (ARAS_RANKING_MAX_SEARCH_RADIUS_KM); rank given candidates (livreurs_candidats) for such a delivery",
                self.max_search_radius_km
            )));
        }
        if !self.fleet.in_sync() {
            return Err(RankingServiceError::FleetUnavailable(
                "live couriers are unavailable: this ranking replica is not in sync with the fleet's Redis (starting, or Redis unreachable); rankings with livreurs_candidats still work".into(),
            ));
        }
        let large = radius_km > LARGE_SEARCH_KM;
        let search = LiveSearch {
            index: self.fleet.index(tenant),
            oldest_ms: self.fleet.oldest_fresh_ms(),
            max_position_age_s: self.fleet.config.max_position_age.as_secs_f64(),
            max_answer: self.max_candidates,
        };
        let compute = move || search.rank(&request, &rules, started);
        if large {
            tokio::task::spawn_blocking(compute)
                .await
                .map_err(|e| RankingServiceError::Internal(format!("ranking task failed: {e}")))?
        } else {
            compute()
        }
    }
}

/// What a live ranking reads: the tenant's index (none before its first courier) and the
/// rules of freshness and size.
struct LiveSearch {
    index: Option<Arc<std::sync::RwLock<CourierIndex>>>,
    oldest_ms: u64,
    max_position_age_s: f64,
    max_answer: usize,
}

impl LiveSearch {
    fn rank(
        &self,
        request: &RankRequest,
        rules: &Rules,
        started: Instant,
    ) -> Result<RankCouriersResponse, RankingServiceError> {
        let empty = CourierIndex::default();
        let guard = self
            .index
            .as_ref()
            .map(|index| index.read().expect("no panic while holding an index"));
        let index = guard.as_deref().unwrap_or(&empty);
        let live = index
            .rank(rules, self.oldest_ms, request.include_details, self.max_answer)
            .map_err(|e| {
                // Name what would shrink the answer: the rejected list, or the ranked one.
                let field = if e.rejected > 0 {
                    "options.include_details"
                } else {
                    "options.top_k"
                };
                RankingServiceError::InvalidInput(format!(
                    "{field}: {e} (ARAS_RANKING_MAX_CANDIDATES): set options.top_k, or leave include_details off (it lists every rejected courier)"
                ))
            })?;
        let search = pb::LiveSearch {
            centre: Some(pb::GeoPoint {
                latitude: live.circle.centre.lat(),
                longitude: live.circle.centre.lon(),
            }),
            radius_km: live.circle.radius_km,
            stale: u32::try_from(live.stale).unwrap_or(u32::MAX),
            max_position_age_s: self.max_position_age_s,
        };
        record("live", request, live.ranking.stats, started);
        let names = LiveNames {
            index,
            now_ms: now_ms(),
        };
        Ok(ranking_to_pb(
            request,
            &live.ranking,
            &names,
            Some(search),
            started.elapsed().as_secs_f64() * 1e3,
        ))
    }
}

fn record(
    mode: &'static str,
    request: &RankRequest,
    stats: aras_ranking_core::FilterStats,
    started: Instant,
) {
    metrics::histogram!("ranking_rank_duration_seconds", "mode" => mode)
        .record(started.elapsed().as_secs_f64());
    metrics::histogram!("ranking_candidates").record(stats.total as f64);
    metrics::counter!("ranking_candidates_rejected_total").increment(stats.rejected() as u64);
    // Debug: one line per ranking at info would double the access log's volume; the counts
    // are in the metrics above.
    tracing::debug!(
        mode,
        candidates = stats.total,
        eligible = stats.eligible,
        delivery_type = request.announcement.delivery_type.as_str(),
        "ranked couriers"
    );
}
