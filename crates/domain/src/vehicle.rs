//! The catalog's vehicle and the French description that is embedded for it.

use std::fmt;
use std::str::FromStr;

/// A vehicle of the catalog, as the recommender scores and describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    pub id: i64,
    pub brand: String,
    pub model: String,
    pub year: i16,
    pub vehicle_type: VehicleType,
    pub seats: i16,
    pub gearbox: Gearbox,
    pub fuel: Fuel,
    /// Luggage capacity, in suitcases.
    pub luggage: i16,
    pub city: String,
    /// Rental price per day, in euros.
    pub daily_price: f64,
    pub available: bool,
    /// Average customer rating, 0 to 5.
    pub rating: f32,
    pub rentals_count: i32,
}

impl Vehicle {
    /// "Peugeot 3008": the `nom` of the public API.
    pub fn name(&self) -> String {
        format!("{} {}", self.brand, self.model)
    }

    /// The French text embedded for this vehicle (a `passage:` of the embedding model). Every
    /// field a customer's review could speak about appears in words, so a review and a vehicle meet
    /// in the same space.
    pub fn description_fr(&self) -> String {
        let availability = if self.available {
            "disponible immédiatement"
        } else {
            "actuellement indisponible"
        };
        format!(
            "{brand} {model} ({year}), {kind}, {seats} places, boîte {gearbox}, {fuel}, \
             {luggage} bagages. Location à {city}, {price:.0} € par jour, {availability}. \
             Note moyenne des clients {rating:.1} sur 5 ({quality}).",
            brand = self.brand,
            model = self.model,
            year = self.year,
            kind = self.vehicle_type.description_fr(),
            seats = self.seats,
            gearbox = self.gearbox.as_str(),
            fuel = self.fuel.as_str(),
            luggage = self.luggage,
            city = self.city,
            price = self.daily_price,
            rating = self.rating,
            quality = rating_words(self.rating),
        )
    }
}

fn rating_words(rating: f32) -> &'static str {
    match rating {
        r if r >= 4.5 => "excellent, très fiable et confortable",
        r if r >= 3.8 => "très bien noté",
        r if r >= 3.0 => "correct",
        r if r >= 2.0 => "avis mitigés",
        _ => "mauvais avis, souvent critiqué",
    }
}

/// Declares a closed set of catalog words with their stored spelling.
macro_rules! catalog_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The spelling stored in the catalog and shown in the API.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(text))
                    .ok_or_else(|| UnknownValue { kind: stringify!($name), value: text.to_owned() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

catalog_enum!(
    /// Body type of a vehicle.
    VehicleType {
        Citadine => "Citadine",
        Berline => "Berline",
        Suv => "SUV",
        Break => "Break",
        Monospace => "Monospace",
        Utilitaire => "Utilitaire",
        Cabriolet => "Cabriolet",
    }
);

impl VehicleType {
    fn description_fr(self) -> &'static str {
        match self {
            Self::Citadine => "citadine compacte, idéale en ville et facile à garer",
            Self::Berline => "berline confortable pour les longs trajets",
            Self::Suv => "SUV spacieux et surélevé, pour la famille et les routes difficiles",
            Self::Break => "break familial avec un grand coffre",
            Self::Monospace => "monospace familial pour sept personnes et les vacances",
            Self::Utilitaire => "utilitaire pour les déménagements et le transport de marchandises",
            Self::Cabriolet => "cabriolet décapotable, sportif et plaisant l'été",
        }
    }
}

catalog_enum!(
    /// Transmission.
    Gearbox {
        Manual => "manuelle",
        Automatic => "automatique",
    }
);

catalog_enum!(
    /// Energy.
    Fuel {
        Petrol => "essence",
        Diesel => "diesel",
        Hybrid => "hybride",
        Electric => "électrique",
    }
);

/// A stored word that is not one of the catalog's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// The most characters of a city name.
pub const MAX_CITY_CHARS: usize = 100;

/// A change to a vehicle; `None` leaves a field as it is. The catalog applies it; the gateway
/// checks it first, with the same rules, so a bad change never leaves the edge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VehicleChange {
    pub available: Option<bool>,
    pub daily_price: Option<f64>,
    pub rating: Option<f32>,
    pub city: Option<String>,
}

