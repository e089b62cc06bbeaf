-- The embedding model the catalog's vectors come from. Vectors of different models are not
-- comparable: when the recommender starts with another model, the catalog is re-embedded.
ALTER TABLE catalog_version ADD COLUMN embedding_model TEXT;
