//! Rows to records, written once for both drivers (a [`Row`] is owned and
//! driver-neutral), and records to bind lists.

use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, ClientKind, DeviceCode, DeviceStatus, Grant,
    RefreshTokenRecord, RefreshTokenState, StoredKey, User,
};
use proofkey_core::secret::PrivateKeyDer;
use proofkey_core::store::StoreResult;

use crate::tx::{args, Arg, Row};

pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

pub(crate) fn client(r: &Row) -> StoreResult<Client> {
    let kind: String = r.get("kind")?;
    Ok(Client {
        id: r.get("id")?,
        name: r.get("name")?,
        kind: if kind == "confidential" {
            ClientKind::Confidential
        } else {
            ClientKind::Public
        },
        secret_hash: r.get("secret_hash")?,
        redirect_uris: parse_list(&r.get::<String>("redirect_uris")?),
        scopes: parse_list(&r.get::<String>("scopes")?),
        grant_types: parse_list(&r.get::<String>("grant_types")?),
        skip_consent: r.get("skip_consent")?,
        id_token_alg: r.get("id_token_alg")?,
        created_at: r.get("created_at")?,
        jwks: r.get("jwks")?,
        jwks_uri: r.get("jwks_uri")?,
        post_logout_redirect_uris: parse_list(&r.get::<String>("post_logout_redirect_uris")?),
        rotate_refresh_tokens: r.get("rotate_refresh_tokens")?,
        always_issue_refresh_token: r.get("always_issue_refresh_token")?,
    })
}

pub(crate) fn client_args(c: &Client) -> Vec<Arg> {
    args![
        &c.id,
        &c.name,
        c.kind.as_str(),
        &c.secret_hash,
        json_list(&c.redirect_uris),
        json_list(&c.scopes),
        json_list(&c.grant_types),
        c.skip_consent,
        &c.id_token_alg,
        c.created_at,
        &c.jwks,
        &c.jwks_uri,
        json_list(&c.post_logout_redirect_uris),
        c.rotate_refresh_tokens,
        c.always_issue_refresh_token,
    ]
}

pub(crate) fn user(r: &Row) -> StoreResult<User> {
    Ok(User {
        id: r.get("id")?,
        username: r.get("username")?,
        email: r.get("email")?,
        name: r.get("name")?,
        password_hash: r.get("password_hash")?,
        created_at: r.get("created_at")?,
    })
}

pub(crate) fn user_args(u: &User) -> Vec<Arg> {
    args![
        &u.id,
        &u.username,
        &u.email,
        &u.name,
        &u.password_hash,
        u.created_at
    ]
}

pub(crate) fn grant_args(g: &Grant) -> Vec<Arg> {
    args![
        &g.id,
        &g.client_id,
        &g.user_id,
        &g.scope,
        g.auth_time,
        g.expires_at,
        g.created_at
    ]
}

pub(crate) fn code(r: &Row) -> StoreResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        code_hash: r.get("code_hash")?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        redirect_uri: r.get("redirect_uri")?,
        code_challenge: r.get("code_challenge")?,
        code_challenge_method: r.get("code_challenge_method")?,
        scope: r.get("scope")?,
        nonce: r.get("nonce")?,
        user_id: r.get("user_id")?,
        auth_time: r.get("auth_time")?,
        issued_at: r.get("issued_at")?,
        expires_at: r.get("expires_at")?,
    })
}

pub(crate) fn code_args(c: &AuthorizationCode) -> Vec<Arg> {
    args![
        &c.code_hash,
        &c.grant_id,
        &c.client_id,
        &c.redirect_uri,
        &c.code_challenge,
        &c.code_challenge_method,
        &c.scope,
        &c.nonce,
        &c.user_id,
        c.auth_time,
        c.issued_at,
        c.expires_at,
    ]
}

pub(crate) fn access(r: &Row) -> StoreResult<AccessTokenRecord> {
    Ok(AccessTokenRecord {
        jti: r.get("jti")?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        scope: r.get("scope")?,
        expires_at: r.get("expires_at")?,
    })
}

pub(crate) fn access_args(t: &AccessTokenRecord) -> Vec<Arg> {
    args![
        &t.jti,
        &t.grant_id,
        &t.client_id,
        &t.user_id,
        &t.scope,
        t.expires_at
    ]
}

pub(crate) fn refresh(r: &Row) -> StoreResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        token_hash: r.get("token_hash")?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        scope: r.get("scope")?,
        auth_time: r.get("auth_time")?,
        issued_at: r.get("issued_at")?,
        family_expires_at: r.get("family_expires_at")?,
        idle_expires_at: r.get("idle_expires_at")?,
        access_jti: r.get("access_jti")?,
    })
}

/// A refresh token row joined with its grant's `revoked_at`.
pub(crate) fn refresh_state(r: &Row) -> StoreResult<RefreshTokenState> {
    let revoked = r.get::<Option<i64>>("revoked_at")?.is_some()
        || r.get::<Option<i64>>("grant_revoked_at")?.is_some();
    Ok(RefreshTokenState {
        record: refresh(r)?,
        rotated_at: r.get("rotated_at")?,
        revoked,
    })
}

pub(crate) fn refresh_args(t: &RefreshTokenRecord) -> Vec<Arg> {
    args![
        &t.token_hash,
        &t.grant_id,
        &t.client_id,
        &t.user_id,
        &t.scope,
        t.auth_time,
        t.issued_at,
        t.family_expires_at,
        t.idle_expires_at,
        &t.access_jti,
    ]
}

pub(crate) fn device(r: &Row) -> StoreResult<DeviceCode> {
    let status: String = r.get("status")?;
    Ok(DeviceCode {
        device_code_hash: r.get("device_code_hash")?,
        user_code_hash: r.get("user_code_hash")?,
        client_id: r.get("client_id")?,
        scope: r.get("scope")?,
        issued_at: r.get("issued_at")?,
        expires_at: r.get("expires_at")?,
        interval: r.get("poll_interval")?,
        status: match status.as_str() {
            "approved" => DeviceStatus::Approved,
            "denied" => DeviceStatus::Denied,
            _ => DeviceStatus::Pending,
        },
        user_id: r.get("user_id")?,
        auth_time: r.get("auth_time")?,
        grant_id: r.get("grant_id")?,
    })
}

pub(crate) fn device_args(d: &DeviceCode) -> Vec<Arg> {
    args![
        &d.device_code_hash,
        &d.user_code_hash,
        &d.client_id,
        &d.scope,
        d.issued_at,
        d.expires_at,
        d.interval,
    ]
}

pub(crate) fn key(r: &Row) -> StoreResult<StoredKey> {
    Ok(StoredKey {
        kid: r.get("kid")?,
        alg: r.get("alg")?,
        private_pkcs8: PrivateKeyDer::new(r.get("private_pkcs8")?),
        created_at: r.get("created_at")?,
        activates_at: r.get("activates_at")?,
    })
}

pub(crate) fn key_args(k: &StoredKey) -> Vec<Arg> {
    args![
        &k.kid,
        &k.alg,
        k.private_pkcs8.expose(),
        k.created_at,
        k.activates_at
    ]
}
