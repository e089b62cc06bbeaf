use super::*;
use proptest::prelude::*;

fn pt(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).unwrap()
}

fn courier(
    id: &str,
    lat: f64,
    lon: f64,
    reputation: f64,
    capacity: f64,
    vehicle: VehicleType,
) -> Courier {
    Courier {
        id: id.into(),
        position: pt(lat, lon),
        profile: Profile {
            reputation: Reputation::new(reputation).unwrap(),
            capacity_kg: Positive::new("capacite_max_kg", capacity).unwrap(),
            capacity_volume_m3: None,
            vehicle,
        },
    }
}

/// The seed README's example: express, Paris centre to the Étoile.
fn seed_announcement() -> Announcement {
    Announcement {
        delivery_type: DeliveryType::Express,
        pickup: pt(48.8566, 2.3522),
        dropoff: pt(48.8738, 2.2950),
        parcel_weight_kg: None,
        parcel_volume_m3: None,
    }
}

fn seed_couriers() -> Vec<Courier> {
    vec![
        courier("LIV-001", 48.8606, 2.3376, 8.5, 30.0, VehicleType::Moto),
        courier("LIV-002", 48.8556, 2.3486, 9.0, 50.0, VehicleType::Voiture),
    ]
}

fn ids(r: &Ranking, input: &[Courier]) -> Vec<String> {
    r.ranked.iter().map(|c| input[c.index].id.clone()).collect()
}

#[test]
fn seed_example_ranks_the_closer_better_equipped_courier_first() {
    let couriers = seed_couriers();
    let r = rank(&seed_announcement(), &couriers, &RankingOptions::default()).unwrap();
    assert_eq!(ids(&r, &couriers), ["LIV-002", "LIV-001"]);
    assert_eq!(r.ranked[0].rank, 1);
    assert_eq!(r.ranked[1].rank, 2);
    assert_eq!(r.tolerance_km, 5.0);
    assert_eq!(
        r.stats,
        FilterStats {
            total: 2,
            eligible: 2,
            rejected_outside_ellipse: 0,
            rejected_capacity: 0
        }
    );
    // LIV-002 is best on every criterion: it is the ideal solution.
    assert_eq!(r.ranked[0].evaluation.closeness, 1.0);
    assert_eq!(r.ranked[1].evaluation.closeness, 0.0);
    assert!(r.weights.is_consistent());
}

#[test]
fn every_default_matrix_is_consistent_and_puts_proximity_first() {
    for t in DeliveryType::ALL {
        let w = t.default_matrix().weights();
        assert!(w.is_consistent(), "{t:?}: CR {}", w.consistency_ratio);
        assert!(
            w.weights.windows(2).all(|p| p[0] > p[1]),
            "{t:?}: {:?}",
            w.weights
        );
    }
    // The figures docs/ranking.md publishes.
    let documented = [
        (DeliveryType::Standard, [0.467, 0.277, 0.160, 0.095], 0.011),
        (DeliveryType::Express, [0.546, 0.232, 0.138, 0.084], 0.019),
        (DeliveryType::Sameday, [0.604, 0.201, 0.121, 0.074], 0.024),
    ];
    for (t, weights, cr) in documented {
        let w = t.default_matrix().weights();
        for (got, want) in w.weights.iter().zip(weights) {
            assert!((got - want).abs() < 5e-4, "{t:?}: {:?}", w.weights);
        }
        assert!(
            (w.consistency_ratio - cr).abs() < 5e-4,
            "{t:?}: CR {}",
            w.consistency_ratio
        );
    }
    // Faster deliveries weigh proximity more.
    let p = |t: DeliveryType| t.default_matrix().weights().weights[0];
    assert!(p(DeliveryType::Standard) < p(DeliveryType::Express));
    assert!(p(DeliveryType::Express) < p(DeliveryType::Sameday));
}

#[test]
fn tolerance_follows_the_delivery_type_and_can_be_overridden() {
    // A courier north of the route with a detour of ~12.1 km: inside for standard (2·10 km),
    // outside for express (2·5) and sameday (2·3).
    let far = courier("FAR", 48.935, 2.3522, 5.0, 10.0, VehicleType::Velo);
    let near = courier("NEAR", 48.8600, 2.3400, 5.0, 10.0, VehicleType::Velo);
    let couriers = vec![far, near];
    let mut a = seed_announcement();
    for (t, far_inside) in [
        (DeliveryType::Standard, true),
        (DeliveryType::Express, false),
        (DeliveryType::Sameday, false),
    ] {
        a.delivery_type = t;
        let r = rank(&a, &couriers, &RankingOptions::default()).unwrap();
        assert_eq!(r.tolerance_km, t.default_tolerance_km());
        assert_eq!(r.ranked.iter().any(|c| c.index == 0), far_inside, "{t:?}");
    }
    a.delivery_type = DeliveryType::Sameday;
    let opts = RankingOptions {
        tolerance_km: Some(Positive::new("t", 50.0).unwrap()),
        ..Default::default()
    };
    let r = rank(&a, &couriers, &opts).unwrap();
    assert_eq!(r.tolerance_km, 50.0);
    assert_eq!(r.stats.eligible, 2);
}

