-- An API key may expire, and one made by a user dies with the user's access: disabling the user
-- revokes the keys they made (keys made by the CLI or another key have no maker).
ALTER TABLE api_keys
    ADD COLUMN expires_at TIMESTAMPTZ,
    ADD COLUMN created_by UUID REFERENCES users (id);
CREATE INDEX api_keys_created_by ON api_keys (created_by) WHERE created_by IS NOT NULL;
