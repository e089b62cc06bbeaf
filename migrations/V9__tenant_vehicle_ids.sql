-- Vehicle ids and catalog versions are each tenant's own, so neither tells a tenant anything
-- about another's catalog: the same id may name a vehicle in two tenants, new ids come from a
-- counter per tenant, and a tenant's catalog version moves only when its own catalog does.
-- A vehicle's point in the vector store keeps a key of its own, global and never shown
-- (`point_id`): the existing points are reused as they are (their ids were the vehicle ids).

ALTER TABLE vehicles ADD COLUMN point_id BIGINT;
UPDATE vehicles SET point_id = id;
ALTER TABLE vehicles ALTER COLUMN point_id SET NOT NULL;
CREATE SEQUENCE vehicle_points OWNED BY vehicles.point_id;
-- Past every key in use: the vehicle ids (now point keys) and those vehicle_ids gave.
SELECT setval('vehicle_points',
              GREATEST((SELECT max(id) FROM vehicles), (SELECT last_value FROM vehicle_ids), 1));
ALTER TABLE vehicles ALTER COLUMN point_id SET DEFAULT nextval('vehicle_points');
ALTER TABLE vehicles ADD CONSTRAINT vehicles_point_id_key UNIQUE (point_id);

ALTER TABLE vehicles DROP CONSTRAINT vehicles_pkey;
ALTER TABLE vehicles ADD PRIMARY KEY (tenant, id);
DROP INDEX vehicles_tenant;
-- Indexing runs page through the vehicles to index by point key (unique across tenants).
DROP INDEX vehicles_to_index;
CREATE INDEX vehicles_to_index ON vehicles (point_id) WHERE indexed_at IS NULL;

-- The last id each tenant's `POST /api/v1/vehicles` gave (or `aras seed` wrote, whichever is
-- higher): the next is one more. Ids given start at 10,000,000, far above seeded ones.
CREATE TABLE tenant_vehicle_ids (
    tenant  TEXT PRIMARY KEY REFERENCES organisations (slug),
    last_id BIGINT NOT NULL
);
INSERT INTO tenant_vehicle_ids (tenant, last_id)
SELECT o.slug, GREATEST(9999999, COALESCE(max(v.id), 0))
FROM organisations o LEFT JOIN vehicles v ON v.tenant = o.slug
GROUP BY o.slug;
DROP SEQUENCE vehicle_ids;

-- Versions are counted per tenant (tenant_catalog_versions); the shared counter is gone.
ALTER TABLE catalog_version DROP COLUMN version;
