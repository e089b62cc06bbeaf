//! The edge under abuse: each attack replayed against real services (Postgres for credentials,
//! Redis for the counters, the ranking service for live searches), and what must come out.
//! Gateways here count failures under a Redis prefix of their own, so no other test's wrong
//! passwords count against them; behind a trusted proxy (127.0.0.1), each caller is named by
//! `X-Forwarded-For`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use aras_domain::tenant::{Role, Tenant};
use aras_gateway::GatewayConfig;
use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::{production_config, start_gateway_process, user};
use crate::helpers::{TestApp, api_key, run_id, seed_request, spawn_app, spawn_app_with};

/// A production gateway counting failures under a prefix of its own, trusting 127.0.0.1 to
/// name callers, with these limits.
fn throttled_config(per_address: u32, per_email: u32) -> GatewayConfig {
    let mut config = production_config();
    config.redis.prefix = format!("{}:abuse:{}:", run_id(), uuid::Uuid::new_v4().simple());
    config.trusted_proxies = vec!["127.0.0.1".into()];
    config.throttle.max_failures_per_address = per_address;
    config.throttle.max_failures_per_email = per_email;
    config
}

/// A caller's address, different for every call (TEST-NET-3 and a random host).
fn address() -> Ipv4Addr {
    let bits = uuid::Uuid::new_v4().as_u128();
    Ipv4Addr::new(203, 0, (bits >> 8) as u8, bits as u8)
}

