//! `Recommend`: sentiment and embedding of the review, recommend-style vector search, re-scoring,
//! and the review stored with its sentiment.

use std::collections::HashMap;
use std::time::Instant;

use aras_catalog::reviews::NewReview;
use aras_catalog::{reviews, vehicles};
use aras_common::correlation::CorrelationId;
use aras_domain::recommend::{self, Candidate, Query, RequestError, TopK, Weights};
use aras_domain::sentiment::Polarity;
use aras_domain::tenant::Tenant;
use aras_proto::embedding::v1::InputType;
use aras_proto::recommender::v1::{
    RecommendRequest, RecommendResponse, RecommendTimings, Recommendation,
};
use aras_vector_store::{Example, Hit, RecommendQuery, VectorStore};

use crate::deps::Deps;
use crate::error::RecommenderError;

/// Records how long a stage took, in the response and in `recommender_stage_duration_seconds`.
struct Stopwatch(Instant);

impl Stopwatch {
    fn start() -> Self {
        Self(Instant::now())
    }

    fn lap(&mut self, stage: &'static str) -> f64 {
        let elapsed = self.0.elapsed();
        self.0 = Instant::now();
        metrics::histogram!("recommender_stage_duration_seconds", "stage" => stage)
            .record(elapsed.as_secs_f64());
        elapsed.as_secs_f64() * 1e3
    }
}

/// The one vector of a one-text embedding call.
fn one_vector(mut vectors: Vec<Vec<f32>>) -> Result<Vec<f32>, RecommenderError> {
    vectors
        .pop()
        .ok_or_else(|| RecommenderError::Internal("no embedding returned".into()))
}

/// The request, checked by the rules the gateway applies too.
fn query(request: &RecommendRequest, max_review_chars: usize) -> Result<Query, RequestError> {
    Query::parse(
        request.product_id,
        &request.review,
        // proto3: 0 is "not set".
        (request.top_k != 0).then_some(request.top_k),
        &request.product_type,
        request
            .weights
            .map(|w| [w.similarity, w.availability, w.reputation]),
        max_review_chars,
    )
}

