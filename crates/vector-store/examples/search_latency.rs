//! Latency of the embedded store's recommend query at catalog scale: N random 384-d vehicles
//! (30 % of another product type, to make the filter work), HNSW built, then top-100 filtered
//! queries (one positive vehicle, one positive and one negative vector, the reviewed vehicle
//! excluded), as the recommender sends them. (Recall is checked by the crate's tests.)
//!
//!   cargo run --release -p aras-vector-store --example search_latency -- [vehicles=100000] [queries=1000]

use std::time::Instant;

use aras_vector_store::{EdgeStore, Example, RecommendQuery, VectorStore, VehiclePayload, VehiclePoint};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 384;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: i64 = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let queries: usize = args.next().map_or(Ok(1_000), |s| s.parse())?;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut random_vector = move || -> Vec<f32> { (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let dir = tempfile::tempdir()?;
    let store = EdgeStore::open(dir.path(), DIM).await?;

    let started = Instant::now();
    for first in (1..=n).step_by(1_000) {
        let points = (first..(first + 1_000).min(n + 1))
            .map(|id| VehiclePoint {
                id,
                vector: random_vector(),
                payload: VehiclePayload {
                    product_type: if id % 10 < 3 { "other" } else { "vehicle" }.into(),
                    vehicle_type: "SUV".into(),
                    brand: "Peugeot".into(),
                    daily_price: 50.0,
                    available: id % 3 != 0,
                    rating: 4.0,
                },
            })
            .collect();
        store.upsert(points).await?;
    }
    let upserted = started.elapsed();
    let started = Instant::now();
    store.optimize().await?;
    let optimized = started.elapsed();
    println!("{n} vectors: upsert {:.1}s ({:.0}/s), HNSW build {:.1}s", upserted.as_secs_f64(), n as f64 / upserted.as_secs_f64(), optimized.as_secs_f64());

    let mut latencies = Vec::with_capacity(queries);
    let mut pick = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..queries {
        let reviewed = pick.random_range(1..=n);
        let query = RecommendQuery {
            positive: vec![Example::Vehicle(reviewed), Example::Vector(random_vector())],
            negative: vec![Example::Vector(random_vector())],
            product_type: "vehicle".into(),
            exclude: vec![reviewed],
            limit: 100,
        };
        let started = Instant::now();
        let hits = store.recommend(query).await?;
        latencies.push(started.elapsed());
        assert_eq!(hits.len(), 100);
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    println!("top-100 filtered recommend, {queries} queries: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.5), at(0.9), at(0.99), at(1.0));
    Ok(())
}
