//! Positions on the Earth and the ellipse that decides which couriers can serve a delivery.

use crate::InvalidInput;

/// Mean Earth radius used by the haversine formula, in km.
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

    /// Great-circle distance on a sphere of radius [`EARTH_RADIUS_KM`], in km.
    pub fn haversine_km(self, other: Self) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let dphi = phi2 - phi1;
        let dlambda = (other.lon - self.lon).to_radians();
        let a =
            (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        // Clamp: rounding can push `a` a hair above 1 for antipodal points.
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

/// The set of points P with d(P,F1) + d(P,F2) ≤ d(F1,F2) + 2·tolerance: every point from which a
/// courier can reach the pickup F1 then the drop-off F2 with at most 2·tolerance km of detour.
#[derive(Debug, Clone, Copy)]
pub struct Ellipse {
    pickup: LatLon,
    dropoff: LatLon,
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

impl Ellipse {
    pub fn new(pickup: LatLon, dropoff: LatLon, tolerance_km: f64) -> Self {
        Self {
            pickup,
            dropoff,
            max_path_km: pickup.haversine_km(dropoff) + 2.0 * tolerance_km,
        }
    }

    pub fn max_path_km(&self) -> f64 {
        self.max_path_km
    }

    /// A circle holding the whole ellipse, for a radius query that must miss none of its
    /// points: centred on the midpoint of the pickup→drop-off great circle, radius the
    /// semi-major axis (half the longest path), plus a margin of a millionth and a metre for
    /// rounding. A courier outside this circle cannot be inside the ellipse.
    pub fn bounding_circle(&self) -> (LatLon, f64) {
        let to_vector = |p: LatLon| {
            let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
            [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
        };
        let (a, b) = (to_vector(self.pickup), to_vector(self.dropoff));
        let sum = [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
        let norm = (sum[0].powi(2) + sum[1].powi(2) + sum[2].powi(2)).sqrt();
        let semi_major_km = self.max_path_km / 2.0;
        if norm < 1e-9 {
            // Antipodal pickup and drop-off: no single midpoint; a circle around the pickup
            // with the whole longest path as radius still holds every point of the ellipse.
            return (self.pickup, self.max_path_km * (1.0 + 1e-6) + 1e-3);
        }
        let centre = Self::from_vector([sum[0] / norm, sum[1] / norm, sum[2] / norm]);
        (centre, semi_major_km * (1.0 + 1e-6) + 1e-3)
    }

    fn from_vector(v: [f64; 3]) -> LatLon {
        LatLon {
            lat: v[2].clamp(-1.0, 1.0).asin().to_degrees(),
            lon: v[1].atan2(v[0]).to_degrees(),
        }
    }

    pub fn check(&self, point: LatLon) -> EllipseCheck {
        let distance_pickup_km = point.haversine_km(self.pickup);
        let distance_dropoff_km = point.haversine_km(self.dropoff);
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
        let d = p(48.8530, 2.3499).haversine_km(p(51.5007, -0.1246));
        assert!((d - 343.07).abs() < 0.01, "{d}");
        // A quarter of the equator.
        let q = p(0.0, 0.0).haversine_km(p(0.0, 90.0));
        assert!((q - EARTH_RADIUS_KM * std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        // Antipodes: half the circumference, no NaN.
        let a = p(0.0, 0.0).haversine_km(p(0.0, 180.0));
        assert!((a - EARTH_RADIUS_KM * std::f64::consts::PI).abs() < 1e-9);
        assert_eq!(p(10.0, 10.0).haversine_km(p(10.0, 10.0)), 0.0);
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
        let (centre, radius) = e.bounding_circle();
        assert!(centre.lat().abs() < 1e-9 && (centre.lon() - 0.09).abs() < 1e-9);
        // The far vertex beyond the drop-off lies on the ellipse and within the circle.
        let half_path = e.max_path_km() / 2.0;
        let vertex_lon = (half_path / EARTH_RADIUS_KM).to_degrees() + 0.09;
        assert!(e.check(p(0.0, vertex_lon - 1e-7)).inside());
        assert!(centre.haversine_km(p(0.0, vertex_lon)) <= radius);
        assert!(
            radius - half_path < 0.002,
            "the margin stays small: {radius} vs {half_path}"
        );
        // Antipodal foci still get a circle that holds both.
        let far = Ellipse::new(p(0.0, 0.0), p(0.0, 180.0), 0.0);
        let (c, r) = far.bounding_circle();
        assert!(c.haversine_km(p(0.0, 180.0)) <= r);
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
            let (centre, radius) = e.bounding_circle();
            if e.check(pt).inside() {
                prop_assert!(centre.haversine_km(pt) <= radius,
                    "{pt:?} inside the ellipse but {} km from the centre, radius {radius}",
                    centre.haversine_km(pt));
            }
        }
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
