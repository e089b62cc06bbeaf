//! `/api/v1/auth`: log in with an email and a password, trade a refresh token for new tokens,
//! log out. Tokens are never logged; a failed login does not say which part was wrong.

use aras_auth::store::{self, Session};
use aras_common::problem::Problem;
use axum::extract::State;
use axum::{Extension, Json};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::client::ClientAddress;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::throttle::{Attempt, Counted};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "admin@example.com", max_length = 254)]
    email: String,
    #[schema(example = "correct horse battery staple", max_length = 256)]
    password: String,
}

// Not Debug: the password must not reach a log line by accident.
impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").finish_non_exhaustive()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT for `Authorization: Bearer`.
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds the access token lives.
    #[schema(example = 900)]
    expires_in: u64,
    /// Trade it at `/api/v1/auth/refresh` for new tokens; it works once.
    refresh_token: String,
    /// Seconds the refresh token lives.
    refresh_expires_in: u64,
}

impl From<Session> for TokenResponse {
    fn from(session: Session) -> Self {
        Self {
            access_token: session.access.token,
            token_type: "Bearer",
            expires_in: session.access.expires_in.as_secs(),
            refresh_token: session.refresh_token,
            refresh_expires_in: session.refresh_expires_in.as_secs(),
        }
    }
}

/// Logs in: an access token (short-lived) and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong email or password (which one is not said)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or not a string", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The credential store is down, or too many logins at once (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::RateLimited,
    ))]
pub async fn login(
    State(state): State<AppState>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let auth = &state.authenticator;
    // A throttled address costs no query.
    auth.throttle.check(&[Counted::Address(address)]).await?;
    let pool = state.database.pool().await?;
    let account = store::find_account(pool, &body.email).await?;
    let counted = [
        Counted::Address(address),
        account
            .as_ref()
            .map_or(Counted::Email(&body.email), |account| {
                Counted::Account(account.id)
            }),
    ];
    // Counted before any password is hashed: past the limit, the guess costs nothing.
    auth.throttle.begin(&counted).await?;
    let stored = account
        .as_ref()
        .map(|account| account.password_hash.clone());
    let matches = match auth.hashing.verify(body.password, stored).await {
        Ok(matches) => matches,
        Err(error) => {
            auth.throttle.settle(&counted, Attempt::Unchecked).await;
            return Err(error.into());
        }
    };
    let Some(account) = account.filter(|_| matches) else {
        auth.throttle.settle(&counted, Attempt::WrongPassword).await;
        return Err(store::WRONG_LOGIN.into());
    };
    auth.throttle.settle(&counted, Attempt::LoggedIn).await;
    let session = store::open_session(pool, &auth.keyring, auth.refresh_ttl, &account).await?;
    Ok(Json(session.into()))
}

/// New tokens for a refresh token, which is used up: presenting it again revokes the session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or already used refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "refresh_token is missing or not a string", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The credential store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::RateLimited,
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let auth = &state.authenticator;
    let session = store::refresh(
        state.database.pool().await?,
        &auth.keyring,
        auth.refresh_ttl,
        &body.refresh_token,
    )
    .await?;
    Ok(Json(session.into()))
}

/// Ends the session of a refresh token (every token of its family). Access tokens already
/// issued live out their short lifetime.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Logged out (also for a token already revoked or unknown)"),
        (status = 422, description = "refresh_token is missing or not a string", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The credential store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::RateLimited,
    ))]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    store::logout(state.database.pool().await?, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
