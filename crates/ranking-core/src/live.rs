//! Live couriers of one tenant, in memory: profiles, last positions, and a grid of positions
//! for the ranking's spatial search.
//!
//! A live ranking looks at the grid cells that cover the circle holding the announcement's
//! ellipse, skips couriers outside that circle (one dot product) or with a stale position,
//! and puts every other one through the same [`Rules`] as given candidates: the exact ellipse,
//! the parcel, then TOPSIS over **every** eligible courier. `top_k` cuts the answer only.
//!
//! The index holds no rule of its own about which update wins: its owner applies the changes
//! in the order the shared record (Redis) applied them.

use std::collections::HashMap;

use crate::geo::{Circle, UnitVector};
use crate::{Eligible, FilterStats, LatLon, Profile, RankedCourier, Ranking, Rejection, Rules};

/// Grid cell size, in degrees of latitude and of longitude (about 1.1 km north–south). Small
/// enough that the cells around an ellipse hold few couriers outside it, large enough that a
/// city-sized search looks up about a thousand cells.
const CELL_DEGREES: f64 = 0.01;

/// A grid cell: latitude and longitude indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Cell {
    lat: i32,
    lon: i32,
}

fn cell_index(degrees: f64) -> i32 {
    (degrees / CELL_DEGREES).floor() as i32
}

impl Cell {
    fn of(p: LatLon) -> Self {
        Self {
            lat: cell_index(p.lat()),
            lon: cell_index(p.lon()),
        }
    }

    /// The cell's four corners (clamped to the valid ranges).
    fn corners(self) -> [LatLon; 4] {
        let at = |lat: i32, lon: i32| {
            LatLon::new(
                (f64::from(lat) * CELL_DEGREES).clamp(-90.0, 90.0),
                (f64::from(lon) * CELL_DEGREES).clamp(-180.0, 180.0),
            )
            .expect("clamped coordinates are valid")
        };
        [
            at(self.lat, self.lon),
            at(self.lat + 1, self.lon),
            at(self.lat, self.lon + 1),
            at(self.lat + 1, self.lon + 1),
        ]
    }
}

/// How far inside a boundary every corner of a cell must be for the whole cell to count as
/// inside, in km: far more than a cell's sides bulge from the great circles through its
/// corners (about a centimetre), so the shortcut never decides differently from the exact test.
const CELL_MARGIN_KM: f64 = 0.01;

/// Up to this longest path (km), an ellipse is small enough for the cell shortcut: convex,
/// and far from wrapping around the sphere.
const CELL_SHORTCUT_MAX_PATH_KM: f64 = 2_000.0;

/// Where a whole cell stands, so that its couriers skip the tests it settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellPlace {
    /// Inside the ellipse: only the parcel decides, and only d(P, pickup) is needed.
    InsideEllipse,
    /// Inside the search circle, across the ellipse's edge.
    InsideCircle,
    /// Across the circle's edge: every test.
    Across,
}

fn place(cell: Cell, rules: &Rules, circle: &Circle) -> CellPlace {
    let ellipse = rules.ellipse();
    if ellipse.max_path_km() > CELL_SHORTCUT_MAX_PATH_KM {
        return CellPlace::Across;
    }
    let corners = cell.corners();
    if corners
        .iter()
        .all(|&c| ellipse.check(c).path_km <= ellipse.max_path_km() - CELL_MARGIN_KM)
    {
        CellPlace::InsideEllipse
    } else if corners
        .iter()
        .all(|&c| circle.centre.distance_km(c) <= circle.radius_km - CELL_MARGIN_KM)
    {
        CellPlace::InsideCircle
    } else {
        CellPlace::Across
    }
}

/// A courier's last position and when it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub position: LatLon,
    /// Unix time of the fix, in ms.
    pub at_ms: u64,
}

/// What a ranking reads of a positioned courier, kept together in its cell so that a search
/// walks memory in order.
#[derive(Debug, Clone, Copy)]
struct Entry {
    point: UnitVector,
    at_ms: u64,
    profile: Profile,
    slot: u32,
}

#[derive(Debug, Clone)]
struct Slot {
    id: Box<str>,
    profile: Profile,
    fix: Option<Fix>,
    /// Where its entry is: the cell and the place in the cell's list.
    entry: Option<(Cell, usize)>,
}

