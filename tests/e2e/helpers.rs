//! Starts the services in-process on ephemeral ports, like production but on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use aras_catalog::DatabaseConfig;
use aras_domain::tenant::{Role, Tenant};
use aras_embedding::EmbeddingConfig;
use aras_gateway::GatewayConfig;
use aras_proto::recommender::v1::IndexCatalogRequest;
use aras_proto::recommender::v1::recommender_client::RecommenderClient;
use aras_ranking::RankingConfig;
use aras_recommender::RecommenderConfig;
use aras_sentiment::SentimentConfig;
use serde_json::Value;
use tokio::net::TcpListener;

pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
}

async fn ephemeral() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding an ephemeral loopback port");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    (listener, addr)
}

/// Addresses of the backend services, started once per test binary: the models take seconds
/// and hundreds of MB to load, so every test shares one set, each with its own gateway.
pub struct Backends {
    pub ranking: SocketAddr,
    pub sentiment: SocketAddr,
    pub embedding: SocketAddr,
    pub recommender: SocketAddr,
    /// The test run's own catalog database (a fresh one per run).
    pub database: DatabaseConfig,
    /// The test run's own Redis key prefix.
    pub redis_prefix: String,
}

/// Vehicles in the test catalog (seeded deterministically, ids 1..=N).
pub const TEST_CATALOG_SIZE: i64 = 300;

/// The second tenant of the test catalog, and its vehicles' ids.
pub fn other_tenant() -> Tenant {
    Tenant::parse("globex").unwrap()
}
pub const OTHER_TENANT_VEHICLES: std::ops::RangeInclusive<i64> = 900_001..=900_020;

/// A new API key of `tenant` with `role`, straight from the credential store.
pub async fn api_key(tenant: &Tenant, role: Role) -> String {
    let pool = test_database().pool().expect("a pool");
    aras_auth::store::create_api_key(
        &pool,
        &aras_auth::store::ApiKeySpec::new(tenant, "e2e", role),
    )
    .await
    .expect("an API key")
    .key
}

/// Catalog writes bump the catalog version, which retires every cached answer: tests that
/// expect a cache hit (or compare two answers) hold this for reading, the test that writes
/// holds it for writing.
pub static CATALOG: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A unique name for this test run's database, Redis prefix, queues and directories.
pub fn run_id() -> &'static str {
    static RUN_ID: OnceLock<String> = OnceLock::new();
    RUN_ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("test_{}_{}", std::process::id(), nanos % 1_000_000_000)
    })
}

/// Connection settings of this run's database on the local Postgres.
pub fn test_database() -> DatabaseConfig {
    let mut config = RecommenderConfig::for_tests().database;
    config.url = format!("postgres://postgres@127.0.0.1:5432/aras_{}", run_id());
    config
}

/// A recommender on this run's database, calling the given sentiment and embedding services.
pub fn recommender_config(
    sentiment: SocketAddr,
    embedding: SocketAddr,
    vector_dir: PathBuf,
) -> RecommenderConfig {
    let mut config = RecommenderConfig::for_tests();
    config.sentiment_url = format!("http://{sentiment}");
    config.embedding_url = format!("http://{embedding}");
    config.database = test_database();
    config.vector_dir = vector_dir;
    config.redis.prefix = format!("{}:", run_id());
    config
}

/// A directory under the system's temporary one, removed by nobody: the services outlive the
/// tests that would own a `TempDir`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aras-{}-{name}", run_id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The RabbitMQ name prefix of a test: its queues are its own.
pub fn amqp_prefix(test: &str) -> String {
    format!("{}_{test}", run_id())
}

/// Removes what earlier runs left: their databases (a database another run still uses refuses
/// to be dropped, and is left alone), their queues (runs whose process is gone) and scratch
/// directories over an hour old.
async fn clean_earlier_runs() {
    crate::jobs::delete_queues_of_finished_runs().await;
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let Ok((client, connection)) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await
    else {
        return;
    };
    tokio::spawn(connection);
    let ours = format!("aras_{}", run_id());
    let names = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'aras\\_test\\_%'",
            &[],
        )
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for name in names.into_iter().filter(|n| *n != ours) {
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > std::time::Duration::from_hours(1));
        if old
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with("aras-test_")
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Seeds the test catalog and has the recommender index it.
async fn seed_and_index(recommender: SocketAddr) {
    let database = test_database();
    database
        .create_database_if_missing()
        .await
        .expect("the test database");
    let pool = database.pool().expect("a pool");
    aras_catalog::db::migrate(&pool).await.expect("migrations");
    let vehicles: Vec<_> = (1..=TEST_CATALOG_SIZE)
        .map(|id| aras_domain::demo::vehicle(42, id))
        .collect();
    aras_catalog::vehicles::upsert(&pool, &Tenant::demo(), &vehicles)
        .await
        .expect("seeding");
    // A second tenant with a catalog of its own, for the isolation tests.
    let other = other_tenant();
    match aras_auth::store::create_organisation(&pool, &other, "Other marketplace").await {
        Ok(()) | Err(aras_auth::AuthError::Conflict(_)) => {}
        Err(error) => panic!("the second tenant: {error}"),
    }
    let theirs: Vec<_> = OTHER_TENANT_VEHICLES
        .map(|id| aras_domain::demo::vehicle(7, id))
        .collect();
    aras_catalog::vehicles::upsert(&pool, &other, &theirs)
        .await
        .expect("seeding the second tenant");
    index_catalog(recommender).await;
}

