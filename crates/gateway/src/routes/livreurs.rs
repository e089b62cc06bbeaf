//! `/api/v1/livreurs`: courier ranking, the seed contract's JSON (French field names) over the
//! ranking service's gRPC API; and live couriers (profiles and positions, which the ranking
//! service keeps), which a ranking without `livreurs_candidats` ranks. Only shapes are
//! translated here: every rule is the ranking service's.

use std::time::{Duration, Instant, SystemTime};

use aras_auth::Principal;
use aras_common::correlation::CorrelationId;
use aras_proto::ranking::v1 as pb;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

// ---------------------------------------------------------------- request

/// A WGS84 position.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Degrees, −90 to 90.
    #[schema(example = 48.8566, minimum = -90.0, maximum = 90.0)]
    latitude: f64,
    /// Degrees, −180 to 180.
    #[schema(example = 2.3522, minimum = -180.0, maximum = 180.0)]
    longitude: f64,
}

/// Delivery type: sets the default tolerance (10, 5, 3 km) and AHP matrix.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TypeLivraison {
    Standard,
    Express,
    Sameday,
}

/// The delivery to staff.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Annonce {
    /// Echoed in the response.
    #[serde(default)]
    #[schema(example = "ANN-2024-001")]
    annonce_id: String,
    type_livraison: TypeLivraison,
    /// Pickup point F1.
    point_ramassage: Point,
    /// Drop-off point F2.
    point_livraison: Point,
    /// Parcel weight (> 0): couriers with a smaller `capacite_max_kg` are rejected.
    #[schema(exclusive_minimum = 0.0)]
    poids_colis_kg: Option<f64>,
    /// Parcel volume (> 0): couriers with a smaller declared `capacite_volume_m3` are rejected.
    #[schema(exclusive_minimum = 0.0)]
    volume_colis_m3: Option<f64>,
}

/// A candidate courier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LivreurCandidat {
    /// Not empty, and unique within the request.
    #[schema(example = "LIV-001", min_length = 1)]
    livreur_id: String,
    position_actuelle: Point,
    /// 0 to 10.
    #[schema(example = 8.5, minimum = 0.0, maximum = 10.0)]
    reputation: f64,
    /// Greater than 0.
    #[schema(example = 30.0, exclusive_minimum = 0.0)]
    capacite_max_kg: f64,
    /// Optional volume capacity (> 0); when absent the parcel volume is not checked.
    #[schema(exclusive_minimum = 0.0)]
    capacite_volume_m3: Option<f64>,
    type_vehicule: TypeVehicule,
}

/// What a request may change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RankOptions {
    /// Overrides the delivery type's tolerance, in km (> 0).
    #[schema(exclusive_minimum = 0.0)]
    tolerance_spatiale_km: Option<f64>,
    /// A 4×4 pairwise-comparison matrix over (proximity, capacity, vehicle type, reputation):
    /// positive and reciprocal; refused with 422 and its `CR` when CR ≥ 0.1.
    #[schema(schema_with = crate::schema::ahp_matrix)]
    matrice_ahp: Option<Vec<Vec<f64>>>,
    /// Keep only the best `top_k` couriers (≥ 1).
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    #[schema(minimum = 1)]
    top_k: Option<u32>,
    /// Adds per-criterion values and contributions to each ranked courier, and the rejected
    /// couriers with their reasons.
    #[serde(default)]
    include_details: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RankRequest {
    annonce: Annonce,
    /// 1 to 10,000 couriers (`ARAS_RANKING_MAX_CANDIDATES`). Absent: the tenant's live
    /// couriers (registered, with a fresh position) inside the announcement's ellipse are
    /// ranked, every one of them.
    #[schema(min_items = 1, max_items = 10000)]
    livreurs_candidats: Option<Vec<LivreurCandidat>>,
    #[serde(default)]
    options: RankOptions,
}

// ---------------------------------------------------------------- response

