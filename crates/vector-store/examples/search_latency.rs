//! Latency and recall of the embedded store's recommend query at catalog scale, as the
//! recommender sends it: top-100, filtered on the product type, the reviewed vehicle excluded,
//! one positive vehicle, one positive and one negative vector. Recall@100 of the first 50
//! queries is measured against exact search with the same filter.
//!
//!   cargo run --release -p aras-vector-store --example search_latency -- synthetic [vehicles=100000] [queries=1000] [hnsw_ef]
//!   cargo run --release -p aras-vector-store --example search_latency -- store DIR [queries=1000] [hnsw_ef]
//!
//! `synthetic`: uniformly random 384-d vectors (30 % of another product type so the filter
//! works) — a worst case for HNSW, with no structure to exploit. `store`: a store `aras index`
//! built from a catalog (stop the recommender first: a store has one process); the positive and
//! negative vectors are other vehicles' vectors.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use aras_vector_store::{
    EdgeStore, Example, HNSW_EF, RecommendQuery, VectorStore, VehiclePayload, VehiclePoint,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 384;
const RECALL_QUERIES: usize = 50;

/// The store under test, every vector by id (from 1), and which ids the filter keeps.
struct Catalog {
    store: EdgeStore,
    vectors: Vec<Vec<f32>>,
    kept: fn(i64) -> bool,
    _dir: Option<tempfile::TempDir>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let (catalog, queries, hnsw_ef) = match arg(0) {
        Some("store") => {
            let dir = arg(1).ok_or_else(|| anyhow::anyhow!("store needs a directory"))?;
            (
                existing(Path::new(dir)).await?,
                arg(2).map_or(Ok(1_000), str::parse)?,
                arg(3).map_or(Ok(HNSW_EF), str::parse)?,
            )
        }
        _ => (
            synthetic(arg(1).map_or(Ok(100_000), str::parse)?).await?,
            arg(2).map_or(Ok(1_000), str::parse)?,
            arg(3).map_or(Ok(HNSW_EF), str::parse)?,
        ),
    };
    let Catalog {
        store,
        vectors,
        kept,
        ..
    } = catalog;
    let store = store.with_hnsw_ef(hnsw_ef);
    let n = i64::try_from(vectors.len())?;
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut latencies = Vec::with_capacity(queries);
    let (mut found, mut expected) = (0_usize, 0_usize);
    for query_number in 0..queries {
        let reviewed = loop {
            let id = rng.random_range(1..=n);
            if kept(id) {
                break id;
            }
        };
        let wanted = vectors[rng.random_range(0..vectors.len())].clone();
        let avoided = vectors[rng.random_range(0..vectors.len())].clone();
        let query = RecommendQuery {
            tenant: "demo".into(),
            positive: vec![Example::Vehicle(reviewed), Example::Vector(wanted.clone())],
            negative: vec![Example::Vector(avoided.clone())],
            product_type: "vehicle".into(),
            exclude: vec![reviewed],
            limit: 100,
        };
        let started = Instant::now();
        let hits = store.recommend(query).await?;
        latencies.push(started.elapsed());
        if query_number < RECALL_QUERIES {
            let own = &vectors[usize::try_from(reviewed - 1)?];
            let target = aras_domain::recommend::average_vector(&[own, &wanted], &[&avoided])
                .expect("same sizes");
            let mut exact: Vec<(f32, i64)> = (1_i64..)
                .zip(&vectors)
                .filter(|(id, _)| kept(*id) && *id != reviewed)
                .map(|(id, v)| (v.iter().zip(&target).map(|(a, b)| a * b).sum(), id))
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let truth: HashSet<i64> = exact.iter().take(100).map(|(_, id)| *id).collect();
            found += hits.iter().filter(|h| truth.contains(&h.id)).count();
            expected += truth.len();
        }
    }
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1e3
    };
    println!(
        "recall@100 vs exact search ({RECALL_QUERIES} queries): {:.3}",
        found as f64 / expected as f64
    );
    println!(
        "top-100 filtered recommend over {n} vectors, {queries} queries, hnsw_ef {hnsw_ef}: \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

async fn synthetic(n: i64) -> anyhow::Result<Catalog> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let dir = tempfile::tempdir()?;
    let store = EdgeStore::open(dir.path(), DIM).await?;
    let kept = |id: i64| id % 10 >= 3;
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|_| unit((0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect()))
        .collect();
    let started = Instant::now();
    for (first, chunk) in (1_i64..).step_by(1_000).zip(vectors.chunks(1_000)) {
        let points = (first..)
            .zip(chunk)
            .map(|(id, vector)| VehiclePoint {
                id,
                vector: vector.clone(),
                payload: VehiclePayload {
                    tenant: "demo".into(),
                    product_type: if kept(id) { "vehicle" } else { "other" }.into(),
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
    let upserted = started.elapsed().as_secs_f64();
    let started = Instant::now();
    store.optimize().await?;
    println!(
        "{n} random vectors: upsert {upserted:.1}s ({:.0}/s), HNSW build {:.1}s",
        n as f64 / upserted,
        started.elapsed().as_secs_f64()
    );
    Ok(Catalog {
        store,
        vectors,
        kept,
        _dir: Some(dir),
    })
}

async fn existing(dir: &Path) -> anyhow::Result<Catalog> {
    let store = EdgeStore::open(dir, DIM).await?;
    let count = i64::try_from(store.count().await?)?;
    let mut vectors = Vec::new();
    for id in 1..=count {
        vectors.push(
            store
                .vector(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("vehicle {id} has no vector"))?,
        );
    }
    println!("{count} vectors read from {}", dir.display());
    Ok(Catalog {
        store,
        vectors,
        kept: |_| true,
        _dir: None,
    })
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    for x in &mut v {
        *x /= norm;
    }
    v
}