/// One tenant's live couriers.
#[derive(Debug, Clone, Default)]
pub struct CourierIndex {
    by_id: HashMap<Box<str>, u32>,
    slots: Vec<Slot>,
    /// Hashed with foldhash (seeded per process): every move looks up two cells.
    cells: HashMap<Cell, Vec<Entry>, foldhash::quality::RandomState>,
}

/// The outcome of a live ranking: a [`Ranking`] whose indexes are the index's slots (see
/// [`CourierIndex::id`] and [`CourierIndex::fix`]), and what the search found.
#[derive(Debug, Clone)]
pub struct LiveRanking {
    pub ranking: Ranking,
    /// The circle holding the ellipse: every courier inside it was looked at.
    pub circle: Circle,
    /// Couriers inside the circle whose position was too old: ignored.
    pub stale: usize,
}

/// Why a live ranking was refused: its answer would list more couriers than `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the answer would list {} couriers ({ranked} ranked, {rejected} rejected), more than the limit of {limit}", ranked + rejected
)]
pub struct AnswerTooLarge {
    /// Ranked couriers shown (after `top_k`).
    pub ranked: usize,
    /// Rejected couriers listed (with details only).
    pub rejected: usize,
    pub limit: usize,
}

impl CourierIndex {
    /// Registered couriers.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Couriers with a position (fresh or not).
    #[cfg(test)]
    fn positioned(&self) -> usize {
        self.cells.values().map(Vec::len).sum()
    }

    /// Registers a courier or replaces its profile (its position is kept); `true` when new.
    pub fn register(&mut self, id: &str, profile: Profile) -> bool {
        if let Some(&slot) = self.by_id.get(id) {
            let slot = &mut self.slots[slot as usize];
            slot.profile = profile;
            if let Some((cell, at)) = slot.entry {
                self.cells.get_mut(&cell).expect("an entry's cell exists")[at].profile = profile;
            }
            return false;
        }
        let slot = u32::try_from(self.slots.len()).expect("fewer than 2³² couriers per tenant");
        self.slots.push(Slot {
            id: id.into(),
            profile,
            fix: None,
            entry: None,
        });
        self.by_id.insert(id.into(), slot);
        true
    }

    /// Moves a registered courier to `fix`; `false` when `id` is not registered.
    pub fn report(&mut self, id: &str, fix: Fix) -> bool {
        let Some(&slot) = self.by_id.get(id) else {
            return false;
        };
        self.remove_entry(slot);
        let cell = Cell::of(fix.position);
        let entries = self.cells.entry(cell).or_default();
        let s = &mut self.slots[slot as usize];
        entries.push(Entry {
            point: UnitVector::from(fix.position),
            at_ms: fix.at_ms,
            profile: s.profile,
            slot,
        });
        s.entry = Some((cell, entries.len() - 1));
        s.fix = Some(fix);
        true
    }

    /// Forgets a courier's position (its profile stays); `false` when `id` is not registered.
    pub fn offline(&mut self, id: &str) -> bool {
        let Some(&slot) = self.by_id.get(id) else {
            return false;
        };
        self.remove_entry(slot);
        self.slots[slot as usize].fix = None;
        true
    }

    fn remove_entry(&mut self, slot: u32) {
        let Some((cell, at)) = self.slots[slot as usize].entry.take() else {
            return;
        };
        let entries = self.cells.get_mut(&cell).expect("an entry's cell exists");
        entries.swap_remove(at);
        if let Some(moved) = entries.get(at) {
            self.slots[moved.slot as usize].entry = Some((cell, at));
        }
        if entries.is_empty() {
            self.cells.remove(&cell);
        }
    }

    /// A registered courier's profile and last position.
    pub fn get(&self, id: &str) -> Option<(Profile, Option<Fix>)> {
        let slot = &self.slots[*self.by_id.get(id)? as usize];
        Some((slot.profile, slot.fix))
    }

    /// The id of the courier at `slot` (an index of a [`LiveRanking`]).
    pub fn id(&self, slot: usize) -> &str {
        &self.slots[slot].id
    }

