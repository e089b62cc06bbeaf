//! Catalog types to their protobuf messages.

use std::time::SystemTime;

use aras_catalog::VehicleRecord;
use aras_domain::vehicle::Vehicle;
use aras_proto::recommender::v1 as pb;
use aras_vector_store::{VehiclePayload, VehiclePoint};

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

pub(crate) fn point(vehicle: &Vehicle, product_type: &str, vector: Vec<f32>) -> VehiclePoint {
    VehiclePoint {
        id: vehicle.id,
        vector,
        payload: VehiclePayload {
            product_type: product_type.to_owned(),
            vehicle_type: vehicle.vehicle_type.as_str().to_owned(),
            brand: vehicle.brand.clone(),
            daily_price: vehicle.daily_price,
            available: vehicle.available,
            rating: vehicle.rating,
        },
    }
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}
