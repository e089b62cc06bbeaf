//! The Postgres side of ARAS: schema migrations (refinery, from the workspace's `migrations/`),
//! the vehicle catalog, analysed reviews and the catalog version that keys cached answers.
//!
//! Layout:
//! - [`db`]: settings, the connection pool, database creation and migrations.
//! - [`vehicles`]: catalog reads and writes, and the indexing bookkeeping.
//! - [`reviews`]: the reviews the recommender analysed.
//! - [`index_runs`]: re-indexing runs started over the API, and their progress.
//! - [`CatalogError`]: what can go wrong, named for what a caller can do.

pub mod db;
pub mod index_runs;
pub mod reviews;
pub mod vehicles;

pub use db::{DatabaseConfig, Pool};
pub use vehicles::VehicleRecord;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("vehicle {0} not found")]
    NotFound(i64),
    #[error("{0}")]
    InvalidInput(String),
    /// The request clashes with the current state (a run already in progress).
    #[error("{0}")]
    Conflict(String),
    /// Postgres cannot be reached or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Internal(String),
}

pub type CatalogResult<T> = Result<T, CatalogError>;

impl From<deadpool_postgres::PoolError> for CatalogError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<tokio_postgres::Error> for CatalogError {
    fn from(error: tokio_postgres::Error) -> Self {
        // tokio-postgres says only "db error"; the server's message is in the source.
        if let Some(db) = error.as_db_error() {
            return Self::Internal(format!("{} ({})", db.message(), db.code().code()));
        }
        let cause = std::error::Error::source(&error)
            .map(ToString::to_string)
            .unwrap_or_default();
        Self::Unavailable(format!("{error}: {cause}"))
    }
}
