//! Transformer inference for the sentiment and embedding services, after Hugging Face
//! text-embeddings-inference: a synchronous backend (one ONNX Runtime session, built once), a
//! tokenizer, and a batcher that packs waiting requests up to a token budget on a dedicated
//! thread, off the async runtime, dropping requests whose caller has left.
//!
//! Layout:
//! - [`manifest`]: `models/models.toml`, what each model is (task, labels, lengths, pooling).
//! - [`runtime`]: loading the ONNX Runtime shared library once per process.
//! - [`model`]: a loaded model: files checked, tokenizer, session, forward pass, pooling.
//! - [`batcher`]: the queue, the token-budget batches and the concurrency cap.
//! - [`error`]: start-up ([`LoadError`]) and request ([`InferenceError`]) failures, and the one
//!   mapping of request failures to gRPC statuses.
//! - [`service`]: what the sentiment and embedding services share: settings, text validation,
//!   and serving while the model loads (NOT_SERVING until it is warm).

pub mod batcher;
pub mod error;
pub mod manifest;
pub mod model;
pub mod runtime;
pub mod service;

pub use batcher::{Backend, Batcher, BatcherConfig, Inferred, Row};
pub use error::{InferenceError, LoadError};
pub use manifest::{Manifest, ModelSpec, Pooling, Task};
pub use model::{Encoded, Model};
pub use service::{Engine, InferenceConfig, validate_text};
