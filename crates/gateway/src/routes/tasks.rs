//! Async recommendations: `POST /api/v1/recommendations/async` (one request) and `.../batch`
//! (up to `ARAS_JOBS_MAX_BATCH`) store jobs and answer 202 at once; a worker runs them.
//! `GET /api/v1/tasks/{task_id}` tells where a job stands and, once done, gives the same JSON
//! the synchronous endpoint answers.

use aras_auth::Principal;
use aras_common::correlation::CorrelationId;
use aras_common::problem::{Problem, http_status};
use aras_common::time::rfc3339;
use aras_jobs::store::{IdempotencyKey, Origin};
use aras_jobs::{Job, JobState, NewJob, TaskId};
use aras_proto::recommender::v1 as pb;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use prost::Message as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use super::recommendations::{Answer, RecommendationRequest, RecommendationResponse, StageTimings};
use crate::client::ClientAddress;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::jobs::Accepted;
use crate::state::AppState;

/// The request header that makes a submission idempotent.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on a response that replays the first submission under the same key.
const REPLAYED: &str = "idempotent-replayed";
/// Longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 255;

/// A queued task (the seed's async response).
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskAccepted {
    /// Always `processing`: the task is stored and will run.
    #[schema(example = "processing")]
    status: &'static str,
    #[schema(example = "0b9a2c1e-6c39-4d2a-9a52-3f1f5e0f2d4b")]
    task_id: String,
    #[schema(example = "Recommendation task queued")]
    message: &'static str,
    #[schema(example = "/api/v1/tasks/0b9a2c1e-6c39-4d2a-9a52-3f1f5e0f2d4b")]
    check_status_url: String,
}

/// One task of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskReference {
    task_id: String,
    check_status_url: String,
}

/// The tasks of a batch, one per request, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAccepted {
    #[schema(example = "processing")]
    status: &'static str,
    message: &'static str,
    total: usize,
    tasks: Vec<TaskReference>,
}

/// Where a task stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskStatus {
    task_id: String,
    /// PENDING (stored, queued), STARTED (running), RETRY (a try failed transiently, the next is
    /// scheduled at `next_attempt_at`), SUCCESS (`result` holds the answer) or FAILURE (`error`
    /// says why).
    #[schema(example = "SUCCESS")]
    status: &'static str,
    /// Tries started.
    attempts: u32,
    /// RFC 3339 timestamps.
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    next_attempt_at: Option<String>,
    updated_at: String,
    /// On SUCCESS: exactly what `POST /api/v1/recommendations` answers (`correlation_id` is the
    /// submission's, `processing_time_ms` the run's, `cached` false).
    result: Option<RecommendationResponse>,
    /// On FAILURE, the reason; on RETRY, the transient error being retried.
    error: Option<Problem>,
}

fn status_url(id: TaskId) -> String {
    format!("/api/v1/tasks/{id}")
}

impl TaskStatus {
    fn new(job: Job) -> Result<Self, ApiError> {
        let result = match (&job.state, &job.result) {
            (JobState::Success, Some(bytes)) => {
                let response = pb::RecommendResponse::decode(bytes.as_slice()).map_err(|e| {
                    aras_jobs::JobsError::Internal(format!("stored result of {}: {e}", job.id))
                })?;
                let timings = StageTimings::computed(None, response.timings.as_ref());
                Some(RecommendationResponse::new(
                    Answer::from(response),
                    job.correlation_id.clone(),
                    job.processing_ms.unwrap_or_default(),
                    false,
                    timings,
                ))
            }
            _ => None,
        };
        let error = job.error.map(|error| {
            Problem::new(http_status(error.code), error.message)
                .with_instance(job.correlation_id.clone())
        });
        Ok(Self {
            task_id: job.id.to_string(),
            status: job.state.as_str(),
            attempts: job.attempts,
            created_at: rfc3339(job.created_at),
            started_at: job.started_at.map(rfc3339),
            finished_at: job.finished_at.map(rfc3339),
            next_attempt_at: job.next_attempt_at.map(rfc3339),
            updated_at: rfc3339(job.updated_at),
            result,
            error,
        })
    }
}

/// Validates every request (naming the first bad one in a batch) and turns each into a job.
fn jobs_for(
    requests: &[RecommendationRequest],
    max_review_chars: usize,
    batch: bool,
) -> Result<Vec<NewJob>, ApiError> {
    requests
        .iter()
        .enumerate()
        .map(|(index, request)| {
            let valid = request
                .validate(max_review_chars)
                .map_err(|error| match error {
                    ApiError::InvalidInput(detail) if batch => {
                        ApiError::InvalidInput(format!("[{index}]: {detail}"))
                    }
                    other => other,
                })?;
            Ok(NewJob {
                id: TaskId::new_random(),
                request: request.to_grpc(&valid).encode_to_vec(),
            })
        })
        .collect()
}

/// The submission's `Idempotency-Key`, fingerprinted with what it submits.
fn idempotency_key(
    headers: &HeaderMap,
    route: Route,
    jobs: &[NewJob],
    state: &AppState,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| {
            !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::InvalidInput(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
        })?;
    let mut hash = Sha256::new();
    hash.update(match route {
        Route::Single => b"async".as_slice(),
        Route::Batch => b"async/batch".as_slice(),
    });
    for job in jobs {
        hash.update((job.request.len() as u64).to_le_bytes());
        hash.update(&job.request);
    }
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        request_hash: hash.finalize().to_vec(),
        ttl: state.jobs.idempotency_ttl,
    }))
}

/// Which submission route: part of the idempotency fingerprint, and a batch names the index of
/// a refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Single,
    Batch,
}