/// One criterion's part in a courier's score.
#[derive(Debug, Serialize, ToSchema)]
pub struct Critere {
    /// Raw value (km, kg, vehicle score, reputation).
    valeur: f64,
    /// Vector-normalised value.
    valeur_normalisee: f64,
    /// Normalised value × AHP weight.
    valeur_ponderee: f64,
    /// Squared distance to the ideal on this criterion (the criteria sum to `distance_ideal`²).
    contribution_distance_ideal: f64,
    /// Squared distance to the anti-ideal on this criterion (they sum to `distance_anti_ideal`²).
    contribution_distance_anti_ideal: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Criteres {
    proximite_geographique: Critere,
    capacite: Critere,
    type_vehicule: Critere,
    reputation: Critere,
}

/// Why a courier has its score: `score_final` = `distance_anti_ideal` / (`distance_ideal` + `distance_anti_ideal`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Details {
    distance_ramassage_km: f64,
    distance_livraison_km: f64,
    distance_ideal: f64,
    distance_anti_ideal: f64,
    criteres: Criteres,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LivreurClasse {
    /// From 1.
    rang: u32,
    livreur_id: String,
    /// TOPSIS closeness in [0, 1].
    score_final: f64,
    /// Live ranking only: seconds since the courier's position was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    age_position_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatistiquesFiltrage {
    total_candidats: u32,
    candidats_eligibles: u32,
    candidats_rejetes: u32,
    rejetes_hors_zone: u32,
    rejetes_capacite: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[allow(non_snake_case)] // the seed contract spells them CR and CI
pub struct PoidsAhp {
    proximite_geographique: f64,
    capacite: f64,
    type_vehicule: f64,
    reputation: f64,
    lambda_max: f64,
    CI: f64,
    CR: f64,
    est_coherent: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RaisonRejet {
    HorsZone,
    CapacitePoidsInsuffisante,
    CapaciteVolumeInsuffisante,
}

/// A courier left out, and the geometry that decided it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rejet {
    livreur_id: String,
    raison: RaisonRejet,
    /// Live ranking only: seconds since the courier's position was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    age_position_s: Option<f64>,
    distance_ramassage_km: f64,
    distance_livraison_km: f64,
    /// d(P, pickup) + d(P, drop-off).
    trajet_km: f64,
    /// d(pickup, drop-off) + 2 × tolerance.
    trajet_max_km: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Metadata {
    type_livraison: TypeLivraison,
    tolerance_spatiale_km: f64,
    statistiques_filtrage: StatistiquesFiltrage,
    poids_ahp: PoidsAhp,
    /// Time spent in the gateway for this request, in ms.
    duree_traitement_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidats_rejetes_details: Option<Vec<Rejet>>,
    /// Live ranking only: how the candidates were found.
    #[serde(skip_serializing_if = "Option::is_none")]
    recherche_live: Option<RechercheLive>,
}

/// How a live ranking found its candidates: every courier with a fresh position inside the
/// circle that holds the ellipse was filtered, and every eligible one ranked.
#[derive(Debug, Serialize, ToSchema)]
pub struct RechercheLive {
    centre: PointOut,
    /// Radius of the circle that holds the ellipse, in km.
    rayon_km: f64,
    /// Couriers with a fresh position inside the circle: all of them filtered, every eligible
    /// one ranked (`options.top_k` cuts only the list returned).
    candidats_trouves: u32,
    /// Couriers inside the circle whose position is older than `age_position_max_s`: ignored.
    positions_perimees: u32,
    age_position_max_s: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PointOut {
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankResponse {
    #[schema(example = "success")]
    status: &'static str,
    annonce_id: String,
    /// RFC 3339, UTC.
    timestamp: String,
    livreurs_classes: Vec<LivreurClasse>,
    metadata: Metadata,
}

// ---------------------------------------------------------------- conversions

fn point_to_pb(p: &Point) -> pb::GeoPoint {
    pb::GeoPoint {
        latitude: p.latitude,
        longitude: p.longitude,
    }
}

impl RankRequest {
    /// The request for the ranking service: the given candidates, or the live couriers.
    fn into_pb(self) -> Result<pb::RankCouriersRequest, ApiError> {
        let live = self.livreurs_candidats.is_none();
        let candidates = self
            .livreurs_candidats
            .unwrap_or_default()
            .into_iter()
            .map(candidate_to_pb)
            .collect();
        let delivery_type = match self.annonce.type_livraison {
            TypeLivraison::Standard => pb::DeliveryType::Standard,
            TypeLivraison::Express => pb::DeliveryType::Express,
            TypeLivraison::Sameday => pb::DeliveryType::Sameday,
        };
        let ahp_matrix = self
            .options
            .matrice_ahp
            .as_deref()
            .map(matrix_to_pb)
            .transpose()?;
        Ok(pb::RankCouriersRequest {
            announcement: Some(pb::Announcement {
                announcement_id: self.annonce.annonce_id,
                delivery_type: delivery_type.into(),
                pickup: Some(point_to_pb(&self.annonce.point_ramassage)),
                dropoff: Some(point_to_pb(&self.annonce.point_livraison)),
                parcel_weight_kg: self.annonce.poids_colis_kg,
                parcel_volume_m3: self.annonce.volume_colis_m3,
            }),
            candidates,
            options: Some(pb::RankingOptions {
                tolerance_km: self.options.tolerance_spatiale_km,
                ahp_matrix,
                top_k: self.options.top_k,
                include_details: self.options.include_details,
            }),
            live,
        })
    }
}

fn candidate_to_pb(c: LivreurCandidat) -> pb::Courier {
    pb::Courier {
        position: Some(point_to_pb(&c.position_actuelle)),
        reputation: c.reputation,
        capacity_kg: c.capacite_max_kg,
        capacity_volume_m3: c.capacite_volume_m3,
        vehicle_type: vehicle_to_pb(c.type_vehicule).into(),
        courier_id: c.livreur_id,
    }
}

fn vehicle_to_pb(v: TypeVehicule) -> pb::VehicleType {
    match v {
        TypeVehicule::Velo => pb::VehicleType::Velo,
        TypeVehicule::Moto => pb::VehicleType::Moto,
        TypeVehicule::Voiture => pb::VehicleType::Voiture,
        TypeVehicule::Camionnette => pb::VehicleType::Camionnette,
        TypeVehicule::Camion => pb::VehicleType::Camion,
    }
}

/// Rows to the row-major wire form; a ragged matrix is refused here, where its rows are visible.
fn matrix_to_pb(rows: &[Vec<f64>]) -> Result<pb::PairwiseMatrix, ApiError> {
    let n = rows.len();
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != n) {
        return Err(ApiError::InvalidInput(format!(
            "options.matrice_ahp: must be square: row {i} has {} values, expected {n}",
            row.len()
        )));
    }
    let size = u32::try_from(n)
        .map_err(|_| ApiError::InvalidInput("options.matrice_ahp: too large".into()))?;
    Ok(pb::PairwiseMatrix {
        size,
        values: rows.concat(),
    })
}

fn delivery_type_from_pb(t: pb::DeliveryType) -> TypeLivraison {
    match t {
        pb::DeliveryType::Express => TypeLivraison::Express,
        pb::DeliveryType::Sameday => TypeLivraison::Sameday,
        // The service echoes the validated type; Unspecified cannot come back.
        pb::DeliveryType::Standard | pb::DeliveryType::Unspecified => TypeLivraison::Standard,
    }
}

fn critere(c: Option<pb::CriterionDetail>) -> Critere {
    let c = c.unwrap_or_default();
    Critere {
        valeur: c.value,
        valeur_normalisee: c.normalized,
        valeur_ponderee: c.weighted,
        contribution_distance_ideal: c.contribution_d_plus,
        contribution_distance_anti_ideal: c.contribution_d_minus,
    }
}

fn raison(r: pb::RejectionReason) -> RaisonRejet {
    match r {
        pb::RejectionReason::InsufficientWeightCapacity => RaisonRejet::CapacitePoidsInsuffisante,
        pb::RejectionReason::InsufficientVolumeCapacity => RaisonRejet::CapaciteVolumeInsuffisante,
        pb::RejectionReason::OutsideEllipse | pb::RejectionReason::Unspecified => {
            RaisonRejet::HorsZone
        }
    }
}

impl RankResponse {
    fn from_pb(r: pb::RankCouriersResponse, include_details: bool, started: Instant) -> Self {
        let recherche_live = r.live_search.map(|search| {
            let centre = search.centre.unwrap_or_default();
            RechercheLive {
                centre: PointOut {
                    latitude: centre.latitude,
                    longitude: centre.longitude,
                },
                rayon_km: search.radius_km,
                candidats_trouves: r.stats.unwrap_or_default().total,
                positions_perimees: search.stale,
                age_position_max_s: search.max_position_age_s,
            }
        });
        let stats = r.stats.unwrap_or_default();
        let w = r.weights.unwrap_or_default();
        let delivery_type = delivery_type_from_pb(r.delivery_type());
        let livreurs_classes = r
            .ranked
            .into_iter()
            .map(|c| LivreurClasse {
                rang: c.rank,
                age_position_s: c.position_age_s,
                livreur_id: c.courier_id,
                score_final: c.closeness,
                details: c.details.map(|d| Details {
                    distance_ramassage_km: d.distance_pickup_km,
                    distance_livraison_km: d.distance_dropoff_km,
                    distance_ideal: d.d_plus,
                    distance_anti_ideal: d.d_minus,
                    criteres: Criteres {
                        proximite_geographique: critere(d.proximity),
                        capacite: critere(d.capacity),
                        type_vehicule: critere(d.vehicle_type),
                        reputation: critere(d.reputation),
                    },
                }),
            })
            .collect();
        let rejets = include_details.then(|| {
            r.rejected
                .into_iter()
                .map(|x| Rejet {
                    raison: raison(x.reason()),
                    age_position_s: x.position_age_s,
                    livreur_id: x.courier_id,
                    distance_ramassage_km: x.distance_pickup_km,
                    distance_livraison_km: x.distance_dropoff_km,
                    trajet_km: x.path_km,
                    trajet_max_km: x.max_path_km,
                })
                .collect()
        });
        Self {
            status: "success",
            annonce_id: r.announcement_id,
            timestamp: aras_common::time::rfc3339(SystemTime::now()),
            livreurs_classes,
            metadata: Metadata {
                type_livraison: delivery_type,
                tolerance_spatiale_km: r.tolerance_km,
                statistiques_filtrage: StatistiquesFiltrage {
                    total_candidats: stats.total,
                    candidats_eligibles: stats.eligible,
                    candidats_rejetes: stats.rejected,
                    rejetes_hors_zone: stats.rejected_outside_ellipse,
                    rejetes_capacite: stats.rejected_capacity,
                },
                poids_ahp: PoidsAhp {
                    proximite_geographique: w.proximity,
                    capacite: w.capacity,
                    type_vehicule: w.vehicle_type,
                    reputation: w.reputation,
                    lambda_max: w.lambda_max,
                    CI: w.consistency_index,
                    CR: w.consistency_ratio,
                    est_coherent: w.consistent,
                },
                duree_traitement_ms: started.elapsed().as_secs_f64() * 1e3,
                candidats_rejetes_details: rejets,
                recherche_live,
            },
        }
    }
}

// ---------------------------------------------------------------- handlers

/// Ranks the candidate couriers of a delivery announcement.
///
/// Couriers outside the ellipse around pickup and drop-off (tolerance by delivery type) or
/// too small for the parcel are filtered out; the rest are weighed with AHP over four criteria
/// (proximity, capacity, vehicle type, reputation) and ranked with TOPSIS. No eligible courier
/// is a 200 with an empty list.
///
/// Without `livreurs_candidats` the tenant's live couriers are ranked: every one with a
/// position younger than `ARAS_FLEET_MAX_POSITION_AGE` inside the ellipse (`top_k` cuts only
/// the list returned); each ranked courier then carries its position's age and
/// `metadata.recherche_live` says what the search saw. An answer that would list more than
/// `ARAS_RANKING_MAX_CANDIDATES` couriers is refused (422: set `options.top_k`).
#[utoipa::path(post, path = "/api/v1/livreurs/rank", tag = "livreurs",
    request_body = RankRequest,
    params(("X-Correlation-ID" = Option<String>, Header, description = "Echoed; generated when absent")),
    responses(
        (status = 200, description = "Ranked couriers", body = RankResponse),
        (status = 422, description = "A field breaks a rule (the detail names it); an inconsistent AHP matrix adds its `CR`", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::BackendFailures,
    ))]
pub async fn rank(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(correlation_id): Extension<CorrelationId>,
    ApiJson(body): ApiJson<RankRequest>,
) -> Result<Json<RankResponse>, ApiError> {
    let started = Instant::now();
    let include_details = body.options.include_details;
    if body.livreurs_candidats.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::InvalidInput(
            "livreurs_candidats: must hold at least one courier (leave it out to rank the live couriers)".into(),
        ));
    }
    let request = state.tenant_request(body.into_pb()?, &correlation_id, &principal.tenant);
    let response = state
        .ranking
        .clone()
        .rank_couriers(request)
        .await
        .map_err(|status| ApiError::upstream("ranking", status))?;
    Ok(Json(RankResponse::from_pb(
        response.into_inner(),
        include_details,
        started,
    )))
}

// ---------------------------------------------------------------- live couriers

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TypeVehicule {
    Velo,
    Moto,
    Voiture,
    Camionnette,
    Camion,
}

/// A courier as registered: a candidate's own fields, without its position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// 0 to 10.
    #[schema(example = 8.5, minimum = 0.0, maximum = 10.0)]
    pub reputation: f64,
    /// Greater than 0.
    #[schema(example = 30.0, exclusive_minimum = 0.0)]
    pub capacite_max_kg: f64,
    pub type_vehicule: TypeVehicule,
    /// Optional volume capacity (> 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0)]
    pub capacite_volume_m3: Option<f64>,
}

