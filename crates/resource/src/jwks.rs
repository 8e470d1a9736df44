//! The issuer's JWK Set (RFC 7517 §5), cached, for RFC 9068 §4's
//! signature check.
//!
//! Fetched when first needed and kept. A token whose `kid` is not in the
//! set triggers a refetch (the issuer rotated its keys), but at most one
//! fetch starts per `min_interval` (30 s by default), whatever the
//! outcome, and concurrent requests wait for the fetch in progress instead
//! of starting their own: a flood of tokens with made-up `kid`s costs the
//! issuer one request per interval. A set older than `max_age` is
//! refreshed by the next request that finds its key (if no fetch is in
//! progress), so a key the issuer withdrew stops being accepted; if that
//! refresh fails, the old set is kept. Each fetch has the HTTP deadline and
//! the 64 KiB cap of [`crate::fetch`]; at most 100 keys are read.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::clock::Clock;
use crate::discovery::Discovery;
use crate::error::{AuthError, InvalidToken, IssuerError};
use crate::fetch::{parse_json, Fetcher};

/// Keys beyond this many in a set are ignored.
const MAX_KEYS: usize = 100;

/// The asymmetric algorithms this crate verifies (RFC 7518 §3.1, RFC 8037
/// §3.1). Never `none`, never HMAC: a resource server holds no shared
/// secret, and accepting HS256 "signed" with a public key is the classic
/// algorithm-confusion attack (RFC 8725 §2.1, §3.1).
pub(crate) const ASYMMETRIC: [(&str, Algorithm); 9] = [
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("EdDSA", Algorithm::EdDSA),
];

/// An `alg` value (case-sensitive, RFC 7515 §4.1.1) among [`ASYMMETRIC`].
pub(crate) fn asymmetric_alg(name: &str) -> Option<Algorithm> {
    ASYMMETRIC.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// The key types and curves that go with those algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// RFC 7518 §3.3-3.5 (RSA: RS*, PS*), §3.4 (ES256 on P-256, ES384 on
    /// P-384), RFC 8037 §3.1 (EdDSA on Ed25519).
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Self::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::P256 => alg == ES256,
            Self::P384 => alg == ES384,
            Self::Ed25519 => alg == EdDSA,
        }
    }
}

/// One verification key of the set.
struct VerifyKey {
    kid: String,
    kind: KeyKind,
    /// The key's own `alg`, if it names one: then only that is accepted.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The usable keys of a JWK Set.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<VerifyKey>,
}

impl KeySet {
    /// Parses a JWK Set, keeping the keys that can verify a signature here:
    /// with a `kid`, `use` absent or `sig`, an asymmetric type this crate
    /// supports, and an `alg` (if any) that fits it. Symmetric (`oct`)
    /// keys are never kept. Other keys (encryption keys, unknown curves)
    /// are skipped, not errors.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, IssuerError> {
        let doc: Value = parse_json(body)?;
        let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
            return Err(IssuerError::InvalidResponse(
                "a JWK Set needs a \"keys\" array".into(),
            ));
        };
        let keys = entries
            .iter()
            .take(MAX_KEYS)
            .filter_map(parse_key)
            .collect();
        Ok(Self { keys })
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    /// The key named `kid` that fits `alg` (JWK Sets may hold one `kid`
    /// for several keys of different types; RFC 7517 §4.5).
    fn select(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, InvalidToken> {
        let mut named = self.keys.iter().filter(|k| k.kid == kid).peekable();
        if named.peek().is_none() {
            return Err(InvalidToken::UnknownKey);
        }
        named
            .find(|k| k.kind.fits(alg) && k.alg.is_none_or(|a| a == alg))
            .map(|k| k.key.clone())
            .ok_or(InvalidToken::KeyMismatch)
    }
}

fn parse_key(v: &Value) -> Option<VerifyKey> {
    let obj = v.as_object()?;
    let kid = obj.get("kid")?.as_str()?;
    if obj.get("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let alg = match obj.get("alg") {
        None => None,
        Some(a) => Some(asymmetric_alg(a.as_str()?)?),
    };
    let crv = obj.get("crv").and_then(Value::as_str);
    let kind = match (obj.get("kty")?.as_str()?, crv) {
        ("RSA", _) => KeyKind::Rsa,
        ("EC", Some("P-256")) => KeyKind::P256,
        ("EC", Some("P-384")) => KeyKind::P384,
        ("OKP", Some("Ed25519")) => KeyKind::Ed25519,
        _ => return None,
    };
    if alg.is_some_and(|a| !kind.fits(a)) {
        return None;
    }
    let jwk: Jwk = serde_json::from_value(v.clone()).ok()?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(VerifyKey {
        kid: kid.to_owned(),
        kind,
        alg,
        key,
    })
}

/// Where the set comes from: a configured URL, or the metadata's
/// `jwks_uri`.
#[derive(Debug)]
pub(crate) enum JwksSource {
    Configured(String),
    Discovered(Arc<Discovery>),
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// When `keys` was fetched.
    fetched_at: u64,
    /// When the last fetch started, whatever became of it.
    last_attempt: Option<u64>,
}

/// The cache. See the module documentation for its rules.
#[derive(Debug)]
pub(crate) struct KeyCache {
    source: JwksSource,
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    min_interval: u64,
    max_age: u64,
    state: RwLock<State>,
    /// Held for the duration of a fetch: one at a time.
    fetching: tokio::sync::Mutex<()>,
}

