//! One delivery, start to finish: decode, claim the try in Postgres, run it on the recommender,
//! record the outcome, then settle the message (ack, dead-letter, or hand back).
//!
//! The order is what makes the path safe: an outcome is recorded before its message is
//! settled, so a crash in between only redelivers a message whose job already says what
//! happened; a retry is queued (confirmed) before its try is acknowledged, so no crash loses
//! the next try.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aras_common::grpc;
use aras_domain::tenant::Tenant;
use aras_jobs::amqp::{Incoming, POISON_DELIVERIES, Topology};
use aras_jobs::publish::publish_confirmed;
use aras_jobs::store::{self, Start};
use aras_jobs::{JobError, JobState, JobsError, TaskId};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use prost::Message as _;
use tracing::Instrument as _;

use crate::deps::Deps;

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Result and SUCCESS stored; acknowledged.
    Succeeded,
    /// FAILURE stored; the message went to the dead-letter queue. `exhausted`: every retry failed
    /// (else the error was permanent).
    Failed { exhausted: bool },
    /// A transient failure: try `next_attempt` is queued to run after `delay`; acknowledged.
    Retried { next_attempt: u32, delay: Duration },
    /// The job had already finished (a redelivery or a duplicate): nothing changed. Acknowledged,
    /// or dead-lettered when the job had failed (its message belongs in the DLQ).
    AlreadyFinished(JobState),
    /// An older try of a job that moved on: acknowledged, nothing changed.
    Stale,
    /// Not a job message, or a job that was never stored: dead-lettered.
    Rejected(String),
    /// Postgres is unreachable: the message went back to the queue, and the worker stops
    /// consuming until Postgres answers again.
    DatabaseUnavailable,
    /// The broker connection broke on the way: the broker redelivers the message.
    BrokerLost,
}

impl Outcome {
    /// The `outcome` label of the worker's metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Succeeded => "success",
            Self::Failed { .. } => "failure",
            Self::Retried { .. } => "retry",
            Self::AlreadyFinished(_) => "duplicate",
            Self::Stale => "stale",
            Self::Rejected(_) => "rejected",
            Self::DatabaseUnavailable => "requeued",
            Self::BrokerLost => "broker_lost",
        }
    }
}

/// gRPC codes worth another try: the recommender (or what it calls) was down, late or busy.
/// Everything else would fail the same way again.
pub fn is_transient(code: tonic::Code) -> bool {
    use tonic::Code;
    match code {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Cancelled
        | Code::Unknown => true,
        Code::Ok
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss
        | Code::Unauthenticated => false,
    }
}

enum Settle {
    Ack,
    /// To the dead-letter queue (the work queue's dead-letter exchange).
    DeadLetter,
    /// Back to the queue, for another worker or a later session.
    Requeue,
}

async fn settle(delivery: &Delivery, how: Settle, outcome: Outcome) -> Outcome {
    let acker = &delivery.acker;
    let settled = match how {
        Settle::Ack => acker.ack(BasicAckOptions::default()).await,
        Settle::DeadLetter => acker.reject(BasicRejectOptions { requeue: false }).await,
        Settle::Requeue => {
            acker
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await
        }
    };
    match settled {
        Ok(_) => outcome,
        Err(error) => {
            tracing::warn!(%error, "could not settle the message; the broker will redeliver it");
            Outcome::BrokerLost
        }
    }
}

/// Runs one delivered job message to an outcome and settles it. Never panics on bad input:
/// whatever arrives ends acknowledged, dead-lettered or handed back.
pub async fn process_one(
    deps: &Arc<Deps>,
    channel: &lapin::Channel,
    delivery: Delivery,
) -> Outcome {
    let started = Instant::now();
    let incoming = match Incoming::decode(&delivery.data, &delivery.properties) {
        Ok(incoming) => incoming,
        Err(malformed) => {
            tracing::warn!(error = %malformed, "malformed job message: dead-lettered");
            let outcome = Outcome::Rejected(malformed.to_string());
            return record(
                settle(&delivery, Settle::DeadLetter, outcome).await,
                started,
            );
        }
    };
    let span = tracing::info_span!(
        "job",
        task_id = %incoming.task_id,
        correlation_id = %incoming.correlation_id,
        attempt = incoming.attempt,
    );
    aras_common::telemetry::set_parent_from_map(&span, &incoming.trace_context);
    let outcome = run(deps, channel, &delivery, &incoming)
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            outcome = outcome.label(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "job message settled"
        );
    });
    record(outcome, started)
}