impl Profile {
    fn to_pb(&self) -> pb::CourierProfile {
        pb::CourierProfile {
            reputation: self.reputation,
            capacity_kg: self.capacite_max_kg,
            capacity_volume_m3: self.capacite_volume_m3,
            vehicle_type: vehicle_to_pb(self.type_vehicule).into(),
        }
    }

    fn from_pb(p: pb::CourierProfile) -> Self {
        let type_vehicule = match p.vehicle_type() {
            pb::VehicleType::Velo => TypeVehicule::Velo,
            pb::VehicleType::Moto => TypeVehicule::Moto,
            pb::VehicleType::Camionnette => TypeVehicule::Camionnette,
            pb::VehicleType::Camion => TypeVehicule::Camion,
            // The service answers the type it validated; Unspecified cannot come back.
            pb::VehicleType::Voiture | pb::VehicleType::Unspecified => TypeVehicule::Voiture,
        };
        Self {
            reputation: p.reputation,
            capacite_max_kg: p.capacity_kg,
            type_vehicule,
            capacite_volume_m3: p.capacity_volume_m3,
        }
    }
}

/// A courier's id in a path. The pattern says what the ranking service accepts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CourierPath {
    /// 1 to 128 characters, no control character; `rank`, `health` and `positions` are
    /// reserved (routes of this API).
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,128}$")]
    livreur_id: String,
}

