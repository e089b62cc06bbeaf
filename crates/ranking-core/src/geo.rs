//! Positions on the Earth and the ellipse that decides which couriers can serve a delivery.
//!
//! Distances are great-circle distances on a sphere of radius [`EARTH_RADIUS_KM`], computed
//! from unit vectors ([`UnitVector`]): a position's trigonometry is done once, when it is
//! stored or parsed, and each distance after that is a chord (a subtraction and a square
//! root) turned into an arc. Live dispatch measures thousands of couriers per ranking, and
//! given candidates go through the same functions, so both get the same numbers.

use crate::InvalidInput;

/// Mean Earth radius, in km.
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// A validated WGS84 position: latitude in [-90, 90], longitude in [-180, 180], both finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    lat: f64,
    lon: f64,
}

impl LatLon {
    pub fn new(lat: f64, lon: f64) -> Result<Self, InvalidInput> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(InvalidInput::new(
                "latitude",
                format!("must be within [-90, 90], got {lat}"),
            ));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(InvalidInput::new(
                "longitude",
                format!("must be within [-180, 180], got {lon}"),
            ));
        }
        Ok(Self { lat, lon })
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    /// Great-circle distance, in km.
    pub fn distance_km(self, other: Self) -> f64 {
        UnitVector::from(self).distance_km(UnitVector::from(other))
    }
}

/// A position as a point of the unit sphere (x towards 0°N 0°E, z towards the North Pole).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitVector([f64; 3]);

impl From<LatLon> for UnitVector {
    fn from(p: LatLon) -> Self {
        let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
        let (sin_lat, cos_lat) = lat.sin_cos();
        let (sin_lon, cos_lon) = lon.sin_cos();
        Self([cos_lat * cos_lon, cos_lat * sin_lon, sin_lat])
    }
}

impl UnitVector {
    /// The cosine of the angle between the two positions.
    #[inline]
    pub fn dot(self, other: Self) -> f64 {
        let (a, b) = (self.0, other.0);
        a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    }

    /// Great-circle distance, in km: the chord between the two points, turned into an arc.
    #[inline]
    pub fn distance_km(self, other: Self) -> f64 {
        let (a, b) = (self.0, other.0);
        let (dx, dy, dz) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
        arc_km((dx * dx + dy * dy + dz * dz).sqrt())
    }

    fn to_lat_lon(self) -> LatLon {
        let v = self.0;
        LatLon {
            lat: v[2].clamp(-1.0, 1.0).asin().to_degrees(),
            lon: v[1].atan2(v[0]).to_degrees(),
        }
    }
}

/// The arc (km) under a chord of the unit sphere: 2R·asin(chord/2). Below half-chords of 0.01
/// (arcs under ~127 km, every city delivery) the arcsine's series is exact to the last bit
/// (its next term is under 1e-18 of the first) and far cheaper than `asin`.
#[inline]
fn arc_km(chord: f64) -> f64 {
    let x = chord * 0.5;
    let half_angle = if x < 0.01 {
        let x2 = x * x;
        x * (1.0 + x2 * (1.0 / 6.0 + x2 * (3.0 / 40.0 + x2 * (5.0 / 112.0 + x2 * (35.0 / 1152.0)))))
    } else {
        // Rounding can push the half-chord a hair above 1 for antipodal points.
        x.min(1.0).asin()
    };
    2.0 * EARTH_RADIUS_KM * half_angle
}

/// The set of points P with d(P,F1) + d(P,F2) ≤ d(F1,F2) + 2·tolerance: every point from which a
/// courier can reach the pickup F1 then the drop-off F2 with at most 2·tolerance km of detour.
#[derive(Debug, Clone, Copy)]
pub struct Ellipse {
    pickup: UnitVector,
    dropoff: UnitVector,
    max_path_km: f64,
}

/// Where a point stands with respect to an [`Ellipse`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EllipseCheck {
    pub distance_pickup_km: f64,
    pub distance_dropoff_km: f64,
    /// d(P,F1) + d(P,F2).
    pub path_km: f64,
    pub max_path_km: f64,
}

impl EllipseCheck {
    pub fn inside(&self) -> bool {
        self.path_km <= self.max_path_km
    }
}

/// A spherical cap (a circle on the sphere): the points within `radius_km` of `centre`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    pub centre: LatLon,
    pub radius_km: f64,
    centre_vector: UnitVector,
    /// cos(radius / R): a point is inside when its dot product with the centre is at least this.
    min_dot: f64,
}