fn record(outcome: Outcome, started: Instant) -> Outcome {
    let label = outcome.label();
    metrics::counter!("worker_jobs_total", "outcome" => label).increment(1);
    metrics::histogram!("worker_job_duration_seconds", "outcome" => label)
        .record(started.elapsed().as_secs_f64());
    outcome
}

async fn run(
    deps: &Deps,
    channel: &lapin::Channel,
    delivery: &Delivery,
    incoming: &Incoming,
) -> Outcome {
    let id = incoming.task_id;
    if incoming.redeliveries >= POISON_DELIVERIES {
        let error = JobError {
            code: tonic::Code::Aborted,
            message: format!(
                "the job was delivered {} times without finishing: it stops the workers that run it",
                incoming.redeliveries + 1
            ),
        };
        tracing::error!(error = %error.message, "poison job: failing it");
        return fail(deps, delivery, id, &error, false).await;
    }

    let tenant = match store::start(&deps.pool, id, incoming.attempt).await {
        Ok(Start::Run { queued_for, tenant }) => {
            if let Some(waited) = queued_for {
                metrics::histogram!("worker_job_queue_wait_seconds").record(waited.as_secs_f64());
            }
            tenant
        }
        Ok(Start::Finished(state)) => {
            let how = if state == JobState::Success {
                Settle::Ack
            } else {
                Settle::DeadLetter
            };
            return settle(delivery, how, Outcome::AlreadyFinished(state)).await;
        }
        Ok(Start::Stale) => return settle(delivery, Settle::Ack, Outcome::Stale).await,
        Ok(Start::Unknown) => {
            tracing::warn!("a message for a job that was never stored: dead-lettered");
            let outcome = Outcome::Rejected(format!("no job {id}"));
            return settle(delivery, Settle::DeadLetter, outcome).await;
        }
        Err(error) => return store_failed(delivery, &error).await,
    };
    let Ok(tenant) = Tenant::parse(&tenant) else {
        let error = JobError {
            code: tonic::Code::Internal,
            message: "the job's stored tenant is malformed".into(),
        };
        return fail(deps, delivery, id, &error, false).await;
    };

    let mut request = incoming
        .job
        .request
        .clone()
        .expect("Incoming::decode refuses a job without a request");
    // The recommender stores the review once per key: a retried job adds no second one.
    request.idempotency_key = id.to_string();
    let call_started = Instant::now();
    let mut message = grpc::request(request, &incoming.correlation_id, deps.config.rpc_timeout);
    aras_common::tenant::attach(&mut message, &tenant);
    let status = match deps.recommender.clone().recommend(message).await {
        Ok(response) => {
            let result = response.into_inner().encode_to_vec();
            return match store::succeed(&deps.pool, id, &result, call_started.elapsed()).await {
                Ok(true) => settle(delivery, Settle::Ack, Outcome::Succeeded).await,
                // A duplicate try finished first; this result is not stored.
                Ok(false) => {
                    settle(
                        delivery,
                        Settle::Ack,
                        Outcome::AlreadyFinished(JobState::Success),
                    )
                    .await
                }
                Err(error) => store_failed(delivery, &error).await,
            };
        }
        Err(status) => status,
    };

    let code = status.code();
    if !is_transient(code) {
        let error = JobError {
            code,
            message: client_message(&status),
        };
        tracing::info!(?code, error = %error.message, "the job failed for good");
        return fail(deps, delivery, id, &error, false).await;
    }
    let retry = incoming.attempt;
    if retry > deps.topology.max_retries() {
        let error = JobError {
            code,
            message: format!(
                "gave up after {} tries: {}",
                incoming.attempt,
                client_message(&status)
            ),
        };
        tracing::warn!(?code, error = %error.message, "the job's retries are exhausted");
        return fail(deps, delivery, id, &error, true).await;
    }
    schedule_retry(deps, channel, delivery, incoming, &status, retry).await
}

