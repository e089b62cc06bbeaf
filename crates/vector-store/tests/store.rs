//! One suite for every backend of the vector store: the embedded engine always, a Qdrant server
//! when `ARAS_QDRANT_URL` names one (skipped with a message otherwise).

use std::time::Duration;

use aras_vector_store::{
    CollectionLayout, EdgeStore, Example, RecommendQuery, ServerStore, StoreError, VectorStore,
    VehiclePayload, VehiclePoint,
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

/// The Qdrant nodes of `ARAS_QDRANT_URL` (comma-separated), or `None` with a loud skip message.
fn qdrant_urls(test: &str) -> Option<Vec<String>> {
    let Ok(urls) = std::env::var("ARAS_QDRANT_URL") else {
        eprintln!(
            "SKIPPED {test}: set ARAS_QDRANT_URL (e.g. http://127.0.0.1:6334) to test the Qdrant server backend"
        );
        return None;
    };
    Some(urls.split(',').map(str::to_owned).collect())
}

const TIMEOUT: Duration = Duration::from_secs(2);

fn server_store(urls: &[String], collection: &str, layout: CollectionLayout) -> ServerStore {
    ServerStore::connect(
        urls,
        &format!("test-{collection}-{}", std::process::id()),
        layout,
        TIMEOUT,
    )
    .unwrap()
}

/// A loopback address nothing listens on: a node that is down.
fn dead_node() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[tokio::test]
async fn qdrant_server_passes_the_suite() {
    let Some(urls) = qdrant_urls("qdrant_server_passes_the_suite") else {
        return;
    };
    let store = server_store(&urls, "suite", CollectionLayout::default());
    suite(&store).await;
    store.delete_collection().await.unwrap();
}

#[tokio::test]
async fn a_down_node_among_the_urls_is_passed_over() {
    let Some(mut urls) = qdrant_urls("a_down_node_among_the_urls_is_passed_over") else {
        return;
    };
    urls.insert(0, dead_node());
    let store = server_store(&urls, "failover", CollectionLayout::default());
    suite(&store).await;
    store.delete_collection().await.unwrap();
}

#[tokio::test]
async fn every_node_down_is_unavailable_naming_each() {
    let urls = [dead_node(), dead_node()];
    let store = server_store(&urls, "down", CollectionLayout::default());
    let error = store.count().await.unwrap_err();
    let StoreError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    for url in &urls {
        assert!(message.contains(url.as_str()), "{url} not in: {message}");
    }
}

#[test]
fn a_layout_that_cannot_accept_writes_is_refused() {
    let layout = CollectionLayout {
        shards: 3,
        replication_factor: 2,
        write_consistency: 3,
    };
    let error = ServerStore::connect(&[dead_node()], "any", layout, TIMEOUT).unwrap_err();
    assert!(
        error.to_string().contains("exceeds the replication factor"),
        "{error}"
    );
    let none = CollectionLayout {
        shards: 0,
        ..CollectionLayout::default()
    };
    assert!(ServerStore::connect(&[dead_node()], "any", none, TIMEOUT).is_err());
}

#[tokio::test]
async fn an_existing_collection_with_another_layout_is_reported_and_indexes_are_added() {
    let Some(urls) =
        qdrant_urls("an_existing_collection_with_another_layout_is_reported_and_indexes_are_added")
    else {
        return;
    };
    let name = format!("test-layout-{}", std::process::id());
    // Made by hand, as an operator might: no payload indexes.
    let client = qdrant_client::Qdrant::from_url(&urls[0])
        .skip_compatibility_check()
        .build()
        .unwrap();
    client
        .create_collection(
            qdrant_client::qdrant::CreateCollectionBuilder::new(&name).vectors_config(
                qdrant_client::qdrant::VectorParamsBuilder::new(
                    DIMENSION as u64,
                    qdrant_client::qdrant::Distance::Cosine,
                ),
            ),
        )
        .await
        .unwrap();
    let two_shards = CollectionLayout {
        shards: 2,
        ..CollectionLayout::default()
    };
    let store = ServerStore::connect(&urls, &name, two_shards, TIMEOUT).unwrap();
    let error = store.ensure_collection(DIMENSION).await.unwrap_err();
    assert!(
        error.to_string().contains("exists with 1 shard(s)"),
        "{error}"
    );
    let store = ServerStore::connect(&urls, &name, CollectionLayout::default(), TIMEOUT).unwrap();
    store.ensure_collection(DIMENSION).await.unwrap();
    let schema = client
        .collection_info(&name)
        .await
        .unwrap()
        .result
        .unwrap()
        .payload_schema;
    for field in [
        "tenant",
        "product_type",
        "vehicle_type",
        "brand",
        "daily_price",
        "available",
        "rating",
    ] {
        assert!(
            schema.contains_key(field),
            "no index on {field}: {schema:?}"
        );
    }
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
