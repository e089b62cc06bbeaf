//! Ranking cost by candidate count, and live ranking over an in-memory fleet:
//! `cargo bench -p aras-ranking-core --bench rank`.
use std::hint::black_box;

use aras_ranking_core::live::{CourierIndex, Fix};
use aras_ranking_core::{
    Announcement, Courier, DeliveryType, LatLon, Positive, Profile, RankingOptions, Reputation,
    Rules, VehicleType, rank,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// A deterministic stream of numbers in [0, 1) (xorshift).
fn numbers(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Couriers spread over Greater Paris, most inside the standard ellipse; deterministic.
fn couriers(n: usize) -> Vec<Courier> {
    let mut next = numbers(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|i| Courier {
            id: format!("LIV-{i:06}"),
            position: LatLon::new(48.70 + 0.35 * next(), 2.10 + 0.50 * next()).unwrap(),
            profile: Profile {
                reputation: Reputation::new(10.0 * next()).unwrap(),
                capacity_kg: Positive::new("capacite_max_kg", 5.0 + 500.0 * next()).unwrap(),
                capacity_volume_m3: None,
                vehicle: VehicleType::ALL[i % VehicleType::ALL.len()],
            },
        })
        .collect()
}

fn bench_rank(c: &mut Criterion) {
    let announcement = Announcement {
        delivery_type: DeliveryType::Standard,
        pickup: LatLon::new(48.8566, 2.3522).unwrap(),
        dropoff: LatLon::new(48.8738, 2.2950).unwrap(),
        parcel_weight_kg: None,
        parcel_volume_m3: None,
    };
    let options = RankingOptions::default();
    let mut group = c.benchmark_group("rank");
    for n in [10, 1_000, 100_000] {
        let input = couriers(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| {
                rank(
                    black_box(&announcement),
                    black_box(input),
                    black_box(&options),
                )
                .unwrap()
            });
        });
    }
    group.finish();
}

/// The load test's city (scripts/load-test-fleet): 100,000 couriers spread over 30 × 30 km
/// around Paris, an express delivery from the centre to the Étoile; about 17,600 of them are in
/// its ellipse, and every one is ranked. Throughput is per eligible courier.
fn bench_live(c: &mut Criterion) {
    let mut next = numbers(0x2545_F491_4F6C_DD1D);
    let mut index = CourierIndex::default();
    for i in 0..100_000 {
        let id = format!("C{i}");
        index.register(
            &id,
            Profile {
                reputation: Reputation::new(f64::from(i * 7 % 101) / 10.0).unwrap(),
                capacity_kg: Positive::new("c", [10.0, 30.0, 50.0, 200.0, 800.0][i as usize % 5])
                    .unwrap(),
                capacity_volume_m3: None,
                vehicle: VehicleType::ALL[(i as usize * 3) % 5],
            },
        );
        let position = LatLon::new(48.72 + 0.27 * next(), 2.15 + 0.41 * next()).unwrap();
        index.report(
            &id,
            Fix {
                position,
                at_ms: 1_000,
            },
        );
    }
    let announcement = Announcement {
        delivery_type: DeliveryType::Express,
        pickup: LatLon::new(48.8566, 2.3522).unwrap(),
        dropoff: LatLon::new(48.8738, 2.2950).unwrap(),
        parcel_weight_kg: None,
        parcel_volume_m3: None,
    };
    let options = RankingOptions {
        top_k: std::num::NonZeroUsize::new(10),
        ..RankingOptions::default()
    };
    let rules = Rules::new(&announcement, &options).unwrap();
    let eligible = index
        .rank(&rules, 0, false, 10_000)
        .unwrap()
        .ranking
        .stats
        .eligible;
    let mut group = c.benchmark_group("live");
    group.throughput(Throughput::Elements(eligible as u64));
    group.bench_function(
        format!("100000 couriers, {eligible} eligible, top 10"),
        |b| {
            b.iter(|| index.rank(black_box(&rules), 0, false, 10_000).unwrap());
        },
    );
    group.finish();
}

criterion_group!(benches, bench_rank, bench_live);
criterion_main!(benches);