/// One request from `client` (named by `X-Forwarded-For`), with extra headers.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    client: Ipv4Addr,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Option<u64>, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("x-forwarded-for", client.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| {
        v.to_str()
            .unwrap()
            .parse()
            .expect("Retry-After is whole seconds")
    });
    let text = response.text().await.unwrap();
    (
        status,
        retry_after,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// One request from `client` with an API key.
async fn with_key(
    app: &TestApp,
    method: Method,
    path: &str,
    client: Ipv4Addr,
    key: &str,
) -> (u16, Option<u64>, Value) {
    send(app, method, path, client, &[("x-api-key", key)], None).await
}

async fn login(
    app: &TestApp,
    client: Ipv4Addr,
    email: &str,
    password: &str,
) -> (u16, Option<u64>, Value) {
    let body = json!({"email": email, "password": password});
    send(
        app,
        Method::POST,
        "/api/v1/auth/login",
        client,
        &[],
        Some(&body),
    )
    .await
}

/// A 429 that says when to come back: within the 15-minute window.
fn assert_throttled((status, retry_after, body): &(u16, Option<u64>, Value), what: &str) {
    assert_eq!(*status, 429, "{what}: {body}");
    let retry_after = retry_after.unwrap_or_else(|| panic!("{what}: a 429 without Retry-After"));
    assert!(
        (1..=900).contains(&retry_after),
        "{what}: Retry-After {retry_after}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("failed authentications"),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn guessed_passwords_are_throttled_per_email_and_per_address() {
    let app = spawn_app_with(throttled_config(8, 5)).await;
    let (email, password) = user(Role::User, &format!("guessed-{}", uuid::Uuid::new_v4())).await;
    let guesser = address();
    for attempt in 1..=5 {
        let (status, _, body) =
            login(&app, guesser, &email, &format!("guess number {attempt:04}")).await;
        assert_eq!(status, 401, "guess {attempt}: {body}");
    }
    // The email has used its failures: even the right password, from anywhere, waits.
    assert_throttled(
        &login(&app, guesser, &email, "guess number 0006").await,
        "sixth guess",
    );
    assert_throttled(
        &login(&app, address(), &email, &password).await,
        "the owner, elsewhere",
    );

    // The guesser's address has 5 failures; 3 more on other emails use up its 8.
    for attempt in 1..=3 {
        let other = format!("nobody-{attempt}-{}@example.com", uuid::Uuid::new_v4());
        let (status, _, body) = login(&app, guesser, &other, "some password here").await;
        assert_eq!(status, 401, "other email {attempt}: {body}");
    }
    let fresh = format!("nobody-else-{}@example.com", uuid::Uuid::new_v4());
    assert_throttled(
        &login(&app, guesser, &fresh, "some password here").await,
        "ninth failure",
    );

    // Another account, from another address: not affected, and a success there resets
    // nothing of the guesser's.
    let (other_email, other_password) =
        user(Role::User, &format!("bystander-{}", uuid::Uuid::new_v4())).await;
    let (status, _, body) = login(&app, address(), &other_email, &other_password).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = login(&app, guesser, &other_email, &other_password).await;
    assert_eq!(
        status, 429,
        "the guesser's address stays throttled, even with a right password: {body}"
    );
}

#[tokio::test]
async fn invalid_keys_and_tokens_are_throttled_per_address_before_the_database() {
    let app = spawn_app_with(throttled_config(10, 5)).await;
    let key = api_key(&Tenant::demo(), Role::User).await;
    let task = "/api/v1/tasks/7d3c5b1e-4a7f-4d1e-9a63-2f1b8c0e9d42";

    let sprayer = address();
    for attempt in 0..10 {
        let guess = format!("aras_{}", uuid::Uuid::new_v4().simple());
        let (status, _, body) = with_key(&app, Method::GET, task, sprayer, &guess).await;
        assert_eq!(status, 401, "guess {attempt}: {body}");
    }
    let guess = format!("aras_{}", uuid::Uuid::new_v4().simple());
    let answer = with_key(&app, Method::GET, task, sprayer, &guess).await;
    assert_throttled(&answer, "eleventh invalid key");
    // The address is refused before any key is looked up: a valid key it has not used yet
    // waits too (general rate limits are off in this gateway).
    let answer = with_key(&app, Method::GET, task, sprayer, &key).await;
    assert_throttled(&answer, "a valid key from the throttled address");
    // Elsewhere, the valid key works.
    let (status, _, body) = with_key(&app, Method::GET, task, address(), &key).await;
    assert_eq!(status, 404, "the key's own task lookup: {body}");

    // Forged and malformed access tokens count the same way.
    let forger = address();
    for attempt in 0..10 {
        let bearer = if attempt % 2 == 0 {
            "Bearer not.a.token"
        } else {
            "Basic Zm9vOmJhcg=="
        };
        let (status, _, body) = send(
            &app,
            Method::GET,
            task,
            forger,
            &[("authorization", bearer)],
            None,
        )
        .await;
        assert_eq!(status, 401, "token {attempt}: {body}");
    }
    let answer = send(
        &app,
        Method::GET,
        task,
        forger,
        &[("authorization", "Bearer x.y.z")],
        None,
    )
    .await;
    assert_throttled(&answer, "eleventh invalid token");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let mut config = throttled_config(3, 100);
    config.trusted_proxies.clear();
    let app = spawn_app_with(config).await;
    // A new made-up address on every request would escape a limit that believed the header.
    for attempt in 0..3 {
        let guess = format!("aras_{}", uuid::Uuid::new_v4().simple());
        let (status, _, body) =
            with_key(&app, Method::GET, "/api/v1/vehicles/1", address(), &guess).await;
        assert_eq!(status, 401, "guess {attempt}: {body}");
    }
    let guess = format!("aras_{}", uuid::Uuid::new_v4().simple());
    let answer = with_key(&app, Method::GET, "/api/v1/vehicles/1", address(), &guess).await;
    assert_throttled(&answer, "a fourth guess under a fourth made-up address");
}

/// `name` and `value` of each label of a Prometheus text line's series.
fn labels(line: &str) -> Vec<(&str, &str)> {
    let Some((_, rest)) = line.split_once('{') else {
        return Vec::new();
    };
    let (inner, _) = rest.rsplit_once('}').unwrap();
    inner
        .split("\",")
        .filter_map(|pair| pair.split_once("=\""))
        .map(|(name, value)| (name, value.trim_end_matches('"')))
        .collect()
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_metric_series() {
    let app = spawn_app().await;
    let made_up: Vec<String> = (0..50)
        .map(|i| format!("X{i}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).to_uppercase())
        .collect();
    for (i, method) in made_up.iter().enumerate() {
        let path = format!("/api/v1/made-up-{i}-{method}");
        let status = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&path),
            )
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "{method} {path}: {status}");
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("gateway_http_request"))
        .collect();
    let known = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "other",
    ];
    let mut others = 0;
    for line in &series {
        for (name, value) in labels(line) {
            match name {
                "method" => {
                    assert!(
                        known.contains(&value),
                        "a method label from the caller: {line}"
                    );
                    others += usize::from(value == "other");
                }
                "route" => assert!(
                    !value.contains("made-up"),
                    "a route label from the caller: {line}"
                ),
                _ => {}
            }
        }
    }
    // The made-up requests were counted, under `other`.
    assert!(
        others > 0,
        "no series counts the made-up methods:\n{}",
        series.join("\n")
    );
}

#[tokio::test]
async fn a_live_search_wider_than_the_cap_is_422_and_given_candidates_are_not_capped() {
    let app = spawn_app().await;
    // Paris to Marseille: a circle of about 400 km radius, over the default 100 km.
    let mut request = seed_request();
    request["annonce"]["point_livraison"] = json!({"latitude": 43.2965, "longitude": 5.3698});
    let (status, _, given) = app.post_json("/api/v1/livreurs/rank", &request).await;
    assert_eq!(
        status, 200,
        "given candidates are ranked whatever the distance: {given}"
    );
    request
        .as_object_mut()
        .unwrap()
        .remove("livreurs_candidats");
    let (status, _, live) = app.post_json("/api/v1/livreurs/rank", &request).await;
    assert_eq!(status, 422, "{live}");
    let detail = live["detail"].as_str().unwrap();
    assert!(
        detail.contains("ARAS_RANKING_MAX_SEARCH_RADIUS_KM") && detail.contains("100 km"),
        "{live}"
    );
}

#[tokio::test]
async fn a_viewer_may_not_read_a_courier_a_user_may() {
    let app = spawn_app_with(production_config()).await;
    let path = "/api/v1/livreurs/LIV-NOBODY";
    let viewer = api_key(&Tenant::demo(), Role::Viewer).await;
    let (status, _, body) = with_key(&app, Method::GET, path, address(), &viewer).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("needs user"),
        "{body}"
    );
    // The viewer still reads the catalog.
    let (status, _, body) =
        with_key(&app, Method::GET, "/api/v1/vehicles/1", address(), &viewer).await;
    assert_eq!(status, 200, "{body}");
    let user = api_key(&Tenant::demo(), Role::User).await;
    let (status, _, body) = with_key(&app, Method::GET, path, address(), &user).await;
    assert_eq!(status, 404, "past the permission, no such courier: {body}");
}

