//! A deterministic demo catalog with plausible French rental data.
//!
//! Vehicle `id` depends only on `(seed, id)`, so any range of the catalog can be generated alone
//! (in parallel, or resumed) and always comes out the same.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::vehicle::{Fuel, Gearbox, Vehicle, VehicleType};

/// A line of the demo range: type, brand, models, seats, luggage, base daily price in euros.
struct Line(
    VehicleType,
    &'static str,
    &'static [&'static str],
    i16,
    i16,
    f64,
);

const MODELS: &[Line] = &[
    Line(
        VehicleType::Citadine,
        "Renault",
        &["Clio", "Twingo", "Zoe"],
        5,
        2,
        35.0,
    ),
    Line(
        VehicleType::Citadine,
        "Peugeot",
        &["208", "108"],
        5,
        2,
        36.0,
    ),
    Line(
        VehicleType::Citadine,
        "Citroën",
        &["C3", "C1", "Ami"],
        4,
        1,
        32.0,
    ),
    Line(VehicleType::Citadine, "Fiat", &["500", "Panda"], 4, 1, 33.0),
    Line(
        VehicleType::Citadine,
        "Toyota",
        &["Yaris", "Aygo X"],
        5,
        2,
        38.0,
    ),
    Line(VehicleType::Berline, "Peugeot", &["508", "408"], 5, 4, 62.0),
    Line(
        VehicleType::Berline,
        "Renault",
        &["Mégane", "Talisman"],
        5,
        4,
        55.0,
    ),
    Line(
        VehicleType::Berline,
        "Volkswagen",
        &["Passat", "Golf"],
        5,
        3,
        60.0,
    ),
    Line(
        VehicleType::Berline,
        "BMW",
        &["Série 3", "Série 5"],
        5,
        4,
        95.0,
    ),
    Line(VehicleType::Berline, "Tesla", &["Model 3"], 5, 3, 90.0),
    Line(
        VehicleType::Suv,
        "Peugeot",
        &["3008", "2008", "5008"],
        5,
        4,
        70.0,
    ),
    Line(
        VehicleType::Suv,
        "Renault",
        &["Captur", "Austral", "Arkana"],
        5,
        3,
        65.0,
    ),
    Line(VehicleType::Suv, "Dacia", &["Duster"], 5, 3, 48.0),
    Line(VehicleType::Suv, "Toyota", &["RAV4", "C-HR"], 5, 4, 75.0),
    Line(
        VehicleType::Suv,
        "Volkswagen",
        &["Tiguan", "T-Roc"],
        5,
        4,
        78.0,
    ),
    Line(
        VehicleType::Break,
        "Skoda",
        &["Octavia Combi", "Superb Combi"],
        5,
        5,
        58.0,
    ),
    Line(VehicleType::Break, "Peugeot", &["308 SW"], 5, 5, 56.0),
    Line(
        VehicleType::Monospace,
        "Citroën",
        &["C4 SpaceTourer", "Berlingo"],
        7,
        5,
        72.0,
    ),
    Line(
        VehicleType::Monospace,
        "Renault",
        &["Grand Scénic", "Espace"],
        7,
        5,
        80.0,
    ),
    Line(
        VehicleType::Monospace,
        "Volkswagen",
        &["Touran"],
        7,
        5,
        78.0,
    ),
    Line(
        VehicleType::Utilitaire,
        "Renault",
        &["Kangoo", "Trafic", "Master"],
        3,
        10,
        65.0,
    ),
    Line(
        VehicleType::Utilitaire,
        "Peugeot",
        &["Partner", "Boxer"],
        3,
        10,
        68.0,
    ),
    Line(
        VehicleType::Utilitaire,
        "Citroën",
        &["Jumpy", "Jumper"],
        3,
        10,
        66.0,
    ),
    Line(VehicleType::Utilitaire, "Ford", &["Transit"], 3, 12, 75.0),
    Line(VehicleType::Cabriolet, "Mazda", &["MX-5"], 2, 1, 85.0),
    Line(VehicleType::Cabriolet, "Mini", &["Cabrio"], 4, 1, 80.0),
    Line(
        VehicleType::Cabriolet,
        "BMW",
        &["Série 4 Cabriolet"],
        4,
        2,
        120.0,
    ),
];

