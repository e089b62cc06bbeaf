//! The vehicle catalog: reads, writes, the catalog version, and which vehicles need indexing.

use std::time::SystemTime;

use aras_domain::search::{Cursor, SortKey, VehicleSearch};
use aras_domain::tenant::Tenant;
use aras_domain::vehicle::{ChangeError, ChangeField, Vehicle, VehicleChange, VehicleType};
use tokio_postgres::Row;

use crate::{CatalogError, CatalogResult, Pool};

/// The first id `create` gives in a tenant's catalog: far above the ids `aras seed` writes.
const FIRST_GIVEN_ID: i64 = 10_000_000;

const COLUMNS: &str = "id, point_id, tenant, brand, model, year, vehicle_type, seats, gearbox, fuel, luggage, city, daily_price, \
                       available, rating, rentals_count, updated_at";

/// A stored vehicle with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleRecord {
    pub tenant: Tenant,
    /// The key of the vehicle's point in the vector store: unique across tenants (vehicle ids
    /// are unique within a tenant only), never shown to callers.
    pub point_id: i64,
    pub vehicle: Vehicle,
    pub updated_at: SystemTime,
}

/// The refusal of a change, in the catalog's (and the gRPC contract's) field names.
fn refused(error: ChangeError) -> CatalogError {
    CatalogError::InvalidInput(match error {
        ChangeError::Empty => "nothing to change".into(),
        ChangeError::Invalid { field, reason } => {
            let name = match field {
                ChangeField::DailyPrice => "daily_price",
                ChangeField::Rating => "rating",
                ChangeField::City => "city",
                ChangeField::Brand => "brand",
                ChangeField::Model => "model",
                ChangeField::Year => "year",
                ChangeField::Seats => "seats",
                ChangeField::Luggage => "luggage",
                ChangeField::RentalsCount => "rentals_count",
            };
            format!("{name} {reason}")
        }
    })
}

fn record(row: &Row) -> CatalogResult<VehicleRecord> {
    let word = |column: &str| -> CatalogResult<String> { Ok(row.try_get::<_, String>(column)?) };
    let parse_error =
        |e: aras_domain::vehicle::UnknownValue| CatalogError::Internal(format!("catalog row: {e}"));
    Ok(VehicleRecord {
        tenant: Tenant::parse(&word("tenant")?)
            .map_err(|e| CatalogError::Internal(format!("catalog row: {e}")))?,
        point_id: row.try_get("point_id")?,
        vehicle: Vehicle {
            id: row.try_get("id")?,
            brand: word("brand")?,
            model: word("model")?,
            year: row.try_get("year")?,
            vehicle_type: word("vehicle_type")?.parse().map_err(parse_error)?,
            seats: row.try_get("seats")?,
            gearbox: word("gearbox")?.parse().map_err(parse_error)?,
            fuel: word("fuel")?.parse().map_err(parse_error)?,
            luggage: row.try_get("luggage")?,
            city: word("city")?,
            daily_price: row.try_get("daily_price")?,
            available: row.try_get("available")?,
            rating: row.try_get("rating")?,
            rentals_count: row.try_get("rentals_count")?,
        },
        updated_at: row.try_get("updated_at")?,
    })
}

/// One of the tenant's vehicles (another tenant's is `NotFound`), with the catalog version at
/// the time of reading.
pub async fn get(pool: &Pool, tenant: &Tenant, id: i64) -> CatalogResult<(VehicleRecord, u64)> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS}, COALESCE((SELECT version FROM tenant_catalog_versions WHERE tenant = $2), 0) AS catalog_version FROM vehicles WHERE id = $1 AND tenant = $2"),
            &[&id, &tenant.as_str()],
        )
        .await?
        .ok_or(CatalogError::NotFound(id))?;
    let version: i64 = row.try_get("catalog_version")?;
    Ok((record(&row)?, version.unsigned_abs()))
}

