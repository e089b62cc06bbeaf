//! Rate limits, kept in Redis so every gateway replica counts together: GCRA (the generic cell
//! rate algorithm) in one Lua script on Redis's clock, per API key or user at its role's rate
//! (per client address for anonymous callers and the token routes, so password guessing is
//! limited too). A refused request
//! gets 429 with `Retry-After`; every limited response carries `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset`. Redis down: requests pass (fail open), counted
//! in `gateway_rate_limit_errors_total` and logged — a cache outage must not become an API
//! outage.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use aras_auth::{Principal, Subject};
use aras_common::redis::RedisConfig;
use aras_domain::tenant::{Role, UnknownRole};
use axum::Extension;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use fred::prelude::Client;
use fred::types::scripts::Script;
use http::{HeaderMap, HeaderValue};

use crate::client::ClientAddress;
use crate::error::{ApiError, whole_seconds};
use crate::state::AppState;

/// One request spends an interval, `ARGV[3]` requests as many (all allowed or none); a key may
/// run `burst` intervals ahead of Redis's clock. Answers {allowed (1/0), milliseconds until
/// they would be allowed, milliseconds until the burst is whole again, requests left in the
/// burst}.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * (burst - 1)
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now_ms), now_ms)
local new_tat = tat + interval * tonumber(ARGV[3])
local allowed_at = new_tat - interval - tolerance
if now_ms < allowed_at then
  return {0, allowed_at - now_ms, tat - now_ms, 0}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now_ms)
return {1, 0, new_tat - now_ms, math.floor((now_ms - allowed_at) / interval)}
",
    )
});

/// How many requests a client may make.
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimitConfig {
    /// Requests per second each API key, user or (without credentials) client address may make
    /// on the API (health, metrics and docs are not limited); 0 turns limits off.
    #[arg(long, env = "ARAS_RATE_LIMIT_PER_SECOND", default_value_t = 0)]
    pub rate_limit_per_second: u32,

    /// Requests per second of each API key or user of a role, where it differs from
    /// `ARAS_RATE_LIMIT_PER_SECOND`: `viewer=5,user=50,admin=200` (0: that role is not limited).
    #[arg(long, env = "ARAS_RATE_LIMIT_BY_ROLE", value_delimiter = ',', value_parser = role_rate)]
    pub rate_limit_by_role: Vec<(Role, u32)>,

    /// Requests per second of all of a tenant's API keys and users together (0: no tenant
    /// quota): a tenant cannot multiply its allowance by making more keys.
    #[arg(long, env = "ARAS_RATE_LIMIT_PER_TENANT", default_value_t = 0)]
    pub rate_limit_per_tenant: u32,

    /// Requests a client may make at once above its rate (the burst).
    #[arg(long, env = "ARAS_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
}

fn role_rate(entry: &str) -> Result<(Role, u32), String> {
    let (role, rate) = entry
        .split_once('=')
        .ok_or_else(|| format!("expected role=requests_per_second, got {entry:?}"))?;
    let role = role
        .trim()
        .parse()
        .map_err(|e: UnknownRole| e.to_string())?;
    let rate = rate
        .trim()
        .parse()
        .map_err(|_| format!("{rate:?} is not a whole number of requests per second"))?;
    Ok((role, rate))
}

pub struct RateLimiter {
    client: Client,
    redis: RedisConfig,
    /// Requests per second of anonymous callers and of roles without a rate of their own.
    default_rate: u32,
    by_role: HashMap<Role, u32>,
    per_tenant: u32,
    burst: u32,
}

/// One request spends this interval of a client's allowance.
fn interval_ms(rate: u32) -> u64 {
    (1000 / u64::from(rate.max(1))).max(1)
}

/// What the limiter decided for one request.
struct Decision {
    allowed: bool,
    retry_after: Duration,
    reset: Duration,
    remaining: u64,
}

impl RateLimiter {
    /// A limiter, or `None` when limits are off.
    pub fn new(
        config: &RateLimitConfig,
        redis: &RedisConfig,
    ) -> Result<Option<Self>, fred::error::Error> {
        let by_role: HashMap<Role, u32> = config.rate_limit_by_role.iter().copied().collect();
        if config.rate_limit_per_second == 0
            && config.rate_limit_per_tenant == 0
            && by_role.values().all(|rate| *rate == 0)
        {
            return Ok(None);
        }
        Ok(Some(Self {
            client: redis.connect()?,
            redis: redis.clone(),
            default_rate: config.rate_limit_per_second,
            by_role,
            per_tenant: config.rate_limit_per_tenant,
            burst: config.rate_limit_burst.max(1),
        }))
    }

    /// The requests per second of a principal's role (0: not limited).
    fn rate(&self, role: Option<Role>) -> u32 {
        role.and_then(|role| self.by_role.get(&role).copied())
            .unwrap_or(self.default_rate)
    }

