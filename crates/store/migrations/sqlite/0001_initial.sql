-- proofkey schema, SQLite. Secrets are stored only as hashes: codes and
-- session ids as SHA-256, client secrets as HMAC-SHA-256, passwords argon2id.

CREATE TABLE clients (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('public', 'confidential')),
    secret_hash   TEXT,
    redirect_uris TEXT NOT NULL, -- JSON array
    scopes        TEXT NOT NULL, -- JSON array
    grant_types   TEXT NOT NULL, -- JSON array
    skip_consent  INTEGER NOT NULL,
    id_token_alg  TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT,
    name          TEXT,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE consents (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope     TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id, scope)
) WITHOUT ROWID;

CREATE TABLE authorization_codes (
    code_hash             TEXT PRIMARY KEY NOT NULL,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    code_challenge        TEXT NOT NULL CHECK (code_challenge <> ''),
    code_challenge_method TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    nonce                 TEXT,
    user_id               TEXT NOT NULL,
    auth_time             INTEGER NOT NULL,
    issued_at             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    used_at               INTEGER
) WITHOUT ROWID;

CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY NOT NULL,
    alg           TEXT NOT NULL,
    private_pkcs8 BLOB NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