/// Validates, stores and publishes the requests of one submission.
async fn accept(
    state: &AppState,
    principal: &Principal,
    correlation_id: &CorrelationId,
    headers: &HeaderMap,
    route: Route,
    requests: &[RecommendationRequest],
) -> Result<Accepted, ApiError> {
    let jobs = jobs_for(requests, state.max_review_chars, route == Route::Batch)?;
    let key = idempotency_key(headers, route, &jobs, state)?;
    let origin = Origin {
        correlation_id: correlation_id.to_string(),
        traceparent: aras_common::telemetry::current_trace_context().remove("traceparent"),
    };
    Ok(state
        .jobs
        .submit(&principal.tenant, &jobs, &origin, key.as_ref())
        .await?)
}

fn message(queued: bool) -> &'static str {
    if queued {
        "Recommendation task queued"
    } else {
        "Recommendation task stored; it is queued as soon as the message broker is reachable"
    }
}

fn accepted(body: impl Serialize, location: Option<String>, replayed: bool) -> Response {
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// Queues a recommendation: the same request as `POST /api/v1/recommendations`, answered 202
/// once the job is stored. Poll `check_status_url` for its result. With `Idempotency-Key`, the
/// same key and body answer the same task (header `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/api/v1/recommendations/async", tag = "recommendations",
    request_body = RecommendationRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes the submission idempotent for 24 h (1 to 255 visible ASCII characters)")),
    responses(
        (status = 202, description = "Stored and queued (or queued as soon as the broker is back)", body = TaskAccepted),
        (status = 422, description = "The request breaks a rule (as for the synchronous endpoint), or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The job store is down: nothing was stored", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::RateLimited,
    ))]
pub async fn submit(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RecommendationRequest>,
) -> Result<Response, ApiError> {
    let accepted_jobs = accept(
        &state,
        &principal,
        &correlation_id,
        &headers,
        Route::Single,
        std::slice::from_ref(&body),
    )
    .await?;
    let id = *accepted_jobs
        .submitted
        .ids
        .first()
        .expect("one request makes one task");
    let body = TaskAccepted {
        status: "processing",
        task_id: id.to_string(),
        message: message(accepted_jobs.queued),
        check_status_url: status_url(id),
    };
    Ok(accepted(
        body,
        Some(status_url(id)),
        accepted_jobs.submitted.replayed,
    ))
}

/// 1 to 1,000 recommendation requests (`ARAS_JOBS_MAX_BATCH`); the schema of
/// `POST /api/v1/recommendations/async/batch`.
#[derive(ToSchema)]
#[schema(min_items = 1, max_items = 1000)]
#[allow(dead_code)] // a schema only: the handler reads the array itself
pub struct RecommendationBatch(Vec<RecommendationRequest>);

/// Queues up to `ARAS_JOBS_MAX_BATCH` recommendations in one call: one task per request, in
/// order, all stored or none. `Idempotency-Key` applies to the whole batch.
#[utoipa::path(post, path = "/api/v1/recommendations/async/batch", tag = "recommendations",
    request_body = RecommendationBatch,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes the submission idempotent for 24 h (1 to 255 visible ASCII characters)")),
    responses(
        (status = 202, description = "Every task stored and queued", body = BatchAccepted),
        (status = 422, description = "Empty batch, batch over the limit, or an invalid request (its index is named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The job store is down: nothing was stored", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::RateLimited,
    ))]
pub async fn submit_batch(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    headers: HeaderMap,
    ApiJson(requests): ApiJson<Vec<RecommendationRequest>>,
) -> Result<Response, ApiError> {
    if requests.is_empty() {
        return Err(ApiError::InvalidInput(
            "the batch is empty: send at least one request".into(),
        ));
    }
    if requests.len() > state.jobs.max_batch {
        return Err(ApiError::InvalidInput(format!(
            "the batch holds {} requests, more than the maximum of {}",
            requests.len(),
            state.jobs.max_batch
        )));
    }
    if let Some(limiter) = &state.rate_limiter {
        // The middleware counted the call; each further job counts too.
        limiter
            .charge(&principal, address, requests.len() - 1)
            .await?;
    }
    let accepted_jobs = accept(
        &state,
        &principal,
        &correlation_id,
        &headers,
        Route::Batch,
        &requests,
    )
    .await?;
    let tasks: Vec<TaskReference> = accepted_jobs
        .submitted
        .ids
        .iter()
        .map(|id| TaskReference {
            task_id: id.to_string(),
            check_status_url: status_url(*id),
        })
        .collect();
    let body = BatchAccepted {
        status: "processing",
        message: message(accepted_jobs.queued),
        total: tasks.len(),
        tasks,
    };
    Ok(accepted(body, None, accepted_jobs.submitted.replayed))
}

/// Where an async recommendation stands, and its result once done.
#[utoipa::path(get, path = "/api/v1/tasks/{task_id}", tag = "recommendations",
    params(("task_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The task id (a UUID)")),
    responses(
        (status = 200, description = "The task's state, tries, timestamps, and its result or error", body = TaskStatus),
        (status = 404, description = "No such task", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The task id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The job store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::RateLimited,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(task_id): Path<String>,
) -> Result<Json<TaskStatus>, ApiError> {
    let id: TaskId = task_id
        .parse()
        .map_err(|e: aras_jobs::model::MalformedTaskId| ApiError::InvalidInput(e.to_string()))?;
    let job = state
        .jobs
        .get(&principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no task {id}")))?;
    Ok(Json(TaskStatus::new(job)?))
}
