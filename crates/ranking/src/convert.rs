//! Proto ⇄ domain. Every request field is validated here, with its path in the public API's
//! names (`livreurs_candidats[3].reputation`), so a REST user reads the field they sent.

use std::num::NonZeroUsize;

use aras_proto::ranking::v1 as pb;
use aras_ranking_core::live::Fix;
use aras_ranking_core::{
    Announcement, Courier, DeliveryType, InvalidInput, LatLon, PairwiseMatrix, Positive, Profile,
    Ranking, RankingOptions, RejectionReason, Reputation, VehicleType,
};

use crate::fleet::{Report, ReportOutcome, StoredCourier};

/// A validated ranking request.
pub struct RankRequest {
    pub announcement_id: String,
    pub announcement: Announcement,
    /// Empty for a live ranking.
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
        if request.live && !request.candidates.is_empty() {
            return Err(InvalidInput::new(
                "livreurs_candidats",
                "must be absent for a live ranking",
            ));
        }
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
    Ok(Courier {
        position: parse_point(c.position, "position_actuelle")?,
        profile: parse_profile(
            c.reputation,
            c.capacity_kg,
            c.capacity_volume_m3,
            c.vehicle_type(),
        )?,
        id: c.courier_id,
    })
}

/// A courier's own fields, validated (REST names: a candidate's and a profile's are the same).
fn parse_profile(
    reputation: f64,
    capacity_kg: f64,
    capacity_volume_m3: Option<f64>,
    vehicle: pb::VehicleType,
) -> Result<Profile, InvalidInput> {
    let vehicle = match vehicle {
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
    Ok(Profile {
        reputation: Reputation::new(reputation)?,
        capacity_kg: Positive::new("capacite_max_kg", capacity_kg)?,
        capacity_volume_m3: parse_optional_positive(capacity_volume_m3, "capacite_volume_m3")?,
        vehicle,
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
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a response says of each courier it names: its id and, for live rankings, its
/// position's age in seconds.
pub trait CourierNames {
    fn id(&self, index: usize) -> String;
    fn position_age_s(&self, index: usize) -> Option<f64>;
}

/// Given candidates: their ids in input order, no position age.
impl CourierNames for [Courier] {
    fn id(&self, index: usize) -> String {
        self[index].id.clone()
    }

    fn position_age_s(&self, _: usize) -> Option<f64> {
        None
    }
}

/// The response for a ranking; details only when asked for.
pub fn ranking_to_pb(
    request: &RankRequest,
    ranking: &Ranking,
    names: &(impl CourierNames + ?Sized),
    live_search: Option<pb::LiveSearch>,
    processing_time_ms: f64,
) -> pb::RankCouriersResponse {
    let ranked = ranking
        .ranked
        .iter()
        .map(|r| pb::RankedCourier {
            rank: count(r.rank),
            courier_id: names.id(r.index),
            closeness: r.evaluation.closeness,
            position_age_s: names.position_age_s(r.index),
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
                courier_id: names.id(r.index),
                reason: rejection_reason_to_pb(r.reason).into(),
                distance_pickup_km: r.geometry.distance_pickup_km,
                distance_dropoff_km: r.geometry.distance_dropoff_km,
                path_km: r.geometry.path_km,
                max_path_km: r.geometry.max_path_km,
                position_age_s: names.position_age_s(r.index),
            })
            .collect()
    } else {
        Vec::new()
    };
    let w = &ranking.weights;
    pb::RankCouriersResponse {
        announcement_id: request.announcement_id.clone(),
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
        live_search,
    }
}

// ---------------------------------------------------------------- live couriers

/// The longest courier id accepted, in characters.
const MAX_COURIER_ID_CHARS: usize = 128;

/// Ids that would collide with the REST API's static routes under `/api/v1/livreurs/`.
const RESERVED_COURIER_IDS: [&str; 3] = ["rank", "health", "positions"];

/// How far ahead of this service's clock a position's timestamp may be (clock skew).
const MAX_CLOCK_SKEW_MS: u64 = 5_000;

/// A courier id: 1 to 128 characters, none a control character (the change log separates
/// fields with control characters).
pub fn parse_courier_id(id: &str, field: &str) -> Result<(), InvalidInput> {
    let length = id.chars().count();
    if length == 0 || length > MAX_COURIER_ID_CHARS || id.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            format!("must be 1 to {MAX_COURIER_ID_CHARS} characters, none a control character"),
        ));
    }
    Ok(())
}

