//! Courier ranking for a delivery announcement, as pure functions: no I/O, no async.
//!
//! [`rank`] filters the candidates with a geographic ellipse around pickup and drop-off (and the
//! parcel's weight and volume), weighs four criteria with AHP and ranks the eligible couriers with
//! TOPSIS. Inputs are parsed into validated types ([`LatLon`], [`Reputation`], [`Positive`],
//! [`PairwiseMatrix`]) at the boundary, so the math never sees a NaN or an out-of-range value.
//!
//! Layout:
//! - [`geo`]: positions, haversine distance, the ellipse.
//! - [`ahp`]: pairwise matrices, principal-eigenvector weights, consistency ratio.
//! - [`topsis`]: closeness to the ideal solution, with the per-criterion explanation.
//! - [`live`]: a tenant's live couriers in memory, with the grid a live ranking searches.
//! - this file: the domain types and [`rank`], which ties the three together.

pub mod ahp;
pub mod geo;
pub mod live;
pub mod topsis;

use std::collections::HashSet;
use std::num::NonZeroUsize;

pub use ahp::{AhpWeights, PairwiseMatrix};
pub use geo::{Circle, Ellipse, EllipseCheck, LatLon, UnitVector};
use topsis::{Direction, Evaluation};

/// An input that breaks a rule, with the path of the offending field in the public API's names.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Places the field under a parent path: `latitude` under `point_ramassage` becomes
    /// `point_ramassage.latitude`.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// Why [`rank`] refused a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RankingError {
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    #[error(
        "options.matrice_ahp is inconsistent: consistency ratio CR = {consistency_ratio:.4} must be below {threshold}",
        threshold = ahp::CONSISTENCY_THRESHOLD
    )]
    InconsistentMatrix { consistency_ratio: f64 },
}

/// A finite number greater than zero (capacities, weights, volumes, tolerances).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Positive(f64);

impl Positive {
    pub fn new(field: &str, value: f64) -> Result<Self, InvalidInput> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err(InvalidInput::new(
                field,
                format!("must be a finite number greater than 0, got {value}"),
            ))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// A courier's reputation, a finite number in [0, 10].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Reputation(f64);

impl Reputation {
    pub const MAX: f64 = 10.0;

    pub fn new(value: f64) -> Result<Self, InvalidInput> {
        if value.is_finite() && (0.0..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidInput::new(
                "reputation",
                format!("must be within [0, 10], got {value}"),
            ))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// The kind of delivery, which sets the default tolerance and AHP matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryType {
    Standard,
    Express,
    Sameday,
}

impl DeliveryType {
    pub const ALL: [Self; 3] = [Self::Standard, Self::Express, Self::Sameday];

    /// Maximum detour on each side of the pickup→drop-off path, in km.
    pub fn default_tolerance_km(self) -> f64 {
        match self {
            Self::Standard => 10.0,
            Self::Express => 5.0,
            Self::Sameday => 3.0,
        }
    }

    /// The default pairwise matrix over [`Criterion::ALL`], as its upper triangle
    /// (a12, a13, a14, a23, a24, a34): the faster the delivery, the more proximity dominates.
    pub fn default_matrix_upper(self) -> [f64; 6] {
        match self {
            Self::Standard => [2.0, 3.0, 4.0, 2.0, 3.0, 2.0],
            Self::Express => [3.0, 4.0, 5.0, 2.0, 3.0, 2.0],
            Self::Sameday => [4.0, 5.0, 6.0, 2.0, 3.0, 2.0],
        }
    }

    pub fn default_matrix(self) -> PairwiseMatrix {
        PairwiseMatrix::from_upper_triangle(CRITERIA, &self.default_matrix_upper())
            .expect("the default matrices are valid 4×4 reciprocal matrices")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Express => "express",
            Self::Sameday => "sameday",
        }
    }
}

/// A courier's vehicle; bigger vehicles carry more and score higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VehicleType {
    Velo,
    Moto,
    Voiture,
    Camionnette,
    Camion,
}

impl VehicleType {
    pub const ALL: [Self; 5] = [
        Self::Velo,
        Self::Moto,
        Self::Voiture,
        Self::Camionnette,
        Self::Camion,
    ];

    /// The vehicle criterion's value (benefit).
    pub fn score(self) -> f64 {
        match self {
            Self::Velo => 0.1,
            Self::Moto => 0.3,
            Self::Voiture => 0.8,
            Self::Camionnette => 0.9,
            Self::Camion => 1.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Velo => "velo",
            Self::Moto => "moto",
            Self::Voiture => "voiture",
            Self::Camionnette => "camionnette",
            Self::Camion => "camion",
        }
    }
}

