//! `/api/v1/reviews`: the reviews the caller's tenant sent for recommendations, with what the
//! sentiment model made of them, newest first.

use aras_auth::Principal;
use aras_common::correlation::CorrelationId;
use aras_common::problem::Problem;
use aras_proto::recommender::v1 as pb;
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Which reviews: by product, by client, or both; every parameter is optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// Only the reviews of this product.
    product_id: Option<i64>,
    /// Only the reviews of this client.
    client_id: Option<i64>,
    /// Reviews per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewResponse {
    id: i64,
    client_id: i64,
    product_id: i64,
    product_type: String,
    commentaire: String,
    /// In [-1, 1].
    sentiment_score: f32,
    sentiment_label: String,
    /// The model that scored it.
    model: String,
    /// RFC 3339.
    created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPage {
    items: Vec<ReviewResponse>,
    /// Pass it as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// The caller's reviews, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/reviews", tag = "recommendations",
    params(ReviewQuery),
    responses(
        (status = 200, description = "A page of reviews", body = ReviewPage),
        (status = 422, description = "A parameter breaks its rule (named), or a cursor this API did not hand out", body = Problem, content_type = "application/problem+json"),
        crate::schema::BackendFailures,
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<ReviewQuery>,
) -> Result<Json<ReviewPage>, ApiError> {
    let message = pb::ListReviewsRequest {
        product_id: query.product_id,
        client_id: query.client_id,
        limit: crate::extract::page_limit(query.limit)?,
        cursor: query.cursor.unwrap_or_default(),
    };
    let page = state
        .recommender
        .clone()
        .list_reviews(state.tenant_request(message, &correlation_id, &principal.tenant))
        .await
        .map_err(|status| ApiError::upstream("recommender", status))?
        .into_inner();
    Ok(Json(ReviewPage {
        items: page
            .reviews
            .into_iter()
            .map(|r| ReviewResponse {
                id: r.id,
                client_id: r.client_id,
                product_id: r.product_id,
                product_type: r.product_type,
                commentaire: r.text,
                sentiment_score: r.sentiment_score,
                sentiment_label: r.sentiment_label,
                model: r.sentiment_model,
                created_at: r.created_at,
            })
            .collect(),
        next_cursor: Some(page.next_cursor).filter(|c| !c.is_empty()),
    }))
}
