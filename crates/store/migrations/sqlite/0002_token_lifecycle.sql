-- Refresh tokens, private_key_jwt, logout, housekeeping.

ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN rotate_refresh_tokens INTEGER NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN always_issue_refresh_token INTEGER NOT NULL DEFAULT 0;

CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY NOT NULL,
    grant_id          TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    scope             TEXT NOT NULL,
    auth_time         INTEGER NOT NULL,
    issued_at         INTEGER NOT NULL,
    family_expires_at INTEGER NOT NULL,
    idle_expires_at   INTEGER NOT NULL,
    rotated_at        INTEGER,
    revoked_at        INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE INDEX access_tokens_user ON access_tokens (user_id);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE used_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) WITHOUT ROWID;
CREATE INDEX used_jtis_expiry ON used_jtis (expires_at);
