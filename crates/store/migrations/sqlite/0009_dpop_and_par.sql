-- RFC 9449 (DPoP): the key a code is bound to by dpop_jkt at /authorize,
-- and the key a public client's refresh token is bound to; a client that
-- must always send proofs (dpop_bound_access_tokens, RFC 9449 §5.2).
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0;

-- RFC 9126 (PAR): a client that must push its authorization requests, and
-- the pushed requests until their request_uri is used (once) or expires
-- (first at created_at + the PAR lifetime; once a browser brought it to
-- /authorize, at created_at + the sign-in's allowance).
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0;
CREATE TABLE pushed_requests (
    request_uri_hash TEXT PRIMARY KEY NOT NULL,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params           TEXT NOT NULL, -- form-encoded
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