/// The four ranking criteria, in the order of the AHP matrix and of every per-criterion array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// d(P, pickup) in km; less is better.
    Proximity,
    /// Capacity in kg; more is better.
    Capacity,
    /// [`VehicleType::score`]; more is better.
    VehicleType,
    /// Reputation 0–10; more is better.
    Reputation,
}

/// Number of criteria.
pub const CRITERIA: usize = 4;

impl Criterion {
    pub const ALL: [Self; CRITERIA] = [
        Self::Proximity,
        Self::Capacity,
        Self::VehicleType,
        Self::Reputation,
    ];

    pub fn direction(self) -> Direction {
        match self {
            Self::Proximity => Direction::Cost,
            Self::Capacity | Self::VehicleType | Self::Reputation => Direction::Benefit,
        }
    }
}

/// A delivery to staff.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub delivery_type: DeliveryType,
    pub pickup: LatLon,
    pub dropoff: LatLon,
    pub parcel_weight_kg: Option<Positive>,
    pub parcel_volume_m3: Option<Positive>,
}

/// A candidate courier.
#[derive(Debug, Clone, PartialEq)]
pub struct Courier {
    pub id: String,
    pub position: LatLon,
    pub profile: Profile,
}

/// What a request may change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankingOptions {
    /// Overrides the delivery type's tolerance.
    pub tolerance_km: Option<Positive>,
    /// Overrides the delivery type's AHP matrix; must be 4×4 and consistent.
    pub matrix: Option<PairwiseMatrix>,
    /// Keeps only the best `top_k`.
    pub top_k: Option<NonZeroUsize>,
}

/// Why a courier was not ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionReason {
    OutsideEllipse,
    InsufficientWeightCapacity,
    InsufficientVolumeCapacity,
}

/// A courier that did not pass the filter, by its index in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub index: usize,
    pub reason: RejectionReason,
    pub geometry: EllipseCheck,
}

/// A ranked courier, by its index in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedCourier {
    /// From 1.
    pub rank: usize,
    pub index: usize,
    pub geometry: EllipseCheck,
    /// Criterion values in [`Criterion::ALL`] order.
    pub values: [f64; CRITERIA],
    pub evaluation: Evaluation<CRITERIA>,
}

/// Counts of the filtering step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterStats {
    pub total: usize,
    pub eligible: usize,
    pub rejected_outside_ellipse: usize,
    pub rejected_capacity: usize,
}

impl FilterStats {
    fn count_rejection(&mut self, reason: RejectionReason) {
        match reason {
            RejectionReason::OutsideEllipse => self.rejected_outside_ellipse += 1,
            RejectionReason::InsufficientWeightCapacity
            | RejectionReason::InsufficientVolumeCapacity => self.rejected_capacity += 1,
        }
    }

    pub fn rejected(&self) -> usize {
        self.rejected_outside_ellipse + self.rejected_capacity
    }
}

/// The outcome of [`rank`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub tolerance_km: f64,
    pub weights: AhpWeights,
    /// Best first, cut to `top_k`.
    pub ranked: Vec<RankedCourier>,
    /// In input order.
    pub rejected: Vec<Rejection>,
    pub stats: FilterStats,
}

/// A request's rules, ready to apply to any number of couriers: the AHP weights (checked for
/// consistency), the ellipse, the parcel and `top_k`. Given candidates ([`rank`]) and live
/// couriers ([`live`]) go through the same [`Rules::check`] and [`Rules::rank`], so the same
/// couriers get the same numbers whichever way they come.
#[derive(Debug, Clone)]
pub struct Rules {
    pub tolerance_km: f64,
    pub weights: AhpWeights,
    weight_array: [f64; CRITERIA],
    ellipse: Ellipse,
    parcel_weight_kg: Option<Positive>,
    parcel_volume_m3: Option<Positive>,
    top_k: Option<NonZeroUsize>,
}

/// A courier that passed the filter, by its index in the caller's list (input order for given
/// candidates, the index's slot for live ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eligible {
    pub index: usize,
    pub distance_dropoff_km: f64,
    /// Criterion values in [`Criterion::ALL`] order; the first is d(P, pickup).
    pub values: [f64; CRITERIA],
}