#[tokio::test]
async fn health_tells_the_public_its_state_and_admins_the_detail() {
    let app = spawn_app_with(production_config()).await;
    // Anyone: the state alone, no dependency's name, address or error.
    let (status, _, body) = send(&app, Method::GET, "/api/v1/health", address(), &[], None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body.as_object().map(|o| o.keys().collect::<Vec<_>>()),
        Some(vec![&"status".to_owned()]),
        "{body}"
    );
    let (status, _, body) = send(
        &app,
        Method::GET,
        "/api/v1/admin/health",
        address(),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    for role in [Role::Viewer, Role::User] {
        let key = api_key(&Tenant::demo(), role).await;
        let (status, _, body) =
            with_key(&app, Method::GET, "/api/v1/admin/health", address(), &key).await;
        assert_eq!(status, 403, "{role:?}: {body}");
    }
    let admin = api_key(&Tenant::demo(), Role::Admin).await;
    let (status, _, body) =
        with_key(&app, Method::GET, "/api/v1/admin/health", address(), &admin).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["dependencies"]
        .as_array()
        .unwrap_or_else(|| panic!("the detail lists the dependencies: {body}"))
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(
        names.contains(&"ranking") && names.contains(&"postgres"),
        "{body}"
    );
}

#[tokio::test]
async fn anyone_asking_for_health_makes_the_gateway_check_at_most_once_a_second() {
    // A ranking service that hangs: each check of it waits the whole health timeout.
    let ranking = crate::proxy::TcpProxy::start(crate::helpers::backends().ranking).await;
    ranking.stall().await;
    let mut config = production_config();
    config.ranking_url = format!("http://{}", ranking.addr);
    config.health_timeout = Duration::from_secs(2);
    let app = crate::helpers::spawn_gateway(config).await;
    let public = || send(&app, Method::GET, "/api/v1/health", address(), &[], None);
    let started = Instant::now();
    let (status, _, body) = public().await;
    assert_eq!((status, &body), (200, &json!({"status": "degraded"})));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the first caller waits for the checks: {:?}",
        started.elapsed()
    );
    // Twenty callers right after are answered from that check: none waits for another.
    let started = Instant::now();
    let answers = futures_util::future::join_all((0..20).map(|_| public())).await;
    assert!(
        answers
            .iter()
            .all(|(status, _, body)| *status == 200 && body["status"] == "degraded"),
        "{answers:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "twenty summaries took {:?}: the dependencies were checked again",
        started.elapsed()
    );
}

