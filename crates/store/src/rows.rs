//! Rows to records, written once for both drivers (a [`Row`] is owned and
//! driver-neutral), and records to bind lists.

use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, ClientKind, DeviceCode, DeviceStatus, Grant,
    PreviousSecret, PushedRequest, RefreshTokenRecord, RefreshTokenState, Registration, Resource,
    StoredKey, User,
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

pub(crate) fn client(mut r: Row) -> StoreResult<Client> {
    let kind: String = r.take("kind")?;
    Ok(Client {
        id: r.take("id")?,
        name: r.take("name")?,
        kind: if kind == "confidential" {
            ClientKind::Confidential
        } else {
            ClientKind::Public
        },
        secret_hash: r.take("secret_hash")?,
        previous_secret: match (
            r.take::<Option<String>>("previous_secret_hash")?,
            r.take::<Option<i64>>("previous_secret_expires_at")?,
        ) {
            (Some(hash), Some(expires_at)) => Some(PreviousSecret { hash, expires_at }),
            _ => None,
        },
        redirect_uris: parse_list(&r.take::<String>("redirect_uris")?),
        scopes: parse_list(&r.take::<String>("scopes")?),
        grant_types: parse_list(&r.take::<String>("grant_types")?),
        skip_consent: r.take("skip_consent")?,
        id_token_alg: r.take("id_token_alg")?,
        created_at: r.take("created_at")?,
        jwks: r.take("jwks")?,
        jwks_uri: r.take("jwks_uri")?,
        post_logout_redirect_uris: parse_list(&r.take::<String>("post_logout_redirect_uris")?),
        rotate_refresh_tokens: r.take("rotate_refresh_tokens")?,
        always_issue_refresh_token: r.take("always_issue_refresh_token")?,
        resources: parse_list(&r.take::<String>("resources")?),
        registration: Registration::parse(&r.take::<String>("registered_by")?),
        registration_token_hash: r.take("registration_token_hash")?,
        dpop_bound_access_tokens: r.take("dpop_bound_access_tokens")?,
        require_pushed_authorization_requests: r.take("require_pushed_authorization_requests")?,
    })
}

/// The binds of `UPDATE_CLIENT`.
pub(crate) fn client_update_args(c: &Client) -> Vec<Arg> {
    args![
        &c.id,
        &c.name,
        json_list(&c.redirect_uris),
        json_list(&c.scopes),
        json_list(&c.grant_types),
        &c.jwks,
        &c.jwks_uri,
        json_list(&c.post_logout_redirect_uris),
        json_list(&c.resources),
        c.registration.as_str(),
        c.dpop_bound_access_tokens,
        c.require_pushed_authorization_requests,
        &c.id_token_alg,
    ]
}

/// REPLACE_CLIENT's arguments.
pub(crate) fn client_replace_args(c: &Client) -> Vec<Arg> {
    args![
        &c.id,
        &c.name,
        json_list(&c.redirect_uris),
        json_list(&c.scopes),
        json_list(&c.grant_types),
        c.skip_consent,
        &c.id_token_alg,
        &c.jwks,
        &c.jwks_uri,
        json_list(&c.post_logout_redirect_uris),
        c.rotate_refresh_tokens,
        c.always_issue_refresh_token,
        json_list(&c.resources),
        c.dpop_bound_access_tokens,
        c.require_pushed_authorization_requests,
    ]
}

pub(crate) fn resource(mut r: Row) -> StoreResult<Resource> {
    Ok(Resource {
        uri: r.take("uri")?,
        name: r.take("name")?,
        scopes: parse_list(&r.take::<String>("scopes")?),
        created_at: r.take("created_at")?,
    })
}

pub(crate) fn resource_args(x: &Resource) -> Vec<Arg> {
    args![&x.uri, &x.name, json_list(&x.scopes), x.created_at]
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
        json_list(&c.resources),
        c.registration.as_str(),
        &c.registration_token_hash,
        c.dpop_bound_access_tokens,
        c.require_pushed_authorization_requests,
    ]
}

pub(crate) fn user(mut r: Row) -> StoreResult<User> {
    Ok(User {
        id: r.take("id")?,
        username: r.take("username")?,
        email: r.take("email")?,
        name: r.take("name")?,
        password_hash: r.take("password_hash")?,
        created_at: r.take("created_at")?,
        disabled_at: r.take("disabled_at")?,
    })
}