/// A courier to register: its id (not a reserved one) and profile.
pub fn parse_registration(
    request: pb::RegisterCourierRequest,
) -> Result<(String, Profile), InvalidInput> {
    parse_courier_id(&request.courier_id, "livreur_id")?;
    if RESERVED_COURIER_IDS.contains(&request.courier_id.as_str()) {
        return Err(InvalidInput::new(
            "livreur_id",
            format!(
                "{:?} is reserved (a route of the API under /api/v1/livreurs/); reserved: {}",
                request.courier_id,
                RESERVED_COURIER_IDS.join(", ")
            ),
        ));
    }
    let p = request
        .profile
        .ok_or_else(|| InvalidInput::new("profil", "is required"))?;
    let profile = parse_profile(
        p.reputation,
        p.capacity_kg,
        p.capacity_volume_m3,
        p.vehicle_type(),
    )?;
    Ok((request.courier_id, profile))
}

/// Position reports, all valid or refused whole; `now_ms` stands for absent timestamps.
pub fn parse_reports(
    request: pb::ReportPositionsRequest,
    max_batch: usize,
    now_ms: u64,
) -> Result<Vec<Report>, InvalidInput> {
    let n = request.reports.len();
    if n == 0 || n > max_batch {
        return Err(InvalidInput::new(
            "positions",
            format!("holds {n} reports, must hold 1 to {max_batch} (ARAS_FLEET_MAX_BATCH)"),
        ));
    }
    request
        .reports
        .into_iter()
        .enumerate()
        .map(|(i, report)| {
            let within = |e: InvalidInput| {
                if request.single {
                    e
                } else {
                    e.within(&format!("positions[{i}]"))
                }
            };
            parse_report(report, now_ms).map_err(within)
        })
        .collect()
}

fn parse_report(report: pb::PositionReport, now_ms: u64) -> Result<Report, InvalidInput> {
    parse_courier_id(&report.courier_id, "livreur_id")?;
    let point = report
        .position
        .ok_or_else(|| InvalidInput::new("position", "is required"))?;
    let position = LatLon::new(point.latitude, point.longitude)?;
    let at_ms = match report.timestamp_ms {
        None => now_ms,
        // Before 1970 is merely very old: kept as 0, and stale.
        Some(ms) => u64::try_from(ms).unwrap_or(0),
    };
    if at_ms > now_ms + MAX_CLOCK_SKEW_MS {
        return Err(InvalidInput::new(
            "timestamp",
            format!(
                "is in the future ({} ms ahead of the ranking service's clock; at most {MAX_CLOCK_SKEW_MS} ms)",
                at_ms - now_ms
            ),
        ));
    }
    Ok(Report {
        courier_id: report.courier_id,
        fix: Fix { position, at_ms },
    })
}

fn vehicle_to_pb(v: VehicleType) -> pb::VehicleType {
    match v {
        VehicleType::Velo => pb::VehicleType::Velo,
        VehicleType::Moto => pb::VehicleType::Moto,
        VehicleType::Voiture => pb::VehicleType::Voiture,
        VehicleType::Camionnette => pb::VehicleType::Camionnette,
        VehicleType::Camion => pb::VehicleType::Camion,
    }
}

pub fn profile_to_pb(p: &Profile) -> pb::CourierProfile {
    pb::CourierProfile {
        reputation: p.reputation.get(),
        capacity_kg: p.capacity_kg.get(),
        capacity_volume_m3: p.capacity_volume_m3.map(Positive::get),
        vehicle_type: vehicle_to_pb(p.vehicle).into(),
    }
}

/// Seconds from `then_ms` to `now_ms` (0 for a fix a hair in the future).
pub fn age_s(then_ms: u64, now_ms: u64) -> f64 {
    now_ms.saturating_sub(then_ms) as f64 / 1e3
}

/// A courier as the Fleet API answers it.
pub fn live_courier_to_pb(
    courier_id: String,
    courier: &StoredCourier,
    max_age_ms: u64,
    now_ms: u64,
) -> pb::LiveCourier {
    let age_ms = courier.fix.map(|f| now_ms.saturating_sub(f.at_ms));
    pb::LiveCourier {
        courier_id,
        profile: Some(profile_to_pb(&courier.profile)),
        last_position: courier.fix.map(|f| pb::PositionFix {
            position: Some(pb::GeoPoint {
                latitude: f.position.lat(),
                longitude: f.position.lon(),
            }),
            timestamp_ms: i64::try_from(f.at_ms).unwrap_or(i64::MAX),
        }),
        position_age_s: age_ms.map_or(0.0, |ms| ms as f64 / 1e3),
        stale: age_ms.is_some_and(|ms| ms > max_age_ms),
    }
}

pub fn outcome_to_pb(o: ReportOutcome) -> pb::ReportOutcome {
    match o {
        ReportOutcome::Applied => pb::ReportOutcome::Applied,
        ReportOutcome::NotNewer => pb::ReportOutcome::NotNewer,
        ReportOutcome::UnknownCourier => pb::ReportOutcome::UnknownCourier,
    }
}
