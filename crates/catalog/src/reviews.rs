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
    /// Stores the review once under this key (a retried job): a second insert is a no-op.
    pub idempotency_key: Option<&'a str>,
}

/// Stores a review; returns its id, or `None` when one was already stored under its
/// idempotency key.
pub async fn insert(pool: &Pool, review: &NewReview<'_>) -> CatalogResult<Option<i64>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "INSERT INTO reviews (client_id, product_id, product_type, text, sentiment_score, sentiment_label,
                                  model_id, correlation_id, idempotency_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .await?;
    let row = client
        .query_opt(
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
                &review.idempotency_key,
            ],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}
