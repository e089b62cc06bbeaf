-- Async recommendation jobs (docs/jobs.md). A job is accepted when its row and its outbox row
-- commit together; the outbox row is deleted once the broker has confirmed the message.

CREATE TABLE jobs (
    id              UUID PRIMARY KEY,
    tenant          TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'PENDING'
                    CHECK (state IN ('PENDING', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE')),
    -- The recommender request (aras.recommender.v1.RecommendRequest, protobuf).
    request         BYTEA NOT NULL,
    -- Tries started so far (a redelivery of the running try after a worker crash is the same try).
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- The recommender's answer (aras.recommender.v1.RecommendResponse, protobuf) on SUCCESS.
    result          BYTEA,
    -- How long the successful try took, for the result's processing_time_ms.
    processing_ms   BIGINT,
    -- The last error: its gRPC status code (5 NOT_FOUND, 14 UNAVAILABLE…) and a message for the
    -- client; on FAILURE, the final one.
    error_code      INTEGER,
    error_message   TEXT,
    correlation_id  TEXT NOT NULL,
    -- W3C trace context of the submitting request, so the job's spans join its trace.
    traceparent     TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((state = 'SUCCESS') = (result IS NOT NULL))
);
CREATE INDEX jobs_tenant_state ON jobs (tenant, state);

-- A terminal state is final, whatever a late or duplicated message asks.
CREATE FUNCTION jobs_keep_terminal_state() RETURNS trigger AS $$
BEGIN
    IF OLD.state IN ('SUCCESS', 'FAILURE') THEN
        RAISE EXCEPTION 'job % is % and cannot change', OLD.id, OLD.state
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_terminal_state BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_keep_terminal_state();

-- Jobs stored but not yet confirmed by the broker (transactional outbox).
CREATE TABLE job_outbox (
    job_id     UUID PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX job_outbox_age ON job_outbox (created_at);

-- `Idempotency-Key` of a submission: the same key from the same tenant answers the same tasks.
CREATE TABLE job_idempotency_keys (
    tenant       TEXT NOT NULL,
    key          TEXT NOT NULL,
    -- SHA-256 of the submitted requests, so a key reused for another body is refused.
    request_hash BYTEA NOT NULL,
    job_ids      UUID[] NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, key)
);

-- A job's review is stored once, however often the job runs.
ALTER TABLE reviews ADD COLUMN idempotency_key TEXT UNIQUE;
