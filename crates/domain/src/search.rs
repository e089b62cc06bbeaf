//! Catalog search: filters, the orders a page may be in, and the opaque cursor of keyset
//! pagination. Every order ends with the vehicle id, so a cursor names one exact place in it:
//! pages neither repeat nor skip a vehicle when others are inserted meanwhile.

use std::fmt;
use std::str::FromStr;

use crate::vehicle::{MAX_CITY_CHARS, VehicleType};

/// Vehicles per page when the caller does not say; at most [`MAX_LIMIT`].
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Longest search text accepted.
pub const MAX_QUERY_CHARS: usize = 200;

/// The field a page is ordered by (then by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Id,
    Price,
    Rating,
    Year,
}

/// An order: a key, ascending or descending (`-prix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Self {
            key: SortKey::Id,
            descending: false,
        }
    }
}

/// The orders accepted, in the API's words.
pub const SORTS: [&str; 8] = [
    "id", "-id", "prix", "-prix", "note", "-note", "annee", "-annee",
];

impl FromStr for Sort {
    type Err = SearchError;
    fn from_str(text: &str) -> Result<Self, SearchError> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, text),
        };
        let key = match name {
            "id" => SortKey::Id,
            "prix" => SortKey::Price,
            "note" => SortKey::Rating,
            "annee" => SortKey::Year,
            _ => {
                return Err(SearchError(format!(
                    "sort must be one of {}, got {text:?}",
                    SORTS.join(", ")
                )));
            }
        };
        Ok(Self { key, descending })
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.key {
            SortKey::Id => "id",
            SortKey::Price => "prix",
            SortKey::Rating => "note",
            SortKey::Year => "annee",
        };
        if self.descending {
            f.write_str("-")?;
        }
        f.write_str(name)
    }
}

/// Where the previous page ended: the sort key's value and the id of its last vehicle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub sort: Sort,
    /// The sort key of the last vehicle, as a double (exact for prices, ratings, years, ids).
    pub value: f64,
    pub id: i64,
}

impl Cursor {
    /// The opaque text handed to clients: `<sort>~<value>~<id>` (URL-safe; Rust prints a
    /// double as the shortest text that reads back to the same one).
    pub fn encode(&self) -> String {
        format!("{}~{}~{}", self.sort, self.value, self.id)
    }

    /// Reads a cursor back; it must come from a page of the same `sort`.
    pub fn decode(text: &str, sort: Sort) -> Result<Self, SearchError> {
        let malformed = || SearchError("cursor is not one this API handed out".into());
        let mut parts = text.split('~');
        let (Some(sorted), Some(value), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let cursor = Self {
            sort: sorted.parse().map_err(|_| malformed())?,
            value: value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(malformed)?,
            id: id.parse().map_err(|_| malformed())?,
        };
        if cursor.sort != sort {
            return Err(SearchError(format!(
                "cursor belongs to a listing sorted by {}, not {sort}",
                cursor.sort
            )));
        }
        Ok(cursor)
    }
}

/// What a catalog search asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VehicleSearch {
    /// Words to find in the brand, model and description (French stemming).
    pub text: Option<String>,
    pub vehicle_type: Option<VehicleType>,
    pub price_min: Option<f64>,
    pub price_max: Option<f64>,
    /// Exact, whatever the case.
    pub city: Option<String>,
    pub available: Option<bool>,
    pub rating_min: Option<f32>,
    pub sort: Sort,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// A search that cannot run; the message names the parameter, in the API's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SearchError(pub String);

impl VehicleSearch {
    pub fn validate(&self) -> Result<(), SearchError> {
        let refuse = |message: String| Err(SearchError(message));
        for (name, text) in [("q", &self.text), ("ville", &self.city)] {
            if let Some(c) = text
                .as_deref()
                .and_then(|t| t.chars().find(|c| c.is_control()))
            {
                return refuse(format!("{name} contains the control character {c:?}"));
            }
        }
        if let Some(text) = &self.text {
            let chars = text.chars().count();
            if chars > MAX_QUERY_CHARS {
                return refuse(format!(
                    "q has {chars} characters, more than {MAX_QUERY_CHARS}"
                ));
            }
        }
        for (name, price) in [("prix_min", self.price_min), ("prix_max", self.price_max)] {
            if let Some(price) = price
                && !(price.is_finite() && price >= 0.0)
            {
                return refuse(format!("{name} must be a non-negative number, got {price}"));
            }
        }
        if let (Some(min), Some(max)) = (self.price_min, self.price_max)
            && min > max
        {
            return refuse(format!("prix_min ({min}) is above prix_max ({max})"));
        }
        if let Some(rating) = self.rating_min
            && !(0.0..=5.0).contains(&rating)
        {
            return refuse(format!("note_min must be within [0, 5], got {rating}"));
        }
        if let Some(city) = &self.city
            && city.chars().count() > MAX_CITY_CHARS
        {
            return refuse(format!("ville has more than {MAX_CITY_CHARS} characters"));
        }
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return refuse(format!(
                "limit must be within [1, {MAX_LIMIT}], got {}",
                self.limit
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (fn(&mut VehicleSearch), &'static str);

    #[test]
    fn sorts_round_trip_and_unknown_ones_are_refused() {
        for text in SORTS {
            assert_eq!(text.parse::<Sort>().unwrap().to_string(), text);
        }
        assert_eq!(Sort::default().to_string(), "id");
        let refused = "price".parse::<Sort>().unwrap_err();
        assert!(refused.0.contains("-annee"), "{refused}");
    }

    #[test]
    fn cursors_round_trip_exactly_and_belong_to_their_sort() {
        let sort: Sort = "-note".parse().unwrap();
        for value in [0.0, 4.1_f32.into(), 39.99, 1e-7, 123_456_789.0] {
            let cursor = Cursor {
                sort,
                value,
                id: 42,
            };
            assert_eq!(Cursor::decode(&cursor.encode(), sort), Ok(cursor));
        }
        let text = Cursor {
            sort,
            value: 4.5,
            id: 7,
        }
        .encode();
        let other = Cursor::decode(&text, "prix".parse().unwrap()).unwrap_err();
        assert!(other.0.contains("sorted by -note"), "{other}");
        for bad in [
            "",
            "x",
            "id~1",
            "id~1~2~3",
            "id~NaN~1",
            "id~inf~1",
            "nope~1~2",
            "id~1~x",
            "id~1~1' OR 1=1",
        ] {
            assert!(Cursor::decode(bad, Sort::default()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn searches_name_the_parameter_they_break() {
        let valid = VehicleSearch {
            limit: DEFAULT_LIMIT,
            ..VehicleSearch::default()
        };
        assert_eq!(valid.validate(), Ok(()));
        let cases: [Case; 9] = [
            (|s| s.text = Some("a\u{0}b".into()), "q contains"),
            (|s| s.city = Some("Ly\non".into()), "ville contains"),
            (|s| s.limit = 0, "limit"),
            (|s| s.limit = MAX_LIMIT + 1, "limit"),
            (|s| s.price_min = Some(-1.0), "prix_min"),
            (|s| s.price_max = Some(f64::NAN), "prix_max"),
            (
                |s| (s.price_min, s.price_max) = (Some(50.0), Some(10.0)),
                "above prix_max",
            ),
            (|s| s.rating_min = Some(6.0), "note_min"),
            (|s| s.text = Some("é".repeat(MAX_QUERY_CHARS + 1)), "q has"),
        ];
        for (change, named) in cases {
            let mut search = valid.clone();
            change(&mut search);
            let error = search.validate().unwrap_err();
            assert!(error.0.contains(named), "{error} lacks {named}");
        }
    }
}
