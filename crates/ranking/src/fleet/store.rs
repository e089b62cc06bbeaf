//! The fleet's durable record in Redis, and its change log.
//!
//! Keys (after the prefix), all under the hash tag `{fleet}` so that every script's keys sit in
//! one slot of a Redis Cluster:
//! - `{fleet}:<tenant>:profiles`: courier id → profile (`reputation capacity volume|- vehicle`);
//! - `{fleet}:<tenant>:fixes`: courier id → its last position, `<Unix ms> <latitude> <longitude>`,
//!   or `-` while it has none (registered, never reported, or offline): a report reads and
//!   writes this one hash;
//! - `{fleet}:tenants`: the tenants that have couriers;
//! - `{fleet}:seq`: the number of the last change;
//! - `{fleet}:changes`: the change log, a Stream whose entry ids are `<seq>-0`, so that a reader
//!   sees a gap (a change trimmed before it read it) as a jump in numbers.
//!
//! Each write is one Lua script: the check, the write and its change-log entry are atomic, so
//! replicas that apply the log in order reach what Redis holds. Numbers travel as the text the
//! writer formatted, never re-formatted in Lua, so every replica reads the same bits.

use std::collections::HashMap;

use aras_common::redis::RedisConfig;
use aras_ranking_core::{LatLon, Positive, Profile, Reputation, VehicleType};
use fred::prelude::{Client, Value};
use fred::types::scripts::Script;

use super::Change;
use aras_ranking_core::live::Fix;

/// Separates the fields of one change record, and the records of one entry: ASCII unit and
/// record separators, which courier ids (no control characters) never hold.
const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// `append(log, counter, epoch, tenant, length, kind, data)`: numbers a change and appends it
/// to the log (trimmed to about `length` entries); answers its number. Prefixed to each write
/// script and called before the script writes anything, so a change is stored only if it is
/// logged (Redis does not roll a failed script back). The epoch (Redis's clock when the counter
/// started) travels in every entry: numbers that start again after Redis lost its data come
/// with another epoch, which replicas see at once.
const APPEND: &str = r"
local function append(log, counter, epoch_key, tenant, length, kind, data)
  local seq = redis.call('INCR', counter)
  if seq == 1 then
    local t = redis.call('TIME')
    redis.call('SET', epoch_key, t[1] .. string.format('%06d', t[2]))
  end
  local now = redis.call('TIME')
  redis.call('XADD', log, 'MAXLEN', '~', length, seq .. '-0', 't', tenant, 'k', kind,
    'e', redis.call('GET', epoch_key) or '0',
    'at', now[1] * 1000 + math.floor(now[2] / 1000), 'd', data)
  return seq
end
";

/// KEYS: profiles, fixes, tenants, changes, seq, epoch. ARGV: tenant, log length, id, profile.
/// Answers {1 when new, the change's number}.
const REGISTER: &str = r"
local seq = append(KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], 'r', ARGV[3] .. '\31' .. ARGV[4])
local created = redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('HSETNX', KEYS[2], ARGV[3], '-')
redis.call('SADD', KEYS[3], ARGV[1])
return {created, seq}";

