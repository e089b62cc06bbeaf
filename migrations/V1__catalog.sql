-- The vehicle catalog, the reviews analysed by the recommender, and the catalog version that
-- keys the recommendation cache (a write bumps it, so stale cache entries die without a scan).

CREATE TABLE vehicles (
    id            BIGINT PRIMARY KEY,
    brand         TEXT NOT NULL,
    model         TEXT NOT NULL,
    year          SMALLINT NOT NULL CHECK (year BETWEEN 1950 AND 2100),
    vehicle_type  TEXT NOT NULL,
    seats         SMALLINT NOT NULL CHECK (seats > 0),
    gearbox       TEXT NOT NULL,
    fuel          TEXT NOT NULL,
    luggage       SMALLINT NOT NULL CHECK (luggage >= 0),
    city          TEXT NOT NULL,
    daily_price   DOUBLE PRECISION NOT NULL CHECK (daily_price >= 0),
    available     BOOLEAN NOT NULL,
    rating        REAL NOT NULL CHECK (rating BETWEEN 0 AND 5),
    rentals_count INTEGER NOT NULL DEFAULT 0 CHECK (rentals_count >= 0),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the vehicle's vector was last written; NULL or older than updated_at means "to index".
    indexed_at    TIMESTAMPTZ
);
CREATE INDEX vehicles_to_index ON vehicles (id) WHERE indexed_at IS NULL;

CREATE TABLE reviews (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id       BIGINT NOT NULL,
    product_id      BIGINT NOT NULL,
    product_type    TEXT NOT NULL,
    text            TEXT NOT NULL,
    sentiment_score REAL NOT NULL CHECK (sentiment_score BETWEEN -1 AND 1),
    sentiment_label TEXT NOT NULL CHECK (sentiment_label IN ('positive', 'neutral', 'negative')),
    model_id        TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reviews_product ON reviews (product_id, created_at DESC);
CREATE INDEX reviews_client ON reviews (client_id, created_at DESC);

-- One row: the version of the catalog as a whole.
CREATE TABLE catalog_version (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version   BIGINT NOT NULL
);
INSERT INTO catalog_version (singleton, version) VALUES (TRUE, 1);
