-- Counters of failed attempts, shared by every node (see the SQLite
-- migration 0006 for what each column means).
CREATE TABLE failure_counters (
    key TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);
