//! Dynamic client registration (RFC 7591) and management (RFC 7592).
//!
//! Who may register is the `registration` setting
//! ([`crate::config::RegistrationPolicy`]): nobody (the default outside
//! `--dev`), a holder of an initial access token minted by the admin CLI
//! (RFC 7591 §3: any kind of client), or anybody (public clients only,
//! with https or loopback redirect URIs, a limited number per address and
//! hour). A client that registered itself never skips consent, and the
//! consent page says that it registered itself.
//!
//! Each registration answers a registration access token (RFC 7592 §3),
//! stored as a hash, with which the client reads, replaces and deletes its
//! registration at its registration client URI.

use serde_json::{json, Value};

use crate::config::RegistrationPolicy;
use crate::error::{ErrorCode, OAuthError};
use crate::keys;
use crate::model::{Client, ClientKind, Registration, SUPPORTED_GRANT_TYPES};
use crate::secret::{self, ClientSecret};
use crate::{redirect_uri, scope, throttle, Provider};

/// The most redirect URIs a registration may list.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest URI accepted in a registration.
pub const MAX_URI_LEN: usize = 2048;
/// The longest `client_name`.
pub const MAX_NAME_LEN: usize = 200;

fn metadata_error(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, d)
}

fn redirect_error(d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, d)
}

/// The client metadata this server understands (RFC 7591 §2; OIDC
/// Registration's `post_logout_redirect_uris`). Anything else a client
/// sends is ignored (RFC 7591 §2).
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// `redirect_uris`.
    pub redirect_uris: Vec<String>,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: Option<String>,
    /// `grant_types`.
    pub grant_types: Option<Vec<String>>,
    /// `client_name`.
    pub client_name: Option<String>,
    /// `scope`, space-separated.
    pub scope: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `jwks` (a JWK Set, kept as its JSON text).
    pub jwks: Option<String>,
    /// `post_logout_redirect_uris`.
    pub post_logout_redirect_uris: Vec<String>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_pushed_authorization_requests: bool,
    /// OIDC Dynamic Client Registration 1.0 §2
    /// `id_token_signed_response_alg`: one of [`keys::SUPPORTED_ALGS`];
    /// RS256 when absent, as that section requires.
    pub id_token_signed_response_alg: Option<String>,
}

fn boolean(doc: &Value, name: &str) -> Result<bool, OAuthError> {
    match &doc[name] {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(metadata_error(format!("{name} must be a boolean"))),
    }
}

fn strings(doc: &Value, name: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match &doc[name] {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| metadata_error(format!("{name} must be an array of strings")))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        _ => Err(metadata_error(format!(
            "{name} must be an array of strings"
        ))),
    }
}

fn string(doc: &Value, name: &str) -> Result<Option<String>, OAuthError> {
    match &doc[name] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(metadata_error(format!("{name} must be a string"))),
    }
}

impl Metadata {
    /// Reads a registration request's (or a metadata document's) JSON
    /// object; `invalid_client_metadata` for a field of the wrong type.
    pub fn from_json(doc: &Value) -> Result<Self, OAuthError> {
        if !doc.is_object() {
            return Err(metadata_error("the client metadata must be a JSON object"));
        }
        if let Some(types) = strings(doc, "response_types")? {
            if types.iter().any(|t| t != "code") {
                return Err(metadata_error("response_types: only \"code\" is supported"));
            }
        }
        let jwks = match &doc["jwks"] {
            Value::Null => None,
            v @ Value::Object(_) => Some(v.to_string()),
            _ => return Err(metadata_error("jwks must be a JWK Set object")),
        };
        Ok(Self {
            redirect_uris: strings(doc, "redirect_uris")?.unwrap_or_default(),
            token_endpoint_auth_method: string(doc, "token_endpoint_auth_method")?,
            grant_types: strings(doc, "grant_types")?,
            client_name: string(doc, "client_name")?,
            scope: string(doc, "scope")?,
            jwks_uri: string(doc, "jwks_uri")?,
            jwks,
            post_logout_redirect_uris: strings(doc, "post_logout_redirect_uris")?
                .unwrap_or_default(),
            dpop_bound_access_tokens: boolean(doc, "dpop_bound_access_tokens")?,
            require_pushed_authorization_requests: boolean(
                doc,
                "require_pushed_authorization_requests",
            )?,
            id_token_signed_response_alg: string(doc, "id_token_signed_response_alg")?,
        })
    }

