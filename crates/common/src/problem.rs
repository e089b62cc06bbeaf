//! RFC 9457 problem details, the one error body of the public API, and the one map from gRPC
//! status codes to HTTP statuses (DESIGN.md, "Errors").

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::Serialize;

/// An `application/problem+json` body (RFC 9457).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "/problems/unprocessable-entity")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The correlation id of the request, so a user can quote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Extension members (e.g. the consistency ratio of a refused AHP matrix).
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// A problem whose type and title come from the status (`/problems/unprocessable-entity`).
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        Self {
            kind: format!(
                "/problems/{}",
                title.to_ascii_lowercase().replace([' ', '\''], "-")
            ),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            extensions: serde_json::Map::new(),
        }
    }

    #[must_use]
    pub fn with_instance(mut self, correlation_id: impl Into<String>) -> Self {
        self.instance = Some(correlation_id.into());
        self
    }

    #[must_use]
    pub fn with_extension(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Seconds a client should wait before retrying an overloaded or unavailable service.
pub const RETRY_AFTER_SECONDS: u64 = 1;

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).expect("a problem always serialises");
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        // Overload and unavailability pass: say when to come back (RFC 9110, 10.2.3).
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
        }
        response
    }
}

/// The HTTP status for a gRPC status code. INVALID_ARGUMENT is a validation failure: 422.
pub fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code;
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument => StatusCode::UNPROCESSABLE_ENTITY,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Cancelled
        | Code::Unknown
        | Code::Aborted
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_serialises_with_extensions() {
        let p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "bad")
            .with_instance("abc")
            .with_extension("cr", 0.2);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "/problems/unprocessable-entity");
        assert_eq!(v["title"], "Unprocessable Entity");
        assert_eq!(v["status"], 422);
        assert_eq!(v["instance"], "abc");
        assert_eq!(v["cr"], 0.2);
    }

    #[test]
    fn grpc_codes_map_as_designed() {
        use tonic::Code;
        assert_eq!(
            http_status(Code::InvalidArgument),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            http_status(Code::DeadlineExceeded),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            http_status(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            http_status(Code::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
