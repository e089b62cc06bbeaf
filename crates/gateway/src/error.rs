//! Every failure of the public API, and its one mapping to `application/problem+json`.

use aras_common::problem::{Problem, http_status};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::observe;

/// What went wrong with a request, named for what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request was refused before reaching a service (syntax, content type, size, shape);
    /// the status says which.
    #[error("{detail}")]
    Rejected { status: StatusCode, detail: String },
    /// A field breaks a rule. Fix the request.
    #[error("{0}")]
    InvalidInput(String),
    /// No such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A backend service answered with an error or could not be reached in time.
    #[error("{service} service: {status}")]
    Upstream {
        service: &'static str,
        status: tonic::Status,
    },
    /// The job store or the broker failed, or an `Idempotency-Key` was reused.
    #[error("jobs: {0}")]
    Jobs(#[from] aras_jobs::JobsError),
    /// No credentials, or credentials that are not valid (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials whose role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed authentications from this address or for this account (429 with
    /// `Retry-After`).
    #[error("{detail}")]
    Throttled {
        detail: String,
        retry_after: std::time::Duration,
    },
    /// Logins, tokens and keys.
    #[error("auth: {0}")]
    Auth(#[from] aras_auth::AuthError),
    /// The gateway's database (credentials, jobs) cannot be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] aras_catalog::CatalogError),
}

impl ApiError {
    pub fn upstream(service: &'static str, status: tonic::Status) -> Self {
        Self::Upstream { service, status }
    }

    /// Whole seconds a refused caller should wait (rounded up: told 0, it would retry at once).
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after, .. } => Some(whole_seconds(*retry_after)),
            Self::Auth(aras_auth::AuthError::Busy) => Some(1),
            _ => None,
        }
    }

    fn to_problem(&self) -> Problem {
        match self {
            Self::Rejected { status, detail } => Problem::new(*status, detail.clone()),
            Self::InvalidInput(detail) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail.clone())
            }
            Self::NotFound(detail) => Problem::new(StatusCode::NOT_FOUND, detail.clone()),
            Self::MethodNotAllowed(detail) => {
                Problem::new(StatusCode::METHOD_NOT_ALLOWED, detail.clone())
            }
            Self::Upstream { service, status } => upstream_problem(service, status),
            Self::Jobs(error) => jobs_problem(error),
            Self::Unauthenticated(detail) => Problem::new(StatusCode::UNAUTHORIZED, detail.clone()),
            Self::Forbidden(detail) => Problem::new(StatusCode::FORBIDDEN, detail.clone()),
            Self::Throttled { detail, .. } => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, detail.clone())
            }
            Self::Auth(error) => auth_problem(error),
            Self::Database(aras_catalog::CatalogError::Unavailable(_)) => database_unavailable(),
            Self::Database(_) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        }
    }
}

/// Whole seconds, rounded up and at least 1: a client told 0 would retry at once.
pub fn whole_seconds(duration: std::time::Duration) -> u64 {
    duration
        .as_millis()
        .div_ceil(1000)
        .try_into()
        .unwrap_or(u64::MAX)
        .max(1)
}

fn database_unavailable() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the gateway's database (Postgres) is unavailable, try again shortly",
    )
}

fn auth_problem(error: &aras_auth::AuthError) -> Problem {
    use aras_auth::AuthError;
    match error {
        AuthError::Unauthenticated(detail) => Problem::new(StatusCode::UNAUTHORIZED, *detail),
        AuthError::Expired => Problem::new(StatusCode::UNAUTHORIZED, error.to_string()),
        AuthError::InvalidInput(detail) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail.clone())
        }
        AuthError::NotFound(detail) => Problem::new(StatusCode::NOT_FOUND, detail.clone()),
        AuthError::Conflict(detail) => Problem::new(StatusCode::CONFLICT, detail.clone()),
        AuthError::Unavailable(_) => database_unavailable(),
        AuthError::Busy => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many logins at once, try again in a second",
        ),
        AuthError::Internal(_) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

fn upstream_problem(service: &str, status: &tonic::Status) -> Problem {
    let http = http_status(status.code());
    // A reason the service itself gave says what to do ("run `aras index`", which of its own
    // dependencies failed); a call that failed in the channel (no connection, our deadline)
    // carries the transport's error as its source, which is not for clients.
    let reason = (std::error::Error::source(status).is_none() && !status.message().is_empty())
        .then(|| status.message());
    let problem = match status.code() {
        tonic::Code::Unavailable => Problem::new(
            http,
            match reason {
                Some(reason) => format!("the {service} service is unavailable: {reason}"),
                None => format!("the {service} service is unavailable, try again shortly"),
            },
        ),
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            match reason {
                Some(reason) => format!("the {service} service did not answer in time: {reason}"),
                None => format!("the {service} service did not answer in time"),
            },
        ),
        tonic::Code::ResourceExhausted => Problem::new(
            http,
            format!("the {service} service is overloaded, try again shortly"),
        ),
        // 5xx details stay in the logs: the client gets the correlation id to quote.
        _ if http.is_server_error() => Problem::new(http, "internal error"),
        _ => Problem::new(http, status.message().to_owned()),
    };
    match status
        .metadata()
        .get(aras_proto::ranking::CONSISTENCY_RATIO_METADATA)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
    {
        Some(cr) => problem.with_extension("CR", cr),
        None => problem,
    }
}

fn jobs_problem(error: &aras_jobs::JobsError) -> Problem {
    use aras_jobs::JobsError;
    match error {
        JobsError::DatabaseUnavailable(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the job store (Postgres) is unavailable, try again shortly; nothing was stored",
        ),
        JobsError::BrokerUnavailable(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the message broker is unavailable, try again shortly",
        ),
        JobsError::KeyReused(_) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
        }
        JobsError::Internal(_) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after();
        let mut problem = self.to_problem();
        if problem.status_code().is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, status = problem.status, "request refused");
        }
        if let Some(id) = observe::current_correlation_id() {
            problem = problem.with_instance(id.as_str());
        }
        let unauthenticated = problem.status_code() == StatusCode::UNAUTHORIZED;
        let mut response = problem.into_response();
        if let Some(after) = retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(after));
        }
        if unauthenticated {
            // RFC 9110: a 401 names the schemes that would do.
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"aras\""),
            );
        }
        response
    }
}