#[tokio::test]
async fn production_is_the_default_and_refuses_published_or_weak_keys() {
    // The default as declared (parsing would read an ARAS_ENV of the test's environment).
    let command = <GatewayConfig as clap::CommandFactory>::command();
    let environment = command
        .get_arguments()
        .find(|argument| argument.get_id() == "environment")
        .expect("the gateway has an environment setting");
    assert_eq!(environment.get_default_values(), ["production"]);
    for (keys, reason) in [
        (
            "dev1:dev-only-signing-key-not-a-secret-0123456789",
            "published",
        ),
        ("k1:abababababababababababababababababababab", "entropy"),
    ] {
        let mut config = production_config();
        config.auth.jwt_keys = Some(keys.into());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = aras_gateway::serve(config, listener, std::future::pending())
            .await
            .expect_err("production must refuse this key");
        assert!(error.to_string().contains(reason), "{keys}: {error}");
    }
}

/// Resident and peak memory of process `pid`, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_flood_costs_bounded_memory_and_other_routes_keep_answering() {
    let config = production_config();
    // Failures are not throttled here: every login reaches the hashing pool, the worst case.
    let (child, app, _output) = start_gateway_process(
        &config,
        &[
            ("ARAS_AUTH_MAX_FAILURES_PER_ADDRESS", "1000000"),
            ("ARAS_AUTH_MAX_FAILURES_PER_EMAIL", "1000000"),
            // Two at once, as on this 2-core machine: the bound asserted below holds
            // whatever machine runs the test (the default is one per core).
            ("ARAS_PASSWORD_CHECKS", "2"),
        ],
    )
    .await;
    let pid = child.id().expect("the gateway runs");
    let key = api_key(&Tenant::demo(), Role::User).await;
    let task = app.url("/api/v1/tasks/7d3c5b1e-4a7f-4d1e-9a63-2f1b8c0e9d42");
    // Warm: a login and a key lookup, so the baseline holds the pools and the hash of nothing.
    let warm = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "warm@example.com", "password": "warm password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 401);
    assert_eq!(
        app.client
            .get(&task)
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let (baseline, startup_peak) = memory(pid);
    eprintln!(
        "before the flood: RSS {} MiB, peak so far {} MiB",
        baseline >> 20,
        startup_peak >> 20
    );

    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let prober = {
        let (client, task, key, flooding) = (
            app.client.clone(),
            task.clone(),
            key.clone(),
            flooding.clone(),
        );
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut probes = 0;
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let status = client
                    .get(&task)
                    .header("x-api-key", &key)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 404, "an API-key route during the flood");
                slowest = slowest.max(started.elapsed());
                probes += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (slowest, probes)
        })
    };
    let started = Instant::now();
    let answers: Vec<(u16, Option<String>)> = futures_util::stream::iter(0..400)
        .map(|i| {
            let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
            async move {
                let body = json!({"email": format!("flood-{i}-{}@example.com", run_id()), "password": "a guessed password"});
                let response = client.post(url).json(&body).send().await.unwrap();
                let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                (response.status().as_u16(), retry)
            }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let flood_time = started.elapsed();
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let (slowest, probes) = prober.await.unwrap();
    let (_, peak) = memory(pid);

    let refused = answers.iter().filter(|(status, _)| *status == 503).count();
    let checked = answers.iter().filter(|(status, _)| *status == 401).count();
    assert_eq!(
        refused + checked,
        400,
        "only 401 (checked) and 503 (pool full): {answers:?}"
    );
    assert!(checked > 0, "no login was checked");
    assert!(
        answers
            .iter()
            .filter(|(s, _)| *s == 503)
            .all(|(_, retry)| retry.as_deref() == Some("1")),
        "a 503 without Retry-After: 1"
    );
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "login flood: 400 logins, 100 at once, in {flood_time:?}: {checked} checked (401), {refused} refused (503); \
         gateway RSS {} MiB, peak {} MiB (+{} MiB); {probes} API-key probes, slowest {slowest:?}",
        baseline >> 20,
        peak >> 20,
        growth >> 20
    );
    assert!(
        growth <= 256 << 20,
        "the flood grew the gateway by {} MiB",
        growth >> 20
    );
    assert!(probes > 0, "no probe ran during the flood");
    assert!(
        slowest < Duration::from_secs(1),
        "an API-key request took {slowest:?} during the flood"
    );
}

