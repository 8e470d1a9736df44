//! The records the provider keeps.

use serde::{Deserialize, Serialize};

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Cannot keep a secret (native apps, SPAs, CLIs): authenticates with
    /// nothing but `client_id`, protected by PKCE.
    #[default]
    Public,
    /// Holds a secret (`client_secret_basic` or `client_secret_post`).
    Confidential,
}

impl ClientKind {
    /// Its name in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
        }
    }
}

/// Grant types this server implements (see discovery).
pub const SUPPORTED_GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    DEVICE_CODE_GRANT,
];

/// RFC 8628 §3.4 grant type.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A registered client. Its `Debug` leaves out the secret's hash.
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// Display name shown on the consent page.
    pub name: String,
    /// Public or confidential.
    pub kind: ClientKind,
    /// Keyed hash of the client secret (confidential clients only).
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// The secret it replaced, still accepted until its expiry (a rotation
    /// with overlap).
    #[serde(skip)]
    pub previous_secret: Option<PreviousSecret>,
    /// Registered redirect URIs, matched exactly (RFC 8252 §7.3 port rule aside).
    pub redirect_uris: Vec<String>,
    /// Scopes this client may ask for.
    pub scopes: Vec<String>,
    /// Grant types this client may use.
    pub grant_types: Vec<String>,
    /// Skip the consent page (first-party clients).
    pub skip_consent: bool,
    /// `id_token_signed_response_alg` (OIDC Registration), RS256 by default.
    pub id_token_alg: String,
    /// Creation time, seconds since the epoch.
    pub created_at: i64,
    /// Registered JWK Set (JSON) for `private_key_jwt` (RFC 7523 §2.2).
    pub jwks: Option<String>,
    /// Or the URL it is fetched from.
    pub jwks_uri: Option<String>,
    /// OIDC RP-Initiated Logout `post_logout_redirect_uris`.
    pub post_logout_redirect_uris: Vec<String>,
    /// Rotate refresh tokens at every use (always true for public clients,
    /// OAuth 2.1 §4.3.1).
    pub rotate_refresh_tokens: bool,
    /// Issue refresh tokens even without the `offline_access` scope.
    pub always_issue_refresh_token: bool,
    /// RFC 8707 resources it may ask tokens for; empty: any registered one.
    pub resources: Vec<String>,
    /// How it was registered.
    pub registration: Registration,
    /// Hash of its registration access token (RFC 7592 §1), for a client
    /// that registered itself.
    #[serde(skip)]
    pub registration_token_hash: Option<String>,
    /// Its token requests must carry a DPoP proof (RFC 9449 §5.2
    /// `dpop_bound_access_tokens`).
    pub dpop_bound_access_tokens: bool,
    /// Its authorization requests must be pushed (RFC 9126 §6
    /// `require_pushed_authorization_requests`).
    pub require_pushed_authorization_requests: bool,
}

/// How a client came to be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// By an operator (`proofkey client create`).
    #[default]
    Admin,
    /// By itself, at the registration endpoint (RFC 7591).
    Dynamic,
    /// Its `client_id` is the URL of its metadata document, fetched from
    /// there (Client ID Metadata Documents).
    Metadata,
}

impl Registration {
    /// Its name in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Admin => "admin",
            Registration::Dynamic => "dynamic",
            Registration::Metadata => "metadata",
        }
    }

    /// From its stored name (unknown names read as `Admin`).
    pub fn parse(s: &str) -> Self {
        match s {
            "dynamic" => Registration::Dynamic,
            "metadata" => Registration::Metadata,
            _ => Registration::Admin,
        }
    }
}

/// A protected resource (RFC 8707 §2, RFC 9728 §2): an API, such as an
/// MCP server, that access tokens may be issued for. Its URI is the `aud`
/// of those tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// The resource indicator: an absolute URI without a fragment.
    pub uri: String,
    /// A name shown on the consent page.
    pub name: String,
    /// The scopes it understands (advertised; clients that register
    /// themselves may ask for them).
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: i64,
}

/// A rotated client secret's keyed hash, accepted until `expires_at`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PreviousSecret {
    /// Keyed hash of the old secret.
    pub hash: String,
    /// Accepted while `now < expires_at`.
    pub expires_at: i64,
}

