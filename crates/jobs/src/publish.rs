//! Publishing jobs with publisher confirms, and the transactional outbox that makes a stored job
//! reach the broker even when the broker was down at submission.
//!
//! A submission commits its jobs and their outbox rows together, then publishes them at once
//! (`publish_pending` with their ids). Whatever could not be published (broker down, a crash
//! between commit and publish) stays in the outbox, and the relay publishes it later. An outbox
//! row is deleted only in the transaction that locked it, after the broker confirmed its
//! message; rows are claimed with `SKIP LOCKED`, so gateways never publish the same row at the
//! same time. A crash after the confirm but before the delete publishes a job twice: workers
//! are idempotent on the task id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aras_catalog::Pool;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{Channel, Connection};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::amqp::{AmqpConfig, Outgoing, RECOMMENDATIONS, Topology};
use crate::error::{JobsError, JobsResult};
use crate::model::TaskId;

/// Longest wait for the broker to confirm a set of messages.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes `messages` to `routing_key` on the jobs exchange of `channel` (in confirm mode) and
/// waits for the broker's confirms. Returns the tasks whose messages the broker took
/// (acknowledged and routed); an error means the channel broke and nothing is known.
pub async fn publish_confirmed(
    channel: &Channel,
    topology: &Topology,
    routing_key: &str,
    messages: &[(Outgoing, Option<Duration>)],
) -> JobsResult<Vec<TaskId>> {
    let publish_all = async {
        let mut confirms = Vec::with_capacity(messages.len());
        for (message, expiration) in messages {
            // Mandatory: a message no queue takes comes back instead of vanishing.
            let confirm = channel
                .basic_publish(
                    topology.exchange().into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &message.body,
                    message.properties(*expiration),
                )
                .await?;
            confirms.push((message.task_id, confirm));
        }
        let mut taken = Vec::with_capacity(confirms.len());
        for (task_id, confirm) in confirms {
            let confirmation = confirm.await?;
            if confirmation.is_ack() && confirmation.take_message().is_none() {
                taken.push(task_id);
            } else {
                tracing::warn!(%task_id, "the broker refused or could not route a job message");
            }
        }
        Ok::<_, JobsError>(taken)
    };
    tokio::time::timeout(CONFIRM_TIMEOUT, publish_all)
        .await
        .map_err(|_| {
            JobsError::BrokerUnavailable(format!("no confirms within {CONFIRM_TIMEOUT:?}"))
        })?
}

/// A channel in confirm mode on a connection of its own, opened on first use and again after
/// a failure. While the broker is down, attempts are spaced out (`retry_after`), so callers
/// learn it at once instead of each waiting for a connection timeout.
pub struct Publisher {
    config: AmqpConfig,
    topology: Topology,
    who: &'static str,
    state: Mutex<PublisherState>,
}

#[derive(Default)]
struct PublisherState {
    open: Option<(Connection, Channel)>,
    /// No new connection attempt before this instant (the broker was just found down).
    retry_after: Option<Instant>,
}

/// Pause between connection attempts while the broker is down.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

impl Publisher {
    pub fn new(config: &AmqpConfig, who: &'static str) -> Self {
        Self {
            topology: config.topology(),
            config: config.clone(),
            who,
            state: Mutex::new(PublisherState::default()),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    async fn channel(&self) -> JobsResult<Channel> {
        let mut state = self.state.lock().await;
        if let Some((connection, channel)) = &state.open
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        state.open = None;
        if state.retry_after.is_some_and(|t| Instant::now() < t) {
            return Err(JobsError::BrokerUnavailable(
                "the broker was unreachable moments ago".into(),
            ));
        }
        // Boxed: lapin's futures are large, and would bloat every future awaiting this one.
        let opened = Box::pin(async {
            let connection = self.config.connect(self.who).await?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            self.topology.declare(&channel).await?;
            Ok::<_, JobsError>((connection, channel))
        })
        .await;
        match opened {
            Ok((connection, channel)) => {
                tracing::info!(url = %crate::amqp::redact(&self.config.url), "connected to the broker");
                state.retry_after = None;
                state.open = Some((connection, channel.clone()));
                Ok(channel)
            }
            Err(error) => {
                state.retry_after = Some(Instant::now() + RECONNECT_PAUSE);
                Err(error)
            }
        }
    }

    /// Publishes first tries of jobs; returns the tasks the broker confirmed.
    pub async fn publish(&self, messages: &[Outgoing]) -> JobsResult<Vec<TaskId>> {
        let channel = self.channel().await?;
        let messages: Vec<_> = messages.iter().map(|m| (m.clone(), None)).collect();
        let result = publish_confirmed(&channel, &self.topology, RECOMMENDATIONS, &messages).await;
        if result.is_err() {
            // Whatever broke, the next call starts from a fresh connection.
            self.state.lock().await.open = None;
        }
        result
    }

    /// Whether the broker accepts a connection now (health reports).
    pub async fn check(&self) -> JobsResult<()> {
        self.channel().await.map(|_| ())
    }
}

/// Most outbox rows published in one transaction.
pub const OUTBOX_BATCH: i64 = 1_000;

/// Publishes outbox rows (`only` these tasks, or the oldest) and deletes those the broker
/// confirmed; returns how many were published. Rows another publisher holds are skipped.
pub async fn publish_pending(
    pool: &Pool,
    publisher: &Publisher,
    only: Option<&[TaskId]>,
) -> JobsResult<usize> {
    let only: Option<Vec<Uuid>> = only.map(|ids| ids.iter().map(TaskId::as_uuid).collect());
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let rows = transaction
        .query(
            "SELECT o.job_id, j.request, j.correlation_id, j.traceparent
             FROM job_outbox o JOIN jobs j ON j.id = o.job_id
             WHERE $1::uuid[] IS NULL OR o.job_id = ANY($1)
             ORDER BY o.created_at LIMIT $2
             FOR UPDATE OF o SKIP LOCKED",
            &[&only, &OUTBOX_BATCH],
        )
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let messages = rows
        .iter()
        .map(|row| {
            let trace_context = row
                .try_get::<_, Option<String>>(3)?
                .map(|traceparent| HashMap::from([("traceparent".to_owned(), traceparent)]))
                .unwrap_or_default();
            Outgoing::first_try(
                TaskId::from(row.try_get::<_, Uuid>(0)?),
                row.try_get::<_, &[u8]>(1)?,
                row.try_get(2)?,
                trace_context,
            )
        })
        .collect::<JobsResult<Vec<_>>>()?;
    let published = publisher.publish(&messages).await?;
    let published_ids: Vec<Uuid> = published.iter().map(TaskId::as_uuid).collect();
    transaction
        .execute(
            "DELETE FROM job_outbox WHERE job_id = ANY($1)",
            &[&published_ids],
        )
        .await?;
    transaction.commit().await?;
    Ok(published.len())
}

/// Outbox rows waiting for the broker.
pub async fn outbox_len(pool: &Pool) -> JobsResult<u64> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT count(*) FROM job_outbox", &[])
        .await?;
    Ok(row.try_get::<_, i64>(0)?.unsigned_abs())
}