/// The tenant's vehicles whose vector-store points are among `point_ids` (absent ones are
/// skipped), in no particular order.
pub async fn get_by_points(
    pool: &Pool,
    tenant: &Tenant,
    point_ids: &[i64],
) -> CatalogResult<Vec<VehicleRecord>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM vehicles WHERE point_id = ANY($1) AND tenant = $2"
        ))
        .await?;
    client
        .query(&statement, &[&point_ids, &tenant.as_str()])
        .await?
        .iter()
        .map(record)
        .collect()
}

/// Inserts or replaces the tenant's vehicles by id, as one statement per call; marks them to be
/// indexed and bumps the catalog version. Ids are the tenant's own: another tenant's vehicle of
/// the same id is another vehicle.
pub async fn upsert(pool: &Pool, tenant: &Tenant, vehicles: &[Vehicle]) -> CatalogResult<u64> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    // First, so that an id given by `create` meanwhile (it waits on this row) is above these.
    let highest = vehicles.iter().map(|v| v.id).max().unwrap_or(0);
    transaction
        .execute(
            "INSERT INTO tenant_vehicle_ids AS ids (tenant, last_id) VALUES ($1, GREATEST($2::bigint, $3::bigint))
             ON CONFLICT (tenant) DO UPDATE SET last_id = GREATEST(ids.last_id, EXCLUDED.last_id)",
            &[&tenant.as_str(), &highest, &(FIRST_GIVEN_ID - 1)],
        )
        .await?;
    let column = |f: fn(&Vehicle) -> String| vehicles.iter().map(f).collect::<Vec<String>>();
    let written = transaction
        .execute(
            "INSERT INTO vehicles (id, brand, model, year, vehicle_type, seats, gearbox, fuel, luggage, city,
                                   daily_price, available, rating, rentals_count, tenant)
             SELECT *, $15::text FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::smallint[],
                                  $7::text[], $8::text[], $9::smallint[], $10::text[], $11::float8[], $12::bool[],
                                  $13::real[], $14::integer[])
             ON CONFLICT (tenant, id) DO UPDATE SET
                 brand = EXCLUDED.brand, model = EXCLUDED.model, year = EXCLUDED.year,
                 vehicle_type = EXCLUDED.vehicle_type, seats = EXCLUDED.seats, gearbox = EXCLUDED.gearbox,
                 fuel = EXCLUDED.fuel, luggage = EXCLUDED.luggage, city = EXCLUDED.city,
                 daily_price = EXCLUDED.daily_price, available = EXCLUDED.available, rating = EXCLUDED.rating,
                 rentals_count = EXCLUDED.rentals_count, updated_at = now(), indexed_at = NULL",
            &[
                &vehicles.iter().map(|v| v.id).collect::<Vec<_>>(),
                &column(|v| v.brand.clone()),
                &column(|v| v.model.clone()),
                &vehicles.iter().map(|v| v.year).collect::<Vec<_>>(),
                &column(|v| v.vehicle_type.as_str().to_owned()),
                &vehicles.iter().map(|v| v.seats).collect::<Vec<_>>(),
                &column(|v| v.gearbox.as_str().to_owned()),
                &column(|v| v.fuel.as_str().to_owned()),
                &vehicles.iter().map(|v| v.luggage).collect::<Vec<_>>(),
                &column(|v| v.city.clone()),
                &vehicles.iter().map(|v| v.daily_price).collect::<Vec<_>>(),
                &vehicles.iter().map(|v| v.available).collect::<Vec<_>>(),
                &vehicles.iter().map(|v| v.rating).collect::<Vec<_>>(),
                &vehicles.iter().map(|v| v.rentals_count).collect::<Vec<_>>(),
                &tenant.as_str(),
            ],
        )
        .await?;
    if written != vehicles.len() as u64 {
        // Dropping the transaction rolls everything back.
        return Err(CatalogError::InvalidInput(
            "a vehicle id is repeated".into(),
        ));
    }
    let version = bump_version_in(&transaction, tenant).await?;
    transaction.commit().await?;
    Ok(version)
}

