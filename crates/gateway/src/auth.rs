//! Who is calling, and may they: every `/api/` request but health and the token routes must
//! carry an access token (`Authorization: Bearer`) or an API key (`X-API-Key`), whose role must
//! hold the route's permission. Development mode lets requests without credentials act as the
//! demo tenant's admin. The principal goes to the handlers (and the rate limiter) as an
//! extension, and its tenant and subject onto the request's span, hence every log line.

use std::net::IpAddr;
use std::time::Duration;

use aras_auth::password::HashingPool;
use aras_auth::store::api_key_principal;
use aras_auth::{AuthError, Environment, Keyring, Principal, Subject};
use aras_domain::tenant::{Permission, Role, Tenant};
use axum::Extension;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, Method, header};

use crate::client::ClientAddress;
use crate::config::GatewayConfig;
use crate::database::Database;
use crate::error::ApiError;
use crate::state::AppState;
use crate::throttle::{Counted, FailureThrottle};

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
    let read = *method == Method::GET || *method == Method::HEAD;
    Some(if path.starts_with("/api/v1/admin/") {
        Permission::Administer
    } else if read && path.starts_with("/api/v1/livreurs/") {
        Permission::ReadFleet
    } else if read {
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
    /// Where login passwords are checked, a bounded number at once.
    pub hashing: HashingPool,
    /// Failed authentications per client address and per email.
    pub throttle: FailureThrottle,
    /// API keys found valid in the last `ARAS_API_KEY_CACHE_TTL`: a client's requests reach
    /// Postgres once per TTL, not once each. Only valid keys go in, so guesses cannot fill it.
    verified_keys: Option<moka::sync::Cache<String, Principal>>,
    /// Browser origins allowed to call (CORS): development's anonymous writes accept them.
    allowed_origins: Vec<String>,
}

/// Most API keys remembered as valid at once.
const VERIFIED_KEYS_CAPACITY: u64 = 100_000;

impl Authenticator {
    /// Refuses production without signing keys, or with keys unfit for it; in development,
    /// makes up a key when none is configured and says loudly that the API is open.
    pub fn new(config: &GatewayConfig) -> anyhow::Result<Self> {
        let auth = &config.auth;
        let keyring = match (&auth.jwt_keys, auth.environment) {
            (Some(spec), Environment::Production) => {
                Keyring::parse_for_production(spec, auth.access_token_ttl)?
            }
            (Some(spec), Environment::Development) => Keyring::parse(spec, auth.access_token_ttl)?,
            (None, Environment::Production) => anyhow::bail!(
                "ARAS_ENV=production needs ARAS_JWT_KEYS (kid:secret, secrets of at least {} characters: openssl rand -hex 32)",
                aras_auth::token::MIN_SECRET_CHARS
            ),
            (None, Environment::Development) => Keyring::ephemeral(auth.access_token_ttl)?,
        };
        if auth.environment == Environment::Development {
            tracing::warn!(
                "DEVELOPMENT MODE: requests without credentials act as the admin of the demo tenant. \
                 Never expose this gateway; leave ARAS_ENV unset (production) and set ARAS_JWT_KEYS for a deployment."
            );
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let concurrent = match config.password_checks {
            0 => cores,
            n => n,
        };
        Ok(Self {
            environment: auth.environment,
            keyring,
            refresh_ttl: auth.refresh_token_ttl,
            hashing: HashingPool::new(concurrent, config.password_checks_queue)?,
            throttle: FailureThrottle::new(&config.throttle, &config.redis)?,
            verified_keys: (!config.api_key_cache_ttl.is_zero()).then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(VERIFIED_KEYS_CAPACITY)
                    .time_to_live(config.api_key_cache_ttl)
                    .build()
            }),
            allowed_origins: config.cors_allowed_origins.clone(),
        })
    }

    /// Forgets every key verified on this replica, after a revocation: the key revoked answers
    /// 401 here at once (other replicas trust it for what is left of their TTL).
    pub fn forget_verified_keys(&self) {
        if let Some(cache) = &self.verified_keys {
            cache.invalidate_all();
        }
    }

    /// Who the credentials of a request from `address` name. Failed credentials count against
    /// the address: over its limit, 429 before Postgres is asked about a key.
    async fn principal(
        &self,
        database: &Database,
        headers: &HeaderMap,
        address: IpAddr,
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
        let counted = [Counted::Address(address)];
        let found = match (bearer, api_key) {
            (Some(_), Some(_)) => Err(AuthError::Unauthenticated(
                "send an access token or an API key, not both",
            )),
            (Some(token), None) => token.and_then(|token| self.keyring.verify(token.trim())),
            (None, Some(key)) => match key.map(str::trim) {
                Ok(key) => {
                    if let Some(principal) = self.verified_keys.as_ref().and_then(|c| c.get(key)) {
                        return Ok(Some(principal));
                    }
                    self.throttle.check(&counted).await?;
                    let found = api_key_principal(database.pool().await?, key).await;
                    if let (Ok(principal), Some(cache)) = (&found, &self.verified_keys) {
                        cache.insert(key.to_owned(), principal.clone());
                    }
                    found
                }
                Err(error) => Err(error),
            },
            (None, None) => {
                return Ok(
                    (self.environment == Environment::Development).then(|| Principal {
                        tenant: Tenant::demo(),
                        role: Role::Admin,
                        subject: Subject::Anonymous,
                    }),
                );
            }
        };
        match found {
            Ok(principal) => Ok(Some(principal)),
            Err(error @ AuthError::Unauthenticated(_)) => {
                self.throttle.record_failure(&counted).await?;
                Err(error.into())
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// Whether a browser sent this request from another site than the gateway's own or one of
/// `allowed` (the CORS origins): `Sec-Fetch-Site` says so, or the `Origin` names another host
/// than the request's. Clients other than browsers send neither.
fn cross_site(headers: &HeaderMap, allowed: &[String]) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if header("origin").is_some_and(|origin| allowed.iter().any(|a| a.trim() == origin)) {
        return false;
    }
    if let Some(site) = header("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (header("origin"), header("host")) {
        (None, _) => false,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_none_or(|(_, authority)| !authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => true,
    }
}

/// Whether the request names the gateway by a DNS name other than `localhost`: a page whose
/// own name was rebound to this address would be same-origin, so development's open writes
/// take only an address or `localhost` as the host.
fn rebindable_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => {
            return bracketed
                .split_once(']')
                .is_none_or(|(a, _)| a.parse::<IpAddr>().is_err());
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    !name.eq_ignore_ascii_case("localhost") && name.parse::<IpAddr>().is_err()
}

/// The middleware.
pub async fn authenticate(
    State(state): State<AppState>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(permission) = required(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let principal = match state
        .authenticator
        .principal(&state.database, request.headers(), address)
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
    if principal.subject == Subject::Anonymous
        && !request.method().is_safe()
        && (cross_site(request.headers(), &state.authenticator.allowed_origins)
            || rebindable_host(request.headers()))
    {
        // Development's open API must not be driven by another site the developer visits
        // (a form or fetch to 127.0.0.1 needs no credentials there).
        return ApiError::Forbidden(
            "development mode takes writes without credentials only from its own pages, at an address or localhost (not another Origin, not a DNS name); send an API key".into(),
        )
        .into_response();
    }
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
    fn cross_site_requests_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, http::HeaderValue::from_static(value));
            }
            map
        };
        let cases = [
            (vec![], false),
            (vec![("host", "127.0.0.1:8000")], false),
            (
                vec![
                    ("host", "127.0.0.1:8000"),
                    ("origin", "http://127.0.0.1:8000"),
                ],
                false,
            ),
            (
                vec![
                    ("host", "127.0.0.1:8000"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
            (vec![("host", "127.0.0.1:8000"), ("origin", "null")], true),
            (
                vec![
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            (vec![("sec-fetch-site", "cross-site")], true),
            (vec![("sec-fetch-site", "same-site")], true),
            (vec![("sec-fetch-site", "none")], false),
        ];
        for (pairs, expected) in cases {
            assert_eq!(cross_site(&headers(&pairs), &[]), expected, "{pairs:?}");
        }
        let allowed = ["https://console.example.com".to_owned()];
        for (origin, expected) in [
            ("https://console.example.com", false),
            ("https://evil.example", true),
        ] {
            let pairs = [("sec-fetch-site", "cross-site"), ("origin", origin)];
            assert_eq!(cross_site(&headers(&pairs), &allowed), expected, "{origin}");
        }
    }

    #[test]
    fn only_addresses_and_localhost_are_safe_hosts() {
        for (host, rebindable) in [
            ("127.0.0.1:8000", false),
            ("localhost:8000", false),
            ("LOCALHOST", false),
            ("[::1]:8000", false),
            ("10.1.2.3", false),
            ("evil.example:8000", true),
            ("localhost.evil.example", true),
            ("[not-an-address]:80", true),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, http::HeaderValue::from_static(host));
            assert_eq!(rebindable_host(&headers), rebindable, "{host}");
        }
        assert!(!rebindable_host(&HeaderMap::new()));
    }

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
            (
                Method::GET,
                "/api/v1/livreurs/LIV-1",
                Some(Permission::ReadFleet),
            ),
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