pub(crate) fn user_args(u: &User) -> Vec<Arg> {
    args![
        &u.id,
        &u.username,
        &u.email,
        &u.name,
        &u.password_hash,
        u.created_at,
        u.disabled_at
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
        g.created_at,
        &g.resources
    ]
}

pub(crate) fn code(mut r: Row) -> StoreResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        code_hash: r.take("code_hash")?,
        grant_id: r.take("grant_id")?,
        client_id: r.take("client_id")?,
        redirect_uri: r.take("redirect_uri")?,
        code_challenge: r.take("code_challenge")?,
        code_challenge_method: r.take("code_challenge_method")?,
        scope: r.take("scope")?,
        resources: r.take("resources")?,
        nonce: r.take("nonce")?,
        user_id: r.take("user_id")?,
        auth_time: r.take("auth_time")?,
        issued_at: r.take("issued_at")?,
        expires_at: r.take("expires_at")?,
        dpop_jkt: r.take("dpop_jkt")?,
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
        &c.resources,
        &c.dpop_jkt,
    ]
}

pub(crate) fn access(mut r: Row) -> StoreResult<AccessTokenRecord> {
    Ok(AccessTokenRecord {
        jti: r.take("jti")?,
        grant_id: r.take("grant_id")?,
        client_id: r.take("client_id")?,
        user_id: r.take("user_id")?,
        scope: r.take("scope")?,
        expires_at: r.take("expires_at")?,
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

pub(crate) fn refresh(mut r: Row) -> StoreResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        token_hash: r.take("token_hash")?,
        grant_id: r.take("grant_id")?,
        client_id: r.take("client_id")?,
        user_id: r.take("user_id")?,
        scope: r.take("scope")?,
        resources: r.take("resources")?,
        auth_time: r.take("auth_time")?,
        issued_at: r.take("issued_at")?,
        family_expires_at: r.take("family_expires_at")?,
        idle_expires_at: r.take("idle_expires_at")?,
        access_jti: r.take("access_jti")?,
        dpop_jkt: r.take("dpop_jkt")?,
    })
}

/// A refresh token row joined with its grant's `revoked_at`.
pub(crate) fn refresh_state(mut r: Row) -> StoreResult<RefreshTokenState> {
    let revoked = r.take::<Option<i64>>("revoked_at")?.is_some();
    let grant_revoked = r.take::<Option<i64>>("grant_revoked_at")?.is_some();
    let rotated_at = r.take("rotated_at")?;
    Ok(RefreshTokenState {
        record: refresh(r)?,
        rotated_at,
        revoked,
        grant_revoked,
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
        &t.resources,
        &t.dpop_jkt,
    ]
}

pub(crate) fn device(mut r: Row) -> StoreResult<DeviceCode> {
    let status: String = r.take("status")?;
    Ok(DeviceCode {
        device_code_hash: r.take("device_code_hash")?,
        user_code_hash: r.take("user_code_hash")?,
        client_id: r.take("client_id")?,
        scope: r.take("scope")?,
        resources: r.take("resources")?,
        issued_at: r.take("issued_at")?,
        expires_at: r.take("expires_at")?,
        interval: r.take("poll_interval")?,
        status: match status.as_str() {
            "approved" => DeviceStatus::Approved,
            "denied" => DeviceStatus::Denied,
            _ => DeviceStatus::Pending,
        },
        user_id: r.take("user_id")?,
        auth_time: r.take("auth_time")?,
        grant_id: r.take("grant_id")?,
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
        &d.resources,
    ]
}

pub(crate) fn key(mut r: Row) -> StoreResult<StoredKey> {
    Ok(StoredKey {
        kid: r.take("kid")?,
        alg: r.take("alg")?,
        private_pkcs8: PrivateKeyDer::new(r.take("private_pkcs8")?),
        created_at: r.take("created_at")?,
        activates_at: r.take("activates_at")?,
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

pub(crate) fn pushed_request(mut r: Row) -> StoreResult<PushedRequest> {
    Ok(PushedRequest {
        request_uri_hash: r.take("request_uri_hash")?,
        client_id: r.take("client_id")?,
        params: r.take("params")?,
        created_at: r.take("created_at")?,
        expires_at: r.take("expires_at")?,
    })
}

pub(crate) fn pushed_request_args(p: &PushedRequest) -> Vec<Arg> {
    args![
        &p.request_uri_hash,
        &p.client_id,
        &p.params,
        p.created_at,
        p.expires_at
    ]
}
