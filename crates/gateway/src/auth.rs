//! Who is calling, and may they: every `/api/` request but health and the token routes must
//! carry an access token (`Authorization: Bearer`) or an API key (`X-API-Key`), whose role must
//! hold the route's permission. Development mode lets requests without credentials act as the
//! demo tenant's admin. The principal goes to the handlers (and the rate limiter) as an
//! extension, and its tenant and subject onto the request's span, hence every log line.

use std::time::Duration;

use aras_auth::store::api_key_principal;
use aras_auth::{AuthConfig, AuthError, Environment, Keyring, Principal, Subject};
use aras_domain::tenant::{Permission, Role, Tenant};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, Method, header};

use crate::database::Database;
use crate::error::ApiError;
use crate::state::AppState;

/// Header of machine clients' API keys (as documented; header names match whatever the case).
pub const API_KEY_HEADER: &str = "X-API-Key";

/// Routes under `/api/` anyone may call: probes, and the routes that hand out tokens (their
/// credentials are in the body).
const PUBLIC: [&str; 7] = [
    "/api/v1/health",
    "/api/v1/health/live",
    "/api/v1/health/ready",
    "/api/v1/livreurs/health",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
];

/// The permission a request needs, from its method and path; `None`: public. Everything
/// outside `/api/` (metrics, docs, the OpenAPI document) is public; every unknown `/api/` path
/// needs credentials, so a 404 tells an anonymous caller nothing.
pub fn required(method: &Method, path: &str) -> Option<Permission> {
    if !path.starts_with("/api/") || PUBLIC.contains(&path) {
        return None;
    }
    Some(if path.starts_with("/api/v1/admin/") {
        Permission::Administer
    } else if *method == Method::GET || *method == Method::HEAD {
        Permission::Read
    } else if path.starts_with("/api/v1/vehicles")
        || (path.starts_with("/api/v1/livreurs/") && path != "/api/v1/livreurs/rank")
    {
        // The catalog and the fleet (courier profiles and positions).
        Permission::WriteCatalog
    } else {
        Permission::Infer
    })
}

pub struct Authenticator {
    pub environment: Environment,
    pub keyring: Keyring,
    pub refresh_ttl: Duration,
}

impl Authenticator {
    /// Refuses production without signing keys; in development, makes up a key when none is
    /// configured and says loudly that the API is open.
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let keyring = match (&config.jwt_keys, config.environment) {
            (Some(spec), _) => Keyring::parse(spec, config.access_token_ttl)?,
            (None, Environment::Production) => anyhow::bail!(
                "ARAS_ENV=production needs ARAS_JWT_KEYS (kid:secret, secrets of at least {} characters)",
                aras_auth::token::MIN_SECRET_CHARS
            ),
            (None, Environment::Development) => Keyring::ephemeral(config.access_token_ttl)?,
        };
        if config.environment == Environment::Development {
            tracing::warn!(
                "DEVELOPMENT MODE: requests without credentials act as the admin of the demo tenant. \
                 Never expose this gateway; set ARAS_ENV=production and ARAS_JWT_KEYS for a deployment."
            );
        }
        Ok(Self {
            environment: config.environment,
            keyring,
            refresh_ttl: config.refresh_token_ttl,
        })
    }

    async fn principal(
        &self,
        database: &Database,
        headers: &HeaderMap,
    ) -> Result<Option<Principal>, ApiError> {
        let bearer = headers.get(header::AUTHORIZATION).map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(AuthError::Unauthenticated(
                    "the Authorization header must be `Bearer <access token>`",
                ))
        });
        let api_key = headers.get(API_KEY_HEADER).map(|value| {
            value
                .to_str()
                .map_err(|_| AuthError::Unauthenticated("invalid or revoked API key"))
        });
        match (bearer, api_key) {
            (Some(_), Some(_)) => Err(AuthError::Unauthenticated(
                "send an access token or an API key, not both",
            )
            .into()),
            (Some(token), None) => Ok(Some(self.keyring.verify(token?.trim())?)),
            (None, Some(key)) => {
                let pool = database.pool().await?;
                Ok(Some(api_key_principal(pool, key?.trim()).await?))
            }
            (None, None) => Ok(
                (self.environment == Environment::Development).then(|| Principal {
                    tenant: Tenant::demo(),
                    role: Role::Admin,
                    subject: Subject::Anonymous,
                }),
            ),
        }
    }
}

/// The middleware.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(permission) = required(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let principal = match state
        .authenticator
        .principal(&state.database, request.headers())
        .await
    {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            return ApiError::Unauthenticated(
                "credentials required: an access token (Authorization: Bearer) or an API key (X-API-Key)".into(),
            )
            .into_response();
        }
        Err(error) => return error.into_response(),
    };
    let span = tracing::Span::current();
    span.record("tenant", principal.tenant.as_str());
    span.record("principal", principal.subject.label());
    if !principal.role.allows(permission) {
        return ApiError::Forbidden(format!(
            "the {} role may not do this; it needs {} or above",
            principal.role,
            Role::least_for(permission)
        ))
        .into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_classes() {
        let cases = [
            (Method::GET, "/api/v1/health", None),
            (Method::GET, "/api/v1/health/ready", None),
            (Method::GET, "/api/v1/livreurs/health", None),
            (Method::POST, "/api/v1/auth/login", None),
            (Method::GET, "/metrics", None),
            (Method::GET, "/docs/index.html", None),
            (Method::GET, "/openapi.json", None),
            (Method::GET, "/api/v1/vehicles/1", Some(Permission::Read)),
            (Method::GET, "/api/v1/tasks/x", Some(Permission::Read)),
            (Method::GET, "/api/v1/nowhere", Some(Permission::Read)),
            (Method::GET, "/api/v1/health/", Some(Permission::Read)),
            (
                Method::POST,
                "/api/v1/recommendations",
                Some(Permission::Infer),
            ),
            (
                Method::POST,
                "/api/v1/recommendations/async",
                Some(Permission::Infer),
            ),
            (
                Method::POST,
                "/api/v1/livreurs/rank",
                Some(Permission::Infer),
            ),
            (
                Method::POST,
                "/api/v1/sentiment/analyze",
                Some(Permission::Infer),
            ),
            (Method::POST, "/api/v1/embeddings", Some(Permission::Infer)),
            (
                Method::PATCH,
                "/api/v1/vehicles/1",
                Some(Permission::WriteCatalog),
            ),
            (
                Method::POST,
                "/api/v1/vehicles",
                Some(Permission::WriteCatalog),
            ),
            (
                Method::DELETE,
                "/api/v1/vehicles/1",
                Some(Permission::WriteCatalog),
            ),
            (
                Method::POST,
                "/api/v1/admin/reindex",
                Some(Permission::Administer),
            ),
            (
                Method::GET,
                "/api/v1/admin/stats",
                Some(Permission::Administer),
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(required(&method, path), expected, "{method} {path}");
        }
    }
}