impl KeyCache {
    pub(crate) fn new(
        source: JwksSource,
        fetcher: Fetcher,
        clock: Arc<dyn Clock>,
        min_interval: u64,
        max_age: u64,
    ) -> Self {
        Self {
            source,
            fetcher,
            clock,
            min_interval,
            max_age,
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key to verify a token signed with `alg` by key `kid`.
    pub(crate) async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        let now = self.clock.now();
        let (keys, fetched_at) = self.snapshot();
        if let Some(keys) = keys.filter(|k| k.has_kid(kid)) {
            let keys = if now.saturating_sub(fetched_at) >= self.max_age {
                self.refresh_stale().await.unwrap_or(keys)
            } else {
                keys
            };
            return Ok(keys.select(kid, alg)?);
        }
        // Unknown kid (or no set yet): wait for any fetch in progress, then
        // look again, and fetch only if the interval allows.
        let _one_at_a_time = self.fetching.lock().await;
        let (keys, _) = self.snapshot();
        if let Some(keys) = keys.as_ref().filter(|k| k.has_kid(kid)) {
            return Ok(keys.select(kid, alg)?);
        }
        let now = self.clock.now();
        if let Some(retry_after) = self.wait(now) {
            tracing::debug!(kid, "unknown kid; JWK Set refetch not allowed yet");
            return Err(match keys {
                Some(_) => InvalidToken::UnknownKey.into(),
                None => IssuerError::Backoff { retry_after }.into(),
            });
        }
        let keys = self.fetch(now).await?;
        Ok(keys.select(kid, alg)?)
    }

    /// Fetches the set now unless the interval forbids it (for start-up).
    pub(crate) async fn prefetch(&self) -> Result<(), IssuerError> {
        let _one_at_a_time = self.fetching.lock().await;
        let now = self.clock.now();
        match self.wait(now) {
            Some(retry_after) if self.snapshot().0.is_none() => {
                Err(IssuerError::Backoff { retry_after })
            }
            Some(_) => Ok(()),
            None => self.fetch(now).await.map(|_| ()),
        }
    }

    /// A stale set's refresh, by whoever gets the fetch lock first; the
    /// others go on with the set they have.
    async fn refresh_stale(&self) -> Option<Arc<KeySet>> {
        let _one_at_a_time = self.fetching.try_lock().ok()?;
        let now = self.clock.now();
        let (keys, fetched_at) = self.snapshot();
        if now.saturating_sub(fetched_at) < self.max_age {
            return keys;
        }
        if self.wait(now).is_some() {
            return None;
        }
        self.fetch(now).await.ok()
    }

    fn snapshot(&self) -> (Option<Arc<KeySet>>, u64) {
        let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
        (s.keys.clone(), s.fetched_at)
    }

    /// Seconds until a fetch is allowed, or `None` if it is now. A clock
    /// that went backwards allows one.
    fn wait(&self, now: u64) -> Option<u64> {
        let last = self
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .last_attempt?;
        let elapsed = now.checked_sub(last)?;
        (elapsed < self.min_interval).then(|| self.min_interval - elapsed)
    }

    /// One fetch; the caller holds `fetching`.
    async fn fetch(&self, now: u64) -> Result<Arc<KeySet>, IssuerError> {
        self.state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .last_attempt = Some(now);
        match self.fetch_set().await {
            Ok(set) => {
                let set = Arc::new(set);
                tracing::debug!(keys = set.keys.len(), "JWK Set fetched");
                let mut s = self.state.write().unwrap_or_else(PoisonError::into_inner);
                s.keys = Some(set.clone());
                s.fetched_at = now;
                Ok(set)
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWK Set fetch failed");
                Err(e)
            }
        }
    }

    async fn fetch_set(&self) -> Result<KeySet, IssuerError> {
        let uri = match &self.source {
            JwksSource::Configured(uri) => uri.clone(),
            JwksSource::Discovered(d) => d.get().await?.jwks_uri()?.to_owned(),
        };
        let req = self.fetcher.client().get(&uri).header(
            reqwest::header::ACCEPT,
            "application/jwk-set+json, application/json",
        );
        let (status, body) = self.fetcher.send(req).await?;
        if status != reqwest::StatusCode::OK {
            return Err(IssuerError::Status(status.as_u16()));
        }
        KeySet::parse(&body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const P256_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const P256_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn set(keys: Value) -> KeySet {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    fn ec(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "kid": kid})
    }

    #[test]
    fn keeps_only_signature_keys_it_can_use() {
        let s = set(json!([
            ec("a"),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-521", "x": P256_X, "y": P256_Y, "kid": "p521"},
            {"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "kid": "enc", "use": "enc"},
            {"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "kid": "hs", "alg": "HS256"},
            {"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "kid": "rs", "alg": "RS256"},
            {"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y},
            "not an object",
        ]));
        let kids: Vec<_> = s.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a"]);
    }

    #[test]
    fn select_checks_kid_then_fit() {
        let s = set(json!([ec("a")]));
        assert!(s.select("a", Algorithm::ES256).is_ok());
        assert_eq!(
            s.select("b", Algorithm::ES256).err(),
            Some(InvalidToken::UnknownKey)
        );
        assert_eq!(
            s.select("a", Algorithm::RS256).err(),
            Some(InvalidToken::KeyMismatch)
        );
        assert_eq!(
            s.select("a", Algorithm::ES384).err(),
            Some(InvalidToken::KeyMismatch)
        );
    }

    #[test]
    fn a_set_without_keys_is_an_error() {
        assert!(KeySet::parse(b"{}").is_err());
        assert!(KeySet::parse(b"[]").is_err());
        assert!(KeySet::parse(b"{\"keys\": []}").unwrap().keys.is_empty());
    }

    #[test]
    fn at_most_max_keys_are_read() {
        let many: Vec<Value> = (0..MAX_KEYS + 5).map(|i| ec(&i.to_string())).collect();
        assert_eq!(set(Value::Array(many)).keys.len(), MAX_KEYS);
    }
}
