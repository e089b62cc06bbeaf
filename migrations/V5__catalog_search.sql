-- Catalog search: French full-text over the brand, the model and the words of the description
-- (body type, fuel, gearbox, city: the description embedded for a vehicle is built from them),
-- and the ids the API gives new vehicles.

ALTER TABLE vehicles ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('french', brand || ' ' || model || ' ' || vehicle_type || ' ' || fuel || ' ' ||
                          gearbox || ' ' || city)
) STORED;
CREATE INDEX vehicles_search ON vehicles USING gin (search);
-- Filters and orders within a tenant.
CREATE INDEX vehicles_tenant_price ON vehicles (tenant, daily_price, id);
CREATE INDEX vehicles_tenant_rating ON vehicles (tenant, rating, id);
CREATE INDEX vehicles_tenant_year ON vehicles (tenant, year, id);

-- `POST /api/v1/vehicles` numbers from here; `aras seed` writes ids 1..N, far below.
CREATE SEQUENCE vehicle_ids START WITH 10000000;
