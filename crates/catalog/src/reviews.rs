//! Every review the recommender analysed, with its sentiment.

use crate::{CatalogResult, Pool};

/// A review and what the sentiment model made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReview<'a> {
    pub tenant: &'a str,
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
                                  model_id, correlation_id, idempotency_key, tenant)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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
                &review.tenant,
            ],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// A stored review.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRecord {
    pub id: i64,
    pub client_id: i64,
    pub product_id: i64,
    pub product_type: String,
    pub text: String,
    pub sentiment_score: f32,
    pub sentiment_label: String,
    pub model_id: String,
    pub created_at: std::time::SystemTime,
}

/// Which reviews, and which page of them: newest first, `before` the id the previous page
/// ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewFilter {
    pub product_id: Option<i64>,
    pub client_id: Option<i64>,
    pub limit: u32,
    pub before: Option<i64>,
}

/// One page of the tenant's reviews, and the id to continue before (`None` on the last page).
pub async fn list(
    pool: &Pool,
    tenant: &aras_domain::tenant::Tenant,
    filter: ReviewFilter,
) -> CatalogResult<(Vec<ReviewRecord>, Option<i64>)> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT id, client_id, product_id, product_type, text, sentiment_score, sentiment_label, model_id,
                    created_at
             FROM reviews
             WHERE tenant = $1 AND ($2::bigint IS NULL OR product_id = $2)
               AND ($3::bigint IS NULL OR client_id = $3) AND ($4::bigint IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5",
        )
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &tenant.as_str(),
                &filter.product_id,
                &filter.client_id,
                &filter.before,
                &(i64::from(filter.limit) + 1),
            ],
        )
        .await?;
    let more = rows.len() > filter.limit as usize;
    let page = rows
        .iter()
        .take(filter.limit as usize)
        .map(|row| {
            Ok(ReviewRecord {
                id: row.try_get("id")?,
                client_id: row.try_get("client_id")?,
                product_id: row.try_get("product_id")?,
                product_type: row.try_get("product_type")?,
                text: row.try_get("text")?,
                sentiment_score: row.try_get("sentiment_score")?,
                sentiment_label: row.try_get("sentiment_label")?,
                model_id: row.try_get("model_id")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<CatalogResult<Vec<_>>>()?;
    let next = if more {
        page.last().map(|r| r.id)
    } else {
        None
    };
    Ok((page, next))
}
