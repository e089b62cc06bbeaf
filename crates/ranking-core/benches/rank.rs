//! Ranking cost by candidate count: `cargo bench -p aras-ranking-core --bench rank`.
use std::hint::black_box;

use aras_ranking_core::{
    Announcement, Courier, DeliveryType, LatLon, Positive, RankingOptions, Reputation, VehicleType,
    rank,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Couriers spread over Greater Paris, most inside the standard ellipse; deterministic.
fn couriers(n: usize) -> Vec<Courier> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| Courier {
            id: format!("LIV-{i:06}"),
            position: LatLon::new(48.70 + 0.35 * next(), 2.10 + 0.50 * next()).unwrap(),
            reputation: Reputation::new(10.0 * next()).unwrap(),
            capacity_kg: Positive::new("capacite_max_kg", 5.0 + 500.0 * next()).unwrap(),
            capacity_volume_m3: None,
            vehicle: VehicleType::ALL[i % VehicleType::ALL.len()],
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

criterion_group!(benches, bench_rank);
criterion_main!(benches);
