-- Grants as rows. Every authorization code, access token, refresh token
-- and approved device authorization names the grant it was issued under
-- (grant_id). Revoking a grant is one update of its row; every check of a
-- token joins it, and every issuance updates it first (statements.rs:
-- HOLD_GRANT). A grant lives until everything issued under it has expired.
--
-- The references are not declared FOREIGN KEYs: SQLite then opens a
-- statement journal for every insert into a referencing table, which cost
-- the code flow about a tenth of its throughput (docs/performance.md).
-- The store's operations keep them whole instead: a grant is created in
-- the transaction that creates what first references it, and outlives it.

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
-- No index on client_id: deleting a client, the only statement that
-- would use one, scans the table instead; every authorization would pay
-- for the index (measured: about 5 % of the code flow's throughput).
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

-- A grant lives as long as the last of its tokens (an access token of a
-- family may outlive the family's refresh tokens).
UPDATE grants SET expires_at = MAX(expires_at, COALESCE(
    (SELECT MAX(a.expires_at) FROM access_tokens a WHERE a.grant_id = grants.id), 0));

ALTER TABLE authorization_codes ADD COLUMN grant_id TEXT NOT NULL DEFAULT '';
UPDATE authorization_codes SET grant_id = code_hash;

ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT; -- the hash of the token that replaced it
ALTER TABLE refresh_tokens ADD COLUMN access_jti TEXT;  -- the access token issued with it

ALTER TABLE device_codes ADD COLUMN grant_id TEXT;      -- once approved
UPDATE device_codes SET grant_id = device_code_hash WHERE status = 'approved';

-- Tokens were revoked by grant and by user through these; now the grant's
-- row is revoked, and these would only cost every insert a write.
DROP INDEX access_tokens_grant;
DROP INDEX access_tokens_user;
DROP INDEX refresh_tokens_grant;
DROP INDEX refresh_tokens_user;
