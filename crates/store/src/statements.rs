//! Every SQL statement of the stores, written once in SQLite's dialect.
//! The SQLite driver runs them as they are; the PostgreSQL driver runs
//! each one's translation ([`Stmt::pg`]: placeholders, `INSERT OR IGNORE`,
//! two-argument `MIN`/`MAX`, and `/*FOR UPDATE*/`, `/*FOR KEY SHARE*/` and
//! `/*FOR SHARE*/`, comments to SQLite, which become row locks), made once,
//! on first use.
//!
//! Row locks: where a statement must hold a row until its transaction ends
//! (a grant, against its revocation; a client or a user's session, against
//! their deletion while a grant is created for them) it says
//! `/*FOR UPDATE*/` (or `/*FOR KEY SHARE*/`, which a delete waits for but
//! other readers do not; or `/*FOR SHARE*/`, which an update waits for
//! too: a user's row while a session is stored for them, against their
//! disabling) in its sub-select. PostgreSQL then locks the row, and a concurrent update of it
//! waits (as the statement waits for one in progress, then reads the row
//! as it committed); SQLite needs nothing, its one writer running every
//! transaction in turn.
//!
//! **Invariant:** a statement's behaviour is changed here, once, and the
//! store contract suite (`tests/store_contract.rs`) checks it on both.
//!
//! **Invariant:** `MIN(` and `MAX(` appear only as SQLite's two-argument
//! scalar functions (PostgreSQL's `LEAST` and `GREATEST`), never as
//! aggregates; a statement uses either `?` or `?N` placeholders, not both.

use std::sync::OnceLock;

use crate::tx::Columns;

/// A statement, its PostgreSQL translation once made, and the names of
/// the columns it returns on each driver once read.
#[derive(Debug)]
pub(crate) struct Stmt {
    sqlite: &'static str,
    pg: OnceLock<String>,
    columns: [OnceLock<Columns>; 2],
}

/// Which driver's column names (they agree; each reads its own).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dialect {
    Sqlite = 0,
    Pg = 1,
}

