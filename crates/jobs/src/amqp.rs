//! RabbitMQ as the job path uses it: settings, the queue topology (declared idempotently by
//! whoever needs it), and the message format (protobuf body, metadata in properties and
//! headers). docs/jobs.md draws the topology and says why its queues are quorum queues.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aras_common::correlation::{self, CorrelationId};
use aras_proto::jobs::v1::RecommendationJob;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use prost::Message as _;

use crate::error::{JobsError, JobsResult};
use crate::model::TaskId;

#[derive(Debug, Clone, clap::Args)]
pub struct AmqpConfig {
    /// RabbitMQ URL (async recommendation jobs).
    #[arg(
        id = "amqp_url",
        long = "amqp-url",
        env = "ARAS_AMQP_URL",
        hide_env_values = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub url: String,

    /// Prefix of every exchange and queue name, so several deployments (or test runs) can
    /// share one broker.
    #[arg(
        id = "amqp_prefix",
        long = "amqp-prefix",
        env = "ARAS_AMQP_PREFIX",
        default_value = "aras"
    )]
    pub prefix: String,

    /// Retry queues, one per retry of a job (tries = 1 + this). Gateway and workers must agree.
    #[arg(
        long = "job-max-retries",
        env = "ARAS_JOB_MAX_RETRIES",
        default_value_t = 3
    )]
    pub max_retries: u32,
}

/// Longest wait for the broker to accept a connection; a dead broker must not stall callers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl AmqpConfig {
    /// A connection named after `who` (visible in the broker's management tools).
    pub async fn connect(&self, who: &str) -> JobsResult<Connection> {
        let properties =
            ConnectionProperties::default().with_connection_name(format!("aras-{who}").into());
        // Boxed: lapin's connection future is large, and would bloat every future awaiting it.
        let connect = Box::pin(Connection::connect(&self.url, properties));
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                JobsError::BrokerUnavailable(format!(
                    "no connection to {} within {CONNECT_TIMEOUT:?}",
                    redact(&self.url)
                ))
            })?
            .map_err(JobsError::from)
    }

    pub fn topology(&self) -> Topology {
        Topology {
            prefix: self.prefix.clone(),
            max_retries: self.max_retries,
        }
    }
}

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Routing key of recommendation jobs on the jobs exchange.
pub const RECOMMENDATIONS: &str = "recommendations";

/// A message redelivered this many times without an outcome has crashed workers that often:
/// the worker fails its job instead of trying again.
pub const POISON_DELIVERIES: u32 = 5;

/// The broker's own guard above [`POISON_DELIVERIES`]: it dead-letters a message delivered
/// this often even if no worker ever got to record an outcome.
const DELIVERY_LIMIT: i64 = 10;

/// Names and declarations of the exchanges and queues.
///
/// ```text
/// {p}.jobs (direct) ──recommendations──▶ {p}.recommendations ──▶ workers
///      ▲                                        │ reject (permanent, exhausted, malformed)
///      │ TTL expiry                             ▼
/// {p}.recommendations.retry.N ◀── worker   {p}.jobs.dead ──▶ {p}.recommendations.dead
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    max_retries: u32,
}

impl Topology {
    pub fn exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.jobs.dead", self.prefix)
    }

    /// The work queue workers consume.
    pub fn queue(&self) -> String {
        format!("{}.{RECOMMENDATIONS}", self.prefix)
    }

    /// Where messages of failed jobs end (dead-letter queue).
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.{RECOMMENDATIONS}.dead", self.prefix)
    }

    /// Routing key (and queue name suffix) of the delay before retry `retry` (1-based).
    pub fn retry_routing_key(retry: u32) -> String {
        format!("{RECOMMENDATIONS}.retry.{retry}")
    }

    pub fn retry_queue(&self, retry: u32) -> String {
        format!("{}.{}", self.prefix, Self::retry_routing_key(retry))
    }

    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Declares everything, idempotently: the same declarations from every process. A queue
    /// that exists with other arguments makes the broker close the channel (PRECONDITION_FAILED),
    /// which surfaces here as an error naming it.
    pub async fn declare(&self, channel: &Channel) -> JobsResult<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        for exchange in [self.exchange(), self.dead_letter_exchange()] {
            channel
                .exchange_declare(
                    exchange.into(),
                    ExchangeKind::Direct,
                    durable,
                    FieldTable::default(),
                )
                .await?;
        }
        let mut work = quorum_arguments();
        work.insert(
            "x-dead-letter-exchange".into(),
            long_string(&self.dead_letter_exchange()),
        );
        work.insert(
            "x-dead-letter-routing-key".into(),
            long_string(RECOMMENDATIONS),
        );
        work.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(DELIVERY_LIMIT),
        );
        self.queue_bound(
            channel,
            &self.queue(),
            &self.exchange(),
            RECOMMENDATIONS,
            work,
        )
        .await?;
        self.queue_bound(
            channel,
            &self.dead_letter_queue(),
            &self.dead_letter_exchange(),
            RECOMMENDATIONS,
            quorum_arguments(),
        )
        .await?;
        for retry in 1..=self.max_retries {
            // No consumer: a message waits out its TTL, then the broker dead-letters it back
            // to the work queue. One queue per retry keeps similar delays together, since a
            // queue expires messages only from its head.
            let mut arguments = quorum_arguments();
            arguments.insert(
                "x-dead-letter-exchange".into(),
                long_string(&self.exchange()),
            );
            arguments.insert(
                "x-dead-letter-routing-key".into(),
                long_string(RECOMMENDATIONS),
            );
            let key = Self::retry_routing_key(retry);
            self.queue_bound(
                channel,
                &self.retry_queue(retry),
                &self.exchange(),
                &key,
                arguments,
            )
            .await?;
        }
        Ok(())
    }

    async fn queue_bound(
        &self,
        channel: &Channel,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> JobsResult<()> {
        channel
            .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
            .await
            .map_err(|e| JobsError::BrokerUnavailable(format!("declaring queue {queue}: {e}")))?;
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }
}

