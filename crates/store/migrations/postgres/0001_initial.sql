-- proofkey schema, PostgreSQL: the same tables as the SQLite migrations
-- 0001-0003. Secrets are stored only as hashes.

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    kind                       TEXT NOT NULL CHECK (kind IN ('public', 'confidential')),
    secret_hash                TEXT,
    redirect_uris              TEXT NOT NULL,
    scopes                     TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    skip_consent               BOOLEAN NOT NULL,
    id_token_alg               TEXT NOT NULL,
    created_at                 BIGINT NOT NULL,
    jwks                       TEXT,
    jwks_uri                   TEXT,
    post_logout_redirect_uris  TEXT NOT NULL DEFAULT '[]',
    rotate_refresh_tokens      BOOLEAN NOT NULL DEFAULT TRUE,
    always_issue_refresh_token BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT,
    name          TEXT,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE consents (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope     TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id, scope)
);

CREATE TABLE authorization_codes (
    code_hash             TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    code_challenge        TEXT NOT NULL CHECK (code_challenge <> ''),
    code_challenge_method TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    nonce                 TEXT,
    user_id               TEXT NOT NULL,
    auth_time             BIGINT NOT NULL,
    issued_at             BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used_at               BIGINT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
CREATE INDEX access_tokens_user ON access_tokens (user_id);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY,
    grant_id          TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    scope             TEXT NOT NULL,
    auth_time         BIGINT NOT NULL,
    issued_at         BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    idle_expires_at   BIGINT NOT NULL,
    rotated_at        BIGINT,
    revoked_at        BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE used_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX used_jtis_expiry ON used_jtis (expires_at);

CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    issued_at        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    poll_interval    BIGINT NOT NULL,
    last_polled_at   BIGINT,
    slow             BOOLEAN NOT NULL DEFAULT FALSE,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
    user_id          TEXT,
    auth_time        BIGINT,
    consumed_at      BIGINT
);
CREATE INDEX device_codes_expiry ON device_codes (expires_at);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    private_pkcs8 BYTEA NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