/// Waits for `recommender` to serve (2 minutes at most), then indexes what its store lacks.
pub async fn index_catalog(recommender: SocketAddr) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{recommender}"))
        .unwrap()
        .connect_lazy();
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut serving = false;
    for _ in 0..1200 {
        let request = tonic_health::pb::HealthCheckRequest {
            service: aras_proto::recommender::v1::recommender_server::SERVICE_NAME.into(),
        };
        if health
            .clone()
            .check(request)
            .await
            .is_ok_and(|r| r.into_inner().status == 1)
        {
            serving = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        serving,
        "the recommender at {recommender} did not serve within 2 minutes"
    );
    let mut stream = RecommenderClient::new(channel)
        // Everything: another recommender on the same catalog may have marked it indexed.
        .index_catalog(IndexCatalogRequest { full: true })
        .await
        .expect("indexing starts")
        .into_inner();
    let mut last = None;
    while let Some(step) = stream.message().await.expect("indexing progresses") {
        last = Some(step);
    }
    let last = last.expect("indexing reports progress");
    // Tests add vehicles of tenants of their own as they run: at least the seeded ones.
    let seeded = TEST_CATALOG_SIZE as u64 + OTHER_TENANT_VEHICLES.count() as u64;
    assert!(
        last.indexed == last.total && last.stored >= seeded,
        "every vehicle indexed: {last:?}"
    );
}

/// The repository's `models/` directory (built by `scripts/build-models`).
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

pub fn backends() -> &'static Backends {
    static BACKENDS: OnceLock<Backends> = OnceLock::new();
    BACKENDS.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        // The services outlive every test's runtime, so they get a runtime of their own.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime for the backends");
            runtime.block_on(async move {
                let (ranking, ranking_addr) = ephemeral().await;
                let (sentiment, sentiment_addr) = ephemeral().await;
                let (embedding, embedding_addr) = ephemeral().await;
                let (recommender, recommender_addr) = ephemeral().await;
                clean_earlier_runs().await;
                let models = models_dir();
                tokio::spawn(aras_ranking::serve(RankingConfig::for_tests(), ranking, std::future::pending()));
                let sentiment_server = tokio::spawn(aras_sentiment::serve(
                    SentimentConfig::for_tests(&models),
                    sentiment,
                    std::future::pending(),
                ));
                let embedding_server = tokio::spawn(aras_embedding::serve(
                    EmbeddingConfig::for_tests(&models),
                    embedding,
                    std::future::pending(),
                ));
                let recommender_config =
                    recommender_config(sentiment_addr, embedding_addr, scratch_dir("vectors"));
                let redis_prefix = recommender_config.redis.prefix.clone();
                let recommender_server =
                    tokio::spawn(aras_recommender::serve(recommender_config, recommender, std::future::pending()));
                seed_and_index(recommender_addr).await;
                sender
                    .send(Backends {
                        ranking: ranking_addr,
                        sentiment: sentiment_addr,
                        embedding: embedding_addr,
                        recommender: recommender_addr,
                        database: test_database(),
                        redis_prefix,
                    })
                    .expect("the test thread waits for the addresses");
                for server in [sentiment_server, embedding_server, recommender_server] {
                    if let Ok(Err(error)) = server.await {
                        eprintln!("a backend failed (build the models with scripts/build-models): {error:#}");
                    }
                }
                std::future::pending::<()>().await;
            });
        });
        receiver.recv().expect("the backends start")
    })
}

/// A gateway's defaults with this run's database and queues, never the developer's.
fn test_gateway_defaults() -> GatewayConfig {
    let mut config = GatewayConfig::for_tests();
    config.database = test_database();
    config.amqp.prefix = amqp_prefix("shared");
    // Every test calls from 127.0.0.1 and counts its failed authentications in this run's
    // Redis: no limit that one test's wrong passwords could make another test meet. The
    // abuse tests set limits, and client addresses, of their own.
    config.throttle.max_failures_per_address = 1_000_000;
    config.throttle.max_failures_per_email = 1_000_000;
    config
}

/// The configuration of a gateway calling the shared backends.
pub fn gateway_config() -> GatewayConfig {
    let b = backends();
    let mut config = test_gateway_defaults();
    config.ranking_url = format!("http://{}", b.ranking);
    config.sentiment_url = format!("http://{}", b.sentiment);
    config.embedding_url = format!("http://{}", b.embedding);
    config.recommender_url = format!("http://{}", b.recommender);
    config.redis.prefix.clone_from(&b.redis_prefix);
    config
}

/// A gateway calling the shared backends, once they all report SERVING.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(gateway_config()).await
}