/// Replicated, durable queues whose dead-lettering is at-least-once (it needs `reject-publish`
/// overflow): a job moving to a retry queue or the DLQ is never dropped on the way.
fn quorum_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), long_string("quorum"));
    arguments.insert(
        "x-dead-letter-strategy".into(),
        long_string("at-least-once"),
    );
    arguments.insert("x-overflow".into(), long_string("reject-publish"));
    arguments
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Header carrying the try number (1 for the first).
pub const ATTEMPT_HEADER: &str = "x-aras-attempt";
/// Header RabbitMQ's quorum queues set on redeliveries.
const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";
/// Content type of job bodies.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// AMQP `type` property of a recommendation job.
pub const MESSAGE_TYPE: &str = "aras.jobs.v1.RecommendationJob";

/// A job message as published: the body and what travels in its properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub task_id: TaskId,
    pub body: Vec<u8>,
    pub correlation_id: String,
    /// W3C trace context headers (`traceparent`, `tracestate`).
    pub trace_context: HashMap<String, String>,
    pub attempt: u32,
}

impl Outgoing {
    /// The first try of a job whose request (protobuf `RecommendRequest`) was stored.
    pub fn first_try(
        task_id: TaskId,
        request: &[u8],
        correlation_id: String,
        trace_context: HashMap<String, String>,
    ) -> JobsResult<Self> {
        let request = aras_proto::recommender::v1::RecommendRequest::decode(request)
            .map_err(|e| JobsError::Internal(format!("stored request of job {task_id}: {e}")))?;
        let job = RecommendationJob {
            task_id: task_id.to_string(),
            request: Some(request),
        };
        Ok(Self {
            task_id,
            body: job.encode_to_vec(),
            correlation_id,
            trace_context,
            attempt: 1,
        })
    }

    /// Persistent, typed, identified by the task, stamped, with correlation id, trace context
    /// and try number in headers; `expiration` (a per-message TTL) for retries.
    pub fn properties(&self, expiration: Option<Duration>) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            correlation::HEADER.into(),
            long_string(&self.correlation_id),
        );
        for (key, value) in &self.trace_context {
            if let Ok(key) = ShortString::try_new(key.as_str()) {
                headers.insert(key, long_string(value));
            }
        }
        headers.insert(
            ATTEMPT_HEADER.into(),
            AMQPValue::LongLongInt(i64::from(self.attempt)),
        );
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(CONTENT_TYPE.into())
            .with_type(MESSAGE_TYPE.into())
            .with_message_id(self.task_id.to_string().into())
            .with_timestamp(now)
            .with_headers(headers);
        match expiration {
            Some(ttl) => properties.with_expiration(ttl.as_millis().max(1).to_string().into()),
            None => properties,
        }
    }
}

/// A delivered job message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub job: RecommendationJob,
    pub task_id: TaskId,
    pub attempt: u32,
    pub correlation_id: CorrelationId,
    pub trace_context: HashMap<String, String>,
    /// Times the broker delivered it before (crashed or disconnected consumers).
    pub redeliveries: u32,
}

/// Why a delivered message cannot be a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the body is not a RecommendationJob: {0}")]
    Body(String),
    #[error("the body has no request")]
    NoRequest,
    #[error("{0}")]
    TaskId(String),
}