/// Queues try `retry + 1` after a jittered delay (on the delay queue of `retry`), records
/// RETRY, then acknowledges this try.
async fn schedule_retry(
    deps: &Deps,
    channel: &lapin::Channel,
    delivery: &Delivery,
    incoming: &Incoming,
    status: &tonic::Status,
    retry: u32,
) -> Outcome {
    let delay = deps.backoff.delay(retry);
    let next = incoming.next_try(retry + 1);
    let routing_key = Topology::retry_routing_key(retry);
    match publish_confirmed(
        channel,
        &deps.topology,
        &routing_key,
        &[(next, Some(delay))],
    )
    .await
    {
        Ok(taken) if taken.len() == 1 => {}
        Ok(_) => {
            tracing::warn!("the broker refused the retry message: handing the try back");
            return settle(delivery, Settle::Requeue, Outcome::BrokerLost).await;
        }
        Err(error) => {
            tracing::warn!(%error, "could not queue the retry");
            return Outcome::BrokerLost;
        }
    }
    metrics::counter!("worker_job_retries_total", "retry" => retry.to_string()).increment(1);
    let error = JobError {
        code: status.code(),
        message: client_message(status),
    };
    // The queued retry carries the job on even if this record is lost to a database outage.
    if let Err(error) = store::schedule_retry(
        &deps.pool,
        incoming.task_id,
        incoming.attempt,
        &error,
        SystemTime::now() + delay,
    )
    .await
    {
        tracing::warn!(%error, "could not record RETRY; the retry is queued anyway");
    }
    tracing::info!(code = ?status.code(), delay_ms = delay.as_millis(), "transient failure: retry queued");
    settle(
        delivery,
        Settle::Ack,
        Outcome::Retried {
            next_attempt: retry + 1,
            delay,
        },
    )
    .await
}

async fn fail(
    deps: &Deps,
    delivery: &Delivery,
    task_id: TaskId,
    error: &JobError,
    exhausted: bool,
) -> Outcome {
    match store::fail(&deps.pool, task_id, error).await {
        Ok(_) => settle(delivery, Settle::DeadLetter, Outcome::Failed { exhausted }).await,
        Err(error) => store_failed(delivery, &error).await,
    }
}

/// The job store failed: with Postgres down the message goes back to the queue (and the worker
/// pauses); any other error is a bug that would repeat, so the message is dead-lettered.
async fn store_failed(delivery: &Delivery, error: &JobsError) -> Outcome {
    match error {
        JobsError::DatabaseUnavailable(_) => {
            tracing::warn!(%error, "job store unreachable: message handed back");
            settle(delivery, Settle::Requeue, Outcome::DatabaseUnavailable).await
        }
        JobsError::BrokerUnavailable(_) | JobsError::KeyReused(_) | JobsError::Internal(_) => {
            tracing::error!(%error, "job store error: message dead-lettered");
            settle(
                delivery,
                Settle::DeadLetter,
                Outcome::Rejected(error.to_string()),
            )
            .await
        }
    }
}

/// What the client reads in the task's `error`: the recommender's own words for a request it
/// refused, never internal details.
fn client_message(status: &tonic::Status) -> String {
    use tonic::Code;
    match status.code() {
        Code::Internal | Code::DataLoss => "internal error in the recommender".to_owned(),
        _ => status.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_late_or_busy_is_transient_and_a_refused_request_is_not() {
        use tonic::Code;
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
        ] {
            assert!(is_transient(code), "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::NotFound,
            Code::FailedPrecondition,
            Code::Internal,
            Code::Unimplemented,
        ] {
            assert!(!is_transient(code), "{code:?}");
        }
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let internal = tonic::Status::internal("connection pool at 10.0.0.3 exhausted");
        assert_eq!(
            client_message(&internal),
            "internal error in the recommender"
        );
        let refused = tonic::Status::not_found("vehicle 999 not found");
        assert_eq!(client_message(&refused), "vehicle 999 not found");
    }
}