/// Recommends for one review; every call made for it fits in what is left of `deadline`, the
/// caller's.
pub(crate) async fn recommend(
    deps: &Deps,
    tenant: &Tenant,
    request: RecommendRequest,
    correlation_id: &CorrelationId,
    deadline: Option<Instant>,
) -> Result<RecommendResponse, RecommenderError> {
    let Query {
        review,
        top_k,
        product_type,
        weights,
    } = query(&request, deps.config.max_review_chars)?;
    let store = deps.store()?;
    let mut timings = RecommendTimings::default();

    // The three independent reads run together; the slowest sets the pace.
    let mut clock = Stopwatch::start();
    let started = Instant::now();
    let sentiment = async {
        (
            deps.analyze(review.as_str(), correlation_id, deadline)
                .await,
            started.elapsed(),
        )
    };
    let embedding = async {
        let texts = vec![review.as_str().to_owned()];
        (
            deps.embed(texts, InputType::Query, correlation_id, deadline)
                .await,
            started.elapsed(),
        )
    };
    // The vector is stored under the vehicle's point key, which the catalog holds.
    let reviewed = async {
        let reviewed = vehicles::get(&deps.pool, tenant, request.product_id).await?;
        let vector = store.vector(reviewed.0.point_id).await;
        Ok::<_, RecommenderError>((reviewed, vector))
    };
    let ((sentiment, sentiment_elapsed), (embedding, embedding_elapsed), reviewed) =
        tokio::join!(sentiment, embedding, reviewed);
    let ((reviewed, catalog_version), reviewed_vector) = reviewed?;
    let sentiment = sentiment?;
    let review_vector = one_vector(embedding?)?;
    timings.sentiment_ms = sentiment_elapsed.as_secs_f64() * 1e3;
    timings.embedding_ms = embedding_elapsed.as_secs_f64() * 1e3;
    clock.lap("analyze");
    let result = sentiment
        .result
        .ok_or_else(|| RecommenderError::Internal("no sentiment result".into()))?;

    // The reviewed vehicle is the first positive example; one changed since the last indexing
    // run may have no vector yet, so its description stands in for it.
    let vehicle_vector = if let Some(vector) = reviewed_vector? {
        vector
    } else {
        let description = vec![reviewed.vehicle.description_fr()];
        let vectors = deps.embed(description, InputType::Passage, correlation_id, deadline);
        one_vector(vectors.await?)?
    };
    // Already read: passed as a vector, so the store does not look the vehicle up again.
    let vehicle_example = Example::Vector(vehicle_vector);
    let (positive, negative) = recommend::review_examples(
        vehicle_example,
        Example::Vector(review_vector),
        Polarity::of(result.score),
    );
    let query = RecommendQuery {
        tenant: tenant.as_str().to_owned(),
        positive,
        negative,
        product_type: product_type.as_str().to_owned(),
        exclude: vec![reviewed.point_id],
        limit: deps.config.candidates,
    };
    let hits = search(store.as_ref(), query).await?;
    timings.search_ms = clock.lap("search");

    let recommendations = rescore(deps, tenant, &hits, weights, top_k).await?;
    timings.score_ms = clock.lap("score");

    let stored = NewReview {
        tenant: tenant.as_str(),
        client_id: request.client_id,
        product_id: request.product_id,
        product_type: product_type.as_str(),
        text: review.as_str(),
        sentiment_score: result.score as f32,
        sentiment_label: &result.label,
        model_id: &sentiment.model,
        correlation_id: correlation_id.as_str(),
        idempotency_key: Some(request.idempotency_key.as_str()).filter(|key| !key.is_empty()),
    };
    reviews::insert(&deps.pool, &stored).await?;
    timings.store_ms = clock.lap("store");

    Ok(RecommendResponse {
        recommendations,
        sentiment_score: result.score,
        sentiment_label: result.label,
        sentiment_model: sentiment.model,
        catalog_version,
        candidates: u32::try_from(hits.len()).unwrap_or(u32::MAX),
        timings: Some(timings),
    })
}

/// The candidates; an empty store is a deployment step missed, not "nothing to recommend".
async fn search(
    store: &dyn VectorStore,
    query: RecommendQuery,
) -> Result<Vec<Hit>, RecommenderError> {
    let hits = store.recommend(query).await?;
    if hits.is_empty() && store.count().await? == 0 {
        return Err(RecommenderError::Unavailable(
            "the catalog is not indexed yet: run `aras index`".into(),
        ));
    }
    Ok(hits)
}

/// Re-scores the search hits on similarity, availability and reputation; availability and
/// rating come from the catalog, not the vector payload, so a write that is not re-indexed yet
/// still counts.
async fn rescore(
    deps: &Deps,
    tenant: &Tenant,
    hits: &[Hit],
    weights: Weights,
    top_k: TopK,
) -> Result<Vec<Recommendation>, RecommenderError> {
    // Hits name vector-store points; the catalog knows their vehicles.
    let points: Vec<i64> = hits.iter().map(|h| h.id).collect();
    let records: HashMap<i64, _> = vehicles::get_by_points(&deps.pool, tenant, &points)
        .await?
        .into_iter()
        .map(|r| (r.point_id, r.vehicle))
        .collect();
    let candidates: Vec<Candidate> = hits
        .iter()
        .filter_map(|hit| {
            let vehicle = records.get(&hit.id)?;
            Some(Candidate {
                id: hit.id,
                similarity: hit.score,
                available: vehicle.available,
                rating: vehicle.rating,
            })
        })
        .collect();
    let scored = recommend::rescore(&candidates, weights, top_k.get());
    Ok(scored
        .iter()
        .map(|s| {
            let vehicle = &records[&s.candidate.id];
            Recommendation {
                id: vehicle.id,
                name: vehicle.name(),
                brand: vehicle.brand.clone(),
                vehicle_type: vehicle.vehicle_type.as_str().to_owned(),
                daily_price: vehicle.daily_price,
                available: vehicle.available,
                score: s.score,
                similarity: f64::from(s.candidate.similarity),
            }
        })
        .collect())
}