impl Circle {
    fn new(centre: UnitVector, radius_km: f64) -> Self {
        let angle = (radius_km / EARTH_RADIUS_KM).min(std::f64::consts::PI);
        Self {
            centre: centre.to_lat_lon(),
            radius_km: angle * EARTH_RADIUS_KM,
            centre_vector: centre,
            min_dot: angle.cos(),
        }
    }

    /// Whether `point` is inside: one dot product, no trigonometry.
    #[inline]
    pub fn contains(&self, point: UnitVector) -> bool {
        self.centre_vector.dot(point) >= self.min_dot
    }

    /// The latitude band and longitude range (degrees) that hold the circle: `None` for the
    /// longitudes when the circle reaches a pole or spans them all.
    pub fn bounds(&self) -> ((f64, f64), Option<(f64, f64)>) {
        let angle = (self.radius_km / EARTH_RADIUS_KM).to_degrees();
        let (south, north) = (self.centre.lat - angle, self.centre.lat + angle);
        if south <= -90.0 || north >= 90.0 {
            return ((south.max(-90.0), north.min(90.0)), None);
        }
        // The widest longitude span of a cap is where its edge touches a meridian:
        // asin(sin r / cos φc).
        let ratio = (self.radius_km / EARTH_RADIUS_KM).sin() / self.centre.lat.to_radians().cos();
        if ratio >= 1.0 {
            return ((south, north), None);
        }
        let half_span = ratio.asin().to_degrees();
        (
            (south, north),
            Some((self.centre.lon - half_span, self.centre.lon + half_span)),
        )
    }
}

impl Ellipse {
    pub fn new(pickup: LatLon, dropoff: LatLon, tolerance_km: f64) -> Self {
        let (pickup, dropoff) = (UnitVector::from(pickup), UnitVector::from(dropoff));
        Self {
            pickup,
            dropoff,
            max_path_km: pickup.distance_km(dropoff) + 2.0 * tolerance_km,
        }
    }

    pub fn max_path_km(&self) -> f64 {
        self.max_path_km
    }