    /// The client these metadata describe, under `id`, checked: redirect
    /// URIs registrable (RFC 7591 §2, RFC 8252 §7), grant types supported
    /// and allowed for `kind`, scopes among `available_scopes`.
    pub fn into_client(
        self,
        id: String,
        kind: ClientKind,
        available_scopes: &[String],
        now: i64,
    ) -> Result<Client, OAuthError> {
        let grant_types = self
            .grant_types
            .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
        if let Some(bad) = grant_types
            .iter()
            .find(|g| !SUPPORTED_GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(metadata_error(format!(
                "grant_types: {bad:?} is not supported"
            )));
        }
        if kind == ClientKind::Public && grant_types.iter().any(|g| g == "client_credentials") {
            return Err(metadata_error(
                "grant_types: client_credentials needs a confidential client (RFC 6749 §4.4)",
            ));
        }
        let uses_redirect = grant_types.iter().any(|g| g == "authorization_code");
        if uses_redirect && self.redirect_uris.is_empty() {
            return Err(redirect_error(
                "redirect_uris is required for the authorization_code grant",
            ));
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS
            || self.post_logout_redirect_uris.len() > MAX_REDIRECT_URIS
        {
            return Err(redirect_error(format!(
                "at most {MAX_REDIRECT_URIS} redirect URIs"
            )));
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            if uri.len() > MAX_URI_LEN {
                return Err(redirect_error("a redirect URI is too long"));
            }
            redirect_uri::validate_registration(uri).map_err(redirect_error)?;
        }
        let scopes = match &self.scope {
            None => available_scopes.to_vec(),
            Some(s) => {
                let asked = scope::parse_request(s).map_err(metadata_error)?;
                if let Some(bad) = asked.iter().find(|s| !available_scopes.contains(s)) {
                    return Err(metadata_error(format!(
                        "scope {bad:?} is not offered by this server"
                    )));
                }
                asked
            }
        };
        // A client registered for refresh tokens may ask for them: MCP
        // clients register the MCP server's scopes, then add
        // `offline_access` when the server offers it (MCP SEP-2207).
        let mut scopes = scopes;
        if grant_types.iter().any(|g| g == "refresh_token")
            && !scopes.iter().any(|s| s == "offline_access")
            && available_scopes.iter().any(|s| s == "offline_access")
        {
            scopes.push("offline_access".to_owned());
        }
        let name = self.client_name.unwrap_or_default();
        if name.chars().count() > MAX_NAME_LEN
            || name.chars().any(|c| c.is_control() || is_format(c))
        {
            return Err(metadata_error(format!(
                "client_name: at most {MAX_NAME_LEN} characters, no control characters"
            )));
        }
        if let Some(uri) = &self.jwks_uri {
            if uri.len() > MAX_URI_LEN || !uri.starts_with("https://") {
                return Err(metadata_error("jwks_uri must be an https URL"));
            }
        }
        if self.jwks_uri.is_some() && self.jwks.is_some() {
            return Err(metadata_error(
                "jwks and jwks_uri cannot both be given (RFC 7591 §2)",
            ));
        }
        // OIDC Registration §2: RS256 unless the client asks for another
        // algorithm this server signs with; `none` is never one of them.
        let id_token_alg = match self.id_token_signed_response_alg {
            None => "RS256".to_owned(),
            Some(alg) if keys::SUPPORTED_ALGS.contains(&alg.as_str()) => alg,
            Some(alg) => {
                return Err(metadata_error(format!(
                    "id_token_signed_response_alg {:?} is not supported: use one of {}",
                    alg.chars().take(20).collect::<String>(),
                    keys::SUPPORTED_ALGS.join(", ")
                )))
            }
        };
        Ok(Client {
            id,
            name,
            kind,
            secret_hash: None,
            previous_secret: None,
            redirect_uris: self.redirect_uris,
            scopes,
            grant_types,
            skip_consent: false,
            id_token_alg,
            created_at: now,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            rotate_refresh_tokens: true,
            always_issue_refresh_token: false,
            resources: Vec::new(),
            registration: Registration::Dynamic,
            registration_token_hash: None,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
        })
    }
}

/// What a client nobody vouched for (open registration, a metadata
/// document) may register as redirect and post-logout redirect URIs:
/// https, or loopback for native apps (no private-use schemes).
pub fn require_safe_redirects(meta: &Metadata) -> Result<(), OAuthError> {
    if let Some(bad) = meta
        .redirect_uris
        .iter()
        .chain(&meta.post_logout_redirect_uris)
        .find(|u| !(u.starts_with("https://") || redirect_uri::is_loopback(u)))
    {
        return Err(redirect_error(format!(
            "{bad:?}: only https or loopback (http://127.0.0.1, http://[::1], http://localhost) redirect URIs are accepted from a client that registers itself"
        )));
    }
    Ok(())
}

/// Unicode format characters (category Cf: bidirectional overrides,
/// zero-width characters, soft hyphens): invisible, and able to reorder
/// what a consent page shows around a name.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// The scopes a self-registered client may have: OpenID Connect's and
/// those of the registered resources.
pub async fn available_scopes(p: &Provider) -> Result<Vec<String>, OAuthError> {
    Ok(p.clients().available_scopes().await?)
}

/// How a registration request is authorized.
#[derive(Debug)]
pub enum Caller {
    /// With this initial access token (a Bearer token).
    InitialAccessToken(String),
    /// With nothing, from this address.
    Anonymous(Option<std::net::IpAddr>),
}

/// A registration endpoint failure: an OAuth error, or too many open
/// registrations from one address (429, retry after the given seconds).
#[derive(Debug)]
pub enum RegisterError {
    /// The error to answer (its code's status, or 401 for a bad initial
    /// access token).
    OAuth(OAuthError),
    /// Rate-limited.
    TooMany(i64),
    /// The endpoint is off.
    Disabled,
}

impl From<OAuthError> for RegisterError {
    fn from(e: OAuthError) -> Self {
        RegisterError::OAuth(e)
    }
}

impl From<crate::StoreError> for RegisterError {
    fn from(e: crate::StoreError) -> Self {
        RegisterError::OAuth(e.into())
    }
}

/// RFC 7591 §3.1-§3.2: registers a client. Answers the client information
/// response (§3.2.1), with its registration access token and, for a
/// confidential client, its secret: both shown this once.
pub async fn register(p: &Provider, caller: Caller, body: &Value) -> Result<Value, RegisterError> {
    let config = p.config();
    let open = match (config.registration, &caller) {
        (RegistrationPolicy::Off, _) => return Err(RegisterError::Disabled),
        (_, Caller::InitialAccessToken(token)) => {
            if !p
                .store()
                .use_initial_access_token(&secret::hash_token(token), p.now())
                .await?
            {
                return Err(OAuthError::new(
                    ErrorCode::InvalidToken,
                    "the initial access token is invalid, expired or used up",
                )
                .into());
            }
            false
        }
        (RegistrationPolicy::InitialAccessToken, Caller::Anonymous(_)) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "registration needs an initial access token (RFC 7591 §3)",
            )
            .into())
        }
        (RegistrationPolicy::Open, Caller::Anonymous(_)) => true,
    };
    // Counted before the work, per address and hour: a flood of
    // registrations from one network stops at the limit.
    let key = match &caller {
        Caller::Anonymous(Some(ip)) if open => Some(throttle::address_key("register", *ip)),
        _ => None,
    };
    if let Some(key) = &key {
        if let Some(after) =
            throttle::admit(p, key, config.registration_max_per_address, 3600).await?
        {
            return Err(RegisterError::TooMany(after));
        }
    }

    let meta = Metadata::from_json(body)?;
    let method = meta
        .token_endpoint_auth_method
        .clone()
        // RFC 7591 §2's default; a client without a secret says "none".
        .unwrap_or_else(|| "client_secret_basic".to_owned());
    let kind = match method.as_str() {
        "none" => ClientKind::Public,
        "client_secret_basic" | "client_secret_post" | "private_key_jwt" if !open => {
            ClientKind::Confidential
        }
        "client_secret_basic" | "client_secret_post" | "private_key_jwt" => {
            return Err(metadata_error(
                "open registration admits public clients only: token_endpoint_auth_method must be \"none\"",
            )
            .into())
        }
        other => {
            return Err(metadata_error(format!(
                "token_endpoint_auth_method {other:?} is not supported"
            ))
            .into())
        }
    };
    if method == "private_key_jwt" && meta.jwks.is_none() && meta.jwks_uri.is_none() {
        return Err(metadata_error("private_key_jwt needs jwks or jwks_uri").into());
    }
    if open {
        require_safe_redirects(&meta)?;
        if meta
            .grant_types
            .iter()
            .flatten()
            .any(|g| g == "client_credentials")
        {
            return Err(
                metadata_error("open registration does not admit client_credentials").into(),
            );
        }
    }
    let available = available_scopes(p).await?;
    let now = p.now();
    let id = format!(
        "dyn-{}",
        secret::random_token(16).map_err(OAuthError::server_error)?
    );
    let mut client = meta.into_client(id, kind, &available, now)?;
    let secret = if kind == ClientKind::Confidential && method != "private_key_jwt" {
        let s = ClientSecret::new(secret::random_token(32).map_err(OAuthError::server_error)?);
        client.secret_hash = Some(p.hasher().hash(&s));
        Some(s)
    } else {
        None
    };
    let token = secret::random_token(32).map_err(OAuthError::server_error)?;
    client.registration_token_hash = Some(secret::hash_token(&token));
    p.store().create_client(&client).await?;
    tracing::info!(target: crate::session::SECURITY, event = "client registered", client_id = %client.id, open, "a client registered itself");
    let mut out = client_information(p, &client, &method);
    out["registration_access_token"] = json!(token);
    out["client_id_issued_at"] = json!(now);
    if let Some(s) = secret {
        out["client_secret"] = json!(s.expose());
        out["client_secret_expires_at"] = json!(0);
    }
    Ok(out)
}

