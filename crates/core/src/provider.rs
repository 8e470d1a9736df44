//! The provider: configuration, store, clock and keys, and the decisions of
//! each endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{json, Value};

use crate::authorize::{self, AuthorizeError, Params, ValidRequest};
use crate::client_auth::JwksFetcher;
use crate::error::{ErrorCode, OAuthError};
use crate::grant::TokenResponse;
use crate::keys::{self, KeyError, KeySet, SUPPORTED_ALGS};
use crate::model::{
    AccessTokenRecord, AuthorizationCode, Client, RefreshTokenRecord, Session, User,
};
use crate::secret::{self, SecretHasher};
use crate::tokens::{AccessTokenClaims, IdTokenClaims, ACCESS_TOKEN_ALG, ACCESS_TOKEN_TYP};
use crate::{password, Clock, Config, Store, StoreError};

/// How long a client read from the store is reused. Admin commands run in
/// other processes, so a change (a deleted client, a rotated secret) takes
/// effect within this time on every running server.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);

/// How many verified access tokens [`Provider::access_token_claims`] keeps
/// (about 2 MB at most); when full, the cache starts over.
pub const VERIFIED_TOKEN_CACHE: usize = 4096;

/// Failure to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The authorization server's engine.
#[derive(Debug)]
pub struct Provider {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: RwLock<Arc<KeySet>>,
    hasher: SecretHasher,
    /// client id -> (fetched at, by the injected clock; client).
    clients: Mutex<HashMap<String, (i64, Client)>>,
    /// Wrong user codes per browser address (RFC 8628 §5.1).
    pub(crate) user_code_attempts: crate::device::AttemptLimiter,
    /// (fetched at; origins allowed for CORS).
    cors_origins: Mutex<Option<(i64, Vec<String>)>>,
    /// jwks_uri -> (fetched at; document).
    pub(crate) jwks_cache: Mutex<HashMap<String, (i64, Value)>>,
    pub(crate) jwks_fetcher: Option<Arc<dyn JwksFetcher>>,
    /// SHA-256 of an access token -> its verified claims.
    verified_tokens: Mutex<HashMap<String, Value>>,
}

/// What to issue at the token endpoint.
#[derive(Debug)]
pub struct Issue<'a> {
    /// The grant the tokens belong to (revoked together).
    pub grant_id: &'a str,
    /// `sub`: the user, or the client itself for `client_credentials`.
    pub subject: &'a str,
    /// Scope of the access token.
    pub scope: &'a str,
    /// When the user authenticated.
    pub auth_time: Option<i64>,
    /// OIDC nonce for the ID token.
    pub nonce: Option<&'a str>,
    /// Whether to issue an ID token.
    pub id_token: bool,
    /// Whether to issue a refresh token, and of which family.
    pub refresh: Option<RefreshFamily<'a>>,
}

/// A refresh token family: its scope and absolute expiry.
#[derive(Debug)]
pub struct RefreshFamily<'a> {
    /// Scope of the grant (RFC 6749 §6: kept on rotation).
    pub scope: &'a str,
    /// Absolute expiry of the family.
    pub expires_at: i64,
}

/// What the authorization endpoint does next for a valid request.
#[derive(Debug)]
pub enum Next {
    /// Show the login page.
    Login,
    /// Show the consent page for this user.
    Consent(User),
    /// Redirect to the client (a code or an error).
    Redirect(String),
}

/// The per-installation key for client secret hashes, created on first use.
pub async fn secret_hasher(store: &dyn Store) -> Result<SecretHasher, StoreError> {
    let init = secret::random_token(32).map_err(|e| StoreError::Backend(e.to_string()))?;
    let key = store
        .setting_or_init("client_secret_hmac_key", &init)
        .await?;
    Ok(SecretHasher::new(key.as_bytes()))
}