    /// The position of the courier at `slot`; every courier a ranking names has one.
    pub fn fix(&self, slot: usize) -> Option<Fix> {
        self.slots[slot].fix
    }

    /// Ranks every courier with a position taken at or after `oldest_ms` that `rules` finds
    /// eligible. With `list_rejected`, the couriers inside the search circle that the filter
    /// rejected are listed (by id). Refused when the answer (the ranked couriers after
    /// `top_k`, and those listed) would hold more than `max_answer` couriers.
    pub fn rank(
        &self,
        rules: &Rules,
        oldest_ms: u64,
        list_rejected: bool,
        max_answer: usize,
    ) -> Result<LiveRanking, AnswerTooLarge> {
        let circle = rules.ellipse().bounding_circle();
        let mut stats = FilterStats::default();
        let mut stale = 0;
        let mut near = Vec::new();
        self.for_each_cell_near(&circle, |cell, entries| near.push((cell, entries)));
        // Room for every courier of those cells: no regrowth in the loop.
        let mut eligible = Vec::with_capacity(near.iter().map(|(_, e)| e.len()).sum());
        let mut rejected = Vec::new();
        for (cell, entries) in near {
            let place = place(cell, rules, &circle);
            for entry in entries {
                if place == CellPlace::Across && !circle.contains(entry.point) {
                    continue;
                }
                if entry.at_ms < oldest_ms {
                    stale += 1;
                    continue;
                }
                stats.total += 1;
                let index = entry.slot as usize;
                let reason = if place == CellPlace::InsideEllipse {
                    match rules.capacity_rejection(&entry.profile) {
                        // The drop-off distance waits until the courier is shown (NaN here).
                        None => {
                            let pickup = rules.ellipse().distance_pickup_km(entry.point);
                            eligible.push(Eligible {
                                index,
                                distance_dropoff_km: f64::NAN,
                                values: entry.profile.criterion_values(pickup),
                            });
                            continue;
                        }
                        Some(reason) => reason,
                    }
                } else {
                    match rules.check(entry.point, &entry.profile) {
                        (geometry, None) => {
                            eligible.push(Rules::eligible(index, &geometry, &entry.profile));
                            continue;
                        }
                        (_, Some(reason)) => reason,
                    }
                };
                stats.count_rejection(reason);
                if list_rejected {
                    rejected.push(Rejection {
                        index,
                        reason,
                        geometry: rules.ellipse().check_vector(entry.point),
                    });
                }
            }
        }
        stats.eligible = eligible.len();
        let kept = rules
            .top_k()
            .map_or(eligible.len(), |k| k.min(eligible.len()));
        if kept + rejected.len() > max_answer {
            return Err(AnswerTooLarge {
                ranked: kept,
                rejected: rejected.len(),
                limit: max_answer,
            });
        }
        rejected.sort_unstable_by(|a, b| self.id(a.index).cmp(self.id(b.index)));
        // Ties after closeness and distance go by id: the same order on every replica.
        let mut ranked: Vec<RankedCourier> =
            rules.rank(&eligible, |a, b| self.id(a).cmp(self.id(b)));
        for shown in &mut ranked {
            if shown.geometry.distance_dropoff_km.is_nan() {
                let fix = self
                    .fix(shown.index)
                    .expect("a ranked courier has a position");
                shown.geometry = rules.ellipse().check(fix.position);
            }
        }
        Ok(LiveRanking {
            ranking: Ranking {
                tolerance_km: rules.tolerance_km,
                weights: rules.weights.clone(),
                ranked,
                rejected,
                stats,
            },
            circle,
            stale,
        })
    }