/// A gateway with `config`, once every backend it calls reports SERVING.
pub async fn spawn_app_with(config: GatewayConfig) -> TestApp {
    let app = spawn_gateway(config).await;
    app.wait_until_serving(&["ranking", "sentiment", "embedding", "recommender"])
        .await;
    app
}

/// A gateway whose backends do not exist: a port that was bound and released.
pub async fn spawn_app_without_backends() -> TestApp {
    let (listener, dead_addr) = ephemeral().await;
    drop(listener);
    let dead = format!("http://{dead_addr}");
    let mut config = test_gateway_defaults();
    config.ranking_url.clone_from(&dead);
    config.sentiment_url.clone_from(&dead);
    config.recommender_url.clone_from(&dead);
    config.embedding_url = dead;
    config.grpc_timeout = std::time::Duration::from_millis(500);
    config.health_timeout = std::time::Duration::from_millis(300);
    spawn_gateway(config).await
}

/// A loopback address where nothing listens.
pub async fn dead_address() -> SocketAddr {
    let (listener, addr) = ephemeral().await;
    drop(listener);
    addr
}

pub async fn spawn_gateway(config: GatewayConfig) -> TestApp {
    let (listener, addr) = ephemeral().await;
    tokio::spawn(aras_gateway::serve(
        config,
        listener,
        std::future::pending(),
    ));
    TestApp {
        base_url: format!("http://{addr}"),
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Waits (60 s at most, then fails the test) until the detailed health report lists every
    /// one of `backends` as serving: models load and warm in seconds. The report is an admin's:
    /// a production gateway is asked with an admin key of the demo tenant.
    pub async fn wait_until_serving(&self, backends: &[&str]) {
        let mut health = Value::Null;
        let mut admin_key: Option<String> = None;
        for _ in 0..600 {
            let mut request = self.client.get(self.url("/api/v1/admin/health"));
            if let Some(key) = &admin_key {
                request = request.header("x-api-key", key);
            }
            let (status, _, body) = split(request.send().await.expect("the gateway answers")).await;
            if status == 401 && admin_key.is_none() {
                admin_key = Some(api_key(&Tenant::demo(), Role::Admin).await);
                continue;
            }
            health = body;
            let serving = |name: &&str| {
                health["dependencies"].as_array().is_some_and(|all| {
                    all.iter()
                        .any(|d| d["name"] == *name && d["status"] == "serving")
                })
            };
            if backends.iter().all(serving) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{backends:?} did not all serve within 60 s: {health}");
    }

    /// POSTs `body` as JSON; returns the status, the content type and the parsed body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, String, Value) {
        self.post_raw(path, "application/json", serde_json::to_vec(body).unwrap())
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, String, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the gateway answers");
        split(response).await
    }

    pub async fn get_text(&self, path: &str) -> String {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("the gateway answers");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.text().await.expect("a complete body")
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> (u16, String, Value) {
        let request = self.client.patch(self.url(path)).json(body);
        split(request.send().await.expect("the gateway answers")).await
    }

    pub async fn get(&self, path: &str) -> (u16, String, Value) {
        split(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("the gateway answers"),
        )
        .await
    }
}

/// The status, the content type and the parsed body (`Null` when not JSON).
pub async fn split(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.bytes().await.expect("a complete body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, body)
}

/// The seed README's `/livreurs/rank` example request.
pub fn seed_request() -> Value {
    serde_json::json!({
        "annonce": {
            "annonce_id": "ANN-2024-001",
            "type_livraison": "express",
            "point_ramassage": { "latitude": 48.8566, "longitude": 2.3522 },
            "point_livraison": { "latitude": 48.8738, "longitude": 2.2950 }
        },
        "livreurs_candidats": [
            {
                "livreur_id": "LIV-001",
                "position_actuelle": { "latitude": 48.8606, "longitude": 2.3376 },
                "reputation": 8.5,
                "capacite_max_kg": 30,
                "type_vehicule": "moto"
            },
            {
                "livreur_id": "LIV-002",
                "position_actuelle": { "latitude": 48.8556, "longitude": 2.3486 },
                "reputation": 9.0,
                "capacite_max_kg": 50,
                "type_vehicule": "voiture"
            }
        ]
    })
}

/// Asserts an RFC 9457 body with `status` whose detail contains `needle`.
pub fn assert_problem(got: &(u16, String, Value), status: u16, needle: &str) {
    assert!(
        !needle.is_empty(),
        "a detail needle that cannot fail checks nothing"
    );
    let (code, content_type, body) = got;
    assert_eq!(*code, status, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    assert!(
        body["instance"].is_string(),
        "the correlation id is the instance: {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(needle),
        "detail {detail:?} should contain {needle:?}"
    );
}

/// Asks `done` every `every` until it says yes, and returns how long that took; fails the test
/// when `within` has passed first, saying what never happened.
pub async fn eventually<F, Fut>(
    within: Duration,
    every: Duration,
    what: &str,
    mut done: F,
) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if done().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(every).await;
    }
}