/// The most characters of a brand or a model name.
pub const MAX_NAME_CHARS: usize = 60;
/// Years a catalog vehicle may be from.
pub const YEARS: std::ops::RangeInclusive<i16> = 1950..=2100;
/// Seats a catalog vehicle may have.
pub const SEATS: std::ops::RangeInclusive<i16> = 1..=99;
/// Suitcases a catalog vehicle may take.
pub const LUGGAGE: std::ops::RangeInclusive<i16> = 0..=99;

/// A field a write sets, for error messages in the caller's own names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeField {
    DailyPrice,
    Rating,
    City,
    Brand,
    Model,
    Year,
    Seats,
    Luggage,
    RentalsCount,
}

/// Why a change cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// No field to change.
    Empty,
    /// `field` breaks its rule: the reason reads after the field's name ("must be …").
    Invalid { field: ChangeField, reason: String },
}

impl VehicleChange {
    /// Refuses a change with nothing in it or with a value the catalog cannot hold: a negative
    /// or non-finite price, a rating outside [0, 5], a city that is blank, longer than
    /// [`MAX_CITY_CHARS`] or holds a control character (it goes into the description the models
    /// read).
    pub fn validate(&self) -> Result<(), ChangeError> {
        let invalid = |field, reason: String| Err(ChangeError::Invalid { field, reason });
        if *self == Self::default() {
            return Err(ChangeError::Empty);
        }
        if let Some(price) = self.daily_price
            && !(price.is_finite() && price >= 0.0)
        {
            return invalid(
                ChangeField::DailyPrice,
                format!("must be a non-negative number of euros, got {price}"),
            );
        }
        if let Some(rating) = self.rating
            && !(0.0..=5.0).contains(&rating)
        {
            return invalid(
                ChangeField::Rating,
                format!("must be within [0, 5], got {rating}"),
            );
        }
        if let Some(city) = &self.city {
            check_words(ChangeField::City, city, MAX_CITY_CHARS)?;
        }
        Ok(())
    }
}

/// A name that goes into the description the models read: not blank, at most `max`
/// characters, no control character.
fn check_words(field: ChangeField, text: &str, max: usize) -> Result<(), ChangeError> {
    let invalid = |reason: String| Err(ChangeError::Invalid { field, reason });
    let chars = text.chars().count();
    if text.trim().is_empty() {
        return invalid("must not be blank".into());
    }
    if chars > max {
        return invalid(format!("has {chars} characters, more than {max}"));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return invalid(format!("contains the control character {c:?}"));
    }
    Ok(())
}

fn check_range<T: PartialOrd + fmt::Display + Copy>(
    field: ChangeField,
    value: T,
    range: &std::ops::RangeInclusive<T>,
) -> Result<(), ChangeError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ChangeError::Invalid {
            field,
            reason: format!(
                "must be within [{}, {}], got {value}",
                range.start(),
                range.end()
            ),
        })
    }
}

