//! Token issuance, without I/O: the access token (RFC 9068), the ID token
//! (OIDC Core §2, §3.1.3.6) and the refresh token (RFC 6749 §6) of one
//! token response, signed and ready, with the records the store keeps of
//! them. The grant modules then hand the records to one store operation
//! that consumes what was presented and stores them, or does nothing
//! (`crate::store::GrantStore`).
//!
//! **Invariant:** everything is signed before anything is stored; a
//! response is answered only once its records are stored, so a token that
//! a client holds always has its record (and its grant).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::OAuthError;
use crate::keys::KeySet;
use crate::model::{AccessTokenRecord, Client, NewTokens, RefreshTokenRecord};
use crate::secret::{self, RefreshToken};
use crate::tokens::{AccessTokenClaims, IdTokenClaims, ACCESS_TOKEN_ALG, ACCESS_TOKEN_TYP};
use crate::Config;

/// What to issue at the token endpoint.
#[derive(Debug)]
pub struct Issue<'a> {
    /// The grant the tokens belong to.
    pub grant_id: &'a str,
    /// `sub`: the user, or the client itself for `client_credentials`.
    pub subject: &'a str,
    /// Scope of the access token.
    pub scope: &'a str,
    /// Its audience (RFC 8707 §2.2): a resource, or `None` for the issuer.
    pub audience: Option<&'a str>,
    /// When the user authenticated.
    pub auth_time: Option<i64>,
    /// OIDC nonce for the ID token.
    pub nonce: Option<&'a str>,
    /// Whether to issue an ID token.
    pub id_token: bool,
    /// Whether to issue a refresh token, and of which family.
    pub refresh: Option<RefreshFamily<'a>>,
    /// The thumbprint of the DPoP key the request proved possession of
    /// (RFC 9449 §5): the access token is bound to it, and so is a public
    /// client's refresh token.
    pub dpop_jkt: Option<&'a str>,
}

/// A refresh token family: its scope and absolute expiry.
#[derive(Debug)]
pub struct RefreshFamily<'a> {
    /// Scope of the grant (RFC 6749 §6: kept on rotation).
    pub scope: &'a str,
    /// Absolute expiry of the family.
    pub expires_at: i64,
    /// Resources of the grant, space-separated (kept on rotation).
    pub resources: &'a str,
}

/// RFC 6749 §5.1 successful response. Its `Debug` shows no token.
#[derive(Serialize)]
pub struct TokenResponse {
    /// The access token (a JWT, RFC 9068).
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a DPoP-bound token (RFC 9449 §5.1).
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scope.
    pub scope: String,
    /// OIDC ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Refresh token (OAuth 2.1 §4.3), when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .field("refresh_token", &self.refresh_token)
            .finish()
    }
}

/// A signed token response and the records to store before answering it.
#[derive(Debug)]
pub struct Issuance {
    /// What the client gets.
    pub response: TokenResponse,
    /// What the store keeps.
    pub records: NewTokens,
}

/// OAuth 2.1 §4.3: whether a refresh token is issued with the tokens of a
/// grant of `scope`: when the client may refresh and either
/// `offline_access` was granted or the client is registered to always get
/// one.
pub fn refresh_due(client: &Client, scope: &str) -> bool {
    client.may_use(crate::grant::refresh_token::GRANT_TYPE)
        && (scope.split(' ').any(|s| s == "offline_access") || client.always_issue_refresh_token)
}

/// Signs token responses (see the module docs).
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    issuer: String,
    access_token_lifetime: u64,
    id_token_lifetime: i64,
    refresh_token_lifetime: i64,
    refresh_token_idle_lifetime: i64,
    /// Room for RSA signatures at once: two per core.
    slow_signers: Arc<Semaphore>,
}

impl TokenIssuer {
    /// An issuer with the configuration's URL and lifetimes.
    pub fn new(config: &Config) -> Self {
        Self {
            issuer: config.issuer.clone(),
            access_token_lifetime: config.access_token_lifetime.as_secs(),
            id_token_lifetime: config.id_token_lifetime.as_secs() as i64,
            refresh_token_lifetime: config.refresh_token_lifetime.as_secs() as i64,
            refresh_token_idle_lifetime: config.refresh_token_idle_lifetime.as_secs() as i64,
            slow_signers: Arc::new(Semaphore::new(Self::slow_signers())),
        }
    }