/// KEYS: fixes, changes, seq, epoch. ARGV: tenant, log length, then (id, ms,
/// `latitude longitude`) per report. Answers {the change's number or 0, then per report 0
/// (applied), 1 (not newer than the held one) or 2 (unregistered)}. Reports are checked
/// against what Redis holds and against the batch's own earlier reports.
const REPORT: &str = r"
local out = {0}
local latest = {}
local applied = {}
local fixes = {}
local n = (#ARGV - 2) / 3
for from = 0, n - 1, 1000 do
  local to = math.min(from + 999, n - 1)
  local ids = {}
  for i = from, to do ids[#ids + 1] = ARGV[3 + 3 * i] end
  local held = redis.call('HMGET', KEYS[1], unpack(ids))
  for k = 1, #ids do
    local i = from + k - 1
    local id, ms, coords = ARGV[3 + 3 * i], ARGV[4 + 3 * i], ARGV[5 + 3 * i]
    local current = latest[id]
    if not current and held[k] and held[k] ~= '-' then
      current = tonumber(string.match(held[k], '^%S+'))
    end
    if not held[k] then
      out[#out + 1] = 2
    elseif current and current >= tonumber(ms) then
      out[#out + 1] = 1
    else
      latest[id] = tonumber(ms)
      fixes[#fixes + 1] = id
      fixes[#fixes + 1] = ms .. ' ' .. coords
      applied[#applied + 1] = id .. '\31' .. ms .. '\31' .. coords
      out[#out + 1] = 0
    end
  end
end
if #applied > 0 then
  out[1] = append(KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], 'p', table.concat(applied, '\30'))
end
for from = 1, #fixes, 2000 do
  redis.call('HSET', KEYS[1], unpack(fixes, from, math.min(from + 1999, #fixes)))
end
return out";

/// KEYS: fixes, changes, seq, epoch. ARGV: tenant, log length, id. Answers {-1} when
/// unregistered, {0, 0} when it was offline already (nothing changes), else {1, the change's
/// number}.
const OFFLINE: &str = r"
local held = redis.call('HGET', KEYS[1], ARGV[3])
if not held then return {-1} end
if held == '-' then return {0, 0} end
local seq = append(KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], 'o', ARGV[3])
redis.call('HSET', KEYS[1], ARGV[3], '-')
return {1, seq}";

/// KEYS: profiles, fixes. ARGV: id. Answers {profile, fix}; nil when unregistered.
const GET: &str = r"
local profile = redis.call('HGET', KEYS[1], ARGV[1])
if not profile then return nil end
return {profile, redis.call('HGET', KEYS[2], ARGV[1])}";

/// KEYS: seq, epoch, tenants. Answers {the last change's number, the epoch, the tenants...}.
const HEAD: &str = r"
local out = {redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[2]) or '0'}
for _, tenant in ipairs(redis.call('SMEMBERS', KEYS[3])) do out[#out + 1] = tenant end
return out";

/// KEYS: profiles, fixes. ARGV: cursor, count. Answers {next cursor, then (id, profile, fix)
/// per courier of the page}.
const PAGE: &str = r"
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local out = {page[1]}
local ids = {}
for i = 1, #page[2], 2 do ids[#ids + 1] = page[2][i] end
-- COUNT is a hint: a page may hold more than unpack takes at once.
local fixes = {}
for from = 1, #ids, 1000 do
  local part = redis.call('HMGET', KEYS[2], unpack(ids, from, math.min(from + 999, #ids)))
  for k = 1, #part do fixes[from + k - 1] = part[k] end
end
for k = 1, #ids do
  out[#out + 1] = ids[k]
  out[#out + 1] = page[2][2 * k]
  out[#out + 1] = fixes[k]
end
return out";

/// Couriers read per snapshot page.
const PAGE_SIZE: u32 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the fleet's Redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("the fleet's Redis holds what ARAS never writes: {0}")]
    Malformed(String),
}

/// What became of one position report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    Applied,
    /// Not newer than the position held: ignored, the held one stays.
    NotNewer,
    /// No profile under that id: ignored.
    UnknownCourier,
}

/// One validated position report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub courier_id: String,
    pub fix: Fix,
}

/// Where the log stands: its last change's number and epoch, and the tenants with couriers.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub seq: u64,
    pub epoch: String,
    pub tenants: Vec<String>,
}

/// A courier as Redis holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCourier {
    pub profile: Profile,
    pub fix: Option<Fix>,
}

/// The fleet's keys and scripts on one Redis.
pub struct Store {
    client: Client,
    redis: RedisConfig,
    log_length: u64,
    register: Script,
    report: Script,
    offline: Script,
    get: Script,
    head: Script,
    page: Script,
}

impl Store {
    pub fn new(client: Client, redis: RedisConfig, log_length: u64) -> Self {
        Self {
            client,
            redis,
            log_length,
            register: Script::from_lua(format!("{APPEND}{REGISTER}")),
            report: Script::from_lua(format!("{APPEND}{REPORT}")),
            offline: Script::from_lua(format!("{APPEND}{OFFLINE}")),
            get: Script::from_lua(GET),
            head: Script::from_lua(HEAD),
            page: Script::from_lua(PAGE),
        }
    }

    fn key(&self, name: &str) -> String {
        self.redis.key(&format!("{{fleet}}:{name}"))
    }

    /// The change log's key.
    pub fn changes_key(&self) -> String {
        self.key("changes")
    }

    /// `tenant`'s profiles and fixes keys.
    fn tenant_keys(&self, tenant: &str) -> [String; 2] {
        ["profiles", "fixes"].map(|name| self.key(&format!("{tenant}:{name}")))
    }

    /// Registers or replaces a courier's profile: whether it is new, and the change's number.
    pub async fn register(
        &self,
        tenant: &str,
        courier_id: &str,
        profile: &Profile,
    ) -> Result<(bool, u64), StoreError> {
        let [profiles, fixes] = self.tenant_keys(tenant);
        let keys = vec![
            profiles,
            fixes,
            self.key("tenants"),
            self.changes_key(),
            self.key("seq"),
            self.key("epoch"),
        ];
        let args = vec![
            tenant.to_owned(),
            self.log_length.to_string(),
            courier_id.to_owned(),
            encode_profile(profile),
        ];
        let (created, seq): (i64, u64) = self
            .register
            .evalsha_with_reload(&self.client, keys, args)
            .await?;
        Ok((created == 1, seq))
    }

    /// Applies reports in order; their outcomes, and the change's number when any applied.
    pub async fn report(
        &self,
        tenant: &str,
        reports: &[Report],
    ) -> Result<(Vec<ReportOutcome>, Option<u64>), StoreError> {
        let mut args = Vec::with_capacity(2 + reports.len() * 3);
        args.push(tenant.to_owned());
        args.push(self.log_length.to_string());
        for report in reports {
            args.push(report.courier_id.clone());
            args.push(report.fix.at_ms.to_string());
            args.push(encode_coords(report.fix.position));
        }
        let codes: Vec<u64> = self
            .report
            .evalsha_with_reload(&self.client, self.position_keys(tenant), args)
            .await?;
        let (&seq, codes) = codes
            .split_first()
            .ok_or_else(|| StoreError::Malformed("a report answer without its number".into()))?;
        let outcomes = codes
            .iter()
            .map(|code| match code {
                0 => Ok(ReportOutcome::Applied),
                1 => Ok(ReportOutcome::NotNewer),
                2 => Ok(ReportOutcome::UnknownCourier),
                other => Err(StoreError::Malformed(format!("report outcome {other}"))),
            })
            .collect::<Result<_, _>>()?;
        Ok((outcomes, (seq > 0).then_some(seq)))
    }

    /// The keys of a script that changes positions: fixes, changes, seq, epoch.
    fn position_keys(&self, tenant: &str) -> Vec<String> {
        let [_, fixes] = self.tenant_keys(tenant);
        vec![
            fixes,
            self.changes_key(),
            self.key("seq"),
            self.key("epoch"),
        ]
    }

    /// Takes a courier offline: `None` when unregistered, else whether it was online and the
    /// change's number (0, nothing to wait for, when it was offline already).
    pub async fn offline(
        &self,
        tenant: &str,
        courier_id: &str,
    ) -> Result<Option<(bool, u64)>, StoreError> {
        let args = vec![
            tenant.to_owned(),
            self.log_length.to_string(),
            courier_id.to_owned(),
        ];
        let answer: Vec<i64> = self
            .offline
            .evalsha_with_reload(&self.client, self.position_keys(tenant), args)
            .await?;
        match answer.as_slice() {
            [-1] => Ok(None),
            [was, seq] => Ok(Some((*was == 1, u64::try_from(*seq).unwrap_or(0)))),
            _ => Err(StoreError::Malformed("an offline answer".into())),
        }
    }

    /// A courier as Redis holds it now (reads never wait for this replica's index).
    pub async fn get(
        &self,
        tenant: &str,
        courier_id: &str,
    ) -> Result<Option<StoredCourier>, StoreError> {
        let answer: Option<Vec<Value>> = self
            .get
            .evalsha_with_reload(
                &self.client,
                self.tenant_keys(tenant).to_vec(),
                courier_id.to_owned(),
            )
            .await?;
        let Some(fields) = answer else {
            return Ok(None);
        };
        match fields.as_slice() {
            [profile, fix] => Ok(Some(StoredCourier {
                profile: decode_profile(&text(profile)?)?,
                fix: decode_fix(fix)?,
            })),
            _ => Err(StoreError::Malformed("a courier answer".into())),
        }
    }

    /// The last change's number and the tenants with couriers.
    pub async fn head(&self) -> Result<Head, StoreError> {
        let answer: Vec<String> = self
            .head
            .evalsha_with_reload(
                &self.client,
                vec![self.key("seq"), self.key("epoch"), self.key("tenants")],
                Vec::<String>::new(),
            )
            .await?;
        let [seq, epoch, tenants @ ..] = answer.as_slice() else {
            return Err(StoreError::Malformed("a head answer".into()));
        };
        Ok(Head {
            seq: number(seq)?,
            epoch: epoch.clone(),
            tenants: tenants.to_vec(),
        })
    }

    /// Every courier of `tenant`, page by page (never one long command).
    pub async fn snapshot(&self, tenant: &str) -> Result<Vec<(String, StoredCourier)>, StoreError> {
        let keys = self.tenant_keys(tenant).to_vec();
        let mut cursor = "0".to_owned();
        let mut couriers = Vec::new();
        loop {
            let page: Vec<Value> = self
                .page
                .evalsha_with_reload(
                    &self.client,
                    keys.clone(),
                    vec![cursor.clone(), PAGE_SIZE.to_string()],
                )
                .await?;
            let (next, rest) = page
                .split_first()
                .ok_or_else(|| StoreError::Malformed("a snapshot page".into()))?;
            for item in rest.chunks(3) {
                let [id, profile, fix] = item else {
                    return Err(StoreError::Malformed("a partial snapshot page".into()));
                };
                couriers.push((
                    text(id)?,
                    StoredCourier {
                        profile: decode_profile(&text(profile)?)?,
                        fix: decode_fix(fix)?,
                    },
                ));
            }
            cursor = text(next)?;
            if cursor == "0" {
                return Ok(couriers);
            }
        }
    }
}

fn text(value: &Value) -> Result<String, StoreError> {
    value
        .as_string()
        .ok_or_else(|| StoreError::Malformed(format!("{value:?} where text was expected")))
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Malformed(format!("{text:?} is not a number")))
}

fn encode_profile(p: &Profile) -> String {
    let volume = p
        .capacity_volume_m3
        .map_or_else(|| "-".to_owned(), |v| v.get().to_string());
    format!(
        "{} {} {volume} {}",
        p.reputation.get(),
        p.capacity_kg.get(),
        p.vehicle.as_str()
    )
}

fn decode_profile(text: &str) -> Result<Profile, StoreError> {
    let malformed = || StoreError::Malformed(format!("profile {text:?}"));
    let mut fields = text.split(' ');
    let mut next = || fields.next().ok_or_else(malformed);
    let reputation = Reputation::new(number(next()?)?).map_err(|_| malformed())?;
    let capacity_kg = Positive::new("", number(next()?)?).map_err(|_| malformed())?;
    let capacity_volume_m3 = match next()? {
        "-" => None,
        volume => Some(Positive::new("", number(volume)?).map_err(|_| malformed())?),
    };
    let vehicle = match next()? {
        "velo" => VehicleType::Velo,
        "moto" => VehicleType::Moto,
        "voiture" => VehicleType::Voiture,
        "camionnette" => VehicleType::Camionnette,
        "camion" => VehicleType::Camion,
        _ => return Err(malformed()),
    };
    Ok(Profile {
        reputation,
        capacity_kg,
        capacity_volume_m3,
        vehicle,
    })
}

fn encode_coords(p: LatLon) -> String {
    format!("{} {}", p.lat(), p.lon())
}

fn decode_position(text: &str) -> Result<LatLon, StoreError> {
    let malformed = || StoreError::Malformed(format!("coordinates {text:?}"));
    let (lat, lon) = text.split_once(' ').ok_or_else(malformed)?;
    LatLon::new(number(lat)?, number(lon)?).map_err(|_| malformed())
}

/// A courier's last position (`<ms> <latitude> <longitude>`), `None` for `-` (or nothing).
fn decode_fix(value: &Value) -> Result<Option<Fix>, StoreError> {
    if value.is_null() {
        return Ok(None);
    }
    let held = text(value)?;
    if held == "-" {
        return Ok(None);
    }
    let (ms, coords) = held
        .split_once(' ')
        .ok_or_else(|| StoreError::Malformed(format!("position {held:?}")))?;
    Ok(Some(Fix {
        position: decode_position(coords)?,
        at_ms: number(ms)?,
    }))
}

/// One change-log entry: its number and epoch, when Redis wrote it (Unix ms) and what it
/// changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub epoch: String,
    pub written_ms: u64,
    pub tenant: String,
    pub changes: Vec<Change>,
}

/// Decodes an entry read from the log (its id and fields).
pub fn decode_entry(id: &str, fields: &HashMap<String, String>) -> Result<Entry, StoreError> {
    let malformed = |what: &str| StoreError::Malformed(format!("change-log entry {id}: {what}"));
    let seq = id
        .strip_suffix("-0")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| malformed("its id is not <number>-0"))?;
    let field = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| malformed(&format!("no field {name}")))
    };
    let data = field("d")?;
    let changes = match field("k")? {
        "r" => {
            let (courier, profile) = data.split_once(FIELD).ok_or_else(|| malformed("d"))?;
            vec![Change::Register {
                courier_id: courier.to_owned(),
                profile: decode_profile(profile)?,
            }]
        }
        "o" => vec![Change::Offline {
            courier_id: data.to_owned(),
        }],
        "p" => data
            .split(RECORD)
            .map(|record| {
                let mut parts = record.split(FIELD);
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(courier), Some(ms), Some(coords)) => Ok(Change::Position {
                        courier_id: courier.to_owned(),
                        fix: Fix {
                            position: decode_position(coords)?,
                            at_ms: number(ms)?,
                        },
                    }),
                    _ => Err(malformed("a position record")),
                }
            })
            .collect::<Result<_, _>>()?,
        other => return Err(malformed(&format!("unknown kind {other:?}"))),
    };
    Ok(Entry {
        seq,
        epoch: field("e")?.to_owned(),
        written_ms: number(field("at")?)?,
        tenant: field("t")?.to_owned(),
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_entries_round_trip() {
        let profile = Profile {
            reputation: Reputation::new(8.5).unwrap(),
            capacity_kg: Positive::new("", 30.0).unwrap(),
            capacity_volume_m3: Some(Positive::new("", 0.25).unwrap()),
            vehicle: VehicleType::Camionnette,
        };
        assert_eq!(decode_profile(&encode_profile(&profile)).unwrap(), profile);
        let bare = Profile {
            capacity_volume_m3: None,
            ..profile
        };
        assert_eq!(decode_profile(&encode_profile(&bare)).unwrap(), bare);
        for bad in [
            "",
            "8.5 30 - scooter",
            "11 30 - moto",
            "8 -1 - moto",
            "8 30",
        ] {
            assert!(decode_profile(bad).is_err(), "{bad:?}");
        }
        let position = LatLon::new(48.856_600_000_000_01, -2.35).unwrap();
        let fields: HashMap<String, String> = [
            ("t", "acme".to_owned()),
            ("e", "1765000000123456".to_owned()),
            ("k", "p".to_owned()),
            ("at", "1700".to_owned()),
            (
                "d",
                format!(
                    "a b\u{1f}12\u{1f}{}\u{1e}c\u{1f}13\u{1f}1 2",
                    encode_coords(position)
                ),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let entry = decode_entry("42-0", &fields).unwrap();
        assert_eq!(
            (entry.seq, entry.written_ms, entry.tenant.as_str()),
            (42, 1700, "acme")
        );
        assert_eq!(
            entry.changes[0],
            Change::Position {
                courier_id: "a b".into(),
                fix: Fix {
                    position,
                    at_ms: 12
                }
            },
            "ids may hold spaces; coordinates keep every bit"
        );
        assert_eq!(entry.changes.len(), 2);
        assert!(decode_entry("42-1", &fields).is_err());
    }
}