/// A position report as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionIn {
    /// Degrees, −90 to 90.
    #[schema(example = 48.8566, minimum = -90.0, maximum = 90.0)]
    latitude: f64,
    /// Degrees, −180 to 180.
    #[schema(example = 2.3522, minimum = -180.0, maximum = 180.0)]
    longitude: f64,
    /// When the position was taken: RFC 3339 (`2026-12-06T10:15:00Z`, any offset), at most
    /// 5 s ahead of the ranking service's clock; its clock when absent.
    #[schema(example = "2026-12-06T10:15:00.250Z", format = DateTime)]
    timestamp: Option<String>,
}

impl PositionIn {
    /// The report for `courier_id`; `field` names it in a malformed timestamp's error (the
    /// ranking service checks everything else).
    fn to_pb(&self, courier_id: String, field: &str) -> Result<pb::PositionReport, ApiError> {
        let timestamp_ms = self
            .timestamp
            .as_deref()
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|at| at.timestamp_millis())
                    .map_err(|e| {
                        ApiError::InvalidInput(format!(
                            "{field}timestamp: {text:?} is not an RFC 3339 date-time: {e}"
                        ))
                    })
            })
            .transpose()?;
        Ok(pb::PositionReport {
            courier_id,
            position: Some(pb::GeoPoint {
                latitude: self.latitude,
                longitude: self.longitude,
            }),
            timestamp_ms,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PositionOut {
    latitude: f64,
    longitude: f64,
    /// RFC 3339, UTC.
    timestamp: String,
    /// Seconds since it was taken.
    age_s: f64,
    /// Older than `ARAS_FLEET_MAX_POSITION_AGE`: live ranking ignores it.
    perimee: bool,
}

/// A registered courier.
#[derive(Debug, Serialize, ToSchema)]
pub struct LivreurOut {
    livreur_id: String,
    profil: Profile,
    /// Its last position; `null` when offline or never reported.
    position: Option<PositionOut>,
}

impl LivreurOut {
    fn from_pb(c: pb::LiveCourier) -> Self {
        let position = c.last_position.map(|fix| {
            let point = fix.position.unwrap_or_default();
            let at = SystemTime::UNIX_EPOCH
                + Duration::from_millis(u64::try_from(fix.timestamp_ms).unwrap_or(0));
            PositionOut {
                latitude: point.latitude,
                longitude: point.longitude,
                timestamp: aras_common::time::rfc3339(at),
                age_s: c.position_age_s,
                perimee: c.stale,
            }
        });
        Self {
            livreur_id: c.courier_id,
            profil: Profile::from_pb(c.profile.unwrap_or_default()),
            position,
        }
    }
}

/// Registers a courier's profile, or replaces it (its position is kept).
#[utoipa::path(put, path = "/api/v1/livreurs/{livreur_id}", tag = "livreurs",
    request_body = Profile,
    params(CourierPath),
    responses(
        (status = 201, description = "Registered", body = LivreurOut),
        (status = 200, description = "Profile replaced", body = LivreurOut),
        (status = 422, description = "A field breaks a rule, or the id is reserved", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::FleetUnavailable,
    ))]
pub async fn register(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(correlation_id): Extension<CorrelationId>,
    Path(CourierPath { livreur_id }): Path<CourierPath>,
    ApiJson(profile): ApiJson<Profile>,
) -> Result<Response, ApiError> {
    let request = pb::RegisterCourierRequest {
        courier_id: livreur_id,
        profile: Some(profile.to_pb()),
    };
    let answer = state
        .fleet
        .clone()
        .register_courier(state.tenant_request(request, &correlation_id, &principal.tenant))
        .await
        .map_err(|status| ApiError::upstream("ranking", status))?
        .into_inner();
    let status = if answer.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let courier = LivreurOut::from_pb(answer.courier.unwrap_or_default());
    Ok((status, Json(courier)).into_response())
}

/// A registered courier's profile and last position.
#[utoipa::path(get, path = "/api/v1/livreurs/{livreur_id}", tag = "livreurs",
    params(CourierPath),
    responses(
        (status = 200, description = "The courier", body = LivreurOut),
        (status = 404, description = "Not registered", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed courier id", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::FleetUnavailable,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(correlation_id): Extension<CorrelationId>,
    Path(CourierPath { livreur_id }): Path<CourierPath>,
) -> Result<Json<LivreurOut>, ApiError> {
    let request = pb::GetCourierRequest {
        courier_id: livreur_id,
    };
    let courier = state
        .fleet
        .clone()
        .get_courier(state.tenant_request(request, &correlation_id, &principal.tenant))
        .await
        .map_err(|status| ApiError::upstream("ranking", status))?
        .into_inner();
    Ok(Json(LivreurOut::from_pb(courier)))
}

/// Sends reports to the ranking service; their outcomes in order.
async fn report(
    state: &AppState,
    principal: &Principal,
    correlation_id: &CorrelationId,
    reports: Vec<pb::PositionReport>,
    single: bool,
) -> Result<Vec<pb::ReportOutcome>, ApiError> {
    let request = pb::ReportPositionsRequest { reports, single };
    let answer = state
        .fleet
        .clone()
        .report_positions(state.tenant_request(request, correlation_id, &principal.tenant))
        .await
        .map_err(|status| ApiError::upstream("ranking", status))?
        .into_inner();
    Ok(answer.outcomes().collect())
}

/// What became of a position report.
#[derive(Debug, Serialize, ToSchema)]
pub struct PositionAck {
    livreur_id: String,
    /// `false`: not newer than the position held, which stays (a late or repeated report).
    appliquee: bool,
}

/// Reports where a registered courier is now.
///
/// A report not newer than the one held is ignored (200 with `appliquee: false`): reports may
/// arrive late or twice, and the newest wins.
#[utoipa::path(post, path = "/api/v1/livreurs/{livreur_id}/position", tag = "livreurs",
    request_body = PositionIn,
    params(CourierPath),
    responses(
        (status = 200, description = "Applied, or ignored as not newer", body = PositionAck),
        (status = 404, description = "Not registered", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Coordinates out of range, a timestamp in the future or malformed", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::FleetUnavailable,
    ))]
pub async fn report_position(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(correlation_id): Extension<CorrelationId>,
    Path(CourierPath { livreur_id }): Path<CourierPath>,
    ApiJson(position): ApiJson<PositionIn>,
) -> Result<Json<PositionAck>, ApiError> {
    let report_pb = position.to_pb(livreur_id.clone(), "")?;
    let outcomes = report(&state, &principal, &correlation_id, vec![report_pb], true).await?;
    Ok(Json(PositionAck {
        livreur_id,
        appliquee: outcomes == [pb::ReportOutcome::Applied],
    }))
}

/// Takes a courier offline: its position is forgotten (live ranking skips it), its profile
/// kept; its next report brings it back.
#[utoipa::path(delete, path = "/api/v1/livreurs/{livreur_id}/position", tag = "livreurs",
    params(CourierPath),
    responses(
        (status = 204, description = "Offline"),
        (status = 404, description = "Not registered", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed courier id", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::FleetUnavailable,
    ))]
