//! `/api/v1/embeddings`: sentence embeddings in the OpenAI request and response shape, so
//! OpenAI client libraries work against ARAS.

use aras_common::correlation::CorrelationId;
use aras_common::problem::Problem;
use aras_proto::embedding::v1 as pb;
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// One text or several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Input {
    One(String),
    Many(Vec<String>),
}

/// What the texts are for: e5-style models embed queries and documents with different prefixes.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    Query,
    Passage,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsRequest {
    #[schema(schema_with = crate::schema::embedding_input, example = json!(["Citadine électrique, boîte automatique"]))]
    input: Input,
    /// Without it the texts are embedded as given, with no prefix.
    input_type: Option<InputType>,
    /// Accepted for OpenAI compatibility; the served model is the one configured.
    #[serde(rename = "model")]
    _model: Option<String>,
    /// Only `float` is supported.
    #[schema(pattern = "^float$")]
    encoding_format: Option<String>,
    /// Accepted for OpenAI compatibility; unused.
    #[serde(rename = "user")]
    _user: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingData {
    #[schema(example = "embedding")]
    object: &'static str,
    index: usize,
    /// Unit length: cosine similarity is the dot product.
    embedding: Vec<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingsResponse {
    #[schema(example = "list")]
    object: &'static str,
    data: Vec<EmbeddingData>,
    model: String,
    usage: Usage,
}

/// Embeds one or several texts.
#[utoipa::path(post, path = "/api/v1/embeddings", tag = "embeddings",
    request_body = EmbeddingsRequest,
    responses(
        (status = 200, description = "One unit vector per input, in order", body = EmbeddingsResponse),
        (status = 422, description = "No input, too many inputs, an empty or over-long text", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::BackendFailures,
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    ApiJson(body): ApiJson<EmbeddingsRequest>,
) -> Result<Json<EmbeddingsResponse>, ApiError> {
    if body
        .encoding_format
        .as_deref()
        .is_some_and(|f| f != "float")
    {
        return Err(ApiError::InvalidInput(
            "encoding_format: only `float` is supported".into(),
        ));
    }
    let texts = match body.input {
        Input::One(text) => vec![text],
        Input::Many(texts) => texts,
    };
    let input_type = match body.input_type {
        None => pb::InputType::Unspecified,
        Some(InputType::Query) => pb::InputType::Query,
        Some(InputType::Passage) => pb::InputType::Passage,
    };
    let message = pb::EmbedRequest {
        texts,
        normalize: true,
        input_type: input_type.into(),
    };
    let response = state
        .embedding
        .clone()
        .embed(state.request(message, &correlation_id))
        .await
        .map_err(|status| ApiError::upstream("embedding", status))?
        .into_inner();
    let tokens: u64 = response
        .embeddings
        .iter()
        .map(|e| u64::from(e.tokens))
        .sum();
    Ok(Json(EmbeddingsResponse {
        object: "list",
        data: response
            .embeddings
            .into_iter()
            .enumerate()
            .map(|(index, e)| EmbeddingData {
                object: "embedding",
                index,
                embedding: e.values,
            })
            .collect(),
        model: response.model,
        usage: Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    }))
}