    /// The decision for `cost` requests of `client`, or `None` when Redis did not answer.
    async fn check(&self, client: &str, interval_ms: u64, cost: u64) -> Option<Decision> {
        let key = self.redis.key(&format!("ratelimit:{client}"));
        let answer: Result<Vec<u64>, _> = GCRA
            .evalsha_with_reload(
                &self.client,
                key,
                vec![interval_ms, u64::from(self.burst), cost],
            )
            .await;
        match answer.as_deref() {
            Ok(&[allowed, retry_after_ms, reset_ms, remaining]) => Some(Decision {
                allowed: allowed == 1,
                retry_after: Duration::from_millis(retry_after_ms),
                reset: Duration::from_millis(reset_ms),
                remaining,
            }),
            Ok(other) => {
                tracing::error!(?other, "the rate-limit script answered an unexpected shape");
                None
            }
            Err(error) => {
                metrics::counter!("gateway_rate_limit_errors_total").increment(1);
                tracing::warn!(%error, "Redis unavailable; requests pass without a rate limit");
                None
            }
        }
    }

    /// Charges `extra` more requests to the caller of a request the middleware admitted: a
    /// submission of many jobs counts as that many requests. More than a burst can never pass:
    /// 422 naming the limit, rather than a 429 whose retry would never succeed.
    pub async fn charge(
        &self,
        principal: &Principal,
        address: IpAddr,
        extra: usize,
    ) -> Result<(), ApiError> {
        if extra == 0 {
            return Ok(());
        }
        if extra >= self.burst as usize {
            return Err(ApiError::InvalidInput(format!(
                "{} requests in one submission are more than the rate limit lets a client send at once ({}, ARAS_RATE_LIMIT_BURST): send smaller batches",
                extra + 1,
                self.burst
            )));
        }
        let (client, role) = identity(Some(principal), address);
        let rate = self.rate(role);
        if rate > 0 {
            let interval_ms = interval_ms(rate);
            if let Some(decision) = self.check(&client, interval_ms, extra as u64).await
                && !decision.allowed
            {
                return Err(self.refusal(&decision, interval_ms));
            }
        }
        match self.tenant_quota(Some(principal), extra as u64).await {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }

    /// The refusal of a request over its tenant's quota, if it is; development's anonymous
    /// caller has no tenant quota (it is counted by address).
    async fn tenant_quota(&self, principal: Option<&Principal>, cost: u64) -> Option<ApiError> {
        let principal = principal.filter(|p| p.subject != Subject::Anonymous)?;
        if self.per_tenant == 0 {
            return None;
        }
        let interval_ms = interval_ms(self.per_tenant);
        let client = format!("tenant:{}", principal.tenant);
        let decision = self.check(&client, interval_ms, cost).await?;
        (!decision.allowed).then(|| {
            metrics::counter!("gateway_rate_limited_total").increment(1);
            ApiError::Throttled {
                detail: format!(
                    "tenant {} is over its quota (ARAS_RATE_LIMIT_PER_TENANT: {} requests at once, then one every {interval_ms} ms for all its keys and users); retry later",
                    principal.tenant, self.burst
                ),
                retry_after: decision.retry_after,
            }
        })
    }

    fn refusal(&self, decision: &Decision, interval_ms: u64) -> ApiError {
        metrics::counter!("gateway_rate_limited_total").increment(1);
        ApiError::Throttled {
            detail: format!(
                "rate limit exceeded: {} requests at once, then one every {interval_ms} ms (a batch counts each of its requests); retry later",
                self.burst
            ),
            retry_after: decision.retry_after,
        }
    }

    fn headers(&self, decision: &Decision, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.burst));
        headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
        headers.insert(
            "ratelimit-reset",
            HeaderValue::from(whole_seconds(decision.reset)),
        );
    }
}

/// Whose allowance a request spends: an API key's or user's, at its role's rate; the client
/// address's for anonymous callers and the token routes.
fn identity(principal: Option<&Principal>, address: IpAddr) -> (String, Option<Role>) {
    match principal {
        Some(principal) if principal.subject != Subject::Anonymous => {
            (principal.subject.label(), Some(principal.role))
        }
        _ => (format!("ip:{address}"), None),
    }
}

/// The gateway's health routes: probes and monitoring poll them, so no limit applies (the
/// public summary is checked at most once a second; the detail is for admins).
fn is_health(path: &str) -> bool {
    path.starts_with("/api/v1/health") || path == "/api/v1/admin/health"
}

/// The middleware: limits `/api/v1/*` except the health routes, per principal.
pub async fn limit(
    State(state): State<AppState>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let Some(limiter) = state
        .rate_limiter
        .as_ref()
        .filter(|_| path.starts_with("/api/v1/") && !is_health(path))
    else {
        return next.run(request).await;
    };
    let principal = request.extensions().get::<Principal>().cloned();
    let (client, role) = identity(principal.as_ref(), address);
    let rate = limiter.rate(role);
    // The caller's own limit first: a caller over it spends nothing of its tenant's quota.
    let decision = if rate == 0 {
        None
    } else {
        let interval_ms = interval_ms(rate);
        match limiter.check(&client, interval_ms, 1).await {
            Some(decision) if !decision.allowed => {
                let mut response = limiter.refusal(&decision, interval_ms).into_response();
                limiter.headers(&decision, response.headers_mut());
                return response;
            }
            decision => decision,
        }
    };
    if let Some(refusal) = limiter.tenant_quota(principal.as_ref(), 1).await {
        return refusal.into_response();
    }
    let Some(decision) = decision else {
        return next.run(request).await;
    };
    let mut response = next.run(request).await;
    limiter.headers(&decision, response.headers_mut());
    response
}
