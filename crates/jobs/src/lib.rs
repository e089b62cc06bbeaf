//! Async recommendation jobs, the parts the gateway (which accepts them) and the worker (which
//! runs them) share: the job model and its state machine, the job store in Postgres with its
//! transactional outbox, the RabbitMQ topology and message format, publishing with confirms,
//! and the retry backoff. docs/jobs.md tells the whole path and its guarantees.
//!
//! Layout:
//! - [`model`]: task ids, job states (PENDING, STARTED, RETRY, SUCCESS, FAILURE), the stored job.
//! - [`store`]: Postgres: submission (jobs + outbox + idempotency key), reads, state transitions.
//! - [`amqp`]: broker settings, the topology, the message format (protobuf body, headers).
//! - [`publish`]: publishing with confirms, the reconnecting publisher, the outbox relay step.
//! - [`backoff`]: exponential backoff with jitter.
//! - [`JobsError`]: what can go wrong, named for what a caller can do.

pub mod amqp;
pub mod backoff;
mod error;
pub mod model;
pub mod publish;
pub mod store;

pub use error::{JobsError, JobsResult};
pub use model::{Job, JobError, JobState, NewJob, TaskId};
