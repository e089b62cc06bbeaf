//! Errors of the ranking service and their one mapping to gRPC statuses.

use aras_ranking_core::{InvalidInput, RankingError};

// The consistency ratio travels as metadata too, so the gateway can report it as a field
// rather than only in prose.
use aras_proto::ranking::CONSISTENCY_RATIO_METADATA;

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
        }
    }
}
