//! Live couriers in Redis: each tenant's profiles (a hash: courier id → profile JSON), positions
//! (a GEO set) and the time of each position (a hash: courier id → Unix ms). Every operation is
//! one Lua script over the tenant's three keys, so a check and the write it guards are atomic
//! (a stale or unregistered update never overwrites anything), and the keys share a hash tag
//! (`{tenant}`) so the scripts also run on a Redis Cluster.
//!
//! Unlike the recommendation cache, this is data, not an accelerator: when Redis is down these
//! operations fail (503) instead of carrying on without it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aras_common::redis::RedisConfig;
use aras_ranking_core::{InvalidInput, Positive, Reputation};
use fred::prelude::Client;
use fred::types::scripts::Script;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Settings of live dispatch.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetConfig {
    /// Positions older than this are ignored by live ranking (and dropped from the search set
    /// when met); the courier counts again from its next update.
    #[arg(id = "fleet_max_position_age", long = "fleet-max-position-age", env = "ARAS_FLEET_MAX_POSITION_AGE", default_value = "2m", value_parser = humantime::parse_duration)]
    pub max_position_age: Duration,

    /// Live couriers a ranking considers at most: those nearest the ellipse's centre.
    #[arg(
        id = "fleet_max_candidates",
        long = "fleet-max-candidates",
        env = "ARAS_FLEET_MAX_CANDIDATES",
        default_value_t = 500
    )]
    pub max_candidates: usize,

    /// Longest wait for one fleet command: longer than the cache's, because a batch of
    /// thousands of reports is one script, and a timed-out write would be reported as failed
    /// although Redis applied it.
    #[arg(id = "fleet_redis_timeout", long = "fleet-redis-timeout", env = "ARAS_FLEET_REDIS_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// Positions in one batch update at most.
    #[arg(
        id = "fleet_max_batch",
        long = "fleet-max-batch",
        env = "ARAS_FLEET_MAX_BATCH",
        default_value_t = 10_000
    )]
    pub max_batch: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TypeVehicule {
    Velo,
    Moto,
    Voiture,
    Camionnette,
    Camion,
}

/// A courier as registered: a candidate's own fields, without its position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// 0 to 10.
    #[schema(example = 8.5, minimum = 0.0, maximum = 10.0)]
    pub reputation: f64,
    /// Greater than 0.
    #[schema(example = 30.0, exclusive_minimum = 0.0)]
    pub capacite_max_kg: f64,
    pub type_vehicule: TypeVehicule,
    /// Optional volume capacity (> 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0)]
    pub capacite_volume_m3: Option<f64>,
}

impl Profile {
    /// The ranking's rules for a candidate's fields.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        Reputation::new(self.reputation)?;
        Positive::new("capacite_max_kg", self.capacite_max_kg)?;
        if let Some(volume) = self.capacite_volume_m3 {
            Positive::new("capacite_volume_m3", volume)?;
        }
        Ok(())
    }
}

/// One position report, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionUpdate {
    pub courier_id: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Unix time of the fix, in ms.
    pub timestamp_ms: u64,
}

/// What became of one position report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    Applied,
    /// Not newer than the position held: ignored, the held one stays.
    NotNewer,
    /// No profile under that id: ignored.
    UnknownCourier,
}

/// A live courier near an announcement.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCourier {
    pub courier_id: String,
    pub latitude: f64,
    pub longitude: f64,
    pub timestamp_ms: u64,
    pub profile: Profile,
}

/// What one radius search found.
#[derive(Debug, Default)]
pub struct Nearby {
    pub couriers: Vec<LiveCourier>,
    /// Found with a position older than the maximum age: ignored, and dropped from the set.
    pub stale: usize,
    /// The search stopped at the maximum number of candidates.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("Redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("no courier {0:?} is registered")]
    UnknownCourier(String),
    #[error("Redis answered what the fleet scripts never return: {0}")]
    Malformed(String),
}

/// Redis's GEO distances use this Earth radius (km), a little larger than the ranking's
/// haversine radius: a radius in the ranking's kilometres is scaled by their ratio.
const REDIS_EARTH_RADIUS_KM: f64 = 6_372.797_560_856;

/// Redis GEO stores latitudes within the Web Mercator range only.
pub const MAX_LATITUDE: f64 = 85.051_128_78;

/// KEYS: profiles. ARGV: id, profile. Answers 1 when the courier is new.
const REGISTER: &str = "return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])";

