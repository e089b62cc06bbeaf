-- Re-indexing runs started over the API (`POST /api/v1/admin/reindex`): one tenant's catalog,
-- its progress while it runs, and how it ended.

CREATE TABLE index_runs (
    id             UUID PRIMARY KEY,
    tenant         TEXT NOT NULL REFERENCES organisations (slug),
    state          TEXT NOT NULL DEFAULT 'STARTED' CHECK (state IN ('STARTED', 'SUCCESS', 'FAILURE')),
    -- Every vehicle re-embedded, not only those changed since they were last indexed.
    full_reindex   BOOLEAN NOT NULL,
    indexed        BIGINT NOT NULL DEFAULT 0 CHECK (indexed >= 0),
    -- Vehicles the run had to index; NULL until it has counted them.
    total          BIGINT CHECK (total >= 0),
    -- Why it failed, for the caller.
    error          TEXT,
    correlation_id TEXT NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Moves with each batch: a run that stops moving belonged to a recommender that died.
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at    TIMESTAMPTZ,
    CHECK ((state = 'STARTED') = (finished_at IS NULL)),
    CHECK ((state = 'FAILURE') = (error IS NOT NULL))
);
CREATE INDEX index_runs_tenant ON index_runs (tenant, started_at DESC);
-- One run at a time per tenant, whichever recommender replica runs it.
CREATE UNIQUE INDEX index_runs_one_started ON index_runs (tenant) WHERE state = 'STARTED';
