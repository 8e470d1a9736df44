-- A rotated client secret may stay valid for a while beside the new one
-- (`proofkey client rotate-secret --overlap`), so that rotating it needs
-- no downtime: its keyed hash and until when it is accepted.
ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at INTEGER;
