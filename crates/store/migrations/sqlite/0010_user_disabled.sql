-- `proofkey user disable`: a disabled user cannot sign in (no session is
-- stored for them); NULL while the account is enabled.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
