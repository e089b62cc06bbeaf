//! Failed authentication, counted in Redis so every gateway replica counts together: wrong
//! passwords per email and per client address, invalid API keys and access tokens per client
//! address. Past a limit within the window the caller gets 429 with `Retry-After` (when the
//! window of its first failure ends) **before** any password is hashed or any key looked up,
//! whether or not general rate limits are on. A success resets nothing but the email's own
//! counter — only the password's holder can reset that, and an attacker succeeding with an
//! account of their own from the same address must not reset the address's count.
//! Redis down: requests pass (fail open, as the rate limits), counted in
//! `gateway_auth_throttle_errors_total`; the hashing pool still bounds what a flood costs.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use aras_common::redis::RedisConfig;
use fred::prelude::Client;
use fred::types::scripts::Script;
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;

/// Answers the milliseconds until the first counter over its limit expires (0: none is).
/// KEYS: counters; ARGV: their limits.
static CHECK: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
    wait = math.max(wait, redis.call('PTTL', key))
  end
end
return wait
",
    )
});

/// A login attempt, counted as a failure before its password is hashed, all or nothing: refused
/// (as `CHECK` answers) when a counter has used up its failures, else each counter counts one
/// more (a window starts at its first failure). Counting first keeps parallel guesses from all
/// passing the check before any is counted. KEYS: counters; ARGV[1]: the window in
/// milliseconds; ARGV[2…]: the limits.
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    wait = math.max(wait, redis.call('PTTL', key))
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
",
    )
});

/// Takes back an attempt `BEGIN` counted (it was no failure): one less on each counter.
static TAKE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
",
    )
});

/// Counts one failure on each counter (a counter's window starts at its first failure);
/// answers as `CHECK` does, for counters now past their limit.
/// KEYS: counters; ARGV[1]: the window in milliseconds; ARGV[2…]: the limits.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local wait = 0
for i, key in ipairs(KEYS) do
  local failures = redis.call('INCR', key)
  if failures == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  if failures > tonumber(ARGV[i + 1]) then
    wait = math.max(wait, redis.call('PTTL', key))
  end
end
return wait
",
    )
});

#[derive(Debug, Clone, clap::Args)]
pub struct ThrottleConfig {
    /// Failed authentications (wrong password, invalid API key or token) one client address
    /// may make within `ARAS_AUTH_FAILURE_WINDOW`; then 429 until the window ends.
    #[arg(long, env = "ARAS_AUTH_MAX_FAILURES_PER_ADDRESS", default_value_t = 20)]
    pub max_failures_per_address: u32,

    /// Wrong passwords one email may be tried with within `ARAS_AUTH_FAILURE_WINDOW`, from
    /// anywhere; then its logins answer 429 until the window ends.
    #[arg(long, env = "ARAS_AUTH_MAX_FAILURES_PER_EMAIL", default_value_t = 10)]
    pub max_failures_per_email: u32,

    /// The window failures are counted in, from the first one.
    #[arg(long, env = "ARAS_AUTH_FAILURE_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub failure_window: Duration,
}

/// What a failure is counted against.
#[derive(Debug, Clone, Copy)]
pub enum Counted<'a> {
    Address(IpAddr),
    /// A user's account, by id: every spelling of its email counts together.
    Account(uuid::Uuid),
    /// An email no account has: counted too, so a guesser cannot tell accounts apart by which
    /// emails get throttled.
    Email(&'a str),
}

pub struct FailureThrottle {
    client: Client,
    redis: RedisConfig,
    config: ThrottleConfig,
}

impl FailureThrottle {
    pub fn new(config: &ThrottleConfig, redis: &RedisConfig) -> Result<Self, fred::error::Error> {
        Ok(Self {
            client: redis.connect()?,
            redis: redis.clone(),
            config: config.clone(),
        })
    }

