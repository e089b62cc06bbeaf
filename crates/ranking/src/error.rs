//! Errors of the ranking service and their one mapping to gRPC statuses.

use aras_ranking_core::{InvalidInput, RankingError};

// The consistency ratio travels as metadata too, so the gateway can report it as a field
// rather than only in prose.
use aras_proto::ranking::CONSISTENCY_RATIO_METADATA;

use crate::fleet::StoreError;

/// What went wrong, named for what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum RankingServiceError {
    /// The request breaks a rule; the message names the field. Fix the request.
    #[error("{0}")]
    InvalidInput(String),
    /// The supplied AHP matrix is too inconsistent to use. Revise the judgements.
    #[error("{message}")]
    InconsistentMatrix {
        message: String,
        consistency_ratio: f64,
    },
    /// No courier of the tenant has this id. Register it first.
    #[error("no courier {0:?} is registered")]
    UnknownCourier(String),
    /// Live couriers cannot be read or written now (Redis unreachable, or this replica's
    /// index not in sync with it). Try again; rankings of given candidates still work.
    #[error("{0}")]
    FleetUnavailable(String),
    /// A bug, or Redis holding what ARAS never writes (a foreign writer).
    #[error("{0}")]
    Internal(String),
}

impl From<InvalidInput> for RankingServiceError {
    fn from(err: InvalidInput) -> Self {
        Self::InvalidInput(err.to_string())
    }
}

impl From<RankingError> for RankingServiceError {
    fn from(err: RankingError) -> Self {
        match err {
            RankingError::InvalidInput(e) => e.into(),
            RankingError::InconsistentMatrix { consistency_ratio } => Self::InconsistentMatrix {
                message: err.to_string(),
                consistency_ratio,
            },
        }
    }
}

impl From<StoreError> for RankingServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Redis(error) => {
                // The client's error names hosts and internals: the log keeps it.
                tracing::warn!(%error, "the fleet's Redis failed a command");
                Self::FleetUnavailable(
                    "live couriers are unavailable: the fleet's Redis does not answer".into(),
                )
            }
            StoreError::Malformed(_) => Self::Internal(err.to_string()),
        }
    }
}

impl From<RankingServiceError> for tonic::Status {
    fn from(err: RankingServiceError) -> Self {
        match err {
            RankingServiceError::InvalidInput(message) => tonic::Status::invalid_argument(message),
            RankingServiceError::InconsistentMatrix {
                message,
                consistency_ratio,
            } => {
                let mut status = tonic::Status::invalid_argument(message);
                if let Ok(value) = consistency_ratio.to_string().parse() {
                    status
                        .metadata_mut()
                        .insert(CONSISTENCY_RATIO_METADATA, value);
                }
                status
            }
            RankingServiceError::UnknownCourier(_) => tonic::Status::not_found(err.to_string()),
            RankingServiceError::FleetUnavailable(message) => tonic::Status::unavailable(message),
            RankingServiceError::Internal(message) => {
                tracing::error!(%message, "internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}
