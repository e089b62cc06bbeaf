//! Proto ⇄ domain. Every request field is validated here, with its path in the public API's
//! names (`livreurs_candidats[3].reputation`), so a REST user reads the field they sent.

use std::num::NonZeroUsize;

use aras_proto::ranking::v1 as pb;
use aras_ranking_core::{
    Announcement, Courier, DeliveryType, InvalidInput, LatLon, PairwiseMatrix, Positive, Ranking,
    RankingOptions, RejectionReason, Reputation, VehicleType,
};

/// A validated ranking request.
pub struct RankRequest {
    pub announcement_id: String,
    pub announcement: Announcement,
    pub couriers: Vec<Courier>,
    pub options: RankingOptions,
    pub include_details: bool,
}

impl RankRequest {
    pub fn parse(
        request: pb::RankCouriersRequest,
        max_candidates: usize,
    ) -> Result<Self, InvalidInput> {
        let announcement = request
            .announcement
            .ok_or_else(|| InvalidInput::new("annonce", "is required"))?;
        if request.candidates.len() > max_candidates {
            return Err(InvalidInput::new(
                "livreurs_candidats",
                format!(
                    "holds {} couriers, more than the maximum of {max_candidates}",
                    request.candidates.len()
                ),
            ));
        }
        let announcement_id = announcement.announcement_id.clone();
        let options = request.options.unwrap_or_default();
        Ok(Self {
            announcement_id,
            announcement: parse_announcement(&announcement).map_err(|e| e.within("annonce"))?,
            couriers: request
                .candidates
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    parse_courier(c).map_err(|e| e.within(&format!("livreurs_candidats[{i}]")))
                })
                .collect::<Result<_, _>>()?,
            include_details: options.include_details,
            options: parse_options(options).map_err(|e| e.within("options"))?,
        })
    }
}

fn parse_point(point: Option<pb::GeoPoint>, field: &str) -> Result<LatLon, InvalidInput> {
    let point = point.ok_or_else(|| InvalidInput::new(field, "is required"))?;
    LatLon::new(point.latitude, point.longitude).map_err(|e| e.within(field))
}

fn parse_optional_positive(
    value: Option<f64>,
    field: &str,
) -> Result<Option<Positive>, InvalidInput> {
    value.map(|v| Positive::new(field, v)).transpose()
}

fn parse_announcement(a: &pb::Announcement) -> Result<Announcement, InvalidInput> {
    let delivery_type = match a.delivery_type() {
        pb::DeliveryType::Standard => DeliveryType::Standard,
        pb::DeliveryType::Express => DeliveryType::Express,
        pb::DeliveryType::Sameday => DeliveryType::Sameday,
        pb::DeliveryType::Unspecified => {
            return Err(InvalidInput::new(
                "type_livraison",
                "must be one of standard, express, sameday",
            ));
        }
    };
    Ok(Announcement {
        delivery_type,
        pickup: parse_point(a.pickup, "point_ramassage")?,
        dropoff: parse_point(a.dropoff, "point_livraison")?,
        parcel_weight_kg: parse_optional_positive(a.parcel_weight_kg, "poids_colis_kg")?,
        parcel_volume_m3: parse_optional_positive(a.parcel_volume_m3, "volume_colis_m3")?,
    })
}

fn parse_courier(c: pb::Courier) -> Result<Courier, InvalidInput> {
    let vehicle = match c.vehicle_type() {
        pb::VehicleType::Velo => VehicleType::Velo,
        pb::VehicleType::Moto => VehicleType::Moto,
        pb::VehicleType::Voiture => VehicleType::Voiture,
        pb::VehicleType::Camionnette => VehicleType::Camionnette,
        pb::VehicleType::Camion => VehicleType::Camion,
        pb::VehicleType::Unspecified => {
            return Err(InvalidInput::new(
                "type_vehicule",
                "must be one of velo, moto, voiture, camionnette, camion",
            ));
        }
    };
    Ok(Courier {
        position: parse_point(c.position, "position_actuelle")?,
        reputation: Reputation::new(c.reputation)?,
        capacity_kg: Positive::new("capacite_max_kg", c.capacity_kg)?,
        capacity_volume_m3: parse_optional_positive(c.capacity_volume_m3, "capacite_volume_m3")?,
        vehicle,
        id: c.courier_id,
    })
}

