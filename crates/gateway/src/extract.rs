//! A JSON body extractor whose every rejection is a problem+json [`ApiError`].

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, but a missing content type (415), malformed JSON (400), a body that does
/// not match the schema (422) or an oversized body (413) answer with problem+json.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection_to_error(&rejection)),
        }
    }
}

fn rejection_to_error(rejection: &JsonRejection) -> ApiError {
    let detail = match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a request with `Content-Type: application/json`".to_owned()
        }
        JsonRejection::BytesRejection(_)
            if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            "the request body is larger than the configured limit".to_owned()
        }
        _ => rejection.body_text(),
    };
    ApiError::Rejected {
        status: rejection.status(),
        detail,
    }
}

/// An optional field that may be absent but not `null` (with `#[serde(default)]`): a patch's
/// `null` would say "change nothing" where the schema promises a value.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
