-- RFC 8707 resource indicators: the protected resources tokens may be
-- issued for (registered by an operator), the ones a client may ask for
-- (none listed: any registered one), and the ones each grant, code,
-- refresh token and device authorization holds (space-separated; empty:
-- none was asked for, and the default audience applies).
CREATE TABLE resources (
    uri        TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL, -- JSON array
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]'; -- JSON array
ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE authorization_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';

-- RFC 7591/7592 dynamic registration and Client ID Metadata Documents:
-- how a client came to be ('admin': the CLI; 'dynamic': it registered
-- itself; 'metadata': its client_id is the URL of its metadata document),
-- and the hash of a self-registered client's registration access token.
ALTER TABLE clients ADD COLUMN registered_by TEXT NOT NULL DEFAULT 'admin'
    CHECK (registered_by IN ('admin', 'dynamic', 'metadata'));
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;

-- Initial access tokens (RFC 7591 §3): minted by the admin CLI, each good
-- for a number of registrations until it expires. Kept by hash only.
CREATE TABLE initial_access_tokens (
    token_hash     TEXT PRIMARY KEY NOT NULL,
    remaining_uses INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
) WITHOUT ROWID;
