//! The signing keys in use (RFC 7517, RFC 7515), shared by every node
//! through the store, and the verdicts on access tokens checked with them
//! (RFC 9068 §4).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;

use crate::kek::{self, Kek, KekError};
use crate::keys::{self, KeyError, KeySet, SUPPORTED_ALGS};
use crate::secret;
use crate::store::{KeyStore, StoreError};
use crate::tokens::ACCESS_TOKEN_TYP;

/// How many verified access tokens [`KeyRing::access_token_claims`] keeps
/// (about 2 MB at most); when full, the cache starts over.
pub const VERIFIED_TOKEN_CACHE: usize = 4096;

/// Failure to load or create the keys.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A key could not be sealed or opened, or the KEK read.
    #[error(transparent)]
    Kek(#[from] KekError),
}

/// The current [`KeySet`] and the access tokens verified with it.
#[derive(Debug)]
pub struct KeyRing {
    issuer: String,
    /// How long a superseded key stays published (see [`KeySet::jwks`]).
    retire_after: i64,
    keys: RwLock<Arc<KeySet>>,
    /// Seals the private keys at rest, if configured.
    kek: Option<Arc<Kek>>,
    /// SHA-256 of an access token -> its verified claims.
    verified: Mutex<HashMap<String, Value>>,
}

impl KeyRing {
    /// Loads the keys, creating a key of each supported algorithm that has
    /// none (the first key of an algorithm signs at once: nothing to hand
    /// over from). `retire_after` is the longest token lifetime plus a
    /// minute's leeway for clocks. With a `kek`, keys are stored sealed
    /// (see [`crate::kek`]), and keys found unsealed are sealed in place
    /// first (the migration of a database from before the KEK); without
    /// one, a sealed key stops the start.
    pub async fn load(
        store: &dyn KeyStore,
        kek: Option<Arc<Kek>>,
        issuer: &str,
        retire_after: i64,
        now: i64,
    ) -> Result<Self, StartError> {
        let existing = store.list_keys().await?;
        if let Some(kek) = &kek {
            let mut sealed = 0;
            for key in existing.iter().filter(|k| !kek::is_sealed(k)) {
                store
                    .update_key_private(&key.kid, kek.seal(key)?.private_pkcs8.expose())
                    .await?;
                sealed += 1;
            }
            if sealed > 0 {
                tracing::info!(sealed, kek = %kek.id(), "signing keys found unencrypted are now encrypted");
            }
        } else if !existing.is_empty() {
            tracing::warn!("signing keys are stored unencrypted: set key_encryption_key_file");
        }
        for alg in SUPPORTED_ALGS {
            if !existing.iter().any(|k| k.alg == *alg) {
                let kid = secret::random_token(12).map_err(|_| KeyError::Crypto)?;
                let key = keys::generate(alg, kid, now, now)?;
                let stored = match &kek {
                    Some(kek) => kek.seal(&key)?,
                    None => key.clone(),
                };
                store.insert_key(&stored).await?;
                tracing::info!(alg, kid = %key.kid, "generated signing key");
            }
        }
        // Read back, so every node and every start sees the same order.
        let set = Self::read(store, kek.as_deref()).await?;
        Ok(Self {
            issuer: issuer.to_owned(),
            retire_after,
            keys: RwLock::new(Arc::new(set)),
            kek,
            verified: Mutex::new(HashMap::new()),
        })
    }

    async fn read(store: &dyn KeyStore, kek: Option<&Kek>) -> Result<KeySet, StartError> {
        let stored = store.list_keys().await?;
        Ok(KeySet::from_stored(&kek::open_all(&stored, kek)?)?)
    }

    /// The current keys.
    pub fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads the keys from the store, so that a key added by `proofkey
    /// keys rotate` (or another node) is published and, once active, used,
    /// without a restart.
    pub async fn reload(&self, store: &dyn KeyStore) -> Result<(), StartError> {
        let set = Arc::new(Self::read(store, self.kek.as_deref()).await?);
        match self.keys.write() {
            Ok(mut k) => *k = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        // A verdict holds only for the keys it was reached with.
        if let Ok(mut cache) = self.verified.lock() {
            cache.clear();
        }
        Ok(())
    }

    /// The published JWK Set at `now`: every key not yet retired.
    pub fn jwks(&self, now: i64) -> Value {
        self.current().jwks(now, self.retire_after)
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
            .verified
            .lock()
            .ok()
            .and_then(|c| c.get(&hash).cloned());
        if cached.is_some() {
            return cached;
        }
        let (typ, claims) = self.current().verify_jwt(token).ok()?;
        if typ.as_deref() != Some(ACCESS_TOKEN_TYP) || claims["iss"] != self.issuer.as_str() {
            return None;
        }
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_TOKEN_CACHE {
                cache.clear();
            }
            cache.insert(hash, claims.clone());
        }
        Some(claims)
    }
}
