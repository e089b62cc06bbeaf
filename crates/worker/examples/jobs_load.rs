//! Load generator for async recommendation jobs (`scripts/load-test-jobs` drives it): submits
//! jobs through the gateway and reads their outcome from the job store.
//!
//! ```text
//! jobs_load submit --seconds 10 --batch 1000 --connections 2   submit-only throughput
//! jobs_load run --jobs 5000 --batch 1000                       a burst: submit all, wait for all
//! jobs_load run --jobs 600 --rate 30                           steady: one job per request
//! ```
//! `run` reports throughput end to end (first submission to last completion) and in steady
//! state (the middle 80% of completions, without ramp-up and drain), queue wait
//! (submission to start) and end-to-end latency percentiles, and checks that no job was lost
//! (all SUCCESS) or ran twice (one stored review per task, one try each).

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Cli {
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    gateway: String,
    /// The job store (and review) database the services use.
    #[arg(long, env = "ARAS_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Vehicles in the catalog (requests review ids 1..=N).
    #[arg(long, default_value_t = 10_000)]
    vehicles: i64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Submits batches for a while, as fast as the gateway takes them.
    Submit {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        #[arg(long, default_value_t = 2)]
        connections: usize,
    },
    /// Submits `jobs` jobs (in batches, or one per request at `rate`) and waits for them all.
    Run {
        #[arg(long, default_value_t = 5000)]
        jobs: usize,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Jobs per second, one per request; unset: batches as fast as possible.
        #[arg(long)]
        rate: Option<f64>,
        /// Longest wait for the last job.
        #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// The request of `scripts/bench/recommend-misses.lua`, so async and synchronous figures compare
/// like for like: the same review, reviewed vehicles spread over the catalog, a new client each
/// time (nothing could be served from a cache).
fn request(n: usize, vehicles: i64) -> Value {
    let n = i64::try_from(n).expect("a job count fits i64");
    json!({
        "product_id": (n * 7919) % vehicles + 1,
        "client_id": 1_000_000 + n,
        "commentaire": "Excellent véhicule, très confortable et fiable !",
        "top_k": 10
    })
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let response = client.post(url).json(body).send().await?;
    anyhow::ensure!(
        response.status() == 202,
        "{url}: {} {}",
        response.status(),
        response.text().await?
    );
    Ok(response.json().await?)
}

fn task_ids(accepted: &Value) -> Vec<String> {
    match accepted["tasks"].as_array() {
        Some(tasks) => tasks
            .iter()
            .filter_map(|t| t["task_id"].as_str().map(str::to_owned))
            .collect(),
        None => accepted["task_id"]
            .as_str()
            .map(|id| vec![id.to_owned()])
            .unwrap_or_default(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let client = reqwest::Client::new();
    match cli.command {
        Command::Submit {
            seconds,
            batch,
            connections,
        } => {
            let url = format!("{}/api/v1/recommendations/async/batch", cli.gateway);
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let mut senders = Vec::new();
            for connection in 0..connections {
                let (client, url) = (client.clone(), url.clone());
                senders.push(tokio::spawn(async move {
                    let mut submitted = 0;
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let body: Vec<Value> = (0..batch)
                            .map(|i| request(connection * 10_000_000 + submitted + i, cli.vehicles))
                            .collect();
                        let sent = Instant::now();
                        let accepted = post(&client, &url, &json!(body)).await?;
                        latencies.push(sent.elapsed());
                        submitted += task_ids(&accepted).len();
                    }
                    anyhow::Ok((submitted, latencies))
                }));
            }
            let (mut total, mut latencies) = (0, Vec::new());
            for sender in senders {
                let (submitted, mut times) = sender.await??;
                total += submitted;
                latencies.append(&mut times);
            }
            let elapsed = started.elapsed().as_secs_f64();
            latencies.sort();
            println!(
                "submitted {total} jobs in {elapsed:.2} s over {connections} connections, batches of {batch}: \
                 {:.0} jobs/s; per batch p50 {:.1} ms, p99 {:.1} ms",
                total as f64 / elapsed,
                percentile(&latencies, 0.50) * 1e3,
                percentile(&latencies, 0.99) * 1e3,
            );
        }
        Command::Run {
            jobs,
            batch,
            rate,
            timeout,
        } => {
            let started = Instant::now();
            let mut ids = Vec::with_capacity(jobs);
            match rate {
                None => {
                    let url = format!("{}/api/v1/recommendations/async/batch", cli.gateway);
                    for first in (0..jobs).step_by(batch) {
                        let body: Vec<Value> = (first..(first + batch).min(jobs))
                            .map(|n| request(n, cli.vehicles))
                            .collect();
                        ids.extend(task_ids(&post(&client, &url, &json!(body)).await?));
                    }
                }
                Some(rate) => {
                    let url = format!("{}/api/v1/recommendations/async", cli.gateway);
                    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
                    for n in 0..jobs {
                        ticks.tick().await;
                        ids.extend(task_ids(
                            &post(&client, &url, &request(n, cli.vehicles)).await?,
                        ));
                    }
                }
            }
            let submit_s = started.elapsed().as_secs_f64();
            println!(
                "submitted {} jobs in {submit_s:.2} s ({:.0} jobs/s)",
                ids.len(),
                ids.len() as f64 / submit_s
            );
            report(&cli.database_url, &ids, timeout).await?;
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64()
}

/// Waits until every job is finished, then prints the figures.
async fn report(database_url: &str, ids: &[String], timeout: Duration) -> anyhow::Result<()> {
    let (db, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let ids: Vec<String> = ids.to_vec();
    let deadline = Instant::now() + timeout;
    loop {
        let row = db
            .query_one(
                "SELECT count(*) FILTER (WHERE state IN ('SUCCESS', 'FAILURE')) FROM jobs WHERE id::text = ANY($1)",
                &[&ids],
            )
            .await?;
        let finished: i64 = row.get(0);
        if usize::try_from(finished)? == ids.len() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {finished} of {} jobs finished within {timeout:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let row = db
        .query_one(
            "SELECT count(*) FILTER (WHERE state = 'SUCCESS'),
                    count(*) FILTER (WHERE attempts <> 1),
                    extract(epoch FROM max(finished_at) - min(created_at))::float8,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))::float8,
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))::float8,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at))::float8,
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at))::float8,
                    extract(epoch FROM percentile_disc(0.9) WITHIN GROUP (ORDER BY finished_at)
                                     - percentile_disc(0.1) WITHIN GROUP (ORDER BY finished_at))::float8
             FROM jobs WHERE id::text = ANY($1)",
            &[&ids],
        )
        .await?;
    let (succeeded, retried): (i64, i64) = (row.get(0), row.get(1));
    let (span, wait50, wait99, e2e50, e2e99, middle): (f64, f64, f64, f64, f64, f64) = (
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
        row.get(7),
    );
    let reviews = db
        .query_one(
            "SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1)
             FROM (SELECT count(*) AS n FROM reviews WHERE idempotency_key = ANY($1) GROUP BY idempotency_key) r",
            &[&ids],
        )
        .await?;
    let (once, twice): (i64, i64) = (reviews.get(0), reviews.get(1));
    // Steady state: the middle 80% of completions, without the ramp-up and the drain.
    println!(
        "completed {succeeded}/{} in {span:.2} s: {:.1} jobs/s end to end, {:.1} jobs/s steady (middle 80%); \
         queue wait p50 {:.1} ms, p99 {:.1} ms; submission to result p50 {:.1} ms, p99 {:.1} ms",
        ids.len(),
        succeeded as f64 / span,
        0.8 * ids.len() as f64 / middle,
        wait50 * 1e3,
        wait99 * 1e3,
        e2e50 * 1e3,
        e2e99 * 1e3,
    );
    println!(
        "lost (not SUCCESS): {}; retried: {retried}; reviews stored once: {once}, more than once: {twice}",
        i64::try_from(ids.len())? - succeeded
    );
    anyhow::ensure!(
        usize::try_from(succeeded)? == ids.len()
            && twice == 0
            && usize::try_from(once)? == ids.len(),
        "jobs lost or duplicated"
    );
    Ok(())
}