impl std::fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreviousSecret(<redacted>, until {})", self.expires_at)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field(
                "secret_hash",
                &self.secret_hash.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "previous_secret",
                &self.previous_secret.as_ref().map(|p| p.expires_at),
            )
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .field("grant_types", &self.grant_types)
            .field("skip_consent", &self.skip_consent)
            .field("id_token_alg", &self.id_token_alg)
            .field("created_at", &self.created_at)
            .field("jwks", &self.jwks)
            .field("jwks_uri", &self.jwks_uri)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field(
                "always_issue_refresh_token",
                &self.always_issue_refresh_token,
            )
            .field("resources", &self.resources)
            .field("registration", &self.registration)
            .field("dpop_bound_access_tokens", &self.dpop_bound_access_tokens)
            .field(
                "require_pushed_authorization_requests",
                &self.require_pushed_authorization_requests,
            )
            .finish()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("disabled_at", &self.disabled_at)
            .finish()
    }
}

impl Client {
    /// `token_endpoint_auth_method` as registered (OIDC Registration §2).
    pub fn auth_method(&self) -> &'static str {
        match self.kind {
            ClientKind::Public => "none",
            ClientKind::Confidential if self.jwks.is_some() || self.jwks_uri.is_some() => {
                "private_key_jwt"
            }
            ClientKind::Confidential => "client_secret_basic",
        }
    }

    /// Whether the client may use `grant_type`.
    pub fn may_use(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

/// A resource owner. Its `Debug` leaves out the password's hash.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Stable, opaque subject identifier (`sub`).
    pub id: String,
    /// Login name.
    pub username: String,
    /// `email` claim.
    pub email: Option<String>,
    /// `name` claim.
    pub name: Option<String>,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// Creation time.
    pub created_at: i64,
    /// When an operator disabled the account (`proofkey user disable`):
    /// it cannot sign in until enabled again. `None` while enabled.
    pub disabled_at: Option<i64>,
}

/// A browser login session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Who logged in.
    pub user_id: String,
    /// When they authenticated (OIDC `auth_time`).
    pub auth_time: i64,
    /// When the session ends.
    pub expires_at: i64,
}

/// A grant: one authorization of a client, by a user or (for
/// `client_credentials`) by the client itself. Every code, access token,
/// refresh token and device authorization issued under it references it;
/// revoking it ends all of them at once, and nothing can be issued under
/// it afterwards (see [`crate::store::GrantStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Its id, unique and not secret ([`crate::secret::time_ordered_id`]).
    pub id: String,
    /// The client authorized.
    pub client_id: String,
    /// The user who authorized it; `None` for `client_credentials`.
    pub user_id: Option<String>,
    /// The scope granted, space-separated.
    pub scope: String,
    /// The resources granted (RFC 8707), space-separated; empty when none
    /// was asked for.
    pub resources: String,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: Option<i64>,
    /// Nothing issued under the grant lives past this: its code's record,
    /// its tokens, its refresh family. Each issuance moves it forward as
    /// far as what it issues lives; the row is swept after it.
    pub expires_at: i64,
    /// When the user (or client) authorized it.
    pub created_at: i64,
}

/// An authorization code as stored: only the hash of the code itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code (see [`crate::secret::hash_token`]).
    pub code_hash: String,
    /// The grant it belongs to, created with it.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The `redirect_uri` of the authorization request, as sent.
    pub redirect_uri: String,
    /// The PKCE `code_challenge` (RFC 7636 §4.4: stored with the code).
    pub code_challenge: String,
    /// Its method (`S256`, or `plain` only under the insecure switch).
    pub code_challenge_method: String,
    /// Granted scope, space-separated.
    pub scope: String,
    /// Its grant's resources (RFC 8707), space-separated.
    pub resources: String,
    /// OIDC `nonce` to echo in the ID token.
    pub nonce: Option<String>,
    /// The resource owner.
    pub user_id: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Issue time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// The DPoP key thumbprint the code is bound to (`dpop_jkt`, RFC 9449
    /// §10): redeemed only with a proof by that key.
    pub dpop_jkt: Option<String>,
}

/// A code as found by its hash, used or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    /// The record.
    pub code: AuthorizationCode,
    /// Whether it has been redeemed or spent already.
    pub used: bool,
}

