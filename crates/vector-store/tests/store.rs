//! One suite for every backend of the vector store: the embedded engine always, a Qdrant server
//! when `ARAS_QDRANT_URL` names one (skipped with a message otherwise).

use aras_vector_store::{
    EdgeStore, Example, RecommendQuery, ServerStore, StoreError, VectorStore, VehiclePayload,
    VehiclePoint,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIMENSION: usize = 8;

const TENANT: &str = "acme";

fn payload(product_type: &str) -> VehiclePayload {
    VehiclePayload {
        tenant: TENANT.into(),
        product_type: product_type.into(),
        vehicle_type: "SUV".into(),
        brand: "Peugeot".into(),
        daily_price: 70.0,
        available: true,
        rating: 4.2,
    }
}

fn axis(i: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; DIMENSION];
    v[i] = 1.0;
    v[(i + 1) % DIMENSION] = tilt;
    v
}

fn point(id: i64, vector: Vec<f32>, product_type: &str) -> VehiclePoint {
    VehiclePoint {
        id,
        vector,
        payload: payload(product_type),
    }
}

fn query(
    positive: Vec<Example>,
    negative: Vec<Example>,
    exclude: Vec<i64>,
    limit: usize,
) -> RecommendQuery {
    RecommendQuery {
        tenant: TENANT.into(),
        positive,
        negative,
        product_type: "vehicle".into(),
        exclude,
        limit,
    }
}

async fn ids(store: &dyn VectorStore, q: RecommendQuery) -> Vec<i64> {
    store
        .recommend(q)
        .await
        .expect("recommend")
        .iter()
        .map(|h| h.id)
        .collect()
}

/// The behaviour every backend must have.
async fn suite(store: &dyn VectorStore) {
    collection(store).await;
    searches(store).await;
    deletion(store).await;
}

/// A deleted point is gone from reads and searches; deleting an absent one is no error.
async fn deletion(store: &dyn VectorStore) {
    store.delete(vec![8, 404]).await.expect("delete");
    assert_eq!(store.vector(8).await.unwrap(), None);
    let hits = ids(
        store,
        query(vec![Example::Vector(axis(0, 0.0))], vec![], vec![], 9),
    )
    .await;
    assert!(!hits.contains(&8) && hits.contains(&1), "{hits:?}");
    store
        .upsert(vec![point(8, axis(7, 0.45), "vehicle")])
        .await
        .expect("upsert");
}

async fn collection(store: &dyn VectorStore) {
    store
        .ensure_collection(DIMENSION)
        .await
        .expect("collection");
    store
        .ensure_collection(DIMENSION)
        .await
        .expect("ensure_collection is idempotent");
    assert!(matches!(
        store.ensure_collection(DIMENSION + 1).await,
        Err(StoreError::InvalidInput(_))
    ));
}

