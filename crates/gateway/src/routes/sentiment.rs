//! `/api/v1/sentiment`: review sentiment over the sentiment service.

use std::collections::BTreeMap;

use aras_common::correlation::CorrelationId;
use aras_common::problem::Problem;
use aras_proto::sentiment::v1 as pb;
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// 1 to 64 reviews (`ARAS_SENTIMENT_MAX_BATCH`), scored together; the schema of
/// `POST /api/v1/sentiment/batch`.
#[derive(ToSchema)]
#[schema(min_items = 1, max_items = 64)]
#[allow(dead_code)] // a schema only: the handler reads the array itself
pub struct SentimentBatch(Vec<AnalyzeRequest>);

/// A review to score. The ids are echoed, so a batch can be matched to its reviews.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    #[schema(schema_with = crate::schema::review, example = "Excellent véhicule, très confortable et fiable!")]
    commentaire: String,
    /// Echoed.
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    #[schema(example = 123)]
    product_id: Option<i64>,
    /// Echoed.
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    #[schema(example = 456)]
    client_id: Option<i64>,
    /// Echoed.
    #[schema(example = "vehicle")]
    product_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyzeResponse {
    /// In [-1, 1].
    #[schema(example = 0.92)]
    sentiment_score: f64,
    /// `positive` (score > 0.2), `negative` (score < -0.2) or `neutral`.
    #[schema(example = "positive")]
    sentiment_label: String,
    /// The largest class probability.
    confidence: f64,
    /// By the model's own labels.
    probabilities: BTreeMap<String, f64>,
    /// The model that scored the text.
    model: String,
    /// Whether the text was cut to the model's maximum length.
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_type: Option<String>,
}

impl AnalyzeResponse {
    fn new(request: AnalyzeRequest, result: pb::SentimentResult, model: &str) -> Self {
        Self {
            sentiment_score: result.score,
            sentiment_label: result.label,
            confidence: result.confidence,
            probabilities: result.probabilities.into_iter().collect(),
            model: model.to_owned(),
            truncated: result.truncated,
            product_id: request.product_id,
            client_id: request.client_id,
            product_type: request.product_type,
        }
    }
}

fn upstream(status: tonic::Status) -> ApiError {
    ApiError::upstream("sentiment", status)
}

/// Scores one review.
#[utoipa::path(post, path = "/api/v1/sentiment/analyze", tag = "sentiment",
    request_body = AnalyzeRequest,
    responses(
        (status = 200, description = "The review's sentiment", body = AnalyzeResponse),
        (status = 422, description = "Empty text, text over the character limit, control characters", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::BackendFailures,
    ))]
pub async fn analyze(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    ApiJson(body): ApiJson<AnalyzeRequest>,
) -> Result<Json<AnalyzeResponse>, ApiError> {
    let message = pb::AnalyzeRequest {
        text: body.commentaire.clone(),
    };
    let response = state
        .sentiment
        .clone()
        .analyze(state.request(message, &correlation_id))
        .await
        .map_err(upstream)?
        .into_inner();
    let result = response
        .result
        .ok_or_else(|| upstream(tonic::Status::internal("no result")))?;
    Ok(Json(AnalyzeResponse::new(body, result, &response.model)))
}

/// Scores several reviews in one call (at most `ARAS_SENTIMENT_MAX_BATCH`); results in the
/// same order. The service batches them together.
#[utoipa::path(post, path = "/api/v1/sentiment/batch", tag = "sentiment",
    request_body = SentimentBatch,
    responses(
        (status = 200, description = "One result per review, in order", body = Vec<AnalyzeResponse>),
        (status = 422, description = "Empty batch, batch over the limit, or an invalid review (its index is named)", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::BackendFailures,
    ))]
pub async fn batch(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    ApiJson(bodies): ApiJson<Vec<AnalyzeRequest>>,
) -> Result<Json<Vec<AnalyzeResponse>>, ApiError> {
    if bodies.is_empty() {
        return Err(ApiError::InvalidInput(
            "the batch is empty: send at least one review".into(),
        ));
    }
    if bodies.len() > state.sentiment_max_batch {
        return Err(ApiError::InvalidInput(format!(
            "the batch holds {} reviews, more than the maximum of {}",
            bodies.len(),
            state.sentiment_max_batch
        )));
    }
    let message = pb::AnalyzeBatchRequest {
        texts: bodies.iter().map(|b| b.commentaire.clone()).collect(),
    };
    let response = state
        .sentiment
        .clone()
        .analyze_batch(state.request(message, &correlation_id))
        .await
        .map_err(upstream)?
        .into_inner();
    if response.results.len() != bodies.len() {
        return Err(upstream(tonic::Status::internal(
            "result count differs from the batch",
        )));
    }
    Ok(Json(
        bodies
            .into_iter()
            .zip(response.results)
            .map(|(body, result)| AnalyzeResponse::new(body, result, &response.model))
            .collect(),
    ))
}
