//! Every SQL statement of the stores, written once in SQLite's dialect.
//! The SQLite store runs them as they are; the PostgreSQL store adapts each
//! with `postgres::to_postgres` (placeholders, `INSERT OR IGNORE`, `MIN`).
//!
//! **Invariant:** a statement's behaviour is changed here, once, and the
//! store contract suite (`tests/store_contract.rs`) checks it on both.

pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients (id, name, kind, secret_hash, redirect_uris, scopes, grant_types, skip_consent, id_token_alg, created_at,
     jwks, jwks_uri, post_logout_redirect_uris, rotate_refresh_tokens, always_issue_refresh_token)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

pub(crate) const GET_CLIENT: &str = "SELECT * FROM clients WHERE id = ?";

pub(crate) const LIST_CLIENTS: &str = "SELECT * FROM clients ORDER BY id";

pub(crate) const DELETE_CLIENT: &str = "DELETE FROM clients WHERE id = ?";

pub(crate) const SET_CLIENT_SECRET: &str =
    "UPDATE clients SET secret_hash = ? WHERE id = ? AND kind = 'confidential'";

pub(crate) const INSERT_USER: &str = "INSERT INTO users (id, username, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)";

pub(crate) const GET_USER_BY_USERNAME: &str = "SELECT * FROM users WHERE username = ?";

pub(crate) const GET_USER: &str = "SELECT * FROM users WHERE id = ?";

pub(crate) const LIST_USERS: &str = "SELECT * FROM users ORDER BY username";

pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE username = ?";

pub(crate) const SET_PASSWORD: &str = "UPDATE users SET password_hash = ? WHERE username = ?";

pub(crate) const INSERT_SESSION: &str =
    "INSERT INTO sessions (id_hash, user_id, auth_time, expires_at) VALUES (?, ?, ?, ?)";

pub(crate) const GET_SESSION: &str =
    "SELECT user_id, auth_time, expires_at FROM sessions WHERE id_hash = ? AND expires_at > ?";

pub(crate) const INSERT_CONSENT: &str =
    "INSERT OR IGNORE INTO consents (user_id, client_id, scope) VALUES (?, ?, ?)";

pub(crate) const GET_CONSENT: &str =
    "SELECT scope FROM consents WHERE user_id = ? AND client_id = ?";

pub(crate) const INSERT_CODE: &str = "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, code_challenge_method, scope, nonce, user_id, auth_time, issued_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

pub(crate) const CONSUME_CODE: &str = "UPDATE authorization_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL RETURNING *";

pub(crate) const CODE_EXISTS: &str = "SELECT 1 FROM authorization_codes WHERE code_hash = ?";

pub(crate) const INSERT_ACCESS_TOKEN: &str = "INSERT INTO access_tokens (jti, grant_id, client_id, user_id, scope, expires_at) VALUES (?, ?, ?, ?, ?, ?)";

pub(crate) const ACCESS_TOKEN_ACTIVE: &str =
    "SELECT 1 FROM access_tokens WHERE jti = ? AND revoked_at IS NULL AND expires_at > ?";

pub(crate) const GET_ACCESS_TOKEN: &str =
    "SELECT * FROM access_tokens WHERE jti = ? AND revoked_at IS NULL AND expires_at > ?";

pub(crate) const REVOKE_ACCESS_TOKEN: &str = "UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND client_id = ? AND revoked_at IS NULL";

pub(crate) const REVOKE_GRANT_ACCESS: &str =
    "UPDATE access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL";

pub(crate) const REVOKE_GRANT_REFRESH: &str =
    "UPDATE refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL";

pub(crate) const INSERT_REFRESH_TOKEN: &str = "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, auth_time, issued_at, family_expires_at, idle_expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

pub(crate) const ROTATE_REFRESH_TOKEN: &str = "UPDATE refresh_tokens SET rotated_at = ?1
     WHERE token_hash = ?2 AND rotated_at IS NULL AND revoked_at IS NULL
     AND family_expires_at > ?1 AND idle_expires_at > ?1
     RETURNING *";

pub(crate) const EXTEND_REFRESH_TOKEN: &str =
    "UPDATE refresh_tokens SET idle_expires_at = MIN(?3, family_expires_at)
     WHERE token_hash = ?2 AND rotated_at IS NULL AND revoked_at IS NULL
     AND family_expires_at > ?1 AND idle_expires_at > ?1
     RETURNING *";

