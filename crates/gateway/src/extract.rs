//! A JSON body extractor whose every rejection is a problem+json [`ApiError`], and that holds
//! bodies to the documented schema where serde alone is looser (see [`crate::strict`]); and a
//! query-string extractor whose rejections are problem+json too.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::{StatusCode, header};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::strict::Strict;

/// Like `axum::Json`, but a missing content type (415), malformed JSON (400), a body that does
/// not match the schema (422) or an oversized body (413) answer with problem+json, and a
/// struct is read only from a JSON object.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(rejected(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request with `Content-Type: application/json`".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                rejected(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is larger than the configured limit".to_owned(),
                )
            } else {
                rejected(rejection.status(), rejection.body_text())
            }
        })?;
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let value =
            serde_path_to_error::deserialize(Strict(&mut json)).map_err(|error| {
                match error.inner().classify() {
                    serde_json::error::Category::Data => rejected(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!(
                            "Failed to deserialize the JSON body into the target type: {error}"
                        ),
                    ),
                    _ => syntax_error(&error),
                }
            })?;
        json.end().map_err(|error| syntax_error(&error))?;
        Ok(Self(value))
    }
}

/// Like `axum::extract::Query`, but a query string that does not fit `T` (an unknown
/// parameter, a number that is not one) is a 422 problem+json naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let parameters =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(parameters)
            .map(Self)
            .map_err(|error| {
                rejected(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("invalid query parameter {error}"),
                )
            })
    }
}

/// `application/json`, or any `application/*+json`, with or without parameters.
fn is_json(headers: &http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn syntax_error(error: &dyn std::fmt::Display) -> ApiError {
    rejected(
        StatusCode::BAD_REQUEST,
        format!("Failed to parse the request body as JSON: {error}"),
    )
}

fn rejected(status: StatusCode, detail: String) -> ApiError {
    ApiError::Rejected { status, detail }
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

/// An integer as JSON Schema defines one: `7` or `7.0` (a number with no fraction); serde
/// alone refuses the second, which the schema allows.
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    to_integer(&serde_json::Number::deserialize(deserializer)?)
}

/// [`integer`], optional.
pub fn optional_integer<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    Option::<serde_json::Number>::deserialize(deserializer)?
        .map(|n| to_integer(&n))
        .transpose()
}

fn to_integer<E: serde::de::Error, T: TryFrom<i64> + TryFrom<u64>>(
    number: &serde_json::Number,
) -> Result<T, E> {
    use serde::de::Unexpected;
    let out_of_range = |unexpected| E::invalid_value(unexpected, &"an integer in range");
    if let Some(n) = number.as_u64() {
        return T::try_from(n).map_err(|_| out_of_range(Unexpected::Unsigned(n)));
    }
    if let Some(n) = number.as_i64() {
        return T::try_from(n).map_err(|_| out_of_range(Unexpected::Signed(n)));
    }
    let x = number.as_f64().unwrap_or(f64::NAN);
    // Integral and within ±2^53, where every double is exactly an integer.
    if x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)] // checked just above
        let n = x as i64;
        return T::try_from(n).map_err(|_| out_of_range(Unexpected::Signed(n)));
    }
    Err(E::invalid_type(Unexpected::Float(x), &"an integer"))
}

/// A page size from the query string: absent is 0, the backend's default; 0 itself is refused
/// here, since the backend would read it as "the default".
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        Some(0) => Err(ApiError::InvalidInput(
            "limit must be within [1, 100], got 0".into(),
        )),
        limit => Ok(limit.unwrap_or(0)),
    }
}
