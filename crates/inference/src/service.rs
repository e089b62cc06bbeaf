//! What the sentiment and embedding services share.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tokio::net::TcpListener;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use aras_proto::common::v1::StageTimings;

use crate::batcher::{Batcher, BatcherConfig, Inferred, Row};
use crate::error::{InferenceError, LoadError};
use crate::manifest::{Manifest, Task};
use crate::model::Model;
use crate::runtime;

/// Model and batching settings of an inference service.
#[derive(Debug, Clone, clap::Args)]
pub struct InferenceConfig {
    /// Directory holding `models.toml` and one directory per model.
    #[arg(long, env = "ARAS_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,

    /// ONNX Runtime shared library [default: $ARAS_CACHE_DIR/lib/libonnxruntime.so, installed by scripts/build-models].
    #[arg(long, env = "ARAS_ORT_DYLIB_PATH")]
    pub ort_library: Option<PathBuf>,

    /// ONNX Runtime intra-op threads; 0 = the number of CPUs.
    #[arg(long, env = "ARAS_INFERENCE_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// Most padded tokens (texts × longest text) in one batch.
    #[arg(long, env = "ARAS_MAX_BATCH_TOKENS", default_value_t = 8192)]
    pub max_batch_tokens: usize,

    /// Most texts in one batch.
    #[arg(long, env = "ARAS_MAX_BATCH_SIZE", default_value_t = 32)]
    pub max_batch_size: usize,

    /// Most requests in flight; more are refused at once with RESOURCE_EXHAUSTED.
    #[arg(long, env = "ARAS_MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    pub max_concurrent_requests: usize,

    /// Longest text accepted, in characters (longer: INVALID_ARGUMENT, never silent truncation).
    #[arg(long, env = "ARAS_MAX_TEXT_CHARS", default_value_t = 5000)]
    pub max_text_chars: usize,

    /// Most texts in one request.
    #[arg(long, env = "ARAS_MAX_TEXTS_PER_REQUEST", default_value_t = 64)]
    pub max_texts: usize,
}

impl InferenceConfig {
    fn threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }

    /// Checks a request's texts: at least one, at most `max_texts`, each valid.
    pub fn validate_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<(), InferenceError> {
        if texts.is_empty() {
            return Err(InferenceError::InvalidInput(
                "texts: at least one text is required".into(),
            ));
        }
        if texts.len() > self.max_texts {
            return Err(InferenceError::InvalidInput(format!(
                "texts: {} texts, more than the maximum of {}",
                texts.len(),
                self.max_texts
            )));
        }
        for (i, text) in texts.iter().enumerate() {
            validate_text(text.as_ref(), self.max_text_chars)
                .map_err(|e| InferenceError::InvalidInput(format!("texts[{i}]: {e}")))?;
        }
        Ok(())
    }
}

/// A text the models accept (`aras_domain::text`: not blank, at most `max_chars` characters,
/// no control characters other than tab and line breaks).
pub fn validate_text(text: &str, max_chars: usize) -> Result<(), InferenceError> {
    aras_domain::text::check(text, max_chars)
        .map_err(|e| InferenceError::InvalidInput(e.to_string()))
}

/// Where a request's time went. Its texts may have run in several batches: the slowest counts.
pub fn stage_timings(inferred: &Inferred) -> StageTimings {
    let rows = &inferred.rows;
    let slowest_ms = |stage: fn(&Row) -> std::time::Duration| {
        rows.iter()
            .map(|r| stage(r).as_secs_f64() * 1e3)
            .fold(0.0, f64::max)
    };
    StageTimings {
        tokenize_ms: inferred.tokenize.as_secs_f64() * 1e3,
        queue_ms: slowest_ms(|r| r.queue),
        inference_ms: slowest_ms(|r| r.inference),
        batch_size: rows
            .iter()
            .map(|r| u32::try_from(r.batch_size).unwrap_or(u32::MAX))
            .max()
            .unwrap_or(0),
    }
}

/// A loaded, warm model and its batcher.
pub struct Engine {
    pub model: Arc<Model>,
    pub batcher: Batcher,
}

/// Where a service finds its engine once loaded.
pub type EngineSlot = Arc<OnceLock<Engine>>;

/// The engine, or UNAVAILABLE while the model loads.
pub fn engine(slot: &EngineSlot) -> Result<&Engine, InferenceError> {
    slot.get()
        .ok_or_else(|| InferenceError::Unavailable("the model is still loading".into()))
}

/// What an inference service is; the rest (loading, batching, health, serving) is shared.
#[derive(Debug, Clone, Copy)]
pub struct ServiceKind {
    /// In metric names (`sentiment_…`), thread names and logs.
    pub name: &'static str,
    pub task: Task,
    /// The gRPC service it serves, whose health it reports.
    pub grpc_service: &'static str,
}

