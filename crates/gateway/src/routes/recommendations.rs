//! `POST /api/v1/recommendations`: the vehicles to propose after a customer's review, served
//! from the cache when the same client asked the same thing of the same catalog.

use std::time::Instant;

use aras_auth::Principal;
use aras_common::correlation::CorrelationId;
use aras_common::problem::Problem;
use aras_domain::recommend::{Query, TopK};
use aras_proto::recommender::v1 as pb;
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cache::{CacheKey, Versions};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// A customer's review of a vehicle (the seed's request).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendationRequest {
    /// The reviewed vehicle.
    #[serde(deserialize_with = "crate::extract::integer")]
    #[schema(example = 123, minimum = 1)]
    product_id: i64,
    #[serde(deserialize_with = "crate::extract::integer")]
    #[schema(example = 456)]
    client_id: i64,
    #[schema(schema_with = crate::schema::review, example = "Excellent véhicule, très confortable et fiable!")]
    commentaire: String,
    /// `vehicle` (the default; any case, surrounding blanks ignored).
    #[schema(
        example = "vehicle",
        pattern = r"^\s*([Vv][Ee][Hh][Ii][Cc][Uu][Ll][Ee])?\s*$"
    )]
    product_type: Option<String>,
    /// 1 to 100, default 10.
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    #[schema(example = 10, minimum = 1, maximum = 100)]
    top_k: Option<u32>,
    /// Weights of the final score; default 0.60 / 0.25 / 0.15.
    weights: Option<ScoreWeights>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
/// Each in [0, 1]; the three sum to 1 (within 1e-6).
pub struct ScoreWeights {
    #[schema(minimum = 0.0, maximum = 1.0)]
    similarity: f64,
    #[schema(minimum = 0.0, maximum = 1.0)]
    availability: f64,
    #[schema(minimum = 0.0, maximum = 1.0)]
    reputation: f64,
}

/// A recommended vehicle.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecommendedVehicle {
    #[schema(example = 789)]
    id: i64,
    #[schema(example = "Peugeot 3008")]
    nom: String,
    /// Final score in [0, 1].
    #[schema(example = 0.912)]
    score: f64,
    /// Daily rental price, euros.
    #[schema(example = 70.0)]
    prix: f64,
    disponible: bool,
    #[schema(example = "Peugeot")]
    marque: String,
    #[serde(rename = "type")]
    #[schema(example = "SUV")]
    vehicle_type: String,
}

/// The recommender's answer in the API's terms: what is cached (everything but the per-request
/// fields), and what an async job's result is rendered from.
#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    recommendations: Vec<RecommendedVehicle>,
    sentiment_score: f64,
    sentiment_label: String,
}