/// What spending a code found (see [`crate::store::GrantStore::consume_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeConsumption {
    /// This call consumed it; no other call ever will.
    Consumed(Box<AuthorizationCode>),
    /// It had been consumed before: a replay, of this grant.
    AlreadyUsed {
        /// The grant the code belongs to.
        grant_id: String,
    },
    /// No such code.
    NotFound,
}

/// The records of one token response, signed before they are stored: the
/// access token's, and the refresh token's when one is issued. Both belong
/// to the same grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTokens {
    /// The access token's record.
    pub access: AccessTokenRecord,
    /// The refresh token's record, if one is issued.
    pub refresh: Option<RefreshTokenRecord>,
}

impl NewTokens {
    /// The grant they belong to.
    pub fn grant_id(&self) -> &str {
        &self.access.grant_id
    }

    /// When the last of them expires: how far the grant must live.
    pub fn horizon(&self) -> i64 {
        self.refresh.as_ref().map_or(self.access.expires_at, |r| {
            r.family_expires_at.max(self.access.expires_at)
        })
    }
}

/// What an issuance transaction did (see [`crate::store::GrantStore`]).
/// Whatever it answers, it either did everything (consumed or rotated, and
/// stored every new record) or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// Consumed (or rotated) and stored: the tokens may be answered.
    Stored,
    /// Stored, as a lost answer's retry within the refresh token reuse
    /// interval: the rotated token's unseen child (and the access token
    /// issued with it) were revoked, and the new refresh token replaces it.
    Reissued,
    /// The code, refresh token or device code had been used already.
    /// Nothing was stored; for codes and refresh tokens this is evidence of
    /// theft, and the caller revokes the grant in a transaction of its own.
    Replayed {
        /// The grant it belongs to.
        grant_id: String,
    },
    /// Unknown, expired or revoked: nothing was stored.
    NotFound,
    /// The grant has been revoked: nothing was stored.
    GrantRevoked,
}

/// An issued access token, kept by `jti` so that it can be revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// The JWT's `jti`.
    pub jti: String,
    /// The grant it belongs to (the code hash for the code flow).
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner.
    pub user_id: String,
    /// Granted scope.
    pub scope: String,
    /// Expiry.
    pub expires_at: i64,
}

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// `kid`.
    pub kid: String,
    /// JWS `alg`: RS256, ES256 or EdDSA.
    pub alg: String,
    /// PKCS#8 DER of the private key.
    pub private_pkcs8: crate::secret::PrivateKeyDer,
    /// Creation time.
    pub created_at: i64,
    /// When it starts signing. Until then it is only published, so that
    /// every node and every client's JWKS cache knows it first.
    pub activates_at: i64,
}

/// A refresh token as stored (by hash). Tokens descending from one
/// authorization form a family that shares `grant_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The family: the grant every token of the chain descends from.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The resource owner.
    pub user_id: String,
    /// Scope of the grant (RFC 6749 §6: a rotated token keeps it).
    pub scope: String,
    /// Resources of the grant (RFC 8707 §2.2: a refresh may narrow to
    /// them), space-separated.
    pub resources: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Issue time of this token.
    pub issued_at: i64,
    /// Absolute expiry of the whole family.
    pub family_expires_at: i64,
    /// Idle expiry: unused until then, the token dies.
    pub idle_expires_at: i64,
    /// The `jti` of the access token issued with it (`None` for tokens
    /// issued before this was recorded), revoked with it when it is an
    /// unseen child replaced within the reuse interval.
    pub access_jti: Option<String>,
    /// The DPoP key thumbprint it is bound to (RFC 9449 §5: a public
    /// client's refresh token): refreshed only with a proof by that key.
    pub dpop_jkt: Option<String>,
}

/// A refresh token as found by its hash, whatever its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenState {
    /// The record.
    pub record: RefreshTokenRecord,
    /// When it was rotated (presented and replaced), if it was.
    pub rotated_at: Option<i64>,
    /// Whether it has been revoked itself: only a successor that a retry
    /// within the reuse interval replaced is (see [`Rotation::Rotate`]).
    pub revoked: bool,
    /// Whether its grant has been revoked.
    pub grant_revoked: bool,
}