impl Provider {
    /// Starts the engine: creates the signing keys and the secret-hash key
    /// on first start, then loads them.
    pub async fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let existing = store.list_keys().await?;
        for alg in SUPPORTED_ALGS {
            if !existing.iter().any(|k| k.alg == *alg) {
                let kid = secret::random_token(12).map_err(|_| KeyError::Crypto)?;
                // The first key of an algorithm signs at once: nothing to
                // hand over from.
                let key = keys::generate(alg, kid, clock.now(), clock.now())?;
                store.insert_key(&key).await?;
                tracing::info!(alg, kid = %key.kid, "generated signing key");
            }
        }
        // Read back, so every node and every start sees the same order.
        let stored = store.list_keys().await?;
        let keyset = KeySet::from_stored(&stored)?;
        let hasher = secret_hasher(store.as_ref()).await?;
        Ok(Self {
            config,
            store,
            clock,
            keys: RwLock::new(Arc::new(keyset)),
            hasher,
            clients: Mutex::new(HashMap::new()),
            jwks_cache: Mutex::new(HashMap::new()),
            verified_tokens: Mutex::new(HashMap::new()),
            jwks_fetcher: None,
            cors_origins: Mutex::new(None),
            user_code_attempts: crate::device::AttemptLimiter::default(),
        })
    }

    /// Sets how clients' `jwks_uri`s are fetched.
    pub fn with_jwks_fetcher(mut self, fetcher: Arc<dyn JwksFetcher>) -> Self {
        self.jwks_fetcher = Some(fetcher);
        self
    }

    /// Whether a browser `Origin` may call the token, revocation, userinfo,
    /// JWKS and discovery endpoints: the origin of a public client's
    /// registered redirect URI (for a loopback IP literal, on any port, as
    /// RFC 8252 §7.3 allows for the redirect itself). Cached like clients.
    pub async fn cors_allowed(&self, origin: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let cached = self.cors_origins.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|(at, _)| now - at < CLIENT_CACHE_TTL.as_secs() as i64)
                .map(|(_, o)| o.clone())
        });
        let origins = match cached {
            Some(o) => o,
            None => {
                let mut o: Vec<String> = self
                    .store
                    .list_clients()
                    .await?
                    .iter()
                    .filter(|c| c.kind == crate::model::ClientKind::Public)
                    .flat_map(|c| {
                        c.redirect_uris
                            .iter()
                            .filter_map(|u| crate::redirect_uri::web_origin(u))
                    })
                    .collect();
                o.sort();
                o.dedup();
                if let Ok(mut c) = self.cors_origins.lock() {
                    *c = Some((now, o.clone()));
                }
                o
            }
        };
        Ok(origins.iter().any(|o| o == origin)
            || crate::redirect_uri::loopback_origin_without_port(origin)
                .is_some_and(|bare| origins.contains(&bare)))
    }

    /// The published JWK Set: every key not yet retired (see
    /// [`KeySet::jwks`]).
    pub fn jwks(&self) -> Value {
        let c = &self.config;
        let longest = c.access_token_lifetime.max(c.id_token_lifetime).as_secs() as i64;
        // A minute of leeway for clock differences between nodes and verifiers.
        self.keys().jwks(self.now(), longest + 60)
    }

    /// Reloads the signing keys from the store, so that a key added by
    /// `proofkey keys rotate` (or another node) is published and, once
    /// active, used, without a restart.
    pub async fn reload_keys(&self) -> Result<(), StartError> {
        let set = Arc::new(KeySet::from_stored(&self.store.list_keys().await?)?);
        match self.keys.write() {
            Ok(mut k) => *k = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        // A verdict holds only for the keys it was reached with.
        if let Ok(mut cache) = self.verified_tokens.lock() {
            cache.clear();
        }
        Ok(())
    }

    /// The claims of `token` if it is a JWT access token of this issuer:
    /// RFC 9068 §4 signature, `typ: at+jwt` and `iss`. Expiry and
    /// revocation are the caller's to check, on every request.
    ///
    /// A signature check never changes its verdict for the same token and
    /// keys, and ES256 verification (57 us) was the largest cost of
    /// introspection and UserInfo, so the claims of valid tokens are kept
    /// by the token's SHA-256, at most [`VERIFIED_TOKEN_CACHE`] of them,
    /// until the keys are next reloaded.
    pub fn access_token_claims(&self, token: &str) -> Option<Value> {
        let hash = secret::hash_token(token);
        let cached = self
            .verified_tokens
            .lock()
            .ok()
            .and_then(|c| c.get(&hash).cloned());
        if cached.is_some() {
            return cached;
        }
        let (typ, claims) = self.keys().verify_jwt(token).ok()?;
        if typ.as_deref() != Some(ACCESS_TOKEN_TYP) || claims["iss"] != self.config.issuer.as_str()
        {
            return None;
        }
        if let Ok(mut cache) = self.verified_tokens.lock() {
            if cache.len() >= VERIFIED_TOKEN_CACHE {
                cache.clear();
            }
            cache.insert(hash, claims.clone());
        }
        Some(claims)
    }

    /// Database upkeep (see [`Store::checkpoint`]).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.store.checkpoint().await
    }

    /// Deletes expired rows (see [`Store::sweep`]).
    pub async fn sweep(&self) -> Result<crate::model::SweepCounts, StoreError> {
        let now = self.now();
        let codes_before = now - self.config.code_retention.as_secs() as i64;
        self.store.sweep(now, codes_before).await
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The client secret hasher.
    pub fn hasher(&self) -> &SecretHasher {
        &self.hasher
    }

    /// The current signing keys.
    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// A client by id, cached for [`CLIENT_CACHE_TTL`]. Unknown ids are not
    /// cached, so a client created by an admin command is usable at once.
    pub async fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        if let Ok(cache) = self.clients.lock() {
            if let Some((at, c)) = cache.get(id) {
                if self.now() - at < CLIENT_CACHE_TTL.as_secs() as i64 {
                    return Ok(Some(c.clone()));
                }
            }
        }
        let client = self.store.get_client(id).await?;
        if let Ok(mut cache) = self.clients.lock() {
            match &client {
                Some(c) => {
                    cache.insert(id.to_owned(), (self.now(), c.clone()));
                }
                None => {
                    cache.remove(id);
                }
            }
        }
        Ok(client)
    }

    /// Validates an authorization request.
    pub async fn validate_authorize(
        &self,
        params: &Params,
    ) -> Result<ValidRequest, AuthorizeError> {
        let client = match params.get("client_id") {
            Ok(Some(id)) => self.client(id).await.map_err(|e| match e {
                StoreError::Unavailable(_) => {
                    tracing::error!(error = %e, "database unavailable");
                    AuthorizeError::Unavailable
                }
                other => AuthorizeError::Page(OAuthError::from(other).description),
            })?,
            _ => None,
        };
        authorize::validate(params, client, &self.config.pkce)
    }

    /// The session behind a cookie value, if it is live.
    pub async fn session(&self, cookie: Option<&str>) -> Result<Option<Session>, StoreError> {
        match cookie {
            Some(c) if !c.is_empty() => {
                self.store
                    .get_session(&secret::hash_token(c), self.now())
                    .await
            }
            _ => Ok(None),
        }
    }

    /// Checks a username and password with argon2id, on a blocking thread.
    /// An unknown user costs the same as a wrong password.
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, OAuthError> {
        let user = self.store.get_user_by_username(username).await?;
        let stored = user.as_ref().map_or_else(
            || password::dummy_hash().to_owned(),
            |u| u.password_hash.clone(),
        );
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || password::verify(&password, &stored))
            .await
            .map_err(OAuthError::server_error)?;
        Ok(if ok { user } else { None })
    }

    /// Starts a session for `user`; returns the cookie value.
    pub async fn start_session(&self, user: &User) -> Result<String, OAuthError> {
        let cookie = secret::random_token(32).map_err(OAuthError::server_error)?;
        let now = self.now();
        let session = Session {
            user_id: user.id.clone(),
            auth_time: now,
            expires_at: now + self.config.session_lifetime.as_secs() as i64,
        };
        self.store
            .create_session(&secret::hash_token(&cookie), &session)
            .await?;
        Ok(cookie)
    }

    fn redirect_error(&self, req: &ValidRequest, code: ErrorCode, description: &str) -> String {
        authorize::error_redirect(
            &req.redirect_uri,
            &OAuthError::new(code, description),
            req.state.as_deref(),
            &self.config.issuer,
        )
    }

    /// What to do with a valid request, given the browser's session
    /// (OIDC Core §3.1.2.3 and §3.1.2.4; `prompt` per §3.1.2.1).
    pub async fn next(
        &self,
        req: &ValidRequest,
        session: Option<&Session>,
    ) -> Result<Next, OAuthError> {
        // OIDC Core §3.1.2.1 max_age: an older authentication must be redone.
        let fresh = |s: &&Session| {
            req.max_age
                .is_none_or(|max| self.now() - s.auth_time <= max)
        };
        let Some(session) = session.filter(|_| !req.prompt.login).filter(fresh) else {
            if req.prompt.none {
                return Ok(Next::Redirect(self.redirect_error(
                    req,
                    ErrorCode::LoginRequired,
                    "the user is not logged in",
                )));
            }
            return Ok(Next::Login);
        };
        // A live session implies its user: deleting a user deletes its
        // sessions (ON DELETE CASCADE), so the user is read only for the
        // consent page, not on every silent authorization.
        if !req.client.skip_consent {
            let granted = self
                .store
                .get_consent(&session.user_id, &req.client.id)
                .await?;
            let covered = req.scopes.iter().all(|s| granted.contains(s));
            if req.prompt.consent || !covered {
                if req.prompt.none {
                    return Ok(Next::Redirect(self.redirect_error(
                        req,
                        ErrorCode::ConsentRequired,
                        "the user has not consented to this client and scope",
                    )));
                }
                let Some(user) = self.store.get_user(&session.user_id).await? else {
                    return Ok(Next::Login);
                };
                return Ok(Next::Consent(user));
            }
        }
        Ok(Next::Redirect(self.issue_code(req, session).await?))
    }

    /// The user's answer on the consent page.
    pub async fn consent(
        &self,
        req: &ValidRequest,
        session: &Session,
        allow: bool,
    ) -> Result<String, OAuthError> {
        if !allow {
            return Ok(self.redirect_error(
                req,
                ErrorCode::AccessDenied,
                "the user denied the request",
            ));
        }
        self.store
            .grant_consent(&session.user_id, &req.client.id, &req.scopes)
            .await?;
        self.issue_code(req, session).await
    }

    /// Issues a code (RFC 6749 §4.1.2): 256 random bits behind a clock part
    /// ([`secret::time_ordered_token`]), stored only as a
    /// hash with everything the token endpoint checks; the redirect carries
    /// `code`, `state` and `iss` (RFC 9207 §2).
    pub async fn issue_code(
        &self,
        req: &ValidRequest,
        session: &Session,
    ) -> Result<String, OAuthError> {
        let code = secret::time_ordered_token().map_err(OAuthError::server_error)?;
        let now = self.now();
        let record = AuthorizationCode {
            code_hash: secret::hash_token(&code),
            client_id: req.client.id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.challenge.as_str(),
            code_challenge_method: req.challenge.method().as_str().to_owned(),
            scope: crate::scope::join(&req.scopes),
            nonce: req.nonce.clone(),
            user_id: session.user_id.clone(),
            auth_time: session.auth_time,
            issued_at: now,
            expires_at: now + self.config.code_lifetime.as_secs() as i64,
        };
        self.store.insert_code(&record).await?;
        let mut extra = vec![("code", code.as_str())];
        if let Some(s) = req.state.as_deref() {
            extra.push(("state", s));
        }
        extra.push(("iss", self.config.issuer.as_str()));
        Ok(authorize::redirect_with(&req.redirect_uri, &extra))
    }

    /// Issues an access token, an ID token when `issue.id_token`, and a
    /// refresh token of the given family when `issue.refresh` is set.
    pub async fn issue_tokens(
        &self,
        client: &Client,
        issue: &Issue<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let keys = self.keys();
        let now = self.now();
        let ttl = self.config.access_token_lifetime.as_secs();
        let jti = secret::time_ordered_id(10).map_err(OAuthError::server_error)?;
        let issuer = self.config.issuer.as_str();
        let claims = AccessTokenClaims {
            iss: issuer,
            exp: now + ttl as i64,
            aud: issuer,
            sub: issue.subject,
            client_id: &client.id,
            iat: now,
            jti: &jti,
            scope: issue.scope,
            auth_time: issue.auth_time,
        };
        let access_token = keys
            .signer(ACCESS_TOKEN_ALG, now)
            .and_then(|k| k.sign_jwt(ACCESS_TOKEN_TYP, &claims))
            .map_err(OAuthError::server_error)?;
        let access_record = AccessTokenRecord {
            jti: jti.clone(),
            grant_id: issue.grant_id.to_owned(),
            client_id: client.id.clone(),
            user_id: issue.subject.to_owned(),
            scope: issue.scope.to_owned(),
            expires_at: now + ttl as i64,
        };

        let id_token = if issue.id_token {
            let signer = keys
                .signer(&client.id_token_alg, now)
                .map_err(OAuthError::server_error)?;
            let at_hash = signer.half_hash(&access_token);
            let claims = IdTokenClaims {
                iss: issuer,
                sub: issue.subject,
                aud: &client.id,
                exp: now + self.config.id_token_lifetime.as_secs() as i64,
                iat: now,
                auth_time: issue.auth_time.unwrap_or(now),
                nonce: issue.nonce,
                at_hash: &at_hash,
            };
            Some(
                signer
                    .sign_jwt("JWT", &claims)
                    .map_err(OAuthError::server_error)?,
            )
        } else {
            None
        };

        let refresh = match &issue.refresh {
            None => None,
            Some(family) => {
                let token = secret::time_ordered_token().map_err(OAuthError::server_error)?;
                let idle = now + self.config.refresh_token_idle_lifetime.as_secs() as i64;
                let record = RefreshTokenRecord {
                    token_hash: secret::hash_token(&token),
                    grant_id: issue.grant_id.to_owned(),
                    client_id: client.id.clone(),
                    user_id: issue.subject.to_owned(),
                    scope: family.scope.to_owned(),
                    auth_time: issue.auth_time.unwrap_or(now),
                    issued_at: now,
                    family_expires_at: family.expires_at,
                    idle_expires_at: idle.min(family.expires_at),
                };
                Some((token, record))
            }
        };
        // Both records at once: on SQLite they share one commit. Nothing is
        // answered unless both are stored; a record stored for a response
        // that then failed names a token nobody holds, and is swept.
        let (stored_access, stored_refresh) =
            tokio::join!(self.store.insert_access_token(&access_record), async {
                match &refresh {
                    Some((_, record)) => self.store.insert_refresh_token(record).await,
                    None => Ok(()),
                }
            });
        stored_access?;
        stored_refresh?;
        let refresh_token = refresh.map(|(token, _)| token);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope: issue.scope.to_owned(),
            id_token,
            refresh_token,
        })
    }

    /// The absolute expiry of a refresh token family that starts now.
    pub fn new_family_expiry(&self) -> i64 {
        self.now() + self.config.refresh_token_lifetime.as_secs() as i64
    }

    /// OIDC Core §5.3 UserInfo for a bearer access token. Errors are RFC 6750
    /// §3.1 `invalid_token`: a bad signature, another issuer, an expired or a
    /// revoked token.
    pub async fn userinfo(&self, bearer: &str) -> Result<Value, OAuthError> {
        let invalid = |d: &str| OAuthError::new(ErrorCode::InvalidToken, d);
        let claims = self
            .access_token_claims(bearer)
            .ok_or_else(|| invalid("the access token is invalid"))?;
        let now = self.now();
        if claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
            return Err(invalid("the access token has expired"));
        }
        let jti = claims["jti"].as_str().unwrap_or_default();
        if !self.store.access_token_active(jti, now).await? {
            return Err(invalid("the access token has been revoked"));
        }
        let sub = claims["sub"].as_str().unwrap_or_default();
        let Some(user) = self.store.get_user(sub).await? else {
            return Err(invalid("the access token's user no longer exists"));
        };
        let scopes: Vec<&str> = claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split(' ')
            .collect();
        if !scopes.contains(&"openid") {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the userinfo endpoint needs the openid scope",
            ));
        }
        let mut info = json!({"sub": user.id});
        if scopes.contains(&"profile") {
            info["preferred_username"] = json!(user.username);
            if let Some(n) = &user.name {
                info["name"] = json!(n);
            }
        }
        if scopes.contains(&"email") {
            if let Some(e) = &user.email {
                info["email"] = json!(e);
            }
        }
        Ok(info)
    }

    /// The discovery document.
    pub fn discovery(&self) -> Value {
        crate::discovery::metadata(&self.config.issuer)
    }
}