    /// Calls `visit` with the entries of every occupied cell that may hold a point of `circle`:
    /// the cells of its bounding box, or every occupied cell when there are fewer of those.
    fn for_each_cell_near<'a>(&'a self, circle: &Circle, mut visit: impl FnMut(Cell, &'a [Entry])) {
        let ((south, north), longitudes) = circle.bounds();
        let lat_cells = cell_index(south)..=cell_index(north);
        let lon_ranges = longitude_ranges(longitudes);
        let lon_cells: Vec<_> = lon_ranges
            .iter()
            .map(|&(west, east)| cell_index(west)..=cell_index(east))
            .collect();
        let box_cells: usize =
            lon_cells.iter().map(|r| r.clone().count()).sum::<usize>() * lat_cells.clone().count();
        if box_cells > self.cells.len() {
            for (cell, entries) in &self.cells {
                if lat_cells.contains(&cell.lat) && lon_cells.iter().any(|r| r.contains(&cell.lon))
                {
                    visit(*cell, entries);
                }
            }
            return;
        }
        for lat in lat_cells {
            for range in &lon_cells {
                for lon in range.clone() {
                    let cell = Cell { lat, lon };
                    if let Some(entries) = self.cells.get(&cell) {
                        visit(cell, entries);
                    }
                }
            }
        }
    }
}

