//! Rows to records, written once for both drivers: a column is read by
//! name through [`Fields`], which each driver's row implements.

use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, ClientKind, DeviceCode, DeviceStatus,
    RefreshTokenRecord, User,
};
use sqlx::postgres::PgRow;
use sqlx::Row as _;

/// A column type both drivers decode.
pub(crate) trait Col: Sized {
    fn from_pg(r: &PgRow, name: &str) -> Result<Self, sqlx::Error>;
    fn from_sqlite(r: &rusqlite::Row<'_>, name: &str) -> rusqlite::Result<Self>;
}

macro_rules! col {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn from_pg(r: &PgRow, name: &str) -> Result<Self, sqlx::Error> {
                r.try_get(name)
            }
            fn from_sqlite(r: &rusqlite::Row<'_>, name: &str) -> rusqlite::Result<Self> {
                r.get(name)
            }
        }
    )*};
}
col!(String, Option<String>, i64, Option<i64>, bool);

/// A row whose columns can be read by name.
pub(crate) trait Fields {
    type Err;
    fn get<T: Col>(&self, name: &str) -> Result<T, Self::Err>;
}

impl Fields for PgRow {
    type Err = sqlx::Error;
    fn get<T: Col>(&self, name: &str) -> Result<T, sqlx::Error> {
        T::from_pg(self, name)
    }
}

impl Fields for rusqlite::Row<'_> {
    type Err = rusqlite::Error;
    fn get<T: Col>(&self, name: &str) -> rusqlite::Result<T> {
        T::from_sqlite(self, name)
    }
}

pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

pub(crate) fn client<R: Fields>(r: &R) -> Result<Client, R::Err> {
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

pub(crate) fn refresh<R: Fields>(r: &R) -> Result<RefreshTokenRecord, R::Err> {
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
    })
}

pub(crate) fn device<R: Fields>(r: &R) -> Result<DeviceCode, R::Err> {
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
    })
}

pub(crate) fn access<R: Fields>(r: &R) -> Result<AccessTokenRecord, R::Err> {
    Ok(AccessTokenRecord {
        jti: r.get("jti")?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        scope: r.get("scope")?,
        expires_at: r.get("expires_at")?,
    })
}

pub(crate) fn user<R: Fields>(r: &R) -> Result<User, R::Err> {
    Ok(User {
        id: r.get("id")?,
        username: r.get("username")?,
        email: r.get("email")?,
        name: r.get("name")?,
        password_hash: r.get("password_hash")?,
        created_at: r.get("created_at")?,
    })
}

pub(crate) fn code<R: Fields>(r: &R) -> Result<AuthorizationCode, R::Err> {
    Ok(AuthorizationCode {
        code_hash: r.get("code_hash")?,
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