const CITIES: &[&str] = &[
    "Paris",
    "Lyon",
    "Marseille",
    "Toulouse",
    "Nice",
    "Nantes",
    "Strasbourg",
    "Montpellier",
    "Bordeaux",
    "Lille",
    "Rennes",
    "Grenoble",
    "Dijon",
    "Angers",
    "Brest",
    "Tours",
];

/// Share of vehicles available now.
const AVAILABLE_SHARE: f64 = 0.70;

/// The demo vehicle number `id` (from 1) of the catalog generated with `seed`.
pub fn vehicle(seed: u64, id: i64) -> Vehicle {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let &Line(vehicle_type, brand, models, seats, luggage, base_price) =
        &MODELS[rng.random_range(0..MODELS.len())];
    let model = models[rng.random_range(0..models.len())];
    let year: i16 = rng.random_range(2014..=2025);
    let fuel = match (brand, model, vehicle_type) {
        ("Tesla", ..) | (_, "Zoe" | "Ami", _) => Fuel::Electric,
        (_, _, VehicleType::Utilitaire) => {
            *pick(&mut rng, &[Fuel::Diesel, Fuel::Diesel, Fuel::Electric])
        }
        _ => *pick(
            &mut rng,
            &[
                Fuel::Petrol,
                Fuel::Petrol,
                Fuel::Diesel,
                Fuel::Hybrid,
                Fuel::Electric,
            ],
        ),
    };
    let gearbox = if fuel == Fuel::Electric || rng.random_bool(0.45) {
        Gearbox::Automatic
    } else {
        Gearbox::Manual
    };
    // Newer cars cost more; ±15 % spread between agencies.
    let age_factor = 1.0 - f64::from(2025 - year) * 0.025;
    let daily_price =
        (base_price * age_factor * rng.random_range(0.85..1.15) * 100.0).round() / 100.0;
    // Ratings cluster around 4 with a tail of poorly rated vehicles.
    let rating = if rng.random_bool(0.12) {
        rng.random_range(1.0..3.0)
    } else {
        rng.random_range(3.2..5.0)
    };
    Vehicle {
        id,
        brand: brand.to_owned(),
        model: model.to_owned(),
        year,
        vehicle_type,
        seats,
        gearbox,
        fuel,
        luggage,
        city: (*pick(&mut rng, CITIES)).to_owned(),
        daily_price,
        available: rng.random_bool(AVAILABLE_SHARE),
        rating: ((rating * 10.0_f64).round() / 10.0) as f32,
        rentals_count: rng.random_range(0..400),
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_vehicle_other_seed_other_catalog() {
        assert_eq!(vehicle(42, 123), vehicle(42, 123));
        let a: Vec<Vehicle> = (1..=50).map(|id| vehicle(42, id)).collect();
        let b: Vec<Vehicle> = (1..=50).map(|id| vehicle(43, id)).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn catalog_is_plausible() {
        let catalog: Vec<Vehicle> = (1..=5_000).map(|id| vehicle(7, id)).collect();
        let available =
            catalog.iter().filter(|v| v.available).count() as f64 / catalog.len() as f64;
        assert!((0.66..0.74).contains(&available), "{available}");
        for kind in VehicleType::ALL {
            assert!(catalog.iter().any(|v| v.vehicle_type == *kind), "no {kind}");
        }
        for v in &catalog {
            assert!(
                (0.0..=5.0).contains(&v.rating)
                    && v.daily_price > 10.0
                    && (2014..=2025).contains(&v.year),
                "{v:?}"
            );
            if v.fuel == Fuel::Electric {
                assert_eq!(v.gearbox, Gearbox::Automatic);
            }
        }
        let utility_price = mean_price(&catalog, VehicleType::Utilitaire);
        assert!(mean_price(&catalog, VehicleType::Citadine) < utility_price);
        assert!(utility_price < mean_price(&catalog, VehicleType::Cabriolet));
    }

    fn mean_price(catalog: &[Vehicle], kind: VehicleType) -> f64 {
        let prices: Vec<f64> = catalog
            .iter()
            .filter(|v| v.vehicle_type == kind)
            .map(|v| v.daily_price)
            .collect();
        prices.iter().sum::<f64>() / prices.len() as f64
    }
}
