//! Async recommendation jobs end to end: the gateway's async routes and task status, workers
//! (in-process, or as their own OS process for the crash and shutdown tests), real RabbitMQ and
//! Postgres, the shared real-model backends. Every test has its own queues (`amqp_prefix`) and
//! its own job database, so no test's outbox or queue sees another's jobs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aras_catalog::DatabaseConfig;
use aras_gateway::GatewayConfig;
use aras_jobs::amqp::{AmqpConfig, RECOMMENDATIONS};
use aras_worker::{Deps, Outcome, WorkerConfig, process_one};
use lapin::message::Delivery;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeleteOptions,
};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::helpers::{
    CATALOG, TestApp, amqp_prefix, assert_problem, backends, dead_address, gateway_config, run_id,
    spawn_app_with,
};
use crate::proxy::TcpProxy;

const BROKER: &str = "127.0.0.1:5672";
const POSTGRES: &str = "127.0.0.1:5432";
const POSITIVE: &str = "Excellent véhicule, très confortable et fiable!";

fn broker_url(addr: &str) -> String {
    format!("amqp://guest:guest@{addr}/%2f")
}

/// A fresh job database for `test` (created and migrated by whoever uses it first).
fn jobs_database(test: &str) -> DatabaseConfig {
    let mut database = crate::helpers::test_database();
    database.url = format!("postgres://postgres@{POSTGRES}/aras_{}_{test}", run_id());
    database
}

/// What a job test runs on: its queues, its job database, and a gateway for both.
struct JobsTest {
    name: &'static str,
    prefix: String,
    database: DatabaseConfig,
}