    /// How many RSA signatures run at once: twice the machine's cores (as
    /// the process may use them: cgroup quota and affinity count). With one
    /// per core, a signer the kernel preempted held its room idle: on 2
    /// cores the refresh load lost 19 % of its throughput to the hand-off;
    /// with two per core it gained 4 % and its p99 fell 18 %
    /// (docs/performance.md, issue 18).
    pub fn slow_signers() -> usize {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get) * 2
    }

    /// Signs `input` with `keys`' signer for `alg` at `now` on the
    /// blocking pool, after waiting for room. The permit travels with the
    /// work, so a request that is dropped while its signature is made does
    /// not free room the signature still uses.
    async fn sign_off_worker(
        &self,
        keys: Arc<KeySet>,
        alg: String,
        now: i64,
        input: String,
    ) -> Result<String, OAuthError> {
        let permit = self
            .slow_signers
            .clone()
            .acquire_owned()
            .await
            .map_err(OAuthError::server_error)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            keys.signer(&alg, now).and_then(|k| k.sign_input(input))
        })
        .await
        .map_err(OAuthError::server_error)?
        .map_err(OAuthError::server_error)
    }

    /// How long a grant must live whose first tokens are issued at the
    /// latest at `first_issue_by` (its code's or device code's expiry):
    /// as long as its refresh family if a refresh token is due, else as
    /// long as its access token. Set when the grant is created, so that
    /// issuing into it need not move it (the store moves it only if
    /// something would outlive it).
    pub fn grant_expiry(&self, client: &Client, scope: &str, first_issue_by: i64) -> i64 {
        first_issue_by
            + if refresh_due(client, scope) {
                self.refresh_token_lifetime
            } else {
                self.access_token_lifetime as i64
            }
    }

    /// The absolute expiry of a refresh token family that starts at `now`
    /// (OAuth 2.1 §4.3.1).
    pub fn family_expiry(&self, now: i64) -> i64 {
        now + self.refresh_token_lifetime
    }

    /// Signs an access token, an ID token when `issue.id_token`, and makes a
    /// refresh token of the given family when `issue.refresh` is set, at
    /// `now` with `keys`.
    ///
    /// An RSA signature (an RS256 ID token: 250 to 800 µs, by machine) is
    /// made off the request's worker thread, on the blocking pool, at most
    /// [`TokenIssuer::slow_signers`] at once: a worker busy signing would
    /// hold up every other request queued on it. ES256 and EdDSA (tens of
    /// µs or less) are signed in place: a hand-off costs more than that.
    pub async fn issue(
        &self,
        keys: Arc<KeySet>,
        client: &Client,
        issue: &Issue<'_>,
        now: i64,
    ) -> Result<Issuance, OAuthError> {
        let ttl = self.access_token_lifetime;
        let jti = secret::time_ordered_id(10).map_err(OAuthError::server_error)?;
        let claims = AccessTokenClaims {
            iss: &self.issuer,
            exp: now + ttl as i64,
            aud: issue.audience.unwrap_or(&self.issuer),
            sub: issue.subject,
            client_id: &client.id,
            iat: now,
            jti: &jti,
            scope: issue.scope,
            auth_time: issue.auth_time,
            cnf: issue.dpop_jkt.map(|jkt| crate::dpop::Confirmation { jkt }),
        };
        let access_token = keys
            .signer(ACCESS_TOKEN_ALG, now)
            .and_then(|k| k.sign_jwt(ACCESS_TOKEN_TYP, &claims))
            .map_err(OAuthError::server_error)?;
        let access = AccessTokenRecord {
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
                iss: &self.issuer,
                sub: issue.subject,
                aud: &client.id,
                exp: now + self.id_token_lifetime,
                iat: now,
                auth_time: issue.auth_time.unwrap_or(now),
                nonce: issue.nonce,
                at_hash: &at_hash,
            };
            let input = signer
                .signing_input("JWT", &claims)
                .map_err(OAuthError::server_error)?;
            Some(if signer.is_slow() {
                self.sign_off_worker(keys.clone(), client.id_token_alg.clone(), now, input)
                    .await?
            } else {
                signer.sign_input(input).map_err(OAuthError::server_error)?
            })
        } else {
            None
        };

        let (refresh_token, refresh) = match &issue.refresh {
            None => (None, None),
            Some(family) => {
                let token = RefreshToken::generate().map_err(OAuthError::server_error)?;
                let idle = now + self.refresh_token_idle_lifetime;
                let record = RefreshTokenRecord {
                    token_hash: token.hash(),
                    grant_id: issue.grant_id.to_owned(),
                    client_id: client.id.clone(),
                    user_id: issue.subject.to_owned(),
                    scope: family.scope.to_owned(),
                    resources: family.resources.to_owned(),
                    auth_time: issue.auth_time.unwrap_or(now),
                    issued_at: now,
                    family_expires_at: family.expires_at,
                    idle_expires_at: idle.min(family.expires_at),
                    access_jti: Some(jti),
                    // RFC 9449 §5: a public client's refresh token is bound
                    // to its key; a confidential client's is bound to its
                    // authentication already.
                    dpop_jkt: issue
                        .dpop_jkt
                        .filter(|_| client.kind == crate::model::ClientKind::Public)
                        .map(str::to_owned),
                };
                (Some(token), Some(record))
            }
        };
        Ok(Issuance {
            response: TokenResponse {
                access_token,
                token_type: if issue.dpop_jkt.is_some() {
                    "DPoP"
                } else {
                    "Bearer"
                },
                expires_in: ttl,
                scope: issue.scope.to_owned(),
                id_token,
                refresh_token,
            },
            records: NewTokens { access, refresh },
        })
    }
}
