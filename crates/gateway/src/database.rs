//! The gateway's Postgres: jobs and credentials. The pool connects lazily and the schema is
//! migrated on first use, so the gateway starts (and reports it) while Postgres is down.

use aras_catalog::{CatalogResult, DatabaseConfig, Pool};
use tokio::sync::OnceCell;

pub struct Database {
    pool: Pool,
    config: DatabaseConfig,
    migrated: OnceCell<()>,
}

impl Database {
    pub fn new(config: &DatabaseConfig) -> anyhow::Result<Self> {
        Ok(Self {
            pool: config.pool()?,
            config: config.clone(),
            migrated: OnceCell::new(),
        })
    }

    /// The pool, once the database exists and its schema is current.
    pub async fn pool(&self) -> CatalogResult<&Pool> {
        self.migrated
            // Boxed: creating and migrating the database is a large future, run once.
            .get_or_try_init(|| {
                Box::pin(async {
                    self.config.create_database_if_missing().await?;
                    aras_catalog::db::migrate(&self.pool).await?;
                    Ok::<_, aras_catalog::CatalogError>(())
                })
            })
            .await?;
        Ok(&self.pool)
    }
}