impl JobsTest {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            prefix: amqp_prefix(name),
            database: jobs_database(name),
        }
    }

    fn amqp(&self, broker: &str) -> AmqpConfig {
        let mut amqp = gateway_config().amqp;
        amqp.url = broker_url(broker);
        amqp.prefix.clone_from(&self.prefix);
        amqp
    }

    fn gateway_config(&self) -> GatewayConfig {
        let mut config = gateway_config();
        config.amqp = self.amqp(BROKER);
        config.database = self.database.clone();
        config.outbox_interval = Duration::from_millis(100);
        config
    }

    fn worker_config(&self) -> WorkerConfig {
        let mut config = WorkerConfig::for_tests();
        config.recommender_url = format!("http://{}", backends().recommender);
        config.database = self.database.clone();
        config.amqp = self.amqp(BROKER);
        config
    }

    async fn gateway(&self) -> TestApp {
        spawn_app_with(self.gateway_config()).await
    }

    async fn pool(&self) -> aras_catalog::Pool {
        self.database
            .create_database_if_missing()
            .await
            .expect("the job database");
        let pool = self.database.pool().expect("a pool");
        aras_catalog::db::migrate(&pool).await.expect("migrations");
        pool
    }

    /// A channel on the broker, in confirm mode, with this test's topology declared.
    async fn channel(&self) -> (Connection, Channel) {
        let connection = Connection::connect(&broker_url(BROKER), ConnectionProperties::default())
            .await
            .expect("RabbitMQ on loopback");
        let channel = connection.create_channel().await.expect("a channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        self.amqp(BROKER)
            .topology()
            .declare(&channel)
            .await
            .expect("the topology");
        (connection, channel)
    }

    /// The one number `sql` (a `SELECT count(*) …` with one parameter) answers in this test's
    /// database.
    async fn count(&self, sql: &str, parameter: &(dyn tokio_postgres::types::ToSql + Sync)) -> i64 {
        let pool = self.pool().await;
        let client = pool.get().await.unwrap();
        client.query_one(sql, &[parameter]).await.unwrap().get(0)
    }

    /// The job states of `ids` in this test's database.
    async fn states(&self, ids: &[String]) -> HashMap<String, String> {
        let pool = self.pool().await;
        let client = pool.get().await.unwrap();
        let ids: Vec<String> = ids.to_vec();
        client
            .query(
                "SELECT id::text, state FROM jobs WHERE id::text = ANY($1)",
                &[&ids],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// Waits until every job of `ids` is SUCCESS; panics with the states after `timeout`.
    async fn wait_all_succeeded(&self, ids: &[String], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let states = self.states(ids).await;
            if states.len() == ids.len() && states.values().all(|s| s == "SUCCESS") {
                return;
            }
            if Instant::now() > deadline {
                let mut tally: HashMap<&str, usize> = HashMap::new();
                for state in states.values() {
                    *tally.entry(state.as_str()).or_default() += 1;
                }
                panic!(
                    "{}: not every job succeeded within {timeout:?}: {tally:?} of {}",
                    self.name,
                    ids.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until at least `n` jobs of `ids` are SUCCESS.
    async fn wait_some_succeeded(&self, ids: &[String], n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let done = self
                .states(ids)
                .await
                .values()
                .filter(|s| *s == "SUCCESS")
                .count();
            if done >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: only {done} of {} jobs succeeded within {timeout:?}",
                self.name,
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deletes this test's queues and exchanges.
    async fn clean_up(&self) {
        let (_connection, channel) = self.channel().await;
        let topology = self.amqp(BROKER).topology();
        let mut queues = vec![topology.queue(), topology.dead_letter_queue()];
        queues.extend((1..=topology.max_retries()).map(|n| topology.retry_queue(n)));
        for queue in queues {
            let _ = channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await;
        }
        for exchange in [topology.exchange(), topology.dead_letter_exchange()] {
            let _ = channel
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
}

/// How many reviews the recommender stored for each task (keyed by the task id).
async fn reviews_per_task(ids: &[String]) -> HashMap<String, i64> {
    let pool = backends().database.pool().unwrap();
    let client = pool.get().await.unwrap();
    let ids: Vec<String> = ids.to_vec();
    client
        .query(
            "SELECT idempotency_key, count(*) FROM reviews WHERE idempotency_key = ANY($1) GROUP BY 1",
            &[&ids],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// Every task stored exactly one review: no job ran twice to a visible effect.
async fn assert_each_ran_once(ids: &[String]) {
    let reviews = reviews_per_task(ids).await;
    let missing: Vec<_> = ids.iter().filter(|id| !reviews.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "tasks without their review: {missing:?}"
    );
    let twice: Vec<_> = reviews.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "tasks whose review was stored more than once: {twice:?}"
    );
}

fn review(product_id: i64, client_id: i64, text: &str) -> Value {
    json!({"product_id": product_id, "client_id": client_id, "commentaire": text, "top_k": 5})
}

fn batch(size: usize) -> Vec<Value> {
    const REVIEWS: [&str; 4] = [
        POSITIVE,
        "Voiture sale et bruyante, très déçu.",
        "Correct, sans plus.",
        "Superbe cabriolet, parfait pour le week-end !",
    ];
    (0..size)
        .map(|i| {
            let i = i64::try_from(i).unwrap();
            review(1 + i % 250, 50_000 + i, REVIEWS[(i % 4) as usize])
        })
        .collect()
}

async fn submit_batch(app: &TestApp, requests: &[Value]) -> Vec<String> {
    let (status, _, body) = app
        .post_json("/api/v1/recommendations/async/batch", &json!(requests))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["total"], requests.len(), "{body}");
    body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn submit(app: &TestApp, request: &Value) -> String {
    let (status, _, body) = app
        .post_json("/api/v1/recommendations/async", request)
        .await;
    assert_eq!(status, 202, "{body}");
    body["task_id"].as_str().unwrap().to_owned()
}

async fn task(app: &TestApp, id: &str) -> Value {
    let (status, _, body) = app.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls the task until it reaches `status`; panics with its last state after `timeout`.
async fn wait_for(app: &TestApp, id: &str, status: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let body = task(app, id).await;
        if body["status"] == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} did not reach {status} within {timeout:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The next message of `queue`, waiting for one up to `timeout` (retries come back after
/// their delay).
async fn next_delivery(channel: &Channel, queue: &str, timeout: Duration) -> Delivery {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .expect("basic.get")
        {
            return message.delivery;
        }
        assert!(
            Instant::now() < deadline,
            "no message on {queue} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A worker in this process, stopped by `stop` (or with the test's runtime).
struct InProcessWorker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn spawn_worker(config: WorkerConfig) -> InProcessWorker {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(aras_worker::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    InProcessWorker { stop, task }
}

impl InProcessWorker {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the worker task ends")
            .expect("the worker stops cleanly");
    }
}

/// Set in the environment of a worker process, so `worker_process` knows it was meant to run.
const WORKER_PROCESS: &str = "ARAS_E2E_WORKER_PROCESS";

/// A worker as its own OS process: this test binary again, running only `worker_process`,
/// configured by its environment exactly as `aras-worker` is.
struct WorkerProcess {
    child: tokio::process::Child,
}

impl WorkerProcess {
    fn spawn(test: &JobsTest, drain_timeout: &str) -> Self {
        let child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "jobs::worker_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WORKER_PROCESS, "1")
            .env("ARAS_WORKER_ADDR", "127.0.0.1:0")
            .env(
                "ARAS_RECOMMENDER_URL",
                format!("http://{}", backends().recommender),
            )
            .env("ARAS_DATABASE_URL", &test.database.url)
            .env("ARAS_AMQP_URL", broker_url(BROKER))
            .env("ARAS_AMQP_PREFIX", &test.prefix)
            .env("ARAS_WORKER_DRAIN_TIMEOUT", drain_timeout)
            // Few jobs held at once, so a stop or a crash always finds jobs still queued.
            .env("ARAS_WORKER_PREFETCH", "8")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the test binary runs again as a worker");
        Self { child }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("the worker process runs")
    }
}

/// Not a test: the body of a worker process for the crash and shutdown tests. `WorkerProcess`
/// runs this binary again with only this function, which does what `aras-worker`'s `main`
/// does: configuration from the environment, telemetry, then `aras_worker::run` until SIGTERM.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "the worker process of the crash and shutdown tests; WorkerProcess runs it"]
async fn worker_process() {
    assert!(
        std::env::var_os(WORKER_PROCESS).is_some(),
        "only WorkerProcess runs this (it sets the worker's configuration)"
    );
    let config = <WorkerConfig as clap::Parser>::parse_from(["aras-worker"]);
    let _telemetry = aras_common::telemetry::init("worker", &config.telemetry)
        .expect("telemetry of the worker process");
    aras_worker::run(config)
        .await
        .expect("the worker runs until SIGTERM");
}

#[tokio::test]
async fn a_submitted_job_succeeds_with_the_synchronous_answer() {
    let test = JobsTest::new("submit");
    let worker = spawn_worker(test.worker_config()).await;
    let app = test.gateway().await;
    let _catalog_unchanged = CATALOG.read().await;
    let request = review(42, 70_001, POSITIVE);

    let (status, _, sync) = app.post_json("/api/v1/recommendations", &request).await;
    assert_eq!(status, 200, "{sync}");

    let response = app
        .client
        .post(app.url("/api/v1/recommendations/async"))
        .header("x-correlation-id", format!("job-{}", run_id()))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["task_id"].as_str().unwrap().to_owned();
    assert!(id.parse::<aras_jobs::TaskId>().is_ok(), "{accepted}");
    assert_eq!(accepted["status"], "processing");
    assert_eq!(accepted["message"], "Recommendation task queued");
    assert_eq!(accepted["check_status_url"], format!("/api/v1/tasks/{id}"));
    assert_eq!(location, format!("/api/v1/tasks/{id}"));

    let done = wait_for(&app, &id, "SUCCESS", Duration::from_mins(1)).await;
    let result = &done["result"];
    assert_eq!(
        result["recommendations"], sync["recommendations"],
        "the same vehicles and scores as the synchronous call"
    );
    for field in ["status", "total", "sentiment_score", "sentiment_label"] {
        assert_eq!(result[field], sync[field], "{field}");
    }
    assert_eq!(result["correlation_id"], format!("job-{}", run_id()));
    assert_eq!(result["cached"], false);
    assert!(result["processing_time_ms"].as_u64().unwrap() > 0, "{done}");
    // The recommender's stages, and no cache lookup: jobs do not use the cache.
    let timings = &result["timings_ms"];
    assert!(timings.get("cache").is_none(), "{done}");
    for stage in ["sentiment", "embedding", "search", "rescore", "store"] {
        assert!(
            timings[stage].as_f64().is_some_and(|ms| ms > 0.0),
            "{stage}: {done}"
        );
    }
    assert_eq!(done["attempts"], 1);
    assert!(done["error"].is_null(), "{done}");
    let time = |field: &str| {
        humantime::parse_rfc3339(
            done[field]
                .as_str()
                .unwrap_or_else(|| panic!("{field}: {done}")),
        )
        .unwrap()
    };
    assert!(time("created_at") <= time("started_at"), "{done}");
    assert!(time("started_at") <= time("finished_at"), "{done}");
    assert!(done["next_attempt_at"].is_null(), "{done}");

    // The worker's call carried the submission's correlation id to the recommender.
    let pool = backends().database.pool().unwrap();
    let row = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT correlation_id FROM reviews WHERE idempotency_key = $1",
            &[&id],
        )
        .await
        .expect("the job's review is stored under its task id");
    assert_eq!(row.get::<_, String>(0), format!("job-{}", run_id()));
    worker.stop().await;
    test.clean_up().await;
}

#[tokio::test]
async fn a_batch_of_200_succeeds_each_exactly_once() {
    let test = JobsTest::new("batch");
    let mut config = test.worker_config();
    config.prefetch = 8;
    let workers = [
        spawn_worker(config.clone()).await,
        spawn_worker(config).await,
    ];
    let app = test.gateway().await;
    let ids = submit_batch(&app, &batch(200)).await;
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 200, "one task id per request");

    test.wait_all_succeeded(&ids, Duration::from_mins(10)).await;
    assert_each_ran_once(&ids).await;
    let retried = test
        .count(
            "SELECT count(*) FROM jobs WHERE id::text = ANY($1) AND attempts <> 1",
            &ids,
        )
        .await;
    assert_eq!(retried, 0, "no job needed a second try");
    for worker in workers {
        worker.stop().await;
    }
    test.clean_up().await;
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_nothing_and_runs_nothing_twice() {
    let test = JobsTest::new("kill9");
    let app = test.gateway().await;
    let mut first = WorkerProcess::spawn(&test, "25s");
    let ids = submit_batch(&app, &batch(100)).await;
    test.wait_some_succeeded(&ids, 10, Duration::from_mins(2))
        .await;

    first.child.kill().await.expect("SIGKILL the worker"); // kill -9
    let states = test.states(&ids).await;
    let running = states.values().filter(|s| *s == "STARTED").count();
    let done = states.values().filter(|s| *s == "SUCCESS").count();
    assert!(
        running > 0 && done < ids.len(),
        "the kill must land mid-batch: {running} running, {done} done"
    );

    let second = WorkerProcess::spawn(&test, "25s");
    test.wait_all_succeeded(&ids, Duration::from_mins(5)).await;
    assert_each_ran_once(&ids).await;
    drop(second);
    test.clean_up().await;
}

#[tokio::test]
async fn sigterm_stops_the_worker_after_its_running_jobs() {
    let test = JobsTest::new("sigterm");
    let app = test.gateway().await;
    let mut process = WorkerProcess::spawn(&test, "20s");
    let ids = submit_batch(&app, &batch(80)).await;
    test.wait_some_succeeded(&ids, 3, Duration::from_mins(2))
        .await;

    let sent = std::process::Command::new("kill")
        .args(["-TERM", &process.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), process.child.wait())
        .await
        .expect("the worker exits within its drain timeout")
        .unwrap();
    assert!(exit.success(), "a clean exit: {exit}");
    let states = test.states(&ids).await;
    assert!(
        states.values().all(|s| s == "SUCCESS" || s == "PENDING"),
        "every running job finished before the exit: {states:?}"
    );
    assert!(
        states.values().any(|s| s == "PENDING"),
        "the stop came mid-batch: {states:?}"
    );

    // The rest waited in the queue for the next worker.
    let worker = spawn_worker(test.worker_config()).await;
    test.wait_all_succeeded(&ids, Duration::from_mins(5)).await;
    assert_each_ran_once(&ids).await;
    worker.stop().await;
    test.clean_up().await;
}

#[tokio::test]
async fn transient_failures_retry_three_times_then_fail_to_the_dead_letter_queue() {
    let test = JobsTest::new("retry");
    let app = test.gateway().await;
    let mut config = test.worker_config();
    config.recommender_url = format!("http://{}", dead_address().await);
    config.retry_base = Duration::from_millis(40);
    let deps = Arc::new(Deps::new(config).unwrap());
    deps.database_ready().await.unwrap();
    let (_connection, channel) = test.channel().await;
    let topology = deps.topology.clone();
    let id = submit(&app, &review(7, 70_002, POSITIVE)).await;

    let mut last_try_at = None;
    for attempt in 1..=4_u32 {
        let delivery = next_delivery(&channel, &topology.queue(), Duration::from_secs(10)).await;
        if let Some(at) = last_try_at {
            let waited = SystemTime::now().duration_since(at).unwrap();
            let nominal = deps.backoff.nominal(attempt - 1);
            assert!(
                waited >= nominal / 2,
                "retry {attempt} came back after {waited:?}, before half its {nominal:?} delay"
            );
        }
        // The retry is published while the try runs: its delay starts after this instant.
        let tried_at = SystemTime::now();
        let outcome = process_one(&deps, &channel, delivery).await;
        let state = task(&app, &id).await;
        assert_eq!(state["attempts"], attempt, "{state}");
        assert_eq!(state["error"]["status"], 503, "{state}");
        if attempt <= 3 {
            assert!(
                matches!(outcome, Outcome::Retried { next_attempt, .. } if next_attempt == attempt + 1),
                "try {attempt}: {outcome:?}"
            );
            assert_eq!(state["status"], "RETRY", "{state}");
            assert!(state["next_attempt_at"].is_string(), "{state}");
            last_try_at = Some(tried_at);
        } else {
            assert_eq!(outcome, Outcome::Failed { exhausted: true });
            assert_eq!(state["status"], "FAILURE", "{state}");
            let detail = state["error"]["detail"].as_str().unwrap();
            assert!(detail.contains("gave up after 4 tries"), "{state}");
            assert!(state["finished_at"].is_string(), "{state}");
        }
    }
    let dead = next_delivery(
        &channel,
        &topology.dead_letter_queue(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        dead.properties
            .message_id()
            .as_ref()
            .map(ToString::to_string),
        Some(id.clone()),
        "the failed job's message is in the DLQ"
    );
    test.clean_up().await;
}

#[tokio::test]
async fn a_duplicate_delivery_changes_nothing() {
    let test = JobsTest::new("duplicate");
    let app = test.gateway().await;
    let deps = Arc::new(Deps::new(test.worker_config()).unwrap());
    deps.database_ready().await.unwrap();
    let (_connection, channel) = test.channel().await;
    let queue = deps.topology.queue();
    let id = submit(&app, &review(11, 70_003, POSITIVE)).await;

    let delivery = next_delivery(&channel, &queue, Duration::from_secs(10)).await;
    let (body, properties) = (delivery.data.clone(), delivery.properties.clone());
    assert_eq!(
        process_one(&deps, &channel, delivery).await,
        Outcome::Succeeded
    );
    let before = task(&app, &id).await;
    assert_eq!(before["status"], "SUCCESS");

    // The same message again, as a redelivery or a second publication would bring it.
    publish_raw(&channel, &test, &body, properties).await;
    let duplicate = next_delivery(&channel, &queue, Duration::from_secs(10)).await;
    assert_eq!(
        process_one(&deps, &channel, duplicate).await,
        Outcome::AlreadyFinished(aras_jobs::JobState::Success)
    );
    assert_eq!(
        task(&app, &id).await,
        before,
        "nothing changed, not even updated_at"
    );
    assert_each_ran_once(&[id]).await;
    test.clean_up().await;
}

async fn publish_raw(channel: &Channel, test: &JobsTest, body: &[u8], properties: BasicProperties) {
    let confirm = channel
        .basic_publish(
            test.amqp(BROKER).topology().exchange().into(),
            RECOMMENDATIONS.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
}

#[tokio::test]
async fn malformed_and_unknown_messages_are_dead_lettered_and_the_worker_goes_on() {
    let test = JobsTest::new("malformed");
    let worker = spawn_worker(test.worker_config()).await;
    let app = test.gateway().await;
    let (_connection, channel) = test.channel().await;
    let topology = test.amqp(BROKER).topology();

    publish_raw(
        &channel,
        &test,
        b"\xde\xad\xbe\xef not protobuf",
        BasicProperties::default(),
    )
    .await;
    let dead = next_delivery(
        &channel,
        &topology.dead_letter_queue(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(dead.data, b"\xde\xad\xbe\xef not protobuf");

    let stranger = aras_jobs::amqp::Outgoing::first_try(
        aras_jobs::TaskId::new_random(),
        &prost::Message::encode_to_vec(&aras_proto::recommender::v1::RecommendRequest::default()),
        "nobody".into(),
        HashMap::new(),
    )
    .unwrap();
    publish_raw(&channel, &test, &stranger.body, stranger.properties(None)).await;
    let dead = next_delivery(
        &channel,
        &topology.dead_letter_queue(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(dead.data, stranger.body, "a job that was never stored");

    // No crash loop: the worker still consumes.
    let id = submit(&app, &review(12, 70_004, POSITIVE)).await;
    wait_for(&app, &id, "SUCCESS", Duration::from_mins(1)).await;
    worker.stop().await;
    test.clean_up().await;
}

#[tokio::test]
async fn the_worker_recovers_when_the_broker_drops_its_connections() {
    let test = JobsTest::new("brokercut");
    let proxy = TcpProxy::start(BROKER.parse().unwrap()).await;
    let mut config = test.worker_config();
    config.amqp = test.amqp(&proxy.addr.to_string());
    config.prefetch = 4;
    let worker = spawn_worker(config).await;
    let app = test.gateway().await;
    let ids = submit_batch(&app, &batch(40)).await;
    test.wait_some_succeeded(&ids, 5, Duration::from_mins(2))
        .await;

    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = test
        .states(&ids)
        .await
        .values()
        .filter(|s| *s == "SUCCESS")
        .count();
    assert!(done < ids.len(), "the cut came mid-batch ({done} done)");
    let restored = Instant::now();
    proxy.restore().await;
    test.wait_some_succeeded(&ids, done + 1, Duration::from_mins(1))
        .await;
    eprintln!(
        "brokercut: consuming again {:?} after the broker came back",
        restored.elapsed()
    );

    test.wait_all_succeeded(&ids, Duration::from_mins(5)).await;
    assert_each_ran_once(&ids).await;
    worker.stop().await;
    test.clean_up().await;
}

#[tokio::test]
async fn the_worker_waits_out_a_database_outage() {
    let test = JobsTest::new("dbcut");
    test.pool().await; // created and migrated before the outage
    let proxy = TcpProxy::start(POSTGRES.parse().unwrap()).await;
    let mut config = test.worker_config();
    config.database.url = test.database.url.replace(POSTGRES, &proxy.addr.to_string());
    let worker = spawn_worker(config).await;
    let app = test.gateway().await;
    // The worker runs jobs before the cut, so "nothing ran" below is the outage's doing.
    let before = submit_batch(&app, &batch(1)).await;
    test.wait_all_succeeded(&before, Duration::from_mins(1))
        .await;

    proxy.cut();
    let ids = submit_batch(&app, &batch(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let states = test.states(&ids).await;
    assert!(
        states.values().all(|s| s == "PENDING"),
        "nothing runs without the job store: {states:?}"
    );

    let restored = Instant::now();
    proxy.restore().await;
    test.wait_some_succeeded(&ids, 1, Duration::from_mins(1))
        .await;
    eprintln!(
        "dbcut: consuming again {:?} after Postgres came back",
        restored.elapsed()
    );
    test.wait_all_succeeded(&ids, Duration::from_mins(2)).await;
    assert_each_ran_once(&ids).await;
    worker.stop().await;
    test.clean_up().await;
}

#[tokio::test]
async fn a_submission_while_the_broker_is_down_is_kept_and_queued_when_it_returns() {
    let test = JobsTest::new("brokerdown");
    let proxy = TcpProxy::start(BROKER.parse().unwrap()).await;
    proxy.cut();
    let mut config = test.gateway_config();
    config.amqp = test.amqp(&proxy.addr.to_string());
    let app = spawn_app_with(config).await;
    let worker = spawn_worker(test.worker_config()).await;

    let (status, _, accepted) = app
        .post_json(
            "/api/v1/recommendations/async",
            &review(13, 70_005, POSITIVE),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert!(
        accepted["message"]
            .as_str()
            .unwrap()
            .contains("as soon as the message broker is reachable"),
        "{accepted}"
    );
    let id = accepted["task_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(task(&app, &id).await["status"], "PENDING");
    let waiting = test
        .count(
            "SELECT count(*) FROM job_outbox WHERE job_id::text = $1",
            &id,
        )
        .await;
    assert_eq!(waiting, 1, "the job waits in the outbox");

    proxy.restore().await;
    wait_for(&app, &id, "SUCCESS", Duration::from_mins(1)).await;
    let waiting = test
        .count(
            "SELECT count(*) FROM job_outbox WHERE job_id::text = $1",
            &id,
        )
        .await;
    assert_eq!(waiting, 0, "published, so out of the outbox");
    worker.stop().await;
    test.clean_up().await;
}

#[tokio::test]
async fn a_postgres_that_hangs_at_first_use_is_a_503_within_the_timeout() {
    // Accepts connections and never answers: the gateway's first use of its job store (which
    // creates the database if missing) must give up after ARAS_DATABASE_TIMEOUT.
    let test = JobsTest::new("dbhung");
    let proxy = TcpProxy::start(POSTGRES.parse().unwrap()).await;
    proxy.stall().await;
    let mut config = test.gateway_config();
    config.database.url = test.database.url.replace(POSTGRES, &proxy.addr.to_string());
    config.database.timeout = Duration::from_secs(1);
    let app = spawn_app_with(config).await;
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        app.post_json(
            "/api/v1/recommendations/async",
            &review(15, 70_007, POSITIVE),
        ),
    )
    .await
    .expect("an answer, not a hang");
    assert_problem(&answer, 503, "job store (Postgres) is unavailable");
    eprintln!("dbhung: 503 after {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_submission_while_postgres_is_down_is_refused_and_nothing_is_stored() {
    let test = JobsTest::new("dbdown");
    let proxy = TcpProxy::start(POSTGRES.parse().unwrap()).await;
    let mut config = test.gateway_config();
    config.database.url = test.database.url.replace(POSTGRES, &proxy.addr.to_string());
    let app = spawn_app_with(config).await;
    submit(&app, &review(14, 70_006, POSITIVE)).await; // migrated and working

    proxy.cut();
    let correlation_id = format!("refused-{}", run_id());
    let response = app
        .client
        .post(app.url("/api/v1/recommendations/async/batch"))
        .header("x-correlation-id", &correlation_id)
        .json(&json!(batch(3)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was stored"),
        "{body}"
    );
    assert_problem(
        &app.get(&format!(
            "/api/v1/tasks/{}",
            aras_jobs::TaskId::new_random()
        ))
        .await,
        503,
        "job store",
    );

    proxy.restore().await;
    let stored = test
        .count(
            "SELECT count(*) FROM jobs WHERE correlation_id = $1",
            &correlation_id,
        )
        .await;
    assert_eq!(stored, 0);
    test.clean_up().await;
}

#[tokio::test]
async fn an_idempotency_key_answers_the_same_tasks() {
    let test = JobsTest::new("idempotency");
    let app = test.gateway().await;
    let post = |path: &'static str, key: String, body: Value| {
        let request = app
            .client
            .post(app.url(path))
            .header("idempotency-key", key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            (
                response.status().as_u16(),
                replayed,
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let key = format!("order-{}", run_id());
    let request = review(15, 70_007, POSITIVE);
    let (status, replayed, first) = post(
        "/api/v1/recommendations/async",
        key.clone(),
        request.clone(),
    )
    .await;
    assert_eq!((status, replayed), (202, false), "{first}");
    let (status, replayed, again) =
        post("/api/v1/recommendations/async", key.clone(), request).await;
    assert_eq!((status, replayed), (202, true), "{again}");
    assert_eq!(
        again["task_id"], first["task_id"],
        "the same task, not a second job"
    );

    let (status, _, other) = post(
        "/api/v1/recommendations/async",
        key.clone(),
        review(15, 70_007, "Tout autre avis."),
    )
    .await;
    assert_eq!(status, 422, "{other}");
    assert!(
        other["detail"].as_str().unwrap().contains("already used"),
        "{other}"
    );

    let batch_key = format!("batch-{}", run_id());
    let (status, _, first) = post(
        "/api/v1/recommendations/async/batch",
        batch_key.clone(),
        json!(batch(3)),
    )
    .await;
    assert_eq!(status, 202, "{first}");
    let (status, replayed, again) = post(
        "/api/v1/recommendations/async/batch",
        batch_key,
        json!(batch(3)),
    )
    .await;
    assert_eq!((status, replayed), (202, true), "{again}");
    assert_eq!(again["tasks"], first["tasks"]);

    let (status, _, refused) = post(
        "/api/v1/recommendations/async",
        "k".repeat(256),
        review(15, 1, POSITIVE),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    test.clean_up().await;
}

#[tokio::test]
async fn bad_async_requests_are_refused_and_store_nothing() {
    let test = JobsTest::new("refused");
    let mut config = test.gateway_config();
    config.jobs_max_batch = 3;
    let app = spawn_app_with(config).await;
    let correlation_id = format!("bad-{}", run_id());
    let send = |path: &'static str, body: Value| {
        let request = app
            .client
            .post(app.url(path))
            .header("x-correlation-id", &correlation_id)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (
                status,
                content_type,
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    assert_problem(
        &send("/api/v1/recommendations/async", review(1, 1, "   ")).await,
        422,
        "the review is empty",
    );
    assert_problem(
        &send("/api/v1/recommendations/async/batch", json!([])).await,
        422,
        "the batch is empty",
    );
    assert_problem(
        &send("/api/v1/recommendations/async/batch", json!(batch(4))).await,
        422,
        "more than the maximum of 3",
    );
    let mut requests = batch(3);
    requests[2]["top_k"] = json!(0);
    assert_problem(
        &send("/api/v1/recommendations/async/batch", json!(requests)).await,
        422,
        "[2]: top_k",
    );
    assert_problem(
        &app.post_raw(
            "/api/v1/recommendations/async",
            "text/plain",
            b"{}".to_vec(),
        )
        .await,
        415,
        "Content-Type",
    );
    assert_problem(&app.get("/api/v1/tasks/not-a-uuid").await, 422, "UUID");
    let unknown = aras_jobs::TaskId::new_random();
    assert_problem(
        &app.get(&format!("/api/v1/tasks/{unknown}")).await,
        404,
        &unknown.to_string(),
    );

    let stored = test
        .count(
            "SELECT count(*) FROM jobs WHERE correlation_id = $1",
            &correlation_id,
        )
        .await;
    assert_eq!(stored, 0, "a refused submission stores nothing");
    test.clean_up().await;
}

/// Deletes the queues of earlier test runs whose process is gone (names start with their run
/// id, `test_<pid>_…`). Best effort: without `rabbitmqctl` it leaves them.
pub async fn delete_queues_of_finished_runs() {
    let Ok(output) = tokio::process::Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name"])
        .output()
        .await
    else {
        return;
    };
    let finished = |name: &&str| {
        let pid = name
            .strip_prefix("test_")
            .and_then(|rest| rest.split('_').next());
        pid.and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| {
                pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            })
    };
    let listing = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = listing.lines().map(str::trim).filter(finished).collect();
    if names.is_empty() {
        return;
    }
    let Ok(connection) =
        Connection::connect(&broker_url(BROKER), ConnectionProperties::default()).await
    else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    for name in names {
        let _ = channel
            .queue_delete(name.into(), QueueDeleteOptions::default())
            .await;
    }
}

#[tokio::test]
async fn a_message_redelivered_too_often_fails_its_job_instead_of_looping() {
    let test = JobsTest::new("poison");
    let app = test.gateway().await;
    let deps = Arc::new(Deps::new(test.worker_config()).unwrap());
    deps.database_ready().await.unwrap();
    let (_connection, channel) = test.channel().await;
    let queue = deps.topology.queue();
    let id = submit(&app, &review(16, 70_008, POSITIVE)).await;

    // Handed back as a worker that died on it would (the broker counts the deliveries).
    for _ in 0..aras_jobs::amqp::POISON_DELIVERIES {
        let delivery = next_delivery(&channel, &queue, Duration::from_secs(10)).await;
        delivery
            .acker
            .nack(lapin::options::BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .unwrap();
    }
    let delivery = next_delivery(&channel, &queue, Duration::from_secs(10)).await;
    assert_eq!(
        process_one(&deps, &channel, delivery).await,
        Outcome::Failed { exhausted: false }
    );
    let state = task(&app, &id).await;
    assert_eq!(state["status"], "FAILURE", "{state}");
    let detail = state["error"]["detail"].as_str().unwrap();
    assert!(detail.contains("delivered 6 times"), "{state}");
    let dead = next_delivery(
        &channel,
        &deps.topology.dead_letter_queue(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        dead.properties
            .message_id()
            .as_ref()
            .map(ToString::to_string),
        Some(id)
    );
    test.clean_up().await;
}

/// The Grafana dashboards chart only metrics the services export. Every service runs in this
/// process (one metrics recorder, rendered by the gateway's `/metrics`); a ranking, a
/// recommendation (the cache consulted) and an async job go through, then `scripts/check-dashboards` checks each
/// metric name the dashboards use against what was exported.
#[tokio::test]
async fn the_dashboards_chart_only_metrics_the_services_export() {
    let test = JobsTest::new("dashboards");
    let worker = spawn_worker(test.worker_config()).await;
    let app = test.gateway().await;
    let _catalog_unchanged = CATALOG.read().await;
    let (status, _, ranked) = app
        .post_json("/api/v1/livreurs/rank", &crate::helpers::seed_request())
        .await;
    assert_eq!(status, 200, "{ranked}");
    let request = review(43, 70_002, POSITIVE);
    let (status, _, answer) = app.post_json("/api/v1/recommendations", &request).await;
    assert_eq!(status, 200, "{answer}");
    let id = submit(&app, &request).await;
    wait_for(&app, &id, "SUCCESS", Duration::from_mins(1)).await;

    let metrics = std::env::temp_dir().join(format!("aras-metrics-{}.txt", run_id()));
    std::fs::write(&metrics, app.get_text("/metrics").await).unwrap();
    let output = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/check-dashboards"
    ))
    .arg("--metrics-file")
    .arg(&metrics)
    // Exported once what they count has happened, which a healthy run never does: a Redis
    // failure (cache, rate limiter), a request refused by the rate limiter, a job retried.
    .args(["--allow-missing", "gateway_cache_errors_total"])
    .args(["--allow-missing", "gateway_rate_limit_errors_total"])
    .args(["--allow-missing", "gateway_rate_limited_total"])
    .args(["--allow-missing", "worker_job_retries_total"])
    .output()
    .expect("scripts/check-dashboards runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_file(&metrics).unwrap();
    worker.stop().await;
    test.clean_up().await;
}