/// Serves an inference service on `listener` until `shutdown` resolves: `register` adds its
/// gRPC service, given the slot its engine fills once loaded. The port answers at once; health
/// is NOT_SERVING until model `model` is loaded and warm. A model that fails to load stops the
/// server and is returned as the error, naming the file at fault.
pub async fn serve(
    kind: ServiceKind,
    model: &str,
    config: &InferenceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    register: impl FnOnce(&mut RoutesBuilder, EngineSlot),
) -> anyhow::Result<()> {
    let (health, mut routes) = aras_common::grpc::base_routes(&[kind.grpc_service]);
    let slot = EngineSlot::default();
    register(&mut routes, Arc::clone(&slot));
    tracing::info!(addr = %listener.local_addr()?, model, "{} service listening", kind.name);
    let load = load_engine(config, model, kind.task, kind.name);
    serve_with_model(kind, listener, health, routes, slot, load, shutdown).await
}

/// Loads model `id` for `task` as the manifest declares it, off the async runtime.
async fn load_engine(
    config: &InferenceConfig,
    id: &str,
    task: Task,
    metric_prefix: &'static str,
) -> Result<Engine, LoadError> {
    let config = config.clone();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || {
        let manifest_path = config.models_dir.join("models.toml");
        let manifest = Manifest::load(&manifest_path)?;
        let spec = manifest.get(&id, task, &manifest_path)?.clone();
        let library = config.ort_library.clone().unwrap_or_else(runtime::default_library_path);
        let environment = runtime::init(&library)?;
        let started = std::time::Instant::now();
        let max_batch_size = spec.max_batch_size.map_or(config.max_batch_size, |m| m.min(config.max_batch_size));
        // The thread budget as one session of that many threads when the model batches; as
        // single-threaded sessions running side by side when it takes one text per pass (a
        // batch of one leaves a second thread little to do).
        let (lanes, threads) = if max_batch_size == 1 { (config.threads(), 1) } else { (1, config.threads()) };
        let model = Arc::new(Model::load(&config.models_dir.join(&id), spec, &environment, lanes, threads)?);
        tracing::info!(model = %id, lanes, threads, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "model loaded and warmed up");
        let batcher = Batcher::start(
            Arc::clone(&model) as Arc<dyn crate::batcher::Backend>,
            BatcherConfig {
                max_batch_tokens: config.max_batch_tokens,
                max_batch_size,
                max_concurrent_requests: config.max_concurrent_requests,
            },
            metric_prefix,
        );
        Ok(Engine { model, batcher })
    })
    .await
    .expect("model loading does not panic")
}

/// Serves `routes` right away with the health of the service NOT_SERVING, loads the engine,
/// then reports SERVING.
async fn serve_with_model(
    kind: ServiceKind,
    listener: TcpListener,
    health: HealthReporter,
    routes: RoutesBuilder,
    slot: EngineSlot,
    load: impl Future<Output = Result<Engine, LoadError>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ServiceKind {
        name: metric_prefix,
        grpc_service,
        ..
    } = kind;
    set_health(&health, grpc_service, ServingStatus::NotServing).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {}
            _ = stopped => {}
        }
    };
    let server = tokio::spawn(aras_common::grpc::serve(
        metric_prefix,
        listener,
        routes.routes(),
        shutdown,
    ));
    match load.await {
        Ok(engine) => {
            let lanes = engine.batcher.lanes();
            let _ = slot.set(engine);
            set_health(&health, grpc_service, ServingStatus::Serving).await;
            tokio::spawn(not_serving_when_a_lane_dies(health, grpc_service, lanes));
            tracing::info!(service = grpc_service, "serving");
            server.await??;
            Ok(())
        }
        Err(error) => {
            let _ = stop.send(());
            let _ = server.await;
            Err(anyhow::Error::new(error).context(format!("{grpc_service} cannot start")))
        }
    }
}

/// The service's health, under its name and the server's (`""`): a probe of either sees the
/// same answer.
async fn set_health(health: &HealthReporter, grpc_service: &str, status: ServingStatus) {
    health.set_service_status(grpc_service, status).await;
    health.set_service_status("", status).await;
}

/// Reports NOT_SERVING for good once an inference thread has died: the service answers with
/// fewer lanes (or none) until it is restarted, which is what the orchestrator should do.
pub async fn not_serving_when_a_lane_dies(
    health: HealthReporter,
    grpc_service: &'static str,
    (lanes, mut alive): (usize, tokio::sync::watch::Receiver<usize>),
) {
    if alive.wait_for(|&running| running < lanes).await.is_ok() {
        set_health(&health, grpc_service, ServingStatus::NotServing).await;
        tracing::error!(
            service = grpc_service,
            lanes,
            running = *alive.borrow(),
            "an inference thread died: reporting NOT_SERVING until restarted"
        );
    }
}
