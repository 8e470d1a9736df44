//! The provider: the context every endpoint works in. It holds the
//! configuration, the clock, the store and the components built on them
//! (signing keys, clients, token issuance, the user-code limiter); the
//! decisions themselves live in one module per endpoint or grant, which
//! take the provider as their context.

use std::sync::Arc;

use serde_json::Value;

use crate::clients::{ClientRegistry, JwksFetcher};
use crate::issuer::TokenIssuer;
use crate::keyring::{KeyRing, StartError};
use crate::secret::{self, SecretHasher};
use crate::store::{KeyStore, StoreError};
use crate::{Clock, Config, Store};

/// The per-installation key for client secret hashes, created on first use.
pub async fn secret_hasher(store: &dyn KeyStore) -> Result<SecretHasher, StoreError> {
    let init = secret::random_token(32).map_err(|e| StoreError::Backend(e.to_string()))?;
    let key = store
        .setting_or_init("client_secret_hmac_key", &init)
        .await?;
    Ok(SecretHasher::new(key.as_bytes()))
}

/// The authorization server's context.
#[derive(Debug)]
pub struct Provider {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: KeyRing,
    clients: ClientRegistry,
    issuer: TokenIssuer,
    hasher: SecretHasher,
    /// Room for password checks.
    passwords: crate::password::PasswordSlots,
    /// DPoP nonces (RFC 9449 §8).
    dpop_nonces: crate::dpop::Nonces,
}

impl Provider {
    /// Starts the engine: creates the signing keys and the secret-hash key
    /// on first start, then loads them.
    pub async fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let longest = config
            .access_token_lifetime
            .max(config.id_token_lifetime)
            .as_secs() as i64;
        // A minute of leeway for clock differences between nodes and verifiers.
        let kek = match &config.key_encryption_key_file {
            Some(path) => Some(Arc::new(crate::kek::Kek::from_file(path)?)),
            None => None,
        };
        let keys = KeyRing::load(
            store.as_ref(),
            kek,
            &config.issuer,
            longest + 60,
            clock.now(),
        )
        .await?;
        let hasher = secret_hasher(store.as_ref()).await?;
        let init = secret::random_token(32).map_err(|e| StoreError::Backend(e.to_string()))?;
        let nonce_key = store.setting_or_init("dpop_nonce_key", &init).await?;
        let dpop_nonces = crate::dpop::Nonces::new(
            nonce_key.as_bytes(),
            config.dpop.nonce_lifetime.as_secs() as i64,
        );
        // The hash checked for unknown usernames, made now rather than by
        // the first failed login (which would then take twice as long).
        let _ = tokio::task::spawn_blocking(crate::password::dummy_hash).await;
        Ok(Self {
            passwords: crate::password::PasswordSlots::new(
                config.password_hash_concurrency,
                config.password_hash_wait,
            ),
            issuer: TokenIssuer::new(&config),
            clients: ClientRegistry::new(
                Arc::clone(&store),
                Arc::clone(&clock),
                config.client_id_metadata.clone(),
            ),
            config,
            store,
            clock,
            keys,
            hasher,
            dpop_nonces,
        })
    }

    /// Sets how clients' `jwks_uri`s are fetched.
    pub fn with_jwks_fetcher(mut self, fetcher: Arc<dyn JwksFetcher>) -> Self {
        self.clients.jwks_fetcher = Some(fetcher);
        self
    }

    /// Sets how client metadata documents are fetched.
    pub fn with_metadata_fetcher(mut self, fetcher: Arc<dyn crate::cimd::MetadataFetcher>) -> Self {
        self.clients.metadata_fetcher = Some(fetcher);
        self
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

    /// The signing keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The registered clients.
    pub fn clients(&self) -> &ClientRegistry {
        &self.clients
    }

    /// Token issuance.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// The client secret hasher.
    pub fn hasher(&self) -> &SecretHasher {
        &self.hasher
    }

    /// The server's DPoP nonces.
    pub fn dpop_nonces(&self) -> &crate::dpop::Nonces {
        &self.dpop_nonces
    }

    /// The current DPoP nonce to send in `DPoP-Nonce`, when the policy
    /// demands nonces (RFC 9449 §8).
    pub fn dpop_nonce(&self) -> Option<String> {
        self.config
            .dpop
            .nonce
            .then(|| self.dpop_nonces.current(self.now()))
    }

    /// The URL of this server's endpoint at `path` (a
    /// [`crate::discovery::paths`] constant): what a DPoP proof's `htu`
    /// must be.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }

    pub(crate) fn passwords(&self) -> &crate::password::PasswordSlots {
        &self.passwords
    }

    /// The published JWK Set (see [`KeyRing::jwks`]).
    pub fn jwks(&self) -> Value {
        self.keys.jwks(self.now())
    }

    /// Reloads the signing keys (see [`KeyRing::reload`]).
    pub async fn reload_keys(&self) -> Result<(), StartError> {
        self.keys.reload(self.store.as_ref()).await
    }

    /// Deletes expired rows (see [`crate::store::Maintenance::sweep`]):
    /// codes once `code_retention` has passed since they expired.
    pub async fn sweep(&self) -> Result<crate::model::SweepCounts, StoreError> {
        let now = self.now();
        let codes_before = now - self.config.code_retention.as_secs() as i64;
        self.store.sweep(now, codes_before).await
    }

    /// The discovery document, with the registered resources' scopes.
    pub async fn discovery(&self) -> Result<Value, StoreError> {
        let scopes = self.clients.advertised_scopes().await?;
        Ok(crate::discovery::metadata(&self.config, &scopes))
    }
}
