-- RFC 8628 device authorization grant.

CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    poll_interval    INTEGER NOT NULL,
    last_polled_at   INTEGER,
    slow             INTEGER NOT NULL DEFAULT 0, -- the last poll came too soon
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
    user_id          TEXT,
    auth_time        INTEGER,
    consumed_at      INTEGER
) WITHOUT ROWID;
CREATE INDEX device_codes_expiry ON device_codes (expires_at);
