//! `/api/v1/livreurs`: courier ranking, the seed contract's JSON (French field names) over the
//! ranking service's gRPC API.

use std::time::{Instant, SystemTime};

use aras_common::correlation::CorrelationId;
use aras_proto::ranking::v1 as pb;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TypeVehicule {
    Velo,
    Moto,
    Voiture,
    Camionnette,
    Camion,
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
    /// 1 to 10,000 couriers (`ARAS_RANKING_MAX_CANDIDATES`).
    #[schema(min_items = 1, max_items = 10000)]
    livreurs_candidats: Vec<LivreurCandidat>,
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
    fn into_pb(self) -> Result<pb::RankCouriersRequest, ApiError> {
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
            candidates: self
                .livreurs_candidats
                .into_iter()
                .map(|c| pb::Courier {
                    position: Some(point_to_pb(&c.position_actuelle)),
                    reputation: c.reputation,
                    capacity_kg: c.capacite_max_kg,
                    capacity_volume_m3: c.capacite_volume_m3,
                    vehicle_type: vehicle_to_pb(c.type_vehicule).into(),
                    courier_id: c.livreur_id,
                })
                .collect(),
            options: Some(pb::RankingOptions {
                tolerance_km: self.options.tolerance_spatiale_km,
                ahp_matrix,
                top_k: self.options.top_k,
                include_details: self.options.include_details,
            }),
        })
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
        let stats = r.stats.unwrap_or_default();
        let w = r.weights.unwrap_or_default();
        let delivery_type = delivery_type_from_pb(r.delivery_type());
        let livreurs_classes = r
            .ranked
            .into_iter()
            .map(|c| LivreurClasse {
                rang: c.rank,
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
            timestamp: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
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
    Extension(correlation_id): Extension<CorrelationId>,
    ApiJson(body): ApiJson<RankRequest>,
) -> Result<Json<RankResponse>, ApiError> {
    let started = Instant::now();
    let include_details = body.options.include_details;
    let request = state.request(body.into_pb()?, &correlation_id);
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

/// Health of the courier-ranking module: 200 when the ranking service serves, else 503.
#[utoipa::path(get, path = "/api/v1/livreurs/health", tag = "livreurs",
    responses(
        (status = 200, description = "The ranking service serves", body = super::health::HealthReport),
        (status = 503, description = "The ranking service does not serve", body = super::health::HealthReport)))]
pub async fn health(State(state): State<AppState>) -> Response {
    super::health::module(&state, "ranking").await
}