pub(crate) const REUSED_REFRESH_TOKEN: &str = "SELECT * FROM refresh_tokens WHERE token_hash = ? AND rotated_at IS NOT NULL AND revoked_at IS NULL";

pub(crate) const GET_REFRESH_TOKEN: &str = "SELECT * FROM refresh_tokens WHERE token_hash = ?1 AND rotated_at IS NULL AND revoked_at IS NULL
     AND family_expires_at > ?2 AND idle_expires_at > ?2";

pub(crate) const RECORD_JTI: &str =
    "INSERT OR IGNORE INTO used_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)";

pub(crate) const LIST_SESSIONS: &str =
    "SELECT substr(id_hash, 1, 12) AS id, auth_time, expires_at FROM sessions
     WHERE user_id = ? AND expires_at > ? ORDER BY auth_time";

pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id_hash = ?";

pub(crate) const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = ?";

pub(crate) const REVOKE_USER_ACCESS: &str =
    "UPDATE access_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL";

pub(crate) const REVOKE_USER_REFRESH: &str =
    "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL";

pub(crate) const INSERT_DEVICE_CODE: &str = "INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scope, issued_at, expires_at, poll_interval)
     VALUES (?, ?, ?, ?, ?, ?, ?)";

pub(crate) const PENDING_DEVICE_CODE: &str =
    "SELECT * FROM device_codes WHERE user_code_hash = ? AND status = 'pending' AND expires_at > ?";

pub(crate) const DECIDE_DEVICE_CODE: &str =
    "UPDATE device_codes SET status = ?, user_id = ?, auth_time = ?
     WHERE user_code_hash = ? AND status = 'pending' AND expires_at > ?";

pub(crate) const POLL_DEVICE_CODE: &str = "UPDATE device_codes
     SET slow = (last_polled_at IS NOT NULL AND ?1 - last_polled_at < poll_interval),
     poll_interval = CASE WHEN last_polled_at IS NOT NULL AND ?1 - last_polled_at < poll_interval
     THEN poll_interval + 5 ELSE poll_interval END,
     last_polled_at = ?1
     WHERE device_code_hash = ?2 AND consumed_at IS NULL
     RETURNING *";

pub(crate) const CONSUME_DEVICE_CODE: &str = "UPDATE device_codes SET consumed_at = ?1
     WHERE device_code_hash = ?2 AND status = 'approved' AND consumed_at IS NULL AND expires_at > ?1
     RETURNING *";

pub(crate) const LIST_KEYS: &str = "SELECT kid, alg, private_pkcs8, created_at, activates_at FROM signing_keys ORDER BY created_at, kid";

pub(crate) const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, activates_at) VALUES (?, ?, ?, ?, ?)";

pub(crate) const SETTING_OR_INIT: &str = "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = settings.value RETURNING value";

/// An expired-row sweep: a table and which of its rows may go, with `?1`
/// the cut-off time. Each backend makes its own DELETE of it (SQLite in
/// chunks, see `sqlite.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sweep {
    pub table: &'static str,
    /// Its primary key (most tables are `WITHOUT ROWID`).
    pub key: &'static str,
    pub condition: &'static str,
}

/// Codes are kept `code_retention` past expiry (the caller passes the
/// cut-off) so that a late replay still revokes what was issued from them.
pub(crate) const SWEEP_CODES: Sweep = Sweep {
    table: "authorization_codes",
    key: "code_hash",
    condition: "expires_at < ?1",
};
pub(crate) const SWEEP_ACCESS_TOKENS: Sweep = Sweep {
    table: "access_tokens",
    key: "jti",
    condition: "expires_at < ?1",
};
/// Rotated tokens stay while their family lives: their reuse must still be
/// detected.
pub(crate) const SWEEP_REFRESH_TOKENS: Sweep = Sweep {
    table: "refresh_tokens",
    key: "token_hash",
    condition: "family_expires_at < ?1 OR (rotated_at IS NULL AND idle_expires_at < ?1) OR (revoked_at IS NOT NULL AND revoked_at < ?1 - 86400)",
};
pub(crate) const SWEEP_SESSIONS: Sweep = Sweep {
    table: "sessions",
    key: "id_hash",
    condition: "expires_at < ?1",
};
pub(crate) const SWEEP_JTIS: Sweep = Sweep {
    table: "used_jtis",
    key: "client_id, jti",
    condition: "expires_at < ?1",
};
pub(crate) const SWEEP_DEVICE_CODES: Sweep = Sweep {
    table: "device_codes",
    key: "device_code_hash",
    condition: "expires_at < ?1",
};