    /// A circle holding the whole ellipse, for a search that must miss none of its points:
    /// centred on the midpoint of the pickup→drop-off great circle, radius the semi-major axis
    /// (half the longest path), plus a margin of a millionth and a metre for rounding. A
    /// courier outside this circle cannot be inside the ellipse.
    pub fn bounding_circle(&self) -> Circle {
        let (a, b) = (self.pickup.0, self.dropoff.0);
        let sum = [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
        let norm = (sum[0].powi(2) + sum[1].powi(2) + sum[2].powi(2)).sqrt();
        if norm < 1e-9 {
            // Antipodal pickup and drop-off: no single midpoint; a circle around the pickup
            // with the whole longest path as radius still holds every point of the ellipse.
            return Circle::new(self.pickup, self.max_path_km * (1.0 + 1e-6) + 1e-3);
        }
        let centre = UnitVector([sum[0] / norm, sum[1] / norm, sum[2] / norm]);
        Circle::new(centre, self.max_path_km / 2.0 * (1.0 + 1e-6) + 1e-3)
    }

    /// d(P, pickup): the one distance a point already known to be inside needs.
    #[inline]
    pub fn distance_pickup_km(&self, point: UnitVector) -> f64 {
        point.distance_km(self.pickup)
    }

    pub fn check(&self, point: LatLon) -> EllipseCheck {
        self.check_vector(UnitVector::from(point))
    }

    #[inline]
    pub fn check_vector(&self, point: UnitVector) -> EllipseCheck {
        let distance_pickup_km = point.distance_km(self.pickup);
        let distance_dropoff_km = point.distance_km(self.dropoff);
        EllipseCheck {
            distance_pickup_km,
            distance_dropoff_km,
            path_km: distance_pickup_km + distance_dropoff_km,
            max_path_km: self.max_path_km,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    #[test]
    fn rejects_out_of_range_and_non_finite_coordinates() {
        for (lat, lon) in [
            (90.0001, 0.0),
            (-90.0001, 0.0),
            (0.0, 180.0001),
            (0.0, -180.0001),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            assert!(
                LatLon::new(lat, lon).is_err(),
                "({lat}, {lon}) must be rejected"
            );
        }
        for (lat, lon) in [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0)] {
            assert!(LatLon::new(lat, lon).is_ok());
        }
    }

    #[test]
    fn haversine_matches_known_distances() {
        // Paris (Notre-Dame) to London (Big Ben): 343.07 km on a 6371 km sphere.
        let d = p(48.8530, 2.3499).distance_km(p(51.5007, -0.1246));
        assert!((d - 343.07).abs() < 0.01, "{d}");
        // A quarter of the equator.
        let q = p(0.0, 0.0).distance_km(p(0.0, 90.0));
        assert!((q - EARTH_RADIUS_KM * std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        // Antipodes: half the circumference, no NaN.
        let a = p(0.0, 0.0).distance_km(p(0.0, 180.0));
        assert!((a - EARTH_RADIUS_KM * std::f64::consts::PI).abs() < 1e-9);
        assert_eq!(p(10.0, 10.0).distance_km(p(10.0, 10.0)), 0.0);
    }

    #[test]
    fn ellipse_boundary_is_inclusive() {
        let f1 = p(48.8566, 2.3522);
        let f2 = p(48.8738, 2.2950);
        // A point on the segment: path = d(F1,F2) exactly, inside even with zero tolerance.
        let e = Ellipse::new(f1, f2, 0.0);
        assert!(e.check(f1).inside());
        assert!(e.check(f2).inside());
    }

    #[test]
    fn the_ellipse_is_not_a_circle_around_the_pickup() {
        // Pickup and drop-off 20 km apart on the equator, tolerance 1 km. A courier next to the
        // drop-off is 20 km from the pickup but inside the ellipse; the original code's circle
        // (d(P,F1) + d(F1,F2) ≤ …) would reject it.
        let f1 = p(0.0, 0.0);
        let f2 = p(0.0, 0.18);
        let e = Ellipse::new(f1, f2, 1.0);
        assert!(e.check(p(0.0, 0.179)).inside());
        // And one 2 km behind the pickup is outside (detour 4 km > 2 km).
        assert!(!e.check(p(0.0, -0.018)).inside());
    }

    proptest! {
        #[test]
        fn membership_agrees_with_brute_force(
            lat1 in -60.0f64..60.0, lon1 in -170.0f64..170.0,
            dlat2 in -0.5f64..0.5, dlon2 in -0.5f64..0.5,
            dlat in -1.0f64..1.0, dlon in -1.0f64..1.0,
            tol in 0.0f64..30.0,
        ) {
            let f1 = p(lat1, lon1);
            let f2 = p(lat1 + dlat2, lon1 + dlon2);
            let pt = p(lat1 + dlat, lon1 + dlon);
            let e = Ellipse::new(f1, f2, tol);
            // Brute force: the shortest detour through P, recomputed from the definition.
            let via = brute_haversine(pt, f1) + brute_haversine(pt, f2);
            let direct = brute_haversine(f1, f2);
            let expected = via <= direct + 2.0 * tol;
            let check = e.check(pt);
            // Only points within rounding of the boundary may disagree.
            if (via - direct - 2.0 * tol).abs() > 1e-9 {
                prop_assert_eq!(check.inside(), expected);
            }
            prop_assert!(check.path_km + 1e-9 >= direct, "triangle inequality");
        }
    }

    #[test]
    fn the_bounding_circle_is_centred_between_the_foci_and_reaches_the_far_vertex() {
        let f1 = p(0.0, 0.0);
        let f2 = p(0.0, 0.18);
        let e = Ellipse::new(f1, f2, 1.0);
        let Circle {
            centre,
            radius_km: radius,
            ..
        } = e.bounding_circle();
        assert!(centre.lat().abs() < 1e-9 && (centre.lon() - 0.09).abs() < 1e-9);
        // The far vertex beyond the drop-off lies on the ellipse and within the circle.
        let half_path = e.max_path_km() / 2.0;
        let vertex_lon = (half_path / EARTH_RADIUS_KM).to_degrees() + 0.09;
        assert!(e.check(p(0.0, vertex_lon - 1e-7)).inside());
        assert!(centre.distance_km(p(0.0, vertex_lon)) <= radius);
        assert!(
            radius - half_path < 0.002,
            "the margin stays small: {radius} vs {half_path}"
        );
        // Antipodal foci still get a circle that holds both.
        let far = Ellipse::new(p(0.0, 0.0), p(0.0, 180.0), 0.0);
        let circle = far.bounding_circle();
        assert!(circle.centre.distance_km(p(0.0, 180.0)) <= circle.radius_km);
        assert!(circle.contains(UnitVector::from(p(0.0, 180.0))));
    }

    proptest! {
        #[test]
        fn every_point_of_the_ellipse_is_inside_its_bounding_circle(
            lat1 in -80.0f64..80.0, lon1 in -179.0f64..179.0,
            dlat2 in -0.5f64..0.5, dlon2 in -0.5f64..0.5,
            dlat in -0.8f64..0.8, dlon in -0.8f64..0.8,
            tol in 0.0f64..30.0,
        ) {
            let f1 = p(lat1, lon1);
            let f2 = p(lat1 + dlat2, lon1 + dlon2);
            let pt = p((lat1 + dlat).clamp(-90.0, 90.0), lon1 + dlon);
            let e = Ellipse::new(f1, f2, tol);
            let circle = e.bounding_circle();
            if e.check(pt).inside() {
                prop_assert!(circle.centre.distance_km(pt) <= circle.radius_km,
                    "{pt:?} inside the ellipse but {} km from the centre, radius {}",
                    circle.centre.distance_km(pt), circle.radius_km);
                prop_assert!(circle.contains(UnitVector::from(pt)), "the dot-product test agrees");
                let ((south, north), lons) = circle.bounds();
                prop_assert!((south..=north).contains(&pt.lat()), "{pt:?} within the latitude band");
                if let Some((west, east)) = lons {
                    // The range may run past ±180; compare on the circle of longitudes.
                    let lon = pt.lon();
                    prop_assert!([lon - 360.0, lon, lon + 360.0].iter().any(|l| (west..=east).contains(l)),
                        "{pt:?} within the longitudes {west}..{east}");
                }
            }
        }
    }

    #[test]
    fn the_arc_series_agrees_with_the_arcsine_where_it_is_used() {
        for chord in [1e-9, 1e-6, 1e-4, 3e-3, 0.0199, 0.019_999_999] {
            let exact = 2.0 * EARTH_RADIUS_KM * (chord / 2.0_f64).asin();
            let fast = arc_km(chord);
            assert!(
                ((fast - exact) / exact).abs() < 4.0 * f64::EPSILON,
                "{chord}: {fast} vs {exact}"
            );
        }
        assert_eq!(arc_km(0.0), 0.0);
        assert!((arc_km(2.0) - EARTH_RADIUS_KM * std::f64::consts::PI).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn distances_agree_with_the_haversine_formula(
            lat1 in -90.0f64..90.0, lon1 in -180.0f64..180.0,
            lat2 in -90.0f64..90.0, lon2 in -180.0f64..180.0,
            dlat in -0.3f64..0.3, dlon in -0.3f64..0.3,
        ) {
            let (a, b) = (p(lat1, lon1), p(lat2, lon2));
            let near = p((lat1 + dlat).clamp(-90.0, 90.0), (lon1 + dlon).clamp(-180.0, 180.0));
            for (x, y) in [(a, b), (a, near)] {
                let (fast, reference) = (x.distance_km(y), haversine(x, y));
                // Both formulas lose digits near the antipode (the arcsine's slope is infinite
                // there): a metre of slack beyond 10,000 km, a billionth below.
                let tolerance = if reference > 10_000.0 { 1e-3 } else { 1e-9 * reference.max(1.0) };
                prop_assert!((fast - reference).abs() <= tolerance,
                    "{x:?} {y:?}: {fast} vs {reference}");
            }
        }

        #[test]
        fn a_circle_contains_what_is_within_its_radius(
            lat in -89.0f64..89.0, lon in -179.0f64..179.0, radius in 0.01f64..500.0,
            dlat in -5.0f64..5.0, dlon in -5.0f64..5.0,
        ) {
            let circle = Circle::new(UnitVector::from(p(lat, lon)), radius);
            let pt = p((lat + dlat).clamp(-90.0, 90.0), (lon + dlon).clamp(-180.0, 180.0));
            let d = circle.centre.distance_km(pt);
            if (d - radius).abs() > 1e-6 {
                prop_assert_eq!(circle.contains(UnitVector::from(pt)), d < radius);
            }
        }
    }

    /// The haversine formula, independent of the chord used by [`UnitVector::distance_km`].
    fn haversine(a: LatLon, b: LatLon) -> f64 {
        let (phi1, phi2) = (a.lat().to_radians(), b.lat().to_radians());
        let dphi = phi2 - phi1;
        let dlambda = (b.lon() - a.lon()).to_radians();
        let h =
            (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
    }

    /// Independent formula (spherical law of cosines via vectors) for the brute-force check.
    fn brute_haversine(a: LatLon, b: LatLon) -> f64 {
        let v = |p: LatLon| {
            let (la, lo) = (p.lat().to_radians(), p.lon().to_radians());
            [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
        };
        let (u, w) = (v(a), v(b));
        let cross = [
            u[1] * w[2] - u[2] * w[1],
            u[2] * w[0] - u[0] * w[2],
            u[0] * w[1] - u[1] * w[0],
        ];
        let sin = (cross[0].powi(2) + cross[1].powi(2) + cross[2].powi(2)).sqrt();
        let cos = u[0] * w[0] + u[1] * w[1] + u[2] * w[2];
        EARTH_RADIUS_KM * sin.atan2(cos)
    }
}
