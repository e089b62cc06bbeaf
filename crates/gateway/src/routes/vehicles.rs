//! `/api/v1/vehicles`: the caller's catalog: search and pages, one vehicle, and writes
//! (create, replace, change, delete), each re-indexed before it is answered.

use aras_auth::Principal;
use aras_common::correlation::CorrelationId;
use aras_common::problem::Problem;
use aras_domain::tenant::Tenant;
use aras_domain::vehicle::{
    ChangeError, ChangeField, UnknownValue, Vehicle, VehicleChange, VehicleType,
};
use aras_proto::recommender::v1 as pb;
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
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

/// A refused write, in the API's field names.
fn refused(error: ChangeError) -> ApiError {
    ApiError::InvalidInput(match error {
        ChangeError::Empty => {
            "nothing to change: send at least one of disponible, prix, note, ville".into()
        }
        ChangeError::Invalid { field, reason } => {
            let name = match field {
                ChangeField::DailyPrice => "prix",
                ChangeField::Rating => "note",
                ChangeField::City => "ville",
                ChangeField::Brand => "marque",
                ChangeField::Model => "modele",
                ChangeField::Year => "annee",
                ChangeField::Seats => "places",
                ChangeField::Luggage => "bagages",
                ChangeField::RentalsCount => "locations",
            };
            format!("{name} {reason}")
        }
    })
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
        change.validate().map_err(refused)?;
        Ok(change)
    }
}

/// Every field of a vehicle (`POST` adds one, `PUT` replaces one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VehicleBody {
    #[schema(schema_with = crate::schema::vehicle_name, example = "Peugeot")]
    marque: String,
    #[schema(schema_with = crate::schema::vehicle_name, example = "3008")]
    modele: String,
    #[serde(deserialize_with = "crate::extract::integer")]
    #[schema(minimum = 1950, maximum = 2100, example = 2022)]
    annee: i64,
    #[serde(rename = "type")]
    #[schema(schema_with = crate::schema::vehicle_type)]
    vehicle_type: String,
    #[serde(deserialize_with = "crate::extract::integer")]
    #[schema(minimum = 1, maximum = 99, example = 5)]
    places: i64,
    #[schema(schema_with = crate::schema::gearbox)]
    boite: String,
    #[schema(schema_with = crate::schema::fuel)]
    carburant: String,
    /// Suitcases.
    #[serde(deserialize_with = "crate::extract::integer")]
    #[schema(minimum = 0, maximum = 99, example = 3)]
    bagages: i64,
    #[schema(schema_with = crate::schema::city)]
    ville: String,
    /// Daily rental price, euros.
    #[schema(minimum = 0.0, example = 79.0)]
    prix: f64,
    disponible: bool,
    /// Average rating, 0 to 5.
    #[schema(minimum = 0.0, maximum = 5.0, example = 4.4)]
    note: f32,
    /// Rentals so far (default 0).
    #[serde(default, deserialize_with = "crate::extract::integer")]
    #[schema(minimum = 0, maximum = 2_147_483_647, default = 0)]
    locations: i64,
}

impl VehicleBody {
    /// The vehicle `id` would be, checked by the catalog's own rules, refused in the API's
    /// field names.
    fn vehicle(self, id: i64) -> Result<Vehicle, ApiError> {
        fn small(name: &str, value: i64) -> Result<i16, ApiError> {
            i16::try_from(value)
                .map_err(|_| ApiError::InvalidInput(format!("{name} is out of range: {value}")))
        }
        let word = |name: &str, e: UnknownValue| ApiError::InvalidInput(format!("{name}: {e}"));
        let vehicle = Vehicle {
            id,
            brand: self.marque,
            model: self.modele,
            year: small("annee", self.annee)?,
            vehicle_type: self.vehicle_type.parse().map_err(|e| word("type", e))?,
            seats: small("places", self.places)?,
            gearbox: self.boite.parse().map_err(|e| word("boite", e))?,
            fuel: self.carburant.parse().map_err(|e| word("carburant", e))?,
            luggage: small("bagages", self.bagages)?,
            city: self.ville,
            daily_price: self.prix,
            available: self.disponible,
            rating: self.note,
            rentals_count: i32::try_from(self.locations).map_err(|_| {
                ApiError::InvalidInput(format!("locations is out of range: {}", self.locations))
            })?,
        };
        vehicle.validate().map_err(refused)?;
        Ok(vehicle)
    }
}