/// Applies `patch` to the tenant's vehicle `id`, marks it to be re-indexed and bumps the
/// catalog version.
pub async fn update(
    pool: &Pool,
    tenant: &Tenant,
    id: i64,
    patch: &VehicleChange,
) -> CatalogResult<(VehicleRecord, u64)> {
    patch.validate().map_err(refused)?;
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let row = transaction
        .query_opt(
            &format!(
                "UPDATE vehicles SET available = COALESCE($2, available), daily_price = COALESCE($3, daily_price),
                     rating = COALESCE($4, rating), city = COALESCE($5, city), updated_at = now(), indexed_at = NULL
                 WHERE id = $1 AND tenant = $6 RETURNING {COLUMNS}"
            ),
            &[&id, &patch.available, &patch.daily_price, &patch.rating, &patch.city, &tenant.as_str()],
        )
        .await?
        .ok_or(CatalogError::NotFound(id))?;
    let version = bump_version_in(&transaction, tenant).await?;
    transaction.commit().await?;
    Ok((record(&row)?, version))
}

/// Bumps `tenant`'s catalog version within `transaction`: a tenant's catalog changed.
async fn bump_version_in(
    transaction: &tokio_postgres::Transaction<'_>,
    tenant: &Tenant,
) -> CatalogResult<u64> {
    let bumped = bump_versions_in(transaction, Some(tenant)).await?;
    bumped
        .into_iter()
        .next()
        .map(|(_, version)| version)
        .ok_or_else(|| CatalogError::Internal(format!("tenant {tenant} has no organisation")))
}

/// Moves the catalog version of `tenant`, or of every tenant, one step on; answers the tenants
/// and their new version. Each tenant counts its own, so a version tells nothing of others.
async fn bump_versions_in(
    client: &impl tokio_postgres::GenericClient,
    tenant: Option<&Tenant>,
) -> CatalogResult<Vec<(Tenant, u64)>> {
    client
        .query(
            "INSERT INTO tenant_catalog_versions AS versions (tenant, version)
             SELECT slug, 1 FROM organisations WHERE $1::text IS NULL OR slug = $1
             ON CONFLICT (tenant) DO UPDATE SET version = versions.version + 1
             RETURNING tenant, version",
            &[&tenant.map(Tenant::as_str)],
        )
        .await?
        .iter()
        .map(tenant_version)
        .collect()
}

fn tenant_version(row: &Row) -> CatalogResult<(Tenant, u64)> {
    let tenant = Tenant::parse(row.try_get("tenant")?)
        .map_err(|e| CatalogError::Internal(format!("catalog version row: {e}")))?;
    Ok((tenant, row.try_get::<_, i64>("version")?.unsigned_abs()))
}

/// Every tenant's catalog version now.
pub async fn versions(pool: &Pool) -> CatalogResult<Vec<(Tenant, u64)>> {
    let client = pool.get().await?;
    client
        .query("SELECT tenant, version FROM tenant_catalog_versions", &[])
        .await?
        .iter()
        .map(tenant_version)
        .collect()
}

/// Bumps the catalog version of `tenant`, or of every tenant (after their vectors changed);
/// answers the tenants and their new version.
pub async fn bump_versions(
    pool: &Pool,
    tenant: Option<&Tenant>,
) -> CatalogResult<Vec<(Tenant, u64)>> {
    let client = pool.get().await?;
    bump_versions_in(&**client, tenant).await
}

/// Vehicles in the catalog.
pub async fn count(pool: &Pool) -> CatalogResult<u64> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT count(*) FROM vehicles", &[])
        .await?;
    Ok(row.try_get::<_, i64>(0)?.unsigned_abs())
}