/// RFC 7591 §3.2.1 / RFC 7592 §3: a client's registered metadata.
pub fn client_information(p: &Provider, c: &Client, method: &str) -> Value {
    let mut v = json!({
        "client_id": c.id,
        "client_name": c.name,
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "scope": scope::join(&c.scopes),
        "id_token_signed_response_alg": c.id_token_alg,
        "registration_client_uri": registration_client_uri(p, &c.id),
    });
    if let Some(u) = &c.jwks_uri {
        v["jwks_uri"] = json!(u);
    }
    if let Some(j) = c
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
    {
        v["jwks"] = j;
    }
    if !c.post_logout_redirect_uris.is_empty() {
        v["post_logout_redirect_uris"] = json!(c.post_logout_redirect_uris);
    }
    if c.dpop_bound_access_tokens {
        v["dpop_bound_access_tokens"] = json!(true);
    }
    if c.require_pushed_authorization_requests {
        v["require_pushed_authorization_requests"] = json!(true);
    }
    v
}

/// RFC 7592 §1: where a client manages its registration.
pub fn registration_client_uri(p: &Provider, client_id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    format!(
        "{}{}/{id}",
        p.config().issuer,
        crate::discovery::paths::REGISTER
    )
}

/// RFC 7592 §2: the client a registration access token manages; 401
/// `invalid_token` for a wrong token, an unknown client, or one that did
/// not register itself (§2: the same answer for each). Compared in
/// constant time.
pub async fn authorize_management(
    p: &Provider,
    client_id: &str,
    token: Option<&str>,
) -> Result<Client, OAuthError> {
    let denied = || {
        OAuthError::new(
            ErrorCode::InvalidToken,
            "the registration access token is invalid",
        )
    };
    let token = token.ok_or_else(denied)?;
    let client = p.store().get_client(client_id).await?.ok_or_else(denied)?;
    let stored = client
        .registration_token_hash
        .as_deref()
        .filter(|_| client.registration == Registration::Dynamic)
        .ok_or_else(denied)?;
    let presented = secret::hash_token(token);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        presented.as_bytes(),
        stored.as_bytes(),
    )) {
        return Err(denied());
    }
    Ok(client)
}

