-- Grants as rows. Every authorization code, access token, refresh token
-- and approved device authorization references the grant it was issued
-- under (ON DELETE CASCADE: a swept grant takes what is left of it).
-- Revoking a grant is one update of its row; every check of a token joins
-- it, and every issuance updates it first (statements.rs: HOLD_GRANT).

CREATE TABLE grants (
    id         TEXT PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT,             -- NULL for client_credentials
    scope      TEXT NOT NULL,
    auth_time  INTEGER,
    expires_at INTEGER NOT NULL, -- nothing issued under it lives past this
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_client ON grants (client_id);
CREATE INDEX grants_expiry ON grants (expires_at);

-- The grants of what exists: until now a grant was only the grant_id its
-- tokens shared (a code's hash, a device code's hash, or a random id for
-- client_credentials). A family any of whose refresh tokens was revoked
-- had been revoked whole (refresh tokens were only ever revoked per
-- grant or per user): its grant is revoked, which also ends any token that
-- a racing issuance stored after that revocation.
INSERT INTO grants (id, client_id, user_id, scope, auth_time, expires_at, created_at, revoked_at)
SELECT grant_id, MIN(client_id), MIN(user_id), MIN(scope), MIN(auth_time),
       MAX(family_expires_at), MIN(issued_at), MAX(revoked_at)
FROM refresh_tokens GROUP BY grant_id;

-- Grants with access tokens only. client_credentials tokens had the client
-- as their user; such grants have no user. The creation time was not
-- recorded: the earliest expiry stands in for it.
INSERT OR IGNORE INTO grants (id, client_id, user_id, scope, auth_time, expires_at, created_at, revoked_at)
SELECT grant_id, MIN(client_id),
       CASE WHEN MIN(user_id) = MIN(client_id) THEN NULL ELSE MIN(user_id) END,
       MIN(scope), NULL, MAX(expires_at), MIN(expires_at), NULL
FROM access_tokens GROUP BY grant_id;

-- Codes not redeemed yet (their grant was their hash), kept an hour past
-- expiry as code_retention's default keeps them.
INSERT OR IGNORE INTO grants (id, client_id, user_id, scope, auth_time, expires_at, created_at, revoked_at)
SELECT code_hash, client_id, user_id, scope, auth_time, expires_at + 3600, issued_at, NULL
FROM authorization_codes;

-- Approved device authorizations (their grant was the device code's hash).
INSERT OR IGNORE INTO grants (id, client_id, user_id, scope, auth_time, expires_at, created_at, revoked_at)
SELECT device_code_hash, client_id, user_id, scope, auth_time, expires_at, issued_at, NULL
FROM device_codes WHERE status = 'approved';

-- Each table that references grants is rebuilt with its foreign key (SQLite
-- cannot add one to an existing column). No other table references them.

CREATE TABLE authorization_codes_new (
    code_hash             TEXT PRIMARY KEY NOT NULL,
    grant_id              TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
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
INSERT INTO authorization_codes_new
SELECT code_hash, code_hash, client_id, redirect_uri, code_challenge, code_challenge_method,
       scope, nonce, user_id, auth_time, issued_at, expires_at, used_at
FROM authorization_codes;
DROP TABLE authorization_codes;
ALTER TABLE authorization_codes_new RENAME TO authorization_codes;
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_grant ON authorization_codes (grant_id);

CREATE TABLE access_tokens_new (
    jti        TEXT PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
INSERT INTO access_tokens_new
SELECT jti, grant_id, client_id, user_id, scope, expires_at, revoked_at FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_new RENAME TO access_tokens;
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

CREATE TABLE refresh_tokens_new (
    token_hash        TEXT PRIMARY KEY NOT NULL,
    grant_id          TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    scope             TEXT NOT NULL,
    auth_time         INTEGER NOT NULL,
    issued_at         INTEGER NOT NULL,
    family_expires_at INTEGER NOT NULL,
    idle_expires_at   INTEGER NOT NULL,
    rotated_at        INTEGER,
    revoked_at        INTEGER,
    replaced_by       TEXT,    -- the hash of the token that replaced it
    access_jti        TEXT     -- the access token issued with it
) WITHOUT ROWID;
INSERT INTO refresh_tokens_new
SELECT token_hash, grant_id, client_id, user_id, scope, auth_time, issued_at,
       family_expires_at, idle_expires_at, rotated_at, revoked_at, NULL, NULL
FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE device_codes_new (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    poll_interval    INTEGER NOT NULL,
    last_polled_at   INTEGER,
    slow             INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
    user_id          TEXT,
    auth_time        INTEGER,
    consumed_at      INTEGER,
    grant_id         TEXT REFERENCES grants (id) ON DELETE CASCADE -- once approved
) WITHOUT ROWID;
INSERT INTO device_codes_new
SELECT device_code_hash, user_code_hash, client_id, scope, issued_at, expires_at, poll_interval,
       last_polled_at, slow, status, user_id, auth_time, consumed_at,
       CASE WHEN status = 'approved' THEN device_code_hash END
FROM device_codes;
DROP TABLE device_codes;
ALTER TABLE device_codes_new RENAME TO device_codes;
CREATE INDEX device_codes_expiry ON device_codes (expires_at);
CREATE INDEX device_codes_grant ON device_codes (grant_id);