/// KEYS: positions (GEO), times, profiles. ARGV: (id, longitude, latitude, ms) per report.
/// Answers per report 0 (applied), 1 (not newer than the held one), 2 (unregistered).
const UPDATE: &str = r"
local out = {}
for i = 1, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('HEXISTS', KEYS[3], id) == 0 then
    out[#out + 1] = 2
  else
    local held = redis.call('HGET', KEYS[2], id)
    if held and tonumber(held) >= tonumber(ARGV[i + 3]) then
      out[#out + 1] = 1
    else
      redis.call('GEOADD', KEYS[1], ARGV[i + 1], ARGV[i + 2], id)
      redis.call('HSET', KEYS[2], id, ARGV[i + 3])
      out[#out + 1] = 0
    end
  end
end
return out";

/// KEYS: positions, times, profiles. ARGV: id. Answers -1 when unregistered, else whether it
/// was online.
const OFFLINE: &str = r"
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return -1 end
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])";

/// KEYS: positions, times, profiles. ARGV: longitude, latitude, radius km, count, oldest ms.
/// Answers the stale count, the found count, then (id, longitude, latitude, ms, profile) per
/// fresh courier, nearest the centre first; stale positions met are dropped.
///
/// A search costs what its circle holds, not what it returns (Redis measures and sorts every
/// member of the circle's geohash cells), so it starts at an eighth of the radius and doubles
/// until it finds `count` couriers or reaches the full radius: in a dense city the nearest
/// `count` come from a small circle, and they are the same couriers the full circle would rank
/// first. Times and profiles are read with one HMGET per 1,000 couriers (`unpack` has a stack
/// limit).
const NEARBY: &str = r"
local radius, count = tonumber(ARGV[3]), tonumber(ARGV[4])
local r = radius / 8
local found
while true do
  found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2],
    'BYRADIUS', r, 'km', 'ASC', 'COUNT', count, 'WITHCOORD')
  if #found >= count or r >= radius then break end
  r = math.min(radius, r * 2)
