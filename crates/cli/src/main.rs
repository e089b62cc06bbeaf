//! `aras`: operate an ARAS deployment from a terminal.
//!
//! - `aras migrate`: create the database if needed and apply `migrations/`.
//! - `aras seed --vehicles N`: write a deterministic demo catalog (ids 1..=N).
//! - `aras index [--full]`: have the recommender embed and index what changed, with progress.
//! - `aras admin create-org | create-user | create-key | revoke-key`: bootstrap tenants.

mod admin;

use std::time::{Duration, Instant};

use aras_catalog::{DatabaseConfig, vehicles};
use aras_common::correlation::CorrelationId;
use aras_common::grpc;
use aras_domain::demo;
use aras_domain::tenant::Tenant;
use aras_proto::recommender::v1::IndexCatalogRequest;
use aras_proto::recommender::v1::recommender_client::RecommenderClient;
use aras_proto::recommender::v1::recommender_server::SERVICE_NAME;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tonic_health::ServingStatus;

#[derive(Debug, Parser)]
#[command(
    name = "aras",
    about = "Operate ARAS: migrations, demo catalog, indexing, tenants and credentials",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if missing and apply the pending migrations.
    Migrate {
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Write a demo catalog of vehicles 1..=N (replacing those ids), deterministic for a seed.
    Seed {
        #[command(flatten)]
        database: DatabaseConfig,
        /// Vehicles to generate.
        #[arg(long, default_value_t = 2_000)]
        vehicles: i64,
        /// Seed of the generator: the same seed gives the same catalog.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Do nothing if the catalog already has vehicles.
        #[arg(long)]
        if_empty: bool,
        /// The organisation the vehicles belong to.
        #[arg(long = "org", default_value = aras_domain::tenant::DEMO_TENANT, value_parser = |raw: &str| Tenant::parse(raw).map_err(|e| e.to_string()))]
        tenant: Tenant,
    },
    /// Tenants, users and API keys.
    Admin {
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Embed and index every vehicle changed since it was last indexed (all with --full),
    /// through the recommender service. Resumable: run it again after an interruption.
    Index {
        /// gRPC URL of the recommender.
        #[arg(
            long,
            env = "ARAS_RECOMMENDER_URL",
            default_value = "http://127.0.0.1:50053"
        )]
        recommender_url: String,
        /// Re-embed every vehicle.
        #[arg(long)]
        full: bool,
        /// How long to wait for the recommender to be ready.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
}

const SEED_CHUNK: i64 = 5_000;
/// Deadline of an indexing run: a large catalog takes minutes on a small machine.
const INDEXING_PATIENCE: Duration = Duration::from_hours(24);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Migrate { database } => {
            database.create_database_if_missing().await?;
            let applied = aras_catalog::db::migrate(&database.pool()?).await?;
            println!("migrations applied: {applied}");
        }
        Command::Seed {
            database,
            vehicles: count,
            seed,
            if_empty,
            tenant,
        } => {
            database.create_database_if_missing().await?;
            let pool = database.pool()?;
            aras_catalog::db::migrate(&pool).await?;
            let existing = vehicles::count(&pool).await?;
            if if_empty && existing > 0 {
                println!("catalog already has {existing} vehicles; nothing seeded");
                return Ok(());
            }
            let started = Instant::now();
            let bar = progress_bar(count.unsigned_abs(), "seeding");
            for first in (1..=count).step_by(SEED_CHUNK as usize) {
                let last = (first + SEED_CHUNK - 1).min(count);
                let chunk: Vec<_> = (first..=last).map(|id| demo::vehicle(seed, id)).collect();
                vehicles::upsert(&pool, &tenant, &chunk).await?;
                bar.inc(chunk.len() as u64);
            }
            bar.finish();
            println!(
                "seeded {count} vehicles (seed {seed}) in {:.1}s; run `aras index` next",
                started.elapsed().as_secs_f64()
            );
        }
        Command::Index {
            recommender_url,
            full,
            wait,
        } => index(&recommender_url, full, wait).await?,
        Command::Admin { database, command } => admin::run(&database, command).await?,
    }
    Ok(())
}

async fn index(url: &str, full: bool, wait: Duration) -> anyhow::Result<()> {
    let channel = grpc::lazy_channel(url, Duration::from_secs(5))?;
    let deadline = Instant::now() + wait;
    loop {
        match grpc::check_health(channel.clone(), SERVICE_NAME, Duration::from_secs(2)).await {
            Ok(ServingStatus::Serving) => break,
            status if Instant::now() > deadline => {
                anyhow::bail!("the recommender at {url} is not ready: {status:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    // Indexing a large catalog takes minutes: this call's deadline is the client's patience.
    let indexing = grpc::lazy_channel(url, INDEXING_PATIENCE)?;
    let request = grpc::request(
        IndexCatalogRequest { full },
        &CorrelationId::new_random(),
        INDEXING_PATIENCE,
    );
    let started = Instant::now();
    let mut stream = RecommenderClient::new(indexing)
        .index_catalog(request)
        .await?
        .into_inner();
    let mut bar: Option<ProgressBar> = None;
    let mut last = None;
    while let Some(step) = stream.message().await? {
        let bar = bar.get_or_insert_with(|| progress_bar(step.total, "indexing"));
        bar.set_position(step.indexed);
        last = Some(step);
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    let elapsed = started.elapsed().as_secs_f64();
    match last {
        Some(step) if step.indexed > 0 => println!(
            "indexed {} vehicles in {elapsed:.1}s ({:.0} vehicles/s); {} vectors stored",
            step.indexed,
            step.indexed as f64 / elapsed.max(1e-9),
            step.stored
        ),
        Some(step) => println!("nothing to index; {} vectors stored", step.stored),
        None => println!("nothing to index"),
    }
    Ok(())
}

fn progress_bar(total: u64, label: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(label);
    bar
}