pub async fn go_offline(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(correlation_id): Extension<CorrelationId>,
    Path(CourierPath { livreur_id }): Path<CourierPath>,
) -> Result<StatusCode, ApiError> {
    let request = pb::GoOfflineRequest {
        courier_id: livreur_id,
    };
    state
        .fleet
        .clone()
        .go_offline(state.tenant_request(request, &correlation_id, &principal.tenant))
        .await
        .map_err(|status| ApiError::upstream("ranking", status))?;
    Ok(StatusCode::NO_CONTENT)
}

/// One courier's report in a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchPosition {
    /// 1 to 128 characters, no control character.
    #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,128}$")]
    livreur_id: String,
    /// As in a single report.
    #[schema(minimum = -90.0, maximum = 90.0)]
    latitude: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
    longitude: f64,
    #[schema(format = DateTime)]
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionBatch {
    /// 1 to `ARAS_FLEET_MAX_BATCH` (10,000) reports, applied in order.
    #[schema(min_items = 1, max_items = 10000)]
    positions: Vec<BatchPosition>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAck {
    appliquees: u32,
    /// Not newer than the position held: ignored.
    ignorees: Vec<String>,
    /// Not registered: ignored.
    inconnus: Vec<String>,
}

/// A fleet's tick: many couriers' positions in one call.
///
/// Every report is checked first; one bad report refuses the whole batch (422 naming it) and
/// nothing is stored. Reports for unregistered couriers, or not newer than the held position,
/// are ignored and listed.
#[utoipa::path(post, path = "/api/v1/livreurs/positions", tag = "livreurs",
    request_body = PositionBatch,
    responses(
        (status = 200, description = "Applied; the ignored listed", body = BatchAck),
        (status = 422, description = "Empty, over the limit, or a report breaks a rule (the detail names it)", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::FleetUnavailable,
    ))]
