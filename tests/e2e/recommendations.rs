//! `/api/v1/recommendations` and `/api/v1/vehicles` end to end: real models, the recommender on
//! a seeded catalog in its own Postgres database, the embedded vector store, and Redis.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    CATALOG, TEST_CATALOG_SIZE, assert_problem, backends, dead_address, eventually, gateway_config,
    recommender_config, scratch_dir, spawn_app, spawn_app_with, spawn_gateway,
};

const POSITIVE: &str = "Excellent véhicule, très confortable et fiable!";
/// How long a restored dependency may take to serve again.
const FIVE_SECONDS: Duration = Duration::from_secs(5);
const NEGATIVE: &str =
    "Voiture horrible : sale, bruyante, en panne au bout d'une heure. Très déçu.";

fn request(product_id: i64, client_id: i64, review: &str) -> Value {
    json!({
        "product_id": product_id,
        "client_id": client_id,
        "commentaire": review,
        "product_type": "vehicle",
        "top_k": 10
    })
}

/// Marks `vehicle` available or not, through the API; the change must be accepted.
async fn set_available(app: &crate::helpers::TestApp, vehicle: i64, available: bool) {
    let (status, _, body) = app
        .patch_json(
            &format!("/api/v1/vehicles/{vehicle}"),
            &json!({ "disponible": available }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// `vehicle` is either gone from the answer or shown unavailable.
fn assert_not_shown_available(answer: &Value, vehicle: i64) {
    let shown = answer["recommendations"].as_array().expect("a list");
    assert!(
        shown
            .iter()
            .all(|r| r["id"] != vehicle || r["disponible"] == false),
        "vehicle {vehicle} is shown available: {answer}"
    );
}

fn ids(body: &Value) -> Vec<i64> {
    body["recommendations"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

/// A client id no other test uses, so cache state never leaks between tests.
fn fresh_client() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(10_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn the_seed_example_returns_top_k_vehicles_with_every_field() {
    let app = spawn_app().await;
    let client = fresh_client();
    let response = app
        .client
        .post(app.url("/api/v1/recommendations"))
        .header("x-correlation-id", "abc-123-def")
        .json(&request(123, client, POSITIVE))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(body["total"], 10);
    assert_eq!(body["correlation_id"], "abc-123-def");
    assert_eq!(body["cached"], false);
    assert!(body["processing_time_ms"].is_u64(), "{body}");
    assert!(
        body["sentiment_score"].as_f64().unwrap() > 0.2,
        "a clearly positive review: {body}"
    );
    assert_eq!(body["sentiment_label"], "positive");
    let recommendations = body["recommendations"].as_array().unwrap();
    assert_eq!(recommendations.len(), 10);
    let mut previous = f64::INFINITY;
    for r in recommendations {
        for field in ["id", "nom", "score", "prix", "disponible", "marque", "type"] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
        assert!(
            r["nom"]
                .as_str()
                .unwrap()
                .starts_with(r["marque"].as_str().unwrap()),
            "{r}"
        );
        let score = r["score"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&score) && score <= previous,
            "scores in [0, 1], best first: {body}"
        );
        previous = score;
        let id = r["id"].as_i64().unwrap();
        assert!(
            (1..=TEST_CATALOG_SIZE).contains(&id) && id != 123,
            "never the reviewed vehicle: {body}"
        );
    }

    // Per-stage timings are exported by the recommender.
    let metrics = reqwest::get(format!("http://{}/metrics", backends().recommender))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for stage in ["analyze", "search", "score", "store"] {
        assert!(
            metrics.contains(&format!(
                "recommender_stage_duration_seconds_count{{stage=\"{stage}\"}}"
            )),
            "stage {stage} timed"
        );
    }

    // The review was stored with its sentiment.
    let pool = backends().database.pool().unwrap();
    let db = pool.get().await.unwrap();
    let row = db
        .query_one(
            "SELECT client_id, product_id, text, sentiment_label, model_id FROM reviews WHERE correlation_id = $1",
            &[&"abc-123-def"],
        )
        .await
        .expect("the review is stored");
    assert_eq!(row.get::<_, i64>(0), client);
    assert_eq!(row.get::<_, i64>(1), 123);
    assert_eq!(row.get::<_, String>(2), POSITIVE);
    assert_eq!(row.get::<_, String>(3), "positive");
    assert_eq!(row.get::<_, String>(4), "e5-small-sentiment-fr-en");
}

#[tokio::test]
async fn the_review_changes_the_answer() {
    let app = spawn_app().await;
    let client = fresh_client();
    let (status, _, positive) = app
        .post_json("/api/v1/recommendations", &request(42, client, POSITIVE))
        .await;
    assert_eq!(status, 200, "{positive}");
    let (status, _, negative) = app
        .post_json("/api/v1/recommendations", &request(42, client, NEGATIVE))
        .await;
    assert_eq!(status, 200, "{negative}");
    assert_eq!(negative["sentiment_label"], "negative", "{negative}");
    assert_ne!(
        ids(&positive),
        ids(&negative),
        "a positive and a negative review of vehicle 42 must not give the same list"
    );
    assert!(!ids(&negative).contains(&42));
}

#[tokio::test]
async fn identical_requests_hit_the_cache_but_never_across_clients() {
    let app = spawn_app().await;
    let _catalog_unchanged = CATALOG.read().await;
    let client = fresh_client();
    let body = request(7, client, POSITIVE);
    let (_, _, first) = app.post_json("/api/v1/recommendations", &body).await;
    assert_eq!(first["cached"], false, "{first}");
    // Same review up to case and spacing: the same question.
    let mut respaced = body.clone();
    respaced["commentaire"] = json!("  excellent véhicule,   très confortable et fiable!  ");
    let started = Instant::now();
    let (status, _, second) = app.post_json("/api/v1/recommendations", &respaced).await;
    let hit_time = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(second["cached"], true, "{second}");
    // A miss tells where its time went; a hit spent it in the cache alone.
    for stage in [
        "cache",
        "sentiment",
        "embedding",
        "search",
        "rescore",
        "store",
    ] {
        assert!(
            first["timings_ms"][stage]
                .as_f64()
                .is_some_and(|ms| ms > 0.0),
            "{stage}: {first}"
        );
    }
    let hit_stages: Vec<&String> = second["timings_ms"]
        .as_object()
        .unwrap_or_else(|| panic!("timings on a hit: {second}"))
        .keys()
        .collect();
    assert_eq!(hit_stages, ["cache"], "{second}");
    assert_eq!(second["recommendations"], first["recommendations"]);
    assert_eq!(second["sentiment_score"], first["sentiment_score"]);
    assert!(
        hit_time < Duration::from_secs(1),
        "a hit does not run the models"
    );

    let mut other_client = body.clone();
    other_client["client_id"] = json!(fresh_client());
    let (_, _, third) = app
        .post_json("/api/v1/recommendations", &other_client)
        .await;
    assert_eq!(
        third["cached"], false,
        "two clients never share an entry: {third}"
    );

    // This gateway's own count (the metrics recorder is shared by every gateway of the tests).
    let (status, _, stats) = app.get("/api/v1/admin/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (&stats["cache"]["hits"], &stats["cache"]["misses"]),
        (&json!(1), &json!(2)),
        "{stats}"
    );
}

#[tokio::test]
async fn a_catalog_write_invalidates_cached_answers() {
    let app = spawn_app().await;
    let _catalog_mine = CATALOG.write().await;
    let client = fresh_client();
    let body = request(11, client, POSITIVE);
    let (_, _, before) = app.post_json("/api/v1/recommendations", &body).await;
    let (_, _, cached) = app.post_json("/api/v1/recommendations", &body).await;
    assert_eq!(cached["cached"], true);

    // The best recommendation becomes unavailable: it must lose its availability points.
    let best = ids(&before)[0];
    let (status, _, updated) = app
        .patch_json(
            &format!("/api/v1/vehicles/{best}"),
            &json!({ "disponible": false }),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["vehicle"]["disponible"], false);
    assert!(updated["catalog_version"].as_u64().unwrap() > 1);

    let (_, _, after) = app.post_json("/api/v1/recommendations", &body).await;
    assert_eq!(
        after["cached"], false,
        "the write retired the cached answer: {after}"
    );
    assert_not_shown_available(&after, best);
    assert_ne!(after["recommendations"], before["recommendations"]);

    let (_, _, vehicle) = app.get(&format!("/api/v1/vehicles/{best}")).await;
    assert_eq!(vehicle["disponible"], false);
    // Restore, for the other tests sharing the catalog.
    set_available(&app, best, true).await;
}

#[tokio::test]
async fn a_vehicle_can_be_read_by_id() {
    let app = spawn_app().await;
    let (status, _, vehicle) = app.get("/api/v1/vehicles/123").await;
    assert_eq!(status, 200, "{vehicle}");
    assert_eq!(vehicle["id"], 123);
    for field in [
        "nom",
        "marque",
        "modele",
        "annee",
        "type",
        "places",
        "boite",
        "carburant",
        "ville",
        "prix",
        "disponible",
        "note",
        "description",
    ] {
        assert!(!vehicle[field].is_null(), "{field} missing in {vehicle}");
    }
    assert!(
        vehicle["description"]
            .as_str()
            .unwrap()
            .contains(vehicle["marque"].as_str().unwrap())
    );
    assert_problem(
        &app.get("/api/v1/vehicles/abc").await,
        422,
        "positive integer",
    );
    assert_problem(&app.get("/api/v1/vehicles/99999999").await, 404, "99999999");
    assert_problem(
        &app.patch_json("/api/v1/vehicles/5", &json!({ "note": 7.5 }))
            .await,
        422,
        "note",
    );
    assert_problem(
        &app.patch_json("/api/v1/vehicles/5", &json!({ "prix": -3 }))
            .await,
        422,
        "prix",
    );
    assert_problem(
        &app.patch_json("/api/v1/vehicles/5", &json!({})).await,
        422,
        "nothing to change",
    );
    assert_problem(
        &app.patch_json("/api/v1/vehicles/5", &json!({ "ville": " " }))
            .await,
        422,
        "ville",
    );
    assert_problem(
        &app.patch_json("/api/v1/vehicles/5", &json!({ "couleur": "rouge" }))
            .await,
        422,
        "couleur",
    );
    let (_, _, before) = app.get("/api/v1/vehicles/5").await;
    assert_eq!(
        before["updated_at"],
        app.get("/api/v1/vehicles/5").await.2["updated_at"],
        "refused changes change nothing"
    );
    assert_problem(
        &app.patch_json("/api/v1/vehicles/99999999", &json!({ "disponible": true }))
            .await,
        404,
        "99999999",
    );
}

#[tokio::test]
async fn bad_requests_get_clear_problems() {
    let app = spawn_app().await;
    let with = |field: &str, value: Value| {
        let mut body = request(123, 456, POSITIVE);
        body[field] = value;
        body
    };
    let cases = [
        (with("commentaire", json!("")), 422, "empty"),
        (with("commentaire", json!("   \n\t ")), 422, "empty"),
        (with("commentaire", json!("é".repeat(5001))), 422, "5000"),
        (with("commentaire", json!("bien\u{0007}")), 422, "control"),
        (with("top_k", json!(0)), 422, "top_k"),
        (with("top_k", json!(101)), 422, "top_k"),
        (with("product_type", json!("house")), 422, "product_type"),
        (with("product_id", json!("abc")), 422, "product_id"),
        (with("client_id", json!("456")), 422, "client_id"),
        (
            with(
                "weights",
                json!({ "similarity": 0.9, "availability": 0.9, "reputation": 0.1 }),
            ),
            422,
            "sum",
        ),
        (with("product_id", json!(99_999_999)), 404, "99999999"),
    ];
    for (body, status, needle) in cases {
        let got = app.post_json("/api/v1/recommendations", &body).await;
        assert_problem(&got, status, needle);
    }
    let mut missing = request(123, 456, POSITIVE);
    missing.as_object_mut().unwrap().remove("commentaire");
    assert_problem(
        &app.post_json("/api/v1/recommendations", &missing).await,
        422,
        "commentaire",
    );
    let malformed = app
        .post_raw(
            "/api/v1/recommendations",
            "application/json",
            b"{\"product_id\": 1,".to_vec(),
        )
        .await;
    assert_eq!(malformed.0, 400, "{:?}", malformed.2);
}

#[tokio::test]
async fn without_redis_answers_are_served_uncached_and_health_says_degraded() {
    let mut config = gateway_config();
    config.redis.url = format!("redis://{}", dead_address().await);
    let app = spawn_app_with(config).await;
    let body = request(9, fresh_client(), POSITIVE);
    for _ in 0..2 {
        let (status, _, answer) = app.post_json("/api/v1/recommendations", &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["cached"], false);
        assert_eq!(answer["total"], 10);
    }
    let (status, _, ready) = app.get("/api/v1/health/ready").await;
    assert_eq!(status, 200, "still ready: {ready}");
    let (_, _, report) = app.get("/api/v1/admin/health").await;
    assert_eq!(report["status"], "degraded", "{report}");
    let redis = report["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "redis")
        .unwrap();
    assert_eq!(redis["status"], "unreachable");
}

#[tokio::test]
async fn a_dead_sentiment_service_is_a_503_within_the_deadline() {
    // Its empty store marks the shared catalog for re-indexing when it starts.
    let _catalog = CATALOG.write().await;
    let b = backends();
    // A second recommender whose sentiment service does not exist.
    let mut config = recommender_config(
        dead_address().await,
        b.embedding,
        scratch_dir("vectors-no-sentiment"),
    );
    config.rpc_timeout = Duration::from_secs(1);
    let app = app_with_own_recommender(config).await;
    let started = Instant::now();
    let got = app
        .post_json(
            "/api/v1/recommendations",
            &request(5, fresh_client(), POSITIVE),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "no hang: {:?}",
        started.elapsed()
    );
    assert_problem(
        &got,
        503,
        "the recommender service is unavailable: the sentiment service is unavailable",
    );
}

#[tokio::test]
async fn an_unindexed_catalog_is_a_503_naming_the_fix() {
    // Its empty store marks the shared catalog for re-indexing when it starts.
    let _catalog = CATALOG.write().await;
    let b = backends();
    // A recommender on the same catalog but an empty vector store.
    let config = recommender_config(b.sentiment, b.embedding, scratch_dir("vectors-empty"));
    let app = app_with_own_recommender(config).await;
    let got = app
        .post_json(
            "/api/v1/recommendations",
            &request(5, fresh_client(), POSITIVE),
        )
        .await;
    assert_problem(&got, 503, "run `aras index`");
}

/// A gateway on a recommender of its own (started with `config`), once that one serves.
async fn app_with_own_recommender(
    config: aras_recommender::RecommenderConfig,
) -> crate::helpers::TestApp {
    own_recommender(config, false, |_| {}).await.0
}

/// [`app_with_own_recommender`], its store indexed; indexing bumps the catalog version, so the
/// caller holds [`CATALOG`] for writing.
async fn app_with_own_recommender_indexed(
    config: aras_recommender::RecommenderConfig,
) -> crate::helpers::TestApp {
    own_recommender(config, true, |_| {}).await.0
}

/// A recommender of its own (its store indexed when `index`), behind a gateway of its own
/// whose configuration `configure` may change; once the recommender serves. Also answers the
/// recommender's address.
pub(crate) async fn own_recommender(
    config: aras_recommender::RecommenderConfig,
    index: bool,
    configure: impl FnOnce(&mut aras_gateway::GatewayConfig),
) -> (crate::helpers::TestApp, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let redis_prefix = config.redis.prefix.clone();
    tokio::spawn(aras_recommender::serve(
        config,
        listener,
        std::future::pending(),
    ));
    if index {
        crate::helpers::index_catalog(addr).await;
    }
    let mut gateway = gateway_config();
    gateway.recommender_url = format!("http://{addr}");
    gateway.redis.prefix = redis_prefix;
    configure(&mut gateway);
    let app = spawn_gateway(gateway).await;
    // It serves once the embedding service has given the dimension and its store is open.
    app.wait_until_serving(&["recommender"]).await;
    (app, addr)
}

/// A catalog write whose version neither the recommender nor the writing gateway can publish
/// (their Redis link is cut; the reading gateway's is not): cached answers may be served until
/// a newer answer or the publish retry raises the version, never after. Versions only move
/// forward, whoever raises them.
#[tokio::test]
async fn a_catalog_write_whose_version_publish_fails_leaves_no_stale_answer_after_the_retry() {
    use fred::prelude::{ClientLike as _, KeysInterface as _};
    let _catalog_mine = CATALOG.write().await;
    let b = backends();
    let redis = crate::proxy::TcpProxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let mut config = recommender_config(b.sentiment, b.embedding, scratch_dir("vectors-versions"));
    config.redis.url = format!("redis://{}", redis.addr);
    config.redis.prefix = format!("{}-versions:", crate::helpers::run_id());
    let prefix = config.redis.prefix.clone();
    let version_key = format!(
        "{prefix}{}",
        aras_common::redis::catalog_version_key("demo")
    );
    let redis_url = config.redis.url.clone();
    let (app, recommender) = own_recommender(config, true, |_| {}).await;
    // Another gateway writes, through the same cut link.
    let mut writer = gateway_config();
    writer.recommender_url = format!("http://{recommender}");
    writer.redis.url = redis_url;
    writer.redis.prefix.clone_from(&prefix);
    let writer = spawn_gateway(writer).await;
    let mut direct = gateway_config().redis;
    direct.prefix = prefix;
    let direct = direct.connect().unwrap();
    direct.wait_for_connect().await.unwrap();

    let body = request(11, fresh_client(), POSITIVE);
    let (_, _, before) = app.post_json("/api/v1/recommendations", &body).await;
    let (_, _, cached) = app.post_json("/api/v1/recommendations", &body).await;
    assert_eq!(cached["cached"], true, "{cached}");
    let published: u64 = direct.get(&version_key).await.unwrap();

    redis.cut();
    let best = ids(&before)[0];
    let (status, _, updated) = writer
        .patch_json(
            &format!("/api/v1/vehicles/{best}"),
            &json!({ "disponible": false }),
        )
        .await;
    assert_eq!(status, 200, "the write succeeds without Redis: {updated}");
    let written = updated["catalog_version"].as_u64().unwrap();
    assert!(written > published, "{written} > {published}");
    let held: u64 = direct.get(&version_key).await.unwrap();
    assert_eq!(
        held, published,
        "the publish failed: Redis still holds the old version"
    );

    // Any answer computed after the write carries its version: the gateway raises it.
    let (_, _, other) = app
        .post_json(
            "/api/v1/recommendations",
            &request(12, fresh_client(), POSITIVE),
        )
        .await;
    assert_eq!(other["cached"], false, "{other}");
    let held: u64 = direct.get(&version_key).await.unwrap();
    assert_eq!(
        held, written,
        "the gateway raised the version from the answer"
    );
    let (_, _, after) = app.post_json("/api/v1/recommendations", &body).await;
    assert_eq!(
        after["cached"], false,
        "the stale answer is retired: {after}"
    );
    assert_not_shown_available(&after, best);

    // The recommender's retry lands once Redis is back, and never lowers the version.
    direct
        .set::<(), _, _>(&version_key, published, None, None, false)
        .await
        .unwrap();
    redis.restore().await;
    let published = eventually(
        FIVE_SECONDS,
        Duration::from_millis(20),
        "the publish retried once Redis came back",
        || async { direct.get::<u64, _>(&version_key).await.unwrap() == written },
    )
    .await;
    println!("fault version publish: retried and published {published:?} after Redis came back");
    let (_, _, again) = app.post_json("/api/v1/recommendations", &body).await;
    assert_not_shown_available(&again, best);

    set_available(&app, best, true).await;
}

/// The embedding service hangs: the recommender's call to it gets what is left of the
/// gateway's deadline, not a fixed 5 s, so the client hears why within its own budget.
#[tokio::test]
async fn a_hung_dependency_is_a_504_within_the_callers_budget() {
    // Its empty store marks the shared catalog for re-indexing when it starts.
    let _catalog = CATALOG.write().await;
    let b = backends();
    let embedding = crate::proxy::TcpProxy::start(b.embedding).await;
    let config = recommender_config(
        b.sentiment,
        embedding.addr,
        scratch_dir("vectors-hung-embedding"),
    );
    let budget = Duration::from_millis(1500);
    let (app, _) = own_recommender(config, false, |gateway| gateway.grpc_timeout = budget).await;

    embedding.stall().await;
    let started = Instant::now();
    let got = app
        .post_json(
            "/api/v1/recommendations",
            &request(5, fresh_client(), POSITIVE),
        )
        .await;
    let elapsed = started.elapsed();
    assert_problem(
        &got,
        504,
        "the recommender service did not answer in time: the embedding service did not answer in time",
    );
    assert!(
        elapsed >= budget.mul_f64(0.8) && elapsed < budget + Duration::from_millis(100),
        "answered at {elapsed:?}, for a budget of {budget:?}"
    );
    println!("fault embedding hung: 504 after {elapsed:?} for a {budget:?} budget");
}

/// Redis cut and restored under a trickle of one repeated request: every request is answered
/// (uncached while Redis is away, each within its short Redis timeout), and hits resume
/// within 5 s of Redis coming back.
#[tokio::test]
async fn redis_cut_and_restored_under_a_trickle() {
    let _catalog_unchanged = CATALOG.read().await;
    let redis = crate::proxy::TcpProxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let mut config = gateway_config();
    config.redis.url = format!("redis://{}", redis.addr);
    let app = spawn_app_with(config).await;
    let body = request(21, fresh_client(), POSITIVE);
    let post = || app.post_json("/api/v1/recommendations", &body);
    assert_eq!(post().await.0, 200);
    assert_eq!(post().await.2["cached"], true);

    redis.cut();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let (status, _, answer) = post().await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(status, 200, "served without Redis: {answer}");
        assert_eq!(answer["cached"], false, "{answer}");
    }
    redis.restore().await;
    let hits_again = eventually(
        FIVE_SECONDS,
        Duration::from_millis(50),
        "a cache hit once Redis came back",
        || async {
            let (status, _, answer) = post().await;
            assert_eq!(status, 200, "{answer}");
            answer["cached"] == true
        },
    )
    .await;
    println!(
        "fault redis cut: 0 requests failed (slowest uncached answer {slowest:?}); hits again {hits_again:?} after the restore"
    );
}

/// The recommender's Postgres cut and restored: recommendations answer 503 naming the
/// database (at once, not after a deadline) and recover within 5 s of the restore.
#[tokio::test]
async fn the_recommenders_postgres_cut_and_restored() {
    // Indexing its own store bumps the catalog version, which retires cached answers.
    let _catalog_mine = CATALOG.write().await;
    let b = backends();
    let postgres = crate::proxy::TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let mut config = recommender_config(b.sentiment, b.embedding, scratch_dir("vectors-pg-cut"));
    config.database.url = config
        .database
        .url
        .replace("127.0.0.1:5432", &postgres.addr.to_string());
    let app = app_with_own_recommender_indexed(config).await;
    let post = || async {
        app.post_json(
            "/api/v1/recommendations",
            &request(31, fresh_client(), POSITIVE),
        )
        .await
    };
    assert_eq!(post().await.0, 200);

    postgres.cut();
    let mut failed = 0;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let got = post().await;
        slowest = slowest.max(started.elapsed());
        assert_problem(
            &got,
            503,
            "the recommender service is unavailable: the catalog database (Postgres) is unavailable",
        );
        failed += 1;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "refused at once: {slowest:?}"
    );
    postgres.restore().await;
    let recovered = eventually(
        FIVE_SECONDS,
        Duration::from_millis(50),
        "a 200 once Postgres came back",
        || async {
            let (status, _, body) = post().await;
            assert!(status == 200 || status == 503, "{status}: {body}");
            status == 200
        },
    )
    .await;
    println!(
        "fault recommender postgres cut: {failed} requests refused with 503 (slowest {slowest:?}); recovered {recovered:?} after the restore"
    );
}
