//! `/api/v1/livreurs`: courier ranking, the seed contract's JSON (French field names) over the
//! ranking service's gRPC API; and live couriers (profiles and positions in Redis), which a
//! ranking without `livreurs_candidats` ranks.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use aras_auth::Principal;
use aras_common::correlation::CorrelationId;
use aras_proto::ranking::v1 as pb;
use aras_ranking_core::geo::{Ellipse, LatLon};
use aras_ranking_core::{DeliveryType, InvalidInput, Positive};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::fleet::{self, LiveCourier, PositionUpdate, Profile, TypeVehicule, UpdateOutcome};
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
    /// couriers (registered, with a fresh position) around the announcement are ranked.
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

/// How a live ranking found its candidates: one radius search around the ellipse's centre.
#[derive(Debug, Serialize, ToSchema)]
pub struct RechercheLive {
    centre: PointOut,
    /// Radius of the circle that holds the ellipse, in km.
    rayon_km: f64,
    /// Couriers with a fresh position inside the circle, passed to the ranking.
    candidats_trouves: u32,
    /// Positions found older than `age_position_max_s`: ignored.
    positions_perimees: u32,
    age_position_max_s: f64,
    /// The search stopped at `ARAS_FLEET_MAX_CANDIDATES`, nearest the centre first.
    limite_atteinte: bool,
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
    /// The request for the ranking service, ranking `candidates`.
    fn into_pb(self, candidates: Vec<pb::Courier>) -> Result<pb::RankCouriersRequest, ApiError> {
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

fn live_to_pb(c: &LiveCourier) -> pb::Courier {
    pb::Courier {
        position: Some(pb::GeoPoint {
            latitude: c.latitude,
            longitude: c.longitude,
        }),
        reputation: c.profile.reputation,
        capacity_kg: c.profile.capacite_max_kg,
        capacity_volume_m3: c.profile.capacite_volume_m3,
        vehicle_type: vehicle_to_pb(c.profile.type_vehicule).into(),
        courier_id: c.courier_id.clone(),
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
    /// `live`: the live search, and each courier's position age in seconds.
    fn from_pb(
        r: pb::RankCouriersResponse,
        include_details: bool,
        live: Option<(RechercheLive, HashMap<String, f64>)>,
        started: Instant,
    ) -> Self {
        let (recherche_live, ages) = live.unzip();
        let age = |id: &str| ages.as_ref().and_then(|ages| ages.get(id).copied());
        let stats = r.stats.unwrap_or_default();
        let w = r.weights.unwrap_or_default();
        let delivery_type = delivery_type_from_pb(r.delivery_type());
        let livreurs_classes = r
            .ranked
            .into_iter()
            .map(|c| LivreurClasse {
                rang: c.rank,
                age_position_s: age(&c.courier_id),
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
                    age_position_s: age(&x.courier_id),
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
/// Without `livreurs_candidats` the tenant's live couriers are ranked: those with a position
/// younger than `ARAS_FLEET_MAX_POSITION_AGE` inside the circle that holds the ellipse (at most
/// `ARAS_FLEET_MAX_CANDIDATES`, nearest its centre first); each ranked courier then carries its
/// position's age and `metadata.recherche_live` says how they were found.
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
    ApiJson(mut body): ApiJson<RankRequest>,
) -> Result<Json<RankResponse>, ApiError> {
    let started = Instant::now();
    let include_details = body.options.include_details;
    let (candidates, live) = match body.livreurs_candidats.take() {
        Some(given) if given.is_empty() => {
            return Err(ApiError::InvalidInput(
                "livreurs_candidats: must hold at least one courier".into(),
            ));
        }
        Some(given) => (given.into_iter().map(candidate_to_pb).collect(), None),
        None => {
            let (couriers, search) = live_candidates(&state, &principal, &body).await?;
            let now = fleet::now_ms();
            let ages = couriers
                .iter()
                .map(|c| (c.courier_id.clone(), age_s(c.timestamp_ms, now)))
                .collect();
            (
                couriers.iter().map(live_to_pb).collect(),
                Some((search, ages)),
            )
        }
    };
    let request = state.request(body.into_pb(candidates)?, &correlation_id);
    let response = state
        .ranking
        .clone()
        .rank_couriers(request)
        .await
        .map_err(|status| ApiError::upstream("ranking", status))?;
    Ok(Json(RankResponse::from_pb(
        response.into_inner(),
        include_details,
        live,
        started,
    )))
}

/// Seconds from `then_ms` to `now_ms` (0 for a fix a hair in the future).
fn age_s(then_ms: u64, now_ms: u64) -> f64 {
    Duration::from_millis(now_ms.saturating_sub(then_ms)).as_secs_f64()
}

/// The tenant's live couriers that may serve the announcement: one radius search around the
/// centre of the circle holding the ellipse. Points and tolerance are checked here with the
/// ranking's own rules, because the search needs them before the ranking service sees them.
async fn live_candidates(
    state: &AppState,
    principal: &Principal,
    body: &RankRequest,
) -> Result<(Vec<LiveCourier>, RechercheLive), ApiError> {
    let invalid = |e: InvalidInput| ApiError::InvalidInput(e.to_string());
    let point = |p: &Point, field: &str| {
        LatLon::new(p.latitude, p.longitude).map_err(|e| invalid(e.within(field)))
    };
    let pickup = point(&body.annonce.point_ramassage, "annonce.point_ramassage")?;
    let dropoff = point(&body.annonce.point_livraison, "annonce.point_livraison")?;
    for (p, field) in [(pickup, "point_ramassage"), (dropoff, "point_livraison")] {
        if p.lat().abs() > fleet::MAX_LATITUDE {
            return Err(ApiError::InvalidInput(format!(
                "annonce.{field}.latitude: live ranking covers latitudes within ±{} (the range of the geo index), got {}",
                fleet::MAX_LATITUDE,
                p.lat()
            )));
        }
    }
    let tolerance_km = match body.options.tolerance_spatiale_km {
        Some(km) => Positive::new("options.tolerance_spatiale_km", km)
            .map_err(invalid)?
            .get(),
        None => delivery_type(body.annonce.type_livraison).default_tolerance_km(),
    };
    let (centre, radius_km) = Ellipse::new(pickup, dropoff, tolerance_km).bounding_circle();
    // Half the Earth's circumference already covers it all.
    let radius_km = radius_km.min(std::f64::consts::PI * aras_ranking_core::geo::EARTH_RADIUS_KM);
    let nearby = state
        .fleet
        .nearby(
            principal.tenant.as_str(),
            (centre.lat(), centre.lon()),
            radius_km,
            fleet::now_ms(),
        )
        .await?;
    let search = RechercheLive {
        centre: PointOut {
            latitude: centre.lat(),
            longitude: centre.lon(),
        },
        rayon_km: radius_km,
        candidats_trouves: u32::try_from(nearby.couriers.len()).unwrap_or(u32::MAX),
        positions_perimees: u32::try_from(nearby.stale).unwrap_or(u32::MAX),
        age_position_max_s: state.fleet.config.max_position_age.as_secs_f64(),
        limite_atteinte: nearby.truncated,
    };
    Ok((nearby.couriers, search))
}

fn delivery_type(t: TypeLivraison) -> DeliveryType {
    match t {
        TypeLivraison::Standard => DeliveryType::Standard,
        TypeLivraison::Express => DeliveryType::Express,
        TypeLivraison::Sameday => DeliveryType::Sameday,
    }
}

// ---------------------------------------------------------------- live couriers

/// The longest courier id accepted, in characters.
const MAX_COURIER_ID_CHARS: usize = 128;

/// How far ahead of the gateway's clock a position's timestamp may be (clock skew).
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// A courier's id in a path. The pattern says what `check_courier_id` accepts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CourierPath {
    /// 1 to 128 characters, no control character.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,128}$")]
    livreur_id: String,
}

fn check_courier_id(id: &str, field: &str) -> Result<(), ApiError> {
    let length = id.chars().count();
    if length == 0 || length > MAX_COURIER_ID_CHARS || id.chars().any(char::is_control) {
        return Err(ApiError::InvalidInput(format!(
            "{field}: must be 1 to {MAX_COURIER_ID_CHARS} characters, none a control character"
        )));
    }
    Ok(())
}

/// A position report as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionIn {
    /// Degrees, −85.05 to 85.05 (the range of Redis's geo index).
    #[schema(example = 48.8566, minimum = -85.051_128_78, maximum = 85.051_128_78)]
    latitude: f64,
    /// Degrees, −180 to 180.
    #[schema(example = 2.3522, minimum = -180.0, maximum = 180.0)]
    longitude: f64,
    /// When the position was taken: RFC 3339 (`2026-12-06T10:15:00Z`, any offset), at most
    /// 5 s ahead of the gateway's clock; the gateway's clock when absent.
    #[schema(example = "2026-12-06T10:15:00.250Z", format = DateTime)]
    timestamp: Option<String>,
}

impl PositionIn {
    /// The report for `courier_id`, or why it is refused; `field` names it in the error.
    fn validate(
        self,
        courier_id: String,
        field: &str,
        now_ms: u64,
    ) -> Result<PositionUpdate, ApiError> {
        let invalid = |what: &str, message: String| {
            ApiError::InvalidInput(format!("{field}{what}: {message}"))
        };
        if !self.latitude.is_finite() || self.latitude.abs() > fleet::MAX_LATITUDE {
            return Err(invalid(
                "latitude",
                format!(
                    "must be within [-{max}, {max}] (the range of the geo index), got {}",
                    self.latitude,
                    max = fleet::MAX_LATITUDE
                ),
            ));
        }
        if !self.longitude.is_finite() || self.longitude.abs() > 180.0 {
            return Err(invalid(
                "longitude",
                format!("must be within [-180, 180], got {}", self.longitude),
            ));
        }
        let timestamp_ms = match &self.timestamp {
            None => now_ms,
            Some(text) => {
                let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
                    invalid(
                        "timestamp",
                        format!("{text:?} is not an RFC 3339 date-time: {e}"),
                    )
                })?;
                // Before 1970 is merely very old: kept as 0, and stale.
                let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
                let latest = now_ms + u64::try_from(MAX_CLOCK_SKEW.as_millis()).unwrap_or(0);
                if ms > latest {
                    return Err(invalid(
                        "timestamp",
                        format!(
                            "{text:?} is in the future (more than 5 s ahead of the gateway's clock)"
                        ),
                    ));
                }
                ms
            }
        };
        Ok(PositionUpdate {
            courier_id,
            latitude: self.latitude,
            longitude: self.longitude,
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

/// Registers a courier's profile, or replaces it (its position is kept).
#[utoipa::path(put, path = "/api/v1/livreurs/{livreur_id}", tag = "livreurs",
    request_body = Profile,
    params(CourierPath),
    responses(
        (status = 201, description = "Registered", body = LivreurOut),
        (status = 200, description = "Profile replaced", body = LivreurOut),
        (status = 422, description = "A field breaks a rule", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::FleetUnavailable,
    ))]
pub async fn register(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(CourierPath { livreur_id }): Path<CourierPath>,
    ApiJson(profile): ApiJson<Profile>,
) -> Result<Response, ApiError> {
    check_courier_id(&livreur_id, "livreur_id")?;
    profile
        .validate()
        .map_err(|e| ApiError::InvalidInput(e.to_string()))?;
    let tenant = principal.tenant.as_str();
    let created = state.fleet.register(tenant, &livreur_id, &profile).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(courier(&state, tenant, livreur_id).await?)).into_response())
}

async fn courier(
    state: &AppState,
    tenant: &str,
    livreur_id: String,
) -> Result<LivreurOut, ApiError> {
    let registered = state
        .fleet
        .get(tenant, &livreur_id)
        .await?
        .ok_or_else(|| fleet::FleetError::UnknownCourier(livreur_id.clone()))?;
    let now = fleet::now_ms();
    let position = registered.position.map(|(latitude, longitude, ms)| {
        let age_s = age_s(ms, now);
        PositionOut {
            latitude,
            longitude,
            timestamp: humantime::format_rfc3339_millis(
                SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
            )
            .to_string(),
            age_s,
            perimee: age_s > state.fleet.config.max_position_age.as_secs_f64(),
        }
    });
    Ok(LivreurOut {
        livreur_id,
        profil: registered.profile,
        position,
    })
}

/// A registered courier's profile and last position.
#[utoipa::path(get, path = "/api/v1/livreurs/{livreur_id}", tag = "livreurs",
    params(CourierPath),
    responses(
        (status = 200, description = "The courier", body = LivreurOut),
        (status = 404, description = "Not registered", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::FleetUnavailable,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(CourierPath { livreur_id }): Path<CourierPath>,
) -> Result<Json<LivreurOut>, ApiError> {
    Ok(Json(
        courier(&state, principal.tenant.as_str(), livreur_id).await?,
    ))
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
    Path(CourierPath { livreur_id }): Path<CourierPath>,
    ApiJson(position): ApiJson<PositionIn>,
) -> Result<Json<PositionAck>, ApiError> {
    check_courier_id(&livreur_id, "livreur_id")?;
    let report = position.validate(livreur_id.clone(), "", fleet::now_ms())?;
    let outcome = state
        .fleet
        .update(principal.tenant.as_str(), &[report])
        .await?;
    match outcome.as_slice() {
        [UpdateOutcome::UnknownCourier] => {
            Err(fleet::FleetError::UnknownCourier(livreur_id).into())
        }
        [applied] => Ok(Json(PositionAck {
            livreur_id,
            appliquee: *applied == UpdateOutcome::Applied,
        })),
        _ => Err(fleet::FleetError::Malformed("one outcome per report".into()).into()),
    }
}

/// Takes a courier offline: its position is forgotten (live ranking skips it), its profile
/// kept; its next report brings it back.
#[utoipa::path(delete, path = "/api/v1/livreurs/{livreur_id}/position", tag = "livreurs",
    params(CourierPath),
    responses(
        (status = 204, description = "Offline"),
        (status = 404, description = "Not registered", body = aras_common::problem::Problem, content_type = "application/problem+json"),
        crate::schema::FleetUnavailable,
    ))]
pub async fn go_offline(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(CourierPath { livreur_id }): Path<CourierPath>,
) -> Result<StatusCode, ApiError> {
    state
        .fleet
        .offline(principal.tenant.as_str(), &livreur_id)
        .await?;
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
    #[schema(minimum = -85.051_128_78, maximum = 85.051_128_78)]
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
    ApiJson(batch): ApiJson<PositionBatch>,
) -> Result<Json<BatchAck>, ApiError> {
    let max = state.fleet.config.max_batch;
    if batch.positions.is_empty() || batch.positions.len() > max {
        return Err(ApiError::InvalidInput(format!(
            "positions: holds {} reports, must hold 1 to {max}",
            batch.positions.len()
        )));
    }
    let now = fleet::now_ms();
    let reports = batch
        .positions
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let field = format!("positions[{i}].");
            check_courier_id(&p.livreur_id, &format!("{field}livreur_id"))?;
            let position = PositionIn {
                latitude: p.latitude,
                longitude: p.longitude,
                timestamp: p.timestamp,
            };
            position.validate(p.livreur_id, &field, now)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = state
        .fleet
        .update(principal.tenant.as_str(), &reports)
        .await?;
    let mut ack = BatchAck {
        appliquees: 0,
        ignorees: Vec::new(),
        inconnus: Vec::new(),
    };
    for (report, outcome) in reports.into_iter().zip(outcomes) {
        match outcome {
            UpdateOutcome::Applied => ack.appliquees += 1,
            UpdateOutcome::NotNewer => ack.ignorees.push(report.courier_id),
            UpdateOutcome::UnknownCourier => ack.inconnus.push(report.courier_id),
        }
    }
    Ok(Json(ack))
}

/// Health of the courier-ranking module: 200 when the ranking service serves, else 503.
#[utoipa::path(get, path = "/api/v1/livreurs/health", tag = "livreurs",
    responses(
        (status = 200, description = "The ranking service serves", body = super::health::HealthReport),
        (status = 503, description = "The ranking service does not serve", body = super::health::HealthReport)))]
pub async fn health(State(state): State<AppState>) -> Response {
    super::health::module(&state, "ranking").await
}
