-- Tenants (organisations), their users and API keys, refresh tokens; and every tenant-owned
-- row (vehicles, reviews, jobs) names its tenant. A tenant is its organisation's slug.

CREATE TABLE organisations (
    slug       TEXT PRIMARY KEY CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- What `make up` and development mode serve; the catalog seeded before tenants existed is its.
INSERT INTO organisations (slug, name) VALUES ('demo', 'Demo marketplace');

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES organisations (slug),
    email         TEXT NOT NULL,
    -- argon2id, PHC string format.
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'user', 'manager', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    disabled_at   TIMESTAMPTZ
);
-- An email logs into one account, whatever its case.
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE api_keys (
    id          UUID PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES organisations (slug),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'user', 'manager', 'admin')),
    -- SHA-256 of the key (random, 192 bits: a slow hash would add nothing but latency).
    secret_hash BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant ON api_keys (tenant, name);

-- Refresh tokens rotate: each use marks the token used and issues the next of its family. A
-- used token presented again means it leaked: the whole family is revoked.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    family     UUID NOT NULL,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

-- A vehicle id belongs to one tenant (ids stay unique across tenants, as vector-store points).
ALTER TABLE vehicles ADD COLUMN tenant TEXT NOT NULL DEFAULT 'demo' REFERENCES organisations (slug);
ALTER TABLE vehicles ALTER COLUMN tenant DROP DEFAULT;
CREATE INDEX vehicles_tenant ON vehicles (tenant, id);
-- Vectors gain a tenant field: every vehicle is indexed again.
UPDATE vehicles SET indexed_at = NULL;

ALTER TABLE reviews ADD COLUMN tenant TEXT NOT NULL DEFAULT 'demo' REFERENCES organisations (slug);
ALTER TABLE reviews ALTER COLUMN tenant DROP DEFAULT;
DROP INDEX reviews_product;
DROP INDEX reviews_client;
CREATE INDEX reviews_product ON reviews (tenant, product_id, created_at DESC);
CREATE INDEX reviews_client ON reviews (tenant, client_id, created_at DESC);

-- Jobs submitted before tenants were the development tenant's (the trigger keeps finished
-- jobs unchanged, which this one rename must get past).
ALTER TABLE jobs DISABLE TRIGGER jobs_terminal_state;
UPDATE jobs SET tenant = 'demo' WHERE tenant = 'default';
ALTER TABLE jobs ENABLE TRIGGER jobs_terminal_state;
UPDATE job_idempotency_keys SET tenant = 'demo' WHERE tenant = 'default';