impl Incoming {
    pub fn decode(data: &[u8], properties: &BasicProperties) -> Result<Self, Malformed> {
        let job = RecommendationJob::decode(data).map_err(|e| Malformed::Body(e.to_string()))?;
        if job.request.is_none() {
            return Err(Malformed::NoRequest);
        }
        let task_id = job
            .task_id
            .parse::<TaskId>()
            .map_err(|e| Malformed::TaskId(e.to_string()))?;
        let empty = FieldTable::default();
        let headers = properties.headers().as_ref().unwrap_or(&empty);
        let text = |key: &str| match headers.inner().get(key) {
            Some(AMQPValue::LongString(value)) => Some(value.to_string()),
            Some(AMQPValue::ShortString(value)) => Some(value.to_string()),
            _ => None,
        };
        let number = |key: &str| match headers.inner().get(key) {
            Some(value) => value
                .as_long_long_int()
                .or_else(|| value.as_long_int().map(i64::from))
                .and_then(|n| u32::try_from(n).ok()),
            None => None,
        };
        let trace_context = ["traceparent", "tracestate"]
            .into_iter()
            .filter_map(|key| text(key).map(|value| (key.to_owned(), value)))
            .collect();
        Ok(Self {
            task_id,
            attempt: number(ATTEMPT_HEADER).unwrap_or(1).max(1),
            correlation_id: CorrelationId::from_header(text(correlation::HEADER).as_deref()),
            trace_context,
            redeliveries: number(DELIVERY_COUNT_HEADER).unwrap_or(0),
            job,
        })
    }

    /// The same job as a message for try `attempt`, with the same metadata.
    pub fn next_try(&self, attempt: u32) -> Outgoing {
        Outgoing {
            task_id: self.task_id,
            body: self.job.encode_to_vec(),
            correlation_id: self.correlation_id.to_string(),
            trace_context: self.trace_context.clone(),
            attempt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aras_proto::recommender::v1::RecommendRequest;

    fn request() -> Vec<u8> {
        RecommendRequest {
            product_id: 7,
            client_id: 9,
            review: "Très bien".into(),
            ..RecommendRequest::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn a_published_job_decodes_with_its_metadata() {
        let id = TaskId::new_random();
        let context = HashMap::from([(
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        )]);
        let outgoing =
            Outgoing::first_try(id, &request(), "abc-123".into(), context.clone()).unwrap();
        let properties = outgoing.properties(None);
        assert_eq!(properties.delivery_mode(), &Some(2), "persistent");
        assert_eq!(
            properties.message_id().as_ref().map(ShortString::as_str),
            Some(id.to_string().as_str())
        );
        let incoming = Incoming::decode(&outgoing.body, &properties).unwrap();
        assert_eq!(incoming.task_id, id);
        assert_eq!(incoming.attempt, 1);
        assert_eq!(incoming.correlation_id.as_str(), "abc-123");
        assert_eq!(incoming.trace_context, context);
        assert_eq!(incoming.redeliveries, 0);
        assert_eq!(incoming.job.request.as_ref().unwrap().product_id, 7);

        let retry = incoming.next_try(2);
        let properties = retry.properties(Some(Duration::from_millis(1500)));
        assert_eq!(
            properties.expiration().as_ref().map(ShortString::as_str),
            Some("1500")
        );
        let again = Incoming::decode(&retry.body, &properties).unwrap();
        assert_eq!((again.task_id, again.attempt), (id, 2));
    }

    #[test]
    fn malformed_bodies_are_named() {
        let properties = BasicProperties::default();
        assert!(matches!(
            Incoming::decode(b"\xff\xff\xff", &properties),
            Err(Malformed::Body(_))
        ));
        let no_request = RecommendationJob {
            task_id: TaskId::new_random().to_string(),
            request: None,
        };
        assert_eq!(
            Incoming::decode(&no_request.encode_to_vec(), &properties),
            Err(Malformed::NoRequest)
        );
        let bad_id = RecommendationJob {
            task_id: "nope".into(),
            request: Some(RecommendRequest::default()),
        };
        assert!(matches!(
            Incoming::decode(&bad_id.encode_to_vec(), &properties),
            Err(Malformed::TaskId(_))
        ));
    }

    #[test]
    fn names_carry_the_prefix() {
        let topology = AmqpConfig {
            url: String::new(),
            prefix: "test-1".into(),
            max_retries: 3,
        }
        .topology();
        assert_eq!(topology.exchange(), "test-1.jobs");
        assert_eq!(topology.queue(), "test-1.recommendations");
        assert_eq!(topology.dead_letter_queue(), "test-1.recommendations.dead");
        assert_eq!(topology.retry_queue(2), "test-1.recommendations.retry.2");
    }

    #[test]
    fn urls_lose_their_password_in_logs() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1"), "amqp://127.0.0.1");
    }
}
