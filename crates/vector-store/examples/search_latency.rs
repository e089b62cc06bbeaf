//! Latency and recall of the recommend query at catalog scale, as the recommender sends it:
//! top-100, filtered on the product type, the reviewed vehicle excluded, one positive vehicle,
//! one positive and one negative vector. Recall@100 of the first 50 queries is measured against
//! exact search with the same filter.
//!
//!   cargo run --release -p aras-vector-store --example search_latency -- synthetic [vehicles=100000] [queries=1000] [hnsw_ef]
//!   cargo run --release -p aras-vector-store --example search_latency -- clustered [vehicles=100000] [queries=1000] [hnsw_ef]
//!   cargo run --release -p aras-vector-store --example search_latency -- store DIR [queries=1000] [hnsw_ef]
//!
//! `synthetic`: uniformly random 384-d vectors (30 % of another product type so the filter
//! works) — a worst case for HNSW, with no structure to exploit. `clustered`: the same split,
//! vectors scattered around 2,000 random centres, closer to a catalog's structure (many
//! vehicles described alike). `store`: a store `aras index` built from a catalog (stop the
//! recommender first: a store has one process); the positive and negative vectors are other
//! vehicles' vectors.
//!
//! With `ARAS_QDRANT_URL` set (comma-separated nodes; `ARAS_QDRANT_SHARDS` and
//! `ARAS_QDRANT_REPLICATION_FACTOR` for the collection's layout), the same vectors are also
//! loaded into a Qdrant server collection (dropped at the end) and the same queries run on both
//! stores, one after the other.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use aras_vector_store::{
    CollectionLayout, EdgeStore, Example, HNSW_EF, RecommendQuery, ServerStore, VectorStore,
    VehiclePayload, VehiclePoint,
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
        Some(mode @ ("synthetic" | "clustered")) => (
            synthetic(
                arg(1).map_or(Ok(100_000), str::parse)?,
                (mode == "clustered").then_some(2_000),
            )
            .await?,
            arg(2).map_or(Ok(1_000), str::parse)?,
            arg(3).map_or(Ok(HNSW_EF), str::parse)?,
        ),
        _ => anyhow::bail!("usage: search_latency synthetic|clustered|store … (see the header)"),
    };
    let Catalog {
        store,
        vectors,
        kept,
        ..
    } = catalog;
    let store = store.with_hnsw_ef(hnsw_ef);
    measure(&store, "embedded", &vectors, kept, queries, hnsw_ef).await?;
    if let Ok(urls) = std::env::var("ARAS_QDRANT_URL") {
        let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
        let env_u32 = |name: &str| std::env::var(name).map_or(Ok(1), |v| v.parse::<u32>());
        let layout = CollectionLayout {
            shards: env_u32("ARAS_QDRANT_SHARDS")?,
            replication_factor: env_u32("ARAS_QDRANT_REPLICATION_FACTOR")?,
            write_consistency: 1,
        };
        let server = ServerStore::connect(
            &urls,
            &format!("search-latency-{}", std::process::id()),
            layout,
            std::time::Duration::from_secs(10),
        )?
        .with_hnsw_ef(hnsw_ef);
        server.ensure_collection(DIM).await?;
        let started = Instant::now();
        for (first, chunk) in (1_i64..).step_by(1_000).zip(vectors.chunks(1_000)) {
            server.upsert(points(first, chunk, kept)).await?;
        }
        println!(
            "Qdrant server {urls:?} {layout:?}: upsert {:.1}s",
            started.elapsed().as_secs_f64()
        );
        wait_until_indexed(&urls[0], &format!("search-latency-{}", std::process::id())).await?;
        let result = measure(&server, "server", &vectors, kept, queries, hnsw_ef).await;
        server.delete_collection().await?;
        result?;
    }
    Ok(())
}

/// Runs `queries` recommend queries on `store`, prints recall@100 and the latency quantiles.
async fn measure(
    store: &dyn VectorStore,
    label: &str,
    vectors: &[Vec<f32>],
    kept: fn(i64) -> bool,
    queries: usize,
    hnsw_ef: usize,
) -> anyhow::Result<()> {
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
                .zip(vectors)
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
        "{label}: recall@100 vs exact search ({RECALL_QUERIES} queries): {:.3}",
        found as f64 / expected as f64
    );
    println!(
        "{label}: top-100 filtered recommend over {n} vectors, {queries} queries, hnsw_ef {hnsw_ef}: \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

/// Waits until the server has built its HNSW index over every point (it indexes in the
/// background; searching earlier would time a partial full scan).
async fn wait_until_indexed(url: &str, collection: &str) -> anyhow::Result<()> {
    let client = qdrant_client::Qdrant::from_url(url)
        .skip_compatibility_check()
        .build()?;
    let started = Instant::now();
    loop {
        let info = client
            .collection_info(collection)
            .await?
            .result
            .unwrap_or_default();
        let status = info.status();
        let indexed = info.indexed_vectors_count.unwrap_or(0);
        let points = info.points_count.unwrap_or(0);
        if status == qdrant_client::qdrant::CollectionStatus::Green && indexed >= points {
            println!(
                "server index built: {indexed} of {points} vectors, {:.1}s after the upsert",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed().as_secs() < 1_800,
            "the server did not finish indexing in 30 minutes ({indexed} of {points})"
        );
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// The points of vectors `first..`, filtered the way `kept` says.
fn points(first: i64, vectors: &[Vec<f32>], kept: fn(i64) -> bool) -> Vec<VehiclePoint> {
    (first..)
        .zip(vectors)
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
        .collect()
}

async fn synthetic(n: i64, clusters: Option<usize>) -> anyhow::Result<Catalog> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let dir = tempfile::tempdir()?;
    let store = EdgeStore::open(dir.path(), DIM).await?;
    let kept = |id: i64| id % 10 >= 3;
    let random = |rng: &mut ChaCha8Rng| -> Vec<f32> {
        (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect()
    };
    let centres: Vec<Vec<f32>> = (0..clusters.unwrap_or(0))
        .map(|_| unit(random(&mut rng)))
        .collect();
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            let noise = random(&mut rng);
            if centres.is_empty() {
                return unit(noise);
            }
            // A centre plus noise about as long as the centre: neighbours share a centre.
            let centre = &centres[rng.random_range(0..centres.len())];
            let noise = unit(noise);
            unit(
                centre
                    .iter()
                    .zip(&noise)
                    .map(|(c, e)| c + 0.8 * e)
                    .collect(),
            )
        })
        .collect();
    let started = Instant::now();
    for (first, chunk) in (1_i64..).step_by(1_000).zip(vectors.chunks(1_000)) {
        store.upsert(points(first, chunk, kept)).await?;
    }
    let upserted = started.elapsed().as_secs_f64();
    let started = Instant::now();
    store.optimize().await?;
    println!(
        "{n} {} vectors: upsert {upserted:.1}s ({:.0}/s), HNSW build {:.1}s",
        if centres.is_empty() {
            "random"
        } else {
            "clustered"
        },
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
