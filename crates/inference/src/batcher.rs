//! The inference queue. A request is admitted (or refused at once: a concurrency cap answers
//! "overloaded" instead of queueing without bound), then tokenised off the async runtime, then
//! waits in one queue; a dedicated thread per model lane (session) packs what is waiting into
//! batches of at most `max_batch_size` texts and `max_batch_tokens` padded tokens, runs the
//! model, and answers each caller; lanes run in parallel. Callers that left are dropped before
//! the model runs. A lane that dies (a panic in the runtime) is counted, so the service can
//! report NOT_SERVING instead of answering from a queue nobody empties.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot, watch};

use crate::error::InferenceError;
use crate::model::{Encoded, Model};

/// What the lanes run: one model's tokenizer and forward pass.
pub trait Backend: Send + Sync + 'static {
    /// Forward passes that can run at once (one thread each).
    fn lanes(&self) -> usize;
    fn encode(&self, text: &str) -> Result<Encoded, InferenceError>;
    /// One output vector per input, in input order, computed on session `lane`.
    fn forward(&self, lane: usize, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>, InferenceError>;
}

impl Backend for Model {
    fn lanes(&self) -> usize {
        Model::lanes(self)
    }

    fn encode(&self, text: &str) -> Result<Encoded, InferenceError> {
        Model::encode(self, text)
    }

