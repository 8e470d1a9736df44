//! Authorization server metadata: RFC 8414 §2 and OIDC Discovery 1.0 §3.
//! One document serves both well-known paths. It advertises only what works.

use serde_json::{json, Value};

use crate::keys::SUPPORTED_ALGS;
use crate::model::SUPPORTED_GRANT_TYPES;
use crate::scope::OIDC_SCOPES;

/// Paths of the endpoints, relative to the issuer.
pub mod paths {
    /// Authorization endpoint.
    pub const AUTHORIZE: &str = "/authorize";
    /// Token endpoint.
    pub const TOKEN: &str = "/token";
    /// UserInfo endpoint.
    pub const USERINFO: &str = "/userinfo";
    /// JWK Set.
    pub const JWKS: &str = "/jwks.json";
    /// RFC 7009 revocation.
    pub const REVOKE: &str = "/revoke";
    /// RFC 7662 introspection.
    pub const INTROSPECT: &str = "/introspect";
    /// RP-Initiated Logout end-session endpoint.
    pub const LOGOUT: &str = "/logout";
    /// RFC 8628 device authorization endpoint.
    pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
    /// RFC 8628 verification page.
    pub const DEVICE: &str = "/device";
    /// RFC 9126 pushed authorization request endpoint.
    pub const PAR: &str = "/par";
    /// RFC 7591 registration endpoint (and, below it, RFC 7592's
    /// registration client URIs).
    pub const REGISTER: &str = "/register";
}

const AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// The metadata document of a server configured as `config`; its
/// `scopes_supported` are OpenID Connect's and `resource_scopes`, those
/// of the registered resources (RFC 8707).
pub fn metadata(config: &crate::Config, resource_scopes: &[String]) -> Value {
    let issuer = config.issuer.as_str();
    let mut scopes: Vec<&str> = OIDC_SCOPES.to_vec();
    for s in resource_scopes {
        if !scopes.contains(&s.as_str()) {
            scopes.push(s);
        }
    }
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{}", paths::AUTHORIZE),
        "token_endpoint": format!("{issuer}{}", paths::TOKEN),
        "userinfo_endpoint": format!("{issuer}{}", paths::USERINFO),
        "jwks_uri": format!("{issuer}{}", paths::JWKS),
        "revocation_endpoint": format!("{issuer}{}", paths::REVOKE),
        "introspection_endpoint": format!("{issuer}{}", paths::INTROSPECT),
        "end_session_endpoint": format!("{issuer}{}", paths::LOGOUT),
        "device_authorization_endpoint": format!("{issuer}{}", paths::DEVICE_AUTHORIZATION),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": SUPPORTED_GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": SUPPORTED_ALGS,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": SUPPORTED_ALGS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": SUPPORTED_ALGS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": SUPPORTED_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "preferred_username", "email"],
        "prompt_values_supported": ["none", "login", "consent"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "resource_indicators_supported": true,
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": format!("{issuer}{}", paths::PAR),
        "require_pushed_authorization_requests": config.require_pushed_authorization_requests,
        // RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": crate::dpop::SUPPORTED_ALGS,
    });
    // RFC 7591 §3, RFC 8414 §2: only when registration is possible.
    if config.registration != crate::config::RegistrationPolicy::Off {
        doc["registration_endpoint"] = json!(format!("{issuer}{}", paths::REGISTER));
    }
    // draft-ietf-oauth-client-id-metadata-document §5.
    if config.client_id_metadata.enabled {
        doc["client_id_metadata_document_supported"] = json!(true);
    }
    doc
}