impl Rules {
    pub fn new(
        announcement: &Announcement,
        options: &RankingOptions,
    ) -> Result<Self, RankingError> {
        let matrix = match &options.matrix {
            Some(m) if m.size() != CRITERIA => {
                return Err(InvalidInput::new(
                    "options.matrice_ahp",
                    format!("must be {CRITERIA}×{CRITERIA} (proximity, capacity, vehicle type, reputation), got {0}×{0}", m.size()),
                )
                .into());
            }
            Some(m) => m.clone(),
            None => announcement.delivery_type.default_matrix(),
        };
        let weights = matrix.weights();
        if !weights.is_consistent() {
            return Err(RankingError::InconsistentMatrix {
                consistency_ratio: weights.consistency_ratio,
            });
        }
        let weight_array: [f64; CRITERIA] = weights
            .weights
            .clone()
            .try_into()
            .expect("the matrix was checked to be 4×4");
        let tolerance_km = options.tolerance_km.map_or_else(
            || announcement.delivery_type.default_tolerance_km(),
            Positive::get,
        );
        Ok(Self {
            tolerance_km,
            weights,
            weight_array,
            ellipse: Ellipse::new(announcement.pickup, announcement.dropoff, tolerance_km),
            parcel_weight_kg: announcement.parcel_weight_kg,
            parcel_volume_m3: announcement.parcel_volume_m3,
            top_k: options.top_k,
        })
    }

    pub fn ellipse(&self) -> &Ellipse {
        &self.ellipse
    }

    pub fn top_k(&self) -> Option<usize> {
        self.top_k.map(NonZeroUsize::get)
    }

    /// The filter, for one courier at `point`: eligible, or why not; with the geometry either way.
    #[inline]
    pub fn check(
        &self,
        point: UnitVector,
        profile: &Profile,
    ) -> (EllipseCheck, Option<RejectionReason>) {
        let geometry = self.ellipse.check_vector(point);
        let reason = if geometry.inside() {
            self.capacity_rejection(profile)
        } else {
            Some(RejectionReason::OutsideEllipse)
        };
        (geometry, reason)
    }

    /// The parcel's part of the filter: whether the courier can carry it.
    #[inline]
    pub fn capacity_rejection(&self, profile: &Profile) -> Option<RejectionReason> {
        if self
            .parcel_weight_kg
            .is_some_and(|w| profile.capacity_kg < w)
        {
            Some(RejectionReason::InsufficientWeightCapacity)
        } else if let (Some(parcel), Some(capacity)) =
            (self.parcel_volume_m3, profile.capacity_volume_m3)
            && capacity < parcel
        {
            Some(RejectionReason::InsufficientVolumeCapacity)
        } else {
            None
        }
    }

    /// The eligible courier's entry for [`Self::rank`].
    #[inline]
    pub fn eligible(index: usize, geometry: &EllipseCheck, profile: &Profile) -> Eligible {
        Eligible {
            index,
            distance_dropoff_km: geometry.distance_dropoff_km,
            values: profile.criterion_values(geometry.distance_pickup_km),
        }
    }

    /// Ranks every eligible courier with TOPSIS and keeps the best `top_k`, best first. Only
    /// those kept are explained. `tie` orders two couriers whose closeness and distance to the
    /// pickup are equal (by their indexes).
    pub fn rank(
        &self,
        eligible: &[Eligible],
        tie: impl Fn(usize, usize) -> std::cmp::Ordering,
    ) -> Vec<RankedCourier> {
        let topsis = topsis::Topsis::fit(
            eligible.iter().map(|e| &e.values),
            &self.weight_array,
            &Criterion::ALL.map(Criterion::direction),
        );
        let key = |at: usize| {
            let e = &eligible[at];
            OrderKey::new(topsis.closeness(&e.values), e.values[0], at)
        };
        let compare = |a: &OrderKey, b: &OrderKey| {
            ranking_order(a, b, |a, b| tie(eligible[a].index, eligible[b].index))
        };
        let order = match self.top_k.map(NonZeroUsize::get) {
            // Few kept among many: one pass keeping the best k in order; most couriers cost
            // one comparison with the worst kept.
            Some(k) if k < eligible.len() / 4 => {
                let mut best: Vec<OrderKey> = Vec::with_capacity(k + 1);
                for at in 0..eligible.len() {
                    let candidate = key(at);
                    if best.len() == k && compare(&candidate, best.last().expect("k ≥ 1")).is_ge()
                    {
                        continue;
                    }
                    let place = best.partition_point(|kept| compare(kept, &candidate).is_lt());
                    best.insert(place, candidate);
                    best.truncate(k);
                }
                best
            }
            k => {
                let mut all: Vec<OrderKey> = (0..eligible.len()).map(key).collect();
                all.sort_unstable_by(compare);
                all.truncate(k.unwrap_or(usize::MAX));
                all
            }
        };
        order
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let e = &eligible[key.at];
                let distance_pickup_km = e.values[0];
                RankedCourier {
                    rank: i + 1,
                    index: e.index,
                    geometry: EllipseCheck {
                        distance_pickup_km,
                        distance_dropoff_km: e.distance_dropoff_km,
                        path_km: distance_pickup_km + e.distance_dropoff_km,
                        max_path_km: self.ellipse.max_path_km(),
                    },
                    values: e.values,
                    evaluation: topsis.evaluate(&e.values),
                }
            })
            .collect()
    }
}

