//! Every review the recommender analysed, with its sentiment.

use crate::{CatalogResult, Pool};

/// A review and what the sentiment model made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReview<'a> {
    pub client_id: i64,
    pub product_id: i64,
    pub product_type: &'a str,
    pub text: &'a str,
    pub sentiment_score: f32,
    pub sentiment_label: &'a str,
    pub model_id: &'a str,
    pub correlation_id: &'a str,
}

/// Stores a review; returns its id.
pub async fn insert(pool: &Pool, review: &NewReview<'_>) -> CatalogResult<i64> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "INSERT INTO reviews (client_id, product_id, product_type, text, sentiment_score, sentiment_label,
                                  model_id, correlation_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .await?;
    let row = client
        .query_one(
            &statement,
            &[
                &review.client_id,
                &review.product_id,
                &review.product_type,
                &review.text,
                &review.sentiment_score,
                &review.sentiment_label,
                &review.model_id,
                &review.correlation_id,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}
