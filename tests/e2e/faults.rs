//! Faults at the seams between the gateway and its backends: a backend down, killed and
//! restarted; each case bounded in time, with its figures printed (`--nocapture`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    assert_problem, dead_address, eventually, gateway_config, seed_request, spawn_gateway,
};

const ANALYZE: &str = "/api/v1/sentiment/analyze";
const RANK: &str = "/api/v1/livreurs/rank";
/// How long a restarted dependency may take to serve again.
const FIVE_SECONDS: Duration = Duration::from_secs(5);

/// A ranking service of the test's own on `addr` (an ephemeral port the first time), stopped by
/// the returned sender.
async fn start_ranking(addr: SocketAddr) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the ranking port is free again");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(aras_ranking::serve(
        aras_ranking::RankingConfig::for_tests(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

#[tokio::test]
async fn a_dead_backend_fails_its_own_routes_only_and_at_once() {
    let mut config = gateway_config();
    config.ranking_url = format!("http://{}", dead_address().await);
    let app = spawn_gateway(config).await;
    app.wait_until_serving(&["sentiment", "embedding", "recommender"])
        .await;

    assert_eq!(app.get("/api/v1/health/ready").await.0, 200);
    let started = Instant::now();
    let got = app.post_json(RANK, &seed_request()).await;
    let elapsed = started.elapsed();
    assert_problem(
        &got,
        503,
        "the ranking service is unavailable, try again shortly",
    );
    assert!(
        elapsed < Duration::from_millis(100),
        "503 at once: {elapsed:?}"
    );
    let (status, _, body) = app
        .post_json(
            ANALYZE,
            &json!({ "commentaire": "Très bon service, je recommande." }),
        )
        .await;
    assert_eq!(status, 200, "the sentiment route serves: {body}");
}

/// The ranking service killed and restarted under a steady trickle of requests: while it is
/// down its route answers 503 within 100 ms and the sentiment route keeps answering 200; after
/// the restart the route recovers within 5 s.
#[tokio::test]
async fn a_backend_killed_and_restarted_under_a_trickle_recovers() {
    let (ranking, stop) = start_ranking("127.0.0.1:0".parse().unwrap()).await;
    let mut config = gateway_config();
    config.ranking_url = format!("http://{ranking}");
    let app = spawn_gateway(config).await;
    app.wait_until_serving(&["ranking", "sentiment"]).await;
    assert_eq!(app.post_json(RANK, &seed_request()).await.0, 200);

    stop.send(()).unwrap();
    // Until the route notices; the server finishes what was in flight and closes.
    eventually(
        FIVE_SECONDS,
        Duration::from_millis(20),
        "the route noticed the kill",
        || async { app.post_json(RANK, &seed_request()).await.0 != 200 },
    )
    .await;
    let mut failed = 0;
    let mut slowest_refusal = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let got = app.post_json(RANK, &seed_request()).await;
        let elapsed = started.elapsed();
        assert_problem(&got, 503, "the ranking service is unavailable");
        slowest_refusal = slowest_refusal.max(elapsed);
        failed += 1;
        let (status, _, body) = app
            .post_json(
                ANALYZE,
                &json!({ "commentaire": "Livraison rapide, merci." }),
            )
            .await;
        assert_eq!(status, 200, "other routes keep serving: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        slowest_refusal < Duration::from_millis(100),
        "each refusal within 100 ms: {slowest_refusal:?}"
    );

    let (_, _stop_again) = start_ranking(ranking).await;
    let recovery = eventually(
        FIVE_SECONDS,
        Duration::from_millis(10),
        "a 200 after the restart",
        || async {
            let (status, _, body) = app.post_json(RANK, &seed_request()).await;
            assert!(status == 200 || status == 503, "{status}: {body}");
            status == 200
        },
    )
    .await;
    println!(
        "fault ranking killed: {failed} requests refused (503, slowest {slowest_refusal:?}); recovered {recovery:?} after the restart"
    );
}

/// An embedding service of the test's own, stopped by the returned sender.
async fn start_embedding() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut config = aras_embedding::EmbeddingConfig::for_tests(&crate::helpers::models_dir());
    config.inference.threads = 1;
    tokio::spawn(aras_embedding::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Two replicas of the embedding service behind one URL list: one is killed; once the health
/// checks have ejected it (one check interval), no request fails.
#[tokio::test]
async fn a_dead_replica_is_ejected_and_the_other_serves_every_request() {
    let (first, stop_first) = start_embedding().await;
    let (second, _stop_second) = start_embedding().await;
    let mut config = gateway_config();
    config.embedding_url = format!("http://{first}, http://{second}");
    let interval = Duration::from_millis(200);
    config.replicas.replica_check_interval = interval;
    let app = spawn_gateway(config).await;
    app.wait_until_serving(&["embedding"]).await;
    let embed = || async {
        app.post_json(
            "/api/v1/embeddings",
            &json!({ "input": "Camion frigorifique propre et ponctuel", "input_type": "query" }),
        )
        .await
    };
    // Both replicas must have loaded their model before the test starts counting.
    let started = Instant::now();
    while embed().await.0 != 200 || started.elapsed() < 3 * interval {
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "the replicas never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..10 {
        let (status, _, body) = embed().await;
        assert_eq!(status, 200, "both replicas up: {body}");
    }

    stop_first.send(()).unwrap();
    let killed = Instant::now();
    // Ejection takes at most one interval plus one health check (1 s at most).
    let grace = interval + Duration::from_secs(1);
    let mut failed_before_ejection = 0;
    while killed.elapsed() < grace {
        if embed().await.0 != 200 {
            failed_before_ejection += 1;
        }
    }
    for i in 0..50 {
        let (status, _, body) = embed().await;
        assert_eq!(status, 200, "request {i} after the ejection failed: {body}");
    }
    println!(
        "fault embedding replica killed: {failed_before_ejection} requests failed before its ejection (within {grace:?}), none after"
    );
}

/// Four times the admission limit at once: the excess is refused with 429 and `Retry-After`
/// within 50 ms, and the admitted requests keep the latency they have alone.
#[tokio::test]
async fn overload_is_refused_early_and_the_admitted_keep_their_latency() {
    const LIMIT: usize = 8;
    let mut config = gateway_config();
    config.backend_max_in_flight = LIMIT;
    let app = spawn_gateway(config).await;
    app.wait_until_serving(&["sentiment"]).await;
    let review = "Le chauffeur est arrivé en avance, le véhicule était propre et le trajet s'est \
                  très bien passé ; je recommande ce service sans hésiter.";
    let burst = |n: usize| {
        let app = &app;
        futures_util::future::join_all((0..n).map(move |_| async move {
            let started = Instant::now();
            let response = app
                .client
                .post(app.url(ANALYZE))
                .json(&json!({ "commentaire": review }))
                .send()
                .await
                .unwrap();
            let elapsed = started.elapsed();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, elapsed, retry_after, body)
        }))
    };
    burst(LIMIT).await; // warm
    let alone = burst(LIMIT).await;
    assert!(alone.iter().all(|r| r.0 == 200), "{alone:?}");
    let alone_slowest = alone.iter().map(|r| r.1).max().unwrap();

    let results = burst(4 * LIMIT).await;
    let (admitted, refused): (Vec<_>, Vec<_>) = results.iter().partition(|r| r.0 == 200);
    assert!(
        refused.len() >= 2 * LIMIT,
        "most of the excess is refused: {} of {}",
        refused.len(),
        results.len()
    );
    for (status, elapsed, retry_after, body) in &refused {
        assert_eq!(*status, 429, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("the sentiment service is overloaded"),
            "{body}"
        );
        assert!(
            *elapsed < Duration::from_millis(50),
            "refused after {elapsed:?}"
        );
    }
    let admitted_slowest = admitted.iter().map(|r| r.1).max().unwrap();
    assert!(
        admitted_slowest < 2 * alone_slowest + Duration::from_millis(50),
        "admitted requests slowed from {alone_slowest:?} to {admitted_slowest:?}"
    );
    let slowest_refusal = refused.iter().map(|r| r.1).max().unwrap();
    println!(
        "fault overload ({}x{LIMIT} at once): {} admitted (slowest {admitted_slowest:?}, alone {alone_slowest:?}), {} refused with 429 (slowest {slowest_refusal:?})",
        4,
        admitted.len(),
        refused.len()
    );
}

/// Rate limits per client address: the burst passes with `RateLimit-*` headers counting down,
/// the next request is refused with 429 and `Retry-After`, health is never limited, and the
/// client is served again once an interval has passed.
#[tokio::test]
async fn rate_limits_refuse_the_excess_with_headers_and_recover() {
    let mut config = gateway_config();
    config.rate_limits.rate_limit_per_second = 5; // one request every 200 ms
    config.rate_limits.rate_limit_burst = 3;
    // Counters of its own: every test's client shares 127.0.0.1.
    config.redis.prefix = format!("{}-ratelimit:", crate::helpers::run_id());
    let app = spawn_gateway(config).await;
    app.wait_until_serving(&["ranking"]).await;
    let rank = || async {
        let response = app
            .client
            .post(app.url(RANK))
            .json(&seed_request())
            .send()
            .await
            .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        (
            response.status().as_u16(),
            header("ratelimit-remaining"),
            header("retry-after"),
            header("ratelimit-limit"),
        )
    };
    for remaining in ["2", "1", "0"] {
        let (status, left, _, limit) = rank().await;
        assert_eq!(status, 200);
        assert_eq!(
            (left.as_deref(), limit.as_deref()),
            (Some(remaining), Some("3"))
        );
    }
    let (status, left, retry_after, _) = rank().await;
    assert_eq!(
        (status, left.as_deref(), retry_after.as_deref()),
        (429, Some("0"), Some("1"))
    );
    for _ in 0..10 {
        assert_eq!(
            app.get("/api/v1/health/live").await.0,
            200,
            "health is not limited"
        );
    }
    let waited = eventually(
        Duration::from_secs(1),
        Duration::from_millis(20),
        "a request allowed again after an interval",
        || async { rank().await.0 == 200 },
    )
    .await;
    println!("rate limit: burst of 3 passed, 4th refused with 429; served again after {waited:?}");
}

/// Redis down: the limiter lets requests through (fail open) rather than refuse them all.
#[tokio::test]
async fn rate_limits_fail_open_without_redis() {
    let mut config = gateway_config();
    config.rate_limits.rate_limit_per_second = 1;
    config.rate_limits.rate_limit_burst = 1;
    config.redis.url = format!("redis://{}", dead_address().await);
    let app = spawn_gateway(config).await;
    app.wait_until_serving(&["ranking"]).await;
    for _ in 0..5 {
        assert_eq!(app.post_json(RANK, &seed_request()).await.0, 200);
    }
}