/// What a courier brings to a delivery, apart from where it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub reputation: Reputation,
    pub capacity_kg: Positive,
    /// Unknown volume capacity means no volume check for this courier.
    pub capacity_volume_m3: Option<Positive>,
    pub vehicle: VehicleType,
}

impl Profile {
    /// The criterion values of this courier at `distance_pickup_km` from the pickup.
    #[inline]
    pub fn criterion_values(&self, distance_pickup_km: f64) -> [f64; CRITERIA] {
        Criterion::ALL.map(|criterion| match criterion {
            Criterion::Proximity => distance_pickup_km,
            Criterion::Capacity => self.capacity_kg.get(),
            Criterion::VehicleType => self.vehicle.score(),
            Criterion::Reputation => self.reputation.get(),
        })
    }
}

/// Filters, weighs and ranks the candidate couriers of one announcement.
pub fn rank(
    announcement: &Announcement,
    candidates: &[Courier],
    options: &RankingOptions,
) -> Result<Ranking, RankingError> {
    check_candidates(candidates)?;
    let rules = Rules::new(announcement, options)?;
    let mut stats = FilterStats {
        total: candidates.len(),
        ..FilterStats::default()
    };
    let mut rejected = Vec::new();
    let mut eligible = Vec::with_capacity(candidates.len());
    for (index, courier) in candidates.iter().enumerate() {
        let profile = &courier.profile;
        let (geometry, reason) = rules.check(UnitVector::from(courier.position), profile);
        match reason {
            Some(reason) => {
                stats.count_rejection(reason);
                rejected.push(Rejection {
                    index,
                    reason,
                    geometry,
                });
            }
            None => eligible.push(Rules::eligible(index, &geometry, profile)),
        }
    }
    stats.eligible = eligible.len();
    Ok(Ranking {
        tolerance_km: rules.tolerance_km,
        ranked: rules.rank(&eligible, |a, b| a.cmp(&b)),
        weights: rules.weights,
        rejected,
        stats,
    })
}

/// Each candidate needs a unique, non-empty id. No candidate at all is an empty ranking (live
/// dispatch can find nobody near); a caller whose contract asks for candidates checks that.
fn check_candidates(candidates: &[Courier]) -> Result<(), InvalidInput> {
    let mut seen = HashSet::with_capacity(candidates.len());
    for (i, courier) in candidates.iter().enumerate() {
        if courier.id.is_empty() {
            return Err(InvalidInput::new(
                format!("livreurs_candidats[{i}].livreur_id"),
                "must not be empty",
            ));
        }
        if !seen.insert(courier.id.as_str()) {
            return Err(InvalidInput::new(
                format!("livreurs_candidats[{i}].livreur_id"),
                format!("duplicate courier id {:?}", courier.id),
            ));
        }
    }
    Ok(())
}

/// Where a courier stands in the order: its closeness on a 1e-12 grid (so that rounding noise
/// does not decide ties), its distance to the pickup, its place in the eligible list.
#[derive(Debug, Clone, Copy)]
struct OrderKey {
    closeness: i64,
    distance_pickup_km: f64,
    at: usize,
}

impl OrderKey {
    fn new(closeness: f64, distance_pickup_km: f64, at: usize) -> Self {
        Self {
            closeness: closeness_key(closeness),
            distance_pickup_km,
            at,
        }
    }
}

/// Best first: higher closeness, then nearer the pickup (d(P, F1)), then `tie` (input order
/// for given candidates). A total order, as sorting requires.
fn ranking_order(
    a: &OrderKey,
    b: &OrderKey,
    tie: impl Fn(usize, usize) -> std::cmp::Ordering,
) -> std::cmp::Ordering {
    b.closeness
        .cmp(&a.closeness)
        .then(a.distance_pickup_km.total_cmp(&b.distance_pickup_km))
        .then_with(|| tie(a.at, b.at))
}

/// Closeness (in [0, 1]) on a 1e-12 grid, rounded half up (no call to `round`: this runs
/// for every eligible courier).
fn closeness_key(closeness: f64) -> i64 {
    (closeness * 1e12 + 0.5) as i64
}

#[cfg(test)]
mod tests;