fn write_request(v: Vehicle) -> pb::WriteVehicleRequest {
    pb::WriteVehicleRequest {
        id: v.id,
        brand: v.brand,
        model: v.model,
        year: i32::from(v.year),
        vehicle_type: v.vehicle_type.as_str().to_owned(),
        seats: i32::from(v.seats),
        gearbox: v.gearbox.as_str().to_owned(),
        fuel: v.fuel.as_str().to_owned(),
        luggage: i32::from(v.luggage),
        city: v.city,
        daily_price: v.daily_price,
        available: v.available,
        rating: v.rating,
        rentals_count: v.rentals_count,
    }
}

/// A write's answer, once the cache keys on the catalog version it produced: the recommender
/// publishes that version too, but in the background, and the writer's next request must not
/// be answered from before its own write.
async fn written(
    state: &AppState,
    tenant: &Tenant,
    response: pb::UpdateVehicleResponse,
) -> Result<VehicleUpdated, ApiError> {
    state
        .cache
        .raise_catalog_version(tenant.as_str(), response.catalog_version)
        .await;
    let vehicle = response
        .vehicle
        .ok_or_else(|| upstream(tonic::Status::internal("no vehicle returned")))?;
    Ok(VehicleUpdated {
        vehicle: vehicle.into(),
        catalog_version: response.catalog_version,
    })
}

/// Search and pagination of `GET /api/v1/vehicles`; every parameter is optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VehicleQuery {
    /// Words to find in the brand, model and description (French stemming; "quoted phrases",
    /// -excluded, or).
    #[param(schema_with = crate::schema::search_text)]
    q: Option<String>,
    /// Only this body type.
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = crate::schema::vehicle_type)]
    vehicle_type: Option<String>,
    /// Daily price at least (euros).
    #[param(minimum = 0.0)]
    prix_min: Option<f64>,
    /// Daily price at most (euros); not below `prix_min`.
    #[param(minimum = 0.0)]
    prix_max: Option<f64>,
    /// Only this city (whatever the case).
    #[param(schema_with = crate::schema::city)]
    ville: Option<String>,
    disponible: Option<bool>,
    /// Rating at least.
    #[param(minimum = 0.0, maximum = 5.0)]
    note_min: Option<f32>,
    /// The order, then by id (default `id`).
    #[param(schema_with = crate::schema::vehicle_sort)]
    sort: Option<String>,
    /// Vehicles per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page, with the same `sort` and filters.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VehiclePage {
    items: Vec<VehicleResponse>,
    /// Pass it as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// Searches the caller's catalog, a page at a time (keyset pagination: pages are stable while
/// vehicles are added).
#[utoipa::path(get, path = "/api/v1/vehicles", tag = "vehicles",
    params(VehicleQuery),
    responses(
        (status = 200, description = "A page of vehicles", body = VehiclePage),
        (status = 422, description = "A parameter breaks its rule (named), `prix_min` above `prix_max`, or a cursor of another listing", body = Problem, content_type = "application/problem+json"),
        crate::schema::BackendFailures,
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<VehicleQuery>,
) -> Result<Json<VehiclePage>, ApiError> {
    if let Some(kind) = &query.vehicle_type {
        kind.parse::<VehicleType>()
            .map_err(|e| ApiError::InvalidInput(format!("type: {e}")))?;
    }
    let message = pb::ListVehiclesRequest {
        q: query.q.unwrap_or_default(),
        vehicle_type: query.vehicle_type.unwrap_or_default(),
        price_min: query.prix_min,
        price_max: query.prix_max,
        city: query.ville.unwrap_or_default(),
        available: query.disponible,
        rating_min: query.note_min,
        sort: query.sort.unwrap_or_default(),
        limit: crate::extract::page_limit(query.limit)?,
        cursor: query.cursor.unwrap_or_default(),
    };
    let page = state
        .recommender
        .clone()
        .list_vehicles(state.tenant_request(message, &correlation_id, &principal.tenant))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(VehiclePage {
        items: page.vehicles.into_iter().map(Into::into).collect(),
        next_cursor: Some(page.next_cursor).filter(|c| !c.is_empty()),
    }))
}

