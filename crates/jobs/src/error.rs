//! What can go wrong with jobs, named for what the caller can do about it.

/// Errors of the job store and the broker side.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// Postgres cannot be reached (or the pool is exhausted): retry later.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    /// RabbitMQ cannot be reached or refused the message: retry later (stored jobs wait in the
    /// outbox meanwhile).
    #[error("message broker unavailable: {0}")]
    BrokerUnavailable(String),
    /// An `Idempotency-Key` already used for another request: use a new key.
    #[error("Idempotency-Key {0:?} was already used for a different request")]
    KeyReused(String),
    /// A bug or a broken invariant; the message says which.
    #[error("{0}")]
    Internal(String),
}

// Postgres errors are classified once, by the catalog crate: connection trouble is
// "unavailable", a server-side error is a bug.
impl From<deadpool_postgres::PoolError> for JobsError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        aras_catalog::CatalogError::from(error).into()
    }
}

impl From<tokio_postgres::Error> for JobsError {
    fn from(error: tokio_postgres::Error) -> Self {
        aras_catalog::CatalogError::from(error).into()
    }
}

impl From<aras_catalog::CatalogError> for JobsError {
    fn from(error: aras_catalog::CatalogError) -> Self {
        match error {
            aras_catalog::CatalogError::Unavailable(message) => Self::DatabaseUnavailable(message),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<lapin::Error> for JobsError {
    fn from(error: lapin::Error) -> Self {
        Self::BrokerUnavailable(error.to_string())
    }
}

pub type JobsResult<T> = Result<T, JobsError>;
