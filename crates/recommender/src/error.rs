//! Errors of the recommender and their one mapping to gRPC statuses.

use aras_catalog::CatalogError;
use aras_domain::recommend::RequestError;
use aras_vector_store::StoreError;

/// What went wrong, named for what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum RecommenderError {
    /// The request breaks a rule; the message names it. Fix the request.
    #[error("{0}")]
    InvalidInput(String),
    /// The product (vehicle) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with what is running (an indexing run). Wait for it to end.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (sentiment, embedding, Postgres, vector store) is down or still starting.
    /// Retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The caller's deadline ran out while a dependency worked.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A bug or a broken invariant; the logs have the cause.
    #[error("{0}")]
    Internal(String),
}

impl From<RequestError> for RecommenderError {
    fn from(error: RequestError) -> Self {
        Self::InvalidInput(error.to_string())
    }
}

impl From<CatalogError> for RecommenderError {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::NotFound(id) => Self::NotFound(format!("vehicle {id} not found")),
            CatalogError::InvalidInput(message) => Self::InvalidInput(message),
            CatalogError::Conflict(message) => Self::Conflict(message),
            CatalogError::Unavailable(message) => {
                tracing::warn!(error = %message, "the catalog database is unavailable");
                Self::Unavailable(
                    "the catalog database (Postgres) is unavailable, try again shortly".into(),
                )
            }
            CatalogError::Internal(message) => Self::Internal(message),
        }
    }
}

impl From<StoreError> for RecommenderError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidInput(message) => Self::InvalidInput(message),
            StoreError::NotIndexed(id) => Self::Internal(format!("vehicle {id} is not indexed")),
            StoreError::Unavailable(message) => {
                tracing::warn!(error = %message, "the vector store is unavailable");
                Self::Unavailable("the vector store is unavailable, try again shortly".into())
            }
            StoreError::Internal(message) => Self::Internal(message),
        }
    }
}

impl RecommenderError {
    /// A failed call to another service: its unavailability or deadline passes on as ours.
    /// The message is for the caller (the gateway shows it): what happened and what to do, not
    /// the transport's error text, which goes to the log.
    pub fn from_dependency(service: &str, status: &tonic::Status) -> Self {
        match status.code() {
            tonic::Code::InvalidArgument => Self::InvalidInput(status.message().to_owned()),
            tonic::Code::Unavailable | tonic::Code::ResourceExhausted => {
                tracing::warn!(service, code = ?status.code(), error = %status.message(), "dependency unavailable");
                Self::Unavailable(format!(
                    "the {service} service is unavailable, try again shortly"
                ))
            }
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                tracing::warn!(service, error = %status.message(), "dependency out of time");
                Self::DeadlineExceeded(format!("the {service} service did not answer in time"))
            }
            _ => Self::Internal(format!("{service} service: {}", status.message())),
        }
    }
}

impl From<RecommenderError> for tonic::Status {
    fn from(error: RecommenderError) -> Self {
        match error {
            RecommenderError::InvalidInput(message) => Self::invalid_argument(message),
            RecommenderError::NotFound(message) => Self::not_found(message),
            RecommenderError::Conflict(message) => Self::already_exists(message),
            RecommenderError::Unavailable(message) => Self::unavailable(message),
            RecommenderError::DeadlineExceeded(message) => Self::deadline_exceeded(message),
            RecommenderError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                Self::internal("internal error")
            }
        }
    }
}