/// A longitude range that may run past ±180 as one or two ranges within [-180, 180]; every
/// longitude when `None`.
fn longitude_ranges(range: Option<(f64, f64)>) -> Vec<(f64, f64)> {
    match range {
        None => vec![(-180.0, 180.0)],
        Some((west, east)) if east - west >= 360.0 => vec![(-180.0, 180.0)],
        Some((west, east)) if west < -180.0 => vec![(west + 360.0, 180.0), (-180.0, east)],
        Some((west, east)) if east > 180.0 => vec![(west, 180.0), (-180.0, east - 360.0)],
        Some(range) => vec![range],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Announcement, Courier, DeliveryType, Positive, RankingOptions, Reputation, VehicleType,
        rank,
    };
    use proptest::prelude::*;

    fn profile(reputation: f64, capacity: f64, vehicle: VehicleType) -> Profile {
        Profile {
            reputation: Reputation::new(reputation).unwrap(),
            capacity_kg: Positive::new("capacite_max_kg", capacity).unwrap(),
            capacity_volume_m3: None,
            vehicle,
        }
    }

    fn p(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    fn fix(lat: f64, lon: f64, at_ms: u64) -> Fix {
        Fix {
            position: p(lat, lon),
            at_ms,
        }
    }

    fn announcement(pickup: LatLon, dropoff: LatLon) -> Announcement {
        Announcement {
            delivery_type: DeliveryType::Standard,
            pickup,
            dropoff,
            parcel_weight_kg: None,
            parcel_volume_m3: None,
        }
    }

    fn rules(a: &Announcement, top_k: Option<usize>) -> Rules {
        let options = RankingOptions {
            top_k: top_k.and_then(std::num::NonZeroUsize::new),
            ..RankingOptions::default()
        };
        Rules::new(a, &options).unwrap()
    }

    fn ids(index: &CourierIndex, ranking: &Ranking) -> Vec<String> {
        ranking
            .ranked
            .iter()
            .map(|r| index.id(r.index).to_owned())
            .collect()
    }

    #[test]
    fn registers_reports_moves_and_goes_offline() {
        let mut index = CourierIndex::default();
        let moto = profile(8.0, 30.0, VehicleType::Moto);
        assert!(index.register("a", moto));
        assert!(!index.register("a", profile(9.0, 30.0, VehicleType::Moto)));
        assert_eq!(index.len(), 1);
        assert_eq!(index.get("a").unwrap().0.reputation.get(), 9.0);
        assert_eq!(index.get("a").unwrap().1, None);
        assert!(!index.report("ghost", fix(48.0, 2.0, 1)));
        assert!(!index.offline("ghost"));
        assert!(index.report("a", fix(48.0, 2.0, 1)));
        assert!(index.report("a", fix(49.0, 3.0, 2)), "moves across cells");
        assert_eq!(index.positioned(), 1);
        assert_eq!(index.get("a").unwrap().1, Some(fix(49.0, 3.0, 2)));
        assert!(index.offline("a"));
        assert_eq!((index.positioned(), index.len()), (0, 1));
        assert!(index.cells.is_empty(), "an empty cell is dropped");
    }

    #[test]
    fn a_profile_change_reaches_the_ranking() {
        let mut index = CourierIndex::default();
        index.register("a", profile(8.0, 30.0, VehicleType::Moto));
        index.register("b", profile(8.0, 30.0, VehicleType::Moto));
        // Side by side: only their profiles (then their ids) tell them apart.
        index.report("a", fix(48.8566, 2.3522, 10));
        index.report("b", fix(48.8566, 2.3522, 10));
        let a = announcement(p(48.8566, 2.3522), p(48.8738, 2.2950));
        let first = |index: &CourierIndex| {
            let r = index.rank(&rules(&a, None), 0, false, 100).unwrap();
            ids(index, &r.ranking)[0].clone()
        };
        assert_eq!(first(&index), "a", "the same, so by id");
        index.register("b", profile(10.0, 800.0, VehicleType::Camion));
        assert_eq!(first(&index), "b", "the new profile is ranked");
    }

    #[test]
    fn stale_and_far_couriers_are_left_out_and_counted() {
        let mut index = CourierIndex::default();
        let moto = profile(8.0, 30.0, VehicleType::Moto);
        // A long thin ellipse: pickup and drop-off 20 km apart on a parallel, 1 km tolerance
        // (semi-major 11 km, semi-minor 4.6 km), so its circle holds points outside it.
        for (id, lat, lon, at) in [
            ("fresh", 48.8566, 2.3522, 1_000),
            ("stale", 48.8567, 2.3522, 10),
            ("far", 45.0, 5.0, 1_000),
            // 8 km north of the centre: inside the circle, a 25.6 km path (> 22 km).
            ("outside-ellipse", 48.9286, 2.489, 1_000),
        ] {
            index.register(id, moto);
            index.report(id, fix(lat, lon, at));
        }
        index.register("never-reported", moto);
        let a = announcement(p(48.8566, 2.3522), p(48.8566, 2.6255));
        let options = RankingOptions {
            tolerance_km: Some(Positive::new("t", 1.0).unwrap()),
            ..RankingOptions::default()
        };
        let r = index
            .rank(&Rules::new(&a, &options).unwrap(), 500, true, 100)
            .unwrap();
        assert_eq!(ids(&index, &r.ranking), ["fresh"]);
        assert_eq!(r.stale, 1);
        assert_eq!(r.ranking.stats.total, 2, "fresh ones inside the circle");
        assert_eq!(r.ranking.stats.rejected_outside_ellipse, 1);
        assert_eq!(index.id(r.ranking.rejected[0].index), "outside-ellipse");
    }

    #[test]
    fn the_answer_limit_refuses_instead_of_cutting() {
        let mut index = CourierIndex::default();
        for i in 0..20 {
            let id = format!("c{i}");
            index.register(&id, profile(5.0, 30.0, VehicleType::Velo));
            index.report(&id, fix(48.86 + f64::from(i) * 1e-3, 2.35, 1));
        }
        let a = announcement(p(48.8566, 2.3522), p(48.8738, 2.2950));
        let refused = index.rank(&rules(&a, None), 0, false, 10).unwrap_err();
        assert_eq!(
            refused,
            AnswerTooLarge {
                ranked: 20,
                rejected: 0,
                limit: 10
            }
        );
        let kept = index.rank(&rules(&a, Some(3)), 0, false, 10).unwrap();
        assert_eq!(kept.ranking.ranked.len(), 3);
        assert_eq!(
            kept.ranking.stats.eligible, 20,
            "every one ranked, three shown"
        );
    }

    #[test]
    fn searches_across_the_antimeridian_and_over_a_pole() {
        let mut index = CourierIndex::default();
        let moto = profile(8.0, 30.0, VehicleType::Moto);
        for (id, lat, lon) in [
            ("east", 0.0, 179.999),
            ("west", 0.0, -179.999),
            ("pole", 89.999, 0.0),
        ] {
            index.register(id, moto);
            index.report(id, fix(lat, lon, 1));
        }
        let across = announcement(p(0.0, 179.99), p(0.0, -179.99));
        let r = index.rank(&rules(&across, None), 0, false, 100).unwrap();
        let mut found = ids(&index, &r.ranking);
        found.sort();
        assert_eq!(found, ["east", "west"]);
        let polar = announcement(p(89.99, 90.0), p(89.99, -90.0));
        let r = index.rank(&rules(&polar, None), 0, false, 100).unwrap();
        assert_eq!(ids(&index, &r.ranking), ["pole"]);
    }

    proptest! {
        /// The live ranking of a fleet equals the given-candidates ranking of its fresh
        /// couriers inside the search circle: same eligible set, same order, same numbers.
        #[test]
        fn live_ranking_equals_the_given_ranking_of_the_same_couriers(
            seed in any::<u64>(),
            n in 1usize..300,
            top_k in proptest::option::of(1usize..20),
            spread in 0.01f64..0.6,
        ) {
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64
            };
            let a = announcement(p(48.8566, 2.3522), p(48.88, 2.30));
            let mut index = CourierIndex::default();
            let mut given = Vec::new();
            for i in 0..n {
                let id = format!("c{i:04}");
                let profile = Profile {
                    reputation: Reputation::new((10.0 * next()).floor()).unwrap(),
                    capacity_kg: Positive::new("c", 10.0 + (50.0 * next()).floor()).unwrap(),
                    capacity_volume_m3: None,
                    vehicle: VehicleType::ALL[i % 5],
                };
                let position = p(48.86 + spread * (next() - 0.5), 2.33 + spread * (next() - 0.5));
                let at_ms = if next() < 0.1 { 1 } else { 1_000 };
                index.register(&id, profile);
                index.report(&id, Fix { position, at_ms });
                let circle = Ellipse::new(a.pickup, a.dropoff, 10.0).bounding_circle();
                if at_ms >= 500 && circle.contains(UnitVector::from(position)) {
                    given.push(Courier { id, position, profile });
                }
            }
            let options = RankingOptions {
                top_k: top_k.and_then(std::num::NonZeroUsize::new),
                ..RankingOptions::default()
            };
            // The given ranking, with candidates in id order (the live tie-break).
            let expected = rank(&a, &given, &options).unwrap();
            let live = index.rank(&Rules::new(&a, &options).unwrap(), 500, false, 1_000).unwrap();
            prop_assert_eq!(live.ranking.stats, expected.stats);
            let expected_ids: Vec<&str> =
                expected.ranked.iter().map(|r| given[r.index].id.as_str()).collect();
            prop_assert_eq!(ids(&index, &live.ranking), expected_ids);
            // The same numbers, but for the last bits of the column norms, whose sums run
            // in another order (the grid's rather than the list's).
            for (l, g) in live.ranking.ranked.iter().zip(&expected.ranked) {
                prop_assert_eq!(l.values, g.values);
                prop_assert_eq!(l.geometry, g.geometry, "the shown geometry, measured late or not");
                prop_assert!((l.evaluation.closeness - g.evaluation.closeness).abs() < 1e-12,
                    "{} vs {}", l.evaluation.closeness, g.evaluation.closeness);
            }
        }
    }

    use crate::geo::Ellipse;

    #[test]
    fn longitude_ranges_wrap() {
        assert_eq!(longitude_ranges(None), [(-180.0, 180.0)]);
        assert_eq!(longitude_ranges(Some((10.0, 20.0))), [(10.0, 20.0)]);
        assert_eq!(
            longitude_ranges(Some((-185.0, -170.0))),
            [(175.0, 180.0), (-180.0, -170.0)]
        );
        assert_eq!(
            longitude_ranges(Some((170.0, 190.0))),
            [(170.0, 180.0), (-180.0, -170.0)]
        );
    }

    #[test]
    fn a_courier_in_every_cell_near_the_ellipse_is_found_whatever_the_search_path() {
        // Few occupied cells: the search walks them instead of the box; many: the box.
        for extra in [0, 5_000] {
            let mut index = CourierIndex::default();
            let moto = profile(8.0, 30.0, VehicleType::Moto);
            index.register("inside", moto);
            index.report("inside", fix(48.87, 2.32, 1));
            for i in 0..extra {
                let id = format!("far{i}");
                index.register(&id, moto);
                let (row, column) = (f64::from(i / 100), f64::from(i % 100));
                index.report(&id, fix(40.0 + row * 0.011, 10.0 + column * 0.011, 1));
            }
            let a = announcement(p(48.8566, 2.3522), p(48.8738, 2.2950));
            let r = index.rank(&rules(&a, None), 0, false, 100).unwrap();
            assert_eq!(ids(&index, &r.ranking), ["inside"], "{extra} far couriers");
        }
    }
}