pub async fn report_positions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(correlation_id): Extension<CorrelationId>,
    ApiJson(batch): ApiJson<PositionBatch>,
) -> Result<Json<BatchAck>, ApiError> {
    let reports = batch
        .positions
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let position = PositionIn {
                latitude: p.latitude,
                longitude: p.longitude,
                timestamp: p.timestamp,
            };
            position.to_pb(p.livreur_id, &format!("positions[{i}]."))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<String> = reports.iter().map(|r| r.courier_id.clone()).collect();
    let outcomes = report(&state, &principal, &correlation_id, reports, false).await?;
    let mut ack = BatchAck {
        appliquees: 0,
        ignorees: Vec::new(),
        inconnus: Vec::new(),
    };
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        match outcome {
            pb::ReportOutcome::Applied => ack.appliquees += 1,
            pb::ReportOutcome::NotNewer => ack.ignorees.push(id),
            pb::ReportOutcome::UnknownCourier | pb::ReportOutcome::Unspecified => {
                ack.inconnus.push(id);
            }
        }
    }
    Ok(Json(ack))
}

/// The courier ids that name this API's own routes under `/api/v1/livreurs/`, whose routes
/// answer before any courier route could. The ranking service refuses them as well (for the
/// other clients of its gRPC API); these routes answer without asking it, so that
/// `PUT /api/v1/livreurs/health` needs no credentials, like the health route it shares a path
/// with.
fn reserved_id(id: &str) -> ApiError {
    ApiError::InvalidInput(format!(
        "livreur_id: {id:?} is reserved (a route of the API under /api/v1/livreurs/); reserved: rank, health, positions"
    ))
}