/// Vehicles waiting to be indexed (changed since their vector was written), of one tenant or
/// of all.
pub async fn count_to_index(pool: &Pool, tenant: Option<&Tenant>) -> CatalogResult<u64> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) FROM vehicles WHERE indexed_at IS NULL AND ($1::text IS NULL OR tenant = $1)",
            &[&tenant.map(Tenant::as_str)],
        )
        .await?;
    Ok(row.try_get::<_, i64>(0)?.unsigned_abs())
}

/// Vehicles recorded as indexed.
pub async fn count_indexed(pool: &Pool) -> CatalogResult<u64> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) FROM vehicles WHERE indexed_at IS NOT NULL",
            &[],
        )
        .await?;
    Ok(row.try_get::<_, i64>(0)?.unsigned_abs())
}

/// Records that the catalog's vectors now come from `model`; returns the model recorded before
/// when it was another one (`Some(None)`: none was recorded), `None` when it is the same.
pub async fn record_embedding_model(
    pool: &Pool,
    model: &str,
) -> CatalogResult<Option<Option<String>>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "WITH before AS (SELECT embedding_model FROM catalog_version)
             UPDATE catalog_version SET embedding_model = $1 WHERE embedding_model IS DISTINCT FROM $1
             RETURNING (SELECT embedding_model FROM before)",
            &[&model],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Marks every vehicle, of one tenant or of all, to be indexed again (a full re-index).
pub async fn mark_all_for_indexing(pool: &Pool, tenant: Option<&Tenant>) -> CatalogResult<()> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE vehicles SET indexed_at = NULL
             WHERE indexed_at IS NOT NULL AND ($1::text IS NULL OR tenant = $1)",
            &[&tenant.map(Tenant::as_str)],
        )
        .await?;
    Ok(())
}

/// The next `limit` vehicles waiting to be indexed with a point key above `after`, by point
/// key, of one tenant or of all.
pub async fn next_to_index(
    pool: &Pool,
    tenant: Option<&Tenant>,
    after: i64,
    limit: i64,
) -> CatalogResult<Vec<VehicleRecord>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM vehicles
             WHERE indexed_at IS NULL AND point_id > $1 AND ($3::text IS NULL OR tenant = $3)
             ORDER BY point_id LIMIT $2"
        ))
        .await?;
    client
        .query(&statement, &[&after, &limit, &tenant.map(Tenant::as_str)])
        .await?
        .iter()
        .map(record)
        .collect()
}

/// Records that these vehicles' vectors were written, unless they changed meanwhile (their
/// `updated_at` moved on), in which case they stay to be indexed.
pub async fn mark_indexed(pool: &Pool, indexed: &[VehicleRecord]) -> CatalogResult<()> {
    let client = pool.get().await?;
    let points: Vec<i64> = indexed.iter().map(|r| r.point_id).collect();
    let stamps: Vec<SystemTime> = indexed.iter().map(|r| r.updated_at).collect();
    client
        .execute(
            "UPDATE vehicles AS v SET indexed_at = now()
             FROM UNNEST($1::bigint[], $2::timestamptz[]) AS done(point_id, updated_at)
             WHERE v.point_id = done.point_id AND v.updated_at = done.updated_at",
            &[&points, &stamps],
        )
        .await?;
    Ok(())
}

/// The tenant's catalog size and how many of its vehicles are indexed, with the catalog version.
pub async fn tenant_counts(pool: &Pool, tenant: &Tenant) -> CatalogResult<(u64, u64, u64)> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) AS vehicles, count(*) FILTER (WHERE indexed_at IS NOT NULL) AS indexed,
                    COALESCE((SELECT version FROM tenant_catalog_versions WHERE tenant = $1), 0) AS version
             FROM vehicles WHERE tenant = $1",
            &[&tenant.as_str()],
        )
        .await?;
    let count =
        |column: &str| -> CatalogResult<u64> { Ok(row.try_get::<_, i64>(column)?.unsigned_abs()) };
    Ok((count("vehicles")?, count("indexed")?, count("version")?))
}

