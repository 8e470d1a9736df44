-- Counters of failed attempts (wrong passwords per account and per
-- address, wrong user codes per address), shared by every node on this
-- database: RFC 6749 §10.10, RFC 8628 §5.1. `key` names what is counted
-- ("user:NAME", "addr:NETWORK", "device:NETWORK"); failures older than
-- the window start a new count; `blocked_until` is when the next attempt
-- may be tried (a growing delay, then a lock).
CREATE TABLE failure_counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL
) WITHOUT ROWID;
