//! `/api/v1/admin/api-keys` and `/api/v1/admin/users`: an admin manages who may call as its
//! tenant. Secrets are shown once (a new key) or never (passwords, stored keys).

use std::time::SystemTime;

use aras_auth::store::{self, ApiKeyInfo, UserInfo};
use aras_auth::{Principal, Subject};
use aras_common::problem::Problem;
use aras_common::time::rfc3339;
use aras_domain::tenant::Role;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// A role as the API spells it.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Viewer,
    User,
    Manager,
    Admin,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::Viewer => Self::Viewer,
            RoleName::User => Self::User,
            RoleName::Manager => Self::Manager,
            RoleName::Admin => Self::Admin,
        }
    }
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::InvalidInput(format!("{what} id {raw:?} is not a UUID")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKeyRequest {
    /// What the key is for (e.g. the client's name); several keys may share one.
    #[schema(
        example = "billing-service",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: String,
    role: RoleName,
    /// Days the key works (1 to 3650); without it, it works until revoked.
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    id: String,
    name: String,
    role: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339; absent: the key works until revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

impl From<ApiKeyInfo> for ApiKeyResponse {
    fn from(key: ApiKeyInfo) -> Self {
        Self {
            id: key.id.to_string(),
            name: key.name,
            role: key.role.as_str().to_owned(),
            created_at: rfc3339(key.created_at),
            expires_at: key.expires_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    id: String,
    name: String,
    role: String,
    /// The key, for `X-API-Key`. Shown this once: ARAS keeps only its hash.
    #[schema(example = "aras_3f9c…")]
    key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    items: Vec<ApiKeyResponse>,
}

/// The caller's tenant's live API keys, newest first (never their secrets).
#[utoipa::path(get, path = "/api/v1/admin/api-keys", tag = "admin",
    responses(
        (status = 200, description = "The live keys", body = ApiKeyList),
        (status = 503, description = "The credential store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::RateLimited,
    ))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = store::list_api_keys(state.database.pool().await?, &principal.tenant).await?;
    Ok(Json(ApiKeyList {
        items: keys.into_iter().map(Into::into).collect(),
    }))
}

/// A new API key of the caller's tenant, acting as `role`.
#[utoipa::path(post, path = "/api/v1/admin/api-keys", tag = "admin",
    request_body = NewApiKeyRequest,
    responses(
        (status = 201, description = "The key, shown this once", body = CreatedApiKey),
        (status = 422, description = "An empty name or an unknown role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The credential store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::RateLimited,
    ))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<NewApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let role = Role::from(body.role);
    let spec = store::ApiKeySpec {
        lifetime: body
            .expires_in_days
            .map(|days| std::time::Duration::from_hours(u64::from(days) * 24)),
        // It dies with the access of the user behind the caller, if any.
        created_by: match principal.subject {
            Subject::User(id) => store::Maker::User(id),
            Subject::ApiKey(id) => store::Maker::ApiKey(id),
            Subject::Anonymous => store::Maker::Nobody,
        },
        ..store::ApiKeySpec::new(&principal.tenant, &body.name, role)
    };
    let pool = state.database.pool().await?;
    let created = store::create_api_key(pool, &spec).await?;
    tracing::info!(tenant = %principal.tenant, key = %created.id, role = role.as_str(), "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            id: created.id.to_string(),
            name: body.name.trim().to_owned(),
            role: role.as_str().to_owned(),
            key: created.key,
        }),
    ))
}

/// Revokes one of the caller's tenant's API keys; requests with it are refused (401) from now.
#[utoipa::path(delete, path = "/api/v1/admin/api-keys/{key_id}", tag = "admin",
    params(("key_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "The tenant has no such live key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The credential store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::RateLimited,
    ))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&key_id, "key")?;
    store::revoke_api_key(state.database.pool().await?, id, Some(&principal.tenant)).await?;
    state.authenticator.forget_verified_keys();
    tracing::info!(tenant = %principal.tenant, key = %id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// The login; unique across tenants, whatever its case.
    #[schema(example = "ops@example.com", format = Email, max_length = 254)]
    email: String,
    /// 12 to 256 characters.
    #[schema(
        example = "correct horse battery staple",
        min_length = 12,
        max_length = 256
    )]
    password: String,
    role: RoleName,
}

// Not Debug: the password must not reach a log line by accident.
impl std::fmt::Debug for NewUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserRequest")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    id: String,
    email: String,
    role: String,
    /// RFC 3339.
    created_at: String,
}

impl From<UserInfo> for UserResponse {
    fn from(user: UserInfo) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            role: user.role.as_str().to_owned(),
            created_at: rfc3339(user.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    items: Vec<UserResponse>,
}

/// The caller's tenant's enabled users, by email.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    responses(
        (status = 200, description = "The enabled users", body = UserList),
        (status = 503, description = "The credential store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::RateLimited,
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<UserList>, ApiError> {
    let users = store::list_users(state.database.pool().await?, &principal.tenant).await?;
    Ok(Json(UserList {
        items: users.into_iter().map(Into::into).collect(),
    }))
}

/// A new user of the caller's tenant, who logs in at `/api/v1/auth/login`.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin",
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "The user", body = UserResponse),
        (status = 409, description = "A user with this email exists (in any tenant)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed email, a password of the wrong length or an unknown role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The credential store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::BodyRefusals,
        crate::schema::RateLimited,
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let role = Role::from(body.role);
    let pool = state.database.pool().await?;
    let id = store::create_user(pool, &principal.tenant, &body.email, &body.password, role).await?;
    tracing::info!(tenant = %principal.tenant, user = %id, role = role.as_str(), "user created");
    Ok((
        StatusCode::CREATED,
        Json(UserResponse {
            id: id.to_string(),
            email: body.email.trim().to_owned(),
            role: role.as_str().to_owned(),
            created_at: rfc3339(SystemTime::now()),
        }),
    ))
}

/// Disables one of the caller's tenant's users: no more logins or refreshes, its sessions
/// revoked; access tokens already issued live out their lifetime (`ARAS_ACCESS_TOKEN_TTL`).
#[utoipa::path(delete, path = "/api/v1/admin/users/{user_id}", tag = "admin",
    params(("user_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The user's id")),
    responses(
        (status = 204, description = "Disabled"),
        (status = 404, description = "The tenant has no such enabled user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The credential store is down", body = Problem, content_type = "application/problem+json"),
        crate::schema::RateLimited,
    ))]
pub async fn disable_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&user_id, "user")?;
    store::disable_user(state.database.pool().await?, &principal.tenant, id).await?;
    state.authenticator.forget_verified_keys();
    tracing::info!(tenant = %principal.tenant, user = %id, "user disabled");
    Ok(StatusCode::NO_CONTENT)
}