type Parameter<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// The text columns of a written vehicle (names trimmed), held so its parameters can borrow
/// them.
struct WrittenTexts<'a> {
    brand: &'a str,
    model: &'a str,
    kind: &'static str,
    gearbox: &'static str,
    fuel: &'static str,
    city: &'a str,
}

impl<'a> WrittenTexts<'a> {
    fn of(vehicle: &'a Vehicle) -> Self {
        Self {
            brand: vehicle.brand.trim(),
            model: vehicle.model.trim(),
            kind: vehicle.vehicle_type.as_str(),
            gearbox: vehicle.gearbox.as_str(),
            fuel: vehicle.fuel.as_str(),
            city: vehicle.city.trim(),
        }
    }

    /// Every written column, in the order of `create` and `replace`: brand, model, year,
    /// vehicle_type, seats, gearbox, fuel, luggage, city, daily_price, available, rating,
    /// rentals_count.
    fn parameters<'b>(&'b self, vehicle: &'b Vehicle) -> [Parameter<'b>; 13] {
        [
            &self.brand,
            &self.model,
            &vehicle.year,
            &self.kind,
            &vehicle.seats,
            &self.gearbox,
            &self.fuel,
            &vehicle.luggage,
            &self.city,
            &vehicle.daily_price,
            &vehicle.available,
            &vehicle.rating,
            &vehicle.rentals_count,
        ]
    }
}

