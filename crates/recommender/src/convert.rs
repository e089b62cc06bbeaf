//! Catalog types to their protobuf messages and back.

use aras_catalog::VehicleRecord;
use aras_catalog::reviews::ReviewRecord;
use aras_common::time::rfc3339;
use aras_domain::vehicle::Vehicle;
use aras_proto::recommender::v1 as pb;
use aras_vector_store::{VehiclePayload, VehiclePoint};

use crate::error::RecommenderError;

pub(crate) fn vehicle_message(record: &VehicleRecord) -> pb::Vehicle {
    let v = &record.vehicle;
    pb::Vehicle {
        id: v.id,
        brand: v.brand.clone(),
        model: v.model.clone(),
        year: i32::from(v.year),
        vehicle_type: v.vehicle_type.as_str().to_owned(),
        seats: i32::from(v.seats),
        gearbox: v.gearbox.as_str().to_owned(),
        fuel: v.fuel.as_str().to_owned(),
        luggage: i32::from(v.luggage),
        city: v.city.clone(),
        daily_price: v.daily_price,
        available: v.available,
        rating: v.rating,
        rentals_count: v.rentals_count,
        description: v.description_fr(),
        updated_at: rfc3339(record.updated_at),
    }
}

pub(crate) fn point(record: &VehicleRecord, product_type: &str, vector: Vec<f32>) -> VehiclePoint {
    let vehicle = &record.vehicle;
    VehiclePoint {
        id: record.point_id,
        vector,
        payload: VehiclePayload {
            tenant: record.tenant.as_str().to_owned(),
            product_type: product_type.to_owned(),
            vehicle_type: vehicle.vehicle_type.as_str().to_owned(),
            brand: vehicle.brand.clone(),
            daily_price: vehicle.daily_price,
            available: vehicle.available,
            rating: vehicle.rating,
        },
    }
}

pub(crate) fn indexing_run(run: &aras_catalog::index_runs::IndexRun) -> pb::IndexingRun {
    pb::IndexingRun {
        id: run.id.to_string(),
        state: run.state.as_str().to_owned(),
        full: run.full,
        indexed: run.indexed,
        total: run.total,
        error: run.error.clone().unwrap_or_default(),
        started_at: rfc3339(run.started_at),
        finished_at: run.finished_at.map(rfc3339),
    }
}

/// A written vehicle's fields, refused with the contract's field names when a word is not the
/// catalog's or a number does not fit; the catalog checks the rest.
pub(crate) fn vehicle_from_write(
    request: &pb::WriteVehicleRequest,
) -> Result<Vehicle, RecommenderError> {
    let small = |name: &str, value: i32| {
        i16::try_from(value)
            .map_err(|_| RecommenderError::InvalidInput(format!("{name} is out of range: {value}")))
    };
    let word = |name: &str, error: aras_domain::vehicle::UnknownValue| {
        RecommenderError::InvalidInput(format!("{name}: {error}"))
    };
    Ok(Vehicle {
        id: request.id,
        brand: request.brand.clone(),
        model: request.model.clone(),
        year: small("year", request.year)?,
        vehicle_type: request
            .vehicle_type
            .parse()
            .map_err(|e| word("vehicle_type", e))?,
        seats: small("seats", request.seats)?,
        gearbox: request.gearbox.parse().map_err(|e| word("gearbox", e))?,
        fuel: request.fuel.parse().map_err(|e| word("fuel", e))?,
        luggage: small("luggage", request.luggage)?,
        city: request.city.clone(),
        daily_price: request.daily_price,
        available: request.available,
        rating: request.rating,
        rentals_count: request.rentals_count,
    })
}

pub(crate) fn review_message(review: &ReviewRecord) -> pb::Review {
    pb::Review {
        id: review.id,
        client_id: review.client_id,
        product_id: review.product_id,
        product_type: review.product_type.clone(),
        text: review.text.clone(),
        sentiment_score: review.sentiment_score,
        sentiment_label: review.sentiment_label.clone(),
        sentiment_model: review.model_id.clone(),
        created_at: rfc3339(review.created_at),
    }
}