fn parse_options(o: pb::RankingOptions) -> Result<RankingOptions, InvalidInput> {
    let matrix = o
        .ahp_matrix
        .map(|m| {
            let n = usize::try_from(m.size).unwrap_or(usize::MAX);
            PairwiseMatrix::new(n, m.values)
        })
        .transpose()?;
    let top_k = o
        .top_k
        .map(|k| {
            usize::try_from(k)
                .ok()
                .and_then(NonZeroUsize::new)
                .ok_or_else(|| InvalidInput::new("top_k", "must be at least 1"))
        })
        .transpose()?;
    Ok(RankingOptions {
        tolerance_km: parse_optional_positive(o.tolerance_km, "tolerance_spatiale_km")?,
        matrix,
        top_k,
    })
}

fn delivery_type_to_pb(t: DeliveryType) -> pb::DeliveryType {
    match t {
        DeliveryType::Standard => pb::DeliveryType::Standard,
        DeliveryType::Express => pb::DeliveryType::Express,
        DeliveryType::Sameday => pb::DeliveryType::Sameday,
    }
}

fn rejection_reason_to_pb(r: RejectionReason) -> pb::RejectionReason {
    match r {
        RejectionReason::OutsideEllipse => pb::RejectionReason::OutsideEllipse,
        RejectionReason::InsufficientWeightCapacity => {
            pb::RejectionReason::InsufficientWeightCapacity
        }
        RejectionReason::InsufficientVolumeCapacity => {
            pb::RejectionReason::InsufficientVolumeCapacity
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).expect("candidate counts are bounded by max_candidates")
}

/// The response for `request`'s ranking; details only when asked for.
pub fn ranking_to_pb(
    request: RankRequest,
    ranking: &Ranking,
    processing_time_ms: f64,
) -> pb::RankCouriersResponse {
    let couriers = &request.couriers;
    let ranked = ranking
        .ranked
        .iter()
        .map(|r| pb::RankedCourier {
            rank: count(r.rank),
            courier_id: couriers[r.index].id.clone(),
            closeness: r.evaluation.closeness,
            details: request.include_details.then(|| {
                let e = &r.evaluation;
                let criterion = |j: usize| pb::CriterionDetail {
                    value: r.values[j],
                    normalized: e.normalized[j],
                    weighted: e.weighted[j],
                    contribution_d_plus: e.contribution_d_plus[j],
                    contribution_d_minus: e.contribution_d_minus[j],
                };
                pb::RankingDetails {
                    distance_pickup_km: r.geometry.distance_pickup_km,
                    distance_dropoff_km: r.geometry.distance_dropoff_km,
                    d_plus: e.d_plus,
                    d_minus: e.d_minus,
                    proximity: Some(criterion(0)),
                    capacity: Some(criterion(1)),
                    vehicle_type: Some(criterion(2)),
                    reputation: Some(criterion(3)),
                }
            }),
        })
        .collect();
    let rejected = if request.include_details {
        ranking
            .rejected
            .iter()
            .map(|r| pb::RejectedCourier {
                courier_id: couriers[r.index].id.clone(),
                reason: rejection_reason_to_pb(r.reason).into(),
                distance_pickup_km: r.geometry.distance_pickup_km,
                distance_dropoff_km: r.geometry.distance_dropoff_km,
                path_km: r.geometry.path_km,
                max_path_km: r.geometry.max_path_km,
            })
            .collect()
    } else {
        Vec::new()
    };
    let w = &ranking.weights;
    pb::RankCouriersResponse {
        announcement_id: request.announcement_id,
        delivery_type: delivery_type_to_pb(request.announcement.delivery_type).into(),
        tolerance_km: ranking.tolerance_km,
        ranked,
        stats: Some(pb::FilterStats {
            total: count(ranking.stats.total),
            eligible: count(ranking.stats.eligible),
            rejected: count(ranking.stats.rejected()),
            rejected_outside_ellipse: count(ranking.stats.rejected_outside_ellipse),
            rejected_capacity: count(ranking.stats.rejected_capacity),
        }),
        weights: Some(pb::AhpWeights {
            proximity: w.weights[0],
            capacity: w.weights[1],
            vehicle_type: w.weights[2],
            reputation: w.weights[3],
            lambda_max: w.lambda_max,
            consistency_index: w.consistency_index,
            consistency_ratio: w.consistency_ratio,
            consistent: w.is_consistent(),
        }),
        rejected,
        processing_time_ms,
    }
}