/// Adds a vehicle to the tenant's catalog under the tenant's next id (`vehicle.id` is ignored),
/// to be indexed, and bumps the catalog version.
pub async fn create(
    pool: &Pool,
    tenant: &Tenant,
    vehicle: &Vehicle,
) -> CatalogResult<(VehicleRecord, u64)> {
    vehicle.validate().map_err(refused)?;
    let texts = WrittenTexts::of(vehicle);
    let fields = texts.parameters(vehicle);
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let row = transaction
        .query_one(
            &format!(
                "WITH next AS (
                     INSERT INTO tenant_vehicle_ids AS ids (tenant, last_id) VALUES ($1, $15)
                     ON CONFLICT (tenant) DO UPDATE SET last_id = ids.last_id + 1
                     RETURNING last_id)
                 INSERT INTO vehicles (id, tenant, brand, model, year, vehicle_type, seats, gearbox, fuel, luggage,
                                       city, daily_price, available, rating, rentals_count)
                 SELECT next.last_id, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM next
                 RETURNING {COLUMNS}"
            ),
            &[&tenant.as_str() as Parameter<'_>]
                .into_iter()
                .chain(fields)
                .chain([&FIRST_GIVEN_ID as Parameter<'_>])
                .collect::<Vec<_>>(),
        )
        .await?;
    let version = bump_version_in(&transaction, tenant).await?;
    transaction.commit().await?;
    Ok((record(&row)?, version))
}

/// Replaces every field of the tenant's vehicle `vehicle.id`, marks it to be re-indexed and
/// bumps the catalog version.
pub async fn replace(
    pool: &Pool,
    tenant: &Tenant,
    vehicle: &Vehicle,
) -> CatalogResult<(VehicleRecord, u64)> {
    vehicle.validate().map_err(refused)?;
    let texts = WrittenTexts::of(vehicle);
    let fields = texts.parameters(vehicle);
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let row = transaction
        .query_opt(
            &format!(
                "UPDATE vehicles SET brand = $3, model = $4, year = $5, vehicle_type = $6, seats = $7, gearbox = $8,
                     fuel = $9, luggage = $10, city = $11, daily_price = $12, available = $13, rating = $14,
                     rentals_count = $15, updated_at = now(), indexed_at = NULL
                 WHERE id = $1 AND tenant = $2 RETURNING {COLUMNS}"
            ),
            &[&vehicle.id as Parameter<'_>, &tenant.as_str()]
                .into_iter()
                .chain(fields)
                .collect::<Vec<_>>(),
        )
        .await?
        .ok_or(CatalogError::NotFound(vehicle.id))?;
    let version = bump_version_in(&transaction, tenant).await?;
    transaction.commit().await?;
    Ok((record(&row)?, version))
}

/// Removes the tenant's vehicle `id` and bumps the catalog version; answers the key of its
/// vector-store point (to remove it there too).
pub async fn delete(pool: &Pool, tenant: &Tenant, id: i64) -> CatalogResult<i64> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let point_id: i64 = transaction
        .query_opt(
            "DELETE FROM vehicles WHERE id = $1 AND tenant = $2 RETURNING point_id",
            &[&id, &tenant.as_str()],
        )
        .await?
        .ok_or(CatalogError::NotFound(id))?
        .try_get(0)?;
    bump_version_in(&transaction, tenant).await?;
    transaction.commit().await?;
    Ok(point_id)
}

/// One page of the tenant's vehicles matching `search`, in its order, and the cursor of the
/// next page (`None` on the last).
pub async fn search(
    pool: &Pool,
    tenant: &Tenant,
    search: &VehicleSearch,
) -> CatalogResult<(Vec<VehicleRecord>, Option<Cursor>)> {
    search
        .validate()
        .map_err(|e| CatalogError::InvalidInput(e.0))?;
    // The statement is built from fixed pieces only; every value is a parameter.
    // The cursor's value is a double; compared as the column's own type, so the order's index
    // serves the comparison.
    let (key, key_type) = match search.sort.key {
        SortKey::Id => ("id", "bigint"),
        SortKey::Price => ("daily_price", "float8"),
        SortKey::Rating => ("rating", "real"),
        SortKey::Year => ("year", "smallint"),
    };
    let direction = if search.sort.descending {
        "DESC"
    } else {
        "ASC"
    };
    let after = if search.sort.descending { "<" } else { ">" };
    let limit = i64::from(search.limit) + 1;
    let (cursor_value, cursor_id) = search.after.map(|c| (c.value, c.id)).unzip();
    let statement = format!(
        "SELECT {COLUMNS}, {key}::float8 AS sort_value FROM vehicles
         WHERE tenant = $1
           AND ($2::text IS NULL OR search @@ websearch_to_tsquery('french', $2))
           AND ($3::text IS NULL OR vehicle_type = $3)
           AND ($4::float8 IS NULL OR daily_price >= $4)
           AND ($5::float8 IS NULL OR daily_price <= $5)
           AND ($6::text IS NULL OR lower(city) = lower($6))
           AND ($7::bool IS NULL OR available = $7)
           AND ($8::real IS NULL OR rating >= $8)
           AND ($9::float8 IS NULL OR {key} {after} $9::float8::{key_type}
                OR ({key} = $9::float8::{key_type} AND id > $10))
         ORDER BY {key} {direction}, id ASC
         LIMIT $11"
    );
    let client = pool.get().await?;
    let prepared = client.prepare_cached(&statement).await?;
    let rows = client
        .query(
            &prepared,
            &[
                &tenant.as_str(),
                &search.text.as_deref().filter(|t| !t.trim().is_empty()),
                &search.vehicle_type.map(VehicleType::as_str),
                &search.price_min,
                &search.price_max,
                &search.city.as_deref(),
                &search.available,
                &search.rating_min,
                &cursor_value,
                &cursor_id,
                &limit,
            ],
        )
        .await?;
    let more = rows.len() > search.limit as usize;
    let page = &rows[..rows.len().min(search.limit as usize)];
    let next = match page.last() {
        Some(last) if more => Some(Cursor {
            sort: search.sort,
            value: last.try_get("sort_value")?,
            id: last.try_get("id")?,
        }),
        _ => None,
    };
    Ok((page.iter().map(record).collect::<CatalogResult<_>>()?, next))
}