async fn searches(store: &dyn VectorStore) {
    // Vehicles 1..=8 along the axes, each tilted towards the next axis, more and more (so vehicle 8
    // leans clearly towards axis 0, vehicle 1's); 9 is another catalog.
    let points: Vec<VehiclePoint> = (1_i64..)
        .zip(0..DIMENSION)
        .map(|(id, i)| point(id, axis(i, 0.1 + 0.05 * i as f32), "vehicle"))
        .collect();
    store.upsert(points.clone()).await.expect("upsert");
    store
        .upsert(vec![point(9, axis(0, 0.0), "house")])
        .await
        .expect("upsert");
    store
        .upsert(points)
        .await
        .expect("upserting again replaces");
    // Vehicle 10, another tenant's, is the nearest to vehicle 1 of all: it must never show.
    let mut foreign = point(10, axis(0, 0.01), "vehicle");
    foreign.payload.tenant = "globex".into();
    store.upsert(vec![foreign]).await.expect("upsert");
    store.optimize().await.expect("optimize");
    assert_eq!(
        store.count().await.unwrap(),
        10,
        "point id = vehicle id: re-upserting adds nothing"
    );

    let stored = store
        .vector(1)
        .await
        .unwrap()
        .expect("vehicle 1 has a vector");
    let norm = stored.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4 && stored[0] > 0.99, "{stored:?}");
    assert_eq!(store.vector(404).await.unwrap(), None);

    // More like vehicle 1: itself excluded, the other catalog never returned.
    let hits = store
        .recommend(query(vec![Example::Vehicle(1)], vec![], vec![1], 3))
        .await
        .unwrap();
    assert_eq!(hits.len(), 3);
    assert!(
        hits.iter().all(|h| h.id != 1 && h.id != 9 && h.id != 10),
        "{hits:?}"
    );
    let mut as_globex = query(vec![Example::Vehicle(1)], vec![], vec![1], 3);
    as_globex.tenant = "globex".into();
    assert_eq!(
        ids(store, as_globex).await,
        [10],
        "a tenant sees only its own"
    );
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "best first: {hits:?}"
    );
    // Vehicle 8's vector leans towards axis 0 (its tilt), so it is the closest to vehicle 1.
    assert_eq!(hits[0].id, 8, "{hits:?}");

    // A positive vector pulls the answer towards it; a negative one pushes it away.
    let towards_3 = ids(
        store,
        query(
            vec![Example::Vehicle(1), Example::Vector(axis(2, 0.0))],
            vec![],
            vec![1],
            1,
        ),
    )
    .await;
    assert_eq!(towards_3, [3]);
    let away_from_8 = ids(
        store,
        query(
            vec![Example::Vehicle(1)],
            vec![Example::Vector(axis(7, 0.0))],
            vec![1],
            1,
        ),
    )
    .await;
    assert_ne!(
        away_from_8,
        [8],
        "a negative example must push its neighbour down"
    );

    assert!(matches!(
        store.recommend(query(vec![], vec![], vec![], 3)).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(
        store
            .recommend(query(vec![Example::Vehicle(404)], vec![], vec![], 3))
            .await
            .is_err(),
        "unknown example"
    );
}

#[tokio::test]
async fn embedded_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(dir.path(), DIMENSION).await.unwrap();
    suite(&store).await;
    drop(store);
    // Reopened from disk, the data is intact; another dimension is refused with a clear message.
    let reopened = EdgeStore::open(dir.path(), DIMENSION).await.unwrap();
    assert_eq!(reopened.count().await.unwrap(), 10);
    drop(reopened);
    let error = EdgeStore::open(dir.path(), 384).await.unwrap_err();
    assert!(error.to_string().contains("re-index"), "{error}");
}

#[tokio::test]
async fn qdrant_server_passes_the_suite() {
    let Ok(url) = std::env::var("ARAS_QDRANT_URL") else {
        eprintln!(
            "skipped: set ARAS_QDRANT_URL (e.g. http://127.0.0.1:6334) to test the Qdrant server backend"
        );
        return;
    };
    let store = ServerStore::connect(&url, &format!("test-{}", std::process::id())).unwrap();
    suite(&store).await;
    store.delete_collection().await.unwrap();
}

/// HNSW with our search parameters finds (nearly) what exact search finds, on a collection large
/// enough for the engine to use its graph rather than a full scan.
#[tokio::test]
async fn embedded_hnsw_recall_at_100() {
    const N: i64 = 8_000;
    const DIM: usize = 384;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut random_vector =
        || -> Vec<f32> { (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let vectors: Vec<Vec<f32>> = (0..N).map(|_| random_vector()).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(dir.path(), DIM).await.unwrap();
    for (chunk_start, chunk) in (1_i64..).step_by(1000).zip(vectors.chunks(1000)) {
        let points = (chunk_start..)
            .zip(chunk)
            .map(|(id, v)| point(id, v.clone(), "vehicle"))
            .collect();
        store.upsert(points).await.unwrap();
    }
    store.optimize().await.unwrap();
    let unit = |v: &[f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let units: Vec<Vec<f32>> = vectors.iter().map(|v| unit(v)).collect();
    let mut found = 0;
    let queries = 5;
    for _ in 0..queries {
        let q = unit(&random_vector());
        let mut exact: Vec<(f32, i64)> = (1_i64..)
            .zip(&units)
            .map(|(id, v)| (v.iter().zip(&q).map(|(a, b)| a * b).sum(), id))
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let truth: std::collections::HashSet<i64> =
            exact.iter().take(100).map(|(_, id)| *id).collect();
        let got = ids(&store, query(vec![Example::Vector(q)], vec![], vec![], 100)).await;
        found += got.iter().filter(|id| truth.contains(id)).count();
    }
    let recall = found as f64 / (100.0 * f64::from(queries));
    assert!(recall >= 0.95, "recall@100 = {recall}");
}