impl From<pb::RecommendResponse> for Answer {
    fn from(response: pb::RecommendResponse) -> Self {
        Self {
            recommendations: response
                .recommendations
                .into_iter()
                .map(|r| RecommendedVehicle {
                    id: r.id,
                    nom: r.name,
                    score: (r.score * 1e4).round() / 1e4,
                    prix: r.daily_price,
                    disponible: r.available,
                    marque: r.brand,
                    vehicle_type: r.vehicle_type,
                })
                .collect(),
            sentiment_score: (response.sentiment_score * 1e4).round() / 1e4,
            sentiment_label: response.sentiment_label,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationResponse {
    #[schema(example = "success")]
    status: &'static str,
    recommendations: Vec<RecommendedVehicle>,
    /// Recommendations returned.
    #[schema(example = 10)]
    total: usize,
    /// The review's sentiment in [-1, 1].
    #[schema(example = 0.92)]
    sentiment_score: f64,
    /// positive | neutral | negative
    sentiment_label: String,
    correlation_id: String,
    processing_time_ms: u64,
    /// Whether the answer came from the cache.
    cached: bool,
    /// Where the time went. A cache hit fills `cache` only; a miss every stage; an async job's
    /// result the recommender's stages (jobs do not use the cache).
    timings_ms: StageTimings,
}

/// Milliseconds spent in each stage of one answer: the cache lookup in the gateway, then the
/// recommender's stages (sentiment and embedding run together, so they overlap).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StageTimings {
    /// Looking the answer up in the cache (on a miss too: what the lookup cost).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.4)]
    cache: Option<f64>,
    /// The review's sentiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 9.8)]
    sentiment: Option<f64>,
    /// The review's embedding.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 11.2)]
    embedding: Option<f64>,
    /// The vector search for candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 2.1)]
    search: Option<f64>,
    /// Re-scoring the candidates on similarity, availability and reputation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.9)]
    rescore: Option<f64>,
    /// Storing the analysed review.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1.3)]
    store: Option<f64>,
}

impl StageTimings {
    /// A hit: the lookup alone.
    fn hit(cache_ms: f64) -> Self {
        Self {
            cache: Some(rounded(cache_ms)),
            ..Self::default()
        }
    }

    /// The recommender's stages, after a cache lookup of `cache_ms` when there was one.
    pub fn computed(cache_ms: Option<f64>, stages: Option<&pb::RecommendTimings>) -> Self {
        let stage = |ms: fn(&pb::RecommendTimings) -> f64| Some(rounded(stages.map_or(0.0, ms)));
        Self {
            cache: cache_ms.map(rounded),
            sentiment: stage(|t| t.sentiment_ms),
            embedding: stage(|t| t.embedding_ms),
            search: stage(|t| t.search_ms),
            rescore: stage(|t| t.score_ms),
            store: stage(|t| t.store_ms),
        }
    }
}

/// Milliseconds to the microsecond: finer is noise.
fn rounded(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

impl RecommendationResponse {
    pub fn new(
        answer: Answer,
        correlation_id: String,
        processing_time_ms: u64,
        cached: bool,
        timings_ms: StageTimings,
    ) -> Self {
        Self {
            status: "success",
            total: answer.recommendations.len(),
            recommendations: answer.recommendations,
            sentiment_score: answer.sentiment_score,
            sentiment_label: answer.sentiment_label,
            correlation_id,
            processing_time_ms,
            cached,
            timings_ms,
        }
    }
}

impl RecommendationRequest {
    /// Checks the request as the recommender would, so invalid requests never touch the cache
    /// (or become jobs).
    pub fn validate(&self, max_review_chars: usize) -> Result<Query, ApiError> {
        Query::parse(
            self.product_id,
            &self.commentaire,
            self.top_k,
            self.product_type.as_deref().unwrap_or_default(),
            self.weights
                .map(|w| [w.similarity, w.availability, w.reputation]),
            max_review_chars,
        )
        .map_err(|e| ApiError::InvalidInput(e.to_string()))
    }

    /// The recommender's request for this (validated) request.
    pub fn to_grpc(&self, valid: &Query) -> pb::RecommendRequest {
        pb::RecommendRequest {
            product_id: self.product_id,
            client_id: self.client_id,
            review: valid.review.as_str().to_owned(),
            product_type: valid.product_type.as_str().to_owned(),
            top_k: u32::try_from(valid.top_k.get()).unwrap_or(TopK::MAX),
            weights: self.weights.map(|w| pb::ScoreWeights {
                similarity: w.similarity,
                availability: w.availability,
                reputation: w.reputation,
            }),
            idempotency_key: String::new(),
        }
    }
}

/// Recommends vehicles from a review: its sentiment and meaning steer a vector search around
/// the reviewed vehicle, re-scored on similarity, availability and reputation.
#[utoipa::path(post, path = "/api/v1/recommendations", tag = "recommendations",
    request_body = RecommendationRequest,
    responses(
        (status = 200, description = "The vehicles to propose, best first", body = RecommendationResponse),
        (status = 404, description = "Unknown product", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or over-long review, top_k outside 1..100, unknown product_type, bad weights", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::BackendFailures,
    ))]
pub async fn recommend(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<RecommendationRequest>,
) -> Result<Json<RecommendationResponse>, ApiError> {
    let started = Instant::now();
    let valid = body.validate(state.max_review_chars)?;
    let normalized_review = valid.review.normalized();
    let key = CacheKey {
        tenant: principal.tenant.as_str(),
        client_id: body.client_id,
        product_id: body.product_id,
        product_type: valid.product_type.as_str(),
        top_k: valid.top_k.get(),
        weights: valid.weights.as_array(),
        normalized_review: &normalized_review,
    };
    let respond = |answer: Answer, cached: bool, timings: StageTimings| {
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Json(RecommendationResponse::new(
            answer,
            correlation_id.to_string(),
            elapsed,
            cached,
            timings,
        ))
    };

    // Ok(None): Redis is up but lost the version (restarted); the answer's version raises it.
    let lookup_started = Instant::now();
    let versions = state.cache.versions(principal.tenant.as_str()).await;
    if let Ok(Versions {
        catalog: Some(version),
        generation,
    }) = versions
        && let Some(hit) = state
            .cache
            .get(key.tenant, &state.cache.key(&key, version, generation))
            .await
        && let Ok(answer) = serde_json::from_str::<Answer>(&hit)
    {
        let lookup_ms = lookup_started.elapsed().as_secs_f64() * 1e3;
        return Ok(respond(answer, true, StageTimings::hit(lookup_ms)));
    }
    let lookup_ms = lookup_started.elapsed().as_secs_f64() * 1e3;

    let response = state
        .recommender
        .clone()
        .recommend(state.tenant_request(body.to_grpc(&valid), &correlation_id, &principal.tenant))
        .await
        .map_err(|status| ApiError::upstream("recommender", status))?
        .into_inner();
    let catalog_version = response.catalog_version;
    let timings = StageTimings::computed(Some(lookup_ms), response.timings.as_ref());
    let answer = Answer::from(response);
    if let Ok(Versions {
        catalog: known,
        generation,
    }) = versions
    {
        // An answer computed on a later catalog than Redis publishes: the recommender's own
        // publish failed or is still under way; cached answers of the older version retire now.
        let current = if known.is_none_or(|known| known < catalog_version) {
            state
                .cache
                .raise_catalog_version(key.tenant, catalog_version)
                .await
        } else {
            known
        };
        // Only under the version lookups read: an answer older than that would never be hit.
        if current == Some(catalog_version) {
            let entry = serde_json::to_string(&answer).expect("the answer serialises");
            state
                .cache
                .put(&state.cache.key(&key, catalog_version, generation), entry)
                .await;
        }
    }
    Ok(respond(answer, false, timings))
}