    /// The counter's key: one hash tag, so a script's keys share a Redis Cluster slot; emails
    /// hashed, so Redis holds no address book.
    fn key(&self, counted: Counted<'_>) -> String {
        let name = match counted {
            // One IPv6 host holds a whole /64: counting each address would hand it 2^64
            // allowances.
            Counted::Address(IpAddr::V6(address)) => {
                let network = ipnet::Ipv6Net::new(address, 64).map_or(address, |n| n.network());
                format!("address:{network}/64")
            }
            Counted::Address(address) => format!("address:{address}"),
            Counted::Account(id) => format!("account:{id}"),
            Counted::Email(email) => format!(
                "email:{}",
                hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()))
            ),
        };
        self.redis.key(&format!("{{authfail}}:{name}"))
    }

    fn limit(&self, counted: Counted<'_>) -> u64 {
        u64::from(match counted {
            Counted::Address(_) => self.config.max_failures_per_address,
            Counted::Account(_) | Counted::Email(_) => self.config.max_failures_per_email,
        })
    }

    /// 429 when any of `counted` has used up its failures.
    pub async fn check(&self, counted: &[Counted<'_>]) -> Result<(), ApiError> {
        let keys: Vec<String> = counted.iter().map(|c| self.key(*c)).collect();
        let limits: Vec<u64> = counted.iter().map(|c| self.limit(*c)).collect();
        self.refuse_after(CHECK.evalsha_with_reload(&self.client, keys, limits).await)
    }

    /// Counts one failure against each of `counted`; 429 when that was one past a limit (a
    /// caller whose failures are not checked before, such as an access token's, learns it
    /// here).
    pub async fn record_failure(&self, counted: &[Counted<'_>]) -> Result<(), ApiError> {
        metrics::counter!("gateway_auth_failures_total").increment(1);
        let (keys, args) = self.keys_and_limits(counted);
        self.refuse_after(RECORD.evalsha_with_reload(&self.client, keys, args).await)
    }

    /// Counts a login attempt as a failure before its password is checked; 429 (and nothing
    /// counted) when one of `counted` has used up its failures. [`Self::settle`] says how it
    /// ended.
    pub async fn begin(&self, counted: &[Counted<'_>]) -> Result<(), ApiError> {
        let (keys, args) = self.keys_and_limits(counted);
        self.refuse_after(BEGIN.evalsha_with_reload(&self.client, keys, args).await)
    }

    /// How an attempt [`Self::begin`] counted ended: a wrong password stays counted; a success
    /// takes it back from the address (whose earlier failures stay) and forgets the account's
    /// failures (only the password's holder can); an attempt that could not be checked (the
    /// hashing pool full, the store down) is taken back.
    pub async fn settle(&self, counted: &[Counted<'_>], outcome: Attempt) {
        let result = match outcome {
            Attempt::WrongPassword => {
                metrics::counter!("gateway_auth_failures_total").increment(1);
                return;
            }
            Attempt::Unchecked => {
                let keys: Vec<String> = counted.iter().map(|c| self.key(*c)).collect();
                TAKE_BACK
                    .evalsha_with_reload::<u64, _, _>(&self.client, keys, Vec::<u64>::new())
                    .await
            }
            Attempt::LoggedIn => {
                let (address, account): (Vec<Counted<'_>>, Vec<Counted<'_>>) = counted
                    .iter()
                    .partition(|c| matches!(c, Counted::Address(_)));
                let address: Vec<String> = address.into_iter().map(|c| self.key(c)).collect();
                let account: Vec<String> = account.into_iter().map(|c| self.key(c)).collect();
                let taken_back = TAKE_BACK
                    .evalsha_with_reload::<u64, _, _>(&self.client, address, Vec::<u64>::new())
                    .await;
                match taken_back {
                    Ok(_) if !account.is_empty() => {
                        fred::prelude::KeysInterface::del::<u64, _>(&self.client, account).await
                    }
                    other => other,
                }
            }
        };
        if let Err(error) = result {
            failed(&error);
        }
    }

    fn keys_and_limits(&self, counted: &[Counted<'_>]) -> (Vec<String>, Vec<u64>) {
        let window_ms = u64::try_from(self.config.failure_window.as_millis()).unwrap_or(u64::MAX);
        let keys = counted.iter().map(|c| self.key(*c)).collect();
        let args = std::iter::once(window_ms)
            .chain(counted.iter().map(|c| self.limit(*c)))
            .collect();
        (keys, args)
    }

    /// The scripts' answer: milliseconds to wait, 0 for none.
    fn refuse_after(&self, answer: Result<u64, fred::error::Error>) -> Result<(), ApiError> {
        let wait_ms = match answer {
            Ok(wait_ms) => wait_ms,
            Err(error) => {
                failed(&error);
                return Ok(());
            }
        };
        if wait_ms == 0 {
            return Ok(());
        }
        metrics::counter!("gateway_auth_throttled_total").increment(1);
        Err(ApiError::Throttled {
            detail: format!(
                "too many failed authentications from this address or for this account (at most {} per address and {} per email within {}); retry later",
                self.config.max_failures_per_address,
                self.config.max_failures_per_email,
                humantime::format_duration(self.config.failure_window),
            ),
            retry_after: Duration::from_millis(wait_ms),
        })
    }
}

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    WrongPassword,
    LoggedIn,
    /// Not checked: the hashing pool was full, or the store failed.
    Unchecked,
}

fn failed(error: &fred::error::Error) {
    metrics::counter!("gateway_auth_throttle_errors_total").increment(1);
    tracing::warn!(%error, "Redis unavailable; authentication failures are not counted");
}