/// Adds a vehicle to the caller's catalog under a new id; it is indexed at once.
#[utoipa::path(post, path = "/api/v1/vehicles", tag = "vehicles",
    request_body = VehicleBody,
    responses(
        (status = 201, description = "The vehicle as stored, and the catalog version", body = VehicleUpdated,
            headers(("Location" = String, description = "The vehicle's URL"))),
        (status = 422, description = "A field breaks its rule (named)", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::BackendFailures,
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<VehicleBody>,
) -> Result<Response, ApiError> {
    let message = write_request(body.vehicle(0)?);
    let response = state
        .recommender
        .clone()
        .create_vehicle(state.tenant_request(message, &correlation_id, &principal.tenant))
        .await
        .map_err(upstream)?
        .into_inner();
    let created = written(&state, &principal.tenant, response).await?;
    let location = format!("/api/v1/vehicles/{}", created.vehicle.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    )
        .into_response())
}

/// Replaces every field of a vehicle of the caller's catalog; it is re-indexed at once.
#[utoipa::path(put, path = "/api/v1/vehicles/{id}", tag = "vehicles",
    params(("id" = i64, Path, description = "Vehicle id (a positive integer)", minimum = 1)),
    request_body = VehicleBody,
    responses(
        (status = 200, description = "The vehicle as replaced, and the catalog version", body = VehicleUpdated),
        (status = 404, description = "No such vehicle in the caller's catalog", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks its rule (named), or the id is not a positive integer", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::BackendFailures,
    ))]
pub async fn replace(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VehicleBody>,
) -> Result<Json<VehicleUpdated>, ApiError> {
    let message = write_request(body.vehicle(vehicle_id(&id)?)?);
    let response = state
        .recommender
        .clone()
        .replace_vehicle(state.tenant_request(message, &correlation_id, &principal.tenant))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(written(&state, &principal.tenant, response).await?))
}

/// Removes a vehicle from the caller's catalog, and its vector: it is no longer recommended.
#[utoipa::path(delete, path = "/api/v1/vehicles/{id}", tag = "vehicles",
    params(("id" = i64, Path, description = "Vehicle id (a positive integer)", minimum = 1)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such vehicle in the caller's catalog", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a positive integer", body = Problem, content_type = "application/problem+json"),
        crate::schema::BackendFailures,
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let message = pb::DeleteVehicleRequest {
        id: vehicle_id(&id)?,
    };
    let deleted = state
        .recommender
        .clone()
        .delete_vehicle(state.tenant_request(message, &correlation_id, &principal.tenant))
        .await
        .map_err(upstream)?
        .into_inner();
    state
        .cache
        .raise_catalog_version(principal.tenant.as_str(), deleted.catalog_version)
        .await;
    Ok(StatusCode::NO_CONTENT)
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
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<VehicleResponse>, ApiError> {
    let message = pb::GetVehicleRequest {
        id: vehicle_id(&id)?,
    };
    let vehicle = state
        .recommender
        .clone()
        .get_vehicle(state.tenant_request(message, &correlation_id, &principal.tenant))
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
    Extension(principal): Extension<Principal>,
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
        .update_vehicle(state.tenant_request(message, &correlation_id, &principal.tenant))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(written(&state, &principal.tenant, response).await?))
}