end
local out = {'0', tostring(#found)}
local stale = 0
local oldest = tonumber(ARGV[5])
local ids = {}
for i, item in ipairs(found) do ids[i] = item[1] end
for from = 1, #ids, 1000 do
  local to = math.min(from + 999, #ids)
  local seen = redis.call('HMGET', KEYS[2], unpack(ids, from, to))
  local profiles = redis.call('HMGET', KEYS[3], unpack(ids, from, to))
  for k = 1, to - from + 1 do
    local item = found[from + k - 1]
    local id = item[1]
    if not seen[k] or not profiles[k] or tonumber(seen[k]) < oldest then
      stale = stale + 1
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[2], id)
    else
      out[#out + 1] = id
      out[#out + 1] = item[2][1]
      out[#out + 1] = item[2][2]
      out[#out + 1] = seen[k]
      out[#out + 1] = profiles[k]
    end
  end
end
out[1] = tostring(stale)
return out";

/// KEYS: positions, times, profiles. ARGV: id. Answers {profile, ms, longitude, latitude}, the
/// last three false when offline; nil when unregistered.
const GET: &str = r"
local profile = redis.call('HGET', KEYS[3], ARGV[1])
if not profile then return nil end
local seen = redis.call('HGET', KEYS[2], ARGV[1])
local pos = redis.call('GEOPOS', KEYS[1], ARGV[1])[1]
if not seen or not pos then return {profile} end
return {profile, seen, pos[1], pos[2]}";

pub struct Fleet {
    client: Client,
    redis: RedisConfig,
    pub config: FleetConfig,
    register: Script,
    update: Script,
    offline: Script,
    nearby: Script,
    get: Script,
}

/// A registered courier, with its position when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub profile: Profile,
    pub position: Option<(f64, f64, u64)>,
}

impl Fleet {
    pub fn connect(redis: &RedisConfig, config: FleetConfig) -> Result<Self, fred::error::Error> {
        let redis = RedisConfig {
            timeout: config.redis_timeout,
            ..redis.clone()
        };
        Ok(Self {
            client: redis.connect()?,
            redis,
            config,
            register: Script::from_lua(REGISTER),
            update: Script::from_lua(UPDATE),
            offline: Script::from_lua(OFFLINE),
            nearby: Script::from_lua(NEARBY),
            get: Script::from_lua(GET),
        })
    }

    /// The tenant's keys: positions, times, profiles.
    fn keys(&self, tenant: &str) -> Vec<String> {
        ["positions", "seen", "profiles"]
            .iter()
            .map(|name| self.redis.key(&format!("fleet:{{{tenant}}}:{name}")))
            .collect()
    }

    /// Registers or replaces a courier's profile; `true` when it is new.
    pub async fn register(
        &self,
        tenant: &str,
        courier_id: &str,
        profile: &Profile,
    ) -> Result<bool, FleetError> {
        let json = serde_json::to_string(profile).expect("a profile serialises");
        let profiles = self.keys(tenant).swap_remove(2);
        let created: i64 = self
            .register
            .evalsha_with_reload(&self.client, profiles, vec![courier_id.to_owned(), json])
            .await?;
        Ok(created == 1)
    }

    /// Applies position reports in order, each only if its courier is registered and it is
    /// newer than the position held.
    pub async fn update(
        &self,
        tenant: &str,
        reports: &[PositionUpdate],
    ) -> Result<Vec<UpdateOutcome>, FleetError> {
        let mut args = Vec::with_capacity(reports.len() * 4);
        for report in reports {
            args.push(report.courier_id.clone());
            args.push(report.longitude.to_string());
            args.push(report.latitude.to_string());
            args.push(report.timestamp_ms.to_string());
        }
        let codes: Vec<i64> = self
            .update
            .evalsha_with_reload(&self.client, self.keys(tenant), args)
            .await?;
        codes
            .into_iter()
            .map(|code| match code {
                0 => Ok(UpdateOutcome::Applied),
                1 => Ok(UpdateOutcome::NotNewer),
                2 => Ok(UpdateOutcome::UnknownCourier),
                other => Err(FleetError::Malformed(format!("update outcome {other}"))),
            })
            .collect()
    }

    /// Takes a courier offline (its position is forgotten, its profile kept); `true` when it
    /// was online.
    pub async fn offline(&self, tenant: &str, courier_id: &str) -> Result<bool, FleetError> {
        let answer: i64 = self
            .offline
            .evalsha_with_reload(&self.client, self.keys(tenant), courier_id.to_owned())
            .await?;
        match answer {
            -1 => Err(FleetError::UnknownCourier(courier_id.to_owned())),
            removed => Ok(removed == 1),
        }
    }

    pub async fn get(
        &self,
        tenant: &str,
        courier_id: &str,
    ) -> Result<Option<Registered>, FleetError> {
        let answer: Option<Vec<String>> = self
            .get
            .evalsha_with_reload(&self.client, self.keys(tenant), courier_id.to_owned())
            .await?;
        let Some(fields) = answer else {
            return Ok(None);
        };
        let profile = parse_profile(fields.first().map_or("", String::as_str))?;
        let position = match fields.as_slice() {
            [_, seen, longitude, latitude] => {
                Some((number(latitude)?, number(longitude)?, number::<u64>(seen)?))
            }
            _ => None,
        };
        Ok(Some(Registered { profile, position }))
    }

    /// The tenant's couriers with a fresh position within `radius_km` (haversine, as the
    /// ranking measures) of the centre, nearest first, at most `max_candidates`.
    pub async fn nearby(
        &self,
        tenant: &str,
        (latitude, longitude): (f64, f64),
        radius_km: f64,
        now_ms: u64,
    ) -> Result<Nearby, FleetError> {
        let oldest_ms = now_ms.saturating_sub(
            u64::try_from(self.config.max_position_age.as_millis()).unwrap_or(u64::MAX),
        );
        let redis_radius_km =
            radius_km * REDIS_EARTH_RADIUS_KM / aras_ranking_core::geo::EARTH_RADIUS_KM;
        let args = vec![
            longitude.to_string(),
            latitude.to_string(),
            redis_radius_km.to_string(),
            self.config.max_candidates.to_string(),
            oldest_ms.to_string(),
        ];
        let flat: Vec<String> = self
            .nearby
            .evalsha_with_reload(&self.client, self.keys(tenant), args)
            .await?;
        let [stale, found, rest @ ..] = flat.as_slice() else {
            return Err(FleetError::Malformed(
                "a search answer without counts".into(),
            ));
        };
        let found: usize = number(found)?;
        let couriers = rest
            .chunks(5)
            .map(|item| match item {
                [id, longitude, latitude, seen, profile] => Ok(LiveCourier {
                    courier_id: id.clone(),
                    latitude: number(latitude)?,
                    longitude: number(longitude)?,
                    timestamp_ms: number(seen)?,
                    profile: parse_profile(profile)?,
                }),
                _ => Err(FleetError::Malformed("a partial courier".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Nearby {
            couriers,
            stale: number(stale)?,
            truncated: found >= self.config.max_candidates,
        })
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, FleetError> {
    text.parse()
        .map_err(|_| FleetError::Malformed(format!("{text:?} is not a number")))
}

fn parse_profile(json: &str) -> Result<Profile, FleetError> {
    serde_json::from_str(json).map_err(|e| FleetError::Malformed(format!("a profile: {e}")))
}

/// Now, in Unix ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