#[test]
fn no_candidate_is_an_empty_ranking_with_the_weights() {
    let r = rank(&seed_announcement(), &[], &RankingOptions::default()).unwrap();
    assert!(r.ranked.is_empty() && r.rejected.is_empty());
    assert_eq!(r.stats, FilterStats::default());
    assert!(r.weights.is_consistent());
}

#[test]
fn zero_eligible_couriers_is_an_empty_ranking_with_statistics() {
    let couriers = vec![courier(
        "LYON",
        45.764,
        4.8357,
        9.0,
        30.0,
        VehicleType::Camion,
    )];
    let r = rank(&seed_announcement(), &couriers, &RankingOptions::default()).unwrap();
    assert!(r.ranked.is_empty());
    assert_eq!(
        r.stats,
        FilterStats {
            total: 1,
            eligible: 0,
            rejected_outside_ellipse: 1,
            rejected_capacity: 0
        }
    );
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].reason, RejectionReason::OutsideEllipse);
    assert!(r.rejected[0].geometry.path_km > r.rejected[0].geometry.max_path_km);
}

#[test]
fn parcel_weight_and_volume_reject_small_couriers() {
    let mut couriers = seed_couriers();
    couriers[1].profile.capacity_volume_m3 = Some(Positive::new("v", 0.1).unwrap());
    let mut a = seed_announcement();
    a.parcel_weight_kg = Some(Positive::new("w", 40.0).unwrap());
    let r = rank(&a, &couriers, &RankingOptions::default()).unwrap();
    assert_eq!(ids(&r, &couriers), ["LIV-002"]);
    assert_eq!(
        r.rejected[0].reason,
        RejectionReason::InsufficientWeightCapacity
    );
    // Capacity equal to the parcel is enough.
    a.parcel_weight_kg = Some(Positive::new("w", 30.0).unwrap());
    assert_eq!(
        rank(&a, &couriers, &RankingOptions::default())
            .unwrap()
            .stats
            .eligible,
        2
    );
    // Volume: LIV-002 holds 0.1 m³; LIV-001 declares none, so it is not checked.
    a.parcel_volume_m3 = Some(Positive::new("v", 0.5).unwrap());
    let r = rank(&a, &couriers, &RankingOptions::default()).unwrap();
    assert_eq!(ids(&r, &couriers), ["LIV-001"]);
    assert_eq!(
        r.rejected[0].reason,
        RejectionReason::InsufficientVolumeCapacity
    );
    assert_eq!(r.stats.rejected_capacity, 1);
}

#[test]
fn top_k_cuts_the_list_but_not_the_statistics() {
    let couriers = seed_couriers();
    let opts = RankingOptions {
        top_k: NonZeroUsize::new(1),
        ..Default::default()
    };
    let r = rank(&seed_announcement(), &couriers, &opts).unwrap();
    assert_eq!(ids(&r, &couriers), ["LIV-002"]);
    assert_eq!(r.stats.eligible, 2);
}

#[test]
fn ties_break_on_pickup_distance_then_input_order() {
    // Identical couriers: every closeness is 1.0 (d⁺ + d⁻ = 0), so input order decides.
    let twins = vec![
        courier("B", 48.8600, 2.3400, 7.0, 20.0, VehicleType::Moto),
        courier("A", 48.8600, 2.3400, 7.0, 20.0, VehicleType::Moto),
    ];
    let r = rank(&seed_announcement(), &twins, &RankingOptions::default()).unwrap();
    assert_eq!(ids(&r, &twins), ["B", "A"]);
    assert!(r.ranked.iter().all(|c| c.evaluation.closeness == 1.0));
    // A single courier scores 1.0.
    let single = &twins[..1];
    assert_eq!(
        rank(&seed_announcement(), single, &RankingOptions::default())
            .unwrap()
            .ranked[0]
            .evaluation
            .closeness,
        1.0
    );
}

#[test]
fn equal_closeness_ranks_the_courier_nearer_the_pickup_first() {
    use std::cmp::Ordering;
    let input_order = |a: usize, b: usize| a.cmp(&b);
    // Closeness equal but for rounding noise; input order alone would put `far` first.
    let near = OrderKey::new(0.5, 1.0, 1);
    let mut far = OrderKey::new(0.5 + 1e-14, 2.0, 0);
    assert_eq!(ranking_order(&near, &far, input_order), Ordering::Less);
    assert_eq!(ranking_order(&far, &near, input_order), Ordering::Greater);
    // Same distance too: the tie-break (input order here).
    far.distance_pickup_km = 1.0;
    assert_eq!(ranking_order(&far, &near, input_order), Ordering::Less);
    assert_eq!(
        ranking_order(&far, &near, |a, b| b.cmp(&a)),
        Ordering::Greater
    );
    // A real difference in closeness outweighs the distance.
    let far = OrderKey::new(0.5 + 1e-9, 2.0, 0);
    assert_eq!(ranking_order(&far, &near, input_order), Ordering::Less);
}

