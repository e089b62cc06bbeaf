-- Each tenant's catalog version. Cached recommendations are keyed by their tenant's version, so
-- a tenant's catalog writes retire its own cached answers and no one else's. Versions are drawn
-- from the one counter in catalog_version: a tenant's only moves forward, and one bump of it
-- can be given to every tenant at once (a whole-catalog re-index).

CREATE TABLE tenant_catalog_versions (
    tenant  TEXT PRIMARY KEY REFERENCES organisations (slug),
    version BIGINT NOT NULL CHECK (version >= 0)
);
INSERT INTO tenant_catalog_versions (tenant, version)
SELECT slug, (SELECT version FROM catalog_version) FROM organisations;
