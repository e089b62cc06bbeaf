//! What can fail at start-up and per request.

use std::path::PathBuf;

/// Why a model could not be loaded; the service refuses to start with this message.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is missing: build the offline models with `scripts/build-models` (or `make models`)"
    )]
    MissingFile { path: PathBuf },
    #[error("{path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("model `{id}` is not in the manifest {path} (known: {known})")]
    UnknownModel {
        id: String,
        path: PathBuf,
        known: String,
    },
    #[error("model `{id}` does not match its manifest entry: {message}")]
    Mismatch { id: String, message: String },
    #[error(
        "cannot load the ONNX Runtime library {path}: {message} (run `scripts/build-models`, which installs it, or set ARAS_ORT_DYLIB_PATH)"
    )]
    Runtime { path: PathBuf, message: String },
    #[error("ONNX Runtime refused model `{id}`: {message}")]
    Session { id: String, message: String },
}

/// Why one inference request failed, named for what the caller can do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InferenceError {
    /// Fix the input.
    #[error("{0}")]
    InvalidInput(String),
    /// Too many requests in flight: retry later.
    #[error("the service is at its limit of {0} concurrent requests")]
    Overloaded(usize),
    /// The model is not ready (loading) or the batcher stopped: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a runtime failure.
    #[error("inference failed: {0}")]
    Internal(String),
}

impl From<InferenceError> for tonic::Status {
    fn from(err: InferenceError) -> Self {
        match err {
            InferenceError::InvalidInput(message) => tonic::Status::invalid_argument(message),
            InferenceError::Overloaded(_) => tonic::Status::resource_exhausted(err.to_string()),
            InferenceError::Unavailable(message) => tonic::Status::unavailable(message),
            InferenceError::Internal(message) => tonic::Status::internal(message),
        }
    }
}