/// RFC 7592 §2.2: replaces a client's metadata with `body`; the client id
/// and authentication method cannot change.
pub async fn update(p: &Provider, client: &Client, body: &Value) -> Result<Value, OAuthError> {
    if body["client_id"].as_str() != Some(client.id.as_str()) {
        return Err(OAuthError::invalid_request(
            "client_id must be the registered client's (RFC 7592 §2.2)",
        ));
    }
    let meta = Metadata::from_json(body)?;
    let method = client.auth_method();
    // Keys decide the method (`Client::auth_method`): adding or dropping
    // them would change it as surely as naming another method.
    let keyed = meta.jwks.is_some() || meta.jwks_uri.is_some();
    if client.kind == ClientKind::Confidential && keyed != (method == "private_key_jwt") {
        return Err(metadata_error(
            "token_endpoint_auth_method cannot be changed (adding or removing keys would change it); register a new client",
        ));
    }
    if let Some(m) = &meta.token_endpoint_auth_method {
        if m != method && !(method == "client_secret_basic" && m == "client_secret_post") {
            return Err(metadata_error(
                "token_endpoint_auth_method cannot be changed; register a new client",
            ));
        }
    }
    if client.kind == ClientKind::Public && p.config().registration == RegistrationPolicy::Open {
        require_safe_redirects(&meta)?;
    }
    let available = available_scopes(p).await?;
    let mut updated = meta.into_client(client.id.clone(), client.kind, &available, p.now())?;
    updated.registration = Registration::Dynamic;
    // What an operator may have limited it to stays.
    updated.resources = client.resources.clone();
    if !p.store().update_client(&updated).await? {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the registration access token is invalid",
        ));
    }
    p.clients().forget(&client.id);
    Ok(client_information(p, &updated, method))
}
