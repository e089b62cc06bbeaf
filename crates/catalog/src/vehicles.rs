//! The vehicle catalog: reads, writes, the catalog version, and which vehicles need indexing.

use std::time::SystemTime;

use aras_domain::vehicle::{ChangeError, ChangeField, Vehicle, VehicleChange};
use tokio_postgres::Row;

use crate::{CatalogError, CatalogResult, Pool};

const COLUMNS: &str = "id, brand, model, year, vehicle_type, seats, gearbox, fuel, luggage, city, daily_price, \
                       available, rating, rentals_count, updated_at";

/// A stored vehicle with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleRecord {
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

/// One vehicle, with the catalog version at the time of reading.
pub async fn get(pool: &Pool, id: i64) -> CatalogResult<(VehicleRecord, u64)> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS}, (SELECT version FROM catalog_version) AS catalog_version FROM vehicles WHERE id = $1"),
            &[&id],
        )
        .await?
        .ok_or(CatalogError::NotFound(id))?;
    let version: i64 = row.try_get("catalog_version")?;
    Ok((record(&row)?, version.unsigned_abs()))
}

/// The vehicles among `ids` (absent ones are skipped), in no particular order.
pub async fn get_many(pool: &Pool, ids: &[i64]) -> CatalogResult<Vec<VehicleRecord>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM vehicles WHERE id = ANY($1)"
        ))
        .await?;
    client
        .query(&statement, &[&ids])
        .await?
        .iter()
        .map(record)
        .collect()
}

/// Inserts or replaces vehicles by id, as one statement per call; marks them to be indexed and
/// bumps the catalog version.
pub async fn upsert(pool: &Pool, vehicles: &[Vehicle]) -> CatalogResult<u64> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let column = |f: fn(&Vehicle) -> String| vehicles.iter().map(f).collect::<Vec<String>>();
    transaction
        .execute(
            "INSERT INTO vehicles (id, brand, model, year, vehicle_type, seats, gearbox, fuel, luggage, city,
                                   daily_price, available, rating, rentals_count)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::smallint[],
                                  $7::text[], $8::text[], $9::smallint[], $10::text[], $11::float8[], $12::bool[],
                                  $13::real[], $14::integer[])
             ON CONFLICT (id) DO UPDATE SET
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
            ],
        )
        .await?;
    let version = bump_version_in(&transaction).await?;
    transaction.commit().await?;
    Ok(version)
}

/// Applies `patch` to vehicle `id`, marks it to be re-indexed and bumps the catalog version.
pub async fn update(
    pool: &Pool,
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
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &patch.available, &patch.daily_price, &patch.rating, &patch.city],
        )
        .await?
        .ok_or(CatalogError::NotFound(id))?;
    let version = bump_version_in(&transaction).await?;
    transaction.commit().await?;
    Ok((record(&row)?, version))
}

async fn bump_version_in(transaction: &tokio_postgres::Transaction<'_>) -> CatalogResult<u64> {
    let row = transaction
        .query_one(
            "UPDATE catalog_version SET version = version + 1 RETURNING version",
            &[],
        )
        .await?;
    Ok(row.try_get::<_, i64>(0)?.unsigned_abs())
}

/// The catalog version now.
pub async fn version(pool: &Pool) -> CatalogResult<u64> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT version FROM catalog_version", &[])
        .await?;
    Ok(row.try_get::<_, i64>(0)?.unsigned_abs())
}

/// Bumps the catalog version (after the vectors changed) and returns the new one.
pub async fn bump_version(pool: &Pool) -> CatalogResult<u64> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let version = bump_version_in(&transaction).await?;
    transaction.commit().await?;
    Ok(version)
}

/// Vehicles in the catalog.
pub async fn count(pool: &Pool) -> CatalogResult<u64> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT count(*) FROM vehicles", &[])
        .await?;
    Ok(row.try_get::<_, i64>(0)?.unsigned_abs())
}

/// Vehicles waiting to be indexed (changed since their vector was written).
pub async fn count_to_index(pool: &Pool) -> CatalogResult<u64> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) FROM vehicles WHERE indexed_at IS NULL",
            &[],
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

/// Marks every vehicle to be indexed again (a full re-index).
pub async fn mark_all_for_indexing(pool: &Pool) -> CatalogResult<()> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE vehicles SET indexed_at = NULL WHERE indexed_at IS NOT NULL",
            &[],
        )
        .await?;
    Ok(())
}

/// The next `limit` vehicles waiting to be indexed with an id above `after`, by id.
pub async fn next_to_index(
    pool: &Pool,
    after: i64,
    limit: i64,
) -> CatalogResult<Vec<VehicleRecord>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM vehicles WHERE indexed_at IS NULL AND id > $1 ORDER BY id LIMIT $2"))
        .await?;
    client
        .query(&statement, &[&after, &limit])
        .await?
        .iter()
        .map(record)
        .collect()
}

/// Records that these vehicles' vectors were written, unless they changed meanwhile (their
/// `updated_at` moved on), in which case they stay to be indexed.
pub async fn mark_indexed(pool: &Pool, indexed: &[VehicleRecord]) -> CatalogResult<()> {
    let client = pool.get().await?;
    let ids: Vec<i64> = indexed.iter().map(|r| r.vehicle.id).collect();
    let stamps: Vec<SystemTime> = indexed.iter().map(|r| r.updated_at).collect();
    client
        .execute(
            "UPDATE vehicles AS v SET indexed_at = now()
             FROM UNNEST($1::bigint[], $2::timestamptz[]) AS done(id, updated_at)
             WHERE v.id = done.id AND v.updated_at = done.updated_at",
            &[&ids, &stamps],
        )
        .await?;
    Ok(())
}