#[tokio::test]
async fn with_redis_down_failures_are_not_counted_and_nothing_else_breaks() {
    let mut config = throttled_config(1, 1);
    config.redis.url = format!("redis://{}", crate::helpers::dead_address().await);
    let app = spawn_app_with(config).await;
    let caller = address();
    // Fail open, as the rate limits: past the limit of 1, still 401, never 429 or 5xx.
    for attempt in 0..3 {
        let guess = format!("aras_{}", uuid::Uuid::new_v4().simple());
        let (status, _, body) =
            with_key(&app, Method::GET, "/api/v1/vehicles/1", caller, &guess).await;
        assert_eq!(status, 401, "guess {attempt}: {body}");
        let (status, _, body) =
            login(&app, caller, "nobody@example.com", "a guessed password").await;
        assert_eq!(status, 401, "login {attempt}: {body}");
    }
    let key = api_key(&Tenant::demo(), Role::User).await;
    let (status, _, body) = with_key(&app, Method::GET, "/api/v1/vehicles/1", caller, &key).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_batch_counts_each_job_against_the_rate_limit() {
    let mut config = crate::helpers::gateway_config();
    config.redis.prefix = format!("{}:batch:{}:", run_id(), uuid::Uuid::new_v4().simple());
    config.rate_limits.rate_limit_per_second = 1;
    config.rate_limits.rate_limit_burst = 10;
    let app = spawn_app_with(config).await;
    let jobs = |n: i64| -> Value {
        (0..n)
            .map(|i| json!({"product_id": 1 + i, "client_id": 70_000 + i, "commentaire": "Correct, sans plus."}))
            .collect()
    };
    let (status, _, body) = app
        .post_json("/api/v1/recommendations/async/batch", &jobs(11))
        .await;
    assert_eq!(status, 422, "more jobs than a burst can ever pass: {body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("ARAS_RATE_LIMIT_BURST"),
        "{body}"
    );
    let (status, _, body) = app
        .post_json("/api/v1/recommendations/async/batch", &jobs(8))
        .await;
    assert_eq!(status, 202, "{body}");
    // 9 of the burst of 10 spent (the 8 jobs, and the refused call's 1): 5 more are over it.
    let response = app
        .client
        .post(app.url("/api/v1/recommendations/async/batch"))
        .json(&jobs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");
}

#[tokio::test]
async fn api_keys_expire_and_die_with_the_user_who_made_them() {
    let app = spawn_app_with(production_config()).await;
    let (email, password) = user(Role::Admin, &format!("key-maker-{}", uuid::Uuid::new_v4())).await;
    let (status, _, session) = login(&app, address(), &email, &password).await;
    assert_eq!(status, 200, "{session}");
    let bearer = format!("Bearer {}", session["access_token"].as_str().unwrap());
    let make = |body: Value| {
        let bearer = bearer.clone();
        let app = &app;
        async move {
            send(
                app,
                Method::POST,
                "/api/v1/admin/api-keys",
                address(),
                &[("authorization", &bearer)],
                Some(&body),
            )
            .await
        }
    };
    let (status, _, body) =
        make(json!({"name": "never", "role": "user", "expires_in_days": 0})).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("expires_in_days"),
        "{body}"
    );
    let (status, _, expiring) =
        make(json!({"name": "expiring", "role": "user", "expires_in_days": 1})).await;
    assert_eq!(status, 201, "{expiring}");
    let (status, _, lasting) = make(json!({"name": "lasting", "role": "user"})).await;
    assert_eq!(status, 201, "{lasting}");
    let (status, _, listed) = send(
        &app,
        Method::GET,
        "/api/v1/admin/api-keys",
        address(),
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let item = |id: &Value| {
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == *id)
            .cloned()
    };
    let expires_at =
        item(&expiring["id"]).expect("the expiring key is listed")["expires_at"].clone();
    let in_a_day = humantime::parse_rfc3339(expires_at.as_str().unwrap()).unwrap();
    let left = in_a_day
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_hours(23) && left <= Duration::from_hours(24),
        "{expires_at}"
    );
    assert_eq!(
        item(&lasting["id"]).unwrap().get("expires_at"),
        None,
        "{listed}"
    );

    // The day has passed (moved in the store: the key was never used, so nothing caches it).
    let pool = crate::helpers::test_database().pool().unwrap();
    let client = pool.get().await.unwrap();
    let expired_id = uuid::Uuid::parse_str(expiring["id"].as_str().unwrap()).unwrap();
    client
        .execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&expired_id],
        )
        .await
        .unwrap();
    let task = "/api/v1/tasks/7d3c5b1e-4a7f-4d1e-9a63-2f1b8c0e9d42";
    let key = |created: &Value| created["key"].as_str().unwrap().to_owned();
    let (status, _, body) = with_key(&app, Method::GET, task, address(), &key(&expiring)).await;
    assert_eq!(status, 401, "an expired key: {body}");
    let (status, _, body) = with_key(&app, Method::GET, task, address(), &key(&lasting)).await;
    assert_eq!(status, 404, "a live key, past authentication: {body}");

    // Its maker is disabled: the key goes with them, at once on this replica (which had it
    // cached a moment ago).
    let maker: uuid::Uuid = client
        .query_one("SELECT id FROM users WHERE email = $1", &[&email])
        .await
        .unwrap()
        .get(0);
    let admin = api_key(&Tenant::demo(), Role::Admin).await;
    let (status, _, body) = with_key(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/users/{maker}"),
        address(),
        &admin,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, _, body) = with_key(&app, Method::GET, task, address(), &key(&lasting)).await;
    assert_eq!(status, 401, "a disabled user's key: {body}");
    let (status, _, body) = with_key(&app, Method::GET, task, address(), &admin).await;
    assert_eq!(status, 404, "a key no user made lives on: {body}");
}

