//! The inference queue. Requests wait in one queue; a dedicated thread per model lane (session)
//! packs what is waiting into batches of at most `max_batch_size` texts and `max_batch_tokens`
//! padded tokens, runs the model, and answers each caller; lanes run in parallel. Callers that
//! left are dropped before the model runs; a concurrency cap answers "overloaded" at once
//! instead of queueing without bound.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot};

use crate::error::InferenceError;
use crate::model::{Encoded, Model};

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
    pub queue: Duration,
    pub inference: Duration,
    pub batch_size: usize,
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
    queue: Arc<Queue>,
    permits: Arc<Semaphore>,
    max_concurrent_requests: usize,
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.queue
            .state
            .lock()
            .expect("no lane panics while holding the queue")
            .closed = true;
        self.queue.changed.notify_all();
    }
}

impl Batcher {
    /// Starts one inference thread per lane of `model`. `metric_prefix` names the service in
    /// metrics.
    pub fn start(model: &Arc<Model>, config: BatcherConfig, metric_prefix: &'static str) -> Self {
        let queue = Arc::new(Queue::default());
        for lane in 0..model.lanes() {
            let (model, queue) = (Arc::clone(model), Arc::clone(&queue));
            std::thread::Builder::new()
                .name(format!("{metric_prefix}-inference-{lane}"))
                .spawn(move || run_batches(&model, lane, config, &queue, metric_prefix))
                .expect("spawning an inference thread succeeds at start-up");
        }
        Self {
            queue,
            permits: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            max_concurrent_requests: config.max_concurrent_requests,
        }
    }

    /// Runs the model on every text of one request; results in input order.
    pub async fn infer(&self, texts: Vec<Encoded>) -> Result<Vec<Row>, InferenceError> {
        let _permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| InferenceError::Overloaded(self.max_concurrent_requests))?;
        let enqueued = Instant::now();
        let (jobs, answers): (Vec<Job>, Vec<_>) = texts
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
            .map_err(|_| InferenceError::Unavailable("an inference thread has stopped".into()))?
            .pending
            .extend(jobs);
        self.queue.changed.notify_all();
        let mut rows = Vec::with_capacity(answers.len());
        for answer in answers {
            rows.push(answer.await.map_err(|_| {
                InferenceError::Internal("the inference thread dropped a request".into())
            })??);
        }
        Ok(rows)
    }
}

fn run_batches(
    model: &Model,
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

fn run_batch(model: &Model, lane: usize, batch: Vec<Job>, prefix: &'static str) {
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
}
