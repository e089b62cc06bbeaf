//! The consuming loop and its supervisor. A session is one broker connection: Postgres checked,
//! topology declared, prefetch set, deliveries run concurrently. When the broker or Postgres
//! goes away, the session ends, unacknowledged messages return to the queue (the broker does it
//! when the channel closes), and the supervisor opens a new session after a jittered backoff.
//! No message is held while waiting.

use std::sync::Arc;
use std::time::Duration;

use aras_jobs::backoff::Backoff;
use aras_jobs::{JobsError, JobsResult};
use futures_util::StreamExt as _;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::HEALTH_SERVICE;
use crate::deps::Deps;
use crate::process::{Outcome, process_one};

/// Pauses between sessions while a dependency is down: 100 ms doubling to 5 s, jittered.
const RECONNECT: Backoff = Backoff {
    base: Duration::from_millis(100),
    cap: Duration::from_secs(5),
};

/// How often the queue depths are read for `/metrics`.
const DEPTH_INTERVAL: Duration = Duration::from_secs(5);

/// Runs sessions until `stop` turns true; the last one drains before this returns.
pub async fn supervise(deps: Arc<Deps>, health: HealthReporter, mut stop: watch::Receiver<bool>) {
    let mut failures = 0_u32;
    while !*stop.borrow() {
        match session(&deps, &health, &mut stop, &mut failures).await {
            Ok(()) => break,
            Err(error) => {
                health
                    .set_service_status(HEALTH_SERVICE, ServingStatus::NotServing)
                    .await;
                let cause = match error {
                    JobsError::DatabaseUnavailable(_) => "database",
                    JobsError::BrokerUnavailable(_) => "broker",
                    JobsError::KeyReused(_) | JobsError::Internal(_) => "internal",
                };
                metrics::counter!("worker_sessions_ended_total", "cause" => cause).increment(1);
                failures = failures.saturating_add(1);
                let pause = RECONNECT.delay(failures);
                tracing::warn!(%error, retry_in_ms = pause.as_millis(), "not consuming; retrying");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
            }
        }
    }
    health
        .set_service_status(HEALTH_SERVICE, ServingStatus::NotServing)
        .await;
}

/// One connection's worth of consuming. Ok: stopped on request, after draining.
async fn session(
    deps: &Arc<Deps>,
    health: &HealthReporter,
    stop: &mut watch::Receiver<bool>,
    failures: &mut u32,
) -> JobsResult<()> {
    // Without Postgres no job can move: don't take any until it answers.
    deps.database_ready().await?;
    let connection = deps.config.amqp.connect("worker").await?;
    let channel = connection.create_channel().await?;
    // Retries are published on this channel, and must be confirmed before a try is acked.
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    deps.topology.declare(&channel).await?;
    channel
        .basic_qos(deps.config.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            deps.topology.queue().into(),
            format!("aras-worker-{}", uuid::Uuid::new_v4()).into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let depths = tokio::spawn(report_queue_depths(
        connection.create_channel().await?,
        Arc::clone(deps),
    ));
    health
        .set_service_status(HEALTH_SERVICE, ServingStatus::Serving)
        .await;
    tracing::info!(queue = %deps.topology.queue(), prefetch = deps.config.prefetch, "consuming");
    *failures = 0;

    let mut in_flight = JoinSet::new();
    let ended = loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break Ok(()),
            delivery = consumer.next() => match delivery {
                Some(Ok(delivery)) => {
                    metrics::gauge!("worker_jobs_in_flight").increment(1.0);
                    let (deps, channel) = (Arc::clone(deps), channel.clone());
                    in_flight.spawn(async move { process_one(&deps, &channel, delivery).await });
                }
                Some(Err(error)) => break Err(JobsError::from(error)),
                None => break Err(JobsError::BrokerUnavailable("the broker cancelled the consumer".into())),
            },
            Some(done) = in_flight.join_next() => {
                metrics::gauge!("worker_jobs_in_flight").decrement(1.0);
                match done {
                    Ok(Outcome::DatabaseUnavailable) => {
                        break Err(JobsError::DatabaseUnavailable("a job could not reach the job store".into()));
                    }
                    Ok(Outcome::BrokerLost) => {
                        break Err(JobsError::BrokerUnavailable("a job could not settle its message".into()));
                    }
                    Ok(_) => {}
                    // Its message was never settled: closing the channel hands it back.
                    Err(panicked) => break Err(JobsError::Internal(format!("a job task failed: {panicked}"))),
                }
            }
        }
    };

    // Asked to stop: no new deliveries, and running jobs may finish within the drain timeout.
    // A dependency failed: running jobs could not settle anyway, so they stop at once. Either
    // way, closing the channel hands every unacknowledged message back to the queue.
    let drain = if ended.is_ok() {
        let _ = channel
            .basic_cancel(consumer.tag(), BasicCancelOptions::default())
            .await;
        deps.config.drain_timeout
    } else {
        Duration::ZERO
    };
    let drained = tokio::time::timeout(drain, async {
        while in_flight.join_next().await.is_some() {
            metrics::gauge!("worker_jobs_in_flight").decrement(1.0);
        }
    })
    .await;
    if drained.is_err() {
        let left = in_flight.len();
        if ended.is_ok() {
            tracing::warn!(left, "drain timeout: unfinished jobs go back to the queue");
        }
        in_flight.abort_all();
        metrics::gauge!("worker_jobs_in_flight").decrement(left as f64);
    }
    depths.abort();
    let _ = channel.close(200, "worker stopping".into()).await;
    let _ = connection.close(200, "worker stopping".into()).await;
    if ended.is_ok() {
        tracing::info!("stopped consuming");
    }
    ended
}

/// Publishes the depth of the work, retry and dead-letter queues as gauges.
async fn report_queue_depths(channel: lapin::Channel, deps: Arc<Deps>) {
    let topology = &deps.topology;
    let mut queues = vec![
        ("work", topology.queue()),
        ("dead", topology.dead_letter_queue()),
    ];
    queues.extend((1..=topology.max_retries()).map(|n| ("retry", topology.retry_queue(n))));
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    loop {
        let mut retry_total = 0_u32;
        for (kind, name) in &queues {
            let Ok(queue) = channel
                .queue_declare(name.as_str().into(), passive, FieldTable::default())
                .await
            else {
                return;
            };
            if *kind == "retry" {
                retry_total += queue.message_count();
            } else {
                metrics::gauge!("worker_queue_messages", "queue" => *kind)
                    .set(f64::from(queue.message_count()));
            }
        }
        metrics::gauge!("worker_queue_messages", "queue" => "retry").set(f64::from(retry_total));
        tokio::time::sleep(DEPTH_INTERVAL).await;
    }
}