    fn forward(&self, lane: usize, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>, InferenceError> {
        Model::forward(self, lane, batch)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct BatcherConfig {
    /// Most padded tokens (texts × longest text) in one batch.
    pub max_batch_tokens: usize,
    /// Most texts in one batch.
    pub max_batch_size: usize,
    /// Most requests in flight; one more is refused with [`InferenceError::Overloaded`].
    pub max_concurrent_requests: usize,
}

/// One text's result and where its time went.
#[derive(Debug, Clone)]
pub struct Row {
    pub values: Vec<f32>,
    /// Tokens the model saw, and whether the text was cut to the model's maximum length.
    pub tokens: usize,
    pub truncated: bool,
    pub queue: Duration,
    pub inference: Duration,
    pub batch_size: usize,
}

/// A request's rows, in input order, and the time its tokenisation took.
#[derive(Debug)]
pub struct Inferred {
    pub rows: Vec<Row>,
    pub tokenize: Duration,
}

struct Job {
    encoded: Encoded,
    enqueued: Instant,
    respond: oneshot::Sender<Result<Row, InferenceError>>,
}

/// Jobs waiting for a lane, and whether the handle is gone.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<Job>,
    closed: bool,
}

/// Handle to the queue; dropping it stops the lanes once the queue is drained.
pub struct Batcher {
    backend: Arc<dyn Backend>,
    queue: Arc<Queue>,
    permits: Arc<Semaphore>,
    max_concurrent_requests: usize,
    lanes_alive: watch::Receiver<usize>,
}

impl Drop for Batcher {
    fn drop(&mut self) {
        if let Ok(mut state) = self.queue.state.lock() {
            state.closed = true;
        }
        self.queue.changed.notify_all();
    }
}

/// Held by a lane's thread: when the thread ends, normally or by a panic, the lane stops
/// counting, and the last lane to go answers whatever still waits.
struct LaneGuard {
    lane: usize,
    alive: Arc<watch::Sender<usize>>,
    queue: Arc<Queue>,
}

impl Drop for LaneGuard {
    fn drop(&mut self) {
        let mut left = 0;
        self.alive.send_modify(|alive| {
            *alive -= 1;
            left = *alive;
        });
        if std::thread::panicking() {
            tracing::error!(
                lane = self.lane,
                lanes_left = left,
                "an inference thread died"
            );
        }
        if left == 0 {
            let pending = match self.queue.state.lock() {
                Ok(mut state) => std::mem::take(&mut state.pending),
                Err(poisoned) => std::mem::take(&mut poisoned.into_inner().pending),
            };
            for job in pending {
                let _ = job.respond.send(Err(lanes_gone()));
            }
        }
    }
}

fn lanes_gone() -> InferenceError {
    InferenceError::Unavailable("the inference threads have stopped: restart the service".into())
}

impl Batcher {
    /// Starts one inference thread per lane of `backend`. `metric_prefix` names the service in
    /// metrics and thread names.
    pub fn start(
        backend: Arc<dyn Backend>,
        config: BatcherConfig,
        metric_prefix: &'static str,
    ) -> Self {
        let queue = Arc::new(Queue::default());
        let lanes = backend.lanes();
        let (alive, lanes_alive) = watch::channel(lanes);
        let alive = Arc::new(alive);
        for lane in 0..lanes {
            let guard = LaneGuard {
                lane,
                alive: Arc::clone(&alive),
                queue: Arc::clone(&queue),
            };
            let backend = Arc::clone(&backend);
            std::thread::Builder::new()
                .name(format!("{metric_prefix}-inference-{lane}"))
                .spawn(move || {
                    run_batches(backend.as_ref(), lane, config, &guard.queue, metric_prefix);
                    drop(guard);
                })
                .expect("spawning an inference thread succeeds at start-up");
        }
        Self {
            backend,
            queue,
            permits: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            max_concurrent_requests: config.max_concurrent_requests,
            lanes_alive,
        }
    }

    /// Lanes started, and a receiver of how many still run.
    pub fn lanes(&self) -> (usize, watch::Receiver<usize>) {
        (self.backend.lanes(), self.lanes_alive.clone())
    }

    /// Runs the model on every text of one request; rows in input order. Admission comes
    /// first, so an overloaded service refuses before spending anything on the request.
    pub async fn infer(&self, texts: Vec<String>) -> Result<Inferred, InferenceError> {
        let _permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| InferenceError::Overloaded(self.max_concurrent_requests))?;
        if *self.lanes_alive.borrow() == 0 {
            return Err(lanes_gone());
        }
        let started = Instant::now();
        let backend = Arc::clone(&self.backend);
        // Up to 64 texts of 5,000 characters: seconds of a runtime worker otherwise.
        let encoded = tokio::task::spawn_blocking(move || {
            texts
                .iter()
                .map(|text| backend.encode(text))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| InferenceError::Internal(format!("tokenisation stopped: {e}")))??;
        let tokenize = started.elapsed();
        let enqueued = Instant::now();
        let (jobs, answers): (Vec<Job>, Vec<_>) = encoded
            .into_iter()
            .map(|encoded| {
                let (respond, answer) = oneshot::channel();
                (
                    Job {
                        encoded,
                        enqueued,
                        respond,
                    },
                    answer,
                )
            })
            .unzip();
        // All of a request's texts at once, so a lane can batch them together.
        self.queue
            .state
            .lock()
            .map_err(|_| lanes_gone())?
            .pending
            .extend(jobs);
        self.queue.changed.notify_all();
        let mut rows = Vec::with_capacity(answers.len());
        for answer in answers {
            // A dropped answer means its lane died mid-batch.
            rows.push(answer.await.map_err(|_| lanes_gone())??);
        }
        Ok(Inferred { rows, tokenize })
    }
}

fn run_batches(
    model: &dyn Backend,
    lane: usize,
    config: BatcherConfig,
    queue: &Queue,
    prefix: &'static str,
) {
    loop {
        let batch = {
            let Ok(mut state) = queue.state.lock() else {
                return;
            };
            while state.pending.is_empty() && !state.closed {
                state = match queue.changed.wait(state) {
                    Ok(state) => state,
                    Err(_) => return,
                };
            }
            if state.pending.is_empty() {
                return; // closed and drained
            }
            let before = state.pending.len();
            state.pending.retain(|job| !job.respond.is_closed());
            let abandoned = before - state.pending.len();
            if abandoned > 0 {
                metrics::counter!(format!("{prefix}_abandoned_requests_total"))
                    .increment(abandoned as u64);
            }
            take_batch(&mut state.pending, config)
        };
        if !batch.is_empty() {
            run_batch(model, lane, batch, prefix);
        }
    }
}

/// The longest prefix of the queue that fits the budget (always at least one text, so a text
/// longer than the token budget still runs, alone).
fn take_batch(pending: &mut VecDeque<Job>, config: BatcherConfig) -> Vec<Job> {
    let mut batch = Vec::new();
    let mut longest = 0;
    while let Some(job) = pending.front() {
        let grown_longest = longest.max(job.encoded.len());
        let fits = batch.len() < config.max_batch_size
            && grown_longest * (batch.len() + 1) <= config.max_batch_tokens;
        if !batch.is_empty() && !fits {
            break;
        }
        longest = grown_longest;
        batch.push(pending.pop_front().expect("front() was Some"));
    }
    batch
}

fn run_batch(model: &dyn Backend, lane: usize, batch: Vec<Job>, prefix: &'static str) {
    let started = Instant::now();
    let inputs: Vec<&Encoded> = batch.iter().map(|job| &job.encoded).collect();
    let padded_tokens = inputs.iter().map(|e| e.len()).max().unwrap_or(0) * inputs.len();
    let result = model.forward(lane, &inputs);
    let inference = started.elapsed();
    let batch_size = batch.len();
    metrics::histogram!(format!("{prefix}_batch_size")).record(batch_size as f64);
    metrics::histogram!(format!("{prefix}_batch_tokens")).record(padded_tokens as f64);
    metrics::histogram!(format!("{prefix}_inference_duration_seconds"))
        .record(inference.as_secs_f64());
    match result {
        Ok(rows) => {
            for (job, values) in batch.into_iter().zip(rows) {
                let queue = started.duration_since(job.enqueued);
                metrics::histogram!(format!("{prefix}_queue_duration_seconds"))
                    .record(queue.as_secs_f64());
                // The caller may have left meanwhile; nothing to do then.
                let _ = job.respond.send(Ok(Row {
                    values,
                    tokens: job.encoded.len(),
                    truncated: job.encoded.truncated,
                    queue,
                    inference,
                    batch_size,
                }));
            }
        }
        Err(error) => {
            tracing::error!(%error, batch_size, "inference failed");
            for job in batch {
                let _ = job.respond.send(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(len: usize) -> (Job, oneshot::Receiver<Result<Row, InferenceError>>) {
        let (respond, answer) = oneshot::channel();
        (
            Job {
                encoded: Encoded {
                    ids: vec![0; len],
                    truncated: false,
                },
                enqueued: Instant::now(),
                respond,
            },
            answer,
        )
    }

    fn config(tokens: usize, size: usize) -> BatcherConfig {
        BatcherConfig {
            max_batch_tokens: tokens,
            max_batch_size: size,
            max_concurrent_requests: 8,
        }
    }

    #[test]
    fn batches_respect_the_token_budget_and_size() {
        let mut answers = Vec::new();
        let mut pending: VecDeque<Job> = [4, 4, 10, 2, 2]
            .into_iter()
            .map(|l| {
                let (j, a) = job(l);
                answers.push(a);
                j
            })
            .collect();
        // 4+4 fits 16 padded tokens; adding the 10-token text would need 30.
        let lens = |b: &[Job]| b.iter().map(|j| j.encoded.len()).collect::<Vec<_>>();
        assert_eq!(lens(&take_batch(&mut pending, config(16, 8))), [4, 4]);
        // A text longer than the budget runs alone.
        assert_eq!(lens(&take_batch(&mut pending, config(8, 8))), [10]);
        assert_eq!(lens(&take_batch(&mut pending, config(100, 1))), [2]);
        assert_eq!(lens(&take_batch(&mut pending, config(100, 8))), [2]);
        assert!(take_batch(&mut pending, config(100, 8)).is_empty());
    }

    /// A backend whose forward pass waits for the test's go, and panics on the text "panic".
    struct Fake {
        lanes: usize,
        encoded: std::sync::atomic::AtomicUsize,
        go: Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl Backend for Fake {
        fn lanes(&self) -> usize {
            self.lanes
        }

        fn encode(&self, text: &str) -> Result<Encoded, InferenceError> {
            self.encoded
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Encoded {
                ids: text.bytes().map(i64::from).collect(),
                truncated: false,
            })
        }

        fn forward(
            &self,
            _lane: usize,
            batch: &[&Encoded],
        ) -> Result<Vec<Vec<f32>>, InferenceError> {
            self.go.lock().unwrap().recv().unwrap();
            assert!(
                batch.iter().all(|e| e.ids != b"panic".map(i64::from)),
                "the fake runtime crashed"
            );
            Ok(batch.iter().map(|e| vec![e.len() as f32]).collect())
        }
    }

    fn fake(
        lanes: usize,
        max_concurrent_requests: usize,
    ) -> (Arc<Fake>, Batcher, std::sync::mpsc::Sender<()>) {
        let (go, wait) = std::sync::mpsc::channel();
        let backend = Arc::new(Fake {
            lanes,
            encoded: 0.into(),
            go: Mutex::new(wait),
        });
        let batcher = Batcher::start(
            Arc::clone(&backend) as Arc<dyn Backend>,
            BatcherConfig {
                max_batch_tokens: 1024,
                max_batch_size: 8,
                max_concurrent_requests,
            },
            "test",
        );
        (backend, batcher, go)
    }

    #[tokio::test]
    async fn the_excess_is_refused_before_it_is_tokenised() {
        let (backend, batcher, go) = fake(1, 1);
        let batcher = Arc::new(batcher);
        let admitted = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.infer(vec!["abc".into()]).await }
        });
        // The admitted request is tokenised, then blocks in the forward pass.
        tokio::time::timeout(Duration::from_secs(5), async {
            while backend.encoded.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the admitted request is tokenised");
        let refused = batcher.infer(vec!["x".repeat(5000); 64]).await;
        assert!(
            matches!(refused, Err(InferenceError::Overloaded(1))),
            "{refused:?}"
        );
        assert_eq!(backend.encoded.load(std::sync::atomic::Ordering::SeqCst), 1);
        go.send(()).unwrap();
        let rows = admitted.await.unwrap().unwrap().rows;
        assert_eq!((rows.len(), rows[0].tokens, rows[0].values[0]), (1, 3, 3.0));
    }

    #[tokio::test]
    async fn a_dead_lane_is_counted_and_the_last_one_answers_unavailable() {
        let (_backend, batcher, go) = fake(1, 8);
        let (lanes, mut alive) = batcher.lanes();
        assert_eq!((lanes, *alive.borrow()), (1, 1));
        go.send(()).unwrap();
        let crashed = batcher.infer(vec!["panic".into()]).await;
        assert!(
            matches!(&crashed, Err(InferenceError::Unavailable(m)) if m.contains("restart")),
            "{crashed:?}"
        );
        tokio::time::timeout(Duration::from_secs(5), alive.wait_for(|&n| n == 0))
            .await
            .expect("the lane count drops within 5 s")
            .unwrap();
        let after = batcher.infer(vec!["fine".into()]).await;
        assert!(
            matches!(&after, Err(InferenceError::Unavailable(_))),
            "{after:?}"
        );
    }

    #[tokio::test]
    async fn a_dead_lane_turns_the_health_not_serving() {
        use tonic_health::pb::health_server::Health as _;
        use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
        let reporter = tonic_health::server::HealthReporter::new();
        let health = Arc::new(tonic_health::server::HealthService::from_health_reporter(
            reporter.clone(),
        ));
        let status = |service: &'static str| {
            let health = Arc::clone(&health);
            async move {
                health
                    .check(tonic::Request::new(HealthCheckRequest {
                        service: service.into(),
                    }))
                    .await
                    .unwrap()
                    .into_inner()
                    .status()
            }
        };
        let (_backend, batcher, go) = fake(2, 8);
        reporter
            .set_service_status("aras.test.v1.Test", tonic_health::ServingStatus::Serving)
            .await;
        let monitor = tokio::spawn(crate::service::not_serving_when_a_lane_dies(
            reporter,
            "aras.test.v1.Test",
            batcher.lanes(),
        ));
        assert_eq!(status("aras.test.v1.Test").await, ServingStatus::Serving);
        go.send(()).unwrap();
        let _ = batcher.infer(vec!["panic".into()]).await;
        tokio::time::timeout(Duration::from_secs(5), monitor)
            .await
            .expect("the health flips within 5 s")
            .unwrap();
        assert_eq!(status("aras.test.v1.Test").await, ServingStatus::NotServing);
        assert_eq!(status("").await, ServingStatus::NotServing);
    }
}