#[tokio::test]
async fn a_tenant_cannot_multiply_its_allowance_with_more_keys() {
    let mut config = production_config();
    config.redis.prefix = format!("{}:quota:{}:", run_id(), uuid::Uuid::new_v4().simple());
    config.rate_limits.rate_limit_per_tenant = 1;
    config.rate_limits.rate_limit_burst = 3;
    let app = spawn_app_with(config).await;
    let task = "/api/v1/tasks/7d3c5b1e-4a7f-4d1e-9a63-2f1b8c0e9d42";
    let mut statuses = Vec::new();
    // A fresh key per request: keys have no limit of their own here, the tenant has. Made
    // first, so the requests follow each other well within the quota's second.
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(api_key(&Tenant::demo(), Role::User).await);
    }
    for key in keys {
        let (status, retry_after, body) = with_key(&app, Method::GET, task, address(), &key).await;
        if status == 429 {
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("ARAS_RATE_LIMIT_PER_TENANT"),
                "{body}"
            );
            assert!(
                retry_after.is_some_and(|s| (1..=2).contains(&s)),
                "{retry_after:?}"
            );
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [404, 404, 404, 429],
        "the burst of 3, then the quota"
    );
    // Another tenant has its own.
    let theirs = api_key(&crate::helpers::other_tenant(), Role::User).await;
    let (status, _, body) = with_key(&app, Method::GET, task, address(), &theirs).await;
    assert_eq!(status, 404, "{body}");
}