/// `rank` names the ranking route: no courier may be registered under it.
#[utoipa::path(put, path = "/api/v1/livreurs/rank", tag = "livreurs",
    responses((status = 422, description = "A reserved courier id", body = aras_common::problem::Problem, content_type = "application/problem+json")))]
pub async fn register_rank() -> ApiError {
    reserved_id("rank")
}

/// `health` names the module's health route: no courier may be registered under it.
#[utoipa::path(put, path = "/api/v1/livreurs/health", tag = "livreurs",
    responses((status = 422, description = "A reserved courier id", body = aras_common::problem::Problem, content_type = "application/problem+json")))]
pub async fn register_health() -> ApiError {
    reserved_id("health")
}

/// `positions` names the batch route: no courier may be registered under it.
#[utoipa::path(put, path = "/api/v1/livreurs/positions", tag = "livreurs",
    responses((status = 422, description = "A reserved courier id", body = aras_common::problem::Problem, content_type = "application/problem+json")))]
pub async fn register_positions() -> ApiError {
    reserved_id("positions")
}

/// Health of the courier-ranking module: 200 when the ranking service serves, else 503.
#[utoipa::path(get, path = "/api/v1/livreurs/health", tag = "livreurs",
    responses(
        (status = 200, description = "The ranking service serves", body = super::health::HealthSummary),
        (status = 503, description = "The ranking service does not serve", body = super::health::HealthSummary)))]
pub async fn health(State(state): State<AppState>) -> Response {
    super::health::module(&state, "ranking").await
}