/// How [`crate::store::GrantStore::rotate_refresh_and_issue`] treats the
/// presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Rotate it: spent now, replaced by the new refresh token. If it was
    /// rotated already at or after `retry_since` (the reuse interval's
    /// start, when one is configured) and the token that replaced it has
    /// never been presented, that unseen child is revoked and the new
    /// token replaces it instead (a lost answer's retry).
    Rotate {
        /// The start of the reuse interval, if there is one.
        retry_since: Option<i64>,
    },
    /// Keep it (a confidential client registered without rotation); its
    /// idle expiry moves to this time, never past the family's.
    Keep {
        /// The new idle expiry.
        idle_expires_at: i64,
    },
}

/// A session as listed for administrators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// A short, non-secret identifier (a prefix of the id's hash).
    pub id: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// When it ends.
    pub expires_at: i64,
}

/// Whether the database can serve (`/readyz`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// It answers and its writes commit.
    Ready,
    /// It cannot serve now.
    NotReady {
        /// Why, in fixed words: fit for anyone who asks `/readyz`.
        reason: &'static str,
        /// The database's own words (an error message naming a host, a
        /// user, a file): for the operator only (logs, the metrics
        /// listener's `/readyz`).
        detail: String,
    },
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepCounts {
    /// Authorization codes.
    pub codes: u64,
    /// Access token records.
    pub access_tokens: u64,
    /// Refresh tokens.
    pub refresh_tokens: u64,
    /// Sessions.
    pub sessions: u64,
    /// Used client assertion `jti`s.
    pub jtis: u64,
    /// Device codes.
    pub device_codes: u64,
    /// Grants, with anything still left of them.
    pub grants: u64,
    /// Failure counters no longer counting or blocking.
    pub failure_counters: u64,
    /// Initial access tokens expired or used up.
    pub initial_access_tokens: u64,
    /// Pushed authorization requests expired unused.
    pub pushed_requests: u64,
}

/// The state of a device authorization (RFC 8628 §3.3-§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// The user has not decided yet.
    Pending,
    /// The user approved.
    Approved,
    /// The user denied.
    Denied,
}

/// A device authorization as stored (both codes by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    /// SHA-256 of the device code.
    pub device_code_hash: String,
    /// SHA-256 of the normalised user code.
    pub user_code_hash: String,
    /// The client.
    pub client_id: String,
    /// Requested scope.
    pub scope: String,
    /// Requested resources (RFC 8707), space-separated.
    pub resources: String,
    /// Issue time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Minimum polling interval in seconds (grows by 5 on `slow_down`).
    pub interval: i64,
    /// The user's decision.
    pub status: DeviceStatus,
    /// Who decided.
    pub user_id: Option<String>,
    /// When they authenticated.
    pub auth_time: Option<i64>,
    /// The grant created when the user approved.
    pub grant_id: Option<String>,
}

/// The user's decision on a device authorization (RFC 8628 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceDecision {
    /// Approved: a grant is created for the device's client and scope.
    Approve {
        /// The new grant's id.
        grant_id: String,
        /// The user.
        user_id: String,
        /// When they authenticated.
        auth_time: i64,
        /// The grant's expiry until tokens are issued.
        expires_at: i64,
    },
    /// Denied.
    Deny,
}

/// What a poll of the token endpoint found (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// No such device code (or already redeemed).
    NotFound,
    /// The record, and whether this poll came sooner than `interval` after
    /// the previous one (the interval has then grown by 5 seconds).
    Polled {
        /// The record after this poll.
        record: Box<DeviceCode>,
        /// Polled too fast.
        slow_down: bool,
    },
}

/// A pushed authorization request (RFC 9126 §2): the parameters a client
/// sent to the PAR endpoint, until `/authorize` uses its `request_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    /// SHA-256 of the `request_uri` (a bearer reference: kept hashed).
    pub request_uri_hash: String,
    /// The client that pushed it.
    pub client_id: String,
    /// The parameters, form-encoded.
    pub params: String,
    /// When it was pushed.
    pub created_at: i64,
    /// Expiry: the PAR lifetime at first, longer once used at `/authorize`
    /// (the user's time to sign in and decide).
    pub expires_at: i64,
}
