//! The `aras.ranking.v1.Fleet` handlers: live couriers of the calling tenant.

use std::sync::Arc;

use aras_proto::ranking::v1::{self as pb, fleet_server};
use tonic::{Request, Response, Status};

use crate::convert::{
    live_courier_to_pb, outcome_to_pb, parse_courier_id, parse_registration, parse_reports,
};
use crate::error::RankingServiceError;
use crate::fleet::{Fleet, ReportOutcome, now_ms};

pub struct FleetService {
    fleet: Arc<Fleet>,
}

impl FleetService {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        Self { fleet }
    }

    fn max_age_ms(&self) -> u64 {
        u64::try_from(self.fleet.config.max_position_age.as_millis()).unwrap_or(u64::MAX)
    }

    async fn courier(&self, tenant: &str, courier_id: String) -> Result<pb::LiveCourier, Status> {
        let stored = self
            .fleet
            .get(tenant, &courier_id)
            .await
            .map_err(RankingServiceError::from)?
            .ok_or_else(|| RankingServiceError::UnknownCourier(courier_id.clone()))?;
        Ok(live_courier_to_pb(
            courier_id,
            &stored,
            self.max_age_ms(),
            now_ms(),
        ))
    }
}

#[tonic::async_trait]
impl fleet_server::Fleet for FleetService {
    async fn register_courier(
        &self,
        request: Request<pb::RegisterCourierRequest>,
    ) -> Result<Response<pb::RegisterCourierResponse>, Status> {
        let tenant = aras_common::tenant::of(&request)?;
        let (courier_id, profile) =
            parse_registration(request.into_inner()).map_err(RankingServiceError::from)?;
        let created = self
            .fleet
            .register(tenant.as_str(), &courier_id, &profile)
            .await
            .map_err(RankingServiceError::from)?;
        let courier = self.courier(tenant.as_str(), courier_id).await?;
        Ok(Response::new(pb::RegisterCourierResponse {
            created,
            courier: Some(courier),
        }))
    }

    async fn get_courier(
        &self,
        request: Request<pb::GetCourierRequest>,
    ) -> Result<Response<pb::LiveCourier>, Status> {
        let tenant = aras_common::tenant::of(&request)?;
        let courier_id = request.into_inner().courier_id;
        parse_courier_id(&courier_id, "livreur_id").map_err(RankingServiceError::from)?;
        Ok(Response::new(
            self.courier(tenant.as_str(), courier_id).await?,
        ))
    }

    async fn report_positions(
        &self,
        request: Request<pb::ReportPositionsRequest>,
    ) -> Result<Response<pb::ReportPositionsResponse>, Status> {
        let tenant = aras_common::tenant::of(&request)?;
        let single = request.get_ref().single;
        let reports = parse_reports(request.into_inner(), self.fleet.config.max_batch, now_ms())
            .map_err(RankingServiceError::from)?;
        let outcomes = self
            .fleet
            .report(tenant.as_str(), &reports)
            .await
            .map_err(RankingServiceError::from)?;
        for (outcome, label) in [
            (ReportOutcome::Applied, "applied"),
            (ReportOutcome::NotNewer, "not_newer"),
            (ReportOutcome::UnknownCourier, "unknown_courier"),
        ] {
            let n = outcomes.iter().filter(|&&o| o == outcome).count();
            metrics::counter!("ranking_fleet_position_reports_total", "outcome" => label)
                .increment(n as u64);
        }
        if single && outcomes == [ReportOutcome::UnknownCourier] {
            return Err(RankingServiceError::UnknownCourier(reports[0].courier_id.clone()).into());
        }
        Ok(Response::new(pb::ReportPositionsResponse {
            outcomes: outcomes
                .into_iter()
                .map(|o| outcome_to_pb(o).into())
                .collect(),
        }))
    }

    async fn go_offline(
        &self,
        request: Request<pb::GoOfflineRequest>,
    ) -> Result<Response<pb::GoOfflineResponse>, Status> {
        let tenant = aras_common::tenant::of(&request)?;
        let courier_id = request.into_inner().courier_id;
        parse_courier_id(&courier_id, "livreur_id").map_err(RankingServiceError::from)?;
        let was_online = self
            .fleet
            .offline(tenant.as_str(), &courier_id)
            .await
            .map_err(RankingServiceError::from)?
            .ok_or(RankingServiceError::UnknownCourier(courier_id))?;
        Ok(Response::new(pb::GoOfflineResponse { was_online }))
    }
}
