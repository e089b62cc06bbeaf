//! Connection settings, the pool, and migrations.

use std::str::FromStr as _;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use crate::{CatalogError, CatalogResult};

pub use deadpool_postgres::Pool;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// Postgres connection URL of the catalog database.
    #[arg(
        id = "database_url",
        long = "database-url",
        env = "ARAS_DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/aras"
    )]
    pub url: String,

    /// Connections kept in the pool.
    #[arg(
        id = "database_pool_size",
        long = "database-pool-size",
        env = "ARAS_DATABASE_POOL_SIZE",
        default_value_t = 16
    )]
    pub pool_size: usize,

    /// Longest wait for a pooled connection, or to open one (connect included): past it the
    /// request fails as "unavailable" instead of queueing behind a Postgres that does not answer.
    #[arg(
        id = "database_timeout",
        long = "database-timeout",
        env = "ARAS_DATABASE_TIMEOUT",
        default_value = "2s",
        value_parser = humantime::parse_duration
    )]
    pub timeout: std::time::Duration,
}

impl DatabaseConfig {
    fn parsed(&self) -> CatalogResult<tokio_postgres::Config> {
        tokio_postgres::Config::from_str(&self.url)
            .map_err(|e| CatalogError::InvalidInput(format!("ARAS_DATABASE_URL: {e}")))
    }

    /// A pool; connections open lazily, so this succeeds while Postgres is down.
    pub fn pool(&self) -> CatalogResult<Pool> {
        let mut config = self.parsed()?;
        config.connect_timeout(self.timeout);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(self.timeout))
            .create_timeout(Some(self.timeout))
            .recycle_timeout(Some(self.timeout))
            .build()
            .map_err(|e| CatalogError::Internal(e.to_string()))
    }

    /// Creates the database if it does not exist (connecting to the server's `postgres`
    /// database), so a fresh machine needs no manual `createdb`.
    pub async fn create_database_if_missing(&self) -> CatalogResult<()> {
        let config = self.parsed()?;
        let name = config
            .get_dbname()
            .ok_or_else(|| {
                CatalogError::InvalidInput("ARAS_DATABASE_URL names no database".into())
            })?
            .to_owned();
        let mut admin = config.clone();
        admin.dbname("postgres");
        // The whole connect, handshake included (`connect_timeout` bounds only the socket's):
        // a Postgres that accepts and never answers must not hang a start or a first request.
        let (client, connection) = tokio::time::timeout(self.timeout, admin.connect(NoTls))
            .await
            .map_err(|_| {
                CatalogError::Unavailable(format!(
                    "Postgres did not answer within {:?} (ARAS_DATABASE_TIMEOUT)",
                    self.timeout
                ))
            })??;
        let connection = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            match client
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await
            {
                Ok(()) => tracing::info!(database = %name, "created the database"),
                // Another process created it meanwhile (Postgres reports the race either way).
                Err(e)
                    if e.code() == Some(&SqlState::DUPLICATE_DATABASE)
                        || e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
                Err(e) => return Err(e.into()),
            }
        }
        drop(client);
        let _ = connection.await;
        Ok(())
    }
}

/// Key of the session-level advisory lock that serialises migrations: refinery alone would let
/// two processes starting together (the recommender and `aras seed`) race on a fresh database.
const MIGRATION_LOCK: i64 = 0x4152_4153; // "ARAS"

/// Applies the pending migrations of `migrations/`; returns how many ran.
pub async fn migrate(pool: &Pool) -> CatalogResult<usize> {
    let mut client = pool.get().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = embedded::migrations::runner()
        .run_async(&mut **client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = report.map_err(|e| CatalogError::Internal(format!("migrations failed: {e}")))?;
    Ok(report.applied_migrations().len())
}
