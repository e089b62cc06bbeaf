//! `/api/v1/vehicles/{id}`: a vehicle of the catalog, and changes to it.

use aras_common::correlation::CorrelationId;
use aras_common::problem::Problem;
use aras_domain::vehicle::{ChangeError, ChangeField, VehicleChange};
use aras_proto::recommender::v1 as pb;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// A vehicle of the catalog, with the French field names of the public API.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehicleResponse {
    #[schema(example = 123)]
    id: i64,
    #[schema(example = "Peugeot 3008")]
    nom: String,
    #[schema(example = "Peugeot")]
    marque: String,
    #[schema(example = "3008")]
    modele: String,
    #[schema(example = 2022)]
    annee: i32,
    #[serde(rename = "type")]
    #[schema(example = "SUV")]
    vehicle_type: String,
    places: i32,
    #[schema(example = "automatique")]
    boite: String,
    #[schema(example = "hybride")]
    carburant: String,
    /// Suitcases.
    bagages: i32,
    #[schema(example = "Lyon")]
    ville: String,
    /// Daily rental price, euros.
    prix: f64,
    disponible: bool,
    /// Average rating, 0 to 5.
    note: f32,
    locations: i32,
    /// The French text the vehicle is embedded from.
    description: String,
    updated_at: String,
}

impl From<pb::Vehicle> for VehicleResponse {
    fn from(v: pb::Vehicle) -> Self {
        Self {
            id: v.id,
            nom: format!("{} {}", v.brand, v.model),
            marque: v.brand,
            modele: v.model,
            annee: v.year,
            vehicle_type: v.vehicle_type,
            places: v.seats,
            boite: v.gearbox,
            carburant: v.fuel,
            bagages: v.luggage,
            ville: v.city,
            prix: v.daily_price,
            disponible: v.available,
            note: v.rating,
            locations: v.rentals_count,
            description: v.description,
            updated_at: v.updated_at,
        }
    }
}

/// A change to a vehicle: at least one field; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct VehiclePatch {
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    disponible: Option<bool>,
    /// Daily price, euros, ≥ 0.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, minimum = 0.0)]
    prix: Option<f64>,
    /// Average rating in [0, 5].
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, minimum = 0.0, maximum = 5.0)]
    note: Option<f32>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, schema_with = crate::schema::city)]
    ville: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VehicleUpdated {
    vehicle: VehicleResponse,
    /// The catalog version after the change: cached recommendations of older versions are
    /// no longer served.
    catalog_version: u64,
}

fn vehicle_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::InvalidInput(format!(
            "vehicle id must be a positive integer, got {raw:?}"
        ))
    })
}

fn upstream(status: tonic::Status) -> ApiError {
    ApiError::upstream("recommender", status)
}

impl VehiclePatch {
    /// The change, checked by the catalog's own rules, refused in the API's field names.
    fn change(self) -> Result<VehicleChange, ApiError> {
        let change = VehicleChange {
            available: self.disponible,
            daily_price: self.prix,
            rating: self.note,
            city: self.ville,
        };
        change.validate().map_err(|error| {
            ApiError::InvalidInput(match error {
                ChangeError::Empty => {
                    "nothing to change: send at least one of disponible, prix, note, ville".into()
                }
                ChangeError::Invalid { field, reason } => {
                    let name = match field {
                        ChangeField::DailyPrice => "prix",
                        ChangeField::Rating => "note",
                        ChangeField::City => "ville",
                    };
                    format!("{name} {reason}")
                }
            })
        })?;
        Ok(change)
    }
}

/// One vehicle of the catalog.
#[utoipa::path(get, path = "/api/v1/vehicles/{id}", tag = "vehicles",
    params(("id" = i64, Path, description = "Vehicle id (a positive integer)", minimum = 1)),
    responses(
        (status = 200, description = "The vehicle", body = VehicleResponse),
        (status = 404, description = "No such vehicle", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a positive integer", body = Problem, content_type = "application/problem+json"),
        crate::schema::BackendFailures,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Path(id): Path<String>,
) -> Result<Json<VehicleResponse>, ApiError> {
    let message = pb::GetVehicleRequest {
        id: vehicle_id(&id)?,
    };
    let vehicle = state
        .recommender
        .clone()
        .get_vehicle(state.request(message, &correlation_id))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(vehicle.into()))
}

/// Changes a vehicle (availability, price, rating, city). It is re-indexed at once and cached
/// recommendations computed before the change are no longer served.
#[utoipa::path(patch, path = "/api/v1/vehicles/{id}", tag = "vehicles",
    params(("id" = i64, Path, description = "Vehicle id (a positive integer)", minimum = 1)),
    request_body = VehiclePatch,
    responses(
        (status = 200, description = "The vehicle as changed", body = VehicleUpdated),
        (status = 404, description = "No such vehicle", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value out of range, or the id is not a positive integer", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::BackendFailures,
    ))]
pub async fn update(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<VehiclePatch>,
) -> Result<Json<VehicleUpdated>, ApiError> {
    let change = patch.change()?;
    let message = pb::UpdateVehicleRequest {
        id: vehicle_id(&id)?,
        available: change.available,
        daily_price: change.daily_price,
        rating: change.rating,
        city: change.city,
    };
    let response = state
        .recommender
        .clone()
        .update_vehicle(state.request(message, &correlation_id))
        .await
        .map_err(upstream)?
        .into_inner();
    let vehicle = response
        .vehicle
        .ok_or_else(|| upstream(tonic::Status::internal("no vehicle returned")))?;
    Ok(Json(VehicleUpdated {
        vehicle: vehicle.into(),
        catalog_version: response.catalog_version,
    }))
}