impl Vehicle {
    /// Refuses a vehicle the catalog cannot hold: every rule a change obeys, and those of the
    /// fields only a whole vehicle sets (names, year, seats, luggage, rentals). The id is the
    /// catalog's business, not checked here.
    pub fn validate(&self) -> Result<(), ChangeError> {
        VehicleChange {
            available: Some(self.available),
            daily_price: Some(self.daily_price),
            rating: Some(self.rating),
            city: Some(self.city.clone()),
        }
        .validate()?;
        check_words(ChangeField::Brand, &self.brand, MAX_NAME_CHARS)?;
        check_words(ChangeField::Model, &self.model, MAX_NAME_CHARS)?;
        check_range(ChangeField::Year, self.year, &YEARS)?;
        check_range(ChangeField::Seats, self.seats, &SEATS)?;
        check_range(ChangeField::Luggage, self.luggage, &LUGGAGE)?;
        check_range(
            ChangeField::RentalsCount,
            self.rentals_count,
            &(0..=i32::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (fn(&mut Vehicle), ChangeField, &'static str);

    pub(crate) fn clio() -> Vehicle {
        Vehicle {
            id: 790,
            brand: "Renault".into(),
            model: "Clio".into(),
            year: 2021,
            vehicle_type: VehicleType::Citadine,
            seats: 5,
            gearbox: Gearbox::Manual,
            fuel: Fuel::Petrol,
            luggage: 2,
            city: "Lyon".into(),
            daily_price: 39.0,
            available: true,
            rating: 4.6,
            rentals_count: 120,
        }
    }

    #[test]
    fn description_names_every_field_in_french() {
        let text = clio().description_fr();
        for part in [
            "Renault Clio (2021)",
            "citadine",
            "5 places",
            "boîte manuelle",
            "essence",
            "2 bagages",
            "Lyon",
            "39 € par jour",
            "disponible immédiatement",
            "4.6 sur 5",
            "excellent",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text:?}");
        }
    }

    #[test]
    fn words_round_trip_and_unknown_ones_are_named() {
        for kind in VehicleType::ALL {
            assert_eq!(kind.as_str().parse::<VehicleType>(), Ok(*kind));
        }
        assert_eq!("suv".parse::<VehicleType>(), Ok(VehicleType::Suv));
        assert_eq!("électrique".parse::<Fuel>(), Ok(Fuel::Electric));
        let error = "tank".parse::<VehicleType>().unwrap_err();
        assert_eq!(error.to_string(), r#"unknown VehicleType "tank""#);
    }

    #[test]
    fn a_whole_vehicle_names_the_rule_it_breaks() {
        assert_eq!(clio().validate(), Ok(()));
        let broken = |f: fn(&mut Vehicle)| {
            let mut v = clio();
            f(&mut v);
            match v.validate() {
                Err(ChangeError::Invalid { field, reason }) => (field, reason),
                other => panic!("expected a refusal, got {other:?}"),
            }
        };
        let cases: [Case; 9] = [
            (
                |v| v.brand = " ".into(),
                ChangeField::Brand,
                "must not be blank",
            ),
            (
                |v| v.model = "x".repeat(61),
                ChangeField::Model,
                "more than 60",
            ),
            (
                |v| v.model = "Clio\n".into(),
                ChangeField::Model,
                "control character",
            ),
            (
                |v| v.year = 1949,
                ChangeField::Year,
                "[1950, 2100], got 1949",
            ),
            (|v| v.seats = 0, ChangeField::Seats, "[1, 99], got 0"),
            (|v| v.luggage = -1, ChangeField::Luggage, "got -1"),
            (
                |v| v.rentals_count = -3,
                ChangeField::RentalsCount,
                "got -3",
            ),
            (
                |v| v.daily_price = f64::INFINITY,
                ChangeField::DailyPrice,
                "non-negative",
            ),
            (|v| v.city = String::new(), ChangeField::City, "blank"),
        ];
        for (change, field, reason) in cases {
            let (got, why) = broken(change);
            assert_eq!(got, field, "{why}");
            assert!(why.contains(reason), "{field:?}: {why:?} lacks {reason:?}");
        }
    }

    #[test]
    fn a_change_names_the_rule_it_breaks() {
        use super::{ChangeError, ChangeField, VehicleChange};
        let change = |f: fn(&mut VehicleChange)| {
            let mut c = VehicleChange::default();
            f(&mut c);
            c.validate()
        };
        let field = |r: Result<(), ChangeError>| match r {
            Err(ChangeError::Invalid { field, .. }) => Some(field),
            _ => None,
        };
        assert_eq!(change(|_| {}), Err(ChangeError::Empty));
        assert_eq!(change(|c| c.available = Some(false)), Ok(()));
        assert_eq!(change(|c| c.daily_price = Some(0.0)), Ok(()));
        assert_eq!(
            field(change(|c| c.daily_price = Some(-1.0))),
            Some(ChangeField::DailyPrice)
        );
        assert_eq!(
            field(change(|c| c.daily_price = Some(f64::NAN))),
            Some(ChangeField::DailyPrice)
        );
        assert_eq!(change(|c| c.rating = Some(5.0)), Ok(()));
        assert_eq!(
            field(change(|c| c.rating = Some(5.5))),
            Some(ChangeField::Rating)
        );
        assert_eq!(change(|c| c.city = Some("Lyon".into())), Ok(()));
        for city in ["  ".to_owned(), "Ly\u{0}on".to_owned(), "x".repeat(101)] {
            let c = VehicleChange {
                city: Some(city.clone()),
                ..VehicleChange::default()
            };
            assert_eq!(field(c.validate()), Some(ChangeField::City), "{city:?}");
        }
    }
}
