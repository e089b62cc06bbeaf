//! Health, readiness, metrics and the API documentation.

use crate::helpers::{assert_problem, seed_request, spawn_app, spawn_app_without_backends};

#[tokio::test]
async fn liveness_and_readiness_when_everything_runs() {
    let app = spawn_app().await;
    let (status, _, body) = app.get("/api/v1/health/live").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("alive")));

    let (status, _, body) = app.get("/api/v1/health/ready").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));

    let (_, _, body) = app.get("/api/v1/admin/health").await;
    let names: Vec<&str> = body["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ranking",
            "fleet",
            "sentiment",
            "embedding",
            "recommender",
            "redis",
            "postgres",
            "rabbitmq"
        ]
    );
    assert!(
        body["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "serving"),
        "{body}"
    );

    // The public answers are summaries: the state, nothing about the dependencies.
    let (status, _, body) = app.get("/api/v1/health").await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
    let (status, _, body) = app.get("/api/v1/livreurs/health").await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
}

#[tokio::test]
async fn services_down_leave_the_gateway_ready_and_their_routes_503_at_once() {
    let app = spawn_app_without_backends().await;
    let (status, _, _) = app.get("/api/v1/health/live").await;
    assert_eq!(status, 200, "liveness ignores dependencies");

    // Readiness is the gateway's own: a dead backend must not take it out of its load balancer.
    let (status, _, body) = app.get("/api/v1/health/ready").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    let (status, _, body) = app.get("/api/v1/health").await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"status": "degraded"}))
    );
    let (status, _, body) = app.get("/api/v1/livreurs/health").await;
    assert_eq!(
        (status, body),
        (503, serde_json::json!({"status": "degraded"}))
    );

    let started = std::time::Instant::now();
    let got = app
        .post_json("/api/v1/livreurs/rank", &seed_request())
        .await;
    assert_problem(&got, 503, "ranking service is unavailable");
    // Connection refused on loopback: refused at once, not after the deadline.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(100),
        "503 at once: {:?}",
        started.elapsed()
    );
    assert_eq!(
        body_dependency(&app.get("/api/v1/admin/health").await.2, "ranking"),
        "unreachable"
    );
}

fn body_dependency(health: &serde_json::Value, name: &str) -> String {
    health["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .map_or_else(
            || panic!("{name} is not in {health}"),
            |d| d["status"].as_str().unwrap().to_owned(),
        )
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.post_json("/api/v1/livreurs/rank", &seed_request())
        .await;
    let text = app.get_text("/metrics").await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("gateway_http_requests_total")
                && l.contains("route=\"/api/v1/livreurs/rank\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(
        text.contains("gateway_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// The gateway's metrics that `deploy/alerts.yml` alerts on, as the gateway exports them
/// (names, and the 2 s latency bucket the slow-request alert counts from).
#[tokio::test]
async fn the_alert_rules_use_metrics_the_gateway_exports() {
    let rules =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/alerts.yml"))
            .expect("deploy/alerts.yml");
    let mut names: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("gateway_"))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(
        names.len() >= 4,
        "the rules name gateway metrics: {names:?}"
    );
    let app = spawn_app().await;
    let body = crate::helpers::seed_request();
    let review =
        serde_json::json!({"product_id": 3, "client_id": 77, "commentaire": "Très bon véhicule"});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        app.post_json("/api/v1/livreurs/rank", &body).await;
        app.post_json("/api/v1/recommendations", &review).await;
        let text = app.get_text("/metrics").await;
        let missing: Vec<_> = names
            .iter()
            .filter(|name| !text.lines().any(|l| l.starts_with(**name)))
            .collect();
        if missing.is_empty() {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not exported within 20 s: {missing:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert!(
        text.lines().any(
            |l| l.starts_with("gateway_http_request_duration_seconds_bucket")
                && l.contains("le=\"2\"")
        ),
        "the 2 s bucket: {text}"
    );
}

#[tokio::test]
async fn openapi_document_and_swagger_ui_are_served_offline() {
    let app = spawn_app().await;
    let (status, _, doc) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/api/v1/livreurs/rank",
        "/api/v1/livreurs/health",
        "/api/v1/sentiment/analyze",
        "/api/v1/sentiment/batch",
        "/api/v1/embeddings",
        "/api/v1/recommendations",
        "/api/v1/recommendations/async",
        "/api/v1/recommendations/async/batch",
        "/api/v1/tasks/{task_id}",
        "/api/v1/vehicles/{id}",
        "/api/v1/health/ready",
        "/api/v1/health/live",
        "/api/v1/health",
        "/api/v1/admin/health",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"].get("RankRequest").is_some());

    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger"), "the vendored UI is served");
    let ui = app.get_text("/docs/swagger-initializer.js").await;
    assert!(ui.contains("/openapi.json"), "{ui}");
}

/// Every response carries `X-Correlation-ID`: the caller's when well-formed, else a new UUID;
/// an error's problem body names the same id as its `instance`.
#[tokio::test]
async fn correlation_ids_are_echoed_replaced_or_made() {
    let app = spawn_app().await;
    let send = |id: Option<&'static str>| {
        let mut request = app.client.get(app.url("/api/v1/nope"));
        if let Some(id) = id {
            request = request.header("x-correlation-id", id);
        }
        async move {
            let response = request.send().await.unwrap();
            let header = response.headers()["x-correlation-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: serde_json::Value = response.json().await.unwrap();
            (header, body)
        }
    };
    let (echoed, body) = send(Some("caller-42.a:b_c")).await;
    assert_eq!(echoed, "caller-42.a:b_c");
    assert_eq!(body["instance"], "caller-42.a:b_c");
    for (sent, why) in [(Some("has space"), "malformed"), (None, "absent")] {
        let (made, body) = send(sent).await;
        assert!(uuid::Uuid::parse_str(&made).is_ok(), "{why}: {made}");
        assert_eq!(body["instance"], made.as_str(), "{why}");
    }
}

/// Every response carries the security headers; CORS answers only the configured origins.
#[tokio::test]
async fn security_headers_and_cors_for_configured_origins_only() {
    let mut config = crate::helpers::gateway_config();
    config.cors_allowed_origins = vec!["https://console.example.com".into()];
    let app = crate::helpers::spawn_gateway(config).await;
    for path in ["/api/v1/health/live", "/api/v1/nope", "/docs/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/livreurs/rank"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://console.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://console.example.com"
    );
    // Development's open API takes no write without credentials from another site.
    let invalidate = |origin: Option<&'static str>| {
        let request = app.client.post(app.url("/api/v1/admin/cache/invalidate"));
        match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        }
        .send()
    };
    let cross_site = invalidate(Some("https://elsewhere.example.com"))
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    for origin in [Some("https://console.example.com"), None] {
        let response = invalidate(origin).await.unwrap();
        assert!(
            response.status().is_success(),
            "{origin:?}: {}",
            response.status()
        );
    }
    let refused = preflight("https://elsewhere.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        refused.headers()
    );
    // By default no origin is listed: no CORS header on any response.
    let default = crate::helpers::spawn_gateway(crate::helpers::gateway_config()).await;
    let response = default
        .client
        .get(default.url("/api/v1/health/live"))
        .header("origin", "https://console.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .keys()
            .any(|name| name.as_str().starts_with("access-control-")),
        "{:?}",
        response.headers()
    );
}
