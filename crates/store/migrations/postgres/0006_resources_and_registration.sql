-- Resource indicators, dynamic registration and Client ID Metadata
-- Documents: the same change as the SQLite migration 0008 (see its
-- comments).
CREATE TABLE resources (
    uri        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE authorization_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registered_by TEXT NOT NULL DEFAULT 'admin'
    CHECK (registered_by IN ('admin', 'dynamic', 'metadata'));
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
CREATE TABLE initial_access_tokens (
    token_hash     TEXT PRIMARY KEY,
    remaining_uses BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