impl Stmt {
    pub(crate) const fn new(sqlite: &'static str) -> Self {
        Self {
            sqlite,
            pg: OnceLock::new(),
            columns: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The names of the columns this statement returns on `dialect`,
    /// read by `read` the first time.
    pub(crate) fn columns(
        &'static self,
        dialect: Dialect,
        read: impl FnOnce() -> Vec<String>,
    ) -> Columns {
        std::sync::Arc::clone(self.columns[dialect as usize].get_or_init(|| read().into()))
    }

    /// As SQLite runs it.
    pub(crate) fn sqlite(&'static self) -> &'static str {
        self.sqlite
    }

    /// As PostgreSQL runs it, translated on first use.
    pub(crate) fn pg(&'static self) -> &'static str {
        self.pg.get_or_init(|| to_postgres(self.sqlite))
    }
}

/// The dialect translation (see the module docs).
pub(crate) fn to_postgres(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 32);
    let mut n = 0;
    let mut chars = s.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_str = !in_str;
            out.push(c);
        } else if c == '?' && !in_str {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            if digits.is_empty() {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push('$');
                out.push_str(&digits);
            }
        } else {
            out.push(c);
        }
    }
    let mut out = out
        .replace("MIN(", "LEAST(")
        .replace("MAX(", "GREATEST(")
        .replace("/*FOR UPDATE*/", "FOR UPDATE")
        .replace("/*FOR KEY SHARE*/", "FOR KEY SHARE")
        .replace("/*FOR SHARE*/", "FOR SHARE");
    if let Some(rest) = out.strip_prefix("INSERT OR IGNORE ") {
        out = format!("INSERT {} ON CONFLICT DO NOTHING", rest.trim_end());
    }
    out
}

macro_rules! statements {
    ($($(#[$doc:meta])* $name:ident = $kind:ident($sql:expr);)*) => {
        $($(#[$doc])* pub(crate) static $name: Stmt = Stmt::$kind($sql);)*
        /// Every statement, for the translation test.
        #[cfg(test)]
        pub(crate) static ALL: &[&Stmt] = &[$(&$name),*];
    };
}

statements! {
    // Clients.
    INSERT_CLIENT = new("INSERT INTO clients (id, name, kind, secret_hash, redirect_uris, scopes, grant_types, skip_consent, id_token_alg, created_at,
         jwks, jwks_uri, post_logout_redirect_uris, rotate_refresh_tokens, always_issue_refresh_token,
         resources, registered_by, registration_token_hash, dpop_bound_access_tokens, require_pushed_authorization_requests)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    /// Replaces a client's registration (RFC 7592 §2.2 for a client that
    /// registered itself; a refetched metadata document for a metadata
    /// client), keeping its id, kind, secret, creation time and
    /// registration token; only while it was registered as ?10 says.
    UPDATE_CLIENT = new("UPDATE clients SET name = ?2, redirect_uris = ?3, scopes = ?4, grant_types = ?5,
         jwks = ?6, jwks_uri = ?7, post_logout_redirect_uris = ?8, resources = ?9,
         dpop_bound_access_tokens = ?11, require_pushed_authorization_requests = ?12,
         id_token_alg = ?13
         WHERE id = ?1 AND registered_by = ?10");
    /// An operator's change of a client it registered (`proofkey client
    /// update`): everything but the id, kind, secrets, creation time and
    /// registration.
    REPLACE_CLIENT = new("UPDATE clients SET name = ?2, redirect_uris = ?3, scopes = ?4, grant_types = ?5,
         skip_consent = ?6, id_token_alg = ?7, jwks = ?8, jwks_uri = ?9, post_logout_redirect_uris = ?10,
         rotate_refresh_tokens = ?11, always_issue_refresh_token = ?12, resources = ?13,
         dpop_bound_access_tokens = ?14, require_pushed_authorization_requests = ?15
         WHERE id = ?1 AND registered_by = 'admin'");
    INSERT_RESOURCE = new("INSERT INTO resources (uri, name, scopes, created_at) VALUES (?, ?, ?, ?)");
    GET_RESOURCE = new("SELECT * FROM resources WHERE uri = ?");
    LIST_RESOURCES = new("SELECT * FROM resources ORDER BY uri");
    DELETE_RESOURCE = new("DELETE FROM resources WHERE uri = ?");
    INSERT_INITIAL_TOKEN = new("INSERT INTO initial_access_tokens (token_hash, remaining_uses, expires_at, created_at) VALUES (?, ?, ?, ?)");
    /// Spends one use of an initial access token, in one statement: of
    /// concurrent registrations, at most `remaining_uses` succeed.
    USE_INITIAL_TOKEN = new("UPDATE initial_access_tokens SET remaining_uses = remaining_uses - 1
         WHERE token_hash = ?1 AND remaining_uses > 0 AND expires_at > ?2");

    GET_CLIENT = new("SELECT * FROM clients WHERE id = ?");
    LIST_CLIENTS = new("SELECT * FROM clients ORDER BY id");
    DELETE_CLIENT = new("DELETE FROM clients WHERE id = ?");
    /// Replaces the secret; with an expiry (?3), the old one stays
    /// accepted until then, else it is forgotten.
    SET_CLIENT_SECRET = new("UPDATE clients SET
         previous_secret_hash = CASE WHEN ?3 IS NULL THEN NULL ELSE secret_hash END,
         previous_secret_expires_at = ?3,
         secret_hash = ?2
         WHERE id = ?1 AND kind = 'confidential'");
    RECORD_JTI = new("INSERT OR IGNORE INTO used_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)");

    // Users, sessions, consents.
    INSERT_USER = new("INSERT INTO users (id, username, email, name, password_hash, created_at, disabled_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    GET_USER_BY_USERNAME = new("SELECT * FROM users WHERE username = ?");
    GET_USER = new("SELECT * FROM users WHERE id = ?");
    LIST_USERS = new("SELECT * FROM users ORDER BY username");
    DELETE_USER = new("DELETE FROM users WHERE id = ?");
    SET_PASSWORD = new("UPDATE users SET password_hash = ? WHERE username = ?");
    UPDATE_USER = new("UPDATE users SET email = ?2, name = ?3 WHERE username = ?1");
    /// Keeps the first disabling's time when a user is disabled again.
    DISABLE_USER = new("UPDATE users SET disabled_at = COALESCE(disabled_at, ?2) WHERE id = ?1");
    ENABLE_USER = new("UPDATE users SET disabled_at = NULL WHERE username = ?1");
    /// Only for a user that exists and is not disabled; on PostgreSQL the
    /// user's row is held (`FOR SHARE`, which the disabling `UPDATE` waits
    /// for, and which waits for it and then sees it), so that a session is
    /// never stored after its user's disabling ended their sessions.
    INSERT_SESSION = new("INSERT INTO sessions (id_hash, user_id, auth_time, expires_at)
         SELECT ?1, ?2, ?3, ?4
         WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = ?2 AND u.disabled_at IS NULL /*FOR SHARE*/)");
    GET_SESSION = new("SELECT user_id, auth_time, expires_at FROM sessions WHERE id_hash = ? AND expires_at > ?");
    LIST_SESSIONS = new("SELECT substr(id_hash, 1, 12) AS id, auth_time, expires_at FROM sessions
         WHERE user_id = ? AND expires_at > ? ORDER BY auth_time");
    DELETE_SESSION = new("DELETE FROM sessions WHERE id_hash = ?");
    DELETE_USER_SESSIONS = new("DELETE FROM sessions WHERE user_id = ?");
    INSERT_CONSENT = new("INSERT OR IGNORE INTO consents (user_id, client_id, scope) VALUES (?, ?, ?)");
    GET_CONSENT = new("SELECT scope FROM consents WHERE user_id = ? AND client_id = ?");

    // Grants.
    /// Creates a grant while its client exists and, with a user, while the
    /// user has a live session (a revocation of the user ends their
    /// sessions first, so that a grant created meanwhile is revoked too, or
    /// not created). ?7 is now. Inserts nothing otherwise.
    INSERT_GRANT = new("INSERT INTO grants (id, client_id, user_id, scope, auth_time, expires_at, created_at, resources)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
         WHERE EXISTS (SELECT 1 FROM clients c WHERE c.id = ?2 /*FOR KEY SHARE*/)
         AND (?3 IS NULL OR EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = ?3 AND s.expires_at > ?7 /*FOR KEY SHARE*/))");
    /// Holds the grant's row until the transaction ends and reads whether it
    /// is live: on PostgreSQL `FOR UPDATE`, the lock a revocation's update
    /// of the same row waits for (and that waits for it); on SQLite the one
    /// writer runs every transaction in turn. Every issuance runs it before
    /// storing anything.
    HOLD_GRANT = new("SELECT id AS grant_id, expires_at AS grant_expires_at FROM grants
         WHERE id = ? AND revoked_at IS NULL /*FOR UPDATE*/");
    /// Moves a held grant's expiry forward, when what is issued would
    /// outlive it (rarely: the grant's expiry is set for what it will hold).
    EXTEND_GRANT = new("UPDATE grants SET expires_at = ?1 WHERE id = ?2 AND expires_at < ?1");
    /// A revoked grant is kept, like any, until everything issued under it
    /// has expired: its tokens' replays are still recognised.
    REVOKE_GRANT = new("UPDATE grants SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL");
    GRANT_USERNAME = new("SELECT u.username FROM grants g JOIN users u ON u.id = g.user_id WHERE g.id = ?");
    REVOKE_USER_GRANTS = new("UPDATE grants SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL");
    /// Scans the grants (no index on client_id: deleting a client is rare,
    /// every authorization would pay for one).
    REVOKE_CLIENT_GRANTS = new("UPDATE grants SET revoked_at = ?1 WHERE client_id = ?2 AND revoked_at IS NULL");

    // Pushed authorization requests (RFC 9126).
    INSERT_PUSHED_REQUEST = new("INSERT INTO pushed_requests (request_uri_hash, client_id, params, created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
    /// Moves a live request's expiry later, never earlier.
    EXTEND_PUSHED_REQUEST = new("UPDATE pushed_requests SET expires_at = ?3
         WHERE request_uri_hash = ?1 AND expires_at > ?2 AND expires_at < ?3");
    GET_PUSHED_REQUEST = new("SELECT * FROM pushed_requests WHERE request_uri_hash = ?1 AND expires_at > ?2");
    /// Uses a request_uri up, in one statement: of concurrent uses, one
    /// deletes the row, the others find none.
    CONSUME_PUSHED_REQUEST = new("DELETE FROM pushed_requests WHERE request_uri_hash = ?1 AND expires_at > ?2");

    // Authorization codes.
    INSERT_CODE = new("INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, scope, nonce, user_id, auth_time, issued_at, expires_at, resources, dpop_jkt)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    FIND_CODE = new("SELECT * FROM authorization_codes WHERE code_hash = ?");
    CONSUME_CODE = new("UPDATE authorization_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL RETURNING *");
    /// Consumes a code of a live grant, holding the grant's row (see the
    /// module docs), and returns the grant and its expiry.
    REDEEM_CODE = new("UPDATE authorization_codes SET used_at = ?1
         WHERE code_hash = ?2 AND used_at IS NULL
         AND EXISTS (SELECT 1 FROM grants g WHERE g.id = authorization_codes.grant_id AND g.revoked_at IS NULL /*FOR UPDATE*/)
         RETURNING grant_id, (SELECT expires_at FROM grants g WHERE g.id = authorization_codes.grant_id) AS grant_expires_at");
    CODE_GRANT = new("SELECT c.grant_id, c.used_at, g.revoked_at FROM authorization_codes c
         LEFT JOIN grants g ON g.id = c.grant_id WHERE c.code_hash = ?");

    // Access tokens.
    INSERT_ACCESS_TOKEN = new("INSERT INTO access_tokens (jti, grant_id, client_id, user_id, scope, expires_at) VALUES (?, ?, ?, ?, ?, ?)");
    ACCESS_TOKEN_ACTIVE = new("SELECT 1 AS active FROM access_tokens a JOIN grants g ON g.id = a.grant_id
         WHERE a.jti = ? AND a.revoked_at IS NULL AND a.expires_at > ? AND g.revoked_at IS NULL");
    GET_ACCESS_TOKEN = new("SELECT a.* FROM access_tokens a JOIN grants g ON g.id = a.grant_id
         WHERE a.jti = ? AND a.revoked_at IS NULL AND a.expires_at > ? AND g.revoked_at IS NULL");
    REVOKE_ACCESS_TOKEN = new("UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND client_id = ? AND revoked_at IS NULL");
    REVOKE_ACCESS_BY_JTI = new("UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL");

    // Refresh tokens.
    INSERT_REFRESH_TOKEN = new("INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, auth_time, issued_at, family_expires_at, idle_expires_at, access_jti, resources, dpop_jkt)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    FIND_REFRESH_TOKEN = new("SELECT r.*, g.revoked_at AS grant_revoked_at FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
         WHERE r.token_hash = ?");
    /// Rotates a live token of a live grant, holding the grant's row, and
    /// returns the grant and its expiry.
    ROTATE_REFRESH_TOKEN = new("UPDATE refresh_tokens SET rotated_at = ?1, replaced_by = ?3
         WHERE token_hash = ?2 AND rotated_at IS NULL AND revoked_at IS NULL
         AND family_expires_at > ?1 AND idle_expires_at > ?1
         AND EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.revoked_at IS NULL /*FOR UPDATE*/)
         RETURNING grant_id, (SELECT expires_at FROM grants g WHERE g.id = refresh_tokens.grant_id) AS grant_expires_at");
    KEEP_REFRESH_TOKEN = new("UPDATE refresh_tokens SET idle_expires_at = MIN(?3, family_expires_at)
         WHERE token_hash = ?2 AND rotated_at IS NULL AND revoked_at IS NULL
         AND family_expires_at > ?1 AND idle_expires_at > ?1
         AND EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.revoked_at IS NULL /*FOR UPDATE*/)
         RETURNING grant_id, (SELECT expires_at FROM grants g WHERE g.id = refresh_tokens.grant_id) AS grant_expires_at");
    /// Whether a refresh token's grant is revoked (when it could not be used).
    REFRESH_GRANT_REVOKED = new("SELECT 1 AS revoked FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
         WHERE r.token_hash = ? AND g.revoked_at IS NOT NULL");
    ROTATED_REFRESH_TOKEN = new("SELECT grant_id, replaced_by, rotated_at FROM refresh_tokens
         WHERE token_hash = ?2 AND rotated_at IS NOT NULL AND family_expires_at > ?1");
    /// A lost answer's unseen child: never presented, not revoked.
    REVOKE_UNSEEN_CHILD = new("UPDATE refresh_tokens SET revoked_at = ?1
         WHERE token_hash = ?2 AND rotated_at IS NULL AND revoked_at IS NULL
         RETURNING access_jti");
    REPLACE_CHILD = new("UPDATE refresh_tokens SET replaced_by = ?3 WHERE token_hash = ?1 AND replaced_by = ?2");
    GET_REFRESH_TOKEN = new("SELECT r.* FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
         WHERE r.token_hash = ?1 AND r.rotated_at IS NULL AND r.revoked_at IS NULL
         AND r.family_expires_at > ?2 AND r.idle_expires_at > ?2 AND g.revoked_at IS NULL");

    // Device authorizations.
    INSERT_DEVICE_CODE = new("INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scope, issued_at, expires_at, poll_interval, resources)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    PENDING_DEVICE_CODE = new("SELECT * FROM device_codes WHERE user_code_hash = ? AND status = 'pending' AND expires_at > ?");
    DECIDE_DEVICE_CODE = new("UPDATE device_codes SET status = ?1, user_id = ?2, auth_time = ?3
         WHERE user_code_hash = ?4 AND status = 'pending' AND expires_at > ?5");
    /// The grant of a device code the user approves, while it is pending,
    /// its client exists and the user has a live session (see INSERT_GRANT).
    INSERT_DEVICE_GRANT = new("INSERT INTO grants (id, client_id, user_id, scope, auth_time, expires_at, created_at, resources)
         SELECT ?1, d.client_id, ?2, d.scope, ?3, ?4, ?5, d.resources FROM device_codes d
         WHERE d.user_code_hash = ?6 AND d.status = 'pending' AND d.expires_at > ?5
         AND EXISTS (SELECT 1 FROM clients c WHERE c.id = d.client_id /*FOR KEY SHARE*/)
         AND EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = ?2 AND s.expires_at > ?5 /*FOR KEY SHARE*/)");
    SET_DEVICE_GRANT = new("UPDATE device_codes SET grant_id = ?1 WHERE user_code_hash = ?2");
    POLL_DEVICE_CODE = new("UPDATE device_codes
         SET slow = (last_polled_at IS NOT NULL AND ?1 - last_polled_at < poll_interval),
         poll_interval = CASE WHEN last_polled_at IS NOT NULL AND ?1 - last_polled_at < poll_interval
         THEN poll_interval + 5 ELSE poll_interval END,
         last_polled_at = ?1
         WHERE device_code_hash = ?2 AND consumed_at IS NULL
         RETURNING *");
    CONSUME_DEVICE_CODE = new("UPDATE device_codes SET consumed_at = ?1
         WHERE device_code_hash = ?2 AND status = 'approved' AND consumed_at IS NULL AND expires_at > ?1
         AND EXISTS (SELECT 1 FROM grants g WHERE g.id = device_codes.grant_id AND g.revoked_at IS NULL /*FOR UPDATE*/)
         RETURNING grant_id, (SELECT expires_at FROM grants g WHERE g.id = device_codes.grant_id) AS grant_expires_at");
    /// Whether an approved device code's grant is revoked.
    DEVICE_GRANT_REVOKED = new("SELECT 1 AS revoked FROM device_codes d JOIN grants g ON g.id = d.grant_id
         WHERE d.device_code_hash = ? AND g.revoked_at IS NOT NULL");
    DEVICE_CODE_CONSUMED = new("SELECT grant_id FROM device_codes WHERE device_code_hash = ? AND consumed_at IS NOT NULL");

    // Keys and settings.
    LIST_KEYS = new("SELECT kid, alg, private_pkcs8, created_at, activates_at FROM signing_keys ORDER BY created_at, kid");
    DELETE_KEY = new("DELETE FROM signing_keys WHERE kid = ?");
    UPDATE_KEY_PRIVATE = new("UPDATE signing_keys SET private_pkcs8 = ?2 WHERE kid = ?1");
    INSERT_KEY = new("INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, activates_at) VALUES (?, ?, ?, ?, ?)");
    SETTING_OR_INIT = new("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = settings.value RETURNING value");
    PING = new("SELECT 1 AS one");

    // Sweeps: each deletes at most SWEEP_CHUNK rows (see `ops/maintenance.rs`),
    // with ?1 the cut-off time.
    /// Codes are kept `code_retention` past expiry (the caller passes the
    /// cut-off) so that a late replay still revokes their grant.
    SWEEP_CODES = new("DELETE FROM authorization_codes WHERE code_hash IN
         (SELECT code_hash FROM authorization_codes WHERE expires_at < ?1 LIMIT 1000)");
    SWEEP_ACCESS_TOKENS = new("DELETE FROM access_tokens WHERE jti IN
         (SELECT jti FROM access_tokens WHERE expires_at < ?1 LIMIT 1000)");
    /// Rotated tokens stay while their family lives: their reuse must still
    /// be detected.
    SWEEP_REFRESH_TOKENS = new("DELETE FROM refresh_tokens WHERE token_hash IN
         (SELECT token_hash FROM refresh_tokens WHERE family_expires_at < ?1
          OR (rotated_at IS NULL AND idle_expires_at < ?1)
          OR (revoked_at IS NOT NULL AND revoked_at < ?1 - 86400) LIMIT 1000)");
    // Failure counters (RFC 6749 §10.10, RFC 8628 §5.1).
    /// Counts a failure, starting a new window when the last began at
    /// least `?3` seconds before `?2`; returns the count in the window.
    RECORD_FAILURE = new("INSERT INTO failure_counters (key, count, window_start, blocked_until) VALUES (?1, 1, ?2, 0)
         ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN failure_counters.window_start <= ?2 - ?3 THEN 1 ELSE failure_counters.count + 1 END,
         window_start = CASE WHEN failure_counters.window_start <= ?2 - ?3 THEN ?2 ELSE failure_counters.window_start END
         RETURNING count");
    /// Moves the time of the next attempt forward, never back.
    BLOCK_FAILURES = new("UPDATE failure_counters SET blocked_until = ?2 WHERE key = ?1 AND blocked_until < ?2");
    BLOCKED_UNTIL = new("SELECT blocked_until FROM failure_counters WHERE key = ?1 AND blocked_until > ?2");
    CLEAR_FAILURES = new("DELETE FROM failure_counters WHERE key = ?1");
    /// Counters neither blocking nor counted any more (every window and
    /// lock is at most a day).
    SWEEP_FAILURES = new("DELETE FROM failure_counters WHERE key IN
         (SELECT key FROM failure_counters WHERE blocked_until < ?1 AND window_start < ?1 - 86400 LIMIT 1000)");
    SWEEP_SESSIONS = new("DELETE FROM sessions WHERE id_hash IN
         (SELECT id_hash FROM sessions WHERE expires_at < ?1 LIMIT 1000)");
    SWEEP_JTIS = new("DELETE FROM used_jtis WHERE (client_id, jti) IN
         (SELECT client_id, jti FROM used_jtis WHERE expires_at < ?1 LIMIT 1000)");
    SWEEP_DEVICE_CODES = new("DELETE FROM device_codes WHERE device_code_hash IN
         (SELECT device_code_hash FROM device_codes WHERE expires_at < ?1 LIMIT 1000)");
    /// Last: a grant goes once everything issued under it has expired
    /// (its expiry is set, and moved, to cover it all), so that no row is
    /// ever left naming a grant that is gone.
    SWEEP_GRANTS = new("DELETE FROM grants WHERE id IN
         (SELECT id FROM grants WHERE expires_at < ?1 LIMIT 1000)");
    SWEEP_PUSHED_REQUESTS = new("DELETE FROM pushed_requests WHERE request_uri_hash IN
         (SELECT request_uri_hash FROM pushed_requests WHERE expires_at < ?1 LIMIT 1000)");
    SWEEP_INITIAL_TOKENS = new("DELETE FROM initial_access_tokens WHERE token_hash IN
         (SELECT token_hash FROM initial_access_tokens WHERE expires_at < ?1 OR remaining_uses <= 0 LIMIT 1000)");
}

/// Rows deleted per sweep statement (the `LIMIT` of each), so that a sweep
/// after hours of heavy load never holds the database for more than
/// moments.
pub(crate) const SWEEP_CHUNK: u64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_placeholders_and_dialect() {
        assert_eq!(
            to_postgres("SELECT * FROM t WHERE a = ? AND b = ?"),
            "SELECT * FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(
            to_postgres("UPDATE t SET x = ?1 WHERE y = ?2 AND z > ?1"),
            "UPDATE t SET x = $1 WHERE y = $2 AND z > $1"
        );
        assert_eq!(
            to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(to_postgres("SET a = MIN(?3, b)"), "SET a = LEAST($3, b)");
        assert_eq!(to_postgres("SET a = MAX(a, ?1)"), "SET a = GREATEST(a, $1)");
        assert_eq!(to_postgres("WHERE s = '?'"), "WHERE s = '?'");
        assert_eq!(
            to_postgres("EXISTS (SELECT 1 FROM c WHERE id = ?2 /*FOR KEY SHARE*/)"),
            "EXISTS (SELECT 1 FROM c WHERE id = $2 FOR KEY SHARE)"
        );
        assert_eq!(
            to_postgres("EXISTS (SELECT 1 FROM u WHERE id = ?2 /*FOR SHARE*/)"),
            "EXISTS (SELECT 1 FROM u WHERE id = $2 FOR SHARE)"
        );
        assert_eq!(
            to_postgres("SELECT 1 FROM g WHERE id = ? /*FOR UPDATE*/)"),
            "SELECT 1 FROM g WHERE id = $1 FOR UPDATE)"
        );
    }

    /// Every statement keeps to the rules the translation relies on, and
    /// is translated once.
    #[test]
    fn every_statement_translates_once_and_keeps_the_rules() {
        for st in ALL {
            let s = st.sqlite();
            let numbered = s.contains("?1");
            let plain = s
                .char_indices()
                .any(|(i, c)| c == '?' && !s[i + 1..].starts_with(|d: char| d.is_ascii_digit()));
            assert!(!(numbered && plain), "mixed placeholders: {s}");
            assert!(!st.pg().contains('?'), "{}", st.pg());
            assert!(std::ptr::eq(st.pg(), st.pg()), "translated once");
        }
    }
}
