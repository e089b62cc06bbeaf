//! The `RankCouriers` handler.

use std::time::Instant;

use aras_proto::ranking::v1::{RankCouriersRequest, RankCouriersResponse, ranking_server::Ranking};
use tonic::{Request, Response, Status};

use crate::RankingConfig;
use crate::convert::{RankRequest, ranking_to_pb};
use crate::error::RankingServiceError;

pub struct RankingService {
    max_candidates: usize,
}

impl RankingService {
    pub fn new(config: &RankingConfig) -> Self {
        Self {
            max_candidates: config.max_candidates,
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
        let request = RankRequest::parse(request.into_inner(), self.max_candidates)
            .map_err(RankingServiceError::from)?;
        let large = request.couriers.len() > BLOCKING_THRESHOLD;
        let compute = move || {
            let ranking =
                aras_ranking_core::rank(&request.announcement, &request.couriers, &request.options)
                    .map_err(RankingServiceError::from)?;
            Ok::<_, RankingServiceError>((request, ranking))
        };
        let (request, ranking) = if large {
            tokio::task::spawn_blocking(compute)
                .await
                .map_err(|e| Status::internal(format!("ranking task failed: {e}")))??
        } else {
            compute()?
        };
        metrics::histogram!("ranking_candidates").record(ranking.stats.total as f64);
        metrics::counter!("ranking_candidates_rejected_total")
            .increment(ranking.stats.rejected() as u64);
        tracing::info!(
            candidates = ranking.stats.total,
            eligible = ranking.stats.eligible,
            delivery_type = request.announcement.delivery_type.as_str(),
            "ranked couriers"
        );
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(Response::new(ranking_to_pb(request, &ranking, elapsed_ms)))
    }
}