#[test]
fn details_explain_the_score() {
    let couriers = seed_couriers();
    let r = rank(&seed_announcement(), &couriers, &RankingOptions::default()).unwrap();
    for c in &r.ranked {
        let e = &c.evaluation;
        assert_eq!(c.values[0], c.geometry.distance_pickup_km);
        assert!((e.contribution_d_plus.iter().sum::<f64>().sqrt() - e.d_plus).abs() < 1e-12);
        assert!((e.d_minus / (e.d_plus + e.d_minus) - e.closeness).abs() < 1e-12);
        for j in 0..CRITERIA {
            assert!((e.weighted[j] - r.weights.weights[j] * e.normalized[j]).abs() < 1e-12);
        }
    }
}

#[test]
fn invalid_requests_are_refused() {
    let a = seed_announcement();
    let dup = vec![seed_couriers()[0].clone(), seed_couriers()[0].clone()];
    let err = rank(&a, &dup, &RankingOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "livreurs_candidats[1].livreur_id: duplicate courier id \"LIV-001\""
    );

    let mut empty_id = seed_couriers();
    empty_id[0].id.clear();
    assert!(rank(&a, &empty_id, &RankingOptions::default()).is_err());

    let three = PairwiseMatrix::from_upper_triangle(3, &[2.0, 3.0, 2.0]).unwrap();
    let err = rank(
        &a,
        &seed_couriers(),
        &RankingOptions {
            matrix: Some(three),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("must be 4×4"), "{err}");

    // a12 = 9 (proximity ≫ capacity) but a23 = 9 and a13 = 1/9: circular preferences.
    let circular =
        PairwiseMatrix::from_upper_triangle(4, &[9.0, 1.0 / 9.0, 1.0, 9.0, 1.0, 1.0]).unwrap();
    let err = rank(
        &a,
        &seed_couriers(),
        &RankingOptions {
            matrix: Some(circular),
            ..Default::default()
        },
    )
    .unwrap_err();
    let RankingError::InconsistentMatrix { consistency_ratio } = err else {
        panic!("{err:?}")
    };
    assert!(consistency_ratio >= 0.1);
    assert!(err.to_string().contains("CR ="), "{err}");
}

#[test]
fn domain_types_reject_out_of_range_values() {
    for v in [-0.1, 10.1, f64::NAN, f64::INFINITY] {
        assert!(Reputation::new(v).is_err(), "{v}");
    }
    for v in [0.0, 10.0] {
        assert!(Reputation::new(v).is_ok());
    }
    for v in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY, f64::INFINITY] {
        assert!(Positive::new("capacite_max_kg", v).is_err(), "{v}");
    }
    assert_eq!(
        InvalidInput::new("latitude", "bad")
            .within("point_ramassage")
            .within("annonce")
            .to_string(),
        "annonce.point_ramassage.latitude: bad"
    );
}

fn arb_courier() -> impl Strategy<Value = Courier> {
    (
        48.80f64..48.92,
        2.25f64..2.42,
        0.0f64..=10.0,
        1.0f64..200.0,
        proptest::sample::select(VehicleType::ALL.to_vec()),
    )
        .prop_map(|(lat, lon, rep, cap, vehicle)| courier("", lat, lon, rep, cap, vehicle))
}

proptest! {
    #[test]
    fn ranking_is_invariant_under_candidate_reordering(
        mut couriers in proptest::collection::vec(arb_courier(), 1..30),
        seed in any::<u64>(),
    ) {
        for (i, c) in couriers.iter_mut().enumerate() {
            c.id = format!("C{i}");
        }
        let a = seed_announcement();
        let before = rank(&a, &couriers, &RankingOptions::default()).unwrap();
        let mut shuffled = couriers.clone();
        // A deterministic Fisher–Yates from the seed: no RNG crate needed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let after = rank(&a, &shuffled, &RankingOptions::default()).unwrap();
        prop_assert_eq!(before.stats, after.stats);
        let score = |r: &Ranking, input: &[Courier]| {
            let mut v: Vec<(String, f64)> =
                r.ranked.iter().map(|c| (input[c.index].id.clone(), c.evaluation.closeness)).collect();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        for ((id_a, s_a), (id_b, s_b)) in score(&before, &couriers).into_iter().zip(score(&after, &shuffled)) {
            prop_assert_eq!(id_a, id_b);
            prop_assert!((s_a - s_b).abs() < 1e-9);
        }
        // The same courier at each rank, unless it ties its counterpart on closeness and on
        // the distance to the pickup: only then may input order (which the shuffle changed)
        // decide.
        for (x, y) in before.ranked.iter().zip(&after.ranked) {
            let (id_x, id_y) = (&couriers[x.index].id, &shuffled[y.index].id);
            if id_x != id_y {
                prop_assert_eq!(closeness_key(x.evaluation.closeness), closeness_key(y.evaluation.closeness));
                prop_assert_eq!(x.geometry.distance_pickup_km, y.geometry.distance_pickup_km);
            }
        }
        for c in &before.ranked {
            prop_assert!((0.0..=1.0).contains(&c.evaluation.closeness));
        }
    }
}
